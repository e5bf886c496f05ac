/*
 * NAME
 *	fuzz_kari 1
 * SUMMARY
 *	libFuzzer target: the KeyAgreeRecipientInfo decoder (ECDH, RFC 5753)
 * DESCRIPTION
 *	The input is one RecipientInfo as it sits in a message's
 *	RecipientInfos (a [1] KeyAgreeRecipientInfo, tag 0xA1, when it is
 *	one): worker__cms_kari_parse(), then every RecipientEncryptedKey
 *	through worker__cms_rek_next(). Besides memory errors it checks that
 *	every TLV and the sender's point lie inside the input and that the
 *	point is an uncompressed one of a plausible size.
 *
 *	It also runs worker__kari_unwrap() on each encrypted key with a
 *	P-256 key pair made at start (NSS without a database): the
 *	attacker's point, KDF parameters and wrapped key reach NSS's ECDH
 *	and AES key unwrap. Only the holder of that private key can have
 *	wrapped a key for it, so a key coming out means a point or parameter
 *	let the shared secret be guessed: abort (a random wrap passes AES key
 *	wrap's 64-bit check with a chance of 2^-64). `make fuzz` runs it at
 *	length, `make test` (fuzz-smoke) for a few seconds.
 */

#include <stdlib.h>
#include <string.h>

#include <nss.h>

#include "worker/worker_int.h"

int	LLVMFuzzerInitialize(int *argc, char ***argv);
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static const unsigned char *lo, *hi;
static SECKEYPrivateKey *priv;
static SECKEYPublicKey *pub;

static void inside(const void *p, size_t n)
{
	if (p && ((const unsigned char *) p < lo || (const unsigned char *) p + n > hi))
		abort();
}

int	LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	SECItem	p256 = { siBuffer, (unsigned char *) worker__oids[WORKER_OID_P256].der,
		(unsigned) worker__oids[WORKER_OID_P256].len };
	PK11SlotInfo *slot;

	if (NSS_NoDB_Init(NULL) != SECSuccess || (slot = PK11_GetInternalSlot()) == NULL)
		abort();
	priv = PK11_GenerateKeyPair(slot, CKM_EC_KEY_PAIR_GEN, &p256, &pub, PR_FALSE, PR_FALSE,
				    NULL);
	PK11_FreeSlot(slot);
	if (priv == NULL)
		abort();
	return (0);
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	unsigned char *copy = malloc(len ? len : 1);
	struct worker_der ri;
	struct worker_cms_kari k;
	struct worker_cms_rek r;
	size_t	off = 0;
	int	n = 0;

	memcpy(copy, data, len);
	lo = copy;
	hi = copy + len;
	if (worker__der_read(copy, len, &ri) == 0 && worker__cms_kari_parse(&ri, &k) == 0) {
		inside(k.point, k.pointlen);
		if (k.pointlen < 41 || k.point[0] != 0x04 || k.pointlen % 2 == 0)
			abort();
		inside(k.ukm.p, k.ukm.p ? worker__der_size(&k.ukm) : 0);
		inside(k.reks.p, worker__der_size(&k.reks));
		while (n++ < 64 && worker__cms_rek_next(&k, &off, &r) == 0) {
			inside(r.rid.p, worker__der_size(&r.rid));
			inside(r.ekey.p, worker__der_size(&r.ekey));
			PK11SymKey *cek = worker__kari_unwrap(priv, pub, &k, &r, CKM_AES_GCM, 16);

			if (cek)
				abort();
		}
	}
	free(copy);
	return (0);
}
