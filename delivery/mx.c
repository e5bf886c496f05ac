/*
 * NAME
 *	mx 3
 * SUMMARY
 *	the answer to an MX query: where mail for a domain goes (untrusted input)
 * SYNOPSIS
 *	#include "delivery/delivery.h"
 *
 *	int	delivery_mx_parse(msg, len, domain, rnd, out)
 * DESCRIPTION
 *	delivery_mx_parse() reads a DNS message of exactly len bytes, the
 *	answer to the MX query for domain, and decides (out->kind):
 *
 *	DELIVERY_MX_HOSTS: the exchanges, at most DELIVERY_MX_MAX, lowest
 *	preference first; equal preferences in the order of rnd()'s numbers
 *	(RFC 5321 5.1: spread the load), or in answer order when rnd is NULL.
 *	An MX "." among others is left out.
 *
 *	DELIVERY_MX_IMPLICIT: NOERROR and no MX record for the name (NODATA,
 *	also at the end of a CNAME chain): the domain itself is the exchange.
 *
 *	DELIVERY_MX_NULL: the only MX is "." (RFC 7505): no mail at all.
 *
 *	DELIVERY_MX_NXDOMAIN: the name does not exist (RCODE 3).
 *
 *	DELIVERY_MX_TEMP, with out->reason: whatever else, none of which
 *	proves anything about the domain: another RCODE (SERVFAIL,
 *	REFUSED, ...), a truncated answer (TC), a CNAME chain that loops or
 *	goes on for more than DELIVERY_MX_CNAMES names, MX records only for
 *	names that are not in the chain, and any message that does not
 *	parse. So a broken or lying resolver defers mail; only a clear
 *	NXDOMAIN or null MX bounces it.
 *
 *	Names are read by the message's own rules (RFC 1035 4.1.4):
 *	labels of at most 63 octets, at most 255 in all, compression
 *	pointers only backwards (so they cannot loop); they are compared
 *	without regard to case or a trailing dot. Nothing past len is read;
 *	one work area for the records is allocated and freed.
 * DIAGNOSTICS
 *	Returns out->kind; the message itself never makes it fail.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery.h"

#define HDR		12
#define T_CNAME		5
#define T_MX		15
#define C_IN		1
#define RRS_MAX		128		/* answer records looked at */
#define JUMPS_MAX	64		/* compression pointers in one name */

struct rd {
	const unsigned char *p;
	size_t	len;
};

static unsigned u16(const unsigned char *p)
{
	return ((unsigned) p[0] << 8 | p[1]);
}

/*
 * name_read - the name at *off into out (lower case, dotted, no final
 * dot; "" for the root); *off moves past it. -1 if it is malformed.
 */
static int name_read(const struct rd *m, size_t *off, char out[256])
{
	size_t	pos = *off, n = 0, end = 0;
	int	jumps = 0;

	for (;;) {
		if (pos >= m->len)
			return (-1);
		unsigned c = m->p[pos];

		if ((c & 0xc0) == 0xc0) {
			size_t	to;

			if (pos + 1 >= m->len || ++jumps > JUMPS_MAX)
				return (-1);
			to = ((c & 0x3f) << 8) | m->p[pos + 1];
			if (to >= pos)
				return (-1);	/* only backwards: no loops */
			if (end == 0)
				end = pos + 2;
			pos = to;
			continue;
		}
		if (c & 0xc0)
			return (-1);		/* 0x40, 0x80: no such label type */
		if (c == 0) {
			if (end == 0)
				end = pos + 1;
			break;
		}
		if (pos + 1 + c > m->len || n + c + (n ? 1 : 0) > 255)
			return (-1);
		if (n)
			out[n++] = '.';
		for (size_t i = 0; i < c; i++)
			out[n++] = (char) tolower(m->p[pos + 1 + i]);
		pos += 1 + c;
	}
	out[n] = 0;
	*off = end;
	return (0);
}

/* same_name - equal without regard to case or a trailing dot */

static bool same_name(const char *a, const char *b)
{
	size_t	la = strlen(a), lb = strlen(b);

	if (la && a[la - 1] == '.')
		la--;
	if (lb && b[lb - 1] == '.')
		lb--;
	return (la == lb && strncasecmp(a, b, la) == 0);
}

struct rr {
	char	owner[256];
	unsigned type;
	unsigned pref;
	char	data[256];		/* CNAME target, MX exchange */
};

struct answer {
	struct rr rr[RRS_MAX + 1];	/* one more to skip records past the limit */
	size_t	n;
};

static int temp(struct delivery_mx *out, const char *why)
{
	out->kind = DELIVERY_MX_TEMP;
	out->n = 0;
	snprintf(out->reason, sizeof(out->reason), "%s", why);
	return (out->kind);
}

/* read_answers - the CNAME and MX records of the answer section */

static int read_answers(const struct rd *m, struct answer *a)
{
	unsigned qd = u16(m->p + 4), an = u16(m->p + 6);
	size_t	off = HDR;
	char	skip[256];

	for (unsigned i = 0; i < qd; i++) {
		if (name_read(m, &off, skip) < 0 || off + 4 > m->len)
			return (-1);
		off += 4;
	}
	for (unsigned i = 0; i < an; i++) {
		struct rr *r = &a->rr[a->n < RRS_MAX ? a->n : RRS_MAX];	/* the last: scratch */
		unsigned type, cls, rdlen;
		size_t	rdoff;

		if (name_read(m, &off, r->owner) < 0 || off + 10 > m->len)
			return (-1);
		type = u16(m->p + off);
		cls = u16(m->p + off + 2);
		rdlen = u16(m->p + off + 8);
		rdoff = off + 10;
		if (rdoff + rdlen > m->len)
			return (-1);
		off = rdoff + rdlen;
		if (cls != C_IN || (type != T_CNAME && type != T_MX) || a->n == RRS_MAX)
			continue;
		r->type = type;
		if (type == T_MX) {
			if (rdlen < 3)
				return (-1);
			r->pref = u16(m->p + rdoff);
			rdoff += 2;
		}
		if (name_read(m, &rdoff, r->data) < 0 || rdoff != off)
			return (-1);
		a->n++;
	}
	return (0);
}

/* canonical - follow the CNAME chain from domain; NULL: it loops */

static const char *canonical(const struct answer *a, const char *domain)
{
	const char *name = domain;

	for (int hops = 0;; hops++) {
		const char *next = NULL;

		for (size_t i = 0; i < a->n && next == NULL; i++)
			if (a->rr[i].type == T_CNAME && same_name(a->rr[i].owner, name))
				next = a->rr[i].data;
		if (next == NULL)
			return (name);
		if (hops == DELIVERY_MX_CNAMES)
			return (NULL);
		name = next;
	}
}

struct pick {
	unsigned pref;
	long	order;
	const char *host;
};

static int cmp_pick(const void *x, const void *y)
{
	const struct pick *a = x, *b = y;

	if (a->pref != b->pref)
		return (a->pref < b->pref ? -1 : 1);
	return (a->order < b->order ? -1 : a->order > b->order);
}

int	delivery_mx_parse(const unsigned char *msg, size_t len, const char *domain,
			  long (*rnd) (void), struct delivery_mx *out)
{
	struct rd m = {msg, len};
	struct answer *a;
	struct pick pick[RRS_MAX];
	const char *name;
	size_t	np = 0, other = 0, nulls = 0;

	memset(out, 0, sizeof(*out));
	if (msg == NULL || len < HDR || !(msg[2] & 0x80))
		return (temp(out, "malformed DNS answer"));
	if ((msg[3] & 0x0f) == 3) {
		out->kind = DELIVERY_MX_NXDOMAIN;
		return (out->kind);
	}
	if ((msg[3] & 0x0f) != 0) {
		char	why[40];

		snprintf(why, sizeof(why), "DNS error (RCODE %u)", msg[3] & 0x0fu);
		return (temp(out, why));
	}
	if (msg[2] & 0x02)
		return (temp(out, "truncated DNS answer"));
	a = malloc(sizeof(*a));
	if (a == NULL)
		return (temp(out, "out of memory"));
	a->n = 0;
	if (read_answers(&m, a) < 0) {
		free(a);
		return (temp(out, "malformed DNS answer"));
	}
	if ((name = canonical(a, domain)) == NULL) {
		free(a);
		return (temp(out, "CNAME loop or chain too long"));
	}
	for (size_t i = 0; i < a->n; i++) {
		const struct rr *r = &a->rr[i];

		if (r->type != T_MX)
			continue;
		if (!same_name(r->owner, name))
			other++;
		else if (r->data[0] == 0)
			nulls++;
		else
			pick[np++] = (struct pick) {r->pref, rnd ? rnd() : (long) i, r->data};
	}
	if (np == 0 && nulls == 1 && other == 0)
		out->kind = DELIVERY_MX_NULL;
	else if (np == 0 && nulls == 0 && other == 0)
		out->kind = DELIVERY_MX_IMPLICIT;
	else if (np == 0)
		temp(out, nulls ? "null MX among others, and no exchange"
		     : "MX records only for names that were not asked");
	else {
		qsort(pick, np, sizeof(*pick), cmp_pick);
		out->kind = DELIVERY_MX_HOSTS;
		for (size_t i = 0; i < np && out->n < DELIVERY_MX_MAX; i++) {
			snprintf(out->v[out->n].host, sizeof(out->v[out->n].host), "%s", pick[i].host);
			out->v[out->n++].pref = pick[i].pref;
		}
	}
	free(a);
	return (out->kind);
}
