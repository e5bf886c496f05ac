/*
 * NAME
 *	fuzz_rfc2047 1
 * SUMMARY
 *	libFuzzer target: sg_rfc2047_decode() on any header value
 * DESCRIPTION
 *	The first byte picks the output size (0 to 255), the rest is the
 *	header value, copied without slack so that a read past its length
 *	trips ASan. The output must stay inside its buffer (the bytes after
 *	it are checked untouched), be NUL-terminated at the returned length,
 *	be well-formed UTF-8 and hold no control character: the tracking
 *	record and every listing rely on that.
 */

#include <stdlib.h>
#include <string.h>

#include "common/sg.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void check_text(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t	k;

		if (s[i] < 0x20 || s[i] == 0x7f)
			abort();
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((k = sg_utf8_len(s + i, n - i)) == 0)
			abort();
		i += k;
	}
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	unsigned char out[256 + 16];
	size_t	outlen, n;
	char   *in;

	if (len < 1)
		return (0);
	outlen = data[0];
	in = malloc(len - 1 ? len - 1 : 1);
	memcpy(in, data + 1, len - 1);
	memset(out, 0xa5, sizeof(out));
	n = sg_rfc2047_decode(in, len - 1, (char *) out, outlen);
	if (outlen == 0 ? n != 0 : (n >= outlen || out[n] != 0))
		abort();
	for (size_t i = outlen; i < sizeof(out); i++)
		if (out[i] != 0xa5)
			abort();
	check_text(out, n);
	free(in);
	return (0);
}
