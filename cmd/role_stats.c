/*
 * NAME
 *	role_stats 3
 * SUMMARY
 *	mark the start of a daemon run in the queue's statistics
 * SYNOPSIS
 *	#include "cmd/sealgate.h"
 *
 *	void	role_stats_epoch(conf, parent)
 * DESCRIPTION
 *	role_stats_epoch() is called by every role that writes the queue,
 *	when the master started it, before the role moves any mail. It
 *	reads the master's start time from STATE_DIR/master.status (the
 *	master publishes it before it starts any role) and has the queue
 *	keep a copy of every counter as it is at that start
 *	(queue_stats_epoch): the first role of a run makes it, the others
 *	and every restarted role find it made. "sealctl stats" counts
 *	"since start" from it.
 * DIAGNOSTICS
 *	Never fatal: a status file that is not the parent's, or a queue that
 *	cannot be written, is logged (event=stats_epoch_failed) and the
 *	statistics then have no "since start" for this run.
 */

#include <stdlib.h>

#include "sealgate.h"

void	role_stats_epoch(const struct sealgate_conf *conf, pid_t parent)
{
	struct status *st = sg_xcalloc(1, sizeof(*st));
	struct queue *q = NULL;
	const char *why = NULL;
	int	err = 0;

	if (status_read(conf->main.state_dir, st) < 0 || st->pid != (long) parent
	    || st->started_ms <= 0)
		why = "master.status is not the parent's";
	else if ((err = queue_open(&conf->main, &conf->queue, 0, &q)) < 0
		 || (err = queue_stats_epoch(q, st->started_ms)) < 0)
		why = sg_strerror(err);
	if (why)
		sg_warn("event=stats_epoch_failed error=\"%s\"", why);
	queue_close(q);
	free(st);
}
