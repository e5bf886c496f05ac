/*
 * NAME
 *	queue_rec 3
 * SUMMARY
 *	envelope and incident records: compact, versioned, checked
 * SYNOPSIS
 *	#include "queue/queue.h"
 *
 *	void	queue_env_init(env)
 *	void	queue_env_free(env)
 *	struct queue_rcpt *queue_env_rcpt_add(env, addr)
 *	int	queue_env_encode(env, out)
 *	int	queue_env_decode(data, len, env)
 *	int	queue_env_decode_brief(data, len, env)
 *
 *	#include "queue_int.h"
 *
 *	int	queue_env_peek(data, len, sum)
 *	int	queue_incident_encode(inc, out)
 *	int	queue_incident_decode(data, len, inc)
 * DESCRIPTION
 *	A record is a magic byte ('Q' envelope, 'I' incident), a version
 *	byte, the length of what follows (varint; it must match exactly, so
 *	a cut record is always caught), then fields: tag(1) length(varint)
 *	value. Integers are
 *	LEB128 varints that must fill their value exactly; strings are
 *	their bytes plus a NUL that must be the only NUL. A recipient is a
 *	field whose value is itself a list of fields. Zero numbers and
 *	empty strings are not written. Unknown tags below 0x80 are skipped
 *	(a newer writer may add fields); unknown tags from 0x80 up mean the
 *	record needs a newer reader and it is rejected.
 *
 *	queue_env_decode_brief() reads only what a listing prints (id,
 *	state, arrival, next attempt, attempts, size, sender, reason; each
 *	recipient's address, state, attempts and reply): every other known
 *	field is framed but neither read nor checked, and reads as 0 or "".
 *	It accepts every record queue_env_decode() accepts, and some more.
 *
 *	queue_env_peek() reads only what the per-state tally counts (id,
 *	state, size, arrival, the number of recipients): it checks the
 *	record's frame and those fields, not the strings or the recipients'
 *	insides, so it accepts every record queue_env_decode() accepts.
 *
 *	The decoder never reads outside [data, data+len), checks every
 *	enum against its range and every count against the QUEUE_MAX_*
 *	limits before growing an array.
 * DIAGNOSTICS
 *	Encoders return 0 or SG_ELIMIT; decoders 0 or SG_ECORRUPT.
 */

#include <stdlib.h>
#include <string.h>

#include "queue_int.h"

#define REC_ENV		'Q'
#define REC_INC		'I'
#define REC_VERSION	1
#define TAG_CRITICAL	0x80

enum {					/* envelope tags */
	E_ID = 1, E_STATE, E_FLAGS, E_ARRIVAL, E_NEXT, E_EXPIRE, E_ATTEMPTS, E_SIZE,
	E_PSIZE, E_PARENT, E_DIR, E_RET,
	E_LISTENER = 20, E_CADDR, E_CNAME, E_HELO, E_TLSV, E_TLSC, E_AUTH, E_SENDER,
	E_ENVID, E_SUBJECT, E_RULE, E_CRYPTO, E_CNOTE, E_REASON, E_ROUTE,
	E_RCPT = 40,
};

enum {					/* recipient tags */
	R_ADDR = 1, R_ORCPT, R_NOTIFY, R_STATE, R_ATTEMPTS, R_NEXT, R_LAST, R_REPLY,
	R_DSN, R_RELAY, R_TLS,
};

enum {					/* incident tags */
	I_ID = 1, I_MSG, I_TIME, I_KIND, I_SENDER, I_RCPT, I_RULE, I_TEXT, I_ACK, I_ACKBY,
	I_LAST, I_COUNT, I_MSGS,
};

/* ------------------------------------------------------------ writing */

static void put_varint(struct sg_buf *b, uint64_t v)
{
	uint8_t	tmp[10];
	size_t	n = 0;

	do {
		tmp[n++] = (uint8_t) ((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	sg_buf_append(b, tmp, n);
}

static size_t varint_len(uint64_t v)
{
	size_t	n = 1;

	while (v > 0x7f) {
		v >>= 7;
		n++;
	}
	return (n);
}

static void put_u64(struct sg_buf *b, int tag, uint64_t v)
{
	if (v == 0)
		return;
	sg_buf_putc(b, tag);
	put_varint(b, varint_len(v));
	put_varint(b, v);
}

static void put_i64(struct sg_buf *b, int tag, int64_t v)
{
	put_u64(b, tag, v > 0 ? (uint64_t) v : 0);
}

static int put_str(struct sg_buf *b, int tag, const char *s)
{
	size_t	n;

	if (s == NULL || *s == 0)
		return (0);
	if ((n = strlen(s)) > QUEUE_MAX_STRING)
		return (SG_ELIMIT);
	sg_buf_putc(b, tag);
	put_varint(b, n + 1);
	sg_buf_append(b, s, n + 1);
	return (0);
}

/* insert_length - put the length of the fields (from off) before them */

static void insert_length(struct sg_buf *b, size_t off)
{
	size_t	n = b->len - off, k = varint_len(n);

	uint8_t *p;

	sg_buf_reserve(b, k);
	memmove(b->data + off + k, b->data + off, n);
	p = (uint8_t *) b->data + off;	/* by hand: sg_buf writes a NUL after */
	for (size_t i = 0; i < k; i++, n >>= 7)
		p[i] = (uint8_t) ((n & 0x7f) | (i + 1 < k ? 0x80 : 0));
	b->len += k;
	b->data[b->len] = 0;
}

static int put_rcpt(struct sg_buf *b, struct sg_buf *tmp, const struct queue_rcpt *r)
{
	int	err = 0;

	sg_buf_reset(tmp);
	err |= put_str(tmp, R_ADDR, r->addr);
	err |= put_str(tmp, R_ORCPT, r->orcpt);
	put_u64(tmp, R_NOTIFY, r->notify);
	put_u64(tmp, R_STATE, (uint64_t) r->state);
	put_u64(tmp, R_ATTEMPTS, r->attempts);
	put_i64(tmp, R_NEXT, r->next_attempt_ms);
	put_i64(tmp, R_LAST, r->last_attempt_ms);
	err |= put_str(tmp, R_REPLY, r->reply);
	err |= put_str(tmp, R_DSN, r->dsn_status);
	err |= put_str(tmp, R_RELAY, r->relay);
	err |= put_str(tmp, R_TLS, r->tls);
	if (err)
		return (SG_ELIMIT);
	sg_buf_putc(b, E_RCPT);
	put_varint(b, tmp->len);
	sg_buf_append(b, tmp->data, tmp->len);
	return (0);
}

static int put_env_strings(struct sg_buf *b, const struct queue_env *e)
{
	int	err = 0;

	err |= put_str(b, E_LISTENER, e->listener);
	err |= put_str(b, E_CADDR, e->client_addr);
	err |= put_str(b, E_CNAME, e->client_name);
	err |= put_str(b, E_HELO, e->helo);
	err |= put_str(b, E_TLSV, e->tls_version);
	err |= put_str(b, E_TLSC, e->tls_cipher);
	err |= put_str(b, E_AUTH, e->auth);
	err |= put_str(b, E_SENDER, e->sender);
	err |= put_str(b, E_ENVID, e->envid);
	err |= put_str(b, E_SUBJECT, e->subject);
	err |= put_str(b, E_RULE, e->rule);
	err |= put_str(b, E_CNOTE, e->crypto_note);
	err |= put_str(b, E_REASON, e->reason);
	err |= put_str(b, E_ROUTE, e->route);
	return (err ? SG_ELIMIT : 0);
}

int	queue_env_encode(const struct queue_env *e, struct sg_buf *b)
{
	struct sg_buf tmp = SG_BUF_INIT;
	size_t	start = b->len, fields;
	int	err = 0;

	if (e->id == 0 || (unsigned) e->state >= QUEUE_NSTATES || e->nrcpt > QUEUE_MAX_RCPT)
		return (e->id == 0 || (unsigned) e->state >= QUEUE_NSTATES ? SG_EINVAL : SG_ELIMIT);
	sg_buf_putc(b, REC_ENV);
	sg_buf_putc(b, REC_VERSION);
	fields = b->len;
	put_u64(b, E_ID, e->id);
	put_u64(b, E_STATE, (uint64_t) e->state);
	put_u64(b, E_FLAGS, e->flags);
	put_i64(b, E_ARRIVAL, e->arrival_ms);
	put_i64(b, E_NEXT, e->next_attempt_ms);
	put_i64(b, E_EXPIRE, e->expire_ms);
	put_u64(b, E_ATTEMPTS, e->attempts);
	put_u64(b, E_SIZE, e->size);
	put_u64(b, E_PSIZE, e->processed_size);
	put_u64(b, E_PARENT, e->parent);
	put_u64(b, E_DIR, (uint64_t) e->direction);
	put_u64(b, E_RET, (uint64_t) e->ret);
	put_u64(b, E_CRYPTO, e->crypto);
	err = put_env_strings(b, e);
	for (size_t i = 0; err == 0 && i < e->nrcpt; i++)
		err = put_rcpt(b, &tmp, &e->rcpt[i]);
	sg_buf_free(&tmp);
	if (err == 0)
		insert_length(b, fields);
	if (err == 0 && b->len - start > QUEUE_MAX_RECORD)
		err = SG_ELIMIT;
	if (err)
		b->len = start;
	return (err);
}

/* ------------------------------------------------------------ reading */

struct rd {
	const uint8_t *p;
	const uint8_t *end;
};

static int get_varint_long(struct rd *r, uint64_t *out)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end)
			return (SG_ECORRUPT);
		uint8_t	c = *r->p++;

		if (shift == 63 && (c & 0x7e))
			return (SG_ECORRUPT);	/* more than 64 bits */
		v |= (uint64_t) (c & 0x7f) << shift;
		if ((c & 0x80) == 0) {
			*out = v;
			return (0);
		}
	}
	return (SG_ECORRUPT);
}

/* get_varint - most varints (tags' lengths, small numbers) are one byte */

static inline int get_varint(struct rd *r, uint64_t *out)
{
	if (r->p < r->end && *r->p < 0x80) {
		*out = *r->p++;
		return (0);
	}
	return (get_varint_long(r, out));
}

/* next_field - the next tag and its value span */

static int next_field(struct rd *r, int *tag, struct rd *val)
{
	uint64_t len;

	if (r->p >= r->end)
		return (SG_ECORRUPT);
	*tag = *r->p++;
	if (get_varint(r, &len) != 0 || len > (uint64_t) (r->end - r->p))
		return (SG_ECORRUPT);
	val->p = r->p;
	val->end = r->p + len;
	r->p += len;
	return (0);
}

static int val_u64(struct rd v, uint64_t max, uint64_t *out)
{
	if (get_varint(&v, out) != 0 || v.p != v.end || *out > max)
		return (SG_ECORRUPT);
	return (0);
}

static int val_u32(struct rd v, uint32_t *out)
{
	uint64_t x;

	if (val_u64(v, UINT32_MAX, &x) != 0)
		return (SG_ECORRUPT);
	*out = (uint32_t) x;
	return (0);
}

static int val_i64(struct rd v, int64_t *out)
{
	uint64_t x;

	if (val_u64(v, INT64_MAX, &x) != 0)
		return (SG_ECORRUPT);
	*out = (int64_t) x;
	return (0);
}

static int val_enum(struct rd v, unsigned max, int *out)
{
	uint64_t x;

	if (val_u64(v, max, &x) != 0)
		return (SG_ECORRUPT);
	*out = (int) x;
	return (0);
}

/*
 * no_nul - no NUL in n bytes, eight at a time (sg_zero_byte()): most
 * strings are short, where a call to memchr() costs more than this
 */
static inline bool no_nul(const uint8_t *p, size_t n)
{
	size_t	i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		if (sg_zero_byte(w))
			return (false);
	}
	for (; i < n; i++)
		if (p[i] == 0)
			return (false);
	return (true);
}

static int val_str(struct rd v, const char **out)
{
	size_t	n = (size_t) (v.end - v.p);

	if (n < 1 || n > QUEUE_MAX_STRING + 1 || v.end[-1] != 0 || !no_nul(v.p, n - 1))
		return (SG_ECORRUPT);
	*out = (const char *) v.p;
	return (0);
}

/* header - magic, version, and a length that accounts for every byte */

static int header(struct rd *r, size_t len, int magic)
{
	uint64_t n;

	if (len < 3 || len > QUEUE_MAX_RECORD || r->p[0] != magic || r->p[1] != REC_VERSION)
		return (SG_ECORRUPT);
	r->p += 2;
	if (get_varint(r, &n) != 0 || n != (uint64_t) (r->end - r->p))
		return (SG_ECORRUPT);
	return (0);
}

static int unknown(int tag)
{
	return ((tag & TAG_CRITICAL) ? SG_ECORRUPT : 0);
}

static int rcpt_field(int tag, struct rd v, struct queue_rcpt *r)
{
	int	x = 0, err;

	switch (tag) {
	case R_ADDR:
		return (val_str(v, &r->addr));
	case R_ORCPT:
		return (val_str(v, &r->orcpt));
	case R_NOTIFY:
		err = val_enum(v, 15, &x);
		r->notify = (unsigned) x;
		return (err);
	case R_STATE:
		err = val_enum(v, QUEUE_RCPT_DROPPED, &x);
		r->state = (enum queue_rcpt_state) x;
		return (err);
	case R_ATTEMPTS:
		return (val_u32(v, &r->attempts));
	case R_NEXT:
		return (val_i64(v, &r->next_attempt_ms));
	case R_LAST:
		return (val_i64(v, &r->last_attempt_ms));
	case R_REPLY:
		return (val_str(v, &r->reply));
	case R_DSN:
		return (val_str(v, &r->dsn_status));
	case R_RELAY:
		return (val_str(v, &r->relay));
	case R_TLS:
		return (val_str(v, &r->tls));
	default:
		return (unknown(tag));
	}
}

/*
 * A brief decode (queue_env_decode_brief) reads only what a listing
 * prints: these tags. Every other known one is stepped over, framed
 * but unread; unknown ones are judged as always.
 */
#define BIT(t)	(1ULL << (t))
#define RANGE(a, b)	((BIT((b) + 1) - 1) & ~(BIT(a) - 1))
static const uint64_t env_known = RANGE(E_ID, E_RET) | RANGE(E_LISTENER, E_ROUTE) | BIT(E_RCPT);
static const uint64_t env_brief = BIT(E_ID) | BIT(E_STATE) | BIT(E_ARRIVAL) | BIT(E_NEXT) |
	BIT(E_ATTEMPTS) | BIT(E_SIZE) | BIT(E_SENDER) | BIT(E_REASON) | BIT(E_RCPT);
static const uint64_t rcpt_known = RANGE(R_ADDR, R_TLS);
static const uint64_t rcpt_brief = BIT(R_ADDR) | BIT(R_STATE) | BIT(R_ATTEMPTS) | BIT(R_REPLY);

static inline bool skipped(int tag, uint64_t known, uint64_t brief)
{
	return (tag < 64 && (known & ~brief & BIT(tag)) != 0);
}

static int rcpt_decode(struct rd v, struct queue_env *e, bool brief)
{
	struct queue_rcpt *r;
	struct rd val;
	int	tag;

	if (e->nrcpt >= QUEUE_MAX_RCPT)
		return (SG_ECORRUPT);
	if (e->nrcpt == e->rcpt_cap) {
		e->rcpt_cap = e->rcpt_cap ? e->rcpt_cap * 2 : 8;
		e->rcpt = sg_xrealloc(e->rcpt, e->rcpt_cap * sizeof(*e->rcpt));
	}
	r = &e->rcpt[e->nrcpt];
	memset(r, 0, sizeof(*r));
	r->addr = r->orcpt = r->reply = r->dsn_status = r->relay = r->tls = "";
	while (v.p < v.end) {
		if (next_field(&v, &tag, &val) != 0)
			return (SG_ECORRUPT);
		if (brief && skipped(tag, rcpt_known, rcpt_brief))
			continue;
		if (rcpt_field(tag, val, r) != 0)
			return (SG_ECORRUPT);
	}
	if (*r->addr == 0)
		return (SG_ECORRUPT);
	e->nrcpt++;
	return (0);
}

static int env_str_field(int tag, struct rd v, struct queue_env *e)
{
	switch (tag) {
	case E_LISTENER:
		return (val_str(v, &e->listener));
	case E_CADDR:
		return (val_str(v, &e->client_addr));
	case E_CNAME:
		return (val_str(v, &e->client_name));
	case E_HELO:
		return (val_str(v, &e->helo));
	case E_TLSV:
		return (val_str(v, &e->tls_version));
	case E_TLSC:
		return (val_str(v, &e->tls_cipher));
	case E_AUTH:
		return (val_str(v, &e->auth));
	case E_SENDER:
		return (val_str(v, &e->sender));
	case E_ENVID:
		return (val_str(v, &e->envid));
	case E_SUBJECT:
		return (val_str(v, &e->subject));
	case E_RULE:
		return (val_str(v, &e->rule));
	case E_CNOTE:
		return (val_str(v, &e->crypto_note));
	case E_REASON:
		return (val_str(v, &e->reason));
	case E_ROUTE:
		return (val_str(v, &e->route));
	default:
		return (unknown(tag));
	}
}

/* env_field - one envelope field; a dispatch switch, hence its length */

static int env_field(int tag, struct rd v, struct queue_env *e, bool brief)
{
	int	x = 0, err;

	switch (tag) {
	case E_ID:
		return (val_u64(v, UINT64_MAX, &e->id));
	case E_STATE:
		err = val_enum(v, QUEUE_NSTATES - 1, &x);
		e->state = (enum queue_state) x;
		return (err);
	case E_FLAGS:
		return (val_u32(v, &e->flags));
	case E_ARRIVAL:
		return (val_i64(v, &e->arrival_ms));
	case E_NEXT:
		return (val_i64(v, &e->next_attempt_ms));
	case E_EXPIRE:
		return (val_i64(v, &e->expire_ms));
	case E_ATTEMPTS:
		return (val_u32(v, &e->attempts));
	case E_SIZE:
		return (val_u64(v, UINT64_MAX, &e->size));
	case E_PSIZE:
		return (val_u64(v, UINT64_MAX, &e->processed_size));
	case E_PARENT:
		return (val_u64(v, UINT64_MAX, &e->parent));
	case E_DIR:
		err = val_enum(v, QUEUE_DIR_OUTBOUND, &x);
		e->direction = (enum queue_direction) x;
		return (err);
	case E_RET:
		err = val_enum(v, QUEUE_RET_HDRS, &x);
		e->ret = (enum queue_ret) x;
		return (err);
	case E_CRYPTO:
		return (val_u32(v, &e->crypto));
	case E_RCPT:
		return (rcpt_decode(v, e, brief));
	default:
		return (env_str_field(tag, v, e));
	}
}

static void env_reset(struct queue_env *e)
{
	struct queue_rcpt *rcpt = e->rcpt;
	size_t	cap = e->rcpt_cap;
	void   *raw = e->raw;
	size_t	raw_len = e->raw_len;

	memset(e, 0, sizeof(*e));
	e->rcpt = rcpt;
	e->rcpt_cap = cap;
	e->raw = raw;
	e->raw_len = raw_len;
	e->listener = e->client_addr = e->client_name = e->helo = "";
	e->tls_version = e->tls_cipher = e->auth = e->sender = e->envid = "";
	e->subject = e->rule = e->crypto_note = e->reason = e->route = "";
}

/*
 * queue_env_peek - what the queue's tally counts of a record: its id,
 * state, size, arrival and number of recipients, without decoding the
 * strings or the recipients (each recipient field is counted, not read).
 * Checked like a decode at the top level: header, every field's length,
 * the enums and numbers it reads.
 */
int	queue_env_peek(const void *data, size_t len, struct queue_env_sum *sum)
{
	struct rd r = {data, (const uint8_t *) data + len};
	struct rd val;
	int	tag, x = 0, err = 0;

	memset(sum, 0, sizeof(*sum));
	if (header(&r, len, REC_ENV) != 0)
		return (SG_ECORRUPT);
	while (r.p < r.end && err == 0) {
		if (next_field(&r, &tag, &val) != 0)
			return (SG_ECORRUPT);
		switch (tag) {
		case E_ID:
			err = val_u64(val, UINT64_MAX, &sum->id);
			break;
		case E_STATE:
			err = val_enum(val, QUEUE_NSTATES - 1, &x);
			sum->state = (enum queue_state) x;
			break;
		case E_ARRIVAL:
			err = val_i64(val, &sum->arrival_ms);
			break;
		case E_SIZE:
			err = val_u64(val, UINT64_MAX, &sum->size);
			break;
		case E_RCPT:
			err = ++sum->nrcpt > QUEUE_MAX_RCPT ? SG_ECORRUPT : 0;
			break;
		default:
			err = unknown(tag);
		}
	}
	return (err == 0 && sum->id != 0 ? 0 : SG_ECORRUPT);
}

static int env_decode(const void *data, size_t len, struct queue_env *e, bool brief)
{
	struct rd r = {data, (const uint8_t *) data + len};
	struct rd val;
	int	tag;

	env_reset(e);
	if (header(&r, len, REC_ENV) != 0)
		return (SG_ECORRUPT);
	while (r.p < r.end) {
		if (next_field(&r, &tag, &val) != 0 ||
		    (!(brief && skipped(tag, env_known, env_brief)) &&
		     env_field(tag, val, e, brief) != 0)) {
			e->nrcpt = 0;
			return (SG_ECORRUPT);
		}
	}
	if (e->id == 0) {
		e->nrcpt = 0;
		return (SG_ECORRUPT);
	}
	return (0);
}

int	queue_env_decode(const void *data, size_t len, struct queue_env *e)
{
	return (env_decode(data, len, e, false));
}

int	queue_env_decode_brief(const void *data, size_t len, struct queue_env *e)
{
	return (env_decode(data, len, e, true));
}

void	queue_env_init(struct queue_env *e)
{
	memset(e, 0, sizeof(*e));
}

void	queue_env_free(struct queue_env *e)
{
	free(e->rcpt);
	free(e->raw);
	memset(e, 0, sizeof(*e));
}

struct queue_rcpt *queue_env_rcpt_add(struct queue_env *e, const char *addr)
{
	struct queue_rcpt *r;

	if (e->nrcpt >= QUEUE_MAX_RCPT)
		return (NULL);
	if (e->nrcpt == e->rcpt_cap) {
		e->rcpt_cap = e->rcpt_cap ? e->rcpt_cap * 2 : 8;
		e->rcpt = sg_xrealloc(e->rcpt, e->rcpt_cap * sizeof(*e->rcpt));
	}
	r = &e->rcpt[e->nrcpt++];
	memset(r, 0, sizeof(*r));
	r->addr = addr;
	r->orcpt = r->reply = r->dsn_status = r->relay = r->tls = "";
	return (r);
}

/* ---------------------------------------------------------- incidents */

int	queue_incident_encode(const struct queue_incident *i, struct sg_buf *b)
{
	size_t	start = b->len, fields;
	int	err = 0;

	sg_buf_putc(b, REC_INC);
	sg_buf_putc(b, REC_VERSION);
	fields = b->len;
	put_u64(b, I_ID, i->id);
	put_u64(b, I_MSG, i->msg_id);
	put_i64(b, I_TIME, i->time_ms);
	err |= put_str(b, I_KIND, i->kind);
	err |= put_str(b, I_SENDER, i->sender);
	err |= put_str(b, I_RCPT, i->rcpt);
	err |= put_str(b, I_RULE, i->rule);
	err |= put_str(b, I_TEXT, i->text);
	put_i64(b, I_ACK, i->ack_ms);
	err |= put_str(b, I_ACKBY, i->ack_by);
	put_i64(b, I_LAST, i->last_ms);
	put_u64(b, I_COUNT, i->count);
	if (i->nmsgs > QUEUE_INCIDENT_MSGS)
		err = SG_ELIMIT;
	else if (i->nmsgs > 0) {
		sg_buf_putc(b, I_MSGS);
		put_varint(b, 8 * i->nmsgs);
		sg_buf_append(b, i->msgs, 8 * i->nmsgs);
	}
	if (err) {
		b->len = start;
		return (SG_ELIMIT);
	}
	insert_length(b, fields);
	return (0);
}

static int inc_field(int tag, struct rd v, struct queue_incident *i)
{
	switch (tag) {
	case I_ID:
		return (val_u64(v, UINT64_MAX, &i->id));
	case I_MSG:
		return (val_u64(v, UINT64_MAX, &i->msg_id));
	case I_TIME:
		return (val_i64(v, &i->time_ms));
	case I_KIND:
		return (val_str(v, &i->kind));
	case I_SENDER:
		return (val_str(v, &i->sender));
	case I_RCPT:
		return (val_str(v, &i->rcpt));
	case I_RULE:
		return (val_str(v, &i->rule));
	case I_TEXT:
		return (val_str(v, &i->text));
	case I_ACK:
		return (val_i64(v, &i->ack_ms));
	case I_ACKBY:
		return (val_str(v, &i->ack_by));
	case I_LAST:
		return (val_i64(v, &i->last_ms));
	case I_COUNT:
		return (val_u64(v, UINT64_MAX, &i->count));
	case I_MSGS:
		if ((v.end - v.p) % 8 != 0 || (size_t) (v.end - v.p) > 8 * QUEUE_INCIDENT_MSGS)
			return (SG_ECORRUPT);
		i->msgs = v.p;
		i->nmsgs = (size_t) (v.end - v.p) / 8;
		return (0);
	default:
		return (unknown(tag));
	}
}

int	queue_incident_decode(const void *data, size_t len, struct queue_incident *i)
{
	struct rd r = {data, (const uint8_t *) data + len};
	struct rd val;
	void   *raw = i->raw;
	int	tag;

	memset(i, 0, sizeof(*i));
	i->raw = raw;
	i->kind = i->sender = i->rcpt = i->rule = i->text = i->ack_by = "";
	if (header(&r, len, REC_INC) != 0)
		return (SG_ECORRUPT);
	while (r.p < r.end) {
		if (next_field(&r, &tag, &val) != 0 || inc_field(tag, val, i) != 0)
			return (SG_ECORRUPT);
	}
	/* records from before grouping: one failure each */
	if (i->count == 0)
		i->count = 1;
	if (i->last_ms == 0)
		i->last_ms = i->time_ms;
	return (i->id == 0 ? SG_ECORRUPT : 0);
}

uint64_t queue_incident_msg(const struct queue_incident *i, size_t n)
{
	return (n < i->nmsgs ? queue_get_be64(i->msgs + 8 * n) : 0);
}
