/*
 * NAME
 *	addr 3
 * SUMMARY
 *	strict RFC 5321 mailbox and path parsing
 * SYNOPSIS
 *	#include "common/sg.h"
 *
 *	int	sg_addr_parse(s, len, opts, out)
 *	int	sg_addr_parse_path(s, len, opts, out, used)
 *	bool	sg_addr_domain_in(addr, domains)
 *	int	sg_addr_format(addr, buf, buflen)
 * DESCRIPTION
 *	sg_addr_parse() accepts exactly one Mailbox (RFC 5321 4.1.2) of len
 *	bytes: Local-part "@" ( Domain / address-literal ). The local part is
 *	a Dot-string or a Quoted-string; with SG_ADDR_O_UTF8 both may carry
 *	well-formed UTF-8 (RFC 6531), and so may domain labels.
 *
 *	sg_addr_parse_path() reads "<" Mailbox ">" from the start of s and
 *	reports the bytes used; "<>" only with SG_ADDR_O_NULL, "<Postmaster>"
 *	only with SG_ADDR_O_POSTMASTER. A-d-l source routes are refused
 *	with SG_EUNSUPPORTED: stripping them would make the route invisible
 *	to whoever logs the address, and nobody legitimate still sends them.
 *
 *	The local part is checked, not interpreted: a local part that would
 *	route elsewhere in a sendmail-style system (%, ! unquoted; %, !, @,
 *	: inside quotes) sets SG_ADDR_F_ROUTING, and the caller decides.
 *
 *	sg_addr_domain_in() matches the domain against a list of domain
 *	patterns (sg_domain_listed()); address literals never match.
 *
 *	sg_addr_format() writes local@domain, or "" for the null path.
 * DIAGNOSTICS
 *	SG_EINVAL for syntax, SG_ELIMIT for length limits, SG_EUNSUPPORTED
 *	for source routes. Nothing is printed.
 */

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "sg.h"

/* atext - RFC 5322 atext, the characters of an unquoted local part */

static bool atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return (true);
	return (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* scan_dot_string - Dot-string at s; returns bytes used (0: none) */

static size_t scan_dot_string(const unsigned char *s, size_t len, unsigned opts,
			      unsigned *flags)
{
	size_t	i = 0, n;
	bool	need_atom = true;

	while (i < len) {
		if (atext(s[i])) {
			if (s[i] == '%' || s[i] == '!')
				*flags |= SG_ADDR_F_ROUTING;
			i++;
			need_atom = false;
		} else if (s[i] >= 0x80 && (opts & SG_ADDR_O_UTF8)
			   && (n = sg_utf8_len(s + i, len - i)) > 0) {
			*flags |= SG_ADDR_F_UTF8;
			i += n;
			need_atom = false;
		} else if (s[i] == '.' && !need_atom) {
			i++;
			need_atom = true;
		} else {
			break;
		}
	}
	return (need_atom ? 0 : i);
}

/* scan_quoted - Quoted-string at s; returns bytes used (0: bad) */

static size_t scan_quoted(const unsigned char *s, size_t len, unsigned opts,
			  unsigned *flags)
{
	size_t	i = 1, n;

	while (i < len) {
		unsigned char c = s[i];

		if (c == '"')
			return (i + 1);
		if (c == '\\') {
			if (i + 1 >= len || s[i + 1] < 32 || s[i + 1] > 126)
				return (0);
			c = s[i + 1];
			i += 2;
		} else if (c >= 32 && c <= 126) {
			i++;
		} else if (c >= 0x80 && (opts & SG_ADDR_O_UTF8)
			   && (n = sg_utf8_len(s + i, len - i)) > 0) {
			*flags |= SG_ADDR_F_UTF8;
			i += n;
			continue;
		} else {
			return (0);
		}
		if (c == '%' || c == '!' || c == '@' || c == ':')
			*flags |= SG_ADDR_F_ROUTING;
	}
	return (0);
}

/* scan_domain - a Domain at s (lower-cased into out); bytes used or 0 */

static size_t scan_domain(const unsigned char *s, size_t len, unsigned opts,
			  struct sg_addr *out)
{
	size_t	i = 0, label = 0, n;
	bool	hyphen_end = false;

	while (i < len) {
		unsigned char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
		    || (c >= 'A' && c <= 'Z') || (c == '-' && label > 0))
			n = 1;
		else if (c >= 0x80 && (opts & SG_ADDR_O_UTF8)
			 && (n = sg_utf8_len(s + i, len - i)) > 0)
			out->flags |= SG_ADDR_F_UTF8;
		else if (c == '.' && label > 0 && !hyphen_end) {
			if (i + 1 > SG_ADDR_DOMAIN_MAX)
				return (0);
			out->domain[i++] = '.';
			label = 0;
			continue;
		} else
			break;
		if (i + n > SG_ADDR_DOMAIN_MAX || label + n > 63)
			return (0);
		for (size_t k = 0; k < n; k++)
			out->domain[i + k] = (char) ((s[i + k] >= 'A' && s[i + k] <= 'Z')
						     ? s[i + k] + 32 : s[i + k]);
		hyphen_end = (c == '-');
		label += n;
		i += n;
	}
	if (label == 0 || hyphen_end)
		return (0);
	out->domain[i] = 0;
	out->domain_len = i;
	return (i);
}

/* scan_literal - an address-literal [IPv4] or [IPv6:...]; bytes used or 0 */

static size_t scan_literal(const unsigned char *s, size_t len, struct sg_addr *out)
{
	const unsigned char *end = memchr(s, ']', len < 64 ? len : 64);
	char	tmp[64];
	unsigned char bin[16];
	size_t	n;

	if (end == NULL)
		return (0);
	n = (size_t) (end - s) + 1;
	for (size_t k = 1; k + 1 < n; k++)
		if (!((s[k] >= '0' && s[k] <= '9') || (s[k] >= 'a' && s[k] <= 'z')
		      || (s[k] >= 'A' && s[k] <= 'Z') || s[k] == '.' || s[k] == ':'))
			return (0);
	memcpy(tmp, s + 1, n - 2);
	tmp[n - 2] = 0;
	if (strncasecmp(tmp, "IPv6:", 5) == 0) {
		if (inet_pton(AF_INET6, tmp + 5, bin) != 1)
			return (0);
	} else if (inet_pton(AF_INET, tmp, bin) != 1) {
		return (0);
	}
	for (size_t k = 0; k < n; k++)
		out->domain[k] = (char) ((s[k] >= 'A' && s[k] <= 'Z') ? s[k] + 32 : s[k]);
	out->domain[n] = 0;
	out->domain_len = n;
	out->flags |= SG_ADDR_F_LITERAL;
	return (n);
}

/* scan_mailbox - Local-part "@" domain at s; bytes used, or an error */

static int scan_mailbox(const char *cs, size_t len, unsigned opts,
			struct sg_addr *out, size_t *used)
{
	const unsigned char *s = (const unsigned char *) cs;
	size_t	l, d;

	if (len == 0)
		return (SG_EINVAL);
	if (s[0] == '"') {
		out->flags |= SG_ADDR_F_QUOTED;
		l = scan_quoted(s, len, opts, &out->flags);
	} else {
		l = scan_dot_string(s, len, opts, &out->flags);
	}
	if (l == 0)
		return (SG_EINVAL);
	if (l > SG_ADDR_LOCAL_MAX)
		return (SG_ELIMIT);
	if (l >= len || s[l] != '@')
		return (SG_EINVAL);
	memcpy(out->local, s, l);
	out->local[l] = 0;
	out->local_len = l;
	if (l + 1 < len && s[l + 1] == '[')
		d = scan_literal(s + l + 1, len - l - 1, out);
	else
		d = scan_domain(s + l + 1, len - l - 1, opts, out);
	if (d == 0)
		return (SG_EINVAL);
	*used = l + 1 + d;
	return (0);
}

int	sg_addr_parse(const char *s, size_t len, unsigned opts, struct sg_addr *out)
{
	size_t	used;
	int	err;

	memset(out, 0, sizeof(*out));
	if (len > SG_ADDR_PATH_MAX - 2)
		return (SG_ELIMIT);
	if ((err = scan_mailbox(s, len, opts, out, &used)) < 0)
		return (err);
	return (used == len ? 0 : SG_EINVAL);
}

/* postmaster - "<Postmaster>" in any case */

static bool postmaster(const char *s, size_t len)
{
	return (len >= 12 && strncasecmp(s, "<postmaster>", 12) == 0);
}

int	sg_addr_parse_path(const char *s, size_t len, unsigned opts,
			   struct sg_addr *out, size_t *used)
{
	size_t	n;
	int	err;

	memset(out, 0, sizeof(*out));
	if (len < 2 || s[0] != '<')
		return (SG_EINVAL);
	if (s[1] == '>') {
		if (!(opts & SG_ADDR_O_NULL))
			return (SG_EINVAL);
		out->flags = SG_ADDR_F_NULL;
		*used = 2;
		return (0);
	}
	if (s[1] == '@')
		return (SG_EUNSUPPORTED);
	if ((opts & SG_ADDR_O_POSTMASTER) && postmaster(s, len)) {
		memcpy(out->local, s + 1, 10);
		out->local_len = 10;
		out->flags = SG_ADDR_F_POSTMASTER;
		*used = 12;
		return (0);
	}
	if ((err = scan_mailbox(s + 1, len - 1, opts, out, &n)) < 0)
		return (err);
	if (n + 1 >= len || s[n + 1] != '>')
		return (SG_EINVAL);
	if (n + 2 > SG_ADDR_PATH_MAX)
		return (SG_ELIMIT);
	*used = n + 2;
	return (0);
}

bool	sg_addr_domain_in(const struct sg_addr *a, const struct sg_strlist *domains)
{
	if (a->flags & (SG_ADDR_F_LITERAL | SG_ADDR_F_NULL | SG_ADDR_F_POSTMASTER))
		return (false);
	return (sg_domain_listed(domains, a->domain, a->domain_len));
}

int	sg_addr_format(const struct sg_addr *a, char *buf, size_t buflen)
{
	size_t	n;

	if (a->flags & SG_ADDR_F_NULL) {
		if (buflen < 1)
			return (SG_ELIMIT);
		buf[0] = 0;
		return (0);
	}
	n = a->local_len + (a->domain_len ? 1 + a->domain_len : 0);
	if (n + 1 > buflen)
		return (SG_ELIMIT);
	memcpy(buf, a->local, a->local_len);
	if (a->domain_len) {
		buf[a->local_len] = '@';
		memcpy(buf + a->local_len + 1, a->domain, a->domain_len);
	}
	buf[n] = 0;
	return ((int) n);
}
