/*
 * NAME
 *	certs_p12 3
 * SUMMARY
 *	import a PKCS#12 bundle: key, certificate and chain
 * SYNOPSIS
 *	#include "certs_int.h"
 *
 *	int	certs_p12_import(c, buf, len, opts, &result, &leaf, err, errlen)
 * DESCRIPTION
 *	Decodes the whole bundle and checks its integrity MAC with the
 *	password (as a big-endian UCS-2 string with its terminator, as
 *	PKCS#12 wants) before anything is stored: a wrong password or a
 *	damaged file leaves the database as it was. Then the bags are
 *	imported: the private key into the internal token, the certificates
 *	into the database. Certificates with no friendly name, or with one
 *	that another subject uses, are named as certs_nickname_for() says.
 *
 *	*leaf gets the key-bearing certificate (a reference), which then
 *	replaces the key-less certificates of its addresses and, with
 *	opts->gateway, becomes that domain's gateway certificate. With
 *	opts->ca the bundle's CA certificates become trust anchors.
 *	opts->check_only stops after the checks.
 *
 *	Before NSS sees the bytes, every iteration count in them must be at
 *	most 1,000,000 (SG_ELIMIT otherwise): NSS would run any count.
 * BUGS
 *	With opts->gateway, a bundle that turns out to hold no private key
 *	is reported as an error after its certificates were stored.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p12.h>
#include <secerr.h>

#include "certs_int.h"

/*
 * Key-derivation bounds. A bundle names its own PBKDF iteration counts;
 * NSS runs whatever it says, so a crafted file could keep a process busy
 * for hours. Before decoding, every (OCTET STRING salt, INTEGER count)
 * pair in the DER tree (PBE and PBKDF2 parameters, MacData) is checked,
 * descending into OCTET STRINGs that hold DER. Indefinite (BER) lengths
 * end the walk of their branch; NSS judges the rest.
 */
#define ITERATIONS_MAX 1000000
#define DEPTH_MAX 24

struct tlv {
	unsigned tag;
	const unsigned char *val;
	size_t	len;
};

/* tlv_next - one element at *p; 0, or -1 when it does not parse */

static int tlv_next(const unsigned char **p, const unsigned char *end, struct tlv *t)
{
	size_t	len, n;

	if (end - *p < 2 || ((*p)[0] & 0x1f) == 0x1f)
		return (-1);
	t->tag = *(*p)++;
	len = *(*p)++;
	if (len & 0x80) {
		n = len & 0x7f;
		if (n == 0 || n > 4 || (size_t) (end - *p) < n)
			return (-1);
		for (len = 0; n > 0; n--)
			len = (len << 8) | *(*p)++;
	}
	if (len > (size_t) (end - *p))
		return (-1);
	t->val = *p;
	t->len = len;
	*p += len;
	return (0);
}

static bool count_too_big(const struct tlv *t)
{
	size_t	i = 0;
	uint64_t v = 0;

	if (t->len > 0 && (t->val[0] & 0x80))
		return (false);
	while (i < t->len && t->val[i] == 0)
		i++;
	if (t->len - i > 4)
		return (true);
	for (; i < t->len; i++)
		v = (v << 8) | t->val[i];
	return (v > ITERATIONS_MAX);
}

static int walk(const unsigned char *p, size_t len, int depth)
{
	const unsigned char *end = p + len;
	unsigned prev = 0;
	struct tlv t;

	if (depth > DEPTH_MAX)
		return (0);
	while (p < end && tlv_next(&p, end, &t) == 0) {
		if (prev == 0x04 && t.tag == 0x02 && count_too_big(&t))
			return (SG_ELIMIT);
		if (((t.tag & 0x20) || (t.tag == 0x04 && t.len > 1 && t.val[0] == 0x30)) &&
		    walk(t.val, t.len, depth + 1) < 0)
			return (SG_ELIMIT);
		prev = t.tag;
	}
	return (0);
}

/* bmp_password - UTF-8 to big-endian UCS-2 plus 00 00 */

static int bmp_password(const char *pw, SECItem *out)
{
	unsigned int len = (unsigned int) strlen(pw), outlen = 0;
	unsigned int max = 4 * len + 2;

	out->type = siBuffer;
	out->data = PORT_ZAlloc(max + 2);
	if (out->data == NULL)
		return (SG_ENOMEM);
	if (len && !PORT_UCS2_UTF8Conversion(PR_TRUE, (unsigned char *) pw, len, out->data,
					      max, &outlen)) {
		SECITEM_ZfreeItem(out, PR_FALSE);
		return (SG_EINVAL);
	}
	out->data[outlen] = 0;
	out->data[outlen + 1] = 0;
	out->len = outlen + 2;
	return (0);
}

static SECItem *nickname_cb(SECItem *old, PRBool *cancel, void *arg)
{
	CERTCertificate *cert = arg;
	char   *nick, fp[65];
	struct sg_buf b = SG_BUF_INIT;
	SECItem *it;

	*cancel = PR_FALSE;
	if (cert == NULL) {
		*cancel = PR_TRUE;
		return (NULL);
	}
	nick = certs_nickname_for(cert);
	sg_buf_puts(&b, nick);
	free(nick);
	if (old && old->len && old->len == b.len && memcmp(old->data, b.data, b.len) == 0) {
		certs_fingerprint(cert, fp);
		sg_buf_printf(&b, " [%.12s]", fp);
	}
	if (old && old->len == b.len && memcmp(old->data, b.data, b.len) == 0) {
		*cancel = PR_TRUE;
		sg_buf_free(&b);
		return (NULL);
	}
	it = SECITEM_AllocItem(NULL, NULL, (unsigned int) b.len + 1);
	if (it) {
		memcpy(it->data, b.data, b.len + 1);
		it->len = (unsigned int) b.len;
	}
	sg_buf_free(&b);
	return (it);
}

static int decode(SEC_PKCS12DecoderContext *dcx, const void *buf, size_t len,
		  char *err, size_t errlen)
{
	if (SEC_PKCS12DecoderUpdate(dcx, (unsigned char *) buf, len) != SECSuccess) {
		int	e = PORT_GetError();

		snprintf(err, errlen, "%s: %s", e == SEC_ERROR_BAD_PASSWORD ?
			 "wrong password" : "damaged PKCS#12 data", certs_nss_errname());
		return (e == SEC_ERROR_BAD_PASSWORD ? SG_EPASSWORD : SG_ECORRUPT);
	}
	if (SEC_PKCS12DecoderVerify(dcx) != SECSuccess) {
		int	e = PORT_GetError();
		bool	pw = e == SEC_ERROR_BAD_PASSWORD || e == SEC_ERROR_PKCS12_INVALID_MAC;

		snprintf(err, errlen, "%s: %s", pw ? "wrong password" : "damaged PKCS#12 data",
			 certs_nss_errname());
		return (pw ? SG_EPASSWORD : SG_ECORRUPT);
	}
	if (SEC_PKCS12DecoderValidateBags(dcx, nickname_cb) != SECSuccess) {
		snprintf(err, errlen, "unusable PKCS#12 content: %s", certs_nss_errname());
		return (SG_EUNSUPPORTED);
	}
	return (0);
}

/* count_perm - certificates of the bundle already in the database */

static size_t count_perm(SEC_PKCS12DecoderContext *dcx)
{
	CERTCertList *list = SEC_PKCS12DecoderGetCerts(dcx);
	CERTCertDBHandle *db = CERT_GetDefaultCertDB();
	size_t	n = 0;

	if (list == NULL)
		return (0);
	for (CERTCertListNode *e = CERT_LIST_HEAD(list); !CERT_LIST_END(e, list);
	     e = CERT_LIST_NEXT(e)) {
		CERTCertificate *perm = CERT_FindCertByDERCert(db, &e->cert->derCert);

		if (perm) {
			n += perm->isperm;
			CERT_DestroyCertificate(perm);
		}
	}
	CERT_DestroyCertList(list);
	return (n);
}

/* after_import - leaf, trust, replacement, gateway */

static int after_import(struct certs *c, SEC_PKCS12DecoderContext *dcx,
			const struct certs_import_opts *o, struct certs_import_result *r,
			CERTCertificate **leaf, char *err, size_t errlen)
{
	CERTCertList *list = SEC_PKCS12DecoderGetCerts(dcx);
	CERTCertDBHandle *db = CERT_GetDefaultCertDB();
	char	fp[65];

	if (list == NULL)
		return (0);
	for (CERTCertListNode *n = CERT_LIST_HEAD(list); !CERT_LIST_END(n, list);
	     n = CERT_LIST_NEXT(n)) {
		CERTCertificate *perm = CERT_FindCertByDERCert(db, &n->cert->derCert);

		if (perm == NULL)
			continue;
		r->certs++;
		if (*leaf == NULL && certs_has_key(perm)) {
			*leaf = CERT_DupCertificate(perm);
			r->keys++;
		} else if (o->ca && CERT_IsCACert(perm, NULL))
			certs_set_trust(perm, "C,C,C");
		CERT_DestroyCertificate(perm);
	}
	CERT_DestroyCertList(list);
	if (*leaf == NULL) {
		if (o->gateway) {
			snprintf(err, errlen, "--gateway: the bundle holds no private key");
			return (SG_EUNSUPPORTED);
		}
		return (0);
	}
	snprintf(r->nickname, sizeof(r->nickname), "%s", (*leaf)->nickname ? (*leaf)->nickname : "");
	certs_receive_check(*leaf, r->no_receive, sizeof(r->no_receive));
	certs_key_usable(*leaf, r->unusable, sizeof(r->unusable));
	certs_replace_public(c, *leaf, &r->replaced);
	if (o->gateway) {
		certs_fingerprint(*leaf, fp);
		return (certs_meta_update(c, CERTS_META_GATEWAY, o->gateway, fp));
	}
	return (0);
}

int	certs_p12_import(struct certs *c, const void *buf, size_t len,
			 const struct certs_import_opts *o, struct certs_import_result *r,
			 CERTCertificate **leaf, char *err, size_t errlen)
{
	PK11SlotInfo *slot = PK11_GetInternalKeySlot();
	SEC_PKCS12DecoderContext *dcx;
	SECItem	pw = {siBuffer, NULL, 0};
	int	rc;

	*leaf = NULL;
	if (slot == NULL)
		return (SG_EIO);
	if (walk(buf, len, 0) < 0) {
		PK11_FreeSlot(slot);
		snprintf(err, errlen, "key derivation of more than %d iterations", ITERATIONS_MAX);
		return (SG_ELIMIT);
	}
	if ((rc = bmp_password(o->password ? o->password : "", &pw)) < 0) {
		PK11_FreeSlot(slot);
		snprintf(err, errlen, "password is not valid UTF-8");
		return (rc);
	}
	dcx = SEC_PKCS12DecoderStart(&pw, slot, NULL, NULL, NULL, NULL, NULL, NULL);
	if (dcx == NULL) {
		rc = SG_ENOMEM;
		snprintf(err, errlen, "cannot start PKCS#12 decoder: %s", certs_nss_errname());
	} else if ((rc = decode(dcx, buf, len, err, errlen)) == 0 && !o->check_only) {
		r->existed = count_perm(dcx);
		if (SEC_PKCS12DecoderImportBags(dcx) != SECSuccess) {
			rc = certs_nss_err(SG_EIO);
			snprintf(err, errlen, "cannot store the bundle: %s", certs_nss_errname());
		} else
			rc = after_import(c, dcx, o, r, leaf, err, errlen);
	}
	if (dcx)
		SEC_PKCS12DecoderFinish(dcx);
	SECITEM_ZfreeItem(&pw, PR_FALSE);
	PK11_FreeSlot(slot);
	return (rc);
}
