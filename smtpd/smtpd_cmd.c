/*
 * NAME
 *	smtpd_cmd 3
 * SUMMARY
 *	ESMTP parameters of MAIL and RCPT
 * SYNOPSIS
 *	#include "smtpd/smtpd_int.h"
 *
 *	const char *smtpd_mail_params(p, len, max_size, out)
 *	const char *smtpd_rcpt_params(p, len, out)
 *	bool	smtpd_xtext_valid(p, len)
 * DESCRIPTION
 *	smtpd_mail_params() parses the parameters after the reverse path:
 *	SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8 (RFC 6531), RET and ENVID
 *	(RFC 3461). smtpd_rcpt_params() parses NOTIFY and ORCPT (RFC 3461).
 *	Both read exactly len bytes and return NULL when all parameters are
 *	good, or the complete reply for the first bad one: an unknown or
 *	repeated keyword, a value of the wrong form, a SIZE that is not a
 *	number (501 5.5.4) or that is over max_size or overflows (552 5.3.4).
 *	Returned strings are constants; pointers in out point into p.
 *
 *	smtpd_xtext_valid() checks RFC 3461 xtext: printable ASCII except
 *	"+" and "=", with "+XX" hex escapes.
 */

#include <strings.h>
#include <string.h>

#include "smtpd_int.h"

/* param_next - the next "KEY[=VALUE]" word; false at the end */

static bool param_next(const char **p, const char *end, const char **key, size_t *klen,
		       const char **val, size_t *vlen)
{
	const char *s = *p, *e, *eq;

	while (s < end && *s == ' ')
		s++;
	if (s == end)
		return (false);
	e = memchr(s, ' ', (size_t) (end - s));
	if (e == NULL)
		e = end;
	eq = memchr(s, '=', (size_t) (e - s));
	*key = s;
	*klen = (size_t) ((eq ? eq : e) - s);
	*val = eq ? eq + 1 : NULL;
	*vlen = eq ? (size_t) (e - eq - 1) : 0;
	*p = e;
	return (true);
}

static bool is(const char *key, size_t klen, const char *name)
{
	return (strlen(name) == klen && strncasecmp(key, name, klen) == 0);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

bool	smtpd_xtext_valid(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) p[i];

		if (c == '+') {
			if (i + 2 >= len || hexval(p[i + 1]) < 0 || hexval(p[i + 2]) < 0)
				return (false);
			i += 2;
		} else if (c < 33 || c > 126 || c == '=') {
			return (false);
		}
	}
	return (true);
}

/* mail_size - the SIZE value: digits only, bounded, no wrap */

static const char *mail_size(const char *v, size_t vlen, uint64_t max,
			     struct smtpd_mail_params *mp)
{
	uint64_t n;

	if (v == NULL || vlen == 0)
		return ("501 5.5.4 Bad SIZE parameter");
	for (size_t i = 0; i < vlen; i++)
		if (v[i] < '0' || v[i] > '9')
			return ("501 5.5.4 Bad SIZE parameter");
	if (sg_parse_u64(v, vlen, &n) < 0 || n > max)
		return ("552 5.3.4 Message size exceeds fixed limit");
	mp->size = n;
	mp->size_given = true;
	return (NULL);
}

const char *smtpd_mail_params(const char *p, size_t len, uint64_t max_size,
			      struct smtpd_mail_params *mp)
{
	const char *end = p + len, *k, *v;
	size_t	kl, vl;
	const char *err;

	memset(mp, 0, sizeof(*mp));
	while (param_next(&p, end, &k, &kl, &v, &vl)) {
		if (is(k, kl, "SIZE")) {
			if (mp->size_given)
				return ("501 5.5.4 Duplicate SIZE parameter");
			if ((err = mail_size(v, vl, max_size, mp)) != NULL)
				return (err);
		} else if (is(k, kl, "BODY")) {
			if (mp->body)
				return ("501 5.5.4 Duplicate BODY parameter");
			if (v && is(v, vl, "7BIT"))
				mp->body = 7;
			else if (v && is(v, vl, "8BITMIME"))
				mp->body = 8;
			else
				return ("501 5.5.4 Bad BODY parameter");
		} else if (is(k, kl, "SMTPUTF8")) {
			if (v || mp->smtputf8)
				return ("501 5.5.4 Bad SMTPUTF8 parameter");
			mp->smtputf8 = true;
		} else if (is(k, kl, "RET")) {
			if (mp->ret)
				return ("501 5.5.4 Duplicate RET parameter");
			if (v && is(v, vl, "FULL"))
				mp->ret = SMTPD_RET_FULL;
			else if (v && is(v, vl, "HDRS"))
				mp->ret = SMTPD_RET_HDRS;
			else
				return ("501 5.5.4 Bad RET parameter");
		} else if (is(k, kl, "ENVID")) {
			if (mp->envid)
				return ("501 5.5.4 Duplicate ENVID parameter");
			if (v == NULL || vl == 0 || vl > SMTPD_ENVID_MAX || !smtpd_xtext_valid(v, vl))
				return ("501 5.5.4 Bad ENVID parameter");
			mp->envid = v;
			mp->envid_len = vl;
		} else {
			return ("555 5.5.4 Unsupported MAIL parameter");
		}
	}
	return (NULL);
}

/* rcpt_notify - NEVER alone, or a list of SUCCESS, FAILURE, DELAY */

static const char *rcpt_notify(const char *v, size_t vl, unsigned *out)
{
	const char *end = v + vl;
	unsigned bits = 0;

	if (v == NULL || vl == 0)
		return ("501 5.5.4 Bad NOTIFY parameter");
	while (v < end) {
		const char *c = memchr(v, ',', (size_t) (end - v));
		size_t	n = (size_t) ((c ? c : end) - v);
		unsigned b;

		if (is(v, n, "NEVER"))
			b = SMTPD_NOTIFY_NEVER;
		else if (is(v, n, "SUCCESS"))
			b = SMTPD_NOTIFY_SUCCESS;
		else if (is(v, n, "FAILURE"))
			b = SMTPD_NOTIFY_FAILURE;
		else if (is(v, n, "DELAY"))
			b = SMTPD_NOTIFY_DELAY;
		else
			return ("501 5.5.4 Bad NOTIFY parameter");
		if (bits & b)
			return ("501 5.5.4 Bad NOTIFY parameter");
		bits |= b;
		v += n + (c ? 1 : 0);
		if (c && v == end)
			return ("501 5.5.4 Bad NOTIFY parameter");
	}
	if ((bits & SMTPD_NOTIFY_NEVER) && bits != SMTPD_NOTIFY_NEVER)
		return ("501 5.5.4 Bad NOTIFY parameter");
	*out = bits;
	return (NULL);
}

/* rcpt_orcpt - addr-type ";" xtext */

static bool rcpt_orcpt(const char *v, size_t vl)
{
	const char *semi;

	if (v == NULL || vl == 0 || vl > SMTPD_ORCPT_MAX)
		return (false);
	if ((semi = memchr(v, ';', vl)) == NULL || semi == v)
		return (false);
	for (const char *t = v; t < semi; t++)
		if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z')
		      || (*t >= '0' && *t <= '9') || *t == '-'))
			return (false);
	return (smtpd_xtext_valid(semi + 1, (size_t) (v + vl - semi - 1)));
}

const char *smtpd_rcpt_params(const char *p, size_t len, struct smtpd_rcpt_params *rp)
{
	const char *end = p + len, *k, *v;
	size_t	kl, vl;
	const char *err;

	memset(rp, 0, sizeof(*rp));
	while (param_next(&p, end, &k, &kl, &v, &vl)) {
		if (is(k, kl, "NOTIFY")) {
			if (rp->notify)
				return ("501 5.5.4 Duplicate NOTIFY parameter");
			if ((err = rcpt_notify(v, vl, &rp->notify)) != NULL)
				return (err);
		} else if (is(k, kl, "ORCPT")) {
			if (rp->orcpt)
				return ("501 5.5.4 Duplicate ORCPT parameter");
			if (!rcpt_orcpt(v, vl))
				return ("501 5.5.4 Bad ORCPT parameter");
			rp->orcpt = v;
			rp->orcpt_len = vl;
		} else {
			return ("555 5.5.4 Unsupported RCPT parameter");
		}
	}
	return (NULL);
}
