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
 *	when there were none, else SG_EINVAL.
 *
 *	sg_conf_apply() applies a row table to one group; parse() callbacks
 *	use it for nested structures.
 * DIAGNOSTICS
 *	A default that fails to parse is a bug: sg_panic().
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

#include "sg.h"

struct sg_conf_ctx {
	const char *file;
	char	dir[PATH_MAX];
	struct sg_arena *arena;
	struct sg_buf *errors;
	int	nerr;
	const struct sg_conf_row *in_default;	/* row whose default is parsed */
};

struct sg_arena *sg_conf_arena(struct sg_conf_ctx *ctx)
{
	return (ctx->arena);
}

const char *sg_conf_file(struct sg_conf_ctx *ctx)
{
	return (ctx->file);
}

/* sg_conf_error - record "FILE:LINE: message" */

void	sg_conf_error(struct sg_conf_ctx *ctx, const config_setting_t *s,
		      const char *fmt, ...)
{
	const char *file = NULL;
	unsigned line = 0;
	va_list	ap;

	if (ctx->in_default)
		sg_panic("event=bad_default key=%s", ctx->in_default->name);
	if (s) {
		file = config_setting_source_file(s);
		line = config_setting_source_line(s);
	}
	if (file == NULL)
		file = ctx->file;
	sg_buf_printf(ctx->errors, "%s%s%s", *file == '/' ? "" : ctx->dir,
		      *file == '/' ? "" : "/", file);
	if (line)
		sg_buf_printf(ctx->errors, ":%u: ", line);
	else
		sg_buf_puts(ctx->errors, ": ");
	va_start(ap, fmt);
	sg_buf_vprintf(ctx->errors, fmt, ap);
	va_end(ap);
	sg_buf_putc(ctx->errors, '\n');
	ctx->nerr++;
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

static int in_range(struct sg_conf_ctx *ctx, const config_setting_t *s,
		    const struct sg_conf_row *r, int64_t v, const char *text)
{
	if ((r->min || r->max) && (v < r->min || v > r->max)) {
		sg_conf_error(ctx, s, "%s: %s is out of range", r->name, text);
		return (SG_EINVAL);
	}
	return (0);
}

/* scalar_text - an integer setting as digits, or a string setting's text */

static int scalar_text(struct sg_conf_ctx *ctx, const config_setting_t *s,
		       const struct sg_conf_row *r, char *buf, size_t len,
		       const char **text)
{
	if (is_int(s)) {
		long long v = config_setting_get_int64(s);

		if (v < 0) {
			sg_conf_error(ctx, s, "%s: negative value %lld", r->name, v);
			return (SG_EINVAL);
		}
		snprintf(buf, len, "%lld", v);
		*text = buf;
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

static int parse_size(struct sg_conf_ctx *ctx, const config_setting_t *s,
		      const struct sg_conf_row *r, void *field)
{
	char	buf[32];
	const char *t;
	uint64_t v;

	if (scalar_text(ctx, s, r, buf, sizeof(buf), &t) < 0)
		return (SG_EINVAL);
	if (sg_parse_size(t, strlen(t), &v) < 0 || v > INT64_MAX) {
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

static int parse_path(struct sg_conf_ctx *ctx, const config_setting_t *s,
		      const struct sg_conf_row *r, void *field)
{
	struct stat st;
	char   *path;

	if (want(ctx, s, r, CONFIG_TYPE_STRING, "a string") < 0)
		return (SG_EINVAL);
	path = resolve_path(ctx, config_setting_get_string(s));
	*(char **) field = path;
	if (*path == 0)
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

/* parse_row - one present setting into its field */

static int parse_row(struct sg_conf_ctx *ctx, const config_setting_t *s,
		     const struct sg_conf_row *r, void *base)
{
	void   *field = (char *) base + r->offset;
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
			int64_t	v = config_setting_get_int64(s);
			char	t[32];

			snprintf(t, sizeof(t), "%lld", (long long) v);
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

/* apply_default - parse the row's default text like a value from the file */

static int apply_default(struct sg_conf_ctx *ctx, const struct sg_conf_row *r, void *base)
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
	rc = parse_row(ctx, config_lookup(&tmp, "v"), r, base);
	ctx->in_default = NULL;
	config_destroy(&tmp);
	sg_buf_free(&text);
	return (rc);
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

		if (s)
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
	if (config_read_file(cf, ctx->file) != CONFIG_TRUE) {
		const char *ef = config_error_file(cf);

		if (ef == NULL)
			ef = ctx->file;
		sg_buf_printf(ctx->errors, "%s%s%s:%d: %s\n", *ef == '/' ? "" : ctx->dir,
			      *ef == '/' ? "" : "/", ef, config_error_line(cf),
			      config_error_text(cf));
		ctx->nerr++;
		return (SG_EINVAL);
	}
	return (0);
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
	return (ctx.nerr ? SG_EINVAL : 0);
}
