/*
 * NAME
 *	sealgated 8
 * SUMMARY
 *	the sealgate mail gateway daemon
 * SYNOPSIS
 *	sealgated [-c FILE] [-f [--syslog]]	run: master and all roles
 *	sealgated [-c FILE] -n			check the configuration
 *	sealgated [-c FILE] -n -d [-a]		print the effective configuration
 *	sealgated -d				print every key's default
 *	sealgated [-c FILE] --role NAME [-f]	run one role alone
 *	sealgated --keys			the configuration table, for manuals
 *	sealgated --help | --version
 * DESCRIPTION
 *	Without --role, sealgated is the master (master.c): it starts the
 *	smtpd, worker and delivery roles (and metrics, when metrics.listen is
 *	set) as processes of this same program
 *	and supervises them. -f keeps it in the foreground, logging to
 *	stderr (with --syslog: to syslog, as under systemd); otherwise it
 *	detaches and logs to syslog.
 *
 *	-n loads FILE, prints every problem as "FILE:LINE: message" on
 *	stderr and exits 1, or exits 0 when the configuration is valid.
 *	With -d it prints, instead of "valid", the effective configuration:
 *	each key FILE sets to other than its default, as -d prints keys
 *	("section.key = value;"), with values as loaded (sizes, durations
 *	and paths normalised); -a prints every key with its value.
 *
 *	-d alone prints every key with its default; "# needs restart" marks
 *	the keys a running gateway does not apply on SIGHUP.
 *
 *	--role runs one role in this process (role.c); the master uses it,
 *	and so do tests. The master adds --parent PID and --report-fd N,
 *	the socket on which the role reports to it (status.c).
 *
 *	--keys prints the configuration tables, one key a line
 *	(sealgate_conf_print_table()): what the manual sealgate.conf(5) is
 *	made from.
 * SECURITY
 *	Started as root so smtpd can bind port 25; each role drops to the
 *	configured user where it can.
 * FILES
 *	/etc/sealgate/sealgate.conf, the default configuration.
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sealgate.h"

SG_NORETURN static void usage(FILE *fp, int status)
{
	fprintf(fp,
		"usage: sealgated [-c FILE] [-f [--syslog]]\n"
		"                                         run the gateway (-f: in the foreground,\n"
		"                                         logging to stderr, or to syslog)\n"
		"       sealgated [-c FILE] -n            check the configuration\n"
		"       sealgated [-c FILE] -n -d [-a]    print the effective configuration\n"
		"       sealgated -d                      print every key with its default\n"
		"       sealgated --keys                  print the configuration table\n"
		"       sealgated [-c FILE] --role smtpd|worker|delivery|metrics|cluster [-f]\n"
		"                                         run one role alone\n"
		"       sealgated --help | --version\n"
		"FILE: the configuration (default %s, or $SEALGATE_CONF).\n",
		SEALGATE_DEFAULT_CONF);
	exit(status);
}

static const struct role_ops *find_role(const char *name)
{
	static const struct role_ops *const roles[] = {
		&role_smtpd_ops, &role_worker_ops, &role_delivery_ops, &role_metrics_ops,
		&role_cluster_ops,
	};

	for (size_t i = 0; i < SG_NELEM(roles); i++)
		if (strcmp(roles[i]->name, name) == 0)
			return (roles[i]);
	return (NULL);
}

/* check_config - -n: the problems, or "valid", or (print) the effective keys */

static int check_config(const char *file, bool print, bool all)
{
	struct sg_buf errors = SG_BUF_INIT;
	struct sealgate_conf *c = sealgate_conf_load(file, &errors);

	if (c == NULL) {
		fputs(errors.data, stderr);
		sg_buf_free(&errors);
		return (1);
	}
	if (print)
		sealgate_conf_print(c, all, stdout);
	else
		printf("%s: configuration is valid\n", c->file);
	sealgate_conf_free(c);
	return (0);
}

int	main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"role", required_argument, NULL, 'r'},
		{"parent", required_argument, NULL, 'p'},
		{"report-fd", required_argument, NULL, 'R'},
		{"syslog", no_argument, NULL, 's'},
		{"keys", no_argument, NULL, 'K'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *file = getenv("SEALGATE_CONF");
	const struct role_ops *role = NULL;
	bool	foreground = false, check = false, print = false, all = false;
	bool	syslog = false, keys = false;
	pid_t	parent = 0;
	uint64_t ppid, fd;
	int	ch;

	if (file == NULL)
		file = SEALGATE_DEFAULT_CONF;
	while ((ch = getopt_long(argc, argv, "ac:dfnVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			all = true;
			break;
		case 'c':
			file = optarg;
			break;
		case 'd':
			print = true;
			break;
		case 'f':
			foreground = true;
			break;
		case 'n':
			check = true;
			break;
		case 'r':
			if ((role = find_role(optarg)) == NULL) {
				fprintf(stderr, "sealgated: unknown role \"%s\"\n", optarg);
				usage(stderr, 2);
			}
			break;
		case 'p':
			if (sg_parse_u64(optarg, strlen(optarg), &ppid) < 0 || ppid > INT32_MAX)
				usage(stderr, 2);
			parent = (pid_t) ppid;
			break;
		case 'R':
			if (sg_parse_u64(optarg, strlen(optarg), &fd) < 0 || fd < 3 || fd > 1023)
				usage(stderr, 2);
			status_report_init((int) fd);
			break;
		case 's':
			syslog = true;
			break;
		case 'K':
			keys = true;
			break;
		case 'V':
			printf("sealgated %s\n", SG_VERSION);
			return (0);
		case 'h':
			usage(stdout, 0);
		default:
			usage(stderr, 2);
		}
	}
	if (optind != argc || (all && !(check && print)) || (syslog && !foreground))
		usage(stderr, 2);
	if (keys) {
		sealgate_conf_print_table(stdout);
		return (0);
	}
	if (check)
		return (check_config(file, print, all));
	if (print) {
		sealgate_conf_print_defaults(stdout);
		return (0);
	}
	sg_log_init("sealgated", role ? role->name : "master",
		    foreground && !syslog ? SG_LOG_STDERR : SG_LOG_SYSLOG);
	if (role)
		return (role_run(role, file, parent));
	return (master_run(file, foreground, syslog ? MASTER_SYSLOG : 0));
}
