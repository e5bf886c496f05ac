/*
 * NAME
 *	queue_body 3
 * SUMMARY
 *	message bodies stored in chunks, written and read in pieces
 * SYNOPSIS
 *	#include "queue/queue.h"
 *
 *	int	queue_body_read(q, id, kind, off, buf, len, got)
 *	int	queue_body_pieces(q, id, kind, off, len, fn, arg, got)
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
 *	chunk. queue_body_drop() deletes one kind (or all, kind < 0); the
 *	processed kind takes its splice record along. (Nothing drops an
 *	original alone: a splice of the processed body would point at nothing.)
 *	Chunks are written with MDB_RESERVE: the bytes go straight
 *	from the caller's buffer or file into the page, without a copy in
 *	between, so a 50 MB message never sits in memory whole.
 *
 *	A reader asking for the processed body gets the original when the
 *	worker stored none.
 *
 *	A processed body may refer to the original instead of copying it:
 *	when the writer says (queue_body_src.same_*) that a run of it is a
 *	run of the original, and the bytes stored there prove it, only the
 *	rest is written as chunks, and a splice record under kind 2, seq 0
 *	(at(8) off(8) len(8)) says that the processed body's bytes from at
 *	on are len bytes of the original from off on; the chunks hold the
 *	bytes before and after. A signed copy of a 10 MB message so costs
 *	the queue what the signature adds, not a second 10 MB write. The
 *	original of a live message is never rewritten (a split copies it to
 *	each part), so the reference holds for as long as the message.
 *
 *	queue_body_foreach() checks the body it walks against its envelope,
 *	in the same transaction: chunk numbers without a gap, every chunk
 *	but the last as long as the first, the sum equal to the size the
 *	envelope gives (processed_size, or size), a processed body
 *	present when the envelope says one was stored (never the original
 *	in its place: that could send out what the worker encrypted), and
 *	the whole run of the original a splice refers to. A
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
#define BODY_SPLICE 2			/* kind of a processed body's splice record */
#define SPLICE_LEN 24			/* at(8) off(8) len(8) */

static void body_key(uint8_t kb[BODY_KEY], uint64_t id, int kind, uint32_t seq)
{
	queue_put_be64(kb, id);
	kb[8] = (uint8_t) kind;
	kb[9] = (uint8_t) (seq >> 24);
	kb[10] = (uint8_t) (seq >> 16);
	kb[11] = (uint8_t) (seq >> 8);
	kb[12] = (uint8_t) seq;
}

/* What a body write stores: src without [at, at + cut), the original's run. */
struct stored {
	const struct queue_body_src *src;
	uint64_t at, cut;
};

static int fill(void *dst, const struct stored *w, uint64_t off, size_t n)
{
	const struct queue_body_src *src = w->src;

	if (src->data != NULL) {
		const char *data = src->data;
		size_t	head = off < w->at ? (size_t) (w->at - off < n ? w->at - off : n) : 0;

		memcpy(dst, data + off, head);
		memcpy((char *) dst + head, data + off + head + w->cut, n - head);
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

static int range(MDB_cursor *, uint64_t id, int kind, uint64_t off, uint64_t len,
		 int (*fn) (const void *, size_t, void *), void *arg, uint64_t *got,
		 const char **why);

/* differs - range()'s callback: do the stored bytes differ from *arg's? */

static int differs(const void *chunk, size_t n, void *arg)
{
	const char **p = arg;
	int	rc = memcmp(chunk, *p, n) != 0;

	*p += n;
	return (rc);
}

/*
 * same_as_original - does src hold, where it says, a run of id's original
 * body? Anything but a proven yes stores the bytes themselves.
 */
static bool same_as_original(struct queue *q, MDB_txn *txn, uint64_t id,
			     const struct queue_body_src *src)
{
	const char *p, *why = NULL;
	MDB_cursor *c;
	uint64_t got = 0;
	int	rc;

	if (src->data == NULL || src->same_len == 0 || src->same_at > src->len
	    || src->same_len > src->len - src->same_at
	    || mdb_cursor_open(txn, q->db_body, &c) != 0)
		return (false);
	p = (const char *) src->data + src->same_at;
	rc = range(c, id, QUEUE_BODY_ORIGINAL, src->same_off, src->same_len, differs, &p, &got,
		   &why);
	mdb_cursor_close(c);
	return (rc == 0 && got == src->same_len);
}

static int put_splice(struct queue *q, MDB_txn *txn, uint64_t id, const struct queue_body_src *src)
{
	uint8_t	kb[BODY_KEY], v[SPLICE_LEN];
	MDB_val	k = {BODY_KEY, kb}, d = {SPLICE_LEN, v};

	body_key(kb, id, BODY_SPLICE, 0);
	queue_put_be64(v, src->same_at);
	queue_put_be64(v + 8, src->same_off);
	queue_put_be64(v + 16, src->same_len);
	return (queue_err(mdb_put(txn, q->db_body, &k, &d, 0)));
}

int	queue_body_write(struct queue *q, MDB_txn *txn, uint64_t id, enum queue_body_kind kind,
			 const struct queue_body_src *src, bool append, uint64_t *lenp)
{
	struct stored w = {src, 0, 0};
	uint64_t total, off = 0;
	uint32_t seq = 0;
	uint8_t	kb[BODY_KEY];
	int	rc, err;

	if (src->data == NULL && src->fd < 0 && src->len > 0)
		return (SG_EINVAL);
	if (kind == QUEUE_BODY_PROCESSED && same_as_original(q, txn, id, src)) {
		w.at = src->same_at;
		w.cut = src->same_len;
	}
	total = src->len - w.cut;
	if (total / q->conf.chunk_size >= UINT32_MAX)
		return (SG_ELIMIT);
	do {
		size_t	n = (size_t) (total - off < q->conf.chunk_size ? total - off : q->conf.chunk_size);
		MDB_val	k = {BODY_KEY, kb}, d = {n, NULL};

		body_key(kb, id, kind, seq++);
		rc = mdb_put(txn, q->db_body, &k, &d, MDB_RESERVE | (append ? MDB_APPEND : 0));
		if (rc != 0)
			return (queue_err(rc));
		if (n > 0 && (err = fill(d.mv_data, &w, off, n)) != 0)
			return (err);
		off += n;
	} while (off < total);
	if (w.cut && (err = put_splice(q, txn, id, src)) != 0)
		return (err);
	if (lenp)
		*lenp = src->len;
	return (0);
}

static bool same_body(const MDB_val *k, uint64_t id, int kind)
{
	const uint8_t *p = k->mv_data;

	return (k->mv_size == BODY_KEY && queue_get_be64(p) == id && p[8] == kind);
}

/* chunk_seq - the chunk number in a body key */

static uint32_t chunk_seq(const MDB_val *k)
{
	const uint8_t *p = k->mv_data;

	return ((uint32_t) p[9] << 24 | (uint32_t) p[10] << 16 | (uint32_t) p[11] << 8 | p[12]);
}

/*
 * range - fn on bytes [off, off + len) of the chunks of (id, kind), piece
 * by piece, the chunk holding off found by the first chunk's length;
 * *got: how many bytes there were (fewer at the body's end). The chunks
 * passed are checked as at the top. A non-zero return of fn stops it and
 * is returned; SG_ENOTFOUND: no such body.
 */
static int range(MDB_cursor *c, uint64_t id, int kind, uint64_t off, uint64_t len,
		 int (*fn) (const void *, size_t, void *), void *arg, uint64_t *got,
		 const char **why)
{
	uint8_t	kb[BODY_KEY];
	MDB_val	k = {BODY_KEY, kb}, d;
	uint64_t c0, seq;
	bool	ended = false;		/* a chunk shorter than the first: the last */
	int	rc;

	*got = 0;
	body_key(kb, id, kind, 0);
	if ((rc = mdb_cursor_get(c, &k, &d, MDB_SET_KEY)) != 0)
		return (queue_err(rc));
	if ((c0 = d.mv_size) == 0) {	/* an empty body: one empty chunk, alone */
		rc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
		if (rc == 0 && same_body(&k, id, kind)) {
			*why = "a body chunk has the wrong length";
			return (SG_ECORRUPT);
		}
		return (rc == 0 || rc == MDB_NOTFOUND ? 0 : queue_err(rc));
	}
	if (len == 0)
		return (0);
	if ((seq = off / c0) > UINT32_MAX)
		return (0);			/* past any end (a bad splice record) */
	if (seq > 0) {
		body_key(kb, id, kind, (uint32_t) seq);
		k.mv_data = kb;		/* the get above pointed it into the map */
		if ((rc = mdb_cursor_get(c, &k, &d, MDB_SET_KEY)) != 0)
			return (rc == MDB_NOTFOUND ? 0 : queue_err(rc));	/* past the end */
	}
	for (uint64_t skip = off - seq * c0;;) {
		if (d.mv_size > c0 || ended) {
			*why = "a body chunk has the wrong length";
			return (SG_ECORRUPT);
		}
		ended = d.mv_size < c0;
		if (skip < d.mv_size) {
			size_t	n = (size_t) (d.mv_size - skip < len - *got ? d.mv_size - skip
					      : len - *got);

			*got += n;
			if ((rc = fn((const char *) d.mv_data + skip, n, arg)) != 0)
				return (rc);
		}
		skip = 0;
		if (*got == len)
			return (0);
		if ((rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) == MDB_NOTFOUND ||
		    (rc == 0 && !same_body(&k, id, kind)))
			return (0);
		if (rc != 0)
			return (queue_err(rc));
		if (chunk_seq(&k) != ++seq) {
			*why = "a body chunk is missing";
			return (SG_ECORRUPT);
		}
	}
}

/* A caller's fn, with its answer kept apart from range()'s own. */
struct hand {
	int	(*fn) (const void *, size_t, void *);
	void   *arg;
	int	stopped;		/* fn's non-zero answer */
};

static int hand_on(const void *chunk, size_t n, void *arg)
{
	struct hand *h = arg;

	return ((h->stopped = h->fn(chunk, n, h->arg)) != 0);
}

/* What a reader of (id, kind) finds stored. */
struct view {
	int	used;			/* the kind whose chunks hold it */
	bool	spliced;		/* PROCESSED: [at, at + len) is the original's */
	uint64_t at, off, len;		/* ... run from off on */
};

/*
 * open_body - what is stored for (id, kind), the processed body falling
 * back to the original, and a cursor to read it with
 */
static int open_body(struct queue *q, MDB_txn *txn, uint64_t id, enum queue_body_kind kind,
		     MDB_cursor **c, struct view *v, const char **why)
{
	uint8_t	kb[BODY_KEY];
	MDB_val	k = {BODY_KEY, kb}, d;
	int	rc;

	memset(v, 0, sizeof(*v));
	v->used = kind;
	body_key(kb, id, kind, 0);
	if ((rc = mdb_get(txn, q->db_body, &k, &d)) == MDB_NOTFOUND
	    && kind == QUEUE_BODY_PROCESSED) {
		v->used = QUEUE_BODY_ORIGINAL;
		body_key(kb, id, QUEUE_BODY_ORIGINAL, 0);
		rc = mdb_get(txn, q->db_body, &k, &d);
	}
	if (rc == 0 && v->used == QUEUE_BODY_PROCESSED) {
		body_key(kb, id, BODY_SPLICE, 0);
		if ((rc = mdb_get(txn, q->db_body, &k, &d)) == 0 && d.mv_size == SPLICE_LEN) {
			v->spliced = true;
			v->at = queue_get_be64(d.mv_data);
			v->off = queue_get_be64((const uint8_t *) d.mv_data + 8);
			v->len = queue_get_be64((const uint8_t *) d.mv_data + 16);
			if (v->at > UINT64_MAX - v->len || v->off > UINT64_MAX - v->len) {
				*why = "a splice record points past any body";
				return (SG_ECORRUPT);
			}
		} else if (rc == 0) {
			*why = "a splice record has the wrong length";
			return (SG_ECORRUPT);
		} else if (rc == MDB_NOTFOUND) {
			rc = 0;
		}
	}
	if (rc == 0)
		rc = mdb_cursor_open(txn, q->db_body, c);
	return (queue_err(rc));
}

static int copy_to(const void *chunk, size_t n, void *arg)
{
	char  **dst = arg;

	memcpy(*dst, chunk, n);
	*dst += n;
	return (0);
}

/*
 * read_view - fn on up to len bytes from off, across a splice's three
 * runs; a run that ends short ends the read there (never the next run's
 * bytes in its place)
 */
static int read_view(MDB_cursor *c, uint64_t id, const struct view *v, uint64_t off,
		     size_t len, int (*fn) (const void *, size_t, void *), void *arg,
		     size_t *got, const char **why)
{
	*got = 0;
	while (*got < len) {
		uint64_t x = off + *got, from = x, n = len - *got, have;
		int	kind = v->used, rc;

		if (v->spliced && x < v->at) {
			n = v->at - x < n ? v->at - x : n;
		} else if (v->spliced && x - v->at < v->len) {
			kind = QUEUE_BODY_ORIGINAL;
			from = v->off + (x - v->at);
			n = v->len - (x - v->at) < n ? v->len - (x - v->at) : n;
		} else if (v->spliced) {
			from = x - v->len;
		}
		rc = range(c, id, kind, from, n, fn, arg, &have, why);
		*got += (size_t) have;
		if (rc != 0)
			return (rc);
		if (have < n)
			break;
	}
	return (0);
}

int	queue_body_pieces(struct queue *q, uint64_t id, enum queue_body_kind kind, uint64_t off,
			  size_t len, int (*fn) (const void *, size_t, void *), void *arg,
			  size_t *got)
{
	const char *why = NULL;
	struct view v;
	MDB_txn *txn;
	MDB_cursor *c;
	int	err;

	*got = 0;
	if ((err = queue_txn_begin(q, true, &txn)) != 0)
		return (err);
	if ((err = open_body(q, txn, id, kind, &c, &v, &why)) == 0) {
		err = read_view(c, id, &v, off, len, fn, arg, got, &why);
		mdb_cursor_close(c);
	}
	queue_txn_abort(txn);
	return (err);
}

int	queue_body_read(struct queue *q, uint64_t id, enum queue_body_kind kind,
			uint64_t off, void *buf, size_t len, size_t *got)
{
	char   *dst = buf;

	return (queue_body_pieces(q, id, kind, off, len, copy_to, &dst, got));
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

/* What splice_chunk() hands on: the chunks, with the original's run put in. */
struct splice_walk {
	MDB_cursor *orig;		/* a cursor of its own for the original */
	uint64_t id;
	const struct view *v;
	uint64_t pos;			/* stored bytes handed on so far */
	bool	put;			/* the original's run handed on */
	struct hand user;
	int	err;
	const char *why;
};

static int splice_put(struct splice_walk *s)
{
	uint64_t got;
	int	rc;

	s->put = true;
	rc = range(s->orig, s->id, QUEUE_BODY_ORIGINAL, s->v->off, s->v->len, hand_on, &s->user,
		   &got, &s->why);
	if (rc < 0)
		s->err = rc == SG_ENOTFOUND ? SG_ECORRUPT : rc;
	else if (rc == 0 && got != s->v->len)
		s->err = SG_ECORRUPT;
	if (s->err == SG_ECORRUPT && s->why == NULL)
		s->why = "the original a processed body refers to is short";
	return (rc != 0 || s->err != 0);
}

static int splice_chunk(const void *chunk, size_t n, void *arg)
{
	struct splice_walk *s = arg;
	const char *p = chunk;
	size_t	k = n;

	if (!s->put && s->pos + n > s->v->at) {
		k = (size_t) (s->v->at - s->pos);
		if ((k > 0 && hand_on(p, k, &s->user)) || splice_put(s))
			return (1);
		p += k;
		k = n - k;
	}
	s->pos += n;
	return (k > 0 && hand_on(p, k, &s->user));
}

/*
 * walk - fn on every byte of what open_body() found, checked as it goes
 * (see the top); *stopped: fn's non-zero answer, *total: the bytes walked
 */
static int walk(MDB_txn *txn, MDB_dbi dbi, MDB_cursor *c, uint64_t id, const struct view *v,
		int (*fn) (const void *, size_t, void *), void *arg, uint64_t *total,
		const char **why, int *stopped)
{
	struct splice_walk s = {.id = id,.v = v,.user = {fn, arg, 0}};
	int	err, rc;

	if (!v->spliced) {
		err = range(c, id, v->used, 0, UINT64_MAX, hand_on, &s.user, total, why);
		*stopped = s.user.stopped;
		return (err < 0 ? err : 0);
	}
	if ((rc = mdb_cursor_open(txn, dbi, &s.orig)) != 0)
		return (queue_err(rc));
	err = range(c, id, QUEUE_BODY_PROCESSED, 0, UINT64_MAX, splice_chunk, &s, total, why);
	if (err == 0 && !s.put && s.pos == v->at)
		(void) splice_put(&s);
	else if (err == 0 && !s.put)
		s.err = SG_ECORRUPT, s.why = "a splice record points past its body";
	mdb_cursor_close(s.orig);
	*total += s.put ? v->len : 0;
	*stopped = s.user.stopped;
	if (s.why)
		*why = s.why;
	return (err < 0 ? err : s.err);
}

int	queue_body_foreach(struct queue *q, uint64_t id, enum queue_body_kind kind,
			   int (*fn) (const void *, size_t, void *), void *arg,
			   enum queue_body_kind *which)
{
	const char *why = NULL;
	uint64_t total = 0;
	int64_t	size;
	struct view v;
	MDB_txn *txn;
	MDB_cursor *c = NULL;
	int	err, stopped = 0;

	if ((err = queue_txn_begin(q, true, &txn)) != 0)
		return (err);
	err = open_body(q, txn, id, kind, &c, &v, &why);
	if (err == 0 || err == SG_ENOTFOUND) {
		int	e2 = expected(q, txn, id, kind, v.used, &size, &why);

		if (e2 < 0)
			err = e2;
		else if (err == SG_ENOTFOUND && size >= 0) {
			why = "the body is missing";
			err = SG_ECORRUPT;
		}
	}
	if (err == 0) {
		if (which)
			*which = (enum queue_body_kind) v.used;
		err = walk(txn, q->db_body, c, id, &v, fn, arg, &total, &why, &stopped);
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
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (rc == 0 && kind == QUEUE_BODY_PROCESSED) {	/* and its splice, if any */
		body_key(kb, id, BODY_SPLICE, 0);
		k.mv_size = BODY_KEY;
		k.mv_data = kb;
		if ((rc = mdb_del(txn, q->db_body, &k, NULL)) == MDB_NOTFOUND)
			rc = 0;
	}
	return (queue_err(rc));
}
