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
 *	int	worker_smime_sign(signer, spec, msg, len, out)
 *
 *	int	worker_smime_encrypt(recipients, n, content, msg, len, out)
 * DESCRIPTION
 *	NSS does the CMS; the MIME around it is ours. A message is first
 *	made canonical (CRLF) and split into the header fields that stay
 *	outside (From, To, Subject, ...) and the MIME entity that is
 *	protected (the Content-* fields and the body).
 *
 *	worker_smime_sign() makes the entity 7-bit safe before hashing it, so
 *	no later hop can change a signed byte (for a detached signature also
 *	free of trailing blanks and "From " lines, worker_mime_protect()),
 *	and then hashes exactly the bytes it sends: in a multipart/signed,
 *	the first part's bytes up to the CRLF that belongs to the next
 *	delimiter. The SignedData is ours (cms_sign.c: PKCS#1 v1.5,
 *	RSASSA-PSS or ECDSA with SHA-256, -384 or -512, as spec says; the
 *	signed attributes and the chain without its root); the micalg
 *	parameter names the hash.
 *
 *	worker_smime_encrypt() wraps the entity in an EnvelopedData of our own
 *	(cms_env.c: the content algorithm given, one recipient info per
 *	recipient with its key transport). Sign-then-encrypt is worker_smime_sign() followed by
 *	worker_smime_encrypt() on its output: the whole multipart/signed
 *	entity is enveloped.
 *
 *	A signer holds its certificate and chain, the certificate for the
 *	encryption preference and the private key, found once: after that, a
 *	message costs one private-key operation and no database look-up or
 *	login.
 * DIAGNOSTICS
 *	SG_EINVAL: not a MIME message. SG_ECRYPTO: NSS failed; PORT_GetError()
 *	(thread-local) says why, worker__nss_reason() formats it.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker_int.h"

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
	s->chain_der = chain;
	s->cert = CERT_DupCertificate(cert);
	/* In memory (certs_key_in_memory) this is a reference, on a token a handle. */
	s->key = SECKEY_CopyPrivateKey(key);
	/* A seal certificate may be for signing only: then no preference. */
	if (enc == NULL && CERT_CheckCertUsage(cert, KU_KEY_ENCIPHERMENT) == SECSuccess)
		enc = cert;
	s->enc = enc ? CERT_DupCertificate(enc) : NULL;
	if (s->enc && CERT_VerifyCertNow(CERT_GetDefaultCertDB(), s->enc, PR_TRUE,
					 certUsageEmailRecipient, NULL) == SECSuccess) {
		worker__issuer_sn(s->enc, &s->ms_ekp);
		sg_buf_append(&s->ekp, s->ms_ekp.data, s->ms_ekp.len);
		s->ekp.data[0] = (char) 0xa0;	/* [0] IMPLICIT IssuerAndSerialNumber */
	}
	worker__issuer_sn(cert, &s->isn);
	if (s->key == NULL) {
		worker_signer_free(s);
		return (SG_ECRYPTO);
	}
	*out = s;
	return (0);
}

void	worker_signer_free(struct worker_signer *s)
{
	if (s == NULL)
		return;
	if (s->key)
		SECKEY_DestroyPrivateKey(s->key);
	sg_buf_free(&s->isn);
	sg_buf_free(&s->ekp);
	sg_buf_free(&s->ms_ekp);
	CERT_DestroyCertificateList(s->chain_der);
	if (s->enc)
		CERT_DestroyCertificate(s->enc);
	CERT_DestroyCertificate(s->cert);
	free(s);
}

CERTCertificate *worker_signer_cert(const struct worker_signer *s)
{
	return (s->cert);
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
			 const struct sg_buf *entity, const SECItem *der, int hash)
{
	char	b[64];

	boundary(b, sizeof(b), entity);
	sg_buf_append(out, outer->data, outer->len);
	sg_buf_printf(out, "MIME-Version: 1.0\r\n"
		      "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n"
		      " micalg=%s; boundary=\"%s\"\r\n\r\n"
		      "This is a cryptographically signed message in MIME format.\r\n\r\n"
		      "--%s\r\n", worker__hash_name(hash), b, b);
	/* The CRLF before the next delimiter belongs to it, not to the entity. */
	sg_buf_append(out, entity->data, entity->len);
	sg_buf_printf(out, "\r\n--%s\r\n"
		      "Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n"
		      "Content-Transfer-Encoding: base64\r\n"
		      "Content-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n", b);
	worker_mime_base64_encode(der->data, der->len, out);
	sg_buf_printf(out, "\r\n--%s--\r\n", b);
}

int	worker_smime_sign(const struct worker_signer *s, const struct worker_sign_spec *spec,
			  const char *msg, size_t len, struct sg_buf *out)
{
	static const struct worker_sign_spec dflt = {
		SG_RULE_SIG_DETACHED, WORKER_SIGALG_PKCS1, WORKER_HASH_SHA256, WORKER_CAPS_ACCEPTED
	};
	struct sg_buf canon = SG_BUF_INIT, outer = SG_BUF_INIT, entity = SG_BUF_INIT;
	struct sg_buf safe = SG_BUF_INIT, sig = SG_BUF_INIT;
	SECItem der = { siBuffer, NULL, 0 };
	bool	detached;
	int	rc;

	if (spec == NULL)
		spec = &dflt;
	detached = spec->form == SG_RULE_SIG_DETACHED;
	if (spec->hash < WORKER_HASH_SHA256 || spec->hash > WORKER_HASH_SHA512)
		return (SG_EINVAL);
	if ((rc = worker__prepare(msg, len, NULL, &canon, &outer, &entity)) < 0)
		goto out;
	/* Detached: what travels in clear must survive relays (RFC 8551 3.1.1). */
	if ((rc = (detached ? worker_mime_protect : worker_mime_to_7bit)(entity.data, entity.len,
									  &safe)) < 0)
		goto out;
	if ((rc = worker__cms_sign(s, spec, safe.data ? safe.data : "", safe.len, detached,
				   &sig)) < 0)
		goto out;
	der.data = (unsigned char *) sig.data;
	der.len = (unsigned) sig.len;
	if (detached)
		put_detached(out, &outer, &safe, &der, spec->hash);
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

int	worker_smime_encrypt(const struct worker_recipient *r, size_t n, int content,
			     const char *msg, size_t len, struct sg_buf *out)
{
	struct sg_buf canon = SG_BUF_INIT, outer = SG_BUF_INIT, entity = SG_BUF_INIT;
	struct sg_buf der = SG_BUF_INIT;
	SECItem item;
	int	rc;

	if (n == 0)
		return (SG_EINVAL);
	if ((rc = worker__prepare(msg, len, NULL, &canon, &outer, &entity)) == 0
	    && (rc = worker__cms_encrypt(r, n, content, entity.data ? entity.data : "",
					 entity.len, &der)) == 0) {
		item = (SECItem) { siBuffer, (unsigned char *) der.data, (unsigned) der.len };
		worker__put_pkcs7(out, &outer, worker__cipher(content)->gcm ? "authEnveloped-data"
				  : "enveloped-data", &item);
	}
	sg_buf_free(&der);
	sg_buf_free(&canon);
	sg_buf_free(&outer);
	sg_buf_free(&entity);
	return (rc);
}
