/*
 * NAME
 *	parse 3
 * SUMMARY
 *	numbers, sizes, durations, addresses and domains with explicit lengths
 * SYNOPSIS
 *	#include "common/sg.h"
 *
 *	int	sg_parse_u64(s, len, out)
 *	int	sg_parse_size(s, len, bytes)
 *	int	sg_parse_duration(s, len, msec)
 *	int	sg_cidr_parse(s, len, cidr)
 *	int	sg_hostport_parse(s, len, host, hostlen, port, defport)
 *	bool	sg_domain_valid(s, len)
 *	bool	sg_domain_pattern_valid(s, len)
 *	bool	sg_domain_match(pattern, d, len)
 *	bool	sg_domain_listed(list, d, len)
 *	size_t	sg_utf8_len(s, len)
 *	int	sg_base64_value(c)
 *	size_t	sg_line_end(s, len)
 * DESCRIPTION
 *	Every parser reads exactly len bytes (no NUL needed), rejects
 *	overflow instead of wrapping, and returns 0 or SG_EINVAL.
 *
 *	Sizes take an optional K, M or G suffix (powers of 1024). Durations
 *	take ms, s, m, h, d or w; a bare number means seconds.
 *
 *	sg_utf8_len() is the length of the well-formed UTF-8 sequence at s
 *	(2 to 4 bytes; no overlong form, surrogate or code point beyond
 *	U+10FFFF), or 0: for parsers and printers of peer text.
 *
 *	sg_line_end() is where the first CR or LF in s lies (len: none),
 *	found eight bytes at a time: the one search for a line's end in the
 *	readers and writers of message text, so that none of them looks
 *	further than the line it is on (two searches, one for each byte,
 *	each to the end of the buffer, cost time in the square of a body of
 *	bare line ends).
 *
 *	sg_base64_value() is the 6-bit value of a base64 letter (RFC 4648's
 *	alphabet; '=' and everything else -1), for the MIME and the RFC 2047
 *	decoders, which differ only in what they allow around the letters.
 *
 *	A domain pattern is a domain, matched exactly, or "*.parent", which
 *	matches every name below parent but not parent itself (list both
 *	for both). Matching ignores case. sg_domain_listed() asks whether
 *	any pattern of a list matches; every list of domains in the
 *	configuration (own_domains, routes, TLS policies) and the rules'
 *	"*.domain" use these, so they cannot disagree.
 */

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sg.h"

int	sg_parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return (SG_EINVAL);
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (SG_EINVAL);
		unsigned d = (unsigned) (s[i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return (SG_EINVAL);
		v = v * 10 + d;
	}
	*out = v;
	return (0);
}

/* split_unit - the numeric prefix and the unit that follows it */

static size_t split_unit(const char *s, size_t len)
{
	size_t	n = 0;

	while (n < len && s[n] >= '0' && s[n] <= '9')
		n++;
	return (n);
}

static int scale(uint64_t v, uint64_t mul, uint64_t *out)
{
	if (mul && v > UINT64_MAX / mul)
		return (SG_EINVAL);
	*out = v * mul;
	return (0);
}

int	sg_parse_size(const char *s, size_t len, uint64_t *bytes)
{
	size_t	n = split_unit(s, len);
	uint64_t v, mul;

	if (sg_parse_u64(s, n, &v) < 0)
		return (SG_EINVAL);
	if (n == len)
		mul = 1;
	else if (len - n == 1 && strchr("kK", s[n]))
		mul = 1ULL << 10;
	else if (len - n == 1 && strchr("mM", s[n]))
		mul = 1ULL << 20;
	else if (len - n == 1 && strchr("gG", s[n]))
		mul = 1ULL << 30;
	else
		return (SG_EINVAL);
	return (scale(v, mul, bytes));
}

int	sg_parse_duration(const char *s, size_t len, int64_t *msec)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {
		{"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000},
		{"h", 3600000}, {"d", 86400000}, {"w", 604800000},
	};
	size_t	n = split_unit(s, len);
	uint64_t v, r;

	if (sg_parse_u64(s, n, &v) < 0)
		return (SG_EINVAL);
	for (size_t i = 0; i < SG_NELEM(units); i++) {
		if (strlen(units[i].unit) == len - n
		    && memcmp(units[i].unit, s + n, len - n) == 0) {
			if (scale(v, units[i].ms, &r) < 0 || r > INT64_MAX)
				return (SG_EINVAL);
			*msec = (int64_t) r;
			return (0);
		}
	}
	return (SG_EINVAL);
}

/* parse_ip - a numeric IPv4 or IPv6 address of exactly len bytes */

static int parse_ip(const char *s, size_t len, int *family, uint8_t addr[16])
{
	char	tmp[INET6_ADDRSTRLEN + 1];

	if (len == 0 || len >= sizeof(tmp))
		return (SG_EINVAL);
	memcpy(tmp, s, len);
	tmp[len] = 0;
	if (inet_pton(AF_INET, tmp, addr) == 1) {
		*family = AF_INET;
		return (0);
	}
	if (inet_pton(AF_INET6, tmp, addr) == 1) {
		*family = AF_INET6;
		return (0);
	}
	return (SG_EINVAL);
}

int	sg_cidr_parse(const char *s, size_t len, struct sg_cidr *out)
{
	const char *slash = memchr(s, '/', len);
	size_t	iplen = slash ? (size_t) (slash - s) : len;
	unsigned max;
	uint64_t prefix;

	memset(out, 0, sizeof(*out));
	if (parse_ip(s, iplen, &out->family, out->addr) < 0)
		return (SG_EINVAL);
	max = out->family == AF_INET ? 32 : 128;
	if (slash == NULL) {
		out->prefix = max;
		return (0);
	}
	if (sg_parse_u64(slash + 1, len - iplen - 1, &prefix) < 0 || prefix > max)
		return (SG_EINVAL);
	out->prefix = (unsigned) prefix;
	return (0);
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, bytes) != 0)
		return (false);
	if (rest == 0)
		return (true);
	uint8_t	mask = (uint8_t) (0xff << (8 - rest));

	return ((a[bytes] & mask) == (b[bytes] & mask));
}

/* sg_cidr_match - does sa fall in the network (v4-mapped v6 counts as v4) */

bool	sg_cidr_match(const struct sg_cidr *c, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET && c->family == AF_INET) {
		const struct sockaddr_in *in = (const void *) sa;

		return (prefix_equal(c->addr, (const uint8_t *) &in->sin_addr, c->prefix));
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *) sa;
		const uint8_t *a = in6->sin6_addr.s6_addr;

		if (c->family == AF_INET6)
			return (prefix_equal(c->addr, a, c->prefix));
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			return (prefix_equal(c->addr, a + 12, c->prefix));
	}
	return (false);
}

bool	sg_cidrlist_match(const struct sg_cidrlist *l, const struct sockaddr *sa)
{
	for (size_t i = 0; i < l->n; i++)
		if (sg_cidr_match(&l->v[i], sa))
			return (true);
	return (false);
}

int	sg_hostport_parse(const char *s, size_t len, char *host, size_t hostlen,
			  unsigned *port, unsigned defport)
{
	const char *h = s, *colon;
	size_t	hl;
	uint64_t p;

	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (close == NULL)
			return (SG_EINVAL);
		h = s + 1;
		hl = (size_t) (close - h);
		colon = close + 1 < s + len ? close + 1 : NULL;
		if (colon && *colon != ':')
			return (SG_EINVAL);
	} else {
		colon = memchr(s, ':', len);
		hl = colon ? (size_t) (colon - s) : len;
		if (colon && memchr(colon + 1, ':', len - hl - 1))
			return (SG_EINVAL);	/* bare IPv6 needs brackets */
	}
	if (hl == 0 || hl >= hostlen)
		return (SG_EINVAL);
	if (colon == NULL) {
		if (defport == 0)
			return (SG_EINVAL);
		p = defport;
	} else if (sg_parse_u64(colon + 1, (size_t) (s + len - colon - 1), &p) < 0
		   || p == 0 || p > 65535) {
		return (SG_EINVAL);
	}
	memcpy(host, h, hl);
	host[hl] = 0;
	if (s[0] != '[' && !sg_domain_valid(host, hl)) {
		int	fam;
		uint8_t	a[16];

		if (parse_ip(host, hl, &fam, a) < 0)
			return (SG_EINVAL);
	}
	*port = (unsigned) p;
	return (0);
}

int	sg_sockaddr_parse(const char *s, size_t len, struct sockaddr_storage *ss)
{
	char	host[256];
	unsigned port;
	int	fam;
	uint8_t	a[16];

	if (sg_hostport_parse(s, len, host, sizeof(host), &port, 0) < 0
	    || parse_ip(host, strlen(host), &fam, a) < 0)
		return (SG_EINVAL);
	memset(ss, 0, sizeof(*ss));
	if (fam == AF_INET) {
		struct sockaddr_in *in = (void *) ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t) port);
		memcpy(&in->sin_addr, a, 4);
	} else {
		struct sockaddr_in6 *in6 = (void *) ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t) port);
		memcpy(&in6->sin6_addr, a, 16);
	}
	return (0);
}

const char *sg_sockaddr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *src = sa->sa_family == AF_INET6
	? (const void *) &((const struct sockaddr_in6 *) (const void *) sa)->sin6_addr
	: (const void *) &((const struct sockaddr_in *) (const void *) sa)->sin_addr;

	if ((sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
	    || inet_ntop(sa->sa_family, src, buf, (socklen_t) len) == NULL)
		snprintf(buf, len, "unknown");
	return (buf);
}

/* sg_domain_valid - RFC 1035 host name syntax: letters, digits, hyphens */

bool	sg_domain_valid(const char *s, size_t len)
{
	size_t	label = 0;

	if (len == 0 || len > 253)
		return (false);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return (false);
			label = 0;
			continue;
		}
		if (!(isalnum(c) || c == '-' || c == '_') || ++label > 63)
			return (false);
		if (c == '-' && label == 1)
			return (false);
	}
	return (label > 0 && s[len - 1] != '-');
}

/* sg_utf8_len - length of the well-formed UTF-8 sequence at s, or 0 */

size_t	sg_utf8_len(const unsigned char *s, size_t len)
{
	size_t	n;
	unsigned cp;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return (0);
	if (n > len)
		return (0);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return (0);
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates and beyond U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff))
	    || (cp >= 0xd800 && cp <= 0xdfff))
		return (0);
	return (n);
}

bool	sg_domain_pattern_valid(const char *s, size_t len)
{
	if (len > 2 && s[0] == '*' && s[1] == '.')
		return (sg_domain_valid(s + 2, len - 2));
	return (sg_domain_valid(s, len));
}

bool	sg_domain_match(const char *pattern, const char *d, size_t len)
{
	size_t	n = strlen(pattern);

	if (n > 2 && pattern[0] == '*' && pattern[1] == '.') {
		/* ".parent" at the end, after at least one label of d's own */
		n--;
		return (len > n && strncasecmp(d + len - n, pattern + 1, n) == 0);
	}
	return (n == len && strncasecmp(pattern, d, len) == 0);
}

bool	sg_domain_listed(const struct sg_strlist *l, const char *d, size_t len)
{
	for (size_t i = 0; i < l->n; i++)
		if (sg_domain_match(l->v[i], d, len))
			return (true);
	return (false);
}

int64_t	sg_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

int64_t	sg_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

int	sg_base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return (c - 'A');
	if (c >= 'a' && c <= 'z')
		return (c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (c - '0' + 52);
	return (c == '+' ? 62 : c == '/' ? 63 : -1);
}

size_t	sg_line_end(const char *s, size_t len)
{
	size_t	i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, s + i, 8);
		if (sg_byte_is(w, '\r') | sg_byte_is(w, '\n'))
			break;
	}
	while (i < len && s[i] != '\r' && s[i] != '\n')
		i++;
	return (i);
}
