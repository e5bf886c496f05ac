/*
 * NAME
 *	role_delivery 3
 * SUMMARY
 *	the delivery role as the role runtime sees it
 * SYNOPSIS
 *	#include "cmd/sealgate.h"
 *
 *	extern const struct role_ops role_delivery_ops;
 * DESCRIPTION
 *	Binds the delivery agent (delivery/agent.c) to the role runtime
 *	(role.c): start() opens the queue, the resolver and the TLS client
 *	on the role's loop; reload() hands the agent the new configuration
 *	(it keeps its own copy); stop() closes the agent's handles, after
 *	which the loop ends and the agent has freed itself.
 * DIAGNOSTICS
 *	A start that fails is logged here and made fatal by the runtime.
 */

#include "sealgate.h"

static void delivery_params(const struct sealgate_conf *conf, struct delivery_agent_params *p)
{
	p->conf = &conf->delivery;
	p->main = &conf->main;
	p->queue = &conf->queue;
	p->certs = &conf->certs;
}

static void *delivery_start(uv_loop_t *loop, const struct sealgate_conf *conf)
{
	struct delivery_agent_params p;
	struct delivery_agent *a = NULL;
	int	rc;

	delivery_params(conf, &p);
	if ((rc = delivery_agent_start(loop, &p, &a)) < 0) {
		sg_error("event=delivery_start_failed error=\"%s\"", sg_strerror(rc));
		return (NULL);
	}
	return (a);
}

static enum role_reload delivery_reload(void *state, const struct sealgate_conf *conf)
{
	struct delivery_agent_params p;
	int	rc;

	delivery_params(conf, &p);
	if ((rc = delivery_agent_reload(state, &p)) < 0)
		sg_warn("event=delivery_reload error=\"%s\" detail=\"smarthost credentials "
			"unreadable, the old ones stay (a file only root may read is read "
			"at start, before the role drops privileges)\"", sg_strerror(rc));
	return (ROLE_RELOADED);
}

static void delivery_stop(void *state)
{
	delivery_agent_stop(state);
}

const struct role_ops role_delivery_ops = {
	.name = "delivery",
	.start = delivery_start,
	.reload = delivery_reload,
	.stop = delivery_stop,
	.leases = true,
	.lease_role = QUEUE_ROLE_DELIVERY,
};
