/*
 * NAME
 *	profile 3
 * SUMMARY
 *	which algorithms mail to a recipient gets: partner profiles and rule minimums
 * SYNOPSIS
 *	#include "worker/worker.h"
 *
 *	void	worker_algs_for(conf, rule, rcpt, algs)
 *
 *	void	worker_algs_upgrade(algs, caps)
 *
 *	void	worker_algs_sign(algs, form, spec)
 * DESCRIPTION
 *	A profile (worker.profiles) names the algorithms a partner gets. A
 *	recipient gets the first profile whose recipients patterns match
 *	its address (a partner assignment), else the profile its rule names,
 *	else "default": the profile of that name, or the built-in one
 *	(PKCS#1 v1.5 with SHA-256, AES-256-CBC, PKCS#1 v1.5 key transport:
 *	what the gateway did before profiles).
 *
 *	A rule's profile is also its minimum: where a partner's profile
 *	asks for less (a legacy partner under a rule for regulated mail),
 *	each algorithm is raised to the rule's, one by one, in the order
 *	PKCS#1 v1.5 < RSASSA-PSS, SHA-256 < SHA-384 < SHA-512, AES-128-CBC
 *	< AES-256-CBC, and PKCS#1 v1.5 < OAEP-SHA-1 < OAEP-SHA-256; algs->
 *	raised says it happened, and algs->profile is then "partner+rule".
 *
 *	worker_algs_upgrade() applies what a partner said it can decrypt
 *	(RFC 8551 2.7.1: a sender may use the capabilities of a received
 *	signature): the strongest content encryption the capabilities name
 *	(AES-256-GCM > AES-128-GCM > AES-256-CBC > AES-128-CBC) and the
 *	strongest key transport (OAEP-SHA-256 > OAEP-SHA-1), each only if it
 *	is stronger than what the profile gives. A profile with upgrade =
 *	false is taken as it is. Capabilities can only raise: a partner who
 *	advertises less than its profile (or the rule's minimum) still gets
 *	the profile.
 *
 *	worker_algs_sign() fills a worker_sign_spec from resolved algs: the
 *	form (detached or opaque), the signature algorithm and hash, and the
 *	capabilities to advertise: every content algorithm inbound
 *	decryption accepts, strongest first, then the profile's key
 *	transport and the stronger ones (a partner who harvests them never
 *	picks a weaker one than we ask for).
 * DIAGNOSTICS
 *	None: the configuration was checked when it was loaded.
 */

#include <stdio.h>
#include <string.h>

#include "worker_int.h"

static const struct worker_profile builtin = {.name = "default",.signature = WORKER_SIGALG_PKCS1,
	.digest = 0,.content = WORKER_CE_AES256_CBC,.key_transport = WORKER_KT_PKCS1,.upgrade = true,
};

static const struct worker_profile *named(const struct worker_conf *c, const char *name)
{
	const struct worker_profile *p = c->profiles.v;

	for (size_t i = 0; i < c->profiles.n; i++)
		if (strcmp(p[i].name, name) == 0)
			return (&p[i]);
	return (strcmp(name, "default") == 0 ? &builtin : NULL);
}

/* partner - the first profile assigned to rcpt by its recipients patterns */

static const struct worker_profile *partner(const struct worker_conf *c, const char *rcpt)
{
	const struct worker_profile *p = c->profiles.v;
	size_t	len = strlen(rcpt);

	for (size_t i = 0; i < c->profiles.n; i++)
		for (size_t k = 0; k < p[i].recipients.n; k++)
			if (sg_rule_pattern_match(p[i].recipients.v[k], rcpt, len))
				return (&p[i]);
	return (NULL);
}

static int raise_to(int have, int floor, bool *raised)
{
	if (have >= floor)
		return (have);
	*raised = true;
	return (floor);
}

void	worker_algs_for(const struct worker_conf *c, int rule, const char *rcpt,
			struct worker_algs *a)
{
	const struct sg_rule *r = rule >= 0 ? &((const struct sg_rule *) c->rules.v)[rule] : NULL;
	const struct worker_profile *min = r && *r->profile ? named(c, r->profile) : NULL;
	const struct worker_profile *p = partner(c, rcpt);

	if (p == NULL)
		p = min ? min : named(c, "default");
	memset(a, 0, sizeof(*a));
	snprintf(a->profile, sizeof(a->profile), "%s", p->name);
	a->sigalg = p->signature;
	a->hash = WORKER_HASH_SHA256 + p->digest;
	a->content = p->content;
	a->kt = p->key_transport;
	a->upgrade = p->upgrade;
	if (min && min != p) {
		a->sigalg = raise_to(a->sigalg, min->signature, &a->raised);
		a->hash = raise_to(a->hash, WORKER_HASH_SHA256 + min->digest, &a->raised);
		a->content = raise_to(a->content, min->content, &a->raised);
		a->kt = raise_to(a->kt, min->key_transport, &a->raised);
		if (a->raised)
			snprintf(a->profile, sizeof(a->profile), "%.30s+%.30s", p->name, min->name);
	}
}

void	worker_algs_upgrade(struct worker_algs *a, unsigned caps)
{
	static const struct {
		unsigned cap;
		int	content;
	} contents[] = {
		{ WORKER_CAP_AES256_GCM, WORKER_CE_AES256_GCM },
		{ WORKER_CAP_AES128_GCM, WORKER_CE_AES128_GCM },
		{ WORKER_CAP_AES256_CBC, WORKER_CE_AES256_CBC },
		{ WORKER_CAP_AES128_CBC, WORKER_CE_AES128_CBC },
	};

	if (!a->upgrade)
		return;
	for (size_t i = 0; i < SG_NELEM(contents); i++)
		if (caps & contents[i].cap) {
			if (contents[i].content > a->content) {
				a->content = contents[i].content;
				a->upgraded |= WORKER_UP_CONTENT;
			}
			break;			/* the strongest named decides */
		}
	if ((caps & WORKER_CAP_OAEP_SHA256) && a->kt < WORKER_KT_OAEP_SHA256) {
		a->kt = WORKER_KT_OAEP_SHA256;
		a->upgraded |= WORKER_UP_KT;
	} else if ((caps & WORKER_CAP_OAEP_SHA1) && a->kt < WORKER_KT_OAEP_SHA1) {
		a->kt = WORKER_KT_OAEP_SHA1;
		a->upgraded |= WORKER_UP_KT;
	}
}

void	worker_algs_sign(const struct worker_algs *a, int form, struct worker_sign_spec *spec)
{
	static const unsigned kt_caps[] = {
		[WORKER_KT_PKCS1] = WORKER_CAP_OAEP_SHA256 | WORKER_CAP_OAEP_SHA1 | WORKER_CAP_RSA,
		[WORKER_KT_OAEP_SHA1] = WORKER_CAP_OAEP_SHA256 | WORKER_CAP_OAEP_SHA1,
		[WORKER_KT_OAEP_SHA256] = WORKER_CAP_OAEP_SHA256,
	};

	spec->form = form;
	spec->alg = a->sigalg;
	spec->hash = a->hash;
	spec->caps = WORKER_CAPS_CONTENT | kt_caps[a->kt];
}
