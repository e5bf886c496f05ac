/*
 * NAME
 *	fuzz_addr 1
 * SUMMARY
 *	libFuzzer target: common/addr.c mailbox and path parsing
 * DESCRIPTION
 *	Feeds the bytes, with their exact length and no slack, to both
 *	parsers under every option set, and checks what an accepted address
 *	promises: NUL-terminated parts within the RFC limits, and a formatted
 *	form that parses back to the same address.
 */

#include <stdlib.h>
#include <string.h>

#include "common/sg.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void check(const struct sg_addr *a)
{
	char	buf[SG_ADDR_PATH_MAX + 8];
	struct sg_addr b;
	int	n;

	if (a->local_len > SG_ADDR_LOCAL_MAX || a->domain_len > SG_ADDR_DOMAIN_MAX
	    || strlen(a->local) != a->local_len || strlen(a->domain) != a->domain_len)
		abort();
	if (a->flags & (SG_ADDR_F_NULL | SG_ADDR_F_POSTMASTER))
		return;
	if ((n = sg_addr_format(a, buf, sizeof(buf))) < 0)
		abort();
	if (sg_addr_parse(buf, (size_t) n, SG_ADDR_O_UTF8, &b) != 0
	    || strcmp(a->local, b.local) != 0 || strcmp(a->domain, b.domain) != 0)
		abort();
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char   *s = malloc(len ? len : 1);
	struct sg_addr a;
	size_t	used;

	memcpy(s, data, len);
	for (unsigned opts = 0; opts < 8; opts++) {
		if (sg_addr_parse(s, len, opts, &a) == 0)
			check(&a);
		if (sg_addr_parse_path(s, len, opts, &a, &used) == 0) {
			if (used > len)
				abort();
			check(&a);
		}
	}
	free(s);
	return (0);
}
