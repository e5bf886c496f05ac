/*
 * NAME
 *	header 3
 * SUMMARY
 *	find one field in a message's header section, unfolded
 * SYNOPSIS
 *	#include "common/sg.h"
 *
 *	size_t	sg_header_len(p, len)
 *	int	sg_header_get(p, len, name, out, outlen)
 *	bool	sg_header_has(p, len, name)
 *	void	sg_header_drop(p, len, name, out)
 * DESCRIPTION
 *	For the few places outside the worker's MIME code that need a field
 *	of a message they hold: the subject of the tracking record, the
 *	header of a report.
 *
 *	sg_header_len() is the length of the header section at p: up to and
 *	including the line end before the empty line that ends it (CRLF or
 *	bare LF), or len when there is none.
 *
 *	sg_header_get() finds the first field called name (case-insensitive)
 *	in the header section at p and copies its value into out: leading
 *	white space dropped, folded lines joined (the line breaks removed,
 *	as RFC 5322 2.2.3 unfolds), tabs and other control bytes as spaces,
 *	cut at outlen - 1 bytes. Other bytes, 8-bit ones and RFC 2047
 *	encoded-words included, are copied as they are.
 *
 *	sg_header_has() and sg_header_drop() are for a field the gateway
 *	itself stamps (the scan result), which must never arrive from
 *	outside: they read as leniently as any reader downstream might,
 *	and need no valid MIME. A line of the header section is such a
 *	field when it starts with name (case-insensitive), blanks may
 *	follow, then a colon. sg_header_has() tells whether the header
 *	section at p has one; sg_header_drop() appends the message to out
 *	without any of them and their continuation lines, the body as it
 *	is. Both take any line ends.
 * DIAGNOSTICS
 *	sg_header_get() returns the value's length in out, or SG_ENOTFOUND.
 */

#include <string.h>
#include <strings.h>

#include "sg.h"

size_t	sg_header_len(const char *p, size_t len)
{
	if ((len > 0 && p[0] == '\n') || (len > 1 && p[0] == '\r' && p[1] == '\n'))
		return (0);			/* no header at all */
	for (size_t i = 0; i + 1 < len; i++) {
		if (p[i] == '\n' && p[i + 1] == '\n')
			return (i + 1);
		if (p[i] == '\n' && p[i + 1] == '\r' && i + 2 < len && p[i + 2] == '\n')
			return (i + 1);
	}
	return (len);
}

/* line_end - the end of the line at p (its LF included, or end) */

static const char *line_end(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t) (end - p));

	return (nl ? nl + 1 : end);
}

/* put_value - append one line's part of the value, unfolded */

static size_t put_value(const char *p, const char *e, char *out, size_t n, size_t outlen)
{
	for (; p < e && n + 1 < outlen; p++) {
		unsigned char c = (unsigned char) *p;

		if (c == '\r' || c == '\n')
			continue;
		out[n++] = c < 0x20 || c == 0x7f ? ' ' : (char) c;
	}
	return (n);
}

int	sg_header_get(const char *p, size_t len, const char *name, char *out, size_t outlen)
{
	const char *end = p + sg_header_len(p, len), *e;
	size_t	nlen = strlen(name), n = 0;

	if (outlen == 0)
		return (SG_EINVAL);
	for (; p < end; p = e) {
		e = line_end(p, end);
		if ((size_t) (e - p) <= nlen || p[nlen] != ':' || strncasecmp(p, name, nlen) != 0)
			continue;
		for (p += nlen + 1; p < e && (*p == ' ' || *p == '\t'); p++)
			;
		n = put_value(p, e, out, 0, outlen);
		/* continuation lines begin with white space */
		for (p = e; p < end && (*p == ' ' || *p == '\t'); p = e) {
			e = line_end(p, end);
			n = put_value(p, e, out, n, outlen);
		}
		out[n] = 0;
		return ((int) n);
	}
	out[0] = 0;
	return (SG_ENOTFOUND);
}

/* named - is the header line at p (to its end e) a field called name? */

static bool named(const char *p, const char *e, const char *name)
{
	size_t	n = strlen(name);
	const char *c;

	if ((size_t) (e - p) <= n || strncasecmp(p, name, n) != 0)
		return (false);
	for (c = p + n; c < e && (*c == ' ' || *c == '\t'); c++);
	return (c < e && *c == ':');
}

/*
 * walk - each line of the message at p to out (when not NULL), except
 * the fields called name in its header section; true if there was one
 */
static bool walk(const char *p, size_t len, const char *name, struct sg_buf *out)
{
	const char *end = p + len;
	bool	dropping = false, in_head = true, found = false;

	while (p < end) {
		const char *e = line_end(p, end);

		if (in_head && (e - p <= 2 && (*p == '\r' || *p == '\n')))
			in_head = false;
		if (in_head && *p != ' ' && *p != '\t')
			found |= dropping = named(p, e, name);
		if (!in_head && out == NULL)
			break;
		if (out && !(in_head && dropping))
			sg_buf_append(out, p, (size_t) (e - p));
		p = e;
	}
	return (found);
}

bool	sg_header_has(const char *p, size_t len, const char *name)
{
	return (walk(p, len, name, NULL));
}

void	sg_header_drop(const char *p, size_t len, const char *name, struct sg_buf *out)
{
	(void) walk(p, len, name, out);
}
