/*
 * NAME
 *	sealctl_cert 3
 * SUMMARY
 *	sealctl cert: the cert verbs
 * SYNOPSIS
 *	#include "cmd/sealctl.h"
 *
 *	int	sealctl_cert(conf, argc, argv)
 * DESCRIPTION
 *	Dispatches the verbs of "sealctl cert". The verbs arrive with the
 *	cert component; none is wired yet, so every call is a usage error.
 */

#include <stdio.h>

#include "sealctl.h"

int	sealctl_cert(const struct sealgate_conf *conf, int argc, char **argv)
{
	(void) conf;
	(void) argc;
	fprintf(stderr, "sealctl: %s: no verbs are available in this build\n", argv[0]);
	return (SEALCTL_USAGE);
}

int	sealctl_crl(const struct sealgate_conf *conf, int argc, char **argv)
{
	return (sealctl_cert(conf, argc, argv));
}
