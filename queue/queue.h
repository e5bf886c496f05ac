#ifndef QUEUE_H
#define QUEUE_H

/*
 * NAME
 *	queue 3h
 * SUMMARY
 *	the durable LMDB spool: the only contract between the roles
 * SYNOPSIS
 *	#include "queue/queue.h"
 * DESCRIPTION
 *	The one public header of queue/. queue/ is the only code that
 *	touches LMDB. One environment lives in STATE_DIR/queue/ (data.mdb,
 *	lock.mdb); wake-up sockets live in STATE_DIR (wake.worker,
 *	wake.delivery).
 *
 *	Processes and threads. Every process (each role, sealctl, tests)
 *	calls queue_open() once and queue_close() before it exits; never
 *	share a struct queue across fork(). Within a process a struct queue
 *	may be used from any number of threads at once: read transactions
 *	are MDB_NOTLS, write transactions are serialised by LMDB (across
 *	processes too). Every call below is one short transaction of its
 *	own unless it says otherwise; none keeps a transaction open after
 *	it returns.
 *
 *	Errors. Every function returns 0 or a negative enum sg_err and never
 *	prints or exits (queue code only logs quarantined records).
 *	SG_EFULL: the map (map_size_max) or the disk is full; nothing that
 *	was committed before is harmed and the call may be retried once
 *	space returns (smtpd: 452 4.3.1). SG_EIO: a write or fsync failed
 *	(smtpd: 451); when LMDB gave up on the process's environment after
 *	such an error (MDB_PANIC) the next transaction opens it again
 *	(queue_open.c). SG_ECORRUPT: a stored record failed its checks; it
 *	has been (or, in read-only mode, will be) quarantined. SG_ENOTFOUND:
 *	no such id.
 *
 *	Durability. The environment uses LMDB's default sync flags: when a
 *	write call returns 0 its transaction is on disk.
 *
 *	Message life cycle (enum queue_state):
 *	  spool (INCOMING) -> worker claim (WORKING) -> worker complete
 *	  (READY, or HOLD) -> delivery attempt(s) (DEFERRED while some
 *	  recipient is not final) -> all recipients final: the message
 *	  leaves the queue; its envelope stays as a tracking record (DONE).
 *	hold/release/delete/retry work on any live message.
 */

#include <sys/types.h>

#include "common/sg.h"

/* The "queue = { ... };" section of the configuration. */
struct queue_conf {
	uint64_t map_size_max;		/* the LMDB map grows up to this */
	int64_t	lease_ms;		/* how long a worker claim lasts */
	uint64_t chunk_size;		/* body chunk size in bytes */
	int64_t	commit_batch;		/* most messages in one group commit */
	int64_t	max_readers;		/* LMDB reader slots (processes x threads) */
	int64_t	track_keep_ms;		/* the age the worker prunes tracking at */
	/* not a key of this section: cluster.outbox_max when a cluster is
	 * configured (cmd/conf.c), else 0: no outbox is written */
	uint64_t outbox_max;
};

extern const struct sg_conf_row queue_conf_rows[];

/* ---------------------------------------------------------------- ids */

/*
 * A message id is a 64-bit number: milliseconds since 2020-01-01 UTC in
 * the top 48 bits and a counter in the low 16. Ids are unique across all
 * processes (they are made inside the write transaction that stores the
 * message) and sort by arrival. Printed as 13 characters of Crockford
 * base32 (0-9 A-Z without I L O U), fixed width, so the text sorts like
 * the number: "0J5ZQ3K2M8F0A". Parsing accepts lower case too.
 */
#define QUEUE_ID_LEN 13
#define QUEUE_ID_BUFSZ (QUEUE_ID_LEN + 1)

char   *queue_id_format(uint64_t id, char buf[QUEUE_ID_BUFSZ]);	/* returns buf */
int	queue_id_parse(const char *s, size_t len, uint64_t *id);	/* 0 / SG_EINVAL */
int64_t	queue_id_time_ms(uint64_t id);	/* the id's time, ms since the epoch */
uint64_t queue_id_at(int64_t ms);	/* the smallest id of that millisecond */

/* ----------------------------------------------------------- records */

enum queue_state {
	QUEUE_INCOMING = 0,		/* spooled, waiting for a worker */
	QUEUE_WORKING,			/* claimed by a worker (lease) */
	QUEUE_READY,			/* processed, waiting for delivery */
	QUEUE_DEFERRED,			/* a delivery attempt failed temporarily */
	QUEUE_HOLD,			/* held by an operator or an incident */
	QUEUE_DONE,			/* tracking record only: left the queue */
	QUEUE_NSTATES
};

const char *queue_state_name(enum queue_state);	/* "incoming", ... */
int	queue_state_parse(const char *s, size_t len, enum queue_state *);

enum queue_direction {
	QUEUE_DIR_UNKNOWN = 0,
	QUEUE_DIR_INBOUND,
	QUEUE_DIR_OUTBOUND,
};

enum queue_ret {			/* RFC 3461 RET */
	QUEUE_RET_NONE = 0,
	QUEUE_RET_FULL,
	QUEUE_RET_HDRS,
};

/* RFC 3461 NOTIFY bits; 0 means "not given" (default: failure). */
#define QUEUE_NOTIFY_NEVER	(1u << 0)
#define QUEUE_NOTIFY_SUCCESS	(1u << 1)
#define QUEUE_NOTIFY_FAILURE	(1u << 2)
#define QUEUE_NOTIFY_DELAY	(1u << 3)

enum queue_rcpt_state {
	QUEUE_RCPT_PENDING = 0,		/* not final */
	QUEUE_RCPT_DEFERRED,		/* not final: a temporary failure */
	QUEUE_RCPT_DELIVERED,		/* final */
	QUEUE_RCPT_BOUNCED,		/* final: permanent failure (DSN sent) */
	QUEUE_RCPT_DROPPED,		/* final: removed without a DSN */
};

const char *queue_rcpt_state_name(enum queue_rcpt_state);
bool	queue_rcpt_final(enum queue_rcpt_state);

/* Envelope flags. */
#define QUEUE_F_PROCESSED	(1u << 0)	/* a processed body is stored */
#define QUEUE_F_DSN		(1u << 1)	/* this message is a DSN we made */
#define QUEUE_F_CORRUPT		(1u << 2)	/* tracking: quarantined */
#define QUEUE_F_WORKED		(1u << 3)	/* the worker is done with it */
#define QUEUE_F_LONGLINES	(1u << 4)	/* a line over 998 octets: the worker makes it legal */
#define QUEUE_F_REJECTED	(1u << 5)	/* tracking: refused at SMTP, never queued */

/*
 * Strings are NUL-terminated. NULL and "" are the same on disk (both
 * read back as ""), except that no field is ever NULL after a decode.
 */
struct queue_rcpt {
	const char *addr;		/* the recipient as given in RCPT TO */
	const char *orcpt;		/* ORCPT parameter, "" if none */
	unsigned notify;		/* QUEUE_NOTIFY_* */
	enum queue_rcpt_state state;
	uint32_t attempts;
	int64_t	next_attempt_ms;	/* 0: with the message */
	int64_t	last_attempt_ms;
	const char *reply;		/* last reply (delay/bounce reason) */
	const char *dsn_status;		/* "4.4.1", "5.1.1", "2.0.0" */
	const char *relay;		/* host[addr]:port that answered */
	const char *tls;		/* TLS of that attempt: "TLSv1.3/CIPHER", "none" */
};

struct queue_env {
	uint64_t id;
	enum queue_state state;
	uint32_t flags;			/* QUEUE_F_* */
	int64_t	arrival_ms;
	int64_t	next_attempt_ms;	/* READY/DEFERRED: when delivery is due */
	int64_t	expire_ms;		/* 0: delivery's own maximum lifetime */
	uint32_t attempts;
	uint64_t size;			/* original body bytes */
	uint64_t processed_size;	/* processed body bytes (F_PROCESSED) */
	uint64_t parent;		/* split from this id, 0: none */
	enum queue_direction direction;
	enum queue_ret ret;
	const char *listener;		/* the smtpd listener's name */
	const char *client_addr;	/* "192.0.2.1" */
	const char *client_name;	/* reverse name or "" */
	const char *helo;
	const char *tls_version;	/* "" when plain */
	const char *tls_cipher;
	const char *auth;		/* authenticated user or "" */
	const char *sender;		/* "" is the null sender <> */
	const char *envid;		/* ENVID or "" */
	const char *subject;		/* for tracking, or "" */
	const char *rule;		/* worker: the rule applied */
	uint32_t crypto;		/* worker: its own bit set of actions done */
	const char *crypto_note;	/* worker: free text, e.g. signer */
	const char *reason;		/* why held / last incident / deleted by */
	const char *route;		/* delivery: its own routing note */
	size_t	nrcpt;
	struct queue_rcpt *rcpt;
	/* private to queue/: storage behind a decoded record */
	size_t	rcpt_cap;
	void   *raw;
	size_t	raw_len;
};

/* Limits enforced on encode and decode. */
#define QUEUE_MAX_RCPT		10000
#define QUEUE_MAX_STRING	4096		/* bytes per string field */
#define QUEUE_MAX_RECORD	(8u << 20)	/* one encoded envelope */

/*
 * queue_env_init() zeroes an envelope (no allocation). queue_env_free()
 * releases what a decode or queue_get() attached to it and zeroes it;
 * strings the caller set are the caller's. queue_env_rcpt_add() appends
 * a recipient (copying nothing: the strings must outlive the envelope's
 * next encode) and returns it, or NULL past QUEUE_MAX_RCPT.
 */
void	queue_env_init(struct queue_env *);
void	queue_env_free(struct queue_env *);
struct queue_rcpt *queue_env_rcpt_add(struct queue_env *, const char *addr);

/*
 * queue_env_encode() appends the versioned binary form to out (SG_ELIMIT
 * past a limit). queue_env_decode() parses exactly len bytes, checking
 * every length, and fills env; the strings point into data (which must
 * outlive env's use) and the recipient array is reused across calls
 * (free with queue_env_free). SG_ECORRUPT on any malformed input.
 */
int	queue_env_encode(const struct queue_env *, struct sg_buf *out);
int	queue_env_decode(const void *data, size_t len, struct queue_env *env);
/*
 * queue_env_decode_brief() decodes only what a listing shows: id, state,
 * arrival_ms, next_attempt_ms, attempts, size, sender, reason and each
 * recipient's addr, state, attempts and reply; every other field reads 0
 * or "" and is not checked (a record it accepts may fail the full one).
 */
int	queue_env_decode_brief(const void *data, size_t len, struct queue_env *env);

/* ------------------------------------------------------ open / close */

#define QUEUE_RDONLY	(1 << 0)	/* sealctl reads: no write calls */

struct queue;

/*
 * queue_open() creates STATE_DIR/queue if needed, opens the environment
 * (clearing stale reader slots) and its databases. The map is sized to
 * map_size_max (address space only: the file grows with the data).
 * Both configuration structs are copied. queue_close() accepts NULL.
 */
int	queue_open(const struct sg_conf_main *, const struct queue_conf *, int flags,
		   struct queue **);
void	queue_close(struct queue *);

/* queue_reader_check() clears reader slots left by dead processes (*dead,
 * may be NULL, gets how many); call it from a slow timer. */
int	queue_reader_check(struct queue *, int *dead);

/* ---------------------------------------------------------- bodies */

enum queue_body_kind {
	QUEUE_BODY_ORIGINAL = 0,	/* as received */
	QUEUE_BODY_PROCESSED = 1,	/* after the worker */
};

/*
 * A body handed to the queue: either len bytes at data, or (data ==
 * NULL) len bytes read with pread() from fd starting at offset. The
 * queue never closes the fd.
 *
 * A processed body in memory may say that same_len bytes of it, from
 * same_at on, are the message's original body from byte same_off on
 * (same_len 0: nothing said). The queue checks that they are and then
 * stores a reference to the original instead of a second copy: a signed
 * copy of a large message costs what the signature adds (queue_body.c).
 */
struct queue_body_src {
	const void *data;
	int	fd;
	off_t	offset;
	uint64_t len;
	uint64_t same_at, same_off, same_len;
};

/*
 * queue_body_read() copies up to len bytes of a body from byte off into
 * buf, in one short read transaction; *got is 0 at the end. Use it in a
 * loop (e.g. 256 KiB at a time) to stream a body of any size.
 * QUEUE_BODY_PROCESSED falls back to the original when no processed
 * body is stored. queue_body_foreach() calls fn on the body piece by
 * piece in order (stored chunks, split where a processed body refers to
 * the original) inside one read transaction (keep fn fast; a non-zero return
 * stops the walk and is returned). *which (may be NULL) tells which
 * body was used. queue_body_foreach() checks the body against its
 * envelope as it goes (chunks, length, a processed body where one was
 * stored): SG_ECORRUPT means what fn got is not the message, which has
 * been quarantined (queue_body.c).
 */
int	queue_body_read(struct queue *, uint64_t id, enum queue_body_kind,
			uint64_t off, void *buf, size_t len, size_t *got);

/*
 * queue_body_pieces() is queue_body_read() without the copy: fn gets the
 * bytes where they lie in the queue, piece by piece, inside the one read
 * transaction (keep fn fast; what it is given is gone after it returns).
 * *got counts the bytes handed over; fn's non-zero return stops it and is
 * returned.
 */
int	queue_body_pieces(struct queue *, uint64_t id, enum queue_body_kind, uint64_t off,
			  size_t len, int (*fn) (const void *, size_t, void *), void *arg,
			  size_t *got);
int	queue_body_foreach(struct queue *, uint64_t id, enum queue_body_kind,
			   int (*fn) (const void *chunk, size_t len, void *arg), void *arg,
			   enum queue_body_kind *which);

/* ----------------------------------------------------------- spool */

/*
 * queue_spool() stores one new message synchronously and returns its id.
 * env->state chooses where it goes: QUEUE_INCOMING (the worker's inbox:
 * mail from smtpd), QUEUE_READY (straight to delivery, skipping the
 * worker: DSNs and other messages we make; its recipients are due at
 * env->next_attempt_ms, 0 = now) or QUEUE_HOLD. env->id, arrival_ms (0 =
 * now), size (from the body) and attempts are filled in by the queue.
 * The consumer is woken after the commit. For tools, tests and
 * delivery's DSNs; smtpd uses the committer below.
 */
int	queue_spool(struct queue *, const struct queue_env *, const struct queue_body_src *,
		    uint64_t *id);

/*
 * Group commit. queue_committer_start() starts one writer thread;
 * queue_submit() is thread-safe (call it from any libuv loop thread)
 * and never blocks on I/O. The writer takes everything pending (up to
 * commit_batch) into ONE write transaction, commits (fsync), then calls
 * each request's done() ON THE WRITER THREAD with err 0 and req->id set,
 * or with a negative sg_err for that message alone (SG_EFULL, SG_EIO,
 * SG_ELIMIT, SG_EINVAL). done() must be quick and must not call back
 * into the committer; typically it pushes the request on the owning
 * loop's list and calls uv_async_send(). There is no artificial delay:
 * a batch forms while the previous commit's fsync runs, so at low load
 * the latency is one commit.
 *
 * The request, its env and its body (memory or fd) belong to the caller
 * and must stay valid and unchanged until done() is called.
 * queue_committer_stop() commits everything already submitted, joins the
 * thread and frees the committer; submitting after or during stop is a
 * bug.
 */
struct queue_req {
	const struct queue_env *env;	/* in: as for queue_spool() */
	struct queue_body_src body;	/* in */
	void	(*done) (struct queue_req *, int err);
	void   *arg;			/* the caller's */
	uint64_t id;			/* out: the new id when err == 0 */
	struct queue_req *next;		/* private to the committer */
};

struct queue_committer;

int	queue_committer_start(struct queue *, struct queue_committer **);
/*
 * queue_track_note() hands the committer a tracking record of mail that
 * never entered the queue (refused at SMTP: flags QUEUE_F_REJECTED, its
 * recipients BOUNCED with the reply). It is copied at once and stored,
 * with a new id and state DONE, in the next group commit or within a
 * second; never blocks on I/O, thread-safe. SG_ELIMIT: QUEUE_NOTES_MAX
 * notes wait already (a flood), this one is not kept. A note is also
 * dropped, silently, when the map is over 90% full or its write fails:
 * notes never cost mail its room or its commit.
 */
#define QUEUE_NOTES_MAX 1000
int	queue_track_note(struct queue_committer *, const struct queue_env *);
void	queue_submit(struct queue_committer *, struct queue_req *);
void	queue_committer_stop(struct queue_committer *);

/* ---------------------------------------------------------- reading */

/*
 * queue_get() copies the envelope of a live message (or, with
 * QUEUE_GET_TRACK, of a tracking record) into env; env owns the copy
 * (queue_env_free). SG_ENOTFOUND, SG_ECORRUPT.
 */
#define QUEUE_GET_TRACK (1 << 0)
int	queue_get(struct queue *, uint64_t id, int flags, struct queue_env *env);

/*
 * queue_scan() walks live envelopes in id order, starting after *cursor
 * (0: from the start), in read transactions of at most `page` records
 * each (0: 1000), calling fn for each one. env (and its strings) is valid
 * only during the call. A non-zero return from fn stops the walk and is
 * returned. Records that fail to decode are logged, skipped and
 * quarantined when the queue is writable. *cursor is left at the last
 * id seen. QUEUE_SCAN_TRACK walks tracking records instead.
 * QUEUE_SCAN_BRIEF decodes only what a listing prints (see
 * queue_env_decode_brief()).
 */
#define QUEUE_SCAN_TRACK (1 << 0)
#define QUEUE_SCAN_BRIEF (1 << 1)	/* queue_env_decode_brief(): listings */
int	queue_scan(struct queue *, int flags, uint64_t *cursor, size_t page,
		   int (*fn) (const struct queue_env *, void *arg), void *arg);

/* ---------------------------------------------------- worker: inbox */

/*
 * queue_claim() claims up to max messages from the inbox for owner (a
 * short name such as "worker.1234.2"), each with a lease until now +
 * lease_ms (0: the configured lease), in one write transaction; their
 * state becomes QUEUE_WORKING. A message whose lease expired (its
 * worker died) is claimable again. ids[] receives *n ids, oldest first.
 * queue_lease_renew() extends owner's lease on id (SG_EBUSY: someone else
 * holds it now; SG_ENOTFOUND: no longer in the inbox).
 */
int	queue_claim(struct queue *, const char *owner, int64_t lease_ms, size_t max,
		    uint64_t *ids, size_t *n);
int	queue_lease_renew(struct queue *, uint64_t id, const char *owner, int64_t lease_ms);

/*
 * queue_complete() finishes owner's claim on id in one write
 * transaction. Each part becomes a message:
 *  - one part: the message keeps its id; its envelope becomes *part->env
 *    (rule, crypto, recipients subset/changes, reason), part->body (NULL:
 *    deliver the original) is stored as the processed body, and it goes to
 *    part->state: QUEUE_READY (delivery, due now), QUEUE_HOLD (incident;
 *    a release sends it through the worker again) or
 *    QUEUE_DONE (nothing to deliver: e.g. rejected and bounced);
 *  - several parts (split, one per rule): each part gets a new id (written
 *    to new_ids[i], may be NULL) with its own recipient subset and body
 *    (NULL: a copy of the original) and parent = id; the original leaves
 *    the queue (tracking record kept, reason "split");
 *  - no parts: the message leaves the queue (tracking record kept).
 * Idempotent: if the claim is gone because the message was already
 * completed (or held, or deleted), it returns SG_EEXIST and changes
 * nothing; if another owner holds it now (our lease expired), SG_EBUSY.
 * The delivery role is woken after the commit.
 */
struct queue_part {
	const struct queue_env *env;	/* rcpt subset, rule, crypto, flags */
	const struct queue_body_src *body;	/* processed body or NULL */
	enum queue_state state;		/* READY, HOLD or DONE */
};

int	queue_complete(struct queue *, uint64_t id, const char *owner,
		       const struct queue_part *parts, size_t nparts, uint64_t *new_ids);

/*
 * queue_complete_batch() completes many of owner's claims in ONE write
 * transaction (one fsync) and wakes delivery once after the commit. Each
 * item is exactly a queue_complete() call, done in a nested transaction,
 * so one item's failure never loses the others' work; items[i].result
 * gets that call's result (0, SG_EEXIST, SG_EBUSY, SG_EINVAL for bad
 * parts, SG_ECORRUPT when the record was quarantined, SG_ELIMIT, SG_EFULL
 * ...) and new_ids (may be NULL) is filled on a split. An item's tally
 * (may be NULL) is counted in its nested transaction. Returns 0 when the
 * transaction committed (look at each result), else the error that lost
 * the whole transaction (SG_EIO, SG_EFULL), which every item that had
 * succeeded then carries as its result too. Keep n to a batch (the worker
 * passes what it claimed at once); the write lock is held meanwhile.
 */
struct queue_tally;

struct queue_completion {
	uint64_t id;			/* in: a message owner has claimed */
	const struct queue_part *parts;	/* in: as for queue_complete() */
	size_t	nparts;
	uint64_t *new_ids;		/* in: nparts slots or NULL; out on split */
	int	result;			/* out */
	const struct queue_tally *tally;	/* in: counted with it, or NULL */
};

int	queue_complete_batch(struct queue *, const char *owner,
			     struct queue_completion *items, size_t n);

/* --------------------------------------------------------- delivery */

/*
 * queue_due() takes up to max messages whose next attempt is <= now from
 * the schedule, oldest due first, and in the same write transaction
 * pushes their schedule entry to now + lease_ms (0: configured lease), so
 * a delivery process that dies only delays them (until the next delivery
 * process starts: queue_leases_release()). ids[] gets *n ids.
 * queue_next_due() tells when the earliest scheduled message is due
 * (SG_ENOTFOUND: none), to size a poll timer.
 * queue_due_peek() finds the same messages without leasing them (a read
 * transaction, no flush), for a caller that holds the delivery role's
 * lock and keeps what it took in memory; SG_EAGAIN when the schedule
 * holds a key only queue_due() can settle (stale, or a corrupt record).
 */
int	queue_due(struct queue *, int64_t now_ms, int64_t lease_ms, size_t max,
		  uint64_t *ids, size_t *n);
int	queue_due_peek(struct queue *, int64_t now_ms, size_t max, uint64_t *ids, size_t *n);
int	queue_next_due(struct queue *, int64_t *when_ms);

/*
 * queue_record() stores the results of one delivery attempt. For each
 * result, recipient rcpt[index] gets the state, reply, dsn_status, relay
 * and next_attempt_ms (DEFERRED), its attempts + 1 and last_attempt now.
 * The message's attempts + 1 and its next attempt becomes the earliest
 * next_attempt_ms of its non-final recipients (or next_attempt_ms given
 * here if non-zero). When every recipient is final the message leaves
 * the queue in the same transaction (*done = true): body and schedule
 * entry are deleted, the envelope is kept as a tracking record. route
 * (may be NULL) replaces env->route. Counters sent/deferred/bounced and
 * the attempts by result and TLS move; a message that leaves the queue
 * is observed in the queue time histogram.
 */
struct queue_result {
	size_t	index;			/* into env->rcpt[] */
	enum queue_rcpt_state state;
	const char *reply;
	const char *dsn_status;
	const char *relay;
	int64_t	next_attempt_ms;	/* DEFERRED: when to retry this one */
	const char *tls;		/* NULL: leave as it was */
};

int	queue_record(struct queue *, uint64_t id, const struct queue_result *, size_t n,
		     int64_t next_attempt_ms, const char *route, bool *done);

/*
 * queue_record_many() stores many messages' attempts in ONE write
 * transaction (one fsync). Each item is exactly a queue_record() call,
 * done in a nested transaction, so one item's failure never loses the
 * others'; items[i].result gets that call's result (0, SG_ENOTFOUND,
 * SG_EINVAL, SG_ECORRUPT when the record was quarantined, SG_EFULL ...)
 * and items[i].done whether the message left the queue. Returns 0 when
 * the transaction committed (look at each result), else the error that
 * lost it, which every item that had succeeded then carries too (done
 * false). The write lock is held meanwhile: keep n to a loop's worth.
 */
struct queue_record_item {
	uint64_t id;			/* in: the message */
	const struct queue_result *res;	/* in: as for queue_record() */
	size_t	nres;
	int64_t	next_attempt_ms;	/* in: 0 or the message's next attempt */
	const char *route;		/* in: NULL or the new env->route */
	bool	done;			/* out: all final, left the queue */
	int	result;			/* out */
};

int	queue_record_many(struct queue *, struct queue_record_item *items, size_t n);

/*
 * queue_record_due() is queue_record_many() that, when take is not NULL,
 * also does queue_due(take->now_ms, take->lease_ms, take->max, take->ids)
 * after the results in the same transaction (nested: its failure, in
 * take->result, loses no result), so a busy delivery loop commits once
 * per iteration. take->n gets the ids taken (0 if the commit failed).
 */
struct queue_take {
	int64_t	now_ms;			/* in */
	int64_t	lease_ms;		/* in: 0: the configured lease */
	size_t	max;			/* in: > 0, the room in ids[] */
	uint64_t *ids;			/* out: the messages taken */
	size_t	n;			/* out */
	int	result;			/* out */
};

int	queue_record_due(struct queue *, struct queue_record_item *items, size_t n,
			 struct queue_take *take);

/* queue_track_prune() deletes tracking records older than age_ms (0: all),
 * with their index entries; *n (may be NULL) gets the number removed. */
int	queue_track_prune(struct queue *, int64_t age_ms, size_t *n);

/* ---------------------------------------------------- message tracking */

/*
 * What became of a message, as a set of QUEUE_TS_* bits: the message's
 * own word (queue_track_status_word) and every recipient's outcome. A
 * recipient tried more than once was deferred on the way, so a message
 * delivered after a retry has both DELIVERED and DEFERRED. Words:
 *  queued    live, waiting for the worker or delivery
 *  deferred  live with a temporary failure (or: deferred before it ended)
 *  held      live, on hold
 *  delivered every recipient delivered (bit: some recipient)
 *  bounced   every recipient bounced (bit: some recipient)
 *  partial   some recipients delivered, some bounced
 *  dropped   removed without a report (bit: some recipient)
 *  deleted   removed by an operator before it was finished
 *  split     handed on as one copy per rule (the copies have their ids)
 *  rejected  refused at SMTP: never queued (QUEUE_F_REJECTED)
 */
#define QUEUE_TS_QUEUED		(1u << 0)
#define QUEUE_TS_DEFERRED	(1u << 1)
#define QUEUE_TS_HELD		(1u << 2)
#define QUEUE_TS_DELIVERED	(1u << 3)
#define QUEUE_TS_BOUNCED	(1u << 4)
#define QUEUE_TS_PARTIAL	(1u << 5)
#define QUEUE_TS_DROPPED	(1u << 6)
#define QUEUE_TS_DELETED	(1u << 7)
#define QUEUE_TS_SPLIT		(1u << 8)
#define QUEUE_TS_REJECTED	(1u << 9)

unsigned queue_track_status(const struct queue_env *);
const char *queue_track_status_word(const struct queue_env *);
/* queue_track_rcpt_word() is one recipient's word ("rejected" when refused at SMTP). */
const char *queue_track_rcpt_word(const struct queue_env *, const struct queue_rcpt *);
/* queue_track_status_parse() gives the bit of a word: 0 or SG_EINVAL. */
int	queue_track_status_parse(const char *word, size_t len, unsigned *bit);

/*
 * Tracking records are indexed in the transaction that writes them and
 * unindexed in the one that prunes them: by sender, by recipient (both
 * lower-cased, domain first, so a domain is one range) and by a summary
 * (status bits, direction, subject folded to lower case) in id order,
 * which is arrival order, so a time range is a key range.
 *
 * queue_track_search() calls fn for every message that matches q,
 * newest first: tracking records and (q->live) live messages, merged in
 * id order, at most q->limit (0: all). env is valid during the call
 * only; a non-zero return from fn stops the search and is returned.
 * Patterns (from, to) are case-insensitive: an address matches whole
 * ("<>" is the null sender), "@domain" matches that domain, a pattern
 * with * ? or [ is a shell glob on the whole address, anything else a
 * substring. subject is a substring, case-insensitive for ASCII and
 * Latin-1 letters. status: any of the QUEUE_TS_* bits (0: any).
 * Everything runs in short read transactions (pages); each match is
 * checked against the record itself, so an index entry is only ever a
 * candidate. A queue whose indexes are not built (opened read-only
 * before any role has opened it with this version) is searched by
 * reading every record. stats (may be NULL) tells how the search went.
 */
struct queue_track_query {
	int64_t	since_ms;		/* arrival >= since; 0: no bound */
	int64_t	until_ms;		/* arrival < until; 0: no bound */
	const char *from;		/* sender pattern, NULL: any */
	const char *to;			/* recipient pattern, NULL: any */
	const char *subject;		/* substring, NULL: any */
	unsigned status;		/* QUEUE_TS_* bits, any of them; 0: any */
	int	direction;		/* enum queue_direction; -1: any */
	size_t	limit;			/* 0: no limit */
	bool	live;			/* live messages too */
	bool	finished;		/* tracking records */
};

struct queue_track_stats {
	const char *plan;		/* "sender", "recipient", "sender+recipient",
					 * "summary" or "scan" (no indexes) */
	uint64_t keys;			/* index keys read */
	uint64_t summaries;		/* summaries read */
	uint64_t records;		/* records decoded */
	uint64_t matched;		/* messages given to fn */
};

int	queue_track_search(struct queue *, const struct queue_track_query *,
			   int (*fn) (const struct queue_env *, void *), void *arg,
			   struct queue_track_stats *stats);

/*
 * A query's whole test on one record, without a queue: the same patterns
 * as queue_track_search() (the time range on the record's id). The query
 * must outlive the matcher.
 */
struct queue_track_matcher;

struct queue_track_matcher *queue_track_matcher_new(const struct queue_track_query *);
bool	queue_track_matcher_test(struct queue_track_matcher *, const struct queue_env *);
void	queue_track_matcher_free(struct queue_track_matcher *);

/* ---------------------------------------------------- administration */

/*
 * Each takes n ids and writes one result per id into res[] (may be NULL):
 * 0 or SG_ENOTFOUND (or SG_EINVAL when the change does not apply, e.g.
 * releasing a message that is not held). They run in write
 * transactions of at most 10,000 ids each; *changed (may be
 * NULL) gets how many were changed. reason (may be NULL) is stored.
 *  hold:    any live message -> HOLD (out of inbox and schedule);
 *  release: HOLD -> READY due now if the worker finished with it, else back
 *           to INCOMING (held by an incident: the rules run again);
 *  delete:  removes the message; a tracking record remains;
 *  retry:   READY/DEFERRED -> due now (recipients too).
 */
int	queue_hold(struct queue *, const uint64_t *ids, size_t n, const char *reason,
		   int *res, size_t *changed);
int	queue_release(struct queue *, const uint64_t *ids, size_t n, int *res, size_t *changed);
int	queue_delete(struct queue *, const uint64_t *ids, size_t n, const char *reason,
		     int *res, size_t *changed);
int	queue_retry(struct queue *, const uint64_t *ids, size_t n, int *res, size_t *changed);

/* ----------------------------------------------------- quarantine */

/*
 * queue_quarantine() moves the envelope of id aside (database
 * "corrupt"), drops it from inbox and schedule and keeps its body for
 * inspection; roles do this by themselves when a record fails to decode.
 * queue_corrupt_count() counts quarantined records. queue_live_count()
 * counts the messages still in the queue (every state but DONE) without a
 * walk (LMDB's entry count of the live table).
 */
int	queue_quarantine(struct queue *, uint64_t id);
int	queue_corrupt_count(struct queue *, size_t *n);
int	queue_live_count(struct queue *, size_t *n);

/* ---------------------------------------------------- incidents */

/*
 * An incident is a group: every failure of the same kind, rule and text
 * (the same cause) while the incident is open. It keeps the first
 * failure's message, sender and recipient, the count, the first and last
 * time, and the ids of the first QUEUE_INCIDENT_MSGS messages concerned.
 */
#define QUEUE_INCIDENT_MSGS	1000

struct queue_incident {
	uint64_t id;			/* its own id, same format as messages */
	uint64_t msg_id;		/* the first message concerned, 0: none */
	int64_t	time_ms;		/* first seen */
	int64_t	last_ms;		/* last seen */
	uint64_t count;			/* failures in this group, >= 1 */
	const char *kind;		/* the worker's word: "no-cert", ... */
	const char *sender;
	const char *rcpt;		/* may be "" */
	const char *rule;
	const char *text;		/* human-readable detail */
	int64_t	ack_ms;			/* 0: not acknowledged */
	const char *ack_by;
	const uint8_t *msgs;		/* nmsgs ids, 8 bytes big-endian each */
	size_t	nmsgs;
	/* private */
	void   *raw;
};

/* queue_incident_msg() is the i-th message id of inc (i < inc->nmsgs). */
uint64_t queue_incident_msg(const struct queue_incident *, size_t i);

/*
 * queue_incident_add() records one failure: when an open incident of the
 * same kind, rule and text exists it is counted there (count, last time,
 * message id), else a new incident is stored (its id, time_ms 0 = now,
 * and the ack fields are set by the queue). *id gets the incident's id
 * and *created (may be NULL) whether it is new. queue_incident_get()
 * copies one out (queue_incident_free). queue_incident_list() walks
 * incidents in id order after *cursor, unacknowledged only unless all is
 * true, like queue_scan(). queue_incident_ack() marks one acknowledged
 * (SG_EEXIST: already); the next failure of that cause opens a new one.
 */
int	queue_incident_add(struct queue *, const struct queue_incident *, uint64_t *id,
			   bool *created);
int	queue_incident_get(struct queue *, uint64_t id, struct queue_incident *);
void	queue_incident_free(struct queue_incident *);
int	queue_incident_list(struct queue *, bool all, uint64_t *cursor,
			    int (*fn) (const struct queue_incident *, void *), void *arg);
int	queue_incident_ack(struct queue *, uint64_t id, const char *by);

/*
 * queue_incident_encode() appends the versioned binary form of an
 * incident to out; queue_incident_decode() parses exactly len bytes
 * (untrusted) into inc, whose strings then point into data.
 */
int	queue_incident_encode(const struct queue_incident *, struct sg_buf *out);
int	queue_incident_decode(const void *data, size_t len, struct queue_incident *inc);

/* ------------------------------------------------------- cluster outbox */

/*
 * With a cluster configured, every tracking record and incident written
 * also gets an outbox entry in the same transaction; the cluster role
 * ships them to PostgreSQL and deletes what was committed there
 * (queue_outbox.c tells the whole story).
 */
enum queue_outbox_kind {
	QUEUE_OUTBOX_INCIDENT = 1,
	QUEUE_OUTBOX_TRACK = 2,
	QUEUE_OUTBOX_CERT = 3,		/* a certificate shared (queue_certs.c) */
};

/*
 * A certificate record of a cluster (queue_certs.c): a file sealctl
 * imported (with its --ca and --gateway), one certificate the worker
 * harvested (DER), or a CRL.
 */
enum queue_cert_kind {
	QUEUE_CERT_IMPORT = 1,
	QUEUE_CERT_HARVEST = 2,
	QUEUE_CERT_CRL = 3,
	QUEUE_CERT_KEY = 4,		/* a PKCS#12 sealed under the cluster key */
	QUEUE_CERT_REMOVE = 5,		/* the SHA-256 fingerprint (hex) to remove */
};

#define QUEUE_CERT_F_CA		(1u << 0)
#define QUEUE_CERT_F_OWN	(1u << 1)	/* in certin: shipped by this node */
#define QUEUE_CERT_F_SEEN	(1u << 2)	/* certin_read: its nonce was made here */
#define QUEUE_CERT_F_REPEAT	(1u << 3)	/* certin_read: a row of its nonce was applied */
#define QUEUE_CERT_MAX		(1u << 20)	/* bytes of data */
#define QUEUE_CERT_MAC		32		/* HMAC-SHA256 (certs_mac) */
#define QUEUE_CERT_NONCE	16		/* random, made with the mac */

struct queue_cert_rec {
	int	kind;			/* enum queue_cert_kind; 0: unreadable */
	unsigned flags;			/* QUEUE_CERT_F_* */
	const char *gateway;		/* domain or "" */
	const void *data;
	size_t	len;
	uint64_t seq;			/* certin: the database's order */
	bool	has_mac;		/* nonce and mac are set */
	uint8_t	nonce[QUEUE_CERT_NONCE];	/* this row and no other */
	uint8_t	mac[QUEUE_CERT_MAC];	/* made by a node with the cluster key */
	char	gw[256];		/* decode: gateway's storage */
};

/*
 * queue_cert_mac_input() writes what a record's mac covers, except its
 * data (which follows it): a label, kind, the CA flag, the gateway, the
 * nonce and the data's length; returns its length.
 */
#define QUEUE_CERT_MAC_INPUT	(16 + 4 + 256 + QUEUE_CERT_NONCE + 8)
size_t	queue_cert_mac_input(const struct queue_cert_rec *, uint8_t out[QUEUE_CERT_MAC_INPUT]);

int	queue_cert_encode(const struct queue_cert_rec *, struct sg_buf *out);
int	queue_cert_decode(const void *data, size_t len, struct queue_cert_rec *);
int	queue_cert_share(struct queue *, const struct queue_cert_rec *);
int	queue_certin_put(struct queue *, const struct queue_cert_rec *recs, size_t n);
int	queue_certin_read(struct queue *, size_t max,
			  int (*fn) (const struct queue_cert_rec *, void *), void *arg);
int	queue_certin_done(struct queue *, uint64_t seq);
int	queue_certin_state(struct queue *, uint64_t *received, uint64_t *applied);
/*
 * queue_instance() is this queue's random id, made on first use and kept
 * in it: a node rebuilt under the same name has a new one.
 */
int	queue_instance(struct queue *, uint64_t *id);

struct queue_outbox_item {
	int	kind;			/* enum queue_outbox_kind */
	uint64_t id;			/* the record's id */
	uint64_t txn;			/* the version of the entry (for done) */
	bool	gone;			/* the record is no longer there */
	const void *raw;		/* the record as stored */
	size_t	raw_len;
	struct queue_env env;		/* QUEUE_OUTBOX_TRACK, decoded */
	struct queue_incident inc;	/* QUEUE_OUTBOX_INCIDENT, decoded */
	struct queue_cert_rec cert;	/* QUEUE_OUTBOX_CERT, decoded */
};

struct queue_outbox_stat {
	uint64_t entries;		/* waiting to be shipped */
	uint64_t dropped;		/* tracking entries dropped, full outbox */
	uint64_t oldest_track_id;	/* 0: no tracking waits */
};

int	queue_outbox_read(struct queue *, size_t max,
			  int (*fn) (const struct queue_outbox_item *, void *), void *arg);
int	queue_outbox_done(struct queue *, const struct queue_outbox_item *items, size_t n);
int	queue_outbox_stat(struct queue *, struct queue_outbox_stat *);
int	queue_outbox_parse(const void *key, size_t klen, const void *val, size_t vlen,
			   struct queue_outbox_item *item);

/* ------------------------------------------------- counters, stats */

enum queue_counter {
	QUEUE_C_RECEIVED,		/* messages spooled */
	QUEUE_C_PROCESSED,		/* worker completions */
	QUEUE_C_SENT,			/* recipients delivered */
	QUEUE_C_DEFERRED,		/* recipient attempts deferred */
	QUEUE_C_BOUNCED,		/* recipients bounced */
	QUEUE_C_DROPPED,		/* recipients dropped */
	QUEUE_C_DELETED,		/* messages deleted by an operator */
	QUEUE_C_QUARANTINED,		/* records moved aside */
	QUEUE_C_INCIDENTS,		/* incidents recorded */
	/* refused at SMTP for good (a recipient, or a message at DATA or
	 * after it), by reason; counted by smtpd's committer */
	QUEUE_C_REJECT_RELAY,		/* relay access denied */
	QUEUE_C_REJECT_RECIPIENT,	/* unknown recipient */
	QUEUE_C_REJECT_POLICY,		/* access denied, TLS required (5.7.x) */
	QUEUE_C_REJECT_SIZE,		/* too big (5.3.4) */
	QUEUE_C_REJECT_SYNTAX,		/* a bad address or parameter */
	QUEUE_C_REJECT_CONTENT,		/* bare CR/LF, long lines, too many hops */
	QUEUE_C_REJECT_OTHER,
	/* the worker: messages (or copies of one) that leave it so */
	QUEUE_C_SIGNED,
	QUEUE_C_ENCRYPTED,
	QUEUE_C_DECRYPTED,
	QUEUE_C_VERIFY_VALID,		/* verified: a valid signature */
	QUEUE_C_VERIFY_INVALID,
	QUEUE_C_VERIFY_UNSIGNED,	/* verified: there was no signature */
	/* delivery: recipient attempts by result and by TLS of the session */
	QUEUE_C_ATT_SENT_TLS,
	QUEUE_C_ATT_SENT_PLAIN,
	QUEUE_C_ATT_DEFERRED_TLS,
	QUEUE_C_ATT_DEFERRED_PLAIN,
	QUEUE_C_ATT_BOUNCED_TLS,
	QUEUE_C_ATT_BOUNCED_PLAIN,
	/* the worker: messages (or copies) scanned by clamd, by result;
	 * unscanned: too large, or the scan failed and the rule let it pass
	 * or held it (a deferred scan counts when it is finally done) */
	QUEUE_C_SCAN_CLEAN,
	QUEUE_C_SCAN_INFECTED,
	QUEUE_C_SCAN_UNSCANNED,
	QUEUE_NCOUNTERS
};

#define QUEUE_C_REJECT_FIRST	QUEUE_C_REJECT_RELAY
#define QUEUE_C_REJECT_LAST	QUEUE_C_REJECT_OTHER

/* "received", ..., "reject.relay", "verify.valid", "attempts.sent.tls" */
const char *queue_counter_name(enum queue_counter);

/* queue_count() adds delta to a counter in its own transaction (for roles
 * counting events the queue does not see). */
int	queue_count(struct queue *, enum queue_counter, uint64_t delta);

/*
 * queue_committer_count() adds delta to a counter with the committer's
 * next commit (or within a second when nothing else comes); thread-safe,
 * never blocks on I/O. For events that are not mail (SMTP refusals):
 * counted even when their note is not kept, lost only with that commit.
 */
void	queue_committer_count(struct queue_committer *, enum queue_counter, uint32_t delta);

struct queue_stats {
	uint64_t count[QUEUE_NSTATES];	/* live messages per state (DONE: tracking) */
	uint64_t bytes[QUEUE_NSTATES];	/* their original sizes */
	uint64_t recipients;		/* of live messages */
	uint64_t oldest_id;		/* the first live id (oldest), 0: empty */
	int64_t	oldest_ms;
	uint64_t corrupt;		/* quarantined records */
	uint64_t incidents_open;
	uint64_t counters[QUEUE_NCOUNTERS];
	uint64_t db_bytes;		/* size of data.mdb */
	uint64_t map_bytes;		/* map size */
	uint64_t used_bytes;		/* pages in use x page size */
	unsigned readers;		/* reader slots in use */
	bool	walked;			/* count, bytes, recipients: counted by a walk */
};

/*
 * queue_stats() costs the same with a million messages queued as with
 * none: count, bytes and recipients of live messages come from a tally
 * the queue keeps in the transactions that change an envelope, the
 * oldest is the first live id (a split copy keeps its original's
 * arrival, so an older arrival may sit behind it). Only a queue without
 * a tally (no writer of this version opened it yet, or a record that
 * could not be read was replaced or deleted) is counted by a walk
 * (walked). queue_stats_recount() always walks every live envelope (in
 * pages): what the tally must equal (sealctl queue stats --verify).
 * queue_tally_repair() builds a missing tally (one walk; nothing when
 * there is one): the worker's housekeeping calls it, off any message's
 * path.
 */
int	queue_stats(struct queue *, struct queue_stats *);
int	queue_stats_recount(struct queue *, struct queue_stats *);
int	queue_tally_repair(struct queue *);

/* ------------------------------------------ statistics: history, histograms */

/*
 * Histograms of fixed buckets, kept like the counters: the time a
 * message spent in the queue (arrival to its last recipient final, per
 * message delivery finishes) and the time the worker spent on a message
 * it signed, encrypted, decrypted or verified. bucket[i] counts the
 * observations above bound i-1 and at most bound i (not cumulative); the
 * last bucket is everything above the last bound.
 */
enum queue_histogram {
	QUEUE_H_QUEUE_TIME,
	QUEUE_H_CRYPTO_TIME,
	QUEUE_NHISTOGRAMS
};

#define QUEUE_HIST_BUCKETS 12

struct queue_hist {
	uint64_t bucket[QUEUE_HIST_BUCKETS];
	uint64_t sum_us;		/* of every observation, microseconds */
};

const char *queue_histogram_name(enum queue_histogram);	/* "queue_time", "crypto_time" */
/* the upper bound of bucket i < QUEUE_HIST_BUCKETS - 1, microseconds */
int64_t	queue_histogram_bound_us(enum queue_histogram, size_t i);
size_t	queue_histogram_bucket(enum queue_histogram, int64_t us);

/*
 * What a role counts with a piece of work: the counters move, and the
 * observation is made, in the same transaction as the work, only if it
 * commits (queue_completion.tally).
 */
struct queue_tally {
	uint32_t count[QUEUE_NCOUNTERS];
	bool	crypto_timed;		/* observe crypto_us in QUEUE_H_CRYPTO_TIME */
	int64_t	crypto_us;
};

/*
 * History. Every write transaction that moves counters first makes sure
 * the current 10-second slot of a ring in the meta table holds the
 * counters as they were before it (at most one small write per slot, in
 * a nested transaction that never costs the work its commit). So the
 * value of every counter at the start of any slot of the last hour is
 * known: the first snapshot at or after it, or the current value when
 * nothing moved since.
 *
 * queue_stats_epoch() marks the start of a daemon run: when the stored
 * epoch is not start_ms (the master's start time), it stores start_ms
 * with a copy of every counter, in a write transaction of its own. The
 * roles call it at start, before they move mail; "since start" is then
 * the current value minus that copy.
 *
 * queue_counters_read() reads, in one read transaction, every counter,
 * the histograms, the epoch and the counters at the start of the slots
 * about a minute and an hour before now_ms (0: now). minute_ms and
 * hour_ms are the starts of those windows (60 to 70 s and 3600 to 3610 s
 * before now_ms: slot starts).
 */
#define QUEUE_HISTORY_SLOT_MS	10000
#define QUEUE_HISTORY_SLOTS	366

struct queue_counters {
	int64_t	now_ms;
	uint64_t value[QUEUE_NCOUNTERS];
	struct queue_hist hist[QUEUE_NHISTOGRAMS];
	int64_t	epoch_ms;		/* 0: no epoch stored */
	uint64_t at_epoch[QUEUE_NCOUNTERS];
	int64_t	minute_ms;		/* about now - 60 s */
	uint64_t at_minute[QUEUE_NCOUNTERS];
	int64_t	hour_ms;		/* about now - 3600 s */
	uint64_t at_hour[QUEUE_NCOUNTERS];
};

int	queue_stats_epoch(struct queue *, int64_t start_ms);
int	queue_counters_read(struct queue *, int64_t now_ms, struct queue_counters *);

/* -------------------------------------------------------- wake-ups */

enum queue_role {
	QUEUE_ROLE_WORKER,		/* STATE_DIR/wake.worker */
	QUEUE_ROLE_DELIVERY,		/* STATE_DIR/wake.delivery */
};

/*
 * The queue calls queue_wake() itself after each commit that gives a
 * role work (spool -> worker, complete/release/retry -> delivery); it
 * sends one datagram, ignoring every error (nobody listening, socket
 * buffer full): consumers also poll slowly, so a lost wake-up only costs
 * latency. queue_wake_listen() binds the role's socket (non-blocking,
 * close-on-exec, replacing a stale one) and returns its fd for uv_poll;
 * after it turns readable call queue_wake_drain(), then look for work.
 * The caller closes the fd. SG_ELIMIT: STATE_DIR is too long for a socket
 * name (about 90 bytes); then there are no wake-ups, only polling.
 */
void	queue_wake(struct queue *, enum queue_role);
int	queue_wake_listen(struct queue *, enum queue_role, int *fd);
void	queue_wake_drain(int fd);

/* --------------------------------------------- recovery after a crash */

/*
 * A role's leases (the worker's claims, the messages delivery took with
 * queue_due()) outlive a process that dies; left alone they come back
 * only when the lease ends (queue.lease, 5 minutes). A role's lock makes
 * it safe to end them at once.
 *
 * queue_role_lock() takes the role's lock: an exclusive flock() on
 * STATE_DIR/lock.worker or lock.delivery (made 0600, handed to the run
 * user like the queue, close-on-exec), with this process's pid written
 * into it. It returns the descriptor in *fd; the lock lasts until that is
 * closed, which exit() does. When another process holds it, it tries
 * again every 50 ms for up to wait_ms, then gives SG_EBUSY with the
 * holder's pid in *holder (may be NULL; 0 if unknown). Every process that
 * takes a role's leases holds that role's lock for as long as it runs:
 * the roles do (cmd/role.c).
 *
 * queue_leases_release() ends every outstanding lease of one role:
 * QUEUE_ROLE_WORKER, every claimed inbox entry becomes free (state
 * INCOMING); QUEUE_ROLE_DELIVERY, every message queue_due() took that is
 * still where it put it becomes due now. Write transactions of at most
 * 10,000 messages each; *n (may be NULL) gets how many were released.
 * Call it only holding the role's lock: that proves that no live process
 * holds one of these leases, so nothing is handed out twice. The caller
 * then looks for work itself (nobody else is woken).
 */
int	queue_role_lock(const struct sg_conf_main *, enum queue_role, int64_t wait_ms, int *fd,
			pid_t *holder);
int	queue_leases_release(struct queue *, enum queue_role, size_t *n);

#endif
