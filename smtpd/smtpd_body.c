/*
 * NAME
 *	smtpd_body 3
 * SUMMARY
 *	a message body in memory that spills to a file when it grows
 * SYNOPSIS
 *	#include "smtpd/smtpd_int.h"
 *
 *	void	smtpd_body_init(b, dir, spill_at)
 *	void	smtpd_body_append(b, p, len)
 *	int	smtpd_body_end(b)
 *	int	smtpd_body_map(b, p, len)
 *	void	smtpd_body_unmap(b, p, len)
 *	void	smtpd_body_free(b)
 *	size_t	smtpd_body_head(b, buf, len, &p)
 * DESCRIPTION
 *	Small messages, the common case, stay in one growing buffer. Once a
 *	body would pass spill_at bytes it moves to an unnamed temporary file
 *	(O_TMPFILE) in dir, so memory per connection stays bounded while a
 *	50 MB message arrives; nothing is left on disk when the process
 *	dies. smtpd_body_map() gives the whole body as one span (the buffer,
 *	or a read-only mapping of the file) for the queue.
 *
 *	Once spilled, appends are gathered in memory and written SPILL_WRITE
 *	bytes at a time: the session hands over the text between two dots
 *	in one piece, so a body of lines that begin with a dot was a write(2)
 *	every few bytes (a 50 MB one held smtpd's thread for 11 s).
 *	smtpd_body_end() writes what is gathered (the session calls it at
 *	the final dot; map and head do too); it returns b->err.
 *
 *	smtpd_body_head() gives the first (at most) len bytes of the body at
 *	*p: the buffer itself, or a copy read from the file into buf (len
 *	bytes); it returns how many there are (0 on a read error).
 *
 *	Append errors are sticky in b->err and stop further writes; the
 *	session then answers 451 instead of acknowledging.
 */

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "smtpd_int.h"

#define SPILL_WRITE	(64 * 1024)

void	smtpd_body_init(struct smtpd_body *b, const char *dir, uint64_t spill_at)
{
	b->mem = (struct sg_buf) SG_BUF_INIT;
	b->fd = -1;
	b->size = 0;
	b->spill_at = spill_at;
	b->dir = dir;
	b->err = 0;
}

/* write_all - write(2) until done */

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t	n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return (errno == ENOSPC ? SG_EFULL : SG_EIO);
		p += n;
		len -= (size_t) n;
	}
	return (0);
}

/* spill - move what is in memory to a fresh temporary file */

static int spill(struct smtpd_body *b)
{
	int	fd = open(b->dir ? b->dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	int	err;

	if (fd < 0)
		return (errno == ENOSPC ? SG_EFULL : SG_EIO);
	if ((err = write_all(fd, b->mem.data, b->mem.len)) < 0) {
		close(fd);
		return (err);
	}
	sg_buf_free(&b->mem);
	b->fd = fd;
	return (0);
}

void	smtpd_body_append(struct smtpd_body *b, const void *p, size_t len)
{
	if (b->err || len == 0)
		return;
	if (b->fd < 0 && b->mem.len + len > b->spill_at)
		b->err = spill(b);
	if (b->err == 0)
		sg_buf_append(&b->mem, p, len);
	if (b->err == 0 && b->fd >= 0 && b->mem.len >= SPILL_WRITE)
		b->err = smtpd_body_end(b);
	b->size += len;
}

int	smtpd_body_end(struct smtpd_body *b)
{
	if (b->err == 0 && b->fd >= 0 && b->mem.len > 0) {
		b->err = write_all(b->fd, b->mem.data, b->mem.len);
		sg_buf_reset(&b->mem);
	}
	return (b->err);
}

int	smtpd_body_map(struct smtpd_body *b, const char **p, size_t *len)
{
	void   *m;

	if (smtpd_body_end(b))
		return (b->err);
	*len = (size_t) b->size;
	if (b->fd < 0) {
		*p = b->mem.data ? b->mem.data : "";
		return (0);
	}
	if (b->size == 0) {
		*p = "";
		return (0);
	}
	m = mmap(NULL, (size_t) b->size, PROT_READ, MAP_PRIVATE, b->fd, 0);
	if (m == MAP_FAILED)
		return (SG_EIO);
	*p = m;
	return (0);
}

void	smtpd_body_unmap(struct smtpd_body *b, const char *p, size_t len)
{
	if (b->fd >= 0 && len > 0)
		munmap((void *) p, len);
}

void	smtpd_body_free(struct smtpd_body *b)
{
	sg_buf_free(&b->mem);
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	b->size = 0;
}

size_t	smtpd_body_head(struct smtpd_body *b, char *buf, size_t len, const char **p)
{
	ssize_t	n;

	if (b->fd < 0) {
		*p = b->mem.data ? b->mem.data : "";
		return (b->mem.len < len ? b->mem.len : len);
	}
	*p = buf;
	if (smtpd_body_end(b))
		return (0);
	n = pread(b->fd, buf, len, 0);
	return (n > 0 ? (size_t) n : 0);
}
