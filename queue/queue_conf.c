/*
 * NAME
 *	queue_conf 3
 * SUMMARY
 *	the queue section of the configuration
 * SYNOPSIS
 *	#include "queue/queue.h"
 *
 *	extern const struct sg_conf_row queue_conf_rows[];
 */

#include "queue.h"

#define Q(s) "\"" s "\""
#define OFF(f) offsetof(struct queue_conf, f)

const struct sg_conf_row queue_conf_rows[] = {
	{.name = "map_size_max",.type = SG_CONF_SIZE,.offset = OFF(map_size_max),
	.def = Q("16G"),.min = 1 << 20,.max = INT64_MAX},
	{.name = "lease",.type = SG_CONF_DURATION,.offset = OFF(lease_ms),
	.def = Q("5m"),.min = 1000,.max = 86400000},
	SG_CONF_END
};
