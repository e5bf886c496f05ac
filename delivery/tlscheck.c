/*
 * NAME
 *	tlscheck 3
 * SUMMARY
 *	which TLS policy applies to a domain, and why (sealctl tls check)
 * SYNOPSIS
 *	#include "delivery/delivery.h"
 *
 *	int	delivery_tls_check(conf, state_dir, domain, out)
 * DESCRIPTION
 *	The answer is made of the pieces delivery itself uses, so that it
 *	cannot drift from what delivery does: delivery_route() for the
 *	route and the explicit level, dl_resolve_mx() with the domain's DANE
 *	mode for the MX hosts, their validation and their TLSA records (and
 *	dl_dane_verdict() per host), the STS cache file that dl_sts_apply()
 *	reads, and delivery_sts_mx_match(). One c-ares channel runs on a
 *	private libuv loop until both lookups (MX and the _mta-sts TXT
 *	record) have answered.
 *
 *	The output is one "key: value" line per fact, then one line per MX
 *	host with the policy that would apply to it: "explicit LEVEL",
 *	"dane", "dane-defer" (4.7.5), "mta-sts verify", "mta-sts refuse",
 *	"mta-sts testing" or "default LEVEL".
 * DIAGNOSTICS
 *	Failed lookups are reported in the text, not as errors.
 */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "delivery_int.h"

struct check {
	struct dl_hosts *hosts;
	bool	txt_done;
	int	txt_status;
	char	txt_id[DELIVERY_STS_ID_MAX + 1];
	size_t	txt_valid;
};

static void on_hosts(void *arg, struct dl_hosts *h)
{
	((struct check *) arg)->hosts = h;
}

static void on_txt(void *arg, int status, const struct sg_buf *recs, size_t n)
{
	struct check *k = arg;
	char	id[DELIVERY_STS_ID_MAX + 1];

	k->txt_done = true;
	k->txt_status = status;
	for (size_t i = 0; i < n; i++)
		if (delivery_sts_txt_parse(recs[i].data ? recs[i].data : "", recs[i].len, id) == 0
		    && k->txt_valid++ == 0)
			snprintf(k->txt_id, sizeof(k->txt_id), "%s", id);
}

static const char *dane_name(int mode)
{
	static const char *const n[] = {"off", "opportunistic", "required", "inherit"};

	return (mode >= 0 && mode < 4 ? n[mode] : "?");
}

static void put_tlsa(struct sg_buf *out, const struct delivery_tlsa *t)
{
	static const char *const kind[] = {"secure", "denied (validated: none)",
	"insecure (not validated)", "lookup failed"};

	sg_buf_printf(out, "    tlsa: %s%s%s", kind[t->kind], *t->reason ? ": " : "", t->reason);
	for (size_t i = 0; i < t->n; i++) {
		sg_buf_printf(out, "%s%u %u %u ", i ? ", " : " [", t->rr[i].usage, t->rr[i].selector,
			      t->rr[i].mtype);
		for (size_t j = 0; j < t->rr[i].len && j < 32; j++)
			sg_buf_printf(out, "%02x", t->data[t->rr[i].off + j]);
		if (t->rr[i].len > 32)
			sg_buf_puts(out, "...");
	}
	sg_buf_puts(out, t->n ? "]\n" : "\n");
}

/* verdict - the policy for one host, in the precedence order of route.c */

static const char *verdict(const struct delivery_route *r, const struct dl_addr *a,
			   const struct delivery_sts_policy *sts, char *buf, size_t len)
{
	if (r->explicit_tls)
		snprintf(buf, len, "explicit %s", delivery_tls_name(r->tls));
	else if (a->dane == DL_DANE_AUTH)
		snprintf(buf, len, "dane (TLS, certificate matched against TLSA)");
	else if (a->dane != DL_DANE_NONE)
		snprintf(buf, len, "dane-defer (4.7.5: %s)", a->dane == DL_DANE_FAIL
			 ? "TLSA lookup failed" : "DANE required, nothing validated");
	else if (sts && sts->mode == DELIVERY_STS_ENFORCE)
		snprintf(buf, len, "mta-sts %s", delivery_sts_mx_match(sts, a->host)
			 ? "verify" : "refuse (4.7.5: not an mx of the policy)");
	else if (sts && sts->mode == DELIVERY_STS_TESTING)
		snprintf(buf, len, "mta-sts testing (reported), default %s",
			 delivery_tls_name(r->tls));
	else
		snprintf(buf, len, "default %s", delivery_tls_name(r->tls));
	return (buf);
}

static void put_sts(struct sg_buf *out, const struct delivery_conf *c, const char *state_dir,
		    const char *domain, const struct check *k, struct delivery_sts_policy *pol,
		    bool *valid)
{
	char	dir[4096], id[DELIVERY_STS_ID_MAX + 1];
	int64_t	fetched = 0;
	int	rc;

	snprintf(dir, sizeof(dir), "%s/sts", state_dir);
	rc = delivery_sts_cache_read(dir, domain, id, &fetched, pol);
	*valid = rc == 0 && fetched + pol->max_age > (int64_t) time(NULL);
	sg_buf_printf(out, "mta-sts: %s\n", c->mta_sts ? "on" : "off (mta_sts = false)");
	if (k->txt_status < 0)
		sg_buf_puts(out, "mta-sts txt: lookup failed\n");
	else if (k->txt_valid == 1)
		sg_buf_printf(out, "mta-sts txt: id=%s\n", k->txt_id);
	else
		sg_buf_printf(out, "mta-sts txt: %s\n", k->txt_valid ? "several records (none counts)"
			      : "none");
	if (rc == SG_ENOTFOUND) {
		sg_buf_puts(out, "mta-sts cached: none\n");
		return;
	}
	if (rc < 0) {
		sg_buf_printf(out, "mta-sts cached: unreadable (%s)\n", sg_strerror(rc));
		return;
	}
	sg_buf_printf(out, "mta-sts cached: id=%s mode=%s max_age=%lld fetched=%lld %s\n", id,
		      dl_sts_mode_name(pol->mode), (long long) pol->max_age, (long long) fetched,
		      *valid ? "valid" : "expired");
	for (size_t i = 0; i < pol->nmx; i++)
		sg_buf_printf(out, "mta-sts mx: %s\n", pol->mx[i]);
}

static void lookups(const struct delivery_conf *c, const struct delivery_route *r,
		    const char *domain, struct check *k)
{
	uv_loop_t loop;
	struct dl_resolver *res;
	char	name[300];

	uv_loop_init(&loop);
	if (dl_resolver_new(&loop, c, &res) == 0) {
		dl_resolve_mx(res, domain, (unsigned) c->smtp_port, r->dane, on_hosts, k);
		snprintf(name, sizeof(name), "_mta-sts.%s", domain);
		dl_resolve_txt(res, name, on_txt, k);
		while (k->hosts == NULL || !k->txt_done)
			uv_run(&loop, UV_RUN_ONCE);
		dl_resolver_free(res);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
}

int	delivery_tls_check(const struct delivery_conf *c, const char *state_dir,
			   const char *domain, struct sg_buf *out)
{
	struct delivery_route r;
	struct check k = {0};
	struct delivery_sts_policy pol;
	bool	sts_valid = false;
	char	buf[160];

	if (delivery_route(c, domain, strlen(domain), &r) < 0)
		return (SG_EINVAL);
	sg_buf_printf(out, "domain: %s\n", domain);
	if (r.kind != DELIVERY_ROUTE_MX) {
		sg_buf_printf(out, "route: %s\npolicy: %s\n", r.kind == DELIVERY_ROUTE_FAIL
			      ? r.reason : r.smarthost ? "smarthost" : r.key,
			      r.kind == DELIVERY_ROUTE_FAIL ? "none (mail fails)"
			      : delivery_tls_name(r.tls));
		return (0);
	}
	sg_buf_printf(out, "route: mx\nexplicit: %s\ndane: %s\n", r.explicit_tls
		      ? delivery_tls_name(r.tls) : "none", dane_name(r.dane));
	lookups(c, &r, domain, &k);
	if (k.hosts == NULL || k.hosts->status != DELIVERY_OK) {
		sg_buf_printf(out, "mx: lookup failed: %s\n", k.hosts ? k.hosts->reason : "?");
	} else {
		sg_buf_printf(out, "mx: %s\n", r.dane == DELIVERY_DANE_OFF ? "(validation not asked)"
			      : k.hosts->mx_secure ? "validated (AD)" : "not validated");
	}
	put_sts(out, c, state_dir, domain, &k, &pol, &sts_valid);
	for (size_t i = 0; k.hosts && i < k.hosts->n; i++) {
		const struct dl_addr *a = &k.hosts->v[i];
		char	ip[INET6_ADDRSTRLEN];

		if (i && strcmp(a->host, k.hosts->v[i - 1].host) == 0)
			continue;	/* one line per host, not per address */
		sg_sockaddr_str((const struct sockaddr *) &a->sa, ip, sizeof(ip));
		sg_buf_printf(out, "host: %s [%s] policy: %s\n", a->host, ip,
			      verdict(&r, a, c->mta_sts && sts_valid ? &pol : NULL, buf,
				      sizeof(buf)));
		if (a->tlsa >= 0 && (size_t) a->tlsa < k.hosts->ntlsa)
			put_tlsa(out, &k.hosts->tlsa[a->tlsa]);
	}
	dl_hosts_free(k.hosts);
	return (0);
}
