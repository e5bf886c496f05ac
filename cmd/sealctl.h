#ifndef SEALCTL_H
#define SEALCTL_H

/*
 * NAME
 *	sealctl 3h
 * SUMMARY
 *	the commands of sealctl, one file each
 * SYNOPSIS
 *	#include "cmd/sealctl.h"
 * DESCRIPTION
 *	Each command gets the loaded configuration and its own argv
 *	(argv[0] is the command name) and returns an exit status.
 */

#include "sealgate.h"

enum {
	SEALCTL_OK = 0,
	SEALCTL_PARTIAL = 1,	/* some ids not found, named on stderr */
	SEALCTL_USAGE = 2,	/* usage or configuration error */
};

struct sealctl_command {
	const char *name;
	int	(*run) (const struct sealgate_conf *, int argc, char **argv);
	const char *usage;
};

/* sealctl_queue.c */
int	sealctl_queue(const struct sealgate_conf *, int argc, char **argv);

/* sealctl_cert.c */
int	sealctl_cert(const struct sealgate_conf *, int argc, char **argv);
int	sealctl_crl(const struct sealgate_conf *, int argc, char **argv);

/* sealctl_incidents.c */
int	sealctl_incidents(const struct sealgate_conf *, int argc, char **argv);

#endif
