/*
 * NAME
 *	queue_certs 3
 * SUMMARY
 *	cluster certificates through the queue: what this node shares, what
 *	it received
 * SYNOPSIS
 *	#include "queue/queue.h"
 *
 *	int	queue_cert_encode(rec, out)
 *	int	queue_cert_decode(data, len, rec)
 *	int	queue_cert_share(q, rec)
 *	int	queue_certin_put(q, recs, n)
 *	int	queue_certin_read(q, max, fn, arg)
 *	int	queue_certin_done(q, seq)
 *	int	queue_certin_state(q, received, applied)
 *	int	queue_instance(q, &id)
 *	size_t	queue_cert_mac_input(rec, out)
 * DESCRIPTION
 *	The cluster role talks to the network and holds no key; the worker
 *	owns the key database and never talks to the network. Certificates
 *	cross between them through the queue, like everything else:
 *
 *	Out: queue_cert_share() stores a certificate record (a harvested
 *	certificate, a file imported with sealctl, a CRL, a private key
 *	sealed under the cluster key file, a removal by fingerprint) in "certout" under
 *	a new id, with an outbox entry of kind QUEUE_OUTBOX_CERT, in one
 *	transaction; the cluster role ships it like tracking
 *	(queue_outbox.c), and queue_outbox_done() deletes both. Without a
 *	cluster (outbox_max 0) it stores nothing and returns 0.
 *
 *	In: the cluster role puts what the database holds beyond what this
 *	node received (queue_certin_put(): "certin" seq -> record, and meta
 *	"certin_seq", the last seq received, in one transaction); the worker
 *	reads what it has not applied yet (queue_certin_read(): in seq order
 *	after meta "certin_applied", at most max), applies it to its own
 *	database and says so (queue_certin_done(): meta "certin_applied" =
 *	seq, and the records up to it deleted, their nonces noted in
 *	"certseen", where queue_cert_share() notes the nonces this node
 *	makes; queue_certin_read() marks a record whose nonce is there
 *	QUEUE_CERT_F_SEEN when it was made here, QUEUE_CERT_F_REPEAT when a
 *	row of it was applied already, in an earlier run or earlier in this
 *	one: a replay, or a batch shipped twice). queue_certin_state() gives
 *	both numbers, for the heartbeat. A row this version cannot store (a
 *	kind it does not know, as a newer node may write; no data; more than
 *	QUEUE_CERT_MAX) is stored empty, as an unreadable record, which the
 *	worker reports and passes over: refusing the page would stop every
 *	certificate after it, each try failing the same way.
 *
 *	queue_instance() is meta "instance", a random 64-bit id made on
 *	first use: which rows of the cluster this very queue's node shipped
 *	(a node rebuilt under the same name has a new queue, so it applies
 *	what its predecessor shipped instead of passing it over as its own).
 *
 *	A record is version(1) kind(1) flags(1) gateway length(2), with
 *	version 2 the mac (32), then gateway and data; queue_cert_decode()
 *	checks every length (disk input) and leaves gateway and data
 *	pointing into the bytes (gateway is not NUL-terminated on disk: it
 *	is copied into rec->gw). The mac (certs_mac(), under the cluster key
 *	file) covers queue_cert_mac_input() and the data: what the row says,
 *	not where it came from (seq, origin) nor the local flags.
 * DIAGNOSTICS
 *	0 or a negative enum sg_err; nothing here logs.
 */

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "queue_int.h"

#define CERT_VERSION	1		/* no mac */
#define CERT_VERSION_MAC 2		/* the mac after the head */
#define CERT_HEAD	5
#define MAC_LABEL	"sealgate cert 1"

_Static_assert(sizeof(MAC_LABEL) == 16, "QUEUE_CERT_MAC_INPUT counts 16 bytes of label");

int	queue_cert_encode(const struct queue_cert_rec *r, struct sg_buf *out)
{
	size_t	glen = r->gateway ? strlen(r->gateway) : 0;
	uint8_t	h[CERT_HEAD];

	if (glen >= sizeof(r->gw) || r->kind < QUEUE_CERT_IMPORT || r->kind > QUEUE_CERT_REMOVE
	    || r->len == 0 || r->len > QUEUE_CERT_MAX)
		return (SG_EINVAL);
	h[0] = r->has_mac ? CERT_VERSION_MAC : CERT_VERSION;
	h[1] = (uint8_t) r->kind;
	h[2] = (uint8_t) (r->flags & (QUEUE_CERT_F_CA | QUEUE_CERT_F_OWN));
	h[3] = (uint8_t) (glen >> 8);
	h[4] = (uint8_t) glen;
	sg_buf_append(out, h, sizeof(h));
	if (r->has_mac) {
		sg_buf_append(out, r->nonce, sizeof(r->nonce));
		sg_buf_append(out, r->mac, sizeof(r->mac));
	}
	sg_buf_append(out, r->gateway, glen);
	sg_buf_append(out, r->data, r->len);
	return (0);
}

int	queue_cert_decode(const void *data, size_t len, struct queue_cert_rec *r)
{
	const uint8_t *p = data;
	size_t	glen, head;

	memset(r, 0, sizeof(*r));
	if (len < CERT_HEAD || (p[0] != CERT_VERSION && p[0] != CERT_VERSION_MAC)
	    || p[1] < QUEUE_CERT_IMPORT || p[1] > QUEUE_CERT_REMOVE
	    || (p[2] & ~(QUEUE_CERT_F_CA | QUEUE_CERT_F_OWN)) != 0)
		return (SG_ECORRUPT);
	head = CERT_HEAD + (p[0] == CERT_VERSION_MAC ? QUEUE_CERT_NONCE + QUEUE_CERT_MAC : 0);
	glen = (size_t) p[3] << 8 | p[4];
	if (glen >= sizeof(r->gw) || len < head || len - head <= glen
	    || len - head - glen > QUEUE_CERT_MAX || memchr(p + head, 0, glen) != NULL)
		return (SG_ECORRUPT);
	r->kind = p[1];
	r->flags = p[2];
	if ((r->has_mac = p[0] == CERT_VERSION_MAC)) {
		memcpy(r->nonce, p + CERT_HEAD, QUEUE_CERT_NONCE);
		memcpy(r->mac, p + CERT_HEAD + QUEUE_CERT_NONCE, QUEUE_CERT_MAC);
	}
	memcpy(r->gw, p + head, glen);
	r->gw[glen] = 0;
	r->gateway = r->gw;
	r->data = p + head + glen;
	r->len = len - head - glen;
	return (0);
}

size_t	queue_cert_mac_input(const struct queue_cert_rec *r, uint8_t out[QUEUE_CERT_MAC_INPUT])
{
	size_t	glen = r->gateway ? strnlen(r->gateway, sizeof(r->gw) - 1) : 0, n = 0;

	memcpy(out, MAC_LABEL, sizeof(MAC_LABEL));	/* its NUL too: 16 bytes */
	n += sizeof(MAC_LABEL);
	out[n++] = (uint8_t) r->kind;
	out[n++] = (r->flags & QUEUE_CERT_F_CA) != 0;
	out[n++] = (uint8_t) (glen >> 8);
	out[n++] = (uint8_t) glen;
	if (glen)
		memcpy(out + n, r->gateway, glen);
	n += glen;
	memcpy(out + n, r->nonce, QUEUE_CERT_NONCE);
	n += QUEUE_CERT_NONCE;
	queue_put_be64(out + n, (uint64_t) r->len);
	return (n + 8);
}

/*
 * seen_put - r's nonce was made ('m') or applied ('a') here: its row is
 * not applied again (a made one stays marked made)
 */
static int seen_put(struct queue *q, MDB_txn *txn, const struct queue_cert_rec *r, char how)
{
	MDB_val	k = {QUEUE_CERT_NONCE, (void *) r->nonce}, d = {1, &how};
	int	rc;

	if (q->db_certseen == 0)
		return (0);
	rc = mdb_put(txn, q->db_certseen, &k, &d, how == 'a' ? MDB_NOOVERWRITE : 0);
	return (rc == MDB_KEYEXIST ? 0 : queue_err(rc));
}

/* seen - QUEUE_CERT_F_SEEN, _F_REPEAT or 0: what this node did with r's nonce */

static unsigned seen(struct queue *q, MDB_txn *txn, const struct queue_cert_rec *r)
{
	MDB_val	k = {QUEUE_CERT_NONCE, (void *) r->nonce}, d;

	if (q->db_certseen == 0 || !r->has_mac || mdb_get(txn, q->db_certseen, &k, &d) != 0)
		return (0);
	return (d.mv_size == 1 && *(const char *) d.mv_data == 'm' ? QUEUE_CERT_F_SEEN
		: QUEUE_CERT_F_REPEAT);
}

int	queue_cert_share(struct queue *q, const struct queue_cert_rec *r)
{
	struct sg_buf b = SG_BUF_INIT;
	uint8_t	kb[8];
	MDB_val	k = {8, kb}, d;
	MDB_txn *txn;
	uint64_t id;
	int	err;

	if (q->conf.outbox_max == 0 || q->db_certout == 0)
		return (0);
	if ((err = queue_cert_encode(r, &b)) != 0)
		return (err);
	if ((err = queue_txn_begin(q, false, &txn)) != 0) {
		sg_buf_free(&b);
		return (err);
	}
	if ((err = queue_new_id(q, txn, &id)) == 0) {
		queue_put_be64(kb, id);
		d.mv_size = b.len;
		d.mv_data = b.data;
		err = queue_err(mdb_put(txn, q->db_certout, &k, &d, 0));
	}
	if (err == 0)
		err = queue_outbox_put(q, txn, QUEUE_OUTBOX_CERT, id);
	if (err == 0 && r->has_mac)
		err = seen_put(q, txn, r, 'm');
	sg_buf_free(&b);
	if (err) {
		queue_txn_abort(txn);
		return (err);
	}
	return (queue_txn_commit(txn));
}

int	queue_certin_put(struct queue *q, const struct queue_cert_rec *recs, size_t n)
{
	struct sg_buf b = SG_BUF_INIT;
	uint8_t	kb[8];
	MDB_val	k = {8, kb}, d;
	MDB_txn *txn;
	uint64_t last = 0;
	int	err;

	if (n == 0 || q->db_certin == 0)
		return (0);
	if ((err = queue_txn_begin(q, false, &txn)) != 0)
		return (err);
	if ((err = queue_meta_get(q, txn, "certin_seq", &last)) != 0)
		goto out;
	for (size_t i = 0; i < n && err == 0; i++) {
		if (recs[i].seq <= last)
			continue;		/* had it already */
		sg_buf_reset(&b);
		if (queue_cert_encode(&recs[i], &b) != 0)
			sg_buf_reset(&b);	/* unreadable: passed over, never in the way */
		queue_put_be64(kb, recs[i].seq);
		d.mv_size = b.len;
		d.mv_data = b.data;
		if ((err = queue_err(mdb_put(txn, q->db_certin, &k, &d, 0))) == 0)
			err = queue_meta_put(q, txn, "certin_seq", last = recs[i].seq);
	}
out:
	sg_buf_free(&b);
	if (err) {
		queue_txn_abort(txn);
		return (err);
	}
	return (queue_txn_commit(txn));
}

int	queue_certin_read(struct queue *q, size_t max,
			  int (*fn) (const struct queue_cert_rec *, void *), void *arg)
{
	struct queue_cert_rec r;
	uint8_t	kb[8], (*given)[QUEUE_CERT_NONCE];
	MDB_val	k = {8, kb}, d;
	MDB_cursor *c;
	MDB_txn *txn;
	uint64_t applied;
	size_t	n = 0, ngiven = 0;
	int	err, rc;

	if (q->db_certin == 0 || max == 0)
		return (0);
	if ((err = queue_txn_begin(q, true, &txn)) != 0)
		return (err);
	if ((err = queue_meta_get(q, txn, "certin_applied", &applied)) != 0
	    || (err = queue_err(mdb_cursor_open(txn, q->db_certin, &c))) != 0) {
		queue_txn_abort(txn);
		return (err);
	}
	queue_put_be64(kb, applied + 1);
	given = sg_xcalloc(max, sizeof(*given));
	for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0 && n < max && err == 0;
	     rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
		if (k.mv_size != 8)
			continue;
		if (queue_cert_decode(d.mv_data, d.mv_size, &r) != 0)
			memset(&r, 0, sizeof(r));	/* fn skips it, and it is done all the same */
		else if (r.has_mac) {
			r.flags |= seen(q, txn, &r);
			/* a copy of a row handed out before in this call: not in certseen yet */
			for (size_t i = 0; i < ngiven; i++)
				if (memcmp(given[i], r.nonce, QUEUE_CERT_NONCE) == 0)
					r.flags |= QUEUE_CERT_F_REPEAT;
			memcpy(given[ngiven++], r.nonce, QUEUE_CERT_NONCE);
		}
		r.seq = queue_get_be64(k.mv_data);
		err = fn(&r, arg);
		n++;
	}
	free(given);
	mdb_cursor_close(c);
	queue_txn_abort(txn);
	return (err);
}

int	queue_certin_done(struct queue *q, uint64_t seq)
{
	MDB_val	k, d;
	MDB_cursor *c;
	MDB_txn *txn;
	int	err, rc;

	if (q->db_certin == 0)
		return (0);
	if ((err = queue_txn_begin(q, false, &txn)) != 0)
		return (err);
	if ((err = queue_meta_put(q, txn, "certin_applied", seq)) == 0
	    && (err = queue_err(mdb_cursor_open(txn, q->db_certin, &c))) == 0) {
		while ((rc = mdb_cursor_get(c, &k, &d, MDB_FIRST)) == 0 && k.mv_size == 8
		       && queue_get_be64(k.mv_data) <= seq && err == 0) {
			struct queue_cert_rec r;

			/* copied from the page first: the put may move it */
			if (queue_cert_decode(d.mv_data, d.mv_size, &r) == 0 && r.has_mac
			    && (err = seen_put(q, txn, &r, 'a')) != 0)
				break;
			err = queue_err(mdb_cursor_del(c, 0));
		}
		mdb_cursor_close(c);
	}
	if (err) {
		queue_txn_abort(txn);
		return (err);
	}
	return (queue_txn_commit(txn));
}

int	queue_certin_state(struct queue *q, uint64_t *received, uint64_t *applied)
{
	MDB_txn *txn;
	int	err;

	*received = *applied = 0;
	if ((err = queue_txn_begin(q, true, &txn)) != 0)
		return (err);
	if ((err = queue_meta_get(q, txn, "certin_seq", received)) == 0)
		err = queue_meta_get(q, txn, "certin_applied", applied);
	queue_txn_abort(txn);
	return (err);
}

int	queue_instance(struct queue *q, uint64_t *id)
{
	MDB_txn *txn;
	int	err;

	*id = 0;
	if ((err = queue_txn_begin(q, false, &txn)) != 0)
		return (err);
	if ((err = queue_meta_get(q, txn, "instance", id)) == 0 && *id == 0) {
		while (*id == 0 && err == 0)
			if (getrandom(id, sizeof(*id), 0) != (ssize_t) sizeof(*id))
				err = SG_EIO;
		if (err == 0)
			err = queue_meta_put(q, txn, "instance", *id);
	}
	if (err) {
		queue_txn_abort(txn);
		*id = 0;
		return (err);
	}
	return (queue_txn_commit(txn));
}
