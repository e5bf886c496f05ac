/*
 * NAME
 *	cluster_schema 3
 * SUMMARY
 *	the PostgreSQL schema, versioned in the tree
 * SYNOPSIS
 *	#include "cluster/cluster.h"
 *
 *	void	cluster_schema_sql(out)
 * DESCRIPTION
 *	migrations[] is the schema's history: entry N-1 takes a database
 *	from version N-1 to N. It only ever grows; a released migration is
 *	never edited (a node running an older sealgate keeps working on a
 *	newer schema as long as migrations only add).
 *
 *	cluster_schema_sql() appends one script that applies every missing
 *	migration. Sent as one simple query it runs as one transaction:
 *	pg_advisory_xact_lock(CLUSTER_LOCK_KEY) first, so nodes that start
 *	together (or sealctl cluster init beside them) wait for each other
 *	and each migration runs once; sg_schema records the versions
 *	applied. A failure rolls everything back.
 *
 *	The tables: sg_node (one heartbeat row per node), sg_track (tracking
 *	records of every node: searchable columns and the record itself;
 *	keyed by id first, which is arrival order, so show and the pages of
 *	a search are index lookups; few indexes, since every one costs the
 *	database work per shipped record),
 *	sg_incident (incidents of every node, with the acknowledgement,
 *	which any node may make; ack_local says whether the incident's own
 *	node has applied it to its queue yet), and since version 2 sg_cert:
 *	certificates every node applies to its own database, in seq order
 *	(a file imported with sealctl, with its --ca and --gateway; a
 *	certificate a worker harvested; a CRL), and sg_node says how far
 *	each node received and applied them. Since version 3 only harvests
 *	are unique by the SHA-256 of their bytes (fp), so two nodes that
 *	harvest the same certificate store it once; every other row is an
 *	administrator's action, and the same action again (a certificate
 *	removed, imported again, removed again) must reach the nodes again:
 *	its fp has its seq appended. Version 2 deduplicated every kind, so
 *	the second removal never left the database. The column keeps its
 *	name and its unique constraint: an older node's ON CONFLICT (fp)
 *	still finds it. Since version 4 a row carries the mac its node made
 *	under the cluster key file (worker_cert_mac()); nodes with a key file
 *	apply only rows whose mac verifies.
 */

#include "cluster.h"

static const char *const migrations[] = {
	/* 1 */
	"CREATE TABLE sg_node ("
	" node text PRIMARY KEY,"
	" heartbeat timestamptz NOT NULL,"
	" started timestamptz,"
	" version text NOT NULL,"
	" roles text NOT NULL,"
	" queue_depth bigint NOT NULL,"
	" outbox bigint NOT NULL,"
	" outbox_dropped bigint NOT NULL,"
	" oldest_unshipped timestamptz);"
	"CREATE TABLE sg_track ("
	" node text NOT NULL,"
	" id bigint NOT NULL,"
	" arrival timestamptz NOT NULL,"
	" sender text NOT NULL,"
	" rcpts text[] NOT NULL,"
	" subject text NOT NULL,"
	" status text NOT NULL,"
	" direction smallint NOT NULL,"
	" record bytea NOT NULL,"
	" shipped timestamptz NOT NULL DEFAULT now(),"
	" PRIMARY KEY (id, node));"
	"CREATE INDEX sg_track_arrival ON sg_track (arrival);"
	"CREATE TABLE sg_incident ("
	" node text NOT NULL,"
	" id bigint NOT NULL,"
	" time timestamptz NOT NULL,"
	" last timestamptz NOT NULL,"
	" count bigint NOT NULL,"
	" kind text NOT NULL,"
	" ack_ms bigint NOT NULL DEFAULT 0,"
	" ack_by text NOT NULL DEFAULT '',"
	" ack_local boolean NOT NULL DEFAULT true,"
	" record bytea NOT NULL,"
	" PRIMARY KEY (id, node));"
	"CREATE INDEX sg_incident_open ON sg_incident (id) WHERE ack_ms = 0;",
	/* 2 */
	"CREATE SEQUENCE sg_cert_seq;"
	"CREATE TABLE sg_cert ("
	" seq bigint NOT NULL DEFAULT nextval('sg_cert_seq'),"
	" kind smallint NOT NULL,"
	" ca boolean NOT NULL DEFAULT false,"
	" gateway text NOT NULL DEFAULT '',"
	" data bytea NOT NULL,"
	" fp text GENERATED ALWAYS AS (encode(sha256(data), 'hex')) STORED UNIQUE,"
	" origin text NOT NULL,"
	" added timestamptz NOT NULL DEFAULT now());"
	"CREATE INDEX sg_cert_by_seq ON sg_cert (seq);"
	"ALTER TABLE sg_node ADD COLUMN cert_received bigint NOT NULL DEFAULT 0,"
	" ADD COLUMN cert_applied bigint NOT NULL DEFAULT 0;",
	/* 3: only a harvest is stored once; every other row is an action */
	"ALTER TABLE sg_cert DROP COLUMN fp;"
	"ALTER TABLE sg_cert ADD COLUMN fp text GENERATED ALWAYS AS"
	" (encode(sha256(data), 'hex') || CASE WHEN kind = 2 THEN '' ELSE '/' || seq::text END)"
	" STORED UNIQUE;",
	/* 4: a row's nonce and mac under the cluster key file (NULL from a node without one) */
	"ALTER TABLE sg_cert ADD COLUMN mac bytea;",
};

_Static_assert(QUEUE_CERT_HARVEST == 2, "kind = 2 in version 3 is a harvest");
_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == CLUSTER_SCHEMA_VERSION,
	       "CLUSTER_SCHEMA_VERSION is the number of migrations");

void	cluster_schema_sql(struct sg_buf *out)
{
	sg_buf_printf(out, "SELECT pg_advisory_xact_lock(%lld);"
		      "CREATE TABLE IF NOT EXISTS sg_schema (version integer PRIMARY KEY,"
		      " applied timestamptz NOT NULL DEFAULT now());",
		      (long long) CLUSTER_LOCK_KEY);
	for (size_t i = 0; i < SG_NELEM(migrations); i++)
		sg_buf_printf(out, "DO $sg$ BEGIN IF NOT EXISTS (SELECT 1 FROM sg_schema WHERE "
			      "version = %zu) THEN %s INSERT INTO sg_schema (version) VALUES (%zu);"
			      " END IF; END $sg$;", i + 1, migrations[i], i + 1);
	sg_buf_printf(out, "SELECT max(version) FROM sg_schema;");
}
