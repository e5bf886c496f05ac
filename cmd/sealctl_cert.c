/*
 * NAME
 *	sealctl_cert 3
 * SUMMARY
 *	sealctl cert and sealctl crl: the certificate database
 * SYNOPSIS
 *	#include "cmd/sealctl.h"
 *
 *	int	sealctl_cert(conf, argc, argv)
 *	int	sealctl_crl(conf, argc, argv)
 * DESCRIPTION
 *	sealctl cert init
 *		create the database (certs.db_dir) if it is missing, with
 *		the password of certs.password_file, or none; an existing
 *		database without password gets that password.
 *	sealctl cert import FILE [--password-file F] [--ca] [--gateway DOMAIN]
 *		.pem .crt .cer .der (one or several certificates, PKCS#7)
 *		or .p12 .pfx (key, certificate and chain; the password is
 *		the first line of F). --ca: the certificates become trust
 *		anchors. --gateway: the key-bearing certificate becomes the
 *		gateway certificate of DOMAIN.
 *	sealctl cert list [--json]
 *		one line per certificate; --json: one JSON object per line.
 *	sealctl cert show ID [--json]
 *	sealctl cert remove ID
 *	sealctl cert export ID
 *		the certificate as PEM on stdout.
 *	sealctl cert check ID [--usage sign|encrypt|tls] [--json]
 *		validity and revocation now, under the configured policy;
 *		for encryption (the default) also whether the key can
 *		receive encrypted mail at all (receive=no and why).
 *	sealctl cert signer ADDRESS [--json]
 *	sealctl cert recipient ADDRESS [--sender S] [--json]
 *		which certificate would sign for, or encrypt to, ADDRESS.
 *		recipient also says which profile and algorithms mail to
 *		ADDRESS gets (outbound, under the rule that matches it, from
 *		S: by default the null sender), raised by the capabilities
 *		the partner advertised, and for each candidate how the
 *		content key reaches it; as a line of its own before the
 *		candidates, and with --json as fields of each one.
 *	sealctl cert sign ID FILE OUT
 *		sign FILE with ID's key (SHA-256) into OUT, as
 *		`openssl dgst -sha256 -verify` expects: checks a key, for
 *		instance one on a PKCS#11 token, works.
 *	sealctl crl import FILE
 *	sealctl crl fetch
 *		download the CRLs of the certificates' distribution points.
 *
 *	ID: nickname, SHA-256 fingerprint (or a unique prefix of at least
 *	8 hex digits) or an e-mail address held by one certificate.
 *
 *	--tls, with any cert verb, works on certs.tls_db_dir (the TLS
 *	server's own database) instead of certs.db_dir.
 * DIAGNOSTICS
 *	Exit 0 on success, 1 on failure (the file or ID and the reason on
 *	stderr; an import that fails leaves the database unchanged), 2 on
 *	usage errors. A check that finds the certificate invalid exits 1.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sealctl.h"

#define FILE_MAX (16u << 20)

struct opts {
	unsigned db;			/* CERTS_TLS with --tls */
	const char *password_file;
	const char *gateway;
	const char *usage;
	const char *sender;
	bool	ca;
	bool	json;
	const char *verb;
	int	nargs;
	char   *args[3];
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			o->json = true;
		else if (strcmp(argv[i], "--tls") == 0)
			o->db = CERTS_TLS;
		else if (strcmp(argv[i], "--ca") == 0)
			o->ca = true;
		else if (strcmp(argv[i], "--password-file") == 0 && i + 1 < argc)
			o->password_file = argv[++i];
		else if (strcmp(argv[i], "--gateway") == 0 && i + 1 < argc)
			o->gateway = argv[++i];
		else if (strcmp(argv[i], "--usage") == 0 && i + 1 < argc)
			o->usage = argv[++i];
		else if (strcmp(argv[i], "--sender") == 0 && i + 1 < argc)
			o->sender = argv[++i];
		else if (argv[i][0] == '-' || o->nargs == 3)
			return (-1);
		else if (o->verb == NULL)
			o->verb = argv[i];
		else
			o->args[o->nargs++] = argv[i];
	}
	return (o->verb ? 0 : -1);
}

static int read_file(const char *path, struct sg_buf *out)
{
	char	buf[65536];
	ssize_t	n;
	int	fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return (-errno);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (out->len + (size_t) n > FILE_MAX) {
			close(fd);
			return (-EFBIG);
		}
		sg_buf_append(out, buf, (size_t) n);
	}
	if (n < 0)
		err = -errno;
	close(fd);
	return (err);
}

/* read_failed - say why path could not be read (err from read_file) */

static int read_failed(const char *path, const char *what, int err)
{
	fprintf(stderr, "sealctl: %s: cannot read%s%s: %s\n", path, *what ? " " : "", what,
		err == -EFBIG ? "larger than 16 MiB" : strerror(-err));
	return (SEALCTL_PARTIAL);
}

/* read_secret - the first line of a file into *out; 0 or as read_file() */

static int read_secret(const char *path, char **out)
{
	struct sg_buf b = SG_BUF_INIT;
	int	err = read_file(path, &b);

	*out = NULL;
	if (err == 0 && b.len > 1024)
		err = -EFBIG;
	if (err == 0) {
		sg_buf_putc(&b, 0);
		b.data[strcspn(b.data, "\r\n")] = 0;
		*out = sg_xstrdup(b.data);
	}
	if (b.data)
		explicit_bzero(b.data, b.len);
	sg_buf_free(&b);
	return (err);
}

static int open_db(const struct sealgate_conf *conf, const struct opts *o, unsigned flags,
		   struct certs **c)
{
	int	rc = certs_open(&conf->main, &conf->certs, flags | CERTS_KEYS | (o ? o->db : 0), c);

	if (rc == SG_ENOTFOUND && (flags & CERTS_RDONLY))
		fprintf(stderr, "sealctl: no certificate database (run \"sealctl cert init\")\n");
	else if (rc < 0)
		fprintf(stderr, "sealctl: cannot open the certificate database: %s\n",
			sg_strerror(rc));
	return (rc);
}

static int close_db(struct certs *c, int status)
{
	if (certs_close(c) < 0) {
		fprintf(stderr, "sealctl: certificate database did not close cleanly\n");
		return (SEALCTL_PARTIAL);
	}
	return (status);
}

/* JSON and text output */

static void json_str(struct sg_buf *b, const char *s)
{
	sg_buf_json(b, s, strlen(s));
}

static const char *iso_time(int64_t t, char *buf, size_t len)
{
	time_t	tt = (time_t) t;
	struct tm tm;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL)
		return ("");
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return (buf);
}

static void desc_json(struct sg_buf *b, const struct certs_desc *d)
{
	char	t[32];

	sg_buf_puts(b, "{\"id\":");
	json_str(b, d->id);
	sg_buf_puts(b, ",\"fingerprint\":");
	json_str(b, d->fingerprint);
	sg_buf_puts(b, ",\"nickname\":");
	json_str(b, d->nickname);
	sg_buf_puts(b, ",\"token\":");
	json_str(b, d->token);
	sg_buf_puts(b, ",\"subject\":");
	json_str(b, d->subject);
	sg_buf_puts(b, ",\"emails\":[");
	for (size_t i = 0; i < d->nemails; i++) {
		if (i)
			sg_buf_putc(b, ',');
		json_str(b, d->emails[i]);
	}
	sg_buf_puts(b, "],\"issuer\":");
	json_str(b, d->issuer);
	sg_buf_puts(b, ",\"serial\":");
	json_str(b, d->serial);
	sg_buf_puts(b, ",\"not_before\":");
	json_str(b, iso_time(d->not_before, t, sizeof(t)));
	sg_buf_puts(b, ",\"not_after\":");
	json_str(b, iso_time(d->not_after, t, sizeof(t)));
	sg_buf_printf(b, ",\"key\":%s,\"ca\":%s,\"trust\":", d->key ? "true" : "false",
		      d->ca ? "true" : "false");
	json_str(b, d->trust);
	sg_buf_printf(b, ",\"source\":\"%s\",\"harvested_at\":",
		      d->harvested ? "harvested" : "imported");
	json_str(b, iso_time(d->harvested_at, t, sizeof(t)));
	sg_buf_puts(b, ",\"gateway\":[");
	for (const char *p = d->gateway; *p;) {
		size_t	n = strcspn(p, " ");
		char	dom[256];

		snprintf(dom, sizeof(dom), "%.*s", (int) n, p);
		if (p != d->gateway)
			sg_buf_putc(b, ',');
		json_str(b, dom);
		p += n + (p[n] == ' ');
	}
	sg_buf_puts(b, "]}");
}

static int print_line(const struct certs_desc *d, void *arg)
{
	struct sg_buf b = SG_BUF_INIT;
	char	t[32];
	const bool *json = arg;

	if (*json)
		desc_json(&b, d);
	else
		sg_buf_printf(&b, "%s %-32s %s key=%s until=%s%s%s%s", d->id, d->nickname,
			      d->nemails ? d->emails[0] : "-", d->key ? "yes" : "no",
			      iso_time(d->not_after, t, sizeof(t)), d->harvested ? " harvested" : "",
			      *d->gateway ? " gateway=" : "", d->gateway);
	puts(b.data);
	sg_buf_free(&b);
	return (0);
}

static void print_show(const struct certs_desc *d)
{
	char	t[32];

	printf("id: %s\nfingerprint: %s\nnickname: %s\n", d->id, d->fingerprint, d->nickname);
	if (*d->token)
		printf("token: %s\n", d->token);
	printf("subject: %s\nissuer: %s\nserial: %s\n", d->subject, d->issuer, d->serial);
	for (size_t i = 0; i < d->nemails; i++)
		printf("email: %s\n", d->emails[i]);
	printf("not_before: %s\n", iso_time(d->not_before, t, sizeof(t)));
	printf("not_after: %s\n", iso_time(d->not_after, t, sizeof(t)));
	printf("key: %s\nca: %s\ntrust: %s\nsource: %s\n", d->key ? "yes" : "no",
	       d->ca ? "yes" : "no", d->trust, d->harvested ? "harvested" : "imported");
	if (d->harvested)
		printf("harvested_at: %s\n", iso_time(d->harvested_at, t, sizeof(t)));
	if (*d->gateway)
		printf("gateway: %s\n", d->gateway);
}

static void check_json(struct sg_buf *b, const struct certs_check *k)
{
	sg_buf_printf(b, "\"valid\":%s,\"warning\":%s,\"revocation\":\"%s\",\"source\":",
		      k->valid ? "true" : "false", k->warning ? "true" : "false",
		      certs_rev_name(k->rev));
	json_str(b, k->rev_source);
	sg_buf_puts(b, ",\"reason\":");
	json_str(b, k->reason);
}

/* Verbs */

static int cert_init(const struct sealgate_conf *conf, const struct opts *o)
{
	struct certs *c;

	if (open_db(conf, o, CERTS_INIT, &c) < 0)
		return (SEALCTL_PARTIAL);
	printf("certificate database ready in %s%s\n", certs_db_dir(c),
	       certs_password_set(c) ? "; password set from certs.password_file" : "");
	return (close_db(c, SEALCTL_OK));
}

static void import_failed(const char *file, const struct opts *o, int rc, const char *err)
{
	fprintf(stderr, "sealctl: %s: %s (%s)\n", file, err, sg_strerror(rc));
	if (rc == SG_EPASSWORD && o->password_file == NULL)
		fprintf(stderr, "sealctl: %s: give the bundle's password with "
			"--password-file FILE (its first line)\n", file);
}

static void import_done(const char *file, const struct opts *o,
			const struct certs_import_result *r)
{
	if (r->certs > 0 && r->existed == r->certs && r->replaced == 0 && o->gateway == NULL)
		printf("%s: already in the database (%zu certificate(s)); nickname \"%s\"\n",
		       file, r->certs, r->nickname);
	else
		printf("%s: imported %zu certificate(s) (%zu already there), %zu key(s), "
		       "replaced %zu; nickname \"%s\"%s%s\n", file, r->certs, r->existed,
		       r->keys, r->replaced, r->nickname, o->gateway ? "; gateway for " : "",
		       o->gateway ? o->gateway : "");
	if (*r->unusable)
		fprintf(stderr, "sealctl: %s: warning: \"%s\": %s\n", file, r->nickname, r->unusable);
	else if (*r->no_receive)
		fprintf(stderr, "sealctl: %s: note: \"%s\" can sign, but it cannot receive "
			"encrypted mail: %s; mail to it leaves unencrypted or, where "
			"encryption is mandatory, is refused\n", file, r->nickname, r->no_receive);
}

/*
 * seal_key - with a cluster and its key file: the PKCS#12 and its
 * password, sealed under the key file, into sealed (for the other nodes'
 * workers, the only processes there that can open it)
 */
static void seal_key(const struct sealgate_conf *conf, const char *file, const char *pw,
		     const struct sg_buf *p12, struct sg_buf *sealed)
{
	struct sg_buf plain = SG_BUF_INIT;
	size_t	pwlen = pw ? strlen(pw) : 0;
	char   *secret;
	int	rc = 0;

	if (!cluster_configured(&conf->cluster))
		return;
	if (*conf->cluster.key_file == 0 || pwlen > 0xffff) {
		printf("%s: note: the private key is not shared with the cluster (no "
		       "cluster.key_file): import it on each node\n", file);
		return;
	}
	if ((secret = certs_read_secret(conf->cluster.key_file, &rc)) == NULL) {
		fprintf(stderr, "sealctl: %s: not shared: cluster.key_file %s: %s\n", file,
			conf->cluster.key_file, sg_strerror(rc));
		return;
	}
	sg_buf_putc(&plain, (int) (pwlen >> 8));
	sg_buf_putc(&plain, (int) (pwlen & 0xff));
	sg_buf_append(&plain, pw, pwlen);
	sg_buf_append(&plain, p12->data, p12->len);
	if ((rc = certs_seal(secret, plain.data, plain.len, sealed)) < 0)
		sg_buf_reset(sealed), fprintf(stderr, "sealctl: %s: not shared: sealing failed: %s\n", file,
			sg_strerror(rc));
	certs_free_secret(secret);
	explicit_bzero(plain.data, plain.len);
	sg_buf_free(&plain);
}

static int cert_import(const struct sealgate_conf *conf, const struct opts *o)
{
	struct certs_import_opts io = {.ca = o->ca,.gateway = o->gateway};
	struct certs_import_result r;
	struct sg_buf data = SG_BUF_INIT, sealed = SG_BUF_INIT;
	char	err[256], *pw = NULL;
	const char *file = o->args[0];
	struct certs *c;
	int	rc;

	if ((rc = read_file(file, &data)) < 0) {
		sg_buf_free(&data);
		return (read_failed(file, "", rc));
	}
	if (o->password_file && (rc = read_secret(o->password_file, &pw)) < 0) {
		sg_buf_free(&data);
		return (read_failed(o->password_file, "the password file", rc));
	}
	io.format = certs_format_of(file);
	io.password = pw;
	if (open_db(conf, o, 0, &c) < 0)
		rc = SG_EIO;
	else {
		rc = certs_import(c, data.data, data.len, &io, &r, err, sizeof(err));
		if (rc < 0)
			import_failed(file, o, rc, err);
		else
			import_done(file, o, &r);
		/* a key goes to the other nodes sealed (NSS is needed for that) */
		if (rc >= 0 && o->db == 0 && r.keys > 0)
			seal_key(conf, file, pw, &data, &sealed);
		rc = close_db(c, rc < 0 ? SEALCTL_PARTIAL : SEALCTL_OK);
		if (rc == SEALCTL_OK && o->db == 0 && r.keys == 0)
			rc = sealctl_cluster_share(conf, QUEUE_CERT_IMPORT, o->ca, o->gateway, &data,
						   file);
		else if (rc == SEALCTL_OK && sealed.len > 0)
			rc = sealctl_cluster_share(conf, QUEUE_CERT_KEY, false, o->gateway, &sealed,
						   file);
		sg_buf_free(&sealed);
	}
	if (pw) {
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
	sg_buf_free(&data);
	return (rc);
}

static int cert_list(const struct sealgate_conf *conf, const struct opts *o)
{
	struct certs *c;
	bool	json = o->json;

	if (open_db(conf, o, CERTS_RDONLY, &c) < 0)
		return (SEALCTL_PARTIAL);
	certs_list(c, print_line, &json);
	return (close_db(c, SEALCTL_OK));
}

/* with_cert - open, resolve ID, run fn, close */

static int with_cert(const struct sealgate_conf *conf, unsigned flags, const char *id,
		     const struct opts *o,
		     int (*fn)(struct certs *, struct CERTCertificateStr *, const struct opts *))
{
	struct CERTCertificateStr *cert;
	struct certs *c;
	int	rc;

	if (open_db(conf, o, flags, &c) < 0)
		return (SEALCTL_PARTIAL);
	if ((rc = certs_find(c, id, &cert)) < 0) {
		fprintf(stderr, "sealctl: %s: %s\n", id, rc == SG_EEXIST ?
			"ambiguous, name it by fingerprint" : "no such certificate");
		return (close_db(c, SEALCTL_PARTIAL));
	}
	rc = fn(c, cert, o);
	certs_cert_free(cert);
	return (close_db(c, rc));
}

static int do_show(struct certs *c, struct CERTCertificateStr *cert, const struct opts *o)
{
	struct certs_desc d;

	certs_describe(c, cert, &d);
	if (o->json)
		print_line(&d, (void *) &o->json);
	else
		print_show(&d);
	return (SEALCTL_OK);
}

static int do_export(struct certs *c, struct CERTCertificateStr *cert, const struct opts *o)
{
	struct sg_buf b = SG_BUF_INIT;

	(void) c;
	(void) o;
	if (certs_export_pem(cert, &b) < 0)
		return (SEALCTL_PARTIAL);
	fwrite(b.data, 1, b.len, stdout);
	sg_buf_free(&b);
	return (SEALCTL_OK);
}

static int usage_of(const char *s)
{
	if (s == NULL || strcmp(s, "encrypt") == 0)
		return (CERTS_USE_ENCRYPT);
	if (strcmp(s, "sign") == 0)
		return (CERTS_USE_SIGN);
	if (strcmp(s, "tls") == 0)
		return (CERTS_USE_TLS_SERVER);
	return (-1);
}

/* receive_json, receive_text - can mail be encrypted to cert (its key) */

static void receive_json(struct sg_buf *b, struct CERTCertificateStr *cert)
{
	char	why[300];
	bool	yes = certs_receive_check(cert, why, sizeof(why)) == 0;

	sg_buf_printf(b, ",\"receive\":%s,\"receive_reason\":", yes ? "true" : "false");
	json_str(b, why);
}

static void receive_text(struct sg_buf *b, struct CERTCertificateStr *cert)
{
	char	why[300];

	if (certs_receive_check(cert, why, sizeof(why)) == 0)
		sg_buf_puts(b, " receive=yes");
	else
		sg_buf_printf(b, " receive=no receive_reason=\"%s\"", why);
}

static int do_check(struct certs *c, struct CERTCertificateStr *cert, const struct opts *o)
{
	struct certs_check k;
	struct sg_buf b = SG_BUF_INIT;
	struct certs_desc d;

	certs_describe(c, cert, &d);
	certs_check(c, cert, usage_of(o->usage), &k);
	if (o->json) {
		sg_buf_puts(&b, "{\"id\":");
		json_str(&b, d.id);
		sg_buf_putc(&b, ',');
		check_json(&b, &k);
		if (usage_of(o->usage) == CERTS_USE_ENCRYPT)
			receive_json(&b, cert);
		sg_buf_putc(&b, '}');
	} else {
		sg_buf_printf(&b, "%s %s revocation=%s%s%s%s reason=\"%s\"", d.id,
			      k.valid ? (k.warning ? "valid-with-warning" : "valid") : "invalid",
			      certs_rev_name(k.rev), *k.rev_source ? " (" : "", k.rev_source,
			      *k.rev_source ? ")" : "", k.reason);
		if (usage_of(o->usage) == CERTS_USE_ENCRYPT)
			receive_text(&b, cert);
	}
	puts(b.data);
	sg_buf_free(&b);
	return (k.valid ? SEALCTL_OK : SEALCTL_PARTIAL);
}

static int do_sign(struct certs *c, struct CERTCertificateStr *cert, const struct opts *o)
{
	struct sg_buf in = SG_BUF_INIT, sig = SG_BUF_INIT;
	int	rc = SEALCTL_PARTIAL, fd, err;

	if ((err = read_file(o->args[1], &in)) < 0)
		read_failed(o->args[1], "", err);
	else if ((err = certs_sign_data(c, cert, in.data ? in.data : "", in.len, &sig)) < 0)
		fprintf(stderr, "sealctl: %s: cannot sign: %s\n", o->args[0], sg_strerror(err));
	else if ((fd = open(o->args[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		fprintf(stderr, "sealctl: %s: cannot write: %s\n", o->args[2], strerror(errno));
	else {
		rc = write(fd, sig.data, sig.len) == (ssize_t) sig.len ? SEALCTL_OK : SEALCTL_PARTIAL;
		close(fd);
	}
	sg_buf_free(&in);
	sg_buf_free(&sig);
	return (rc);
}

static void describe_line(struct certs *c, struct sg_buf *b, struct CERTCertificateStr *cert,
			  bool gateway, const struct certs_check *k, bool json, bool recipient)
{
	struct certs_desc d;

	certs_describe(c, cert, &d);
	if (json) {
		sg_buf_puts(b, "{\"id\":");
		json_str(b, d.id);
		sg_buf_puts(b, ",\"nickname\":");
		json_str(b, d.nickname);
		sg_buf_printf(b, ",\"gateway\":%s,", gateway ? "true" : "false");
		check_json(b, k);
		if (recipient)
			receive_json(b, cert);
		sg_buf_putc(b, '}');
	} else {
		sg_buf_printf(b, "%s %s%s %s revocation=%s reason=\"%s\"", d.id, d.nickname,
			      gateway ? " (gateway)" : "", k->valid ? "valid" : "invalid",
			      certs_rev_name(k->rev), k->reason);
		if (recipient)
			receive_text(b, cert);
	}
}

static int cert_signer(const struct sealgate_conf *conf, const struct opts *o)
{
	struct certs_signer s;
	struct sg_buf b = SG_BUF_INIT;
	struct certs *c;
	int	rc;

	if (open_db(conf, o, CERTS_RDONLY, &c) < 0)
		return (SEALCTL_PARTIAL);
	if ((rc = certs_find_signer(c, o->args[0], &s)) < 0)
		fprintf(stderr, "sealctl: %s: no signing certificate\n", o->args[0]);
	else {
		describe_line(c, &b, s.cert, s.gateway, &s.check, o->json, false);
		puts(b.data);
		certs_signer_free(&s);
	}
	sg_buf_free(&b);
	return (close_db(c, rc < 0 ? SEALCTL_PARTIAL : SEALCTL_OK));
}

/* caps_words - WORKER_CAP_* bits as names, strongest first */

static void caps_words(unsigned caps, struct sg_buf *b, bool json)
{
	static const struct {
		unsigned cap;
		const char *name;
	} names[] = {
		{ WORKER_CAP_AES256_GCM, "aes-256-gcm" }, { WORKER_CAP_AES128_GCM, "aes-128-gcm" },
		{ WORKER_CAP_AES256_CBC, "aes-256-cbc" }, { WORKER_CAP_AES128_CBC, "aes-128-cbc" },
		{ WORKER_CAP_OAEP_SHA256, "oaep-sha256" }, { WORKER_CAP_OAEP_SHA1, "oaep-sha1" },
		{ WORKER_CAP_RSA, "rsa-pkcs1" },
	};
	bool	first = true;

	for (size_t i = 0; i < SG_NELEM(names); i++)
		if (caps & names[i].cap) {
			sg_buf_printf(b, json ? "%s\"%s\"" : "%s%s", first ? "" : ",", names[i].name);
			first = false;
		}
	if (first && !json)
		sg_buf_puts(b, "none");
}

struct rcpt_algs {
	struct worker_algs a;
	const char *rule;		/* name, or NULL */
	bool	known;			/* the partner's capabilities are known */
	unsigned caps;
};

/* recipient_algs - what mail to rcpt from sender gets, as the worker decides it */

static void recipient_algs(const struct sealgate_conf *conf, struct certs *c, const char *rcpt,
			   const char *sender, struct rcpt_algs *ra)
{
	int	rule = sg_rules_classify(&conf->worker.rules, SG_RULE_DIR_OUTBOUND, NULL, sender,
					 strlen(sender), rcpt, strlen(rcpt));

	ra->rule = rule >= 0 ? ((const struct sg_rule *) conf->worker.rules.v)[rule].name : NULL;
	worker_algs_for(&conf->worker, rule, rcpt, &ra->a);
	ra->known = certs_caps(c, rcpt, &ra->caps) == 0;
	if (ra->known)
		worker_algs_upgrade(&ra->a, ra->caps);
}

static void algs_text(struct sg_buf *b, const char *rcpt, const struct rcpt_algs *ra)
{
	sg_buf_printf(b, "%s profile=%s rule=%s signature=%s digest=%s content=%s "
		      "key_transport=%s capabilities=", rcpt, ra->a.profile, ra->rule ? ra->rule : "-",
		      worker_sigalg_names[ra->a.sigalg], worker_digest_names[ra->a.hash - WORKER_HASH_SHA256],
		      worker_content_names[ra->a.content], worker_kt_names[ra->a.kt]);
	if (ra->known)
		caps_words(ra->caps, b, false);
	else
		sg_buf_puts(b, "unknown");
	sg_buf_printf(b, " upgraded=%s", ra->a.upgraded == 0 ? "no" :
		      ra->a.upgraded == WORKER_UP_CONTENT ? "content" :
		      ra->a.upgraded == WORKER_UP_KT ? "key_transport" : "content,key_transport");
}

static void algs_json(struct sg_buf *b, const struct rcpt_algs *ra, struct CERTCertificateStr *cert)
{
	char	how[160];

	sg_buf_puts(b, ",\"profile\":");
	json_str(b, ra->a.profile);
	sg_buf_puts(b, ",\"rule\":");
	json_str(b, ra->rule ? ra->rule : "");
	sg_buf_printf(b, ",\"signature\":\"%s\",\"digest\":\"%s\",\"content\":\"%s\","
		      "\"key_transport\":\"%s\",\"capabilities\":",
		      worker_sigalg_names[ra->a.sigalg],
		      worker_digest_names[ra->a.hash - WORKER_HASH_SHA256],
		      worker_content_names[ra->a.content], worker_kt_names[ra->a.kt]);
	if (ra->known) {
		sg_buf_putc(b, '[');
		caps_words(ra->caps, b, true);
		sg_buf_putc(b, ']');
	} else
		sg_buf_puts(b, "null");
	sg_buf_printf(b, ",\"upgraded\":[%s%s%s]",
		      ra->a.upgraded & WORKER_UP_CONTENT ? "\"content\"" : "",
		      ra->a.upgraded == (WORKER_UP_CONTENT | WORKER_UP_KT) ? "," : "",
		      ra->a.upgraded & WORKER_UP_KT ? "\"key_transport\"" : "");
	worker_recipient_desc(cert, &ra->a, how, sizeof(how));
	sg_buf_puts(b, ",\"key\":");
	json_str(b, how);
}

static int cert_recipient(const struct sealgate_conf *conf, const struct opts *o)
{
	struct certs_candidates cs;
	struct rcpt_algs ra;
	struct certs *c;
	struct sg_buf b = SG_BUF_INIT;
	char	how[160];

	if (open_db(conf, o, CERTS_RDONLY, &c) < 0)
		return (SEALCTL_PARTIAL);
	recipient_algs(conf, c, o->args[0], o->sender ? o->sender : "", &ra);
	if (!o->json) {
		algs_text(&b, o->args[0], &ra);
		puts(b.data);
	}
	certs_find_recipient(c, o->args[0], &cs);
	for (size_t i = 0; i < cs.n; i++) {
		sg_buf_reset(&b);
		describe_line(c, &b, cs.v[i].cert, cs.v[i].gateway, &cs.v[i].check, o->json,
			      true);
		if (o->json) {
			b.len--;		/* the closing brace */
			algs_json(&b, &ra, cs.v[i].cert);
			sg_buf_putc(&b, '}');
		} else {
			worker_recipient_desc(cs.v[i].cert, &ra.a, how, sizeof(how));
			sg_buf_printf(&b, " key=\"%s\"", how);
		}
		puts(b.data);
	}
	if (cs.n == 0)
		fprintf(stderr, "sealctl: %s: no certificate\n", o->args[0]);
	sg_buf_free(&b);
	certs_candidates_free(&cs);
	return (close_db(c, SEALCTL_OK));
}

static int cert_remove(const struct sealgate_conf *conf, const struct opts *o)
{
	struct sg_buf fp = SG_BUF_INIT;
	struct certs_desc d;
	struct CERTCertificateStr *cert;
	struct certs *c;
	int	rc, shared = SEALCTL_OK;

	if (open_db(conf, o, 0, &c) < 0)
		return (SEALCTL_PARTIAL);
	/* the fingerprint names it on the other nodes (nicknames may differ) */
	if ((rc = certs_find(c, o->args[0], &cert)) == 0) {
		if (certs_describe(c, cert, &d) == 0)
			sg_buf_puts(&fp, d.fingerprint);
		certs_cert_free(cert);
		/*
		 * Shared before it goes here: a harvest of the certificate made
		 * once it is gone here then comes after the removal everywhere,
		 * instead of being taken out by it on the other nodes.
		 */
		if (o->db == 0 && fp.len > 0)
			shared = sealctl_cluster_share(conf, QUEUE_CERT_REMOVE, false, NULL, &fp,
						       o->args[0]);
		rc = certs_remove(c, o->args[0]);
	}
	if (rc < 0)
		fprintf(stderr, "sealctl: %s: %s\n", o->args[0], rc == SG_EEXIST ?
			"ambiguous, name it by fingerprint" : sg_strerror(rc));
	rc = close_db(c, rc < 0 ? SEALCTL_PARTIAL : shared);
	sg_buf_free(&fp);
	return (rc);
}

static int usage(const char *command)
{
	sealctl_usage(stderr, command);
	return (SEALCTL_USAGE);
}

int	sealctl_cert(const struct sealgate_conf *conf, int argc, char **argv)
{
	struct opts o;
	const char *verb;

	if (parse_opts(argc, argv, &o) < 0)
		return (usage("cert"));
	verb = o.verb;
	if (strcmp(verb, "init") == 0 && o.nargs == 0)
		return (cert_init(conf, &o));
	if (strcmp(verb, "import") == 0 && o.nargs == 1)
		return (cert_import(conf, &o));
	if (strcmp(verb, "list") == 0 && o.nargs == 0)
		return (cert_list(conf, &o));
	if (strcmp(verb, "show") == 0 && o.nargs == 1)
		return (with_cert(conf, CERTS_RDONLY, o.args[0], &o, do_show));
	if (strcmp(verb, "export") == 0 && o.nargs == 1)
		return (with_cert(conf, CERTS_RDONLY, o.args[0], &o, do_export));
	if (strcmp(verb, "check") == 0 && o.nargs == 1 && usage_of(o.usage) >= 0)
		return (with_cert(conf, CERTS_RDONLY, o.args[0], &o, do_check));
	if (strcmp(verb, "remove") == 0 && o.nargs == 1)
		return (cert_remove(conf, &o));
	if (strcmp(verb, "signer") == 0 && o.nargs == 1)
		return (cert_signer(conf, &o));
	if (strcmp(verb, "recipient") == 0 && o.nargs == 1)
		return (cert_recipient(conf, &o));
	if (strcmp(verb, "sign") == 0 && o.nargs == 3)
		return (with_cert(conf, CERTS_RDONLY, o.args[0], &o, do_sign));
	return (usage("cert"));
}

static int crl_import(const struct sealgate_conf *conf, const char *file)
{
	struct sg_buf data = SG_BUF_INIT;
	struct certs *c;
	char	err[160];
	int	rc;

	if ((rc = read_file(file, &data)) < 0) {
		sg_buf_free(&data);
		return (read_failed(file, "", rc));
	}
	if (open_db(conf, NULL, 0, &c) < 0) {
		sg_buf_free(&data);
		return (SEALCTL_PARTIAL);
	}
	if ((rc = certs_crl_import(c, data.data ? data.data : "", data.len, err, sizeof(err))) < 0)
		fprintf(stderr, "sealctl: %s: %s\n", file, err);
	else
		printf("%s: CRL imported\n", file);
	rc = close_db(c, rc < 0 ? SEALCTL_PARTIAL : SEALCTL_OK);
	if (rc == SEALCTL_OK)
		rc = sealctl_cluster_share(conf, QUEUE_CERT_CRL, false, NULL, &data, file);
	sg_buf_free(&data);
	return (rc);
}

static int crl_fetch(const struct sealgate_conf *conf)
{
	struct certs *c;
	size_t	ok, bad;
	int	rc;

	if (open_db(conf, NULL, 0, &c) < 0)
		return (SEALCTL_PARTIAL);
	if ((rc = certs_crl_fetch(c, &ok, &bad)) < 0)
		fprintf(stderr, "sealctl: crl fetch: %s\n", sg_strerror(rc));
	else
		printf("fetched=%zu failed=%zu\n", ok, bad);
	return (close_db(c, rc < 0 || bad ? SEALCTL_PARTIAL : SEALCTL_OK));
}

int	sealctl_crl(const struct sealgate_conf *conf, int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "import") == 0)
		return (crl_import(conf, argv[2]));
	if (argc == 2 && strcmp(argv[1], "fetch") == 0)
		return (crl_fetch(conf));
	return (usage("crl"));
}
