/*
 * NAME
 *	test_queue_track 1
 * SUMMARY
 *	unit tests of message tracking: status words, indexes, search
 * DESCRIPTION
 *	Each test opens a real queue in its own temporary state directory
 *	and makes tracking records the way the roles do (spool, take with
 *	queue_due(), record results; hold and delete). Checked: each kind of
 *	search finds exactly the messages it should, newest first, through
 *	the index it should (the statistics tell how many records it read);
 *	live messages are merged in; pruning takes the index entries with
 *	the records; a queue whose tracking records have no index entries
 *	(from before them) is searched by reading every record when opened
 *	read-only, and indexed by the next writer's queue_open().
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

#include "queue/queue.h"
#include "queue_fixture.h"

struct msg {
	const char *sender;
	const char *rcpt[2];
	const char *subject;
	enum queue_rcpt_state outcome[2];	/* PENDING: leave it live */
	enum queue_direction dir;
};

/* make - spool m READY, then record its outcomes as delivery would */

static uint64_t make(struct queue *q, const struct msg *m)
{
	struct queue_body_src b = {.data = "body\r\n",.fd = -1,.len = 6};
	struct queue_result res[2];
	struct queue_env e;
	uint64_t id = 0, ids[8];
	size_t	n = 0, nres = 0;
	bool	done;

	queue_env_init(&e);
	e.state = QUEUE_READY;
	e.sender = m->sender;
	e.subject = m->subject;
	e.direction = m->dir;
	for (int i = 0; i < 2 && m->rcpt[i]; i++)
		queue_env_rcpt_add(&e, m->rcpt[i]);
	assert_int_equal(queue_spool(q, &e, &b, &id), 0);
	for (size_t i = 0; i < e.nrcpt; i++)
		if (m->outcome[i] != QUEUE_RCPT_PENDING)
			res[nres++] = (struct queue_result) {.index = i,.state = m->outcome[i],
				.reply = "250 ok",.dsn_status = "2.0.0",.relay = "mx[192.0.2.9]:25",
				.tls = "TLSv1.3/TLS_AES_128_GCM_SHA256",.next_attempt_ms = sg_now_ms() + 60000};
	queue_env_free(&e);
	if (nres == 0)
		return (id);
	assert_int_equal(queue_due(q, sg_now_ms() + 1000, 0, 8, ids, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(queue_record(q, id, res, nres, 0, NULL, &done), 0);
	return (id);
}

struct found {
	uint64_t ids[64];		/* the first 64 */
	size_t	n;
	uint64_t last;
	bool	desc;			/* each one older than the one before */
};

static int collect(const struct queue_env *e, void *arg)
{
	struct found *f = arg;

	f->desc &= f->last == 0 || e->id < f->last;
	f->last = e->id;
	if (f->n < 64)
		f->ids[f->n++] = e->id;
	return (0);
}

static struct queue_track_query query(void)
{
	return ((struct queue_track_query) {.direction = -1,.live = true,.finished = true});
}

static struct found search(struct queue *q, const struct queue_track_query *qy,
			   struct queue_track_stats *st)
{
	struct found f = {.n = 0,.desc = true};

	assert_int_equal(queue_track_search(q, qy, collect, &f, st), 0);
	assert_true(f.desc);
	return (f);
}

#define D QUEUE_RCPT_DELIVERED
#define B QUEUE_RCPT_BOUNCED
#define P QUEUE_RCPT_PENDING
#define F QUEUE_RCPT_DEFERRED

static const struct msg msgs[] = {
	/* 0 */ {"Erp@Example.COM", {"buyer@partner.test", NULL}, "Invoice 1", {D, P},
		QUEUE_DIR_OUTBOUND},
	/* 1 */ {"erp@example.com", {"x@sub.partner.test", "y@other.test"}, "Rechnung K\xc3\x96LN",
		{D, B}, QUEUE_DIR_OUTBOUND},
	/* 2 */ {"", {"erp@example.com", NULL}, "Undelivered Mail", {B, P}, QUEUE_DIR_INBOUND},
	/* 3 */ {"alice@example.com", {"bob@partner.test", NULL}, "lunch", {B, P},
		QUEUE_DIR_OUTBOUND},
	/* 4: live, deferred */
	{"erp@example.com", {"slow@partner.test", NULL}, "Invoice 2", {F, P}, QUEUE_DIR_OUTBOUND},
	/* 5: live, queued */
	{"carl@example.com", {"z@partner.test", NULL}, "invoice 3", {P, P}, QUEUE_DIR_OUTBOUND},
};

static void make_all(struct queue *q, uint64_t *ids)
{
	for (size_t i = 0; i < SG_NELEM(msgs); i++)
		ids[i] = make(q, &msgs[i]);
}

/* Every kind of pattern through its index; newest first; records read only for matches. */
static void test_search_patterns(void **state)
{
	struct fix *f = *state;
	struct queue_track_query qy = query();
	struct queue_track_stats st;
	struct found r;
	uint64_t id[SG_NELEM(msgs)];

	make_all(f->q, id);
	qy.from = "ERP@example.com";
	r = search(f->q, &qy, &st);
	assert_string_equal(st.plan, "sender");
	assert_int_equal(r.n, 3);
	assert_true(r.ids[0] == id[4] && r.ids[1] == id[1] && r.ids[2] == id[0]);

	qy = query();
	qy.finished = true, qy.live = false;
	qy.from = "erp@example.com";
	r = search(f->q, &qy, &st);
	assert_int_equal(r.n, 2);
	assert_int_equal(st.records, 2);		/* the index did the work */

	qy = query();
	qy.from = "<>";
	r = search(f->q, &qy, &st);
	assert_true(r.n == 1 && r.ids[0] == id[2]);

	qy = query();
	qy.to = "@partner.test";			/* a domain, not its subdomains */
	r = search(f->q, &qy, &st);
	assert_string_equal(st.plan, "recipient");
	assert_true(r.n == 4 && r.ids[0] == id[5] && r.ids[3] == id[0]);

	qy.to = "*partner.test";			/* a glob: with subdomains */
	r = search(f->q, &qy, &st);
	assert_int_equal(r.n, 5);

	qy.to = "OTHER";				/* a substring */
	r = search(f->q, &qy, &st);
	assert_true(r.n == 1 && r.ids[0] == id[1]);

	qy.to = "@partner.test";
	qy.from = "@example.com";
	r = search(f->q, &qy, &st);
	assert_string_equal(st.plan, "sender+recipient");
	assert_int_equal(r.n, 4);

	qy.from = "erp@example.com";
	qy.to = "buyer@partner.test";
	r = search(f->q, &qy, &st);
	assert_true(r.n == 1 && r.ids[0] == id[0]);
}

/* Summaries: subject (case folded, Latin-1 too), status, direction, time, limit. */
static void test_search_summaries(void **state)
{
	struct fix *f = *state;
	struct queue_track_query qy = query();
	struct queue_track_stats st;
	struct found r;
	uint64_t id[SG_NELEM(msgs)];
	unsigned bit;

	make_all(f->q, id);
	qy.subject = "invoice";
	r = search(f->q, &qy, &st);
	assert_string_equal(st.plan, "summary");
	assert_true(r.n == 3 && r.ids[0] == id[5] && r.ids[1] == id[4] && r.ids[2] == id[0]);

	qy.subject = "rechnung k\xc3\xb6ln";
	r = search(f->q, &qy, &st);
	assert_true(r.n == 1 && r.ids[0] == id[1]);
	assert_int_equal(st.records, 1 + 2);		/* one match, and two live ones read */

	qy = query();
	assert_int_equal(queue_track_status_parse("bounced", 7, &bit), 0);
	qy.status = bit;				/* bounced, or partly */
	r = search(f->q, &qy, &st);
	assert_true(r.n == 3 && r.ids[0] == id[3] && r.ids[1] == id[2] && r.ids[2] == id[1]);
	assert_int_equal(queue_track_status_parse("partial", 7, &bit), 0);
	qy.status = bit;
	r = search(f->q, &qy, &st);
	assert_true(r.n == 1 && r.ids[0] == id[1]);
	assert_int_equal(queue_track_status_parse("deferred", 8, &bit), 0);
	qy.status = bit;
	r = search(f->q, &qy, &st);
	assert_true(r.n == 1 && r.ids[0] == id[4]);
	assert_int_equal(queue_track_status_parse("queued", 6, &bit), 0);
	qy.status = bit;
	r = search(f->q, &qy, &st);
	assert_true(r.n == 1 && r.ids[0] == id[5]);
	assert_int_equal(queue_track_status_parse("nonsense", 8, &bit), SG_EINVAL);

	qy = query();
	qy.direction = QUEUE_DIR_INBOUND;
	r = search(f->q, &qy, &st);
	assert_true(r.n == 1 && r.ids[0] == id[2]);

	qy = query();
	qy.since_ms = queue_id_time_ms(id[1]);
	qy.until_ms = queue_id_time_ms(id[3]) + 1;
	qy.live = false;
	r = search(f->q, &qy, &st);
	/* id[0] may share id[1]'s millisecond */
	assert_true(r.n >= 3 && r.n <= 4 && r.ids[0] == id[3] && r.ids[1] == id[2]
		    && r.ids[2] == id[1]);
	qy.until_ms = queue_id_time_ms(id[0]);		/* before everything */
	r = search(f->q, &qy, &st);
	assert_int_equal(r.n, 0);

	qy = query();
	qy.limit = 2;
	r = search(f->q, &qy, &st);
	assert_true(r.n == 2 && r.ids[0] == id[5] && r.ids[1] == id[4]);
}

/* The words of each kind of end, held and deleted messages among them. */
static void test_status_words(void **state)
{
	struct fix *f = *state;
	uint64_t id[SG_NELEM(msgs)];
	static const char *const want[] = {
		"delivered", "partial", "bounced", "bounced", "deferred", "queued",
	};
	struct queue_env e;
	size_t	changed;
	int	res;

	make_all(f->q, id);
	queue_env_init(&e);
	for (size_t i = 0; i < SG_NELEM(msgs); i++) {
		int	err = queue_get(f->q, id[i], 0, &e);

		if (err == SG_ENOTFOUND)
			err = queue_get(f->q, id[i], QUEUE_GET_TRACK, &e);
		assert_int_equal(err, 0);
		assert_string_equal(queue_track_status_word(&e), want[i]);
	}
	assert_int_equal(queue_hold(f->q, &id[5], 1, "held", &res, &changed), 0);
	assert_int_equal(queue_get(f->q, id[5], 0, &e), 0);
	assert_string_equal(queue_track_status_word(&e), "held");
	assert_int_equal(queue_delete(f->q, &id[5], 1, "deleted by test", &res, &changed), 0);
	assert_int_equal(queue_get(f->q, id[5], QUEUE_GET_TRACK, &e), 0);
	assert_string_equal(queue_track_status_word(&e), "deleted");
	assert_string_equal(queue_track_rcpt_word(&e, &e.rcpt[0]), "not-delivered");
	assert_string_equal(e.rcpt[0].tls, "");
	assert_int_equal(queue_get(f->q, id[0], QUEUE_GET_TRACK, &e), 0);
	assert_string_equal(e.rcpt[0].tls, "TLSv1.3/TLS_AES_128_GCM_SHA256");
	queue_env_free(&e);
}

/* Pruning takes the index entries with the records. */
static void test_prune_unindexes(void **state)
{
	struct fix *f = *state;
	struct queue_track_query qy = query();
	struct queue_track_stats st;
	struct found r;
	uint64_t id[SG_NELEM(msgs)];
	size_t	n;

	make_all(f->q, id);
	assert_int_equal(queue_track_prune(f->q, 0, &n), 0);
	assert_int_equal(n, 4);
	qy.live = false;
	qy.to = "a";					/* a substring: walks every key */
	r = search(f->q, &qy, &st);
	assert_int_equal(r.n, 0);
	assert_int_equal(st.keys, 0);
	qy.to = NULL;
	r = search(f->q, &qy, &st);
	assert_int_equal(st.summaries, 0);
	qy.from = "erp@example.com";
	qy.live = true;
	r = search(f->q, &qy, &st);
	assert_true(r.n == 1 && r.ids[0] == id[4]);
}

/* unindex - make the queue look like one from before the indexes */

static void unindex(struct fix *f)
{
	static const char *const dbs[] = {"tsend", "trcpt", "tsum"};
	char	path[128];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi	dbi;
	MDB_val	k = {8, "trackidx"};

	queue_close(f->q);
	f->q = NULL;
	snprintf(path, sizeof(path), "%s/queue", f->dir);
	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	mdb_env_set_mapsize(env, f->conf.map_size_max);
	assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	for (size_t i = 0; i < SG_NELEM(dbs); i++) {
		assert_int_equal(mdb_dbi_open(txn, dbs[i], 0, &dbi), 0);
		assert_int_equal(mdb_drop(txn, dbi, 1), 0);
	}
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* Old tracking records: read one by one read-only, indexed by the next writer. */
static void test_old_queue(void **state)
{
	struct fix *f = *state;
	struct queue_track_query qy = query();
	struct queue_track_stats st;
	struct found r;
	uint64_t id[SG_NELEM(msgs)];

	make_all(f->q, id);
	unindex(f);
	assert_int_equal(queue_open(&f->main, &f->conf, QUEUE_RDONLY, &f->q), 0);
	qy.from = "erp@example.com";
	r = search(f->q, &qy, &st);
	assert_string_equal(st.plan, "scan");
	assert_true(r.n == 3 && r.ids[0] == id[4] && r.ids[1] == id[1] && r.ids[2] == id[0]);
	queue_close(f->q);
	assert_int_equal(queue_open(&f->main, &f->conf, 0, &f->q), 0);
	r = search(f->q, &qy, &st);
	assert_string_equal(st.plan, "sender");
	assert_true(r.n == 3 && r.ids[0] == id[4] && r.ids[1] == id[1] && r.ids[2] == id[0]);
	qy.from = NULL;
	qy.subject = "LUNCH";
	r = search(f->q, &qy, &st);
	assert_true(r.n == 1 && r.ids[0] == id[3]);
}

static void bulk_done(struct queue_req *r, int err)
{
	assert_int_equal(err, 0);
	(*(size_t *) r->arg)++;
}

/* bulk - n delivered messages through the group committer and one record batch */

static void bulk(struct queue *q, size_t n, uint64_t *first, uint64_t *last)
{
	struct queue_body_src b = {.data = "body\r\n",.fd = -1,.len = 6};
	struct queue_req *reqs = calloc(n, sizeof(*reqs));
	struct queue_record_item *items = calloc(n, sizeof(*items));
	struct queue_result res = {.index = 0,.state = D,.reply = "250 ok"};
	struct queue_committer *c;
	struct queue_env e;
	uint64_t *ids = calloc(n, sizeof(*ids));
	size_t	done = 0, got;

	queue_env_init(&e);
	e.state = QUEUE_READY;
	e.sender = "bulk@example.com";
	e.subject = "bulk";
	queue_env_rcpt_add(&e, "r@partner.test");
	assert_int_equal(queue_committer_start(q, &c), 0);
	for (size_t i = 0; i < n; i++) {
		reqs[i] = (struct queue_req) {.env = &e,.body = b,.done = bulk_done,.arg = &done};
		queue_submit(c, &reqs[i]);
	}
	queue_committer_stop(c);
	assert_int_equal(done, n);
	assert_int_equal(queue_due(q, sg_now_ms() + 1000, 0, n, ids, &got), 0);
	assert_int_equal(got, n);
	for (size_t i = 0; i < n; i++)
		items[i] = (struct queue_record_item) {.id = ids[i],.res = &res,.nres = 1};
	assert_int_equal(queue_record_many(q, items, n), 0);
	*first = reqs[0].id;
	*last = reqs[n - 1].id;
	queue_env_free(&e);
	free(reqs);
	free(items);
	free(ids);
}

/* Results, candidates and walks that span several pages (transactions). */
static void test_many_pages(void **state)
{
	struct fix *f = *state;
	struct queue_track_query qy = query();
	struct queue_track_stats st;
	struct found r;
	uint64_t first = 0, last = 0;

	bulk(f->q, 1300, &first, &last);
	qy.subject = "bulk";
	r = search(f->q, &qy, &st);
	assert_int_equal(st.matched, 1300);
	assert_true(r.ids[0] == last);
	qy.subject = NULL;
	qy.from = "bulk@example.com";
	qy.until_ms = queue_id_time_ms(first) + 1;
	r = search(f->q, &qy, &st);
	assert_true(st.matched >= 1 && r.last == first);
	qy.from = NULL;
	qy.to = "*@partner.test";
	qy.until_ms = 0;
	qy.limit = 1000;
	r = search(f->q, &qy, &st);
	assert_int_equal(st.matched, 1000);
	assert_true(r.ids[0] == last);
}

/* Notes of refused mail: written without a message to carry them, capped, flushed at stop. */
static void test_notes(void **state)
{
	struct fix *f = *state;
	struct queue_track_query qy = query();
	struct queue_track_stats st;
	struct queue_committer *c;
	struct queue_rcpt *r;
	struct queue_env e, got;
	struct found res;
	size_t	kept = 1;
	int	err = 0;

	queue_env_init(&e);
	e.flags = QUEUE_F_REJECTED;
	e.sender = "stranger@elsewhere.test";
	e.direction = QUEUE_DIR_INBOUND;
	r = queue_env_rcpt_add(&e, "victim@elsewhere.test");
	r->state = QUEUE_RCPT_BOUNCED;
	r->reply = "554 5.7.1 Relay access denied";
	assert_int_equal(queue_committer_start(f->q, &c), 0);
	assert_int_equal(queue_track_note(c, &e), 0);
	assert_int_equal(queue_track_status_parse("rejected", 8, &qy.status), 0);
	for (int i = 0; i < 300; i++) {		/* about a second, with no mail */
		res = search(f->q, &qy, &st);
		if (res.n == 1)
			break;
		usleep(10000);
	}
	assert_int_equal(res.n, 1);
	queue_env_init(&got);
	assert_int_equal(queue_get(f->q, res.ids[0], QUEUE_GET_TRACK, &got), 0);
	assert_string_equal(queue_track_status_word(&got), "rejected");
	assert_string_equal(queue_track_rcpt_word(&got, &got.rcpt[0]), "rejected");
	assert_string_equal(got.rcpt[0].reply, "554 5.7.1 Relay access denied");
	assert_int_equal(got.state, QUEUE_DONE);
	queue_env_free(&got);
	/* a flood: at most QUEUE_NOTES_MAX wait, the rest is refused */
	for (int i = 0; i < 2 * QUEUE_NOTES_MAX && (err = queue_track_note(c, &e)) == 0; i++)
		kept++;
	assert_int_equal(err, SG_ELIMIT);
	queue_committer_stop(c);		/* writes what waits */
	qy.to = "victim@elsewhere.test";
	res = search(f->q, &qy, &st);
	assert_int_equal(st.matched, kept);
	queue_env_free(&e);
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_search_patterns, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_search_summaries, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_status_words, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_prune_unindexes, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_old_queue, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_many_pages, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_notes, fixture_setup, fixture_teardown),
	};

	return (cmocka_run_group_tests_name("queue_track", tests, NULL, NULL));
}
