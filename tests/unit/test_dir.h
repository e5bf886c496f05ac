#ifndef TEST_DIR_H
#define TEST_DIR_H

/*
 * NAME
 *	test_dir 3h
 * SUMMARY
 *	unit tests that work in a scratch directory with real tools
 * SYNOPSIS
 *	#include "test_dir.h"	(after cmocka.h)
 * DESCRIPTION
 *	tdir_run() runs a shell command (openssl, certutil, gpgsm, ...) in
 *	dir, appending its output to dir/cmd.log, and returns its exit
 *	status. tdir_get() appends a file of dir to a buffer; tdir_put()
 *	writes one. Both fail the test when the file cannot be used.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/sg.h"

static inline int tdir_run(const char *dir, const char *fmt, ...) SG_PRINTF(2, 3);

static inline int tdir_run(const char *dir, const char *fmt, ...)
{
	char	cmd[4096], full[4300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "cd %s && { %s ; } >>cmd.log 2>&1", dir, cmd);
	return (system(full));
}

static inline void tdir_get(const char *dir, const char *name, struct sg_buf *b)
{
	char	path[512], chunk[4096];
	FILE   *fp;
	size_t	n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "rb")) == NULL)
		fail_msg("cannot open %s", path);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		sg_buf_append(b, chunk, n);
	fclose(fp);
}

static inline void tdir_put(const char *dir, const char *name, const void *p, size_t len)
{
	char	path[512];
	FILE   *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(fp = fopen(path, "wb"));
	assert_int_equal(fwrite(p, 1, len, fp), len);
	fclose(fp);
}

#endif
