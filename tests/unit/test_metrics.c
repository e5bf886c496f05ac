/*
 * NAME
 *	test_metrics 1
 * SUMMARY
 *	unit tests of the statistics: queue counters, histograms, history,
 *	epoch; the metrics endpoint's request parser and exposition
 * DESCRIPTION
 *	Queue tests open a real queue in a temporary state directory.
 *	Checked: a delivery result counts the attempt by result and TLS and a
 *	message that leaves observes its queue time; a completion's tally
 *	counts only when the completion commits; smtpd's committer counts
 *	without a message to ride on; the history ring gives the counters at
 *	the start of the last minute (before the work of this minute) and
 *	the epoch the counters at a daemon's start. The parser is fed good,
 *	bad and partial heads, and every valid request byte by byte; the
 *	exposition has each family's HELP and TYPE once and cumulative
 *	histogram buckets.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "queue/queue.h"
#include "queue_fixture.h"
#include "metrics/metrics.h"

static uint64_t spool(struct queue *q, enum queue_state st)
{
	struct queue_env e;
	struct queue_body_src b = {.data = "body\r\n",.fd = -1,.len = 6};
	uint64_t id = 0;

	queue_env_init(&e);
	e.state = st;
	e.sender = "s@example.com";
	queue_env_rcpt_add(&e, "a@example.net");
	queue_env_rcpt_add(&e, "b@example.net");
	assert_int_equal(queue_spool(q, &e, &b, &id), 0);
	queue_env_free(&e);
	return (id);
}

static struct queue_counters counters(struct queue *q)
{
	struct queue_counters c;

	assert_int_equal(queue_counters_read(q, 0, &c), 0);
	return (c);
}

static uint64_t hist_count(const struct queue_hist *h)
{
	uint64_t n = 0;

	for (size_t i = 0; i < QUEUE_HIST_BUCKETS; i++)
		n += h->bucket[i];
	return (n);
}

/* Attempts by result and TLS; the queue time of a message that leaves. */
static void test_attempts_and_queue_time(void **state)
{
	struct fix *f = *state;
	uint64_t id = spool(f->q, QUEUE_READY), ids[4];
	size_t	n;
	struct queue_result r[2] = {
		{.index = 0,.state = QUEUE_RCPT_DELIVERED,.reply = "250 ok",.tls = "TLSv1.3/X"},
		{.index = 1,.state = QUEUE_RCPT_DEFERRED,.reply = "451 later",.tls = "none",
		.next_attempt_ms = sg_now_ms()},
	};
	bool	done;

	assert_int_equal(queue_due(f->q, sg_now_ms(), 0, 4, ids, &n), 0);
	assert_int_equal(queue_record(f->q, id, r, 2, 0, NULL, &done), 0);
	assert_false(done);
	struct queue_counters c = counters(f->q);

	assert_true(c.value[QUEUE_C_ATT_SENT_TLS] == 1 && c.value[QUEUE_C_ATT_SENT_PLAIN] == 0);
	assert_true(c.value[QUEUE_C_ATT_DEFERRED_PLAIN] == 1 && c.value[QUEUE_C_SENT] == 1);
	assert_true(hist_count(&c.hist[QUEUE_H_QUEUE_TIME]) == 0);	/* not left yet */
	r[1] = (struct queue_result) {.index = 1,.state = QUEUE_RCPT_BOUNCED,.reply = "550 no"};
	assert_int_equal(queue_record(f->q, id, &r[1], 1, 0, NULL, &done), 0);
	assert_true(done);
	c = counters(f->q);
	/* no new TLS given: the attempt is counted with the one stored ("none") */
	assert_true(c.value[QUEUE_C_ATT_BOUNCED_PLAIN] == 1 && c.value[QUEUE_C_BOUNCED] == 1);
	assert_true(hist_count(&c.hist[QUEUE_H_QUEUE_TIME]) == 1);
	assert_true(c.hist[QUEUE_H_QUEUE_TIME].bucket[0] == 1);	/* well under 100 ms */
}

/* A completion's tally counts with it, and not when it fails. */
static void test_tally_with_the_completion(void **state)
{
	struct fix *f = *state;
	uint64_t a = spool(f->q, QUEUE_INCOMING), b = spool(f->q, QUEUE_INCOMING), ids[4];
	size_t	n;
	struct queue_env e;
	struct queue_tally t = {.crypto_timed = true,.crypto_us = 3000};
	struct queue_part part;
	struct queue_completion it[2];

	assert_int_equal(queue_claim(f->q, "w.1", 0, 4, ids, &n), 0);
	assert_int_equal(n, 2);
	queue_env_init(&e);
	assert_int_equal(queue_get(f->q, a, 0, &e), 0);
	t.count[QUEUE_C_SIGNED] = 2;
	t.count[QUEUE_C_VERIFY_INVALID] = 1;
	part = (struct queue_part) {.env = &e,.state = QUEUE_READY};
	it[0] = (struct queue_completion) {.id = a,.parts = &part,.nparts = 1,.tally = &t};
	/* b is not the owner's: refused, and its tally with it */
	it[1] = (struct queue_completion) {.id = b,.parts = &part,.nparts = 1,.tally = &t};
	assert_int_equal(queue_complete_batch(f->q, "w.1", it, 1), 0);
	assert_int_equal(it[0].result, 0);
	assert_int_equal(queue_complete_batch(f->q, "w.2", &it[1], 1), 0);
	assert_int_equal(it[1].result, SG_EBUSY);
	queue_env_free(&e);
	struct queue_counters c = counters(f->q);

	assert_true(c.value[QUEUE_C_SIGNED] == 2 && c.value[QUEUE_C_VERIFY_INVALID] == 1);
	assert_true(c.value[QUEUE_C_PROCESSED] == 1);
	assert_true(hist_count(&c.hist[QUEUE_H_CRYPTO_TIME]) == 1);
	assert_true(c.hist[QUEUE_H_CRYPTO_TIME].sum_us == 3000);
	assert_true(c.hist[QUEUE_H_CRYPTO_TIME].bucket[queue_histogram_bucket(
		QUEUE_H_CRYPTO_TIME, 3000)] == 1);
	assert_int_equal(queue_histogram_bucket(QUEUE_H_CRYPTO_TIME, 2500), 2);
	assert_int_equal(queue_histogram_bucket(QUEUE_H_CRYPTO_TIME, 2501), 3);
	assert_int_equal(queue_histogram_bucket(QUEUE_H_QUEUE_TIME, INT64_MAX),
			 QUEUE_HIST_BUCKETS - 1);
}

/* smtpd's committer counts refusals with no message to carry them. */
static void test_committer_counts_alone(void **state)
{
	struct fix *f = *state;
	struct queue_committer *c;
	int64_t	t0 = sg_mono_ms();

	assert_int_equal(queue_committer_start(f->q, &c), 0);
	queue_committer_count(c, QUEUE_C_REJECT_RELAY, 1);
	queue_committer_count(c, QUEUE_C_REJECT_RELAY, 2);
	queue_committer_count(c, QUEUE_C_REJECT_SIZE, 1);
	queue_committer_count(c, QUEUE_NCOUNTERS, 1);	/* ignored */
	while (counters(f->q).value[QUEUE_C_REJECT_RELAY] == 0 && sg_mono_ms() - t0 < 5000)
		usleep(20000);
	struct queue_counters v = counters(f->q);

	assert_true(v.value[QUEUE_C_REJECT_RELAY] == 3 && v.value[QUEUE_C_REJECT_SIZE] == 1);
	assert_true(sg_mono_ms() - t0 < 3000);		/* within about a second */
	queue_committer_count(c, QUEUE_C_REJECT_OTHER, 1);
	queue_committer_stop(c);			/* what waits is written at the stop */
	assert_true(counters(f->q).value[QUEUE_C_REJECT_OTHER] == 1);
}

/* The ring knows the counters before this minute's work; the epoch those at a start. */
static void test_history_and_epoch(void **state)
{
	struct fix *f = *state;
	struct queue_counters c;

	spool(f->q, QUEUE_HOLD);
	assert_int_equal(queue_stats_epoch(f->q, 1000), 0);
	spool(f->q, QUEUE_HOLD);
	spool(f->q, QUEUE_HOLD);
	c = counters(f->q);
	assert_true(c.value[QUEUE_C_RECEIVED] == 3);
	/* the first spool of this slot marked it with the value before: 0 */
	assert_true(c.at_minute[QUEUE_C_RECEIVED] == 0 && c.at_hour[QUEUE_C_RECEIVED] == 0);
	assert_true(c.now_ms - c.minute_ms >= 60000 && c.now_ms - c.minute_ms <= 70000);
	assert_true(c.now_ms - c.hour_ms >= 3600000 && c.now_ms - c.hour_ms <= 3610000);
	assert_true(c.epoch_ms == 1000 && c.at_epoch[QUEUE_C_RECEIVED] == 1);
	/* the same start again changes nothing; a new one takes the values now */
	assert_int_equal(queue_stats_epoch(f->q, 1000), 0);
	assert_true(counters(f->q).at_epoch[QUEUE_C_RECEIVED] == 1);
	assert_int_equal(queue_stats_epoch(f->q, 2000), 0);
	c = counters(f->q);
	assert_true(c.epoch_ms == 2000 && c.at_epoch[QUEUE_C_RECEIVED] == 3);
	/* seen from two minutes on, nothing moved within the last minute */
	assert_int_equal(queue_counters_read(f->q, sg_now_ms() + 120000, &c), 0);
	assert_true(c.at_minute[QUEUE_C_RECEIVED] == 3 && c.at_hour[QUEUE_C_RECEIVED] == 0);
	assert_int_equal(queue_stats_epoch(f->q, 0), SG_EINVAL);
}

/* ------------------------------------------------------------ parser */

struct http_case {
	const char *in;
	int	rc;
	int	status;
	size_t	len;			/* 0: strlen(in) */
};

#define S_HEAD "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET "


static void test_http_parse(void **state)
{
	static const struct http_case cases[] = {
		{"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 1, 200, 0},
		{"GET /metrics HTTP/1.0\r\n\r\n", 1, 200, 0},
		{"GET /metrics?name[]=a HTTP/1.1\nHost: x\nAccept: */*\n\n", 1, 200, 0},
		{"HEAD /metrics HTTP/1.1\r\nhOsT: x\r\n\r\n", 1, 200, 0},
		{"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 1, 405, 0},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1, 404, 0},
		{"GET /metricsx HTTP/1.1\r\nHost: x\r\n\r\n", 1, 404, 0},
		{"GET /metrics HTTP/1.1\r\n\r\n", 1, 400, 0},		/* no Host */
		{"GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 1, 400, 0},
		{"GET /metrics HTTP/2.0\r\n\r\n", 1, 505, 0},
		{"GET /metrics HTTP/1.1 \r\n\r\n", 1, 400, 0},
		{"GET  /metrics HTTP/1.1\r\n\r\n", 1, 400, 0},
		{"GET http://x/metrics HTTP/1.1\r\nHost: x\r\n\r\n", 1, 400, 0},
		{"G(T /metrics HTTP/1.1\r\n\r\n", 1, 400, 0},
		{"GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n", 1, 400, 0},
		{"GET /metrics HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 1, 400, 0},
		{"GET /metrics HTTP/1.1\r\nNoColon\r\n\r\n", 1, 400, 0},
		{"GET /metrics HTTP/1.1\r\nHost: x\rY\r\n\r\n", 1, 400, 0},	/* bare CR */
		{"\r\n", 1, 400, 0},
		{"\x16\x03\x01", 1, 400, 0},				/* TLS: at once */
		{"GET /met\x00x", 1, 400, 10},			/* NUL: at once */
		{"GET /metrics HTTP/1.1\r\nHost: x\r\n", 0, 0, 0},		/* not yet */
		{"GET /metrics HTTP/1.1\r", 0, 0, 0},
		{"", 0, 0, 0},
	};
	struct metrics_http_req req;

	(void) state;
	for (size_t i = 0; i < SG_NELEM(cases); i++) {
		size_t	len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		int	rc = metrics_http_parse(cases[i].in, len, &req);

		if (rc != cases[i].rc || (rc == 1 && req.status != cases[i].status))
			fail_msg("case %zu \"%s\": rc %d status %d", i, cases[i].in, rc, req.status);
	}
	/* a HEAD and the length of a complete head */
	assert_int_equal(metrics_http_parse(S_HEAD, strlen(S_HEAD), &req), 1);
	assert_true(req.head && req.head_len == strlen(S_HEAD) - 4);
}

/* Every prefix of a good request is "not yet"; too much is 431. */
static void test_http_limits(void **state)
{
	const char *good = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9465\r\nUser-Agent: x\r\n\r\n";
	struct metrics_http_req req;
	char   *big = malloc(METRICS_HTTP_HEAD_MAX + 100);
	int	n;

	(void) state;
	for (size_t i = 0; i < strlen(good); i++)
		assert_int_equal(metrics_http_parse(good, i, &req), 0);
	assert_int_equal(metrics_http_parse(good, strlen(good), &req), 1);
	assert_int_equal(req.status, 200);
	/* many short headers up to the head limit */
	n = snprintf(big, METRICS_HTTP_HEAD_MAX + 100, "GET /metrics HTTP/1.1\r\nHost: x\r\n");
	while (n + 8 < METRICS_HTTP_HEAD_MAX)
		n += snprintf(big + n, 10, "A: %03d\r\n", n % 1000);
	memset(big + n, 'a', METRICS_HTTP_HEAD_MAX - n);
	assert_int_equal(metrics_http_parse(big, METRICS_HTTP_HEAD_MAX, &req), 1);
	assert_int_equal(req.status, 431);		/* too many headers, or the size */
	/* one long line */
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	memset(big + 26, 'a', METRICS_HTTP_LINE_MAX + 10);
	assert_int_equal(metrics_http_parse(big, 26 + METRICS_HTTP_LINE_MAX + 10, &req), 1);
	assert_int_equal(req.status, 431);
	free(big);
	assert_string_equal(metrics_http_reason(431), "Request Header Fields Too Large");
}

/* ------------------------------------------------------------ exposition */

static void test_exposition(void **state)
{
	struct fix *f = *state;
	struct metrics_role roles[] = {{"smtpd", true}, {"worker", false}};
	struct metrics_info info = {.start_ms = 1700000000123LL,.roles = roles,.nroles = 2};
	struct sg_buf out = SG_BUF_INIT;
	const char *p;

	spool(f->q, QUEUE_HOLD);
	assert_int_equal(metrics_collect(f->q, &info, &out), 0);
	sg_buf_putc(&out, 0);
	p = out.data;
	assert_non_null(strstr(p, "# TYPE sealgate_messages_received_total counter\n"
			       "sealgate_messages_received_total 1\n"));
	assert_non_null(strstr(p, "sealgate_queue_messages{state=\"hold\"} 1\n"));
	assert_non_null(strstr(p, "sealgate_role_up{role=\"smtpd\"} 1\n"
			       "sealgate_role_up{role=\"worker\"} 0\n"));
	assert_non_null(strstr(p, "sealgate_start_time_seconds 1700000000.123000\n"));
	assert_non_null(strstr(p, "sealgate_queue_time_seconds_bucket{le=\"0.1\"} 0\n"));
	assert_non_null(strstr(p, "sealgate_crypto_seconds_bucket{le=\"0.0005\"} 0\n"));
	assert_non_null(strstr(p, "sealgate_crypto_seconds_bucket{le=\"+Inf\"} 0\n"
			       "sealgate_crypto_seconds_sum 0.000000\n"
			       "sealgate_crypto_seconds_count 0\n"));
	assert_non_null(strstr(p, "sealgate_delivery_attempts_total{result=\"sent\",tls=\"yes\"} 0\n"));
	/* each family once */
	for (const char *s = p; (s = strstr(s, "# TYPE ")) != NULL; s++) {
		char	name[96];
		const char *sp = strchr(s + 7, ' ');

		snprintf(name, sizeof(name), "# TYPE %.*s ", (int) (sp - s - 7), s + 7);
		assert_null(strstr(s + 1, name));
	}
	sg_buf_free(&out);
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_attempts_and_queue_time, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_tally_with_the_completion, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_committer_counts_alone, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_history_and_epoch, fixture_setup,
						fixture_teardown),
		cmocka_unit_test(test_http_parse),
		cmocka_unit_test(test_http_limits),
		cmocka_unit_test_setup_teardown(test_exposition, fixture_setup, fixture_teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
