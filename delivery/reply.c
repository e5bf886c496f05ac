/*
 * NAME
 *	reply 3
 * SUMMARY
 *	parse SMTP replies from a next hop (untrusted input)
 * SYNOPSIS
 *	#include "delivery/delivery.h"
 *
 *	int	delivery_reply_parse(buf, len, reply, used)
 *
 *	void	delivery_reply_format(reply, dst, len)
 * DESCRIPTION
 *	delivery_reply_parse() finds one complete reply at the start of
 *	buf[0..len): lines "NNN-text" continue it, the line "NNN text" (or
 *	a bare "NNN") ends it. Every line must carry the same code. Nothing
 *	past len is read and nothing is allocated: the text is truncated
 *	into the fixed buffer of struct delivery_reply.
 *
 *	delivery_reply_format() renders a reply for log lines and DSNs.
 * DIAGNOSTICS
 *	1 with *used set: a reply; 0: incomplete; SG_EPROTO: not a reply.
 */

#include <stdio.h>
#include <string.h>

#include "delivery.h"

static bool is_digit(char c)
{
	return (c >= '0' && c <= '9');
}

/* line_end - offset of the LF ending the line at p, or -1 */

static long line_end(const char *p, size_t len)
{
	const char *lf = memchr(p, '\n', len);

	return (lf ? (long) (lf - p) : -1);
}

/* append_text - add one line's text (without code, CR, LF) to r->text */

static void append_text(struct delivery_reply *r, size_t *tlen, const char *p, size_t n)
{
	size_t	room = sizeof(r->text) - 1 - *tlen;

	if (*tlen > 0 && room > 0 && n > 0) {
		r->text[(*tlen)++] = ' ';
		room--;
	}
	if (n > room)
		n = room;
	memcpy(r->text + *tlen, p, n);
	*tlen += n;
	r->text[*tlen] = 0;
}

/* parse_enh - "c.s.d" at the start of text whose class matches the code */

static void parse_enh(struct delivery_reply *r)
{
	const char *t = r->text;
	size_t	i = 0, dots = 0, digits = 0;

	if (t[0] != (char) ('0' + r->code / 100) || t[1] != '.')
		return;
	for (i = 0; i < 12 && (is_digit(t[i]) || t[i] == '.'); i++) {
		if (t[i] == '.') {
			if (digits == 0 || digits > 3)
				return;
			dots++;
			digits = 0;
		} else {
			digits++;
		}
	}
	if (dots != 2 || digits == 0 || digits > 3 || (t[i] != ' ' && t[i] != 0))
		return;
	memcpy(r->enh, t, i);
	r->enh[i] = 0;
}

int	delivery_reply_parse(const char *buf, size_t len, struct delivery_reply *r,
			     size_t *used)
{
	size_t	off = 0, tlen = 0;

	memset(r, 0, sizeof(*r));
	for (;;) {
		const char *p = buf + off;
		size_t	avail = len - off;
		long	e = line_end(p, avail < DELIVERY_REPLY_LINE_MAX ? avail
				     : DELIVERY_REPLY_LINE_MAX);
		size_t	n;
		int	code;

		if (e < 0)
			return (avail >= DELIVERY_REPLY_LINE_MAX ? SG_EPROTO : 0);
		n = (size_t) e;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n < 3 || !is_digit(p[0]) || !is_digit(p[1]) || !is_digit(p[2])
		    || p[0] < '2' || p[0] > '5' || (n > 3 && p[3] != ' ' && p[3] != '-'))
			return (SG_EPROTO);
		code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
		if (r->nlines > 0 && code != r->code)
			return (SG_EPROTO);
		if (++r->nlines > DELIVERY_REPLY_LINES_MAX)
			return (SG_EPROTO);
		r->code = code;
		if (n > 4)
			append_text(r, &tlen, p + 4, n - 4);
		off += (size_t) e + 1;
		if (n == 3 || p[3] == ' ')
			break;
	}
	parse_enh(r);
	*used = off;
	return (1);
}

void	delivery_reply_format(const struct delivery_reply *r, char *dst, size_t len)
{
	const char *t = r->text;

	if (*r->enh) {
		/* The text already starts with the enhanced code. */
		snprintf(dst, len, "%d %s", r->code, t);
	} else {
		snprintf(dst, len, "%d%s%s", r->code, *t ? " " : "", t);
	}
}
