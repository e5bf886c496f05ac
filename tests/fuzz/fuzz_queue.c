/*
 * NAME
 *	fuzz_queue 1
 * SUMMARY
 *	libFuzzer target: the queue's envelope record decoder
 * DESCRIPTION
 *	Decodes the bytes, with their exact length and no slack (ASan
 *	catches a read past len). What decodes must be internally sound:
 *	every string NUL-terminated within the limits, every enum in
 *	range, and re-encoding then decoding it again must give the same
 *	bytes (the encoder accepts everything the decoder accepts).
 */

#include <stdlib.h>
#include <string.h>

#include "queue/queue.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void check_sound(const struct queue_env *e)
{
	if ((unsigned) e->state >= QUEUE_NSTATES || e->nrcpt > QUEUE_MAX_RCPT ||
	    strlen(e->sender) > QUEUE_MAX_STRING || strlen(e->route) > QUEUE_MAX_STRING)
		abort();
	for (size_t i = 0; i < e->nrcpt; i++)
		if (e->rcpt[i].addr[0] == 0 || strlen(e->rcpt[i].reply) > QUEUE_MAX_STRING ||
		    (unsigned) e->rcpt[i].state > QUEUE_RCPT_DROPPED)
			abort();
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct queue_env e, again;
	struct sg_buf b1 = SG_BUF_INIT, b2 = SG_BUF_INIT;

	memcpy(copy, data, len);
	queue_env_init(&e);
	queue_env_init(&again);
	if (queue_env_decode(copy, len, &e) == 0) {
		check_sound(&e);
		if (queue_env_encode(&e, &b1) != 0)
			abort();
		if (queue_env_decode(b1.data, b1.len, &again) != 0)
			abort();
		if (queue_env_encode(&again, &b2) != 0 || b1.len != b2.len ||
		    memcmp(b1.data, b2.data, b1.len) != 0)
			abort();
	}
	queue_env_free(&e);
	queue_env_free(&again);
	sg_buf_free(&b1);
	sg_buf_free(&b2);
	free(copy);
	return (0);
}
