#ifndef CERTS_INT_H
#define CERTS_INT_H

/*
 * NAME
 *	certs_int 3h
 * SUMMARY
 *	internals of certs/: the open database, the memory I/O layer
 * SYNOPSIS
 *	#include "certs_int.h"
 * DESCRIPTION
 *	Private to certs/; no other folder includes it.
 */

#include <nss.h>
#include <nspr.h>
#include <cert.h>
#include <pk11pub.h>
#include <secmod.h>
#include <keyhi.h>
#include <pthread.h>
#include <uv.h>

#include "certs.h"

/* One loaded PKCS#11 module and its token. */
struct certs_module {
	SECMODModule *mod;
	char   *token;
	char   *pin;			/* NUL-terminated, zeroed on free */
};

/*
 * The process's open database. Owns copies of every setting it uses, so
 * a reloaded configuration can be freed under it.
 */
struct certs {
	NSSInitContext *ctx;
	char   *dir;
	char   *password;		/* NULL: no password */
	bool	rdonly;
	bool	pw_set;			/* CERTS_INIT added the password */
	bool	public_only;		/* CERTS_PUBLIC: the key store stays shut */
	bool	give;			/* hand the directory to give_uid (root, main db) */
	uid_t	give_uid;		/* the worker's ids (sg_conf_worker_ids) */
	gid_t	give_gid;
	int	revocation;		/* enum certs_revocation_policy */
	bool	ocsp;
	bool	ocsp_default;		/* default responder enabled */
	char   *ocsp_url;		/* default responder; NULL: AIA only */
	char   *ocsp_nick;		/* its certificate's nickname */
	int64_t	ocsp_timeout;
	int64_t	crl_fetch_timeout;
	int64_t	crl_fetch_interval;
	pthread_mutex_t lock;		/* keys, ocsp_default */
	struct certs_module *mods;
	size_t	nmods;
	/* TLS */
	char   *tls_cert;
	char  **tls_sni;
	size_t	ntls_sni;
	int	tls_min, tls_max;	/* SSL_LIBRARY_VERSION_* */
	int64_t	tls_session_timeout;
	size_t	tls_buffer;
	bool	sid_cache;		/* server session cache configured */
	/* private keys copied to session objects (password DB remedy) */
	struct certs_keycache *keys;
	struct certs_fpcache *fpcache;	/* certs_by_fingerprint() */
	int64_t	lookup_ttl;		/* ms; 0: no recipient cache */
	struct certs_lcache *lcache;	/* certs_find_recipient() results */
	size_t	nlcache;
	struct certs_vcache *vcache;	/* certs_check()'s good verdicts */
	uint64_t vcache_gen;		/* moves at each certs_vcache_clear() */
	struct certs_meta *capcache;	/* the meta file for certs_caps(), by ... */
	struct timespec cap_mtime;	/* ... its mtime, size and inode */
	off_t	cap_size;
	ino_t	cap_ino;
};

/* certs_db.c */
/* certs_nss_err - the current NSS error as an sg_err */
int	certs_nss_err(int fallback);
const char *certs_nss_errname(void);
/* The key for cert, in a form whose use costs no key derivation. */
SECKEYPrivateKey *certs_key_for(struct certs *, CERTCertificate *);

/* certs_meta.c: gateway domains and harvest dates, beside the DB */
enum {
	CERTS_META_GATEWAY = 1,
	CERTS_META_HARVESTED,
	CERTS_META_FORGET,
	CERTS_META_CAPS,
};

struct certs_meta_ent {
	int	kind;
	char	key[256];		/* domain, or fingerprint */
	char	val[72];		/* fingerprint, or epoch seconds */
};

struct certs_meta {
	size_t	n, cap;
	struct certs_meta_ent *v;
};

PRFileDesc *certs_tls_nssfd(const struct certs_tls *);
void	certs_fingerprint(const CERTCertificate *, char hex[65]);
int	certs_meta_load(const struct certs *, struct certs_meta *);
int	certs_meta_parse(const char *buf, size_t len, struct certs_meta *);
void	certs_meta_free(struct certs_meta *);
int	certs_meta_update(struct certs *, int op, const char *key, const char *val);
const char *certs_meta_gateway(const struct certs_meta *, const char *domain);
int64_t	certs_meta_harvested(const struct certs_meta *, const char *fp);
void	certs_meta_domains(const struct certs_meta *, const char *fp, char *buf, size_t len);
void	certs_capcache_free(struct certs *);

/* certs_import.c, certs_p12.c */
int	certs_p12_import(struct certs *, const void *buf, size_t len,
			 const struct certs_import_opts *, struct certs_import_result *,
			 CERTCertificate **leaf, char *err, size_t errlen);
char   *certs_nickname_for(CERTCertificate *);
int	certs_replace_public(struct certs *, CERTCertificate *keyed, size_t *removed);
int	certs_set_trust(CERTCertificate *, const char *flags);

/* certs_desc.c */
size_t	certs_emails(CERTCertificate *, char out[][128], size_t max);
bool	certs_has_key(CERTCertificate *);
bool	certs_stored_now(CERTCertificate *);
CERTCertificate *certs_by_fingerprint(struct certs *, const char *fp);
void	certs_fpcache_free(struct certs *);

/* certs_lookup.c */
void	certs_lcache_free(struct certs *);

/* certs_keys.c */
void	certs_keycache_recheck(struct certs *);
void	certs_keycache_free(struct certs *);

/* certs_vcache.c; CERTS_USE_STORED: found in the database (certs_stored) */
#define CERTS_USE_STORED	100
struct certs_check;
bool	certs_vcache_get(struct certs *, CERTCertificate *, int usage, struct certs_check *,
			 uint64_t *gen);
void	certs_vcache_put(struct certs *, CERTCertificate *, int usage, const struct certs_check *,
			 uint64_t gen);
void	certs_vcache_clear(struct certs *);

/* certs_rev.c */
int	certs_revocation_setup(struct certs *, const struct certs_conf *);
void	certs_revocation_teardown(struct certs *);

/* certs_memio.c: a PRFileDesc layer over two byte queues. */
struct certs_memio;

PRFileDesc *certs_memio_new(size_t cap, const struct sockaddr *peer);
struct certs_memio *certs_memio_of(PRFileDesc *top);
ssize_t	certs_memio_feed(struct certs_memio *, const void *, size_t);
void	certs_memio_eof(struct certs_memio *);
size_t	certs_memio_room(const struct certs_memio *);
size_t	certs_memio_take(struct certs_memio *, void *, size_t);
size_t	certs_memio_pending(const struct certs_memio *);

#endif
