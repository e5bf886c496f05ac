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
 *	Every limit has a default that suits an internet-facing gateway
 *	and bounds that keep it meaningful: at least 100 recipients (RFC
 *	5321 4.5.3.1.8), timeouts of at least a minute for commands (RFC
 *	5321 asks five), a tarpit between 2 and 10 seconds. Every key is
 *	SG_CONF_F_LIVE: a reload gives new sessions a new policy, and a
 *	change of listeners or loops a new smtpd process.
 *
 *	Text lines have two limits, both counting the CRLF and neither below
 *	RFC 5321's 1000 octets: max_line_length for the internet (default
 *	exactly that) and max_line_length_own_servers for own_servers
 *	(default 64K: ERP systems write whole e-invoices, XML or HTML, on
 *	one line). smtpd holds no line in memory, it only counts, so a
 *	generous limit costs nothing here; the worker makes longer lines
 *	legal before the mail leaves (worker/mime_legal.c).
 * DIAGNOSTICS
 *	A hard error limit not above the soft one, or a list file that
 *	cannot be read, is a configuration error.
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

/* check_limits - relations between keys */

static int check_limits(struct sg_conf_ctx *ctx, const config_setting_t *g, void *base)
{
	struct smtpd_conf *c = base;

	if (c->error_hard_limit <= c->error_soft_limit) {
		sg_conf_error(ctx, g ? config_setting_get_member(g, "error_hard_limit") : NULL,
			      "error_hard_limit: must be above error_soft_limit (%lld)",
			      (long long) c->error_soft_limit);
		return (-1);
	}
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
	.elem_rows = listener_rows,.elem_size = sizeof(struct smtpd_listener_conf),
	.flags = SG_CONF_F_LIVE},
	{.name = "max_message_size",.type = SG_CONF_SIZE,.offset = OFF(max_message_size),
	.def = Q("50M"),.min = 1024,.max = (int64_t) 1 << 34,.flags = SG_CONF_F_LIVE},
	{.name = "max_recipients",.type = SG_CONF_INT,.offset = OFF(max_recipients),
	.def = "1000",.min = 100,.max = 100000,.flags = SG_CONF_F_LIVE},
	{.name = "max_connections",.type = SG_CONF_INT,.offset = OFF(max_connections),
	.def = "2000",.min = 1,.max = 1000000,.flags = SG_CONF_F_LIVE},
	{.name = "max_connections_per_client",.type = SG_CONF_INT,
		.offset = OFF(max_connections_per_client),
	.def = "50",.min = 1,.max = 1000000,.flags = SG_CONF_F_LIVE},
	{.name = "command_timeout",.type = SG_CONF_DURATION,.offset = OFF(command_timeout),
	.def = Q("5m"),.min = 1000,.max = 3600000,.flags = SG_CONF_F_LIVE},
	{.name = "data_timeout",.type = SG_CONF_DURATION,.offset = OFF(data_timeout),
	.def = Q("10m"),.min = 1000,.max = 86400000,.flags = SG_CONF_F_LIVE},
	{.name = "min_data_rate",.type = SG_CONF_INT,.offset = OFF(min_data_rate),
	.def = "500",.min = 1,.max = 1000000000,.flags = SG_CONF_F_LIVE},
	{.name = "error_soft_limit",.type = SG_CONF_INT,.offset = OFF(error_soft_limit),
	.def = "10",.min = 0,.max = 1000,.flags = SG_CONF_F_LIVE},
	{.name = "error_hard_limit",.type = SG_CONF_INT,.offset = OFF(error_hard_limit),
	.def = "20",.min = 1,.max = 1000,.flags = SG_CONF_F_LIVE},
	{.name = "tarpit_delay",.type = SG_CONF_DURATION,.offset = OFF(tarpit_delay),
	.def = Q("2s"),.min = 2000,.max = 10000,.flags = SG_CONF_F_LIVE},
	{.name = "greeting_delay",.type = SG_CONF_DURATION,.offset = OFF(greeting_delay),
	.def = "0",.min = 0,.max = 30000,.flags = SG_CONF_F_LIVE},
	{.name = "spill_threshold",.type = SG_CONF_SIZE,.offset = OFF(spill_threshold),
	.def = Q("256K"),.min = 4096,.max = (int64_t) 1 << 30,.flags = SG_CONF_F_LIVE},
	{.name = "min_free",.type = SG_CONF_SIZE,.offset = OFF(min_free),
	.def = Q("100M"),.min = 0,.max = (int64_t) 1 << 50,.flags = SG_CONF_F_LIVE},
	{.name = "max_hops",.type = SG_CONF_INT,.offset = OFF(max_hops),
	.def = "50",.min = 10,.max = 1000,.flags = SG_CONF_F_LIVE},
	{.name = "max_line_length",.type = SG_CONF_SIZE,.offset = OFF(max_line_length),
	.def = "1000",.min = 1000,.max = (int64_t) 1 << 30,.flags = SG_CONF_F_LIVE},
	{.name = "max_line_length_own_servers",.type = SG_CONF_SIZE,
		.offset = OFF(max_line_length_own_servers),
	.def = Q("64K"),.min = 1000,.max = (int64_t) 1 << 30,.flags = SG_CONF_F_LIVE},
	{.name = "recipient_allow_file",.type = SG_CONF_PATH,
		.offset = OFF(recipient_allow_file),
	.flags = SG_CONF_F_FILE | SG_CONF_F_LIVE,.def = Q("")},
	{.name = "recipient_deny_file",.type = SG_CONF_PATH,
		.offset = OFF(recipient_deny_file),
	.flags = SG_CONF_F_FILE | SG_CONF_F_LIVE,.def = Q("")},
	{.name = "strict_single_rule",.type = SG_CONF_BOOL,.offset = OFF(strict_single_rule),
	.def = "false",.flags = SG_CONF_F_LIVE},
	{.name = "loops",.type = SG_CONF_INT,.offset = OFF(loops),
	.def = "1",.min = 0,.max = 64,.check = check_limits,.flags = SG_CONF_F_LIVE},
	SG_CONF_END
};
