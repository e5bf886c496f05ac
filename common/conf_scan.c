/*
 * NAME
 *	conf_scan 3
 * SUMMARY
 *	the raw text of a libconfig file: what the parser hides
 * SYNOPSIS
 *	#include "common/sg.h"
 *
 *	void	sg_conf_scan(text, len, ops, arg)
 * DESCRIPTION
 *	sg_conf_scan() reads len bytes of libconfig 1.5 text with its lexical
 *	rules (blanks; comments after # or // to the end of the line, and
 *	between slash-star and star-slash across lines; strings in double
 *	quotes with backslash escapes, which may span lines; names, numbers,
 *	punctuation; the @include directive) and calls back, each callback
 *	optional:
 *
 *	adjacent() for two string literals with nothing but blanks or
 *	comments between them, which libconfig joins into one string
 *	(["a.com" "b.com"] is one element, "a.comb.com"); line is that of
 *	the first, a and b are the contents as written (escapes kept), and
 *	in_list says whether the innermost open bracket is [ or (.
 *
 *	integer() for an integer literal that directly follows "name =" or
 *	"name :", as written (sign, 0x, L suffix); line is that of the name,
 *	which is the line libconfig gives the setting. libconfig 1.5 wraps
 *	literals beyond 32 bits that lack the L suffix; the caller has the
 *	text to say what was meant.
 *
 *	dotted() for a name with dots followed by = or :, such as a line
 *	pasted from "sealgated -d" (libconfig calls it a syntax error);
 *	value is the raw text after the = up to the ";" that ends it (or the
 *	end of the line when there is none), blanks trimmed.
 *
 *	include() for the file name of each @include.
 *
 *	The scanner never fails: text that libconfig would refuse is read on
 *	as well as it goes, so that every dotted key of a file is found.
 * SECURITY
 *	The text is the administrator's, but read as if it were hostile:
 *	every access is bounded by len (a fuzz target checks that).
 */

#include <ctype.h>
#include <string.h>

#include "sg.h"

#define DEPTH_MAX 64

enum scan_state {
	S_NONE,				/* between settings */
	S_NAME,				/* a setting name was read */
	S_EQ,				/* ... and its = or : */
	S_DOTTED,			/* in the value of a dotted name */
};

struct scan {
	const char *p, *end;
	unsigned line;
	const struct sg_conf_scan_ops *ops;
	void   *arg;
	enum scan_state state;
	const char *name;		/* S_NAME, S_EQ, S_DOTTED */
	size_t	namelen;
	unsigned nameline;
	const char *value;		/* S_DOTTED: where its value starts */
	const char *vlast;		/* S_DOTTED: the end of its last token */
	size_t	vdepth;			/* S_DOTTED: bracket depth of the value */
	const char *str;		/* last string, while only blanks follow */
	size_t	strlen;
	unsigned strline;
	char	open[DEPTH_MAX];	/* innermost open brackets */
	size_t	depth;
};

static bool name_start(int c)
{
	return (isalpha(c) || c == '*' || c == '_');
}

static bool name_char(int c)
{
	return (isalnum(c) || c == '*' || c == '_' || c == '-');
}

static bool in_list(const struct scan *s)
{
	if (s->depth == 0)
		return (false);
	if (s->depth > DEPTH_MAX)
		return (true);
	return (s->open[s->depth - 1] != '{');
}

/* dotted_end - the value of a dotted name ends at q */

static void dotted_end(struct scan *s, const char *q)
{
	const char *v = s->value;

	while (v < q && isspace((unsigned char) *v))
		v++;
	while (q > v && isspace((unsigned char) q[-1]))
		q--;
	if (s->ops->dotted)
		s->ops->dotted(s->arg, s->nameline, s->name, s->namelen, v, (size_t) (q - v));
	s->state = S_NONE;
}

/* skip_comment - a comment at s->p, if there is one; true when skipped */

static bool skip_comment(struct scan *s)
{
	const char *p = s->p;

	if (*p == '#' || (*p == '/' && p + 1 < s->end && p[1] == '/')) {
		while (p < s->end && *p != '\n')
			p++;
	} else if (*p == '/' && p + 1 < s->end && p[1] == '*') {
		for (p += 2; p < s->end && !(*p == '*' && p + 1 < s->end && p[1] == '/'); p++)
			if (*p == '\n')
				s->line++;
		p = p + 2 <= s->end ? p + 2 : s->end;
	} else {
		return (false);
	}
	s->p = p;
	return (true);
}

/* string - a literal at s->p; its contents (escapes as written) in *out */

static size_t string(struct scan *s, const char **out)
{
	const char *p = s->p + 1;

	*out = p;
	while (p < s->end && *p != '"') {
		if (*p == '\\' && p + 1 < s->end)
			p++;
		if (*p == '\n')
			s->line++;
		p++;
	}
	s->p = p < s->end ? p + 1 : s->end;
	return ((size_t) (p - *out));
}

static void on_string(struct scan *s)
{
	unsigned line = s->line;
	const char *c;
	size_t	n = string(s, &c);

	if (s->str && s->ops->adjacent)
		s->ops->adjacent(s->arg, s->strline, s->str, s->strlen, c, n, in_list(s));
	s->str = c;
	s->strlen = n;
	s->strline = line;
	if (s->state != S_DOTTED)
		s->state = S_NONE;
}

/* directive - "@include "file"", or another directive (skipped) */

static void directive(struct scan *s)
{
	const char *w = ++s->p, *c;
	unsigned line = s->line;
	size_t	n;

	while (s->p < s->end && isalpha((unsigned char) *s->p))
		s->p++;
	if ((size_t) (s->p - w) != 7 || memcmp(w, "include", 7) != 0)
		return;
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t'))
		s->p++;
	if (s->p >= s->end || *s->p != '"')
		return;
	n = string(s, &c);
	if (s->ops->include)
		s->ops->include(s->arg, line, c, n);
}

/* name - a setting name, or a dotted one, or a word such as true */

static void name(struct scan *s)
{
	const char *w = s->p, *q;
	bool	dotted = false;

	while (s->p < s->end && (name_char((unsigned char) *s->p)
				 || (*s->p == '.' && s->p + 1 < s->end
				     && name_char((unsigned char) s->p[1])))) {
		dotted |= *s->p == '.';
		s->p++;
	}
	if (s->state == S_DOTTED)
		return;
	for (q = s->p; q < s->end && (*q == ' ' || *q == '\t'); q++)
		;
	s->name = w;
	s->namelen = (size_t) (s->p - w);
	s->nameline = s->line;
	if (dotted && q < s->end && (*q == '=' || *q == ':')) {
		s->state = S_DOTTED;
		s->value = s->vlast = s->p = q + 1;
		s->vdepth = s->depth;
	} else {
		s->state = S_NAME;
	}
}

/* number - an integer or float literal; integers after "name =" are reported */

static void number(struct scan *s)
{
	const char *w = s->p;

	if (*s->p == '-' || *s->p == '+')
		s->p++;
	while (s->p < s->end) {
		char	c = *s->p;

		if (isalnum((unsigned char) c) || c == '.'
		    || ((c == '-' || c == '+') && (s->p[-1] == 'e' || s->p[-1] == 'E')
			&& !(s->p - w > 1 && (w[1] == 'x' || w[1] == 'X'))))
			s->p++;
		else
			break;
	}
	if (s->state == S_EQ && s->ops->integer && memchr(w, '.', (size_t) (s->p - w)) == NULL)
		s->ops->integer(s->arg, s->nameline, s->name, s->namelen, w, (size_t) (s->p - w));
	if (s->state != S_DOTTED)
		s->state = S_NONE;
}

static void punct(struct scan *s)
{
	char	c = *s->p++;

	if (c == '{' || c == '[' || c == '(') {
		if (s->depth < DEPTH_MAX)
			s->open[s->depth] = c;
		s->depth++;
	} else if (c == '}' || c == ']' || c == ')') {
		if (s->state == S_DOTTED && s->depth == s->vdepth)
			dotted_end(s, s->p - 1);
		if (s->depth > 0)
			s->depth--;
	} else if (c == ';' && s->state == S_DOTTED && s->depth == s->vdepth) {
		dotted_end(s, s->p - 1);
		return;
	}
	if (s->state == S_NAME && (c == '=' || c == ':'))
		s->state = S_EQ;
	else if (s->state != S_DOTTED)
		s->state = S_NONE;
}

void	sg_conf_scan(const char *text, size_t len, const struct sg_conf_scan_ops *ops, void *arg)
{
	struct scan s = {.p = text,.end = text + len,.line = 1,.ops = ops,.arg = arg};

	while (s.p < s.end) {
		unsigned char c = (unsigned char) *s.p;

		if (c == '\n') {
			/* no ";": a dotted value that has begun ends with its line */
			if (s.state == S_DOTTED && s.depth == s.vdepth && s.vlast > s.value)
				dotted_end(&s, s.vlast);
			s.line++;
			s.p++;
			continue;
		} else if (isspace(c)) {
			s.p++;
			continue;
		} else if (skip_comment(&s)) {
			continue;
		} else if (c == '"') {
			on_string(&s);
		} else {
			s.str = NULL;
			if (c == '@')
				directive(&s);
			else if (name_start(c))
				name(&s);
			else if (isdigit(c) || ((c == '-' || c == '+' || c == '.') && s.p + 1 < s.end
						&& isdigit((unsigned char) s.p[1])))
				number(&s);
			else
				punct(&s);
		}
		if (s.state == S_DOTTED)
			s.vlast = s.p;
	}
	if (s.state == S_DOTTED)
		dotted_end(&s, s.vlast);
}
