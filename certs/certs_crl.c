/*
 * NAME
 *	certs_crl 3
 * SUMMARY
 *	CRLs: import from a file, fetch from distribution points
 * SYNOPSIS
 *	#include "certs/certs.h"
 *
 *	int	certs_crl_import(c, buf, len, err, errlen)
 *	int	certs_crl_fetch(c, &fetched, &failed)
 *	int64_t	certs_crl_interval(c)
 *	int	certs_crl_list(c, fn, arg)
 * DESCRIPTION
 *	certs_crl_import() takes a CRL as DER or PEM ("X509 CRL") and
 *	stores it in the database; NSS verifies its signature with the
 *	issuer's certificate, which must be known. A newer CRL of the same
 *	issuer replaces the older one.
 *
 *	certs_crl_fetch() collects the http:// URIs of the CRL distribution
 *	points of every certificate in the database (at most 64 different
 *	ones), downloads each with the HTTP client NSS registered for OCSP
 *	(plain HTTP, no proxy; at most 10 MiB, within crl_fetch_timeout) and
 *	imports what verifies. BLOCKS; run it off the event loop.
 *
 *	certs_crl_list() describes every CRL in the database (issuer, this
 *	and next update) to fn, in the database's order, read-only or not:
 *	sealctl status shows their ages.
 * DIAGNOSTICS
 *	certs_crl_import(): SG_ECORRUPT (not a CRL), SG_ECRYPTO (signature
 *	or issuer), SG_EDENIED (read-only); err names the NSS error.
 *	certs_crl_fetch(): SG_EDENIED, SG_EUNSUPPORTED (no HTTP client);
 *	per-URL failures are counted, not returned. certs_crl_list():
 *	SG_EIO when the database cannot be read, else fn's first non-zero
 *	return.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nssb64.h>
#include <ocsp.h>
#include <secder.h>
#include <secerr.h>

#include "certs_int.h"

#include <certdb.h>

#define URLS_MAX 64
#define CRL_MAX (10u << 20)

/* pem_body - the base64 of an "X509 CRL" block, or NULL */

static const char *pem_body(const char *p, size_t len, size_t *blen)
{
	static const char begin[] = "-----BEGIN X509 CRL-----", end[] = "-----END X509 CRL-----";
	const char *b = memmem(p, len, begin, sizeof(begin) - 1), *e;

	if (b == NULL)
		return (NULL);
	b += sizeof(begin) - 1;
	if ((e = memmem(b, len - (size_t) (b - p), end, sizeof(end) - 1)) == NULL)
		return (NULL);
	*blen = (size_t) (e - b);
	return (b);
}

int	certs_crl_import(struct certs *c, const void *buf, size_t len, char *err, size_t errlen)
{
	SECItem	der = {siBuffer, (unsigned char *) buf, (unsigned int) len}, *dec = NULL;
	CERTSignedCrl *crl;
	const char *body;
	size_t	blen;
	int	e;

	snprintf(err, errlen, "%s", "");
	if (c->rdonly) {
		snprintf(err, errlen, "database is read-only");
		return (SG_EDENIED);
	}
	if (len == 0 || len > CRL_MAX) {
		snprintf(err, errlen, len ? "larger than 10 MiB" : "empty");
		return (SG_ECORRUPT);
	}
	if ((body = pem_body(buf, len, &blen)) != NULL) {
		if ((dec = NSSBase64_DecodeBuffer(NULL, NULL, body, (PRUint32) blen)) == NULL) {
			snprintf(err, errlen, "damaged PEM");
			return (SG_ECORRUPT);
		}
		der = *dec;
	}
	crl = CERT_ImportCRL(CERT_GetDefaultCertDB(), &der, NULL, SEC_CRL_TYPE, NULL);
	e = PORT_GetError();
	if (dec)
		SECITEM_FreeItem(dec, PR_TRUE);
	if (crl) {
		SEC_DestroyCrl(crl);
		certs_vcache_clear(c);		/* it may revoke what was good */
		return (0);
	}
	snprintf(err, errlen, "not imported: %s", PR_ErrorToName(e) ? PR_ErrorToName(e) : "?");
	return (e == SEC_ERROR_BAD_DER || e == SEC_ERROR_CRL_INVALID ? SG_ECORRUPT : SG_ECRYPTO);
}

int64_t	certs_crl_interval(const struct certs *c)
{
	return (c->crl_fetch_interval);
}

struct urls {
	size_t	n;
	char   *v[URLS_MAX];
};

static void add_url(struct urls *u, const SECItem *it)
{
	if (it->len < 8 || it->len > 1024 || strncasecmp((const char *) it->data, "http://", 7))
		return;
	if (memchr(it->data, 0, it->len) || u->n == URLS_MAX)
		return;
	for (size_t i = 0; i < u->n; i++)
		if (strlen(u->v[i]) == it->len && memcmp(u->v[i], it->data, it->len) == 0)
			return;
	u->v[u->n++] = sg_xstrndup((const char *) it->data, it->len);
}

static void urls_of(CERTCertificate *cert, struct urls *u)
{
	SECItem	ext = {siBuffer, NULL, 0};
	PLArenaPool *arena;
	CERTCrlDistributionPoints *dps;

	if (CERT_FindCertExtension(cert, SEC_OID_X509_CRL_DIST_POINTS, &ext) != SECSuccess)
		return;
	if ((arena = PORT_NewArena(2048)) == NULL) {
		SECITEM_FreeItem(&ext, PR_FALSE);
		return;
	}
	dps = CERT_DecodeCRLDistributionPoints(arena, &ext);
	for (CRLDistributionPoint **dp = dps ? dps->distPoints : NULL; dp && *dp; dp++) {
		CERTGeneralName *first, *g;

		if ((*dp)->distPointType != generalName)
			continue;
		first = g = (*dp)->distPoint.fullName;
		do {
			if (g == NULL)
				break;
			if (g->type == certURI)
				add_url(u, &g->name.other);
			g = CERT_GetNextGeneralName(g);
		} while (g && g != first);
	}
	PORT_FreeArena(arena, PR_FALSE);
	SECITEM_FreeItem(&ext, PR_FALSE);
}

/* split_url - "http://host[:port]/path" into its parts */

static int split_url(const char *url, char *host, size_t hostlen, unsigned *port,
		     const char **path)
{
	const char *hp = url + 7, *slash = strchr(hp, '/');
	size_t	len = slash ? (size_t) (slash - hp) : strlen(hp);

	*path = slash ? slash : "/";
	return (sg_hostport_parse(hp, len, host, hostlen, port, 80));
}

/* fetch_one - GET url; 0 and the body in out, or < 0 */

static int fetch_one(const SEC_HttpClientFcnV1 *f, const char *url, PRIntervalTime timeout,
		     SECItem *out)
{
	SEC_HTTP_SERVER_SESSION session = NULL;
	SEC_HTTP_REQUEST_SESSION req = NULL;
	char	host[256];
	unsigned port;
	const char *path, *data = NULL;
	PRUint16 status = 0;
	PRUint32 len = CRL_MAX;
	int	rc = SG_EIO;

	if (split_url(url, host, sizeof(host), &port, &path) < 0)
		return (SG_EINVAL);
	if (f->createSessionFcn(host, (PRUint16) port, &session) != SECSuccess)
		return (SG_EIO);
	if (f->createFcn(session, "http", path, "GET", timeout, &req) == SECSuccess &&
	    f->trySendAndReceiveFcn(req, NULL, &status, NULL, NULL, &data, &len) == SECSuccess &&
	    status == 200 && data && len > 0) {
		out->data = sg_xmemdup(data, len);
		out->len = len;
		rc = 0;
	}
	if (req)
		f->freeFcn(req);
	f->freeSessionFcn(session);
	return (rc);
}

static void collect_urls(struct urls *u)
{
	CERTCertList *list = PK11_ListCerts(PK11CertListUnique, NULL);

	if (list == NULL)
		return;
	for (CERTCertListNode *n = CERT_LIST_HEAD(list); !CERT_LIST_END(n, list);
	     n = CERT_LIST_NEXT(n))
		urls_of(n->cert, u);
	CERT_DestroyCertList(list);
}

int	certs_crl_fetch(struct certs *c, size_t *fetched, size_t *failed)
{
	const SEC_HttpClientFcn *client = SEC_GetRegisteredHttpClient();
	PRIntervalTime timeout = PR_MillisecondsToInterval((PRUint32) c->crl_fetch_timeout);
	struct urls u;
	char	err[160];

	*fetched = *failed = 0;
	if (c->rdonly)
		return (SG_EDENIED);
	if (client == NULL || client->version != 1)
		return (SG_EUNSUPPORTED);
	memset(&u, 0, sizeof(u));
	collect_urls(&u);
	for (size_t i = 0; i < u.n; i++) {
		SECItem	body = {siBuffer, NULL, 0};

		if (fetch_one(&client->fcnTable.ftable1, u.v[i], timeout, &body) == 0 &&
		    certs_crl_import(c, body.data, body.len, err, sizeof(err)) == 0)
			(*fetched)++;
		else
			(*failed)++;
		free(body.data);
		free(u.v[i]);
	}
	return (0);
}

/* crl_time - a CRL time field in seconds since the epoch; 0: absent or bad */

static int64_t crl_time(const SECItem *it)
{
	PRTime	t;

	if (it->len == 0 || DER_DecodeTimeChoice(&t, it) != SECSuccess)
		return (0);
	return ((int64_t) (t / PR_USEC_PER_SEC));
}

int	certs_crl_list(struct certs *c, int (*fn)(const struct certs_crl_desc *, void *), void *arg)
{
	CERTCrlHeadNode *head = NULL;
	struct certs_crl_desc d;
	char   *name;
	int	rc = 0;

	(void) c;
	if (SEC_LookupCrls(CERT_GetDefaultCertDB(), &head, SEC_CRL_TYPE) != SECSuccess)
		return (SG_EIO);
	if (head == NULL)
		return (0);
	for (CERTCrlNode *n = head->first; n && rc == 0; n = n->next) {
		if (n->crl == NULL)
			continue;
		memset(&d, 0, sizeof(d));
		if ((name = CERT_NameToAscii(&n->crl->crl.name)) != NULL) {
			snprintf(d.issuer, sizeof(d.issuer), "%s", name);
			PORT_Free(name);
		}
		d.this_update = crl_time(&n->crl->crl.lastUpdate);
		d.next_update = crl_time(&n->crl->crl.nextUpdate);
		d.entries = 0;
		for (CERTCrlEntry **e = n->crl->crl.entries; e && *e; e++)
			d.entries++;
		rc = fn(&d, arg);
	}
	PORT_FreeArena(head->arena, PR_FALSE);
	return (rc);
}
