/*
 * NAME
 *	sealctl_json 3
 * SUMMARY
 *	sealctl's output helpers: a buffered writer, JSON values, times,
 *	untrusted text
 * SYNOPSIS
 *	#include "cmd/sealctl.h"
 *
 *	void	sealctl_out_init(o, fp, buf, cap)
 *	char	*sealctl_out_room(o, n)
 *	void	sealctl_out_mem(o, p, n)
 *	void	sealctl_out_json(o, s, n)
 *	void	sealctl_out_u64(o, v)
 *	int	sealctl_out_flush(o)
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
 *
 *	A struct sealctl_out gathers output in the caller's buffer (cap
 *	bytes, at least 64) and hands it to fp in large writes: a listing of
 *	a million messages makes a few hundred calls into stdio instead of
 *	tens of millions. sealctl_out_room() makes room for n more bytes
 *	(n at most cap) and returns where they go; the caller advances
 *	o->len by what it wrote. sealctl_out_flush() passes what is
 *	gathered on to fp and returns 0, or -1 when a write to fp has
 *	failed (then or before).
 *
 *	sealctl_out_json() writes a JSON string of n bytes: well-formed
 *	UTF-8 as it is, quotes and backslashes escaped, every other byte
 *	below 0x20, DEL and every byte that is not part of well-formed UTF-8
 *	as \u00XX, so the output is always valid JSON in UTF-8.
 *	sealctl_json_str() does the same on fp (through a small
 *	sealctl_out). The kv_ forms write ',"key":value' (no comma when
 *	first). Times are "YYYY-MM-DDTHH:MM:SSZ" (UTC) from milliseconds, ""
 *	for 0 in JSON. Numbers are written by hand and stdio is used
 *	unlocked.
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

/* ------------------------------------------------------- the writer */

void	sealctl_out_init(struct sealctl_out *o, FILE *fp, char *buf, size_t cap)
{
	if (cap < 64)			/* sealctl_out_json()'s slices need room */
		sg_panic("sealctl_out_init: a buffer of %zu bytes", cap);
	o->fp = fp;
	o->buf = buf;
	o->len = 0;
	o->cap = cap;
	o->err = false;
}

int	sealctl_out_flush(struct sealctl_out *o)
{
	if (o->len > 0 && !o->err && fwrite_unlocked(o->buf, 1, o->len, o->fp) != o->len)
		o->err = true;		/* then nothing more is written */
	o->len = 0;
	return (o->err ? -1 : 0);
}

char   *sealctl_out_room(struct sealctl_out *o, size_t n)
{
	if (n > o->cap)
		sg_panic("sealctl_out_room: %zu bytes asked of a %zu-byte buffer", n, o->cap);
	if (o->cap - o->len < n)
		(void) sealctl_out_flush(o);
	return (o->buf + o->len);
}

void	sealctl_out_mem(struct sealctl_out *o, const void *p, size_t n)
{
	while (n > 0) {
		size_t	k = n < o->cap ? n : o->cap;

		memcpy(sealctl_out_room(o, k), p, k);
		o->len += k;
		p = (const char *) p + k;
		n -= k;
	}
}

void	sealctl_out_u64(struct sealctl_out *o, uint64_t v)
{
	static const char pairs[] =
		"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
		"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
		"8081828384858687888990919293949596979899";
	char	tmp[24], *p = tmp + sizeof(tmp);
	size_t	n;

	/* two digits a division: a listing's times have ten */
	while (v >= 100) {
		p -= 2;
		memcpy(p, pairs + 2 * (v % 100), 2);
		v /= 100;
	}
	if (v >= 10) {
		p -= 2;
		memcpy(p, pairs + 2 * v, 2);
	} else {
		*--p = (char) ('0' + v);
	}
	n = (size_t) (tmp + sizeof(tmp) - p);
	memcpy(sealctl_out_room(o, n), p, n);
	o->len += n;
}

/*
 * plain8 - eight bytes that go out as they are: none below 0x20, none from
 * 0x7f up, no quote, no backslash (the usual tests for a byte of a word
 * below, above or equal to a value; a carry out of a byte from 0x80 up
 * only adds a false "not plain" to one already not plain)
 */
static inline bool plain8(const unsigned char *s)
{
	uint64_t w;

	memcpy(&w, s, 8);
	return (((((w - SG_ONES * 0x20) & ~w) | ((w + SG_ONES) | w)) & SG_TOPS) == 0
		&& (sg_byte_is(w, '"') | sg_byte_is(w, '\\')) == 0);
}

/*
 * sealctl_out_json - in slices of input whose worst case (6 bytes out for
 * one in, plus a UTF-8 sequence running 3 bytes past the slice) fits the
 * room made for it, so that the loop itself checks no bounds; plain text
 * eight bytes at a time
 */
void	sealctl_out_json(struct sealctl_out *o, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *) str;
	size_t	i = 0, slice = (o->cap - 8) / 6, k;

	*sealctl_out_room(o, 1) = '"';
	o->len++;
	while (i < n) {
		size_t	end = n - i > slice ? i + slice : n;
		char   *p = sealctl_out_room(o, 6 * (end - i) + 4), *start = p;

		while (i < end) {
			unsigned char c = s[i];

			if (i + 8 <= end && plain8(s + i)) {
				memcpy(p, s + i, 8);
				p += 8;
				i += 8;
			} else if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
				*p++ = (char) c;
				i++;
			} else if (c >= 0x80 && (k = sg_utf8_len(s + i, n - i)) > 0) {
				memcpy(p, s + i, k);
				p += k;
				i += k;
			} else if (c == '"' || c == '\\') {
				*p++ = '\\';
				*p++ = (char) c;
				i++;
			} else {
				memcpy(p, "\\u00", 4);
				p[4] = hex[c >> 4];
				p[5] = hex[c & 15];
				p += 6;
				i++;
			}
		}
		o->len += (size_t) (p - start);
	}
	*sealctl_out_room(o, 1) = '"';
	o->len++;
}

/* ------------------------------------------------------ FILE helpers */

void	sealctl_json_u64(FILE *fp, uint64_t v)
{
	struct sealctl_out o;
	char	buf[64];

	sealctl_out_init(&o, fp, buf, sizeof(buf));
	sealctl_out_u64(&o, v);
	(void) sealctl_out_flush(&o);
}

void	sealctl_json_str(FILE *fp, const char *str)
{
	struct sealctl_out o;
	char	buf[1024];

	sealctl_out_init(&o, fp, buf, sizeof(buf));
	sealctl_out_json(&o, str ? str : "", str ? strlen(str) : 0);
	(void) sealctl_out_flush(&o);
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
