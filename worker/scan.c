/*
 * NAME
 *	scan 3
 * SUMMARY
 *	the virus scan step: one message to clamd, its verdict, the header
 * SYNOPSIS
 *	#include "worker/worker_int.h"
 *
 *	void	worker__scan(thread, conf, p, len, result)
 *
 *	void	worker__scan_stamp(conf, result, p, len, out)
 * DESCRIPTION
 *	worker__scan() decides what a message is: clean, infected (with
 *	the signature's name), too large to scan, still encrypted, or not
 *	scanned because the scan failed (why says how). A message whose
 *	root is still an encrypted entity (not decrypted: no rule step, no
 *	key, on_decrypt_failure = pass) is not sent: clamd would call the
 *	ciphertext clean. A message over conf->max_size is
 *	never sent: clamd would refuse it past its StreamMaxLength anyway,
 *	and a partial scan must never read as clean. clamd's own size error
 *	(its StreamMaxLength is below max_size) counts as too large as
 *	well: it is a property of the message, and scanning again would
 *	not change it.
 *
 *	A failure of clamd itself (no connection, the deadline, an answer
 *	we do not understand) makes the thread skip clamd for DOWN_MS: the
 *	next messages fail at once instead of each waiting for the
 *	deadline. An error clamd reports about one message fails that
 *	message only.
 *
 *	worker__scan_stamp() appends the message to out with the result
 *	header on top and every copy of that field that came with the
 *	message removed (sg_header_drop()): "clean", "infected;
 *	name=\"NAME\"", or "unscanned; reason=too-large" / "encrypted" /
 *	"failed".
 * DIAGNOSTICS
 *	Failures are not logged here; the caller logs them with the
 *	message's id and the action taken.
 */

#include <stdio.h>
#include <string.h>

#include "worker_int.h"

#define DOWN_MS		2000

static void failed(struct worker_thread *t, struct worker_scan_result *r, const char *why)
{
	r->outcome = WORKER_SCANNED_FAILED;
	snprintf(r->why, sizeof(r->why), "%s", why);
	t->scan_down_until = sg_mono_ms() + DOWN_MS;
	snprintf(t->scan_down_why, sizeof(t->scan_down_why), "%s", why);
}

void	worker__scan(struct worker_thread *t, const struct worker_scan_conf *c, const char *p,
		     size_t len, struct worker_scan_result *r)
{
	struct sg_buf reply = SG_BUF_INIT;
	struct worker_scan_addr a;
	struct worker_scan_reply rep;
	char	why[160];

	memset(r, 0, sizeof(*r));
	if (worker__encrypted(p, len)) {
		r->outcome = WORKER_SCANNED_ENCRYPTED;
		snprintf(r->why, sizeof(r->why), "the message is still encrypted");
		return;
	}
	if ((uint64_t) len > c->max_size) {
		r->outcome = WORKER_SCANNED_TOO_LARGE;
		snprintf(r->why, sizeof(r->why), "%zu bytes, over scan.max_size %llu", len,
			 (unsigned long long) c->max_size);
		return;
	}
	if (sg_mono_ms() < t->scan_down_until) {
		r->outcome = WORKER_SCANNED_FAILED;
		snprintf(r->why, sizeof(r->why), "%s (clamd failed just now)", t->scan_down_why);
		return;
	}
	if (c->clamd == NULL || worker_scan_addr_parse(c->clamd, strlen(c->clamd), &a) < 0) {
		failed(t, r, "no clamd configured (scan.clamd)");
		return;
	}
	if (worker__clamd_instream(&a, p, len, c->timeout_ms, &reply, why, sizeof(why)) < 0) {
		failed(t, r, why);
	} else if (worker_scan_reply_parse(reply.data ? reply.data : "", reply.len, &rep) < 0) {
		snprintf(why, sizeof(why), "clamd said \"%.140s\"", rep.text);
		failed(t, r, why);
	} else if (rep.verdict == WORKER_SCAN_CLEAN) {
		r->outcome = WORKER_SCANNED_CLEAN;
	} else if (rep.verdict == WORKER_SCAN_FOUND) {
		r->outcome = WORKER_SCANNED_INFECTED;
		snprintf(r->name, sizeof(r->name), "%s", rep.name);
	} else if (rep.verdict == WORKER_SCAN_SIZE_LIMIT) {
		r->outcome = WORKER_SCANNED_TOO_LARGE;
		snprintf(r->why, sizeof(r->why), "%zu bytes, over clamd's StreamMaxLength "
			 "(set scan.max_size to it)", len);
	} else {
		/* clamd answered, about this message only: it is not down */
		r->outcome = WORKER_SCANNED_FAILED;
		snprintf(r->why, sizeof(r->why), "clamd: %.150s", rep.text);
	}
	sg_buf_free(&reply);
}

void	worker__scan_stamp(const struct worker_scan_conf *c, const struct worker_scan_result *r,
			   const char *p, size_t len, struct sg_buf *out)
{
	switch (r->outcome) {
	case WORKER_SCANNED_CLEAN:
		sg_buf_printf(out, "%s: clean\r\n", c->header);
		break;
	case WORKER_SCANNED_INFECTED:
		sg_buf_printf(out, "%s: infected; name=\"%s\"\r\n", c->header, r->name);
		break;
	case WORKER_SCANNED_TOO_LARGE:
		sg_buf_printf(out, "%s: unscanned; reason=too-large\r\n", c->header);
		break;
	case WORKER_SCANNED_ENCRYPTED:
		sg_buf_printf(out, "%s: unscanned; reason=encrypted\r\n", c->header);
		break;
	default:
		sg_buf_printf(out, "%s: unscanned; reason=failed\r\n", c->header);
		break;
	}
	sg_header_drop(p, len, c->header, out);
}
