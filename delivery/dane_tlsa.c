/*
 * NAME
 *	dane_tlsa 3
 * SUMMARY
 *	the answer to a TLSA query, as DANE (RFC 7672) reads it (untrusted input)
 * SYNOPSIS
 *	#include "delivery/delivery.h"
 *
 *	int	delivery_tlsa_parse(msg, len, out)
 * DESCRIPTION
 *	delivery_tlsa_parse() reads a DNS message of exactly len bytes, the
 *	answer of a validating resolver to a TLSA query (the query asked for
 *	the AD bit), and decides (out->kind):
 *
 *	DELIVERY_TLSA_SECURE: AD set and TLSA records in the answer; they
 *	are in out->rr (at most DELIVERY_TLSA_MAX, their data in out->data).
 *	A record whose association data does not fit the pool, or whose
 *	matching type 1 or 2 data has the wrong length, is counted in
 *	out->dropped and left out: a match can only be lost, never made up,
 *	so the host's mail defers rather than going out unauthenticated.
 *
 *	DELIVERY_TLSA_DENIED: AD set and NXDOMAIN, or NOERROR with no TLSA
 *	record: an authenticated denial, the host has no DANE.
 *
 *	DELIVERY_TLSA_INSECURE: no AD bit with NOERROR or NXDOMAIN: the
 *	zone is not signed (or not validated); DANE does not apply.
 *
 *	DELIVERY_TLSA_TEMP, with out->reason: anything else (SERVFAIL, which
 *	a validating resolver also gives for bogus signatures, a truncated
 *	or malformed message). DANE then defers: the records may exist.
 *
 *	Records of other types (CNAME, RRSIG) are skipped; names are read
 *	with c-ares's expander, which bounds compression pointers.
 * DIAGNOSTICS
 *	Returns out->kind; the message itself never makes it fail.
 */

#include <ares.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery.h"

#define HDR		12
#define T_TLSA		52
#define C_IN		1

static unsigned u16(const unsigned char *p)
{
	return ((unsigned) p[0] << 8 | p[1]);
}

static int temp(struct delivery_tlsa *out, const char *why)
{
	out->kind = DELIVERY_TLSA_TEMP;
	out->n = 0;
	snprintf(out->reason, sizeof(out->reason), "%s", why);
	return (out->kind);
}

/* skip_name - move *off past a (possibly compressed) name; -1 if malformed */

static int skip_name(const unsigned char *msg, size_t len, size_t *off)
{
	char   *name = NULL;
	long	used = 0;

	if (*off >= len || len > 65535)
		return (-1);
	if (ares_expand_name(msg + *off, msg, (int) len, &name, &used) != ARES_SUCCESS)
		return (-1);
	ares_free_string(name);
	if (used <= 0 || *off + (size_t) used > len)
		return (-1);
	*off += (size_t) used;
	return (0);
}

/* keep - one TLSA record into the set, if it fits and is well formed */

static void keep(struct delivery_tlsa *out, const unsigned char *rd, size_t rdlen)
{
	size_t	dlen = rdlen - 3;
	unsigned mtype = rd[2];

	if ((mtype == 1 && dlen != 32) || (mtype == 2 && dlen != 64) || dlen == 0
	    || out->n == DELIVERY_TLSA_MAX || out->used + dlen > sizeof(out->data)) {
		out->dropped++;
		return;
	}
	out->rr[out->n].usage = rd[0];
	out->rr[out->n].selector = rd[1];
	out->rr[out->n].mtype = (unsigned char) mtype;
	out->rr[out->n].off = out->used;
	out->rr[out->n].len = dlen;
	memcpy(out->data + out->used, rd + 3, dlen);
	out->used += dlen;
	out->n++;
}

int	delivery_tlsa_parse(const unsigned char *msg, size_t len, struct delivery_tlsa *out)
{
	unsigned qd, an, rcode;
	bool	ad;
	size_t	off = HDR, seen = 0;

	memset(out, 0, sizeof(*out));
	if (msg == NULL || len < HDR || !(msg[2] & 0x80))
		return (temp(out, "malformed DNS answer"));
	if (msg[2] & 0x02)
		return (temp(out, "truncated DNS answer"));
	rcode = msg[3] & 0x0f;
	ad = (msg[3] & 0x20) != 0;
	if (rcode != 0 && rcode != 3) {
		char	why[48];

		snprintf(why, sizeof(why), "DNS error (RCODE %u)", rcode);
		return (temp(out, why));
	}
	qd = u16(msg + 4);
	an = u16(msg + 6);
	for (unsigned i = 0; i < qd; i++) {
		if (skip_name(msg, len, &off) < 0 || off + 4 > len)
			return (temp(out, "malformed DNS answer"));
		off += 4;
	}
	for (unsigned i = 0; i < an && rcode == 0; i++) {
		unsigned type, cls, rdlen;

		if (skip_name(msg, len, &off) < 0 || off + 10 > len)
			return (temp(out, "malformed DNS answer"));
		type = u16(msg + off);
		cls = u16(msg + off + 2);
		rdlen = u16(msg + off + 8);
		off += 10;
		if (off + rdlen > len)
			return (temp(out, "malformed DNS answer"));
		if (type == T_TLSA && cls == C_IN) {
			if (rdlen < 4)
				return (temp(out, "malformed TLSA record"));
			seen++;
			keep(out, msg + off, rdlen);
		}
		off += rdlen;
	}
	if (!ad)
		out->kind = DELIVERY_TLSA_INSECURE;
	else if (seen == 0)
		out->kind = DELIVERY_TLSA_DENIED;
	else
		out->kind = DELIVERY_TLSA_SECURE;
	return (out->kind);
}
