/*
 * NAME
 *	conf 3
 * SUMMARY
 *	table-driven loading and validation of the libconfig file
 * SYNOPSIS
 *	#include "common/sg.h"
 *
 *	int	sg_conf_load(file, sections, nsections, base, arena, errors)
 *	int	sg_conf_apply(ctx, group, rows, base)
 *	void	sg_conf_error(ctx, setting, fmt, ...)
 *	void	sg_conf_started(void)
 * DESCRIPTION
 *	sg_conf_load() reads file with libconfig and fills the program's
 *	configuration struct at base, one section table at a time. Keys that
 *	are absent take the row's default, which is written as config text
 *	and goes through the very same parser and checks as the file does.
 *	Every string, list and element is allocated from arena.
 *
 *	Unknown keys, wrong types, out-of-range values, bad addresses and
 *	missing files are errors. All of them are collected, one
 *	"FILE:LINE: message" line each, into errors; the return value is 0
 *	when there were none, else SG_EINVAL. A value out of range names the
 *	range ("1K to 16G").
 *
 *	The raw text of the file and of every file it includes is read too
 *	(sg_conf_scan()), for three things libconfig 1.5 hides. An integer
 *	literal beyond 32 bits without the L suffix, which libconfig wraps
 *	(5000000000 becomes 705032704), is read as written: in range it is
 *	taken, out of range the message says so with the number written.
 *	Two adjacent string literals, which libconfig joins (["a" "b"] is
 *	one element "ab"), are an error at the first one's line. And when
 *	libconfig refuses the file, every dotted key in it ("queue.lease =
 *	...", as sealgated -d prints keys) is reported with the group form
 *	to write instead, in place of a bare "syntax error".
 *
 *	sg_conf_apply() applies a row table to one group; parse() callbacks
 *	use it for nested structures.
 *
 *	sg_conf_started() is said by a process that has dropped privileges
 *	and runs on the values it started with: from then on, a file named
 *	by a key that needs a restart (no SG_CONF_F_LIVE) is not looked at
 *	when the file is read again. The process never reads it again (a
 *	password it read as root), and might not be allowed to; the master,
 *	which stays root, still checks it on every reload.
 * DIAGNOSTICS
 *	A default that fails to parse is a bug: sg_panic().
 * BUGS
 *	Literals are matched to settings by file, line and name, and only
 *	when libconfig's wrapped value is what wrapping the written one
 *	gives; integers inside arrays are not recovered (no key has any).
 */

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf_int.h"

#define CONF_TEXT_MAX	(16 << 20)	/* a larger file is not scanned */
#define INCLUDE_DEPTH	10		/* as libconfig */

struct sg_arena *sg_conf_arena(struct sg_conf_ctx *ctx)
{
	return (ctx->arena);
}

const char *sg_conf_file(struct sg_conf_ctx *ctx)
{
	return (ctx->file);
}

/* report - "FILE:LINE: message"; libconfig names included files as written */

static void report(struct sg_conf_ctx *ctx, const char *file, unsigned line,
		   const char *fmt, va_list ap)
{
	if (ctx->in_default)
		sg_panic("event=bad_default key=%s", ctx->in_default->name);
	if (file == NULL)
		file = ctx->file;
	sg_buf_printf(ctx->errors, "%s%s%s", *file == '/' ? "" : ctx->dir,
		      *file == '/' ? "" : "/", file);
	if (line)
		sg_buf_printf(ctx->errors, ":%u: ", line);
	else
		sg_buf_puts(ctx->errors, ": ");
	sg_buf_vprintf(ctx->errors, fmt, ap);
	sg_buf_putc(ctx->errors, '\n');
	ctx->nerr++;
}

/* sg_conf_error - record "FILE:LINE: message" */

void	sg_conf_error(struct sg_conf_ctx *ctx, const config_setting_t *s,
		      const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	report(ctx, s ? config_setting_source_file(s) : NULL,
	       s ? config_setting_source_line(s) : 0, fmt, ap);
	va_end(ap);
}

static void raw_error(struct sg_conf_ctx *ctx, const char *file, unsigned line,
		      const char *fmt, ...) SG_PRINTF(4, 5);

static void raw_error(struct sg_conf_ctx *ctx, const char *file, unsigned line,
		      const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	report(ctx, file, line, fmt, ap);
	va_end(ap);
}

static const char *type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return ("a group");
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return ("an integer");
	case CONFIG_TYPE_FLOAT:
		return ("a number");
	case CONFIG_TYPE_STRING:
		return ("a string");
	case CONFIG_TYPE_BOOL:
		return ("a boolean");
	case CONFIG_TYPE_ARRAY:
		return ("an array");
	case CONFIG_TYPE_LIST:
		return ("a list");
	default:
		return ("nothing");
	}
}

static bool is_int(const config_setting_t *s)
{
	int	t = config_setting_type(s);

	return (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64);
}

static int want(struct sg_conf_ctx *ctx, const config_setting_t *s,
		const struct sg_conf_row *r, int type, const char *what)
{
	if (config_setting_type(s) == type)
		return (0);
	sg_conf_error(ctx, s, "%s: expected %s, found %s", r->name, what,
		      type_name(config_setting_type(s)));
	return (SG_EINVAL);
}

/* out_of_range - "key: TEXT is out of range (1K to 16G)" */

static int out_of_range(struct sg_conf_ctx *ctx, const config_setting_t *s,
			const struct sg_conf_row *r, const char *text)
{
	struct sg_buf range = SG_BUF_INIT;

	if (r->min || r->max)
		sg_conf__range(&range, r);
	else
		sg_buf_puts(&range, *text == '-' ? "not negative" : "too large");
	sg_conf_error(ctx, s, "%s: %s is out of range (%s)", r->name, text, range.data);
	sg_buf_free(&range);
	return (SG_EINVAL);
}

static int in_range(struct sg_conf_ctx *ctx, const config_setting_t *s,
		    const struct sg_conf_row *r, int64_t v, const char *text)
{
	if ((r->min || r->max) && (v < r->min || v > r->max))
		return (out_of_range(ctx, s, r, text));
	return (0);
}

/* find_lit - the literal libconfig wrapped into s, if there is one */

static const struct sg_conf_lit *find_lit(const struct sg_conf_ctx *ctx,
					  const config_setting_t *s)
{
	const char *file = config_setting_source_file(s);
	const char *name = config_setting_name(s);
	unsigned line = config_setting_source_line(s);
	long long got = config_setting_get_int64(s);

	if (file == NULL || name == NULL || config_setting_type(s) != CONFIG_TYPE_INT)
		return (NULL);
	for (size_t i = 0; i < ctx->nlits; i++) {
		const struct sg_conf_lit *l = &ctx->lits[i];

		if (l->line == line && strcmp(l->name, name) == 0 && strcmp(l->file, file) == 0
		    && (l->huge || (int32_t) (uint32_t) (uint64_t) l->value == got))
			return (l);
	}
	return (NULL);
}

/*
 * int_value - an integer setting as written: *text is its digits and
 * *huge says it is beyond 64 bits (then *v means nothing).
 */

static void int_value(struct sg_conf_ctx *ctx, const config_setting_t *s, int64_t *v,
		      bool *huge, char *buf, size_t len, const char **text)
{
	const struct sg_conf_lit *l = find_lit(ctx, s);

	*huge = l && l->huge;
	*v = l ? l->value : (int64_t) config_setting_get_int64(s);
	if (*huge) {
		*text = l->text;
	} else {
		snprintf(buf, len, "%lld", (long long) *v);
		*text = buf;
	}
}

/* scalar_text - an integer setting as digits, or a string setting's text */

static int scalar_text(struct sg_conf_ctx *ctx, const config_setting_t *s,
		       const struct sg_conf_row *r, char *buf, size_t len,
		       const char **text)
{
	if (is_int(s)) {
		int64_t	v;
		bool	huge;

		int_value(ctx, s, &v, &huge, buf, len, text);
		if (huge ? **text == '-' : v < 0)
			return (out_of_range(ctx, s, r, *text));
		return (0);
	}
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		*text = config_setting_get_string(s);
		return (0);
	}
	sg_conf_error(ctx, s, "%s: expected a number or a string, found %s",
		      r->name, type_name(config_setting_type(s)));
	return (SG_EINVAL);
}

/*
 * number_syntax - digits and a unit: a size (units "kKmMgG") or a
 * duration (units NULL) whose parse failed only because it is too large
 */

static bool number_syntax(const char *t, const char *units)
{
	static const char *const dunits[] = {"", "ms", "s", "m", "h", "d", "w"};
	size_t	n = strspn(t, "0123456789");

	if (n == 0)
		return (false);
	if (units)
		return (t[n] == 0 || (strchr(units, t[n]) && t[n + 1] == 0));
	for (size_t i = 0; i < SG_NELEM(dunits); i++)
		if (strcmp(t + n, dunits[i]) == 0)
			return (true);
	return (false);
}

static int parse_size(struct sg_conf_ctx *ctx, const config_setting_t *s,
		      const struct sg_conf_row *r, void *field)
{
	char	buf[32];
	const char *t;
	uint64_t v;

	if (scalar_text(ctx, s, r, buf, sizeof(buf), &t) < 0)
		return (SG_EINVAL);
	if (sg_parse_size(t, strlen(t), &v) < 0 || v > INT64_MAX) {
		if (number_syntax(t, "kKmMgG"))
			return (out_of_range(ctx, s, r, t));
		sg_conf_error(ctx, s, "%s: invalid size \"%s\" (use bytes or K, M, G)",
			      r->name, t);
		return (SG_EINVAL);
	}
	if (in_range(ctx, s, r, (int64_t) v, t) < 0)
		return (SG_EINVAL);
	*(uint64_t *) field = v;
	return (0);
}

static int parse_duration(struct sg_conf_ctx *ctx, const config_setting_t *s,
			  const struct sg_conf_row *r, void *field)
{
	char	buf[32];
	const char *t;
	int64_t	v;

	if (scalar_text(ctx, s, r, buf, sizeof(buf), &t) < 0)
		return (SG_EINVAL);
	if (sg_parse_duration(t, strlen(t), &v) < 0) {
		if (number_syntax(t, NULL))
			return (out_of_range(ctx, s, r, t));
		sg_conf_error(ctx, s, "%s: invalid duration \"%s\" (use e.g. 30s, 5m, 2h, 5d)",
			      r->name, t);
		return (SG_EINVAL);
	}
	if (in_range(ctx, s, r, v, t) < 0)
		return (SG_EINVAL);
	*(int64_t *) field = v;
	return (0);
}

/* resolve_path - relative paths are relative to the config file */

static char *resolve_path(struct sg_conf_ctx *ctx, const char *p)
{
	if (*p == 0 || *p == '/')
		return (sg_arena_strdup(ctx->arena, p));
	size_t	n = strlen(ctx->dir) + strlen(p) + 2;
	char   *out = sg_arena_alloc(ctx->arena, n);

	snprintf(out, n, "%s/%s", ctx->dir, p);
	return (out);
}

/* Set once the process runs on the values it started with (sg_conf_started()). */
static bool conf_started;

void	sg_conf_started(void)
{
	conf_started = true;
}

static int parse_path(struct sg_conf_ctx *ctx, const config_setting_t *s,
		      const struct sg_conf_row *r, void *field)
{
	struct stat st;
	char   *path;

	if (want(ctx, s, r, CONFIG_TYPE_STRING, "a string") < 0)
		return (SG_EINVAL);
	path = resolve_path(ctx, config_setting_get_string(s));
	*(char **) field = path;
	if (*path == 0 || (conf_started && (r->flags & SG_CONF_F_FILE)
			   && !(r->flags & SG_CONF_F_LIVE)))
		return (0);
	if ((r->flags & (SG_CONF_F_FILE | SG_CONF_F_EXEC)) && stat(path, &st) < 0) {
		sg_conf_error(ctx, s, "%s: %s: %s", r->name, path, strerror(errno));
		return (SG_EINVAL);
	}
	if ((r->flags & SG_CONF_F_FILE) && (!S_ISREG(st.st_mode) || access(path, R_OK) < 0)) {
		sg_conf_error(ctx, s, "%s: %s: not a readable file", r->name, path);
		return (SG_EINVAL);
	}
	if ((r->flags & SG_CONF_F_DIR) && stat(path, &st) == 0 && !S_ISDIR(st.st_mode)) {
		sg_conf_error(ctx, s, "%s: %s: not a directory", r->name, path);
		return (SG_EINVAL);
	}
	return (0);
}

static int parse_enum(struct sg_conf_ctx *ctx, const config_setting_t *s,
		      const struct sg_conf_row *r, void *field)
{
	struct sg_buf all = SG_BUF_INIT;
	const char *v;

	if (want(ctx, s, r, CONFIG_TYPE_STRING, "a string") < 0)
		return (SG_EINVAL);
	v = config_setting_get_string(s);
	for (int i = 0; r->choices[i]; i++) {
		if (strcmp(v, r->choices[i]) == 0) {
			*(int *) field = i;
			return (0);
		}
	}
	for (int i = 0; r->choices[i]; i++)
		sg_buf_printf(&all, "%s%s", i ? ", " : "", r->choices[i]);
	sg_conf_error(ctx, s, "%s: invalid value \"%s\" (one of: %s)", r->name, v, all.data);
	sg_buf_free(&all);
	return (SG_EINVAL);
}

/* parse_strings - an array of strings, each checked by the row's type */

static int parse_strings(struct sg_conf_ctx *ctx, const config_setting_t *s,
			 const struct sg_conf_row *r, void *field)
{
	int	type = config_setting_type(s);
	int	n, bad = 0;

	if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
		sg_conf_error(ctx, s, "%s: expected an array of strings [\"...\", ...], found %s",
			      r->name, type_name(type));
		return (SG_EINVAL);
	}
	n = config_setting_length(s);
	char  **v = sg_arena_alloc(ctx->arena, sizeof(char *) * (size_t) (n + 1));
	struct sg_cidr *c = sg_arena_alloc(ctx->arena, sizeof(*c) * (size_t) (n + 1));

	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
		const char *t = config_setting_get_string(e);

		if (t == NULL) {
			sg_conf_error(ctx, e, "%s: element %d is not a string", r->name, i);
			bad++;
			continue;
		}
		v[i] = sg_arena_strdup(ctx->arena, t);
		if (r->type == SG_CONF_DOMAINLIST) {
			for (char *p = v[i]; *p; p++)
				*p = (char) tolower((unsigned char) *p);
			if (!sg_domain_pattern_valid(v[i], strlen(v[i]))) {
				sg_conf_error(ctx, e, "%s: invalid domain \"%s\"", r->name, t);
				bad++;
			}
		} else if (r->type == SG_CONF_CIDRLIST
			   && sg_cidr_parse(t, strlen(t), &c[i]) < 0) {
			sg_conf_error(ctx, e, "%s: invalid address or network \"%s\"", r->name, t);
			bad++;
		}
	}
	if (r->type == SG_CONF_CIDRLIST) {
		((struct sg_cidrlist *) field)->n = (size_t) n;
		((struct sg_cidrlist *) field)->v = c;
	} else {
		((struct sg_strlist *) field)->n = (size_t) n;
		((struct sg_strlist *) field)->v = v;
	}
	return (bad ? SG_EINVAL : 0);
}

static int parse_grouplist(struct sg_conf_ctx *ctx, const config_setting_t *s,
			   const struct sg_conf_row *r, void *field)
{
	struct sg_conf_array *a = field;
	int	n, bad = 0;

	if (config_setting_type(s) != CONFIG_TYPE_LIST) {
		sg_conf_error(ctx, s, "%s: expected a list of groups ( { ... }, ... ), found %s",
			      r->name, type_name(config_setting_type(s)));
		return (SG_EINVAL);
	}
	n = config_setting_length(s);
	a->n = (size_t) n;
	a->v = sg_arena_alloc(ctx->arena, r->elem_size * (size_t) (n + 1));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
		void   *elem = (char *) a->v + r->elem_size * (size_t) i;

		if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
			sg_conf_error(ctx, e, "%s: element %d is not a group { ... }", r->name, i);
			bad++;
		} else if (sg_conf_apply(ctx, e, r->elem_rows, elem) < 0) {
			bad++;
		}
	}
	return (bad ? SG_EINVAL : 0);
}

/* parse_field - one present setting into the row's field */

static int parse_field(struct sg_conf_ctx *ctx, const config_setting_t *s,
		       const struct sg_conf_row *r, void *field)
{
	char	host[256];
	unsigned port;

	switch (r->type) {
	case SG_CONF_BOOL:
		if (want(ctx, s, r, CONFIG_TYPE_BOOL, "true or false") < 0)
			return (SG_EINVAL);
		*(bool *) field = config_setting_get_bool(s);
		return (0);
	case SG_CONF_INT:
		if (!is_int(s)) {
			sg_conf_error(ctx, s, "%s: expected an integer, found %s",
				      r->name, type_name(config_setting_type(s)));
			return (SG_EINVAL);
		} else {
			int64_t	v;
			bool	huge;
			char	buf[32];
			const char *t;

			int_value(ctx, s, &v, &huge, buf, sizeof(buf), &t);
			if (huge)
				return (out_of_range(ctx, s, r, t));
			if (in_range(ctx, s, r, v, t) < 0)
				return (SG_EINVAL);
			*(int64_t *) field = v;
		}
		return (0);
	case SG_CONF_SIZE:
		return (parse_size(ctx, s, r, field));
	case SG_CONF_DURATION:
		return (parse_duration(ctx, s, r, field));
	case SG_CONF_STRING:
		if (want(ctx, s, r, CONFIG_TYPE_STRING, "a string") < 0)
			return (SG_EINVAL);
		*(char **) field = sg_arena_strdup(ctx->arena, config_setting_get_string(s));
		return (0);
	case SG_CONF_PATH:
		return (parse_path(ctx, s, r, field));
	case SG_CONF_ENUM:
		return (parse_enum(ctx, s, r, field));
	case SG_CONF_STRLIST:
	case SG_CONF_DOMAINLIST:
	case SG_CONF_CIDRLIST:
		return (parse_strings(ctx, s, r, field));
	case SG_CONF_HOSTPORT:
		if (want(ctx, s, r, CONFIG_TYPE_STRING, "a string \"host:port\"") < 0)
			return (SG_EINVAL);
		const char *t = config_setting_get_string(s);

		if (sg_hostport_parse(t, strlen(t), host, sizeof(host), &port, 0) < 0) {
			sg_conf_error(ctx, s, "%s: invalid address \"%s\" (want host:port, "
				   "[ipv6]:port, port 1-65535)", r->name, t);
			return (SG_EINVAL);
		}
		*(char **) field = sg_arena_strdup(ctx->arena, t);
		return (0);
	case SG_CONF_GROUPLIST:
		return (parse_grouplist(ctx, s, r, field));
	case SG_CONF_CUSTOM:
		return (r->parse(ctx, s, field));
	}
	sg_panic("event=bad_row key=%s type=%d", r->name, (int) r->type);
}

static int parse_row(struct sg_conf_ctx *ctx, const config_setting_t *s,
		     const struct sg_conf_row *r, void *base)
{
	return (parse_field(ctx, s, r, (char *) base + r->offset));
}

/* sg_conf__default - parse the row's default text like a value from the file */

int	sg_conf__default(struct sg_conf_ctx *ctx, const struct sg_conf_row *r, void *field)
{
	config_t tmp;
	struct sg_buf text = SG_BUF_INIT;
	int	rc;

	if (r->def == NULL)
		return (0);
	config_init(&tmp);
	sg_buf_printf(&text, "v = %s;", r->def);
	if (config_read_string(&tmp, text.data) != CONFIG_TRUE)
		sg_panic("event=bad_default key=%s def=%s", r->name, r->def);
	ctx->in_default = r;
	rc = parse_field(ctx, config_lookup(&tmp, "v"), r, field);
	ctx->in_default = NULL;
	config_destroy(&tmp);
	sg_buf_free(&text);
	return (rc);
}

static int apply_default(struct sg_conf_ctx *ctx, const struct sg_conf_row *r, void *base)
{
	return (sg_conf__default(ctx, r, (char *) base + r->offset));
}

static const struct sg_conf_row *find_row(const struct sg_conf_row *rows, const char *name)
{
	for (const struct sg_conf_row *r = rows; r->name; r++)
		if (strcmp(r->name, name) == 0)
			return (r);
	return (NULL);
}

/* check_unknown - every member of group must be a row (or a section) */

static int check_unknown(struct sg_conf_ctx *ctx, const config_setting_t *group,
			 const struct sg_conf_row *rows,
			 const struct sg_conf_section *sections, size_t nsections)
{
	int	bad = 0;

	for (int i = 0; group && i < config_setting_length(group); i++) {
		const config_setting_t *m = config_setting_get_elem(group, (unsigned) i);
		const char *name = config_setting_name(m);
		bool	known = find_row(rows, name) != NULL;

		for (size_t j = 0; !known && j < nsections; j++)
			known = sections[j].name && strcmp(sections[j].name, name) == 0;
		if (!known) {
			sg_conf_error(ctx, m, "unknown key \"%s\"", name);
			bad++;
		}
	}
	return (bad ? SG_EINVAL : 0);
}

static int apply_rows(struct sg_conf_ctx *ctx, const config_setting_t *group,
		      const struct sg_conf_row *rows, void *base)
{
	int	bad = 0;

	for (const struct sg_conf_row *r = rows; r->name; r++) {
		const config_setting_t *s = group ? config_setting_get_member(group, r->name) : NULL;

		if (s && (r->flags & SG_CONF_F_REQUIRED)
		    && config_setting_type(s) == CONFIG_TYPE_STRING
		    && *config_setting_get_string(s) == 0) {
			/* what a required path or name cannot do without */
			sg_conf_error(ctx, s, "%s: must not be empty", r->name);
			bad++;
		} else if (s)
			bad += parse_row(ctx, s, r, base) < 0;
		else if (r->flags & SG_CONF_F_REQUIRED) {
			sg_conf_error(ctx, group, "missing required key \"%s\"", r->name);
			bad++;
		} else
			bad += apply_default(ctx, r, base) < 0;
	}
	for (const struct sg_conf_row *r = rows; bad == 0 && r->name; r++)
		if (r->check)
			bad += r->check(ctx, group, base) < 0;
	return (bad ? SG_EINVAL : 0);
}

int	sg_conf_apply(struct sg_conf_ctx *ctx, const config_setting_t *group,
		      const struct sg_conf_row *rows, void *base)
{
	int	bad = check_unknown(ctx, group, rows, NULL, 0) < 0;

	bad += apply_rows(ctx, group, rows, base) < 0;
	return (bad ? SG_EINVAL : 0);
}

/* ------------------------------------------------------- the raw text */

struct raw {
	struct sg_conf_ctx *ctx;
	const char *file;		/* as libconfig names it */
	int	depth;			/* of includes */
	bool	refused;		/* libconfig refused the file */
	const char *errfile;		/* ... at this place */
	unsigned errline;
	bool	explained;		/* a dotted key there says why */
};

static void raw_scan(struct raw *, const char *file, const char *path);

/* lit_value - an integer literal as written: sign, 0x, digits */

static bool lit_value(const char *t, size_t n, int64_t *v, bool *huge)
{
	bool	neg = n > 0 && t[0] == '-';
	size_t	i = n > 0 && (t[0] == '-' || t[0] == '+');
	uint64_t u = 0;

	*huge = false;
	if (n - i > 2 && t[i] == '0' && (t[i + 1] == 'x' || t[i + 1] == 'X')) {
		for (i += 2; i < n && isxdigit((unsigned char) t[i]); i++) {
			*huge |= u > (UINT64_MAX >> 4);
			u = (u << 4) | (uint64_t) (isdigit((unsigned char) t[i]) ? t[i] - '0'
						   : (tolower((unsigned char) t[i]) - 'a' + 10));
		}
		if (i != n)
			return (false);
	} else if (sg_parse_u64(t + i, n - i, &u) < 0) {
		for (size_t k = i; k < n; k++)
			if (!isdigit((unsigned char) t[k]))
				return (false);	/* L suffix, a float: not ours */
		*huge = n > i;
	}
	*huge |= u > (uint64_t) INT64_MAX + neg;
	*v = *huge ? 0 : neg ? (int64_t) (0 - u) : (int64_t) u;
	return (true);
}

static void on_integer(void *arg, unsigned line, const char *name, size_t namelen,
		       const char *num, size_t numlen)
{
	struct raw *raw = arg;
	struct sg_conf_ctx *ctx = raw->ctx;
	struct sg_conf_lit *l;
	int64_t	v;
	bool	huge;

	if (!lit_value(num, numlen, &v, &huge) || (!huge && v >= INT32_MIN && v <= INT32_MAX))
		return;
	ctx->lits = sg_xrealloc(ctx->lits, (ctx->nlits + 1) * sizeof(*ctx->lits));
	l = &ctx->lits[ctx->nlits++];
	l->file = sg_arena_strdup(ctx->arena, raw->file);
	l->line = line;
	l->name = sg_arena_strndup(ctx->arena, name, namelen);
	l->text = sg_arena_strndup(ctx->arena, num, numlen);
	l->value = v;
	l->huge = huge;
}

/*
 * as_written - the administrator's own text for a one-line message: as
 * it is, but cut at len-1 bytes (with "...") and with line breaks and
 * other control bytes made blanks
 */

static char *as_written(char *dst, size_t len, const char *src, size_t n)
{
	size_t	k = 0;

	for (size_t i = 0; i < n && k + 1 < len; i++)
		dst[k++] = (unsigned char) src[i] < 0x20 ? ' ' : src[i];
	if (k < n && len > 4)
		memcpy(dst + len - 4, "...", 3), k = len - 1;
	dst[k] = 0;
	return (dst);
}

static void on_adjacent(void *arg, unsigned line, const char *a, size_t alen,
			const char *b, size_t blen, bool in_list)
{
	struct raw *raw = arg;
	char	pa[80], pb[80];

	raw_error(raw->ctx, raw->file, line, "adjacent strings \"%s\" \"%s\" are joined into "
		  "one by libconfig; %s", as_written(pa, sizeof(pa), a, alen),
		  as_written(pb, sizeof(pb), b, blen), in_list
		  ? "separate list elements with commas" : "write one string");
}

/* on_dotted - "queue.lease = 5m;" as "queue = { lease = 5m; };" */

static void on_dotted(void *arg, unsigned line, const char *name, size_t namelen,
		      const char *value, size_t valuelen)
{
	struct raw *raw = arg;
	struct sg_buf hint = SG_BUF_INIT;
	size_t	groups = 0;
	char	shown[160];

	if (!raw->refused)
		return;
	for (size_t i = 0, start = 0; i <= namelen; i++) {
		if (i < namelen && name[i] != '.')
			continue;
		if (i == namelen)
			sg_buf_printf(&hint, "%.*s = ", (int) (i - start), name + start);
		else if (i > start)
			sg_buf_printf(&hint, "%.*s = { ", (int) (i - start), name + start), groups++;
		start = i + 1;
	}
	as_written(shown, sizeof(shown), value, valuelen);
	sg_buf_printf(&hint, "%s;", valuelen ? shown : "...");
	while (groups-- > 0)
		sg_buf_puts(&hint, " };");
	raw_error(raw->ctx, raw->file, line, "dotted key \"%.*s\" is not libconfig syntax "
		  "(sealgated -d writes keys so); write it inside its group: %s",
		  (int) namelen, name, hint.data);
	sg_buf_free(&hint);
	if (raw->errline == line && strcmp(raw->errfile, raw->file) == 0)
		raw->explained = true;
}

static void on_include(void *arg, unsigned line, const char *path, size_t len)
{
	struct raw *raw = arg;
	struct sg_buf name = SG_BUF_INIT, full = SG_BUF_INIT;

	(void) line;
	if (raw->depth >= INCLUDE_DEPTH)
		return;
	sg_buf_append(&name, path, len);
	/* libconfig 1.5 puts the include directory before every name */
	sg_buf_printf(&full, "%s/%s", raw->ctx->dir, name.data);
	raw->depth++;
	raw_scan(raw, name.data, full.data);
	raw->depth--;
	sg_buf_free(&name);
	sg_buf_free(&full);
}

/* raw_scan - one file's text (path) that libconfig calls file */

static void raw_scan(struct raw *raw, const char *file, const char *path)
{
	static const struct sg_conf_scan_ops ops = {
		.adjacent = on_adjacent,.integer = on_integer,
		.dotted = on_dotted,.include = on_include,
	};
	struct sg_buf text = SG_BUF_INIT;
	const char *outer = raw->file;
	FILE   *fp;
	char	chunk[8192];
	size_t	n;

	if ((fp = fopen(path, "r")) == NULL)
		return;			/* libconfig says so */
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0 && text.len < CONF_TEXT_MAX)
		sg_buf_append(&text, chunk, n);
	fclose(fp);
	raw->file = file;
	if (text.len > 0 && memchr(text.data, 0, text.len)) {
		/* libconfig ends a string at a NUL byte and says nothing */
		const char *nul = memchr(text.data, 0, text.len);
		unsigned line = 1;

		for (const char *p = text.data; p < nul; p++)
			line += *p == '\n';
		raw_error(raw->ctx, file, line, "a NUL byte: the file is not text");
		raw->explained = true;
	} else if (text.len < CONF_TEXT_MAX)
		sg_conf_scan(text.data ? text.data : "", text.len, &ops, raw);
	raw->file = outer;
	sg_buf_free(&text);
}

static int read_file(struct sg_conf_ctx *ctx, config_t *cf)
{
	FILE   *fp;

	/* Open it ourselves first: libconfig reports a missing file without errno. */
	if ((fp = fopen(ctx->file, "r")) == NULL) {
		sg_buf_printf(ctx->errors, "%s: cannot open: %s\n", ctx->file, strerror(errno));
		ctx->nerr++;
		return (SG_EINVAL);
	}
	fclose(fp);
	config_set_include_dir(cf, ctx->dir);
	if (config_read_file(cf, ctx->file) == CONFIG_TRUE) {
		struct raw raw = {.ctx = ctx};

		raw_scan(&raw, ctx->file, ctx->file);
		return (0);
	}

	const char *ef = config_error_file(cf);
	struct raw raw = {.ctx = ctx,.refused = true,.errfile = ef ? ef : ctx->file,
	.errline = (unsigned) config_error_line(cf)};

	raw_scan(&raw, ctx->file, ctx->file);
	if (!raw.explained)
		raw_error(ctx, raw.errfile, raw.errline, "%s", config_error_text(cf));
	return (SG_EINVAL);
}

int	sg_conf_load(const char *file, const struct sg_conf_section *sections,
		     size_t nsections, void *base, struct sg_arena *arena,
		     struct sg_buf *errors)
{
	struct sg_conf_ctx ctx = {.file = file,.arena = arena,.errors = errors};
	config_t cf;
	char	tmp[PATH_MAX];
	const config_setting_t *root;

	snprintf(tmp, sizeof(tmp), "%s", file);
	if (realpath(dirname(tmp), ctx.dir) == NULL)
		snprintf(ctx.dir, sizeof(ctx.dir), ".");
	config_init(&cf);
	if (read_file(&ctx, &cf) < 0) {
		config_destroy(&cf);
		free(ctx.lits);
		return (SG_EINVAL);
	}
	root = config_root_setting(&cf);
	for (size_t i = 0; i < nsections; i++) {
		const struct sg_conf_section *sec = &sections[i];
		void   *sbase = (char *) base + sec->offset;
		const config_setting_t *g = root;

		if (sec->name == NULL) {
			check_unknown(&ctx, root, sec->rows, sections, nsections);
		} else if ((g = config_setting_get_member(root, sec->name)) != NULL
			   && config_setting_type(g) != CONFIG_TYPE_GROUP) {
			sg_conf_error(&ctx, g, "%s: expected a group { ... }", sec->name);
			continue;
		} else if (g) {
			check_unknown(&ctx, g, sec->rows, NULL, 0);
		}
		apply_rows(&ctx, g, sec->rows, sbase);
	}
	config_destroy(&cf);
	free(ctx.lits);
	return (ctx.nerr ? SG_EINVAL : 0);
}
