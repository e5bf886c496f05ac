/*
 * NAME
 *	scan_client 3
 * SUMMARY
 *	stream one message to clamd with zINSTREAM, within a deadline
 * SYNOPSIS
 *	#include "worker/worker_int.h"
 *
 *	int	worker__clamd_instream(addr, p, len, timeout_ms, reply, why, wlen)
 * DESCRIPTION
 *	worker__clamd_instream() connects to clamd at addr, sends
 *	"zINSTREAM\0", then the len bytes at p as chunks of at most
 *	CHUNK bytes, each after its length as 4 bytes in network order, then
 *	a zero length, and reads the reply up to its NUL (or the end of the
 *	connection) into reply, without the NUL. The socket is non-blocking
 *	and every wait (connect, each write, each read) is a poll() against
 *	one deadline, timeout_ms from the call: a clamd that hangs, accepts
 *	and never answers, or reads slower than a trickle costs this much
 *	and no more. It runs on a crypto thread with no transaction open, so
 *	nothing else in the queue waits for it.
 *
 *	clamd closes the connection when a stream exceeds its
 *	StreamMaxLength, after sending its error; a write that fails then
 *	(EPIPE, ECONNRESET: MSG_NOSIGNAL, so no SIGPIPE) stops the stream
 *	and the reply is read once, so that error is seen rather than a
 *	broken connection.
 * DIAGNOSTICS
 *	0, or SG_EIO (no connection, or it broke before a reply: why says
 *	what), SG_ETIMEOUT (the deadline passed), SG_EPROTO (a reply over
 *	REPLY_MAX bytes). why is set on every error.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "worker_int.h"

#define CHUNK		(64u * 1024)
#define REPLY_MAX	1024

static const char command[] = "zINSTREAM";	/* sent with its NUL */

/* wait_for - poll fd for events until the deadline; 0, or SG_ETIMEOUT */

static int wait_for(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = {.fd = fd,.events = events };
	int64_t	left;
	int	rc;

	for (;;) {
		if ((left = deadline - sg_mono_ms()) <= 0)
			return (SG_ETIMEOUT);
		rc = poll(&pfd, 1, left > 1000 ? 1000 : (int) left);
		if (rc > 0)
			return (0);
		if (rc < 0 && errno != EINTR)
			return (SG_EIO);
	}
}

static int connect_to(const struct worker_scan_addr *a, int64_t deadline, int *fdp,
		      char *why, size_t wlen)
{
	int	fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int	err = 0, rc;
	socklen_t elen = sizeof(err);

	if (fd < 0) {
		snprintf(why, wlen, "socket: %s", strerror(errno));
		return (SG_EIO);
	}
	if (connect(fd, (const struct sockaddr *) &a->sa, a->salen) < 0) {
		if (errno != EINPROGRESS && errno != EAGAIN) {
			snprintf(why, wlen, "connect: %s", strerror(errno));
			close(fd);
			return (SG_EIO);
		}
		if ((rc = wait_for(fd, POLLOUT, deadline)) < 0) {
			snprintf(why, wlen, "connect: %s", rc == SG_ETIMEOUT ? "timed out"
				 : strerror(errno));
			close(fd);
			return (rc);
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0) {
			snprintf(why, wlen, "connect: %s", strerror(err ? err : errno));
			close(fd);
			return (SG_EIO);
		}
	}
	*fdp = fd;
	return (0);
}

/* send_all - all n bytes, or an error (why says which write failed) */

static int send_all(int fd, const void *p, size_t n, int64_t deadline, char *why, size_t wlen)
{
	const char *c = p;
	int	rc;

	while (n > 0) {
		ssize_t	w = send(fd, c, n, MSG_NOSIGNAL);

		if (w > 0) {
			c += w;
			n -= (size_t) w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((rc = wait_for(fd, POLLOUT, deadline)) < 0) {
				snprintf(why, wlen, "sending: %s", rc == SG_ETIMEOUT ? "timed out"
					 : strerror(errno));
				return (rc);
			}
			continue;
		}
		snprintf(why, wlen, "sending: %s", w < 0 ? strerror(errno) : "nothing written");
		return (SG_EIO);
	}
	return (0);
}

static int send_stream(int fd, const char *p, size_t len, int64_t deadline, char *why,
		       size_t wlen)
{
	unsigned char hdr[4];
	int	rc;

	if ((rc = send_all(fd, command, sizeof(command), deadline, why, wlen)) < 0)
		return (rc);
	for (size_t off = 0;; off += CHUNK) {
		size_t	n = off >= len ? 0 : len - off < CHUNK ? len - off : CHUNK;

		hdr[0] = (unsigned char) (n >> 24);
		hdr[1] = (unsigned char) (n >> 16);
		hdr[2] = (unsigned char) (n >> 8);
		hdr[3] = (unsigned char) n;
		if ((rc = send_all(fd, hdr, sizeof(hdr), deadline, why, wlen)) < 0)
			return (rc);
		if (n == 0)
			return (0);		/* the zero length ends the stream */
		if ((rc = send_all(fd, p + off, n, deadline, why, wlen)) < 0)
			return (rc);
	}
}

/* read_reply - up to the NUL or the end of the connection */

static int read_reply(int fd, int64_t deadline, struct sg_buf *reply, char *why, size_t wlen)
{
	char	buf[256];
	int	rc;

	for (;;) {
		ssize_t	r = recv(fd, buf, sizeof(buf), 0);

		if (r > 0) {
			char   *nul = memchr(buf, 0, (size_t) r);

			sg_buf_append(reply, buf, nul ? (size_t) (nul - buf) : (size_t) r);
			if (nul)
				return (0);
			if (reply->len > REPLY_MAX) {
				snprintf(why, wlen, "a reply over %d bytes", REPLY_MAX);
				return (SG_EPROTO);
			}
			continue;
		}
		if (r == 0) {
			if (reply->len > 0)
				return (0);
			snprintf(why, wlen, "clamd closed the connection without a reply");
			return (SG_EIO);
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			snprintf(why, wlen, "reading: %s", strerror(errno));
			return (reply->len > 0 ? 0 : SG_EIO);
		}
		if ((rc = wait_for(fd, POLLIN, deadline)) < 0) {
			snprintf(why, wlen, "waiting for the verdict: %s",
				 rc == SG_ETIMEOUT ? "timed out" : strerror(errno));
			return (rc);
		}
	}
}

int	worker__clamd_instream(const struct worker_scan_addr *a, const char *p, size_t len,
			       int64_t timeout_ms, struct sg_buf *reply, char *why, size_t wlen)
{
	int64_t	deadline = sg_mono_ms() + timeout_ms;
	char	send_why[160];
	int	fd = -1, rc, sent;

	why[0] = 0;
	if ((rc = connect_to(a, deadline, &fd, why, wlen)) < 0)
		return (rc);
	sent = send_stream(fd, p, len, deadline, send_why, sizeof(send_why));
	if (sent == SG_ETIMEOUT) {
		snprintf(why, wlen, "%s", send_why);
		close(fd);
		return (sent);
	}
	/* After a failed write clamd may still have said why: read once. */
	rc = read_reply(fd, deadline, reply, why, wlen);
	if (rc < 0 && sent < 0)
		snprintf(why, wlen, "%s", send_why);
	close(fd);
	return (rc);
}
