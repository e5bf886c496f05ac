/*
 * NAME
 *	test_scan 1
 * SUMMARY
 *	unit tests of the virus scan: clamd's replies, the address, the
 *	configuration checks, the result header
 * DESCRIPTION
 *	Replies as clamd 1.x writes them (and what it must never be taken
 *	for), addresses as an operator writes them, the scan section loaded
 *	through the real configuration engine as the daemon loads it (scan
 *	before worker, into worker_conf.scan), and the header stamp over
 *	messages that bring their own copies of the field. A scan against
 *	a socket nobody listens on fails at once and makes the thread skip
 *	clamd for a moment, without a connection attempt per message.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "worker/worker_int.h"

#define S(x) x, strlen(x)

struct conf {
	struct sg_conf_main main;
	struct worker_conf worker;
};

static const struct sg_conf_section sections[] = {
	{NULL, sg_conf_main_rows, offsetof(struct conf, main)},
	{"scan", worker_scan_conf_rows, offsetof(struct conf, worker.scan)},
	{"worker", worker_conf_rows, offsetof(struct conf, worker)},
};

static void test_reply(void **state)
{
	static const struct {
		const char *in;
		int	rc, verdict;
		const char *name;
	} t[] = {
		{"stream: OK", 0, WORKER_SCAN_CLEAN, ""},
		{"stream: OK\n", 0, WORKER_SCAN_CLEAN, ""},
		{"OK", 0, WORKER_SCAN_CLEAN, ""},
		{"stream: Sg.Test.Body.UNOFFICIAL FOUND", 0, WORKER_SCAN_FOUND,
		 "Sg.Test.Body.UNOFFICIAL"},
		{"stream: Win.Test.EICAR_HDB-1 FOUND", 0, WORKER_SCAN_FOUND, "Win.Test.EICAR_HDB-1"},
		{"stream: a\x01\"b FOUND", 0, WORKER_SCAN_FOUND, NULL},
		{"INSTREAM size limit exceeded. ERROR", 0, WORKER_SCAN_SIZE_LIMIT, ""},
		{"stream: Can't allocate memory ERROR", 0, WORKER_SCAN_ERROR, ""},
		/* never clean: */
		{"stream: OKAY", SG_EPROTO, WORKER_SCAN_ERROR, ""},
		{"stream: FOUND", SG_EPROTO, WORKER_SCAN_ERROR, ""},
		{"", SG_EPROTO, WORKER_SCAN_ERROR, ""},
		{"UNKNOWN COMMAND", SG_EPROTO, WORKER_SCAN_ERROR, ""},
		{"stream: OK trailing", SG_EPROTO, WORKER_SCAN_ERROR, ""},
	};
	struct worker_scan_reply r;

	(void) state;
	for (size_t i = 0; i < SG_NELEM(t); i++) {
		assert_int_equal(worker_scan_reply_parse(S(t[i].in), &r), t[i].rc);
		assert_int_equal(r.verdict, t[i].verdict);
		if (t[i].name)
			assert_string_equal(r.name, t[i].name);
	}
	/* a name with control bytes and quotes comes out printable */
	assert_int_equal(worker_scan_reply_parse(S("stream: a\x01\"b FOUND"), &r), 0);
	for (const char *c = r.name; *c; c++)
		assert_true(*c >= 0x20 && *c < 0x7f);
	/* explicit length: the bytes after len are not looked at */
	assert_int_equal(worker_scan_reply_parse("stream: OKAY", 10, &r), 0);
	assert_int_equal(r.verdict, WORKER_SCAN_CLEAN);
}

static void test_addr(void **state)
{
	struct worker_scan_addr a;
	char	longpath[200];

	(void) state;
	assert_int_equal(worker_scan_addr_parse(S("/run/clamav/clamd.ctl"), &a), 0);
	assert_int_equal(a.sa.ss_family, AF_UNIX);
	assert_int_equal(worker_scan_addr_parse(S("127.0.0.1:3310"), &a), 0);
	assert_int_equal(a.sa.ss_family, AF_INET);
	assert_int_equal(worker_scan_addr_parse(S("[::1]:3310"), &a), 0);
	assert_int_equal(a.sa.ss_family, AF_INET6);
	assert_int_equal(worker_scan_addr_parse(S("clamd.example.com:3310"), &a), SG_EINVAL);
	assert_int_equal(worker_scan_addr_parse(S("127.0.0.1"), &a), SG_EINVAL);
	assert_int_equal(worker_scan_addr_parse(S("relative/clamd.ctl"), &a), SG_EINVAL);
	assert_int_equal(worker_scan_addr_parse(S(""), &a), SG_EINVAL);
	memset(longpath, 'a', sizeof(longpath));
	longpath[0] = '/';
	assert_int_equal(worker_scan_addr_parse(longpath, sizeof(longpath), &a), SG_EINVAL);
	assert_int_equal(worker_scan_addr_parse("/a\0b", 4, &a), SG_EINVAL);
}

/* load - text into c; returns the engine's result, errors in *errs */

static int load(const char *text, struct conf *c, struct sg_arena *a, struct sg_buf *errs)
{
	char	path[] = "/tmp/test_scan.XXXXXX";
	int	fd = mkstemp(path);
	int	rc;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
	close(fd);
	memset(c, 0, sizeof(*c));
	sg_buf_reset(errs);
	rc = sg_conf_load(path, sections, SG_NELEM(sections), c, a, errs);
	unlink(path);
	return (rc);
}

static void test_conf(void **state)
{
	struct sg_arena *a = sg_arena_new();
	struct sg_buf errs = SG_BUF_INIT;
	struct conf c;
	const struct sg_rule *r;

	(void) state;
	/* defaults: no clamd, the documented bounds */
	assert_int_equal(load("state_dir = \"/tmp\";\n", &c, a, &errs), 0);
	assert_string_equal(c.worker.scan.clamd, "");
	assert_int_equal(c.worker.scan.timeout_ms, 30000);
	assert_int_equal(c.worker.scan.max_size, 25 << 20);
	assert_int_equal(c.worker.scan.on_too_large, WORKER_SCAN_TOO_LARGE_PASS);
	assert_string_equal(c.worker.scan.header, "X-Sealgate-Scan");
	/* a rule that scans needs clamd: the error names file, line and rule */
	assert_int_equal(load("state_dir = \"/tmp\";\nworker = {\n rules = ( { name = \"in\"; "
			      "scan = true; } );\n};\n", &c, a, &errs), SG_EINVAL);
	assert_non_null(strstr(errs.data, ":3: rule \"in\": scan = true needs scan.clamd"));
	/* a host name, a relative path and a bad header are refused */
	assert_int_equal(load("state_dir = \"/tmp\";\nscan = { clamd = \"clamd.test:3310\"; "
			      "header = \"X Bad\"; };\n", &c, a, &errs), SG_EINVAL);
	assert_non_null(strstr(errs.data, ":2: clamd: \"clamd.test:3310\" is neither"));
	assert_non_null(strstr(errs.data, "header: not a header field name \"X Bad\""));
	assert_int_equal(load("state_dir = \"/tmp\";\nscan = { timeout = \"10m1s\"; };\n", &c, a,
			      &errs), SG_EINVAL);
	/* all of it at once */
	assert_int_equal(load("state_dir = \"/tmp\";\nscan = { clamd = \"127.0.0.1:3310\"; "
			      "max_size = \"1M\"; on_too_large = \"hold\"; retry = \"5s\"; };\n"
			      "worker = { rules = ( { scan = true; on_virus = \"reject\"; "
			      "on_scan_failure = \"pass-tagged\"; } ); };\n", &c, a, &errs), 0);
	r = c.worker.rules.v;
	assert_true(r[0].scan);
	assert_int_equal(r[0].on_virus, SG_RULE_FAIL_REJECT);
	assert_int_equal(r[0].on_scan_failure, SG_RULE_SCAN_PASS);
	assert_int_equal(c.worker.scan.on_too_large, WORKER_SCAN_TOO_LARGE_HOLD);
	assert_int_equal(c.worker.scan.retry_ms, 5000);
	/* a rule that scans is never spooled past the worker */
	assert_null(sg_rules_pass(&c.worker.rules, SG_RULE_DIR_INBOUND, NULL, "a@b.test",
				  (const char *const[]) { "c@d.test" }, 1));
	sg_buf_free(&errs);
	sg_arena_free(a);
}

static void test_stamp(void **state)
{
	static const char msg[] =
		"X-Sealgate-Scan: clean\r\n"
		"Subject: hi\r\n"
		"x-sealgate-scan : clean;\r\n"
		"\tfolded on\r\n"
		"From: a@b.test\r\n"
		"\r\n"
		"X-Sealgate-Scan: the body is not a header\r\n";
	struct worker_scan_conf c = {.header = "X-Sealgate-Scan" };
	struct worker_scan_result r = {.outcome = WORKER_SCANNED_INFECTED,
		.name = "Sg.Test.Body.UNOFFICIAL" };
	struct sg_buf out = SG_BUF_INIT;

	(void) state;
	worker__scan_stamp(&c, &r, S(msg), &out);
	sg_buf_putc(&out, 0);
	assert_string_equal(out.data,
			    "X-Sealgate-Scan: infected; name=\"Sg.Test.Body.UNOFFICIAL\"\r\n"
			    "Subject: hi\r\n"
			    "From: a@b.test\r\n"
			    "\r\n"
			    "X-Sealgate-Scan: the body is not a header\r\n");
	sg_buf_reset(&out);
	r.outcome = WORKER_SCANNED_TOO_LARGE;
	worker__scan_stamp(&c, &r, S("Subject: x\r\n\r\nbody\r\n"), &out);
	sg_buf_putc(&out, 0);
	assert_string_equal(out.data, "X-Sealgate-Scan: unscanned; reason=too-large\r\n"
			    "Subject: x\r\n\r\nbody\r\n");
	sg_buf_free(&out);
}

static void test_unreachable_fails_fast(void **state)
{
	struct worker_scan_conf c = {.clamd = "/tmp/test_scan.nobody-listens.sock",
		.timeout_ms = 5000,.max_size = 1 << 20,.header = "X-Sealgate-Scan" };
	struct worker_thread t;
	struct worker_scan_result r;
	int64_t	t0;

	(void) state;
	memset(&t, 0, sizeof(t));
	worker__scan(&t, &c, S("Subject: x\r\n\r\nbody\r\n"), &r);
	assert_int_equal(r.outcome, WORKER_SCANNED_FAILED);
	assert_non_null(strstr(r.why, "connect: No such file or directory"));
	/* the next message does not try again for a moment, and says why */
	t0 = sg_mono_ms();
	worker__scan(&t, &c, S("Subject: y\r\n\r\nbody\r\n"), &r);
	assert_int_equal(r.outcome, WORKER_SCANNED_FAILED);
	assert_non_null(strstr(r.why, "clamd failed just now"));
	assert_true(sg_mono_ms() - t0 < 100);
	/* too large is decided before any connection */
	c.max_size = 4;
	worker__scan(&t, &c, S("Subject: z\r\n\r\nbody\r\n"), &r);
	assert_int_equal(r.outcome, WORKER_SCANNED_TOO_LARGE);
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_conf),
		cmocka_unit_test(test_stamp),
		cmocka_unit_test(test_unreachable_fails_fast),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
