/*
 * NAME
 *	fuzz_cert_import 1
 * SUMMARY
 *	libFuzzer target: certificate import (DER, PEM, PKCS#7, PKCS#12)
 * DESCRIPTION
 *	The first byte picks the path, the rest is the file:
 *
 *	0	certs_import() as certificates (PEM blocks, DER, PKCS#7);
 *	1	certs_import() as PKCS#12 with the password "fuzz" (the seeds
 *		are bundles made with it, so mutations reach the bag parsers);
 *	2	certs_import() guessing the format, as sealctl does for a file
 *		without a known extension;
 *	3	the metadata parser of the database directory.
 *
 *	Imports run with check_only, which decodes and checks everything
 *	sealctl would and stores nothing, so the database stays small. The
 *	input is copied into an allocation of its exact size, so any read
 *	past the length trips ASan. NSS runs in a fresh database under
 *	/tmp, made at start and removed at exit.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certs/certs.h"

int	LLVMFuzzerInitialize(int *argc, char ***argv);
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
const char *__lsan_default_suppressions(void);

/*
 * NSS's PKCS#12 decoder leaks small items on some error paths; as in
 * tests/lsan.supp, leaks whose stack is inside NSS are not ours (make
 * fuzz runs the target without that file).
 */
const char *__lsan_default_suppressions(void)
{
	return ("leak:libnss3.so\nleak:libnssutil3.so\nleak:libsmime3.so\n"
		"leak:libsoftokn3.so\nleak:libnspr4.so\n");
}

/* from certs/certs_meta.c (certs_int.h is private to certs/) */
struct certs_meta {
	size_t	n, cap;
	void   *v;
};
int	certs_meta_parse(const char *buf, size_t len, struct certs_meta *);
void	certs_meta_free(struct certs_meta *);

static struct certs *certs;
static char dir[64];

static void done(void)
{
	char	cmd[128];

	if (certs_close(certs) != 0)
		abort();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_cert_import: could not remove %s\n", dir);
}

int	LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static struct certs_conf conf;
	static struct sg_conf_main m;

	(void) argc;
	(void) argv;
	snprintf(dir, sizeof(dir), "/tmp/sealgate-fuzzcert-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	m.state_dir = dir;
	conf.db_dir = "";
	conf.password_file = "";
	conf.ocsp_responder = "";
	conf.ocsp_responder_cert = "";
	conf.ocsp_timeout = 1000;
	conf.tls_cert = "";
	conf.tls_session_timeout = 1000;
	conf.tls_max_version = CERTS_TLS_1_3;
	if (certs_open(&m, &conf, 0, &certs) != 0)
		abort();
	atexit(done);
	return (0);
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const int formats[] = {CERTS_FMT_CERTS, CERTS_FMT_PKCS12, CERTS_FMT_AUTO};
	struct certs_import_opts o = {.password = "fuzz",.check_only = true};
	struct certs_import_result r;
	struct certs_meta meta;
	char	err[256], *copy;
	int	rc;

	if (len < 1)
		return (0);
	copy = malloc(len - 1 ? len - 1 : 1);
	memcpy(copy, data + 1, len - 1);
	if (data[0] % 4 == 3) {
		if (certs_meta_parse(copy, len - 1, &meta) == 0 && meta.n > len)
			abort();
		certs_meta_free(&meta);
	} else {
		o.format = formats[data[0] % 4];
		rc = certs_import(certs, copy, len - 1, &o, &r, err, sizeof(err));
		if (rc < 0 && err[0] == 0)
			abort();	/* every refusal says why */
		if (rc == 0 && r.certs == 0 && r.keys == 0 && o.format == CERTS_FMT_CERTS)
			abort();	/* success means something was found */
	}
	free(copy);
	return (0);
}
