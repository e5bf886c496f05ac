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
