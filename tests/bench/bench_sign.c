/*
 * NAME
 *	bench_sign 1
 * SUMMARY
 *	messages signed per second by worker_smime_sign(), on N threads
 * SYNOPSIS
 *	bench_sign DBDIR NICKNAME THREADS SECONDS SIZE
 * DESCRIPTION
 *	Opens NSS on DBDIR, makes one cached signer from the certificate
 *	NICKNAME and its key copied into memory (as certs does for the
 *	worker), and has THREADS threads sign SIZE-byte messages (detached,
 *	SHA-256) for SECONDS. Prints the total rate in messages per second on
 *	stdout. Run by tests/bench/bench_sign, which builds the PKI and prints
 *	the bench lines next to NSS's rsaperf.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cert.h>
#include <nss.h>
#include <pk11pub.h>
#include <prerror.h>
#include <secport.h>

#include "worker/worker.h"
#include "certs/certs.h"

struct job {
	const struct worker_signer *signer;
	const char *msg;
	size_t	len;
	int64_t	until;
	long	done;
	int	err;
	const char *why;		/* NSS's error name, read on the thread */
};

static void *signer_thread(void *arg)
{
	struct job *j = arg;
	struct sg_buf out = SG_BUF_INIT;

	while (sg_mono_ms() < j->until) {
		sg_buf_reset(&out);
		if ((j->err = worker_smime_sign(j->signer, NULL, j->msg, j->len, &out)) < 0) {
			j->why = PR_ErrorToName(PORT_GetError());
			break;
		}
		j->done++;
	}
	sg_buf_free(&out);
	return (NULL);
}

static char *make_message(size_t size, size_t *len)
{
	struct sg_buf b = SG_BUF_INIT;

	sg_buf_puts(&b, "From: billing@example.com\r\nTo: customer@example.org\r\n"
		    "Subject: invoice\r\nContent-Type: text/plain\r\n\r\n");
	while (b.len < size)
		sg_buf_puts(&b, "Invoice line: 1 x widget, 42.00 EUR, thank you for your order.\r\n");
	*len = b.len;
	return (b.data);
}

int	main(int argc, char **argv)
{
	char	db[1024];
	NSSInitContext *nss;
	CERTCertificate *cert;
	SECKEYPrivateKey *token = NULL, *key = NULL;
	struct worker_signer *signer;
	struct job jobs[64];
	pthread_t tids[64];
	int	n, secs;
	size_t	len;
	char   *msg;
	long	total = 0;
	int64_t	t0;

	if (argc != 6 || (n = atoi(argv[3])) < 1 || n > 64 || (secs = atoi(argv[4])) < 1) {
		fprintf(stderr, "usage: bench_sign DBDIR NICKNAME THREADS SECONDS SIZE\n");
		return (2);
	}
	snprintf(db, sizeof(db), "sql:%s", argv[1]);
	if ((nss = NSS_InitContext(db, "", "", "", NULL, NSS_INIT_READONLY)) == NULL
	    || (cert = CERT_FindCertByNickname(CERT_GetDefaultCertDB(), argv[2])) == NULL
	    || (token = PK11_FindKeyByAnyCert(cert, NULL)) == NULL
	    || (key = certs_key_in_memory(token)) == NULL
	    || worker_signer_new(cert, key, NULL, &signer) < 0) {
		fprintf(stderr, "bench_sign: cannot open %s or its key %s\n", db, argv[2]);
		return (1);
	}
	msg = make_message((size_t) atol(argv[5]), &len);
	t0 = sg_mono_ms();
	for (int i = 0; i < n; i++) {
		jobs[i] = (struct job) {.signer = signer,.msg = msg,.len = len,.until = t0 + secs * 1000};
		pthread_create(&tids[i], NULL, signer_thread, &jobs[i]);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(tids[i], NULL);
		if (jobs[i].err < 0) {
			fprintf(stderr, "bench_sign: signing failed: %s (%s)\n", sg_strerror(jobs[i].err),
				jobs[i].why);
			return (1);
		}
		total += jobs[i].done;
	}
	printf("%.1f\n", (double) total * 1000.0 / (double) (sg_mono_ms() - t0));
	worker_signer_free(signer);
	certs_key_in_memory_free(key);
	SECKEY_DestroyPrivateKey(token);
	CERT_DestroyCertificate(cert);
	free(msg);
	NSS_ShutdownContext(nss);
	return (0);
}
