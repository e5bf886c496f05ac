/*
 * NAME
 *	test_addr 1
 * SUMMARY
 *	unit tests of common/addr.c: strict mailbox and path parsing
 * DESCRIPTION
 *	Table-driven: each case is input, options, expected result, and for
 *	accepted input the local part, domain and flags the parser must
 *	report. The relay tricks (%-hack, bang path, quoted @, source route)
 *	are cases like any other.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/sg.h"

struct mbox_case {
	const char *in;
	unsigned opts;
	int	err;
	const char *local;
	const char *domain;
	unsigned flags;
};

static const struct mbox_case mbox_cases[] = {
	{"user@example.com", 0, 0, "user", "example.com", 0},
	{"User.Name+tag@Example.COM", 0, 0, "User.Name+tag", "example.com", 0},
	{"a@b", 0, 0, "a", "b", 0},
	{"u%evil.com@own.test", 0, 0, "u%evil.com", "own.test", SG_ADDR_F_ROUTING},
	{"evil.com!u@own.test", 0, 0, "evil.com!u", "own.test", SG_ADDR_F_ROUTING},
	{"\"u@evil.com\"@own.test", 0, 0, "\"u@evil.com\"", "own.test",
	SG_ADDR_F_QUOTED | SG_ADDR_F_ROUTING},
	{"\"a b\"@own.test", 0, 0, "\"a b\"", "own.test", SG_ADDR_F_QUOTED},
	{"\"a\\\"b\"@own.test", 0, 0, "\"a\\\"b\"", "own.test", SG_ADDR_F_QUOTED},
	{"\"a\\:b\"@own.test", 0, 0, "\"a\\:b\"", "own.test",
	SG_ADDR_F_QUOTED | SG_ADDR_F_ROUTING},
	{"u@[192.0.2.1]", 0, 0, "u", "[192.0.2.1]", SG_ADDR_F_LITERAL},
	{"u@[IPv6:2001:db8::1]", 0, 0, "u", "[ipv6:2001:db8::1]", SG_ADDR_F_LITERAL},
	{"j\xc3\xb6rg@b\xc3\xbc" "cher.test", SG_ADDR_O_UTF8, 0, "j\xc3\xb6rg",
	"b\xc3\xbc" "cher.test", SG_ADDR_F_UTF8},
	/* refusals */
	{"j\xc3\xb6rg@x.test", 0, SG_EINVAL, NULL, NULL, 0},
	{"j\xc3@x.test", SG_ADDR_O_UTF8, SG_EINVAL, NULL, NULL, 0},	/* cut sequence */
	{"j\xc0\xaf@x.test", SG_ADDR_O_UTF8, SG_EINVAL, NULL, NULL, 0},	/* overlong */
	{"", 0, SG_EINVAL, NULL, NULL, 0},
	{"user", 0, SG_EINVAL, NULL, NULL, 0},
	{"user@", 0, SG_EINVAL, NULL, NULL, 0},
	{"@example.com", 0, SG_EINVAL, NULL, NULL, 0},
	{".user@example.com", 0, SG_EINVAL, NULL, NULL, 0},
	{"user.@example.com", 0, SG_EINVAL, NULL, NULL, 0},
	{"us..er@example.com", 0, SG_EINVAL, NULL, NULL, 0},
	{"user@example..com", 0, SG_EINVAL, NULL, NULL, 0},
	{"user@example.com.", 0, SG_EINVAL, NULL, NULL, 0},
	{"user@-example.com", 0, SG_EINVAL, NULL, NULL, 0},
	{"user@example-.com", 0, SG_EINVAL, NULL, NULL, 0},
	{"user@exa_mple.com", 0, SG_EINVAL, NULL, NULL, 0},
	{"a@b@c", 0, SG_EINVAL, NULL, NULL, 0},
	{"a b@c", 0, SG_EINVAL, NULL, NULL, 0},
	{"\"unterminated@c", 0, SG_EINVAL, NULL, NULL, 0},
	{"\"a\x01\"@c", 0, SG_EINVAL, NULL, NULL, 0},
	{"\"a\r\nb\"@c", 0, SG_EINVAL, NULL, NULL, 0},
	{"u@[300.0.2.1]", 0, SG_EINVAL, NULL, NULL, 0},
	{"u@[example.com]", 0, SG_EINVAL, NULL, NULL, 0},
	{"u@[IPv6:zz::]", 0, SG_EINVAL, NULL, NULL, 0},
	{"u@[192.0.2.1", 0, SG_EINVAL, NULL, NULL, 0},
	{"user@example.com\r\n", 0, SG_EINVAL, NULL, NULL, 0},
};

static void test_mailboxes(void **state)
{
	(void) state;
	for (size_t i = 0; i < SG_NELEM(mbox_cases); i++) {
		const struct mbox_case *c = &mbox_cases[i];
		struct sg_addr a;
		int	err = sg_addr_parse(c->in, strlen(c->in), c->opts, &a);

		if (err != c->err)
			fail_msg("case %zu \"%s\": got %d, want %d", i, c->in, err, c->err);
		if (err != 0)
			continue;
		assert_string_equal(a.local, c->local);
		assert_string_equal(a.domain, c->domain);
		assert_int_equal(a.local_len, strlen(c->local));
		assert_int_equal(a.domain_len, strlen(c->domain));
		if (a.flags != c->flags)
			fail_msg("case %zu \"%s\": flags %#x, want %#x", i, c->in, a.flags, c->flags);
	}
}

static void test_limits(void **state)
{
	char	buf[600];
	struct sg_addr a;

	(void) state;
	/* local part: 64 fine, 65 too long */
	memset(buf, 'a', 64);
	memcpy(buf + 64, "@x.test", 8);
	assert_int_equal(sg_addr_parse(buf, strlen(buf), 0, &a), 0);
	memset(buf, 'a', 65);
	memcpy(buf + 65, "@x.test", 8);
	assert_int_equal(sg_addr_parse(buf, strlen(buf), 0, &a), SG_ELIMIT);
	/* a label of 64 octets */
	memcpy(buf, "u@", 2);
	memset(buf + 2, 'b', 64);
	memcpy(buf + 66, ".test", 6);
	assert_int_equal(sg_addr_parse(buf, strlen(buf), 0, &a), SG_EINVAL);
	/* a domain over 255 octets made of short labels */
	memcpy(buf, "u@", 2);
	for (size_t i = 0; i < 130; i++)
		memcpy(buf + 2 + 2 * i, "b.", 2);
	memcpy(buf + 262, "test", 5);
	assert_true(sg_addr_parse(buf, strlen(buf), 0, &a) < 0);
	/* explicit length: bytes after len are not read */
	assert_int_equal(sg_addr_parse("u@x.test.evil.com", 8, 0, &a), 0);
	assert_string_equal(a.domain, "x.test");
}

static void test_paths(void **state)
{
	struct sg_addr a;
	size_t	used = 0;
	const char *p;

	(void) state;
	p = "<user@Own.Test> SIZE=100";
	assert_int_equal(sg_addr_parse_path(p, strlen(p), 0, &a, &used), 0);
	assert_int_equal(used, 15);
	assert_string_equal(a.domain, "own.test");
	p = "<>";
	assert_int_equal(sg_addr_parse_path(p, 2, 0, &a, &used), SG_EINVAL);
	assert_int_equal(sg_addr_parse_path(p, 2, SG_ADDR_O_NULL, &a, &used), 0);
	assert_int_equal(a.flags, SG_ADDR_F_NULL);
	p = "<@relay.evil:u@own.test>";
	assert_int_equal(sg_addr_parse_path(p, strlen(p), 0, &a, &used), SG_EUNSUPPORTED);
	p = "<@a,@b:u@own.test>";
	assert_int_equal(sg_addr_parse_path(p, strlen(p), 0, &a, &used), SG_EUNSUPPORTED);
	p = "<Postmaster>";
	assert_int_equal(sg_addr_parse_path(p, strlen(p), 0, &a, &used), SG_EINVAL);
	assert_int_equal(sg_addr_parse_path(p, strlen(p), SG_ADDR_O_POSTMASTER, &a, &used), 0);
	assert_true(a.flags & SG_ADDR_F_POSTMASTER);
	p = "<\"a>b\"@own.test>";
	assert_int_equal(sg_addr_parse_path(p, strlen(p), 0, &a, &used), 0);
	assert_int_equal(used, strlen(p));
	p = "user@own.test";
	assert_int_equal(sg_addr_parse_path(p, strlen(p), 0, &a, &used), SG_EINVAL);
	p = "<user@own.test";
	assert_int_equal(sg_addr_parse_path(p, strlen(p), 0, &a, &used), SG_EINVAL);
	p = "<user@own.test >";
	assert_int_equal(sg_addr_parse_path(p, strlen(p), 0, &a, &used), SG_EINVAL);
}

static void test_domain_in_and_format(void **state)
{
	char   *own[] = {"own.test", "other.test"};
	struct sg_strlist l = {2, own};
	struct sg_addr a;
	char	buf[300];

	(void) state;
	assert_int_equal(sg_addr_parse("x@OWN.test", strlen("x@OWN.test"), 0, &a), 0);
	assert_true(sg_addr_domain_in(&a, &l));
	assert_int_equal(sg_addr_format(&a, buf, sizeof(buf)), 10);
	assert_string_equal(buf, "x@own.test");
	assert_int_equal(sg_addr_format(&a, buf, 5), SG_ELIMIT);
	assert_int_equal(sg_addr_parse("x@sub.own.test", strlen("x@sub.own.test"), 0, &a), 0);
	assert_false(sg_addr_domain_in(&a, &l));
	assert_int_equal(sg_addr_parse("x@own.test.evil", strlen("x@own.test.evil"), 0, &a), 0);
	assert_false(sg_addr_domain_in(&a, &l));
	assert_int_equal(sg_addr_parse("x@[127.0.0.1]", strlen("x@[127.0.0.1]"), 0, &a), 0);
	assert_false(sg_addr_domain_in(&a, &l));
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mailboxes),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_domain_in_and_format),
	};

	return (cmocka_run_group_tests_name("addr", tests, NULL, NULL));
}
