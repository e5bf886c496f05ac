/*
 * NAME
 *	test_mime 1
 * SUMMARY
 *	unit tests of worker/ MIME framing and encoders
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "worker/worker.h"

#define S(x) x, strlen(x)

static void buf_is(struct sg_buf *b, const char *want)
{
	sg_buf_putc(b, 0);
	b->len--;
	assert_string_equal(b->data, want);
}

static void test_canon(void **state)
{
	struct sg_buf b = SG_BUF_INIT;

	(void) state;
	worker_mime_canon(S("a\nb\r\nc\rd\n\n"), &b);
	buf_is(&b, "a\r\nb\r\nc\r\nd\r\n\r\n");
	sg_buf_free(&b);
}

/*
 * The byte-at-a-time definitions the word-at-a-time code in mime.c and
 * mime_enc.c must agree with, on random text made of the bytes that
 * matter (CR, LF, NUL, 8-bit) and plain ones, in runs long enough to
 * cross 8-byte words and the 998-octet line limit.
 */
static void ref_canon(const char *p, size_t len, struct sg_buf *out)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n')
			sg_buf_append(out, p + i++, 2);
		else if (p[i] == '\r' || p[i] == '\n')
			sg_buf_append(out, "\r\n", 2);
		else
			sg_buf_putc(out, p[i]);
	}
}

static bool ref_is_7bit(const char *p, size_t len)
{
	size_t	col = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) p[i];

		if (c == '\r' && i + 1 < len && p[i + 1] == '\n') {
			i++;
			col = 0;
		} else if (c == 0 || c >= 0x80 || c == '\r' || c == '\n' || ++col > 998) {
			return (false);
		}
	}
	return (true);
}

static void random_text(char *p, size_t len, unsigned *seed)
{
	static const char bytes[] = "\r\n\0\x80\xff" "ab";
	unsigned plain = rand_r(seed) % 4;	/* how rare the special bytes are */
	unsigned kinds = 1 + rand_r(seed) % 7;	/* which of them: a few only, often */
	unsigned first = rand_r(seed) % 7;

	for (size_t i = 0; i < len; i++)
		p[i] = rand_r(seed) % (plain * 40 + 1) ? 'x'
			: bytes[(first + rand_r(seed) % kinds) % 7];
}

static void test_fast_paths_agree(void **state)
{
	struct sg_buf a = SG_BUF_INIT, b = SG_BUF_INIT, ent = SG_BUF_INIT;
	unsigned seed = 42;
	char	text[2100];
	const char *head = "Content-Type: application/octet-stream\r\n\r\n";

	(void) state;
	for (int round = 0; round < 20000; round++) {
		size_t	len = (size_t) rand_r(&seed) % (round % 50 ? 40 : sizeof(text));

		random_text(text, len, &seed);
		sg_buf_reset(&a);
		sg_buf_reset(&b);
		worker_mime_canon(text, len, &a);
		ref_canon(text, len, &b);
		assert_int_equal(a.len, b.len);
		assert_memory_equal(a.data ? a.data : "", b.data ? b.data : "", a.len);
		/* a leaf is copied unchanged exactly when its body is 7-bit */
		sg_buf_reset(&ent);
		sg_buf_puts(&ent, head);
		sg_buf_append(&ent, text, len);
		sg_buf_reset(&a);
		assert_int_equal(worker_mime_to_7bit(ent.data, ent.len, &a), 0);
		assert_int_equal(a.len == ent.len && memcmp(a.data, ent.data, a.len) == 0,
				 ref_is_7bit(text, len));
	}
	sg_buf_free(&a);
	sg_buf_free(&b);
	sg_buf_free(&ent);
}

static void test_parse_entity(void **state)
{
	struct worker_mime_entity e;
	const char *m = "From: a@b.c\r\nContent-Type: Multipart/Signed;\r\n"
		" protocol=\"application/pkcs7-signature\"; micalg=sha-256;\r\n"
		"\tboundary=\"=-=x y=-=\" (comment)\r\n\r\nbody";

	(void) state;
	assert_int_equal(worker_mime_parse(S(m), &e), 0);
	assert_string_equal(e.type, "multipart");
	assert_string_equal(e.subtype, "signed");
	assert_string_equal(e.protocol, "application/pkcs7-signature");
	assert_string_equal(e.boundary, "=-=x y=-=");
	assert_int_equal(e.body_off, strlen(m) - 4);
	/* defaults, headers only */
	assert_int_equal(worker_mime_parse(S("Subject: x\r\n"), &e), 0);
	assert_string_equal(e.type, "text");
	assert_int_equal(e.body_off, e.len);
	/* strictness */
	assert_int_equal(worker_mime_parse(S("Content-Type: multipart/mixed\r\n\r\n"), &e), SG_EINVAL);
	assert_int_equal(worker_mime_parse(S("Content-Type: text/plain\r\nContent-type: text/html\r\n\r\n"), &e),
			 SG_EINVAL);
	assert_int_equal(worker_mime_parse(S("no colon here\r\n\r\n"), &e), SG_EINVAL);
	assert_int_equal(worker_mime_parse(S("A: b\nC: d\r\n\r\n"), &e), SG_EINVAL);
	assert_int_equal(worker_mime_parse(S("Content-Type: text\r\n\r\n"), &e), SG_EINVAL);
	assert_int_equal(worker_mime_parse(S("Content-Type: multipart/mixed; boundary=\"a\"; boundary=b\r\n\r\n"), &e),
			 SG_EINVAL);
}

static void test_parts(void **state)
{
	struct worker_mime_entity e;
	struct worker_mime_span p[4];
	size_t	n;
	const char *m = "Content-Type: multipart/mixed; boundary=BB\r\n\r\n"
		"preamble\r\n--BB\r\nA: 1\r\n\r\none\r\n\r\n--BBnot\r\n--BB  \r\n\r\ntwo\r\n--BB--\r\nepilogue\r\n";

	(void) state;
	assert_int_equal(worker_mime_parse(S(m), &e), 0);
	assert_int_equal(worker_mime_parts(&e, p, 4, &n), 0);
	assert_int_equal(n, 2);
	/* the CRLF before a delimiter is not part of the part */
	assert_memory_equal(m + p[0].off, "A: 1\r\n\r\none\r\n\r\n--BBnot", p[0].len);
	assert_int_equal(p[0].len, strlen("A: 1\r\n\r\none\r\n\r\n--BBnot"));
	assert_int_equal(p[1].len, strlen("\r\ntwo"));
	assert_int_equal(worker_mime_parts(&e, p, 1, &n), SG_ELIMIT);
	/* no close delimiter */
	m = "Content-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n\r\nx\r\n--BB\r\n";
	assert_int_equal(worker_mime_parse(S(m), &e), 0);
	assert_int_equal(worker_mime_parts(&e, p, 4, &n), SG_EINVAL);
}

static void test_7bit(void **state)
{
	struct sg_buf b = SG_BUF_INIT;
	const char *clean = "Content-Type: text/plain\r\n\r\nhello\r\n";
	const char *eight = "Content-Type: multipart/mixed; boundary=Q\r\n\r\n--Q\r\n"
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
		"gr\xc3\xbc\xc3\x9f= \r\nFrom me\r\n--Q\r\nContent-Type: application/octet-stream\r\n\r\n"
		"\x01\x02\xff\r\n--Q--\r\n";

	(void) state;
	assert_int_equal(worker_mime_to_7bit(S(clean), &b), 0);
	buf_is(&b, clean);
	sg_buf_reset(&b);
	assert_int_equal(worker_mime_to_7bit(S(eight), &b), 0);
	buf_is(&b, "Content-Type: multipart/mixed; boundary=Q\r\n\r\n--Q\r\n"
	       "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
	       "gr=C3=BC=C3=9F=3D=20\r\n=46rom me\r\n--Q\r\nContent-Type: application/octet-stream\r\n"
	       "Content-Transfer-Encoding: base64\r\n\r\nAQL/\r\n\r\n--Q--\r\n");
	sg_buf_reset(&b);
	/* a body claiming base64 but carrying 8-bit bytes is refused */
	assert_int_equal(worker_mime_to_7bit(S("Content-Transfer-Encoding: base64\r\n\r\n\xff\r\n"), &b),
			 SG_EINVAL);
	assert_int_equal(b.len, 0);
	sg_buf_free(&b);
}

static void test_split(void **state)
{
	struct sg_buf o = SG_BUF_INIT, e = SG_BUF_INIT;

	(void) state;
	assert_int_equal(worker_mime_split(S("From: a@b.c\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n"
					     "X-Res: spoof\r\nSubject: s\r\n\r\nbody\r\n"), "x-res", &o, &e), 0);
	buf_is(&o, "From: a@b.c\r\nSubject: s\r\n");
	buf_is(&e, "Content-Type: text/plain\r\n\r\nbody\r\n");
	sg_buf_free(&o);
	sg_buf_free(&e);
}

static void test_base64(void **state)
{
	struct sg_buf b = SG_BUF_INIT, d = SG_BUF_INIT;
	char	data[200];

	(void) state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char) (i * 7);
	for (size_t n = 0; n < sizeof(data); n += 13) {
		sg_buf_reset(&b);
		sg_buf_reset(&d);
		worker_mime_base64_encode(data, n, &b);
		assert_int_equal(worker_mime_base64_decode(b.data, b.len, &d), 0);
		assert_int_equal(d.len, n);
		assert_memory_equal(d.data, data, n);
	}
	sg_buf_reset(&d);
	assert_int_equal(worker_mime_base64_decode(S("aGk=\r\n"), &d), 0);
	assert_int_equal(d.len, 2);
	assert_int_equal(worker_mime_base64_decode(S("aGk=aGk="), &d), SG_EINVAL);
	assert_int_equal(worker_mime_base64_decode(S("aG!k"), &d), SG_EINVAL);
	assert_int_equal(worker_mime_base64_decode(S("aGk"), &d), SG_EINVAL);
	assert_int_equal(worker_mime_base64_decode(S("a=Gk"), &d), SG_EINVAL);
	assert_int_equal(d.len, 2);
	sg_buf_free(&b);
	sg_buf_free(&d);
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canon),
		cmocka_unit_test(test_fast_paths_agree),
		cmocka_unit_test(test_parse_entity),
		cmocka_unit_test(test_parts),
		cmocka_unit_test(test_7bit),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_base64),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
