/*
 * NAME
 *	test_certs_seal 1
 * SUMMARY
 *	unit tests: sealing under a cluster key file
 * DESCRIPTION
 *	What certs_seal() seals, certs_unseal() opens with the same secret,
 *	byte for byte; with another secret, or with any byte changed, or cut
 *	short, it refuses (SG_ECRYPTO or SG_EINVAL) and gives nothing. Two
 *	seals of the same bytes differ (a fresh nonce each time).
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

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refused),
	};
	int	rc;

	if (NSS_NoDB_Init(NULL) != SECSuccess)
		return (1);
	rc = cmocka_run_group_tests_name("certs_seal", tests, NULL, NULL);
	NSS_Shutdown();
	return (rc);
}
