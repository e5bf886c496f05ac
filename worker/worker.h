#ifndef WORKER_H
#define WORKER_H

/*
 * NAME
 *	worker 3h
 * SUMMARY
 *	the crypto worker role: rules engine and S/MIME transforms
 * SYNOPSIS
 *	#include "worker/worker.h"
 * DESCRIPTION
 *	The one public header of worker/.
 */

#include "common/sg.h"

/* The "worker = { ... };" section of the configuration. */
struct worker_conf {
	int64_t	threads;		/* crypto threads; 0: one per core */
	int64_t	batch;			/* messages claimed per lease */
	struct sg_conf_array rules;	/* of struct sg_rule, first match wins */
	char   *result_header;		/* verification result header name */
	char   *notify;			/* incident notification address; "": none */
	int64_t	notify_max_per_hour;	/* notification mails per hour at most */
};

extern const struct sg_conf_row worker_conf_rows[];

/*
 * MIME framing (worker/mime.c). Every function reads its input with an
 * explicit length and expects canonical CRLF line ends (worker_mime_canon
 * makes them); none keeps a pointer after it returns except where a
 * struct says it points into the input.
 */
#define WORKER_MIME_DEPTH	16	/* nesting of multiparts we follow */
#define WORKER_MIME_PARTS	256	/* parts of one multipart */
#define WORKER_MIME_FIELD_MAX	(64 * 1024)	/* one unfolded header field */

enum worker_cte {
	WORKER_CTE_7BIT,		/* also: none given */
	WORKER_CTE_8BIT,
	WORKER_CTE_BINARY,
	WORKER_CTE_QP,
	WORKER_CTE_BASE64,
	WORKER_CTE_OTHER,
};

/* One header field; pointers into the header block. */
struct worker_mime_field {
	const char *name;
	size_t	nlen;
	const char *value;		/* after the colon, folding kept */
	size_t	vlen;			/* without the final CRLF */
	size_t	off, len;		/* whole field with its CRLF */
};

/* One entity (message or body part); p points into the caller's bytes. */
struct worker_mime_entity {
	const char *p;
	size_t	len;
	size_t	hdr_len;		/* header fields, each with its CRLF */
	size_t	body_off;		/* after the empty line; len if none */
	char	type[32], subtype[64];	/* lower case; text/plain by default */
	char	boundary[72];		/* multipart only */
	char	protocol[64];		/* lower case */
	char	smime_type[32];		/* lower case */
	char	name[64];		/* name parameter, lower case */
	int	cte;			/* enum worker_cte */
};

struct worker_mime_span {
	size_t	off, len;
};

int	worker_mime_canon(const char *p, size_t len, struct sg_buf *out);
int	worker_mime_field_next(const char *hdr, size_t len, size_t *pos,
			       struct worker_mime_field *f);
bool	worker_mime_field_is(const struct worker_mime_field *, const char *name);
int	worker_mime_parse(const char *p, size_t len, struct worker_mime_entity *e);
int	worker_mime_parts(const struct worker_mime_entity *e,
			  struct worker_mime_span *parts, size_t max, size_t *n);
int	worker_mime_to_7bit(const char *p, size_t len, struct sg_buf *out);
int	worker_mime_split(const char *p, size_t len, const char *drop,
			  struct sg_buf *outer, struct sg_buf *entity);
void	worker_mime_base64_encode(const void *p, size_t len, struct sg_buf *out);
int	worker_mime_base64_decode(const char *p, size_t len, struct sg_buf *out);
void	worker_mime_qp_encode(const char *p, size_t len, struct sg_buf *out);

#endif
