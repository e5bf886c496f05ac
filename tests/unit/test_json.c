/*
 * NAME
 *	test_json 1
 * SUMMARY
 *	unit tests of JSON strings: sg_buf_json() and sealctl_out_json()
 * DESCRIPTION
 *	sg_buf_json() (common/mem.c) is the one escaper of untrusted text
 *	into JSON; sealctl's listing writer has a faster copy of its rules
 *	(cmd/sealctl_json.c, eight bytes at a time, in slices of its
 *	buffer). Known inputs give the expected bytes, and the two agree on
 *	random strings of every byte value, through a buffer small enough
 *	that every string crosses slices.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cmd/sealctl.h"

static void check(const char *in, size_t len, const char *want)
{
	struct sg_buf b = SG_BUF_INIT;

	sg_buf_json(&b, in, len);
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);
	sg_buf_free(&b);
}

static void test_known(void **state)
{
	(void) state;
	check("", 0, "\"\"");
	check("plain text", 10, "\"plain text\"");
	check("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
	check("\n\t\x01\x7f", 4, "\"\\u000a\\u0009\\u0001\\u007f\"");
	check("Gr\xc3\xbc\xc3\x9f" "e", 7, "\"Gr\xc3\xbc\xc3\x9f" "e\"");	/* UTF-8 kept */
	check("\xc3(\xff\xed\xa0\x80", 6, "\"\\u00c3(\\u00ff\\u00ed\\u00a0\\u0080\"");	/* not UTF-8 */
	check("a\0b", 3, "\"a\\u0000b\"");	/* the length counts, not a NUL */
}

/* out_json - what sealctl_out_json() writes through a 64-byte buffer */

static void out_json(const char *in, size_t len, struct sg_buf *got)
{
	char   *mem = NULL, buf[64];
	size_t	n = 0;
	FILE   *fp = open_memstream(&mem, &n);
	struct sealctl_out o;

	assert_non_null(fp);
	sealctl_out_init(&o, fp, buf, sizeof(buf));
	sealctl_out_json(&o, in, len);
	assert_int_equal(sealctl_out_flush(&o), 0);
	fclose(fp);
	sg_buf_append(got, mem, n);
	free(mem);
}

static void test_fast_copy_agrees(void **state)
{
	static const unsigned char pick[] = {'a', 'Z', ' ', '"', '\\', '\n', 0, 0x7f, 0xc3, 0xbc,
		0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80, 0xff, 0x80};
	unsigned seed = 17;

	(void) state;
	for (int round = 0; round < 20000; round++) {
		char	in[200];
		size_t	len = (size_t) (rand_r(&seed) % sizeof(in));
		struct sg_buf want = SG_BUF_INIT, got = SG_BUF_INIT;

		for (size_t i = 0; i < len; i++)
			in[i] = (char) (rand_r(&seed) % 3 ? pick[rand_r(&seed) % sizeof(pick)]
					: rand_r(&seed) & 0xff);
		sg_buf_json(&want, in, len);
		out_json(in, len, &got);
		assert_int_equal(got.len, want.len);
		assert_memory_equal(got.data, want.data, want.len);
		sg_buf_free(&want);
		sg_buf_free(&got);
	}
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known),
		cmocka_unit_test(test_fast_copy_agrees),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
