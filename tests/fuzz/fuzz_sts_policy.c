/*
 * NAME
 *	fuzz_sts_policy 1
 * SUMMARY
 *	libFuzzer target: an MTA-STS policy and the cache file that keeps it
 * DESCRIPTION
 *	The input is read as a fetched policy (delivery_sts_policy_parse)
 *	and as a cache file of the state directory (delivery_sts_cache_parse,
 *	disk input); both copies have no slack, so a read past len trips
 *	ASan. Checked: a policy that parses has a known mode, max_age within
 *	RFC 8461's bound, 1 to DELIVERY_STS_MX_MAX mx patterns unless the
 *	mode is none, and each pattern matches the host it stands for
 *	(delivery_sts_mx_match, with "*." replaced by a label); a cache file
 *	that parses points its policy text inside the input.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/delivery.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void check(const struct delivery_sts_policy *p)
{
	if (p->mode < DELIVERY_STS_NONE || p->mode > DELIVERY_STS_ENFORCE
	    || p->max_age < 0 || p->max_age > DELIVERY_STS_MAX_AGE || p->nmx > DELIVERY_STS_MX_MAX
	    || (p->mode != DELIVERY_STS_NONE && p->nmx == 0))
		abort();
	for (size_t i = 0; i < p->nmx; i++) {
		char	host[300];
		const char *m = p->mx[i];

		snprintf(host, sizeof(host), "%s%s", m[0] == '*' ? "x" : "", m[0] == '*' ? m + 1 : m);
		if (!delivery_sts_mx_match(p, host))
			abort();
	}
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char   *buf = malloc(len ? len : 1), id[DELIVERY_STS_ID_MAX + 1];
	struct delivery_sts_policy *p = malloc(sizeof(*p));
	const char *text;
	size_t	textlen;
	int64_t	fetched;

	memcpy(buf, data, len);
	if (delivery_sts_policy_parse(buf, len, p) == 0)
		check(p);
	if (delivery_sts_cache_parse(buf, len, id, &fetched, p, &text, &textlen) == 0) {
		check(p);
		if (text < buf || text + textlen != buf + len || fetched < 0)
			abort();
	}
	free(buf);
	free(p);
	return (0);
}
