#ifndef WORKER_H
#define WORKER_H

/*
 * NAME
 *	worker 3h
 * SUMMARY
 *	the crypto worker role: rules engine and S/MIME transforms
 * SYNOPSIS
 *	#include "worker/worker.h"
 * DESCRIPTION
 *	The one public header of worker/.
 */

#include "common/sg.h"

/* The "worker = { ... };" section of the configuration. */
struct worker_conf {
	int64_t	threads;		/* crypto threads; 0: one per core */
};

extern const struct sg_conf_row worker_conf_rows[];

#endif
