/*
 * NAME
 *	role_smtpd 3
 * SUMMARY
 *	the smtpd role as the role runtime sees it
 * SYNOPSIS
 *	#include "cmd/sealgate.h"
 *
 *	extern const struct role_ops role_smtpd_ops;
 * DESCRIPTION
 *	Binds the smtpd component to the role runtime (role.c) and to the
 *	queue. start() opens the queue and starts its group committer, opens
 *	the certificate database read-only when a listener uses TLS, then
 *	binds every listener (smtpd_start: from then on connections are
 *	taken, so the committer must exist already); the runtime then drops root
 *	for the configured user and group. It tells the master each
 *	listener it bound, or, when it cannot start, why each is not bound
 *	(status_report_listener()). Each complete message becomes
 *	one queue_req;
 *	the committer calls back on its own thread after the fsync'd commit
 *	and smtpd bounces the result to the connection's loop. A permanently
 *	refused recipient or message becomes a tracking note the committer
 *	stores with its next commit (track_reject), and is counted by reason
 *	in that same commit (queue_committer_count: relay, recipient,
 *	policy, size, syntax, content, other), even when the note is not kept.
 *
 *	The rules list (strict single rule) lives in a configuration copy
 *	this role loads for itself, so it stays valid for as long as a
 *	session uses it, across reloads; keys only a restart applies keep
 *	their running values in it too.
 *
 *	reload() swaps in the new policy and limits for new sessions and
 *	raises the descriptor limit for a larger max_connections. Listeners
 *	and the number of loops are bound to threads and sockets made as
 *	root: when either changed, reload() asks for a new process, which
 *	the master starts at once.
 * SECURITY
 *	smtpd never asks for private keys other than the TLS server key
 *	(certs opened read-only, and on tls_db_dir when one is configured, so
 *	the S/MIME keys can live in a database smtpd never opens), logs in
 *	only to reach that key, runs unprivileged once its ports
 *	are bound, and dumps no core (the key is in its memory).
 *	check() is what start() would refuse, tried without starting: the
 *	TLS server certificate and a bind of every listener. The master runs
 *	it before its first start, so that a daemon that cannot serve says
 *	so and exits instead of detaching.
 * DIAGNOSTICS
 *	A failure to start is logged and start() returns NULL (the runtime
 *	then exits and the master restarts the role with backoff).
 */

#include <stdatomic.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <string.h>
#include <unistd.h>

#include "sealgate.h"

struct role_smtpd {
	struct smtpd *smtpd;
	struct queue *queue;
	struct queue_committer *committer;
	struct certs *certs;
	struct certs_tls_server *tls;
	int64_t	loops;			/* as started */
	atomic_bool notes_full;		/* refusals are not tracked for now: said once */
};

/* One message on its way to the queue. */
struct spool_req {
	struct queue_req req;
	struct queue_env env;
	smtpd_done_fn *done;
	void   *arg;
};

/* spool_done - on the committer's thread, after the commit */

static void spool_done(struct queue_req *req, int err)
{
	struct spool_req *r = req->arg;
	char	id[QUEUE_ID_BUFSZ];

	if (err == 0)
		queue_id_format(req->id, id);
	else
		id[0] = 0;
	r->done(r->arg, err, id);
	queue_env_free(&r->env);
	free(r);
}

static int spool_submit(void *ctx, const struct smtpd_envelope *e, const void *data,
			int fd, uint64_t len, smtpd_done_fn *done, void *arg)
{
	struct role_smtpd *rs = ctx;
	struct spool_req *r = sg_xcalloc(1, sizeof(*r));

	queue_env_init(&r->env);
	/* Mail no rule acts on skips the worker: one commit and one hop fewer. */
	r->env.state = e->pass_rule ? QUEUE_READY : QUEUE_INCOMING;
	r->env.rule = e->pass_rule;
	r->env.direction = e->outbound ? QUEUE_DIR_OUTBOUND : QUEUE_DIR_INBOUND;
	if (e->long_lines)
		r->env.flags |= QUEUE_F_LONGLINES;
	r->env.ret = e->ret == 1 ? QUEUE_RET_FULL : e->ret == 2 ? QUEUE_RET_HDRS : QUEUE_RET_NONE;
	r->env.listener = e->listener;
	r->env.client_addr = e->client;
	r->env.helo = e->helo;
	r->env.tls_version = e->tls_version;
	r->env.tls_cipher = e->tls_cipher;
	r->env.sender = e->sender;
	r->env.envid = e->envid;
	r->env.subject = e->subject ? e->subject : "";
	for (size_t i = 0; i < e->nrcpts; i++) {
		struct queue_rcpt *q = queue_env_rcpt_add(&r->env, e->rcpts[i]);

		if (q == NULL) {
			queue_env_free(&r->env);
			free(r);
			return (SG_ELIMIT);
		}
		q->orcpt = e->orcpts[i];
		q->notify = e->notify[i];
	}
	r->req.env = &r->env;
	r->req.body = (struct queue_body_src) {.data = data,.fd = fd,.offset = 0,.len = len};
	r->req.done = spool_done;
	r->req.arg = r;
	r->done = done;
	r->arg = arg;
	queue_submit(rs->committer, &r->req);
	return (0);
}

/* dsn_of - the enhanced status code of a reply line ("550 5.1.1 ..."), or "" */

static void dsn_of(const char *reply, char *out, size_t len)
{
	size_t	n = reply[0] && reply[1] && reply[2] && reply[3] == ' '
		? strspn(reply + 4, "0123456789.") : 0;

	snprintf(out, len, "%.*s", n >= 5 && reply[5] == '.' ? (int) n : 0, reply + 4);
}

/*
 * reject_reason - the statistics' reason for a refusal, from its reply
 * (enhanced status code and text) and the command it answered
 */
static enum queue_counter reject_reason(const char *command, const char *reply,
					const char *dsn)
{
	bool	data = strcmp(command, "DATA") == 0 || strcmp(command, "end-of-data") == 0;

	if (strcmp(dsn, "5.7.1") == 0 && strstr(reply, "Relay access denied"))
		return (QUEUE_C_REJECT_RELAY);
	if (strncmp(dsn, "5.7.", 4) == 0)
		return (QUEUE_C_REJECT_POLICY);
	if (strcmp(dsn, "5.3.4") == 0 || strcmp(dsn, "5.2.3") == 0)
		return (QUEUE_C_REJECT_SIZE);
	if (strcmp(dsn, "5.1.1") == 0 || strcmp(dsn, "5.1.2") == 0 || strcmp(dsn, "5.1.6") == 0)
		return (QUEUE_C_REJECT_RECIPIENT);
	if (data && (strncmp(dsn, "5.5.", 4) == 0 || strncmp(dsn, "5.4.", 4) == 0
		     || strncmp(dsn, "5.6.", 4) == 0))
		return (QUEUE_C_REJECT_CONTENT);
	if (strncmp(dsn, "5.1.", 4) == 0 || strncmp(dsn, "5.5.", 4) == 0
	    || strncmp(dsn, "5.6.", 4) == 0)
		return (QUEUE_C_REJECT_SYNTAX);
	return (QUEUE_C_REJECT_OTHER);
}

/*
 * track_reject - on a loop thread: a refused recipient or message becomes
 * a tracking record (status "rejected") through the committer, which
 * copies it and stores it with its next commit. A flood of refusals fills
 * its notes; then they are only logged, and that is said once.
 */
static void track_reject(void *ctx, const struct smtpd_rejection *r)
{
	struct role_smtpd *rs = ctx;
	struct queue_env e;
	char	dsn[16], reason[64];
	int	err = 0;

	dsn_of(r->reply, dsn, sizeof(dsn));
	queue_committer_count(rs->committer, reject_reason(r->command, r->reply, dsn), 1);
	snprintf(reason, sizeof(reason), "refused at SMTP (%s)", r->command);
	queue_env_init(&e);
	e.state = QUEUE_DONE;
	e.flags = QUEUE_F_REJECTED;
	e.arrival_ms = sg_now_ms();
	e.direction = r->outbound ? QUEUE_DIR_OUTBOUND : QUEUE_DIR_INBOUND;
	e.listener = r->listener;
	e.client_addr = r->client;
	e.helo = r->helo;
	e.tls_version = r->tls_version;
	e.tls_cipher = r->tls_cipher;
	e.sender = r->sender;
	e.reason = reason;
	for (size_t i = 0; i < r->nrcpts && err == 0; i++) {
		struct queue_rcpt *q = queue_env_rcpt_add(&e, r->rcpts[i]);

		if (q == NULL)
			break;
		q->state = QUEUE_RCPT_BOUNCED;
		q->reply = r->reply;
		q->dsn_status = dsn;
		q->last_attempt_ms = e.arrival_ms;
	}
	err = queue_track_note(rs->committer, &e);
	queue_env_free(&e);
	if (err == SG_ELIMIT && !atomic_exchange(&rs->notes_full, true))
		sg_warn("session=%s event=reject_tracking_full pending=%d action=log-only",
			r->session, QUEUE_NOTES_MAX);
	else if (err == 0)
		atomic_store(&rs->notes_full, false);
}

/* role_free - the TLS server, the certificate database and the state */

static void role_free(struct role_smtpd *rs)
{
	if (rs->tls)
		certs_tls_server_free(rs->tls);
	if (rs->certs)
		certs_close(rs->certs);
	free(rs);
}

static void keep_free(void *conf)
{
	sealgate_conf_free(conf);
}

/* params - smtpd's view of a configuration, with a copy of its own */

static int params(struct role_smtpd *rs, const struct sealgate_conf *conf,
		  struct smtpd_params *p)
{
	struct sg_buf errors = SG_BUF_INIT;
	struct sealgate_conf *mine = sealgate_conf_load(conf->file, &errors);

	if (mine == NULL) {
		sealgate_log_errors(&errors);
		sg_buf_free(&errors);
		return (SG_EINVAL);
	}
	sg_buf_free(&errors);
	sealgate_conf_keep_running(mine, conf);
	*p = (struct smtpd_params) {
		.conf = &mine->smtpd,.main = &mine->main,.rules = &mine->worker.rules,
		.scan_header = *mine->worker.scan.clamd ? mine->worker.scan.header : NULL,
		.keep = mine,.keep_free = keep_free,
		.submit = spool_submit,.submit_ctx = rs,.tls = rs->tls,.reject = track_reject,
	};
	return (0);
}

/* tls_open - the server certificate, when some listener needs TLS */

static int tls_open(struct role_smtpd *rs, const struct sealgate_conf *conf)
{
	const struct smtpd_listener_conf *l = conf->smtpd.listeners.v;
	bool	need = false;
	int	err;

	for (size_t i = 0; i < conf->smtpd.listeners.n; i++)
		need |= l[i].security != SMTPD_SEC_NONE;
	if (!need)
		return (0);
	if (*conf->certs.tls_cert == 0) {
		sg_error("event=tls_needs_certificate reason=\"a listener uses TLS but "
			 "certs.tls_cert names no server certificate\"");
		return (SG_EINVAL);
	}
	if ((err = certs_open(&conf->main, &conf->certs, CERTS_RDONLY | CERTS_KEYS | CERTS_TLS,
			      &rs->certs)) < 0) {
		sg_error("event=certs_open_failed error=\"%s\"", sg_strerror(err));
		return (err);
	}
	if ((err = certs_tls_server_new(rs->certs, &rs->tls)) < 0) {
		sg_error("event=tls_server_failed cert=\"%s\" error=\"%s\"",
			 conf->certs.tls_cert, sg_strerror(err));
		return (err);
	}
	return (0);
}

/* raise_fd_limit - room for max_connections sockets plus our own files */

static void raise_fd_limit(const struct smtpd_conf *c)
{
	struct rlimit rl;
	rlim_t	want = (rlim_t) c->max_connections + 256;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < want)
		sg_warn("event=fd_limit_low limit=%llu max_connections=%lld",
			(unsigned long long) rl.rlim_cur, (long long) c->max_connections);
}

/*
 * report_listeners - tell the master about every listener: bound (why
 * NULL), or not, with smtpd's line about it ("listener NAME: ADDRESS:
 * reason") when there is one, else why smtpd did not start at all.
 */
static void report_listeners(const struct sealgate_conf *conf, const struct sg_buf *errors,
			     const char *why)
{
	const struct smtpd_listener_conf *l = conf->smtpd.listeners.v;
	char	head[160], reason[256];

	for (size_t i = 0; i < conf->smtpd.listeners.n; i++) {
		const char *p = errors->data, *nl, *own = NULL;
		size_t	hl = (size_t) snprintf(head, sizeof(head), "listener %s: ", l[i].name);

		if (why == NULL) {
			status_report_listener(l[i].name, l[i].address, NULL);
			continue;
		}
		for (; p && (nl = strchr(p, '\n')) != NULL && own == NULL; p = nl + 1)
			if (hl < sizeof(head) && strncmp(p, head, hl) == 0)
				own = p + hl;
		if (own) {
			nl = strchr(own, '\n');
			if (strncmp(own, l[i].address, strlen(l[i].address)) == 0
			    && strncmp(own + strlen(l[i].address), ": ", 2) == 0)
				own += strlen(l[i].address) + 2;
			snprintf(reason, sizeof(reason), "%.*s", (int) (nl - own), own);
		} else {
			snprintf(reason, sizeof(reason), "smtpd did not start: %s", why);
		}
		status_report_listener(l[i].name, l[i].address, reason);
	}
}

/* first_line - the first line of errors, or text */

static const char *first_line(const struct sg_buf *errors, const char *text, char *buf,
			      size_t len)
{
	const char *nl = errors->data ? strchr(errors->data, '\n') : NULL;

	if (nl == NULL)
		return (text);
	snprintf(buf, len, "%.*s", (int) (nl - errors->data), errors->data);
	return (buf);
}

static void *smtpd_role_start(uv_loop_t *loop, const struct sealgate_conf *conf)
{
	struct role_smtpd *rs = sg_xcalloc(1, sizeof(*rs));
	struct sg_buf errors = SG_BUF_INIT;
	struct smtpd_params p;
	char	line[256];
	int	err;

	raise_fd_limit(&conf->smtpd);
	rs->loops = conf->smtpd.loops;
	/*
	 * The queue first: once smtpd_start() returns, its loop threads take
	 * connections, and a message or a refusal note may reach the
	 * committer at once.
	 */
	if ((err = queue_open(&conf->main, &conf->queue, 0, &rs->queue)) < 0
	    || (err = queue_committer_start(rs->queue, &rs->committer)) < 0) {
		snprintf(line, sizeof(line), "the queue cannot be opened: %s", sg_strerror(err));
		report_listeners(conf, &errors, line);
		sg_error("event=queue_open_failed error=\"%s\"", sg_strerror(err));
		return (NULL);
	}
	if ((err = tls_open(rs, conf)) < 0) {
		snprintf(line, sizeof(line), "no usable TLS server certificate (certs.tls_cert "
			 "\"%s\"): %s", conf->certs.tls_cert, sg_strerror(err));
		report_listeners(conf, &errors, line);
		role_free(rs);
		return (NULL);
	}
	if (params(rs, conf, &p) < 0) {
		report_listeners(conf, &errors, "the configuration cannot be read again");
		role_free(rs);
		return (NULL);
	}
	if ((err = smtpd_start(loop, &p, &rs->smtpd, &errors)) < 0) {
		report_listeners(conf, &errors, first_line(&errors, sg_strerror(err), line,
							   sizeof(line)));
		sealgate_log_errors(&errors);
		sg_error("event=smtpd_start_failed error=\"%s\"", sg_strerror(err));
		sg_buf_free(&errors);
		return (NULL);
	}
	report_listeners(conf, &errors, NULL);
	sg_buf_free(&errors);
	return (rs);
}

static enum role_reload smtpd_role_reload(void *state, const struct sealgate_conf *conf)
{
	struct role_smtpd *rs = state;
	struct sg_buf errors = SG_BUF_INIT;
	struct smtpd_params p;
	int	rc;

	if (params(rs, conf, &p) < 0)
		return (ROLE_RELOADED);
	raise_fd_limit(&conf->smtpd);
	if ((rc = smtpd_reload(rs->smtpd, &p, &errors)) < 0) {
		sealgate_log_errors(&errors);
		sg_warn("event=smtpd_reload_failed action=keep_old_policy");
		keep_free(p.keep);
	}
	sg_buf_free(&errors);
	if (rc < 0 || (rc != SMTPD_RELOAD_REBIND && conf->smtpd.loops == rs->loops))
		return (ROLE_RELOADED);
	/* Bound as root before the drop: only a new process can bind them. */
	sg_info("event=%s action=restart",
		rc == SMTPD_RELOAD_REBIND ? "listeners_changed" : "loops_changed");
	return (ROLE_RESTART);
}

/* smtpd_role_stopped - every connection is gone: close the queue */

static void smtpd_role_stopped(void *arg)
{
	struct role_smtpd *rs = arg;

	queue_committer_stop(rs->committer);
	queue_close(rs->queue);
	role_free(rs);
}

static void smtpd_role_stop(void *state)
{
	struct role_smtpd *rs = state;

	smtpd_stop(rs->smtpd, smtpd_role_stopped, rs);
}

/* smtpd_role_check - the server certificate and every listener, then let go */

static int smtpd_role_check(const struct sealgate_conf *conf, struct sg_buf *errors)
{
	struct role_smtpd rs = {0};
	int	err = tls_open(&rs, conf);

	if (rs.tls)
		certs_tls_server_free(rs.tls);
	if (rs.certs)
		certs_close(rs.certs);
	if (err < 0)
		sg_buf_printf(errors, "the TLS server certificate \"%s\" is not usable: %s\n",
			      conf->certs.tls_cert, sg_strerror(err));
	if (smtpd_listeners_check(&conf->smtpd, errors) < 0)
		err = SG_EIO;
	return (err);
}

const struct role_ops role_smtpd_ops = {
	.name = "smtpd",
	.check = smtpd_role_check,
	.start = smtpd_role_start,
	.reload = smtpd_role_reload,
	.stop = smtpd_role_stop,
};
