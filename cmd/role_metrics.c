/*
 * NAME
 *	role_metrics 3
 * SUMMARY
 *	the metrics role: the Prometheus endpoint as the role runtime sees it
 * SYNOPSIS
 *	#include "cmd/sealgate.h"
 *
 *	extern const struct role_ops role_metrics_ops;
 * DESCRIPTION
 *	The master starts this role only when metrics.listen is set
 *	(wanted()). start() opens the queue read-only and binds
 *	metrics.listen (metrics_server_start); the runtime then drops root
 *	for the configured user, as it does for smtpd and delivery. Each GET
 *	/metrics reads the queue's counters and depth in short read
 *	transactions and STATE_DIR/master.status for the master's start and
 *	which roles are up (running, with a process), and writes the
 *	exposition (metrics_collect). check() binds the address once before
 *	the master's first start, so a port in use stops the start with a
 *	reason. A reload changes nothing: metrics.listen needs a restart.
 * SECURITY
 *	The only process that talks HTTP. It never opens the certificate
 *	database (no key is ever in its memory), opens the queue with
 *	QUEUE_RDONLY (LMDB maps it read-only; the process has no write
 *	transaction to give), takes no leases and no role lock, marks no
 *	statistics epoch, and runs unprivileged once bound.
 * DIAGNOSTICS
 *	A failure to start is logged (metrics_start_failed) and start()
 *	returns NULL: the master restarts the role with backoff.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sealgate.h"

struct role_metrics {
	struct queue *queue;
	struct metrics_server *server;
	char	state_dir[4096];
};

static bool metrics_wanted(const struct sealgate_conf *conf)
{
	return (*conf->metrics.listen != 0);
}

/* collect - one scrape: the master's view of the roles, then the queue */

static int collect(void *arg, struct sg_buf *out)
{
	static const char *const known[] = {"smtpd", "worker", "delivery", "metrics",
		"cluster"};
	struct role_metrics *rm = arg;
	struct status *st = sg_xcalloc(1, sizeof(*st));
	struct metrics_role roles[STATUS_ROLES];
	struct metrics_info info = {.roles = roles};
	int	err;

	if (status_read(rm->state_dir, st) == 0) {
		info.start_ms = st->started_ms;
		for (size_t i = 0; i < st->nroles && i < STATUS_ROLES; i++)
			for (size_t k = 0; k < SG_NELEM(known); k++)
				if (strcmp(st->roles[i].name, known[k]) == 0)
					roles[info.nroles++] = (struct metrics_role) {
						.name = known[k],
						.up = st->roles[i].state == STATUS_RUNNING
						&& st->roles[i].pid > 0,
					};
	}
	err = metrics_collect(rm->queue, &info, out);
	free(st);
	return (err);
}

static void *metrics_start(uv_loop_t *loop, const struct sealgate_conf *conf)
{
	struct role_metrics *rm = sg_xcalloc(1, sizeof(*rm));
	struct sg_buf errors = SG_BUF_INIT;
	int	err;

	snprintf(rm->state_dir, sizeof(rm->state_dir), "%s", conf->main.state_dir);
	if ((err = queue_open(&conf->main, &conf->queue, QUEUE_RDONLY, &rm->queue)) < 0) {
		sg_error("event=queue_open_failed error=\"%s\"", sg_strerror(err));
		free(rm);
		return (NULL);
	}
	if ((err = metrics_server_start(loop, conf->metrics.listen, collect, rm, &rm->server,
					&errors)) < 0) {
		sealgate_log_errors(&errors);
		sg_error("event=metrics_start_failed address=%s error=\"%s\"",
			 conf->metrics.listen, sg_strerror(err));
		sg_buf_free(&errors);
		queue_close(rm->queue);
		free(rm);
		return (NULL);
	}
	sg_info("event=metrics_listening address=%s", conf->metrics.listen);
	return (rm);
}

static enum role_reload metrics_reload(void *state, const struct sealgate_conf *conf)
{
	(void) state;
	(void) conf;
	return (ROLE_RELOADED);
}

static void metrics_stopped(void *arg)
{
	struct role_metrics *rm = arg;

	queue_close(rm->queue);
	free(rm);
}

static void metrics_stop(void *state)
{
	struct role_metrics *rm = state;

	metrics_server_stop(rm->server, metrics_stopped, rm);
}

/* metrics_check - bind the address once, then let go */

static int metrics_check(const struct sealgate_conf *conf, struct sg_buf *errors)
{
	struct sockaddr_storage ss;
	const char *a = conf->metrics.listen;
	int	fd, one = 1, err = 0;

	if (sg_sockaddr_parse(a, strlen(a), &ss) < 0) {
		sg_buf_printf(errors, "metrics.listen \"%s\" is not a numeric ip:port\n", a);
		return (SG_EINVAL);
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return (0);		/* start() will say */
	(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *) &ss, ss.ss_family == AF_INET6
		 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) < 0) {
		sg_buf_printf(errors, "metrics.listen %s: %s\n", a, strerror(errno));
		err = SG_EIO;
	}
	close(fd);
	return (err);
}

const struct role_ops role_metrics_ops = {
	.name = "metrics",
	.check = metrics_check,
	.start = metrics_start,
	.reload = metrics_reload,
	.stop = metrics_stop,
	.wanted = metrics_wanted,
	.queue_rdonly = true,
};
