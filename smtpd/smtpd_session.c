/*
 * NAME
 *	smtpd_session 3
 * SUMMARY
 *	the ESMTP session state machine: bytes in, replies and actions out
 * SYNOPSIS
 *	#include "smtpd/smtpd_int.h"
 *
 *	void	smtpd_session_init(s, pol, peer, listener, security, id)
 *	void	smtpd_session_greet(s)
 *	size_t	smtpd_session_feed(s, p, len)
 *	void	smtpd_session_committed(s, err, qid)
 *	void	smtpd_session_tls_on(s, version, cipher)
 *	void	smtpd_session_timeout(s)
 *	void	smtpd_session_shutdown(s)
 *	void	smtpd_session_free(s)
 *	const char *smtpd_state_name(state)
 * DESCRIPTION
 *	A pure module: no sockets, timers or threads. The driver feeds the
 *	bytes it read, writes whatever appeared in s->out, and obeys
 *	s->actions (then clears them):
 *
 *	SMTPD_ACT_MESSAGE: s->tx holds a complete, acceptable message; spool
 *	it and call smtpd_session_committed() with the outcome. Only that
 *	call produces the 250, so no reply can claim an unstored message.
 *
 *	SMTPD_ACT_STARTTLS: the 220 is in s->out; write it, throw away every
 *	byte the client sent after the STARTTLS line (plaintext injection,
 *	CVE-2011-0411), do the handshake, then call smtpd_session_tls_on(),
 *	which forgets EHLO and any transaction.
 *
 *	SMTPD_ACT_DELAY: hold s->out for s->delay_ms (tarpit).
 *
 *	SMTPD_ACT_CLOSE: write s->out, then close.
 *
 *	smtpd_session_feed() stops at each action and returns how many bytes
 *	it took; the driver keeps the rest and feeds it again afterwards.
 *
 *	Input rules: a command line ends with CRLF only, and is at most 512
 *	octets; message text ends only at CRLF "." CRLF, and a bare CR or LF
 *	anywhere in it makes the whole message refused after the final dot
 *	(550 5.5.2), so no SMTP smuggling can ride through us. Text lines
 *	may be as long as the client's class allows (smtpd_policy_line_max:
 *	RFC 5321's 1000 octets, more for own_servers); a longer one makes
 *	the message refused after the final dot (550 5.5.2). Lines are only
 *	counted, never held, so the limit costs no memory. A message with a
 *	line over 1000 octets is accepted with tx->longest telling so: it
 *	must go through the worker, which makes it legal. A message over the size limit is read on to its
 *	end and refused, but a client that streams on for as much again is
 *	cut off. HTTP requests end the session without a reply.
 *	Every refusal counts as an error; past error_soft_limit each reply is
 *	delayed by tarpit_delay, at error_hard_limit the session says 421
 *	and closes.
 *
 *	Every state change goes through session_enter(), which logs it at
 *	debug level; smtpd_session_free() is the one path that releases a
 *	session's resources.
 */

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "smtpd_int.h"

#define STOP_ACTS (SMTPD_ACT_CLOSE | SMTPD_ACT_MESSAGE | SMTPD_ACT_STARTTLS | SMTPD_ACT_DELAY)

/* DATA parser states */
enum {
	D_BOL,				/* at the start of a line */
	D_DOT,				/* after a leading dot */
	D_DOTCR,			/* after "." CR at the start of a line */
	D_MID,				/* inside a line */
	D_CR,				/* after CR inside a line */
};

static const char *const state_names[] = {
	"connected", "greeted", "ready", "mail", "rcpt", "data", "commit", "tls", "closed",
};

const char *smtpd_state_name(enum smtpd_state st)
{
	return ((unsigned) st < SG_NELEM(state_names) ? state_names[st] : "?");
}

/* session_enter - the only writer of s->state */

static void session_enter(struct smtpd_session *s, enum smtpd_state st)
{
	if (s->state != st)
		sg_debug("session=%s event=state from=%s to=%s", s->id,
			 smtpd_state_name(s->state), smtpd_state_name(st));
	s->state = st;
}

/* tx_free - drop the transaction, if any */

static void tx_free(struct smtpd_session *s)
{
	if (s->tx == NULL)
		return;
	smtpd_body_free(&s->tx->body);
	sg_arena_free(s->tx->arena);
	s->tx = NULL;
}

/* refuse - an error reply: counted, tarpitted past the soft limit */

static void refuse(struct smtpd_session *s, const char *fmt, ...) SG_PRINTF(2, 3);

/*
 * log_reject - the line an administrator greps first, as Postfix's
 * "NOQUEUE: reject": who, under which command, for whom, and the reply.
 */
static void log_reject(const struct smtpd_session *s, const char *reply)
{
	const char *from = s->tx && s->tx->sender ? s->tx->sender : "";
	const char *to = s->cmd_rcpt ? s->cmd_rcpt : "";
	char	helo[80], f[300], t[300];

	sg_info("session=%s event=reject client=%s listener=%s helo=\"%s\" command=%s "
		"from=\"%s\" to=\"%s\" reply=\"%s\"", s->id, s->peer_str, s->listener,
		sg_printable(helo, sizeof(helo), s->helo, strlen(s->helo)),
		s->cmd ? s->cmd : s->state == SMTPD_S_DATA ? "end-of-data" : "-",
		sg_printable(f, sizeof(f), from, strlen(from)),
		sg_printable(t, sizeof(t), to, strlen(to)), reply);
	if (s->on_reject)
		s->on_reject(s, reply);
}

static void refuse(struct smtpd_session *s, const char *fmt, ...)
{
	char	line[SMTPD_CMD_MAX];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	smtpd_reply(s, "%s", line);
	s->errors++;
	log_reject(s, line);
	if (s->errors >= (unsigned) s->pol->conf.error_hard_limit) {
		sg_info("session=%s event=error_limit client=%s errors=%u", s->id,
			s->peer_str, s->errors);
		smtpd_reply(s, "421 4.7.0 %s Error: too many errors", s->pol->hostname);
		s->actions |= SMTPD_ACT_CLOSE;
		tx_free(s);
		session_enter(s, SMTPD_S_CLOSED);
	} else if (s->errors > (unsigned) s->pol->conf.error_soft_limit) {
		s->actions |= SMTPD_ACT_DELAY;
		s->delay_ms = s->pol->conf.tarpit_delay;
	}
}

void	smtpd_session_init(struct smtpd_session *s, struct smtpd_policy *pol,
			   const struct sockaddr *peer, const char *listener,
			   int security, uint64_t id)
{
	memset(s, 0, sizeof(*s));
	s->state = SMTPD_S_CONNECTED;
	s->pol = smtpd_policy_ref(pol);
	snprintf(s->id, sizeof(s->id), "%016llx", (unsigned long long) id);
	if (peer) {
		memcpy(&s->peer, peer, peer->sa_family == AF_INET6
		       ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
		sg_sockaddr_str(peer, s->peer_str, sizeof(s->peer_str));
		s->outbound = smtpd_policy_outbound(pol, peer);
	} else {
		snprintf(s->peer_str, sizeof(s->peer_str), "unknown");
	}
	snprintf(s->listener, sizeof(s->listener), "%s", listener ? listener : "");
	s->security = security;
}

void	smtpd_session_greet(struct smtpd_session *s)
{
	smtpd_reply(s, "220 %s ESMTP sealgate", s->pol->hostname);
	session_enter(s, SMTPD_S_GREETED);
}

/* tls_offered - STARTTLS may be used on this session now */

static bool tls_offered(const struct smtpd_session *s)
{
	return (!s->tls && s->pol->tls_ready && (s->security == SMTPD_SEC_STARTTLS
				|| s->security == SMTPD_SEC_STARTTLS_REQUIRED));
}

/* tls_missing - the listener demands TLS and the session has none */

static bool tls_missing(const struct smtpd_session *s)
{
	return (s->security == SMTPD_SEC_STARTTLS_REQUIRED && !s->tls);
}

/* helo_arg - the EHLO/HELO argument: one word of printable ASCII */

static bool helo_arg(struct smtpd_session *s, const char *arg, size_t len)
{
	if (len == 0 || len > SMTPD_HELO_MAX)
		return (false);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) arg[i] <= ' ' || (unsigned char) arg[i] > '~')
			return (false);
	memcpy(s->helo, arg, len);
	s->helo[len] = 0;
	return (true);
}

static void cmd_ehlo(struct smtpd_session *s, const char *arg, size_t len)
{
	if (!helo_arg(s, arg, len)) {
		refuse(s, "501 5.5.4 Syntax: EHLO hostname");
		return;
	}
	tx_free(s);
	s->esmtp = true;
	smtpd_reply(s, "250-%s", s->pol->hostname);
	smtpd_reply(s, "250-PIPELINING");
	smtpd_reply(s, "250-SIZE %llu", (unsigned long long) s->pol->conf.max_message_size);
	smtpd_reply(s, "250-8BITMIME");
	if (tls_offered(s))
		smtpd_reply(s, "250-STARTTLS");
	smtpd_reply(s, "250-ENHANCEDSTATUSCODES");
	smtpd_reply(s, "250-SMTPUTF8");
	smtpd_reply(s, "250 DSN");
	session_enter(s, SMTPD_S_READY);
}

static void cmd_helo(struct smtpd_session *s, const char *arg, size_t len)
{
	if (!helo_arg(s, arg, len)) {
		refuse(s, "501 5.5.4 Syntax: HELO hostname");
		return;
	}
	tx_free(s);
	s->esmtp = false;
	smtpd_reply(s, "250 %s", s->pol->hostname);
	session_enter(s, SMTPD_S_READY);
}

/* path_arg - "FROM:" or "TO:" then optional spaces; the rest in *p, *len */

static bool path_arg(const char *word, const char **p, size_t *len)
{
	size_t	n = strlen(word);

	if (*len < n || strncasecmp(*p, word, n) != 0)
		return (false);
	*p += n;
	*len -= n;
	while (*len > 0 && **p == ' ')
		(*p)++, (*len)--;
	return (true);
}

/* path_refusal - the reply for a path the parser rejected */

static void path_refusal(struct smtpd_session *s, int err, const char *what)
{
	if (err == SG_EUNSUPPORTED)
		refuse(s, "553 5.1.3 Source routes are not accepted");
	else if (err == SG_ELIMIT)
		refuse(s, "553 5.1.3 %s address too long", what);
	else
		refuse(s, "501 5.1.3 Bad %s address syntax", what);
}

/* tx_new - a transaction for MAIL */

static struct smtpd_tx *tx_new(struct smtpd_session *s)
{
	struct sg_arena *a = sg_arena_new();
	struct smtpd_tx *tx = sg_arena_alloc(a, sizeof(*tx));

	tx->arena = a;
	tx->rule = -2;
	tx->outbound = s->outbound;
	tx->line_max = smtpd_policy_line_max(s->pol, s->outbound);
	smtpd_body_init(&tx->body, s->pol->state_dir, s->pol->conf.spill_threshold);
	return (tx);
}

static void cmd_mail(struct smtpd_session *s, const char *arg, size_t len)
{
	struct smtpd_mail_params mp;
	struct sg_addr a;
	size_t	used;
	const char *bad;
	char	buf[SG_ADDR_PATH_MAX + 2];
	int	err;

	if (!path_arg("FROM:", &arg, &len)) {
		refuse(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	if ((err = sg_addr_parse_path(arg, len, SG_ADDR_O_NULL | SG_ADDR_O_UTF8, &a, &used)) < 0) {
		path_refusal(s, err, "sender");
		return;
	}
	if (used < len && arg[used] != ' ') {
		refuse(s, "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]");
		return;
	}
	if ((bad = smtpd_mail_params(arg + used, len - used, s->pol->conf.max_message_size,
				     &mp)) != NULL) {
		refuse(s, "%s", bad);
		return;
	}
	if ((a.flags & SG_ADDR_F_UTF8) && !mp.smtputf8) {
		refuse(s, "553 5.6.7 Non-ASCII address needs SMTPUTF8");
		return;
	}
	if (!smtpd_policy_room(s->pol, mp.size)) {
		refuse(s, "452 4.3.1 Insufficient system storage");
		return;
	}
	s->tx = tx_new(s);
	sg_addr_format(&a, buf, sizeof(buf));
	s->tx->sender = sg_arena_strdup(s->tx->arena, buf);
	s->tx->declared_size = mp.size;
	s->tx->smtputf8 = mp.smtputf8;
	s->tx->body_8bit = mp.body == 8;
	s->tx->ret = mp.ret;
	if (mp.envid)
		s->tx->envid = sg_arena_strndup(s->tx->arena, mp.envid, mp.envid_len);
	smtpd_reply(s, "250 2.1.0 Ok");
	session_enter(s, SMTPD_S_MAIL);
}

/* rcpt_rule - strict single rule: false if rcpt belongs to another rule */

static bool rcpt_rule(struct smtpd_session *s, const char *rcpt)
{
	struct smtpd_tx *tx = s->tx;
	int	rule;

	if (!s->pol->conf.strict_single_rule || s->pol->rules == NULL)
		return (true);
	rule = sg_rules_classify(s->pol->rules, tx->outbound ? SG_RULE_DIR_OUTBOUND
				 : SG_RULE_DIR_INBOUND, s->listener, tx->sender,
				 strlen(tx->sender), rcpt, strlen(rcpt));
	if (tx->rule == -2)
		tx->rule = rule;
	return (tx->rule == rule);
}

/* rcpt_postmaster - <Postmaster> means postmaster at our first domain */

static bool rcpt_postmaster(struct smtpd_session *s, struct sg_addr *a)
{
	const char *d = NULL;

	if (!(a->flags & SG_ADDR_F_POSTMASTER))
		return (true);
	/* the first own domain that is a name, not a "*.parent" pattern */
	for (size_t i = 0; d == NULL && i < s->pol->own_domains.n; i++)
		if (s->pol->own_domains.v[i][0] != '*')
			d = s->pol->own_domains.v[i];
	if (d == NULL)
		return (false);
	a->domain_len = strlen(d);
	memcpy(a->domain, d, a->domain_len + 1);
	a->flags &= ~SG_ADDR_F_POSTMASTER;
	return (true);
}

/* rcpt_verdict - policy refusals; true when the recipient may pass */

static bool rcpt_verdict(struct smtpd_session *s, const struct sg_addr *a)
{
	switch (smtpd_policy_rcpt(s->pol, s->tx->outbound, a)) {
	case SMTPD_RCPT_OK:
		return (true);
	case SMTPD_RCPT_RELAY:
		refuse(s, "554 5.7.1 Relay access denied");
		return (false);
	case SMTPD_RCPT_DENIED:
		refuse(s, "550 5.7.1 Recipient address rejected: access denied");
		return (false);
	case SMTPD_RCPT_UNKNOWN:
	default:
		refuse(s, "550 5.1.1 Recipient address rejected: user unknown");
		return (false);
	}
}

/* rcpt_add - remember an accepted recipient */

static void rcpt_add(struct smtpd_tx *tx, const char *addr, const struct smtpd_rcpt_params *rp)
{
	struct smtpd_rcpt *r;

	if (tx->nrcpts == tx->rcpt_cap) {
		size_t	cap = tx->rcpt_cap ? tx->rcpt_cap * 2 : 8;
		struct smtpd_rcpt *v = sg_arena_alloc(tx->arena, cap * sizeof(*v));

		if (tx->nrcpts)
			memcpy(v, tx->rcpts, tx->nrcpts * sizeof(*v));
		tx->rcpts = v;
		tx->rcpt_cap = cap;
	}
	r = &tx->rcpts[tx->nrcpts++];
	r->addr = sg_arena_strdup(tx->arena, addr);
	r->orcpt = rp->orcpt ? sg_arena_strndup(tx->arena, rp->orcpt, rp->orcpt_len) : NULL;
	r->notify = rp->notify;
}

static void cmd_rcpt(struct smtpd_session *s, const char *arg, size_t len)
{
	struct smtpd_rcpt_params rp;
	struct sg_addr a;
	size_t	used;
	const char *bad;
	char	buf[SG_ADDR_PATH_MAX + 2];
	int	err;

	if (!path_arg("TO:", &arg, &len)) {
		refuse(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	if ((err = sg_addr_parse_path(arg, len, SG_ADDR_O_POSTMASTER | SG_ADDR_O_UTF8,
				      &a, &used)) < 0) {
		path_refusal(s, err, "recipient");
		return;
	}
	if (used < len && arg[used] != ' ') {
		refuse(s, "501 5.5.4 Syntax: RCPT TO:<address> [parameters]");
		return;
	}
	if ((bad = smtpd_rcpt_params(arg + used, len - used, &rp)) != NULL) {
		refuse(s, "%s", bad);
		return;
	}
	if ((a.flags & SG_ADDR_F_UTF8) && !s->tx->smtputf8) {
		refuse(s, "553 5.6.7 Non-ASCII address needs SMTPUTF8");
		return;
	}
	if (!rcpt_postmaster(s, &a)) {
		refuse(s, "550 5.1.1 Recipient address rejected: no postmaster here");
		return;
	}
	sg_addr_format(&a, buf, sizeof(buf));
	s->cmd_rcpt = buf;			/* until dispatch() returns */
	if (s->tx->nrcpts >= (size_t) s->pol->conf.max_recipients) {
		refuse(s, "452 4.5.3 Too many recipients");
		return;
	}
	if (!rcpt_verdict(s, &a))
		return;
	if (!rcpt_rule(s, buf)) {
		refuse(s, "452 4.5.3 Recipient falls under another rule: send it separately");
		return;
	}
	rcpt_add(s->tx, buf, &rp);
	smtpd_reply(s, "250 2.1.5 Ok");
	session_enter(s, SMTPD_S_RCPT);
}

/* received - the Received header field we prepend (RFC 5321 4.4) */

static void received(struct smtpd_session *s)
{
	struct smtpd_tx *tx = s->tx;
	struct sg_buf *b = &tx->body.mem;
	char	date[64], helo[80];
	time_t	t = (time_t) (s->now_ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	sg_printable(helo, sizeof(helo), s->helo, strlen(s->helo));
	sg_buf_printf(b, "Received: from %s ([%s])\r\n\tby %s (sealgate) with %s%s%s id %s.%u",
		      helo, s->peer_str, s->pol->hostname, tx->smtputf8 ? "UTF8SMTP" : "",
		      tx->smtputf8 ? "" : (s->esmtp ? "ESMTP" : "SMTP"),
		      s->tls ? "S" : "", s->id, s->messages + 1);
	if (s->tls)
		sg_buf_printf(b, "\r\n\t(using %s with cipher %s)", s->tls_version, s->tls_cipher);
	if (tx->nrcpts == 1)
		sg_buf_printf(b, "\r\n\tfor <%s>", tx->rcpts[0].addr);
	sg_buf_printf(b, ";\r\n\t%s\r\n", date);
	tx->body.size = b->len;
}

static void cmd_data(struct smtpd_session *s, const char *arg, size_t len)
{
	(void) arg;
	if (len) {
		refuse(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (s->tx->declared_size > 0)	/* one allocation instead of doublings */
		sg_buf_reserve(&s->tx->body.mem, (size_t) (s->tx->declared_size + 1024 <
			s->pol->conf.spill_threshold ? s->tx->declared_size + 1024
			: s->pol->conf.spill_threshold));
	received(s);
	s->tx->dstate = D_BOL;
	s->tx->in_header = true;
	smtpd_reply(s, "354 2.0.0 End data with <CR><LF>.<CR><LF>");
	session_enter(s, SMTPD_S_DATA);
}

static void cmd_rset(struct smtpd_session *s, const char *arg, size_t len)
{
	(void) arg;
	if (len) {
		refuse(s, "501 5.5.4 Syntax: RSET");
		return;
	}
	tx_free(s);
	smtpd_reply(s, "250 2.0.0 Ok");
	if (s->state > SMTPD_S_READY)
		session_enter(s, SMTPD_S_READY);
}

static void cmd_noop(struct smtpd_session *s, const char *arg, size_t len)
{
	(void) arg;
	(void) len;
	smtpd_reply(s, "250 2.0.0 Ok");
}

static void cmd_quit(struct smtpd_session *s, const char *arg, size_t len)
{
	(void) arg;
	(void) len;
	smtpd_reply(s, "221 2.0.0 Bye");
	tx_free(s);
	s->actions |= SMTPD_ACT_CLOSE;
	session_enter(s, SMTPD_S_CLOSED);
}

static void cmd_vrfy(struct smtpd_session *s, const char *arg, size_t len)
{
	(void) arg;
	if (len == 0) {
		refuse(s, "501 5.5.4 Syntax: VRFY address");
		return;
	}
	smtpd_reply(s, "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery");
}

static void cmd_help(struct smtpd_session *s, const char *arg, size_t len)
{
	(void) arg;
	(void) len;
	smtpd_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP%s",
		    tls_offered(s) ? " STARTTLS" : "");
}

static void cmd_starttls(struct smtpd_session *s, const char *arg, size_t len)
{
	(void) arg;
	if (s->tls) {
		refuse(s, "554 5.5.1 Error: TLS already active");
		return;
	}
	if (!tls_offered(s)) {
		refuse(s, "502 5.5.1 Error: command not available");
		return;
	}
	if (len) {
		refuse(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	smtpd_reply(s, "220 2.0.0 Ready to start TLS");
	tx_free(s);
	s->actions |= SMTPD_ACT_STARTTLS;
	session_enter(s, SMTPD_S_TLS);
}

static void cmd_unimpl(struct smtpd_session *s, const char *arg, size_t len)
{
	(void) arg;
	(void) len;
	refuse(s, "502 5.5.1 Error: command not available");
}

/* Command table flags: where a command may appear. */
#define F_HELO	(1u << 0)		/* needs EHLO/HELO first */
#define F_TLS	(1u << 1)		/* refused before TLS on starttls-required */
#define F_MAIL	(1u << 2)		/* needs MAIL first */
#define F_RCPT	(1u << 3)		/* needs a recipient first */
#define F_NOTX	(1u << 4)		/* not inside a transaction */

static const struct smtpd_command {
	const char *name;
	void	(*fn) (struct smtpd_session *, const char *, size_t);
	unsigned flags;
} commands[] = {
	{"EHLO", cmd_ehlo, 0},
	{"HELO", cmd_helo, 0},
	{"MAIL", cmd_mail, F_HELO | F_TLS | F_NOTX},
	{"RCPT", cmd_rcpt, F_HELO | F_TLS | F_MAIL},
	{"DATA", cmd_data, F_HELO | F_TLS | F_MAIL | F_RCPT},
	{"RSET", cmd_rset, 0},
	{"NOOP", cmd_noop, 0},
	{"QUIT", cmd_quit, 0},
	{"VRFY", cmd_vrfy, F_TLS},
	{"HELP", cmd_help, 0},
	{"STARTTLS", cmd_starttls, F_HELO},
	{"BDAT", cmd_unimpl, 0},
	{"AUTH", cmd_unimpl, 0},
	{"EXPN", cmd_unimpl, 0},
	{"ETRN", cmd_unimpl, 0},
	{"TURN", cmd_unimpl, 0},
};

/* precondition - the 503/530 for a command out of sequence, or NULL */

static const char *precondition(const struct smtpd_session *s, unsigned flags)
{
	if ((flags & F_HELO) && s->state < SMTPD_S_READY)
		return ("503 5.5.1 Error: send HELO/EHLO first");
	if ((flags & F_TLS) && tls_missing(s))
		return ("530 5.7.0 Must issue a STARTTLS command first");
	if ((flags & F_NOTX) && s->tx)
		return ("503 5.5.1 Error: nested MAIL command");
	if ((flags & F_MAIL) && s->tx == NULL)
		return ("503 5.5.1 Error: need MAIL command");
	if ((flags & F_RCPT) && s->tx->nrcpts == 0)
		return ("554 5.5.1 Error: no valid recipients");
	return (NULL);
}

/* http_request - an HTTP request line or header sent to the SMTP port */

static bool http_request(const char *p, size_t len)
{
	static const char *const words[] = {
		"GET ", "POST ", "HEAD ", "PUT ", "CONNECT ", "OPTIONS ", "DELETE ",
		"Host:", "User-Agent:",
	};

	for (size_t i = 0; i < SG_NELEM(words); i++) {
		size_t	n = strlen(words[i]);

		if (len >= n && strncasecmp(p, words[i], n) == 0)
			return (true);
	}
	return (false);
}

/* dispatch - one complete, well-formed command line */

static void dispatch(struct smtpd_session *s, const char *p, size_t len)
{
	const char *sp = memchr(p, ' ', len);
	size_t	vlen = sp ? (size_t) (sp - p) : len;
	const char *arg = sp ? sp + 1 : p + len;
	size_t	alen = sp ? len - vlen - 1 : 0;
	const char *why;

	for (size_t i = 0; i < SG_NELEM(commands); i++) {
		const struct smtpd_command *c = &commands[i];

		if (strlen(c->name) != vlen || strncasecmp(p, c->name, vlen) != 0)
			continue;
		s->cmd = c->name;
		if ((why = precondition(s, c->flags)) != NULL)
			refuse(s, "%s", why);
		else
			c->fn(s, arg, alen);
		s->cmd = NULL;
		s->cmd_rcpt = NULL;
		return;
	}
	s->cmd = "unknown";
	refuse(s, "500 5.5.2 Error: command not recognized");
	s->cmd = NULL;
}

/* line_done - a command line ended (CRLF, or a bare LF we refuse) */

static void line_done(struct smtpd_session *s)
{
	char	shown[80];

	if (http_request(s->line, s->line_len)) {
		sg_info("session=%s event=http_request client=%s line=\"%s\"", s->id,
			s->peer_str, sg_printable(shown, sizeof(shown), s->line, s->line_len));
		s->actions |= SMTPD_ACT_CLOSE;
		tx_free(s);
		session_enter(s, SMTPD_S_CLOSED);
	} else if (s->line_overflow)
		refuse(s, "500 5.5.2 Error: line too long");
	else if (s->line_bad)
		refuse(s, "500 5.5.2 Error: bare CR or LF in command");
	else
		dispatch(s, s->line, s->line_len);
	s->line_len = 0;
	s->line_overflow = s->line_bad = s->line_cr = false;
}

/* line_feed - assemble a command line; returns bytes taken */

static size_t line_feed(struct smtpd_session *s, const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char	c = p[i];

		if (s->line_cr) {
			s->line_cr = false;
			if (c == '\n') {
				line_done(s);
				return (i + 1);
			}
			s->line_bad = true;
		}
		if (c == '\r') {
			s->line_cr = true;
		} else if (c == '\n') {
			s->line_bad = true;
			line_done(s);
			return (i + 1);
		} else if (s->line_len < SMTPD_CMD_MAX - 2) {
			s->line[s->line_len++] = c;
		} else {
			s->line_overflow = true;
		}
	}
	return (len);
}

/* data_emit - store message text unless the message is already lost */

static void data_emit(struct smtpd_session *s, const char *p, size_t n)
{
	struct smtpd_tx *tx = s->tx;

	if (n == 0 || tx->bad_eol || tx->too_long || tx->too_big)
		return;
	if (tx->body.size + n > s->pol->conf.max_message_size) {
		tx->too_big = true;
		smtpd_body_free(&tx->body);
		return;
	}
	smtpd_body_append(&tx->body, p, n);
}

/* data_line_end - CRLF seen: line length, header section, hops */

static void data_line_end(struct smtpd_tx *tx)
{
	if (tx->line_len > tx->longest)
		tx->longest = tx->line_len;
	if (tx->line_len > tx->line_max)
		tx->too_long = true;
	if (tx->in_header) {
		if (tx->line_len == 2)
			tx->in_header = false;
		else if (tx->lhead_len == sizeof(tx->lhead)
			 && strncasecmp(tx->lhead, "Received:", sizeof(tx->lhead)) == 0)
			tx->hops++;
	}
	tx->line_len = 0;
	tx->lhead_len = 0;
}

/* data_end - the final dot: refuse, or hand the message over */

static void data_end(struct smtpd_session *s)
{
	struct smtpd_tx *tx = s->tx;

	if (tx->too_big)
		refuse(s, "552 5.3.4 Error: message too big");
	else if (tx->bad_eol)
		refuse(s, "550 5.5.2 Error: bare CR or LF in message text");
	else if (tx->too_long)
		refuse(s, "550 5.5.2 Error: message text line longer than %llu octets",
		       (unsigned long long) tx->line_max);
	else if (tx->hops > (unsigned) s->pol->conf.max_hops)
		refuse(s, "554 5.4.0 Error: too many hops");
	else if (smtpd_body_end(&tx->body) == SG_EFULL)	/* the spill file: the disk is full */
		refuse(s, "452 4.3.1 Insufficient system storage");
	else if (tx->body.err)
		refuse(s, "451 4.3.0 Error: local error writing the message");
	else {
		s->messages++;
		s->actions |= SMTPD_ACT_MESSAGE;
		session_enter(s, SMTPD_S_COMMIT);
		return;
	}
	if (s->state == SMTPD_S_DATA) {
		tx_free(s);
		session_enter(s, SMTPD_S_READY);
	}
}

/*
 * data_feed - message text up to the final dot; returns bytes taken.
 * A dispatch loop over a small state machine, so longer than most:
 * runs of ordinary bytes are stored in one piece, and only the bytes
 * that matter (CR, LF, a leading dot) are looked at one by one.
 */

static size_t data_feed(struct smtpd_session *s, const char *p, size_t len)
{
	struct smtpd_tx *tx = s->tx;
	size_t	i = 0, run = 0;

	while (i < len) {
		switch (tx->dstate) {
		case D_BOL:
			if (p[i] == '.') {
				data_emit(s, p + run, i - run);
				run = ++i;
				tx->line_len = 1;
				tx->dstate = D_DOT;
			} else {
				tx->dstate = D_MID;
			}
			break;
		case D_DOT:
			if (p[i] == '\r') {
				data_emit(s, p + run, i - run);
				run = ++i;
				tx->dstate = D_DOTCR;
			} else {
				tx->dstate = D_MID;
			}
			break;
		case D_DOTCR:
			if (p[i] == '\n') {
				data_end(s);
				return (i + 1);
			}
			tx->bad_eol = true;
			tx->dstate = D_MID;
			break;
		case D_MID:{
				size_t	j = i + sg_line_end(p + i, len - i);

				if (tx->in_header && tx->lhead_len < sizeof(tx->lhead)) {
					size_t	n = sizeof(tx->lhead) - tx->lhead_len;

					n = n < j - i ? n : j - i;
					memcpy(tx->lhead + tx->lhead_len, p + i, n);
					tx->lhead_len += n;
				}
				tx->line_len += j - i;
				i = j;
				if (i < len) {
					if (p[i] == '\n')
						tx->bad_eol = true;
					else
						tx->dstate = D_CR;
					tx->line_len++;
					i++;
				}
				break;
			}
		case D_CR:
			if (p[i] == '\n') {
				tx->line_len++;
				data_line_end(tx);
				tx->dstate = D_BOL;
				i++;
			} else {
				tx->bad_eol = true;
				tx->dstate = D_MID;
			}
			break;
		}
	}
	data_emit(s, p + run, len - run);
	return (len);
}

/*
 * data_flood - a message already too big is read on to its end, as RFC
 * 5321 asks, but only for as much again as the limit: then 552 and close,
 * so nobody can keep a connection busy by streaming forever.
 */

static void data_flood(struct smtpd_session *s, size_t n)
{
	struct smtpd_tx *tx = s->tx;

	if (s->state != SMTPD_S_DATA || !tx->too_big)
		return;
	tx->discarded += n;
	if (tx->discarded <= s->pol->conf.max_message_size)
		return;
	sg_info("session=%s event=data_flood client=%s", s->id, s->peer_str);
	refuse(s, "552 5.3.4 Error: message too big");
	if (s->state != SMTPD_S_CLOSED) {
		smtpd_reply(s, "421 4.7.0 %s Error: closing connection", s->pol->hostname);
		s->actions |= SMTPD_ACT_CLOSE;
		tx_free(s);
		session_enter(s, SMTPD_S_CLOSED);
	}
}

size_t	smtpd_session_feed(struct smtpd_session *s, const char *p, size_t len)
{
	size_t	i = 0;

	while (i < len && !(s->actions & STOP_ACTS)) {
		switch (s->state) {
		case SMTPD_S_DATA:{
				size_t	n = data_feed(s, p + i, len - i);

				i += n;
				data_flood(s, n);
				break;
			}
		case SMTPD_S_GREETED:
		case SMTPD_S_READY:
		case SMTPD_S_MAIL:
		case SMTPD_S_RCPT:
			i += line_feed(s, p + i, len - i);
			break;
		default:
			/* connected (pregreet), commit, tls, closed: nothing is read */
			return (i);
		}
		if (s->state != SMTPD_S_CLOSED && s->state != SMTPD_S_COMMIT
		    && s->errors >= (unsigned) s->pol->conf.error_hard_limit)
			break;
	}
	return (i);
}

void	smtpd_session_committed(struct smtpd_session *s, int err, const char *qid)
{
	if (err == 0)
		smtpd_reply(s, "250 2.0.0 Ok: queued as %s", qid);
	else if (err == SG_EFULL)
		smtpd_reply(s, "452 4.3.1 Insufficient system storage");
	else
		smtpd_reply(s, "451 4.3.0 Error: queue write error");
	tx_free(s);
	if (s->state == SMTPD_S_COMMIT)
		session_enter(s, SMTPD_S_READY);
}

void	smtpd_session_tls_on(struct smtpd_session *s, const char *version, const char *cipher)
{
	s->tls = true;
	snprintf(s->tls_version, sizeof(s->tls_version), "%s", version ? version : "");
	snprintf(s->tls_cipher, sizeof(s->tls_cipher), "%s", cipher ? cipher : "");
	tx_free(s);
	s->helo[0] = 0;
	s->esmtp = false;
	s->line_len = 0;
	s->line_overflow = s->line_bad = s->line_cr = false;
	session_enter(s, SMTPD_S_GREETED);
}

void	smtpd_session_timeout(struct smtpd_session *s)
{
	smtpd_reply(s, "421 4.4.2 %s Error: timeout exceeded", s->pol->hostname);
	s->actions |= SMTPD_ACT_CLOSE;
	tx_free(s);
	session_enter(s, SMTPD_S_CLOSED);
}

void	smtpd_session_shutdown(struct smtpd_session *s)
{
	smtpd_reply(s, "421 4.3.2 %s Service shutting down, closing channel",
		    s->pol->hostname);
	s->actions |= SMTPD_ACT_CLOSE;
	if (s->state != SMTPD_S_COMMIT)
		tx_free(s);
	session_enter(s, SMTPD_S_CLOSED);
}

void	smtpd_session_free(struct smtpd_session *s)
{
	tx_free(s);
	sg_buf_free(&s->out);
	smtpd_policy_unref(s->pol);
	s->pol = NULL;
}
