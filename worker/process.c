/*
 * NAME
 *	process 3
 * SUMMARY
 *	one crypto thread: claim, apply the rules, complete
 * SYNOPSIS
 *	#include "worker/worker_int.h"
 *
 *	int	worker__process(thread, snap, id, done)
 *
 *	void	worker__done_log(done)
 *
 *	void	worker__done_free(done)
 *
 *	int	worker_run_once(queue, certs, conf, hostname, processed)
 * DESCRIPTION
 *	worker__process() reads a claimed message, classifies each
 *	recipient with sg_rules_classify(), and makes one part per rule
 *	(recipients no rule matches form a part that passes unchanged).
 *	Each part goes through the rule's steps in order: decrypt, verify
 *	(result header; each signer then checked with certs_check(), so the
 *	configured revocation policy and OCSP apply; harvest, each signer
 *	with the intermediates that came with it), strip the client's
 *	signature, sign, encrypt. A failed step is a crypto incident, then
 *	its on_failure decides: pass (go on with the message as it was
 *	before the step), hold (the part is held with the reason,
 *	unprocessed) or reject (no copy to anyone in the part; the sender
 *	gets an RFC 3464 report). The parts are left in *done for the
 *	thread's group commit (batch.c), which writes them back as one item
 *	of queue_complete_batch(); worker__done_log() logs them once
 *	committed, worker__done_free() releases them.
 *
 *	Encryption picks, per recipient, the recipient's own newest valid
 *	certificate, else the valid gateway certificate of its domain.
 *	Under "mandatory" one recipient without either stops the whole
 *	part (nobody gets it); under "if-possible" those recipients get a
 *	part of their own, signed but not encrypted, and the others still
 *	get encrypted mail.
 *
 *	Each recipient's algorithms come from its profile (profile.c), raised
 *	by the capabilities it advertised in a harvested signature
 *	(certs_caps, kept by the verify step when it harvests); recipients
 *	of a rule whose algorithms differ get a copy each, key transport
 *	aside, which is per recipient within one message.
 *
 *	Signing certificates are looked up once per sender and cached per
 *	thread for lookup_cache_ttl, so a message pays no key look-up; a
 *	certificate removed or replaced with sealctl is used no longer.
 *
 *	A message smtpd flagged for lines over 998 octets
 *	(QUEUE_F_LONGLINES: own servers may send them) is made legal
 *	(worker_mime_legal) in every part that leaves: in a rule's steps
 *	after verify and strip, which must see the bytes as received, and
 *	before sign and encrypt, so the signature covers what is sent; a part
 *	no rule changed (no rule, held, nothing to do) gets the legal form of
 *	the original as its processed body, so that not even a release by
 *	an operator sends the long lines on. A notice to the sender carries
 *	the legal header too. Decrypted content is checked the same way,
 *	flag or not: smtpd could not see inside it. The processed log line
 *	says what was done (long_lines=...).
 *
 *	A rule with scan = true has clamd look at the part after decrypt,
 *	verify and strip (scan.c; the plaintext, never the ciphertext) and
 *	before sign and encrypt. A finding is an incident ("virus") and
 *	on_virus decides as on_failure does elsewhere, "pass-tagged" being
 *	pass; a scan without a verdict follows on_scan_failure, whose
 *	"defer" leaves the whole message claimed and untouched until
 *	scan.retry (queue_lease_renew), never delivered unscanned. Every
 *	part that goes on carries the result header.
 *
 *	Each message carries a tally for the statistics (queue_tally),
 *	counted in the transaction that completes it: the copies that leave
 *	signed, encrypted, decrypted, and verified with each verdict, and,
 *	when it had any of those steps, the time the thread spent on it
 *	(rules, MIME and CMS: its crypto time), and the scan results.
 * DIAGNOSTICS
 *	A message that cannot be read is logged with its id and left out;
 *	its claim expires and it is tried again.
 * BUGS
 *	A deferred scan defers the whole message. The parts whose rules scan
 *	go first, so the other rules' parts have done nothing yet; but what a
 *	scanning part did before (an incident from its verify step, another
 *	scanning rule's reject report) happens again when it is retried.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "worker_int.h"

#define SCAN_RENEW_MS	10000		/* a batch this old renews claims before scans */

struct part {
	int	rule;			/* index, -1: no rule */
	struct worker_algs algs;	/* from the rule and the recipients' profile */
	struct queue_env env;		/* shallow copy with its own rcpt array */
	struct sg_buf body;
	const struct sg_buf *original;	/* as received, or its legal form: for a notice */
	bool	changed;		/* body differs from the original */
	int	verdict;		/* WORKER_SIG_* when crypto has WORKER_DID_VERIFY */
	unsigned legal;			/* WORKER_LEGAL_*: long lines made legal */
	enum queue_state state;
	int	scanned;		/* enum worker_scanned, -1: not scanned */
	bool	deferred;		/* the scan failed: try the message again later */
	bool	lost;			/* our claim ended during a slow scan */
	char	reason[200];
	char	note[300];
	/* if-possible: recipients without a certificate, and their plain copy */
	struct queue_rcpt *rest;
	size_t	nrest;
	struct sg_buf rest_body;
};

void	worker__thread_init(struct worker_thread *t, struct queue *q, struct certs *c,
			    const char *owner, struct worker_notify *n)
{
	memset(t, 0, sizeof(*t));
	t->q = q;
	t->certs = c;
	t->notify = n;
	snprintf(t->owner, sizeof(t->owner), "%s", owner);
}

void	worker__thread_done(struct worker_thread *t)
{
	for (size_t i = 0; i < WORKER_SIGNER_CACHE; i++)
		worker_signer_free(t->cache[i].signer);
	memset(t->cache, 0, sizeof(t->cache));
	free(t->cluster_key_file);
	t->cluster_key_file = NULL;
}

/* warn_unknown - a certificate used only because the policy is soft-fail */

static void warn_unknown(const char *use, const char *addr, const struct certs_check *chk)
{
	char	esc[256];

	if (chk->warning)
		sg_warn("event=revocation_unknown use=%s address=\"%s\" reason=\"%s\" "
			"action=used policy=soft-fail", use,
			sg_printable(esc, sizeof(esc), addr, strlen(addr)), chk->reason);
}

/* signer_for - the cached signer of a sender, looked up when stale */

static struct worker_signer *signer_for(struct worker_thread *t, const char *sender)
{
	int64_t	now = sg_mono_ms();
	struct worker_cached_signer *c;
	struct certs_signer cs;
	char	key[256];

	snprintf(key, sizeof(key), "%s", sender);
	for (char *p = key; *p; p++)
		*p = (char) tolower((unsigned char) *p);
	for (size_t i = 0; i < WORKER_SIGNER_CACHE; i++) {
		c = &t->cache[i];
		if (c->sender[0] && strcmp(c->sender, key) == 0 && c->expires > now)
			return (c->signer);
	}
	c = &t->cache[t->next_slot++ % WORKER_SIGNER_CACHE];
	worker_signer_free(c->signer);
	c->signer = NULL;
	memset(&cs, 0, sizeof(cs));
	if (t->certs && certs_find_signer(t->certs, sender, &cs) == 0) {
		warn_unknown("sign", sender, &cs.check);
		/* the key is certs' in-memory copy: no second look-up, no second copy */
		if (worker_signer_new(cs.cert, cs.key, NULL, &c->signer) < 0)
			c->signer = NULL;
		certs_signer_free(&cs);
	}
	snprintf(c->sender, sizeof(c->sender), "%s", key);
	c->expires = now + (t->certs ? certs_lookup_ttl(t->certs) : 0);
	return (c->signer);
}

/*
 * pick_cert - the recipient's own valid certificate, else a valid gateway
 * one, that can receive (certs_receive_check). NULL when there is none;
 * why then names the real cause: no certificate at all, none valid (the
 * first one's reason), or a valid one whose key cannot receive.
 */
static CERTCertificate *pick_cert(struct worker_thread *t, const char *rcpt, bool gateway_only,
				  char *why, size_t wlen)
{
	struct certs_candidates cc = { 0, NULL };
	CERTCertificate *best = NULL;
	char	invalid[200] = "", keytype[240] = "", r[200];

	snprintf(why, wlen, "no valid certificate for %.200s", rcpt);
	if (t->certs == NULL || certs_find_recipient(t->certs, rcpt, &cc) < 0)
		return (NULL);
	for (int pass = gateway_only ? 1 : 0; pass < 2 && best == NULL; pass++)
		for (size_t i = 0; i < cc.n && best == NULL; i++) {
			if (cc.v[i].gateway != (pass == 1))
				continue;
			if (!cc.v[i].check.valid) {
				if (*invalid == 0)
					snprintf(invalid, sizeof(invalid), "%s", cc.v[i].check.reason);
			} else if (certs_receive_check(cc.v[i].cert, r, sizeof(r)) < 0) {
				if (*keytype == 0)
					snprintf(keytype, sizeof(keytype), "%s", r);
			} else {
				best = CERT_DupCertificate(cc.v[i].cert);
				warn_unknown("encrypt", rcpt, &cc.v[i].check);
			}
		}
	certs_candidates_free(&cc);
	if (best == NULL && *keytype)
		snprintf(why, wlen, "%.200s: %s", rcpt, keytype);
	else if (best == NULL && *invalid)
		snprintf(why, wlen, "no valid certificate for %.200s (%s)", rcpt, invalid);
	return (best);
}

/* algs_for - the recipient's algorithms, raised by the capabilities it advertised */

static void algs_for(struct worker_thread *t, const struct worker_conf *conf, int rule,
		     const char *rcpt, struct worker_algs *algs)
{
	unsigned caps;

	worker_algs_for(conf, rule, rcpt, algs);
	if (algs->upgrade && t->certs && certs_caps(t->certs, rcpt, &caps) == 0)
		worker_algs_upgrade(algs, caps);
}

/* fail - record, then apply on_failure; true when the part stops here */

static bool fail(struct worker_thread *t, const struct worker_snap *s, struct part *p,
		 const struct sg_rule *r, int action, const char *kind, const char *text)
{
	struct worker_failure f = {
		.msg_id = p->env.id,.kind = kind,.sender = p->env.sender,
		.rcpt = p->env.nrcpt ? p->env.rcpt[0].addr : "",.rule = r->name,.text = text,
	};

	worker__incident(t, s, &f);
	snprintf(p->reason, sizeof(p->reason), "%s: %s", kind, text);
	if (action == SG_RULE_FAIL_PASS)
		return (false);
	if (action == SG_RULE_FAIL_HOLD) {
		p->state = QUEUE_HOLD;
	} else {
		p->state = QUEUE_DONE;
		for (size_t i = 0; i < p->env.nrcpt; i++) {
			p->env.rcpt[i].state = QUEUE_RCPT_BOUNCED;
			p->env.rcpt[i].reply = p->reason;
			p->env.rcpt[i].dsn_status = "5.7.1";
		}
		worker__bounce(t, s, &p->env, &f, p->original);
	}
	p->changed = false;			/* held or rejected: as received */
	p->legal = 0;
	return (true);
}

/*
 * note - append "key=value" to the part's note for the tracking record
 * ("; " between them, so a value never holds ';'); cut at its size.
 */
static void note(struct part *p, const char *key, const char *value)
{
	size_t	n = strlen(p->note);
	char	v[200];

	snprintf(v, sizeof(v), "%s", value);
	for (char *c = v; *c; c++)
		if (*c == ';' || (unsigned char) *c < 0x20)
			*c = ',';
	snprintf(p->note + n, sizeof(p->note) - n, "%s%s=%s", n ? "; " : "", key, v);
}

/* cert_name - the name sealctl cert list shows: nickname, else CN, else address */

static const char *cert_name(CERTCertificate *c, char *buf, size_t len)
{
	char   *cn = c->nickname ? NULL : CERT_GetCommonName(&c->subject);

	snprintf(buf, len, "%s", c->nickname ? c->nickname : cn ? cn
		 : c->emailAddr ? c->emailAddr : "?");
	if (cn)
		PORT_Free(cn);
	return (buf);
}

static void replace(struct part *p, struct sg_buf *next)
{
	sg_buf_free(&p->body);
	p->body = *next;
	*next = (struct sg_buf) SG_BUF_INIT;
	p->changed = true;
}

/*
 * step_legal - lines over 998 octets made legal: smtpd flagged the message,
 * or decryption revealed them (smtpd cannot see inside encrypted mail).
 */
static void step_legal(struct part *p)
{
	struct sg_buf out = SG_BUF_INIT;
	unsigned how = 0;
	bool	maybe = (p->env.flags & QUEUE_F_LONGLINES)
		|| ((p->env.crypto & WORKER_DID_DECRYPT) && worker_mime_long(p->body.data, p->body.len));

	if (maybe && worker_mime_legal(p->body.data, p->body.len, &out, &how) == 0 && how) {
		replace(p, &out);
		p->legal |= how;
	}
	sg_buf_free(&out);
}

static bool step_decrypt(struct worker_thread *t, const struct worker_snap *s,
			 struct part *p, const struct sg_rule *r)
{
	struct sg_buf out = SG_BUF_INIT;
	char	why[160];
	int	rc = worker_smime_decrypt(t->certs, p->body.data, p->body.len, &out, why, sizeof(why));

	if (rc == 0) {
		replace(p, &out);
		p->env.crypto |= WORKER_DID_DECRYPT;
		return (false);
	}
	sg_buf_free(&out);
	return (rc == SG_ECRYPTO && fail(t, s, p, r, r->on_decrypt_failure, "undecryptable", why));
}

/*
 * share_harvest - with a cluster, what was just harvested goes to the
 * other nodes too (through the queue's outbox; nothing waits for the
 * network), with a mac when there is a cluster key file (read per share:
 * a harvest is rare). A failure costs only the sharing: logged, the mail
 * goes on.
 */
static void share_harvest(struct worker_thread *t, CERTCertificate *const *v, size_t n)
{
	int	rc;

	for (size_t i = 0; i < n; i++) {
		struct queue_cert_rec r = {.kind = QUEUE_CERT_HARVEST,.gateway = "",
			.data = v[i]->derCert.data,.len = v[i]->derCert.len};

		if (t->cluster_key_file && (rc = worker_cert_mac(t->cluster_key_file, &r)) < 0) {
			sg_warn("event=cluster_share_failed error=\"cluster.key_file: %s\"",
				sg_strerror(rc));
			continue;
		}
		if ((rc = queue_cert_share(t->q, &r)) < 0)
			sg_warn("event=cluster_share_failed error=\"%s\"", sg_strerror(rc));
	}
}

/*
 * keep_caps - what a harvested signer said it can decrypt, for each of its
 * addresses: later mail to it may be upgraded (worker_algs_upgrade)
 */
static void keep_caps(struct worker_thread *t, CERTCertificate *cert, unsigned caps)
{
	for (const char *a = CERT_GetFirstEmailAddress(cert); a; a = CERT_GetNextEmailAddress(cert, a))
		(void) certs_caps_update(t->certs, a, caps);
}

static bool step_verify(struct worker_thread *t, const struct worker_snap *s,
			struct part *p, const struct sg_rule *r)
{
	struct sg_buf out = SG_BUF_INIT;
	struct worker_verdict v;
	char	err[160];
	bool	stop = false;

	if (worker_smime_verify(t->certs, p->body.data, p->body.len, s->conf.result_header,
				r->harvest && t->certs, &out, &v) < 0) {
		sg_buf_free(&out);
		return (false);			/* not MIME: nothing to verify */
	}
	replace(p, &out);
	p->env.crypto |= WORKER_DID_VERIFY;
	p->verdict = (int) v.status;
	note(p, "verify", v.status == WORKER_SIG_VALID ? "valid" : v.status == WORKER_SIG_INVALID
	     ? "invalid" : "unsigned");
	if (v.signer[0])
		note(p, "signer", v.signer);
	if (v.status == WORKER_SIG_INVALID)
		note(p, "verify-reason", v.reason);
	if (v.status == WORKER_SIG_VALID) {
		/* One signer at a time, with its issuers (they may be new too). */
		for (size_t i = 0; r->harvest && t->certs && i < v.nharvest; i++) {
			int	rc = certs_harvest(t->certs, v.harvest[i].cert, v.harvest[i].n, err,
					       sizeof(err));

			if (rc == 0) {
				p->env.crypto |= WORKER_DID_HARVEST;
				share_harvest(t, v.harvest[i].cert, v.harvest[i].n);
			}
			if ((rc == 0 || rc == SG_EEXIST) && v.caps[i])
				keep_caps(t, v.harvest[i].cert[0], v.caps[i]);
		}
	} else if (v.status == WORKER_SIG_INVALID) {
		stop = fail(t, s, p, r, r->on_verify_failure, "bad-signature", v.reason);
	}
	worker_verdict_free(&v);
	return (stop);
}

static bool step_sign(struct worker_thread *t, const struct worker_snap *s,
		      struct part *p, const struct sg_rule *r)
{
	struct worker_signer *signer = signer_for(t, p->env.sender);
	struct sg_buf out = SG_BUF_INIT;
	char	why[160];
	int	rc;

	if (signer == NULL)
		return (r->sign == SG_RULE_SIGN_REQUIRED
			&& fail(t, s, p, r, r->on_sign_failure, "no-signing-cert",
				"no valid signing certificate for the sender or its domain"));
	struct worker_sign_spec spec;

	worker_algs_sign(&p->algs, r->signature, &spec);
	if ((rc = worker_smime_sign(signer, &spec, p->body.data, p->body.len, &out)) < 0) {
		if (rc == SG_ECRYPTO)
			worker__nss_reason(why, sizeof(why), "signing failed");
		else
			snprintf(why, sizeof(why), "message cannot be signed: %s", sg_strerror(rc));
		sg_buf_free(&out);
		return (fail(t, s, p, r, r->on_sign_failure, "sign-failed", why));
	}
	replace(p, &out);
	p->env.crypto |= WORKER_DID_SIGN;
	note(p, "sign-cert", cert_name(worker_signer_cert(signer), why, sizeof(why)));
	snprintf(why, sizeof(why), "%s-%s",
		 CERT_GetCertKeyType(&worker_signer_cert(signer)->subjectPublicKeyInfo) == ecKey ?
		 "ecdsa" : worker_sigalg_names[spec.alg], worker_digest_names[spec.hash -
								       WORKER_HASH_SHA256]);
	note(p, "sign-alg", why);
	return (false);
}

/*
 * set_aside - under if-possible, the recipients without a certificate
 * leave this part with a copy of the unencrypted body: they become a part
 * of their own, and the others still get encrypted mail.
 */
static void set_aside(struct part *p, const bool *has_cert)
{
	size_t	k = 0;

	p->rest = sg_xcalloc(p->env.nrcpt, sizeof(*p->rest));
	for (size_t i = 0; i < p->env.nrcpt; i++) {
		if (has_cert[i])
			p->env.rcpt[k++] = p->env.rcpt[i];
		else
			p->rest[p->nrest++] = p->env.rcpt[i];
	}
	p->env.nrcpt = k;
	sg_buf_append(&p->rest_body, p->body.data, p->body.len);
}

/* note_certs - the certificates a part was encrypted to */

static void note_certs(struct part *p, const struct worker_recipient *rs, size_t n)
{
	char	names[200], one[80];
	size_t	k = 0;

	names[0] = 0;
	for (size_t i = 0; i < n && k + 1 < sizeof(names); i++) {
		int	w = snprintf(names + k, sizeof(names) - k, "%s%s", i ? "," : "",
				     cert_name(rs[i].cert, one, sizeof(one)));

		if (w < 0)
			break;
		k += (size_t) w;
	}
	note(p, "encrypt-certs", names);
}

static bool step_encrypt(struct worker_thread *t, const struct worker_snap *s,
			 struct part *p, const struct sg_rule *r)
{
	struct worker_recipient *rs = sg_xcalloc(p->env.nrcpt + 1, sizeof(*rs));
	bool   *has = sg_xcalloc(p->env.nrcpt + 1, sizeof(*has));
	struct sg_buf out = SG_BUF_INIT;
	size_t	n = 0;
	char	why[300];
	bool	stop = false;
	int	rc;

	why[0] = 0;
	for (size_t i = 0; i < p->env.nrcpt; i++) {
		const char *a = p->env.rcpt[i].addr;
		struct worker_algs algs;
		char	r1[300];

		if ((rs[n].cert = pick_cert(t, a, false, r1, sizeof(r1))) != NULL) {
			algs_for(t, &s->conf, p->rule, a, &algs);
			rs[n++].kt = algs.kt;	/* per recipient: one message, many */
			has[i] = true;
		} else if (why[0] == 0)
			snprintf(why, sizeof(why), "%s", r1);
	}
	if (why[0] && r->encrypt == SG_RULE_ENC_MANDATORY) {
		stop = fail(t, s, p, r, r->on_encrypt_failure, "no-cert", why);
		goto out;
	}
	if (n == 0)
		goto out;			/* if-possible, and nobody can */
	if (why[0])
		set_aside(p, has);
	if (r->encrypt_to_self && *p->env.sender) {
		char	r1[300];

		/* Not silently: a seal that cannot receive leaves the gateway no copy. */
		if ((rs[n].cert = pick_cert(t, p->env.sender, true, r1, sizeof(r1))) != NULL)
			rs[n++].kt = p->algs.kt;
		else if (strncmp(r1, "no valid certificate", 20) != 0) {
			char	ids[QUEUE_ID_BUFSZ], esc[300];

			sg_debug("id=%s event=encrypt_to_self_skipped reason=\"%s\"",
				 queue_id_format(p->env.id, ids), sg_printable(esc, sizeof(esc), r1,
									 strlen(r1)));
		}
	}
	if ((rc = worker_smime_encrypt(rs, n, p->algs.content, p->body.data, p->body.len,
				       &out)) < 0) {
		if (rc == SG_ECRYPTO)
			worker__nss_reason(why, sizeof(why), "encryption failed");
		else
			snprintf(why, sizeof(why), "message cannot be encrypted: %s", sg_strerror(rc));
		stop = fail(t, s, p, r, r->on_encrypt_failure, "encrypt-failed", why);
		goto out;
	}
	replace(p, &out);
	p->env.crypto |= WORKER_DID_ENCRYPT;
	note_certs(p, rs, n);
	note(p, "encrypt-alg", worker_content_names[p->algs.content]);
out:
	for (size_t i = 0; i < n; i++)
		CERT_DestroyCertificate(rs[i].cert);
	free(rs);
	free(has);
	sg_buf_free(&out);
	return (stop);
}

/* scan_word - how the scan result reads in logs and tracking notes */

static const char *scan_word(int scanned)
{
	static const char *const words[] = {"clean", "infected", "too-large", "failed",
		"encrypted"};

	return (scanned >= 0 && (size_t) scanned < SG_NELEM(words) ? words[scanned] : "-");
}

/*
 * step_scan - clamd's verdict on the part as it is now (decrypted,
 * verified), before it is signed or encrypted for the next hop. A
 * verdict that does not stop the part is stamped into the result header.
 */
static bool step_scan(struct worker_thread *t, const struct worker_snap *s,
		      struct part *p, const struct sg_rule *r)
{
	const struct worker_scan_conf *c = &s->conf.scan;
	struct worker_scan_result sr;
	struct sg_buf out = SG_BUF_INIT;
	char	ids[QUEUE_ID_BUFSZ], esc[240];
	int	act, rc;

	/*
	 * Slow scans add up over a batch: past SCAN_RENEW_MS, the claim is
	 * renewed before each scan, so that the lease never ends under us
	 * (one write per message, only when clamd is that slow). Taken over
	 * meanwhile: leave the message to its new owner.
	 */
	if (sg_mono_ms() - t->claimed_ms > SCAN_RENEW_MS
	    && (rc = queue_lease_renew(t->q, p->env.id, t->owner, 0)) < 0) {
		snprintf(p->reason, sizeof(p->reason), "lease: %s", sg_strerror(rc));
		p->lost = true;
		return (true);
	}
	worker__scan(t, c, p->body.data, p->body.len, &sr);
	p->scanned = sr.outcome;
	queue_id_format(p->env.id, ids);
	sg_printable(esc, sizeof(esc), sr.why, strlen(sr.why));
	note(p, "scan", scan_word(sr.outcome));
	if (sr.outcome == WORKER_SCANNED_INFECTED) {
		note(p, "virus", sr.name);
		sg_warn("id=%s event=scan_found rule=%s name=\"%s\" action=%s", ids, r->name,
			sr.name, sg_rule_virus_names[r->on_virus]);
		if (fail(t, s, p, r, r->on_virus, "virus", sr.name))
			return (true);
	} else if (sr.outcome == WORKER_SCANNED_TOO_LARGE) {
		act = c->on_too_large;
		sg_notice("id=%s event=scan_too_large rule=%s reason=\"%s\" action=%s", ids,
			  r->name, esc, sg_rule_virus_names[act]);
		if (act != SG_RULE_FAIL_PASS && fail(t, s, p, r, act, "scan-too-large", sr.why))
			return (true);
	} else if (sr.outcome == WORKER_SCANNED_ENCRYPTED) {
		/* on_decrypt_failure (or a rule without decrypt) let it come this far */
		sg_notice("id=%s event=scan_encrypted rule=%s action=pass-tagged", ids, r->name);
	} else if (sr.outcome == WORKER_SCANNED_FAILED) {
		act = r->on_scan_failure;
		/* deferred for good, a message would wait unseen: held, it is shown */
		if (act == SG_RULE_SCAN_DEFER && sg_now_ms() - p->env.arrival_ms >= c->max_defer_ms)
			act = SG_RULE_SCAN_HOLD;
		sg_warn("id=%s event=scan_failed rule=%s reason=\"%s\" action=%s", ids, r->name,
			esc, sg_rule_scan_fail_names[act]);
		if (act == SG_RULE_SCAN_DEFER) {
			snprintf(p->reason, sizeof(p->reason), "scan-failed: %s", sr.why);
			p->deferred = true;
			return (true);
		}
		if (act == SG_RULE_SCAN_HOLD
		    && fail(t, s, p, r, SG_RULE_FAIL_HOLD, "scan-failed", sr.why))
			return (true);
	}
	worker__scan_stamp(c, &sr, p->body.data, p->body.len, &out);
	replace(p, &out);
	sg_buf_free(&out);
	return (false);
}

/*
 * apply - the rule's steps in order; each may end the part. A notice to
 * the sender quotes the header of shown: the original, or its legal form.
 */
static void apply(struct worker_thread *t, const struct worker_snap *s, struct part *p,
		  const struct sg_buf *original, const struct sg_buf *shown)
{
	const struct sg_rule *r;
	struct sg_buf out = SG_BUF_INIT;

	p->state = QUEUE_READY;
	if (p->rule < 0)
		return;
	r = &((const struct sg_rule *) s->conf.rules.v)[p->rule];
	p->env.rule = r->name;
	p->original = shown;
	sg_buf_append(&p->body, original->data, original->len);
	if (r->decrypt && step_decrypt(t, s, p, r))
		return;
	if (r->verify && step_verify(t, s, p, r))
		return;
	if (r->strip_client_signature
	    && worker_smime_strip(p->body.data, p->body.len, &out) == 0) {
		replace(p, &out);
		p->env.crypto |= WORKER_DID_STRIP;
	}
	sg_buf_free(&out);
	step_legal(p);
	if (r->scan && step_scan(t, s, p, r))
		return;
	if (r->sign != SG_RULE_SIGN_OFF && step_sign(t, s, p, r))
		return;
	if (r->encrypt != SG_RULE_ENC_OFF)
		(void) step_encrypt(t, s, p, r);
}

static int collect(const void *chunk, size_t len, void *arg)
{
	sg_buf_append(arg, chunk, len);
	return (0);
}

static enum sg_rule_dir rule_dir(enum queue_direction d)
{
	return (d == QUEUE_DIR_INBOUND ? SG_RULE_DIR_INBOUND
		: d == QUEUE_DIR_OUTBOUND ? SG_RULE_DIR_OUTBOUND : SG_RULE_DIR_ANY);
}

/* same_algs - may recipients with a and b share one signed or encrypted copy */

static bool same_algs(const struct worker_algs *a, const struct worker_algs *b)
{
	return (a->sigalg == b->sigalg && a->hash == b->hash && a->content == b->content);
}

/*
 * make_parts - one part per rule, and within a rule that signs or
 * encrypts one per set of algorithms (recipients' profiles may differ);
 * recipients in their original order
 */
static size_t make_parts(struct worker_thread *t, const struct worker_snap *s,
			 const struct queue_env *env, struct part *parts)
{
	size_t	n = 0;

	for (size_t i = 0; i < env->nrcpt; i++) {
		const char *a = env->rcpt[i].addr;
		int	rule = sg_rules_classify(&s->conf.rules, rule_dir(env->direction),
						 env->listener, env->sender, strlen(env->sender),
						 a, strlen(a));
		const struct sg_rule *r = rule >= 0 ? &((const struct sg_rule *) s->conf.rules.v)[rule]
			: NULL;
		bool	crypto = r && (r->sign != SG_RULE_SIGN_OFF || r->encrypt != SG_RULE_ENC_OFF);
		struct worker_algs algs;
		size_t	k;

		if (queue_rcpt_final(env->rcpt[i].state))
			continue;
		algs_for(t, &s->conf, rule, a, &algs);
		for (k = 0; k < n && (parts[k].rule != rule
				      || (crypto && !same_algs(&parts[k].algs, &algs))); k++);
		if (k == n) {
			parts[n].rule = rule;
			parts[n].scanned = -1;
			parts[n].algs = algs;
			parts[n].env = *env;
			parts[n].env.nrcpt = 0;
			parts[n].env.rcpt = sg_xcalloc(env->nrcpt, sizeof(struct queue_rcpt));
			n++;
		}
		parts[k].env.rcpt[parts[k].env.nrcpt++] = env->rcpt[i];
	}
	return (n);
}

/*
 * legal_unchanged - a part that leaves with the original body (no rule,
 * held, or no step changed it) takes its legal form instead.
 */
static void legal_unchanged(struct part *p, const struct sg_buf *legal, unsigned how)
{
	if (p->changed || p->state == QUEUE_DONE)
		return;
	sg_buf_reset(&p->body);
	sg_buf_append(&p->body, legal->data, legal->len);
	p->changed = true;
	p->legal = how;
}

/* split_rest - the recipients set aside by step_encrypt become part q */

static void split_rest(struct part *p, struct part *q)
{
	char   *cut;

	q->rule = p->rule;
	q->algs = p->algs;
	q->env = p->env;
	q->env.crypto &= ~WORKER_DID_ENCRYPT;
	q->env.rcpt = p->rest;
	q->env.nrcpt = p->nrest;
	q->body = p->rest_body;
	q->changed = true;
	q->legal = p->legal;
	q->scanned = p->scanned;
	q->state = QUEUE_READY;		/* whatever became of the encrypted part */
	snprintf(q->note, sizeof(q->note), "%s", p->note);
	if ((cut = strstr(q->note, "encrypt-certs=")) != NULL)	/* the last note: not this copy's */
		*(cut > q->note ? cut - 2 : cut) = 0;
	p->rest = NULL;
	p->nrest = 0;
	p->rest_body = (struct sg_buf) SG_BUF_INIT;
}

/* What worker__process() leaves for the group commit (struct worker_done.own). */
struct worker_parts {
	struct queue_env env;		/* the parts' strings point into it */
	struct part *parts;
	struct queue_part *qp;
	struct queue_body_src *src;
	size_t	n;
};

/* legal_words - " long_lines=qp,folded" for the log, or "" */

static const char *legal_words(unsigned how, char *buf, size_t len)
{
	static const char *const words[] = {
		"folded", "qp", "base64", "rewrapped", "broken",
	};
	size_t	n = 0;

	buf[0] = 0;
	for (size_t i = 0; i < SG_NELEM(words) && n < len; i++)
		if (how & (1u << i))
			n += (size_t) snprintf(buf + n, len - n, "%s%s",
					       n ? "," : " long_lines=", words[i]);
	return (buf);
}

void	worker__done_log(const struct worker_done *d)
{
	const struct worker_parts *w = d->own;
	char	ids[QUEUE_ID_BUFSZ];

	for (size_t i = 0; i < w->n; i++) {
		const struct part *p = &w->parts[i];
		char	crypto[WORKER_CRYPTO_WORDS_MAX];

		char	how[80];

		sg_info("id=%s event=processed rule=%s rcpts=%zu crypto=%s state=%s%s%s%s%s%s%s%s%s",
			queue_id_format(d->c.id, ids), p->rule < 0 ? "-" : p->env.rule,
			p->env.nrcpt, worker_crypto_words(p->env.crypto, crypto, sizeof(crypto)),
			queue_state_name(p->state), p->scanned >= 0 ? " scan=" : "",
			p->scanned >= 0 ? scan_word(p->scanned) : "", p->reason[0] ? " reason=" : "",
			p->reason[0] ? "incident" : "", legal_words(p->legal, how, sizeof(how)),
			(p->env.crypto & (WORKER_DID_SIGN | WORKER_DID_ENCRYPT)) ? " profile=" : "",
			(p->env.crypto & (WORKER_DID_SIGN | WORKER_DID_ENCRYPT)) ? p->algs.profile : "",
			(p->env.crypto & WORKER_DID_ENCRYPT) && p->algs.upgraded ? "+caps" : "");
	}
}

void	worker__done_free(struct worker_done *d)
{
	struct worker_parts *w = d->own;

	if (w == NULL)
		return;
	for (size_t i = 0; i < w->n; i++) {
		free(w->parts[i].env.rcpt);
		free(w->parts[i].rest);
		sg_buf_free(&w->parts[i].rest_body);
		sg_buf_free(&w->parts[i].body);
	}
	free(w->parts);
	free(w->qp);
	free(w->src);
	queue_env_free(&w->env);
	free(w);
	memset(d, 0, sizeof(*d));
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

/*
 * tally - what the parts did, for the statistics: each copy that leaves
 * signed, encrypted, decrypted or verified counts once, and the time
 * spent on a message that had any of them is its crypto time.
 */
static void tally(const struct worker_parts *w, int64_t t0_us, struct worker_done *d)
{
	static const struct {
		unsigned did;
		enum queue_counter c;
	} map[] = {
		{WORKER_DID_SIGN, QUEUE_C_SIGNED}, {WORKER_DID_ENCRYPT, QUEUE_C_ENCRYPTED},
		{WORKER_DID_DECRYPT, QUEUE_C_DECRYPTED},
	};
	static const enum queue_counter verdicts[] = {
		[WORKER_SIG_UNSIGNED] = QUEUE_C_VERIFY_UNSIGNED,
		[WORKER_SIG_VALID] = QUEUE_C_VERIFY_VALID,
		[WORKER_SIG_INVALID] = QUEUE_C_VERIFY_INVALID,
	};
	unsigned all = 0;

	for (size_t i = 0; i < w->n; i++) {
		const struct part *p = &w->parts[i];

		for (size_t k = 0; k < SG_NELEM(map); k++)
			d->tally.count[map[k].c] += (p->env.crypto & map[k].did) != 0;
		if ((p->env.crypto & WORKER_DID_VERIFY) && p->verdict >= 0
		    && (size_t) p->verdict < SG_NELEM(verdicts))
			d->tally.count[verdicts[p->verdict]]++;
		if (p->scanned >= 0)
			d->tally.count[p->scanned == WORKER_SCANNED_CLEAN ? QUEUE_C_SCAN_CLEAN
				       : p->scanned == WORKER_SCANNED_INFECTED ? QUEUE_C_SCAN_INFECTED
				       : QUEUE_C_SCAN_UNSCANNED]++;
		all |= p->env.crypto;
	}
	d->tally.crypto_timed = (all & (WORKER_DID_SIGN | WORKER_DID_ENCRYPT | WORKER_DID_DECRYPT
					| WORKER_DID_VERIFY)) != 0;
	d->tally.crypto_us = mono_us() - t0_us;
	d->c.tally = &d->tally;
}

/*
 * Below a page a second copy costs less than the look for it; where the
 * original's last bytes occur more often than SAME_TRIES times (a body of
 * one line repeated), the last ones decide.
 */
#define SAME_MIN	4096
#define SAME_PROBE	64
#define SAME_TRIES	4

/* common_tail - how many bytes a and b have in common at their ends */

static size_t common_tail(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t	n = 0, max = alen < blen ? alen : blen;

	while (n < max) {
		size_t	k = max - n < 256 ? max - n : 256;

		if (memcmp(a + alen - n - k, b + blen - n - k, k) != 0) {
			while (a[alen - n - 1] == b[blen - n - 1])
				n++;
			break;
		}
		n += k;
	}
	return (n);
}

/* last_probe - the end of the last SAME_PROBE bytes at p in hay[0, end), or 0 */

static size_t last_probe(const char *hay, size_t end, const char *p)
{
	const char *last;

	while (end >= SAME_PROBE
	       && (last = memrchr(hay + SAME_PROBE - 1, p[SAME_PROBE - 1],
				  end - (SAME_PROBE - 1))) != NULL) {
		end = (size_t) (last - hay) + 1;
		if (memcmp(hay + end - SAME_PROBE, p, SAME_PROBE) == 0)
			return (end);
		end--;
	}
	return (0);
}

/*
 * same_run - the longest end of the original that a part sends unchanged:
 * what signing leaves of it (the body after the Content-* fields) or a
 * dropped header field. The queue then keeps a reference to the original
 * there instead of a second copy, once it has compared the bytes itself.
 * What the worker adds comes after the original's end, so the last places
 * its last bytes occur are the ones to try.
 */
static void same_run(struct queue_body_src *src, const struct sg_buf *original)
{
	const char *probe;
	size_t	end = src->len;

	if (original->len < SAME_MIN || src->len < SAME_MIN)
		return;
	probe = original->data + original->len - SAME_PROBE;
	for (int tries = 0; tries < SAME_TRIES
	     && (end = last_probe(src->data, end, probe)) != 0; tries++, end--) {
		size_t	n = common_tail(src->data, end, original->data, original->len);

		if (n > src->same_len) {
			src->same_at = end - n;
			src->same_off = original->len - n;
			src->same_len = n;
		}
	}
	if (src->same_len < SAME_MIN)
		src->same_len = 0;
}

/* hand_over - the parts as queue_complete_batch() takes them */

static void hand_over(struct worker_parts *w, const struct sg_buf *original,
		      struct worker_done *d)
{
	d->bytes = 0;
	for (size_t i = 0; i < w->n; i++) {
		struct part *p = &w->parts[i];

		p->env.reason = p->reason;
		p->env.crypto_note = p->note;
		p->env.flags |= QUEUE_F_WORKED;
		w->src[i] = (struct queue_body_src) {.data = p->body.data,.fd = -1,
			.len = p->body.len };
		if (p->changed)
			same_run(&w->src[i], original);
		w->qp[i] = (struct queue_part) {.env = &p->env,
			.body = p->changed ? &w->src[i] : NULL,.state = p->state };
		d->bytes += p->body.len + p->rest_body.len;
	}
	d->c.parts = w->qp;
	d->c.nparts = w->n;
}

/*
 * defer - the scan could not be done and the rule says defer: the message
 * stays claimed, untouched, until scan.retry from now, then any thread
 * claims it again (queue_lease_renew: no new state, nothing to undo).
 */
static int defer(struct worker_thread *t, const struct worker_snap *s, const struct part *p,
		 struct worker_done *d)
{
	char	ids[QUEUE_ID_BUFSZ], esc[240];
	int	rc = queue_lease_renew(t->q, d->c.id, t->owner, s->conf.scan.retry_ms);

	sg_info("id=%s event=scan_deferred retry_ms=%lld reason=\"%s\"%s%s",
		queue_id_format(d->c.id, ids), (long long) s->conf.scan.retry_ms,
		sg_printable(esc, sizeof(esc), p->reason, strlen(p->reason)),
		rc < 0 ? " lease=" : "", rc < 0 ? sg_strerror(rc) : "");
	worker__done_free(d);
	return (SG_EAGAIN);
}

/*
 * unforge - with a clamd configured, a copy that leaves without a scan
 * loses any scan result field it brought: only the gateway writes it
 * (smtpd sends such mail here even when no rule acts on it). A held
 * copy stays as received; its release comes back through here.
 */
static void unforge(const struct worker_snap *s, struct part *p, const struct sg_buf *original)
{
	const struct worker_scan_conf *c = &s->conf.scan;
	const struct sg_buf *b = p->changed ? &p->body : original;
	struct sg_buf out = SG_BUF_INIT;

	if (c->clamd == NULL || *c->clamd == 0 || p->scanned >= 0 || p->state != QUEUE_READY
	    || !sg_header_has(b->data ? b->data : "", b->len, c->header))
		return;
	sg_header_drop(b->data, b->len, c->header, &out);
	replace(p, &out);
	note(p, "scan", "forged-header-removed");
	sg_buf_free(&out);
}

/* scans - does the part's rule scan? */

static bool scans(const struct worker_snap *s, const struct part *p)
{
	return (p->rule >= 0 && ((const struct sg_rule *) s->conf.rules.v)[p->rule].scan);
}

/* lost - another worker holds the message now (our lease ended): its turn */

static int lost(const struct part *p, struct worker_done *d)
{
	char	ids[QUEUE_ID_BUFSZ];

	sg_info("id=%s event=complete_skipped reason=lease_lost detail=\"%s\"",
		queue_id_format(d->c.id, ids), p->reason);
	worker__done_free(d);
	return (SG_EBUSY);
}

int	worker__process(struct worker_thread *t, const struct worker_snap *s, uint64_t id,
			struct worker_done *d)
{
	struct worker_parts *w = sg_xcalloc(1, sizeof(*w));
	struct sg_buf original = SG_BUF_INIT, legal = SG_BUF_INIT;
	char	ids[QUEUE_ID_BUFSZ];
	unsigned how = 0;
	size_t	made;
	int64_t	t0 = mono_us();
	int	rc;

	memset(d, 0, sizeof(*d));
	d->c.id = id;
	d->own = w;
	queue_env_init(&w->env);
	if ((rc = queue_get(t->q, id, 0, &w->env)) < 0
	    || (rc = queue_body_foreach(t->q, id, QUEUE_BODY_ORIGINAL, collect, &original, NULL)) < 0) {
		sg_error("id=%s event=process_failed error=\"%s\"", queue_id_format(id, ids),
			 sg_strerror(rc));
		sg_buf_free(&original);
		worker__done_free(d);
		return (rc);
	}
	w->parts = sg_xcalloc(w->env.nrcpt + 1, sizeof(*w->parts));
	w->qp = sg_xcalloc(w->env.nrcpt + 1, sizeof(*w->qp));
	w->src = sg_xcalloc(w->env.nrcpt + 1, sizeof(*w->src));
	w->n = make_parts(t, s, &w->env, w->parts);
	if (w->env.flags & QUEUE_F_LONGLINES)
		worker_mime_legal(original.data, original.len, &legal, &how);
	/*
	 * Parts that scan first: one that defers does so before the others
	 * act. The parts split_rest() adds are done already: not looked at.
	 */
	made = w->n;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < made; i++) {
			if (scans(s, &w->parts[i]) != (pass == 0))
				continue;
			apply(t, s, &w->parts[i], &original, how ? &legal : &original);
			if (w->parts[i].deferred || w->parts[i].lost) {
				sg_buf_free(&original);
				sg_buf_free(&legal);
				return (w->parts[i].lost ? lost(&w->parts[i], d)
					: defer(t, s, &w->parts[i], d));
			}
			if (w->parts[i].nrest)
				split_rest(&w->parts[i], &w->parts[w->n++]);
		}
	for (size_t i = 0; how && i < w->n; i++)
		legal_unchanged(&w->parts[i], &legal, how);
	for (size_t i = 0; i < w->n; i++)
		unforge(s, &w->parts[i], &original);
	hand_over(w, &original, d);
	sg_buf_free(&original);
	sg_buf_free(&legal);
	tally(w, t0, d);
	return (0);
}

int	worker_run_once(struct queue *q, struct certs *c, const struct worker_conf *conf,
			const char *hostname, size_t *processed)
{
	struct worker_snap *s = worker__snap_new(conf, hostname);
	struct worker_notify *nt = worker__notify_new();
	struct worker_thread t;
	char	owner[64];
	size_t	n;
	int	rc;

	snprintf(owner, sizeof(owner), "worker.%ld.once", (long) getpid());
	worker__thread_init(&t, q, c, owner, nt);
	*processed = 0;
	while ((rc = worker__claim_and_process(&t, s, &n)) == 0 && n > 0)
		*processed += n;
	worker__thread_done(&t);
	worker__notify_free(nt);
	sg_arena_free(s->arena);
	return (rc);
}
