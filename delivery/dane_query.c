/*
 * NAME
 *	dane_query 3
 * SUMMARY
 *	DNS queries that ask for the AD bit, and what DANE makes of the answers
 * SYNOPSIS
 *	#include "delivery_int.h"
 *
 *	void	dl_dane_query(channel, name, type, cb, arg)
 *	void	dl_dane_verdict(addr, mode, mx_secure, tlsa)
 * DESCRIPTION
 *	c-ares 1.18 sends every query with AD clear and EDNS's DO clear, and
 *	a validating resolver then never says an answer was validated (RFC
 *	6840 5.7). dl_dane_query() builds the query itself, sets AD and
 *	sends it with ares_send(); cb gets the raw answer (NULL on failure:
 *	a SERVFAIL, which bogus signatures give, comes back that way). The
 *	resolver must be on this host (delivery_conf.c checks), so the bit
 *	cannot be forged on the way.
 *
 *	dl_dane_verdict() decides addr->dane for an MX host under a DANE
 *	mode (RFC 7672 2.2): with the MX answer (or the host's address
 *	answer, 2.2.2) not validated the names may be forged, so nothing
 *	counts (mode "required": MISSING); secure
 *	TLSA records make the host AUTH; a validated denial or an unsigned
 *	TLSA zone leave it to the other policies (or MISSING when required);
 *	a failed lookup is FAIL, since records might exist: never plaintext.
 * DIAGNOSTICS
 *	dl_dane_query() reports every failure through cb.
 */

#include <ares.h>
#include <arpa/nameser.h>

#include "delivery_int.h"

#define EDNS_PAYLOAD	1232		/* the DNS flag day's advice */

void	dl_dane_query(struct ares_channeldata *ch, const char *name, int type,
		      void (*cb) (void *, int, int, unsigned char *, int), void *arg)
{
	unsigned char *q = NULL;
	int	qlen = 0;

	if (ares_create_query(name, ns_c_in, type, 0, 1, &q, &qlen, EDNS_PAYLOAD)
	    != ARES_SUCCESS || qlen < 12) {
		if (q)
			ares_free_string(q);
		cb(arg, ARES_EBADNAME, 0, NULL, 0);
		return;
	}
	q[3] |= 0x20;			/* AD: tell us what you validated */
	ares_send(ch, q, qlen, cb, arg);
	ares_free_string(q);
}

void	dl_dane_verdict(struct dl_addr *a, int mode, bool mx_secure,
			const struct delivery_tlsa *t)
{
	int	otherwise = mode == DELIVERY_DANE_REQUIRED ? DL_DANE_MISSING : DL_DANE_NONE;

	if (mode == DELIVERY_DANE_OFF)
		a->dane = DL_DANE_NONE;
	else if (!mx_secure || t == NULL)
		a->dane = otherwise;
	else if (t->kind == DELIVERY_TLSA_SECURE)
		a->dane = DL_DANE_AUTH;
	else if (t->kind == DELIVERY_TLSA_TEMP)
		a->dane = DL_DANE_FAIL;
	else
		a->dane = otherwise;
}
