/*
 * NAME
 *	certs_seal 3
 * SUMMARY
 *	seal bytes under a cluster key file: AES-256-GCM
 * SYNOPSIS
 *	#include "certs/certs.h"
 *
 *	int	certs_seal(secret, in, len, out)
 *	int	certs_unseal(secret, in, len, out)
 *	int	certs_mac(secret, head, hlen, data, dlen, mac)
 * DESCRIPTION
 *	A cluster's private keys travel as PKCS#12 sealed under the cluster
 *	key file (cluster.key_file), which only root and the worker's user
 *	read: the database, the network and the cluster role see only the
 *	sealed bytes. certs_seal() appends nonce(12) ciphertext tag(16) to
 *	out: AES-256-GCM with a random nonce, the key SHA-256 of secret (the
 *	key file is random: "openssl rand -base64 32"; no stretching needed)
 *	and SEAL_AAD as additional data. certs_unseal() reverses it and
 *	appends the plaintext to out; the input is untrusted (from the
 *	database): any length is checked, and a wrong key or a changed byte
 *	is SG_ECRYPTO. NSS must be initialised (certs_open()).
 *
 *	certs_mac() is HMAC-SHA256 over head then data, keyed with the
 *	SHA-256 of MAC_LABEL and secret (never the sealing key): what
 *	authenticates a cluster's certificate rows, which the database holds
 *	in the clear, as made by a node that reads the key file.
 * DIAGNOSTICS
 *	0, SG_EINVAL (too short or too long), SG_ECRYPTO.
 */

#include <stdint.h>
#include <string.h>

#include <pk11pub.h>

#include "certs_int.h"

#define SEAL_AAD	"sealgate cluster key v1"
#define MAC_LABEL	"sealgate cluster row mac v1"
#define SEAL_MAX	(64u << 20)

/* seal_key - the AES-256 key of secret, for op (CKA_ENCRYPT or CKA_DECRYPT) */

static PK11SymKey *seal_key(const char *secret, CK_ATTRIBUTE_TYPE op)
{
	unsigned char k[32];
	SECItem	ki = {siBuffer, k, sizeof(k)};
	PK11SlotInfo *slot;
	PK11SymKey *key = NULL;

	if (PK11_HashBuf(SEC_OID_SHA256, k, (const unsigned char *) secret,
			 (PRInt32) strlen(secret)) != SECSuccess)
		return (NULL);
	if ((slot = PK11_GetBestSlot(CKM_AES_GCM, NULL)) != NULL) {
		key = PK11_ImportSymKey(slot, CKM_AES_GCM, PK11_OriginUnwrap, op, &ki, NULL);
		PK11_FreeSlot(slot);
	}
	memset(k, 0, sizeof(k));
	return (key);
}

static int gcm(const char *secret, bool enc, const unsigned char nonce[12],
	       const unsigned char *in, size_t len, struct sg_buf *out)
{
	CK_GCM_PARAMS_V3 g = {(unsigned char *) nonce, 12, 96, (unsigned char *) SEAL_AAD,
		sizeof(SEAL_AAD) - 1, 128};
	SECItem	gi = {siBuffer, (unsigned char *) &g, sizeof(g)};
	PK11SymKey *key = seal_key(secret, enc ? CKA_ENCRYPT : CKA_DECRYPT);
	unsigned n = 0;
	SECStatus st;

	if (key == NULL)
		return (SG_ECRYPTO);
	sg_buf_reserve(out, len + 16);
	st = enc ? PK11_Encrypt(key, CKM_AES_GCM, &gi, (unsigned char *) out->data + out->len, &n,
				(unsigned) len + 16, in, (unsigned) len)
		: PK11_Decrypt(key, CKM_AES_GCM, &gi, (unsigned char *) out->data + out->len, &n,
			       (unsigned) len, in, (unsigned) len);
	PK11_FreeSymKey(key);
	if (st != SECSuccess)
		return (SG_ECRYPTO);
	out->len += n;
	return (0);
}

int	certs_seal(const char *secret, const void *in, size_t len, struct sg_buf *out)
{
	unsigned char nonce[12];

	if (len == 0 || len > SEAL_MAX)
		return (SG_EINVAL);
	if (PK11_GenerateRandom(nonce, sizeof(nonce)) != SECSuccess)
		return (SG_ECRYPTO);
	sg_buf_append(out, nonce, sizeof(nonce));
	return (gcm(secret, true, nonce, in, len, out));
}

int	certs_unseal(const char *secret, const void *in, size_t len, struct sg_buf *out)
{
	const unsigned char *p = in;

	if (len < 12 + 16 + 1 || len > SEAL_MAX + 12 + 16)
		return (SG_EINVAL);
	return (gcm(secret, false, p, p + 12, len - 12, out));
}

int	certs_mac(const char *secret, const void *head, size_t hlen, const void *data,
		  size_t dlen, unsigned char mac[32])
{
	unsigned char k[32];
	SECItem	ki = {siBuffer, k, sizeof(k)}, none = {siBuffer, NULL, 0};
	PK11Context *h = NULL, *ctx = NULL;
	PK11SlotInfo *slot = NULL;
	PK11SymKey *key = NULL;
	unsigned n = 0;
	int	rc = SG_ECRYPTO;

	if (hlen > INT32_MAX || dlen > INT32_MAX)
		return (SG_EINVAL);
	if ((h = PK11_CreateDigestContext(SEC_OID_SHA256)) == NULL
	    || PK11_DigestBegin(h) != SECSuccess
	    || PK11_DigestOp(h, (const unsigned char *) MAC_LABEL, sizeof(MAC_LABEL) - 1)
	    != SECSuccess
	    || PK11_DigestOp(h, (const unsigned char *) secret, (unsigned) strlen(secret))
	    != SECSuccess || PK11_DigestFinal(h, k, &n, sizeof(k)) != SECSuccess)
		goto out;
	if ((slot = PK11_GetBestSlot(CKM_SHA256_HMAC, NULL)) == NULL
	    || (key = PK11_ImportSymKey(slot, CKM_SHA256_HMAC, PK11_OriginUnwrap, CKA_SIGN, &ki,
					NULL)) == NULL
	    || (ctx = PK11_CreateContextBySymKey(CKM_SHA256_HMAC, CKA_SIGN, key, &none)) == NULL
	    || PK11_DigestBegin(ctx) != SECSuccess
	    || PK11_DigestOp(ctx, head, (unsigned) hlen) != SECSuccess
	    || (dlen && PK11_DigestOp(ctx, data, (unsigned) dlen) != SECSuccess)
	    || PK11_DigestFinal(ctx, mac, &n, 32) != SECSuccess || n != 32)
		goto out;
	rc = 0;
out:
	if (ctx)
		PK11_DestroyContext(ctx, PR_TRUE);
	if (key)
		PK11_FreeSymKey(key);
	if (slot)
		PK11_FreeSlot(slot);
	if (h)
		PK11_DestroyContext(h, PR_TRUE);
	memset(k, 0, sizeof(k));
	return (rc);
}
