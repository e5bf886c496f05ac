/*
 * NAME
 *	sealctl 8
 * SUMMARY
 *	sealgate administration: queue, tracking, certificates, incidents, status
 * SYNOPSIS
 *	sealctl [-c FILE] COMMAND [ARGS...]
 *	sealctl --help | --version | COMMAND --help
 * DESCRIPTION
 *	sealctl works on the same state directory as a running sealgated,
 *	which it never needs to stop. Each command lives in its own file
 *	(sealctl_COMMAND.c) and is listed in the table below.
 *
 *	The command table holds every verb's usage line: --help (no
 *	configuration needed), "COMMAND --help" and every usage error print
 *	from it (sealctl_usage()). sealctl_queue_open() is the one way the
 *	commands open the queue: a state directory that does not exist is
 *	an error, never an empty queue.
 *
 *	"config show" prints the effective configuration as sealgated -n -d
 *	does ("config show --all": every key).
 *
 *	Exit status: 0 success, 1 partial failure (named on stderr),
 *	2 usage or configuration error; "status" has its own: 0 healthy,
 *	1 degraded, 2 not running (sealctl_status.c).
 * FILES
 *	/etc/sealgate/sealgate.conf, or $SEALGATE_CONF, or -c FILE.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sealgate.h"
#include "sealctl.h"

int	sealctl_queue_open(const struct sealgate_conf *conf, int flags, struct queue **q)
{
	const char *dir = conf->main.state_dir;
	struct stat st;
	int	err;

	if (flags & SEALCTL_QUEUE_MAKE)
		sealgate_state_dir(&conf->main);
	errno = 0;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "sealctl: state directory %s: %s (state_dir in %s)\n", dir,
			strerror(errno ? errno : ENOTDIR), conf->file);
		return (SG_EINVAL);
	}
	err = queue_open(&conf->main, &conf->queue, flags & ~SEALCTL_QUEUE_MAKE, q);
	if (err == SG_ENOTFOUND && (flags & QUEUE_RDONLY))
		return (SG_ENOTFOUND);	/* no queue yet: an empty one */
	if (err != 0)
		fprintf(stderr, "sealctl: cannot open the queue in %s: %s\n", dir,
			sg_strerror(err));
	return (err);
}

static int sealctl_config(const struct sealgate_conf *c, int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "check") == 0) {
		printf("%s: configuration is valid\n", c->file);
		return (SEALCTL_OK);
	}
	if ((argc == 2 || (argc == 3 && strcmp(argv[2], "--all") == 0))
	    && strcmp(argv[1], "show") == 0) {
		sealgate_conf_print(c, argc == 3, stdout);
		return (SEALCTL_OK);
	}
	sealctl_usage(stderr, "config");
	return (SEALCTL_USAGE);
}

/* Every verb of every command, the one text --help and usage errors print. */
static const struct sealctl_command commands[] = {
	{"config", sealctl_config,
		"config check | show [--all]\n"},
	{"queue", sealctl_queue,
		"queue list [--state S] [--from PAT] [--to PAT] [--older-than DUR]"
		" [--json [--full]]\n"
		"queue show ID [--json]\n"
		"queue cat ID [--processed]\n"
		"queue hold|release|delete|retry ID... | - | --all [--state S] [--from PAT]"
		" [--to PAT] [--older-than DUR]\n"
		"queue stats [--json] [--verify]\n"
		"queue inject --rcpt ADDR... [--sender S] [--client IP] [--state S]"
		" [--notify LIST] [--ret FULL|HDRS]\n"
		"             [--envid ID] [--count N [--sync]] [--body-size N] [--delay DUR]"
		" < MESSAGE\n"},
	{"track", sealctl_track,
		"track search [--from PAT] [--to PAT] [--subject TEXT] [--since T] [--until T]\n"
		"             [--status S] [--direction D] [--json] [--limit N] [--stats]\n"
		"track show ID [--json]\n"
		"    (with a cluster: every node's, --local: this node's; show --node NODE)\n"},
	{"cert", sealctl_cert,
		"cert [--tls] init\n"
		"cert [--tls] import FILE [--password-file F] [--ca] [--gateway DOMAIN]\n"
		"cert [--tls] list [--json] | show ID [--json] | export ID | remove ID\n"
		"cert [--tls] check ID [--usage sign|encrypt|tls] [--json]\n"
		"cert signer ADDRESS [--json] | recipient ADDRESS [--sender S] [--json]\n"
		"cert sign ID FILE OUT\n"},
	{"crl", sealctl_crl,
		"crl import FILE | fetch\n"},
	{"tls", sealctl_tls,
		"tls check DOMAIN\n"},
	{"incidents", sealctl_incidents,
		"incidents list [--all] [--json] | show ID [--json]\n"
		"incidents ack ID... [--release | --delete]\n"
		"    (with a cluster: every node's, --local: this node's; --node NODE)\n"},
	{"status", sealctl_status,
		"status [--cluster] [--json]\n"},
	{"cluster", sealctl_cluster,
		"cluster init | status [--json]\n"},
	{"stats", sealctl_stats,
		"stats [--json]\n"},
};

/* put_usage - one command's lines, each after "sealctl " but continuations */

static void put_usage(FILE *fp, const struct sealctl_command *c, const char *lead)
{
	for (const char *p = c->usage, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		fprintf(fp, "%s%s%.*s\n", lead, *p == ' ' ? "        " : "sealctl ",
			(int) (nl - p), p);
		lead = "       ";
	}
}

void	sealctl_usage(FILE *fp, const char *name)
{
	for (size_t i = 0; i < SG_NELEM(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			put_usage(fp, &commands[i], "usage: ");
}

static void help(FILE *fp)
{
	fprintf(fp, "usage: sealctl [-c FILE] COMMAND [ARGS...]\n"
		"       sealctl --help | --version | COMMAND --help\n\n");
	for (size_t i = 0; i < SG_NELEM(commands); i++)
		put_usage(fp, &commands[i], "       ");
	fprintf(fp, "\nFILE: the configuration (default %s, or $SEALGATE_CONF).\n"
		"Exit status: 0 success, 1 partial failure (named on stderr),"
		" 2 usage or configuration error;\n"
		"status: 0 healthy, 1 degraded, 2 not running.\n", SEALGATE_DEFAULT_CONF);
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return (true);
	return (false);
}

int	main(int argc, char **argv)
{
	const char *file = getenv("SEALGATE_CONF");
	struct sg_buf errors = SG_BUF_INIT;
	struct sealgate_conf *conf;
	int	i = 1, rc;

	if (file == NULL)
		file = SEALGATE_DEFAULT_CONF;
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		help(stdout);
		return (SEALCTL_OK);
	}
	if (argc == 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
		printf("sealctl %s\n", SG_VERSION);
		return (SEALCTL_OK);
	}
	if (i + 1 < argc && strcmp(argv[i], "-c") == 0) {
		file = argv[i + 1];
		i += 2;
	}
	if (i >= argc || argv[i][0] == '-') {
		help(stderr);
		return (SEALCTL_USAGE);
	}
	for (size_t k = 0; k < SG_NELEM(commands); k++) {
		if (strcmp(argv[i], commands[k].name) != 0)
			continue;
		if (wants_help(argc - i, argv + i)) {
			put_usage(stdout, &commands[k], "usage: ");
			return (SEALCTL_OK);
		}
		sg_log_init("sealctl", commands[k].name, SG_LOG_STDERR);
		sg_log_set_level(SG_LOG_WARNING);
		if ((conf = sealgate_conf_load(file, &errors)) == NULL) {
			fputs(errors.data, stderr);
			sg_buf_free(&errors);
			return (SEALCTL_USAGE);
		}
		rc = commands[k].run(conf, argc - i, argv + i);
		sealgate_conf_free(conf);
		return (rc);
	}
	fprintf(stderr, "sealctl: unknown command \"%s\"\n", argv[i]);
	help(stderr);
	return (SEALCTL_USAGE);
}
