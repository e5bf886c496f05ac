/*
 * NAME
 *	test_queue_tally 1
 * SUMMARY
 *	unit tests of the per-state tally: always what a walk counts
 * DESCRIPTION
 *	queue_stats() reads the tally the queue keeps in the transactions
 *	that change envelopes; queue_stats_recount() walks every envelope.
 *	Each test compares the two (count and bytes per live state,
 *	recipients, the oldest id) on a real queue in a temporary directory:
 *	after a seeded random run of every kind of change the roles and
 *	sealctl make (spool in three states, claim, complete whole, split,
 *	held and finished, delivery results of every kind, hold, release,
 *	delete, retry, quarantine, lease releases); after aborted
 *	transactions, plain and nested (white box, queue_int.h); after a
 *	child process killed with SIGKILL in the middle of a write
 *	transaction; on a queue made before the tally (its meta record
 *	removed behind the queue's back): counted by a walk while read-only,
 *	built once by the next writer; after a corrupt record is
 *	quarantined, and after a record is stored over one that cannot be read. The negative control: a tally altered on disk no longer
 *	compares equal, so the comparison can fail.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <lmdb.h>
#include <cmocka.h>

#include "queue/queue.h"
#include "queue/queue_int.h"
#include "queue_fixture.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return ((uint32_t) (rng >> 11));
}

/* same - what the tally keeps equals what a walk counts */

static bool same(const struct queue_stats *a, const struct queue_stats *b)
{
	for (int s = 0; s < QUEUE_DONE; s++)
		if (a->count[s] != b->count[s] || a->bytes[s] != b->bytes[s])
			return (false);
	return (a->recipients == b->recipients && a->oldest_id == b->oldest_id &&
		a->oldest_ms == b->oldest_ms && a->count[QUEUE_DONE] == b->count[QUEUE_DONE]);
}

static struct queue_stats check(struct queue *q)
{
	struct queue_stats t, w;

	assert_int_equal(queue_stats(q, &t), 0);
	assert_int_equal(queue_stats_recount(q, &w), 0);
	assert_false(t.walked);
	assert_true(w.walked);
	assert_true(same(&t, &w));
	return (t);
}

static uint64_t spool_some(struct queue *q, enum queue_state s, size_t nrcpt, size_t size)
{
	static const char *const rcpts[] = {"a@example.net", "b@example.net", "c@example.org"};
	static char body[4096];
	struct queue_env e;
	struct queue_body_src b = {.data = body,.fd = -1,.len = size};
	uint64_t id = 0;

	memset(body, 'x', sizeof(body));
	queue_env_init(&e);
	e.state = s;
	e.sender = "s@example.com";
	for (size_t i = 0; i < nrcpt; i++)
		queue_env_rcpt_add(&e, rcpts[i % 3]);
	assert_int_equal(queue_spool(q, &e, &b, &id), 0);
	queue_env_free(&e);
	return (id);
}

/* a_live - some live message's id (0: none), by a random step through a walk */

struct pick {
	uint32_t skip;
	uint64_t id;
};

static int pick_one(const struct queue_env *e, void *arg)
{
	struct pick *p = arg;

	p->id = e->id;
	return (p->skip-- == 0);
}

static uint64_t a_live(struct queue *q)
{
	struct pick p = {next_rand() % 40, 0};
	uint64_t cursor = 0;

	(void) queue_scan(q, 0, &cursor, 0, pick_one, &p);
	return (p.id);
}

/* complete_claimed - finish a worker claim: whole, split, held or done */

static void complete_claimed(struct queue *q, uint64_t id)
{
	static const enum queue_state to[] = {QUEUE_READY, QUEUE_HOLD, QUEUE_DONE};
	struct queue_env e, half;
	struct queue_part parts[2];
	uint64_t new_ids[2];
	size_t	n;

	queue_env_init(&e);
	assert_int_equal(queue_get(q, id, 0, &e), 0);
	parts[0] = (struct queue_part) {.env = &e,.state = to[next_rand() % 3]};
	n = 1;
	if (e.nrcpt > 1 && next_rand() % 2) {
		/* split: the first recipient alone, the rest in the other copy */
		half = e;
		half.nrcpt = 1;
		parts[0].env = &half;
		e.rcpt++;
		e.nrcpt--;
		parts[1] = (struct queue_part) {.env = &e,.state = QUEUE_READY };
		n = 2;
	}
	assert_int_equal(queue_complete(q, id, "w1", parts, n, new_ids), 0);
	if (n == 2)
		e.rcpt--;
	queue_env_free(&e);
}

static void deliver_some(struct queue *q)
{
	static const enum queue_rcpt_state rs[] = {QUEUE_RCPT_DELIVERED, QUEUE_RCPT_DEFERRED,
		QUEUE_RCPT_BOUNCED, QUEUE_RCPT_DROPPED};
	uint64_t ids[8];
	size_t	n = 0;

	assert_int_equal(queue_due(q, sg_now_ms(), 0, 1 + next_rand() % 8, ids, &n), 0);
	for (size_t i = 0; i < n; i++) {
		struct queue_result r = {.index = 0,.state = rs[next_rand() % 4],.reply = "250 ok",
			.dsn_status = "2.0.0",.relay = "mx", };
		bool	done;

		r.next_attempt_ms = r.state == QUEUE_RCPT_DEFERRED ? sg_now_ms() - 1 : 0;
		assert_int_equal(queue_record(q, ids[i], &r, 1, 0, "route", &done), 0);
	}
}

/* one_change - one random change of the kinds the roles and sealctl make */

static void one_change(struct queue *q)
{
	static const enum queue_state in[] = {QUEUE_INCOMING, QUEUE_READY, QUEUE_HOLD};
	uint64_t ids[4], id;
	size_t	n = 0;

	switch (next_rand() % 10) {
	case 0:
	case 1:
		spool_some(q, in[next_rand() % 3], 1 + next_rand() % 3, 1 + next_rand() % 4000);
		break;
	case 2:
		assert_int_equal(queue_claim(q, "w1", 0, 1 + next_rand() % 4, ids, &n), 0);
		for (size_t i = 0; i < n; i++)
			if (next_rand() % 4)
				complete_claimed(q, ids[i]);
		break;
	case 3:
		deliver_some(q);
		break;
	case 4:
		if ((id = a_live(q)) != 0)
			(void) queue_hold(q, &id, 1, "held", NULL, NULL);
		break;
	case 5:
		if ((id = a_live(q)) != 0)
			(void) queue_release(q, &id, 1, NULL, NULL);
		break;
	case 6:
		if ((id = a_live(q)) != 0)
			(void) queue_delete(q, &id, 1, "deleted", NULL, NULL);
		break;
	case 7:
		if ((id = a_live(q)) != 0)
			(void) queue_retry(q, &id, 1, NULL, NULL);
		break;
	case 8:
		if ((id = a_live(q)) != 0 && next_rand() % 4 == 0)
			assert_int_equal(queue_quarantine(q, id), 0);
		break;
	default:
		assert_int_equal(queue_leases_release(q, next_rand() % 2 ? QUEUE_ROLE_WORKER :
						      QUEUE_ROLE_DELIVERY, NULL), 0);
	}
}

static void test_random_changes(void **state)
{
	struct fix *f = *state;
	struct queue_stats st;

	for (int i = 0; i < 600; i++) {
		one_change(f->q);
		if (i % 25 == 0)
			check(f->q);
	}
	st = check(f->q);
	/* the run went through every live state and left some mail behind */
	assert_true(st.count[QUEUE_DONE] > 0 && st.corrupt > 0);
	assert_true(st.count[QUEUE_INCOMING] + st.count[QUEUE_READY] + st.count[QUEUE_DEFERRED] +
		    st.count[QUEUE_HOLD] > 0);
}

/* An aborted transaction, top-level or nested, takes its tally moves along. */
static void test_aborted_transactions(void **state)
{
	struct fix *f = *state;
	struct queue_body_src b = {.data = "body\r\n",.fd = -1,.len = 6};
	struct queue_body_src bad = {.data = NULL,.fd = -1,.len = 10};	/* pread fails */
	struct queue_stats before, after;
	struct queue_env e, e2, one, rest;
	struct queue_part part, split[2];
	struct queue_completion items[2];
	uint64_t id, ids[2], new_ids[2];
	size_t	n;
	MDB_txn *txn;

	spool_some(f->q, QUEUE_INCOMING, 2, 100);
	spool_some(f->q, QUEUE_INCOMING, 2, 300);
	spool_some(f->q, QUEUE_READY, 1, 200);
	before = check(f->q);

	queue_env_init(&e);
	e.state = QUEUE_HOLD;
	queue_env_rcpt_add(&e, "x@example.org");
	assert_int_equal(queue_txn_begin(f->q, false, &txn), 0);
	assert_int_equal(queue_spool_txn(f->q, txn, &e, &b, &id), 0);
	assert_int_equal(queue_spool_txn(f->q, txn, &e, &b, &id), 0);
	queue_txn_abort(txn);
	after = check(f->q);
	assert_true(same(&before, &after));
	queue_env_free(&e);

	/*
	 * A batch: the first item held, the second split whose second copy's
	 * body cannot be read, after the first copy was stored (and counted)
	 * in the item's nested transaction, which is then undone.
	 */
	assert_int_equal(queue_claim(f->q, "w1", 0, 2, ids, &n), 0);
	assert_int_equal(n, 2);
	queue_env_init(&e);
	queue_env_init(&e2);
	assert_int_equal(queue_get(f->q, ids[0], 0, &e), 0);
	assert_int_equal(queue_get(f->q, ids[1], 0, &e2), 0);
	part = (struct queue_part) {.env = &e,.state = QUEUE_HOLD };
	one = e2;
	one.nrcpt = 1;
	rest = e2;
	rest.rcpt++;
	rest.nrcpt = 1;
	split[0] = (struct queue_part) {.env = &one,.state = QUEUE_READY };
	split[1] = (struct queue_part) {.env = &rest,.body = &bad,.state = QUEUE_READY };
	items[0] = (struct queue_completion) {.id = ids[0],.parts = &part,.nparts = 1 };
	items[1] = (struct queue_completion) {.id = ids[1],.parts = split,.nparts = 2,
		.new_ids = new_ids };
	assert_int_equal(queue_complete_batch(f->q, "w1", items, 2), 0);
	assert_int_equal(items[0].result, 0);
	assert_true(items[1].result != 0);
	after = check(f->q);
	assert_true(after.count[QUEUE_HOLD] == 1 && after.count[QUEUE_WORKING] == 1);
	assert_true(after.count[QUEUE_READY] == before.count[QUEUE_READY]);
	queue_env_free(&e);
	queue_env_free(&e2);
}

/* A writer killed in the middle of its transaction moves nothing. */
static void test_killed_writer(void **state)
{
	struct fix *f = *state;
	struct queue_stats before, after;
	pid_t	pid;
	int	status;

	spool_some(f->q, QUEUE_INCOMING, 1, 10);
	spool_some(f->q, QUEUE_READY, 3, 1000);
	before = check(f->q);
	queue_close(f->q);		/* never share an environment across fork() */
	f->q = NULL;
	if ((pid = fork()) == 0) {
		struct queue_body_src b = {.data = "body\r\n",.fd = -1,.len = 6};
		struct queue *q;
		struct queue_env e;
		uint64_t id, ids[1];
		size_t	n;
		MDB_txn *txn;

		if (queue_open(&f->main, &f->conf, 0, &q) != 0)
			_exit(2);
		queue_env_init(&e);
		e.state = QUEUE_READY;
		queue_env_rcpt_add(&e, "x@example.org");
		(void) queue_claim(q, "w1", 0, 1, ids, &n);
		if (queue_txn_begin(q, false, &txn) != 0 ||
		    queue_spool_txn(q, txn, &e, &b, &id) != 0)
			_exit(3);
		raise(SIGKILL);		/* with the transaction open */
		_exit(4);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(queue_open(&f->main, &f->conf, 0, &f->q), 0);
	after = check(f->q);
	/* the claim committed (INCOMING -> WORKING), the spool did not */
	assert_true(after.count[QUEUE_WORKING] == 1 && after.count[QUEUE_INCOMING] == 0);
	assert_true(after.count[QUEUE_READY] == before.count[QUEUE_READY]);
	spool_some(f->q, QUEUE_READY, 1, 5);
	check(f->q);
}

static void test_upgrade(void **state)
{
	struct fix *f = *state;
	struct queue_stats t, w;

	for (int i = 0; i < 30; i++)
		spool_some(f->q, (enum queue_state) (i % 3 == 0 ? QUEUE_HOLD : QUEUE_INCOMING),
			   1 + i % 3, 10 + i);
	w = check(f->q);
	queue_close(f->q);
	f->q = NULL;
	fixture_raw_closed(f, "meta", "tally", 5, NULL, 0);	/* a queue from before it */
	/* read-only, nobody built it yet: counted by a walk, the same figures */
	assert_int_equal(queue_open(&f->main, &f->conf, QUEUE_RDONLY, &f->q), 0);
	assert_int_equal(queue_stats(f->q, &t), 0);
	assert_true(t.walked && same(&t, &w));
	queue_close(f->q);
	/* the next writer builds it, once, and keeps it */
	assert_int_equal(queue_open(&f->main, &f->conf, 0, &f->q), 0);
	t = check(f->q);
	assert_true(same(&t, &w) && t.count[QUEUE_HOLD] == 10);
	spool_some(f->q, QUEUE_HOLD, 2, 7);
	t = check(f->q);
	assert_true(t.count[QUEUE_HOLD] == 11);
}

/* A corrupt record quarantined: unreadable, so the tally is counted again. */
static void test_quarantine_unreadable(void **state)
{
	struct fix *f = *state;
	uint64_t a = spool_some(f->q, QUEUE_INCOMING, 2, 50);
	uint64_t b = spool_some(f->q, QUEUE_INCOMING, 1, 60);
	struct queue_stats t, w;

	(void) a;
	fixture_corrupt_env(f, b);	/* as a bad disk would, after it was counted */
	assert_int_equal(queue_stats(f->q, &t), 0);
	assert_int_equal(queue_stats_recount(f->q, &w), 0);	/* meets b: quarantined */
	assert_true(t.count[QUEUE_INCOMING] == 2 && w.count[QUEUE_INCOMING] == 1);
	/* what b had added is unknown: the quarantine dropped the tally (no
	 * walk inside that commit), statistics count until it is built */
	assert_int_equal(queue_stats(f->q, &t), 0);
	assert_true(t.walked && t.count[QUEUE_INCOMING] == 1 && t.recipients == 2);
	assert_int_equal(queue_tally_repair(f->q), 0);
	t = check(f->q);
	assert_true(t.count[QUEUE_INCOMING] == 1 && t.recipients == 2 && t.corrupt == 1);
}

/*
 * A record stored over one that cannot be read: what the old one added is
 * unknown, so the tally is dropped in that commit (statistics count by a
 * walk until it is built again), never moved by a guess.
 */
static void test_store_over_unreadable(void **state)
{
	struct fix *f = *state;
	uint64_t b = spool_some(f->q, QUEUE_INCOMING, 1, 60);
	struct queue_stats t;
	struct queue_env e;
	MDB_txn *txn;

	spool_some(f->q, QUEUE_INCOMING, 2, 50);
	fixture_corrupt_env(f, b);
	queue_env_init(&e);
	e.id = b;
	e.state = QUEUE_HOLD;
	e.sender = "s@example.com";
	e.size = 70;
	queue_env_rcpt_add(&e, "c@example.org");
	queue_env_rcpt_add(&e, "d@example.org");
	queue_env_rcpt_add(&e, "e@example.org");
	assert_int_equal(queue_txn_begin(f->q, false, &txn), 0);
	assert_int_equal(queue_env_store(f->q, txn, f->q->db_env, &e, 0), 0);
	assert_int_equal(queue_txn_commit(txn), 0);
	queue_env_free(&e);
	assert_int_equal(queue_stats(f->q, &t), 0);
	assert_true(t.walked);
	assert_true(t.count[QUEUE_INCOMING] == 1 && t.count[QUEUE_HOLD] == 1);
	assert_true(t.recipients == 5 && t.bytes[QUEUE_HOLD] == 70);
	assert_int_equal(queue_tally_repair(f->q), 0);
	t = check(f->q);
	assert_false(t.walked);
	assert_true(t.count[QUEUE_HOLD] == 1 && t.recipients == 5);
}

/* Negative control: a tally that is wrong is seen to be wrong. */
static void test_wrong_tally_detected(void **state)
{
	struct fix *f = *state;
	struct queue_stats t, w;
	uint8_t	v[8 * (2 * QUEUE_NSTATES + 1)] = {0};

	spool_some(f->q, QUEUE_INCOMING, 1, 10);
	check(f->q);
	v[7] = 5;			/* five incoming, where there is one */
	fixture_raw(f, "meta", "tally", 5, v, sizeof(v));
	assert_int_equal(queue_stats(f->q, &t), 0);
	assert_int_equal(queue_stats_recount(f->q, &w), 0);
	assert_false(t.walked);
	assert_true(t.count[QUEUE_INCOMING] == 5 && w.count[QUEUE_INCOMING] == 1);
	assert_false(same(&t, &w));
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_random_changes, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_aborted_transactions, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_killed_writer, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_upgrade, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_quarantine_unreadable, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_store_over_unreadable, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_wrong_tally_detected, fixture_setup,
						fixture_teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
