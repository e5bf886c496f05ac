/*
 * NAME
 *	metrics_http 3
 * SUMMARY
 *	the request head parser of the metrics endpoint (untrusted input)
 * SYNOPSIS
 *	#include "metrics/metrics.h"
 *
 *	int	metrics_http_parse(p, len, req)
 *	const char *metrics_http_reason(status)
 * DESCRIPTION
 *	metrics_http_parse() is called with everything a connection has
 *	sent so far. It walks the lines (LF or CRLF; a CR elsewhere is an
 *	error), so it can refuse garbage as soon as it arrives: a byte that
 *	may not stand in a request line or header field (a control
 *	character, NUL) makes a 400 at once, without waiting for a line end
 *	or the head's size limit. A complete head is judged by RFC 9112:
 *	request line "METHOD SP origin-form SP HTTP/D.D", header fields
 *	"token: value" (no space before the colon, no obsolete line
 *	folding), at most METRICS_HTTP_HEADERS_MAX of them, and, for
 *	HTTP/1.1, exactly one Host. Anything the server then does not serve
 *	gets its status: 404 for a path other than /metrics, 405 for a
 *	method other than GET and HEAD, 505 for another version.
 *	metrics_http_reason() gives the reason phrase of a status.
 * DIAGNOSTICS
 *	None: the status says what is wrong. Reads at most len bytes.
 */

#include <string.h>
#include <strings.h>

#include "metrics.h"

#define PATH "/metrics"

/* tchar - a token character of RFC 9110 */

static bool tchar(unsigned char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		|| (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL));
}

/* field_byte - may c stand in a request line (VCHAR, SP) or a header line? */

static bool field_byte(unsigned char c, bool request_line)
{
	if (c == '\t')
		return (!request_line);
	return (c >= 0x20 && c != 0x7f && (c < 0x80 || !request_line));
}

const char *metrics_http_reason(int status)
{
	switch (status) {
	case 200:
		return ("OK");
	case 400:
		return ("Bad Request");
	case 404:
		return ("Not Found");
	case 405:
		return ("Method Not Allowed");
	case 408:
		return ("Request Timeout");
	case 431:
		return ("Request Header Fields Too Large");
	case 500:
		return ("Internal Server Error");
	case 503:
		return ("Service Unavailable");
	case 505:
		return ("HTTP Version Not Supported");
	default:
		return ("Error");
	}
}

/* request_line - method, target and version of a complete first line */

static int request_line(const char *p, size_t n, struct metrics_http_req *req, int *minor)
{
	const char *sp1, *sp2, *path, *v;
	size_t	mlen, plen;

	if ((sp1 = memchr(p, ' ', n)) == NULL || sp1 == p)
		return (400);
	mlen = (size_t) (sp1 - p);
	for (size_t i = 0; i < mlen; i++)
		if (!tchar((unsigned char) p[i]))
			return (400);
	path = sp1 + 1;
	if ((sp2 = memchr(path, ' ', n - mlen - 1)) == NULL || sp2 == path)
		return (400);
	v = sp2 + 1;
	if (p + n - v != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9'
	    || v[6] != '.' || v[7] < '0' || v[7] > '9')
		return (400);
	if (*path != '/')
		return (400);		/* origin-form only */
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return (505);
	*minor = v[7] - '0';
	plen = (size_t) (sp2 - path);
	for (size_t i = 0; i < plen; i++)
		if (path[i] == '?') {
			plen = i;
			break;
		}
	req->head = mlen == 4 && memcmp(p, "HEAD", 4) == 0;
	if (plen != strlen(PATH) || memcmp(path, PATH, plen) != 0)
		return (404);
	if (!req->head && !(mlen == 3 && memcmp(p, "GET", 3) == 0))
		return (405);
	return (200);
}

/* header_line - one complete header field; *host counts Host fields */

static int header_line(const char *p, size_t n, int *host)
{
	const char *colon = memchr(p, ':', n);

	if (*p == ' ' || *p == '\t')
		return (400);		/* obsolete line folding */
	if (colon == NULL || colon == p)
		return (400);
	for (const char *c = p; c < colon; c++)
		if (!tchar((unsigned char) *c))
			return (400);	/* a space before the colon too */
	if (colon - p == 4 && strncasecmp(p, "host", 4) == 0)
		(*host)++;
	return (0);
}

/* line_ok - the bytes of a (possibly partial) line, without its line end */

static bool line_ok(const char *p, size_t n, bool request_line)
{
	for (size_t i = 0; i < n; i++)
		if (!field_byte((unsigned char) p[i], request_line))
			return (false);
	return (true);
}

static int finish(struct metrics_http_req *req, int status, size_t head_len)
{
	req->status = status;
	req->head_len = head_len;
	return (1);
}

int	metrics_http_parse(const char *p, size_t len, struct metrics_http_req *req)
{
	size_t	off = 0, lines = 0;
	int	status = 0, minor = 1, host = 0, st;

	memset(req, 0, sizeof(*req));
	while (off < len) {
		const char *line = p + off, *nl = memchr(line, '\n', len - off);
		size_t	n = nl ? (size_t) (nl - line) : len - off, all = n;
		bool	first = lines == 0;

		/* a CR at the end is (the start of) its CRLF; a bad byte is
		 * 400 however long the line, then the length counts */
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (!line_ok(line, n > METRICS_HTTP_LINE_MAX ? METRICS_HTTP_LINE_MAX : n, first))
			return (finish(req, 400, 0));
		if (n > METRICS_HTTP_LINE_MAX)
			return (finish(req, 431, 0));
		if (nl == NULL)
			break;
		off += all + 1;
		if (first) {
			status = request_line(line, n, req, &minor);
			if (status == 400 || status == 505)
				return (finish(req, status, 0));
		} else if (n == 0) {
			if (minor == 1 && host != 1)
				status = 400;
			return (finish(req, status, off));
		} else if (lines > METRICS_HTTP_HEADERS_MAX) {
			return (finish(req, 431, 0));
		} else if ((st = header_line(line, n, &host)) != 0) {
			return (finish(req, st, 0));
		}
		lines++;
	}
	if (len >= METRICS_HTTP_HEAD_MAX)
		return (finish(req, 431, 0));
	return (0);
}
