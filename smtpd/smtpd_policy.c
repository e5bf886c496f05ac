/*
 * NAME
 *	smtpd_policy 3
 * SUMMARY
 *	who may send to whom: own domains, own servers, allow and deny lists
 * SYNOPSIS
 *	#include "smtpd/smtpd_int.h"
 *
 *	int	smtpd_policy_new(params, out, errors)
 *	struct smtpd_policy *smtpd_policy_ref(pol)
 *	void	smtpd_policy_unref(pol)
 *	bool	smtpd_policy_outbound(pol, peer)
 *	uint64_t smtpd_policy_line_max(pol, outbound)
 *	bool	smtpd_policy_room(pol, declared_size)
 *	enum smtpd_rcpt_verdict smtpd_policy_rcpt(pol, outbound, addr)
 * DESCRIPTION
 *	smtpd_policy_new() copies what sessions need out of the configuration
 *	into an arena of its own and reads the recipient allow and deny
 *	files (one address or @domain a line; blank lines and # comments
 *	ignored), so the configuration may be freed afterwards. The rules
 *	array is not copied: params->rules must outlive the policy (the
 *	caller arranges that with params->keep).
 *
 *	smtpd_policy_rcpt() is the relay decision. A client that is one of
 *	own_servers sends outbound mail and may reach any domain; everyone
 *	else may only reach own_domains, and never through an address whose
 *	local part hides another route (%, !, quoted @) or an address
 *	literal. The deny list applies to all recipients; the allow list,
 *	when there is one, to recipients at own domains.
 *
 *	smtpd_policy_line_max() is the longest text line (CRLF included) a
 *	client may send: max_line_length_own_servers for own_servers, else
 *	max_line_length, and never less than RFC 5321's 1000 octets (a
 *	limit left at 0 by a caller that built the configuration by hand
 *	means that).
 *
 *	smtpd_policy_room() says whether the state directory's filesystem
 *	has room for a new transaction: min_free plus one and a half times
 *	the size the client declared (SIZE, 0 when it declared none), as
 *	Postfix asks of its queue. Refusing at MAIL FROM (452 4.3.1) costs
 *	the client nothing; a disk that fills during DATA costs it the
 *	whole transfer. A filesystem that cannot be asked counts as roomy:
 *	the commit still refuses what does not fit.
 *
 *	References are atomic: sessions on several loop threads share one
 *	policy, and the last unref frees it.
 * DIAGNOSTICS
 *	smtpd_policy_new() returns SG_EIO with a line in errors when a list
 *	file cannot be read, SG_EINVAL when an entry is not an address.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "smtpd_int.h"

static int cmp_str(const void *a, const void *b)
{
	return (strcasecmp(*(char *const *) a, *(char *const *) b));
}

/* list_entry - one line of a list file, as "local@domain" or "@domain" */

static char *list_entry(struct sg_arena *a, const char *line, size_t len)
{
	struct sg_addr addr;
	char	buf[SG_ADDR_PATH_MAX + 2];

	if (len > 0 && line[0] == '@') {
		if (!sg_domain_valid(line + 1, len - 1))
			return (NULL);
		char   *d = sg_arena_strndup(a, line, len);

		for (char *c = d; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c += 32;
		return (d);
	}
	if (sg_addr_parse(line, len, SG_ADDR_O_UTF8, &addr) < 0
	    || sg_addr_format(&addr, buf, sizeof(buf)) < 0)
		return (NULL);
	return (sg_arena_strdup(a, buf));
}

/* list_load - read one list file into a sorted string list */

static int list_load(struct sg_arena *a, const char *path, struct sg_strlist *out,
		     struct sg_buf *errors)
{
	FILE   *f = fopen(path, "r");
	char	line[1024];
	size_t	cap = 0, lineno = 0;

	if (f == NULL) {
		sg_buf_printf(errors, "%s: %s\n", path, strerror(errno));
		return (SG_EIO);
	}
	out->n = 0;
	out->v = NULL;
	while (fgets(line, sizeof(line), f)) {
		size_t	len = strcspn(line, "\r\n#");
		char   *e, **nv;

		lineno++;
		while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
			len--;
		size_t	skip = strspn(line, " \t");

		if (skip >= len)
			continue;
		if ((e = list_entry(a, line + skip, len - skip)) == NULL) {
			sg_buf_printf(errors, "%s:%zu: not an address or @domain\n", path, lineno);
			fclose(f);
			return (SG_EINVAL);
		}
		if (out->n == cap) {
			cap = cap ? cap * 2 : 64;
			nv = sg_arena_alloc(a, cap * sizeof(char *));
			if (out->n)
				memcpy(nv, out->v, out->n * sizeof(char *));
			out->v = nv;
		}
		out->v[out->n++] = e;
	}
	fclose(f);
	if (out->n)
		qsort(out->v, out->n, sizeof(char *), cmp_str);
	return (0);
}

/* strlist_copy - a deep copy into the policy's arena */

static void strlist_copy(struct sg_arena *a, const struct sg_strlist *from,
			 struct sg_strlist *to)
{
	to->n = from->n;
	to->v = sg_arena_alloc(a, (from->n + 1) * sizeof(char *));
	for (size_t i = 0; i < from->n; i++)
		to->v[i] = sg_arena_strdup(a, from->v[i]);
}

int	smtpd_policy_new(const struct smtpd_params *p, struct smtpd_policy **out,
			 struct sg_buf *errors)
{
	struct sg_arena *a = sg_arena_new();
	struct smtpd_policy *pol = sg_arena_alloc(a, sizeof(*pol));
	const struct smtpd_conf *c = p->conf;
	int	err;

	atomic_init(&pol->refs, 1);
	pol->arena = a;
	pol->hostname = sg_arena_strdup(a, p->main->hostname);
	pol->state_dir = sg_arena_strdup(a, p->main->state_dir);
	pol->conf = *c;
	pol->conf.listeners.n = 0;
	pol->conf.listeners.v = NULL;
	pol->conf.recipient_allow_file = pol->conf.recipient_deny_file = NULL;
	strlist_copy(a, &p->main->own_domains, &pol->own_domains);
	pol->own_servers.n = p->main->own_servers.n;
	pol->own_servers.v = sg_arena_alloc(a, (pol->own_servers.n + 1) * sizeof(struct sg_cidr));
	if (pol->own_servers.n)
		memcpy(pol->own_servers.v, p->main->own_servers.v,
		       pol->own_servers.n * sizeof(struct sg_cidr));
	pol->rules = p->rules;
	pol->scan_header = p->scan_header && *p->scan_header ? p->scan_header : NULL;
	pol->keep = p->keep;
	pol->keep_free = p->keep_free;
	pol->tls_ready = p->tls != NULL;
	if (c->recipient_allow_file && *c->recipient_allow_file) {
		if ((err = list_load(a, c->recipient_allow_file, &pol->allow, errors)) < 0)
			goto fail;
		pol->has_allow = true;
	}
	if (c->recipient_deny_file && *c->recipient_deny_file
	    && (err = list_load(a, c->recipient_deny_file, &pol->deny, errors)) < 0)
		goto fail;
	*out = pol;
	return (0);
fail:
	sg_arena_free(a);
	return (err);
}

struct smtpd_policy *smtpd_policy_ref(struct smtpd_policy *pol)
{
	atomic_fetch_add(&pol->refs, 1);
	return (pol);
}

void	smtpd_policy_unref(struct smtpd_policy *pol)
{
	if (pol == NULL || atomic_fetch_sub(&pol->refs, 1) != 1)
		return;
	if (pol->keep_free)
		pol->keep_free(pol->keep);
	sg_arena_free(pol->arena);
}

bool	smtpd_policy_outbound(const struct smtpd_policy *pol, const struct sockaddr *peer)
{
	return (sg_cidrlist_match(&pol->own_servers, peer));
}

uint64_t smtpd_policy_line_max(const struct smtpd_policy *pol, bool outbound)
{
	uint64_t max = outbound ? pol->conf.max_line_length_own_servers
		: pol->conf.max_line_length;

	return (max < SMTPD_TEXT_MAX ? SMTPD_TEXT_MAX : max);
}

bool	smtpd_policy_room(const struct smtpd_policy *pol, uint64_t declared_size)
{
	uint64_t left, need;

	if (sg_fs_room(pol->state_dir, &left) != 0)
		return (true);
	need = pol->conf.min_free + declared_size + declared_size / 2;
	return (left >= need);
}

/* listed - the address or its @domain is on a sorted list */

static bool listed(const struct sg_strlist *l, const struct sg_addr *a)
{
	char	buf[SG_ADDR_PATH_MAX + 2];
	const char *key = buf;

	if (l->n == 0 || sg_addr_format(a, buf, sizeof(buf)) < 0)
		return (false);
	if (bsearch(&key, l->v, l->n, sizeof(char *), cmp_str))
		return (true);
	key = buf + a->local_len;
	return (bsearch(&key, l->v, l->n, sizeof(char *), cmp_str) != NULL);
}

enum smtpd_rcpt_verdict smtpd_policy_rcpt(const struct smtpd_policy *pol, bool outbound,
					  const struct sg_addr *a)
{
	bool	own = sg_addr_domain_in(a, &pol->own_domains);

	if (!outbound && (!own || (a->flags & SG_ADDR_F_ROUTING)))
		return (SMTPD_RCPT_RELAY);
	if (listed(&pol->deny, a))
		return (SMTPD_RCPT_DENIED);
	if (own && pol->has_allow && !listed(&pol->allow, a))
		return (SMTPD_RCPT_UNKNOWN);
	return (SMTPD_RCPT_OK);
}
