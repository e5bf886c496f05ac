/*
 * NAME
 *	test_rules 1
 * SUMMARY
 *	unit tests of the crypto rules: patterns, config, classification
 * DESCRIPTION
 *	The rules are loaded through the real configuration engine from a
 *	temporary file, with the worker's section table, exactly as the
 *	daemon loads them.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/sg.h"
#include "worker/worker.h"

#define S(x) x, strlen(x)

struct conf {
	struct sg_conf_main main;
	struct worker_conf worker;
};

static const struct sg_conf_section sections[] = {
	{NULL, sg_conf_main_rows, offsetof(struct conf, main)},
	/* as cmd/conf.c: scan before worker, into worker_conf.scan */
	{"scan", worker_scan_conf_rows, offsetof(struct conf, worker.scan)},
	{"worker", worker_conf_rows, offsetof(struct conf, worker)},
};

/* load - text into c; returns the engine's result, errors in *errs */

static int load(const char *text, struct conf *c, struct sg_arena *a, struct sg_buf *errs)
{
	char	path[] = "/tmp/test_rules.XXXXXX";
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

static void test_pattern_valid(void **state)
{
	(void) state;
	assert_true(sg_rule_pattern_valid("alice@example.com"));
	assert_true(sg_rule_pattern_valid("@example.com"));
	assert_true(sg_rule_pattern_valid("*.example.com"));
	assert_true(sg_rule_pattern_valid("<>"));
	assert_false(sg_rule_pattern_valid("example.com"));
	assert_false(sg_rule_pattern_valid("@"));
	assert_false(sg_rule_pattern_valid("@exa mple.com"));
	assert_false(sg_rule_pattern_valid("*example.com"));
	assert_false(sg_rule_pattern_valid("a b@example.com"));
	assert_false(sg_rule_pattern_valid(""));
}

static void test_pattern_match(void **state)
{
	(void) state;
	assert_true(sg_rule_pattern_match("alice@example.com", S("Alice@Example.COM")));
	assert_false(sg_rule_pattern_match("alice@example.com", S("alice@example.co")));
	assert_false(sg_rule_pattern_match("alice@example.com", S("xalice@example.com")));
	assert_true(sg_rule_pattern_match("@example.com", S("bob@EXAMPLE.com")));
	assert_false(sg_rule_pattern_match("@example.com", S("bob@sub.example.com")));
	assert_false(sg_rule_pattern_match("@example.com", S("bob@badexample.com")));
	assert_true(sg_rule_pattern_match("*.example.com", S("bob@sub.example.com")));
	assert_true(sg_rule_pattern_match("*.example.com", S("bob@a.b.example.com")));
	assert_false(sg_rule_pattern_match("*.example.com", S("bob@example.com")));
	assert_false(sg_rule_pattern_match("*.example.com", S("bob@badexample.com")));
	assert_false(sg_rule_pattern_match("*.example.com", S("nodomain")));
	assert_true(sg_rule_pattern_match("<>", "", 0));
	assert_false(sg_rule_pattern_match("<>", S("a@b.c")));
	assert_false(sg_rule_pattern_match("@example.com", "", 0));
	/* the explicit length is honoured: bytes after it are not read */
	assert_true(sg_rule_pattern_match("@example.com", "bob@example.comX", 15));
	/* the last @ separates the domain */
	assert_true(sg_rule_pattern_match("@example.com", S("\"a@evil.org\"@example.com")));
	assert_false(sg_rule_pattern_match("@evil.org", S("\"a@evil.org\"@example.com")));
}

static const char three_rules[] =
	"state_dir = \"/tmp\";\n"
	"worker = { rules = (\n"
	" { name = \"out\"; direction = \"outbound\"; sign = \"if-possible\";"
	"   encrypt = \"if-possible\"; },\n"
	" { direction = \"inbound\"; recipients = [ \"@Example.com\", \"*.example.com\" ];"
	"   decrypt = true; verify = true; harvest = true; },\n"
	" { name = \"mx\"; listener = \"mx\"; senders = [ \"ceo@corp.example\", \"<>\" ];"
	"   encrypt = \"mandatory\"; on_encrypt_failure = \"hold\"; signature = \"opaque\"; },\n"
	" { name = \"other\"; }\n"
	"); };\n";

static void test_config_and_classify(void **state)
{
	struct sg_arena *a = sg_arena_new();
	struct sg_buf errs = SG_BUF_INIT;
	struct conf c;
	const struct sg_rule *r;
	const struct sg_conf_array *rules = &c.worker.rules;

	(void) state;
	assert_int_equal(load(three_rules, &c, a, &errs), 0);
	assert_int_equal(rules->n, 4);
	r = rules->v;
	assert_string_equal(r[0].name, "out");
	assert_int_equal(r[0].sign, SG_RULE_SIGN_IF_POSSIBLE);
	assert_int_equal(r[0].on_encrypt_failure, SG_RULE_FAIL_REJECT);
	assert_string_equal(r[1].name, "rule-2");
	assert_string_equal(r[1].recipients.v[0], "@example.com");	/* lower-cased */
	assert_true(r[1].decrypt && r[1].verify && r[1].harvest);
	assert_int_equal(r[2].encrypt, SG_RULE_ENC_MANDATORY);
	assert_int_equal(r[2].signature, SG_RULE_SIG_OPAQUE);
	assert_int_equal(r[2].on_encrypt_failure, SG_RULE_FAIL_HOLD);

	assert_int_equal(sg_rules_classify(rules, SG_RULE_DIR_OUTBOUND, "x", S("a@b.c"),
					   S("d@e.f")), 0);
	assert_int_equal(sg_rules_classify(rules, SG_RULE_DIR_INBOUND, NULL, S("a@b.c"),
					   S("d@sub.example.com")), 1);
	assert_int_equal(sg_rules_classify(rules, SG_RULE_DIR_INBOUND, "mx", S("CEO@corp.example"),
					   S("d@elsewhere.org")), 2);
	assert_int_equal(sg_rules_classify(rules, SG_RULE_DIR_INBOUND, "mx", "", 0,
					   S("d@elsewhere.org")), 2);
	assert_int_equal(sg_rules_classify(rules, SG_RULE_DIR_INBOUND, "other", S("ceo@corp.example"),
					   S("d@elsewhere.org")), 3);
	assert_int_equal(sg_rules_classify(rules, SG_RULE_DIR_INBOUND, NULL, S("ceo@corp.example"),
					   S("d@elsewhere.org")), 3);

	/* no rule at all: everything passes (-1) */
	struct sg_conf_array none = { 0, NULL };

	assert_int_equal(sg_rules_classify(&none, SG_RULE_DIR_INBOUND, NULL, S("a@b.c"),
					   S("d@e.f")), -1);
	/* only the first two: a stranger to a stranger matches nothing */
	struct sg_conf_array two = { 2, rules->v };

	assert_int_equal(sg_rules_classify(&two, SG_RULE_DIR_INBOUND, NULL, S("a@b.c"),
					   S("d@e.f")), -1);
	sg_buf_free(&errs);
	sg_arena_free(a);
}

static void expect_error(const char *text, const char *message)
{
	struct sg_arena *a = sg_arena_new();
	struct sg_buf errs = SG_BUF_INIT;
	struct conf c;

	assert_int_equal(load(text, &c, a, &errs), SG_EINVAL);
	sg_buf_putc(&errs, 0);
	if (strstr(errs.data, message) == NULL)
		fail_msg("want \"%s\" in: %s", message, errs.data);
	sg_buf_free(&errs);
	sg_arena_free(a);
}

static void test_config_errors(void **state)
{
	(void) state;
	expect_error("state_dir = \"/tmp\";\nworker = { rules = ( { senders = [ \"example.com\" ]; } ); };\n",
		     "invalid address pattern \"example.com\"");
	expect_error("state_dir = \"/tmp\";\nworker = { rules = ( { sign = \"always\"; } ); };\n",
		     "sign");
	expect_error("state_dir = \"/tmp\";\nworker = { rules = ( { bogus = 1; } ); };\n",
		     "unknown key \"bogus\"");
	expect_error("state_dir = \"/tmp\";\nworker = { rules = ( { strip_client_signature = true; } ); };\n",
		     "strip_client_signature needs sign");
	expect_error("state_dir = \"/tmp\";\nworker = { result_header = \"X Bad\"; };\n",
		     "result_header");
	expect_error("state_dir = \"/tmp\";\nworker = { notify = \"nobody\"; };\n",
		     "notify");
}

static void test_scan_config(void **state)
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
	assert_int_equal(c.worker.scan.on_too_large, SG_RULE_FAIL_PASS);
	assert_string_equal(c.worker.scan.header, "X-Sealgate-Scan");
	assert_int_equal(c.worker.scan.max_defer_ms, 5LL * 86400 * 1000);
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
	/* one field for both verdicts: each stamp would remove the other */
	assert_int_equal(load("state_dir = \"/tmp\";\nscan = { header = \"x-sealgate-signature\"; };\n",
			      &c, a, &errs), SG_EINVAL);
	assert_non_null(strstr(errs.data, "result_header: \"X-Sealgate-Signature\" is also scan.header"));
	assert_int_equal(load("state_dir = \"/tmp\";\nscan = { header = \"X-Scan\"; };\n"
			      "worker = { result_header = \"X-Scan\"; };\n", &c, a, &errs), SG_EINVAL);
	/* all of it at once */
	assert_int_equal(load("state_dir = \"/tmp\";\nscan = { clamd = \"127.0.0.1:3310\"; "
			      "max_size = \"1M\"; on_too_large = \"hold\"; retry = \"5s\"; };\n"
			      "worker = { rules = ( { scan = true; on_virus = \"reject\"; "
			      "on_scan_failure = \"pass-tagged\"; } ); };\n", &c, a, &errs), 0);
	r = c.worker.rules.v;
	assert_true(r[0].scan);
	assert_int_equal(r[0].on_virus, SG_RULE_FAIL_REJECT);
	assert_int_equal(r[0].on_scan_failure, SG_RULE_SCAN_PASS);
	assert_int_equal(c.worker.scan.on_too_large, SG_RULE_FAIL_HOLD);
	assert_int_equal(c.worker.scan.retry_ms, 5000);
	/* a rule that scans is never spooled past the worker */
	assert_null(sg_rules_pass(&c.worker.rules, SG_RULE_DIR_INBOUND, NULL, "a@b.test",
				  (const char *const[]) { "c@d.test" }, 1));
	sg_buf_free(&errs);
	sg_arena_free(a);
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pattern_valid),
		cmocka_unit_test(test_pattern_match),
		cmocka_unit_test(test_config_and_classify),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_scan_config),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
