/*
 * NAME
 *	cms_kem 3
 * SUMMARY
 *	the content-encryption key for one recipient: RSA key transport
 * SYNOPSIS
 *	#include "worker/worker_int.h"
 *
 *	int	worker__ktri_put(rcpt, kt, cek, out)
 *	PK11SymKey *worker__ktri_unwrap(key, ktri, target, keylen)
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
 * DIAGNOSTICS
 *	worker__ktri_put(): SG_ECRYPTO when NSS fails, SG_EUNSUPPORTED for a
 *	key that is not RSA. worker__ktri_unwrap(): NULL.
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
