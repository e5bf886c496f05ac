/*
 * NAME
 *	sealctl_status 3
 * SUMMARY
 *	sealctl status: is the gateway healthy, as a monitoring check sees it
 * SYNOPSIS
 *	#include "cmd/sealctl.h"
 *
 *	int	sealctl_status(conf, argc, argv)
 *
 *	sealctl status [--json]
 *	sealctl status --cluster [--json]
 * DESCRIPTION
 *	Puts together, without asking the daemon anything:
 *
 *	the master: running while it holds the lock on its pidfile
 *	(status_master_pid()); what it publishes in STATE_DIR/master.status
 *	(status_read()): each role's state, pid, uptime, restarts, failures
 *	in a row and last exit, and each listener, bound or why not;
 *
 *	the queue, read-only (queue_stats(), one snapshot that never blocks
 *	the daemon): messages per state, the oldest message's age, open
 *	incidents, quarantined records, the size of data.mdb, how much of
 *	the map is in use and the LMDB reader slots taken;
 *
 *	the certificate database, read-only: gateway certificates and the
 *	TLS server certificates (certs.tls_cert, certs.tls_sni_certs, in
 *	certs.tls_db_dir when set) that have expired or expire within 30
 *	days, and every CRL with its age and next update.
 *
 *	The first line is a summary a monitoring system shows: "sealgate
 *	OK", "sealgate DEGRADED: <reasons>" or "sealgate NOT RUNNING: ...",
 *	then "|" and performance data (messages per state, oldest age, map
 *	use, readers). One line per item follows. --json prints one JSON
 *	object instead (status, exit, problems, master, roles, listeners,
 *	queue, database, certificates, crls).
 *
 *	--cluster reports the cluster instead, from its database: every
 *	node's heartbeat (sealctl_cluster_status(), sealctl_cluster.c).
 *
 *	Degraded: a role is not running (starting, waiting to restart) or
 *	has failed twice or more in a row without a minute up since; a
 *	listener is not bound; a gateway or TLS certificate has expired;
 *	the map is more than 80% used; more than 80% of queue.max_readers
 *	reader slots are taken; the queue cannot be read; the master
 *	publishes no status. A certificate expiring within 30 days, a CRL
 *	past its next update and open incidents are shown but change
 *	nothing.
 * DIAGNOSTICS
 *	Exit status 0 healthy, 1 degraded (the reasons on the first line),
 *	2 not running (no master holds the pidfile, or it cannot be told:
 *	the pidfile cannot be read) or a usage error. A certificate
 *	database that cannot be opened (none yet, or not readable by this
 *	user) is said, not counted.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "sealctl.h"

#define EXPIRY_WARN_S	(30 * 86400)	/* certificates expiring this soon are shown */
#define STABLE_S	60		/* as master.c's STABLE_MS */
#define FULL_PCT	80.0		/* map and readers above this: degraded */

enum { HEALTHY = 0, DEGRADED = 1, NOT_RUNNING = 2 };

struct cert_item {
	struct certs_desc d;
	char	use[280];		/* "gateway example.com", "tls" */
};

struct report {
	const struct sealgate_conf *conf;
	int64_t	now;			/* ms since the epoch */
	long	master;			/* status_master_pid() */
	int	st_err;			/* status_read(); 0: st is valid */
	struct status st;
	int	queue_err;		/* 0: qs is valid */
	bool	no_queue;		/* none made yet: qs is all zero */
	struct queue_stats qs;
	char	certs_note[256];	/* why certificates were not checked */
	size_t	ncerts_checked;
	struct cert_item *certs;	/* expired or expiring */
	size_t	ncerts;
	struct certs_crl_desc *crls;
	size_t	ncrls;
	struct sg_buf problems;		/* one per line */
	int	exit;
};

static void problem(struct report *r, int level, const char *fmt, ...) SG_PRINTF(3, 4);

static void problem(struct report *r, int level, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	sg_buf_vprintf(&r->problems, fmt, ap);
	va_end(ap);
	sg_buf_putc(&r->problems, '\n');
	if (level > r->exit)
		r->exit = level;
}

/* age - a duration in seconds as "3d4h", "2h5m", "5m12s", "12s" */

static const char *age(int64_t s, char *buf, size_t len)
{
	if (s < 0)
		s = 0;
	if (s >= 86400)
		snprintf(buf, len, "%lldd%lldh", (long long) (s / 86400), (long long) (s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(buf, len, "%lldh%lldm", (long long) (s / 3600), (long long) (s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, len, "%lldm%llds", (long long) (s / 60), (long long) (s % 60));
	else
		snprintf(buf, len, "%llds", (long long) s);
	return (buf);
}

/* bytes - a size as "512", "12.0K", "3.5M", "16.0G" */

static const char *bytes(uint64_t n, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	double	v = (double) n;
	int	u = -1;

	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%llu", (unsigned long long) n);
	else
		snprintf(buf, len, "%.1f%c", v, units[u]);
	return (buf);
}

static const char *iso(int64_t s, char *buf, size_t len)
{
	time_t	t = (time_t) s;
	struct tm tm;

	if (s == 0 || gmtime_r(&t, &tm) == NULL)
		return ("-");
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return (buf);
}

/* ------------------------------------------------------------ gather */

static void gather_master(struct report *r)
{
	r->master = status_master_pid(r->conf->main.pidfile);
	r->st_err = SG_ENOTFOUND;
	if (r->master == 0) {
		problem(r, NOT_RUNNING, "no sealgated holds %s", r->conf->main.pidfile);
		return;
	}
	if (r->master < 0 && r->master != SG_EAGAIN) {
		problem(r, NOT_RUNNING, "cannot tell whether sealgated runs: %s: %s",
			r->conf->main.pidfile, r->master == SG_EDENIED ? "permission denied"
			: sg_strerror((int) r->master));
		return;
	}
	r->st_err = status_read(r->conf->main.state_dir, &r->st);
	if (r->st_err == 0 && r->master > 0 && r->st.pid != r->master)
		r->st_err = SG_ENOTFOUND;	/* a file of an earlier master */
	if (r->st_err != 0)
		problem(r, DEGRADED, "the master (pid %ld) publishes no status in %s/%s: %s",
			r->master > 0 ? r->master : 0L, r->conf->main.state_dir, STATUS_FILE,
			r->st_err == SG_ENOTFOUND ? "none yet" : sg_strerror(r->st_err));
}

static void check_roles(struct report *r)
{
	char	why[96], t[32];

	for (size_t i = 0; i < r->st.nroles; i++) {
		const struct status_role *ro = &r->st.roles[i];
		int64_t	up = (r->now - ro->started_ms) / 1000;

		status_exit_reason(ro, why, sizeof(why));
		if (ro->state == STATUS_RESTARTING)
			problem(r, DEGRADED, "role %s is not running: restarting in %s after %llu "
				"failure%s in a row (last: %s)", ro->name,
				age((ro->restart_at_ms - r->now + 999) / 1000, t, sizeof(t)),
				(unsigned long long) ro->failures, ro->failures == 1 ? "" : "s",
				why);
		else if (ro->state != STATUS_RUNNING && ro->state != STATUS_STOPPING
			 && ro->failures > 0)
			problem(r, DEGRADED, "role %s is %s (for %s) after %llu failure%s in a row "
				"(last: %s)", ro->name, status_role_state_name(ro->state),
				age(up, t, sizeof(t)), (unsigned long long) ro->failures,
				ro->failures == 1 ? "" : "s", why);
		else if (ro->state != STATUS_RUNNING && ro->state != STATUS_STOPPING)
			problem(r, DEGRADED, "role %s is %s (for %s)", ro->name,
				status_role_state_name(ro->state), age(up, t, sizeof(t)));
		else if (ro->failures >= 2 && up < STABLE_S)
			problem(r, DEGRADED, "role %s keeps failing: %llu failures in a row, up "
				"only %s since (last: %s)", ro->name,
				(unsigned long long) ro->failures, age(up, t, sizeof(t)), why);
	}
	if (strcmp(r->st.state, "stopping") == 0)
		problem(r, DEGRADED, "sealgated is stopping");
	for (size_t i = 0; i < r->st.nlisteners; i++) {
		const struct status_listener *l = &r->st.listeners[i];

		if (!l->bound)
			problem(r, DEGRADED, "listener %s (%s) is not bound: %s", l->name, l->address,
				l->error[0] ? l->error : "unknown");
	}
}

static void gather_queue(struct report *r)
{
	struct queue *q;
	struct stat st;
	double	used;

	memset(&r->qs, 0, sizeof(r->qs));
	if (stat(r->conf->main.state_dir, &st) != 0) {
		r->queue_err = SG_ENOTFOUND;
		problem(r, DEGRADED, "state directory %s: %s", r->conf->main.state_dir,
			strerror(errno));
		return;
	}
	r->queue_err = sealctl_queue_open(r->conf, QUEUE_RDONLY, &q);
	if (r->queue_err == SG_ENOTFOUND) {
		r->queue_err = 0;	/* no queue yet: an empty one */
		r->no_queue = true;
		return;
	}
	if (r->queue_err == 0) {
		r->queue_err = queue_stats(q, &r->qs);
		queue_close(q);
	}
	if (r->queue_err != 0) {
		problem(r, DEGRADED, "the queue cannot be read: %s", sg_strerror(r->queue_err));
		return;
	}
	used = r->qs.map_bytes ? 100.0 * (double) r->qs.used_bytes / (double) r->qs.map_bytes : 0;
	if (used > FULL_PCT)
		problem(r, DEGRADED, "the queue's map is %.1f%% full (%llu of %llu bytes; "
			"queue.map_size_max)", used, (unsigned long long) r->qs.used_bytes,
			(unsigned long long) r->qs.map_bytes);
	if (r->conf->queue.max_readers > 0
	    && 100.0 * r->qs.readers / (double) r->conf->queue.max_readers > FULL_PCT)
		problem(r, DEGRADED, "%u of %lld LMDB reader slots are taken (queue.max_readers)",
			r->qs.readers, (long long) r->conf->queue.max_readers);
}

/* is_tls - is nickname one of the configured TLS server certificates */

static bool is_tls(const struct sealgate_conf *c, const char *nickname)
{
	if (*c->certs.tls_cert && strcmp(c->certs.tls_cert, nickname) == 0)
		return (true);
	for (size_t i = 0; i < c->certs.tls_sni_certs.n; i++)
		if (strcmp(c->certs.tls_sni_certs.v[i], nickname) == 0)
			return (true);
	return (false);
}

struct walk {
	struct report *r;
	bool	gateway;		/* look at gateway certificates */
	bool	tls;			/* look at TLS server certificates */
};

static int on_cert(const struct certs_desc *d, void *arg)
{
	struct walk *w = arg;
	struct report *r = w->r;
	bool	gw = w->gateway && d->gateway[0], tls = w->tls && is_tls(r->conf, d->nickname);
	struct cert_item *it;

	if (!gw && !tls)
		return (0);
	r->ncerts_checked++;
	if (d->not_after - r->now / 1000 > EXPIRY_WARN_S)
		return (0);
	r->certs = sg_xrealloc(r->certs, (r->ncerts + 1) * sizeof(*r->certs));
	it = &r->certs[r->ncerts++];
	it->d = *d;
	snprintf(it->use, sizeof(it->use), "%s%s%s%s", gw ? "gateway " : "", gw ? d->gateway : "",
		 gw && tls ? ", " : "", tls ? "tls" : "");
	return (0);
}

static int on_crl(const struct certs_crl_desc *d, void *arg)
{
	struct report *r = arg;

	r->crls = sg_xrealloc(r->crls, (r->ncrls + 1) * sizeof(*r->crls));
	r->crls[r->ncrls++] = *d;
	return (0);
}

/* walk_db - one certificate database: open, list, close */

static void walk_db(struct report *r, unsigned flags, bool gateway, bool tls)
{
	struct walk w = {r, gateway, tls};
	struct certs *c;
	int	err;

	if ((err = certs_open(&r->conf->main, &r->conf->certs, CERTS_RDONLY | CERTS_KEYS | flags,
			      &c)) < 0) {
		snprintf(r->certs_note, sizeof(r->certs_note), "%s database cannot be opened: %s%s",
			 flags & CERTS_TLS ? "the TLS" : "the certificate", sg_strerror(err),
			 err == SG_ENOTFOUND ? " (none yet: sealctl cert init)" : "");
		return;
	}
	if (certs_list(c, on_cert, &w) < 0 || (gateway && certs_crl_list(c, on_crl, r) < 0))
		snprintf(r->certs_note, sizeof(r->certs_note), "the certificate database "
			 "cannot be read");
	if (certs_close(c) < 0)
		snprintf(r->certs_note, sizeof(r->certs_note), "the certificate database did not "
			 "close cleanly");
}

static void gather_certs(struct report *r)
{
	const struct certs_conf *cc = &r->conf->certs;
	bool	own_tls_db = *cc->tls_db_dir && strcmp(cc->tls_db_dir, cc->db_dir) != 0;
	bool	want_tls = *cc->tls_cert || cc->tls_sni_certs.n > 0;

	walk_db(r, 0, true, want_tls && !own_tls_db);
	if (want_tls && own_tls_db && r->certs_note[0] == 0)
		walk_db(r, CERTS_TLS, false, true);
	for (size_t i = 0; i < r->ncerts; i++) {
		const struct cert_item *it = &r->certs[i];
		char	t[32];

		if (it->d.not_after <= r->now / 1000)
			problem(r, DEGRADED, "certificate \"%s\" (%s) expired on %s", it->d.nickname,
				it->use, iso(it->d.not_after, t, sizeof(t)));
	}
}

/* ------------------------------------------------------------ text */

static void put_summary(const struct report *r)
{
	static const char *const words[] = {"OK", "DEGRADED", "NOT RUNNING"};
	const char *p = r->problems.data, *nl;
	double	used = r->qs.map_bytes ? 100.0 * (double) r->qs.used_bytes
		/ (double) r->qs.map_bytes : 0;

	uint64_t queued = 0;

	for (int i = 0; i < QUEUE_DONE; i++)
		queued += r->qs.count[i];
	printf("sealgate %s", words[r->exit]);
	for (const char *sep = ": "; p && (nl = strchr(p, '\n')) != NULL; p = nl + 1, sep = "; ")
		printf("%s%.*s", sep, (int) (nl - p), p);
	if (r->exit == HEALTHY)
		printf(": %zu roles running, %zu listener%s bound, %llu message%s queued",
		       r->st.nroles, r->st.nlisteners, r->st.nlisteners == 1 ? "" : "s",
		       (unsigned long long) queued, queued == 1 ? "" : "s");
	printf(" |");
	for (int i = 0; i < QUEUE_DONE; i++)
		printf(" %s=%llu", queue_state_name((enum queue_state) i),
		       (unsigned long long) r->qs.count[i]);
	printf(" oldest=%llds map=%.2f%% readers=%u incidents=%llu\n",
	       (long long) (r->qs.oldest_ms ? (r->now - r->qs.oldest_ms) / 1000 : 0), used,
	       r->qs.readers, (unsigned long long) r->qs.incidents_open);
}

static void put_roles_text(const struct report *r)
{
	char	t[32], why[96], text[512];

	if (r->st_err != 0)
		return;
	printf("%-11s pid %ld, up %s, version %s, %s\n", "master", r->st.pid,
	       age((r->now - r->st.started_ms) / 1000, t, sizeof(t)), r->st.version,
	       sg_printable(text, sizeof(text), r->st.config, strlen(r->st.config)));
	for (size_t i = 0; i < r->st.nroles; i++) {
		const struct status_role *ro = &r->st.roles[i];

		printf("%-11s %-9s %-10s", "role", ro->name, status_role_state_name(ro->state));
		if (ro->pid)
			printf(" pid %ld, up %s,", ro->pid,
			       age((r->now - ro->started_ms) / 1000, t, sizeof(t)));
		else if (ro->state == STATUS_RESTARTING)
			printf(" again in %s,", age((ro->restart_at_ms - r->now + 999) / 1000, t,
						   sizeof(t)));
		printf(" restarts %llu", (unsigned long long) ro->restarts);
		if (ro->failures)
			printf(", failures in a row %llu", (unsigned long long) ro->failures);
		if (ro->exit_ms)
			printf(", last exit %s ago: %s", age((r->now - ro->exit_ms) / 1000, t, sizeof(t)),
			       status_exit_reason(ro, why, sizeof(why)));
		putchar('\n');
	}
	for (size_t i = 0; i < r->st.nlisteners; i++) {
		const struct status_listener *l = &r->st.listeners[i];

		printf("%-11s %s %s ", "listener", sg_printable(text, sizeof(text), l->name,
								 strlen(l->name)), l->address);
		if (l->bound)
			printf("bound\n");
		else
			printf("not bound: %s\n", sg_printable(text, sizeof(text), l->error,
							       strlen(l->error)));
	}
}

static void put_queue_text(const struct report *r)
{
	const struct queue_stats *s = &r->qs;
	char	t[32], id[QUEUE_ID_BUFSZ], b1[16], b2[16], b3[16];

	if (r->queue_err != 0)
		return;
	printf("%-11s", "queue");
	for (int i = 0; i < QUEUE_DONE; i++)
		printf("%s %s %llu", i ? "," : "", queue_state_name((enum queue_state) i),
		       (unsigned long long) s->count[i]);
	if (s->oldest_id)
		printf("; oldest %s (%s)", age((r->now - s->oldest_ms) / 1000, t, sizeof(t)),
		       queue_id_format(s->oldest_id, id));
	printf("\n%-11s %llu open", "incidents", (unsigned long long) s->incidents_open);
	if (s->corrupt)
		printf(", %llu records quarantined", (unsigned long long) s->corrupt);
	if (r->no_queue) {
		printf("\n%-11s no queue yet\n", "database");
		return;
	}
	printf("\n%-11s %s in use of a %s map (%.1f%%), data.mdb %s, %u of %lld readers\n",
	       "database", bytes(s->used_bytes, b1, sizeof(b1)), bytes(s->map_bytes, b2, sizeof(b2)),
	       s->map_bytes ? 100.0 * (double) s->used_bytes / (double) s->map_bytes : 0.0,
	       bytes(s->db_bytes, b3, sizeof(b3)), s->readers,
	       (long long) r->conf->queue.max_readers);
}

static void put_certs_text(const struct report *r)
{
	char	t[32], a[32], text[512];
	int64_t	now = r->now / 1000;

	if (r->certs_note[0])
		printf("%-11s %s\n", "certificate", r->certs_note);
	else if (r->ncerts == 0)
		printf("%-11s %zu gateway and TLS certificate%s, none expiring within 30 days\n",
		       "certificate", r->ncerts_checked, r->ncerts_checked == 1 ? "" : "s");
	for (size_t i = 0; i < r->ncerts; i++) {
		const struct cert_item *it = &r->certs[i];
		int64_t	left = it->d.not_after - now;

		printf("%-11s \"%s\" (%s, %s) %s %s%s%s\n", "certificate",
		       sg_printable(text, sizeof(text), it->d.nickname, strlen(it->d.nickname)),
		       it->use, it->d.id, left <= 0 ? "expired" : "expires", left <= 0 ? "" : "in ",
		       age(left <= 0 ? -left : left, a, sizeof(a)), left <= 0 ? " ago" : "");
	}
	if (r->ncrls == 0 && r->certs_note[0] == 0)
		printf("%-11s none\n", "crl");
	for (size_t i = 0; i < r->ncrls; i++) {
		const struct certs_crl_desc *c = &r->crls[i];

		printf("%-11s \"%s\" updated %s ago", "crl",
		       sg_printable(text, sizeof(text), c->issuer, strlen(c->issuer)),
		       age(now - c->this_update, t, sizeof(t)));
		if (c->next_update == 0)
			printf(", no next update given\n");
		else if (c->next_update < now)
			printf(", stale: its next update was due %s ago\n",
			       age(now - c->next_update, a, sizeof(a)));
		else
			printf(", next update in %s\n", age(c->next_update - now, a, sizeof(a)));
	}
}

/* ------------------------------------------------------------ JSON */

static void json_roles(FILE *fp, const struct report *r)
{
	char	why[96];

	fputs(",\"roles\":[", fp);
	for (size_t i = 0; r->st_err == 0 && i < r->st.nroles; i++) {
		const struct status_role *ro = &r->st.roles[i];

		fprintf(fp, "%s{", i ? "," : "");
		sealctl_json_kv_str(fp, "name", ro->name, true);
		sealctl_json_kv_str(fp, "state", status_role_state_name(ro->state), false);
		fprintf(fp, ",\"pid\":%ld,\"started\":%lld,\"uptime_s\":%lld,\"ready\":%lld,"
			"\"restarts\":%llu,\"failures\":%llu,\"restart_at\":%lld,\"last_exit\":",
			ro->pid, (long long) (ro->started_ms / 1000),
			(long long) (ro->pid ? (r->now - ro->started_ms) / 1000 : 0),
			(long long) (ro->ready_ms / 1000), (unsigned long long) ro->restarts,
			(unsigned long long) ro->failures, (long long) (ro->restart_at_ms / 1000));
		if (ro->exit_ms == 0) {
			fputs("null}", fp);
			continue;
		}
		fprintf(fp, "{\"time\":%lld,\"status\":%d,\"signal\":%d,",
			(long long) (ro->exit_ms / 1000), ro->exit_status, ro->exit_signal);
		sealctl_json_kv_str(fp, "reason", status_exit_reason(ro, why, sizeof(why)), true);
		fputs("}}", fp);
	}
	fputs("],\"listeners\":[", fp);
	for (size_t i = 0; r->st_err == 0 && i < r->st.nlisteners; i++) {
		const struct status_listener *l = &r->st.listeners[i];

		fprintf(fp, "%s{", i ? "," : "");
		sealctl_json_kv_str(fp, "name", l->name, true);
		sealctl_json_kv_str(fp, "address", l->address, false);
		fprintf(fp, ",\"bound\":%s,\"error\":", l->bound ? "true" : "false");
		if (l->bound)
			fputs("null", fp);
		else
			sealctl_json_str(fp, l->error);
		putc('}', fp);
	}
	putc(']', fp);
}

static void json_queue(FILE *fp, const struct report *r)
{
	const struct queue_stats *s = &r->qs;
	char	id[QUEUE_ID_BUFSZ];

	if (r->queue_err != 0) {
		fputs(",\"queue\":null,\"database\":null", fp);
		return;
	}
	fputs(",\"queue\":{", fp);
	for (int i = 0; i < QUEUE_DONE; i++)
		fprintf(fp, "\"%s\":%llu,", queue_state_name((enum queue_state) i),
			(unsigned long long) s->count[i]);
	fprintf(fp, "\"oldest_id\":\"%s\",\"oldest_age_s\":%lld,\"incidents_open\":%llu,"
		"\"corrupt\":%llu},", s->oldest_id ? queue_id_format(s->oldest_id, id) : "",
		(long long) (s->oldest_ms ? (r->now - s->oldest_ms) / 1000 : 0),
		(unsigned long long) s->incidents_open, (unsigned long long) s->corrupt);
	fprintf(fp, "\"database\":{\"db_bytes\":%llu,\"used_bytes\":%llu,\"map_bytes\":%llu,"
		"\"map_used_pct\":%.2f,\"readers\":%u,\"max_readers\":%lld}",
		(unsigned long long) s->db_bytes, (unsigned long long) s->used_bytes,
		(unsigned long long) s->map_bytes,
		s->map_bytes ? 100.0 * (double) s->used_bytes / (double) s->map_bytes : 0.0,
		s->readers, (long long) r->conf->queue.max_readers);
}

static void json_certs(FILE *fp, const struct report *r)
{
	int64_t	now = r->now / 1000;

	fputs(",\"certificates\":[", fp);
	for (size_t i = 0; i < r->ncerts; i++) {
		const struct cert_item *it = &r->certs[i];

		fprintf(fp, "%s{", i ? "," : "");
		sealctl_json_kv_str(fp, "id", it->d.id, true);
		sealctl_json_kv_str(fp, "nickname", it->d.nickname, false);
		sealctl_json_kv_str(fp, "use", it->use, false);
		fprintf(fp, ",\"not_after\":%lld,\"days_left\":%lld,\"expired\":%s}",
			(long long) it->d.not_after,
			(long long) ((it->d.not_after - now) / 86400),
			it->d.not_after <= now ? "true" : "false");
	}
	fprintf(fp, "],\"certificates_checked\":%zu,\"certificates_note\":", r->ncerts_checked);
	if (r->certs_note[0])
		sealctl_json_str(fp, r->certs_note);
	else
		fputs("null", fp);
	fputs(",\"crls\":[", fp);
	for (size_t i = 0; i < r->ncrls; i++) {
		const struct certs_crl_desc *c = &r->crls[i];

		fprintf(fp, "%s{", i ? "," : "");
		sealctl_json_kv_str(fp, "issuer", c->issuer, true);
		fprintf(fp, ",\"this_update\":%lld,\"next_update\":%lld,\"age_s\":%lld,"
			"\"entries\":%zu,\"stale\":%s}", (long long) c->this_update,
			(long long) c->next_update, (long long) (now - c->this_update),
			c->entries, c->next_update && c->next_update < now ? "true" : "false");
	}
	putc(']', fp);
}

static void put_json(const struct report *r)
{
	static const char *const words[] = {"ok", "degraded", "not running"};
	FILE   *fp = stdout;
	const char *p = r->problems.data, *nl;
	char	line[1024];

	fprintf(fp, "{\"status\":\"%s\",\"exit\":%d,\"problems\":[", words[r->exit], r->exit);
	for (bool first = true; p && (nl = strchr(p, '\n')) != NULL; p = nl + 1, first = false) {
		snprintf(line, sizeof(line), "%.*s", (int) (nl - p), p);
		if (!first)
			putc(',', fp);
		sealctl_json_str(fp, line);
	}
	fputs("],\"master\":", fp);
	if (r->st_err == 0) {
		fprintf(fp, "{\"pid\":%ld,", r->st.pid);
		sealctl_json_kv_str(fp, "state", r->st.state, true);
		fprintf(fp, ",\"started\":%lld,\"uptime_s\":%lld,\"ready\":%lld,",
			(long long) (r->st.started_ms / 1000),
			(long long) ((r->now - r->st.started_ms) / 1000),
			(long long) (r->st.ready_ms / 1000));
		sealctl_json_kv_str(fp, "version", r->st.version, true);
		sealctl_json_kv_str(fp, "config", r->st.config, false);
		putc('}', fp);
	} else {
		fputs("null", fp);
	}
	json_roles(fp, r);
	json_queue(fp, r);
	json_certs(fp, r);
	fputs("}\n", fp);
}

int	sealctl_status(const struct sealgate_conf *conf, int argc, char **argv)
{
	struct report *r = sg_xcalloc(1, sizeof(*r));
	bool	json = argc >= 2 && strcmp(argv[argc - 1], "--json") == 0;
	int	rc;

	/* --cluster: every node's heartbeat, from the cluster's database */
	if (argc == 2 + json && strcmp(argv[1], "--cluster") == 0) {
		free(r);
		return (sealctl_cluster_status(conf, json));
	}
	if (argc > 2 || (argc == 2 && !json)) {
		sealctl_usage(stderr, "status");
		free(r);
		return (SEALCTL_USAGE);
	}
	r->conf = conf;
	r->now = sg_now_ms();
	gather_master(r);
	if (r->st_err == 0)
		check_roles(r);
	gather_queue(r);
	gather_certs(r);
	if (json) {
		put_json(r);
	} else {
		put_summary(r);
		put_roles_text(r);
		put_queue_text(r);
		put_certs_text(r);
	}
	fflush(stdout);
	rc = r->exit;
	sg_buf_free(&r->problems);
	free(r->certs);
	free(r->crls);
	free(r);
	return (rc);
}
