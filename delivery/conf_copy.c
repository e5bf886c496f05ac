/*
 * NAME
 *	conf_copy 3
 * SUMMARY
 *	a deep copy of the delivery section, owned by the agent
 * SYNOPSIS
 *	#include "delivery_int.h"
 *
 *	struct delivery_conf *dl_conf_copy(conf, arena)
 * DESCRIPTION
 *	The role runtime frees a configuration after reload() returns, so
 *	the agent copies every string and list it keeps into its own arena.
 */

#include <string.h>

#include "delivery_int.h"

static char *copy_str(struct sg_arena *a, const char *s)
{
	return (sg_arena_strdup(a, s ? s : ""));
}

static void copy_list(struct sg_arena *a, struct sg_strlist *dst, const struct sg_strlist *src)
{
	dst->n = src->n;
	dst->v = sg_arena_alloc(a, sizeof(char *) * (src->n + 1));
	for (size_t i = 0; i < src->n; i++)
		dst->v[i] = copy_str(a, src->v[i]);
}

struct delivery_conf *dl_conf_copy(const struct delivery_conf *c, struct sg_arena *a)
{
	struct delivery_conf *n = sg_arena_alloc(a, sizeof(*n));
	const struct delivery_route_conf *rs = c->routes.v;
	const struct delivery_tlspol_conf *ts = c->tls_policies.v;
	struct delivery_route_conf *rd;
	struct delivery_tlspol_conf *td;

	*n = *c;
	n->smarthost = copy_str(a, c->smarthost);
	n->smarthost_credentials = copy_str(a, c->smarthost_credentials);
	n->ehlo_name = copy_str(a, c->ehlo_name);
	n->sts_ca_file = copy_str(a, c->sts_ca_file);
	copy_list(a, &n->dns_servers, &c->dns_servers);
	rd = sg_arena_alloc(a, sizeof(*rd) * (c->routes.n + 1));
	for (size_t i = 0; i < c->routes.n; i++) {
		rd[i] = rs[i];
		copy_list(a, &rd[i].domains, &rs[i].domains);
		copy_list(a, &rd[i].hosts, &rs[i].hosts);
	}
	n->routes.v = rd;
	td = sg_arena_alloc(a, sizeof(*td) * (c->tls_policies.n + 1));
	for (size_t i = 0; i < c->tls_policies.n; i++) {
		td[i] = ts[i];
		copy_list(a, &td[i].domains, &ts[i].domains);
	}
	n->tls_policies.v = td;
	return (n);
}
