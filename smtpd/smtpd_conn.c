/*
 * NAME
 *	smtpd_conn 3
 * SUMMARY
 *	one SMTP connection on a libuv loop: I/O, timers, TLS, spooling
 * SYNOPSIS
 *	#include "smtpd/smtpd_int.h"
 *
 *	void	smtpd_conn_accept(lp, server, listener)
 *	void	smtpd_conn_done_all(lp)
 *	void	smtpd_conn_shutdown_all(lp)
 * DESCRIPTION
 *	The thin driver around the session state machine. Bytes read from
 *	the socket (or decrypted by the TLS session) go to the session;
 *	its replies are written; its actions are carried out:
 *
 *	A complete message is handed to the submit function and the
 *	connection stops reading until done() reports the commit; the
 *	session only then produces its 250. smtpd_conn_done_all() runs on
 *	the loop's async handle and finishes every commit reported since.
 *	Mail no rule acts on is spooled straight for delivery, unless it
 *	has lines the worker must make legal, or, with a clamd configured,
 *	brings the scan result field that only the worker may write (it
 *	removes it).
 *
 *	Input the session did not take (pipelined commands behind DATA's
 *	end, or while a reply is tarpitted) waits in a per-connection
 *	buffer of at most two reads; past that the connection stops
 *	reading, and so it does while too many replies are unsent. An idle
 *	connection holds no buffer beyond the session itself.
 *
 *	After STARTTLS every byte that arrived behind the command is thrown
 *	away before the handshake starts. One timer per connection serves
 *	the greeting delay, the tarpit and the request deadline: a command
 *	must arrive whole within command_timeout, and DATA may last
 *	data_timeout beyond what min_data_rate pays for.
 *
 *	smtpd_conn_shutdown_all() says 421 to every client of a stopping
 *	loop; a connection waiting for a commit gets its answer first.
 */

#include <stdlib.h>
#include <string.h>

#include "certs/certs.h"
#include "smtpd_int.h"

enum {
	T_NONE,
	T_GREET,			/* greeting delay */
	T_DELAY,			/* tarpit */
	T_DEADLINE,			/* request deadline */
};

struct smtpd_conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	struct smtpd_loop *lp;
	struct smtpd_conn *next, *prev;	/* the loop's list */
	struct smtpd_conn *done_next;	/* the loop's list of finished commits */
	struct smtpd_session s;
	struct sg_buf pending;		/* input the session has not taken */
	struct certs_tls *tls;
	size_t	listener;
	int	tmode;
	int64_t	deadline;		/* monotonic ms */
	int	handles;		/* open libuv handles */
	bool	reading;
	bool	closing;
	bool	close_after;		/* close once the commit or tarpit ends */
	bool	committing;
	bool	delayed;
	bool	handshaking;
	bool	wblocked;		/* too much unsent output */
	bool	in_data;
	bool	admitted;		/* counted in the client table */
	int	commit_err;
	char	qid[40];
	struct smtpd_envelope env;
};

static void conn_close(struct smtpd_conn *);
static void conn_process(struct smtpd_conn *);
static void conn_flush(struct smtpd_conn *);

/* paused - the session must not get input now */

static bool paused(const struct smtpd_conn *c)
{
	return (c->committing || c->delayed || c->handshaking || c->closing);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct smtpd_conn *c = h->data;
	size_t	n = SMTPD_RBUF;

	(void) suggested;
	if (c->tls) {
		size_t	room = certs_tls_in_room(c->tls);

		n = room < n ? room : n;
	}
	buf->base = c->lp->rbuf;
	buf->len = n;
}

static void on_read(uv_stream_t *, ssize_t, const uv_buf_t *);

/* update_reading - read when the session can take input and output drains */

static void update_reading(struct smtpd_conn *c)
{
	bool	want = !c->closing && !c->wblocked && !c->committing && !c->delayed
	&& c->pending.len < SMTPD_RBUF;

	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *) & c->tcp, on_alloc, on_read) == 0)
			c->reading = true;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *) & c->tcp);
		c->reading = false;
	}
}

/* timer_set - (re)arm the connection's one timer */

static void on_timer(uv_timer_t *);

static void timer_set(struct smtpd_conn *c, int mode, int64_t ms)
{
	c->tmode = mode;
	uv_timer_start(&c->timer, on_timer, (uint64_t) (ms > 0 ? ms : 0), 0);
}

/* deadline_command - a new command may now take command_timeout */

static void deadline_command(struct smtpd_conn *c)
{
	c->in_data = false;
	c->deadline = sg_mono_ms() + c->s.pol->conf.command_timeout;
	timer_set(c, T_DEADLINE, c->s.pol->conf.command_timeout);
}

/* deadline_data - DATA started, or n more bytes of it arrived */

static void deadline_data(struct smtpd_conn *c, size_t n)
{
	const struct smtpd_conf *conf = &c->s.pol->conf;
	int64_t	now = sg_mono_ms();

	if (!c->in_data) {
		c->in_data = true;
		c->deadline = now + conf->data_timeout;
		timer_set(c, T_DEADLINE, conf->data_timeout);
	} else {
		c->deadline += (int64_t) n *1000 / conf->min_data_rate;

		if (c->deadline > now + conf->data_timeout)
			c->deadline = now + conf->data_timeout;
	}
	if (c->tmode != T_DEADLINE)
		timer_set(c, T_DEADLINE, c->deadline - now);
}

/* raw_write - bytes to the socket, copied when they cannot go at once */

static void on_write(uv_write_t *req, int status)
{
	struct smtpd_conn *c = req->data;

	(void) status;
	free(req);
	if (c->wblocked && uv_stream_get_write_queue_size((uv_stream_t *) & c->tcp)
	    < SMTPD_WQ_MAX / 2) {
		c->wblocked = false;
		conn_process(c);
	}
}

static void raw_write(struct smtpd_conn *c, const char *p, size_t len)
{
	uv_stream_t *st = (uv_stream_t *) & c->tcp;
	uv_write_t *req;
	uv_buf_t b;
	int	n;

	if (c->closing && uv_is_closing((uv_handle_t *) st))
		return;
	if (uv_stream_get_write_queue_size(st) == 0) {
		b = uv_buf_init((char *) p, (unsigned) len);
		if ((n = uv_try_write(st, &b, 1)) == (int) len)
			return;
		if (n > 0) {
			p += n;
			len -= (size_t) n;
		} else if (n != UV_EAGAIN) {
			return;			/* the read side sees the error */
		}
	}
	req = sg_xmalloc(sizeof(*req) + len);
	memcpy(req + 1, p, len);
	req->data = c;
	b = uv_buf_init((char *) (req + 1), (unsigned) len);
	if (uv_write(req, st, &b, 1, on_write) < 0) {
		free(req);
		return;
	}
	if (uv_stream_get_write_queue_size(st) > SMTPD_WQ_MAX) {
		c->wblocked = true;
		update_reading(c);
	}
}

/* tls_flush_out - send the ciphertext the TLS session has ready */

static void tls_flush_out(struct smtpd_conn *c)
{
	char	buf[16384];
	size_t	n;

	while (c->tls && certs_tls_pending(c->tls) > 0
	       && (n = certs_tls_take(c->tls, buf, sizeof(buf))) > 0)
		raw_write(c, buf, n);
}

static void tls_write(struct smtpd_conn *c, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t	k = certs_tls_write(c->tls, p, len);

		if (k > 0) {
			p += k;
			len -= (size_t) k;
		} else if (k == SG_EAGAIN && certs_tls_pending(c->tls) > 0) {
			tls_flush_out(c);
		} else {
			sg_info("session=%s event=tls_write_failed error=%s", c->s.id,
				certs_tls_error(c->tls));
			break;
		}
	}
	tls_flush_out(c);
}

/* conn_flush - write the session's replies */

static void conn_flush(struct smtpd_conn *c)
{
	struct sg_buf *out = &c->s.out;

	if (out->len == 0)
		return;
	if (c->tls && !c->handshaking)
		tls_write(c, out->data, out->len);
	else
		raw_write(c, out->data, out->len);
	if (out->cap > 4096)
		sg_buf_free(out);
	else
		sg_buf_reset(out);
}

/*
 * on_reject - a permanently refused recipient or message, for message
 * tracking: for whom, and the reply. Temporary refusals (4xx: the client
 * comes back) and every other refused command are only logged.
 */
static void on_reject(const struct smtpd_session *s, const char *reply)
{
	struct smtpd_conn *c = s->owner;
	struct smtpd *d = c->lp->d;
	const struct smtpd_tx *tx = s->tx;
	const char *cmd = s->cmd ? s->cmd : s->state == SMTPD_S_DATA ? "end-of-data" : "";
	const char *one = s->cmd_rcpt, **all = NULL;
	struct smtpd_rejection r = {
		.session = s->id,.client = s->peer_str,.helo = s->helo,.listener = s->listener,
		.tls_version = s->tls_version,.tls_cipher = s->tls_cipher,.outbound = s->outbound,
		.sender = tx && tx->sender ? tx->sender : "",.command = cmd,.reply = reply,
	};

	if (d->reject == NULL || reply[0] != '5')
		return;
	if (strcmp(cmd, "RCPT") == 0 && one != NULL && *one) {
		r.rcpts = &one;
		r.nrcpts = 1;
	} else if ((strcmp(cmd, "DATA") == 0 || strcmp(cmd, "end-of-data") == 0) && tx
		   && tx->nrcpts > 0) {
		all = sg_xcalloc(tx->nrcpts, sizeof(*all));
		for (size_t i = 0; i < tx->nrcpts; i++)
			all[i] = tx->rcpts[i].addr;
		r.rcpts = all;
		r.nrcpts = tx->nrcpts;
	} else {
		return;
	}
	d->reject(d->submit_ctx, &r);
	free(all);
}

/* submit - hand the complete message to the queue */

static void on_done(void *arg, int err, const char *qid)
{
	struct smtpd_conn *c = arg;
	struct smtpd_loop *lp = c->lp;

	c->commit_err = err;
	snprintf(c->qid, sizeof(c->qid), "%s", qid ? qid : "");
	pthread_mutex_lock(&lp->lock);
	c->done_next = lp->done_head;
	lp->done_head = c;
	pthread_mutex_unlock(&lp->lock);
	uv_async_send(&lp->async);
}

static void commit_finish(struct smtpd_conn *);
static void tls_pump(struct smtpd_conn *);

/*
 * subject - the Subject field for the tracking record, its RFC 2047
 * encoded-words decoded to UTF-8. A header section longer than
 * SUBJECT_SCAN hides it: worth no more reading on this path.
 */
#define SUBJECT_SCAN	16384
#define SUBJECT_RAW	1024
#define SUBJECT_MAX	256

static const char *subject(struct smtpd_tx *tx, const char *p, size_t n)
{
	char	raw[SUBJECT_RAW], *out = sg_arena_alloc(tx->arena, SUBJECT_MAX);
	int	len = sg_header_get(p, n, "Subject", raw, sizeof(raw));

	if (len < 0)
		out[0] = 0;
	else
		sg_rfc2047_decode(raw, (size_t) len, out, SUBJECT_MAX);
	return (out);
}

/*
 * forged - with a clamd configured, the scan result field is the gateway's
 * to write: a message that brings one (or whose header section is longer
 * than what was read, which could hide one) goes through the worker, which
 * removes it, even when no rule acts on it.
 */
static bool forged(const struct smtpd_policy *pol, const char *p, size_t n, size_t buflen)
{
	return (pol->scan_header != NULL && ((n == buflen && sg_header_len(p, n) == n)
					     || sg_header_has(p, n, pol->scan_header)));
}

static void envelope(struct smtpd_conn *c)
{
	struct smtpd_tx *tx = c->s.tx;
	struct smtpd_envelope *e = &c->env;
	char	head[SUBJECT_SCAN];
	const char *p;
	size_t	n = smtpd_body_head(&tx->body, head, sizeof(head), &p);
	const char **rcpts = sg_arena_alloc(tx->arena, tx->nrcpts * sizeof(char *));
	const char **orcpts = sg_arena_alloc(tx->arena, tx->nrcpts * sizeof(char *));
	unsigned *notify = sg_arena_alloc(tx->arena, tx->nrcpts * sizeof(unsigned));

	for (size_t i = 0; i < tx->nrcpts; i++) {
		rcpts[i] = tx->rcpts[i].addr;
		orcpts[i] = tx->rcpts[i].orcpt;
		notify[i] = tx->rcpts[i].notify;
	}
	*e = (struct smtpd_envelope) {
		.sender = tx->sender,.nrcpts = tx->nrcpts,.rcpts = rcpts,
		.orcpts = orcpts,.notify = notify,.envid = tx->envid,.ret = tx->ret,
		.smtputf8 = tx->smtputf8,.body_8bit = tx->body_8bit,
		.outbound = tx->outbound,.long_lines = tx->longest > SMTPD_TEXT_MAX,
		.listener = c->s.listener,
		.client = c->s.peer_str,.helo = c->s.helo,
		.tls_version = c->s.tls_version,.tls_cipher = c->s.tls_cipher,
		.session = c->s.id,.subject = subject(tx, p, n),
	};
	/* over-long lines must be made legal, a forged scan result removed:
	 * no shortcut past the worker */
	if (c->s.pol->rules && !e->long_lines && !forged(c->s.pol, p, n, sizeof(head)))
		e->pass_rule = sg_rules_pass(c->s.pol->rules, tx->outbound ? SG_RULE_DIR_OUTBOUND
					     : SG_RULE_DIR_INBOUND, c->s.listener, tx->sender,
					     rcpts, tx->nrcpts);
}

static void submit(struct smtpd_conn *c)
{
	struct smtpd *d = c->lp->d;
	struct smtpd_body *b = &c->s.tx->body;
	int	err;

	envelope(c);
	c->committing = true;
	uv_timer_stop(&c->timer);
	c->tmode = T_NONE;
	update_reading(c);
	err = d->submit(d->submit_ctx, &c->env, b->fd >= 0 ? NULL : b->mem.data, b->fd,
			b->size, on_done, c);
	if (err < 0) {
		c->commit_err = err;
		c->qid[0] = 0;
		commit_finish(c);
	}
}

/* commit_finish - the queue answered: 250, 452 or 451 */

static void commit_finish(struct smtpd_conn *c)
{
	struct smtpd_tx *tx = c->s.tx;
	char	from[SG_ADDR_PATH_MAX * 2];

	if (c->commit_err == 0)
		sg_info("id=%s session=%s event=queued client=%s listener=%s from=\"%s\" "
			"nrcpt=%zu size=%llu", c->qid, c->s.id, c->s.peer_str, c->s.listener,
			sg_printable(from, sizeof(from), tx->sender, strlen(tx->sender)),
			tx->nrcpts, (unsigned long long) tx->body.size);
	else
		sg_warn("session=%s event=spool_failed error=\"%s\"", c->s.id,
			sg_strerror(c->commit_err));
	c->committing = false;
	smtpd_session_committed(&c->s, c->commit_err, c->qid);
	if (c->lp->stopping && !c->close_after)
		smtpd_session_shutdown(&c->s);
	conn_flush(c);
	if (c->close_after || c->lp->stopping) {
		conn_close(c);
		return;
	}
	deadline_command(c);
	conn_process(c);
	if (c->tls && !c->closing && !paused(c))
		tls_pump(c);		/* NSS may hold plaintext read ahead */
}

void	smtpd_conn_done_all(struct smtpd_loop *lp)
{
	struct smtpd_conn *c, *next;

	pthread_mutex_lock(&lp->lock);
	c = lp->done_head;
	lp->done_head = NULL;
	pthread_mutex_unlock(&lp->lock);
	for (; c; c = next) {
		next = c->done_next;
		commit_finish(c);
	}
}

static void tls_begin(struct smtpd_conn *);

/* actions - carry out what the session asked for; true: drop the input */

static bool actions(struct smtpd_conn *c)
{
	unsigned acts = c->s.actions;

	c->s.actions = 0;
	if (acts & SMTPD_ACT_STARTTLS) {
		conn_flush(c);
		if (c->pending.len)
			sg_info("session=%s event=starttls_injection discarded=%zu",
				c->s.id, c->pending.len);
		sg_buf_free(&c->pending);
		tls_begin(c);
		return (true);
	}
	if (acts & SMTPD_ACT_DELAY) {
		c->delayed = true;
		c->close_after = (acts & SMTPD_ACT_CLOSE) != 0;
		timer_set(c, T_DELAY, c->s.delay_ms);
		update_reading(c);
		return (false);
	}
	conn_flush(c);
	if (acts & SMTPD_ACT_CLOSE) {
		conn_close(c);
		return (true);
	}
	if (acts & SMTPD_ACT_MESSAGE) {
		submit(c);
		return (false);
	}
	if (c->s.state == SMTPD_S_DATA) {
		if (!c->in_data)
			deadline_data(c, 0);
	} else if (c->in_data || (c->s.line_len == 0 && !c->s.line_cr)) {
		deadline_command(c);
	}
	return (false);
}

/* conn_process - feed buffered input while the session takes it */

static void conn_process(struct smtpd_conn *c)
{
	while (!paused(c) && c->pending.len > 0) {
		size_t	used = smtpd_session_feed(&c->s, c->pending.data, c->pending.len);
		size_t	rest = c->pending.len - used;

		sg_buf_consume(&c->pending, used);
		if (actions(c) && rest)
			sg_buf_reset(&c->pending);
		if (used == 0 && !c->s.actions && !paused(c))
			break;
	}
	if (c->pending.len == 0 && c->pending.cap > 4096)
		sg_buf_free(&c->pending);
	update_reading(c);
}

/* input - plaintext from the client */

static void input(struct smtpd_conn *c, const char *p, size_t n)
{
	size_t	used = 0;

	if (c->s.state == SMTPD_S_CONNECTED) {
		sg_info("session=%s event=pregreet client=%s bytes=%zu", c->s.id,
			c->s.peer_str, n);
		conn_close(c);
		return;
	}
	if (c->in_data)
		deadline_data(c, n);
	if (c->pending.len == 0 && !paused(c)) {
		used = smtpd_session_feed(&c->s, p, n);
		if ((c->s.actions & SMTPD_ACT_STARTTLS) && used < n)
			sg_info("session=%s event=starttls_injection discarded=%zu",
				c->s.id, n - used);
		if (actions(c))
			return;
	}
	if (used < n && !c->closing)
		sg_buf_append(&c->pending, p + used, n - used);
	conn_process(c);
}

/* tls_pump - plaintext out of the TLS session while the session takes it */

static void tls_pump(struct smtpd_conn *c)
{
	while (c->tls && !paused(c)) {
		ssize_t	n = certs_tls_read(c->tls, c->lp->pbuf, sizeof(c->lp->pbuf));

		if (n > 0) {
			input(c, c->lp->pbuf, (size_t) n);
			continue;
		}
		if (n == 0 || n != SG_EAGAIN) {
			if (n != 0)
				sg_info("session=%s event=tls_error error=%s", c->s.id,
					certs_tls_error(c->tls));
			conn_close(c);
		}
		break;
	}
	tls_flush_out(c);
}

/* tls_handshake - drive the handshake; greet or reset the session when done */

static void tls_handshake(struct smtpd_conn *c)
{
	struct certs_tls_info info;
	int	r = certs_tls_handshake(c->tls);

	tls_flush_out(c);
	if (r == SG_EAGAIN)
		return;
	if (r < 0) {
		sg_info("session=%s event=tls_failed client=%s error=%s", c->s.id,
			c->s.peer_str, certs_tls_error(c->tls));
		conn_close(c);
		return;
	}
	c->handshaking = false;
	memset(&info, 0, sizeof(info));
	certs_tls_info(c->tls, &info);
	sg_info("session=%s event=tls version=%s cipher=%s", c->s.id, info.version, info.cipher);
	if (c->s.state == SMTPD_S_CONNECTED) {
		smtpd_session_tls_on(&c->s, info.version, info.cipher);
		smtpd_session_greet(&c->s);
	} else {
		smtpd_session_tls_on(&c->s, info.version, info.cipher);
	}
	conn_flush(c);
	deadline_command(c);
}

static void tls_begin(struct smtpd_conn *c)
{
	struct smtpd *d = c->lp->d;
	int	err;

	if (d->tls == NULL
	    || (err = certs_tls_accept(d->tls, (struct sockaddr *) &c->s.peer, &c->tls)) < 0) {
		sg_warn("session=%s event=tls_unavailable", c->s.id);
		conn_close(c);
		return;
	}
	c->handshaking = true;
	deadline_command(c);
	update_reading(c);
}

static void tls_input(struct smtpd_conn *c, const char *p, size_t n)
{
	ssize_t	k = certs_tls_feed(c->tls, p, n);

	if (k < 0 || (size_t) k < n) {
		sg_info("session=%s event=tls_input_refused", c->s.id);
		conn_close(c);
		return;
	}
	if (c->handshaking)
		tls_handshake(c);
	if (!c->handshaking && !c->closing)
		tls_pump(c);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct smtpd_conn *c = st->data;

	if (nread == 0)
		return;
	if (nread == UV_ENOBUFS) {
		uv_read_stop(st);
		c->reading = false;
		return;
	}
	if (nread < 0) {
		sg_debug("session=%s event=eof state=%s", c->s.id, smtpd_state_name(c->s.state));
		if (c->s.state != SMTPD_S_CLOSED)
			sg_info("session=%s event=lost client=%s state=%s", c->s.id,
				c->s.peer_str, smtpd_state_name(c->s.state));
		c->close_after = true;
		conn_close(c);
		return;
	}
	if (c->tls)
		tls_input(c, buf->base, (size_t) nread);
	else
		input(c, buf->base, (size_t) nread);
}

static void greet(struct smtpd_conn *c)
{
	smtpd_session_greet(&c->s);
	conn_flush(c);
	deadline_command(c);
	update_reading(c);
}

static void on_timer(uv_timer_t *t)
{
	struct smtpd_conn *c = t->data;
	int64_t	now;

	switch (c->tmode) {
	case T_GREET:
		if (c->s.state == SMTPD_S_CONNECTED)
			greet(c);
		break;
	case T_DELAY:
		c->delayed = false;
		conn_flush(c);
		if (c->close_after) {
			conn_close(c);
			break;
		}
		deadline_command(c);
		conn_process(c);
		if (c->tls && !c->closing)
			tls_pump(c);
		break;
	case T_DEADLINE:
		now = sg_mono_ms();
		if (now < c->deadline) {
			timer_set(c, T_DEADLINE, c->deadline - now);
			break;
		}
		sg_info("session=%s event=timeout client=%s state=%s", c->s.id,
			c->s.peer_str, smtpd_state_name(c->s.state));
		smtpd_session_timeout(&c->s);
		conn_flush(c);
		conn_close(c);
		break;
	}
}

/* conn_free - the last handle closed */

static void conn_free(struct smtpd_conn *c)
{
	struct smtpd_loop *lp = c->lp;

	if (c->prev)
		c->prev->next = c->next;
	else
		lp->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	lp->nconns--;
	if (c->admitted)
		smtpd_server_release(lp->d, (struct sockaddr *) &c->s.peer);
	sg_debug("session=%s event=disconnect", c->s.id);
	smtpd_session_free(&c->s);
	sg_buf_free(&c->pending);
	if (c->tls)
		certs_tls_free(c->tls);
	free(c);
	if (lp->stopping)
		smtpd_server_loop_idle(lp);
}

static void on_close(uv_handle_t *h)
{
	struct smtpd_conn *c = h->data;

	if (--c->handles == 0)
		conn_free(c);
}

static void close_handles(struct smtpd_conn *c)
{
	uv_close((uv_handle_t *) & c->tcp, on_close);
	uv_close((uv_handle_t *) & c->timer, on_close);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct smtpd_conn *c = req->data;

	(void) status;
	free(req);
	close_handles(c);
}

static void conn_close(struct smtpd_conn *c)
{
	uv_shutdown_t *req;

	if (c->closing)
		return;
	if (c->committing) {
		c->close_after = true;
		return;
	}
	c->closing = true;
	uv_timer_stop(&c->timer);
	update_reading(c);
	if (c->tls && certs_tls_handshake_done(c->tls)) {
		certs_tls_close_notify(c->tls);
		tls_flush_out(c);
	}
	if (uv_stream_get_write_queue_size((uv_stream_t *) & c->tcp) > 0) {
		req = sg_xmalloc(sizeof(*req));
		req->data = c;
		if (uv_shutdown(req, (uv_stream_t *) & c->tcp, on_shutdown) == 0)
			return;
		free(req);
	}
	close_handles(c);
}

/* refuse_conn - over a connection limit: 421 and close, no session */

static void refuse_conn(struct smtpd_conn *c)
{
	smtpd_reply(&c->s, "421 4.7.0 %s Error: too many connections", c->s.pol->hostname);
	sg_info("session=%s event=too_many_connections client=%s", c->s.id, c->s.peer_str);
	if (c->tls) {
		certs_tls_free(c->tls);
		c->tls = NULL;
	}
	conn_flush(c);
	conn_close(c);
}

void	smtpd_conn_accept(struct smtpd_loop *lp, uv_stream_t *server, size_t listener)
{
	struct smtpd *d = lp->d;
	struct smtpd_conn *c = sg_xcalloc(1, sizeof(*c));
	struct smtpd_policy *pol;
	struct sockaddr_storage peer;
	int	plen = sizeof(peer);
	const struct smtpd_listener_conf *l = &d->listeners[listener];

	c->lp = lp;
	c->listener = listener;
	uv_tcp_init(lp->loop, &c->tcp);
	uv_timer_init(lp->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->handles = 2;
	if ((c->next = lp->conns) != NULL)
		c->next->prev = c;
	lp->conns = c;
	lp->nconns++;
	memset(&peer, 0, sizeof(peer));
	if (uv_accept(server, (uv_stream_t *) & c->tcp) < 0
	    || uv_tcp_getpeername(&c->tcp, (struct sockaddr *) &peer, &plen) < 0) {
		pol = smtpd_server_policy(d);
		smtpd_session_init(&c->s, pol, NULL, l->name, l->security, 0);
		smtpd_policy_unref(pol);
		c->closing = true;
		close_handles(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	pol = smtpd_server_policy(d);
	smtpd_session_init(&c->s, pol, (struct sockaddr *) &peer, l->name, l->security,
			   atomic_fetch_add(&d->next_id, 1));
	smtpd_policy_unref(pol);
	c->s.now_ms = sg_now_ms();
	c->s.on_reject = on_reject;
	c->s.owner = c;
	if (lp->stopping || !(c->admitted = smtpd_server_admit(d, (struct sockaddr *) &peer))) {
		refuse_conn(c);
		return;
	}
	sg_debug("session=%s event=connect client=%s listener=%s", c->s.id, c->s.peer_str,
		 c->s.listener);
	if (l->security == SMTPD_SEC_SMTPS)
		tls_begin(c);
	else if (c->s.pol->conf.greeting_delay > 0) {
		timer_set(c, T_GREET, c->s.pol->conf.greeting_delay);
		update_reading(c);
	} else
		greet(c);
}

void	smtpd_conn_shutdown_all(struct smtpd_loop *lp)
{
	struct smtpd_conn *c, *next;

	for (c = lp->conns; c; c = next) {
		next = c->next;
		if (c->closing || c->committing)
			continue;
		smtpd_session_shutdown(&c->s);
		if (!c->handshaking)
			conn_flush(c);
		conn_close(c);
	}
}
