/*
 * NAME
 *	queue_outbox 3
 * SUMMARY
 *	the cluster outbox: tracking records and incidents still to ship
 * SYNOPSIS
 *	#include "queue/queue.h"
 *
 *	int	queue_outbox_read(q, max, fn, arg)
 *	int	queue_outbox_done(q, items, n)
 *	int	queue_outbox_stat(q, st)
 *	int	queue_outbox_parse(key, klen, val, vlen, item)
 *
 *	#include "queue_int.h"
 *
 *	int	queue_outbox_put(q, txn, kind, id)
 * DESCRIPTION
 *	With a cluster configured (queue_conf.outbox_max > 0) every write of
 *	a tracking record or an incident also writes an outbox entry, in the
 *	same transaction (queue_outbox_put(), called by queue_track_store()
 *	and the incident writer): the cluster role ships what the entries
 *	name to PostgreSQL and deletes them once that is committed there, so
 *	nothing is lost while the database is down and there is no window
 *	where a record exists and its entry does not.
 *
 *	An entry is key kind(1) id(8) -> the LMDB transaction id that wrote
 *	it last (8 bytes); kind 3 is a certificate to share (queue_certs.c).
 *	The key names the record, not a copy of it: a
 *	record written again (an incident counted once more, acknowledged)
 *	is one entry, and the shipper sends the record as it is when it
 *	ships. The value tells versions apart: queue_outbox_done() deletes an
 *	entry only when it still holds the transaction id the shipper read,
 *	so a record written again while its batch was in flight is shipped
 *	again, never forgotten. Incident keys (kind 1) sort before tracking
 *	keys (kind 2); ids sort by time.
 *
 *	The outbox is bounded: past outbox_max entries, each new tracking
 *	entry drops the oldest tracking entry and counts it in meta
 *	"outbox_dropped" (the cluster role warns when that moves). Incidents
 *	are never dropped.
 *
 *	queue_outbox_read() calls fn for up to max entries in key order, in
 *	one read transaction, with the record each names (item->env for
 *	tracking, item->inc for an incident, item->raw/raw_len its stored
 *	bytes) or item->gone when the record is no longer there (tracking
 *	pruned meanwhile). Everything is valid during the call only. A
 *	record that fails to decode is given as gone too: it can never be
 *	shipped, and keeping its entry would stop the outbox.
 *
 *	queue_outbox_parse() checks one entry's key and value (untrusted:
 *	read from disk) and fills item's kind, id and txn; SG_ECORRUPT when
 *	either is malformed.
 * DIAGNOSTICS
 *	0 or a negative enum sg_err; nothing here logs.
 */

#include <string.h>

#include "queue_int.h"

#define KEY_LEN 9

int	queue_outbox_parse(const void *key, size_t klen, const void *val, size_t vlen,
			   struct queue_outbox_item *item)
{
	const uint8_t *k = key;

	if (klen != KEY_LEN || vlen != 8)
		return (SG_ECORRUPT);
	if (k[0] < QUEUE_OUTBOX_INCIDENT || k[0] > QUEUE_OUTBOX_CERT)
		return (SG_ECORRUPT);
	item->kind = k[0];
	item->id = queue_get_be64(k + 1);
	item->txn = queue_get_be64(val);
	return (0);
}

/* drop_oldest_track - the outbox is full: the oldest tracking entry goes */

static int drop_oldest_track(struct queue *q, MDB_txn *txn)
{
	uint8_t	kb[KEY_LEN] = {QUEUE_OUTBOX_TRACK};
	MDB_val	k = {KEY_LEN, kb}, d;
	MDB_cursor *c;
	uint64_t dropped;
	int	rc, err;

	if ((rc = mdb_cursor_open(txn, q->db_outbox, &c)) != 0)
		return (queue_err(rc));
	rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
	if (rc == 0)
		rc = mdb_cursor_del(c, 0);
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		return (0);		/* only incidents: those stay */
	if (rc != 0)
		return (queue_err(rc));
	if ((err = queue_meta_get(q, txn, "outbox_dropped", &dropped)) != 0)
		return (err);
	return (queue_meta_put(q, txn, "outbox_dropped", dropped + 1));
}

int	queue_outbox_put(struct queue *q, MDB_txn *txn, int kind, uint64_t id)
{
	uint8_t	kb[KEY_LEN], vb[8];
	MDB_val	k = {KEY_LEN, kb}, d = {8, vb};
	MDB_stat st;
	int	rc;

	if (q->conf.outbox_max == 0 || q->db_outbox == 0)
		return (0);
	kb[0] = (uint8_t) kind;
	queue_put_be64(kb + 1, id);
	queue_put_be64(vb, (uint64_t) mdb_txn_id(txn));
	if ((rc = mdb_put(txn, q->db_outbox, &k, &d, 0)) != 0)
		return (queue_err(rc));
	if (kind != QUEUE_OUTBOX_TRACK || mdb_stat(txn, q->db_outbox, &st) != 0
	    || st.ms_entries <= q->conf.outbox_max)
		return (0);
	return (drop_oldest_track(q, txn));
}

/* load_record - the record an entry names, into item (gone when it is not there) */

static void load_record(struct queue *q, MDB_txn *txn, struct queue_outbox_item *item)
{
	uint8_t	kb[8];
	MDB_val	k = {8, kb}, d;
	MDB_dbi	dbi = item->kind == QUEUE_OUTBOX_TRACK ? q->db_track
		: item->kind == QUEUE_OUTBOX_CERT ? q->db_certout : q->db_inc;

	queue_put_be64(kb, item->id);
	item->gone = true;
	if (mdb_get(txn, dbi, &k, &d) != 0)
		return;
	item->raw = d.mv_data;
	item->raw_len = d.mv_size;
	if (item->kind == QUEUE_OUTBOX_TRACK)
		item->gone = queue_env_decode(d.mv_data, d.mv_size, &item->env) != 0;
	else if (item->kind == QUEUE_OUTBOX_CERT)
		item->gone = queue_cert_decode(d.mv_data, d.mv_size, &item->cert) != 0;
	else
		item->gone = queue_incident_decode(d.mv_data, d.mv_size, &item->inc) != 0;
}

int	queue_outbox_read(struct queue *q, size_t max,
			  int (*fn) (const struct queue_outbox_item *, void *), void *arg)
{
	struct queue_outbox_item item;
	MDB_cursor *c;
	MDB_txn *txn;
	MDB_val	k, d;
	size_t	n = 0;
	int	rc, err;

	if (q->db_outbox == 0)
		return (0);
	if ((err = queue_txn_begin(q, true, &txn)) != 0)
		return (err);
	if ((rc = mdb_cursor_open(txn, q->db_outbox, &c)) != 0) {
		queue_txn_abort(txn);
		return (queue_err(rc));
	}
	memset(&item, 0, sizeof(item));
	queue_env_init(&item.env);
	for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0 && n < max && err == 0;
	     rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
		if (queue_outbox_parse(k.mv_data, k.mv_size, d.mv_data, d.mv_size, &item) != 0)
			continue;	/* not ours to judge: left for an operator */
		item.raw = NULL;
		item.raw_len = 0;
		load_record(q, txn, &item);
		err = fn(&item, arg);
		n++;
	}
	queue_env_free(&item.env);
	mdb_cursor_close(c);
	queue_txn_abort(txn);
	if (err == 0 && rc != 0 && rc != MDB_NOTFOUND)
		err = queue_err(rc);
	return (err);
}

int	queue_outbox_done(struct queue *q, const struct queue_outbox_item *items, size_t n)
{
	uint8_t	kb[KEY_LEN];
	MDB_val	k = {KEY_LEN, kb}, d;
	MDB_txn *txn;
	int	rc, err;

	if (n == 0 || q->db_outbox == 0)
		return (0);
	if ((err = queue_txn_begin(q, false, &txn)) != 0)
		return (err);
	for (size_t i = 0; i < n && err == 0; i++) {
		kb[0] = (uint8_t) items[i].kind;
		queue_put_be64(kb + 1, items[i].id);
		rc = mdb_get(txn, q->db_outbox, &k, &d);
		/* written again since it was read: the newer version ships next */
		if (rc == 0 && d.mv_size == 8 && queue_get_be64(d.mv_data) == items[i].txn)
			rc = mdb_del(txn, q->db_outbox, &k, NULL);
		/* a shared certificate is written once: its record goes with its entry */
		if (rc == 0 && items[i].kind == QUEUE_OUTBOX_CERT)
			rc = mdb_del(txn, q->db_certout, &(MDB_val) {8, kb + 1}, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			err = queue_err(rc);
	}
	if (err) {
		queue_txn_abort(txn);
		return (err);
	}
	return (queue_txn_commit(txn));
}

int	queue_outbox_stat(struct queue *q, struct queue_outbox_stat *st)
{
	uint8_t	kb[KEY_LEN] = {QUEUE_OUTBOX_TRACK};
	MDB_val	k = {KEY_LEN, kb}, d;
	MDB_cursor *c;
	MDB_stat ms;
	MDB_txn *txn;
	int	err, rc;

	memset(st, 0, sizeof(*st));
	if (q->db_outbox == 0)
		return (0);
	if ((err = queue_txn_begin(q, true, &txn)) != 0)
		return (err);
	if ((rc = mdb_stat(txn, q->db_outbox, &ms)) == 0)
		st->entries = ms.ms_entries;
	err = queue_meta_get(q, txn, "outbox_dropped", &st->dropped);
	/* the oldest tracking entry: how far behind shipping is */
	if (err == 0 && rc == 0 && (rc = mdb_cursor_open(txn, q->db_outbox, &c)) == 0) {
		if (mdb_cursor_get(c, &k, &d, MDB_SET_RANGE) == 0 && k.mv_size == KEY_LEN)
			st->oldest_track_id = queue_get_be64((const uint8_t *) k.mv_data + 1);
		mdb_cursor_close(c);
	}
	queue_txn_abort(txn);
	return (err ? err : queue_err(rc));
}
