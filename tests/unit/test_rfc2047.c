/*
 * NAME
 *	test_rfc2047 1
 * SUMMARY
 *	unit tests of sg_rfc2047_decode(): encoded-words to UTF-8, bounded
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/sg.h"

static const struct {
	const char *in;
	const char *want;
} cases[] = {
	/* plain text passes; control bytes become spaces */
	{"invoice 42", "invoice 42"},
	{"", ""},
	{"a\tb", "a b"},
	/* Q and B, both cases of the letter, the common charsets directly */
	{"=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=", "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln"},
	{"=?utf-8?b?R3LDvMOfZQ==?=", "Gr\xc3\xbc\xc3\x9f" "e"},
	{"=?ISO-8859-1?Q?caf=E9?=", "caf\xc3\xa9"},
	{"=?iso-8859-15?q?=A4_5?=", "\xe2\x82\xac 5"},
	{"=?windows-1252?Q?=80_=96_x?=", "\xe2\x82\xac \xe2\x80\x93 x"},
	{"=?us-ascii?Q?plain?=", "plain"},
	/* RFC 2047 6.2: white space between encoded-words goes, around them stays */
	{"=?UTF-8?Q?a?= =?UTF-8?Q?b?=", "ab"},
	{"=?UTF-8?Q?a?=\t  =?UTF-8?Q?b?= c", "ab c"},
	{"x =?UTF-8?Q?a?= y", "x a y"},
	{"=?UTF-8?Q?a?= x =?UTF-8?Q?b?=", "a x b"},
	/* RFC 2231 language suffix */
	{"=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore"},
	/* other charsets through iconv */
	{"=?ISO-8859-2?Q?=B1?=", "\xc4\x85"},
	{"=?KOI8-R?B?8NLJ18XU?=", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"},
	/* unknown charset, bad base64, unterminated: kept as written */
	{"=?x-nonesuch?Q?abc?=", "=?x-nonesuch?Q?abc?="},
	{"=?UTF-8?B?!!!?=", "=?UTF-8?B?!!!?="},
	{"=?UTF-8?Q?open", "=?UTF-8?Q?open"},
	{"=?UTF-8?X?abc?=", "=?UTF-8?X?abc?="},
	{"=??Q?abc?=", "=??Q?abc?="},
	/* decoded control bytes and NUL become spaces; bad UTF-8 in a word U+FFFD */
	{"=?UTF-8?Q?a=00b=0Ac?=", "a b c"},
	{"=?UTF-8?Q?=FF?=", "\xef\xbf\xbd"},
	/* raw 8-bit: UTF-8 kept, anything else read as Windows-1252 */
	{"caf\xc3\xa9", "caf\xc3\xa9"},
	{"caf\xe9 \x80", "caf\xc3\xa9 \xe2\x82\xac"},
	/* a word with a space inside is no word */
	{"=?UTF-8?Q?a b?=", "=?UTF-8?Q?a b?="},
};

static void test_table(void **state)
{
	char	out[256];

	(void) state;
	for (size_t i = 0; i < SG_NELEM(cases); i++) {
		size_t	n = sg_rfc2047_decode(cases[i].in, strlen(cases[i].in), out, sizeof(out));

		if (strcmp(out, cases[i].want) != 0)
			fail_msg("case %zu: \"%s\" gave \"%s\", want \"%s\"", i, cases[i].in, out,
				 cases[i].want);
		assert_int_equal(n, strlen(out));
	}
}

/* the output is cut between characters, never past outlen - 1 */
static void test_bounds(void **state)
{
	static const char in[] = "=?UTF-8?Q?=C3=A4=C3=B6=C3=BC?=";
	char	out[8];

	(void) state;
	memset(out, 'x', sizeof(out));
	assert_int_equal(sg_rfc2047_decode(in, strlen(in), out, 6), 4);
	assert_string_equal(out, "\xc3\xa4\xc3\xb6");
	assert_int_equal(out[6], 'x');
	assert_int_equal(sg_rfc2047_decode(in, strlen(in), out, 2), 0);
	assert_string_equal(out, "");
	assert_int_equal(sg_rfc2047_decode(in, strlen(in), out, 1), 0);
	assert_int_equal(sg_rfc2047_decode(in, strlen(in), out, 0), 0);
	/* explicit length: the word is cut by len, so it is no word */
	assert_int_equal(sg_rfc2047_decode(in, 12, out, sizeof(out)), 7);
	assert_string_equal(out, "=?UTF-8");
}

/* a word longer than SG_RFC2047_WORD_MAX is left as text */
static void test_long_word(void **state)
{
	struct sg_buf in = SG_BUF_INIT;
	char   *out = malloc(4 * SG_RFC2047_WORD_MAX);
	size_t	n;

	(void) state;
	sg_buf_puts(&in, "=?UTF-8?Q?");
	for (int i = 0; i < SG_RFC2047_WORD_MAX + 1; i++)
		sg_buf_putc(&in, 'a');
	sg_buf_puts(&in, "?=");
	n = sg_rfc2047_decode(in.data, in.len, out, 4 * SG_RFC2047_WORD_MAX);
	assert_int_equal(n, in.len);
	assert_memory_equal(out, "=?UTF-8?Q?aaa", 13);
	sg_buf_free(&in);
	free(out);
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_long_word),
	};

	return (cmocka_run_group_tests_name("rfc2047", tests, NULL, NULL));
}
