/*
 * NAME
 *	bench_opcost 1
 * SUMMARY
 *	CPU time of one private-key or public-key operation with a key as
 *	the worker holds it
 * SYNOPSIS
 *	bench_opcost DBDIR NICKNAME sign|verify SECONDS
 * DESCRIPTION
 *	Opens NSS on DBDIR read-only, finds the certificate NICKNAME and,
 *	for sign, copies its private key into memory as certs does for the
 *	worker (certs_key_in_memory), then on one thread signs (sign) or
 *	verifies a signature (verify, the public key of the certificate) of
 *	a SHA-256 digest for SECONDS and prints the thread's CPU time per
 *	operation in microseconds. The same NSS and the same key as the
 *	gateway's worker, without CMS and MIME around it: what the computed
 *	limits of tests/bench/bench_signed add to plain relay's CPU per
 *	message. An RSA private-key decryption costs what a signature does
 *	(the same exponentiation), so sign on the recipient's key stands for
 *	decryption.
 * DIAGNOSTICS
 *	Exit 1 with a line on stderr when the database, the certificate, the
 *	key or an operation fails; 2 for bad usage.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cert.h>
#include <keyhi.h>
#include <nss.h>
#include <pk11pub.h>

#include "certs/certs.h"

static double thread_cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ((double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3);
}

/* run - SECONDS of operations; microseconds of CPU per operation, < 0 on failure */

static double run(SECKEYPrivateKey *key, SECKEYPublicKey *pub, int secs)
{
	unsigned char digest[32], sigbuf[1024];
	SECItem	d = {siBuffer, digest, sizeof(digest)};
	SECItem	sig = {siBuffer, sigbuf, sizeof(sigbuf)};
	int64_t	until = sg_mono_ms() + (int64_t) secs * 1000;
	double	t0;
	long	n = 0;

	memset(digest, 0x5a, sizeof(digest));
	if (key == NULL) {
		/* verify needs one signature to check: made by nobody, so the
		 * check fails, at the full cost of a public-key operation */
		sig.len = (unsigned) SECKEY_SignatureLen(pub);
		memset(sigbuf, 0x17, sig.len);
	}
	t0 = thread_cpu_us();
	while (sg_mono_ms() < until) {
		if (key != NULL) {
			sig.len = (unsigned) PK11_SignatureLen(key);
			if (sig.len > sizeof(sigbuf) || PK11_Sign(key, &sig, &d) != SECSuccess)
				return (-1);
		} else {
			(void) PK11_Verify(pub, &sig, &d, NULL);
		}
		n++;
	}
	return ((thread_cpu_us() - t0) / (double) n);
}

int	main(int argc, char **argv)
{
	char	db[1024];
	NSSInitContext *nss;
	CERTCertificate *cert;
	SECKEYPrivateKey *token = NULL, *key = NULL;
	SECKEYPublicKey *pub = NULL;
	bool	sign;
	int	secs;
	double	us;

	if (argc != 5 || (strcmp(argv[3], "sign") && strcmp(argv[3], "verify"))
	    || (secs = atoi(argv[4])) < 1) {
		fprintf(stderr, "usage: bench_opcost DBDIR NICKNAME sign|verify SECONDS\n");
		return (2);
	}
	sign = strcmp(argv[3], "sign") == 0;
	snprintf(db, sizeof(db), "sql:%s", argv[1]);
	if ((nss = NSS_InitContext(db, "", "", "", NULL, NSS_INIT_READONLY)) == NULL
	    || (cert = CERT_FindCertByNickname(CERT_GetDefaultCertDB(), argv[2])) == NULL) {
		fprintf(stderr, "bench_opcost: cannot open %s or find %s\n", db, argv[2]);
		return (1);
	}
	if (sign && ((token = PK11_FindKeyByAnyCert(cert, NULL)) == NULL
		     || (key = certs_key_in_memory(token)) == NULL)) {
		fprintf(stderr, "bench_opcost: no private key for %s\n", argv[2]);
		return (1);
	}
	if (!sign && (pub = CERT_ExtractPublicKey(cert)) == NULL) {
		fprintf(stderr, "bench_opcost: no public key in %s\n", argv[2]);
		return (1);
	}
	if ((us = run(key, pub, secs)) < 0) {
		fprintf(stderr, "bench_opcost: %s failed\n", argv[3]);
		return (1);
	}
	printf("%.1f\n", us);
	if (key != NULL)
		certs_key_in_memory_free(key);
	if (token != NULL)
		SECKEY_DestroyPrivateKey(token);
	if (pub != NULL)
		SECKEY_DestroyPublicKey(pub);
	CERT_DestroyCertificate(cert);
	NSS_ShutdownContext(nss);
	return (0);
}
