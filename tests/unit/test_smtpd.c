/*
 * NAME
 *	test_smtpd 1
 * SUMMARY
 *	unit tests of the smtpd session: parameters, replies, dialogues
 * DESCRIPTION
 *	The session state machine is pure, so these tests drive it like the
 *	libuv driver does (feed bytes, read s.out, obey s.actions) with
 *	scripted dialogues, and compare every reply. A dialogue fed one byte
 *	at a time must give the same replies and the same stored message as
 *	one fed in a single piece. Includes smtpd/smtpd_int.h: the session
 *	is internal to smtpd and this is its test.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "test_cpu.h"

#include "smtpd/smtpd_int.h"

#define S(x) x, strlen(x)

static char *own_v[] = {"own.test"};

static struct smtpd_policy *policy(bool tls, int64_t soft, int64_t hard)
{
	static struct sg_conf_main m;
	struct smtpd_conf c;
	struct smtpd_params p;
	struct smtpd_policy *pol;
	struct sg_buf err = SG_BUF_INIT;

	memset(&m, 0, sizeof(m));
	m.hostname = "mx.own.test";
	m.state_dir = "/tmp";
	m.own_domains.n = 1;
	m.own_domains.v = own_v;
	memset(&c, 0, sizeof(c));
	c.max_message_size = 10000;
	c.max_recipients = 100;
	c.error_soft_limit = soft;
	c.error_hard_limit = hard;
	c.tarpit_delay = 2000;
	c.spill_threshold = 4096;
	c.max_hops = 20;
	memset(&p, 0, sizeof(p));
	p.conf = &c;
	p.main = &m;
	p.tls = tls ? (void *) &m : NULL;	/* only its presence matters */
	assert_int_equal(smtpd_policy_new(&p, &pol, &err), 0);
	sg_buf_free(&err);
	return (pol);
}

static void session(struct smtpd_session *s, bool tls, int security)
{
	struct smtpd_policy *pol = policy(tls, 10, 20);
	struct sockaddr_in sin = {.sin_family = AF_INET};

	inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
	smtpd_session_init(s, pol, (struct sockaddr *) &sin, "mx", security, 42);
	smtpd_policy_unref(pol);
	smtpd_session_greet(s);
}

/* take - the replies so far, as a NUL-terminated copy, and clear them */

static char *take(struct smtpd_session *s)
{
	char   *r = sg_xstrndup(s->out.data ? s->out.data : "", s->out.len);

	sg_buf_reset(&s->out);
	return (r);
}

static void expect(struct smtpd_session *s, const char *want)
{
	char   *got = take(s);

	assert_string_equal(got, want);
	free(got);
}

/* feed_all - feed like the driver: all of it, stopping at actions */

static unsigned feed_all(struct smtpd_session *s, const char *p, size_t len, size_t step)
{
	unsigned acts = 0;

	for (size_t i = 0; i < len;) {
		size_t	n = len - i < step ? len - i : step;
		size_t	used = smtpd_session_feed(s, p + i, n);

		i += used;
		acts |= s->actions;
		if (s->actions & SMTPD_ACT_MESSAGE)
			smtpd_session_committed(s, 0, "QID1");
		if (s->actions & (SMTPD_ACT_CLOSE | SMTPD_ACT_STARTTLS))
			return (acts);
		s->actions = 0;
		if (used == 0 && n > 0)
			fail_msg("feed took nothing in state %s", smtpd_state_name(s->state));
	}
	return (acts);
}

static void test_reply_format(void **state)
{
	struct smtpd_session s;
	char	big[2000];

	(void) state;
	session(&s, false, SMTPD_SEC_NONE);
	expect(&s, "220 mx.own.test ESMTP sealgate\r\n");
	smtpd_reply(&s, "250 2.0.0 %s", "a\r\nQUIT\nb");
	expect(&s, "250 2.0.0 a  QUIT b\r\n");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	smtpd_reply(&s, "500 5.5.2 %s", big);
	assert_int_equal(s.out.len, SMTPD_CMD_MAX - 1);
	assert_memory_equal(s.out.data + s.out.len - 2, "\r\n", 2);
	sg_buf_reset(&s.out);
	assert_true(smtpd_reply_is_error("452 4.3.1 x"));
	assert_false(smtpd_reply_is_error("250 2.0.0 x"));
	smtpd_session_free(&s);
}

struct param_case {
	const char *in;
	const char *err;		/* prefix of the reply, NULL: accepted */
};

static const struct param_case mail_cases[] = {
	{"", NULL},
	{" SIZE=1000", NULL},
	{" size=1000 body=8bitmime smtputf8 ret=hdrs envid=a+2Bb", NULL},
	{" SIZE=10001", "552 5.3.4"},
	{" SIZE=99999999999999999999999", "552 5.3.4"},
	{" SIZE=1k", "501 5.5.4"},
	{" SIZE=", "501 5.5.4"},
	{" SIZE", "501 5.5.4"},
	{" SIZE=1 SIZE=1", "501 5.5.4"},
	{" BODY=BINARYMIME", "501 5.5.4"},
	{" SMTPUTF8=yes", "501 5.5.4"},
	{" RET=ALL", "501 5.5.4"},
	{" ENVID=a=b", "501 5.5.4"},
	{" ENVID=a+zz", "501 5.5.4"},
	{" AUTH=<>", "555 5.5.4"},
	{" X-FOO", "555 5.5.4"},
};

static const struct param_case rcpt_cases[] = {
	{"", NULL},
	{" NOTIFY=NEVER", NULL},
	{" notify=success,failure,delay ORCPT=rfc822;a+40b", NULL},
	{" NOTIFY=NEVER,DELAY", "501 5.5.4"},
	{" NOTIFY=SUCCESS,", "501 5.5.4"},
	{" NOTIFY=SUCCESS,SUCCESS", "501 5.5.4"},
	{" NOTIFY=", "501 5.5.4"},
	{" ORCPT=rfc822", "501 5.5.4"},
	{" ORCPT=;x", "501 5.5.4"},
	{" ORCPT=rfc 822;x", "501 5.5.4"},
	{" SIZE=1", "555 5.5.4"},
};

static void check_param(const struct param_case *c, const char *got)
{
	if (c->err == NULL && got != NULL)
		fail_msg("\"%s\": refused with %s", c->in, got);
	if (c->err && (got == NULL || strncmp(got, c->err, strlen(c->err)) != 0))
		fail_msg("\"%s\": got %s, want %s", c->in, got ? got : "ok", c->err);
}

static void test_params(void **state)
{
	struct smtpd_mail_params mp;
	struct smtpd_rcpt_params rp;

	(void) state;
	for (size_t i = 0; i < SG_NELEM(mail_cases); i++)
		check_param(&mail_cases[i], smtpd_mail_params(S(mail_cases[i].in), 10000, &mp));
	for (size_t i = 0; i < SG_NELEM(rcpt_cases); i++)
		check_param(&rcpt_cases[i], smtpd_rcpt_params(S(rcpt_cases[i].in), &rp));
	assert_null(smtpd_mail_params(S(" SIZE=77 RET=FULL ENVID=xy"), 10000, &mp));
	assert_true(mp.size_given && mp.size == 77 && mp.ret == SMTPD_RET_FULL);
	assert_int_equal(mp.envid_len, 2);
	assert_null(smtpd_rcpt_params(S(" NOTIFY=FAILURE,DELAY"), &rp));
	assert_int_equal(rp.notify, SMTPD_NOTIFY_FAILURE | SMTPD_NOTIFY_DELAY);
}

static const char dialogue_in[] =
	"EHLO client.test\r\n"
	"MAIL FROM:<a@x.test> SIZE=100\r\nRCPT TO:<u@own.test>\r\nRCPT TO:<u@evil.test>\r\n"
	"DATA\r\n"
	"Subject: hi\r\n\r\n..dot\r\n.\r\n"
	"MAIL FROM:<>\r\nRCPT TO:<v@own.test>\r\nDATA\r\nx\r\n.\r\n"
	"QUIT\r\n";

static const char dialogue_out[] =
	"250-mx.own.test\r\n250-PIPELINING\r\n250-SIZE 10000\r\n250-8BITMIME\r\n"
	"250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250 DSN\r\n"
	"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n554 5.7.1 Relay access denied\r\n"
	"354 2.0.0 End data with <CR><LF>.<CR><LF>\r\n"
	"250 2.0.0 Ok: queued as QID1\r\n"
	"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 2.0.0 End data with <CR><LF>.<CR><LF>\r\n"
	"250 2.0.0 Ok: queued as QID1\r\n"
	"221 2.0.0 Bye\r\n";

static void test_dialogue_any_split(void **state)
{
	size_t	steps[] = {1, 2, 3, 7, 64, sizeof(dialogue_in)};

	(void) state;
	for (size_t k = 0; k < SG_NELEM(steps); k++) {
		struct smtpd_session s;
		unsigned acts;

		session(&s, false, SMTPD_SEC_NONE);
		sg_buf_reset(&s.out);
		acts = feed_all(&s, S(dialogue_in), steps[k]);
		assert_true(acts & SMTPD_ACT_MESSAGE);
		assert_true(acts & SMTPD_ACT_CLOSE);
		expect(&s, dialogue_out);
		assert_int_equal(s.state, SMTPD_S_CLOSED);
		smtpd_session_free(&s);
	}
}

static void test_message_text(void **state)
{
	struct smtpd_session s;
	const char *in = "EHLO c.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<u@own.test>\r\nDATA\r\n"
	"Subject: t\r\n\r\n..one\r\n.two\r\n...\r\nend\r\n.\r\n";
	const char *body;
	size_t	len;
	char   *text;

	(void) state;
	session(&s, false, SMTPD_SEC_NONE);
	s.now_ms = 0;
	sg_buf_reset(&s.out);
	assert_int_equal(smtpd_session_feed(&s, S(in)), strlen(in));
	assert_true(s.actions & SMTPD_ACT_MESSAGE);
	assert_int_equal(s.state, SMTPD_S_COMMIT);
	assert_int_equal(smtpd_body_map(&s.tx->body, &body, &len), 0);
	text = sg_xstrndup(body, len);
	assert_string_equal(text,
			    "Received: from c.test ([192.0.2.7])\r\n"
			    "\tby mx.own.test (sealgate) with ESMTP id 000000000000002a.1\r\n"
			    "\tfor <u@own.test>;\r\n\tThu, 01 Jan 1970 00:00:00 +0000\r\n"
			    "Subject: t\r\n\r\n.one\r\ntwo\r\n..\r\nend\r\n");
	free(text);
	assert_int_equal(s.tx->nrcpts, 1);
	assert_string_equal(s.tx->sender, "a@x.test");
	smtpd_session_committed(&s, SG_EFULL, NULL);
	assert_int_equal(s.state, SMTPD_S_READY);
	assert_null(s.tx);
	s.actions = 0;
	sg_buf_reset(&s.out);
	smtpd_session_committed(&s, SG_EIO, NULL);
	expect(&s, "451 4.3.0 Error: queue write error\r\n");
	smtpd_session_free(&s);
}

static void test_committed_replies(void **state)
{
	struct smtpd_session s;
	const char *in = "HELO c.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<u@own.test>\r\nDATA\r\n"
	"x\r\n.\r\n";

	(void) state;
	session(&s, false, SMTPD_SEC_NONE);
	feed_all(&s, S(in), 1000);
	sg_buf_reset(&s.out);
	/* feed_all answered 250; the queue-full answer for a second one */
	feed_all(&s, S("MAIL FROM:<a@x.test>\r\nRCPT TO:<u@own.test>\r\nDATA\r\nx\r\n"), 1000);
	sg_buf_reset(&s.out);
	assert_int_equal(smtpd_session_feed(&s, S(".\r\n")), 3);
	smtpd_session_committed(&s, SG_EFULL, NULL);
	expect(&s, "452 4.3.1 Insufficient system storage\r\n");
	smtpd_session_free(&s);
}

static void test_starttls_stops_at_command(void **state)
{
	struct smtpd_session s;
	const char *in = "EHLO c.test\r\nSTARTTLS\r\nNOOP\r\n";
	size_t	used;

	(void) state;
	session(&s, true, SMTPD_SEC_STARTTLS);
	sg_buf_reset(&s.out);
	used = smtpd_session_feed(&s, S(in));
	assert_int_equal(used, strlen("EHLO c.test\r\nSTARTTLS\r\n"));
	assert_true(s.actions & SMTPD_ACT_STARTTLS);
	assert_non_null(strstr(s.out.data, "250-STARTTLS\r\n"));
	assert_non_null(strstr(s.out.data, "220 2.0.0 Ready to start TLS\r\n"));
	sg_buf_reset(&s.out);
	s.actions = 0;
	smtpd_session_tls_on(&s, "TLSv1.3", "TLS_AES_128_GCM_SHA256");
	assert_int_equal(s.state, SMTPD_S_GREETED);
	feed_all(&s, S("MAIL FROM:<a@x.test>\r\nEHLO c.test\r\nSTARTTLS\r\n"), 1000);
	{
		char   *out = take(&s);

		assert_non_null(strstr(out, "503 5.5.1"));
		assert_null(strstr(out, "250-STARTTLS"));
		assert_non_null(strstr(out, "554 5.5.1 Error: TLS already active\r\n"));
		free(out);
	}
	smtpd_session_free(&s);
}

static void test_starttls_required(void **state)
{
	struct smtpd_session s;

	(void) state;
	session(&s, true, SMTPD_SEC_STARTTLS_REQUIRED);
	sg_buf_reset(&s.out);
	feed_all(&s, S("EHLO c.test\r\nMAIL FROM:<a@x.test>\r\n"), 1000);
	{
		char   *out = take(&s);

		assert_non_null(strstr(out, "\r\n530 5.7.0 Must issue a STARTTLS command first\r\n"));
		free(out);
	}
	smtpd_session_free(&s);
}

static void test_tarpit_and_hard_limit(void **state)
{
	struct smtpd_policy *pol = policy(false, 2, 4);
	struct smtpd_session s;
	size_t	used;

	(void) state;
	smtpd_session_init(&s, pol, NULL, "mx", SMTPD_SEC_NONE, 1);
	smtpd_policy_unref(pol);
	smtpd_session_greet(&s);
	sg_buf_reset(&s.out);
	used = smtpd_session_feed(&s, S("X\r\nY\r\nZ\r\nW\r\nNOOP\r\n"));
	/* errors 1 and 2 are free, the third is held: the feed stops there */
	assert_int_equal(used, 9);
	assert_true(s.actions & SMTPD_ACT_DELAY);
	assert_int_equal(s.delay_ms, 2000);
	expect(&s, "500 5.5.2 Error: command not recognized\r\n"
	       "500 5.5.2 Error: command not recognized\r\n"
	       "500 5.5.2 Error: command not recognized\r\n");
	s.actions = 0;
	used = smtpd_session_feed(&s, S("W\r\nNOOP\r\n"));
	assert_int_equal(used, 3);
	assert_true(s.actions & SMTPD_ACT_CLOSE);
	expect(&s, "500 5.5.2 Error: command not recognized\r\n"
	       "421 4.7.0 mx.own.test Error: too many errors\r\n");
	smtpd_session_free(&s);
}

static void test_line_rules(void **state)
{
	struct smtpd_session s;
	char	line[700];

	(void) state;
	session(&s, false, SMTPD_SEC_NONE);
	sg_buf_reset(&s.out);
	feed_all(&s, S("NOOP\nNOOP\rX\r\n"), 1000);
	expect(&s, "500 5.5.2 Error: bare CR or LF in command\r\n"
	       "500 5.5.2 Error: bare CR or LF in command\r\n");
	memset(line, 'a', sizeof(line));
	memcpy(line, "NOOP ", 5);
	feed_all(&s, line, sizeof(line), 1000);
	feed_all(&s, S("\r\nNOOP\r\n"), 1000);
	expect(&s, "500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n");
	feed_all(&s, S("GET / HTTP/1.0\r\n"), 1000);
	assert_int_equal(s.state, SMTPD_S_CLOSED);
	expect(&s, "");
	smtpd_session_free(&s);
}

static void test_data_refusals(void **state)
{
	static const struct {
		const char *text;
		const char *reply;
	} cases[] = {
		{"a\nb\r\n.\r\n", "550 5.5.2 Error: bare CR or LF in message text\r\n"},
		{"a\r\n.\n.\r\nb\r\n.\r\n", "550 5.5.2 Error: bare CR or LF in message text\r\n"},
		{"a\rb\r\n.\r\n", "550 5.5.2 Error: bare CR or LF in message text\r\n"},
		{"a\r\n.\rx\r\n.\r\n", "550 5.5.2 Error: bare CR or LF in message text\r\n"},
	};

	(void) state;
	for (size_t i = 0; i < SG_NELEM(cases); i++) {
		struct smtpd_session s;
		unsigned acts;

		session(&s, false, SMTPD_SEC_NONE);
		feed_all(&s, S("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<u@own.test>\r\nDATA\r\n"),
			 1000);
		sg_buf_reset(&s.out);
		acts = feed_all(&s, S(cases[i].text), 1);
		assert_false(acts & SMTPD_ACT_MESSAGE);
		expect(&s, cases[i].reply);
		assert_int_equal(s.state, SMTPD_S_READY);
		smtpd_session_free(&s);
	}
}

/*
 * Text lines: own_servers may send lines up to max_line_length_own_servers,
 * everyone else up to max_line_length (0 here: RFC 5321's 1000). A line
 * over 1000 octets is only counted (tx->longest), for the worker to make
 * legal; one over the client's limit refuses the message after the dot.
 * Bare CR or LF stays refused whatever the limit.
 */
struct line_case {
	const char *peer;
	size_t	line;			/* octets before the CRLF */
	const char *reply;		/* NULL: accepted */
	const char *tail;		/* after the long line, before the dot */
};

static const struct line_case line_cases[] = {
	{"192.0.2.7", 1500, NULL, "\r\n"},
	{"192.0.2.7", 3998, NULL, "\r\n"},
	{"192.0.2.7", 3999, "550 5.5.2 Error: message text line longer than 4000 octets\r\n", "\r\n"},
	{"192.0.2.7", 1500, "550 5.5.2 Error: bare CR or LF in message text\r\n", "\n"},
	{"198.51.100.1", 998, NULL, "\r\n"},
	{"198.51.100.1", 999, "550 5.5.2 Error: message text line longer than 1000 octets\r\n", "\r\n"},
	{"198.51.100.1", 1500, "550 5.5.2 Error: message text line longer than 1000 octets\r\n",
	"\r\n"},
};

static struct smtpd_policy *line_policy(void)
{
	static struct sg_conf_main m;
	static struct sg_cidr own;
	struct smtpd_conf c;
	struct smtpd_params p;
	struct smtpd_policy *pol;
	struct sg_buf err = SG_BUF_INIT;

	memset(&m, 0, sizeof(m));
	m.hostname = "mx.own.test";
	m.state_dir = "/tmp";
	m.own_domains.n = 1;
	m.own_domains.v = own_v;
	assert_int_equal(sg_cidr_parse(S("192.0.2.0/24"), &own), 0);
	m.own_servers.n = 1;
	m.own_servers.v = &own;
	memset(&c, 0, sizeof(c));
	c.max_message_size = 100000;
	c.max_recipients = 100;
	c.error_soft_limit = 10;
	c.error_hard_limit = 20;
	c.tarpit_delay = 2000;
	c.spill_threshold = 4096;
	c.max_hops = 20;
	c.max_line_length_own_servers = 4000;	/* max_line_length 0: the RFC's */
	memset(&p, 0, sizeof(p));
	p.conf = &c;
	p.main = &m;
	assert_int_equal(smtpd_policy_new(&p, &pol, &err), 0);
	sg_buf_free(&err);
	return (pol);
}

static void line_case(struct smtpd_policy *pol, const struct line_case *lc, size_t step)
{
	struct smtpd_session s;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct sg_buf text = SG_BUF_INIT;
	const char *body;
	size_t	len;
	unsigned acts;

	inet_pton(AF_INET, lc->peer, &sin.sin_addr);
	smtpd_session_init(&s, pol, (struct sockaddr *) &sin, "mx", SMTPD_SEC_NONE, 1);
	smtpd_session_greet(&s);
	feed_all(&s, S("EHLO c\r\nMAIL FROM:<a@own.test>\r\nRCPT TO:<u@own.test>\r\nDATA\r\n"),
		 1000);
	sg_buf_reset(&s.out);
	sg_buf_puts(&text, "Subject: t\r\n\r\n");
	for (size_t i = 0; i < lc->line; i++)
		sg_buf_putc(&text, i % 80 == 79 ? ' ' : 'a' + (int) (i % 26));
	sg_buf_puts(&text, lc->tail);
	sg_buf_puts(&text, "short\r\n");
	acts = feed_all(&s, text.data, text.len, step);
	/* feed_all commits a message at once: look before the dot */
	assert_false(acts & SMTPD_ACT_MESSAGE);
	assert_int_equal(s.state, SMTPD_S_DATA);
	if (lc->reply == NULL) {
		assert_int_equal(s.tx->longest, lc->line + 2);
		assert_int_equal(smtpd_body_map(&s.tx->body, &body, &len), 0);
		assert_memory_equal(body + len - (text.len - 14), text.data + 14, text.len - 14);
		smtpd_body_unmap(&s.tx->body, body, len);
	}
	acts = feed_all(&s, S(".\r\n"), step);
	if (lc->reply == NULL) {
		assert_true(acts & SMTPD_ACT_MESSAGE);
		expect(&s, "250 2.0.0 Ok: queued as QID1\r\n");
	} else {
		assert_false(acts & SMTPD_ACT_MESSAGE);
		expect(&s, lc->reply);
		assert_int_equal(s.state, SMTPD_S_READY);
	}
	sg_buf_free(&text);
	smtpd_session_free(&s);
}

static void test_line_length_per_class(void **state)
{
	struct smtpd_policy *pol = line_policy();

	(void) state;
	assert_int_equal(smtpd_policy_line_max(pol, true), 4000);
	assert_int_equal(smtpd_policy_line_max(pol, false), SMTPD_TEXT_MAX);
	for (size_t i = 0; i < SG_NELEM(line_cases); i++) {
		line_case(pol, &line_cases[i], 100000);
		line_case(pol, &line_cases[i], 7);
	}
	smtpd_policy_unref(pol);
}

static void test_spill(void **state)
{
	struct smtpd_session s;
	char	line[100];
	const char *body;
	size_t	len;

	(void) state;
	session(&s, false, SMTPD_SEC_NONE);
	feed_all(&s, S("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<u@own.test>\r\nDATA\r\n"), 1000);
	memset(line, 'z', sizeof(line));
	memcpy(line + 98, "\r\n", 2);
	for (int i = 0; i < 80; i++)	/* 8000 bytes: past the 4096 threshold */
		assert_int_equal(smtpd_session_feed(&s, line, sizeof(line)), sizeof(line));
	assert_true(s.tx->body.fd >= 0);
	assert_int_equal(smtpd_session_feed(&s, S(".\r\n")), 3);
	assert_true(s.actions & SMTPD_ACT_MESSAGE);
	assert_int_equal(smtpd_body_map(&s.tx->body, &body, &len), 0);
	assert_memory_equal(body + len - 100, line, 100);
	smtpd_body_unmap(&s.tx->body, body, len);
	/* past max_message_size (10000): refused, nothing kept */
	smtpd_session_committed(&s, 0, "Q");
	s.actions = 0;
	feed_all(&s, S("MAIL FROM:<a@x.test>\r\nRCPT TO:<u@own.test>\r\nDATA\r\n"), 1000);
	sg_buf_reset(&s.out);
	for (int i = 0; i < 120; i++)
		smtpd_session_feed(&s, line, sizeof(line));
	assert_true(s.tx->too_big);
	feed_all(&s, S(".\r\n"), 1000);
	expect(&s, "552 5.3.4 Error: message too big\r\n");
	/* streaming on and on past the limit: cut off after as much again */
	feed_all(&s, S("MAIL FROM:<a@x.test>\r\nRCPT TO:<u@own.test>\r\nDATA\r\n"), 1000);
	sg_buf_reset(&s.out);
	for (int i = 0; i < 250 && s.state == SMTPD_S_DATA; i++)
		smtpd_session_feed(&s, line, sizeof(line));
	assert_int_equal(s.state, SMTPD_S_CLOSED);
	assert_true(s.actions & SMTPD_ACT_CLOSE);
	expect(&s, "552 5.3.4 Error: message too big\r\n"
	       "421 4.7.0 mx.own.test Error: closing connection\r\n");
	smtpd_session_free(&s);
}

/* in_big_data - a session in DATA that takes messages of up to 64 MiB */

static void in_big_data(struct smtpd_session *s)
{
	struct smtpd_policy *pol = policy(false, 10, 20);
	struct sockaddr_in sin = {.sin_family = AF_INET};

	pol->conf.max_message_size = 64 << 20;
	inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
	smtpd_session_init(s, pol, (struct sockaddr *) &sin, "mx", SMTPD_SEC_NONE, 42);
	smtpd_policy_unref(pol);
	smtpd_session_greet(s);
	feed_all(s, S("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<u@own.test>\r\nDATA\r\n"), 1000);
}

/*
 * A body of bare line feeds costs time in proportion to its size: a
 * line's search for its end looks no further than the line. It used to
 * search the rest of the buffer for a CR at every line, so that 64 KiB
 * of LFs were 2 G byte comparisons, and the 16 MiB below about 8 s of
 * smtpd's one thread (here, before the fix): anyone could stall every
 * session with a few such messages. Now they take about 0.1 s; the bound
 * leaves room for a slow or sanitized build on either side.
 */
static void test_bare_line_ends_cost_linear_time(void **state)
{
	struct smtpd_session s;
	char   *lfs = sg_xmalloc(65536);
	double	t0;

	(void) state;
	in_big_data(&s);
	memset(lfs, '\n', 65536);
	t0 = test_cpu_seconds();
	for (int i = 0; i < 128; i++)
		assert_int_equal(smtpd_session_feed(&s, lfs, 65536), 65536);
	memset(lfs, 'a', 65536);	/* and lines of one byte */
	for (size_t i = 1; i < 65536; i += 2)
		lfs[i] = '\n';
	for (int i = 0; i < 128; i++)
		assert_int_equal(smtpd_session_feed(&s, lfs, 65536), 65536);
	assert_true(test_cpu_seconds() - t0 < 2.0);
	assert_int_equal(s.state, SMTPD_S_DATA);
	free(lfs);
	smtpd_session_free(&s);
}

/*
 * Once a body is spilled to its file, lines that begin with a dot are
 * not a write(2) each: the text between two dots used to go to the file
 * in its own call (16 MiB of ".a" lines took about 3.5 s of smtpd's
 * thread, 0.21 s a MiB). What is gathered reaches the file whole at the
 * final dot.
 */
static void test_spilled_dot_lines_are_gathered(void **state)
{
	struct smtpd_session s;
	char   *lines = sg_xmalloc(65536);
	struct stat st;
	const char *body;
	size_t	len, head;
	double	t0;

	(void) state;
	in_big_data(&s);
	head = (size_t) s.tx->body.size;	/* the Received field */
	for (size_t i = 0; i < 65536; i += 4)
		memcpy(lines + i, ".a\r\n", 4);
	t0 = test_cpu_seconds();
	for (int i = 0; i < 256; i++)
		assert_int_equal(smtpd_session_feed(&s, lines, 65536), 65536);
	assert_true(s.tx->body.fd >= 0);
	assert_int_equal(smtpd_session_feed(&s, S(".\r\n")), 3);
	assert_true(test_cpu_seconds() - t0 < 1.5);
	assert_true(s.actions & SMTPD_ACT_MESSAGE);
	/* whole in the file at the dot: what the queue is handed is fd and size */
	assert_int_equal(fstat(s.tx->body.fd, &st), 0);
	assert_int_equal(st.st_size, s.tx->body.size);
	assert_int_equal(smtpd_body_map(&s.tx->body, &body, &len), 0);
	assert_int_equal(len, head + 256 * 16384 * 3);
	assert_memory_equal(body + head, "a\r\na\r\n", 6);
	assert_memory_equal(body + len - 6, "a\r\na\r\n", 6);
	smtpd_body_unmap(&s.tx->body, body, len);
	free(lines);
	smtpd_session_free(&s);
}

static void test_policy(void **state)
{
	static struct sg_conf_main m;
	struct smtpd_conf c;
	struct smtpd_params p;
	struct smtpd_policy *pol;
	struct sg_buf err = SG_BUF_INIT;
	struct sg_addr a;
	char	path[] = "/tmp/test_smtpd_listXXXXXX";
	int	fd = mkstemp(path);
	FILE   *f = fdopen(fd, "w");

	(void) state;
	fputs("# comment\n  Alice@Own.Test  \n\n@blocked.own.test # trailing\n", f);
	fclose(f);
	memset(&m, 0, sizeof(m));
	m.hostname = "mx.own.test";
	m.state_dir = "/tmp";
	m.own_domains.n = 1;
	m.own_domains.v = own_v;
	memset(&c, 0, sizeof(c));
	c.recipient_deny_file = path;
	memset(&p, 0, sizeof(p));
	p.conf = &c;
	p.main = &m;
	assert_int_equal(smtpd_policy_new(&p, &pol, &err), 0);
	sg_addr_parse(S("alice@own.test"), 0, &a);
	assert_int_equal(smtpd_policy_rcpt(pol, false, &a), SMTPD_RCPT_DENIED);
	sg_addr_parse(S("x@blocked.own.test"), 0, &a);
	assert_int_equal(smtpd_policy_rcpt(pol, true, &a), SMTPD_RCPT_DENIED);
	sg_addr_parse(S("bob@own.test"), 0, &a);
	assert_int_equal(smtpd_policy_rcpt(pol, false, &a), SMTPD_RCPT_OK);
	sg_addr_parse(S("bob@far.test"), 0, &a);
	assert_int_equal(smtpd_policy_rcpt(pol, false, &a), SMTPD_RCPT_RELAY);
	assert_int_equal(smtpd_policy_rcpt(pol, true, &a), SMTPD_RCPT_OK);
	sg_addr_parse(S("bob%far.test@own.test"), 0, &a);
	assert_int_equal(smtpd_policy_rcpt(pol, false, &a), SMTPD_RCPT_RELAY);
	smtpd_policy_unref(pol);
	/* a line that is no address is an error naming the line */
	f = fopen(path, "w");
	fputs("ok@own.test\nnot an address\n", f);
	fclose(f);
	assert_int_equal(smtpd_policy_new(&p, &pol, &err), SG_EINVAL);
	assert_non_null(strstr(err.data, ":2: not an address"));
	sg_buf_reset(&err);
	unlink(path);
	assert_int_equal(smtpd_policy_new(&p, &pol, &err), SG_EIO);
	sg_buf_free(&err);
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_format),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_dialogue_any_split),
		cmocka_unit_test(test_message_text),
		cmocka_unit_test(test_committed_replies),
		cmocka_unit_test(test_starttls_stops_at_command),
		cmocka_unit_test(test_starttls_required),
		cmocka_unit_test(test_tarpit_and_hard_limit),
		cmocka_unit_test(test_line_rules),
		cmocka_unit_test(test_data_refusals),
		cmocka_unit_test(test_line_length_per_class),
		cmocka_unit_test(test_spill),
		cmocka_unit_test(test_bare_line_ends_cost_linear_time),
		cmocka_unit_test(test_spilled_dot_lines_are_gathered),
		cmocka_unit_test(test_policy),
	};

	sg_log_init("test_smtpd", "test", SG_LOG_STDERR);
	sg_log_set_level(SG_LOG_WARNING);
	return (cmocka_run_group_tests_name("smtpd", tests, NULL, NULL));
}
