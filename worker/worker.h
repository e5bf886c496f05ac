#ifndef WORKER_H
#define WORKER_H

/*
 * NAME
 *	worker 3h
 * SUMMARY
 *	the crypto worker role: rules engine and S/MIME transforms
 * SYNOPSIS
 *	#include "worker/worker.h"
 * DESCRIPTION
 *	The one public header of worker/.
 */

#include <sys/socket.h>

#include "common/sg.h"

/*
 * One element of worker.profiles: the algorithms mail to a partner gets
 * (worker/profile.c). Assigned by recipient (its recipients patterns,
 * as in rules) or by a rule's profile key, which is also the rule's
 * minimum; a profile named "default" replaces the built-in default.
 */
struct worker_profile {
	char   *name;
	int	signature;		/* enum worker_sigalg; EC keys sign ECDSA */
	int	digest;			/* 0 sha256, 1 sha384, 2 sha512 */
	int	content;		/* enum worker_content */
	int	key_transport;		/* enum worker_kt */
	bool	upgrade;		/* a partner's SMIMECapabilities may raise them */
	struct sg_strlist recipients;	/* partners: patterns as in rules */
};

extern const char *const worker_sigalg_names[];
extern const char *const worker_digest_names[];
extern const char *const worker_content_names[];
extern const char *const worker_kt_names[];

/*
 * The "scan = { ... };" section (worker/scan_conf.c): the clamd a rule
 * with scan = true streams its mail to. It is loaded into worker_conf
 * (cmd/conf.c points the section there), so the crypto threads see it in
 * the same snapshot as the rules, and a reload changes both at once.
 */
struct worker_scan_conf {
	char   *clamd;			/* "/path/clamd.ctl" or "IP:port"; "": none */
	int64_t	timeout_ms;		/* one whole scan: connect, stream, verdict */
	uint64_t max_size;		/* larger messages are not sent (on_too_large) */
	int	on_too_large;		/* enum sg_rule_fail, named as on_virus */
	int64_t	retry_ms;		/* on_scan_failure = defer: scanned again after */
	int64_t	max_defer_ms;		/* since arrival; then held instead */
	char   *header;			/* the result header's name */
};

extern const struct sg_conf_row worker_scan_conf_rows[];

/* a header field name we write: printable, no blank, no colon, 1..64 */
bool	worker_field_name(const char *s);

/*
 * clamd's reply to zINSTREAM (worker/scan_reply.c): p is what clamd
 * sent, up to and without its terminating NUL, with its explicit
 * length. worker_scan_reply_parse() fills r and returns 0, or SG_EPROTO
 * for a reply that is none of "stream: OK", "stream: NAME FOUND",
 * "INSTREAM size limit exceeded. ERROR" or "... ERROR". The name and the
 * error text are made printable and cut to their buffers.
 */
enum worker_scan_verdict {
	WORKER_SCAN_CLEAN,
	WORKER_SCAN_FOUND,		/* name says what */
	WORKER_SCAN_SIZE_LIMIT,		/* clamd's StreamMaxLength is smaller than max_size */
	WORKER_SCAN_ERROR,		/* text says what */
};

#define WORKER_SCAN_NAME_MAX	128	/* a signature name we keep */

struct worker_scan_reply {
	int	verdict;		/* enum worker_scan_verdict */
	char	name[WORKER_SCAN_NAME_MAX];
	char	text[160];
};

int	worker_scan_reply_parse(const char *p, size_t len, struct worker_scan_reply *r);

/*
 * The clamd address as configured (worker/scan_conf.c), read with its
 * explicit length: an absolute path to clamd's Unix socket, or a numeric
 * IPv4 or [IPv6] address with a port (no name: a DNS look-up would make
 * every scan wait for a resolver). 0 or SG_EINVAL.
 */
struct worker_scan_addr {
	struct sockaddr_storage sa;
	socklen_t salen;
};

int	worker_scan_addr_parse(const char *p, size_t len, struct worker_scan_addr *a);

/* The "worker = { ... };" section of the configuration. */
struct worker_conf {
	int64_t	threads;		/* crypto threads; 0: one per core */
	int64_t	batch;			/* messages claimed per lease */
	struct sg_conf_array rules;	/* of struct sg_rule, first match wins */
	struct sg_conf_array profiles;	/* of struct worker_profile */
	char   *result_header;		/* verification result header name */
	char   *notify;			/* incident notification address; "": none */
	int64_t	notify_max_per_hour;	/* notification mails per hour at most */
	int64_t	housekeeping_ms;	/* reader check + tracking prune period */
	struct worker_scan_conf scan;	/* the "scan" section, not a worker key */
};

extern const struct sg_conf_row worker_conf_rows[];

/*
 * MIME framing (worker/mime.c). Every function reads its input with an
 * explicit length and expects canonical CRLF line ends (worker_mime_canon
 * makes them); none keeps a pointer after it returns except where a
 * struct says it points into the input.
 */
#define WORKER_MIME_DEPTH	16	/* nesting of multiparts we follow */
#define WORKER_MIME_PARTS	256	/* parts of one multipart */
#define WORKER_MIME_FIELD_MAX	(64 * 1024)	/* one unfolded header field */
#define WORKER_MIME_LINE_MAX	998	/* octets a line, CRLF not counted (RFC 5322) */

enum worker_cte {
	WORKER_CTE_7BIT,		/* also: none given */
	WORKER_CTE_8BIT,
	WORKER_CTE_BINARY,
	WORKER_CTE_QP,
	WORKER_CTE_BASE64,
	WORKER_CTE_OTHER,
};

/* One header field; pointers into the header block. */
struct worker_mime_field {
	const char *name;
	size_t	nlen;
	const char *value;		/* after the colon, folding kept */
	size_t	vlen;			/* without the final CRLF */
	size_t	off, len;		/* whole field with its CRLF */
};

/* One entity (message or body part); p points into the caller's bytes. */
struct worker_mime_entity {
	const char *p;
	size_t	len;
	size_t	hdr_len;		/* header fields, each with its CRLF */
	size_t	body_off;		/* after the empty line; len if none */
	char	type[32], subtype[64];	/* lower case; text/plain by default */
	char	boundary[72];		/* multipart only */
	char	protocol[64];		/* lower case */
	char	smime_type[32];		/* lower case */
	char	name[64];		/* name parameter, lower case */
	int	cte;			/* enum worker_cte */
};

struct worker_mime_span {
	size_t	off, len;
};

int	worker_mime_canon(const char *p, size_t len, struct sg_buf *out);
int	worker_mime_field_next(const char *hdr, size_t len, size_t *pos,
			       struct worker_mime_field *f);
bool	worker_mime_field_is(const struct worker_mime_field *, const char *name);
int	worker_mime_parse(const char *p, size_t len, struct worker_mime_entity *e);
int	worker_mime_parts(const struct worker_mime_entity *e,
			  struct worker_mime_span *parts, size_t max, size_t *n);
int	worker_mime_to_7bit(const char *p, size_t len, struct sg_buf *out);
/* worker_mime_to_7bit() plus RFC 8551 3.1.1: no blank at a line's end, no "From " */
int	worker_mime_protect(const char *p, size_t len, struct sg_buf *out);
int	worker_mime_split(const char *p, size_t len, const char *drop,
			  struct sg_buf *outer, struct sg_buf *entity);
void	worker_mime_base64_encode(const void *p, size_t len, struct sg_buf *out);
int	worker_mime_base64_decode(const char *p, size_t len, struct sg_buf *out);
void	worker_mime_qp_encode(const char *p, size_t len, struct sg_buf *out);

/*
 * Over-long lines (worker/mime_legal.c). worker_mime_long() tells whether
 * a line is over WORKER_MIME_LINE_MAX; worker_mime_legal() appends a copy
 * in which none is, re-encoding or folding only what has to change, and
 * sets *how (may be NULL) to what it did. It never fails.
 */
#define WORKER_LEGAL_FOLDED	(1u << 0)	/* a header line folded at white space */
#define WORKER_LEGAL_QP		(1u << 1)	/* a text body made quoted-printable */
#define WORKER_LEGAL_BASE64	(1u << 2)	/* a body made base64 */
#define WORKER_LEGAL_REWRAPPED	(1u << 3)	/* encoded lines re-wrapped, same content */
#define WORKER_LEGAL_BROKEN	(1u << 4)	/* lines broken with CRLF SP (as Postfix) */

bool	worker_mime_long(const char *p, size_t len);
int	worker_mime_legal(const char *p, size_t len, struct sg_buf *out, unsigned *how);

/*
 * S/MIME with NSS's CMS library (worker/smime*.c). NSS must be initialised
 * (certs_open) before any of these is called; all are thread-safe. Each
 * takes a whole message (header and body, any line ends) with its
 * length and appends a whole canonical CRLF message to out. Certificates
 * are NSS's CERTCertificate, named here without including NSS.
 */
struct CERTCertificateStr;
struct worker_signer;

#define WORKER_SIGNERS_MAX	8	/* signer infos we look at */
#define WORKER_DIGESTS_MAX	8	/* digest algorithms a signature may list */
#define WORKER_CERTS_MAX	64	/* certificates a signature may carry */
#define WORKER_CHAIN_MAX	8	/* a signer and its issuers, kept */

/*
 * worker_signer_new() caches everything signing needs from a key-bearing
 * certificate, so no message pays a key lookup or a login: the cert, a
 * reference to its private key as certs_private_key() or
 * certs_key_in_memory() gave it (the key's owner keeps it alive for the
 * signer's life), and enc for the encryption-key preference (NULL: cert if
 * it may encrypt, else no preference: a seal may be for signing only).
 * Returns 0, SG_ENOTFOUND (no key) or SG_ECRYPTO.
 */
struct SECKEYPrivateKeyStr;
int	worker_signer_new(struct CERTCertificateStr *cert, struct SECKEYPrivateKeyStr *key,
			  struct CERTCertificateStr *enc, struct worker_signer **out);
void	worker_signer_free(struct worker_signer *);
/* The signer's certificate (borrowed). */
struct CERTCertificateStr *worker_signer_cert(const struct worker_signer *);

/* Hash functions, signature algorithms, capabilities (worker.profiles). */
enum worker_hash {
	WORKER_HASH_SHA1,		/* read only: OAEP and KDF defaults */
	WORKER_HASH_SHA256,
	WORKER_HASH_SHA384,
	WORKER_HASH_SHA512,
};

enum worker_sigalg {
	WORKER_SIGALG_PKCS1,		/* RSA PKCS#1 v1.5 */
	WORKER_SIGALG_PSS,		/* RSASSA-PSS, MGF1 and salt from the hash */
};

/* Content encryption, weakest first (an upgrade only ever moves right). */
enum worker_content {
	WORKER_CE_AES128_CBC,
	WORKER_CE_AES256_CBC,
	WORKER_CE_AES128_GCM,		/* AuthEnvelopedData (RFC 5083, 5084) */
	WORKER_CE_AES256_GCM,
};

/* RSA key transport, weakest first. */
enum worker_kt {
	WORKER_KT_PKCS1,		/* rsaEncryption, PKCS#1 v1.5 */
	WORKER_KT_OAEP_SHA1,		/* RSAES-OAEP with the defaults (RFC 3560) */
	WORKER_KT_OAEP_SHA256,		/* RSAES-OAEP, SHA-256 and MGF1-SHA-256 */
};

/* What a signature advertises in SMIMECapabilities (cms_caps.c). */
#define WORKER_CAP_AES256_GCM	(1u << 0)
#define WORKER_CAP_AES128_GCM	(1u << 1)
#define WORKER_CAP_AES256_CBC	(1u << 2)
#define WORKER_CAP_AES128_CBC	(1u << 3)
#define WORKER_CAP_OAEP_SHA256	(1u << 4)
#define WORKER_CAP_OAEP_SHA1	(1u << 5)
#define WORKER_CAP_RSA		(1u << 6)	/* rsaEncryption: PKCS#1 v1.5 key transport */
/* What inbound decryption accepts: the content algorithms advertised. */
#define WORKER_CAPS_CONTENT	(WORKER_CAP_AES256_GCM | WORKER_CAP_AES128_GCM | \
				 WORKER_CAP_AES256_CBC | WORKER_CAP_AES128_CBC)
#define WORKER_CAPS_ACCEPTED	(WORKER_CAPS_CONTENT | WORKER_CAP_OAEP_SHA256 | \
				 WORKER_CAP_OAEP_SHA1 | WORKER_CAP_RSA)

struct worker_sign_spec {
	int	form;			/* enum sg_rule_signature */
	int	alg;			/* enum worker_sigalg; EC keys sign ECDSA */
	int	hash;			/* enum worker_hash, SHA-256 or stronger */
	unsigned caps;			/* WORKER_CAP_* to advertise */
};

/*
 * worker_smime_sign() makes the entity 7-bit safe and signs it as spec
 * says: detached (multipart/signed, micalg from the hash) or opaque
 * (signed-data). spec NULL: detached, PKCS#1 v1.5 (ECDSA for EC keys),
 * SHA-256, WORKER_CAPS_ACCEPTED. SG_EINVAL: the message is not valid
 * MIME.
 */
int	worker_smime_sign(const struct worker_signer *, const struct worker_sign_spec *spec,
			  const char *msg, size_t len, struct sg_buf *out);

/*
 * The algorithms for one recipient (worker/profile.c). worker_algs_for()
 * resolves them for rcpt under rule (index into conf->rules, -1: none):
 * the first profile whose recipients match rcpt, else the rule's
 * profile, else "default" (a profile of that name, or the built-in one:
 * PKCS#1 v1.5 and SHA-256); a rule's profile is also the minimum, each
 * algorithm raised to it where the partner's profile is weaker.
 * worker_algs_sign() is the signing part of that as a worker_sign_spec:
 * the capabilities advertise every content algorithm inbound decryption
 * takes, and the recipient's key transport and the stronger ones.
 */
struct worker_algs {
	char	profile[64];		/* the profile that decided; "default";
					 * "partner+rule" when raised */
	bool	raised;			/* a rule's minimum raised something */
	int	sigalg;			/* enum worker_sigalg */
	int	hash;			/* enum worker_hash */
	int	content;		/* enum worker_content */
	int	kt;			/* enum worker_kt */
	bool	upgrade;		/* the profile lets capabilities raise them */
	unsigned upgraded;		/* WORKER_UP_*: what capabilities raised */
};

#define WORKER_UP_CONTENT	(1u << 0)
#define WORKER_UP_KT		(1u << 1)

void	worker_algs_for(const struct worker_conf *, int rule, const char *rcpt,
			struct worker_algs *);
/*
 * worker_algs_upgrade() raises content encryption and key transport to
 * the strongest that a partner's advertised capabilities (caps,
 * WORKER_CAP_* from a harvested signature, certs_caps()) name and we
 * write, if algs->upgrade; it never lowers anything, so never below a
 * rule's minimum.
 */
void	worker_algs_upgrade(struct worker_algs *, unsigned caps);
void	worker_algs_sign(const struct worker_algs *, int form, struct worker_sign_spec *);

/*
 * worker_smime_encrypt() wraps the entity in enveloped-data (AES-CBC) or
 * authEnveloped-data (AES-GCM) as content (enum worker_content) says,
 * with one recipient info per recipient: RSA key transport as its kt
 * says (enum worker_kt). The encrypted data is ours (cms_env.c), not
 * NSS's. SG_EUNSUPPORTED: a recipient's key cannot receive
 * (certs_receive_check).
 */
struct worker_recipient {
	struct CERTCertificateStr *cert;
	int	kt;			/* enum worker_kt, for an RSA key */
};

int	worker_smime_encrypt(const struct worker_recipient *, size_t n, int content,
			     const char *msg, size_t len, struct sg_buf *out);
/* worker_recipient_desc() says how the content key reaches cert under algs. */
void	worker_recipient_desc(struct CERTCertificateStr *cert, const struct worker_algs *,
			      char *buf, size_t len);

/*
 * worker_smime_decrypt() decrypts a root-level enveloped-data entity
 * (application/pkcs7-mime, x-pkcs7-mime, or octet-stream named *.p7m)
 * with a key of certs (NULL: any key NSS finds, for tests), and puts the
 * plaintext entity in its place. Accepted: AuthEnvelopedData with
 * AES-GCM (a 12-byte nonce, a 16-byte tag, authenticated attributes as
 * AAD), AES-CBC (128, 192, 256) and 3DES content encryption; RSA key
 * transport with PKCS#1 v1.5 or RSAES-OAEP (SHA-1 to SHA-512). SG_ENOTFOUND: the root is not
 * enveloped-data (nothing done; a nested encrypted part is never
 * decrypted, see EFAIL). SG_ECRYPTO: it could not be decrypted; reason
 * says why.
 */
struct certs;
int	worker_smime_decrypt(struct certs *, const char *msg, size_t len, struct sg_buf *out,
			     char *reason, size_t reasonlen);

enum worker_sig_status {
	WORKER_SIG_UNSIGNED,
	WORKER_SIG_VALID,
	WORKER_SIG_INVALID,
};

/*
 * A valid signer's certificate, then its issuers up to but not including
 * the trust anchor. The issuers may be temporary certificates that came
 * with the message: holding them keeps them findable, so that the chain
 * can be harvested after the CMS message is gone.
 */
struct worker_chain {
	struct CERTCertificateStr *cert[WORKER_CHAIN_MAX];
	size_t	n;
};

/* What worker_smime_verify() found. */
struct worker_verdict {
	int	status;			/* enum worker_sig_status */
	char	reason[160];		/* INVALID: why */
	char	signer[256];		/* e-mail address of the (first bad) signer */
	int64_t	signing_time;		/* ms since the epoch; 0: none */
	struct worker_chain harvest[WORKER_SIGNERS_MAX];
	size_t	nharvest;		/* VALID: the signers, to keep */
	bool	issuers;		/* the call's harvest: chains with issuers */
	/* VALID: each signer's SMIMECapabilities as WORKER_CAP_* bits; 0 none */
	unsigned caps[WORKER_SIGNERS_MAX];
};

/*
 * worker_smime_verify() verifies a root-level signature (detached or
 * opaque; an opaque one is unwrapped) and writes the message to out with
 * the result in header field "header", every copy of which arriving with
 * the message is removed first. Valid means: every signer's signature is
 * good, the signer's chain is valid now for e-mail signing (certs_check()
 * under c's revocation policy; c NULL: as configured in NSS), and some
 * signer's certificate carries the From
 * address. A valid signer's advertised capabilities are in caps[] and
 * the signer in harvest[] (with harvest, also the issuers the message
 * brought, unless the signer is stored already: what certs_harvest()
 * keeps; looking them up costs database reads, so only when asked). A
 * signature anywhere but at the root is "unsigned". A message
 * that is not valid MIME is "invalid" (and still loses every copy of the
 * header field). Returns 0 with *v filled; free it with
 * worker_verdict_free().
 */
struct certs;
int	worker_smime_verify(struct certs *c, const char *msg, size_t len, const char *header,
			    bool harvest, struct sg_buf *out, struct worker_verdict *v);
void	worker_verdict_free(struct worker_verdict *);

/*
 * worker_smime_strip() unwraps a root multipart/signed (the user's own
 * signature) to its first part. SG_ENOTFOUND: not signed at the root.
 */
int	worker_smime_strip(const char *msg, size_t len, struct sg_buf *out);

/*
 * The worker role (worker/agent.c, pool.c, process.c). The agent owns a
 * pool of crypto threads that claim batches from the queue's inbox under
 * a lease, apply the rules to each message and complete the batch in one
 * group commit (processed body, split per rule, held as an incident, or
 * rejected with a notice to the sender). A wake-up datagram on the role's
 * socket, or a poll every second, starts a claim. Processing is
 * idempotent: a message claimed again after a crash is completed once
 * (queue_complete_batch). A slow timer clears stale LMDB reader slots and
 * prunes tracking records older than queue.track_keep, off the loop
 * thread; CRLs are fetched every certs.crl_fetch_interval.
 */
struct uv_loop_s;
struct queue;
struct certs;
struct worker_agent;

struct worker_agent_params {
	const struct worker_conf *conf;
	const struct sg_conf_main *main;
	const struct queue_conf *queue;
	const struct certs_conf *certs;
	const char *cluster_key_file;	/* a cluster's private keys; "" or NULL: none */
};

int	worker_agent_start(struct uv_loop_s *, const struct worker_agent_params *,
			   struct worker_agent **out);
void	worker_agent_reload(struct worker_agent *, const struct worker_agent_params *);
void	worker_agent_stop(struct worker_agent *);

/*
 * worker_run_once() is one pass of one crypto thread on the calling
 * thread: claim what the inbox holds (up to conf->batch at a time) and
 * process it, until it is empty. *processed counts the messages. For
 * tests and tools; the role uses the agent.
 */
int	worker_run_once(struct queue *, struct certs *, const struct worker_conf *,
			const char *hostname, size_t *processed);

/*
 * worker_cert_mac() gives a cluster certificate record a random nonce
 * and its mac under the cluster key file (HMAC-SHA256, certs_mac() over
 * queue_cert_mac_input() and the data): made where a record is made
 * (sealctl, a harvest), checked where it is applied (certsync.c).
 * SG_ENOTFOUND without a key file, SG_EINVAL for one shorter than 16
 * characters, or an error reading it.
 */
struct queue_cert_rec;
int	worker_cert_mac(const char *key_file, struct queue_cert_rec *);

/* Crypto actions done, in queue_env.crypto. */
#define WORKER_DID_DECRYPT	(1u << 0)
#define WORKER_DID_VERIFY	(1u << 1)
#define WORKER_DID_SIGN		(1u << 2)
#define WORKER_DID_ENCRYPT	(1u << 3)
#define WORKER_DID_STRIP	(1u << 4)
#define WORKER_DID_HARVEST	(1u << 5)

/*
 * worker_crypto_words() writes the actions in bits as words, in the order
 * they happen: "decrypted,verified,stripped,signed,encrypted,harvested";
 * "none" for 0. Returns buf, cut at len - 1.
 */
#define WORKER_CRYPTO_WORDS_MAX 64
const char *worker_crypto_words(uint32_t bits, char *buf, size_t len);

#endif
