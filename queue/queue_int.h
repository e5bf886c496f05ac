#ifndef QUEUE_INT_H
#define QUEUE_INT_H

/*
 * NAME
 *	queue_int 3h
 * SUMMARY
 *	queue/ internals: the LMDB schema and helpers shared by its files
 * SYNOPSIS
 *	#include "queue_int.h"
 * DESCRIPTION
 *	Private to queue/. The schema (all integers big-endian so that byte
 *	order is numeric order):
 *	  env      id(8)                  -> envelope record (queue_rec.c)
 *	  body     id(8) kind(1) seq(4)   -> up to chunk_size bytes (kind 0
 *	                                     original, 1 processed); kind 2,
 *	                                     seq 0: a processed body's splice
 *	                                     of the original (queue_body.c)
 *	  inbox    id(8)                  -> lease: expiry(8) owner (0: free)
 *	  sched    due(8) id(8)           -> empty
 *	  taken    id(8)                  -> due(8): queue_due() leased it
 *	  track    id(8)                  -> envelope record, state DONE
 *	  corrupt  id(8)                  -> the raw bytes that failed checks
 *	  incident id(8)                  -> incident record
 *	  meta     "lastid" / "c:NAME"    -> u64
 *	           "h:HIST:I", "h:HIST:sum_us" -> u64 (histograms)
 *	           "r:at" -> u64, "r:NNN" -> a history snapshot, "e:snap" ->
 *	           the epoch (queue_count.c)
 *	           "tally" -> live messages, bytes per state, recipients
 *	           (queue_tally.c)
 *	  tsend    addrkey(sender) id(8)  -> empty: tracking by sender
 *	  trcpt    addrkey(rcpt) id(8)    -> empty: tracking by recipient
 *	  tsum     id(8)                  -> summary of a tracking record
 *	  outbox   kind(1) id(8)          -> txn id(8): to ship (queue_outbox.c)
 *	  certout  id(8)                  -> certificate record to ship
 *	  certin   seq(8)                 -> certificate record received
 *	           (queue_certs.c; meta "certin_seq", "certin_applied")
 *	addrkey is the lower-cased address as "reversed.domain" NUL "local"
 *	NUL (at most QUEUE_ADDRKEY_MAX bytes); a summary is version(1),
 *	status bits(2), direction(1) and the subject folded to lower case.
 *	A tracking record and its index entries are written and deleted in
 *	the same transaction (queue_track.c); meta "trackidx" = 1 says that
 *	every tracking record has them (records from before they existed
 *	were indexed when a writer first opened the queue).
 *	Invariants kept by every write: an INCOMING or WORKING envelope has
 *	an inbox entry; a READY or DEFERRED one has exactly the schedule key
 *	(next_attempt_ms, id); HOLD has neither. A taken entry is written
 *	with the schedule key queue_due() pushes to the end of its lease and
 *	deleted wherever that key moves again (results, hold, retry, delete);
 *	queue_leases_release() trusts it only while the envelope's
 *	next_attempt_ms still equals its due.
 */

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <lmdb.h>

#include "queue.h"

#define QUEUE_OWNER_MAX 64

struct queue {
	MDB_env *env;			/* NULL while a revival failed */
	pthread_rwlock_t envlock;	/* read: a transaction; write: reopen */
	MDB_dbi	db_env, db_body, db_inbox, db_sched, db_track, db_corrupt, db_inc, db_meta;
	/* newer tables: 0 when read-only on a queue that lacks them */
	MDB_dbi	db_taken;		/* what delivery took: id -> due time */
	MDB_dbi	db_incopen;		/* open incident per cause: hash -> id */
	MDB_dbi	db_tsend, db_trcpt, db_tsum;	/* tracking indexes */
	MDB_dbi	db_outbox;		/* cluster: what is still to ship */
	MDB_dbi	db_certout, db_certin;	/* cluster: certificates out and in */
	MDB_dbi	db_certseen;		/* cluster: nonces made or applied here */
	struct queue_conf conf;
	int	flags;
	int	wake_fd;		/* unbound datagram socket for sending */
	char	dir[4096];		/* STATE_DIR/queue */
	char	wake_path[2][108];
	uid_t	owner_uid;		/* (uid_t) -1: leave ownership alone */
	gid_t	owner_gid;
	_Atomic int64_t history_slot;	/* the last history slot seen marked */
	_Atomic(MDB_txn *) wtxn;	/* the write transaction open, if any */
};

/* queue_open.c */
int	queue_err(int mdb_rc);
int	queue_txn_begin(struct queue *, bool rdonly, MDB_txn **);
int	queue_txn_commit(MDB_txn *);
int	queue_txn_commit_relaxed(MDB_txn *);
void	queue_txn_abort(MDB_txn *);
void	queue_put_be64(uint8_t *, uint64_t);
uint64_t queue_get_be64(const uint8_t *);
int	queue_new_id(struct queue *, MDB_txn *, uint64_t *id);
int	queue_counter_add(struct queue *, MDB_txn *, enum queue_counter, uint64_t delta);
int	queue_meta_counters(struct queue *, MDB_txn *, uint64_t *out);
void	queue_nudge(struct queue *);
void	queue_give_to_user(struct queue *, const struct sg_conf_main *);

/* queue_rec.c: what the tally counts of a record, without a decode */
struct queue_env_sum {
	uint64_t id;
	enum queue_state state;
	uint64_t size;
	uint64_t nrcpt;
	int64_t	arrival_ms;
};

int	queue_env_peek(const void *data, size_t len, struct queue_env_sum *);

/* queue_tally.c: live messages, bytes and recipients per state, kept in meta */
int	queue_tally_move(struct queue *, MDB_txn *, const struct queue_env_sum *from,
			 const struct queue_env_sum *to);
int	queue_tally_forget(struct queue *, MDB_txn *);
int	queue_tally_read(struct queue *, MDB_txn *, struct queue_stats *, bool *have);

/* queue_store.c: envelopes inside a transaction */
int	queue_env_load(struct queue *, MDB_txn *, MDB_dbi, uint64_t id, struct queue_env *);
int	queue_env_store(struct queue *, MDB_txn *, MDB_dbi, const struct queue_env *,
			unsigned put_flags);
int	queue_sched_put(struct queue *, MDB_txn *, int64_t due, uint64_t id);
int	queue_sched_del(struct queue *, MDB_txn *, int64_t due, uint64_t id);
int	queue_inbox_put(struct queue *, MDB_txn *, uint64_t id, int64_t expiry,
			const char *owner);
int	queue_inbox_del(struct queue *, MDB_txn *, uint64_t id);
int	queue_taken_put(struct queue *, MDB_txn *, uint64_t id, int64_t due);
int	queue_taken_del(struct queue *, MDB_txn *, uint64_t id);
int	queue_unlink(struct queue *, MDB_txn *, const struct queue_env *);
int	queue_retire(struct queue *, MDB_txn *, struct queue_env *, const char *reason);
int	queue_quarantine_txn(struct queue *, MDB_txn *, uint64_t id);
int	queue_quarantine_why(struct queue *, MDB_txn *, uint64_t id, const char *why);

/* queue_body.c */
int	queue_body_write(struct queue *, MDB_txn *, uint64_t id, enum queue_body_kind,
			 const struct queue_body_src *, bool append, uint64_t *len);
int	queue_body_copy(struct queue *, MDB_txn *, uint64_t from, uint64_t to, uint64_t *len);
int	queue_body_drop(struct queue *, MDB_txn *, uint64_t id, int kind);

/* queue_track.c: tracking indexes inside a write transaction */
#define QUEUE_ADDRKEY_MAX 480
#define QUEUE_SUMMARY_VERSION 1
size_t	queue_addr_key(const char *addr, uint8_t *key);
int	queue_addr_from_key(const uint8_t *key, size_t len, char *out, size_t outlen);
size_t	queue_track_summary(const struct queue_env *, uint8_t *out, size_t outlen);
void	queue_track_fold(const char *s, size_t len, char *out);
bool	queue_track_indexed(struct queue *, MDB_txn *);
int	queue_track_store(struct queue *, MDB_txn *, const struct queue_env *);
int	queue_track_index_del(struct queue *, MDB_txn *, const struct queue_env *);
int	queue_track_index_build(struct queue *);
int	queue_meta_get(struct queue *, MDB_txn *, const char *name, uint64_t *v);
int	queue_meta_put(struct queue *, MDB_txn *, const char *name, uint64_t v);

/* queue_count.c: statistics inside a write transaction */
int	queue_tally_add(struct queue *, MDB_txn *, const struct queue_tally *);
int	queue_hist_observe(struct queue *, MDB_txn *, enum queue_histogram, int64_t us);
int	queue_attempt_count(struct queue *, MDB_txn *, enum queue_rcpt_state, const char *tls);
void	queue_history_mark(struct queue *, MDB_txn *);

/* queue_spool.c */
int	queue_spool_txn(struct queue *, MDB_txn *, const struct queue_env *,
			const struct queue_body_src *, uint64_t *id);

/* queue_outbox.c: an entry beside a tracking record or incident */
int	queue_outbox_put(struct queue *, MDB_txn *, int kind, uint64_t id);

#endif
