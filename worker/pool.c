/*
 * NAME
 *	pool 3
 * SUMMARY
 *	the crypto threads and the configuration snapshot they share
 * SYNOPSIS
 *	#include "worker/worker_int.h"
 *
 *	struct worker_snap *worker__snap_new(conf, hostname)
 *
 *	struct worker_pool *worker__pool_start(queue, certs, conf, hostname, n, key_file)
 *
 *	void	worker__pool_kick(pool)
 *
 *	void	worker__pool_reload(pool, conf, hostname)
 *
 *	void	worker__pool_stop(pool)
 * DESCRIPTION
 *	A snapshot is a deep copy of the worker section (rules and all), so
 *	a reload never pulls strings from under a thread: each claim takes a
 *	reference to the current snapshot and drops it after its batch.
 *
 *	Each thread claims a batch; when the inbox was empty it sleeps until
 *	worker__pool_kick() (a wake-up datagram) or one second passes, so a
 *	lost wake-up costs at most a second.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "worker_int.h"

struct worker_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool	stop;
	atomic_bool stopping;		/* the same, for threads between locks */
	uint64_t kicks;
	struct worker_snap *snap;
	struct worker_notify *notify;
	size_t	n;
	struct pool_thread *threads;
};

struct pool_thread {
	struct worker_pool *pool;
	pthread_t tid;
	struct worker_thread wt;
};

static char *dup_str(struct sg_arena *a, const char *s)
{
	return (sg_arena_strdup(a, s ? s : ""));
}

static void dup_list(struct sg_arena *a, struct sg_strlist *dst, const struct sg_strlist *src)
{
	dst->n = src->n;
	dst->v = sg_arena_alloc(a, (src->n + 1) * sizeof(char *));
	for (size_t i = 0; i < src->n; i++)
		dst->v[i] = dup_str(a, src->v[i]);
}

struct worker_snap *worker__snap_new(const struct worker_conf *c, const char *hostname)
{
	struct sg_arena *a = sg_arena_new();
	struct worker_snap *s = sg_arena_alloc(a, sizeof(*s));
	struct sg_rule *rules = sg_arena_alloc(a, (c->rules.n + 1) * sizeof(*rules));
	struct worker_profile *profiles = sg_arena_alloc(a, (c->profiles.n + 1) * sizeof(*profiles));

	s->arena = a;
	s->refs = 1;
	s->conf = *c;
	s->conf.result_header = dup_str(a, c->result_header);
	s->conf.notify = dup_str(a, c->notify);
	s->conf.scan.clamd = dup_str(a, c->scan.clamd);
	s->conf.scan.header = dup_str(a, c->scan.header);
	s->hostname = dup_str(a, hostname);
	for (size_t i = 0; i < c->rules.n; i++) {
		const struct sg_rule *r = &((const struct sg_rule *) c->rules.v)[i];

		rules[i] = *r;
		rules[i].name = dup_str(a, r->name);
		rules[i].listener = dup_str(a, r->listener);
		dup_list(a, &rules[i].senders, &r->senders);
		dup_list(a, &rules[i].recipients, &r->recipients);
		rules[i].profile = dup_str(a, r->profile);
	}
	s->conf.rules.v = rules;
	for (size_t i = 0; i < c->profiles.n; i++) {
		const struct worker_profile *p = &((const struct worker_profile *) c->profiles.v)[i];

		profiles[i] = *p;
		profiles[i].name = dup_str(a, p->name);
		dup_list(a, &profiles[i].recipients, &p->recipients);
	}
	s->conf.profiles.v = profiles;
	return (s);
}

static void snap_unref(struct worker_pool *p, struct worker_snap *s)
{
	bool	last;

	pthread_mutex_lock(&p->mu);
	last = --s->refs == 0;
	pthread_mutex_unlock(&p->mu);
	if (last)
		sg_arena_free(s->arena);
}

/* wait_for_work - sleep until kicked, stopped, or a second has passed */

static bool wait_for_work(struct worker_pool *p, uint64_t seen)
{
	struct timespec ts;
	bool	stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 1;
	pthread_mutex_lock(&p->mu);
	while (!p->stop && p->kicks == seen)
		if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) != 0)
			break;
	stop = p->stop;
	pthread_mutex_unlock(&p->mu);
	return (!stop);
}

static void *pool_main(void *arg)
{
	struct pool_thread *pt = arg;
	struct worker_pool *p = pt->pool;

	for (;;) {
		struct worker_snap *s;
		uint64_t seen;
		size_t	n = 0;
		int	rc;

		pthread_mutex_lock(&p->mu);
		if (p->stop) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		s = p->snap;
		s->refs++;
		seen = p->kicks;
		pthread_mutex_unlock(&p->mu);
		if ((rc = worker__claim_and_process(&pt->wt, s, &n)) < 0)
			sg_warn("event=claim_failed owner=%s error=\"%s\"", pt->wt.owner, sg_strerror(rc));
		snap_unref(p, s);
		if (n == 0 && !wait_for_work(p, seen))
			break;
	}
	worker__thread_done(&pt->wt);
	return (NULL);
}

struct worker_pool *worker__pool_start(struct queue *q, struct certs *c,
				       const struct worker_conf *conf, const char *hostname,
				       size_t n, const char *key_file)
{
	struct worker_pool *p = sg_xcalloc(1, sizeof(*p));
	char	owner[64];

	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	atomic_init(&p->stopping, false);
	p->snap = worker__snap_new(conf, hostname);
	p->notify = worker__notify_new();
	p->threads = sg_xcalloc(n, sizeof(*p->threads));
	for (size_t i = 0; i < n; i++) {
		struct pool_thread *pt = &p->threads[i];

		pt->pool = p;
		snprintf(owner, sizeof(owner), "worker.%ld.%zu", (long) getpid(), i);
		worker__thread_init(&pt->wt, q, c, owner, p->notify);
		pt->wt.stop = &p->stopping;
		if (key_file && *key_file)
			pt->wt.cluster_key_file = sg_xstrdup(key_file);
		if (pthread_create(&pt->tid, NULL, pool_main, pt) != 0)
			sg_fatal("event=thread_create_failed");
		p->n++;
	}
	return (p);
}

void	worker__pool_kick(struct worker_pool *p)
{
	pthread_mutex_lock(&p->mu);
	p->kicks++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void	worker__pool_reload(struct worker_pool *p, const struct worker_conf *conf,
			    const char *hostname)
{
	struct worker_snap *s = worker__snap_new(conf, hostname), *old;

	pthread_mutex_lock(&p->mu);
	old = p->snap;
	p->snap = s;
	pthread_mutex_unlock(&p->mu);
	snap_unref(p, old);
	worker__pool_kick(p);
}

void	worker__pool_stop(struct worker_pool *p)
{
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	atomic_store(&p->stopping, true);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < p->n; i++)
		pthread_join(p->threads[i].tid, NULL);
	snap_unref(p, p->snap);
	worker__notify_free(p->notify);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->threads);
	free(p);
}
