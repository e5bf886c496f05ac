/*
 * NAME
 *	queue_store 3
 * SUMMARY
 *	envelopes, inbox and schedule entries inside a write transaction
 * SYNOPSIS
 *	#include "queue_int.h"
 *
 *	int	queue_env_load(q, txn, dbi, id, env)
 *	int	queue_env_store(q, txn, dbi, env, put_flags)
 *	int	queue_sched_put(q, txn, due, id)
 *	int	queue_sched_del(q, txn, due, id)
 *	int	queue_inbox_put(q, txn, id, expiry, owner)
 *	int	queue_inbox_del(q, txn, id)
 *	int	queue_taken_put(q, txn, id, due)
 *	int	queue_taken_del(q, txn, id)
 *	int	queue_unlink(q, txn, env)
 *	int	queue_retire(q, txn, env, reason)
 *	int	queue_quarantine_txn(q, txn, id)
 *	int	queue_quarantine_why(q, txn, id, why)
 *	int	queue_quarantine(q, id)
 *	int	queue_corrupt_count(q, np)
 *	int	queue_live_count(q, np)
 * DESCRIPTION
 *	queue_env_load() copies the stored record into env->raw before
 *	decoding, because LMDB's pointers die at the next write in the
 *	transaction; the strings then point into env->raw. A record that
 *	fails its checks, or whose id differs from its key, is SG_ECORRUPT.
 *
 *	queue_env_store() into the live table, queue_retire() and
 *	queue_quarantine_why() are the only writes and deletes of live
 *	envelopes: each moves the per-state tally (queue_tally.c) in the
 *	same transaction, from what the stored record says (read back,
 *	never the caller's env, whose state callers change on the way) to
 *	what is stored now.
 *
 *	queue_taken_put() notes that queue_due() leased id until due;
 *	queue_taken_del() forgets it (no entry is not an error).
 *
 *	queue_unlink() removes a live envelope's inbox or schedule entry
 *	(and a taken note) according to its state. queue_retire() makes a live message a
 *	tracking record: unlinked, bodies dropped, envelope moved to track
 *	with state DONE and indexed (queue_track.c) in the same transaction. queue_quarantine_txn() moves an undecodable
 *	envelope's bytes to the corrupt database and logs it; dangling
 *	schedule keys are dropped later by queue_due(). queue_quarantine_why()
 *	does the same for a record that failed another check (why, logged).
 */

#include <stdlib.h>
#include <string.h>

#include "queue_int.h"

int	queue_env_load(struct queue *q, MDB_txn *txn, MDB_dbi dbi, uint64_t id,
		       struct queue_env *env)
{
	uint8_t	kb[8];
	MDB_val	k = {8, kb}, d;
	int	rc, err;

	(void) q;
	queue_put_be64(kb, id);
	if ((rc = mdb_get(txn, dbi, &k, &d)) != 0)
		return (queue_err(rc));
	if (d.mv_size > QUEUE_MAX_RECORD)
		return (SG_ECORRUPT);
	if (env->raw_len < d.mv_size || env->raw == NULL) {
		env->raw = sg_xrealloc(env->raw, d.mv_size ? d.mv_size : 1);
		env->raw_len = d.mv_size;
	}
	memcpy(env->raw, d.mv_data, d.mv_size);
	if ((err = queue_env_decode(env->raw, d.mv_size, env)) != 0)
		return (err);
	return (env->id == id ? 0 : SG_ECORRUPT);
}

/*
 * stored_sum - what the tally counted of id's stored envelope: *had is 1
 * (read into *sum), 0 (none stored) or -1 (stored but unreadable: what it
 * added is unknown, a rebuild must recount)
 */
static int stored_sum(struct queue *q, MDB_txn *txn, uint64_t id, struct queue_env_sum *sum,
		      int *had)
{
	uint8_t	kb[8];
	MDB_val	k = {8, kb}, d;
	int	rc;

	*had = 0;
	queue_put_be64(kb, id);
	if ((rc = mdb_get(txn, q->db_env, &k, &d)) == MDB_NOTFOUND)
		return (0);
	if (rc != 0)
		return (queue_err(rc));
	*had = queue_env_peek(d.mv_data, d.mv_size, sum) == 0 && sum->id == id ? 1 : -1;
	return (0);
}

/* forget - the tally after an envelope went whose stored_sum() said had */

static int forget(struct queue *q, MDB_txn *txn, int had, const struct queue_env_sum *old)
{
	if (had == 0)
		return (0);
	return (had > 0 ? queue_tally_move(q, txn, old, NULL) : queue_tally_forget(q, txn));
}

int	queue_env_store(struct queue *q, MDB_txn *txn, MDB_dbi dbi, const struct queue_env *env,
			unsigned put_flags)
{
	struct sg_buf b = SG_BUF_INIT;
	struct queue_env_sum old, now;
	uint8_t	kb[8];
	MDB_val	k = {8, kb}, d;
	int	err, had = 0;

	/* the live table's tally moves here, from what was stored to what is */
	if (dbi == q->db_env && !(put_flags & (MDB_APPEND | MDB_NOOVERWRITE)) &&
	    (err = stored_sum(q, txn, env->id, &old, &had)) != 0)
		return (err);
	if ((err = queue_env_encode(env, &b)) != 0) {
		sg_buf_free(&b);		/* a partial encoding */
		return (err);
	}
	queue_put_be64(kb, env->id);
	d.mv_size = b.len;
	d.mv_data = b.data;
	err = queue_err(mdb_put(txn, dbi, &k, &d, put_flags));
	sg_buf_free(&b);
	if (err != 0 || dbi != q->db_env)
		return (err);
	if (had < 0)
		return (queue_tally_forget(q, txn));
	now = (struct queue_env_sum) {.id = env->id,.state = env->state,.size = env->size,
		.nrcpt = env->nrcpt,.arrival_ms = env->arrival_ms };
	return (queue_tally_move(q, txn, had ? &old : NULL, &now));
}

static void sched_key(uint8_t kb[16], int64_t due, uint64_t id)
{
	queue_put_be64(kb, (uint64_t) (due > 0 ? due : 0));
	queue_put_be64(kb + 8, id);
}

int	queue_sched_put(struct queue *q, MDB_txn *txn, int64_t due, uint64_t id)
{
	uint8_t	kb[16];
	MDB_val	k = {16, kb}, d = {0, NULL};

	sched_key(kb, due, id);
	return (queue_err(mdb_put(txn, q->db_sched, &k, &d, 0)));
}

int	queue_sched_del(struct queue *q, MDB_txn *txn, int64_t due, uint64_t id)
{
	uint8_t	kb[16];
	MDB_val	k = {16, kb};
	int	rc;

	sched_key(kb, due, id);
	rc = mdb_del(txn, q->db_sched, &k, NULL);
	return (rc == MDB_NOTFOUND ? 0 : queue_err(rc));
}

int	queue_inbox_put(struct queue *q, MDB_txn *txn, uint64_t id, int64_t expiry,
			const char *owner)
{
	uint8_t	kb[8], vb[8 + QUEUE_OWNER_MAX];
	size_t	n = owner ? strnlen(owner, QUEUE_OWNER_MAX) : 0;
	MDB_val	k = {8, kb}, d = {8 + n, vb};

	queue_put_be64(kb, id);
	queue_put_be64(vb, (uint64_t) (expiry > 0 ? expiry : 0));
	if (n)
		memcpy(vb + 8, owner, n);
	return (queue_err(mdb_put(txn, q->db_inbox, &k, &d, 0)));
}

/* del_id - remove id's entry from dbi, if there is one */

static int del_id(MDB_txn *txn, MDB_dbi dbi, uint64_t id)
{
	uint8_t	kb[8];
	MDB_val	k = {8, kb};
	int	rc;

	queue_put_be64(kb, id);
	rc = mdb_del(txn, dbi, &k, NULL);
	return (rc == MDB_NOTFOUND ? 0 : queue_err(rc));
}

int	queue_inbox_del(struct queue *q, MDB_txn *txn, uint64_t id)
{
	return (del_id(txn, q->db_inbox, id));
}

int	queue_taken_put(struct queue *q, MDB_txn *txn, uint64_t id, int64_t due)
{
	uint8_t	kb[8], vb[8];
	MDB_val	k = {8, kb}, d = {8, vb};

	queue_put_be64(kb, id);
	queue_put_be64(vb, (uint64_t) (due > 0 ? due : 0));
	return (queue_err(mdb_put(txn, q->db_taken, &k, &d, 0)));
}

int	queue_taken_del(struct queue *q, MDB_txn *txn, uint64_t id)
{
	return (del_id(txn, q->db_taken, id));
}

int	queue_unlink(struct queue *q, MDB_txn *txn, const struct queue_env *env)
{
	int	err;

	switch (env->state) {
	case QUEUE_INCOMING:
	case QUEUE_WORKING:
		return (queue_inbox_del(q, txn, env->id));
	case QUEUE_READY:
	case QUEUE_DEFERRED:
		if ((err = queue_taken_del(q, txn, env->id)) != 0)
			return (err);
		return (queue_sched_del(q, txn, env->next_attempt_ms, env->id));
	default:
		return (0);
	}
}

int	queue_retire(struct queue *q, MDB_txn *txn, struct queue_env *env, const char *reason)
{
	struct queue_env_sum old;
	uint8_t	kb[8];
	MDB_val	k = {8, kb};
	int	err, rc, had;

	if ((err = queue_unlink(q, txn, env)) != 0 || (err = queue_body_drop(q, txn, env->id, -1)) != 0)
		return (err);
	/* the stored record, not env: callers change env's state before this */
	if ((err = stored_sum(q, txn, env->id, &old, &had)) != 0)
		return (err);
	queue_put_be64(kb, env->id);
	if ((rc = mdb_del(txn, q->db_env, &k, NULL)) != 0 && rc != MDB_NOTFOUND)
		return (queue_err(rc));
	if ((err = forget(q, txn, had, &old)) != 0)
		return (err);
	env->state = QUEUE_DONE;
	if (reason)
		env->reason = reason;
	return (queue_track_store(q, txn, env));
}

int	queue_quarantine_txn(struct queue *q, MDB_txn *txn, uint64_t id)
{
	return (queue_quarantine_why(q, txn, id, "envelope record failed its checks"));
}

int	queue_quarantine_why(struct queue *q, MDB_txn *txn, uint64_t id, const char *why)
{
	struct queue_env_sum old;
	char	idbuf[QUEUE_ID_BUFSZ];
	uint8_t	kb[8];
	MDB_val	k = {8, kb}, d;
	int	rc, err, had;

	queue_put_be64(kb, id);
	if ((rc = mdb_get(txn, q->db_env, &k, &d)) != 0)
		return (queue_err(rc));
	/* read before the next write: it may move the record's pages */
	had = queue_env_peek(d.mv_data, d.mv_size, &old) == 0 && old.id == id ? 1 : -1;
	if ((rc = mdb_put(txn, q->db_corrupt, &k, &d, 0)) != 0)
		return (queue_err(rc));
	if ((rc = mdb_del(txn, q->db_env, &k, NULL)) != 0)
		return (queue_err(rc));
	if ((err = forget(q, txn, had, &old)) != 0 || (err = queue_inbox_del(q, txn, id)) != 0 ||
	    (err = queue_taken_del(q, txn, id)) != 0)
		return (err);
	sg_warn("id=%s event=quarantined reason=\"%s\"", queue_id_format(id, idbuf), why);
	return (queue_counter_add(q, txn, QUEUE_C_QUARANTINED, 1));
}

int	queue_quarantine(struct queue *q, uint64_t id)
{
	MDB_txn *txn;
	int	err;

	if ((err = queue_txn_begin(q, false, &txn)) != 0)
		return (err);
	if ((err = queue_quarantine_txn(q, txn, id)) != 0) {
		queue_txn_abort(txn);
		return (err);
	}
	return (queue_txn_commit(txn));
}

/* entries - how many records a database holds: LMDB keeps the count */

static int entries(struct queue *q, MDB_dbi dbi, size_t *n)
{
	MDB_txn *txn;
	MDB_stat st;
	int	err;

	if ((err = queue_txn_begin(q, true, &txn)) != 0)
		return (err);
	err = queue_err(mdb_stat(txn, dbi, &st));
	queue_txn_abort(txn);
	*n = err ? 0 : st.ms_entries;
	return (err);
}

int	queue_corrupt_count(struct queue *q, size_t *n)
{
	return (entries(q, q->db_corrupt, n));
}

int	queue_live_count(struct queue *q, size_t *n)
{
	return (entries(q, q->db_env, n));
}
