/*
 * NAME
 *	worker_conf 3
 * SUMMARY
 *	the worker section of the configuration
 * SYNOPSIS
 *	#include "worker/worker.h"
 *
 *	extern const struct sg_conf_row worker_conf_rows[];
 * DESCRIPTION
 *	The rules list uses the element table of common/rules.c, so smtpd
 *	and the worker read the very same rules. Without a rules list every
 *	message passes unchanged. A reload hands the pool a new snapshot of
 *	every key (SG_CONF_F_LIVE) but threads: the pool is made at start.
 */

#include <string.h>

#include "worker.h"

#define Q(s) "\"" s "\""
#define OFF(f) offsetof(struct worker_conf, f)

/* check_header - the result header name must be a header field name */

static int check_header(struct sg_conf_ctx *ctx, const config_setting_t *g, void *base)
{
	struct worker_conf *w = base;
	size_t	n = strlen(w->result_header);

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char) w->result_header[i];

		if (c <= ' ' || c >= 0x7f || c == ':')
			n = 0;
	}
	if (n == 0 || n > 64) {
		sg_conf_error(ctx, g ? config_setting_get_member(g, "result_header") : NULL,
			      "result_header: not a header field name \"%s\"", w->result_header);
		return (SG_EINVAL);
	}
	if (*w->notify && !sg_rule_pattern_valid(w->notify)) {
		sg_conf_error(ctx, g ? config_setting_get_member(g, "notify") : NULL,
			      "notify: not a mail address \"%s\"", w->notify);
		return (SG_EINVAL);
	}
	return (0);
}

const struct sg_conf_row worker_conf_rows[] = {
	{.name = "threads",.type = SG_CONF_INT,.offset = OFF(threads),.def = "0",
	.min = 0,.max = 256},
	{.name = "batch",.type = SG_CONF_INT,.offset = OFF(batch),.def = "16",
	.min = 1,.max = 1024,.flags = SG_CONF_F_LIVE},
	{.name = "rules",.type = SG_CONF_GROUPLIST,.offset = OFF(rules),.def = "( )",
	.elem_rows = sg_rule_rows,.elem_size = sizeof(struct sg_rule),
	.flags = SG_CONF_F_LIVE},
	{.name = "result_header",.type = SG_CONF_STRING,.offset = OFF(result_header),
	.def = Q("X-Sealgate-Signature"),.flags = SG_CONF_F_LIVE},
	{.name = "notify",.type = SG_CONF_STRING,.offset = OFF(notify),.def = Q(""),
	.flags = SG_CONF_F_LIVE},
	{.name = "notify_max_per_hour",.type = SG_CONF_INT,.offset = OFF(notify_max_per_hour),
	.def = "60",.min = 0,.max = 100000,.check = check_header,.flags = SG_CONF_F_LIVE},
	{.name = "housekeeping",.type = SG_CONF_DURATION,.offset = OFF(housekeeping_ms),
	.def = Q("1m"),.min = 100,.max = 86400000,.flags = SG_CONF_F_LIVE},
	SG_CONF_END
};
