/*
 * NAME
 *	certs_lookup 3
 * SUMMARY
 *	which certificate signs for a sender, which encrypt to a recipient;
 *	harvesting
 * SYNOPSIS
 *	#include "certs/certs.h"
 *
 *	int	certs_find_signer(c, sender, &signer)
 *	void	certs_signer_free(&signer)
 *	int	certs_find_recipient(c, rcpt, &candidates)
 *	void	certs_candidates_free(&candidates)
 *	int	certs_harvest(c, v, n, err, errlen)
 *	int	certs_gateways(c, fn, arg)
 *	void	certs_lookup_forget(c)
 *	int64_t	certs_lookup_ttl(c)
 * DESCRIPTION
 *	The rules are in certs.h. Among several certificates of one address
 *	the newest (latest notBefore) comes first. An address's domain is
 *	what follows its last '@', compared without case; gateway
 *	certificates are found through certs_meta.c.
 *
 *	certs_find_recipient() keeps its results (certificate references
 *	and verdicts) for lookup_cache_ttl, at most 4096 addresses; a full
 *	cache is emptied rather than scanned for the oldest entry.
 *	certs_lookup_forget() empties it, and certs_check()'s verdicts
 *	(certs_vcache.c), and has the keys in memory asked for again: the
 *	database changed under them (a cluster's certificates were applied)
 *	and a "no certificate" must not outlive that.
 *
 *	certs_harvest() refuses a signer signed with MD5 or SHA-1, one that
 *	is not valid now for e-mail signing, and stores certificates only:
 *	PK11_ImportCert never carries a key. Intermediates are kept when
 *	they are CA certificates.
 *
 *	certs_gateways() walks the gateway certificates (meta file order).
 * DIAGNOSTICS
 *	As in certs.h.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <secoid.h>

#include "certs_int.h"

static PRTime not_before(CERTCertificate *cert)
{
	PRTime	nb = 0, na;

	CERT_GetCertTimes(cert, &nb, &na);
	return (nb);
}

static int newest_first(const void *a, const void *b)
{
	const struct certs_candidate *x = a, *y = b;
	PRTime	p = not_before(x->cert), q = not_before(y->cert);

	return (p > q ? -1 : p < q);
}

static const char *domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return (at && at[1] ? at + 1 : NULL);
}

/* gateway_cert - the gateway certificate of addr's domain, or NULL */

static CERTCertificate *gateway_cert(struct certs *c, const char *addr)
{
	const char *domain = domain_of(addr), *fp;
	CERTCertificate *cert = NULL;
	struct certs_meta meta;

	if (domain == NULL || certs_meta_load(c, &meta) < 0)
		return (NULL);
	if ((fp = certs_meta_gateway(&meta, domain)) != NULL)
		cert = certs_by_fingerprint(c, fp);
	certs_meta_free(&meta);
	return (cert);
}

static void add(struct certs_candidates *cs, size_t *cap, CERTCertificate *cert, bool gw)
{
	if (cs->n == *cap) {
		*cap = *cap ? 2 * *cap : 4;
		cs->v = sg_xrealloc(cs->v, *cap * sizeof(*cs->v));
	}
	memset(&cs->v[cs->n], 0, sizeof(cs->v[0]));
	cs->v[cs->n].cert = cert;
	cs->v[cs->n].gateway = gw;
	cs->n++;
}

/*
 * own_certs - the address's certificates in the database, newest first;
 * keyed: only with key. NSS also finds copies it still has in memory of
 * certificates removed since: the token is asked (certs_stored_now; not
 * the kept answer of certs_stored(), as the callers keep what they find
 * for lookup_cache_ttl themselves).
 */
static void own_certs(const char *addr, bool keyed, struct certs_candidates *cs, size_t *cap)
{
	CERTCertList *list;

	if (strlen(addr) > 320 || (list = PK11_FindCertsFromEmailAddress(addr, NULL)) == NULL)
		return;
	for (CERTCertListNode *n = CERT_LIST_HEAD(list); !CERT_LIST_END(n, list);
	     n = CERT_LIST_NEXT(n)) {
		if (CERT_IsCACert(n->cert, NULL) || (keyed && !certs_has_key(n->cert))
		    || !certs_stored_now(n->cert))
			continue;
		add(cs, cap, CERT_DupCertificate(n->cert), false);
	}
	CERT_DestroyCertList(list);
	if (cs->n > 1)
		qsort(cs->v, cs->n, sizeof(*cs->v), newest_first);
}

int	certs_find_signer(struct certs *c, const char *sender, struct certs_signer *s)
{
	struct certs_candidates own = {0, NULL};
	size_t	cap = 0;
	CERTCertificate *gw;

	memset(s, 0, sizeof(*s));
	own_certs(sender, true, &own, &cap);
	for (size_t i = 0; i < own.n && s->cert == NULL; i++) {
		certs_check(c, own.v[i].cert, CERTS_USE_SIGN, &s->check);
		if (s->check.valid)
			s->cert = CERT_DupCertificate(own.v[i].cert);
	}
	certs_candidates_free(&own);
	if (s->cert == NULL && (gw = gateway_cert(c, sender)) != NULL) {
		certs_check(c, gw, CERTS_USE_SIGN, &s->check);
		if (s->check.valid && certs_has_key(gw)) {
			s->cert = gw;
			s->gateway = true;
		} else
			CERT_DestroyCertificate(gw);
	}
	if (s->cert && (s->key = certs_private_key(c, s->cert)) == NULL) {
		CERT_DestroyCertificate(s->cert);
		s->cert = NULL;
	}
	return (s->cert ? 0 : SG_ENOTFOUND);
}

void	certs_signer_free(struct certs_signer *s)
{
	if (s->key)
		SECKEY_DestroyPrivateKey(s->key);
	if (s->cert)
		CERT_DestroyCertificate(s->cert);
	memset(s, 0, sizeof(*s));
}

/* The recipient cache: address -> candidates with verdicts, for lookup_ttl. */

#define LCACHE_MAX 4096

struct certs_lcache {
	struct certs_lcache *next;
	char	addr[321];
	int64_t	expires;
	struct certs_candidates cs;
};

static void copy_candidates(struct certs_candidates *dst, const struct certs_candidates *src)
{
	dst->n = src->n;
	dst->v = src->n ? sg_xcalloc(src->n, sizeof(*dst->v)) : NULL;
	for (size_t i = 0; i < src->n; i++) {
		dst->v[i] = src->v[i];
		dst->v[i].cert = CERT_DupCertificate(src->v[i].cert);
	}
}

static bool lcache_get(struct certs *c, const char *addr, struct certs_candidates *out)
{
	int64_t	now = sg_mono_ms();
	bool	hit = false;

	pthread_mutex_lock(&c->lock);
	for (struct certs_lcache *e = c->lcache; e && !hit; e = e->next)
		if (e->expires > now && strcasecmp(e->addr, addr) == 0) {
			copy_candidates(out, &e->cs);
			hit = true;
		}
	pthread_mutex_unlock(&c->lock);
	return (hit);
}

/* lcache_drop - unlink expired entries, or all when full; free them */

static void lcache_prune(struct certs *c, int64_t now)
{
	struct certs_lcache **pp = &c->lcache, *e;
	bool	all = c->nlcache >= LCACHE_MAX;

	while ((e = *pp) != NULL) {
		if (all || e->expires <= now) {
			*pp = e->next;
			certs_candidates_free(&e->cs);
			free(e);
			c->nlcache--;
		} else
			pp = &e->next;
	}
}

static void lcache_put(struct certs *c, const char *addr, const struct certs_candidates *cs)
{
	struct certs_lcache *e;
	int64_t	now = sg_mono_ms();

	if (c->lookup_ttl <= 0 || strlen(addr) >= sizeof(e->addr))
		return;
	e = sg_xcalloc(1, sizeof(*e));
	snprintf(e->addr, sizeof(e->addr), "%s", addr);
	e->expires = now + c->lookup_ttl;
	copy_candidates(&e->cs, cs);
	pthread_mutex_lock(&c->lock);
	lcache_prune(c, now);
	e->next = c->lcache;
	c->lcache = e;
	c->nlcache++;
	pthread_mutex_unlock(&c->lock);
}

void	certs_lookup_forget(struct certs *c)
{
	pthread_mutex_lock(&c->lock);
	certs_lcache_free(c);
	certs_keycache_recheck(c);
	pthread_mutex_unlock(&c->lock);
	certs_vcache_clear(c);
}

int64_t	certs_lookup_ttl(const struct certs *c)
{
	return (c->lookup_ttl);
}

void	certs_lcache_free(struct certs *c)
{
	c->nlcache = LCACHE_MAX;
	lcache_prune(c, 0);
	c->nlcache = 0;
}

int	certs_find_recipient(struct certs *c, const char *rcpt, struct certs_candidates *cs)
{
	size_t	cap = 0;
	CERTCertificate *gw;

	memset(cs, 0, sizeof(*cs));
	if (c->lookup_ttl > 0 && lcache_get(c, rcpt, cs))
		return (0);
	own_certs(rcpt, false, cs, &cap);
	if ((gw = gateway_cert(c, rcpt)) != NULL) {
		bool	dup = false;

		for (size_t i = 0; i < cs->n; i++)
			dup |= SECITEM_ItemsAreEqual(&cs->v[i].cert->derCert, &gw->derCert);
		if (dup)
			CERT_DestroyCertificate(gw);
		else
			add(cs, &cap, gw, true);
	}
	for (size_t i = 0; i < cs->n; i++)
		certs_check(c, cs->v[i].cert, CERTS_USE_ENCRYPT, &cs->v[i].check);
	lcache_put(c, rcpt, cs);
	return (0);
}

void	certs_candidates_free(struct certs_candidates *cs)
{
	for (size_t i = 0; i < cs->n; i++)
		CERT_DestroyCertificate(cs->v[i].cert);
	free(cs->v);
	memset(cs, 0, sizeof(*cs));
}

static bool weak_signature(CERTCertificate *cert)
{
	switch (SECOID_GetAlgorithmTag(&cert->signature)) {
	case SEC_OID_PKCS1_MD2_WITH_RSA_ENCRYPTION:
	case SEC_OID_PKCS1_MD4_WITH_RSA_ENCRYPTION:
	case SEC_OID_PKCS1_MD5_WITH_RSA_ENCRYPTION:
	case SEC_OID_PKCS1_SHA1_WITH_RSA_ENCRYPTION:
	case SEC_OID_ANSIX962_ECDSA_SHA1_SIGNATURE:
	case SEC_OID_ANSIX9_DSA_SIGNATURE_WITH_SHA1_DIGEST:
	case SEC_OID_ISO_SHA1_WITH_RSA_SIGNATURE:
		return (true);
	default:
		return (false);
	}
}

static int keep(CERTCertificate *cert)
{
	PK11SlotInfo *slot;
	char   *nick;
	SECStatus rv;

	if (certs_stored_now(cert))
		return (0);
	nick = certs_nickname_for(cert);
	slot = PK11_GetInternalKeySlot();
	rv = PK11_ImportCert(slot, cert, CK_INVALID_HANDLE, nick, PR_FALSE);
	PK11_FreeSlot(slot);
	free(nick);
	return (rv == SECSuccess ? 0 : certs_nss_err(SG_EIO));
}

int	certs_harvest(struct certs *c, CERTCertificate *const *v, size_t n,
		      char *err, size_t errlen)
{
	struct certs_check chk;
	char	fp[65], when[24];
	int	rc;

	snprintf(err, errlen, "%s", "");
	if (c->rdonly)
		return (SG_EDENIED);
	if (n == 0 || v[0] == NULL)
		return (SG_EINVAL);
	if (weak_signature(v[0])) {
		snprintf(err, errlen, "certificate signed with MD5 or SHA-1");
		return (SG_ECRYPTO);
	}
	if (certs_stored(c, v[0]))
		return (SG_EEXIST);		/* kept already: nothing to check */
	certs_check(c, v[0], CERTS_USE_SIGN, &chk);
	if (!chk.valid) {
		snprintf(err, errlen, "not valid for e-mail signing: %s", chk.reason);
		return (SG_ECRYPTO);
	}
	for (size_t i = 1; i < n; i++)
		if (v[i] && CERT_IsCACert(v[i], NULL))
			keep(v[i]);
	if ((rc = keep(v[0])) < 0) {
		snprintf(err, errlen, "cannot store: %s", certs_nss_errname());
		return (rc);
	}
	certs_fingerprint(v[0], fp);
	snprintf(when, sizeof(when), "%lld", (long long) (sg_now_ms() / 1000));
	return (certs_meta_update(c, CERTS_META_HARVESTED, fp, when));
}

int	certs_gateways(struct certs *c, void (*fn) (const char *domain, CERTCertificate *cert,
						       void *arg), void *arg)
{
	struct certs_meta meta;
	int	rc;

	if ((rc = certs_meta_load(c, &meta)) < 0)
		return (rc);
	for (size_t i = 0; i < meta.n; i++) {
		CERTCertificate *cert;

		if (meta.v[i].kind != CERTS_META_GATEWAY
		    || (cert = certs_by_fingerprint(c, meta.v[i].val)) == NULL)
			continue;
		fn(meta.v[i].key, cert, arg);
		CERT_DestroyCertificate(cert);
	}
	certs_meta_free(&meta);
	return (0);
}
