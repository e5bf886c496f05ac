/*
 * NAME
 *	fs 3
 * SUMMARY
 *	free space on the filesystem of a directory; a file replaced whole
 * SYNOPSIS
 *	#include "common/sg.h"
 *
 *	int	sg_fs_room(dir, bytes)
 *	int	sg_fs_replace(path, parts, n, mode)
 *	int	sg_fs_read(path, max, &buf, &len)
 * DESCRIPTION
 *	sg_fs_room() stores in *bytes how much this process may still
 *	write on the filesystem that holds dir: the blocks free to anyone
 *	when it runs as root (the reserve is root's), else those free to
 *	other users. smtpd asks at every MAIL FROM whether a message of the
 *	declared size still fits; the queue asks when a commit failed with
 *	EIO whether the disk is full.
 *
 *	sg_fs_replace() writes the n parts one after the other to path.tmp
 *	(mode, close-on-exec) and renames it over path, so that a reader
 *	sees the old file or the new one whole. On any failure the file
 *	descriptor is closed and path.tmp removed; path is left as it was.
 *	No sync: for state a crash may take back (counts, caches).
 *
 *	sg_fs_read() reads a whole file of at most max bytes into *buf
 *	(malloc'd, NUL-terminated, to be freed; *len bytes), for the state
 *	files sg_fs_replace() writes.
 * DIAGNOSTICS
 *	sg_fs_room(): 0, or -1 with errno set by statvfs(); *bytes is then
 *	left alone. sg_fs_replace(): 0, SG_EINVAL (path too long), SG_EIO
 *	(errno says why). sg_fs_read(): 0, SG_ENOTFOUND (no such file),
 *	SG_ELIMIT (longer than max), SG_EIO; *buf is NULL unless 0.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "sg.h"

int	sg_fs_room(const char *dir, uint64_t *bytes)
{
	struct statvfs st;

	if (statvfs(dir, &st) != 0)
		return (-1);
	*bytes = (uint64_t) (geteuid() == 0 ? st.f_bfree : st.f_bavail) * st.f_frsize;
	return (0);
}

int	sg_fs_replace(const char *path, const struct sg_fs_part *parts, size_t n, mode_t mode)
{
	char	tmp[4200];
	int	fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int) sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return (SG_EINVAL);
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) < 0)
		return (SG_EIO);
	for (size_t i = 0; i < n && err == 0; i++)
		for (size_t done = 0; done < parts[i].len && err == 0;) {
			ssize_t	w = write(fd, (const char *) parts[i].data + done, parts[i].len - done);

			if (w > 0)
				done += (size_t) w;
			else if (w == 0 || errno != EINTR)
				err = w == 0 ? ENOSPC : errno;
		}
	if (close(fd) != 0 && err == 0)
		err = errno;
	if (err == 0 && rename(tmp, path) == 0)
		return (0);
	err = err ? err : errno;
	unlink(tmp);
	errno = err;
	return (SG_EIO);
}

int	sg_fs_read(const char *path, size_t max, char **buf, size_t *len)
{
	int	fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	struct stat st;
	size_t	cap = max;
	ssize_t	n;

	*buf = NULL;
	*len = 0;
	if (fd < 0)
		return (errno == ENOENT ? SG_ENOTFOUND : SG_EIO);
	/* as large as the file (or max), not max each time: it may grow meanwhile */
	if (fstat(fd, &st) == 0 && st.st_size >= 0 && (uint64_t) st.st_size < max)
		cap = (size_t) st.st_size;
	*buf = sg_xmalloc(cap + 2);
	while (*len <= max && (n = read(fd, *buf + *len, cap + 1 - *len)) != 0) {
		if (n > 0 && (*len += (size_t) n) == cap + 1 && cap < max) {
			cap = cap * 2 + 64 < max ? cap * 2 + 64 : max;
			*buf = sg_xrealloc(*buf, cap + 2);
		}
		if (n < 0 && errno != EINTR) {
			err = SG_EIO;
			break;
		}
	}
	close(fd);
	if (err == 0 && *len > max)
		err = SG_ELIMIT;
	if (err) {
		free(*buf);
		*buf = NULL;
		*len = 0;
		return (err);
	}
	(*buf)[*len] = 0;
	return (0);
}
