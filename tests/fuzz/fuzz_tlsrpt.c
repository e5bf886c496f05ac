/*
 * NAME
 *	fuzz_tlsrpt 1
 * SUMMARY
 *	libFuzzer target: the _smtp._tls TXT record and the TLS-RPT counts file
 * DESCRIPTION
 *	The input is read as a TXT record (delivery_tlsrpt_txt_parse, DNS
 *	input) and as a counts file of the state directory
 *	(delivery_tlsrpt_counts_parse, disk input), from a copy with no
 *	slack. Checked: every rua address kept has an "@" with a valid
 *	domain after it and no blank, quote or bracket; a failed record keeps
 *	none; every counts line handed over has five non-empty fields of
 *	printable characters; and a report built from those lines
 *	(delivery_tlsrpt_report) succeeds.
 */

#include <stdlib.h>
#include <string.h>

#include "delivery/delivery.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

struct lines {
	struct delivery_tlsrpt_line v[64];
	size_t	n;
};

static void on_line(void *arg, const struct delivery_tlsrpt_line *l)
{
	struct lines *ls = arg;

	if (!*l->type || !*l->result || !*l->mx || !*l->ip)
		abort();
	if (ls->n < 64)
		ls->v[ls->n++] = *l;
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char   *buf = malloc(len ? len : 1);
	struct delivery_tlsrpt_rua rua;
	struct lines *ls = calloc(1, sizeof(*ls));

	memcpy(buf, data, len);
	if (delivery_tlsrpt_txt_parse(buf, len, &rua) < 0 && rua.n)
		abort();
	for (size_t i = 0; i < rua.n; i++) {
		const char *at = strrchr(rua.addr[i], '@');

		if (at == NULL || !sg_domain_valid(at + 1, strlen(at + 1))
		    || strpbrk(rua.addr[i], " \t\"<>,"))
			abort();
	}
	delivery_tlsrpt_counts_parse(buf, len, on_line, ls);
	if (ls->n) {
		struct delivery_tlsrpt_rua one = {1, {"r@example.test"}};
		struct delivery_tlsrpt_report in = {.submitter = "gw.example.test",
			.domain = "example.test",.start = 0,.end = 86400,.rua = &one,
		.lines = ls->v,.nlines = ls->n};
		struct sg_buf mail = SG_BUF_INIT, js = SG_BUF_INIT;

		if (delivery_tlsrpt_report(&in, &mail, &js) < 0)
			abort();
		sg_buf_free(&mail);
		sg_buf_free(&js);
	}
	free(buf);
	free(ls);
	return (0);
}
