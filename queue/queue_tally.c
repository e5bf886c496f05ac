/*
 * NAME
 *	queue_tally 3
 * SUMMARY
 *	live messages, bytes and recipients per state, kept as the queue changes
 * SYNOPSIS
 *	#include "queue_int.h"
 *
 *	int	queue_tally_move(q, txn, from, to)
 *	int	queue_tally_forget(q, txn)
 *	int	queue_tally_repair(q)
 *	int	queue_tally_read(q, txn, stats, have)
 * DESCRIPTION
 *	The statistics every metrics scrape and `sealctl status` show (how
 *	many messages in each state, their bytes, their recipients) used to
 *	be counted by reading every envelope: a million queued, a million
 *	records read per scrape. Instead one meta record, "tally", holds them
 *	(2 x QUEUE_NSTATES + 1 big-endian u64: counts per state, bytes per
 *	state, recipients) and is moved inside the very write transaction
 *	that stores or deletes an envelope, by the only two places that do
 *	(queue_env_store() and the deletes of queue_store.c): no caller can
 *	forget it, and an aborted transaction, nested or not, or a process
 *	killed before its commit, takes its move with it.
 *
 *	queue_tally_move() takes one envelope's summary out of the tally
 *	(from, NULL: it is new) and puts one in (to, NULL: it is gone). A
 *	queue without a tally (made by an older version) is left without
 *	one: a partial tally would be wrong for good. rebuild()
 *	counts the whole envelope table into the tally in txn (records that
 *	cannot be read are not counted: they are quarantined when met).
 *	When a record that is replaced or deleted cannot be read, what it
 *	had added is unknown: queue_tally_forget() drops the tally in that
 *	transaction instead of walking the table there (a message's commit
 *	would hold the writer lock for a second per million queued), and
 *	statistics count by a walk until it is built again.
 *	queue_tally_repair() builds a missing tally (one walk, in one write
 *	transaction: about a second for a million messages): a writer's
 *	queue_open() calls it, and the worker's housekeeping.
 *
 *	queue_tally_read() fills the count, bytes and recipients of stats
 *	from the tally in txn; *have is false when there is none (a queue
 *	no writer of this version has opened yet): the caller counts.
 * DIAGNOSTICS
 *	0, or a negative sg_err from LMDB.
 */

#include <string.h>

#include "queue_int.h"

#define TALLY_N		(2 * QUEUE_NSTATES + 1)
#define TALLY_LEN	(8 * TALLY_N)

static const MDB_val tally_key = {5, "tally"};

struct tally {
	uint64_t v[TALLY_N];		/* count[state], bytes[state], recipients */
};

/* tally_get - the stored tally: 1 found, 0 none (or of another layout) */

static int tally_get(struct queue *q, MDB_txn *txn, struct tally *t)
{
	MDB_val	k = tally_key, d;
	int	rc = mdb_get(txn, q->db_meta, &k, &d);

	if (rc == MDB_NOTFOUND)
		return (0);
	if (rc != 0)
		return (queue_err(rc));
	if (d.mv_size != TALLY_LEN)
		return (0);
	for (size_t i = 0; i < TALLY_N; i++)
		t->v[i] = queue_get_be64((const uint8_t *) d.mv_data + 8 * i);
	return (1);
}

static int tally_put(struct queue *q, MDB_txn *txn, const struct tally *t)
{
	uint8_t	b[TALLY_LEN];
	MDB_val	k = tally_key, d = {sizeof(b), b};

	for (size_t i = 0; i < TALLY_N; i++)
		queue_put_be64(b + 8 * i, t->v[i]);
	return (queue_err(mdb_put(txn, q->db_meta, &k, &d, 0)));
}

/* sub - never below 0: a tally that drifted must not wrap to 2^64 */

static void sub(uint64_t *v, uint64_t d)
{
	*v = *v > d ? *v - d : 0;
}

static void tally_add(struct tally *t, const struct queue_env_sum *s)
{
	t->v[s->state] += 1;
	t->v[QUEUE_NSTATES + s->state] += s->size;
	t->v[2 * QUEUE_NSTATES] += s->nrcpt;
}

static bool same(const struct queue_env_sum *a, const struct queue_env_sum *b)
{
	return (a->state == b->state && a->size == b->size && a->nrcpt == b->nrcpt);
}

int	queue_tally_move(struct queue *q, MDB_txn *txn, const struct queue_env_sum *from,
			 const struct queue_env_sum *to)
{
	struct tally t;
	int	rc;

	if ((from && (unsigned) from->state >= QUEUE_NSTATES) ||
	    (to && (unsigned) to->state >= QUEUE_NSTATES))
		return (SG_EINVAL);
	if ((from == NULL && to == NULL) || (from && to && same(from, to)))
		return (0);		/* nothing the tally counts changed */
	if ((rc = tally_get(q, txn, &t)) <= 0)
		return (rc);
	if (from) {
		sub(&t.v[from->state], 1);
		sub(&t.v[QUEUE_NSTATES + from->state], from->size);
		sub(&t.v[2 * QUEUE_NSTATES], from->nrcpt);
	}
	if (to)
		tally_add(&t, to);
	return (tally_put(q, txn, &t));
}

/* rebuild - the whole envelope table counted into the tally in txn */

static int rebuild(struct queue *q, MDB_txn *txn)
{
	struct queue_env_sum s;
	struct tally t;
	MDB_cursor *c;
	MDB_val	k, d;
	int	rc;

	memset(&t, 0, sizeof(t));
	if ((rc = mdb_cursor_open(txn, q->db_env, &c)) != 0)
		return (queue_err(rc));
	for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &d, MDB_NEXT))
		if (k.mv_size == 8 && queue_env_peek(d.mv_data, d.mv_size, &s) == 0 &&
		    s.id == queue_get_be64(k.mv_data))
			tally_add(&t, &s);
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		return (queue_err(rc));
	return (tally_put(q, txn, &t));
}

int	queue_tally_forget(struct queue *q, MDB_txn *txn)
{
	int	rc = mdb_del(txn, q->db_meta, (MDB_val *) & tally_key, NULL);

	return (rc == MDB_NOTFOUND ? 0 : queue_err(rc));
}

int	queue_tally_repair(struct queue *q)
{
	struct tally t;
	MDB_txn *txn;
	int	err;

	if ((err = queue_txn_begin(q, true, &txn)) != 0)
		return (err);
	err = tally_get(q, txn, &t);
	queue_txn_abort(txn);
	if (err != 0)
		return (err < 0 ? err : 0);
	/* again inside the write transaction: another writer may have built it */
	if ((err = queue_txn_begin(q, false, &txn)) != 0)
		return (err);
	if ((err = tally_get(q, txn, &t)) == 0)
		err = rebuild(q, txn);
	if (err < 0) {
		queue_txn_abort(txn);
		return (err);
	}
	return (queue_txn_commit(txn));
}

int	queue_tally_read(struct queue *q, MDB_txn *txn, struct queue_stats *s, bool *have)
{
	struct tally t;
	int	rc;

	*have = false;
	if ((rc = tally_get(q, txn, &t)) <= 0)
		return (rc);
	for (size_t i = 0; i < QUEUE_NSTATES; i++) {
		s->count[i] = t.v[i];
		s->bytes[i] = t.v[QUEUE_NSTATES + i];
	}
	s->recipients = t.v[2 * QUEUE_NSTATES];
	*have = true;
	return (0);
}
