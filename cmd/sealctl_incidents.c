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
 *	sealctl incidents list [--all] [--json]
 *	sealctl incidents show ID [--json]
 *	sealctl incidents ack ID...
 * DESCRIPTION
 *	The worker records every crypto failure (no certificate under
 *	mandatory encryption, bad signature, undecryptable mail, ...) as an
 *	incident in the queue. list shows the unacknowledged ones (--all:
 *	every one) as a table or, with --json, one JSON object per line;
 *	show prints one incident; ack marks incidents as seen (by the user
 *	running sealctl) so list no longer shows them.
 *
 *	Reads open the queue read-only (snapshots, never blocking the
 *	daemon); ack is a short write transaction.
 * DIAGNOSTICS
 *	Exit 0 on success, 1 when an id was not found or was already
 *	acknowledged (named on stderr), 2 on a usage error. Incident text
 *	comes from mail and certificates: untrusted, so escaped on output.
 */

#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sealctl.h"

/* put_json - a JSON string with every byte outside printable ASCII escaped */

static void put_json(const char *key, const char *s, bool first)
{
	printf("%s\"%s\":\"", first ? "" : ",", key);
	for (const unsigned char *p = (const unsigned char *) (s ? s : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void fmt_time(int64_t ms, char *buf, size_t len)
{
	time_t	t = (time_t) (ms / 1000);
	struct tm tm;

	if (ms == 0) {
		snprintf(buf, len, "-");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int put_one_json(const struct queue_incident *inc, void *arg)
{
	char	id[QUEUE_ID_BUFSZ], msg[QUEUE_ID_BUFSZ], t[32], a[32];

	(void) arg;
	fmt_time(inc->time_ms, t, sizeof(t));
	fmt_time(inc->ack_ms, a, sizeof(a));
	putchar('{');
	put_json("id", queue_id_format(inc->id, id), true);
	put_json("message_id", inc->msg_id ? queue_id_format(inc->msg_id, msg) : "", false);
	put_json("time", t, false);
	put_json("kind", inc->kind, false);
	put_json("sender", inc->sender, false);
	put_json("recipient", inc->rcpt, false);
	put_json("rule", inc->rule, false);
	put_json("reason", inc->text, false);
	put_json("acknowledged", inc->ack_ms ? a : "", false);
	put_json("acknowledged_by", inc->ack_by, false);
	printf("}\n");
	return (0);
}

static int put_one_row(const struct queue_incident *inc, void *arg)
{
	char	id[QUEUE_ID_BUFSZ], msg[QUEUE_ID_BUFSZ], t[32], s[80], r[80], x[160];

	(void) arg;
	fmt_time(inc->time_ms, t, sizeof(t));
	printf("%-13s  %-20s  %-13s  %-16s  %-24s  %-24s  %s\n", queue_id_format(inc->id, id), t,
	       inc->msg_id ? queue_id_format(inc->msg_id, msg) : "-", inc->kind,
	       sg_printable(s, sizeof(s), inc->sender, strlen(inc->sender)),
	       sg_printable(r, sizeof(r), inc->rcpt, strlen(inc->rcpt)),
	       sg_printable(x, sizeof(x), inc->text, strlen(inc->text)));
	return (0);
}

static void put_detail(const struct queue_incident *inc)
{
	char	id[QUEUE_ID_BUFSZ], t[32], b[600];

	printf("id:           %s\n", queue_id_format(inc->id, id));
	fmt_time(inc->time_ms, t, sizeof(t));
	printf("time:         %s\n", t);
	printf("message:      %s\n", inc->msg_id ? queue_id_format(inc->msg_id, id) : "-");
	printf("kind:         %s\n", inc->kind);
	printf("rule:         %s\n", sg_printable(b, sizeof(b), inc->rule, strlen(inc->rule)));
	printf("sender:       %s\n", sg_printable(b, sizeof(b), inc->sender, strlen(inc->sender)));
	printf("recipient:    %s\n", sg_printable(b, sizeof(b), inc->rcpt, strlen(inc->rcpt)));
	printf("reason:       %s\n", sg_printable(b, sizeof(b), inc->text, strlen(inc->text)));
	fmt_time(inc->ack_ms, t, sizeof(t));
	printf("acknowledged: %s%s%s\n", inc->ack_ms ? t : "no", inc->ack_ms ? " by " : "",
	       inc->ack_ms ? sg_printable(b, sizeof(b), inc->ack_by, strlen(inc->ack_by)) : "");
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
		printf("%-13s  %-20s  %-13s  %-16s  %-24s  %-24s  %s\n", "ID", "TIME", "MESSAGE",
		       "KIND", "SENDER", "RECIPIENT", "REASON");
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

static int cmd_ack(struct queue *q, int argc, char **argv)
{
	struct passwd *pw = getpwuid(getuid());
	const char *by = pw ? pw->pw_name : "sealctl";
	int	status = SEALCTL_OK, rc;
	uint64_t id;

	if (argc < 3) {
		fprintf(stderr, "sealctl: incidents ack: want incident ids\n");
		return (SEALCTL_USAGE);
	}
	for (int i = 2; i < argc; i++) {
		if (queue_id_parse(argv[i], strlen(argv[i]), &id) < 0) {
			fprintf(stderr, "sealctl: incidents ack: bad id \"%s\"\n", argv[i]);
			status = SEALCTL_PARTIAL;
		} else if ((rc = queue_incident_ack(q, id, by)) < 0) {
			fprintf(stderr, "sealctl: incidents ack: %s: %s\n", argv[i],
				rc == SG_EEXIST ? "already acknowledged" : sg_strerror(rc));
			status = SEALCTL_PARTIAL;
		}
	}
	return (status);
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
