/*
 * NAME
 *	durable 1
 * SUMMARY
 *	LD_PRELOAD shim for the power-cut test: a disk image holding only
 *	what was synced
 * SYNOPSIS
 *	cc -shared -fPIC -o libdurable.so durable.c -ldl
 *	LD_PRELOAD=libdurable.so SG_DURABLE=1 [SG_DURABLE_NOSYNC=1] sealgated ...
 * DESCRIPTION
 *	A process killed with SIGKILL loses nothing it wrote: the pages are
 *	in the kernel's page cache. A power cut loses every page not yet
 *	synced. This shim models the disk: for every file named data.mdb
 *	that a process opens, it keeps an image beside it (data.mdb.durable)
 *	that receives a written range only once that range is durable. As
 *	in the kernel, fsync() or fdatasync() of the file by any process
 *	makes every range written to it so far durable, by whichever process
 *	wrote it (LMDB relies on that: a commit's flush also carries the
 *	meta page an earlier MDB_NOMETASYNC commit of another process wrote);
 *	a write through a descriptor opened with O_DSYNC or O_SYNC (how LMDB
 *	writes its meta page) makes only its own range durable, at once.
 *	Ranges written and not yet synced are kept, by every process that
 *	has the file open, in one shared list beside it (data.mdb.pending,
 *	16-byte records, under flock()); a sync copies the file's present
 *	bytes of each into the image and empties the list. After killing
 *	every process, a test copies the image over the file: that is what a
 *	machine finds on its disk after a power cut, at its strictest (a
 *	real kernel may also have written some unsynced pages back).
 *
 *	SG_DURABLE_NOSYNC=1 is the negative control, libeatmydata's
 *	behaviour: fsync() and fdatasync() return at once and O_DSYNC and
 *	O_SYNC are dropped, so nothing ever becomes durable.
 *
 *	Intercepted: open, open64, openat, openat64, close, write, writev,
 *	pwrite, pwrite64, pwritev, fsync, fdatasync. Only descriptors of a
 *	data.mdb are watched; everything else passes straight through.
 * BUGS
 *	Test code: a tracked file per descriptor up to MAXFD; mmap writes
 *	(LMDB's MDB_WRITEMAP, which sealgate does not use) are not seen.
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAXFD	4096
#define WATCHED	"data.mdb"

struct range {
	int64_t	off;
	int64_t	len;
};

struct watch {
	int	image;			/* the image's descriptor */
	int	reader;			/* the file, opened for reading */
	int	pending;		/* the shared list of unsynced ranges */
	bool	dsync;
};

static struct watch *fds[MAXFD];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int enabled = -1, nosync;

static int (*real_open) (const char *, int, ...);
static int (*real_openat) (int, const char *, int, ...);
static int (*real_close) (int);
static ssize_t (*real_write) (int, const void *, size_t);
static ssize_t (*real_writev) (int, const struct iovec *, int);
static ssize_t (*real_pwrite) (int, const void *, size_t, off_t);
static ssize_t (*real_pwritev) (int, const struct iovec *, int, off_t);
static int (*real_fsync) (int);
static int (*real_fdatasync) (int);

static void init(void)
{
	if (enabled >= 0)
		return;
	real_open = dlsym(RTLD_NEXT, "open");
	real_openat = dlsym(RTLD_NEXT, "openat");
	real_close = dlsym(RTLD_NEXT, "close");
	real_write = dlsym(RTLD_NEXT, "write");
	real_writev = dlsym(RTLD_NEXT, "writev");
	real_pwrite = dlsym(RTLD_NEXT, "pwrite");
	real_pwritev = dlsym(RTLD_NEXT, "pwritev");
	real_fsync = dlsym(RTLD_NEXT, "fsync");
	real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
	nosync = getenv("SG_DURABLE_NOSYNC") && *getenv("SG_DURABLE_NOSYNC") == '1';
	enabled = getenv("SG_DURABLE") && *getenv("SG_DURABLE") == '1';
}

static bool watched_name(const char *path)
{
	const char *base = strrchr(path, '/');

	return (strcmp(base ? base + 1 : path, WATCHED) == 0);
}

/* copy_range - the file's bytes [off, off+len) into the image */

static void copy_range(struct watch *w, off_t off, size_t len)
{
	char	buf[65536];

	while (len > 0) {
		ssize_t	got = pread(w->reader, buf, len < sizeof(buf) ? len : sizeof(buf), off);

		if (got <= 0)
			return;
		if (real_pwrite(w->image, buf, (size_t) got, off) != got)
			return;
		off += got;
		len -= (size_t) got;
	}
}

/* note - a range written: durable now (O_DSYNC), or pending until a sync */

static void note(int fd, off_t off, ssize_t len)
{
	struct range r = {(int64_t) off, (int64_t) len};
	struct watch *w;

	if (len <= 0 || fd < 0 || fd >= MAXFD)
		return;
	pthread_mutex_lock(&mu);
	/* the lock also keeps copies of two processes from interleaving */
	if ((w = fds[fd]) != NULL) {
		if (flock(w->pending, LOCK_EX) != 0)
			abort();	/* skipping the range would fake a lost write */
		if (w->dsync && !nosync)
			copy_range(w, off, (size_t) len);
		else if (real_write(w->pending, &r, sizeof(r)) != (ssize_t) sizeof(r))
			abort();	/* a lost range would fake a lost write */
		flock(w->pending, LOCK_UN);
	}
	pthread_mutex_unlock(&mu);
}

/* sync_file - every range written to the file so far, by any process */

static void sync_file(int fd)
{
	struct watch *w;
	struct range r;

	if (nosync || fd < 0 || fd >= MAXFD)
		return;
	pthread_mutex_lock(&mu);
	if ((w = fds[fd]) != NULL && flock(w->pending, LOCK_EX) == 0) {
		for (off_t at = 0; pread(w->pending, &r, sizeof(r), at) == (ssize_t) sizeof(r);
		     at += (off_t) sizeof(r))
			copy_range(w, (off_t) r.off, (size_t) r.len);
		if (ftruncate(w->pending, 0) != 0)
			abort();
		flock(w->pending, LOCK_UN);
	}
	pthread_mutex_unlock(&mu);
}

static void watch(int fd, const char *path, int flags)
{
	char	img[4096];
	struct watch *w;

	if (fd < 0 || fd >= MAXFD || !watched_name(path))
		return;
	snprintf(img, sizeof(img), "%s.durable", path);
	w = calloc(1, sizeof(*w));
	w->image = real_open(img, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	w->reader = real_open(path, O_RDONLY | O_CLOEXEC);
	snprintf(img, sizeof(img), "%s.pending", path);
	w->pending = real_open(img, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (w->image < 0 || w->reader < 0 || w->pending < 0)
		abort();		/* unwatched, its writes would fake a loss */
	w->dsync = (flags & (O_DSYNC | O_SYNC)) != 0;
	pthread_mutex_lock(&mu);
	fds[fd] = w;
	pthread_mutex_unlock(&mu);
}

static int fix_flags(int flags)
{
	return (nosync ? flags & ~(O_DSYNC | O_SYNC) : flags);
}

static int do_open(int dirfd, const char *path, int flags, mode_t mode, bool at)
{
	int	fd;

	init();
	if (!enabled)
		return (at ? real_openat(dirfd, path, flags, mode) : real_open(path, flags, mode));
	fd = at ? real_openat(dirfd, path, fix_flags(flags), mode)
		: real_open(path, fix_flags(flags), mode);
	if (fd >= 0 && (flags & O_ACCMODE) != O_RDONLY)
		watch(fd, path, flags);
	return (fd);
}

int	open(const char *path, int flags, ...)
{
	va_list	ap;
	mode_t	mode = 0;

	va_start(ap, flags);
	if (flags & (O_CREAT | O_TMPFILE))
		mode = va_arg(ap, mode_t);
	va_end(ap);
	return (do_open(AT_FDCWD, path, flags, mode, false));
}

int	open64(const char *path, int flags, ...)
{
	va_list	ap;
	mode_t	mode = 0;

	va_start(ap, flags);
	if (flags & (O_CREAT | O_TMPFILE))
		mode = va_arg(ap, mode_t);
	va_end(ap);
	return (do_open(AT_FDCWD, path, flags, mode, false));
}

int	openat(int dirfd, const char *path, int flags, ...)
{
	va_list	ap;
	mode_t	mode = 0;

	va_start(ap, flags);
	if (flags & (O_CREAT | O_TMPFILE))
		mode = va_arg(ap, mode_t);
	va_end(ap);
	return (do_open(dirfd, path, flags, mode, true));
}

int	openat64(int dirfd, const char *path, int flags, ...)
{
	va_list	ap;
	mode_t	mode = 0;

	va_start(ap, flags);
	if (flags & (O_CREAT | O_TMPFILE))
		mode = va_arg(ap, mode_t);
	va_end(ap);
	return (do_open(dirfd, path, flags, mode, true));
}

int	close(int fd)
{
	struct watch *w = NULL;

	init();
	if (fd >= 0 && fd < MAXFD) {
		pthread_mutex_lock(&mu);
		w = fds[fd];
		fds[fd] = NULL;
		pthread_mutex_unlock(&mu);
	}
	if (w) {			/* its unsynced ranges stay pending */
		real_close(w->image);
		real_close(w->reader);
		real_close(w->pending);
		free(w);
	}
	return (real_close(fd));
}

ssize_t	pwrite(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t	n;

	init();
	n = real_pwrite(fd, buf, len, off);
	note(fd, off, n);
	return (n);
}

ssize_t	pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	return (pwrite(fd, buf, len, off));
}

ssize_t	pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	ssize_t	r;

	init();
	r = real_pwritev(fd, iov, n, off);
	note(fd, off, r);
	return (r);
}

ssize_t	write(int fd, const void *buf, size_t len)
{
	off_t	off;
	ssize_t	n;

	init();
	if (fd < 0 || fd >= MAXFD || fds[fd] == NULL)
		return (real_write(fd, buf, len));
	off = lseek(fd, 0, SEEK_CUR);
	n = real_write(fd, buf, len);
	note(fd, off, n);
	return (n);
}

ssize_t	writev(int fd, const struct iovec *iov, int cnt)
{
	off_t	off;
	ssize_t	n;

	init();
	if (fd < 0 || fd >= MAXFD || fds[fd] == NULL)
		return (real_writev(fd, iov, cnt));
	off = lseek(fd, 0, SEEK_CUR);
	n = real_writev(fd, iov, cnt);
	note(fd, off, n);
	return (n);
}

int	fsync(int fd)
{
	init();
	if (nosync && enabled)
		return (0);
	sync_file(fd);
	return (real_fsync(fd));
}

int	fdatasync(int fd)
{
	init();
	if (nosync && enabled)
		return (0);
	sync_file(fd);
	return (real_fdatasync(fd));
}
