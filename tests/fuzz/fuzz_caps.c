/*
 * NAME
 *	fuzz_caps 1
 * SUMMARY
 *	libFuzzer target: the SMIMECapabilities decoder (a partner's signature)
 * DESCRIPTION
 *	The input is the value of an SMIMECapabilities attribute as a
 *	harvested signature carries it: worker__caps_parse() must return
 *	only known WORKER_CAP_* bits, and the same for the same bytes;
 *	worker__caps_put() of those bits must parse back to them.
 */

#include <stdlib.h>
#include <string.h>

#include "worker/worker_int.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

#define KNOWN (WORKER_CAP_AES256_GCM | WORKER_CAP_AES128_GCM | WORKER_CAP_AES256_CBC | \
	       WORKER_CAP_AES128_CBC | WORKER_CAP_OAEP_SHA256 | WORKER_CAP_OAEP_SHA1 | WORKER_CAP_RSA)

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	unsigned char *copy = malloc(len ? len : 1);
	struct sg_buf b = SG_BUF_INIT;
	unsigned caps;

	memcpy(copy, data, len);
	caps = worker__caps_parse(copy, len);
	if ((caps & ~KNOWN) || caps != worker__caps_parse(copy, len))
		abort();
	worker__caps_put(&b, caps);
	if (worker__caps_parse(b.data, b.len) != caps)
		abort();
	sg_buf_free(&b);
	free(copy);
	return (0);
}
