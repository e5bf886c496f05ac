/*
 * NAME
 *	cluster_ship 3
 * SUMMARY
 *	the SQL that ships outbox records to PostgreSQL
 * SYNOPSIS
 *	#include "cluster/cluster.h"
 *
 *	void	cluster_batch_add(b, node, item)
 *	void	cluster_batch_sql(b, sql)
 *	void	cluster_batch_reset(b)
 *	void	cluster_batch_free(b)
 *	void	cluster_sql_str(out, s, len)
 * DESCRIPTION
 *	cluster_batch_add() adds one outbox item (a gone one is skipped) to
 *	a batch; cluster_batch_sql() appends the batch's SQL to sql: one
 *	multi-row INSERT ... ON CONFLICT (node, id) DO UPDATE per table of
 *	tracking records and incidents, a statement per certificate row,
 *	sent by the role as one simple query: one transaction, one round
 *	trip per batch.
 *	The upsert is what makes shipping idempotent: a batch committed in
 *	PostgreSQL whose outbox entries were not yet deleted (the role or
 *	the connection died in between) is shipped again and changes
 *	nothing. An incident's acknowledgement may have been made on another
 *	node: the row keeps an existing one.
 *
 *	Literals, not parameters: a batch of 500 rows would need thousands
 *	of parameters, and the text goes through cluster_sql_str(), which
 *	quotes and cleans every byte of it. Records go hex-encoded.
 * SECURITY
 *	Every string is untrusted (senders, subjects, recipients come from
 *	the internet): it only ever reaches SQL through cluster_sql_str().
 */

#include <string.h>

#include "cluster.h"

void	cluster_sql_str(struct sg_buf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t	i = 0, n;

	sg_buf_puts(out, "E'");
	while (i < len) {
		n = p[i] < 0x80 ? 1 : sg_utf8_len(p + i, len - i);
		if (n == 0 || p[i] < 0x20 || p[i] == 0x7f) {
			sg_buf_putc(out, p[i] == '\t' ? ' ' : '?');
			i++;
			continue;
		}
		if (p[i] == '\'' || p[i] == '\\')
			sg_buf_putc(out, p[i]);
		sg_buf_append(out, p + i, n);
		i += n;
	}
	sg_buf_putc(out, '\'');
}

static void put_str(struct sg_buf *out, const char *s)
{
	cluster_sql_str(out, s ? s : "", s ? strlen(s) : 0);
}

static void put_bytes(struct sg_buf *out, const void *data, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = data;

	sg_buf_puts(out, "decode('");
	sg_buf_reserve(out, 2 * len + 16);
	for (size_t i = 0; i < len; i++) {
		sg_buf_putc(out, hex[p[i] >> 4]);
		sg_buf_putc(out, hex[p[i] & 15]);
	}
	sg_buf_puts(out, "','hex')");
}

static void put_time(struct sg_buf *out, int64_t ms)
{
	sg_buf_printf(out, "to_timestamp(%lld/1000.0)", (long long) ms);
}

/* row_start - "(node,id,time," : how every row of a node's record begins */

static void row_start(struct sg_buf *sql, const char *node, uint64_t id, int64_t ms)
{
	sg_buf_putc(sql, '(');
	put_str(sql, node);
	sg_buf_printf(sql, ",%lld,", (long long) id);
	put_time(sql, ms);
	sg_buf_putc(sql, ',');
}

static void track_row(struct sg_buf *sql, const char *node, const struct queue_outbox_item *it)
{
	const struct queue_env *e = &it->env;

	row_start(sql, node, e->id, e->arrival_ms);
	put_str(sql, e->sender);
	sg_buf_puts(sql, ",ARRAY[");
	for (size_t i = 0; i < e->nrcpt; i++) {
		if (i)
			sg_buf_putc(sql, ',');
		put_str(sql, e->rcpt[i].addr);
	}
	sg_buf_puts(sql, "]::text[],");
	put_str(sql, e->subject);
	sg_buf_putc(sql, ',');
	put_str(sql, queue_track_status_word(e));
	sg_buf_printf(sql, ",%d,", (int) e->direction);
	put_bytes(sql, it->raw, it->raw_len);
	sg_buf_putc(sql, ')');
}

static void incident_row(struct sg_buf *sql, const char *node,
			 const struct queue_outbox_item *it)
{
	const struct queue_incident *inc = &it->inc;

	row_start(sql, node, inc->id, inc->time_ms);
	put_time(sql, inc->last_ms);
	sg_buf_printf(sql, ",%llu,", (unsigned long long) inc->count);
	put_str(sql, inc->kind);
	sg_buf_printf(sql, ",%lld,", (long long) inc->ack_ms);
	put_str(sql, inc->ack_by);
	sg_buf_putc(sql, ',');
	put_bytes(sql, it->raw, it->raw_len);
	sg_buf_putc(sql, ')');
}

static void cert_row(struct sg_buf *sql, const char *node, const struct queue_outbox_item *it)
{
	const struct queue_cert_rec *r = &it->cert;

	sg_buf_printf(sql, "(%d,%s,", r->kind, r->flags & QUEUE_CERT_F_CA ? "true" : "false");
	put_str(sql, r->gateway);
	sg_buf_putc(sql, ',');
	put_bytes(sql, r->data, r->len);
	sg_buf_putc(sql, ',');
	put_str(sql, node);
	sg_buf_putc(sql, ',');
	if (r->has_mac) {			/* nonce then mac, one column */
		uint8_t	auth[QUEUE_CERT_NONCE + QUEUE_CERT_MAC];

		memcpy(auth, r->nonce, QUEUE_CERT_NONCE);
		memcpy(auth + QUEUE_CERT_NONCE, r->mac, QUEUE_CERT_MAC);
		put_bytes(sql, auth, sizeof(auth));
	} else {
		sg_buf_puts(sql, "NULL");
	}
	sg_buf_putc(sql, ')');
}

static const char track_head[] =
	"INSERT INTO sg_track (node,id,arrival,sender,rcpts,subject,status,direction,record) "
	"VALUES ";
static const char track_tail[] =
	" ON CONFLICT (node,id) DO UPDATE SET arrival=EXCLUDED.arrival,"
	"sender=EXCLUDED.sender,rcpts=EXCLUDED.rcpts,subject=EXCLUDED.subject,"
	"status=EXCLUDED.status,direction=EXCLUDED.direction,record=EXCLUDED.record,"
	"shipped=now();";
static const char incident_head[] =
	"INSERT INTO sg_incident (node,id,time,last,count,kind,ack_ms,ack_by,record) VALUES ";
/* an acknowledgement made anywhere stays; the node's own record wins the rest */
static const char incident_tail[] =
	" ON CONFLICT (node,id) DO UPDATE SET last=EXCLUDED.last,count=EXCLUDED.count,"
	"record=EXCLUDED.record,"
	"ack_by=CASE WHEN sg_incident.ack_ms<>0 THEN sg_incident.ack_by ELSE EXCLUDED.ack_by END,"
	"ack_ms=CASE WHEN sg_incident.ack_ms<>0 THEN sg_incident.ack_ms ELSE EXCLUDED.ack_ms END;";

/*
 * The same harvest twice (two nodes harvest one certificate): stored once
 * (the schema's fp: other rows never conflict), under the later one's
 * nonce and mac and a new seq, so that a harvest stored without a mac (an
 * older node's, or one written by hand) cannot keep a real one out; one
 * without a mac never replaces one with, and the same row shipped again
 * (a batch whose outbox entries were not deleted yet) changes nothing.
 * A removal takes the
 * harvests of its certificate before it out of the table (its data is
 * the fingerprint, which is a harvest's fp): a node that has not read
 * them need not apply what is removed, and a later harvest of the same
 * certificate is a new row that reaches every node, where it conflicted
 * with the old one and was dropped. A statement per row, so that a
 * removal and a harvest in one batch keep their order.
 * The lock makes the seq order the commit order (held until the batch
 * commits; readers never wait): a node that read up to seq N never misses
 * an N - 1 that committed later.
 */
_Static_assert(QUEUE_CERT_HARVEST == 2, "kind = 2 in cert_unharvest and in schema version 3");
static const char cert_head[] = "LOCK TABLE sg_cert IN SHARE ROW EXCLUSIVE MODE;";
static const char cert_insert[] = "INSERT INTO sg_cert (kind,ca,gateway,data,origin,mac) VALUES ";
static const char cert_conflict[] = " ON CONFLICT (fp) DO UPDATE SET seq = nextval('sg_cert_seq'),"
	" origin = EXCLUDED.origin, mac = EXCLUDED.mac, added = now()"
	" WHERE EXCLUDED.mac IS NOT NULL AND sg_cert.mac IS DISTINCT FROM EXCLUDED.mac;";
static const char cert_unharvest[] = "DELETE FROM sg_cert WHERE kind = 2 AND fp = ";
static const char cert_tail[] = "NOTIFY sg_cert;";

void	cluster_batch_add(struct cluster_batch *b, const char *node,
			  const struct queue_outbox_item *it)
{
	if (it->gone)
		return;
	if (it->kind == QUEUE_OUTBOX_CERT) {
		if (b->ncert++ == 0)
			sg_buf_puts(&b->cert, cert_head);
		sg_buf_puts(&b->cert, cert_insert);
		cert_row(&b->cert, b->origin ? b->origin : node, it);
		sg_buf_puts(&b->cert, cert_conflict);
		if (it->cert.kind == QUEUE_CERT_REMOVE) {
			sg_buf_puts(&b->cert, cert_unharvest);
			cluster_sql_str(&b->cert, (const char *) it->cert.data, it->cert.len);
			sg_buf_putc(&b->cert, ';');
		}
	} else if (it->kind == QUEUE_OUTBOX_TRACK) {
		sg_buf_puts(&b->track, b->ntrack++ ? "," : track_head);
		track_row(&b->track, node, it);
	} else {
		sg_buf_puts(&b->inc, b->ninc++ ? "," : incident_head);
		incident_row(&b->inc, node, it);
	}
}

void	cluster_batch_sql(const struct cluster_batch *b, struct sg_buf *sql)
{
	if (b->ninc) {
		sg_buf_append(sql, b->inc.data, b->inc.len);
		sg_buf_puts(sql, incident_tail);
	}
	if (b->ntrack) {
		sg_buf_append(sql, b->track.data, b->track.len);
		sg_buf_puts(sql, track_tail);
	}
	if (b->ncert) {
		sg_buf_append(sql, b->cert.data, b->cert.len);
		sg_buf_puts(sql, cert_tail);
	}
}

void	cluster_batch_reset(struct cluster_batch *b)
{
	sg_buf_reset(&b->track);
	sg_buf_reset(&b->inc);
	sg_buf_reset(&b->cert);
	b->ntrack = b->ninc = b->ncert = 0;
}

void	cluster_batch_free(struct cluster_batch *b)
{
	sg_buf_free(&b->track);
	sg_buf_free(&b->inc);
	sg_buf_free(&b->cert);
	b->ntrack = b->ninc = b->ncert = 0;
}
