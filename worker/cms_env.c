/*
 * NAME
 *	cms_env 3
 * SUMMARY
 *	encrypted CMS of our own: EnvelopedData with AES-CBC
 * SYNOPSIS
 *	#include "worker/worker_int.h"
 *
 *	int	worker__cms_encrypt(recipients, n, content, p, len, der)
 *	const struct worker_cipher *worker__cipher(content)
 * DESCRIPTION
 *	Why: NSS 3.87's CMS encoder knows RSA PKCS#1 v1.5 key transport
 *	only. The gateway writes the EnvelopedData itself (RFC 5652 6) and
 *	NSS does the cryptography: PK11_KeyGen for a fresh content-encryption
 *	key on the internal token, the key transport (cms_kem.c), and
 *	PK11_Encrypt.
 *
 *	worker__cms_encrypt() appends to der a DER ContentInfo holding an
 *	EnvelopedData of p: version 0 (2 when a recipient info is not a
 *	version 0 one, RFC 5652 6.1), one recipient info per recipient in
 *	their order, id-data content encrypted with AES-128-CBC or
 *	AES-256-CBC (content, enum worker_content) under a random IV carried
 *	as the algorithm's parameters (RFC 3565), PKCS#7 padding.
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
		if ((rc = worker__ktri_put(r[i].cert, r[i].kt, cek, out)) < 0)
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

int	worker__cms_encrypt(const struct worker_recipient *r, size_t n, int content,
			    const char *p, size_t len, struct sg_buf *der)
{
	const struct worker_cipher *ci = worker__cipher(content);
	struct sg_buf ris = SG_BUF_INIT, alg = SG_BUF_INIT, ct = SG_BUF_INIT;
	PK11SlotInfo *slot;
	PK11SymKey *cek = NULL;
	unsigned char iv[16], ivtlv[18];
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
	if ((rc = recipient_infos(r, n, cek, &ris, &v0)) < 0
	    || (rc = cbc(cek, ci, p, len, iv, &ct)) < 0)
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
