/*
 * NAME
 *	test_queue_record 1
 * SUMMARY
 *	unit tests of delivery results: queue_record_many(), queue_record_due()
 *	and queue_record(); queue_due_peek()
 * DESCRIPTION
 *	Each test opens a real queue in its own temporary state directory,
 *	spools messages, leases them with queue_due() as delivery does and
 *	records results. Checked: each item of a batch has exactly the effect
 *	of queue_record() (states, schedule, retirement with a tracking
 *	record, counters); a bad item (bad index, unknown id, a record grown
 *	past its limits, a corrupt record) is undone alone and the others
 *	commit; a batch is one write transaction, counted by LMDB's last
 *	transaction id read from another process.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <lmdb.h>
#include <cmocka.h>

#include "queue/queue.h"
#include "queue_fixture.h"


/* spool_ready - a READY message with nrcpt recipients, due now */

static uint64_t spool_ready(struct queue *q, size_t nrcpt)
{
	static const char *const rcpts[] = {"a@example.net", "b@example.net", "c@example.org"};
	struct queue_env e;
	struct queue_body_src b = {.data = "body\r\n",.fd = -1,.len = 6};
	uint64_t id = 0;

	queue_env_init(&e);
	e.state = QUEUE_READY;
	e.sender = "s@example.com";
	e.client_addr = "192.0.2.1";
	for (size_t i = 0; i < nrcpt; i++)
		queue_env_rcpt_add(&e, rcpts[i % 3]);
	assert_int_equal(queue_spool(q, &e, &b, &id), 0);
	assert_true(id != 0);
	queue_env_free(&e);
	return (id);
}

/* lease_all - take every due message, as delivery does; returns how many */

static size_t lease_all(struct queue *q)
{
	uint64_t ids[64];
	size_t	n = 0;

	assert_int_equal(queue_due(q, sg_now_ms(), 0, 64, ids, &n), 0);
	return (n);
}

static struct queue_stats stats(struct queue *q)
{
	struct queue_stats st;

	assert_int_equal(queue_stats(q, &st), 0);
	return (st);
}

/* last_txnid - LMDB's last committed write transaction, seen by a child */

static uint64_t last_txnid(const char *dir)
{
	char	path[128];
	int	fd[2];
	uint64_t id = 0;
	pid_t	pid;
	int	status;

	snprintf(path, sizeof(path), "%s/queue", dir);
	assert_int_equal(pipe(fd), 0);
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		MDB_env *env;
		MDB_envinfo info;
		uint64_t v = 0;

		close(fd[0]);
		if (mdb_env_create(&env) == 0 && mdb_env_set_maxdbs(env, 16) == 0
		    && mdb_env_open(env, path, MDB_RDONLY, 0600) == 0
		    && mdb_env_info(env, &info) == 0)
			v = (uint64_t) info.me_last_txnid;
		_exit(write(fd[1], &v, sizeof(v)) == sizeof(v) ? 0 : 1);
	}
	close(fd[1]);
	assert_int_equal(read(fd[0], &id, sizeof(id)), sizeof(id));
	close(fd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(id > 0);
	return (id);
}

/* ------------------------------------------------------------ tests */

/* A mixed batch: each item ends as queue_record() would leave it. */
static void test_many_mixed(void **state)
{
	struct fix *f = *state;
	uint64_t a = spool_ready(f->q, 2), b = spool_ready(f->q, 2), c = spool_ready(f->q, 1);
	uint64_t d = spool_ready(f->q, 3);
	int64_t	later = sg_now_ms() + 600000, when;
	struct queue_env e;
	char	buf[16];
	size_t	got;

	assert_int_equal(lease_all(f->q), 4);
	struct queue_result ra[] = {
		{0, QUEUE_RCPT_DELIVERED, "250 ok a0", "2.0.0", "mx[192.0.2.9]:25", 0, NULL},
		{1, QUEUE_RCPT_DELIVERED, "250 ok a1", "2.0.0", "mx[192.0.2.9]:25", 0, NULL},
	};
	struct queue_result rb[] = {
		{0, QUEUE_RCPT_DELIVERED, "250 ok b0", "2.0.0", "mx", 0, NULL},
		{1, QUEUE_RCPT_DEFERRED, "451 4.7.1 later", "4.7.1", "mx", later, NULL},
	};
	struct queue_result rc[] = {{0, QUEUE_RCPT_BOUNCED, "550 5.1.1 no", "5.1.1", "mx", 0, NULL}};
	struct queue_result rd[] = {
		{0, QUEUE_RCPT_DELIVERED, "250 ok d0", "2.0.0", "mx", 0, NULL},
		{7, QUEUE_RCPT_DELIVERED, "250 bad index", "2.0.0", "mx", 0, NULL},
	};
	struct queue_record_item it[] = {
		{.id = a,.res = ra,.nres = 2,.route = "via-a"},
		{.id = b,.res = rb,.nres = 2},
		{.id = 0x7fffffffffffULL,.res = ra,.nres = 1},	/* no such message */
		{.id = d,.res = rd,.nres = 2},
		{.id = c,.res = rc,.nres = 1},
	};

	assert_int_equal(queue_record_many(f->q, it, 5), 0);
	assert_int_equal(it[0].result, 0);
	assert_true(it[0].done);
	assert_int_equal(it[1].result, 0);
	assert_false(it[1].done);
	assert_int_equal(it[2].result, SG_ENOTFOUND);
	assert_int_equal(it[3].result, SG_EINVAL);
	assert_false(it[3].done);
	assert_int_equal(it[4].result, 0);
	assert_true(it[4].done);

	queue_env_init(&e);
	/* a: retired, tracking record with both results and the route */
	assert_int_equal(queue_get(f->q, a, 0, &e), SG_ENOTFOUND);
	assert_int_equal(queue_get(f->q, a, QUEUE_GET_TRACK, &e), 0);
	assert_int_equal(e.state, QUEUE_DONE);
	assert_string_equal(e.route, "via-a");
	assert_string_equal(e.rcpt[1].reply, "250 ok a1");
	assert_int_equal(e.rcpt[1].state, QUEUE_RCPT_DELIVERED);
	assert_int_equal(queue_body_read(f->q, a, QUEUE_BODY_ORIGINAL, 0, buf, sizeof(buf), &got),
			 SG_ENOTFOUND);
	/* b: deferred until its recipient's next attempt */
	assert_int_equal(queue_get(f->q, b, 0, &e), 0);
	assert_int_equal(e.state, QUEUE_DEFERRED);
	assert_true(e.next_attempt_ms == later);
	assert_int_equal(e.attempts, 1);
	assert_int_equal(e.rcpt[0].state, QUEUE_RCPT_DELIVERED);
	assert_int_equal(e.rcpt[1].attempts, 1);
	/* d: untouched by its bad item, its good first result included */
	assert_int_equal(queue_get(f->q, d, 0, &e), 0);
	assert_int_equal(e.attempts, 0);
	for (size_t i = 0; i < e.nrcpt; i++) {
		assert_int_equal(e.rcpt[i].state, QUEUE_RCPT_PENDING);
		assert_int_equal(e.rcpt[i].attempts, 0);
	}
	/* c: bounced and retired */
	assert_int_equal(queue_get(f->q, c, QUEUE_GET_TRACK, &e), 0);
	assert_int_equal(e.rcpt[0].state, QUEUE_RCPT_BOUNCED);
	queue_env_free(&e);

	struct queue_stats st = stats(f->q);

	/* a0 a1 b0 sent (not d0: its item was undone), c0 bounced, b1 deferred */
	assert_true(st.counters[QUEUE_C_SENT] == 3);
	assert_true(st.counters[QUEUE_C_BOUNCED] == 1);
	assert_true(st.counters[QUEUE_C_DEFERRED] == 1);
	assert_true(st.count[QUEUE_DONE] == 2);
	/* the schedule holds b (later) and d (its lease), nothing else due */
	assert_int_equal(lease_all(f->q), 0);
	assert_int_equal(queue_next_due(f->q, &when), 0);
	assert_true(when > sg_now_ms() + 200000);
}

/* A record that grows past its limits is undone alone, counters too. */
static void test_many_limit_undone(void **state)
{
	struct fix *f = *state;
	uint64_t a = spool_ready(f->q, 1), b = spool_ready(f->q, 1);
	char   *huge = malloc(QUEUE_MAX_STRING + 2);
	struct queue_env e;

	memset(huge, 'x', QUEUE_MAX_STRING + 1);
	huge[QUEUE_MAX_STRING + 1] = 0;
	assert_int_equal(lease_all(f->q), 2);
	struct queue_result ra[] = {{0, QUEUE_RCPT_DEFERRED, huge, "4.0.0", "mx", 0, NULL}};
	struct queue_result rb[] = {{0, QUEUE_RCPT_DELIVERED, "250 ok", "2.0.0", "mx", 0, NULL}};
	struct queue_record_item it[] = {
		{.id = a,.res = ra,.nres = 1},
		{.id = b,.res = rb,.nres = 1},
	};

	assert_int_equal(queue_record_many(f->q, it, 2), 0);
	assert_int_equal(it[0].result, SG_ELIMIT);
	assert_int_equal(it[1].result, 0);
	assert_true(it[1].done);
	queue_env_init(&e);
	assert_int_equal(queue_get(f->q, a, 0, &e), 0);
	assert_int_equal(e.rcpt[0].attempts, 0);
	assert_int_equal(queue_get(f->q, b, QUEUE_GET_TRACK, &e), 0);
	queue_env_free(&e);

	struct queue_stats st = stats(f->q);

	assert_true(st.counters[QUEUE_C_DEFERRED] == 0);	/* a's counter undone */
	assert_true(st.counters[QUEUE_C_SENT] == 1);
	free(huge);
}

/* A corrupt record is quarantined, the others still recorded. */
static void test_many_corrupt(void **state)
{
	struct fix *f = *state;
	uint64_t a = spool_ready(f->q, 1), b = spool_ready(f->q, 1);
	size_t	nc;

	assert_int_equal(lease_all(f->q), 2);
	/* damage a's envelope behind the queue's back, as a bad disk would */
	fixture_corrupt_env(f, a);

	struct queue_result r[] = {{0, QUEUE_RCPT_DELIVERED, "250 ok", "2.0.0", "mx", 0, NULL}};
	struct queue_record_item it[] = {
		{.id = a,.res = r,.nres = 1},
		{.id = b,.res = r,.nres = 1},
	};

	assert_int_equal(queue_record_many(f->q, it, 2), 0);
	assert_int_equal(it[0].result, SG_ECORRUPT);
	assert_false(it[0].done);
	assert_int_equal(it[1].result, 0);
	assert_true(it[1].done);
	assert_int_equal(queue_corrupt_count(f->q, &nc), 0);
	assert_int_equal(nc, 1);
	assert_true(stats(f->q).counters[QUEUE_C_SENT] == 1);
}

/* A batch is one write transaction; queue_record() one each. */
static void test_many_one_txn(void **state)
{
	struct fix *f = *state;
	enum { N = 40 };
	uint64_t ids[N], t0, t1;
	struct queue_record_item it[N];
	struct queue_result r = {0, QUEUE_RCPT_DELIVERED, "250 ok", "2.0.0", "mx", 0, NULL};
	bool	done;

	for (size_t i = 0; i < N; i++)
		ids[i] = spool_ready(f->q, 1);
	assert_int_equal(lease_all(f->q), N);
	memset(it, 0, sizeof(it));
	for (size_t i = 0; i < N - 3; i++)
		it[i] = (struct queue_record_item) {.id = ids[i],.res = &r,.nres = 1};
	t0 = last_txnid(f->dir);
	assert_int_equal(queue_record_many(f->q, it, N - 3), 0);
	t1 = last_txnid(f->dir);
	assert_true(t1 == t0 + 1);
	for (size_t i = 0; i < N - 3; i++) {
		assert_int_equal(it[i].result, 0);
		assert_true(it[i].done);
	}
	for (size_t i = N - 3; i < N; i++) {
		assert_int_equal(queue_record(f->q, ids[i], &r, 1, 0, NULL, &done), 0);
		assert_true(done);
	}
	assert_true(last_txnid(f->dir) == t1 + 3);
	assert_true(stats(f->q).counters[QUEUE_C_SENT] == N);
	assert_true(stats(f->q).count[QUEUE_DONE] == N);
	/* an empty batch commits nothing */
	assert_int_equal(queue_record_many(f->q, it, 0), 0);
	assert_true(last_txnid(f->dir) == t1 + 3);
}

/* queue_record() is the batch of one: same results, same errors. */
static void test_record_is_one_item(void **state)
{
	struct fix *f = *state;
	uint64_t a = spool_ready(f->q, 2), b = spool_ready(f->q, 2);
	int64_t	later = sg_now_ms() + 900000;
	struct queue_env ea, eb;
	bool	done = true;

	assert_int_equal(lease_all(f->q), 2);
	struct queue_result r[] = {
		{1, QUEUE_RCPT_DEFERRED, "421 busy", "4.3.2", "mx[192.0.2.1]:25", 0, NULL},
		{0, QUEUE_RCPT_DROPPED, "dropped", "5.0.0", "none", 0, NULL},
	};
	struct queue_result bad = {2, QUEUE_RCPT_DELIVERED, "250", "2.0.0", "mx", 0, NULL};
	struct queue_record_item it = {.id = b,.res = r,.nres = 2,.next_attempt_ms = later,
		.route = "r2" };

	assert_int_equal(queue_record(f->q, a, &bad, 1, 0, NULL, &done), SG_EINVAL);
	assert_false(done);
	done = true;
	assert_int_equal(queue_record(f->q, 0x7fffffffffffULL, r, 1, 0, NULL, &done), SG_ENOTFOUND);
	assert_false(done);
	assert_int_equal(queue_record(f->q, a, r, 2, later, "r2", &done), 0);
	assert_false(done);
	assert_int_equal(queue_record_many(f->q, &it, 1), 0);
	assert_int_equal(it.result, 0);
	assert_false(it.done);
	queue_env_init(&ea);
	queue_env_init(&eb);
	assert_int_equal(queue_get(f->q, a, 0, &ea), 0);
	assert_int_equal(queue_get(f->q, b, 0, &eb), 0);
	assert_int_equal(ea.state, QUEUE_DEFERRED);
	assert_int_equal(eb.state, ea.state);
	assert_true(ea.next_attempt_ms == later && eb.next_attempt_ms == later);
	assert_string_equal(ea.route, "r2");
	assert_string_equal(eb.route, ea.route);
	assert_int_equal(ea.attempts, 1);
	assert_int_equal(eb.attempts, ea.attempts);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(eb.rcpt[i].state, ea.rcpt[i].state);
		assert_int_equal(eb.rcpt[i].attempts, ea.rcpt[i].attempts);
		assert_string_equal(eb.rcpt[i].reply, ea.rcpt[i].reply);
		assert_string_equal(eb.rcpt[i].relay, ea.rcpt[i].relay);
	}
	assert_int_equal(ea.rcpt[0].state, QUEUE_RCPT_DROPPED);
	assert_int_equal(ea.rcpt[1].state, QUEUE_RCPT_DEFERRED);
	queue_env_free(&ea);
	queue_env_free(&eb);

	struct queue_stats st = stats(f->q);

	assert_true(st.counters[QUEUE_C_DROPPED] == 2 && st.counters[QUEUE_C_DEFERRED] == 2);
	assert_int_equal(queue_record_many(f->q, NULL, 1), SG_EINVAL);
}

/* Results and the next due messages in one transaction. */
static void test_record_due(void **state)
{
	struct fix *f = *state;
	uint64_t a = spool_ready(f->q, 1), b = spool_ready(f->q, 1), c = spool_ready(f->q, 1);
	uint64_t ids[8], t0;
	size_t	n = 0;
	struct queue_result r = {0, QUEUE_RCPT_DELIVERED, "250 ok", "2.0.0", "mx", 0, NULL};
	struct queue_result bad = {5, QUEUE_RCPT_DELIVERED, "250 ok", "2.0.0", "mx", 0, NULL};

	assert_int_equal(queue_due(f->q, sg_now_ms(), 0, 1, ids, &n), 0);
	assert_true(n == 1 && ids[0] == a);
	struct queue_record_item it[] = {
		{.id = a,.res = &r,.nres = 1},
		{.id = 0x7fffffffffffULL,.res = &bad,.nres = 1},
	};
	struct queue_take take = {.now_ms = sg_now_ms(),.max = 8,.ids = ids };

	t0 = last_txnid(f->dir);
	assert_int_equal(queue_record_due(f->q, it, 2, &take), 0);
	assert_true(last_txnid(f->dir) == t0 + 1);
	assert_int_equal(it[0].result, 0);
	assert_true(it[0].done);
	assert_int_equal(it[1].result, SG_ENOTFOUND);
	assert_int_equal(take.result, 0);
	assert_int_equal(take.n, 2);
	assert_true(ids[0] == b && ids[1] == c);
	assert_int_equal(lease_all(f->q), 0);	/* b and c are leased */
	/* a take alone; nothing due is no error */
	take = (struct queue_take) {.now_ms = sg_now_ms(),.max = 8,.ids = ids };
	assert_int_equal(queue_record_due(f->q, NULL, 0, &take), 0);
	assert_true(take.result == 0 && take.n == 0);
	take.max = 0;
	assert_int_equal(queue_record_due(f->q, it, 1, &take), SG_EINVAL);
}

/*
 * queue_due_peek() finds what queue_due() would take and writes nothing;
 * the results of a message peeked, never leased, are recorded as those
 * of one leased; a key only queue_due() can settle is SG_EAGAIN.
 */
static void test_due_peek(void **state)
{
	struct fix *f = *state;
	uint64_t a = spool_ready(f->q, 1), b = spool_ready(f->q, 1), ids[8], t0;
	int64_t	later = sg_now_ms() + 600000, when = 0;
	size_t	n = 0;
	bool	done = true;
	struct queue_result r = {0, QUEUE_RCPT_DEFERRED, "421 busy", "4.3.2", "mx", later, NULL};

	t0 = last_txnid(f->dir);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(queue_due_peek(f->q, sg_now_ms(), 8, ids, &n), 0);
		assert_true(n == 2 && ids[0] == a && ids[1] == b);
	}
	assert_true(last_txnid(f->dir) == t0);
	assert_int_equal(queue_due_peek(f->q, sg_now_ms(), 1, ids, &n), 0);
	assert_true(n == 1 && ids[0] == a);
	assert_int_equal(queue_due_peek(f->q, sg_now_ms(), 0, ids, &n), SG_EINVAL);

	/* a deferred, then b delivered: neither was leased */
	assert_int_equal(queue_record(f->q, a, &r, 1, 0, NULL, &done), 0);
	assert_false(done);
	r.state = QUEUE_RCPT_DELIVERED;
	assert_int_equal(queue_record(f->q, b, &r, 1, 0, NULL, &done), 0);
	assert_true(done);
	assert_int_equal(queue_due_peek(f->q, sg_now_ms(), 8, ids, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(queue_next_due(f->q, &when), 0);
	assert_true(when == later);
	assert_int_equal(queue_due_peek(f->q, later, 8, ids, &n), 0);
	assert_true(n == 1 && ids[0] == a);
	assert_true(stats(f->q).count[QUEUE_DEFERRED] == 1);
	assert_true(stats(f->q).count[QUEUE_DONE] == 1);

	/* a peeked message whose result could not be stored is leased, as a
	 * take would have, in that commit: not peeked (sent) again */
	uint64_t d = spool_ready(f->q, 1);
	struct queue_result bad = {7, QUEUE_RCPT_DELIVERED, "250 ok", "2.0.0", "mx", 0, NULL};
	struct queue_record_item it = {.id = d,.res = &bad,.nres = 1};

	assert_int_equal(queue_due_peek(f->q, sg_now_ms(), 8, ids, &n), 0);
	assert_true(n == 1 && ids[0] == d);
	assert_int_equal(queue_record_many(f->q, &it, 1), 0);
	assert_int_equal(it.result, SG_EINVAL);
	assert_int_equal(queue_due_peek(f->q, sg_now_ms(), 8, ids, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(queue_next_due(f->q, &when), 0);
	assert_true(when > sg_now_ms() + 60000 && when < later);	/* d's lease */
	assert_int_equal(queue_delete(f->q, &d, 1, "test", NULL, NULL), 0);

	/* a corrupt record: queue_due() quarantines it, then peeking works again */
	uint64_t c = spool_ready(f->q, 1);

	fixture_corrupt_env(f, c);
	assert_int_equal(queue_due_peek(f->q, later, 8, ids, &n), SG_EAGAIN);
	assert_int_equal(n, 0);
	assert_int_equal(queue_due(f->q, later, 0, 8, ids, &n), 0);
	assert_true(n == 1 && ids[0] == a);
	assert_int_equal(queue_due_peek(f->q, later, 8, ids, &n), 0);
	assert_int_equal(n, 0);			/* a is leased now */
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_many_mixed, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_many_limit_undone, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_many_corrupt, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_many_one_txn, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_record_is_one_item, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_record_due, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_due_peek, fixture_setup, fixture_teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
