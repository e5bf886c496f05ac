/*
 * NAME
 *	fuzz_mime 1
 * SUMMARY
 *	libFuzzer target: worker/ MIME framing, 7-bit conversion, long lines, base64
 * DESCRIPTION
 *	Feeds the bytes, canonicalised, to the entity parser, the multipart
 *	splitter, the 7-bit converter, the long-line legaliser and the
 *	message splitter, and raw to the legaliser and the base64 decoder.
 *	Besides memory errors it checks invariants: part spans lie inside
 *	the entity, 7-bit output is 7-bit and parses again, the RFC 8551
 *	3.1.1 protection is its own fixed point, base64
 *	round-trips, and the legaliser's output has no line over 998
 *	octets, is its own fixed point, equals an input that had no such
 *	line, parses when the input did (unless lines had to be broken), and
 *	survives the 7-bit conversion signing applies after it.
 */

#include <stdlib.h>
#include <string.h>

#include "worker/worker.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

/* check_7bit - what we made parses, and converting it again changes nothing */

static void check_7bit(const char *p, size_t len)
{
	struct worker_mime_entity e;
	struct sg_buf again = SG_BUF_INIT;

	if (worker_mime_parse(p, len, &e) < 0)
		abort();
	if (worker_mime_to_7bit(p, len, &again) < 0 || again.len != len
	    || memcmp(again.data, p, len) != 0)
		abort();
	sg_buf_free(&again);
}

/* check_protected - protected output is 7-bit and needs no more protection */

static void check_protected(const char *p, size_t len)
{
	struct sg_buf again = SG_BUF_INIT;

	check_7bit(p, len);
	if (worker_mime_protect(p, len, &again) < 0 || again.len != len
	    || memcmp(again.data, p, len) != 0)
		abort();
	sg_buf_free(&again);
}

/* check_legal - worker_mime_legal() on p, and what must hold of its output */

static void check_legal(const char *p, size_t len)
{
	struct sg_buf o = SG_BUF_INIT, again = SG_BUF_INIT, seven = SG_BUF_INIT;
	struct worker_mime_entity e;
	unsigned how, how2;
	bool	parsed = worker_mime_parse(p, len, &e) == 0;

	if (worker_mime_legal(p, len, &o, &how) < 0 || worker_mime_long(o.data, o.len))
		abort();
	if (!worker_mime_long(p, len) && (how || o.len != len || (len && memcmp(o.data, p, len))))
		abort();
	if (worker_mime_legal(o.data, o.len, &again, &how2) < 0 || how2 || again.len != o.len
	    || (o.len && memcmp(again.data, o.data, o.len) != 0))
		abort();
	/* a folded field grows by its CRLFs: keep clear of the field limit */
	if (parsed && !(how & WORKER_LEGAL_BROKEN) && len < WORKER_MIME_FIELD_MAX / 2
	    && worker_mime_parse(o.data, o.len, &e) < 0)
		abort();
	if (worker_mime_to_7bit(o.data, o.len, &seven) == 0)
		check_7bit(seven.data, seven.len);
	sg_buf_free(&o);
	sg_buf_free(&again);
	sg_buf_free(&seven);
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct sg_buf c = SG_BUF_INIT, o = SG_BUF_INIT, e = SG_BUF_INIT, d = SG_BUF_INIT;
	struct worker_mime_entity ent;
	struct worker_mime_span parts[WORKER_MIME_PARTS];
	size_t	n;
	char   *copy = malloc(len ? len : 1);

	memcpy(copy, data, len);
	worker_mime_canon(copy, len, &c);
	/* exact-size copy so a read past the end trips ASan */
	char   *m = malloc(c.len ? c.len : 1);

	memcpy(m, c.data, c.len);
	if (worker_mime_parse(m, c.len, &ent) == 0 && strcmp(ent.type, "multipart") == 0
	    && worker_mime_parts(&ent, parts, SG_NELEM(parts), &n) == 0) {
		for (size_t i = 0; i < n; i++)
			if (parts[i].off < ent.body_off || parts[i].off + parts[i].len > c.len)
				abort();
	}
	if (worker_mime_to_7bit(m, c.len, &o) == 0)
		check_7bit(o.data, o.len);
	sg_buf_reset(&o);
	if (worker_mime_protect(m, c.len, &o) == 0)
		check_protected(o.data, o.len);
	sg_buf_reset(&o);
	check_legal(m, c.len);
	check_legal(copy, len);
	(void) worker_mime_split(m, c.len, "X-Sealgate-Signature", &o, &e);
	sg_buf_reset(&o);
	if (worker_mime_base64_decode(copy, len, &d) == 0) {
		worker_mime_base64_encode(d.data, d.len, &o);
		sg_buf_reset(&e);
		if (worker_mime_base64_decode(o.data, o.len, &e) < 0 || e.len != d.len
		    || memcmp(e.data, d.data, d.len) != 0)
			abort();
	}
	free(m);
	free(copy);
	sg_buf_free(&c);
	sg_buf_free(&o);
	sg_buf_free(&e);
	sg_buf_free(&d);
	return (0);
}
