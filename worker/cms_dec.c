/*
 * NAME
 *	cms_dec 3
 * SUMMARY
 *	decryption of EnvelopedData and AuthEnvelopedData we read ourselves
 * SYNOPSIS
 *	#include "worker/worker_int.h"
 *
 *	int	worker__cms_decrypt(certs, der, len, plain, reason, rlen)
 * DESCRIPTION
 *	worker__cms_decrypt() decrypts the ContentInfo der (len bytes, from
 *	the network) into plain. The structure is read by cms_parse.c;
 *	then, for each recipient info naming a certificate the database
 *	holds a private key for (in certs' key cache, certs_private_key(),
 *	so a message costs no key look-up or password derivation; with
 *	certs NULL, NSS finds the key), the content-encryption key is
 *	recovered (cms_kem.c: RSA key transport, or ECDH key agreement with
 *	an EC key) and the content decrypted; the first recipient info that
 *	yields plaintext wins.
 *
 *	Content encryption accepted: in EnvelopedData AES-128/192/256-CBC
 *	and DES-EDE3-CBC, with an IV of the cipher's block size; in
 *	AuthEnvelopedData (RFC 5083) AES-128/192/256-GCM (RFC 5084) with a
 *	12-byte nonce and a 16-byte tag, its GCMParameters saying 16 too
 *	(a shorter or truncated tag is refused: the parameters are not
 *	authenticated, so an attacker could shorten both), and the DER of
 *	the authenticated attributes, if any, with its [1] tag replaced by
 *	SET OF, as the additional authenticated data. NSS's GCM verifies the
 *	tag before it releases a byte (and compares it in constant time); on
 *	failure the output buffer is wiped anyway. GCM inside EnvelopedData
 *	(not authenticated there), RC2, DES and unknown algorithms are
 *	refused before any key is touched.
 *
 *	The reasons (for incidents, the log and a rejection's report) say
 *	what the administrator can act on: not one of our keys, an algorithm
 *	refused, a token that lacks the operation, or "cannot decrypt" when
 *	our key did not open it: the same words whether the key transport or
 *	the content decryption failed, so that no reason is a padding oracle.
 * DIAGNOSTICS
 *	0, SG_ENOTFOUND (der is a ContentInfo of another type: nothing to
 *	decrypt) or SG_ECRYPTO with reason set.
 */

#include <stdio.h>
#include <string.h>

#include "worker_int.h"

/* The content algorithms we decrypt (weak ones are named to refuse them). */
static const struct {
	int	oid;
	CK_MECHANISM_TYPE mech;
	int	keylen;
	unsigned ivlen;
} accepted[] = {
	{ WORKER_OID_AES128_CBC, CKM_AES_CBC_PAD, 16, 16 },
	{ WORKER_OID_AES192_CBC, CKM_AES_CBC_PAD, 24, 16 },
	{ WORKER_OID_AES256_CBC, CKM_AES_CBC_PAD, 32, 16 },
	{ WORKER_OID_DES_EDE3_CBC, CKM_DES3_CBC_PAD, 24, 8 },
};

/* the DER OIDs of RC2-CBC (1.2.840.113549.3.2) and DES-CBC (1.3.14.3.2.7) */
static const unsigned char rc2[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x03, 0x02 };
static const unsigned char des[] = { 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x07 };

static bool weak(const struct worker_algid *a)
{
	size_t	n = worker__der_size(&a->id);

	return ((n == sizeof(rc2) && memcmp(a->id.p, rc2, n) == 0)
		|| (n == sizeof(des) && memcmp(a->id.p, des, n) == 0));
}

/* rid_isn - an IssuerAndSerialNumber recipient identifier's two parts */

static int rid_isn(const struct worker_der *rid, CERTIssuerAndSN *isn)
{
	struct worker_der_it it;
	struct worker_der name, serial, extra;

	worker__der_enter(rid, &it);
	if (worker__der_next(&it, &name) < 0 || name.p[0] != 0x30 || name.eoc
	    || worker__der_next(&it, &serial) < 0 || serial.p[0] != 0x02 || serial.len == 0
	    || worker__der_next(&it, &extra) != SG_ENOTFOUND)
		return (SG_EINVAL);
	memset(isn, 0, sizeof(*isn));
	isn->derIssuer = (SECItem) { siBuffer, (unsigned char *) name.p,
		(unsigned) worker__der_size(&name) };
	isn->serialNumber = (SECItem) { siBuffer, (unsigned char *) worker__der_content(&serial),
		(unsigned) serial.len };
	return (0);
}

/* cert_for - the certificate a recipient identifier names, or NULL */

static CERTCertificate *cert_for(bool ski, const struct worker_der *rid)
{
	CERTCertDBHandle *db = CERT_GetDefaultCertDB();
	CERTIssuerAndSN isn;

	if (ski) {
		SECItem	id = { siBuffer, (unsigned char *) worker__der_content(rid),
			(unsigned) rid->len };

		return (rid->len ? CERT_FindCertBySubjectKeyID(db, &id) : NULL);
	}
	return (rid_isn(rid, &isn) == 0 ? CERT_FindCertByIssuerAndSN(db, &isn) : NULL);
}

/*
 * key_for - our certificate and private key for a recipient identifier:
 * one of the keys certs has in memory already, else from the database
 */
static SECKEYPrivateKey *key_for(struct certs *c, bool ski, const struct worker_der *rid,
				 CERTCertificate **certp)
{
	CERTCertificate *cert;
	SECKEYPrivateKey *key = NULL;
	CERTIssuerAndSN isn;

	if (c && !ski && rid_isn(rid, &isn) == 0
	    && (key = certs_key_named(c, &isn.derIssuer, &isn.serialNumber, certp)) != NULL)
		return (key);
	*certp = NULL;
	if ((cert = cert_for(ski, rid)) == NULL)
		return (NULL);
	key = c ? certs_private_key(c, cert) : PK11_FindKeyByAnyCert(cert, NULL);
	if (key)
		*certp = cert;
	else
		CERT_DestroyCertificate(cert);
	return (key);
}

/*
 * Each of our keys is tried once a message, and so many recipient infos
 * are looked at: a message naming our certificate in a thousand of them,
 * each wrapping another wrong key, made us do a thousand private-key
 * operations and decrypt the whole content after each (minutes for a
 * few MB, and anyone can write one).
 */
#define KEYS_TRIED_MAX	8
#define RECIPIENTS_MAX	1024

/* The recipient infos tried so far, for the reason when none worked. */
struct tried {
	unsigned kinds;			/* WORKER_RI_* seen */
	bool	ours;			/* one named a key we hold */
	bool	static_dh;		/* a kari from a static sender */
	char	token[80];		/* a token that refused the operation */
	const char *op;			/* what it refused */
	CERTCertificate *keys[KEYS_TRIED_MAX];	/* ours, tried already */
	size_t	nkeys;
};

/* first_try - may the key of our cert be tried? (see KEYS_TRIED_MAX) */

static bool first_try(struct tried *t, const CERTCertificate *cert)
{
	for (size_t i = 0; i < t->nkeys; i++)
		if (SECITEM_ItemsAreEqual(&t->keys[i]->derCert, &cert->derCert))
			return (false);
	if (t->nkeys == KEYS_TRIED_MAX)
		return (false);
	t->keys[t->nkeys++] = CERT_DupCertificate((CERTCertificate *) cert);
	return (true);
}

/*
 * token_refused - a key on a PKCS#11 token gave no content key because
 * the token lacks the operation (an error about the parameters or the
 * mechanism, decided before any decryption, so it tells an attacker
 * nothing about the key): remember it for the reason.
 */
static void token_refused(struct tried *t, SECKEYPrivateKey *key, bool rsa, const char *op)
{
	PRErrorCode e = PORT_GetError();
	bool	mech = e == SEC_ERROR_INVALID_ARGS || e == SEC_ERROR_INVALID_ALGORITHM
		|| e == SEC_ERROR_NO_MODULE;

	/* for RSA only errors that cannot depend on the padding (no oracle) */
	if (PK11_IsInternal(key->pkcs11Slot) || *t->token
	    || !(mech || (!rsa && (e == SEC_ERROR_UNKNOWN_PKCS11_ERROR || e == SEC_ERROR_IO))))
		return;
	snprintf(t->token, sizeof(t->token), "%s", PK11_GetTokenName(key->pkcs11Slot));
	t->op = op;
}

/* The GCM variants AuthEnvelopedData may name. */
static const struct {
	int	oid;
	int	keylen;
} gcms[] = {
	{ WORKER_OID_AES128_GCM, 16 },
	{ WORKER_OID_AES192_GCM, 24 },
	{ WORKER_OID_AES256_GCM, 32 },
};

/* What the content needs, found before any key is touched. */
struct content {
	CK_MECHANISM_TYPE mech;
	int	keylen;
	bool	gcm;
	const struct worker_der *iv;	/* CBC */
	struct worker_cms_gcm g;	/* GCM */
	struct sg_buf aad;		/* GCM: authAttrs as SET OF */
	struct sg_buf in;		/* ciphertext (|| tag for GCM) */
	size_t	ctlen;
};

static bool is_gcm(int oid)
{
	for (size_t i = 0; i < SG_NELEM(gcms); i++)
		if (gcms[i].oid == oid)
			return (true);
	return (false);
}

/* cbc_alg - the EnvelopedData algorithm, or a reason */

static int cbc_alg(const struct worker_cms_env *env, struct content *ct, char *reason,
		   size_t rlen)
{
	for (size_t i = 0; i < SG_NELEM(accepted); i++) {
		if (accepted[i].oid != env->cea.oid)
			continue;
		if (env->cea.params.p == NULL || env->cea.params.p[0] != 0x04
		    || env->cea.params.len != accepted[i].ivlen) {
			snprintf(reason, rlen, "malformed content encryption parameters");
			return (SG_ECRYPTO);
		}
		ct->mech = accepted[i].mech;
		ct->keylen = accepted[i].keylen;
		ct->iv = &env->cea.params;
		return (0);
	}
	if (is_gcm(env->cea.oid))
		snprintf(reason, rlen, "AES-GCM inside EnvelopedData refused: it is not "
			 "authenticated there (RFC 5084 needs AuthEnvelopedData)");
	else
		snprintf(reason, rlen, weak(&env->cea) ? "weak content encryption algorithm refused"
			 : "content encryption algorithm not supported");
	return (SG_ECRYPTO);
}

/*
 * gcm_alg - the AuthEnvelopedData algorithm, parameters, tag and AAD, or
 * a reason: a 12-byte nonce and a 16-byte tag, nothing else
 */
static int gcm_alg(const struct worker_cms_env *env, struct content *ct, char *reason,
		   size_t rlen)
{
	struct sg_buf mac = SG_BUF_INIT;
	int	rc = SG_ECRYPTO;

	for (size_t i = 0; i < SG_NELEM(gcms); i++)
		if (gcms[i].oid == env->cea.oid)
			ct->keylen = gcms[i].keylen;
	if (ct->keylen == 0) {
		snprintf(reason, rlen, "content encryption algorithm not supported in "
			 "AuthEnvelopedData (AES-GCM only)");
		return (SG_ECRYPTO);
	}
	ct->mech = CKM_AES_GCM;
	ct->gcm = true;
	if (worker__cms_gcm_parse(&env->cea, &ct->g) < 0)
		snprintf(reason, rlen, "malformed AES-GCM parameters");
	else if (ct->g.nonce.len != 12)
		snprintf(reason, rlen, "AES-GCM nonce of %zu bytes refused (12 required)",
			 ct->g.nonce.len);
	else if (worker__der_octets(&env->mac, &mac) < 0 || mac.len != 16)
		snprintf(reason, rlen, "AES-GCM tag of %zu bytes refused (16 required)", mac.len);
	else if (ct->g.icvlen != 16)
		snprintf(reason, rlen, "AES-GCM parameters name a tag of %u bytes, the message "
			 "carries 16: refused", ct->g.icvlen);
	else if (env->auth_attrs.p && env->auth_attrs.eoc)
		snprintf(reason, rlen, "authenticated attributes not in DER");
	else
		rc = 0;
	if (rc == 0) {
		if (env->auth_attrs.p) {	/* RFC 5083 2.2: the DER, tagged SET OF */
			sg_buf_putc(&ct->aad, 0x31);
			sg_buf_append(&ct->aad, env->auth_attrs.p + 1,
				      worker__der_size(&env->auth_attrs) - 1);
		}
		ct->ctlen = ct->in.len;
		sg_buf_append(&ct->in, mac.data, mac.len);
	}
	sg_buf_free(&mac);
	return (rc);
}

/* decrypt - the plaintext of ct under cek into plain; nothing on failure */

static int decrypt(PK11SymKey *cek, struct content *ct, struct sg_buf *plain)
{
	CK_GCM_PARAMS_V3 g;
	SECItem	param;
	unsigned out = 0;
	size_t	mark = plain->len;

	if (ct->ctlen == 0 && !ct->gcm)
		return (SG_ECRYPTO);
	if (ct->in.len > 0x7fffff00u)
		return (SG_ECRYPTO);
	if (ct->gcm) {
		g = (CK_GCM_PARAMS_V3) { (unsigned char *) worker__der_content(&ct->g.nonce), 12, 96,
			(unsigned char *) ct->aad.data, ct->aad.len, 128 };
		param = (SECItem) { siBuffer, (unsigned char *) &g, sizeof(g) };
	} else
		param = (SECItem) { siBuffer, (unsigned char *) worker__der_content(ct->iv),
			(unsigned) ct->iv->len };
	sg_buf_reserve(plain, ct->in.len + 1);
	if (PK11_Decrypt(cek, ct->mech, &param, (unsigned char *) plain->data + mark, &out,
			 (unsigned) ct->in.len, (const unsigned char *) ct->in.data,
			 (unsigned) ct->in.len) != SECSuccess || out > ct->in.len) {
		memset(plain->data + mark, 0, ct->in.len);
		return (SG_ECRYPTO);
	}
	plain->len += out;
	return (0);
}

/* describe - why no recipient info opened the message, in words */

static void describe(const struct tried *t, bool gcm, char *reason, size_t rlen)
{
	/*
	 * With our key, the words never depend on whether the key transport
	 * or the content failed: a reason that did would be a padding oracle
	 * (Bleichenbacher) for whoever reads the bounce.
	 */
	if (*t->token)
		snprintf(reason, rlen, "cannot decrypt: the key is on token \"%s\", which cannot do "
			 "%s", t->token, t->op);
	else if (t->ours && gcm)
		snprintf(reason, rlen, "cannot decrypt: the AES-GCM tag does not match our key's "
			 "content key (the message was altered, or is not for this key)");
	else if (t->ours)
		snprintf(reason, rlen, "cannot decrypt: the key does not open the message");
	else if (t->static_dh)
		snprintf(reason, rlen, "no key for any recipient (ECDH from a static sender key "
			 "is not supported)");
	else if (t->kinds & WORKER_RI_OTHER)
		snprintf(reason, rlen, "no key for any recipient (password or key-encryption-key "
			 "recipients are not supported)");
	else
		snprintf(reason, rlen, "no key for any recipient");
}

/* try_ktri - the content key from a key transport recipient info, or NULL */

static PK11SymKey *try_ktri(struct certs *c, const struct worker_der *tlv,
			    const struct content *ct, struct tried *t)
{
	struct worker_cms_ktri k;
	CERTCertificate *cert;
	SECKEYPrivateKey *key;
	PK11SymKey *cek;

	if (worker__cms_ktri_parse(tlv, &k) < 0 || (key = key_for(c, k.rid_ski, &k.rid, &cert)) == NULL)
		return (NULL);
	t->ours = true;
	if (!first_try(t, cert)) {
		SECKEY_DestroyPrivateKey(key);
		CERT_DestroyCertificate(cert);
		return (NULL);
	}
	if ((cek = worker__ktri_unwrap(key, &k, ct->mech, ct->keylen)) == NULL)
		token_refused(t, key, true, k.kea.oid == WORKER_OID_RSAES_OAEP ? "RSAES-OAEP with these "
			      "parameters (SoftHSM2: SHA-1 only)" : "RSA PKCS#1 v1.5 key transport");
	SECKEY_DestroyPrivateKey(key);
	CERT_DestroyCertificate(cert);
	return (cek);
}

/* try_kari - the content key from the first of its encrypted keys for us */

static PK11SymKey *try_kari(struct certs *c, const struct worker_der *tlv,
			    const struct content *ct, struct tried *t)
{
	struct worker_cms_kari k;
	struct worker_cms_rek r;
	PK11SymKey *cek = NULL;
	size_t	off = 0;
	int	rc;

	if ((rc = worker__cms_kari_parse(tlv, &k)) < 0) {
		t->static_dh |= rc == SG_EUNSUPPORTED;
		return (NULL);
	}
	while (cek == NULL && worker__cms_rek_next(&k, &off, &r) == 0) {
		CERTCertificate *cert;
		SECKEYPrivateKey *key = key_for(c, r.rid_ski, &r.rid, &cert);
		SECKEYPublicKey *pub;

		if (key == NULL)
			continue;
		t->ours = true;
		if (first_try(t, cert) && (pub = CERT_ExtractPublicKey(cert)) != NULL) {
			if ((cek = worker__kari_unwrap(key, pub, &k, &r, ct->mech, ct->keylen)) == NULL)
				token_refused(t, key, false, "ECDH with the X9.63 KDF, nor let the shared "
					      "secret out for it (SoftHSM2: neither)");
			SECKEY_DestroyPublicKey(pub);
		}
		SECKEY_DestroyPrivateKey(key);
		CERT_DestroyCertificate(cert);
	}
	return (cek);
}

/* prepare - the content and its algorithm, or SG_ECRYPTO with a reason */

static int prepare(const struct worker_cms_env *env, struct content *ct, char *reason,
		   size_t rlen)
{
	if (worker__oid_of(&env->ctype) != WORKER_OID_DATA || env->econtent.p == NULL
	    || worker__der_octets(&env->econtent, &ct->in) < 0) {
		snprintf(reason, rlen, "cannot decrypt: no encrypted data content");
		return (SG_ECRYPTO);
	}
	ct->ctlen = ct->in.len;
	return (env->auth ? gcm_alg(env, ct, reason, rlen) : cbc_alg(env, ct, reason, rlen));
}

int	worker__cms_decrypt(struct certs *c, const void *der, size_t len, struct sg_buf *plain,
			    char *reason, size_t rlen)
{
	struct worker_cms_env env;
	struct worker_cms_ri ri;
	struct content ct;
	struct tried t;
	size_t	off = 0, nri = 0;
	bool	done = false, capped = false;
	int	rc;

	if ((rc = worker__cms_env_parse(der, len, &env)) == SG_ENOTFOUND)
		return (SG_ENOTFOUND);
	if (rc < 0) {
		snprintf(reason, rlen, "cannot decrypt: malformed encrypted data");
		return (SG_ECRYPTO);
	}
	memset(&ct, 0, sizeof(ct));
	memset(&t, 0, sizeof(t));
	if ((rc = prepare(&env, &ct, reason, rlen)) < 0)
		goto out;
	while (!done && (rc = worker__cms_ri_next(&env, &off, &ri)) == 0) {
		PK11SymKey *cek;

		if ((capped = ++nri > RECIPIENTS_MAX))
			break;
		t.kinds |= ri.kind;
		if (ri.kind == WORKER_RI_KTRI)
			cek = try_ktri(c, &ri.tlv, &ct, &t);
		else if (ri.kind == WORKER_RI_KARI)
			cek = try_kari(c, &ri.tlv, &ct, &t);
		else
			cek = NULL;
		if (cek == NULL)
			continue;
		done = decrypt(cek, &ct, plain) == 0;
		PK11_FreeSymKey(cek);
	}
	if (done)
		rc = 0;
	else {
		if (rc != 0 && rc != SG_ENOTFOUND)
			snprintf(reason, rlen, "cannot decrypt: malformed recipient infos");
		else if (capped && !t.ours)
			snprintf(reason, rlen, "no key for the first %d recipients (the rest not "
				 "looked at)", RECIPIENTS_MAX);
		else
			describe(&t, ct.gcm, reason, rlen);
		rc = SG_ECRYPTO;
	}
out:
	for (size_t i = 0; i < t.nkeys; i++)
		CERT_DestroyCertificate(t.keys[i]);
	sg_buf_free(&ct.aad);
	sg_buf_free(&ct.in);
	return (rc);
}
