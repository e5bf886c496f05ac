/*
 * NAME
 *	scan_conf 3
 * SUMMARY
 *	the scan section of the configuration: where clamd is, and its bounds
 * SYNOPSIS
 *	#include "worker/worker.h"
 *
 *	extern const struct sg_conf_row worker_scan_conf_rows[];
 *
 *	bool	worker_field_name(s)
 * DESCRIPTION
 *	"scan = { clamd = ...; };" names the clamd that rules with scan =
 *	true stream their mail to (worker/scan.c). clamd is an absolute
 *	Unix socket path or a numeric IP:port (worker_scan_addr_parse());
 *	empty, no rule may scan (worker_conf.c checks that, since the rules
 *	are in the worker section). timeout bounds one whole scan, so a
 *	hung clamd costs a crypto thread that long at most per message;
 *	max_size is the largest message sent to clamd, which must be no
 *	more than clamd's StreamMaxLength; on_too_large decides what
 *	happens to a larger one. A message whose rule defers it while the
 *	scan fails is scanned again every retry, and held once max_defer
 *	has passed since its arrival. Every key is SG_CONF_F_LIVE: the crypto
 *	threads take them with the rules' snapshot.
 *
 *	worker_field_name() tells whether s may name a header field that
 *	the worker writes (this one, and the worker's result_header).
 * DIAGNOSTICS
 *	A bad address or header name is an error naming the key.
 */

#include <string.h>

#include "worker.h"

#define Q(s) "\"" s "\""
#define OFF(f) offsetof(struct worker_scan_conf, f)


/* worker_field_name - a header field name: printable, no blank, no colon */

bool	worker_field_name(const char *s)
{
	size_t	n = strlen(s);

	for (size_t i = 0; i < n; i++)
		if ((unsigned char) s[i] <= ' ' || (unsigned char) s[i] >= 0x7f || s[i] == ':')
			return (false);
	return (n > 0 && n <= 64);
}

static int check_scan(struct sg_conf_ctx *ctx, const config_setting_t *g, void *base)
{
	struct worker_scan_conf *c = base;
	struct worker_scan_addr a;
	int	bad = 0;

	if (*c->clamd && worker_scan_addr_parse(c->clamd, strlen(c->clamd), &a) < 0) {
		sg_conf_error(ctx, g ? config_setting_get_member(g, "clamd") : NULL,
			      "clamd: \"%s\" is neither an absolute socket path (under 108 bytes) "
			      "nor a numeric IP:port (no host names: no DNS on a message's path)",
			      c->clamd);
		bad++;
	}
	if (!worker_field_name(c->header)) {
		sg_conf_error(ctx, g ? config_setting_get_member(g, "header") : NULL,
			      "header: not a header field name \"%s\"", c->header);
		bad++;
	}
	return (bad ? SG_EINVAL : 0);
}

const struct sg_conf_row worker_scan_conf_rows[] = {
	{.name = "clamd",.type = SG_CONF_STRING,.offset = OFF(clamd),.def = Q(""),
	.flags = SG_CONF_F_LIVE},
	{.name = "timeout",.type = SG_CONF_DURATION,.offset = OFF(timeout_ms),.def = Q("30s"),
	.min = 100,.max = 600000,.flags = SG_CONF_F_LIVE},
	{.name = "max_size",.type = SG_CONF_SIZE,.offset = OFF(max_size),.def = Q("25M"),
	.min = 1024,.max = 4294967295LL,.flags = SG_CONF_F_LIVE},
	{.name = "on_too_large",.type = SG_CONF_ENUM,.offset = OFF(on_too_large),
	.def = Q("pass-tagged"),.choices = sg_rule_virus_names,.flags = SG_CONF_F_LIVE},
	{.name = "retry",.type = SG_CONF_DURATION,.offset = OFF(retry_ms),.def = Q("1m"),
	.min = 1000,.max = 3600000,.flags = SG_CONF_F_LIVE},
	{.name = "max_defer",.type = SG_CONF_DURATION,.offset = OFF(max_defer_ms),
	.def = Q("5d"),.min = 1000,.max = 365LL * 86400000,.flags = SG_CONF_F_LIVE},
	{.name = "header",.type = SG_CONF_STRING,.offset = OFF(header),
	.def = Q("X-Sealgate-Scan"),.flags = SG_CONF_F_LIVE,.check = check_scan},
	SG_CONF_END
};
