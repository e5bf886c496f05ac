/*
 * NAME
 *	tlspol_conn 3
 * SUMMARY
 *	the hooks of DANE and MTA-STS in an outgoing connection
 * SYNOPSIS
 *	#include "delivery_int.h"
 *
 *	bool	dl_conn_refuse(addr, why, whylen)
 *	void	dl_conn_dane_check(hosts, addr, tls, relay, peer, tlsdesc, desclen)
 *	void	dl_conn_tlsrpt(agent, domain, addr, result)
 *	const char *dl_conn_refuse_result(addr)
 * DESCRIPTION
 *	dl_conn_refuse() is asked before connecting to an address: true
 *	(with the reason) when DANE forbids the host for now, because its
 *	TLSA lookup failed (records may exist; RFC 7672 2.2.1) or because
 *	dane is "required" and nothing secure was found; or when an enforced
 *	MTA-STS policy does not list the host (RFC 8461 4.1). The caller
 *	defers with 4.7.5 and tries the next host; it never sends in
 *	plaintext.
 *
 *	dl_conn_dane_check() runs after the handshake with a host whose TLSA
 *	records are secure. It replaces the web-PKI verdict in peer by the
 *	records' (chain_ok and name_ok both mean "matched"; RFC 7672 2.2:
 *	without a usable record TLS stays mandatory and is not
 *	authenticated), and on a match sets tlsdesc to "dane", which the
 *	delivery log shows as tls="dane".
 *
 *	dl_conn_tlsrpt() counts one session (or refused host) for TLS-RPT
 *	when a DANE or MTA-STS policy covered the host: result "success" or
 *	an RFC 8460 result-type. dl_conn_refuse_result() names the
 *	result-type of a refused host.
 * DIAGNOSTICS
 *	Logs event=dane_match, event=dane_mismatch or (TLSA records none of
 *	which SMTP can use: encrypted, not authenticated) event=dane_unusable
 *	with the relay.
 */

#include <stdio.h>

#include "delivery_int.h"

bool	dl_conn_refuse(const struct dl_addr *a, char *why, size_t whylen)
{
	if (a->sts == DL_STS_REFUSE) {
		snprintf(why, whylen, "MTA-STS: host %s is not an mx of the domain's enforced "
			 "policy", a->host);
		return (true);
	}
	if (a->dane == DL_DANE_FAIL) {
		snprintf(why, whylen, "DANE: the TLSA records of %s cannot be had securely; "
			 "not delivering without them", a->host);
		return (true);
	}
	if (a->dane == DL_DANE_MISSING) {
		snprintf(why, whylen, "DANE is required, but host %s has no validated TLSA "
			 "records (or the MX records are not validated)", a->host);
		return (true);
	}
	return (false);
}

void	dl_conn_dane_check(const struct dl_hosts *h, const struct dl_addr *a,
			   const struct certs_tls *t, const char *relay,
			   struct certs_tls_peer *peer, char *tlsdesc, size_t desclen)
{
	char	why[96];
	int	rc = SG_ENOTFOUND;

	if (a->tlsa >= 0 && (size_t) a->tlsa < h->ntlsa)
		rc = delivery_dane_match(&h->tlsa[a->tlsa], t, a->host, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "no TLSA records kept");
	peer->chain_ok = peer->name_ok = peer->presented = rc != 0;
	snprintf(peer->reason, sizeof(peer->reason), "%s", rc == 1 ? "" : why);
	if (rc == 1) {
		snprintf(tlsdesc, desclen, "dane");
		sg_info("event=dane_match relay=\"%s\"", relay);
	} else {
		sg_info("event=%s relay=\"%s\" reason=\"%s\"",
			rc == SG_ENOTFOUND ? "dane_unusable" : "dane_mismatch", relay, why);
	}
}

void	dl_conn_tlsrpt(struct delivery_agent *a, const char *domain, const struct dl_addr *addr,
		       const char *result)
{
	char	ip[INET6_ADDRSTRLEN];
	const char *type = addr->dane != DL_DANE_NONE ? "tlsa"
		: addr->sts != DL_STS_NONE ? "sts" : NULL;

	if (type == NULL || a->tlsrpt == NULL)
		return;
	sg_sockaddr_str((const struct sockaddr *) &addr->sa, ip, sizeof(ip));
	dl_tlsrpt_count(a->tlsrpt, domain, type, result, addr->host, ip);
}

const char *dl_conn_refuse_result(const struct dl_addr *a)
{
	/* RFC 8460 4.3: DANE's own failures; an STS host not listed fails validation */
	return (a->dane == DL_DANE_FAIL ? "dnssec-invalid" : a->dane == DL_DANE_MISSING
		? "dane-required" : "validation-failure");
}
