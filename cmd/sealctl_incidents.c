/*
 * NAME
 *	sealctl_incidents 3
 * SUMMARY
 *	sealctl incidents: the incident verbs
 * SYNOPSIS
 *	#include "cmd/sealctl.h"
 *
 *	int	sealctl_incidents(conf, argc, argv)
 * DESCRIPTION
 *	Dispatches the verbs of "sealctl incidents". The verbs arrive with the
 *	worker component; none is wired yet, so every call is a usage error.
 */

#include <stdio.h>

#include "sealctl.h"

int	sealctl_incidents(const struct sealgate_conf *conf, int argc, char **argv)
{
	(void) conf;
	(void) argc;
	fprintf(stderr, "sealctl: %s: no verbs are available in this build\n", argv[0]);
	return (SEALCTL_USAGE);
}
