/*
 * NAME
 *	sts 3
 * SUMMARY
 *	MTA-STS (RFC 8461) for the delivery agent: policies looked up in the background
 * SYNOPSIS
 *	#include "delivery_int.h"
 *
 *	struct dl_sts *dl_sts_new(loop, resolver, state_dir, max, changed, arg)
 *	void	dl_sts_stop(s)
 *	void	dl_sts_free(s)
 *	int	dl_sts_apply(s, conf, domain, hosts)
 *	const char *dl_sts_mode_name(mode)
 * DESCRIPTION
 *	Nothing on a message's path waits for a web server: dl_sts_apply()
 *	uses what is known now (the policy in memory, else the one cached
 *	in STATE_DIR/sts) and, at most every RECHECK_MS per domain, starts a
 *	refresh in the background: the _mta-sts TXT record, and when its id
 *	differs from the cached policy's (or that one expired) the HTTPS
 *	fetch (sts_fetch.c) of mta-sts.DOMAIN, resolved with our c-ares. A
 *	policy that parses replaces the old one, in memory and on disk. A
 *	failed lookup or fetch keeps the cached policy until its max_age
 *	runs out (RFC 8461 5.1); so the first message to a domain never
 *	seen goes by the other policies while the fetch runs. changed(arg,
 *	domain) is called when a new policy is in, so that the agent stops
 *	reusing connections and host lists made under the old one.
 *
 *	dl_sts_apply() clears every address's mark, then marks each address
 *	of an MX host that DANE left alone (RFC 8461 2: DANE wins): under a valid "enforce" policy, a host
 *	matching an mx pattern must have a verified certificate
 *	(DL_STS_VERIFY), any other is refused (DL_STS_REFUSE, 4.7.5);
 *	"testing" marks them DL_STS_TESTING, judged and counted for TLS-RPT
 *	but delivered as the other policies say; "none" changes nothing. It
 *	returns the policy's mode, or -1 when there is none.
 *
 *	The policies of at most max domains are kept in memory, the most
 *	recently used first; a new domain beyond that takes the place of the
 *	least recently used one without a refresh under way, which is read
 *	from the disk cache again when next needed. (A domain beyond the
 *	limit used to go without MTA-STS until a restart: a policy on disk
 *	ignored, mail sent without the enforced verification.)
 * DIAGNOSTICS
 *	Logs event=sts_policy_fetched, sts_policy_current, sts_fetch_failed,
 *	sts_cache_failed with the domain.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "delivery_int.h"

#define RECHECK_MS	(60 * 60 * 1000)	/* TXT looked at again after an hour */

struct entry {
	struct dl_sts *s;
	char	domain[256];
	bool	loaded;			/* the disk cache was read */
	bool	have;			/* pol, id and fetched are set */
	struct delivery_sts_policy pol;
	char	id[DELIVERY_STS_ID_MAX + 1];
	int64_t	fetched;		/* unix seconds */
	int64_t	checked_ms;		/* monotonic; 0: never */
	bool	busy;			/* a refresh is under way */
	char	new_id[DELIVERY_STS_ID_MAX + 1];
	const struct delivery_conf *conf;	/* of the refresh under way */
	struct entry *next;
};

struct dl_sts {
	uv_loop_t *loop;
	struct dl_resolver *res;
	struct dl_fetcher *fetch;
	char   *dir;
	struct entry *entries;		/* the most recently used first */
	size_t	n, max;
	bool	closing;
	void	(*changed) (void *, const char *);
	void   *arg;
};

struct dl_sts *dl_sts_new(uv_loop_t *loop, struct dl_resolver *res, const char *state_dir,
			  size_t max, void (*changed) (void *, const char *), void *arg)
{
	struct dl_sts *s = sg_xcalloc(1, sizeof(*s));
	struct sg_buf dir = SG_BUF_INIT;

	s->max = max;
	s->changed = changed;
	s->arg = arg;
	s->loop = loop;
	s->res = res;
	/* s->fetch (libcurl and its TLS library) is set up by the first fetch. */
	/* Made by the first write, once the role runs as its user. */
	sg_buf_printf(&dir, "%s/sts", state_dir);
	s->dir = dir.data;
	return (s);
}

void	dl_sts_stop(struct dl_sts *s)
{
	if (s == NULL || s->closing)
		return;
	s->closing = true;
	dl_fetcher_free(s->fetch);
	s->fetch = NULL;
}

void	dl_sts_free(struct dl_sts *s)
{
	if (s == NULL)
		return;
	dl_sts_stop(s);
	while (s->entries) {
		struct entry *e = s->entries;

		s->entries = e->next;
		free(e);
	}
	free(s->dir);
	free(s);
}

static bool valid(const struct entry *e)
{
	return (e->have && e->fetched + e->pol.max_age > (int64_t) time(NULL));
}

static void done(struct entry *e)
{
	e->busy = false;
}

static void on_fetched(void *arg, const char *body, size_t len, const char *why)
{
	struct entry *e = arg;
	struct dl_sts *s = e->s;
	struct delivery_sts_policy pol;
	char	domain[sizeof(e->domain)];
	int	rc;

	if (e->s->closing) {
		done(e);
		return;
	}
	if (body == NULL || delivery_sts_policy_parse(body, len, &pol) < 0) {
		sg_warn("event=sts_fetch_failed domain=%s reason=\"%s\" cached=%s", e->domain,
			body ? "the policy does not parse" : why, valid(e) ? "yes" : "no");
		done(e);
		return;
	}
	e->pol = pol;
	e->have = true;
	e->fetched = (int64_t) time(NULL);
	snprintf(e->id, sizeof(e->id), "%s", e->new_id);
	/* Kept first, logged after: whoever reads the log finds the file. */
	if ((rc = delivery_sts_cache_write(e->s->dir, e->domain, e->id, e->fetched, body,
					   len)) < 0)
		sg_warn("event=sts_cache_failed domain=%s error=\"%s\"", e->domain,
			sg_strerror(rc));
	sg_info("event=sts_policy_fetched domain=%s id=%s mode=%s max_age=%lld mx=%zu",
		e->domain, e->id, dl_sts_mode_name(pol.mode), (long long) pol.max_age, pol.nmx);
	/* idle once done, e may give its place to another domain meanwhile */
	snprintf(domain, sizeof(domain), "%s", e->domain);
	done(e);
	s->changed(s->arg, domain);
}

static void on_policy_host(void *arg, struct dl_hosts *h)
{
	struct entry *e = arg;

	if (e->s->closing || h->status != DELIVERY_OK) {
		if (!e->s->closing)
			sg_warn("event=sts_fetch_failed domain=%s reason=\"mta-sts.%s: %s\" "
				"cached=%s", e->domain, e->domain, h->reason, valid(e) ? "yes" : "no");
		dl_hosts_free(h);
		done(e);
		return;
	}
	if (e->s->fetch == NULL)
		e->s->fetch = dl_fetcher_new(e->s->loop);
	dl_fetch_policy(e->s->fetch, e->domain, (unsigned) e->conf->sts_port, h,
			e->conf->sts_ca_file, e->conf->sts_fetch_timeout, on_fetched, e);
	dl_hosts_free(h);
}

/* on_txt - one valid v=STSv1 record, or none (RFC 8461 3.1) */

static void on_txt(void *arg, int status, const struct sg_buf *recs, size_t n)
{
	struct entry *e = arg;
	char	id[DELIVERY_STS_ID_MAX + 1], host[300];
	size_t	found = 0;
	struct sg_strlist one = {1, NULL};
	char   *hp = host;

	if (e->s->closing || status < 0) {
		if (!e->s->closing)
			sg_debug("event=sts_txt domain=%s error=\"lookup failed\"", e->domain);
		done(e);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (recs[i].len >= 7 && memcmp(recs[i].data, "v=STSv1", 7) == 0
		    && delivery_sts_txt_parse(recs[i].data, recs[i].len, id) == 0 && ++found == 1)
			snprintf(e->new_id, sizeof(e->new_id), "%s", id);
	sg_debug("event=sts_txt domain=%s records=%zu valid=%zu", e->domain, n, found);
	if (found != 1) {
		/* None (or several): keep a cached policy until it expires. */
		done(e);
		return;
	}
	if (valid(e) && strcmp(e->id, e->new_id) == 0) {
		sg_debug("event=sts_policy_current domain=%s id=%s", e->domain, e->id);
		done(e);
		return;
	}
	snprintf(host, sizeof(host), "mta-sts.%s:%lld", e->domain, (long long) e->conf->sts_port);
	one.v = &hp;
	dl_resolve_hosts(e->s->res, &one, (unsigned) e->conf->sts_port, on_policy_host, e);
}

/*
 * entry_get - the domain's entry, moved to the front; a new one takes the
 * place of the least recently used idle entry when max are kept (an
 * entry with a refresh under way is in its callbacks' hands: it stays)
 */
static struct entry *entry_get(struct dl_sts *s, const char *domain)
{
	struct entry **pp, **idle = NULL, *e;

	for (pp = &s->entries; (e = *pp) != NULL; pp = &e->next) {
		if (strcmp(e->domain, domain) == 0) {
			*pp = e->next;
			break;
		}
		if (!e->busy)
			idle = pp;
	}
	if (e == NULL) {
		if (s->n >= s->max && idle) {
			e = *idle;
			*idle = e->next;
			memset(e, 0, sizeof(*e));
		} else {
			e = sg_xcalloc(1, sizeof(*e));
			s->n++;
		}
		e->s = s;
		snprintf(e->domain, sizeof(e->domain), "%s", domain);
	}
	e->next = s->entries;
	s->entries = e;
	return (e);
}

/* lookup - the domain's policy as known now; starts a refresh when due */

static const struct delivery_sts_policy *lookup(struct dl_sts *s, const struct delivery_conf *c,
						const char *domain)
{
	struct entry *e = entry_get(s, domain);
	int64_t	now = sg_mono_ms();

	if (!e->loaded) {
		e->loaded = true;
		e->have = delivery_sts_cache_read(s->dir, domain, e->id, &e->fetched, &e->pol) == 0;
	}
	if (!s->closing && !e->busy && (e->checked_ms == 0 || now - e->checked_ms > RECHECK_MS)) {
		char	name[300];

		e->busy = true;
		e->checked_ms = now;
		e->conf = c;
		snprintf(name, sizeof(name), "_mta-sts.%s", domain);
		dl_resolve_txt(s->res, name, on_txt, e);
	}
	return (valid(e) ? &e->pol : NULL);
}

const char *dl_sts_mode_name(int mode)
{
	return (mode == DELIVERY_STS_ENFORCE ? "enforce" : mode == DELIVERY_STS_TESTING
		? "testing" : "none");
}

int	dl_sts_apply(struct dl_sts *s, const struct delivery_conf *c, const char *domain,
		     struct dl_hosts *h)
{
	const struct delivery_sts_policy *p;

	for (size_t i = 0; i < h->n; i++)	/* judged anew: a policy may have gone */
		h->v[i].sts = DL_STS_NONE;
	if (s == NULL || !c->mta_sts || (p = lookup(s, c, domain)) == NULL)
		return (-1);
	for (size_t i = 0; i < h->n && p->mode != DELIVERY_STS_NONE; i++) {
		struct dl_addr *a = &h->v[i];

		if (a->dane != DL_DANE_NONE)
			continue;
		if (p->mode == DELIVERY_STS_TESTING)
			a->sts = DL_STS_TESTING;
		else
			a->sts = delivery_sts_mx_match(p, a->host) ? DL_STS_VERIFY : DL_STS_REFUSE;
	}
	return (p->mode);
}
