/*
 * NAME
 *	der 3
 * SUMMARY
 *	read one BER/DER TLV: the walker for the CMS structures NSS hides
 * SYNOPSIS
 *	#include "worker/worker_int.h"
 *
 *	int	worker__der_read(p, n, t)
 *	const unsigned char *worker__der_content(t)
 *	size_t	worker__der_size(t)
 *
 *	void	worker__der_enter(t, it)
 *	int	worker__der_next(it, e)
 *	int	worker__der_octets(t, out)
 *	int	worker__der_uint(t, value)
 *
 *	void	worker__der_put_hdr(out, tag, len)
 *	void	worker__der_put(out, tag, p, len)
 * DESCRIPTION
 *	worker__der_read() reads the TLV at p (n bytes available) into t:
 *	a one-octet tag, then a definite length of at most four octets, or,
 *	for a constructed value, an indefinite length (NSS's encoder streams
 *	the outer layers of a CMS message that way), whose end-of-contents
 *	is found by reading the elements inside, at most 32 levels deep.
 *	Nothing is copied: t points into p.
 *
 *	worker__der_content() is where t's content starts; t->len bytes of
 *	it. worker__der_size() is the whole TLV: header, content and the
 *	end-of-contents octets of an indefinite length.
 *
 *	worker__der_enter() starts an iterator over the elements inside the
 *	constructed TLV t; worker__der_next() reads the next one into e:
 *	0, SG_ENOTFOUND after the last, SG_EINVAL when what follows is not
 *	a TLV that fits.
 *
 *	worker__der_octets() appends the octets of a string value t of any
 *	tag: primitive, or constructed (BER, as OpenSSL's -stream and gpgsm
 *	write encrypted content) of primitive or constructed OCTET STRING
 *	segments, to the depth worker__der_read() allows.
 *
 *	worker__der_uint() reads a non-negative INTEGER t of at most 8
 *	content octets.
 *
 *	worker__der_put_hdr() appends a tag and a definite length (DER:
 *	the shortest form) for len content octets to come;
 *	worker__der_put() appends the whole TLV with content p.
 * DIAGNOSTICS
 *	SG_EINVAL: a multi-octet tag, a length past n, a primitive value
 *	of indefinite length, or nesting deeper than 32.
 */

#include "worker_int.h"

#define DER_DEPTH 32

static int der_read_depth(const unsigned char *p, size_t n, struct worker_der *t, int depth)
{
	size_t	len = 0, nl, off;
	struct worker_der c;

	if (n < 2 || (p[0] & 0x1f) == 0x1f || depth > DER_DEPTH)
		return (SG_EINVAL);
	t->p = p;
	t->eoc = 0;
	if (p[1] == 0x80) {
		if (!(p[0] & 0x20))
			return (SG_EINVAL);
		for (off = 2; off + 2 <= n && (p[off] != 0 || p[off + 1] != 0);
		     off += c.hdr + c.len + c.eoc)
			if (der_read_depth(p + off, n - off, &c, depth + 1) < 0)
				return (SG_EINVAL);
		if (off + 2 > n)
			return (SG_EINVAL);
		t->hdr = 2;
		t->len = off - 2;
		t->eoc = 2;
		return (0);
	}
	if (p[1] < 0x80) {
		t->hdr = 2;
		len = p[1];
	} else {
		nl = p[1] & 0x7f;
		if (nl > 4 || n < 2 + nl)
			return (SG_EINVAL);
		for (size_t i = 0; i < nl; i++)
			len = len << 8 | p[2 + i];
		t->hdr = 2 + nl;
	}
	if (len > n - t->hdr)
		return (SG_EINVAL);
	t->len = len;
	return (0);
}

int	worker__der_read(const unsigned char *p, size_t n, struct worker_der *t)
{
	return (der_read_depth(p, n, t, 0));
}

const unsigned char *worker__der_content(const struct worker_der *t)
{
	return (t->p + t->hdr);
}

size_t	worker__der_size(const struct worker_der *t)
{
	return (t->hdr + t->len + t->eoc);
}

void	worker__der_enter(const struct worker_der *t, struct worker_der_it *it)
{
	it->p = worker__der_content(t);
	it->n = t->len;
	it->off = 0;
}

int	worker__der_next(struct worker_der_it *it, struct worker_der *e)
{
	if (it->off >= it->n)
		return (SG_ENOTFOUND);
	if (worker__der_read(it->p + it->off, it->n - it->off, e) < 0)
		return (SG_EINVAL);
	it->off += worker__der_size(e);
	return (0);
}

static int octets_depth(const struct worker_der *t, struct sg_buf *out, int depth)
{
	struct worker_der_it it;
	struct worker_der e;
	int	rc;

	if (!(t->p[0] & 0x20)) {
		sg_buf_append(out, worker__der_content(t), t->len);
		return (0);
	}
	if (depth > DER_DEPTH)
		return (SG_EINVAL);
	worker__der_enter(t, &it);
	while ((rc = worker__der_next(&it, &e)) == 0) {
		if ((e.p[0] & 0xdf) != 0x04)
			return (SG_EINVAL);	/* segments are OCTET STRINGs */
		if ((rc = octets_depth(&e, out, depth + 1)) < 0)
			return (rc);
	}
	return (rc == SG_ENOTFOUND ? 0 : rc);
}

int	worker__der_octets(const struct worker_der *t, struct sg_buf *out)
{
	size_t	mark = out->len;
	int	rc = octets_depth(t, out, 0);

	if (rc < 0)
		out->len = mark;
	return (rc);
}

int	worker__der_uint(const struct worker_der *t, uint64_t *v)
{
	const unsigned char *c = worker__der_content(t);
	size_t	n = t->len;

	if (t->p[0] != 0x02 || n == 0 || (c[0] & 0x80))
		return (SG_EINVAL);
	if (c[0] == 0 && n > 1) {
		c++;
		n--;
	}
	if (n > 8)
		return (SG_EINVAL);
	*v = 0;
	for (size_t i = 0; i < n; i++)
		*v = *v << 8 | c[i];
	return (0);
}

void	worker__der_put_hdr(struct sg_buf *b, unsigned char tag, size_t len)
{
	unsigned char h[6];
	size_t	n = 0;

	h[n++] = tag;
	if (len < 0x80) {
		h[n++] = (unsigned char) len;
	} else {
		size_t	nl = len > 0xffffff ? 4 : len > 0xffff ? 3 : len > 0xff ? 2 : 1;

		h[n++] = (unsigned char) (0x80 | nl);
		for (size_t i = nl; i > 0; i--)
			h[n++] = (unsigned char) (len >> (8 * (i - 1)));
	}
	sg_buf_append(b, h, n);
}

void	worker__der_put(struct sg_buf *b, unsigned char tag, const void *p, size_t len)
{
	worker__der_put_hdr(b, tag, len);
	sg_buf_append(b, p, len);
}
