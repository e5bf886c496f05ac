/*
 * NAME
 *	cms_caps 3
 * SUMMARY
 *	S/MIME capabilities: what the gateway advertises, what a partner did
 * SYNOPSIS
 *	#include "worker/worker_int.h"
 *
 *	void	worker__caps_put(out, caps)
 *	unsigned worker__caps_parse(der, len)
 * DESCRIPTION
 *	RFC 8551 2.5.2: a signer lists, in order of preference, the
 *	algorithms it can decrypt with, so that a partner who harvests the
 *	signature can encrypt the reply with them. NSS 3.87's own attribute
 *	(NSS_CMSSignerInfo_AddSMIMECaps) lists 3DES, RC2 and single DES,
 *	which the gateway refuses, and cannot be trimmed.
 *
 *	worker__caps_put() appends the DER value of the SMIMECapabilities
 *	attribute (a SEQUENCE OF SMIMECapability) naming exactly the
 *	algorithms in caps (WORKER_CAP_*), strongest first: content
 *	encryption, then key transport. Content algorithms carry no
 *	parameters; RSAES-OAEP carries its RSAES-OAEP-params (RFC 3560 3.2:
 *	the empty SEQUENCE for the SHA-1 defaults); rsaEncryption NULL.
 *
 *	worker__caps_parse() reads a partner's SMIMECapabilities value (the
 *	DER of the SEQUENCE OF, len bytes from a signature) and returns the
 *	WORKER_CAP_* bits of the algorithms in it that we know: AES-GCM and
 *	AES-CBC by OID (parameters ignored), RSAES-OAEP as SHA-256 when its
 *	parameters name SHA-256 and MGF1-SHA-256, as SHA-1 when they are
 *	the defaults, rsaEncryption. Anything else is skipped; a malformed
 *	value gives 0 (nothing known).
 * DIAGNOSTICS
 *	None.
 */

#include "worker_int.h"

/* The capabilities, strongest first: each one's DER SMIMECapability. */
static const struct {
	unsigned cap;
	unsigned char der[64];
	size_t	len;
} order[] = {
	{ WORKER_CAP_AES256_GCM, {
		0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
		0x04, 0x01, 0x2e }, 13 },
	{ WORKER_CAP_AES128_GCM, {
		0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
		0x04, 0x01, 0x06 }, 13 },
	{ WORKER_CAP_AES256_CBC, {
		0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
		0x04, 0x01, 0x2a }, 13 },
	{ WORKER_CAP_AES128_CBC, {
		0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
		0x04, 0x01, 0x02 }, 13 },
	{ WORKER_CAP_OAEP_SHA256, {
		0x30, 0x38, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
		0x01, 0x01, 0x07, 0x30, 0x2b, 0xa0, 0x0d, 0x30, 0x0b, 0x06,
		0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
		0xa1, 0x1a, 0x30, 0x18, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
		0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30, 0x0b, 0x06, 0x09, 0x60,
		0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01 }, 58 },
	{ WORKER_CAP_OAEP_SHA1, {
		0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
		0x01, 0x01, 0x07, 0x30, 0x00 }, 15 },
	{ WORKER_CAP_RSA, {
		0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
		0x01, 0x01, 0x01, 0x05, 0x00 }, 15 },
};

void	worker__caps_put(struct sg_buf *out, unsigned caps)
{
	struct sg_buf seq = SG_BUF_INIT;

	for (size_t i = 0; i < SG_NELEM(order); i++)
		if (caps & order[i].cap)
			sg_buf_append(&seq, order[i].der, order[i].len);
	worker__der_put(out, 0x30, seq.data, seq.len);
	sg_buf_free(&seq);
}

/* oaep_cap - which OAEP capability parameters name, or 0 */

static unsigned oaep_cap(const struct worker_algid *a)
{
	struct worker_cms_oaep o;

	if (worker__cms_oaep_parse(a, &o) < 0 || o.label.p)
		return (0);
	if (o.hash == WORKER_HASH_SHA256 && o.mgf_hash == WORKER_HASH_SHA256)
		return (WORKER_CAP_OAEP_SHA256);
	if (o.hash == WORKER_HASH_SHA1 && o.mgf_hash == WORKER_HASH_SHA1)
		return (WORKER_CAP_OAEP_SHA1);
	return (0);
}

unsigned worker__caps_parse(const void *der, size_t len)
{
	struct worker_der seq, cap;
	struct worker_der_it it;
	struct worker_algid a;
	unsigned caps = 0;
	int	rc, n = 0;

	if (worker__der_read(der, len, &seq) < 0 || seq.p[0] != 0x30 || worker__der_size(&seq) != len)
		return (0);
	worker__der_enter(&seq, &it);
	while (n++ < 256 && (rc = worker__der_next(&it, &cap)) == 0) {
		/* SMIMECapability has the shape of an AlgorithmIdentifier */
		if (cap.p[0] != 0x30 || worker__algid_read(&cap, &a) < 0)
			return (0);
		switch (a.oid) {
		case WORKER_OID_AES256_GCM:
			caps |= WORKER_CAP_AES256_GCM;
			break;
		case WORKER_OID_AES128_GCM:
			caps |= WORKER_CAP_AES128_GCM;
			break;
		case WORKER_OID_AES256_CBC:
			caps |= WORKER_CAP_AES256_CBC;
			break;
		case WORKER_OID_AES128_CBC:
			caps |= WORKER_CAP_AES128_CBC;
			break;
		case WORKER_OID_RSAES_OAEP:
			caps |= oaep_cap(&a);
			break;
		case WORKER_OID_RSA:
			caps |= WORKER_CAP_RSA;
			break;
		default:
			break;
		}
	}
	return (rc == SG_ENOTFOUND ? caps : 0);
}
