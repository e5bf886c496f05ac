/*
 * NAME
 *	cms_sign 3
 * SUMMARY
 *	SignedData by hand: PKCS#1 v1.5, RSASSA-PSS and ECDSA signers
 * SYNOPSIS
 *	#include "worker/worker_int.h"
 *
 *	int	worker__cms_sign(signer, spec, content, len, detached, out)
 *	void	worker__issuer_sn(cert, out)
 *	int	worker__ecdsa_der(raw, len, out)
 * DESCRIPTION
 *	Why: NSS 3.87's CMS signer picks the signature algorithm itself
 *	(SEC_GetSignatureAlgorithmOidTag has no PSS case), can only be given
 *	a cached key under a subject key identifier, and writes its own
 *	SMIMECapabilities. The SignedData is small and fixed, so it is
 *	written here (RFC 5652 5), and NSS does the hashing and the private
 *	key operation: PK11_Sign for PKCS#1 v1.5 (over a DigestInfo) and
 *	ECDSA, PK11_SignWithMechanism(CKM_RSA_PKCS_PSS) for RSASSA-PSS. A key
 *	on a PKCS#11 token signs there.
 *
 *	worker__cms_sign() appends to out a DER ContentInfo holding a
 *	SignedData, version 1: the digest algorithm of spec, id-data content
 *	(left out when detached, else one OCTET STRING), the signer's chain
 *	without its root, and one SignerInfo, version 1, identified by issuer
 *	and serial number (gpgsm reads nothing else), whose signed attributes
 *	(contentType, signingTime, messageDigest, SMIMECapabilities spec->caps,
 *	and the RFC 8551 and Microsoft encryption key preferences when the
 *	signer has one) are sorted as DER requires of a SET OF.
 *
 *	Signature algorithms: an RSA key signs PKCS#1 v1.5 (rsaEncryption,
 *	as NSS writes it) or, with WORKER_SIGALG_PSS, RSASSA-PSS with the
 *	parameters RFC 4056 requires: the digest's hash, MGF1 with the same
 *	hash, a salt as long as the hash, trailer field 1 (left out as the
 *	DEFAULT). An EC key signs ECDSA (ecdsa-with-SHA256/384/512) whatever
 *	spec->alg says.
 *
 *	worker__issuer_sn() appends the DER IssuerAndSerialNumber of cert.
 *	worker__ecdsa_der() turns a raw ECDSA signature r||s into the DER
 *	Ecdsa-Sig-Value.
 * DIAGNOSTICS
 *	SG_ECRYPTO when NSS fails (PORT_GetError() says why), SG_EUNSUPPORTED
 *	for a key that is neither RSA nor EC.
 */

#include <string.h>
#include <time.h>

#include "worker_int.h"

void	worker__issuer_sn(CERTCertificate *cert, struct sg_buf *out)
{
	struct sg_buf c = SG_BUF_INIT;

	sg_buf_append(&c, cert->derIssuer.data, cert->derIssuer.len);
	worker__der_put(&c, 0x02, cert->serialNumber.data, cert->serialNumber.len);
	worker__der_put(out, 0x30, c.data, c.len);
	sg_buf_free(&c);
}

/* tlv_size - the size of a TLV with n content octets */

static size_t tlv_size(size_t n)
{
	return (1 + (n < 0x80 ? 1 : n <= 0xff ? 2 : n <= 0xffff ? 3 : n <= 0xffffff ? 4 : 5) + n);
}

/* put_uint - an INTEGER from big-endian magnitude bytes (leading zeros dropped) */

static void put_uint(struct sg_buf *out, const unsigned char *p, size_t n)
{
	while (n > 1 && p[0] == 0) {
		p++;
		n--;
	}
	if (n && (p[0] & 0x80)) {
		worker__der_put_hdr(out, 0x02, n + 1);
		sg_buf_putc(out, 0);
		sg_buf_append(out, p, n);
	} else
		worker__der_put(out, 0x02, p, n);
}

int	worker__ecdsa_der(const unsigned char *raw, size_t len, struct sg_buf *out)
{
	struct sg_buf rs = SG_BUF_INIT;

	if (len == 0 || len % 2)
		return (SG_EINVAL);
	put_uint(&rs, raw, len / 2);
	put_uint(&rs, raw + len / 2, len / 2);
	worker__der_put(out, 0x30, rs.data, rs.len);
	sg_buf_free(&rs);
	return (0);
}

/* put_attr - one Attribute: SEQUENCE { type, SET { value } } */

static void put_attr(struct sg_buf *out, int oid, const void *value, size_t len)
{
	worker__der_put_hdr(out, 0x30, worker__oids[oid].len + tlv_size(len));
	worker__oid_put(out, oid);
	worker__der_put_hdr(out, 0x31, len);
	sg_buf_append(out, value, len);
}

/* put_attr_tlv - an Attribute whose value (a whole TLV) is in v */

static void put_attr_tlv(struct sg_buf *out, int oid, const struct sg_buf *v)
{
	put_attr(out, oid, v->data, v->len);
}

/* signing_time - UTCTime for 1950-2049, else GeneralizedTime (RFC 5652 11.3) */

static void signing_time(struct sg_buf *out)
{
	time_t	now = time(NULL);
	struct tm tm;
	char	t[20];

	gmtime_r(&now, &tm);
	if (tm.tm_year >= 50 && tm.tm_year < 150) {
		strftime(t, sizeof(t), "%y%m%d%H%M%SZ", &tm);
		worker__der_put(out, 0x17, t, strlen(t));
	} else {
		strftime(t, sizeof(t), "%Y%m%d%H%M%SZ", &tm);
		worker__der_put(out, 0x18, t, strlen(t));
	}
}

struct attr {
	const char *p;
	size_t	len;
};

/* der_order - DER's order of a SET OF: as octet strings, shorter first on a tie */

static int der_order(const void *a, const void *b)
{
	const struct attr *x = a, *y = b;
	size_t	n = x->len < y->len ? x->len : y->len;
	int	c = memcmp(x->p, y->p, n);

	return (c ? c : x->len < y->len ? -1 : x->len > y->len);
}

/* signed_attrs - the content of the SET OF Attribute, sorted */

static void signed_attrs(const struct worker_signer *s, const struct worker_sign_spec *spec,
			 const unsigned char *digest, size_t dlen, struct sg_buf *out)
{
	struct sg_buf one[6], v = SG_BUF_INIT;
	struct attr a[6];
	size_t	n = 0;

	for (size_t i = 0; i < SG_NELEM(one); i++)
		one[i] = (struct sg_buf) SG_BUF_INIT;
	put_attr(&one[n++], WORKER_OID_CONTENT_TYPE, worker__oids[WORKER_OID_DATA].der,
		 worker__oids[WORKER_OID_DATA].len);
	signing_time(&v);
	put_attr_tlv(&one[n++], WORKER_OID_SIGNING_TIME, &v);
	sg_buf_reset(&v);
	worker__der_put(&v, 0x04, digest, dlen);
	put_attr_tlv(&one[n++], WORKER_OID_MESSAGE_DIGEST, &v);
	sg_buf_reset(&v);
	worker__caps_put(&v, spec->caps);
	put_attr_tlv(&one[n++], WORKER_OID_SMIME_CAPS, &v);
	if (s->ekp.len) {
		put_attr_tlv(&one[n++], WORKER_OID_ENC_KEY_PREF, &s->ekp);
		put_attr_tlv(&one[n++], WORKER_OID_MS_ENC_KEY_PREF, &s->ms_ekp);
	}
	for (size_t i = 0; i < n; i++)
		a[i] = (struct attr) { one[i].data, one[i].len };
	qsort(a, n, sizeof(a[0]), der_order);
	for (size_t i = 0; i < n; i++)
		sg_buf_append(out, a[i].p, a[i].len);
	for (size_t i = 0; i < SG_NELEM(one); i++)
		sg_buf_free(&one[i]);
	sg_buf_free(&v);
}

/* pss_params - RSASSA-PSS-params for hash (RFC 4055 3.1, RFC 4056 2) */

static void pss_params(int hash, struct sg_buf *out)
{
	struct sg_buf c = SG_BUF_INIT, h = SG_BUF_INIT, m = SG_BUF_INIT;
	unsigned char salt = (unsigned char) worker__hash_len(hash);

	worker__hash_algid_put(&h, hash, true);
	worker__der_put(&c, 0xa0, h.data, h.len);
	worker__algid_put(&m, WORKER_OID_MGF1, h.data, h.len);
	worker__der_put(&c, 0xa1, m.data, m.len);
	sg_buf_reset(&h);
	worker__der_put(&h, 0x02, &salt, 1);
	worker__der_put(&c, 0xa2, h.data, h.len);
	worker__der_put(out, 0x30, c.data, c.len);
	sg_buf_free(&c);
	sg_buf_free(&h);
	sg_buf_free(&m);
}

/* sign_rsa - PKCS#1 v1.5 over a DigestInfo, or PSS over the digest */

static int sign_rsa(SECKEYPrivateKey *key, int alg, int hash, const unsigned char *d,
		    unsigned dlen, struct sg_buf *sigalg, struct sg_buf *sig)
{
	SECItem	in = { siBuffer, (unsigned char *) d, dlen }, out = { siBuffer, NULL, 0 };
	struct sg_buf di = SG_BUF_INIT, c = SG_BUF_INIT, params = SG_BUF_INIT;
	int	len = PK11_SignatureLen(key);
	SECStatus rv;

	if (len <= 0)
		return (SG_ECRYPTO);
	sg_buf_reserve(sig, (size_t) len);
	out.data = (unsigned char *) sig->data + sig->len;
	out.len = (unsigned) len;
	if (alg == WORKER_SIGALG_PSS) {
		CK_RSA_PKCS_PSS_PARAMS p = { worker__hash_mech(hash), worker__hash_mgf(hash),
			worker__hash_len(hash) };
		SECItem	pi = { siBuffer, (unsigned char *) &p, sizeof(p) };

		rv = PK11_SignWithMechanism(key, CKM_RSA_PKCS_PSS, &pi, &out, &in);
		pss_params(hash, &params);
		worker__algid_put(sigalg, WORKER_OID_RSASSA_PSS, params.data, params.len);
	} else {
		worker__hash_algid_put(&c, hash, true);
		worker__der_put(&c, 0x04, d, dlen);
		worker__der_put(&di, 0x30, c.data, c.len);
		in.data = (unsigned char *) di.data;
		in.len = (unsigned) di.len;
		rv = PK11_Sign(key, &out, &in);
		worker__algid_put(sigalg, WORKER_OID_RSA, "\x05\x00", 2);
	}
	if (rv == SECSuccess)
		sig->len += out.len;
	sg_buf_free(&di);
	sg_buf_free(&c);
	sg_buf_free(&params);
	return (rv == SECSuccess ? 0 : SG_ECRYPTO);
}

static int sign_ec(SECKEYPrivateKey *key, int hash, const unsigned char *d, unsigned dlen,
		   struct sg_buf *sigalg, struct sg_buf *sig)
{
	static const int oids[] = {
		[WORKER_HASH_SHA256] = WORKER_OID_ECDSA_SHA256,
		[WORKER_HASH_SHA384] = WORKER_OID_ECDSA_SHA384,
		[WORKER_HASH_SHA512] = WORKER_OID_ECDSA_SHA512,
	};
	unsigned char raw[160];
	SECItem	in = { siBuffer, (unsigned char *) d, dlen }, out = { siBuffer, raw, 0 };
	int	len = PK11_SignatureLen(key);

	if (len <= 0 || (size_t) len > sizeof(raw) || hash == WORKER_HASH_SHA1)
		return (SG_ECRYPTO);
	out.len = (unsigned) len;
	if (PK11_Sign(key, &out, &in) != SECSuccess)
		return (SG_ECRYPTO);
	worker__algid_put(sigalg, oids[hash], NULL, 0);
	return (worker__ecdsa_der(raw, out.len, sig));
}

/* signer_info - version 1, issuer and serial, the signature over attrs */

static int signer_info(const struct worker_signer *s, const struct worker_sign_spec *spec,
		       const struct sg_buf *attrs, struct sg_buf *out)
{
	struct sg_buf tbs = SG_BUF_INIT, sigalg = SG_BUF_INIT, sig = SG_BUF_INIT, si = SG_BUF_INIT;
	unsigned char d[64];
	unsigned dlen = worker__hash_len(spec->hash);
	int	rc;

	worker__der_put(&tbs, 0x31, attrs->data, attrs->len);	/* signed as SET OF */
	if (PK11_HashBuf(worker__hash_tag(spec->hash), d, (const unsigned char *) tbs.data,
			 (PRInt32) tbs.len) != SECSuccess)
		rc = SG_ECRYPTO;
	else if (SECKEY_GetPrivateKeyType(s->key) == rsaKey)
		rc = sign_rsa(s->key, spec->alg, spec->hash, d, dlen, &sigalg, &sig);
	else if (SECKEY_GetPrivateKeyType(s->key) == ecKey)
		rc = sign_ec(s->key, spec->hash, d, dlen, &sigalg, &sig);
	else
		rc = SG_EUNSUPPORTED;
	if (rc == 0) {
		sg_buf_append(&si, "\x02\x01\x01", 3);
		sg_buf_append(&si, s->isn.data, s->isn.len);
		worker__hash_algid_put(&si, spec->hash, true);
		worker__der_put(&si, 0xa0, attrs->data, attrs->len);
		sg_buf_append(&si, sigalg.data, sigalg.len);
		worker__der_put(&si, 0x04, sig.data, sig.len);
		worker__der_put(out, 0x30, si.data, si.len);
	}
	sg_buf_free(&tbs);
	sg_buf_free(&sigalg);
	sg_buf_free(&sig);
	sg_buf_free(&si);
	return (rc);
}

int	worker__cms_sign(const struct worker_signer *s, const struct worker_sign_spec *spec,
			 const char *content, size_t len, bool detached, struct sg_buf *out)
{
	struct sg_buf attrs = SG_BUF_INIT, si = SG_BUF_INIT, algs = SG_BUF_INIT, certs = SG_BUF_INIT;
	struct sg_buf head = SG_BUF_INIT, sis = SG_BUF_INIT;
	unsigned char d[64];
	size_t	econtent, encap, sd, ci;
	int	rc;

	if (PK11_HashBuf(worker__hash_tag(spec->hash), d, (const unsigned char *) content,
			 (PRInt32) len) != SECSuccess)
		return (SG_ECRYPTO);
	signed_attrs(s, spec, d, worker__hash_len(spec->hash), &attrs);
	if ((rc = signer_info(s, spec, &attrs, &si)) < 0)
		goto out;
	worker__der_put(&sis, 0x31, si.data, si.len);
	worker__hash_algid_put(&head, spec->hash, true);
	worker__der_put(&algs, 0x31, head.data, head.len);
	sg_buf_reset(&head);
	for (int i = 0; i < s->chain_der->len; i++)
		sg_buf_append(&head, s->chain_der->certs[i].data, s->chain_der->certs[i].len);
	worker__der_put(&certs, 0xa0, head.data, head.len);
	/* Sizes first, so the content is written once, straight into out. */
	econtent = detached ? 0 : tlv_size(tlv_size(len));
	encap = worker__oids[WORKER_OID_DATA].len + econtent;
	sd = 3 + algs.len + tlv_size(encap) + certs.len + sis.len;
	ci = worker__oids[WORKER_OID_SIGNED_DATA].len + tlv_size(tlv_size(sd));
	sg_buf_reserve(out, tlv_size(ci));
	worker__der_put_hdr(out, 0x30, ci);
	worker__oid_put(out, WORKER_OID_SIGNED_DATA);
	worker__der_put_hdr(out, 0xa0, tlv_size(sd));
	worker__der_put_hdr(out, 0x30, sd);
	sg_buf_append(out, "\x02\x01\x01", 3);
	sg_buf_append(out, algs.data, algs.len);
	worker__der_put_hdr(out, 0x30, encap);
	worker__oid_put(out, WORKER_OID_DATA);
	if (!detached) {
		worker__der_put_hdr(out, 0xa0, tlv_size(len));
		worker__der_put_hdr(out, 0x04, len);
		sg_buf_append(out, content, len);
	}
	sg_buf_append(out, certs.data, certs.len);
	sg_buf_append(out, sis.data, sis.len);
	rc = 0;
out:
	sg_buf_free(&attrs);
	sg_buf_free(&si);
	sg_buf_free(&algs);
	sg_buf_free(&certs);
	sg_buf_free(&head);
	sg_buf_free(&sis);
	return (rc);
}
