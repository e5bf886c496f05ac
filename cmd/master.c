/*
 * NAME
 *	master 3
 * SUMMARY
 *	the sealgated master: start, supervise and stop the role processes
 * SYNOPSIS
 *	#include "cmd/sealgate.h"
 *
 *	int	master_run(conf_file, foreground, flags)
 * DESCRIPTION
 *	master_run() checks the configuration, makes the state directory,
 *	creates the queue and the certificate database on first start,
 *	writes the pidfile and starts each role (smtpd, worker, delivery, and
 *	metrics when metrics.listen is set: a role's wanted()) by fork+exec
 *	of this very program with --role. Then it supervises:
 *
 *	A role that exits while the master is not stopping is logged and
 *	started again after a delay that doubles from 500 ms to 60 s, and
 *	falls back to 500 ms once a role has stayed up for a minute.
 *	A role that exits with ROLE_EXIT_RESTART asked for it (smtpd after
 *	a reload that changed its listeners) and is started again at once.
 *
 *	SIGTERM or SIGINT: every role gets SIGTERM; roles still alive after
 *	4 s get SIGKILL; the master removes its pidfile and returns 0 when
 *	the last role is gone.
 *
 *	SIGHUP: the configuration is read again. When it is valid the master
 *	logs every key that changed: "event=reload_changed key=K" for those
 *	a running gateway applies, "event=reload_partial key=K needs=restart"
 *	for those only a restart applies (SG_CONF_F_LIVE in the tables says
 *	which); it keeps the running value of the latter, so the next reload
 *	compares against what runs, and so does the pidfile it removes at
 *	the end. It takes its log level and syslog facility, passes SIGHUP
 *	to every role, which re-reads the file too, and ends with
 *	"event=reloaded ... status=complete" or "status=partial". A role
 *	just started, which does not watch SIGHUP yet, is not sent one: it
 *	has not read the file and will read the new one. When the file is
 *	not valid, the errors are logged and nothing changes.
 *
 *	Without foreground the master first detaches (fork, setsid, stdio on
 *	/dev/null) and everything logs to syslog. In the foreground it logs
 *	to stderr, or with MASTER_SYSLOG (sealgated -f --syslog, as the
 *	systemd unit runs it) to syslog, and so do its roles.
 *
 *	What it knows, it publishes. Each role gets a socket as descriptor 3
 *	(--report-fd 3) on which it says which listeners it bound or could
 *	not bind, and when it is ready (status.c); the master reads at most
 *	REPORT_MAX lines from each process, and the role closes it once
 *	ready. The master keeps, per role, its state (starting, running,
 *	restarting, stopping), pid, start and ready times, restarts, failed
 *	exits in a row (a role up for a minute starts a new count) and the
 *	last exit, and per listener whether it is bound or why not; it
 *	writes all of it to STATE_DIR/master.status (status_write(): a
 *	small file, renamed into place) whenever something changes, and
 *	removes it when it stops. That is the one file write in its loop.
 *
 *	Readiness. When every role has said it is ready for the first time
 *	the master logs "event=all_ready" and, started by systemd with
 *	Type=notify ($NOTIFY_SOCKET), sends READY=1 (one datagram; also
 *	RELOADING=1 and READY=1 around a reload and STOPPING=1 at a stop).
 *	NOTIFY_SOCKET is not passed on to the roles.
 *
 *	The pidfile is locked (an OFD write lock) for the master's life:
 *	a master runs exactly while its pidfile is locked, so a file left
 *	behind by a crash or a power cut, whose pid some other process may
 *	have by now, never keeps a new master from starting, and sealctl
 *	status reads the same lock (status_master_pid()).
 *	Before it detaches (or, in the foreground, starts anything), the
 *	master makes sure the first start can succeed: no other master runs,
 *	the state directory can be made, and every role's check() passes (a
 *	listener that cannot be bound, a TLS certificate that is missing).
 *	Until then its warnings and errors also go to stderr, so that
 *	whoever started it reads why it refused. Once it runs it warns of a
 *	start as root that keeps roles root or lets the worker share smtpd's
 *	user (role_log_users()).
 *
 *	The master itself stays root: a reload that changes the listeners
 *	needs a new smtpd started as root, and it signals roles that run as
 *	other users. It takes no input from the network.
 * DIAGNOSTICS
 *	An invalid configuration, an unusable state directory, another
 *	running master (per the pidfile) or a role that cannot start are
 *	fatal: exit status 1, the reason on stderr. A status file that
 *	cannot be written is logged once (status_write_failed) until a
 *	write succeeds again; a role whose report is not one of status.c's
 *	lines is logged (report_invalid) and not listened to any more.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sealgate.h"

#define RESTART_MIN_MS	500
#define RESTART_MAX_MS	60000
#define STABLE_MS	60000
#define STOP_GRACE_MS	4000
#define REPORT_FD	3		/* the report socket in a role */
#define REPORT_MAX	(STATUS_LISTENERS_MAX + 2)	/* lines heard per process */

struct master;

struct master_role {
	const struct role_ops *ops;
	struct master *m;
	struct status_role *st;		/* in m->st */
	uv_process_t proc;
	uv_pipe_t report;		/* the role's report socket */
	uv_timer_t restart;
	int	handles;		/* proc and report not closed yet */
	bool	running;
	bool	again;			/* it asked to be started again at once */
	bool	reported_listeners;	/* this process said which it bound */
	unsigned heard;			/* report lines from this process */
	size_t	rlen;
	char	rbuf[STATUS_LINE_MAX + 1];
	int64_t	started_ms;
	int64_t	backoff_ms;
};

struct master {
	uv_loop_t loop;
	uv_signal_t signals[3];
	uv_timer_t kill_timer;
	struct master_role roles[STATUS_ROLES];
	size_t	nroles;			/* those the configuration wants */
	struct sealgate_conf *conf;
	char   *file;			/* absolute; outlives each config */
	bool	foreground;
	bool	syslog;			/* roles log to syslog too */
	bool	stopping;
	bool	finished;		/* handles closed; the loop is ending */
	bool	status_failed;		/* the last write failed (logged once) */
	int	pid_fd;			/* the locked pidfile */
	int64_t	t0;			/* monotonic start */
	char	exe[PATH_MAX];
	char	pid[24];
	char	notify[108];		/* $NOTIFY_SOCKET, "": none */
	struct status st;		/* what master.status says */
};

static void master_start_role(struct master_role *);

static int master_running_roles(const struct master *m)
{
	int	n = 0;

	for (size_t i = 0; i < m->nroles; i++)
		n += m->roles[i].running;
	return (n);
}

/* master_notify - one datagram to systemd's notify socket, when there is one */

static void master_notify(const struct master *m, const char *text)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	size_t	n = strlen(m->notify);
	int	fd;

	if (n == 0 || n >= sizeof(sun.sun_path))
		return;
	memcpy(sun.sun_path, m->notify, n);
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = 0;	/* an abstract socket */
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return;
	(void) sendto(fd, text, strlen(text), MSG_DONTWAIT | MSG_NOSIGNAL,
		      (struct sockaddr *) &sun, (socklen_t) (offsetof(struct sockaddr_un, sun_path)
							    + n));
	close(fd);
}

/* master_publish - write master.status; a failure is logged once */

static void master_publish(struct master *m)
{
	m->st.written_ms = sg_now_ms();
	if (status_write(m->conf->main.state_dir, &m->st) == 0) {
		m->status_failed = false;
	} else if (!m->status_failed) {
		m->status_failed = true;
		sg_warn("event=status_write_failed path=\"%s/%s\" error=\"%s\"",
			m->conf->main.state_dir, STATUS_FILE, strerror(errno));
	}
}

/* master_listeners_down - smtpd is gone: nothing is bound */

static void master_listeners_down(struct master *m)
{
	for (size_t i = 0; i < m->st.nlisteners; i++) {
		struct status_listener *l = &m->st.listeners[i];

		if (l->bound || l->error[0] == 0)
			snprintf(l->error, sizeof(l->error), "smtpd is not running");
		l->bound = false;
	}
}

/* master_listeners_conf - what the configuration asks for, none bound yet */

static void master_listeners_conf(struct master *m)
{
	const struct smtpd_listener_conf *v = m->conf->smtpd.listeners.v;

	m->st.nlisteners = 0;
	for (size_t i = 0; i < m->conf->smtpd.listeners.n && i < STATUS_LISTENERS_MAX; i++) {
		struct status_listener *l = &m->st.listeners[m->st.nlisteners++];

		snprintf(l->name, sizeof(l->name), "%s", v[i].name);
		snprintf(l->address, sizeof(l->address), "%s", v[i].address);
		l->bound = false;
		snprintf(l->error, sizeof(l->error), "smtpd has not bound it yet");
	}
}

/* master_on_ready - a role is ready; once all are, the gateway is */

static void master_on_ready(struct master_role *r)
{
	struct master *m = r->m;

	if (!r->running || m->stopping)
		return;			/* read after it exited */
	r->st->state = STATUS_RUNNING;
	r->st->ready_ms = sg_now_ms();
	for (size_t i = 0; i < m->nroles; i++)
		if (m->roles[i].st->state != STATUS_RUNNING)
			return;
	if (m->st.ready_ms != 0)
		return;
	m->st.ready_ms = sg_now_ms();
	snprintf(m->st.state, sizeof(m->st.state), "running");
	sg_info("event=all_ready roles=%zu ms=%lld", m->nroles,
		(long long) (sg_mono_ms() - m->t0));
	/* whoever systemd lets go on now (sealctl status) reads "running" */
	master_publish(m);
	master_notify(m, "READY=1\nSTATUS=all roles ready");
}

/* master_on_listener - smtpd bound a listener, or could not */

static void master_on_listener(struct master_role *r, const struct status_listener *l)
{
	struct master *m = r->m;

	if (!r->reported_listeners) {
		r->reported_listeners = true;	/* this process's list replaces the last */
		m->st.nlisteners = 0;
	}
	if (m->st.nlisteners == STATUS_LISTENERS_MAX)
		return;
	m->st.listeners[m->st.nlisteners] = *l;
	if (!r->running && l->bound) {	/* read after it exited */
		m->st.listeners[m->st.nlisteners].bound = false;
		snprintf(m->st.listeners[m->st.nlisteners].error, sizeof(l->error),
			 "smtpd is not running");
	}
	m->st.nlisteners++;
}

/* master_hear - one line a role reported */

static bool master_hear(struct master_role *r, const char *line, size_t len)
{
	struct status_msg msg;
	char	text[128];

	if (++r->heard > REPORT_MAX || status_report_parse(line, len, &msg) < 0
	    || (msg.kind == STATUS_MSG_LISTENER && r->ops != &role_smtpd_ops)) {
		sg_warn("event=report_invalid role=%s pid=%d line=\"%s\"", r->ops->name,
			r->proc.pid, sg_printable(text, sizeof(text), line, len));
		return (false);
	}
	if (msg.kind == STATUS_MSG_READY)
		master_on_ready(r);
	else
		master_on_listener(r, &msg.listener);
	return (true);
}

static void master_on_handle_closed(uv_handle_t *);

static void master_on_report_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct master_role *r = h->data;

	(void) hint;
	buf->base = r->rbuf + r->rlen;
	buf->len = sizeof(r->rbuf) - r->rlen;
}

/* master_on_report - lines from a role; EOF, junk or too much ends them */

static void master_on_report(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct master_role *r = s->data;
	bool	ok = n >= 0 || n == UV_EAGAIN;
	char   *p = r->rbuf, *nl;

	(void) buf;
	if (n > 0)
		r->rlen += (size_t) n;
	while (ok && (nl = memchr(p, '\n', r->rlen - (size_t) (p - r->rbuf))) != NULL) {
		ok = master_hear(r, p, (size_t) (nl - p));
		p = nl + 1;
	}
	r->rlen -= (size_t) (p - r->rbuf);
	memmove(r->rbuf, p, r->rlen);
	if (ok && r->rlen == sizeof(r->rbuf))
		ok = master_hear(r, r->rbuf, r->rlen);	/* a line too long: refused */
	if (n > 0)
		master_publish(r->m);
	if (!ok && !uv_is_closing((uv_handle_t *) s))
		uv_close((uv_handle_t *) s, master_on_handle_closed);
}

/* master_finish - the last role is gone: let the loop end */

static void master_finish(struct master *m)
{
	if (m->finished)
		return;
	m->finished = true;
	for (size_t i = 0; i < SG_NELEM(m->signals); i++)
		uv_close((uv_handle_t *) &m->signals[i], NULL);
	for (size_t i = 0; i < m->nroles; i++)
		uv_close((uv_handle_t *) &m->roles[i].restart, NULL);
	uv_close((uv_handle_t *) &m->kill_timer, NULL);
}

/* master_role_gone - the process and its report socket are closed */

static void master_role_gone(struct master_role *);

static void master_on_handle_closed(uv_handle_t *h)
{
	struct master_role *r = h->data;

	if (--r->handles == 0)
		master_role_gone(r);
}

static void master_on_restart(uv_timer_t *t)
{
	master_start_role(t->data);
}

static void master_role_gone(struct master_role *r)
{
	struct master *m = r->m;

	if (m->stopping) {
		if (master_running_roles(m) == 0)
			master_finish(m);
		return;
	}
	if (r->again) {
		uv_timer_start(&r->restart, master_on_restart, 0, 0);
	} else {
		/* only a failure makes the next one wait longer */
		uv_timer_start(&r->restart, master_on_restart, (uint64_t) r->backoff_ms, 0);
		r->backoff_ms = r->backoff_ms * 2 < RESTART_MAX_MS ? r->backoff_ms * 2
			: RESTART_MAX_MS;
	}
	r->again = false;
}

/* master_exited - what master.status says of a role whose process ended */

static void master_exited(struct master_role *r, int64_t status, int signum, int64_t uptime)
{
	struct status_role *st = r->st;

	st->pid = 0;
	st->exit_ms = sg_now_ms();
	st->exit_status = (int) status;
	st->exit_signal = signum;
	st->exit_asked = r->again;
	if (!r->again)
		st->failures = uptime >= STABLE_MS ? 1 : st->failures + 1;
	st->state = r->m->stopping ? STATUS_STOPPING : STATUS_RESTARTING;
	st->restart_at_ms = r->m->stopping ? 0 : st->exit_ms + (r->again ? 0 : r->backoff_ms);
	if (r->ops == &role_smtpd_ops)
		master_listeners_down(r->m);
	master_publish(r->m);
}

static void master_on_role_exit(uv_process_t *proc, int64_t status, int signum)
{
	struct master_role *r = proc->data;
	struct master *m = r->m;
	int64_t	uptime = sg_mono_ms() - r->started_ms;

	r->running = false;
	if (m->stopping) {
		sg_info("event=role_stopped role=%s pid=%d status=%lld signal=%d",
			r->ops->name, proc->pid, (long long) status, signum);
	} else if (status == ROLE_EXIT_RESTART && signum == 0) {
		/* A reload it could not apply in place: not a failure, no backoff. */
		r->again = true;
		sg_info("event=role_restarting role=%s pid=%d reason=reload", r->ops->name,
			proc->pid);
	} else {
		if (uptime >= STABLE_MS)
			r->backoff_ms = RESTART_MIN_MS;
		sg_warn("event=role_exited role=%s pid=%d status=%lld signal=%d "
			"uptime_ms=%lld restart_in_ms=%lld", r->ops->name, proc->pid,
			(long long) status, signum, (long long) uptime,
			(long long) r->backoff_ms);
	}
	master_exited(r, status, signum, uptime);
	/* the report socket closes on its own once everything in it is read */
	uv_close((uv_handle_t *) proc, master_on_handle_closed);
}

/* master_started - what master.status says of a role just started */

static void master_started(struct master_role *r)
{
	struct status_role *st = r->st;

	if (st->started_ms != 0)
		st->restarts++;
	st->state = STATUS_STARTING;
	st->pid = r->proc.pid;
	st->started_ms = sg_now_ms();
	st->ready_ms = 0;
	st->restart_at_ms = 0;
	master_publish(r->m);
}

static void master_start_role(struct master_role *r)
{
	struct master *m = r->m;
	char	fd[8];
	char   *args[] = {
		m->exe, "--role", (char *) r->ops->name, "-c", m->conf->file,
		"--parent", m->pid, "--report-fd", fd,
		m->foreground ? "-f" : NULL, m->syslog ? "--syslog" : NULL, NULL,
	};
	uv_stdio_container_t stdio[REPORT_FD + 1] = {
		{.flags = UV_INHERIT_FD,.data.fd = 0},
		{.flags = UV_INHERIT_FD,.data.fd = 1},
		{.flags = UV_INHERIT_FD,.data.fd = 2},
		{.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE,.data.stream = (uv_stream_t *) &r->report},
	};
	uv_process_options_t opts = {
		.exit_cb = master_on_role_exit,
		.file = m->exe,
		.args = args,
		.stdio_count = REPORT_FD + 1,
		.stdio = stdio,
	};
	int	err;

	snprintf(fd, sizeof(fd), "%d", REPORT_FD);
	r->proc.data = r;
	r->report.data = r;
	r->handles = 2;
	r->rlen = 0;
	r->heard = 0;
	r->reported_listeners = false;
	uv_pipe_init(&m->loop, &r->report, 0);
	r->started_ms = sg_mono_ms();
	if ((err = uv_spawn(&m->loop, &r->proc, &opts)) != 0) {
		sg_error("event=role_spawn_failed role=%s error=\"%s\" restart_in_ms=%lld",
			 r->ops->name, uv_strerror(err), (long long) r->backoff_ms);
		r->st->state = STATUS_RESTARTING;
		r->st->restart_at_ms = sg_now_ms() + r->backoff_ms;
		master_publish(m);
		uv_close((uv_handle_t *) &r->proc, master_on_handle_closed);
		uv_close((uv_handle_t *) &r->report, master_on_handle_closed);
	} else {
		r->running = true;
		sg_info("event=role_started role=%s pid=%d", r->ops->name, r->proc.pid);
		uv_read_start((uv_stream_t *) &r->report, master_on_report_alloc, master_on_report);
		master_started(r);
	}
}

static void master_on_kill_timer(uv_timer_t *t)
{
	struct master *m = t->data;

	for (size_t i = 0; i < m->nroles; i++) {
		if (m->roles[i].running) {
			sg_warn("event=role_kill role=%s pid=%d", m->roles[i].ops->name,
				m->roles[i].proc.pid);
			uv_process_kill(&m->roles[i].proc, SIGKILL);
		}
	}
}

static void master_stop(struct master *m, int signum)
{
	if (m->stopping)
		return;
	m->stopping = true;
	sg_info("event=stopping signal=%d roles=%d", signum, master_running_roles(m));
	master_notify(m, "STOPPING=1");
	snprintf(m->st.state, sizeof(m->st.state), "stopping");
	for (size_t i = 0; i < m->nroles; i++) {
		uv_timer_stop(&m->roles[i].restart);
		m->roles[i].st->state = STATUS_STOPPING;
		if (m->roles[i].running)
			uv_process_kill(&m->roles[i].proc, SIGTERM);
	}
	master_publish(m);
	if (master_running_roles(m) == 0)
		master_finish(m);
	else
		uv_timer_start(&m->kill_timer, master_on_kill_timer, STOP_GRACE_MS, 0);
}

/*
 * master_role_hears_hup - may the role be sent SIGHUP? A role watches for
 * it before it first reads the configuration; one that does not yet (just
 * exec'd: the default action would kill it) has not read the file and
 * will read the new one.
 */

static bool master_role_hears_hup(pid_t pid)
{
	char	path[64], line[256];
	bool	hears = false;
	FILE   *fp;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long) pid);
	if ((fp = fopen(path, "r")) == NULL)
		return (true);		/* no /proc: as before */
	while (fgets(line, sizeof(line), fp)) {
		if (strncmp(line, "SigIgn:", 7) == 0 || strncmp(line, "SigCgt:", 7) == 0)
			hears |= (strtoull(line + 7, NULL, 16) >> (SIGHUP - 1)) & 1;
	}
	fclose(fp);
	return (hears);
}

static void master_reload(struct master *m)
{
	struct sg_buf errors = SG_BUF_INIT;
	struct sealgate_conf *conf;
	int	changed, restart;

	sg_debug("event=reload_begin file=\"%s\"", m->file);
	master_notify(m, "RELOADING=1");
	if ((conf = sealgate_conf_load(m->file, &errors)) == NULL) {
		sealgate_log_errors(&errors);
		sg_warn("event=reload_failed file=\"%s\" action=keep_old_config", m->file);
		sg_buf_free(&errors);
		master_notify(m, "READY=1\nSTATUS=reload failed: the old configuration stays");
		return;
	}
	restart = sealgate_conf_reloaded(m->conf, conf, true, &changed);
	sealgate_conf_free(m->conf);
	m->conf = conf;
	sealgate_log_apply(&conf->main);
	sg_info("event=reloaded log_level=%s changed=%d needs_restart=%d status=%s",
		sg_log_level_name((enum sg_log_level) conf->main.log_level), changed, restart,
		restart ? "partial" : "complete");
	for (size_t i = 0; i < m->nroles; i++)
		if (m->roles[i].running && master_role_hears_hup(m->roles[i].proc.pid))
			uv_process_kill(&m->roles[i].proc, SIGHUP);
	master_notify(m, restart ? "READY=1\nSTATUS=reloaded; some keys need a restart"
		      : "READY=1\nSTATUS=reloaded");
}

static void master_on_signal(uv_signal_t *sig, int signum)
{
	struct master *m = sig->data;

	if (signum == SIGHUP)
		master_reload(m);
	else
		master_stop(m, signum);
}

/* master_refuse_second - another live master holds the pidfile: fatal */

static void master_refuse_second(const char *path)
{
	long	other = status_master_pid(path);

	if (other > 0 || other == SG_EAGAIN)
		sg_fatal("event=already_running pid=%ld pidfile=\"%s\"", other > 0 ? other : 0,
			 path);
}

/* master_pidfile - refuse a second master; record ours and lock it for our life */

static int master_pidfile(const char *path)
{
	struct flock fl = {.l_type = F_WRLCK,.l_whence = SEEK_SET};
	char	text[24];
	int	fd, n;

	master_refuse_second(path);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
		sg_fatal("event=pidfile_failed path=\"%s\" error=\"%s\"", path, strerror(errno));
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
		if (errno == EAGAIN || errno == EACCES)
			master_refuse_second(path);	/* one started meanwhile */
		sg_fatal("event=pidfile_failed path=\"%s\" error=\"%s\"", path, strerror(errno));
	}
	n = snprintf(text, sizeof(text), "%ld\n", (long) getpid());
	if (ftruncate(fd, 0) < 0 || write(fd, text, (size_t) n) != n)
		sg_fatal("event=pidfile_failed path=\"%s\" error=\"%s\"", path, strerror(errno));
	return (fd);
}

/*
 * master_check_roles - what would stop a role from starting, found before
 * the master detaches: a port in use, a missing server certificate. Only
 * the first start is checked; later restarts back off as before.
 */
static void master_check_roles(const struct sealgate_conf *conf,
			       const struct role_ops *const *ops, size_t n)
{
	struct sg_buf errors = SG_BUF_INIT;
	bool	bad = false;

	for (size_t i = 0; i < n; i++) {
		if (ops[i]->check == NULL || ops[i]->check(conf, &errors) == 0)
			continue;
		for (const char *p = errors.data, *nl; p && (nl = strchr(p, '\n')); p = nl + 1)
			sg_error("event=role_cannot_start role=%s error=\"%.*s\"", ops[i]->name,
				 (int) (nl - p), p);
		sg_buf_free(&errors);
		bad = true;
	}
	if (bad)
		sg_fatal("event=start_refused reason=\"a role cannot start; see above\"");
}

/*
 * master_wanted_roles - the roles this configuration asks for (metrics
 * only with metrics.listen), in the table's order; a change of that set
 * needs a restart
 */
static size_t master_wanted_roles(const struct sealgate_conf *conf,
				  const struct role_ops *const *all, size_t n,
				  const struct role_ops **ops)
{
	size_t	k = 0;

	for (size_t i = 0; i < n && k < STATUS_ROLES; i++)
		if (all[i]->wanted == NULL || all[i]->wanted(conf))
			ops[k++] = all[i];
	return (k);
}

static void master_detach(void)
{
	pid_t	pid = fork();
	int	fd;

	if (pid < 0)
		sg_fatal("event=fork_failed error=\"%s\"", strerror(errno));
	if (pid > 0)
		_exit(0);
	setsid();
	if (chdir("/") < 0)
		sg_fatal("event=chdir_failed error=\"%s\"", strerror(errno));
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

/* master_status_init - master.status before any role runs */

static void master_status_init(struct master *m, const struct role_ops *const *ops)
{
	m->st.pid = (long) getpid();
	snprintf(m->st.state, sizeof(m->st.state), "starting");
	m->st.started_ms = sg_now_ms();
	snprintf(m->st.version, sizeof(m->st.version), "%s", SG_VERSION);
	snprintf(m->st.config, sizeof(m->st.config), "%s", m->file);
	m->st.nroles = m->nroles;
	for (size_t i = 0; i < m->nroles; i++) {
		snprintf(m->st.roles[i].name, sizeof(m->st.roles[i].name), "%s", ops[i]->name);
		m->st.roles[i].state = STATUS_STARTING;
		m->roles[i].st = &m->st.roles[i];
	}
	master_listeners_conf(m);
	master_publish(m);
}

/* master_status_remove - a stopped master has no status to publish */

static void master_status_remove(const struct master *m)
{
	char	path[PATH_MAX];

	if ((size_t) snprintf(path, sizeof(path), "%s/%s", m->conf->main.state_dir, STATUS_FILE)
	    < sizeof(path))
		unlink(path);
}

/* master_notify_socket - take $NOTIFY_SOCKET for ourselves: roles must not use it */

static void master_notify_socket(struct master *m)
{
	const char *path = getenv("NOTIFY_SOCKET");

	if (path && strlen(path) < sizeof(m->notify))
		snprintf(m->notify, sizeof(m->notify), "%s", path);
	unsetenv("NOTIFY_SOCKET");
}

int	master_run(const char *conf_file, bool foreground, unsigned flags)
{
	static const int signums[] = {SIGTERM, SIGINT, SIGHUP};
	static const struct role_ops *const all[] = {
		&role_smtpd_ops, &role_worker_ops, &role_delivery_ops, &role_metrics_ops,
		&role_cluster_ops,
	};
	const struct role_ops *ops[SG_NELEM(all)];
	struct sg_buf errors = SG_BUF_INIT;
	struct master m = {.foreground = foreground,.syslog = (flags & MASTER_SYSLOG) != 0};
	size_t	exelen = sizeof(m.exe);

	m.t0 = sg_mono_ms();
	if ((m.conf = sealgate_conf_load(conf_file, &errors)) == NULL) {
		fputs(errors.data, stderr);
		sg_fatal("event=config_invalid file=\"%s\"", conf_file);
	}
	m.file = sg_xstrdup(m.conf->file);
	sealgate_log_apply(&m.conf->main);
	/* Until it serves, whoever started the master sees why it cannot start. */
	sg_log_echo(!foreground || m.syslog);
	if (uv_exepath(m.exe, &exelen) != 0)
		sg_fatal("event=exepath_failed");
	master_notify_socket(&m);
	master_refuse_second(m.conf->main.pidfile);
	role_prepare_state(m.conf);
	m.nroles = master_wanted_roles(m.conf, all, SG_NELEM(all), ops);
	master_check_roles(m.conf, ops, m.nroles);
	if (!foreground) {
		master_detach();
		sg_log_init("sealgated", "master", SG_LOG_SYSLOG);
	}
	sg_log_echo(false);
	m.pid_fd = master_pidfile(m.conf->main.pidfile);
	snprintf(m.pid, sizeof(m.pid), "%ld", (long) getpid());
	signal(SIGPIPE, SIG_IGN);

	uv_loop_init(&m.loop);
	uv_timer_init(&m.loop, &m.kill_timer);
	m.kill_timer.data = &m;
	for (size_t i = 0; i < SG_NELEM(signums); i++) {
		uv_signal_init(&m.loop, &m.signals[i]);
		m.signals[i].data = &m;
		uv_signal_start(&m.signals[i], master_on_signal, signums[i]);
	}
	sg_info("event=starting version=%s config=\"%s\"", SG_VERSION, m.file);
	role_log_users(m.conf);
	master_status_init(&m, ops);
	for (size_t i = 0; i < m.nroles; i++) {
		struct master_role *r = &m.roles[i];

		r->ops = ops[i];
		r->m = &m;
		r->backoff_ms = RESTART_MIN_MS;
		uv_timer_init(&m.loop, &r->restart);
		r->restart.data = r;
		master_start_role(r);
	}
	uv_run(&m.loop, UV_RUN_DEFAULT);
	uv_loop_close(&m.loop);
	master_status_remove(&m);
	unlink(m.conf->main.pidfile);
	close(m.pid_fd);
	sg_info("event=stopped");
	sealgate_conf_free(m.conf);
	free(m.file);
	sg_buf_free(&errors);
	return (0);
}
