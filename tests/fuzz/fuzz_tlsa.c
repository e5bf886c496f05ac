/*
 * NAME
 *	fuzz_tlsa 1
 * SUMMARY
 *	libFuzzer target: the answer to a TLSA query (delivery_tlsa_parse)
 * DESCRIPTION
 *	The input is a raw DNS message as the validating resolver sends it
 *	for _25._tcp.mx.example.test; it is copied with no slack so that a
 *	read past len trips ASan. Checked on every run: the kind is one of
 *	the four; records only with SECURE (and SECURE has at least one
 *	record or one dropped); each record's data lies inside the pool that
 *	is in use, with the length its matching type demands; a reason with
 *	every temporary failure; the same input read twice gives the same
 *	result.
 */

#include <stdlib.h>
#include <string.h>

#include "delivery/delivery.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void check(const struct delivery_tlsa *t)
{
	if (t->kind < DELIVERY_TLSA_SECURE || t->kind > DELIVERY_TLSA_TEMP)
		abort();
	if (t->n > DELIVERY_TLSA_MAX || t->used > sizeof(t->data))
		abort();
	if (t->kind != DELIVERY_TLSA_SECURE && t->kind != DELIVERY_TLSA_INSECURE && t->n)
		abort();
	if (t->kind == DELIVERY_TLSA_SECURE && t->n + t->dropped == 0)
		abort();
	if (t->kind == DELIVERY_TLSA_TEMP && t->reason[0] == 0)
		abort();
	for (size_t i = 0; i < t->n; i++) {
		if (t->rr[i].len == 0 || t->rr[i].off + t->rr[i].len > t->used)
			abort();
		if ((t->rr[i].mtype == 1 && t->rr[i].len != 32)
		    || (t->rr[i].mtype == 2 && t->rr[i].len != 64))
			abort();
	}
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	unsigned char *msg = malloc(len ? len : 1);
	struct delivery_tlsa *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));

	memcpy(msg, data, len);
	delivery_tlsa_parse(msg, len, a);
	check(a);
	delivery_tlsa_parse(msg, len, b);
	if (a->kind != b->kind || a->n != b->n || a->used != b->used
	    || memcmp(a->data, b->data, a->used) != 0)
		abort();
	free(msg);
	free(a);
	free(b);
	return (0);
}
