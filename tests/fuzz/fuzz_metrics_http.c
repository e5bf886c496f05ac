/*
 * NAME
 *	fuzz_metrics_http 1
 * SUMMARY
 *	libFuzzer target: the metrics endpoint's request head parser
 * DESCRIPTION
 *	Anyone who reaches metrics.listen sends these bytes. Each input is
 *	parsed whole and as every prefix the server could have read so far
 *	(up to METRICS_HTTP_HEAD_MAX), from a copy of exactly that length (a
 *	read past it trips ASan). Checked: the answer is one the server
 *	knows; a prefix that is an error or complete never turns into "not
 *	yet" when more bytes arrive (the server stops reading at the first
 *	answer); a complete head fits in what was read; 200 only for GET or
 *	HEAD of /metrics; 0 is never the answer at the size limit.
 */

#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static int parse(const uint8_t *data, size_t len, struct metrics_http_req *req)
{
	char   *in = malloc(len ? len : 1);
	int	rc;

	memcpy(in, data, len);
	rc = metrics_http_parse(in, len, req);
	free(in);
	if (rc != 0 && rc != 1)
		abort();
	if (rc == 1) {
		switch (req->status) {
		case 200: case 400: case 404: case 405: case 431: case 505:
			break;
		default:
			abort();
		}
		if (req->head_len > len || (req->status == 200 && req->head_len == 0))
			abort();
		if (req->status == 200 && memcmp(data, "GET /metrics", 12) != 0
		    && memcmp(data, "HEAD /metrics", 13) != 0)
			abort();
	}
	if (rc == 0 && len >= METRICS_HTTP_HEAD_MAX)
		abort();
	return (rc);
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct metrics_http_req req, first;
	bool	answered = false;

	if (len > 2 * METRICS_HTTP_HEAD_MAX)
		len = 2 * METRICS_HTTP_HEAD_MAX;
	for (size_t n = 1; n <= len && n <= METRICS_HTTP_HEAD_MAX; n++) {
		int	rc = parse(data, n, &req);

		if (answered && rc == 0)
			abort();	/* an answer that more bytes took back */
		if (rc == 1 && !answered) {
			answered = true;
			first = req;
		} else if (rc == 1 && (req.status != first.status
				       || req.head_len != first.head_len)) {
			abort();	/* later bytes changed the answer */
		}
		if (n > 512 && !answered)
			n += n / 8;	/* long inputs: fewer prefixes */
	}
	(void) parse(data, len, &req);
	return (0);
}
