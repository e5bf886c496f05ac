/*
 * NAME
 *	fuzz_scan 1
 * SUMMARY
 *	libFuzzer target: clamd's reply, the clamd address, the result header
 * DESCRIPTION
 *	The worker reads whatever a clamd (or anything listening where
 *	scan.clamd points) sends back; the address comes from the
 *	configuration file; the header stamp rewrites a message that came
 *	from the network. Each input goes, as an exact-length copy (a read
 *	past len trips ASan), to worker_scan_reply_parse(),
 *	worker_scan_addr_parse(), worker__scan_stamp() and
 *	sg_header_has()/sg_header_drop(). A parsed reply must have
 *	terminated, printable fields; a stamped message must start with our
 *	one field and hold no other copy in its header; smtpd's test for a
 *	forged field must agree with what the worker removes.
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "worker/worker_int.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void printable(const char *s, size_t size)
{
	const char *nul = memchr(s, 0, size);

	if (nul == NULL)
		abort();
	for (const char *c = s; c < nul; c++)
		if ((unsigned char) *c < 0x20 || (unsigned char) *c >= 0x7f)
			abort();
}

/* one_stamp - the header section of out holds exactly one field "name:" */

static void one_stamp(const struct sg_buf *out, const char *name)
{
	size_t	n = strlen(name), count = 0;
	const char *p = out->data, *end = p + out->len;

	if (out->len < n + 1 || strncasecmp(p, name, n) != 0 || p[n] != ':')
		abort();
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t) (end - p));
		const char *e = nl ? nl + 1 : end;

		if (e - p <= 2 && (*p == '\r' || *p == '\n'))
			break;
		if ((size_t) (e - p) > n && strncasecmp(p, name, n) == 0) {
			const char *c = p + n;

			while (c < e && (*c == ' ' || *c == '\t'))
				c++;
			count += c < e && *c == ':';
		}
		p = e;
	}
	if (count != 1)
		abort();
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char   *in = malloc(len ? len : 1);
	struct worker_scan_reply r;
	struct worker_scan_addr a;
	struct worker_scan_conf c = {.header = "X-Sealgate-Scan" };
	struct worker_scan_result res = {.outcome = WORKER_SCANNED_INFECTED };
	struct sg_buf out = SG_BUF_INIT;

	memcpy(in, data, len);
	if (worker_scan_reply_parse(in, len, &r) == 0) {
		printable(r.name, sizeof(r.name));
		if (r.verdict == WORKER_SCAN_FOUND && r.name[0] == 0)
			abort();
		printable(r.text, sizeof(r.text));
		snprintf(res.name, sizeof(res.name), "%s", r.name);
	}
	if (worker_scan_addr_parse(in, len, &a) == 0 && a.salen > sizeof(a.sa))
		abort();
	worker__scan_stamp(&c, &res, in, len, &out);
	one_stamp(&out, c.header);
	/* smtpd's test and the worker's removal agree */
	sg_buf_reset(&out);
	sg_header_drop(in, len, c.header, &out);
	if (sg_header_has(in, len, c.header) != (out.len != len)
	    || sg_header_has(out.data ? out.data : "", out.len, c.header))
		abort();
	sg_buf_free(&out);
	free(in);
	return (0);
}
