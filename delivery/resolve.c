/*
 * NAME
 *	resolve 3
 * SUMMARY
 *	MX, A and AAAA lookups with c-ares on a libuv loop
 * SYNOPSIS
 *	#include "delivery_int.h"
 *
 *	int	dl_resolver_new(loop, conf, out)
 *	int	dl_resolver_reload(r, conf)
 *	void	dl_resolver_free(r)
 *	void	dl_resolve_mx(r, domain, port, cb, arg)
 *	void	dl_resolve_hosts(r, hostports, defport, cb, arg)
 *	void	dl_resolve_txt(r, name, cb, arg)
 *	void	dl_hosts_free(h)
 *	struct dl_hosts *dl_hosts_dup(h)
 * DESCRIPTION
 *	One c-ares channel per loop. c-ares tells through its socket-state
 *	callback which descriptors to watch; each gets one uv_poll_t, and
 *	one timer drives c-ares's own timeouts. Lookups skip /etc/hosts and
 *	search domains: names are FQDNs.
 *
 *	dl_resolver_reload() applies new dns_servers, dns_timeout and
 *	dns_tries: c-ares 1.18 cannot change a channel's servers while it
 *	has queries, so a new channel takes every new lookup, and the old
 *	one finishes those it has and is destroyed (from the timer, never
 *	inside one of its own callbacks) once it has none.
 *
 *	dl_resolve_mx() looks up the MX records of domain; the answer is
 *	read by delivery_mx_parse() (mx.c): the exchanges sorted by
 *	preference with equal preferences shuffled, each then resolved to
 *	its A and AAAA addresses, in that order. No MX record (NODATA, also
 *	at the end of a CNAME chain) means the domain itself is the exchange
 *	(RFC 5321 5.1). A null MX (RFC 7505) and NXDOMAIN are permanent
 *	failures; everything else (timeouts, SERVFAIL, refusals, a CNAME
 *	loop, a truncated or malformed answer) is temporary.
 *
 *	With a DANE mode other than off, the MX query asks for the AD bit
 *	(dane_query.c) and, when the answer was validated, each exchange's
 *	TLSA records are looked up next to its addresses, and its A record
 *	once more for the AD bit (c-ares's address lookup cannot ask for
 *	it); every address then carries DANE's verdict for its host
 *	(dl_dane_verdict()), which counts only where both the MX and the
 *	host's address answers were validated.
 *
 *	dl_resolve_hosts() resolves a list of "host:port" (names or
 *	literals) in the given order, for routes and the smarthost.
 *
 *	dl_resolve_txt() gets the TXT records of a name (for MTA-STS and
 *	TLS-RPT), at most DL_TXT_MAX of at most DL_TXT_LEN bytes each.
 *
 *	The callback owns the result and is called exactly once, from the
 *	loop, or from dl_resolver_free() with a temporary "cancelled" result.
 * DIAGNOSTICS
 *	dl_resolver_new() and dl_resolver_reload() return SG_EINVAL when
 *	c-ares cannot be set up with the configured servers (a reload then
 *	leaves the resolver as it was).
 */

#include <ares.h>
#include <arpa/nameser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery_int.h"

/* A c-ares channel and the lookups begun on it. */
struct chan {
	ares_channel ch;
	struct dl_resolver *r;
	unsigned reqs;			/* begun and not yet finished */
	struct chan *next;		/* older channels, draining */
};

struct watch {
	uv_poll_t poll;
	ares_socket_t fd;
	struct chan *c;
	struct watch *next;
};

struct dl_resolver {
	uv_loop_t *loop;
	struct chan *cur;		/* takes new lookups */
	struct chan *old;		/* replaced by a reload, draining */
	uv_timer_t timer;
	struct watch *watches;
	bool	closing;
};

struct target {
	char	name[256];
	unsigned port;
	unsigned pref;
	int	status;			/* ares status of its address lookup */
	struct ares_addrinfo *ai;
	struct delivery_tlsa *tlsa;	/* DANE: its TLSA answer */
	bool	addr_secure;		/* DANE: its address answer was validated */
};

struct req {
	struct chan *c;
	dl_resolve_cb cb;
	void   *arg;
	char	domain[256];
	unsigned port;
	bool	implicit;		/* no MX: the domain itself */
	int	dane;			/* enum delivery_dane */
	bool	mx_secure;		/* the MX answer was validated (AD) */
	size_t	n, pending;
	struct target *t;
};

static void arm_timer(struct dl_resolver *r);

static void on_close_watch(uv_handle_t *h)
{
	free(h->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct watch *w = p->data;
	ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;

	if (status < 0 || (events & UV_READABLE))
		rfd = w->fd;
	if (status < 0 || (events & UV_WRITABLE))
		wfd = w->fd;
	ares_process_fd(w->c->ch, rfd, wfd);
	arm_timer(w->c->r);
}

/* on_sock_state - c-ares opens, changes or closes a socket */

static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct chan *c = data;
	struct dl_resolver *r = c->r;
	struct watch **pp, *w;

	for (pp = &r->watches; *pp && (*pp)->fd != fd; pp = &(*pp)->next)
		;
	w = *pp;
	if (!readable && !writable) {
		if (w) {
			/* Unlink now: c-ares may reuse the fd number at once. */
			*pp = w->next;
			uv_poll_stop(&w->poll);
			uv_close((uv_handle_t *) &w->poll, on_close_watch);
		}
		return;
	}
	if (w == NULL) {
		w = sg_xcalloc(1, sizeof(*w));
		w->fd = fd;
		w->c = c;
		if (uv_poll_init_socket(r->loop, &w->poll, fd) != 0) {
			free(w);
			return;
		}
		w->poll.data = w;
		w->next = r->watches;
		r->watches = w;
	}
	uv_poll_start(&w->poll, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0),
		      on_poll);
}

static void chan_free(struct chan *c)
{
	struct watch **pp = &c->r->watches, *w;

	/* Lookups still on it call back with ARES_EDESTRUCTION from here. */
	ares_destroy(c->ch);
	/* c-ares reports its sockets closed; a watch it left must not outlive c */
	while ((w = *pp) != NULL) {
		if (w->c == c) {
			*pp = w->next;
			uv_poll_stop(&w->poll);
			uv_close((uv_handle_t *) &w->poll, on_close_watch);
		} else {
			pp = &w->next;
		}
	}
	free(c);
}

/* on_timer - c-ares's timeouts on every channel; drained old ones go */

static void on_timer(uv_timer_t *t)
{
	struct dl_resolver *r = t->data;
	struct chan **pp = &r->old, *c;

	ares_process_fd(r->cur->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	while ((c = *pp) != NULL) {
		ares_process_fd(c->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
		if (c->reqs == 0) {
			*pp = c->next;
			chan_free(c);
		} else {
			pp = &c->next;
		}
	}
	arm_timer(r);
}

/* arm_timer - the next c-ares timeout of any channel, at most a second */

static void arm_timer(struct dl_resolver *r)
{
	struct timeval max = {1, 0}, tv, *tvp;
	uint64_t ms = 1000;

	if (r->closing)
		return;
	for (struct chan *c = r->cur; c; c = c == r->cur ? r->old : c->next) {
		tvp = ares_timeout(c->ch, &max, &tv);
		if ((uint64_t) tvp->tv_sec * 1000 + (uint64_t) tvp->tv_usec / 1000 < ms)
			ms = (uint64_t) tvp->tv_sec * 1000 + (uint64_t) tvp->tv_usec / 1000;
	}
	uv_timer_start(&r->timer, on_timer, ms + 1, 0);
}

/* servers_csv - "ip:port" list in c-ares's syntax ("[v6]:port") */

static int servers_csv(const struct delivery_conf *c, struct sg_buf *b)
{
	for (size_t i = 0; i < c->dns_servers.n; i++) {
		struct sockaddr_storage ss;
		const char *s = c->dns_servers.v[i];
		char	ip[INET6_ADDRSTRLEN];
		unsigned port;

		if (sg_sockaddr_parse(s, strlen(s), &ss) < 0)
			return (SG_EINVAL);
		sg_sockaddr_str((struct sockaddr *) &ss, ip, sizeof(ip));
		port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *) &ss)->sin6_port
			     : ((struct sockaddr_in *) &ss)->sin_port);
		sg_buf_printf(b, "%s%s%s%s:%u", i ? "," : "", ss.ss_family == AF_INET6 ? "[" : "",
			      ip, ss.ss_family == AF_INET6 ? "]" : "", port ? port : 53);
	}
	return (0);
}

/* chan_new - a channel with the configured servers, timeout and tries */

static int chan_new(struct dl_resolver *r, const struct delivery_conf *c, struct chan **out)
{
	struct chan *n = sg_xcalloc(1, sizeof(*n));
	struct ares_options o = {0};
	struct sg_buf csv = SG_BUF_INIT;
	int	mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES
		| ARES_OPT_FLAGS | ARES_OPT_LOOKUPS;

	n->r = r;
	o.sock_state_cb = on_sock_state;
	o.sock_state_cb_data = n;
	o.timeout = (int) c->dns_timeout;
	o.tries = (int) c->dns_tries;
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_EDNS;
	o.lookups = (char *) "b";
	if (ares_init_options(&n->ch, &o, mask) != ARES_SUCCESS) {
		free(n);
		return (SG_EINVAL);
	}
	/* A fresh channel has no queries: setting servers cannot fail on that. */
	if (c->dns_servers.n > 0
	    && (servers_csv(c, &csv) < 0
		|| ares_set_servers_ports_csv(n->ch, csv.data) != ARES_SUCCESS)) {
		sg_buf_free(&csv);
		chan_free(n);
		return (SG_EINVAL);
	}
	sg_buf_free(&csv);
	*out = n;
	return (0);
}

int	dl_resolver_new(uv_loop_t *loop, const struct delivery_conf *c, struct dl_resolver **out)
{
	struct dl_resolver *r = sg_xcalloc(1, sizeof(*r));

	/* Idempotent and cheap; the role is single-threaded when it starts. */
	ares_library_init(ARES_LIB_INIT_ALL);
	r->loop = loop;
	if (chan_new(r, c, &r->cur) < 0) {
		free(r);
		return (SG_EINVAL);
	}
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	*out = r;
	return (0);
}

int	dl_resolver_reload(struct dl_resolver *r, const struct delivery_conf *c)
{
	struct chan *n;

	if (chan_new(r, c, &n) < 0)
		return (SG_EINVAL);
	r->cur->next = r->old;
	r->old = r->cur;
	r->cur = n;
	arm_timer(r);
	return (0);
}

static void on_close_resolver(uv_handle_t *h)
{
	free(h->data);
}

void	dl_resolver_free(struct dl_resolver *r)
{
	if (r == NULL)
		return;
	r->closing = true;
	chan_free(r->cur);
	while (r->old) {
		struct chan *c = r->old;

		r->old = c->next;
		chan_free(c);
	}
	while (r->watches) {
		struct watch *w = r->watches;

		r->watches = w->next;
		uv_poll_stop(&w->poll);
		uv_close((uv_handle_t *) &w->poll, on_close_watch);
	}
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *) &r->timer, on_close_resolver);
}

void	dl_hosts_free(struct dl_hosts *h)
{
	if (h) {
		free(h->v);
		free(h->tlsa);
		free(h);
	}
}

struct dl_hosts *dl_hosts_dup(const struct dl_hosts *h)
{
	struct dl_hosts *d = sg_xmemdup(h, sizeof(*h));

	d->v = h->n ? sg_xmemdup(h->v, h->n * sizeof(*h->v)) : NULL;
	d->tlsa = h->ntlsa ? sg_xmemdup(h->tlsa, h->ntlsa * sizeof(*h->tlsa)) : NULL;
	return (d);
}

static void req_free(struct req *q)
{
	q->c->reqs--;
	for (size_t i = 0; i < q->n; i++) {
		if (q->t[i].ai)
			ares_freeaddrinfo(q->t[i].ai);
		free(q->t[i].tlsa);
	}
	free(q->t);
	free(q);
}

/* finish_error - the lookup failed as a whole */

static void finish_error(struct req *q, int status, const char *enh, const char *fmt, ...)
	SG_PRINTF(4, 5);

static void finish_error(struct req *q, int status, const char *enh, const char *fmt, ...)
{
	struct dl_hosts *h = sg_xcalloc(1, sizeof(*h));
	va_list ap;

	h->status = status;
	snprintf(h->enh, sizeof(h->enh), "%s", enh);
	va_start(ap, fmt);
	vsnprintf(h->reason, sizeof(h->reason), fmt, ap);
	va_end(ap);
	q->cb(q->arg, h);
	req_free(q);
}

static bool temp_ares(int st)
{
	return (st != ARES_ENOTFOUND && st != ARES_ENODATA && st != ARES_ENONAME);
}

/* finish_addrs - every exchange resolved: addresses in target order */

static void finish_addrs(struct req *q)
{
	struct dl_hosts *h = sg_xcalloc(1, sizeof(*h));
	size_t	cap = 0;
	int	last = ARES_SUCCESS;
	bool	any_temp = false;

	h->mx_secure = q->mx_secure;
	if (q->dane != DELIVERY_DANE_OFF && q->n) {
		h->ntlsa = q->n;
		h->tlsa = sg_xcalloc(q->n, sizeof(*h->tlsa));
	}
	for (size_t i = 0; i < q->n; i++) {
		struct target *t = &q->t[i];

		if (h->tlsa && t->tlsa)
			h->tlsa[i] = *t->tlsa;

		if (t->status != ARES_SUCCESS) {
			last = t->status;
			any_temp |= temp_ares(t->status);
			continue;
		}
		for (struct ares_addrinfo_node *a = t->ai ? t->ai->nodes : NULL; a; a = a->ai_next) {
			if ((a->ai_family != AF_INET && a->ai_family != AF_INET6)
			    || a->ai_addrlen > sizeof(struct sockaddr_storage))
				continue;
			if (h->n == cap) {
				cap = cap ? cap * 2 : 8;
				h->v = sg_xrealloc(h->v, cap * sizeof(*h->v));
			}
			memset(&h->v[h->n], 0, sizeof(h->v[h->n]));
			snprintf(h->v[h->n].host, sizeof(h->v[h->n].host), "%s", t->name);
			memcpy(&h->v[h->n].sa, a->ai_addr, a->ai_addrlen);
			h->v[h->n].tlsa = h->tlsa && t->tlsa ? (int) i : -1;
			dl_dane_verdict(&h->v[h->n], q->dane, q->mx_secure && t->addr_secure,
					t->tlsa);
			h->n++;
		}
	}
	if (h->n > 0) {
		h->status = DELIVERY_OK;
	} else if (q->implicit && !any_temp) {
		h->status = DELIVERY_PERM;
		snprintf(h->enh, sizeof(h->enh), "5.1.2");
		snprintf(h->reason, sizeof(h->reason), "domain %s has no MX and no address "
			 "record", q->domain);
	} else {
		h->status = DELIVERY_TEMP;
		snprintf(h->enh, sizeof(h->enh), "4.4.3");
		snprintf(h->reason, sizeof(h->reason), "no address found for the mail "
			 "hosts of %s (%s)", q->domain, ares_strerror(last));
	}
	q->cb(q->arg, h);
	req_free(q);
}

static void start_addrs(struct req *q);

/* implicit - no MX: the domain itself is the exchange (RFC 5321 5.1) */

static void implicit(struct req *q)
{
	q->implicit = true;
	q->n = 1;
	q->t = sg_xcalloc(1, sizeof(*q->t));
	snprintf(q->t[0].name, sizeof(q->t[0].name), "%s", q->domain);
	q->t[0].port = q->port;
	start_addrs(q);
}

/*
 * on_mx - the answer goes through delivery_mx_parse() (mx.c), which
 * decides everything a DNS message can say; c-ares's status alone speaks
 * only when there is no message (timeouts, a server that failed).
 */
static void on_mx(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct req *q = arg;
	struct delivery_mx *mx;

	(void) timeouts;
	if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
		finish_error(q, DELIVERY_TEMP, "4.4.3", "DNS lookup cancelled");
		return;
	}
	if (status == ARES_ENOTFOUND && (abuf == NULL || alen <= 0)) {
		finish_error(q, DELIVERY_PERM, "5.1.2", "domain %s does not exist (NXDOMAIN)",
			     q->domain);
		return;
	}
	if (abuf == NULL || alen <= 0) {
		finish_error(q, DELIVERY_TEMP, "4.4.3", "MX lookup for %s failed: %s", q->domain,
			     ares_strerror(status));
		return;
	}
	q->mx_secure = alen >= 4 && (abuf[3] & 0x20);
	mx = sg_xcalloc(1, sizeof(*mx));
	switch (delivery_mx_parse(abuf, (size_t) alen, q->domain, random, mx)) {
	case DELIVERY_MX_HOSTS:
		q->t = sg_xcalloc(mx->n, sizeof(*q->t));
		for (size_t i = 0; i < mx->n; i++) {
			snprintf(q->t[i].name, sizeof(q->t[i].name), "%s", mx->v[i].host);
			q->t[i].port = q->port;
			q->t[i].pref = mx->v[i].pref;
		}
		q->n = mx->n;
		start_addrs(q);
		break;
	case DELIVERY_MX_IMPLICIT:
		implicit(q);
		break;
	case DELIVERY_MX_NULL:
		finish_error(q, DELIVERY_PERM, "5.1.10", "domain %s does not accept mail (null MX)",
			     q->domain);
		break;
	case DELIVERY_MX_NXDOMAIN:
		finish_error(q, DELIVERY_PERM, "5.1.2", "domain %s does not exist (NXDOMAIN)",
			     q->domain);
		break;
	default:
		finish_error(q, DELIVERY_TEMP, "4.4.3", "MX lookup for %s failed: %s", q->domain,
			     mx->reason);
	}
	free(mx);
}

struct addr_ctx {
	struct req *q;
	size_t	i;
};

/* one_done - one lookup of q answered; the last one finishes q */

static void one_done(struct addr_ctx *c)
{
	struct req *q = c->q;

	free(c);
	if (--q->pending == 0)
		finish_addrs(q);
}

static void on_addr(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct addr_ctx *c = arg;
	struct req *q = c->q;

	(void) timeouts;
	q->t[c->i].status = status;
	q->t[c->i].ai = ai;
	one_done(c);
}

static void on_tlsa(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct addr_ctx *c = arg;
	struct req *q = c->q;
	struct delivery_tlsa *t = sg_xcalloc(1, sizeof(*t));

	(void) timeouts;
	if (abuf == NULL || alen <= 0) {
		t->kind = DELIVERY_TLSA_TEMP;
		snprintf(t->reason, sizeof(t->reason), "TLSA lookup failed: %s",
			 ares_strerror(status));
	} else {
		delivery_tlsa_parse(abuf, (size_t) alen, t);
	}
	q->t[c->i].tlsa = t;
	one_done(c);
}

/*
 * on_addr_ad - only the AD bit of the host's A answer: RFC 7672 2.2.2
 * uses TLSA records only for a host whose address records are secure
 * (a validated "no A record" counts; the addresses come from on_addr).
 */
static void on_addr_ad(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct addr_ctx *c = arg;

	(void) status;
	(void) timeouts;
	c->q->t[c->i].addr_secure = abuf && alen >= 4 && (abuf[3] & 0x20);
	one_done(c);
}

/* start_tlsa - DANE: _port._tcp.host TLSA of every target (RFC 7672 2.2.3) */

static void start_tlsa(struct req *q)
{
	for (size_t i = 0; i < q->n; i++) {
		struct addr_ctx *c = sg_xcalloc(1, sizeof(*c)), *ad = sg_xcalloc(1, sizeof(*ad));
		char	name[300];

		c->q = ad->q = q;
		c->i = ad->i = i;
		snprintf(name, sizeof(name), "_%u._tcp.%s", q->t[i].port, q->t[i].name);
		dl_dane_query(q->c->ch, name, ns_t_tlsa, on_tlsa, c);
		dl_dane_query(q->c->ch, q->t[i].name, ns_t_a, on_addr_ad, ad);
	}
}

/* start_addrs - A and AAAA of every target, all at once (and TLSA for DANE) */

static void start_addrs(struct req *q)
{
	struct ares_addrinfo_hints hints = {.ai_family = AF_UNSPEC,.ai_socktype = SOCK_STREAM,
	.ai_flags = ARES_AI_NOSORT};

	if (q->n == 0) {
		finish_addrs(q);
		return;
	}
	bool	tlsa = q->dane != DELIVERY_DANE_OFF && q->mx_secure;

	/* One extra count: a callback that runs inside the call cannot finish q early. */
	q->pending = (tlsa ? 3 * q->n : q->n) + 1;
	if (tlsa)
		start_tlsa(q);
	for (size_t i = 0; i < q->n; i++) {
		struct addr_ctx *c = sg_xcalloc(1, sizeof(*c));
		char	port[8];

		c->q = q;
		c->i = i;
		snprintf(port, sizeof(port), "%u", q->t[i].port);
		ares_getaddrinfo(q->c->ch, q->t[i].name, port, &hints, on_addr, c);
	}
	if (--q->pending == 0) {
		finish_addrs(q);
	} else {
		struct dl_resolver *r = q->c->r;

		if (!r->closing)
			arm_timer(r);
	}
}

/* req_new - a lookup on the current channel, which it keeps to the end */

static struct req *req_new(struct dl_resolver *r, dl_resolve_cb cb, void *arg)
{
	struct req *q = sg_xcalloc(1, sizeof(*q));

	q->c = r->cur;
	q->c->reqs++;
	q->cb = cb;
	q->arg = arg;
	return (q);
}

void	dl_resolve_mx(struct dl_resolver *r, const char *domain, unsigned port, int dane,
		      dl_resolve_cb cb, void *arg)
{
	struct req *q = req_new(r, cb, arg);

	snprintf(q->domain, sizeof(q->domain), "%s", domain);
	q->port = port;
	q->dane = dane;
	if (dane != DELIVERY_DANE_OFF)
		dl_dane_query(q->c->ch, q->domain, ns_t_mx, on_mx, q);
	else
		ares_query(q->c->ch, q->domain, ns_c_in, ns_t_mx, on_mx, q);
	if (!r->closing)
		arm_timer(r);
}

void	dl_resolve_hosts(struct dl_resolver *r, const struct sg_strlist *hp, unsigned defport,
			 dl_resolve_cb cb, void *arg)
{
	struct req *q = req_new(r, cb, arg);

	q->t = sg_xcalloc(hp->n ? hp->n : 1, sizeof(*q->t));
	for (size_t i = 0; i < hp->n; i++) {
		struct target *t = &q->t[q->n];

		if (sg_hostport_parse(hp->v[i], strlen(hp->v[i]), t->name, sizeof(t->name),
				      &t->port, defport) == 0)
			q->n++;
	}
	snprintf(q->domain, sizeof(q->domain), "%s", q->n ? q->t[0].name : "?");
	start_addrs(q);
}

struct txt_req {
	struct chan *c;
	dl_txt_cb cb;
	void   *arg;
};

/*
 * on_txt - the records, each one's strings joined (RFC 7208 3.3 style),
 * as c-ares's parser splits them; NODATA and NXDOMAIN give n = 0 and
 * status 0: "no record" is an answer, not a failure; an answer that does
 * not parse is a failure (SG_EAGAIN), and a record longer than DL_TXT_LEN
 * is left out whole, never cut.
 */
static void on_txt(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct txt_req *t = arg;
	struct ares_txt_ext *txt = NULL;
	struct sg_buf recs[DL_TXT_MAX];
	bool	over[DL_TXT_MAX] = {false};
	size_t	n = 0, kept = 0;
	int	rc = 0, prc;

	(void) timeouts;
	memset(recs, 0, sizeof(recs));
	if (status == ARES_ENOTFOUND || status == ARES_ENODATA)
		rc = 0;
	else if (status != ARES_SUCCESS || abuf == NULL)
		rc = SG_EAGAIN;
	else if ((prc = ares_parse_txt_reply_ext(abuf, alen, &txt)) == ARES_SUCCESS) {
		for (struct ares_txt_ext *x = txt; x; x = x->next) {
			if (x->record_start) {
				if (n == DL_TXT_MAX)
					break;
				n++;
			}
			if (n && recs[n - 1].len + x->length <= DL_TXT_LEN)
				sg_buf_append(&recs[n - 1], x->txt, x->length);
			else if (n)
				over[n - 1] = true;	/* never a record with a piece cut out */
		}
		ares_free_data(txt);
		for (size_t i = 0; i < n; i++) {	/* the whole records only */
			if (over[i])
				sg_buf_free(&recs[i]);
			else if (kept++ != i) {
				recs[kept - 1] = recs[i];
				memset(&recs[i], 0, sizeof(recs[i]));
			}
		}
		n = kept;
	} else if (prc != ARES_ENODATA)
		rc = SG_EAGAIN;		/* a damaged answer proves no absence */
	t->cb(t->arg, rc, recs, n);
	for (size_t i = 0; i < DL_TXT_MAX; i++)
		sg_buf_free(&recs[i]);
	t->c->reqs--;
	free(t);
}

void	dl_resolve_txt(struct dl_resolver *r, const char *name, dl_txt_cb cb, void *arg)
{
	struct txt_req *t = sg_xcalloc(1, sizeof(*t));

	t->c = r->cur;
	t->c->reqs++;
	t->cb = cb;
	t->arg = arg;
	ares_query(t->c->ch, name, ns_c_in, ns_t_txt, on_txt, t);
	if (!r->closing)
		arm_timer(r);
}
