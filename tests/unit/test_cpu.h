#ifndef TEST_CPU_H
#define TEST_CPU_H

/*
 * NAME
 *	test_cpu 3h
 * SUMMARY
 *	the CPU time the tests of linear cost bound
 * SYNOPSIS
 *	#include "test_cpu.h"
 * DESCRIPTION
 *	test_cpu_seconds() is the process's user and system time so far. A
 *	test of a fix for time in the square of an input's size feeds an
 *	input the old way took seconds on, and bounds what it takes now
 *	far above what a sanitized build needs.
 */

#include <sys/resource.h>

static inline double test_cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
		+ (double) ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
}

#endif
