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
 *	NSS is opened before any thread starts, as NSS requires.
 *
 *	worker_agent_stop() closes the wake-up handle; once libuv has
 *	closed it the threads finish their batch and are joined, then the
 *	queue and NSS are closed and the agent frees itself.
 * DIAGNOSTICS
 *	A start that fails returns the error (and logs what failed); the
 *	runtime makes it fatal and the master restarts the role.
 */

#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "worker_int.h"

struct worker_agent {
	struct queue *q;
	struct certs *certs;
	struct worker_pool *pool;
	uv_poll_t wake;
	int	fd;
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

int	worker_agent_start(uv_loop_t *loop, const struct worker_agent_params *p,
			   struct worker_agent **out)
{
	struct worker_agent *a = sg_xcalloc(1, sizeof(*a));
	int	rc;

	a->fd = -1;
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
	a->pool = worker__pool_start(a->q, a->certs, p->conf, p->main->hostname, nthreads(p->conf));
	uv_poll_init(loop, &a->wake, a->fd);
	a->wake.data = a;
	uv_poll_start(&a->wake, UV_READABLE, on_wake);
	sg_info("event=worker_started threads=%zu rules=%zu", nthreads(p->conf), p->conf->rules.n);
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
	sg_info("event=worker_reloaded rules=%zu", p->conf->rules.n);
}

static void on_closed(uv_handle_t *h)
{
	struct worker_agent *a = h->data;
	int	rc;

	worker__pool_stop(a->pool);
	close(a->fd);
	queue_close(a->q);
	if ((rc = certs_close(a->certs)) < 0)
		sg_warn("event=certs_close_failed error=\"%s\"", sg_strerror(rc));
	free(a);
}

void	worker_agent_stop(struct worker_agent *a)
{
	uv_poll_stop(&a->wake);
	uv_close((uv_handle_t *) &a->wake, on_closed);
}
