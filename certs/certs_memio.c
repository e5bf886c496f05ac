/*
 * NAME
 *	certs_memio 3
 * SUMMARY
 *	an NSPR I/O layer over two byte queues, for TLS without sockets
 * SYNOPSIS
 *	#include "certs_int.h"
 *
 *	PRFileDesc *certs_memio_new(cap, peer)
 *	struct certs_memio *certs_memio_of(top)
 *	ssize_t	certs_memio_feed(m, buf, len)
 *	void	certs_memio_eof(m)
 *	size_t	certs_memio_room(m)
 *	size_t	certs_memio_take(m, buf, len)
 *	size_t	certs_memio_pending(m)
 * DESCRIPTION
 *	certs_memio_new() returns a bottom-of-stack PRFileDesc that NSS's
 *	SSL layer reads from and writes to: reads pop the inbound queue
 *	(PR_WOULD_BLOCK_ERROR when it is empty, 0 after the peer's EOF),
 *	writes append to the outbound queue and always succeed: a write NSS
 *	could not complete would stay in NSS's own buffer, out of sight of
 *	the caller, so the outbound bound is applied above, before plaintext
 *	is handed to NSS (certs_tls_write). The inbound queue holds at most
 *	cap bytes.
 *	The descriptor reports itself non-blocking and answers getpeername
 *	with peer (the SSL session cache keys on it). PR_Close() frees it.
 *
 *	certs_memio_of() finds the layer under an SSL descriptor.
 *	certs_memio_feed() appends inbound ciphertext, at most what fits
 *	under cap, and returns how much it took. certs_memio_take() moves
 *	outbound ciphertext into the caller's buffer.
 *
 *	The methods NSS never calls on a transport stay NULL, as in a
 *	zeroed PRIOMethods; the socket-only ones answer
 *	PR_NOT_IMPLEMENTED_ERROR.
 * DIAGNOSTICS
 *	certs_memio_new() returns NULL only when NSPR cannot make the layer.
 */

#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "certs_int.h"

struct queue {
	unsigned char *p;
	size_t	off, len, cap;
};

struct certs_memio {
	struct queue in, out;
	size_t	limit;
	bool	eof;
	PRNetAddr peer;
};

static PRDescIdentity memio_ident = PR_INVALID_IO_LAYER;
static PRCallOnceType memio_once;
static PRIOMethods memio_methods;

/* queue_append - add n bytes, growing the storage as needed */

static void queue_append(struct queue *q, const void *buf, size_t n)
{
	if (q->off > 0 && q->off + q->len + n > q->cap) {
		memmove(q->p, q->p + q->off, q->len);
		q->off = 0;
	}
	if (q->len + n > q->cap) {
		size_t	cap = q->cap ? q->cap : 16384;

		while (cap < q->len + n)
			cap *= 2;
		q->p = sg_xrealloc(q->p, cap);
		q->cap = cap;
	}
	memcpy(q->p + q->off + q->len, buf, n);
	q->len += n;
}

static size_t queue_pop(struct queue *q, void *buf, size_t n)
{
	if (n > q->len)
		n = q->len;
	if (n == 0)
		return (0);
	memcpy(buf, q->p + q->off, n);
	q->off += n;
	q->len -= n;
	if (q->len == 0)
		q->off = 0;
	return (n);
}

static struct certs_memio *memio(PRFileDesc *fd)
{
	return ((struct certs_memio *) fd->secret);
}

static PRStatus memio_close(PRFileDesc *fd)
{
	struct certs_memio *m = memio(fd);

	if (m) {
		free(m->in.p);
		free(m->out.p);
		free(m);
		fd->secret = NULL;
	}
	fd->dtor(fd);
	return (PR_SUCCESS);
}

static PRInt32 memio_recv(PRFileDesc *fd, void *buf, PRInt32 amount, PRIntn flags,
			  PRIntervalTime timeout)
{
	struct certs_memio *m = memio(fd);

	(void) flags;
	(void) timeout;
	if (amount <= 0)
		return (0);
	if (m->in.len == 0) {
		if (m->eof)
			return (0);
		PR_SetError(PR_WOULD_BLOCK_ERROR, 0);
		return (-1);
	}
	return ((PRInt32) queue_pop(&m->in, buf, (size_t) amount));
}

static PRInt32 memio_read(PRFileDesc *fd, void *buf, PRInt32 amount)
{
	return (memio_recv(fd, buf, amount, 0, PR_INTERVAL_NO_WAIT));
}

static PRInt32 memio_send(PRFileDesc *fd, const void *buf, PRInt32 amount,
			  PRIntn flags, PRIntervalTime timeout)
{
	struct certs_memio *m = memio(fd);

	(void) flags;
	(void) timeout;
	if (amount <= 0)
		return (0);
	queue_append(&m->out, buf, (size_t) amount);
	return (amount);
}

static PRInt32 memio_write(PRFileDesc *fd, const void *buf, PRInt32 amount)
{
	return (memio_send(fd, buf, amount, 0, PR_INTERVAL_NO_WAIT));
}

static PRStatus memio_getpeername(PRFileDesc *fd, PRNetAddr *addr)
{
	*addr = memio(fd)->peer;
	return (PR_SUCCESS);
}

static PRStatus memio_getsockname(PRFileDesc *fd, PRNetAddr *addr)
{
	(void) fd;
	memset(addr, 0, sizeof(*addr));
	addr->inet.family = PR_AF_INET;
	return (PR_SUCCESS);
}

static PRStatus memio_getsockopt(PRFileDesc *fd, PRSocketOptionData *data)
{
	(void) fd;
	switch (data->option) {
	case PR_SockOpt_Nonblocking:
		data->value.non_blocking = PR_TRUE;
		return (PR_SUCCESS);
	case PR_SockOpt_NoDelay:
		data->value.no_delay = PR_TRUE;
		return (PR_SUCCESS);
	default:
		PR_SetError(PR_NOT_IMPLEMENTED_ERROR, 0);
		return (PR_FAILURE);
	}
}

/* memio_setsockopt - NSS toggles Nagle during handshakes: nothing to do */

static PRStatus memio_setsockopt(PRFileDesc *fd, const PRSocketOptionData *data)
{
	(void) fd;
	(void) data;
	return (PR_SUCCESS);
}

static PRStatus memio_shutdown(PRFileDesc *fd, PRIntn how)
{
	(void) fd;
	(void) how;
	return (PR_SUCCESS);
}

static PRStatus memio_connect(PRFileDesc *fd, const PRNetAddr *addr, PRIntervalTime t)
{
	(void) fd;
	(void) addr;
	(void) t;
	PR_SetError(PR_NOT_IMPLEMENTED_ERROR, 0);
	return (PR_FAILURE);
}

static PRInt32 memio_available(PRFileDesc *fd)
{
	return ((PRInt32) memio(fd)->in.len);
}

static PRInt64 memio_available64(PRFileDesc *fd)
{
	return ((PRInt64) memio(fd)->in.len);
}

static PRStatus memio_init_once(void)
{
	memio_ident = PR_GetUniqueIdentity("sealgate-memio");
	if (memio_ident == PR_INVALID_IO_LAYER)
		return (PR_FAILURE);
	memset(&memio_methods, 0, sizeof(memio_methods));
	memio_methods.file_type = PR_DESC_LAYERED;
	memio_methods.close = memio_close;
	memio_methods.read = memio_read;
	memio_methods.write = memio_write;
	memio_methods.available = memio_available;
	memio_methods.available64 = memio_available64;
	memio_methods.recv = memio_recv;
	memio_methods.send = memio_send;
	memio_methods.connect = memio_connect;
	memio_methods.shutdown = memio_shutdown;
	memio_methods.getpeername = memio_getpeername;
	memio_methods.getsockname = memio_getsockname;
	memio_methods.getsocketoption = memio_getsockopt;
	memio_methods.setsocketoption = memio_setsockopt;
	return (PR_SUCCESS);
}

/* set_peer - the caller's address, or 0.0.0.0:0 */

static void set_peer(PRNetAddr *a, const struct sockaddr *sa)
{
	memset(a, 0, sizeof(*a));
	a->inet.family = PR_AF_INET;
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *) sa;

		a->inet.port = in->sin_port;
		memcpy(&a->inet.ip, &in->sin_addr, 4);
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;

		a->ipv6.family = PR_AF_INET6;
		a->ipv6.port = in6->sin6_port;
		memcpy(&a->ipv6.ip, &in6->sin6_addr, 16);
	}
}

PRFileDesc *certs_memio_new(size_t cap, const struct sockaddr *peer)
{
	struct certs_memio *m;
	PRFileDesc *fd;

	if (PR_CallOnce(&memio_once, memio_init_once) != PR_SUCCESS)
		return (NULL);
	if ((fd = PR_CreateIOLayerStub(memio_ident, &memio_methods)) == NULL)
		return (NULL);
	m = sg_xcalloc(1, sizeof(*m));
	m->limit = cap;
	set_peer(&m->peer, peer);
	fd->secret = (PRFilePrivate *) m;
	return (fd);
}

struct certs_memio *certs_memio_of(PRFileDesc *top)
{
	PRFileDesc *fd = PR_GetIdentitiesLayer(top, memio_ident);

	return (fd ? memio(fd) : NULL);
}

ssize_t	certs_memio_feed(struct certs_memio *m, const void *buf, size_t len)
{
	size_t	room = certs_memio_room(m);

	if (m->eof)
		return (SG_ECLOSED);
	if (len > room)
		len = room;
	if (len > 0)
		queue_append(&m->in, buf, len);
	return ((ssize_t) len);
}

void	certs_memio_eof(struct certs_memio *m)
{
	m->eof = true;
}

size_t	certs_memio_room(const struct certs_memio *m)
{
	return (m->in.len >= m->limit ? 0 : m->limit - m->in.len);
}

size_t	certs_memio_take(struct certs_memio *m, void *buf, size_t len)
{
	return (queue_pop(&m->out, buf, len));
}

size_t	certs_memio_pending(const struct certs_memio *m)
{
	return (m->out.len);
}
