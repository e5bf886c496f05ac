/*
 * NAME
 *	session 3
 * SUMMARY
 *	the SMTP client as a pure state machine: replies in, commands out
 * SYNOPSIS
 *	#include "delivery/delivery.h"
 *
 *	struct delivery_session *delivery_session_new(params)
 *	int	delivery_session_input(s, data, len)
 *	enum delivery_want delivery_session_want(s)
 *	struct sg_buf *delivery_session_output(s)
 *	int	delivery_session_tls_result(s, ok, chain_ok, name_ok, why)
 *	int	delivery_session_message(s, msg)
 *	void	delivery_session_body(s, data, len)
 *	void	delivery_session_body_end(s)
 *	struct delivery_msg *delivery_session_done(s)
 *	void	delivery_session_quit(s)
 *	void	delivery_session_abort(s, why)
 * DESCRIPTION
 *	One session is one connection to one next hop. It does no I/O: the
 *	driver feeds it the server's bytes (decrypted, once TLS is on),
 *	sends what delivery_session_output() holds, runs the TLS handshake
 *	when asked and streams the body when asked.
 *
 *	Greeting, EHLO (HELO when EHLO is refused), STARTTLS under the
 *	policy, EHLO again over TLS, AUTH, then an idle state in which
 *	messages are given one at a time, so a connection can carry many.
 *	With PIPELINING, MAIL, every RCPT and DATA go out in one write.
 *
 *	TLS policy is applied here. Under "required" and "verify" a server
 *	that does not offer STARTTLS, refuses it or fails the handshake is
 *	never sent MAIL FROM or AUTH: the session fails with 4.7.4 and the
 *	reason. When the 220 to STARTTLS arrives, every byte the server sent
 *	after it is discarded, and only the capabilities of the EHLO sent
 *	over TLS count (Exim CVE-2021-38371 was the opposite). AUTH is only
 *	ever sent over TLS.
 *
 *	Results: each recipient of a message gets DELIVERY_OK, _TEMP or
 *	_PERM with the reply that decided it. A recipient is never left
 *	pending once delivery_session_done() returns its message: a lost
 *	connection or a timeout makes every undecided one temporary.
 * DIAGNOSTICS
 *	delivery_session_input() returns SG_EPROTO when the server's bytes
 *	are not SMTP; the session is then failed and wants to close.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery.h"

#define IN_MAX (64 * 1024)		/* unparsed server bytes we hold */

enum state {
	S_GREETING, S_EHLO, S_HELO, S_STARTTLS, S_HANDSHAKE, S_AUTH,
	S_AUTH_USER, S_AUTH_PASS, S_READY, S_MAIL, S_RCPT, S_DATA, S_BODY,
	S_DOT, S_RSET, S_QUIT, S_CLOSED,
};

struct caps {
	bool	esmtp;
	bool	pipelining;
	bool	starttls;
	bool	eightbit;
	bool	smtputf8;
	bool	dsn;
	bool	size;
	uint64_t size_max;
	bool	auth_plain;
	bool	auth_login;
};

struct delivery_session {
	enum state state;
	struct delivery_session_params p;
	char   *user, *pass, *peer, *ehlo;
	struct caps caps;
	bool	tls_active;
	bool	tls_declined;		/* opportunistic and STARTTLS refused */
	struct sg_buf in;
	size_t	in_seen;		/* in: continuation lines up to here */
	size_t	in_lines;		/* ... so many of them */
	struct sg_buf out;
	struct delivery_msg *msg;	/* the transaction in progress */
	struct delivery_msg *done;	/* finished, not yet collected */
	size_t	rcpt_next;		/* index of the next RCPT reply */
	size_t	accepted;		/* RCPTs answered 2xx */
	bool	mail_failed;
	bool	pipelined;		/* this transaction was pipelined */
	unsigned dot;			/* dotstuff state */
	unsigned messages;
	bool	failed;
	struct delivery_failure fail;
};

static const char *const stage_names[] = {
	"greeting", "helo", "starttls", "auth", "idle", "mail", "rcpt", "data",
	"body", "dot", "quit", "closed",
};

/* enter_state - the only writer of s->state */

static void enter_state(struct delivery_session *s, enum state st)
{
	s->state = st;
}

static void cmd(struct delivery_session *s, const char *fmt, ...) SG_PRINTF(2, 3);

static void cmd(struct delivery_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sg_buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
	sg_buf_append(&s->out, "\r\n", 2);
}

/* fail - the session cannot carry mail; why goes to every waiting recipient */

static void fail(struct delivery_session *s, int status, bool next_host, const char *enh,
		 const char *fmt, ...) SG_PRINTF(5, 6);

static void fail(struct delivery_session *s, int status, bool next_host, const char *enh,
		 const char *fmt, ...)
{
	va_list ap;

	if (s->failed)
		return;
	s->failed = true;
	s->fail.status = status;
	s->fail.next_host = next_host;
	snprintf(s->fail.enh, sizeof(s->fail.enh), "%s", enh);
	va_start(ap, fmt);
	vsnprintf(s->fail.reason, sizeof(s->fail.reason), fmt, ap);
	va_end(ap);
}

/* set_result - decide one recipient, once */

static void set_result(struct delivery_rcpt *r, int status, int code, const char *enh,
		       const char *reply)
{
	if (r->status != DELIVERY_PENDING)
		return;
	r->status = status;
	r->code = code;
	snprintf(r->enh, sizeof(r->enh), "%s", enh);
	snprintf(r->reply, sizeof(r->reply), "%s", reply);
}

static int reply_status(int code)
{
	return (code < 400 ? DELIVERY_OK : code < 500 ? DELIVERY_TEMP : DELIVERY_PERM);
}

/* default_enh - an enhanced code when the server gave none (RFC 3463 classes) */

static const char *default_enh(int status)
{
	return (status == DELIVERY_OK ? "2.0.0" : status == DELIVERY_TEMP ? "4.0.0" : "5.0.0");
}

static void reply_result(struct delivery_rcpt *r, const struct delivery_reply *rp)
{
	char	text[sizeof(r->reply)];
	int	st = reply_status(rp->code);

	delivery_reply_format(rp, text, sizeof(text));
	set_result(r, st, rp->code, *rp->enh ? rp->enh : default_enh(st), text);
}

/* finish_msg - every undecided recipient gets status; the message is done */

static void finish_msg(struct delivery_session *s, int status, const char *enh,
		       const char *reason)
{
	if (s->msg == NULL)
		return;
	for (size_t i = 0; i < s->msg->nrcpts; i++)
		set_result(&s->msg->rcpts[i], status, 0, enh, reason);
	s->done = s->msg;
	s->msg = NULL;
	s->messages++;
}

/* closed - the connection is gone or going: settle everything */

static void closed(struct delivery_session *s, const char *why)
{
	char	reason[sizeof(s->fail.reason)];

	snprintf(reason, sizeof(reason), "lost connection with %s while in %s stage: %s",
		 s->peer, stage_names[delivery_session_stage(s)], why);
	finish_msg(s, DELIVERY_TEMP, "4.4.2", reason);
	fail(s, DELIVERY_TEMP, true, "4.4.2", "%s", reason);
	enter_state(s, S_CLOSED);
}

static void quit(struct delivery_session *s)
{
	cmd(s, "QUIT");
	enter_state(s, S_QUIT);
}

/* parse_caps - the EHLO keywords we act on; everything else is ignored */

static void parse_caps(struct delivery_session *s, const char *buf, size_t len)
{
	struct caps c = {.esmtp = true};
	size_t	off = 0;
	bool	first = true;

	while (off < len) {
		const char *p = buf + off, *lf = memchr(p, '\n', len - off);
		size_t	n = lf ? (size_t) (lf - p) : len - off;
		char	line[256];

		off += n + 1;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (first || n < 4) {
			first = false;
			continue;
		}
		n -= 4;
		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		memcpy(line, p + 4, n);
		line[n] = 0;
		for (char *q = line; *q; q++)
			if (*q >= 'a' && *q <= 'z')
				*q = (char) (*q - 'a' + 'A');
		if (strcmp(line, "PIPELINING") == 0)
			c.pipelining = true;
		else if (strcmp(line, "STARTTLS") == 0)
			c.starttls = true;
		else if (strcmp(line, "8BITMIME") == 0)
			c.eightbit = true;
		else if (strcmp(line, "SMTPUTF8") == 0)
			c.smtputf8 = true;
		else if (strcmp(line, "DSN") == 0)
			c.dsn = true;
		else if (strncmp(line, "SIZE", 4) == 0 && (line[4] == 0 || line[4] == ' ')) {
			c.size = true;
			if (line[4] && sg_parse_u64(line + 5, strlen(line + 5), &c.size_max) < 0)
				c.size_max = 0;
		} else if (strncmp(line, "AUTH", 4) == 0 && (line[4] == ' ' || line[4] == '=')) {
			for (char *t = strtok(line + 5, " "); t; t = strtok(NULL, " ")) {
				c.auth_plain |= strcmp(t, "PLAIN") == 0;
				c.auth_login |= strcmp(t, "LOGIN") == 0;
			}
		}
	}
	s->caps = c;
}

static void base64(struct sg_buf *out, const unsigned char *p, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned) p[i] << 16;

		v |= i + 1 < n ? (unsigned) p[i + 1] << 8 : 0;
		v |= i + 2 < n ? p[i + 2] : 0;
		sg_buf_putc(out, tab[(v >> 18) & 63]);
		sg_buf_putc(out, tab[(v >> 12) & 63]);
		sg_buf_putc(out, i + 1 < n ? tab[(v >> 6) & 63] : '=');
		sg_buf_putc(out, i + 2 < n ? tab[v & 63] : '=');
	}
}

static void cmd_base64(struct delivery_session *s, const char *prefix, const char *a,
		       size_t alen)
{
	sg_buf_puts(&s->out, prefix);
	base64(&s->out, (const unsigned char *) a, alen);
	sg_buf_append(&s->out, "\r\n", 2);
}

static void start_auth(struct delivery_session *s)
{
	if (!s->tls_active) {
		fail(s, DELIVERY_TEMP, true, "4.7.0", "refusing to send AUTH to %s in plaintext: "
		     "no TLS on this connection", s->peer);
		quit(s);
	} else if (s->p.auth == DELIVERY_AUTH_PLAIN && s->caps.auth_plain) {
		struct sg_buf b = SG_BUF_INIT;

		sg_buf_putc(&b, 0);
		sg_buf_puts(&b, s->user);
		sg_buf_putc(&b, 0);
		sg_buf_puts(&b, s->pass);
		cmd_base64(s, "AUTH PLAIN ", b.data, b.len);
		explicit_bzero(b.data, b.len);
		sg_buf_free(&b);
		enter_state(s, S_AUTH);
	} else if (s->p.auth == DELIVERY_AUTH_LOGIN && s->caps.auth_login) {
		cmd(s, "AUTH LOGIN");
		enter_state(s, S_AUTH_USER);
	} else {
		fail(s, DELIVERY_TEMP, true, "4.7.0", "%s does not offer AUTH %s", s->peer,
		     s->p.auth == DELIVERY_AUTH_PLAIN ? "PLAIN" : "LOGIN");
		quit(s);
	}
}

/* after_ehlo - STARTTLS under the policy, then AUTH, then ready */

static void after_ehlo(struct delivery_session *s)
{
	if (!s->tls_active && s->p.tls != DELIVERY_TLS_NONE && !s->tls_declined) {
		bool	must = s->p.tls >= DELIVERY_TLS_ENCRYPT;

		if (s->caps.starttls && s->p.tls_possible) {
			cmd(s, "STARTTLS");
			enter_state(s, S_STARTTLS);
			return;
		}
		if (must && !s->caps.starttls) {
			s->fail.no_starttls = !s->failed;	/* this failure's, not an earlier one's */
			fail(s, DELIVERY_TEMP, true, "4.7.4",
			     "TLS is required, but was not offered by host %s", s->peer);
			quit(s);
			return;
		}
		if (must) {
			fail(s, DELIVERY_TEMP, false, "4.7.4",
			     "TLS is required, but no TLS client is available here");
			quit(s);
			return;
		}
	}
	if (s->p.auth != DELIVERY_AUTH_NONE) {
		start_auth(s);
		return;
	}
	enter_state(s, S_READY);
}

static void on_greeting(struct delivery_session *s, const struct delivery_reply *r)
{
	char	text[DELIVERY_REPLY_TEXT_MAX + 24];

	if (r->code / 100 != 2) {
		delivery_reply_format(r, text, sizeof(text));
		fail(s, DELIVERY_TEMP, true, "4.4.0", "host %s refused to talk to me: %s",
		     s->peer, text);
		quit(s);
		return;
	}
	cmd(s, "EHLO %s", s->ehlo);
	enter_state(s, S_EHLO);
}

static void on_ehlo(struct delivery_session *s, const struct delivery_reply *r,
		    const char *raw, size_t rawlen)
{
	if (r->code / 100 == 2) {
		parse_caps(s, raw, rawlen);
		after_ehlo(s);
	} else if (s->tls_active) {
		char	text[DELIVERY_REPLY_TEXT_MAX + 24];

		delivery_reply_format(r, text, sizeof(text));
		fail(s, DELIVERY_TEMP, true, "4.4.0", "host %s refused EHLO after STARTTLS: %s",
		     s->peer, text);
		quit(s);
	} else {
		cmd(s, "HELO %s", s->ehlo);
		enter_state(s, S_HELO);
	}
}

static void on_helo(struct delivery_session *s, const struct delivery_reply *r)
{
	char	text[DELIVERY_REPLY_TEXT_MAX + 24];

	if (r->code / 100 == 2) {
		memset(&s->caps, 0, sizeof(s->caps));
		after_ehlo(s);
		return;
	}
	delivery_reply_format(r, text, sizeof(text));
	fail(s, DELIVERY_TEMP, true, "4.4.0", "host %s refused HELO: %s", s->peer, text);
	quit(s);
}

static void on_starttls(struct delivery_session *s, const struct delivery_reply *r)
{
	char	text[DELIVERY_REPLY_TEXT_MAX + 24];

	if (r->code == 220) {
		/* Anything after the 220 was sent in plaintext: never trust it. */
		sg_buf_reset(&s->in);
		s->in_seen = s->in_lines = 0;
		enter_state(s, S_HANDSHAKE);
		return;
	}
	delivery_reply_format(r, text, sizeof(text));
	if (s->p.tls >= DELIVERY_TLS_ENCRYPT) {
		s->fail.no_starttls = !s->failed;
		fail(s, DELIVERY_TEMP, true, "4.7.4",
		     "TLS is required, but host %s refused to start TLS: %s", s->peer, text);
		quit(s);
		return;
	}
	s->tls_declined = true;
	after_ehlo(s);
}

static void on_auth(struct delivery_session *s, const struct delivery_reply *r)
{
	char	text[DELIVERY_REPLY_TEXT_MAX + 24];

	if (r->code == 334 && s->state == S_AUTH_USER) {
		cmd_base64(s, "", s->user, strlen(s->user));
		enter_state(s, S_AUTH_PASS);
		return;
	}
	if (r->code == 334 && s->state == S_AUTH_PASS) {
		cmd_base64(s, "", s->pass, strlen(s->pass));
		enter_state(s, S_AUTH);
		return;
	}
	if (r->code / 100 == 2 && s->state == S_AUTH) {
		enter_state(s, S_READY);
		return;
	}
	delivery_reply_format(r, text, sizeof(text));
	fail(s, DELIVERY_TEMP, true, "4.7.0", "SASL authentication with %s failed: %s",
	     s->peer, text);
	if (r->code == 334)
		cmd(s, "*");		/* cancel the exchange (RFC 4954) */
	quit(s);
}

/* mail_params - SIZE, BODY, SMTPUTF8, RET, ENVID as the server allows */

static int mail_params(struct delivery_session *s, struct sg_buf *b)
{
	const struct delivery_msg *m = s->msg;

	if (s->caps.size && m->size > 0)
		sg_buf_printf(b, " SIZE=%llu", (unsigned long long) m->size);
	if (m->eightbit)
		sg_buf_puts(b, " BODY=8BITMIME");
	if (m->smtputf8)
		sg_buf_puts(b, " SMTPUTF8");
	if (s->caps.dsn && m->ret != DELIVERY_RET_NONE)
		sg_buf_puts(b, m->ret == DELIVERY_RET_FULL ? " RET=FULL" : " RET=HDRS");
	if (s->caps.dsn && m->envid && *m->envid)
		sg_buf_printf(b, " ENVID=%s", m->envid);
	return (0);
}

static void rcpt_cmd(struct delivery_session *s, const struct delivery_rcpt *r)
{
	sg_buf_printf(&s->out, "RCPT TO:<%s>", r->addr);
	if (s->caps.dsn && r->notify) {
		const char *sep = " NOTIFY=";

		if (r->notify & DELIVERY_NOTIFY_NEVER)
			sg_buf_printf(&s->out, "%sNEVER", sep);
		else {
			if (r->notify & DELIVERY_NOTIFY_SUCCESS)
				sg_buf_printf(&s->out, "%sSUCCESS", sep), sep = ",";
			if (r->notify & DELIVERY_NOTIFY_FAILURE)
				sg_buf_printf(&s->out, "%sFAILURE", sep), sep = ",";
			if (r->notify & DELIVERY_NOTIFY_DELAY)
				sg_buf_printf(&s->out, "%sDELAY", sep);
		}
	}
	if (s->caps.dsn && r->orcpt && *r->orcpt)
		sg_buf_printf(&s->out, " ORCPT=%s", r->orcpt);
	sg_buf_append(&s->out, "\r\n", 2);
}

/* refuse_msg - a message this server cannot take, decided before MAIL */

static bool refuse_msg(struct delivery_session *s)
{
	const struct delivery_msg *m = s->msg;
	char	why[300];

	if (m->eightbit && !s->caps.eightbit) {
		snprintf(why, sizeof(why), "host %s does not support 8BITMIME and the message "
			 "has an 8-bit body", s->peer);
		finish_msg(s, DELIVERY_PERM, "5.6.3", why);
		return (true);
	}
	if (m->smtputf8 && !s->caps.smtputf8) {
		snprintf(why, sizeof(why), "host %s does not support SMTPUTF8, needed for the "
			 "addresses of this message", s->peer);
		finish_msg(s, DELIVERY_PERM, "5.6.7", why);
		return (true);
	}
	if (s->caps.size && s->caps.size_max > 0 && m->size > s->caps.size_max) {
		snprintf(why, sizeof(why), "message size %llu exceeds the limit %llu of host %s",
			 (unsigned long long) m->size, (unsigned long long) s->caps.size_max,
			 s->peer);
		finish_msg(s, DELIVERY_PERM, "5.3.4", why);
		return (true);
	}
	return (false);
}

int	delivery_session_message(struct delivery_session *s, struct delivery_msg *m)
{
	struct sg_buf params = SG_BUF_INIT;

	if (s->state != S_READY || s->msg || s->done || m->nrcpts == 0)
		return (SG_EINVAL);
	s->msg = m;
	s->rcpt_next = 0;
	s->accepted = 0;
	s->mail_failed = false;
	s->dot = 0;
	if (refuse_msg(s))
		return (0);
	mail_params(s, &params);
	cmd(s, "MAIL FROM:<%s>%s", m->sender, params.data ? params.data : "");
	sg_buf_free(&params);
	s->pipelined = s->caps.pipelining;
	if (s->pipelined) {
		for (size_t i = 0; i < m->nrcpts; i++)
			rcpt_cmd(s, &m->rcpts[i]);
		cmd(s, "DATA");
	}
	enter_state(s, S_MAIL);
	return (0);
}

/* next_rcpt - without pipelining: the next RCPT, or DATA, or RSET */

static void next_rcpt(struct delivery_session *s)
{
	if (s->rcpt_next < s->msg->nrcpts) {
		rcpt_cmd(s, &s->msg->rcpts[s->rcpt_next]);
		enter_state(s, S_RCPT);
	} else if (s->accepted > 0) {
		cmd(s, "DATA");
		enter_state(s, S_DATA);
	} else {
		finish_msg(s, DELIVERY_TEMP, "4.0.0", "no recipient accepted");
		cmd(s, "RSET");
		enter_state(s, S_RSET);
	}
}

static void on_mail(struct delivery_session *s, const struct delivery_reply *r)
{
	if (r->code / 100 != 2) {
		s->mail_failed = true;
		for (size_t i = 0; i < s->msg->nrcpts; i++)
			reply_result(&s->msg->rcpts[i], r);
	}
	if (s->pipelined) {
		enter_state(s, S_RCPT);
		return;
	}
	if (s->mail_failed) {
		finish_msg(s, DELIVERY_TEMP, "4.0.0", "sender refused");
		cmd(s, "RSET");
		enter_state(s, S_RSET);
		return;
	}
	next_rcpt(s);
}

static void on_rcpt(struct delivery_session *s, const struct delivery_reply *r)
{
	struct delivery_rcpt *rc = &s->msg->rcpts[s->rcpt_next++];

	if (r->code / 100 == 2 && !s->mail_failed)
		s->accepted++;
	else
		reply_result(rc, r);
	if (s->pipelined) {
		if (s->rcpt_next == s->msg->nrcpts)
			enter_state(s, S_DATA);
		return;
	}
	next_rcpt(s);
}

static void on_data(struct delivery_session *s, const struct delivery_reply *r)
{
	if (r->code == 354 && s->accepted > 0) {
		enter_state(s, S_BODY);
		return;
	}
	if (r->code == 354) {
		/* Pipelined DATA accepted with no recipient: end it empty. */
		cmd(s, ".");
		finish_msg(s, DELIVERY_TEMP, "4.0.0", "no recipient accepted");
		enter_state(s, S_DOT);
		return;
	}
	for (size_t i = 0; i < s->msg->nrcpts; i++)
		reply_result(&s->msg->rcpts[i], r);
	finish_msg(s, DELIVERY_TEMP, "4.0.0", "DATA refused");
	cmd(s, "RSET");
	enter_state(s, S_RSET);
}

static void on_dot(struct delivery_session *s, const struct delivery_reply *r)
{
	if (s->msg) {
		for (size_t i = 0; i < s->msg->nrcpts; i++)
			reply_result(&s->msg->rcpts[i], r);
		finish_msg(s, DELIVERY_TEMP, "4.0.0", "no reply");
	}
	enter_state(s, S_READY);
}

static void on_rset(struct delivery_session *s, const struct delivery_reply *r)
{
	if (r->code / 100 == 2) {
		enter_state(s, S_READY);
		return;
	}
	quit(s);
}

/* dispatch - one complete reply in the current state */

static int dispatch(struct delivery_session *s, const struct delivery_reply *r,
		    const char *raw, size_t rawlen)
{
	if (r->code == 421 && s->state != S_QUIT) {
		char	text[DELIVERY_REPLY_TEXT_MAX + 24];

		delivery_reply_format(r, text, sizeof(text));
		closed(s, text);
		return (0);
	}
	switch (s->state) {
	case S_GREETING:
		on_greeting(s, r);
		break;
	case S_EHLO:
		on_ehlo(s, r, raw, rawlen);
		break;
	case S_HELO:
		on_helo(s, r);
		break;
	case S_STARTTLS:
		on_starttls(s, r);
		break;
	case S_AUTH:
	case S_AUTH_USER:
	case S_AUTH_PASS:
		on_auth(s, r);
		break;
	case S_MAIL:
		on_mail(s, r);
		break;
	case S_RCPT:
		on_rcpt(s, r);
		break;
	case S_DATA:
		on_data(s, r);
		break;
	case S_DOT:
		on_dot(s, r);
		break;
	case S_RSET:
		on_rset(s, r);
		break;
	case S_QUIT:
		enter_state(s, S_CLOSED);
		break;
	case S_HANDSHAKE:
	case S_READY:
	case S_BODY:
	case S_CLOSED:
		closed(s, "unexpected reply from server");
		return (SG_EPROTO);
	}
	return (0);
}

/*
 * reply_ends - does s->in hold a whole reply (its last line, or a line
 * for the parser to refuse)? The continuation lines seen in earlier
 * reads are not read again: a server sending a long multi-line reply a
 * byte at a time made every byte re-parse all of it (64 KiB: a quarter
 * of a second of delivery's one thread, again for every connection).
 */
static bool reply_ends(struct delivery_session *s)
{
	const char *p = s->in.data;

	while (s->in_seen < s->in.len) {
		const char *lf = memchr(p + s->in_seen, '\n', s->in.len - s->in_seen);
		size_t	start = s->in_seen;

		if (lf == NULL)		/* a line too long is the parser's to refuse */
			return (s->in.len - start >= DELIVERY_REPLY_LINE_MAX);
		s->in_seen = (size_t) (lf - p) + 1;
		/* the last line, or one the parser refuses at once */
		if (s->in_seen - start < 4 || p[start + 3] != '-'
		    || ++s->in_lines > DELIVERY_REPLY_LINES_MAX
		    || s->in_seen - start > DELIVERY_REPLY_LINE_MAX || memcmp(p, p + start, 3) != 0)
			return (true);
	}
	return (false);
}

int	delivery_session_input(struct delivery_session *s, const char *data, size_t len)
{
	struct delivery_reply r;
	size_t	used;
	int	rc;

	if (s->state == S_CLOSED || s->state == S_HANDSHAKE)
		return (0);
	if (s->in.len + len > IN_MAX) {
		closed(s, "server sent too much");
		return (SG_EPROTO);
	}
	sg_buf_append(&s->in, data, len);
	while (s->in.len > 0 && s->state != S_CLOSED && s->state != S_HANDSHAKE) {
		if (!reply_ends(s))
			break;
		rc = delivery_reply_parse(s->in.data, s->in.len, &r, &used);
		if (rc == 0)
			break;
		if (rc < 0) {
			closed(s, "malformed reply");
			return (SG_EPROTO);
		}
		rc = dispatch(s, &r, s->in.data, used);
		if (s->state == S_HANDSHAKE || s->state == S_CLOSED)
			break;		/* the buffer was reset or no longer matters */
		sg_buf_consume(&s->in, used);
		s->in_seen = s->in_lines = 0;
		if (rc < 0)
			return (rc);
	}
	return (0);
}

int	delivery_session_tls_result(struct delivery_session *s, bool ok, bool chain_ok,
				    bool name_ok, const char *why)
{
	if (s->state != S_HANDSHAKE)
		return (SG_EINVAL);
	sg_buf_reset(&s->in);
	s->in_seen = s->in_lines = 0;
	if (!ok) {
		fail(s, DELIVERY_TEMP, true, "4.7.4", "%sTLS handshake with %s failed: %s",
		     s->p.tls >= DELIVERY_TLS_ENCRYPT ? "TLS is required, but the " : "",
		     s->peer, why ? why : "unknown error");
		s->fail.plaintext_retry = s->p.tls == DELIVERY_TLS_MAY;
		enter_state(s, S_CLOSED);
		return (0);
	}
	s->tls_active = true;
	if (s->p.dane && !(chain_ok && name_ok)) {
		fail(s, DELIVERY_TEMP, true, "4.7.5", "DANE: the certificate of host %s "
		     "matches no TLSA record (%s)", s->peer, why ? why : "no match");
		quit(s);
		return (0);
	}
	if (s->p.tls == DELIVERY_TLS_VERIFY && !(chain_ok && name_ok)) {
		fail(s, DELIVERY_TEMP, true, "4.7.4", "TLS is required, but the certificate of "
		     "host %s could not be verified: %s", s->peer,
		     !chain_ok ? "untrusted chain" : "name mismatch");
		quit(s);
		return (0);
	}
	memset(&s->caps, 0, sizeof(s->caps));
	cmd(s, "EHLO %s", s->ehlo);
	enter_state(s, S_EHLO);
	return (0);
}

void	delivery_session_body(struct delivery_session *s, const void *data, size_t len)
{
	if (s->state == S_BODY)
		delivery_dot_encode(&s->dot, data, len, &s->out);
}

void	delivery_session_body_end(struct delivery_session *s)
{
	if (s->state != S_BODY)
		return;
	delivery_dot_finish(&s->dot, &s->out);
	enter_state(s, S_DOT);
}

struct delivery_msg *delivery_session_done(struct delivery_session *s)
{
	struct delivery_msg *m = s->done;

	s->done = NULL;
	return (m);
}

void	delivery_session_quit(struct delivery_session *s)
{
	if (s->state == S_READY)
		quit(s);
	else if (s->state != S_QUIT && s->state != S_CLOSED)
		closed(s, "quit requested mid-transaction");
}

void	delivery_session_abort(struct delivery_session *s, const char *why)
{
	if (s->state == S_QUIT) {
		enter_state(s, S_CLOSED);
		return;
	}
	if (s->state != S_CLOSED)
		closed(s, why);
}

enum delivery_want delivery_session_want(const struct delivery_session *s)
{
	switch (s->state) {
	case S_HANDSHAKE:
		return (DELIVERY_WANT_TLS);
	case S_READY:
		return (DELIVERY_WANT_MESSAGE);
	case S_BODY:
		return (DELIVERY_WANT_BODY);
	case S_CLOSED:
		return (DELIVERY_WANT_CLOSE);
	default:
		return (DELIVERY_WANT_READ);
	}
}

enum delivery_stage delivery_session_stage(const struct delivery_session *s)
{
	static const enum delivery_stage map[] = {
		[S_GREETING] = DELIVERY_STAGE_GREETING,[S_EHLO] = DELIVERY_STAGE_HELO,
		[S_HELO] = DELIVERY_STAGE_HELO,[S_STARTTLS] = DELIVERY_STAGE_STARTTLS,
		[S_HANDSHAKE] = DELIVERY_STAGE_STARTTLS,[S_AUTH] = DELIVERY_STAGE_AUTH,
		[S_AUTH_USER] = DELIVERY_STAGE_AUTH,[S_AUTH_PASS] = DELIVERY_STAGE_AUTH,
		[S_READY] = DELIVERY_STAGE_IDLE,[S_MAIL] = DELIVERY_STAGE_MAIL,
		[S_RCPT] = DELIVERY_STAGE_RCPT,[S_DATA] = DELIVERY_STAGE_DATA,
		[S_BODY] = DELIVERY_STAGE_BODY,[S_DOT] = DELIVERY_STAGE_DOT,
		[S_RSET] = DELIVERY_STAGE_MAIL,[S_QUIT] = DELIVERY_STAGE_QUIT,
		[S_CLOSED] = DELIVERY_STAGE_CLOSED,
	};

	return (map[s->state]);
}

const char *delivery_session_stage_name(enum delivery_stage st)
{
	return ((size_t) st < SG_NELEM(stage_names) ? stage_names[st] : "?");
}

struct sg_buf *delivery_session_output(struct delivery_session *s)
{
	return (&s->out);
}

const struct delivery_failure *delivery_session_failure(const struct delivery_session *s)
{
	return (s->failed ? &s->fail : NULL);
}

bool	delivery_session_tls_active(const struct delivery_session *s)
{
	return (s->tls_active);
}

bool	delivery_session_reusable(const struct delivery_session *s)
{
	return (s->state == S_READY && !s->failed && s->done == NULL && s->msg == NULL);
}

struct delivery_session *delivery_session_new(const struct delivery_session_params *p)
{
	struct delivery_session *s = sg_xcalloc(1, sizeof(*s));

	s->p = *p;
	s->peer = sg_xstrdup(p->peer ? p->peer : "?");
	s->ehlo = sg_xstrdup(p->ehlo_name ? p->ehlo_name : "localhost");
	s->user = sg_xstrdup(p->auth_user ? p->auth_user : "");
	s->pass = sg_xstrdup(p->auth_pass ? p->auth_pass : "");
	s->p.peer = s->peer;
	s->p.ehlo_name = s->ehlo;
	s->p.auth_user = s->p.auth_pass = NULL;
	enter_state(s, S_GREETING);
	return (s);
}

void	delivery_session_free(struct delivery_session *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s->pass, strlen(s->pass));
	free(s->pass);
	free(s->user);
	free(s->peer);
	free(s->ehlo);
	if (s->out.data)
		explicit_bzero(s->out.data, s->out.len);
	sg_buf_free(&s->in);
	sg_buf_free(&s->out);
	free(s);
}
