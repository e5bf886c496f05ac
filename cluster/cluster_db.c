/*
 * NAME
 *	cluster_db 3
 * SUMMARY
 *	sealctl's view of the cluster: blocking queries of every node's data
 * SYNOPSIS
 *	#include "cluster/cluster.h"
 *
 *	struct cluster_db *cluster_db_open(conf, err, errlen)
 *	void	cluster_db_close(db)
 *	int	cluster_db_init(db, version, err, errlen)
 *	int	cluster_db_track_search(db, query, fn, arg, err, errlen)
 *	int	cluster_db_track_show(db, id, node, fn, arg, err, errlen)
 *	int	cluster_db_incidents(db, all, id, node, fn, arg, err, errlen)
 *	int	cluster_db_incident_ack(db, id, node, by, err, errlen)
 *	int	cluster_db_nodes(db, fn, arg, err, errlen)
 * DESCRIPTION
 *	An administrator's command may wait for the database (libpq's
 *	blocking calls, connect_timeout honoured by libpq itself); nothing
 *	here runs in a role.
 *
 *	Tracking and incidents come back as the records the nodes stored
 *	(binary results: the bytea as bytes, ids as 8-byte integers) and are
 *	decoded with the queue's own decoders, which check every length:
 *	what the database returns is untrusted like anything read from disk.
 *	A search selects the time range in SQL (the arrival index) in pages
 *	of PAGE rows, newest first, and tests every record with the queue's
 *	matcher (queue_track_matcher_test()), so patterns mean what they
 *	mean on one node. An incident's acknowledgement columns win over
 *	the record's (it may have been made on another node).
 *
 *	cluster_db_incident_ack() sets the acknowledgement, with ack_local
 *	false, and NOTIFY sg_ack with the incident's node as the payload,
 *	in one statement (one transaction: the notification goes out when
 *	it commits); that node's cluster role applies it to its own queue.
 * DIAGNOSTICS
 *	0 or a negative enum sg_err, with err naming the cause (the
 *	server's message when it refused).
 */

#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "certs/certs.h"
#include "cluster.h"

#define PAGE 500

struct cluster_db {
	PGconn *pg;
};

static void db_err(char *err, size_t len, const char *what, const char *msg)
{
	snprintf(err, len, "%s: %.*s", what, (int) strcspn(msg, "\n"), msg);
}

struct cluster_db *cluster_db_open(const struct cluster_conf *conf, char *err, size_t errlen)
{
	const char *keys[] = {"dbname", "password", "client_encoding", "application_name",
		"connect_timeout", NULL};
	char	timeout[32], *password = NULL;
	const char *vals[6];
	struct cluster_db *db;
	int	rc = 0;

	if (!cluster_configured(conf)) {
		snprintf(err, errlen, "no cluster is configured (cluster.postgres)");
		return (NULL);
	}
	if (*conf->password_file && (password = certs_read_secret(conf->password_file, &rc))
	    == NULL) {
		snprintf(err, errlen, "cluster.password_file %s: %s", conf->password_file,
			 sg_strerror(rc));
		return (NULL);
	}
	snprintf(timeout, sizeof(timeout), "%lld",
		 (long long) (conf->connect_timeout_ms + 999) / 1000);
	vals[0] = conf->postgres;
	vals[1] = password ? password : "";
	vals[2] = "UTF8";
	vals[3] = "sealctl";
	vals[4] = timeout;
	vals[5] = NULL;
	db = sg_xcalloc(1, sizeof(*db));
	db->pg = PQconnectdbParams(keys, vals, 1);
	certs_free_secret(password);
	if (db->pg == NULL || PQstatus(db->pg) != CONNECTION_OK) {
		db_err(err, errlen, "cannot connect to the cluster's database",
		       db->pg ? PQerrorMessage(db->pg) : "out of memory");
		cluster_db_close(db);
		return (NULL);
	}
	return (db);
}

void	cluster_db_close(struct cluster_db *db)
{
	if (db == NULL)
		return;
	if (db->pg)
		PQfinish(db->pg);
	free(db);
}

/* db_query - one statement, binary results; NULL with err filled in */

static PGresult *db_query(struct cluster_db *db, const char *sql, char *err, size_t errlen)
{
	PGresult *res = PQexecParams(db->pg, sql, 0, NULL, NULL, NULL, NULL, 1);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return (res);
	db_err(err, errlen, "the cluster's database refused",
	       res ? PQresultErrorMessage(res) : PQerrorMessage(db->pg));
	PQclear(res);
	return (NULL);
}

/* db_run - db_query() of the statement in sql, which it frees */

static PGresult *db_run(struct cluster_db *db, struct sg_buf *sql, char *err, size_t errlen)
{
	PGresult *res = db_query(db, sql->data, err, errlen);

	sg_buf_free(sql);
	return (res);
}

int	cluster_db_init(struct cluster_db *db, int *version, char *err, size_t errlen)
{
	struct sg_buf sql = SG_BUF_INIT;
	PGresult *res;
	uint64_t v = 0;

	cluster_schema_sql(&sql);
	res = PQexec(db->pg, sql.data);	/* the script's last result: max(version) */
	sg_buf_free(&sql);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_err(err, errlen, "the schema could not be applied",
		       res ? PQresultErrorMessage(res) : PQerrorMessage(db->pg));
		PQclear(res);
		return (SG_EIO);
	}
	if (PQntuples(res) == 1)
		(void) sg_parse_u64(PQgetvalue(res, 0, 0), (size_t) PQgetlength(res, 0, 0), &v);
	*version = (int) v;
	PQclear(res);
	return (0);
}

/* ------------------------------------------------------------ values */

static int64_t get_i64(const PGresult *res, int row, int col)
{
	const uint8_t *p = (const uint8_t *) PQgetvalue(res, row, col);
	uint64_t v = 0;

	if (PQgetisnull(res, row, col) || PQgetlength(res, row, col) != 8)
		return (0);
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return ((int64_t) v);
}

/* get_str - a text column of a binary result, at most len - 1 bytes */

static void get_str(const PGresult *res, int row, int col, char *buf, size_t len)
{
	size_t	n = (size_t) PQgetlength(res, row, col);

	if (n >= len)
		n = len - 1;
	memcpy(buf, PQgetvalue(res, row, col), n);
	buf[n] = 0;
}

static void put_node(struct sg_buf *sql, const char *node)
{
	if (node) {
		sg_buf_puts(sql, " AND node=");
		cluster_sql_str(sql, node, strlen(node));
	}
}

/* ---------------------------------------------------------- tracking */

/* track_rows - fn for each row (node, id, record) that decodes and matches */

static int track_rows(PGresult *res, struct queue_track_matcher *m, size_t *left,
		      cluster_track_fn *fn, void *arg)
{
	struct queue_env env;
	char	node[CLUSTER_NODE_MAX];
	int	stop = 0;

	queue_env_init(&env);
	for (int i = 0; i < PQntuples(res) && stop == 0 && (left == NULL || *left > 0); i++) {
		get_str(res, i, 0, node, sizeof(node));
		if (queue_env_decode(PQgetvalue(res, i, 2), (size_t) PQgetlength(res, i, 2), &env)
		    != 0)
			continue;	/* a node's record we cannot read: not a match */
		if (m && !queue_track_matcher_test(m, &env))
			continue;
		stop = fn(node, &env, arg);
		if (left)
			--*left;
	}
	queue_env_free(&env);
	return (stop);
}

int	cluster_db_track_search(struct cluster_db *db, const struct queue_track_query *q,
				cluster_track_fn *fn, void *arg, char *err, size_t errlen)
{
	struct queue_track_matcher *m = queue_track_matcher_new(q);
	struct sg_buf sql = SG_BUF_INIT;
	size_t	left = q->limit ? q->limit : SIZE_MAX;
	int64_t	last_id = INT64_MAX;
	char	last_node[CLUSTER_NODE_MAX] = "\x7f";
	PGresult *res;
	int	rows, stop = 0;

	do {
		sg_buf_reset(&sql);
		sg_buf_printf(&sql, "SELECT node, id, record FROM sg_track WHERE (id, node) < (%lld, ",
			      (long long) last_id);
		cluster_sql_str(&sql, last_node, strlen(last_node));
		sg_buf_puts(&sql, ")");
		if (q->since_ms > 0)
			sg_buf_printf(&sql, " AND arrival >= to_timestamp(%lld/1000.0)",
				      (long long) q->since_ms);
		if (q->until_ms > 0)
			sg_buf_printf(&sql, " AND arrival < to_timestamp(%lld/1000.0)",
				      (long long) q->until_ms);
		sg_buf_printf(&sql, " ORDER BY id DESC, node DESC LIMIT %d", PAGE);
		if ((res = db_query(db, sql.data, err, errlen)) == NULL) {
			stop = SG_EIO;
			break;
		}
		rows = PQntuples(res);
		if (rows > 0) {
			last_id = get_i64(res, rows - 1, 1);
			get_str(res, rows - 1, 0, last_node, sizeof(last_node));
		}
		stop = track_rows(res, m, &left, fn, arg);
		PQclear(res);
	} while (stop == 0 && left > 0 && rows == PAGE);
	sg_buf_free(&sql);
	queue_track_matcher_free(m);
	return (stop < 0 ? stop : 0);
}

int	cluster_db_track_show(struct cluster_db *db, uint64_t id, const char *node,
			      cluster_track_fn *fn, void *arg, char *err, size_t errlen)
{
	struct sg_buf sql = SG_BUF_INIT;
	PGresult *res;
	int	n;

	sg_buf_printf(&sql, "SELECT node, id, record FROM sg_track WHERE id=%lld",
		      (long long) id);
	put_node(&sql, node);
	sg_buf_puts(&sql, " ORDER BY node");
	if ((res = db_run(db, &sql, err, errlen)) == NULL)
		return (SG_EIO);
	n = PQntuples(res);
	(void) track_rows(res, NULL, NULL, fn, arg);
	PQclear(res);
	if (n == 0)
		snprintf(err, errlen, "no such message on any node");
	return (n ? 0 : SG_ENOTFOUND);
}

/* --------------------------------------------------------- incidents */

int	cluster_db_incidents(struct cluster_db *db, bool all, uint64_t id, const char *node,
			     cluster_incident_fn *fn, void *arg, char *err, size_t errlen)
{
	struct sg_buf sql = SG_BUF_INIT;
	struct queue_incident inc;
	char	nb[CLUSTER_NODE_MAX], by[256];
	PGresult *res;
	int	stop = 0, n;

	sg_buf_puts(&sql, "SELECT node, ack_ms, ack_by, record FROM sg_incident WHERE true");
	if (!all)
		sg_buf_puts(&sql, " AND ack_ms=0");
	if (id)
		sg_buf_printf(&sql, " AND id=%lld", (long long) id);
	put_node(&sql, node);
	sg_buf_puts(&sql, " ORDER BY id, node");
	if ((res = db_run(db, &sql, err, errlen)) == NULL)
		return (SG_EIO);
	n = PQntuples(res);
	for (int i = 0; i < n && stop == 0; i++) {
		memset(&inc, 0, sizeof(inc));
		if (queue_incident_decode(PQgetvalue(res, i, 3), (size_t) PQgetlength(res, i, 3),
					  &inc) != 0)
			continue;
		get_str(res, i, 0, nb, sizeof(nb));
		get_str(res, i, 2, by, sizeof(by));
		inc.ack_ms = get_i64(res, i, 1);
		inc.ack_by = by;
		stop = fn(nb, &inc, arg);
	}
	PQclear(res);
	if (id && n == 0) {
		snprintf(err, errlen, "no such incident on any node");
		return (SG_ENOTFOUND);
	}
	return (stop < 0 ? stop : 0);
}

int	cluster_db_incident_ack(struct cluster_db *db, uint64_t id, const char *node,
				const char *by, char *err, size_t errlen)
{
	struct sg_buf sql = SG_BUF_INIT;
	PGresult *res;
	int	n, acked = 0;

	sg_buf_printf(&sql, "SELECT node, ack_ms FROM sg_incident WHERE id=%lld",
		      (long long) id);
	put_node(&sql, node);
	if ((res = db_query(db, sql.data, err, errlen)) == NULL) {
		sg_buf_free(&sql);
		return (SG_EIO);
	}
	n = PQntuples(res);
	for (int i = 0; i < n; i++)
		acked += get_i64(res, i, 1) != 0;
	PQclear(res);
	if (n != 1 || acked) {
		sg_buf_free(&sql);
		snprintf(err, errlen, n == 0 ? "no such incident on any node" : acked ?
			 "already acknowledged" : "that id is on several nodes: name one (--node)");
		return (n == 0 ? SG_ENOTFOUND : acked ? SG_EEXIST : SG_EINVAL);
	}
	sg_buf_reset(&sql);
	sg_buf_printf(&sql, "WITH u AS (UPDATE sg_incident SET ack_ms=%lld, ack_local=false, "
		      "ack_by=", (long long) sg_now_ms());
	cluster_sql_str(&sql, by, strlen(by));
	sg_buf_printf(&sql, " WHERE id=%lld AND ack_ms=0", (long long) id);
	put_node(&sql, node);
	sg_buf_puts(&sql, " RETURNING node) SELECT pg_notify('sg_ack', node) FROM u");
	if ((res = db_run(db, &sql, err, errlen)) == NULL)
		return (SG_EIO);
	n = PQntuples(res);
	PQclear(res);
	if (n == 0)
		snprintf(err, errlen, "already acknowledged");
	return (n ? 0 : SG_EEXIST);
}

/* ------------------------------------------------------------- nodes */

int	cluster_db_nodes(struct cluster_db *db, cluster_node_fn *fn, void *arg, char *err,
			 size_t errlen)
{
	static const char sql[] =
		"SELECT node, version, roles,"
		" (extract(epoch FROM heartbeat)*1000)::bigint,"
		" greatest(0, extract(epoch FROM now()-heartbeat)*1000)::bigint,"
		" coalesce(extract(epoch FROM started)*1000, 0)::bigint,"
		" queue_depth, outbox, outbox_dropped,"
		" coalesce(greatest(0, extract(epoch FROM now()-oldest_unshipped)*1000), 0)::bigint,"
		" (SELECT count(*) FROM sg_cert c WHERE c.seq > n.cert_applied),"
		" coalesce((SELECT (extract(epoch FROM now()-min(c.added))*1000)::bigint"
		"  FROM sg_cert c WHERE c.seq > n.cert_applied), 0)"
		" FROM sg_node n ORDER BY node";
	struct cluster_node_row r;
	PGresult *res;
	int	stop = 0;

	if ((res = db_query(db, sql, err, errlen)) == NULL)
		return (SG_EIO);
	for (int i = 0; i < PQntuples(res) && stop == 0; i++) {
		memset(&r, 0, sizeof(r));
		get_str(res, i, 0, r.node, sizeof(r.node));
		get_str(res, i, 1, r.version, sizeof(r.version));
		get_str(res, i, 2, r.roles, sizeof(r.roles));
		r.heartbeat_ms = get_i64(res, i, 3);
		r.age_ms = get_i64(res, i, 4);
		r.started_ms = get_i64(res, i, 5);
		r.queue_depth = (uint64_t) get_i64(res, i, 6);
		r.outbox = (uint64_t) get_i64(res, i, 7);
		r.outbox_dropped = (uint64_t) get_i64(res, i, 8);
		r.ship_lag_ms = get_i64(res, i, 9);
		r.cert_behind = (uint64_t) get_i64(res, i, 10);
		r.cert_lag_ms = get_i64(res, i, 11);
		stop = fn(&r, arg);
	}
	PQclear(res);
	return (stop < 0 ? stop : 0);
}
