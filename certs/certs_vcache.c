/*
 * NAME
 *	certs_vcache 3
 * SUMMARY
 *	good verdicts of certs_check(), kept for lookup_cache_ttl
 * SYNOPSIS
 *	#include "certs_int.h"
 *
 *	bool	certs_vcache_get(c, cert, usage, &out, &gen)
 *	void	certs_vcache_put(c, cert, usage, &verdict, gen)
 *	void	certs_vcache_clear(c)
 *
 *	#include "certs/certs.h"
 *
 *	CERTCertificate *certs_known_good(c, der, len, usage)
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
 *	lookup_cache_ttl. A new verdict replaces the certificate's old one
 *	and drops the ended ones of its bucket; at most VCACHE_MAX verdicts,
 *	a full cache is emptied rather than scanned for the oldest.
 *	Thread-safe (c->lock).
 *
 *	Each verdict keeps a reference to its certificate, so that
 *	certs_known_good() can hand it out by the DER encoding a message
 *	carries: a signer known good needs no import of the message's
 *	certificates (a decode and a database lookup each) to be found.
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
	int64_t	expires;		/* sg_mono_ms(): a clock step never stretches it */
	struct certs_check verdict;
	CERTCertificate *cert;		/* referenced: NSS keeps it in memory */
};

struct certs_vcache {
	struct certs_vcache_ent *bucket[VCACHE_BUCKETS];
	size_t	n;
};

/* key_of - the SHA-256 of a DER certificate; false if it cannot be had */

static bool key_of(const void *der, size_t len, unsigned char sha256[32])
{
	return (len <= INT32_MAX && PK11_HashBuf(SEC_OID_SHA256, sha256, der, (PRInt32) len)
		== SECSuccess);
}

/* unlink - drop the verdict *pp points to */

static void unlink_ent(struct certs_vcache *vc, struct certs_vcache_ent **pp)
{
	struct certs_vcache_ent *x = *pp;

	*pp = x->next;
	CERT_DestroyCertificate(x->cert);
	free(x);
	vc->n--;
}

/*
 * find - the live verdict for key and usage, under c->lock; NULL if none.
 * The ended verdicts of the bucket go on the way: their references would
 * keep NSS's copy of a certificate in memory, as it was when it was
 * checked (a certificate removed since would still seem stored).
 */
static struct certs_vcache_ent *find(struct certs *c, const unsigned char k[32], int usage)
{
	int64_t	now = sg_mono_ms();
	struct certs_vcache_ent **pp, *e;

	if (c->vcache == NULL)
		return (NULL);
	for (pp = &c->vcache->bucket[k[0]]; (e = *pp) != NULL;) {
		if (e->expires <= now) {
			unlink_ent(c->vcache, pp);
			continue;
		}
		if (e->usage == usage && memcmp(e->sha256, k, 32) == 0)
			return (e);
		pp = &e->next;
	}
	return (NULL);
}

static void drop_all(struct certs_vcache *vc)
{
	for (size_t b = 0; b < VCACHE_BUCKETS; b++)
		while (vc->bucket[b])
			unlink_ent(vc, &vc->bucket[b]);
}

/* prune - drop e's bucket's ended verdicts and the one e replaces */

static void prune(struct certs_vcache *vc, const struct certs_vcache_ent *e, int64_t now)
{
	struct certs_vcache_ent **pp = &vc->bucket[e->sha256[0]], *x;

	while ((x = *pp) != NULL) {
		if (x->expires <= now || (x->usage == e->usage
					  && memcmp(x->sha256, e->sha256, sizeof(e->sha256)) == 0))
			unlink_ent(vc, pp);
		else
			pp = &x->next;
	}
}

bool	certs_vcache_get(struct certs *c, CERTCertificate *cert, int usage, struct certs_check *out,
			 uint64_t *gen)
{
	struct certs_vcache_ent *e;
	unsigned char k[32];

	*gen = 0;			/* nothing is kept: put ignores it */
	if (c->lookup_ttl <= 0 || !key_of(cert->derCert.data, cert->derCert.len, k))
		return (false);
	pthread_mutex_lock(&c->lock);
	*gen = c->vcache_gen;
	if ((e = find(c, k, usage)) != NULL)
		*out = e->verdict;
	pthread_mutex_unlock(&c->lock);
	return (e != NULL);
}

CERTCertificate *certs_known_good(struct certs *c, const void *der, size_t len, int usage)
{
	struct certs_vcache_ent *e;
	CERTCertificate *cert = NULL;
	unsigned char k[32];

	if (c->lookup_ttl <= 0 || !key_of(der, len, k))
		return (NULL);
	pthread_mutex_lock(&c->lock);
	if ((e = find(c, k, usage)) != NULL)
		cert = CERT_DupCertificate(e->cert);
	pthread_mutex_unlock(&c->lock);
	return (cert);
}

void	certs_vcache_put(struct certs *c, CERTCertificate *cert, int usage,
			 const struct certs_check *verdict, uint64_t gen)
{
	struct certs_vcache_ent *e;
	PRTime	nb, na;
	int64_t	now = sg_mono_ms(), left;

	if (c->lookup_ttl <= 0 || !verdict->valid || verdict->warning
	    || CERT_GetCertTimes(cert, &nb, &na) != SECSuccess)
		return;
	e = sg_xcalloc(1, sizeof(*e));
	if (!key_of(cert->derCert.data, cert->derCert.len, e->sha256)) {
		free(e);
		return;
	}
	e->usage = usage;
	/* no longer than the certificate is valid, as it is now */
	left = na / PR_USEC_PER_MSEC - sg_now_ms();
	e->expires = now + (left < c->lookup_ttl ? left : c->lookup_ttl);
	e->verdict = *verdict;
	e->cert = CERT_DupCertificate(cert);
	pthread_mutex_lock(&c->lock);
	if (gen != c->vcache_gen) {	/* emptied since the caller looked: decided on old data */
		pthread_mutex_unlock(&c->lock);
		CERT_DestroyCertificate(e->cert);
		free(e);
		return;
	}
	if (c->vcache == NULL)
		c->vcache = sg_xcalloc(1, sizeof(*c->vcache));
	prune(c->vcache, e, now);
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
	c->vcache_gen++;
	if (c->vcache) {
		drop_all(c->vcache);
		free(c->vcache);
		c->vcache = NULL;
	}
	pthread_mutex_unlock(&c->lock);
}
