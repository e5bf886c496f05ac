#ifndef SMTPD_H
#define SMTPD_H

/*
 * NAME
 *	smtpd 3h
 * SUMMARY
 *	the SMTP receiver role: accepts mail and spools it
 * SYNOPSIS
 *	#include "smtpd/smtpd.h"
 * DESCRIPTION
 *	The one public header of smtpd/.
 */

#include "common/sg.h"

enum smtpd_security {
	SMTPD_SEC_NONE,
	SMTPD_SEC_STARTTLS,
	SMTPD_SEC_STARTTLS_REQUIRED,
	SMTPD_SEC_SMTPS,
};

struct smtpd_listener_conf {
	char   *name;			/* for rules and logs; default: address */
	char   *address;		/* "host:port" */
	int	security;		/* enum smtpd_security */
};

/* The "smtpd = { ... };" section of the configuration. */
struct smtpd_conf {
	struct sg_conf_array listeners;	/* of struct smtpd_listener_conf */
	uint64_t max_message_size;
};

extern const struct sg_conf_row smtpd_conf_rows[];

#endif
