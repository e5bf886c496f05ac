/*
 * NAME
 *	sts_fetch 3
 * SUMMARY
 *	HTTPS fetches of MTA-STS policies with libcurl's multi-socket API on libuv
 * SYNOPSIS
 *	#include "delivery_int.h"
 *
 *	struct dl_fetcher *dl_fetcher_new(loop)
 *	void	dl_fetcher_free(f)
 *	void	dl_fetch_policy(f, domain, port, addrs, ca_file, timeout_ms, cb, arg)
 * DESCRIPTION
 *	Why libcurl, and why this way: the policy must come over HTTPS with
 *	the web PKI's certificate checks (RFC 8461 3.3), which is exactly
 *	what a maintained HTTP client does well and a hand-written one gets
 *	wrong; and delivery's one loop must never wait for a web server. So
 *	curl's multi-socket interface is driven by the agent's libuv loop:
 *	curl says which sockets to watch (one uv_poll_t each) and when to
 *	call it back (one uv_timer_t), and never blocks.
 *
 *	No name lookup is left to curl: the caller resolves
 *	mta-sts.DOMAIN with the agent's c-ares and passes the addresses
 *	(CURLOPT_RESOLVE), so no getaddrinfo thread and no /etc/hosts.
 *	Only https, no redirects (RFC 8461 3.3), at most
 *	DELIVERY_STS_SIZE_MAX bytes, a deadline; the answer must be a 200
 *	with media type text/plain.
 *
 *	cb gets the body (NULL on failure, with a reason) exactly once, from
 *	the loop, or from dl_fetcher_free() with "cancelled".
 * DIAGNOSTICS
 *	Failures go to cb; nothing is logged here.
 */

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "delivery_int.h"

struct dl_fetcher {
	uv_loop_t *loop;
	CURLM  *multi;
	uv_timer_t timer;
	struct fetch *all;
};

struct fetch {
	struct dl_fetcher *f;
	CURL   *easy;
	struct curl_slist *resolve;
	struct sg_buf body;
	bool	too_big;
	char	err[CURL_ERROR_SIZE];
	dl_fetch_cb cb;
	void   *arg;
	struct fetch *next;
};

struct sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct dl_fetcher *f;
};

static void check_done(struct dl_fetcher *f);

static void on_sock_closed(uv_handle_t *h)
{
	free(h->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct sock *s = p->data;
	int	flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(s->f->multi, s->fd, flags, &running);
	check_done(s->f);
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct dl_fetcher *f = userp;
	struct sock *s = socketp;

	(void) e;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			uv_poll_stop(&s->poll);
			uv_close((uv_handle_t *) &s->poll, on_sock_closed);
			curl_multi_assign(f->multi, fd, NULL);
		}
		return (0);
	}
	if (s == NULL) {
		s = sg_xcalloc(1, sizeof(*s));
		s->fd = fd;
		s->f = f;
		if (uv_poll_init_socket(f->loop, &s->poll, fd) != 0) {
			free(s);
			return (-1);
		}
		s->poll.data = s;
		curl_multi_assign(f->multi, fd, s);
	}
	uv_poll_start(&s->poll, (what & CURL_POLL_IN ? UV_READABLE : 0)
		      | (what & CURL_POLL_OUT ? UV_WRITABLE : 0), on_poll);
	return (0);
}

static void on_timer(uv_timer_t *t)
{
	struct dl_fetcher *f = t->data;
	int	running;

	curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(f);
}

static int on_curl_timer(CURLM *m, long ms, void *userp)
{
	struct dl_fetcher *f = userp;

	(void) m;
	if (ms < 0)
		uv_timer_stop(&f->timer);
	else
		uv_timer_start(&f->timer, on_timer, (uint64_t) ms, 0);
	return (0);
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct fetch *x = arg;

	if (x->body.len + n > DELIVERY_STS_SIZE_MAX) {
		x->too_big = true;
		return (0);			/* curl stops with a write error */
	}
	sg_buf_append(&x->body, p, n * size);
	return (n * size);
}

static void fetch_free(struct fetch *x)
{
	for (struct fetch **pp = &x->f->all; *pp; pp = &(*pp)->next) {
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	}
	curl_multi_remove_handle(x->f->multi, x->easy);
	curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->resolve);
	sg_buf_free(&x->body);
	free(x);
}

/* finish - judge the answer, call back, free */

static void finish(struct fetch *x, CURLcode rc)
{
	long	code = 0;
	char   *ctype = NULL, why[CURL_ERROR_SIZE + 64];
	bool	ok = false;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ctype);
	/* announced by Content-Length (curl stops at once) or found reading */
	if (x->too_big || rc == CURLE_FILESIZE_EXCEEDED)
		snprintf(why, sizeof(why), "policy larger than %d bytes", DELIVERY_STS_SIZE_MAX);
	else if (rc != CURLE_OK)
		snprintf(why, sizeof(why), "%s", *x->err ? x->err : curl_easy_strerror(rc));
	else if (code != 200)
		snprintf(why, sizeof(why), "HTTP status %ld", code);
	else if (ctype == NULL || strncasecmp(ctype, "text/plain", 10) != 0
		 || (ctype[10] != 0 && ctype[10] != ';' && ctype[10] != ' '))
		snprintf(why, sizeof(why), "media type is not text/plain");
	else
		ok = true;
	x->cb(x->arg, ok ? x->body.data ? x->body.data : "" : NULL, ok ? x->body.len : 0,
	      ok ? "" : why);
	fetch_free(x);
}

static void check_done(struct dl_fetcher *f)
{
	CURLMsg *m;
	int	left;

	while ((m = curl_multi_info_read(f->multi, &left)) != NULL) {
		struct fetch *x = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **) &x);
		if (x)
			finish(x, m->data.result);
	}
}

struct dl_fetcher *dl_fetcher_new(uv_loop_t *loop)
{
	struct dl_fetcher *f = sg_xcalloc(1, sizeof(*f));

	/* Once per process, while the role is still single-threaded. */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	f->loop = loop;
	f->multi = curl_multi_init();
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
	uv_timer_init(loop, &f->timer);
	f->timer.data = f;
	return (f);
}

static void on_fetcher_closed(uv_handle_t *h)
{
	free(h->data);
}

void	dl_fetcher_free(struct dl_fetcher *f)
{
	if (f == NULL)
		return;
	while (f->all) {
		struct fetch *x = f->all;

		x->cb(x->arg, NULL, 0, "cancelled");
		fetch_free(x);
	}
	curl_multi_cleanup(f->multi);
	uv_timer_stop(&f->timer);
	uv_close((uv_handle_t *) &f->timer, on_fetcher_closed);
}

void	dl_fetch_policy(struct dl_fetcher *f, const char *domain, unsigned port,
			const struct dl_hosts *addrs, const char *ca_file, int64_t timeout_ms,
			dl_fetch_cb cb, void *arg)
{
	struct fetch *x = sg_xcalloc(1, sizeof(*x));
	struct sg_buf url = SG_BUF_INIT, res = SG_BUF_INIT;

	x->f = f;
	x->cb = cb;
	x->arg = arg;
	x->easy = curl_easy_init();
	sg_buf_printf(&url, "https://mta-sts.%s", domain);
	if (port != 443)
		sg_buf_printf(&url, ":%u", port);
	sg_buf_puts(&url, "/.well-known/mta-sts.txt");
	sg_buf_printf(&res, "mta-sts.%s:%u:", domain, port);
	for (size_t i = 0; i < addrs->n; i++) {
		char	ip[INET6_ADDRSTRLEN];
		bool	v6 = addrs->v[i].sa.ss_family == AF_INET6;

		sg_sockaddr_str((const struct sockaddr *) &addrs->v[i].sa, ip, sizeof(ip));
		sg_buf_printf(&res, "%s%s%s%s", i ? "," : "", v6 ? "[" : "", ip, v6 ? "]" : "");
	}
	x->resolve = curl_slist_append(NULL, res.data);
	curl_easy_setopt(x->easy, CURLOPT_URL, url.data);
	curl_easy_setopt(x->easy, CURLOPT_RESOLVE, x->resolve);
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(x->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) DELIVERY_STS_SIZE_MAX);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca_file && *ca_file)
		curl_easy_setopt(x->easy, CURLOPT_CAINFO, ca_file);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->err);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->easy, CURLOPT_USERAGENT, "sealgate MTA-STS");
	x->next = f->all;
	f->all = x;
	sg_buf_free(&url);
	sg_buf_free(&res);
	if (curl_multi_add_handle(f->multi, x->easy) != CURLM_OK) {
		cb(arg, NULL, 0, "cannot start the fetch");
		fetch_free(x);
	}
}
