/*
 * NAME
 *	bench_track 1
 * SUMMARY
 *	fill a queue with N tracking records (or N deferred messages) the
 *	way mail makes them
 * SYNOPSIS
 *	bench_track STATE_DIR N [defer]
 * DESCRIPTION
 *	Opens (creating) the queue in STATE_DIR and moves N messages through
 *	it as the roles do: spooled READY through the group committer, taken
 *	with queue_due() and finished with queue_record_many(), batches of
 *	BATCH messages, so each one leaves a tracking record (and its index
 *	entries) by the production path. The messages vary like real
 *	traffic: 20,000 senders at 500 domains, 100,000 recipients at 2,000
 *	domains, one recipient in five has a second one, subjects from word
 *	lists (some with UTF-8), about one recipient in ten bounced.
 *	Message i has sender user(i % 20000)@s(i % 500).example and subject
 *	"Invoice I ..." with I = 100000 + i, so a caller knows what to look
 *	for. Prints on stdout the fill rate in records per second, then the
 *	arrival times (seconds since the epoch) of the first and the last
 *	record. Run by tests/bench/bench_track.
 *
 *	With defer, no recipient is final: each gets "451 4.4.1" and the
 *	message its next attempt in a day, so the queue ends up holding N
 *	deferred messages (bodies, envelopes, schedule keys) and no tracking
 *	record; recipients are spread over 1,000 domains (message i goes to
 *	d(i % 1000).test). Run by tests/bench/bench_growth.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue.h"

#define BATCH 2000

struct slot {
	struct queue_req req;
	struct queue_env env;
	struct queue_rcpt rcpt[2];
	char	sender[64], subject[160], r0[64], r1[64];
};

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t	done;
	int	err;
};

static uint64_t rng = 88172645463325252ULL;
static bool defer;			/* the defer argument */

static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return ((uint32_t) (rng >> 11));
}

static const char *const words[] = {
	"order", "delivery", "March", "quarterly", "report", "contract", "renewal", "payment",
	"reminder", "shipment", "Lieferung", "Rechnung", "Gr\xc3\xbc\xc3\x9f" "e", "offer",
	"meeting", "agenda", "project", "Angebot", "update", "summary",
};

static void on_done(struct queue_req *r, int err)
{
	struct waiter *w = r->arg;

	pthread_mutex_lock(&w->mu);
	w->done++;
	if (err)
		w->err = err;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void make_message(struct slot *s, uint64_t i, struct waiter *w)
{
	static const char body[] = "From: x\r\nSubject: y\r\n\r\nhello\r\n";
	struct queue_env *e = &s->env;

	snprintf(s->sender, sizeof(s->sender), "user%u@s%u.example", (unsigned) (i % 20000),
		 (unsigned) (i % 500));
	snprintf(s->subject, sizeof(s->subject), "Invoice %llu %s %s for %s",
		 (unsigned long long) (100000 + i), words[next_rand() % SG_NELEM(words)],
		 words[next_rand() % SG_NELEM(words)], words[next_rand() % SG_NELEM(words)]);
	snprintf(s->r0, sizeof(s->r0), "r%u@d%u.test", next_rand() % 100000,
		 defer ? (unsigned) (i % 1000) : next_rand() % 2000);
	snprintf(s->r1, sizeof(s->r1), "r%u@d%u.test", next_rand() % 100000,
		 defer ? (unsigned) (i * 7 % 1000) : next_rand() % 2000);
	queue_env_init(e);
	e->state = QUEUE_READY;
	e->direction = i % 3 ? QUEUE_DIR_OUTBOUND : QUEUE_DIR_INBOUND;
	e->listener = "in";
	e->client_addr = "192.0.2.7";
	e->client_name = "mail.s.example";
	e->helo = "mail.s.example";
	e->tls_version = "TLSv1.3";
	e->tls_cipher = "TLS_AES_128_GCM_SHA256";
	e->sender = s->sender;
	e->subject = s->subject;
	e->rule = "outbound";
	e->crypto = 4;				/* signed */
	e->crypto_note = "sign-cert=example.com gateway";
	e->rcpt = s->rcpt;
	e->rcpt_cap = 2;
	e->nrcpt = i % 5 == 0 ? 2 : 1;
	memset(s->rcpt, 0, sizeof(s->rcpt));
	s->rcpt[0].addr = s->r0;
	s->rcpt[1].addr = s->r1;
	for (int k = 0; k < 2; k++)
		s->rcpt[k].orcpt = s->rcpt[k].reply = s->rcpt[k].dsn_status = s->rcpt[k].relay = "";
	s->req = (struct queue_req) {.env = e,.body = {.data = body,.fd = -1,.len = sizeof(body) - 1},
		.done = on_done,.arg = w };
}

static int spool_batch(struct queue_committer *c, struct slot *slots, size_t n, uint64_t first)
{
	struct waiter w = {.done = 0};

	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	for (size_t k = 0; k < n; k++) {
		make_message(&slots[k], first + k, &w);
		queue_submit(c, &slots[k].req);
	}
	pthread_mutex_lock(&w.mu);
	while (w.done < n)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cv);
	return (w.err);
}

/* finish_batch - take what is due and give every recipient a final result */

static int finish_batch(struct queue *q, const struct slot *slots, size_t n)
{
	static struct queue_record_item items[BATCH];
	static struct queue_result res[BATCH][2];
	static uint64_t ids[BATCH];
	size_t	got;
	int	err;

	if ((err = queue_due(q, sg_now_ms() + 1000, 0, n, ids, &got)) != 0)
		return (err);
	for (size_t k = 0; k < got; k++) {
		size_t	nr = slots[k].env.nrcpt;

		for (size_t r = 0; r < nr; r++) {
			bool	bounce = next_rand() % 10 == 0;

			if (defer) {
				res[k][r] = (struct queue_result) {.index = r,
					.state = QUEUE_RCPT_DEFERRED,.dsn_status = "4.4.1",
					.reply = "451 4.4.1 connection timed out",.relay = "" };
				continue;
			}
			res[k][r] = (struct queue_result) {.index = r,
				.state = bounce ? QUEUE_RCPT_BOUNCED : QUEUE_RCPT_DELIVERED,
				.reply = bounce ? "550 5.1.1 <r@d.test>: Recipient address rejected: "
					"User unknown in virtual mailbox table"
					: "250 2.0.0 Ok: queued as 4Xq7Lr2Kb9z3",
				.dsn_status = bounce ? "5.1.1" : "2.0.0",
				.relay = "mx1.d.test[192.0.2.10]:25" };
		}
		/* the ids come oldest first, as they were spooled */
		items[k] = (struct queue_record_item) {.id = ids[k],.res = res[k],.nres = nr,
			.route = "mx",.next_attempt_ms = defer ? sg_now_ms() + 86400000 : 0 };
	}
	if ((err = queue_record_many(q, items, got)) != 0)
		return (err);
	for (size_t k = 0; k < got; k++)
		if (items[k].result != 0)
			return (items[k].result);
	return (got == n ? 0 : SG_EIO);
}

int	main(int argc, char **argv)
{
	struct sg_conf_main m = {0};
	struct queue_conf qc = {.map_size_max = 64ULL << 30,.lease_ms = 300000,
		.chunk_size = 65536,.commit_batch = BATCH,.max_readers = 126,
	.track_keep_ms = 0 };
	struct queue_committer *c;
	struct queue *q;
	struct slot *slots;
	uint64_t n, done = 0, first = 0, last = 0;
	int64_t	t0;
	int	err;

	defer = argc == 4 && strcmp(argv[3], "defer") == 0;
	if ((argc != 3 && !defer) || sg_parse_u64(argv[2], strlen(argv[2]), &n) != 0) {
		fprintf(stderr, "usage: bench_track STATE_DIR N [defer]\n");
		return (2);
	}
	m.state_dir = argv[1];
	if ((err = queue_open(&m, &qc, 0, &q)) != 0 || (err = queue_committer_start(q, &c)) != 0) {
		fprintf(stderr, "bench_track: %s: %s\n", argv[1], sg_strerror(err));
		return (1);
	}
	slots = sg_xcalloc(BATCH, sizeof(*slots));
	t0 = sg_mono_ms();
	while (done < n) {
		size_t	k = n - done < BATCH ? (size_t) (n - done) : BATCH;

		if ((err = spool_batch(c, slots, k, done)) != 0 ||
		    (err = finish_batch(q, slots, k)) != 0) {
			fprintf(stderr, "bench_track: after %llu: %s\n", (unsigned long long) done,
				sg_strerror(err));
			return (1);
		}
		if (done == 0)
			first = slots[0].req.id;
		last = slots[k - 1].req.id;
		done += k;
	}
	printf("%.0f %lld %lld\n", (double) n * 1000.0 / (double) (sg_mono_ms() - t0 + 1),
	       (long long) (queue_id_time_ms(first) / 1000), (long long) (queue_id_time_ms(last) / 1000));
	queue_committer_stop(c);
	free(slots);
	queue_close(q);
	return (0);
}
