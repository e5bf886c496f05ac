/*
 * NAME
 *	rules 3
 * SUMMARY
 *	crypto rules: the element row table and the classification function
 * SYNOPSIS
 *	#include "common/sg.h"
 *
 *	extern const struct sg_conf_row sg_rule_rows[];
 *
 *	bool	sg_rule_pattern_valid(pattern)
 *
 *	bool	sg_rule_pattern_match(pattern, addr, len)
 *
 *	int	sg_rules_classify(rules, dir, listener, sender, senderlen,
 *				  rcpt, rcptlen)
 * DESCRIPTION
 *	sg_rule_rows describes one rule of the worker's "rules" list; the
 *	worker section embeds it as a group list. Patterns are checked and
 *	lower-cased at load time, so matching needs no allocation.
 *
 *	sg_rule_pattern_valid() accepts "local@domain", "@domain",
 *	"*.domain" and "<>", with a syntactically valid domain.
 *
 *	sg_rule_pattern_match() compares case-insensitively. The address
 *	comes from the network (MAIL FROM / RCPT TO), so it is read with
 *	its explicit length and never needs a terminator.
 *
 *	sg_rules_classify() is the one function smtpd and the worker share:
 *	first rule whose every given condition holds wins. A rule that only
 *	scans is not inert for sg_rules_pass(): its mail must reach the
 *	worker, never be spooled straight for delivery.
 * DIAGNOSTICS
 *	Configuration errors name the rule element and the bad pattern.
 */

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sg.h"

#define Q(s) "\"" s "\""
#define ROFF(f) offsetof(struct sg_rule, f)

const char *const sg_rule_dir_names[] = { "any", "inbound", "outbound", NULL };
const char *const sg_rule_sign_names[] = { "off", "if-possible", "required", NULL };
const char *const sg_rule_signature_names[] = { "detached", "opaque", NULL };
const char *const sg_rule_encrypt_names[] = { "off", "if-possible", "mandatory", NULL };
const char *const sg_rule_fail_names[] = { "reject", "hold", "pass", NULL };
const char *const sg_rule_virus_names[] = { "reject", "hold", "pass-tagged", NULL };
const char *const sg_rule_scan_fail_names[] = { "defer", "hold", "pass-tagged", NULL };

/* domain_of - the domain part of an address of explicit length, or NULL */

static const char *domain_of(const char *addr, size_t len, size_t *dlen)
{
	const char *at = NULL;

	for (size_t i = len; i > 0; i--) {
		if (addr[i - 1] == '@') {
			at = addr + i - 1;
			break;
		}
	}
	if (at == NULL)
		return (NULL);
	*dlen = len - (size_t) (at + 1 - addr);
	return (at + 1);
}

bool	sg_rule_pattern_valid(const char *p)
{
	const char *at;

	if (strcmp(p, "<>") == 0)
		return (true);
	if (p[0] == '@')
		return (sg_domain_valid(p + 1, strlen(p + 1)));
	if (p[0] == '*' && p[1] == '.')
		return (sg_domain_valid(p + 2, strlen(p + 2)));
	if ((at = strrchr(p, '@')) == NULL || at == p || strlen(at) > 256 || at - p > 64)
		return (false);
	for (const char *c = p; c < at; c++)
		if ((unsigned char) *c <= ' ' || *c == '<' || *c == '>' || *c == 0x7f)
			return (false);
	return (sg_domain_valid(at + 1, strlen(at + 1)));
}

bool	sg_rule_pattern_match(const char *p, const char *addr, size_t len)
{
	const char *dom;
	size_t	dlen;

	if (strcmp(p, "<>") == 0)
		return (len == 0);
	if (len == 0)
		return (false);
	if (p[0] == '@' || (p[0] == '*' && p[1] == '.')) {
		dom = domain_of(addr, len, &dlen);
		return (dom && sg_domain_match(p[0] == '@' ? p + 1 : p, dom, dlen));
	}
	return (strlen(p) == len && strncasecmp(p, addr, len) == 0);
}

/* list_match - an empty list is "any address" */

static bool list_match(const struct sg_strlist *l, const char *addr, size_t len)
{
	if (l->n == 0)
		return (true);
	for (size_t i = 0; i < l->n; i++)
		if (sg_rule_pattern_match(l->v[i], addr, len))
			return (true);
	return (false);
}

int	sg_rules_classify(const struct sg_conf_array *rules, enum sg_rule_dir dir,
			  const char *listener, const char *sender, size_t senderlen,
			  const char *rcpt, size_t rcptlen)
{
	const struct sg_rule *v = rules->v;

	for (size_t i = 0; i < rules->n; i++) {
		const struct sg_rule *r = &v[i];

		if (r->direction != SG_RULE_DIR_ANY && r->direction != (int) dir)
			continue;
		if (r->listener && *r->listener
		    && (listener == NULL || strcmp(r->listener, listener) != 0))
			continue;
		if (!list_match(&r->senders, sender, senderlen))
			continue;
		if (!list_match(&r->recipients, rcpt, rcptlen))
			continue;
		return ((int) i);
	}
	return (-1);
}

/* rule_inert - the rule neither changes nor inspects a message */

static bool rule_inert(const struct sg_rule *r)
{
	return (r->sign == 0 && r->encrypt == 0 && !r->decrypt && !r->verify
		&& !r->harvest && !r->strip_client_signature && !r->scan);
}

const char *sg_rules_pass(const struct sg_conf_array *rules, enum sg_rule_dir dir,
			  const char *listener, const char *sender,
			  const char *const *rcpts, size_t nrcpts)
{
	const struct sg_rule *v = rules->v;
	int	first = -2;

	for (size_t i = 0; i < nrcpts; i++) {
		int	k = sg_rules_classify(rules, dir, listener, sender, strlen(sender),
					      rcpts[i], strlen(rcpts[i]));

		if ((first != -2 && k != first) || (k >= 0 && !rule_inert(&v[k])))
			return (NULL);
		first = k;
	}
	return (first >= 0 ? v[first].name : "");
}

/* check_patterns - reject bad patterns, lower-case good ones */

static int check_patterns(struct sg_conf_ctx *ctx, const config_setting_t *g,
			  const char *key, struct sg_strlist *l)
{
	int	bad = 0;

	for (size_t i = 0; i < l->n; i++) {
		if (!sg_rule_pattern_valid(l->v[i])) {
			sg_conf_error(ctx, config_setting_get_member(g, key),
				      "%s: invalid address pattern \"%s\" (want user@domain, "
				      "@domain, *.domain or <>)", key, l->v[i]);
			bad++;
			continue;
		}
		for (char *c = l->v[i]; *c; c++)
			*c = (char) tolower((unsigned char) *c);
	}
	return (bad);
}

/* check_rule - patterns, a name, and actions that make sense together */

static int check_rule(struct sg_conf_ctx *ctx, const config_setting_t *g, void *base)
{
	struct sg_rule *r = base;
	int	bad = 0;

	bad += check_patterns(ctx, g, "senders", &r->senders);
	bad += check_patterns(ctx, g, "recipients", &r->recipients);
	if (*r->name == 0) {
		char	name[32];

		snprintf(name, sizeof(name), "rule-%u", config_setting_index(g) + 1);
		r->name = sg_arena_strdup(sg_conf_arena(ctx), name);
	}
	if (r->sign == SG_RULE_SIGN_OFF && r->strip_client_signature) {
		sg_conf_error(ctx, g, "rule \"%s\": strip_client_signature needs sign", r->name);
		bad++;
	}
	return (bad ? SG_EINVAL : 0);
}

const struct sg_conf_row sg_rule_rows[] = {
	{.name = "name",.type = SG_CONF_STRING,.offset = ROFF(name),.def = Q("")},
	{.name = "direction",.type = SG_CONF_ENUM,.offset = ROFF(direction),
	.def = Q("any"),.choices = sg_rule_dir_names},
	{.name = "listener",.type = SG_CONF_STRING,.offset = ROFF(listener),.def = Q("")},
	{.name = "senders",.type = SG_CONF_STRLIST,.offset = ROFF(senders),.def = "[ ]"},
	{.name = "recipients",.type = SG_CONF_STRLIST,.offset = ROFF(recipients),.def = "[ ]"},
	{.name = "sign",.type = SG_CONF_ENUM,.offset = ROFF(sign),
	.def = Q("off"),.choices = sg_rule_sign_names},
	{.name = "signature",.type = SG_CONF_ENUM,.offset = ROFF(signature),
	.def = Q("detached"),.choices = sg_rule_signature_names},
	{.name = "encrypt",.type = SG_CONF_ENUM,.offset = ROFF(encrypt),
	.def = Q("off"),.choices = sg_rule_encrypt_names},
	{.name = "encrypt_to_self",.type = SG_CONF_BOOL,.offset = ROFF(encrypt_to_self),
	.def = "true"},
	{.name = "decrypt",.type = SG_CONF_BOOL,.offset = ROFF(decrypt),.def = "false"},
	{.name = "verify",.type = SG_CONF_BOOL,.offset = ROFF(verify),.def = "false"},
	{.name = "harvest",.type = SG_CONF_BOOL,.offset = ROFF(harvest),.def = "false"},
	{.name = "strip_client_signature",.type = SG_CONF_BOOL,
	.offset = ROFF(strip_client_signature),.def = "false"},
	{.name = "profile",.type = SG_CONF_STRING,.offset = ROFF(profile),.def = Q("")},
	{.name = "on_sign_failure",.type = SG_CONF_ENUM,.offset = ROFF(on_sign_failure),
	.def = Q("hold"),.choices = sg_rule_fail_names},
	{.name = "on_encrypt_failure",.type = SG_CONF_ENUM,.offset = ROFF(on_encrypt_failure),
	.def = Q("reject"),.choices = sg_rule_fail_names},
	{.name = "on_decrypt_failure",.type = SG_CONF_ENUM,.offset = ROFF(on_decrypt_failure),
	.def = Q("pass"),.choices = sg_rule_fail_names},
	{.name = "on_verify_failure",.type = SG_CONF_ENUM,.offset = ROFF(on_verify_failure),
	.def = Q("pass"),.choices = sg_rule_fail_names},
	{.name = "scan",.type = SG_CONF_BOOL,.offset = ROFF(scan),.def = "false"},
	{.name = "on_virus",.type = SG_CONF_ENUM,.offset = ROFF(on_virus),
	.def = Q("hold"),.choices = sg_rule_virus_names},
	{.name = "on_scan_failure",.type = SG_CONF_ENUM,.offset = ROFF(on_scan_failure),
	.def = Q("defer"),.choices = sg_rule_scan_fail_names,.check = check_rule},
	SG_CONF_END
};
