/*
 * NAME
 *	queue_spool 3
 * SUMMARY
 *	new messages: the synchronous spool and the group committer
 * SYNOPSIS
 *	#include "queue/queue.h"
 *
 *	int	queue_spool(q, env, body, idp)
 *	int	queue_committer_start(q, cp)
 *	void	queue_submit(c, req)
 *	void	queue_committer_stop(c)
 *
 *	#include "queue_int.h"
 *
 *	int	queue_spool_txn(q, txn, env, body, idp)
 * DESCRIPTION
 *	queue_spool_txn() stores one new message inside a write
 *	transaction: a new id, the body chunks, the envelope (both with
 *	MDB_APPEND: new ids are the largest keys), and the inbox entry
 *	(INCOMING) or the schedule key (READY); HOLD gets neither.
 *
 *	The committer's thread sleeps until requests are pending, takes
 *	up to commit_batch of them, writes them all in one transaction and
 *	commits it. A request that fails (its file cannot be read, the map
 *	is full) gets its own error: the transaction is aborted and
 *	rewritten without it, so the others are unaffected and as many as
 *	fit are stored. Only then does each request's done() run, on the
 *	committer's thread.
 */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "queue_int.h"

int	queue_spool_txn(struct queue *q, MDB_txn *txn, const struct queue_env *in,
			const struct queue_body_src *body, uint64_t *idp)
{
	struct queue_env e = *in;
	int64_t	now = sg_now_ms();
	int	err;

	if (in->nrcpt < 1 || body == NULL)
		return (SG_EINVAL);
	if (in->state != QUEUE_INCOMING && in->state != QUEUE_READY && in->state != QUEUE_HOLD)
		return (SG_EINVAL);
	if ((err = queue_new_id(q, txn, &e.id)) != 0)
		return (err);
	e.arrival_ms = in->arrival_ms > 0 ? in->arrival_ms : now;
	e.size = body->len;
	e.attempts = 0;
	e.processed_size = 0;
	e.flags &= ~QUEUE_F_PROCESSED;
	e.next_attempt_ms = 0;
	if (in->state == QUEUE_READY) {
		e.flags |= QUEUE_F_WORKED;
		e.next_attempt_ms = in->next_attempt_ms > 0 ? in->next_attempt_ms : now;
	}
	if ((err = queue_body_write(q, txn, e.id, QUEUE_BODY_ORIGINAL, body, true, NULL)) != 0)
		return (err);
	if ((err = queue_env_store(q, txn, q->db_env, &e, MDB_APPEND)) != 0)
		return (err);
	if (e.state == QUEUE_INCOMING)
		err = queue_inbox_put(q, txn, e.id, 0, NULL);
	else if (e.state == QUEUE_READY)
		err = queue_sched_put(q, txn, e.next_attempt_ms, e.id);
	if (err == 0)
		err = queue_counter_add(q, txn, QUEUE_C_RECEIVED, 1);
	if (err == 0)
		*idp = e.id;
	return (err);
}

static void wake_for(struct queue *q, enum queue_state s)
{
	if (s == QUEUE_INCOMING)
		queue_wake(q, QUEUE_ROLE_WORKER);
	else if (s == QUEUE_READY)
		queue_wake(q, QUEUE_ROLE_DELIVERY);
}

static int spool_once(struct queue *q, const struct queue_env *env,
		      const struct queue_body_src *body, uint64_t *id)
{
	MDB_txn *txn;
	int	err;

	if ((err = queue_txn_begin(q, false, &txn)) != 0)
		return (err);
	if ((err = queue_spool_txn(q, txn, env, body, id)) != 0) {
		queue_txn_abort(txn);
		return (err);
	}
	return (queue_txn_commit(txn));
}

int	queue_spool(struct queue *q, const struct queue_env *env, const struct queue_body_src *body,
		    uint64_t *id)
{
	int	err = spool_once(q, env, body, id);

	if (err == SG_EFULL) {
		queue_nudge(q);		/* space freed by the last commit */
		err = spool_once(q, env, body, id);
	}
	if (err == 0)
		wake_for(q, env->state);
	return (err);
}

/* ------------------------------------------------------ group commit */

#define PENDING 1

struct queue_committer {
	struct queue *q;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct queue_req *head, *tail;
	bool	stop;
	size_t	max;
	struct queue_req **batch;
	int    *err;
};

/* write_batch - one transaction for all; a failing request is left out */

static void write_batch(struct queue_committer *c, size_t n)
{
	MDB_txn *txn;
	bool	nudged = false;
	int	err;
	size_t	i;

	for (i = 0; i < n; i++)
		c->err[i] = PENDING;
again:
	if ((err = queue_txn_begin(c->q, false, &txn)) != 0)
		goto fail_rest;
	for (i = 0; i < n; i++) {
		if (c->err[i] != PENDING)
			continue;
		struct queue_req *r = c->batch[i];

		if ((err = queue_spool_txn(c->q, txn, r->env, &r->body, &r->id)) != 0) {
			queue_txn_abort(txn);
			if (err == SG_EFULL && !nudged) {
				queue_nudge(c->q);	/* space freed by the last commit */
				nudged = true;
			} else {
				c->err[i] = err;
			}
			goto again;
		}
	}
	err = queue_txn_commit(txn);
fail_rest:
	for (i = 0; i < n; i++)
		if (c->err[i] == PENDING)
			c->err[i] = err;
}

static size_t take_batch(struct queue_committer *c)
{
	size_t	n = 0;

	while (c->head != NULL && n < c->max) {
		c->batch[n++] = c->head;
		c->head = c->head->next;
	}
	if (c->head == NULL)
		c->tail = NULL;
	return (n);
}

static void *committer_main(void *arg)
{
	struct queue_committer *c = arg;
	size_t	n;

	for (;;) {
		pthread_mutex_lock(&c->mu);
		while (c->head == NULL && !c->stop)
			pthread_cond_wait(&c->cv, &c->mu);
		n = take_batch(c);
		pthread_mutex_unlock(&c->mu);
		if (n == 0)
			break;		/* stopping, and nothing left */
		write_batch(c, n);
		bool	worker = false, delivery = false;

		for (size_t i = 0; i < n; i++) {
			struct queue_req *r = c->batch[i];

			if (c->err[i] == 0) {
				worker |= r->env->state == QUEUE_INCOMING;
				delivery |= r->env->state == QUEUE_READY;
			} else {
				r->id = 0;
			}
			r->next = NULL;
			r->done(r, c->err[i]);
		}
		if (worker)
			queue_wake(c->q, QUEUE_ROLE_WORKER);
		if (delivery)
			queue_wake(c->q, QUEUE_ROLE_DELIVERY);
	}
	return (NULL);
}

int	queue_committer_start(struct queue *q, struct queue_committer **out)
{
	struct queue_committer *c;

	*out = NULL;
	if (q->flags & QUEUE_RDONLY)
		return (SG_EDENIED);
	c = sg_xcalloc(1, sizeof(*c));
	c->q = q;
	c->max = (size_t) q->conf.commit_batch;
	c->batch = sg_xcalloc(c->max, sizeof(*c->batch));
	c->err = sg_xcalloc(c->max, sizeof(*c->err));
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (pthread_create(&c->thread, NULL, committer_main, c) != 0) {
		pthread_mutex_destroy(&c->mu);
		pthread_cond_destroy(&c->cv);
		free(c->batch);
		free(c->err);
		free(c);
		return (SG_ENOMEM);
	}
	*out = c;
	return (0);
}

void	queue_submit(struct queue_committer *c, struct queue_req *r)
{
	r->next = NULL;
	pthread_mutex_lock(&c->mu);
	if (c->tail)
		c->tail->next = r;
	else
		c->head = r;
	c->tail = r;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

void	queue_committer_stop(struct queue_committer *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c->batch);
	free(c->err);
	free(c);
}
