/*
 * NAME
 *	sealctl_incidents 3
 * SUMMARY
 *	sealctl incidents: list, show and acknowledge crypto incidents
 * SYNOPSIS
 *	#include "cmd/sealctl.h"
 *
 *	int	sealctl_incidents(conf, argc, argv)
 *
 *	sealctl incidents list [--all] [--json] [--node NODE] [--local]
 *	sealctl incidents show ID [--json] [--node NODE] [--local]
 *	sealctl incidents ack ID... [--release | --delete] [--node NODE] [--local]
 * DESCRIPTION
 *	The worker records every crypto failure (no certificate under
 *	mandatory encryption, bad signature, undecryptable mail, ...) as an
 *	incident in the queue. list shows the unacknowledged ones (--all:
 *	every one) as a table or, with --json, one JSON object per line;
 *	show prints one incident; ack marks incidents as seen (by the user
 *	running sealctl) so list no longer shows them, and with --release or
 *	--delete also releases (the cause is fixed) or deletes the messages
 *	of the incident that are still held.
 *
 *	An incident is a group: every failure of one cause (kind, rule and
 *	text) while it is open, with a count, first and last time and the
 *	ids of the messages concerned (the first 1000).
 *
 *	Reads open the queue read-only (snapshots, never blocking the
 *	daemon); ack is a short write transaction.
 *
 *	With a cluster configured (cluster.postgres), all three ask the
 *	cluster's database instead: every node's incidents with a node
 *	column (--node NODE: one node's), and an acknowledgement made on any
 *	node reaches the incident's own node, whose cluster role marks it in
 *	its queue within seconds (LISTEN sg_ack). --release and --delete act
 *	on held mail, which is in one node's queue: on that node, with
 *	--local, which also works on the local queue when the database is
 *	down.
 * DIAGNOSTICS
 *	Exit 0 on success, 1 when an id was not found or was already
 *	acknowledged (named on stderr), 2 on a usage error. Incident text
 *	comes from mail and certificates: untrusted, so escaped on output.
 */

#include <pwd.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sealctl.h"

static void put_json(const char *key, const char *s, bool first)
{
	sealctl_json_kv_str(stdout, key, s, first);
}

static void fmt_time(int64_t ms, char *buf, size_t len)
{
	sealctl_time(ms, buf, len);
}

/* put_one_json - arg: the incident's node (a cluster), or NULL */

static int put_one_json(const struct queue_incident *inc, void *arg)
{
	char	id[QUEUE_ID_BUFSZ], msg[QUEUE_ID_BUFSZ], t[32], a[32];
	const char *node = arg;

	fmt_time(inc->time_ms, t, sizeof(t));
	fmt_time(inc->ack_ms, a, sizeof(a));
	putchar('{');
	if (node)
		put_json("node", node, true);
	put_json("id", queue_id_format(inc->id, id), node == NULL);
	put_json("message_id", inc->msg_id ? queue_id_format(inc->msg_id, msg) : "", false);
	put_json("time", t, false);
	put_json("kind", inc->kind, false);
	put_json("sender", inc->sender, false);
	put_json("recipient", inc->rcpt, false);
	put_json("rule", inc->rule, false);
	put_json("reason", inc->text, false);
	put_json("acknowledged", inc->ack_ms ? a : "", false);
	put_json("acknowledged_by", inc->ack_by, false);
	fmt_time(inc->last_ms, t, sizeof(t));
	put_json("last_seen", t, false);
	printf(",\"count\":%llu,\"message_ids\":[", (unsigned long long) inc->count);
	for (size_t i = 0; i < inc->nmsgs; i++)
		printf("%s\"%s\"", i ? "," : "", queue_id_format(queue_incident_msg(inc, i), msg));
	printf("]}\n");
	return (0);
}

static int put_one_row(const struct queue_incident *inc, void *arg)
{
	char	id[QUEUE_ID_BUFSZ], msg[QUEUE_ID_BUFSZ], t[32], s[80], r[80], x[160];

	if (arg)
		printf("%-8s  ", (const char *) arg);
	fmt_time(inc->last_ms, t, sizeof(t));
	printf("%-13s  %-20s  %6llu  %-13s  %-16s  %-24s  %-24s  %s\n",
	       queue_id_format(inc->id, id), t, (unsigned long long) inc->count,
	       inc->msg_id ? queue_id_format(inc->msg_id, msg) : "-", inc->kind,
	       sg_printable(s, sizeof(s), inc->sender, strlen(inc->sender)),
	       sg_printable(r, sizeof(r), inc->rcpt, strlen(inc->rcpt)),
	       sg_printable(x, sizeof(x), inc->text, strlen(inc->text)));
	return (0);
}

#define SHOW_MSGS 20			/* message ids show lists; --json: all */

static void put_detail(const struct queue_incident *inc)
{
	char	id[QUEUE_ID_BUFSZ], t[32], b[600];

	printf("id:           %s\n", queue_id_format(inc->id, id));
	fmt_time(inc->time_ms, t, sizeof(t));
	printf("first seen:   %s\n", t);
	fmt_time(inc->last_ms, t, sizeof(t));
	printf("last seen:    %s\n", t);
	printf("count:        %llu\n", (unsigned long long) inc->count);
	printf("messages:    ");
	for (size_t i = 0; i < inc->nmsgs && i < SHOW_MSGS; i++)
		printf(" %s", queue_id_format(queue_incident_msg(inc, i), id));
	if (inc->nmsgs > SHOW_MSGS)
		printf(" ... (%zu more with --json)", inc->nmsgs - SHOW_MSGS);
	printf("%s\n", inc->nmsgs ? "" : " -");
	printf("kind:         %s\n", inc->kind);
	printf("rule:         %s\n", sg_printable(b, sizeof(b), inc->rule, strlen(inc->rule)));
	printf("sender:       %s\n", sg_printable(b, sizeof(b), inc->sender, strlen(inc->sender)));
	printf("recipient:    %s\n", sg_printable(b, sizeof(b), inc->rcpt, strlen(inc->rcpt)));
	printf("reason:       %s\n", sg_printable(b, sizeof(b), inc->text, strlen(inc->text)));
	fmt_time(inc->ack_ms, t, sizeof(t));
	printf("acknowledged: %s%s%s\n", inc->ack_ms ? t : "no", inc->ack_ms ? " by " : "",
	       inc->ack_ms ? sg_printable(b, sizeof(b), inc->ack_by, strlen(inc->ack_by)) : "");
}

/* ------------------------------------------------------------ cluster */

static int cluster_row(const char *node, const struct queue_incident *inc, void *arg)
{
	(void) arg;
	return (put_one_row(inc, (void *) node));
}

static int cluster_json(const char *node, const struct queue_incident *inc, void *arg)
{
	(void) arg;
	return (put_one_json(inc, (void *) node));
}

static int cluster_detail(const char *node, const struct queue_incident *inc, void *arg)
{
	(void) arg;
	printf("node:         %s\n", node);
	put_detail(inc);
	return (0);
}

static bool has_flag(int argc, char **argv, const char *flag);

/* option_value - the value of --name VALUE in argv, or NULL */

static const char *option_value(int argc, char **argv, const char *name)
{
	for (int i = 2; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return (argv[i + 1]);
	return (NULL);
}

/*
 * cluster_incidents - list, show and ack against the cluster's database:
 * every node's incidents, with a node column; an ack made here reaches
 * the incident's node (its cluster role marks it in its own queue)
 */
static int cluster_incidents(const struct sealgate_conf *conf, const char *verb, int argc,
			     char **argv)
{
	struct passwd *pw = getpwuid(getuid());
	const char *node = option_value(argc, argv, "--node");
	bool	json = has_flag(argc, argv, "--json");
	struct cluster_db *db;
	char	err[512];
	uint64_t id = 0;
	int	rc = 0, status = SEALCTL_OK;

	if (has_flag(argc, argv, "--release") || has_flag(argc, argv, "--delete")) {
		fprintf(stderr, "sealctl: incidents ack: --release and --delete act on this node's "
			"queue: use them with --local on the incident's node\n");
		return (SEALCTL_USAGE);
	}
	snprintf(err, sizeof(err), "incidents %s", verb);
	if ((db = sealctl_cluster_db(conf, err, true)) == NULL)
		return (SEALCTL_PARTIAL);
	if (strcmp(verb, "list") == 0) {
		if (!json)
			printf("%-8s  %-13s  %-20s  %6s  %-13s  %-16s  %-24s  %-24s  %s\n", "NODE",
			       "ID", "LAST SEEN", "COUNT", "FIRST MESSAGE", "KIND", "SENDER",
			       "RECIPIENT", "REASON");
		rc = cluster_db_incidents(db, has_flag(argc, argv, "--all"), 0, node,
					  json ? cluster_json : cluster_row, NULL, err, sizeof(err));
	}
	for (int i = 2; i < argc && strcmp(verb, "list") != 0; i++) {
		if (argv[i][0] == '-') {
			i += strcmp(argv[i], "--node") == 0;
			continue;
		}
		if (queue_id_parse(argv[i], strlen(argv[i]), &id) < 0) {
			fprintf(stderr, "sealctl: incidents %s: bad id \"%s\"\n", verb, argv[i]);
			status = SEALCTL_PARTIAL;
			continue;
		}
		if (strcmp(verb, "show") == 0)
			rc = cluster_db_incidents(db, true, id, node, json ? cluster_json
						  : cluster_detail, NULL, err, sizeof(err));
		else
			rc = cluster_db_incident_ack(db, id, node, pw ? pw->pw_name : "sealctl",
						     err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "sealctl: incidents %s: %s: %s\n", verb, argv[i], err);
			status = SEALCTL_PARTIAL;
			rc = 0;
		}
	}
	cluster_db_close(db);
	if (rc < 0) {
		fprintf(stderr, "sealctl: incidents %s: %s\n", verb, err);
		return (SEALCTL_PARTIAL);
	}
	if (id == 0 && strcmp(verb, "list") != 0 && status == SEALCTL_OK) {
		fprintf(stderr, "sealctl: incidents %s: want incident ids\n", verb);
		return (SEALCTL_USAGE);
	}
	return (status);
}

static bool has_flag(int argc, char **argv, const char *flag)
{
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], flag) == 0)
			return (true);
	return (false);
}

static int cmd_list(struct queue *q, int argc, char **argv)
{
	bool	json = has_flag(argc, argv, "--json");
	uint64_t cursor = 0;
	int	rc;

	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "--json") != 0 && strcmp(argv[i], "--all") != 0) {
			fprintf(stderr, "sealctl: incidents list: unknown option \"%s\"\n", argv[i]);
			return (SEALCTL_USAGE);
		}
	if (!json)
		printf("%-13s  %-20s  %6s  %-13s  %-16s  %-24s  %-24s  %s\n", "ID", "LAST SEEN",
		       "COUNT", "FIRST MESSAGE", "KIND", "SENDER", "RECIPIENT", "REASON");
	rc = queue_incident_list(q, has_flag(argc, argv, "--all"), &cursor,
				 json ? put_one_json : put_one_row, NULL);
	if (rc < 0) {
		fprintf(stderr, "sealctl: incidents list: %s\n", sg_strerror(rc));
		return (SEALCTL_PARTIAL);
	}
	return (SEALCTL_OK);
}

static int cmd_show(struct queue *q, int argc, char **argv)
{
	struct queue_incident inc;
	uint64_t id;
	int	rc;

	if (argc < 3 || queue_id_parse(argv[2], strlen(argv[2]), &id) < 0) {
		fprintf(stderr, "sealctl: incidents show: want an incident id\n");
		return (SEALCTL_USAGE);
	}
	memset(&inc, 0, sizeof(inc));
	if ((rc = queue_incident_get(q, id, &inc)) < 0) {
		fprintf(stderr, "sealctl: incidents show: %s: %s\n", argv[2], sg_strerror(rc));
		return (SEALCTL_PARTIAL);
	}
	if (has_flag(argc, argv, "--json"))
		put_one_json(&inc, NULL);
	else
		put_detail(&inc);
	queue_incident_free(&inc);
	return (SEALCTL_OK);
}

/*
 * settle - after an ack: release (cause fixed) or delete (given up) the
 * held messages of the incident, one step for an operator. Messages no
 * longer held (delivered, deleted, released) are left alone.
 */
static int settle(struct queue *q, const struct queue_incident *inc, bool release,
		  const char *what)
{
	uint64_t *ids = sg_xcalloc(inc->nmsgs ? inc->nmsgs : 1, sizeof(*ids));
	int    *res = sg_xcalloc(inc->nmsgs ? inc->nmsgs : 1, sizeof(*res));
	size_t	n = 0, changed = 0;
	struct queue_env e;
	int	rc;

	for (size_t i = 0; i < inc->nmsgs; i++) {
		queue_env_init(&e);
		if (queue_get(q, queue_incident_msg(inc, i), 0, &e) == 0 && e.state == QUEUE_HOLD)
			ids[n++] = e.id;
		queue_env_free(&e);
	}
	rc = release ? queue_release(q, ids, n, res, &changed)
		: queue_delete(q, ids, n, "deleted with its incident", res, &changed);
	if (rc == 0)
		printf("%s: %zu held message(s) %s\n", what, changed, release ? "released"
		       : "deleted");
	else
		fprintf(stderr, "sealctl: incidents ack: %s: %s\n", what, sg_strerror(rc));
	free(ids);
	free(res);
	return (rc);
}

static int ack_one(struct queue *q, const char *arg, const char *by, int settle_how)
{
	struct queue_incident inc;
	uint64_t id;
	int	rc;

	if (queue_id_parse(arg, strlen(arg), &id) < 0) {
		fprintf(stderr, "sealctl: incidents ack: bad id \"%s\"\n", arg);
		return (-1);
	}
	if ((rc = queue_incident_ack(q, id, by)) < 0) {
		fprintf(stderr, "sealctl: incidents ack: %s: %s\n", arg,
			rc == SG_EEXIST ? "already acknowledged" : sg_strerror(rc));
		return (-1);
	}
	if (settle_how == 0)
		return (0);
	memset(&inc, 0, sizeof(inc));
	if ((rc = queue_incident_get(q, id, &inc)) == 0)
		rc = settle(q, &inc, settle_how > 0, arg);
	queue_incident_free(&inc);
	return (rc);
}

static int cmd_ack(struct queue *q, int argc, char **argv)
{
	struct passwd *pw = getpwuid(getuid());
	const char *by = pw ? pw->pw_name : "sealctl";
	int	status = SEALCTL_OK, how = 0, nids = 0;

	/* --release: the cause is fixed; --delete: the held mail is given up */
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--release") == 0 || strcmp(argv[i], "--delete") == 0) {
			if (how != 0)
				return (SEALCTL_USAGE);
			how = argv[i][2] == 'r' ? 1 : -1;
		} else if (argv[i][0] == '-')
			return (SEALCTL_USAGE);
		else
			nids++;
	}
	if (nids == 0) {
		fprintf(stderr, "sealctl: incidents ack: want incident ids\n");
		return (SEALCTL_USAGE);
	}
	for (int i = 2; i < argc; i++)
		if (argv[i][0] != '-' && ack_one(q, argv[i], by, how) < 0)
			status = SEALCTL_PARTIAL;
	return (status);
}

/* without_local - argv without --local (the local queue is the default then) */

static int without_local(int argc, char **argv)
{
	int	n = 0;

	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "--local") != 0)
			argv[n++] = argv[i];
	return (n);
}

int	sealctl_incidents(const struct sealgate_conf *conf, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : "";
	bool	write = strcmp(verb, "ack") == 0;
	struct queue *q;
	int	rc;

	if (strcmp(verb, "list") != 0 && strcmp(verb, "show") != 0 && !write) {
		sealctl_usage(stderr, "incidents");
		return (SEALCTL_USAGE);
	}
	if (cluster_configured(&conf->cluster) && !has_flag(argc, argv, "--local"))
		return (cluster_incidents(conf, verb, argc, argv));
	argc = without_local(argc, argv);
	if ((rc = sealctl_queue_open(conf, write ? 0 : QUEUE_RDONLY, &q)) == SG_ENOTFOUND) {
		if (strcmp(verb, "list") == 0)
			return (SEALCTL_OK);	/* no queue yet: no incidents */
		fprintf(stderr, "sealctl: no queue in %s yet\n", conf->main.state_dir);
		return (SEALCTL_PARTIAL);
	}
	if (rc < 0)
		return (SEALCTL_USAGE);
	if (strcmp(verb, "list") == 0)
		rc = cmd_list(q, argc, argv);
	else if (strcmp(verb, "show") == 0)
		rc = cmd_show(q, argc, argv);
	else
		rc = cmd_ack(q, argc, argv);
	queue_close(q);
	return (rc);
}
