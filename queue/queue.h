#ifndef QUEUE_H
#define QUEUE_H

/*
 * NAME
 *	queue 3h
 * SUMMARY
 *	the durable LMDB spool: the only contract between the roles
 * SYNOPSIS
 *	#include "queue/queue.h"
 * DESCRIPTION
 *	The one public header of queue/. queue/ is the only code that
 *	touches LMDB.
 */

#include "common/sg.h"

/* The "queue = { ... };" section of the configuration. */
struct queue_conf {
	uint64_t map_size_max;		/* the LMDB map grows up to this */
	int64_t	lease_ms;		/* how long a worker claim lasts */
};

extern const struct sg_conf_row queue_conf_rows[];

#endif
