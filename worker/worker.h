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
	int64_t	batch;			/* messages claimed per lease */
	struct sg_conf_array rules;	/* of struct sg_rule, first match wins */
	char   *result_header;		/* verification result header name */
	char   *notify;			/* incident notification address; "": none */
	int64_t	notify_max_per_hour;	/* notification mails per hour at most */
};

extern const struct sg_conf_row worker_conf_rows[];

#endif
