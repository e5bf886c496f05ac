/*
 * NAME
 *	certsync 3
 * SUMMARY
 *	the worker applies the cluster's certificates to its own database
 * SYNOPSIS
 *	#include "worker_int.h"
 *
 *	struct worker__certsync *worker__certsync_start(loop, q, certs, key_file)
 *	void	worker__certsync_stop(s, stopped, arg)
 *
 *	#include "worker/worker.h"
 *
 *	int	worker_cert_mac(key_file, rec, mac)
 * DESCRIPTION
 *	With a cluster, the cluster role puts the certificates the database
 *	holds beyond what this node received into the queue ("certin",
 *	queue_certs.c). The worker owns the key database, so it is the one
 *	that applies them: every CERTSYNC_MS, on libuv's thread pool (an
 *	import blocks on the database), at most one run at a time, it reads
 *	what it has not applied yet and imports each record as sealctl
 *	would have (a file with its --ca and --gateway, a harvested
 *	certificate, a CRL, a removal by fingerprint), then marks it
 *	applied (queue_certin_done()). A record this node shipped itself is
 *	passed over: it was applied here when it was made (by sealctl, or the
 *	harvest), and applied again later it could undo what came after it
 *	(a certificate removed, then imported again, removed by its echo).
 *	The worker's threads look certificates up in the same database (and
 *	the recipient cache is emptied after each run that applied
 *	something), so what is applied is used for the next message: within
 *	about a second of the record reaching the node.
 *
 *	A record that cannot be imported (not a certificate, a CRL that does
 *	not verify) is logged and passed over: it would fail the same way
 *	again, and the others must not wait behind it. A record that fails
 *	for a reason that passes (the database could not be written: a full
 *	disk; memory) ends the run before it: what was applied is marked so,
 *	and the record comes again with the next run, logged the first time
 *	only (it was passed over for good, and the node went without it).
 *	Since NSS reports some records it will never take as I/O errors
 *	too, one that still fails after an hour is passed over (logged as
 *	refused).
 *	Certificates that are there already are no change.
 *
 *	A private key comes as a PKCS#12 sealed under the cluster key file
 *	(certs_unseal()), with its password inside the seal; the worker reads
 *	cluster.key_file when it applies one (it must be readable by
 *	worker_user: root:sealgate-crypto 0640), so the key is in the clear
 *	only in this process, as every key is. Without a key file a key
 *	record is refused (logged) and passed over.
 *
 *	With a key file every record must carry a random nonce and a mac
 *	over it and the record (worker_cert_mac(): HMAC-SHA256, made where
 *	the record is made, by sealctl or the harvesting worker, which read
 *	the key file; the cluster role and the database only carry them): a
 *	record without one, or with one that does not verify, is refused
 *	(logged) and passed over, and one whose nonce this node made or
 *	applied before (QUEUE_CERT_F_SEEN) is passed over as its own: a
 *	replay of an old row (a CA removed since, a removal) changes
 *	nothing. The database is the cluster's shared service; whoever can
 *	write to it cannot make every node trust a CA of their own. A key
 *	file this node cannot read (or shorter than KEY_MIN) holds the
 *	records back, without the hour's limit: the fault is not theirs.
 *	Without a key file records are applied as they come, and a row's
 *	origin says which were this node's.
 *
 *	worker__certsync_stop() stops the timer; stopped(arg) runs when its
 *	handle is closed and any run has finished.
 * DIAGNOSTICS
 *	cluster_cert_applied (info) per record applied, cluster_cert_failed
 *	(warning) per record refused, cluster_cert_deferred (warning) when a
 *	record waits for the next run, cluster_certsync_failed (warning) when
 *	the queue could not be read or written.
 */

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <secport.h>

#include "worker_int.h"

#define CERTSYNC_MS	1000
#define CERTSYNC_BATCH	64
#define WAIT_MAX_MS	(60 * 60 * 1000)	/* then a "passing" failure is the record's */
#define KEY_MIN		16		/* characters of a usable cluster key file */

struct worker__certsync {
	uv_timer_t timer;
	uv_work_t work;
	struct queue *q;
	struct certs *certs;
	bool	busy, closed, stopping;
	void	(*stopped) (void *);
	void   *arg;
	uint64_t last;			/* the run's last seq handled */
	bool	changed;		/* the run applied one: the database changed */
	uint64_t waiting;		/* the seq that waits, logged already */
	int64_t	waiting_ms;		/* since when (monotonic) */
	bool	deferred;		/* this run ended at a record that waits */
	char	key_file[4096];		/* cluster.key_file, "": keys are not applied */
	int	rc;
};

static const char *const kinds[] = {"unreadable", "import", "harvest", "crl", "key", "remove"};

/* row_mac - r's mac (over its nonce too) under the key file */

static int row_mac(const char *key_file, const struct queue_cert_rec *r,
		   uint8_t mac[QUEUE_CERT_MAC])
{
	uint8_t	in[QUEUE_CERT_MAC_INPUT];
	char   *secret;
	int	rc;

	if (key_file == NULL || *key_file == 0)
		return (SG_ENOTFOUND);
	if ((secret = certs_read_secret(key_file, &rc)) == NULL)
		return (rc);
	if (strlen(secret) < KEY_MIN)
		rc = SG_EINVAL;		/* guessable: a mac under it proves nothing */
	else
		rc = certs_mac(secret, in, queue_cert_mac_input(r, in), r->data, r->len, mac);
	certs_free_secret(secret);
	return (rc);
}

int	worker_cert_mac(const char *key_file, struct queue_cert_rec *r)
{
	int	rc;

	if (getrandom(r->nonce, sizeof(r->nonce), 0) != (ssize_t) sizeof(r->nonce))
		return (SG_EIO);
	if ((rc = row_mac(key_file, r, r->mac)) == 0)
		r->has_mac = true;
	return (rc);
}

/*
 * check_mac - with a key file, r must carry a mac made under it: 0, or
 * SG_EDENIED, or SG_EAGAIN when the fault is this node's (its key file
 * unreadable or too short, NSS): the record then waits, however long
 */
static int check_mac(const struct worker__certsync *s, const struct queue_cert_rec *r,
		     char *err, size_t errlen)
{
	uint8_t	mac[QUEUE_CERT_MAC];
	int	rc;

	if (!r->has_mac) {
		snprintf(err, errlen, "no mac: made by a node without cluster.key_file, or "
			 "written into the database by hand");
		return (SG_EDENIED);
	}
	if ((rc = row_mac(s->key_file, r, mac)) < 0) {
		snprintf(err, errlen, "cluster.key_file %.200s: %s", s->key_file,
			 rc == SG_EINVAL ? "shorter than 16 characters" : sg_strerror(rc));
		return (SG_EAGAIN);
	}
	if (NSS_SecureMemcmp(mac, r->mac, sizeof(mac)) == 0)
		return (0);
	snprintf(err, errlen, "the mac does not verify: another cluster key, or changed in "
		 "the database");
	return (SG_EDENIED);
}

/*
 * import_key - a PKCS#12 sealed under the cluster key file: password
 * length(2) password PKCS#12, every length checked (from the database)
 */
static int import_key(struct worker__certsync *s, const struct queue_cert_rec *r, char *err,
		      size_t errlen)
{
	struct certs_import_opts o = {.format = CERTS_FMT_PKCS12,
		.gateway = *r->gateway ? r->gateway : NULL};
	struct certs_import_result res;
	struct sg_buf plain = SG_BUF_INIT;
	char   *secret, *pw = NULL;
	size_t	pwlen;
	int	rc;

	if (*s->key_file == 0) {
		snprintf(err, errlen, "no cluster.key_file on this node: keys are not applied");
		return (SG_EDENIED);
	}
	if ((secret = certs_read_secret(s->key_file, &rc)) == NULL) {
		snprintf(err, errlen, "cluster.key_file %.200s cannot be read", s->key_file);
		return (rc);
	}
	rc = certs_unseal(secret, r->data, r->len, &plain);
	certs_free_secret(secret);
	if (rc < 0)
		snprintf(err, errlen, "not sealed under this node's cluster key");
	else if (plain.len < 2 || (pwlen = (size_t) ((uint8_t) plain.data[0] << 8
						     | (uint8_t) plain.data[1])) > plain.len - 2
		 || memchr(plain.data + 2, 0, pwlen) != NULL) {
		snprintf(err, errlen, "malformed key record");
		rc = SG_ECORRUPT;
	} else {
		pw = sg_xmalloc(pwlen + 1);
		memcpy(pw, plain.data + 2, pwlen);
		pw[pwlen] = 0;
		o.password = pw;
		memset(&res, 0, sizeof(res));
		rc = certs_import(s->certs, plain.data + 2 + pwlen, plain.len - 2 - pwlen, &o, &res,
				  err, errlen);
		certs_free_secret(pw);
	}
	explicit_bzero(plain.data, plain.len);
	sg_buf_free(&plain);
	return (rc);
}

/* remove_fp - a removal: the fingerprint, 64 hex digits; gone already is done */

static int remove_fp(struct worker__certsync *s, const struct queue_cert_rec *r, char *err,
		     size_t errlen)
{
	char	fp[65] = "";
	int	rc;

	if (r->len == 64) {
		memcpy(fp, r->data, 64);
		fp[64] = 0;
	}
	if (strlen(fp) != 64 || strspn(fp, "0123456789abcdefABCDEF") != 64) {
		snprintf(err, errlen, "not a SHA-256 fingerprint");
		return (SG_ECORRUPT);
	}
	if ((rc = certs_remove(s->certs, fp)) == SG_ENOTFOUND)
		rc = 0;
	return (rc);
}

/* for_now - a failure that passes: the disk, memory; not the record */

static bool for_now(int rc)
{
	return (rc == SG_EIO || rc == SG_EFULL || rc == SG_ENOMEM || rc == SG_EAGAIN
		|| rc == SG_EBUSY);
}

static int apply_one(const struct queue_cert_rec *r, void *arg)
{
	struct worker__certsync *s = arg;
	struct certs_import_opts o = {.format = CERTS_FMT_AUTO};
	struct certs_import_result res;
	char	err[256] = "";
	bool	keyed = *s->key_file != 0, key_waits = false;
	const char *skip = NULL;
	int	rc = 0;

	/*
	 * Made here, or (with a key file) a copy of a row applied here
	 * already: applied when it was made, again it could undo what came
	 * later (a certificate removed, then imported again, removed by the
	 * echo or a replay). With a key file only the nonce, which the mac
	 * covers, says so: the origin column is anyone's to write.
	 */
	if (r->kind == 0)
		rc = SG_EINVAL;			/* unreadable: a kind this version does not know */
	else if (keyed && (rc = check_mac(s, r, err, sizeof(err))) < 0)
		key_waits = rc == SG_EAGAIN;
	else if (keyed ? r->flags & QUEUE_CERT_F_SEEN : r->flags & QUEUE_CERT_F_OWN)
		skip = "own";
	else if (keyed && (r->flags & QUEUE_CERT_F_REPEAT))
		skip = "repeated";
	if (skip) {
		if (*skip == 'o')
			sg_debug("event=cluster_cert_own seq=%llu kind=%s",
				 (unsigned long long) r->seq, kinds[r->kind]);
		else
			sg_info("event=cluster_cert_repeated seq=%llu kind=%s detail=\"a copy of a "
				"row applied before (a replay, or a batch shipped twice): passed "
				"over\"", (unsigned long long) r->seq, kinds[r->kind]);
		s->last = r->seq;
		return (0);
	}
	if (rc < 0) {
		;				/* refused, or waits */
	} else if (r->kind == QUEUE_CERT_CRL) {
		rc = certs_crl_import(s->certs, r->data, r->len, err, sizeof(err));
	} else if (r->kind == QUEUE_CERT_KEY) {
		rc = import_key(s, r, err, sizeof(err));
	} else if (r->kind == QUEUE_CERT_REMOVE) {
		rc = remove_fp(s, r, err, sizeof(err));
	} else {			/* QUEUE_CERT_IMPORT, QUEUE_CERT_HARVEST */
		o.format = CERTS_FMT_CERTS;	/* never a key */
		o.ca = (r->flags & QUEUE_CERT_F_CA) != 0;
		o.gateway = *r->gateway ? r->gateway : NULL;
		memset(&res, 0, sizeof(res));
		rc = certs_import(s->certs, r->data, r->len, &o, &res, err, sizeof(err));
	}
	/*
	 * An I/O error is also what NSS says of some records it will never
	 * take: one that still fails after WAIT_MAX_MS is passed over, so
	 * that it cannot hold the others back for good. The hour starts
	 * after any wait for the key file: that fault is not the record's.
	 */
	if (rc < 0 && (key_waits || for_now(rc))) {
		if (s->waiting != r->seq)
			sg_warn("event=cluster_cert_deferred seq=%llu kind=%s error=\"%s\" "
				"detail=\"%s\"", (unsigned long long) r->seq, kinds[r->kind],
				sg_strerror(rc), err);
		if (key_waits || s->waiting != r->seq)
			s->waiting_ms = sg_mono_ms();
		s->waiting = r->seq;
		if (key_waits || sg_mono_ms() - s->waiting_ms < WAIT_MAX_MS) {
			s->deferred = true;
			return (rc);	/* ends the run: this one comes again */
		}
	}
	if (rc < 0)
		sg_warn("event=cluster_cert_failed seq=%llu kind=%s error=\"%s\" detail=\"%s\"",
			(unsigned long long) r->seq, kinds[r->kind], sg_strerror(rc), err);
	else
		sg_info("event=cluster_cert_applied seq=%llu kind=%s",
			(unsigned long long) r->seq, kinds[r->kind]);
	s->changed |= rc == 0;
	s->last = r->seq;
	return (0);
}

static void run(uv_work_t *w)
{
	struct worker__certsync *s = w->data;
	int	rc;

	s->last = 0;
	s->deferred = s->changed = false;
	rc = queue_certin_read(s->q, CERTSYNC_BATCH, apply_one, s);
	s->rc = s->deferred ? 0 : rc;	/* a record waits: apply_one() said so */
	if (s->changed)			/* recipients looked up before: again */
		certs_lookup_forget(s->certs);
	if (s->last && (rc = queue_certin_done(s->q, s->last)) < 0)
		s->rc = rc;
}

static void maybe_stopped(struct worker__certsync *s)
{
	if (s->stopping && s->closed && !s->busy) {
		void	(*stopped) (void *) = s->stopped;
		void   *arg = s->arg;

		free(s);
		if (stopped)
			stopped(arg);
	}
}

static void done(uv_work_t *w, int status)
{
	struct worker__certsync *s = w->data;

	s->busy = false;
	if (status == 0 && s->rc < 0)
		sg_warn("event=cluster_certsync_failed error=\"%s\"", sg_strerror(s->rc));
	maybe_stopped(s);
}

static void on_timer(uv_timer_t *t)
{
	struct worker__certsync *s = t->data;

	if (s->busy || s->stopping)
		return;
	s->work.data = s;
	if (uv_queue_work(t->loop, &s->work, run, done) == 0)
		s->busy = true;
}

struct worker__certsync *worker__certsync_start(uv_loop_t *loop, struct queue *q,
						struct certs *certs, const char *key_file)
{
	struct worker__certsync *s = sg_xcalloc(1, sizeof(*s));

	snprintf(s->key_file, sizeof(s->key_file), "%s", key_file ? key_file : "");
	if (*s->key_file == 0)
		sg_warn("event=cluster_unauthenticated detail=\"no cluster.key_file: certificate "
			"rows from the database are applied without a check, so whoever can write "
			"to it can make this node trust a CA\"");
	s->q = q;
	s->certs = certs;
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	uv_timer_start(&s->timer, on_timer, CERTSYNC_MS, CERTSYNC_MS);
	return (s);
}

static void on_closed(uv_handle_t *h)
{
	struct worker__certsync *s = h->data;

	s->closed = true;
	maybe_stopped(s);
}

void	worker__certsync_stop(struct worker__certsync *s, void (*stopped) (void *), void *arg)
{
	s->stopping = true;
	s->stopped = stopped;
	s->arg = arg;
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *) &s->timer, on_closed);
}
