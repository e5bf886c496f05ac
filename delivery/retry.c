/*
 * NAME
 *	retry 3
 * SUMMARY
 *	when to try a deferred message again, and when to give up
 * SYNOPSIS
 *	#include "delivery/delivery.h"
 *
 *	int64_t	delivery_retry_next(conf, arrival, attempts, now)
 * DESCRIPTION
 *	The backoff after the n-th failed attempt is retry_min * 2^(n-1),
 *	capped at retry_max (Postfix: 5 minutes doubling up to about an
 *	hour). A message whose arrival lies max_lifetime or more in the
 *	past is expired: -1, and the caller bounces what is left. The next
 *	attempt is never scheduled past the expiry, so the last one happens
 *	at the end of the lifetime and the bounce follows it.
 */

#include "delivery.h"

int64_t	delivery_retry_next(const struct delivery_conf *c, int64_t arrival,
			    unsigned attempts, int64_t now)
{
	int64_t	expiry = arrival + c->max_lifetime;
	int64_t	backoff = c->retry_min;

	if (now >= expiry)
		return (-1);
	for (unsigned i = 1; i < attempts && backoff < c->retry_max; i++)
		backoff *= 2;
	if (backoff > c->retry_max)
		backoff = c->retry_max;
	return (now + backoff < expiry ? now + backoff : expiry);
}
