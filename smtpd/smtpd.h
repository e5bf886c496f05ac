#ifndef SMTPD_H
#define SMTPD_H

/*
 * NAME
 *	smtpd 3h
 * SUMMARY
 *	the SMTP receiver role: accepts mail and spools it
 * SYNOPSIS
 *	#include "smtpd/smtpd.h"
 * DESCRIPTION
 *	The one public header of smtpd/. smtpd_start() binds every listener
 *	and serves SMTP on the caller's libuv loop (plus conf.loops - 1 loops
 *	on threads of its own); smtpd_reload() swaps in new policy and limits
 *	for new sessions; smtpd_stop() closes listeners, says 421 to idle
 *	clients, lets transactions waiting for the queue finish, and frees
 *	everything once the caller's loop has no smtpd handle left.
 */

#include <uv.h>

#include "common/sg.h"

enum smtpd_security {
	SMTPD_SEC_NONE,
	SMTPD_SEC_STARTTLS,
	SMTPD_SEC_STARTTLS_REQUIRED,
	SMTPD_SEC_SMTPS,
};

struct smtpd_listener_conf {
	char   *name;			/* for rules and logs; default: address */
	char   *address;		/* "host:port" */
	int	security;		/* enum smtpd_security */
};

/* The "smtpd = { ... };" section of the configuration. */
struct smtpd_conf {
	struct sg_conf_array listeners;	/* of struct smtpd_listener_conf */
	uint64_t max_message_size;
	int64_t	max_recipients;		/* per transaction */
	int64_t	max_connections;	/* in total */
	int64_t	max_connections_per_client;	/* per client address */
	int64_t	command_timeout;	/* ms for one whole command line */
	int64_t	data_timeout;		/* ms for DATA at most ... */
	int64_t	min_data_rate;		/* ... and bytes/s it must keep up */
	int64_t	error_soft_limit;	/* errors before replies are delayed */
	int64_t	error_hard_limit;	/* errors before 421 and close */
	int64_t	tarpit_delay;		/* ms each reply is held past the soft limit */
	int64_t	greeting_delay;		/* ms of silence asked before the 220 */
	uint64_t spill_threshold;	/* bodies larger go to a file */
	uint64_t min_free;		/* free space MAIL FROM needs (452 below) */
	int64_t	max_hops;		/* Received fields before 554 5.4.0 */
	uint64_t max_line_length;	/* text line with CRLF, most clients: 550 5.5.2 */
	uint64_t max_line_length_own_servers;	/* the same for own_servers */
	char   *recipient_allow_file;	/* "": everyone at own domains */
	char   *recipient_deny_file;	/* "": nobody denied */
	bool	strict_single_rule;
	int64_t	loops;			/* event loops (threads); 0: one per core */
};

extern const struct sg_conf_row smtpd_conf_rows[];

/*
 * Spooling: smtpd hands each complete message to a submit function and
 * sends 250 only when it reports a durable commit. The function may be
 * called from any of smtpd's loop threads; done() may be called from any
 * thread, exactly once, after the commit (err 0, qid the queue id) or
 * when it failed (SG_EFULL: 452 4.3.1; other: 451 4.3.0).
 */
struct smtpd_envelope {
	const char *sender;		/* "" for the null path */
	size_t	nrcpts;
	const char *const *rcpts;	/* local@domain each */
	const char *const *orcpts;	/* DSN ORCPT each, or NULL entries */
	const unsigned *notify;		/* DSN NOTIFY bits each (1 never, 2
					 * success, 4 failure, 8 delay; 0 unset) */
	const char *envid;		/* DSN ENVID or NULL */
	int	ret;			/* DSN RET: 0 unset, 1 FULL, 2 HDRS */
	bool	smtputf8;
	bool	body_8bit;
	bool	outbound;		/* from one of own_servers */
	bool	long_lines;		/* a text line over 998 octets (RFC 5322
					 * 2.1.1): never passes, the worker makes
					 * it legal */
	const char *listener;		/* listener name */
	const char *client;		/* client address text */
	const char *helo;
	const char *tls_version;	/* "" when plain */
	const char *tls_cipher;
	const char *session;		/* session id for logs */
	const char *subject;		/* Subject field, unfolded, cut; "": none */
	const char *pass_rule;		/* NULL: for the worker; else the rule
					 * under which it passes unchanged ("":
					 * none), straight to delivery */
};

typedef void smtpd_done_fn(void *arg, int err, const char *qid);
/*
 * The body is len bytes at data, or (data NULL) len bytes of fd from
 * offset 0. Envelope, body and fd stay valid until done() is called.
 * A negative return means done() will not be called.
 */
typedef int smtpd_submit_fn(void *ctx, const struct smtpd_envelope *,
			    const void *data, int fd, uint64_t len,
			    smtpd_done_fn *done, void *arg);

/*
 * Message tracking of refused mail: a refused RCPT (its recipient) or a
 * refused message (DATA or the final dot: every recipient) is handed to
 * reject() with the reply, on the loop thread that refused it; reject()
 * must copy what it keeps and never block. Everything else refused is
 * only logged (event=reject).
 */
struct smtpd_rejection {
	const char *session;		/* session id */
	const char *client;		/* client address text */
	const char *helo;
	const char *listener;
	const char *tls_version;	/* "" when plain */
	const char *tls_cipher;
	bool	outbound;		/* from one of own_servers */
	const char *sender;		/* "" for the null path */
	const char *const *rcpts;
	size_t	nrcpts;
	const char *command;		/* "RCPT", "DATA" or "end-of-data" */
	const char *reply;		/* the whole reply line */
};

typedef void smtpd_reject_fn(void *ctx, const struct smtpd_rejection *);

/* What smtpd_start() and smtpd_reload() need; copied, not kept. */
struct smtpd_params {
	const struct smtpd_conf *conf;
	const struct sg_conf_main *main;
	const struct sg_conf_array *rules;	/* of struct sg_rule, or NULL */
	const char *scan_header;	/* the scan result field; NULL or "": no clamd */
	void   *keep;			/* rules and scan_header stay valid until keep_free(keep) */
	void	(*keep_free) (void *);
	smtpd_submit_fn *submit;
	void   *submit_ctx;
	void   *tls;			/* struct certs_tls_server *, or NULL */
	smtpd_reject_fn *reject;	/* NULL: refusals are only logged; ctx: submit_ctx */
};

struct smtpd;

/*
 * smtpd_start() binds all listeners (so the caller may drop privileges
 * when it returns) and starts serving. Returns 0 and *out, or SG_EIO
 * (a listener cannot be bound; errors says which), SG_EINVAL (a TLS
 * listener without a certificate, an unreadable list file).
 */
int	smtpd_start(uv_loop_t *, const struct smtpd_params *, struct smtpd **out,
		    struct sg_buf *errors);
/*
 * smtpd_reload() swaps in the new policy and limits for new sessions. It
 * cannot rebind: when the listeners differ from those bound it returns
 * SMTPD_RELOAD_REBIND (the policy is still applied) and the caller starts
 * a new smtpd to bind them.
 */
#define SMTPD_RELOAD_REBIND	1
int	smtpd_reload(struct smtpd *, const struct smtpd_params *, struct sg_buf *errors);
/*
 * smtpd_listeners_check() tries to bind each listener of conf the way
 * smtpd_start() will, and closes the sockets again, so that a daemon can
 * refuse to start before it detaches. Exclusive (no SO_REUSEPORT): a
 * port that another gateway's smtpd holds is "in use". Returns 0, or
 * SG_EIO with one "listener NAME: ADDRESS: reason" line per failure.
 */
int	smtpd_listeners_check(const struct smtpd_conf *, struct sg_buf *errors);
/* smtpd_stop() begins the stop; done(arg) runs on the caller's loop when all is freed. */
void	smtpd_stop(struct smtpd *, void (*done) (void *), void *arg);

#endif
