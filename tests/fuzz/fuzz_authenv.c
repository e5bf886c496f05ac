/*
 * NAME
 *	fuzz_authenv 1
 * SUMMARY
 *	libFuzzer target: the decoders of encrypted CMS (AuthEnvelopedData,
 *	EnvelopedData, KeyTransRecipientInfo, RSAES-OAEP and GCM parameters)
 * DESCRIPTION
 *	The input is taken as the DER of a ContentInfo, as worker/cms_dec.c
 *	gets it from a message: worker__cms_env_parse(), then every
 *	recipient info through worker__cms_ri_next() and, for key transport,
 *	worker__cms_ktri_parse() and worker__cms_oaep_parse(), and the
 *	content's worker__cms_gcm_parse(), the octets of the encrypted
 *	content and the mac. Besides memory errors it checks that every TLV
 *	found lies inside the input, and that the GCM parameters it accepts
 *	are within RFC 5084's bounds.
 *
 *	It also runs worker__cms_decrypt() on the input (NSS without a
 *	database: nothing can decrypt, so success is a bug). `make fuzz`
 *	runs it at length, `make test` (fuzz-smoke) for a few seconds.
 */

#include <stdlib.h>
#include <string.h>

#include <nss.h>

#include "worker/worker_int.h"

int	LLVMFuzzerInitialize(int *argc, char ***argv);
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static const unsigned char *lo, *hi;

static void inside(const struct worker_der *t)
{
	if (t->p == NULL)
		return;
	if (t->p < lo || t->p + worker__der_size(t) > hi)
		abort();
}

int	LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	if (NSS_NoDB_Init(NULL) != SECSuccess)
		abort();
	return (0);
}

static void recipients(const struct worker_cms_env *env)
{
	struct worker_cms_ri ri;
	size_t	off = 0;
	int	n = 0;

	while (n++ < 64 && worker__cms_ri_next(env, &off, &ri) == 0) {
		struct worker_cms_ktri k;
		struct worker_cms_oaep o;

		inside(&ri.tlv);
		if (ri.kind != WORKER_RI_KTRI || worker__cms_ktri_parse(&ri.tlv, &k) < 0)
			continue;
		inside(&k.rid);
		inside(&k.ekey);
		if (worker__cms_oaep_parse(&k.kea, &o) == 0) {
			inside(&o.label);
			if (o.hash < WORKER_HASH_SHA1 || o.hash > WORKER_HASH_SHA512)
				abort();
		}
	}
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	unsigned char *copy = malloc(len ? len : 1);
	struct worker_cms_env env;
	struct worker_cms_gcm g;
	struct sg_buf b = SG_BUF_INIT;

	memcpy(copy, data, len);
	lo = copy;
	hi = copy + len;
	if (worker__cms_env_parse(copy, len, &env) == 0) {
		inside(&env.ris);
		inside(&env.econtent);
		inside(&env.mac);
		inside(&env.auth_attrs);
		recipients(&env);
		if (worker__cms_gcm_parse(&env.cea, &g) == 0) {
			inside(&g.nonce);
			if (g.icvlen < 12 || g.icvlen > 16)
				abort();
		}
		if (env.econtent.p && worker__der_octets(&env.econtent, &b) == 0 && b.len > len)
			abort();
		sg_buf_reset(&b);
		if (env.mac.p && worker__der_octets(&env.mac, &b) == 0 && b.len > len)
			abort();
	}
	{
		char	why[200];

		sg_buf_reset(&b);
		if (worker__cms_decrypt(NULL, copy, len, &b, why, sizeof(why)) == 0)
			abort();		/* there is no key to decrypt with */
	}
	sg_buf_free(&b);
	free(copy);
	return (0);
}
