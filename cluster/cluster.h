#ifndef CLUSTER_H
#define CLUSTER_H

/*
 * NAME
 *	cluster 3h
 * SUMMARY
 *	several gateway nodes sharing tracking, incidents and status through
 *	PostgreSQL
 * SYNOPSIS
 *	#include "cluster/cluster.h"
 * DESCRIPTION
 *	The one public header of cluster/, the only code that links libpq.
 *	Two users:
 *
 *	The cluster role (cmd/role_cluster.c) runs cluster_start() on its
 *	libuv loop: one asynchronous connection (PQsocket + uv_poll, never a
 *	blocking libpq call), the schema migrations under an advisory lock,
 *	LISTEN for acknowledgements made on other nodes, a heartbeat row,
 *	and the shipping of the queue's outbox (queue_outbox_read()) in
 *	batches, deleting what PostgreSQL committed. When the database is
 *	down it reconnects with backoff; mail never waits for it.
 *
 *	sealctl uses the blocking calls (cluster_db_*): an administrator's
 *	command may wait for the database, a message never does.
 *
 *	Errors: 0 or a negative enum sg_err; the role's side logs what it
 *	does (cluster_* events), the sealctl side only fills an error text.
 */

#include <uv.h>

#include "common/sg.h"
#include "queue/queue.h"

/* The "cluster = { ... };" section of the configuration. */
struct cluster_conf {
	char   *postgres;		/* libpq conninfo or URI; "": no cluster */
	char   *node;			/* this node's name in the cluster */
	char   *password_file;		/* the database password, "": none */
	char   *key_file;		/* seals private keys for the nodes, "": none */
	int64_t	outbox_max;		/* outbox entries kept while PG is away */
	int64_t	batch;			/* outbox entries per shipping transaction */
	int64_t	heartbeat_ms;		/* how often the node row is written */
	int64_t	connect_timeout_ms;	/* our own deadline: libpq's is not async */
};

extern const struct sg_conf_row cluster_conf_rows[];

#define CLUSTER_NODE_MAX	64	/* bytes of a node name, NUL included */

/* cluster_configured() - is a cluster configured at all? */
bool	cluster_configured(const struct cluster_conf *);

/* ----------------------------------------------------------- schema */

/*
 * The schema is versioned in the tree (cluster_schema.c): migration N is
 * applied once, recorded in sg_schema, inside one transaction that holds
 * an advisory lock, so several nodes starting at once apply it once.
 * cluster_schema_sql() appends the whole script (idempotent) to out.
 */
#define CLUSTER_SCHEMA_VERSION	4
#define CLUSTER_LOCK_KEY	7150671201LL	/* pg_advisory_xact_lock */

void	cluster_schema_sql(struct sg_buf *out);

/* ------------------------------------------------------- the role */

/*
 * What the heartbeat says about this node beyond the queue: the roles'
 * health as one line ("smtpd=running worker=running ..."), filled in by
 * the caller on each beat.
 */
typedef void cluster_health_fn(void *arg, char *buf, size_t len);

struct cluster;

/*
 * cluster_start() begins connecting (and keeps at it) on loop; q is the
 * node's queue (written: outbox deletions, acknowledgements from other
 * nodes), password may be "" and is copied. cluster_stop() closes
 * everything; done(arg) runs when every handle is closed.
 */
struct cluster *cluster_start(uv_loop_t *, const struct cluster_conf *, const char *password,
			      struct queue *q, cluster_health_fn *, void *arg);
void	cluster_stop(struct cluster *, void (*done) (void *), void *arg);

/* -------------------------------------------- shipping (cluster_ship.c) */

/*
 * A batch of outbox items as SQL. cluster_batch_add() adds one item of
 * node (a gone one is skipped; the item may go once it returns);
 * cluster_batch_sql() appends the statements that upsert them all:
 * tracking into sg_track, incidents into sg_incident, keyed by (node,
 * id), so shipping the same record twice changes nothing; an
 * acknowledgement already in the database is kept. Text columns are made
 * valid UTF-8; the record itself goes as bytes. Nothing is appended for
 * an empty batch. Start with struct cluster_batch b = {0}.
 */
struct cluster_batch {
	struct sg_buf track, inc, cert;	/* the VALUES rows so far */
	size_t	ntrack, ninc, ncert;
	const char *origin;		/* sg_cert's origin; NULL: the node */
};

void	cluster_batch_add(struct cluster_batch *, const char *node,
			  const struct queue_outbox_item *);
void	cluster_batch_sql(const struct cluster_batch *, struct sg_buf *sql);
void	cluster_batch_reset(struct cluster_batch *);
void	cluster_batch_free(struct cluster_batch *);

/*
 * cluster_sql_str() appends s (len bytes, untrusted) as an SQL string
 * literal, E'...', right whatever standard_conforming_strings says:
 * quotes and backslashes doubled, every byte that is not part of valid
 * UTF-8 (and every NUL or other control byte) as '?'.
 */
void	cluster_sql_str(struct sg_buf *out, const char *s, size_t len);

/* ------------------------------------------------- sealctl (blocking) */

struct cluster_db;

/*
 * cluster_db_open() connects (blocking, within connect_timeout) with the
 * configured password; NULL with err filled in when it cannot.
 * cluster_db_init() applies the migrations (sealctl cluster init).
 */
struct cluster_db *cluster_db_open(const struct cluster_conf *, char *err, size_t errlen);
void	cluster_db_close(struct cluster_db *);
int	cluster_db_init(struct cluster_db *, int *version, char *err, size_t errlen);

/*
 * cluster_db_track_search() runs q against sg_track (every node), newest
 * first, and calls fn with each record decoded and its node; a non-zero
 * return stops. cluster_db_track_show() finds one id (on any node; node
 * may be NULL, else only that node's).
 */
typedef int cluster_track_fn(const char *node, const struct queue_env *, void *arg);

int	cluster_db_track_search(struct cluster_db *, const struct queue_track_query *,
				cluster_track_fn *, void *arg, char *err, size_t errlen);
int	cluster_db_track_show(struct cluster_db *, uint64_t id, const char *node,
			      cluster_track_fn *, void *arg, char *err, size_t errlen);

/*
 * Incidents of every node: list (unacknowledged only unless all), get
 * one, and acknowledge one (SG_EEXIST: already; SG_ENOTFOUND: no such id
 * there; SG_EINVAL: that id is on several nodes and node was not given).
 * The acknowledgement is told to the incident's node (NOTIFY sg_ack),
 * whose cluster role marks it in its own queue too.
 */
typedef int cluster_incident_fn(const char *node, const struct queue_incident *, void *arg);

int	cluster_db_incidents(struct cluster_db *, bool all, uint64_t id, const char *node,
			     cluster_incident_fn *, void *arg, char *err, size_t errlen);
int	cluster_db_incident_ack(struct cluster_db *, uint64_t id, const char *node,
				const char *by, char *err, size_t errlen);

/* One node's heartbeat row, for sealctl status --cluster. */
struct cluster_node_row {
	char	node[CLUSTER_NODE_MAX];
	char	version[32];
	char	roles[256];
	int64_t	heartbeat_ms;		/* the node's last beat */
	int64_t	age_ms;			/* the database's now() minus that */
	int64_t	started_ms;
	uint64_t queue_depth;
	uint64_t outbox;		/* entries not shipped yet */
	uint64_t outbox_dropped;
	int64_t	ship_lag_ms;		/* the oldest unshipped tracking, 0: none */
	uint64_t cert_behind;		/* certificate changes not applied there */
	int64_t	cert_lag_ms;		/* the oldest of them, 0: none */
};

typedef int cluster_node_fn(const struct cluster_node_row *, void *arg);

int	cluster_db_nodes(struct cluster_db *, cluster_node_fn *, void *arg, char *err,
			 size_t errlen);

#endif
