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
 *	int	queue_track_note(c, env)
 *	void	queue_committer_count(c, counter, delta)
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
 *
 *	Tracking notes (mail refused at SMTP) are copied by
 *	queue_track_note() and wait, at most QUEUE_NOTES_MAX of them, for the
 *	next commit, or NOTE_DELAY_MS when no message comes: so a flood of
 *	refusals costs at most one commit a second. They are written in a
 *	child transaction after the messages (new ids, indexed like every
 *	tracking record), so they never cost a message its commit; when that
 *	fails, or the map is over 90% full, they are dropped: the log has
 *	every refusal anyway.
 *
 *	Counters of events that are not mail (queue_committer_count: SMTP
 *	refusals by reason) wait like notes and are added in another child
 *	transaction of the same commit, so a refusal is counted even when its
 *	note is dropped; they are lost only with that commit.
 */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	queue_history_mark(q, txn);
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

#define NOTE_DELAY_MS	1000		/* a note waits at most this for a commit */
#define NOTE_MAP_FULL	0.9		/* no notes once the map is this full */

struct queue_committer {
	struct queue *q;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* on CLOCK_MONOTONIC */
	struct queue_req *head, *tail;
	bool	stop;
	size_t	max;
	struct queue_req **batch;
	int    *err;
	/* tracking notes (queue_track_note): copies, waiting and taken */
	struct queue_env *notes[QUEUE_NOTES_MAX], *taken[QUEUE_NOTES_MAX];
	size_t	nnotes, ntaken;
	int64_t	notes_since;		/* sg_mono_ms() of the oldest waiting */
	/* counters (queue_committer_count): waiting and taken */
	uint32_t counts[QUEUE_NCOUNTERS], taken_counts[QUEUE_NCOUNTERS];
	bool	counting, counts_taken;
};

/* map_nearly_full - notes are worth less than the mail that needs the room */

static bool map_nearly_full(struct queue *q)
{
	MDB_envinfo info;
	MDB_stat st;

	if (mdb_env_info(q->env, &info) != 0 || mdb_env_stat(q->env, &st) != 0)
		return (true);
	return ((double) (info.me_last_pgno + 1) * st.ms_psize
		> NOTE_MAP_FULL * (double) info.me_mapsize);
}

/*
 * write_notes - the taken notes as tracking records, in a child of txn:
 * they never cost a message its commit; when they fail they are dropped.
 */
static void write_notes(struct queue_committer *c, MDB_txn *parent)
{
	struct queue *q = c->q;
	MDB_txn *sub;
	int	err = 0;

	if (c->ntaken == 0 || map_nearly_full(q) || mdb_txn_begin(q->env, parent, 0, &sub) != 0)
		return;
	for (size_t i = 0; i < c->ntaken && err == 0; i++) {
		struct queue_env *e = c->taken[i];

		if ((err = queue_new_id(q, sub, &e->id)) == 0)
			err = queue_track_store(q, sub, e);
	}
	if (err)
		mdb_txn_abort(sub);
	else
		(void) mdb_txn_commit(sub);
}

/* write_counts - the taken counters, in a child of txn: lost only with it */

static void write_counts(struct queue_committer *c, MDB_txn *parent)
{
	MDB_txn *sub;
	int	err = 0;

	if (!c->counts_taken || mdb_txn_begin(c->q->env, parent, 0, &sub) != 0)
		return;
	for (unsigned i = 0; i < QUEUE_NCOUNTERS && err == 0; i++)
		err = queue_counter_add(c->q, sub, (enum queue_counter) i, c->taken_counts[i]);
	if (err)
		mdb_txn_abort(sub);
	else
		(void) mdb_txn_commit(sub);
}

static void free_taken(struct queue_committer *c)
{
	for (size_t i = 0; i < c->ntaken; i++) {
		queue_env_free(c->taken[i]);
		free(c->taken[i]);
	}
	c->ntaken = 0;
}

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
	queue_history_mark(c->q, txn);
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
	write_notes(c, txn);
	write_counts(c, txn);
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

/* take_notes - every waiting note rides this commit */

static void take_notes(struct queue_committer *c)
{
	memcpy(c->taken, c->notes, c->nnotes * sizeof(*c->notes));
	c->ntaken = c->nnotes;
	c->nnotes = 0;
	memcpy(c->taken_counts, c->counts, sizeof(c->counts));
	memset(c->counts, 0, sizeof(c->counts));
	c->counts_taken = c->counting;
	c->counting = false;
}

/* idle - nothing to commit yet: no message, and no note that waited long enough */

static bool idle(struct queue_committer *c)
{
	struct timespec ts;
	int64_t	due;

	if (c->head != NULL || c->stop)
		return (false);
	if (c->nnotes == 0 && !c->counting) {
		pthread_cond_wait(&c->cv, &c->mu);
		return (true);
	}
	if ((due = c->notes_since + NOTE_DELAY_MS) <= sg_mono_ms())
		return (false);
	ts.tv_sec = due / 1000;
	ts.tv_nsec = (due % 1000) * 1000000;
	pthread_cond_timedwait(&c->cv, &c->mu, &ts);
	return (true);
}

static void *committer_main(void *arg)
{
	struct queue_committer *c = arg;
	size_t	n;

	for (;;) {
		pthread_mutex_lock(&c->mu);
		while (idle(c))
			;
		n = take_batch(c);
		take_notes(c);
		pthread_mutex_unlock(&c->mu);
		if (n == 0 && c->ntaken == 0 && !c->counts_taken)
			break;		/* stopping, and nothing left */
		write_batch(c, n);
		free_taken(c);
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
	pthread_condattr_t ca;

	*out = NULL;
	if (q->flags & QUEUE_RDONLY)
		return (SG_EDENIED);
	c = sg_xcalloc(1, sizeof(*c));
	c->q = q;
	c->max = (size_t) q->conf.commit_batch;
	c->batch = sg_xcalloc(c->max, sizeof(*c->batch));
	c->err = sg_xcalloc(c->max, sizeof(*c->err));
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);	/* sg_mono_ms() */
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
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

int	queue_track_note(struct queue_committer *c, const struct queue_env *in)
{
	struct queue_env tmp = *in, *e;
	struct sg_buf b = SG_BUF_INIT;
	int	err;

	tmp.id = 1;				/* made at the commit */
	tmp.state = QUEUE_DONE;
	if ((err = queue_env_encode(&tmp, &b)) != 0) {
		sg_buf_free(&b);
		return (err);
	}
	e = sg_xcalloc(1, sizeof(*e));
	queue_env_init(e);
	if ((err = queue_env_decode(b.data, b.len, e)) != 0) {
		sg_buf_free(&b);
		queue_env_free(e);
		free(e);
		return (err);
	}
	e->raw = b.data;			/* the copy owns its strings */
	e->raw_len = b.len;
	pthread_mutex_lock(&c->mu);
	if (c->nnotes == QUEUE_NOTES_MAX || c->stop) {
		pthread_mutex_unlock(&c->mu);
		queue_env_free(e);
		free(e);
		return (SG_ELIMIT);
	}
	if (c->nnotes == 0 && !c->counting)
		c->notes_since = sg_mono_ms();
	c->notes[c->nnotes++] = e;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return (0);
}

void	queue_committer_count(struct queue_committer *c, enum queue_counter k, uint32_t delta)
{
	if ((unsigned) k >= QUEUE_NCOUNTERS || delta == 0)
		return;
	pthread_mutex_lock(&c->mu);
	if (c->nnotes == 0 && !c->counting)
		c->notes_since = sg_mono_ms();
	c->counts[k] += delta;
	c->counting = true;
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
