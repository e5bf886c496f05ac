/*
 * NAME
 *	cms_parse 3
 * SUMMARY
 *	decoders of encrypted CMS from the network: EnvelopedData,
 *	AuthEnvelopedData, KeyTransRecipientInfo, KeyAgreeRecipientInfo,
 *	RSAES-OAEP and GCM parameters
 * SYNOPSIS
 *	#include "worker/worker_int.h"
 *
 *	int	worker__cms_env_parse(der, len, env)
 *	int	worker__cms_ri_next(env, it, ri)
 *	int	worker__cms_ktri_parse(ri, ktri)
 *	int	worker__cms_oaep_parse(algid, oaep)
 *	int	worker__cms_gcm_parse(algid, gcm)
 *	int	worker__cms_kari_parse(ri, kari)
 *	int	worker__cms_rek_next(kari, it, rek)
 *
 *	int	worker__cms_signed_check(der, len, why)
 * DESCRIPTION
 *	NSS 3.87's CMS decoder knows neither AuthEnvelopedData (RFC 5083)
 *	nor RSAES-OAEP (RFC 3560) nor key agreement (RFC 5753), so the
 *	gateway reads encrypted mail itself. These functions only find
 *	where things are: every one takes its input with an explicit length
 *	(or a TLV read from one), checks each length against what contains
 *	it (worker__der_read), copies nothing and decrypts nothing. BER is
 *	accepted where senders write it (indefinite lengths, constructed
 *	strings: OpenSSL's -stream and gpgsm), since the content is not
 *	signed; DER is not required.
 *
 *	worker__cms_env_parse() reads a ContentInfo (RFC 5652 3) that holds
 *	an EnvelopedData (6.1) or an AuthEnvelopedData (RFC 5083 2.1) and
 *	fills env: the version, the RecipientInfos SET, the content type,
 *	the content-encryption AlgorithmIdentifier, the encrypted content
 *	(its TLV, primitive or constructed; econtent.p NULL when it is left
 *	out), and for AuthEnvelopedData the authAttrs [1] and unauthAttrs
 *	[2] (p NULL when absent) and the mac. Bytes after the ContentInfo
 *	must be zeros. SG_ENOTFOUND: a valid ContentInfo of another type
 *	(signed-data, say): not ours to decrypt.
 *
 *	worker__cms_signed_check() looks at a signature before NSS decodes
 *	it: SG_ELIMIT (with *why) for more than WORKER_DIGESTS_MAX digest
 *	algorithms (gpgsm lists one per signer, duplicates and all) or more
 *	than WORKER_CERTS_MAX certificates. NSS hashes the content once for
 *	every listed algorithm, and grows its array of certificates one
 *	entry at a time (time and memory in the square of their number),
 *	all before any signature is checked: a few MB of either stalled a
 *	crypto thread for minutes or took gigabytes. SG_EINVAL (with *why)
 *	for a ContentInfo it cannot walk, since NSS would read it on; 0 for
 *	a readable one that is no SignedData (NSS says what it is not).
 *
 *	worker__cms_ri_next() walks env's RecipientInfos (start *it at 0):
 *	ri->kind is WORKER_RI_KTRI (a SEQUENCE), WORKER_RI_KARI ([1]) or
 *	WORKER_RI_OTHER; ri->tlv the whole element. It returns SG_ENOTFOUND
 *	after the last.
 *
 *	worker__cms_ktri_parse() reads a KeyTransRecipientInfo (6.2.1): the
 *	recipient identifier (issuerAndSerialNumber, or [0] a subject key
 *	identifier), the key-encryption algorithm and the encrypted key.
 *
 *	worker__cms_oaep_parse() reads RSAES-OAEP-params (RFC 4055 3.1):
 *	absent fields take their DEFAULTs (SHA-1, MGF1 with SHA-1, an empty
 *	label), hash AlgorithmIdentifiers may have absent or NULL
 *	parameters, and absent or NULL parameters as a whole mean all
 *	defaults. The label (pSpecified) is returned as its TLV.
 *
 *	worker__cms_gcm_parse() reads GCMParameters (RFC 5084 3.2): the
 *	nonce (a primitive OCTET STRING of any length; what length is
 *	acceptable is the decrypter's policy) and aes-ICVlen, 12 when
 *	absent (its DEFAULT), else 12 to 16. gcm->icv_explicit says whether
 *	it was written out.
 *
 *	worker__cms_kari_parse() reads a KeyAgreeRecipientInfo (RFC 5652
 *	6.2.2, RFC 5753 3.1): version 3, the originator, which must be an
 *	originatorKey (an ephemeral-static ECDH sender; a static sender
 *	named by certificate is refused) with its AlgorithmIdentifier (the
 *	parameters kept: absent, NULL or a named curve) and the public point
 *	(the BIT STRING's octets, unused bits 0, uncompressed 04||X||Y), the
 *	optional ukm, the key-encryption algorithm (the key agreement scheme
 *	whose parameters are the key-wrap AlgorithmIdentifier, kept as its
 *	bytes for the KDF's SharedInfo) and the RecipientEncryptedKeys.
 *	worker__cms_rek_next() walks those (start *it at 0): the recipient
 *	identifier, issuerAndSerialNumber or, from an rKeyId [0], the
 *	subject key identifier (any date and other attribute ignored), and
 *	the encrypted key. SG_ENOTFOUND after the last.
 * DIAGNOSTICS
 *	SG_EINVAL for anything malformed or not allowed (an unknown hash, a
 *	mask generation function other than MGF1, a wrong tag or version,
 *	an ICV length outside 12 to 16).
 */

#include <string.h>

#include "worker_int.h"

/* expect - the next element, with tag tag */

static int expect(struct worker_der_it *it, unsigned char tag, struct worker_der *e)
{
	if (worker__der_next(it, e) < 0 || e->p[0] != tag)
		return (SG_EINVAL);
	return (0);
}

/* optional - the next element if its tag is tag (else it stays next) */

static bool optional(struct worker_der_it *it, unsigned char tag, struct worker_der *e)
{
	struct worker_der_it save = *it;

	if (worker__der_next(it, e) == 0 && e->p[0] == tag)
		return (true);
	*it = save;
	memset(e, 0, sizeof(*e));
	return (false);
}

static bool zeros(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return (false);
	return (true);
}

/* content_info - the OID and the [0] EXPLICIT content of a ContentInfo */

static int content_info(const unsigned char *p, size_t len, struct worker_der *oid,
			struct worker_der *content)
{
	struct worker_der top, expl;
	struct worker_der_it it;

	if (worker__der_read(p, len, &top) < 0 || top.p[0] != 0x30
	    || !zeros(p + worker__der_size(&top), len - worker__der_size(&top)))
		return (SG_EINVAL);
	worker__der_enter(&top, &it);
	if (expect(&it, 0x06, oid) < 0 || expect(&it, 0xa0, &expl) < 0
	    || worker__der_next(&it, content) != SG_ENOTFOUND)
		return (SG_EINVAL);
	worker__der_enter(&expl, &it);
	if (worker__der_next(&it, content) < 0 || content->p[0] != 0x30)
		return (SG_EINVAL);
	return (worker__der_next(&it, &top) == SG_ENOTFOUND ? 0 : SG_EINVAL);
}

/* enc_content_info - EncryptedContentInfo, also authEncryptedContentInfo */

static int enc_content_info(const struct worker_der *eci, struct worker_cms_env *env)
{
	struct worker_der_it it;
	struct worker_der alg, extra;

	worker__der_enter(eci, &it);
	if (expect(&it, 0x06, &env->ctype) < 0 || expect(&it, 0x30, &alg) < 0
	    || worker__algid_read(&alg, &env->cea) < 0)
		return (SG_EINVAL);
	/* [0] IMPLICIT OCTET STRING: primitive, or constructed (BER) */
	if (!optional(&it, 0x80, &env->econtent))
		(void) optional(&it, 0xa0, &env->econtent);
	return (worker__der_next(&it, &extra) == SG_ENOTFOUND ? 0 : SG_EINVAL);
}

int	worker__cms_env_parse(const void *der, size_t len, struct worker_cms_env *env)
{
	struct worker_der oid, body, ver, eci, extra;
	struct worker_der_it it;
	int	type, rc;

	memset(env, 0, sizeof(*env));
	if ((rc = content_info(der, len, &oid, &body)) < 0)
		return (rc);
	type = worker__oid_of(&oid);
	if (type != WORKER_OID_ENVELOPED_DATA && type != WORKER_OID_AUTH_ENVELOPED_DATA)
		return (SG_ENOTFOUND);
	env->auth = type == WORKER_OID_AUTH_ENVELOPED_DATA;
	worker__der_enter(&body, &it);
	if (expect(&it, 0x02, &ver) < 0 || worker__der_uint(&ver, &env->version) < 0)
		return (SG_EINVAL);
	(void) optional(&it, 0xa0, &env->originator);
	if (expect(&it, 0x31, &env->ris) < 0 || expect(&it, 0x30, &eci) < 0
	    || enc_content_info(&eci, env) < 0)
		return (SG_EINVAL);
	if (!env->auth) {
		(void) optional(&it, 0xa1, &env->unauth_attrs);
		return (worker__der_next(&it, &extra) == SG_ENOTFOUND ? 0 : SG_EINVAL);
	}
	(void) optional(&it, 0xa1, &env->auth_attrs);
	if (!optional(&it, 0x04, &env->mac) && !optional(&it, 0x24, &env->mac))
		return (SG_EINVAL);
	(void) optional(&it, 0xa2, &env->unauth_attrs);
	return (worker__der_next(&it, &extra) == SG_ENOTFOUND ? 0 : SG_EINVAL);
}

int	worker__cms_ri_next(const struct worker_cms_env *env, size_t *off, struct worker_cms_ri *ri)
{
	struct worker_der_it it;
	int	rc;

	memset(ri, 0, sizeof(*ri));
	worker__der_enter(&env->ris, &it);
	it.off = *off;
	if ((rc = worker__der_next(&it, &ri->tlv)) < 0)
		return (rc);
	*off = it.off;
	ri->kind = ri->tlv.p[0] == 0x30 ? WORKER_RI_KTRI : ri->tlv.p[0] == 0xa1 ? WORKER_RI_KARI
		: WORKER_RI_OTHER;
	return (0);
}

int	worker__cms_ktri_parse(const struct worker_der *ri, struct worker_cms_ktri *k)
{
	struct worker_der_it it;
	struct worker_der ver, alg, extra;
	uint64_t v;

	memset(k, 0, sizeof(*k));
	if (ri->p[0] != 0x30)
		return (SG_EINVAL);
	worker__der_enter(ri, &it);
	if (expect(&it, 0x02, &ver) < 0 || worker__der_uint(&ver, &v) < 0)
		return (SG_EINVAL);
	if (worker__der_next(&it, &k->rid) < 0)
		return (SG_EINVAL);
	/* version 0 with issuerAndSerialNumber, 2 with a subject key identifier */
	if (k->rid.p[0] == 0x30 && v == 0)
		k->rid_ski = false;
	else if (k->rid.p[0] == 0x80 && v == 2)
		k->rid_ski = true;
	else
		return (SG_EINVAL);
	if (expect(&it, 0x30, &alg) < 0 || worker__algid_read(&alg, &k->kea) < 0)
		return (SG_EINVAL);
	if (!optional(&it, 0x04, &k->ekey) && !optional(&it, 0x24, &k->ekey))
		return (SG_EINVAL);
	return (worker__der_next(&it, &extra) == SG_ENOTFOUND ? 0 : SG_EINVAL);
}

/* explicit_algid - the AlgorithmIdentifier inside a [n] EXPLICIT */

static int explicit_algid(const struct worker_der *t, struct worker_algid *a)
{
	struct worker_der_it it;
	struct worker_der inner, extra;

	worker__der_enter(t, &it);
	if (expect(&it, 0x30, &inner) < 0 || worker__der_next(&it, &extra) != SG_ENOTFOUND)
		return (SG_EINVAL);
	return (worker__algid_read(&inner, a));
}

/* mgf1_hash - the hash of an MGF1 AlgorithmIdentifier */

static int mgf1_hash(const struct worker_algid *mgf)
{
	struct worker_algid h;

	if (mgf->oid != WORKER_OID_MGF1 || mgf->params.p == NULL || mgf->params.p[0] != 0x30
	    || worker__algid_read(&mgf->params, &h) < 0)
		return (-1);
	return (worker__hash_of(&h));
}

int	worker__cms_oaep_parse(const struct worker_algid *kea, struct worker_cms_oaep *o)
{
	struct worker_der_it it;
	struct worker_der e;
	struct worker_algid a;
	int	rc, last = -1;

	memset(o, 0, sizeof(*o));
	o->hash = WORKER_HASH_SHA1;
	o->mgf_hash = WORKER_HASH_SHA1;
	if (kea->oid != WORKER_OID_RSAES_OAEP)
		return (SG_EINVAL);
	if (kea->params.p == NULL || (kea->params.p[0] == 0x05 && kea->params.len == 0))
		return (0);
	if (kea->params.p[0] != 0x30)
		return (SG_EINVAL);
	worker__der_enter(&kea->params, &it);
	while ((rc = worker__der_next(&it, &e)) == 0) {
		int	n = e.p[0] - 0xa0;

		if (n < 0 || n > 2 || n <= last || explicit_algid(&e, &a) < 0)
			return (SG_EINVAL);	/* in order, each at most once */
		last = n;
		if (n == 0 && (o->hash = worker__hash_of(&a)) < 0)
			return (SG_EINVAL);
		if (n == 1 && (o->mgf_hash = mgf1_hash(&a)) < 0)
			return (SG_EINVAL);
		if (n == 2) {
			if (a.oid != WORKER_OID_PSPECIFIED || a.params.p == NULL
			    || a.params.p[0] != 0x04)
				return (SG_EINVAL);
			o->label = a.params;
		}
	}
	return (rc == SG_ENOTFOUND ? 0 : SG_EINVAL);
}

int	worker__cms_gcm_parse(const struct worker_algid *cea, struct worker_cms_gcm *g)
{
	struct worker_der_it it;
	struct worker_der icv, extra;
	uint64_t v;

	memset(g, 0, sizeof(*g));
	g->icvlen = 12;
	if (cea->params.p == NULL || cea->params.p[0] != 0x30 || cea->params.eoc)
		return (SG_EINVAL);
	worker__der_enter(&cea->params, &it);
	if (expect(&it, 0x04, &g->nonce) < 0)
		return (SG_EINVAL);
	if (optional(&it, 0x02, &icv)) {
		if (worker__der_uint(&icv, &v) < 0 || v < 12 || v > 16)
			return (SG_EINVAL);
		g->icvlen = (unsigned) v;
		g->icv_explicit = true;
	}
	return (worker__der_next(&it, &extra) == SG_ENOTFOUND ? 0 : SG_EINVAL);
}

/* originator_key - [0] EXPLICIT { [1] IMPLICIT OriginatorPublicKey } */

static int originator_key(const struct worker_der *o, struct worker_cms_kari *k)
{
	struct worker_der_it it, in;
	struct worker_der key, alg, bits, extra;

	worker__der_enter(o, &it);
	if (worker__der_next(&it, &key) < 0 || worker__der_next(&it, &extra) != SG_ENOTFOUND)
		return (SG_EINVAL);
	if (key.p[0] != 0xa1)
		return (SG_EUNSUPPORTED);	/* issuerAndSerialNumber, [0] SKI: static DH */
	worker__der_enter(&key, &in);
	if (expect(&in, 0x30, &alg) < 0 || worker__algid_read(&alg, &k->okey_alg) < 0
	    || k->okey_alg.oid != WORKER_OID_EC_PUBLIC_KEY
	    || expect(&in, 0x03, &bits) < 0 || worker__der_next(&in, &extra) != SG_ENOTFOUND)
		return (SG_EINVAL);
	/* BIT STRING: the unused-bits octet, then the ECPoint, uncompressed */
	if (bits.len < 2 || worker__der_content(&bits)[0] != 0 || worker__der_content(&bits)[1] != 0x04
	    || (bits.len - 2) % 2 || bits.len - 2 < 2 * 20 || bits.len - 2 > 2 * 66)
		return (SG_EINVAL);
	k->point = worker__der_content(&bits) + 1;
	k->pointlen = bits.len - 1;
	return (0);
}

int	worker__cms_kari_parse(const struct worker_der *ri, struct worker_cms_kari *k)
{
	struct worker_der_it it, in;
	struct worker_der ver, orig, alg, ukm, extra;
	uint64_t v;
	int	rc;

	memset(k, 0, sizeof(*k));
	if (ri->p[0] != 0xa1)
		return (SG_EINVAL);
	worker__der_enter(ri, &it);
	if (expect(&it, 0x02, &ver) < 0 || worker__der_uint(&ver, &v) < 0 || v != 3
	    || expect(&it, 0xa0, &orig) < 0)
		return (SG_EINVAL);
	if ((rc = originator_key(&orig, k)) < 0)
		return (rc);
	if (optional(&it, 0xa1, &ukm)) {
		worker__der_enter(&ukm, &in);
		if (expect(&in, 0x04, &k->ukm) < 0 || worker__der_next(&in, &extra) != SG_ENOTFOUND)
			return (SG_EINVAL);
	}
	if (expect(&it, 0x30, &alg) < 0 || worker__algid_read(&alg, &k->kea) < 0
	    || k->kea.params.p == NULL || k->kea.params.p[0] != 0x30 || k->kea.params.eoc
	    || worker__algid_read(&k->kea.params, &k->wrap) < 0
	    || expect(&it, 0x30, &k->reks) < 0 || worker__der_next(&it, &extra) != SG_ENOTFOUND)
		return (SG_EINVAL);
	return (0);
}

int	worker__cms_rek_next(const struct worker_cms_kari *k, size_t *off, struct worker_cms_rek *r)
{
	struct worker_der_it it, in;
	struct worker_der rek, extra;
	int	rc;

	memset(r, 0, sizeof(*r));
	worker__der_enter(&k->reks, &it);
	it.off = *off;
	if ((rc = worker__der_next(&it, &rek)) < 0)
		return (rc);
	*off = it.off;
	if (rek.p[0] != 0x30)
		return (SG_EINVAL);
	worker__der_enter(&rek, &in);
	if (worker__der_next(&in, &r->rid) < 0)
		return (SG_EINVAL);
	if (r->rid.p[0] == 0xa0) {		/* rKeyId: { subjectKeyIdentifier, date, other } */
		struct worker_der_it rk;

		worker__der_enter(&r->rid, &rk);
		if (expect(&rk, 0x04, &r->rid) < 0)
			return (SG_EINVAL);
		r->rid_ski = true;
	} else if (r->rid.p[0] != 0x30)
		return (SG_EINVAL);
	if (expect(&in, 0x04, &r->ekey) < 0 || worker__der_next(&in, &extra) != SG_ENOTFOUND)
		return (SG_EINVAL);
	return (0);
}

/* more_than - has the constructed TLV t more than max elements? */

static bool more_than(const struct worker_der *t, size_t max)
{
	struct worker_der_it it;
	struct worker_der e;
	size_t	n = 0;

	worker__der_enter(t, &it);
	while (worker__der_next(&it, &e) == 0)
		if (++n > max)
			return (true);
	return (false);
}

int	worker__cms_signed_check(const void *der, size_t len, const char **why)
{
	struct worker_der top, oid, expl, body, ver, algs, eci, certs;
	struct worker_der_it it;

	/* Fail closed: NSS reads encodings this walker refuses (a longer
	 * length, bytes after the ContentInfo) and would hash on regardless. */
	*why = "a signature that cannot be read";
	if (worker__der_read(der, len, &top) < 0 || top.p[0] != 0x30)
		return (SG_EINVAL);
	worker__der_enter(&top, &it);
	if (expect(&it, 0x06, &oid) < 0)
		return (SG_EINVAL);
	if (worker__oid_of(&oid) != WORKER_OID_SIGNED_DATA) {
		*why = NULL;
		return (0);			/* NSS says what it is not */
	}
	if (expect(&it, 0xa0, &expl) < 0)
		return (SG_EINVAL);
	worker__der_enter(&expl, &it);
	if (expect(&it, 0x30, &body) < 0)
		return (SG_EINVAL);
	worker__der_enter(&body, &it);
	if (expect(&it, 0x02, &ver) < 0 || expect(&it, 0x31, &algs) < 0
	    || expect(&it, 0x30, &eci) < 0)
		return (SG_EINVAL);
	*why = NULL;
	if (more_than(&algs, WORKER_DIGESTS_MAX))
		*why = "more digest algorithms than any signer needs";
	else if (optional(&it, 0xa0, &certs) && more_than(&certs, WORKER_CERTS_MAX))
		*why = "more certificates than any chain needs";
	return (*why ? SG_ELIMIT : 0);
}
