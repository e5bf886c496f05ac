/*
 * NAME
 *	certs_import 3
 * SUMMARY
 *	import certificates (PEM, DER, PKCS#7) and PKCS#12 bundles
 * SYNOPSIS
 *	#include "certs/certs.h"
 *
 *	int	certs_import(c, buf, len, opts, &result, err, errlen)
 *	int	certs_format_of(filename)
 *
 *	#include "certs_int.h"
 *
 *	char   *certs_nickname_for(cert)
 *	int	certs_replace_public(c, keyed, &removed)
 *	int	certs_set_trust(cert, flags)
 * DESCRIPTION
 *	certs_import() decodes everything first: every PEM block labelled
 *	CERTIFICATE, X509 CERTIFICATE or PKCS7 (a PEM file with no such
 *	block is unsupported; a damaged one is an error), or the whole
 *	buffer as DER certificate or PKCS#7 certs-only. Each certificate must
 *	parse. Only then is anything stored, so a bad file changes nothing.
 *	PKCS#12 goes to certs_p12_import().
 *
 *	Nicknames: a new certificate is named by its first e-mail address,
 *	else its common name; when another subject already has that
 *	nickname, the first 8 digits of the fingerprint are added in
 *	parentheses (NSS gives every certificate of one subject the same
 *	nickname).
 *
 *	certs_replace_public() applies the private-over-public rule: the
 *	key-less, non-CA certificates sharing an e-mail address with keyed
 *	are deleted.
 * DIAGNOSTICS
 *	As in certs.h; err names what was wrong, never the file (the caller
 *	knows it).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nssb64.h>

#include "certs_int.h"

#include <certdb.h>

#define IMPORT_MAX (16u << 20)
#define CERTS_MAX 64

struct ders {
	size_t	n;
	SECItem	v[CERTS_MAX];
	bool	overflow;
};

int	certs_format_of(const char *name)
{
	const char *dot = name ? strrchr(name, '.') : NULL;

	if (dot == NULL)
		return (CERTS_FMT_AUTO);
	if (strcasecmp(dot, ".p12") == 0 || strcasecmp(dot, ".pfx") == 0)
		return (CERTS_FMT_PKCS12);
	if (strcasecmp(dot, ".pem") == 0 || strcasecmp(dot, ".crt") == 0 ||
	    strcasecmp(dot, ".cer") == 0 || strcasecmp(dot, ".der") == 0 ||
	    strcasecmp(dot, ".p7b") == 0 || strcasecmp(dot, ".p7c") == 0)
		return (CERTS_FMT_CERTS);
	return (CERTS_FMT_AUTO);
}

static SECStatus collect(void *arg, SECItem **certs, int n)
{
	struct ders *d = arg;

	for (int i = 0; i < n; i++) {
		if (d->n == CERTS_MAX) {
			d->overflow = true;
			return (SECFailure);
		}
		if (SECITEM_CopyItem(NULL, &d->v[d->n], certs[i]) != SECSuccess)
			return (SECFailure);
		d->n++;
	}
	return (SECSuccess);
}

static void ders_free(struct ders *d)
{
	for (size_t i = 0; i < d->n; i++)
		SECITEM_FreeItem(&d->v[i], PR_FALSE);
	d->n = 0;
}

static const void *find_mem(const char *p, size_t len, const char *s)
{
	return (memmem(p, len, s, strlen(s)));
}

/* pem_block - decode the base64 between label line and END line */

static int pem_block(struct ders *d, const char *body, size_t len)
{
	SECItem	*der;
	SECStatus rv;

	if ((der = SECITEM_AllocItem(NULL, NULL, 0)) == NULL)
		return (SG_ENOMEM);
	if (NSSBase64_DecodeBuffer(NULL, der, body, (PRUint32) len) == NULL) {
		SECITEM_FreeItem(der, PR_TRUE);
		return (SG_ECORRUPT);
	}
	rv = CERT_DecodeCertPackage((char *) der->data, (int) der->len, collect, d);
	SECITEM_FreeItem(der, PR_TRUE);
	if (rv != SECSuccess)
		return (d->overflow ? SG_ELIMIT : SG_ECORRUPT);
	return (0);
}

static bool cert_label(const char *p, size_t len)
{
	static const char *const labels[] = {
		"CERTIFICATE-----", "X509 CERTIFICATE-----", "PKCS7-----",
		"TRUSTED CERTIFICATE-----",
	};

	for (size_t i = 0; i < SG_NELEM(labels); i++)
		if (len >= strlen(labels[i]) && memcmp(p, labels[i], strlen(labels[i])) == 0)
			return (true);
	return (false);
}

/* decode_pem - every certificate block; other blocks are skipped */

static int decode_pem(struct ders *d, const char *p, size_t len)
{
	const char *end = p + len, *b;
	int	rc;

	while ((b = find_mem(p, (size_t) (end - p), "-----BEGIN ")) != NULL) {
		const char *label = b + 11, *nl, *e;

		if ((nl = memchr(label, '\n', (size_t) (end - label))) == NULL)
			return (SG_ECORRUPT);
		if ((e = find_mem(nl, (size_t) (end - nl), "-----END ")) == NULL)
			return (SG_ECORRUPT);
		if (cert_label(label, (size_t) (nl - label)) &&
		    (rc = pem_block(d, nl + 1, (size_t) (e - nl - 1))) < 0)
			return (rc);
		p = e + 9;
	}
	return (0);
}

static int decode_certs(struct ders *d, const char *p, size_t len)
{
	if (find_mem(p, len, "-----BEGIN "))
		return (decode_pem(d, p, len));
	if (CERT_DecodeCertPackage((char *) p, (int) len, collect, d) != SECSuccess)
		return (d->overflow ? SG_ELIMIT : SG_ECORRUPT);
	return (0);
}

char   *certs_nickname_for(CERTCertificate *cert)
{
	const char *email = CERT_GetFirstEmailAddress(cert);
	char   *cn = CERT_GetCommonName(&cert->subject), fp[65], *out;
	struct sg_buf b = SG_BUF_INIT;
	CERTCertificate *other;

	sg_buf_puts(&b, email ? email : cn ? cn : "certificate");
	if (cn)
		PORT_Free(cn);
	other = CERT_FindCertByNickname(CERT_GetDefaultCertDB(), b.data);
	if (other && !SECITEM_ItemsAreEqual(&other->derSubject, &cert->derSubject)) {
		certs_fingerprint(cert, fp);
		sg_buf_printf(&b, " (%.8s)", fp);
	}
	if (other)
		CERT_DestroyCertificate(other);
	out = sg_xstrdup(b.data);
	sg_buf_free(&b);
	return (out);
}

int	certs_set_trust(CERTCertificate *cert, const char *flags)
{
	CERTCertTrust t;

	if (CERT_DecodeTrustString(&t, flags) != SECSuccess)
		return (SG_EINVAL);
	if (CERT_ChangeCertTrust(CERT_GetDefaultCertDB(), cert, &t) != SECSuccess)
		return (certs_nss_err(SG_EIO));
	return (0);
}

static int replace_for(struct certs *c, CERTCertificate *keyed, const char *email,
		       size_t *removed)
{
	CERTCertList *list = PK11_FindCertsFromEmailAddress(email, NULL);
	char	fp[65];

	if (list == NULL)
		return (0);
	for (CERTCertListNode *n = CERT_LIST_HEAD(list); !CERT_LIST_END(n, list);
	     n = CERT_LIST_NEXT(n)) {
		if (SECITEM_ItemsAreEqual(&n->cert->derCert, &keyed->derCert) ||
		    !n->cert->isperm || CERT_IsCACert(n->cert, NULL) || certs_has_key(n->cert))
			continue;
		certs_fingerprint(n->cert, fp);
		if (SEC_DeletePermCertificate(n->cert) == SECSuccess) {
			(*removed)++;
			certs_meta_update(c, CERTS_META_FORGET, fp, NULL);
		}
	}
	CERT_DestroyCertList(list);
	return (0);
}

int	certs_replace_public(struct certs *c, CERTCertificate *keyed, size_t *removed)
{
	char	emails[CERTS_EMAILS_MAX][128];
	size_t	n = certs_emails(keyed, emails, CERTS_EMAILS_MAX);

	for (size_t i = 0; i < n; i++)
		replace_for(c, keyed, emails[i], removed);
	return (0);
}

/* store_one - make one decoded certificate permanent; returns it */

static int store_one(const SECItem *der, bool ca, CERTCertificate **out, bool *existed)
{
	CERTCertDBHandle *db = CERT_GetDefaultCertDB();
	CERTCertificate *cert, *perm;
	PK11SlotInfo *slot;
	char   *nick = NULL;
	SECStatus rv = SECSuccess;

	*out = NULL;
	if ((cert = CERT_NewTempCertificate(db, (SECItem *) der, NULL, PR_FALSE, PR_TRUE)) == NULL)
		return (SG_ECORRUPT);
	if (!(*existed = certs_stored_now(cert))) {
		nick = certs_nickname_for(cert);
		slot = PK11_GetInternalKeySlot();
		rv = PK11_ImportCert(slot, cert, CK_INVALID_HANDLE, nick, PR_FALSE);
		PK11_FreeSlot(slot);
	}
	free(nick);
	CERT_DestroyCertificate(cert);
	if (rv != SECSuccess)
		return (certs_nss_err(SG_EIO));
	if ((perm = CERT_FindCertByDERCert(db, (SECItem *) der)) == NULL)
		return (SG_EIO);
	if (ca && certs_set_trust(perm, "C,C,C") < 0) {
		CERT_DestroyCertificate(perm);
		return (SG_EIO);
	}
	*out = perm;
	return (0);
}

/* check_all - every certificate parses; the one to report is a leaf */

static int check_all(const struct ders *d, size_t *leaf)
{
	CERTCertDBHandle *db = CERT_GetDefaultCertDB();
	bool	found = false;

	*leaf = 0;
	for (size_t i = 0; i < d->n; i++) {
		CERTCertificate *t = CERT_NewTempCertificate(db, (SECItem *) &d->v[i], NULL,
							     PR_FALSE, PR_TRUE);

		if (t == NULL)
			return (SG_ECORRUPT);
		if (!found && !CERT_IsCACert(t, NULL)) {
			*leaf = i;
			found = true;
		}
		CERT_DestroyCertificate(t);
	}
	return (0);
}

static int store_all(struct certs *c, const struct ders *d, size_t leaf,
		     const struct certs_import_opts *o, struct certs_import_result *r,
		     char *err, size_t errlen)
{
	int	rc = 0;

	for (size_t i = 0; i < d->n && rc == 0; i++) {
		CERTCertificate *cert;
		bool	existed;

		if ((rc = store_one(&d->v[i], o->ca, &cert, &existed)) < 0) {
			snprintf(err, errlen, "cannot store certificate %zu: %s", i + 1,
				 certs_nss_errname());
			break;
		}
		r->certs++;
		r->existed += existed;
		if (i == leaf) {
			snprintf(r->nickname, sizeof(r->nickname), "%s",
				 cert->nickname ? cert->nickname : "");
			if (!CERT_IsCACert(cert, NULL)) {
				certs_receive_check(cert, r->no_receive, sizeof(r->no_receive));
				certs_key_usable(cert, r->unusable, sizeof(r->unusable));
			}
		}
		if (certs_has_key(cert))
			certs_replace_public(c, cert, &r->replaced);
		if (i == leaf && o->gateway) {
			char	fp[65];

			certs_fingerprint(cert, fp);
			rc = certs_meta_update(c, CERTS_META_GATEWAY, o->gateway, fp);
		}
		CERT_DestroyCertificate(cert);
	}
	return (rc);
}

static int gateway_ok(const struct ders *d, size_t leaf, char *err, size_t errlen)
{
	CERTCertificate *t = CERT_NewTempCertificate(CERT_GetDefaultCertDB(),
						     (SECItem *) &d->v[leaf], NULL, PR_FALSE,
						     PR_TRUE);
	bool	ok = t && certs_has_key(t);

	if (t)
		CERT_DestroyCertificate(t);
	if (!ok)
		snprintf(err, errlen, "--gateway needs a certificate with its private key");
	return (ok ? 0 : SG_EUNSUPPORTED);
}

static int import_certs(struct certs *c, const char *p, size_t len,
			const struct certs_import_opts *o, struct certs_import_result *r,
			char *err, size_t errlen)
{
	struct ders d;
	size_t	leaf;
	int	rc;

	memset(&d, 0, sizeof(d));
	if ((rc = decode_certs(&d, p, len)) < 0)
		snprintf(err, errlen, rc == SG_ELIMIT ? "more than %d certificates" :
			 "damaged certificate data", CERTS_MAX);
	else if (d.n == 0) {
		rc = SG_EUNSUPPORTED;
		snprintf(err, errlen, "no certificate found");
	} else if ((rc = check_all(&d, &leaf)) < 0)
		snprintf(err, errlen, "damaged certificate: %s", certs_nss_errname());
	else if (o->check_only)
		r->certs = d.n;
	else if (o->gateway == NULL || (rc = gateway_ok(&d, leaf, err, errlen)) == 0)
		rc = store_all(c, &d, leaf, o, r, err, errlen);
	ders_free(&d);
	return (rc);
}

/*
 * looks_like_certs - PEM text, or DER that parses as a certificate package
 * of real certificates (NSS's package decoder accepts some PKCS#12 files)
 */

static bool looks_like_certs(const char *p, size_t len)
{
	struct ders d;
	bool	yes;

	if (find_mem(p, len, "-----BEGIN "))
		return (true);
	size_t	leaf;

	memset(&d, 0, sizeof(d));
	yes = CERT_DecodeCertPackage((char *) p, (int) len, collect, &d) == SECSuccess && d.n &&
		check_all(&d, &leaf) == 0;
	ders_free(&d);
	return (yes);
}

int	certs_import(struct certs *c, const void *buf, size_t len,
		     const struct certs_import_opts *o, struct certs_import_result *r,
		     char *err, size_t errlen)
{
	CERTCertificate *leaf = NULL;
	int	fmt = o->format;
	int	rc;

	memset(r, 0, sizeof(*r));
	snprintf(err, errlen, "%s", "");
	if (c->rdonly && !o->check_only) {
		snprintf(err, errlen, "database is read-only");
		return (SG_EDENIED);
	}
	if (len == 0 || len > IMPORT_MAX) {
		snprintf(err, errlen, len ? "larger than 16 MiB" : "empty");
		return (len ? SG_ELIMIT : SG_EUNSUPPORTED);
	}
	if (o->gateway && !sg_domain_valid(o->gateway, strlen(o->gateway))) {
		snprintf(err, errlen, "--gateway: not a domain");
		return (SG_EINVAL);
	}
	if (fmt == CERTS_FMT_AUTO)
		fmt = looks_like_certs(buf, len) ? CERTS_FMT_CERTS : CERTS_FMT_PKCS12;
	if (fmt == CERTS_FMT_CERTS)
		return (import_certs(c, buf, len, o, r, err, errlen));
	rc = certs_p12_import(c, buf, len, o, r, &leaf, err, errlen);
	if (leaf)
		CERT_DestroyCertificate(leaf);
	return (rc);
}
