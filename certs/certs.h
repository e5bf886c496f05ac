#ifndef CERTS_H
#define CERTS_H

/*
 * NAME
 *	certs 3h
 * SUMMARY
 *	NSS: certificate database, lookup, revocation, PKCS#11, TLS sessions
 * SYNOPSIS
 *	#include "certs/certs.h"
 * DESCRIPTION
 *	The one public header of certs/. certs/ owns everything NSS except
 *	the CMS (S/MIME) transforms.
 */

#include "common/sg.h"

/* The "certs = { ... };" section of the configuration. */
struct certs_conf {
	char   *db_dir;			/* NSS sql: database; "": STATE_DIR/nssdb */
	char   *password_file;		/* key database password; "": none */
};

extern const struct sg_conf_row certs_conf_rows[];

#endif
