/*
 * NAME
 *	fuzz_cms 1
 * SUMMARY
 *	libFuzzer target: the inbound S/MIME path (verify, decrypt, strip)
 * DESCRIPTION
 *	NSS runs without a database (NSS_NoDB_Init), so no signature can be
 *	trusted and nothing can be decrypted: what is exercised is every
 *	parser between the wire and that verdict. Each input is tried in
 *	four shapes: as a whole message; as the DER of an opaque signed-data
 *	entity; as the signature part of a multipart/signed; as the DER of
 *	an enveloped-data entity. The verdict on garbage must never be
 *	"valid".
 */

#include <stdlib.h>
#include <string.h>

#include <nss.h>

#include "worker/worker.h"

int	LLVMFuzzerInitialize(int *argc, char ***argv);
const char *__lsan_default_suppressions(void);
const char *__asan_default_options(void);

/*
 * NSS 3.87's CMS decoder leaks a small allocation on some malformed
 * input inside NSS_CMSMessage_CreateFromDER (it returns NULL, nothing is
 * left for the caller to free). That is NSS's, not ours: suppressed by
 * that frame only, so a leak in our code still fails the run. NSS has no
 * frame pointers: the slow unwinder is needed to see that frame.
 */
const char *__asan_default_options(void)
{
	return ("fast_unwind_on_malloc=0");
}

const char *__lsan_default_suppressions(void)
{
	return ("leak:NSS_CMSMessage_CreateFromDER\n");
}
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int	LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	if (NSS_NoDB_Init(NULL) != SECSuccess)
		abort();
	return (0);
}

static void verify(const char *m, size_t len)
{
	struct sg_buf out = SG_BUF_INIT;
	struct worker_verdict v;

	if (worker_smime_verify(NULL, m, len, "X-Sealgate-Signature", true, &out, &v) == 0) {
		if (v.status == WORKER_SIG_VALID)
			abort();		/* nothing is trusted without a database */
		worker_verdict_free(&v);
	}
	sg_buf_free(&out);
}

static void decrypt(const char *m, size_t len)
{
	struct sg_buf out = SG_BUF_INIT;
	char	why[160];

	if (worker_smime_decrypt(NULL, m, len, &out, why, sizeof(why)) == 0)
		abort();			/* no key exists to decrypt with */
	sg_buf_free(&out);
}

static void shaped(const char *head, const uint8_t *data, size_t len, const char *tail,
		   void (*fn) (const char *, size_t))
{
	struct sg_buf m = SG_BUF_INIT;

	sg_buf_puts(&m, head);
	sg_buf_append(&m, data, len);
	sg_buf_puts(&m, tail);
	char   *exact = malloc(m.len);

	memcpy(exact, m.data, m.len);
	fn(exact, m.len);
	free(exact);
	sg_buf_free(&m);
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct sg_buf out = SG_BUF_INIT;
	char   *copy = malloc(len ? len : 1);

	memcpy(copy, data, len);
	verify(copy, len);
	decrypt(copy, len);
	(void) worker_smime_strip(copy, len, &out);
	free(copy);
	sg_buf_free(&out);
	shaped("From: a@b.c\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data\r\n"
	       "Content-Transfer-Encoding: binary\r\n\r\n", data, len, "", verify);
	shaped("From: a@b.c\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\";"
	       " boundary=\"zz\"\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nhello\r\n--zz\r\n"
	       "Content-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: binary\r\n\r\n",
	       data, len, "\r\n--zz--\r\n", verify);
	shaped("Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n"
	       "Content-Transfer-Encoding: binary\r\n\r\n", data, len, "", decrypt);
	return (0);
}
