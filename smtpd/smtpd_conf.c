/*
 * NAME
 *	smtpd_conf 3
 * SUMMARY
 *	the smtpd section of the configuration
 * SYNOPSIS
 *	#include "smtpd/smtpd.h"
 *
 *	extern const struct sg_conf_row smtpd_conf_rows[];
 * DESCRIPTION
 *	Without a listeners list, smtpd listens on 127.0.0.1:25 only.
 */

#include "smtpd.h"

#define Q(s) "\"" s "\""
#define OFF(f) offsetof(struct smtpd_conf, f)
#define LOFF(f) offsetof(struct smtpd_listener_conf, f)

static const char *const securities[] = {
	"none", "starttls", "starttls-required", "smtps", NULL,
};

/* listener_name - a listener without a name is called by its address */

static int listener_name(struct sg_conf_ctx *ctx, const config_setting_t *g, void *base)
{
	struct smtpd_listener_conf *l = base;

	(void) g;
	if (*l->name == 0)
		l->name = sg_arena_strdup(sg_conf_arena(ctx), l->address);
	return (0);
}

static const struct sg_conf_row listener_rows[] = {
	{.name = "address",.type = SG_CONF_HOSTPORT,.offset = LOFF(address),
	.flags = SG_CONF_F_REQUIRED},
	{.name = "name",.type = SG_CONF_STRING,.offset = LOFF(name),.def = Q(""),
	.check = listener_name},
	{.name = "security",.type = SG_CONF_ENUM,.offset = LOFF(security),
	.def = Q("none"),.choices = securities},
	SG_CONF_END
};

const struct sg_conf_row smtpd_conf_rows[] = {
	{.name = "listeners",.type = SG_CONF_GROUPLIST,.offset = OFF(listeners),
		.def = "( { address = \"127.0.0.1:25\"; } )",
	.elem_rows = listener_rows,.elem_size = sizeof(struct smtpd_listener_conf)},
	{.name = "max_message_size",.type = SG_CONF_SIZE,.offset = OFF(max_message_size),
	.def = Q("50M"),.min = 1024,.max = (int64_t) 1 << 34},
	SG_CONF_END
};
