/*
 * NAME
 *	role_worker 3
 * SUMMARY
 *	the worker role as the role runtime sees it
 * SYNOPSIS
 *	#include "cmd/sealgate.h"
 *
 *	extern const struct role_ops role_worker_ops;
 * DESCRIPTION
 *	Binds the crypto worker (worker/agent.c) to the role runtime
 *	(role.c), which has made it worker_user before start() opens NSS
 *	with the keys, the queue and the pool
 *	of crypto threads, and starts the housekeeping and CRL timers;
 *	reload() hands the pool a copy of the new worker section (rules
 *	included); stop() ends the threads after their current batch, waits
 *	for a housekeeping run or CRL download in flight, and closes
 *	everything.
 * DIAGNOSTICS
 *	A start that fails is logged by the agent and made fatal by the
 *	runtime.
 */

#include <malloc.h>

#include "sealgate.h"

static void worker_params(const struct sealgate_conf *conf, struct worker_agent_params *p)
{
	p->conf = &conf->worker;
	p->main = &conf->main;
	p->queue = &conf->queue;
	p->certs = &conf->certs;
	p->cluster_key_file = conf->cluster.key_file;
}

static void *worker_start(uv_loop_t *loop, const struct sealgate_conf *conf)
{
	struct worker_agent_params p;
	struct worker_agent *a = NULL;

	/*
	 * A signed copy of a 100 KB message passes through five buffers of
	 * its size. glibc gave each back to the kernel when freed (mapped
	 * above 128 KiB, heaps trimmed), and took fresh zeroed pages for the
	 * next message: 34 page faults a message. Kept up to these sizes, a
	 * thread's heap serves the next message itself (1.7 faults).
	 */
#ifdef M_MMAP_THRESHOLD			/* glibc */
	(void) mallopt(M_MMAP_THRESHOLD, 4 << 20);
	(void) mallopt(M_TRIM_THRESHOLD, 8 << 20);
#endif
	worker_params(conf, &p);
	return (worker_agent_start(loop, &p, &a) < 0 ? NULL : a);
}

static enum role_reload worker_reload(void *state, const struct sealgate_conf *conf)
{
	struct worker_agent_params p;

	worker_params(conf, &p);
	worker_agent_reload(state, &p);
	return (ROLE_RELOADED);
}

static void worker_stop(void *state)
{
	worker_agent_stop(state);
}

const struct role_ops role_worker_ops = {
	.name = "worker",
	.start = worker_start,
	.reload = worker_reload,
	.runs_as_worker = true,
	.stop = worker_stop,
	.leases = true,
	.lease_role = QUEUE_ROLE_WORKER,
};
