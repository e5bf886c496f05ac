/*
 * NAME
 *	queue_admin 3
 * SUMMARY
 *	operator changes by id: hold, release, delete, retry
 * SYNOPSIS
 *	#include "queue/queue.h"
 *
 *	int	queue_hold(q, ids, n, reason, res, changed)
 *	int	queue_release(q, ids, n, res, changed)
 *	int	queue_delete(q, ids, n, reason, res, changed)
 *	int	queue_retry(q, ids, n, res, changed)
 * DESCRIPTION
 *	Each walks its ids in write transactions of at most ADMIN_PER_TXN
 *	ids, so a bulk change of 100,000 messages neither holds the write
 *	lock for long nor builds one huge transaction. A missing id is
 *	reported in res[] and does not stop the others. A change that does
 *	not apply (release of a message that is not held) is SG_EINVAL in
 *	res[]; holding a held message changes nothing and is 0.
 * DIAGNOSTICS
 *	The return value is the first error that stopped a transaction
 *	(SG_EFULL, SG_EIO); per-id outcomes are in res[].
 */

#include "queue_int.h"

#define ADMIN_PER_TXN 10000

enum op { OP_HOLD, OP_RELEASE, OP_DELETE, OP_RETRY };

struct admin {
	enum op	op;
	const char *reason;
	bool	wake_worker, wake_delivery;
};

static int op_hold(struct queue *q, MDB_txn *txn, struct queue_env *e, struct admin *a)
{
	int	err;

	if (e->state == QUEUE_HOLD)
		return (1);
	if ((err = queue_unlink(q, txn, e)) != 0)
		return (err);
	e->state = QUEUE_HOLD;
	e->reason = a->reason ? a->reason : "held by the operator";
	return (queue_env_store(q, txn, q->db_env, e, 0));
}

static int op_release(struct queue *q, MDB_txn *txn, struct queue_env *e, struct admin *a)
{
	int	err;

	if (e->state != QUEUE_HOLD)
		return (SG_EINVAL);
	e->reason = "";
	if (e->flags & QUEUE_F_WORKED) {
		e->state = QUEUE_READY;
		e->next_attempt_ms = sg_now_ms();
		err = queue_sched_put(q, txn, e->next_attempt_ms, e->id);
		a->wake_delivery = true;
	} else {
		e->state = QUEUE_INCOMING;
		e->next_attempt_ms = 0;
		err = queue_inbox_put(q, txn, e->id, 0, NULL);
		a->wake_worker = true;
	}
	return (err ? err : queue_env_store(q, txn, q->db_env, e, 0));
}

static int op_retry(struct queue *q, MDB_txn *txn, struct queue_env *e, struct admin *a)
{
	int	err;

	if (e->state != QUEUE_READY && e->state != QUEUE_DEFERRED)
		return (SG_EINVAL);
	if ((err = queue_sched_del(q, txn, e->next_attempt_ms, e->id)) != 0 ||
	    (err = queue_taken_del(q, txn, e->id)) != 0)
		return (err);
	e->next_attempt_ms = sg_now_ms();
	for (size_t i = 0; i < e->nrcpt; i++)
		if (!queue_rcpt_final(e->rcpt[i].state))
			e->rcpt[i].next_attempt_ms = 0;
	if ((err = queue_sched_put(q, txn, e->next_attempt_ms, e->id)) != 0)
		return (err);
	a->wake_delivery = true;
	return (queue_env_store(q, txn, q->db_env, e, 0));
}

/* admin_one - 0 changed, 1 unchanged, or a negative error for this id */

static int admin_one(struct queue *q, MDB_txn *txn, uint64_t id, struct queue_env *e,
		     struct admin *a)
{
	int	err = queue_env_load(q, txn, q->db_env, id, e);

	if (err == SG_ECORRUPT)
		return (queue_quarantine_txn(q, txn, id) == 0 ? SG_ECORRUPT : SG_EIO);
	if (err)
		return (err);
	switch (a->op) {
	case OP_HOLD:
		return (op_hold(q, txn, e, a));
	case OP_RELEASE:
		return (op_release(q, txn, e, a));
	case OP_RETRY:
		return (op_retry(q, txn, e, a));
	case OP_DELETE:
	default:
		if ((err = queue_retire(q, txn, e, a->reason ? a->reason : "deleted")) != 0)
			return (err);
		return (queue_counter_add(q, txn, QUEUE_C_DELETED, 1));
	}
}

/* fatal - an error that spoils the whole transaction, not just one id */

static bool fatal(int err)
{
	return (err == SG_EFULL || err == SG_EIO || err == SG_ENOMEM || err == SG_ELIMIT);
}

static int admin_batch(struct queue *q, const uint64_t *ids, size_t n, struct admin *a,
		       int *res, size_t *changed)
{
	struct queue_env e;
	MDB_txn *txn;
	size_t	ch = 0;
	int	err = 0, r;

	if ((err = queue_txn_begin(q, false, &txn)) != 0)
		return (err);
	queue_history_mark(q, txn);
	queue_env_init(&e);
	for (size_t i = 0; i < n; i++) {
		r = admin_one(q, txn, ids[i], &e, a);
		if (fatal(r)) {
			err = r;
			break;
		}
		ch += r == 0;
		if (res)
			res[i] = r > 0 ? 0 : r;
	}
	queue_env_free(&e);
	if (err) {
		queue_txn_abort(txn);
		return (err);
	}
	if ((err = queue_txn_commit(txn)) == 0)
		*changed += ch;
	return (err);
}

static int admin(struct queue *q, const uint64_t *ids, size_t n, struct admin *a,
		 int *res, size_t *changed)
{
	size_t	ch = 0;
	int	err = 0;

	for (size_t off = 0; off < n && err == 0; off += ADMIN_PER_TXN) {
		size_t	k = n - off < ADMIN_PER_TXN ? n - off : ADMIN_PER_TXN;

		err = admin_batch(q, ids + off, k, a, res ? res + off : NULL, &ch);
	}
	if (changed)
		*changed = ch;
	if (a->op == OP_DELETE && ch > 0)
		queue_nudge(q);		/* make the freed pages usable at once */
	if (a->wake_worker)
		queue_wake(q, QUEUE_ROLE_WORKER);
	if (a->wake_delivery)
		queue_wake(q, QUEUE_ROLE_DELIVERY);
	return (err);
}

int	queue_hold(struct queue *q, const uint64_t *ids, size_t n, const char *reason,
		   int *res, size_t *changed)
{
	struct admin a = {.op = OP_HOLD,.reason = reason};

	return (admin(q, ids, n, &a, res, changed));
}

int	queue_release(struct queue *q, const uint64_t *ids, size_t n, int *res, size_t *changed)
{
	struct admin a = {.op = OP_RELEASE};

	return (admin(q, ids, n, &a, res, changed));
}

int	queue_delete(struct queue *q, const uint64_t *ids, size_t n, const char *reason,
		     int *res, size_t *changed)
{
	struct admin a = {.op = OP_DELETE,.reason = reason};

	return (admin(q, ids, n, &a, res, changed));
}

int	queue_retry(struct queue *q, const uint64_t *ids, size_t n, int *res, size_t *changed)
{
	struct admin a = {.op = OP_RETRY};

	return (admin(q, ids, n, &a, res, changed));
}
