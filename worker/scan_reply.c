/*
 * NAME
 *	scan_reply 3
 * SUMMARY
 *	clamd's answer to zINSTREAM, and the clamd address, read with a length
 * SYNOPSIS
 *	#include "worker/worker.h"
 *
 *	int	worker_scan_reply_parse(p, len, reply)
 *
 *	int	worker_scan_addr_parse(p, len, addr)
 * DESCRIPTION
 *	worker_scan_reply_parse() reads what clamd sent back for one
 *	stream, without its final NUL: "stream: OK" (clean), "stream: NAME
 *	FOUND" (NAME is the signature, e.g. "Win.Test.EICAR_HDB-1"),
 *	"INSTREAM size limit exceeded. ERROR" (clamd's StreamMaxLength is
 *	below what we sent) or anything else ending in " ERROR". The
 *	"stream: " prefix is optional (clamd leaves it out of some errors);
 *	trailing line ends are ignored. Anything else is SG_EPROTO: a reply
 *	we do not understand never counts as clean.
 *
 *	A signature name is what goes into the result header, the incident
 *	and the log, so it is made printable (sg_printable) and cut at
 *	WORKER_SCAN_NAME_MAX - 1 bytes; so is an error text.
 *
 *	worker_scan_addr_parse() turns the configured clamd address into a
 *	socket address: "/run/clamav/clamd.ctl" (absolute, shorter than a
 *	Unix socket path may be) or a numeric "127.0.0.1:3310" /
 *	"[::1]:3310". A host name is refused: resolving it would put a DNS
 *	look-up on every message's path.
 * DIAGNOSTICS
 *	Both return 0 or a negative sg_err (SG_EPROTO, SG_EINVAL).
 */

#include <string.h>
#include <sys/un.h>

#include "worker.h"

#define FOUND_SUFFIX	" FOUND"
#define ERROR_SUFFIX	" ERROR"
#define SIZE_LIMIT	"INSTREAM size limit exceeded."
#define PREFIX		"stream: "

static bool ends_with(const char *p, size_t len, const char *suffix)
{
	size_t	n = strlen(suffix);

	return (len >= n && memcmp(p + len - n, suffix, n) == 0);
}

static bool starts_with(const char *p, size_t len, const char *prefix)
{
	size_t	n = strlen(prefix);

	return (len >= n && memcmp(p, prefix, n) == 0);
}

int	worker_scan_reply_parse(const char *p, size_t len, struct worker_scan_reply *r)
{
	memset(r, 0, sizeof(*r));
	r->verdict = WORKER_SCAN_ERROR;
	while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r' || p[len - 1] == 0))
		len--;
	if (starts_with(p, len, PREFIX)) {
		p += strlen(PREFIX);
		len -= strlen(PREFIX);
	}
	if (len == 2 && memcmp(p, "OK", 2) == 0) {
		r->verdict = WORKER_SCAN_CLEAN;
		return (0);
	}
	if (ends_with(p, len, FOUND_SUFFIX) && len > strlen(FOUND_SUFFIX)) {
		r->verdict = WORKER_SCAN_FOUND;
		sg_printable(r->name, sizeof(r->name), p, len - strlen(FOUND_SUFFIX));
		return (0);
	}
	if (ends_with(p, len, ERROR_SUFFIX)) {
		len -= strlen(ERROR_SUFFIX);
		if (starts_with(p, len, SIZE_LIMIT))
			r->verdict = WORKER_SCAN_SIZE_LIMIT;
		sg_printable(r->text, sizeof(r->text), p, len);
		return (0);
	}
	sg_printable(r->text, sizeof(r->text), p, len);
	return (SG_EPROTO);
}

int	worker_scan_addr_parse(const char *p, size_t len, struct worker_scan_addr *a)
{
	struct sockaddr_un *un = (struct sockaddr_un *) &a->sa;

	memset(a, 0, sizeof(*a));
	if (len > 0 && p[0] == '/') {
		if (len >= sizeof(un->sun_path) || memchr(p, 0, len) != NULL)
			return (SG_EINVAL);
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, p, len);
		a->salen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len + 1);
		return (0);
	}
	if (sg_sockaddr_parse(p, len, &a->sa) < 0)
		return (SG_EINVAL);
	a->salen = a->sa.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		: sizeof(struct sockaddr_in);
	return (0);
}
