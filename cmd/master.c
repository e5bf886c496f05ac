/*
 * NAME
 *	master 3
 * SUMMARY
 *	the sealgated master: start, supervise and stop the role processes
 * SYNOPSIS
 *	#include "cmd/sealgate.h"
 *
 *	int	master_run(conf_file, foreground)
 * DESCRIPTION
 *	master_run() checks the configuration, makes the state directory,
 *	creates the queue and the certificate database on first start,
 *	writes the pidfile and starts each role (smtpd, worker, delivery) by
 *	fork+exec of this very program with --role. Then it supervises:
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
 *	/dev/null) and everything logs to syslog.
 *	Before it detaches (or, in the foreground, starts anything), the
 *	master makes sure the first start can succeed: no other master runs,
 *	the state directory can be made, and every role's check() passes (a
 *	listener that cannot be bound, a TLS certificate that is missing).
 *	Until then its warnings and errors also go to stderr, so that
 *	whoever started it reads why it refused.
 * DIAGNOSTICS
 *	An invalid configuration, an unusable state directory, another
 *	running master (per the pidfile) or a role that cannot start are
 *	fatal: exit status 1, the reason on stderr.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sealgate.h"

#define RESTART_MIN_MS	500
#define RESTART_MAX_MS	60000
#define STABLE_MS	60000
#define STOP_GRACE_MS	4000

struct master;

struct master_role {
	const struct role_ops *ops;
	struct master *m;
	uv_process_t proc;
	uv_timer_t restart;
	bool	running;
	bool	again;			/* it asked to be started again at once */
	int64_t	started_ms;
	int64_t	backoff_ms;
};

struct master {
	uv_loop_t loop;
	uv_signal_t signals[3];
	uv_timer_t kill_timer;
	struct master_role roles[3];
	struct sealgate_conf *conf;
	char   *file;			/* absolute; outlives each config */
	bool	foreground;
	bool	stopping;
	bool	finished;		/* handles closed; the loop is ending */
	char	exe[PATH_MAX];
	char	pid[24];
};

static void master_start_role(struct master_role *);

static int master_running_roles(const struct master *m)
{
	int	n = 0;

	for (size_t i = 0; i < SG_NELEM(m->roles); i++)
		n += m->roles[i].running;
	return (n);
}

/* master_finish - the last role is gone: let the loop end */

static void master_finish(struct master *m)
{
	if (m->finished)
		return;
	m->finished = true;
	for (size_t i = 0; i < SG_NELEM(m->signals); i++)
		uv_close((uv_handle_t *) &m->signals[i], NULL);
	for (size_t i = 0; i < SG_NELEM(m->roles); i++)
		uv_close((uv_handle_t *) &m->roles[i].restart, NULL);
	uv_close((uv_handle_t *) &m->kill_timer, NULL);
}

static void master_on_restart(uv_timer_t *t)
{
	master_start_role(t->data);
}

/* master_on_role_closed - the process handle is free again */

static void master_on_role_closed(uv_handle_t *h)
{
	struct master_role *r = h->data;
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
	uv_close((uv_handle_t *) proc, master_on_role_closed);
}

static void master_start_role(struct master_role *r)
{
	struct master *m = r->m;
	char   *args[] = {
		m->exe, "--role", (char *) r->ops->name, "-c", m->conf->file,
		"--parent", m->pid, m->foreground ? "-f" : NULL, NULL,
	};
	uv_stdio_container_t stdio[3] = {
		{.flags = UV_INHERIT_FD,.data.fd = 0},
		{.flags = UV_INHERIT_FD,.data.fd = 1},
		{.flags = UV_INHERIT_FD,.data.fd = 2},
	};
	uv_process_options_t opts = {
		.exit_cb = master_on_role_exit,
		.file = m->exe,
		.args = args,
		.stdio_count = 3,
		.stdio = stdio,
	};
	int	err;

	r->proc.data = r;
	r->started_ms = sg_mono_ms();
	if ((err = uv_spawn(&m->loop, &r->proc, &opts)) != 0) {
		sg_error("event=role_spawn_failed role=%s error=\"%s\" restart_in_ms=%lld",
			 r->ops->name, uv_strerror(err), (long long) r->backoff_ms);
		uv_close((uv_handle_t *) &r->proc, master_on_role_closed);
	} else {
		r->running = true;
		sg_info("event=role_started role=%s pid=%d", r->ops->name, r->proc.pid);
	}
}

static void master_on_kill_timer(uv_timer_t *t)
{
	struct master *m = t->data;

	for (size_t i = 0; i < SG_NELEM(m->roles); i++) {
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
	for (size_t i = 0; i < SG_NELEM(m->roles); i++) {
		uv_timer_stop(&m->roles[i].restart);
		if (m->roles[i].running)
			uv_process_kill(&m->roles[i].proc, SIGTERM);
	}
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
	if ((conf = sealgate_conf_load(m->file, &errors)) == NULL) {
		sealgate_log_errors(&errors);
		sg_warn("event=reload_failed file=\"%s\" action=keep_old_config", m->file);
		sg_buf_free(&errors);
		return;
	}
	restart = sealgate_conf_reloaded(m->conf, conf, true, &changed);
	sealgate_conf_free(m->conf);
	m->conf = conf;
	sealgate_log_apply(&conf->main);
	sg_info("event=reloaded log_level=%s changed=%d needs_restart=%d status=%s",
		sg_log_level_name((enum sg_log_level) conf->main.log_level), changed, restart,
		restart ? "partial" : "complete");
	for (size_t i = 0; i < SG_NELEM(m->roles); i++)
		if (m->roles[i].running && master_role_hears_hup(m->roles[i].proc.pid))
			uv_process_kill(&m->roles[i].proc, SIGHUP);
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
	FILE   *fp;
	long	other;

	if ((fp = fopen(path, "r")) != NULL) {
		if (fscanf(fp, "%ld", &other) == 1 && other > 0 && other != (long) getpid()
		    && kill((pid_t) other, 0) == 0)
			sg_fatal("event=already_running pid=%ld pidfile=\"%s\"", other, path);
		fclose(fp);
	}
}

/* master_pidfile - refuse a second master; record ours */

static void master_pidfile(const char *path)
{
	FILE   *fp;

	master_refuse_second(path);
	if ((fp = fopen(path, "w")) == NULL)
		sg_fatal("event=pidfile_failed path=\"%s\" error=\"%s\"", path, strerror(errno));
	fprintf(fp, "%ld\n", (long) getpid());
	if (fclose(fp) != 0)
		sg_fatal("event=pidfile_failed path=\"%s\" error=\"%s\"", path, strerror(errno));
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

int	master_run(const char *conf_file, bool foreground)
{
	static const int signums[] = {SIGTERM, SIGINT, SIGHUP};
	static const struct role_ops *const ops[] = {
		&role_smtpd_ops, &role_worker_ops, &role_delivery_ops,
	};
	struct sg_buf errors = SG_BUF_INIT;
	struct master m = {.foreground = foreground};
	size_t	exelen = sizeof(m.exe);

	if ((m.conf = sealgate_conf_load(conf_file, &errors)) == NULL) {
		fputs(errors.data, stderr);
		sg_fatal("event=config_invalid file=\"%s\"", conf_file);
	}
	m.file = sg_xstrdup(m.conf->file);
	sealgate_log_apply(&m.conf->main);
	/* Until it detaches, whoever started the master sees why it cannot start. */
	sg_log_echo(!foreground);
	if (uv_exepath(m.exe, &exelen) != 0)
		sg_fatal("event=exepath_failed");
	master_refuse_second(m.conf->main.pidfile);
	role_prepare_state(m.conf);
	master_check_roles(m.conf, ops, SG_NELEM(ops));
	if (!foreground) {
		master_detach();
		sg_log_init("sealgated", "master", SG_LOG_SYSLOG);
		sg_log_echo(false);
	}
	master_pidfile(m.conf->main.pidfile);
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
	for (size_t i = 0; i < SG_NELEM(m.roles); i++) {
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
	unlink(m.conf->main.pidfile);
	sg_info("event=stopped");
	sealgate_conf_free(m.conf);
	free(m.file);
	sg_buf_free(&errors);
	return (0);
}
