/*
 * NAME
 *	cms_dec 3
 * SUMMARY
 *	decryption of EnvelopedData we read ourselves
 * SYNOPSIS
 *	#include "worker/worker_int.h"
 *
 *	int	worker__cms_decrypt(certs, der, len, plain, reason, rlen)
 * DESCRIPTION
 *	worker__cms_decrypt() decrypts the ContentInfo der (len bytes, from
 *	the network) into plain. The structure is read by cms_parse.c;
 *	then, for each recipient info naming a certificate the database
 *	holds a private key for (in certs' key cache, certs_private_key(),
 *	so a message costs no key look-up or password derivation; with
 *	certs NULL, NSS finds the key), the content-encryption key is
 *	recovered (cms_kem.c) and the content decrypted; the first recipient
 *	info that yields plaintext wins.
 *
 *	Content encryption accepted: AES-128/192/256-CBC and DES-EDE3-CBC,
 *	with an IV of the cipher's block size. Anything else (RC2, DES,
 *	unknown algorithms) is refused before any key is touched.
 *
 *	The reasons (for incidents and the log) say what the administrator
 *	can act on: not one of our keys, an algorithm refused, or "cannot
 *	decrypt" when the key did not open it (the same words whether the
 *	key transport or the content decryption failed).
 * DIAGNOSTICS
 *	0, SG_ENOTFOUND (der is a ContentInfo of another type: nothing to
 *	decrypt) or SG_ECRYPTO with reason set.
 */

#include <stdio.h>
#include <string.h>

#include "worker_int.h"

/* The content algorithms we decrypt (weak ones are named to refuse them). */
static const struct {
	int	oid;
	CK_MECHANISM_TYPE mech;
	int	keylen;
	unsigned ivlen;
} accepted[] = {
	{ WORKER_OID_AES128_CBC, CKM_AES_CBC_PAD, 16, 16 },
	{ WORKER_OID_AES192_CBC, CKM_AES_CBC_PAD, 24, 16 },
	{ WORKER_OID_AES256_CBC, CKM_AES_CBC_PAD, 32, 16 },
	{ WORKER_OID_DES_EDE3_CBC, CKM_DES3_CBC_PAD, 24, 8 },
};

/* the DER OIDs of RC2-CBC (1.2.840.113549.3.2) and DES-CBC (1.3.14.3.2.7) */
static const unsigned char rc2[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x03, 0x02 };
static const unsigned char des[] = { 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x07 };

static bool weak(const struct worker_algid *a)
{
	size_t	n = worker__der_size(&a->id);

	return ((n == sizeof(rc2) && memcmp(a->id.p, rc2, n) == 0)
		|| (n == sizeof(des) && memcmp(a->id.p, des, n) == 0));
}

/* cert_for - the certificate a recipient identifier names, or NULL */

static CERTCertificate *cert_for(bool ski, const struct worker_der *rid)
{
	CERTCertDBHandle *db = CERT_GetDefaultCertDB();
	struct worker_der_it it;
	struct worker_der name, serial, extra;
	CERTIssuerAndSN isn;

	if (ski) {
		SECItem	id = { siBuffer, (unsigned char *) worker__der_content(rid),
			(unsigned) rid->len };

		return (rid->len ? CERT_FindCertBySubjectKeyID(db, &id) : NULL);
	}
	worker__der_enter(rid, &it);
	if (worker__der_next(&it, &name) < 0 || name.p[0] != 0x30 || name.eoc
	    || worker__der_next(&it, &serial) < 0 || serial.p[0] != 0x02 || serial.len == 0
	    || worker__der_next(&it, &extra) != SG_ENOTFOUND)
		return (NULL);
	memset(&isn, 0, sizeof(isn));
	isn.derIssuer = (SECItem) { siBuffer, (unsigned char *) name.p,
		(unsigned) worker__der_size(&name) };
	isn.serialNumber = (SECItem) { siBuffer, (unsigned char *) worker__der_content(&serial),
		(unsigned) serial.len };
	return (CERT_FindCertByIssuerAndSN(db, &isn));
}

/* key_for - our private key for a recipient identifier, or NULL */

static SECKEYPrivateKey *key_for(struct certs *c, bool ski, const struct worker_der *rid)
{
	CERTCertificate *cert = cert_for(ski, rid);
	SECKEYPrivateKey *key = NULL;

	if (cert == NULL)
		return (NULL);
	key = c ? certs_private_key(c, cert) : PK11_FindKeyByAnyCert(cert, NULL);
	CERT_DestroyCertificate(cert);
	return (key);
}

/* cbc_decrypt - the plaintext of econtent under cek, PKCS#7 padding checked */

static int cbc_decrypt(PK11SymKey *cek, CK_MECHANISM_TYPE mech, const struct worker_der *iv,
		       const struct sg_buf *ct, struct sg_buf *plain)
{
	SECItem	ivi = { siBuffer, (unsigned char *) worker__der_content(iv), (unsigned) iv->len };
	unsigned out = 0;
	size_t	mark = plain->len;

	if (ct->len == 0 || ct->len > 0x7fffff00u)
		return (SG_ECRYPTO);
	sg_buf_reserve(plain, ct->len);
	if (PK11_Decrypt(cek, mech, &ivi, (unsigned char *) plain->data + mark, &out,
			 (unsigned) ct->len, (const unsigned char *) ct->data,
			 (unsigned) ct->len) != SECSuccess) {
		memset(plain->data + mark, 0, ct->len);
		return (SG_ECRYPTO);
	}
	plain->len += out;
	return (0);
}

/* content_alg - the accepted algorithm env names, or a reason */

static int content_alg(const struct worker_cms_env *env, char *reason, size_t rlen)
{
	for (int i = 0; i < (int) SG_NELEM(accepted); i++) {
		if (accepted[i].oid != env->cea.oid)
			continue;
		if (env->cea.params.p == NULL || env->cea.params.p[0] != 0x04
		    || env->cea.params.len != accepted[i].ivlen) {
			snprintf(reason, rlen, "malformed content encryption parameters");
			return (-1);
		}
		return (i);
	}
	snprintf(reason, rlen, weak(&env->cea) ? "weak content encryption algorithm refused"
		 : "content encryption algorithm not supported");
	return (-1);
}

/* describe - why no recipient info was ours, in words */

static void describe(const struct worker_cms_env *env, unsigned kinds, bool ours,
		     char *reason, size_t rlen)
{
	(void) env;
	if (ours)
		snprintf(reason, rlen, "cannot decrypt: the key does not open the message");
	else if ((kinds & WORKER_RI_KARI) && !(kinds & WORKER_RI_KTRI))
		snprintf(reason, rlen, "encrypted by ECDH key agreement to an EC certificate, "
			 "which this version cannot decrypt (RSA only)");
	else if (kinds & WORKER_RI_KARI)
		snprintf(reason, rlen, "no key for any recipient (some recipients are EC "
			 "certificates: ECDH is not supported)");
	else
		snprintf(reason, rlen, "no key for any recipient");
}

int	worker__cms_decrypt(struct certs *c, const void *der, size_t len, struct sg_buf *plain,
			    char *reason, size_t rlen)
{
	struct worker_cms_env env;
	struct worker_cms_ri ri;
	struct sg_buf ct = SG_BUF_INIT;
	size_t	off = 0;
	unsigned kinds = 0;
	bool	ours = false, done = false;
	int	rc, alg;

	if ((rc = worker__cms_env_parse(der, len, &env)) == SG_ENOTFOUND)
		return (SG_ENOTFOUND);
	if (rc < 0) {
		snprintf(reason, rlen, "cannot decrypt: malformed encrypted data");
		return (SG_ECRYPTO);
	}
	if (env.auth) {
		snprintf(reason, rlen, "content encryption algorithm not supported");
		return (SG_ECRYPTO);
	}
	if ((alg = content_alg(&env, reason, rlen)) < 0)
		return (SG_ECRYPTO);
	if (worker__oid_of(&env.ctype) != WORKER_OID_DATA || env.econtent.p == NULL
	    || worker__der_octets(&env.econtent, &ct) < 0) {
		snprintf(reason, rlen, "cannot decrypt: no encrypted data content");
		sg_buf_free(&ct);
		return (SG_ECRYPTO);
	}
	while (!done && (rc = worker__cms_ri_next(&env, &off, &ri)) == 0) {
		struct worker_cms_ktri k;
		SECKEYPrivateKey *key;
		PK11SymKey *cek;

		kinds |= ri.kind;
		if (ri.kind != WORKER_RI_KTRI || worker__cms_ktri_parse(&ri.tlv, &k) < 0
		    || (key = key_for(c, k.rid_ski, &k.rid)) == NULL)
			continue;
		ours = true;
		cek = worker__ktri_unwrap(key, &k, accepted[alg].mech, accepted[alg].keylen);
		SECKEY_DestroyPrivateKey(key);
		if (cek == NULL)
			continue;
		done = cbc_decrypt(cek, accepted[alg].mech, &env.cea.params, &ct, plain) == 0;
		PK11_FreeSymKey(cek);
	}
	sg_buf_free(&ct);
	if (done)
		return (0);
	if (rc != 0 && rc != SG_ENOTFOUND)
		snprintf(reason, rlen, "cannot decrypt: malformed recipient infos");
	else
		describe(&env, kinds, ours, reason, rlen);
	return (SG_ECRYPTO);
}
