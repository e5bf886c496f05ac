/*
 * NAME
 *	role_cluster 3
 * SUMMARY
 *	the cluster role: this node's link to the cluster's PostgreSQL
 * SYNOPSIS
 *	#include "cmd/sealgate.h"
 *
 *	extern const struct role_ops role_cluster_ops;
 * DESCRIPTION
 *	The master starts this role only when cluster.postgres is set
 *	(wanted()). start() reads the database password (as root, so the
 *	file may be root's alone), opens the queue for writing (it deletes
 *	what it shipped from the outbox and marks acknowledgements made on
 *	other nodes) and starts the engine (cluster_start(), cluster/); the
 *	runtime then drops root for the configured user. Each heartbeat
 *	carries the roles' health as the master published it
 *	(STATE_DIR/master.status). The process runs at nice CLUSTER_NICE:
 *	when the CPU is short, smtpd, the worker and delivery come first and
 *	the outbox waits a little longer. A reload changes nothing: every cluster
 *	key needs a restart.
 * SECURITY
 *	The one process that talks to PostgreSQL, and the only one linked
 *	code of cluster/ runs in. It never opens the certificate database,
 *	so no private key is ever in its memory; it takes no leases and
 *	runs unprivileged once started. Mail never waits for it: the other
 *	roles only write the outbox, in their own transactions.
 * DIAGNOSTICS
 *	A queue that cannot be opened or a password file that cannot be
 *	read is logged and start() returns NULL: the master restarts the
 *	role with backoff.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "sealgate.h"

#define CLUSTER_NICE 10

struct role_cluster {
	struct queue *queue;
	struct cluster *cluster;
	char	state_dir[4096];
};

static bool cluster_wanted(const struct sealgate_conf *conf)
{
	return (cluster_configured(&conf->cluster));
}

/* health - "smtpd=running worker=running ..." from the master's status */

static void health(void *arg, char *buf, size_t len)
{
	struct role_cluster *rc = arg;
	struct status *st = sg_xcalloc(1, sizeof(*st));
	size_t	n = 0;

	*buf = 0;
	if (status_read(rc->state_dir, st) == 0)
		for (size_t i = 0; i < st->nroles && i < STATUS_ROLES && n < len; i++)
			n += (size_t) snprintf(buf + n, len - n, "%s%s=%s", n ? " " : "",
					       st->roles[i].name,
					       status_role_state_name(st->roles[i].state));
	free(st);
}

static void *cluster_role_start(uv_loop_t *loop, const struct sealgate_conf *conf)
{
	struct role_cluster *rc = sg_xcalloc(1, sizeof(*rc));
	char   *password = NULL;
	int	err = 0;

	snprintf(rc->state_dir, sizeof(rc->state_dir), "%s", conf->main.state_dir);
	if (*conf->cluster.password_file
	    && (password = certs_read_secret(conf->cluster.password_file, &err)) == NULL) {
		sg_error("event=cluster_password_failed file=\"%s\" error=\"%s\"",
			 conf->cluster.password_file, sg_strerror(err));
		free(rc);
		return (NULL);
	}
	if ((err = queue_open(&conf->main, &conf->queue, 0, &rc->queue)) < 0) {
		sg_error("event=queue_open_failed error=\"%s\"", sg_strerror(err));
		certs_free_secret(password);
		free(rc);
		return (NULL);
	}
	/*
	 * Shipping is background work: under a CPU shortage the roles that
	 * move mail come first, and the outbox takes up the slack.
	 */
	(void) setpriority(PRIO_PROCESS, 0, CLUSTER_NICE);
	sg_info("event=cluster_starting node=%s batch=%lld heartbeat_ms=%lld outbox_max=%lld",
		conf->cluster.node, (long long) conf->cluster.batch,
		(long long) conf->cluster.heartbeat_ms, (long long) conf->cluster.outbox_max);
	rc->cluster = cluster_start(loop, &conf->cluster, password, rc->queue, health, rc);
	certs_free_secret(password);
	return (rc);
}

static enum role_reload cluster_role_reload(void *state, const struct sealgate_conf *conf)
{
	(void) state;
	(void) conf;
	return (ROLE_RELOADED);
}

static void cluster_role_stopped(void *arg)
{
	struct role_cluster *rc = arg;

	queue_close(rc->queue);
	free(rc);
}

static void cluster_role_stop(void *state)
{
	struct role_cluster *rc = state;

	cluster_stop(rc->cluster, cluster_role_stopped, rc);
}

const struct role_ops role_cluster_ops = {
	.name = "cluster",
	.start = cluster_role_start,
	.reload = cluster_role_reload,
	.stop = cluster_role_stop,
	.wanted = cluster_wanted,
};
