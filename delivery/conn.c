/*
 * NAME
 *	conn 3
 * SUMMARY
 *	one outgoing SMTP connection: TCP, TLS and the client session
 * SYNOPSIS
 *	#include "delivery_int.h"
 *
 *	void	dl_conn_open(dest)
 *	void	dl_conn_give(conn, job)
 *	void	dl_conn_stop_all(dest)
 *	void	dl_conn_quit_idle(dest)
 * DESCRIPTION
 *	dl_conn_open() starts a connection for a destination whose next
 *	hops are resolved. It tries the addresses in order: a refused or
 *	timed-out connect, a greeting other than 2xx, or a TLS failure the
 *	session marks as "next host" moves to the next address. Under the
 *	opportunistic policy a failed handshake is retried once on the same
 *	address in plaintext. When every address failed, the destination's
 *	waiting jobs are deferred with the last reason. An address whose
 *	host DANE or MTA-STS refuses (tlspol_conn.c) is not connected to: it
 *	fails with 4.7.5, settled from the loop like a closed socket. A host
 *	with secure TLSA records gets mandatory TLS judged by its records,
 *	one an enforced MTA-STS policy lists gets "verify"; connections
 *	made before a new MTA-STS policy take no more messages.
 *
 *	A ready connection takes jobs from its destination one after the
 *	other (connection reuse, up to reuse_count messages) and waits
 *	reuse_time for more before it says QUIT.
 *
 *	The session (session.c) decides what is said; this file moves
 *	bytes: server bytes go through TLS (certs_tls_*) when it is on, the
 *	session's output likewise, and the body is read from the queue in
 *	chunks and written with back-pressure on libuv's write queue. Every
 *	stage has its own timeout; a timeout or a lost connection settles
 *	every undecided recipient as a temporary failure.
 *
 *	dl_conn_give() hands an idle connection a job. dl_conn_stop_all()
 *	closes the connections of a destination at shutdown;
 *	dl_conn_quit_idle() ends its idle ones (after a reload).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery_int.h"

#define BODY_CHUNK	(64 * 1024)
#define WRITE_HIGH	(256 * 1024)	/* pause the body above this backlog */
#define READ_MAX	(64 * 1024)

struct dl_conn {
	struct delivery_agent *a;
	struct dl_dest *d;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t creq;
	bool	tcp_open;		/* tcp initialised, not yet closed */
	bool	closing;		/* the whole connection is going */
	struct dl_hosts *hosts;		/* our copy of the address list */
	size_t	next_addr;
	const struct dl_addr *addr;
	bool	plain_retry;		/* this attempt goes without TLS */
	bool	ready_once;		/* reached the idle state at least once */
	struct delivery_session *s;
	struct certs_tls *tls;
	bool	tls_on;			/* handshake done: encrypt everything */
	struct dl_job *job;
	uint64_t body_off;
	bool	body_wait;		/* paused on the write backlog */
	char   *rbuf;
	unsigned messages;
	unsigned policy_gen;		/* the destination's when it was opened */
	char	relay[320];
	char	tlsdesc[128];
	bool	failed;
	int	fail_status;
	char	fail_enh[16];
	char	fail_reason[DELIVERY_REPLY_TEXT_MAX + 128];
	struct dl_conn *inext;		/* destination's idle list */
	struct dl_conn *dnext;		/* destination's list of all */
};

static void pump(struct dl_conn *c);
static void try_next(struct dl_conn *c);
static void end_attempt(struct dl_conn *c);
static void on_tcp_closed(uv_handle_t *h);
static void on_refused(uv_timer_t *t);

/* ---------------------------------------------------------- timers */

static int64_t stage_timeout(const struct delivery_conf *cf, enum delivery_stage st)
{
	switch (st) {
	case DELIVERY_STAGE_GREETING:
		return (cf->greeting_timeout);
	case DELIVERY_STAGE_HELO:
	case DELIVERY_STAGE_AUTH:
		return (cf->helo_timeout);
	case DELIVERY_STAGE_STARTTLS:
		return (cf->starttls_timeout);
	case DELIVERY_STAGE_MAIL:
		return (cf->mail_timeout);
	case DELIVERY_STAGE_RCPT:
		return (cf->rcpt_timeout);
	case DELIVERY_STAGE_DATA:
		return (cf->data_timeout);
	case DELIVERY_STAGE_BODY:
		return (cf->data_block_timeout);
	case DELIVERY_STAGE_DOT:
		return (cf->dot_timeout);
	case DELIVERY_STAGE_IDLE:
		return (cf->reuse_time > 0 ? cf->reuse_time : 1);
	case DELIVERY_STAGE_QUIT:
	case DELIVERY_STAGE_CLOSED:
		return (cf->quit_timeout);
	}
	return (cf->quit_timeout);
}

static void on_timeout(uv_timer_t *t)
{
	struct dl_conn *c = t->data;
	char	why[96];

	if (c->s == NULL) {
		c->failed = true;
		c->fail_status = DELIVERY_TEMP;
		snprintf(c->fail_enh, sizeof(c->fail_enh), "4.4.1");
		snprintf(c->fail_reason, sizeof(c->fail_reason), "connect to %s timed out",
			 c->relay);
		end_attempt(c);
		return;
	}
	if (delivery_session_stage(c->s) == DELIVERY_STAGE_IDLE) {
		delivery_session_quit(c->s);
		pump(c);
		return;
	}
	snprintf(why, sizeof(why), "timeout after %s",
		 delivery_session_stage_name(delivery_session_stage(c->s)));
	delivery_session_abort(c->s, why);
	pump(c);
}

static void arm(struct dl_conn *c, int64_t ms)
{
	uv_timer_start(&c->timer, on_timeout, (uint64_t) (ms > 0 ? ms : 1), 0);
}

/* ---------------------------------------------------------- writing */

struct wreq {
	uv_write_t req;
	struct dl_conn *c;
	char	data[];
};

static void on_write(uv_write_t *w, int status)
{
	struct wreq *r = (struct wreq *) w;
	struct dl_conn *c = r->c;

	free(r);
	if (c->closing || !c->tcp_open)
		return;
	if (status < 0 && c->s) {
		delivery_session_abort(c->s, uv_strerror(status));
		pump(c);
		return;
	}
	if (c->body_wait && uv_stream_get_write_queue_size((uv_stream_t *) &c->tcp) < WRITE_HIGH) {
		c->body_wait = false;
		pump(c);
	}
}

static void send_raw(struct dl_conn *c, const void *p, size_t n)
{
	struct wreq *r;
	uv_buf_t b;

	if (n == 0 || !c->tcp_open)
		return;
	r = sg_xmalloc(sizeof(*r) + n);
	r->c = c;
	memcpy(r->data, p, n);
	b = uv_buf_init(r->data, (unsigned) n);
	if (uv_write(&r->req, (uv_stream_t *) &c->tcp, &b, 1, on_write) < 0)
		free(r);
}

/* send_cipher - move every pending TLS record to the socket */

static void send_cipher(struct dl_conn *c)
{
	char	buf[16384];
	size_t	n;

	while (c->tls && (n = certs_tls_take(c->tls, buf, sizeof(buf))) > 0)
		send_raw(c, buf, n);
}

/* flush - the session's output, encrypted when TLS is on */

static void flush(struct dl_conn *c)
{
	struct sg_buf *o = delivery_session_output(c->s);
	size_t	off = 0;

	if (o->len == 0)
		return;
	if (!c->tls_on) {
		send_raw(c, o->data, o->len);
		sg_buf_reset(o);
		return;
	}
	while (off < o->len) {
		ssize_t	n = certs_tls_write(c->tls, o->data + off, o->len - off);
		size_t	queued = certs_tls_pending(c->tls);

		if (n > 0)
			off += (size_t) n;
		send_cipher(c);
		/* Full buffer: sending it made room. Anything else is stuck. */
		if (n == SG_EAGAIN && queued > 0)
			continue;
		if (n < 0) {
			sg_buf_reset(o);
			delivery_session_abort(c->s, certs_tls_error(c->tls));
			return;
		}
	}
	sg_buf_reset(o);
}

/* ------------------------------------------------------------- TLS */

static void tls_done(struct dl_conn *c, bool ok, const char *why)
{
	struct certs_tls_peer peer = {0};
	struct certs_tls_info info = {0};

	if (ok) {
		certs_tls_peer(c->tls, &peer);
		certs_tls_info(c->tls, &info);
		c->tls_on = true;
		snprintf(c->tlsdesc, sizeof(c->tlsdesc), "%s/%s", info.version, info.cipher);
		if (c->addr->dane == DL_DANE_AUTH)
			dl_conn_dane_check(c->hosts, c->addr, c->tls, c->relay, &peer, c->tlsdesc,
					   sizeof(c->tlsdesc));
		dl_conn_tlsrpt(c->a, c->d->domain, c->addr, peer.chain_ok && peer.name_ok
			       ? "success" : c->addr->dane == DL_DANE_AUTH ? "validation-failure"
			       : !peer.chain_ok ? "certificate-not-trusted"
			       : "certificate-host-mismatch");
		sg_debug("event=tls_up relay=\"%s\" tls=%s chain_ok=%d name_ok=%d reason=\"%s\"",
			 c->relay, c->tlsdesc, peer.chain_ok, peer.name_ok, peer.reason);
		why = *peer.reason ? peer.reason : NULL;
	} else {
		dl_conn_tlsrpt(c->a, c->d->domain, c->addr, "validation-failure");
	}
	delivery_session_tls_result(c->s, ok, peer.presented && peer.chain_ok, peer.name_ok, why);
}

/* tls_step - drive the handshake; then decrypt whatever arrived */

static void tls_step(struct dl_conn *c)
{
	char	buf[16384];
	ssize_t	n;

	if (!c->tls_on) {
		int	rc = certs_tls_handshake(c->tls);

		send_cipher(c);
		if (rc == SG_EAGAIN)
			return;
		tls_done(c, rc == 0, rc == 0 ? NULL : certs_tls_error(c->tls));
		if (rc != 0)
			return;
	}
	while ((n = certs_tls_read(c->tls, buf, sizeof(buf))) > 0) {
		if (delivery_session_input(c->s, buf, (size_t) n) < 0)
			break;
	}
	send_cipher(c);
	if (n == 0 || (n < 0 && n != SG_EAGAIN))
		delivery_session_abort(c->s, n == 0 ? "connection closed by server"
				       : certs_tls_error(c->tls));
}

static void tls_start(struct dl_conn *c)
{
	if (c->tls == NULL && (c->a->certs == NULL
			       || certs_tls_connect(c->a->certs, c->addr->host,
						    (const struct sockaddr *) &c->addr->sa,
						    &c->tls) < 0)) {
		delivery_session_tls_result(c->s, false, false, false,
					    "cannot start a TLS client session");
		return;
	}
	tls_step(c);
}

/* ------------------------------------------------------------ body */

/* feed - queue_body_pieces()'s callback: the bytes, dot-stuffed, into the session */

static int feed(const void *piece, size_t len, void *arg)
{
	delivery_session_body(arg, piece, len);
	return (0);
}

static void body_step(struct dl_conn *c)
{
	struct dl_job *j = c->job;
	enum queue_body_kind kind = (j->u->env.flags & QUEUE_F_PROCESSED)
		? QUEUE_BODY_PROCESSED : QUEUE_BODY_ORIGINAL;

	while (delivery_session_want(c->s) == DELIVERY_WANT_BODY) {
		size_t	got = 0;
		int	rc;

		if (uv_stream_get_write_queue_size((uv_stream_t *) &c->tcp) >= WRITE_HIGH) {
			c->body_wait = true;
			break;
		}
		rc = queue_body_pieces(c->a->q, j->u->id, kind, c->body_off, BODY_CHUNK, feed, c->s,
				       &got);
		if (rc < 0) {
			/* The connection is unusable mid-DATA: a temporary failure. */
			delivery_session_abort(c->s, "cannot read the message body from the queue");
			break;
		}
		if (got == 0 && c->body_off != j->msg.size) {
			/* shorter than its envelope says: never end it with the dot */
			delivery_session_abort(c->s, "the message body in the queue is incomplete");
			break;
		}
		if (got == 0)
			delivery_session_body_end(c->s);
		c->body_off += got;
		flush(c);
		arm(c, c->a->conf->data_block_timeout);
	}
}

/* ------------------------------------------------------------ pump */

static void job_finished(struct dl_conn *c)
{
	struct dl_job *j = c->job;

	c->job = NULL;
	c->messages++;
	dl_job_done(j, c->relay, *c->tlsdesc ? c->tlsdesc : "none");
}

/* start_job - hand the session a message; pump() carries it on */

static void start_job(struct dl_conn *c, struct dl_job *j)
{
	c->job = j;
	c->body_off = 0;
	if (delivery_session_message(c->s, &j->msg) < 0)
		delivery_session_abort(c->s, "internal: session not ready");
}

/*
 * next_job - the session is idle: the next job of the destination, or
 * QUIT, or wait in the idle list. Returns false when there is nothing to
 * do until a job or the reuse timer comes.
 */
static bool next_job(struct dl_conn *c)
{
	struct dl_job *j;

	if (c->a->stopping || c->messages >= (unsigned) c->a->conf->reuse_count
	    || c->policy_gen != c->d->policy_gen) {
		delivery_session_quit(c->s);
		return (true);
	}
	if ((j = dl_dest_take(c->d)) != NULL) {
		start_job(c, j);
		return (true);
	}
	if (dl_agent_starved(c->a, c->d)) {
		/* Another destination waits for a connection slot: give ours up. */
		delivery_session_quit(c->s);
		return (true);
	}
	c->inext = c->d->idle;
	c->d->idle = c;
	arm(c, c->a->conf->reuse_time);
	return (false);
}

static void unlink_idle(struct dl_conn *c)
{
	for (struct dl_conn **pp = &c->d->idle; *pp; pp = &(*pp)->inext) {
		if (*pp == c) {
			*pp = c->inext;
			break;
		}
	}
	c->inext = NULL;
}

/* pump - do what the session wants until it waits for the network */

static void pump(struct dl_conn *c)
{
	/*
	 * Every turn either returns to wait for the network or a timer, or
	 * moves the session on (a message given, finished or refused), so
	 * the loop ends; messages refused before MAIL do not recurse.
	 */
	while (!c->closing) {
		flush(c);
		if (c->job && delivery_session_done(c->s))
			job_finished(c);
		switch (delivery_session_want(c->s)) {
		case DELIVERY_WANT_READ:
			arm(c, stage_timeout(c->a->conf, delivery_session_stage(c->s)));
			return;
		case DELIVERY_WANT_TLS:
			arm(c, c->a->conf->starttls_timeout);
			tls_start(c);
			if (delivery_session_want(c->s) == DELIVERY_WANT_TLS)
				return;
			continue;
		case DELIVERY_WANT_MESSAGE:
			if (c->job) {
				/* A message given must be taken or refused at once. */
				delivery_session_abort(c->s, "internal: message not started");
				continue;
			}
			if (!c->ready_once) {
				c->ready_once = true;
				c->d->connecting--;
			}
			if (!next_job(c))
				return;
			continue;
		case DELIVERY_WANT_BODY:
			body_step(c);
			if (c->body_wait)
				return;
			continue;
		case DELIVERY_WANT_CLOSE:
			end_attempt(c);
			return;
		}
	}
}

/* ------------------------------------------------------ connecting */

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct dl_conn *c = h->data;
	size_t	n = READ_MAX;

	(void) hint;
	if (c->tls && !c->tls_on && certs_tls_in_room(c->tls) < n)
		n = certs_tls_in_room(c->tls);
	if (c->tls && c->tls_on && certs_tls_in_room(c->tls) < n)
		n = certs_tls_in_room(c->tls);
	if (c->rbuf == NULL)
		c->rbuf = sg_xmalloc(READ_MAX);
	*b = uv_buf_init(c->rbuf, (unsigned) n);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct dl_conn *c = st->data;

	if (c->closing || n == 0)
		return;
	if (n < 0) {
		if (c->tls) {
			certs_tls_feed_eof(c->tls);
			if (delivery_session_want(c->s) == DELIVERY_WANT_TLS || c->tls_on)
				tls_step(c);
		}
		delivery_session_abort(c->s, n == UV_EOF ? "connection closed by server"
				       : uv_strerror((int) n));
		pump(c);
		return;
	}
	if (c->tls) {
		size_t	off = 0;

		while (off < (size_t) n) {
			ssize_t	k = certs_tls_feed(c->tls, b->base + off, (size_t) n - off);

			if (k <= 0)
				break;
			off += (size_t) k;
		}
		tls_step(c);
	} else if (delivery_session_input(c->s, b->base, (size_t) n) < 0) {
		sg_warn("event=protocol_error relay=\"%s\"", c->relay);
	}
	pump(c);
}

static void new_session(struct dl_conn *c)
{
	struct delivery_agent *a = c->a;
	const struct delivery_route *r = &c->d->route;
	struct delivery_session_params p = {
		.ehlo_name = a->ehlo,.peer = c->addr->host,.tls = r->tls,
		.tls_possible = a->certs != NULL,.auth = r->auth,
		.auth_user = a->auth_user,.auth_pass = a->auth_pass,
	};

	if (c->plain_retry)
		p.tls = DELIVERY_TLS_NONE;
	if (c->addr->sts == DL_STS_VERIFY && !c->plain_retry)
		p.tls = DELIVERY_TLS_VERIFY;	/* MTA-STS enforce: verified or nothing */
	if (c->addr->dane == DL_DANE_AUTH) {
		/* DANE: TLS or nothing; the certificate is judged by the records. */
		p.tls = DELIVERY_TLS_VERIFY;
		p.dane = true;
	}
	c->s = delivery_session_new(&p);
}

static void on_connect(uv_connect_t *req, int status)
{
	struct dl_conn *c = req->data;

	if (c->closing)
		return;
	if (status < 0) {
		c->failed = true;
		c->fail_status = DELIVERY_TEMP;
		snprintf(c->fail_enh, sizeof(c->fail_enh), "4.4.1");
		snprintf(c->fail_reason, sizeof(c->fail_reason), "connect to %s: %s", c->relay,
			 uv_strerror(status));
		end_attempt(c);
		return;
	}
	new_session(c);
	uv_read_start((uv_stream_t *) &c->tcp, alloc_cb, on_read);
	pump(c);
}

static void relay_name(struct dl_conn *c)
{
	char	ip[INET6_ADDRSTRLEN];
	const struct sockaddr *sa = (const struct sockaddr *) &c->addr->sa;
	unsigned port = ntohs(sa->sa_family == AF_INET6
			      ? ((const struct sockaddr_in6 *) sa)->sin6_port
			      : ((const struct sockaddr_in *) sa)->sin_port);

	sg_sockaddr_str(sa, ip, sizeof(ip));
	snprintf(c->relay, sizeof(c->relay), "%s[%s]:%u", c->addr->host, ip, port);
}

/* connect_addr - one TCP attempt to c->addr */

static void connect_addr(struct dl_conn *c)
{
	int	rc;

	relay_name(c);
	uv_tcp_init(c->a->loop, &c->tcp);
	c->tcp.data = c;
	c->tcp_open = true;
	c->creq.data = c;
	uv_tcp_nodelay(&c->tcp, 1);
	rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *) &c->addr->sa, on_connect);
	if (rc < 0) {
		c->failed = true;
		c->fail_status = DELIVERY_TEMP;
		snprintf(c->fail_enh, sizeof(c->fail_enh), "4.4.1");
		snprintf(c->fail_reason, sizeof(c->fail_reason), "connect to %s: %s", c->relay,
			 uv_strerror(rc));
		end_attempt(c);
		return;
	}
	arm(c, c->a->conf->connect_timeout);
}

static void conn_free(struct dl_conn *c)
{
	dl_hosts_free(c->hosts);
	free(c->rbuf);
	free(c);
}

static void on_timer_closed(uv_handle_t *h)
{
	conn_free(h->data);
}

/* finish - the connection is over for good */

static void finish(struct dl_conn *c)
{
	struct dl_dest *d = c->d;

	c->closing = true;
	unlink_idle(c);
	for (struct dl_conn **pp = &d->conns; *pp; pp = &(*pp)->dnext) {
		if (*pp == c) {
			*pp = c->dnext;
			break;
		}
	}
	if (!c->ready_once)
		d->connecting--;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *) &c->timer, on_timer_closed);
	/* The destination may open more connections now. */
	dl_dest_conn_closed(d, c);
}

/* settle_failure - this attempt failed before a message; record why */

static void settle_failure(struct dl_conn *c)
{
	const struct delivery_failure *f = c->s ? delivery_session_failure(c->s) : NULL;

	/* the host's doing, never ours (no TLS client here is no report) */
	if (f && f->no_starttls)
		dl_conn_tlsrpt(c->a, c->d->domain, c->addr, "starttls-not-supported");
	if (f) {
		c->failed = true;
		c->fail_status = f->status;
		snprintf(c->fail_enh, sizeof(c->fail_enh), "%s", f->enh);
		snprintf(c->fail_reason, sizeof(c->fail_reason), "%s", f->reason);
	}
}

static void on_tcp_closed(uv_handle_t *h)
{
	struct dl_conn *c = h->data;
	const struct delivery_failure *f = c->s ? delivery_session_failure(c->s) : NULL;
	bool	retry_plain = f && f->plaintext_retry && !c->plain_retry;
	bool	next = !c->ready_once && (f == NULL || f->next_host) && !c->a->stopping;

	if (c->tls) {
		certs_tls_free(c->tls);
		c->tls = NULL;
	}
	c->tls_on = false;
	*c->tlsdesc = 0;
	delivery_session_free(c->s);
	c->s = NULL;
	c->tcp_open = false;
	if (retry_plain && !c->a->stopping) {
		c->plain_retry = true;
		c->failed = false;
		connect_addr(c);
		return;
	}
	if (next && c->next_addr < c->hosts->n) {
		try_next(c);
		return;
	}
	if (!c->ready_once && c->failed && c->d->njobs > 0) {
		/* Every address failed: what waits for this destination waits longer. */
		dl_dest_fail(c->d, c->fail_status, c->fail_enh, c->fail_reason, c->relay);
	}
	finish(c);
}

/* end_attempt - close the socket of this attempt; on_tcp_closed decides */

static void end_attempt(struct dl_conn *c)
{
	uv_timer_stop(&c->timer);
	if (c->s) {
		delivery_session_abort(c->s, "connection closed");
		if (c->job && delivery_session_done(c->s))
			job_finished(c);
		settle_failure(c);
	}
	unlink_idle(c);
	if (c->tcp_open && !uv_is_closing((uv_handle_t *) &c->tcp)) {
		uv_read_stop((uv_stream_t *) &c->tcp);
		uv_close((uv_handle_t *) &c->tcp, on_tcp_closed);
	} else if (!c->tcp_open && !c->closing) {
		uv_timer_start(&c->timer, on_refused, 0, 0);	/* a refusal was pending */
	}
}

/* on_refused - a host DANE or MTA-STS refused: on as if its socket had closed */

static void on_refused(uv_timer_t *t)
{
	struct dl_conn *c = t->data;

	c->tcp.data = c;
	on_tcp_closed((uv_handle_t *) &c->tcp);
}

static void try_next(struct dl_conn *c)
{
	c->addr = &c->hosts->v[c->next_addr++];
	c->plain_retry = false;
	if (dl_conn_refuse(c->addr, c->fail_reason, sizeof(c->fail_reason))) {
		/* DANE or MTA-STS forbids this host now; no socket, so no close to wait for. */
		c->failed = true;
		c->fail_status = DELIVERY_TEMP;
		snprintf(c->fail_enh, sizeof(c->fail_enh), "4.7.5");
		relay_name(c);
		sg_info("event=policy_refused relay=\"%s\" reason=\"%s\"", c->relay, c->fail_reason);
		dl_conn_tlsrpt(c->a, c->d->domain, c->addr, dl_conn_refuse_result(c->addr));
		/*
		 * Settled from the loop, never inside dl_conn_open(): the
		 * destination may go away once its last connection ends.
		 */
		uv_timer_start(&c->timer, on_refused, 0, 0);
		return;
	}
	connect_addr(c);
}

void	dl_conn_open(struct dl_dest *d)
{
	struct dl_conn *c = sg_xcalloc(1, sizeof(*c));
	const struct dl_hosts *h = d->hosts;

	c->a = d->a;
	c->d = d;
	c->policy_gen = d->policy_gen;
	c->hosts = dl_hosts_dup(h);
	uv_timer_init(c->a->loop, &c->timer);
	c->timer.data = c;
	c->dnext = d->conns;
	d->conns = c;
	d->active++;
	d->connecting++;
	c->a->total++;
	try_next(c);
}

void	dl_conn_give(struct dl_conn *c, struct dl_job *j)
{
	unlink_idle(c);
	start_job(c, j);
	pump(c);
}

static void conn_stop(struct dl_conn *c)
{
	if (c->closing)
		return;
	if (c->s && delivery_session_want(c->s) == DELIVERY_WANT_MESSAGE && c->job == NULL) {
		delivery_session_quit(c->s);
		pump(c);
		return;
	}
	end_attempt(c);
}

void	dl_conn_stop_all(struct dl_dest *d)
{
	/* Closing is asynchronous: the list does not change under us. */
	for (struct dl_conn *c = d->conns; c; c = c->dnext)
		conn_stop(c);
}

void	dl_conn_quit_idle(struct dl_dest *d)
{
	while (d->idle) {
		struct dl_conn *c = d->idle;

		unlink_idle(c);
		delivery_session_quit(c->s);
		pump(c);
	}
}
