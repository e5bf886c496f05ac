/*
 * NAME
 *	sealctl_cluster 3
 * SUMMARY
 *	sealctl cluster: the schema and the nodes of a cluster
 * SYNOPSIS
 *	#include "cmd/sealctl.h"
 *
 *	int	sealctl_cluster(conf, argc, argv)
 *	int	sealctl_cluster_status(conf, json)
 *	int	sealctl_cluster_share(conf, kind, ca, gateway, data, what)
 *	struct cluster_db *sealctl_cluster_db(conf, what, local)
 *
 *	sealctl cluster init
 *	sealctl cluster status [--json]
 *	sealctl status --cluster [--json]
 * DESCRIPTION
 *	init applies the schema migrations to the database cluster.postgres
 *	names (cluster_db_init(): under an advisory lock, so it is safe
 *	beside nodes that start and apply them too) and prints the schema
 *	version. Nodes apply them at start anyway; init lets an operator
 *	prepare the database, and see that the credentials work, first.
 *
 *	status lists every node's heartbeat row: name, the age of its last
 *	heartbeat, version, queue depth, the outbox (records not shipped
 *	yet, and how many were dropped because it was full), the age of the
 *	oldest unshipped tracking record (the shipping lag) and the roles'
 *	health as that node's master published it, and the certificate sync
 *	lag: the changes of sg_cert that node has not applied yet and the
 *	age of the oldest. A node whose heartbeat is older than STALE_BEATS
 *	heartbeats, or with a role not running, is "degraded".
 *
 *	sealctl_cluster_share() hands what "cert import" (public
 *	certificates only) and "crl import" just stored to the other nodes:
 *	a record in this node's queue outbox (queue_cert_share()), which
 *	the cluster role ships, so it works while the database is down too.
 *	With cluster.key_file the record carries its mac (worker_cert_mac()),
 *	without which the other nodes refuse it. Without a cluster it does
 *	nothing.
 *
 *	sealctl_cluster_db() connects for a command named what, or says on
 *	stderr why it cannot (with local: that --local asks this node).
 * DIAGNOSTICS
 *	Exit 0: done (status: every node fresh); 1: status found a stale
 *	node or a role not running; 2: no cluster configured or the
 *	database could not be reached (the reason on stderr).
 */

#include <stdio.h>
#include <string.h>

#include <nss.h>

#include "sealctl.h"
#include "worker/worker.h"

#define STALE_BEATS 3

struct nodes {
	const struct sealgate_conf *conf;
	bool	json;
	int	n;
	bool	degraded;
};

static bool node_degraded(const struct nodes *ns, const struct cluster_node_row *r)
{
	const char *p = r->roles;

	if (r->age_ms > STALE_BEATS * ns->conf->cluster.heartbeat_ms)
		return (true);
	/* every role is "NAME=running" when it is healthy */
	while ((p = strchr(p, '=')) != NULL) {
		if (strncmp(p + 1, "running", 7) != 0)
			return (true);
		p++;
	}
	return (false);
}

static int put_node(const struct cluster_node_row *r, void *arg)
{
	struct nodes *ns = arg;
	bool	bad = node_degraded(ns, r);
	char	t[32];

	ns->degraded |= bad;
	if (ns->json) {
		putchar(ns->n++ ? ',' : '[');
		putchar('{');
		sealctl_json_kv_str(stdout, "node", r->node, true);
		sealctl_json_kv_time(stdout, "heartbeat", r->heartbeat_ms, false);
		sealctl_json_kv_u64(stdout, "heartbeat_age_ms", (uint64_t) r->age_ms, false);
		sealctl_json_kv_str(stdout, "state", bad ? "degraded" : "ok", false);
		sealctl_json_kv_str(stdout, "version", r->version, false);
		sealctl_json_kv_time(stdout, "started", r->started_ms, false);
		sealctl_json_kv_u64(stdout, "queue_depth", r->queue_depth, false);
		sealctl_json_kv_u64(stdout, "outbox", r->outbox, false);
		sealctl_json_kv_u64(stdout, "outbox_dropped", r->outbox_dropped, false);
		sealctl_json_kv_u64(stdout, "ship_lag_ms", (uint64_t) r->ship_lag_ms, false);
		sealctl_json_kv_u64(stdout, "cert_behind", r->cert_behind, false);
		sealctl_json_kv_u64(stdout, "cert_lag_ms", (uint64_t) r->cert_lag_ms, false);
		sealctl_json_kv_str(stdout, "roles", r->roles, false);
		putchar('}');
		return (0);
	}
	if (ns->n++ == 0)
		printf("%-10s %-8s %-9s %-20s %7s %7s %7s %9s %9s  %s\n", "NODE", "STATE",
		       "HEARTBEAT", "VERSION", "QUEUE", "OUTBOX", "DROPPED", "SHIP LAG", "CERT LAG",
		       "ROLES");
	snprintf(t, sizeof(t), "%.1fs ago", (double) r->age_ms / 1000.0);
	printf("%-10s %-8s %-9s %-20s %7llu %7llu %7llu %8.1fs %8.1fs  ", r->node,
	       bad ? "degraded" : "ok", t, r->version, (unsigned long long) r->queue_depth,
	       (unsigned long long) r->outbox, (unsigned long long) r->outbox_dropped,
	       (double) r->ship_lag_ms / 1000.0, (double) r->cert_lag_ms / 1000.0);
	sealctl_put_text(stdout, r->roles, 200);
	putchar('\n');
	return (0);
}

struct cluster_db *sealctl_cluster_db(const struct sealgate_conf *conf, const char *what,
				      bool local)
{
	struct cluster_db *db;
	char	err[512];

	if ((db = cluster_db_open(&conf->cluster, err, sizeof(err))) == NULL)
		fprintf(stderr, "sealctl: %s: %s%s\n", what, err,
			local ? " (--local: this node's queue)" : "");
	return (db);
}

int	sealctl_cluster_status(const struct sealgate_conf *conf, bool json)
{
	struct nodes ns = {conf, json, 0, false};
	struct cluster_db *db;
	char	err[512];
	int	rc;

	if ((db = sealctl_cluster_db(conf, "status --cluster", false)) == NULL)
		return (SEALCTL_USAGE);
	rc = cluster_db_nodes(db, put_node, &ns, err, sizeof(err));
	cluster_db_close(db);
	if (rc < 0) {
		fprintf(stderr, "sealctl: status --cluster: %s\n", err);
		return (SEALCTL_USAGE);
	}
	if (json)
		printf("%s\n", ns.n ? "]" : "[]");
	else if (ns.n == 0)
		printf("no node has written a heartbeat yet\n");
	return (ns.degraded ? SEALCTL_PARTIAL : SEALCTL_OK);
}

static int cluster_init(const struct sealgate_conf *conf)
{
	struct cluster_db *db;
	char	err[512];
	int	version = 0, rc;

	if ((db = sealctl_cluster_db(conf, "cluster init", false)) == NULL)
		return (SEALCTL_USAGE);
	rc = cluster_db_init(db, &version, err, sizeof(err));
	cluster_db_close(db);
	if (rc < 0) {
		fprintf(stderr, "sealctl: cluster init: %s\n", err);
		return (SEALCTL_PARTIAL);
	}
	printf("schema version %d (this sealgate knows %d)\n", version, CLUSTER_SCHEMA_VERSION);
	return (SEALCTL_OK);
}

/* mac - r's nonce and mac; the certificate database is closed by now: NSS alone */

static int mac(const struct sealgate_conf *conf, struct queue_cert_rec *r)
{
	bool	init = !NSS_IsInitialized();
	int	rc;

	if (init && NSS_NoDB_Init(NULL) != SECSuccess)
		return (SG_ECRYPTO);
	rc = worker_cert_mac(conf->cluster.key_file, r);
	if (init)
		(void) NSS_Shutdown();
	return (rc);
}

int	sealctl_cluster_share(const struct sealgate_conf *conf, int kind, bool ca,
			      const char *gateway, const struct sg_buf *data, const char *what)
{
	struct queue_cert_rec r = {.kind = kind,.flags = ca ? QUEUE_CERT_F_CA : 0,
		.gateway = gateway ? gateway : "",.data = data->data,.len = data->len};
	struct queue *q;
	int	rc;

	if (!cluster_configured(&conf->cluster))
		return (SEALCTL_OK);
	if (*conf->cluster.key_file && (rc = mac(conf, &r)) < 0) {
		fprintf(stderr, "sealctl: %s: not shared with the cluster: cluster.key_file %s: %s\n",
			what, conf->cluster.key_file, rc == SG_EINVAL ? "shorter than 16 characters"
			: sg_strerror(rc));
		return (SEALCTL_PARTIAL);
	}
	if (sealctl_queue_open(conf, SEALCTL_QUEUE_MAKE, &q) != 0)
		return (SEALCTL_PARTIAL);
	rc = queue_cert_share(q, &r);
	queue_close(q);
	if (rc < 0) {
		fprintf(stderr, "sealctl: %s: not shared with the cluster: %s\n", what,
			sg_strerror(rc));
		return (SEALCTL_PARTIAL);
	}
	printf("%s: shared with the cluster (the other nodes apply it within seconds)\n", what);
	return (SEALCTL_OK);
}

int	sealctl_cluster(const struct sealgate_conf *conf, int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "init") == 0)
		return (cluster_init(conf));
	if (argc >= 2 && argc <= 3 && strcmp(argv[1], "status") == 0
	    && (argc == 2 || strcmp(argv[2], "--json") == 0))
		return (sealctl_cluster_status(conf, argc == 3));
	sealctl_usage(stderr, "cluster");
	return (SEALCTL_USAGE);
}
