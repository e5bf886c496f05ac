/*
 * NAME
 *	certs_vcache 3
 * SUMMARY
 *	good verdicts of certs_check(), kept for lookup_cache_ttl
 * SYNOPSIS
 *	#include "certs_int.h"
 *
 *	bool	certs_vcache_get(c, cert, usage, &out)
 *	void	certs_vcache_put(c, cert, usage, &verdict)
 *	void	certs_vcache_clear(c)
 * DESCRIPTION
 *	A partner signs mail after mail with one certificate, and each
 *	time certs_check() built and checked the same chain (libpkix and
 *	its database reads) and asked about revocation: the largest cost
 *	of verifying inbound mail after the RSA operations. A good verdict
 *	is therefore kept for lookup_cache_ttl, as certs_find_recipient()
 *	keeps its verdicts, by the SHA-256 of the certificate and the usage,
 *	never past the certificate's notAfter. Only good verdicts: an
 *	invalid or unknown one is decided again each time (a CRL may have
 *	come, a responder answer). With lookup_cache_ttl 0 nothing is kept.
 *
 *	certs_vcache_clear() empties it: the database changed under it (a
 *	CRL imported in this process, a cluster's certificates applied:
 *	certs_lookup_forget()). A CRL imported by another process (sealctl)
 *	is seen once the verdicts kept before it end, within
 *	lookup_cache_ttl. At most VCACHE_MAX verdicts; a full cache is
 *	emptied rather than scanned for the oldest. Thread-safe (c->lock).
 */

#include <stdlib.h>
#include <string.h>

#include <pk11pub.h>

#include "certs_int.h"

#define VCACHE_MAX	4096
#define VCACHE_BUCKETS	256

struct certs_vcache_ent {
	struct certs_vcache_ent *next;
	unsigned char sha256[32];
	int	usage;
	int64_t	expires;		/* sg_now_ms() */
	struct certs_check verdict;
	CERTCertificate *cert;		/* referenced: NSS keeps it in memory */
};

struct certs_vcache {
	struct certs_vcache_ent *bucket[VCACHE_BUCKETS];
	size_t	n;
};

/* key_of - the certificate's SHA-256; false if it cannot be had */

static bool key_of(const CERTCertificate *cert, unsigned char sha256[32])
{
	return (PK11_HashBuf(SEC_OID_SHA256, sha256, cert->derCert.data,
			     (PRInt32) cert->derCert.len) == SECSuccess);
}

static void drop_all(struct certs_vcache *vc)
{
	for (size_t b = 0; b < VCACHE_BUCKETS; b++) {
		struct certs_vcache_ent *e, *next;

		for (e = vc->bucket[b]; e; e = next) {
			next = e->next;
			CERT_DestroyCertificate(e->cert);
			free(e);
		}
		vc->bucket[b] = NULL;
	}
	vc->n = 0;
}

bool	certs_vcache_get(struct certs *c, CERTCertificate *cert, int usage, struct certs_check *out)
{
	unsigned char k[32];
	int64_t	now = sg_now_ms();
	bool	hit = false;

	if (c->lookup_ttl <= 0 || !key_of(cert, k))
		return (false);
	pthread_mutex_lock(&c->lock);
	for (struct certs_vcache_ent *e = c->vcache ? c->vcache->bucket[k[0]] : NULL;
	     e && !hit; e = e->next)
		if (e->usage == usage && e->expires > now && memcmp(e->sha256, k, sizeof(k)) == 0) {
			*out = e->verdict;
			hit = true;
		}
	pthread_mutex_unlock(&c->lock);
	return (hit);
}

void	certs_vcache_put(struct certs *c, CERTCertificate *cert, int usage,
			 const struct certs_check *verdict)
{
	struct certs_vcache_ent *e;
	PRTime	nb, na;
	int64_t	now = sg_now_ms();

	if (c->lookup_ttl <= 0 || !verdict->valid || verdict->warning
	    || CERT_GetCertTimes(cert, &nb, &na) != SECSuccess)
		return;
	e = sg_xcalloc(1, sizeof(*e));
	if (!key_of(cert, e->sha256)) {
		free(e);
		return;
	}
	e->usage = usage;
	e->expires = now + c->lookup_ttl;
	if (e->expires > na / PR_USEC_PER_MSEC)
		e->expires = na / PR_USEC_PER_MSEC;
	e->verdict = *verdict;
	e->cert = CERT_DupCertificate(cert);
	pthread_mutex_lock(&c->lock);
	if (c->vcache == NULL)
		c->vcache = sg_xcalloc(1, sizeof(*c->vcache));
	if (c->vcache->n >= VCACHE_MAX)
		drop_all(c->vcache);
	e->next = c->vcache->bucket[e->sha256[0]];
	c->vcache->bucket[e->sha256[0]] = e;
	c->vcache->n++;
	pthread_mutex_unlock(&c->lock);
}

void	certs_vcache_clear(struct certs *c)
{
	pthread_mutex_lock(&c->lock);
	if (c->vcache) {
		drop_all(c->vcache);
		free(c->vcache);
		c->vcache = NULL;
	}
	pthread_mutex_unlock(&c->lock);
}
