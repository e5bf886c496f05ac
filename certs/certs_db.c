/*
 * NAME
 *	certs_db 3
 * SUMMARY
 *	open and close the NSS database for one process
 * SYNOPSIS
 *	#include "certs/certs.h"
 *
 *	int	certs_open(main, conf, flags, &out)
 *	int	certs_close(c)
 *	const char *certs_db_dir(c)
 *	bool	certs_password_set(c)
 *
 *	#include "certs_int.h"
 *
 *	char   *certs_read_secret(file, &err)
 *	void	certs_free_secret(s)
 *	int	certs_nss_err(fallback)
 *	const char *certs_nss_errname()
 * DESCRIPTION
 *	certs_open() initialises NSS with NSS_InitContext on "sql:DIR",
 *	where DIR is conf->db_dir or STATE_DIR/nssdb (with CERTS_TLS,
 *	conf->tls_db_dir when set). Read-write, it creates
 *	DIR (mode 0700) and a database whose key store is protected by the
 *	password from conf->password_file, or by file permissions only when
 *	there is none. With CERTS_INIT an existing database without password
 *	gets that password (PK11_ChangePW from the empty one). With CERTS_KEYS it logs in to the internal token and
 *	loads each configured PKCS#11 module, logging in to its token with
 *	the PIN from its pin_file, so no private-key use later prompts.
 *
 *	NSS keeps its state per process; so does this file: the password
 *	callback must find the secrets, and NSS offers no per-call argument
 *	on every path that may ask (CMS, SSL), so the open database is
 *	remembered in one static pointer, set by certs_open() and cleared by
 *	certs_close().
 *
 *	certs_close() frees what certs_open() built, in the order NSS needs
 *	(session caches, OCSP responder, modules, then the context).
 *
 *	certs_read_secret() reads a password or PIN file (first line, at
 *	most 1 KiB, trailing CR/LF removed); certs_free_secret() zeroes and
 *	frees it. certs_nss_err() maps the thread's NSS error to an sg_err.
 * DIAGNOSTICS
 *	Returns as documented in certs.h; nothing is printed.
 * SECURITY
 *	Secrets never appear in arguments or logs; they are zeroed on free.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ssl.h>
#include <sslproto.h>
#include <ocsp.h>
#include <secerr.h>
#include <prerror.h>

#include "certs_int.h"

#define SECRET_MAX 1024

/* The one open database of this process (see DESCRIPTION). */
static struct certs *certs_current;

char   *certs_read_secret(const char *file, int *err)
{
	char	buf[SECRET_MAX + 2];
	ssize_t	n;
	int	fd;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
		*err = errno == ENOENT ? SG_ENOTFOUND : SG_EIO;
		return (NULL);
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0 || n > SECRET_MAX) {
		explicit_bzero(buf, sizeof(buf));
		*err = n < 0 ? SG_EIO : SG_ELIMIT;
		return (NULL);
	}
	buf[n] = 0;
	buf[strcspn(buf, "\r\n")] = 0;
	char   *s = sg_xstrdup(buf);

	explicit_bzero(buf, sizeof(buf));
	*err = 0;
	return (s);
}

void	certs_free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

int	certs_nss_err(int fallback)
{
	switch (PORT_GetError()) {
	case SEC_ERROR_BAD_PASSWORD:
		return (SG_EPASSWORD);
	case SEC_ERROR_NO_MEMORY:
		return (SG_ENOMEM);
	case PR_WOULD_BLOCK_ERROR:
		return (SG_EAGAIN);
	case SEC_ERROR_BAD_DER:
	case SEC_ERROR_INPUT_LEN:
	case SEC_ERROR_BAD_DATA:
		return (fallback == SG_EIO ? SG_ECORRUPT : fallback);
	default:
		return (fallback);
	}
}

const char *certs_nss_errname(void)
{
	const char *n = PR_ErrorToName(PORT_GetError());

	return (n ? n : "unknown NSS error");
}

/* secret_for - the password or PIN NSS asks for, by token */

static const char *secret_for(PK11SlotInfo *slot)
{
	struct certs *c = certs_current;

	if (c == NULL)
		return (NULL);
	if (PK11_IsInternalKeySlot(slot))
		return (c->password ? c->password : "");
	for (size_t i = 0; i < c->nmods; i++)
		if (c->mods[i].pin && strcmp(PK11_GetTokenName(slot), c->mods[i].token) == 0)
			return (c->mods[i].pin);
	return (NULL);
}

/* pw_callback - NSS's password function; never asked twice (retry) */

static char *pw_callback(PK11SlotInfo *slot, PRBool retry, void *arg)
{
	const char *s;

	(void) arg;
	if (retry || (s = secret_for(slot)) == NULL)
		return (NULL);
	return (PORT_Strdup(s));
}

static int make_dir(const char *dir)
{
	char	path[PATH_MAX];
	size_t	len = strlen(dir);

	if (len == 0 || len >= sizeof(path))
		return (SG_EINVAL);
	memcpy(path, dir, len + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return (SG_EIO);
		*p = '/';
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return (SG_EIO);
	return (0);
}

static char *db_path(const struct sg_conf_main *m, const struct certs_conf *conf,
		     unsigned flags)
{
	struct sg_buf b = SG_BUF_INIT;

	if ((flags & CERTS_TLS) && conf->tls_db_dir && *conf->tls_db_dir)
		sg_buf_puts(&b, conf->tls_db_dir);
	else if (conf->db_dir && *conf->db_dir)
		sg_buf_puts(&b, conf->db_dir);
	else
		sg_buf_printf(&b, "%s/nssdb", m->state_dir);
	return (b.data);
}

/*
 * init_key_store - a new database gets its password (or none) set; with
 * CERTS_INIT, one without a password gets the configured one
 */
static int init_key_store(struct certs *c, unsigned flags)
{
	PK11SlotInfo *slot = PK11_GetInternalKeySlot();
	int	rc = 0;

	if (slot == NULL)
		return (SG_EIO);
	if (PK11_NeedUserInit(slot)) {
		if (PK11_InitPin(slot, NULL, c->password ? c->password : "") != SECSuccess)
			rc = certs_nss_err(SG_EIO);
	} else if ((flags & CERTS_INIT) && c->password && *c->password &&
		   PK11_CheckUserPassword(slot, "") == SECSuccess) {
		if (PK11_ChangePW(slot, "", c->password) != SECSuccess)
			rc = certs_nss_err(SG_EIO);
		else
			c->pw_set = true;
	}
	PK11_FreeSlot(slot);
	return (rc);
}

static int login_internal(void)
{
	PK11SlotInfo *slot = PK11_GetInternalKeySlot();
	int	rc = 0;

	if (slot == NULL)
		return (SG_EIO);
	if (PK11_NeedLogin(slot) && PK11_Authenticate(slot, PR_TRUE, NULL) != SECSuccess)
		rc = certs_nss_err(SG_EPASSWORD);
	PK11_FreeSlot(slot);
	return (rc);
}

/* load_module - load one PKCS#11 module and log in to its token */

static int load_module(struct certs_module *cm, const struct certs_pkcs11_conf *pc)
{
	struct sg_buf spec = SG_BUF_INIT;
	PK11SlotInfo *slot;
	int	rc = 0;

	if (strchr(pc->library, '"') || strchr(pc->name, '"'))
		return (SG_EINVAL);
	sg_buf_printf(&spec, "library=\"%s\" name=\"%s\"", pc->library, pc->name);
	cm->mod = SECMOD_LoadUserModule(spec.data, NULL, PR_FALSE);
	sg_buf_free(&spec);
	cm->token = sg_xstrdup(pc->token);
	if (*pc->pin_file && (cm->pin = certs_read_secret(pc->pin_file, &rc)) == NULL)
		return (rc);
	if (cm->mod == NULL || !cm->mod->loaded)
		return (SG_ENOTFOUND);
	if ((slot = PK11_FindSlotByName(pc->token)) == NULL)
		return (SG_ENOTFOUND);
	if (PK11_NeedLogin(slot) && PK11_Authenticate(slot, PR_TRUE, NULL) != SECSuccess)
		rc = certs_nss_err(SG_EPASSWORD);
	PK11_FreeSlot(slot);
	return (rc);
}

static int load_modules(struct certs *c, const struct certs_conf *conf)
{
	const struct certs_pkcs11_conf *pc = conf->pkcs11.v;
	int	rc;

	c->mods = sg_xcalloc(conf->pkcs11.n + 1, sizeof(*c->mods));
	for (size_t i = 0; i < conf->pkcs11.n; i++) {
		c->nmods++;
		if ((rc = load_module(&c->mods[i], &pc[i])) < 0)
			return (rc);
	}
	return (0);
}

static void copy_tls_conf(struct certs *c, const struct certs_conf *conf)
{
	c->tls_cert = sg_xstrdup(conf->tls_cert ? conf->tls_cert : "");
	c->ntls_sni = conf->tls_sni_certs.n;
	c->tls_sni = sg_xcalloc(c->ntls_sni + 1, sizeof(char *));
	for (size_t i = 0; i < c->ntls_sni; i++)
		c->tls_sni[i] = sg_xstrdup(conf->tls_sni_certs.v[i]);
	c->tls_min = conf->tls_min_version == CERTS_TLS_1_3 ?
		SSL_LIBRARY_VERSION_TLS_1_3 : SSL_LIBRARY_VERSION_TLS_1_2;
	c->tls_max = conf->tls_max_version == CERTS_TLS_1_2 ?
		SSL_LIBRARY_VERSION_TLS_1_2 : SSL_LIBRARY_VERSION_TLS_1_3;
	c->tls_session_timeout = conf->tls_session_timeout;
	c->tls_buffer = conf->tls_buffer_size ? (size_t) conf->tls_buffer_size : 65536;
}

static void free_certs(struct certs *c)
{
	for (size_t i = 0; i < c->nmods; i++) {
		if (c->mods[i].mod) {
			if (c->mods[i].mod->loaded)
				SECMOD_UnloadUserModule(c->mods[i].mod);
			SECMOD_DestroyModule(c->mods[i].mod);
		}
		free(c->mods[i].token);
		certs_free_secret(c->mods[i].pin);
	}
	free(c->mods);
	for (size_t i = 0; i < c->ntls_sni; i++)
		free(c->tls_sni[i]);
	free(c->tls_sni);
	free(c->tls_cert);
	free(c->ocsp_url);
	free(c->ocsp_nick);
	certs_free_secret(c->password);
	free(c->dir);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static int open_context(struct certs *c)
{
	struct sg_buf spec = SG_BUF_INIT;
	PRUint32 flags = NSS_INIT_NOROOTINIT | NSS_INIT_OPTIMIZESPACE;
	struct stat st;

	if (c->rdonly) {
		flags |= NSS_INIT_READONLY;
		sg_buf_printf(&spec, "%s/cert9.db", c->dir);
		if (stat(spec.data, &st) < 0) {
			sg_buf_free(&spec);
			return (SG_ENOTFOUND);
		}
		sg_buf_reset(&spec);
	} else if (make_dir(c->dir) < 0)
		return (SG_EIO);
	sg_buf_printf(&spec, "sql:%s", c->dir);
	c->ctx = NSS_InitContext(spec.data, "", "", "", NULL, flags);
	sg_buf_free(&spec);
	return (c->ctx ? 0 : SG_EIO);
}

static int open_rest(struct certs *c, const struct certs_conf *conf, unsigned flags)
{
	int	rc;

	if (!c->rdonly && (rc = init_key_store(c, flags)) < 0)
		return (rc);
	if ((flags & CERTS_KEYS) || !c->rdonly)
		if ((rc = login_internal()) < 0)
			return (rc);
	if ((flags & CERTS_KEYS) && (rc = load_modules(c, conf)) < 0)
		return (rc);
	return (certs_revocation_setup(c, conf));
}

int	certs_open(const struct sg_conf_main *m, const struct certs_conf *conf,
		   unsigned flags, struct certs **out)
{
	struct certs *c;
	int	rc = 0;

	*out = NULL;
	if (certs_current)
		return (SG_EBUSY);
	c = sg_xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->dir = db_path(m, conf, flags);
	c->rdonly = (flags & CERTS_RDONLY) != 0;
	copy_tls_conf(c, conf);
	if (*conf->password_file &&
	    (c->password = certs_read_secret(conf->password_file, &rc)) == NULL) {
		free_certs(c);
		return (rc);
	}
	certs_current = c;
	PK11_SetPasswordFunc(pw_callback);
	if ((rc = open_context(c)) == 0 && (rc = open_rest(c, conf, flags)) == 0) {
		*out = c;
		return (0);
	}
	certs_close(c);
	return (rc);
}

int	certs_close(struct certs *c)
{
	int	rc = 0;

	if (c == NULL)
		return (0);
	certs_keycache_free(c);
	certs_fpcache_free(c);
	certs_lcache_free(c);
	certs_capcache_free(c);
	SSL_ClearSessionCache();
	if (c->sid_cache)
		SSL_ShutdownServerSessionIDCache();
	if (c->ctx) {
		certs_revocation_teardown(c);
		for (size_t i = 0; i < c->nmods; i++)
			if (c->mods[i].mod && c->mods[i].mod->loaded)
				SECMOD_UnloadUserModule(c->mods[i].mod);
		for (size_t i = 0; i < c->nmods; i++)
			if (c->mods[i].mod) {
				SECMOD_DestroyModule(c->mods[i].mod);
				c->mods[i].mod = NULL;
			}
		if (NSS_ShutdownContext(c->ctx) != SECSuccess)
			rc = SG_EBUSY;
	}
	if (certs_current == c)
		certs_current = NULL;
	free_certs(c);
	return (rc);
}

const char *certs_db_dir(const struct certs *c)
{
	return (c->dir);
}

bool	certs_password_set(const struct certs *c)
{
	return (c->pw_set);
}
