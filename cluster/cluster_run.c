/*
 * NAME
 *	cluster_run 3
 * SUMMARY
 *	the cluster role's engine: one asynchronous PostgreSQL connection
 * SYNOPSIS
 *	#include "cluster/cluster.h"
 *
 *	struct cluster *cluster_start(loop, conf, password, q, health, arg)
 *	void	cluster_stop(c, done, arg)
 * DESCRIPTION
 *	One connection, one query in flight, driven by libuv: PQconnectStart
 *	and PQconnectPoll, then PQsendQuery, PQflush, PQconsumeInput and
 *	PQgetResult, each when uv_poll says the socket is ready. No libpq
 *	call here ever blocks, so the loop also runs the timers while the
 *	database is slow or away.
 *
 *	Once connected: synchronous_commit on for the session (a batch is
 *	deleted from the outbox when its commit returns, so that commit must
 *	be durable even on a server whose default is off), the migrations
 *	(cluster_schema_sql(), under the advisory lock), LISTEN sg_ack, then a loop of small jobs, one at a
 *	time: acknowledgements other nodes made of this node's incidents
 *	(marked in the local queue with queue_incident_ack(), then ack_local
 *	in the database; pages of ACKS_MAX, one after the other), the
 *	heartbeat row every heartbeat_ms, and the
 *	outbox in batches of at most batch entries: read in one LMDB read
 *	transaction, upserted in one PostgreSQL transaction, deleted from
 *	the outbox when that committed. A full batch is followed at once by
 *	the next; an empty outbox is looked at again every SHIP_IDLE_MS.
 *
 *	Failures. A connection that breaks, a query that fails with the
 *	connection gone, or no answer within QUERY_TIMEOUT_MS (or
 *	connect_timeout while connecting: PQconnectPoll has no deadline of
 *	its own) closes the connection; the next attempt comes after a
 *	backoff that doubles from BACKOFF_MIN_MS to BACKOFF_MAX_MS. The
 *	first failure of an outage is a warning (cluster_down), the others
 *	debug; the comeback says how long it was down (cluster_up). A batch
 *	the database refuses while the connection stays up (a row it cannot
 *	take) is retried one record at a time; a single record it refuses is
 *	logged (cluster_ship_skipped) and dropped from the outbox, so that
 *	one bad record never stops the others.
 *
 *	Certificates (sg_cert, LISTEN sg_cert, and again with every
 *	heartbeat): the rows beyond what this node received, in seq order,
 *	pages of CERTS_PAGE, go into the queue's "certin" table
 *	(queue_certin_put()); the worker applies them to its own database.
 *	This process never opens that database. What this node shares (the
 *	worker's harvest, sealctl's imports) comes through the outbox, and
 *	its rows name as origin the node and its queue's instance
 *	(queue_instance(): "gwA/0123456789abcdef"). Rows of that origin come
 *	back marked as this node's own, applied here when they were made; a
 *	node rebuilt under the same name (a new queue) applies them like any
 *	other. Rows of a version before that name the node alone and count
 *	as its own.
 *
 *	The outbox is bounded by the queue (queue_outbox.c); when its drop
 *	counter moved since the last look, a warning says how many tracking
 *	records were dropped (cluster_outbox_dropped), connected or not.
 * SECURITY
 *	This process talks to the network (the database) and holds no key:
 *	it never opens the certificate database. The password was read by
 *	the caller before it dropped root.
 */

#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "cluster.h"

#define BACKOFF_MIN_MS	250
#define BACKOFF_MAX_MS	5000
#define QUERY_TIMEOUT_MS 30000
#define SHIP_IDLE_MS	500
#define ACKS_MAX	1000
#define CERTS_PAGE	100

enum cl_state { CL_WAIT, CL_CONNECTING, CL_IDLE, CL_BUSY, CL_STOPPED };
enum cl_query { Q_NONE, Q_MIGRATE, Q_LISTEN, Q_ACKS, Q_ACKED, Q_BEAT, Q_SHIP, Q_CERTS };

struct cl_ref {
	int	kind;
	uint64_t id, txn;
};

struct cluster {
	uv_loop_t *loop;
	struct queue *q;
	char	node[CLUSTER_NODE_MAX];
	char	origin[CLUSTER_NODE_MAX + 17];	/* node/instance: sg_cert rows we ship */
	char   *conninfo;
	char   *password;
	size_t	batch;			/* configured */
	size_t	batch_now;		/* 1 after a refused batch, until one passes */
	int64_t	heartbeat_ms, connect_timeout_ms;
	cluster_health_fn *health;
	void   *health_arg;

	PGconn *pg;
	uv_poll_t *poll;		/* NULL: none */
	int	poll_fd;
	uv_timer_t timer;		/* backoff, next job */
	uv_timer_t deadline;		/* connect or query */
	enum cl_state state;
	enum cl_query query;
	bool	query_failed;
	bool	query_refused;		/* its first error is about the data (SQLSTATE 22, 23) */
	char	query_error[256];
	int64_t	backoff_ms;
	int64_t	next_beat;		/* monotonic ms */
	int64_t	down_since;		/* wall ms, 0: up (or never up) */
	bool	down_logged;
	bool	acks_due;
	bool	acks_more;		/* the last Q_ACKS was a full page */
	bool	certs_due;		/* sg_cert may hold what this node lacks */
	size_t	certs_got;		/* rows of the last Q_CERTS */
	uint64_t dropped_seen;
	bool	dropped_known;
	int64_t	started_ms;

	struct cl_ref *refs;		/* the batch in flight */
	size_t	nrefs;
	struct cluster_batch b;
	struct sg_buf sql;
	uint64_t acked_ids[ACKS_MAX];	/* Q_ACKS -> Q_ACKED */
	size_t	nacked;

	void	(*done) (void *);
	void   *done_arg;
	int	closing;		/* handles still closing */
};

static void cl_connect(struct cluster *);
static void cl_on_retry(uv_timer_t *);
static void cl_next(struct cluster *, int64_t ms);

/* quiet - libpq's notices (a server shutting down) would go to stderr */

static void quiet(void *arg, const char *message)
{
	(void) arg;
	sg_debug("event=cluster_notice text=\"%.*s\"", (int) strcspn(message, "\n"), message);
}

/* cl_closed - one handle less; the last one after cluster_stop() frees c */

static void cl_closed(uv_handle_t *h)
{
	struct cluster *c = h->data;
	void	(*done) (void *) = c->done;
	void   *arg = c->done_arg;

	if (--c->closing > 0 || c->state != CL_STOPPED)
		return;
	free(c->conninfo);
	explicit_bzero(c->password, strlen(c->password));
	free(c->password);
	free(c->refs);
	cluster_batch_free(&c->b);
	sg_buf_free(&c->sql);
	free(c);
	if (done)
		done(arg);
}

static void cl_poll_closed(uv_handle_t *h)
{
	uv_handle_t copy = *h;

	free(h);
	cl_closed(&copy);
}

static void cl_poll_drop(struct cluster *c)
{
	if (c->poll == NULL)
		return;
	uv_poll_stop(c->poll);
	c->closing++;
	uv_close((uv_handle_t *) c->poll, cl_poll_closed);
	c->poll = NULL;
}

static void cl_on_poll(uv_poll_t *, int status, int events);

/* cl_watch - poll the connection's socket (which may have changed) for events */

static void cl_watch(struct cluster *c, int events)
{
	int	fd = PQsocket(c->pg);

	if (c->poll && c->poll_fd != fd)
		cl_poll_drop(c);
	if (c->poll == NULL) {
		c->poll = sg_xcalloc(1, sizeof(*c->poll));
		c->poll->data = c;
		c->poll_fd = fd;
		uv_poll_init(c->loop, c->poll, fd);
	}
	uv_poll_start(c->poll, events, cl_on_poll);
}

static void cl_error_text(struct cluster *c, const char *why, char *buf, size_t len)
{
	const char *m = why ? why : c->pg ? PQerrorMessage(c->pg) : "";

	snprintf(buf, len, "%.*s", (int) strcspn(m, "\n"), m);
	for (char *p = buf; *p; p++)
		if (*p == '"' || (unsigned char) *p < 0x20)
			*p = '\'';
}

/* cl_fail - the connection is lost: close it, try again after the backoff */

static void cl_fail(struct cluster *c, const char *why)
{
	char	err[256];

	cl_error_text(c, why, err, sizeof(err));
	uv_timer_stop(&c->deadline);
	cl_poll_drop(c);		/* before PQfinish closes the socket */
	if (c->pg)
		PQfinish(c->pg);
	c->pg = NULL;
	c->query = Q_NONE;
	if (!c->down_logged) {
		sg_warn("event=cluster_down node=%s error=\"%s\" retry_ms=%lld detail=\"mail keeps "
			"flowing; tracking and incidents wait in the outbox\"", c->node, err,
			(long long) c->backoff_ms);
		c->down_logged = true;
		c->down_since = sg_now_ms();
	} else {
		sg_debug("event=cluster_retry_failed node=%s error=\"%s\" retry_ms=%lld", c->node,
			 err, (long long) c->backoff_ms);
	}
	c->state = CL_WAIT;
	uv_timer_start(&c->timer, cl_on_retry, (uint64_t) c->backoff_ms, 0);
	c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

static void cl_on_deadline(uv_timer_t *t)
{
	struct cluster *c = t->data;

	cl_fail(c, c->state == CL_CONNECTING ? "connect timed out" : "query timed out");
}

/*
 * cl_send - one query in flight, its results in text (binary: in binary);
 * they come to cl_done()
 */
static void cl_sent(struct cluster *);

static void cl_send_as(struct cluster *c, enum cl_query what, const char *sql, bool binary)
{
	c->query = what;
	c->query_failed = c->query_refused = false;
	*c->query_error = 0;
	if (!(binary ? PQsendQueryParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 1)
	      : PQsendQuery(c->pg, sql))) {
		cl_fail(c, NULL);
		return;
	}
	cl_sent(c);
}

static void cl_send(struct cluster *c, enum cl_query what, const char *sql)
{
	cl_send_as(c, what, sql, false);
}

/* cl_sent - a query is on its way: flush it, wait for its results */

static void cl_sent(struct cluster *c)
{
	int	r;

	c->state = CL_BUSY;
	uv_timer_start(&c->deadline, cl_on_deadline, QUERY_TIMEOUT_MS, 0);
	if ((r = PQflush(c->pg)) < 0) {
		cl_fail(c, NULL);
		return;
	}
	cl_watch(c, r ? UV_READABLE | UV_WRITABLE : UV_READABLE);
}

/* ------------------------------------------------------------- jobs */

static void cl_check_dropped(struct cluster *c, struct queue_outbox_stat *st)
{
	if (queue_outbox_stat(c->q, st) != 0)
		return;
	if (c->dropped_known && st->dropped > c->dropped_seen)
		sg_warn("event=cluster_outbox_dropped node=%s dropped=%llu total=%llu "
			"outbox=%llu detail=\"the outbox is full (cluster.outbox_max): the oldest "
			"tracking records were not shipped; incidents are never dropped\"", c->node,
			(unsigned long long) (st->dropped - c->dropped_seen),
			(unsigned long long) st->dropped, (unsigned long long) st->entries);
	c->dropped_seen = st->dropped;
	c->dropped_known = true;
}

static void cl_put_str(struct sg_buf *b, const char *s)
{
	cluster_sql_str(b, s, strlen(s));
}

static void cl_beat(struct cluster *c)
{
	struct queue_outbox_stat ob;
	char	roles[256] = "";
	size_t	depth = 0;
	uint64_t received = 0, applied = 0;

	memset(&ob, 0, sizeof(ob));
	cl_check_dropped(c, &ob);
	(void) queue_live_count(c->q, &depth);	/* no walk every heartbeat */
	if (c->health)
		c->health(c->health_arg, roles, sizeof(roles));
	(void) queue_certin_state(c->q, &received, &applied);
	sg_buf_reset(&c->sql);
	sg_buf_puts(&c->sql, "INSERT INTO sg_node (node,heartbeat,started,version,roles,"
		    "queue_depth,outbox,outbox_dropped,cert_received,cert_applied,"
		    "oldest_unshipped) VALUES (");
	cl_put_str(&c->sql, c->node);
	sg_buf_printf(&c->sql, ",now(),to_timestamp(%lld/1000.0),", (long long) c->started_ms);
	cl_put_str(&c->sql, SG_VERSION);
	sg_buf_putc(&c->sql, ',');
	cl_put_str(&c->sql, roles);
	sg_buf_printf(&c->sql, ",%llu,%llu,%llu,%llu,%llu,", (unsigned long long) depth,
		      (unsigned long long) ob.entries, (unsigned long long) ob.dropped,
		      (unsigned long long) received, (unsigned long long) applied);
	if (ob.oldest_track_id)
		sg_buf_printf(&c->sql, "to_timestamp(%lld/1000.0)",
			      (long long) queue_id_time_ms(ob.oldest_track_id));
	else
		sg_buf_puts(&c->sql, "NULL");
	sg_buf_puts(&c->sql, ") ON CONFLICT (node) DO UPDATE SET heartbeat=now(),"
		    "started=EXCLUDED.started,version=EXCLUDED.version,roles=EXCLUDED.roles,"
		    "queue_depth=EXCLUDED.queue_depth,outbox=EXCLUDED.outbox,"
		    "outbox_dropped=EXCLUDED.outbox_dropped,cert_received=EXCLUDED.cert_received,"
		    "cert_applied=EXCLUDED.cert_applied,"
		    "oldest_unshipped=EXCLUDED.oldest_unshipped;");
	c->next_beat = sg_mono_ms() + c->heartbeat_ms;
	c->certs_due = true;		/* a lost NOTIFY costs a heartbeat, no more */
	cl_send(c, Q_BEAT, c->sql.data);
}

static int cl_collect(const struct queue_outbox_item *it, void *arg)
{
	struct cluster *c = arg;

	c->refs[c->nrefs++] = (struct cl_ref) {it->kind, it->id, it->txn};
	cluster_batch_add(&c->b, c->node, it);
	return (0);
}

/* cl_ship - the next batch of the outbox, if any: true when one was sent */

static bool cl_ship(struct cluster *c)
{
	int	err;

	c->nrefs = 0;
	cluster_batch_reset(&c->b);
	if ((err = queue_outbox_read(c->q, c->batch_now, cl_collect, c)) != 0) {
		sg_warn("event=cluster_outbox_read_failed node=%s error=\"%s\"", c->node,
			sg_strerror(err));
		return (false);
	}
	if (c->nrefs == 0)
		return (false);
	sg_buf_reset(&c->sql);
	cluster_batch_sql(&c->b, &c->sql);
	if (c->sql.len == 0) {		/* only records gone meanwhile */
		cl_send(c, Q_SHIP, "SELECT 1;");
		return (true);
	}
	cl_send(c, Q_SHIP, c->sql.data);
	return (true);
}

static void cl_acks(struct cluster *c)
{
	sg_buf_reset(&c->sql);
	sg_buf_puts(&c->sql, "SELECT id, ack_by FROM sg_incident WHERE NOT ack_local AND node=");
	cl_put_str(&c->sql, c->node);
	sg_buf_printf(&c->sql, " LIMIT %d;", ACKS_MAX);
	c->acks_due = false;
	cl_send(c, Q_ACKS, c->sql.data);
}

/*
 * cl_certs - what sg_cert holds beyond what this node received, in seq
 * order (binary: the bytes as they are); the worker applies it
 */
static void cl_certs(struct cluster *c)
{
	uint64_t received = 0, applied = 0;

	(void) queue_certin_state(c->q, &received, &applied);
	sg_buf_reset(&c->sql);
	sg_buf_printf(&c->sql, "SELECT seq, kind, ca, gateway, data, origin, mac FROM sg_cert "
		      "WHERE seq > %llu "
		      "ORDER BY seq LIMIT %d", (unsigned long long) received, CERTS_PAGE);
	c->certs_due = false;
	cl_send_as(c, Q_CERTS, c->sql.data, true);
}

/* cl_tick - the next job, with the connection idle */

static void cl_tick(uv_timer_t *t)
{
	struct cluster *c = t->data;

	if (c->state != CL_IDLE)
		return;
	if (c->acks_due)
		cl_acks(c);
	else if (c->certs_due)
		cl_certs(c);
	else if (sg_mono_ms() >= c->next_beat)
		cl_beat(c);
	else if (!cl_ship(c))
		cl_next(c, SHIP_IDLE_MS);
}

static void cl_next(struct cluster *c, int64_t ms)
{
	c->state = CL_IDLE;
	uv_timer_start(&c->timer, cl_tick, (uint64_t) ms, 0);
}

/* ----------------------------------------------------------- results */

static void cl_shipped(struct cluster *c)
{
	struct queue_outbox_item *items = sg_xcalloc(c->nrefs ? c->nrefs : 1, sizeof(*items));
	int	err;

	for (size_t i = 0; i < c->nrefs; i++) {
		items[i].kind = c->refs[i].kind;
		items[i].id = c->refs[i].id;
		items[i].txn = c->refs[i].txn;
	}
	if ((err = queue_outbox_done(c->q, items, c->nrefs)) != 0)
		sg_warn("event=cluster_outbox_done_failed node=%s error=\"%s\" detail=\"shipped "
			"again later (an upsert: no duplicates)\"", c->node, sg_strerror(err));
	else
		sg_debug("event=cluster_shipped node=%s count=%zu", c->node, c->nrefs);
	free(items);
}

static void cl_ship_refused(struct cluster *c)
{
	char	id[QUEUE_ID_BUFSZ];

	if (c->nrefs > 1) {
		sg_warn("event=cluster_ship_refused node=%s count=%zu error=\"%s\" detail=\"retrying "
			"one record at a time\"", c->node, c->nrefs, c->query_error);
		c->batch_now = 1;
		return;
	}
	sg_warn("event=cluster_ship_skipped node=%s kind=%s id=%s error=\"%s\"", c->node,
		c->refs[0].kind == QUEUE_OUTBOX_TRACK ? "track" : "incident",
		queue_id_format(c->refs[0].id, id), c->query_error);
	cl_shipped(c);
}

static void cl_acks_result(struct cluster *c, PGresult *res)
{
	uint64_t id;
	int	err;

	c->acks_more = PQntuples(res) >= ACKS_MAX;
	for (int i = 0; i < PQntuples(res) && c->nacked < ACKS_MAX; i++) {
		const char *v = PQgetvalue(res, i, 0);

		if (sg_parse_u64(v, (size_t) PQgetlength(res, i, 0), &id) != 0)
			continue;
		err = queue_incident_ack(c->q, id, PQgetvalue(res, i, 1));
		if (err == 0 || err == SG_EEXIST || err == SG_ENOTFOUND)
			c->acked_ids[c->nacked++] = id;
		if (err == 0)
			sg_info("event=cluster_incident_acked node=%s id=%s by=\"%.64s\"", c->node,
				queue_id_format(id, (char[QUEUE_ID_BUFSZ]) {0}),
				PQgetvalue(res, i, 1));
	}
}

static void cl_acked(struct cluster *c)
{
	sg_buf_reset(&c->sql);
	sg_buf_puts(&c->sql, "UPDATE sg_incident SET ack_local=true WHERE node=");
	cl_put_str(&c->sql, c->node);
	sg_buf_puts(&c->sql, " AND id IN (");
	for (size_t i = 0; i < c->nacked; i++)
		sg_buf_printf(&c->sql, "%s%lld", i ? "," : "", (long long) c->acked_ids[i]);
	sg_buf_puts(&c->sql, ");");
	c->nacked = 0;
	cl_send(c, Q_ACKED, c->sql.data);
}

static uint64_t be64(const PGresult *res, int row, int col)
{
	const uint8_t *p = (const uint8_t *) PQgetvalue(res, row, col);
	uint64_t v = 0;

	if (PQgetlength(res, row, col) != 8)
		return (0);
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return (v);
}

/* same - is the value at row, col the string s? */

static bool same(PGresult *res, int row, int col, const char *s)
{
	return ((size_t) PQgetlength(res, row, col) == strlen(s)
		&& memcmp(PQgetvalue(res, row, col), s, strlen(s)) == 0);
}

/*
 * cl_certs_result - rows of sg_cert (seq, kind, ca, gateway, data, origin, mac)
 * into certin; this node's own are marked: applied here when they were made
 */

static void cl_certs_result(struct cluster *c, PGresult *res)
{
	struct queue_cert_rec *recs = sg_xcalloc(CERTS_PAGE, sizeof(*recs));
	size_t	n = 0;
	int	err;

	c->certs_got = (size_t) PQntuples(res);
	for (int i = 0; i < PQntuples(res) && n < CERTS_PAGE; i++) {
		struct queue_cert_rec *r = &recs[n];
		size_t	glen = (size_t) PQgetlength(res, i, 3);

		r->seq = be64(res, i, 0);
		r->kind = PQgetlength(res, i, 1) == 2 ? ((const uint8_t *) PQgetvalue(res, i, 1))[1]
			: 0;
		r->flags = PQgetlength(res, i, 2) == 1 && *PQgetvalue(res, i, 2) ? QUEUE_CERT_F_CA
			: 0;
		if (same(res, i, 5, c->origin) || same(res, i, 5, c->node))
			r->flags |= QUEUE_CERT_F_OWN;
		if ((r->has_mac = PQgetlength(res, i, 6) == QUEUE_CERT_NONCE + QUEUE_CERT_MAC)) {
			memcpy(r->nonce, PQgetvalue(res, i, 6), QUEUE_CERT_NONCE);
			memcpy(r->mac, PQgetvalue(res, i, 6) + QUEUE_CERT_NONCE, QUEUE_CERT_MAC);
		}
		if (glen >= sizeof(r->gw))
			glen = 0;	/* not a domain we could use */
		memcpy(r->gw, PQgetvalue(res, i, 3), glen);
		r->gateway = r->gw;
		r->data = PQgetvalue(res, i, 4);
		r->len = (size_t) PQgetlength(res, i, 4);
		n++;
	}
	if ((err = queue_certin_put(c->q, recs, n)) != 0) {
		sg_warn("event=cluster_certs_failed node=%s error=\"%s\"", c->node, sg_strerror(err));
		c->certs_got = 0;	/* a full queue: again with the next heartbeat */
	} else if (n)
		sg_info("event=cluster_certs_received node=%s count=%zu seq=%llu", c->node, n,
			(unsigned long long) recs[n - 1].seq);
	free(recs);
}

/* cl_result - one PGresult of the query in flight */

static void cl_result(struct cluster *c, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		if (!c->query_failed) {
			const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

			cl_error_text(c, PQresultErrorMessage(res), c->query_error,
				      sizeof(c->query_error));
			/* only a record the database rejects for its content may be
			 * skipped; a read-only, full or slow server is a failure */
			c->query_refused = state && (strncmp(state, "22", 2) == 0
						     || strncmp(state, "23", 2) == 0);
		}
		c->query_failed = true;
		return;
	}
	/* the script's last statement: SELECT max(version) */
	if (c->query == Q_MIGRATE && st == PGRES_TUPLES_OK && PQntuples(res) == 1
	    && strcmp(PQfname(res, 0), "max") == 0)
		sg_info("event=cluster_schema node=%s version=%s", c->node, PQgetvalue(res, 0, 0));
	if (c->query == Q_ACKS && st == PGRES_TUPLES_OK)
		cl_acks_result(c, res);
	if (c->query == Q_CERTS && st == PGRES_TUPLES_OK)
		cl_certs_result(c, res);
}

/* cl_done - every result of the query in flight is in */

static void cl_done(struct cluster *c)
{
	enum cl_query q = c->query;

	uv_timer_stop(&c->deadline);
	c->query = Q_NONE;
	if (c->query_failed && (q != Q_SHIP || !c->query_refused)) {
		sg_warn("event=cluster_query_failed node=%s error=\"%s\"", c->node, c->query_error);
		cl_fail(c, c->query_error);
		return;
	}
	switch (q) {
	case Q_MIGRATE:
		cl_send(c, Q_LISTEN, "LISTEN sg_ack;LISTEN sg_cert;");
		return;
	case Q_LISTEN:
		c->acks_due = c->certs_due = true;
		cl_next(c, 0);
		return;
	case Q_CERTS:
		c->certs_due = c->certs_got == CERTS_PAGE;	/* a full page: more */
		break;
	case Q_ACKS:
		if (c->nacked) {
			cl_acked(c);
			return;
		}
		break;
	case Q_ACKED:			/* a full page: more, now that these are done */
		c->acks_due |= c->acks_more;
		break;
	case Q_SHIP:
		if (c->query_failed) {
			cl_ship_refused(c);
		} else {
			cl_shipped(c);
			c->batch_now = c->batch;
		}
		/* a full batch: more are waiting */
		cl_next(c, c->nrefs >= c->batch_now || c->query_failed ? 0 : SHIP_IDLE_MS);
		return;
	default:
		break;
	}
	cl_next(c, 0);
}

/* cl_notifies - LISTEN sg_ack: an acknowledgement for this node's incidents */

static void cl_notifies(struct cluster *c)
{
	PGnotify *n;

	while ((n = PQnotifies(c->pg)) != NULL) {
		if (strcmp(n->relname, "sg_ack") == 0 && strcmp(n->extra, c->node) == 0)
			c->acks_due = true;
		if (strcmp(n->relname, "sg_cert") == 0)
			c->certs_due = true;
		PQfreemem(n);
	}
}

static void cl_read(struct cluster *c)
{
	PGresult *res;

	if (!PQconsumeInput(c->pg)) {
		cl_fail(c, NULL);
		return;
	}
	cl_notifies(c);
	if (c->state != CL_BUSY) {
		/* a notification while idle: its job now, not at the next tick */
		if (c->acks_due || c->certs_due)
			cl_next(c, 0);
		return;
	}
	while (!PQisBusy(c->pg)) {
		if ((res = PQgetResult(c->pg)) == NULL) {
			cl_done(c);
			return;
		}
		cl_result(c, res);
		PQclear(res);
	}
}

static void cl_connected(struct cluster *c)
{
	struct sg_buf sql = SG_BUF_INIT;

	uv_timer_stop(&c->deadline);
	if (c->down_since)
		sg_info("event=cluster_up node=%s down_ms=%lld", c->node,
			(long long) (sg_now_ms() - c->down_since));
	else
		sg_info("event=cluster_connected node=%s server_version=%d", c->node,
			PQserverVersion(c->pg));
	c->down_since = 0;
	c->down_logged = false;
	c->backoff_ms = BACKOFF_MIN_MS;
	c->next_beat = 0;
	/*
	 * An outbox entry is deleted once its batch committed: that commit
	 * must be durable, whatever the server's default (an asynchronous
	 * commit lost in a crash would be a record lost for good).
	 */
	sg_buf_puts(&sql, "SET synchronous_commit TO on;");
	cluster_schema_sql(&sql);
	cl_send(c, Q_MIGRATE, sql.data);
	sg_buf_free(&sql);
}

static void cl_on_poll(uv_poll_t *h, int status, int events)
{
	struct cluster *c = h->data;
	int	r;

	if (c->pg == NULL || h != c->poll)
		return;
	if (c->state == CL_CONNECTING) {
		switch (PQconnectPoll(c->pg)) {
		case PGRES_POLLING_OK:
			cl_connected(c);
			return;
		case PGRES_POLLING_READING:
			cl_watch(c, UV_READABLE);
			return;
		case PGRES_POLLING_WRITING:
			cl_watch(c, UV_WRITABLE);
			return;
		default:
			cl_fail(c, NULL);
			return;
		}
	}
	if (status < 0) {
		cl_fail(c, uv_strerror(status));
		return;
	}
	if (events & UV_WRITABLE) {
		if ((r = PQflush(c->pg)) < 0) {
			cl_fail(c, NULL);
			return;
		}
		if (r == 0)
			cl_watch(c, UV_READABLE);
	}
	if (events & UV_READABLE)
		cl_read(c);
}

static void cl_connect(struct cluster *c)
{
	const char *keys[] = {"dbname", "password", "client_encoding", "application_name",
		"fallback_application_name", NULL};
	const char *vals[] = {c->conninfo, c->password, "UTF8", "sealgate", "sealgate", NULL};
	struct queue_outbox_stat st;

	if (c->state == CL_STOPPED)
		return;
	cl_check_dropped(c, &st);
	c->pg = PQconnectStartParams(keys, vals, 1);
	if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD) {
		c->state = CL_CONNECTING;
		cl_fail(c, c->pg ? NULL : "out of memory");
		return;
	}
	PQsetNoticeProcessor(c->pg, quiet, c);
	PQsetnonblocking(c->pg, 1);
	c->state = CL_CONNECTING;
	/* the loop's clock may be stale (the role's start took a while) */
	uv_update_time(c->loop);
	uv_timer_start(&c->deadline, cl_on_deadline, (uint64_t) c->connect_timeout_ms, 0);
	cl_watch(c, UV_WRITABLE);
}

static void cl_on_retry(uv_timer_t *t)
{
	cl_connect(t->data);
}

struct cluster *cluster_start(uv_loop_t *loop, const struct cluster_conf *conf,
			      const char *password, struct queue *q, cluster_health_fn *health,
			      void *arg)
{
	struct cluster *c = sg_xcalloc(1, sizeof(*c));
	uint64_t instance;
	int	err;

	c->loop = loop;
	c->q = q;
	snprintf(c->node, sizeof(c->node), "%s", conf->node);
	if ((err = queue_instance(q, &instance)) == 0) {
		snprintf(c->origin, sizeof(c->origin), "%s/%016llx", c->node,
			 (unsigned long long) instance);
	} else {
		sg_warn("event=cluster_instance_failed node=%s error=\"%s\" detail=\"the "
			"certificate rows this node shares name the node alone: rebuilt under "
			"this name, it would pass them over\"", c->node,
			sg_strerror(err));
		snprintf(c->origin, sizeof(c->origin), "%s", c->node);
	}
	c->b.origin = c->origin;
	c->conninfo = sg_xstrdup(conf->postgres);
	c->password = sg_xstrdup(password ? password : "");
	c->batch = c->batch_now = (size_t) conf->batch;
	c->refs = sg_xcalloc(c->batch, sizeof(*c->refs));
	c->heartbeat_ms = conf->heartbeat_ms;
	c->connect_timeout_ms = conf->connect_timeout_ms;
	c->health = health;
	c->health_arg = arg;
	c->backoff_ms = BACKOFF_MIN_MS;
	c->started_ms = sg_now_ms();
	uv_timer_init(loop, &c->timer);
	uv_timer_init(loop, &c->deadline);
	c->timer.data = c->deadline.data = c;
	cl_connect(c);
	return (c);
}

void	cluster_stop(struct cluster *c, void (*done) (void *), void *arg)
{
	c->state = CL_STOPPED;
	c->done = done;
	c->done_arg = arg;
	cl_poll_drop(c);
	if (c->pg)
		PQfinish(c->pg);
	c->pg = NULL;
	c->closing += 2;
	uv_close((uv_handle_t *) &c->timer, cl_closed);
	uv_close((uv_handle_t *) &c->deadline, cl_closed);
}
