/*
 * NAME
 *	test_sts 1
 * SUMMARY
 *	unit tests of MTA-STS in delivery/: TXT records, policies, MX
 *	patterns, the cache file
 * DESCRIPTION
 *	Each case is a line of RFC 8461 read literally (3.1 for the record,
 *	3.2 for the policy, 4.1 for MX patterns), the cache's round trip
 *	through a temporary directory, and the policies delivery keeps in
 *	memory when more domains come than it keeps.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "delivery/delivery.h"
#include "delivery/delivery_int.h"

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

static void no_change(void *arg, const char *domain)
{
	(void) arg;
	(void) domain;
}

static int apply(struct dl_sts *s, const char *domain)
{
	struct delivery_conf c = {.mta_sts = true };
	struct dl_addr a = {.host = "mx.test",.dane = DL_DANE_NONE };
	struct dl_hosts h = {.n = 1,.v = &a };
	int	mode = dl_sts_apply(s, &c, domain, &h);

	assert_int_equal(a.sts, mode == DELIVERY_STS_ENFORCE ? DL_STS_VERIFY : DL_STS_NONE);
	return (mode);
}

static void forget_on_disk(const char *dir, const char *domain)
{
	char	path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, domain);
	assert_int_equal(unlink(path), 0);
}

/*
 * test_many_domains - three kept: a fourth domain takes the place of the
 * least recently used (it had none: MTA-STS was skipped for it, its
 * enforced policy on disk ignored)
 */
static void test_many_domains(void **state)
{
	const char *pol = "version: STSv1\r\nmode: enforce\r\nmx: *.test\r\nmax_age: 86400\r\n";
	const char *domains[] = {"a.test", "b.test", "c.test", "d.test"};
	char	dir[] = "/tmp/test_sts.XXXXXX", sts[64];
	struct dl_sts *s;
	uv_loop_t loop;

	(void) state;
	assert_non_null(mkdtemp(dir));
	snprintf(sts, sizeof(sts), "%s/sts", dir);
	assert_int_equal(mkdir(sts, 0700), 0);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(delivery_sts_cache_write(sts, domains[i], "id1", time(NULL),
							  S(pol)), 0);
	assert_int_equal(uv_loop_init(&loop), 0);
	s = dl_sts_new(&loop, NULL, dir, 3, no_change, NULL);
	dl_sts_stop(s);			/* no refreshes: what is kept, and the disk */
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(apply(s, domains[i]), DELIVERY_STS_ENFORCE);
	/* a.test is kept in memory, and used again: b.test is now the oldest */
	forget_on_disk(sts, "a.test");
	assert_int_equal(apply(s, "a.test"), DELIVERY_STS_ENFORCE);
	assert_int_equal(apply(s, "d.test"), DELIVERY_STS_ENFORCE);
	/* b.test gave its place: read from disk again, where it is gone now */
	forget_on_disk(sts, "b.test");
	assert_int_equal(apply(s, "b.test"), -1);
	assert_int_equal(apply(s, "a.test"), DELIVERY_STS_ENFORCE);
	dl_sts_free(s);
	assert_int_equal(uv_loop_close(&loop), 0);
	for (size_t i = 2; i < 4; i++)
		forget_on_disk(sts, domains[i]);
	assert_int_equal(rmdir(sts), 0);
	assert_int_equal(rmdir(dir), 0);
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_txt),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_many_domains),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
