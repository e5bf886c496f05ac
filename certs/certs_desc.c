/*
 * NAME
 *	certs_desc 3
 * SUMMARY
 *	describe, list, find, remove and export certificates
 * SYNOPSIS
 *	#include "certs/certs.h"
 *
 *	int	certs_describe(c, cert, &desc)
 *	int	certs_list(c, fn, arg)
 *	int	certs_find(c, id, &cert)
 *	int	certs_remove(c, id)
 *	int	certs_export_pem(cert, &buf)
 *	void	certs_cert_free(cert)
 *
 *	#include "certs_int.h"
 *
 *	size_t	certs_emails(cert, out, max)
 *	bool	certs_has_key(cert)
 *	bool	certs_stored_now(cert)
 *
 *	#include "certs/certs.h"
 *
 *	bool	certs_stored(c, cert)
 *	CERTCertificate *certs_by_fingerprint(c, fp)
 *	void	certs_fpcache_free(c)
 * DESCRIPTION
 *	See certs.h for the public functions and the forms of an ID.
 *
 *	certs_by_fingerprint() finds a certificate by SHA-256 over every
 *	token; finding one means listing them all, so results are kept
 *	(one reference each, dropped by certs_fpcache_free() at close):
 *	the gateway lookup runs once per message.
 *
 *	certs_stored() (certs.h) and certs_stored_now() tell whether cert
 *	is in the database. NSS's own answer, cert->isperm, is that of its
 *	copy in memory, which libpkix keeps for up to an hour after a chain
 *	check: a certificate another process (sealctl) removed meanwhile
 *	still looks stored, and is found by address. The token is asked
 *	instead (a database query, about 0.14 ms); certs_stored() keeps a
 *	yes for lookup_cache_ttl in certs_vcache under CERTS_USE_STORED,
 *	certs_stored_now(), for imports, asks every time.
 * DIAGNOSTICS
 *	SG_ENOTFOUND, SG_EEXIST (ambiguous ID), SG_EDENIED (read-only).
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nssb64.h>

#include "certs_int.h"

#include <certdb.h>

struct certs_fpcache {
	struct certs_fpcache *next;
	char	fp[65];
	CERTCertificate *cert;
};

/*
 * certs_emails - each address once: NSS lists the subject's emailAddress
 * and the alternative names one after the other, and many CAs put the
 * same address in both.
 */
size_t	certs_emails(CERTCertificate *cert, char out[][128], size_t max)
{
	size_t	n = 0, i;

	for (const char *e = CERT_GetFirstEmailAddress(cert); e && n < max;
	     e = CERT_GetNextEmailAddress(cert, e)) {
		if (strlen(e) >= 128)
			continue;
		for (i = 0; i < n && strcasecmp(out[i], e) != 0; i++)
			;
		if (i == n)
			snprintf(out[n++], 128, "%s", e);
	}
	return (n);
}

bool	certs_has_key(CERTCertificate *cert)
{
	PK11SlotInfo *slot = PK11_KeyForCertExists(cert, NULL, NULL);

	if (slot == NULL)
		return (false);
	PK11_FreeSlot(slot);
	return (true);
}

/* on_token - does cert's token hold these very bytes? */

static bool on_token(CERTCertificate *cert)
{
	PK11SlotInfo *slot = cert->slot ? PK11_ReferenceSlot(cert->slot) : PK11_GetInternalKeySlot();
	CERTCertificateList *list = NULL;
	bool	found = false;

	if (PK11_FindRawCertsWithSubject(slot, &cert->derSubject, &list) == SECSuccess && list) {
		for (int i = 0; i < list->len && !found; i++)
			found = SECITEM_ItemsAreEqual(&list->certs[i], &cert->derCert);
		CERT_DestroyCertificateList(list);
	}
	PK11_FreeSlot(slot);
	return (found);
}

bool	certs_stored_now(CERTCertificate *cert)
{
	return (cert->isperm && on_token(cert));
}

bool	certs_stored(struct certs *c, CERTCertificate *cert)
{
	struct certs_check yes = {.valid = true };
	uint64_t gen;

	if (!cert->isperm)
		return (false);
	if (certs_vcache_get(c, cert, CERTS_USE_STORED, &yes, &gen))
		return (true);
	if (!certs_stored_now(cert))
		return (false);
	certs_vcache_put(c, cert, CERTS_USE_STORED, &yes, gen);
	return (true);
}

static void hex(const unsigned char *p, size_t n, char *dst, size_t len)
{
	size_t	k = 0;

	dst[0] = 0;
	for (size_t i = 0; i < n && k + 3 <= len; i++, k += 2)
		snprintf(dst + k, 3, "%02X", p[i]);
}

static void copy_str(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

/* trust_flags - certutil's letters (CERT_EncodeTrustString is not exported) */

static void trust_flags(unsigned f, struct sg_buf *b)
{
	if ((f & CERTDB_TRUSTED) && (f & CERTDB_TERMINAL_RECORD))
		sg_buf_putc(b, 'P');
	else if (f & CERTDB_TERMINAL_RECORD)
		sg_buf_putc(b, 'p');
	if (f & CERTDB_TRUSTED_CA)
		sg_buf_putc(b, 'C');
	else if (f & CERTDB_VALID_CA)
		sg_buf_putc(b, 'c');
	if (f & CERTDB_TRUSTED_CLIENT_CA)
		sg_buf_putc(b, 'T');
	if (f & CERTDB_USER)
		sg_buf_putc(b, 'u');
	if (f & CERTDB_SEND_WARN)
		sg_buf_putc(b, 'w');
}

static void trust_string(const CERTCertTrust *t, char *dst, size_t len)
{
	struct sg_buf b = SG_BUF_INIT;

	trust_flags(t->sslFlags, &b);
	sg_buf_putc(&b, ',');
	trust_flags(t->emailFlags, &b);
	sg_buf_putc(&b, ',');
	trust_flags(t->objectSigningFlags, &b);
	copy_str(dst, len, b.data);
	sg_buf_free(&b);
}

static void describe(CERTCertificate *cert, const struct certs_meta *meta,
		     struct certs_desc *d)
{
	PRTime	nb, na;
	CERTCertTrust trust;

	memset(d, 0, sizeof(*d));
	certs_fingerprint(cert, d->fingerprint);
	memcpy(d->id, d->fingerprint, 16);
	copy_str(d->nickname, sizeof(d->nickname), cert->nickname);
	if (cert->slot && !PK11_IsInternal(cert->slot))
		copy_str(d->token, sizeof(d->token), PK11_GetTokenName(cert->slot));
	copy_str(d->subject, sizeof(d->subject), cert->subjectName);
	copy_str(d->issuer, sizeof(d->issuer), cert->issuerName);
	hex(cert->serialNumber.data, cert->serialNumber.len, d->serial, sizeof(d->serial));
	d->nemails = certs_emails(cert, d->emails, CERTS_EMAILS_MAX);
	if (CERT_GetCertTimes(cert, &nb, &na) == SECSuccess) {
		d->not_before = nb / PR_USEC_PER_SEC;
		d->not_after = na / PR_USEC_PER_SEC;
	}
	d->key = certs_has_key(cert);
	d->ca = CERT_IsCACert(cert, NULL);
	if (CERT_GetCertTrust(cert, &trust) == SECSuccess)
		trust_string(&trust, d->trust, sizeof(d->trust));
	if (meta) {
		d->harvested_at = certs_meta_harvested(meta, d->fingerprint);
		d->harvested = d->harvested_at != 0;
		certs_meta_domains(meta, d->fingerprint, d->gateway, sizeof(d->gateway));
	}
}

int	certs_describe(struct certs *c, CERTCertificate *cert, struct certs_desc *d)
{
	struct certs_meta meta;
	bool	ok = certs_meta_load(c, &meta) == 0;

	describe(cert, ok ? &meta : NULL, d);
	certs_meta_free(&meta);
	return (0);
}

static int by_nickname(const void *a, const void *b)
{
	const struct certs_desc *x = a, *y = b;
	int	r = strcmp(x->nickname, y->nickname);

	return (r ? r : strcmp(x->fingerprint, y->fingerprint));
}

int	certs_list(struct certs *c, int (*fn)(const struct certs_desc *, void *), void *arg)
{
	CERTCertList *list = PK11_ListCerts(PK11CertListUnique, NULL);
	struct certs_desc *v = NULL;
	struct certs_meta meta;
	size_t	n = 0, cap = 0;
	int	rc = 0;
	bool	ok;

	if (list == NULL)
		return (0);
	ok = certs_meta_load(c, &meta) == 0;
	for (CERTCertListNode *node = CERT_LIST_HEAD(list); !CERT_LIST_END(node, list);
	     node = CERT_LIST_NEXT(node)) {
		if (n == cap) {
			cap = cap ? 2 * cap : 32;
			v = sg_xrealloc(v, cap * sizeof(*v));
		}
		describe(node->cert, ok ? &meta : NULL, &v[n++]);
	}
	CERT_DestroyCertList(list);
	certs_meta_free(&meta);
	if (n)
		qsort(v, n, sizeof(*v), by_nickname);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = fn(&v[i], arg);
	free(v);
	return (rc);
}

static bool is_hex(const char *s, size_t min)
{
	size_t	n = 0;

	for (; s[n]; n++)
		if (!isxdigit((unsigned char) s[n]))
			return (false);
	return (n >= min && n <= 64);
}

/* find_by_prefix - the one certificate whose fingerprint starts with id */

static int find_by_prefix(const char *id, CERTCertificate **out)
{
	CERTCertList *list = PK11_ListCerts(PK11CertListUnique, NULL);
	size_t	len = strlen(id);
	char	fp[65];
	int	found = 0;

	*out = NULL;
	if (list == NULL)
		return (SG_ENOTFOUND);
	for (CERTCertListNode *node = CERT_LIST_HEAD(list); !CERT_LIST_END(node, list);
	     node = CERT_LIST_NEXT(node)) {
		certs_fingerprint(node->cert, fp);
		if (strncasecmp(fp, id, len) != 0)
			continue;
		if (found++ == 0)
			*out = CERT_DupCertificate(node->cert);
	}
	CERT_DestroyCertList(list);
	if (found > 1) {
		CERT_DestroyCertificate(*out);
		*out = NULL;
		return (SG_EEXIST);
	}
	return (found ? 0 : SG_ENOTFOUND);
}

static int find_by_email(const char *id, CERTCertificate **out)
{
	CERTCertList *list = PK11_FindCertsFromEmailAddress(id, NULL);
	CERTCertListNode *node;
	int	rc = SG_ENOTFOUND;

	*out = NULL;
	if (list == NULL)
		return (SG_ENOTFOUND);
	node = CERT_LIST_HEAD(list);
	if (!CERT_LIST_END(node, list)) {
		if (CERT_LIST_END(CERT_LIST_NEXT(node), list)) {
			*out = CERT_DupCertificate(node->cert);
			rc = 0;
		} else
			rc = SG_EEXIST;
	}
	CERT_DestroyCertList(list);
	return (rc);
}

int	certs_find(struct certs *c, const char *id, CERTCertificate **out)
{
	int	rc;

	(void) c;
	*out = NULL;
	if (id == NULL || *id == 0 || strlen(id) > 255)
		return (SG_EINVAL);
	if (strchr(id, '@') && (rc = find_by_email(id, out)) != SG_ENOTFOUND)
		return (rc);
	if ((*out = PK11_FindCertFromNickname(id, NULL)) != NULL)
		return (0);
	if (is_hex(id, 8))
		return (find_by_prefix(id, out));
	return (SG_ENOTFOUND);
}

int	certs_remove(struct certs *c, const char *id)
{
	CERTCertificate *cert;
	char	fp[65];
	int	rc;

	if (c->rdonly)
		return (SG_EDENIED);
	if ((rc = certs_find(c, id, &cert)) < 0)
		return (rc);
	certs_fingerprint(cert, fp);
	if (certs_has_key(cert))
		rc = PK11_DeleteTokenCertAndKey(cert, NULL) == SECSuccess ? 0 : SG_EIO;
	else
		rc = SEC_DeletePermCertificate(cert) == SECSuccess ? 0 : SG_EIO;
	CERT_DestroyCertificate(cert);
	if (rc == 0)
		rc = certs_meta_update(c, CERTS_META_FORGET, fp, NULL);
	return (rc);
}

void	certs_cert_free(CERTCertificate *cert)
{
	if (cert)
		CERT_DestroyCertificate(cert);
}

int	certs_export_pem(CERTCertificate *cert, struct sg_buf *out)
{
	char   *b64 = NSSBase64_EncodeItem(NULL, NULL, 0, &cert->derCert);

	if (b64 == NULL)
		return (SG_ENOMEM);
	sg_buf_puts(out, "-----BEGIN CERTIFICATE-----\n");
	for (const char *p = b64; *p; p++)
		if (*p != '\r')
			sg_buf_putc(out, *p);
	sg_buf_puts(out, "\n-----END CERTIFICATE-----\n");
	PORT_Free(b64);
	return (0);
}

static CERTCertificate *fpcache_get(struct certs *c, const char *fp)
{
	for (struct certs_fpcache *e = c->fpcache; e; e = e->next)
		if (strcmp(e->fp, fp) == 0)
			return (CERT_DupCertificate(e->cert));
	return (NULL);
}

CERTCertificate *certs_by_fingerprint(struct certs *c, const char *fp)
{
	CERTCertificate *cert;
	struct certs_fpcache *e;

	pthread_mutex_lock(&c->lock);
	cert = fpcache_get(c, fp);
	pthread_mutex_unlock(&c->lock);
	if (cert || find_by_prefix(fp, &cert) < 0 || strlen(fp) != 64)
		return (cert);
	e = sg_xcalloc(1, sizeof(*e));
	snprintf(e->fp, sizeof(e->fp), "%s", fp);
	e->cert = CERT_DupCertificate(cert);
	pthread_mutex_lock(&c->lock);
	e->next = c->fpcache;
	c->fpcache = e;
	pthread_mutex_unlock(&c->lock);
	return (cert);
}

void	certs_fpcache_free(struct certs *c)
{
	struct certs_fpcache *e, *next;

	for (e = c->fpcache; e; e = next) {
		next = e->next;
		CERT_DestroyCertificate(e->cert);
		free(e);
	}
	c->fpcache = NULL;
}
