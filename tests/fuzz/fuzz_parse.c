/*
 * NAME
 *	fuzz_parse 1
 * SUMMARY
 *	libFuzzer target: common/ parsers of numbers, addresses and text
 * DESCRIPTION
 *	Feeds the same bytes, with their exact length, to every parser in
 *	common/ that reads configuration or peer-supplied text. A parser that
 *	reads past len trips ASan because the copy below has no slack.
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/sg.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char   *s = malloc(len ? len : 1);
	char	host[256], out[64];
	uint64_t u;
	int64_t	d;
	unsigned port;
	struct sg_cidr c;
	struct sockaddr_storage ss;

	memcpy(s, data, len);
	(void) sg_parse_u64(s, len, &u);
	(void) sg_parse_size(s, len, &u);
	(void) sg_parse_duration(s, len, &d);
	if (sg_cidr_parse(s, len, &c) == 0 && c.prefix > 128)
		abort();
	if (sg_hostport_parse(s, len, host, sizeof(host), &port, 25) == 0
	    && (port == 0 || port > 65535 || strlen(host) >= sizeof(host)))
		abort();
	if (sg_sockaddr_parse(s, len, &ss) == 0)
		(void) sg_cidr_match(&c, (struct sockaddr *) &ss);
	(void) sg_domain_valid(s, len);
	(void) sg_domain_pattern_valid(s, len);
	/* a peer's domain against both kinds of pattern: a match is a suffix */
	if (sg_domain_match("*.example.com", s, len)
	    && (len <= 12 || strncasecmp(s + len - 12, ".example.com", 12) != 0))
		abort();
	(void) sg_domain_match("example.com", s, len);
	if (strlen(sg_printable(out, sizeof(out), s, len)) >= sizeof(out))
		abort();
	if (sg_header_len(s, len) > len)
		abort();
	if (sg_header_get(s, len, "Subject", out, sizeof(out)) >= (int) sizeof(out))
		abort();
	free(s);
	return (0);
}
