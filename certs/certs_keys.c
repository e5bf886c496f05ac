/*
 * NAME
 *	certs_keys 3
 * SUMMARY
 *	private keys without a key derivation per use
 * SYNOPSIS
 *	#include "certs_int.h"
 *
 *	SECKEYPrivateKey *certs_key_for(c, cert)
 *	void	certs_keycache_free(c)
 *
 *	#include "certs/certs.h"
 *
 *	SECKEYPrivateKey *certs_private_key(c, cert)
 *	int	certs_sign_data(c, cert, buf, len, &out)
 * DESCRIPTION
 *	With a password on NSS's key database, softoken decrypts the
 *	attributes of a stored private key with a PBKDF2-derived key on
 *	every use: about 26 ms per RSA-2048 signature instead of 1.5 ms.
 *	certs_key_for() therefore copies a key of the password-protected
 *	internal token, once per process, into a session object on the same
 *	token (PK11_CopyTokenPrivKeyToSessionPrivKey), which lives in memory
 *	only and costs no derivation, and hands out references to that copy.
 *	Keys on other tokens (HSMs) and keys of a database without password
 *	are returned as found. The caller destroys the returned key with
 *	SECKEY_DestroyPrivateKey(). Thread-safe.
 *
 *	certs_keycache_free() drops the copies (at certs_close()).
 *
 *	certs_private_key() is certs_key_for() for other components.
 *	certs_sign_data() signs bytes with SHA-256 (RSA PKCS#1 v1.5, or
 *	ECDSA with a DER signature), the key found as above: on a token the
 *	token signs.
 * DIAGNOSTICS
 *	NULL when the certificate has no private key; PORT_GetError() says
 *	why.
 */

#include <limits.h>
#include <stdlib.h>

#include <cryptohi.h>

#include "certs_int.h"

struct certs_keycache {
	struct certs_keycache *next;
	SECItem	der;			/* the certificate, as the key's name */
	SECKEYPrivateKey *key;		/* the session copy */
};

static SECKEYPrivateKey *cache_find(struct certs *c, const CERTCertificate *cert)
{
	for (struct certs_keycache *k = c->keys; k; k = k->next)
		if (SECITEM_ItemsAreEqual(&k->der, &cert->derCert))
			return (SECKEY_CopyPrivateKey(k->key));
	return (NULL);
}

/* cache_add - keep the session copy; returns a reference for the caller */

static SECKEYPrivateKey *cache_add(struct certs *c, const CERTCertificate *cert,
				   SECKEYPrivateKey *copy)
{
	struct certs_keycache *k = sg_xcalloc(1, sizeof(*k));

	if (SECITEM_CopyItem(NULL, &k->der, &cert->derCert) != SECSuccess) {
		free(k);
		return (copy);
	}
	k->key = copy;
	k->next = c->keys;
	c->keys = k;
	return (SECKEY_CopyPrivateKey(copy));
}

SECKEYPrivateKey *certs_key_for(struct certs *c, CERTCertificate *cert)
{
	SECKEYPrivateKey *key, *copy;

	if (c->password == NULL)
		return (PK11_FindKeyByAnyCert(cert, NULL));
	pthread_mutex_lock(&c->lock);
	if ((key = cache_find(c, cert)) != NULL) {
		pthread_mutex_unlock(&c->lock);
		return (key);
	}
	if ((key = PK11_FindKeyByAnyCert(cert, NULL)) != NULL &&
	    PK11_IsInternalKeySlot(key->pkcs11Slot) &&
	    (copy = PK11_CopyTokenPrivKeyToSessionPrivKey(key->pkcs11Slot, key)) != NULL) {
		SECKEY_DestroyPrivateKey(key);
		key = cache_add(c, cert, copy);
	}
	pthread_mutex_unlock(&c->lock);
	return (key);
}

void	certs_keycache_free(struct certs *c)
{
	struct certs_keycache *k, *next;

	for (k = c->keys; k; k = next) {
		next = k->next;
		SECKEY_DestroyPrivateKey(k->key);
		SECITEM_FreeItem(&k->der, PR_FALSE);
		free(k);
	}
	c->keys = NULL;
}

SECKEYPrivateKey *certs_private_key(struct certs *c, CERTCertificate *cert)
{
	return (certs_key_for(c, cert));
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
