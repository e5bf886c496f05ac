/*
 * NAME
 *	sealctl 8
 * SUMMARY
 *	sealgate administration: queue, certificates, incidents
 * SYNOPSIS
 *	sealctl [-c FILE] COMMAND [ARGS...]
 * DESCRIPTION
 *	sealctl works on the same state directory as a running sealgated,
 *	which it never needs to stop. Each command lives in its own file
 *	(sealctl_COMMAND.c) and is listed in the table below.
 *
 *	Exit status: 0 success, 1 partial failure (named on stderr),
 *	2 usage or configuration error.
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
	fprintf(stderr, "usage: sealctl config check\n");
	return (SEALCTL_USAGE);
}

static const struct sealctl_command commands[] = {
	{"config", sealctl_config, "config check"},
	{"queue", sealctl_queue, "queue list|show|cat|hold|release|delete|retry|stats ..."},
	{"cert", sealctl_cert, "cert init|import|list|show|remove|export ..."},
	{"crl", sealctl_crl, "crl import FILE"},
	{"incidents", sealctl_incidents, "incidents list|show|ack ..."},
};

static void usage(void)
{
	fprintf(stderr, "usage: sealctl [-c FILE] COMMAND [ARGS...]\ncommands:\n");
	for (size_t i = 0; i < SG_NELEM(commands); i++)
		fprintf(stderr, "  %s\n", commands[i].usage);
	exit(SEALCTL_USAGE);
}

int	main(int argc, char **argv)
{
	const char *file = getenv("SEALGATE_CONF");
	struct sg_buf errors = SG_BUF_INIT;
	struct sealgate_conf *conf;
	int	i = 1, rc;

	if (file == NULL)
		file = SEALGATE_DEFAULT_CONF;
	if (i + 1 < argc && strcmp(argv[i], "-c") == 0) {
		file = argv[i + 1];
		i += 2;
	}
	if (i >= argc || argv[i][0] == '-')
		usage();
	for (size_t k = 0; k < SG_NELEM(commands); k++) {
		if (strcmp(argv[i], commands[k].name) != 0)
			continue;
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
	usage();
}
