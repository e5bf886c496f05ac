/*
 * NAME
 *	fuzz_smtpd 1
 * SUMMARY
 *	libFuzzer target: arbitrary bytes through the SMTP session state machine
 * DESCRIPTION
 *	No network: a session on a fixed policy (own.test, TLS available,
 *	low limits so every path is reachable) gets the input in pieces
 *	whose sizes come from the input's first byte, and the harness plays
 *	the driver: it answers every spooled message as committed (or, by
 *	turns, as failed), completes STARTTLS at once, and stops at CLOSE.
 *	Checked on every step: replies are whole CRLF-terminated lines of at
 *	most 512 octets starting with a 2xx-5xx code; a message handed over
 *	has a sender, 1..max recipients and a body within the size limit;
 *	the session never takes more bytes than it was given.
 */

#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "smtpd/smtpd_int.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static struct smtpd_policy *pol;
static char *own_v[] = {"own.test"};

static void setup(void)
{
	static struct sg_conf_main m;
	static struct smtpd_conf c;
	struct smtpd_params p;
	struct sg_buf err = SG_BUF_INIT;

	sg_log_init("fuzz_smtpd", "fuzz", SG_LOG_STDERR);
	sg_log_set_level(SG_LOG_ERROR);
	m.hostname = "mx.own.test";
	m.state_dir = "/tmp";
	m.own_domains.n = 1;
	m.own_domains.v = own_v;
	c.max_message_size = 20000;
	c.max_recipients = 100;
	c.error_soft_limit = 5;
	c.error_hard_limit = 30;
	c.tarpit_delay = 2000;
	c.spill_threshold = 8192;
	c.max_hops = 10;
	memset(&p, 0, sizeof(p));
	p.conf = &c;
	p.main = &m;
	p.tls = &m;
	if (smtpd_policy_new(&p, &pol, &err) < 0)
		abort();
	sg_buf_free(&err);
}

static void check_out(struct smtpd_session *s)
{
	const char *p = s->out.data, *end = p + s->out.len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t) (end - p));

		if (nl == NULL || nl - p < 5 || nl[-1] != '\r' || nl - p + 1 > SMTPD_CMD_MAX)
			abort();
		if (p[0] < '2' || p[0] > '5' || (p[3] != ' ' && p[3] != '-'))
			abort();
		if (memchr(p, '\r', (size_t) (nl - p)) != nl - 1)
			abort();
		p = nl + 1;
	}
	sg_buf_reset(&s->out);
}

static void check_message(const struct smtpd_session *s)
{
	const struct smtpd_tx *tx = s->tx;

	if (tx == NULL || tx->sender == NULL || tx->nrcpts == 0 || tx->nrcpts > 100
	    || tx->body.size > 20000 || tx->bad_eol || tx->too_long || tx->too_big)
		abort();
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct smtpd_session s;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	size_t	step, i = 0;
	unsigned commits = 0;

	if (pol == NULL)
		setup();
	if (len == 0)
		return (0);
	step = (size_t) data[0] % 64 + 1;
	data++, len--;
	sin.sin_addr.s_addr = htonl(0xc0000207);
	smtpd_session_init(&s, pol, (struct sockaddr *) &sin, "mx",
			   step % 3 == 0 ? SMTPD_SEC_STARTTLS_REQUIRED : SMTPD_SEC_STARTTLS, 1);
	smtpd_session_greet(&s);
	while (i < len) {
		size_t	n = len - i < step ? len - i : step;
		size_t	used = smtpd_session_feed(&s, (const char *) data + i, n);

		if (used > n)
			abort();
		i += used;
		check_out(&s);
		if (s.actions & SMTPD_ACT_MESSAGE) {
			check_message(&s);
			smtpd_session_committed(&s, commits++ % 3 == 2 ? SG_EFULL : 0, "Q");
		}
		if (s.actions & SMTPD_ACT_STARTTLS)
			smtpd_session_tls_on(&s, "TLSv1.3", "TLS_AES_128_GCM_SHA256");
		if (s.actions & SMTPD_ACT_CLOSE)
			break;
		if (used == 0 && !s.actions)
			abort();	/* stuck: took nothing, asked for nothing */
		s.actions = 0;
		check_out(&s);
	}
	smtpd_session_free(&s);
	return (0);
}
