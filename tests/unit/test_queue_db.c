/*
 * NAME
 *	test_queue_db 1
 * SUMMARY
 *	unit tests of the LMDB queue: spool, group commit, leases, schedule,
 *	results, splits, operator changes, quarantine, map full, processes
 * DESCRIPTION
 *	Each test opens a real queue in its own temporary state directory.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <pwd.h>
#include <unistd.h>
#include <lmdb.h>
#include <cmocka.h>

#include "queue/queue.h"
#include "queue_fixture.h"


static uint64_t spool(struct queue *q, enum queue_state s, const char *body, size_t nrcpt,
		      int64_t next)
{
	static const char *const rcpts[] = {"a@example.net", "b@example.net", "c@example.org"};
	struct queue_env e;
	struct queue_body_src b = {.data = body,.fd = -1,.len = strlen(body)};
	uint64_t id = 0;

	queue_env_init(&e);
	e.state = s;
	e.sender = "s@example.com";
	e.client_addr = "192.0.2.1";
	e.next_attempt_ms = next;
	for (size_t i = 0; i < nrcpt; i++)
		queue_env_rcpt_add(&e, rcpts[i % 3]);
	assert_int_equal(queue_spool(q, &e, &b, &id), 0);
	assert_true(id != 0);
	queue_env_free(&e);
	return (id);
}

static void read_all(struct queue *q, uint64_t id, enum queue_body_kind k, struct sg_buf *out)
{
	char	buf[7000];		/* odd size: pieces straddle chunks */
	size_t	got;
	uint64_t off = 0;

	sg_buf_reset(out);
	for (;;) {
		assert_int_equal(queue_body_read(q, id, k, off, buf, sizeof(buf), &got), 0);
		if (got == 0)
			break;
		sg_buf_append(out, buf, got);
		off += got;
	}
}

static void test_spool_get_body(void **state)
{
	struct fix *f = *state;
	struct queue_env e;
	struct sg_buf out = SG_BUF_INIT;
	uint64_t id1 = spool(f->q, QUEUE_INCOMING, "Subject: x\r\n\r\nhello\r\n", 2, 0);
	uint64_t id2 = spool(f->q, QUEUE_INCOMING, "second", 1, 0);

	assert_true(id2 > id1);
	queue_env_init(&e);
	assert_int_equal(queue_get(f->q, id1, 0, &e), 0);
	assert_int_equal(e.state, QUEUE_INCOMING);
	assert_int_equal(e.nrcpt, 2);
	assert_string_equal(e.sender, "s@example.com");
	assert_true(e.size == strlen("Subject: x\r\n\r\nhello\r\n"));
	assert_true(e.arrival_ms > 0);
	read_all(f->q, id1, QUEUE_BODY_PROCESSED, &out);	/* falls back to the original */
	assert_int_equal(out.len, e.size);
	assert_memory_equal(out.data, "Subject: x\r\n\r\nhello\r\n", out.len);
	assert_int_equal(queue_get(f->q, 12345, 0, &e), SG_ENOTFOUND);
	queue_env_free(&e);
	sg_buf_free(&out);
}

static int sum_chunk(const void *p, size_t n, void *arg)
{
	(void) p;
	*(uint64_t *) arg += n;
	return (0);
}

static void test_big_body_from_fd(void **state)
{
	struct fix *f = *state;
	size_t	len = (3 << 20) + 12345;
	char   *data = malloc(len);
	FILE   *tmp = tmpfile();
	struct queue_env e;
	struct sg_buf out = SG_BUF_INIT;
	uint64_t id, total = 0;

	for (size_t i = 0; i < len; i++)
		data[i] = (char) ('a' + (i * 7 + i / 1000) % 26);
	assert_int_equal(fwrite("HEAD", 1, 4, tmp), 4);
	assert_int_equal(fwrite(data, 1, len, tmp), len);
	fflush(tmp);
	struct queue_body_src b = {.fd = fileno(tmp),.offset = 4,.len = len};

	queue_env_init(&e);
	e.state = QUEUE_INCOMING;
	queue_env_rcpt_add(&e, "x@y.example");
	assert_int_equal(queue_spool(f->q, &e, &b, &id), 0);
	read_all(f->q, id, QUEUE_BODY_ORIGINAL, &out);
	assert_int_equal(out.len, len);
	assert_memory_equal(out.data, data, len);
	assert_int_equal(queue_body_foreach(f->q, id, QUEUE_BODY_ORIGINAL, sum_chunk, &total, NULL), 0);
	assert_true(total == len);
	/* a file shorter than announced is an I/O error, and nothing is stored */
	b.len = len + 10;
	assert_int_equal(queue_spool(f->q, &e, &b, &id), SG_EIO);
	queue_env_free(&e);
	sg_buf_free(&out);
	fclose(tmp);
	free(data);
}

struct sync {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int	done, errors;
	uint64_t *ids;
};

static struct sync sy;

static void on_done(struct queue_req *r, int err)
{
	pthread_mutex_lock(&sy.mu);
	if (err)
		sy.errors++;
	sy.ids[(size_t) r->arg] = r->id;
	sy.done++;
	pthread_cond_signal(&sy.cv);
	pthread_mutex_unlock(&sy.mu);
}

struct submitter {
	struct queue_committer *c;
	struct queue_req *reqs;
	size_t	from, n;
};

static void *submit_thread(void *arg)
{
	struct submitter *s = arg;

	for (size_t i = s->from; i < s->from + s->n; i++)
		queue_submit(s->c, &s->reqs[i]);
	return (NULL);
}

static void test_group_commit(void **state)
{
	struct fix *f = *state;
	enum { N = 400, T = 4 };
	struct queue_req *reqs = calloc(N, sizeof(*reqs));
	struct queue_committer *c;
	struct submitter sub[T];
	pthread_t th[T];
	struct queue_env e;
	struct queue_body_src bad = {.data = NULL,.fd = 987,.len = 10};

	queue_env_init(&e);
	e.state = QUEUE_INCOMING;
	queue_env_rcpt_add(&e, "r@example.net");
	memset(&sy, 0, sizeof(sy));
	pthread_mutex_init(&sy.mu, NULL);
	pthread_cond_init(&sy.cv, NULL);
	sy.ids = calloc(N, sizeof(uint64_t));
	for (size_t i = 0; i < N; i++) {
		reqs[i].env = &e;
		reqs[i].body.data = "body";
		reqs[i].body.len = 4;
		reqs[i].body.fd = -1;
		reqs[i].done = on_done;
		reqs[i].arg = (void *) i;
	}
	reqs[17].body = bad;	/* one unreadable body fails alone */
	assert_int_equal(queue_committer_start(f->q, &c), 0);
	/* at low load a lone message waits for one commit, not for a batch */
	struct queue_req lone = reqs[0];
	int64_t	t0 = sg_mono_ms();

	lone.arg = (void *) 0;
	queue_submit(c, &lone);
	pthread_mutex_lock(&sy.mu);
	while (sy.done < 1)
		pthread_cond_wait(&sy.cv, &sy.mu);
	sy.done = 0;
	pthread_mutex_unlock(&sy.mu);
	assert_true(sg_mono_ms() - t0 < 500);
	assert_true(sy.ids[0] != 0);
	for (int t = 0; t < T; t++) {
		sub[t] = (struct submitter) {c, reqs, (size_t) t * (N / T), N / T};
		pthread_create(&th[t], NULL, submit_thread, &sub[t]);
	}
	for (int t = 0; t < T; t++)
		pthread_join(th[t], NULL);
	pthread_mutex_lock(&sy.mu);
	while (sy.done < N)
		pthread_cond_wait(&sy.cv, &sy.mu);
	pthread_mutex_unlock(&sy.mu);
	queue_committer_stop(c);
	assert_int_equal(sy.errors, 1);
	assert_true(sy.ids[17] == 0);
	for (size_t i = 0; i < N; i++) {
		if (i == 17)
			continue;
		assert_true(sy.ids[i] != 0);
		for (size_t k = 0; k < i; k++)
			assert_true(sy.ids[k] != sy.ids[i]);
	}
	struct queue_stats st;

	assert_int_equal(queue_stats(f->q, &st), 0);
	assert_true(st.count[QUEUE_INCOMING] == N);	/* N - 1 and the lone one */
	assert_true(st.counters[QUEUE_C_RECEIVED] == N);
	queue_env_free(&e);
	free(sy.ids);
	free(reqs);
}

static void test_lease_expiry(void **state)
{
	struct fix *f = *state;
	uint64_t id = spool(f->q, QUEUE_INCOMING, "x", 1, 0), ids[4];
	size_t	n;
	struct queue_env e;

	assert_int_equal(queue_claim(f->q, "w1", 50, 4, ids, &n), 0);
	assert_int_equal(n, 1);
	assert_true(ids[0] == id);
	/* while w1's lease runs nobody else gets it */
	assert_int_equal(queue_claim(f->q, "w2", 50, 4, ids, &n), 0);
	assert_int_equal(n, 0);
	queue_env_init(&e);
	assert_int_equal(queue_get(f->q, id, 0, &e), 0);
	assert_int_equal(e.state, QUEUE_WORKING);
	usleep(80000);
	/* w1 died: its lease ran out and w2 takes over */
	assert_int_equal(queue_claim(f->q, "w2", 60000, 4, ids, &n), 0);
	assert_int_equal(n, 1);
	assert_true(ids[0] == id);
	struct queue_part part = {.env = &e,.body = NULL,.state = QUEUE_READY};

	e.rule = "default";
	assert_int_equal(queue_complete(f->q, id, "w1", &part, 1, NULL), SG_EBUSY);
	assert_int_equal(queue_lease_renew(f->q, id, "w1", 1000), SG_EBUSY);
	assert_int_equal(queue_lease_renew(f->q, id, "w2", 60000), 0);
	assert_int_equal(queue_complete(f->q, id, "w2", &part, 1, NULL), 0);
	/* a second completion of the same message changes nothing */
	assert_int_equal(queue_complete(f->q, id, "w2", &part, 1, NULL), SG_EEXIST);
	assert_int_equal(queue_get(f->q, id, 0, &e), 0);
	assert_int_equal(e.state, QUEUE_READY);
	assert_string_equal(e.rule, "default");
	assert_true(e.flags & QUEUE_F_WORKED);
	queue_env_free(&e);
}

/* state_of - a live message's state, or -1 */

static int state_of(struct queue *q, uint64_t id)
{
	struct queue_env e;
	int	st;

	queue_env_init(&e);
	st = queue_get(q, id, 0, &e) == 0 ? (int) e.state : -1;
	queue_env_free(&e);
	return (st);
}

/*
 * One batch holding: a good completion with a processed body (a), one
 * already completed (b), one whose lease another worker took (c), one with
 * bad parts (d), one that fails half-way through its writes (f: a string
 * over the limit, after its inbox entry was deleted) and one leaving the
 * queue (e). The good ones commit together, the others change nothing,
 * and delivery is woken once.
 */
static void test_complete_batch(void **state)
{
	struct fix *f = *state;
	uint64_t c = spool(f->q, QUEUE_INCOMING, "c", 1, 0), ids[8];
	uint64_t a, b, d, e, g;
	struct queue_env env, bad, empty;
	struct queue_stats st;
	struct sg_buf out = SG_BUF_INIT;
	char	huge[QUEUE_MAX_STRING + 10], ch;
	size_t	n;
	int	fd;

	assert_int_equal(queue_claim(f->q, "w1", 30, 1, ids, &n), 0);
	assert_true(n == 1 && ids[0] == c);
	usleep(50000);
	assert_int_equal(queue_claim(f->q, "w2", 60000, 1, ids, &n), 0);
	assert_true(n == 1 && ids[0] == c);
	a = spool(f->q, QUEUE_INCOMING, "a", 1, 0);
	b = spool(f->q, QUEUE_INCOMING, "b", 1, 0);
	d = spool(f->q, QUEUE_INCOMING, "d", 1, 0);
	e = spool(f->q, QUEUE_INCOMING, "e", 1, 0);
	g = spool(f->q, QUEUE_INCOMING, "g", 1, 0);
	assert_int_equal(queue_claim(f->q, "w1", 60000, 8, ids, &n), 0);
	assert_int_equal(n, 5);
	queue_env_init(&env);
	assert_int_equal(queue_get(f->q, a, 0, &env), 0);
	env.rule = "batch";
	struct queue_part good = {.env = &env,.state = QUEUE_READY};

	assert_int_equal(queue_complete(f->q, b, "w1", &good, 1, NULL), 0);
	empty = env;
	empty.nrcpt = 0;
	bad = env;
	memset(huge, 'x', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = 0;
	bad.rule = huge;
	struct queue_body_src body = {.data = "signed-a",.fd = -1,.len = 8};
	struct queue_part pa = {.env = &env,.body = &body,.state = QUEUE_READY};
	struct queue_part pd = {.env = &empty,.state = QUEUE_READY};
	struct queue_part pg = {.env = &bad,.state = QUEUE_READY};
	struct queue_completion items[] = {
		{.id = a,.parts = &pa,.nparts = 1}, {.id = b,.parts = &good,.nparts = 1},
		{.id = c,.parts = &good,.nparts = 1}, {.id = d,.parts = &pd,.nparts = 1},
		{.id = e,.parts = NULL,.nparts = 0}, {.id = g,.parts = &pg,.nparts = 1},
	};

	assert_int_equal(queue_wake_listen(f->q, QUEUE_ROLE_DELIVERY, &fd), 0);
	assert_int_equal(queue_complete_batch(f->q, "w1", items, 6), 0);
	assert_int_equal(items[0].result, 0);
	assert_int_equal(items[1].result, SG_EEXIST);
	assert_int_equal(items[2].result, SG_EBUSY);
	assert_int_equal(items[3].result, SG_EINVAL);
	assert_int_equal(items[4].result, 0);
	assert_int_equal(items[5].result, SG_ELIMIT);
	/* one wake-up for the whole batch */
	assert_int_equal(recv(fd, &ch, 1, MSG_DONTWAIT), 1);
	assert_true(recv(fd, &ch, 1, MSG_DONTWAIT) < 0);
	close(fd);
	assert_int_equal(state_of(f->q, a), QUEUE_READY);
	read_all(f->q, a, QUEUE_BODY_PROCESSED, &out);
	assert_true(out.len == 8 && memcmp(out.data, "signed-a", 8) == 0);
	assert_int_equal(state_of(f->q, e), -1);	/* left the queue */
	/* the failed ones are untouched: still claimed, and can be completed */
	assert_int_equal(state_of(f->q, c), QUEUE_WORKING);
	assert_int_equal(state_of(f->q, d), QUEUE_WORKING);
	assert_int_equal(state_of(f->q, g), QUEUE_WORKING);
	assert_int_equal(queue_complete(f->q, c, "w2", &good, 1, NULL), 0);
	assert_int_equal(queue_complete(f->q, d, "w1", &good, 1, NULL), 0);
	assert_int_equal(queue_complete(f->q, g, "w1", &good, 1, NULL), 0);
	assert_int_equal(queue_stats(f->q, &st), 0);
	assert_true(st.counters[QUEUE_C_PROCESSED] == 6);	/* b, a, e, c, d, g */
	/* a second run of the same batch changes nothing */
	assert_int_equal(queue_complete_batch(f->q, "w1", items, 2), 0);
	assert_true(items[0].result == SG_EEXIST && items[1].result == SG_EEXIST);
	assert_int_equal(queue_complete_batch(f->q, "", items, 1), SG_EINVAL);
	assert_int_equal(items[0].result, SG_EINVAL);
	queue_env_free(&env);
	sg_buf_free(&out);
}

static void test_schedule_order(void **state)
{
	struct fix *f = *state;
	int64_t	now = sg_now_ms(), when;
	uint64_t a = spool(f->q, QUEUE_READY, "a", 1, now - 1000);
	uint64_t b = spool(f->q, QUEUE_READY, "b", 1, now - 3000);
	uint64_t c = spool(f->q, QUEUE_READY, "c", 1, now + 600000);
	uint64_t d = spool(f->q, QUEUE_READY, "d", 1, now - 2000);
	uint64_t ids[8];
	size_t	n;

	assert_int_equal(queue_next_due(f->q, &when), 0);
	assert_true(when == now - 3000);
	assert_int_equal(queue_due(f->q, now, 30000, 8, ids, &n), 0);
	assert_int_equal(n, 3);
	assert_true(ids[0] == b && ids[1] == d && ids[2] == a);
	/* taken: not due again until their lease ends */
	assert_int_equal(queue_due(f->q, now, 30000, 8, ids, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(queue_due(f->q, now + 31000, 30000, 8, ids, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(queue_due(f->q, now + 700000, 30000, 8, ids, &n), 0);
	assert_int_equal(n, 4);
	assert_true(ids[3] == c);	/* the three taken ones came due first */
	/* retry brings a taken message back to now */
	int	res[1];
	size_t	changed;

	assert_int_equal(queue_retry(f->q, &a, 1, res, &changed), 0);
	assert_int_equal(res[0], 0);
	assert_int_equal(queue_due(f->q, sg_now_ms(), 30000, 8, ids, &n), 0);
	assert_int_equal(n, 1);
	assert_true(ids[0] == a);
}

static void test_record_results(void **state)
{
	struct fix *f = *state;
	uint64_t id = spool(f->q, QUEUE_READY, "hello", 2, 0), ids[2];
	struct queue_env e;
	size_t	n;
	bool	done;
	char	buf[16];
	int64_t	later = sg_now_ms() + 600000;

	assert_int_equal(queue_due(f->q, sg_now_ms(), 0, 2, ids, &n), 0);
	assert_int_equal(n, 1);
	struct queue_result r1[] = {
		{0, QUEUE_RCPT_DELIVERED, "250 ok", "2.0.0", "mx[192.0.2.9]:25", 0, NULL},
		{1, QUEUE_RCPT_DEFERRED, "451 4.7.1 later", "4.7.1", "mx[192.0.2.9]:25", later, NULL},
	};

	assert_int_equal(queue_record(f->q, id, r1, 2, 0, "mx", &done), 0);
	assert_false(done);
	queue_env_init(&e);
	assert_int_equal(queue_get(f->q, id, 0, &e), 0);
	assert_int_equal(e.state, QUEUE_DEFERRED);
	assert_true(e.next_attempt_ms == later);
	assert_int_equal(e.rcpt[0].state, QUEUE_RCPT_DELIVERED);
	assert_string_equal(e.rcpt[1].reply, "451 4.7.1 later");
	assert_int_equal(e.rcpt[1].attempts, 1);
	assert_int_equal(queue_due(f->q, sg_now_ms(), 0, 2, ids, &n), 0);
	assert_int_equal(n, 0);
	struct queue_result r2[] = {{1, QUEUE_RCPT_BOUNCED, "550 5.1.1 no", "5.1.1", "mx", 0, NULL}};

	assert_int_equal(queue_record(f->q, id, r2, 1, 0, NULL, &done), 0);
	assert_true(done);
	assert_int_equal(queue_get(f->q, id, 0, &e), SG_ENOTFOUND);
	assert_int_equal(queue_get(f->q, id, QUEUE_GET_TRACK, &e), 0);
	assert_int_equal(e.state, QUEUE_DONE);
	assert_int_equal(e.rcpt[1].state, QUEUE_RCPT_BOUNCED);
	assert_int_equal(queue_body_read(f->q, id, QUEUE_BODY_ORIGINAL, 0, buf, sizeof(buf), &n),
			 SG_ENOTFOUND);
	assert_int_equal(queue_next_due(f->q, &later), SG_ENOTFOUND);
	struct queue_stats st;

	assert_int_equal(queue_stats(f->q, &st), 0);
	assert_true(st.counters[QUEUE_C_SENT] == 1 && st.counters[QUEUE_C_BOUNCED] == 1);
	assert_true(st.counters[QUEUE_C_DEFERRED] == 1 && st.count[QUEUE_DONE] == 1);
	size_t	pruned;

	assert_int_equal(queue_track_prune(f->q, 3600000, &pruned), 0);
	assert_int_equal(pruned, 0);
	usleep(5000);
	assert_int_equal(queue_track_prune(f->q, 1, &pruned), 0);
	assert_int_equal(pruned, 1);
	queue_env_free(&e);
}

static void test_split(void **state)
{
	struct fix *f = *state;
	uint64_t id = spool(f->q, QUEUE_INCOMING, "original", 3, 0), ids[2], parts_id[2];
	struct queue_env e, p1, p2;
	struct sg_buf out = SG_BUF_INIT;
	size_t	n;

	assert_int_equal(queue_claim(f->q, "w", 0, 2, ids, &n), 0);
	queue_env_init(&e);
	assert_int_equal(queue_get(f->q, id, 0, &e), 0);
	p1 = e;
	p1.nrcpt = 2;
	p1.rule = "sign";
	p2 = e;
	p2.rcpt = e.rcpt + 2;
	p2.nrcpt = 1;
	p2.rule = "encrypt";
	struct queue_body_src b1 = {.data = "signed!",.fd = -1,.len = 7};
	struct queue_part parts[] = {
		{&p1, &b1, QUEUE_READY}, {&p2, NULL, QUEUE_HOLD},
	};

	assert_int_equal(queue_complete(f->q, id, "w", parts, 2, parts_id), 0);
	assert_true(parts_id[0] > id && parts_id[1] > parts_id[0]);
	struct queue_env g;

	queue_env_init(&g);
	assert_int_equal(queue_get(f->q, parts_id[0], 0, &g), 0);
	assert_int_equal(g.nrcpt, 2);
	assert_string_equal(g.rule, "sign");
	assert_true(g.parent == id && g.state == QUEUE_READY);
	read_all(f->q, parts_id[0], QUEUE_BODY_PROCESSED, &out);
	assert_int_equal(out.len, 7);
	assert_memory_equal(out.data, "signed!", 7);
	read_all(f->q, parts_id[0], QUEUE_BODY_ORIGINAL, &out);
	assert_memory_equal(out.data, "original", 8);
	assert_int_equal(queue_get(f->q, parts_id[1], 0, &g), 0);
	assert_int_equal(g.state, QUEUE_HOLD);
	assert_string_equal(g.rcpt[0].addr, "c@example.org");
	read_all(f->q, parts_id[1], QUEUE_BODY_PROCESSED, &out);
	assert_memory_equal(out.data, "original", 8);
	assert_int_equal(queue_get(f->q, id, 0, &g), SG_ENOTFOUND);
	assert_int_equal(queue_get(f->q, id, QUEUE_GET_TRACK, &g), 0);
	assert_string_equal(g.reason, "split");
	queue_env_free(&g);
	queue_env_free(&e);
	sg_buf_free(&out);
}

static void test_admin(void **state)
{
	struct fix *f = *state;
	uint64_t a = spool(f->q, QUEUE_INCOMING, "a", 1, 0);
	uint64_t b = spool(f->q, QUEUE_READY, "b", 1, 0);
	uint64_t ids[3] = {a, b, 777}, got[4];
	int	res[3];
	size_t	changed, n;
	struct queue_env e;

	assert_int_equal(queue_hold(f->q, ids, 3, NULL, res, &changed), 0);
	assert_int_equal(changed, 2);
	assert_true(res[0] == 0 && res[1] == 0 && res[2] == SG_ENOTFOUND);
	/* held messages are neither claimed nor due */
	assert_int_equal(queue_claim(f->q, "w", 0, 4, got, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(queue_due(f->q, sg_now_ms(), 0, 4, got, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(queue_retry(f->q, ids, 2, res, &changed), 0);
	assert_true(changed == 0 && res[0] == SG_EINVAL);
	assert_int_equal(queue_release(f->q, ids, 3, res, &changed), 0);
	assert_int_equal(changed, 2);
	queue_env_init(&e);
	assert_int_equal(queue_get(f->q, a, 0, &e), 0);
	assert_int_equal(e.state, QUEUE_INCOMING);
	assert_int_equal(queue_get(f->q, b, 0, &e), 0);
	assert_int_equal(e.state, QUEUE_READY);
	assert_int_equal(queue_claim(f->q, "w", 0, 4, got, &n), 0);
	assert_true(n == 1 && got[0] == a);
	assert_int_equal(queue_delete(f->q, ids, 3, NULL, res, &changed), 0);
	assert_int_equal(changed, 2);
	assert_int_equal(queue_get(f->q, a, QUEUE_GET_TRACK, &e), 0);
	assert_string_equal(e.reason, "deleted");
	assert_int_equal(queue_due(f->q, sg_now_ms(), 0, 4, got, &n), 0);
	assert_int_equal(n, 0);
	/* the worker finishing a deleted message is told, and nothing returns */
	assert_int_equal(queue_complete(f->q, a, "w", NULL, 0, NULL), SG_EEXIST);
	queue_env_free(&e);
}

static int count_env(const struct queue_env *e, void *arg)
{
	(void) e;
	(*(size_t *) arg)++;
	return (0);
}

static void test_corrupt_quarantined(void **state)
{
	struct fix *f = *state;
	uint64_t a = spool(f->q, QUEUE_INCOMING, "a", 1, 0);
	uint64_t b = spool(f->q, QUEUE_INCOMING, "b", 1, 0), ids[4], cursor = 0;
	size_t	n = 0, nc;

	/* damage b's envelope behind the queue's back, as a bad disk would */
	fixture_corrupt_env(f, b);

	assert_int_equal(queue_scan(f->q, 0, &cursor, 0, count_env, &n), 0);
	assert_int_equal(n, 1);		/* skipped, not fatal */
	assert_int_equal(queue_corrupt_count(f->q, &nc), 0);
	assert_int_equal(nc, 1);	/* and moved aside */
	assert_int_equal(queue_live_count(f->q, &nc), 0);
	assert_int_equal(nc, 1);	/* a is live, b no longer */
	assert_int_equal(queue_claim(f->q, "w", 0, 4, ids, &n), 0);
	assert_true(n == 1 && ids[0] == a);
}

static void test_corrupt_body_quarantined(void **state)
{
	struct fix *f = *state;
	char   *big = sg_xmalloc(200001);
	uint64_t ids[3], total, cursor = 0;
	uint8_t	kb[13];
	size_t	n = 0, nc;

	memset(big, 'x', 200000);
	big[200000] = 0;			/* four chunks of 64K */
	for (int i = 0; i < 3; i++)
		ids[i] = spool(f->q, QUEUE_READY, big, 1, 0);
	/* a middle chunk cut short; the last chunk gone; the first chunk gone */
	fixture_body_key(kb, ids[0], QUEUE_BODY_ORIGINAL, 1);
	fixture_raw(f, "body", kb, 13, big, 1000);
	fixture_body_key(kb, ids[1], QUEUE_BODY_ORIGINAL, 3);
	fixture_raw(f, "body", kb, 13, NULL, 0);
	fixture_body_key(kb, ids[2], QUEUE_BODY_ORIGINAL, 0);
	fixture_raw(f, "body", kb, 13, NULL, 0);
	for (int i = 0; i < 3; i++) {
		total = 0;
		assert_int_equal(queue_body_foreach(f->q, ids[i], QUEUE_BODY_PROCESSED, sum_chunk,
						    &total, NULL), SG_ECORRUPT);
	}
	assert_int_equal(queue_corrupt_count(f->q, &nc), 0);
	assert_int_equal(nc, 3);			/* moved aside */
	assert_int_equal(queue_scan(f->q, 0, &cursor, 0, count_env, &n), 0);
	assert_int_equal(n, 0);
	/* a good body is read whole, and nothing is said of it */
	uint64_t good = spool(f->q, QUEUE_READY, big, 1, 0);

	total = 0;
	assert_int_equal(queue_body_foreach(f->q, good, QUEUE_BODY_ORIGINAL, sum_chunk, &total,
					    NULL), 0);
	assert_true(total == 200000);
	free(big);
}

static void test_map_full(void **state)
{
	struct fix *f = *state;
	struct queue *q;
	struct queue_conf c = f->conf;
	struct sg_conf_main m = f->main;
	char	dir[96];
	char   *body = malloc(100000);
	struct queue_env e;
	struct queue_body_src b = {.data = body,.fd = -1,.len = 100000};
	uint64_t ids[64], id;
	int	err = 0, stored = 0;

	snprintf(dir, sizeof(dir), "%s/tiny", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	m.state_dir = dir;
	c.map_size_max = 1 << 20;
	assert_int_equal(queue_open(&m, &c, 0, &q), 0);
	memset(body, 'x', 100000);
	queue_env_init(&e);
	e.state = QUEUE_INCOMING;
	queue_env_rcpt_add(&e, "r@x.example");
	while (stored < 64 && (err = queue_spool(q, &e, &b, &ids[stored])) == 0)
		stored++;
	assert_int_equal(err, SG_EFULL);
	assert_true(stored >= 3 && stored < 12);
	/* what was accepted is intact */
	struct sg_buf out = SG_BUF_INIT;

	for (int i = 0; i < stored; i++) {
		read_all(q, ids[i], QUEUE_BODY_ORIGINAL, &out);
		assert_int_equal(out.len, 100000);
	}
	/* space comes back when mail leaves, and spooling resumes */
	assert_int_equal(queue_delete(q, ids, 3, NULL, NULL, NULL), 0);
	err = queue_spool(q, &e, &b, &id);
	assert_int_equal(err, 0);
	sg_buf_free(&out);
	queue_env_free(&e);
	queue_close(q);
	free(body);
}

static void child_spool(const struct fix *f, int n)
{
	struct queue *q;
	struct queue_env e;
	struct queue_body_src b = {.data = "from a child",.fd = -1,.len = 12};
	uint64_t id;

	if (queue_open(&f->main, &f->conf, 0, &q) != 0)
		_exit(2);
	queue_env_init(&e);
	e.state = QUEUE_INCOMING;
	queue_env_rcpt_add(&e, "r@x.example");
	for (int i = 0; i < n; i++)
		if (queue_spool(q, &e, &b, &id) != 0)
			_exit(3);
	queue_env_free(&e);
	queue_close(q);
	_exit(0);
}

static int collect_ids(const struct queue_env *e, void *arg)
{
	struct sg_buf *b = arg;

	sg_buf_append(b, &e->id, sizeof(e->id));
	return (0);
}

static void test_writer_killed_mid_txn(void **state)
{
	struct fix *f = *state;
	char	path[128];
	int	p[2], status;
	pid_t	pid;
	uint64_t id, cursor = 0;
	size_t	n = 0;

	snprintf(path, sizeof(path), "%s/queue", f->dir);
	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		/* a writer that dies holding the write lock, mid-transaction */
		MDB_env *env;
		MDB_txn *txn;
		MDB_dbi	dbi;
		uint8_t	kb[8] = {0, 0, 0, 0, 0, 0, 0, 1};
		MDB_val	k = {8, kb}, d = {4, "half"};

		if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 16) ||
		    mdb_env_set_mapsize(env, f->conf.map_size_max) ||
		    mdb_env_open(env, path, MDB_NOTLS, 0600) || mdb_txn_begin(env, NULL, 0, &txn) ||
		    mdb_dbi_open(txn, "env", 0, &dbi) || mdb_put(txn, dbi, &k, &d, 0))
			_exit(2);
		if (write(p[1], "x", 1) != 1)
			_exit(3);
		pause();
		_exit(4);
	}
	close(p[1]);
	char	c;

	assert_int_equal(read(p[0], &c, 1), 1);	/* the child is inside its txn */
	close(p[0]);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* the next writer is not blocked, and the half-done write is gone */
	id = spool(f->q, QUEUE_INCOMING, "after the crash", 1, 0);
	assert_int_equal(queue_scan(f->q, 0, &cursor, 0, count_env, &n), 0);
	assert_int_equal(n, 1);
	assert_true(id != 1);
}

static void test_two_processes(void **state)
{
	struct fix *f = *state;
	pid_t	pid[2];
	int	status;
	struct sg_buf ids = SG_BUF_INIT;
	uint64_t cursor = 0;

	/* never carry an open environment across fork */
	queue_close(f->q);
	f->q = NULL;
	for (int i = 0; i < 2; i++)
		if ((pid[i] = fork()) == 0)
			child_spool(f, 300);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(queue_open(&f->main, &f->conf, 0, &f->q), 0);
	assert_int_equal(queue_scan(f->q, 0, &cursor, 100, collect_ids, &ids), 0);
	assert_int_equal(ids.len / 8, 600);
	const uint64_t *v = (const uint64_t *) ids.data;

	for (size_t i = 1; i < 600; i++)
		assert_true(v[i] > v[i - 1]);	/* unique and in order */
	sg_buf_free(&ids);
}

static int count_inc(const struct queue_incident *i, void *arg)
{
	(void) i;
	(*(size_t *) arg)++;
	return (0);
}

static void test_incidents(void **state)
{
	struct fix *f = *state;
	struct queue_incident in = {.msg_id = 5,.kind = "no-cert",.sender = "a@b",
		.rcpt = "c@d",.rule = "encrypt",.text = "no certificate for c@d"}, out;
	uint64_t id, cursor = 0;
	size_t	n = 0;

	assert_int_equal(queue_incident_add(f->q, &in, &id, NULL), 0);
	assert_int_equal(queue_incident_get(f->q, id, &out), 0);
	assert_string_equal(out.kind, "no-cert");
	assert_true(out.msg_id == 5 && out.time_ms > 0 && out.ack_ms == 0);
	queue_incident_free(&out);
	assert_int_equal(queue_incident_ack(f->q, id, "admin"), 0);
	assert_int_equal(queue_incident_ack(f->q, id, "admin"), SG_EEXIST);
	assert_int_equal(queue_incident_get(f->q, id, &out), 0);
	assert_string_equal(out.ack_by, "admin");
	queue_incident_free(&out);
	assert_int_equal(queue_incident_list(f->q, false, &cursor, count_inc, &n), 0);
	assert_int_equal(n, 0);
	cursor = 0;
	assert_int_equal(queue_incident_list(f->q, true, &cursor, count_inc, &n), 0);
	assert_int_equal(n, 1);
}

/* one cause, one open incident: counted, capped, closed by an ack */
static void test_incident_groups(void **state)
{
	struct fix *f = *state;
	struct queue_incident in = {.kind = "no-signing-cert",.sender = "erp@x",.rcpt = "c@d",
		.rule = "outbound",.text = "no valid signing certificate"}, out;
	uint64_t first, id, other, after;
	bool	created;

	in.msg_id = 10;
	assert_int_equal(queue_incident_add(f->q, &in, &first, &created), 0);
	assert_true(created);
	for (uint64_t m = 11; m < 11 + QUEUE_INCIDENT_MSGS + 5; m++) {
		in.msg_id = m;
		assert_int_equal(queue_incident_add(f->q, &in, &id, &created), 0);
		assert_true(id == first && !created);
	}
	in.msg_id = 10 + QUEUE_INCIDENT_MSGS + 4;	/* the same message again */
	assert_int_equal(queue_incident_add(f->q, &in, &id, &created), 0);
	assert_int_equal(queue_incident_get(f->q, first, &out), 0);
	assert_int_equal(out.count, QUEUE_INCIDENT_MSGS + 7);
	assert_int_equal(out.nmsgs, QUEUE_INCIDENT_MSGS);
	assert_int_equal(queue_incident_msg(&out, 0), 10);
	assert_int_equal(queue_incident_msg(&out, QUEUE_INCIDENT_MSGS - 1), 10 + QUEUE_INCIDENT_MSGS - 1);
	assert_true(out.last_ms >= out.time_ms && out.msg_id == 10);
	queue_incident_free(&out);
	/* another cause: its own incident */
	in.text = "no valid signing certificate for another domain";
	assert_int_equal(queue_incident_add(f->q, &in, &other, &created), 0);
	assert_true(created && other != first);
	/* acknowledged: the next failure of the first cause opens a new one */
	in.text = "no valid signing certificate";
	assert_int_equal(queue_incident_ack(f->q, first, "admin"), 0);
	assert_int_equal(queue_incident_add(f->q, &in, &after, &created), 0);
	assert_true(created && after != first && after != other);
	assert_int_equal(queue_incident_get(f->q, after, &out), 0);
	assert_true(out.count == 1 && out.nmsgs == 1);
	queue_incident_free(&out);
}

static void test_given_to_user(void **state)
{
	struct fix *f = *state;
	struct sg_conf_main m = f->main;
	struct queue *q;
	struct stat sb;
	char	path[128];

	if (geteuid() != 0)
		skip();
	queue_close(f->q);
	f->q = NULL;
	m.user = "nobody";
	assert_int_equal(queue_open(&m, &f->conf, 0, &q), 0);
	snprintf(path, sizeof(path), "%s/queue/data.mdb", f->dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_uid == getpwnam("nobody")->pw_uid);
	queue_close(q);
}

static void test_wake(void **state)
{
	struct fix *f = *state;
	int	fd;
	char	c;

	assert_int_equal(queue_wake_listen(f->q, QUEUE_ROLE_WORKER, &fd), 0);
	assert_true(recv(fd, &c, 1, MSG_DONTWAIT) < 0);
	spool(f->q, QUEUE_INCOMING, "x", 1, 0);
	spool(f->q, QUEUE_INCOMING, "y", 1, 0);
	assert_int_equal(recv(fd, &c, 1, MSG_DONTWAIT), 1);
	queue_wake_drain(fd);
	assert_true(recv(fd, &c, 1, MSG_DONTWAIT) < 0);
	close(fd);
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spool_get_body, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_big_body_from_fd, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_lease_expiry, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_complete_batch, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_schedule_order, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_record_results, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_split, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_admin, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_quarantined, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_map_full, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_two_processes, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_writer_killed_mid_txn, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_body_quarantined, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_incidents, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_incident_groups, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_wake, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_given_to_user, fixture_setup, fixture_teardown),
	};

	sg_log_init("test_queue_db", "test", SG_LOG_STDERR);
	sg_log_set_level(SG_LOG_ERROR);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
