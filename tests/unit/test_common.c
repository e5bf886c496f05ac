/*
 * NAME
 *	test_common 1
 * SUMMARY
 *	unit tests of common/: parsers, buffers, arena, printable, config
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "common/sg.h"

#define S(x) x, strlen(x)

static void test_parse_u64(void **state)
{
	uint64_t v;

	(void) state;
	assert_int_equal(sg_parse_u64(S("0"), &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(sg_parse_u64(S("18446744073709551615"), &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(sg_parse_u64(S("18446744073709551616"), &v), SG_EINVAL);
	assert_int_equal(sg_parse_u64(S(""), &v), SG_EINVAL);
	assert_int_equal(sg_parse_u64(S("-1"), &v), SG_EINVAL);
	assert_int_equal(sg_parse_u64(S("12a"), &v), SG_EINVAL);
	/* explicit length: trailing bytes beyond len are not read */
	assert_int_equal(sg_parse_u64("123xyz", 3, &v), 0);
	assert_int_equal(v, 123);
}

static void test_parse_size(void **state)
{
	uint64_t v;

	(void) state;
	assert_int_equal(sg_parse_size(S("50M"), &v), 0);
	assert_true(v == 50ULL << 20);
	assert_int_equal(sg_parse_size(S("1k"), &v), 0);
	assert_true(v == 1024);
	assert_int_equal(sg_parse_size(S("3G"), &v), 0);
	assert_true(v == 3ULL << 30);
	assert_int_equal(sg_parse_size(S("17"), &v), 0);
	assert_true(v == 17);
	assert_int_equal(sg_parse_size(S("1MB"), &v), SG_EINVAL);
	assert_int_equal(sg_parse_size(S("M"), &v), SG_EINVAL);
	assert_int_equal(sg_parse_size(S("99999999999999999999G"), &v), SG_EINVAL);
	assert_int_equal(sg_parse_size(S("17179869184G"), &v), SG_EINVAL);	/* wraps */
}

static void test_parse_duration(void **state)
{
	int64_t	v;

	(void) state;
	assert_int_equal(sg_parse_duration(S("300"), &v), 0);
	assert_true(v == 300000);
	assert_int_equal(sg_parse_duration(S("250ms"), &v), 0);
	assert_true(v == 250);
	assert_int_equal(sg_parse_duration(S("5m"), &v), 0);
	assert_true(v == 300000);
	assert_int_equal(sg_parse_duration(S("5d"), &v), 0);
	assert_true(v == 5LL * 86400000);
	assert_int_equal(sg_parse_duration(S("2w"), &v), 0);
	assert_int_equal(sg_parse_duration(S("5 m"), &v), SG_EINVAL);
	assert_int_equal(sg_parse_duration(S("5y"), &v), SG_EINVAL);
	assert_int_equal(sg_parse_duration(S("999999999999999999w"), &v), SG_EINVAL);
}

static struct sockaddr_storage addr(const char *ip)
{
	struct sockaddr_storage ss;
	char	buf[64];

	snprintf(buf, sizeof(buf), strchr(ip, ':') ? "[%s]:1" : "%s:1", ip);
	assert_int_equal(sg_sockaddr_parse(buf, strlen(buf), &ss), 0);
	return (ss);
}

static void test_cidr(void **state)
{
	struct sg_cidr c;
	struct sockaddr_storage a;

	(void) state;
	assert_int_equal(sg_cidr_parse(S("10.1.0.0/16"), &c), 0);
	a = addr("10.1.200.3");
	assert_true(sg_cidr_match(&c, (struct sockaddr *) &a));
	a = addr("10.2.0.1");
	assert_false(sg_cidr_match(&c, (struct sockaddr *) &a));
	/* v4-mapped v6 clients match v4 networks */
	a = addr("::ffff:10.1.2.3");
	assert_true(sg_cidr_match(&c, (struct sockaddr *) &a));
	assert_int_equal(sg_cidr_parse(S("192.168.1.7"), &c), 0);
	assert_int_equal(c.prefix, 32);
	assert_int_equal(sg_cidr_parse(S("2001:db8::/32"), &c), 0);
	a = addr("2001:db8:1::5");
	assert_true(sg_cidr_match(&c, (struct sockaddr *) &a));
	a = addr("2001:db9::5");
	assert_false(sg_cidr_match(&c, (struct sockaddr *) &a));
	assert_int_equal(sg_cidr_parse(S("10.0.0.0/33"), &c), SG_EINVAL);
	assert_int_equal(sg_cidr_parse(S("10.0.0/8"), &c), SG_EINVAL);
	assert_int_equal(sg_cidr_parse(S("10.0.0.0/"), &c), SG_EINVAL);
	assert_int_equal(sg_cidr_parse(S("host.example/8"), &c), SG_EINVAL);
	assert_int_equal(sg_cidr_parse(S("0.0.0.0/0"), &c), 0);
	a = addr("203.0.113.9");
	assert_true(sg_cidr_match(&c, (struct sockaddr *) &a));
}

static void test_hostport(void **state)
{
	char	host[64];
	unsigned port;

	(void) state;
	assert_int_equal(sg_hostport_parse(S("127.0.0.1:2525"), host, sizeof(host), &port, 0), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 2525);
	assert_int_equal(sg_hostport_parse(S("[::1]:25"), host, sizeof(host), &port, 0), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(sg_hostport_parse(S("mx.example.com"), host, sizeof(host), &port, 25), 0);
	assert_int_equal(port, 25);
	assert_int_equal(sg_hostport_parse(S("mx.example.com"), host, sizeof(host), &port, 0),
			 SG_EINVAL);
	assert_int_equal(sg_hostport_parse(S("h:0"), host, sizeof(host), &port, 0), SG_EINVAL);
	assert_int_equal(sg_hostport_parse(S("h:65536"), host, sizeof(host), &port, 0), SG_EINVAL);
	assert_int_equal(sg_hostport_parse(S("::1:25"), host, sizeof(host), &port, 0), SG_EINVAL);
	assert_int_equal(sg_hostport_parse(S("[::1"), host, sizeof(host), &port, 0), SG_EINVAL);
	assert_int_equal(sg_hostport_parse(S("[::1]x25"), host, sizeof(host), &port, 0), SG_EINVAL);
	assert_int_equal(sg_hostport_parse(S("bad host:25"), host, sizeof(host), &port, 0), SG_EINVAL);
	assert_int_equal(sg_hostport_parse(S(":25"), host, sizeof(host), &port, 0), SG_EINVAL);
	/* a host that does not fit is refused, not cut */
	assert_int_equal(sg_hostport_parse(S("aaaaaaaaaa.example:1"), host, 8, &port, 0), SG_EINVAL);
}

static void test_domain_pattern(void **state)
{
	char   *v[] = {"own.test", "*.partner.test"};
	struct sg_strlist l = {2, v};

	(void) state;
	assert_true(sg_domain_pattern_valid(S("*.partner.test")));
	assert_true(sg_domain_pattern_valid(S("partner.test")));
	assert_false(sg_domain_pattern_valid(S("*partner.test")));
	assert_false(sg_domain_pattern_valid(S("*.")));
	assert_false(sg_domain_pattern_valid(S("a.*.test")));
	/* "*.parent" is every name below parent, never parent itself */
	assert_true(sg_domain_match("*.partner.test", S("mx.Partner.TEST")));
	assert_true(sg_domain_match("*.partner.test", S("a.b.partner.test")));
	assert_false(sg_domain_match("*.partner.test", S("partner.test")));
	assert_false(sg_domain_match("*.partner.test", S("evilpartner.test")));
	assert_true(sg_domain_match("own.test", S("OWN.test")));
	assert_false(sg_domain_match("own.test", S("x.own.test")));
	assert_true(sg_domain_listed(&l, S("own.test")));
	assert_true(sg_domain_listed(&l, S("eu.partner.test")));
	assert_false(sg_domain_listed(&l, S("partner.test")));
	assert_false(sg_domain_listed(&l, S("own.test.evil")));
}

static void test_domain(void **state)
{
	(void) state;
	assert_true(sg_domain_valid(S("example.com")));
	assert_true(sg_domain_valid(S("a-b.c1.example")));
	assert_false(sg_domain_valid(S("-a.example")));
	assert_false(sg_domain_valid(S("a-.example")));
	assert_false(sg_domain_valid(S("a..example")));
	assert_false(sg_domain_valid(S("example.com.")));
	assert_false(sg_domain_valid(S("exa mple.com")));
	assert_false(sg_domain_valid(S("")));
	char	label[80];

	memset(label, 'a', 64);
	label[64] = 0;
	assert_false(sg_domain_valid(S(label)));
	label[63] = 0;
	assert_true(sg_domain_valid(S(label)));
}

static void test_printable(void **state)
{
	char	out[32];

	(void) state;
	assert_string_equal(sg_printable(out, sizeof(out), S("MAIL FROM:<a@b>")), "MAIL FROM:<a@b>");
	assert_string_equal(sg_printable(out, sizeof(out), "a\r\n\"\\\0z", 7), "a\\x0d\\x0a\\\"\\\\\\x00z");
	/* cut with a marker, never in the middle of an escape */
	assert_string_equal(sg_printable(out, 12, S("abcdefghijklmnop")), "abcdefgh...");
	assert_string_equal(sg_printable(out, 12, S("abc\x01\x02\x03xyz")), "abc\\x01...");
	assert_true(strlen(sg_printable(out, 12, S("abcdefghijklmnop"))) < 12);
	assert_string_equal(sg_printable(out, 4, S("abc")), "abc");
}

static void test_buf(void **state)
{
	struct sg_buf b = SG_BUF_INIT;

	(void) state;
	for (int i = 0; i < 1000; i++)
		sg_buf_printf(&b, "%d,", i);
	assert_int_equal(b.len, strlen(b.data));
	assert_memory_equal(b.data, "0,1,2,", 6);
	sg_buf_consume(&b, 2);
	assert_memory_equal(b.data, "1,2,", 4);
	sg_buf_append(&b, "\0x", 2);
	assert_int_equal(b.data[b.len], 0);
	sg_buf_consume(&b, b.len + 5);
	assert_int_equal(b.len, 0);
	sg_buf_free(&b);
	assert_null(b.data);
}

static void test_arena(void **state)
{
	struct sg_arena *a = sg_arena_new();

	(void) state;
	for (int i = 0; i < 5000; i++) {
		unsigned char *p = sg_arena_alloc(a, (size_t) (i % 97) + 1);

		assert_int_equal(((uintptr_t) p) % 16, 0);
		assert_int_equal(p[0], 0);
		p[0] = 1;
	}
	char   *big = sg_arena_alloc(a, 100000);

	memset(big, 7, 100000);
	assert_string_equal(sg_arena_strndup(a, "hello world", 5), "hello");
	sg_arena_free(a);
}

static void test_strerror(void **state)
{
	(void) state;
	assert_string_equal(sg_strerror(SG_OK), "success");
	assert_string_equal(sg_strerror(SG_EFULL), "queue or disk full");
	assert_string_equal(sg_strerror(SG_ECLOSED), "closed");
	assert_string_equal(sg_strerror(-999), "unknown error");
	assert_string_equal(sg_strerror(5), "unknown error");
}

/* A small program-level config to exercise the engine itself. */
struct elem {
	char   *addr;
	bool	flag;
};

struct prog {
	struct sg_conf_main main;
	struct {
		int64_t	n;
		uint64_t size;
		int64_t	ms;
		struct sg_conf_array elems;
	}	sec;
};

static const struct sg_conf_row elem_rows[] = {
	{.name = "addr",.type = SG_CONF_HOSTPORT,.offset = offsetof(struct elem, addr),
	.flags = SG_CONF_F_REQUIRED},
	{.name = "flag",.type = SG_CONF_BOOL,.offset = offsetof(struct elem, flag),.def = "true"},
	SG_CONF_END
};

#define SOFF(f) offsetof(struct prog, sec.f) - offsetof(struct prog, sec)
static const struct sg_conf_row sec_rows[] = {
	{.name = "n",.type = SG_CONF_INT,.offset = SOFF(n),.def = "7",.min = 1,.max = 10},
	{.name = "size",.type = SG_CONF_SIZE,.offset = SOFF(size),.def = "\"2K\""},
	{.name = "ms",.type = SG_CONF_DURATION,.offset = SOFF(ms),.def = "\"1m\""},
	{.name = "elems",.type = SG_CONF_GROUPLIST,.offset = SOFF(elems),.def = "()",
	.elem_rows = elem_rows,.elem_size = sizeof(struct elem)},
	SG_CONF_END
};

static const struct sg_conf_section sections[] = {
	{NULL, sg_conf_main_rows, offsetof(struct prog, main)},
	{"sec", sec_rows, offsetof(struct prog, sec)},
};

static int load(const char *text, struct prog *p, struct sg_buf *errors, struct sg_arena **a)
{
	char	path[] = "/tmp/sg_conf_XXXXXX";
	int	fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
	close(fd);
	memset(p, 0, sizeof(*p));
	*a = sg_arena_new();
	int	rc = sg_conf_load(path, sections, SG_NELEM(sections), p, *a, errors);

	unlink(path);
	return (rc);
}

static void test_conf_defaults_and_values(void **state)
{
	struct prog p;
	struct sg_buf e = SG_BUF_INIT;
	struct sg_arena *a;

	(void) state;
	assert_int_equal(load("state_dir = \"/tmp\";\n", &p, &e, &a), 0);
	assert_string_equal(p.main.state_dir, "/tmp");
	assert_int_equal(p.sec.n, 7);
	assert_true(p.sec.size == 2048);
	assert_int_equal(p.sec.ms, 60000);
	assert_int_equal(p.sec.elems.n, 0);
	assert_int_equal(p.main.log_level, SG_LOG_INFO);
	assert_true(strlen(p.main.hostname) > 0);
	sg_arena_free(a);

	assert_int_equal(load("state_dir = \"rel\";\nown_domains = [\"Example.COM\"];\n"
			      "own_servers = [\"10.0.0.0/8\", \"::1\"];\n"
			      "sec = { n = 3; size = 4096; ms = \"250ms\";\n"
			      " elems = ( { addr = \"[::1]:25\"; flag = false; },\n"
			      "           { addr = \"h.example:2\"; } ); };\n", &p, &e, &a), 0);
	assert_true(p.main.state_dir[0] == '/');	/* relative to the file */
	assert_string_equal(p.main.own_domains.v[0], "example.com");
	assert_int_equal(p.main.own_servers.n, 2);
	assert_int_equal(p.sec.n, 3);
	assert_true(p.sec.size == 4096);
	assert_int_equal(p.sec.ms, 250);
	assert_int_equal(p.sec.elems.n, 2);
	struct elem *el = p.sec.elems.v;

	assert_string_equal(el[0].addr, "[::1]:25");
	assert_false(el[0].flag);
	assert_true(el[1].flag);
	sg_arena_free(a);
	sg_buf_free(&e);
}

static void test_conf_errors(void **state)
{
	struct prog p;
	struct sg_buf e = SG_BUF_INIT;
	struct sg_arena *a;

	(void) state;
	assert_int_equal(load("state_dir = \"/tmp\";\nsec = {\n n = 11;\n"
			      " elems = ( { flag = 1; } );\n x = 1;\n};\n",
			      &p, &e, &a), SG_EINVAL);
	assert_non_null(strstr(e.data, ":3: n: 11 is out of range"));
	assert_non_null(strstr(e.data, ":4: flag: expected true or false"));
	assert_non_null(strstr(e.data, "missing required key \"addr\""));
	assert_non_null(strstr(e.data, ":5: unknown key \"x\""));
	sg_arena_free(a);
	sg_buf_free(&e);
}

static void test_header_get(void **state)
{
	static const char m1[] = "From: a@b\r\nSUBJECT:  Rechnung\r\n\t 4711\r\n  x\r\nX: 1\r\n\r\n"
		"Subject: body\r\n";
	static const char m2[] = "Subjects: no\nSubject:\tlf\tonly\n\nbody";
	static const char m3[] = "\r\nSubject: not a header\r\n";
	char	out[8], big[64];

	(void) state;
	assert_int_equal(sg_header_get(m1, sizeof(m1) - 1, "Subject", big, sizeof(big)), 17);
	assert_string_equal(big, "Rechnung  4711  x");
	assert_int_equal(sg_header_get(m1, sizeof(m1) - 1, "subject", out, sizeof(out)), 7);
	assert_string_equal(out, "Rechnun");
	assert_int_equal(sg_header_get(m2, sizeof(m2) - 1, "Subject", big, sizeof(big)), 7);
	assert_string_equal(big, "lf only");
	assert_int_equal(sg_header_get(m3, sizeof(m3) - 1, "Subject", big, sizeof(big)),
			 SG_ENOTFOUND);
	assert_int_equal(sg_header_len(m3, sizeof(m3) - 1), 0);
	assert_int_equal(sg_header_get(m1, 30, "X", big, sizeof(big)), SG_ENOTFOUND);
	assert_int_equal(sg_header_len(m2, sizeof(m2) - 1), 30);
}

/* The raw-text scanner: what it reports, as one line per callback. */

static void scan_adjacent(void *arg, unsigned line, const char *a, size_t alen,
			  const char *b, size_t blen, bool in_list)
{
	sg_buf_printf(arg, "adjacent %u %.*s|%.*s %s\n", line, (int) alen, a, (int) blen, b,
		      in_list ? "list" : "scalar");
}

static void scan_integer(void *arg, unsigned line, const char *name, size_t namelen,
			 const char *num, size_t numlen)
{
	sg_buf_printf(arg, "integer %u %.*s=%.*s\n", line, (int) namelen, name, (int) numlen, num);
}

static void scan_dotted(void *arg, unsigned line, const char *name, size_t namelen,
			const char *value, size_t valuelen)
{
	sg_buf_printf(arg, "dotted %u %.*s=%.*s\n", line, (int) namelen, name, (int) valuelen,
		      value);
}

static void scan_include(void *arg, unsigned line, const char *path, size_t len)
{
	sg_buf_printf(arg, "include %u %.*s\n", line, (int) len, path);
}

static void test_conf_scan(void **state)
{
	static const struct sg_conf_scan_ops ops = {
		scan_adjacent, scan_integer, scan_dotted, scan_include,
	};
	static const struct {
		const char *text, *want;
	}	cases[] = {
		{"a = [ \"x\" \"y\" ];", "adjacent 1 x|y list\n"},
		{"a = \"x\"\n /* c\n */ \"y\";", "adjacent 1 x|y scalar\n"},
		{"a = ( \"x\" # c\n \"y\" );", "adjacent 1 x|y list\n"},
		{"a = [ \"x\", \"y\" ]; b = \"p\\\"q\";", ""},
		{"# \"x\" \"y\"\n// \"x\" \"y\"\n/* \"x\" \"y\" */", ""},
		{"s = \"a#b//c/*d\"; t = 1;", "integer 1 t=1\n"},
		{"g = { n =\n 5000000000; m = 0x10L; f = 1.5e+3; };",
		 "integer 1 n=5000000000\ninteger 2 m=0x10L\n"},
		{"l = [ 1, 2 ]; x : -3;", "integer 1 x=-3\n"},
		{"queue.lease = \"5m\";  # restart\n", "dotted 1 queue.lease=\"5m\"\n"},
		{"x = 1;\na.b.c = ( { d = \"e\"; } ); y = 2;",
		 "integer 1 x=1\ndotted 2 a.b.c=( { d = \"e\"; } )\ninteger 2 y=2\n"},
		{"a.b = 5\nc = 6;", "dotted 1 a.b=5\ninteger 2 c=6\n"},
		{"a.b =", "dotted 1 a.b=\n"},
		{"v = 1.5; w = .5;", ""},
		{"@include \"x.cfg\"\n  @include \"y.cfg\"", "include 1 x.cfg\ninclude 2 y.cfg\n"},
		{"s = \"unterminated", ""},
		{"/* unterminated", ""},
		{"a = \"x\\", ""},
	};

	(void) state;
	for (size_t i = 0; i < SG_NELEM(cases); i++) {
		struct sg_buf got = SG_BUF_INIT;
		size_t	n = strlen(cases[i].text);
		char   *copy = malloc(n ? n : 1);	/* no NUL: the length is the limit */

		memcpy(copy, cases[i].text, n);
		sg_conf_scan(copy, n, &ops, &got);
		if (strcmp(got.data ? got.data : "", cases[i].want) != 0)
			fail_msg("case %zu: %s\ngot:\n%swant:\n%s", i, cases[i].text,
				 got.data ? got.data : "", cases[i].want);
		free(copy);
		sg_buf_free(&got);
	}
}

static void test_conf_ranges(void **state)
{
	struct prog p;
	struct sg_buf e = SG_BUF_INIT;
	struct sg_arena *a;

	(void) state;
	/* libconfig alone reads 5000000000 as 705032704, 3000000000 as -1294967296 */
	assert_int_equal(load("state_dir = \"/tmp\";\nsec = {\n n = 5000000000;\n"
			      " size = 3000000000;\n ms = -1;\n};\n", &p, &e, &a), SG_EINVAL);
	assert_non_null(strstr(e.data, ":3: n: 5000000000 is out of range (1 to 10)\n"));
	assert_non_null(strstr(e.data, ":5: ms: -1 is out of range (not negative)\n"));
	assert_null(strstr(e.data, "size"));
	sg_arena_free(a);
	sg_buf_reset(&e);
	assert_int_equal(load("state_dir = \"/tmp\";\nsec = { size = 3000000000;"
			      " ms = 99999999999999999999; };\n", &p, &e, &a), SG_EINVAL);
	assert_non_null(strstr(e.data, "ms: 99999999999999999999 is out of range (too large)"));
	sg_arena_free(a);
	sg_buf_reset(&e);
	assert_int_equal(load("state_dir = \"/tmp\";\nsec = { size = 3000000000;"
			      " ms = 0x100000; };\n", &p, &e, &a), 0);
	assert_true(p.sec.size == 3000000000ULL);
	assert_int_equal(p.sec.ms, 0x100000LL * 1000);
	sg_arena_free(a);
	sg_buf_free(&e);
}

static const struct sg_conf_section one[] = {
	{"sec", sec_rows, offsetof(struct prog, sec)},
};

static void on_changed(void *arg, const struct sg_conf_section *sec, const struct sg_conf_row *r)
{
	sg_buf_printf(arg, "%s.%s ", sec->name, r->name);
}

/* main_row - a top-level row by name (the table grows) */

static const struct sg_conf_row *main_row(const char *name)
{
	for (const struct sg_conf_row *r = sg_conf_main_rows; r->name; r++)
		if (strcmp(r->name, name) == 0)
			return (r);
	fail_msg("no top-level key %s", name);
	return (NULL);
}

static void test_conf_format_diff_keep(void **state)
{
	struct prog p, q;
	struct sg_buf e = SG_BUF_INIT, out = SG_BUF_INIT;
	struct sg_arena *a, *b;

	(void) state;
	assert_int_equal(load("state_dir = \"/tmp\";\nown_servers = [ \"10.0.0.0/8\", \"::1\" ];\n"
			      "sec = { size = \"3M\"; ms = 7200;\n"
			      " elems = ( { addr = \"h:1\"; } ); };\n", &p, &e, &a), 0);
	assert_int_equal(sg_conf_format(main_row("own_servers"), &p.main, &out), 0);
	assert_string_equal(out.data, "[ \"10.0.0.0/8\", \"::1\" ]");
	sg_buf_reset(&out);
	for (const struct sg_conf_row *r = sec_rows; r->name; r++) {
		assert_int_equal(sg_conf_format(r, &p.sec, &out), 0);
		sg_buf_puts(&out, "|");
	}
	assert_string_equal(out.data, "7|\"3M\"|\"2h\"|( { addr = \"h:1\"; flag = true; } )|");
	assert_int_equal(load("state_dir = \"/tmp\";\n"
			      "sec = { n = 8; size = 3145728; ms = \"2h\";\n"
			      " elems = ( { addr = \"h:2\"; } ); };\n", &q, &e, &b), 0);
	sg_buf_reset(&out);
	/* size is the same, written otherwise; n and the element differ */
	assert_int_equal(sg_conf_diff(one, 1, &p, &q, on_changed, &out), 2);
	assert_string_equal(out.data, "sec.n sec.elems ");
	/* none of sec's rows is live: q takes them all from p, deeply */
	sg_conf_keep(one, 1, &q, &p, b);
	sg_arena_free(a);
	assert_int_equal(q.sec.n, 7);
	assert_string_equal(((struct elem *) q.sec.elems.v)[0].addr, "h:1");
	sg_arena_free(b);
	sg_buf_free(&e);
	sg_buf_free(&out);
}

/* open_fds - how many descriptors this process holds */

static int open_fds(void)
{
	int	n = 0;

	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) != -1;
	return (n);
}

/*
 * sg_fs_replace(): the parts in order, the old file or the new one whole,
 * and sg_fs_read() reads it back;
 * a write that fails (here: past RLIMIT_FSIZE) leaves the old file, no
 * .tmp, and no descriptor behind. The TLS-RPT counts lost a FILE to every
 * failed write (a full disk, each minute) before they used it.
 */
static void test_fs_replace(void **state)
{
	char	dir[] = "/tmp/test_fs.XXXXXX", path[64], tmp[80], buf[16] = "";
	struct sg_fs_part parts[] = {{"ab", 2}, {"cd", 2}};
	struct sg_fs_part big[] = {{"0123456789", 10}};
	struct rlimit was, small = {.rlim_cur = 4};
	FILE   *f;
	char   *got;
	size_t	len;
	int	fds;

	(void) state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(sg_fs_replace(path, parts, 2, 0640), 0);
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "abcd");
	assert_int_equal(access(tmp, F_OK), -1);
	/* read back whole, NUL-terminated; too long, or none, is said so */
	assert_int_equal(sg_fs_read(path, 4, &got, &len), 0);
	assert_true(len == 4 && strcmp(got, "abcd") == 0);
	free(got);
	assert_int_equal(sg_fs_read(path, 3, &got, &len), SG_ELIMIT);
	assert_true(got == NULL && len == 0);
	assert_int_equal(sg_fs_read(tmp, 3, &got, &len), SG_ENOTFOUND);

	fds = open_fds();
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &was), 0);
	small.rlim_max = was.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	assert_int_equal(sg_fs_replace(path, big, 1, 0640), SG_EIO);
	assert_int_equal(errno, EFBIG);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &was), 0);
	assert_int_equal(open_fds(), fds);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "abcd");
	snprintf(tmp, sizeof(tmp), "%s/none/f", dir);
	assert_int_equal(sg_fs_replace(tmp, parts, 2, 0640), SG_EIO);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_cidr),
		cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_domain),
		cmocka_unit_test(test_domain_pattern),
		cmocka_unit_test(test_printable),
		cmocka_unit_test(test_header_get),
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_arena),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_conf_defaults_and_values),
		cmocka_unit_test(test_conf_errors),
		cmocka_unit_test(test_conf_scan),
		cmocka_unit_test(test_conf_ranges),
		cmocka_unit_test(test_conf_format_diff_keep),
		cmocka_unit_test(test_fs_replace),
	};

	sg_log_init("test_common", "test", SG_LOG_STDERR);
	return (cmocka_run_group_tests_name("common", tests, NULL, NULL));
}
