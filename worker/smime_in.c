/*
 * NAME
 *	smime_in 3
 * SUMMARY
 *	S/MIME inbound: decrypt, verify, strip a client's signature
 * SYNOPSIS
 *	#include "worker/worker.h"
 *
 *	int	worker_smime_decrypt(certs, msg, len, out, reason, reasonlen)
 *
 *	int	worker_smime_verify(certs, msg, len, header, harvest, out, verdict)
 *
 *	void	worker_verdict_free(verdict)
 *
 *	int	worker_smime_strip(msg, len, out)
 *
 *	bool	worker__encrypted(msg, len)
 * DESCRIPTION
 *	Only the root entity of a message is ever decrypted or counted as
 *	signed. A multipart that wraps an encrypted or signed part between
 *	other parts is left alone: merging decrypted text with parts an
 *	attacker wrote is EFAIL, and calling a message signed when only one
 *	of its parts is signed is signature spoofing.
 *
 *	worker_smime_decrypt() reads the encrypted data itself (cms_dec.c:
 *	AES-CBC and 3DES content, RSA PKCS#1 v1.5 and OAEP key transport,
 *	the keys from certs' cache); anything weaker is refused. The
 *	plaintext must itself be a MIME entity, and is wiped from memory
 *	once copied. worker__encrypted() tells whether the root entity is
 *	one it would try to decrypt: what a virus scanner cannot read.
 *
 *	worker_smime_verify() checks, for each signer info: the signature
 *	(NSS, over the exact first-part bytes for multipart/signed), the
 *	signer's certificate now, for e-mail signing, under certs' revocation
 *	policy (certs_check(); with certs NULL, NSS's own settings); then
 *	that one signer's certificate carries the From address. A detached signature that also carries content of its own
 *	is invalid: what is shown must be what is signed.
 * DIAGNOSTICS
 *	Reasons are NSS error names or short phrases, ready for a header.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "worker_int.h"

static bool is_pkcs7(const struct worker_mime_entity *e, const char *what)
{
	char	x[40];

	snprintf(x, sizeof(x), "x-%s", what);
	return (strcmp(e->type, "application") == 0
		&& (strcmp(e->subtype, what) == 0 || strcmp(e->subtype, x) == 0));
}

/*
 * enveloped_entity - application/pkcs7-mime (or x-) with smime-type
 * enveloped-data, authEnveloped-data (RFC 8551 3.4) or none, or the alternative RFC 8551 3.2.2 asks
 * receivers to take: application/octet-stream named *.p7m. Only the
 * decoder can tell what an untyped one holds.
 */
static bool enveloped_entity(const struct worker_mime_entity *e)
{
	size_t	n = strlen(e->name);

	if (is_pkcs7(e, "pkcs7-mime"))
		return (e->smime_type[0] == 0 || strcmp(e->smime_type, "enveloped-data") == 0
			|| strcmp(e->smime_type, "authenveloped-data") == 0);
	return (strcmp(e->type, "application") == 0 && strcmp(e->subtype, "octet-stream") == 0
		&& n > 4 && strcmp(e->name + n - 4, ".p7m") == 0);
}

/* body_der - the DER of a pkcs7 entity, by its transfer encoding */

static int body_der(const struct worker_mime_entity *e, struct sg_buf *der)
{
	const char *b = e->p + e->body_off;
	size_t	n = e->len - e->body_off;

	if (e->cte == WORKER_CTE_BASE64)
		return (worker_mime_base64_decode(b, n, der));
	if (e->cte == WORKER_CTE_BINARY || e->cte == WORKER_CTE_8BIT || e->cte == WORKER_CTE_7BIT) {
		sg_buf_append(der, b, n);
		return (0);
	}
	return (SG_EUNSUPPORTED);
}

static NSSCMSMessage *decode(const struct sg_buf *der, SECOidTag *tag)
{
	SECItem item = { siBuffer, (unsigned char *) der->data, (unsigned) der->len };
	NSSCMSMessage *cmsg;

	if (der->len == 0 || der->len > (size_t) 1 << 30)
		return (NULL);
	cmsg = NSS_CMSMessage_CreateFromDER(&item, NULL, NULL, NULL, NULL, NULL, NULL);
	if (cmsg)
		*tag = NSS_CMSContentInfo_GetContentTypeTag(NSS_CMSMessage_ContentLevel(cmsg, 0));
	return (cmsg);
}

/*
 * put_plain - outer fields and a decrypted or unwrapped inner entity. Of
 * the inner header only the Content-* fields are kept: anything else in
 * there (a second From, a forged result header) must not become a field
 * of the message.
 */
static int put_plain(struct sg_buf *out, const char *head, size_t headlen,
		     const struct sg_buf *outer, const SECItem *inner)
{
	struct sg_buf c = SG_BUF_INIT, dropped = SG_BUF_INIT, entity = SG_BUF_INIT;
	int	rc;

	worker_mime_canon((const char *) inner->data, inner->len, &c);
	if ((rc = worker_mime_split(c.data ? c.data : "", c.len, NULL, &dropped, &entity)) == 0) {
		sg_buf_append(out, head, headlen);
		sg_buf_append(out, outer->data, outer->len);
		sg_buf_puts(out, "MIME-Version: 1.0\r\n");
		sg_buf_append(out, entity.data, entity.len);
	}
	sg_buf_free(&c);
	sg_buf_free(&dropped);
	sg_buf_free(&entity);
	return (rc);
}

/* decrypt_cms - our own decoder (cms_dec.c); the plaintext is a MIME entity */

static int decrypt_cms(struct certs *c, const struct sg_buf *der, const struct sg_buf *outer,
		       struct sg_buf *out, char *reason, size_t rlen)
{
	struct sg_buf plain = SG_BUF_INIT;
	SECItem	item;
	int	rc = worker__cms_decrypt(c, der->data, der->len, &plain, reason, rlen);

	if (rc == 0 && plain.len == 0) {
		snprintf(reason, rlen, "empty encrypted content");
		rc = SG_ECRYPTO;
	} else if (rc == 0) {
		item = (SECItem) { siBuffer, (unsigned char *) plain.data, (unsigned) plain.len };
		if (put_plain(out, "", 0, outer, &item) < 0) {
			snprintf(reason, rlen, "decrypted content is not a MIME entity");
			rc = SG_ECRYPTO;
		}
	}
	if (plain.data)
		memset(plain.data, 0, plain.len);
	sg_buf_free(&plain);
	return (rc);
}

int	worker_smime_decrypt(struct certs *c, const char *msg, size_t len, struct sg_buf *out,
			     char *reason, size_t rlen)
{
	struct sg_buf canon = SG_BUF_INIT, outer = SG_BUF_INIT, entity = SG_BUF_INIT;
	struct sg_buf der = SG_BUF_INIT;
	struct worker_mime_entity e;
	int	rc;

	snprintf(reason, rlen, "%s", "");
	if ((rc = worker__prepare(msg, len, NULL, &canon, &outer, &entity)) < 0
	    || (rc = worker_mime_parse(entity.data, entity.len, &e)) < 0)
		goto out;
	if (!enveloped_entity(&e)) {
		rc = SG_ENOTFOUND;
		goto out;
	}
	if (body_der(&e, &der) < 0) {
		snprintf(reason, rlen, "encrypted body is not valid base64");
		rc = SG_ECRYPTO;
		goto out;
	}
	rc = decrypt_cms(c, &der, &outer, out, reason, rlen);
out:
	sg_buf_free(&canon);
	sg_buf_free(&outer);
	sg_buf_free(&entity);
	sg_buf_free(&der);
	return (rc);
}

bool	worker__encrypted(const char *msg, size_t len)
{
	struct sg_buf canon = SG_BUF_INIT, outer = SG_BUF_INIT, entity = SG_BUF_INIT;
	struct worker_mime_entity e;
	bool	yes = worker__prepare(msg, len, NULL, &canon, &outer, &entity) == 0
		&& worker_mime_parse(entity.data, entity.len, &e) == 0 && enveloped_entity(&e);

	sg_buf_free(&canon);
	sg_buf_free(&outer);
	sg_buf_free(&entity);
	return (yes);
}

/* set_digests - hash the detached content with the signature's algorithms */

static int set_digests(NSSCMSSignedData *sigd, const char *p, size_t len, PLArenaPool *pool)
{
	SECAlgorithmID **algs = NSS_CMSSignedData_GetDigestAlgs(sigd);
	NSSCMSDigestContext *dcx;
	SECItem **digests = NULL;

	if (algs == NULL || (dcx = NSS_CMSDigestContext_StartMultiple(algs)) == NULL)
		return (SG_ECRYPTO);
	NSS_CMSDigestContext_Update(dcx, (const unsigned char *) p, (int) len);
	if (NSS_CMSDigestContext_FinishMultiple(dcx, pool, &digests) != SECSuccess
	    || NSS_CMSSignedData_SetDigests(sigd, algs, digests) != SECSuccess)
		return (SG_ECRYPTO);
	return (0);
}

/* from_address - the one From mailbox's address, into addr */

static int from_address(const struct sg_buf *outer, char *addr, size_t alen)
{
	struct worker_mime_field f;
	size_t	pos = 0, n = 0, s, e;
	const char *v = NULL;
	size_t	vlen = 0;

	while (worker_mime_field_next(outer->data, outer->len, &pos, &f) == 0)
		if (worker_mime_field_is(&f, "From") && n++ == 0) {
			v = f.value;
			vlen = f.vlen;
		}
	if (n != 1)
		return (SG_EINVAL);
	const char *lt = memchr(v, '<', vlen);

	if (lt) {
		const char *gt = memchr(lt, '>', vlen - (size_t) (lt - v));

		if (gt == NULL || memchr(gt, '<', vlen - (size_t) (gt - v)) || memchr(v, ',', vlen))
			return (SG_EINVAL);	/* one mailbox only */
		s = (size_t) (lt + 1 - v);
		e = (size_t) (gt - v);
	} else {
		for (s = 0; s < vlen && strchr(" \t\r\n", v[s]); s++);
		for (e = vlen; e > s && strchr(" \t\r\n", v[e - 1]); e--);
		if (memchr(v + s, ' ', e - s) || memchr(v + s, ',', e - s))
			return (SG_EINVAL);
	}
	if (e <= s || e - s >= alen)
		return (SG_EINVAL);
	memcpy(addr, v + s, e - s);
	addr[e - s] = 0;
	return (0);
}

static bool cert_has_address(CERTCertificate *cert, const char *addr)
{
	for (const char *a = CERT_GetFirstEmailAddress(cert); a; a = CERT_GetNextEmailAddress(cert, a))
		if (strcasecmp(a, addr) == 0)
			return (true);
	return (false);
}

static void invalid(struct worker_verdict *v, const char *fmt, const char *arg)
{
	if (v->status == WORKER_SIG_INVALID)
		return;				/* the first reason counts */
	v->status = WORKER_SIG_INVALID;
	snprintf(v->reason, sizeof(v->reason), fmt, arg);
}

/* chain_now - the signer's certificate, now, under certs' policy; true if good */

static bool chain_now(struct certs *c, CERTCertificate *cert, CERTCertDBHandle *db,
		      struct worker_verdict *v)
{
	struct certs_check chk;
	char	why[96];

	if (c == NULL) {
		if (CERT_VerifyCertificateNow(db, cert, PR_TRUE, certificateUsageEmailSigner,
					      NULL, NULL) == SECSuccess)
			return (true);
		worker__nss_reason(why, sizeof(why), "signer certificate");
		invalid(v, "%.120s", why);
		return (false);
	}
	if (certs_check(c, cert, CERTS_USE_SIGN, &chk) < 0 || !chk.valid) {
		invalid(v, "signer certificate: %.100s", chk.reason[0] ? chk.reason : "not valid");
		return (false);
	}
	if (chk.warning)
		sg_warn("event=revocation_unknown use=verify signer=\"%s\" reason=\"%s\" "
			"action=valid policy=soft-fail", sg_printable(why, sizeof(why),
			v->signer, strlen(v->signer)), chk.reason);
	return (true);
}

/*
 * digest_of - the digest of the content under si's digest algorithm, as
 * NSS computed it while decoding or set_digests() gave it; NULL if none
 * (NSS_CMSSignerInfo_Verify then says why). NSS's own lookup is not
 * exported; the arrays are parallel (cmst.h).
 */
static SECItem *digest_of(const NSSCMSSignedData *sigd, NSSCMSSignerInfo *si)
{
	SECOidTag want = SECOID_GetAlgorithmTag(&si->digestAlg);

	for (int i = 0; sigd->digestAlgorithms && sigd->digests && sigd->digestAlgorithms[i]; i++)
		if (SECOID_GetAlgorithmTag(sigd->digestAlgorithms[i]) == want)
			return (sigd->digests[i]);
	return (NULL);
}

/*
 * check_signer - signature, certificate; true if good. NSS's own
 * NSS_CMSSignedData_VerifySignerInfo() would build and check the chain
 * at the claimed signing time and chain_now() again at the time that
 * counts: one chain check is enough. What the first one added, the
 * signer's certificate valid at the signing time it claims, is a date
 * comparison. A known signer's certificate came with certs' verdict,
 * good and without a warning, a moment ago: no chain check at all.
 */
static bool check_signer(struct certs *c, NSSCMSSignedData *sigd, int i, CERTCertDBHandle *db,
			 bool known, struct worker_verdict *v, CERTCertificate **certp)
{
	NSSCMSSignerInfo *si = NSS_CMSSignedData_GetSignerInfo(sigd, i);
	CERTCertificate *cert = NSS_CMSSignerInfo_GetSigningCertificate(si, db);
	NSSCMSVerificationStatus st;
	PRTime	t;
	bool	claimed = NSS_CMSSignerInfo_GetSigningTime(si, &t) == SECSuccess;

	*certp = cert;
	if (cert == NULL) {
		invalid(v, "%s", "signer certificate: not found");
		return (false);
	}
	if (cert->emailAddr && v->signer[0] == 0)
		snprintf(v->signer, sizeof(v->signer), "%s", cert->emailAddr);
	if (claimed && CERT_CheckCertValidTimes(cert, t, PR_FALSE) != secCertTimeValid) {
		invalid(v, "%s", "signer certificate: not valid at the claimed signing time");
		return (false);
	}
	/* the signature first: a forgery never costs a revocation round trip */
	(void) NSS_CMSSignerInfo_Verify(si, digest_of(sigd, si), &sigd->contentInfo.contentType);
	if ((st = NSS_CMSSignerInfo_GetVerificationStatus(si)) != NSSCMSVS_GoodSignature) {
		invalid(v, "bad signature (%.60s)", NSS_CMSUtil_VerificationStatusToString(st));
		return (false);
	}
	if (!known && !chain_now(c, cert, db, v))
		return (false);
	if (claimed && v->signing_time == 0)
		v->signing_time = t / 1000;
	return (true);
}

/* signer_caps - the SMIMECapabilities a signer advertised, as WORKER_CAP_* */

static unsigned signer_caps(NSSCMSSignerInfo *si)
{
	for (NSSCMSAttribute **a = si->authAttr; a && *a; a++)
		if (SECOID_FindOIDTag(&(*a)->type) == SEC_OID_PKCS9_SMIME_CAPABILITIES
		    && (*a)->values && (*a)->values[0])
			return (worker__caps_parse((*a)->values[0]->data, (*a)->values[0]->len));
	return (0);
}

/*
 * hold_chain - cert, and with issuers its issuers below the trust
 * anchor, referenced, for the harvest. A certificate already in the
 * database (certs_stored: NSS's isperm can be stale) is not harvested
 * again (certs_harvest): its issuers are not looked up.
 */
static void hold_chain(struct certs *cs, CERTCertificate *cert, bool issuers,
		       struct worker_chain *ch)
{
	CERTCertificate *c = CERT_DupCertificate(cert), *issuer;
	PRTime	now = PR_Now();

	ch->cert[ch->n++] = c;
	if (issuers && (cs ? certs_stored(cs, cert) : cert->isperm))
		return;
	while (issuers && ch->n < WORKER_CHAIN_MAX && !c->isRoot
	       && (issuer = CERT_FindCertIssuer(c, now, certUsageEmailSigner)) != NULL) {
		if (issuer->isRoot) {
			CERT_DestroyCertificate(issuer);
			break;
		}
		ch->cert[ch->n++] = c = issuer;
	}
}

/*
 * cert_isn - the issuer Name (the whole TLV) and the serial number (the
 * INTEGER) of a DER certificate the message carries (untrusted: bounded
 * by len, -1 on anything unexpected)
 */
static int cert_isn(const unsigned char *p, size_t len, struct worker_der *issuer,
		    struct worker_der *serial)
{
	struct worker_der cert, tbs, alg;
	struct worker_der_it it;

	if (worker__der_read(p, len, &cert) < 0 || cert.p[0] != 0x30)
		return (-1);
	worker__der_enter(&cert, &it);
	if (worker__der_next(&it, &tbs) < 0 || tbs.p[0] != 0x30)
		return (-1);
	worker__der_enter(&tbs, &it);
	if (worker__der_next(&it, serial) < 0)
		return (-1);
	if (serial->p[0] == 0xa0 && worker__der_next(&it, serial) < 0)
		return (-1);			/* [0] version, then the serial */
	if (serial->p[0] != 0x02 || worker__der_next(&it, &alg) < 0 || alg.p[0] != 0x30
	    || worker__der_next(&it, issuer) < 0 || issuer->p[0] != 0x30)
		return (-1);
	return (0);
}

static bool same(const struct worker_der *d, const unsigned char *p, size_t len, bool whole)
{
	size_t	n = whole ? worker__der_size(d) : d->len;

	return (n == len && memcmp(whole ? d->p : worker__der_content(d), p, len) == 0);
}

/* signer_der - the certificate of the message a signer info names by issuer and serial */

static const SECItem *signer_der(const NSSCMSSignedData *sigd, const NSSCMSSignerInfo *si)
{
	const CERTIssuerAndSN *isn = si->signerIdentifier.id.issuerAndSN;
	struct worker_der issuer, serial;

	if (si->signerIdentifier.identifierType != NSSCMSSignerID_IssuerSN || isn == NULL)
		return (NULL);
	for (SECItem **r = sigd->rawCerts; r && *r; r++)
		if (cert_isn((*r)->data, (*r)->len, &issuer, &serial) == 0
		    && same(&issuer, isn->derIssuer.data, isn->derIssuer.len, true)
		    && same(&serial, isn->serialNumber.data, isn->serialNumber.len, false))
			return (*r);
	return (NULL);
}

/*
 * known_signers - when every signer's certificate is in the message and
 * certs found it good lately (certs_known_good), hand each to its signer
 * info (NSS destroys it with the message) and tell the caller it need
 * not import the message's certificates: NSS would decode each and look
 * it up in the database, for chains that check_signer() then need not
 * build, since it takes that verdict.
 * A harvest of a certificate not yet stored wants the issuers: not then.
 */
static bool known_signers(struct certs *c, NSSCMSSignedData *sigd, int n, bool issuers)
{
	CERTCertificate *got[WORKER_SIGNERS_MAX];
	int	k;

	/* the certificates are looked for even without certs: fuzz_cms reaches cert_isn() */
	for (k = 0; k < n; k++) {
		const NSSCMSSignerInfo *si = NSS_CMSSignedData_GetSignerInfo(sigd, k);
		const SECItem *der = signer_der(sigd, si);

		if (der == NULL || c == NULL
		    || (got[k] = certs_known_good(c, der->data, der->len, CERTS_USE_SIGN)) == NULL)
			break;
		if (issuers && !certs_stored(c, got[k])) {
			CERT_DestroyCertificate(got[k]);
			break;
		}
	}
	if (k < n) {
		while (k-- > 0)
			CERT_DestroyCertificate(got[k]);
		return (false);
	}
	for (k = 0; k < n; k++)
		NSS_CMSSignedData_GetSignerInfo(sigd, k)->cert = got[k];
	return (true);
}

static void verify_cms(struct certs *c, const struct sg_buf *der, const char *content, size_t clen,
		       const struct sg_buf *outer, struct worker_verdict *v, SECItem **inner,
		       NSSCMSMessage **keep)
{
	CERTCertDBHandle *db = CERT_GetDefaultCertDB();
	PLArenaPool *pool = PORT_NewArena(1024);
	SECOidTag tag = SEC_OID_UNKNOWN;
	const char *refused = NULL;
	int	checked = worker__cms_signed_check(der->data ? der->data : "", der->len, &refused);
	NSSCMSMessage *cmsg = checked < 0 ? NULL : decode(der, &tag);
	NSSCMSSignedData *sigd;
	CERTCertificate *certs[WORKER_SIGNERS_MAX];
	char	from[256];
	int	n;
	bool	from_ok = false, all_ok = true, known;

	*keep = cmsg;
	if (checked == SG_ELIMIT) {
		invalid(v, "signature not looked at: %s", refused);
		goto out;
	}
	if (cmsg == NULL || tag != SEC_OID_PKCS7_SIGNED_DATA) {
		invalid(v, "%s", "signature cannot be decoded");
		goto out;
	}
	sigd = NSS_CMSContentInfo_GetContent(NSS_CMSMessage_ContentLevel(cmsg, 0));
	*inner = NSS_CMSMessage_GetContent(cmsg);
	if (content && *inner && (*inner)->len) {
		invalid(v, "%s", "detached signature carries content of its own");
		goto out;
	}
	if (content && set_digests(sigd, content, clen, pool) < 0) {
		invalid(v, "%s", "cannot hash the signed content");
		goto out;
	}
	n = NSS_CMSSignedData_SignerInfoCount(sigd);
	if (n <= 0 || n > WORKER_SIGNERS_MAX) {
		invalid(v, "%s", n <= 0 ? "no signer" : "too many signers");
		goto out;
	}
	/* Temporary import, never kept: harvesting is the caller's choice. */
	known = known_signers(c, sigd, n, v->issuers);
	if (!known)
		(void) NSS_CMSSignedData_ImportCerts(sigd, db, certUsageEmailSigner, PR_FALSE);
	for (int i = 0; i < n; i++)
		all_ok &= check_signer(c, sigd, i, db, known, v, &certs[i]);
	if (!all_ok)
		goto out;
	if (from_address(outer, from, sizeof(from)) < 0) {
		invalid(v, "%s", "no single From address");
		goto out;
	}
	for (int i = 0; i < n; i++)
		from_ok |= cert_has_address(certs[i], from);
	if (!from_ok) {
		invalid(v, "signer is not the From address %.100s", from);
		goto out;
	}
	v->status = WORKER_SIG_VALID;
	for (int i = 0; i < n; i++) {
		v->caps[v->nharvest] = signer_caps(NSS_CMSSignedData_GetSignerInfo(sigd, i));
		hold_chain(c, certs[i], v->issuers, &v->harvest[v->nharvest++]);
	}
out:
	PORT_FreeArena(pool, PR_FALSE);
}

/* put_header - the result field, printable and quoted */

static void put_header(struct sg_buf *out, const char *name, const struct worker_verdict *v)
{
	static const char *const word[] = { "unsigned", "valid", "invalid" };
	char	esc[512];

	sg_buf_printf(out, "%s: %s", name, word[v->status]);
	if (v->status == WORKER_SIG_INVALID)
		sg_buf_printf(out, "; reason=\"%s\"",
			      sg_printable(esc, sizeof(esc), v->reason, strlen(v->reason)));
	if (v->signer[0])
		sg_buf_printf(out, "; signer=\"%s\"",
			      sg_printable(esc, sizeof(esc), v->signer, strlen(v->signer)));
	if (v->signing_time) {
		time_t	t = (time_t) (v->signing_time / 1000);
		struct tm tm;
		char	ts[32];

		gmtime_r(&t, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		sg_buf_printf(out, "; signed=%s", ts);
	}
	sg_buf_puts(out, "\r\n");
}

/* verify_detached - multipart/signed: exactly two parts, the second the signature */

static void verify_detached(struct certs *c, const struct worker_mime_entity *e,
			    const struct sg_buf *outer,
			    struct worker_verdict *v)
{
	struct worker_mime_span parts[3];
	struct worker_mime_entity sig;
	struct sg_buf der = SG_BUF_INIT;
	NSSCMSMessage *cmsg = NULL;
	SECItem *inner = NULL;
	size_t	n;

	if (worker_mime_parts(e, parts, SG_NELEM(parts), &n) < 0 || n != 2
	    || worker_mime_parse(e->p + parts[1].off, parts[1].len, &sig) < 0
	    || !is_pkcs7(&sig, "pkcs7-signature") || body_der(&sig, &der) < 0) {
		invalid(v, "%s", "malformed multipart/signed");
	} else {
		verify_cms(c, &der, e->p + parts[0].off, parts[0].len, outer, v, &inner, &cmsg);
	}
	if (cmsg)
		NSS_CMSMessage_Destroy(cmsg);
	sg_buf_free(&der);
}

/*
 * stamp_malformed - a message we cannot parse as MIME is "invalid", and
 * even then no copy of the result field may come through: drop every
 * line of the header section that names it (and its continuation lines),
 * as leniently as any reader downstream might parse them.
 */
static void stamp_malformed(const struct sg_buf *canon, const char *header, struct sg_buf *out,
			    struct worker_verdict *v)
{
	struct sg_buf head = SG_BUF_INIT;

	invalid(v, "%s", "message is not valid MIME");
	put_header(&head, header, v);
	sg_buf_append(out, head.data, head.len);
	sg_header_drop(canon->data ? canon->data : "", canon->len, header, out);
	sg_buf_free(&head);
}

int	worker_smime_verify(struct certs *c, const char *msg, size_t len, const char *header,
			    bool harvest, struct sg_buf *out, struct worker_verdict *v)
{
	struct sg_buf canon = SG_BUF_INIT, outer = SG_BUF_INIT, entity = SG_BUF_INIT;
	struct sg_buf der = SG_BUF_INIT, head = SG_BUF_INIT;
	struct worker_mime_entity e;
	NSSCMSMessage *cmsg = NULL;
	SECItem *inner = NULL;
	bool	unwrapped = false;
	int	rc = 0;

	memset(v, 0, sizeof(*v));
	v->issuers = harvest;
	if (worker__prepare(msg, len, header, &canon, &outer, &entity) < 0
	    || worker_mime_parse(entity.data, entity.len, &e) < 0) {
		stamp_malformed(&canon, header, out, v);
		rc = 0;
		goto out;
	}
	if (strcmp(e.type, "multipart") == 0 && strcmp(e.subtype, "signed") == 0
	    && (strcmp(e.protocol, "application/pkcs7-signature") == 0
		|| strcmp(e.protocol, "application/x-pkcs7-signature") == 0)) {
		verify_detached(c, &e, &outer, v);
	} else if (is_pkcs7(&e, "pkcs7-mime") && strcmp(e.smime_type, "signed-data") == 0) {
		if (body_der(&e, &der) < 0)
			invalid(v, "%s", "signature is not valid base64");
		else
			verify_cms(c, &der, NULL, 0, &outer, v, &inner, &cmsg);
	}
	put_header(&head, header, v);
	/* Opaque and valid: unwrap, so readers without S/MIME see the content. */
	if (v->status == WORKER_SIG_VALID && inner && inner->len)
		unwrapped = put_plain(out, head.data, head.len, &outer, inner) == 0;
	if (!unwrapped) {
		sg_buf_append(out, head.data, head.len);
		sg_buf_append(out, outer.data, outer.len);
		sg_buf_puts(out, "MIME-Version: 1.0\r\n");
		sg_buf_append(out, entity.data, entity.len);
	}
out:
	if (cmsg)
		NSS_CMSMessage_Destroy(cmsg);
	sg_buf_free(&canon);
	sg_buf_free(&outer);
	sg_buf_free(&entity);
	sg_buf_free(&der);
	sg_buf_free(&head);
	return (rc);
}

void	worker_verdict_free(struct worker_verdict *v)
{
	for (size_t i = 0; i < v->nharvest; i++) {
		for (size_t j = 0; j < v->harvest[i].n; j++)
			CERT_DestroyCertificate(v->harvest[i].cert[j]);
		v->harvest[i].n = 0;
	}
	v->nharvest = 0;
}

int	worker_smime_strip(const char *msg, size_t len, struct sg_buf *out)
{
	struct sg_buf canon = SG_BUF_INIT, outer = SG_BUF_INIT, entity = SG_BUF_INIT;
	struct worker_mime_entity e;
	struct worker_mime_span parts[3];
	size_t	n;
	int	rc;

	if ((rc = worker__prepare(msg, len, NULL, &canon, &outer, &entity)) < 0
	    || (rc = worker_mime_parse(entity.data, entity.len, &e)) < 0)
		goto out;
	if (strcmp(e.type, "multipart") != 0 || strcmp(e.subtype, "signed") != 0
	    || worker_mime_parts(&e, parts, SG_NELEM(parts), &n) < 0 || n != 2) {
		rc = SG_ENOTFOUND;
		goto out;
	}
	sg_buf_append(out, outer.data, outer.len);
	sg_buf_puts(out, "MIME-Version: 1.0\r\n");
	sg_buf_append(out, e.p + parts[0].off, parts[0].len);
out:
	sg_buf_free(&canon);
	sg_buf_free(&outer);
	sg_buf_free(&entity);
	return (rc);
}
