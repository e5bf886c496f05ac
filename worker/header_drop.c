/*
 * NAME
 *	header_drop 3
 * SUMMARY
 *	remove every copy of a header field the gateway itself stamps
 * SYNOPSIS
 *	#include "worker/worker_int.h"
 *
 *	void	worker__header_drop(p, len, name, out)
 * DESCRIPTION
 *	worker__header_drop() appends the message at p (len bytes, any line
 *	ends) to out without any line of its header section that is a field
 *	called name (case-insensitive, blanks allowed before the colon) or
 *	a continuation line of one. It reads as leniently as any reader
 *	downstream might, and needs no valid MIME: a result header the
 *	gateway stamps (signature verdict, scan result) must never arrive
 *	from outside, however malformed the rest is. The body is copied as
 *	it is.
 */

#include <string.h>
#include <strings.h>

#include "worker_int.h"

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

void	worker__header_drop(const char *p, size_t len, const char *name, struct sg_buf *out)
{
	const char *end = p + len;
	bool	dropping = false, in_head = true;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t) (end - p));
		const char *e = nl ? nl + 1 : end;

		if (in_head && (e - p <= 2 && (*p == '\r' || *p == '\n')))
			in_head = false;
		if (in_head && *p != ' ' && *p != '\t')
			dropping = named(p, e, name);
		if (!(in_head && dropping))
			sg_buf_append(out, p, (size_t) (e - p));
		p = e;
	}
}
