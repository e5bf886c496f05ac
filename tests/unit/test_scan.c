/*
 * NAME
 *	test_scan 1
 * SUMMARY
 *	unit tests of the virus scan: clamd's replies, the address, the
 *	configuration checks, the result header
 * DESCRIPTION
 *	Replies as clamd 1.x writes them (and what it must never be taken
 *	for), addresses as an operator writes them, and the header stamp
 *	over messages that bring their own copies of the field (the scan
 *	section's keys and checks are in test_rules.c, with the rules'). A scan against
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
	/* what smtpd looks for: as lenient as the removal, the header only */
	assert_true(sg_header_has(S(msg), "X-Sealgate-Scan"));
	assert_true(sg_header_has(S("Subject: a\nx-SEALGATE-scan\t: b\n\nc\n"), "X-Sealgate-Scan"));
	assert_false(sg_header_has(S("Subject: a\r\n\r\nX-Sealgate-Scan: b\r\n"),
				   "X-Sealgate-Scan"));
	assert_false(sg_header_has(S("X-Sealgate-Scanned: a\r\n\r\n"), "X-Sealgate-Scan"));
	assert_false(sg_header_has(S("Subject: a\r\n X-Sealgate-Scan: b\r\n\r\n"),
				   "X-Sealgate-Scan"));
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
	/* so is ciphertext, which clamd would call clean: never sent */
	worker__scan(&t, &c, S("Subject: z\r\nMIME-Version: 1.0\r\nContent-Type: "
			       "application/pkcs7-mime; smime-type=enveloped-data; "
			       "name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\n"
			       "MIIB\r\n"), &r);
	assert_int_equal(r.outcome, WORKER_SCANNED_ENCRYPTED);
	/* a signed or plain multipart is not */
	assert_false(worker__encrypted(S("Content-Type: multipart/signed; protocol=\""
					 "application/pkcs7-signature\"; boundary=b\r\n\r\n"
					 "--b\r\n\r\nx\r\n--b--\r\n")));
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_stamp),
		cmocka_unit_test(test_unreachable_fails_fast),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
