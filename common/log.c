/*
 * NAME
 *	log 3
 * SUMMARY
 *	one line per event, key=value, to stderr or syslog
 * SYNOPSIS
 *	#include "common/sg.h"
 *
 *	void	sg_log_init(progname, role, sink)
 *	void	sg_log_set_facility(facility)
 *	void	sg_log(level, fmt, ...)
 *	void	sg_log_echo(on)
 *	void	sg_fatal(fmt, ...)
 *	void	sg_panic(fmt, ...)
 * DESCRIPTION
 *	sg_log_init() names the process (progname) and its role; every line
 *	then reads "level=L role=R <fields>", on stderr prefixed with an ISO
 *	time and progname[pid]. Lines below the current level are dropped.
 *	sg_log_set_facility() chooses the syslog facility (LOG_MAIL until
 *	then); like the level, it may change while the process runs.
 *
 *	The logger is the one piece of process-wide state in common/: a
 *	process has one role and one log, set up once in main().
 *
 *	sg_log_echo() makes a syslog logger also write its warnings and
 *	errors to stderr: a daemon that has not detached yet owes them to
 *	whoever started it.
 *
 *	sg_fatal() logs and exits 1 (the environment is broken); sg_panic()
 *	logs and aborts (a bug: leave a core for the developer).
 * SECURITY
 *	Callers pass untrusted text through sg_printable() first; this module
 *	does not escape, but it does replace newlines so one event stays one
 *	line whatever a caller forgot.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "sg.h"

#define LOG_LINE_MAX 2048

static struct {
	const char *progname;
	const char *role;
	enum sg_log_sink sink;
	enum sg_log_level level;
	bool	echo;			/* syslog, and warnings up on stderr too */
	int	facility;
} sg_log_state = { "sealgate", "main", SG_LOG_STDERR, SG_LOG_INFO, false, LOG_MAIL };

static const char *const level_names[] = {
	"debug", "info", "notice", "warning", "error",
};

static const int level_prio[] = {
	LOG_DEBUG, LOG_INFO, LOG_NOTICE, LOG_WARNING, LOG_ERR,
};

/* sg_log_init - name the process and choose where lines go */

void	sg_log_init(const char *progname, const char *role, enum sg_log_sink sink)
{
	sg_log_state.progname = progname;
	sg_log_state.role = role;
	sg_log_state.sink = sink;
	if (sink == SG_LOG_SYSLOG)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void	sg_log_echo(bool on)
{
	sg_log_state.echo = on;
}

void	sg_log_set_level(enum sg_log_level level)
{
	sg_log_state.level = level;
}

void	sg_log_set_facility(int facility)
{
	sg_log_state.facility = facility;
}

enum sg_log_level sg_log_get_level(void)
{
	return (sg_log_state.level);
}

const char *sg_log_level_name(enum sg_log_level level)
{
	return ((unsigned) level < SG_NELEM(level_names) ? level_names[level] : "?");
}

int	sg_log_level_parse(const char *name, enum sg_log_level *out)
{
	for (size_t i = 0; i < SG_NELEM(level_names); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum sg_log_level) i;
			return (0);
		}
	}
	return (SG_EINVAL);
}

/* sg_vlog - format one event line and emit it */

void	sg_vlog(enum sg_log_level level, const char *fmt, va_list ap)
{
	char	line[LOG_LINE_MAX];
	int	n;

	if (level < sg_log_state.level)
		return;
	n = snprintf(line, sizeof(line), "level=%s role=%s ",
		     sg_log_level_name(level), sg_log_state.role);
	if (n < 0 || (size_t) n >= sizeof(line))
		n = 0;
	vsnprintf(line + n, sizeof(line) - (size_t) n, fmt, ap);
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';

	if (sg_log_state.sink == SG_LOG_SYSLOG) {
		syslog(sg_log_state.facility | level_prio[level], "%s", line);
		if (sg_log_state.echo && level >= SG_LOG_WARNING)
			fprintf(stderr, "%s: %s\n", sg_log_state.progname, line);
	} else {
		struct timespec ts;
		struct tm tm;
		char	stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ %s[%ld]: %s\n", stamp,
			ts.tv_nsec / 1000000, sg_log_state.progname,
			(long) getpid(), line);
	}
}

void	sg_log(enum sg_log_level level, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	sg_vlog(level, fmt, ap);
	va_end(ap);
}

/* sg_fatal - the environment is broken: log and exit */

void	sg_fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	sg_vlog(SG_LOG_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}

/* sg_panic - a bug: log and leave a core */

void	sg_panic(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	sg_vlog(SG_LOG_ERROR, fmt, ap);
	va_end(ap);
	abort();
}

/* sg_printable - escape untrusted bytes for a log line or a reply */

#define PRINTABLE(c) ((c) >= 0x20 && (c) < 0x7f && (c) != '"' && (c) != '\\')
#define QUOTED(c) ((c) == '"' || (c) == '\\')	/* as \" and \\ */

char   *sg_printable(char *dst, size_t dstlen, const void *src, size_t srclen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = src;
	size_t	o = 0;

	if (dstlen == 0)
		return (dst);
	size_t	limit = dstlen - 1, total = 0;

	for (size_t i = 0; i < srclen && total <= limit; i++)
		total += PRINTABLE(s[i]) ? 1 : QUOTED(s[i]) ? 2 : 4;
	/* When it will not all fit, keep room for "..." so no escape is split. */
	size_t	room = total > limit ? 3 : 0;

	for (size_t i = 0; i < srclen; i++) {
		unsigned char c = s[i];
		size_t	need = PRINTABLE(c) ? 1 : QUOTED(c) ? 2 : 4;

		if (o + need + room > limit) {
			if (o + 3 <= limit) {
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (PRINTABLE(c)) {
			dst[o++] = (char) c;
		} else if (QUOTED(c)) {
			dst[o++] = '\\';
			dst[o++] = (char) c;
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	dst[o] = 0;
	return (dst);
}

/* sg_strerror - the text of an sg_err */

const char *sg_strerror(int err)
{
	static const char *const text[] = {
		"success", "out of memory", "invalid input", "I/O error",
		"queue or disk full", "corrupt data", "not found",
		"already exists", "try again", "busy", "timeout",
		"protocol error", "TLS error", "crypto error",
		"wrong password or PIN", "unsupported", "denied",
		"limit exceeded", "closed",
	};
	unsigned idx = (unsigned) -err;

	return (err <= 0 && idx < SG_NELEM(text) ? text[idx] : "unknown error");
}
