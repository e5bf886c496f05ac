/*
 * NAME
 *	queue_body 3
 * SUMMARY
 *	message bodies stored in chunks, written and read in pieces
 * SYNOPSIS
 *	#include "queue/queue.h"
 *
 *	int	queue_body_read(q, id, kind, off, buf, len, got)
 *	int	queue_body_foreach(q, id, kind, fn, arg, which)
 *
 *	#include "queue_int.h"
 *
 *	int	queue_body_write(q, txn, id, kind, src, append, lenp)
 *	int	queue_body_copy(q, txn, from, to, lenp)
 *	int	queue_body_drop(q, txn, id, kind)
 * DESCRIPTION
 *	A body is stored under keys id(8) kind(1) seq(4), every chunk but
 *	the last exactly as long as the first (so a reader finds the chunk
 *	holding an offset without walking), an empty body as one empty
 *	chunk. queue_body_drop() deletes one kind (or all, kind < 0).
 *	Chunks are written with MDB_RESERVE: the bytes go straight
 *	from the caller's buffer or file into the page, without a copy in
 *	between, so a 50 MB message never sits in memory whole.
 *
 *	A reader asking for the processed body gets the original when the
 *	worker stored none.
 *
 *	queue_body_foreach() checks the body it walks against its envelope,
 *	in the same transaction: chunk numbers without a gap, every chunk
 *	but the last as long as the first, the sum equal to the size the
 *	envelope gives (processed_size, or size), and a processed body
 *	present when the envelope says one was stored (never the original
 *	in its place: that could send out what the worker encrypted). A
 *	body of a live message that fails, or is missing, is SG_ECORRUPT:
 *	what fn was given is not the message, and the message is
 *	quarantined ("event=corrupt_record", then "event=quarantined") when the
 *	queue is writable.
 * DIAGNOSTICS
 *	SG_EIO when the source file is short or unreadable; SG_EFULL when
 *	the map or disk is full; SG_ENOTFOUND when no body is stored;
 *	SG_ECORRUPT as above.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue_int.h"

#define BODY_KEY 13

static void body_key(uint8_t kb[BODY_KEY], uint64_t id, int kind, uint32_t seq)
{
	queue_put_be64(kb, id);
	kb[8] = (uint8_t) kind;
	kb[9] = (uint8_t) (seq >> 24);
	kb[10] = (uint8_t) (seq >> 16);
	kb[11] = (uint8_t) (seq >> 8);
	kb[12] = (uint8_t) seq;
}

static int fill(void *dst, const struct queue_body_src *src, uint64_t off, size_t n)
{
	if (src->data != NULL) {
		memcpy(dst, (const char *) src->data + off, n);
		return (0);
	}
	for (size_t done = 0; done < n;) {
		ssize_t	r = pread(src->fd, (char *) dst + done, n - done,
				  src->offset + (off_t) (off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return (SG_EIO);	/* error, or the file is shorter than said */
		done += (size_t) r;
	}
	return (0);
}

int	queue_body_write(struct queue *q, MDB_txn *txn, uint64_t id, enum queue_body_kind kind,
			 const struct queue_body_src *src, bool append, uint64_t *lenp)
{
	uint64_t total = src->len, off = 0;
	uint32_t seq = 0;
	uint8_t	kb[BODY_KEY];
	int	rc, err;

	if (src->data == NULL && src->fd < 0 && total > 0)
		return (SG_EINVAL);
	if (total / q->conf.chunk_size >= UINT32_MAX)
		return (SG_ELIMIT);
	do {
		size_t	n = (size_t) (total - off < q->conf.chunk_size ? total - off : q->conf.chunk_size);
		MDB_val	k = {BODY_KEY, kb}, d = {n, NULL};

		body_key(kb, id, kind, seq++);
		rc = mdb_put(txn, q->db_body, &k, &d, MDB_RESERVE | (append ? MDB_APPEND : 0));
		if (rc != 0)
			return (queue_err(rc));
		if (n > 0 && (err = fill(d.mv_data, src, off, n)) != 0)
			return (err);
		off += n;
	} while (off < total);
	if (lenp)
		*lenp = total;
	return (0);
}

/* first_chunk - position c at chunk 0 of (id, kind) */

static int first_chunk(struct queue *q, MDB_cursor *c, uint64_t id, int kind, MDB_val *d)
{
	uint8_t	kb[BODY_KEY];
	MDB_val	k = {BODY_KEY, kb};

	(void) q;
	body_key(kb, id, kind, 0);
	return (queue_err(mdb_cursor_get(c, &k, d, MDB_SET_KEY)));
}

static bool same_body(const MDB_val *k, uint64_t id, int kind)
{
	const uint8_t *p = k->mv_data;

	return (k->mv_size == BODY_KEY && queue_get_be64(p) == id && p[8] == kind);
}

/* open_body - a cursor at chunk 0, the processed body falling back */

static int open_body(struct queue *q, MDB_txn *txn, uint64_t id, enum queue_body_kind kind,
		     MDB_cursor **c, MDB_val *d, int *used)
{
	int	rc, err;

	if ((rc = mdb_cursor_open(txn, q->db_body, c)) != 0)
		return (queue_err(rc));
	*used = kind;
	err = first_chunk(q, *c, id, kind, d);
	if (err == SG_ENOTFOUND && kind == QUEUE_BODY_PROCESSED) {
		*used = QUEUE_BODY_ORIGINAL;
		err = first_chunk(q, *c, id, QUEUE_BODY_ORIGINAL, d);
	}
	if (err) {
		mdb_cursor_close(*c);
		*c = NULL;
	}
	return (err);
}

static int copy_out(MDB_cursor *c, MDB_val d, uint64_t id, int kind, uint64_t off,
		    char *buf, size_t len, size_t *got)
{
	size_t	c0 = d.mv_size, done = 0;
	uint64_t seq = c0 ? off / c0 : 0;
	uint8_t	kb[BODY_KEY];
	MDB_val	k = {BODY_KEY, kb};
	int	rc;

	*got = 0;
	if (c0 == 0)
		return (0);
	if (seq > 0) {
		body_key(kb, id, kind, (uint32_t) seq);
		if ((rc = mdb_cursor_get(c, &k, &d, MDB_SET_KEY)) != 0)
			return (rc == MDB_NOTFOUND ? 0 : queue_err(rc));	/* past the end */
	}
	for (size_t skip = (size_t) (off - seq * c0); done < len;) {
		if (skip < d.mv_size) {
			size_t	n = d.mv_size - skip < len - done ? d.mv_size - skip : len - done;

			memcpy(buf + done, (const char *) d.mv_data + skip, n);
			done += n;
		}
		skip = 0;
		if (done == len)
			break;
		if ((rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) == MDB_NOTFOUND ||
		    (rc == 0 && !same_body(&k, id, kind)))
			break;
		if (rc != 0)
			return (queue_err(rc));
	}
	*got = done;
	return (0);
}

int	queue_body_read(struct queue *q, uint64_t id, enum queue_body_kind kind,
			uint64_t off, void *buf, size_t len, size_t *got)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val	d;
	int	err, used;

	*got = 0;
	if ((err = queue_txn_begin(q, true, &txn)) != 0)
		return (err);
	if ((err = open_body(q, txn, id, kind, &c, &d, &used)) == 0) {
		err = copy_out(c, d, id, used, off, buf, len, got);
		mdb_cursor_close(c);
	}
	queue_txn_abort(txn);
	return (err);
}

/*
 * expected - what the live envelope of id says of the body about to be
 * read: its size (-1: no live envelope), or SG_ECORRUPT with *why.
 */
static int expected(struct queue *q, MDB_txn *txn, uint64_t id, int kind, int used,
		    int64_t *size, const char **why)
{
	uint8_t	kb[8];
	MDB_val	k = {8, kb}, d;
	struct queue_env e;
	int	rc, err;

	*size = -1;
	queue_put_be64(kb, id);
	if ((rc = mdb_get(txn, q->db_env, &k, &d)) == MDB_NOTFOUND)
		return (0);
	if (rc != 0)
		return (queue_err(rc));
	queue_env_init(&e);
	if ((err = queue_env_decode(d.mv_data, d.mv_size, &e)) != 0) {
		*why = "envelope record failed its checks";
	} else if (kind == QUEUE_BODY_PROCESSED && (e.flags & QUEUE_F_PROCESSED)
		   && used != QUEUE_BODY_PROCESSED) {
		*why = "the processed body is missing";
		err = SG_ECORRUPT;
	} else {
		*size = (int64_t) (used == QUEUE_BODY_PROCESSED ? e.processed_size : e.size);
	}
	queue_env_free(&e);
	return (err);
}

/* chunk_seq - the chunk number in a body key */

static uint32_t chunk_seq(const MDB_val *k)
{
	const uint8_t *p = k->mv_data;

	return ((uint32_t) p[9] << 24 | (uint32_t) p[10] << 16 | (uint32_t) p[11] << 8 | p[12]);
}

/*
 * walk - every chunk from the one in d, checked as it goes (see the top);
 * 1: fn stopped the walk. *total gets the bytes walked.
 */
static int walk(MDB_cursor *c, MDB_val d, uint64_t id, int used,
		int (*fn) (const void *, size_t, void *), void *arg, uint64_t *total,
		const char **why, int *stopped)
{
	size_t	first = d.mv_size;
	bool	short_seen = false;
	MDB_val	k;
	int	rc;

	*total = 0;
	*stopped = 0;
	for (uint32_t seq = 0;; seq++) {
		if (d.mv_size > first || short_seen) {
			*why = "a body chunk has the wrong length";
			return (SG_ECORRUPT);
		}
		short_seen = d.mv_size < first;
		*total += d.mv_size;
		if (d.mv_size > 0 && (*stopped = fn(d.mv_data, d.mv_size, arg)) != 0)
			return (0);
		rc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
		if (rc == MDB_NOTFOUND || (rc == 0 && !same_body(&k, id, used)))
			return (0);
		if (rc != 0)
			return (queue_err(rc));
		if (chunk_seq(&k) != seq + 1) {
			*why = "a body chunk is missing";
			return (SG_ECORRUPT);
		}
	}
}

/* body_corrupt - log it; quarantine it when the queue is writable */

static void body_corrupt(struct queue *q, uint64_t id, const char *why)
{
	char	ids[QUEUE_ID_BUFSZ];
	MDB_txn *txn;

	sg_warn("id=%s event=corrupt_record reason=\"%s\"", queue_id_format(id, ids), why);
	if ((q->flags & QUEUE_RDONLY) || queue_txn_begin(q, false, &txn) != 0)
		return;
	if (queue_quarantine_why(q, txn, id, why) != 0)
		queue_txn_abort(txn);
	else
		(void) queue_txn_commit(txn);
}

int	queue_body_foreach(struct queue *q, uint64_t id, enum queue_body_kind kind,
			   int (*fn) (const void *, size_t, void *), void *arg,
			   enum queue_body_kind *which)
{
	const char *why = NULL;
	uint64_t total = 0;
	int64_t	size;
	MDB_txn *txn;
	MDB_cursor *c = NULL;
	MDB_val	d;
	int	err, used = kind, stopped = 0;

	if ((err = queue_txn_begin(q, true, &txn)) != 0)
		return (err);
	err = open_body(q, txn, id, kind, &c, &d, &used);
	if (err == 0 || err == SG_ENOTFOUND) {
		int	e2 = expected(q, txn, id, kind, used, &size, &why);

		if (e2 < 0)
			err = e2;
		else if (err == SG_ENOTFOUND && size >= 0) {
			why = "the body is missing";
			err = SG_ECORRUPT;
		}
	}
	if (err == 0) {
		if (which)
			*which = (enum queue_body_kind) used;
		err = walk(c, d, id, used, fn, arg, &total, &why, &stopped);
		if (err == 0 && !stopped && size >= 0 && total != (uint64_t) size) {
			why = "the body is not as long as its envelope says";
			err = SG_ECORRUPT;
		}
	}
	if (c)
		mdb_cursor_close(c);
	queue_txn_abort(txn);
	if (err == SG_ECORRUPT && why)
		body_corrupt(q, id, why);
	return (err ? err : stopped);
}

int	queue_body_copy(struct queue *q, MDB_txn *txn, uint64_t from, uint64_t to, uint64_t *lenp)
{
	uint8_t	kb[BODY_KEY], *tmp = NULL;
	MDB_val	k = {BODY_KEY, kb}, d;
	uint64_t total = 0;
	int	rc = 0;

	for (uint32_t seq = 0;; seq++) {
		body_key(kb, from, QUEUE_BODY_ORIGINAL, seq);
		if ((rc = mdb_get(txn, q->db_body, &k, &d)) != 0)
			break;
		/* copy first: the put below may move pages the source points into */
		tmp = sg_xrealloc(tmp, d.mv_size ? d.mv_size : 1);
		memcpy(tmp, d.mv_data, d.mv_size);
		body_key(kb, to, QUEUE_BODY_ORIGINAL, seq);
		d.mv_data = tmp;
		if ((rc = mdb_put(txn, q->db_body, &k, &d, 0)) != 0)
			break;
		total += d.mv_size;
	}
	free(tmp);
	if (lenp)
		*lenp = total;
	return (rc == MDB_NOTFOUND ? 0 : queue_err(rc));
}

int	queue_body_drop(struct queue *q, MDB_txn *txn, uint64_t id, int kind)
{
	uint8_t	kb[BODY_KEY];
	MDB_val	k = {BODY_KEY, kb}, d;
	MDB_cursor *c;
	int	rc;

	if ((rc = mdb_cursor_open(txn, q->db_body, &c)) != 0)
		return (queue_err(rc));
	/* seek afresh after each delete: a cursor's position after a delete
	 * at a page's end is not something to lean on */
	for (;;) {
		body_key(kb, id, kind < 0 ? 0 : kind, 0);
		k.mv_size = BODY_KEY;
		k.mv_data = kb;
		rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
		if (rc != 0 || k.mv_size != BODY_KEY || queue_get_be64(k.mv_data) != id)
			break;
		if (kind >= 0 && ((const uint8_t *) k.mv_data)[8] != kind)
			break;
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
	}
	mdb_cursor_close(c);
	return (rc == MDB_NOTFOUND || rc == 0 ? 0 : queue_err(rc));
}
