/*
 * NAME
 *	sealctl_stats 3
 * SUMMARY
 *	sealctl stats: counters since start and all-time, with rates
 * SYNOPSIS
 *	#include "cmd/sealctl.h"
 *
 *	int	sealctl_stats(conf, argc, argv)
 * DESCRIPTION
 *	sealctl stats [--json] reads the queue's counters, histograms and
 *	history (queue_counters_read(), one read-only snapshot) and the
 *	master's status (status_master_pid(), status_read()), and prints
 *	for each counter: its all-time total, its count since the running
 *	daemon started (when the queue holds that run's epoch: the roles
 *	mark it as they start), and its rate over the last minute and the
 *	last hour (per minute and per hour, from the queue's ring of
 *	10-second snapshots, over windows of 60 to 70 s and 3600 to 3610 s,
 *	shorter when the queue is younger). It asks the daemon nothing;
 *	the metrics endpoint shows the same totals.
 *
 *	The rows are those of the README: received, rejected (in all, then
 *	by reason), sent, deferred, bounced, signed, encrypted, decrypted,
 *	verified valid, invalid and unsigned, incidents, then processed,
 *	dropped, deleted, quarantined and the delivery attempts by result
 *	and TLS. --json prints one object: now, running, start, uptime_s,
 *	windows (minute_s, hour_s), counters (each: total, since_start or
 *	null, last_minute, last_hour, per_minute, per_hour) and histograms
 *	(count, sum_s, cumulative buckets).
 * DIAGNOSTICS
 *	Exit 0; 2 when the queue cannot be read (said on stderr). A queue
 *	that does not exist yet has every counter at 0.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sealctl.h"

/* A row: a counter, or the sum of the reject reasons (c == -1). */
struct row {
	int	c;
	const char *label;		/* text */
	const char *key;		/* JSON */
};

#define REJECTED (-1)

static const struct row rows[] = {
	{QUEUE_C_RECEIVED, "received", "received"},
	{REJECTED, "rejected at SMTP", "rejected"},
	{QUEUE_C_REJECT_RELAY, "  relay denied", "reject.relay"},
	{QUEUE_C_REJECT_RECIPIENT, "  unknown recipient", "reject.recipient"},
	{QUEUE_C_REJECT_POLICY, "  policy", "reject.policy"},
	{QUEUE_C_REJECT_SIZE, "  size", "reject.size"},
	{QUEUE_C_REJECT_SYNTAX, "  syntax", "reject.syntax"},
	{QUEUE_C_REJECT_CONTENT, "  content", "reject.content"},
	{QUEUE_C_REJECT_OTHER, "  other", "reject.other"},
	{QUEUE_C_SENT, "sent (recipients)", "sent"},
	{QUEUE_C_DEFERRED, "deferred (attempts)", "deferred"},
	{QUEUE_C_BOUNCED, "bounced (recipients)", "bounced"},
	{QUEUE_C_SIGNED, "signed", "signed"},
	{QUEUE_C_ENCRYPTED, "encrypted", "encrypted"},
	{QUEUE_C_DECRYPTED, "decrypted", "decrypted"},
	{QUEUE_C_VERIFY_VALID, "verified valid", "verify.valid"},
	{QUEUE_C_VERIFY_INVALID, "verified invalid", "verify.invalid"},
	{QUEUE_C_VERIFY_UNSIGNED, "verified unsigned", "verify.unsigned"},
	{QUEUE_C_SCAN_CLEAN, "scanned clean", "scan.clean"},
	{QUEUE_C_SCAN_INFECTED, "scanned infected", "scan.infected"},
	{QUEUE_C_SCAN_UNSCANNED, "not scanned", "scan.unscanned"},
	{QUEUE_C_INCIDENTS, "incidents", "incidents"},
	{QUEUE_C_PROCESSED, "processed (worker)", "processed"},
	{QUEUE_C_DROPPED, "dropped (recipients)", "dropped"},
	{QUEUE_C_DELETED, "deleted", "deleted"},
	{QUEUE_C_QUARANTINED, "quarantined", "quarantined"},
	{QUEUE_C_ATT_SENT_TLS, "attempts sent, TLS", "attempts.sent.tls"},
	{QUEUE_C_ATT_SENT_PLAIN, "attempts sent, plain", "attempts.sent.plain"},
	{QUEUE_C_ATT_DEFERRED_TLS, "attempts deferred, TLS", "attempts.deferred.tls"},
	{QUEUE_C_ATT_DEFERRED_PLAIN, "attempts deferred, plain", "attempts.deferred.plain"},
	{QUEUE_C_ATT_BOUNCED_TLS, "attempts bounced, TLS", "attempts.bounced.tls"},
	{QUEUE_C_ATT_BOUNCED_PLAIN, "attempts bounced, plain", "attempts.bounced.plain"},
};

/* What one row says. */
struct figures {
	uint64_t total;
	bool	started;		/* since_start is known */
	uint64_t since_start;
	uint64_t minute, hour;		/* counted in each window */
	double	per_minute, per_hour;
};

static uint64_t pick(const uint64_t *v, int c)
{
	uint64_t n = 0;

	if (c != REJECTED)
		return (v[c]);
	for (int i = QUEUE_C_REJECT_FIRST; i <= QUEUE_C_REJECT_LAST; i++)
		n += v[i];
	return (n);
}

static uint64_t delta(uint64_t now, uint64_t then)
{
	return (now > then ? now - then : 0);
}

static void figures(const struct queue_counters *qc, bool epoch, int c, struct figures *f)
{
	int64_t	wm = qc->now_ms - qc->minute_ms, wh = qc->now_ms - qc->hour_ms;

	f->total = pick(qc->value, c);
	f->started = epoch;
	f->since_start = epoch ? delta(f->total, pick(qc->at_epoch, c)) : 0;
	f->minute = delta(f->total, pick(qc->at_minute, c));
	f->hour = delta(f->total, pick(qc->at_hour, c));
	f->per_minute = wm > 0 ? (double) f->minute * 60000.0 / (double) wm : 0;
	f->per_hour = wh > 0 ? (double) f->hour * 3600000.0 / (double) wh : 0;
}

/* The daemon as master.status and the pidfile's lock tell it. */
struct daemon {
	bool	running;
	int64_t	start_ms;
};

static void daemon_of(const struct sealgate_conf *conf, struct daemon *d)
{
	struct status *st = sg_xcalloc(1, sizeof(*st));
	long	pid = status_master_pid(conf->main.pidfile);

	memset(d, 0, sizeof(*d));
	if (pid > 0 && status_read(conf->main.state_dir, st) == 0 && st->pid == pid) {
		d->running = true;
		d->start_ms = st->started_ms;
	}
	free(st);
}

static void put_duration(FILE *fp, int64_t s)
{
	if (s >= 86400)
		fprintf(fp, "%lldd%lldh", (long long) (s / 86400), (long long) (s % 86400 / 3600));
	else if (s >= 3600)
		fprintf(fp, "%lldh%lldm", (long long) (s / 3600), (long long) (s % 3600 / 60));
	else if (s >= 60)
		fprintf(fp, "%lldm%llds", (long long) (s / 60), (long long) (s % 60));
	else
		fprintf(fp, "%llds", (long long) (s > 0 ? s : 0));
}

static void put_text(const struct queue_counters *qc, const struct daemon *d, bool epoch)
{
	char	t[32];

	printf("sealgate statistics at %s; ", sealctl_time(qc->now_ms, t, sizeof(t)));
	if (d->running) {
		printf("running since %s (", sealctl_time(d->start_ms, t, sizeof(t)));
		put_duration(stdout, (qc->now_ms - d->start_ms) / 1000);
		printf(")\n");
	} else {
		printf("sealgated is not running\n");
	}
	printf("%-26s %12s %12s %12s %12s\n", "counter", "total", "since start", "last min",
	       "last hour");
	for (size_t i = 0; i < SG_NELEM(rows); i++) {
		struct figures f;
		char	since[24];

		figures(qc, epoch, rows[i].c, &f);
		if (f.started)
			snprintf(since, sizeof(since), "%llu", (unsigned long long) f.since_start);
		else
			snprintf(since, sizeof(since), "-");
		printf("%-26s %12llu %12s %8.1f/min %10.1f/h\n", rows[i].label,
		       (unsigned long long) f.total, since, f.per_minute, f.per_hour);
	}
	for (unsigned h = 0; h < QUEUE_NHISTOGRAMS; h++) {
		const struct queue_hist *v = &qc->hist[h];
		uint64_t n = 0;

		for (size_t i = 0; i < QUEUE_HIST_BUCKETS; i++)
			n += v->bucket[i];
		printf("%-26s %12llu observations, mean %.3f s\n",
		       h == QUEUE_H_QUEUE_TIME ? "queue time" : "crypto time",
		       (unsigned long long) n, n ? (double) v->sum_us / 1e6 / (double) n : 0.0);
	}
}

static void put_json_row(const struct queue_counters *qc, bool epoch, const struct row *r,
			 bool first)
{
	struct figures f;

	figures(qc, epoch, r->c, &f);
	sealctl_json_key(stdout, r->key, first);
	putchar('{');
	sealctl_json_kv_u64(stdout, "total", f.total, true);
	sealctl_json_key(stdout, "since_start", false);
	if (f.started)
		sealctl_json_u64(stdout, f.since_start);
	else
		fputs("null", stdout);
	sealctl_json_kv_u64(stdout, "last_minute", f.minute, false);
	sealctl_json_kv_u64(stdout, "last_hour", f.hour, false);
	printf(",\"per_minute\":%.3f,\"per_hour\":%.3f}", f.per_minute, f.per_hour);
}

static void put_json_hist(const struct queue_counters *qc, unsigned h, bool first)
{
	const struct queue_hist *v = &qc->hist[h];
	uint64_t n = 0;

	sealctl_json_key(stdout, queue_histogram_name((enum queue_histogram) h), first);
	fputs("{\"buckets\":[", stdout);
	for (size_t i = 0; i < QUEUE_HIST_BUCKETS; i++) {
		n += v->bucket[i];
		if (i + 1 < QUEUE_HIST_BUCKETS)
			printf("%s{\"le\":%g,\"count\":%llu}", i ? "," : "",
			       (double) queue_histogram_bound_us((enum queue_histogram) h, i) / 1e6,
			       (unsigned long long) n);
		else
			printf(",{\"le\":\"+Inf\",\"count\":%llu}", (unsigned long long) n);
	}
	printf("],\"count\":%llu,\"sum_s\":%.6f}", (unsigned long long) n,
	       (double) v->sum_us / 1e6);
}

static void put_json(const struct queue_counters *qc, const struct daemon *d, bool epoch)
{
	putchar('{');
	sealctl_json_kv_time(stdout, "now", qc->now_ms, true);
	printf(",\"running\":%s", d->running ? "true" : "false");
	if (d->running) {
		sealctl_json_kv_time(stdout, "start", d->start_ms, false);
		printf(",\"uptime_s\":%lld", (long long) ((qc->now_ms - d->start_ms) / 1000));
	} else {
		fputs(",\"start\":null,\"uptime_s\":null", stdout);
	}
	printf(",\"windows\":{\"minute_s\":%.1f,\"hour_s\":%.1f}",
	       (double) (qc->now_ms - qc->minute_ms) / 1e3,
	       (double) (qc->now_ms - qc->hour_ms) / 1e3);
	sealctl_json_key(stdout, "counters", false);
	putchar('{');
	for (size_t i = 0; i < SG_NELEM(rows); i++)
		put_json_row(qc, epoch, &rows[i], i == 0);
	fputs("}", stdout);
	sealctl_json_key(stdout, "histograms", false);
	putchar('{');
	for (unsigned h = 0; h < QUEUE_NHISTOGRAMS; h++)
		put_json_hist(qc, h, h == 0);
	fputs("}}\n", stdout);
}

int	sealctl_stats(const struct sealgate_conf *conf, int argc, char **argv)
{
	struct queue_counters qc;
	struct daemon d;
	struct queue *q = NULL;
	bool	json = argc == 2 && strcmp(argv[1], "--json") == 0;
	int	err;

	if (argc > 2 || (argc == 2 && !json)) {
		sealctl_usage(stderr, "stats");
		return (SEALCTL_USAGE);
	}
	daemon_of(conf, &d);
	if ((err = sealctl_queue_open(conf, QUEUE_RDONLY, &q)) == SG_ENOTFOUND) {
		memset(&qc, 0, sizeof(qc));
		qc.now_ms = qc.minute_ms = qc.hour_ms = sg_now_ms();
	} else if (err != 0) {
		return (SEALCTL_USAGE);
	} else if ((err = queue_counters_read(q, 0, &qc)) != 0) {
		fprintf(stderr, "sealctl: the queue's counters cannot be read: %s\n",
			sg_strerror(err));
		queue_close(q);
		return (SEALCTL_USAGE);
	}
	queue_close(q);
	/* "since start" only from this run's own epoch */
	bool	epoch = d.running && qc.epoch_ms != 0 && qc.epoch_ms == d.start_ms;

	if (json)
		put_json(&qc, &d, epoch);
	else
		put_text(&qc, &d, epoch);
	return (SEALCTL_OK);
}
