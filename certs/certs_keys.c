/*
 * NAME
 *	certs_keys 3
 * SUMMARY
 *	private keys without a database read or key derivation per use
 * SYNOPSIS
 *	#include "certs_int.h"
 *
 *	SECKEYPrivateKey *certs_key_for(c, cert)
 *	void	certs_keycache_recheck(c)
 *	void	certs_keycache_free(c)
 *
 *	#include "certs/certs.h"
 *
 *	SECKEYPrivateKey *certs_private_key(c, cert)
 *	SECKEYPrivateKey *certs_key_named(c, issuer, serial, &cert)
 *	int	certs_sign_data(c, cert, buf, len, &out)
 *	SECKEYPrivateKey *certs_key_in_memory(key)
 *	void	certs_key_in_memory_free(key)
 * DESCRIPTION
 *	Softoken reads the attributes of a stored private key from the
 *	database on every use and, with a password on the database,
 *	decrypts them with a PBKDF2-derived key: about 26 ms per RSA-2048
 *	signature instead of 1.5 ms, and still a fifth more without a
 *	password. certs_key_for() therefore copies a key of the internal
 *	token, once per process, into a session object on the same token,
 *	which lives in memory only, and hands out references to that copy.
 *	Whether the database still holds the key is asked again once per
 *	lookup_cache_ttl: a key removed by sealctl is no longer used after
 *	that (its copy stays until certs_close(), as a reference handed out
 *	may still be in use).
 *	Keys on other tokens (HSMs) are returned as found. The caller
 *	destroys the returned key with SECKEY_DestroyPrivateKey(). Thread-
 *	safe.
 *
 *	certs_keycache_recheck() has every key asked for again at its next
 *	use (the database changed: certs_lookup_forget(), under c->lock).
 *	certs_keycache_free() drops the copies (at certs_close()).
 *
 *	certs_private_key() is certs_key_for() for other components.
 *	certs_key_named() finds a key of the cache by its certificate's
 *	issuer and serial number, the way encrypted mail names it: the
 *	certificate lookup by issuer and serial number is a database read
 *	per message otherwise.
 *	certs_sign_data() signs bytes with SHA-256 (RSA PKCS#1 v1.5, or
 *	ECDSA with a DER signature), the key found as above: on a token the
 *	token signs.
 *
 *	certs_key_in_memory() makes such a session copy of key, which must
 *	be on the internal token. NSS copies a session key object each time
 *	it copies the SECKEYPrivateKey (NSS's CMS code does that for every
 *	signer info), and such a copy of an RSA key costs a fifth of a
 *	signature (callgrind: in freebl, under C_CopyObject). The copy made here is therefore
 *	marked as not temporary, so that its SECKEYPrivateKey copies are
 *	references to the one object. certs_key_in_memory_free() destroys
 *	it and its object; no reference may be used afterwards.
 * DIAGNOSTICS
 *	NULL when the certificate has no private key, or the key is not on
 *	the internal token; PORT_GetError() says why.
 */

#include <limits.h>
#include <stdlib.h>

#include <cryptohi.h>
#include <secerr.h>

#include "certs_int.h"

struct certs_keycache {
	struct certs_keycache *next;
	CERTCertificate *cert;		/* the key's certificate, referenced */
	SECKEYPrivateKey *key;		/* from certs_key_in_memory() */
	int64_t	checked;		/* sg_mono_ms() the database last had it */
	bool	recheck;		/* ask at the next use, whenever checked */
	bool	gone;			/* removed from the database since */
};

/*
 * live - is k's key still in the database? Asked once per lookup_ttl
 * (a database read), under c->lock. A removed key is marked, never
 * freed here: another thread may be using a reference to its object.
 */
static bool live(struct certs *c, struct certs_keycache *k)
{
	int64_t	now = sg_mono_ms();
	SECKEYPrivateKey *stored;

	if (k->gone || (!k->recheck && now - k->checked < c->lookup_ttl))
		return (!k->gone);
	/* not certs_has_key(): it finds our own session copy of the key */
	if ((stored = PK11_FindKeyByAnyCert(k->cert, NULL)) == NULL) {
		k->gone = true;
		return (false);
	}
	SECKEY_DestroyPrivateKey(stored);
	k->checked = now;
	k->recheck = false;
	return (true);
}

static SECKEYPrivateKey *cache_find(struct certs *c, const CERTCertificate *cert)
{
	for (struct certs_keycache *k = c->keys; k; k = k->next)
		if (SECITEM_ItemsAreEqual(&k->cert->derCert, &cert->derCert) && live(c, k))
			return (SECKEY_CopyPrivateKey(k->key));
	return (NULL);
}

/* cache_add - keep the session copy; returns a reference for the caller */

static SECKEYPrivateKey *cache_add(struct certs *c, CERTCertificate *cert,
				   SECKEYPrivateKey *copy)
{
	struct certs_keycache *k = sg_xcalloc(1, sizeof(*k));

	k->cert = CERT_DupCertificate(cert);
	k->key = copy;
	k->checked = sg_mono_ms();
	k->next = c->keys;
	c->keys = k;
	return (SECKEY_CopyPrivateKey(copy));
}

SECKEYPrivateKey *certs_key_in_memory(SECKEYPrivateKey *key)
{
	SECKEYPrivateKey *copy;

	if (!PK11_IsInternalKeySlot(key->pkcs11Slot)) {
		PORT_SetError(SEC_ERROR_INVALID_ARGS);
		return (NULL);
	}
	if ((copy = PK11_CopyTokenPrivKeyToSessionPrivKey(key->pkcs11Slot, key)) != NULL)
		copy->pkcs11IsTemp = PR_FALSE;
	return (copy);
}

void	certs_key_in_memory_free(SECKEYPrivateKey *copy)
{
	if (copy == NULL)
		return;
	copy->pkcs11IsTemp = PR_TRUE;		/* now its object goes too */
	SECKEY_DestroyPrivateKey(copy);
}

SECKEYPrivateKey *certs_key_for(struct certs *c, CERTCertificate *cert)
{
	SECKEYPrivateKey *key, *copy;

	pthread_mutex_lock(&c->lock);
	if ((key = cache_find(c, cert)) != NULL) {
		pthread_mutex_unlock(&c->lock);
		return (key);
	}
	if ((key = PK11_FindKeyByAnyCert(cert, NULL)) != NULL &&
	    PK11_IsInternalKeySlot(key->pkcs11Slot) &&
	    (copy = certs_key_in_memory(key)) != NULL) {
		SECKEY_DestroyPrivateKey(key);
		key = cache_add(c, cert, copy);
	}
	pthread_mutex_unlock(&c->lock);
	return (key);
}

void	certs_keycache_recheck(struct certs *c)
{
	for (struct certs_keycache *k = c->keys; k; k = k->next)
		k->recheck = true;
}

void	certs_keycache_free(struct certs *c)
{
	struct certs_keycache *k, *next;

	for (k = c->keys; k; k = next) {
		next = k->next;
		certs_key_in_memory_free(k->key);
		CERT_DestroyCertificate(k->cert);
		free(k);
	}
	c->keys = NULL;
}

SECKEYPrivateKey *certs_private_key(struct certs *c, CERTCertificate *cert)
{
	return (certs_key_for(c, cert));
}

SECKEYPrivateKey *certs_key_named(struct certs *c, const SECItem *issuer, const SECItem *serial,
				  CERTCertificate **certp)
{
	SECKEYPrivateKey *key = NULL;

	*certp = NULL;
	pthread_mutex_lock(&c->lock);
	for (struct certs_keycache *k = c->keys; k && key == NULL; k = k->next)
		if (SECITEM_ItemsAreEqual(&k->cert->derIssuer, issuer)
		    && SECITEM_ItemsAreEqual(&k->cert->serialNumber, serial) && live(c, k)) {
			key = SECKEY_CopyPrivateKey(k->key);
			*certp = CERT_DupCertificate(k->cert);
		}
	pthread_mutex_unlock(&c->lock);
	return (key);
}

int	certs_sign_data(struct certs *c, CERTCertificate *cert, const void *buf, size_t len,
			struct sg_buf *out)
{
	SECKEYPrivateKey *key = certs_key_for(c, cert);
	SECItem	sig = {siBuffer, NULL, 0};
	SECOidTag alg;
	int	rc = 0;

	if (key == NULL)
		return (SG_ENOTFOUND);
	switch (SECKEY_GetPrivateKeyType(key)) {
	case rsaKey:
		alg = SEC_OID_PKCS1_SHA256_WITH_RSA_ENCRYPTION;
		break;
	case ecKey:
		alg = SEC_OID_ANSIX962_ECDSA_SHA256_SIGNATURE;
		break;
	default:
		SECKEY_DestroyPrivateKey(key);
		return (SG_EUNSUPPORTED);
	}
	if (len > INT_MAX ||
	    SEC_SignData(&sig, (const unsigned char *) buf, (int) len, key, alg) != SECSuccess)
		rc = certs_nss_err(SG_ECRYPTO);
	else
		sg_buf_append(out, sig.data, sig.len);
	SECITEM_FreeItem(&sig, PR_FALSE);
	SECKEY_DestroyPrivateKey(key);
	return (rc);
}
