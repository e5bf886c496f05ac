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
	int	revocation;		/* enum certs_revocation_policy */
	bool	ocsp;
	bool	ocsp_default;		/* default responder enabled */
	char   *ocsp_url;		/* default responder; NULL: AIA only */
	char   *ocsp_nick;		/* its certificate's nickname */
	int64_t	ocsp_timeout;
	int64_t	crl_fetch_timeout;
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
};

/* certs_db.c */
char   *certs_read_secret(const char *file, int *err);
void	certs_free_secret(char *);
/* certs_nss_err - the current NSS error as an sg_err */
int	certs_nss_err(int fallback);
const char *certs_nss_errname(void);
/* The key for cert, in a form whose use costs no key derivation. */
SECKEYPrivateKey *certs_key_for(struct certs *, CERTCertificate *);

/* certs_keys.c */
void	certs_keycache_free(struct certs *);

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
