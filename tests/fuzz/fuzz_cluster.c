/*
 * NAME
 *	fuzz_cluster 1
 * SUMMARY
 *	libFuzzer target: the outbox entry parser and the SQL the cluster
 *	role makes of untrusted records
 * DESCRIPTION
 *	The first byte picks what the rest is, modulo 3. 2: a certificate
 *	record from the queue (queue_cert_decode(), with or without a mac):
 *	what decodes must encode back to the same bytes, its mac input stay
 *	in bounds, and its row's SQL be well quoted as below. 0: an outbox entry as read from disk, the second byte the key's length (the value is what
 *	follows it): queue_outbox_parse() must accept exactly the 9-byte
 *	keys of kind 1 or 2 with an 8-byte value, and reject the rest.
 *	1: a tracking record (queue_env_decode()); when it decodes, the
 *	batch SQL of it (cluster_batch_add(), cluster_batch_sql()) must be
 *	well quoted: every literal E'...' ends, inside it every quote and
 *	backslash is doubled, no control byte, valid UTF-8, and nothing of
 *	the record's text outside literals. The input is copied without
 *	slack so that a read past its length trips ASan.
 */

#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

/* check_literal - the literal starting at s[i] (after E'); returns its end */

static size_t check_literal(const unsigned char *s, size_t n, size_t i)
{
	while (i < n) {
		if (s[i] == '\\' || s[i] == '\'') {
			if (i + 1 < n && s[i + 1] == s[i]) {
				i += 2;
				continue;
			}
			if (s[i] == '\\')
				abort();	/* a lone backslash */
			return (i + 1);	/* the closing quote */
		}
		if (s[i] < 0x20 || s[i] == 0x7f)
			abort();
		if (s[i] >= 0x80) {
			size_t	k = sg_utf8_len(s + i, n - i);

			if (k == 0)
				abort();
			i += k;
			continue;
		}
		i++;
	}
	abort();			/* never closed */
}

/* check_sql - outside literals only what cluster_ship.c writes itself */

static void check_sql(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		if (s[i] == 'E' && i + 1 < n && s[i + 1] == '\'') {
			i = check_literal(s, n, i + 2);
			continue;
		}
		if (n - i >= 13 && memcmp(s + i, "'sg_cert_seq'", 13) == 0) {
			i += 13;		/* the one name the SQL quotes */
			continue;
		}
		if (s[i] == '\'') {
			/* decode('hex','hex') and 'hex': hex digits and letters only */
			for (i++; i < n && s[i] != '\''; i++)
				if (!strchr("0123456789abcdefhx", s[i]))
					abort();
			if (i == n)
				abort();
			i++;
			continue;
		}
		if (s[i] < 0x20 || s[i] >= 0x7f || s[i] == '\\')
			abort();
		i++;
	}
}

static void fuzz_entry(const uint8_t *p, size_t n)
{
	struct queue_outbox_item it;
	size_t	klen;
	int	rc;

	if (n < 1)
		return;
	klen = p[0] < n - 1 ? p[0] : n - 1;
	memset(&it, 0, sizeof(it));
	rc = queue_outbox_parse(p + 1, klen, p + 1 + klen, n - 1 - klen, &it);
	if ((rc == 0) != (klen == 9 && n - 1 - klen == 8 && p[1] >= 1 && p[1] <= 3))
		abort();
}

/* fuzz_cert - a certificate record from disk: what decodes encodes back the same */

static void fuzz_cert(const uint8_t *p, size_t n)
{
	struct queue_cert_rec r;
	struct queue_outbox_item it;
	struct cluster_batch batch = {.track = SG_BUF_INIT,.inc = SG_BUF_INIT,.cert = SG_BUF_INIT };
	struct sg_buf b = SG_BUF_INIT, sql = SG_BUF_INIT;
	uint8_t	in[QUEUE_CERT_MAC_INPUT];

	if (queue_cert_decode(p, n, &r) != 0)
		return;
	if (strlen(r.gateway) >= sizeof(r.gw) || r.len == 0 || r.len > QUEUE_CERT_MAX
	    || (const uint8_t *) r.data + r.len != p + n)
		abort();
	if (queue_cert_encode(&r, &b) != 0 || b.len != n || memcmp(b.data, p, n) != 0)
		abort();
	if (queue_cert_mac_input(&r, in) > sizeof(in))
		abort();
	sg_buf_free(&b);
	/* its row (a removal's DELETE too) as the cluster role ships it */
	memset(&it, 0, sizeof(it));
	it.kind = QUEUE_OUTBOX_CERT;
	it.cert = r;
	it.cert.gateway = it.cert.gw;
	cluster_batch_add(&batch, "node-1", &it);
	cluster_batch_sql(&batch, &sql);
	check_sql((const unsigned char *) sql.data, sql.len);
	cluster_batch_free(&batch);
	sg_buf_free(&sql);
}

static void fuzz_record(const uint8_t *p, size_t n)
{
	struct queue_outbox_item it;
	struct cluster_batch b = {.track = SG_BUF_INIT,.inc = SG_BUF_INIT,.cert = SG_BUF_INIT };
	struct sg_buf sql = SG_BUF_INIT;

	memset(&it, 0, sizeof(it));
	queue_env_init(&it.env);
	if (queue_env_decode(p, n, &it.env) == 0) {
		it.kind = QUEUE_OUTBOX_TRACK;
		it.raw = p;
		it.raw_len = n;
		cluster_batch_add(&b, "node-1", &it);
		cluster_batch_sql(&b, &sql);
		check_sql((const unsigned char *) sql.data, sql.len);
	}
	queue_env_free(&it.env);
	cluster_batch_free(&b);
	sg_buf_free(&sql);
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	uint8_t *p;

	if (len < 1)
		return (0);
	p = malloc(len - 1 ? len - 1 : 1);
	memcpy(p, data + 1, len - 1);
	if (data[0] % 3 == 1)
		fuzz_record(p, len - 1);
	else if (data[0] % 3 == 2)
		fuzz_cert(p, len - 1);
	else
		fuzz_entry(p, len - 1);
	free(p);
	return (0);
}
