/*
 * NAME
 *	certs_dane 3
 * SUMMARY
 *	the peer's certificates as DANE (RFC 7671) matches them
 * SYNOPSIS
 *	#include "certs/certs.h"
 *
 *	int	certs_tls_dane_data(t, idx, selector, mtype, out, cap, &len)
 *	int	certs_tls_dane_ta(t, idx, name)
 * DESCRIPTION
 *	The matching itself (which records, which usages) is delivery's
 *	(dane_match.c); this file only has what needs NSS: the chain the
 *	peer sent, the DER of a certificate or of its SubjectPublicKeyInfo,
 *	their digests, and a chain check against one chosen anchor.
 *
 *	The SubjectPublicKeyInfo is re-encoded from NSS's decoded form with
 *	NSS's own template; its parts are kept as the DER they were read
 *	from, so the bytes are those of the certificate.
 *
 *	certs_tls_dane_ta() gives libpkix the one anchor and tells it to use
 *	no other; intermediates are found among the certificates the peer
 *	sent (NSS keeps them in its temporary store during the session). No
 *	revocation is fetched: the check cannot block.
 * DIAGNOSTICS
 *	As certs.h says; nothing is logged here.
 */

#include <string.h>

#include <ssl.h>
#include <secasn1.h>
#include <hasht.h>

#include "certs_int.h"

/* chain_at - a reference to the peer's certificate number idx, or NULL */

static CERTCertificate *chain_at(const struct certs_tls *t, size_t idx)
{
	PRFileDesc *fd = certs_tls_nssfd(t);
	CERTCertList *l;
	CERTCertificate *c = NULL;
	size_t	i = 0;

	if (fd == NULL || (l = SSL_PeerCertificateChain(fd)) == NULL)
		return (NULL);
	for (CERTCertListNode *n = CERT_LIST_HEAD(l); !CERT_LIST_END(n, l);
	     n = CERT_LIST_NEXT(n), i++) {
		if (i == idx) {
			c = CERT_DupCertificate(n->cert);
			break;
		}
	}
	CERT_DestroyCertList(l);
	return (c);
}

int	certs_tls_dane_data(const struct certs_tls *t, size_t idx, unsigned selector,
			    unsigned mtype, unsigned char *out, size_t cap, size_t *len)
{
	CERTCertificate *c;
	SECItem *spki = NULL;
	const SECItem *src;
	int	rc = 0;

	if (selector > 1 || mtype > 2)
		return (SG_EUNSUPPORTED);
	if ((c = chain_at(t, idx)) == NULL)
		return (SG_ENOTFOUND);
	src = &c->derCert;
	if (selector == 1) {
		spki = SEC_ASN1EncodeItem(NULL, NULL, &c->subjectPublicKeyInfo,
					  SEC_ASN1_GET(CERT_SubjectPublicKeyInfoTemplate));
		if (spki == NULL) {
			CERT_DestroyCertificate(c);
			return (SG_ECRYPTO);
		}
		src = spki;
	}
	if (mtype == 0) {
		if (src->len > cap)
			rc = SG_ELIMIT;
		else {
			memcpy(out, src->data, src->len);
			*len = src->len;
		}
	} else {
		size_t	dl = mtype == 1 ? SHA256_LENGTH : SHA512_LENGTH;

		if (dl > cap)
			rc = SG_ELIMIT;
		else if (PK11_HashBuf(mtype == 1 ? SEC_OID_SHA256 : SEC_OID_SHA512, out,
				      src->data, (PRInt32) src->len) != SECSuccess)
			rc = SG_ECRYPTO;
		else
			*len = dl;
	}
	if (spki)
		SECITEM_FreeItem(spki, PR_TRUE);
	CERT_DestroyCertificate(c);
	return (rc);
}

int	certs_tls_dane_ta(const struct certs_tls *t, size_t idx, const char *name)
{
	CERTCertificate *leaf = chain_at(t, 0), *ta = chain_at(t, idx);
	CERTCertList *anchors = NULL;
	CERTValInParam in[4];
	CERTValOutParam outp[1];
	int	rc = SG_ECRYPTO;

	if (leaf == NULL || ta == NULL || (anchors = CERT_NewCertList()) == NULL)
		goto out;
	if (CERT_AddCertToListTail(anchors, CERT_DupCertificate(ta)) != SECSuccess)
		goto out;
	in[0].type = cert_pi_revocationFlags;
	in[0].value.pointer.revocation = CERT_GetClassicOCSPDisabledPolicy();
	in[1].type = cert_pi_trustAnchors;
	in[1].value.pointer.chain = anchors;
	in[2].type = cert_pi_useOnlyTrustAnchors;
	in[2].value.scalar.b = PR_TRUE;
	in[3].type = cert_pi_end;
	outp[0].type = cert_po_end;
	if (CERT_PKIXVerifyCert(leaf, certificateUsageSSLServer, in, outp, NULL) == SECSuccess)
		rc = name && CERT_VerifyCertName(leaf, name) == SECSuccess ? 0 : SG_ECRYPTO;
out:
	if (anchors)
		CERT_DestroyCertList(anchors);
	if (ta)
		CERT_DestroyCertificate(ta);
	if (leaf)
		CERT_DestroyCertificate(leaf);
	return (rc);
}
