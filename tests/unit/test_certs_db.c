/*
 * NAME
 *	test_certs_db 1
 * SUMMARY
 *	certs/ through its C API: metadata parser, password database and the
 *	key cache, harvesting, lookups, read-only rules, close
 * DESCRIPTION
 *	Builds the test PKI (tests/integration/pki.py) once, then opens NSS
 *	databases in temporary directories with certs_open(). Each test
 *	that opens one closes it and requires certs_close() to succeed,
 *	which fails when any NSS reference leaked.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>
#include <uv.h>

#include <cert.h>
#include <cryptohi.h>
#include <pk11pub.h>
#include <keyhi.h>

#include "certs/certs.h"
#include "test_certs_util.h"

static char *dir;

/* the parts of certs_int.h a test may use: the metadata parser */
struct certs_meta_ent {
	int	kind;
	char	key[256];
	char	val[72];
};
struct certs_meta {
	size_t	n, cap;
	struct certs_meta_ent *v;
};
int	certs_meta_parse(const char *buf, size_t len, struct certs_meta *);
void	certs_meta_free(struct certs_meta *);
const char *certs_meta_gateway(const struct certs_meta *, const char *domain);
int64_t	certs_meta_harvested(const struct certs_meta *, const char *fp);

static int group_setup(void **state)
{
	(void) state;
	if ((dir = tc_tmpdir("db")) == NULL)
		return (-1);
	return (tc_pki_build(dir));
}

static int group_teardown(void **state)
{
	(void) state;
	tc_rmrf(dir);
	free(dir);
	return (0);
}

struct fixture {
	struct certs_conf conf;
	struct sg_conf_main main;
	char	db[512];
	char	pw[512];
	struct certs *c;
};

static void fx_open(struct fixture *f, const char *name, const char *password, unsigned flags)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->db, sizeof(f->db), "%s/%s", dir, name);
	f->conf.db_dir = f->db;
	f->conf.password_file = "";
	if (password) {
		FILE   *fp;

		snprintf(f->pw, sizeof(f->pw), "%s/%s.pw", dir, name);
		assert_non_null(fp = fopen(f->pw, "w"));
		fprintf(fp, "%s\n", password);
		fclose(fp);
		f->conf.password_file = f->pw;
	}
	f->conf.ocsp_responder = "";
	f->conf.ocsp_responder_cert = "";
	f->conf.ocsp_timeout = 2000;
	f->conf.crl_fetch_interval = 50;
	f->conf.crl_fetch_timeout = 5000;
	f->conf.revocation = CERTS_REV_SOFT_FAIL;
	f->conf.ocsp = false;
	f->conf.tls_cert = "";
	f->conf.tls_session_timeout = 60000;
	f->conf.tls_buffer_size = 65536;
	f->conf.tls_max_version = CERTS_TLS_1_3;
	f->main.state_dir = dir;
	assert_int_equal(certs_open(&f->main, &f->conf, flags, &f->c), 0);
}

static void fx_close(struct fixture *f)
{
	assert_int_equal(certs_close(f->c), 0);
	f->c = NULL;
}

static void slurp(const char *name, struct sg_buf *b)
{
	char	path[512], buf[8192];
	FILE   *fp;
	size_t	n;

	snprintf(path, sizeof(path), "%s/pki/%s", dir, name);
	assert_non_null(fp = fopen(path, "rb"));
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		sg_buf_append(b, buf, n);
	fclose(fp);
}

static int import(struct fixture *f, const char *file, const char *password, bool ca,
		  const char *gateway)
{
	struct certs_import_opts o = {.format = certs_format_of(file),.password = password,
		.ca = ca,.gateway = gateway};
	struct certs_import_result r;
	struct sg_buf b = SG_BUF_INIT;
	char	err[256];
	int	rc;

	slurp(file, &b);
	rc = certs_import(f->c, b.data, b.len, &o, &r, err, sizeof(err));
	sg_buf_free(&b);
	return (rc);
}

static void base(struct fixture *f)
{
	assert_int_equal(import(f, "root.pem", NULL, true, NULL), 0);
	assert_int_equal(import(f, "chain.pem", NULL, false, NULL), 0);
}

/* Metadata */

static void test_meta_parse(void **state)
{
	static const char text[] =
		"gateway example.com aaaa\n"
		"harvested bbbb 1790000000\n"
		"gateway broken\n"
		"nonsense a b\n"
		"gateway two words here\n"
		"gateway tab\tbad cccc\n"
		"harvested cccc 12";
	struct certs_meta m;

	(void) state;
	assert_int_equal(certs_meta_parse(text, sizeof(text) - 1, &m), 0);
	assert_int_equal(m.n, 3);
	assert_string_equal(certs_meta_gateway(&m, "EXAMPLE.com"), "aaaa");
	assert_null(certs_meta_gateway(&m, "example.org"));
	assert_int_equal(certs_meta_harvested(&m, "bbbb"), 1790000000);
	assert_int_equal(certs_meta_harvested(&m, "cccc"), 12);
	certs_meta_free(&m);
	/* the length is honoured: the last line is cut short */
	assert_int_equal(certs_meta_parse(text, sizeof(text) - 4, &m), 0);
	assert_int_equal(m.n, 2);
	certs_meta_free(&m);
	assert_int_equal(certs_meta_parse(text, 5u << 20, &m), SG_ELIMIT);
	certs_meta_free(&m);
}

/* The password remedy: no key derivation per signature. */

/* per_sign_ms - the fastest of n signatures: robust against a busy machine */

static double per_sign_ms(struct certs *c, CERTCertificate *cert, bool cached, int n)
{
	static const char data[] = "an e-invoice";
	double	best = 1e9;

	for (int i = 0; i < n; i++) {
		struct timespec t0, t1;
		SECKEYPrivateKey *key;
		SECItem	sig = {siBuffer, NULL, 0};

		clock_gettime(CLOCK_MONOTONIC, &t0);
		key = cached ? certs_private_key(c, cert) : PK11_FindKeyByAnyCert(cert, NULL);
		assert_non_null(key);
		assert_int_equal(SEC_SignData(&sig, (const unsigned char *) data, sizeof(data), key,
					      SEC_OID_PKCS1_SHA256_WITH_RSA_ENCRYPTION), SECSuccess);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		SECITEM_FreeItem(&sig, PR_FALSE);
		SECKEY_DestroyPrivateKey(key);
		double	ms = (double) (t1.tv_sec - t0.tv_sec) * 1e3 +
			(double) (t1.tv_nsec - t0.tv_nsec) / 1e6;

		if (ms < best)
			best = ms;
	}
	return (best);
}

/* key_named - the cached key found by issuer and serial number, not another */

static void key_named(struct certs *c, CERTCertificate *cert)
{
	unsigned char other[64];
	SECItem	serial = cert->serialNumber;
	SECKEYPrivateKey *key;
	CERTCertificate *found;

	key = certs_key_named(c, &cert->derIssuer, &cert->serialNumber, &found);
	assert_non_null(key);
	assert_non_null(found);
	assert_true(SECITEM_ItemsAreEqual(&found->derCert, &cert->derCert));
	SECKEY_DestroyPrivateKey(key);
	CERT_DestroyCertificate(found);
	/* the same issuer, another serial number: none */
	assert_true(serial.len > 0 && serial.len <= sizeof(other));
	memcpy(other, serial.data, serial.len);
	other[serial.len - 1] ^= 1;
	serial.data = other;
	assert_null(certs_key_named(c, &cert->derIssuer, &serial, &found));
	assert_null(found);
}

static void test_password_db_key_cache(void **state)
{
	struct fixture f;
	CERTCertificate *cert;
	double	slow, fast;

	(void) state;
	fx_open(&f, "pwdb", "s3cret", CERTS_KEYS);
	base(&f);
	assert_int_equal(import(&f, "alice.p12", "wrong", false, NULL), SG_EPASSWORD);
	assert_int_equal(import(&f, "alice.p12", "alice-pw", false, NULL), 0);
	assert_int_equal(certs_find(f.c, "alice@example.com", &cert), 0);
	slow = per_sign_ms(f.c, cert, false, 6);
	fast = per_sign_ms(f.c, cert, true, 30);
	print_message("RSA-2048 signature: %.2f ms stored key, %.2f ms cached copy\n", slow, fast);
	assert_true(fast * 4 < slow);
	key_named(f.c, cert);
	CERT_DestroyCertificate(cert);
	fx_close(&f);
	/* the same database refuses a wrong password */
	f.conf.db_dir = f.db;
	FILE   *fp = fopen(f.pw, "w");

	assert_non_null(fp);
	fputs("wrong\n", fp);
	fclose(fp);
	assert_int_equal(certs_open(&f.main, &f.conf, CERTS_KEYS, &f.c), SG_EPASSWORD);
	assert_null(f.c);
}

/* Harvesting */

static CERTCertificate *temp_cert(const char *name)
{
	struct sg_buf b = SG_BUF_INIT;
	SECItem	der;
	CERTCertificate *c;

	slurp(name, &b);
	der.type = siBuffer;
	der.data = (unsigned char *) b.data;
	der.len = (unsigned int) b.len;
	c = CERT_NewTempCertificate(CERT_GetDefaultCertDB(), &der, NULL, PR_FALSE, PR_TRUE);
	sg_buf_free(&b);
	assert_non_null(c);
	return (c);
}

static void test_harvest(void **state)
{
	struct fixture f;
	CERTCertificate *v[2];
	struct certs_desc d;
	CERTCertificate *found;
	char	err[160];

	(void) state;
	fx_open(&f, "harvest", NULL, 0);
	base(&f);
	v[0] = temp_cert("bob.der");
	v[1] = temp_cert("inter.der");
	assert_int_equal(certs_harvest(f.c, v, 2, err, sizeof(err)), 0);
	assert_int_equal(certs_harvest(f.c, v, 2, err, sizeof(err)), SG_EEXIST);
	CERT_DestroyCertificate(v[0]);
	CERT_DestroyCertificate(v[1]);
	assert_int_equal(certs_find(f.c, "bob@example.org", &found), 0);
	certs_describe(f.c, found, &d);
	assert_true(d.harvested);
	assert_false(d.key);
	assert_true(d.harvested_at > sg_now_ms() / 1000 - 600 &&
		    d.harvested_at <= sg_now_ms() / 1000);
	CERT_DestroyCertificate(found);
	/* untrusted, SHA-1 signed, expired: refused, nothing stored */
	static const char *const bad[] = {"eve.der", "mallory.der", "dave.der"};

	for (size_t i = 0; i < SG_NELEM(bad); i++) {
		v[0] = temp_cert(bad[i]);
		assert_int_equal(certs_harvest(f.c, v, 1, err, sizeof(err)), SG_ECRYPTO);
		assert_true(strlen(err) > 0);
		assert_false(v[0]->isperm);
		CERT_DestroyCertificate(v[0]);
	}
	fx_close(&f);
	/* a read-only database harvests nothing */
	fx_open(&f, "harvest", NULL, CERTS_RDONLY);
	v[0] = temp_cert("frank.der");
	assert_int_equal(certs_harvest(f.c, v, 1, err, sizeof(err)), SG_EDENIED);
	CERT_DestroyCertificate(v[0]);
	assert_int_equal(import(&f, "frank.pem", NULL, false, NULL), SG_EDENIED);
	fx_close(&f);
}

/* Lookups */

static void test_signer_and_recipients(void **state)
{
	struct fixture f;
	struct certs_signer s;
	struct certs_candidates cs;
	struct certs *again;

	(void) state;
	fx_open(&f, "lookup", NULL, CERTS_KEYS);
	assert_int_equal(certs_open(&f.main, &f.conf, 0, &again), SG_EBUSY);
	base(&f);
	assert_int_equal(import(&f, "gateway.p12", "gateway-pw", false, "example.com"), 0);
	assert_int_equal(import(&f, "alice.p12", "alice-pw", false, NULL), 0);
	assert_int_equal(import(&f, "dave.p12", "dave-pw", false, NULL), 0);
	assert_int_equal(certs_find_signer(f.c, "alice@example.com", &s), 0);
	assert_false(s.gateway);
	assert_non_null(s.key);
	assert_string_equal(s.cert->nickname, "alice");
	certs_signer_free(&s);
	/* dave's own certificate expired: the gateway signs for him */
	assert_int_equal(certs_find_signer(f.c, "dave@example.com", &s), 0);
	assert_true(s.gateway);
	assert_string_equal(s.cert->nickname, "gateway");
	certs_signer_free(&s);
	assert_int_equal(certs_find_signer(f.c, "x@example.org", &s), SG_ENOTFOUND);
	/* recipients: own (invalid, expired) first, then the gateway */
	assert_int_equal(certs_find_recipient(f.c, "dave@example.com", &cs), 0);
	assert_int_equal(cs.n, 2);
	assert_false(cs.v[0].gateway);
	assert_false(cs.v[0].check.valid);
	assert_string_equal(cs.v[0].check.reason, "SEC_ERROR_EXPIRED_CERTIFICATE");
	assert_true(cs.v[1].gateway);
	assert_true(cs.v[1].check.valid);
	assert_true(cs.v[1].check.warning);
	assert_int_equal(cs.v[1].check.rev, CERTS_REV_UNKNOWN);
	certs_candidates_free(&cs);
	assert_int_equal(certs_find_recipient(f.c, "nobody@example.org", &cs), 0);
	assert_int_equal(cs.n, 0);
	certs_candidates_free(&cs);
	fx_close(&f);
}

/* Recipient lookups are reused for lookup_cache_ttl, and only then. */

static void test_recipient_cache(void **state)
{
	struct fixture f;
	struct certs_candidates cs;

	(void) state;
	for (int ttl = 0; ttl < 2; ttl++) {
		fx_open(&f, ttl ? "lcache1" : "lcache0", NULL, 0);
		certs_close(f.c);
		f.conf.lookup_cache_ttl = ttl ? 60000 : 0;
		assert_int_equal(certs_open(&f.main, &f.conf, 0, &f.c), 0);
		base(&f);
		assert_int_equal(import(&f, "bob.pem", NULL, false, NULL), 0);
		assert_int_equal(certs_find_recipient(f.c, "bob@example.org", &cs), 0);
		assert_int_equal(cs.n, 1);
		certs_candidates_free(&cs);
		assert_int_equal(certs_remove(f.c, "bob@example.org"), 0);
		assert_int_equal(certs_find_recipient(f.c, "BOB@example.org", &cs), 0);
		assert_int_equal(cs.n, ttl ? 1 : 0);
		if (ttl)
			assert_string_equal(cs.v[0].cert->subjectName, "CN=bob");
		certs_candidates_free(&cs);
		fx_close(&f);
	}
}

/*
 * certs_check()'s good verdicts are reused for lookup_cache_ttl: the root
 * distrusted after a check still lets bob pass from the cache (ttl), not
 * without it (0), nor once certs_lookup_forget() emptied it.
 */
static void test_verdict_cache(void **state)
{
	struct fixture f;
	struct certs_check chk;
	CERTCertificate *bob, *root;
	CERTCertTrust none;

	(void) state;
	for (int ttl = 0; ttl < 2; ttl++) {
		fx_open(&f, ttl ? "vcache1" : "vcache0", NULL, 0);
		certs_close(f.c);
		f.conf.lookup_cache_ttl = ttl ? 60000 : 0;
		f.conf.revocation = CERTS_REV_OFF;
		assert_int_equal(certs_open(&f.main, &f.conf, 0, &f.c), 0);
		base(&f);
		assert_int_equal(import(&f, "bob.pem", NULL, false, NULL), 0);
		assert_int_equal(certs_find(f.c, "bob@example.org", &bob), 0);
		assert_int_equal(certs_check(f.c, bob, CERTS_USE_ENCRYPT, &chk), 0);
		assert_true(chk.valid);
		root = CERT_DupCertificate(bob);
		while (!root->isRoot) {
			CERTCertificate *up = CERT_FindCertIssuer(root, PR_Now(), certUsageAnyCA);

			assert_non_null(up);
			CERT_DestroyCertificate(root);
			root = up;
		}
		memset(&none, 0, sizeof(none));
		assert_int_equal(CERT_ChangeCertTrust(CERT_GetDefaultCertDB(), root, &none),
				 SECSuccess);
		assert_int_equal(certs_check(f.c, bob, CERTS_USE_ENCRYPT, &chk), 0);
		assert_int_equal(chk.valid, ttl == 1);
		certs_lookup_forget(f.c);
		assert_int_equal(certs_check(f.c, bob, CERTS_USE_ENCRYPT, &chk), 0);
		assert_false(chk.valid);
		CERT_DestroyCertificate(root);
		CERT_DestroyCertificate(bob);
		fx_close(&f);
	}
}

/* the verdict cache's own calls (certs_int.h), for the test below */
bool	certs_vcache_get(struct certs *, CERTCertificate *, int usage, struct certs_check *,
			 uint64_t *gen);
void	certs_vcache_put(struct certs *, CERTCertificate *, int usage, const struct certs_check *,
			 uint64_t gen);

/*
 * The verdict cache (certs_vcache.c) from its edges: a CRL imported in
 * this process empties it; a verdict decided before it was emptied is
 * not kept (the decision may rest on what the clear was for); one for a
 * certificate past its notAfter is never kept.
 */
static void test_verdict_cache_edges(void **state)
{
	struct fixture f;
	struct certs_check chk, good = {.valid = true };
	struct sg_buf crl = SG_BUF_INIT;
	CERTCertificate *bob, *dave;
	char	err[256];
	uint64_t gen;

	(void) state;
	fx_open(&f, "vcache_edges", NULL, 0);
	certs_close(f.c);
	f.conf.lookup_cache_ttl = 60000;
	f.conf.revocation = CERTS_REV_OFF;
	assert_int_equal(certs_open(&f.main, &f.conf, 0, &f.c), 0);
	base(&f);
	assert_int_equal(import(&f, "bob.pem", NULL, false, NULL), 0);
	assert_int_equal(import(&f, "dave.pem", NULL, false, NULL), 0);
	assert_int_equal(certs_find(f.c, "bob@example.org", &bob), 0);
	assert_int_equal(certs_find(f.c, "dave@example.com", &dave), 0);

	assert_false(certs_vcache_get(f.c, bob, CERTS_USE_ENCRYPT, &chk, &gen));
	certs_vcache_put(f.c, bob, CERTS_USE_ENCRYPT, &good, gen);
	assert_true(certs_vcache_get(f.c, bob, CERTS_USE_ENCRYPT, &chk, &gen) && chk.valid);
	slurp("inter.crl", &crl);
	assert_int_equal(certs_crl_import(f.c, crl.data, crl.len, err, sizeof(err)), 0);
	assert_false(certs_vcache_get(f.c, bob, CERTS_USE_ENCRYPT, &chk, &gen));

	/* looked, then emptied, then the verdict arrives: dropped */
	certs_lookup_forget(f.c);
	certs_vcache_put(f.c, bob, CERTS_USE_ENCRYPT, &good, gen);
	assert_false(certs_vcache_get(f.c, bob, CERTS_USE_ENCRYPT, &chk, &gen));
	certs_vcache_put(f.c, bob, CERTS_USE_ENCRYPT, &good, gen);
	assert_true(certs_vcache_get(f.c, bob, CERTS_USE_ENCRYPT, &chk, &gen));

	/* dave's notAfter has passed: nothing to keep */
	assert_false(certs_vcache_get(f.c, dave, CERTS_USE_ENCRYPT, &chk, &gen));
	certs_vcache_put(f.c, dave, CERTS_USE_ENCRYPT, &good, gen);
	assert_false(certs_vcache_get(f.c, dave, CERTS_USE_ENCRYPT, &chk, &gen));

	sg_buf_free(&crl);
	CERT_DestroyCertificate(bob);
	CERT_DestroyCertificate(dave);
	fx_close(&f);
}

/* The CRL schedule: a fetch on libuv's pool, the result on the loop. */

struct crl_run {
	int	calls, rc;
	size_t	fetched, failed;
	struct certs_crl_timer *timer;
	int	stopped;		/* calls of the stop callback */
};

static void crl_stopped(void *arg)
{
	struct crl_run *r = arg;

	r->stopped++;
}

static void crl_done(void *arg, int rc, size_t fetched, size_t failed)
{
	struct crl_run *r = arg;

	r->calls++;
	r->rc = rc;
	r->fetched = fetched;
	r->failed = failed;
	certs_crl_timer_stop(r->timer, crl_stopped, r);
}

static unsigned crl_port(void)
{
	char	path[512], name[16];
	unsigned port = 0, p;
	FILE   *fp;

	snprintf(path, sizeof(path), "%s/pki/ports.txt", dir);
	assert_non_null(fp = fopen(path, "r"));
	while (fscanf(fp, "%15s %u", name, &p) == 2)
		if (strcmp(name, "crl") == 0)
			port = p;
	fclose(fp);
	assert_true(port > 0);
	return (port);
}

static void test_crl_timer(void **state)
{
	struct fixture f;
	struct crl_run run = {0};
	struct certs_check k;
	CERTCertificate *carol;
	struct tc_proc http = {0, -1, -1};
	char	port[16], root[512];
	uv_loop_t loop;

	(void) state;
	snprintf(port, sizeof(port), "%u", crl_port());
	snprintf(root, sizeof(root), "%s/pki", dir);
	char   *argv[] = {"python3", "-m", "http.server", port, "--bind", "127.0.0.1",
		"--directory", root, NULL};

	assert_int_equal(tc_spawn(&http, argv), 0);
	fx_open(&f, "crltimer", NULL, 0);
	base(&f);
	assert_int_equal(import(&f, "carol.pem", NULL, false, NULL), 0);
	assert_int_equal(certs_find(f.c, "carol@example.com", &carol), 0);
	certs_check(f.c, carol, CERTS_USE_ENCRYPT, &k);
	assert_int_not_equal(k.rev, CERTS_REV_REVOKED);
	/* the server may take a moment: retry runs until one fetched */
	for (int i = 0; i < 200 && run.fetched == 0; i++) {
		assert_int_equal(uv_loop_init(&loop), 0);
		memset(&run, 0, sizeof(run));
		assert_int_equal(certs_crl_timer_start(&loop, f.c, crl_done, &run, &run.timer), 0);
		assert_non_null(run.timer);
		uv_run(&loop, UV_RUN_DEFAULT);
		assert_int_equal(uv_loop_close(&loop), 0);
		assert_int_equal(run.calls, 1);
		assert_int_equal(run.stopped, 1);
		assert_int_equal(run.rc, 0);
	}
	assert_int_equal(run.fetched, 1);
	certs_check(f.c, carol, CERTS_USE_ENCRYPT, &k);
	assert_int_equal(k.rev, CERTS_REV_REVOKED);
	assert_string_equal(k.rev_source, "crl");
	CERT_DestroyCertificate(carol);
	tc_reap(&http);
	fx_close(&f);
}

static void test_close_reports_leaks(void **state)
{
	struct fixture f;
	CERTCertificate *held;

	(void) state;
	fx_open(&f, "leak", NULL, 0);
	base(&f);
	assert_int_equal(certs_find(f.c, "Sealgate Test Root CA", &held), 0);
	assert_int_equal(certs_close(f.c), SG_EBUSY);
	/* NSS stays initialised (this test runs last); the reference is still good */
	assert_string_equal(held->subjectName, "CN=Sealgate Test Root CA");
	CERT_DestroyCertificate(held);
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_meta_parse),
		cmocka_unit_test(test_password_db_key_cache),
		cmocka_unit_test(test_harvest),
		cmocka_unit_test(test_signer_and_recipients),
		cmocka_unit_test(test_recipient_cache),
		cmocka_unit_test(test_verdict_cache),
		cmocka_unit_test(test_verdict_cache_edges),
		cmocka_unit_test(test_crl_timer),
		cmocka_unit_test(test_close_reports_leaks),
	};

	sg_log_init("test_certs_db", "test", SG_LOG_STDERR);
	return (cmocka_run_group_tests_name("certs_db", tests, group_setup, group_teardown));
}
