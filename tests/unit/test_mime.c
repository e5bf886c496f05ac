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

#include "test_cpu.h"

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
 * Text of bare CRs (what a decrypted message may hold: anyone can encrypt
 * to the gateway) costs time in proportion to its size. The canonical
 * copy used to search for an LF to the end at every bare CR: the two
 * texts of 512 KiB below took about 4 s here before, now a few ms.
 */
static void test_canon_linear(void **state)
{
	struct sg_buf b = SG_BUF_INIT;
	size_t	n = 512 * 1024;
	char   *text = sg_xmalloc(n);
	double	t0 = test_cpu_seconds();

	(void) state;
	memset(text, '\r', n);
	worker_mime_canon(text, n, &b);
	assert_int_equal(b.len, 2 * n);
	for (size_t i = 0; i < n; i += 2)
		memcpy(text + i, "a\r", 2);
	sg_buf_reset(&b);
	worker_mime_canon(text, n, &b);
	assert_int_equal(b.len, n + n / 2);
	assert_true(test_cpu_seconds() - t0 < 1.0);
	free(text);
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

/*
 * RFC 8551 3.1.1: before a detached signature a 7-bit body is protected
 * too: a relay may strip a blank at a line's end or write ">From ".
 */
static void test_protect(void **state)
{
	struct sg_buf b = SG_BUF_INIT, c = SG_BUF_INIT;
	const char *clean = "Content-Type: text/plain\r\n\r\nhello\r\nFrom-field\r\n";
	const char *blank = "Content-Type: text/plain\r\n\r\nline with blank \r\nFrom here\r\ntab\t\r\n";
	const char *qp = "Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
		"a=3Db \r\nFrom x=\r\ny\r\n";
	const char *xml = "Content-Type: multipart/mixed; boundary=Q\r\n\r\n--Q\r\n"
		"Content-Type: application/xml\r\n\r\n<a>\r\nFrom </a>\r\n--Q\r\n"
		"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGk=\r\n--Q--\r\n";

	(void) state;
	/* nothing to protect: byte for byte, as worker_mime_to_7bit() */
	assert_int_equal(worker_mime_protect(S(clean), &b), 0);
	buf_is(&b, clean);
	sg_buf_reset(&b);
	assert_int_equal(worker_mime_protect(S(blank), &b), 0);
	buf_is(&b, "Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
	       "line with blank=20\r\n=46rom here\r\ntab=09\r\n");
	/* the plain converter leaves it: only a detached signature needs this */
	sg_buf_reset(&c);
	assert_int_equal(worker_mime_to_7bit(S(blank), &c), 0);
	buf_is(&c, blank);
	/* its own fixed point */
	sg_buf_reset(&c);
	assert_int_equal(worker_mime_protect(b.data, b.len, &c), 0);
	assert_int_equal(c.len, b.len);
	assert_memory_equal(c.data, b.data, b.len);
	/* quoted-printable text: decoded (blank dropped, soft break joined), encoded again */
	sg_buf_reset(&b);
	assert_int_equal(worker_mime_protect(S(qp), &b), 0);
	buf_is(&b, "Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
	       "a=3Db\r\n=46rom xy\r\n");
	/* other types in identity encoding: base64; base64 stays as it is */
	sg_buf_reset(&b);
	assert_int_equal(worker_mime_protect(S(xml), &b), 0);
	buf_is(&b, "Content-Type: multipart/mixed; boundary=Q\r\n\r\n--Q\r\n"
	       "Content-Type: application/xml\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	       "PGE+DQpGcm9tIDwvYT4=\r\n\r\n--Q\r\n"
	       "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGk=\r\n--Q--\r\n");
	sg_buf_free(&b);
	sg_buf_free(&c);
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

/*
 * Long lines (mime_legal.c). Helpers: a line of n octets (with a space
 * every 80 when words is set, 8-bit when utf8 is), a quoted-printable
 * decoder, and the checks every result must pass: no line over 998
 * octets, and a second pass changes nothing.
 */
static void put_line(struct sg_buf *b, size_t n, bool words, bool utf8)
{
	for (size_t i = 0; i < n;) {
		if (utf8 && n - i >= 2) {
			sg_buf_append(b, "\xc3\xa4", 2);	/* a-umlaut */
			i += 2;
		} else {
			sg_buf_putc(b, words && i % 80 == 79 ? ' ' : 'a' + (int) (i % 26));
			i++;
		}
	}
}

static int hexval(char c)
{
	return (c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1);
}

static void qp_decode(const char *p, size_t len, struct sg_buf *out)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != '=') {
			sg_buf_putc(out, p[i]);
		} else if (i + 2 < len && p[i + 1] == '\r' && p[i + 2] == '\n') {
			i += 2;
		} else {
			assert_true(i + 2 < len && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0);
			sg_buf_putc(out, hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
			i += 2;
		}
	}
}

static void legal_ok(const struct sg_buf *b)
{
	struct sg_buf again = SG_BUF_INIT;
	unsigned how = 1;
	size_t	col = 0;

	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] == '\n') {
			assert_true(i > 0 && b->data[i - 1] == '\r');
			col = 0;
		} else if (b->data[i] != '\r' && ++col > 998) {
			fail_msg("a line over 998 octets at %zu", i);
		}
	}
	assert_false(worker_mime_long(b->data, b->len));
	assert_int_equal(worker_mime_legal(b->data, b->len, &again, &how), 0);
	assert_int_equal(how, 0);
	assert_int_equal(again.len, b->len);
	assert_memory_equal(again.data, b->data, b->len);
	sg_buf_free(&again);
}

/* body_of - the body after the first empty line at or after from */

static const char *body_of(const struct sg_buf *b, const char *from)
{
	const char *at = memmem(from, b->len - (size_t) (from - b->data), "\r\n\r\n", 4);

	assert_non_null(at);
	return (at + 4);
}

static void test_legal_unchanged(void **state)
{
	struct sg_buf in = SG_BUF_INIT, out = SG_BUF_INIT;
	unsigned how = 7;

	(void) state;
	assert_false(worker_mime_long(S("")));
	sg_buf_puts(&in, "Subject: x\r\n\r\n");
	put_line(&in, 998, false, false);
	sg_buf_puts(&in, "\r\n");
	put_line(&in, 998, false, true);	/* last line, no CRLF */
	assert_false(worker_mime_long(in.data, in.len));
	assert_int_equal(worker_mime_legal(in.data, in.len, &out, &how), 0);
	assert_int_equal(how, 0);
	assert_int_equal(out.len, in.len);
	assert_memory_equal(out.data, in.data, in.len);
	/* one octet more, without a line end: too long */
	sg_buf_putc(&in, 'z');
	assert_true(worker_mime_long(in.data, in.len));
	sg_buf_reset(&out);
	assert_int_equal(worker_mime_legal(S(""), &out, NULL), 0);
	assert_int_equal(out.len, 0);
	sg_buf_free(&in);
	sg_buf_free(&out);
}

/* A message without MIME header fields: they are added, the body is QP. */
static void test_legal_plain_message(void **state)
{
	static const struct {
		bool	utf8;
		const char *bad;		/* an invalid byte, or NULL */
		const char *charset;
	} cases[] = {
		{false, NULL, "us-ascii"}, {true, NULL, "utf-8"}, {true, "\xff", "unknown-8bit"},
	};

	(void) state;
	for (size_t k = 0; k < SG_NELEM(cases); k++) {
		struct sg_buf in = SG_BUF_INIT, out = SG_BUF_INIT, text = SG_BUF_INIT,
			dec = SG_BUF_INIT, head = SG_BUF_INIT;
		unsigned how;

		put_line(&text, 1500, false, cases[k].utf8);
		if (cases[k].bad)
			sg_buf_puts(&text, cases[k].bad);
		sg_buf_puts(&text, "\r\n.leading dot\r\nFrom me\r\n");
		sg_buf_puts(&in, "Received: from x\r\nFrom: a@own.test\r\nSubject: invoice\r\n\r\n");
		sg_buf_append(&in, text.data, text.len);
		assert_int_equal(worker_mime_legal(in.data, in.len, &out, &how), 0);
		assert_int_equal(how, WORKER_LEGAL_QP);
		sg_buf_printf(&head, "Received: from x\r\nFrom: a@own.test\r\nSubject: invoice\r\n"
			      "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=%s\r\n"
			      "Content-Transfer-Encoding: quoted-printable\r\n\r\n", cases[k].charset);
		assert_true(out.len > head.len);
		assert_memory_equal(out.data, head.data, head.len);
		qp_decode(out.data + head.len, out.len - head.len, &dec);
		assert_int_equal(dec.len, text.len);
		assert_memory_equal(dec.data, text.data, text.len);
		legal_ok(&out);
		/* and signing's 7-bit conversion has nothing left to do */
		sg_buf_reset(&dec);
		assert_int_equal(worker_mime_to_7bit(out.data, out.len, &dec), 0);
		assert_int_equal(dec.len, out.len);
		sg_buf_free(&in);
		sg_buf_free(&out);
		sg_buf_free(&text);
		sg_buf_free(&dec);
		sg_buf_free(&head);
	}
}

/* Long header fields: folded at white space, else broken as Postfix does. */
static void test_legal_headers(void **state)
{
	struct sg_buf in = SG_BUF_INIT, out = SG_BUF_INIT, v = SG_BUF_INIT;
	const char *p;
	unsigned how;

	(void) state;
	sg_buf_puts(&in, "Subject: ");
	put_line(&v, 2500, true, false);
	sg_buf_append(&in, v.data, v.len);
	sg_buf_puts(&in, "\r\nContent-Type: text/plain\r\n\r\nbody\r\n");
	assert_int_equal(worker_mime_legal(in.data, in.len, &out, &how), 0);
	assert_int_equal(how, WORKER_LEGAL_FOLDED);
	legal_ok(&out);
	/* unfolding (dropping each CRLF before white space) gives the field back */
	sg_buf_reset(&v);
	for (size_t i = 0; i < out.len; i++)
		if (!(out.data[i] == '\r' && i + 2 < out.len && out.data[i + 2] == ' '))
			sg_buf_putc(&v, out.data[i]);
		else
			i++;
	assert_int_equal(v.len, in.len);
	assert_memory_equal(v.data, in.data, in.len);
	assert_string_equal(body_of(&out, out.data), "body\r\n");
	/*
	 * White space only after the name: folded there, then broken with
	 * CRLF SP, never inside a UTF-8 sequence.
	 */
	sg_buf_reset(&in);
	sg_buf_reset(&out);
	sg_buf_puts(&in, "X-Ref: ");
	put_line(&in, 3000, false, true);
	sg_buf_puts(&in, "\r\n\r\nbody\r\n");
	assert_int_equal(worker_mime_legal(in.data, in.len, &out, &how), 0);
	assert_int_equal(how, WORKER_LEGAL_FOLDED | WORKER_LEGAL_BROKEN);
	assert_memory_equal(out.data, "X-Ref:\r\n \xc3\xa4", 11);
	legal_ok(&out);
	for (p = out.data; (p = memmem(p, out.len - (size_t) (p - out.data), "\r\n ", 3)); p += 3)
		assert_int_not_equal((unsigned char) p[3] & 0xc0, 0x80);
	sg_buf_free(&in);
	sg_buf_free(&out);
	sg_buf_free(&v);
}

/* find - s in b at or after from, or NULL */

static const char *find(const struct sg_buf *b, const char *from, const char *s)
{
	return (memmem(from, b->len - (size_t) (from - b->data), s, strlen(s)));
}

/*
 * A nested multipart: short parts byte for byte, long text QP, long
 * non-text base64, parts already QP or base64 re-wrapped with the same
 * content, a message/rfc822 followed inside, message/partial broken.
 */
static void test_legal_multipart(void **state)
{
	struct sg_buf in = SG_BUF_INIT, out = SG_BUF_INIT, line = SG_BUF_INIT, dec = SG_BUF_INIT,
		qp = SG_BUF_INIT;
	const char *short_part = "--A\r\nContent-Type: text/plain\r\n\r\nshort\r\n";
	const char *p, *q;
	unsigned how;

	(void) state;
	put_line(&line, 1200, true, true);
	for (size_t i = 0; i < line.len; i++)	/* a QP body with one long line */
		sg_buf_printf(&qp, "=%02X", (unsigned char) line.data[i]);
	sg_buf_puts(&in, "From: a@own.test\r\nMIME-Version: 1.0\r\n"
		    "Content-Type: multipart/mixed; boundary=A\r\n\r\npreamble\r\n");
	sg_buf_puts(&in, short_part);
	sg_buf_puts(&in, "--A\r\nContent-Type: multipart/alternative; boundary=B\r\n\r\n--B\r\n"
		    "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
		    "X-After: kept\r\n\r\n");
	sg_buf_append(&in, line.data, line.len);
	sg_buf_puts(&in, "\r\n--B--\r\n\r\n--A\r\nContent-Type: application/xml\r\n\r\n");
	sg_buf_append(&in, line.data, line.len);
	sg_buf_puts(&in, "\r\n--A\r\nContent-Type: text/plain\r\n"
		    "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	sg_buf_append(&in, qp.data, qp.len);
	sg_buf_puts(&in, "\r\n--A\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\n");
	sg_buf_append(&in, line.data, line.len);
	sg_buf_puts(&in, "\r\n--A\r\nContent-Type: message/partial; id=x; number=1\r\n\r\n");
	sg_buf_append(&in, line.data, line.len);
	sg_buf_puts(&in, "\r\n--A--\r\nepilogue\r\n");
	assert_int_equal(worker_mime_legal(in.data, in.len, &out, &how), 0);
	assert_int_equal(how, WORKER_LEGAL_QP | WORKER_LEGAL_BASE64 | WORKER_LEGAL_REWRAPPED
			 | WORKER_LEGAL_BROKEN);
	legal_ok(&out);
	/* the outer header, the preamble and the short part are as they were */
	p = find(&in, in.data, "--A\r\nContent-Type: multipart/alternative");
	assert_memory_equal(out.data, in.data, (size_t) (p - in.data));
	/* html: QP, its other fields kept in order, the CTE field last */
	q = "--B\r\nContent-Type: text/html; charset=utf-8\r\nX-After: kept\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n";
	assert_non_null(p = find(&out, out.data, q));
	p += strlen(q);
	qp_decode(p, (size_t) (find(&out, p, "\r\n--B--") - p), &dec);
	assert_int_equal(dec.len, line.len);
	assert_memory_equal(dec.data, line.data, line.len);
	/* xml: base64 */
	q = "Content-Type: application/xml\r\nContent-Transfer-Encoding: base64\r\n\r\n";
	assert_non_null(p = find(&out, out.data, q));
	p += strlen(q);
	sg_buf_reset(&dec);
	assert_int_equal(worker_mime_base64_decode(p, (size_t) (find(&out, p, "--A") - p), &dec), 0);
	assert_int_equal(dec.len, line.len);
	assert_memory_equal(dec.data, line.data, line.len);
	/* the QP part: soft breaks only, the same encoded text */
	q = "Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n";
	assert_non_null(p = find(&out, out.data, q));
	p += strlen(q);
	q = find(&out, p, "\r\n--A");
	sg_buf_reset(&dec);
	for (const char *c = p; c < q; c++)
		if (c + 2 < q && c[0] == '=' && c[1] == '\r')
			c += 2;
		else
			sg_buf_putc(&dec, *c);
	assert_int_equal(dec.len, qp.len);
	assert_memory_equal(dec.data, qp.data, qp.len);
	/* the enclosed message got its MIME fields */
	assert_non_null(find(&out, out.data, "Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n"
			     "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
			     "Content-Transfer-Encoding: quoted-printable\r\n\r\n"));
	/* message/partial may not be encoded: broken with CRLF SP */
	assert_non_null(p = find(&out, out.data, "number=1\r\n\r\n"));
	assert_non_null(find(&out, p, "\r\n "));
	assert_memory_equal(out.data + out.len - 19, "\r\n--A--\r\nepilogue\r\n", 19);
	sg_buf_free(&in);
	sg_buf_free(&out);
	sg_buf_free(&line);
	sg_buf_free(&dec);
	sg_buf_free(&qp);
}

/* What does not parse is folded (header) and broken (the rest), never lost. */
static void test_legal_unparsed(void **state)
{
	struct sg_buf in = SG_BUF_INIT, out = SG_BUF_INIT, back = SG_BUF_INIT;
	unsigned how;

	(void) state;
	sg_buf_puts(&in, "Content-Type: multipart/mixed; boundary=Z\r\n\r\n--Z\r\n\r\n");
	put_line(&in, 5000, false, false);
	sg_buf_puts(&in, "\r\n");		/* no close delimiter */
	assert_int_equal(worker_mime_legal(in.data, in.len, &out, &how), 0);
	assert_int_equal(how, WORKER_LEGAL_BROKEN);
	legal_ok(&out);
	for (size_t i = 0; i < out.len; i++)
		if (out.data[i] == '\r' && i + 2 < out.len && out.data[i + 2] == ' ')
			i += 2;
		else
			sg_buf_putc(&back, out.data[i]);
	assert_int_equal(back.len, in.len);
	assert_memory_equal(back.data, in.data, in.len);
	sg_buf_free(&in);
	sg_buf_free(&out);
	sg_buf_free(&back);
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canon),
		cmocka_unit_test(test_canon_linear),
		cmocka_unit_test(test_fast_paths_agree),
		cmocka_unit_test(test_parse_entity),
		cmocka_unit_test(test_parts),
		cmocka_unit_test(test_7bit),
		cmocka_unit_test(test_protect),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_legal_unchanged),
		cmocka_unit_test(test_legal_plain_message),
		cmocka_unit_test(test_legal_headers),
		cmocka_unit_test(test_legal_multipart),
		cmocka_unit_test(test_legal_unparsed),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
