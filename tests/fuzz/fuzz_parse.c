/*
 * NAME
 *	fuzz_parse 1
 * SUMMARY
 *	libFuzzer target: common/ parsers of numbers, addresses and text
 * DESCRIPTION
 *	Feeds the same bytes, with their exact length, to every parser in
 *	common/ that reads configuration or peer-supplied text. A parser that
 *	reads past len trips ASan because the copy below has no slack. The
 *	configuration scanner's callbacks check that every span they get
 *	lies inside the input.
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/sg.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static const char *in_start, *in_end;

static void inside(const char *p, size_t n)
{
	if (n > 0 && (p < in_start || p + n > in_end))
		abort();
}

static void on_adjacent(void *arg, unsigned line, const char *a, size_t alen,
			const char *b, size_t blen, bool in_list)
{
	(void) arg;
	(void) in_list;
	if (line == 0)
		abort();
	inside(a, alen);
	inside(b, blen);
}

static void on_named(void *arg, unsigned line, const char *name, size_t namelen,
		     const char *v, size_t vlen)
{
	(void) arg;
	if (line == 0 || namelen == 0)
		abort();
	inside(name, namelen);
	inside(v, vlen);
}

static void on_include(void *arg, unsigned line, const char *path, size_t n)
{
	(void) arg;
	(void) line;
	inside(path, n);
}

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
	static const struct sg_conf_scan_ops ops = {on_adjacent, on_named, on_named, on_include};

	in_start = s;
	in_end = s + len;
	sg_conf_scan(s, len, &ops, NULL);
	free(s);
	return (0);
}
