/*
 * NAME
 *	mime_legal 3
 * SUMMARY
 *	make a message with over-long lines legal: re-encode or fold, keep the rest
 * SYNOPSIS
 *	#include "worker/worker.h"
 *
 *	bool	worker_mime_long(p, len)
 *
 *	int	worker_mime_legal(p, len, out, how)
 * DESCRIPTION
 *	RFC 5322 2.1.1 allows 998 octets a line. Own servers may hand smtpd
 *	longer ones (ERP systems write e-invoices as XML or HTML on one line);
 *	these functions make such a message fit for any next hop and for
 *	signing, changing nothing that was legal already.
 *
 *	worker_mime_long() tells whether some line of p (CRLF or LF ended;
 *	the last one may have no end) is over 998 octets.
 *
 *	worker_mime_legal() appends p to out with every line made 998
 *	octets or shorter. An entity without such a line is copied byte for
 *	byte; so is every header field and every part that has none. Where
 *	a line is too long:
 *
 *	A header field line is folded (a CRLF inserted before white space,
 *	which unfolding removes again); only where no white space is left
 *	is it broken with CRLF and a space, as Postfix's
 *	smtp_line_length_limit does.
 *
 *	A leaf body in 7bit, 8bit, binary or no encoding is re-encoded, with
 *	its Content-Transfer-Encoding field replaced: text as
 *	quoted-printable (binary text and everything else as base64), so
 *	the recipient decodes exactly what was sent. A message (the top
 *	level, or the body of a message/rfc822 part) with no MIME-Version
 *	field gets one, and one with no Content-Type field gets
 *	"text/plain" with the charset its bytes show (us-ascii, utf-8, or
 *	unknown-8bit, RFC 1428), so that the default it was read with
 *	before stays what it says.
 *
 *	A leaf already in quoted-printable or base64 keeps its encoding and
 *	its decoded content: its long lines get soft line breaks ("=" CRLF,
 *	never inside an "=XX") or plain CRLFs (base64 skips them).
 *
 *	Multiparts (also a multipart/digest's parts without Content-Type,
 *	which are message/rfc822) and message/rfc822 or message/global
 *	bodies are followed to WORKER_MIME_DEPTH, part by part.
 *
 *	What cannot be re-encoded without changing its meaning or breaking
 *	a rule of MIME is broken like Postfix does, with CRLF and a space:
 *	an entity that does not parse, a multipart without its close
 *	delimiter or with too many parts, message/partial and other message
 *	types, an encoding we do not know, a preamble or epilogue, nesting
 *	deeper than WORKER_MIME_DEPTH. Breaking never splits a UTF-8
 *	sequence when it can help it.
 *
 *	*how (may be NULL) gets the WORKER_LEGAL_* bits of what was done.
 *	The output of worker_mime_legal() has no line over 998 octets when
 *	its input had CRLF line ends, and is its own fixed point.
 * DIAGNOSTICS
 *	worker_mime_legal() returns 0: every input has a legal form.
 * BUGS
 *	Re-encoding a part inside a client's own multipart/signed breaks
 *	that signature (the gateway's verification, done before, stands);
 *	so would any hop that folds, and a next hop that refuses the lines
 *	would deliver nothing at all.
 * SEE ALSO
 *	mime_enc(3), the 7-bit conversion signing applies on top of this.
 */

#include <string.h>
#include <strings.h>

#include "worker.h"

#define MAX	WORKER_MIME_LINE_MAX
#define B64_COLS 76

static void legal_entity(const char *p, size_t len, struct sg_buf *out, int depth,
			 bool msg, bool digest, unsigned *how);

/* line_at - the line at p: *n bytes of text, then *eol bytes of CRLF or LF (0 at the end) */

static void line_at(const char *p, const char *end, size_t *n, size_t *eol)
{
	const char *lf = memchr(p, '\n', (size_t) (end - p));

	*n = (size_t) ((lf ? lf : end) - p);
	*eol = lf ? 1 : 0;
	if (*n > 0 && lf && p[*n - 1] == '\r')
		(*n)--, (*eol)++;
}

bool	worker_mime_long(const char *p, size_t len)
{
	const char *end;

	if (len <= MAX)
		return (false);
	end = p + len;
	while ((size_t) (end - p) > MAX) {
		size_t	n, eol;

		line_at(p, end, &n, &eol);
		if (n > MAX)
			return (true);
		if (eol == 0)
			return (false);
		p += n + eol;
	}
	return (false);
}

static bool wsp(char c)
{
	return (c == ' ' || c == '\t');
}

/* utf8_back - a cut at k moved back to the start of the UTF-8 sequence it splits */

static size_t utf8_back(const char *q, size_t k)
{
	size_t	j = k;

	while (j + 3 > k && j > 1 && ((unsigned char) q[j] & 0xc0) == 0x80)
		j--;
	return (((unsigned char) q[j] & 0xc0) == 0x80 ? k : j);
}

/* fold_point - the last white space in q[1..room] with text before it, or 0 */

static size_t fold_point(const char *q, size_t room)
{
	size_t	first = 0;			/* first non-white byte */

	while (first < room && wsp(q[first]))
		first++;
	for (size_t k = room; k > first; k--)
		if (wsp(q[k]))
			return (k);
	return (0);
}

/*
 * break_line - one line (no line end) in pieces of at most MAX octets:
 * folded at white space when fold is set and it can be, else broken with
 * CRLF SP. The caller writes the line end.
 */
static void break_line(const char *q, size_t n, struct sg_buf *out, bool fold, unsigned *how)
{
	size_t	lead = 0;			/* 1: this output line starts with our SP */

	while (n + lead > MAX) {
		size_t	room = MAX - lead, k = fold ? fold_point(q, room) : 0;

		if (k) {
			*how |= WORKER_LEGAL_FOLDED;
			sg_buf_append(out, q, k);
			sg_buf_append(out, "\r\n", 2);
			lead = 0;
		} else {
			*how |= WORKER_LEGAL_BROKEN;
			k = utf8_back(q, room);
			sg_buf_append(out, q, k);
			sg_buf_append(out, "\r\n ", 3);
			lead = 1;
		}
		q += k;
		n -= k;
	}
	sg_buf_append(out, q, n);
}

/* each_line - every line of p through break_line, line ends kept */

static void each_line(const char *p, size_t len, struct sg_buf *out, bool fold, unsigned *how)
{
	const char *end = p + len;

	while (p < end) {
		size_t	n, eol;

		line_at(p, end, &n, &eol);
		if (n > MAX)
			break_line(p, n, out, fold, how);
		else
			sg_buf_append(out, p, n);
		sg_buf_append(out, p + n, eol);
		p += n + eol;
	}
}

/* qp_rewrap - long quoted-printable lines get soft breaks, never inside =XX */

static void qp_rewrap(const char *p, size_t len, struct sg_buf *out, unsigned *how)
{
	const char *end = p + len;

	while (p < end) {
		size_t	n, eol;

		line_at(p, end, &n, &eol);
		while (n > MAX) {
			size_t	k = 0;

			while (k < n && k + (p[k] == '=' ? 3 : 1) <= MAX - 1)
				k += p[k] == '=' ? 3 : 1;
			sg_buf_append(out, p, k);
			sg_buf_append(out, "=\r\n", 3);
			*how |= WORKER_LEGAL_REWRAPPED;
			p += k;
			n -= k;
		}
		sg_buf_append(out, p, n + eol);
		p += n + eol;
	}
}

/* b64_rewrap - long base64 lines cut into 76 columns; decoders skip the CRLFs */

static void b64_rewrap(const char *p, size_t len, struct sg_buf *out, unsigned *how)
{
	const char *end = p + len;

	while (p < end) {
		size_t	n, eol;

		line_at(p, end, &n, &eol);
		if (n > MAX) {
			*how |= WORKER_LEGAL_REWRAPPED;
			for (; n > B64_COLS; p += B64_COLS, n -= B64_COLS) {
				sg_buf_append(out, p, B64_COLS);
				sg_buf_append(out, "\r\n", 2);
			}
		}
		sg_buf_append(out, p, n + eol);
		p += n + eol;
	}
}

/* charset - what the bytes of a body without Content-Type show */

static const char *charset(const char *p, size_t len)
{
	bool	ascii = true;

	for (size_t i = 0; i < len;) {
		size_t	n;

		if ((unsigned char) p[i] < 0x80) {
			i++;
			continue;
		}
		ascii = false;
		if ((n = sg_utf8_len((const unsigned char *) p + i, len - i)) == 0)
			return ("unknown-8bit");
		i += n;
	}
	return (ascii ? "us-ascii" : "utf-8");
}

/* What the header of an entity holds, for put_header(). */
struct head {
	bool	ctype, version;		/* Content-Type, MIME-Version given */
};

/* put_header - the header fields, long lines folded; CTE left out if asked */

static void put_header(const struct worker_mime_entity *e, bool drop_cte, struct head *h,
		       struct sg_buf *out, unsigned *how)
{
	struct worker_mime_field f;
	size_t	pos = 0;

	memset(h, 0, sizeof(*h));
	while (worker_mime_field_next(e->p, e->hdr_len, &pos, &f) == 0) {
		h->ctype |= worker_mime_field_is(&f, "Content-Type");
		h->version |= worker_mime_field_is(&f, "MIME-Version");
		if (drop_cte && worker_mime_field_is(&f, "Content-Transfer-Encoding"))
			continue;
		each_line(e->p + f.off, f.len, out, true, how);
	}
}

/* end_header - the empty line, unless the entity had none */

static void end_header(const struct worker_mime_entity *e, struct sg_buf *out)
{
	if (e->body_off > e->hdr_len)
		sg_buf_append(out, "\r\n", 2);
}

/* broken - header folded, body broken Postfix's way: the last resort */

static void broken(const struct worker_mime_entity *e, struct sg_buf *out, unsigned *how)
{
	struct head h;

	put_header(e, false, &h, out, how);
	end_header(e, out);
	each_line(e->p + e->body_off, e->len - e->body_off, out, false, how);
}

/* unparsed - an entity that does not parse: its header block is folded anyway */

static void unparsed(const char *p, size_t len, struct sg_buf *out, unsigned *how)
{
	const char *blank = len >= 2 && p[0] == '\r' && p[1] == '\n' ? p
		: memmem(p, len, "\r\n\r\n", 4);
	size_t	hdr = blank == NULL ? len : blank == p ? 0 : (size_t) (blank - p) + 2;

	each_line(p, hdr, out, true, how);
	each_line(p + hdr, len - hdr, out, false, how);
}

static void multipart(const struct worker_mime_entity *e, struct sg_buf *out, int depth,
		      unsigned *how)
{
	struct worker_mime_span parts[WORKER_MIME_PARTS];
	bool	digest = strcmp(e->subtype, "digest") == 0;
	struct head h;
	size_t	n, at;

	if ((e->cte != WORKER_CTE_7BIT && e->cte != WORKER_CTE_8BIT && e->cte != WORKER_CTE_BINARY)
	    || worker_mime_parts(e, parts, SG_NELEM(parts), &n) < 0) {
		broken(e, out, how);
		return;
	}
	put_header(e, false, &h, out, how);
	end_header(e, out);
	at = e->body_off;
	for (size_t i = 0; i < n; i++) {
		/* preamble or the delimiter before the part */
		each_line(e->p + at, parts[i].off - at, out, false, how);
		legal_entity(e->p + parts[i].off, parts[i].len, out, depth + 1, false, digest, how);
		at = parts[i].off + parts[i].len;
	}
	each_line(e->p + at, e->len - at, out, false, how);
}

/* enclosed - a message/rfc822 (or global) part: its header, then the message inside */

static void enclosed(const struct worker_mime_entity *e, struct sg_buf *out, int depth,
		     unsigned *how)
{
	struct head h;

	if (e->cte != WORKER_CTE_7BIT && e->cte != WORKER_CTE_8BIT && e->cte != WORKER_CTE_BINARY) {
		broken(e, out, how);
		return;
	}
	put_header(e, false, &h, out, how);
	end_header(e, out);
	legal_entity(e->p + e->body_off, e->len - e->body_off, out, depth + 1, true, false, how);
}

/* reencode - a leaf body in quoted-printable (text) or base64, with fields to say so */

static void reencode(const struct worker_mime_entity *e, bool msg, bool text,
		     struct sg_buf *out, unsigned *how)
{
	const char *body = e->p + e->body_off;
	size_t	blen = e->len - e->body_off;
	struct head h;

	put_header(e, true, &h, out, how);
	if (msg && !h.version)
		sg_buf_puts(out, "MIME-Version: 1.0\r\n");
	if (msg && !h.ctype)
		sg_buf_printf(out, "Content-Type: text/plain; charset=%s\r\n", charset(body, blen));
	sg_buf_printf(out, "Content-Transfer-Encoding: %s\r\n\r\n",
		      text ? "quoted-printable" : "base64");
	if (text)
		worker_mime_qp_encode(body, blen, out);
	else
		worker_mime_base64_encode(body, blen, out);
	*how |= text ? WORKER_LEGAL_QP : WORKER_LEGAL_BASE64;
}

/* leaf - a body that is not a container; msg: it is a whole message */

static void leaf(const struct worker_mime_entity *e, bool msg, struct sg_buf *out,
		 unsigned *how)
{
	const char *body = e->p + e->body_off;
	size_t	blen = e->len - e->body_off;
	struct head h;

	if (!worker_mime_long(body, blen)) {
		put_header(e, false, &h, out, how);	/* only the header is too long */
		end_header(e, out);
		sg_buf_append(out, body, blen);
		return;
	}
	switch (e->cte) {
	case WORKER_CTE_QP:
	case WORKER_CTE_BASE64:
		put_header(e, false, &h, out, how);
		end_header(e, out);
		if (e->cte == WORKER_CTE_QP)
			qp_rewrap(body, blen, out, how);
		else
			b64_rewrap(body, blen, out, how);
		return;
	case WORKER_CTE_OTHER:
		broken(e, out, how);
		return;
	default:
		reencode(e, msg, strcmp(e->type, "text") == 0 && e->cte != WORKER_CTE_BINARY,
			 out, how);
	}
}

/*
 * has_ctype - does the header name a Content-Type? (worker_mime_parse
 * fills in text/plain; a multipart/digest part without one is a message)
 */
static bool has_ctype(const struct worker_mime_entity *e)
{
	struct worker_mime_field f;
	size_t	pos = 0;

	while (worker_mime_field_next(e->p, e->hdr_len, &pos, &f) == 0)
		if (worker_mime_field_is(&f, "Content-Type"))
			return (true);
	return (false);
}

static void legal_entity(const char *p, size_t len, struct sg_buf *out, int depth,
			 bool msg, bool digest, unsigned *how)
{
	struct worker_mime_entity e;

	if (!worker_mime_long(p, len)) {
		sg_buf_append(out, p, len);
		return;
	}
	if (depth > WORKER_MIME_DEPTH || worker_mime_parse(p, len, &e) < 0) {
		unparsed(p, len, out, how);
		return;
	}
	if (strcmp(e.type, "multipart") == 0)
		multipart(&e, out, depth, how);
	else if ((strcmp(e.type, "message") == 0 && (strcmp(e.subtype, "rfc822") == 0
						     || strcmp(e.subtype, "global") == 0))
		 || (digest && !has_ctype(&e)))
		enclosed(&e, out, depth, how);
	else if (strcmp(e.type, "message") == 0)
		broken(&e, out, how);		/* partial, external-body: 7bit only */
	else
		leaf(&e, msg, out, how);
}

int	worker_mime_legal(const char *p, size_t len, struct sg_buf *out, unsigned *how)
{
	unsigned dummy = 0;

	if (how == NULL)
		how = &dummy;
	*how = 0;
	if (len == 0)
		return (0);
	sg_buf_reserve(out, len + len / 16 + 64);
	legal_entity(p, len, out, 0, true, false, how);
	return (0);
}
