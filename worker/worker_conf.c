/*
 * NAME
 *	worker_conf 3
 * SUMMARY
 *	the worker section of the configuration
 * SYNOPSIS
 *	#include "worker/worker.h"
 *
 *	extern const struct sg_conf_row worker_conf_rows[];
 */

#include "worker.h"

#define OFF(f) offsetof(struct worker_conf, f)

const struct sg_conf_row worker_conf_rows[] = {
	{.name = "threads",.type = SG_CONF_INT,.offset = OFF(threads),.def = "0",
	.min = 0,.max = 256},
	SG_CONF_END
};
