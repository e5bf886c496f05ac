/*
 * NAME
 *	sealctl_queue 3
 * SUMMARY
 *	sealctl queue: the queue verbs
 * SYNOPSIS
 *	#include "cmd/sealctl.h"
 *
 *	int	sealctl_queue(conf, argc, argv)
 * DESCRIPTION
 *	Dispatches the verbs of "sealctl queue". The verbs arrive with the
 *	queue component; none is wired yet, so every call is a usage error.
 */

#include <stdio.h>

#include "sealctl.h"

int	sealctl_queue(const struct sealgate_conf *conf, int argc, char **argv)
{
	(void) conf;
	(void) argc;
	fprintf(stderr, "sealctl: %s: no verbs are available in this build\n", argv[0]);
	return (SEALCTL_USAGE);
}
