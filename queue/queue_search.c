/*
 * NAME
 *	queue_search 3
 * SUMMARY
 *	message tracking search: indexes first, every match checked
 * SYNOPSIS
 *	#include "queue/queue.h"
 *
 *	int	queue_track_search(q, query, fn, arg, stats)
 *	struct queue_track_matcher *queue_track_matcher_new(query)
 *	bool	queue_track_matcher_test(m, env)
 *	void	queue_track_matcher_free(m)
 * DESCRIPTION
 *	The matcher is the final test of a search on its own, for records
 *	that come from elsewhere (a cluster's database): the same patterns,
 *	so a search means the same on one node and across the cluster.
 *
 *	A search has a source of tracking records and one of live
 *	messages, merged newest first (ids sort by arrival):
 *
 *	- with a sender or recipient pattern, the candidates come from the
 *	  sender or recipient index (both intersected when both are given):
 *	  an address or "@domain" is one key range, restricted to the time
 *	  range by the id in the key; a glob or substring walks the index's
 *	  keys, testing each distinct address once;
 *	- otherwise the summaries are walked backwards from the end of the
 *	  time range, testing status, direction and subject on them;
 *	- without indexes (a read-only search on a queue no writer of this
 *	  version has opened) the records themselves are walked ("scan").
 *
 *	Live messages are few: the envelopes in the time range are read
 *	and tested. Every candidate is then read and tested in full before
 *	fn sees it, so index entries never decide a match on their own.
 *	Each walk and each page of results is its own short read
 *	transaction (PAGE_IDS candidates, WALK_MAX summaries, EMIT_PAGE
 *	results), so a slow reader of the results pins no pages for long.
 * DIAGNOSTICS
 *	0, fn's non-zero return, or a negative sg_err from LMDB.
 */

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "queue_int.h"

#define PAGE_IDS	1024		/* candidates a summary walk collects per txn */
#define WALK_MAX	65536		/* summaries or records read per txn */
#define LIVE_PAGE	5000		/* live envelopes read per txn */
#define EMIT_PAGE	256		/* results per txn */

enum pat_kind { P_ANY, P_ADDR, P_DOMAIN, P_GLOB, P_SUB };

struct pat {
	enum pat_kind kind;
	const char *text;		/* the pattern; P_DOMAIN: the domain */
	uint8_t	key[QUEUE_ADDRKEY_MAX];	/* P_ADDR, P_DOMAIN: the key prefix */
	size_t	klen;
};

struct idvec {
	uint64_t *v;
	size_t	n, cap;
};

enum src { SRC_NONE, SRC_VEC, SRC_SUM, SRC_SCAN };

struct search {
	struct queue *q;
	const struct queue_track_query *qy;
	struct pat from, to;
	char   *needle;			/* the subject, folded */
	size_t	nlen;
	uint64_t lo, hi;		/* ids of the time range */
	struct queue_track_stats st;
	struct idvec live;		/* live matches, newest first */
	size_t	live_i;
	enum src src;
	struct idvec track;		/* VEC: every candidate; SUM, SCAN: a page */
	size_t	track_i;
	uint64_t upper;			/* SUM, SCAN: the walk goes on at or below */
	bool	walked;			/* SUM, SCAN: nothing left to walk */
	struct queue_env env;
	char	fold[QUEUE_MAX_STRING + 1];
};

static void push(struct idvec *v, uint64_t id)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 1024;
		v->v = sg_xrealloc(v->v, v->cap * sizeof(*v->v));
	}
	v->v[v->n++] = id;
}

static int desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

	return (x < y ? 1 : x > y ? -1 : 0);
}

/* sort_unique - newest first, each id once */

static void sort_unique(struct idvec *v)
{
	size_t	k = 0;

	if (v->n < 2)
		return;				/* v->v may be NULL */
	qsort(v->v, v->n, sizeof(*v->v), desc);
	for (size_t i = 0; i < v->n; i++)
		if (k == 0 || v->v[k - 1] != v->v[i])
			v->v[k++] = v->v[i];
	v->n = k;
}

/* intersect - the ids of a also in b, both newest first and unique, into a */

static void intersect(struct idvec *a, const struct idvec *b)
{
	size_t	i = 0, j = 0, k = 0;

	while (i < a->n && j < b->n) {
		if (a->v[i] == b->v[j])
			a->v[k++] = a->v[i++], j++;
		else if (a->v[i] > b->v[j])
			i++;
		else
			j++;
	}
	a->n = k;
}

/* ---------------------------------------------------------- patterns */

static void pat_compile(struct pat *p, const char *s)
{
	memset(p, 0, sizeof(*p));
	if (s == NULL)
		return;
	p->text = s;
	if (strcmp(s, "<>") == 0)
		s = p->text = "";
	if (strpbrk(s, "*?[") != NULL) {
		p->kind = P_GLOB;
	} else if (s[0] == '@' && s[1] != 0 && strchr(s + 1, '@') == NULL) {
		p->kind = P_DOMAIN;
		p->text = s + 1;
		p->klen = queue_addr_key(s, p->key) - 1;	/* "rd" NUL: any local part */
	} else if (*s == 0 || (strchr(s, '@') != NULL && s[0] != '@' && strchr(s, ' ') == NULL)) {
		p->kind = P_ADDR;
		p->klen = queue_addr_key(s, p->key);
	} else {
		p->kind = P_SUB;
	}
}

static bool pat_match(const struct pat *p, const char *a)
{
	const char *at;

	switch (p->kind) {
	case P_ANY:
		return (true);
	case P_ADDR:
		return (strcasecmp(a, p->text) == 0);
	case P_DOMAIN:
		return ((at = strrchr(a, '@')) != NULL && strcasecmp(at + 1, p->text) == 0);
	case P_GLOB:
		return (fnmatch(p->text, a, FNM_CASEFOLD) == 0);
	default:
		return (strcasestr(a, p->text) != NULL);
	}
}

/* ------------------------------------------------------------ checks */

static bool subject_has(struct search *s, const char *subject)
{
	size_t	n = strnlen(subject, QUEUE_MAX_STRING);

	queue_track_fold(subject, n, s->fold);
	return (memmem(s->fold, n, s->needle, s->nlen) != NULL);
}

/* rec_match - the whole query against the record itself */

static bool rec_match(struct search *s, const struct queue_env *e)
{
	const struct queue_track_query *qy = s->qy;
	bool	to = s->to.kind == P_ANY;

	if (e->id < s->lo || e->id > s->hi)
		return (false);
	if (qy->status && (queue_track_status(e) & qy->status) == 0)
		return (false);
	if (qy->direction >= 0 && (int) e->direction != qy->direction)
		return (false);
	if (!pat_match(&s->from, e->sender))
		return (false);
	for (size_t i = 0; !to && i < e->nrcpt; i++)
		to = pat_match(&s->to, e->rcpt[i].addr);
	return (to && (s->needle == NULL || subject_has(s, e->subject)));
}

/* sum_pass - status, direction and subject against a summary */

static bool sum_pass(const struct search *s, const uint8_t *d, size_t n)
{
	const struct queue_track_query *qy = s->qy;
	unsigned st;

	if (n < 4 || d[0] != QUEUE_SUMMARY_VERSION)
		return (true);			/* the record will tell */
	st = (unsigned) d[1] << 8 | d[2];
	if (qy->status && (st & qy->status) == 0)
		return (false);
	if (qy->direction >= 0 && d[3] != qy->direction)
		return (false);
	return (s->needle == NULL || memmem(d + 4, n - 4, s->needle, s->nlen) != NULL);
}

/* ------------------------------------------------------------ indexes */

/* key_pass - one index key against the pattern; the last address is remembered */

static bool key_pass(const struct pat *p, const uint8_t *k, size_t alen, struct sg_buf *last,
		     bool *last_ok)
{
	char	addr[QUEUE_ADDRKEY_MAX + 2];

	if (p->kind == P_ADDR || p->kind == P_DOMAIN)
		return (true);			/* the key range was the test */
	if (last->len == alen && memcmp(last->data, k, alen) == 0)
		return (*last_ok);
	sg_buf_reset(last);
	sg_buf_append(last, k, alen);
	*last_ok = queue_addr_from_key(k, alen, addr, sizeof(addr)) >= 0 && pat_match(p, addr);
	return (*last_ok);
}

/*
 * index_ids - the ids whose key in dbi passes p, within the time range.
 * An address or a domain is a key range; anything else reads every key.
 */
static int index_ids(struct search *s, MDB_txn *txn, MDB_dbi dbi, const struct pat *p,
		     struct idvec *out)
{
	uint8_t	kb[QUEUE_ADDRKEY_MAX + 8];
	MDB_val	k = {0, kb}, d;
	MDB_cursor *c;
	struct sg_buf last = SG_BUF_INIT;
	bool	ranged = p->kind == P_ADDR || p->kind == P_DOMAIN, last_ok = false;
	int	rc;

	if ((rc = mdb_cursor_open(txn, dbi, &c)) != 0)
		return (queue_err(rc));
	if (ranged) {
		memcpy(kb, p->key, p->klen);
		k.mv_size = p->klen;
		if (p->kind == P_ADDR) {
			queue_put_be64(kb + p->klen, s->lo);
			k.mv_size += 8;
		}
	}
	for (rc = mdb_cursor_get(c, &k, &d, ranged ? MDB_SET_RANGE : MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
		const uint8_t *kp = k.mv_data;
		size_t	alen = k.mv_size - 8;
		uint64_t id;

		if (k.mv_size < 10)
			continue;
		if (ranged && (alen < p->klen || memcmp(kp, p->key, p->klen) != 0))
			break;
		s->st.keys++;
		id = queue_get_be64(kp + alen);
		if (p->kind == P_ADDR && id > s->hi)
			break;
		if (id >= s->lo && id <= s->hi && key_pass(p, kp, alen, &last, &last_ok))
			push(out, id);
	}
	mdb_cursor_close(c);
	sg_buf_free(&last);
	return (rc == 0 || rc == MDB_NOTFOUND ? 0 : queue_err(rc));
}

/* candidates - the tracking records the sender and recipient indexes allow */

static int candidates(struct search *s)
{
	struct idvec other = {0};
	MDB_txn *txn;
	int	err;

	if ((err = queue_txn_begin(s->q, true, &txn)) != 0)
		return (err);
	if (s->from.kind != P_ANY)
		err = index_ids(s, txn, s->q->db_tsend, &s->from, &s->track);
	if (err == 0 && s->to.kind != P_ANY)
		err = index_ids(s, txn, s->q->db_trcpt, &s->to,
				s->from.kind != P_ANY ? &other : &s->track);
	queue_txn_abort(txn);
	sort_unique(&s->track);
	if (s->from.kind != P_ANY && s->to.kind != P_ANY) {
		sort_unique(&other);
		intersect(&s->track, &other);
	}
	free(other.v);
	return (err);
}

/* ------------------------------------------------------------- walks */

/* walk_page - the next page of the summary (or record) walk, backwards */

static int walk_page(struct search *s)
{
	uint8_t	kb[8];
	MDB_val	k = {8, kb}, d;
	MDB_txn *txn;
	MDB_cursor *c;
	size_t	walked = 0;
	bool	done = false;
	int	rc, err;

	s->track.n = s->track_i = 0;
	if ((err = queue_txn_begin(s->q, true, &txn)) != 0)
		return (err);
	if ((rc = mdb_cursor_open(txn, s->src == SRC_SUM ? s->q->db_tsum : s->q->db_track,
				  &c)) != 0) {
		queue_txn_abort(txn);
		return (queue_err(rc));
	}
	rc = MDB_NOTFOUND;
	if (s->upper < UINT64_MAX) {
		queue_put_be64(kb, s->upper + 1);
		if ((rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE)) == 0)
			rc = mdb_cursor_get(c, &k, &d, MDB_PREV);
		else if (rc == MDB_NOTFOUND)
			rc = mdb_cursor_get(c, &k, &d, MDB_LAST);
	} else {
		rc = mdb_cursor_get(c, &k, &d, MDB_LAST);
	}
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &d, MDB_PREV)) {
		uint64_t id = k.mv_size == 8 ? queue_get_be64(k.mv_data) : 0;
		bool	pass;

		if (id < s->lo) {
			done = true;
			break;
		}
		if (s->src == SRC_SUM) {
			s->st.summaries++;
			pass = sum_pass(s, d.mv_data, d.mv_size);
		} else {
			s->st.records++;
			pass = queue_env_decode(d.mv_data, d.mv_size, &s->env) == 0
				&& rec_match(s, &s->env);
		}
		if (pass)
			push(&s->track, id);
		if (s->track.n == PAGE_IDS || ++walked == WALK_MAX) {
			s->upper = id - 1;
			done = id == s->lo;
			break;
		}
	}
	s->walked = done || rc != 0;
	mdb_cursor_close(c);
	queue_txn_abort(txn);
	return (rc == 0 || rc == MDB_NOTFOUND ? 0 : queue_err(rc));
}

/* live_ids - the live messages that match, newest first */

static int live_ids(struct search *s)
{
	uint8_t	kb[8];
	MDB_val	k = {8, kb}, d;
	uint64_t next = s->lo;
	MDB_txn *txn;
	MDB_cursor *c;
	size_t	n;
	int	rc = 0, err;

	do {
		if ((err = queue_txn_begin(s->q, true, &txn)) != 0)
			return (err);
		if ((rc = mdb_cursor_open(txn, s->q->db_env, &c)) != 0) {
			queue_txn_abort(txn);
			return (queue_err(rc));
		}
		queue_put_be64(kb, next);
		n = 0;
		for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0 && n < LIVE_PAGE;
		     rc = mdb_cursor_get(c, &k, &d, MDB_NEXT), n++) {
			uint64_t id = k.mv_size == 8 ? queue_get_be64(k.mv_data) : 0;

			if (id > s->hi) {
				rc = MDB_NOTFOUND;
				break;
			}
			next = id + 1;
			s->st.records++;
			if (queue_env_decode(d.mv_data, d.mv_size, &s->env) == 0 && rec_match(s, &s->env))
				push(&s->live, id);
		}
		mdb_cursor_close(c);
		queue_txn_abort(txn);
	} while (rc == 0 && next != 0);
	sort_unique(&s->live);
	return (rc == MDB_NOTFOUND || rc == 0 ? 0 : queue_err(rc));
}

/* ------------------------------------------------------------ results */

/* gather - the next ids in merged order (newest first); live[i]: from env */

static int gather(struct search *s, uint64_t *ids, bool *live, size_t *n)
{
	int	err;

	*n = 0;
	while (*n < EMIT_PAGE) {
		bool	have_l = s->live_i < s->live.n, have_t;

		if (s->track_i == s->track.n && (s->src == SRC_SUM || s->src == SRC_SCAN)
		    && !s->walked) {
			if ((err = walk_page(s)) != 0)
				return (err);
			continue;
		}
		have_t = s->track_i < s->track.n;
		if (!have_l && !have_t)
			break;
		live[*n] = !have_t || (have_l && s->live.v[s->live_i] > s->track.v[s->track_i]);
		ids[*n] = live[*n] ? s->live.v[s->live_i++] : s->track.v[s->track_i++];
		(*n)++;
	}
	return (0);
}

/* load - one record by id, in place: the live one, else the tracking record */

static int load(struct search *s, MDB_txn *txn, uint64_t id, bool live)
{
	uint8_t	kb[8];
	MDB_val	k = {8, kb}, d;
	int	rc;

	queue_put_be64(kb, id);
	rc = mdb_get(txn, live ? s->q->db_env : s->q->db_track, &k, &d);
	if (rc == MDB_NOTFOUND && live)		/* it left the queue meanwhile */
		rc = mdb_get(txn, s->q->db_track, &k, &d);
	if (rc != 0)
		return (queue_err(rc));
	s->st.records++;
	if (queue_env_decode(d.mv_data, d.mv_size, &s->env) != 0 || s->env.id != id)
		return (SG_ECORRUPT);
	return (0);
}

static int emit(struct search *s, int (*fn) (const struct queue_env *, void *), void *arg)
{
	uint64_t ids[EMIT_PAGE];
	bool	live[EMIT_PAGE], full = false;
	size_t	n;
	MDB_txn *txn;
	int	err, stop = 0;

	while (!full && stop == 0) {
		if ((err = gather(s, ids, live, &n)) != 0 || n == 0)
			return (err);
		if ((err = queue_txn_begin(s->q, true, &txn)) != 0)
			return (err);
		for (size_t i = 0; i < n; i++) {
			if ((err = load(s, txn, ids[i], live[i])) == SG_ENOTFOUND || err == SG_ECORRUPT) {
				err = 0;	/* gone, or a stale index entry */
				continue;
			}
			if (err)
				break;
			if (!rec_match(s, &s->env))
				continue;
			s->st.matched++;
			if ((stop = fn(&s->env, arg)) != 0)
				break;
			if ((full = s->qy->limit && s->st.matched >= s->qy->limit))
				break;
		}
		queue_txn_abort(txn);
		if (err)
			return (err);
	}
	return (stop);
}

/* ------------------------------------------------------------- plan */

static int plan(struct search *s)
{
	MDB_txn *txn;
	bool	indexed;
	int	err;

	s->src = SRC_NONE;
	s->walked = true;
	s->st.plan = "live";
	if (!s->qy->finished)
		return (0);
	if ((err = queue_txn_begin(s->q, true, &txn)) != 0)
		return (err);
	indexed = queue_track_indexed(s->q, txn);
	queue_txn_abort(txn);
	s->upper = s->hi;
	s->walked = false;
	if (!indexed) {
		s->src = SRC_SCAN;
		s->st.plan = "scan";
		return (0);
	}
	if (s->from.kind == P_ANY && s->to.kind == P_ANY) {
		s->src = SRC_SUM;
		s->st.plan = "summary";
		return (0);
	}
	s->src = SRC_VEC;
	s->walked = true;
	s->st.plan = s->to.kind == P_ANY ? "sender" : s->from.kind == P_ANY ? "recipient"
		: "sender+recipient";
	return (candidates(s));
}

/* search_new - a search of q (NULL: only matching) with qy compiled */

static struct search *search_new(struct queue *q, const struct queue_track_query *qy)
{
	struct search *s = sg_xcalloc(1, sizeof(*s));
	size_t	n = qy->subject ? strlen(qy->subject) : 0;

	s->q = q;
	s->qy = qy;
	pat_compile(&s->from, qy->from);
	pat_compile(&s->to, qy->to);
	if (n > 0) {
		s->needle = sg_xmalloc(n);
		s->nlen = n;
		queue_track_fold(qy->subject, n, s->needle);
	}
	s->lo = qy->since_ms > 0 ? queue_id_at(qy->since_ms) : 1;
	s->hi = qy->until_ms > 0 ? queue_id_at(qy->until_ms) - 1 : UINT64_MAX;
	queue_env_init(&s->env);
	return (s);
}

static void search_free(struct search *s)
{
	queue_env_free(&s->env);
	free(s->live.v);
	free(s->track.v);
	free(s->needle);
	free(s);
}

struct queue_track_matcher *queue_track_matcher_new(const struct queue_track_query *qy)
{
	return ((struct queue_track_matcher *) search_new(NULL, qy));
}

bool	queue_track_matcher_test(struct queue_track_matcher *m, const struct queue_env *e)
{
	return (rec_match((struct search *) m, e));
}

void	queue_track_matcher_free(struct queue_track_matcher *m)
{
	if (m)
		search_free((struct search *) m);
}

int	queue_track_search(struct queue *q, const struct queue_track_query *qy,
			   int (*fn) (const struct queue_env *, void *), void *arg,
			   struct queue_track_stats *stats)
{
	struct search *s = search_new(q, qy);
	int	err;

	err = s->lo > s->hi ? 0 : plan(s);
	if (err == 0 && qy->live && s->lo <= s->hi)
		err = live_ids(s);
	if (err == 0 && s->lo <= s->hi)
		err = emit(s, fn, arg);
	if (stats)
		*stats = s->st;
	search_free(s);
	return (err);
}
