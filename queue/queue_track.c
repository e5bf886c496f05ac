/*
 * NAME
 *	queue_track 3
 * SUMMARY
 *	tracking records: their status words and their indexes
 * SYNOPSIS
 *	#include "queue/queue.h"
 *
 *	unsigned queue_track_status(env)
 *	const char *queue_track_status_word(env)
 *	const char *queue_track_rcpt_word(env, rcpt)
 *	int	queue_track_status_parse(word, len, bitp)
 *
 *	#include "queue_int.h"
 *
 *	size_t	queue_addr_key(addr, key)
 *	int	queue_addr_from_key(key, len, out, outlen)
 *	size_t	queue_track_summary(env, out, outlen)
 *	void	queue_track_fold(s, len, out)
 *	bool	queue_track_indexed(q, txn)
 *	int	queue_track_store(q, txn, env)
 *	int	queue_track_index_del(q, txn, env)
 *	int	queue_track_index_build(q)
 * DESCRIPTION
 *	queue_track_status() and its word say what became of a message
 *	(queue.h lists the words).
 *
 *	queue_addr_key() writes the index key of an address (without the
 *	id): the domain lower-cased with its labels reversed
 *	("com.example.mail"), a NUL, the local part lower-cased, a NUL;
 *	together at most QUEUE_ADDRKEY_MAX bytes (longer parts are cut, and
 *	a search checks the record anyway). "postmaster" has an empty
 *	domain, the null sender is two NULs. So one address is one key
 *	range ordered by id, one domain is one range, and the domains below
 *	it are the next one ("com.example."). queue_addr_from_key() turns
 *	such a key (len bytes, without the id) back into "local@domain",
 *	NUL-terminated in out; it returns the length, or -1 when it does
 *	not fit or the key is malformed.
 *
 *	queue_track_summary() writes a record's summary: version, status
 *	bits, direction and its subject folded (queue_track_fold: ASCII and
 *	the Latin-1 letters of UTF-8 to lower case; same length). A search
 *	by subject, status or time reads summaries, about a tenth of the
 *	bytes of the records.
 *
 *	queue_track_store() stores a tracking record and its index entries
 *	inside the caller's write transaction; when a record of that id is
 *	already stored (never by the roles), its entries are replaced too.
 *	With a cluster configured it also writes the record's outbox entry
 *	(queue_outbox.c), so the record is shipped exactly as it commits.
 *	queue_track_index_del() removes a record's entries (pruning).
 *
 *	queue_track_index_build() indexes the tracking records of a queue
 *	from before the indexes, resumably, INDEX_PER_TXN records per write
 *	transaction, then sets meta "trackidx"; queue_track_indexed() tells
 *	whether that is done. A record that does not decode is left
 *	unindexed (a search that reads every record would still skip it).
 * DIAGNOSTICS
 *	0 or a negative sg_err from LMDB (SG_EFULL, SG_EIO, ...).
 */

#include <string.h>

#include "queue_int.h"

#define INDEX_PER_TXN	5000

/* ------------------------------------------------------ status words */

static const struct {
	unsigned bit;
	const char *word;
} words[] = {
	{QUEUE_TS_QUEUED, "queued"}, {QUEUE_TS_DEFERRED, "deferred"}, {QUEUE_TS_HELD, "held"},
	{QUEUE_TS_DELIVERED, "delivered"}, {QUEUE_TS_BOUNCED, "bounced"},
	{QUEUE_TS_PARTIAL, "partial"}, {QUEUE_TS_DROPPED, "dropped"},
	{QUEUE_TS_DELETED, "deleted"}, {QUEUE_TS_SPLIT, "split"},
	{QUEUE_TS_REJECTED, "rejected"},
};

/* rcpt_bits - the outcomes of the recipients */

static unsigned rcpt_bits(const struct queue_env *e)
{
	unsigned bits = 0;

	for (size_t i = 0; i < e->nrcpt; i++) {
		const struct queue_rcpt *r = &e->rcpt[i];

		if (r->state == QUEUE_RCPT_DELIVERED)
			bits |= QUEUE_TS_DELIVERED;
		else if (r->state == QUEUE_RCPT_BOUNCED)
			bits |= QUEUE_TS_BOUNCED;
		else if (r->state == QUEUE_RCPT_DROPPED)
			bits |= QUEUE_TS_DROPPED;
		if (r->state == QUEUE_RCPT_DEFERRED || r->attempts > 1)
			bits |= QUEUE_TS_DEFERRED;
	}
	return (bits);
}

/* main_bit - the message's own word as a bit */

static unsigned main_bit(const struct queue_env *e, unsigned r)
{
	if (e->state == QUEUE_HOLD)
		return (QUEUE_TS_HELD);
	if (e->state == QUEUE_DEFERRED)
		return (QUEUE_TS_DEFERRED);
	if (e->state != QUEUE_DONE)
		return (QUEUE_TS_QUEUED);
	if (e->flags & QUEUE_F_REJECTED)
		return (QUEUE_TS_REJECTED);
	if (strcmp(e->reason, "split") == 0)
		return (QUEUE_TS_SPLIT);
	for (size_t i = 0; i < e->nrcpt; i++)
		if (!queue_rcpt_final(e->rcpt[i].state))
			return (QUEUE_TS_DELETED);	/* left before it was finished */
	if ((r & QUEUE_TS_DELIVERED) && (r & QUEUE_TS_BOUNCED))
		return (QUEUE_TS_PARTIAL);
	if (r & QUEUE_TS_DELIVERED)
		return (QUEUE_TS_DELIVERED);
	if (r & QUEUE_TS_BOUNCED)
		return (QUEUE_TS_BOUNCED);
	if (r & QUEUE_TS_DROPPED)
		return (QUEUE_TS_DROPPED);
	return (QUEUE_TS_DELETED);		/* no recipient at all */
}

unsigned queue_track_status(const struct queue_env *e)
{
	unsigned r = e->flags & QUEUE_F_REJECTED ? 0 : rcpt_bits(e);

	return (r | main_bit(e, r));
}

const char *queue_track_status_word(const struct queue_env *e)
{
	unsigned r = e->flags & QUEUE_F_REJECTED ? 0 : rcpt_bits(e), b = main_bit(e, r);

	for (size_t i = 0; i < SG_NELEM(words); i++)
		if (words[i].bit == b)
			return (words[i].word);
	return ("unknown");
}

const char *queue_track_rcpt_word(const struct queue_env *e, const struct queue_rcpt *r)
{
	if (e->flags & QUEUE_F_REJECTED)
		return ("rejected");
	if (r->state == QUEUE_RCPT_PENDING)
		return (e->state == QUEUE_DONE ? "not-delivered" : "queued");
	return (queue_rcpt_state_name(r->state));
}

int	queue_track_status_parse(const char *w, size_t len, unsigned *bit)
{
	for (size_t i = 0; i < SG_NELEM(words); i++)
		if (strlen(words[i].word) == len && strncmp(words[i].word, w, len) == 0) {
			*bit = words[i].bit;
			return (0);
		}
	return (SG_EINVAL);
}

/* ------------------------------------------------------------- keys */

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z' ? (char) (c - 'A' + 'a') : c);
}

/* rev_domain - d's labels in reverse order, lower-cased, at most max bytes */

static size_t rev_domain(const char *d, size_t len, uint8_t *out, size_t max)
{
	size_t	n = 0, end = len, start;

	for (;;) {
		for (start = end; start > 0 && d[start - 1] != '.'; start--)
			;
		for (size_t i = start; i < end && n < max; i++)
			out[n++] = (uint8_t) lower(d[i]);
		if (start == 0)
			break;
		if (n < max)
			out[n++] = '.';
		end = start - 1;
	}
	return (n);
}

size_t	queue_addr_key(const char *addr, uint8_t *key)
{
	const char *at = strrchr(addr, '@');
	size_t	alen = strlen(addr), llen = at ? (size_t) (at - addr) : alen, n;

	n = at ? rev_domain(at + 1, alen - llen - 1, key, QUEUE_ADDRKEY_MAX / 2) : 0;
	key[n++] = 0;
	for (size_t i = 0; i < llen && n < QUEUE_ADDRKEY_MAX - 1; i++)
		key[n++] = (uint8_t) lower(addr[i]);
	key[n++] = 0;
	return (n);
}

int	queue_addr_from_key(const uint8_t *key, size_t len, char *out, size_t outlen)
{
	const uint8_t *nul = len ? memchr(key, 0, len) : NULL;
	size_t	dlen, llen, n;

	if (nul == NULL || len < 2 || key[len - 1] != 0 || (size_t) (nul - key) + 2 > len)
		return (-1);			/* two NULs: after the domain, at the end */
	dlen = (size_t) (nul - key);
	llen = len - dlen - 2;
	if (llen + 1 + dlen + 1 > outlen || memchr(nul + 1, 0, llen) != NULL)
		return (-1);
	memcpy(out, nul + 1, llen);
	n = llen;
	if (dlen > 0) {
		out[n++] = '@';
		n += rev_domain((const char *) key, dlen, (uint8_t *) out + n, dlen);
	}
	out[n] = 0;
	return ((int) n);
}

void	queue_track_fold(const char *s, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) s[i], d;

		out[i] = lower((char) c);
		/* U+00C0..U+00DE but U+00D7: C3 80..9E -> C3 A0..BE */
		if (c == 0xc3 && i + 1 < len && (d = (unsigned char) s[i + 1]) >= 0x80 && d <= 0x9e
		    && d != 0x97) {
			out[++i] = (char) (d + 0x20);
		}
	}
}

size_t	queue_track_summary(const struct queue_env *e, uint8_t *out, size_t outlen)
{
	unsigned st = queue_track_status(e);
	size_t	n = strlen(e->subject);

	if (n > outlen - 4)
		n = outlen - 4;
	out[0] = QUEUE_SUMMARY_VERSION;
	out[1] = (uint8_t) (st >> 8);
	out[2] = (uint8_t) st;
	out[3] = (uint8_t) e->direction;
	queue_track_fold(e->subject, n, (char *) out + 4);
	return (4 + n);
}

/* ---------------------------------------------------- index entries */

static int addr_put(MDB_txn *txn, MDB_dbi dbi, const char *addr, uint64_t id, bool del)
{
	uint8_t	kb[QUEUE_ADDRKEY_MAX + 8];
	size_t	n = queue_addr_key(addr, kb);
	MDB_val	k = {n + 8, kb}, d = {0, NULL};
	int	rc;

	queue_put_be64(kb + n, id);
	if (del)
		rc = mdb_del(txn, dbi, &k, NULL);
	else
		rc = mdb_put(txn, dbi, &k, &d, MDB_NOOVERWRITE);
	return (rc == MDB_KEYEXIST || rc == MDB_NOTFOUND ? 0 : queue_err(rc));
}

static int entries(struct queue *q, MDB_txn *txn, const struct queue_env *e, bool del)
{
	uint8_t	kb[8], sum[4 + QUEUE_MAX_STRING];
	MDB_val	k = {8, kb}, d;
	int	err, rc;

	if ((err = addr_put(txn, q->db_tsend, e->sender, e->id, del)) != 0)
		return (err);
	for (size_t i = 0; i < e->nrcpt; i++)
		if ((err = addr_put(txn, q->db_trcpt, e->rcpt[i].addr, e->id, del)) != 0)
			return (err);
	queue_put_be64(kb, e->id);
	if (del) {
		rc = mdb_del(txn, q->db_tsum, &k, NULL);
		return (rc == MDB_NOTFOUND ? 0 : queue_err(rc));
	}
	d.mv_size = queue_track_summary(e, sum, sizeof(sum));
	d.mv_data = sum;
	return (queue_err(mdb_put(txn, q->db_tsum, &k, &d, 0)));
}

int	queue_track_index_del(struct queue *q, MDB_txn *txn, const struct queue_env *e)
{
	if (q->db_tsum == 0)
		return (0);
	return (entries(q, txn, e, true));
}

int	queue_track_store(struct queue *q, MDB_txn *txn, const struct queue_env *e)
{
	struct queue_env old;
	int	err;

	/* mostly a new id: one put finds out, no look-up first */
	if ((err = queue_env_store(q, txn, q->db_track, e, MDB_NOOVERWRITE)) == SG_EEXIST) {
		queue_env_init(&old);
		if ((err = queue_env_load(q, txn, q->db_track, e->id, &old)) == 0 && q->db_tsum)
			err = entries(q, txn, &old, true);	/* stored again: the old ones go */
		else if (err == SG_ECORRUPT)
			err = 0;
		queue_env_free(&old);
		if (err == 0)
			err = queue_env_store(q, txn, q->db_track, e, 0);
	}
	if (err == 0)
		err = queue_outbox_put(q, txn, QUEUE_OUTBOX_TRACK, e->id);
	if (err || q->db_tsum == 0)
		return (err);
	return (entries(q, txn, e, false));
}

/* ------------------------------------------------------------ build */

bool	queue_track_indexed(struct queue *q, MDB_txn *txn)
{
	uint64_t v = 0;

	return (q->db_tsum != 0 && queue_meta_get(q, txn, "trackidx", &v) == 0 && v == 1);
}

/* build_some - index up to INDEX_PER_TXN records after meta "trackidx_at" */

static int build_some(struct queue *q, bool *more)
{
	struct sg_buf raw = SG_BUF_INIT;
	struct queue_env e;
	uint8_t	kb[8];
	MDB_val	k = {8, kb}, d;
	MDB_txn *txn;
	MDB_cursor *c;
	uint64_t at, n = 0;
	int	rc, err;

	*more = false;
	if ((err = queue_txn_begin(q, false, &txn)) != 0)
		return (err);
	if (queue_track_indexed(q, txn) || (err = queue_meta_get(q, txn, "trackidx_at", &at)) != 0
	    || (err = queue_err(mdb_cursor_open(txn, q->db_track, &c))) != 0) {
		queue_txn_abort(txn);
		return (err);
	}
	queue_env_init(&e);
	queue_put_be64(kb, at + 1);
	for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0 && err == 0;
	     rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
		if (n++ == INDEX_PER_TXN) {
			*more = true;
			break;
		}
		at = k.mv_size == 8 ? queue_get_be64(k.mv_data) : at;
		/* a copy: the writes below may move what LMDB pointed at */
		sg_buf_reset(&raw);
		sg_buf_append(&raw, d.mv_data, d.mv_size);
		if (queue_env_decode(raw.data, raw.len, &e) == 0)
			err = entries(q, txn, &e, false);
	}
	mdb_cursor_close(c);
	queue_env_free(&e);
	sg_buf_free(&raw);
	if (err == 0 && rc != 0 && rc != MDB_NOTFOUND)
		err = queue_err(rc);
	if (err == 0)
		err = queue_meta_put(q, txn, *more ? "trackidx_at" : "trackidx", *more ? at : 1);
	if (err) {
		queue_txn_abort(txn);
		return (err);
	}
	return (queue_txn_commit(txn));
}

int	queue_track_index_build(struct queue *q)
{
	MDB_txn *txn;
	bool	more, done;
	int	err;

	if ((err = queue_txn_begin(q, true, &txn)) != 0)
		return (err);
	done = queue_track_indexed(q, txn);	/* mostly: no write lock needed */
	queue_txn_abort(txn);
	if (done)
		return (0);
	do {
		err = build_some(q, &more);
	} while (err == 0 && more);
	return (err);
}
