/*
 * NAME
 *	queue_lease 3
 * SUMMARY
 *	recovery after a crash: role locks, and releasing a dead role's leases
 * SYNOPSIS
 *	#include "queue/queue.h"
 *
 *	int	queue_role_lock(main, role, wait_ms, fdp, holderp)
 *	int	queue_leases_release(q, role, np)
 * DESCRIPTION
 *	A lease is a promise by a process to finish a message; when the
 *	process dies the promise is void, but the queue cannot tell a dead
 *	owner from a slow one and waits for the lease to end. The role lock
 *	tells: an exclusive flock() on STATE_DIR/lock.ROLE, held by every
 *	process that takes that role's leases for as long as it lives. The
 *	kernel drops it when the process dies, however it dies. Whoever gets
 *	the lock therefore knows that every lease of that role still in the
 *	queue belongs to a process that is gone, and may end them all. That
 *	is what queue_leases_release() does, so a restarted role starts with
 *	the work its predecessor left, at once, and no message is ever handed
 *	to two live processes of a role at the same time.
 *
 *	flock(), not fcntl(): fcntl locks belong to the process and vanish
 *	when it closes any descriptor of the file, and LMDB keeps fcntl
 *	locks of its own; flock locks belong to the open file description.
 *	The descriptor is close-on-exec; a child made by fork() without exec
 *	would inherit the lock, and the roles make none.
 *
 *	Worker: claims live in the inbox (expiry and owner); released, an
 *	entry is free (expiry 0) and the envelope INCOMING again. Delivery:
 *	queue_due() notes each message it takes in the taken table with the
 *	due time it pushed the schedule key to; released, a message whose
 *	envelope is still READY or DEFERRED with that next attempt is made
 *	due now (schedule key and envelope); any other note is stale and
 *	only removed.
 * DIAGNOSTICS
 *	queue_role_lock(): SG_EBUSY (another live process holds the lock),
 *	SG_EDENIED, SG_ELIMIT (the path is too long), SG_EIO.
 *	queue_leases_release(): SG_EINVAL (no such role), SG_EFULL, SG_EIO;
 *	what committed before an error stays released.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "queue_int.h"

#define RELEASE_PER_TXN	10000
#define LOCK_RETRY_MS	50

/* ------------------------------------------------------- role locks */

static const char *role_word(enum queue_role role)
{
	return (role == QUEUE_ROLE_WORKER ? "worker" : role == QUEUE_ROLE_DELIVERY
		? "delivery" : NULL);
}

/* read_holder - the pid the holder wrote into the lock file, 0 if none */

static pid_t read_holder(int fd)
{
	char	buf[24];
	uint64_t v;
	ssize_t	n = pread(fd, buf, sizeof(buf) - 1, 0);
	size_t	len;

	if (n <= 0)
		return (0);
	buf[n] = 0;
	len = strcspn(buf, "\n");
	if (sg_parse_u64(buf, len, &v) < 0 || v > INT32_MAX)
		return (0);
	return ((pid_t) v);
}

/* write_pid - tell who holds the lock (for the message of the next one) */

static void write_pid(int fd)
{
	char	buf[24];
	int	len = snprintf(buf, sizeof(buf), "%ld\n", (long) getpid());

	if (ftruncate(fd, 0) == 0 && pwrite(fd, buf, (size_t) len, 0) != len)
		(void) ftruncate(fd, 0);
}

static void give_to_user(int fd, const struct sg_conf_main *m)
{
	uid_t	uid;
	gid_t	gid;

	if (geteuid() == 0 && sg_conf_run_ids(m, &uid, &gid) && fchown(fd, uid, gid) != 0)
		sg_warn("event=queue_chown_failed path=lock error=\"%s\"", strerror(errno));
}

int	queue_role_lock(const struct sg_conf_main *m, enum queue_role role, int64_t wait_ms,
			int *fdp, pid_t *holder)
{
	const char *word = role_word(role);
	char	path[4096];
	int64_t	until = sg_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
	int	fd;

	*fdp = -1;
	if (holder)
		*holder = 0;
	if (word == NULL || m->state_dir == NULL || *m->state_dir == 0)
		return (SG_EINVAL);
	if ((size_t) snprintf(path, sizeof(path), "%s/lock.%s", m->state_dir, word) >= sizeof(path))
		return (SG_ELIMIT);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return (queue_err(errno));
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			int	err = queue_err(errno);

			close(fd);
			return (err);
		}
		if (errno == EWOULDBLOCK && sg_mono_ms() >= until) {
			if (holder)
				*holder = read_holder(fd);
			close(fd);
			return (SG_EBUSY);
		}
		usleep(LOCK_RETRY_MS * 1000);
	}
	give_to_user(fd, m);
	write_pid(fd);
	*fdp = fd;
	return (0);
}

/* ------------------------------------------------- worker: claims */

/* claimed - up to max inbox ids after *from (0: from the start) with a lease */

static int claimed(struct queue *q, MDB_txn *txn, uint64_t from, size_t max, uint64_t *ids,
		   size_t *n)
{
	MDB_cursor *c;
	MDB_val	k, d;
	uint8_t	kb[8];
	int	rc;

	*n = 0;
	if ((rc = mdb_cursor_open(txn, q->db_inbox, &c)) != 0)
		return (queue_err(rc));
	queue_put_be64(kb, from + 1);
	k.mv_size = 8;
	k.mv_data = kb;
	for (rc = mdb_cursor_get(c, &k, &d, from ? MDB_SET_RANGE : MDB_FIRST);
	     rc == 0 && *n < max; rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
		if (k.mv_size != 8 || d.mv_size < 8 || queue_get_be64(d.mv_data) == 0)
			continue;
		ids[(*n)++] = queue_get_be64(k.mv_data);
	}
	mdb_cursor_close(c);
	return (rc == 0 || rc == MDB_NOTFOUND ? 0 : queue_err(rc));
}

/* free_claim - make one claimed entry free again; 1 if the message is gone */

static int free_claim(struct queue *q, MDB_txn *txn, uint64_t id, struct queue_env *env)
{
	int	err = queue_env_load(q, txn, q->db_env, id, env);

	if (err == SG_ENOTFOUND)
		return (queue_inbox_del(q, txn, id) == 0 ? 1 : SG_EIO);
	if (err == SG_ECORRUPT)
		return (queue_quarantine_txn(q, txn, id) == 0 ? 1 : SG_EIO);
	if (err || (err = queue_inbox_put(q, txn, id, 0, NULL)) != 0)
		return (err);
	if (env->state != QUEUE_WORKING)
		return (0);
	env->state = QUEUE_INCOMING;
	return (queue_env_store(q, txn, q->db_env, env, 0));
}

static int release_claims(struct queue *q, MDB_txn *txn, uint64_t *ids, uint64_t *from,
			  size_t *n, bool *more)
{
	struct queue_env env;
	size_t	found;
	int	err;

	if ((err = claimed(q, txn, *from, RELEASE_PER_TXN, ids, &found)) != 0)
		return (err);
	*more = found == RELEASE_PER_TXN;
	queue_env_init(&env);
	for (size_t i = 0; i < found && err >= 0; i++) {
		if ((err = free_claim(q, txn, ids[i], &env)) == 0)
			(*n)++;
		*from = ids[i];
	}
	queue_env_free(&env);
	return (err < 0 ? err : 0);
}

/* ----------------------------------------------- delivery: taken */

struct taken {
	uint64_t id;
	int64_t	due;
};

static int taken_first(struct queue *q, MDB_txn *txn, size_t max, struct taken *t, size_t *n)
{
	MDB_cursor *c;
	MDB_val	k, d;
	int	rc;

	*n = 0;
	if ((rc = mdb_cursor_open(txn, q->db_taken, &c)) != 0)
		return (queue_err(rc));
	for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0 && *n < max;
	     rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
		if (k.mv_size != 8)
			continue;
		t[*n].id = queue_get_be64(k.mv_data);
		t[(*n)++].due = d.mv_size == 8 ? (int64_t) queue_get_be64(d.mv_data) : -1;
	}
	mdb_cursor_close(c);
	return (rc == 0 || rc == MDB_NOTFOUND ? 0 : queue_err(rc));
}

/* due_now - one taken message back to the schedule at now; 1 if the note was stale */

static int due_now(struct queue *q, MDB_txn *txn, const struct taken *t, int64_t now,
		   struct queue_env *env)
{
	int	err = queue_env_load(q, txn, q->db_env, t->id, env);

	if (err == SG_ENOTFOUND || err == SG_ECORRUPT)
		return (1);		/* gone; a corrupt one is queue_due()'s to quarantine */
	if (err)
		return (err);
	if ((env->state != QUEUE_READY && env->state != QUEUE_DEFERRED) ||
	    env->next_attempt_ms != t->due)
		return (1);		/* moved since: not ours to touch */
	if ((err = queue_sched_del(q, txn, t->due, t->id)) != 0 ||
	    (err = queue_sched_put(q, txn, now, t->id)) != 0)
		return (err);
	env->next_attempt_ms = now;
	return (queue_env_store(q, txn, q->db_env, env, 0));
}

static int release_taken(struct queue *q, MDB_txn *txn, struct taken *t, size_t *n,
			 bool *more)
{
	struct queue_env env;
	int64_t	now = sg_now_ms();
	size_t	found;
	int	err;

	if ((err = taken_first(q, txn, RELEASE_PER_TXN, t, &found)) != 0)
		return (err);
	*more = found == RELEASE_PER_TXN;
	queue_env_init(&env);
	for (size_t i = 0; i < found && err >= 0; i++) {
		if ((err = queue_taken_del(q, txn, t[i].id)) == 0 &&
		    (err = due_now(q, txn, &t[i], now, &env)) == 0)
			(*n)++;
	}
	queue_env_free(&env);
	return (err < 0 ? err : 0);
}

/* ------------------------------------------------------------ both */

int	queue_leases_release(struct queue *q, enum queue_role role, size_t *np)
{
	uint64_t *ids = NULL, from = 0;
	struct taken *t = NULL;
	MDB_txn *txn;
	size_t	n = 0;
	bool	more = true;
	int	err = 0;

	if (np)
		*np = 0;
	if (role_word(role) == NULL)
		return (SG_EINVAL);
	if (role == QUEUE_ROLE_WORKER)
		ids = sg_xcalloc(RELEASE_PER_TXN, sizeof(*ids));
	else
		t = sg_xcalloc(RELEASE_PER_TXN, sizeof(*t));
	while (more && err == 0) {
		size_t	k = 0;

		if ((err = queue_txn_begin(q, false, &txn)) != 0)
			break;
		if (role == QUEUE_ROLE_WORKER)
			err = release_claims(q, txn, ids, &from, &k, &more);
		else
			err = release_taken(q, txn, t, &k, &more);
		if (err) {
			queue_txn_abort(txn);
			break;
		}
		if ((err = queue_txn_commit(txn)) == 0)
			n += k;
	}
	free(ids);
	free(t);
	if (np)
		*np = n;
	return (err);
}
