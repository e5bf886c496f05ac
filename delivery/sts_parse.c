/*
 * NAME
 *	sts_parse 3
 * SUMMARY
 *	MTA-STS (RFC 8461): the TXT record, the policy file, MX patterns
 * SYNOPSIS
 *	#include "delivery/delivery.h"
 *
 *	int	delivery_sts_txt_parse(txt, len, id)
 *	int	delivery_sts_policy_parse(buf, len, policy)
 *	bool	delivery_sts_mx_match(policy, host)
 * DESCRIPTION
 *	delivery_sts_txt_parse() reads one TXT record of _mta-sts.DOMAIN,
 *	its strings already joined: "v=STSv1; id=ID;" with fields separated
 *	by ";" and optional blanks (RFC 8461 3.1). v=STSv1 must come first,
 *	id must be 1 to 32 letters and digits; other fields need a valid
 *	name and are ignored. The id goes to id (NUL-terminated; "" when the
 *	record is refused).
 *
 *	delivery_sts_policy_parse() reads the policy text (RFC 8461 3.2):
 *	"key: value" lines ended by CRLF or LF; "version: STSv1", "mode"
 *	(enforce, testing, none), "max_age" (0 to 31557600 seconds) and,
 *	unless the mode is none, at least one "mx" (a host name or
 *	"*.name"; at most DELIVERY_STS_MX_MAX are kept, the rest ignored).
 *	Unknown keys are ignored, a key given twice (but mx) is an error.
 *	Lines longer than 1000 bytes and input beyond DELIVERY_STS_SIZE_MAX
 *	are refused.
 *
 *	delivery_sts_mx_match() compares without regard to case or a
 *	trailing dot; "*.example.com" matches exactly one more label on the
 *	left (mail.example.com, not a.b.example.com nor example.com).
 * DIAGNOSTICS
 *	The parsers return 0 or SG_EINVAL; nothing past len is read.
 */

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "delivery_int.h"

#define LINE_MAX_STS	1000

static bool blank(char c)
{
	return (c == ' ' || c == '\t');
}

static bool alnum(char c)
{
	return ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
}

int	delivery_sts_txt_parse(const char *txt, size_t len, char id[DELIVERY_STS_ID_MAX + 1])
{
	struct dl_tag t;
	size_t	pos = 0, nfield = 0;
	bool	have_id = false;
	int	rc;

	*id = 0;
	while ((rc = dl_tag_next(txt, len, &pos, &t)) == 1) {
		if (nfield++ == 0) {
			if (!dl_tag_is(&t, "v") || t.vlen != 5 || memcmp(t.value, "STSv1", 5) != 0)
				break;
			continue;
		}
		if (!dl_tag_is(&t, "id"))
			continue;
		if (have_id || t.vlen == 0 || t.vlen > DELIVERY_STS_ID_MAX)
			break;
		for (size_t i = 0; i < t.vlen; i++)
			if (!alnum(t.value[i]))
				goto bad;
		memcpy(id, t.value, t.vlen);
		id[t.vlen] = 0;
		have_id = true;
	}
	if (rc == 0 && have_id)
		return (0);
bad:
	*id = 0;
	return (SG_EINVAL);
}

/* mx_valid - a host name, or "*." and a host name */

static bool mx_valid(const char *v, size_t n)
{
	if (n >= 2 && v[0] == '*' && v[1] == '.')
		v += 2, n -= 2;
	return (n > 0 && n < 254 && sg_domain_valid(v, n));
}

/* field - one "key: value" line into p; seen marks keys already given */

static int field(const char *k, size_t kl, const char *v, size_t vl,
		 struct delivery_sts_policy *p, unsigned *seen)
{
	if (kl == 7 && memcmp(k, "version", 7) == 0) {
		if ((*seen & 1) || vl != 5 || memcmp(v, "STSv1", 5) != 0)
			return (SG_EINVAL);
		*seen |= 1;
	} else if (kl == 4 && memcmp(k, "mode", 4) == 0) {
		if (*seen & 2)
			return (SG_EINVAL);
		if (vl == 7 && memcmp(v, "enforce", 7) == 0)
			p->mode = DELIVERY_STS_ENFORCE;
		else if (vl == 7 && memcmp(v, "testing", 7) == 0)
			p->mode = DELIVERY_STS_TESTING;
		else if (vl == 4 && memcmp(v, "none", 4) == 0)
			p->mode = DELIVERY_STS_NONE;
		else
			return (SG_EINVAL);
		*seen |= 2;
	} else if (kl == 7 && memcmp(k, "max_age", 7) == 0) {
		uint64_t age;

		if ((*seen & 4) || vl > 10 || sg_parse_u64(v, vl, &age) < 0
		    || age > DELIVERY_STS_MAX_AGE)
			return (SG_EINVAL);
		for (size_t i = 0; i < vl; i++)
			if (v[i] < '0' || v[i] > '9')
				return (SG_EINVAL);
		p->max_age = (int64_t) age;
		*seen |= 4;
	} else if (kl == 2 && memcmp(k, "mx", 2) == 0) {
		if (!mx_valid(v, vl))
			return (SG_EINVAL);
		if (p->nmx < DELIVERY_STS_MX_MAX) {
			memcpy(p->mx[p->nmx], v, vl);
			p->mx[p->nmx][vl] = 0;
			if (p->mx[p->nmx][vl - 1] == '.')
				p->mx[p->nmx][vl - 1] = 0;
			p->nmx++;
		}
		*seen |= 8;
	}
	return (0);
}

int	delivery_sts_policy_parse(const char *buf, size_t len, struct delivery_sts_policy *p)
{
	size_t	pos = 0;
	unsigned seen = 0;

	memset(p, 0, sizeof(*p));
	if (len > DELIVERY_STS_SIZE_MAX)
		return (SG_EINVAL);
	while (pos < len) {
		size_t	start = pos, end, colon, vs;

		while (pos < len && buf[pos] != '\n')
			pos++;
		end = pos;
		if (pos < len)
			pos++;
		if (end > start && buf[end - 1] == '\r')
			end--;
		if (end - start > LINE_MAX_STS)
			return (SG_EINVAL);
		if (end == start)
			continue;
		for (colon = start; colon < end && buf[colon] != ':'; colon++)
			;
		if (colon == end || colon == start)
			return (SG_EINVAL);
		for (vs = colon + 1; vs < end && blank(buf[vs]); vs++)
			;
		while (end > vs && blank(buf[end - 1]))
			end--;
		if (field(buf + start, colon - start, buf + vs, end - vs, p, &seen) < 0)
			return (SG_EINVAL);
	}
	/* version, mode and max_age are required; mx unless the mode is none */
	if ((seen & 7) != 7 || (p->mode != DELIVERY_STS_NONE && p->nmx == 0))
		return (SG_EINVAL);
	return (0);
}

/* same - equal ignoring case and a trailing dot on b */

static bool same(const char *a, size_t la, const char *b, size_t lb)
{
	if (lb && b[lb - 1] == '.')
		lb--;
	return (la == lb && strncasecmp(a, b, la) == 0);
}

bool	delivery_sts_mx_match(const struct delivery_sts_policy *p, const char *host)
{
	size_t	hl = strlen(host);

	for (size_t i = 0; i < p->nmx; i++) {
		const char *m = p->mx[i];
		size_t	ml = strlen(m);

		if (ml > 2 && m[0] == '*' && m[1] == '.') {
			const char *dot = memchr(host, '.', hl);

			if (dot && dot != host && same(m + 2, ml - 2, dot + 1, hl - (size_t) (dot + 1 - host)))
				return (true);
		} else if (same(m, ml, host, hl)) {
			return (true);
		}
	}
	return (false);
}
