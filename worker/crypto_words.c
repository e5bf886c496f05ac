/*
 * NAME
 *	crypto_words 3
 * SUMMARY
 *	the worker's crypto actions as words, for logs and listings
 * SYNOPSIS
 *	#include "worker/worker.h"
 *
 *	const char *worker_crypto_words(bits, buf, len)
 * DESCRIPTION
 *	The queue keeps what the worker did as a bit set (queue_env.crypto,
 *	WORKER_DID_*); administrators read words. worker_crypto_words()
 *	lists the set bits in the order the actions happen, separated by
 *	commas, or "none"; unknown bits are ignored.
 */

#include <stdio.h>
#include <string.h>

#include "worker.h"

static const struct {
	uint32_t bit;
	const char *word;
} words[] = {
	{WORKER_DID_DECRYPT, "decrypted"},
	{WORKER_DID_VERIFY, "verified"},
	{WORKER_DID_STRIP, "stripped"},
	{WORKER_DID_SIGN, "signed"},
	{WORKER_DID_ENCRYPT, "encrypted"},
	{WORKER_DID_HARVEST, "harvested"},
};

const char *worker_crypto_words(uint32_t bits, char *buf, size_t len)
{
	size_t	n = 0;

	if (len == 0)
		return (buf);
	buf[0] = 0;
	for (size_t i = 0; i < SG_NELEM(words); i++) {
		if ((bits & words[i].bit) == 0)
			continue;
		int	k = snprintf(buf + n, len - n, "%s%s", n ? "," : "", words[i].word);

		if (k < 0 || (size_t) k >= len - n) {
			buf[n] = 0;
			break;
		}
		n += (size_t) k;
	}
	if (n == 0)
		snprintf(buf, len, "none");
	return (buf);
}
