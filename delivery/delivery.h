#ifndef DELIVERY_H
#define DELIVERY_H

/*
 * NAME
 *	delivery 3h
 * SUMMARY
 *	the delivery agent role: routing, SMTP client, TLS policy, retries
 * SYNOPSIS
 *	#include "delivery/delivery.h"
 * DESCRIPTION
 *	The one public header of delivery/.
 */

#include "common/sg.h"

/* The "delivery = { ... };" section of the configuration. */
struct delivery_conf {
	int64_t	smtp_port;		/* port of MX hosts (tests use others) */
	int64_t	max_connections;	/* in total */
};

extern const struct sg_conf_row delivery_conf_rows[];

#endif
