#ifndef TEST_CERTS_UTIL_H
#define TEST_CERTS_UTIL_H

/*
 * NAME
 *	test_certs_util 3h
 * SUMMARY
 *	helpers for the certs unit tests: test PKI, NSS database, peers
 * SYNOPSIS
 *	#include "test_certs_util.h"
 * DESCRIPTION
 *	tc_pki_build() runs tests/integration/pki.py (the same PKI the
 *	integration tests use) into DIR/pki; tc_db_make() makes an NSS
 *	database in DIR/db with NSS's own tools (certutil, pk12util), which
 *	are peers we do not ship. tc_spawn() starts a program with pipes on
 *	its stdin and stdout. Everything is static inline: each test binary
 *	uses a different part.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/sg.h"

/* tc_src - the source tree (SEALGATE_SRC, else the current directory) */

static inline const char *tc_src(void)
{
	const char *s = getenv("SEALGATE_SRC");

	return (s && *s ? s : ".");
}

static inline int tc_sh(const char *fmt, ...) SG_PRINTF(1, 2);

/* tc_sh - run a shell command, quiet unless it fails; returns its status */

static inline int tc_sh(const char *fmt, ...)
{
	struct sg_buf b = SG_BUF_INIT;
	va_list	ap;
	int	rc;

	va_start(ap, fmt);
	sg_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	sg_buf_puts(&b, " >/dev/null 2>/tmp/tc_sh.$$.err || { cat /tmp/tc_sh.$$.err >&2;"
		    " rm -f /tmp/tc_sh.$$.err; exit 1; }; rm -f /tmp/tc_sh.$$.err");
	rc = system(b.data);
	sg_buf_free(&b);
	return (rc);
}

static inline char *tc_tmpdir(const char *tag)
{
	char	tmpl[128];

	snprintf(tmpl, sizeof(tmpl), "/tmp/sealgate-%s-XXXXXX", tag);
	if (mkdtemp(tmpl) == NULL)
		return (NULL);
	return (sg_xstrdup(tmpl));
}

static inline int tc_pki_build(const char *dir)
{
	return (tc_sh("/usr/bin/python3 %s/tests/integration/pki.py %s/pki", tc_src(), dir));
}

/*
 * tc_db_make - DIR/db with the root CA trusted for everything and the
 * PKCS#12 files of the named entities (space-separated) imported.
 */
static inline int tc_db_make(const char *dir, const char *p12s)
{
	char	names[256], *save = NULL;

	if (tc_sh("mkdir -p %s/db && certutil -N -d sql:%s/db --empty-password", dir, dir) ||
	    tc_sh("certutil -A -d sql:%s/db -n root -t C,C,C -i %s/pki/root.pem", dir, dir))
		return (-1);
	snprintf(names, sizeof(names), "%s", p12s);
	for (char *n = strtok_r(names, " ", &save); n; n = strtok_r(NULL, " ", &save))
		if (tc_sh("pk12util -d sql:%s/db -i %s/pki/%s.p12 -W %s-pw -K ''", dir, dir, n, n))
			return (-1);
	return (0);
}

static inline void tc_rmrf(const char *dir)
{
	if (dir && strncmp(dir, "/tmp/sealgate-", 14) == 0)
		tc_sh("rm -rf %s", dir);
}

struct tc_proc {
	pid_t	pid;
	int	in;			/* its stdin, ours to write; -1 closed */
	int	out;			/* its stdout, ours to read */
};

static inline int tc_spawn(struct tc_proc *p, char *const argv[])
{
	int	in[2], out[2];

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		return (-1);
	if ((p->pid = fork()) < 0)
		return (-1);
	if (p->pid == 0) {
		int	devnull = open("/dev/null", O_WRONLY);

		dup2(in[0], 0);
		dup2(out[1], 1);
		if (getenv("TC_VERBOSE") == NULL)
			dup2(devnull, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	p->in = in[1];
	p->out = out[0];
	fcntl(p->in, F_SETFL, O_NONBLOCK);
	fcntl(p->out, F_SETFL, O_NONBLOCK);
	return (0);
}

static inline void tc_reap(struct tc_proc *p)
{
	if (p->in >= 0)
		close(p->in);
	if (p->out >= 0)
		close(p->out);
	p->in = p->out = -1;
	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
	}
}

/* tc_pattern - deterministic bytes, so a transfer can be checked exactly */

static inline unsigned char *tc_pattern(size_t len, uint32_t seed)
{
	unsigned char *p = sg_xmalloc(len);
	uint32_t x = seed | 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char) x;
	}
	return (p);
}

#endif
