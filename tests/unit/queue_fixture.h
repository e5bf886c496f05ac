#ifndef QUEUE_FIXTURE_H
#define QUEUE_FIXTURE_H

/*
 * NAME
 *	queue_fixture 3h
 * SUMMARY
 *	what the queue unit tests share: a real queue in a temporary directory
 * SYNOPSIS
 *	#include "queue_fixture.h"	(after cmocka.h)
 * DESCRIPTION
 *	fixture_setup()/fixture_teardown() are cmocka group-less setup and
 *	teardown functions: each test gets a struct fix with its own state
 *	directory and an open queue. fixture_conf() fills the queue section
 *	with the configuration's defaults. fixture_corrupt_env() overwrites a
 *	message's envelope record behind the queue's back, as a bad disk
 *	would, and reopens the queue; fixture_raw() puts or deletes any
 *	record so (fixture_raw_closed(): with the queue left closed), under
 *	a key fixture_body_key() makes for a body record.
 *	fixture_spool() spools a one-recipient message in a given state and
 *	returns its id.
 */

#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue.h"

struct fix {
	char	dir[64];
	struct sg_conf_main main;
	struct queue_conf conf;
	struct queue *q;
};

static inline void fixture_conf(struct queue_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->map_size_max = 1ULL << 30;
	c->lease_ms = 300000;
	c->chunk_size = 64 << 10;
	c->commit_batch = 256;
	c->max_readers = 126;
	c->track_keep_ms = 7 * 86400000LL;
}

static inline int fixture_setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_queue.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->main.state_dir = f->dir;
	fixture_conf(&f->conf);
	assert_int_equal(queue_open(&f->main, &f->conf, 0, &f->q), 0);
	*state = f;
	return (0);
}

static inline int fixture_teardown(void **state)
{
	struct fix *f = *state;
	char	cmd[128];

	if (f->q)
		queue_close(f->q);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return (-1);
	free(f);
	return (0);
}

/*
 * fixture_raw_closed - put (d != NULL) or delete a record of database db by
 * hand, the queue closed (f->q NULL); fixture_raw - the same around a
 * close and a reopen of f->q
 */
static inline void fixture_raw_closed(struct fix *f, const char *db, const void *key,
				      size_t klen, const void *data, size_t dlen)
{
	char	path[128];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi	dbi;
	MDB_val	k = {klen, (void *) key}, d = {dlen, (void *) data};

	snprintf(path, sizeof(path), "%s/queue", f->dir);
	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 24);
	mdb_env_set_mapsize(env, f->conf.map_size_max);
	assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	if (data)
		assert_int_equal(mdb_put(txn, dbi, &k, &d, 0), 0);
	else
		assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static inline void fixture_raw(struct fix *f, const char *db, const void *key, size_t klen,
			       const void *data, size_t dlen)
{
	queue_close(f->q);
	f->q = NULL;
	fixture_raw_closed(f, db, key, klen, data, dlen);
	assert_int_equal(queue_open(&f->main, &f->conf, 0, &f->q), 0);
}

/* fixture_body_key - a body record's key: id, kind, chunk number */

static inline void fixture_body_key(uint8_t kb[13], uint64_t id, int kind, uint32_t seq)
{
	for (int i = 0; i < 8; i++)
		kb[i] = (uint8_t) (id >> (56 - 8 * i));
	kb[8] = (uint8_t) kind;
	for (int i = 0; i < 4; i++)
		kb[9 + i] = (uint8_t) (seq >> (24 - 8 * i));
}

static inline void fixture_corrupt_env(struct fix *f, uint64_t id)
{
	uint8_t	kb[8];

	for (int i = 0; i < 8; i++)
		kb[i] = (uint8_t) (id >> (56 - 8 * i));
	fixture_raw(f, "env", kb, 8, "junk!", 5);
}

static inline uint64_t fixture_spool(struct queue *q, enum queue_state s)
{
	struct queue_env e;
	struct queue_body_src b = {.data = "body\r\n",.fd = -1,.len = 6};
	uint64_t id = 0;

	queue_env_init(&e);
	e.state = s;
	e.sender = "s@example.com";
	queue_env_rcpt_add(&e, "r@example.net");
	assert_int_equal(queue_spool(q, &e, &b, &id), 0);
	queue_env_free(&e);
	return (id);
}

#endif
