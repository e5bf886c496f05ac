/*
 * NAME
 *	metrics_server 3
 * SUMMARY
 *	a minimal HTTP/1.1 server on libuv: one request per connection
 * SYNOPSIS
 *	#include "metrics/metrics.h"
 *
 *	int	metrics_server_start(loop, addr, collect, arg, out, errors)
 *	void	metrics_server_stop(server, done, arg)
 * DESCRIPTION
 *	Each connection lives through four states: reading the request
 *	head into a fixed buffer of METRICS_HTTP_HEAD_MAX bytes (parsed
 *	after every read, metrics_http.c, so garbage is refused as soon as
 *	it arrives), writing the one answer, lingering (our side shut, what
 *	the client still sends read and thrown away, so that a client still
 *	writing a huge head gets the 431 and not a reset), closing. One
 *	timer per connection bounds the whole request (METRICS_REQUEST_MS
 *	from the connect: a client that sends a byte a second gets 408),
 *	the answer's write (the same again) and the linger
 *	(METRICS_LINGER_MS). Past METRICS_CONN_MAX connections a new one is
 *	answered 503 at once. Every answer says "Connection: close".
 *
 *	The exposition is made on the loop thread when a GET arrives (short
 *	LMDB read transactions: a writer never waits for them); nothing is
 *	cached, so a scrape always sees committed counters.
 * SECURITY
 *	Untrusted input is only ever the request head, read into a fixed
 *	buffer and parsed with explicit lengths; no request reaches more
 *	than the queue's read-only snapshot.
 * DIAGNOSTICS
 *	metrics_server_start(): SG_EINVAL (addr is not a numeric ip:port),
 *	SG_EIO (it cannot be bound: errors says why). Refused requests are
 *	logged at debug (event=http_refused).
 */

#include <stdlib.h>
#include <string.h>

#include "metrics.h"

enum conn_state { C_READING, C_WRITING, C_LINGER, C_CLOSING };

struct conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wr;
	uv_shutdown_t sh;
	struct metrics_server *s;
	struct conn *prev, *next;
	enum conn_state state;
	int	handles;		/* tcp and timer not closed yet */
	size_t	len;
	char	peer[64];
	struct sg_buf out;
	char	buf[METRICS_HTTP_HEAD_MAX];
};

struct metrics_server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	bool	listening;
	bool	stopping;
	metrics_collect_fn *collect;
	void   *arg;
	struct conn *conns;
	size_t	nconns;
	void	(*done) (void *);
	void   *done_arg;
	char	discard[4096];		/* what a lingering client still sends */
};

static void server_maybe_done(struct metrics_server *s)
{
	if (s->stopping && s->nconns == 0 && !s->listening) {
		if (s->done)
			s->done(s->done_arg);
		free(s);
	}
}

static void conn_on_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct metrics_server *s = c->s;

	if (--c->handles > 0)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	sg_buf_free(&c->out);
	free(c);
	server_maybe_done(s);
}

static void conn_close(struct conn *c)
{
	if (c->state == C_CLOSING)
		return;
	c->state = C_CLOSING;
	uv_close((uv_handle_t *) &c->tcp, conn_on_closed);
	uv_close((uv_handle_t *) &c->timer, conn_on_closed);
}

static void conn_on_timer(uv_timer_t *t);

static void conn_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void) hint;
	if (c->state == C_READING) {
		buf->base = c->buf + c->len;
		buf->len = sizeof(c->buf) - c->len;
	} else {
		buf->base = c->s->discard;
		buf->len = sizeof(c->s->discard);
	}
}

/* conn_on_shutdown - our answer is out: linger a little, then close */

static void conn_on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

static void conn_on_shutdown(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;

	if (c->state != C_WRITING)
		return;
	if (status < 0 || uv_read_start((uv_stream_t *) &c->tcp, conn_on_alloc, conn_on_read) < 0) {
		conn_close(c);
		return;
	}
	c->state = C_LINGER;
	uv_timer_start(&c->timer, conn_on_timer, METRICS_LINGER_MS, 0);
}

static void conn_on_write(uv_write_t *req, int status)
{
	struct conn *c = req->data;

	if (c->state != C_WRITING)
		return;
	c->sh.data = c;
	if (status < 0 || uv_shutdown(&c->sh, (uv_stream_t *) &c->tcp, conn_on_shutdown) < 0)
		conn_close(c);
}

/* conn_answer - the status line, headers and body; then shut and linger */

static void conn_answer(struct conn *c, int status, bool head)
{
	struct sg_buf body = SG_BUF_INIT;
	const char *type = "text/plain; charset=utf-8";
	uv_buf_t b;

	if (status == 200) {
		type = "text/plain; version=0.0.4; charset=utf-8";
		if (c->s->collect(c->s->arg, &body) < 0) {
			status = 500;
			sg_buf_reset(&body);
		}
	}
	if (status != 200) {
		sg_buf_printf(&body, "%d %s\n", status, metrics_http_reason(status));
		sg_debug("event=http_refused client=%s status=%d", c->peer, status);
	}
	sg_buf_printf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		      "%sCache-Control: no-store\r\nConnection: close\r\n\r\n", status,
		      metrics_http_reason(status), type, body.len,
		      status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (!head && body.len)
		sg_buf_append(&c->out, body.data, body.len);
	sg_buf_free(&body);
	uv_read_stop((uv_stream_t *) &c->tcp);
	c->state = C_WRITING;
	uv_timer_start(&c->timer, conn_on_timer, METRICS_REQUEST_MS, 0);
	b = uv_buf_init(c->out.data, (unsigned) c->out.len);
	c->wr.data = c;
	if (uv_write(&c->wr, (uv_stream_t *) &c->tcp, &b, 1, conn_on_write) < 0)
		conn_close(c);
}

static void conn_on_timer(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (c->state == C_READING)
		conn_answer(c, 408, false);
	else
		conn_close(c);		/* a client that does not read, or lingers */
}

static void conn_on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = st->data;
	struct metrics_http_req req;

	(void) buf;
	if (n < 0) {
		conn_close(c);		/* gone, or done lingering */
		return;
	}
	if (c->state != C_READING || n == 0)
		return;
	c->len += (size_t) n;
	if (metrics_http_parse(c->buf, c->len, &req) == 1)
		conn_answer(c, req.status, req.head);
}

static void server_on_connection(uv_stream_t *l, int status)
{
	struct metrics_server *s = l->data;
	struct sockaddr_storage ss;
	int	sslen = sizeof(ss);
	struct conn *c;

	if (status < 0 || s->stopping)
		return;
	c = sg_xcalloc(1, sizeof(*c));
	c->s = s;
	uv_tcp_init(s->loop, &c->tcp);
	uv_timer_init(s->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->handles = 2;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	if (uv_accept(l, (uv_stream_t *) &c->tcp) < 0) {
		conn_close(c);
		return;
	}
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *) &ss, &sslen) == 0)
		sg_sockaddr_str((struct sockaddr *) &ss, c->peer, sizeof(c->peer));
	else
		snprintf(c->peer, sizeof(c->peer), "unknown");
	if (s->nconns > METRICS_CONN_MAX) {
		conn_answer(c, 503, false);
		return;
	}
	uv_timer_start(&c->timer, conn_on_timer, METRICS_REQUEST_MS, 0);
	if (uv_read_start((uv_stream_t *) &c->tcp, conn_on_alloc, conn_on_read) < 0)
		conn_close(c);
}

int	metrics_server_start(uv_loop_t *loop, const char *addr, metrics_collect_fn *collect,
			     void *arg, struct metrics_server **out, struct sg_buf *errors)
{
	struct sockaddr_storage ss;
	struct metrics_server *s;
	int	rc;

	*out = NULL;
	if (sg_sockaddr_parse(addr, strlen(addr), &ss) < 0) {
		sg_buf_printf(errors, "metrics.listen: \"%s\" is not a numeric ip:port\n", addr);
		return (SG_EINVAL);
	}
	s = sg_xcalloc(1, sizeof(*s));
	s->loop = loop;
	s->collect = collect;
	s->arg = arg;
	uv_tcp_init(loop, &s->listener);
	s->listener.data = s;
	s->listening = true;
	if ((rc = uv_tcp_bind(&s->listener, (struct sockaddr *) &ss, 0)) < 0
	    || (rc = uv_listen((uv_stream_t *) &s->listener, 64, server_on_connection)) < 0) {
		sg_buf_printf(errors, "metrics.listen: %s: %s\n", addr, uv_strerror(rc));
		s->stopping = true;
		metrics_server_stop(s, NULL, NULL);
		return (SG_EIO);
	}
	*out = s;
	return (0);
}

static void server_on_listener_closed(uv_handle_t *h)
{
	struct metrics_server *s = h->data;

	s->listening = false;
	server_maybe_done(s);
}

void	metrics_server_stop(struct metrics_server *s, void (*done) (void *), void *arg)
{
	s->stopping = true;
	s->done = done;
	s->done_arg = arg;
	for (struct conn *c = s->conns; c; c = c->next)
		conn_close(c);
	uv_close((uv_handle_t *) &s->listener, server_on_listener_closed);
}
