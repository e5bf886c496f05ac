/*
 * NAME
 *	queue_deliv 3
 * SUMMARY
 *	the delivery side: due messages, attempt results, tracking records
 * SYNOPSIS
 *	#include "queue/queue.h"
 *
 *	int	queue_due(q, now_ms, lease_ms, max, ids, np)
 *	int	queue_due_peek(q, now_ms, max, ids, np)
 *	int	queue_next_due(q, whenp)
 *	int	queue_record(q, id, results, n, next_attempt_ms, route, donep)
 *	int	queue_record_many(q, items, n)
 *	int	queue_record_due(q, items, n, take)
 *	int	queue_track_prune(q, age_ms, np)
 * DESCRIPTION
 *	The schedule is keyed by (due time, id), so due messages are the
 *	first keys. Taking a message pushes its key to now + lease in the
 *	same transaction and notes it in the taken table: if the delivery
 *	process dies, the message comes due again when the lease ends, or
 *	at once when the next delivery process starts and releases what its
 *	dead predecessor took (queue_lease.c). A schedule key that no longer matches a live,
 *	scheduled envelope is dropped where it is found. queue_due()
 *	commits relaxed (queue_txn_commit_relaxed): a take a system crash
 *	undoes is taken again, and the message was not yet sent.
 *
 *	queue_due_peek() finds the same messages in a read transaction and
 *	leases nothing: for a delivery role with little in flight, which
 *	keeps what it took in memory and holds the role's lock (nothing
 *	else takes), a take's commit would only put a flush on each
 *	message's way to the next hop. A message peeked stays first on the
 *	schedule until its result is recorded, so it is peeked again, and
 *	a later queue_due() may lease it: the record settles either. A
 *	schedule key that does not match its envelope (stale, or a corrupt
 *	record) is SG_EAGAIN: only queue_due() can drop or quarantine it.
 *	A message whose results could not be recorded (a record grown past
 *	its limit, say) is leased in the same transaction instead, as a take
 *	would have: taken with a peek, it must not be sent again at the next
 *	scan.
 *
 *	queue_record() applies one attempt's per-recipient results; when
 *	all recipients are final the message is retired in the same
 *	transaction (tracking record kept, body and schedule key removed).
 *	queue_record_many() does that for many messages in one write
 *	transaction, hence one fsync for all of them: it is what bounds
 *	delivery's rate, since every message finishes with a record. Each
 *	message rides a nested transaction, so one that fails is undone
 *	alone; queue_record() is the batch of one. queue_record_due() also
 *	takes the next due messages in that transaction, after the results,
 *	so a busy delivery role pays one commit per loop iteration instead
 *	of two; the take too is nested and its failure loses no result.
 * DIAGNOSTICS
 *	Per item: SG_ENOTFOUND (no such message), SG_EINVAL (a result's
 *	index or state out of range), SG_ECORRUPT (the record failed its
 *	checks and was quarantined), SG_EFULL, SG_EIO. A lost commit is the
 *	result of every item that had succeeded.
 */

#include <stdlib.h>
#include <string.h>

#include "queue_int.h"

#define RETRY_FALLBACK_MS 60000		/* no recipient said when: a minute */
#define PRUNE_PER_TXN 5000

struct due_key {
	int64_t	due;
	uint64_t id;
};

static int collect_due(struct queue *q, MDB_txn *txn, int64_t now, size_t max,
		       struct due_key *keys, size_t *n)
{
	MDB_cursor *c;
	MDB_val	k, d;
	int	rc;

	*n = 0;
	if ((rc = mdb_cursor_open(txn, q->db_sched, &c)) != 0)
		return (queue_err(rc));
	for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0 && *n < max;
	     rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
		if (k.mv_size != 16)
			continue;
		int64_t	due = (int64_t) queue_get_be64(k.mv_data);

		if (due > now)
			break;
		keys[*n].due = due;
		keys[(*n)++].id = queue_get_be64((const uint8_t *) k.mv_data + 8);
	}
	mdb_cursor_close(c);
	return (rc == 0 || rc == MDB_NOTFOUND ? 0 : queue_err(rc));
}

/* keyed - is env the scheduled message that key k says is due? */

static bool keyed(const struct queue_env *env, const struct due_key *k)
{
	return ((env->state == QUEUE_READY || env->state == QUEUE_DEFERRED)
		&& env->next_attempt_ms == k->due);
}

/* take_one - push one due message's key to until; 1 if it was stale */

static int take_one(struct queue *q, MDB_txn *txn, const struct due_key *k, int64_t until,
		    struct queue_env *env)
{
	int	err = queue_env_load(q, txn, q->db_env, k->id, env);

	if (err == SG_ECORRUPT && (err = queue_quarantine_txn(q, txn, k->id)) == 0)
		err = SG_ENOTFOUND;
	if (err == 0 && !keyed(env, k))
		err = SG_ENOTFOUND;
	if (err == SG_ENOTFOUND)
		return (queue_sched_del(q, txn, k->due, k->id) == 0 ? 1 : SG_EIO);
	if (err)
		return (err);
	if ((err = queue_sched_del(q, txn, k->due, k->id)) != 0 ||
	    (err = queue_sched_put(q, txn, until, k->id)) != 0 ||
	    (err = queue_taken_put(q, txn, k->id, until)) != 0)
		return (err);
	env->next_attempt_ms = until;
	return (queue_env_store(q, txn, q->db_env, env, 0));
}

/* take_due - queue_due()'s work inside txn */

static int take_due(struct queue *q, MDB_txn *txn, int64_t now, int64_t lease_ms, size_t max,
		    uint64_t *ids, size_t *n)
{
	struct due_key *keys;
	struct queue_env env;
	size_t	found, kept = 0;
	int	err;

	*n = 0;
	if (max == 0 || ids == NULL)
		return (SG_EINVAL);
	if (lease_ms <= 0)
		lease_ms = q->conf.lease_ms;
	keys = sg_xcalloc(max, sizeof(*keys));
	queue_env_init(&env);
	if ((err = collect_due(q, txn, now, max, keys, &found)) == 0) {
		for (size_t i = 0; i < found; i++) {
			if ((err = take_one(q, txn, &keys[i], now + lease_ms, &env)) < 0)
				break;
			if (err == 0)
				ids[kept++] = keys[i].id;
			err = 0;
		}
	}
	queue_env_free(&env);
	free(keys);
	if (err == 0)
		*n = kept;
	return (err);
}

int	queue_due(struct queue *q, int64_t now, int64_t lease_ms, size_t max,
		  uint64_t *ids, size_t *n)
{
	MDB_txn *txn;
	size_t	kept;
	int	err;

	*n = 0;
	if (max == 0)
		return (SG_EINVAL);
	if ((err = queue_txn_begin(q, false, &txn)) != 0)
		return (err);
	if ((err = take_due(q, txn, now, lease_ms, max, ids, &kept)) != 0) {
		queue_txn_abort(txn);
		return (err);
	}
	/* a lease lost in a system crash is taken again: relaxed */
	if ((err = queue_txn_commit_relaxed(txn)) == 0)
		*n = kept;
	return (err);
}

int	queue_due_peek(struct queue *q, int64_t now, size_t max, uint64_t *ids, size_t *n)
{
	struct due_key *keys;
	struct queue_env env;
	MDB_txn *txn;
	size_t	found = 0;
	int	err;

	*n = 0;
	if (max == 0 || ids == NULL)
		return (SG_EINVAL);
	if ((err = queue_txn_begin(q, true, &txn)) != 0)
		return (err);
	keys = sg_xcalloc(max, sizeof(*keys));
	queue_env_init(&env);
	err = collect_due(q, txn, now, max, keys, &found);
	for (size_t i = 0; i < found && err == 0; i++) {
		if ((err = queue_env_load(q, txn, q->db_env, keys[i].id, &env)) == 0
		    && !keyed(&env, &keys[i]))
			err = SG_ENOTFOUND;
		ids[i] = keys[i].id;
	}
	queue_env_free(&env);
	free(keys);
	queue_txn_abort(txn);
	if (err == SG_ENOTFOUND || err == SG_ECORRUPT)
		return (SG_EAGAIN);	/* a stale key or a bad record: queue_due()'s to settle */
	if (err == 0)
		*n = found;
	return (err);
}

int	queue_next_due(struct queue *q, int64_t *when)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val	k, d;
	int	rc, err;

	if ((err = queue_txn_begin(q, true, &txn)) != 0)
		return (err);
	if ((rc = mdb_cursor_open(txn, q->db_sched, &c)) == 0) {
		if ((rc = mdb_cursor_get(c, &k, &d, MDB_FIRST)) == 0 && k.mv_size == 16)
			*when = (int64_t) queue_get_be64(k.mv_data);
		else if (rc == 0)
			rc = MDB_CORRUPTED;
		mdb_cursor_close(c);
	}
	queue_txn_abort(txn);
	return (queue_err(rc));
}

/* ----------------------------------------------------------- results */

static int apply_result(struct queue *q, MDB_txn *txn, struct queue_env *e,
			const struct queue_result *r, int64_t now)
{
	static const enum queue_counter counter[] = {
		[QUEUE_RCPT_DEFERRED] = QUEUE_C_DEFERRED,
		[QUEUE_RCPT_DELIVERED] = QUEUE_C_SENT,
		[QUEUE_RCPT_BOUNCED] = QUEUE_C_BOUNCED,
		[QUEUE_RCPT_DROPPED] = QUEUE_C_DROPPED,
	};
	struct queue_rcpt *rc;
	int	err;

	if (r->index >= e->nrcpt || (unsigned) r->state > QUEUE_RCPT_DROPPED)
		return (SG_EINVAL);
	rc = &e->rcpt[r->index];
	rc->state = r->state;
	rc->attempts++;
	rc->last_attempt_ms = now;
	rc->next_attempt_ms = r->state == QUEUE_RCPT_DEFERRED ? r->next_attempt_ms : 0;
	if (r->reply)
		rc->reply = r->reply;
	if (r->dsn_status)
		rc->dsn_status = r->dsn_status;
	if (r->relay)
		rc->relay = r->relay;
	if (r->tls)
		rc->tls = r->tls;
	if (r->state == QUEUE_RCPT_PENDING)
		return (0);
	if ((err = queue_attempt_count(q, txn, r->state, rc->tls)) != 0)
		return (err);
	return (queue_counter_add(q, txn, counter[r->state], 1));
}

static int64_t next_time(const struct queue_env *e, int64_t given, int64_t now, bool *deferred)
{
	int64_t	best = 0;

	*deferred = false;
	for (size_t i = 0; i < e->nrcpt; i++) {
		const struct queue_rcpt *r = &e->rcpt[i];

		if (queue_rcpt_final(r->state))
			continue;
		*deferred |= r->state == QUEUE_RCPT_DEFERRED;
		if (r->next_attempt_ms > 0 && (best == 0 || r->next_attempt_ms < best))
			best = r->next_attempt_ms;
	}
	if (given > 0)
		return (given);
	return (best > 0 ? best : now + RETRY_FALLBACK_MS);
}

static bool all_final(const struct queue_env *e)
{
	for (size_t i = 0; i < e->nrcpt; i++)
		if (!queue_rcpt_final(e->rcpt[i].state))
			return (false);
	return (true);
}

static int reschedule(struct queue *q, MDB_txn *txn, struct queue_env *e, int64_t given,
		      int64_t now)
{
	bool	deferred;
	int64_t	when = next_time(e, given, now, &deferred);
	bool	linked = e->state == QUEUE_READY || e->state == QUEUE_DEFERRED;
	int	err;

	if (!linked)			/* held (or being worked on) meanwhile */
		return (queue_env_store(q, txn, q->db_env, e, 0));
	if ((err = queue_sched_del(q, txn, e->next_attempt_ms, e->id)) != 0 ||
	    (err = queue_taken_del(q, txn, e->id)) != 0)
		return (err);
	e->next_attempt_ms = when;
	e->state = deferred ? QUEUE_DEFERRED : QUEUE_READY;
	if ((err = queue_sched_put(q, txn, when, e->id)) != 0)
		return (err);
	return (queue_env_store(q, txn, q->db_env, e, 0));
}

/* apply_item - one message's results inside txn; 1: quarantined instead */

static int apply_item(struct queue *q, MDB_txn *txn, const struct queue_record_item *it,
		      int64_t now, bool *done)
{
	struct queue_env e;
	int	err;

	queue_env_init(&e);
	if ((err = queue_env_load(q, txn, q->db_env, it->id, &e)) == SG_ECORRUPT)
		err = queue_quarantine_txn(q, txn, it->id) == 0 ? 1 : SG_ECORRUPT;
	for (size_t i = 0; i < it->nres && err == 0; i++)
		err = apply_result(q, txn, &e, &it->res[i], now);
	if (err == 0) {
		e.attempts++;
		if (it->route)
			e.route = it->route;
		if (all_final(&e)) {
			err = queue_hist_observe(q, txn, QUEUE_H_QUEUE_TIME,
						 (now - e.arrival_ms) * 1000);
			if (err == 0)
				err = queue_retire(q, txn, &e, NULL);
			*done = err == 0;
		} else {
			err = reschedule(q, txn, &e, it->next_attempt_ms, now);
		}
	}
	queue_env_free(&e);
	return (err);
}

/*
 * hold_off - a message whose results could not be stored is leased, as a
 * take would have, if it is still due as scheduled: taken without a lease
 * (queue_due_peek) it would otherwise be sent again at the next scan. In
 * its own nested transaction: a failure here costs the others nothing.
 */
static void hold_off(struct queue *q, MDB_txn *parent, uint64_t id, int64_t now)
{
	struct queue_env env;
	struct due_key k = {.id = id};
	MDB_txn *sub;

	if (mdb_txn_begin(q->env, parent, 0, &sub) != 0)
		return;
	queue_env_init(&env);
	if (queue_env_load(q, sub, q->db_env, id, &env) == 0
	    && (env.state == QUEUE_READY || env.state == QUEUE_DEFERRED)
	    && (k.due = env.next_attempt_ms) <= now
	    && take_one(q, sub, &k, now + q->conf.lease_ms, &env) == 0)
		(void) mdb_txn_commit(sub);
	else
		mdb_txn_abort(sub);
	queue_env_free(&env);
}

/*
 * record_item - one message in a nested transaction: a bad result, a
 * missing or corrupt record, a record grown too large is undone alone and
 * the other messages of the batch keep theirs. A corrupt record is
 * quarantined (that much commits) and reported as SG_ECORRUPT.
 */
static int record_item(struct queue *q, MDB_txn *parent, struct queue_record_item *it,
		       int64_t now)
{
	MDB_txn *sub;
	bool	done = false;
	int	err, rc;

	if (it->nres > 0 && it->res == NULL)
		return (SG_EINVAL);
	if ((rc = mdb_txn_begin(q->env, parent, 0, &sub)) != 0)
		return (queue_err(rc));
	if ((err = apply_item(q, sub, it, now, &done)) < 0) {
		mdb_txn_abort(sub);
		if (err != SG_ENOTFOUND)
			hold_off(q, parent, it->id, now);
		return (err);
	}
	if ((rc = mdb_txn_commit(sub)) != 0)
		return (queue_err(rc));
	if (err == 1)
		return (SG_ECORRUPT);
	it->done = done;
	return (0);
}

/* take_nested - take->max due messages in a nested transaction: a failure loses no result */

static void take_nested(struct queue *q, MDB_txn *parent, struct queue_take *t)
{
	MDB_txn *sub;
	int	rc;

	if ((rc = mdb_txn_begin(q->env, parent, 0, &sub)) != 0) {
		t->result = queue_err(rc);
		return;
	}
	if ((t->result = take_due(q, sub, t->now_ms, t->lease_ms, t->max, t->ids, &t->n)) != 0) {
		mdb_txn_abort(sub);
		t->n = 0;
	} else if ((rc = mdb_txn_commit(sub)) != 0) {
		t->result = queue_err(rc);
		t->n = 0;
	}
}

int	queue_record_due(struct queue *q, struct queue_record_item *items, size_t n,
			 struct queue_take *take)
{
	int64_t	now = sg_now_ms();
	MDB_txn *txn;
	int	err;

	if ((n > 0 && items == NULL) || (take && (take->max == 0 || take->ids == NULL)))
		return (SG_EINVAL);
	for (size_t i = 0; i < n; i++) {
		items[i].done = false;
		items[i].result = 0;
	}
	if (take) {
		take->n = 0;
		take->result = 0;
	}
	if (n == 0 && take == NULL)
		return (0);
	if ((err = queue_txn_begin(q, false, &txn)) == 0) {
		queue_history_mark(q, txn);
		for (size_t i = 0; i < n; i++)
			items[i].result = record_item(q, txn, &items[i], now);
		if (take)
			take_nested(q, txn, take);
		err = queue_txn_commit(txn);
	}
	if (err == 0)
		return (0);
	/* the transaction is lost, and every change in it but nothing else */
	for (size_t i = 0; i < n; i++) {
		if (items[i].result == 0 || items[i].result == SG_ECORRUPT)
			items[i].result = err;
		items[i].done = false;
	}
	if (take) {
		take->n = 0;
		take->result = err;
	}
	return (err);
}

int	queue_record_many(struct queue *q, struct queue_record_item *items, size_t n)
{
	return (queue_record_due(q, items, n, NULL));
}

int	queue_record(struct queue *q, uint64_t id, const struct queue_result *res, size_t n,
		     int64_t next_attempt_ms, const char *route, bool *done)
{
	struct queue_record_item it = {.id = id,.res = res,.nres = n,
		.next_attempt_ms = next_attempt_ms,.route = route };
	int	err = queue_record_many(q, &it, 1);

	if (done)
		*done = err == 0 && it.done;
	return (err ? err : it.result);
}

/* ---------------------------------------------------------- tracking */

/* prune_one - the first tracking record and its index entries, if older than cutoff */

static int prune_one(struct queue *q, MDB_txn *txn, MDB_cursor *c, int64_t cutoff,
		     struct queue_env *e, struct sg_buf *raw)
{
	MDB_val	k, d;
	int	rc;

	/* ids sort by time: the oldest records are always the first keys */
	if ((rc = mdb_cursor_get(c, &k, &d, MDB_FIRST)) != 0)
		return (queue_err(rc));
	if (k.mv_size == 8 && queue_id_time_ms(queue_get_be64(k.mv_data)) >= cutoff)
		return (SG_ENOTFOUND);
	sg_buf_reset(raw);
	sg_buf_append(raw, d.mv_data, d.mv_size);
	if ((rc = mdb_cursor_del(c, 0)) != 0)
		return (queue_err(rc));
	/* one that does not decode leaves stale index entries: searches skip them */
	if (queue_env_decode(raw->data, raw->len, e) != 0)
		return (0);
	return (queue_track_index_del(q, txn, e));
}

static int prune_some(struct queue *q, int64_t cutoff, size_t *n, bool *more)
{
	struct sg_buf raw = SG_BUF_INIT;
	struct queue_env e;
	MDB_txn *txn;
	MDB_cursor *c;
	size_t	count = 0;
	int	rc, err;

	*more = false;
	if ((err = queue_txn_begin(q, false, &txn)) != 0)
		return (err);
	if ((rc = mdb_cursor_open(txn, q->db_track, &c)) != 0) {
		queue_txn_abort(txn);
		return (queue_err(rc));
	}
	queue_env_init(&e);
	while ((err = prune_one(q, txn, c, cutoff, &e, &raw)) == 0)
		if (++count == PRUNE_PER_TXN) {
			*more = true;
			break;
		}
	mdb_cursor_close(c);
	queue_env_free(&e);
	sg_buf_free(&raw);
	if (err != 0 && err != SG_ENOTFOUND) {
		queue_txn_abort(txn);
		return (err);
	}
	if ((err = queue_txn_commit(txn)) == 0)
		*n += count;
	return (err);
}

int	queue_track_prune(struct queue *q, int64_t age_ms, size_t *np)
{
	int64_t	cutoff;
	size_t	n = 0;
	bool	more;
	int	err;

	cutoff = sg_now_ms() - (age_ms > 0 ? age_ms : 0);
	do {
		err = prune_some(q, cutoff, &n, &more);
	} while (err == 0 && more);
	if (np)
		*np = n;
	return (err);
}
