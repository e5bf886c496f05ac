/*
 * NAME
 *	sts_cache 3
 * SUMMARY
 *	MTA-STS policies kept in the state directory (they outlive restarts)
 * SYNOPSIS
 *	#include "delivery/delivery.h"
 *
 *	int	delivery_sts_cache_parse(buf, len, id, fetched, policy, text, textlen)
 *	int	delivery_sts_cache_write(dir, domain, id, fetched, text, len)
 *	int	delivery_sts_cache_read(dir, domain, id, fetched, policy)
 * DESCRIPTION
 *	One file per policy domain, DIR/DOMAIN (the domain is a valid DNS
 *	name in lower case, so it cannot leave DIR):
 *
 *		sealgate-sts 1
 *		id ID
 *		fetched UNIX-SECONDS
 *		(empty line)
 *		the policy exactly as it was fetched
 *
 *	The policy is kept as text and parsed again when read, by the same
 *	parser as a fetched one, so a cache file is never trusted more than
 *	the web server was. delivery_sts_cache_parse() reads such a file of
 *	exactly len bytes (disk input: anything may be in it); *text and
 *	*textlen point at the policy inside buf.
 *
 *	delivery_sts_cache_write() makes DIR when it is missing (the role
 *	runs as its user by then), writes a temporary file and renames it
 *	over the old one, so a reader sees the old or the new policy, whole.
 *	delivery_sts_cache_read() is the parse of the file, at most
 *	DELIVERY_STS_SIZE_MAX plus a header's worth of bytes.
 *
 *	sealctl reads the same files (sealctl tls check).
 * DIAGNOSTICS
 *	0, SG_ENOTFOUND (no file), SG_EIO, or SG_ECORRUPT for a file that
 *	does not parse.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "delivery.h"

#define MAGIC		"sealgate-sts 1\n"
#define HEADER_MAX	128

/* line - the next line of buf[*pos..len) without its LF; false at the end */

static bool line(const char *buf, size_t len, size_t *pos, const char **s, size_t *n)
{
	const char *nl;

	if (*pos >= len)
		return (false);
	*s = buf + *pos;
	nl = memchr(*s, '\n', len - *pos);
	if (nl == NULL)
		return (false);
	*n = (size_t) (nl - *s);
	*pos += *n + 1;
	return (true);
}

int	delivery_sts_cache_parse(const char *buf, size_t len, char id[DELIVERY_STS_ID_MAX + 1],
				 int64_t *fetched, struct delivery_sts_policy *p,
				 const char **text, size_t *textlen)
{
	size_t	pos = 0, n;
	const char *s;
	uint64_t t;

	*id = 0;
	if (len < sizeof(MAGIC) - 1 || memcmp(buf, MAGIC, sizeof(MAGIC) - 1) != 0)
		return (SG_ECORRUPT);
	pos = sizeof(MAGIC) - 1;
	if (!line(buf, len, &pos, &s, &n) || n < 4 || n - 3 > DELIVERY_STS_ID_MAX
	    || memcmp(s, "id ", 3) != 0)
		return (SG_ECORRUPT);
	for (size_t i = 3; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z')
		      || (s[i] >= 'A' && s[i] <= 'Z')))
			return (SG_ECORRUPT);
	memcpy(id, s + 3, n - 3);
	id[n - 3] = 0;
	if (!line(buf, len, &pos, &s, &n) || n < 9 || n > 28 || memcmp(s, "fetched ", 8) != 0
	    || sg_parse_u64(s + 8, n - 8, &t) < 0 || t > (uint64_t) INT64_MAX / 2)
		return (SG_ECORRUPT);
	*fetched = (int64_t) t;
	if (!line(buf, len, &pos, &s, &n) || n != 0)
		return (SG_ECORRUPT);
	*text = buf + pos;
	*textlen = len - pos;
	if (delivery_sts_policy_parse(*text, *textlen, p) < 0)
		return (SG_ECORRUPT);
	return (0);
}

int	delivery_sts_cache_write(const char *dir, const char *domain, const char *id,
				 int64_t fetched, const char *text, size_t len)
{
	char	path[4096], head[HEADER_MAX];
	int	n;

	if (snprintf(path, sizeof(path), "%s/%s", dir, domain) >= (int) sizeof(path))
		return (SG_EINVAL);
	n = snprintf(head, sizeof(head), MAGIC "id %s\nfetched %lld\n\n", id, (long long) fetched);
	if (n < 0 || n >= (int) sizeof(head))
		return (SG_EINVAL);
	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		return (SG_EIO);
	return (sg_fs_replace(path, (struct sg_fs_part[]) {{head, (size_t) n}, {text, len}}, 2,
			      0640));
}

int	delivery_sts_cache_read(const char *dir, const char *domain,
				char id[DELIVERY_STS_ID_MAX + 1], int64_t *fetched,
				struct delivery_sts_policy *p)
{
	char	path[4096], *buf;
	const char *text;
	size_t	textlen, len;
	int	rc;

	if (snprintf(path, sizeof(path), "%s/%s", dir, domain) >= (int) sizeof(path))
		return (SG_EINVAL);
	if ((rc = sg_fs_read(path, DELIVERY_STS_SIZE_MAX + HEADER_MAX, &buf, &len)) < 0)
		return (rc == SG_ELIMIT ? SG_ECORRUPT : rc);
	rc = delivery_sts_cache_parse(buf, len, id, fetched, p, &text, &textlen);
	free(buf);
	return (rc);
}
