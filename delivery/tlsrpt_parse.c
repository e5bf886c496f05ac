/*
 * NAME
 *	tlsrpt_parse 3
 * SUMMARY
 *	TLS-RPT (RFC 8460): the _smtp._tls record, and the counts files
 * SYNOPSIS
 *	#include "delivery/delivery.h"
 *
 *	int	delivery_tlsrpt_txt_parse(txt, len, rua)
 *	int	delivery_tlsrpt_counts_parse(buf, len, cb, arg)
 * DESCRIPTION
 *	delivery_tlsrpt_txt_parse() reads "v=TLSRPTv1; rua=URI[,URI...]"
 *	(RFC 8460 3): v first, exactly one rua, fields separated by ";" with
 *	optional blanks, other fields ignored. Of the URIs, the mailto: ones
 *	are kept (at most DELIVERY_TLSRPT_RUA_MAX), their %xx escapes decoded
 *	and anything after "?" dropped; a target must look like local@domain
 *	with a valid domain and no blanks, quotes or angle brackets, so it
 *	can go into an envelope as it is. https: URIs are accepted and not
 *	used. It returns SG_EINVAL for a record that is not TLS-RPT, and 0
 *	(rua->n may be 0) otherwise.
 *
 *	delivery_tlsrpt_counts_parse() reads what tlsrpt.c writes: lines of
 *	five blank-separated fields, TYPE RESULT MX IP COUNT, each field
 *	bounded by its buffer in struct delivery_tlsrpt_line, COUNT a
 *	decimal number, each line ended by LF. Disk input: a line that does
 *	not fit the rules ends the parse with SG_ECORRUPT (lines before it
 *	were passed to cb).
 * DIAGNOSTICS
 *	As above; nothing past len is read.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "delivery_int.h"

static bool blank(char c)
{
	return (c == ' ' || c == '\t');
}

/* pct - the octet of "%XX" at p (two more bytes there), or -1 */

static int pct(const char *p)
{
	char	hex[3] = {p[1], p[2], 0};

	if (!isxdigit((unsigned char) hex[0]) || !isxdigit((unsigned char) hex[1]))
		return (-1);
	return ((int) strtoul(hex, NULL, 16));
}

/* mailto - one URI; a usable mailto: target goes into rua */

static void mailto(const char *u, size_t n, struct delivery_tlsrpt_rua *rua)
{
	char	addr[256];
	size_t	o = 0;
	const char *at;

	if (n < 7 || strncasecmp(u, "mailto:", 7) != 0 || rua->n == DELIVERY_TLSRPT_RUA_MAX)
		return;
	for (size_t i = 7; i < n && u[i] != '?'; i++) {
		int	c = (unsigned char) u[i];

		if (c == '%') {
			if (i + 2 >= n || (c = pct(u + i)) < 0)
				return;
			i += 2;
		}
		if (c <= ' ' || c >= 127 || c == '"' || c == '<' || c == '>' || c == ','
		    || o + 1 >= sizeof(addr))
			return;
		addr[o++] = (char) c;
	}
	addr[o] = 0;
	at = strrchr(addr, '@');
	if (at == NULL || at == addr || !sg_domain_valid(at + 1, strlen(at + 1)))
		return;
	memcpy(rua->addr[rua->n++], addr, o + 1);
}

/* ruas - the comma-separated URIs of a rua value */

static void ruas(const char *v, size_t n, struct delivery_tlsrpt_rua *rua)
{
	size_t	pos = 0;

	while (pos < n) {
		size_t	start, end;

		while (pos < n && blank(v[pos]))
			pos++;
		start = pos;
		while (pos < n && v[pos] != ',')
			pos++;
		end = pos++;
		while (end > start && blank(v[end - 1]))
			end--;
		mailto(v + start, end - start, rua);
	}
}

int	delivery_tlsrpt_txt_parse(const char *txt, size_t len, struct delivery_tlsrpt_rua *rua)
{
	struct dl_tag t;
	size_t	pos = 0, nfield = 0, nrua = 0;
	int	rc;

	memset(rua, 0, sizeof(*rua));
	while ((rc = dl_tag_next(txt, len, &pos, &t)) == 1) {
		if (nfield++ == 0) {
			if (!dl_tag_is(&t, "v") || t.vlen != 8 || memcmp(t.value, "TLSRPTv1", 8) != 0)
				break;
		} else if (dl_tag_is(&t, "rua") && nrua++ == 0) {
			ruas(t.value, t.vlen, rua);
		}
	}
	if (rc == 0 && nrua == 1)
		return (0);
	memset(rua, 0, sizeof(*rua));
	return (SG_EINVAL);
}

/* word - the next blank-separated field of a line into out[cap]; false if none or too long */

static bool word(const char *l, size_t n, size_t *pos, char *out, size_t cap)
{
	size_t	start;

	while (*pos < n && l[*pos] == ' ')
		(*pos)++;
	start = *pos;
	while (*pos < n && l[*pos] != ' ')
		(*pos)++;
	if (*pos == start || *pos - start >= cap)
		return (false);
	/* every byte of the span, not of the copy: a NUL must not end it early */
	for (size_t i = start; i < *pos; i++)
		if ((unsigned char) l[i] < 33 || (unsigned char) l[i] > 126 || l[i] == '"'
		    || l[i] == '\\')
			return (false);
	memcpy(out, l + start, *pos - start);
	out[*pos - start] = 0;
	return (true);
}

int	delivery_tlsrpt_counts_parse(const char *buf, size_t len,
				     void (*cb) (void *, const struct delivery_tlsrpt_line *),
				     void *arg)
{
	size_t	pos = 0;

	while (pos < len) {
		const char *l = buf + pos, *nl = memchr(l, '\n', len - pos);
		size_t	n, p = 0;
		struct delivery_tlsrpt_line x;
		char	num[24];

		if (nl == NULL)
			return (SG_ECORRUPT);
		n = (size_t) (nl - l);
		pos += n + 1;
		if (!word(l, n, &p, x.type, sizeof(x.type)) || !word(l, n, &p, x.result,
								      sizeof(x.result))
		    || !word(l, n, &p, x.mx, sizeof(x.mx)) || !word(l, n, &p, x.ip, sizeof(x.ip))
		    || !word(l, n, &p, num, sizeof(num)) || p != n
		    || sg_parse_u64(num, strlen(num), &x.count) < 0)
			return (SG_ECORRUPT);
		cb(arg, &x);
	}
	return (0);
}
