/*
 * NAME
 *	test_worker 1
 * SUMMARY
 *	the worker end to end on a real queue and certificate database
 * DESCRIPTION
 *	Builds a PKI with openssl, imports it through certs/ (a gateway
 *	certificate for example.com, alice's personal key, bob's public
 *	certificate), opens a queue in a temporary state directory, spools
 *	messages as smtpd would and runs the worker's claim-and-process pass
 *	(worker_run_once) over them. The results are read back from the
 *	queue and checked with openssl: who signed, who can decrypt, what was
 *	held, rejected, split, recorded as an incident and notified.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "test_dir.h"

#include "common/sg.h"
#include "queue/queue.h"
#include "certs/certs.h"
#include "worker/worker.h"

struct conf {
	struct sg_conf_main main;
	struct queue_conf queue;
	struct certs_conf certs;
	struct worker_conf worker;
};

static char dir[] = "/tmp/test_worker.XXXXXX";
static struct conf conf;
static struct sg_arena *arena;
static struct queue *q;
static struct certs *certs;

static const char pki[] =
	"set -e\n"
	"cd \"$1\"\n"
	"exec >pki.log 2>&1\n"
	"openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \\\n"
	"  -subj /CN=ca -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign\n"
	"user() {\n"
	"  openssl req -newkey ${KEY:-rsa:2048} -nodes -keyout $1.key -out $1.csr -subj \"/CN=$1/emailAddress=$2\"\n"
	"  printf 'basicConstraints=CA:false\\nkeyUsage=critical,digitalSignature,keyEncipherment\\n"
	"extendedKeyUsage=emailProtection\\nsubjectAltName=email:%s\\n' $2 > $1.ext\n"
	"  openssl x509 -req -in $1.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out $1.crt -days 365 -extfile $1.ext\n"
	"  openssl pkcs12 -export -inkey $1.key -in $1.crt -name $1 -passout pass:pw -out $1.p12; }\n"
	"user gw gateway@example.com\n"
	"user alice alice@example.com\n"
	"user bob bob@partner.org\n"
	"user x x@secret.org\n"
	"user dave dave@other.org\n"
	"KEY='ec -pkeyopt ec_paramgen_curve:P-256' user eve eve@ec.org\n"
	"mkdir state\n";

static const char conf_text[] =
	"state_dir = \"state\";\nhostname = \"gw.test\";\n"
	"certs = { db_dir = \"nssdb\"; revocation = \"off\"; };\n"
	"worker = { notify = \"admin@example.com\"; rules = (\n"
	" { name = \"secret\"; direction = \"outbound\"; recipients = [ \"@secret.org\" ];\n"
	"   sign = \"if-possible\"; encrypt = \"mandatory\"; on_encrypt_failure = \"reject\"; },\n"
	" { name = \"held\"; direction = \"outbound\"; recipients = [ \"@hold.org\" ];\n"
	"   encrypt = \"mandatory\"; on_encrypt_failure = \"hold\"; },\n"
	" { name = \"req\"; direction = \"outbound\"; recipients = [ \"@req.org\" ];\n"
	"   sign = \"required\"; on_sign_failure = \"hold\"; },\n"
	" { name = \"strip\"; direction = \"outbound\"; recipients = [ \"@strip.org\" ];\n"
	"   sign = \"required\"; strip_client_signature = true; },\n"
	" { name = \"strict\"; direction = \"inbound\"; recipients = [ \"@strict.example.com\" ];\n"
	"   verify = true; on_verify_failure = \"hold\"; },\n"
	" { name = \"outbound\"; direction = \"outbound\"; sign = \"if-possible\";"
	"   encrypt = \"if-possible\"; },\n"
	" { name = \"inbound\"; direction = \"inbound\"; decrypt = true; verify = true; harvest = true; }\n"
	"); };\n";

static const struct sg_conf_section sections[] = {
	{NULL, sg_conf_main_rows, offsetof(struct conf, main)},
	{"queue", queue_conf_rows, offsetof(struct conf, queue)},
	{"certs", certs_conf_rows, offsetof(struct conf, certs)},
	{"worker", worker_conf_rows, offsetof(struct conf, worker)},
};

static size_t incidents_of(uint64_t id, const char *kind);

static void import(const char *file, bool ca, const char *gateway)
{
	struct sg_buf b = SG_BUF_INIT;
	struct certs_import_opts o = {.format = certs_format_of(file),.password = "pw",.ca = ca,
		.gateway = gateway };
	struct certs_import_result r;
	char	err[200];

	tdir_get(dir, file, &b);
	if (certs_import(certs, b.data, b.len, &o, &r, err, sizeof(err)) < 0)
		fail_msg("import %s: %s", file, err);
	sg_buf_free(&b);
}

static int setup(void **state)
{
	struct sg_buf errs = SG_BUF_INIT;
	char	path[600];

	(void) state;
	if (mkdtemp(dir) == NULL)
		return (-1);
	tdir_put(dir, "pki.sh", pki, strlen(pki));
	if (tdir_run(dir, "sh pki.sh %s", dir) != 0)
		return (-1);
	tdir_put(dir, "sealgate.conf", conf_text, strlen(conf_text));
	snprintf(path, sizeof(path), "%s/sealgate.conf", dir);
	arena = sg_arena_new();
	if (sg_conf_load(path, sections, SG_NELEM(sections), &conf, arena, &errs) < 0) {
		fprintf(stderr, "%.*s", (int) errs.len, errs.data);
		return (-1);
	}
	sg_buf_free(&errs);
	if (certs_open(&conf.main, &conf.certs, CERTS_KEYS, &certs) < 0
	    || queue_open(&conf.main, &conf.queue, 0, &q) < 0)
		return (-1);
	import("ca.crt", true, NULL);
	import("gw.p12", false, "example.com");
	import("alice.p12", false, NULL);
	import("bob.crt", false, NULL);
	import("x.crt", false, NULL);
	import("eve.crt", false, NULL);
	return (0);
}

static int teardown(void **state)
{
	(void) state;
	queue_close(q);
	if (certs)
		assert_int_equal(certs_close(certs), 0);
	sg_arena_free(arena);
	if (getenv("KEEP_TEST_DIR") == NULL)
		tdir_run(dir, "rm -rf %s", dir);
	return (0);
}

/* spool_flags - a message as smtpd would store it, with envelope flags; returns its id */

static uint64_t spool_flags(enum queue_direction dir_, const char *from, const char *const *rcpts,
			    const char *body, uint32_t flags)
{
	struct queue_env env;
	struct queue_body_src b = {.data = body,.fd = -1,.len = strlen(body) };
	uint64_t id;

	queue_env_init(&env);
	env.state = QUEUE_INCOMING;
	env.direction = dir_;
	env.sender = from;
	env.listener = "mx";
	env.subject = "test";
	env.flags = flags;
	for (const char *const *r = rcpts; *r; r++)
		assert_non_null(queue_env_rcpt_add(&env, *r));
	assert_int_equal(queue_spool(q, &env, &b, &id), 0);
	queue_env_free(&env);
	return (id);
}

static uint64_t spool(enum queue_direction dir_, const char *from, const char *const *rcpts,
		      const char *body)
{
	return (spool_flags(dir_, from, rcpts, body, 0));
}

static size_t work(void)
{
	size_t	n;

	assert_int_equal(worker_run_once(q, certs, &conf.worker, "gw.test", &n), 0);
	return (n);
}

/* processed - the message's state, crypto bits and body after the worker */

static enum queue_state processed(uint64_t id, uint32_t *crypto, const char *file)
{
	struct queue_env env;
	struct sg_buf b = SG_BUF_INIT;
	char	buf[65536];
	size_t	got;
	uint64_t off = 0;
	enum queue_state st;

	queue_env_init(&env);
	if (queue_get(q, id, 0, &env) < 0)
		assert_int_equal(queue_get(q, id, QUEUE_GET_TRACK, &env), 0);
	st = env.state;
	if (crypto)
		*crypto = env.crypto;
	queue_env_free(&env);
	if (file == NULL)
		return (st);
	while (queue_body_read(q, id, QUEUE_BODY_PROCESSED, off, buf, sizeof(buf), &got) == 0 && got) {
		sg_buf_append(&b, buf, got);
		off += got;
	}
	tdir_put(dir, file, b.data, b.len);
	sg_buf_free(&b);
	return (st);
}

static const char msg[] =
	"From: %s\r\nTo: someone\r\nSubject: test\r\nContent-Type: text/plain\r\n\r\nhello there\r\n";

static char *body_from(const char *from)
{
	static char b[512];

	snprintf(b, sizeof(b), msg, from);
	return (b);
}

static void test_gateway_sign_and_encrypt(void **state)
{
	const char *r[] = { "bob@partner.org", NULL };
	uint64_t id = spool(QUEUE_DIR_OUTBOUND, "carl@example.com", r, body_from("carl@example.com"));
	uint32_t crypto;

	(void) state;
	assert_int_equal(work(), 1);
	assert_int_equal(processed(id, &crypto, "t1.eml"), QUEUE_READY);
	assert_int_equal(crypto & (WORKER_DID_SIGN | WORKER_DID_ENCRYPT),
			 WORKER_DID_SIGN | WORKER_DID_ENCRYPT);
	/* bob decrypts; inside, the gateway's signature verifies */
	assert_int_equal(tdir_run(dir, "openssl cms -decrypt -in t1.eml -recip bob.crt -inkey bob.key -out t1.in"
			     " && openssl cms -verify -in t1.in -CAfile ca.crt -signer t1.signer"
			     " -out /dev/null && openssl x509 -in t1.signer -noout -subject"
			     " | grep -q CN.=.gw"), 0);
	/* the gateway's own copy: encrypted to itself too */
	assert_int_equal(tdir_run(dir, "openssl cms -decrypt -in t1.eml -recip gw.crt -inkey gw.key -out /dev/null"), 0);
}

static void test_personal_over_gateway(void **state)
{
	const char *r[] = { "nobody@nowhere.org", NULL };
	uint64_t id = spool(QUEUE_DIR_OUTBOUND, "alice@example.com", r, body_from("alice@example.com"));
	uint32_t crypto;

	(void) state;
	assert_int_equal(work(), 1);
	assert_int_equal(processed(id, &crypto, "t2.eml"), QUEUE_READY);
	/* no certificate for the recipient: if-possible means signed only */
	assert_int_equal(crypto & (WORKER_DID_SIGN | WORKER_DID_ENCRYPT), WORKER_DID_SIGN);
	assert_int_equal(tdir_run(dir, "openssl cms -verify -in t2.eml -CAfile ca.crt -signer t2.signer"
			     " -out /dev/null && openssl x509 -in t2.signer -noout -subject"
			     " | grep -q CN.=.alice"), 0);
}

struct found {
	uint64_t parent;
	const char *rcpt;		/* look for a message to this address */
	uint64_t id;
	enum queue_state state;
	size_t	n;
};

static int find_fn(const struct queue_env *e, void *arg)
{
	struct found *f = arg;

	if (f->parent && e->parent != f->parent)
		return (0);
	for (size_t i = 0; i < e->nrcpt; i++)
		if (f->rcpt == NULL || strcmp(e->rcpt[i].addr, f->rcpt) == 0) {
			f->id = e->id;
			f->state = e->state;
			f->n++;
			break;
		}
	return (0);
}

static struct found find(uint64_t parent, const char *rcpt)
{
	struct found f = {.parent = parent,.rcpt = rcpt };
	uint64_t cursor = 0;

	assert_int_equal(queue_scan(q, 0, &cursor, 0, find_fn, &f), 0);
	return (f);
}

static int count_incidents(const struct queue_incident *inc, void *arg)
{
	const struct found *f = arg;

	if (inc->msg_id == f->id && strcmp(inc->kind, "no-cert") == 0)
		((struct found *) arg)->n++;
	return (0);
}

static void test_mandatory_all_or_nothing_and_split(void **state)
{
	const char *r[] = { "bob@partner.org", "x@secret.org", "y@secret.org", NULL };
	uint64_t id = spool(QUEUE_DIR_OUTBOUND, "carl@example.com", r, body_from("carl@example.com"));
	struct found f, inc = {.id = id };
	uint64_t cursor = 0;

	(void) state;
	assert_int_equal(work(), 1);
	/* split: the original left the queue, one copy per rule */
	assert_int_equal(processed(id, NULL, NULL), QUEUE_DONE);
	f = find(id, "bob@partner.org");
	assert_int_equal(f.n, 1);
	assert_int_equal(f.state, QUEUE_READY);
	/* x has a certificate, y has none: nobody under "secret" gets it */
	f = find(id, "x@secret.org");
	assert_int_equal(f.n, 0);
	/* the sender learns why, from the null sender */
	f = find(0, "carl@example.com");
	assert_true(f.n >= 1);
	/* the incident is recorded, and the notify address gets a mail */
	assert_int_equal(queue_incident_list(q, true, &cursor, count_incidents, &inc), 0);
	assert_int_equal(inc.n, 1);
	assert_true(find(0, "admin@example.com").n >= 1);
}

static void test_if_possible_splits_by_certificate(void **state)
{
	const char *r[] = { "bob@partner.org", "nobody@nowhere.org", NULL };
	uint64_t id = spool(QUEUE_DIR_OUTBOUND, "carl@example.com", r, body_from("carl@example.com"));
	struct found enc, plain;
	uint32_t crypto;

	(void) state;
	assert_int_equal(work(), 1);
	enc = find(id, "bob@partner.org");
	plain = find(id, "nobody@nowhere.org");
	assert_int_equal(enc.n, 1);
	assert_int_equal(plain.n, 1);
	assert_true(enc.id != plain.id);
	/* bob's copy is encrypted to bob; the other one is signed, in clear */
	assert_int_equal(processed(enc.id, &crypto, "t8a.eml"), QUEUE_READY);
	assert_true(crypto & WORKER_DID_ENCRYPT);
	assert_int_equal(tdir_run(dir, "openssl cms -decrypt -in t8a.eml -recip bob.crt -inkey bob.key -out /dev/null"), 0);
	assert_int_equal(processed(plain.id, &crypto, "t8b.eml"), QUEUE_READY);
	assert_int_equal(crypto & (WORKER_DID_ENCRYPT | WORKER_DID_SIGN), WORKER_DID_SIGN);
	assert_int_equal(tdir_run(dir, "openssl cms -verify -in t8b.eml -CAfile ca.crt -out /dev/null"), 0);
}

static void test_ec_recipient_not_encrypted(void **state)
{
	const char *r[] = { "eve@ec.org", NULL };
	uint64_t id = spool(QUEUE_DIR_OUTBOUND, "carl@example.com", r, body_from("carl@example.com"));
	uint32_t crypto;

	(void) state;
	/* NSS 3.87 cannot encrypt to an EC key: treated as no certificate */
	assert_int_equal(work(), 1);
	assert_int_equal(processed(id, &crypto, NULL), QUEUE_READY);
	assert_int_equal(crypto & (WORKER_DID_ENCRYPT | WORKER_DID_SIGN), WORKER_DID_SIGN);
	assert_int_equal(incidents_of(id, "encrypt-failed"), 0);
}

static void test_hold(void **state)
{
	const char *r[] = { "z@hold.org", NULL };
	uint64_t id = spool(QUEUE_DIR_OUTBOUND, "carl@example.com", r, body_from("carl@example.com"));

	(void) state;
	assert_int_equal(work(), 1);
	assert_int_equal(processed(id, NULL, NULL), QUEUE_HOLD);
}

static void test_harvest_then_encrypt(void **state)
{
	const char *in[] = { "alice@example.com", NULL };
	const char *out[] = { "dave@other.org", NULL };
	struct sg_buf m = SG_BUF_INIT;
	uint64_t id;
	uint32_t crypto;

	(void) state;
	/* dave signs with a certificate the gateway has never seen */
	assert_int_equal(tdir_run(dir, "printf 'Content-Type: text/plain\\r\\n\\r\\nhi alice\\r\\n' > d.txt &&"
			     " openssl cms -sign -in d.txt -signer dave.crt -inkey dave.key"
			     " -from dave@other.org -to alice@example.com -subject hi -out d.eml"), 0);
	tdir_get(dir, "d.eml", &m);
	sg_buf_putc(&m, 0);
	id = spool(QUEUE_DIR_INBOUND, "dave@other.org", in, m.data);
	assert_int_equal(work(), 1);
	assert_int_equal(processed(id, &crypto, "t5.eml"), QUEUE_READY);
	assert_true(crypto & WORKER_DID_HARVEST);
	assert_int_equal(tdir_run(dir, "head -1 t5.eml | grep -q '^X-Sealgate-Signature: valid; signer=\"dave@other.org\"'"), 0);
	/* now mail to dave is encrypted to the harvested certificate */
	id = spool(QUEUE_DIR_OUTBOUND, "alice@example.com", out, body_from("alice@example.com"));
	assert_int_equal(work(), 1);
	assert_int_equal(processed(id, &crypto, "t6.eml"), QUEUE_READY);
	assert_true(crypto & WORKER_DID_ENCRYPT);
	assert_int_equal(tdir_run(dir, "openssl cms -decrypt -in t6.eml -recip dave.crt -inkey dave.key -out /dev/null"), 0);
	sg_buf_free(&m);
}

static int count_kind(const struct queue_incident *inc, void *arg)
{
	struct found *f = arg;

	if (inc->msg_id == f->id && strcmp(inc->kind, f->rcpt) == 0)
		f->n++;
	return (0);
}

/* incidents_of - how many incidents of kind the message has */

static size_t incidents_of(uint64_t id, const char *kind)
{
	struct found f = {.id = id,.rcpt = kind };
	uint64_t cursor = 0;

	assert_int_equal(queue_incident_list(q, true, &cursor, count_kind, &f), 0);
	return (f.n);
}

static void test_failure_modes(void **state)
{
	const char *req[] = { "r@req.org", NULL };
	const char *strict[] = { "s@strict.example.com", NULL };
	const char *in[] = { "alice@example.com", NULL };
	const char *strip[] = { "t@strip.org", NULL };
	struct sg_buf m = SG_BUF_INIT;
	uint64_t id;
	uint32_t crypto;

	(void) state;
	/* sign required, no certificate for the sender's domain: held */
	id = spool(QUEUE_DIR_OUTBOUND, "carl@nosuch.org", req, body_from("carl@nosuch.org"));
	assert_int_equal(work(), 1);
	assert_int_equal(processed(id, NULL, NULL), QUEUE_HOLD);
	assert_int_equal(incidents_of(id, "no-signing-cert"), 1);

	/* a tampered signature under on_verify_failure = hold: held */
	assert_int_equal(tdir_run(dir, "printf 'Content-Type: text/plain\\r\\n\\r\\noriginal\\r\\n' > v.txt &&"
			     " openssl cms -sign -in v.txt -signer dave.crt -inkey dave.key"
			     " -from dave@other.org -to s@strict.example.com -subject v -out v.eml &&"
			     " sed -i s/original/changed!/ v.eml"), 0);
	tdir_get(dir, "v.eml", &m);
	sg_buf_putc(&m, 0);
	id = spool(QUEUE_DIR_INBOUND, "dave@other.org", strict, m.data);
	assert_int_equal(work(), 1);
	assert_int_equal(processed(id, NULL, NULL), QUEUE_HOLD);
	assert_int_equal(incidents_of(id, "bad-signature"), 1);

	/* encrypted to a key we do not hold, on_decrypt_failure = pass: delivered as is */
	sg_buf_reset(&m);
	assert_int_equal(tdir_run(dir, "openssl cms -encrypt -aes256 -in v.txt -out e.eml bob.crt"), 0);
	tdir_get(dir, "e.eml", &m);
	sg_buf_putc(&m, 0);
	id = spool(QUEUE_DIR_INBOUND, "bob@partner.org", in, m.data);
	assert_int_equal(work(), 1);
	assert_int_equal(processed(id, &crypto, NULL), QUEUE_READY);
	assert_int_equal(crypto & WORKER_DID_DECRYPT, 0);
	assert_int_equal(incidents_of(id, "undecryptable"), 1);

	/* a client's own signature is replaced by the gateway's */
	sg_buf_reset(&m);
	assert_int_equal(tdir_run(dir, "openssl cms -sign -in v.txt -signer alice.crt -inkey alice.key"
			     " -from alice@example.com -to t@strip.org -subject s -out c.eml"), 0);
	tdir_get(dir, "c.eml", &m);
	sg_buf_putc(&m, 0);
	id = spool(QUEUE_DIR_OUTBOUND, "alice@example.com", strip, m.data);
	assert_int_equal(work(), 1);
	assert_int_equal(processed(id, &crypto, "t7.eml"), QUEUE_READY);
	assert_true(crypto & WORKER_DID_STRIP);
	assert_true(crypto & WORKER_DID_SIGN);
	assert_int_equal(tdir_run(dir, "[ $(grep -c 'Content-Type: multipart/signed' t7.eml) = 1 ] &&"
			     " openssl cms -verify -in t7.eml -CAfile ca.crt -out t7.out &&"
			     " grep -q original t7.out"), 0);
	sg_buf_free(&m);
}

/*
 * Lines over 998 octets, flagged by smtpd: every part that leaves is legal,
 * whether signed (the signature over the legal form verifies), held, or
 * under no rule; an unflagged message is not looked at.
 */
static void test_long_lines(void **state)
{
	const char *sign[] = { "r@req.org", NULL };
	const char *held[] = { "z@hold.org", NULL };
	const char *none[] = { "n@nowhere.test", NULL };
	const char *legal = "LC_ALL=C awk '{ if (length($0) > 999) exit 1 }' %s";
	struct sg_buf m = SG_BUF_INIT;
	uint64_t id[4];
	uint32_t crypto;

	(void) state;
	sg_buf_puts(&m, "From: carl@example.com\r\nTo: someone\r\nSubject: ");
	for (int i = 0; i < 200; i++)
		sg_buf_printf(&m, "word%d ", i);
	sg_buf_puts(&m, "\r\n\r\n<Invoice>");
	for (int i = 0; i < 150; i++)
		sg_buf_puts(&m, "<Item>10.00</Item>");
	sg_buf_puts(&m, "</Invoice>\r\n");
	sg_buf_putc(&m, 0);
	id[0] = spool_flags(QUEUE_DIR_OUTBOUND, "carl@example.com", sign, m.data, QUEUE_F_LONGLINES);
	id[1] = spool_flags(QUEUE_DIR_OUTBOUND, "carl@example.com", held, m.data, QUEUE_F_LONGLINES);
	id[2] = spool_flags(QUEUE_DIR_UNKNOWN, "carl@example.com", none, m.data, QUEUE_F_LONGLINES);
	id[3] = spool_flags(QUEUE_DIR_UNKNOWN, "carl@example.com", none, m.data, 0);
	assert_int_equal(work(), 4);
	assert_int_equal(processed(id[0], &crypto, "ll0.eml"), QUEUE_READY);
	assert_true(crypto & WORKER_DID_SIGN);
	assert_int_equal(tdir_run(dir, legal, "ll0.eml"), 0);
	assert_int_equal(tdir_run(dir, "openssl cms -verify -in ll0.eml -CAfile ca.crt -out ll0.out"
			     " && grep -q 'quoted-printable' ll0.out"), 0);
	assert_int_equal(processed(id[1], NULL, "ll1.eml"), QUEUE_HOLD);
	assert_int_equal(tdir_run(dir, legal, "ll1.eml"), 0);
	assert_int_equal(processed(id[2], NULL, "ll2.eml"), QUEUE_READY);
	assert_int_equal(tdir_run(dir, legal, "ll2.eml"), 0);
	assert_int_equal(tdir_run(dir, "grep -q '^Content-Transfer-Encoding: quoted-printable' ll2.eml"), 0);
	/* not flagged: no processed body, delivery sends the original */
	assert_int_equal(processed(id[3], NULL, "ll3.eml"), QUEUE_READY);
	assert_int_not_equal(tdir_run(dir, legal, "ll3.eml"), 0);
	sg_buf_free(&m);
}

static void test_idempotent(void **state)
{
	const char *r[] = { "bob@partner.org", NULL };

	(void) state;
	(void) spool(QUEUE_DIR_OUTBOUND, "carl@example.com", r, body_from("carl@example.com"));
	assert_int_equal(work(), 1);
	/* nothing left: a second pass claims nothing and changes nothing */
	assert_int_equal(work(), 0);
}

/*
 * A pass over more messages than one batch, each batch written back in one
 * group commit: every message gets its own outcome (signed and encrypted,
 * held, rejected), one left behind by a worker that died is taken over,
 * and each is completed exactly once.
 */
static void test_batch_group_commit(void **state)
{
	const char *ok[] = { "bob@partner.org", NULL }, *held[] = { "z@hold.org", NULL };
	const char *rejected[] = { "y@secret.org", NULL };
	const char *from = "carl@example.com";
	uint64_t ids[7], got[8];
	struct queue_stats st;
	int64_t	batch = conf.worker.batch;
	uint64_t before;
	uint32_t crypto;
	size_t	n;

	(void) state;
	assert_int_equal(queue_stats(q, &st), 0);
	before = st.counters[QUEUE_C_PROCESSED];
	ids[0] = spool(QUEUE_DIR_OUTBOUND, from, ok, body_from(from));
	/* a worker claimed it and died: its lease runs out */
	assert_int_equal(queue_claim(q, "worker.dead", 1, 8, got, &n), 0);
	assert_true(n == 1 && got[0] == ids[0]);
	usleep(5000);
	for (int i = 1; i < 5; i++)
		ids[i] = spool(QUEUE_DIR_OUTBOUND, from, ok, body_from(from));
	ids[5] = spool(QUEUE_DIR_OUTBOUND, from, held, body_from(from));
	ids[6] = spool(QUEUE_DIR_OUTBOUND, from, rejected, body_from(from));
	conf.worker.batch = 3;
	assert_int_equal(work(), 7);
	conf.worker.batch = batch;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(processed(ids[i], &crypto, NULL), QUEUE_READY);
		assert_int_equal(crypto & (WORKER_DID_SIGN | WORKER_DID_ENCRYPT),
				 WORKER_DID_SIGN | WORKER_DID_ENCRYPT);
	}
	assert_int_equal(processed(ids[5], NULL, NULL), QUEUE_HOLD);
	assert_int_equal(processed(ids[6], NULL, NULL), QUEUE_DONE);
	assert_int_equal(queue_stats(q, &st), 0);
	assert_true(st.counters[QUEUE_C_PROCESSED] - before == 7);
	/* the dead worker's late completion is refused */
	assert_int_equal(queue_complete(q, ids[0], "worker.dead", NULL, 0, NULL), SG_EEXIST);
	assert_int_equal(work(), 0);
}

/* queue_file_size - how large the queue's data file has grown */

static off_t queue_file_size(void)
{
	char	path[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/state/queue/data.mdb", dir);
	assert_int_equal(stat(path, &st), 0);
	return (st.st_size);
}

/*
 * The signed copy of a large message refers to the original in the queue
 * (queue_body.c): twenty signed copies of 300 KB grow the queue by what
 * the signatures add, not by 6 MB. The body is one line repeated, whose
 * last bytes occur everywhere in it.
 */
static void test_large_signed_message_is_not_copied(void **state)
{
	const char *r[] = { "nobody@nowhere.org", NULL };
	struct sg_buf big = SG_BUF_INIT;
	uint64_t ids[20];
	uint32_t crypto;
	off_t	before;

	(void) state;
	sg_buf_printf(&big, "From: alice@example.com\r\nTo: nobody@nowhere.org\r\n"
		      "Subject: invoices\r\nContent-Type: text/plain\r\n\r\n");
	while (big.len < 300000)
		sg_buf_printf(&big, "Invoice line: 1 x widget, 42.00 EUR, thank you.\r\n");
	for (size_t i = 0; i < SG_NELEM(ids); i++)
		ids[i] = spool(QUEUE_DIR_OUTBOUND, "alice@example.com", r, big.data);
	before = queue_file_size();
	assert_int_equal(work(), SG_NELEM(ids));
	assert_true(queue_file_size() - before < (off_t) (2 << 20));
	assert_int_equal(processed(ids[7], &crypto, "t9.eml"), QUEUE_READY);
	assert_int_equal(crypto & (WORKER_DID_SIGN | WORKER_DID_ENCRYPT), WORKER_DID_SIGN);
	assert_int_equal(tdir_run(dir, "openssl cms -verify -in t9.eml -CAfile ca.crt"
			     " -out t9.txt 2>/dev/null && [ $(grep -c '^Invoice line' t9.txt) = %zu ]",
			     (big.len - 96) / 49), 0);
	sg_buf_free(&big);
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gateway_sign_and_encrypt),
		cmocka_unit_test(test_personal_over_gateway),
		cmocka_unit_test(test_mandatory_all_or_nothing_and_split),
		cmocka_unit_test(test_if_possible_splits_by_certificate),
		cmocka_unit_test(test_ec_recipient_not_encrypted),
		cmocka_unit_test(test_hold),
		cmocka_unit_test(test_harvest_then_encrypt),
		cmocka_unit_test(test_failure_modes),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_idempotent),
		cmocka_unit_test(test_batch_group_commit),
		cmocka_unit_test(test_large_signed_message_is_not_copied),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
