/*
 * NAME
 *	fuzz_status 1
 * SUMMARY
 *	libFuzzer target: what roles tell the master, and master.status
 * DESCRIPTION
 *	The master (root) parses lines from smtpd, which faces the
 *	internet; sealctl parses master.status. Each input is given to
 *	status_report_parse() line by line and to status_parse() whole,
 *	with exact lengths (a copy without slack, so a read past len trips
 *	ASan); every string that comes out must be terminated within its
 *	field, and a parsed file must survive being written and read back.
 */

#include <stdlib.h>
#include <string.h>

#include "cmd/sealgate.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void terminated(const char *s, size_t size)
{
	if (memchr(s, 0, size) == NULL)
		abort();
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char   *in = malloc(len ? len : 1);
	struct status_msg m;
	struct status *st = malloc(sizeof(*st));

	memcpy(in, data, len);
	for (const char *p = in, *end = in + len, *nl; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t) (end - p))) == NULL)
			nl = end;
		if (status_report_parse(p, (size_t) (nl - p), &m) == 0) {
			terminated(m.listener.name, sizeof(m.listener.name));
			terminated(m.listener.address, sizeof(m.listener.address));
			terminated(m.listener.error, sizeof(m.listener.error));
		}
	}
	if (status_parse(in, len, st) == 0) {
		if (st->nroles > STATUS_ROLES || st->nlisteners > STATUS_LISTENERS_MAX)
			abort();
		terminated(st->state, sizeof(st->state));
		terminated(st->config, sizeof(st->config));
		for (size_t i = 0; i < st->nlisteners; i++)
			terminated(st->listeners[i].error, sizeof(st->listeners[i].error));
	}
	free(st);
	free(in);
	return (0);
}
