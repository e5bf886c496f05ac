/*
 * NAME
 *	test_queue_outbox 1
 * SUMMARY
 *	unit tests: the cluster outbox in the queue, and the SQL literals
 * DESCRIPTION
 *	A real queue in a temporary directory. Without a cluster
 *	(outbox_max 0) nothing is written to the outbox; with one, every
 *	tracking record and every write of an incident has its entry, in
 *	key order (incidents first), each read with its record; done
 *	deletes only the version that was read (an incident counted again
 *	meanwhile stays); a full outbox drops the oldest tracking, counts
 *	it, and never drops an incident. Certificates: shared only with a
 *	cluster, received in seq order and applied once; their record
 *	decoder refuses what does not add up. cluster_sql_str() quotes and
 *	cleans untrusted text.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lmdb.h>
#include <cmocka.h>

#include "cluster/cluster.h"
#include "queue_fixture.h"

/* reopen - the fixture's queue again, as a cluster node's with outbox max */

static void reopen(struct fix *f, uint64_t max)
{
	queue_close(f->q);
	f->conf.outbox_max = max;
	assert_int_equal(queue_open(&f->main, &f->conf, 0, &f->q), 0);
}

/* tracked - a message spooled and deleted: its tracking record is written */

static uint64_t tracked(struct queue *q, const char *subject)
{
	struct queue_body_src b = {.data = "body\r\n",.fd = -1,.len = 6};
	struct queue_env e;
	uint64_t id = 0;
	int	res;

	queue_env_init(&e);
	e.sender = "a@example.com";
	e.subject = subject;
	queue_env_rcpt_add(&e, "b@partner.test");
	assert_int_equal(queue_spool(q, &e, &b, &id), 0);
	queue_env_free(&e);
	assert_int_equal(queue_delete(q, &id, 1, "test", &res, NULL), 0);
	return (id);
}

static uint64_t incident(struct queue *q, const char *text)
{
	struct queue_incident in = {.msg_id = 7,.kind = "no-cert",.sender = "a@b",
		.rcpt = "c@d",.rule = "secret",.text = text};
	uint64_t id;

	assert_int_equal(queue_incident_add(q, &in, &id, NULL), 0);
	return (id);
}

static uint64_t entries(struct queue *q)
{
	struct queue_outbox_stat st;

	assert_int_equal(queue_outbox_stat(q, &st), 0);
	return (st.entries);
}

struct got {
	struct queue_outbox_item items[16];
	char	subjects[16][32];
	size_t	n;
};

static int collect(const struct queue_outbox_item *it, void *arg)
{
	struct got *g = arg;

	assert_true(g->n < 16);
	g->items[g->n] = *it;
	memset(&g->items[g->n].env, 0, sizeof(it->env));
	snprintf(g->subjects[g->n], 32, "%s", it->kind == QUEUE_OUTBOX_TRACK && !it->gone
		 ? it->env.subject : "");
	g->n++;
	return (0);
}

static void test_no_cluster_no_outbox(void **state)
{
	struct fix *f = *state;

	tracked(f->q, "solo");
	incident(f->q, "solo");
	assert_int_equal(entries(f->q), 0);
}

static void test_ship_cycle(void **state)
{
	struct fix *f = *state;
	struct got g = {.n = 0};
	uint64_t t1, t2, inc;

	reopen(f, 1000);
	t1 = tracked(f->q, "one");
	t2 = tracked(f->q, "two");
	inc = incident(f->q, "no certificate");
	assert_int_equal(entries(f->q), 3);
	assert_int_equal(queue_outbox_read(f->q, 2, collect, &g), 0);
	assert_int_equal(g.n, 2);
	/* incidents sort first, then tracking by id (arrival) */
	assert_int_equal(g.items[0].kind, QUEUE_OUTBOX_INCIDENT);
	assert_true(g.items[0].id == inc && !g.items[0].gone && g.items[0].raw_len > 0);
	assert_true(g.items[1].kind == QUEUE_OUTBOX_TRACK && g.items[1].id == t1);
	assert_string_equal(g.subjects[1], "one");
	/* the incident is counted again before the batch is done: it stays */
	incident(f->q, "no certificate");
	assert_int_equal(entries(f->q), 3);
	assert_int_equal(queue_outbox_done(f->q, g.items, g.n), 0);
	assert_int_equal(entries(f->q), 2);
	g.n = 0;
	assert_int_equal(queue_outbox_read(f->q, 10, collect, &g), 0);
	assert_true(g.n == 2 && g.items[0].id == inc && g.items[1].id == t2);
	assert_int_equal(queue_outbox_done(f->q, g.items, g.n), 0);
	assert_int_equal(entries(f->q), 0);
	/* done again (a batch shipped twice): nothing to delete, no error */
	assert_int_equal(queue_outbox_done(f->q, g.items, g.n), 0);
	/* an acknowledgement is a write of the incident: shipped too */
	assert_int_equal(queue_incident_ack(f->q, inc, "admin"), 0);
	assert_int_equal(entries(f->q), 1);
}

static void test_bounded(void **state)
{
	struct fix *f = *state;
	struct queue_outbox_stat st;
	struct got g = {.n = 0};
	uint64_t t[6];

	reopen(f, 3);
	incident(f->q, "kept");
	for (int i = 0; i < 5; i++)
		t[i] = tracked(f->q, "t");
	assert_int_equal(queue_outbox_stat(f->q, &st), 0);
	assert_true(st.entries == 3 && st.dropped == 3 && st.oldest_track_id == t[3]);
	/* incidents are never dropped, even past the bound */
	incident(f->q, "second");
	incident(f->q, "third");
	t[5] = tracked(f->q, "t");
	assert_int_equal(queue_outbox_read(f->q, 16, collect, &g), 0);
	assert_int_equal(g.n, 5);
	assert_true(g.items[0].kind == QUEUE_OUTBOX_INCIDENT && g.items[2].kind
		    == QUEUE_OUTBOX_INCIDENT);
	assert_true(g.items[3].id == t[4] && g.items[4].id == t[5]);
	assert_int_equal(queue_outbox_stat(f->q, &st), 0);
	assert_int_equal(st.dropped, 4);
}

static void test_parse(void **state)
{
	uint8_t	key[9] = {2, 0, 0, 0, 0, 0, 0, 1, 2}, val[8] = {0, 0, 0, 0, 0, 0, 0, 9};
	struct queue_outbox_item it;

	(void) state;
	assert_int_equal(queue_outbox_parse(key, 9, val, 8, &it), 0);
	assert_true(it.kind == QUEUE_OUTBOX_TRACK && it.id == 258 && it.txn == 9);
	assert_int_equal(queue_outbox_parse(key, 8, val, 8, &it), SG_ECORRUPT);
	assert_int_equal(queue_outbox_parse(key, 9, val, 7, &it), SG_ECORRUPT);
	key[0] = 4;
	assert_int_equal(queue_outbox_parse(key, 9, val, 8, &it), SG_ECORRUPT);
}

struct applied {
	uint64_t seq[8];
	int	kind[8];
	unsigned flags[8];
	char	gw[8][32];
	size_t	n;
};

static int apply(const struct queue_cert_rec *r, void *arg)
{
	struct applied *a = arg;

	a->seq[a->n] = r->seq;
	a->kind[a->n] = r->kind;
	a->flags[a->n] = r->flags;
	snprintf(a->gw[a->n], 32, "%s", r->gateway ? r->gateway : "");
	a->n++;
	return (0);
}

static void test_certs(void **state)
{
	struct fix *f = *state;
	struct queue_cert_rec in[3] = {
		{.kind = QUEUE_CERT_IMPORT,.flags = QUEUE_CERT_F_CA,.gateway = "",.data = "ca",
		.len = 2,.seq = 4},
		{.kind = QUEUE_CERT_HARVEST,.gateway = "",.data = "leaf",.len = 4,.seq = 5},
		{.kind = QUEUE_CERT_IMPORT,.gateway = "example.com",.data = "gw",.len = 2,.seq = 9},
	}, share = {.kind = QUEUE_CERT_HARVEST,.gateway = "",.data = "der",.len = 3};
	struct got g = {.n = 0};
	struct applied a = {.n = 0};
	uint64_t received, applied;

	/* without a cluster nothing is shared */
	assert_int_equal(queue_cert_share(f->q, &share), 0);
	assert_int_equal(entries(f->q), 0);
	reopen(f, 1000);
	assert_int_equal(queue_cert_share(f->q, &share), 0);
	assert_int_equal(queue_outbox_read(f->q, 10, collect, &g), 0);
	assert_true(g.n == 1 && g.items[0].kind == QUEUE_OUTBOX_CERT && !g.items[0].gone);
	assert_int_equal(queue_outbox_done(f->q, g.items, 1), 0);
	assert_int_equal(entries(f->q), 0);
	/* in: received in seq order, applied after, twice is once */
	assert_int_equal(queue_certin_put(f->q, in, 2), 0);
	assert_int_equal(queue_certin_put(f->q, in, 3), 0);
	assert_int_equal(queue_certin_state(f->q, &received, &applied), 0);
	assert_true(received == 9 && applied == 0);
	assert_int_equal(queue_certin_read(f->q, 2, apply, &a), 0);
	assert_true(a.n == 2 && a.seq[0] == 4 && a.seq[1] == 5);
	assert_int_equal(queue_certin_done(f->q, 5), 0);
	a.n = 0;
	assert_int_equal(queue_certin_read(f->q, 10, apply, &a), 0);
	assert_true(a.n == 1 && a.seq[0] == 9);
	assert_string_equal(a.gw[0], "example.com");
	assert_int_equal(queue_certin_done(f->q, 9), 0);
	a.n = 0;
	assert_int_equal(queue_certin_read(f->q, 10, apply, &a), 0);
	assert_int_equal(a.n, 0);
	assert_int_equal(queue_certin_state(f->q, &received, &applied), 0);
	assert_true(received == 9 && applied == 9);
	/* a row of a kind unknown here (a newer node's) is unreadable, not in the way */
	in[0] = (struct queue_cert_rec) {.kind = 9,.gateway = "",.data = "new",.len = 3,.seq = 10};
	in[1].seq = 11;
	assert_int_equal(queue_certin_put(f->q, in, 2), 0);
	a.n = 0;
	assert_int_equal(queue_certin_read(f->q, 10, apply, &a), 0);
	assert_true(a.n == 2 && a.seq[0] == 10 && a.kind[0] == 0);
	assert_true(a.seq[1] == 11 && a.kind[1] == QUEUE_CERT_HARVEST);
}

/*
 * Nonces: a row whose nonce this node made is marked SEEN; a row whose
 * nonce was applied before, in an earlier run or earlier in the same
 * read, REPEAT (a replay, a batch shipped twice); the others neither.
 */
static void test_cert_nonces(void **state)
{
	struct fix *f = *state;
	struct queue_cert_rec mine = {.kind = QUEUE_CERT_IMPORT,.gateway = "",.data = "ca",
		.len = 2,.has_mac = true,.nonce = "made here......."};
	struct queue_cert_rec in[4] = {
		{.kind = QUEUE_CERT_IMPORT,.gateway = "",.data = "x",.len = 1,.seq = 1,
		.has_mac = true,.nonce = "first..........."},
		{.kind = QUEUE_CERT_IMPORT,.gateway = "",.data = "x",.len = 1,.seq = 2,
		.has_mac = true,.nonce = "first..........."},
		{.kind = QUEUE_CERT_REMOVE,.gateway = "",.data = "x",.len = 1,.seq = 3,
		.has_mac = true,.nonce = "second.........."},
		{.kind = QUEUE_CERT_IMPORT,.gateway = "",.data = "ca",.len = 2,.seq = 4,
		.has_mac = true,.nonce = "made here......."},
	};
	struct applied a = {.n = 0};
	const unsigned marks = QUEUE_CERT_F_SEEN | QUEUE_CERT_F_REPEAT;

	reopen(f, 1000);
	assert_int_equal(queue_cert_share(f->q, &mine), 0);
	assert_int_equal(queue_certin_put(f->q, in, 4), 0);
	assert_int_equal(queue_certin_read(f->q, 8, apply, &a), 0);
	assert_int_equal(a.n, 4);
	assert_int_equal(a.flags[0] & marks, 0);
	assert_int_equal(a.flags[1] & marks, QUEUE_CERT_F_REPEAT);
	assert_int_equal(a.flags[2] & marks, 0);
	assert_int_equal(a.flags[3] & marks, QUEUE_CERT_F_SEEN);
	assert_int_equal(queue_certin_done(f->q, 4), 0);
	/* the removal again, later: applied before */
	in[2].seq = 5;
	assert_int_equal(queue_certin_put(f->q, &in[2], 1), 0);
	a.n = 0;
	assert_int_equal(queue_certin_read(f->q, 8, apply, &a), 0);
	assert_true(a.n == 1 && a.seq[0] == 5 && (a.flags[0] & marks) == QUEUE_CERT_F_REPEAT);
}

static void test_cert_record(void **state)
{
	struct queue_cert_rec r = {.kind = QUEUE_CERT_CRL,.gateway = "",.data = "crl",.len = 3},
		out;
	struct sg_buf b = SG_BUF_INIT;

	(void) state;
	assert_int_equal(queue_cert_encode(&r, &b), 0);
	assert_int_equal(queue_cert_decode(b.data, b.len, &out), 0);
	assert_true(out.kind == QUEUE_CERT_CRL && out.len == 3 && memcmp(out.data, "crl", 3) == 0);
	/* short, no data, a gateway longer than the record */
	assert_int_equal(queue_cert_decode(b.data, 4, &out), SG_ECORRUPT);
	assert_int_equal(queue_cert_decode(b.data, 5, &out), SG_ECORRUPT);
	((uint8_t *) b.data)[4] = 200;
	assert_int_equal(queue_cert_decode(b.data, b.len, &out), SG_ECORRUPT);
	sg_buf_free(&b);
	r.kind = 7;
	assert_int_equal(queue_cert_encode(&r, &b), SG_EINVAL);
	sg_buf_free(&b);
}

static void sql_is(const char *in, size_t len, const char *want)
{
	struct sg_buf b = SG_BUF_INIT;

	cluster_sql_str(&b, in, len);
	sg_buf_putc(&b, 0);
	assert_string_equal(b.data, want);
	sg_buf_free(&b);
}

static void test_sql_str(void **state)
{
	(void) state;
	sql_is("plain", 5, "E'plain'");
	sql_is("it's \\ here", 11, "E'it''s \\\\ here'");
	sql_is("Gr\xc3\xbc\xc3\x9f" "e", 7, "E'Gr\xc3\xbc\xc3\x9f" "e'");
	/* Latin-1, a lone continuation byte, an overlong form: '?' */
	sql_is("Gr\xfc\x80\xc0\xaf", 6, "E'Gr?" "?" "?" "?'");
	/* NUL, controls, DEL; a tab becomes a space */
	sql_is("a\0b\r\n\x7f\tc", 8, "E'a?b?" "?" "? c'");
	sql_is("", 0, "E''");
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_cluster_no_outbox, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_ship_cycle, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_bounded, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_certs, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_cert_nonces, fixture_setup, fixture_teardown),
		cmocka_unit_test(test_cert_record),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_sql_str),
	};

	return (cmocka_run_group_tests_name("queue_outbox", tests, NULL, NULL));
}
