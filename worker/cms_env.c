/*
 * NAME
 *	cms_env 3
 * SUMMARY
 *	encrypted CMS of our own: EnvelopedData with AES-CBC, AuthEnvelopedData
 *	with AES-GCM
 * SYNOPSIS
 *	#include "worker/worker_int.h"
 *
 *	int	worker__cms_encrypt(recipients, n, content, p, len, der)
 *	const struct worker_cipher *worker__cipher(content)
 * DESCRIPTION
 *	Why: NSS 3.87's CMS encoder knows RSA PKCS#1 v1.5 key transport
 *	only, and no AuthEnvelopedData. The gateway writes both itself and
 *	NSS does the cryptography: PK11_KeyGen for a fresh content-encryption
 *	key on the internal token, the key transport (cms_kem.c), and
 *	PK11_Encrypt.
 *
 *	worker__cms_encrypt() appends to der a DER ContentInfo holding an
 *	EnvelopedData of p: version 0 (2 when a recipient info is not a
 *	version 0 one, RFC 5652 6.1), one recipient info per recipient in
 *	their order (RSA keys key transport, EC keys ECDH key agreement,
 *	cms_kem.c), id-data content encrypted with AES-128-CBC or
 *	AES-256-CBC (content, enum worker_content) under a random IV carried
 *	as the algorithm's parameters (RFC 3565), PKCS#7 padding.
 *
 *	With AES-128-GCM or AES-256-GCM it writes an AuthEnvelopedData (RFC
 *	5083) the way every reader takes it (the profile OpenSSL 3.0 reads,
 *	notes/modern-cms.md 6): version 0, no authenticated or
 *	unauthenticated attributes (OpenSSL 3.0 cannot parse authAttrs), id-
 *	data content, GCMParameters (RFC 5084) with a fresh random 12-byte
 *	nonce and the ICV length 16 written out (OpenSSL requires the field),
 *	the ciphertext in encryptedContent and the 16-byte tag in mac only.
 *
 *	worker__cipher() describes a content algorithm: its OID, PKCS#11
 *	mechanism and key length.
 * DIAGNOSTICS
 *	SG_ECRYPTO when NSS fails (PORT_GetError() says why), SG_EUNSUPPORTED
 *	for a recipient key that cannot receive, SG_EINVAL for no recipient.
 */

#include <string.h>

#include "worker_int.h"

static const struct worker_cipher ciphers[] = {
	[WORKER_CE_AES128_CBC] = { WORKER_OID_AES128_CBC, CKM_AES_CBC_PAD, 16, false },
	[WORKER_CE_AES256_CBC] = { WORKER_OID_AES256_CBC, CKM_AES_CBC_PAD, 32, false },
	[WORKER_CE_AES128_GCM] = { WORKER_OID_AES128_GCM, CKM_AES_GCM, 16, true },
	[WORKER_CE_AES256_GCM] = { WORKER_OID_AES256_GCM, CKM_AES_GCM, 32, true },
};

const struct worker_cipher *worker__cipher(int content)
{
	if (content < 0 || content >= (int) SG_NELEM(ciphers))
		return (NULL);
	return (&ciphers[content]);
}

/* tlv_size - a TLV of n content octets */

static size_t tlv_size(size_t n)
{
	return (1 + (n < 0x80 ? 1 : n <= 0xff ? 2 : n <= 0xffff ? 3 : n <= 0xffffff ? 4 : 5) + n);
}

/* recipient_infos - one per recipient; *all_v0 false if any is not version 0 */

static int recipient_infos(const struct worker_recipient *r, size_t n, PK11SymKey *cek,
			   struct sg_buf *out, bool *all_v0)
{
	int	rc;

	*all_v0 = true;
	for (size_t i = 0; i < n; i++) {
		if (CERT_GetCertKeyType(&r[i].cert->subjectPublicKeyInfo) == ecKey) {
			rc = worker__kari_put(r[i].cert, cek, out);
			*all_v0 = false;		/* kari is version 3 */
		} else
			rc = worker__ktri_put(r[i].cert, r[i].kt, cek, out);
		if (rc < 0)
			return (rc);
	}
	return (0);
}

/* cbc - the ciphertext of p under cek and a fresh IV, written to ct */

static int cbc(PK11SymKey *cek, const struct worker_cipher *ci, const char *p, size_t len,
	       unsigned char iv[16], struct sg_buf *ct)
{
	SECItem	ivi = { siBuffer, iv, 16 };
	unsigned out = 0;

	if (len > 0x7fffff00u || PK11_GenerateRandom(iv, 16) != SECSuccess)
		return (SG_ECRYPTO);
	sg_buf_reserve(ct, len + 16);
	if (PK11_Encrypt(cek, ci->mech, &ivi, (unsigned char *) ct->data + ct->len, &out,
			 (unsigned) len + 16, (const unsigned char *) p, (unsigned) len) != SECSuccess)
		return (SG_ECRYPTO);
	ct->len += out;
	return (0);
}

/* gcm - ciphertext of p into ct and its 16-byte tag into tag, under a fresh nonce */

static int gcm(PK11SymKey *cek, const char *p, size_t len, unsigned char nonce[12],
	       struct sg_buf *ct, unsigned char tag[16])
{
	CK_GCM_PARAMS_V3 g = { nonce, 12, 96, NULL, 0, 128 };
	SECItem	gi = { siBuffer, (unsigned char *) &g, sizeof(g) };
	unsigned out = 0;

	if (len > 0x7fffff00u || PK11_GenerateRandom(nonce, 12) != SECSuccess)
		return (SG_ECRYPTO);
	sg_buf_reserve(ct, len + 16);
	if (PK11_Encrypt(cek, CKM_AES_GCM, &gi, (unsigned char *) ct->data + ct->len, &out,
			 (unsigned) len + 16, (const unsigned char *) p, (unsigned) len) != SECSuccess
	    || out != len + 16)
		return (SG_ECRYPTO);
	memcpy(tag, ct->data + ct->len + len, 16);	/* ciphertext || tag: the tag goes to mac */
	ct->len += len;
	return (0);
}

/* put_auth - the ContentInfo of an AuthEnvelopedData around ris and ct */

static void put_auth(struct sg_buf *der, const struct worker_cipher *ci, const struct sg_buf *ris,
		     const unsigned char nonce[12], const struct sg_buf *ct,
		     const unsigned char tag[16])
{
	struct sg_buf params = SG_BUF_INIT, alg = SG_BUF_INIT;
	size_t	eci, env, top;

	worker__der_put_hdr(&params, 0x30, 14 + 3);
	worker__der_put(&params, 0x04, nonce, 12);
	sg_buf_append(&params, "\x02\x01\x10", 3);	/* aes-ICVlen 16, written out */
	worker__algid_put(&alg, ci->oid, params.data, params.len);
	eci = worker__oids[WORKER_OID_DATA].len + alg.len + tlv_size(ct->len);
	env = 3 + tlv_size(ris->len) + tlv_size(eci) + 18;
	top = worker__oids[WORKER_OID_AUTH_ENVELOPED_DATA].len + tlv_size(tlv_size(env));
	sg_buf_reserve(der, tlv_size(top));
	worker__der_put_hdr(der, 0x30, top);
	worker__oid_put(der, WORKER_OID_AUTH_ENVELOPED_DATA);
	worker__der_put_hdr(der, 0xa0, tlv_size(env));
	worker__der_put_hdr(der, 0x30, env);
	sg_buf_append(der, "\x02\x01\x00", 3);
	worker__der_put(der, 0x31, ris->data, ris->len);
	worker__der_put_hdr(der, 0x30, eci);
	worker__oid_put(der, WORKER_OID_DATA);
	sg_buf_append(der, alg.data, alg.len);
	worker__der_put(der, 0x80, ct->data, ct->len);
	worker__der_put(der, 0x04, tag, 16);
	sg_buf_free(&params);
	sg_buf_free(&alg);
}

int	worker__cms_encrypt(const struct worker_recipient *r, size_t n, int content,
			    const char *p, size_t len, struct sg_buf *der)
{
	const struct worker_cipher *ci = worker__cipher(content);
	struct sg_buf ris = SG_BUF_INIT, alg = SG_BUF_INIT, ct = SG_BUF_INIT;
	PK11SlotInfo *slot;
	PK11SymKey *cek = NULL;
	unsigned char iv[16], ivtlv[18], tag[16];
	size_t	eci, env, top;
	bool	v0;
	int	rc = SG_ECRYPTO;

	if (n == 0 || ci == NULL)
		return (SG_EINVAL);
	if ((slot = PK11_GetInternalSlot()) == NULL)
		return (SG_ECRYPTO);
	cek = PK11_KeyGen(slot, ci->mech, NULL, ci->keylen, NULL);
	PK11_FreeSlot(slot);
	if (cek == NULL)
		return (SG_ECRYPTO);
	if ((rc = recipient_infos(r, n, cek, &ris, &v0)) < 0)
		goto out;
	if (ci->gcm) {
		if ((rc = gcm(cek, p, len, iv, &ct, tag)) == 0)
			put_auth(der, ci, &ris, iv, &ct, tag);
		goto out;
	}
	if ((rc = cbc(cek, ci, p, len, iv, &ct)) < 0)
		goto out;
	ivtlv[0] = 0x04;
	ivtlv[1] = 16;
	memcpy(ivtlv + 2, iv, 16);
	worker__algid_put(&alg, ci->oid, ivtlv, sizeof(ivtlv));
	/* Sizes first: the ciphertext is copied once, into der. */
	eci = worker__oids[WORKER_OID_DATA].len + alg.len + tlv_size(ct.len);
	env = 3 + tlv_size(ris.len) + tlv_size(eci);
	top = worker__oids[WORKER_OID_ENVELOPED_DATA].len + tlv_size(tlv_size(env));
	sg_buf_reserve(der, tlv_size(top));
	worker__der_put_hdr(der, 0x30, top);
	worker__oid_put(der, WORKER_OID_ENVELOPED_DATA);
	worker__der_put_hdr(der, 0xa0, tlv_size(env));
	worker__der_put_hdr(der, 0x30, env);
	sg_buf_append(der, v0 ? "\x02\x01\x00" : "\x02\x01\x02", 3);
	worker__der_put(der, 0x31, ris.data, ris.len);
	worker__der_put_hdr(der, 0x30, eci);
	worker__oid_put(der, WORKER_OID_DATA);
	sg_buf_append(der, alg.data, alg.len);
	worker__der_put(der, 0x80, ct.data, ct.len);
	rc = 0;
out:
	PK11_FreeSymKey(cek);
	sg_buf_free(&ris);
	sg_buf_free(&alg);
	sg_buf_free(&ct);
	return (rc);
}
