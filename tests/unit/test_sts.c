/*
 * NAME
 *	test_sts 1
 * SUMMARY
 *	unit tests of MTA-STS in delivery/: TXT records, policies, MX
 *	patterns, the cache file
 * DESCRIPTION
 *	Each case is a line of RFC 8461 read literally (3.1 for the record,
 *	3.2 for the policy, 4.1 for MX patterns), and the cache's round trip
 *	through a temporary directory.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "delivery/delivery.h"

#define S(x) x, strlen(x)

static void test_txt(void **state)
{
	char	id[DELIVERY_STS_ID_MAX + 1];

	(void) state;
	assert_int_equal(delivery_sts_txt_parse(S("v=STSv1; id=20160831085700Z;"), id), 0);
	assert_string_equal(id, "20160831085700Z");
	assert_int_equal(delivery_sts_txt_parse(S("v=STSv1;id=a1; ext-1=x"), id), 0);
	assert_string_equal(id, "a1");
	/* v first, an id, of letters and digits, at most 32 */
	assert_int_equal(delivery_sts_txt_parse(S("id=1; v=STSv1;"), id), SG_EINVAL);
	assert_string_equal(id, "");
	assert_int_equal(delivery_sts_txt_parse(S("v=STSv1;"), id), SG_EINVAL);
	assert_int_equal(delivery_sts_txt_parse(S("v=STSv2; id=1"), id), SG_EINVAL);
	assert_int_equal(delivery_sts_txt_parse(S("v=STSv1; id=a-b"), id), SG_EINVAL);
	assert_int_equal(delivery_sts_txt_parse(S("v=STSv1; id=1; id=2"), id), SG_EINVAL);
	assert_int_equal(delivery_sts_txt_parse(
		S("v=STSv1; id=123456789012345678901234567890123"), id), SG_EINVAL);
	assert_int_equal(delivery_sts_txt_parse(S("v=STSv1; id=1; :x=1"), id), SG_EINVAL);
	assert_string_equal(id, "");
}

static void test_policy(void **state)
{
	struct delivery_sts_policy p;

	(void) state;
	assert_int_equal(delivery_sts_policy_parse(S("version: STSv1\r\nmode: enforce\r\n"
		"mx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n"), &p), 0);
	assert_int_equal(p.mode, DELIVERY_STS_ENFORCE);
	assert_int_equal(p.max_age, 604800);
	assert_int_equal(p.nmx, 2);
	assert_true(delivery_sts_mx_match(&p, "MAIL.example.com."));
	assert_true(delivery_sts_mx_match(&p, "mx1.example.net"));
	assert_false(delivery_sts_mx_match(&p, "a.b.example.net"));
	assert_false(delivery_sts_mx_match(&p, "example.net"));
	assert_false(delivery_sts_mx_match(&p, "evilmail.example.com"));
	/* LF alone, unknown keys, mode none without mx */
	assert_int_equal(delivery_sts_policy_parse(S("version: STSv1\nmode: none\nmax_age: 0\n"
						     "x: y\n"), &p), 0);
	assert_int_equal(p.mode, DELIVERY_STS_NONE);
	/* missing or repeated fields, bounds */
	assert_int_equal(delivery_sts_policy_parse(S("mode: testing\nmx: a.test\nmax_age: 1\n"),
						   &p), SG_EINVAL);
	assert_int_equal(delivery_sts_policy_parse(S("version: STSv1\nmode: testing\n"
						     "max_age: 1\n"), &p), SG_EINVAL);
	assert_int_equal(delivery_sts_policy_parse(S("version: STSv1\nmode: enforce\nmode: none\n"
						     "mx: a.test\nmax_age: 1\n"), &p), SG_EINVAL);
	assert_int_equal(delivery_sts_policy_parse(S("version: STSv1\nmode: enforce\n"
						     "mx: a.test\nmax_age: 31557601\n"), &p),
			 SG_EINVAL);
	assert_int_equal(delivery_sts_policy_parse(S("version: STSv1\nmode: enforce\n"
						     "mx: a..test\nmax_age: 1\n"), &p), SG_EINVAL);
	assert_int_equal(delivery_sts_policy_parse(S("version: STSv1\nmode: strict\n"
						     "mx: a.test\nmax_age: 1\n"), &p), SG_EINVAL);
}

static void test_cache(void **state)
{
	char	dir[] = "/tmp/test_sts.XXXXXX", id[DELIVERY_STS_ID_MAX + 1], path[64];
	const char *pol = "version: STSv1\r\nmode: testing\r\nmx: *.a.test\r\nmax_age: 60\r\n";
	struct delivery_sts_policy p;
	int64_t	fetched = 0;
	FILE   *f;

	(void) state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(delivery_sts_cache_read(dir, "a.test", id, &fetched, &p), SG_ENOTFOUND);
	assert_int_equal(delivery_sts_cache_write(dir, "a.test", "id7", 1234, S(pol)), 0);
	assert_int_equal(delivery_sts_cache_read(dir, "a.test", id, &fetched, &p), 0);
	assert_string_equal(id, "id7");
	assert_int_equal(fetched, 1234);
	assert_int_equal(p.mode, DELIVERY_STS_TESTING);
	/* a damaged file is refused, not half used */
	snprintf(path, sizeof(path), "%s/a.test", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("sealgate-sts 1\nid id7\nfetched x\n\nversion: STSv1\n", f);
	fclose(f);
	assert_int_equal(delivery_sts_cache_read(dir, "a.test", id, &fetched, &p), SG_ECORRUPT);
	unlink(path);
	rmdir(dir);
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_txt),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_cache),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
