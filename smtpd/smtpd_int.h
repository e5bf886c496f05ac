#ifndef SMTPD_INT_H
#define SMTPD_INT_H

/*
 * NAME
 *	smtpd_int 3h
 * SUMMARY
 *	smtpd internals: the session state machine, policy, message bodies
 * SYNOPSIS
 *	#include "smtpd/smtpd_int.h"	(smtpd/ only)
 * DESCRIPTION
 *	The session (smtpd_session.c) is a pure module: bytes in, replies and
 *	actions out, no sockets, no timers, no threads. The server
 *	(smtpd_server.c) is a thin libuv driver around it, so that unit
 *	tests and the fuzz target run dialogues without a network.
 *
 *	Ownership: a policy (struct smtpd_policy) is immutable once built
 *	and reference-counted; each session holds one reference, so a reload
 *	never changes the rules under a running transaction.
 */

#include <stdatomic.h>

#include "smtpd.h"

#define SMTPD_CMD_MAX		512	/* command line, CRLF included (RFC 5321) */
#define SMTPD_TEXT_MAX		1000	/* text line, CRLF included (RFC 5321);
					 * longer ones are flagged for the worker */
#define SMTPD_HELO_MAX		255
#define SMTPD_ENVID_MAX		100	/* RFC 3461 */
#define SMTPD_ORCPT_MAX		500

/* The decisions a session needs, fixed for its lifetime. */
struct smtpd_policy {
	atomic_int refs;
	struct sg_arena *arena;		/* owns every pointer below */
	char   *hostname;
	char   *state_dir;		/* spill files go here */
	struct smtpd_conf conf;		/* limits; listeners not used here */
	struct sg_strlist own_domains;
	struct sg_cidrlist own_servers;
	struct sg_strlist allow;	/* sorted; "" entries never */
	struct sg_strlist deny;		/* sorted */
	bool	has_allow;
	const struct sg_conf_array *rules;	/* strict single rule; may be NULL */
	const char *scan_header;	/* NULL: no scanning (see smtpd_conn.c) */
	void   *keep;			/* what keeps rules and scan_header alive */
	void	(*keep_free) (void *);
	bool	tls_ready;		/* a server certificate is loaded */
};

/* smtpd_policy.c */
int	smtpd_policy_new(const struct smtpd_params *, struct smtpd_policy **out,
			 struct sg_buf *errors);
struct smtpd_policy *smtpd_policy_ref(struct smtpd_policy *);
void	smtpd_policy_unref(struct smtpd_policy *);
bool	smtpd_policy_outbound(const struct smtpd_policy *, const struct sockaddr *);
uint64_t smtpd_policy_line_max(const struct smtpd_policy *, bool outbound);
bool	smtpd_policy_room(const struct smtpd_policy *, uint64_t declared_size);

/* What a recipient check decided. */
enum smtpd_rcpt_verdict {
	SMTPD_RCPT_OK,
	SMTPD_RCPT_RELAY,		/* 554 5.7.1 relay denied */
	SMTPD_RCPT_DENIED,		/* 550 5.7.1 on the deny list */
	SMTPD_RCPT_UNKNOWN,		/* 550 5.1.1 not on the allow list */
};

enum smtpd_rcpt_verdict smtpd_policy_rcpt(const struct smtpd_policy *, bool outbound,
					  const struct sg_addr *);

/* smtpd_body.c: a message body in memory, spilling to a file when large. */
struct smtpd_body {
	struct sg_buf mem;
	int	fd;			/* -1 until spilled */
	uint64_t size;			/* bytes in mem + file */
	uint64_t spill_at;		/* spill when mem would pass this */
	const char *dir;		/* state directory for the spill file */
	int	err;			/* first write error, sticky */
};

void	smtpd_body_init(struct smtpd_body *, const char *dir, uint64_t spill_at);
void	smtpd_body_append(struct smtpd_body *, const void *, size_t);
int	smtpd_body_end(struct smtpd_body *);
/* The whole body in memory (a spilled one is mapped); unmap with _release. */
int	smtpd_body_map(struct smtpd_body *, const char **p, size_t *len);
void	smtpd_body_unmap(struct smtpd_body *, const char *p, size_t len);
void	smtpd_body_free(struct smtpd_body *);
size_t	smtpd_body_head(struct smtpd_body *, char *buf, size_t len, const char **p);

/* One accepted recipient with its DSN parameters (RFC 3461). */
#define SMTPD_NOTIFY_NEVER	(1u << 0)
#define SMTPD_NOTIFY_SUCCESS	(1u << 1)
#define SMTPD_NOTIFY_FAILURE	(1u << 2)
#define SMTPD_NOTIFY_DELAY	(1u << 3)

struct smtpd_rcpt {
	char   *addr;			/* local@domain */
	char   *orcpt;			/* "type;xtext" as given, or NULL */
	unsigned notify;		/* SMTPD_NOTIFY_*; 0: not given */
};

enum smtpd_ret {
	SMTPD_RET_NONE,
	SMTPD_RET_FULL,
	SMTPD_RET_HDRS,
};

/* The transaction between MAIL and the end of DATA. */
struct smtpd_tx {
	struct sg_arena *arena;		/* addresses and parameters */
	char   *sender;			/* "" for the null path */
	uint64_t declared_size;		/* SIZE=, 0: not given */
	bool	smtputf8;
	bool	body_8bit;
	int	ret;			/* enum smtpd_ret */
	char   *envid;			/* or NULL */
	struct smtpd_rcpt *rcpts;
	size_t	nrcpts, rcpt_cap;
	int	rule;			/* strict single rule: first recipient's */
	bool	outbound;
	struct smtpd_body body;
	/* DATA parser */
	int	dstate;
	uint64_t line_len;		/* the current line so far, as sent */
	uint64_t line_max;		/* this client's limit, CRLF included */
	uint64_t longest;		/* longest line, CRLF included */
	bool	bad_eol;		/* bare CR or LF seen */
	bool	too_long;		/* a text line over line_max */
	bool	too_big;		/* over max_message_size */
	uint64_t discarded;		/* bytes read on after too_big */
	unsigned hops;			/* Received header fields seen */
	char	lhead[9];		/* first bytes of a header line */
	size_t	lhead_len;
	bool	in_header;
};

/* The session states; only session_enter() changes them. */
enum smtpd_state {
	SMTPD_S_CONNECTED,		/* greeting not yet sent */
	SMTPD_S_GREETED,		/* waiting for EHLO/HELO */
	SMTPD_S_READY,			/* after EHLO/HELO, no transaction */
	SMTPD_S_MAIL,			/* after MAIL */
	SMTPD_S_RCPT,			/* after at least one RCPT */
	SMTPD_S_DATA,			/* reading message text */
	SMTPD_S_COMMIT,			/* waiting for the queue */
	SMTPD_S_TLS,			/* waiting for the TLS handshake */
	SMTPD_S_CLOSED,			/* said goodbye; nothing more is read */
};

/* Actions the driver must take after smtpd_session_feed() returns. */
#define SMTPD_ACT_CLOSE		(1u << 0)	/* flush replies, then close */
#define SMTPD_ACT_MESSAGE	(1u << 1)	/* submit s->tx, then _committed() */
#define SMTPD_ACT_STARTTLS	(1u << 2)	/* flush, drop input, handshake */
#define SMTPD_ACT_DELAY		(1u << 3)	/* hold replies for s->delay_ms */

struct smtpd_session {
	enum smtpd_state state;
	struct smtpd_policy *pol;
	char	id[17];			/* session id, 16 hex digits */
	struct sockaddr_storage peer;
	char	peer_str[48];
	char	listener[64];
	int	security;		/* enum smtpd_security of the listener */
	bool	outbound;		/* the client is one of own_servers */
	bool	tls;
	char	tls_version[16];
	char	tls_cipher[80];
	bool	esmtp;
	char	helo[SMTPD_HELO_MAX + 1];
	/* command line assembly */
	char	line[SMTPD_CMD_MAX];
	size_t	line_len;
	bool	line_overflow;
	bool	line_cr;		/* the previous byte was CR */
	bool	line_bad;		/* a bare CR inside the line */
	unsigned errors;
	unsigned messages;
	const char *cmd;		/* the command being handled, for logs */
	const char *cmd_rcpt;		/* RCPT: its address once parsed, for logs */
	struct smtpd_tx *tx;
	struct sg_buf out;		/* replies not yet written */
	unsigned actions;		/* SMTPD_ACT_* */
	int64_t	delay_ms;
	int64_t	now_ms;			/* wall clock for Received, set by driver */
	/* the driver's hook for each refused command (after its log line); NULL: none */
	void	(*on_reject) (const struct smtpd_session *, const char *reply);
	void   *owner;			/* the driver's, for on_reject */
};

/* smtpd_session.c */
void	smtpd_session_init(struct smtpd_session *, struct smtpd_policy *,
			   const struct sockaddr *peer, const char *listener,
			   int security, uint64_t id);
void	smtpd_session_greet(struct smtpd_session *);
size_t	smtpd_session_feed(struct smtpd_session *, const char *p, size_t len);
void	smtpd_session_committed(struct smtpd_session *, int err, const char *qid);
void	smtpd_session_tls_on(struct smtpd_session *, const char *version,
			     const char *cipher);
void	smtpd_session_timeout(struct smtpd_session *);
void	smtpd_session_shutdown(struct smtpd_session *);
void	smtpd_session_free(struct smtpd_session *);
const char *smtpd_state_name(enum smtpd_state);

/* smtpd_reply.c */
void	smtpd_reply(struct smtpd_session *, const char *fmt, ...) SG_PRINTF(2, 3);
bool	smtpd_reply_is_error(const char *line);

/* smtpd_cmd.c: command-line parsing, shared by session and tests */
struct smtpd_mail_params {
	uint64_t size;
	bool	size_given;
	int	body;			/* 0 none, 7 (7BIT), 8 (8BITMIME) */
	bool	smtputf8;
	int	ret;			/* enum smtpd_ret */
	const char *envid;		/* points into the line */
	size_t	envid_len;
};

struct smtpd_rcpt_params {
	unsigned notify;
	const char *orcpt;
	size_t	orcpt_len;
};

/* Returns 0, or a reply ("501 5.5.4 ...") for the first bad parameter. */
const char *smtpd_mail_params(const char *p, size_t len, uint64_t max_size,
			      struct smtpd_mail_params *);
const char *smtpd_rcpt_params(const char *p, size_t len, struct smtpd_rcpt_params *);
bool	smtpd_xtext_valid(const char *p, size_t len);

/*
 * The libuv driver: struct smtpd (smtpd_server.c) owns the loops; each
 * struct smtpd_loop owns its listeners and connections (smtpd_conn.c).
 */
#include <pthread.h>

#define SMTPD_RBUF	(64 * 1024)	/* one read, shared per loop */
#define SMTPD_WQ_MAX	(256 * 1024)	/* unsent replies before we stop reading */
#define SMTPD_CLIENT_BUCKETS 1024

struct smtpd_conn;
struct certs_tls_server;

struct smtpd_client {
	struct smtpd_client *next;
	int	family;
	uint8_t	addr[16];
	unsigned n;
};

struct smtpd_loop {
	struct smtpd *d;
	uv_loop_t *loop;
	uv_loop_t own;			/* for loops on threads of ours */
	uv_thread_t thread;
	bool	threaded;
	uv_tcp_t *listeners;
	size_t	nlisteners;
	size_t	listeners_open;		/* while stopping: closes not yet finished */
	uv_async_t async;		/* commits done, stop */
	pthread_mutex_t lock;		/* done list, stop flag */
	struct smtpd_conn *done_head;
	bool	stop_asked;
	bool	stopping;
	uint64_t accept_warned;		/* loop time of the last accept warning */
	struct smtpd_conn *conns;	/* all live connections */
	size_t	nconns;
	char	rbuf[SMTPD_RBUF];
	char	pbuf[SMTPD_RBUF];	/* TLS plaintext */
};

struct smtpd {
	uv_loop_t *main;
	pthread_mutex_t lock;		/* pol, clients, nconns */
	struct smtpd_policy *pol;
	struct smtpd_client *clients[SMTPD_CLIENT_BUCKETS];
	size_t	nconns;
	struct smtpd_listener_conf *listeners;
	size_t	nlisteners;
	struct sg_arena *arena;		/* listener names */
	smtpd_submit_fn *submit;
	void   *submit_ctx;
	smtpd_reject_fn *reject;
	struct certs_tls_server *tls;
	struct smtpd_loop *loops;
	size_t	nloops;
	atomic_uint_fast64_t next_id;
	void	(*stop_done) (void *);
	void   *stop_arg;
	bool	stopping;
};

/* smtpd_server.c */
struct smtpd_policy *smtpd_server_policy(struct smtpd *);
bool	smtpd_server_admit(struct smtpd *, const struct sockaddr *);
void	smtpd_server_release(struct smtpd *, const struct sockaddr *);
void	smtpd_server_loop_idle(struct smtpd_loop *);

/* smtpd_conn.c */
void	smtpd_conn_accept(struct smtpd_loop *, uv_stream_t *server, size_t listener);
void	smtpd_conn_done_all(struct smtpd_loop *);
void	smtpd_conn_shutdown_all(struct smtpd_loop *);

#endif
