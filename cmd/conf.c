/*
 * NAME
 *	conf 3
 * SUMMARY
 *	load the whole sealgate configuration
 * SYNOPSIS
 *	#include "cmd/sealgate.h"
 *
 *	struct sealgate_conf *sealgate_conf_load(file, errors)
 *	void	sealgate_conf_free(conf)
 *	void	sealgate_conf_print_defaults(fp)
 *	void	sealgate_conf_print_table(fp)
 *	void	sealgate_conf_print(conf, all, fp)
 *	int	sealgate_conf_reloaded(running, new, log, changed)
 *	void	sealgate_conf_keep_running(new, running)
 *	void	sealgate_state_dir(main)
 *	int	sealgate_owner_mode(fd, uid, gid, mode)
 *	void	sealgate_log_apply(main)
 * DESCRIPTION
 *	sealgate_conf_load() reads and checks file against the top-level
 *	table and every component's section table. It returns NULL and
 *	leaves one "FILE:LINE: message" line per problem in errors.
 *
 *	sealgate_conf_print_defaults() prints every key with its default,
 *	as "section.key = value;", for sealgated -d; a key a running gateway
 *	does not apply on SIGHUP (no SG_CONF_F_LIVE) is followed by
 *	"# needs restart".
 *
 *	sealgate_conf_print_table() prints the tables themselves for the
 *	manual sealgate.conf(5) (sealgated --keys; dist/man/conf-man.py):
 *	one row a line, tab-separated: key, type, default ("" when the key
 *	is required), "live" or "restart", "required" or "", min and max
 *	("" when unbounded; durations in ms, sizes in bytes) and the
 *	choices of an enum, comma-separated. The keys of a list of groups
 *	(smtpd.listeners) follow it as "smtpd.listeners[].address", with
 *	the list's live flag. sealgate_conf_print() prints the effective
 *	configuration conf was loaded as, in the same form: the keys its
 *	file sets to other than their defaults, or with all every key
 *	(sealgated -n -d [-a], sealctl config show [--all]).
 *
 *	sealgate_conf_reloaded() compares the configuration a process runs
 *	with and a new one just loaded. With log, each changed key is
 *	logged: "event=reload_changed key=K" when it takes effect,
 *	"event=reload_partial key=K needs=restart" when it does not. Then
 *	new keeps the running value of every such key
 *	(sealgate_conf_keep_running()), so that it describes what runs and
 *	the next reload compares against that. It returns the number of
 *	keys that need a restart and sets *changed to the number changed.
 *
 *	sealgate_log_apply() sets the process's log level and syslog
 *	facility from the configuration, at start and on SIGHUP.
 *
 *	sealgate_state_dir() creates the state directory when it is missing
 *	and, run as root with a user configured, hands it to that user,
 *	unless that user can write it already (owner, or group with rwx).
 *	When the worker runs as a user of its own (worker_user), the group
 *	gets rwx too: the worker makes its wake-up socket there.
 *
 *	sealgate_owner_mode() gives the file open as fd to uid:gid with mode;
 *	0, or -1 with errno. Run as root under the unit, which grants
 *	CAP_CHOWN but not CAP_FOWNER, root cannot change the mode of a file
 *	it does not own: it takes the file first, and only when the mode is
 *	wrong.
 *
 *	With a cluster configured (cluster.postgres), the queue keeps an
 *	outbox of at most cluster.outbox_max entries (queue_conf.outbox_max,
 *	set here: every process that opens the queue writes it alike).
 *
 *	Beyond the tables, sealgate_conf_load() checks what spans sections:
 *	with the worker apart (sg_conf_worker_apart()), smtpd must take its
 *	TLS server key from a database of its own (certs.tls_db_dir), since
 *	the S/MIME key database is the worker's alone; and with a clamd
 *	configured, one virus scan (scan.timeout) must take at most half of
 *	the worker's claim on a message (queue.lease).
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sealgate.h"

#define SECTION(n, rows, member) { n, rows, offsetof(struct sealgate_conf, member) }

static const struct sg_conf_section sections[] = {
	SECTION(NULL, sg_conf_main_rows, main),
	SECTION("queue", queue_conf_rows, queue),
	SECTION("certs", certs_conf_rows, certs),
	SECTION("smtpd", smtpd_conf_rows, smtpd),
	/* before worker: its check needs scan.clamd; the struct is the worker's */
	SECTION("scan", worker_scan_conf_rows, worker.scan),
	SECTION("worker", worker_conf_rows, worker),
	SECTION("delivery", delivery_conf_rows, delivery),
	SECTION("metrics", metrics_conf_rows, metrics),
	SECTION("cluster", cluster_conf_rows, cluster),
};

/* same_dir - do two configured directories name the same one? */

static bool same_dir(const char *a, const char *b)
{
	char	ra[PATH_MAX], rb[PATH_MAX];
	size_t	la = strlen(a), lb = strlen(b);

	if (realpath(a, ra) && realpath(b, rb))
		return (strcmp(ra, rb) == 0);
	while (la > 1 && a[la - 1] == '/')
		la--;
	while (lb > 1 && b[lb - 1] == '/')
		lb--;
	return (la == lb && memcmp(a, b, la) == 0);
}

/*
 * check_tls_db_apart - with the worker apart, a TLS listener needs smtpd's
 * own database: the S/MIME key database is not smtpd's to open
 */
static int check_tls_db_apart(const struct sealgate_conf *c, struct sg_buf *errors)
{
	const struct smtpd_listener_conf *l = c->smtpd.listeners.v;
	struct sg_buf main_db = SG_BUF_INIT;
	bool	tls = false, bad;

	for (size_t i = 0; i < c->smtpd.listeners.n; i++)
		tls |= l[i].security != SMTPD_SEC_NONE;
	if (!tls || !sg_conf_worker_apart(&c->main))
		return (0);
	if (*c->certs.db_dir)
		sg_buf_puts(&main_db, c->certs.db_dir);
	else
		sg_buf_printf(&main_db, "%s/nssdb", c->main.state_dir);
	bad = *c->certs.tls_db_dir == 0 || same_dir(c->certs.tls_db_dir, main_db.data);
	if (bad)
		sg_buf_printf(errors, "%s: certs.tls_db_dir: a TLS listener needs smtpd's own "
			      "database when worker_user is set (the S/MIME key database %s is the "
			      "worker's alone); import the server certificate there with "
			      "\"sealctl cert --tls import\"\n", c->file, main_db.data);
	sg_buf_free(&main_db);
	return (bad ? SG_EINVAL : 0);
}

/*
 * check_scan_timeout - one scan must end well within the worker's claim on
 * the message, or another worker takes it over while clamd still reads it
 */
static int check_scan_timeout(const struct sealgate_conf *c, struct sg_buf *errors)
{
	if (*c->worker.scan.clamd == 0 || c->worker.scan.timeout_ms * 2 <= c->queue.lease_ms)
		return (0);			/* no scans, or they fit */
	sg_buf_printf(errors, "%s: scan.timeout: %lld ms is more than half of queue.lease "
		      "(%lld ms): a scan must end well within the worker's claim on a message\n",
		      c->file, (long long) c->worker.scan.timeout_ms,
		      (long long) c->queue.lease_ms);
	return (SG_EINVAL);
}

struct sealgate_conf *sealgate_conf_load(const char *file, struct sg_buf *errors)
{
	struct sg_arena *arena = sg_arena_new();
	struct sealgate_conf *c = sg_arena_alloc(arena, sizeof(*c));
	char	abs[PATH_MAX];

	c->arena = arena;
	c->file = sg_arena_strdup(arena, realpath(file, abs) ? abs : file);
	if (sg_conf_load(c->file, sections, SG_NELEM(sections), c, arena, errors) < 0
	    || check_tls_db_apart(c, errors) < 0 || check_scan_timeout(c, errors) < 0) {
		sg_arena_free(arena);
		return (NULL);
	}
	if (*c->main.pidfile == 0) {
		size_t	n = strlen(c->main.state_dir) + sizeof("/sealgated.pid");

		c->main.pidfile = sg_arena_alloc(arena, n);
		snprintf(c->main.pidfile, n, "%s/sealgated.pid", c->main.state_dir);
	}
	/* every process that writes tracking or incidents keeps the outbox */
	c->queue.outbox_max = cluster_configured(&c->cluster) ? (uint64_t) c->cluster.outbox_max
		: 0;
	return (c);
}

void	sealgate_conf_free(struct sealgate_conf *c)
{
	if (c)
		sg_arena_free(c->arena);
}

/*
 * sealgate_state_dir - create the state directory, writable by the run user
 *
 * A directory the run user can already write, as owner or through its
 * group (systemd's StateDirectory= with Group=: root:sealgate 0770), keeps
 * its owner: systemd would otherwise take the whole tree back at the next
 * start, file by file. With the worker apart, the group must be able to
 * write it too (the worker runs with the same group).
 */
int	sealgate_owner_mode(int fd, uid_t uid, gid_t gid, mode_t mode)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return (-1);
	if ((st.st_mode & 07777) != mode) {
		if (st.st_uid != 0 && fchown(fd, 0, (gid_t) -1) < 0)
			return (-1);
		if (fchmod(fd, mode) < 0)
			return (-1);
	} else if (st.st_uid == uid && st.st_gid == gid) {
		return (0);
	}
	return (fchown(fd, uid, gid));
}

void	sealgate_state_dir(const struct sg_conf_main *c)
{
	struct stat st;
	bool	apart = sg_conf_worker_apart(c);
	uid_t	uid;
	gid_t	gid;
	int	fd;

	if (mkdir(c->state_dir, 0750) < 0 && errno != EEXIST)
		sg_fatal("event=state_dir_failed path=\"%s\" error=\"%s\"",
			 c->state_dir, strerror(errno));
	if (geteuid() != 0 || !sg_conf_run_ids(c, &uid, &gid))
		return;
	if ((fd = open(c->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0
	    || fstat(fd, &st) < 0)
		sg_fatal("event=state_dir_failed path=\"%s\" error=\"%s\"",
			 c->state_dir, strerror(errno));
	if (!(st.st_gid == gid && (st.st_mode & 0070) == 0070) && !(st.st_uid == uid && !apart)
	    && sealgate_owner_mode(fd, uid, gid, (st.st_mode & 07777) | (apart ? 0070 : 0)) < 0)
		sg_fatal("event=state_dir_failed path=\"%s\" error=\"%s\"",
			 c->state_dir, strerror(errno));
	close(fd);
}

void	sealgate_log_apply(const struct sg_conf_main *c)
{
	sg_log_set_level((enum sg_log_level) c->log_level);
	sg_log_set_facility(sg_conf_facility_value(c->syslog_facility));
}

/* sealgate_log_errors - one log line per configuration problem */

void	sealgate_log_errors(const struct sg_buf *errors)
{
	const char *p = errors->data, *nl;

	while (p && *p && (nl = strchr(p, '\n')) != NULL) {
		char	text[512];

		sg_error("event=config_error error=\"%s\"",
			 sg_printable(text, sizeof(text), p, (size_t) (nl - p)));
		p = nl + 1;
	}
}

void	sealgate_conf_print_defaults(FILE *fp)
{
	for (size_t i = 0; i < SG_NELEM(sections); i++) {
		for (const struct sg_conf_row *r = sections[i].rows; r->name; r++) {
			fprintf(fp, "%s%s%s = %s;%s\n", sections[i].name ? sections[i].name : "",
				sections[i].name ? "." : "", r->name,
				r->def ? r->def : "(required)",
				r->flags & SG_CONF_F_LIVE ? "" : "  # needs restart");
		}
	}
}

static void print_row(FILE *fp, const char *prefix, const struct sg_conf_row *r, bool live)
{
	static const char *const types[] = {
		"bool", "int", "size", "duration", "string", "path", "enum", "strlist",
		"domainlist", "cidrlist", "hostport", "grouplist", "custom",
	};

	fprintf(fp, "%s%s\t%s\t%s\t%s\t%s\t", prefix, r->name,
		(size_t) r->type < SG_NELEM(types) ? types[r->type] : "?", r->def ? r->def : "",
		live ? "live" : "restart", r->flags & SG_CONF_F_REQUIRED ? "required" : "");
	if (r->min || r->max)
		fprintf(fp, "%lld\t%lld\t", (long long) r->min, (long long) r->max);
	else
		fputs("\t\t", fp);
	for (const char *const *c = r->choices; c && *c; c++)
		fprintf(fp, "%s%s", c == r->choices ? "" : ",", *c);
	fputc('\n', fp);
}

void	sealgate_conf_print_table(FILE *fp)
{
	char	prefix[128];

	for (size_t i = 0; i < SG_NELEM(sections); i++) {
		for (const struct sg_conf_row *r = sections[i].rows; r->name; r++) {
			bool	live = r->flags & SG_CONF_F_LIVE;

			snprintf(prefix, sizeof(prefix), "%s%s", sections[i].name ?
				 sections[i].name : "", sections[i].name ? "." : "");
			print_row(fp, prefix, r, live);
			if (r->type != SG_CONF_GROUPLIST || r->elem_rows == NULL)
				continue;
			snprintf(prefix, sizeof(prefix), "%s%s%s[].", sections[i].name ?
				 sections[i].name : "", sections[i].name ? "." : "", r->name);
			for (const struct sg_conf_row *e = r->elem_rows; e->name; e++)
				print_row(fp, prefix, e, live);
		}
	}
}

void	sealgate_conf_print(const struct sealgate_conf *c, bool all, FILE *fp)
{
	struct sg_buf out = SG_BUF_INIT;

	if (sg_conf_print(c->file, sections, SG_NELEM(sections), c,
			  all ? SG_CONF_PRINT_ALL : 0, &out) < 0)
		sg_buf_printf(&out, "%s: cannot be read again\n", c->file);
	if (out.len)
		fputs(out.data, fp);
	sg_buf_free(&out);
}

struct report {
	bool	log;
	int	restart;
};

static void on_changed(void *arg, const struct sg_conf_section *sec, const struct sg_conf_row *r)
{
	struct report *rep = arg;
	bool	live = r->flags & SG_CONF_F_LIVE;

	rep->restart += !live;
	if (!rep->log)
		return;
	if (live)
		sg_info("event=reload_changed key=%s%s%s", sec->name ? sec->name : "",
			sec->name ? "." : "", r->name);
	else
		sg_warn("event=reload_partial key=%s%s%s needs=restart", sec->name ? sec->name : "",
			sec->name ? "." : "", r->name);
}

int	sealgate_conf_reloaded(const struct sealgate_conf *running, struct sealgate_conf *new,
			       bool log, int *changed)
{
	struct report rep = {.log = log};

	*changed = sg_conf_diff(sections, SG_NELEM(sections), running, new, on_changed, &rep);
	sealgate_conf_keep_running(new, running);
	return (rep.restart);
}

void	sealgate_conf_keep_running(struct sealgate_conf *new, const struct sealgate_conf *running)
{
	sg_conf_keep(sections, SG_NELEM(sections), new, running, new->arena);
}
