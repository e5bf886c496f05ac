#ifndef CONF_INT_H
#define CONF_INT_H

/*
 * NAME
 *	conf_int 3h
 * SUMMARY
 *	what the config engine's files share inside common/
 * SYNOPSIS
 *	#include "conf_int.h"
 * DESCRIPTION
 *	The loading context (conf.c) and the number formats that error
 *	messages and printed values both use (conf_print.c).
 */

#include <limits.h>

#include "sg.h"

/* An integer literal libconfig 1.5 wraps (beyond 32 bits, no L suffix). */
struct sg_conf_lit {
	char   *file;			/* as libconfig names it */
	unsigned line;			/* of the setting's name */
	char   *name;
	char   *text;			/* as written */
	int64_t	value;
	bool	huge;			/* beyond 64 bits too */
};

struct sg_conf_ctx {
	const char *file;
	char	dir[PATH_MAX];
	struct sg_arena *arena;
	struct sg_buf *errors;
	int	nerr;
	const struct sg_conf_row *in_default;	/* row whose default is parsed */
	struct sg_conf_lit *lits;	/* from the raw text */
	size_t	nlits;
};

/* conf.c: parse the row's default into field (sg_panic() if it is bad). */
int	sg_conf__default(struct sg_conf_ctx *, const struct sg_conf_row *, void *field);

/* conf_print.c: a SIZE as "50M", a DURATION as "5m", an INT as digits. */
void	sg_conf__number(struct sg_buf *, enum sg_conf_type, int64_t);
/* conf_print.c: the row's bounds as "1K to 16G" or "at least 1M". */
void	sg_conf__range(struct sg_buf *, const struct sg_conf_row *);

#endif
