/*
 * NAME
 *	mime_enc 3
 * SUMMARY
 *	7-bit conversion, message/entity split, base64 and quoted-printable
 * SYNOPSIS
 *	#include "worker/worker.h"
 *
 *	int	worker_mime_to_7bit(p, len, out)
 *
 *	int	worker_mime_protect(p, len, out)
 *
 *	int	worker_mime_split(p, len, drop, outer, entity)
 *
 *	void	worker_mime_base64_encode(p, len, out)
 *
 *	int	worker_mime_base64_decode(p, len, out)
 *
 *	void	worker_mime_qp_encode(p, len, out)
 * DESCRIPTION
 *	worker_mime_to_7bit() appends a canonical entity to out such that no
 *	hop can change it any more: every leaf whose body has 8-bit bytes, NUL
 *	or lines over 998 octets is re-encoded, text as quoted-printable and
 *	everything else as base64, with its Content-Transfer-Encoding field
 *	replaced. Multiparts and message/rfc822 are followed to
 *	WORKER_MIME_DEPTH. An entity that needs nothing is copied unchanged,
 *	byte for byte.
 *
 *	worker_mime_protect() does the same and, for a detached signature,
 *	also protects what RFC 8551 section 3.1.1 names: a leaf body with a
 *	line that ends in white space or begins with "From " is re-encoded
 *	even when it is 7-bit, because relays strip trailing blanks and
 *	mailbox writers turn "From " into ">From ". Text in an identity
 *	encoding becomes quoted-printable (=20 or =09 at a line's end,
 *	=46rom), other types base64, and quoted-printable text is decoded
 *	and encoded again (which keeps its meaning: decoders drop trailing
 *	white space anyway). Base64 bodies have neither problem.
 *
 *	worker_mime_split() separates a message into the header fields that
 *	stay outside S/MIME (outer: From, To, Subject, ...) and the MIME
 *	entity that is signed or encrypted (entity: the Content-* fields, the
 *	empty line, the body). MIME-Version is dropped (the caller writes its
 *	own), and so is every field named drop (NULL: none).
 *
 *	The base64 encoder writes 76-column CRLF lines; the decoder skips
 *	white space and rejects anything else that is not base64, data after
 *	padding included.
 * DIAGNOSTICS
 *	SG_EINVAL for malformed input, SG_ELIMIT for nesting too deep,
 *	SG_EUNSUPPORTED for an unknown transfer encoding on 8-bit content.
 */

#include <string.h>
#include <strings.h>

#include "worker.h"

#define LINE_MAX_OCTETS	998

/* ascii_line - no NUL, no 8-bit byte, no LF in p[0..n): eight bytes a step */

static bool ascii_line(const char *p, size_t n)
{
	size_t	i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t v;

		memcpy(&v, p + i, 8);
		if ((v & SG_TOPS) | sg_zero_byte(v) | sg_byte_is(v, '\n'))
			return (false);
	}
	for (; i < n; i++)
		if (p[i] == 0 || (unsigned char) p[i] >= 0x80 || p[i] == '\n')
			return (false);
	return (true);
}

/* is_7bit - no 8-bit byte, no NUL, no bare CR or LF, no over-long line */

static bool is_7bit(const char *p, size_t len)
{
	const char *end = p + len, *cr;

	for (; p < end; p = cr + 2) {
		cr = memchr(p, '\r', (size_t) (end - p));
		if ((size_t) ((cr ? cr : end) - p) > LINE_MAX_OCTETS
		    || !ascii_line(p, (size_t) ((cr ? cr : end) - p)))
			return (false);
		if (cr == NULL)
			return (true);		/* the last line, without CRLF */
		if (cr + 1 == end || cr[1] != '\n')
			return (false);		/* a bare CR */
	}
	return (true);
}

/*
 * unsafe_lines - a line (CRLF-separated) that ends in a blank or begins
 * with "From ": what a hop may change in a 7-bit body (RFC 8551 3.1.1)
 */
static bool unsafe_lines(const char *p, size_t len)
{
	const char *end = p + len, *cr;

	for (; p < end; p = cr + 2) {
		cr = memchr(p, '\r', (size_t) (end - p));
		const char *e = cr ? cr : end;

		if (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			return (true);
		if (e - p >= 5 && memcmp(p, "From ", 5) == 0)
			return (true);
		if (cr == NULL || cr + 1 == end)
			break;
	}
	return (false);
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	return (-1);
}

/*
 * qp_decode - quoted-printable to octets, leniently as RFC 2045 6.7
 * advises: trailing white space dropped, "=" CRLF joins lines, an "="
 * not followed by two hex digits is kept as it stands.
 */
static void qp_decode(const char *p, size_t len, struct sg_buf *out)
{
	const char *end = p + len;

	while (p < end) {
		const char *cr = memchr(p, '\r', (size_t) (end - p));
		const char *e = cr && cr + 1 < end && cr[1] == '\n' ? cr : end;
		const char *t = e;
		bool	soft = false;

		while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if (t > p && t[-1] == '=') {
			soft = true;
			t--;
		}
		for (const char *q = p; q < t; q++) {
			int	hi, lo;

			if (*q == '=' && t - q >= 3 && (hi = hexval((unsigned char) q[1])) >= 0
			    && (lo = hexval((unsigned char) q[2])) >= 0) {
				sg_buf_putc(out, hi << 4 | lo);
				q += 2;
			} else
				sg_buf_putc(out, *q);
		}
		if (e == end)
			break;
		if (!soft)
			sg_buf_append(out, "\r\n", 2);
		p = e + 2;
	}
}

/* put_headers - the entity's header fields except Content-Transfer-Encoding */

static void put_headers(const struct worker_mime_entity *e, struct sg_buf *out)
{
	struct worker_mime_field f;
	size_t	pos = 0;

	while (worker_mime_field_next(e->p, e->hdr_len, &pos, &f) == 0)
		if (!worker_mime_field_is(&f, "Content-Transfer-Encoding"))
			sg_buf_append(out, e->p + f.off, f.len);
}

static int to_7bit(const char *p, size_t len, struct sg_buf *out, int depth, bool protect);

static int multipart_7bit(const struct worker_mime_entity *e, struct sg_buf *out, int depth,
			  bool protect)
{
	struct worker_mime_span parts[WORKER_MIME_PARTS];
	size_t	n, at;
	int	rc;

	if (e->cte != WORKER_CTE_7BIT && e->cte != WORKER_CTE_8BIT && e->cte != WORKER_CTE_BINARY)
		return (SG_EINVAL);		/* RFC 2045 6.4: never encoded */
	if ((rc = worker_mime_parts(e, parts, SG_NELEM(parts), &n)) < 0)
		return (rc);
	put_headers(e, out);
	sg_buf_append(out, "\r\n", 2);
	at = e->body_off;
	for (size_t i = 0; i < n; i++) {
		sg_buf_append(out, e->p + at, parts[i].off - at);
		if ((rc = to_7bit(e->p + parts[i].off, parts[i].len, out, depth + 1, protect)) < 0)
			return (rc);
		at = parts[i].off + parts[i].len;
	}
	sg_buf_append(out, e->p + at, e->len - at);
	return (0);
}

static int message_7bit(const struct worker_mime_entity *e, struct sg_buf *out, int depth,
			bool protect)
{
	if (e->cte != WORKER_CTE_7BIT && e->cte != WORKER_CTE_8BIT && e->cte != WORKER_CTE_BINARY)
		return (SG_EINVAL);
	put_headers(e, out);
	sg_buf_append(out, "\r\n", 2);
	return (to_7bit(e->p + e->body_off, e->len - e->body_off, out, depth + 1, protect));
}

/*
 * requote - a quoted-printable body with an unsafe line, decoded and
 * encoded again: text as quoted-printable, anything else as base64
 */
static void requote(const struct worker_mime_entity *e, bool text, struct sg_buf *out)
{
	struct sg_buf raw = SG_BUF_INIT;

	qp_decode(e->p + e->body_off, e->len - e->body_off, &raw);
	put_headers(e, out);
	sg_buf_puts(out, text ? "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		    : "Content-Transfer-Encoding: base64\r\n\r\n");
	if (text)
		worker_mime_qp_encode(raw.data ? raw.data : "", raw.len, out);
	else
		worker_mime_base64_encode(raw.data, raw.len, out);
	sg_buf_free(&raw);
}

static int leaf_7bit(const struct worker_mime_entity *e, struct sg_buf *out, bool protect)
{
	const char *body = e->p + e->body_off;
	size_t	blen = e->len - e->body_off;
	bool	text = strcmp(e->type, "text") == 0;

	if (is_7bit(body, blen)) {
		if (!protect || e->cte == WORKER_CTE_BASE64 || e->cte == WORKER_CTE_OTHER
		    || !unsafe_lines(body, blen)) {
			sg_buf_append(out, e->p, e->len);	/* 8-bit header text is kept */
			return (0);
		}
		if (e->cte == WORKER_CTE_QP) {
			requote(e, text, out);
			return (0);
		}
	} else {
		if (e->cte == WORKER_CTE_QP || e->cte == WORKER_CTE_BASE64)
			return (SG_EINVAL);	/* claims an encoding it does not have */
		if (e->cte == WORKER_CTE_OTHER)
			return (SG_EUNSUPPORTED);
	}
	text = text && e->cte != WORKER_CTE_BINARY;
	put_headers(e, out);
	sg_buf_puts(out, text ? "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		    : "Content-Transfer-Encoding: base64\r\n\r\n");
	if (text)
		worker_mime_qp_encode(body, blen, out);
	else
		worker_mime_base64_encode(body, blen, out);
	return (0);
}

static int to_7bit(const char *p, size_t len, struct sg_buf *out, int depth, bool protect)
{
	struct worker_mime_entity e;
	int	rc;

	if (depth > WORKER_MIME_DEPTH)
		return (SG_ELIMIT);
	if ((rc = worker_mime_parse(p, len, &e)) < 0)
		return (rc);
	if (strcmp(e.type, "multipart") == 0)
		return (multipart_7bit(&e, out, depth, protect));
	if (strcmp(e.type, "message") == 0 && strcmp(e.subtype, "rfc822") == 0)
		return (message_7bit(&e, out, depth, protect));
	return (leaf_7bit(&e, out, protect));
}

static int convert(const char *p, size_t len, struct sg_buf *out, bool protect)
{
	size_t	mark = out->len;
	int	rc = to_7bit(p, len, out, 0, protect);

	if (rc < 0)
		out->len = mark;
	return (rc);
}

int	worker_mime_to_7bit(const char *p, size_t len, struct sg_buf *out)
{
	return (convert(p, len, out, false));
}

int	worker_mime_protect(const char *p, size_t len, struct sg_buf *out)
{
	return (convert(p, len, out, true));
}

int	worker_mime_split(const char *p, size_t len, const char *drop,
			  struct sg_buf *outer, struct sg_buf *entity)
{
	struct worker_mime_entity e;
	struct worker_mime_field f;
	size_t	pos = 0;
	int	rc;

	if ((rc = worker_mime_parse(p, len, &e)) < 0)
		return (rc);
	while (worker_mime_field_next(e.p, e.hdr_len, &pos, &f) == 0) {
		if (worker_mime_field_is(&f, "MIME-Version")
		    || (drop && worker_mime_field_is(&f, drop)))
			continue;
		if (f.nlen > 8 && strncasecmp(f.name, "Content-", 8) == 0)
			sg_buf_append(entity, p + f.off, f.len);
		else
			sg_buf_append(outer, p + f.off, f.len);
	}
	sg_buf_append(entity, "\r\n", 2);
	sg_buf_append(entity, p + e.body_off, len - e.body_off);
	return (0);
}

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void	worker_mime_base64_encode(const void *in, size_t len, struct sg_buf *out)
{
	const unsigned char *p = in;
	size_t	col = 0;

	sg_buf_reserve(out, len / 57 * 78 + 80);
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned) p[i] << 16;
		char	q[4];

		if (i + 1 < len)
			v |= (unsigned) p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		q[0] = b64[(v >> 18) & 63];
		q[1] = b64[(v >> 12) & 63];
		q[2] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		q[3] = i + 2 < len ? b64[v & 63] : '=';
		sg_buf_append(out, q, 4);
		if ((col += 4) == 76) {
			sg_buf_append(out, "\r\n", 2);
			col = 0;
		}
	}
	if (col)
		sg_buf_append(out, "\r\n", 2);
}

int	worker_mime_base64_decode(const char *p, size_t len, struct sg_buf *out)
{
	int	q[4], n = 0;
	bool	done = false;
	size_t	mark = out->len;

	sg_buf_reserve(out, len / 4 * 3 + 3);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) p[i];
		int	d = c == '=' ? -2 : sg_base64_value(c);

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		/* no data after a padded quantum or after '='; '=' not first */
		if (done || d == -1 || (d == -2 && n < 2) || (n > 0 && q[n - 1] == -2 && d != -2))
			goto bad;
		q[n++] = d;
		if (n == 4) {
			unsigned v = (unsigned) q[0] << 18 | (unsigned) q[1] << 12
				| (unsigned) (q[2] < 0 ? 0 : q[2]) << 6 | (unsigned) (q[3] < 0 ? 0 : q[3]);
			char	b[3] = { (char) (v >> 16), (char) (v >> 8), (char) v };
			size_t	nb = q[2] < 0 ? 1 : q[3] < 0 ? 2 : 3;

			sg_buf_append(out, b, nb);
			done = nb < 3;
			n = 0;
		}
	}
	if (n == 0)
		return (0);
bad:
	out->len = mark;
	return (SG_EINVAL);
}

/*
 * qp_must - must c be encoded? At the start of a (possibly soft-broken)
 * line, '-' is, so no line can look like a boundary delimiter, and '.' and
 * 'F' are, so no hop sees a lone dot or a mailbox "From " line.
 */
static bool qp_must(unsigned char c, bool last, size_t col)
{
	return (c == '=' || c >= 0x7f || (c < ' ' && c != '\t')
		|| (last && (c == ' ' || c == '\t'))
		|| (col == 0 && (c == '-' || c == '.' || c == 'F')));
}

/* qp_line - one line (no CRLF) of quoted-printable with soft breaks */

static void qp_line(const unsigned char *p, size_t len, struct sg_buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t	col = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];
		bool	enc = qp_must(c, i + 1 == len, col);

		if (col + (enc ? 3 : 1) > 75) {
			sg_buf_append(out, "=\r\n", 3);
			col = 0;
			enc = qp_must(c, i + 1 == len, col);
		}
		if (enc) {
			char	e[3] = { '=', hex[c >> 4], hex[c & 15] };

			sg_buf_append(out, e, 3);
		} else {
			sg_buf_putc(out, c);
		}
		col += enc ? 3 : 1;
	}
}

void	worker_mime_qp_encode(const char *p, size_t len, struct sg_buf *out)
{
	size_t	start = 0;

	for (size_t i = 0; i + 1 < len; i++) {
		if (p[i] == '\r' && p[i + 1] == '\n') {
			qp_line((const unsigned char *) p + start, i - start, out);
			sg_buf_append(out, "\r\n", 2);
			start = i + 2;
			i++;
		}
	}
	/* A last line without CRLF stays without: in a part, the delimiter's CRLF follows. */
	if (start < len)
		qp_line((const unsigned char *) p + start, len - start, out);
}
