/*
 * NAME
 *	fuzz_queue 1
 * SUMMARY
 *	libFuzzer target: the queue's envelope record decoder, tracking keys
 * DESCRIPTION
 *	Decodes the bytes, with their exact length and no slack (ASan
 *	catches a read past len). What decodes must be internally sound:
 *	every string NUL-terminated within the limits, every enum in
 *	range, and re-encoding then decoding it again must give the same
 *	bytes (the encoder accepts everything the decoder accepts). Its
 *	tracking words and summary must be made without trouble, and its
 *	sender's index key must turn back into the sender (lower-cased).
 *	The tally's reader (queue_env_peek) runs on the same bytes: whatever
 *	decodes must peek, with the same id, state, size, arrival and
 *	number of recipients (else the tally would count a record otherwise
 *	than a walk does). So must the brief decode of listings
 *	(queue_env_decode_brief), with the same values in what it reads.
 *	The same bytes are also read as an index key
 *	from disk (queue_addr_from_key, with queue/'s private header: it is
 *	what reads those keys).
 */

#include <stdlib.h>
#include <string.h>

#include "queue/queue.h"
#include "queue/queue_int.h"

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

/* check_brief - a listing's decode of what decoded: the same where it reads */

static void check_brief(const void *data, size_t len, const struct queue_env *e)
{
	struct queue_env b;

	queue_env_init(&b);
	if (queue_env_decode_brief(data, len, &b) != 0 || b.id != e->id || b.state != e->state ||
	    b.arrival_ms != e->arrival_ms || b.next_attempt_ms != e->next_attempt_ms ||
	    b.attempts != e->attempts || b.size != e->size || strcmp(b.sender, e->sender) != 0 ||
	    strcmp(b.reason, e->reason) != 0 || b.nrcpt != e->nrcpt || *b.helo != 0)
		abort();
	for (size_t i = 0; i < e->nrcpt; i++)
		if (strcmp(b.rcpt[i].addr, e->rcpt[i].addr) != 0 ||
		    strcmp(b.rcpt[i].reply, e->rcpt[i].reply) != 0 ||
		    b.rcpt[i].state != e->rcpt[i].state || b.rcpt[i].attempts != e->rcpt[i].attempts)
			abort();
	queue_env_free(&b);
}

/* check_track - words, summary, and the sender's key back to the sender */

static void check_track(const struct queue_env *e)
{
	uint8_t	key[QUEUE_ADDRKEY_MAX], sum[4 + QUEUE_MAX_STRING];
	char	back[QUEUE_ADDRKEY_MAX + 2], low[QUEUE_MAX_STRING + 1];
	const char *at = strrchr(e->sender, '@');
	size_t	n = strlen(e->sender), k;

	if (strcmp(queue_track_status_word(e), "unknown") == 0 || queue_track_status(e) == 0)
		abort();
	for (size_t i = 0; i < e->nrcpt; i++)
		(void) queue_track_rcpt_word(e, &e->rcpt[i]);
	if (queue_track_summary(e, sum, sizeof(sum)) < 4)
		abort();
	k = queue_addr_key(e->sender, key);
	if (k < 2 || k > QUEUE_ADDRKEY_MAX || queue_addr_from_key(key, k, back, sizeof(back)) < 0)
		abort();
	if (n > 200 || (at && (at[1] == 0 || strlen(at + 1) > 200)))
		return;				/* cut, or no domain to put back */
	for (size_t i = 0; i <= n; i++)
		low[i] = e->sender[i] >= 'A' && e->sender[i] <= 'Z' ? e->sender[i] + 32 : e->sender[i];
	if (strcmp(back, low) != 0)
		abort();
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char	addr[QUEUE_ADDRKEY_MAX + 2];

	uint8_t *copy = malloc(len ? len : 1);
	struct queue_env e, again;
	struct sg_buf b1 = SG_BUF_INIT, b2 = SG_BUF_INIT;
	struct queue_env brief;

	memcpy(copy, data, len);
	queue_env_init(&e);
	queue_env_init(&again);
	if (queue_addr_from_key(copy, len, addr, sizeof(addr)) >= 0 && strlen(addr) >= sizeof(addr))
		abort();
	struct queue_env_sum sum;
	int	peeked = queue_env_peek(copy, len, &sum);

	/* the listing's decode accepts more (skipped fields are only framed): every input */
	queue_env_init(&brief);
	(void) queue_env_decode_brief(copy, len, &brief);
	queue_env_free(&brief);
	if (queue_env_decode(copy, len, &e) == 0) {
		if (peeked != 0 || sum.id != e.id || sum.state != e.state || sum.size != e.size ||
		    sum.nrcpt != e.nrcpt || sum.arrival_ms != e.arrival_ms)
			abort();
		check_sound(&e);
		check_brief(copy, len, &e);
		check_track(&e);
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
