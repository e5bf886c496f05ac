/*
 * NAME
 *	sealctl_json 3
 * SUMMARY
 *	sealctl's output helpers: JSON values, times, untrusted text
 * SYNOPSIS
 *	#include "cmd/sealctl.h"
 *
 *	void	sealctl_json_str(fp, s)
 *	void	sealctl_json_u64(fp, v)
 *	void	sealctl_json_key(fp, key, first)
 *	void	sealctl_json_kv_str(fp, key, v, first)
 *	void	sealctl_json_kv_u64(fp, key, v, first)
 *	void	sealctl_json_kv_time(fp, key, ms, first)
 *	char	*sealctl_time(ms, buf, len)
 *	void	sealctl_put_text(fp, s, max)
 * DESCRIPTION
 *	The one JSON writer of sealctl's listings (queue, track, incidents).
 *	Strings come from mail, peers and certificates: untrusted.
 *	sealctl_json_str() writes a JSON string: well-formed UTF-8 as it is,
 *	quotes and backslashes escaped, every other byte below 0x20, DEL and
 *	every byte that is not part of well-formed UTF-8 as \u00XX, so the
 *	output is always valid JSON in UTF-8. The kv_ forms write
 *	',"key":value' (no comma when first). Times are "YYYY-MM-DDTHH:MM:SSZ"
 *	(UTC) from milliseconds, "" for 0 in JSON. Numbers are written by
 *	hand and stdio is used unlocked: a listing of a million entries
 *	spends its time here.
 *
 *	sealctl_time() formats ms the same way into buf (at least 32 bytes),
 *	"-" for 0. sealctl_put_text() writes untrusted text to a terminal:
 *	well-formed UTF-8 as it is, control and malformed bytes as \xNN, at
 *	most max bytes of it, then "..." when cut.
 */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sealctl.h"

void	sealctl_json_u64(FILE *fp, uint64_t v)
{
	char	buf[24], *p = buf + sizeof(buf);

	do {
		*--p = (char) ('0' + v % 10);
		v /= 10;
	} while (v);
	fwrite_unlocked(p, 1, (size_t) (buf + sizeof(buf) - p), fp);
}

void	sealctl_json_str(FILE *fp, const char *str)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *) (str ? str : "");
	size_t	n = strlen((const char *) s), run = 0, i = 0, k;

	putc_unlocked('"', fp);
	while (i < n) {
		unsigned char c = s[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			i++, run++;
			continue;
		}
		if (c >= 0x80 && (k = sg_utf8_len(s + i, n - i)) > 0) {
			i += k, run += k;
			continue;
		}
		fwrite_unlocked(s + i - run, 1, run, fp);
		run = 0;
		if (c == '"' || c == '\\') {
			putc_unlocked('\\', fp);
			putc_unlocked(c, fp);
		} else {
			fputs_unlocked("\\u00", fp);
			putc_unlocked(hex[c >> 4], fp);
			putc_unlocked(hex[c & 15], fp);
		}
		i++;
	}
	fwrite_unlocked(s + n - run, 1, run, fp);
	putc_unlocked('"', fp);
}

void	sealctl_json_key(FILE *fp, const char *key, bool first)
{
	if (!first)
		putc_unlocked(',', fp);
	putc_unlocked('"', fp);
	fputs_unlocked(key, fp);
	fputs_unlocked("\":", fp);
}

void	sealctl_json_kv_str(FILE *fp, const char *key, const char *v, bool first)
{
	sealctl_json_key(fp, key, first);
	sealctl_json_str(fp, v);
}

void	sealctl_json_kv_u64(FILE *fp, const char *key, uint64_t v, bool first)
{
	sealctl_json_key(fp, key, first);
	sealctl_json_u64(fp, v);
}

static void two(char *p, int v)
{
	p[0] = (char) ('0' + v / 10);
	p[1] = (char) ('0' + v % 10);
}

/*
 * sealctl_time - ISO 8601 in UTC. Listings print many times of the same
 * day: the date is made once per day (gmtime_r), the time by hand.
 */
char   *sealctl_time(int64_t ms, char *buf, size_t len)
{
	static int64_t day = INT64_MIN;	/* sealctl is single-threaded */
	static char date[40];
	int64_t	t = ms / 1000, d = t / 86400, sec = t % 86400;
	time_t	tt = (time_t) t;
	struct tm tm;

	if (ms <= 0 || len < 21) {
		snprintf(buf, len, "-");
		return (buf);
	}
	if (d != day) {
		if (gmtime_r(&tt, &tm) == NULL) {
			snprintf(buf, len, "-");
			return (buf);
		}
		snprintf(date, sizeof(date), "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday);
		day = d;
	}
	memcpy(buf, date, 10);
	buf[10] = 'T';
	two(buf + 11, (int) (sec / 3600));
	buf[13] = ':';
	two(buf + 14, (int) (sec / 60 % 60));
	buf[16] = ':';
	two(buf + 17, (int) (sec % 60));
	buf[19] = 'Z';
	buf[20] = 0;
	return (buf);
}

void	sealctl_json_kv_time(FILE *fp, const char *key, int64_t ms, bool first)
{
	char	t[32];

	sealctl_json_kv_str(fp, key, ms > 0 ? sealctl_time(ms, t, sizeof(t)) : "", first);
}

void	sealctl_put_text(FILE *fp, const char *str, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *) (str ? str : "");
	size_t	n = strlen((const char *) s), i = 0, k;

	while (i < n && i < max) {
		unsigned char c = s[i];

		k = c >= 0x80 ? sg_utf8_len(s + i, n - i) : 0;
		if (k > 0) {
			if (i + k > max)
				break;		/* a character that no longer fits */
			fwrite_unlocked(s + i, 1, k, fp);
			i += k;
		} else if (c >= 0x20 && c < 0x7f) {
			putc_unlocked(c, fp);
			i++;
		} else {
			fputs_unlocked("\\x", fp);
			putc_unlocked(hex[c >> 4], fp);
			putc_unlocked(hex[c & 15], fp);
			i++;
		}
	}
	if (i < n)
		fputs_unlocked("...", fp);
}
