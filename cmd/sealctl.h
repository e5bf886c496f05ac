#ifndef SEALCTL_H
#define SEALCTL_H

/*
 * NAME
 *	sealctl 3h
 * SUMMARY
 *	the commands of sealctl, one file each
 * SYNOPSIS
 *	#include "cmd/sealctl.h"
 * DESCRIPTION
 *	Each command gets the loaded configuration and its own argv
 *	(argv[0] is the command name) and returns an exit status.
 */

#include <string.h>

#include "sealgate.h"

enum {
	SEALCTL_OK = 0,
	SEALCTL_PARTIAL = 1,	/* some ids not found, named on stderr */
	SEALCTL_USAGE = 2,	/* usage or configuration error */
};

struct sealctl_command {
	const char *name;
	int	(*run) (const struct sealgate_conf *, int argc, char **argv);
	const char *usage;		/* every verb: lines without "sealctl " */
};

/* sealctl_usage() prints the usage lines of command name (sealctl.c). */
void	sealctl_usage(FILE *, const char *name);

/*
 * sealctl_queue_open() opens the queue of conf's state directory (flags:
 * QUEUE_RDONLY, or SEALCTL_QUEUE_MAKE to create the state directory as
 * sealgated would). A state directory that does not exist is an error,
 * never an empty queue. SG_ENOTFOUND (read-only): the directory holds no
 * queue yet. Any other failure has been explained on stderr.
 */
#define SEALCTL_QUEUE_MAKE (1 << 30)
int	sealctl_queue_open(const struct sealgate_conf *, int flags, struct queue **);

/* sealctl_json.c: a buffered writer, JSON values (untrusted strings
 * escaped), times, text */
struct sealctl_out {
	FILE   *fp;
	char   *buf;			/* the caller's */
	size_t	len, cap;
	bool	err;			/* a write to fp failed */
};

void	sealctl_out_init(struct sealctl_out *, FILE *, char *buf, size_t cap);
char   *sealctl_out_room(struct sealctl_out *, size_t n);
void	sealctl_out_mem(struct sealctl_out *, const void *, size_t);
void	sealctl_out_json(struct sealctl_out *, const char *, size_t);
void	sealctl_out_u64(struct sealctl_out *, uint64_t);
int	sealctl_out_flush(struct sealctl_out *);

/* sealctl_out_put - sealctl_out_mem() inline: most pieces fit at once */
static inline void sealctl_out_put(struct sealctl_out *o, const void *p, size_t n)
{
	if (o->cap - o->len >= n) {
		memcpy(o->buf + o->len, p, n);
		o->len += n;
	} else {
		sealctl_out_mem(o, p, n);
	}
}

void	sealctl_json_str(FILE *, const char *);
void	sealctl_json_u64(FILE *, uint64_t);
void	sealctl_json_key(FILE *, const char *key, bool first);
void	sealctl_json_kv_str(FILE *, const char *key, const char *v, bool first);
void	sealctl_json_kv_u64(FILE *, const char *key, uint64_t v, bool first);
void	sealctl_json_kv_time(FILE *, const char *key, int64_t ms, bool first);
char   *sealctl_time(int64_t ms, char *buf, size_t len);
void	sealctl_put_text(FILE *, const char *, size_t max);

/* sealctl_queue.c */
int	sealctl_queue(const struct sealgate_conf *, int argc, char **argv);

/* sealctl_tls.c */
int	sealctl_tls(const struct sealgate_conf *, int argc, char **argv);

/* sealctl_cert.c */
int	sealctl_cert(const struct sealgate_conf *, int argc, char **argv);
int	sealctl_crl(const struct sealgate_conf *, int argc, char **argv);

/* sealctl_status.c */
int	sealctl_status(const struct sealgate_conf *, int argc, char **argv);

/* sealctl_track.c */
int	sealctl_track(const struct sealgate_conf *, int argc, char **argv);

/* sealctl_stats.c */
int	sealctl_stats(const struct sealgate_conf *, int argc, char **argv);

/* sealctl_cluster.c */
int	sealctl_cluster(const struct sealgate_conf *, int argc, char **argv);
int	sealctl_cluster_status(const struct sealgate_conf *, bool json);
struct cluster_db *sealctl_cluster_db(const struct sealgate_conf *, const char *what, bool local);
int	sealctl_cluster_share(const struct sealgate_conf *, int kind, bool ca,
			      const char *gateway, const struct sg_buf *data, const char *what);

/* sealctl_incidents.c */
int	sealctl_incidents(const struct sealgate_conf *, int argc, char **argv);

#endif
