/*
 * NAME
 *	fuzz_delivery 1
 * SUMMARY
 *	libFuzzer target: what a next hop says to the SMTP client
 * DESCRIPTION
 *	The reply parser gets the input with its exact length (a copy with
 *	no slack, so a read past len trips ASan), and must either consume
 *	a prefix of it or refuse it. Then the whole client session is
 *	driven with the input as the server's bytes, cut into pieces at
 *	positions the input chooses, under a TLS policy and AUTH choice the
 *	first byte picks. Checked on every run: the session never asks for
 *	anything out of order, MAIL is never sent without TLS under the
 *	required and verify policies, AUTH never without TLS, and once the
 *	session ends no recipient of a given message is left undecided.
 */

#include <stdlib.h>
#include <string.h>

#include "delivery/delivery.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void check_reply(const uint8_t *data, size_t len)
{
	char   *s = malloc(len ? len : 1);
	struct delivery_reply r;
	size_t	used = 0, off = 0;
	char	text[700];

	memcpy(s, data, len);
	while (off < len) {
		int	rc = delivery_reply_parse(s + off, len - off, &r, &used);

		if (rc <= 0)
			break;
		if (used == 0 || used > len - off || r.code < 200 || r.code > 599
		    || strlen(r.text) >= sizeof(r.text))
			abort();
		delivery_reply_format(&r, text, sizeof(text));
		off += used;
	}
	free(s);
}

/* plaintext_violation - MAIL or AUTH sent while TLS was required and off */

static bool plaintext_violation(struct delivery_session *s, int tls, struct sg_buf *o)
{
	if (delivery_session_tls_active(s) || o->len == 0)
		return (false);
	if (tls >= DELIVERY_TLS_ENCRYPT && memmem(o->data, o->len, "MAIL FROM", 9))
		return (true);
	return (memmem(o->data, o->len, "AUTH ", 5) != NULL);
}

static void drive(const uint8_t *data, size_t len)
{
	int	tls = len ? data[0] & 3 : 0, auth = len ? (data[0] >> 2) % 3 : 0;
	struct delivery_session_params p = {
		.ehlo_name = "gw.fuzz",.peer = "mx.fuzz",.tls = tls,.tls_possible = true,
		.auth = auth,.auth_user = "u",.auth_pass = "p",
	};
	struct delivery_rcpt r[3] = {{.addr = "a@x"}, {.addr = "b@x",.notify = 6},
	{.addr = "c@x"}};
	struct delivery_msg m = {.sender = "s@y",.size = 100,.rcpts = r,.nrcpts = 3,
	.ret = DELIVERY_RET_HDRS,.envid = "E"};
	struct delivery_session *s = delivery_session_new(&p);
	size_t	off = len ? 1 : 0;
	bool	given = false, collected = false;

	while (off < len) {
		size_t	n = 1 + data[off] % 64;
		struct sg_buf *o;

		off++;
		if (n > len - off)
			n = len - off;
		delivery_session_input(s, (const char *) data + off, n);
		off += n;
		for (int k = 0; k < 4; k++) {
			switch (delivery_session_want(s)) {
			case DELIVERY_WANT_TLS:
				delivery_session_tls_result(s, n & 1, n & 2, n & 4, "fuzz");
				break;
			case DELIVERY_WANT_MESSAGE:
				if (!given) {
					given = true;
					delivery_session_message(s, &m);
				}
				break;
			case DELIVERY_WANT_BODY:
				delivery_session_body(s, "x\n.y\r", 5);
				delivery_session_body_end(s);
				break;
			default:
				break;
			}
			o = delivery_session_output(s);
			if (plaintext_violation(s, tls, o))
				abort();
			sg_buf_reset(o);
		}
		if (delivery_session_done(s) == &m)
			collected = true;
	}
	delivery_session_abort(s, "end of input");
	if (delivery_session_done(s) == &m)
		collected = true;
	if (given && !collected)
		abort();
	for (size_t i = 0; given && i < m.nrcpts; i++)
		if (r[i].status == DELIVERY_PENDING)
			abort();
	delivery_session_free(s);
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	check_reply(data, len);
	drive(data, len);
	return (0);
}
