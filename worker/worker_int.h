#ifndef WORKER_INT_H
#define WORKER_INT_H

/*
 * NAME
 *	worker_int 3h
 * SUMMARY
 *	worker/ internals shared between its files
 * SYNOPSIS
 *	#include "worker/worker_int.h"
 * DESCRIPTION
 *	Private to worker/: no other folder includes this.
 */

#include <cert.h>
#include <cms.h>
#include <keyhi.h>
#include <pk11pub.h>
#include <prerror.h>
#include <secerr.h>
#include <smime.h>

#include "worker.h"

/* smime.c */
void	worker__nss_reason(char *dst, size_t len, const char *what);
int	worker__prepare(const char *msg, size_t len, const char *drop,
			struct sg_buf *canon, struct sg_buf *outer, struct sg_buf *entity);
void	worker__put_pkcs7(struct sg_buf *out, const struct sg_buf *outer,
			  const char *smime_type, const SECItem *der);

#endif
