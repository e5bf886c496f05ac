/*
 * NAME
 *	certs_crl_timer 3
 * SUMMARY
 *	fetch CRLs on a schedule from a libuv loop, off the loop thread
 * SYNOPSIS
 *	#include "certs/certs.h"
 *
 *	int	certs_crl_timer_start(loop, c, done, arg, &timer)
 *	void	certs_crl_timer_stop(timer, stopped, arg)
 * DESCRIPTION
 *	certs_crl_timer_start() runs certs_crl_fetch() every
 *	crl_fetch_interval (the first time one interval after the start) on
 *	libuv's thread pool, never on the loop thread, and at most one run
 *	at a time. After each run, done(arg, rc, fetched, failed) is called
 *	on the loop thread, for the role to log. With an interval of 0 no
 *	timer is made (*timer = NULL, returns 0).
 *
 *	certs_crl_timer_stop() stops it; when the timer handle is closed
 *	and any run in progress has finished, stopped(arg) is called (when
 *	not NULL) and the memory goes. The caller may close the database
 *	from then on, not before: the run uses it. done is not called after
 *	stop.
 * DIAGNOSTICS
 *	SG_EIO when libuv refuses the timer.
 */

#include <stdlib.h>

#include "certs_int.h"

struct certs_crl_timer {
	uv_timer_t timer;
	uv_work_t work;
	struct certs *c;
	void	(*done) (void *, int, size_t, size_t);
	void   *arg;
	bool	busy;			/* a run is queued or running */
	bool	closed;			/* timer handle closed */
	bool	stopping;
	void	(*stopped) (void *);
	void   *stopped_arg;
	int	rc;
	size_t	fetched, failed;
};

static void maybe_free(struct certs_crl_timer *t)
{
	if (!t->closed || t->busy)
		return;
	if (t->stopped)
		t->stopped(t->stopped_arg);
	free(t);
}

static void on_work(uv_work_t *w)
{
	struct certs_crl_timer *t = w->data;

	t->rc = certs_crl_fetch(t->c, &t->fetched, &t->failed);
}

static void after_work(uv_work_t *w, int status)
{
	struct certs_crl_timer *t = w->data;

	t->busy = false;
	if (!t->stopping && t->done)
		t->done(t->arg, status < 0 ? SG_EAGAIN : t->rc, t->fetched, t->failed);
	maybe_free(t);
}

static void on_timer(uv_timer_t *h)
{
	struct certs_crl_timer *t = h->data;

	if (t->busy)
		return;
	t->work.data = t;
	if (uv_queue_work(h->loop, &t->work, on_work, after_work) == 0)
		t->busy = true;
}

int	certs_crl_timer_start(uv_loop_t *loop, struct certs *c,
			      void (*done) (void *, int, size_t, size_t), void *arg,
			      struct certs_crl_timer **out)
{
	struct certs_crl_timer *t;
	uint64_t ms = (uint64_t) c->crl_fetch_interval;

	*out = NULL;
	if (ms == 0)
		return (0);
	t = sg_xcalloc(1, sizeof(*t));
	t->c = c;
	t->done = done;
	t->arg = arg;
	if (uv_timer_init(loop, &t->timer) < 0) {
		free(t);
		return (SG_EIO);
	}
	t->timer.data = t;
	if (uv_timer_start(&t->timer, on_timer, ms, ms) < 0) {
		certs_crl_timer_stop(t, NULL, NULL);
		return (SG_EIO);
	}
	*out = t;
	return (0);
}

static void on_close(uv_handle_t *h)
{
	struct certs_crl_timer *t = h->data;

	t->closed = true;
	maybe_free(t);
}

void	certs_crl_timer_stop(struct certs_crl_timer *t, void (*stopped) (void *), void *arg)
{
	if (t == NULL)
		return;
	t->stopping = true;
	t->stopped = stopped;
	t->stopped_arg = arg;
	uv_timer_stop(&t->timer);
	uv_close((uv_handle_t *) &t->timer, on_close);
}
