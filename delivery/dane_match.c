/*
 * NAME
 *	dane_match 3
 * SUMMARY
 *	does a TLS peer match its host's TLSA records (RFC 7672, RFC 7671)
 * SYNOPSIS
 *	#include "delivery/delivery.h"
 *
 *	int	delivery_dane_match(set, t, name, why, whylen)
 * DESCRIPTION
 *	Usable for SMTP (RFC 7672 3.1) are DANE-TA(2) and DANE-EE(3) with
 *	selectors 0 and 1 and matching types 0, 1 and 2; PKIX-TA(0) and
 *	PKIX-EE(1) records and unknown values are skipped.
 *
 *	DANE-EE(3) matches the leaf only; its names and dates do not matter
 *	(RFC 7672 3.1.1), the key is what the record pins. DANE-TA(2)
 *	matches a certificate the peer sent after its leaf; the leaf must
 *	then chain to that one as the only anchor and be valid for name,
 *	the MX host's name (RFC 7672 3.2.3). The first match wins.
 *
 *	why gets "no usable TLSA record", or the first records tried
 *	("3 1 1", ...), so that a mismatch in the log says what was asked.
 * DIAGNOSTICS
 *	1, 0 or SG_ENOTFOUND as delivery.h says.
 */

#include <stdio.h>
#include <string.h>

#include "certs/certs.h"
#include "delivery.h"

#define CHAIN_MAX	8		/* certificates of the peer's chain looked at */

static bool usable(unsigned usage, unsigned selector, unsigned mtype)
{
	return ((usage == 2 || usage == 3) && selector <= 1 && mtype <= 2);
}

/* matches - record i against the peer's certificate number idx */

static bool matches(const struct delivery_tlsa *set, size_t i, const struct certs_tls *t,
		    size_t idx)
{
	unsigned char buf[sizeof(set->data)];
	size_t	len = 0;

	if (certs_tls_dane_data(t, idx, set->rr[i].selector, set->rr[i].mtype, buf, sizeof(buf),
				&len) < 0)
		return (false);
	return (len == set->rr[i].len && memcmp(buf, set->data + set->rr[i].off, len) == 0);
}

int	delivery_dane_match(const struct delivery_tlsa *set, const struct certs_tls *t,
			    const char *name, char *why, size_t whylen)
{
	size_t	nusable = 0, off = 0;

	if (whylen)
		*why = 0;
	for (size_t i = 0; i < set->n; i++) {
		unsigned u = set->rr[i].usage;

		if (!usable(u, set->rr[i].selector, set->rr[i].mtype))
			continue;
		nusable++;
		if (off + 16 < whylen)
			off += (size_t) snprintf(why + off, whylen - off, "%s%u %u %u",
						 off ? ", " : "TLSA ", u, set->rr[i].selector,
						 set->rr[i].mtype);
		if (u == 3 && matches(set, i, t, 0))
			return (1);
		for (size_t idx = 1; u == 2 && idx < CHAIN_MAX; idx++)
			if (matches(set, i, t, idx) && certs_tls_dane_ta(t, idx, name) == 0)
				return (1);
	}
	if (nusable == 0) {
		snprintf(why, whylen, "no usable TLSA record");
		return (SG_ENOTFOUND);
	}
	return (0);
}
