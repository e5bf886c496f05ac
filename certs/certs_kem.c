/*
 * NAME
 *	certs_kem 3
 * SUMMARY
 *	which certificates can receive encrypted mail, and why not
 * SYNOPSIS
 *	#include "certs/certs.h"
 *
 *	int	certs_receive_check(cert, why, len)
 *	int	certs_key_desc(cert, buf, len)
 *	int	certs_key_usable(cert, why, len)
 * DESCRIPTION
 *	certs_receive_check() looks at cert's public key and key usage alone
 *	(its chain, validity and revocation are certs_check()'s business):
 *	RSA keys can receive by key transport when their key usage, if
 *	given, allows keyEncipherment; EC keys on P-256, P-384 and P-521 by
 *	ECDH key agreement (RFC 5753) when it allows keyAgreement. Other keys
 *	cannot, and why says so in words an administrator acts on, e.g.
 *	"certificate key type not supported for encryption: EC
 *	brainpoolP256r1 (...)".
 *
 *	certs_key_desc() writes "RSA-2048", "EC P-256", "EC
 *	brainpoolP256r1" and the like, for messages and listings.
 *
 *	certs_key_usable() says whether NSS can do anything at all with the
 *	key: an EC key on a curve NSS lacks (brainpool, ...) can neither
 *	sign, nor have its signatures verified, nor receive; why says so.
 * DIAGNOSTICS
 *	certs_receive_check() and certs_key_usable() return 0 or
 *	SG_EUNSUPPORTED.
 */

#include <stdio.h>
#include <string.h>

#include <secoid.h>

#include "certs_int.h"

/* DER of the named curves NSS 3.87 has no tag for (RFC 5639) */
static const unsigned char bp256r1[] = { 0x06, 0x09, 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01,
					 0x01, 0x07 };
static const unsigned char bp384r1[] = { 0x06, 0x09, 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01,
					 0x01, 0x0b };
static const unsigned char bp512r1[] = { 0x06, 0x09, 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01,
					 0x01, 0x0d };

static bool item_is(const SECItem *it, const unsigned char *der, size_t len)
{
	return (it->len == len && memcmp(it->data, der, len) == 0);
}

/* curve_name - the named curve of an EC SubjectPublicKeyInfo, or NULL */

static const char *curve_name(const CERTSubjectPublicKeyInfo *spki)
{
	const SECItem *p = &spki->algorithm.parameters;
	SECItem	oid;

	if (item_is(p, bp256r1, sizeof(bp256r1)))
		return ("brainpoolP256r1");
	if (item_is(p, bp384r1, sizeof(bp384r1)))
		return ("brainpoolP384r1");
	if (item_is(p, bp512r1, sizeof(bp512r1)))
		return ("brainpoolP512r1");
	if (p->len < 2 || p->data[0] != 0x06 || p->data[1] != p->len - 2)
		return (NULL);
	oid.type = siBuffer;
	oid.data = p->data + 2;
	oid.len = p->len - 2;
	switch (SECOID_FindOIDTag(&oid)) {
	case SEC_OID_ANSIX962_EC_PRIME256V1:
		return ("P-256");
	case SEC_OID_SECG_EC_SECP384R1:
		return ("P-384");
	case SEC_OID_SECG_EC_SECP521R1:
		return ("P-521");
	default:
		return (NULL);
	}
}

int	certs_key_desc(CERTCertificate *cert, char *buf, size_t len)
{
	const CERTSubjectPublicKeyInfo *spki = &cert->subjectPublicKeyInfo;
	SECKEYPublicKey *k;
	const char *curve;

	switch (CERT_GetCertKeyType(spki)) {
	case rsaKey:
	case rsaPssKey:
	case rsaOaepKey:
		k = CERT_ExtractPublicKey(cert);
		snprintf(buf, len, "RSA-%u", k ? SECKEY_PublicKeyStrengthInBits(k) : 0);
		if (k)
			SECKEY_DestroyPublicKey(k);
		return (0);
	case ecKey:
		curve = curve_name(spki);
		snprintf(buf, len, "EC %s", curve ? curve : "(unknown curve)");
		return (0);
	case dsaKey:
		snprintf(buf, len, "DSA");
		return (0);
	default:
		snprintf(buf, len, "unknown key type");
		return (SG_EUNSUPPORTED);
	}
}

int	certs_receive_check(CERTCertificate *cert, char *why, size_t len)
{
	char	desc[64];

	certs_key_desc(cert, desc, sizeof(desc));
	switch (CERT_GetCertKeyType(&cert->subjectPublicKeyInfo)) {
	case rsaKey:
		if (CERT_CheckCertUsage(cert, KU_KEY_ENCIPHERMENT) != SECSuccess) {
			snprintf(why, len, "key usage of the certificate (%s) does not allow "
				 "key encipherment: a signing-only certificate", desc);
			return (SG_EUNSUPPORTED);
		}
		snprintf(why, len, "%s", "");
		return (0);
	case ecKey:
		if (strncmp(desc, "EC brainpool", 12) == 0) {
			snprintf(why, len, "certificate key type not supported for encryption: %s "
				 "(NSS 3.87 has no brainpool curves; see the README)", desc);
			return (SG_EUNSUPPORTED);
		}
		if (strcmp(desc, "EC P-256") && strcmp(desc, "EC P-384") && strcmp(desc, "EC P-521")) {
			snprintf(why, len, "certificate key type not supported for encryption: %s "
				 "(ECDH on P-256, P-384 and P-521 only)", desc);
			return (SG_EUNSUPPORTED);
		}
		if (CERT_CheckCertUsage(cert, KU_KEY_AGREEMENT) != SECSuccess) {
			snprintf(why, len, "key usage of the certificate (%s) does not allow "
				 "key agreement: a signing-only certificate", desc);
			return (SG_EUNSUPPORTED);
		}
		snprintf(why, len, "%s", "");
		return (0);
	default:
		snprintf(why, len, "certificate key type not supported for encryption: %s", desc);
		return (SG_EUNSUPPORTED);
	}
}

int	certs_key_usable(CERTCertificate *cert, char *why, size_t len)
{
	char	desc[64];

	snprintf(why, len, "%s", "");
	if (CERT_GetCertKeyType(&cert->subjectPublicKeyInfo) != ecKey
	    || curve_name(&cert->subjectPublicKeyInfo) == NULL
	    || strncmp(curve_name(&cert->subjectPublicKeyInfo), "brainpool", 9) == 0) {
		if (CERT_GetCertKeyType(&cert->subjectPublicKeyInfo) != ecKey)
			return (0);
		certs_key_desc(cert, desc, sizeof(desc));
		snprintf(why, len, "its key (%s) is on a curve NSS 3.87 does not have: it can "
			 "neither sign, nor have its signatures verified, nor receive encrypted "
			 "mail (see the README on brainpool curves)", desc);
		return (SG_EUNSUPPORTED);
	}
	return (0);
}
