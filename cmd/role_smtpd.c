/*
 * NAME
 *	role_smtpd 3
 * SUMMARY
 *	the smtpd role as the role runtime sees it
 * SYNOPSIS
 *	#include "cmd/sealgate.h"
 *
 *	extern const struct role_ops role_smtpd_ops;
 * DESCRIPTION
 *	Binds the smtpd component to the role runtime (role.c). Until the
 *	component has a start function the role is idle: it comes up, logs
 *	that it is ready, and waits for signals.
 */

#include "sealgate.h"

const struct role_ops role_smtpd_ops = {
	.name = "smtpd",
};
