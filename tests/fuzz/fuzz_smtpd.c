/*
 * NAME
 *	fuzz_smtpd 1
 * SUMMARY
 *	libFuzzer target: arbitrary bytes through the SMTP session state machine
 * DESCRIPTION
 *	No network: a session on a fixed policy (own.test, TLS available,
 *	low limits so every path is reachable) gets the input in pieces
 *	whose sizes come from the input's first byte (which also picks an
 *	own server or a stranger as the client, for the two line length
 *	limits), and the harness plays
 *	the driver: it answers every spooled message as committed (or, by
 *	turns, as failed), completes STARTTLS at once, and stops at CLOSE.
 *	Checked on every step: replies are whole CRLF-terminated lines of at
 *	most 512 octets starting with a 2xx-5xx code; a message handed over
 *	has a sender, 1..max recipients, a body within the size limit and no
 *	line over its client's limit (and a longest line no shorter than the
 *	body shows); the session never takes more bytes than it was given.
 */

#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "smtpd/smtpd_int.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static struct smtpd_policy *pol;
static char *own_v[] = {"own.test"};
static struct sg_cidr own_net;

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
	if (sg_cidr_parse("192.0.2.0/24", 12, &own_net) < 0)
		abort();
	m.own_servers.n = 1;
	m.own_servers.v = &own_net;
	c.max_message_size = 20000;
	c.max_line_length = 1000;
	c.max_line_length_own_servers = 3000;
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

/* longest_line - the longest CRLF-ended line of the stored body, CRLF counted */

static uint64_t longest_line(struct smtpd_tx *tx)
{
	const char *p, *end;
	size_t	len;
	uint64_t max = 0;

	if (smtpd_body_map(&tx->body, &p, &len) < 0)
		abort();
	end = p + len;
	for (const char *q = p; q < end;) {
		const char *lf = memchr(q, '\n', (size_t) (end - q));

		if (lf == NULL)
			break;
		if ((uint64_t) (lf - q) + 1 > max)
			max = (uint64_t) (lf - q) + 1;
		q = lf + 1;
	}
	smtpd_body_unmap(&tx->body, p, len);
	return (max);
}

static void check_message(const struct smtpd_session *s)
{
	struct smtpd_tx *tx = s->tx;
	uint64_t stored;

	if (tx == NULL || tx->sender == NULL || tx->nrcpts == 0 || tx->nrcpts > 100
	    || tx->body.size > 20000 || tx->bad_eol || tx->too_long || tx->too_big)
		abort();
	if (tx->line_max != (s->outbound ? 3000u : 1000u) || tx->longest > tx->line_max)
		abort();
	/*
	 * Dot-unstuffing only shortens: what smtpd counted covers what it
	 * stored, but for our Received lines (each shorter than a command).
	 */
	stored = longest_line(tx);
	if (stored > tx->longest && stored > SMTPD_CMD_MAX)
		abort();
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct smtpd_session s;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	size_t	step, i = 0;
	unsigned commits = 0;
	bool	own;

	if (pol == NULL)
		setup();
	if (len == 0)
		return (0);
	step = (size_t) data[0] % 64 + 1;
	own = data[0] & 0x80;
	data++, len--;
	/* 192.0.2.7 is an own server, 198.51.100.7 a stranger */
	sin.sin_addr.s_addr = htonl(own ? 0xc0000207 : 0xc6336407);
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
