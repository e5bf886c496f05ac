/*
 * NAME
 *	certsync 3
 * SUMMARY
 *	the worker applies the cluster's certificates to its own database
 * SYNOPSIS
 *	#include "worker_int.h"
 *
 *	struct worker__certsync *worker__certsync_start(loop, q, certs)
 *	void	worker__certsync_stop(s, stopped, arg)
 * DESCRIPTION
 *	With a cluster, the cluster role puts the certificates the database
 *	holds beyond what this node received into the queue ("certin",
 *	queue_certs.c). The worker owns the key database, so it is the one
 *	that applies them: every CERTSYNC_MS, on libuv's thread pool (an
 *	import blocks on the database), at most one run at a time, it reads
 *	what it has not applied yet and imports each record as sealctl
 *	would have (a file with its --ca and --gateway, a harvested
 *	certificate, a CRL), then marks it applied (queue_certin_done()).
 *	The worker's threads look certificates up in the same database (and
 *	the recipient cache is emptied after each run that applied
 *	something), so what is applied is used for the next message: within
 *	about a second of the record reaching the node.
 *
 *	A record that cannot be imported (not a certificate, a CRL that does
 *	not verify) is logged and passed over: it would fail the same way
 *	again, and the others must not wait behind it. Certificates that are
 *	there already are no change. Private keys are not among them: a key
 *	never crosses the network role.
 *
 *	worker__certsync_stop() stops the timer; stopped(arg) runs when its
 *	handle is closed and any run has finished.
 * DIAGNOSTICS
 *	cluster_cert_applied (info) per record applied, cluster_cert_failed
 *	(warning) per record refused, cluster_certsync_failed (warning) when
 *	the queue could not be read or written.
 */

#include <stdlib.h>
#include <string.h>

#include "worker_int.h"

#define CERTSYNC_MS	1000
#define CERTSYNC_BATCH	64

struct worker__certsync {
	uv_timer_t timer;
	uv_work_t work;
	struct queue *q;
	struct certs *certs;
	bool	busy, closed, stopping;
	void	(*stopped) (void *);
	void   *arg;
	uint64_t last;			/* the run's last seq */
	int	rc;
};

static const char *const kinds[] = {"unreadable", "import", "harvest", "crl"};

static int apply_one(const struct queue_cert_rec *r, void *arg)
{
	struct worker__certsync *s = arg;
	struct certs_import_opts o = {.format = CERTS_FMT_AUTO};
	struct certs_import_result res;
	char	err[256] = "";
	int	rc = SG_EINVAL;

	s->last = r->seq;
	if (r->kind == QUEUE_CERT_CRL) {
		rc = certs_crl_import(s->certs, r->data, r->len, err, sizeof(err));
	} else if (r->kind == QUEUE_CERT_IMPORT || r->kind == QUEUE_CERT_HARVEST) {
		o.format = CERTS_FMT_CERTS;	/* never a key */
		o.ca = (r->flags & QUEUE_CERT_F_CA) != 0;
		o.gateway = *r->gateway ? r->gateway : NULL;
		memset(&res, 0, sizeof(res));
		rc = certs_import(s->certs, r->data, r->len, &o, &res, err, sizeof(err));
	}
	if (rc < 0)
		sg_warn("event=cluster_cert_failed seq=%llu kind=%s error=\"%s\" detail=\"%s\"",
			(unsigned long long) r->seq, kinds[r->kind], sg_strerror(rc), err);
	else
		sg_info("event=cluster_cert_applied seq=%llu kind=%s",
			(unsigned long long) r->seq, kinds[r->kind]);
	return (0);
}

static void run(uv_work_t *w)
{
	struct worker__certsync *s = w->data;

	s->last = 0;
	s->rc = queue_certin_read(s->q, CERTSYNC_BATCH, apply_one, s);
	if (s->last)			/* recipients looked up before: again */
		certs_lookup_forget(s->certs);
	if (s->rc == 0 && s->last)
		s->rc = queue_certin_done(s->q, s->last);
}

static void maybe_stopped(struct worker__certsync *s)
{
	if (s->stopping && s->closed && !s->busy) {
		void	(*stopped) (void *) = s->stopped;
		void   *arg = s->arg;

		free(s);
		if (stopped)
			stopped(arg);
	}
}

static void done(uv_work_t *w, int status)
{
	struct worker__certsync *s = w->data;

	s->busy = false;
	if (status == 0 && s->rc < 0)
		sg_warn("event=cluster_certsync_failed error=\"%s\"", sg_strerror(s->rc));
	maybe_stopped(s);
}

static void on_timer(uv_timer_t *t)
{
	struct worker__certsync *s = t->data;

	if (s->busy || s->stopping)
		return;
	s->work.data = s;
	if (uv_queue_work(t->loop, &s->work, run, done) == 0)
		s->busy = true;
}

struct worker__certsync *worker__certsync_start(uv_loop_t *loop, struct queue *q,
						struct certs *certs)
{
	struct worker__certsync *s = sg_xcalloc(1, sizeof(*s));

	s->q = q;
	s->certs = certs;
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	uv_timer_start(&s->timer, on_timer, CERTSYNC_MS, CERTSYNC_MS);
	return (s);
}

static void on_closed(uv_handle_t *h)
{
	struct worker__certsync *s = h->data;

	s->closed = true;
	maybe_stopped(s);
}

void	worker__certsync_stop(struct worker__certsync *s, void (*stopped) (void *), void *arg)
{
	s->stopping = true;
	s->stopped = stopped;
	s->arg = arg;
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *) &s->timer, on_closed);
}
