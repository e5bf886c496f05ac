/*
 * NAME
 *	crashrole 1
 * SUMMARY
 *	LD_PRELOAD shim for the fault tests: a role that crashes on every start
 * SYNOPSIS
 *	cc -shared -fPIC -o libcrashrole.so crashrole.c
 *	LD_PRELOAD=libcrashrole.so SG_CRASH_SWITCH=/path/to/switch sealgated ...
 * DESCRIPTION
 *	Before main() of every process it is loaded into, the shim reads the
 *	switch file named by SG_CRASH_SWITCH. When the file exists and holds
 *	a role name, and this process was started with "--role NAME" (the
 *	master starts each role so), the process dies of SIGSEGV at once,
 *	without a core file. Every other process, and every process once the
 *	file is gone, runs as usual. The master is never hit: it has no
 *	--role argument.
 * BUGS
 *	Test code.
 */

#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int slurp(const char *path, char *buf, size_t len)
{
	int	fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t	n;

	if (fd < 0)
		return (-1);
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return (n > 0 ? (int) n : 0);
}

__attribute__((constructor))
static void crash_if_named(void)
{
	const char *sw = getenv("SG_CRASH_SWITCH");
	char	want[64], args[4096];
	struct rlimit none = {0, 0};
	int	n;

	if (sw == NULL || slurp(sw, want, sizeof(want)) <= 0)
		return;
	want[strcspn(want, " \t\r\n")] = 0;
	if ((n = slurp("/proc/self/cmdline", args, sizeof(args))) <= 0)
		return;
	for (char *p = args; p < args + n; p += strlen(p) + 1)
		if (strcmp(p, "--role") == 0 && p + strlen(p) + 1 < args + n
		    && strcmp(p + strlen(p) + 1, want) == 0) {
			setrlimit(RLIMIT_CORE, &none);
			raise(SIGSEGV);
		}
}
