/*
 * NAME
 *	tagvalue 3
 * SUMMARY
 *	the "tag=value; tag=value" lists of DNS TXT policy records
 * SYNOPSIS
 *	#include "delivery_int.h"
 *
 *	int	dl_tag_next(txt, len, pos, tag)
 *	bool	dl_tag_is(tag, name)
 * DESCRIPTION
 *	MTA-STS (RFC 8461 3.1) and TLS-RPT (RFC 8460 3) records share one
 *	syntax: fields separated by ";", each "name=value", blanks allowed
 *	around them, empty fields (";;", a final ";") skipped.
 *	dl_tag_next() reads the field at *pos of txt[0..len), moves *pos
 *	past it and fills tag (pointers into txt, blanks trimmed). The
 *	name must be (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / "."),
 *	the extension name rule both RFCs use. dl_tag_is() compares the
 *	name, case counting.
 * DIAGNOSTICS
 *	1 with a field, 0 at the end, SG_EINVAL for a field without "=" or
 *	with a name outside the rule.
 */

#include <string.h>

#include "delivery_int.h"

static bool blank(char c)
{
	return (c == ' ' || c == '\t');
}

static bool alnum(char c)
{
	return ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
}

static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 32 || !alnum(s[0]))
		return (false);
	for (size_t i = 1; i < n; i++)
		if (!alnum(s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
			return (false);
	return (true);
}

int	dl_tag_next(const char *txt, size_t len, size_t *pos, struct dl_tag *t)
{
	while (*pos < len) {
		size_t	start, end, eq;

		while (*pos < len && blank(txt[*pos]))
			(*pos)++;
		start = *pos;
		while (*pos < len && txt[*pos] != ';')
			(*pos)++;
		end = *pos;
		if (*pos < len)
			(*pos)++;		/* the ';' */
		while (end > start && blank(txt[end - 1]))
			end--;
		if (end == start)
			continue;
		for (eq = start; eq < end && txt[eq] != '='; eq++)
			;
		if (eq == end || !name_ok(txt + start, eq - start))
			return (SG_EINVAL);
		t->name = txt + start;
		t->nlen = eq - start;
		t->value = txt + eq + 1;
		t->vlen = end - eq - 1;
		return (1);
	}
	return (0);
}

bool	dl_tag_is(const struct dl_tag *t, const char *name)
{
	size_t	n = strlen(name);

	return (t->nlen == n && memcmp(t->name, name, n) == 0);
}
