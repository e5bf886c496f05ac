#ifndef DELIVERY_INT_H
#define DELIVERY_INT_H

/*
 * NAME
 *	delivery_int 3h
 * SUMMARY
 *	internals of delivery/: resolver, connections, the agent's tables
 * SYNOPSIS
 *	#include "delivery_int.h"
 * DESCRIPTION
 *	Private to delivery/; no other folder includes it.
 */

#include <sys/socket.h>

#include "delivery.h"
#include "queue/queue.h"
#include "certs/certs.h"

/* resolve.c: c-ares on the agent's loop. */
struct dl_resolver;

/* What DANE says about one MX host (dane_hosts.c decides). */
enum dl_dane {
	DL_DANE_NONE,			/* no DANE: the domain's other policy */
	DL_DANE_AUTH,			/* secure TLSA records: TLS, matched */
	DL_DANE_FAIL,			/* TLSA lookup failed or bogus: defer 4.7.5 */
	DL_DANE_MISSING,		/* dane "required", nothing secure: defer 4.7.5 */
};

/* What an MTA-STS policy says about one MX host (sts.c). */
enum dl_sts_verdict {
	DL_STS_NONE,			/* no enforced policy */
	DL_STS_VERIFY,			/* enforce, host in mx: verified TLS */
	DL_STS_REFUSE,			/* enforce, host not in mx: defer 4.7.5 */
	DL_STS_TESTING,			/* testing: judged and reported, not enforced */
};

struct dl_addr {
	char	host[256];		/* the name it came from */
	struct sockaddr_storage sa;	/* with the port set */
	int	dane;			/* enum dl_dane */
	int	sts;			/* enum dl_sts_verdict */
	int	tlsa;			/* index into dl_hosts.tlsa, -1: none */
};

/* A resolution: status DELIVERY_OK with n >= 1 addresses, or TEMP/PERM. */
struct dl_hosts {
	int	status;
	char	enh[16];
	char	reason[320];
	size_t	n;
	struct dl_addr *v;		/* caller frees with dl_hosts_free */
	bool	mx_secure;		/* the MX answer had the AD bit */
	size_t	ntlsa;
	struct delivery_tlsa *tlsa;	/* per MX host, when DANE looked */
};

/* cb owns result. Called later from the loop, or from dl_resolver_free(). */
typedef void (*dl_resolve_cb) (void *arg, struct dl_hosts *result);

int	dl_resolver_new(uv_loop_t *, const struct delivery_conf *, struct dl_resolver **);
int	dl_resolver_reload(struct dl_resolver *, const struct delivery_conf *);
void	dl_resolver_free(struct dl_resolver *);
void	dl_resolve_mx(struct dl_resolver *, const char *domain, unsigned port, int dane,
		      dl_resolve_cb, void *arg);
void	dl_resolve_hosts(struct dl_resolver *, const struct sg_strlist *hostports,
			 unsigned defport, dl_resolve_cb, void *arg);
void	dl_hosts_free(struct dl_hosts *);

/* TXT records: status 0 (n may be 0: none) or SG_EAGAIN; recs are the caller's only during cb. */
#define DL_TXT_MAX	8
#define DL_TXT_LEN	4096
typedef void (*dl_txt_cb) (void *arg, int status, const struct sg_buf *recs, size_t n);
void	dl_resolve_txt(struct dl_resolver *, const char *name, dl_txt_cb, void *arg);
struct dl_hosts *dl_hosts_dup(const struct dl_hosts *);

/* dane_query.c: queries that ask the resolver for its AD bit. */
struct ares_channeldata;
void	dl_dane_query(struct ares_channeldata *, const char *name, int type,
		      void (*cb) (void *, int, int, unsigned char *, int), void *arg);
void	dl_dane_verdict(struct dl_addr *, int mode, bool mx_secure,
			const struct delivery_tlsa *);

/* conf_copy.c: the agent keeps its own copy of its configuration. */
struct delivery_conf *dl_conf_copy(const struct delivery_conf *, struct sg_arena *);

/* agent.c and conn.c: the agent's tables. */
struct dl_dest;
struct dl_conn;

/* The result of one recipient in the current attempt. */
struct dl_rres {
	bool	tried;			/* part of this attempt */
	int	status;			/* enum delivery_status */
	int	code;
	char	enh[16];
	char	reply[DELIVERY_REPLY_TEXT_MAX + 128];
	char	relay[320];
	char	mta[256];		/* the relay's host name, for DSNs */
	char	tls[128];
};

/* One message in flight: its envelope and the results of this attempt. */
struct dl_unit {
	struct delivery_agent *a;
	uint64_t id;
	char	idstr[QUEUE_ID_BUFSZ];
	struct queue_env env;
	struct dl_rres *res;		/* env.nrcpt entries */
	unsigned jobs;			/* outstanding */
	int64_t	start_ms;
	bool	eightbit;
	struct dl_unit *hnext;		/* in the agent's id table */
	struct dl_unit *dnext;		/* finished, waiting to be recorded */
	struct queue_record_item rec;	/* results the queue could not store yet */
};

/* One transaction's worth of a unit's recipients for one destination. */
struct dl_job {
	struct dl_unit *u;
	struct dl_dest *d;
	struct delivery_msg msg;
	struct delivery_rcpt *rcpts;
	size_t *idx;			/* msg.rcpts[i] is env.rcpt[idx[i]] */
	struct dl_job *next;
};

struct dl_dest {
	struct delivery_agent *a;
	struct delivery_route route;
	char	domain[256];		/* MX: the domain */
	struct dl_job *jobs, **jobs_tail;
	size_t	njobs;
	struct dl_conn *idle;		/* connections waiting for a job */
	struct dl_conn *conns;		/* every open connection */
	unsigned active;		/* connections open */
	unsigned connecting;		/* not yet ready for a message */
	struct dl_hosts *hosts;		/* resolved next hops */
	int64_t	hosts_ms;
	bool	resolving;
	unsigned gen;			/* configuration generation it was made for */
	unsigned policy_gen;		/* bumped by a new MTA-STS policy */
	struct dl_dest *next;
};

struct delivery_agent {
	uv_loop_t *loop;
	struct sg_arena *arena;		/* conf copies; old ones kept to stop */
	struct delivery_conf *conf;
	char   *hostname;
	char   *ehlo;
	char   *auth_user, *auth_pass;
	struct queue *q;
	struct certs *certs;		/* NULL: no TLS client here */
	struct dl_resolver *res;
	struct dl_sts *sts;		/* MTA-STS policies */
	struct dl_tlsrpt *tlsrpt;	/* TLS-RPT counts and reports */
	uv_timer_t scan_timer;
	uv_timer_t wake_timer;		/* coalesces wake-ups into one scan */
	bool	scan_deferred;		/* wake_timer waits for the next flush */
	uv_check_t check;		/* records finished units each iteration */
	struct dl_unit *done;
	struct dl_unit *unrecorded;	/* results to store again (a failed commit) */
	uv_timer_t record_timer;
	uv_poll_t wake_poll;
	int	wake_fd;
	struct dl_dest *dests;
	unsigned gen;			/* bumped by each reload */
	struct dl_unit *table[1024];	/* units in flight by id */
	size_t	nunits;
	unsigned total;			/* connections open */
	bool	stopping;
	unsigned handles;		/* open handles of the agent itself */
};

/* tagvalue.c: "tag=value;" lists of TXT policy records. */
struct dl_tag {
	const char *name, *value;
	size_t	nlen, vlen;
};
int	dl_tag_next(const char *txt, size_t len, size_t *pos, struct dl_tag *);
bool	dl_tag_is(const struct dl_tag *, const char *name);

/* sts_fetch.c: HTTPS policy fetches (libcurl multi-socket on the loop). */
struct dl_fetcher;
typedef void (*dl_fetch_cb) (void *arg, const char *body, size_t len, const char *why);
struct dl_fetcher *dl_fetcher_new(uv_loop_t *);
void	dl_fetcher_free(struct dl_fetcher *);
void	dl_fetch_policy(struct dl_fetcher *, const char *domain, unsigned port,
			const struct dl_hosts *addrs, const char *ca_file, int64_t timeout_ms,
			dl_fetch_cb, void *arg);

/* sts.c: MTA-STS policies, refreshed in the background. */
struct dl_sts;
#define DL_STS_DOMAINS	10000		/* MTA-STS policies kept in memory */
struct dl_sts *dl_sts_new(uv_loop_t *, struct dl_resolver *, const char *state_dir, size_t max,
			  void (*changed) (void *, const char *domain), void *arg);
void	dl_sts_stop(struct dl_sts *);
void	dl_sts_free(struct dl_sts *);
int	dl_sts_apply(struct dl_sts *, const struct delivery_conf *, const char *domain,
		     struct dl_hosts *);
const char *dl_sts_mode_name(int mode);

/* tlsrpt.c: TLS-RPT counts and reports. */
struct dl_tlsrpt;
struct dl_tlsrpt *dl_tlsrpt_new(struct delivery_agent *, const char *state_dir);
void	dl_tlsrpt_count(struct dl_tlsrpt *, const char *domain, const char *type,
			const char *result, const char *mx, const char *ip);
void	dl_tlsrpt_stop(struct dl_tlsrpt *);
void	dl_tlsrpt_free(struct dl_tlsrpt *);

/* tlspol_conn.c: the hooks of DANE and MTA-STS in a connection. */
bool	dl_conn_refuse(const struct dl_addr *, char *why, size_t whylen);
void	dl_conn_dane_check(const struct dl_hosts *, const struct dl_addr *,
			   const struct certs_tls *, const char *relay,
			   struct certs_tls_peer *, char *tlsdesc, size_t desclen);
void	dl_conn_tlsrpt(struct delivery_agent *, const char *domain, const struct dl_addr *,
		       const char *result);
const char *dl_conn_refuse_result(const struct dl_addr *);

/* conn.c */
void	dl_conn_open(struct dl_dest *);
void	dl_conn_give(struct dl_conn *, struct dl_job *);
void	dl_conn_stop_all(struct dl_dest *);
void	dl_conn_quit_idle(struct dl_dest *);

/* agent.c, for conn.c */
struct dl_job *dl_dest_take(struct dl_dest *);
void	dl_dest_dispatch(struct dl_dest *);
bool	dl_agent_starved(const struct delivery_agent *, const struct dl_dest *except);
void	dl_dest_fail(struct dl_dest *, int status, const char *enh, const char *reason,
		     const char *relay);
void	dl_dest_conn_closed(struct dl_dest *, struct dl_conn *);
void	dl_job_done(struct dl_job *, const char *relay, const char *tls);

#endif
