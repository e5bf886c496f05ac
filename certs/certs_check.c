/*
 * NAME
 *	certs_check 3
 * SUMMARY
 *	is a certificate valid now: chain, validity, revocation policy
 * SYNOPSIS
 *	#include "certs/certs.h"
 *
 *	int	certs_check(c, cert, usage, &out)
 *	const char *certs_rev_name(rev)
 * DESCRIPTION
 *	certs_check() works in three steps, cheapest first:
 *
 *	1. libpkix validates the chain for the usage with CRLs that are
 *	   already in the database, fetching nothing. A failure ends the
 *	   check (invalid; revoked when a CRL lists the certificate).
 *	2. If the database holds a current CRL of the issuer (its
 *	   nextUpdate not passed), that CRL was consulted in step 1 and the
 *	   status is good (source "crl"). A stale CRL proves nothing.
 *	3. Otherwise, when there is a responder to ask (the configured
 *	   default responder, or an OCSP URL in the certificate's AIA),
 *	   OCSP is asked (CERT_CheckOCSPStatus, through NSS's response
 *	   cache): good, revoked, or unknown when no answer came.
 *	4. Otherwise the status is unknown.
 *
 *	libpkix reports missing revocation information as "revoked" under
 *	strict policies, so steps 2 and 3 ask directly instead, which keeps
 *	revoked and unknown apart. "Good" is only ever an answer somebody
 *	gave: NSS's CERT_CheckOCSPStatus() returns success when there is no
 *	responder to ask, and, in its soft failure mode, when the responder
 *	did not answer; step 3 therefore runs only with a responder, and
 *	certs_revocation_setup() keeps NSS in the hard failure mode.
 *
 *	The default responder is switched on at the first check that needs
 *	it (its certificate may be imported after the process started);
 *	that also turns on OCSP for NSS's classic verification in this
 *	process. A good verdict is kept for lookup_cache_ttl
 *	(certs_vcache.c) and found there first. Thread-safe; BLOCKS for up
 *	to ocsp_timeout in step 3.
 * DIAGNOSTICS
 *	The verdict's reason carries the NSS error name.
 */

#include <stdio.h>
#include <string.h>

#include <ocsp.h>
#include <secder.h>
#include <secerr.h>
#include <certdb.h>

#include "certs_int.h"

static const char *const rev_names[] = {"not-checked", "good", "revoked", "unknown"};

const char *certs_rev_name(int rev)
{
	return (rev >= 0 && rev < (int) SG_NELEM(rev_names) ? rev_names[rev] : "?");
}

static SECCertificateUsage usage_of(int usage)
{
	switch (usage) {
	case CERTS_USE_SIGN:
		return (certificateUsageEmailSigner);
	case CERTS_USE_ENCRYPT:
		return (certificateUsageEmailRecipient);
	default:
		return (certificateUsageSSLServer);
	}
}

/* verify_chain - step 1; crl false: no revocation test at all */

static int verify_chain(CERTCertificate *cert, int usage, bool crl)
{
	PRUint64 none[2] = {CERT_REV_M_DO_NOT_TEST_USING_THIS_METHOD,
		CERT_REV_M_DO_NOT_TEST_USING_THIS_METHOD};
	CERTRevocationFlags off = {
		{2, none, 0, NULL, 0}, {2, none, 0, NULL, 0},
	};
	CERTValInParam in[2];
	CERTValOutParam out[1];

	in[0].type = cert_pi_revocationFlags;
	in[0].value.pointer.revocation = crl ? CERT_GetClassicOCSPDisabledPolicy() : &off;
	in[1].type = cert_pi_end;
	out[0].type = cert_po_end;
	if (CERT_PKIXVerifyCert(cert, usage_of(usage), in, out, NULL) == SECSuccess)
		return (0);
	return (PORT_GetError());
}

/* crl_state - the issuer's CRL in the database: none, current or stale */

enum { CRL_NONE, CRL_CURRENT, CRL_STALE };

static int crl_state(CERTCertificate *cert)
{
	CERTSignedCrl *crl = SEC_FindCrlByName(CERT_GetDefaultCertDB(), &cert->derIssuer,
					       SEC_CRL_TYPE);
	PRTime	next;
	int	st = CRL_CURRENT;

	if (crl == NULL)
		return (CRL_NONE);
	/* No nextUpdate: the issuer promises no newer list; take it as current. */
	if (crl->crl.nextUpdate.len > 0
	    && (DER_DecodeTimeChoice(&next, &crl->crl.nextUpdate) != SECSuccess
		|| next < PR_Now()))
		st = CRL_STALE;
	SEC_DestroyCrl(crl);
	return (st);
}

/* ocsp_askable - is there a responder to ask about cert at all */

static bool ocsp_askable(const struct certs *c, CERTCertificate *cert)
{
	char   *url;

	if (c->ocsp_url)
		return (true);
	if ((url = CERT_GetOCSPAuthorityInfoAccessLocation(cert)) == NULL)
		return (false);
	PORT_Free(url);
	return (true);
}

/* default_responder - switch it on once; false if it cannot be */

static bool default_responder(struct certs *c, char *why, size_t len)
{
	CERTCertDBHandle *db = CERT_GetDefaultCertDB();
	bool	ok = true;

	pthread_mutex_lock(&c->lock);
	if (!c->ocsp_default) {
		if (CERT_EnableOCSPChecking(db) != SECSuccess ||
		    CERT_SetOCSPDefaultResponder(db, c->ocsp_url, c->ocsp_nick) != SECSuccess ||
		    CERT_EnableOCSPDefaultResponder(db) != SECSuccess) {
			snprintf(why, len, "default OCSP responder unusable (certificate \"%s\"): %s",
				 c->ocsp_nick, certs_nss_errname());
			ok = false;
		} else
			c->ocsp_default = true;
	}
	pthread_mutex_unlock(&c->lock);
	return (ok);
}

static void ask_ocsp(struct certs *c, CERTCertificate *cert, struct certs_check *o)
{
	int	e;

	if (c->ocsp_url && !default_responder(c, o->reason, sizeof(o->reason))) {
		o->rev = CERTS_REV_UNKNOWN;
		return;
	}
	snprintf(o->rev_source, sizeof(o->rev_source), "ocsp");
	if (CERT_CheckOCSPStatus(CERT_GetDefaultCertDB(), cert, PR_Now(), NULL) == SECSuccess) {
		o->rev = CERTS_REV_GOOD;
		return;
	}
	e = PORT_GetError();
	o->rev = e == SEC_ERROR_REVOKED_CERTIFICATE ? CERTS_REV_REVOKED : CERTS_REV_UNKNOWN;
	snprintf(o->reason, sizeof(o->reason), "%s%s", o->rev == CERTS_REV_REVOKED ?
		 "" : "OCSP: ", PR_ErrorToName(e) ? PR_ErrorToName(e) : "unknown error");
}

/* apply_policy - the verdict from the revocation status */

static void apply_policy(const struct certs *c, struct certs_check *o)
{
	switch (o->rev) {
	case CERTS_REV_GOOD:
		o->valid = true;
		break;
	case CERTS_REV_REVOKED:
		o->valid = false;
		break;
	default:
		o->valid = c->revocation == CERTS_REV_SOFT_FAIL;
		o->warning = o->valid;
	}
}

int	certs_check(struct certs *c, CERTCertificate *cert, int usage, struct certs_check *o)
{
	uint64_t gen;
	int	e, crl;

	memset(o, 0, sizeof(*o));
	if (cert == NULL)
		return (SG_EINVAL);
	if (certs_vcache_get(c, cert, usage, o, &gen))
		return (0);
	if ((e = verify_chain(cert, usage, c->revocation != CERTS_REV_OFF)) != 0) {
		const char *n = PR_ErrorToName(e);

		snprintf(o->reason, sizeof(o->reason), "%s", n ? n : "invalid certificate");
		if (e == SEC_ERROR_REVOKED_CERTIFICATE) {
			o->rev = CERTS_REV_REVOKED;
			snprintf(o->rev_source, sizeof(o->rev_source), "crl");
		}
		return (0);
	}
	if (c->revocation == CERTS_REV_OFF) {
		o->valid = true;
		certs_vcache_put(c, cert, usage, o, gen);
		return (0);
	}
	crl = crl_state(cert);
	if (crl == CRL_CURRENT) {
		o->rev = CERTS_REV_GOOD;
		snprintf(o->rev_source, sizeof(o->rev_source), "crl");
	} else if (c->ocsp && ocsp_askable(c, cert))
		ask_ocsp(c, cert, o);
	else {
		o->rev = CERTS_REV_UNKNOWN;
		snprintf(o->reason, sizeof(o->reason), "%s, %s",
			 crl == CRL_STALE ? "the issuer's CRL is out of date" :
			 "no CRL of the issuer",
			 c->ocsp ? "no OCSP responder (the certificate names none)" : "OCSP off");
	}
	apply_policy(c, o);
	certs_vcache_put(c, cert, usage, o, gen);
	return (0);
}
