/*
 * NAME
 *	test_queue 1
 * SUMMARY
 *	unit tests of the queue's ids and record codec
 * DESCRIPTION
 *	Round trips of every envelope and recipient field; every strict
 *	prefix of a record, oversized strings and records, bad enums and
 *	random bytes are rejected without crashing.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "queue/queue.h"

static void test_id_format_parse(void **state)
{
	char	buf[QUEUE_ID_BUFSZ], lower[QUEUE_ID_BUFSZ];
	uint64_t ids[] = {1, 31, 32, 0x123456789abcdefULL, UINT64_MAX}, back;

	(void) state;
	for (size_t i = 0; i < SG_NELEM(ids); i++) {
		queue_id_format(ids[i], buf);
		assert_int_equal(strlen(buf), QUEUE_ID_LEN);
		assert_int_equal(queue_id_parse(buf, strlen(buf), &back), 0);
		assert_true(back == ids[i]);
		for (size_t k = 0; k <= QUEUE_ID_LEN; k++)
			lower[k] = (char) ((buf[k] >= 'A' && buf[k] <= 'Z') ? buf[k] + 32 : buf[k]);
		assert_int_equal(queue_id_parse(lower, QUEUE_ID_LEN, &back), 0);
		assert_true(back == ids[i]);
	}
	/* text order is numeric order */
	char	a[QUEUE_ID_BUFSZ], b[QUEUE_ID_BUFSZ];

	queue_id_format(0x0fffffULL, a);
	queue_id_format(0x100000ULL, b);
	assert_true(strcmp(a, b) < 0);
	assert_int_equal(queue_id_parse("0000000000000", 13, &back), SG_EINVAL);
	assert_int_equal(queue_id_parse("000000000000I", 13, &back), SG_EINVAL);
	assert_int_equal(queue_id_parse("000000000000U", 13, &back), SG_EINVAL);
	assert_int_equal(queue_id_parse("G000000000001", 13, &back), SG_EINVAL);
	assert_int_equal(queue_id_parse("00000000001", 11, &back), SG_EINVAL);
	assert_int_equal(queue_id_parse("00000000000012", 14, &back), SG_EINVAL);
	assert_int_equal(queue_id_parse("000000000000-", 13, &back), SG_EINVAL);
}

static void test_state_names(void **state)
{
	enum queue_state s;

	(void) state;
	for (int i = 0; i < QUEUE_NSTATES; i++) {
		const char *n = queue_state_name((enum queue_state) i);

		assert_int_equal(queue_state_parse(n, strlen(n), &s), 0);
		assert_int_equal(s, i);
	}
	assert_int_equal(queue_state_parse("held", 4, &s), SG_EINVAL);
	assert_true(queue_rcpt_final(QUEUE_RCPT_DELIVERED));
	assert_false(queue_rcpt_final(QUEUE_RCPT_DEFERRED));
}

static void fill_env(struct queue_env *e)
{
	struct queue_rcpt *r;

	queue_env_init(e);
	e->id = 0xABCDEF12345ULL;
	e->state = QUEUE_DEFERRED;
	e->flags = QUEUE_F_WORKED | QUEUE_F_PROCESSED;
	e->arrival_ms = 1790000000123LL;
	e->next_attempt_ms = 1790000600000LL;
	e->expire_ms = 1790432000000LL;
	e->attempts = 7;
	e->size = 123456789;
	e->processed_size = 987654;
	e->parent = 42;
	e->direction = QUEUE_DIR_OUTBOUND;
	e->ret = QUEUE_RET_HDRS;
	e->listener = "mx";
	e->client_addr = "2001:db8::1";
	e->client_name = "mail.example.org";
	e->helo = "mail.example.org";
	e->tls_version = "TLSv1.3";
	e->tls_cipher = "TLS_AES_256_GCM_SHA384";
	e->auth = "erp";
	e->sender = "billing@example.com";
	e->envid = "INV-2026-1";
	e->subject = "Invoice \"42\"\t\xc3\xa4";
	e->rule = "sign-outbound";
	e->crypto = 0x5;
	e->crypto_note = "signed by CN=Seal";
	e->reason = "";
	e->route = "smarthost";
	r = queue_env_rcpt_add(e, "a@example.net");
	r->orcpt = "rfc822;a@example.net";
	r->notify = QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY;
	r->state = QUEUE_RCPT_DEFERRED;
	r->attempts = 3;
	r->next_attempt_ms = 1790000600000LL;
	r->last_attempt_ms = 1790000500000LL;
	r->reply = "451 4.7.1 greylisted";
	r->dsn_status = "4.7.1";
	r->relay = "mx.example.net[192.0.2.7]:25";
	r = queue_env_rcpt_add(e, "b@example.net");
	r->state = QUEUE_RCPT_DELIVERED;
}

static void assert_env_equal(const struct queue_env *a, const struct queue_env *b)
{
	assert_true(a->id == b->id);
	assert_int_equal(a->state, b->state);
	assert_int_equal(a->flags, b->flags);
	assert_true(a->arrival_ms == b->arrival_ms);
	assert_true(a->next_attempt_ms == b->next_attempt_ms);
	assert_true(a->expire_ms == b->expire_ms);
	assert_int_equal(a->attempts, b->attempts);
	assert_true(a->size == b->size);
	assert_true(a->processed_size == b->processed_size);
	assert_true(a->parent == b->parent);
	assert_int_equal(a->direction, b->direction);
	assert_int_equal(a->ret, b->ret);
	assert_string_equal(a->listener, b->listener);
	assert_string_equal(a->client_addr, b->client_addr);
	assert_string_equal(a->client_name, b->client_name);
	assert_string_equal(a->helo, b->helo);
	assert_string_equal(a->tls_version, b->tls_version);
	assert_string_equal(a->tls_cipher, b->tls_cipher);
	assert_string_equal(a->auth, b->auth);
	assert_string_equal(a->sender, b->sender);
	assert_string_equal(a->envid, b->envid);
	assert_string_equal(a->subject, b->subject);
	assert_string_equal(a->rule, b->rule);
	assert_int_equal(a->crypto, b->crypto);
	assert_string_equal(a->crypto_note, b->crypto_note);
	assert_string_equal(a->reason, b->reason);
	assert_string_equal(a->route, b->route);
	assert_int_equal(a->nrcpt, b->nrcpt);
	for (size_t i = 0; i < a->nrcpt; i++) {
		const struct queue_rcpt *x = &a->rcpt[i], *y = &b->rcpt[i];

		assert_string_equal(x->addr, y->addr);
		assert_string_equal(x->orcpt, y->orcpt);
		assert_int_equal(x->notify, y->notify);
		assert_int_equal(x->state, y->state);
		assert_int_equal(x->attempts, y->attempts);
		assert_true(x->next_attempt_ms == y->next_attempt_ms);
		assert_true(x->last_attempt_ms == y->last_attempt_ms);
		assert_string_equal(x->reply, y->reply);
		assert_string_equal(x->dsn_status, y->dsn_status);
		assert_string_equal(x->relay, y->relay);
	}
}

static void test_round_trip(void **state)
{
	struct queue_env e, d;
	struct sg_buf b = SG_BUF_INIT, b2 = SG_BUF_INIT;

	(void) state;
	fill_env(&e);
	queue_env_init(&d);
	assert_int_equal(queue_env_encode(&e, &b), 0);
	assert_true(b.len < 600);	/* compact */
	assert_int_equal(queue_env_decode(b.data, b.len, &d), 0);
	assert_env_equal(&e, &d);
	/* re-encoding what was decoded gives the same bytes */
	assert_int_equal(queue_env_encode(&d, &b2), 0);
	assert_int_equal(b.len, b2.len);
	assert_memory_equal(b.data, b2.data, b.len);
	/* null sender and minimal fields come back as "" and 0 */
	struct queue_env m;

	queue_env_init(&m);
	m.id = 5;
	m.sender = NULL;
	queue_env_rcpt_add(&m, "x@y");
	sg_buf_reset(&b);
	assert_int_equal(queue_env_encode(&m, &b), 0);
	assert_int_equal(queue_env_decode(b.data, b.len, &d), 0);
	assert_string_equal(d.sender, "");
	assert_int_equal(d.state, QUEUE_INCOMING);
	assert_int_equal(d.nrcpt, 1);
	queue_env_free(&m);
	queue_env_free(&e);
	queue_env_free(&d);
	sg_buf_free(&b);
	sg_buf_free(&b2);
}

static void test_truncated_rejected(void **state)
{
	struct queue_env e, d;
	struct sg_buf b = SG_BUF_INIT;

	(void) state;
	fill_env(&e);
	queue_env_init(&d);
	assert_int_equal(queue_env_encode(&e, &b), 0);
	for (size_t n = 0; n < b.len; n++)
		assert_int_equal(queue_env_decode(b.data, n, &d), SG_ECORRUPT);
	/* one byte too many */
	sg_buf_putc(&b, 0);
	assert_int_equal(queue_env_decode(b.data, b.len, &d), SG_ECORRUPT);
	queue_env_free(&e);
	queue_env_free(&d);
	sg_buf_free(&b);
}

static void test_oversized_rejected(void **state)
{
	struct queue_env e, d;
	struct sg_buf b = SG_BUF_INIT;
	char   *big = malloc(QUEUE_MAX_STRING + 2);

	(void) state;
	memset(big, 'a', QUEUE_MAX_STRING + 1);
	big[QUEUE_MAX_STRING + 1] = 0;
	fill_env(&e);
	queue_env_init(&d);
	e.sender = big;
	assert_int_equal(queue_env_encode(&e, &b), SG_ELIMIT);
	assert_int_equal(b.len, 0);
	big[QUEUE_MAX_STRING] = 0;	/* exactly the limit is fine */
	assert_int_equal(queue_env_encode(&e, &b), 0);
	assert_int_equal(queue_env_decode(b.data, b.len, &d), 0);
	assert_int_equal(strlen(d.sender), QUEUE_MAX_STRING);
	/* a hand-made record with a string one byte over the limit */
	struct sg_buf h = SG_BUF_INIT;
	size_t	slen = QUEUE_MAX_STRING + 2;	/* bytes + NUL */
	uint8_t	hdr[] = {'Q', 1};

	sg_buf_append(&h, hdr, 2);
	size_t	flen = 3 + 1 + 2 + slen;	/* id field (3) + sender tag, varint(2), bytes */

	sg_buf_putc(&h, (int) (0x80 | (flen & 0x7f)));
	sg_buf_putc(&h, (int) (flen >> 7));
	sg_buf_putc(&h, 1);
	sg_buf_putc(&h, 1);
	sg_buf_putc(&h, 9);
	sg_buf_putc(&h, 27);	/* sender */
	sg_buf_putc(&h, (int) (0x80 | (slen & 0x7f)));
	sg_buf_putc(&h, (int) (slen >> 7));
	for (size_t i = 0; i + 1 < slen; i++)
		sg_buf_putc(&h, 'b');
	sg_buf_putc(&h, 0);
	assert_int_equal(queue_env_decode(h.data, h.len, &d), SG_ECORRUPT);
	/* the same with the limit respected decodes: the frame was right */
	h.data[h.len - 2] = 0;
	assert_int_equal(queue_env_decode(h.data, h.len, &d), SG_ECORRUPT);	/* two NULs */
	/* whole record over QUEUE_MAX_RECORD */
	assert_int_equal(queue_env_decode(h.data, QUEUE_MAX_RECORD + 1, &d), SG_ECORRUPT);
	sg_buf_free(&h);
	free(big);
	e.sender = "";
	queue_env_free(&e);
	queue_env_free(&d);
	sg_buf_free(&b);
}

static void test_too_many_rcpts(void **state)
{
	struct queue_env e;
	struct sg_buf b = SG_BUF_INIT;

	(void) state;
	queue_env_init(&e);
	e.id = 9;
	for (int i = 0; i < QUEUE_MAX_RCPT; i++)
		assert_non_null(queue_env_rcpt_add(&e, "r@x"));
	assert_null(queue_env_rcpt_add(&e, "r@x"));
	assert_int_equal(queue_env_encode(&e, &b), 0);
	e.nrcpt = QUEUE_MAX_RCPT + 1;	/* as if a caller forced it */
	sg_buf_reset(&b);
	assert_int_equal(queue_env_encode(&e, &b), SG_ELIMIT);
	e.nrcpt = QUEUE_MAX_RCPT;
	queue_env_free(&e);
	sg_buf_free(&b);
}

static void test_bad_values_rejected(void **state)
{
	struct queue_env e, d;
	struct sg_buf b = SG_BUF_INIT;

	(void) state;
	fill_env(&e);
	queue_env_init(&d);
	assert_int_equal(queue_env_encode(&e, &b), 0);
	/* find the state field (tag 2, len 1, value 3) and make it 99 */
	int	patched = 0;

	for (size_t i = 3; i + 2 < b.len; i++) {
		if (b.data[i] == 2 && b.data[i + 1] == 1 && b.data[i + 2] == QUEUE_DEFERRED) {
			b.data[i + 2] = 99;
			patched = 1;
			break;
		}
	}
	assert_true(patched);
	assert_int_equal(queue_env_decode(b.data, b.len, &d), SG_ECORRUPT);
	/* wrong magic and wrong version */
	sg_buf_reset(&b);
	assert_int_equal(queue_env_encode(&e, &b), 0);
	b.data[0] = 'X';
	assert_int_equal(queue_env_decode(b.data, b.len, &d), SG_ECORRUPT);
	b.data[0] = 'Q';
	b.data[1] = 2;
	assert_int_equal(queue_env_decode(b.data, b.len, &d), SG_ECORRUPT);
	queue_env_free(&e);
	queue_env_free(&d);
	sg_buf_free(&b);
}

static void test_random_and_mutated(void **state)
{
	struct queue_env e, d;
	struct sg_buf b = SG_BUF_INIT;
	unsigned char buf[512];
	unsigned seed = 12345, accepted = 0;

	(void) state;
	queue_env_init(&d);
	for (int i = 0; i < 100000; i++) {
		size_t	n = (size_t) (rand_r(&seed) % sizeof(buf));

		for (size_t k = 0; k < n; k++)
			buf[k] = (unsigned char) rand_r(&seed);
		if (i & 1 && n > 3) {	/* a plausible header makes it go deeper */
			buf[0] = 'Q';
			buf[1] = 1;
		}
		accepted += queue_env_decode(buf, n, &d) == 0;
	}
	assert_true(accepted < 10);
	fill_env(&e);
	assert_int_equal(queue_env_encode(&e, &b), 0);
	for (int i = 0; i < 20000; i++) {
		unsigned char *m = malloc(b.len);

		memcpy(m, b.data, b.len);
		m[rand_r(&seed) % b.len] ^= (unsigned char) (1 + rand_r(&seed) % 255);
		if (queue_env_decode(m, b.len, &d) == 0)
			for (size_t k = 0; k < d.nrcpt; k++)	/* all strings in bounds */
				assert_true(strlen(d.rcpt[k].addr) <= QUEUE_MAX_STRING);
		free(m);
	}
	queue_env_free(&e);
	queue_env_free(&d);
	sg_buf_free(&b);
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_format_parse),
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_truncated_rejected),
		cmocka_unit_test(test_oversized_rejected),
		cmocka_unit_test(test_too_many_rcpts),
		cmocka_unit_test(test_bad_values_rejected),
		cmocka_unit_test(test_random_and_mutated),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
