/*
 * NAME
 *	test_certs_public 1
 * SUMMARY
 *	unit tests: a database opened for its public part, who may own one,
 *	secrets read before a process drops privileges
 * DESCRIPTION
 *	A database made with certutil holds a self-signed CA with its key.
 *	Opened with CERTS_PUBLIC (delivery's way) it lists the certificate
 *	and its trust but no key, and the process holds no key4.db open;
 *	only a read-write open makes the empty store that needs. As root
 *	with users configured, a database directory that another user owns,
 *	that its group may write, or that is a symbolic link is refused, and
 *	a read-write open gives the directory and its files to the worker's
 *	user. A password file read by certs_secrets_preload() is used after
 *	the file is gone, and forgotten at certs_close().
 *
 *	Shown failing: with open_context() opening the real key store for
 *	CERTS_PUBLIC, test_public_open_has_no_key fails on the key and the
 *	open key4.db; without check_owner(), test_owner_rules fails on the
 *	planted directories.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "certs/certs.h"
#include "test_certs_util.h"

static char *dir;

struct listing {
	int	n;
	bool	key;
	bool	trusted;
};

static int on_cert(const struct certs_desc *d, void *arg)
{
	struct listing *l = arg;

	l->n++;
	l->key |= d->key;
	l->trusted |= strchr(d->trust, 'C') != NULL;
	return (0);
}

static void conf_init(struct certs_conf *conf, struct sg_conf_main *m, const char *db)
{
	memset(conf, 0, sizeof(*conf));
	memset(m, 0, sizeof(*m));
	conf->db_dir = (char *) db;
	conf->tls_db_dir = conf->password_file = conf->tls_cert = "";
	conf->ocsp_responder = conf->ocsp_responder_cert = "";
	conf->ocsp_timeout = 2000;
	conf->crl_fetch_timeout = 5000;
	conf->revocation = CERTS_REV_OFF;
	conf->tls_session_timeout = 60000;
	conf->tls_buffer_size = 65536;
	conf->tls_max_version = CERTS_TLS_1_3;
	m->state_dir = dir;
	m->user = m->group = m->worker_user = "";
}

/* holds - does this process hold a file whose path ends in name open? */

static bool holds(const char *name)
{
	DIR    *d = opendir("/proc/self/fd");
	struct dirent *e;
	bool	found = false;

	while (d && (e = readdir(d)) != NULL) {
		char	path[300], target[PATH_MAX];
		ssize_t	n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		if ((n = readlink(path, target, sizeof(target) - 1)) <= 0)
			continue;
		target[n] = 0;
		n -= (ssize_t) strlen(name);
		found |= n > 0 && strcmp(target + n, name) == 0 && target[n - 1] == '/';
	}
	if (d)
		closedir(d);
	return (found);
}

static void make_db(const char *db)
{
	assert_int_equal(tc_sh("mkdir -p %s && certutil -N -d sql:%s --empty-password "
			       "&& head -c 64 /dev/urandom > %s.noise", db, db, db), 0);
	assert_int_equal(tc_sh("certutil -S -d sql:%s -n ca -s CN=public-test-ca -x -t C,C,C "
			       "-k ec -q nistp256 -v 12 -z %s.noise", db, db), 0);
}

static void test_public_open_has_no_key(void **state)
{
	struct certs_conf conf;
	struct sg_conf_main m;
	struct listing l = {0};
	struct certs *c;
	char	db[512];

	(void) state;
	snprintf(db, sizeof(db), "%s/pub", dir);
	make_db(db);
	conf_init(&conf, &m, db);
	/* certutil made no empty store: nothing to open yet, and no fallback */
	assert_int_equal(certs_open(&m, &conf, CERTS_RDONLY | CERTS_PUBLIC, &c), SG_ENOTFOUND);
	assert_int_equal(certs_open(&m, &conf, CERTS_PUBLIC | CERTS_KEYS, &c), SG_EINVAL);
	/* the full database: the key is there */
	assert_int_equal(certs_open(&m, &conf, CERTS_KEYS, &c), 0);
	assert_int_equal(certs_list(c, on_cert, &l), 0);
	assert_true(l.n == 1 && l.key && l.trusted);
	assert_true(holds("key4.db"));
	assert_int_equal(certs_close(c), 0);
	/* public: the certificate and its trust, no key, key4.db never opened */
	memset(&l, 0, sizeof(l));
	assert_int_equal(certs_open(&m, &conf, CERTS_RDONLY | CERTS_PUBLIC, &c), 0);
	assert_int_equal(certs_list(c, on_cert, &l), 0);
	assert_true(l.n == 1 && l.trusted);
	assert_false(l.key);
	assert_false(holds("key4.db"));
	assert_true(holds("nokeys-key4.db") && holds("cert9.db"));
	assert_int_equal(certs_close(c), 0);
}

static void test_owner_rules(void **state)
{
	struct certs_conf conf;
	struct sg_conf_main m;
	struct certs *c;
	struct stat st;
	char	db[512], link[600];

	(void) state;
	if (geteuid() != 0)
		skip();
	snprintf(db, sizeof(db), "%s/own", dir);
	make_db(db);
	conf_init(&conf, &m, db);
	m.user = "nobody";
	/* group-writable, another user's, a link: refused before NSS reads it */
	chmod(db, 0770);
	assert_int_equal(certs_open(&m, &conf, CERTS_RDONLY | CERTS_KEYS, &c), SG_EDENIED);
	chmod(db, 0700);
	assert_int_equal(chown(db, 12345, 12345), 0);
	assert_int_equal(certs_open(&m, &conf, CERTS_RDONLY | CERTS_KEYS, &c), SG_EDENIED);
	assert_int_equal(chown(db, 0, 0), 0);
	snprintf(link, sizeof(link), "%s/link", dir);
	assert_int_equal(symlink(db, link), 0);
	conf.db_dir = link;
	assert_int_equal(certs_open(&m, &conf, 0, &c), SG_EDENIED);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	conf.db_dir = db;
	/* root's: a read-write open gives it to the worker (here: user) */
	assert_int_equal(certs_open(&m, &conf, 0, &c), 0);
	assert_int_equal(certs_close(c), 0);
	assert_int_equal(stat(db, &st), 0);
	assert_true(st.st_uid == 65534 && (st.st_mode & 07777) == 0700);
	snprintf(link, sizeof(link), "%s/key4.db", db);
	assert_int_equal(stat(link, &st), 0);
	assert_true(st.st_uid == 65534 && (st.st_mode & 07777) == 0600);
	/* the worker's own: still opened; the TLS database is root's alone */
	assert_int_equal(certs_open(&m, &conf, CERTS_RDONLY | CERTS_KEYS, &c), 0);
	assert_int_equal(certs_close(c), 0);
	conf.tls_db_dir = db;
	assert_int_equal(certs_open(&m, &conf, CERTS_RDONLY | CERTS_KEYS | CERTS_TLS, &c),
			 SG_EDENIED);
}

static void test_preloaded_secret(void **state)
{
	struct certs_conf conf;
	struct sg_conf_main m;
	struct certs *c;
	char	db[512], pw[512];
	FILE   *fp;

	(void) state;
	snprintf(db, sizeof(db), "%s/pre", dir);
	snprintf(pw, sizeof(pw), "%s/pre.pw", dir);
	make_db(db);
	conf_init(&conf, &m, db);
	assert_non_null(fp = fopen(pw, "w"));
	fputs("not-needed-but-read\n", fp);
	fclose(fp);
	conf.password_file = pw;
	assert_int_equal(certs_secrets_preload(&conf), 0);
	unlink(pw);
	assert_int_equal(certs_open(&m, &conf, CERTS_RDONLY | CERTS_KEYS, &c), 0);
	assert_int_equal(certs_close(c), 0);
	/* forgotten at close: the file is read again, and is gone */
	assert_int_equal(certs_open(&m, &conf, CERTS_RDONLY | CERTS_KEYS, &c), SG_ENOTFOUND);
	conf.password_file = "/nonexistent/pw";
	assert_int_equal(certs_secrets_preload(&conf), SG_ENOTFOUND);
}

static int group_setup(void **state)
{
	(void) state;
	return ((dir = tc_tmpdir("public")) == NULL ? -1 : 0);
}

static int group_teardown(void **state)
{
	(void) state;
	tc_rmrf(dir);
	free(dir);
	return (0);
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_public_open_has_no_key),
		cmocka_unit_test(test_owner_rules),
		cmocka_unit_test(test_preloaded_secret),
	};

	sg_log_init("test_certs_public", "test", SG_LOG_STDERR);
	return (cmocka_run_group_tests_name("certs_public", tests, group_setup, group_teardown));
}
