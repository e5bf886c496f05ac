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

struct tlv {
	const unsigned char *p;		/* the tag */
	size_t	hdr;			/* tag and length octets */
	size_t	len;			/* content octets */
	size_t	eoc;			/* 2 for an indefinite length, else 0 */
};

#define TLV_DEPTH 32

/*
 * tlv_read - one TLV with a one-octet tag, definite or (constructed)
 * indefinite length: NSS's encoder streams the outer layers indefinitely.
 */
static int tlv_read_depth(const unsigned char *p, size_t n, struct tlv *t, int depth)
{
	size_t	len = 0, nl, off;
	struct tlv c;

	if (n < 2 || (p[0] & 0x1f) == 0x1f || depth > TLV_DEPTH)
		return (SG_EINVAL);
	t->p = p;
	t->eoc = 0;
	if (p[1] == 0x80) {
		if (!(p[0] & 0x20))
			return (SG_EINVAL);
		for (off = 2; off + 2 <= n && (p[off] != 0 || p[off + 1] != 0); off += c.hdr + c.len + c.eoc)
			if (tlv_read_depth(p + off, n - off, &c, depth + 1) < 0)
				return (SG_EINVAL);
		if (off + 2 > n)
			return (SG_EINVAL);
		t->hdr = 2;
		t->len = off - 2;
		t->eoc = 2;
		return (0);
	}
	if (p[1] < 0x80) {
		t->hdr = 2;
		len = p[1];
	} else {
		nl = p[1] & 0x7f;
		if (nl > 4 || n < 2 + nl)
			return (SG_EINVAL);
		for (size_t i = 0; i < nl; i++)
			len = len << 8 | p[2 + i];
		t->hdr = 2 + nl;
	}
	if (len > n - t->hdr)
		return (SG_EINVAL);
	t->len = len;
	return (0);
}

static int tlv_read(const unsigned char *p, size_t n, struct tlv *t)
{
	return (tlv_read_depth(p, n, t, 0));
}

static const unsigned char *tlv_content(const struct tlv *t)
{
	return (t->p + t->hdr);
}

static size_t tlv_size(const struct tlv *t)
{
	return (t->hdr + t->len + t->eoc);
}

static void put_hdr(struct sg_buf *b, unsigned char tag, size_t len)
{
	unsigned char h[6];
	size_t	n = 0;

	h[n++] = tag;
	if (len < 0x80) {
		h[n++] = (unsigned char) len;
	} else {
		size_t	nl = len > 0xffffff ? 4 : len > 0xffff ? 3 : len > 0xff ? 2 : 1;

		h[n++] = (unsigned char) (0x80 | nl);
		for (size_t i = nl; i > 0; i--)
			h[n++] = (unsigned char) (len >> (8 * (i - 1)));
	}
	sg_buf_append(b, h, n);
}

static void put_tlv(struct sg_buf *b, unsigned char tag, const void *p, size_t len)
{
	put_hdr(b, tag, len);
	sg_buf_append(b, p, len);
}

void	worker__issuer_sn(CERTCertificate *cert, struct sg_buf *out)
{
	struct sg_buf c = SG_BUF_INIT;

	sg_buf_append(&c, cert->derIssuer.data, cert->derIssuer.len);
	put_tlv(&c, 0x02, cert->serialNumber.data, cert->serialNumber.len);
	put_tlv(out, 0x30, c.data, c.len);
	sg_buf_free(&c);
}

/* signer_info - the one SignerInfo with its version and sid replaced */

static int signer_info(const struct tlv *set, const void *isn, size_t isnlen, struct sg_buf *out)
{
	struct tlv si, ver, sid;
	const unsigned char *p;
	size_t	n;
	struct sg_buf c = SG_BUF_INIT, seq = SG_BUF_INIT;

	if (tlv_read(tlv_content(set), set->len, &si) < 0 || si.p[0] != 0x30
	    || tlv_size(&si) != set->len)
		return (SG_EINVAL);		/* exactly one SignerInfo */
	p = tlv_content(&si);
	n = si.len;
	if (tlv_read(p, n, &ver) < 0 || ver.p[0] != 0x02
	    || tlv_read(p + tlv_size(&ver), n - tlv_size(&ver), &sid) < 0 || sid.p[0] != 0x80)
		return (SG_EINVAL);
	sg_buf_append(&c, "\x02\x01\x01", 3);
	sg_buf_append(&c, isn, isnlen);
	sg_buf_append(&c, sid.p + tlv_size(&sid), n - tlv_size(&ver) - tlv_size(&sid));
	put_tlv(&seq, 0x30, c.data, c.len);
	put_tlv(out, 0x31, seq.data, seq.len);
	sg_buf_free(&seq);
	sg_buf_free(&c);
	return (0);
}

/* signed_data - the SignedData content with version 1 and the new signer */

static int signed_data(const struct tlv *sd, const void *isn, size_t isnlen, struct sg_buf *out)
{
	const unsigned char *p = tlv_content(sd);
	size_t	n = sd->len, off;
	struct tlv ver, e;

	if (tlv_read(p, n, &ver) < 0 || ver.p[0] != 0x02)
		return (SG_EINVAL);
	sg_buf_append(out, "\x02\x01\x01", 3);
	for (off = tlv_size(&ver); off < n; off += tlv_size(&e)) {
		if (tlv_read(p + off, n - off, &e) < 0)
			return (SG_EINVAL);
		if (off + tlv_size(&e) == n)
			break;			/* the last one: signerInfos */
		sg_buf_append(out, e.p, tlv_size(&e));
	}
	if (off >= n || e.p[0] != 0x31)
		return (SG_EINVAL);
	return (signer_info(&e, isn, isnlen, out));
}

int	worker__sid_to_issuer_sn(const void *der, size_t len, const void *isn, size_t isnlen,
				 struct sg_buf *out)
{
	struct tlv top, oid, expl, sd;
	struct sg_buf sdc = SG_BUF_INIT, w = SG_BUF_INIT, x = SG_BUF_INIT;
	int	rc = SG_EINVAL;

	if (tlv_read(der, len, &top) < 0 || top.p[0] != 0x30
	    || tlv_read(tlv_content(&top), top.len, &oid) < 0 || oid.p[0] != 0x06
	    || tlv_read(oid.p + tlv_size(&oid), top.len - tlv_size(&oid), &expl) < 0
	    || expl.p[0] != 0xa0 || tlv_read(tlv_content(&expl), expl.len, &sd) < 0
	    || sd.p[0] != 0x30)
		goto out;
	if ((rc = signed_data(&sd, isn, isnlen, &sdc)) < 0)
		goto out;
	put_tlv(&w, 0x30, sdc.data, sdc.len);
	sg_buf_append(&x, oid.p, tlv_size(&oid));
	put_tlv(&x, 0xa0, w.data, w.len);
	put_tlv(out, 0x30, x.data, x.len);
out:
	sg_buf_free(&sdc);
	sg_buf_free(&w);
	sg_buf_free(&x);
	return (rc);
}
