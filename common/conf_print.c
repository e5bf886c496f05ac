/*
 * NAME
 *	conf_print 3
 * SUMMARY
 *	loaded configuration values as text: print, compare, keep
 * SYNOPSIS
 *	#include "common/sg.h"
 *
 *	int	sg_conf_format(row, base, out)
 *	int	sg_conf_print(file, sections, nsections, base, flags, out)
 *	int	sg_conf_diff(sections, nsections, old, new, changed, arg)
 *	void	sg_conf_keep(sections, nsections, to, from, arena)
 * DESCRIPTION
 *	sg_conf_format() appends a row's value as configuration text that
 *	loads back to the same value: sizes with the largest unit that
 *	divides them ("50M"), durations likewise with ms, s, m, h or d
 *	("5m"), both as strings (libconfig wraps large integers), 0 as 0;
 *	strings quoted with libconfig's escapes; lists as [ "a", "b" ];
 *	networks as address/prefix (the prefix only when it is not the
 *	whole address); group lists as ( { key = value; ... }, ... ) with
 *	every key of each element. Paths are the absolute ones the loader
 *	made of them.
 *
 *	sg_conf_print() prints "key = value;" for top-level keys and
 *	"section.key = value;" for the others, one a line, in table order,
 *	for a configuration loaded from file into base. Without
 *	SG_CONF_PRINT_ALL only required keys and those the file sets to a
 *	value other than the default are printed; it reads file again with
 *	libconfig to know which keys it sets (a key it leaves out has its
 *	default, even when a check filled it in, like the host name).
 *
 *	sg_conf_diff() compares every row of two configurations loaded
 *	with the same tables by their text, calls changed() for each that
 *	differs and returns how many did.
 *
 *	sg_conf_keep() gives to the value from has for every row without
 *	SG_CONF_F_LIVE, copied deeply into arena: after a reload, the
 *	configuration a process keeps then says what it runs with, so the
 *	next reload compares the file with that.
 * DIAGNOSTICS
 *	sg_conf_format() returns SG_EUNSUPPORTED for a CUSTOM row (and
 *	appends "..."); sg_conf_print() returns SG_EINVAL when file cannot
 *	be read again.
 * BUGS
 *	CUSTOM rows are neither compared nor kept: give them SG_CONF_F_LIVE.
 */

#include <arpa/inet.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_int.h"

/* ------------------------------------------------------------ numbers */

static const struct unit {
	const char *name;
	int64_t	mul;
}	size_units[] = {
	{"G", 1LL << 30}, {"M", 1LL << 20}, {"K", 1LL << 10}, {"", 1},
},	duration_units[] = {
	{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1},
};

void	sg_conf__number(struct sg_buf *out, enum sg_conf_type type, int64_t v)
{
	const struct unit *u = type == SG_CONF_SIZE ? size_units : duration_units;
	size_t	n = type == SG_CONF_SIZE ? SG_NELEM(size_units) : SG_NELEM(duration_units);

	if (v == 0 || (type != SG_CONF_SIZE && type != SG_CONF_DURATION)) {
		sg_buf_printf(out, "%lld", (long long) v);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (v % u[i].mul == 0) {
			sg_buf_printf(out, "%lld%s", (long long) (v / u[i].mul), u[i].name);
			return;
		}
	}
}

void	sg_conf__range(struct sg_buf *out, const struct sg_conf_row *r)
{
	if (r->max == INT64_MAX) {
		sg_buf_puts(out, "at least ");
		sg_conf__number(out, r->type, r->min);
		return;
	}
	sg_conf__number(out, r->type, r->min);
	sg_buf_puts(out, " to ");
	sg_conf__number(out, r->type, r->max);
}

/* ------------------------------------------------------------- values */

static void quoted(struct sg_buf *out, const char *s)
{
	sg_buf_putc(out, '"');
	for (const unsigned char *p = (const unsigned char *) (s ? s : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			sg_buf_printf(out, "\\%c", *p);
		else if (*p == '\n')
			sg_buf_puts(out, "\\n");
		else if (*p == '\t')
			sg_buf_puts(out, "\\t");
		else if (*p < 0x20 || *p == 0x7f)
			sg_buf_printf(out, "\\x%02x", *p);
		else
			sg_buf_putc(out, (int) *p);
	}
	sg_buf_putc(out, '"');
}

static void strlist(struct sg_buf *out, const struct sg_strlist *l)
{
	sg_buf_puts(out, "[ ");
	for (size_t i = 0; i < l->n; i++) {
		quoted(out, l->v[i]);
		sg_buf_puts(out, i + 1 < l->n ? ", " : " ");
	}
	sg_buf_putc(out, ']');
}

static void cidrlist(struct sg_buf *out, const struct sg_cidrlist *l)
{
	sg_buf_puts(out, "[ ");
	for (size_t i = 0; i < l->n; i++) {
		const struct sg_cidr *c = &l->v[i];
		char	ip[INET6_ADDRSTRLEN];

		if (inet_ntop(c->family, c->addr, ip, sizeof(ip)) == NULL)
			snprintf(ip, sizeof(ip), "?");
		if (c->prefix != (c->family == AF_INET ? 32u : 128u))
			sg_buf_printf(out, "\"%s/%u\"", ip, c->prefix);
		else
			sg_buf_printf(out, "\"%s\"", ip);
		sg_buf_puts(out, i + 1 < l->n ? ", " : " ");
	}
	sg_buf_putc(out, ']');
}

static int grouplist(struct sg_buf *out, const struct sg_conf_row *r,
		     const struct sg_conf_array *a)
{
	int	rc = 0;

	sg_buf_puts(out, "( ");
	for (size_t i = 0; i < a->n; i++) {
		const char *elem = (const char *) a->v + r->elem_size * i;

		sg_buf_puts(out, "{ ");
		for (const struct sg_conf_row *e = r->elem_rows; e->name; e++) {
			sg_buf_printf(out, "%s = ", e->name);
			if (sg_conf_format(e, elem, out) < 0)
				rc = SG_EUNSUPPORTED;
			sg_buf_puts(out, "; ");
		}
		sg_buf_puts(out, i + 1 < a->n ? "}, " : "} ");
	}
	sg_buf_putc(out, ')');
	return (rc);
}

int	sg_conf_format(const struct sg_conf_row *r, const void *base, struct sg_buf *out)
{
	const void *f = (const char *) base + r->offset;

	switch (r->type) {
	case SG_CONF_BOOL:
		sg_buf_puts(out, *(const bool *) f ? "true" : "false");
		return (0);
	case SG_CONF_INT:
		sg_buf_printf(out, "%lld", (long long) *(const int64_t *) f);
		return (0);
	case SG_CONF_SIZE:
	case SG_CONF_DURATION:{
			int64_t	v = r->type == SG_CONF_SIZE ? (int64_t) * (const uint64_t *) f
			: *(const int64_t *) f;

			if (v != 0)
				sg_buf_putc(out, '"');
			sg_conf__number(out, r->type, v);
			if (v != 0)
				sg_buf_putc(out, '"');
			return (0);
		}
	case SG_CONF_STRING:
	case SG_CONF_PATH:
	case SG_CONF_HOSTPORT:
		quoted(out, *(char *const *) f);
		return (0);
	case SG_CONF_ENUM:
		quoted(out, r->choices[*(const int *) f]);
		return (0);
	case SG_CONF_STRLIST:
	case SG_CONF_DOMAINLIST:
		strlist(out, f);
		return (0);
	case SG_CONF_CIDRLIST:
		cidrlist(out, f);
		return (0);
	case SG_CONF_GROUPLIST:
		return (grouplist(out, r, f));
	case SG_CONF_CUSTOM:
		break;
	}
	sg_buf_puts(out, "...");
	return (SG_EUNSUPPORTED);
}

/* ------------------------------------------------------------ printing */

/* A field of any row type (CUSTOM rows are not compared with defaults). */
union field {
	bool	b;
	int	e;
	int64_t	i;
	uint64_t u;
	char   *s;
	struct sg_strlist sl;
	struct sg_cidrlist cl;
	struct sg_conf_array a;
};

/* differs - is the value at base not the row's default? */

static bool differs(struct sg_conf_ctx *ctx, const struct sg_conf_row *r, const void *base)
{
	union field def;
	struct sg_buf a = SG_BUF_INIT, b = SG_BUF_INIT;
	struct sg_conf_row at0 = *r;
	bool	d;

	if (r->def == NULL || r->type == SG_CONF_CUSTOM)
		return (true);
	memset(&def, 0, sizeof(def));
	at0.offset = 0;
	sg_conf__default(ctx, &at0, &def);
	sg_conf_format(&at0, &def, &a);
	sg_conf_format(r, base, &b);
	d = strcmp(a.data, b.data) != 0;
	sg_buf_free(&a);
	sg_buf_free(&b);
	return (d);
}

static void print_row(struct sg_buf *out, const struct sg_conf_section *sec,
		      const struct sg_conf_row *r, const void *sbase)
{
	if (sec->name)
		sg_buf_printf(out, "%s.", sec->name);
	sg_buf_printf(out, "%s = ", r->name);
	sg_conf_format(r, sbase, out);
	sg_buf_puts(out, ";\n");
}

int	sg_conf_print(const char *file, const struct sg_conf_section *sections,
		      size_t nsections, const void *base, unsigned flags, struct sg_buf *out)
{
	struct sg_buf errors = SG_BUF_INIT;
	struct sg_conf_ctx ctx = {.file = file,.errors = &errors};
	char	tmp[PATH_MAX];
	config_t cf;
	const config_setting_t *root;

	snprintf(tmp, sizeof(tmp), "%s", file);
	if (realpath(dirname(tmp), ctx.dir) == NULL)
		snprintf(ctx.dir, sizeof(ctx.dir), ".");
	config_init(&cf);
	config_set_include_dir(&cf, ctx.dir);
	if (!(flags & SG_CONF_PRINT_ALL) && config_read_file(&cf, file) != CONFIG_TRUE) {
		config_destroy(&cf);
		return (SG_EINVAL);
	}
	ctx.arena = sg_arena_new();
	root = config_root_setting(&cf);
	for (size_t i = 0; i < nsections; i++) {
		const struct sg_conf_section *sec = &sections[i];
		const void *sbase = (const char *) base + sec->offset;
		const config_setting_t *g = sec->name ? config_setting_get_member(root, sec->name)
		: root;

		for (const struct sg_conf_row *r = sec->rows; r->name; r++) {
			if ((flags & SG_CONF_PRINT_ALL) || (r->flags & SG_CONF_F_REQUIRED)
			    || (g && config_setting_get_member(g, r->name) && differs(&ctx, r, sbase)))
				print_row(out, sec, r, sbase);
		}
	}
	sg_arena_free(ctx.arena);
	sg_buf_free(&errors);
	config_destroy(&cf);
	return (0);
}

/* ---------------------------------------------------- compare and keep */

int	sg_conf_diff(const struct sg_conf_section *sections, size_t nsections,
		     const void *old, const void *new, sg_conf_changed_fn *changed, void *arg)
{
	struct sg_buf a = SG_BUF_INIT, b = SG_BUF_INIT;
	int	n = 0;

	for (size_t i = 0; i < nsections; i++) {
		const struct sg_conf_section *sec = &sections[i];

		for (const struct sg_conf_row *r = sec->rows; r->name; r++) {
			sg_buf_reset(&a);
			sg_buf_reset(&b);
			sg_conf_format(r, (const char *) old + sec->offset, &a);
			sg_conf_format(r, (const char *) new + sec->offset, &b);
			if (strcmp(a.data, b.data) != 0) {
				n++;
				changed(arg, sec, r);
			}
		}
	}
	sg_buf_free(&a);
	sg_buf_free(&b);
	return (n);
}

static char *copy_str(struct sg_arena *arena, const char *s)
{
	return (s ? sg_arena_strdup(arena, s) : NULL);
}

/* copy_field - the value of row r at from into to, deeply */

static void copy_field(const struct sg_conf_row *r, void *to, const void *from,
		       struct sg_arena *arena)
{
	void   *t = (char *) to + r->offset;
	const void *f = (const char *) from + r->offset;

	switch (r->type) {
	case SG_CONF_BOOL:
		*(bool *) t = *(const bool *) f;
		break;
	case SG_CONF_INT:
	case SG_CONF_DURATION:
	case SG_CONF_SIZE:
		memcpy(t, f, sizeof(int64_t));
		break;
	case SG_CONF_ENUM:
		*(int *) t = *(const int *) f;
		break;
	case SG_CONF_STRING:
	case SG_CONF_PATH:
	case SG_CONF_HOSTPORT:
		*(char **) t = copy_str(arena, *(char *const *) f);
		break;
	case SG_CONF_STRLIST:
	case SG_CONF_DOMAINLIST:{
			const struct sg_strlist *fl = f;
			struct sg_strlist *tl = t;

			tl->n = fl->n;
			tl->v = sg_arena_alloc(arena, (fl->n + 1) * sizeof(char *));
			for (size_t i = 0; i < fl->n; i++)
				tl->v[i] = copy_str(arena, fl->v[i]);
			break;
		}
	case SG_CONF_CIDRLIST:{
			const struct sg_cidrlist *fl = f;
			struct sg_cidrlist *tl = t;

			tl->n = fl->n;
			tl->v = sg_arena_alloc(arena, (fl->n + 1) * sizeof(*tl->v));
			if (fl->n)
				memcpy(tl->v, fl->v, fl->n * sizeof(*tl->v));
			break;
		}
	case SG_CONF_GROUPLIST:{
			const struct sg_conf_array *fa = f;
			struct sg_conf_array *ta = t;

			ta->n = fa->n;
			ta->v = sg_arena_alloc(arena, r->elem_size * (fa->n + 1));
			for (size_t i = 0; i < fa->n; i++) {
				char   *te = (char *) ta->v + r->elem_size * i;
				const char *fe = (const char *) fa->v + r->elem_size * i;

				memcpy(te, fe, r->elem_size);
				for (const struct sg_conf_row *e = r->elem_rows; e->name; e++)
					copy_field(e, te, fe, arena);
			}
			break;
		}
	case SG_CONF_CUSTOM:
		break;
	}
}

void	sg_conf_keep(const struct sg_conf_section *sections, size_t nsections,
		     void *to, const void *from, struct sg_arena *arena)
{
	for (size_t i = 0; i < nsections; i++) {
		const struct sg_conf_section *sec = &sections[i];

		for (const struct sg_conf_row *r = sec->rows; r->name; r++)
			if (!(r->flags & SG_CONF_F_LIVE))
				copy_field(r, (char *) to + sec->offset,
					   (const char *) from + sec->offset, arena);
	}
}
