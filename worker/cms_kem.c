/*
 * NAME
 *	cms_kem 3
 * SUMMARY
 *	the content-encryption key for one recipient: RSA key transport, ECDH
 *	key agreement
 * SYNOPSIS
 *	#include "worker/worker_int.h"
 *
 *	int	worker__ktri_put(rcpt, kt, cek, out)
 *	PK11SymKey *worker__ktri_unwrap(key, ktri, target, keylen)
 *	int	worker__kari_put(rcpt, cek, out)
 *
 *	#include "worker/worker.h"
 *
 *	void	worker_recipient_desc(cert, algs, buf, len)
 *	PK11SymKey *worker__kari_unwrap(key, pub, kari, rek, target, keylen)
 * DESCRIPTION
 *	worker__ktri_put() appends a KeyTransRecipientInfo (RFC 5652 6.2.1,
 *	version 0, issuerAndSerialNumber) carrying cek encrypted to rcpt's
 *	RSA key: PKCS#1 v1.5 (rsaEncryption, NULL parameters) or RSAES-OAEP
 *	(RFC 3560): with the defaults its parameters are the empty SEQUENCE
 *	(SHA-1, MGF1-SHA-1), with SHA-256 they name SHA-256 and MGF1-SHA-256
 *	(hash parameters absent, as RFC 4055 2.1 prefers). The key never
 *	leaves NSS: PK11_PubWrapSymKeyWithMechanism.
 *
 *	worker__ktri_unwrap() unwraps a KeyTransRecipientInfo's key with
 *	key (in memory, or on a token, which then does the work) as a key for
 *	mechanism target of keylen bytes, PK11_PubUnwrapSymKeyWithMechanism
 *	with CKM_RSA_PKCS or CKM_RSA_PKCS_OAEP and the parameters the sender
 *	named. A wrong key, bad padding and a key of another length all give
 *	NULL alike (and so does the content decryption that an attacker's
 *	random key leads to): no padding oracle is told apart.
 *
 *	worker__kari_put() appends a KeyAgreeRecipientInfo (RFC 5652 6.2.2,
 *	RFC 5753 3.1.1) for rcpt's EC key (P-256, P-384, P-521): a fresh
 *	ephemeral key pair on the curve of rcpt's key (the originatorKey,
 *	id-ecPublicKey with its parameters left out as OpenSSL writes them:
 *	the curve is the recipient's), dhSinglePass-stdDH-shaNNNkdf-scheme
 *	with SHA-256 on P-256, SHA-384 on P-384, SHA-512 on P-521 (the X9.63
 *	KDF over ECC-CMS-SharedInfo: the key-wrap AlgorithmIdentifier and the
 *	KEK length in bits), and the CEK wrapped with AES key wrap (RFC 3394)
 *	under a KEK as long as the CEK or the curve's strength asks, whichever
 *	is longer: id-aes128-wrap for AES-128 on P-256, id-aes256-wrap
 *	otherwise. The recipient is named by issuer and serial number, no
 *	ukm is sent. NSS derives and wraps (PK11_PubDeriveWithKDF,
 *	PK11_WrapSymKey with CKM_NSS_AES_KEY_WRAP): no key material in our
 *	memory.
 *
 *	worker__kari_unwrap() does the reverse with our key and its public
 *	half pub: the sender's point on pub's curve (an originatorKey naming another
 *	curve is refused), the scheme's hash (SHA-1 to SHA-512, standard or
 *	cofactor ECDH: the same on these prime curves), the key wrap's KEK
 *	length (AES-128/192/256 wrap), the SharedInfo with the wrap
 *	AlgorithmIdentifier exactly as received (so NULL parameters a peer
 *	wrote still give the same KEK) and the ukm. NSS checks the point is
 *	on the curve. A key on a PKCS#11 token that cannot run the KDF
 *	itself (SoftHSM offers CKD_NULL only) derives the shared secret
 *	there; the X9.63 KDF then runs here over it, and the secret and the
 *	KEK are wiped at once.
 *
 *	worker_recipient_desc() says in words how the content key reaches
 *	cert under algs: "key transport oaep-sha256", or "ECDH P-256,
 *	dhSinglePass-stdDH-sha256kdf, id-aes128-wrap" (for sealctl).
 * DIAGNOSTICS
 *	worker__ktri_put(): SG_ECRYPTO when NSS fails, SG_EUNSUPPORTED for a
 *	key that is not RSA; worker__kari_put() the same for a key that is
 *	not EC on a supported curve. The unwrappers return NULL.
 */

#include <string.h>

#include "worker_int.h"

/* oaep_params - PKCS#11's view of RSAES-OAEP parameters */

static void oaep_params(int hash, int mgf_hash, const struct worker_der *label,
			CK_RSA_PKCS_OAEP_PARAMS *p)
{
	memset(p, 0, sizeof(*p));
	p->hashAlg = worker__hash_mech(hash);
	p->mgf = worker__hash_mgf(mgf_hash);
	p->source = CKZ_DATA_SPECIFIED;
	if (label && label->p && label->len) {
		p->pSourceData = (void *) worker__der_content(label);
		p->ulSourceDataLen = label->len;
	}
}

/* kea_put - the key-encryption AlgorithmIdentifier of kt */

static void kea_put(int kt, struct sg_buf *out)
{
	struct sg_buf p = SG_BUF_INIT, h = SG_BUF_INIT, m = SG_BUF_INIT;

	if (kt == WORKER_KT_PKCS1) {
		worker__algid_put(out, WORKER_OID_RSA, "\x05\x00", 2);
		return;
	}
	if (kt == WORKER_KT_OAEP_SHA256) {
		worker__hash_algid_put(&h, WORKER_HASH_SHA256, false);
		worker__der_put(&p, 0xa0, h.data, h.len);
		worker__algid_put(&m, WORKER_OID_MGF1, h.data, h.len);
		worker__der_put(&p, 0xa1, m.data, m.len);
	}
	sg_buf_reset(&h);
	worker__der_put(&h, 0x30, p.data, p.len);
	worker__algid_put(out, WORKER_OID_RSAES_OAEP, h.data, h.len);
	sg_buf_free(&p);
	sg_buf_free(&h);
	sg_buf_free(&m);
}

int	worker__ktri_put(CERTCertificate *rcpt, int kt, PK11SymKey *cek, struct sg_buf *out)
{
	SECKEYPublicKey *pub = CERT_ExtractPublicKey(rcpt);
	struct sg_buf ri = SG_BUF_INIT;
	SECItem	w = { siBuffer, NULL, 0 };
	SECStatus rv;
	int	rc = SG_ECRYPTO;

	if (pub == NULL)
		return (SG_ECRYPTO);
	if (pub->keyType != rsaKey) {
		SECKEY_DestroyPublicKey(pub);
		return (SG_EUNSUPPORTED);
	}
	w.len = SECKEY_PublicKeyStrength(pub);
	w.data = sg_xcalloc(1, w.len ? w.len : 1);
	if (kt == WORKER_KT_PKCS1) {
		rv = PK11_PubWrapSymKey(CKM_RSA_PKCS, pub, cek, &w);
	} else {
		CK_RSA_PKCS_OAEP_PARAMS op;
		int	h = kt == WORKER_KT_OAEP_SHA256 ? WORKER_HASH_SHA256 : WORKER_HASH_SHA1;
		SECItem	pi = { siBuffer, (unsigned char *) &op, sizeof(op) };

		oaep_params(h, h, NULL, &op);
		rv = PK11_PubWrapSymKeyWithMechanism(pub, CKM_RSA_PKCS_OAEP, &pi, cek, &w);
	}
	if (rv == SECSuccess) {
		sg_buf_append(&ri, "\x02\x01\x00", 3);
		worker__issuer_sn(rcpt, &ri);
		kea_put(kt, &ri);
		worker__der_put(&ri, 0x04, w.data, w.len);
		worker__der_put(out, 0x30, ri.data, ri.len);
		rc = 0;
	}
	free(w.data);
	sg_buf_free(&ri);
	SECKEY_DestroyPublicKey(pub);
	return (rc);
}

PK11SymKey *worker__ktri_unwrap(SECKEYPrivateKey *key, const struct worker_cms_ktri *k,
				CK_MECHANISM_TYPE target, int keylen)
{
	struct sg_buf ek = SG_BUF_INIT;
	SECItem	wrapped;
	PK11SymKey *cek = NULL;

	if (SECKEY_GetPrivateKeyType(key) != rsaKey || worker__der_octets(&k->ekey, &ek) < 0)
		goto out;
	wrapped = (SECItem) { siBuffer, (unsigned char *) ek.data, (unsigned) ek.len };
	if (k->kea.oid == WORKER_OID_RSA) {
		cek = PK11_PubUnwrapSymKeyWithMechanism(key, CKM_RSA_PKCS, NULL, &wrapped, target,
							CKA_DECRYPT, keylen);
	} else if (k->kea.oid == WORKER_OID_RSAES_OAEP) {
		struct worker_cms_oaep o;
		CK_RSA_PKCS_OAEP_PARAMS op;
		SECItem	pi = { siBuffer, (unsigned char *) &op, sizeof(op) };

		if (worker__cms_oaep_parse(&k->kea, &o) == 0) {
			oaep_params(o.hash, o.mgf_hash, &o.label, &op);
			cek = PK11_PubUnwrapSymKeyWithMechanism(key, CKM_RSA_PKCS_OAEP, &pi, &wrapped,
								target, CKA_DECRYPT, keylen);
		}
	}
out:
	sg_buf_free(&ek);
	return (cek);
}

/* The curves we agree keys on: the DER OID, the KDF hash, the KEK length. */
static const struct {
	int	oid;
	int	hash;
	int	keklen;
	int	scheme;			/* dhSinglePass-stdDH-... */
} curves[] = {
	{ WORKER_OID_P256, WORKER_HASH_SHA256, 16, WORKER_OID_ECDH_SHA256KDF },
	{ WORKER_OID_P384, WORKER_HASH_SHA384, 32, WORKER_OID_ECDH_SHA384KDF },
	{ WORKER_OID_P521, WORKER_HASH_SHA512, 32, WORKER_OID_ECDH_SHA512KDF },
};

/* curve_of - the index in curves of an EC public key, or -1 */

static int curve_of(const SECKEYPublicKey *pub)
{
	const SECItem *p = &pub->u.ec.DEREncodedParams;

	for (int i = 0; i < (int) SG_NELEM(curves); i++)
		if (p->len == worker__oids[curves[i].oid].len
		    && memcmp(p->data, worker__oids[curves[i].oid].der, p->len) == 0)
			return (i);
	return (-1);
}

static CK_EC_KDF_TYPE kdf_of(int hash)
{
	switch (hash) {
	case WORKER_HASH_SHA1:
		return (CKD_SHA1_KDF);
	case WORKER_HASH_SHA256:
		return (CKD_SHA256_KDF);
	case WORKER_HASH_SHA384:
		return (CKD_SHA384_KDF);
	default:
		return (CKD_SHA512_KDF);
	}
}

/* shared_info - ECC-CMS-SharedInfo (RFC 5753 7.2) */

static void shared_info(const unsigned char *wrap, size_t wlen, const struct worker_der *ukm,
			int keklen, struct sg_buf *out)
{
	struct sg_buf c = SG_BUF_INIT, x = SG_BUF_INIT;
	unsigned bits = (unsigned) keklen * 8;
	unsigned char be[4] = { (unsigned char) (bits >> 24), (unsigned char) (bits >> 16),
		(unsigned char) (bits >> 8), (unsigned char) bits };

	sg_buf_append(&c, wrap, wlen);
	if (ukm && ukm->p) {
		worker__der_put(&x, 0x04, worker__der_content(ukm), ukm->len);
		worker__der_put(&c, 0xa0, x.data, x.len);
		sg_buf_reset(&x);
	}
	worker__der_put(&x, 0x04, be, 4);
	worker__der_put(&c, 0xa2, x.data, x.len);
	worker__der_put(out, 0x30, c.data, c.len);
	sg_buf_free(&c);
	sg_buf_free(&x);
}

int	worker__kari_put(CERTCertificate *rcpt, PK11SymKey *cek, struct sg_buf *out)
{
	SECKEYPublicKey *rpub = CERT_ExtractPublicKey(rcpt), *epub = NULL;
	SECKEYPrivateKey *epriv = NULL;
	PK11SlotInfo *slot = NULL;
	PK11SymKey *kek = NULL;
	struct sg_buf wrap = SG_BUF_INIT, si = SG_BUF_INIT, kea = SG_BUF_INIT, ri = SG_BUF_INIT;
	struct sg_buf x = SG_BUF_INIT, y = SG_BUF_INIT;
	unsigned char wrapped[72];
	SECItem	w = { siBuffer, wrapped, 0 }, sitem;
	int	c, keklen, cklen = PK11_GetKeyLength(cek), rc = SG_ECRYPTO;

	if (rpub == NULL)
		return (SG_ECRYPTO);
	if (rpub->keyType != ecKey || (c = curve_of(rpub)) < 0) {
		SECKEY_DestroyPublicKey(rpub);
		return (SG_EUNSUPPORTED);
	}
	keklen = cklen > curves[c].keklen ? cklen : curves[c].keklen;
	worker__algid_put(&wrap, keklen == 16 ? WORKER_OID_AES128_WRAP : keklen == 24 ?
			  WORKER_OID_AES192_WRAP : WORKER_OID_AES256_WRAP, NULL, 0);
	shared_info((const unsigned char *) wrap.data, wrap.len, NULL, keklen, &si);
	sitem = (SECItem) { siBuffer, (unsigned char *) si.data, (unsigned) si.len };
	if ((slot = PK11_GetInternalSlot()) == NULL
	    || (epriv = PK11_GenerateKeyPair(slot, CKM_EC_KEY_PAIR_GEN,
					     &rpub->u.ec.DEREncodedParams, &epub, PR_FALSE,
					     PR_FALSE, NULL)) == NULL
	    || (kek = PK11_PubDeriveWithKDF(epriv, rpub, PR_TRUE, NULL, NULL, CKM_ECDH1_DERIVE,
					    CKM_NSS_AES_KEY_WRAP, CKA_WRAP, keklen,
					    kdf_of(curves[c].hash), &sitem, NULL)) == NULL)
		goto out;
	w.len = (unsigned) cklen + 8;
	if (cklen <= 0 || w.len > sizeof(wrapped)
	    || PK11_WrapSymKey(CKM_NSS_AES_KEY_WRAP, NULL, kek, cek, &w) != SECSuccess)
		goto out;
	/* originator [0] { originatorKey [1] { id-ecPublicKey, BIT STRING point } } */
	worker__algid_put(&x, WORKER_OID_EC_PUBLIC_KEY, NULL, 0);
	worker__der_put_hdr(&x, 0x03, epub->u.ec.publicValue.len + 1);
	sg_buf_putc(&x, 0);
	sg_buf_append(&x, epub->u.ec.publicValue.data, epub->u.ec.publicValue.len);
	worker__der_put(&y, 0xa1, x.data, x.len);
	sg_buf_append(&ri, "\x02\x01\x03", 3);
	worker__der_put(&ri, 0xa0, y.data, y.len);
	worker__algid_put(&kea, curves[c].scheme, wrap.data, wrap.len);
	sg_buf_append(&ri, kea.data, kea.len);
	sg_buf_reset(&x);
	sg_buf_reset(&y);
	worker__issuer_sn(rcpt, &x);
	worker__der_put(&x, 0x04, w.data, w.len);
	worker__der_put(&y, 0x30, x.data, x.len);
	worker__der_put(&ri, 0x30, y.data, y.len);	/* RecipientEncryptedKeys */
	worker__der_put(out, 0xa1, ri.data, ri.len);
	rc = 0;
out:
	if (kek)
		PK11_FreeSymKey(kek);
	if (epriv)
		SECKEY_DestroyPrivateKey(epriv);
	if (epub)
		SECKEY_DestroyPublicKey(epub);
	if (slot)
		PK11_FreeSlot(slot);
	SECKEY_DestroyPublicKey(rpub);
	sg_buf_free(&wrap);
	sg_buf_free(&si);
	sg_buf_free(&kea);
	sg_buf_free(&ri);
	sg_buf_free(&x);
	sg_buf_free(&y);
	return (rc);
}

/* scheme_hash - the KDF hash of a key agreement scheme we accept, or -1 */

static int scheme_hash(int oid)
{
	switch (oid) {
	case WORKER_OID_ECDH_SHA1KDF:
	case WORKER_OID_ECDH_CO_SHA1KDF:
		return (WORKER_HASH_SHA1);
	case WORKER_OID_ECDH_SHA256KDF:
	case WORKER_OID_ECDH_CO_SHA256KDF:
		return (WORKER_HASH_SHA256);
	case WORKER_OID_ECDH_SHA384KDF:
	case WORKER_OID_ECDH_CO_SHA384KDF:
		return (WORKER_HASH_SHA384);
	case WORKER_OID_ECDH_SHA512KDF:
	case WORKER_OID_ECDH_CO_SHA512KDF:
		return (WORKER_HASH_SHA512);
	default:
		return (-1);
	}
}

static int wrap_len(const struct worker_algid *w)
{
	if (w->params.p && !(w->params.p[0] == 0x05 && w->params.len == 0))
		return (-1);
	return (w->oid == WORKER_OID_AES128_WRAP ? 16 : w->oid == WORKER_OID_AES192_WRAP ? 24 :
		w->oid == WORKER_OID_AES256_WRAP ? 32 : -1);
}

/*
 * x963_kek - the KEK by the X9.63 KDF run here over a shared secret a token
 * derived without KDF (CKD_NULL), imported into the internal slot; the
 * secret and the KEK's bytes are wiped before returning
 */
static PK11SymKey *x963_kek(SECKEYPrivateKey *key, SECKEYPublicKey *peer, int hash, int keklen,
			    const struct sg_buf *si)
{
	PK11SymKey *z = PK11_PubDeriveWithKDF(key, peer, PR_FALSE, NULL, NULL, CKM_ECDH1_DERIVE,
					      CKM_GENERIC_SECRET_KEY_GEN, CKA_DERIVE, 0, CKD_NULL,
					      NULL, NULL);
	unsigned char kek[64 + 64], block[64 + 4 + 512];
	unsigned hl = worker__hash_len(hash);
	PK11SymKey *out = NULL;
	SECItem *zv;
	PK11SlotInfo *slot;

	if (z == NULL || PK11_ExtractKeyValue(z) != SECSuccess || (zv = PK11_GetKeyData(z)) == NULL
	    || zv->len > 132 || zv->len + 4 + si->len > sizeof(block))
		goto out;
	for (unsigned n = 0, counter = 1; n < (unsigned) keklen; n += hl, counter++) {
		size_t	bl = 0;

		memcpy(block, zv->data, zv->len);
		bl = zv->len;
		block[bl++] = (unsigned char) (counter >> 24);
		block[bl++] = (unsigned char) (counter >> 16);
		block[bl++] = (unsigned char) (counter >> 8);
		block[bl++] = (unsigned char) counter;
		memcpy(block + bl, si->data, si->len);
		bl += si->len;
		if (PK11_HashBuf(worker__hash_tag(hash), kek + n, block, (PRInt32) bl) != SECSuccess)
			goto out;
	}
	if ((slot = PK11_GetInternalSlot()) != NULL) {
		SECItem	k = { siBuffer, kek, (unsigned) keklen };

		out = PK11_ImportSymKey(slot, CKM_NSS_AES_KEY_WRAP, PK11_OriginUnwrap, CKA_UNWRAP, &k,
					NULL);
		PK11_FreeSlot(slot);
	}
out:
	memset(kek, 0, sizeof(kek));
	memset(block, 0, sizeof(block));
	if (z)
		PK11_FreeSymKey(z);
	return (out);
}

PK11SymKey *worker__kari_unwrap(SECKEYPrivateKey *key, const SECKEYPublicKey *mine,
				const struct worker_cms_kari *k, const struct worker_cms_rek *r,
				CK_MECHANISM_TYPE target, int keylen)
{
	SECKEYPublicKey peer;
	PK11SymKey *kek = NULL, *cek = NULL;
	struct sg_buf si = SG_BUF_INIT;
	SECItem	sitem, ek;
	int	hash = scheme_hash(k->kea.oid), keklen = wrap_len(&k->wrap);
	const struct worker_der *op = &k->okey_alg.params;

	if (mine == NULL || mine->keyType != ecKey || hash < 0 || keklen < 0
	    || SECKEY_GetPrivateKeyType(key) != ecKey)
		goto out;
	/* the originator's parameters, if any, must name our curve */
	if (op->p && !(op->p[0] == 0x05 && op->len == 0)
	    && (worker__der_size(op) != mine->u.ec.DEREncodedParams.len
		|| memcmp(op->p, mine->u.ec.DEREncodedParams.data, worker__der_size(op)) != 0))
		goto out;
	memset(&peer, 0, sizeof(peer));
	peer.keyType = ecKey;
	peer.pkcs11ID = CK_INVALID_HANDLE;
	peer.u.ec.DEREncodedParams = mine->u.ec.DEREncodedParams;
	peer.u.ec.size = mine->u.ec.size;
	peer.u.ec.encoding = ECPoint_Uncompressed;
	peer.u.ec.publicValue = (SECItem) { siBuffer, (unsigned char *) k->point,
		(unsigned) k->pointlen };
	if (k->pointlen != mine->u.ec.publicValue.len)
		goto out;			/* not a point of our curve */
	/* the key wrap AlgorithmIdentifier verbatim: as the sender hashed it */
	shared_info(k->kea.params.p, worker__der_size(&k->kea.params), &k->ukm, keklen, &si);
	sitem = (SECItem) { siBuffer, (unsigned char *) si.data, (unsigned) si.len };
	kek = PK11_PubDeriveWithKDF(key, &peer, PR_FALSE, NULL, NULL, CKM_ECDH1_DERIVE,
				    CKM_NSS_AES_KEY_WRAP, CKA_UNWRAP, keklen, kdf_of(hash), &sitem,
				    NULL);
	if (kek == NULL && !PK11_IsInternal(key->pkcs11Slot))
		kek = x963_kek(key, &peer, hash, keklen, &si);
	if (kek == NULL)
		goto out;
	ek = (SECItem) { siBuffer, (unsigned char *) worker__der_content(&r->ekey),
		(unsigned) r->ekey.len };
	cek = PK11_UnwrapSymKey(kek, CKM_NSS_AES_KEY_WRAP, NULL, &ek, target, CKA_DECRYPT, keylen);
out:
	if (kek)
		PK11_FreeSymKey(kek);
	sg_buf_free(&si);
	return (cek);
}

void	worker_recipient_desc(CERTCertificate *cert, const struct worker_algs *a, char *buf,
			      size_t len)
{
	static const char *const curve[] = { "P-256", "P-384", "P-521" };
	static const char *const scheme[] = { "sha256kdf", "sha384kdf", "sha512kdf" };
	SECKEYPublicKey *pub = CERT_ExtractPublicKey(cert);
	int	c, cklen = worker__cipher(a->content)->keylen, keklen;

	if (pub && pub->keyType == rsaKey)
		snprintf(buf, len, "key transport %s", worker_kt_names[a->kt]);
	else if (pub && pub->keyType == ecKey && (c = curve_of(pub)) >= 0) {
		keklen = cklen > curves[c].keklen ? cklen : curves[c].keklen;
		snprintf(buf, len, "ECDH %s, dhSinglePass-stdDH-%s, id-aes%d-wrap", curve[c],
			 scheme[c], keklen * 8);
	} else
		snprintf(buf, len, "none (the key cannot receive)");
	if (pub)
		SECKEY_DestroyPublicKey(pub);
}
