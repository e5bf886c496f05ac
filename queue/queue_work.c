/*
 * NAME
 *	queue_work 3
 * SUMMARY
 *	the worker's side: claims with leases, completion, splits
 * SYNOPSIS
 *	#include "queue/queue.h"
 *
 *	int	queue_claim(q, owner, lease_ms, max, ids, np)
 *	int	queue_lease_renew(q, id, owner, lease_ms)
 *	int	queue_complete(q, id, owner, parts, nparts, new_ids)
 *	int	queue_complete_batch(q, owner, items, n)
 * DESCRIPTION
 *	An inbox entry holds the lease: expiry and owner; expiry 0 means
 *	free. A claim takes entries whose expiry has passed, so the work
 *	of a worker that died comes back by itself once its lease ends.
 *
 *	queue_complete() checks the lease before it changes anything,
 *	which makes completion idempotent: the second completion of the
 *	same message finds no inbox entry (SG_EEXIST), and a worker whose
 *	lease was taken over finds another owner (SG_EBUSY).
 *
 *	Claims and completions are committed relaxed
 *	(queue_txn_commit_relaxed: one flush, not two): a system crash may
 *	undo them, which only means the message is processed again.
 *
 *	queue_complete_batch() is the group commit of completions: all
 *	items ride one write transaction (one fsync), each in a nested
 *	transaction of its own, so an item that fails (lost lease, corrupt
 *	record, a record over a limit, even the map filling up) is undone
 *	alone and the others keep their work. queue_complete() is the batch
 *	of one.
 */

#include <stdlib.h>
#include <string.h>

#include "queue_int.h"

struct lease {
	int64_t	expiry;
	char	owner[QUEUE_OWNER_MAX + 1];
};

static int lease_get(struct queue *q, MDB_txn *txn, uint64_t id, struct lease *l)
{
	uint8_t	kb[8];
	MDB_val	k = {8, kb}, d;
	int	rc;

	queue_put_be64(kb, id);
	if ((rc = mdb_get(txn, q->db_inbox, &k, &d)) != 0)
		return (queue_err(rc));
	if (d.mv_size < 8 || d.mv_size > 8 + QUEUE_OWNER_MAX)
		return (SG_ECORRUPT);
	l->expiry = (int64_t) queue_get_be64(d.mv_data);
	memcpy(l->owner, (const char *) d.mv_data + 8, d.mv_size - 8);
	l->owner[d.mv_size - 8] = 0;
	return (0);
}

static bool owner_ok(const char *owner)
{
	return (owner != NULL && *owner != 0 && strlen(owner) <= QUEUE_OWNER_MAX);
}

/* collect_free - up to max inbox ids whose lease is free or expired */

static int collect_free(struct queue *q, MDB_txn *txn, int64_t now, size_t max,
			uint64_t *ids, size_t *n)
{
	MDB_cursor *c;
	MDB_val	k, d;
	int	rc;

	*n = 0;
	if ((rc = mdb_cursor_open(txn, q->db_inbox, &c)) != 0)
		return (queue_err(rc));
	for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0 && *n < max;
	     rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
		if (k.mv_size != 8)
			continue;
		if (d.mv_size >= 8 && (int64_t) queue_get_be64(d.mv_data) > now)
			continue;
		ids[(*n)++] = queue_get_be64(k.mv_data);
	}
	mdb_cursor_close(c);
	return (rc == 0 || rc == MDB_NOTFOUND ? 0 : queue_err(rc));
}

/* claim_one - lease id to owner; 1 if it vanished or was quarantined */

static int claim_one(struct queue *q, MDB_txn *txn, uint64_t id, const char *owner,
		     int64_t expiry, struct queue_env *env)
{
	int	err = queue_env_load(q, txn, q->db_env, id, env);

	if (err == SG_ENOTFOUND)
		return (queue_inbox_del(q, txn, id) == 0 ? 1 : SG_EIO);
	if (err == SG_ECORRUPT)
		return (queue_quarantine_txn(q, txn, id) == 0 ? 1 : SG_EIO);
	if (err)
		return (err);
	if ((err = queue_inbox_put(q, txn, id, expiry, owner)) != 0)
		return (err);
	env->state = QUEUE_WORKING;
	return (queue_env_store(q, txn, q->db_env, env, 0));
}

int	queue_claim(struct queue *q, const char *owner, int64_t lease_ms, size_t max,
		    uint64_t *ids, size_t *n)
{
	struct queue_env env;
	int64_t	now = sg_now_ms();
	MDB_txn *txn;
	size_t	found, kept = 0;
	int	err;

	*n = 0;
	if (!owner_ok(owner) || max == 0)
		return (SG_EINVAL);
	if (lease_ms <= 0)
		lease_ms = q->conf.lease_ms;
	if ((err = queue_txn_begin(q, false, &txn)) != 0)
		return (err);
	if ((err = collect_free(q, txn, now, max, ids, &found)) != 0)
		goto fail;
	queue_env_init(&env);
	for (size_t i = 0; i < found; i++) {
		if ((err = claim_one(q, txn, ids[i], owner, now + lease_ms, &env)) < 0)
			break;
		if (err == 0)
			ids[kept++] = ids[i];
		err = 0;
	}
	queue_env_free(&env);
	if (err)
		goto fail;
	/* a claim lost in a system crash is made again: no need to wait for
	 * the meta page, the one flush of the data is enough */
	if ((err = queue_txn_commit_relaxed(txn)) == 0)
		*n = kept;
	return (err);
fail:
	queue_txn_abort(txn);
	return (err);
}

int	queue_lease_renew(struct queue *q, uint64_t id, const char *owner, int64_t lease_ms)
{
	struct lease l;
	MDB_txn *txn;
	int	err;

	if (!owner_ok(owner))
		return (SG_EINVAL);
	if (lease_ms <= 0)
		lease_ms = q->conf.lease_ms;
	if ((err = queue_txn_begin(q, false, &txn)) != 0)
		return (err);
	if ((err = lease_get(q, txn, id, &l)) == 0) {
		if (strcmp(l.owner, owner) != 0 || l.expiry == 0)
			err = SG_EBUSY;
		else
			err = queue_inbox_put(q, txn, id, sg_now_ms() + lease_ms, owner);
	}
	if (err) {
		queue_txn_abort(txn);
		return (err);
	}
	return (queue_txn_commit(txn));
}

/* ---------------------------------------------------------- complete */

static int check_parts(const struct queue_part *parts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		enum queue_state s = parts[i].state;

		if (parts[i].env == NULL || parts[i].env->nrcpt == 0 ||
		    (s != QUEUE_READY && s != QUEUE_HOLD && s != QUEUE_DONE))
			return (SG_EINVAL);
	}
	return (0);
}

/* place - store a finished part's envelope where its state says */

static int place(struct queue *q, MDB_txn *txn, struct queue_env *e, enum queue_state s,
		 unsigned put_flags)
{
	int	err;

	/*
	 * Held by an incident, the worker did not finish: a release must run
	 * the rules again (the cause may be fixed), never send it as it is.
	 */
	if (s == QUEUE_HOLD)
		e->flags &= ~QUEUE_F_WORKED;
	e->state = s == QUEUE_DONE ? QUEUE_HOLD : s;
	e->next_attempt_ms = s == QUEUE_READY ? sg_now_ms() : 0;
	if ((err = queue_env_store(q, txn, q->db_env, e, put_flags)) != 0)
		return (err);
	if (s == QUEUE_READY)
		return (queue_sched_put(q, txn, e->next_attempt_ms, e->id));
	if (s == QUEUE_DONE)
		return (queue_retire(q, txn, e, NULL));
	return (0);
}

static int processed_body(struct queue *q, MDB_txn *txn, struct queue_env *e,
			  const struct queue_body_src *body)
{
	int	err;

	e->flags &= ~QUEUE_F_PROCESSED;
	e->processed_size = 0;
	if ((err = queue_body_drop(q, txn, e->id, QUEUE_BODY_PROCESSED)) != 0 || body == NULL)
		return (err);
	e->flags |= QUEUE_F_PROCESSED;
	return (queue_body_write(q, txn, e->id, QUEUE_BODY_PROCESSED, body, false,
				 &e->processed_size));
}

static void inherit(struct queue_env *e, const struct queue_env *old)
{
	e->arrival_ms = old->arrival_ms;
	e->size = old->size;
	e->attempts = old->attempts;
	e->expire_ms = e->expire_ms ? e->expire_ms : old->expire_ms;
	e->flags |= QUEUE_F_WORKED;
}

static int complete_one(struct queue *q, MDB_txn *txn, struct queue_env *old,
			const struct queue_part *p)
{
	struct queue_env e = *p->env;
	int	err;

	e.id = old->id;
	e.parent = old->parent;
	inherit(&e, old);
	if ((err = processed_body(q, txn, &e, p->body)) != 0)
		return (err);
	return (place(q, txn, &e, p->state, 0));
}

static int complete_split(struct queue *q, MDB_txn *txn, struct queue_env *old,
			  const struct queue_part *parts, size_t n, uint64_t *new_ids)
{
	int	err = 0;

	for (size_t i = 0; i < n && err == 0; i++) {
		struct queue_env e = *parts[i].env;

		if ((err = queue_new_id(q, txn, &e.id)) != 0)
			break;
		e.parent = old->id;
		inherit(&e, old);
		if ((err = queue_body_copy(q, txn, old->id, e.id, NULL)) != 0 ||
		    (err = processed_body(q, txn, &e, parts[i].body)) != 0 ||
		    (err = place(q, txn, &e, parts[i].state, 0)) != 0)
			break;
		if (new_ids)
			new_ids[i] = e.id;
	}
	if (err == 0) {
		old->state = QUEUE_HOLD;	/* its inbox entry is gone already */
		err = queue_retire(q, txn, old, "split");
	}
	return (err);
}

static int check_lease(struct queue *q, MDB_txn *txn, uint64_t id, const char *owner)
{
	struct lease l;
	int	err = lease_get(q, txn, id, &l);

	if (err == SG_ENOTFOUND)
		return (SG_EEXIST);	/* completed, held or deleted meanwhile */
	if (err)
		return (err);
	if (strcmp(l.owner, owner) != 0 && l.expiry > sg_now_ms())
		return (SG_EBUSY);	/* our lease ran out and someone else has it */
	return (0);
}

static bool any_ready(const struct queue_part *parts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (parts[i].state == QUEUE_READY)
			return (true);
	return (false);
}

static bool item_ok(const struct queue_completion *it)
{
	return ((it->nparts == 0 || it->parts != NULL) && check_parts(it->parts, it->nparts) == 0);
}

/* apply_item - the work of one completion inside txn (its own child) */

static int apply_item(struct queue *q, MDB_txn *txn, const char *owner,
		      const struct queue_completion *it, struct queue_env *old)
{
	int	err;

	if ((err = check_lease(q, txn, it->id, owner)) != 0)
		return (err);
	if ((err = queue_env_load(q, txn, q->db_env, it->id, old)) == SG_ECORRUPT)
		return (queue_quarantine_txn(q, txn, it->id) == 0 ? 1 : SG_EIO);
	if (err || (err = queue_inbox_del(q, txn, it->id)) != 0)
		return (err);
	old->state = QUEUE_HOLD;	/* unlinked: no inbox, no schedule */
	if (it->nparts == 0)
		err = queue_retire(q, txn, old, NULL);
	else if (it->nparts == 1)
		err = complete_one(q, txn, old, &it->parts[0]);
	else
		err = complete_split(q, txn, old, it->parts, it->nparts, it->new_ids);
	if (err == 0)
		err = queue_counter_add(q, txn, QUEUE_C_PROCESSED, 1);
	if (err == 0)
		err = queue_tally_add(q, txn, it->tally);
	return (err);
}

/*
 * complete_item - one completion in a nested transaction: whatever goes
 * wrong with it (a lost lease, a record too large, the map full) is
 * undone alone and the others in the batch keep their work. A corrupt
 * record is quarantined (committed) and reported as SG_ECORRUPT.
 */
static int complete_item(struct queue *q, MDB_txn *parent, const char *owner,
			 const struct queue_completion *it)
{
	struct queue_env old;
	MDB_txn *sub;
	int	err, rc;

	if (!item_ok(it))
		return (SG_EINVAL);
	if ((rc = mdb_txn_begin(q->env, parent, 0, &sub)) != 0)
		return (queue_err(rc));
	queue_env_init(&old);
	err = apply_item(q, sub, owner, it, &old);
	queue_env_free(&old);
	if (err < 0) {
		mdb_txn_abort(sub);
		return (err);
	}
	if ((rc = mdb_txn_commit(sub)) != 0)
		return (queue_err(rc));
	return (err == 1 ? SG_ECORRUPT : 0);
}

/* batch_failed - the batch's transaction is lost: so is every change in it */

static int batch_failed(struct queue_completion *items, size_t n, bool begun, int err)
{
	for (size_t i = 0; i < n; i++)
		if (!begun || items[i].result == 0 || items[i].result == SG_ECORRUPT)
			items[i].result = err;
	return (err);
}

int	queue_complete_batch(struct queue *q, const char *owner,
			     struct queue_completion *items, size_t n)
{
	MDB_txn *txn;
	bool	wake = false;
	int	err;

	if (n > 0 && items == NULL)
		return (SG_EINVAL);
	if (!owner_ok(owner))
		return (batch_failed(items, n, false, SG_EINVAL));
	if (n == 0)
		return (0);
	if ((err = queue_txn_begin(q, false, &txn)) != 0)
		return (batch_failed(items, n, false, err));
	queue_history_mark(q, txn);
	for (size_t i = 0; i < n; i++)
		items[i].result = complete_item(q, txn, owner, &items[i]);
	/* relaxed: results lost in a system crash leave the message claimed
	 * or incoming, with its original body, and it is processed again;
	 * what delivery records after them is durable and makes them so */
	if ((err = queue_txn_commit_relaxed(txn)) != 0)
		return (batch_failed(items, n, true, err));
	for (size_t i = 0; i < n; i++)
		wake |= items[i].result == 0 && any_ready(items[i].parts, items[i].nparts);
	if (wake)
		queue_wake(q, QUEUE_ROLE_DELIVERY);
	return (0);
}

int	queue_complete(struct queue *q, uint64_t id, const char *owner,
		       const struct queue_part *parts, size_t nparts, uint64_t *new_ids)
{
	struct queue_completion it = {.id = id,.parts = parts,.nparts = nparts,
		.new_ids = new_ids };
	int	err = queue_complete_batch(q, owner, &it, 1);

	return (err ? err : it.result);
}
