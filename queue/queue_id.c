/*
 * NAME
 *	queue_id 3
 * SUMMARY
 *	message ids, state and counter names
 * SYNOPSIS
 *	#include "queue/queue.h"
 *
 *	char	*queue_id_format(id, buf)
 *	int	queue_id_parse(s, len, id)
 *	int64_t	queue_id_time_ms(id)
 *	uint64_t queue_id_at(ms)
 *	const char *queue_state_name(state)
 *	int	queue_state_parse(s, len, state)
 *	const char *queue_rcpt_state_name(state)
 *	bool	queue_rcpt_final(state)
 *	const char *queue_counter_name(counter)
 * DESCRIPTION
 *	An id is 13 Crockford base32 digits of a 64-bit number (the first
 *	digit carries 4 bits), fixed width so that text order is numeric
 *	order. Parsing takes exactly len bytes, accepts lower case, and
 *	rejects anything else (including the letters I L O U, which
 *	Crockford maps to digits: a mistyped id must not name another
 *	message).
 * DIAGNOSTICS
 *	queue_id_parse() and queue_state_parse() return 0 or SG_EINVAL.
 */

#include <string.h>

#include "queue.h"

/* 2020-01-01T00:00:00Z: ids carry 48 bits of ms after it (8900 years). */
#define QUEUE_EPOCH_MS 1577836800000LL

static const char digits[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

char   *queue_id_format(uint64_t id, char buf[QUEUE_ID_BUFSZ])
{
	for (int i = QUEUE_ID_LEN - 1; i >= 0; i--) {
		buf[i] = digits[id & 31];
		id >>= 5;
	}
	buf[QUEUE_ID_LEN] = 0;
	return (buf);
}

/* digit_value - a base32 digit's value, or -1 */

static int digit_value(char c)
{
	if (c >= 'a' && c <= 'z')
		c = (char) (c - 'a' + 'A');
	const char *p = (c != 0) ? strchr(digits, c) : NULL;

	return (p ? (int) (p - digits) : -1);
}

int	queue_id_parse(const char *s, size_t len, uint64_t *id)
{
	uint64_t v = 0;
	int	d;

	if (len != QUEUE_ID_LEN)
		return (SG_EINVAL);
	for (size_t i = 0; i < len; i++) {
		if ((d = digit_value(s[i])) < 0)
			return (SG_EINVAL);
		if (i == 0 && d > 15)	/* 13 x 5 = 65 bits: the top one must be 0 */
			return (SG_EINVAL);
		v = (v << 5) | (uint64_t) d;
	}
	if (v == 0)
		return (SG_EINVAL);
	*id = v;
	return (0);
}

int64_t	queue_id_time_ms(uint64_t id)
{
	return ((int64_t) (id >> 16) + QUEUE_EPOCH_MS);
}

/* queue_id_at - the smallest id of millisecond ms (1 before the epoch) */

uint64_t queue_id_at(int64_t ms)
{
	if (ms <= QUEUE_EPOCH_MS)
		return (1);
	if ((uint64_t) (ms - QUEUE_EPOCH_MS) >= (1ULL << 48))
		return (UINT64_MAX);
	return ((uint64_t) (ms - QUEUE_EPOCH_MS) << 16);
}

static const char *const state_names[QUEUE_NSTATES] = {
	"incoming", "working", "ready", "deferred", "hold", "done",
};

const char *queue_state_name(enum queue_state s)
{
	return ((unsigned) s < QUEUE_NSTATES ? state_names[s] : "unknown");
}

int	queue_state_parse(const char *s, size_t len, enum queue_state *out)
{
	for (unsigned i = 0; i < QUEUE_NSTATES; i++) {
		if (strlen(state_names[i]) == len && memcmp(s, state_names[i], len) == 0) {
			*out = (enum queue_state) i;
			return (0);
		}
	}
	return (SG_EINVAL);
}

const char *queue_rcpt_state_name(enum queue_rcpt_state s)
{
	static const char *const names[] = {
		"pending", "deferred", "delivered", "bounced", "dropped",
	};

	return ((unsigned) s < SG_NELEM(names) ? names[s] : "unknown");
}

bool	queue_rcpt_final(enum queue_rcpt_state s)
{
	return (s == QUEUE_RCPT_DELIVERED || s == QUEUE_RCPT_BOUNCED || s == QUEUE_RCPT_DROPPED);
}

const char *queue_counter_name(enum queue_counter c)
{
	static const char *const names[QUEUE_NCOUNTERS] = {
		"received", "processed", "sent", "deferred", "bounced", "dropped",
		"deleted", "quarantined", "incidents",
		"reject.relay", "reject.recipient", "reject.policy", "reject.size",
		"reject.syntax", "reject.content", "reject.other",
		"signed", "encrypted", "decrypted", "verify.valid", "verify.invalid",
		"verify.unsigned",
		"attempts.sent.tls", "attempts.sent.plain", "attempts.deferred.tls",
		"attempts.deferred.plain", "attempts.bounced.tls", "attempts.bounced.plain",
		"scan.clean", "scan.infected", "scan.unscanned",
	};

	return ((unsigned) c < QUEUE_NCOUNTERS ? names[c] : "unknown");
}
