/*
 * NAME
 *	test_delivery 1
 * SUMMARY
 *	unit tests of delivery/: replies, SMTP client session, TLS policy,
 *	dot-stuffing, MX answers, routing, retry schedule, DSN
 * DESCRIPTION
 *	The session is driven as the agent drives it: server bytes in,
 *	client bytes out, compared with what an RFC 5321 client must send.
 *	No network is used.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "test_cpu.h"

#include "delivery/delivery.h"

#define S(x) x, strlen(x)

/* Reply parser */

static void test_reply_single(void **state)
{
	struct delivery_reply r;
	size_t	used = 0;

	(void) state;
	assert_int_equal(delivery_reply_parse(S("250 2.1.0 Ok\r\nrest"), &r, &used), 1);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.enh, "2.1.0");
	assert_string_equal(r.text, "2.1.0 Ok");
	assert_int_equal(used, 14);
	assert_int_equal(delivery_reply_parse(S("354\r\n"), &r, &used), 1);
	assert_int_equal(r.code, 354);
	assert_string_equal(r.text, "");
	/* class of the enhanced code must match the reply's */
	assert_int_equal(delivery_reply_parse(S("550 4.1.1 odd\r\n"), &r, &used), 1);
	assert_string_equal(r.enh, "");
}

static void test_reply_multi(void **state)
{
	struct delivery_reply r;
	size_t	used = 0;
	const char *m = "250-mx.example\r\n250-PIPELINING\n250 SIZE 1000\r\n";

	(void) state;
	assert_int_equal(delivery_reply_parse(m, strlen(m), &r, &used), 1);
	assert_int_equal(used, strlen(m));
	assert_int_equal(r.nlines, 3);
	assert_string_equal(r.text, "mx.example PIPELINING SIZE 1000");
	/* incomplete: every prefix of m needs more input */
	for (size_t i = 0; i < strlen(m); i++)
		assert_int_equal(delivery_reply_parse(m, i, &r, &used), 0);
}

static void test_reply_malformed(void **state)
{
	struct delivery_reply r;
	size_t	used;
	char	big[DELIVERY_REPLY_LINE_MAX + 10];

	(void) state;
	assert_int_equal(delivery_reply_parse(S("250-a\r\n251 b\r\n"), &r, &used), SG_EPROTO);
	assert_int_equal(delivery_reply_parse(S("25x ok\r\n"), &r, &used), SG_EPROTO);
	assert_int_equal(delivery_reply_parse(S("150 ok\r\n"), &r, &used), SG_EPROTO);
	assert_int_equal(delivery_reply_parse(S("250xok\r\n"), &r, &used), SG_EPROTO);
	assert_int_equal(delivery_reply_parse(S("\r\n"), &r, &used), SG_EPROTO);
	memset(big, 'a', sizeof(big));
	memcpy(big, "250 ", 4);
	assert_int_equal(delivery_reply_parse(big, sizeof(big), &r, &used), SG_EPROTO);
	/* a long line is truncated into text, not overflowing it */
	big[DELIVERY_REPLY_LINE_MAX - 2] = '\n';
	assert_int_equal(delivery_reply_parse(big, sizeof(big), &r, &used), 1);
	assert_int_equal(strlen(r.text), DELIVERY_REPLY_TEXT_MAX - 1);
}

/* Dot-stuffing */

static void encode(const char *in, size_t chunk, struct sg_buf *out)
{
	unsigned st = 0;
	size_t	len = strlen(in);

	for (size_t i = 0; i < len; i += chunk)
		delivery_dot_encode(&st, in + i, len - i < chunk ? len - i : chunk, out);
	delivery_dot_finish(&st, out);
	sg_buf_putc(out, 0);
}

static void test_dotstuff(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"", ".\r\n"},
		{"a", "a\r\n.\r\n"},
		{"a\r\n", "a\r\n.\r\n"},
		{".a\r\n..b\r\n", "..a\r\n...b\r\n.\r\n"},
		{"x\n.\n", "x\r\n..\r\n.\r\n"},
		{"x\r.\r\n", "x\r\n..\r\n.\r\n"},
		{"a\r\rb", "a\r\n\r\nb\r\n.\r\n"},
		{"a\r", "a\r\n.\r\n"},
		{"mid.dot\r\n", "mid.dot\r\n.\r\n"},
		{"\r\n.\r\n", "\r\n..\r\n.\r\n"},
	};

	(void) state;
	for (size_t i = 0; i < SG_NELEM(cases); i++) {
		for (size_t chunk = 1; chunk <= 4; chunk++) {
			struct sg_buf b = SG_BUF_INIT;

			encode(cases[i].in, chunk, &b);
			assert_string_equal(b.data, cases[i].out);
			sg_buf_free(&b);
		}
	}
}

/* ref_encode - dot-stuffing spelled out a byte at a time, to compare with */

static void ref_encode(const char *in, size_t n, struct sg_buf *out)
{
	bool	bol = true;

	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\r' || in[i] == '\n') {
			sg_buf_append(out, "\r\n", 2);
			bol = true;
			i += in[i] == '\r' && i + 1 < n && in[i + 1] == '\n';
			continue;
		}
		if (bol && in[i] == '.')
			sg_buf_putc(out, '.');
		sg_buf_putc(out, in[i]);
		bol = false;
	}
	if (!bol)
		sg_buf_append(out, "\r\n", 2);
	sg_buf_append(out, ".\r\n", 3);
	sg_buf_putc(out, 0);
}

/*
 * Random bodies of dots, line endings and runs of text long and short,
 * in pieces of every size up to 17: the same bytes as the reference,
 * wherever a CR, LF or dot falls in the eight bytes looked at at once.
 */
static void test_dotstuff_against_reference(void **state)
{
	static const char alphabet[] = "..\r\r\n\nabcdefghijklmnopq";
	char	in[200];
	unsigned seed = 1;

	(void) state;
	for (int round = 0; round < 3000; round++) {
		size_t	n = (size_t) (rand_r(&seed) % sizeof(in));

		for (size_t i = 0; i < n; i++)
			in[i] = round % 3 == 0 && rand_r(&seed) % 8 ? 'x'
				: alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
		in[n] = 0;
		struct sg_buf want = SG_BUF_INIT;

		ref_encode(in, n, &want);
		for (size_t chunk = 1; chunk <= 17; chunk++) {
			struct sg_buf got = SG_BUF_INIT;

			encode(in, chunk, &got);
			assert_string_equal(got.data, want.data);
			sg_buf_free(&got);
		}
		sg_buf_free(&want);
	}
}

/* Session helpers */

struct t {
	struct delivery_session *s;
	struct sg_buf sent;		/* every byte the client sent */
};

static struct t *t_new(int tls, int auth)
{
	struct t *t = calloc(1, sizeof(*t));
	struct delivery_session_params p = {
		.ehlo_name = "gw.test",.peer = "mx.test",.tls = tls,.tls_possible = true,
		.auth = auth,.auth_user = "user",.auth_pass = "secret",
	};

	t->s = delivery_session_new(&p);
	return (t);
}

static void t_free(struct t *t)
{
	delivery_session_free(t->s);
	sg_buf_free(&t->sent);
	free(t);
}

/* srv - the server says text; returns what the client sent in answer */

static const char *srv(struct t *t, const char *text)
{
	struct sg_buf *o;
	static char last[4096];

	assert_int_equal(delivery_session_input(t->s, text, strlen(text)), 0);
	o = delivery_session_output(t->s);
	snprintf(last, sizeof(last), "%.*s", (int) o->len, o->data ? o->data : "");
	sg_buf_append(&t->sent, o->data, o->len);
	sg_buf_reset(o);
	return (last);
}

static bool sent_contains(struct t *t, const char *what)
{
	sg_buf_putc(&t->sent, 0);
	t->sent.len--;
	return (t->sent.data && strstr(t->sent.data, what) != NULL);
}

#define EHLO_PLAIN "250-mx.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 100000\r\n"
#define EHLO_TLS "250-mx.test\r\n250-STARTTLS\r\n250-PIPELINING\r\n250 8BITMIME\r\n"

static void test_session_plain_pipelined(void **state)
{
	struct t *t = t_new(DELIVERY_TLS_MAY, DELIVERY_AUTH_NONE);
	struct delivery_rcpt r[3] = {{.addr = "a@x"}, {.addr = "b@x"}, {.addr = "c@x"}};
	struct delivery_msg m = {.sender = "s@y",.size = 10,.rcpts = r,.nrcpts = 3};

	(void) state;
	assert_string_equal(srv(t, "220 mx.test ESMTP\r\n"), "EHLO gw.test\r\n");
	assert_string_equal(srv(t, EHLO_PLAIN), "");
	assert_int_equal(delivery_session_want(t->s), DELIVERY_WANT_MESSAGE);
	assert_int_equal(delivery_session_message(t->s, &m), 0);
	assert_string_equal(srv(t, ""), "MAIL FROM:<s@y> SIZE=10\r\nRCPT TO:<a@x>\r\n"
			    "RCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\nDATA\r\n");
	srv(t, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n450 4.2.0 busy\r\n550 5.1.1 no such user\r\n"
	    "354 go\r\n");
	assert_int_equal(delivery_session_want(t->s), DELIVERY_WANT_BODY);
	delivery_session_body(t->s, S(".hi\n"));
	delivery_session_body_end(t->s);
	assert_string_equal(srv(t, ""), "..hi\r\n.\r\n");
	srv(t, "250 2.0.0 queued as X\r\n");
	assert_ptr_equal(delivery_session_done(t->s), &m);
	assert_int_equal(r[0].status, DELIVERY_OK);
	assert_string_equal(r[0].reply, "250 2.0.0 queued as X");
	assert_int_equal(r[1].status, DELIVERY_TEMP);
	assert_string_equal(r[1].enh, "4.2.0");
	assert_int_equal(r[2].status, DELIVERY_PERM);
	assert_int_equal(r[2].code, 550);
	assert_string_equal(r[2].reply, "550 5.1.1 no such user");
	assert_true(delivery_session_reusable(t->s));
	delivery_session_quit(t->s);
	assert_string_equal(srv(t, ""), "QUIT\r\n");
	srv(t, "221 bye\r\n");
	assert_int_equal(delivery_session_want(t->s), DELIVERY_WANT_CLOSE);
	t_free(t);
}

static void test_session_no_pipelining_all_rejected(void **state)
{
	struct t *t = t_new(DELIVERY_TLS_NONE, DELIVERY_AUTH_NONE);
	struct delivery_rcpt r[2] = {{.addr = "a@x"}, {.addr = "b@x"}};
	struct delivery_msg m = {.sender = "",.rcpts = r,.nrcpts = 2};

	(void) state;
	srv(t, "220 hi\r\n");
	assert_string_equal(srv(t, "250 mx.test\r\n"), "");
	assert_int_equal(delivery_session_message(t->s, &m), 0);
	assert_string_equal(srv(t, ""), "MAIL FROM:<>\r\n");
	assert_string_equal(srv(t, "250 ok\r\n"), "RCPT TO:<a@x>\r\n");
	assert_string_equal(srv(t, "550 no\r\n"), "RCPT TO:<b@x>\r\n");
	assert_string_equal(srv(t, "451 later\r\n"), "RSET\r\n");
	assert_ptr_equal(delivery_session_done(t->s), &m);
	assert_int_equal(r[0].status, DELIVERY_PERM);
	assert_string_equal(r[0].enh, "5.0.0");
	assert_int_equal(r[1].status, DELIVERY_TEMP);
	srv(t, "250 ok\r\n");
	assert_int_equal(delivery_session_want(t->s), DELIVERY_WANT_MESSAGE);
	t_free(t);
}

static void test_session_ehlo_refused_helo(void **state)
{
	struct t *t = t_new(DELIVERY_TLS_MAY, DELIVERY_AUTH_NONE);

	(void) state;
	srv(t, "220 hi\r\n");
	assert_string_equal(srv(t, "502 what\r\n"), "HELO gw.test\r\n");
	srv(t, "250 hello\r\n");
	assert_int_equal(delivery_session_want(t->s), DELIVERY_WANT_MESSAGE);
	t_free(t);
}

static void test_session_greeting_4xx(void **state)
{
	struct t *t = t_new(DELIVERY_TLS_MAY, DELIVERY_AUTH_NONE);
	const struct delivery_failure *f;

	(void) state;
	assert_string_equal(srv(t, "421 too busy\r\n"), "");
	assert_int_equal(delivery_session_want(t->s), DELIVERY_WANT_CLOSE);
	f = delivery_session_failure(t->s);
	assert_non_null(f);
	assert_int_equal(f->status, DELIVERY_TEMP);
	assert_true(f->next_host);
	assert_non_null(strstr(f->reason, "421 too busy"));
	t_free(t);
}

/* Under required, every way STARTTLS can go wrong ends before MAIL. */

static void test_session_required_not_offered(void **state)
{
	struct t *t = t_new(DELIVERY_TLS_ENCRYPT, DELIVERY_AUTH_NONE);
	const struct delivery_failure *f;

	(void) state;
	srv(t, "220 hi\r\n");
	assert_string_equal(srv(t, EHLO_PLAIN), "QUIT\r\n");
	f = delivery_session_failure(t->s);
	assert_non_null(f);
	assert_string_equal(f->enh, "4.7.4");
	assert_string_equal(f->reason, "TLS is required, but was not offered by host mx.test");
	assert_true(f->no_starttls);	/* TLS-RPT: starttls-not-supported */
	assert_int_not_equal(delivery_session_want(t->s), DELIVERY_WANT_MESSAGE);
	assert_false(sent_contains(t, "MAIL"));
	t_free(t);
}

/* No TLS client here (no certificate database): our failure, not the host's. */

static void test_session_required_no_client(void **state)
{
	struct delivery_session_params p = {.ehlo_name = "gw.test",.peer = "mx.test",
		.tls = DELIVERY_TLS_ENCRYPT,.tls_possible = false };
	struct t *t = calloc(1, sizeof(*t));
	const struct delivery_failure *f;

	(void) state;
	t->s = delivery_session_new(&p);
	srv(t, "220 hi\r\n");
	assert_string_equal(srv(t, EHLO_TLS), "QUIT\r\n");
	f = delivery_session_failure(t->s);
	assert_string_equal(f->enh, "4.7.4");
	assert_string_equal(f->reason, "TLS is required, but no TLS client is available here");
	assert_false(f->no_starttls);
	assert_false(sent_contains(t, "STARTTLS"));
	t_free(t);
}

static void test_session_required_454(void **state)
{
	struct t *t = t_new(DELIVERY_TLS_ENCRYPT, DELIVERY_AUTH_PLAIN);
	const struct delivery_failure *f;

	(void) state;
	srv(t, "220 hi\r\n");
	assert_string_equal(srv(t, EHLO_TLS), "STARTTLS\r\n");
	assert_string_equal(srv(t, "454 4.7.0 TLS not available\r\n"), "QUIT\r\n");
	f = delivery_session_failure(t->s);
	assert_string_equal(f->enh, "4.7.4");
	assert_non_null(strstr(f->reason, "refused to start TLS: 454 4.7.0 TLS not available"));
	assert_true(f->no_starttls);
	assert_false(sent_contains(t, "MAIL"));
	assert_false(sent_contains(t, "AUTH"));
	t_free(t);
}

static void test_session_required_handshake_fails(void **state)
{
	struct t *t = t_new(DELIVERY_TLS_ENCRYPT, DELIVERY_AUTH_NONE);
	const struct delivery_failure *f;

	(void) state;
	srv(t, "220 hi\r\n");
	srv(t, EHLO_TLS);
	srv(t, "220 go ahead\r\n");
	assert_int_equal(delivery_session_want(t->s), DELIVERY_WANT_TLS);
	delivery_session_tls_result(t->s, false, false, false, "bad record mac");
	assert_int_equal(delivery_session_want(t->s), DELIVERY_WANT_CLOSE);
	f = delivery_session_failure(t->s);
	assert_string_equal(f->enh, "4.7.4");
	assert_non_null(strstr(f->reason, "TLS is required, but the TLS handshake with "
			       "mx.test failed: bad record mac"));
	assert_false(f->plaintext_retry);
	assert_false(f->no_starttls);	/* it started: a handshake failure */
	assert_false(sent_contains(t, "MAIL"));
	t_free(t);
}

static void test_session_verify(void **state)
{
	struct t *t = t_new(DELIVERY_TLS_VERIFY, DELIVERY_AUTH_NONE);
	const struct delivery_failure *f;

	(void) state;
	srv(t, "220 hi\r\n");
	srv(t, EHLO_TLS);
	srv(t, "220 go ahead\r\n");
	delivery_session_tls_result(t->s, true, false, true, NULL);
	f = delivery_session_failure(t->s);
	assert_non_null(f);
	assert_non_null(strstr(f->reason, "could not be verified: untrusted chain"));
	assert_false(sent_contains(t, "MAIL"));
	assert_false(sent_contains(t, "EHLO gw.test\r\nEHLO"));
	t_free(t);

	t = t_new(DELIVERY_TLS_VERIFY, DELIVERY_AUTH_NONE);
	srv(t, "220 hi\r\n");
	srv(t, EHLO_TLS);
	srv(t, "220 go ahead\r\n");
	delivery_session_tls_result(t->s, true, true, true, NULL);
	assert_null(delivery_session_failure(t->s));
	assert_string_equal(srv(t, ""), "EHLO gw.test\r\n");
	srv(t, "250 mx.test\r\n");
	assert_int_equal(delivery_session_want(t->s), DELIVERY_WANT_MESSAGE);
	assert_true(delivery_session_tls_active(t->s));
	t_free(t);
}

/* Lines after the 220 to STARTTLS are discarded, and old caps forgotten. */

static void test_session_starttls_injection(void **state)
{
	struct t *t = t_new(DELIVERY_TLS_MAY, DELIVERY_AUTH_NONE);
	struct delivery_rcpt r[1] = {{.addr = "a@x"}};
	struct delivery_msg m = {.sender = "s@y",.rcpts = r,.nrcpts = 1};

	(void) state;
	srv(t, "220 hi\r\n");
	srv(t, EHLO_TLS);
	assert_string_equal(srv(t, "220 go\r\n250 injected\r\n250 injected\r\n"), "");
	assert_int_equal(delivery_session_want(t->s), DELIVERY_WANT_TLS);
	delivery_session_tls_result(t->s, true, false, false, NULL);
	assert_string_equal(srv(t, ""), "EHLO gw.test\r\n");
	srv(t, "250 mx.test\r\n");	/* no PIPELINING over TLS now */
	assert_int_equal(delivery_session_message(t->s, &m), 0);
	assert_string_equal(srv(t, ""), "MAIL FROM:<s@y>\r\n");
	t_free(t);
}

static void test_session_opportunistic(void **state)
{
	struct t *t = t_new(DELIVERY_TLS_MAY, DELIVERY_AUTH_NONE);

	(void) state;
	srv(t, "220 hi\r\n");
	assert_string_equal(srv(t, EHLO_TLS), "STARTTLS\r\n");
	/* refused: plaintext is allowed at this level */
	assert_string_equal(srv(t, "454 no\r\n"), "");
	assert_int_equal(delivery_session_want(t->s), DELIVERY_WANT_MESSAGE);
	assert_false(delivery_session_tls_active(t->s));
	t_free(t);

	t = t_new(DELIVERY_TLS_MAY, DELIVERY_AUTH_NONE);
	srv(t, "220 hi\r\n");
	srv(t, EHLO_TLS);
	srv(t, "220 go\r\n");
	delivery_session_tls_result(t->s, false, false, false, "eof");
	assert_true(delivery_session_failure(t->s)->plaintext_retry);
	t_free(t);
}

static void test_session_auth_plain(void **state)
{
	struct t *t = t_new(DELIVERY_TLS_ENCRYPT, DELIVERY_AUTH_PLAIN);

	(void) state;
	srv(t, "220 hi\r\n");
	srv(t, EHLO_TLS);
	srv(t, "220 go\r\n");
	delivery_session_tls_result(t->s, true, false, false, NULL);
	srv(t, "");
	/* base64("\0user\0secret") */
	assert_string_equal(srv(t, "250-mx\r\n250 AUTH LOGIN PLAIN\r\n"),
			    "AUTH PLAIN AHVzZXIAc2VjcmV0\r\n");
	srv(t, "235 2.7.0 ok\r\n");
	assert_int_equal(delivery_session_want(t->s), DELIVERY_WANT_MESSAGE);
	t_free(t);
}

static void test_session_auth_login(void **state)
{
	struct t *t = t_new(DELIVERY_TLS_ENCRYPT, DELIVERY_AUTH_LOGIN);

	(void) state;
	srv(t, "220 hi\r\n");
	srv(t, EHLO_TLS);
	srv(t, "220 go\r\n");
	delivery_session_tls_result(t->s, true, false, false, NULL);
	srv(t, "");
	assert_string_equal(srv(t, "250-mx\r\n250 AUTH=LOGIN\r\n"), "AUTH LOGIN\r\n");
	assert_string_equal(srv(t, "334 VXNlcm5hbWU6\r\n"), "dXNlcg==\r\n");
	assert_string_equal(srv(t, "334 UGFzc3dvcmQ6\r\n"), "c2VjcmV0\r\n");
	srv(t, "235 ok\r\n");
	assert_int_equal(delivery_session_want(t->s), DELIVERY_WANT_MESSAGE);
	t_free(t);
}

static void test_session_auth_refused_in_plaintext(void **state)
{
	struct t *t = t_new(DELIVERY_TLS_MAY, DELIVERY_AUTH_PLAIN);

	(void) state;
	srv(t, "220 hi\r\n");
	assert_string_equal(srv(t, "250-mx\r\n250 AUTH PLAIN\r\n"), "QUIT\r\n");
	assert_non_null(strstr(delivery_session_failure(t->s)->reason, "plaintext"));
	assert_false(sent_contains(t, "AUTH"));
	t_free(t);
}

/* A dropped connection mid-DATA is temporary for every recipient. */

static void test_session_drop_mid_data(void **state)
{
	struct t *t = t_new(DELIVERY_TLS_NONE, DELIVERY_AUTH_NONE);
	struct delivery_rcpt r[2] = {{.addr = "a@x"}, {.addr = "b@x"}};
	struct delivery_msg m = {.sender = "s@y",.rcpts = r,.nrcpts = 2};

	(void) state;
	srv(t, "220 hi\r\n");
	srv(t, EHLO_PLAIN);
	delivery_session_message(t->s, &m);
	srv(t, "250 ok\r\n250 ok\r\n550 5.1.1 nope\r\n354 go\r\n");
	delivery_session_body(t->s, S("partial"));
	delivery_session_abort(t->s, "connection reset");
	assert_ptr_equal(delivery_session_done(t->s), &m);
	assert_int_equal(r[0].status, DELIVERY_TEMP);
	assert_non_null(strstr(r[0].reply, "connection reset"));
	assert_int_equal(r[1].status, DELIVERY_PERM);
	assert_int_equal(delivery_session_want(t->s), DELIVERY_WANT_CLOSE);
	t_free(t);
}

static void test_session_8bit_and_dsn(void **state)
{
	struct t *t = t_new(DELIVERY_TLS_NONE, DELIVERY_AUTH_NONE);
	struct delivery_rcpt r[1] = {{.addr = "a@x",.notify = DELIVERY_NOTIFY_SUCCESS
	| DELIVERY_NOTIFY_FAILURE,.orcpt = "rfc822;a@x"}};
	struct delivery_msg m = {.sender = "s@y",.eightbit = true,.rcpts = r,.nrcpts = 1,
	.ret = DELIVERY_RET_HDRS,.envid = "E1"};

	(void) state;
	srv(t, "220 hi\r\n");
	srv(t, "250 mx\r\n");		/* no 8BITMIME */
	assert_int_equal(delivery_session_message(t->s, &m), 0);
	assert_ptr_equal(delivery_session_done(t->s), &m);
	assert_int_equal(r[0].status, DELIVERY_PERM);
	assert_string_equal(r[0].enh, "5.6.3");
	assert_false(sent_contains(t, "MAIL"));
	t_free(t);

	t = t_new(DELIVERY_TLS_NONE, DELIVERY_AUTH_NONE);
	r[0].status = DELIVERY_PENDING;
	srv(t, "220 hi\r\n");
	srv(t, "250-mx\r\n250-8BITMIME\r\n250 DSN\r\n");
	delivery_session_message(t->s, &m);
	assert_string_equal(srv(t, ""), "MAIL FROM:<s@y> BODY=8BITMIME RET=HDRS ENVID=E1\r\n");
	assert_string_equal(srv(t, "250 ok\r\n"),
			    "RCPT TO:<a@x> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@x\r\n");
	t_free(t);
}

static void test_session_malformed_reply(void **state)
{
	struct t *t = t_new(DELIVERY_TLS_NONE, DELIVERY_AUTH_NONE);

	(void) state;
	assert_int_equal(delivery_session_input(t->s, S("hello\r\n")), SG_EPROTO);
	assert_int_equal(delivery_session_want(t->s), DELIVERY_WANT_CLOSE);
	t_free(t);
}

/*
 * A long multi-line reply sent a byte at a time is read once: each byte
 * used to re-parse every line before it (a quarter of a second of
 * delivery's one thread per 57 KB greeting, for every connection to such
 * a server; these 30 took 5.8 s before, 0.1 s now).
 */
static void test_session_reply_a_byte_at_a_time(void **state)
{
	struct sg_buf greet = SG_BUF_INIT;
	double	t0 = test_cpu_seconds();

	(void) state;
	while (greet.len < 57000) {	/* 190 lines: DELIVERY_REPLY_LINES_MAX is 200 */
		sg_buf_puts(&greet, "220-");
		for (int i = 0; i < 294; i++)
			sg_buf_putc(&greet, 'x');
		sg_buf_puts(&greet, "\r\n");
	}
	sg_buf_puts(&greet, "220 mx.test ready\r\n");
	for (int n = 0; n < 30; n++) {
		struct t *t = t_new(DELIVERY_TLS_NONE, DELIVERY_AUTH_NONE);

		for (size_t i = 0; i < greet.len; i++)
			assert_int_equal(delivery_session_input(t->s, greet.data + i, 1), 0);
		assert_int_equal(delivery_session_output(t->s)->len, strlen("EHLO gw.test\r\n"));
		assert_memory_equal(delivery_session_output(t->s)->data, "EHLO gw.test\r\n", 14);
		t_free(t);
	}
	assert_true(test_cpu_seconds() - t0 < 2.5);	/* ASan: about 0.7 s */
	sg_buf_free(&greet);
}

/* Routing */

/* MX answers (delivery_mx_parse): DNS messages built by hand */

struct dns {
	unsigned char b[1024];
	size_t	n;
};

static void put(struct dns *m, const void *p, size_t n)
{
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void put16(struct dns *m, unsigned v)
{
	unsigned char b[2] = {(unsigned char) (v >> 8), (unsigned char) v};

	put(m, b, 2);
}

static void put_name(struct dns *m, const char *name)
{
	while (*name) {
		size_t	l = strcspn(name, ".");
		unsigned char c = (unsigned char) l;

		put(m, &c, 1);
		put(m, name, l);
		name += l + (name[l] == '.');
	}
	put(m, "", 1);
}

/* dns_start - a response header and the question example.test MX */

static void dns_start(struct dns *m, unsigned flags, unsigned ancount)
{
	m->n = 0;
	put16(m, 0x1234);
	put16(m, flags);
	put16(m, 1);
	put16(m, ancount);
	put16(m, 0);
	put16(m, 0);
	put_name(m, "example.test");
	put16(m, 15);
	put16(m, 1);
}

/* rr - one answer record; owner NULL: a pointer to the question's name */

static void rr(struct dns *m, const char *owner, unsigned type, unsigned pref, const char *data)
{
	struct dns d = {.n = 0};

	if (type == 15)
		put16(&d, pref);
	put_name(&d, data);
	if (owner)
		put_name(m, owner);
	else
		put16(m, 0xc00c);
	put16(m, type);
	put16(m, 1);
	put16(m, 0);
	put16(m, 60);
	put16(m, (unsigned) d.n);
	put(m, d.b, d.n);
}

static void test_mx_answers(void **state)
{
	struct delivery_mx mx;
	struct dns m;

	(void) state;
	/* sorted by preference, owner by pointer, case and trailing dot ignored */
	dns_start(&m, 0x8180, 3);
	rr(&m, NULL, 15, 20, "mx2.example.test");
	rr(&m, "EXAMPLE.test", 15, 10, "mx1.example.test");
	rr(&m, NULL, 15, 30, "");		/* a null MX among others: left out */
	assert_int_equal(delivery_mx_parse(m.b, m.n, "example.test.", NULL, &mx),
			 DELIVERY_MX_HOSTS);
	assert_int_equal(mx.n, 2);
	assert_string_equal(mx.v[0].host, "mx1.example.test");
	assert_int_equal(mx.v[1].pref, 20);
	/* the only MX is ".": no mail */
	dns_start(&m, 0x8180, 1);
	rr(&m, NULL, 15, 0, "");
	assert_int_equal(delivery_mx_parse(m.b, m.n, "example.test", NULL, &mx), DELIVERY_MX_NULL);
	/* NODATA, and a CNAME chain that ends without MX: the domain itself */
	dns_start(&m, 0x8180, 0);
	assert_int_equal(delivery_mx_parse(m.b, m.n, "example.test", NULL, &mx),
			 DELIVERY_MX_IMPLICIT);
	dns_start(&m, 0x8180, 1);
	rr(&m, NULL, 5, 0, "host.example.test");
	assert_int_equal(delivery_mx_parse(m.b, m.n, "example.test", NULL, &mx),
			 DELIVERY_MX_IMPLICIT);
	/* a CNAME chain to MX records of the canonical name */
	dns_start(&m, 0x8180, 2);
	rr(&m, NULL, 5, 0, "real.test");
	rr(&m, "real.test", 15, 5, "mx.real.test");
	assert_int_equal(delivery_mx_parse(m.b, m.n, "example.test", NULL, &mx),
			 DELIVERY_MX_HOSTS);
	assert_string_equal(mx.v[0].host, "mx.real.test");
	/* a CNAME loop, MX records of a name not asked, TC, SERVFAIL: temporary */
	dns_start(&m, 0x8180, 2);
	rr(&m, NULL, 5, 0, "x.test");
	rr(&m, "x.test", 5, 0, "example.test");
	assert_int_equal(delivery_mx_parse(m.b, m.n, "example.test", NULL, &mx), DELIVERY_MX_TEMP);
	assert_non_null(strstr(mx.reason, "CNAME loop"));
	dns_start(&m, 0x8180, 1);
	rr(&m, "other.test", 15, 5, "mx.other.test");
	assert_int_equal(delivery_mx_parse(m.b, m.n, "example.test", NULL, &mx), DELIVERY_MX_TEMP);
	dns_start(&m, 0x8380, 0);
	assert_int_equal(delivery_mx_parse(m.b, m.n, "example.test", NULL, &mx), DELIVERY_MX_TEMP);
	assert_string_equal(mx.reason, "truncated DNS answer");
	dns_start(&m, 0x8182, 0);
	assert_int_equal(delivery_mx_parse(m.b, m.n, "example.test", NULL, &mx), DELIVERY_MX_TEMP);
	/* NXDOMAIN; a query, not an answer; a pointer forwards; cut short */
	dns_start(&m, 0x8183, 0);
	assert_int_equal(delivery_mx_parse(m.b, m.n, "example.test", NULL, &mx),
			 DELIVERY_MX_NXDOMAIN);
	dns_start(&m, 0x0100, 0);
	assert_int_equal(delivery_mx_parse(m.b, m.n, "example.test", NULL, &mx), DELIVERY_MX_TEMP);
	dns_start(&m, 0x8180, 1);
	put16(&m, 0xc000 | (unsigned) (m.n + 2));	/* points at itself + 2: forwards */
	put16(&m, 15);
	assert_int_equal(delivery_mx_parse(m.b, m.n, "example.test", NULL, &mx), DELIVERY_MX_TEMP);
	dns_start(&m, 0x8180, 1);
	rr(&m, NULL, 15, 10, "mx.example.test");
	assert_int_equal(delivery_mx_parse(m.b, m.n - 3, "example.test", NULL, &mx),
			 DELIVERY_MX_TEMP);
}

static void test_route(void **state)
{
	char   *d1[] = {"internal.test", "*.internal.test"}, *h1[] = {"10.0.0.5:25"};
	char   *d2[] = {"bank.test", "*.bank.test"}, *d3[] = {"loose.test"};
	struct delivery_route_conf routes[] = {{{2, d1}, {1, h1}, DELIVERY_TLS_NONE}};
	struct delivery_tlspol_conf pols[] = {
		{{2, d2}, DELIVERY_TLS_VERIFY, DELIVERY_DANE_INHERIT},
		{{1, d3}, DELIVERY_TLS_NONE, DELIVERY_DANE_INHERIT},
	};
	struct delivery_conf c = {.smarthost = "",.tls_policy = DELIVERY_TLS_MAY,
		.routes = {1, routes},.tls_policies = {2, pols},
	.smarthost_tls = DELIVERY_TLS_ENCRYPT};
	struct delivery_route r;

	(void) state;
	assert_int_equal(delivery_route(&c, S("Internal.test"), &r), 0);
	assert_int_equal(r.kind, DELIVERY_ROUTE_HOSTS);
	assert_string_equal(r.hosts->v[0], "10.0.0.5:25");
	assert_string_equal(r.key, "route:0");
	assert_int_equal(delivery_route(&c, S("bank.test"), &r), 0);
	assert_int_equal(r.kind, DELIVERY_ROUTE_MX);
	assert_int_equal(r.tls, DELIVERY_TLS_VERIFY);
	assert_int_equal(delivery_route(&c, S("Other.TEST"), &r), 0);
	assert_int_equal(r.tls, DELIVERY_TLS_MAY);
	assert_string_equal(r.key, "mx:other.test");
	assert_int_equal(delivery_route(&c, S("bad..test"), &r), SG_EINVAL);
	/* "*.parent" patterns: the names below, not look-alikes */
	assert_int_equal(delivery_route(&c, S("eu.Internal.test"), &r), 0);
	assert_string_equal(r.key, "route:0");
	assert_int_equal(delivery_route(&c, S("evilinternal.test"), &r), 0);
	assert_int_equal(r.kind, DELIVERY_ROUTE_MX);
	assert_int_equal(delivery_route(&c, S("online.bank.test"), &r), 0);
	assert_int_equal(r.tls, DELIVERY_TLS_VERIFY);
	assert_int_equal(delivery_route(&c, S("x.loose.test"), &r), 0);
	assert_int_equal(r.tls, DELIVERY_TLS_MAY);

	c.smarthost = "relay.test:587";
	assert_int_equal(delivery_route(&c, S("bank.test"), &r), 0);
	assert_int_equal(r.kind, DELIVERY_ROUTE_FAIL);
	assert_non_null(strstr(r.reason, "cannot be guaranteed end to end through smarthost"));
	assert_int_equal(delivery_route(&c, S("other.test"), &r), 0);
	assert_int_equal(r.kind, DELIVERY_ROUTE_HOSTS);
	assert_true(r.smarthost);
	assert_int_equal(r.tls, DELIVERY_TLS_ENCRYPT);
	assert_int_equal(delivery_route(&c, S("internal.test"), &r), 0);
	assert_false(r.smarthost);
}

/* Retry schedule */

static void test_retry(void **state)
{
	struct delivery_conf c = {.retry_min = 300000,.retry_max = 3600000,
	.max_lifetime = 5LL * 86400000};
	int64_t	t0 = 1000000;

	(void) state;
	assert_int_equal(delivery_retry_next(&c, t0, 1, t0), t0 + 300000);
	assert_int_equal(delivery_retry_next(&c, t0, 2, t0), t0 + 600000);
	assert_int_equal(delivery_retry_next(&c, t0, 3, t0), t0 + 1200000);
	assert_int_equal(delivery_retry_next(&c, t0, 4, t0), t0 + 2400000);
	assert_int_equal(delivery_retry_next(&c, t0, 5, t0), t0 + 3600000);
	assert_int_equal(delivery_retry_next(&c, t0, 500, t0), t0 + 3600000);
	/* never past the expiry; then expired */
	assert_int_equal(delivery_retry_next(&c, t0, 9, t0 + c.max_lifetime - 10),
			 t0 + c.max_lifetime);
	assert_int_equal(delivery_retry_next(&c, t0, 9, t0 + c.max_lifetime), -1);
}

/* DSN */

static void test_dsn(void **state)
{
	struct sg_dsn_rcpt r[2] = {
		{.addr = "a@x",.kind = SG_DSN_FAILED,.status = "5.1.1",
			.remote_mta = "mx.x",.diagnostic = "550 5.1.1 no\r\nInjected: yes",
		.last_attempt = 1700000000000},
		{.addr = "b@x",.kind = SG_DSN_DELAYED,.status = "4.2.0"},
	};
	const char *orig = "Subject: hi\r\nFrom: s@y\r\n\r\nbody text\r\n";
	struct sg_dsn d = {.reporting_mta = "gw.test",.queue_id = "Q1",.sender = "s@y",
		.arrival = 1700000000000,.now = 1700000100000,.rcpts = r,.nrcpts = 2,
	.original = orig,.original_len = strlen(orig)};
	struct sg_buf b = SG_BUF_INIT;

	(void) state;
	assert_int_equal(sg_dsn_build(&d, &b), 0);
	sg_buf_putc(&b, 0);
	assert_non_null(strstr(b.data, "Subject: Undelivered Mail Returned to Sender\r\n"));
	assert_non_null(strstr(b.data, "report-type=delivery-status"));
	assert_non_null(strstr(b.data, "Final-Recipient: rfc822; a@x\r\nAction: failed\r\n"
			       "Status: 5.1.1\r\nRemote-MTA: dns; mx.x\r\n"
			       "Diagnostic-Code: smtp; 550 5.1.1 no\r\n"));
	assert_null(strstr(b.data, "\nInjected"));
	assert_non_null(strstr(b.data, "Action: delayed"));
	assert_non_null(strstr(b.data, "text/rfc822-headers\r\n\r\nSubject: hi\r\n"));
	assert_null(strstr(b.data, "body text"));
	sg_buf_free(&b);
	d.sender = "";
	assert_int_equal(sg_dsn_build(&d, &b), SG_EINVAL);
	sg_buf_free(&b);
}

/* longest_line - octets of the longest line of p, CRLF not counted */

static size_t longest_line(const char *p, size_t len)
{
	size_t	best = 0, cur = 0;

	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\n') {
			best = cur > best ? cur : best;
			cur = 0;
		} else if (p[i] != '\r')
			cur++;
	}
	return (cur > best ? cur : best);
}

/* A message taken from an own server may hold 64K lines: a report never does. */
static void test_dsn_never_sends_a_long_line(void **state)
{
	struct sg_dsn_rcpt r = {.addr = "a@x",.kind = SG_DSN_FAILED,.status = "5.1.1"};
	struct sg_buf orig = SG_BUF_INIT, b = SG_BUF_INIT;
	struct sg_dsn d = {.reporting_mta = "gw.test",.queue_id = "Q1",.sender = "s@y",
		.arrival = 1700000000000,.now = 1700000100000,.rcpts = &r,.nrcpts = 1};

	(void) state;
	sg_buf_puts(&orig, "Subject: ");
	for (int i = 0; i < 3000; i++)
		sg_buf_putc(&orig, 'a' + i % 26);
	sg_buf_puts(&orig, "\r\nFrom: s@y\r\n\r\n<xml>");
	for (int i = 0; i < 5000; i++)
		sg_buf_putc(&orig, 'b');
	sg_buf_puts(&orig, "</xml>\r\n");
	d.original = orig.data;
	d.original_len = orig.len;
	for (int full = 0; full < 2; full++) {
		d.full = full;
		assert_int_equal(sg_dsn_build(&d, &b), 0);
		assert_true(longest_line(b.data, b.len) <= 998);
		/* the Subject is folded (the next field still starts a line), the text broken */
		assert_non_null(strstr(b.data, "\r\nFrom: s@y\r\n"));
		assert_true(full == 0 || strstr(b.data, "bbbb\r\nbbbb") != NULL);
		sg_buf_free(&b);
	}
	sg_buf_free(&orig);
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dsn_never_sends_a_long_line),
		cmocka_unit_test(test_reply_single),
		cmocka_unit_test(test_mx_answers),
		cmocka_unit_test(test_reply_multi),
		cmocka_unit_test(test_reply_malformed),
		cmocka_unit_test(test_dotstuff),
		cmocka_unit_test(test_dotstuff_against_reference),
		cmocka_unit_test(test_session_plain_pipelined),
		cmocka_unit_test(test_session_no_pipelining_all_rejected),
		cmocka_unit_test(test_session_ehlo_refused_helo),
		cmocka_unit_test(test_session_greeting_4xx),
		cmocka_unit_test(test_session_required_not_offered),
		cmocka_unit_test(test_session_required_no_client),
		cmocka_unit_test(test_session_required_454),
		cmocka_unit_test(test_session_required_handshake_fails),
		cmocka_unit_test(test_session_verify),
		cmocka_unit_test(test_session_starttls_injection),
		cmocka_unit_test(test_session_opportunistic),
		cmocka_unit_test(test_session_auth_plain),
		cmocka_unit_test(test_session_auth_login),
		cmocka_unit_test(test_session_auth_refused_in_plaintext),
		cmocka_unit_test(test_session_drop_mid_data),
		cmocka_unit_test(test_session_8bit_and_dsn),
		cmocka_unit_test(test_session_malformed_reply),
		cmocka_unit_test(test_session_reply_a_byte_at_a_time),
		cmocka_unit_test(test_route),
		cmocka_unit_test(test_retry),
		cmocka_unit_test(test_dsn),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
