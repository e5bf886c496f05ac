/*
 * NAME
 *	fuzz_sts_txt 1
 * SUMMARY
 *	libFuzzer target: an _mta-sts TXT record (delivery_sts_txt_parse)
 * DESCRIPTION
 *	The input is the record's text, its strings joined, as DNS gives it
 *	(any bytes). Checked: on success the id is 1 to 32 letters and
 *	digits and occurs in the input; on failure the id is empty.
 */

#include <stdlib.h>
#include <string.h>

#include "delivery/delivery.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char   *txt = malloc(len ? len : 1), id[DELIVERY_STS_ID_MAX + 1];
	size_t	n;

	memcpy(txt, data, len);
	if (delivery_sts_txt_parse(txt, len, id) == 0) {
		n = strlen(id);
		if (n == 0 || n > DELIVERY_STS_ID_MAX || memmem(txt, len, id, n) == NULL)
			abort();
		for (size_t i = 0; i < n; i++)
			if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'z')
			      || (id[i] >= 'A' && id[i] <= 'Z')))
				abort();
	} else if (*id) {
		abort();
	}
	free(txt);
	return (0);
}
