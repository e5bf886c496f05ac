#ifndef SG_ADDR_H
#define SG_ADDR_H

/*
 * NAME
 *	sg_addr 3h
 * SUMMARY
 *	mail address parsing shared by the relay decision and the router
 * SYNOPSIS
 *	#include "common/sg.h"	(includes this part)
 * DESCRIPTION
 *	Part of common's public interface, kept in its own file because it
 *	has its own owner. One parser decides both whether a recipient is
 *	relaying and where it is routed, so the two can never disagree.
 *
 *	The parser is strict RFC 5321 (Mailbox, Path): a local part is a
 *	dot-atom or a quoted string (at most 64 octets as written), a domain
 *	is a DNS name (255 octets, labels of 63) or an address literal
 *	([192.0.2.1], [IPv6:...]), a whole path at most 256 octets. Source
 *	routes (<@a,@b:u@d>) are refused, not stripped. A local part that
 *	carries another routing syntax (%, !, @ or : once dequoted, as in
 *	u%evil@own, evil!u@own, "u@evil"@own) is accepted but flagged
 *	SG_ADDR_F_ROUTING, and the relay decision treats such an address
 *	from a stranger as relaying.
 */

#define SG_ADDR_LOCAL_MAX	64	/* octets, as written */
#define SG_ADDR_DOMAIN_MAX	255	/* octets, literal brackets included */
#define SG_ADDR_PATH_MAX	256	/* octets between < and > included */

/* Flags describing a parsed address. */
#define SG_ADDR_F_NULL		(1u << 0)	/* <>: the null reverse path */
#define SG_ADDR_F_QUOTED	(1u << 1)	/* local part was a quoted string */
#define SG_ADDR_F_LITERAL	(1u << 2)	/* domain is an address literal */
#define SG_ADDR_F_ROUTING	(1u << 3)	/* local part hides a route */
#define SG_ADDR_F_UTF8		(1u << 4)	/* non-ASCII octets present */
#define SG_ADDR_F_POSTMASTER	(1u << 5)	/* <Postmaster> without domain */

/* Options for the parser. */
#define SG_ADDR_O_NULL		(1u << 0)	/* allow <> (reverse paths) */
#define SG_ADDR_O_UTF8		(1u << 1)	/* allow UTF-8 (SMTPUTF8, RFC 6531) */
#define SG_ADDR_O_POSTMASTER	(1u << 2)	/* allow <Postmaster> alone */

/*
 * A parsed mailbox. local is as written (quotes kept, case kept);
 * domain is lower-cased for ASCII letters, with brackets for literals.
 * Both are NUL-terminated. The struct is plain data: no ownership.
 */
struct sg_addr {
	unsigned flags;
	size_t	local_len;
	size_t	domain_len;
	char	local[SG_ADDR_LOCAL_MAX + 1];
	char	domain[SG_ADDR_DOMAIN_MAX + 1];
};

/*
 * sg_addr_parse() parses a bare mailbox "local@domain" of exactly len
 * bytes. sg_addr_parse_path() parses an SMTP path "<...>" at the start of
 * s (the argument of MAIL FROM: or RCPT TO:) and stores in *used how many
 * bytes it took, so the caller can parse parameters after it. Both return
 * 0, SG_EINVAL (syntax), SG_ELIMIT (a length limit) or SG_EUNSUPPORTED
 * (a source route).
 */
int	sg_addr_parse(const char *s, size_t len, unsigned opts, struct sg_addr *out);
int	sg_addr_parse_path(const char *s, size_t len, unsigned opts,
			   struct sg_addr *out, size_t *used);

/* sg_addr_domain_in() - the address's domain matches a pattern of domains. */
bool	sg_addr_domain_in(const struct sg_addr *, const struct sg_strlist *domains);

/*
 * sg_addr_format() writes "local@domain" ("" for the null path) into
 * buf; returns its length, or SG_ELIMIT when buflen is too small.
 */
int	sg_addr_format(const struct sg_addr *, char *buf, size_t buflen);

#endif
