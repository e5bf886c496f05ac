/*
 * NAME
 *	role 3
 * SUMMARY
 *	run one role process: config, signals, the role's libuv loop
 * SYNOPSIS
 *	#include "cmd/sealgate.h"
 *
 *	int	role_run(ops, conf_file, parent)
 * DESCRIPTION
 *	role_run() loads the configuration, starts the role on a fresh loop
 *	and runs it until SIGTERM or SIGINT, when it asks the role to stop
 *	and waits for the loop to drain. SIGHUP re-reads the configuration;
 *	a configuration with errors is logged and ignored, and the role goes
 *	on with the one it has. Keys a running gateway cannot apply keep
 *	their running values (sealgate_conf_reloaded()): the role's reload()
 *	never sees a new state_dir or queue size half applied. Run alone,
 *	the role logs each changed key (reload_changed, or reload_partial
 *	with needs=restart) as the master does; under the master, the master
 *	logs them once. Its "event=reloaded" line ends in status=complete,
 *	or status=partial when some changed key needs a restart. When the
 *	role says the new configuration needs a new process (ROLE_RESTART),
 *	the role stops cleanly and exits with ROLE_EXIT_RESTART, and the
 *	master starts it again at once; run alone, it logs that a restart is
 *	needed.
 *
 *	SIGHUP is watched before the configuration is first read, and
 *	ignored once the role is stopping: a reload signal never kills a
 *	role (one that stops to restart would otherwise die of the next,
 *	and be restarted with backoff as if it had crashed).
 *
 *	Every role dumps no core and cannot be traced by its own uid (keys
 *	and credentials are in its memory); the kernel would make a process
 *	that changed its uid dumpable again per fs.suid_dumpable, so this
 *	is said again after the change. Started as root with a user
 *	configured, no role runs as root once started:
 *
 *	smtpd and delivery open what needs root (ports below 1024, smtpd's
 *	TLS database, the public part of the certificate database, a
 *	smarthost password file) and then become user and group, with no
 *	other groups (drop_privileges()).
 *
 *	The worker (runs_as_worker) becomes worker_user (user when that is
 *	empty) with the same group and worker_user's own supplementary
 *	groups (a token's device group) first, before it takes its lock
 *	or opens anything, so that it never parses the queue or the key
 *	database as root and everything it makes is its own. It reads the
 *	key database password and PIN files as root just before
 *	(certs_secrets_preload()), so they may stay readable by root alone.
 *	It owns the key database (certs_open() hands it over when root
 *	opens it for writing), which smtpd and delivery cannot open.
 *
 *	role_prepare_state() makes the queue shareable by the group when
 *	the worker is apart (queue directory 0770, LMDB files 0660: the
 *	worker reaches them through the group) and gives the worker its
 *	lock file.
 *
 *	role_log_users() warns, at the master's start, of a configuration
 *	that keeps those promises only in part: no user (every role runs as
 *	root: event=roles_as_root) or no worker_user (the worker runs as
 *	user, whose smtpd could then read the keys: event=worker_user_shared).
 *
 *	When parent is not 0 the role was started by the master: it asks
 *	the kernel for SIGTERM should the master die, so no role outlives it.
 *	Once it is up it tells the master so on its report socket
 *	(status_report_ready(), which closes the socket).
 *	A role run alone creates the queue and certificate database itself
 *	when they are missing (role_prepare_state(), which the master calls
 *	before it starts any role).
 *
 *	Recovery after a crash. A role that takes leases (worker: claims;
 *	delivery: the messages queue_due() takes) holds the role's lock for
 *	its whole life (queue_role_lock()). Holding it proves that no other
 *	process of the role is alive, so before the role starts, it releases
 *	every lease of the role left in the queue (queue_leases_release())
 *	and logs "event=leases_released role=ROLE count=N": whatever a killed
 *	predecessor had taken is processed or sent at once, not after
 *	queue.lease. Started by the master, a role whose lock is still held
 *	(a predecessor of a killed master still stopping) waits up to 10 s
 *	for it; run alone beside a running gateway it refuses to start
 *	("event=role_busy holder_pid=N"), since the other process is alive
 *	and keeps its leases.
 *
 *	The master releases nothing when it reaps a role: until a new
 *	process of that role runs, nobody could take the released messages
 *	anyway, and the new one releases them before it looks for work. So
 *	the root master never opens the queue, and one rule (whoever holds
 *	the lock releases) is all there is to trust.
 * DIAGNOSTICS
 *	A configuration that fails at start, or a role that cannot start,
 *	is fatal: the master logs the exit and restarts with backoff.
 */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sealgate.h"

struct role_rt {
	uv_loop_t loop;
	uv_signal_t sigterm;
	uv_signal_t sigint;
	uv_signal_t sighup;
	const struct role_ops *ops;
	void   *state;
	struct sealgate_conf *conf;
	const char *file;
	pid_t	parent;			/* the master, 0: run alone */
	int	lock_fd;		/* the role's lock, -1: none */
	int	status;			/* exit status */
	bool	stopping;
};

/* share_mode - name (under dfd) to uid:gid and mode, never through a link */

static void share_mode(int dfd, const char *dir, const char *name, mode_t mode, uid_t uid,
		       gid_t gid)
{
	int	fd = *name ? openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
		: dup(dfd);

	if (fd < 0 && errno == ENOENT)
		return;
	if (fd < 0 || sealgate_owner_mode(fd, uid, gid, mode) < 0)
		sg_fatal("event=state_dir_failed path=\"%s/%s\" error=\"%s\"", dir, name,
			 strerror(errno));
	close(fd);
}

/*
 * role_share_state - as root: the worker's lock file is the worker's; with
 * the worker apart, the queue is the group's too (it opens it as itself)
 */
static void role_share_state(const struct sg_conf_main *m)
{
	char	queue[4096];
	uid_t	uid, wuid;
	gid_t	gid, wgid;
	int	dfd;

	if (geteuid() != 0 || !sg_conf_run_ids(m, &uid, &gid)
	    || !sg_conf_worker_ids(m, &wuid, &wgid))
		return;
	if ((dfd = open(m->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		sg_fatal("event=state_dir_failed path=\"%s\" error=\"%s\"", m->state_dir,
			 strerror(errno));
	share_mode(dfd, m->state_dir, "lock.worker", 0600, wuid, wgid);
	close(dfd);
	if (!sg_conf_worker_apart(m))
		return;
	snprintf(queue, sizeof(queue), "%s/queue", m->state_dir);
	if ((dfd = open(queue, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		sg_fatal("event=state_dir_failed path=\"%s\" error=\"%s\"", queue,
			 strerror(errno));
	share_mode(dfd, queue, "", 0770, uid, gid);
	share_mode(dfd, queue, "data.mdb", 0660, uid, gid);
	share_mode(dfd, queue, "lock.mdb", 0660, uid, gid);
	close(dfd);
}

/*
 * role_prepare_state - create the state directory, queue and certificate database
 *
 * Roles open what they need as they start, some of them read-only; doing
 * the creating here, once, before any role runs, means no role ever races
 * another for it. Both are closed again before the roles are exec'd.
 * A role run alone (no parent master) does it for itself.
 */

void	role_prepare_state(const struct sealgate_conf *c)
{
	struct queue *q;
	struct certs *certs;
	int	err;

	sealgate_state_dir(&c->main);
	if ((err = queue_open(&c->main, &c->queue, 0, &q)) < 0)
		sg_fatal("event=queue_open_failed state_dir=\"%s\" error=\"%s\"",
			 c->main.state_dir, sg_strerror(err));
	queue_close(q);
	role_share_state(&c->main);
	if ((err = certs_open(&c->main, &c->certs, 0, &certs)) < 0)
		sg_fatal("event=certs_open_failed error=\"%s\"%s", sg_strerror(err),
			 err == SG_EDENIED ? " detail=\"the certificate database must be a "
			 "directory owned by root or by worker_user (user when that is empty), "
			 "not a link, and writable by its owner alone; one another user owned "
			 "before: chown -R WORKER_USER: DIR\"" : "");
	certs_close(certs);
}

void	role_log_users(const struct sealgate_conf *c)
{
	const struct sg_conf_main *m = &c->main;

	if (geteuid() != 0)
		return;
	if (*m->user == 0)
		sg_warn("event=roles_as_root detail=\"no user is configured: every role runs as "
			"root; set user, and worker_user for the worker\"");
	else if (!sg_conf_worker_apart(m))
		sg_warn("event=worker_user_shared user=%s detail=\"the worker runs as %s, as smtpd "
			"and delivery do: they could read the private keys; set worker_user to a "
			"user of its own\"", m->user, m->user);
}

#define ROLE_LOCK_WAIT_MS 10000

/* role_lock - the role's lock for the life of this process, or a fatal error */

static void role_lock(struct role_rt *rt)
{
	const char *name = rt->ops->name;
	const struct sg_conf_main *m = &rt->conf->main;
	pid_t	holder = 0;
	int	err;

	err = queue_role_lock(m, rt->ops->lease_role, 0, &rt->lock_fd, &holder);
	if (err == SG_EBUSY && rt->parent) {
		sg_warn("event=role_lock_wait role=%s holder_pid=%ld wait_ms=%d", name,
			(long) holder, ROLE_LOCK_WAIT_MS);
		err = queue_role_lock(m, rt->ops->lease_role, ROLE_LOCK_WAIT_MS, &rt->lock_fd,
				      &holder);
	}
	if (err == SG_EBUSY)
		sg_fatal("event=role_busy role=%s holder_pid=%ld detail=\"another %s process "
			 "works on state_dir %s and keeps its leases: stop it first\"", name,
			 (long) holder, name, m->state_dir);
	if (err < 0)
		sg_fatal("event=role_lock_failed role=%s state_dir=\"%s\" error=\"%s\"", name,
			 m->state_dir, sg_strerror(err));
}

/*
 * role_recover - hold the role's lock, then release every lease its dead
 * predecessors left, before the role looks for work (see above)
 */
static void role_recover(struct role_rt *rt)
{
	const char *name = rt->ops->name;
	struct queue *q;
	int64_t	t0 = sg_mono_ms();
	size_t	n = 0;
	int	err;

	role_lock(rt);
	if ((err = queue_open(&rt->conf->main, &rt->conf->queue, 0, &q)) < 0)
		sg_fatal("event=queue_open_failed state_dir=\"%s\" error=\"%s\"",
			 rt->conf->main.state_dir, sg_strerror(err));
	err = queue_leases_release(q, rt->ops->lease_role, &n);
	queue_close(q);
	if (err < 0)
		sg_warn("event=leases_release_failed role=%s count=%zu error=\"%s\" "
			"detail=\"the others come back when their lease ends\"", name, n,
			sg_strerror(err));
	else
		sg_info("event=leases_released role=%s count=%zu ms=%lld", name, n,
			(long long) (sg_mono_ms() - t0));
}

/* no_core - keys are in memory: no core file, no ptrace by our uid */

static void no_core(void)
{
	struct rlimit rl = {0, 0};

	setrlimit(RLIMIT_CORE, &rl);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/*
 * drop_to - become uid:gid for good; with name, that user's supplementary
 * groups too, else none but gid
 */
static int drop_to(const char *name, uid_t uid, gid_t gid, bool user_groups)
{
	if (user_groups ? initgroups(name, gid) < 0 : setgroups(1, &gid) < 0)
		return (SG_EDENIED);
	if (setgid(gid) < 0 || setuid(uid) < 0)
		return (SG_EDENIED);
	if (setuid(0) == 0 || setgid(0) == 0)
		return (SG_EDENIED);
	no_core();
	/* a password file only root may read was read at start, and stays unread */
	sg_conf_started();
	sg_info("event=privileges_dropped user=%s uid=%ld gid=%ld", name, (long) uid,
		(long) gid);
	return (0);
}

/* drop_privileges - smtpd and delivery: become user:group */

static int drop_privileges(const struct sg_conf_main *m)
{
	uid_t	uid;
	gid_t	gid;

	if (*m->user == 0 || geteuid() != 0)
		return (0);
	if (!sg_conf_run_ids(m, &uid, &gid))
		return (SG_ENOTFOUND);
	return (drop_to(m->user, uid, gid, false));
}

/*
 * drop_to_worker - the worker: read the secrets root may keep for itself,
 * then become worker_user (else user), with the roles' group
 */
static int drop_to_worker(const struct sealgate_conf *c)
{
	const struct sg_conf_main *m = &c->main;
	uid_t	uid;
	gid_t	gid;

	if (*m->user == 0 || geteuid() != 0)
		return (0);
	if (!sg_conf_worker_ids(m, &uid, &gid))
		return (SG_ENOTFOUND);
	/* a secret that cannot be read is reported by certs_open() later */
	(void) certs_secrets_preload(&c->certs);
	return (drop_to(*m->worker_user ? m->worker_user : m->user, uid, gid, true));
}

static void role_on_stop(uv_signal_t *sig, int signum)
{
	struct role_rt *rt = sig->data;

	if (rt->stopping)
		return;
	rt->stopping = true;
	sg_info("event=stopping signal=%d", signum);
	uv_close((uv_handle_t *) &rt->sigterm, NULL);
	uv_close((uv_handle_t *) &rt->sigint, NULL);
	uv_close((uv_handle_t *) &rt->sighup, NULL);
	/* libuv put back the default, which would kill a clean stop */
	signal(SIGHUP, SIG_IGN);
	if (rt->ops->stop && rt->state)
		rt->ops->stop(rt->state);
}

static void role_on_hup(uv_signal_t *sig, int signum)
{
	struct role_rt *rt = sig->data;
	struct sg_buf errors = SG_BUF_INIT;
	struct sealgate_conf *conf;
	bool	again = false;
	int	changed, restart;

	(void) signum;
	sg_debug("event=reload_begin file=\"%s\"", rt->file);
	if ((conf = sealgate_conf_load(rt->file, &errors)) == NULL) {
		sealgate_log_errors(&errors);
		sg_warn("event=reload_failed file=\"%s\" action=keep_old_config", rt->file);
		sg_buf_free(&errors);
		return;
	}
	restart = sealgate_conf_reloaded(rt->conf, conf, rt->parent == 0, &changed);
	sealgate_log_apply(&conf->main);
	if (rt->ops->reload && rt->state)
		again = rt->ops->reload(rt->state, conf) == ROLE_RESTART;
	sealgate_conf_free(rt->conf);
	rt->conf = conf;
	sg_info("event=reloaded log_level=%s changed=%d needs_restart=%d status=%s",
		sg_log_level_name((enum sg_log_level) conf->main.log_level), changed, restart,
		restart ? "partial" : "complete");
	if (again && rt->parent == 0) {
		sg_warn("event=restart_needed reason=\"run alone, the role cannot start itself "
			"again\"");
	} else if (again) {
		/* The master (root) starts a new process at once. */
		sg_info("event=restarting reason=\"the new configuration needs a new process\"");
		rt->status = ROLE_EXIT_RESTART;
		role_on_stop(&rt->sigterm, SIGHUP);
	}
}

static void role_watch(struct role_rt *rt, uv_signal_t *sig, uv_signal_cb cb, int signum)
{
	uv_signal_init(&rt->loop, sig);
	sig->data = rt;
	uv_signal_start(sig, cb, signum);
}

int	role_run(const struct role_ops *ops, const char *conf_file, pid_t parent)
{
	struct role_rt rt = {.ops = ops,.file = conf_file,.parent = parent,.lock_fd = -1};
	struct sg_buf errors = SG_BUF_INIT;
	int	err;

	/*
	 * The master may pass a SIGHUP on at any time: watch for it before
	 * the file is read (one that comes early just means one more read).
	 */
	signal(SIGHUP, SIG_IGN);
	uv_loop_init(&rt.loop);
	role_watch(&rt, &rt.sighup, role_on_hup, SIGHUP);
	if (parent) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			sg_fatal("event=orphaned parent=%ld", (long) parent);
	}
	if ((rt.conf = sealgate_conf_load(conf_file, &errors)) == NULL) {
		sealgate_log_errors(&errors);
		sg_fatal("event=config_invalid file=\"%s\"", conf_file);
	}
	sealgate_log_apply(&rt.conf->main);
	if (parent == 0)
		role_prepare_state(rt.conf);
	no_core();
	if (ops->runs_as_worker && (err = drop_to_worker(rt.conf)) < 0)
		sg_fatal("event=privilege_drop_failed user=%s error=\"%s\"",
			 *rt.conf->main.worker_user ? rt.conf->main.worker_user :
			 rt.conf->main.user, sg_strerror(err));
	if (ops->leases)
		role_recover(&rt);
	if (parent && !ops->queue_rdonly)
		role_stats_epoch(rt.conf, parent);
	signal(SIGPIPE, SIG_IGN);
	role_watch(&rt, &rt.sigterm, role_on_stop, SIGTERM);
	role_watch(&rt, &rt.sigint, role_on_stop, SIGINT);
	if (ops->start && (rt.state = ops->start(&rt.loop, rt.conf)) == NULL)
		sg_fatal("event=start_failed");
	if (!ops->runs_as_worker && (err = drop_privileges(&rt.conf->main)) < 0)
		sg_fatal("event=privilege_drop_failed user=%s error=\"%s\"", rt.conf->main.user,
			 sg_strerror(err));
	sg_info("event=ready pid=%ld", (long) getpid());
	status_report_ready();
	uv_run(&rt.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&rt.loop) != 0)
		sg_warn("event=loop_not_empty");
	sealgate_conf_free(rt.conf);
	sg_buf_free(&errors);
	if (rt.lock_fd >= 0)
		close(rt.lock_fd);	/* the role has let go of everything it took */
	sg_info("event=stopped");
	return (rt.status);
}
