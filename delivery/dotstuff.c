/*
 * NAME
 *	dotstuff 3
 * SUMMARY
 *	encode a message body for SMTP DATA
 * SYNOPSIS
 *	#include "delivery/delivery.h"
 *
 *	void	delivery_dot_encode(state, data, len, out)
 *
 *	void	delivery_dot_finish(state, out)
 * DESCRIPTION
 *	delivery_dot_encode() appends data to out with a dot doubled at the
 *	start of every line, and every line ending (CRLF, bare LF, bare CR)
 *	written as CRLF: a bare CR or LF is never sent, so a next hop that
 *	ends DATA on one cannot be smuggled a second message (CVE-2023-51764
 *	and friends). The body may arrive in chunks of any size; *state
 *	carries the position between calls and starts at 0.
 *
 *	delivery_dot_finish() ends an unterminated last line and appends
 *	the ".\r\n" that ends DATA.
 */

#include "delivery.h"

#define ST_BOL	(1u << 0)	/* the next byte starts a line */
#define ST_CR	(1u << 1)	/* a CR was seen, its line ending not yet written */
#define ST_MID	(1u << 2)	/* anything was written */

static void put_crlf(unsigned *state, struct sg_buf *out)
{
	sg_buf_append(out, "\r\n", 2);
	*state = (*state & ~ST_CR) | ST_BOL;
}

void	delivery_dot_encode(unsigned *state, const void *data, size_t len, struct sg_buf *out)
{
	const unsigned char *p = data, *end = p + len, *q;

	if ((*state & ST_MID) == 0)
		*state = ST_BOL | ST_MID;
	sg_buf_reserve(out, len + len / 64 + 8);
	while (p < end) {
		if (*state & ST_CR) {
			/* CRLF or bare CR: either way one CRLF goes out. */
			put_crlf(state, out);
			if (*p == '\n') {
				p++;
				continue;
			}
		}
		if ((*state & ST_BOL) && *p == '.')
			sg_buf_putc(out, '.');
		q = p + sg_line_end((const char *) p, (size_t) (end - p));
		if (end - q >= 2 && q[0] == '\r' && q[1] == '\n') {
			/* the usual line: out as it came, its CRLF in the same piece */
			sg_buf_append(out, p, (size_t) (q + 2 - p));
			*state |= ST_BOL;
			p = q + 2;
			continue;
		}
		if (q > p)
			*state &= ~ST_BOL;
		sg_buf_append(out, p, (size_t) (q - p));
		if ((p = q) == end)
			break;
		if (*p++ == '\r')
			*state |= ST_CR;	/* its LF, if any, may come in the next piece */
		else
			put_crlf(state, out);	/* a bare LF */
	}
}

void	delivery_dot_finish(unsigned *state, struct sg_buf *out)
{
	if ((*state & ST_MID) == 0)
		*state = ST_BOL | ST_MID;
	if (*state & ST_CR)
		put_crlf(state, out);
	if ((*state & ST_BOL) == 0)
		put_crlf(state, out);
	sg_buf_append(out, ".\r\n", 3);
}
