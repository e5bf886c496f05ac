/*
 * NAME
 *	queue_open 3
 * SUMMARY
 *	the LMDB environment: open, close, transactions, ids, counters
 * SYNOPSIS
 *	#include "queue/queue.h"
 *
 *	int	queue_open(main, conf, flags, qp)
 *	void	queue_close(q)
 *	int	queue_count(q, counter, delta)
 *	int	queue_reader_check(q, deadp)
 *
 *	#include "queue_int.h"
 *
 *	int	queue_err(mdb_rc)
 *	int	queue_txn_begin(q, rdonly, txnp)
 *	int	queue_txn_commit(txn)
 *	int	queue_txn_commit_relaxed(txn)
 *	void	queue_txn_abort(txn)
 *	int	queue_new_id(q, txn, idp)
 *	int	queue_counter_add(q, txn, counter, delta)
 *	void	queue_nudge(q)
 * DESCRIPTION
 *	queue_open() makes STATE_DIR/queue (0700), creates the environment
 *	with MDB_NOTLS (read transactions may be used from any thread) and
 *	LMDB's default sync behaviour, sizes the map to map_size_max,
 *	clears reader slots left by dead processes and opens the named
 *	databases (creating them unless QUEUE_RDONLY). In read-only mode a
 *	missing environment is SG_ENOTFOUND.
 *
 *	Run as root with a "user" configured, queue_open() hands the queue
 *	directory and its files to that user, so that roles which drop
 *	privileges before they open the queue can still open it.
 *
 *	queue_reader_check() frees reader slots of dead processes; roles
 *	call it now and then (a dead reader pins old pages: the file grows).
 *
 *	queue_txn_commit_relaxed() commits without the synchronous write
 *	of LMDB's meta page (MDB_NOMETASYNC for this commit only): one device
 *	flush instead of two. The queue stays consistent, but a system crash
 *	may undo the commit until the next durable one (any process's) is on
 *	disk. Only for commits whose loss repeats work and loses nothing:
 *	leases (a worker's claim, delivery's take) and the worker's results
 *	(the original is durable; the message is processed again). Never for
 *	what a 250 or a delivery result promises.
 *
 *	queue_txn_begin() adopts a map grown by another process
 *	(MDB_MAP_RESIZED). queue_err() maps LMDB and errno codes to sg_err:
 *	map full and disk full are SG_EFULL (also a commit that failed with
 *	EIO on a filesystem with less than a megabyte left: LMDB reports a
 *	write cut short for want of space as EIO). Every top-level transaction of
 *	queue/ begins with queue_txn_begin() and ends with queue_txn_commit()
 *	or queue_txn_abort() (nested ones, named sub, use LMDB's own calls):
 *	in between it holds the environment's lock for reading.
 *
 *	Reviving the environment. When the last write of a commit (LMDB's
 *	meta page) fails, LMDB puts the whole environment of this process
 *	into a fatal state: every later transaction, read or write, fails
 *	with MDB_PANIC until the environment is closed and opened again. A
 *	disk that failed once would then keep the role answering 451 until
 *	somebody restarted it. So queue_txn_begin(), on MDB_PANIC, takes the
 *	lock for writing (every transaction of this process has ended: the
 *	map may go), closes the environment, opens it again and logs
 *	"event=queue_reopened"; other processes are not affected, LMDB having
 *	written the previous meta page back. If the lock cannot be had within
 *	a second (a transaction of this very thread is still open), or the
 *	open fails (the disk still fails), the call fails with SG_EIO and the
 *	next one tries again.
 *
 *	queue_nudge() commits a tiny write. LMDB reuses the pages a
 *	transaction freed only two commits later (the previous snapshot may
 *	still be read), so when the map is full and mail has just left,
 *	one small commit makes that space usable to the next writer.
 *
 *	A writer's queue_open() also indexes tracking records that have
 *	no index entries yet (a queue from before the indexes), in
 *	transactions of a few thousand (queue_track_index_build); should
 *	that fail (a full map), the next writer's open goes on with it and
 *	searches meanwhile read the records. It also counts the per-state
 *	tally of a queue that has none yet (queue_tally_repair), once.
 *
 *	queue_new_id() makes the next id inside a write transaction: the
 *	current time in the top 48 bits, or the last id + 1 if that is not
 *	larger, so ids never repeat and always grow, across processes.
 */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue_int.h"

#define QUEUE_EPOCH_MS 1577836800000LL

int	queue_err(int rc)
{
	switch (rc) {
	case 0:
		return (0);
	case MDB_MAP_FULL:
	case ENOSPC:
	case EDQUOT:
		return (SG_EFULL);
	case MDB_NOTFOUND:
		return (SG_ENOTFOUND);
	case MDB_KEYEXIST:
		return (SG_EEXIST);
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return (SG_ECORRUPT);
	case ENOMEM:
		return (SG_ENOMEM);
	case MDB_READERS_FULL:
	case MDB_TXN_FULL:
	case MDB_BAD_VALSIZE:
		return (SG_ELIMIT);
	case ENOENT:
		return (SG_ENOTFOUND);
	case EACCES:
	case EPERM:
		return (SG_EDENIED);
	default:
		return (SG_EIO);
	}
}

void	queue_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t) v;
		v >>= 8;
	}
}

uint64_t queue_get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return (v);
}

static int open_env(struct queue *);

/* revive - the environment is in LMDB's fatal state: close it, open it again */

static void revive(struct queue *q)
{
	struct timespec ts;
	MDB_txn *txn;
	int	err;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 1;
	if (pthread_rwlock_timedwrlock(&q->envlock, &ts) != 0)
		return;			/* a transaction is still open: next time */
	/* someone else may have revived it meanwhile */
	if (q->env && mdb_txn_begin(q->env, NULL, MDB_RDONLY, &txn) == 0) {
		mdb_txn_abort(txn);
	} else {
		if (q->env)
			mdb_env_close(q->env);
		q->env = NULL;
		if ((err = open_env(q)) != 0) {
			if (q->env)
				mdb_env_close(q->env);
			q->env = NULL;
			sg_warn("event=queue_reopen_failed path=\"%s\" error=\"%s\"", q->dir,
				sg_strerror(err));
		} else {
			sg_warn("event=queue_reopened path=\"%s\" reason=\"a commit failed "
				"half-way (MDB_PANIC)\"", q->dir);
		}
	}
	pthread_rwlock_unlock(&q->envlock);
}

static int txn_begin(struct queue *q, bool rdonly, MDB_txn **txn)
{
	int	rc;

	pthread_rwlock_rdlock(&q->envlock);
	if (q->env == NULL) {
		rc = MDB_PANIC;		/* a revival failed: try again */
	} else if ((rc = mdb_txn_begin(q->env, NULL, rdonly ? MDB_RDONLY : 0, txn))
		   == MDB_MAP_RESIZED) {
		/* another process grew the map: adopt its size and retry */
		mdb_env_set_mapsize(q->env, 0);
		rc = mdb_txn_begin(q->env, NULL, rdonly ? MDB_RDONLY : 0, txn);
	}
	if (rc != 0)
		pthread_rwlock_unlock(&q->envlock);
	else if (!rdonly)
		atomic_store(&q->wtxn, *txn);	/* LMDB's writer lock is ours */
	return (rc);
}

int	queue_txn_begin(struct queue *q, bool rdonly, MDB_txn **txn)
{
	int	rc;

	if (!rdonly && (q->flags & QUEUE_RDONLY))
		return (SG_EDENIED);
	if ((rc = txn_begin(q, rdonly, txn)) == MDB_PANIC) {
		revive(q);
		rc = txn_begin(q, rdonly, txn);
	}
	return (queue_err(rc));
}

/* queue_of - the queue a transaction belongs to (the environment's user context) */

static struct queue *queue_of(MDB_txn *txn)
{
	return (mdb_env_get_userctx(mdb_txn_env(txn)));
}

/*
 * nearly_full - is the queue's filesystem (all but) full? LMDB reports a
 * write that the filesystem cut short for want of space as EIO, not
 * ENOSPC ("short write, filesystem full?"): a commit that fails with EIO
 * on a filesystem with less than NEARLY_FULL left is taken for a full
 * disk, which it almost surely is (and both are temporary failures).
 */
#define NEARLY_FULL	(1u << 20)

static bool nearly_full(const struct queue *q)
{
	uint64_t left;

	return (sg_fs_room(q->dir, &left) == 0 && left < NEARLY_FULL);
}

/*
 * commit_as - commit, with the meta page written synchronously (durable)
 * or not (relaxed). MDB_NOMETASYNC is a flag of the environment, not of
 * the transaction (LMDB 0.9 ignores it at mdb_txn_begin): every write
 * commit sets the value it wants while it still holds LMDB's writer
 * lock, so no other commit of this process can see the other value, and
 * only the holder of that lock ever changes the flag. Other processes
 * have environments of their own. A read-only transaction (never
 * q->wtxn) leaves the flag alone.
 */
static int commit_as(MDB_txn *txn, bool relaxed)
{
	struct queue *q = queue_of(txn);
	int	rc;

	if (atomic_load(&q->wtxn) == txn) {
		(void) mdb_env_set_flags(q->env, MDB_NOMETASYNC, relaxed ? 1 : 0);
		atomic_store(&q->wtxn, NULL);
	}
	rc = mdb_txn_commit(txn);
	pthread_rwlock_unlock(&q->envlock);
	if (rc == EIO && nearly_full(q))
		rc = ENOSPC;
	return (queue_err(rc));
}

int	queue_txn_commit(MDB_txn *txn)
{
	return (commit_as(txn, false));
}

int	queue_txn_commit_relaxed(MDB_txn *txn)
{
	return (commit_as(txn, true));
}

void	queue_txn_abort(MDB_txn *txn)
{
	struct queue *q = queue_of(txn);

	if (atomic_load(&q->wtxn) == txn)
		atomic_store(&q->wtxn, NULL);
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&q->envlock);
}

int	queue_meta_get(struct queue *q, MDB_txn *txn, const char *name, uint64_t *v)
{
	MDB_val k = {strlen(name), (void *) name}, d;
	int	rc = mdb_get(txn, q->db_meta, &k, &d);

	*v = 0;
	if (rc == MDB_NOTFOUND)
		return (0);
	if (rc != 0)
		return (queue_err(rc));
	if (d.mv_size != 8)
		return (SG_ECORRUPT);
	*v = queue_get_be64(d.mv_data);
	return (0);
}

int	queue_meta_put(struct queue *q, MDB_txn *txn, const char *name, uint64_t v)
{
	MDB_val k = {strlen(name), (void *) name}, d;
	uint8_t	b[8];

	queue_put_be64(b, v);
	d.mv_size = 8;
	d.mv_data = b;
	return (queue_err(mdb_put(txn, q->db_meta, &k, &d, 0)));
}

int	queue_new_id(struct queue *q, MDB_txn *txn, uint64_t *id)
{
	uint64_t last, now;
	int	err;

	if ((err = queue_meta_get(q, txn, "lastid", &last)) != 0)
		return (err);
	now = (uint64_t) (sg_now_ms() - QUEUE_EPOCH_MS) << 16;
	*id = now > last ? now : last + 1;
	return (queue_meta_put(q, txn, "lastid", *id));
}

int	queue_counter_add(struct queue *q, MDB_txn *txn, enum queue_counter c, uint64_t delta)
{
	char	name[32];
	uint64_t v;
	int	err;

	if (delta == 0)
		return (0);
	snprintf(name, sizeof(name), "c:%s", queue_counter_name(c));
	if ((err = queue_meta_get(q, txn, name, &v)) != 0)
		return (err);
	return (queue_meta_put(q, txn, name, v + delta));
}

int	queue_count(struct queue *q, enum queue_counter c, uint64_t delta)
{
	MDB_txn *txn;
	int	err;

	if ((unsigned) c >= QUEUE_NCOUNTERS)
		return (SG_EINVAL);
	if ((err = queue_txn_begin(q, false, &txn)) != 0)
		return (err);
	if ((err = queue_counter_add(q, txn, c, delta)) != 0) {
		queue_txn_abort(txn);
		return (err);
	}
	return (queue_txn_commit(txn));
}

/* queue_meta_counters - read every counter (for stats) */

int	queue_meta_counters(struct queue *q, MDB_txn *txn, uint64_t *out)
{
	char	name[32];
	int	err;

	for (unsigned c = 0; c < QUEUE_NCOUNTERS; c++) {
		snprintf(name, sizeof(name), "c:%s", queue_counter_name((enum queue_counter) c));
		if ((err = queue_meta_get(q, txn, name, &out[c])) != 0)
			return (err);
	}
	return (0);
}

static int open_dbs(struct queue *q)
{
	static const char *const names[] = {
		"env", "body", "inbox", "sched", "track", "corrupt", "incident", "meta",
	};
	MDB_dbi *dbis[] = {
		&q->db_env, &q->db_body, &q->db_inbox, &q->db_sched, &q->db_track,
		&q->db_corrupt, &q->db_inc, &q->db_meta,
	};
	/* newer than the others: a queue no role has opened since may lack
	 * them, and readers never use them */
	static const char *const newer[] = {"taken", "incopen", "tsend", "trcpt", "tsum",
		"outbox", "certout", "certin", "certseen"};
	MDB_dbi *newer_dbis[] = {&q->db_taken, &q->db_incopen, &q->db_tsend, &q->db_trcpt,
		&q->db_tsum, &q->db_outbox, &q->db_certout, &q->db_certin, &q->db_certseen};
	bool	ro = (q->flags & QUEUE_RDONLY) != 0;
	MDB_txn *txn;
	int	rc = 0;

	if ((rc = mdb_txn_begin(q->env, NULL, ro ? MDB_RDONLY : 0, &txn)) != 0)
		return (queue_err(rc));
	for (size_t i = 0; i < SG_NELEM(names) && rc == 0; i++)
		rc = mdb_dbi_open(txn, names[i], ro ? 0 : MDB_CREATE, dbis[i]);
	for (size_t i = 0; i < SG_NELEM(newer) && rc == 0; i++)
		if ((rc = mdb_dbi_open(txn, newer[i], ro ? 0 : MDB_CREATE, newer_dbis[i]))
		    == MDB_NOTFOUND && ro) {
			*newer_dbis[i] = 0;
			rc = 0;
		}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return (queue_err(rc));
	}
	return (queue_err(mdb_txn_commit(txn)));
}

static int make_paths(struct queue *q, const char *state_dir)
{
	static const char *const roles[] = {"worker", "delivery"};

	if (state_dir == NULL || *state_dir == 0)
		return (SG_EINVAL);
	if ((size_t) snprintf(q->dir, sizeof(q->dir), "%s/queue", state_dir) >= sizeof(q->dir))
		return (SG_ELIMIT);
	/* a state_dir too long for a socket name costs wake-ups, not the queue:
	 * consumers poll anyway */
	for (int i = 0; i < 2; i++)
		if ((size_t) snprintf(q->wake_path[i], sizeof(q->wake_path[i]), "%s/wake.%s",
				      state_dir, roles[i]) >= sizeof(q->wake_path[i]))
			q->wake_path[i][0] = 0;
	return (0);
}

/* queue_give_to_user - root made it: let the configured user's roles open it */

static void chown_path(const char *path, uid_t uid, gid_t gid)
{
	if (chown(path, uid, gid) != 0)
		sg_warn("event=queue_chown_failed path=\"%s\" error=\"%s\"", path,
			strerror(errno));
}

void	queue_give_to_user(struct queue *q, const struct sg_conf_main *m)
{
	static const char *const files[] = {"", "/data.mdb", "/lock.mdb"};
	char	path[sizeof(q->dir) + 16];
	uid_t	uid;
	gid_t	gid;

	if (geteuid() != 0 || !sg_conf_run_ids(m, &uid, &gid))
		return;
	for (size_t i = 0; i < SG_NELEM(files); i++) {
		snprintf(path, sizeof(path), "%s%s", q->dir, files[i]);
		chown_path(path, uid, gid);
	}
	q->owner_uid = uid;
	q->owner_gid = gid;
}

static int open_env(struct queue *q)
{
	unsigned flags = MDB_NOTLS | ((q->flags & QUEUE_RDONLY) ? MDB_RDONLY : 0);
	int	rc, dead;

	if ((rc = mdb_env_create(&q->env)) != 0)
		return (queue_err(rc));
	mdb_env_set_userctx(q->env, q);
	mdb_env_set_maxdbs(q->env, 24);
	mdb_env_set_mapsize(q->env, (size_t) q->conf.map_size_max);
	mdb_env_set_maxreaders(q->env, (unsigned) q->conf.max_readers);
	if ((rc = mdb_env_open(q->env, q->dir, flags, 0600)) != 0)
		return (queue_err(rc));
	mdb_reader_check(q->env, &dead);
	if (dead > 0)
		sg_info("event=queue_readers_cleared count=%d", dead);
	return (open_dbs(q));
}

int	queue_open(const struct sg_conf_main *m, const struct queue_conf *c, int flags,
		   struct queue **out)
{
	struct queue *q = sg_xcalloc(1, sizeof(*q));
	int	err;

	*out = NULL;
	q->conf = *c;
	q->flags = flags;
	q->wake_fd = -1;
	pthread_rwlock_init(&q->envlock, NULL);
	q->owner_uid = (uid_t) -1;
	q->owner_gid = (gid_t) -1;
	if (q->conf.chunk_size < 4096)
		q->conf.chunk_size = 4096;
	if (q->conf.commit_batch < 1)
		q->conf.commit_batch = 1;
	if (q->conf.max_readers < 16)
		q->conf.max_readers = 126;
	if (q->conf.map_size_max < (1 << 20))
		q->conf.map_size_max = 1 << 20;
	if ((err = make_paths(q, m->state_dir)) != 0)
		goto fail;
	if (!(flags & QUEUE_RDONLY) && mkdir(q->dir, 0700) != 0 && errno != EEXIST) {
		err = queue_err(errno);
		goto fail;
	}
	if ((err = open_env(q)) != 0)
		goto fail;
	/* not fatal: until it is done (the next open tries again) a search reads records */
	if (!(flags & QUEUE_RDONLY))
		(void) queue_track_index_build(q);
	/* likewise: until a tally is built, statistics count by a walk */
	if (!(flags & QUEUE_RDONLY))
		(void) queue_tally_repair(q);
	if (!(flags & QUEUE_RDONLY))
		queue_give_to_user(q, m);
	if (!(flags & QUEUE_RDONLY))
		q->wake_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	*out = q;
	return (0);
fail:
	queue_close(q);
	return (err);
}

void	queue_close(struct queue *q)
{
	if (q == NULL)
		return;
	if (q->env)
		mdb_env_close(q->env);
	if (q->wake_fd >= 0)
		close(q->wake_fd);
	pthread_rwlock_destroy(&q->envlock);
	free(q);
}

void	queue_nudge(struct queue *q)
{
	MDB_txn *txn;
	uint64_t v;

	if (queue_txn_begin(q, false, &txn) != 0)
		return;
	if (queue_meta_get(q, txn, "nudge", &v) != 0 || queue_meta_put(q, txn, "nudge", v + 1) != 0) {
		queue_txn_abort(txn);
		return;
	}
	(void) queue_txn_commit(txn);
}

int	queue_reader_check(struct queue *q, int *dead)
{
	int	n = 0, rc;

	pthread_rwlock_rdlock(&q->envlock);
	rc = q->env ? mdb_reader_check(q->env, &n) : MDB_PANIC;
	pthread_rwlock_unlock(&q->envlock);

	if (dead)
		*dead = n;
	return (queue_err(rc));
}
