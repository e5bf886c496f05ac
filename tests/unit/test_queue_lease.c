/*
 * NAME
 *	test_queue_lease 1
 * SUMMARY
 *	unit tests of recovery after a crash: role locks and releasing the
 *	leases a dead role left (queue_role_lock, queue_leases_release)
 * DESCRIPTION
 *	Each test opens a real queue in its own temporary state directory.
 *	Checked: the worker's claims and the messages delivery took with
 *	queue_due() come back at once on release, and nothing else does
 *	(messages recorded, held, retried or deleted after they were taken
 *	stay where they are); a release is idempotent; more than one
 *	transaction's worth is released; the lock is exclusive between
 *	processes, says who holds it, waits when asked, and dies with its
 *	holder (SIGKILL); a read-only open works on a queue made before the
 *	taken table existed.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <lmdb.h>
#include <cmocka.h>

#include "queue/queue.h"
#include "queue_fixture.h"

#define MINUTES_5 300000

static struct queue_env *get(struct queue *q, uint64_t id, struct queue_env *e)
{
	queue_env_init(e);
	assert_int_equal(queue_get(q, id, 0, e), 0);
	return (e);
}

static int state_of(struct queue *q, uint64_t id)
{
	struct queue_env e;
	int	st = get(q, id, &e)->state;

	queue_env_free(&e);
	return (st);
}

/* ------------------------------------------------------------ worker */

static void test_worker_claims_released(void **state)
{
	struct fix *f = *state;
	uint64_t a = fixture_spool(f->q, QUEUE_INCOMING), b = fixture_spool(f->q, QUEUE_INCOMING);
	uint64_t c = fixture_spool(f->q, QUEUE_INCOMING), ids[8];
	size_t	n, released;

	/* a worker that then dies holds a and b for five minutes */
	assert_int_equal(queue_claim(f->q, "worker.1.0", MINUTES_5, 2, ids, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(state_of(f->q, a), QUEUE_WORKING);
	assert_int_equal(queue_claim(f->q, "worker.2.0", MINUTES_5, 8, ids, &n), 0);
	assert_true(n == 1 && ids[0] == c);	/* the new worker sees only c */
	assert_int_equal(queue_leases_release(f->q, QUEUE_ROLE_WORKER, &released), 0);
	assert_int_equal(released, 3);		/* c was claimed too, by worker.2 */
	assert_int_equal(state_of(f->q, a), QUEUE_INCOMING);
	assert_int_equal(state_of(f->q, b), QUEUE_INCOMING);
	assert_int_equal(queue_claim(f->q, "worker.3.0", MINUTES_5, 8, ids, &n), 0);
	assert_true(n == 3 && ids[0] == a && ids[1] == b && ids[2] == c);
	/* the old owner's completion is refused: the new one holds it */
	struct queue_env e;
	struct queue_part part = {.env = get(f->q, a, &e),.state = QUEUE_READY};

	assert_int_equal(queue_complete(f->q, a, "worker.1.0", &part, 1, NULL), SG_EBUSY);
	assert_int_equal(queue_complete(f->q, a, "worker.3.0", &part, 1, NULL), 0);
	queue_env_free(&e);
	/* nothing but claims is touched: ready and free entries stay */
	assert_int_equal(state_of(f->q, a), QUEUE_READY);
	assert_int_equal(queue_leases_release(f->q, QUEUE_ROLE_WORKER, &released), 0);
	assert_int_equal(released, 2);
	assert_int_equal(queue_leases_release(f->q, QUEUE_ROLE_WORKER, &released), 0);
	assert_int_equal(released, 0);
	assert_int_equal(state_of(f->q, a), QUEUE_READY);
}

/* ---------------------------------------------------------- delivery */

static void test_delivery_taken_released(void **state)
{
	struct fix *f = *state;
	uint64_t a = fixture_spool(f->q, QUEUE_READY), b = fixture_spool(f->q, QUEUE_READY);
	uint64_t c = fixture_spool(f->q, QUEUE_READY), ids[8];
	int64_t	now = sg_now_ms();		/* after the spools: all three are due */
	struct queue_env e;
	size_t	n, released;

	/* a delivery process takes a and b, then dies */
	assert_int_equal(queue_due(f->q, now, MINUTES_5, 2, ids, &n), 0);
	assert_true(n == 2 && ids[0] == a && ids[1] == b);
	assert_true(get(f->q, a, &e)->next_attempt_ms == now + MINUTES_5);
	queue_env_free(&e);
	assert_int_equal(queue_due(f->q, sg_now_ms(), MINUTES_5, 8, ids, &n), 0);
	assert_true(n == 1 && ids[0] == c);
	/* c is the live one's: it is on the schedule again after the release too */
	assert_int_equal(queue_leases_release(f->q, QUEUE_ROLE_DELIVERY, &released), 0);
	assert_int_equal(released, 3);
	assert_true(get(f->q, a, &e)->next_attempt_ms <= sg_now_ms());
	assert_int_equal(e.state, QUEUE_READY);
	queue_env_free(&e);
	assert_int_equal(queue_due(f->q, sg_now_ms(), MINUTES_5, 8, ids, &n), 0);
	assert_true(n == 3 && ids[0] == a && ids[1] == b && ids[2] == c);
	/* taken again, so noted again */
	assert_int_equal(queue_leases_release(f->q, QUEUE_ROLE_DELIVERY, &released), 0);
	assert_int_equal(released, 3);
	assert_int_equal(queue_leases_release(f->q, QUEUE_ROLE_DELIVERY, &released), 0);
	assert_int_equal(released, 0);
}

/*
 * Taken, then moved by something else: the note is stale and the release
 * leaves the message where it now is.
 */
static void test_delivery_stale_notes(void **state)
{
	struct fix *f = *state;
	uint64_t done = fixture_spool(f->q, QUEUE_READY), later = fixture_spool(f->q, QUEUE_READY);
	uint64_t held = fixture_spool(f->q, QUEUE_READY), retried = fixture_spool(f->q, QUEUE_READY);
	uint64_t gone = fixture_spool(f->q, QUEUE_READY), ids[8];
	int64_t	when = sg_now_ms() + 3600000;
	struct queue_env e;
	size_t	n, released;
	bool	fin;
	int	res[1];

	assert_int_equal(queue_due(f->q, sg_now_ms(), MINUTES_5, 8, ids, &n), 0);
	assert_int_equal(n, 5);
	struct queue_result ok = {0, QUEUE_RCPT_DELIVERED, "250 ok", "2.0.0", "mx", 0, NULL};
	struct queue_result defer = {0, QUEUE_RCPT_DEFERRED, "451 later", "4.0.0", "mx", when, NULL};

	assert_int_equal(queue_record(f->q, done, &ok, 1, 0, NULL, &fin), 0);
	assert_true(fin);
	assert_int_equal(queue_record(f->q, later, &defer, 1, 0, NULL, &fin), 0);
	assert_int_equal(queue_hold(f->q, &held, 1, NULL, res, &n), 0);
	assert_int_equal(queue_retry(f->q, &retried, 1, res, &n), 0);
	assert_int_equal(queue_delete(f->q, &gone, 1, NULL, res, &n), 0);
	assert_int_equal(queue_leases_release(f->q, QUEUE_ROLE_DELIVERY, &released), 0);
	assert_int_equal(released, 0);
	assert_true(get(f->q, later, &e)->next_attempt_ms == when);
	assert_int_equal(e.state, QUEUE_DEFERRED);
	queue_env_free(&e);
	assert_int_equal(state_of(f->q, held), QUEUE_HOLD);
	/* only the retried one is due, and only once */
	assert_int_equal(queue_due(f->q, sg_now_ms(), MINUTES_5, 8, ids, &n), 0);
	assert_true(n == 1 && ids[0] == retried);
	assert_int_equal(queue_due(f->q, sg_now_ms(), MINUTES_5, 8, ids, &n), 0);
	assert_int_equal(n, 0);
}

/* ----------------------------------------------- more than one txn */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t	done, errors;
} sy = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static void on_done(struct queue_req *r, int err)
{
	(void) r;
	pthread_mutex_lock(&sy.mu);
	sy.done++;
	sy.errors += err != 0;
	pthread_cond_signal(&sy.cv);
	pthread_mutex_unlock(&sy.mu);
}

/* spool_many - n messages in state s by group commit (seconds, not minutes) */

static void spool_many(struct queue *q, enum queue_state s, size_t n)
{
	struct queue_req *reqs = calloc(n, sizeof(*reqs));
	struct queue_committer *c;
	struct queue_env e;

	queue_env_init(&e);
	e.state = s;
	queue_env_rcpt_add(&e, "r@example.net");
	sy.done = sy.errors = 0;
	for (size_t i = 0; i < n; i++)
		reqs[i] = (struct queue_req) {.env = &e,.body = {.data = "b",.fd = -1,.len = 1},.done = on_done};
	assert_int_equal(queue_committer_start(q, &c), 0);
	for (size_t i = 0; i < n; i++)
		queue_submit(c, &reqs[i]);
	pthread_mutex_lock(&sy.mu);
	while (sy.done < n)
		pthread_cond_wait(&sy.cv, &sy.mu);
	pthread_mutex_unlock(&sy.mu);
	queue_committer_stop(c);
	assert_int_equal(sy.errors, 0);
	queue_env_free(&e);
	free(reqs);
}

static void test_release_many(void **state)
{
	struct fix *f = *state;
	enum { N = 10050 };
	uint64_t *ids = calloc(N + 1, sizeof(*ids));
	size_t	n, released;

	spool_many(f->q, QUEUE_INCOMING, N);
	assert_int_equal(queue_claim(f->q, "worker.1.0", MINUTES_5, N, ids, &n), 0);
	assert_int_equal(n, N);
	assert_int_equal(queue_leases_release(f->q, QUEUE_ROLE_WORKER, &released), 0);
	assert_int_equal(released, N);
	assert_int_equal(queue_claim(f->q, "worker.2.0", MINUTES_5, N + 1, ids, &n), 0);
	assert_int_equal(n, N);
	spool_many(f->q, QUEUE_READY, N);
	assert_int_equal(queue_due(f->q, sg_now_ms(), MINUTES_5, N + 1, ids, &n), 0);
	assert_int_equal(n, N);
	assert_int_equal(queue_leases_release(f->q, QUEUE_ROLE_DELIVERY, &released), 0);
	assert_int_equal(released, N);
	assert_int_equal(queue_due(f->q, sg_now_ms(), MINUTES_5, N + 1, ids, &n), 0);
	assert_int_equal(n, N);
	assert_int_equal(queue_leases_release(f->q, 7, &released), SG_EINVAL);
	free(ids);
}

/* -------------------------------------------------------------- locks */

/*
 * try_in_child - queue_role_lock() in a new process; its result is the exit
 * status. With ready >= 0 it writes a byte there once it holds the lock and
 * stays until killed.
 */
static pid_t try_in_child(struct fix *f, int close_fd, int64_t wait_ms, pid_t expect_holder,
			  int ready)
{
	pid_t	pid = fork();

	if (pid == 0) {
		pid_t	holder = -1;
		int	fd, rc;

		if (close_fd >= 0)
			close(close_fd);	/* the parent's lock is not ours */
		rc = queue_role_lock(&f->main, QUEUE_ROLE_DELIVERY, wait_ms, &fd, &holder);
		if (rc == SG_EBUSY)
			_exit(holder == expect_holder ? 1 : 3);
		if (rc != 0)
			_exit(4);
		if (ready >= 0 && write(ready, "x", 1) == 1)
			pause();
		_exit(0);
	}
	return (pid);
}

static int exit_code(pid_t pid)
{
	int	status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	return (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static void test_role_lock(void **state)
{
	struct fix *f = *state;
	pid_t	holder, child;
	int	fd, fd2, p[2];
	char	path[128], c;

	assert_int_equal(queue_role_lock(&f->main, QUEUE_ROLE_DELIVERY, 0, &fd, &holder), 0);
	assert_true(fd >= 0);
	snprintf(path, sizeof(path), "%s/lock.delivery", f->dir);
	assert_int_equal(access(path, F_OK), 0);
	/* another process is refused, and told who holds it */
	assert_int_equal(exit_code(try_in_child(f, fd, 0, getpid(), -1)), 1);
	/* the worker's lock is another lock */
	assert_int_equal(queue_role_lock(&f->main, QUEUE_ROLE_WORKER, 0, &fd2, NULL), 0);
	close(fd2);
	/* one that waits gets it once the holder lets go */
	child = try_in_child(f, fd, 3000, 0, -1);
	usleep(200000);
	close(fd);
	assert_int_equal(exit_code(child), 0);
	/* a holder killed with SIGKILL loses it at once */
	assert_int_equal(pipe(p), 0);
	child = try_in_child(f, -1, 0, 0, p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	close(p[1]);
	assert_int_equal(queue_role_lock(&f->main, QUEUE_ROLE_DELIVERY, 0, &fd, &holder),
			 SG_EBUSY);
	assert_true(holder == child && fd == -1);
	kill(child, SIGKILL);
	assert_int_equal(waitpid(child, NULL, 0), child);
	assert_int_equal(queue_role_lock(&f->main, QUEUE_ROLE_DELIVERY, 0, &fd, &holder), 0);
	close(fd);
	assert_int_equal(queue_role_lock(&f->main, 9, 0, &fd, NULL), SG_EINVAL);
}

/* ------------------------------------------------------------ upgrade */

/* A queue written before the taken table existed still opens read-only. */

static void test_rdonly_without_taken(void **state)
{
	struct fix *f = *state;
	struct queue *ro = NULL;
	char	path[128];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi	dbi;
	uint64_t id = fixture_spool(f->q, QUEUE_READY);

	queue_close(f->q);
	f->q = NULL;
	snprintf(path, sizeof(path), "%s/queue", f->dir);
	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	mdb_env_set_mapsize(env, f->conf.map_size_max);
	assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "taken", 0, &dbi), 0);
	assert_int_equal(mdb_drop(txn, dbi, 1), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	assert_int_equal(queue_open(&f->main, &f->conf, QUEUE_RDONLY, &ro), 0);
	struct queue_env e;

	queue_env_init(&e);
	assert_int_equal(queue_get(ro, id, 0, &e), 0);
	queue_env_free(&e);
	queue_close(ro);
	/* a writer makes it again */
	assert_int_equal(queue_open(&f->main, &f->conf, 0, &f->q), 0);
	assert_int_equal(queue_leases_release(f->q, QUEUE_ROLE_DELIVERY, NULL), 0);
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_worker_claims_released, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_delivery_taken_released, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_delivery_stale_notes, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_release_many, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_role_lock, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_rdonly_without_taken, fixture_setup,
						fixture_teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
