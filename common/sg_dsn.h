#ifndef SG_DSN_H
#define SG_DSN_H

/*
 * NAME
 *	sg_dsn 3h
 * SUMMARY
 *	RFC 3464 delivery status notifications, built for any role
 * SYNOPSIS
 *	#include "common/sg.h"	(includes this part)
 * DESCRIPTION
 *	Part of common's public interface. Delivery reports bounces, delays
 *	and successes with it; the worker reports mail that a security rule
 *	rejected. One builder, so every report the gateway sends has the
 *	same form. sg_dsn_build() appends a complete message (headers,
 *	multipart/report) to out; see common/dsn.c.
 */

enum sg_dsn_kind { SG_DSN_FAILED, SG_DSN_DELAYED, SG_DSN_DELIVERED };

struct sg_dsn_rcpt {
	const char *addr;
	const char *orcpt;		/* "rfc822;x@y" or NULL */
	int	kind;			/* enum sg_dsn_kind */
	const char *status;		/* "5.1.1" */
	const char *remote_mta;		/* NULL: none */
	const char *diagnostic;		/* the remote reply, or NULL */
	const char *diagnostic_type;	/* NULL: "smtp" (a remote reply) */
	int64_t	last_attempt;		/* ms, 0: none */
};

struct sg_dsn {
	const char *reporting_mta;	/* our host name */
	const char *queue_id;
	const char *sender;		/* envelope sender: the DSN's To */
	const char *envid;		/* or NULL */
	const char *explanation;	/* a paragraph for the reader, or NULL */
	int64_t	arrival;		/* ms */
	int64_t	now;
	int64_t	retry_until;		/* for DELAYED */
	const struct sg_dsn_rcpt *rcpts;
	size_t	nrcpts;
	const char *original;		/* the message, or its headers */
	size_t	original_len;
	bool	full;			/* RET=FULL: message/rfc822 */
};

int	sg_dsn_build(const struct sg_dsn *, struct sg_buf *out);

#endif
