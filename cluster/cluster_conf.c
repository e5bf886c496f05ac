/*
 * NAME
 *	cluster_conf 3
 * SUMMARY
 *	the "cluster" section of the configuration
 * SYNOPSIS
 *	#include "cluster/cluster.h"
 *
 *	extern const struct sg_conf_row cluster_conf_rows[];
 *	bool	cluster_configured(conf)
 * DESCRIPTION
 *	cluster.postgres is a libpq connection string ("host=... dbname=...")
 *	or URI ("postgresql://gw@db1/sealgate?sslmode=verify-full"); "" (the
 *	default) means no cluster: no cluster process, no outbox, and
 *	PostgreSQL is never contacted. With it set, node names this gateway
 *	in the shared tables and is required: letters, digits, '.', '-' and
 *	'_', at most CLUSTER_NODE_MAX - 1 bytes. password_file holds the
 *	database password (first line), so it never sits in the
 *	configuration; key_file seals the private keys sealctl imports for
 *	the other nodes (only root and worker_user read it; the same file on
 *	every node); TLS to the database is the connection string's
 *	(sslmode, sslrootcert, sslcert). outbox_max bounds the outbox while
 *	the database is away, batch is the records per shipping transaction,
 *	heartbeat how often the node's row is written, connect_timeout the
 *	deadline of one connection attempt. Every key needs a restart: the
 *	master starts the cluster role only when postgres is set, and the
 *	queue reads outbox_max when it is opened.
 * DIAGNOSTICS
 *	A missing or malformed node is a configuration error naming the key.
 */

#include <string.h>

#include "cluster.h"

#define Q(s) "\"" s "\""
#define OFF(f) offsetof(struct cluster_conf, f)

bool	cluster_configured(const struct cluster_conf *c)
{
	return (c->postgres && *c->postgres != 0);
}

static int check_node(struct sg_conf_ctx *ctx, const config_setting_t *g, void *base)
{
	const struct cluster_conf *c = base;
	size_t	n = strlen(c->node);

	if (!cluster_configured(c))
		return (0);
	if (n == 0) {
		sg_conf_error(ctx, g, "node: required when postgres is set (this gateway's "
			      "name in the cluster, e.g. \"gw1\")");
		return (SG_EINVAL);
	}
	if (n >= CLUSTER_NODE_MAX || strspn(c->node, "abcdefghijklmnopqrstuvwxyz"
					    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != n) {
		sg_conf_error(ctx, g, "node: \"%.80s\" is not a node name (letters, digits, "
			      "'.', '-', '_'; at most %d bytes)", c->node, CLUSTER_NODE_MAX - 1);
		return (SG_EINVAL);
	}
	return (0);
}

const struct sg_conf_row cluster_conf_rows[] = {
	{.name = "postgres",.type = SG_CONF_STRING,.offset = OFF(postgres),.def = Q("")},
	{.name = "node",.type = SG_CONF_STRING,.offset = OFF(node),.def = Q(""),
	.check = check_node},
	{.name = "password_file",.type = SG_CONF_PATH,.offset = OFF(password_file),
	.def = Q(""),.flags = SG_CONF_F_FILE},
	{.name = "key_file",.type = SG_CONF_PATH,.offset = OFF(key_file),.def = Q(""),
	.flags = SG_CONF_F_FILE},
	{.name = "outbox_max",.type = SG_CONF_INT,.offset = OFF(outbox_max),.def = "1000000",
	.min = 100,.max = 1000000000},
	{.name = "batch",.type = SG_CONF_INT,.offset = OFF(batch),.def = "500",.min = 1,
	.max = 10000},
	{.name = "heartbeat",.type = SG_CONF_DURATION,.offset = OFF(heartbeat_ms),
	.def = Q("5s"),.min = 100,.max = 3600000},
	{.name = "connect_timeout",.type = SG_CONF_DURATION,.offset = OFF(connect_timeout_ms),
	.def = Q("5s"),.min = 100,.max = 300000},
	SG_CONF_END
};
