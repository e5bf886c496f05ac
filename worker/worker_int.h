#ifndef WORKER_INT_H
#define WORKER_INT_H

/*
 * NAME
 *	worker_int 3h
 * SUMMARY
 *	worker/ internals shared between its files
 * SYNOPSIS
 *	#include "worker/worker_int.h"
 * DESCRIPTION
 *	Private to worker/: no other folder includes this.
 */

#include <stdatomic.h>

#include <cert.h>
#include <cms.h>
#include <keyhi.h>
#include <pk11pub.h>
#include <prerror.h>
#include <secerr.h>
#include <smime.h>

#include "worker.h"
#include "queue/queue.h"
#include "certs/certs.h"

/* smime.c */
void	worker__nss_reason(char *dst, size_t len, const char *what);
int	worker__prepare(const char *msg, size_t len, const char *drop,
			struct sg_buf *canon, struct sg_buf *outer, struct sg_buf *entity);
void	worker__put_pkcs7(struct sg_buf *out, const struct sg_buf *outer,
			  const char *smime_type, const SECItem *der);

/* der.c */
struct worker_der {
	const unsigned char *p;		/* the tag */
	size_t	hdr;			/* tag and length octets */
	size_t	len;			/* content octets */
	size_t	eoc;			/* 2 for an indefinite length, else 0 */
};
int	worker__der_read(const unsigned char *p, size_t n, struct worker_der *);
const unsigned char *worker__der_content(const struct worker_der *);
size_t	worker__der_size(const struct worker_der *);
void	worker__der_put_hdr(struct sg_buf *, unsigned char tag, size_t len);
void	worker__der_put(struct sg_buf *, unsigned char tag, const void *p, size_t len);

/* cms_caps.c: SMIMECapabilities the gateway advertises */
#define WORKER_CAP_AES256_GCM	(1u << 0)
#define WORKER_CAP_AES128_GCM	(1u << 1)
#define WORKER_CAP_AES256_CBC	(1u << 2)
#define WORKER_CAP_AES128_CBC	(1u << 3)
#define WORKER_CAP_OAEP_SHA256	(1u << 4)
#define WORKER_CAP_OAEP_SHA1	(1u << 5)
#define WORKER_CAP_RSA		(1u << 6)	/* rsaEncryption: PKCS#1 v1.5 key transport */
void	worker__caps_put(struct sg_buf *, unsigned caps);

/* smime_ri.c */
#define WORKER_RI_KTRI	(1u << 0)	/* key transport (RSA) */
#define WORKER_RI_KARI	(1u << 1)	/* key agreement (ECDH) */
#define WORKER_RI_OTHER	(1u << 2)	/* KEK, password, other */
unsigned worker__recipient_kinds(const void *der, size_t len);

/* smime_sid.c */
void	worker__issuer_sn(CERTCertificate *, struct sg_buf *out);
int	worker__sid_to_issuer_sn(const void *der, size_t len, const void *isn, size_t isnlen,
				 struct sg_buf *out);

/* A snapshot of the configuration, shared by the threads (pool.c). */
struct worker_snap {
	int	refs;			/* under the pool's mutex */
	struct sg_arena *arena;		/* owns everything below */
	struct worker_conf conf;	/* deep copy */
	char   *hostname;
};

struct worker_snap *worker__snap_new(const struct worker_conf *, const char *hostname);

/* The state one crypto thread carries between messages (process.c). */
#define WORKER_SIGNER_CACHE	32
#define WORKER_SIGNER_TTL_MS	60000

struct worker_cached_signer {
	char	sender[256];		/* lower case; "" free */
	struct worker_signer *signer;	/* NULL: none found (negative cache) */
	int64_t	expires;
};

struct worker_thread {
	const atomic_bool *stop;	/* the pool's stop flag, NULL: no pool */
	struct queue *q;
	struct certs *certs;
	char	owner[64];
	struct worker_cached_signer cache[WORKER_SIGNER_CACHE];
	unsigned next_slot;
	struct worker_notify *notify;	/* shared rate limit, may be NULL */
};

void	worker__thread_init(struct worker_thread *, struct queue *, struct certs *,
			    const char *owner, struct worker_notify *);
void	worker__thread_done(struct worker_thread *);
/* A processed message waiting for its thread's group commit. */
struct worker_done {
	struct queue_completion c;	/* id, parts; result after the commit */
	size_t	bytes;			/* bodies it holds */
	struct worker_parts *own;	/* what c points into (process.c) */
};

int	worker__process(struct worker_thread *, const struct worker_snap *, uint64_t id,
			struct worker_done *);
void	worker__done_log(const struct worker_done *);
void	worker__done_free(struct worker_done *);

/* batch.c */
int	worker__claim_and_process(struct worker_thread *, const struct worker_snap *, size_t *n);

/* pool.c */
struct worker_pool;
struct worker_pool *worker__pool_start(struct queue *, struct certs *, const struct worker_conf *,
				       const char *hostname, size_t nthreads);
void	worker__pool_kick(struct worker_pool *);
void	worker__pool_reload(struct worker_pool *, const struct worker_conf *, const char *hostname);
void	worker__pool_stop(struct worker_pool *);

/* notice.c: incidents and the mails they cause */
struct worker_notify;
struct worker_notify *worker__notify_new(void);
void	worker__notify_free(struct worker_notify *);
struct worker_failure {
	uint64_t msg_id;
	const char *kind;		/* "no-cert", "bad-signature", ... */
	const char *sender;
	const char *rcpt;
	const char *rule;
	const char *text;
};
void	worker__incident(struct worker_thread *, const struct worker_snap *,
			 const struct worker_failure *);
void	worker__bounce(struct worker_thread *, const struct worker_snap *,
		       const struct queue_env *, const struct worker_failure *,
		       const struct sg_buf *original);

#endif
