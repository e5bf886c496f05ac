/*
 * NAME
 *	sealctl_queue 3
 * SUMMARY
 *	sealctl queue: list, show, cat, hold, release, delete, retry, stats
 * SYNOPSIS
 *	#include "cmd/sealctl.h"
 *
 *	int	sealctl_queue(conf, argc, argv)
 *
 *	sealctl queue list [FILTERS] [--json [--full]]
 *	sealctl queue show ID [--json]
 *	sealctl queue cat ID [--processed]
 *	sealctl queue hold|release|delete|retry ID... | - | --all [FILTERS]
 *	sealctl queue stats [--json] [--verify]
 *	sealctl queue inject --rcpt R [--rcpt R...] [--sender S] [--state S]
 *			[--notify N] [--ret FULL|HDRS] [--envid ID]
 *			[--count N [--sync]] [--body-size N] [--delay DUR] [< BODY]
 *
 *	FILTERS: --state S, --from PAT, --to PAT, --older-than DUR
 * DESCRIPTION
 *	Reads (list, show, cat, stats) open the queue read-only and use
 *	snapshot transactions, so they never block the daemon; changes
 *	are ordinary write transactions, safe while it runs.
 *
 *	list prints a table, or with --json one JSON object per line with
 *	postqueue -j's fields (queue_name, queue_id, arrival_time,
 *	message_size, forced_expire, sender, recipients[] with address and
 *	delay_reason) plus id, attempts, next_attempt and each recipient's
 *	state; with --full every field that show --json prints. PAT is a
 *	shell glob (case-insensitive) when it contains * ? or [, else a
 *	case-insensitive substring; --from tests the sender, --to every
 *	recipient. --older-than takes a duration ("2h").
 *	--state done lists the tracking records of messages that left.
 *	stats reads the queue's per-state tally (as fast with a million
 *	messages as with none); --verify also counts every envelope and
 *	names each figure where the two differ on stderr (exit 1).
 *
 *	The bulk verbs take ids as arguments, or "-" to read ids (any
 *	white space between them) from standard input, or --all with the
 *	list filters. inject spools messages through the queue API like
 *	smtpd does (with --count, through the group committer, or with
 *	--sync one transaction each) and prints the id of a single message;
 *	--notify (NEVER, or a comma list of SUCCESS, FAILURE, DELAY), --ret
 *	and --envid give it the DSN parameters of RFC 3461 as MAIL and RCPT
 *	would; a body with a line over 998 octets is flagged for the worker
 *	to make legal, as smtpd flags it. It exists for tests, benchmarks
 *	and scripts that check a route.
 * DIAGNOSTICS
 *	Exit 0 on success, 1 when some ids were not found (named on
 *	stderr), 2 on a usage or configuration error. Strings from the
 *	queue are untrusted: JSON output escapes them fully, the table
 *	shows them through sg_printable().
 */

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sealctl.h"

#define OUTBUF (1 << 20)

struct filter {
	int	state;			/* -1: any */
	const char *from;
	const char *to;
	int64_t	before_ms;		/* 0: any */
};

struct opts {
	struct filter f;
	bool	json;
	bool	full;			/* list --json: every field */
	bool	all;
	bool	processed;
	bool	sync;			/* inject: one transaction per message */
	bool	verify;			/* stats: the tally against a walk */
	const char *sender;
	struct sg_strlist rcpts;
	int	inject_state;
	uint64_t count;
	uint64_t body_size;
	int64_t	delay_ms;		/* inject --state ready: due after this */
	unsigned notify;		/* inject: QUEUE_NOTIFY_* for every recipient */
	enum queue_ret ret;		/* inject: RET */
	const char *envid;		/* inject: ENVID */
	const char *client;		/* inject: the client it stands for; NULL: own */
	struct sockaddr_storage client_sa;
	int	first_arg;		/* index of the first operand */
};

/* ------------------------------------------------------------ output */

/*
 * The JSON listing is built in a struct sealctl_out (sealctl_json.c):
 * constant parts as literals of known length, numbers and escaped strings
 * straight into its buffer, stdio once per buffer.
 */
#define LIT(o, s)	sealctl_out_put((o), (s), sizeof(s) - 1)
#define KV_STR(o, key, v)	(LIT((o), ",\"" key "\":"), put_str((o), (v)))
#define KV_U64(o, key, v)	(LIT((o), ",\"" key "\":"), sealctl_out_u64((o), (v)))

static void put_str(struct sealctl_out *o, const char *s)
{
	sealctl_out_json(o, s, strlen(s));
}

/* put_word - a string of ours that needs no escaping: a state's name, an id */

static void put_word(struct sealctl_out *o, const char *s)
{
	sealctl_out_put(o, s, strlen(s));
}

static void put_rcpt_json(struct sealctl_out *o, const struct queue_rcpt *r, bool full)
{
	LIT(o, "{\"address\":");
	put_str(o, r->addr);
	KV_STR(o, "delay_reason", r->reply);
	LIT(o, ",\"state\":\"");
	put_word(o, queue_rcpt_state_name(r->state));
	LIT(o, "\"");
	KV_U64(o, "attempts", r->attempts);
	if (full) {
		KV_STR(o, "orcpt", r->orcpt);
		KV_U64(o, "notify", r->notify);
		KV_U64(o, "next_attempt", (uint64_t) (r->next_attempt_ms / 1000));
		KV_U64(o, "last_attempt", (uint64_t) (r->last_attempt_ms / 1000));
		KV_STR(o, "dsn_status", r->dsn_status);
		KV_STR(o, "relay", r->relay);
		KV_STR(o, "tls", r->tls);
	}
	LIT(o, "}");
}

static void put_env_full(struct sealctl_out *o, const struct queue_env *e)
{
	static const char *const dirs[] = {"unknown", "inbound", "outbound"};
	static const char *const rets[] = {"", "FULL", "HDRS"};
	char	crypto[WORKER_CRYPTO_WORDS_MAX];

	KV_STR(o, "direction", dirs[e->direction]);
	KV_STR(o, "listener", e->listener);
	KV_STR(o, "client_address", e->client_addr);
	KV_STR(o, "client_name", e->client_name);
	KV_STR(o, "helo", e->helo);
	KV_STR(o, "tls_version", e->tls_version);
	KV_STR(o, "tls_cipher", e->tls_cipher);
	KV_STR(o, "auth", e->auth);
	KV_STR(o, "envid", e->envid);
	KV_STR(o, "ret", rets[e->ret]);
	KV_STR(o, "subject", e->subject);
	KV_STR(o, "rule", e->rule);
	KV_STR(o, "crypto", worker_crypto_words(e->crypto, crypto, sizeof(crypto)));
	KV_STR(o, "crypto_note", e->crypto_note);
	KV_STR(o, "reason", e->reason);
	KV_STR(o, "route", e->route);
	KV_U64(o, "flags", e->flags);
	KV_U64(o, "processed_size", e->processed_size);
	if (e->parent) {
		char	p[QUEUE_ID_BUFSZ];

		KV_STR(o, "parent", queue_id_format(e->parent, p));
	}
	KV_U64(o, "expire", (uint64_t) (e->expire_ms / 1000));
}

static void put_env_json(struct sealctl_out *o, const struct queue_env *e, bool full)
{
	char	id[QUEUE_ID_BUFSZ];

	queue_id_format(e->id, id);
	LIT(o, "{\"queue_name\":\"");
	put_word(o, queue_state_name(e->state));
	LIT(o, "\",\"queue_id\":\"");
	sealctl_out_put(o, id, QUEUE_ID_LEN);
	LIT(o, "\",\"id\":\"");
	sealctl_out_put(o, id, QUEUE_ID_LEN);
	LIT(o, "\"");
	KV_U64(o, "arrival_time", (uint64_t) (e->arrival_ms / 1000));
	KV_U64(o, "message_size", e->size);
	LIT(o, ",\"forced_expire\":false");
	KV_STR(o, "sender", e->sender);
	KV_U64(o, "attempts", e->attempts);
	KV_U64(o, "next_attempt", (uint64_t) (e->next_attempt_ms / 1000));
	if (full)
		put_env_full(o, e);
	LIT(o, ",\"recipients\":[");
	for (size_t i = 0; i < e->nrcpt; i++) {
		if (i)
			LIT(o, ",");
		put_rcpt_json(o, &e->rcpt[i], full);
	}
	LIT(o, "]}\n");
}

static void put_time(FILE *fp, int64_t ms)
{
	char	buf[32];

	fputs_unlocked(sealctl_time(ms, buf, sizeof(buf)), fp);
}

static void put_env_table(FILE *fp, const struct queue_env *e)
{
	char	id[QUEUE_ID_BUFSZ], s[300];

	fprintf(fp, "%-13s %9llu ", queue_id_format(e->id, id), (unsigned long long) e->size);
	put_time(fp, e->arrival_ms);
	fprintf(fp, " %-8s %s\n", queue_state_name(e->state),
		e->sender[0] ? sg_printable(s, sizeof(s), e->sender, strlen(e->sender)) : "<>");
	if (e->reason[0])
		fprintf(fp, "%24s(%s)\n", "", sg_printable(s, sizeof(s), e->reason, strlen(e->reason)));
	for (size_t i = 0; i < e->nrcpt; i++) {
		const struct queue_rcpt *r = &e->rcpt[i];

		fprintf(fp, "%24s%s", "", sg_printable(s, sizeof(s), r->addr, strlen(r->addr)));
		if (r->state != QUEUE_RCPT_PENDING)
			fprintf(fp, " [%s]", queue_rcpt_state_name(r->state));
		if (r->reply[0])
			fprintf(fp, " (%s)", sg_printable(s, sizeof(s), r->reply, strlen(r->reply)));
		putc_unlocked('\n', fp);
	}
	putc_unlocked('\n', fp);
}

/* ----------------------------------------------------------- filters */

static bool pat_match(const char *pat, const char *s)
{
	if (strpbrk(pat, "*?[") != NULL)
		return (fnmatch(pat, s, FNM_CASEFOLD) == 0);
	return (strcasestr(s, pat) != NULL);
}

static bool filter_match(const struct filter *f, const struct queue_env *e)
{
	if (f->state >= 0 && (int) e->state != f->state)
		return (false);
	if (f->before_ms && e->arrival_ms >= f->before_ms)
		return (false);
	if (f->from && !pat_match(f->from, e->sender))
		return (false);
	if (f->to) {
		for (size_t i = 0; i < e->nrcpt; i++)
			if (pat_match(f->to, e->rcpt[i].addr))
				return (true);
		return (false);
	}
	return (true);
}

/* --------------------------------------------------------- arguments */

enum {
	O_STATE = 256, O_FROM, O_TO, O_OLDER, O_JSON, O_ALL, O_PROCESSED, O_SENDER, O_RCPT,
	O_COUNT, O_BODYSIZE, O_DELAY, OPT_SYNC, O_NOTIFY, O_RET, O_ENVID, O_FULL, O_CLIENT,
	O_VERIFY,
};

static const struct option longopts[] = {
	{"state", required_argument, NULL, O_STATE},
	{"from", required_argument, NULL, O_FROM},
	{"to", required_argument, NULL, O_TO},
	{"older-than", required_argument, NULL, O_OLDER},
	{"json", no_argument, NULL, O_JSON},
	{"full", no_argument, NULL, O_FULL},
	{"all", no_argument, NULL, O_ALL},
	{"processed", no_argument, NULL, O_PROCESSED},
	{"sender", required_argument, NULL, O_SENDER},
	{"rcpt", required_argument, NULL, O_RCPT},
	{"count", required_argument, NULL, O_COUNT},
	{"body-size", required_argument, NULL, O_BODYSIZE},
	{"delay", required_argument, NULL, O_DELAY},
	{"sync", no_argument, NULL, OPT_SYNC},
	{"notify", required_argument, NULL, O_NOTIFY},
	{"ret", required_argument, NULL, O_RET},
	{"envid", required_argument, NULL, O_ENVID},
	{"client", required_argument, NULL, O_CLIENT},
	{"verify", no_argument, NULL, O_VERIFY},
	{NULL, 0, NULL, 0},
};

/* parse_notify - RFC 3461 NOTIFY: NEVER, or a list of SUCCESS, FAILURE, DELAY */

static int parse_notify(const char *arg, unsigned *out)
{
	static const struct {
		const char *name;
		unsigned bit;
	} words[] = {
		{"NEVER", QUEUE_NOTIFY_NEVER}, {"SUCCESS", QUEUE_NOTIFY_SUCCESS},
		{"FAILURE", QUEUE_NOTIFY_FAILURE}, {"DELAY", QUEUE_NOTIFY_DELAY},
	};
	unsigned bits = 0;

	for (const char *p = arg, *end; *p; p = *end ? end + 1 : end) {
		size_t	i, n;

		end = p + strcspn(p, ",");
		n = (size_t) (end - p);
		for (i = 0; i < SG_NELEM(words); i++)
			if (strlen(words[i].name) == n && strncasecmp(words[i].name, p, n) == 0)
				break;
		if (i == SG_NELEM(words))
			return (-1);
		bits |= words[i].bit;
	}
	if (bits == 0 || ((bits & QUEUE_NOTIFY_NEVER) && bits != QUEUE_NOTIFY_NEVER))
		return (-1);
	*out = bits;
	return (0);
}

/* parse_client - a numeric IPv4 or IPv6 address (no port) */

static int parse_client(const char *arg, struct sockaddr_storage *ss)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *) ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, arg, &v4->sin_addr) == 1)
		v4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, arg, &v6->sin6_addr) == 1)
		v6->sin6_family = AF_INET6;
	else
		return (-1);
	return (0);
}

/* envid_ok - ENVID as RFC 3461 allows it: printable ASCII, at most 100 */

static bool envid_ok(const char *s)
{
	size_t	n = strlen(s);

	for (size_t i = 0; i < n; i++)
		if (s[i] < '!' || s[i] > '~' || s[i] == '+' || s[i] == '=')
			return (false);
	return (n > 0 && n <= 100);
}

static int opt_value(struct opts *o, int c, const char *arg)
{
	enum queue_state s;
	int64_t	ms;

	switch (c) {
	case O_STATE:
		if (queue_state_parse(arg, strlen(arg), &s) != 0)
			return (-1);
		o->f.state = (int) s;
		o->inject_state = (int) s;
		return (0);
	case O_FROM:
		o->f.from = arg;
		return (0);
	case O_TO:
		o->f.to = arg;
		return (0);
	case O_OLDER:
		if (sg_parse_duration(arg, strlen(arg), &ms) != 0)
			return (-1);
		o->f.before_ms = sg_now_ms() - ms;
		return (0);
	case O_SENDER:
		o->sender = arg;
		return (0);
	case O_RCPT:
		o->rcpts.v = sg_xrealloc(o->rcpts.v, (o->rcpts.n + 1) * sizeof(char *));
		o->rcpts.v[o->rcpts.n++] = (char *) arg;
		return (0);
	case O_COUNT:
		return (sg_parse_u64(arg, strlen(arg), &o->count) == 0 && o->count > 0 ? 0 : -1);
	case O_BODYSIZE:
		return (sg_parse_size(arg, strlen(arg), &o->body_size));
	case O_DELAY:
		return (sg_parse_duration(arg, strlen(arg), &o->delay_ms));
	case O_NOTIFY:
		return (parse_notify(arg, &o->notify));
	case O_RET:
		o->ret = strcasecmp(arg, "FULL") == 0 ? QUEUE_RET_FULL
			: strcasecmp(arg, "HDRS") == 0 ? QUEUE_RET_HDRS : QUEUE_RET_NONE;
		return (o->ret == QUEUE_RET_NONE ? -1 : 0);
	case O_ENVID:
		o->envid = arg;
		return (envid_ok(arg) ? 0 : -1);
	case O_CLIENT:
		o->client = arg;
		return (parse_client(arg, &o->client_sa));
	default:
		return (-1);
	}
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	int	c, li = -1;

	memset(o, 0, sizeof(*o));
	o->f.state = -1;
	o->inject_state = QUEUE_INCOMING;
	o->count = 1;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, &li)) != -1) {
		switch (c) {
		case O_JSON:
			o->json = true;
			break;
		case O_FULL:
			o->full = true;
			break;
		case O_ALL:
			o->all = true;
			break;
		case O_PROCESSED:
			o->processed = true;
			break;
		case OPT_SYNC:
			o->sync = true;
			break;
		case O_VERIFY:
			o->verify = true;
			break;
		default:
			if (c == '?' || li < 0) {
				fprintf(stderr, "sealctl queue %s: bad option or value: %s\n", argv[0],
					argv[optind - 1]);
				return (-1);
			}
			if (opt_value(o, c, optarg) != 0) {
				fprintf(stderr, "sealctl queue %s: bad option or value: --%s %s\n",
					argv[0], longopts[li].name, optarg ? optarg : "");
				return (-1);
			}
		}
	}
	o->first_arg = optind;
	return (0);
}

/* ---------------------------------------------------------- opening */

#define NOUSAGE 102			/* exit 2; the reason is on stderr, no usage */

/* ------------------------------------------------------------- list */

struct list_ctx {
	const struct filter *f;
	bool	json;
	bool	full;			/* --json --full: every field, as show */
	FILE   *fp;
	struct sealctl_out *out;	/* json */
	uint64_t n, bytes;
};

static int list_one(const struct queue_env *e, void *arg)
{
	struct list_ctx *c = arg;

	if (!filter_match(c->f, e))
		return (0);
	c->n++;
	c->bytes += e->size;
	if (c->json)
		put_env_json(c->out, e, c->full);
	else
		put_env_table(c->fp, e);
	return (0);
}

static int cmd_list(const struct sealgate_conf *conf, const struct opts *o, int argc)
{
	struct sealctl_out out;
	struct list_ctx c = {&o->f, o->json, o->full, stdout, &out, 0, 0};
	struct queue *q;
	uint64_t cursor = 0;
	char   *buf;
	int	err;

	if (o->first_arg != argc)
		return (SEALCTL_USAGE);
	if ((err = sealctl_queue_open(conf, QUEUE_RDONLY, &q)) == SG_ENOTFOUND)
		goto summary;
	if (err)
		return (NOUSAGE);
	setvbuf(stdout, NULL, _IOFBF, OUTBUF);
	buf = sg_xmalloc(OUTBUF);
	sealctl_out_init(&out, stdout, buf, OUTBUF);
	/* what the table, the JSON without --full and the filters use, only */
	err = queue_scan(q, (o->f.state == QUEUE_DONE ? QUEUE_SCAN_TRACK : 0) |
			 (o->full ? 0 : QUEUE_SCAN_BRIEF), &cursor, 2000, list_one, &c);
	queue_close(q);
	/* stdio may hold the whole table yet: its write fails only now */
	if ((sealctl_out_flush(&out) != 0 || fflush(stdout) != 0) && err == 0)
		err = SG_EIO;
	free(buf);
	if (err) {
		fprintf(stderr, "sealctl: queue list: %s\n", sg_strerror(err));
		return (SEALCTL_PARTIAL);
	}
summary:
	if (!o->json)
		printf(c.n ? "-- %llu Kbytes in %llu messages.\n" : "Queue is empty\n",
		       (unsigned long long) ((c.bytes + 1023) / 1024), (unsigned long long) c.n);
	return (SEALCTL_OK);
}

/* ------------------------------------------------------- show / cat */

static int one_id(const char *op, const struct opts *o, int argc, char **argv, uint64_t *id)
{
	if (o->first_arg + 1 != argc) {
		fprintf(stderr, "usage: sealctl queue %s ID\n", op);
		return (SEALCTL_USAGE);
	}
	if (queue_id_parse(argv[o->first_arg], strlen(argv[o->first_arg]), id) != 0) {
		fprintf(stderr, "sealctl: %s: not a queue id\n", argv[o->first_arg]);
		return (SEALCTL_PARTIAL);
	}
	return (SEALCTL_OK);
}

static int cmd_show(const struct sealgate_conf *conf, const struct opts *o, int argc,
		    char **argv)
{
	struct queue_env e;
	struct queue *q;
	uint64_t id;
	int	rc, err;

	if ((rc = one_id("show", o, argc, argv, &id)) != 0)
		return (rc);
	if ((err = sealctl_queue_open(conf, QUEUE_RDONLY, &q)) != 0)
		return (err == SG_ENOTFOUND ? SEALCTL_PARTIAL : NOUSAGE);
	queue_env_init(&e);
	if ((err = queue_get(q, id, 0, &e)) == SG_ENOTFOUND)
		err = queue_get(q, id, QUEUE_GET_TRACK, &e);
	if (err == 0 && o->json) {
		struct sealctl_out out;
		char	buf[16384];

		sealctl_out_init(&out, stdout, buf, sizeof(buf));
		put_env_json(&out, &e, true);
		(void) sealctl_out_flush(&out);	/* a failed write: the final fflush says */
	} else if (err == 0) {
		put_env_table(stdout, &e);
	} else {
		fprintf(stderr, "sealctl: %s: %s\n", argv[o->first_arg],
			err == SG_ENOTFOUND ? "no such message" : sg_strerror(err));
	}
	queue_env_free(&e);
	queue_close(q);
	return (err ? SEALCTL_PARTIAL : SEALCTL_OK);
}

static int write_chunk(const void *p, size_t n, void *arg)
{
	return (fwrite(p, 1, n, arg) == n ? 0 : SG_EIO);
}

static int cmd_cat(const struct sealgate_conf *conf, const struct opts *o, int argc,
		   char **argv)
{
	struct queue *q;
	uint64_t id;
	int	rc, err;

	if ((rc = one_id("cat", o, argc, argv, &id)) != 0)
		return (rc);
	if ((err = sealctl_queue_open(conf, QUEUE_RDONLY, &q)) != 0)
		return (err == SG_ENOTFOUND ? SEALCTL_PARTIAL : NOUSAGE);
	setvbuf(stdout, NULL, _IOFBF, OUTBUF);
	err = queue_body_foreach(q, id, o->processed ? QUEUE_BODY_PROCESSED : QUEUE_BODY_ORIGINAL,
				 write_chunk, stdout, NULL);
	queue_close(q);
	if (fflush(stdout) != 0 && err == 0)
		err = SG_EIO;
	if (err)
		fprintf(stderr, "sealctl: %s: %s\n", argv[o->first_arg],
			err == SG_ENOTFOUND ? "no such message" : sg_strerror(err));
	return (err ? SEALCTL_PARTIAL : SEALCTL_OK);
}

/* ------------------------------------------------------------ bulk */

struct idvec {
	uint64_t *v;
	size_t	n, cap;
	bool	bad;			/* some token was not an id */
};

static void idvec_push(struct idvec *iv, uint64_t id)
{
	if (iv->n == iv->cap) {
		iv->cap = iv->cap ? iv->cap * 2 : 1024;
		iv->v = sg_xrealloc(iv->v, iv->cap * sizeof(*iv->v));
	}
	iv->v[iv->n++] = id;
}

static void idvec_token(struct idvec *iv, const char *s, size_t len)
{
	char	p[64];
	uint64_t id;

	if (queue_id_parse(s, len, &id) == 0) {
		idvec_push(iv, id);
		return;
	}
	fprintf(stderr, "sealctl: %s: not a queue id\n", sg_printable(p, sizeof(p), s, len));
	iv->bad = true;
}

static void ids_from_stdin(struct idvec *iv)
{
	char	buf[65536];
	char	tok[64];
	size_t	n, tl = 0;

	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
		for (size_t i = 0; i < n; i++) {
			if (isspace((unsigned char) buf[i])) {
				if (tl)
					idvec_token(iv, tok, tl);
				tl = 0;
			} else if (tl < sizeof(tok)) {
				tok[tl++] = buf[i];
			}
		}
	}
	if (tl)
		idvec_token(iv, tok, tl);
}

struct collect {
	const struct filter *f;
	struct idvec *iv;
};

static int collect_one(const struct queue_env *e, void *arg)
{
	struct collect *c = arg;

	if (filter_match(c->f, e))
		idvec_push(c->iv, e->id);
	return (0);
}

static int ids_from_filter(const struct sealgate_conf *conf, const struct filter *f,
			   struct idvec *iv)
{
	struct collect c = {f, iv};
	struct queue *q;
	uint64_t cursor = 0;
	int	err;

	if ((err = sealctl_queue_open(conf, QUEUE_RDONLY, &q)) != 0)
		return (err == SG_ENOTFOUND ? 0 : err);
	err = queue_scan(q, 0, &cursor, 5000, collect_one, &c);
	queue_close(q);
	return (err);
}

static int gather_ids(const struct sealgate_conf *conf, const struct opts *o, int argc,
		      char **argv, struct idvec *iv)
{
	int	nargs = argc - o->first_arg;

	if (o->all) {
		if (nargs != 0)
			return (-1);
		return (ids_from_filter(conf, &o->f, iv) == 0 ? 0 : -2);	/* said why */
	}
	if (nargs < 1 || o->f.state >= 0 || o->f.from || o->f.to || o->f.before_ms)
		return (-1);	/* filters only with --all */
	if (nargs == 1 && strcmp(argv[o->first_arg], "-") == 0) {
		ids_from_stdin(iv);
		return (0);
	}
	for (int i = o->first_arg; i < argc; i++)
		idvec_token(iv, argv[i], strlen(argv[i]));
	return (0);
}

static const char *const done_words[] = {"held", "released", "deleted", "retried"};

static int report(const char *op, int kind, const struct idvec *iv, const int *res,
		  size_t changed)
{
	char	id[QUEUE_ID_BUFSZ];
	bool	partial = iv->bad;

	for (size_t i = 0; i < iv->n; i++) {
		if (res[i] == SG_ENOTFOUND || res[i] == SG_ECORRUPT) {
			fprintf(stderr, "sealctl: %s: %s\n", queue_id_format(iv->v[i], id),
				res[i] == SG_ENOTFOUND ? "no such message" : "corrupt, quarantined");
			partial = true;
		} else if (res[i] == SG_EINVAL) {
			fprintf(stderr, "sealctl: %s: cannot be %s in its state\n",
				queue_id_format(iv->v[i], id), done_words[kind]);
		}
	}
	fprintf(stderr, "sealctl: queue %s: %zu %s\n", op, changed, done_words[kind]);
	return (partial ? SEALCTL_PARTIAL : SEALCTL_OK);
}

static int cmd_bulk(const struct sealgate_conf *conf, const struct opts *o, int argc,
		    char **argv, int kind)
{
	struct idvec iv = {0};
	struct queue *q;
	size_t	changed = 0;
	int    *res, err, rc;

	if ((rc = gather_ids(conf, o, argc, argv, &iv)) != 0) {
		free(iv.v);
		return (rc == -1 ? SEALCTL_USAGE : NOUSAGE);
	}
	if ((err = sealctl_queue_open(conf, 0, &q)) != 0) {
		free(iv.v);
		return (NOUSAGE);
	}
	res = sg_xcalloc(iv.n ? iv.n : 1, sizeof(*res));
	if (kind == 0)
		err = queue_hold(q, iv.v, iv.n, "held by sealctl", res, &changed);
	else if (kind == 1)
		err = queue_release(q, iv.v, iv.n, res, &changed);
	else if (kind == 2)
		err = queue_delete(q, iv.v, iv.n, "deleted by sealctl", res, &changed);
	else
		err = queue_retry(q, iv.v, iv.n, res, &changed);
	queue_close(q);
	rc = report(argv[0], kind, &iv, res, changed);
	if (err) {
		fprintf(stderr, "sealctl: queue %s: %s\n", argv[0], sg_strerror(err));
		rc = SEALCTL_PARTIAL;
	}
	free(res);
	free(iv.v);
	return (rc);
}

/* ------------------------------------------------------------ stats */

static void stats_text(const struct queue_stats *s)
{
	char	id[QUEUE_ID_BUFSZ];

	for (int i = 0; i < QUEUE_NSTATES; i++)
		printf("%-12s %10llu messages %14llu bytes\n", queue_state_name((enum queue_state) i),
		       (unsigned long long) s->count[i], (unsigned long long) s->bytes[i]);
	printf("recipients   %10llu\n", (unsigned long long) s->recipients);
	if (s->oldest_id) {
		printf("oldest       %s ", queue_id_format(s->oldest_id, id));
		put_time(stdout, s->oldest_ms);
		putchar('\n');
	}
	printf("corrupt      %10llu\nincidents    %10llu open\n",
	       (unsigned long long) s->corrupt, (unsigned long long) s->incidents_open);
	printf("database     %10llu bytes, %llu in use, map %llu (%.1f%%), %u readers\n",
	       (unsigned long long) s->db_bytes, (unsigned long long) s->used_bytes,
	       (unsigned long long) s->map_bytes,
	       s->map_bytes ? 100.0 * (double) s->used_bytes / (double) s->map_bytes : 0.0,
	       s->readers);
	for (int i = 0; i < QUEUE_NCOUNTERS; i++)
		printf("counter %-24s %10llu\n", queue_counter_name((enum queue_counter) i),
		       (unsigned long long) s->counters[i]);
}

static void stats_json(const struct queue_stats *s)
{
	char	id[QUEUE_ID_BUFSZ];

	fputs("{\"count\":{", stdout);
	for (int i = 0; i < QUEUE_NSTATES; i++)
		printf("%s\"%s\":%llu", i ? "," : "", queue_state_name((enum queue_state) i),
		       (unsigned long long) s->count[i]);
	fputs("},\"bytes\":{", stdout);
	for (int i = 0; i < QUEUE_NSTATES; i++)
		printf("%s\"%s\":%llu", i ? "," : "", queue_state_name((enum queue_state) i),
		       (unsigned long long) s->bytes[i]);
	printf("},\"recipients\":%llu,\"oldest_id\":\"%s\",\"oldest_time\":%lld,"
	       "\"corrupt\":%llu,\"incidents_open\":%llu,\"db_bytes\":%llu,"
	       "\"used_bytes\":%llu,\"map_bytes\":%llu,\"readers\":%u,\"counters\":{",
	       (unsigned long long) s->recipients,
	       s->oldest_id ? queue_id_format(s->oldest_id, id) : "",
	       (long long) (s->oldest_ms / 1000), (unsigned long long) s->corrupt,
	       (unsigned long long) s->incidents_open, (unsigned long long) s->db_bytes,
	       (unsigned long long) s->used_bytes, (unsigned long long) s->map_bytes, s->readers);
	for (int i = 0; i < QUEUE_NCOUNTERS; i++)
		printf("%s\"%s\":%llu", i ? "," : "", queue_counter_name((enum queue_counter) i),
		       (unsigned long long) s->counters[i]);
	fputs("}}\n", stdout);
}

/*
 * verify - the tally queue_stats() read against a walk of every envelope
 * (a daemon changing the queue in between shows as a difference: run it
 * again). The differences go to stderr, so that --json stays one object.
 */
static int verify(struct queue *q, const struct queue_stats *t)
{
	struct queue_stats w;
	size_t	bad = 0;
	int	err;

	if ((err = queue_stats_recount(q, &w)) != 0)
		return (err);
	for (int i = 0; i < QUEUE_DONE; i++)
		if (t->count[i] != w.count[i] || t->bytes[i] != w.bytes[i]) {
			fprintf(stderr, "sealctl: queue stats: %s: tally %llu messages %llu bytes, "
				"counted %llu messages %llu bytes\n",
				queue_state_name((enum queue_state) i),
				(unsigned long long) t->count[i], (unsigned long long) t->bytes[i],
				(unsigned long long) w.count[i], (unsigned long long) w.bytes[i]);
			bad++;
		}
	if (t->recipients != w.recipients) {
		fprintf(stderr, "sealctl: queue stats: recipients: tally %llu, counted %llu\n",
			(unsigned long long) t->recipients, (unsigned long long) w.recipients);
		bad++;
	}
	fprintf(stderr, "sealctl: queue stats: %s\n", bad ? "the tally differs from a count" :
		t->walked ? "no tally yet (counted)" : "the tally equals a count");
	return (bad ? SG_ECORRUPT : 0);
}

static int cmd_stats(const struct sealgate_conf *conf, const struct opts *o, int argc)
{
	struct queue_stats s;
	struct queue *q;
	int	err, verr = 0;

	if (o->first_arg != argc)
		return (SEALCTL_USAGE);
	memset(&s, 0, sizeof(s));
	if ((err = sealctl_queue_open(conf, QUEUE_RDONLY, &q)) != 0 && err != SG_ENOTFOUND)
		return (NOUSAGE);
	if (err == 0) {
		if ((err = queue_stats(q, &s)) == 0 && o->verify)
			verr = verify(q, &s);
		queue_close(q);
	}
	if (err && err != SG_ENOTFOUND) {
		fprintf(stderr, "sealctl: queue stats: %s\n", sg_strerror(err));
		return (SEALCTL_PARTIAL);
	}
	if (o->json)
		stats_json(&s);
	else
		stats_text(&s);
	if (verr && verr != SG_ECORRUPT)
		fprintf(stderr, "sealctl: queue stats: %s\n", sg_strerror(verr));
	return (verr ? SEALCTL_PARTIAL : SEALCTL_OK);
}

/* ----------------------------------------------------------- inject */

struct inj {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t done, failed;
	int	err;
};

static void inj_done(struct queue_req *r, int err)
{
	struct inj *s = r->arg;

	pthread_mutex_lock(&s->mu);
	s->done++;
	if (err) {
		s->failed++;
		s->err = err;
	}
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static int inject_many(struct queue *q, const struct queue_env *e,
		       const struct queue_body_src *b, uint64_t count)
{
	struct inj s = {.done = 0};
	struct queue_committer *c;
	struct queue_req *reqs;
	uint64_t window = 4096, sent = 0;
	int	err;

	if ((err = queue_committer_start(q, &c)) != 0)
		return (err);
	reqs = sg_xcalloc((size_t) window, sizeof(*reqs));
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	/* keep at most `window` requests in flight, reusing slots in order */
	while (sent < count) {
		pthread_mutex_lock(&s.mu);
		while (sent - s.done >= window)
			pthread_cond_wait(&s.cv, &s.mu);
		pthread_mutex_unlock(&s.mu);
		struct queue_req *r = &reqs[sent % window];

		*r = (struct queue_req) {.env = e,.body = *b,.done = inj_done,.arg = &s};
		queue_submit(c, r);
		sent++;
	}
	queue_committer_stop(c);
	free(reqs);
	pthread_mutex_destroy(&s.mu);
	pthread_cond_destroy(&s.cv);
	if (s.failed)
		fprintf(stderr, "sealctl: queue inject: %llu of %llu failed: %s\n",
			(unsigned long long) s.failed, (unsigned long long) count,
			sg_strerror(s.err));
	return (s.failed ? s.err : 0);
}

static char *read_stdin(uint64_t *len)
{
	struct sg_buf b = SG_BUF_INIT;
	char	buf[65536];
	size_t	n;

	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
		sg_buf_append(&b, buf, n);
	*len = b.len;
	return (b.data ? b.data : sg_xstrdup(""));
}

static int cmd_inject(const struct sealgate_conf *conf, const struct opts *o, int argc)
{
	struct queue_body_src b = {.fd = -1};
	struct queue_env e;
	struct queue *q;
	char   *body = NULL, id[QUEUE_ID_BUFSZ], subject[256], raw[1024];
	uint64_t nid;
	int	err, n;

	if (o->first_arg != argc || o->rcpts.n == 0) {
		return (SEALCTL_USAGE);
	}
	if (o->body_size) {
		body = sg_xmalloc((size_t) o->body_size);
		for (uint64_t i = 0; i < o->body_size; i++)
			body[i] = (i % 78 == 77) ? '\n' : (char) ('a' + i % 26);
		b.len = o->body_size;
	} else {
		body = read_stdin(&b.len);
	}
	b.data = body;
	queue_env_init(&e);
	e.state = (enum queue_state) o->inject_state;
	e.sender = o->sender ? o->sender : "";
	/* Classified as smtpd would classify that client; by default an own server. */
	e.client_addr = o->client ? o->client : "127.0.0.1";
	e.direction = o->client == NULL || sg_cidrlist_match(&conf->main.own_servers,
				(const struct sockaddr *) &o->client_sa) ?
		QUEUE_DIR_OUTBOUND : QUEUE_DIR_INBOUND;
	e.listener = "sealctl";
	if ((n = sg_header_get(body, (size_t) b.len, "Subject", raw, sizeof(raw))) >= 0) {
		sg_rfc2047_decode(raw, (size_t) n, subject, sizeof(subject));
		e.subject = subject;
	}
	e.next_attempt_ms = o->delay_ms ? sg_now_ms() + o->delay_ms : 0;
	e.ret = o->ret;
	e.envid = o->envid ? o->envid : "";
	/* as smtpd does: a line over 998 octets sends it through the worker's fix */
	if (worker_mime_long(body, (size_t) b.len))
		e.flags |= QUEUE_F_LONGLINES;
	for (size_t i = 0; i < o->rcpts.n; i++) {
		struct queue_rcpt *r = queue_env_rcpt_add(&e, o->rcpts.v[i]);

		if (r == NULL) {
			fprintf(stderr, "sealctl: queue inject: more than %d recipients\n",
				QUEUE_MAX_RCPT);
			queue_env_free(&e);
			free(body);
			return (SEALCTL_USAGE);
		}
		r->notify = o->notify;
	}
	if ((err = sealctl_queue_open(conf, SEALCTL_QUEUE_MAKE, &q)) == 0) {
		if (o->count > 1 && o->sync) {
			for (uint64_t i = 0; i < o->count && err == 0; i++)
				err = queue_spool(q, &e, &b, &nid);
			if (err)
				fprintf(stderr, "sealctl: queue inject: %s\n", sg_strerror(err));
		} else if (o->count > 1) {
			err = inject_many(q, &e, &b, o->count);
		} else if ((err = queue_spool(q, &e, &b, &nid)) == 0) {
			puts(queue_id_format(nid, id));
		} else {
			fprintf(stderr, "sealctl: queue inject: %s\n", sg_strerror(err));
		}
		queue_close(q);
	}
	queue_env_free(&e);
	free(body);
	return (err ? SEALCTL_PARTIAL : SEALCTL_OK);
}

/* --------------------------------------------------------- dispatch */

static void usage(void)
{
	sealctl_usage(stderr, "queue");
	fprintf(stderr, "states: incoming working ready deferred hold (done: tracking records)\n");
}

int	sealctl_queue(const struct sealgate_conf *conf, int argc, char **argv)
{
	static const char *const bulk[] = {"hold", "release", "delete", "retry"};
	struct opts o;
	int	rc = SEALCTL_USAGE;

	if (argc < 2) {
		usage();
		return (SEALCTL_USAGE);
	}
	argc--, argv++;			/* argv[0] is now the verb */
	if (parse_opts(argc, argv, &o) != 0) {
		usage();
		free(o.rcpts.v);
		return (SEALCTL_USAGE);
	}
	if (strcmp(argv[0], "list") == 0)
		rc = cmd_list(conf, &o, argc);
	else if (strcmp(argv[0], "show") == 0)
		rc = cmd_show(conf, &o, argc, argv);
	else if (strcmp(argv[0], "cat") == 0)
		rc = cmd_cat(conf, &o, argc, argv);
	else if (strcmp(argv[0], "stats") == 0)
		rc = cmd_stats(conf, &o, argc);
	else if (strcmp(argv[0], "inject") == 0)
		rc = cmd_inject(conf, &o, argc);
	else
		for (int k = 0; k < 4; k++)
			if (strcmp(argv[0], bulk[k]) == 0)
				rc = cmd_bulk(conf, &o, argc, argv, k);
	if (rc == SEALCTL_USAGE)
		usage();
	else if (rc == NOUSAGE)
		rc = SEALCTL_USAGE;
	if (fflush(stdout) != 0 && rc == SEALCTL_OK) {
		fprintf(stderr, "sealctl: queue: the output could not be written: %s\n",
			strerror(errno));
		rc = SEALCTL_PARTIAL;
	}
	free(o.rcpts.v);
	return (rc);
}
