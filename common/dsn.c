/*
 * NAME
 *	dsn 3
 * SUMMARY
 *	RFC 3464 delivery status notifications (bounces, delays, successes)
 * SYNOPSIS
 *	#include "common/sg.h"
 *
 *	int	sg_dsn_build(dsn, out)
 * DESCRIPTION
 *	sg_dsn_build() appends one complete message to out: headers
 *	(From MAILER-DAEMON at the reporting MTA, To the envelope sender,
 *	Auto-Submitted: auto-replied) and a multipart/report body
 *	(RFC 6522) with three parts: a human-readable text/plain
 *	explanation, the message/delivery-status part with one per-message
 *	block and one block per recipient, and the original as
 *	message/rfc822 (RET=FULL) or its header section as
 *	text/rfc822-headers. An explanation, when given, is a paragraph of
 *	the human-readable part. A diagnostic is typed "smtp" (a remote
 *	reply) unless the recipient says otherwise ("X-Sealgate" for a
 *	failure of the gateway's own, as Postfix writes "X-Postfix").
 *
 *	Remote replies are untrusted: they are cut at the first CR or LF
 *	so no one can inject header fields into the report. Lines of the
 *	original are passed on as they are; its header section is found at
 *	the first empty line.
 *
 *	The caller sends the result with the null sender, so a DSN never
 *	causes another.
 * DIAGNOSTICS
 *	0, or SG_EINVAL for a DSN to the null sender or with no recipient.
 */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sg.h"

static void rfc5322_date(int64_t ms, char *buf, size_t len)
{
	time_t	t = (time_t) (ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* put_field - "Name: value" with value cut at a line break and made ASCII */

static void put_field(struct sg_buf *b, const char *name, const char *v)
{
	sg_buf_printf(b, "%s: ", name);
	for (size_t i = 0; v[i] && i < 900; i++) {
		unsigned char c = (unsigned char) v[i];

		if (c == '\r' || c == '\n')
			break;
		sg_buf_putc(b, c >= 0x20 && c < 0x7f ? c : '?');
	}
	sg_buf_puts(b, "\r\n");
}

static const char *action_name(int kind)
{
	return (kind == SG_DSN_FAILED ? "failed" : kind == SG_DSN_DELAYED ? "delayed"
		: "delivered");
}

static void human_part(const struct sg_dsn *d, int kind, struct sg_buf *b)
{
	const char *attached = d->original == NULL || d->original_len == 0 ? ""
		: d->full ? " It is attached below." : " Its header is attached below.";

	sg_buf_puts(b, "Content-Description: Notification\r\n"
		    "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
	sg_buf_printf(b, "This is the mail system at host %s.\r\n\r\n", d->reporting_mta);
	if (d->explanation)
		sg_buf_printf(b, "%s\r\n\r\n", d->explanation);
	if (kind == SG_DSN_FAILED)
		sg_buf_printf(b, "Your message could not be delivered to one or more recipients.%s\r\n"
			      "The reasons are listed here:\r\n\r\n", attached);
	else if (kind == SG_DSN_DELAYED)
		sg_buf_puts(b, "Your message could not be delivered yet. It will be retried\r\n"
			    "until the time shown below; you need not send it again.\r\n\r\n");
	else
		sg_buf_puts(b, "Your message was delivered to the recipients listed below,\r\n"
			    "as you asked.\r\n\r\n");
	for (size_t i = 0; i < d->nrcpts; i++) {
		const struct sg_dsn_rcpt *r = &d->rcpts[i];
		char	line[1100];

		snprintf(line, sizeof(line), "<%s>: %s", r->addr,
			 r->diagnostic ? r->diagnostic : r->status);
		put_field(b, "  Recipient", line);
	}
	sg_buf_puts(b, "\r\n");
}

static void status_part(const struct sg_dsn *d, struct sg_buf *b)
{
	char	date[64];

	sg_buf_puts(b, "Content-Description: Delivery report\r\n"
		    "Content-Type: message/delivery-status\r\n\r\n");
	sg_buf_printf(b, "Reporting-MTA: dns; %s\r\n", d->reporting_mta);
	if (d->envid)
		put_field(b, "Original-Envelope-Id", d->envid);
	put_field(b, "X-Sealgate-Queue-ID", d->queue_id);
	rfc5322_date(d->arrival, date, sizeof(date));
	put_field(b, "Arrival-Date", date);
	for (size_t i = 0; i < d->nrcpts; i++) {
		const struct sg_dsn_rcpt *r = &d->rcpts[i];
		char	v[1100];

		sg_buf_puts(b, "\r\n");
		if (r->orcpt)
			put_field(b, "Original-Recipient", r->orcpt);
		snprintf(v, sizeof(v), "rfc822; %s", r->addr);
		put_field(b, "Final-Recipient", v);
		put_field(b, "Action", action_name(r->kind));
		put_field(b, "Status", r->status);
		if (r->remote_mta) {
			snprintf(v, sizeof(v), "dns; %s", r->remote_mta);
			put_field(b, "Remote-MTA", v);
		}
		if (r->diagnostic) {
			snprintf(v, sizeof(v), "%s; %s",
				 r->diagnostic_type ? r->diagnostic_type : "smtp", r->diagnostic);
			put_field(b, "Diagnostic-Code", v);
		}
		if (r->last_attempt) {
			rfc5322_date(r->last_attempt, date, sizeof(date));
			put_field(b, "Last-Attempt-Date", date);
		}
		if (r->kind == SG_DSN_DELAYED && d->retry_until) {
			rfc5322_date(d->retry_until, date, sizeof(date));
			put_field(b, "Will-Retry-Until", date);
		}
	}
	sg_buf_puts(b, "\r\n");
}

/*
 * put_legal - copy p into b, no line over LINE_MAX octets: mail from own
 * servers may carry 64K lines (the worker makes them legal, but a report
 * quotes the original). A long header line is folded (CRLF, then a space
 * that continues the field); a long body line is broken, as Postfix does.
 */
#define LINE_MAX_OCTETS 998

static void put_legal(struct sg_buf *b, const char *p, size_t len, size_t header_len)
{
	const char *end = p + len, *start = p;

	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t) (end - p));
		const char *eol = lf ? lf + 1 : end;
		size_t	n = (size_t) (eol - p);
		bool	header = (size_t) (p - start) < header_len;

		while (n > LINE_MAX_OCTETS + 2) {
			size_t	k = LINE_MAX_OCTETS - (header ? 1 : 0);

			sg_buf_append(b, p, k);
			sg_buf_puts(b, header ? "\r\n " : "\r\n");
			p += k;
			n -= k;
		}
		sg_buf_append(b, p, n);
		p = eol;
	}
}

static void original_part(const struct sg_dsn *d, struct sg_buf *b)
{
	size_t	hl = sg_header_len(d->original, d->original_len);
	size_t	n = d->full ? d->original_len : hl;

	sg_buf_printf(b, "Content-Description: %s\r\nContent-Type: %s\r\n\r\n",
		      d->full ? "Undelivered Message" : "Undelivered Message Headers",
		      d->full ? "message/rfc822" : "text/rfc822-headers");
	put_legal(b, d->original, n, hl);
	if (n > 0 && d->original[n - 1] != '\n')
		sg_buf_puts(b, "\r\n");
}

int	sg_dsn_build(const struct sg_dsn *d, struct sg_buf *b)
{
	char	date[64], boundary[96];
	int	kind = SG_DSN_DELIVERED;
	const char *subject;

	if (d->sender == NULL || *d->sender == 0 || d->nrcpts == 0)
		return (SG_EINVAL);
	for (size_t i = 0; i < d->nrcpts; i++)
		if (d->rcpts[i].kind < kind)
			kind = d->rcpts[i].kind;
	subject = kind == SG_DSN_FAILED ? "Undelivered Mail Returned to Sender"
		: kind == SG_DSN_DELAYED ? "Delayed Mail (still being retried)"
		: "Successful Mail Delivery Report";
	snprintf(boundary, sizeof(boundary), "%s.%lld/%s", d->queue_id, (long long) d->now,
		 d->reporting_mta);
	rfc5322_date(d->now, date, sizeof(date));
	sg_buf_printf(b, "From: MAILER-DAEMON@%s (Mail Delivery System)\r\n", d->reporting_mta);
	put_field(b, "To", d->sender);
	sg_buf_printf(b, "Subject: %s\r\nDate: %s\r\n", subject, date);
	sg_buf_printf(b, "Message-ID: <%s.%lld.dsn@%s>\r\n", d->queue_id, (long long) d->now,
		      d->reporting_mta);
	sg_buf_printf(b, "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
		      "Content-Type: multipart/report; report-type=delivery-status;\r\n"
		      "\tboundary=\"%s\"\r\n\r\nThis is a MIME-encapsulated message.\r\n\r\n",
		      boundary);
	sg_buf_printf(b, "--%s\r\n", boundary);
	human_part(d, kind, b);
	sg_buf_printf(b, "--%s\r\n", boundary);
	status_part(d, b);
	if (d->original && d->original_len) {
		sg_buf_printf(b, "--%s\r\n", boundary);
		original_part(d, b);
	}
	sg_buf_printf(b, "\r\n--%s--\r\n", boundary);
	return (0);
}
