/*
 * NAME
 *	sealctl_track 3
 * SUMMARY
 *	sealctl track: search message tracking, show one message's story
 * SYNOPSIS
 *	#include "cmd/sealctl.h"
 *
 *	int	sealctl_track(conf, argc, argv)
 *
 *	sealctl track search [--from PAT] [--to PAT] [--subject TEXT]
 *			[--since T] [--until T] [--status S] [--direction D]
 *			[--json] [--limit N] [--stats] [--local]
 *	sealctl track show ID [--json] [--node NODE] [--local]
 * DESCRIPTION
 *	search lists the messages that match every filter given, newest
 *	first: the tracking records of messages that left the queue and
 *	the messages still in it (queue_track_search() in queue/, which
 *	uses the tracking indexes). PAT: an address matches whole ("<>" is
 *	the null sender), "@domain" that domain, a pattern with * ? or [ is
 *	a shell glob on the address, any other text a substring; all
 *	case-insensitive. TEXT is a substring of the subject (stored
 *	RFC 2047-decoded). T is a time, "2026-12-04", "2026-12-04T17:30",
 *	"2026-12-04 17:30:15" (UTC, or with "Z" or an offset such as
 *	"+01:00"), or a duration back from now ("2h", "3d"); --since is
 *	inclusive, --until exclusive, both on the arrival time. S is one of
 *	the status words (queued deferred held delivered bounced partial
 *	dropped deleted split rejected), or several with commas: any of
 *	them. D is inbound or outbound. --limit N: at most N messages
 *	(default 100; 0: all). The table has one line per message; --json
 *	prints one JSON object per line instead. --stats tells on stderr
 *	how the search went (the index used, the entries read).
 *
 *	show prints everything the record holds but the body: arrival,
 *	client, TLS and listener it came in by, sender and subject, the
 *	rule and the crypto actions in words with the worker's notes
 *	(certificates used, the verification verdict and signer), and for
 *	each recipient its outcome, the remote reply with its status code,
 *	the relay and the TLS used, attempts and times.
 *
 *	Both open the queue read-only (snapshots; they never block the
 *	daemon). With a cluster configured (cluster.postgres) both ask the
 *	cluster's database instead (cluster_db_track_search()): the
 *	tracking records of every node, as each node's cluster role shipped
 *	them, with a node column first (table) or a "node" key (JSON); the
 *	same filters, tested on the records with the queue's own matcher.
 *	Messages still in a queue are not there yet (a record is shipped
 *	when the message leaves). --local asks this node's queue as without
 *	a cluster (when the database is down); show --node picks one node's
 *	message when two nodes made the same id.
 * DIAGNOSTICS
 *	Exit 0 on success (also when nothing matched), 1 when show finds no
 *	such message or the queue cannot be read, 2 on a usage error.
 *	Every string from the queue is untrusted: JSON escapes it, the
 *	table and show print control bytes as \xNN.
 */

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sealctl.h"

#define OUTBUF (1 << 20)
#define DEFAULT_LIMIT 100

static const char *const dirs[] = {"unknown", "inbound", "outbound"};
static const char *const short_dirs[] = {"-", "in", "out"};

struct track_opts {
	struct queue_track_query q;
	bool	json;
	bool	stats;
	bool	local;			/* the local queue even with a cluster */
	const char *node;		/* show: that node's message only */
	int	first_arg;
};

/* ------------------------------------------------------------- times */

/* digits - n decimal digits at *p; -1 when they are not there */

static int digits(const char **p, const char *end, int n)
{
	int	v = 0;

	for (int i = 0; i < n; i++, (*p)++) {
		if (*p >= end || !isdigit((unsigned char) **p))
			return (-1);
		v = v * 10 + (**p - '0');
	}
	return (v);
}

/* zone - "", "Z", "+HH:MM", "-HHMM": its offset east of UTC in seconds */

static int zone(const char *p, const char *end, long *off)
{
	int	sign, h, m;

	*off = 0;
	if (p == end || (p + 1 == end && (*p == 'Z' || *p == 'z')))
		return (0);
	if (*p != '+' && *p != '-')
		return (-1);
	sign = *p++ == '-' ? -1 : 1;
	if ((h = digits(&p, end, 2)) < 0 || h > 23)
		return (-1);
	if (p < end && *p == ':')
		p++;
	if ((m = digits(&p, end, 2)) < 0 || m > 59 || p != end)
		return (-1);
	*off = sign * (h * 3600L + m * 60L);
	return (0);
}

/* parse_when - an ISO date and time (UTC unless a zone says else), or a duration ago */

static int parse_when(const char *s, int64_t *ms)
{
	const char *p = s, *end = s + strlen(s);
	struct tm tm;
	int64_t	ago;
	long	off;
	time_t	t;

	if (sg_parse_duration(s, strlen(s), &ago) == 0) {
		*ms = sg_now_ms() - ago;
		return (0);
	}
	memset(&tm, 0, sizeof(tm));
	if ((tm.tm_year = digits(&p, end, 4)) < 0 || p >= end || *p++ != '-'
	    || (tm.tm_mon = digits(&p, end, 2)) < 1 || tm.tm_mon > 12 || p >= end || *p++ != '-'
	    || (tm.tm_mday = digits(&p, end, 2)) < 1 || tm.tm_mday > 31)
		return (-1);
	if (p < end && (*p == 'T' || *p == 't' || *p == ' ')) {
		p++;
		if ((tm.tm_hour = digits(&p, end, 2)) < 0 || tm.tm_hour > 23 || p >= end
		    || *p++ != ':' || (tm.tm_min = digits(&p, end, 2)) < 0 || tm.tm_min > 59)
			return (-1);
		if (p < end && *p == ':' && (p++, (tm.tm_sec = digits(&p, end, 2)) < 0
					     || tm.tm_sec > 60))
			return (-1);
	}
	if (zone(p, end, &off) != 0)
		return (-1);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if ((t = timegm(&tm)) == (time_t) -1)
		return (-1);
	*ms = ((int64_t) t - off) * 1000;
	return (0);
}

/* ---------------------------------------------------------- options */

enum {
	O_FROM = 256, O_TO, O_SUBJECT, O_SINCE, O_UNTIL, O_STATUS, O_DIRECTION, O_JSON, O_LIMIT,
	O_STATS, O_LOCAL, O_NODE,
};

static const struct option longopts[] = {
	{"from", required_argument, NULL, O_FROM},
	{"to", required_argument, NULL, O_TO},
	{"subject", required_argument, NULL, O_SUBJECT},
	{"since", required_argument, NULL, O_SINCE},
	{"until", required_argument, NULL, O_UNTIL},
	{"status", required_argument, NULL, O_STATUS},
	{"direction", required_argument, NULL, O_DIRECTION},
	{"json", no_argument, NULL, O_JSON},
	{"limit", required_argument, NULL, O_LIMIT},
	{"stats", no_argument, NULL, O_STATS},
	{"local", no_argument, NULL, O_LOCAL},
	{"node", required_argument, NULL, O_NODE},
	{NULL, 0, NULL, 0},
};

static int parse_status(const char *arg, unsigned *bits)
{
	unsigned b;

	*bits = 0;
	for (const char *p = arg, *e; *p; p = *e ? e + 1 : e) {
		e = p + strcspn(p, ",");
		if (queue_track_status_parse(p, (size_t) (e - p), &b) != 0)
			return (-1);
		*bits |= b;
	}
	return (*bits ? 0 : -1);
}

static int opt_value(struct track_opts *o, int c, const char *arg)
{
	uint64_t n;

	switch (c) {
	case O_FROM:
		o->q.from = arg;
		return (0);
	case O_TO:
		o->q.to = arg;
		return (0);
	case O_SUBJECT:
		o->q.subject = arg;
		return (0);
	case O_SINCE:
		return (parse_when(arg, &o->q.since_ms));
	case O_UNTIL:
		return (parse_when(arg, &o->q.until_ms));
	case O_STATUS:
		return (parse_status(arg, &o->q.status));
	case O_DIRECTION:
		o->q.direction = strcasecmp(arg, "inbound") == 0 || strcasecmp(arg, "in") == 0
			? QUEUE_DIR_INBOUND : strcasecmp(arg, "outbound") == 0
			|| strcasecmp(arg, "out") == 0 ? QUEUE_DIR_OUTBOUND : -2;
		return (o->q.direction == -2 ? -1 : 0);
	case O_NODE:
		o->node = arg;
		return (0);
	case O_LIMIT:
		if (sg_parse_u64(arg, strlen(arg), &n) != 0 || n > SIZE_MAX)
			return (-1);
		o->q.limit = (size_t) n;
		return (0);
	default:
		return (-1);
	}
}

static int parse_opts(int argc, char **argv, struct track_opts *o)
{
	int	c, li = -1;

	memset(o, 0, sizeof(*o));
	o->q.direction = -1;
	o->q.limit = DEFAULT_LIMIT;
	o->q.live = o->q.finished = true;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, &li)) != -1) {
		if (c == O_JSON) {
			o->json = true;
		} else if (c == O_STATS) {
			o->stats = true;
		} else if (c == O_LOCAL) {
			o->local = true;
		} else if (c == '?' || li < 0) {
			fprintf(stderr, "sealctl track %s: bad option: %s\n", argv[0], argv[optind - 1]);
			return (-1);
		} else if (opt_value(o, c, optarg) != 0) {
			fprintf(stderr, "sealctl track %s: bad value: --%s %s\n", argv[0],
				longopts[li].name, optarg);
			return (-1);
		}
		li = -1;
	}
	o->first_arg = optind;
	return (0);
}

/* ------------------------------------------------------------- JSON */

static void put_rcpt_json(FILE *fp, const struct queue_env *e, const struct queue_rcpt *r)
{
	putc_unlocked('{', fp);
	sealctl_json_kv_str(fp, "address", r->addr, true);
	sealctl_json_kv_str(fp, "status", queue_track_rcpt_word(e, r), false);
	sealctl_json_kv_str(fp, "reply", r->reply, false);
	sealctl_json_kv_str(fp, "dsn_status", r->dsn_status, false);
	sealctl_json_kv_str(fp, "relay", r->relay, false);
	sealctl_json_kv_str(fp, "tls", r->tls, false);
	sealctl_json_kv_u64(fp, "attempts", r->attempts, false);
	sealctl_json_kv_time(fp, "last_attempt", r->last_attempt_ms, false);
	if (!queue_rcpt_final(r->state) && e->state != QUEUE_DONE)
		sealctl_json_kv_time(fp, "next_attempt", r->next_attempt_ms, false);
	sealctl_json_kv_str(fp, "orcpt", r->orcpt, false);
	putc_unlocked('}', fp);
}

/* next_note - the next pair of a worker note "key=value; key=value" at *p; false: none left */

static bool next_note(const char **p, char *key, size_t klen, char *val, size_t vlen)
{
	while (**p) {
		const char *s = *p, *end = strstr(s, "; "), *eq;

		if (end == NULL)
			end = s + strlen(s);
		*p = *end ? end + 2 : end;
		eq = memchr(s, '=', (size_t) (end - s));
		if (eq == NULL || eq == s || (size_t) (eq - s) >= klen)
			continue;
		snprintf(key, klen, "%.*s", (int) (eq - s), s);
		snprintf(val, vlen, "%.*s", (int) (end - eq - 1), eq + 1);
		return (true);
	}
	return (false);
}

/* put_notes - the worker's note as a JSON object */

static void put_notes(FILE *fp, const char *note)
{
	char	key[64], val[QUEUE_MAX_STRING + 1];
	bool	first = true;

	putc_unlocked('{', fp);
	while (next_note(&note, key, sizeof(key), val, sizeof(val))) {
		sealctl_json_kv_str(fp, key, val, first);
		first = false;
	}
	putc_unlocked('}', fp);
}

static void put_track_json(FILE *fp, const struct queue_env *e, const char *node)
{
	char	id[QUEUE_ID_BUFSZ], crypto[WORKER_CRYPTO_WORDS_MAX];

	putc_unlocked('{', fp);
	if (node)
		sealctl_json_kv_str(fp, "node", node, true);
	sealctl_json_kv_str(fp, "id", queue_id_format(e->id, id), node == NULL);
	sealctl_json_kv_time(fp, "arrival", e->arrival_ms, false);
	sealctl_json_kv_u64(fp, "arrival_time", (uint64_t) (e->arrival_ms / 1000), false);
	sealctl_json_kv_str(fp, "status", queue_track_status_word(e), false);
	sealctl_json_kv_str(fp, "queue_state", queue_state_name(e->state), false);
	sealctl_json_kv_str(fp, "direction", dirs[e->direction], false);
	sealctl_json_kv_str(fp, "sender", e->sender, false);
	sealctl_json_kv_str(fp, "subject", e->subject, false);
	sealctl_json_kv_u64(fp, "size", e->size, false);
	sealctl_json_kv_str(fp, "client_address", e->client_addr, false);
	sealctl_json_kv_str(fp, "client_name", e->client_name, false);
	sealctl_json_kv_str(fp, "helo", e->helo, false);
	sealctl_json_kv_str(fp, "listener", e->listener, false);
	sealctl_json_kv_str(fp, "tls_version", e->tls_version, false);
	sealctl_json_kv_str(fp, "tls_cipher", e->tls_cipher, false);
	sealctl_json_kv_str(fp, "auth", e->auth, false);
	sealctl_json_kv_str(fp, "rule", e->rule, false);
	sealctl_json_kv_str(fp, "crypto", worker_crypto_words(e->crypto, crypto, sizeof(crypto)),
			    false);
	sealctl_json_key(fp, "crypto_notes", false);
	put_notes(fp, e->crypto_note);
	sealctl_json_kv_str(fp, "reason", e->reason, false);
	sealctl_json_kv_str(fp, "envid", e->envid, false);
	sealctl_json_kv_str(fp, "parent", e->parent ? queue_id_format(e->parent, id) : "", false);
	sealctl_json_kv_u64(fp, "attempts", e->attempts, false);
	sealctl_json_key(fp, "recipients", false);
	putc_unlocked('[', fp);
	for (size_t i = 0; i < e->nrcpt; i++) {
		if (i)
			putc_unlocked(',', fp);
		put_rcpt_json(fp, e, &e->rcpt[i]);
	}
	fputs_unlocked("]}\n", fp);
}

/* ------------------------------------------------------------ table */

#define SUBJECT_COLS 60

static void put_track_row(FILE *fp, const struct queue_env *e, const char *node)
{
	char	id[QUEUE_ID_BUFSZ], t[32];
	size_t	shown = e->nrcpt ? 1 : 0;

	if (node)
		fprintf(fp, "%-8s  ", node);
	fprintf(fp, "%-13s  %-20s  %-9s  %-3s  ", queue_id_format(e->id, id),
		sealctl_time(e->arrival_ms, t, sizeof(t)), queue_track_status_word(e),
		short_dirs[e->direction]);
	if (e->sender[0])
		sealctl_put_text(fp, e->sender, 80);
	else
		fputs_unlocked("<>", fp);
	fputs_unlocked(" -> ", fp);
	if (shown)
		sealctl_put_text(fp, e->rcpt[0].addr, 80);
	if (e->nrcpt > shown)
		fprintf(fp, " (+%zu)", e->nrcpt - shown);
	fputs_unlocked("  \"", fp);
	sealctl_put_text(fp, e->subject, SUBJECT_COLS);
	fputs_unlocked("\"\n", fp);
}

/* ------------------------------------------------------------ search */

struct out {
	bool	json;
	FILE   *fp;
	uint64_t n;			/* cluster: messages printed */
};

static int put_one(const struct queue_env *e, void *arg)
{
	struct out *o = arg;

	if (o->json)
		put_track_json(o->fp, e, NULL);
	else
		put_track_row(o->fp, e, NULL);
	return (0);
}

static int put_node_one(const char *node, const struct queue_env *e, void *arg)
{
	struct out *o = arg;

	o->n++;
	if (o->json)
		put_track_json(o->fp, e, node);
	else
		put_track_row(o->fp, e, node);
	return (0);
}

static void put_total(const struct track_opts *o, uint64_t n)
{
	if (!o->json)
		printf("-- %llu message%s%s\n", (unsigned long long) n, n == 1 ? "" : "s",
		       o->q.limit && n == o->q.limit
		       ? " (the limit: --limit N for more, 0 for all)" : "");
}

/* cluster_search - every node's tracking, from the cluster's database */

static int cluster_search(const struct sealgate_conf *conf, const struct track_opts *o)
{
	struct out out = {o->json, stdout, 0};
	struct cluster_db *db;
	char	err[512];
	int	rc;

	if ((db = sealctl_cluster_db(conf, "track search", true)) == NULL)
		return (SEALCTL_PARTIAL);
	setvbuf(stdout, NULL, _IOFBF, OUTBUF);
	rc = cluster_db_track_search(db, &o->q, put_node_one, &out, err, sizeof(err));
	cluster_db_close(db);
	if (rc < 0) {
		fprintf(stderr, "sealctl: track search: %s\n", err);
		return (SEALCTL_PARTIAL);
	}
	put_total(o, out.n);
	return (SEALCTL_OK);
}

static int cmd_search(const struct sealgate_conf *conf, const struct track_opts *o, int argc)
{
	struct queue_track_stats st = {.plan = "none"};
	struct out out = {o->json, stdout, 0};
	struct queue *q;
	int64_t	t0 = sg_mono_ms();
	int	err;

	if (o->first_arg != argc)
		return (SEALCTL_USAGE);
	if (cluster_configured(&conf->cluster) && !o->local)
		return (cluster_search(conf, o));
	if ((err = sealctl_queue_open(conf, QUEUE_RDONLY, &q)) != 0 && err != SG_ENOTFOUND)
		return (SEALCTL_PARTIAL);
	setvbuf(stdout, NULL, _IOFBF, OUTBUF);
	if (err == 0) {
		err = queue_track_search(q, &o->q, put_one, &out, &st);
		queue_close(q);
	} else {
		err = 0;			/* no queue yet: nothing to find */
	}
	if (o->stats)
		fprintf(stderr, "sealctl: track search: plan=%s keys=%llu summaries=%llu "
			"records=%llu matched=%llu ms=%lld\n", st.plan,
			(unsigned long long) st.keys, (unsigned long long) st.summaries,
			(unsigned long long) st.records, (unsigned long long) st.matched,
			(long long) (sg_mono_ms() - t0));
	if (err) {
		fprintf(stderr, "sealctl: track search: %s\n", sg_strerror(err));
		return (SEALCTL_PARTIAL);
	}
	put_total(o, st.matched);
	return (SEALCTL_OK);
}

/* -------------------------------------------------------------- show */

static void show_notes(const char *note)
{
	char	key[64], val[QUEUE_MAX_STRING + 1];

	while (next_note(&note, key, sizeof(key), val, sizeof(val))) {
		fputs("  ", stdout);
		sealctl_put_text(stdout, key, sizeof(key));
		fputs(": ", stdout);
		sealctl_put_text(stdout, val, QUEUE_MAX_STRING);
		putchar('\n');
	}
}

static void show_line(const char *label, const char *v)
{
	printf("%-14s", label);
	sealctl_put_text(stdout, v, QUEUE_MAX_STRING);
	putchar('\n');
}

static void show_rcpt(const struct queue_env *e, const struct queue_rcpt *r)
{
	char	t[32];

	fputs("  ", stdout);
	sealctl_put_text(stdout, r->addr, 300);
	printf("  %s  attempts=%u", queue_track_rcpt_word(e, r), r->attempts);
	if (r->last_attempt_ms)
		printf("  last=%s", sealctl_time(r->last_attempt_ms, t, sizeof(t)));
	if (!queue_rcpt_final(r->state) && e->state != QUEUE_DONE && r->next_attempt_ms)
		printf("  next=%s", sealctl_time(r->next_attempt_ms, t, sizeof(t)));
	putchar('\n');
	if (r->relay[0] || r->tls[0]) {
		fputs("      relay: ", stdout);
		sealctl_put_text(stdout, r->relay[0] ? r->relay : "-", 300);
		fputs("  tls: ", stdout);
		sealctl_put_text(stdout, r->tls[0] ? r->tls : "-", 200);
		putchar('\n');
	}
	if (r->reply[0]) {
		fputs("      reply: ", stdout);
		sealctl_put_text(stdout, r->reply, QUEUE_MAX_STRING);
		if (r->dsn_status[0])
			printf("  (%s)", r->dsn_status);
		putchar('\n');
	}
}

static void show_text(const struct queue_env *e)
{
	char	id[QUEUE_ID_BUFSZ], t[32], crypto[WORKER_CRYPTO_WORDS_MAX];

	printf("%-14s%s\n", "id:", queue_id_format(e->id, id));
	printf("%-14s%s (%s)\n", "status:", queue_track_status_word(e),
	       e->state == QUEUE_DONE ? "left the queue" : queue_state_name(e->state));
	printf("%-14s%s\n", "arrival:", sealctl_time(e->arrival_ms, t, sizeof(t)));
	printf("%-14s%s\n", "direction:", dirs[e->direction]);
	show_line("from:", e->sender[0] ? e->sender : "<>");
	show_line("subject:", e->subject);
	printf("%-14s%llu bytes\n", "size:", (unsigned long long) e->size);
	printf("%-14s", "client:");
	sealctl_put_text(stdout, e->client_addr[0] ? e->client_addr : "-", 100);
	if (e->client_name[0]) {
		fputs(" (", stdout);
		sealctl_put_text(stdout, e->client_name, 255);
		putchar(')');
	}
	fputs(" helo=", stdout);
	sealctl_put_text(stdout, e->helo[0] ? e->helo : "-", 255);
	printf(" listener=%s", e->listener[0] ? e->listener : "-");
	printf(" tls=%s%s%s", e->tls_version[0] ? e->tls_version : "none",
	       e->tls_cipher[0] ? "/" : "", e->tls_cipher);
	if (e->auth[0]) {
		fputs(" auth=", stdout);
		sealctl_put_text(stdout, e->auth, 255);
	}
	putchar('\n');
	show_line("rule:", e->rule[0] ? e->rule : "-");
	printf("%-14s%s\n", "crypto:", worker_crypto_words(e->crypto, crypto, sizeof(crypto)));
	show_notes(e->crypto_note);
	if (e->reason[0])
		show_line("reason:", e->reason);
	if (e->parent)
		printf("%-14s%s\n", "split from:", queue_id_format(e->parent, id));
	printf("recipients:\n");
	for (size_t i = 0; i < e->nrcpt; i++)
		show_rcpt(e, &e->rcpt[i]);
}

static int show_node_one(const char *node, const struct queue_env *e, void *arg)
{
	const struct track_opts *o = arg;

	if (o->json) {
		put_track_json(stdout, e, node);
	} else {
		printf("%-14s%s\n", "node:", node);
		show_text(e);
	}
	return (0);
}

/* cluster_show - one message from the cluster's database (any node, or --node) */

static int cluster_show(const struct sealgate_conf *conf, const struct track_opts *o,
			const char *arg, uint64_t id)
{
	struct cluster_db *db;
	char	err[512];
	int	rc;

	if ((db = sealctl_cluster_db(conf, "track show", true)) == NULL)
		return (SEALCTL_PARTIAL);
	rc = cluster_db_track_show(db, id, o->node, show_node_one, (void *) o, err, sizeof(err));
	cluster_db_close(db);
	if (rc < 0)
		fprintf(stderr, "sealctl: %s: %s\n", arg, err);
	return (rc < 0 ? SEALCTL_PARTIAL : SEALCTL_OK);
}

static int cmd_show(const struct sealgate_conf *conf, const struct track_opts *o, int argc,
		    char **argv)
{
	struct queue_env e;
	struct queue *q;
	uint64_t id;
	int	err;

	if (o->first_arg + 1 != argc)
		return (SEALCTL_USAGE);
	if (queue_id_parse(argv[o->first_arg], strlen(argv[o->first_arg]), &id) != 0) {
		fprintf(stderr, "sealctl: %s: not a queue id\n", argv[o->first_arg]);
		return (SEALCTL_PARTIAL);
	}
	if (cluster_configured(&conf->cluster) && !o->local)
		return (cluster_show(conf, o, argv[o->first_arg], id));
	if ((err = sealctl_queue_open(conf, QUEUE_RDONLY, &q)) != 0)
		return (SEALCTL_PARTIAL);
	queue_env_init(&e);
	if ((err = queue_get(q, id, 0, &e)) == SG_ENOTFOUND)
		err = queue_get(q, id, QUEUE_GET_TRACK, &e);
	if (err == 0 && o->json)
		put_track_json(stdout, &e, NULL);
	else if (err == 0)
		show_text(&e);
	else
		fprintf(stderr, "sealctl: %s: %s\n", argv[o->first_arg],
			err == SG_ENOTFOUND ? "no such message (or its record was pruned)"
			: sg_strerror(err));
	queue_env_free(&e);
	queue_close(q);
	return (err ? SEALCTL_PARTIAL : SEALCTL_OK);
}

int	sealctl_track(const struct sealgate_conf *conf, int argc, char **argv)
{
	struct track_opts o;
	int	rc = SEALCTL_USAGE;

	if (argc < 2) {
		sealctl_usage(stderr, "track");
		return (SEALCTL_USAGE);
	}
	argc--, argv++;				/* argv[0] is now the verb */
	if (parse_opts(argc, argv, &o) != 0) {
		sealctl_usage(stderr, "track");
		return (SEALCTL_USAGE);
	}
	if (strcmp(argv[0], "search") == 0)
		rc = cmd_search(conf, &o, argc);
	else if (strcmp(argv[0], "show") == 0)
		rc = cmd_show(conf, &o, argc, argv);
	if (rc == SEALCTL_USAGE)
		sealctl_usage(stderr, "track");
	if (fflush(stdout) != 0 && rc == SEALCTL_OK) {
		fprintf(stderr, "sealctl: track: the output could not be written: %s\n",
			strerror(errno));
		rc = SEALCTL_PARTIAL;
	}
	return (rc);
}
