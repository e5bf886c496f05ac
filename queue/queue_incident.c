/*
 * NAME
 *	queue_incident 3
 * SUMMARY
 *	crypto incidents: add, get, list, acknowledge
 * SYNOPSIS
 *	#include "queue/queue.h"
 *
 *	int	queue_incident_add(q, inc, idp)
 *	int	queue_incident_get(q, id, inc)
 *	void	queue_incident_free(inc)
 *	int	queue_incident_list(q, all, cursor, fn, arg)
 *	int	queue_incident_ack(q, id, by)
 * DESCRIPTION
 *	Incidents take ids from the same generator as messages, so they
 *	sort by time and print the same way. They are kept until an
 *	operator acknowledges them, and after (for the record).
 */

#include <stdlib.h>
#include <string.h>

#include "queue_int.h"

#define LIST_PAGE 500

static int inc_put(struct queue *q, MDB_txn *txn, const struct queue_incident *inc)
{
	struct sg_buf b = SG_BUF_INIT;
	uint8_t	kb[8];
	MDB_val	k = {8, kb}, d;
	int	err;

	if ((err = queue_incident_encode(inc, &b)) != 0)
		return (err);
	queue_put_be64(kb, inc->id);
	d.mv_size = b.len;
	d.mv_data = b.data;
	err = queue_err(mdb_put(txn, q->db_inc, &k, &d, 0));
	sg_buf_free(&b);
	return (err);
}

int	queue_incident_add(struct queue *q, const struct queue_incident *in, uint64_t *id)
{
	struct queue_incident inc = *in;
	MDB_txn *txn;
	int	err;

	if ((err = queue_txn_begin(q, false, &txn)) != 0)
		return (err);
	inc.time_ms = in->time_ms > 0 ? in->time_ms : sg_now_ms();
	inc.ack_ms = 0;
	inc.ack_by = NULL;
	if ((err = queue_new_id(q, txn, &inc.id)) != 0 || (err = inc_put(q, txn, &inc)) != 0 ||
	    (err = queue_counter_add(q, txn, QUEUE_C_INCIDENTS, 1)) != 0) {
		mdb_txn_abort(txn);
		return (err);
	}
	if ((err = queue_txn_commit(txn)) == 0 && id)
		*id = inc.id;
	return (err);
}

/* load - copy one incident out of txn into inc (which then owns it) */

static int load(struct queue *q, MDB_txn *txn, uint64_t id, struct queue_incident *inc)
{
	uint8_t	kb[8];
	MDB_val	k = {8, kb}, d;
	int	rc, err;

	queue_put_be64(kb, id);
	if ((rc = mdb_get(txn, q->db_inc, &k, &d)) != 0)
		return (queue_err(rc));
	free(inc->raw);
	inc->raw = sg_xmemdup(d.mv_data, d.mv_size ? d.mv_size : 1);
	if ((err = queue_incident_decode(inc->raw, d.mv_size, inc)) != 0)
		return (err);
	return (inc->id == id ? 0 : SG_ECORRUPT);
}

int	queue_incident_get(struct queue *q, uint64_t id, struct queue_incident *inc)
{
	MDB_txn *txn;
	int	err;

	memset(inc, 0, sizeof(*inc));
	if ((err = queue_txn_begin(q, true, &txn)) != 0)
		return (err);
	err = load(q, txn, id, inc);
	mdb_txn_abort(txn);
	return (err);
}

void	queue_incident_free(struct queue_incident *inc)
{
	free(inc->raw);
	memset(inc, 0, sizeof(*inc));
}

static int list_page(struct queue *q, bool all, uint64_t *cursor, size_t *count, int *stop,
		     int (*fn) (const struct queue_incident *, void *), void *arg)
{
	struct queue_incident inc;
	uint8_t	kb[8];
	MDB_val	k = {8, kb}, d;
	MDB_txn *txn;
	MDB_cursor *c;
	int	rc, err;

	if ((err = queue_txn_begin(q, true, &txn)) != 0)
		return (err);
	if ((rc = mdb_cursor_open(txn, q->db_inc, &c)) != 0) {
		mdb_txn_abort(txn);
		return (queue_err(rc));
	}
	memset(&inc, 0, sizeof(inc));
	queue_put_be64(kb, *cursor + 1);
	for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0 && *count < LIST_PAGE;
	     rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
		(*count)++;
		*cursor = k.mv_size == 8 ? queue_get_be64(k.mv_data) : *cursor;
		if (queue_incident_decode(d.mv_data, d.mv_size, &inc) != 0)
			continue;	/* an undecodable incident is skipped, not fatal */
		if (!all && inc.ack_ms != 0)
			continue;
		if ((*stop = fn(&inc, arg)) != 0)
			break;
	}
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return (rc == 0 || rc == MDB_NOTFOUND ? 0 : queue_err(rc));
}

int	queue_incident_list(struct queue *q, bool all, uint64_t *cursor,
			    int (*fn) (const struct queue_incident *, void *), void *arg)
{
	size_t	count;
	int	err, stop = 0;

	do {
		count = 0;
		err = list_page(q, all, cursor, &count, &stop, fn, arg);
	} while (err == 0 && stop == 0 && count == LIST_PAGE && *cursor != UINT64_MAX);
	return (err ? err : stop);
}

int	queue_incident_ack(struct queue *q, uint64_t id, const char *by)
{
	struct queue_incident inc;
	MDB_txn *txn;
	int	err;

	memset(&inc, 0, sizeof(inc));
	if ((err = queue_txn_begin(q, false, &txn)) != 0)
		return (err);
	if ((err = load(q, txn, id, &inc)) == 0) {
		if (inc.ack_ms != 0) {
			err = SG_EEXIST;
		} else {
			inc.ack_ms = sg_now_ms();
			inc.ack_by = by ? by : "";
			err = inc_put(q, txn, &inc);
		}
	}
	queue_incident_free(&inc);
	if (err) {
		mdb_txn_abort(txn);
		return (err);
	}
	return (queue_txn_commit(txn));
}
