/*
 * NAME
 *	tlsrpt_report 3
 * SUMMARY
 *	the TLS-RPT report mail: JSON (RFC 8460 4), gzip, multipart/report (5.3)
 * SYNOPSIS
 *	#include "delivery/delivery.h"
 *
 *	int	delivery_tlsrpt_report(in, mail, json)
 * DESCRIPTION
 *	The JSON has one "policies" entry per policy type and MX host seen
 *	for the domain, each with its summary counts and failure details
 *	(result-type, receiving-mx-hostname, receiving-ip, failed-session-
 *	count). Strings are JSON-escaped; numbers are counts. json gets the
 *	report itself (for sealctl and tests), mail the whole message: the
 *	report compressed with zlib's gzip wrapper, base64 in 76-column
 *	lines, as application/tlsrpt+gzip with the file name RFC 8460 5.3
 *	gives (submitter!domain!start!end.json.gz), the headers
 *	TLS-Report-Domain and TLS-Report-Submitter, and a text part.
 * DIAGNOSTICS
 *	0, or SG_ENOMEM when zlib fails.
 */

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "delivery.h"

static void jstr(struct sg_buf *b, const char *s)
{
	sg_buf_json(b, s, strlen(s));
}

static void iso(char *buf, size_t len, int64_t t)
{
	time_t	tt = (time_t) t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* policy_strings - the lines of the STS policy, as RFC 8460 4.4 asks */

static void policy_strings(struct sg_buf *b, const char *p, size_t len)
{
	size_t	pos = 0;
	bool	first = true;

	sg_buf_puts(b, "\"policy-string\":[");
	while (p && pos < len) {
		const char *nl = memchr(p + pos, '\n', len - pos);
		size_t	n = nl ? (size_t) (nl - (p + pos)) : len - pos;
		char	line[1024];

		if (n && p[pos + n - 1] == '\r')
			n--;
		if (n && n < sizeof(line)) {
			memcpy(line, p + pos, n);
			line[n] = 0;
			sg_buf_puts(b, first ? "" : ",");
			jstr(b, line);
			first = false;
		}
		pos += (nl ? (size_t) (nl - (p + pos)) + 1 : len - pos);
	}
	sg_buf_puts(b, "]");
}

/* one_policy - the entry of (type, mx): summary and failure details */

static void one_policy(struct sg_buf *b, const struct delivery_tlsrpt_report *in,
		       const struct delivery_tlsrpt_line *key)
{
	uint64_t ok = 0, bad = 0;
	bool	first = true;

	sg_buf_puts(b, "{\"policy\":{\"policy-type\":");
	jstr(b, key->type);
	sg_buf_puts(b, ",");
	policy_strings(b, strcmp(key->type, "sts") == 0 ? in->sts_policy : NULL,
		       in->sts_policy_len);
	sg_buf_puts(b, ",\"policy-domain\":");
	jstr(b, in->domain);
	sg_buf_puts(b, ",\"mx-host\":[");
	jstr(b, key->mx);
	sg_buf_puts(b, "]},");
	for (size_t i = 0; i < in->nlines; i++) {
		const struct delivery_tlsrpt_line *l = &in->lines[i];

		if (strcmp(l->type, key->type) || strcmp(l->mx, key->mx))
			continue;
		if (strcmp(l->result, "success") == 0)
			ok += l->count;
		else
			bad += l->count;
	}
	sg_buf_printf(b, "\"summary\":{\"total-successful-session-count\":%llu,"
		      "\"total-failure-session-count\":%llu},\"failure-details\":[",
		      (unsigned long long) ok, (unsigned long long) bad);
	for (size_t i = 0; i < in->nlines; i++) {
		const struct delivery_tlsrpt_line *l = &in->lines[i];

		if (strcmp(l->type, key->type) || strcmp(l->mx, key->mx)
		    || strcmp(l->result, "success") == 0)
			continue;
		sg_buf_puts(b, first ? "{\"result-type\":" : ",{\"result-type\":");
		jstr(b, l->result);
		sg_buf_puts(b, ",\"receiving-mx-hostname\":");
		jstr(b, l->mx);
		if (strcmp(l->ip, "-") != 0) {
			sg_buf_puts(b, ",\"receiving-ip\":");
			jstr(b, l->ip);
		}
		sg_buf_printf(b, ",\"failed-session-count\":%llu}", (unsigned long long) l->count);
		first = false;
	}
	sg_buf_puts(b, "]}");
}

static void json(const struct delivery_tlsrpt_report *in, struct sg_buf *b)
{
	char	s[32], e[32], id[320];
	bool	first = true;

	iso(s, sizeof(s), in->start);
	iso(e, sizeof(e), in->end - 1);
	snprintf(id, sizeof(id), "%lld.%s@%s", (long long) in->start, in->domain, in->submitter);
	sg_buf_puts(b, "{\"organization-name\":");
	jstr(b, in->submitter);
	sg_buf_printf(b, ",\"date-range\":{\"start-datetime\":\"%s\",\"end-datetime\":\"%s\"},"
		      "\"contact-info\":", s, e);
	sg_buf_puts(b, "\"postmaster@");
	sg_buf_puts(b, in->submitter);
	sg_buf_puts(b, "\",\"report-id\":");
	jstr(b, id);
	sg_buf_puts(b, ",\"policies\":[");
	for (size_t i = 0; i < in->nlines; i++) {
		bool	seen = false;

		for (size_t j = 0; j < i && !seen; j++)
			seen = !strcmp(in->lines[j].type, in->lines[i].type)
				&& !strcmp(in->lines[j].mx, in->lines[i].mx);
		if (seen)
			continue;
		sg_buf_puts(b, first ? "" : ",");
		one_policy(b, in, &in->lines[i]);
		first = false;
	}
	sg_buf_puts(b, "]}\n");
}

static int gzip(const struct sg_buf *in, struct sg_buf *out)
{
	z_stream z = {0};
	int	rc;

	/* windowBits 15 + 16: the gzip wrapper RFC 8460 5.3 asks for (RFC 1952) */
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return (SG_ENOMEM);
	sg_buf_reserve(out, deflateBound(&z, (uLong) in->len));
	z.next_in = (Bytef *) in->data;
	z.avail_in = (uInt) in->len;
	z.next_out = (Bytef *) out->data + out->len;
	z.avail_out = (uInt) (out->cap - out->len);
	rc = deflate(&z, Z_FINISH);
	out->len += z.total_out;
	deflateEnd(&z);
	return (rc == Z_STREAM_END ? 0 : SG_ENOMEM);
}

static void base64_lines(const unsigned char *p, size_t n, struct sg_buf *b)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t	col = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t) p[i] << 16 | (i + 1 < n ? (uint32_t) p[i + 1] << 8 : 0)
			| (i + 2 < n ? p[i + 2] : 0);
		char	q[4] = {tab[v >> 18], tab[(v >> 12) & 63],
			i + 1 < n ? tab[(v >> 6) & 63] : '=', i + 2 < n ? tab[v & 63] : '='};

		sg_buf_append(b, q, 4);
		if ((col += 4) == 76) {
			sg_buf_puts(b, "\r\n");
			col = 0;
		}
	}
	if (col)
		sg_buf_puts(b, "\r\n");
}

int	delivery_tlsrpt_report(const struct delivery_tlsrpt_report *in, struct sg_buf *mail,
			       struct sg_buf *js)
{
	struct sg_buf gz = SG_BUF_INIT;
	char	date[64], bnd[64];
	time_t	now = time(NULL);
	struct tm tm;

	json(in, js);
	if (gzip(js, &gz) < 0) {
		sg_buf_free(&gz);
		return (SG_ENOMEM);
	}
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	snprintf(bnd, sizeof(bnd), "tlsrpt-%lld-%zu", (long long) in->start, js->len);
	sg_buf_printf(mail, "From: TLS reports <postmaster@%s>\r\nTo: ", in->submitter);
	for (size_t i = 0; i < in->rua->n; i++)
		sg_buf_printf(mail, "%s<%s>", i ? ", " : "", in->rua->addr[i]);
	sg_buf_printf(mail, "\r\nSubject: Report Domain: %s Submitter: %s Report-ID: "
		      "<%lld.%s@%s>\r\nDate: %s\r\nMessage-ID: <%lld.%s.tlsrpt@%s>\r\n"
		      "TLS-Report-Domain: %s\r\nTLS-Report-Submitter: %s\r\nMIME-Version: 1.0\r\n"
		      "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n"
		      "\tboundary=\"%s\"\r\n\r\n--%s\r\nContent-Type: text/plain; charset=us-ascii"
		      "\r\n\r\nThis is an aggregate TLS report (RFC 8460) from %s for %s.\r\n\r\n"
		      "--%s\r\nContent-Type: application/tlsrpt+gzip\r\n"
		      "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment;\r\n"
		      "\tfilename=\"%s!%s!%lld!%lld.json.gz\"\r\n\r\n",
		      in->domain, in->submitter, (long long) in->start, in->domain, in->submitter,
		      date, (long long) in->start, in->domain, in->submitter, in->domain,
		      in->submitter, bnd, bnd, in->submitter, in->domain, bnd, in->submitter,
		      in->domain, (long long) in->start, (long long) in->end);
	base64_lines((const unsigned char *) gz.data, gz.len, mail);
	sg_buf_printf(mail, "\r\n--%s--\r\n", bnd);
	sg_buf_free(&gz);
	return (0);
}
