#ifndef METRICS_H
#define METRICS_H

/*
 * NAME
 *	metrics 3h
 * SUMMARY
 *	the Prometheus endpoint: a small HTTP/1.1 server and the exposition
 * SYNOPSIS
 *	#include "metrics/metrics.h"
 * DESCRIPTION
 *	The one public header of metrics/. The metrics role (cmd/role_metrics.c)
 *	serves GET /metrics on metrics.listen with libuv, in a process that
 *	holds no keys (it never opens the certificate database) and reads the
 *	queue read-only; nothing here writes anything.
 *
 *	Errors: 0 or a negative enum sg_err; nothing here prints or exits
 *	(the server logs what it refuses at debug).
 */

#include <uv.h>

#include "common/sg.h"
#include "queue/queue.h"

/* The "metrics = { ... };" section of the configuration. */
struct metrics_conf {
	char   *listen;			/* "127.0.0.1:9465"; "": no endpoint */
};

extern const struct sg_conf_row metrics_conf_rows[];

/* ---------------------------------------------------- request parser */

/*
 * metrics_http_parse() reads the head of one HTTP request from the first
 * len bytes at p (untrusted: any bytes). It returns 0 while the head is
 * incomplete and shorter than METRICS_HTTP_HEAD_MAX, else 1 with req
 * filled in: status is what to answer (200 GET or HEAD of /metrics; 400
 * malformed, 404 another path, 405 another method, 431 a head of
 * METRICS_HTTP_HEAD_MAX bytes or more, or a line longer than
 * METRICS_HTTP_LINE_MAX, 505 a version other than HTTP/1.0 and 1.1) and
 * head_len the bytes of the head (0 when status is an error found before
 * its end). Origin-form targets only; a query string is ignored; an
 * HTTP/1.1 request must have exactly one Host header.
 */
#define METRICS_HTTP_HEAD_MAX	8192
#define METRICS_HTTP_LINE_MAX	4096
#define METRICS_HTTP_HEADERS_MAX 64

struct metrics_http_req {
	int	status;
	bool	head;			/* HEAD: no body in the answer */
	size_t	head_len;
};

int	metrics_http_parse(const char *p, size_t len, struct metrics_http_req *req);
const char *metrics_http_reason(int status);	/* "OK", "Not Found", ... */

/* ------------------------------------------------------- exposition */

/*
 * What the exposition shows beside the queue: the gateway's start and
 * whether each role is up (from the master's status file).
 */
struct metrics_role {
	const char *name;
	bool	up;
};

struct metrics_info {
	int64_t	start_ms;		/* the master's start, 0: unknown */
	const struct metrics_role *roles;
	size_t	nroles;
};

/*
 * metrics_collect() appends the Prometheus text exposition format
 * (version 0.0.4) of the queue's counters, histograms and depth per
 * state and of info to out, in short read transactions. SG_* on a queue
 * error (out then holds a partial text: answer 500).
 */
int	metrics_collect(struct queue *, const struct metrics_info *, struct sg_buf *out);

/* metrics_expo_* write one family's HELP and TYPE, and one sample. */
void	metrics_expo_family(struct sg_buf *, const char *name, const char *type,
			    const char *help);
void	metrics_expo_u64(struct sg_buf *, const char *name, const char *labels, uint64_t v);
void	metrics_expo_double(struct sg_buf *, const char *name, const char *labels, double v);

/* ----------------------------------------------------------- server */

/*
 * metrics_server_start() binds addr (numeric "ip:port") on loop and
 * answers each connection's one request, then closes it: GET /metrics
 * with what collect() appends (200 text/plain; version=0.0.4, or 500 when
 * it fails), every other request with its error status. Limits: at most
 * METRICS_CONN_MAX connections at once (more get 503 and a close), the
 * request head within METRICS_HTTP_HEAD_MAX bytes (431), the whole
 * request within METRICS_REQUEST_MS of the connect (408), the answer
 * written within the same again; after an answer the server shuts its
 * side and reads what the client still sends for up to METRICS_LINGER_MS
 * (so a client that is still sending sees the answer, not a reset).
 * SG_EIO when addr cannot be bound (errors gets why). metrics_server_stop()
 * closes the listener and every connection; done(arg) runs when all are
 * closed.
 */
#define METRICS_CONN_MAX	32
#define METRICS_REQUEST_MS	5000
#define METRICS_LINGER_MS	1000

typedef int metrics_collect_fn(void *arg, struct sg_buf *out);

struct metrics_server;

int	metrics_server_start(uv_loop_t *, const char *addr, metrics_collect_fn *, void *arg,
			     struct metrics_server **out, struct sg_buf *errors);
void	metrics_server_stop(struct metrics_server *, void (*done) (void *), void *arg);

#endif
