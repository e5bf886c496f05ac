/*
 * NAME
 *	delivery_conf 3
 * SUMMARY
 *	the delivery section of the configuration
 * SYNOPSIS
 *	#include "delivery/delivery.h"
 *
 *	extern const struct sg_conf_row delivery_conf_rows[];
 * DESCRIPTION
 *	Every key has a default and bounds, and is SG_CONF_F_LIVE: the agent
 *	applies a reload to new mail, and the resolver to new lookups.
 *	Durations default like Postfix:
 *	retries start at 5 minutes and double up to an hour, a message lives
 *	5 days, SMTP stages wait as RFC 5321 section 4.5.3.2 asks.
 *
 *	Checks across keys: each route needs at least one valid host:port;
 *	a smarthost with AUTH needs a readable credentials file and a TLS
 *	policy of at least "required", since AUTH is never sent in
 *	plaintext; retry_min must not exceed retry_max; DANE anywhere
 *	(dane, or a tls_policies entry's dane) needs dns_servers, all on
 *	this host, since the resolver's AD bit is believed; a tls_policies
 *	entry needs a policy or a dane mode.
 * DIAGNOSTICS
 *	Errors are collected by the config engine as FILE:LINE: messages.
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "delivery.h"

#define Q(s) "\"" s "\""
#define OFF(f) offsetof(struct delivery_conf, f)
#define ROFF(f) offsetof(struct delivery_route_conf, f)
#define TOFF(f) offsetof(struct delivery_tlspol_conf, f)

static const char *const tls_levels[] = {
	"none", "opportunistic", "required", "verify", NULL,
};

/* A tls_policies entry may leave the level unset (a DANE mode alone). */
static const char *const entry_levels[] = {
	"none", "opportunistic", "required", "verify", "unset", NULL,
};

static const char *const dane_modes[] = {
	"off", "opportunistic", "required", NULL,
};

static const char *const entry_dane_modes[] = {
	"off", "opportunistic", "required", "inherit", NULL,
};

static const char *const auth_mechs[] = {
	"none", "plain", "login", NULL,
};

/* check_route - a route has domains and hosts that parse */

static int check_route(struct sg_conf_ctx *ctx, const config_setting_t *g, void *base)
{
	struct delivery_route_conf *r = base;
	char	host[256];
	unsigned port;
	int	bad = 0;

	if (r->domains.n == 0 || r->hosts.n == 0) {
		sg_conf_error(ctx, g, "routes: a route needs domains and hosts");
		return (SG_EINVAL);
	}
	for (size_t i = 0; i < r->hosts.n; i++) {
		const char *h = r->hosts.v[i];

		if (sg_hostport_parse(h, strlen(h), host, sizeof(host), &port, 0) < 0) {
			sg_conf_error(ctx, g, "routes: invalid host \"%s\" (want host:port)", h);
			bad++;
		}
	}
	return (bad ? SG_EINVAL : 0);
}

static const struct sg_conf_row route_rows[] = {
	{.name = "domains",.type = SG_CONF_DOMAINLIST,.offset = ROFF(domains),
	.flags = SG_CONF_F_REQUIRED},
	{.name = "hosts",.type = SG_CONF_STRLIST,.offset = ROFF(hosts),
	.flags = SG_CONF_F_REQUIRED},
	{.name = "tls",.type = SG_CONF_ENUM,.offset = ROFF(tls),.def = Q("opportunistic"),
	.choices = tls_levels,.check = check_route},
	SG_CONF_END
};

/* check_tlspol - an entry says something: a level, a DANE mode or both */

static int check_tlspol(struct sg_conf_ctx *ctx, const config_setting_t *g, void *base)
{
	struct delivery_tlspol_conf *t = base;

	if (t->policy == DELIVERY_TLS_UNSET && t->dane == DELIVERY_DANE_INHERIT) {
		sg_conf_error(ctx, g, "tls_policies: an entry needs a policy, a dane mode "
			      "or both");
		return (SG_EINVAL);
	}
	return (0);
}

static const struct sg_conf_row tlspol_rows[] = {
	{.name = "domains",.type = SG_CONF_DOMAINLIST,.offset = TOFF(domains),
	.flags = SG_CONF_F_REQUIRED},
	{.name = "policy",.type = SG_CONF_ENUM,.offset = TOFF(policy),
	.def = Q("unset"),.choices = entry_levels},
	{.name = "dane",.type = SG_CONF_ENUM,.offset = TOFF(dane),
	.def = Q("inherit"),.choices = entry_dane_modes,.check = check_tlspol},
	SG_CONF_END
};

static bool loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((ntohl(((const struct sockaddr_in *) ss)->sin_addr.s_addr) >> 24) == 127);
	return (ss->ss_family == AF_INET6
		&& IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *) ss)->sin6_addr));
}

/*
 * check_dane_resolver - the AD bit is believed only from a resolver on
 * this host: on any other path an attacker could set it.
 */
static int check_dane_resolver(struct sg_conf_ctx *ctx, const config_setting_t *g,
			       const struct delivery_conf *c)
{
	const struct delivery_tlspol_conf *t = c->tls_policies.v;
	bool	used = c->dane != DELIVERY_DANE_OFF;
	int	bad = 0;

	for (size_t i = 0; i < c->tls_policies.n; i++)
		used |= t[i].dane == DELIVERY_DANE_MAY || t[i].dane == DELIVERY_DANE_REQUIRED;
	if (!used)
		return (0);
	if (c->dns_servers.n == 0) {
		sg_conf_error(ctx, g, "dane needs dns_servers: a validating resolver on this "
			      "host (127.0.0.1 or ::1)");
		return (SG_EINVAL);
	}
	for (size_t i = 0; i < c->dns_servers.n; i++) {
		const char *s = c->dns_servers.v[i];
		struct sockaddr_storage ss;

		if (sg_sockaddr_parse(s, strlen(s), &ss) == 0 && !loopback(&ss)) {
			sg_conf_error(ctx, g, "dane: dns_servers \"%s\" is not on this host; "
				      "its AD bit cannot be trusted", s);
			bad++;
		}
	}
	return (bad ? SG_EINVAL : 0);
}

/* check_delivery - relations between keys */

static int check_delivery(struct sg_conf_ctx *ctx, const config_setting_t *g, void *base)
{
	struct delivery_conf *c = base;
	int	bad = 0;

	if (c->retry_min > c->retry_max) {
		sg_conf_error(ctx, g, "retry_min is larger than retry_max");
		bad++;
	}
	for (size_t i = 0; i < c->dns_servers.n; i++) {
		struct sockaddr_storage ss;
		const char *s = c->dns_servers.v[i];

		if (sg_sockaddr_parse(s, strlen(s), &ss) < 0) {
			sg_conf_error(ctx, g, "dns_servers: \"%s\" is not a numeric ip:port", s);
			bad++;
		}
	}
	if (check_dane_resolver(ctx, g, c) < 0)
		bad++;
	if (*c->smarthost) {
		char	host[256];
		unsigned port;

		if (sg_hostport_parse(c->smarthost, strlen(c->smarthost), host, sizeof(host),
				      &port, 25) < 0) {
			sg_conf_error(ctx, g, "smarthost: invalid \"%s\" (want host:port)",
				      c->smarthost);
			bad++;
		}
	}
	if (c->smarthost_auth != DELIVERY_AUTH_NONE) {
		if (*c->smarthost == 0) {
			sg_conf_error(ctx, g, "smarthost_auth is set but smarthost is not");
			bad++;
		}
		if (*c->smarthost_credentials == 0
		    || access(c->smarthost_credentials, R_OK) != 0) {
			sg_conf_error(ctx, g, "smarthost_credentials: need a readable file "
				      "with the user and the password when smarthost_auth is set");
			bad++;
		}
		if (c->smarthost_tls < DELIVERY_TLS_ENCRYPT) {
			sg_conf_error(ctx, g, "smarthost_tls must be \"required\" or \"verify\" "
				      "with smarthost_auth: AUTH is never sent in plaintext");
			bad++;
		}
	}
	return (bad ? SG_EINVAL : 0);
}

const struct sg_conf_row delivery_conf_rows[] = {
	{.name = "smtp_port",.type = SG_CONF_INT,.offset = OFF(smtp_port),.def = "25",
	.min = 1,.max = 65535,.flags = SG_CONF_F_LIVE},
	{.name = "max_connections",.type = SG_CONF_INT,.offset = OFF(max_connections),
	.def = "100",.min = 1,.max = 100000,.flags = SG_CONF_F_LIVE},
	{.name = "destination_concurrency",.type = SG_CONF_INT,
		.offset = OFF(destination_concurrency),.def = "20",.min = 1,
	.max = 100000,.flags = SG_CONF_F_LIVE},
	{.name = "dns_servers",.type = SG_CONF_STRLIST,.offset = OFF(dns_servers),
	.def = "[]",.flags = SG_CONF_F_LIVE},
	{.name = "dns_timeout",.type = SG_CONF_DURATION,.offset = OFF(dns_timeout),
	.def = Q("5s"),.min = 50,.max = 60000,.flags = SG_CONF_F_LIVE},
	{.name = "dns_tries",.type = SG_CONF_INT,.offset = OFF(dns_tries),.def = "2",
	.min = 1,.max = 10,.flags = SG_CONF_F_LIVE},
	{.name = "routes",.type = SG_CONF_GROUPLIST,.offset = OFF(routes),.def = "()",
		.elem_rows = route_rows,
	.elem_size = sizeof(struct delivery_route_conf),.flags = SG_CONF_F_LIVE},
	{.name = "smarthost",.type = SG_CONF_STRING,.offset = OFF(smarthost),.def = Q(""),
	.flags = SG_CONF_F_LIVE},
	{.name = "smarthost_tls",.type = SG_CONF_ENUM,.offset = OFF(smarthost_tls),
	.def = Q("opportunistic"),.choices = tls_levels,.flags = SG_CONF_F_LIVE},
	{.name = "smarthost_auth",.type = SG_CONF_ENUM,.offset = OFF(smarthost_auth),
	.def = Q("none"),.choices = auth_mechs,.flags = SG_CONF_F_LIVE},
	{.name = "smarthost_credentials",.type = SG_CONF_PATH,
	.offset = OFF(smarthost_credentials),.def = Q(""),.flags = SG_CONF_F_LIVE},
	{.name = "tls_policy",.type = SG_CONF_ENUM,.offset = OFF(tls_policy),
	.def = Q("opportunistic"),.choices = tls_levels,.flags = SG_CONF_F_LIVE},
	{.name = "dane",.type = SG_CONF_ENUM,.offset = OFF(dane),.def = Q("off"),
	.choices = dane_modes,.flags = SG_CONF_F_LIVE},
	{.name = "mta_sts",.type = SG_CONF_BOOL,.offset = OFF(mta_sts),.def = "false",
	.flags = SG_CONF_F_LIVE},
	{.name = "sts_ca_file",.type = SG_CONF_PATH,.offset = OFF(sts_ca_file),.def = Q(""),
	.flags = SG_CONF_F_LIVE},
	{.name = "sts_port",.type = SG_CONF_INT,.offset = OFF(sts_port),.def = "443",
	.min = 1,.max = 65535,.flags = SG_CONF_F_LIVE},
	{.name = "sts_fetch_timeout",.type = SG_CONF_DURATION,.offset = OFF(sts_fetch_timeout),
	.def = Q("30s"),.min = 100,.max = 600000,.flags = SG_CONF_F_LIVE},
	{.name = "tlsrpt",.type = SG_CONF_BOOL,.offset = OFF(tlsrpt),.def = "false",
	.flags = SG_CONF_F_LIVE},
	{.name = "tlsrpt_period",.type = SG_CONF_DURATION,.offset = OFF(tlsrpt_period),
	.def = Q("1d"),.min = 1000,.max = 7 * 86400000LL,.flags = SG_CONF_F_LIVE},
	{.name = "tls_policies",.type = SG_CONF_GROUPLIST,.offset = OFF(tls_policies),
		.def = "()",.elem_rows = tlspol_rows,
	.elem_size = sizeof(struct delivery_tlspol_conf),.flags = SG_CONF_F_LIVE},
	{.name = "retry_min",.type = SG_CONF_DURATION,.offset = OFF(retry_min),
	.def = Q("5m"),.min = 100,.max = 7 * 86400000LL,.flags = SG_CONF_F_LIVE},
	{.name = "retry_max",.type = SG_CONF_DURATION,.offset = OFF(retry_max),
	.def = Q("1h"),.min = 100,.max = 7 * 86400000LL,.flags = SG_CONF_F_LIVE},
	{.name = "max_lifetime",.type = SG_CONF_DURATION,.offset = OFF(max_lifetime),
	.def = Q("5d"),.min = 100,.max = 100 * 86400000LL,.flags = SG_CONF_F_LIVE},
	{.name = "delay_warning",.type = SG_CONF_DURATION,.offset = OFF(delay_warning),
	.def = Q("0"),.min = 0,.max = 100 * 86400000LL,.flags = SG_CONF_F_LIVE},
	{.name = "connect_timeout",.type = SG_CONF_DURATION,.offset = OFF(connect_timeout),
	.def = Q("30s"),.min = 10,.max = 3600000,.flags = SG_CONF_F_LIVE},
	{.name = "greeting_timeout",.type = SG_CONF_DURATION,
	.offset = OFF(greeting_timeout),.def = Q("5m"),.min = 10,.max = 3600000,
	.flags = SG_CONF_F_LIVE},
	{.name = "helo_timeout",.type = SG_CONF_DURATION,.offset = OFF(helo_timeout),
	.def = Q("5m"),.min = 10,.max = 3600000,.flags = SG_CONF_F_LIVE},
	{.name = "starttls_timeout",.type = SG_CONF_DURATION,
	.offset = OFF(starttls_timeout),.def = Q("5m"),.min = 10,.max = 3600000,
	.flags = SG_CONF_F_LIVE},
	{.name = "mail_timeout",.type = SG_CONF_DURATION,.offset = OFF(mail_timeout),
	.def = Q("5m"),.min = 10,.max = 3600000,.flags = SG_CONF_F_LIVE},
	{.name = "rcpt_timeout",.type = SG_CONF_DURATION,.offset = OFF(rcpt_timeout),
	.def = Q("5m"),.min = 10,.max = 3600000,.flags = SG_CONF_F_LIVE},
	{.name = "data_timeout",.type = SG_CONF_DURATION,.offset = OFF(data_timeout),
	.def = Q("2m"),.min = 10,.max = 3600000,.flags = SG_CONF_F_LIVE},
	{.name = "data_block_timeout",.type = SG_CONF_DURATION,
	.offset = OFF(data_block_timeout),.def = Q("3m"),.min = 10,.max = 3600000,
	.flags = SG_CONF_F_LIVE},
	{.name = "dot_timeout",.type = SG_CONF_DURATION,.offset = OFF(dot_timeout),
	.def = Q("10m"),.min = 10,.max = 3600000,.flags = SG_CONF_F_LIVE},
	{.name = "quit_timeout",.type = SG_CONF_DURATION,.offset = OFF(quit_timeout),
	.def = Q("5m"),.min = 10,.max = 3600000,.flags = SG_CONF_F_LIVE},
	{.name = "reuse_time",.type = SG_CONF_DURATION,.offset = OFF(reuse_time),
	.def = Q("5s"),.min = 0,.max = 3600000,.flags = SG_CONF_F_LIVE},
	{.name = "reuse_count",.type = SG_CONF_INT,.offset = OFF(reuse_count),
	.def = "100",.min = 1,.max = 1000000,.flags = SG_CONF_F_LIVE},
	{.name = "max_recipients",.type = SG_CONF_INT,.offset = OFF(max_recipients),
	.def = "100",.min = 1,.max = 10000,.flags = SG_CONF_F_LIVE},
	{.name = "ehlo_name",.type = SG_CONF_STRING,.offset = OFF(ehlo_name),.def = Q(""),
	.flags = SG_CONF_F_LIVE},
	{.name = "scan_interval",.type = SG_CONF_DURATION,.offset = OFF(scan_interval),
	.def = Q("1s"),.min = 10,.max = 3600000,.check = check_delivery,
	.flags = SG_CONF_F_LIVE},
	SG_CONF_END
};
