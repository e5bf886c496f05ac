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
 *
 *	Failures of one cause (kind, rule and text) while its incident is
 *	open are counted in that incident: a missing signing certificate
 *	under load is one incident with a count, not thousands. The
 *	"incopen" table maps a hash of the cause to its open incident; an
 *	acknowledgement takes it out, so the next failure opens a new one.
 *	A hash that points to an incident of another cause (a collision)
 *	only costs a second incident.
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
	/* every write of an incident is shipped to a cluster: count, ack */
	if (err == 0)
		err = queue_outbox_put(q, txn, QUEUE_OUTBOX_INCIDENT, inc->id);
	return (err);
}

/* cause_key - the open-incident index key: a hash of kind, rule and text */

static void cause_key(const struct queue_incident *inc, uint8_t kb[8])
{
	const char *parts[] = {inc->kind, inc->rule, inc->text};
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	for (size_t i = 0; i < SG_NELEM(parts); i++)
		for (const unsigned char *p = (const unsigned char *) (parts[i] ? parts[i] : "");; p++) {
			h = (h ^ *p) * 1099511628211ULL;
			if (*p == 0)
				break;
		}
	queue_put_be64(kb, h);
}

static bool same_cause(const struct queue_incident *a, const struct queue_incident *b)
{
	return (strcmp(a->kind, b->kind ? b->kind : "") == 0
		&& strcmp(a->rule, b->rule ? b->rule : "") == 0
		&& strcmp(a->text, b->text ? b->text : "") == 0);
}

static int load(struct queue *, MDB_txn *, uint64_t, struct queue_incident *);

/* count_in - one more failure in the open incident g: 0, or 1 if g is not it */

static int count_in(struct queue *q, MDB_txn *txn, struct queue_incident *g,
		    const struct queue_incident *in, int64_t now)
{
	struct sg_buf ids = SG_BUF_INIT;
	uint8_t	b[8];
	int	err;

	if (g->ack_ms != 0 || !same_cause(g, in))
		return (1);
	g->count++;
	g->last_ms = now;
	sg_buf_append(&ids, g->msgs, 8 * g->nmsgs);
	/* the same message failing again (processed twice) is listed once */
	if (in->msg_id && g->nmsgs < QUEUE_INCIDENT_MSGS
	    && (g->nmsgs == 0 || queue_incident_msg(g, g->nmsgs - 1) != in->msg_id)) {
		queue_put_be64(b, in->msg_id);
		sg_buf_append(&ids, b, 8);
	}
	g->msgs = (const uint8_t *) ids.data;
	g->nmsgs = ids.len / 8;
	err = inc_put(q, txn, g);
	sg_buf_free(&ids);
	return (err);
}

/* open_new - a new incident for this cause, indexed as its open one */

static int open_new(struct queue *q, MDB_txn *txn, const struct queue_incident *in,
		    const uint8_t kb[8], int64_t now, uint64_t *id)
{
	struct queue_incident inc = *in;
	uint8_t	mb[8], vb[8];
	MDB_val	k = {8, (void *) kb}, v = {8, vb};
	int	err;

	inc.time_ms = inc.last_ms = in->time_ms > 0 ? in->time_ms : now;
	inc.count = 1;
	inc.ack_ms = 0;
	inc.ack_by = NULL;
	inc.msgs = NULL;
	inc.nmsgs = 0;
	if (in->msg_id) {
		queue_put_be64(mb, in->msg_id);
		inc.msgs = mb;
		inc.nmsgs = 1;
	}
	if ((err = queue_new_id(q, txn, &inc.id)) != 0 || (err = inc_put(q, txn, &inc)) != 0)
		return (err);
	queue_put_be64(vb, inc.id);
	*id = inc.id;
	return (queue_err(mdb_put(txn, q->db_incopen, &k, &v, 0)));
}

int	queue_incident_add(struct queue *q, const struct queue_incident *in, uint64_t *id,
			   bool *created)
{
	struct queue_incident g;
	uint8_t	kb[8];
	MDB_val	k = {8, kb}, v;
	MDB_txn *txn;
	int64_t	now = sg_now_ms();
	uint64_t gid = 0;
	int	err, rc;

	if ((err = queue_txn_begin(q, false, &txn)) != 0)
		return (err);
	queue_history_mark(q, txn);
	memset(&g, 0, sizeof(g));
	cause_key(in, kb);
	err = 1;				/* 1: no open incident takes it */
	if ((rc = mdb_get(txn, q->db_incopen, &k, &v)) == 0 && v.mv_size == 8) {
		gid = queue_get_be64(v.mv_data);
		/* a lost or reused slot (hash collision) just opens a new incident */
		if (load(q, txn, gid, &g) == 0)
			err = count_in(q, txn, &g, in, now);
	} else if (rc != MDB_NOTFOUND)
		err = queue_err(rc);
	if (created)
		*created = err == 1;
	if (err == 1)
		err = open_new(q, txn, in, kb, now, &gid);
	queue_incident_free(&g);
	if (err == 0)
		err = queue_counter_add(q, txn, QUEUE_C_INCIDENTS, 1);
	if (err) {
		queue_txn_abort(txn);
		return (err);
	}
	if ((err = queue_txn_commit(txn)) == 0 && id)
		*id = gid;
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
	queue_txn_abort(txn);
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
		queue_txn_abort(txn);
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
	queue_txn_abort(txn);
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

/* close_cause - an acknowledged incident is no longer its cause's open one */

static int close_cause(struct queue *q, MDB_txn *txn, const struct queue_incident *inc)
{
	uint8_t	kb[8];
	MDB_val	k = {8, kb}, v;
	int	rc;

	cause_key(inc, kb);
	if ((rc = mdb_get(txn, q->db_incopen, &k, &v)) == MDB_NOTFOUND)
		return (0);
	if (rc != 0)
		return (queue_err(rc));
	if (v.mv_size == 8 && queue_get_be64(v.mv_data) != inc->id)
		return (0);
	return (queue_err(mdb_del(txn, q->db_incopen, &k, NULL)));
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
			if ((err = inc_put(q, txn, &inc)) == 0)
				err = close_cause(q, txn, &inc);
		}
	}
	queue_incident_free(&inc);
	if (err) {
		queue_txn_abort(txn);
		return (err);
	}
	return (queue_txn_commit(txn));
}
