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
 *	int	certs_secrets_preload(conf)
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
 *	With CERTS_PUBLIC the context is opened with the key prefix
 *	"nokeys-": NSS reads cert9.db and an empty, never initialised key
 *	store beside it, and no module database (NSS_INIT_NOMODDB). A key
 *	store nobody logged in to makes NSS skip the integrity check of the
 *	trust attributes (they are keyed by the real store's password);
 *	nothing is lost, since whoever could write cert9.db (root, the
 *	worker) could write key4.db too. Every read-write open first makes
 *	that empty store when it is missing (a context of its own, closed
 *	at once).
 *
 *	Ownership (see certs.h): run as root with the roles' users
 *	configured, certs_open() checks the directory before NSS reads it
 *	(check_owner()), and a read-write open of the main database hands
 *	it to the worker (give_db(): the directory opened with O_NOFOLLOW,
 *	NSS's files changed through it, never following a link).
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
 *	most 1 KiB, trailing CR/LF removed), or returns a copy of what
 *	certs_secrets_preload() read from that file earlier;
 *	certs_free_secret() zeroes and frees it. certs_nss_err() maps the
 *	thread's NSS error to an sg_err.
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
#define PUBLIC_PREFIX "nokeys-"		/* the empty key store of CERTS_PUBLIC */

/* The one open database of this process (see DESCRIPTION). */
static struct certs *certs_current;

/* Secrets read before the process dropped privileges: path, then secret. */
static char **preloaded;
static size_t npreloaded;

static char *preloaded_secret(const char *file)
{
	for (size_t i = 0; i + 1 < npreloaded; i += 2)
		if (strcmp(preloaded[i], file) == 0)
			return (sg_xstrdup(preloaded[i + 1]));
	return (NULL);
}

static void forget_secrets(void)
{
	for (size_t i = 0; i < npreloaded; i++)
		certs_free_secret(preloaded[i]);
	free(preloaded);
	preloaded = NULL;
	npreloaded = 0;
}

static int preload(const char *file)
{
	char   *s;
	int	err;

	if (*file == 0)
		return (0);
	if ((s = preloaded_secret(file)) != NULL) {
		certs_free_secret(s);	/* the same file twice */
		return (0);
	}
	if ((s = certs_read_secret(file, &err)) == NULL)
		return (err);
	preloaded[npreloaded++] = sg_xstrdup(file);
	preloaded[npreloaded++] = s;
	return (0);
}

int	certs_secrets_preload(const struct certs_conf *conf)
{
	const struct certs_pkcs11_conf *pc = conf->pkcs11.v;
	int	rc;

	forget_secrets();
	preloaded = sg_xcalloc(2 * (conf->pkcs11.n + 1), sizeof(char *));
	if ((rc = preload(conf->password_file)) < 0)
		return (rc);
	for (size_t i = 0; i < conf->pkcs11.n; i++)
		if ((rc = preload(pc[i].pin_file)) < 0)
			return (rc);
	return (0);
}

char   *certs_read_secret(const char *file, int *err)
{
	char	buf[SECRET_MAX + 2];
	ssize_t	n;
	int	fd;
	char   *pre;

	if ((pre = preloaded_secret(file)) != NULL) {
		*err = 0;
		return (pre);
	}

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
		     unsigned flags, bool *tls_own)
{
	struct sg_buf b = SG_BUF_INIT;

	*tls_own = (flags & CERTS_TLS) && conf->tls_db_dir && *conf->tls_db_dir;
	if (*tls_own)
		sg_buf_puts(&b, conf->tls_db_dir);
	else if (conf->db_dir && *conf->db_dir)
		sg_buf_puts(&b, conf->db_dir);
	else
		sg_buf_printf(&b, "%s/nssdb", m->state_dir);
	return (b.data);
}

/*
 * check_owner - NSS reads only a database directory (not a link) that
 * root or owner owns and that no one else may write (mode bits in
 * others): a user who could plant a database there must not have this
 * process trust it, nor root parse it. One still to be made is fine.
 */
static int check_owner(const struct certs *c, uid_t owner, mode_t others)
{
	struct stat st;

	if (lstat(c->dir, &st) < 0)
		return (errno == ENOENT && !c->rdonly ? 0 : SG_ENOTFOUND);
	if (!S_ISDIR(st.st_mode) || (st.st_mode & others) != 0)
		return (SG_EDENIED);
	if (st.st_uid != 0 && st.st_uid != owner)
		return (SG_EDENIED);
	return (0);
}

/*
 * owner_mode - fd to uid:gid and mode. Changing the mode of a file root
 * does not own takes CAP_FOWNER, which the unit does not grant: root takes
 * the file first (CAP_CHOWN), and only when the mode is wrong.
 */
static int owner_mode(int fd, const struct stat *st, uid_t uid, gid_t gid, mode_t mode)
{
	if ((st->st_mode & 07777) != mode) {
		if (st->st_uid != 0 && fchown(fd, 0, (gid_t) -1) < 0)
			return (SG_EDENIED);
		if (fchmod(fd, mode) < 0)
			return (SG_EDENIED);
	} else if (st->st_uid == uid && st->st_gid == gid) {
		return (0);
	}
	return (fchown(fd, uid, gid) < 0 ? SG_EDENIED : 0);
}

/* give_file - one of the files in the directory dfd to uid:gid, 0600 */

static int give_file(int dfd, const char *name, uid_t uid, gid_t gid)
{
	int	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	int	rc = SG_EDENIED;

	if (fd < 0)
		return (errno == ENOENT ? 0 : SG_EDENIED);
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1)
		rc = owner_mode(fd, &st, uid, gid, 0600);
	close(fd);
	return (rc);
}

/*
 * give_db - the directory (0700) and the files NSS and certs_meta.c keep
 * in it (0600) to the worker; never through a symbolic link
 */
static int give_db(const struct certs *c)
{
	static const char *const files[] = {
		"cert9.db", "key4.db", "pkcs11.txt", PUBLIC_PREFIX "key4.db",
		"sealgate-certs.meta", "sealgate-certs.lock",	/* certs_meta.c */
	};
	struct stat st;
	int	dfd, rc = 0;

	if (!c->give)
		return (0);
	if ((dfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return (SG_EDENIED);
	if (fstat(dfd, &st) < 0 || (st.st_uid != 0 && st.st_uid != c->give_uid))
		rc = SG_EDENIED;
	else
		rc = owner_mode(dfd, &st, c->give_uid, c->give_gid, 0700);
	for (size_t i = 0; rc == 0 && i < SG_NELEM(files); i++)
		rc = give_file(dfd, files[i], c->give_uid, c->give_gid);
	close(dfd);
	return (rc);
}

/*
 * owner_setup - who this database belongs to. As root with the roles'
 * users configured, the main database is the worker's and tls_db_dir
 * root's, and no group may write either; any other process opens only
 * its own database or root's (the worker: never one smtpd's user made).
 * As root without users, as ever: root's alone, no checks.
 */
static int owner_setup(struct certs *c, const struct sg_conf_main *m, bool tls_own)
{
	if (geteuid() != 0)
		return (check_owner(c, geteuid(), 002));
	if (!sg_conf_worker_ids(m, &c->give_uid, &c->give_gid))
		return (0);
	c->give = !tls_own && !c->rdonly;
	return (check_owner(c, tls_own ? 0 : c->give_uid, 022));
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

/* db_has - does the database directory hold this file? */

static bool db_has(const struct certs *c, const char *name)
{
	struct sg_buf path = SG_BUF_INIT;
	struct stat st;
	bool	has;

	sg_buf_printf(&path, "%s/%s", c->dir, name);
	has = stat(path.data, &st) == 0;
	sg_buf_free(&path);
	return (has);
}

/* make_public_store - the empty key store CERTS_PUBLIC opens (see DESCRIPTION) */

static int make_public_store(const struct certs *c)
{
	struct sg_buf spec = SG_BUF_INIT;
	NSSInitContext *ctx;
	int	rc = 0;

	if (db_has(c, PUBLIC_PREFIX "key4.db"))
		return (0);
	sg_buf_printf(&spec, "sql:%s", c->dir);
	ctx = NSS_InitContext(spec.data, "", PUBLIC_PREFIX, "", NULL, NSS_INIT_NOROOTINIT |
			      NSS_INIT_NOMODDB | NSS_INIT_OPTIMIZESPACE);
	if (ctx == NULL || NSS_ShutdownContext(ctx) != SECSuccess)
		rc = SG_EIO;
	sg_buf_free(&spec);
	return (rc);
}

static int open_context(struct certs *c)
{
	struct sg_buf spec = SG_BUF_INIT;
	PRUint32 flags = NSS_INIT_NOROOTINIT | NSS_INIT_OPTIMIZESPACE;
	const char *keys = c->public_only ? PUBLIC_PREFIX : "";
	int	rc;

	if (c->rdonly) {
		flags |= NSS_INIT_READONLY | (c->public_only ? NSS_INIT_NOMODDB : 0);
		if (!db_has(c, "cert9.db") || (c->public_only && !db_has(c, PUBLIC_PREFIX "key4.db")))
			return (SG_ENOTFOUND);
	} else if (make_dir(c->dir) < 0) {
		return (SG_EIO);
	} else if ((rc = make_public_store(c)) < 0) {
		return (rc);
	}
	sg_buf_printf(&spec, "sql:%s", c->dir);
	c->ctx = NSS_InitContext(spec.data, "", keys, "", NULL, flags);
	sg_buf_free(&spec);
	return (c->ctx ? give_db(c) : SG_EIO);
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
	bool	tls_own;
	int	rc = 0;

	*out = NULL;
	if (certs_current)
		return (SG_EBUSY);
	if ((flags & CERTS_PUBLIC) && (flags & (CERTS_KEYS | CERTS_INIT)))
		return (SG_EINVAL);
	c = sg_xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->dir = db_path(m, conf, flags, &tls_own);
	c->public_only = (flags & CERTS_PUBLIC) != 0;
	c->rdonly = (flags & (CERTS_RDONLY | CERTS_PUBLIC)) != 0;
	copy_tls_conf(c, conf);
	if ((rc = owner_setup(c, m, tls_own)) < 0 || (*conf->password_file && !c->public_only &&
	    (c->password = certs_read_secret(conf->password_file, &rc)) == NULL)) {
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
	certs_vcache_clear(c);
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
		/* whatever NSS made while open is the worker's too */
		if (give_db(c) < 0 && rc == 0)
			rc = SG_EDENIED;
	}
	if (certs_current == c)
		certs_current = NULL;
	free_certs(c);
	forget_secrets();
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
