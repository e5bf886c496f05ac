/*
 * NAME
 *	fuzz_dns 1
 * SUMMARY
 *	libFuzzer target: the answer to an MX query (delivery_mx_parse)
 * DESCRIPTION
 *	The input is a raw DNS message, as c-ares hands delivery the answer
 *	of an MX query for example.test; it is copied with no slack so that
 *	a read past len trips ASan. It is read twice, with answer order and
 *	with a deterministic shuffle for equal preferences. Checked on every
 *	run: the kind is one of the five; exchanges only with kind HOSTS,
 *	between 1 and DELIVERY_MX_MAX of them, each a non-empty name that
 *	fits, sorted by preference; a reason with every temporary failure;
 *	and both readings agree on the kind and the exchanges' set of
 *	preferences.
 */

#include <stdlib.h>
#include <string.h>

#include "delivery/delivery.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static unsigned long seed;

static long lcg(void)
{
	seed = seed * 6364136223846793005UL + 1442695040888963407UL;
	return ((long) (seed >> 33));
}

static void check(const struct delivery_mx *m)
{
	if (m->kind < DELIVERY_MX_HOSTS || m->kind > DELIVERY_MX_TEMP)
		abort();
	if ((m->kind == DELIVERY_MX_HOSTS) != (m->n > 0) || m->n > DELIVERY_MX_MAX)
		abort();
	if (m->kind == DELIVERY_MX_TEMP && m->reason[0] == 0)
		abort();
	for (size_t i = 0; i < m->n; i++) {
		size_t	hl = strnlen(m->v[i].host, sizeof(m->v[i].host));

		if (hl == 0 || hl >= sizeof(m->v[i].host) || m->v[i].pref > 65535)
			abort();
		if (i > 0 && m->v[i].pref < m->v[i - 1].pref)
			abort();
	}
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	unsigned char *msg = malloc(len ? len : 1);
	struct delivery_mx *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));

	memcpy(msg, data, len);
	delivery_mx_parse(msg, len, "example.test", NULL, a);
	check(a);
	seed = len;
	delivery_mx_parse(msg, len, "example.test.", lcg, b);
	check(b);
	if (a->kind != b->kind || a->n != b->n)
		abort();
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].pref != b->v[i].pref)
			abort();
	free(msg);
	free(a);
	free(b);
	return (0);
}
