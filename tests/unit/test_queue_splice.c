/*
 * NAME
 *	test_queue_splice 1
 * SUMMARY
 *	unit tests of processed bodies that refer to the original
 * DESCRIPTION
 *	A worker that hands the queue a processed body holding a run of the
 *	original (queue_body_src.same_*) gets only the rest stored: these
 *	tests read such bodies back every way the queue offers (pieces that
 *	straddle chunks and the splice, a walk), check what was stored by
 *	hand, and that a wrong claim, a removed original, a re-processing
 *	and a split all give the bytes the worker meant, or SG_ECORRUPT.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lmdb.h>
#include <cmocka.h>

#include "queue/queue.h"
#include "queue_fixture.h"

#define HEADER	"From: a@example.com\r\nSubject: big\r\n\r\n"
#define BODY	150000			/* three chunks of 64K */

struct msg {
	char   *orig;			/* header, then BODY varied bytes */
	size_t	olen;
	struct sg_buf out;		/* what the worker sends */
	struct queue_body_src src;
};

/*
 * make_msg_n - an original (its body varied bytes, or one byte repeated)
 * and a processed body of head + that body + tail, saying so
 */
static void make_msg_n(struct msg *m, const char *head, size_t hlen, const char *tail,
		       size_t tlen, bool uniform)
{
	size_t	h = strlen(HEADER);

	m->olen = h + BODY;
	m->orig = sg_xmalloc(m->olen);
	memcpy(m->orig, HEADER, h);
	for (size_t i = 0; i < BODY; i++)
		m->orig[h + i] = uniform ? 'x' : (char) ('a' + (i * 7 + i / 64) % 26);
	m->out = (struct sg_buf) SG_BUF_INIT;
	sg_buf_append(&m->out, head, hlen);
	sg_buf_append(&m->out, m->orig + h, BODY);
	sg_buf_append(&m->out, tail, tlen);
	m->src = (struct queue_body_src) {.data = m->out.data,.fd = -1,.len = m->out.len,
		.same_at = hlen,.same_off = h,.same_len = BODY };
}

static void make_msg(struct msg *m, const char *head, const char *tail)
{
	make_msg_n(m, head, strlen(head), tail, strlen(tail), false);
}

static void free_msg(struct msg *m)
{
	free(m->orig);
	sg_buf_free(&m->out);
}

static uint64_t spool_msg(struct queue *q, const struct msg *m)
{
	struct queue_body_src b = {.data = m->orig,.fd = -1,.len = m->olen};
	struct queue_env e;
	uint64_t id = 0;

	queue_env_init(&e);
	e.state = QUEUE_INCOMING;
	e.sender = "a@example.com";
	e.client_addr = "192.0.2.1";
	queue_env_rcpt_add(&e, "b@example.net");
	queue_env_rcpt_add(&e, "c@example.org");
	assert_int_equal(queue_spool(q, &e, &b, &id), 0);
	queue_env_free(&e);
	return (id);
}

/* complete - the claimed id becomes one part with body src (NULL: none) */

static void complete(struct queue *q, uint64_t id, const struct queue_body_src *src,
		     enum queue_state state)
{
	struct queue_env e;
	struct queue_part part = {.env = &e,.body = src,.state = state};

	queue_env_init(&e);
	assert_int_equal(queue_get(q, id, 0, &e), 0);
	assert_int_equal(queue_complete(q, id, "w", &part, 1, NULL), 0);
	queue_env_free(&e);
}

static void claim(struct queue *q, uint64_t want)
{
	uint64_t ids[4];
	size_t	n;

	assert_int_equal(queue_claim(q, "w", 0, 4, ids, &n), 0);
	assert_true(n == 1 && ids[0] == want);
}

/* spliced - n messages of m, each completed with m's spliced body */

static void spliced(struct fix *f, struct msg *m, uint64_t *ids, size_t n)
{
	make_msg(m, "head\r\n", "tail\r\n");
	for (size_t i = 0; i < n; i++) {
		ids[i] = spool_msg(f->q, m);
		claim(f->q, ids[i]);
		complete(f->q, ids[i], &m->src, QUEUE_READY);
	}
}

/* read_in - the processed body read in pieces of size piece */

static void read_in(struct queue *q, uint64_t id, size_t piece, struct sg_buf *out)
{
	char   *buf = sg_xmalloc(piece);
	uint64_t off = 0;
	size_t	got;

	sg_buf_reset(out);
	for (;;) {
		assert_int_equal(queue_body_read(q, id, QUEUE_BODY_PROCESSED, off, buf, piece, &got),
				 0);
		if (got == 0)
			break;
		sg_buf_append(out, buf, got);
		off += got;
	}
	free(buf);
}

static int collect(const void *chunk, size_t len, void *arg)
{
	sg_buf_append(arg, chunk, len);
	return (0);
}

static int count_bytes(const void *chunk, size_t len, void *arg)
{
	(void) chunk;
	*(uint64_t *) arg += len;
	return (0);
}

/*
 * assert_reads - every way of reading id's processed body gives want (at:
 * where the original's run starts in it, if it has one)
 */
static void assert_reads_at(struct queue *q, uint64_t id, const struct sg_buf *want, uint64_t at)
{
	static const size_t pieces[] = {1 << 20, 7000, 65536, 4093};
	struct sg_buf got = SG_BUF_INIT;
	enum queue_body_kind which;
	char	buf[3000];
	size_t	n;

	for (size_t i = 0; i < SG_NELEM(pieces); i++) {
		read_in(q, id, pieces[i], &got);
		assert_int_equal(got.len, want->len);
		assert_memory_equal(got.data, want->data, want->len);
	}
	sg_buf_reset(&got);
	assert_int_equal(queue_body_foreach(q, id, QUEUE_BODY_PROCESSED, collect, &got, &which), 0);
	assert_int_equal(got.len, want->len);
	assert_memory_equal(got.data, want->data, want->len);
	/* reads from inside: across the splice's ends, and all over */
	for (uint64_t off = 1; off < want->len; off = off < 7919 ? off * 10 : off + 7919) {
		uint64_t offs[] = {off, at > 0 ? at - 1 : 0, at + BODY - 1};

		for (size_t i = 0; i < SG_NELEM(offs); i++) {
			size_t	max = offs[i] < want->len ? (size_t) (want->len - offs[i]) : 0;

			assert_int_equal(queue_body_read(q, id, QUEUE_BODY_PROCESSED, offs[i], buf,
							 sizeof(buf), &n), 0);
			assert_int_equal(n, max < sizeof(buf) ? max : sizeof(buf));
			assert_memory_equal(buf, want->data + offs[i], n);
		}
	}
	sg_buf_free(&got);
}

static void assert_reads(struct queue *q, uint64_t id, const struct sg_buf *want)
{
	assert_reads_at(q, id, want, 0);
}

/* stored - bytes stored under (id, kind), read by hand, the queue closed */

static size_t stored(struct fix *f, uint64_t id, int kind)
{
	char	path[128];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi	dbi;
	MDB_cursor *c;
	uint8_t	kb[13];
	MDB_val	k = {9, kb}, d;
	size_t	total = 0;
	int	rc;

	queue_close(f->q);
	fixture_body_key(kb, id, kind, 0);
	snprintf(path, sizeof(path), "%s/queue", f->dir);
	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 24);
	mdb_env_set_mapsize(env, f->conf.map_size_max);
	assert_int_equal(mdb_env_open(env, path, MDB_RDONLY, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "body", 0, &dbi), 0);
	assert_int_equal(mdb_cursor_open(txn, dbi, &c), 0);
	for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0
	     && memcmp(k.mv_data, kb, 9) == 0; rc = mdb_cursor_get(c, &k, &d, MDB_NEXT))
		total += d.mv_size;
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	assert_int_equal(queue_open(&f->main, &f->conf, 0, &f->q), 0);
	return (total);
}

/* round_trip - m spooled, completed with its spliced body and read back every way */

static uint64_t round_trip(struct fix *f, struct msg *m)
{
	uint64_t id = spool_msg(f->q, m);

	claim(f->q, id);
	complete(f->q, id, &m->src, QUEUE_READY);
	assert_reads_at(f->q, id, &m->out, m->src.same_at);
	assert_int_equal(stored(f, id, QUEUE_BODY_PROCESSED), m->out.len - BODY);
	return (id);
}

static void test_spliced_body_reads_whole(void **state)
{
	struct fix *f = *state;
	struct msg m;
	struct queue_env e;
	enum queue_body_kind which;
	uint64_t id, n = 0;

	make_msg(&m, "Content-Type: multipart/signed\r\n\r\n--b\r\n", "\r\n--b\r\nsignature\r\n--b--\r\n");
	id = round_trip(f, &m);
	assert_int_equal(queue_body_foreach(f->q, id, QUEUE_BODY_PROCESSED, count_bytes, &n,
					    &which), 0);
	assert_true(which == QUEUE_BODY_PROCESSED && n == m.out.len);
	queue_env_init(&e);
	assert_int_equal(queue_get(f->q, id, 0, &e), 0);
	assert_int_equal(e.processed_size, m.out.len);
	queue_env_free(&e);
	/* only what the worker added was written (round_trip): the splice record beside it */
	assert_int_equal(stored(f, id, 2), 24);
	/* a splice at the very start and at the very end */
	for (int edge = 0; edge < 2; edge++) {
		struct msg m2;

		make_msg(&m2, edge ? "added before\r\n" : "", edge ? "" : "added after\r\n");
		round_trip(f, &m2);
		free_msg(&m2);
	}
	free_msg(&m);
}

static void test_a_wrong_claim_is_stored_as_is(void **state)
{
	struct fix *f = *state;
	struct msg m;
	uint64_t id;

	make_msg(&m, "head\r\n", "tail\r\n");
	m.out.data[5000] ^= 1;		/* the run differs in one byte */
	id = spool_msg(f->q, &m);
	claim(f->q, id);
	complete(f->q, id, &m.src, QUEUE_READY);
	assert_reads(f->q, id, &m.out);
	assert_int_equal(stored(f, id, QUEUE_BODY_PROCESSED), m.out.len);
	assert_int_equal(stored(f, id, 2), 0);
	free_msg(&m);
	/* a run said to reach past the original's end, or past the body's */
	make_msg_n(&m, "head\r\n", 6, "tail\r\n", 6, true);	/* only the length can tell */
	id = spool_msg(f->q, &m);
	m.src.same_off += 10;
	claim(f->q, id);
	complete(f->q, id, &m.src, QUEUE_READY);
	assert_reads(f->q, id, &m.out);
	assert_int_equal(stored(f, id, 2), 0);
	free_msg(&m);
	make_msg(&m, "head\r\n", "tail\r\n");
	id = spool_msg(f->q, &m);
	m.src.same_len = m.out.len;
	claim(f->q, id);
	complete(f->q, id, &m.src, QUEUE_READY);
	assert_reads(f->q, id, &m.out);
	assert_int_equal(stored(f, id, 2), 0);
	free_msg(&m);
}

/*
 * A held message processed again, then without a processed body: no
 * splice of the first run may stay behind to bend the next body.
 */
static void test_processed_again(void **state)
{
	struct fix *f = *state;
	struct msg m;
	struct sg_buf want = SG_BUF_INIT;
	uint64_t id;
	int	res;
	size_t	changed;
	const char *plain = "a short processed body\r\n";
	struct queue_body_src small = {.data = plain,.fd = -1,.len = strlen(plain)};

	make_msg(&m, "head\r\n", "tail\r\n");
	id = spool_msg(f->q, &m);
	claim(f->q, id);
	complete(f->q, id, &m.src, QUEUE_HOLD);
	assert_int_equal(stored(f, id, 2), 24);
	assert_int_equal(queue_release(f->q, &id, 1, &res, &changed), 0);
	assert_int_equal(res, 0);
	claim(f->q, id);
	complete(f->q, id, &small, QUEUE_HOLD);
	assert_int_equal(stored(f, id, 2), 0);
	sg_buf_append(&want, plain, strlen(plain));
	assert_reads(f->q, id, &want);
	assert_int_equal(queue_release(f->q, &id, 1, &res, &changed), 0);
	assert_int_equal(res, 0);
	claim(f->q, id);
	complete(f->q, id, NULL, QUEUE_READY);
	sg_buf_reset(&want);
	sg_buf_append(&want, m.orig, m.olen);
	assert_reads(f->q, id, &want);
	sg_buf_free(&want);
	free_msg(&m);
}

/* A split: each part refers to its own copy of the original. */
static void test_split_parts_refer_to_their_copy(void **state)
{
	struct fix *f = *state;
	struct msg m;
	struct queue_env e, p1, p2;
	struct queue_part parts[2];
	uint64_t id, ids[2];

	make_msg(&m, "head\r\n", "tail\r\n");
	id = spool_msg(f->q, &m);
	claim(f->q, id);
	queue_env_init(&e);
	assert_int_equal(queue_get(f->q, id, 0, &e), 0);
	p1 = e;
	p1.nrcpt = 1;
	p2 = e;
	p2.rcpt = e.rcpt + 1;
	p2.nrcpt = 1;
	parts[0] = (struct queue_part) {&p1, &m.src, QUEUE_READY};
	parts[1] = (struct queue_part) {&p2, &m.src, QUEUE_READY};
	assert_int_equal(queue_complete(f->q, id, "w", parts, 2, ids), 0);
	queue_env_free(&e);
	for (int i = 0; i < 2; i++) {
		assert_reads_at(f->q, ids[i], &m.out, m.src.same_at);
		assert_int_equal(stored(f, ids[i], QUEUE_BODY_PROCESSED), m.out.len - BODY);
	}
	free_msg(&m);
}

/* The original a splice refers to, cut short or gone: never other bytes. */
static void test_a_damaged_original_is_corrupt(void **state)
{
	struct fix *f = *state;
	struct msg m;
	uint64_t id[2], sum;
	uint8_t	kb[13];
	char	buf[BODY + 1000];
	size_t	got, nc;

	spliced(f, &m, id, 2);
	for (int i = 0; i < 2; i++) {
		fixture_body_key(kb, id[i], QUEUE_BODY_ORIGINAL, 2);	/* the last chunk: short, then gone */
		if (i == 0)
			fixture_raw(f, "body", kb, 13, "short", 5);
		else
			fixture_raw(f, "body", kb, 13, NULL, 0);
	}
	for (int i = 0; i < 2; i++) {
		/* a read stops where the original's run ends short */
		uint64_t off = 0;

		do {
			assert_int_equal(queue_body_read(f->q, id[i], QUEUE_BODY_PROCESSED, off,
							 buf + off, sizeof(buf) - off, &got), 0);
			off += got;
		} while (got > 0);
		/* up to the damaged chunk as sent, and never the tail in its place */
		assert_true(off < m.out.len - strlen("tail\r\n"));
		assert_memory_equal(buf, m.out.data, 131072 - 37 + 6);
		sum = 0;
		assert_int_equal(queue_body_foreach(f->q, id[i], QUEUE_BODY_PROCESSED,
						    count_bytes, &sum, NULL), SG_ECORRUPT);
	}
	assert_int_equal(queue_corrupt_count(f->q, &nc), 0);
	assert_int_equal(nc, 2);
	free_msg(&m);
}

/*
 * What the worker adds, before and after the run, around every chunk
 * boundary of the stored rest: written, read and walked across them.
 */
static void test_spliced_across_chunks(void **state)
{
	static const size_t heads[] = {0, 1, 65535, 65536, 65537, 131072};
	static const size_t tails[] = {0, 1, 65536, 65537};
	struct fix *f = *state;
	char   *fill = sg_xmalloc(140000);

	for (size_t i = 0; i < 140000; i++)
		fill[i] = (char) ('A' + i % 23);
	for (size_t h = 0; h < SG_NELEM(heads); h++)
		for (size_t t = 0; t < SG_NELEM(tails); t++) {
			struct msg m;

			make_msg_n(&m, fill, heads[h], fill + 3, tails[t], false);
			round_trip(f, &m);
			free_msg(&m);
		}
	free(fill);
}

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t) (v >> (56 - 8 * i));
}

/* A splice record damaged on disk: never read as if it were whole. */
static void test_a_damaged_splice_record_is_corrupt(void **state)
{
	struct fix *f = *state;
	struct msg m;
	uint64_t id[3], sum;
	uint8_t	kb[13], rec[24];
	char	buf[4096];
	size_t	got, nc;

	spliced(f, &m, id, 3);
	/* one byte short; the run placed past the stored rest; an offset that wraps */
	fixture_body_key(kb, id[0], 2, 0);
	fixture_raw(f, "body", kb, 13, "12345678901234567890123", 23);
	be64(rec, 1000);
	be64(rec + 8, strlen(HEADER));
	be64(rec + 16, BODY);
	fixture_body_key(kb, id[1], 2, 0);
	fixture_raw(f, "body", kb, 13, rec, 24);
	be64(rec, 6);
	be64(rec + 8, UINT64_MAX - 10);
	fixture_body_key(kb, id[2], 2, 0);
	fixture_raw(f, "body", kb, 13, rec, 24);
	assert_int_equal(queue_body_read(f->q, id[0], QUEUE_BODY_PROCESSED, 0, buf, sizeof(buf),
					 &got), SG_ECORRUPT);
	assert_int_equal(queue_body_read(f->q, id[2], QUEUE_BODY_PROCESSED, 26, buf, sizeof(buf),
					 &got), SG_ECORRUPT);
	for (int i = 0; i < 3; i++) {
		sum = 0;
		assert_int_equal(queue_body_foreach(f->q, id[i], QUEUE_BODY_PROCESSED, count_bytes,
						    &sum, NULL), SG_ECORRUPT);
	}
	assert_int_equal(queue_corrupt_count(f->q, &nc), 0);
	assert_int_equal(nc, 3);
	free_msg(&m);
}

/* An empty body is one empty chunk: a chunk after it is damage. */
static void test_an_empty_body_followed_by_a_chunk(void **state)
{
	struct fix *f = *state;
	struct queue_body_src b = {.data = "",.fd = -1,.len = 0};
	struct queue_env e;
	uint64_t id, sum = 0;
	uint8_t	kb[13];

	queue_env_init(&e);
	e.state = QUEUE_READY;
	e.sender = "a@example.com";
	e.client_addr = "192.0.2.1";
	queue_env_rcpt_add(&e, "b@example.net");
	assert_int_equal(queue_spool(f->q, &e, &b, &id), 0);
	queue_env_free(&e);
	assert_int_equal(queue_body_foreach(f->q, id, QUEUE_BODY_ORIGINAL, count_bytes, &sum,
					    NULL), 0);
	fixture_body_key(kb, id, QUEUE_BODY_ORIGINAL, 1);
	fixture_raw(f, "body", kb, 13, "extra", 5);
	assert_int_equal(queue_body_foreach(f->q, id, QUEUE_BODY_ORIGINAL, count_bytes, &sum,
					    NULL), SG_ECORRUPT);
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spliced_body_reads_whole, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_a_wrong_claim_is_stored_as_is, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_processed_again, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_split_parts_refer_to_their_copy, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_a_damaged_original_is_corrupt, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_spliced_across_chunks, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_a_damaged_splice_record_is_corrupt,
						fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_an_empty_body_followed_by_a_chunk,
						fixture_setup, fixture_teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
