/*
 * NAME
 *	role_delivery 3
 * SUMMARY
 *	the delivery role as the role runtime sees it
 * SYNOPSIS
 *	#include "cmd/sealgate.h"
 *
 *	extern const struct role_ops role_delivery_ops;
 * DESCRIPTION
 *	Binds the delivery component to the role runtime (role.c). Until the
 *	component has a start function the role is idle: it comes up, logs
 *	that it is ready, and waits for signals.
 */

#include "sealgate.h"

const struct role_ops role_delivery_ops = {
	.name = "delivery",
};
