/*
 * NAME
 *	smime 3
 * SUMMARY
 *	S/MIME outbound: cached signers, sign (detached, opaque), encrypt
 * SYNOPSIS
 *	#include "worker/worker.h"
 *
 *	int	worker_signer_new(cert, key, enc, out)
 *
 *	void	worker_signer_free(signer)
 *
 *	int	worker_smime_sign(signer, signature, msg, len, out)
 *
 *	int	worker_smime_encrypt(certs, n, msg, len, out)
 * DESCRIPTION
 *	NSS does the CMS; the MIME around it is ours. A message is first
 *	made canonical (CRLF) and split into the header fields that stay
 *	outside (From, To, Subject, ...) and the MIME entity that is
 *	protected (the Content-* fields and the body).
 *
 *	worker_smime_sign() makes the entity 7-bit safe before hashing it, so
 *	no later hop can change a signed byte (for a detached signature also
 *	free of trailing blanks and "From " lines, worker_mime_protect()),
 *	and then hashes exactly the
 *	bytes it sends: in a multipart/signed, the first part's bytes up to
 *	the CRLF that belongs to the next delimiter. Signed attributes:
 *	signing time (also needed by ECDSA in NSS 3.87), S/MIME capabilities
 *	(ours, cms_caps.c: only what inbound decryption accepts) and the
 *	encryption-key preference (RFC 8551 and Microsoft's OID);
 *	the chain (without the root) is included.
 *
 *	worker_smime_encrypt() uses AES-256-CBC and one recipient info per
 *	certificate. Sign-then-encrypt is worker_smime_sign() followed by
 *	worker_smime_encrypt() on its output: the whole multipart/signed
 *	entity is enveloped.
 *
 *	A signer holds its certificate, the certificate for the encryption
 *	preference and the private key, found once: after that, a message
 *	costs one private-key operation and no database look-up or login.
 * DIAGNOSTICS
 *	SG_EINVAL: not a MIME message. SG_ECRYPTO: NSS failed; PORT_GetError()
 *	(thread-local) says why, worker__nss_reason() formats it.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker_int.h"

struct worker_signer {
	CERTCertificate *cert;
	CERTCertificate *enc;
	CERTCertificate *chain[8];	/* cert and its issuers, no root */
	int	nchain;
	SECKEYPrivateKey *mem_key;	/* the caller's in-memory key; NULL: sign on the token */
	SECKEYPublicKey *pub;
	struct sg_buf isn;		/* DER IssuerAndSerialNumber of cert */
	CERTCertificateList *chain_der;	/* the chain, for the in-memory path */
	struct sg_buf ekp;		/* encryption key preference value, or empty */
	struct sg_buf ms_ekp;		/* the same for Outlook's OID */
	struct sg_buf caps;		/* SMIMECapabilities value */
};

void	worker__nss_reason(char *dst, size_t len, const char *what)
{
	PRErrorCode e = PORT_GetError();
	const char *name = PR_ErrorToName(e);

	snprintf(dst, len, "%s: %s", what, name ? name : "unknown NSS error");
}

/* worker__prepare - canonical copy, outer header fields, protected entity */

int	worker__prepare(const char *msg, size_t len, const char *drop,
			struct sg_buf *canon, struct sg_buf *outer, struct sg_buf *entity)
{
	worker_mime_canon(msg, len, canon);
	return (worker_mime_split(canon->data ? canon->data : "", canon->len, drop, outer, entity));
}

/* worker__put_pkcs7 - outer fields and an application/pkcs7-mime entity */

void	worker__put_pkcs7(struct sg_buf *out, const struct sg_buf *outer,
			  const char *smime_type, const SECItem *der)
{
	sg_buf_append(out, outer->data, outer->len);
	sg_buf_printf(out, "MIME-Version: 1.0\r\n"
		      "Content-Type: application/pkcs7-mime; smime-type=%s;\r\n"
		      " name=\"smime.p7m\"\r\n"
		      "Content-Transfer-Encoding: base64\r\n"
		      "Content-Disposition: attachment; filename=\"smime.p7m\"\r\n\r\n",
		      smime_type);
	worker_mime_base64_encode(der->data, der->len, out);
}

int	worker_signer_new(CERTCertificate *cert, SECKEYPrivateKey *key, CERTCertificate *enc,
			  struct worker_signer **out)
{
	struct worker_signer *s;
	CERTCertificateList *chain;

	if (key == NULL)
		return (SG_ENOTFOUND);
	/* Building the chain costs database look-ups: once, not per message. */
	if ((chain = CERT_CertChainFromCert(cert, certUsageEmailSigner, PR_FALSE)) == NULL)
		return (SG_ECRYPTO);
	s = sg_xcalloc(1, sizeof(*s));
	for (int i = 0; i < chain->len && s->nchain < (int) SG_NELEM(s->chain); i++) {
		CERTCertificate *c = CERT_FindCertByDERCert(CERT_GetDefaultCertDB(), &chain->certs[i]);

		if (c)
			s->chain[s->nchain++] = c;
	}
	s->chain_der = chain;
	s->cert = CERT_DupCertificate(cert);
	/* A seal certificate may be for signing only: then no preference. */
	if (enc == NULL && CERT_CheckCertUsage(cert, KU_KEY_ENCIPHERMENT) == SECSuccess)
		enc = cert;
	s->enc = enc ? CERT_DupCertificate(enc) : NULL;
	/*
	 * NSS's AddSMIMEEncKeyPrefs verifies the certificate (chain, database)
	 * on every call: verify once here and add ready-made values instead.
	 */
	if (s->enc && CERT_VerifyCertNow(CERT_GetDefaultCertDB(), s->enc, PR_TRUE,
					 certUsageEmailRecipient, NULL) == SECSuccess) {
		worker__issuer_sn(s->enc, &s->ms_ekp);
		sg_buf_append(&s->ekp, s->ms_ekp.data, s->ms_ekp.len);
		s->ekp.data[0] = (char) 0xa0;	/* [0] IMPLICIT IssuerAndSerialNumber */
	}
	worker__issuer_sn(cert, &s->isn);
	/* What inbound decryption accepts, never NSS's list with DES and RC2. */
	worker__caps_put(&s->caps, WORKER_CAP_AES256_CBC | WORKER_CAP_AES128_CBC | WORKER_CAP_RSA);
	/* A key on an HSM does not leave it: then NSS signs on the token. */
	if (PK11_IsInternal(key->pkcs11Slot)
	    && (s->pub = CERT_ExtractPublicKey(cert)) != NULL)
		s->mem_key = SECKEY_CopyPrivateKey(key);
	*out = s;
	return (0);
}

void	worker_signer_free(struct worker_signer *s)
{
	if (s == NULL)
		return;
	if (s->mem_key)
		SECKEY_DestroyPrivateKey(s->mem_key);
	if (s->pub)
		SECKEY_DestroyPublicKey(s->pub);
	sg_buf_free(&s->isn);
	sg_buf_free(&s->ekp);
	sg_buf_free(&s->ms_ekp);
	sg_buf_free(&s->caps);
	CERT_DestroyCertificateList(s->chain_der);
	for (int i = 0; i < s->nchain; i++)
		CERT_DestroyCertificate(s->chain[i]);
	if (s->enc)
		CERT_DestroyCertificate(s->enc);
	CERT_DestroyCertificate(s->cert);
	free(s);
}

CERTCertificate *worker_signer_cert(const struct worker_signer *s)
{
	return (s->cert);
}

/* encode - run the encoder over content, DER into der (from pool) */

static int encode(NSSCMSMessage *cmsg, const char *p, size_t len, SECItem *der,
		  PLArenaPool *pool)
{
	NSSCMSEncoderContext *ecx;

	ecx = NSS_CMSEncoder_Start(cmsg, NULL, NULL, der, pool, NULL, NULL, NULL, NULL, NULL, NULL);
	if (ecx == NULL)
		return (SG_ECRYPTO);
	if (len && NSS_CMSEncoder_Update(ecx, p, (unsigned long) len) != SECSuccess) {
		NSS_CMSEncoder_Cancel(ecx);
		return (SG_ECRYPTO);
	}
	return (NSS_CMSEncoder_Finish(ecx) == SECSuccess ? 0 : SG_ECRYPTO);
}

/*
 * new_signer_info - with the in-memory key when there is one (the signer
 * id is then a placeholder subject key id, replaced after encoding, see
 * smime_sid.c), else by certificate (NSS finds the key on the token).
 */
static NSSCMSSignerInfo *new_signer_info(NSSCMSMessage *cmsg, const struct worker_signer *s)
{
	static unsigned char placeholder[20];
	SECItem ski = { siBuffer, placeholder, sizeof(placeholder) };

	if (s->mem_key == NULL)
		return (NSS_CMSSignerInfo_Create(cmsg, s->cert, SEC_OID_SHA256));
	/* NSS copies both keys: references, see certs_key_in_memory(). */
	return (NSS_CMSSignerInfo_CreateWithSubjKeyID(cmsg, &ski, s->pub, s->mem_key, SEC_OID_SHA256));
}

/*
 * add_attr - a signed attribute with a value encoded in advance, added
 * the way NSS adds its own (the signer info's NULL-terminated array, in
 * the message's arena): the exported API has no call for it in 3.87.
 */
static int add_attr(NSSCMSMessage *cmsg, NSSCMSSignerInfo *si, SECOidTag tag,
		    const struct sg_buf *value)
{
	PLArenaPool *pool = cmsg->poolp;	/* NSS_CMSMessage_GetArena is not exported */
	SECOidData *oid = SECOID_FindOIDByTag(tag);
	NSSCMSAttribute *a = PORT_ArenaZAlloc(pool, sizeof(*a));
	SECItem *v = PORT_ArenaZAlloc(pool, sizeof(*v));
	NSSCMSAttribute **list;
	size_t	n = 0;

	if (oid == NULL || a == NULL || v == NULL
	    || (a->values = PORT_ArenaZAlloc(pool, 2 * sizeof(SECItem *))) == NULL
	    || (v->data = PORT_ArenaAlloc(pool, value->len)) == NULL
	    || SECITEM_CopyItem(pool, &a->type, &oid->oid) != SECSuccess)
		return (SG_ECRYPTO);
	memcpy(v->data, value->data, value->len);
	v->len = (unsigned) value->len;
	a->values[0] = v;
	a->typeTag = oid;
	a->encoded = PR_TRUE;
	while (si->authAttr && si->authAttr[n])
		n++;
	if ((list = PORT_ArenaZAlloc(pool, (n + 2) * sizeof(*list))) == NULL)
		return (SG_ECRYPTO);
	for (size_t i = 0; i < n; i++)
		list[i] = si->authAttr[i];
	list[n] = a;
	si->authAttr = list;
	return (0);
}

/* add_signer - one signer info with the attributes clients look for */

static int add_signer(NSSCMSMessage *cmsg, NSSCMSSignedData *sigd, const struct worker_signer *s)
{
	NSSCMSSignerInfo *si = new_signer_info(cmsg, s);

	if (si == NULL)
		return (SG_ECRYPTO);
	/*
	 * The chain from the cache (NSSCMSCM_CertChain would rebuild it from
	 * the database for every message). NSS 3.87's encoder crashes on a
	 * signer info without a certificate list, so the in-memory signer gets
	 * a copy of the cached one; the other brings its own certificate and
	 * the issuers are added to the signed data.
	 */
	if (s->mem_key && (si->certList = CERT_DupCertList(s->chain_der)) == NULL) {
		NSS_CMSSignerInfo_Destroy(si);
		return (SG_ECRYPTO);
	}
	for (int i = 1; s->mem_key == NULL && i < s->nchain; i++) {
		if (NSS_CMSSignedData_AddCertificate(sigd, s->chain[i]) != SECSuccess) {
			NSS_CMSSignerInfo_Destroy(si);
			return (SG_ECRYPTO);
		}
	}
	if ((s->mem_key == NULL
	     && NSS_CMSSignerInfo_IncludeCerts(si, NSSCMSCM_CertOnly, certUsageEmailSigner) != SECSuccess)
	    || NSS_CMSSignerInfo_AddSigningTime(si, PR_Now()) != SECSuccess
	    || add_attr(cmsg, si, SEC_OID_PKCS9_SMIME_CAPABILITIES, &s->caps) < 0
	    || (s->ekp.len && add_attr(cmsg, si, SEC_OID_SMIME_ENCRYPTION_KEY_PREFERENCE, &s->ekp) < 0)
	    || (s->ekp.len && add_attr(cmsg, si, SEC_OID_MS_SMIME_ENCRYPTION_KEY_PREFERENCE,
				       &s->ms_ekp) < 0)
	    || NSS_CMSSignedData_AddSignerInfo(sigd, si) != SECSuccess) {
		NSS_CMSSignerInfo_Destroy(si);
		return (SG_ECRYPTO);
	}
	return (0);
}

/* cms_sign - signed-data over p; detached leaves the content out */

static int cms_sign(const struct worker_signer *s, const char *p, size_t len, bool detached,
		    SECItem *der, PLArenaPool *pool)
{
	NSSCMSMessage *cmsg = NSS_CMSMessage_Create(NULL);
	NSSCMSSignedData *sigd;
	int	rc = SG_ECRYPTO;

	if (cmsg == NULL)
		return (SG_ECRYPTO);
	if ((sigd = NSS_CMSSignedData_Create(cmsg)) == NULL)
		goto out;
	if (NSS_CMSContentInfo_SetContent_SignedData(cmsg, NSS_CMSMessage_GetContentInfo(cmsg),
						     sigd) != SECSuccess) {
		NSS_CMSSignedData_Destroy(sigd);
		goto out;
	}
	if (NSS_CMSContentInfo_SetContent_Data(cmsg, NSS_CMSSignedData_GetContentInfo(sigd),
					       NULL, detached ? PR_TRUE : PR_FALSE) != SECSuccess)
		goto out;
	if ((rc = add_signer(cmsg, sigd, s)) == 0)
		rc = encode(cmsg, p, len, der, pool);
out:
	NSS_CMSMessage_Destroy(cmsg);
	return (rc);
}

/* sign_der - the signature as DER in sig, its signer named by issuer and serial */

static int sign_der(const struct worker_signer *s, const char *p, size_t len, bool detached,
		    struct sg_buf *sig)
{
	PLArenaPool *pool = PORT_NewArena(4096);
	SECItem der = { siBuffer, NULL, 0 };
	int	rc;

	if ((rc = cms_sign(s, p, len, detached, &der, pool)) == 0) {
		if (s->mem_key)
			rc = worker__sid_to_issuer_sn(der.data, der.len, s->isn.data, s->isn.len, sig);
		else
			sg_buf_append(sig, der.data, der.len);
	}
	PORT_FreeArena(pool, PR_FALSE);
	return (rc);
}

/* boundary - a fresh random boundary that does not occur in the entity */

static void boundary(char *b, size_t blen, const struct sg_buf *entity)
{
	unsigned char r[12];

	do {
		if (PK11_GenerateRandom(r, sizeof(r)) != SECSuccess)
			memset(r, 0x5a, sizeof(r));
		snprintf(b, blen, "----=_sg_%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x",
			 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11]);
	} while (memmem(entity->data, entity->len, b, strlen(b)) != NULL);
}

static void put_detached(struct sg_buf *out, const struct sg_buf *outer,
			 const struct sg_buf *entity, const SECItem *der)
{
	char	b[64];

	boundary(b, sizeof(b), entity);
	sg_buf_append(out, outer->data, outer->len);
	sg_buf_printf(out, "MIME-Version: 1.0\r\n"
		      "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n"
		      " micalg=sha-256; boundary=\"%s\"\r\n\r\n"
		      "This is a cryptographically signed message in MIME format.\r\n\r\n"
		      "--%s\r\n", b, b);
	/* The CRLF before the next delimiter belongs to it, not to the entity. */
	sg_buf_append(out, entity->data, entity->len);
	sg_buf_printf(out, "\r\n--%s\r\n"
		      "Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n"
		      "Content-Transfer-Encoding: base64\r\n"
		      "Content-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n", b);
	worker_mime_base64_encode(der->data, der->len, out);
	sg_buf_printf(out, "\r\n--%s--\r\n", b);
}

int	worker_smime_sign(const struct worker_signer *s, int signature,
			  const char *msg, size_t len, struct sg_buf *out)
{
	struct sg_buf canon = SG_BUF_INIT, outer = SG_BUF_INIT, entity = SG_BUF_INIT;
	struct sg_buf safe = SG_BUF_INIT, sig = SG_BUF_INIT;
	SECItem der = { siBuffer, NULL, 0 };
	bool	detached = signature == SG_RULE_SIG_DETACHED;
	int	rc;

	if ((rc = worker__prepare(msg, len, NULL, &canon, &outer, &entity)) < 0)
		goto out;
	/* Detached: what travels in clear must survive relays (RFC 8551 3.1.1). */
	if ((rc = (detached ? worker_mime_protect : worker_mime_to_7bit)(entity.data, entity.len,
									  &safe)) < 0)
		goto out;
	if ((rc = sign_der(s, safe.data, safe.len, detached, &sig)) < 0)
		goto out;
	der.data = (unsigned char *) sig.data;
	der.len = (unsigned) sig.len;
	if (detached)
		put_detached(out, &outer, &safe, &der);
	else
		worker__put_pkcs7(out, &outer, "signed-data", &der);
out:
	sg_buf_free(&sig);
	sg_buf_free(&canon);
	sg_buf_free(&outer);
	sg_buf_free(&entity);
	sg_buf_free(&safe);
	return (rc);
}

static int cms_encrypt(CERTCertificate *const *certs, size_t n, const char *p, size_t len,
		       SECItem *der, PLArenaPool *pool)
{
	NSSCMSMessage *cmsg = NSS_CMSMessage_Create(NULL);
	NSSCMSEnvelopedData *env;
	int	rc = SG_ECRYPTO;

	if (cmsg == NULL)
		return (SG_ECRYPTO);
	/* The key size in bits is mandatory: 0 fails with BAD_DATA. */
	if ((env = NSS_CMSEnvelopedData_Create(cmsg, SEC_OID_AES_256_CBC, 256)) == NULL)
		goto out;
	if (NSS_CMSContentInfo_SetContent_EnvelopedData(cmsg, NSS_CMSMessage_GetContentInfo(cmsg),
							env) != SECSuccess) {
		NSS_CMSEnvelopedData_Destroy(env);
		goto out;
	}
	if (NSS_CMSContentInfo_SetContent_Data(cmsg, NSS_CMSEnvelopedData_GetContentInfo(env),
					       NULL, PR_FALSE) != SECSuccess)
		goto out;
	for (size_t i = 0; i < n; i++) {
		NSSCMSRecipientInfo *ri = NSS_CMSRecipientInfo_Create(cmsg, certs[i]);

		if (ri == NULL)
			goto out;
		if (NSS_CMSEnvelopedData_AddRecipient(env, ri) != SECSuccess) {
			NSS_CMSRecipientInfo_Destroy(ri);
			goto out;
		}
	}
	rc = encode(cmsg, p, len, der, pool);
out:
	NSS_CMSMessage_Destroy(cmsg);
	return (rc);
}

int	worker_smime_encrypt(CERTCertificate *const *certs, size_t n,
			     const char *msg, size_t len, struct sg_buf *out)
{
	struct sg_buf canon = SG_BUF_INIT, outer = SG_BUF_INIT, entity = SG_BUF_INIT;
	PLArenaPool *pool = PORT_NewArena(4096);
	SECItem der = { siBuffer, NULL, 0 };
	int	rc;

	if (n == 0)
		rc = SG_EINVAL;
	else if ((rc = worker__prepare(msg, len, NULL, &canon, &outer, &entity)) == 0
		 && (rc = cms_encrypt(certs, n, entity.data, entity.len, &der, pool)) == 0)
		worker__put_pkcs7(out, &outer, "enveloped-data", &der);
	PORT_FreeArena(pool, PR_FALSE);
	sg_buf_free(&canon);
	sg_buf_free(&outer);
	sg_buf_free(&entity);
	return (rc);
}
