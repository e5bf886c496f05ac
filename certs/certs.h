#ifndef CERTS_H
#define CERTS_H

/*
 * NAME
 *	certs 3h
 * SUMMARY
 *	NSS: certificate database, lookup, revocation, PKCS#11, TLS sessions
 * SYNOPSIS
 *	#include "certs/certs.h"
 * DESCRIPTION
 *	The one public header of certs/. certs/ owns everything NSS except
 *	the CMS (S/MIME) transforms.
 *
 *	NSS is process-global: a process opens at most one struct certs, with
 *	certs_open(), after fork/exec and before it starts threads, and
 *	closes it with certs_close() after its threads have ended and every
 *	object obtained from this header has been freed.
 *
 *	Blocking: functions marked BLOCKS may wait on the network (OCSP, CRL
 *	fetch over HTTP) or on a token; never call them on an event-loop
 *	thread (use uv_queue_work). Everything in the TLS session API is
 *	non-blocking and does no network I/O of its own.
 *
 *	Who opens how:
 *	  smtpd     CERTS_RDONLY | CERTS_KEYS | CERTS_TLS
 *	                                       certs_tls_server_new, accept
 *	  delivery  CERTS_RDONLY | CERTS_PUBLIC
 *	                                       certs_tls_connect
 *	  worker    CERTS_KEYS (read-write)    lookups, harvest, CRL timer
 *	  sealctl   per command                import, list, check, ...
 *	The read-write process creates the database when it is missing.
 *	Only the worker (and sealctl) ever open the S/MIME key store: smtpd
 *	opens tls_db_dir when set, delivery only the public part.
 *	Changes made by another process (sealctl) reach a running role's
 *	lookups within lookup_cache_ttl, and its CRL checks within about a
 *	minute (NSS re-reads CRLs from the database every 60 s).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#include "common/sg.h"

/* The "certs = { ... };" section of the configuration. */
struct certs_pkcs11_conf {
	char   *name;			/* module name, for logs and NSS */
	char   *library;		/* path of the PKCS#11 module (.so) */
	char   *token;			/* token label to use on it */
	char   *pin_file;		/* file holding the token's PIN; "": none */
};

enum certs_revocation_policy {
	CERTS_REV_SOFT_FAIL,		/* unknown status: logged, accepted */
	CERTS_REV_HARD_FAIL,		/* unknown status: invalid */
	CERTS_REV_OFF,			/* no revocation checks at all */
};

enum certs_tls_version_conf {
	CERTS_TLS_1_2,
	CERTS_TLS_1_3,
};

struct certs_conf {
	char   *db_dir;			/* NSS sql: database; "": STATE_DIR/nssdb */
	char   *tls_db_dir;		/* CERTS_TLS opens this one; "": db_dir */
	char   *password_file;		/* key database password; "": none */
	int	revocation;		/* enum certs_revocation_policy */
	bool	ocsp;			/* ask OCSP responders (AIA or default) */
	char   *ocsp_responder;		/* default responder URL; "": use AIA */
	char   *ocsp_responder_cert;	/* nickname of its signing cert */
	int64_t	ocsp_timeout;		/* ms, per request */
	int64_t	crl_fetch_interval;	/* ms between CRL fetches; 0: never */
	int64_t	crl_fetch_timeout;	/* ms, per download */
	int64_t	lookup_cache_ttl;	/* ms a recipient lookup is reused; 0: off */
	struct sg_conf_array pkcs11;	/* of struct certs_pkcs11_conf */
	char   *tls_cert;		/* server certificate nickname; "": none */
	struct sg_strlist tls_sni_certs; /* more server certs, chosen by SNI */
	int	tls_min_version;	/* enum certs_tls_version_conf */
	int	tls_max_version;	/* enum certs_tls_version_conf */
	int64_t	tls_session_timeout;	/* ms a server session stays resumable */
	uint64_t tls_buffer_size;	/* bytes of ciphertext buffered each way */
};

extern const struct sg_conf_row certs_conf_rows[];

/*
 * Process set-up.
 *
 * certs_open() initialises NSS on the database of conf (creating the
 * directory and an empty database when opened read-write and missing),
 * reads the password file, logs in to the internal token and to every
 * configured PKCS#11 token when CERTS_KEYS is given, and applies the
 * revocation settings. Returns 0 and *out, or SG_EIO (database cannot be
 * opened), SG_EPASSWORD (wrong password or PIN), SG_ENOTFOUND (module or
 * token missing), SG_EBUSY (already open in this process). BLOCKS
 * (file system, token).
 *
 * With CERTS_TLS the database is tls_db_dir when one is configured: a
 * separate database for the TLS server key, so the internet-facing smtpd
 * never opens the one holding the S/MIME keys (with both in one
 * database, smtpd could use every key in it).
 *
 * With CERTS_INIT (read-write), a database that has no password gets the
 * one of password_file, so a password can be added later; *out's
 * certs_password_set() then says so. A database that has a password
 * keeps it (change it with certutil -W).
 *
 * With CERTS_PUBLIC (read-only, no CERTS_KEYS) the database's key store
 * (key4.db) is never opened: NSS gets an empty one beside it
 * (nokeys-key4.db, made by any read-write open) and no PKCS#11 modules,
 * so the process sees certificates, their trust and CRLs, and no private
 * key (delivery: trust anchors for TLS, nothing to steal). A database no
 * read-write open has prepared yet is SG_ENOTFOUND.
 *
 * Ownership. Run as root with a user configured (sg_conf_worker_ids()),
 * the database directory must be a directory (not a symbolic link) owned
 * by root or, for the main database, by the worker's user, and writable
 * by its owner alone (else SG_EDENIED: root never opens what another user
 * could have planted). A read-write open of the main database hands the
 * directory (0700) and the files in it (NSS's and sealgate-certs.*, 0600)
 * to the worker's user, at open and again at close, so a database sealctl
 * made or changed as root stays the worker's; tls_db_dir stays root's.
 * Run as any other user, a process opens only a directory root or that
 * user owns, which others may not write (the worker: never a database
 * smtpd's user put in the state directory). Root without users: no check.
 *
 * certs_close() ends NSS; returns 0, or SG_EBUSY when some reference was
 * not freed (a bug in the caller; NSS then stays initialised).
 *
 * certs_secrets_preload() reads password_file and every pin_file now, so
 * that a later certs_open() takes them from memory: a process that drops
 * privileges before it opens the database (the worker) needs no access to
 * those files. certs_close() forgets them (zeroed). 0, or as reading
 * failed (SG_ENOTFOUND, SG_EIO, SG_ELIMIT).
 */
#define CERTS_RDONLY	(1u << 0)	/* read-only database (smtpd, delivery) */
#define CERTS_KEYS	(1u << 1)	/* log in, load PKCS#11 modules */
#define CERTS_INIT	(1u << 2)	/* sealctl cert init: see below */
#define CERTS_TLS	(1u << 3)	/* open tls_db_dir (smtpd's own keys) */
#define CERTS_PUBLIC	(1u << 4)	/* no key store at all (delivery) */

struct certs;

int	certs_open(const struct sg_conf_main *, const struct certs_conf *,
		   unsigned flags, struct certs **out);
int	certs_close(struct certs *);
/* The directory of the database in use (valid until certs_close). */
const char *certs_db_dir(const struct certs *);
/* True when this certs_open() put the password on the database. */
bool	certs_password_set(const struct certs *);
int	certs_secrets_preload(const struct certs_conf *);

/*
 * certs_read_secret() reads a password or PIN file (its first line, at
 * most 1 KiB) or returns what certs_secrets_preload() read from it; NULL
 * with *err set when it cannot. certs_free_secret() zeroes and frees it.
 * (Also for the cluster's database password: one reader of secrets.)
 */
char   *certs_read_secret(const char *file, int *err);
void	certs_free_secret(char *);

/*
 * certs_seal() appends in, sealed under secret (AES-256-GCM, a random
 * nonce), to out; certs_unseal() appends the plaintext of a sealed in
 * (untrusted) to out. 0, SG_EINVAL, SG_ECRYPTO (wrong key, changed byte).
 * For a cluster's private keys (certs_seal.c). NSS must be initialised.
 */
int	certs_seal(const char *secret, const void *in, size_t len, struct sg_buf *out);
int	certs_unseal(const char *secret, const void *in, size_t len, struct sg_buf *out);
/* certs_mac() is HMAC-SHA256 over head then data under secret (certs_seal.c). */
int	certs_mac(const char *secret, const void *head, size_t hlen, const void *data,
		  size_t dlen, unsigned char mac[32]);

/*
 * Certificates are NSS's CERTCertificate and keys SECKEYPrivateKey, named
 * here without including NSS. Every certificate or key this header hands
 * out is a new reference: CERT_DestroyCertificate() or
 * SECKEY_DestroyPrivateKey() it (certs_close() fails while one is held).
 */
struct CERTCertificateStr;
struct SECKEYPrivateKeyStr;

/*
 * certs_private_key() returns cert's private key in a form whose use
 * costs no database read or key derivation: a key of the database is
 * copied once per process into memory (see certs_keys.c); keys on
 * PKCS#11 tokens stay there. NULL when there is none. Thread-safe.
 */
struct SECKEYPrivateKeyStr *certs_private_key(struct certs *, struct CERTCertificateStr *);

/*
 * certs_key_named() is the key of those certs_private_key() has handed
 * out already whose certificate has this issuer (DER Name) and serial
 * number (the INTEGER's content octets), and that certificate in *cert
 * (destroy both): the recipient identifier of encrypted mail resolved
 * without a database read. NULL when none matches: look the certificate
 * up and ask certs_private_key(). Thread-safe.
 */
struct SECItemStr;
struct SECKEYPrivateKeyStr *certs_key_named(struct certs *, const struct SECItemStr *issuer,
					    const struct SECItemStr *serial,
					    struct CERTCertificateStr **cert);

/*
 * certs_key_in_memory() copies a key of NSS's internal token into memory
 * (a session object) such that NSS's copies of it are cheap references;
 * NULL for a key on another token. certs_key_in_memory_free() frees the
 * copy; no reference to it may be used afterwards. For a process that
 * signs with one key all its life (see certs_keys.c).
 */
struct SECKEYPrivateKeyStr *certs_key_in_memory(struct SECKEYPrivateKeyStr *);
void	certs_key_in_memory_free(struct SECKEYPrivateKeyStr *);

/*
 * Import.
 *
 * certs_import() adds the certificates or the PKCS#12 bundle in buf to
 * the database. All of it is decoded and checked before anything is
 * stored, so on error the database is unchanged. Returns 0, SG_EPASSWORD
 * (PKCS#12 password wrong or missing), SG_ECORRUPT (damaged content),
 * SG_EUNSUPPORTED (neither certificates nor PKCS#12, or --gateway on a
 * certificate without key), SG_ELIMIT (over 16 MiB, over 64 certificates,
 * or a PKCS#12 key derivation of more than 1,000,000 iterations),
 * SG_EDENIED (read-only), SG_EIO. err gets a one-line reason. BLOCKS
 * (database).
 *
 * Rules: a certificate that comes with its private key replaces the
 * key-less certificates of the same e-mail addresses (they are deleted);
 * ca makes the leaf certificates (or a PKCS#12's CA certificates) trust
 * anchors for e-mail and TLS; gateway (a domain) makes the imported
 * key-bearing certificate the gateway certificate of that domain.
 */
enum certs_format {
	CERTS_FMT_AUTO,			/* PEM, DER, PKCS#7 certs, else PKCS#12 */
	CERTS_FMT_CERTS,		/* .pem .crt .cer .der: one or several */
	CERTS_FMT_PKCS12,		/* .p12 .pfx */
};

struct certs_import_opts {
	int	format;			/* enum certs_format */
	const char *password;		/* PKCS#12; NULL: none */
	bool	ca;
	const char *gateway;		/* domain, or NULL */
	bool	check_only;		/* decode and check; store nothing */
};

struct certs_import_result {
	size_t	certs;			/* certificates stored */
	size_t	existed;		/* of those, already in the database */
	size_t	keys;			/* private keys stored */
	size_t	replaced;		/* key-less certificates removed */
	char	nickname[128];		/* of the (first) leaf */
	char	no_receive[200];	/* why the leaf cannot receive encrypted mail;
				 * "": it can (certs_receive_check()) */
	char	unusable[240];		/* why NSS cannot use the leaf's key at all
				 * (certs_key_usable()); "": it can */
};

int	certs_import(struct certs *, const void *buf, size_t len,
		     const struct certs_import_opts *, struct certs_import_result *,
		     char *err, size_t errlen);
/*
 * certs_receive_check() tells whether mail can be encrypted to cert (and
 * decrypted with its key) as far as its key type goes: 0, or
 * SG_EUNSUPPORTED with the reason in why ("certificate key type not
 * supported for encryption: EC P-256 (...)"). Validity and key usage are
 * certs_check()'s. certs_key_desc() writes the key as "RSA-2048",
 * "EC P-256", ...
 */
int	certs_receive_check(struct CERTCertificateStr *cert, char *why, size_t len);
int	certs_key_desc(struct CERTCertificateStr *cert, char *buf, size_t len);
/* certs_key_usable(): 0, or SG_EUNSUPPORTED for a key NSS cannot use at all (brainpool). */
int	certs_key_usable(struct CERTCertificateStr *cert, char *why, size_t len);

/* The format a file name suggests by its extension. */
int	certs_format_of(const char *filename);

/* certs_crl_import() stores a CRL (DER or PEM). Returns as above. */
int	certs_crl_import(struct certs *, const void *buf, size_t len, char *err, size_t errlen);

/*
 * certs_crl_list() calls fn for each CRL stored in the database; fn != 0
 * stops (and is returned). SG_EIO: the database cannot be read.
 */
struct certs_crl_desc {
	char	issuer[256];
	int64_t	this_update;		/* seconds since the epoch */
	int64_t	next_update;		/* 0: none given */
	size_t	entries;		/* revoked certificates listed */
};

int	certs_crl_list(struct certs *, int (*fn)(const struct certs_crl_desc *, void *), void *arg);

/*
 * Description, listing, removal.
 *
 * An ID names one certificate: its nickname, its SHA-256 fingerprint in
 * hex (or a unique prefix of at least 8 digits; the list shows 16), or
 * an e-mail address held by exactly one certificate.
 */
#define CERTS_EMAILS_MAX 8

struct certs_desc {
	char	id[17];			/* first 16 hex digits of the SHA-256 */
	char	fingerprint[65];	/* SHA-256, hex */
	char	nickname[128];
	char	token[64];		/* "" for the database itself */
	char	subject[256];
	char	issuer[256];
	char	serial[80];		/* hex */
	char	emails[CERTS_EMAILS_MAX][128];
	size_t	nemails;
	int64_t	not_before, not_after;	/* seconds since the epoch */
	bool	key;			/* private key present */
	bool	ca;			/* a CA certificate */
	char	trust[32];		/* NSS trust flags "SSL,EMAIL,CODE", or "" */
	bool	harvested;
	int64_t	harvested_at;		/* seconds since the epoch; 0: imported */
	char	gateway[256];		/* domains it is the gateway cert of, space-separated */
};

int	certs_describe(struct certs *, struct CERTCertificateStr *, struct certs_desc *);
/* certs_list() calls fn for each certificate (nickname order); fn != 0 stops. */
int	certs_list(struct certs *, int (*fn)(const struct certs_desc *, void *), void *arg);
/* certs_find() resolves an ID: 0, SG_ENOTFOUND, SG_EEXIST (ambiguous). */
int	certs_find(struct certs *, const char *id, struct CERTCertificateStr **out);
/* certs_remove() deletes the certificate (and its key) by ID. BLOCKS. */
int	certs_remove(struct certs *, const char *id);
/* certs_cert_free() is CERT_DestroyCertificate() for callers without NSS. */
void	certs_cert_free(struct CERTCertificateStr *);
/* certs_export_pem() appends the certificate as PEM. */
int	certs_export_pem(struct CERTCertificateStr *, struct sg_buf *out);

/*
 * Validity and revocation. BLOCKS (OCSP, up to ocsp_timeout).
 *
 * certs_check() validates cert now for usage: chain to a trusted anchor,
 * validity period, then revocation: a CRL in the database decides; else
 * OCSP (AIA URL or the configured default responder, with NSS's cache).
 * valid follows the configured policy: an unknown status makes the
 * certificate invalid under hard-fail and valid (warning set) under
 * soft-fail. A good verdict is kept for lookup_cache_ttl and reused
 * (a CRL imported by another process counts once it ends). Returns 0
 * (the verdict is in *out) or SG_EINVAL.
 */
enum certs_usage {
	CERTS_USE_SIGN,			/* e-mail signer */
	CERTS_USE_ENCRYPT,		/* e-mail recipient */
	CERTS_USE_TLS_SERVER,
};

enum certs_rev {
	CERTS_REV_NOT_CHECKED,		/* policy off, or chain invalid before */
	CERTS_REV_GOOD,
	CERTS_REV_REVOKED,
	CERTS_REV_UNKNOWN,		/* no CRL, responder unreachable, ... */
};

struct certs_check {
	bool	valid;
	bool	warning;		/* valid only because of soft-fail */
	int	rev;			/* enum certs_rev */
	char	rev_source[8];		/* "crl", "ocsp" or "" */
	char	reason[160];		/* why invalid or unknown; "" when good */
};

int	certs_check(struct certs *, struct CERTCertificateStr *, int usage, struct certs_check *);

/*
 * certs_known_good() is the certificate with this DER encoding if
 * certs_check() found it good for usage within lookup_cache_ttl (its
 * verdict is kept: certs_vcache.c), referenced; else NULL. Costs a hash,
 * no decoding and no database read. Thread-safe.
 */
struct CERTCertificateStr *certs_known_good(struct certs *, const void *der, size_t len,
					    int usage);
const char *certs_rev_name(int rev);	/* "good", "revoked", ... */

/*
 * Lookup for the worker. BLOCKS (certs_check).
 *
 * certs_find_signer() picks the signing certificate for a sender: the
 * sender's own valid certificate with a private key (the newest), else
 * the gateway certificate of the sender's domain. *gateway says which.
 * The key is certs_private_key()'s. Returns 0, SG_ENOTFOUND.
 */
struct certs_signer {
	struct CERTCertificateStr *cert;
	struct SECKEYPrivateKeyStr *key;
	bool	gateway;
	struct certs_check check;
};

int	certs_find_signer(struct certs *, const char *sender, struct certs_signer *);
void	certs_signer_free(struct certs_signer *);

/*
 * certs_find_recipient() lists the candidates for encrypting to rcpt:
 * every certificate of the address, then the gateway certificate of its
 * domain, each with its check. The caller encrypts to the valid ones
 * (the recipient's own newest valid one; the gateway one when the
 * recipient has none) and records the others. Returns 0 (n may be 0).
 * Results, verdicts included, are reused for lookup_cache_ttl (per
 * process, at most 4096 addresses): a lookup costs database queries.
 */
struct certs_candidate {
	struct CERTCertificateStr *cert;
	bool	gateway;
	struct certs_check check;
};

struct certs_candidates {
	size_t	n;
	struct certs_candidate *v;
};

int	certs_find_recipient(struct certs *, const char *rcpt, struct certs_candidates *);
/* certs_lookup_forget() empties certs_find_recipient()'s cache (the database changed). */
void	certs_lookup_forget(struct certs *);
/*
 * certs_lookup_ttl() is lookup_cache_ttl in ms: how long a caller may keep
 * what it looked up (a signer) before asking the database again.
 */
int64_t	certs_lookup_ttl(const struct certs *);
/*
 * certs_stored() says whether cert is in the database, asked of the token
 * once per lookup_cache_ttl: NSS's cert->isperm can be an hour stale.
 */
bool	certs_stored(struct certs *, struct CERTCertificateStr *);
void	certs_candidates_free(struct certs_candidates *);

/*
 * certs_harvest() keeps the certificates of a verified signature:
 * v[0] the signer, the rest intermediates. The signer must be valid now
 * for e-mail signing (chain to a trusted CA; not revoked per the
 * policy) and not signed with MD5 or SHA-1. Certificates only, never a
 * key; marked harvested with the date. Returns 0 (stored), SG_EEXIST
 * (already there), SG_ECRYPTO (not trustworthy; err says why), SG_EDENIED
 * (read-only database). BLOCKS.
 */
int	certs_harvest(struct certs *, struct CERTCertificateStr *const *v, size_t n,
		      char *err, size_t errlen);

/*
 * S/MIME capabilities a partner advertised (certs_meta.c), an opaque bit
 * mask kept per address beside the database: certs_caps_update() stores
 * it (no write when unchanged; SG_EDENIED read-only), certs_caps() reads
 * it (0, SG_ENOTFOUND). Cheap: a stat per look-up. BLOCKS (file system).
 */
int	certs_caps(struct certs *, const char *address, unsigned *caps);
int	certs_caps_update(struct certs *, const char *address, unsigned caps);

/*
 * certs_gateways() calls fn once for each domain that has a gateway
 * certificate in the database, with that certificate (borrowed for the
 * call). Returns 0 or the error of reading the gateway list. BLOCKS.
 */
int	certs_gateways(struct certs *, void (*fn) (const char *domain,
						   struct CERTCertificateStr *cert, void *arg),
		       void *arg);

/*
 * CRLs from distribution points. BLOCKS (HTTP, crl_fetch_timeout each).
 *
 * certs_crl_fetch() downloads the CRL of every http:// distribution
 * point named by a certificate in the database (each URL once) and
 * stores those that verify. *fetched and *failed count URLs. The
 * schedule is the caller's: every certs_crl_interval() ms (0: never),
 * off the event loop. Needs a read-write database.
 */
int	certs_crl_fetch(struct certs *, size_t *fetched, size_t *failed);
int64_t	certs_crl_interval(const struct certs *);

/*
 * certs_crl_timer_start() runs certs_crl_fetch() every crl_fetch_interval
 * on libuv's thread pool (first run one interval after the start), one
 * run at a time, then calls done(arg, rc, fetched, failed) on the loop
 * thread. Interval 0: no timer, *out = NULL. certs_crl_timer_stop() ends
 * it (done is not called afterwards) and calls stopped(arg) (may be
 * NULL) on the loop thread once no run is in progress and the timer is
 * gone: from then on certs_close() may run. For the read-write role (the
 * worker).
 */
struct uv_loop_s;
struct certs_crl_timer;

int	certs_crl_timer_start(struct uv_loop_s *, struct certs *,
			      void (*done) (void *arg, int rc, size_t fetched, size_t failed),
			      void *arg, struct certs_crl_timer **out);
void	certs_crl_timer_stop(struct certs_crl_timer *, void (*stopped) (void *arg), void *arg);

/*
 * certs_sign_data() signs len bytes with cert's private key (SHA-256;
 * PKCS#1 v1.5 for RSA, DER ECDSA-Sig-Value for EC) into out, as
 * `openssl dgst -sha256 -verify` expects: a check that a key, on a
 * token or in the database, works through this process.
 */
int	certs_sign_data(struct certs *, struct CERTCertificateStr *, const void *buf,
			size_t len, struct sg_buf *out);

/*
 * TLS sessions over memory buffers.
 *
 * A struct certs_tls is one TLS connection with no socket: the caller
 * moves ciphertext between it and the network (libuv), and reads and
 * writes plaintext. One session is used by one thread at a time; sessions
 * are independent and may live on different threads. A session never
 * blocks and never calls back into the caller.
 *
 * The loop, after each read from the network and after each call below:
 *	certs_tls_feed(t, bytes, n)	ciphertext from the peer
 *	certs_tls_handshake(t)		until 0 (done)
 *	certs_tls_read(t, ...)		in a loop until SG_EAGAIN or 0
 *	certs_tls_take(t, ...)		send what it returns to the peer
 *
 * Return values: 0 or a count is success; SG_EAGAIN means "feed more
 * ciphertext, or take the pending ciphertext, then call again";
 * SG_ECLOSED means the peer closed the transport in the middle; SG_ETLS a
 * protocol error or alert (certs_tls_error() says which); SG_ELIMIT a
 * buffer is full (back-pressure).
 *
 * Buffers: each direction holds at most conf.tls_buffer_size bytes of
 * ciphertext (plus one TLS record). certs_tls_feed() accepts what fits and
 * returns how much it took; certs_tls_in_room() says how much would fit,
 * which is the right size for a libuv alloc_cb (stop reading at 0).
 * certs_tls_write() takes plaintext while the outbound buffer has room.
 *
 * Ownership: the session copies everything it is given; strings it
 * returns are owned by the session and valid until certs_tls_free().
 */
struct certs_tls;
struct certs_tls_server;

/*
 * certs_tls_server_new() prepares server sessions: the certificate
 * conf.tls_cert (nickname, with its key in the database or on a token)
 * plus conf.tls_sni_certs, picked by the client's SNI name (the first
 * whose names match; else tls_cert). Versions tls_min_version to
 * tls_max_version, a server session cache and session tickets. Returns 0,
 * SG_ENOTFOUND (no such certificate or no key for it), SG_EINVAL
 * (tls_cert is empty). Call it before starting threads. The server object
 * must outlive its sessions.
 */
int	certs_tls_server_new(struct certs *, struct certs_tls_server **out);
void	certs_tls_server_free(struct certs_tls_server *);

/*
 * certs_tls_accept() starts a server session; peer may be NULL. Several
 * threads (libuv loops) may accept on one server object.
 */
int	certs_tls_accept(struct certs_tls_server *, const struct sockaddr *peer,
			 struct certs_tls **out);

/*
 * certs_tls_connect() starts a client session. server_name is sent as SNI
 * and is the name the peer certificate is checked against (NULL: no SNI,
 * name check fails). The peer's certificate is checked but never
 * enforced: the handshake succeeds whatever the result, and
 * certs_tls_peer() reports it so the caller applies its policy.
 * The chain check uses the database's trust anchors and locally known
 * CRLs only: no network I/O. peer may be NULL.
 */
int	certs_tls_connect(struct certs *, const char *server_name,
			  const struct sockaddr *peer, struct certs_tls **out);

/* Ciphertext in from the peer: returns bytes taken (<= len), or < 0. */
ssize_t	certs_tls_feed(struct certs_tls *, const void *buf, size_t len);
/* The peer closed its side of the transport (TCP FIN / uv EOF). */
void	certs_tls_feed_eof(struct certs_tls *);
size_t	certs_tls_in_room(const struct certs_tls *);

/* Ciphertext out to the peer: copies up to len, returns bytes copied. */
size_t	certs_tls_take(struct certs_tls *, void *buf, size_t len);
size_t	certs_tls_pending(const struct certs_tls *);

/* Drive the handshake: 0 done, SG_EAGAIN, SG_ECLOSED or SG_ETLS. */
int	certs_tls_handshake(struct certs_tls *);
bool	certs_tls_handshake_done(const struct certs_tls *);

/*
 * certs_tls_read() returns plaintext bytes (> 0), 0 when the peer sent
 * close_notify or closed the transport, or SG_EAGAIN / SG_ETLS. Call it
 * until it returns SG_EAGAIN or 0: NSS may hold decrypted data that no
 * new network read will announce. Drives the handshake when not done.
 */
ssize_t	certs_tls_read(struct certs_tls *, void *buf, size_t len);

/*
 * certs_tls_write() encrypts up to len plaintext bytes and returns how
 * many it took (> 0), SG_EAGAIN when the outbound buffer is full (take
 * and send, then write again), or SG_ETLS.
 */
ssize_t	certs_tls_write(struct certs_tls *, const void *buf, size_t len);

/* certs_tls_close_notify() queues close_notify; take and send it. */
int	certs_tls_close_notify(struct certs_tls *);
void	certs_tls_free(struct certs_tls *);

/* Last NSS error of this session, e.g. "SSL_ERROR_BAD_CERT_ALERT". */
const char *certs_tls_error(const struct certs_tls *);

/* After the handshake. Strings are "" when unknown. */
struct certs_tls_info {
	char	version[16];		/* "TLSv1.3" */
	char	cipher[80];		/* "TLS_AES_128_GCM_SHA256" */
	char	peer_subject[256];	/* peer certificate subject, RFC 4514 */
	char	sni[256];		/* server: the name the client asked for */
	bool	resumed;		/* session resumption */
};
int	certs_tls_info(const struct certs_tls *, struct certs_tls_info *);

/*
 * Client side: the check of the server certificate, made during the
 * handshake. presented: the server sent a certificate; chain_ok: it
 * chains to a trusted anchor for TLS server use, is in its validity
 * period and not revoked by a known CRL; name_ok: it is valid for
 * server_name. reason: the NSS error of the first failed check, "" when
 * both are fine.
 */
struct certs_tls_peer {
	bool	presented;
	bool	chain_ok;
	bool	name_ok;
	char	reason[96];
};
int	certs_tls_peer(const struct certs_tls *, struct certs_tls_peer *);

/*
 * DANE (RFC 7671) support for delivery/dane_match.c, after a client
 * handshake. certs_tls_dane_data() writes the association data of the
 * peer's certificate number idx (0: the leaf, then the chain it sent)
 * for selector (0: the whole certificate, 1: its SubjectPublicKeyInfo)
 * and matching type (0: the data itself, 1: SHA-256, 2: SHA-512) into
 * out[0..cap) and sets *len. Returns 0, SG_ENOTFOUND past the chain,
 * SG_EUNSUPPORTED for another selector or matching type, SG_ELIMIT when
 * cap is too small.
 *
 * certs_tls_dane_ta() returns 0 when the leaf chains to the peer's
 * certificate number idx taken as the only trust anchor (RFC 7672 DANE-
 * TA(2): validity dates are checked, the database's anchors are not
 * used) and is valid for name; SG_ECRYPTO otherwise.
 */
int	certs_tls_dane_data(const struct certs_tls *, size_t idx, unsigned selector,
			    unsigned mtype, unsigned char *out, size_t cap, size_t *len);
int	certs_tls_dane_ta(const struct certs_tls *, size_t idx, const char *name);

#endif
