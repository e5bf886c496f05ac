/*
 * NAME
 *	test_queue_relaxed 1
 * SUMMARY
 *	unit tests of relaxed commits: which commits skip the synchronous
 *	meta page write, and that every other one is durable again
 * DESCRIPTION
 *	White box: the test reads the environment's MDB_NOMETASYNC flag
 *	(queue_int.h) after each kind of commit of a real queue in a
 *	temporary directory. Relaxed (the flag set by the commit): a
 *	worker's claim, its results (queue_complete), delivery's take
 *	(queue_due). Durable (the flag cleared by the commit): a spool (what
 *	a 250 promises), a delivery result (queue_record), a hold. A
 *	read-only transaction in between changes nothing. The relaxed cases
 *	are the negative control of the durable ones: the flag this test
 *	reads is the one LMDB's commit reads.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lmdb.h>
#include <cmocka.h>

#include "queue/queue.h"
#include "queue/queue_int.h"
#include "queue_fixture.h"

static bool relaxed(struct queue *q)
{
	unsigned flags = 0;

	assert_int_equal(mdb_env_get_flags(q->env, &flags), 0);
	return ((flags & MDB_NOMETASYNC) != 0);
}

static void read_only(struct queue *q, uint64_t id)
{
	struct queue_env e;
	bool	before = relaxed(q);

	queue_env_init(&e);
	assert_int_equal(queue_get(q, id, 0, &e), 0);
	queue_env_free(&e);
	assert_int_equal(relaxed(q), before);
}

static void test_worker_commits(void **state)
{
	struct fix *f = *state;
	uint64_t id = fixture_spool(f->q, QUEUE_INCOMING), ids[4];
	struct queue_env env;
	struct queue_part part = {.env = &env,.state = QUEUE_READY };
	size_t	n = 0, changed = 0;
	int	res = 0;

	assert_false(relaxed(f->q));
	assert_int_equal(queue_claim(f->q, "w.1", 0, 4, ids, &n), 0);
	assert_int_equal(n, 1);
	assert_true(relaxed(f->q));			/* the claim */
	read_only(f->q, id);
	assert_int_equal(fixture_spool(f->q, QUEUE_INCOMING) > id, true);
	assert_false(relaxed(f->q));			/* a spool is durable again */
	queue_env_init(&env);
	assert_int_equal(queue_get(f->q, id, 0, &env), 0);
	assert_int_equal(queue_complete(f->q, id, "w.1", &part, 1, NULL), 0);
	queue_env_free(&env);
	assert_true(relaxed(f->q));			/* the results */
	assert_int_equal(queue_hold(f->q, &id, 1, "test", &res, &changed), 0);
	assert_int_equal(changed, 1);
	assert_false(relaxed(f->q));			/* an administrator's change */
}

static void test_delivery_commits(void **state)
{
	struct fix *f = *state;
	struct queue_result res = {.index = 0,.state = QUEUE_RCPT_DELIVERED,
		.reply = "250 ok",.dsn_status = "2.0.0",.relay = "mx[192.0.2.1]:25" };
	uint64_t id = fixture_spool(f->q, QUEUE_READY), ids[4];
	size_t	n = 0;
	bool	done = false;

	assert_int_equal(queue_due(f->q, sg_now_ms() + 1000, 0, 4, ids, &n), 0);
	assert_int_equal(n, 1);
	assert_true(relaxed(f->q));			/* the take */
	read_only(f->q, id);
	assert_int_equal(queue_record(f->q, id, &res, 1, 0, NULL, &done), 0);
	assert_true(done);
	assert_false(relaxed(f->q));			/* the result */
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_worker_commits, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_delivery_commits, fixture_setup,
						fixture_teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
