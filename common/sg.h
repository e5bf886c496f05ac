#ifndef SG_H
#define SG_H

/*
 * NAME
 *	sg 3h
 * SUMMARY
 *	sealgate common library: errors, logging, memory, buffers, config
 * SYNOPSIS
 *	#include "common/sg.h"
 * DESCRIPTION
 *	The one public header of common/. Everything here is shared by all
 *	roles and by sealctl; nothing here knows about SMTP, LMDB or NSS.
 *
 *	Error contract: library functions return 0 or a negative enum sg_err
 *	and never print or exit. Programs report with sg_warn() and friends;
 *	sg_fatal() is for a broken environment, sg_panic() for a bug.
 *	Allocation through sg_x*() either succeeds or never returns.
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <libconfig.h>

#define SG_VERSION "0.1.0"

#if defined(__GNUC__)
#define SG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define SG_NORETURN __attribute__((noreturn))
#else
#define SG_PRINTF(f, a)
#define SG_NORETURN
#endif

#define SG_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Eight bytes at a time: sg_zero_byte(w) is not 0 when a byte of w is 0
 * (subtracting 1 from each byte borrows into a top bit that was clear),
 * and sg_byte_is(w, c) when a byte of w is c (zero after the xor).
 */
#define SG_ONES	0x0101010101010101ULL
#define SG_TOPS	0x8080808080808080ULL

static inline uint64_t sg_zero_byte(uint64_t w)
{
	return ((w - SG_ONES) & ~w & SG_TOPS);
}

static inline uint64_t sg_byte_is(uint64_t w, unsigned char c)
{
	return (sg_zero_byte(w ^ (SG_ONES * c)));
}

/* Errors: 0 is success, everything else a negative sg_err. */
enum sg_err {
	SG_OK = 0,
	SG_ENOMEM = -1,		/* allocation failed (only non-x allocators) */
	SG_EINVAL = -2,		/* bad argument or malformed input */
	SG_EIO = -3,		/* read, write or fsync failed */
	SG_EFULL = -4,		/* queue map or disk full: try again later */
	SG_ECORRUPT = -5,	/* stored data failed its checks */
	SG_ENOTFOUND = -6,	/* no such id, key or file */
	SG_EEXIST = -7,		/* already there */
	SG_EAGAIN = -8,		/* nothing now; try again */
	SG_EBUSY = -9,		/* resource held by someone else */
	SG_ETIMEOUT = -10,	/* deadline passed */
	SG_EPROTO = -11,	/* peer broke the protocol */
	SG_ETLS = -12,		/* TLS handshake or record error */
	SG_ECRYPTO = -13,	/* signature, encryption or certificate error */
	SG_EPASSWORD = -14,	/* wrong password or PIN */
	SG_EUNSUPPORTED = -15,	/* valid but not supported content */
	SG_EDENIED = -16,	/* refused by policy or permissions */
	SG_ELIMIT = -17,	/* a configured limit was exceeded */
	SG_ECLOSED = -18,	/* connection or handle closed */
};

const char *sg_strerror(int err);

/* Logging: one line per event, key=value fields, to stderr or syslog. */
enum sg_log_level {
	SG_LOG_DEBUG,
	SG_LOG_INFO,
	SG_LOG_NOTICE,
	SG_LOG_WARNING,
	SG_LOG_ERROR,
};

enum sg_log_sink {
	SG_LOG_STDERR,
	SG_LOG_SYSLOG,
};

void	sg_log_init(const char *progname, const char *role, enum sg_log_sink);
void	sg_log_echo(bool on);
void	sg_log_set_level(enum sg_log_level);
void	sg_log_set_facility(int facility);	/* LOG_MAIL, LOG_LOCAL0, ... */
enum sg_log_level sg_log_get_level(void);
int	sg_log_level_parse(const char *name, enum sg_log_level *out);
const char *sg_log_level_name(enum sg_log_level);
void	sg_log(enum sg_log_level, const char *fmt, ...) SG_PRINTF(2, 3);
void	sg_vlog(enum sg_log_level, const char *fmt, va_list);

#define sg_debug(...) do { \
	if (sg_log_get_level() <= SG_LOG_DEBUG) sg_log(SG_LOG_DEBUG, __VA_ARGS__); \
} while (0)
#define sg_info(...) sg_log(SG_LOG_INFO, __VA_ARGS__)
#define sg_notice(...) sg_log(SG_LOG_NOTICE, __VA_ARGS__)
#define sg_warn(...) sg_log(SG_LOG_WARNING, __VA_ARGS__)
#define sg_error(...) sg_log(SG_LOG_ERROR, __VA_ARGS__)
SG_NORETURN void sg_fatal(const char *fmt, ...) SG_PRINTF(1, 2);
SG_NORETURN void sg_panic(const char *fmt, ...) SG_PRINTF(1, 2);

/*
 * sg_printable() copies untrusted bytes into dst for a log line or a reply:
 * control bytes and non-ASCII become \xNN, quotes and backslashes \" and
 * \\, so the result is safe inside key="..."; it is cut at dstlen-1 with "..." marking
 * the cut. Returns dst.
 */
char   *sg_printable(char *dst, size_t dstlen, const void *src, size_t srclen);

/* Header fields of a message (header.c). */
struct sg_buf;
size_t	sg_header_len(const char *p, size_t len);
int	sg_header_get(const char *p, size_t len, const char *name, char *out, size_t outlen);
bool	sg_header_has(const char *p, size_t len, const char *name);
void	sg_header_drop(const char *p, size_t len, const char *name, struct sg_buf *out);

/*
 * sg_rfc2047_decode() writes a header value's text with its RFC 2047
 * encoded-words decoded into out as one line of UTF-8 (no control
 * characters), cut between characters at outlen - 1 bytes; returns its
 * length (rfc2047.c).
 */
#define SG_RFC2047_WORD_MAX 1024	/* text bytes of one encoded-word */
size_t	sg_rfc2047_decode(const char *in, size_t len, char *out, size_t outlen);

/* Memory: the x-functions die on failure. */
void   *sg_xmalloc(size_t);
void   *sg_xcalloc(size_t, size_t);
void   *sg_xrealloc(void *, size_t);
char   *sg_xstrdup(const char *);
char   *sg_xstrndup(const char *, size_t);
void   *sg_xmemdup(const void *, size_t);

/* A self-growing, binary-safe buffer with a spare trailing NUL. */
struct sg_buf {
	char   *data;
	size_t	len;
	size_t	cap;
};

#define SG_BUF_INIT { NULL, 0, 0 }

void	sg_buf_reserve(struct sg_buf *, size_t extra);
void	sg_buf_append(struct sg_buf *, const void *, size_t);
void	sg_buf_puts(struct sg_buf *, const char *);
void	sg_buf_putc(struct sg_buf *, int);
void	sg_buf_printf(struct sg_buf *, const char *fmt, ...) SG_PRINTF(2, 3);
void	sg_buf_json(struct sg_buf *, const char *, size_t);	/* a JSON string */
void	sg_buf_vprintf(struct sg_buf *, const char *fmt, va_list);
void	sg_buf_consume(struct sg_buf *, size_t n);	/* drop n from front */
void	sg_buf_reset(struct sg_buf *);
void	sg_buf_free(struct sg_buf *);

/* An arena: many small allocations freed at once (config, per-message). */
struct sg_arena;

struct sg_arena *sg_arena_new(void);
void   *sg_arena_alloc(struct sg_arena *, size_t);	/* zeroed, aligned */
char   *sg_arena_strdup(struct sg_arena *, const char *);
char   *sg_arena_strndup(struct sg_arena *, const char *, size_t);
void	sg_arena_free(struct sg_arena *);

/* Parsers of numbers with an explicit length; 0 or SG_EINVAL. */
int	sg_parse_u64(const char *s, size_t len, uint64_t *out);
int	sg_parse_size(const char *s, size_t len, uint64_t *bytes);	/* 50M */
int	sg_parse_duration(const char *s, size_t len, int64_t *msec);	/* 5m */

/* Addresses: "host:port", "[v6]:port", and CIDR lists. */
struct sg_cidr {
	int	family;			/* AF_INET or AF_INET6 */
	unsigned prefix;
	uint8_t	addr[16];
};

struct sg_cidrlist {
	size_t	n;
	struct sg_cidr *v;
};

int	sg_cidr_parse(const char *s, size_t len, struct sg_cidr *out);
bool	sg_cidr_match(const struct sg_cidr *, const struct sockaddr *);
bool	sg_cidrlist_match(const struct sg_cidrlist *, const struct sockaddr *);

/*
 * sg_hostport_parse() splits "host:port", "[v6addr]:port" or a bare host
 * (then *port = defport; defport 0 means a port is required). The host is
 * copied NUL-terminated into host[hostlen]. Returns 0 or SG_EINVAL.
 */
int	sg_hostport_parse(const char *s, size_t len, char *host, size_t hostlen,
			  unsigned *port, unsigned defport);
/* sg_sockaddr_parse() resolves a numeric host:port; no DNS. */
int	sg_sockaddr_parse(const char *s, size_t len, struct sockaddr_storage *);
/* sg_sockaddr_str() formats an address as "ip" into buf (INET6_ADDRSTRLEN). */
const char *sg_sockaddr_str(const struct sockaddr *, char *buf, size_t len);

/* UTF-8: length of the well-formed sequence at s (at most len bytes), or 0. */
size_t	sg_utf8_len(const unsigned char *s, size_t len);
size_t	sg_line_end(const char *s, size_t len);	/* the first CR or LF, or len */
int	sg_base64_value(unsigned char c);	/* 0..63, or -1 */

/* Domains: a syntactically valid DNS name (labels, lengths), no trailing dot. */
bool	sg_domain_valid(const char *s, size_t len);
/* Domain patterns: "name" (exact) or "*.parent" (any name below parent). */
struct sg_strlist;
bool	sg_domain_pattern_valid(const char *s, size_t len);
bool	sg_domain_match(const char *pattern, const char *d, size_t len);
bool	sg_domain_listed(const struct sg_strlist *, const char *d, size_t len);

/* Free space (fs.c): bytes this process may still write under dir. */
int	sg_fs_room(const char *dir, uint64_t *bytes);
/* A file replaced whole by parts written one after another (fs.c). */
struct sg_fs_part {
	const void *data;
	size_t	len;
};
int	sg_fs_replace(const char *path, const struct sg_fs_part *, size_t n, mode_t mode);
int	sg_fs_read(const char *path, size_t max, char **buf, size_t *len);

/* Time. */
int64_t	sg_now_ms(void);		/* CLOCK_REALTIME in ms */
int64_t	sg_mono_ms(void);		/* CLOCK_MONOTONIC in ms */

/*
 * Config engine. A program's configuration is one libconfig file made of
 * sections; each section is described by a table of rows (name, type,
 * bounds, default, flags) that fills a plain C struct. Loading walks the
 * file, rejects unknown keys, checks every value and collects every error
 * as "FILE:LINE: message" lines; the caller prints or logs them. The raw
 * text is read too, for what libconfig hides: integers it would wrap,
 * adjacent strings it would join, dotted keys it calls a syntax error.
 */
enum sg_conf_type {
	SG_CONF_BOOL,		/* bool */
	SG_CONF_INT,		/* int64_t, within [min, max] */
	SG_CONF_SIZE,		/* uint64_t bytes: 1048576 or "50M" */
	SG_CONF_DURATION,	/* int64_t ms: 300 (seconds) or "5m", "250ms" */
	SG_CONF_STRING,		/* char * */
	SG_CONF_PATH,		/* char *, absolute or relative to the file */
	SG_CONF_ENUM,		/* int: index into choices */
	SG_CONF_STRLIST,	/* struct sg_strlist */
	SG_CONF_DOMAINLIST,	/* struct sg_strlist, lower-cased domain patterns */
	SG_CONF_CIDRLIST,	/* struct sg_cidrlist */
	SG_CONF_HOSTPORT,	/* char *, checked "host:port" */
	SG_CONF_GROUPLIST,	/* struct sg_conf_array of elem_size elements */
	SG_CONF_CUSTOM,		/* parse() fills the field */
};

/* Row flags. */
#define SG_CONF_F_REQUIRED	(1u << 0)	/* no default: must be set */
#define SG_CONF_F_FILE		(1u << 1)	/* PATH: must be a readable file */
#define SG_CONF_F_DIR		(1u << 2)	/* PATH: must be a directory if present */
#define SG_CONF_F_EXEC		(1u << 3)	/* PATH: must exist (library, program) */
/*
 * A running gateway applies a new value on SIGHUP (a role that needs a new
 * process for it asks the master for one). Rows without it need a restart
 * of sealgated: a reload logs them as reload_partial. Only top-level rows
 * of a section carry it; GROUPLIST elements go with their list.
 */
#define SG_CONF_F_LIVE		(1u << 4)

struct sg_strlist {
	size_t	n;
	char  **v;
};

struct sg_conf_array {
	size_t	n;
	void   *v;			/* n elements of the row's elem_size */
};

struct sg_conf_ctx;

struct sg_conf_row {
	const char *name;
	enum sg_conf_type type;
	size_t	offset;
	unsigned flags;
	const char *def;		/* default as config text; NULL: none */
	int64_t	min, max;		/* INT, SIZE, DURATION; both 0: none */
	const char *const *choices;	/* ENUM: NULL-terminated */
	const struct sg_conf_row *elem_rows;	/* GROUPLIST: element table */
	size_t	elem_size;		/* GROUPLIST */
	int	(*parse) (struct sg_conf_ctx *, const config_setting_t *, void *field);
	int	(*check) (struct sg_conf_ctx *, const config_setting_t *, void *base);
};

#define SG_CONF_END { NULL, 0, 0, 0, NULL, 0, 0, NULL, NULL, 0, NULL, NULL }

/* A section: a group at top level ("queue = { ... };"), or the top itself. */
struct sg_conf_section {
	const char *name;		/* NULL for the top level */
	const struct sg_conf_row *rows;
	size_t	offset;			/* of its struct within the program's */
};

int	sg_conf_load(const char *file, const struct sg_conf_section *sections,
		     size_t nsections, void *base, struct sg_arena *,
		     struct sg_buf *errors);

/*
 * Values as configuration text (conf_print.c). sg_conf_format() appends
 * the row's value in the struct at base, in a form the loader reads back
 * to the same value ("50M", "5m", [ "a", "b" ], ( { ... } )); CUSTOM rows
 * give SG_EUNSUPPORTED. sg_conf_print() appends "section.key = value;"
 * lines for a configuration loaded from file: with SG_CONF_PRINT_ALL every
 * key, else the required ones and those the file sets to something other
 * than the default (what "postconf -n" shows).
 */
#define SG_CONF_PRINT_ALL	(1u << 0)
int	sg_conf_format(const struct sg_conf_row *, const void *base, struct sg_buf *out);
int	sg_conf_print(const char *file, const struct sg_conf_section *sections,
		      size_t nsections, const void *base, unsigned flags, struct sg_buf *out);
/*
 * sg_conf_diff() calls changed() for every row whose value differs between
 * two loaded configurations (compared as sg_conf_format() text); returns
 * the number of such rows. sg_conf_keep() copies into to, from from, the
 * value of every row without SG_CONF_F_LIVE (allocated in to's arena): a
 * reloaded configuration that still describes what runs.
 */
typedef void sg_conf_changed_fn(void *arg, const struct sg_conf_section *,
				const struct sg_conf_row *);
int	sg_conf_diff(const struct sg_conf_section *sections, size_t nsections,
		     const void *old, const void *new, sg_conf_changed_fn *changed, void *arg);
void	sg_conf_keep(const struct sg_conf_section *sections, size_t nsections,
		     void *to, const void *from, struct sg_arena *);

/*
 * The raw-text scanner (conf_scan.c): libconfig 1.5's lexical syntax
 * (comments #, // and slash-star, strings with escapes, @include), read
 * with an explicit length. It reports what libconfig silently changes or
 * only calls a syntax error; line numbers count from 1.
 */
struct sg_conf_scan_ops {
	/* Two string literals with nothing but blanks or comments between. */
	void	(*adjacent) (void *arg, unsigned line, const char *a, size_t alen,
			     const char *b, size_t blen, bool in_list);
	/* An integer literal right after "name =" (or ":"), as written. */
	void	(*integer) (void *arg, unsigned line, const char *name, size_t namelen,
			    const char *num, size_t numlen);
	/* "a.b = value": a dotted name; value is the raw text up to ";". */
	void	(*dotted) (void *arg, unsigned line, const char *name, size_t namelen,
			   const char *value, size_t valuelen);
	void	(*include) (void *arg, unsigned line, const char *path, size_t len);
};

void	sg_conf_scan(const char *text, size_t len, const struct sg_conf_scan_ops *, void *arg);

/* For parse()/check() callbacks. */
void	sg_conf_error(struct sg_conf_ctx *, const config_setting_t *,
		      const char *fmt, ...) SG_PRINTF(3, 4);
struct sg_arena *sg_conf_arena(struct sg_conf_ctx *);
const char *sg_conf_file(struct sg_conf_ctx *);
/* Apply a row table to one group setting (for nested structures). */
int	sg_conf_apply(struct sg_conf_ctx *, const config_setting_t *group,
		      const struct sg_conf_row *rows, void *base);
/* The process dropped privileges: files of restart-only keys go unchecked. */
void	sg_conf_started(void);

/*
 * The top-level keys every program shares (section name NULL). Component
 * sections live with their component (queue/queue.h, smtpd/smtpd.h, ...).
 */
struct sg_conf_main {
	char   *state_dir;
	char   *hostname;
	char   *user;
	char   *group;
	char   *worker_user;		/* "": the worker runs as user */
	int	log_level;		/* enum sg_log_level */
	int	syslog_facility;	/* index into sg_conf_facilities */
	char   *pidfile;
	struct sg_strlist own_domains;
	struct sg_cidrlist own_servers;
};

extern const struct sg_conf_row sg_conf_main_rows[];

/*
 * sg_conf_run_ids() gives the uid and gid the roles run as: main's user,
 * with group's gid when one is named. False when no user is configured or
 * the system does not know it (the configuration check reports that).
 */
bool	sg_conf_run_ids(const struct sg_conf_main *, uid_t *uid, gid_t *gid);
/*
 * sg_conf_worker_ids() gives the uid and gid the worker runs as, and
 * the owner of the key database: worker_user (user when it is empty)
 * with the roles' gid, the group the queue is shared through. False
 * when no user is configured. sg_conf_worker_apart() is true when
 * worker_user names a user other than user: the roles facing the
 * network then cannot open the key database.
 */
bool	sg_conf_worker_ids(const struct sg_conf_main *, uid_t *uid, gid_t *gid);
bool	sg_conf_worker_apart(const struct sg_conf_main *);
extern const char *const sg_conf_facilities[];
int	sg_conf_facility_value(int index);

/* Parts of this interface with owners of their own. */
#include "common/sg_addr.h"
#include "common/sg_dsn.h"
#include "common/sg_rules.h"

#endif
