/*
 * NAME
 *	smime_ri 3
 * SUMMARY
 *	which kinds of recipient an encrypted CMS message is addressed to
 * SYNOPSIS
 *	#include "worker/worker_int.h"
 *
 *	unsigned worker__recipient_kinds(der, len)
 * DESCRIPTION
 *	Why: NSS 3.87 decodes key transport (RSA) recipients only; a
 *	message encrypted to an EC certificate (key agreement, RFC 5753)
 *	fails in its decoder with SEC_ERROR_BAD_DER, which tells an
 *	administrator nothing. This walk reads the RecipientInfos of an
 *	EnvelopedData or AuthEnvelopedData ContentInfo (RFC 5652 6.1,
 *	RFC 5083) without decoding anything else, so the worker can say in
 *	words why such mail cannot be read.
 *
 *	worker__recipient_kinds() returns a mask of WORKER_RI_KTRI,
 *	WORKER_RI_KARI and WORKER_RI_OTHER, one bit for each kind present;
 *	0 when der is not such a structure.
 */

#include "worker_int.h"

/* step - the element at *off of the content of outer, moving *off past it */

static int step(const struct worker_der *outer, size_t *off, struct worker_der *e)
{
	if (*off >= outer->len
	    || worker__der_read(worker__der_content(outer) + *off, outer->len - *off, e) < 0)
		return (SG_EINVAL);
	*off += worker__der_size(e);
	return (0);
}

static unsigned kinds_of(const struct worker_der *set)
{
	struct worker_der ri;
	unsigned kinds = 0;

	for (size_t off = 0; off < set->len;) {
		if (step(set, &off, &ri) < 0)
			return (0);
		kinds |= ri.p[0] == 0x30 ? WORKER_RI_KTRI : ri.p[0] == 0xa1 ? WORKER_RI_KARI :
			WORKER_RI_OTHER;
	}
	return (kinds);
}

unsigned worker__recipient_kinds(const void *der, size_t len)
{
	struct worker_der top, oid, expl, env, e;
	size_t	off = 0;

	if (worker__der_read(der, len, &top) < 0 || top.p[0] != 0x30
	    || step(&top, &off, &oid) < 0 || oid.p[0] != 0x06
	    || step(&top, &off, &expl) < 0 || expl.p[0] != 0xa0)
		return (0);
	off = 0;
	if (step(&expl, &off, &env) < 0 || env.p[0] != 0x30)
		return (0);
	off = 0;
	if (step(&env, &off, &e) < 0 || e.p[0] != 0x02		/* version */
	    || step(&env, &off, &e) < 0)
		return (0);
	if (e.p[0] == 0xa0 && step(&env, &off, &e) < 0)		/* originatorInfo */
		return (0);
	return (e.p[0] == 0x31 ? kinds_of(&e) : 0);
}
