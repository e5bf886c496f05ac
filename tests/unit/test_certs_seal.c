/*
 * NAME
 *	test_certs_seal 1
 * SUMMARY
 *	unit tests: sealing under a cluster key file
 * DESCRIPTION
 *	What certs_seal() seals, certs_unseal() opens with the same secret,
 *	byte for byte; with another secret, or with any byte changed, or cut
 *	short, it refuses (SG_ECRYPTO or SG_EINVAL) and gives nothing. Two
 *	seals of the same bytes differ (a fresh nonce each time). certs_mac()
 *	gives what an independent HMAC-SHA256 gives.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include <nss.h>

#include "certs/certs.h"

static const char secret[] = "c2VhbGdhdGUgY2x1c3RlciBrZXkgZm9yIHRlc3Rz";
static const char msg[] = "a PKCS#12 and its password";

static void test_round_trip(void **state)
{
	struct sg_buf a = SG_BUF_INIT, b = SG_BUF_INIT, out = SG_BUF_INIT;

	(void) state;
	assert_int_equal(certs_seal(secret, msg, sizeof(msg), &a), 0);
	assert_int_equal(a.len, 12 + sizeof(msg) + 16);
	assert_null(memmem(a.data, a.len, "PKCS#12", 7));
	assert_int_equal(certs_seal(secret, msg, sizeof(msg), &b), 0);
	assert_memory_not_equal(a.data, b.data, a.len);
	assert_int_equal(certs_unseal(secret, a.data, a.len, &out), 0);
	assert_int_equal(out.len, sizeof(msg));
	assert_memory_equal(out.data, msg, sizeof(msg));
	sg_buf_free(&a);
	sg_buf_free(&b);
	sg_buf_free(&out);
}

static void test_refused(void **state)
{
	struct sg_buf a = SG_BUF_INIT, out = SG_BUF_INIT;

	(void) state;
	assert_int_equal(certs_seal(secret, msg, sizeof(msg), &a), 0);
	assert_int_equal(certs_unseal("another key", a.data, a.len, &out), SG_ECRYPTO);
	for (size_t i = 0; i < a.len; i += 7) {
		a.data[i] ^= 1;
		assert_int_equal(certs_unseal(secret, a.data, a.len, &out), SG_ECRYPTO);
		a.data[i] ^= 1;
	}
	assert_int_equal(certs_unseal(secret, a.data, a.len - 1, &out), SG_ECRYPTO);
	assert_int_equal(certs_unseal(secret, a.data, 28, &out), SG_EINVAL);
	assert_int_equal(out.len, 0);
	assert_int_equal(certs_seal(secret, msg, 0, &out), SG_EINVAL);
	sg_buf_free(&a);
	sg_buf_free(&out);
}

/*
 * certs_mac(): HMAC-SHA256 keyed with SHA-256(label, secret); the value
 * Python's hmac gives for the same key and bytes, another for another
 * secret, head or data.
 */
static void test_mac(void **state)
{
	/* hmac.new(sha256(b"sealgate cluster row mac v1k1").digest(), b"headdata", sha256) */
	static const unsigned char want[32] = {
		0xdd, 0x65, 0x63, 0x16, 0xc2, 0x64, 0x5c, 0xee, 0x8a, 0x19, 0xfb, 0xa6, 0xd6, 0x0f,
		0x2c, 0x85, 0x35, 0xa3, 0x45, 0x7f, 0xc5, 0xd9, 0x34, 0x15, 0x04, 0x98, 0xd1, 0x59,
		0xa3, 0x7b, 0x22, 0xe0,
	};
	unsigned char a[32], b[32];

	(void) state;
	assert_int_equal(certs_mac("k1", "head", 4, "data", 4, a), 0);
	assert_memory_equal(a, want, 32);
	assert_int_equal(certs_mac("k1", "head", 4, "data", 4, b), 0);
	assert_memory_equal(a, b, 32);
	assert_int_equal(certs_mac("k2", "head", 4, "data", 4, b), 0);
	assert_memory_not_equal(a, b, 32);
	assert_int_equal(certs_mac("k1", "heae", 4, "data", 4, b), 0);
	assert_memory_not_equal(a, b, 32);
	assert_int_equal(certs_mac("k1", "head", 4, "datb", 4, b), 0);
	assert_memory_not_equal(a, b, 32);
	assert_int_equal(certs_mac("k1", "headd", 5, "ata", 3, b), 0);
	assert_memory_equal(a, b, 32);		/* one stream: where it splits is no matter */
	assert_int_equal(certs_mac("k1", "head", 4, NULL, 0, b), 0);
	assert_memory_not_equal(a, b, 32);
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_mac),
	};
	int	rc;

	if (NSS_NoDB_Init(NULL) != SECSuccess)
		return (1);
	rc = cmocka_run_group_tests_name("certs_seal", tests, NULL, NULL);
	NSS_Shutdown();
	return (rc);
}
