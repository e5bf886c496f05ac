/*
 * NAME
 *	queue_conf 3
 * SUMMARY
 *	the queue section of the configuration
 * SYNOPSIS
 *	#include "queue/queue.h"
 *
 *	extern const struct sg_conf_row queue_conf_rows[];
 * DESCRIPTION
 *	One row per key of "queue = { ... };", each with its default and
 *	bounds. The map is address space only, so the default is large;
 *	chunks bound the size of one LMDB value (bodies are never one huge
 *	value); commit_batch bounds one group commit. Every role opens the
 *	queue with these at start, so only track_keep, which the worker's
 *	housekeeping reads each run, is SG_CONF_F_LIVE.
 */

#include "queue.h"

#define Q(s) "\"" s "\""
#define OFF(f) offsetof(struct queue_conf, f)

const struct sg_conf_row queue_conf_rows[] = {
	{.name = "map_size_max",.type = SG_CONF_SIZE,.offset = OFF(map_size_max),
	.def = Q("16G"),.min = 1 << 20,.max = INT64_MAX},
	{.name = "lease",.type = SG_CONF_DURATION,.offset = OFF(lease_ms),
	.def = Q("5m"),.min = 1000,.max = 86400000},
	{.name = "chunk_size",.type = SG_CONF_SIZE,.offset = OFF(chunk_size),
	.def = Q("64K"),.min = 4096,.max = 16 << 20},
	{.name = "commit_batch",.type = SG_CONF_INT,.offset = OFF(commit_batch),
	.def = "256",.min = 1,.max = 65536},
	{.name = "max_readers",.type = SG_CONF_INT,.offset = OFF(max_readers),
	.def = "256",.min = 16,.max = 65536},
	{.name = "track_keep",.type = SG_CONF_DURATION,.offset = OFF(track_keep_ms),
	.def = Q("7d"),.min = 0,.max = INT64_MAX,.flags = SG_CONF_F_LIVE},
	SG_CONF_END
};
