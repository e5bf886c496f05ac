/*
 * NAME
 *	tlsrpt 3
 * SUMMARY
 *	TLS-RPT (RFC 8460) in the delivery agent: counting, keeping, sending
 * SYNOPSIS
 *	#include "delivery_int.h"
 *
 *	struct dl_tlsrpt *dl_tlsrpt_new(agent)
 *	void	dl_tlsrpt_count(r, domain, type, result, mx, ip)
 *	void	dl_tlsrpt_stop(r)
 *	void	dl_tlsrpt_free(r)
 * DESCRIPTION
 *	dl_tlsrpt_count() counts one TLS session (or refused host) of a
 *	destination under a DANE ("tlsa") or MTA-STS ("sts") policy, result
 *	"success" or an RFC 8460 result-type, in memory. A timer (every half
 *	period, at most a minute) adds the counts to the period's file,
 *	STATE_DIR/tlsrpt/START-END/DOMAIN (a temporary file renamed over the
 *	old one), so a restart loses at most one tick's counts and never a
 *	day's. Periods are tlsrpt_period long (1d: UTC days, RFC 8460 4.1).
 *
 *	On the same timer every finished period is reported: the domain's
 *	_smtp._tls TXT record gives the mailto: rua addresses, and the
 *	report mail (tlsrpt_report.c) is put into the gateway's own queue,
 *	READY, with the null sender (no report about a report comes back),
 *	so delivery sends it like any mail. A domain without a usable rua is
 *	dropped; a failed TXT lookup waits for the next tick. The file goes
 *	once the report is queued.
 *
 *	At most COUNTS_MAX distinct counters are held between ticks.
 * DIAGNOSTICS
 *	Logs event=tlsrpt_queued, tlsrpt_no_rua, tlsrpt_failed.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "delivery_int.h"

#define COUNTS_MAX	4096
#define TICK_MAX_MS	60000
#define FILE_MAX	(4 * 1024 * 1024)	/* a counts file read back */

struct count {
	int64_t	start, end;
	char	domain[256];
	struct delivery_tlsrpt_line l;
	struct count *next;
};

struct sending {
	struct dl_tlsrpt *r;
	char	path[4400];
	char	domain[256];
	int64_t	start, end;
	struct sending *next;
};

struct dl_tlsrpt {
	struct delivery_agent *a;
	char   *dir;
	uv_timer_t timer;
	struct count *counts;
	size_t	ncounts;
	struct sending *busy;
	bool	closing;
};

static void tick(uv_timer_t *t);

static int64_t tick_ms(const struct delivery_conf *c)
{
	return (c->tlsrpt_period / 2 < TICK_MAX_MS ? c->tlsrpt_period / 2 : TICK_MAX_MS);
}

struct dl_tlsrpt *dl_tlsrpt_new(struct delivery_agent *a, const char *state_dir)
{
	struct dl_tlsrpt *r = sg_xcalloc(1, sizeof(*r));
	struct sg_buf d = SG_BUF_INIT;

	r->a = a;
	/* Made by the first flush, once the role runs as its user. */
	sg_buf_printf(&d, "%s/tlsrpt", state_dir);
	r->dir = d.data;
	uv_timer_init(a->loop, &r->timer);
	r->timer.data = r;
	uv_timer_start(&r->timer, tick, (uint64_t) tick_ms(a->conf), (uint64_t) tick_ms(a->conf));
	return (r);
}

void	dl_tlsrpt_count(struct dl_tlsrpt *r, const char *domain, const char *type,
			const char *result, const char *mx, const char *ip)
{
	int64_t	now = (int64_t) time(NULL), per = r->a->conf->tlsrpt_period / 1000;
	struct count *c;

	if (r->closing || !r->a->conf->tlsrpt)
		return;
	for (c = r->counts; c; c = c->next)
		if (now >= c->start && now < c->end && !strcmp(c->domain, domain)
		    && !strcmp(c->l.type, type) && !strcmp(c->l.result, result)
		    && !strcmp(c->l.mx, mx) && !strcmp(c->l.ip, ip))
			break;
	if (c == NULL) {
		if (r->ncounts >= COUNTS_MAX)
			return;
		c = sg_xcalloc(1, sizeof(*c));
		c->start = now - now % per;
		c->end = c->start + per;
		snprintf(c->domain, sizeof(c->domain), "%s", domain);
		snprintf(c->l.type, sizeof(c->l.type), "%s", type);
		snprintf(c->l.result, sizeof(c->l.result), "%s", result);
		snprintf(c->l.mx, sizeof(c->l.mx), "%s", mx);
		snprintf(c->l.ip, sizeof(c->l.ip), "%s", *ip ? ip : "-");
		c->next = r->counts;
		r->counts = c;
		r->ncounts++;
	}
	c->l.count++;
}

struct lines {
	struct delivery_tlsrpt_line *v;
	size_t	n;
};

static void add_line(void *arg, const struct delivery_tlsrpt_line *l)
{
	struct lines *ls = arg;

	for (size_t i = 0; i < ls->n; i++) {
		if (!strcmp(ls->v[i].type, l->type) && !strcmp(ls->v[i].result, l->result)
		    && !strcmp(ls->v[i].mx, l->mx) && !strcmp(ls->v[i].ip, l->ip)) {
			ls->v[i].count += l->count;
			return;
		}
	}
	ls->v = sg_xrealloc(ls->v, (ls->n + 1) * sizeof(*ls->v));
	ls->v[ls->n++] = *l;
}

/* load - the counts kept in path (none yet is none); < 0 when unreadable or damaged */

static int load(const char *path, struct lines *ls)
{
	size_t	len;
	char   *buf;
	int	rc = sg_fs_read(path, FILE_MAX, &buf, &len);

	if (rc < 0)
		return (rc == SG_ENOTFOUND ? 0 : rc);
	rc = delivery_tlsrpt_counts_parse(buf, len, add_line, ls);
	free(buf);
	return (rc);
}

/* flush_one - add c's counts (and all others of its file) to the file */

static void flush_one(struct dl_tlsrpt *r, struct count *c)
{
	char	dir[4096], path[4400];
	struct lines ls = {NULL, 0};
	struct sg_buf b = SG_BUF_INIT;
	int	rc;

	snprintf(dir, sizeof(dir), "%s/%lld-%lld", r->dir, (long long) c->start,
		 (long long) c->end);
	snprintf(path, sizeof(path), "%s/%s", dir, c->domain);
	mkdir(r->dir, 0750);
	mkdir(dir, 0750);		/* failures show in the write below */
	if ((rc = load(path, &ls)) == SG_EIO) {
		/* a read that failed for now must not cost what the file holds */
		sg_warn("event=tlsrpt_failed file=\"%s\" error=\"%s\" action=kept_for_next_tick",
			path, strerror(errno));
		free(ls.v);
		return;
	}
	if (rc < 0)
		sg_warn("event=tlsrpt_failed file=\"%s\" error=\"%s: lines after the damage are "
			"lost\"", path, rc == SG_ELIMIT ? "counts file too long" : "corrupt counts");
	for (struct count *o = c; o; o = o->next)
		if (o->start == c->start && !strcmp(o->domain, c->domain) && o->l.count) {
			add_line(&ls, &o->l);
			o->l.count = 0;
		}
	for (size_t i = 0; i < ls.n; i++)
		sg_buf_printf(&b, "%s %s %s %s %llu\n", ls.v[i].type, ls.v[i].result, ls.v[i].mx,
			      ls.v[i].ip, (unsigned long long) ls.v[i].count);
	/* a failed write closes its file: a full disk, every tick, costs no descriptor */
	if (sg_fs_replace(path, &(struct sg_fs_part) {b.data, b.len}, 1, 0640) < 0)
		sg_warn("event=tlsrpt_failed file=\"%s\" error=\"%s\"", path, strerror(errno));
	free(ls.v);
	sg_buf_free(&b);
}

static void flush(struct dl_tlsrpt *r)
{
	struct count **pp = &r->counts, *c;

	for (c = r->counts; c; c = c->next)
		if (c->l.count)
			flush_one(r, c);
	while ((c = *pp) != NULL) {	/* what a file could not take waits for the next tick */
		if (c->l.count) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		free(c);
		r->ncounts--;
	}
}

static void sending_free(struct sending *s)
{
	for (struct sending **pp = &s->r->busy; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	free(s);
}

/* spool - build the report of s and queue it to the rua addresses */

static void spool(struct sending *s, const struct delivery_tlsrpt_rua *rua)
{
	struct delivery_agent *a = s->r->a;
	struct lines ls = {NULL, 0};
	struct delivery_sts_policy pol;
	struct delivery_tlsrpt_report in = {.submitter = a->hostname,.domain = s->domain,
	.start = s->start,.end = s->end,.rua = rua};
	struct sg_buf mail = SG_BUF_INIT, js = SG_BUF_INIT;
	struct queue_env e;
	struct queue_body_src src = {0};
	char	id[DELIVERY_STS_ID_MAX + 1], idstr[QUEUE_ID_BUFSZ], stsdir[4096];
	char   *stsfile = NULL;
	size_t	stslen = 0;
	int64_t	fetched;
	uint64_t qid;
	int	rc;

	load(s->path, &ls);
	in.lines = ls.v;
	in.nlines = ls.n;
	/* The cached MTA-STS policy's text, for policy-string. */
	snprintf(stsdir, sizeof(stsdir), "%s/../sts/%s", s->r->dir, s->domain);
	if (sg_fs_read(stsdir, FILE_MAX, &stsfile, &stslen) == 0) {
		const char *text;
		size_t	tl;

		if (delivery_sts_cache_parse(stsfile, stslen, id, &fetched, &pol, &text, &tl) == 0) {
			in.sts_policy = text;
			in.sts_policy_len = tl;
		}
	}
	rc = delivery_tlsrpt_report(&in, &mail, &js);
	if (rc == 0) {
		queue_env_init(&e);
		e.state = QUEUE_READY;
		e.sender = "";
		e.direction = QUEUE_DIR_OUTBOUND;
		for (size_t i = 0; i < rua->n; i++)
			queue_env_rcpt_add(&e, rua->addr[i]);
		src.data = mail.data;
		src.len = mail.len;
		rc = queue_spool(a->q, &e, &src, &qid);
		queue_env_free(&e);
	}
	if (rc < 0) {
		sg_warn("event=tlsrpt_failed domain=%s error=\"%s\"", s->domain, sg_strerror(rc));
	} else {
		sg_info("id=%s event=tlsrpt_queued domain=%s rua=%zu policies=%zu",
			queue_id_format(qid, idstr), s->domain, rua->n, ls.n);
		unlink(s->path);
	}
	free(stsfile);
	free(ls.v);
	sg_buf_free(&mail);
	sg_buf_free(&js);
}

static void on_rua(void *arg, int status, const struct sg_buf *recs, size_t n)
{
	struct sending *s = arg;
	struct delivery_tlsrpt_rua rua = {0};
	size_t	found = 0;

	if (s->r->closing || status < 0) {
		sending_free(s);	/* next tick tries again */
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct delivery_tlsrpt_rua one;

		if (delivery_tlsrpt_txt_parse(recs[i].data ? recs[i].data : "", recs[i].len,
					      &one) == 0 && found++ == 0)
			rua = one;
	}
	if (found != 1 || rua.n == 0) {
		sg_info("event=tlsrpt_no_rua domain=%s records=%zu", s->domain, found);
		unlink(s->path);
	} else {
		spool(s, &rua);
	}
	sending_free(s);
}

/* send_period - report every domain of a finished period's directory */

static void send_period(struct dl_tlsrpt *r, const char *name, int64_t start, int64_t end)
{
	char	dir[4096];
	DIR    *d;
	struct dirent *de;
	size_t	left = 0;

	snprintf(dir, sizeof(dir), "%s/%s", r->dir, name);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct sending *s;
		char	txt[300];
		bool	busy = false;

		if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp")
		    || !sg_domain_valid(de->d_name, strlen(de->d_name)))
			continue;
		left++;
		s = sg_xcalloc(1, sizeof(*s));
		snprintf(s->path, sizeof(s->path), "%s/%s", dir, de->d_name);
		for (struct sending *o = r->busy; o && !busy; o = o->next)
			busy = !strcmp(o->path, s->path);
		if (busy) {
			free(s);
			continue;
		}
		s->r = r;
		snprintf(s->domain, sizeof(s->domain), "%s", de->d_name);
		s->start = start;
		s->end = end;
		s->next = r->busy;
		r->busy = s;
		snprintf(txt, sizeof(txt), "_smtp._tls.%s", s->domain);
		dl_resolve_txt(r->a->res, txt, on_rua, s);
	}
	closedir(d);
	if (left == 0)
		rmdir(dir);
}

static void tick(uv_timer_t *t)
{
	struct dl_tlsrpt *r = t->data;
	int64_t	now = (int64_t) time(NULL);
	DIR    *d;
	struct dirent *de;

	flush(r);
	uv_timer_set_repeat(&r->timer, (uint64_t) tick_ms(r->a->conf));
	if (!r->a->conf->tlsrpt || (d = opendir(r->dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		const char *dash = strchr(de->d_name, '-');
		uint64_t s, e;

		/* "START-END", unix seconds, as flush_one() names them */
		if (dash == NULL || sg_parse_u64(de->d_name, (size_t) (dash - de->d_name), &s) < 0
		    || sg_parse_u64(dash + 1, strlen(dash + 1), &e) < 0 || e > (uint64_t) now
		    || s >= e)
			continue;
		send_period(r, de->d_name, (int64_t) s, (int64_t) e);
	}
	closedir(d);
}

static void on_timer_closed(uv_handle_t *h)
{
	(void) h;			/* r is freed by dl_tlsrpt_free(), after the loop */
}

void	dl_tlsrpt_stop(struct dl_tlsrpt *r)
{
	if (r == NULL || r->closing)
		return;
	flush(r);
	r->closing = true;
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *) &r->timer, on_timer_closed);
}

void	dl_tlsrpt_free(struct dl_tlsrpt *r)
{
	if (r == NULL)
		return;
	dl_tlsrpt_stop(r);
	while (r->busy)
		sending_free(r->busy);
	free(r->dir);
	free(r);
}
