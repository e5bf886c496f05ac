/*
 * NAME
 *	test_tlsrpt 1
 * SUMMARY
 *	unit tests of TLS-RPT in delivery/: the _smtp._tls record, the
 *	counts file, the report's JSON
 * DESCRIPTION
 *	Records as RFC 8460 3 writes them; counts lines as tlsrpt.c writes
 *	them; the JSON of a report checked for its fields and for escaping.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "delivery/delivery.h"

#define S(x) x, strlen(x)

static void test_txt(void **state)
{
	struct delivery_tlsrpt_rua r;

	(void) state;
	assert_int_equal(delivery_tlsrpt_txt_parse(S("v=TLSRPTv1; rua=mailto:reports@example.com"),
						   &r), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.addr[0], "reports@example.com");
	/* https is accepted and not used; %xx decoded; ?query dropped */
	assert_int_equal(delivery_tlsrpt_txt_parse(S("v=TLSRPTv1;rua=https://r.example/x, "
		"mailto:tls%2Brpt@example.com?subject=x"), &r), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.addr[0], "tls+rpt@example.com");
	assert_int_equal(delivery_tlsrpt_txt_parse(S("v=TLSRPTv1; rua=https://r.example/x"), &r), 0);
	assert_int_equal(r.n, 0);
	/* not TLS-RPT, no rua, two rua; targets that could not go in an envelope */
	assert_int_equal(delivery_tlsrpt_txt_parse(S("v=STSv1; rua=mailto:a@b.test"), &r),
			 SG_EINVAL);
	assert_int_equal(delivery_tlsrpt_txt_parse(S("v=TLSRPTv1;"), &r), SG_EINVAL);
	assert_int_equal(delivery_tlsrpt_txt_parse(S("v=TLSRPTv1; rua=mailto:a@b.test; "
						     "rua=mailto:c@d.test"), &r), SG_EINVAL);
	assert_int_equal(r.n, 0);
	assert_int_equal(delivery_tlsrpt_txt_parse(S("v=TLSRPTv1; rua=mailto:a%3E@b.test,"
		"mailto:nodomain, mailto:x@bad..test"), &r), 0);
	assert_int_equal(r.n, 0);
}

struct got {
	struct delivery_tlsrpt_line v[4];
	size_t	n;
};

static void on_line(void *arg, const struct delivery_tlsrpt_line *l)
{
	struct got *g = arg;

	if (g->n < 4)
		g->v[g->n++] = *l;
}

static void test_counts_and_json(void **state)
{
	const char *file = "tlsa success mx1.a.test 192.0.2.1 5\n"
		"tlsa validation-failure mx1.a.test - 2\n";
	struct got g = {0};
	struct delivery_tlsrpt_rua rua = {1, {"r@a.test"}};
	struct delivery_tlsrpt_report in = {.submitter = "gw.test",.domain = "a.test",
	.start = 86400,.end = 172800,.rua = &rua};
	struct sg_buf mail = SG_BUF_INIT, js = SG_BUF_INIT;

	(void) state;
	assert_int_equal(delivery_tlsrpt_counts_parse(S(file), on_line, &g), 0);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.v[0].count, 5);
	assert_string_equal(g.v[1].ip, "-");
	/* a damaged line ends it; what came before was handed over */
	g.n = 0;
	assert_int_equal(delivery_tlsrpt_counts_parse(S("tlsa success a.test - 1\nbad\n"),
						      on_line, &g), SG_ECORRUPT);
	assert_int_equal(g.n, 1);
	assert_int_equal(delivery_tlsrpt_counts_parse(S("tlsa success a.test - 1"), on_line, &g),
			 SG_ECORRUPT);
	g.n = 0;
	delivery_tlsrpt_counts_parse(S(file), on_line, &g);
	in.lines = g.v;
	in.nlines = g.n;
	assert_int_equal(delivery_tlsrpt_report(&in, &mail, &js), 0);
	assert_non_null(strstr(js.data, "\"date-range\":{\"start-datetime\":\"1970-01-02T00:00:00Z\","
			       "\"end-datetime\":\"1970-01-02T23:59:59Z\"}"));
	assert_non_null(strstr(js.data, "\"total-successful-session-count\":5,"
			       "\"total-failure-session-count\":2"));
	assert_non_null(strstr(js.data, "\"result-type\":\"validation-failure\","
			       "\"receiving-mx-hostname\":\"mx1.a.test\",\"failed-session-count\":2"));
	assert_non_null(strstr(mail.data, "Content-Type: multipart/report; report-type=\"tlsrpt\""));
	assert_non_null(strstr(mail.data, "TLS-Report-Domain: a.test\r\n"));
	assert_non_null(strstr(mail.data, "filename=\"gw.test!a.test!86400!172800.json.gz\""));
	sg_buf_free(&mail);
	sg_buf_free(&js);
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_txt),
		cmocka_unit_test(test_counts_and_json),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
