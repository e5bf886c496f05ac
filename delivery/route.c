/*
 * NAME
 *	route 3
 * SUMMARY
 *	where mail for a domain goes, and under which TLS policy
 * SYNOPSIS
 *	#include "delivery/delivery.h"
 *
 *	int	delivery_route(conf, domain, len, route)
 *
 *	const char *delivery_tls_name(tls)
 * DESCRIPTION
 *	delivery_route() decides in this order: the first internal route
 *	listing the domain (a name, or "*.parent" for the names below it;
 *	case ignored) goes to its hosts under the route's own TLS level;
 *	else, with a smarthost, everything goes there under smarthost_tls
 *	and smarthost_auth; else MX for the domain under the first
 *	tls_policies entry listing it, or the default tls_policy.
 *
 *	For MX the precedence of TLS policies is: an explicit level in a
 *	tls_policies entry (route->explicit_tls; no DANE, no MTA-STS), then
 *	DANE (route->dane, the entry's mode or the global dane) where the
 *	MX host has secure TLSA records, then an MTA-STS policy, then
 *	tls_policy. The last three are decided per host once the lookups
 *	are in (resolve.c, conn.c).
 *
 *	End-to-end TLS cannot be promised through a relay, so a domain
 *	listed in tls_policies as "required" or "verify" that would go
 *	through the smarthost gets DELIVERY_ROUTE_FAIL with the reason
 *	(the behaviour of enQsig). The default tls_policy does not apply
 *	to the smarthost hop; smarthost_tls does.
 *
 *	route->key names the destination for concurrency limits and
 *	connection reuse: "route:N", "smarthost" or "mx:DOMAIN".
 * DIAGNOSTICS
 *	0, or SG_EINVAL for a domain that is not a valid DNS name.
 */

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "delivery.h"

/* domain_entry - the first tls_policies entry listing the domain, or NULL */

static const struct delivery_tlspol_conf *domain_entry(const struct delivery_conf *c,
						       const char *d, size_t len)
{
	const struct delivery_tlspol_conf *t = c->tls_policies.v;

	for (size_t i = 0; i < c->tls_policies.n; i++)
		if (sg_domain_listed(&t[i].domains, d, len))
			return (&t[i]);
	return (NULL);
}

int	delivery_route(const struct delivery_conf *c, const char *d, size_t len,
		       struct delivery_route *r)
{
	const struct delivery_route_conf *rt = c->routes.v;
	const struct delivery_tlspol_conf *e;
	int	pol;

	memset(r, 0, sizeof(*r));
	if (len == 0 || len > 255 || !sg_domain_valid(d, len))
		return (SG_EINVAL);
	for (size_t i = 0; i < c->routes.n; i++) {
		if (sg_domain_listed(&rt[i].domains, d, len)) {
			r->kind = DELIVERY_ROUTE_HOSTS;
			r->tls = rt[i].tls;
			r->hosts = &rt[i].hosts;
			snprintf(r->key, sizeof(r->key), "route:%zu", i);
			return (0);
		}
	}
	e = domain_entry(c, d, len);
	pol = e && e->policy != DELIVERY_TLS_UNSET ? e->policy : -1;
	if (c->smarthost && *c->smarthost) {
		if (pol >= DELIVERY_TLS_ENCRYPT) {
			r->kind = DELIVERY_ROUTE_FAIL;
			snprintf(r->reason, sizeof(r->reason), "TLS policy \"%s\" for %.*s cannot "
				 "be guaranteed end to end through smarthost %s",
				 delivery_tls_name(pol), (int) len, d, c->smarthost);
			return (0);
		}
		r->kind = DELIVERY_ROUTE_HOSTS;
		r->smarthost = true;
		r->tls = c->smarthost_tls;
		r->auth = c->smarthost_auth;
		snprintf(r->key, sizeof(r->key), "smarthost");
		return (0);
	}
	r->kind = DELIVERY_ROUTE_MX;
	r->tls = pol >= 0 ? pol : c->tls_policy;
	/* Precedence: an explicit level > DANE > MTA-STS > tls_policy. */
	r->explicit_tls = pol >= 0;
	r->dane = pol >= 0 ? DELIVERY_DANE_OFF
		: e && e->dane != DELIVERY_DANE_INHERIT ? e->dane : c->dane;
	snprintf(r->key, sizeof(r->key), "mx:%.*s", (int) len, d);
	for (char *p = r->key; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char) (*p - 'A' + 'a');
	return (0);
}

const char *delivery_tls_name(int tls)
{
	static const char *const names[] = { "none", "opportunistic", "required", "verify" };

	return (tls >= 0 && (size_t) tls < SG_NELEM(names) ? names[tls] : "?");
}
