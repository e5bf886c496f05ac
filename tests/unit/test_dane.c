/*
 * NAME
 *	test_dane 1
 * SUMMARY
 *	unit tests of DANE in delivery/: TLSA answers, policy precedence
 * DESCRIPTION
 *	TLSA answers are built byte by byte as a validating resolver sends
 *	them (header flags, question, records), each case one way the
 *	answer can say something DANE must act on. The precedence test runs
 *	delivery_route() over a table of tls_policies entries.
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

/* answer - a DNS answer: flags byte 3, then TLSA records of rdata rd[i] */

static size_t answer(unsigned char *m, unsigned flags3, const unsigned char *const *rd,
		     const size_t *rdlen, size_t n)
{
	static const unsigned char q[] = "\x03_25\x04_tcp\x02mx\x07" "example\x04test";
	size_t	off = 12;

	memset(m, 0, 12);
	m[0] = 0x12;
	m[2] = 0x81;
	m[3] = (unsigned char) flags3;
	m[5] = 1;
	m[7] = (unsigned char) n;
	memcpy(m + off, q, sizeof(q));	/* with the root label's 0 */
	off += sizeof(q);
	memcpy(m + off, "\x00\x34\x00\x01", 4);
	off += 4;
	for (size_t i = 0; i < n; i++) {
		memcpy(m + off, "\xc0\x0c\x00\x34\x00\x01\x00\x00\x00\x3c", 10);
		m[off + 10] = (unsigned char) (rdlen[i] >> 8);
		m[off + 11] = (unsigned char) rdlen[i];
		memcpy(m + off + 12, rd[i], rdlen[i]);
		off += 12 + rdlen[i];
	}
	return (off);
}

static void test_tlsa_answers(void **state)
{
	unsigned char m[1024], ee[35] = {3, 1, 1}, ta[67] = {2, 0, 2}, shortsha[20] = {3, 1, 1},
		full[40] = {3, 0, 0};
	const unsigned char *rd[] = {ee, ta, shortsha, full};
	size_t	len[] = {sizeof(ee), sizeof(ta), sizeof(shortsha), sizeof(full)};
	struct delivery_tlsa t;
	size_t	n;

	(void) state;
	memset(ee + 3, 0xab, 32);
	/* AD and records: secure, both kept with their data */
	n = answer(m, 0xa0, rd, len, 2);
	assert_int_equal(delivery_tlsa_parse(m, n, &t), DELIVERY_TLSA_SECURE);
	assert_int_equal(t.n, 2);
	assert_int_equal(t.rr[0].usage, 3);
	assert_int_equal(t.rr[0].len, 32);
	assert_int_equal(t.data[t.rr[0].off], 0xab);
	assert_int_equal(t.rr[1].mtype, 2);
	assert_int_equal(t.rr[1].len, 64);
	/* a SHA-256 record of the wrong length is dropped, full data kept */
	n = answer(m, 0xa0, rd + 2, len + 2, 2);
	assert_int_equal(delivery_tlsa_parse(m, n, &t), DELIVERY_TLSA_SECURE);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.dropped, 1);
	assert_int_equal(t.rr[0].len, 37);
	/* no AD: insecure, whatever the records */
	n = answer(m, 0x80, rd, len, 1);
	assert_int_equal(delivery_tlsa_parse(m, n, &t), DELIVERY_TLSA_INSECURE);
	/* authenticated denial: NXDOMAIN or NODATA with AD */
	n = answer(m, 0xa3, rd, len, 0);
	assert_int_equal(delivery_tlsa_parse(m, n, &t), DELIVERY_TLSA_DENIED);
	n = answer(m, 0xa0, rd, len, 0);
	assert_int_equal(delivery_tlsa_parse(m, n, &t), DELIVERY_TLSA_DENIED);
	/* SERVFAIL (bogus), truncation, a cut message, a short rdata: temporary */
	n = answer(m, 0x82, rd, len, 0);
	assert_int_equal(delivery_tlsa_parse(m, n, &t), DELIVERY_TLSA_TEMP);
	assert_string_equal(t.reason, "DNS error (RCODE 2)");
	n = answer(m, 0xa0, rd, len, 1);
	m[2] |= 0x02;
	assert_int_equal(delivery_tlsa_parse(m, n, &t), DELIVERY_TLSA_TEMP);
	n = answer(m, 0xa0, rd, len, 1);
	assert_int_equal(delivery_tlsa_parse(m, n - 1, &t), DELIVERY_TLSA_TEMP);
	len[0] = 3;
	n = answer(m, 0xa0, rd, len, 1);
	assert_int_equal(delivery_tlsa_parse(m, n, &t), DELIVERY_TLSA_TEMP);
	assert_int_equal(delivery_tlsa_parse(NULL, 0, &t), DELIVERY_TLSA_TEMP);
}

static void test_precedence(void **state)
{
	char   *d1[] = {"bank.test"}, *d2[] = {"gov.test"}, *d3[] = {"off.test"};
	struct delivery_tlspol_conf pols[] = {
		{{1, d1}, DELIVERY_TLS_VERIFY, DELIVERY_DANE_REQUIRED},
		{{1, d2}, DELIVERY_TLS_UNSET, DELIVERY_DANE_REQUIRED},
		{{1, d3}, DELIVERY_TLS_UNSET, DELIVERY_DANE_OFF},
	};
	struct delivery_conf c = {.smarthost = "",.tls_policy = DELIVERY_TLS_MAY,
		.dane = DELIVERY_DANE_MAY,.tls_policies = {3, pols}};
	struct delivery_route r;

	(void) state;
	/* an explicit level beats DANE: no DANE at all */
	assert_int_equal(delivery_route(&c, S("bank.test"), &r), 0);
	assert_int_equal(r.tls, DELIVERY_TLS_VERIFY);
	assert_true(r.explicit_tls);
	assert_int_equal(r.dane, DELIVERY_DANE_OFF);
	/* an entry with a DANE mode only: that mode over the default level */
	assert_int_equal(delivery_route(&c, S("gov.test"), &r), 0);
	assert_int_equal(r.tls, DELIVERY_TLS_MAY);
	assert_false(r.explicit_tls);
	assert_int_equal(r.dane, DELIVERY_DANE_REQUIRED);
	assert_int_equal(delivery_route(&c, S("off.test"), &r), 0);
	assert_int_equal(r.dane, DELIVERY_DANE_OFF);
	/* everything else: the global mode */
	assert_int_equal(delivery_route(&c, S("other.test"), &r), 0);
	assert_int_equal(r.dane, DELIVERY_DANE_MAY);
	assert_int_equal(r.tls, DELIVERY_TLS_MAY);
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tlsa_answers),
		cmocka_unit_test(test_precedence),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
