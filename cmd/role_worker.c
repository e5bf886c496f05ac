/*
 * NAME
 *	role_worker 3
 * SUMMARY
 *	the worker role as the role runtime sees it
 * SYNOPSIS
 *	#include "cmd/sealgate.h"
 *
 *	extern const struct role_ops role_worker_ops;
 * DESCRIPTION
 *	Binds the worker component to the role runtime (role.c). Until the
 *	component has a start function the role is idle: it comes up, logs
 *	that it is ready, and waits for signals.
 */

#include "sealgate.h"

const struct role_ops role_worker_ops = {
	.name = "worker",
};
