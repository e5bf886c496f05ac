#ifndef DELIVERY_H
#define DELIVERY_H

/*
 * NAME
 *	delivery 3h
 * SUMMARY
 *	the delivery agent role: routing, SMTP client, TLS policy, retries
 * SYNOPSIS
 *	#include "delivery/delivery.h"
 * DESCRIPTION
 *	The one public header of delivery/. It has two parts: the
 *	configuration section and the agent the role runtime drives, and
 *	the pure building blocks the agent is made of (reply parser, SMTP
 *	client session, routing, retry schedule; reports are built with
 *	common's sg_dsn_build()). The building
 *	blocks do no I/O; they are public so that unit tests, fuzz targets
 *	and sealctl exercise exactly the code the agent runs.
 *
 *	Ownership: every pointer handed to a delivery_* function stays the
 *	caller's and must outlive the call only where a comment says so.
 */

#include <uv.h>

#include "common/sg.h"

/* TLS policy levels, as in enQsig. */
enum delivery_tls {
	DELIVERY_TLS_NONE,		/* never STARTTLS */
	DELIVERY_TLS_MAY,		/* STARTTLS if offered, else plaintext */
	DELIVERY_TLS_ENCRYPT,		/* encrypted or defer 4.7.4 */
	DELIVERY_TLS_VERIFY,		/* encrypted, chain and name verified */
};

enum delivery_auth {
	DELIVERY_AUTH_NONE,
	DELIVERY_AUTH_PLAIN,
	DELIVERY_AUTH_LOGIN,
};

/* routes = ( { domains = [...]; hosts = [...]; tls = "..."; } ) */
struct delivery_route_conf {
	struct sg_strlist domains;	/* lower-cased */
	struct sg_strlist hosts;	/* "host:port", tried in order */
	int	tls;			/* enum delivery_tls */
};

/* DANE modes (RFC 7672), globally and per tls_policies entry. */
enum delivery_dane {
	DELIVERY_DANE_OFF,
	DELIVERY_DANE_MAY,		/* "opportunistic": when TLSA records are secure */
	DELIVERY_DANE_REQUIRED,		/* no secure TLSA: defer 4.7.5 */
	DELIVERY_DANE_INHERIT,		/* tls_policies entry: the global dane */
};

/* tls_policies = ( { domains = [...]; policy = "..."; dane = "..."; } ) */
#define DELIVERY_TLS_UNSET 4		/* an entry without policy: no explicit level */
struct delivery_tlspol_conf {
	struct sg_strlist domains;
	int	policy;			/* enum delivery_tls, or DELIVERY_TLS_UNSET */
	int	dane;			/* enum delivery_dane */
};

/* The "delivery = { ... };" section of the configuration. */
struct delivery_conf {
	int64_t	smtp_port;		/* port of MX hosts (tests use others) */
	int64_t	max_connections;	/* in total */
	int64_t	destination_concurrency;	/* per destination */
	struct sg_strlist dns_servers;	/* "ip[:port]"; empty: resolv.conf */
	int64_t	dns_timeout;		/* ms, per try */
	int64_t	dns_tries;
	struct sg_conf_array routes;	/* of struct delivery_route_conf */
	char   *smarthost;		/* "host:port"; "": none */
	int	smarthost_tls;		/* enum delivery_tls */
	int	smarthost_auth;		/* enum delivery_auth */
	char   *smarthost_credentials;	/* file: user line, password line */
	int	tls_policy;		/* default for MX destinations */
	int	dane;			/* enum delivery_dane, for MX destinations */
	bool	mta_sts;		/* look for MTA-STS policies (RFC 8461) */
	char   *sts_ca_file;		/* PEM CAs for the policy fetch; "": system's */
	int64_t	sts_port;		/* HTTPS port of mta-sts.DOMAIN (443; tests) */
	int64_t	sts_fetch_timeout;	/* ms */
	bool	tlsrpt;			/* count TLS results, send RFC 8460 reports */
	int64_t	tlsrpt_period;		/* ms a report covers (1d) */
	struct sg_conf_array tls_policies;	/* of struct delivery_tlspol_conf */
	int64_t	retry_min;		/* ms: first backoff */
	int64_t	retry_max;		/* ms: backoff cap */
	int64_t	max_lifetime;		/* ms: then bounce */
	int64_t	delay_warning;		/* ms; 0: never warn */
	int64_t	connect_timeout;	/* ms, each stage below too */
	int64_t	greeting_timeout;
	int64_t	helo_timeout;
	int64_t	starttls_timeout;
	int64_t	mail_timeout;
	int64_t	rcpt_timeout;
	int64_t	data_timeout;
	int64_t	data_block_timeout;
	int64_t	dot_timeout;
	int64_t	quit_timeout;
	int64_t	reuse_time;		/* ms an idle connection is kept */
	int64_t	reuse_count;		/* messages per connection */
	int64_t	max_recipients;		/* per SMTP transaction */
	char   *ehlo_name;		/* "": the top-level hostname */
	int64_t	scan_interval;		/* ms between queue polls */
};

extern const struct sg_conf_row delivery_conf_rows[];

/*
 * Part 1: SMTP replies from the next hop (untrusted input).
 *
 * delivery_reply_parse() looks for one complete reply, single- or
 * multi-line, at the start of buf[0..len). It returns 1 and sets *used
 * to the bytes it spans when one is there, 0 when more input is needed,
 * SG_EPROTO when the bytes cannot be a reply (bad code, codes that
 * differ between lines, a line over DELIVERY_REPLY_LINE_MAX, more than
 * DELIVERY_REPLY_LINES_MAX lines). Lines may end in CRLF or LF. The text
 * is kept truncated at sizeof(text)-1, lines joined by a space; the
 * enhanced status code (RFC 3463) is taken from the first line when its
 * class matches the reply's.
 */
#define DELIVERY_REPLY_LINE_MAX 2048
#define DELIVERY_REPLY_LINES_MAX 200
#define DELIVERY_REPLY_TEXT_MAX 512

struct delivery_reply {
	int	code;			/* 200..599 */
	char	enh[16];		/* "5.1.1" or "" */
	char	text[DELIVERY_REPLY_TEXT_MAX];	/* without codes; NUL-terminated */
	size_t	nlines;
};

int	delivery_reply_parse(const char *buf, size_t len, struct delivery_reply *,
			     size_t *used);

/* delivery_reply_format() writes "code enh text" into dst (always NUL-terminated). */
void	delivery_reply_format(const struct delivery_reply *, char *dst, size_t len);

/*
 * Part 2: the SMTP client session, a pure state machine. Server bytes go
 * in with delivery_session_input(); client bytes come out in the buffer
 * delivery_session_output() returns, which the driver sends and resets.
 * delivery_session_want() says what the driver must do next.
 */
enum delivery_status {
	DELIVERY_PENDING,
	DELIVERY_OK,
	DELIVERY_TEMP,			/* 4xx or local trouble: retry */
	DELIVERY_PERM,			/* 5xx: bounce */
};

#define DELIVERY_NOTIFY_NEVER	(1u << 0)
#define DELIVERY_NOTIFY_SUCCESS	(1u << 1)
#define DELIVERY_NOTIFY_FAILURE	(1u << 2)
#define DELIVERY_NOTIFY_DELAY	(1u << 3)

/* One recipient of one transaction; the session fills the result. */
struct delivery_rcpt {
	const char *addr;		/* in: envelope address, no <> */
	const char *orcpt;		/* in: ORCPT (xtext) or NULL */
	unsigned notify;		/* in: DELIVERY_NOTIFY_*; 0: not given */
	int	status;			/* out: enum delivery_status */
	int	code;			/* out: reply code (0: local) */
	char	enh[16];		/* out: enhanced status */
	char	reply[DELIVERY_REPLY_TEXT_MAX + 24];	/* out: the reason */
};

enum delivery_ret { DELIVERY_RET_NONE, DELIVERY_RET_FULL, DELIVERY_RET_HDRS };

/* One message for one destination; must outlive its transaction. */
struct delivery_msg {
	const char *sender;		/* "" for the null sender */
	uint64_t size;			/* 0: unknown */
	bool	eightbit;		/* body needs 8BITMIME */
	bool	smtputf8;		/* addresses need SMTPUTF8 */
	int	ret;			/* enum delivery_ret */
	const char *envid;		/* xtext or NULL */
	struct delivery_rcpt *rcpts;
	size_t	nrcpts;
};

struct delivery_session_params {
	const char *ehlo_name;
	const char *peer;		/* host name, for reasons and SNI */
	int	tls;			/* enum delivery_tls */
	bool	tls_possible;		/* the driver can do a handshake */
	bool	dane;			/* chain_ok/name_ok mean "TLSA matched": 4.7.5 */
	int	auth;			/* enum delivery_auth */
	const char *auth_user;		/* copied; never logged */
	const char *auth_pass;
};

enum delivery_want {
	DELIVERY_WANT_READ,		/* waiting for the server */
	DELIVERY_WANT_TLS,		/* run the TLS handshake, then _tls_result */
	DELIVERY_WANT_MESSAGE,		/* idle: give a message or quit */
	DELIVERY_WANT_BODY,		/* stream the body, then _body_end */
	DELIVERY_WANT_CLOSE,		/* finished: close the connection */
};

/* Stages, for the driver's per-stage timeouts and for log lines. */
enum delivery_stage {
	DELIVERY_STAGE_GREETING, DELIVERY_STAGE_HELO, DELIVERY_STAGE_STARTTLS,
	DELIVERY_STAGE_AUTH, DELIVERY_STAGE_IDLE, DELIVERY_STAGE_MAIL,
	DELIVERY_STAGE_RCPT, DELIVERY_STAGE_DATA, DELIVERY_STAGE_BODY,
	DELIVERY_STAGE_DOT, DELIVERY_STAGE_QUIT, DELIVERY_STAGE_CLOSED,
};

/* Why a session ended without a usable connection (before a message). */
struct delivery_failure {
	int	status;			/* DELIVERY_TEMP or DELIVERY_PERM */
	bool	next_host;		/* another host may do better */
	bool	plaintext_retry;	/* opportunistic: retry without TLS */
	bool	no_starttls;		/* the host did not offer or start TLS */
	char	enh[16];
	char	reason[DELIVERY_REPLY_TEXT_MAX + 128];
};

struct delivery_session;

struct delivery_session *delivery_session_new(const struct delivery_session_params *);
void	delivery_session_free(struct delivery_session *);
int	delivery_session_input(struct delivery_session *, const char *, size_t);
enum delivery_want delivery_session_want(const struct delivery_session *);
enum delivery_stage delivery_session_stage(const struct delivery_session *);
const char *delivery_session_stage_name(enum delivery_stage);
struct sg_buf *delivery_session_output(struct delivery_session *);
int	delivery_session_tls_result(struct delivery_session *, bool ok, bool chain_ok,
				    bool name_ok, const char *why);
int	delivery_session_message(struct delivery_session *, struct delivery_msg *);
void	delivery_session_body(struct delivery_session *, const void *, size_t);
void	delivery_session_body_end(struct delivery_session *);
void	delivery_session_quit(struct delivery_session *);
void	delivery_session_abort(struct delivery_session *, const char *why);
struct delivery_msg *delivery_session_done(struct delivery_session *);
const struct delivery_failure *delivery_session_failure(const struct delivery_session *);
bool	delivery_session_tls_active(const struct delivery_session *);
bool	delivery_session_reusable(const struct delivery_session *);

/*
 * delivery_dot_encode() is the body encoder the session uses: it
 * dot-stuffs and turns every bare CR or LF into CRLF, so a bare line
 * ending is never sent. *state starts at 0; delivery_dot_finish() ends
 * the last line and appends the terminating ".\r\n".
 */
void	delivery_dot_encode(unsigned *state, const void *, size_t, struct sg_buf *);
void	delivery_dot_finish(unsigned *state, struct sg_buf *);

/*
 * Part 3: routing. delivery_route() decides where mail for one domain
 * goes: an internal route, the smarthost or MX, and under which TLS
 * policy. A domain whose own policy requires TLS cannot go through a
 * smarthost: kind DELIVERY_ROUTE_FAIL with the reason.
 */
enum delivery_route_kind {
	DELIVERY_ROUTE_MX,
	DELIVERY_ROUTE_HOSTS,		/* internal route or smarthost */
	DELIVERY_ROUTE_FAIL,
};

struct delivery_route {
	int	kind;
	int	tls;			/* enum delivery_tls */
	bool	explicit_tls;		/* from a tls_policies entry: nothing overrides it */
	int	dane;			/* enum delivery_dane (MX only; OFF when explicit) */
	int	auth;			/* smarthost only */
	bool	smarthost;
	const struct sg_strlist *hosts;	/* HOSTS: points into the conf */
	char	key[300];		/* destination: concurrency and reuse */
	char	reason[300];		/* FAIL */
};

int	delivery_route(const struct delivery_conf *, const char *domain, size_t len,
		       struct delivery_route *);
const char *delivery_tls_name(int tls);

/*
 * Part 3b: the answer to an MX query (untrusted input; mx.c has the
 * rules). delivery_mx_parse() reads a DNS message of exactly len bytes
 * and says where mail for domain goes; returns out->kind.
 */
#define DELIVERY_MX_MAX		32	/* exchanges kept */
#define DELIVERY_MX_CNAMES	8	/* CNAMEs followed */

enum delivery_mx_kind {
	DELIVERY_MX_HOSTS,		/* out->v[0..n), lowest preference first */
	DELIVERY_MX_IMPLICIT,		/* no MX: the domain itself */
	DELIVERY_MX_NULL,		/* RFC 7505: no mail */
	DELIVERY_MX_NXDOMAIN,		/* no such domain */
	DELIVERY_MX_TEMP,		/* anything else: try again later (reason) */
};

struct delivery_mx {
	int	kind;
	size_t	n;
	struct {
		char	host[256];
		unsigned pref;
	}	v[DELIVERY_MX_MAX];
	char	reason[128];
};

int	delivery_mx_parse(const unsigned char *msg, size_t len, const char *domain,
			  long (*rnd) (void), struct delivery_mx *out);

/*
 * Part 3c: DANE (RFC 7672, RFC 7671). delivery_tlsa_parse() reads the
 * answer of a validating resolver to a TLSA query (untrusted input;
 * dane_tlsa.c has the rules); delivery_dane_match() checks a TLS peer's
 * certificates against the records (dane_match.c).
 */
#define DELIVERY_TLSA_MAX	8	/* records kept per name */

enum delivery_tlsa_kind {
	DELIVERY_TLSA_SECURE,		/* validated records in rr[0..n) */
	DELIVERY_TLSA_DENIED,		/* validated: there are none */
	DELIVERY_TLSA_INSECURE,		/* not validated: DANE does not apply */
	DELIVERY_TLSA_TEMP,		/* lookup failed or bogus: defer (reason) */
};

struct delivery_tlsa {
	int	kind;
	size_t	n, dropped;
	struct {
		unsigned char usage, selector, mtype;
		size_t	off, len;	/* association data in data[] */
	}	rr[DELIVERY_TLSA_MAX];
	unsigned char data[2048];
	size_t	used;
	char	reason[96];
};

int	delivery_tlsa_parse(const unsigned char *msg, size_t len, struct delivery_tlsa *out);

struct certs_tls;

/*
 * delivery_dane_match() returns 1 when the peer of t is authenticated by
 * a usable record of set (DANE-EE(3): the leaf; DANE-TA(2): a certificate
 * of the presented chain that the leaf chains to, and the leaf valid for
 * name), 0 when none matches, SG_ENOTFOUND when set has no usable record
 * (RFC 7672 2.2: then TLS is still mandatory, unauthenticated). why gets
 * the records tried, for the log.
 */
int	delivery_dane_match(const struct delivery_tlsa *set, const struct certs_tls *t,
			    const char *name, char *why, size_t whylen);

/*
 * Part 3d: MTA-STS (RFC 8461), untrusted input (sts_parse.c has the
 * rules). delivery_sts_txt_parse() reads one _mta-sts TXT record (its
 * strings joined); delivery_sts_policy_parse() the policy file fetched
 * over HTTPS; delivery_sts_mx_match() says whether an MX host name is
 * one of the policy's "mx" patterns.
 */
#define DELIVERY_STS_ID_MAX	32	/* RFC 8461 3.1: 1*32(ALPHA / DIGIT) */
#define DELIVERY_STS_MX_MAX	16	/* "mx" lines kept */
#define DELIVERY_STS_MAX_AGE	31557600	/* seconds, RFC 8461 3.2 */
#define DELIVERY_STS_SIZE_MAX	(64 * 1024)	/* policy bytes read */

enum delivery_sts_mode {
	DELIVERY_STS_NONE,
	DELIVERY_STS_TESTING,
	DELIVERY_STS_ENFORCE,
};

struct delivery_sts_policy {
	int	mode;			/* enum delivery_sts_mode */
	int64_t	max_age;		/* seconds */
	size_t	nmx;
	char	mx[DELIVERY_STS_MX_MAX][256];	/* "mail.example" or "*.example" */
};

int	delivery_sts_txt_parse(const char *txt, size_t len, char id[DELIVERY_STS_ID_MAX + 1]);
int	delivery_sts_policy_parse(const char *buf, size_t len, struct delivery_sts_policy *);
bool	delivery_sts_mx_match(const struct delivery_sts_policy *, const char *host);

/* The policy cache in the state directory (sts_cache.c). */
int	delivery_sts_cache_parse(const char *buf, size_t len, char id[DELIVERY_STS_ID_MAX + 1],
				 int64_t *fetched, struct delivery_sts_policy *,
				 const char **text, size_t *textlen);
int	delivery_sts_cache_write(const char *dir, const char *domain, const char *id,
				 int64_t fetched, const char *text, size_t len);
int	delivery_sts_cache_read(const char *dir, const char *domain,
				char id[DELIVERY_STS_ID_MAX + 1], int64_t *fetched,
				struct delivery_sts_policy *);

/*
 * Part 3e: TLS-RPT (RFC 8460), untrusted input (tlsrpt_parse.c).
 * delivery_tlsrpt_txt_parse() reads one _smtp._tls TXT record (its
 * strings joined) and keeps its mailto: rua addresses (others, such as
 * https:, are not used). delivery_tlsrpt_counts_parse() reads a counts
 * file of the state directory, one "TYPE RESULT MX IP COUNT" line each,
 * calling cb for each valid line; it stops at the first bad one.
 */
#define DELIVERY_TLSRPT_RUA_MAX	4

struct delivery_tlsrpt_rua {
	size_t	n;
	char	addr[DELIVERY_TLSRPT_RUA_MAX][256];	/* mailto: targets, decoded */
};

int	delivery_tlsrpt_txt_parse(const char *txt, size_t len, struct delivery_tlsrpt_rua *);

struct delivery_tlsrpt_line {
	char	type[16];		/* "sts", "tlsa", "no-policy-found" */
	char	result[40];		/* "success" or an RFC 8460 result-type */
	char	mx[256];
	char	ip[48];			/* "-": none */
	uint64_t count;
};

int	delivery_tlsrpt_counts_parse(const char *buf, size_t len,
				     void (*cb) (void *, const struct delivery_tlsrpt_line *),
				     void *arg);

/*
 * delivery_tlsrpt_report() writes the report mail for one policy domain
 * and period (RFC 8460 4 and 5.3): the JSON report, gzip'd, base64, in
 * a multipart/report; report-type="tlsrpt" message to the rua
 * addresses (tlsrpt_report.c). sts_policy, when not NULL, is the text of
 * the MTA-STS policy that applied (its lines become policy-string).
 */
struct delivery_tlsrpt_report {
	const char *submitter;		/* our host name */
	const char *domain;		/* the policy domain */
	int64_t	start, end;		/* unix seconds: [start, end) */
	const struct delivery_tlsrpt_rua *rua;
	const struct delivery_tlsrpt_line *lines;
	size_t	nlines;
	const char *sts_policy;
	size_t	sts_policy_len;
};

int	delivery_tlsrpt_report(const struct delivery_tlsrpt_report *, struct sg_buf *mail,
			       struct sg_buf *json);

/*
 * delivery_tls_check() says which TLS policy applies to mail for domain
 * and why (tlscheck.c, for sealctl tls check): the route, the MX hosts
 * and whether their answer was validated, each host's TLSA records and
 * DANE verdict, the MTA-STS policy cached in state_dir and the current
 * _mta-sts id. It makes the same lookups delivery makes, on a loop of its
 * own, and BLOCKS until they are done (dns_timeout x dns_tries at most);
 * it never fetches a policy. Text lines go to out. Returns 0, or
 * SG_EINVAL for a domain that is not a DNS name.
 */
int	delivery_tls_check(const struct delivery_conf *, const char *state_dir,
			   const char *domain, struct sg_buf *out);

/*
 * Part 4: retries. delivery_retry_next() returns the time of the next
 * attempt after `attempts` failed ones, or -1 when the message arrived
 * at `arrival` has outlived max_lifetime (bounce it).
 */
int64_t	delivery_retry_next(const struct delivery_conf *, int64_t arrival,
			    unsigned attempts, int64_t now);

/*
 * Part 5: the agent, driven by cmd/role_delivery.c on the role's loop.
 * delivery_agent_start() takes its own copies of what it keeps from the
 * configuration; delivery_agent_reload() swaps in a new one (DNS
 * settings included: new lookups use them);
 * delivery_agent_stop() closes every handle, after which the loop ends
 * and delivery_agent_free() may be called.
 */
struct delivery_agent;

struct queue_conf;
struct certs_conf;

struct delivery_agent_params {
	const struct delivery_conf *conf;
	const struct sg_conf_main *main;	/* hostname: EHLO, Reporting-MTA */
	const struct queue_conf *queue;
	const struct certs_conf *certs;
};

int	delivery_agent_start(uv_loop_t *, const struct delivery_agent_params *,
			     struct delivery_agent **);
int	delivery_agent_reload(struct delivery_agent *, const struct delivery_agent_params *);
void	delivery_agent_stop(struct delivery_agent *);
void	delivery_agent_free(struct delivery_agent *);

#endif
