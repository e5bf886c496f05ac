/*
 * NAME
 *	smtpd_server 3
 * SUMMARY
 *	listeners, event loops and connection limits of the SMTP receiver
 * SYNOPSIS
 *	#include "smtpd/smtpd.h"
 *
 *	int	smtpd_start(loop, params, out, errors)
 *	int	smtpd_reload(d, params, errors)
 *	void	smtpd_stop(d, done, arg)
 *	int	smtpd_listeners_check(conf, errors)
 *
 *	#include "smtpd/smtpd_int.h"
 *
 *	struct smtpd_policy *smtpd_server_policy(d)
 *	bool	smtpd_server_admit(d, peer)
 *	void	smtpd_server_release(d, peer)
 *	void	smtpd_server_loop_idle(lp)
 * DESCRIPTION
 *	smtpd_start() builds the policy, then binds every listener on the
 *	caller's loop and, with loops > 1, on loops of its own, each run by a
 *	thread; the kernel spreads connections over them (SO_REUSEPORT).
 *	All sockets are bound before it returns, so the caller may drop
 *	privileges right after.
 *
 *	smtpd_reload() builds a new policy and makes it the one new sessions
 *	get; running sessions keep theirs. Listeners are not changed by a
 *	reload.
 *
 *	smtpd_listeners_check() binds each configured listener exclusively
 *	and closes it again: the master's check before it detaches.
 *
 *	smtpd_stop() closes the listeners of every loop, says 421 to idle
 *	clients and lets pending commits finish; when every connection is
 *	gone the threads are joined and done(arg) runs on the caller's loop.
 *
 *	smtpd_server_admit() counts a connection against max_connections
 *	and max_connections_per_client (false: over a limit); every admitted
 *	connection is released once with smtpd_server_release().
 * DIAGNOSTICS
 *	smtpd_start() returns SG_EIO when a listener cannot be bound and
 *	SG_EINVAL for a TLS listener without a server certificate, with a
 *	line in errors. The caller is expected to exit then: handles made
 *	before the failure are left to process exit.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smtpd_int.h"

static const char *const security_names[] = {
	"none", "starttls", "starttls-required", "smtps",
};

struct smtpd_policy *smtpd_server_policy(struct smtpd *d)
{
	struct smtpd_policy *p;

	pthread_mutex_lock(&d->lock);
	p = smtpd_policy_ref(d->pol);
	pthread_mutex_unlock(&d->lock);
	return (p);
}

/* client_key - the address bytes and family of a peer */

static size_t client_key(const struct sockaddr *sa, int *family, const uint8_t **addr)
{
	*family = sa->sa_family;
	if (sa->sa_family == AF_INET6) {
		*addr = ((const struct sockaddr_in6 *) sa)->sin6_addr.s6_addr;
		return (16);
	}
	*addr = (const uint8_t *) &((const struct sockaddr_in *) sa)->sin_addr;
	return (4);
}

/* client_find - the table slot of a peer (locked) */

static struct smtpd_client **client_find(struct smtpd *d, const struct sockaddr *sa)
{
	const uint8_t *a;
	int	fam;
	size_t	n = client_key(sa, &fam, &a);
	uint32_t h = 2166136261u;
	struct smtpd_client **pp;

	for (size_t i = 0; i < n; i++)
		h = (h ^ a[i]) * 16777619u;
	for (pp = &d->clients[h % SMTPD_CLIENT_BUCKETS]; *pp; pp = &(*pp)->next)
		if ((*pp)->family == fam && memcmp((*pp)->addr, a, n) == 0)
			break;
	return (pp);
}

bool	smtpd_server_admit(struct smtpd *d, const struct sockaddr *sa)
{
	struct smtpd_client **pp, *cl;
	bool	ok = false;

	pthread_mutex_lock(&d->lock);
	pp = client_find(d, sa);
	if (d->nconns < (size_t) d->pol->conf.max_connections
	    && (*pp == NULL || (*pp)->n < (unsigned) d->pol->conf.max_connections_per_client)) {
		if ((cl = *pp) == NULL) {
			const uint8_t *a;

			cl = *pp = sg_xcalloc(1, sizeof(*cl));
			client_key(sa, &cl->family, &a);
			memcpy(cl->addr, a, cl->family == AF_INET6 ? 16 : 4);
		}
		cl->n++;
		d->nconns++;
		ok = true;
	}
	pthread_mutex_unlock(&d->lock);
	return (ok);
}

void	smtpd_server_release(struct smtpd *d, const struct sockaddr *sa)
{
	struct smtpd_client **pp, *cl;

	pthread_mutex_lock(&d->lock);
	pp = client_find(d, sa);
	if ((cl = *pp) != NULL && --cl->n == 0) {
		*pp = cl->next;
		free(cl);
	}
	d->nconns--;
	pthread_mutex_unlock(&d->lock);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct smtpd_loop *lp = server->data;

	if (status < 0) {
		/* out of descriptors comes in storms: say so once a second */
		if (uv_now(lp->loop) - lp->accept_warned >= 1000) {
			lp->accept_warned = uv_now(lp->loop);
			sg_warn("event=accept_failed error=\"%s\"", uv_strerror(status));
		}
		return;
	}
	smtpd_conn_accept(lp, server, (size_t) ((uv_tcp_t *) server - lp->listeners));
}

/* listen_one - bind one listener on one loop */

static int listen_one(struct smtpd *d, struct smtpd_loop *lp, size_t i, struct sg_buf *errors)
{
	const struct smtpd_listener_conf *l = &d->listeners[i];
	struct sockaddr_storage ss;
	uv_tcp_t *t = &lp->listeners[i];
	uv_os_fd_t fd;
	int	on = 1, r;

	if (sg_sockaddr_parse(l->address, strlen(l->address), &ss) < 0) {
		sg_buf_printf(errors, "listener %s: address \"%s\" is not numeric host:port\n",
			      l->name, l->address);
		return (SG_EINVAL);
	}
	uv_tcp_init_ex(lp->loop, t, ss.ss_family);
	t->data = lp;
	if (d->nloops > 1 && uv_fileno((uv_handle_t *) t, &fd) == 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
	if ((r = uv_tcp_bind(t, (struct sockaddr *) &ss, 0)) < 0
	    || (r = uv_listen((uv_stream_t *) t, 511, on_connection)) < 0) {
		sg_buf_printf(errors, "listener %s: %s: %s\n", l->name, l->address, uv_strerror(r));
		return (SG_EIO);
	}
	return (0);
}

/* check_one - can this listener be bound now (then let go again) */

static int check_one(const struct smtpd_listener_conf *l, struct sg_buf *errors)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int	fd, on = 1, err = 0;

	if (sg_sockaddr_parse(l->address, strlen(l->address), &ss) < 0) {
		sg_buf_printf(errors, "listener %s: address \"%s\" is not numeric host:port\n",
			      l->name, l->address);
		return (SG_EINVAL);
	}
	len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0
	    || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0
	    || bind(fd, (struct sockaddr *) &ss, len) < 0)
		err = errno;
	if (fd >= 0)
		close(fd);
	if (err == 0)
		return (0);
	sg_buf_printf(errors, "listener %s: %s: %s%s\n", l->name, l->address, strerror(err),
		      err == EACCES ? " (ports below 1024 need root)" : "");
	return (SG_EIO);
}

int	smtpd_listeners_check(const struct smtpd_conf *c, struct sg_buf *errors)
{
	const struct smtpd_listener_conf *l = c->listeners.v;
	int	rc = 0;

	for (size_t i = 0; i < c->listeners.n; i++)
		if (check_one(&l[i], errors) < 0)
			rc = SG_EIO;
	return (rc);
}

static void on_async(uv_async_t *);

/* loop_init - a loop's state, async handle and listeners */

static int loop_init(struct smtpd *d, struct smtpd_loop *lp, uv_loop_t *loop,
		     struct sg_buf *errors)
{
	int	err;

	lp->d = d;
	if (loop == NULL) {
		uv_loop_init(&lp->own);
		lp->threaded = true;
		loop = &lp->own;
	}
	lp->loop = loop;
	pthread_mutex_init(&lp->lock, NULL);
	uv_async_init(loop, &lp->async, on_async);
	lp->async.data = lp;
	lp->listeners = sg_xcalloc(d->nlisteners, sizeof(uv_tcp_t));
	lp->nlisteners = d->nlisteners;
	for (size_t i = 0; i < d->nlisteners; i++)
		if ((err = listen_one(d, lp, i, errors)) < 0)
			return (err);
	return (0);
}

static void loop_thread(void *arg)
{
	struct smtpd_loop *lp = arg;

	uv_run(lp->loop, UV_RUN_DEFAULT);
}

/* on_listener_closed - the listener array is freed only after the last */

static void on_listener_closed(uv_handle_t *h)
{
	struct smtpd_loop *lp = h->data;

	lp->listeners_open--;
	smtpd_server_loop_idle(lp);
}

/* loop_stop - close a loop's listeners and say goodbye to its clients */

static void loop_stop(struct smtpd_loop *lp)
{
	if (lp->stopping)
		return;
	lp->stopping = true;
	lp->listeners_open = lp->nlisteners;
	for (size_t i = 0; i < lp->nlisteners; i++)
		uv_close((uv_handle_t *) & lp->listeners[i], on_listener_closed);
	smtpd_conn_shutdown_all(lp);
	smtpd_server_loop_idle(lp);
}

static void on_async(uv_async_t *a)
{
	struct smtpd_loop *lp = a->data;
	bool	stop;

	smtpd_conn_done_all(lp);
	pthread_mutex_lock(&lp->lock);
	stop = lp->stop_asked;
	pthread_mutex_unlock(&lp->lock);
	if (stop)
		loop_stop(lp);
}

/* server_free - everything is closed: free it all, tell the caller */

static void server_free(struct smtpd *d)
{
	void	(*done) (void *) = d->stop_done;
	void   *arg = d->stop_arg;

	for (size_t i = 0; i < d->nloops; i++) {
		struct smtpd_loop *lp = &d->loops[i];

		if (lp->threaded) {
			uv_thread_join(&lp->thread);
			if (uv_loop_close(&lp->own) != 0)
				sg_warn("event=loop_not_empty loop=%zu", i);
		}
		pthread_mutex_destroy(&lp->lock);
		free(lp->listeners);
	}
	free(d->loops);
	smtpd_policy_unref(d->pol);
	pthread_mutex_destroy(&d->lock);
	sg_arena_free(d->arena);
	free(d);
	if (done)
		done(arg);
}

static void on_main_async_closed(uv_handle_t *h)
{
	server_free(((struct smtpd_loop *) h->data)->d);
}

void	smtpd_server_loop_idle(struct smtpd_loop *lp)
{
	/*
	 * libuv finishes closes newest first, so the async handle, whose close
	 * frees everything, must be closed after every other handle is done.
	 */
	if (lp->nconns > 0 || lp->listeners_open > 0
	    || uv_is_closing((uv_handle_t *) & lp->async))
		return;
	if (lp->threaded)
		uv_close((uv_handle_t *) & lp->async, NULL);
	else
		uv_close((uv_handle_t *) & lp->async, on_main_async_closed);
}

/* listeners_copy - the listener list, kept for the life of the server */

static int listeners_copy(struct smtpd *d, const struct smtpd_params *p, struct sg_buf *errors)
{
	const struct smtpd_listener_conf *v = p->conf->listeners.v;

	d->nlisteners = p->conf->listeners.n;
	d->listeners = sg_arena_alloc(d->arena, (d->nlisteners + 1) * sizeof(*v));
	for (size_t i = 0; i < d->nlisteners; i++) {
		d->listeners[i].name = sg_arena_strdup(d->arena, v[i].name);
		d->listeners[i].address = sg_arena_strdup(d->arena, v[i].address);
		d->listeners[i].security = v[i].security;
		if (v[i].security != SMTPD_SEC_NONE && p->tls == NULL) {
			sg_buf_printf(errors, "listener %s: security \"%s\" needs a server "
				      "certificate (certs.tls_cert)\n", v[i].name,
				      security_names[v[i].security]);
			return (SG_EINVAL);
		}
	}
	return (0);
}

int	smtpd_start(uv_loop_t *loop, const struct smtpd_params *p, struct smtpd **out,
		    struct sg_buf *errors)
{
	struct smtpd *d = sg_xcalloc(1, sizeof(*d));
	int	err;

	d->main = loop;
	d->arena = sg_arena_new();
	d->submit = p->submit;
	d->submit_ctx = p->submit_ctx;
	d->reject = p->reject;
	d->tls = p->tls;
	pthread_mutex_init(&d->lock, NULL);
	atomic_init(&d->next_id, (uint64_t) sg_now_ms() << 16);
	if ((err = smtpd_policy_new(p, &d->pol, errors)) < 0)
		return (err);
	if ((err = listeners_copy(d, p, errors)) < 0)
		return (err);
	d->nloops = p->conf->loops > 0 ? (size_t) p->conf->loops : uv_available_parallelism();
	d->loops = sg_xcalloc(d->nloops, sizeof(*d->loops));
	for (size_t i = 0; i < d->nloops; i++)
		if ((err = loop_init(d, &d->loops[i], i == 0 ? loop : NULL, errors)) < 0)
			return (err);
	for (size_t i = 1; i < d->nloops; i++)
		uv_thread_create(&d->loops[i].thread, loop_thread, &d->loops[i]);
	for (size_t i = 0; i < d->nlisteners; i++)
		sg_info("event=listening listener=%s address=%s security=%s loops=%zu",
			d->listeners[i].name, d->listeners[i].address,
			security_names[d->listeners[i].security], d->nloops);
	*out = d;
	return (0);
}

/* listeners_changed - a reload cannot rebind: the caller must restart */

static bool listeners_changed(const struct smtpd *d, const struct smtpd_conf *c)
{
	const struct smtpd_listener_conf *v = c->listeners.v;

	if (c->listeners.n != d->nlisteners)
		return (true);
	for (size_t i = 0; i < d->nlisteners; i++)
		if (strcmp(v[i].address, d->listeners[i].address) != 0
		    || strcmp(v[i].name, d->listeners[i].name) != 0
		    || v[i].security != d->listeners[i].security)
			return (true);
	return (false);
}

int	smtpd_reload(struct smtpd *d, const struct smtpd_params *p, struct sg_buf *errors)
{
	struct smtpd_policy *pol, *old;
	int	err;

	if ((err = smtpd_policy_new(p, &pol, errors)) < 0)
		return (err);
	pthread_mutex_lock(&d->lock);
	old = d->pol;
	d->pol = pol;
	pthread_mutex_unlock(&d->lock);
	smtpd_policy_unref(old);
	return (listeners_changed(d, p->conf) ? SMTPD_RELOAD_REBIND : 0);
}

void	smtpd_stop(struct smtpd *d, void (*done) (void *), void *arg)
{
	if (d->stopping)
		return;
	d->stopping = true;
	d->stop_done = done;
	d->stop_arg = arg;
	for (size_t i = 1; i < d->nloops; i++) {
		pthread_mutex_lock(&d->loops[i].lock);
		d->loops[i].stop_asked = true;
		pthread_mutex_unlock(&d->loops[i].lock);
		uv_async_send(&d->loops[i].async);
	}
	loop_stop(&d->loops[0]);
}
