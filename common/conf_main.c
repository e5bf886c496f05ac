/*
 * NAME
 *	conf_main 3
 * SUMMARY
 *	the top-level configuration keys every program shares
 * SYNOPSIS
 *	#include "common/sg.h"
 *
 *	extern const struct sg_conf_row sg_conf_main_rows[];
 *
 *	bool	sg_conf_run_ids(main, &uid, &gid)
 *	bool	sg_conf_worker_ids(main, &uid, &gid)
 *	bool	sg_conf_worker_apart(main)
 * DESCRIPTION
 *	state_dir is the only key without a default. hostname defaults to
 *	the system's name; user, group and worker_user, when set, must
 *	exist, and worker_user needs user (a worker that drops privileges
 *	beside roles that keep root protects nothing). state_dir, user,
 *	group, worker_user and pidfile are used at start only; the others
 *	are SG_CONF_F_LIVE (each role and the master apply them on SIGHUP).
 *
 *	sg_conf_run_ids() looks up the user smtpd and delivery run as, and
 *	sg_conf_worker_ids() the one the worker runs as (worker_user, else
 *	user) with the same group: the one place that turns user, group and
 *	worker_user into ids. sg_conf_worker_apart() says whether those are
 *	two different users, which is what keeps the private keys from the
 *	roles that face the network.
 */

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "sg.h"

#define Q(s) "\"" s "\""
#define OFF(f) offsetof(struct sg_conf_main, f)

const char *const sg_conf_facilities[] = {
	"mail", "daemon", "local0", "local1", "local2", "local3",
	"local4", "local5", "local6", "local7", NULL,
};

int	sg_conf_facility_value(int index)
{
	static const int values[] = {
		LOG_MAIL, LOG_DAEMON, LOG_LOCAL0, LOG_LOCAL1, LOG_LOCAL2,
		LOG_LOCAL3, LOG_LOCAL4, LOG_LOCAL5, LOG_LOCAL6, LOG_LOCAL7,
	};

	return (index >= 0 && (size_t) index < SG_NELEM(values) ? values[index] : LOG_MAIL);
}

static const char *const log_levels[] = {
	"debug", "info", "notice", "warning", "error", NULL,
};

/* check_worker_user - worker_user exists, and comes with a user */

static int check_worker_user(struct sg_conf_ctx *ctx, const config_setting_t *g,
			     const struct sg_conf_main *m)
{
	const config_setting_t *s = g ? config_setting_get_member(g, "worker_user") : NULL;

	if (*m->worker_user == 0)
		return (0);
	if (getpwnam(m->worker_user) == NULL) {
		sg_conf_error(ctx, s, "worker_user: no such user \"%s\"", m->worker_user);
		return (1);
	}
	if (*m->user == 0) {
		sg_conf_error(ctx, s, "worker_user: needs user (the user smtpd and delivery run "
			      "as); without one every role keeps the user that started it");
		return (1);
	}
	return (0);
}

/* check_identity - fill in the host name; user, group and worker_user must exist */

static int check_identity(struct sg_conf_ctx *ctx, const config_setting_t *g, void *base)
{
	struct sg_conf_main *m = base;
	int	bad = 0;

	if (*m->hostname == 0) {
		char	name[256];

		if (gethostname(name, sizeof(name)) < 0)
			snprintf(name, sizeof(name), "localhost");
		name[sizeof(name) - 1] = 0;
		m->hostname = sg_arena_strdup(sg_conf_arena(ctx), name);
	} else if (!sg_domain_valid(m->hostname, strlen(m->hostname))) {
		sg_conf_error(ctx, g ? config_setting_get_member(g, "hostname") : NULL,
			      "hostname: invalid host name \"%s\"", m->hostname);
		bad++;
	}
	if (*m->user && getpwnam(m->user) == NULL) {
		sg_conf_error(ctx, config_setting_get_member(g, "user"),
			      "user: no such user \"%s\"", m->user);
		bad++;
	}
	if (*m->group && getgrnam(m->group) == NULL) {
		sg_conf_error(ctx, config_setting_get_member(g, "group"),
			      "group: no such group \"%s\"", m->group);
		bad++;
	}
	return (bad + check_worker_user(ctx, g, m) ? SG_EINVAL : 0);
}

bool	sg_conf_run_ids(const struct sg_conf_main *m, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;
	struct group *gr;

	if (m->user == NULL || *m->user == 0 || (pw = getpwnam(m->user)) == NULL)
		return (false);
	*uid = pw->pw_uid;
	*gid = m->group && *m->group && (gr = getgrnam(m->group)) ? gr->gr_gid : pw->pw_gid;
	return (true);
}

bool	sg_conf_worker_ids(const struct sg_conf_main *m, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;

	if (!sg_conf_run_ids(m, uid, gid))
		return (false);
	if (m->worker_user && *m->worker_user) {
		if ((pw = getpwnam(m->worker_user)) == NULL)
			return (false);
		*uid = pw->pw_uid;
	}
	return (true);
}

bool	sg_conf_worker_apart(const struct sg_conf_main *m)
{
	uid_t	run, worker;
	gid_t	gid;

	return (sg_conf_run_ids(m, &run, &gid) && sg_conf_worker_ids(m, &worker, &gid)
		&& run != worker);
}

const struct sg_conf_row sg_conf_main_rows[] = {
	{.name = "state_dir",.type = SG_CONF_PATH,.offset = OFF(state_dir),
	.flags = SG_CONF_F_REQUIRED | SG_CONF_F_DIR},
	{.name = "hostname",.type = SG_CONF_STRING,.offset = OFF(hostname),.def = Q(""),
	.check = check_identity,.flags = SG_CONF_F_LIVE},
	{.name = "user",.type = SG_CONF_STRING,.offset = OFF(user),.def = Q("")},
	{.name = "group",.type = SG_CONF_STRING,.offset = OFF(group),.def = Q("")},
	{.name = "worker_user",.type = SG_CONF_STRING,.offset = OFF(worker_user),.def = Q("")},
	{.name = "log_level",.type = SG_CONF_ENUM,.offset = OFF(log_level),
	.def = Q("info"),.choices = log_levels,.flags = SG_CONF_F_LIVE},
	{.name = "syslog_facility",.type = SG_CONF_ENUM,.offset = OFF(syslog_facility),
	.def = Q("mail"),.choices = sg_conf_facilities,.flags = SG_CONF_F_LIVE},
	{.name = "pidfile",.type = SG_CONF_PATH,.offset = OFF(pidfile),.def = Q("")},
	{.name = "own_domains",.type = SG_CONF_DOMAINLIST,.offset = OFF(own_domains),
	.def = "[]",.flags = SG_CONF_F_LIVE},
	{.name = "own_servers",.type = SG_CONF_CIDRLIST,.offset = OFF(own_servers),
	.def = "[]",.flags = SG_CONF_F_LIVE},
	SG_CONF_END
};
