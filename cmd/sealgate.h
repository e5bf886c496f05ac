#ifndef SEALGATE_H
#define SEALGATE_H

/*
 * NAME
 *	sealgate 3h
 * SUMMARY
 *	what the programs in cmd/ share: the whole configuration, roles
 * SYNOPSIS
 *	#include "cmd/sealgate.h"
 * DESCRIPTION
 *	Private to cmd/. The configuration is the sum of the common top-level
 *	keys and one section per component; each component sees only the
 *	sections it is handed.
 */

#include <uv.h>

#include "common/sg.h"
#include "queue/queue.h"
#include "certs/certs.h"
#include "smtpd/smtpd.h"
#include "worker/worker.h"
#include "delivery/delivery.h"
#include "metrics/metrics.h"
#include "cluster/cluster.h"

#define SEALGATE_DEFAULT_CONF "/etc/sealgate/sealgate.conf"

struct sealgate_conf {
	struct sg_arena *arena;		/* owns everything below */
	char   *file;			/* absolute path it was read from */
	struct sg_conf_main main;
	struct queue_conf queue;
	struct certs_conf certs;
	struct smtpd_conf smtpd;
	struct worker_conf worker;
	struct delivery_conf delivery;
	struct metrics_conf metrics;
	struct cluster_conf cluster;
};

/* conf.c */
struct sealgate_conf *sealgate_conf_load(const char *file, struct sg_buf *errors);
void	sealgate_conf_free(struct sealgate_conf *);
void	sealgate_conf_print_defaults(FILE *);
void	sealgate_conf_print_table(FILE *);
void	sealgate_conf_print(const struct sealgate_conf *, bool all, FILE *);
int	sealgate_conf_reloaded(const struct sealgate_conf *running, struct sealgate_conf *new,
			       bool log, int *changed);
void	sealgate_conf_keep_running(struct sealgate_conf *new, const struct sealgate_conf *running);
void	sealgate_log_errors(const struct sg_buf *errors);
void	sealgate_log_apply(const struct sg_conf_main *);
void	sealgate_state_dir(const struct sg_conf_main *);
int	sealgate_owner_mode(int fd, uid_t uid, gid_t gid, mode_t mode);

/*
 * A role is a process with one libuv loop on its main thread. start()
 * builds the role's state on the loop and returns it (NULL on failure);
 * reload() gets a new configuration (the old one is freed after it
 * returns, so a role keeps no pointer into it) and returns ROLE_RELOADED,
 * or ROLE_RESTART when part of it can only take effect in a new process
 * (smtpd's listeners: they are bound before privileges are dropped);
 * stop() begins a clean stop: the role closes its handles and the loop
 * then ends. A role whose start is NULL is idle: it logs that it is up
 * and waits.
 */
enum role_reload { ROLE_RELOADED, ROLE_RESTART };

/* A role that exits with this status asks the master to start it again now. */
#define ROLE_EXIT_RESTART	75

struct role_ops {
	const char *name;
	/* NULL, or: can start() succeed? 0, or < 0 with a line per problem */
	int	(*check) (const struct sealgate_conf *, struct sg_buf *errors);
	void   *(*start) (uv_loop_t *, const struct sealgate_conf *);
	enum role_reload (*reload) (void *, const struct sealgate_conf *);
	void	(*stop) (void *);
	bool	runs_as_worker;		/* worker_user, from before it opens anything (role.c) */
	bool	leases;			/* takes leases of lease_role: holds its lock */
	enum queue_role lease_role;
	/* NULL, or: does the configuration ask for this role at all? */
	bool	(*wanted) (const struct sealgate_conf *);
	bool	queue_rdonly;		/* only reads the queue (no epoch mark) */
};

extern const struct role_ops role_smtpd_ops;
extern const struct role_ops role_worker_ops;
extern const struct role_ops role_delivery_ops;
extern const struct role_ops role_metrics_ops;
extern const struct role_ops role_cluster_ops;

/* role_stats.c */
void	role_stats_epoch(const struct sealgate_conf *, pid_t parent);

/* role.c */
void	role_prepare_state(const struct sealgate_conf *);
void	role_log_users(const struct sealgate_conf *);
int	role_run(const struct role_ops *, const char *conf_file, pid_t parent);

/*
 * status.c: what the roles tell the master (lines on an inherited socket)
 * and what the master publishes for sealctl (STATE_DIR/master.status).
 */
#define STATUS_FILE		"master.status"
#define STATUS_ROLES		5
#define STATUS_LISTENERS_MAX	64
#define STATUS_LINE_MAX		1024

enum status_role_state {
	STATUS_STARTING,		/* started, not ready yet */
	STATUS_RUNNING,			/* said it is ready */
	STATUS_RESTARTING,		/* exited; started again at restart_at_ms */
	STATUS_STOPPING,		/* the master is stopping */
};

struct status_role {
	char	name[16];
	int	state;			/* enum status_role_state; -1: unknown */
	long	pid;			/* of the current process, 0: none */
	int64_t	started_ms;		/* wall clock, ms since the epoch */
	int64_t	ready_ms;		/* 0: not yet */
	uint64_t restarts;		/* starts after the first */
	uint64_t failures;		/* failed exits in a row (see master.c) */
	int64_t	exit_ms;		/* the last exit, 0: none yet */
	int	exit_status;
	int	exit_signal;
	bool	exit_asked;		/* it asked for a new process */
	int64_t	restart_at_ms;		/* RESTARTING: when */
};

struct status_listener {
	char	name[128];
	char	address[128];
	bool	bound;
	char	error[256];		/* why it is not bound, or "" */
};

struct status {
	long	pid;			/* the master */
	char	state[16];		/* "starting", "running", "stopping" */
	int64_t	started_ms;
	int64_t	ready_ms;		/* every role was ready once; 0: not yet */
	int64_t	written_ms;
	char	version[32];
	char	config[256];
	size_t	nroles;
	struct status_role roles[STATUS_ROLES];
	size_t	nlisteners;
	struct status_listener listeners[STATUS_LISTENERS_MAX];
};

enum status_msg_kind { STATUS_MSG_READY = 1, STATUS_MSG_LISTENER };

struct status_msg {
	int	kind;			/* enum status_msg_kind */
	struct status_listener listener;
};

void	status_report_init(int fd);
void	status_report_listener(const char *name, const char *address, const char *error);
void	status_report_ready(void);
int	status_report_parse(const char *line, size_t len, struct status_msg *);
int	status_write(const char *state_dir, const struct status *);
int	status_read(const char *state_dir, struct status *);
int	status_parse(const char *data, size_t len, struct status *);
const char *status_role_state_name(int state);
char   *status_exit_reason(const struct status_role *, char *buf, size_t len);
long	status_master_pid(const char *pidfile);

/* master.c */
#define MASTER_SYSLOG	(1 << 0)	/* log to syslog even in the foreground */
int	master_run(const char *conf_file, bool foreground, unsigned flags);

#endif
