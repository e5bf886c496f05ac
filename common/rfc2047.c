/*
 * NAME
 *	rfc2047 3
 * SUMMARY
 *	a header value's RFC 2047 encoded-words decoded to UTF-8, bounded
 * SYNOPSIS
 *	#include "common/sg.h"
 *
 *	size_t	sg_rfc2047_decode(in, len, out, outlen)
 * DESCRIPTION
 *	sg_rfc2047_decode() reads exactly len bytes of an unfolded header
 *	value (what sg_header_get() gives) and writes it to out as UTF-8,
 *	NUL-terminated, at most outlen - 1 bytes, cut only between
 *	characters. It returns the length written (0 when outlen is 0).
 *
 *	An encoded-word is "=?charset?B?text?=" or "=?charset?Q?text?="
 *	(either case; a language after "*" in the charset, RFC 2231, is
 *	ignored) with at most SG_RFC2047_WORD_MAX bytes of text. Q text
 *	turns "_" into a space and "=XX" into that byte; B text is base64,
 *	padding optional. White space between two encoded-words is dropped
 *	(RFC 2047 6.2). The decoded bytes are converted from their charset:
 *	UTF-8, US-ASCII, ISO-8859-1, ISO-8859-15 and Windows-1252 directly,
 *	any other charset with iconv(3). A word that does not decode (bad
 *	base64, a charset iconv does not know, bytes invalid in it) is kept
 *	as it was written.
 *
 *	Text outside encoded-words is copied; 8-bit bytes there that are not
 *	well-formed UTF-8 are taken as Windows-1252 (what such raw headers
 *	mostly are). UTF-8 that is not well-formed inside a decoded word
 *	becomes U+FFFD. Control characters (NUL, tab, CR, LF, DEL, and
 *	U+0080 to U+009F) become spaces, so the result is one printable
 *	line that never holds a NUL.
 *
 *	Nothing is read outside [in, in + len) or written outside
 *	[out, out + outlen); no memory is allocated except by iconv for the
 *	charsets it handles.
 */

#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <strings.h>

#include "sg.h"

#define CHARSET_MAX 40

struct out {
	char   *p;
	size_t	n;
	size_t	max;			/* outlen - 1: room for the NUL */
	bool	full;
};

/* put_cp - one code point as UTF-8, whole or not at all */

static void put_cp(struct out *o, uint32_t cp)
{
	unsigned char b[4];
	size_t	k;

	if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
		cp = ' ';
	if (cp >= 0xd800 && cp <= 0xdfff)
		cp = 0xfffd;
	if (cp < 0x80) {
		b[0] = (unsigned char) cp, k = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char) (0xc0 | cp >> 6), b[1] = (unsigned char) (0x80 | (cp & 0x3f));
		k = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char) (0xe0 | cp >> 12);
		b[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char) (0x80 | (cp & 0x3f));
		k = 3;
	} else {
		b[0] = (unsigned char) (0xf0 | cp >> 18);
		b[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char) (0x80 | (cp & 0x3f));
		k = 4;
	}
	if (o->full || o->n + k > o->max) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->n, b, k);
	o->n += k;
}

/* utf8_cp - the code point of a well-formed sequence of n bytes */

static uint32_t utf8_cp(const unsigned char *s, size_t n)
{
	uint32_t cp = s[0] & (n == 2 ? 0x1f : n == 3 ? 0x0f : 0x07);

	for (size_t i = 1; i < n; i++)
		cp = (cp << 6) | (s[i] & 0x3f);
	return (cp);
}

/* Windows-1252 0x80..0x9f; 0xfffd where it defines nothing */
static const uint16_t cp1252[32] = {
	0x20ac, 0xfffd, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0xfffd, 0x017d, 0xfffd,
	0xfffd, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0xfffd, 0x017e, 0x0178,
};

static uint32_t latin9(unsigned char c)
{
	switch (c) {
	case 0xa4: return (0x20ac);
	case 0xa6: return (0x0160);
	case 0xa8: return (0x0161);
	case 0xb4: return (0x017d);
	case 0xb8: return (0x017e);
	case 0xbc: return (0x0152);
	case 0xbd: return (0x0153);
	case 0xbe: return (0x0178);
	default: return (c);
	}
}

enum cs { CS_UTF8, CS_ASCII, CS_LATIN1, CS_LATIN9, CS_CP1252, CS_OTHER };

static enum cs charset_kind(const char *cs)
{
	static const struct {
		const char *name;
		enum cs kind;
	} names[] = {
		{"utf-8", CS_UTF8}, {"utf8", CS_UTF8}, {"us-ascii", CS_ASCII}, {"ascii", CS_ASCII},
		{"iso-8859-1", CS_LATIN1}, {"iso8859-1", CS_LATIN1}, {"iso_8859-1", CS_LATIN1},
		{"latin1", CS_LATIN1}, {"l1", CS_LATIN1}, {"iso-8859-15", CS_LATIN9},
		{"iso8859-15", CS_LATIN9}, {"iso_8859-15", CS_LATIN9}, {"latin-9", CS_LATIN9},
		{"latin9", CS_LATIN9}, {"windows-1252", CS_CP1252}, {"cp1252", CS_CP1252},
	};

	for (size_t i = 0; i < SG_NELEM(names); i++)
		if (strcasecmp(cs, names[i].name) == 0)
			return (names[i].kind);
	return (CS_OTHER);
}

/* put_8bit - one byte of a single-byte charset */

static void put_8bit(struct out *o, enum cs kind, unsigned char c)
{
	if (c < 0x80)
		put_cp(o, c);
	else if (kind == CS_ASCII)
		put_cp(o, 0xfffd);
	else if (kind == CS_LATIN9)
		put_cp(o, latin9(c));
	else if (kind == CS_CP1252 && c < 0xa0)
		put_cp(o, cp1252[c - 0x80]);
	else
		put_cp(o, c);
}

/* put_text - bytes in charset kind; bad UTF-8 becomes bad (0xfffd, or cp1252: -1) */

static void put_text(struct out *o, enum cs kind, const unsigned char *s, size_t len,
		     bool raw)
{
	size_t	i = 0, k;

	while (i < len && !o->full) {
		if (kind != CS_UTF8 || s[i] < 0x80) {
			put_8bit(o, kind, s[i++]);
		} else if ((k = sg_utf8_len(s + i, len - i)) > 0) {
			put_cp(o, utf8_cp(s + i, k));
			i += k;
		} else if (raw) {
			put_8bit(o, CS_CP1252, s[i++]);
		} else {
			put_cp(o, 0xfffd);
			i++;
		}
	}
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/* q_decode - Q text into dst (room for len bytes); its length */

static size_t q_decode(const unsigned char *s, size_t len, unsigned char *dst)
{
	size_t	n = 0;

	for (size_t i = 0; i < len; i++) {
		int	hi, lo;

		if (s[i] == '_') {
			dst[n++] = ' ';
		} else if (s[i] == '=' && i + 2 < len && (hi = hexval(s[i + 1])) >= 0
			   && (lo = hexval(s[i + 2])) >= 0) {
			dst[n++] = (unsigned char) (hi << 4 | lo);
			i += 2;
		} else {
			dst[n++] = s[i];
		}
	}
	return (n);
}

/* b_decode - base64 text into dst (room for len bytes); -1 when malformed */

static long b_decode(const unsigned char *s, size_t len, unsigned char *dst)
{
	uint32_t acc = 0;
	size_t	n = 0, bits = 0, i = 0;
	int	v;

	for (; i < len && s[i] != '='; i++) {
		if ((v = sg_base64_value(s[i])) < 0)
			return (-1);
		acc = (acc << 6) | (uint32_t) v;
		if ((bits += 6) >= 8) {
			bits -= 8;
			dst[n++] = (unsigned char) (acc >> bits);
		}
	}
	for (; i < len; i++)			/* only padding may follow */
		if (s[i] != '=')
			return (-1);
	return (bits >= 6 ? -1 : (long) n);	/* a lone sextet is no byte */
}

/* put_iconv - bytes in another charset through iconv; false: it cannot */

static bool put_iconv(struct out *o, const char *charset, const unsigned char *s, size_t len)
{
	char	buf[4 * SG_RFC2047_WORD_MAX + 16], *in = (char *) s, *op = buf;
	size_t	inleft = len, outleft = sizeof(buf);
	iconv_t	cd = iconv_open("UTF-8", charset);
	size_t	rc;

	if (cd == (iconv_t) -1)
		return (false);
	rc = iconv(cd, &in, &inleft, &op, &outleft);
	if (rc != (size_t) -1)
		rc = iconv(cd, NULL, NULL, &op, &outleft);
	iconv_close(cd);
	if (rc == (size_t) -1 || inleft != 0)
		return (false);
	put_text(o, CS_UTF8, (const unsigned char *) buf, sizeof(buf) - outleft, false);
	return (true);
}

/* charset_ok - a name worth handing to iconv */

static bool charset_ok(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')
		      || strchr("-_.:+", *s)))
			return (false);
	return (true);
}

/*
 * word_len - the length of the encoded-word at s (starting "=?"), with its
 * charset (without a language) in cs and its text span, or 0.
 */
static size_t word_len(const unsigned char *s, size_t len, char cs[CHARSET_MAX + 1],
		       int *enc, const unsigned char **text, size_t *tlen)
{
	size_t	i = 2, c0 = 2, clen;
	char   *star;

	while (i < len && s[i] != '?' && s[i] > ' ' && s[i] < 0x7f)
		i++;
	clen = i - c0;
	if (i + 3 > len || s[i] != '?' || clen == 0 || s[i + 2] != '?')
		return (0);
	*enc = s[i + 1] == 'b' || s[i + 1] == 'B' ? 'B' : s[i + 1] == 'q' || s[i + 1] == 'Q' ? 'Q' : 0;
	if (*enc == 0)
		return (0);
	*text = s + i + 3;
	for (i += 3; i + 1 < len && !(s[i] == '?' && s[i + 1] == '='); i++)
		if (s[i] <= ' ' || s[i] >= 0x7f)
			return (0);
	if (i + 1 >= len)
		return (0);
	*tlen = (size_t) (s + i - *text);
	if (*tlen > SG_RFC2047_WORD_MAX)
		return (0);
	if (clen > CHARSET_MAX)
		return (0);
	memcpy(cs, s + c0, clen);
	cs[clen] = 0;
	if ((star = strchr(cs, '*')) != NULL)
		*star = 0;			/* RFC 2231 language */
	return (cs[0] == 0 ? 0 : i + 2);
}

/* put_word - decode one encoded-word; false leaves out unchanged */

static bool put_word(struct out *o, const char *cs, int enc, const unsigned char *text,
		     size_t tlen)
{
	unsigned char raw[SG_RFC2047_WORD_MAX];
	long	n = enc == 'B' ? b_decode(text, tlen, raw) : (long) q_decode(text, tlen, raw);
	enum cs kind = charset_kind(cs);
	struct out save = *o;

	if (n < 0)
		return (false);
	if (kind != CS_OTHER) {
		put_text(o, kind, raw, (size_t) n, false);
		return (true);
	}
	if (charset_ok(cs) && put_iconv(o, cs, raw, (size_t) n))
		return (true);
	*o = save;
	return (false);
}

size_t	sg_rfc2047_decode(const char *in, size_t len, char *out, size_t outlen)
{
	const unsigned char *s = (const unsigned char *) in;
	struct out o = {out, 0, outlen ? outlen - 1 : 0, false};
	size_t	i = 0, after_word = 0, wl, tlen = 0, k;
	bool	was_word = false;	/* only white space since the last word */
	char	cs[CHARSET_MAX + 1];
	const unsigned char *text = NULL;
	int	enc = 0;

	if (outlen == 0)
		return (0);
	while (i < len && !o.full) {
		if (s[i] == '=' && i + 1 < len && s[i + 1] == '?'
		    && (wl = word_len(s + i, len - i, cs, &enc, &text, &tlen)) > 0) {
			size_t	before = o.n;

			if (was_word)
				o.n = after_word;	/* drop the white space between words */
			if (put_word(&o, cs, enc, text, tlen)) {
				i += wl;
				after_word = o.n;
				was_word = true;
				continue;
			}
			o.n = before;
			put_text(&o, CS_CP1252, s + i, wl, true);
			i += wl;
			was_word = false;
			continue;
		}
		if (s[i] == ' ' || s[i] == '\t') {
			put_cp(&o, ' ');
			i++;
			continue;
		}
		was_word = false;
		if (s[i] >= 0x80 && (k = sg_utf8_len(s + i, len - i)) > 0) {
			put_cp(&o, utf8_cp(s + i, k));
			i += k;
		} else {
			put_8bit(&o, CS_CP1252, s[i++]);
		}
	}
	out[o.n] = 0;
	return (o.n);
}
