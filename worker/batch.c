/*
 * NAME
 *	batch 3
 * SUMMARY
 *	one crypto thread's pass: claim a batch, process it, commit it at once
 * SYNOPSIS
 *	#include "worker/worker_int.h"
 *
 *	int	worker__claim_and_process(thread, snap, n)
 * DESCRIPTION
 *	worker__claim_and_process() claims up to batch messages under one
 *	lease, processes each one (process.c) and writes all their results
 *	back with one queue_complete_batch(): one write transaction and one
 *	fsync for the batch instead of one per message, so signing, not the
 *	disk, sets the pace. If the bodies waiting for the commit grow past
 *	COMMIT_BYTES, what is pending is committed early, so that a batch of
 *	large messages is never all held in memory at once.
 *
 *	Completion stays idempotent: an item found already completed
 *	(SG_EEXIST) or taken over after our lease ran out (SG_EBUSY) is
 *	logged and skipped, and the rest of the batch is committed all the
 *	same. "event=processed" is logged only once the commit holding the
 *	message is on disk.
 *
 *	A commit that fails as a whole (a write or sync error, a full disk:
 *	SG_EIO, SG_EFULL) is tried again with the same results, after 100 ms
 *	doubling to a second ("event=commit_retry" once, "commit_retried"
 *	when it went through), until it succeeds or the pool stops: the
 *	messages are neither lost nor left claimed until their lease ends
 *	when the disk comes back. Meanwhile the thread claims nothing new.
 *	Items a retry finds taken over (their lease ended meanwhile) are
 *	skipped like any other.
 * DIAGNOSTICS
 *	A commit that still fails when the pool stops is logged for each
 *	message in it; their claims expire and they are processed again.
 */

#include <stdlib.h>
#include <time.h>

#include "worker_int.h"

#define CLAIM_MAX	1024
#define COMMIT_BYTES	(64u << 20)
#define RETRY_FIRST_MS	100
#define RETRY_MAX_MS	1000
#define RETRY_ALONE	5		/* tries without a pool (worker_run_once) */

static bool stopping(const struct worker_thread *t)
{
	return (t->stop != NULL && atomic_load(t->stop));
}

/* nap - sleep ms, in short steps so that a stop is not kept waiting */

static void nap(const struct worker_thread *t, int64_t ms)
{
	struct timespec step = {0, 20 * 1000 * 1000};

	for (int64_t slept = 0; slept < ms && !stopping(t); slept += 20)
		nanosleep(&step, NULL);
}

/* store - queue_complete_batch(), again while the commit fails as a whole */

static void store(struct worker_thread *t, struct queue_completion *items, size_t n)
{
	int64_t	pause = RETRY_FIRST_MS;
	int	rc;

	for (int tries = 1;; tries++) {
		rc = queue_complete_batch(t->q, t->owner, items, n);
		if (rc != SG_EIO && rc != SG_EFULL) {
			if (tries > 1)
				sg_info("event=commit_retried owner=%s count=%zu tries=%d", t->owner,
					n, tries);
			return;
		}
		if (stopping(t) || (t->stop == NULL && tries >= RETRY_ALONE))
			return;
		if (tries == 1)
			sg_warn("event=commit_retry owner=%s count=%zu error=\"%s\"", t->owner, n,
				sg_strerror(rc));
		nap(t, pause);
		pause = pause * 2 < RETRY_MAX_MS ? pause * 2 : RETRY_MAX_MS;
	}
}

/* commit - write n processed messages back in one transaction, then free them */

static void commit(struct worker_thread *t, struct worker_done *d, size_t n)
{
	struct queue_completion *items = sg_xcalloc(n, sizeof(*items));
	char	ids[QUEUE_ID_BUFSZ];

	for (size_t i = 0; i < n; i++)
		items[i] = d[i].c;
	store(t, items, n);
	for (size_t i = 0; i < n; i++) {
		int	rc = items[i].result;

		if (rc == 0)
			worker__done_log(&d[i]);
		else if (rc == SG_EEXIST || rc == SG_EBUSY)
			sg_info("id=%s event=complete_skipped reason=%s",
				queue_id_format(items[i].id, ids),
				rc == SG_EEXIST ? "already_completed" : "lease_lost");
		else
			sg_error("id=%s event=process_failed error=\"%s\"",
				 queue_id_format(items[i].id, ids), sg_strerror(rc));
		worker__done_free(&d[i]);
	}
	free(items);
}

int	worker__claim_and_process(struct worker_thread *t, const struct worker_snap *s, size_t *n)
{
	uint64_t ids[CLAIM_MAX];
	struct worker_done *done;
	size_t	max = (size_t) s->conf.batch, got = 0, pending = 0, bytes = 0;
	int	rc;

	*n = 0;
	if (max > CLAIM_MAX)
		max = CLAIM_MAX;
	if ((rc = queue_claim(t->q, t->owner, 0, max, ids, &got)) < 0)
		return (rc);
	t->claimed_ms = sg_mono_ms();
	done = sg_xcalloc(got + 1, sizeof(*done));
	for (size_t i = 0; i < got; i++) {
		if (worker__process(t, s, ids[i], &done[pending]) < 0)
			continue;
		bytes += done[pending++].bytes;
		if (bytes >= COMMIT_BYTES) {
			commit(t, done, pending);
			pending = bytes = 0;
		}
	}
	if (pending > 0)
		commit(t, done, pending);
	free(done);
	*n = got;
	return (0);
}
