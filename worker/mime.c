/*
 * NAME
 *	mime 3
 * SUMMARY
 *	strict MIME framing: header fields, Content-Type, multipart boundaries
 * SYNOPSIS
 *	#include "worker/worker.h"
 *
 *	int	worker_mime_canon(p, len, out)
 *
 *	int	worker_mime_field_next(hdr, len, pos, field)
 *
 *	bool	worker_mime_field_is(field, name)
 *
 *	int	worker_mime_parse(p, len, entity)
 *
 *	int	worker_mime_parts(entity, parts, max, n)
 * DESCRIPTION
 *	Only as much MIME as S/MIME needs: where an entity's header ends,
 *	what its Content-Type and Content-Transfer-Encoding say, and where
 *	the parts of a multipart are. Nothing is decoded or allocated here;
 *	everything points into the caller's bytes, which must be canonical
 *	(CRLF line ends, see worker_mime_canon).
 *
 *	worker_mime_canon() appends p to out with every bare LF and bare CR
 *	turned into CRLF.
 *
 *	worker_mime_field_next() reads the header field at *pos of a header
 *	block and advances *pos past it. It returns SG_ENOTFOUND at the end
 *	of the block.
 *
 *	worker_mime_parse() splits an entity into header and body and reads
 *	the parameters S/MIME cares about. A missing Content-Type is
 *	text/plain. A multipart without a boundary, a second Content-Type
 *	or Content-Transfer-Encoding, and anything malformed are errors:
 *	two readers must never disagree on the structure of what is signed.
 *
 *	worker_mime_parts() finds the parts of a multipart entity. The CRLF
 *	before a delimiter belongs to the delimiter (RFC 2046 5.1.1), so a
 *	part's span is exactly the bytes a signature covers. The close
 *	delimiter is required.
 * DIAGNOSTICS
 *	SG_EINVAL for malformed input, SG_ELIMIT when a limit in worker.h is
 *	exceeded.
 */

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "worker.h"

#define FIELDS_MAX	1000		/* header fields of one entity */

int	worker_mime_canon(const char *p, size_t len, struct sg_buf *out)
{
	size_t	start = 0, i = 0;

	sg_buf_reserve(out, len + len / 32 + 2);
	/*
	 * Line by line: mail is CRLF already, nearly always. One search for
	 * the first CR or LF, which never looks past the line it is on (text
	 * of bare CRs, from a decrypted message, made a search for LF to the
	 * end per line cost time in the square of its size).
	 */
	while (i < len) {
		size_t	at = i + sg_line_end(p + i, len - i);

		if (at == len)
			break;
		if (p[at] == '\r' && at + 1 < len && p[at + 1] == '\n') {
			i = at + 2;			/* CRLF */
			continue;
		}
		/* a bare CR, or a bare LF */
		sg_buf_append(out, p + start, at - start);
		sg_buf_append(out, "\r\n", 2);
		start = i = at + 1;
	}
	sg_buf_append(out, p + start, len - start);
	return (0);
}

/* line_end - offset of the CRLF ending the line at pos; bad bytes fail */

static int line_end(const char *p, size_t len, size_t pos, size_t *end)
{
	for (size_t i = pos; i < len; i++) {
		if (p[i] == '\r') {
			if (i + 1 >= len || p[i + 1] != '\n')
				return (SG_EINVAL);
			*end = i;
			return (0);
		}
		if (p[i] == '\n' || p[i] == 0)
			return (SG_EINVAL);
	}
	return (SG_EINVAL);			/* a field must end with CRLF */
}

int	worker_mime_field_next(const char *h, size_t len, size_t *pos,
			       struct worker_mime_field *f)
{
	size_t	i = *pos, end;

	if (i >= len)
		return (SG_ENOTFOUND);
	while (i < len && h[i] != ':') {
		if ((unsigned char) h[i] <= ' ' || (unsigned char) h[i] >= 0x7f)
			return (SG_EINVAL);
		i++;
	}
	if (i >= len || i == *pos)
		return (SG_EINVAL);
	f->name = h + *pos;
	f->nlen = i - *pos;
	f->value = h + i + 1;
	for (;;) {
		if (line_end(h, len, i, &end) < 0)
			return (SG_EINVAL);
		i = end + 2;
		if (i - *pos > WORKER_MIME_FIELD_MAX)
			return (SG_ELIMIT);
		if (i >= len || (h[i] != ' ' && h[i] != '\t'))
			break;
	}
	f->vlen = (size_t) (h + end - f->value);
	f->off = *pos;
	f->len = i - *pos;
	*pos = i;
	return (0);
}

bool	worker_mime_field_is(const struct worker_mime_field *f, const char *name)
{
	size_t	n = strlen(name);

	return (f->nlen == n && strncasecmp(f->name, name, n) == 0);
}

/* A tiny tokenizer over one field value (folding is white space). */
struct lex {
	const char *p;
	size_t	len, i;
};

static void lex_ws(struct lex *x)
{
	int	depth = 0;

	while (x->i < x->len) {
		char	c = x->p[x->i];

		if (c == '(')
			depth++;
		else if (c == ')' && depth > 0)
			depth--;
		else if (c == '\\' && depth > 0 && x->i + 1 < x->len)
			x->i++;
		else if (depth == 0 && c != ' ' && c != '\t' && c != '\r' && c != '\n')
			return;
		x->i++;
	}
}

static bool is_tspecial(char c)
{
	return (strchr("()<>@,;:\\\"/[]?=", c) != NULL);
}

/* lex_token - a token into dst (lower-cased if asked); too long is an error */

static int lex_token(struct lex *x, char *dst, size_t cap, bool lower)
{
	size_t	n = 0;

	lex_ws(x);
	while (x->i < x->len) {
		unsigned char c = (unsigned char) x->p[x->i];

		if (c <= ' ' || c >= 0x7f || is_tspecial((char) c))
			break;
		if (n + 1 >= cap)
			return (SG_ELIMIT);
		dst[n++] = (char) (lower && c >= 'A' && c <= 'Z' ? c + 32 : c);
		x->i++;
	}
	dst[n] = 0;
	return (n ? 0 : SG_EINVAL);
}

/* lex_value - a token or a quoted string, unescaped */

static int lex_value(struct lex *x, char *dst, size_t cap)
{
	size_t	n = 0;

	lex_ws(x);
	if (x->i >= x->len || x->p[x->i] != '"')
		return (lex_token(x, dst, cap, false));
	for (x->i++; x->i < x->len && x->p[x->i] != '"'; x->i++) {
		if (x->p[x->i] == '\\' && x->i + 1 < x->len)
			x->i++;
		if (x->p[x->i] == '\r' || x->p[x->i] == '\n')
			continue;		/* folding inside quotes */
		if (n + 1 >= cap)
			return (SG_ELIMIT);
		dst[n++] = x->p[x->i];
	}
	if (x->i >= x->len)
		return (SG_EINVAL);
	x->i++;
	dst[n] = 0;
	return (0);
}

static bool lex_char(struct lex *x, char c)
{
	lex_ws(x);
	if (x->i < x->len && x->p[x->i] == c) {
		x->i++;
		return (true);
	}
	return (false);
}

/* copy_param - a parameter value into its slot; the boundary must fit */

static int copy_param(char *dst, size_t cap, const char *v, bool lower)
{
	size_t	n = strlen(v);

	if (dst[0])
		return (SG_EINVAL);		/* given twice */
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		dst[i] = (char) (lower && v[i] >= 'A' && v[i] <= 'Z' ? v[i] + 32 : v[i]);
	dst[n] = 0;
	return (0);
}

static bool boundary_valid(const char *b)
{
	size_t	n = strlen(b);

	if (n == 0 || n > 70 || b[n - 1] == ' ')
		return (false);
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "'()+_,-./:=? ", b[i]))
			return (false);
	return (true);
}

static int parse_ctype(const struct worker_mime_field *f, struct worker_mime_entity *e)
{
	struct lex x = { f->value, f->vlen, 0 };
	char	attr[64], val[256];
	int	rc;

	if (lex_token(&x, e->type, sizeof(e->type), true) < 0 || !lex_char(&x, '/')
	    || lex_token(&x, e->subtype, sizeof(e->subtype), true) < 0)
		return (SG_EINVAL);
	for (;;) {
		lex_ws(&x);
		if (x.i >= x.len)
			break;
		if (!lex_char(&x, ';'))
			return (SG_EINVAL);
		lex_ws(&x);
		if (x.i >= x.len)
			break;
		if (lex_token(&x, attr, sizeof(attr), true) < 0 || !lex_char(&x, '='))
			return (SG_EINVAL);
		if ((rc = lex_value(&x, val, sizeof(val))) < 0)
			return (rc);
		if (strcmp(attr, "boundary") == 0) {
			if (e->boundary[0] || !boundary_valid(val))
				return (SG_EINVAL);
			copy_param(e->boundary, sizeof(e->boundary), val, false);
		} else if (strcmp(attr, "protocol") == 0) {
			rc = copy_param(e->protocol, sizeof(e->protocol), val, true);
		} else if (strcmp(attr, "smime-type") == 0) {
			rc = copy_param(e->smime_type, sizeof(e->smime_type), val, true);
		} else if (strcmp(attr, "name") == 0) {
			rc = copy_param(e->name, sizeof(e->name), val, true);
		}
		if (rc < 0)
			return (rc);
	}
	return (0);
}

static int parse_cte(const struct worker_mime_field *f, struct worker_mime_entity *e)
{
	static const char *const names[] = {
		"7bit", "8bit", "binary", "quoted-printable", "base64",
	};
	struct lex x = { f->value, f->vlen, 0 };
	char	tok[32];

	if (lex_token(&x, tok, sizeof(tok), true) < 0) {
		e->cte = WORKER_CTE_OTHER;
		return (0);
	}
	lex_ws(&x);
	if (x.i != x.len)
		return (SG_EINVAL);
	e->cte = WORKER_CTE_OTHER;
	for (size_t i = 0; i < SG_NELEM(names); i++)
		if (strcmp(tok, names[i]) == 0)
			e->cte = (int) i;
	return (0);
}

/* parse_fields - every field of the header block; the two we interpret */

static int parse_fields(struct worker_mime_entity *e)
{
	struct worker_mime_field f;
	size_t	pos = 0, nfields = 0;
	bool	have_type = false, have_cte = false;
	int	rc;

	while ((rc = worker_mime_field_next(e->p, e->hdr_len, &pos, &f)) == 0) {
		if (++nfields > FIELDS_MAX)
			return (SG_ELIMIT);
		if (worker_mime_field_is(&f, "Content-Type")) {
			if (have_type)
				return (SG_EINVAL);
			have_type = true;
			if ((rc = parse_ctype(&f, e)) < 0)
				return (rc);
		} else if (worker_mime_field_is(&f, "Content-Transfer-Encoding")) {
			if (have_cte)
				return (SG_EINVAL);
			have_cte = true;
			if ((rc = parse_cte(&f, e)) < 0)
				return (rc);
		}
	}
	return (rc == SG_ENOTFOUND ? 0 : rc);
}

int	worker_mime_parse(const char *p, size_t len, struct worker_mime_entity *e)
{
	struct worker_mime_field f;
	size_t	pos = 0;
	int	rc;

	memset(e, 0, sizeof(*e));
	e->p = p;
	e->len = len;
	e->hdr_len = len;
	e->body_off = len;
	while (pos < len) {
		if (len - pos >= 2 && p[pos] == '\r' && p[pos + 1] == '\n') {
			e->hdr_len = pos;
			e->body_off = pos + 2;
			break;
		}
		if ((rc = worker_mime_field_next(p, len, &pos, &f)) < 0)
			return (rc);
	}
	if ((rc = parse_fields(e)) < 0)
		return (rc);
	if (e->type[0] == 0) {
		snprintf(e->type, sizeof(e->type), "text");
		snprintf(e->subtype, sizeof(e->subtype), "plain");
	}
	if (strcmp(e->type, "multipart") == 0 && e->boundary[0] == 0)
		return (SG_EINVAL);
	return (0);
}

/*
 * delimiter - is the line at s (inside body[0..blen)) a delimiter of b?
 * Sets *close for "--b--" and *next to the first byte after its line.
 */
static bool delimiter(const char *body, size_t blen, size_t s, const char *b,
		      size_t bl, bool *close, size_t *next)
{
	size_t	i = s + 2 + bl;

	if (blen - s < 2 + bl || body[s] != '-' || body[s + 1] != '-'
	    || memcmp(body + s + 2, b, bl) != 0)
		return (false);
	*close = blen - i >= 2 && body[i] == '-' && body[i + 1] == '-';
	if (*close)
		i += 2;
	while (i < blen && (body[i] == ' ' || body[i] == '\t'))
		i++;				/* transport padding */
	if (i == blen && *close) {
		*next = i;
		return (true);
	}
	if (blen - i < 2 || body[i] != '\r' || body[i + 1] != '\n')
		return (false);
	*next = i + 2;
	return (true);
}

int	worker_mime_parts(const struct worker_mime_entity *e,
			  struct worker_mime_span *parts, size_t max, size_t *n)
{
	const char *body = e->p + e->body_off;
	size_t	blen = e->len - e->body_off, bl = strlen(e->boundary);
	size_t	s = 0, start = 0, next;
	bool	open = false, close;

	*n = 0;
	if (bl == 0)
		return (SG_EINVAL);
	while (s < blen) {
		if (delimiter(body, blen, s, e->boundary, bl, &close, &next)) {
			if (open) {
				if (*n >= max)
					return (SG_ELIMIT);
				parts[*n].off = e->body_off + start;
				parts[*n].len = s >= start + 2 ? s - 2 - start : 0;
				(*n)++;
			}
			if (close)
				return (0);
			open = true;
			start = next;
			s = next;
			continue;
		}
		const char *nl = memchr(body + s, '\n', blen - s);

		if (nl == NULL)
			break;
		s = (size_t) (nl - body) + 1;
	}
	return (SG_EINVAL);			/* no close delimiter */
}
