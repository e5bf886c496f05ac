/*
 * NAME
 *	metrics_expo 3
 * SUMMARY
 *	the Prometheus text exposition of the gateway's statistics
 * SYNOPSIS
 *	#include "metrics/metrics.h"
 *
 *	int	metrics_collect(q, info, out)
 *	void	metrics_expo_family(out, name, type, help)
 *	void	metrics_expo_u64(out, name, labels, v)
 *	void	metrics_expo_double(out, name, labels, v)
 * DESCRIPTION
 *	metrics_collect() writes every family the README lists, each with
 *	HELP and TYPE once and its samples right after (text format 0.0.4):
 *	the counters as queue_counters_read() gives them (the numbers
 *	sealctl stats calls "total"), the two histograms with cumulative
 *	buckets, +Inf, _sum (seconds) and _count, the queue depth per state
 *	from queue_stats() and what info says of the master and the roles.
 *	Labels are fixed words; nothing from mail or the network ever
 *	reaches a label.
 * DIAGNOSTICS
 *	A queue error is returned as is.
 */

#include <stdio.h>
#include <string.h>

#include "metrics.h"

void	metrics_expo_family(struct sg_buf *out, const char *name, const char *type,
			    const char *help)
{
	sg_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void	metrics_expo_u64(struct sg_buf *out, const char *name, const char *labels, uint64_t v)
{
	sg_buf_printf(out, "%s%s%s%s %llu\n", name, labels ? "{" : "", labels ? labels : "",
		      labels ? "}" : "", (unsigned long long) v);
}

void	metrics_expo_double(struct sg_buf *out, const char *name, const char *labels, double v)
{
	sg_buf_printf(out, "%s%s%s%s %.6f\n", name, labels ? "{" : "", labels ? labels : "",
		      labels ? "}" : "", v);
}

/* One counter family: name, help and its samples (counter, label text). */
struct sample {
	enum queue_counter c;
	const char *labels;		/* NULL: none */
};

struct family {
	const char *name;
	const char *help;
	struct sample s[7];
	size_t	n;
};

static const struct family counters[] = {
	{"sealgate_messages_received_total", "Messages accepted into the queue (smtpd, "
	 "sealctl queue inject, reports the gateway made).", {{QUEUE_C_RECEIVED, NULL}}, 1},
	{"sealgate_smtp_rejections_total", "Recipients or messages refused at SMTP for good, "
	 "by reason.", {{QUEUE_C_REJECT_RELAY, "reason=\"relay\""},
	 {QUEUE_C_REJECT_RECIPIENT, "reason=\"recipient\""},
	 {QUEUE_C_REJECT_POLICY, "reason=\"policy\""}, {QUEUE_C_REJECT_SIZE, "reason=\"size\""},
	 {QUEUE_C_REJECT_SYNTAX, "reason=\"syntax\""},
	 {QUEUE_C_REJECT_CONTENT, "reason=\"content\""},
	 {QUEUE_C_REJECT_OTHER, "reason=\"other\""}}, 7},
	{"sealgate_messages_processed_total", "Messages the worker finished with.",
	 {{QUEUE_C_PROCESSED, NULL}}, 1},
	{"sealgate_recipients_sent_total", "Recipients delivered.", {{QUEUE_C_SENT, NULL}}, 1},
	{"sealgate_recipients_deferred_total", "Recipient delivery attempts that failed "
	 "temporarily.", {{QUEUE_C_DEFERRED, NULL}}, 1},
	{"sealgate_recipients_bounced_total", "Recipients bounced (failed for good).",
	 {{QUEUE_C_BOUNCED, NULL}}, 1},
	{"sealgate_recipients_dropped_total", "Recipients removed without a report.",
	 {{QUEUE_C_DROPPED, NULL}}, 1},
	{"sealgate_messages_deleted_total", "Messages deleted by an operator.",
	 {{QUEUE_C_DELETED, NULL}}, 1},
	{"sealgate_records_quarantined_total", "Queue records that failed their checks.",
	 {{QUEUE_C_QUARANTINED, NULL}}, 1},
	{"sealgate_crypto_incidents_total", "Crypto failures recorded as incidents.",
	 {{QUEUE_C_INCIDENTS, NULL}}, 1},
	{"sealgate_messages_signed_total", "Messages (or copies of one) the worker signed.",
	 {{QUEUE_C_SIGNED, NULL}}, 1},
	{"sealgate_messages_encrypted_total", "Messages (or copies of one) the worker "
	 "encrypted.", {{QUEUE_C_ENCRYPTED, NULL}}, 1},
	{"sealgate_messages_decrypted_total", "Messages the worker decrypted.",
	 {{QUEUE_C_DECRYPTED, NULL}}, 1},
	{"sealgate_messages_verified_total", "Messages the worker verified, by verdict.",
	 {{QUEUE_C_VERIFY_VALID, "result=\"valid\""}, {QUEUE_C_VERIFY_INVALID,
	 "result=\"invalid\""}, {QUEUE_C_VERIFY_UNSIGNED, "result=\"unsigned\""}}, 3},
	{"sealgate_delivery_attempts_total", "Recipient delivery attempts by result and "
	 "whether the session used TLS.",
	 {{QUEUE_C_ATT_SENT_TLS, "result=\"sent\",tls=\"yes\""},
	 {QUEUE_C_ATT_SENT_PLAIN, "result=\"sent\",tls=\"no\""},
	 {QUEUE_C_ATT_DEFERRED_TLS, "result=\"deferred\",tls=\"yes\""},
	 {QUEUE_C_ATT_DEFERRED_PLAIN, "result=\"deferred\",tls=\"no\""},
	 {QUEUE_C_ATT_BOUNCED_TLS, "result=\"bounced\",tls=\"yes\""},
	 {QUEUE_C_ATT_BOUNCED_PLAIN, "result=\"bounced\",tls=\"no\""}}, 6},
	{"sealgate_messages_scanned_total", "Messages the worker had clamd scan, by result.",
	 {{QUEUE_C_SCAN_CLEAN, "result=\"clean\""}, {QUEUE_C_SCAN_INFECTED,
	 "result=\"infected\""}, {QUEUE_C_SCAN_UNSCANNED, "result=\"unscanned\""}}, 3},
};

static void put_counters(struct sg_buf *out, const struct queue_counters *qc)
{
	for (size_t i = 0; i < SG_NELEM(counters); i++) {
		const struct family *f = &counters[i];

		metrics_expo_family(out, f->name, "counter", f->help);
		for (size_t k = 0; k < f->n; k++)
			metrics_expo_u64(out, f->name, f->s[k].labels, qc->value[f->s[k].c]);
	}
}

static void put_histogram(struct sg_buf *out, const char *name, const char *help,
			  enum queue_histogram h, const struct queue_hist *v)
{
	char	bucket[96], le[48];
	uint64_t sum = 0;

	snprintf(bucket, sizeof(bucket), "%s_bucket", name);
	metrics_expo_family(out, name, "histogram", help);
	for (size_t i = 0; i < QUEUE_HIST_BUCKETS; i++) {
		sum += v->bucket[i];
		if (i + 1 < QUEUE_HIST_BUCKETS)
			snprintf(le, sizeof(le), "le=\"%g\"",
				 (double) queue_histogram_bound_us(h, i) / 1e6);
		else
			snprintf(le, sizeof(le), "le=\"+Inf\"");
		metrics_expo_u64(out, bucket, le, sum);
	}
	snprintf(bucket, sizeof(bucket), "%s_sum", name);
	metrics_expo_double(out, bucket, NULL, (double) v->sum_us / 1e6);
	snprintf(bucket, sizeof(bucket), "%s_count", name);
	metrics_expo_u64(out, bucket, NULL, sum);
}

static void put_queue(struct sg_buf *out, const struct queue_stats *s, int64_t now)
{
	static const enum queue_state live[] = {
		QUEUE_INCOMING, QUEUE_WORKING, QUEUE_READY, QUEUE_DEFERRED, QUEUE_HOLD,
	};
	char	label[48];

	metrics_expo_family(out, "sealgate_queue_messages", "gauge",
			    "Messages in the queue, by state.");
	for (size_t i = 0; i < SG_NELEM(live); i++) {
		snprintf(label, sizeof(label), "state=\"%s\"", queue_state_name(live[i]));
		metrics_expo_u64(out, "sealgate_queue_messages", label, s->count[live[i]]);
	}
	metrics_expo_family(out, "sealgate_queue_oldest_message_age_seconds", "gauge",
			    "Age of the oldest message in the queue (0: empty).");
	metrics_expo_double(out, "sealgate_queue_oldest_message_age_seconds", NULL,
			    s->oldest_id && now > s->oldest_ms ? (double) (now - s->oldest_ms)
			    / 1e3 : 0);
	metrics_expo_family(out, "sealgate_tracking_records", "gauge",
			    "Tracking records of messages that left the queue.");
	metrics_expo_u64(out, "sealgate_tracking_records", NULL, s->count[QUEUE_DONE]);
	metrics_expo_family(out, "sealgate_crypto_incidents_open", "gauge",
			    "Crypto incidents not acknowledged.");
	metrics_expo_u64(out, "sealgate_crypto_incidents_open", NULL, s->incidents_open);
	metrics_expo_family(out, "sealgate_queue_used_bytes", "gauge",
			    "Bytes of the queue's LMDB map in use.");
	metrics_expo_u64(out, "sealgate_queue_used_bytes", NULL, s->used_bytes);
	metrics_expo_family(out, "sealgate_queue_map_bytes", "gauge",
			    "Size of the queue's LMDB map (queue.map_size_max).");
	metrics_expo_u64(out, "sealgate_queue_map_bytes", NULL, s->map_bytes);
}

static void put_info(struct sg_buf *out, const struct metrics_info *info)
{
	char	label[64];

	metrics_expo_family(out, "sealgate_role_up", "gauge",
			    "1 when the role's process runs and said it is ready.");
	for (size_t i = 0; i < info->nroles; i++) {
		snprintf(label, sizeof(label), "role=\"%s\"", info->roles[i].name);
		metrics_expo_u64(out, "sealgate_role_up", label, info->roles[i].up);
	}
	if (info->start_ms > 0) {
		metrics_expo_family(out, "sealgate_start_time_seconds", "gauge",
				    "When the running sealgated master started, in seconds "
				    "since the epoch.");
		metrics_expo_double(out, "sealgate_start_time_seconds", NULL,
				    (double) info->start_ms / 1e3);
	}
}

int	metrics_collect(struct queue *q, const struct metrics_info *info, struct sg_buf *out)
{
	struct queue_counters qc;
	struct queue_stats st;
	int	err;

	if ((err = queue_counters_read(q, 0, &qc)) != 0 || (err = queue_stats(q, &st)) != 0)
		return (err);
	put_counters(out, &qc);
	put_histogram(out, "sealgate_queue_time_seconds", "Time from arrival until a "
		      "message's last recipient was final, per message delivery finished.",
		      QUEUE_H_QUEUE_TIME, &qc.hist[QUEUE_H_QUEUE_TIME]);
	put_histogram(out, "sealgate_crypto_seconds", "Time the worker spent on a message it "
		      "signed, encrypted, decrypted or verified.", QUEUE_H_CRYPTO_TIME,
		      &qc.hist[QUEUE_H_CRYPTO_TIME]);
	put_queue(out, &st, qc.now_ms);
	put_info(out, info);
	return (0);
}
