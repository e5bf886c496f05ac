/*
 * NAME
 *	agent 3
 * SUMMARY
 *	the worker role on its libuv loop: NSS, queue, wake-ups, the pool
 * SYNOPSIS
 *	#include "worker/worker.h"
 *
 *	int	worker_agent_start(loop, params, out)
 *
 *	void	worker_agent_reload(agent, params)
 *
 *	void	worker_agent_stop(agent)
 * DESCRIPTION
 *	worker_agent_start() opens the certificate database with its keys
 *	(the worker is the one role that holds S/MIME private keys, and the
 *	one that harvests), opens the queue, starts threads crypto threads
 *	(0: one per core) and listens for wake-ups on STATE_DIR/wake.worker.
 *	NSS is opened before any thread starts, as NSS requires. A gateway
 *	certificate that encrypt_to_self would add but that cannot receive
 *	encrypted mail (certs_receive_check) is logged at start.
 *
 *	Housekeeping nobody else does: every worker.housekeeping a run on
 *	libuv's thread pool (a prune of a week of tracking records may take
 *	a while, and must not stall wake-ups) clears LMDB reader slots left
 *	by dead processes (queue_reader_check), deletes tracking records
 *	older than queue.track_keep (queue_track_prune) and builds the
 *	queue's statistics tally if a commit dropped it (queue_tally_repair);
 *	one run at a time.
 *	A reload applies new rules, a new housekeeping pace and a new
 *	track_keep; only the CRL timer keeps the pace it started with.
 *	CRLs are fetched every certs.crl_fetch_interval by certs'
 *	own timer (certs_crl_timer_start), the worker being the role with a
 *	writable certificate database.
 *
 *	worker_agent_stop() closes the wake-up handle and the timers; once
 *	libuv has closed them, no housekeeping run is in flight and the CRL
 *	timer says its last fetch is over, the threads finish their batch
 *	and are joined, the queue is closed, and the certificate database
 *	last.
 * DIAGNOSTICS
 *	A start that fails returns the error (and logs what failed); the
 *	runtime makes it fatal and the master restarts the role.
 *	Housekeeping and CRL fetches log what they did (or why they
 *	failed) and go on at the next interval.
 */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "worker_int.h"

struct worker_agent {
	uv_loop_t *loop;
	struct queue *q;
	struct certs *certs;
	struct worker_pool *pool;
	uv_poll_t wake;
	int	fd;
	uv_timer_t hk;			/* housekeeping */
	int64_t	hk_every;		/* worker.housekeeping, ms */
	int64_t	track_keep;		/* queue.track_keep, ms */
	uv_work_t hk_work;
	int64_t	hk_keep;		/* track_keep for the run in flight */
	bool	hk_busy;		/* a run is queued or running */
	int	hk_dead;		/* results of the last run */
	size_t	hk_pruned;
	int	hk_rc[3];		/* reader check, tracking prune, tally */
	struct certs_crl_timer *crl;
	struct worker__certsync *certsync;	/* a cluster's certificates; NULL: none */
	bool	stopping;
	int	closing;		/* handles (and the CRL timer) not yet closed */
};

static void on_wake(uv_poll_t *h, int status, int events)
{
	struct worker_agent *a = h->data;

	(void) status;
	(void) events;
	queue_wake_drain(a->fd);
	worker__pool_kick(a->pool);
}

static size_t nthreads(const struct worker_conf *c)
{
	long	n = sysconf(_SC_NPROCESSORS_ONLN);

	if (c->threads > 0)
		return ((size_t) c->threads);
	return (n > 0 ? (size_t) n : 1);
}

/* ------------------------------------------------------- housekeeping */

static void finish(struct worker_agent *);

static void hk_run(uv_work_t *w)
{
	struct worker_agent *a = w->data;

	a->hk_dead = 0;
	a->hk_pruned = 0;
	a->hk_rc[0] = queue_reader_check(a->q, &a->hk_dead);
	a->hk_rc[1] = queue_track_prune(a->q, a->hk_keep, &a->hk_pruned);
	a->hk_rc[2] = queue_tally_repair(a->q);	/* dropped for an unreadable record */
}

static void hk_done(uv_work_t *w, int status)
{
	struct worker_agent *a = w->data;

	a->hk_busy = false;
	if (status == 0 && (a->hk_rc[0] < 0 || a->hk_rc[1] < 0 || a->hk_rc[2] < 0))
		sg_warn("event=housekeeping_failed reader_check=\"%s\" track_prune=\"%s\" "
			"tally_repair=\"%s\"", sg_strerror(a->hk_rc[0]), sg_strerror(a->hk_rc[1]),
			sg_strerror(a->hk_rc[2]));
	else if (status == 0 && (a->hk_dead > 0 || a->hk_pruned > 0))
		sg_info("event=housekeeping stale_readers=%d tracking_pruned=%zu",
			a->hk_dead, a->hk_pruned);
	if (a->stopping)
		finish(a);
}

static void on_hk_timer(uv_timer_t *h)
{
	struct worker_agent *a = h->data;

	if (a->hk_busy || a->stopping)
		return;
	a->hk_keep = a->track_keep;		/* reload changes only the loop's copy */
	a->hk_work.data = a;
	if (uv_queue_work(a->loop, &a->hk_work, hk_run, hk_done) == 0)
		a->hk_busy = true;
}

static void on_crl(void *arg, int rc, size_t fetched, size_t failed)
{
	(void) arg;
	if (rc < 0)
		sg_warn("event=crl_fetch_failed error=\"%s\"", sg_strerror(rc));
	else
		sg_info("event=crl_fetch fetched=%zu failed=%zu", fetched, failed);
}

/* hk_schedule - (re)start the housekeeping timer at the configured pace */

static int hk_schedule(struct worker_agent *a, const struct worker_agent_params *p)
{
	uint64_t ms = (uint64_t) p->conf->housekeeping_ms;

	a->track_keep = p->queue->track_keep_ms;
	if (a->hk_every == p->conf->housekeeping_ms)
		return (0);
	a->hk_every = p->conf->housekeeping_ms;
	return (uv_timer_start(&a->hk, on_hk_timer, ms, ms) < 0 ? SG_EIO : 0);
}

static int timers_start(struct worker_agent *a, const struct worker_agent_params *p)
{
	int	rc;

	uv_timer_init(a->loop, &a->hk);
	a->hk.data = a;
	a->hk_every = -1;
	if (hk_schedule(a, p) < 0)
		return (SG_EIO);
	if ((rc = certs_crl_timer_start(a->loop, a->certs, on_crl, a, &a->crl)) < 0)
		return (rc);
	/* a cluster (its outbox): the certificates other nodes share */
	if (p->queue->outbox_max > 0)
		a->certsync = worker__certsync_start(a->loop, a->q, a->certs,
						     p->cluster_key_file);
	return (0);
}

/* -------------------------------------------------------- start, stop */

static void seal_unusable(const char *domain, CERTCertificate *cert, void *arg)
{
	char	why[300], esc[320], nick[160];

	(void) arg;
	if (certs_receive_check(cert, why, sizeof(why)) == 0)
		return;
	sg_warn("event=encrypt_to_self_unavailable domain=%s cert=\"%s\" reason=\"%s\"", domain,
		sg_printable(nick, sizeof(nick), cert->nickname ? cert->nickname : "",
			     cert->nickname ? strlen(cert->nickname) : 0),
		sg_printable(esc, sizeof(esc), why, strlen(why)));
}

/*
 * seal_check - encrypt_to_self adds the sender domain's gateway
 * certificate as a recipient: say at start which seals cannot be one, so
 * that the gateway keeping no copy it can read is never a surprise.
 */
static void seal_check(struct certs *c, const struct worker_conf *conf)
{
	const struct sg_rule *r = conf->rules.v;
	bool	self = false;

	for (size_t i = 0; i < conf->rules.n; i++)
		self |= r[i].encrypt != SG_RULE_ENC_OFF && r[i].encrypt_to_self;
	if (self)
		(void) certs_gateways(c, seal_unusable, NULL);
}

/* clamd_word - where rules that scan send their mail, for the log */

static const char *clamd_word(const struct worker_conf *c)
{
	return (c->scan.clamd && *c->scan.clamd ? c->scan.clamd : "off");
}

int	worker_agent_start(uv_loop_t *loop, const struct worker_agent_params *p,
			   struct worker_agent **out)
{
	struct worker_agent *a = sg_xcalloc(1, sizeof(*a));
	int	rc;

	a->fd = -1;
	a->loop = loop;
	if ((rc = certs_open(p->main, p->certs, CERTS_KEYS, &a->certs)) < 0) {
		sg_error("event=worker_start_failed step=certs_open error=\"%s\"", sg_strerror(rc));
		goto fail;
	}
	if ((rc = queue_open(p->main, p->queue, 0, &a->q)) < 0) {
		sg_error("event=worker_start_failed step=queue_open error=\"%s\"", sg_strerror(rc));
		goto fail;
	}
	if ((rc = queue_wake_listen(a->q, QUEUE_ROLE_WORKER, &a->fd)) < 0) {
		sg_error("event=worker_start_failed step=wake_listen error=\"%s\"", sg_strerror(rc));
		goto fail;
	}
	seal_check(a->certs, p->conf);
	a->pool = worker__pool_start(a->q, a->certs, p->conf, p->main->hostname, nthreads(p->conf),
				     p->cluster_key_file);
	uv_poll_init(loop, &a->wake, a->fd);
	a->wake.data = a;
	uv_poll_start(&a->wake, UV_READABLE, on_wake);
	if ((rc = timers_start(a, p)) < 0)
		sg_warn("event=timer_failed error=\"%s\"", sg_strerror(rc));
	sg_info("event=worker_started threads=%zu rules=%zu housekeeping_ms=%lld crl_fetch=%s "
		"clamd=%s", nthreads(p->conf), p->conf->rules.n,
		(long long) p->conf->housekeeping_ms, a->crl ? "on" : "off", clamd_word(p->conf));
	*out = a;
	return (0);
fail:
	if (a->fd >= 0)
		close(a->fd);
	queue_close(a->q);
	if (a->certs)
		certs_close(a->certs);
	free(a);
	return (rc);
}

void	worker_agent_reload(struct worker_agent *a, const struct worker_agent_params *p)
{
	worker__pool_reload(a->pool, p->conf, p->main->hostname);
	if (hk_schedule(a, p) < 0)
		sg_warn("event=timer_failed error=\"%s\"", sg_strerror(SG_EIO));
	sg_info("event=worker_reloaded rules=%zu housekeeping_ms=%lld track_keep_ms=%lld clamd=%s",
		p->conf->rules.n, (long long) a->hk_every, (long long) a->track_keep,
		clamd_word(p->conf));
}

/* finish - every handle closed and nothing in flight: tear down */

static void finish(struct worker_agent *a)
{
	int	rc;

	if (a->closing > 0 || a->hk_busy)
		return;
	worker__pool_stop(a->pool);
	close(a->fd);
	queue_close(a->q);
	if ((rc = certs_close(a->certs)) < 0)
		sg_warn("event=certs_close_failed error=\"%s\"", sg_strerror(rc));
	free(a);
}

static void on_gone(void *arg)
{
	struct worker_agent *a = arg;

	a->closing--;
	finish(a);
}

static void on_closed(uv_handle_t *h)
{
	on_gone(h->data);
}

void	worker_agent_stop(struct worker_agent *a)
{
	a->stopping = true;
	a->closing = (a->crl ? 3 : 2) + (a->certsync != NULL);
	certs_crl_timer_stop(a->crl, on_gone, a);
	a->crl = NULL;
	if (a->certsync)
		worker__certsync_stop(a->certsync, on_gone, a);
	a->certsync = NULL;
	uv_poll_stop(&a->wake);
	uv_close((uv_handle_t *) &a->wake, on_closed);
	uv_timer_stop(&a->hk);
	uv_close((uv_handle_t *) &a->hk, on_closed);
}
