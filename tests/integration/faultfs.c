/*
 * NAME
 *	faultfs 1
 * SUMMARY
 *	LD_PRELOAD shim for the fault tests: write and sync errors on the
 *	queue file, switched on and off while the gateway runs
 * SYNOPSIS
 *	cc -shared -fPIC -o libfaultfs.so faultfs.c -ldl
 *	LD_PRELOAD=libfaultfs.so SG_FAULT_SWITCH=/path/to/switch sealgated ...
 * DESCRIPTION
 *	A disk that fails is hard to have on demand; this shim is one. It
 *	watches every descriptor of a file named data.mdb (the LMDB queue)
 *	that a process opens for writing. While the switch file exists, the
 *	calls it names fail on those descriptors, and only on those:
 *
 *	  write   write, writev, pwrite, pwrite64, pwritev fail
 *	  sync    fsync, fdatasync fail (and msync, which LMDB uses only
 *	          with MDB_WRITEMAP)
 *	  meta    only writes that reach the two meta pages at the start of
 *	          the file (LMDB's last step of a commit) fail
 *	  all     write and sync
 *
 *	followed by an optional errno name: EIO (the default) or ENOSPC.
 *	"after N" skips the first N calls that would fail, per process,
 *	counted from when the switch file appeared; "role NAME" limits the
 *	faults to the process started with "--role NAME". For example
 *	"sync EIO after 1 role worker" lets the worker's next commit through
 *	and fails the ones after it. Removing the file ends the fault; the
 *	file is looked at on every watched call, so the switch is immediate.
 *
 *	Each injected failure is reported on stderr as one line,
 *	"faultfs: pid=N call=NAME errno=NAME", so that a test can tell that
 *	the fault did hit the process it meant.
 * BUGS
 *	Test code. At most MAXFD descriptors are watched; the switch file is
 *	read with a plain open/read on each watched call.
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAXFD	4096
#define WATCHED	"data.mdb"

enum kind {
	K_WRITE = 1,
	K_SYNC = 2,
};

static bool watched[MAXFD];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int inited;
static const char *switch_path;
static bool my_role_known, my_role_checked;
static long skipped;			/* failures skipped under "after N" */
static bool armed;			/* the switch file was seen */

static int (*real_open) (const char *, int, ...);
static int (*real_openat) (int, const char *, int, ...);
static int (*real_close) (int);
static ssize_t (*real_write) (int, const void *, size_t);
static ssize_t (*real_writev) (int, const struct iovec *, int);
static ssize_t (*real_pwrite) (int, const void *, size_t, off_t);
static ssize_t (*real_pwritev) (int, const struct iovec *, int, off_t);
static int (*real_fsync) (int);
static int (*real_fdatasync) (int);
static int (*real_msync) (void *, size_t, int);

static void init(void)
{
	if (inited)
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
	real_msync = dlsym(RTLD_NEXT, "msync");
	switch_path = getenv("SG_FAULT_SWITCH");
	inited = 1;
}

/* is_role - was this process started with "--role NAME" */

static bool is_role(const char *name)
{
	char	buf[4096];
	ssize_t	n;
	int	fd = real_open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return (false);
	n = read(fd, buf, sizeof(buf) - 1);
	real_close(fd);
	if (n <= 0)
		return (false);
	buf[n] = 0;
	for (char *p = buf; p < buf + n; p += strlen(p) + 1)
		if (strcmp(p, "--role") == 0 && p + strlen(p) + 1 < buf + n)
			return (strcmp(p + strlen(p) + 1, name) == 0);
	return (false);
}

/* fault - the errno to fail a call of this kind with, or 0 */

static int fault(enum kind k, bool meta, const char *call)
{
	char	buf[256], mode[16] = "", err[16] = "EIO", role[64] = "";
	long	after = 0;
	ssize_t	n;
	int	fd, e, hit = 0;

	if (switch_path == NULL || (fd = real_open(switch_path, O_RDONLY | O_CLOEXEC)) < 0) {
		pthread_mutex_lock(&mu);
		armed = false;
		skipped = 0;
		pthread_mutex_unlock(&mu);
		return (0);
	}
	n = read(fd, buf, sizeof(buf) - 1);
	real_close(fd);
	buf[n > 0 ? n : 0] = 0;
	for (char *w = strtok(buf, " \t\n"); w; w = strtok(NULL, " \t\n")) {
		if (strcmp(w, "after") == 0 && (w = strtok(NULL, " \t\n")))
			after = strtol(w, NULL, 10);
		else if (strcmp(w, "role") == 0 && (w = strtok(NULL, " \t\n")))
			snprintf(role, sizeof(role), "%s", w);
		else if (w[0] == 'E')
			snprintf(err, sizeof(err), "%s", w);
		else
			snprintf(mode, sizeof(mode), "%s", w);
	}
	if (role[0]) {
		if (!my_role_checked) {
			my_role_known = is_role(role);
			my_role_checked = true;
		}
		if (!my_role_known)
			return (0);
	}
	if (strcmp(mode, "all") == 0)
		hit = 1;
	else if (strcmp(mode, "write") == 0)
		hit = k == K_WRITE;
	else if (strcmp(mode, "sync") == 0)
		hit = k == K_SYNC;
	else if (strcmp(mode, "meta") == 0)
		hit = k == K_WRITE && meta;
	if (!hit)
		return (0);
	e = strcmp(err, "ENOSPC") == 0 ? ENOSPC : EIO;
	pthread_mutex_lock(&mu);
	if (!armed) {
		armed = true;
		skipped = 0;
	}
	if (skipped < after) {
		skipped++;
		hit = 0;
	}
	pthread_mutex_unlock(&mu);
	if (!hit)
		return (0);
	n = snprintf(buf, sizeof(buf), "faultfs: pid=%ld call=%s errno=%s\n", (long) getpid(),
		     call, e == EIO ? "EIO" : "ENOSPC");
	if (n > 0)
		(void) !real_write(2, buf, (size_t) n);
	return (e);
}

/* in_meta - LMDB's two meta pages are the first two OS pages of the file */

static bool in_meta(off_t off)
{
	return (off >= 0 && off < 2 * sysconf(_SC_PAGESIZE));
}

static bool is_watched(int fd)
{
	return (fd >= 0 && fd < MAXFD && watched[fd]);
}

static void watch(int fd, const char *path, int flags)
{
	const char *base = strrchr(path, '/');

	if (fd < 0 || fd >= MAXFD || (flags & O_ACCMODE) == O_RDONLY)
		return;
	if (strcmp(base ? base + 1 : path, WATCHED) == 0)
		watched[fd] = true;
}

static int do_open(int dirfd, const char *path, int flags, mode_t mode, bool at)
{
	int	fd;

	init();
	fd = at ? real_openat(dirfd, path, flags, mode) : real_open(path, flags, mode);
	watch(fd, path, flags);
	return (fd);
}

#define OPEN_MODE(flags, mode) do { \
	va_list ap; \
	va_start(ap, flags); \
	if (flags & (O_CREAT | O_TMPFILE)) \
		mode = va_arg(ap, mode_t); \
	va_end(ap); \
} while (0)

int	open(const char *path, int flags, ...)
{
	mode_t	mode = 0;

	OPEN_MODE(flags, mode);
	return (do_open(AT_FDCWD, path, flags, mode, false));
}

int	open64(const char *path, int flags, ...)
{
	mode_t	mode = 0;

	OPEN_MODE(flags, mode);
	return (do_open(AT_FDCWD, path, flags, mode, false));
}

int	openat(int dirfd, const char *path, int flags, ...)
{
	mode_t	mode = 0;

	OPEN_MODE(flags, mode);
	return (do_open(dirfd, path, flags, mode, true));
}

int	openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t	mode = 0;

	OPEN_MODE(flags, mode);
	return (do_open(dirfd, path, flags, mode, true));
}

int	close(int fd)
{
	init();
	if (fd >= 0 && fd < MAXFD)
		watched[fd] = false;
	return (real_close(fd));
}

#define FAIL_IF(fd, kind, meta, name) do { \
	int e_; \
	init(); \
	if (is_watched(fd) && (e_ = fault(kind, meta, name)) != 0) { \
		errno = e_; \
		return (-1); \
	} \
} while (0)

ssize_t	write(int fd, const void *buf, size_t len)
{
	FAIL_IF(fd, K_WRITE, in_meta(lseek(fd, 0, SEEK_CUR)), "write");
	return (real_write(fd, buf, len));
}

ssize_t	writev(int fd, const struct iovec *iov, int cnt)
{
	FAIL_IF(fd, K_WRITE, in_meta(lseek(fd, 0, SEEK_CUR)), "writev");
	return (real_writev(fd, iov, cnt));
}

ssize_t	pwrite(int fd, const void *buf, size_t len, off_t off)
{
	FAIL_IF(fd, K_WRITE, in_meta(off), "pwrite");
	return (real_pwrite(fd, buf, len, off));
}

ssize_t	pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	return (pwrite(fd, buf, len, off));
}

ssize_t	pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	FAIL_IF(fd, K_WRITE, in_meta(off), "pwritev");
	return (real_pwritev(fd, iov, n, off));
}

int	fsync(int fd)
{
	FAIL_IF(fd, K_SYNC, false, "fsync");
	return (real_fsync(fd));
}

int	fdatasync(int fd)
{
	FAIL_IF(fd, K_SYNC, false, "fdatasync");
	return (real_fdatasync(fd));
}

int	msync(void *addr, size_t len, int flags)
{
	int	e;

	init();
	if ((e = fault(K_SYNC, false, "msync")) != 0) {
		errno = e;
		return (-1);
	}
	return (real_msync(addr, len, flags));
}
