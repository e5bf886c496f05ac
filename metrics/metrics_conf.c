/*
 * NAME
 *	metrics_conf 3
 * SUMMARY
 *	the "metrics" section of the configuration
 * SYNOPSIS
 *	#include "metrics/metrics.h"
 *
 *	extern const struct sg_conf_row metrics_conf_rows[];
 * DESCRIPTION
 *	metrics.listen is the address of the Prometheus endpoint, a numeric
 *	"ip:port" (no names: nothing is resolved); "" (the default) means
 *	no endpoint and no metrics process. The master starts the metrics
 *	role only when it is set, so a change takes a restart.
 * DIAGNOSTICS
 *	An address that is not a numeric ip:port is a configuration error.
 */

#include <string.h>

#include "metrics.h"

#define Q(s) "\"" s "\""
#define OFF(f) offsetof(struct metrics_conf, f)

static int check_listen(struct sg_conf_ctx *ctx, const config_setting_t *g, void *base)
{
	const struct metrics_conf *c = base;
	struct sockaddr_storage ss;

	if (*c->listen == 0 || sg_sockaddr_parse(c->listen, strlen(c->listen), &ss) == 0)
		return (0);
	sg_conf_error(ctx, g, "listen: \"%s\" is not a numeric ip:port (e.g. "
		      "\"127.0.0.1:9465\" or \"[::1]:9465\")", c->listen);
	return (SG_EINVAL);
}

const struct sg_conf_row metrics_conf_rows[] = {
	{.name = "listen",.type = SG_CONF_STRING,.offset = OFF(listen),.def = Q(""),
	.check = check_listen},
	SG_CONF_END
};
