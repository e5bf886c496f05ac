/*
 * NAME
 *	queue_count 3
 * SUMMARY
 *	statistics: tallies, histograms, the history ring and the epoch
 * SYNOPSIS
 *	#include "queue/queue.h"
 *
 *	const char *queue_histogram_name(h)
 *	int64_t	queue_histogram_bound_us(h, i)
 *	size_t	queue_histogram_bucket(h, us)
 *	int	queue_stats_epoch(q, start_ms)
 *	int	queue_counters_read(q, now_ms, out)
 *
 *	#include "queue_int.h"
 *
 *	int	queue_tally_add(q, txn, tally)
 *	int	queue_hist_observe(q, txn, h, us)
 *	int	queue_attempt_count(q, txn, state, tls)
 *	void	queue_history_mark(q, txn)
 * DESCRIPTION
 *	Counters live in the meta table as "c:NAME" (8 bytes, big-endian),
 *	histogram buckets as "h:NAME:I" and their sums as "h:NAME:sum_us".
 *	All of them are moved inside the transactions that do the work they
 *	count, so a counter never says more or less than what committed,
 *	and nothing on a message's path waits for statistics: no commit,
 *	no fsync of their own.
 *
 *	queue_tally_add() adds what a role counted with one piece of work
 *	(the worker's crypto actions and crypto time). queue_hist_observe()
 *	counts one observation in its bucket and adds it to the sum.
 *	queue_attempt_count() counts one recipient's delivery attempt by
 *	result and by whether its session used TLS (tls is the attempt's
 *	"TLSv1.3/CIPHER" or "none"; no connection at all is "none").
 *
 *	queue_history_mark() keeps the ring: meta "r:at" is the last
 *	10-second slot snapshotted; "r:NNN" (slot modulo
 *	QUEUE_HISTORY_SLOTS) holds that slot's number and every counter as
 *	it was before the first transaction of the slot that moved one.
 *	Called first thing in a write transaction that moves counters, it
 *	writes at most one snapshot per slot, in a nested transaction
 *	whose failure (a full map) is ignored: the work never pays for its
 *	statistics. A process remembers the last slot it saw marked, so the
 *	check costs one meta read per slot and process. A transaction that
 *	marks and then aborts leaves that slot without a snapshot; the next
 *	slot's then stands for it, which makes a window a little short.
 *
 *	The value of a counter at the start of slot s is the snapshot of the
 *	first slot at or after s that has one (nothing moved in between),
 *	or the current value when none has. queue_counters_read() finds the
 *	slot about a minute and an hour back that way.
 *
 *	queue_stats_epoch() stores "e:snap": the master's start time and
 *	every counter at the time a role of that run first opened the queue.
 * DIAGNOSTICS
 *	0, or a negative sg_err from LMDB (SG_ECORRUPT: a value of the
 *	wrong size). queue_history_mark() never fails.
 */

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "queue_int.h"

/* Upper bounds of the buckets, microseconds (the last bucket has none). */
static const int64_t bounds[QUEUE_NHISTOGRAMS][QUEUE_HIST_BUCKETS - 1] = {
	/* queue time: 100 ms .. 1 day */
	{100000, 500000, 1000000, 5000000, 30000000, 60000000, 300000000, 1800000000LL,
	 3600000000LL, 21600000000LL, 86400000000LL},
	/* crypto time: 0.5 ms .. 5 s */
	{500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000, 5000000},
};

const char *queue_histogram_name(enum queue_histogram h)
{
	static const char *const names[QUEUE_NHISTOGRAMS] = {"queue_time", "crypto_time"};

	return ((unsigned) h < QUEUE_NHISTOGRAMS ? names[h] : "unknown");
}

int64_t	queue_histogram_bound_us(enum queue_histogram h, size_t i)
{
	if ((unsigned) h >= QUEUE_NHISTOGRAMS || i >= QUEUE_HIST_BUCKETS - 1)
		return (INT64_MAX);
	return (bounds[h][i]);
}

size_t	queue_histogram_bucket(enum queue_histogram h, int64_t us)
{
	size_t	i = 0;

	if ((unsigned) h >= QUEUE_NHISTOGRAMS)
		return (QUEUE_HIST_BUCKETS - 1);
	while (i < QUEUE_HIST_BUCKETS - 1 && us > bounds[h][i])
		i++;
	return (i);
}

/* ------------------------------------------------------------ moving */

static int meta_add(struct queue *q, MDB_txn *txn, const char *name, uint64_t delta)
{
	uint64_t v;
	int	err;

	if (delta == 0)
		return (0);
	if ((err = queue_meta_get(q, txn, name, &v)) != 0)
		return (err);
	return (queue_meta_put(q, txn, name, v + delta));
}

int	queue_hist_observe(struct queue *q, MDB_txn *txn, enum queue_histogram h, int64_t us)
{
	char	name[48];
	int	err;

	if ((unsigned) h >= QUEUE_NHISTOGRAMS)
		return (SG_EINVAL);
	if (us < 0)
		us = 0;
	snprintf(name, sizeof(name), "h:%s:%zu", queue_histogram_name(h),
		 queue_histogram_bucket(h, us));
	if ((err = meta_add(q, txn, name, 1)) != 0)
		return (err);
	snprintf(name, sizeof(name), "h:%s:sum_us", queue_histogram_name(h));
	return (meta_add(q, txn, name, (uint64_t) us));
}

int	queue_tally_add(struct queue *q, MDB_txn *txn, const struct queue_tally *t)
{
	int	err = 0;

	if (t == NULL)
		return (0);
	for (unsigned c = 0; c < QUEUE_NCOUNTERS && err == 0; c++)
		err = queue_counter_add(q, txn, (enum queue_counter) c, t->count[c]);
	if (err == 0 && t->crypto_timed)
		err = queue_hist_observe(q, txn, QUEUE_H_CRYPTO_TIME, t->crypto_us);
	return (err);
}

int	queue_attempt_count(struct queue *q, MDB_txn *txn, enum queue_rcpt_state st,
			    const char *tls)
{
	bool	on = tls != NULL && *tls != 0 && strcmp(tls, "none") != 0;
	enum queue_counter c;

	switch (st) {
	case QUEUE_RCPT_DELIVERED:
		c = on ? QUEUE_C_ATT_SENT_TLS : QUEUE_C_ATT_SENT_PLAIN;
		break;
	case QUEUE_RCPT_DEFERRED:
		c = on ? QUEUE_C_ATT_DEFERRED_TLS : QUEUE_C_ATT_DEFERRED_PLAIN;
		break;
	case QUEUE_RCPT_BOUNCED:
		c = on ? QUEUE_C_ATT_BOUNCED_TLS : QUEUE_C_ATT_BOUNCED_PLAIN;
		break;
	default:
		return (0);
	}
	return (queue_counter_add(q, txn, c, 1));
}

/* ----------------------------------------------------------- history */

#define SNAP_LEN (8 + 8 * QUEUE_NCOUNTERS)

static void slot_key(int64_t slot, char *key, size_t len)
{
	snprintf(key, len, "r:%03d", (int) (slot % QUEUE_HISTORY_SLOTS));
}

/* snap_encode - when, then every counter as it is in txn */

static int snap_encode(struct queue *q, MDB_txn *txn, int64_t when, uint8_t *out)
{
	uint64_t v[QUEUE_NCOUNTERS];
	int	err;

	if ((err = queue_meta_counters(q, txn, v)) != 0)
		return (err);
	queue_put_be64(out, (uint64_t) when);
	for (size_t i = 0; i < QUEUE_NCOUNTERS; i++)
		queue_put_be64(out + 8 + 8 * i, v[i]);
	return (0);
}

/*
 * snap_decode - a stored snapshot: its time and counters. One from a
 * version with fewer counters gives the missing ones as "unknown"
 * (*n counters known); trailing counters of a newer one are ignored.
 */
static int snap_decode(const MDB_val *d, int64_t *when, uint64_t *v, size_t *n)
{
	if (d->mv_size < 8 || (d->mv_size - 8) % 8 != 0)
		return (SG_ECORRUPT);
	*when = (int64_t) queue_get_be64(d->mv_data);
	*n = (d->mv_size - 8) / 8;
	if (*n > QUEUE_NCOUNTERS)
		*n = QUEUE_NCOUNTERS;
	for (size_t i = 0; i < *n; i++)
		v[i] = queue_get_be64((const uint8_t *) d->mv_data + 8 + 8 * i);
	return (0);
}

static int mark_in(struct queue *q, MDB_txn *txn, int64_t slot)
{
	uint8_t	val[SNAP_LEN];
	char	key[16];
	uint64_t at;
	MDB_val	k, d = {sizeof(val), val};
	int	err;

	if ((err = queue_meta_get(q, txn, "r:at", &at)) != 0)
		return (err);
	if ((int64_t) at >= slot)
		return (1);		/* done already (or a clock that went back) */
	if ((err = snap_encode(q, txn, slot, val)) != 0)
		return (err);
	slot_key(slot, key, sizeof(key));
	k.mv_size = strlen(key);
	k.mv_data = key;
	if ((err = queue_err(mdb_put(txn, q->db_meta, &k, &d, 0))) != 0)
		return (err);
	return (queue_meta_put(q, txn, "r:at", (uint64_t) slot));
}

void	queue_history_mark(struct queue *q, MDB_txn *parent)
{
	int64_t	slot = sg_now_ms() / QUEUE_HISTORY_SLOT_MS;
	MDB_txn *sub;
	int	err;

	if (atomic_load(&q->history_slot) >= slot)
		return;
	if (mdb_txn_begin(q->env, parent, 0, &sub) != 0)
		return;
	if ((err = mark_in(q, sub, slot)) < 0 || (err == 0 && mdb_txn_commit(sub) != 0)) {
		if (err < 0)
			mdb_txn_abort(sub);
		return;
	}
	if (err == 1)
		mdb_txn_abort(sub);
	atomic_store(&q->history_slot, slot);
}

/* ------------------------------------------------------------- epoch */

static int epoch_get(struct queue *q, MDB_txn *txn, int64_t *start, uint64_t *v)
{
	MDB_val	k = {6, "e:snap"}, d;
	size_t	n;
	int	rc = mdb_get(txn, q->db_meta, &k, &d), err;

	*start = 0;
	if (rc == MDB_NOTFOUND)
		return (0);
	if (rc != 0)
		return (queue_err(rc));
	if ((err = snap_decode(&d, start, v, &n)) != 0)
		return (err);
	for (size_t i = n; i < QUEUE_NCOUNTERS; i++)
		v[i] = 0;		/* counters newer than the epoch: it started at 0 */
	return (0);
}

int	queue_stats_epoch(struct queue *q, int64_t start_ms)
{
	uint64_t v[QUEUE_NCOUNTERS];
	uint8_t	val[SNAP_LEN];
	MDB_val	k = {6, "e:snap"}, d = {sizeof(val), val};
	MDB_txn *txn;
	int64_t	have;
	int	err;

	if (start_ms <= 0)
		return (SG_EINVAL);
	if ((err = queue_txn_begin(q, true, &txn)) != 0)
		return (err);
	err = epoch_get(q, txn, &have, v);
	queue_txn_abort(txn);
	if (err != 0 || have == start_ms)
		return (err);
	if ((err = queue_txn_begin(q, false, &txn)) != 0)
		return (err);
	if ((err = epoch_get(q, txn, &have, v)) == 0 && have != start_ms
	    && (err = snap_encode(q, txn, start_ms, val)) == 0)
		err = queue_err(mdb_put(txn, q->db_meta, &k, &d, 0));
	if (err != 0) {
		queue_txn_abort(txn);
		return (err);
	}
	return (queue_txn_commit(txn));
}

/* -------------------------------------------------------------- read */

static int hist_read(struct queue *q, MDB_txn *txn, enum queue_histogram h,
		     struct queue_hist *out)
{
	char	name[48];
	int	err = 0;

	for (size_t i = 0; i < QUEUE_HIST_BUCKETS && err == 0; i++) {
		snprintf(name, sizeof(name), "h:%s:%zu", queue_histogram_name(h), i);
		err = queue_meta_get(q, txn, name, &out->bucket[i]);
	}
	snprintf(name, sizeof(name), "h:%s:sum_us", queue_histogram_name(h));
	return (err ? err : queue_meta_get(q, txn, name, &out->sum_us));
}

/*
 * value_at - the counters at the start of slot from (*at gets that
 * time): the first snapshot of a slot in [from, to], else now. Since
 * every transaction that moves a counter marks its slot first, nothing
 * moved between from and that snapshot, however young the queue; only
 * the counters a snapshot lacks (it is from an older version) are taken
 * as now.
 */
static int value_at(struct queue *q, MDB_txn *txn, int64_t from, int64_t to,
		    const uint64_t *now, uint64_t *out, int64_t *at)
{
	bool	found = false;

	memcpy(out, now, sizeof(uint64_t) * QUEUE_NCOUNTERS);
	*at = from * QUEUE_HISTORY_SLOT_MS;
	for (int64_t s = from; s <= to && !found; s++) {
		char	key[16];
		MDB_val	k, d;
		int64_t	when;
		size_t	n;
		uint64_t v[QUEUE_NCOUNTERS];
		int	rc;

		slot_key(s, key, sizeof(key));
		k.mv_size = strlen(key);
		k.mv_data = key;
		if ((rc = mdb_get(txn, q->db_meta, &k, &d)) == MDB_NOTFOUND)
			continue;
		if (rc != 0)
			return (queue_err(rc));
		if (snap_decode(&d, &when, v, &n) != 0 || when != s)
			continue;	/* an older lap of the ring */
		found = true;
		memcpy(out, v, sizeof(uint64_t) * n);
	}
	return (0);
}

int	queue_counters_read(struct queue *q, int64_t now_ms, struct queue_counters *out)
{
	MDB_txn *txn;
	int64_t	slot;
	int	err;

	memset(out, 0, sizeof(*out));
	out->now_ms = now_ms > 0 ? now_ms : sg_now_ms();
	slot = out->now_ms / QUEUE_HISTORY_SLOT_MS;
	if ((err = queue_txn_begin(q, true, &txn)) != 0)
		return (err);
	err = queue_meta_counters(q, txn, out->value);
	for (unsigned h = 0; h < QUEUE_NHISTOGRAMS && err == 0; h++)
		err = hist_read(q, txn, (enum queue_histogram) h, &out->hist[h]);
	if (err == 0)
		err = epoch_get(q, txn, &out->epoch_ms, out->at_epoch);
	if (err == 0)
		err = value_at(q, txn, (out->now_ms - 60000) / QUEUE_HISTORY_SLOT_MS, slot,
			       out->value, out->at_minute, &out->minute_ms);
	if (err == 0)
		err = value_at(q, txn, (out->now_ms - 3600000) / QUEUE_HISTORY_SLOT_MS, slot,
			       out->value, out->at_hour, &out->hour_ms);
	queue_txn_abort(txn);
	return (err);
}
