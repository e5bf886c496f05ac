/*
 * NAME
 *	certs_rev 3
 * SUMMARY
 *	revocation settings: OCSP responder, timeouts, cache
 * SYNOPSIS
 *	#include "certs_int.h"
 *
 *	int	certs_revocation_setup(c, conf)
 *	void	certs_revocation_teardown(c)
 * DESCRIPTION
 *	certs_revocation_setup() copies the OCSP settings and applies the
 *	process-wide ones NSS has: the request timeout and its response
 *	cache: 1000 entries, a fetch at most once a minute per certificate
 *	and at least once a day. NSS's own minimum is an hour, and it also
 *	applies to failures: one unreachable moment of the responder would
 *	then make certificates unknown (invalid under hard-fail) for an
 *	hour. A good answer is kept until its nextUpdate within those
 *	bounds. The default responder is switched on lazily, at the
 *	first check, because its certificate may be imported after a role
 *	has started.
 *
 *	certs_revocation_teardown() switches the default responder off
 *	again; NSS_ShutdownContext fails with SEC_ERROR_BUSY otherwise.
 */

#include <stdlib.h>

#include <ocsp.h>

#include "certs_int.h"

int	certs_revocation_setup(struct certs *c, const struct certs_conf *conf)
{
	c->revocation = conf->revocation;
	c->ocsp = conf->ocsp && conf->revocation != CERTS_REV_OFF;
	c->ocsp_timeout = conf->ocsp_timeout;
	c->crl_fetch_timeout = conf->crl_fetch_timeout;
	c->crl_fetch_interval = conf->crl_fetch_interval;
	c->lookup_ttl = conf->lookup_cache_ttl;
	if (conf->ocsp_responder && *conf->ocsp_responder) {
		c->ocsp_url = sg_xstrdup(conf->ocsp_responder);
		c->ocsp_nick = sg_xstrdup(conf->ocsp_responder_cert);
	}
	if (CERT_SetOCSPTimeout((PRUint32) ((conf->ocsp_timeout + 999) / 1000)) != SECSuccess)
		return (SG_EINVAL);
	if (CERT_OCSPCacheSettings(1000, 60, 86400) != SECSuccess)
		return (SG_EINVAL);
	/* The soft mode would turn "no answer" into success: certs_check() decides. */
	if (CERT_SetOCSPFailureMode(ocspMode_FailureIsVerificationFailure) != SECSuccess)
		return (SG_EINVAL);
	return (0);
}

void	certs_revocation_teardown(struct certs *c)
{
	CERTCertDBHandle *db = CERT_GetDefaultCertDB();

	if (c->ocsp_default && db) {
		CERT_DisableOCSPDefaultResponder(db);
		c->ocsp_default = false;
	}
	if (db)
		CERT_DisableOCSPChecking(db);
}
