/*
 * NAME
 *	queue_read 3
 * SUMMARY
 *	reading envelopes: one by id, all in pages, statistics
 * SYNOPSIS
 *	#include "queue/queue.h"
 *
 *	int	queue_get(q, id, flags, env)
 *	int	queue_scan(q, flags, cursor, page, fn, arg)
 *	int	queue_stats(q, stats)
 *	int	queue_stats_recount(q, stats)
 * DESCRIPTION
 *	All of them only read, in short read transactions (snapshots that
 *	never block a writer). queue_stats() reads the per-state tally
 *	(queue_tally.c) and the first key of the live table (the oldest:
 *	ids grow with time) in one transaction, whatever the queue holds;
 *	without a tally (no writer of this version has opened the queue
 *	yet) it counts like queue_stats_recount(), which walks every live
 *	envelope: for checking the tally. queue_scan() decodes each record
 *	in place (no copy, no allocation but the recipient array it reuses) and
 *	ends its transaction after each page so that a long listing never
 *	pins old pages for long; a listing asks for a brief decode of what
 *	it prints (QUEUE_SCAN_BRIEF). Undecodable records are logged and
 *	skipped, then quarantined after the page when the queue is writable.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "queue_int.h"

int	queue_get(struct queue *q, uint64_t id, int flags, struct queue_env *env)
{
	MDB_txn *txn;
	int	err;

	if ((err = queue_txn_begin(q, true, &txn)) != 0)
		return (err);
	err = queue_env_load(q, txn, (flags & QUEUE_GET_TRACK) ? q->db_track : q->db_env, id, env);
	queue_txn_abort(txn);
	return (err);
}

#define MAX_BAD 64

struct page {
	uint64_t bad[MAX_BAD];
	size_t	nbad;
	size_t	count;
	int	stop;
};

static void note_bad(struct page *p, uint64_t id)
{
	char	buf[QUEUE_ID_BUFSZ];

	sg_warn("id=%s event=corrupt_record reason=\"envelope failed its checks; skipped\"",
		queue_id_format(id, buf));
	if (p->nbad < MAX_BAD)
		p->bad[p->nbad++] = id;
}

static int scan_page(struct queue *q, MDB_dbi dbi, bool brief, uint64_t *cursor, size_t page,
		     int (*fn) (const struct queue_env *, void *), void *arg,
		     struct queue_env *env, struct page *p)
{
	int	(*decode) (const void *, size_t, struct queue_env *) =
		brief ? queue_env_decode_brief : queue_env_decode;
	uint8_t	kb[8];
	MDB_val	k = {8, kb}, d;
	MDB_txn *txn;
	MDB_cursor *c;
	int	rc, err;

	if (*cursor == UINT64_MAX)
		return (0);
	if ((err = queue_txn_begin(q, true, &txn)) != 0)
		return (err);
	if ((rc = mdb_cursor_open(txn, dbi, &c)) != 0) {
		queue_txn_abort(txn);
		return (queue_err(rc));
	}
	queue_put_be64(kb, *cursor + 1);
	rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
	for (; rc == 0 && p->count < page; rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
		uint64_t id = k.mv_size == 8 ? queue_get_be64(k.mv_data) : 0;

		p->count++;
		*cursor = id;
		if (id == 0 || decode(d.mv_data, d.mv_size, env) != 0 || env->id != id) {
			note_bad(p, id);
			continue;
		}
		if ((p->stop = fn(env, arg)) != 0)
			break;
	}
	mdb_cursor_close(c);
	queue_txn_abort(txn);
	return (rc == 0 || rc == MDB_NOTFOUND ? 0 : queue_err(rc));
}

int	queue_scan(struct queue *q, int flags, uint64_t *cursor, size_t page,
		   int (*fn) (const struct queue_env *, void *), void *arg)
{
	MDB_dbi	dbi = (flags & QUEUE_SCAN_TRACK) ? q->db_track : q->db_env;
	struct queue_env env;
	struct page p;
	int	err;

	if (page == 0)
		page = 1000;
	queue_env_init(&env);
	do {
		memset(&p, 0, sizeof(p));
		err = scan_page(q, dbi, (flags & QUEUE_SCAN_BRIEF) != 0, cursor, page, fn, arg, &env,
				&p);
		if (!(q->flags & QUEUE_RDONLY) && !(flags & QUEUE_SCAN_TRACK))
			for (size_t i = 0; i < p.nbad; i++)
				(void) queue_quarantine(q, p.bad[i]);
	} while (err == 0 && p.stop == 0 && p.count == page);
	queue_env_free(&env);
	return (err ? err : p.stop);
}

/* ------------------------------------------------------------- stats */

/* stats_one - the walk: ids come in order, so the first is the oldest */

static int stats_one(const struct queue_env *e, void *arg)
{
	struct queue_stats *s = arg;

	s->count[e->state]++;
	s->bytes[e->state] += e->size;
	s->recipients += e->nrcpt;
	if (s->oldest_id == 0) {
		s->oldest_id = e->id;
		s->oldest_ms = e->arrival_ms;
	}
	return (0);
}

/* oldest - the first key of the live table: one cursor step */

static int oldest(struct queue *q, MDB_txn *txn, struct queue_stats *s)
{
	struct queue_env_sum sum;
	MDB_cursor *c;
	MDB_val	k, d;
	int	rc;

	if ((rc = mdb_cursor_open(txn, q->db_env, &c)) != 0)
		return (queue_err(rc));
	if ((rc = mdb_cursor_get(c, &k, &d, MDB_FIRST)) == 0 && k.mv_size == 8) {
		s->oldest_id = queue_get_be64(k.mv_data);
		/* unreadable (quarantined when met): its id still tells the time */
		s->oldest_ms = queue_env_peek(d.mv_data, d.mv_size, &sum) == 0 ?
			sum.arrival_ms : queue_id_time_ms(s->oldest_id);
	}
	mdb_cursor_close(c);
	return (rc == 0 || rc == MDB_NOTFOUND ? 0 : queue_err(rc));
}

static int open_incidents(struct queue *q, MDB_txn *txn, uint64_t *n)
{
	struct queue_incident inc;
	MDB_cursor *c;
	MDB_val	k, d;
	int	rc;

	*n = 0;
	if ((rc = mdb_cursor_open(txn, q->db_inc, &c)) != 0)
		return (queue_err(rc));
	memset(&inc, 0, sizeof(inc));
	for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &d, MDB_NEXT))
		if (queue_incident_decode(d.mv_data, d.mv_size, &inc) == 0 && inc.ack_ms == 0)
			(*n)++;
	mdb_cursor_close(c);
	return (rc == MDB_NOTFOUND ? 0 : queue_err(rc));
}

/* stats_meta - everything but the per-state figures, in txn */

static int stats_meta(struct queue *q, MDB_txn *txn, struct queue_stats *s)
{
	char	path[sizeof(q->dir) + 16];
	struct stat sb;
	MDB_stat st;
	MDB_envinfo info;
	int	err;

	if ((err = queue_err(mdb_stat(txn, q->db_track, &st))) == 0)
		s->count[QUEUE_DONE] = st.ms_entries;
	if (err == 0 && (err = queue_err(mdb_stat(txn, q->db_corrupt, &st))) == 0)
		s->corrupt = st.ms_entries;
	if (err == 0)
		err = open_incidents(q, txn, &s->incidents_open);
	if (err == 0)
		err = queue_meta_counters(q, txn, s->counters);
	/* inside the transaction: the environment stays as it is meanwhile */
	if (err == 0 && (err = queue_err(mdb_env_info(q->env, &info))) == 0 &&
	    (err = queue_err(mdb_env_stat(q->env, &st))) == 0) {
		s->map_bytes = info.me_mapsize;
		s->used_bytes = (uint64_t) (info.me_last_pgno + 1) * st.ms_psize;
		s->readers = info.me_numreaders;
	}
	snprintf(path, sizeof(path), "%s/data.mdb", q->dir);
	if (err == 0 && stat(path, &sb) == 0)
		s->db_bytes = (uint64_t) sb.st_size;
	return (err);
}

/* stats_txn - one read transaction: the tally and the rest (*have: a tally) */

static int stats_txn(struct queue *q, struct queue_stats *s, bool walked, bool *have)
{
	MDB_txn *txn;
	int	err;

	if ((err = queue_txn_begin(q, true, &txn)) != 0)
		return (err);
	*have = false;
	if (!walked)
		err = queue_tally_read(q, txn, s, have);
	if (err == 0 && *have)
		err = oldest(q, txn, s);
	if (err == 0 && (walked || *have))
		err = stats_meta(q, txn, s);
	queue_txn_abort(txn);
	return (err);
}

int	queue_stats_recount(struct queue *q, struct queue_stats *s)
{
	uint64_t cursor = 0;
	bool	have;
	int	err;

	memset(s, 0, sizeof(*s));
	s->walked = true;
	if ((err = queue_scan(q, 0, &cursor, 5000, stats_one, s)) != 0)
		return (err);
	return (stats_txn(q, s, true, &have));
}

int	queue_stats(struct queue *q, struct queue_stats *s)
{
	bool	have;
	int	err;

	memset(s, 0, sizeof(*s));
	if ((err = stats_txn(q, s, false, &have)) != 0 || have)
		return (err);
	return (queue_stats_recount(q, s));
}
