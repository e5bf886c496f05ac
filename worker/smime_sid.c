/*
 * NAME
 *	smime_sid 3
 * SUMMARY
 *	rewrite a signer's identifier from subject key id to issuer and serial
 * SYNOPSIS
 *	#include "worker/worker_int.h"
 *
 *	void	worker__issuer_sn(cert, out)
 *
 *	int	worker__sid_to_issuer_sn(der, len, issuer_sn, isnlen, out)
 * DESCRIPTION
 *	Why: NSS 3.87 signs with a private key the caller holds only through
 *	NSS_CMSSignerInfo_CreateWithSubjKeyID(); with a certificate it looks
 *	the key up in the database for every message (several SQLite queries
 *	under a lock, and the key's attributes read again at each use), which
 *	costs about a third of the throughput on two threads. But gpgsm
 *	cannot parse a subjectKeyIdentifier SignerIdentifier. The signer
 *	identifier is not covered by the signature (only the signed
 *	attributes are), so we sign with the cached in-memory key under a
 *	subject key id and then put the issuerAndSerialNumber in its place,
 *	with the versions that go with it (SignerInfo 1, SignedData 1; RFC
 *	5652 5.1 and 5.3: id-data content, X.509 certificates only).
 *
 *	worker__issuer_sn() appends the DER IssuerAndSerialNumber of cert.
 *
 *	worker__sid_to_issuer_sn() reads the BER ContentInfo made by NSS
 *	(outer layers of indefinite length) with exactly one SignerInfo, and
 *	appends the rewritten ContentInfo to out, its outer layers now of
 *	definite length and everything else as NSS wrote it.
 * DIAGNOSTICS
 *	SG_EINVAL when the input is not the shape NSS makes; out is then
 *	unchanged.
 */

#include <string.h>

#include "worker_int.h"

void	worker__issuer_sn(CERTCertificate *cert, struct sg_buf *out)
{
	struct sg_buf c = SG_BUF_INIT;

	sg_buf_append(&c, cert->derIssuer.data, cert->derIssuer.len);
	worker__der_put(&c, 0x02, cert->serialNumber.data, cert->serialNumber.len);
	worker__der_put(out, 0x30, c.data, c.len);
	sg_buf_free(&c);
}

/* signer_info - the one SignerInfo with its version and sid replaced */

static int signer_info(const struct worker_der *set, const void *isn, size_t isnlen, struct sg_buf *out)
{
	struct worker_der si, ver, sid;
	const unsigned char *p;
	size_t	n;
	struct sg_buf c = SG_BUF_INIT, seq = SG_BUF_INIT;

	if (worker__der_read(worker__der_content(set), set->len, &si) < 0 || si.p[0] != 0x30
	    || worker__der_size(&si) != set->len)
		return (SG_EINVAL);		/* exactly one SignerInfo */
	p = worker__der_content(&si);
	n = si.len;
	if (worker__der_read(p, n, &ver) < 0 || ver.p[0] != 0x02
	    || worker__der_read(p + worker__der_size(&ver), n - worker__der_size(&ver), &sid) < 0 || sid.p[0] != 0x80)
		return (SG_EINVAL);
	sg_buf_append(&c, "\x02\x01\x01", 3);
	sg_buf_append(&c, isn, isnlen);
	sg_buf_append(&c, sid.p + worker__der_size(&sid), n - worker__der_size(&ver) - worker__der_size(&sid));
	worker__der_put(&seq, 0x30, c.data, c.len);
	worker__der_put(out, 0x31, seq.data, seq.len);
	sg_buf_free(&seq);
	sg_buf_free(&c);
	return (0);
}

/* signed_data - the SignedData content with version 1 and the new signer */

static int signed_data(const struct worker_der *sd, const void *isn, size_t isnlen, struct sg_buf *out)
{
	const unsigned char *p = worker__der_content(sd);
	size_t	n = sd->len, off;
	struct worker_der ver, e;

	if (worker__der_read(p, n, &ver) < 0 || ver.p[0] != 0x02)
		return (SG_EINVAL);
	sg_buf_append(out, "\x02\x01\x01", 3);
	for (off = worker__der_size(&ver); off < n; off += worker__der_size(&e)) {
		if (worker__der_read(p + off, n - off, &e) < 0)
			return (SG_EINVAL);
		if (off + worker__der_size(&e) == n)
			break;			/* the last one: signerInfos */
		sg_buf_append(out, e.p, worker__der_size(&e));
	}
	if (off >= n || e.p[0] != 0x31)
		return (SG_EINVAL);
	return (signer_info(&e, isn, isnlen, out));
}

int	worker__sid_to_issuer_sn(const void *der, size_t len, const void *isn, size_t isnlen,
				 struct sg_buf *out)
{
	struct worker_der top, oid, expl, sd;
	struct sg_buf sdc = SG_BUF_INIT, w = SG_BUF_INIT, x = SG_BUF_INIT;
	int	rc = SG_EINVAL;

	if (worker__der_read(der, len, &top) < 0 || top.p[0] != 0x30
	    || worker__der_read(worker__der_content(&top), top.len, &oid) < 0 || oid.p[0] != 0x06
	    || worker__der_read(oid.p + worker__der_size(&oid), top.len - worker__der_size(&oid), &expl) < 0
	    || expl.p[0] != 0xa0 || worker__der_read(worker__der_content(&expl), expl.len, &sd) < 0
	    || sd.p[0] != 0x30)
		goto out;
	if ((rc = signed_data(&sd, isn, isnlen, &sdc)) < 0)
		goto out;
	worker__der_put(&w, 0x30, sdc.data, sdc.len);
	sg_buf_append(&x, oid.p, worker__der_size(&oid));
	worker__der_put(&x, 0xa0, w.data, w.len);
	worker__der_put(out, 0x30, x.data, x.len);
out:
	sg_buf_free(&sdc);
	sg_buf_free(&w);
	sg_buf_free(&x);
	return (rc);
}
