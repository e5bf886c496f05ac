/*
 * NAME
 *	agent 3
 * SUMMARY
 *	the delivery agent: due messages, destinations, results, DSNs
 * SYNOPSIS
 *	#include "delivery/delivery.h"
 *
 *	int	delivery_agent_start(loop, params, out)
 *	int	delivery_agent_reload(a, params)
 *	void	delivery_agent_stop(a)
 *	void	delivery_agent_free(a)
 * DESCRIPTION
 *	The agent runs on the delivery role's loop. It wakes on the queue's
 *	datagram and on a timer (scan_interval), takes due messages with
 *	queue_due() (which leases them; with fewer than PEEK_UNITS in
 *	flight and fewer due than that, queue_due_peek(), which does not),
 *	and splits each message's due
 *	recipients by destination: the route of the recipient's domain,
 *	found with the same address parser smtpd uses (sg_addr_parse). A
 *	destination holds a queue of jobs (one SMTP transaction each, up to
 *	max_recipients), its resolved next hops, and its connections, at
 *	most destination_concurrency of them, max_connections in all.
 *
 *	When every job of a message has finished, its results are stored
 *	with those of every other message finished in the same loop
 *	iteration, in one queue_record_many() call (one fsync): delivered,
 *	deferred with the next attempt from the retry schedule (at once
 *	for recipients the server refused with "452 4.5.3 too many
 *	recipients" while it took others), or bounced (a permanent failure,
 *	or a temporary one past the message's lifetime). Bounces, delay
 *	warnings (once, after delay_warning) and success notices
 *	(NOTIFY=SUCCESS) are spooled as RFC 3464 reports from the null
 *	sender before the results are recorded, so a crash in between may
 *	repeat a report but never lose one. No report goes to the null
 *	sender, nor for a report we made.
 *
 *	When that commit fails as a whole (a write or sync error, a full
 *	disk), the results stay in memory and the same record is tried
 *	again every RECORD_RETRY_MS ("event=record_retry" once) until it
 *	succeeds, the message meanwhile neither taken again nor sent again
 *	by this process: a disk that fails for a moment costs no second
 *	delivery. At a stop one last try is made; what still cannot be
 *	stored is logged (record_failed) and comes back when its lease ends
 *	(or, taken without one, at once when the role starts again). A
 *	message whose own result alone was refused (the batch committed) is
 *	leased in that commit (queue_deliv.c), so that it is not sent again
 *	at the next scan.
 *
 *	delivery_agent_reload() takes a new configuration: new mail is
 *	routed by it, idle connections made under the old one say QUIT,
 *	the scan interval changes at the next scan, the smarthost
 *	credentials are read again, and new DNS servers, timeout or tries
 *	go to the resolver (lookups under way finish with the old ones).
 *
 *	One log line per recipient result: queue id, recipient, relay
 *	(host[address]:port), TLS version/cipher, delay, attempt, status,
 *	enhanced status and the reply, escaped with sg_printable().
 *
 *	delivery_agent_stop() closes every handle: idle connections say
 *	QUIT, busy ones are cut; recipients that were not tried are left
 *	untouched in the queue, which hands them out again when their lease
 *	ends, or at once if they were taken without one. The agent frees
 *	itself when its last handle has closed.
 * DIAGNOSTICS
 *	delivery_agent_start() returns SG_EIO when the queue cannot be
 *	opened, SG_EINVAL for unreadable credentials or DNS servers.
 *	Everything later is logged.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "delivery_int.h"

#define DUE_BATCH	256
#define WAKE_COALESCE_MS 5
#define SCAN_DEFER_MS	50		/* a scan waits this long for a flush */
#define MAX_UNITS	20000		/* messages in flight at once */
#define PEEK_UNITS	16		/* fewer in flight: take without a lease */
#define HOSTS_TTL_MS	60000		/* re-resolve a destination after this */
#define DSN_HDRS_MAX	(64 * 1024)
#define DSN_FULL_MAX	(10 * 1024 * 1024)
#define RECORD_RETRY_MS	1000		/* a failed record is tried again after this */

static void scan(struct delivery_agent *a);
static void maybe_free(struct delivery_agent *a);
static void on_record_timer(uv_timer_t *t);
static void keep_unrecorded(struct delivery_agent *a, struct dl_unit **units,
			    struct queue_record_item *items, size_t n);

/* ------------------------------------------------------- the table */

static struct dl_unit **slot(struct delivery_agent *a, uint64_t id)
{
	struct dl_unit **pp = &a->table[(id ^ (id >> 16)) % SG_NELEM(a->table)];

	while (*pp && (*pp)->id != id)
		pp = &(*pp)->hnext;
	return (pp);
}

/* ---------------------------------------------------- destinations */

static struct dl_dest *dest_get(struct delivery_agent *a, const struct delivery_route *r,
				const char *domain)
{
	struct dl_dest *d;

	for (d = a->dests; d; d = d->next)
		if (d->gen == a->gen && strcmp(d->route.key, r->key) == 0)
			return (d);
	d = sg_xcalloc(1, sizeof(*d));
	d->a = a;
	d->gen = a->gen;
	d->route = *r;
	snprintf(d->domain, sizeof(d->domain), "%s", domain);
	d->jobs_tail = &d->jobs;
	d->next = a->dests;
	a->dests = d;
	return (d);
}

static void dest_gc(struct dl_dest *d)
{
	struct delivery_agent *a = d->a;

	if (d->njobs || d->active || d->resolving)
		return;
	for (struct dl_dest **pp = &a->dests; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	dl_hosts_free(d->hosts);
	free(d);
}

static void dest_push(struct dl_dest *d, struct dl_job *j)
{
	j->next = NULL;
	*d->jobs_tail = j;
	d->jobs_tail = &j->next;
	d->njobs++;
}

struct dl_job *dl_dest_take(struct dl_dest *d)
{
	struct dl_job *j = d->jobs;

	if (j == NULL)
		return (NULL);
	d->jobs = j->next;
	if (d->jobs == NULL)
		d->jobs_tail = &d->jobs;
	d->njobs--;
	return (j);
}

/* sts_judge - MTA-STS marks on the MX hosts of d, unless its route says how */

static void sts_judge(struct dl_dest *d, struct dl_hosts *h)
{
	if (h && d->route.kind == DELIVERY_ROUTE_MX && !d->route.explicit_tls)
		dl_sts_apply(d->a->sts, d->a->conf, d->domain, h);
}

static void on_resolved(void *arg, struct dl_hosts *h)
{
	struct dl_dest *d = arg;

	d->resolving = false;
	if (h->status != DELIVERY_OK) {
		dl_dest_fail(d, h->status, h->enh, h->reason, NULL);
		dl_hosts_free(h);
		dest_gc(d);
		return;
	}
	sts_judge(d, h);
	dl_hosts_free(d->hosts);
	d->hosts = h;
	d->hosts_ms = sg_mono_ms();
	dl_dest_dispatch(d);
}

static void resolve(struct dl_dest *d)
{
	struct delivery_agent *a = d->a;

	d->resolving = true;
	if (d->route.kind == DELIVERY_ROUTE_MX)
		dl_resolve_mx(a->res, d->domain, (unsigned) a->conf->smtp_port, d->route.dane,
			      on_resolved, d);
	else if (d->route.smarthost) {
		struct sg_strlist one = {1, &a->conf->smarthost};

		dl_resolve_hosts(a->res, &one, 25, on_resolved, d);
	} else {
		dl_resolve_hosts(a->res, d->route.hosts, 25, on_resolved, d);
	}
}

/*
 * free_a_slot - every connection is taken and d has waiting mail: an
 * idle connection cached for another destination gives its place up.
 */
static void free_a_slot(struct delivery_agent *a, struct dl_dest *d)
{
	for (struct dl_dest *o = a->dests; o; o = o->next) {
		if (o != d && o->idle) {
			dl_conn_quit_idle(o);
			return;
		}
	}
}

bool	dl_agent_starved(const struct delivery_agent *a, const struct dl_dest *except)
{
	if (a->total < (unsigned) a->conf->max_connections)
		return (false);
	for (const struct dl_dest *o = a->dests; o; o = o->next)
		if (o != except && o->njobs > o->connecting)
			return (true);
	return (false);
}

void	dl_dest_dispatch(struct dl_dest *d)
{
	struct delivery_agent *a = d->a;

	while (d->njobs > 0 && d->idle)
		dl_conn_give(d->idle, dl_dest_take(d));
	if (d->njobs == 0 || a->stopping || d->resolving)
		return;
	if (d->hosts == NULL || sg_mono_ms() - d->hosts_ms > HOSTS_TTL_MS) {
		if (d->active == 0) {
			resolve(d);
			return;
		}
	}
	while (d->njobs > d->connecting && d->active < (unsigned) a->conf->destination_concurrency
	       && a->total < (unsigned) a->conf->max_connections && d->hosts)
		dl_conn_open(d);
	if (d->njobs > d->connecting && a->total >= (unsigned) a->conf->max_connections)
		free_a_slot(a, d);
}

void	dl_dest_fail(struct dl_dest *d, int status, const char *enh, const char *reason,
		     const char *relay)
{
	struct dl_job *j;

	while ((j = dl_dest_take(d)) != NULL) {
		for (size_t i = 0; i < j->msg.nrcpts; i++) {
			struct delivery_rcpt *r = &j->rcpts[i];

			r->status = status;
			r->code = 0;
			snprintf(r->enh, sizeof(r->enh), "%s", enh);
			snprintf(r->reply, sizeof(r->reply), "%s", reason);
		}
		dl_job_done(j, relay ? relay : "none", "none");
	}
}

void	dl_dest_conn_closed(struct dl_dest *d, struct dl_conn *c)
{
	struct delivery_agent *a = d->a;
	bool	was_full = a->total >= (unsigned) a->conf->max_connections;

	(void) c;
	d->active--;
	a->total--;
	if (a->stopping) {
		dest_gc(d);
		maybe_free(a);
		return;
	}
	dl_dest_dispatch(d);
	if (was_full) {
		for (struct dl_dest *o = a->dests; o; o = o->next)
			if (o != d && o->njobs)
				dl_dest_dispatch(o);
	}
	dest_gc(d);
}

/* ------------------------------------------------------------ DSNs */

static void read_original(struct delivery_agent *a, struct dl_unit *u, bool full,
			  struct sg_buf *b)
{
	size_t	max = full ? DSN_FULL_MAX : DSN_HDRS_MAX, got = 0;

	if (full && u->env.size > DSN_FULL_MAX)
		max = DSN_HDRS_MAX;
	sg_buf_reserve(b, max);
	while (b->len < max && queue_body_read(a->q, u->id, QUEUE_BODY_ORIGINAL, b->len,
					       b->data + b->len, max - b->len, &got) == 0
	       && got > 0)
		b->len += got;
}

static int send_dsn(struct delivery_agent *a, struct dl_unit *u,
		    const struct sg_dsn_rcpt *rcpts, size_t n, int64_t now)
{
	struct sg_dsn d = {
		.reporting_mta = a->hostname,.queue_id = u->idstr,.sender = u->env.sender,
		.envid = *u->env.envid ? u->env.envid : NULL,.arrival = u->env.arrival_ms,
		.now = now,.rcpts = rcpts,.nrcpts = n,.full = u->env.ret == QUEUE_RET_FULL,
		.retry_until = u->env.arrival_ms + a->conf->max_lifetime,
	};
	struct sg_buf orig = SG_BUF_INIT, msg = SG_BUF_INIT;
	struct queue_env e;
	struct queue_body_src src = {0};
	uint64_t id = 0;
	char	idstr[QUEUE_ID_BUFSZ];
	int	rc;

	read_original(a, u, d.full, &orig);
	d.original = orig.data;
	d.original_len = orig.len;
	if (d.full && orig.len >= DSN_FULL_MAX)
		d.full = false;
	if ((rc = sg_dsn_build(&d, &msg)) < 0)
		goto out;
	queue_env_init(&e);
	e.state = QUEUE_READY;
	e.flags = QUEUE_F_DSN;
	e.sender = "";
	e.direction = QUEUE_DIR_OUTBOUND;
	e.parent = u->id;
	queue_env_rcpt_add(&e, u->env.sender);
	src.data = msg.data;
	src.len = msg.len;
	rc = queue_spool(a->q, &e, &src, &id);
	queue_env_free(&e);
	if (rc < 0)
		sg_error("id=%s event=dsn_failed kind=%s error=\"%s\"", u->idstr,
			 rcpts[0].kind == SG_DSN_FAILED ? "bounce" : "notice",
			 sg_strerror(rc));
	else
		sg_info("id=%s event=dsn dsn_id=%s kind=%s recipients=%zu", u->idstr,
			queue_id_format(id, idstr), rcpts[0].kind == SG_DSN_FAILED
			? "failure" : rcpts[0].kind == SG_DSN_DELAYED ? "delay"
			: "success", n);
out:
	sg_buf_free(&orig);
	sg_buf_free(&msg);
	return (rc < 0 ? rc : 0);
}

/* --------------------------------------------------------- results */

static const char *status_name(enum queue_rcpt_state st)
{
	return (st == QUEUE_RCPT_DELIVERED ? "sent" : st == QUEUE_RCPT_BOUNCED ? "bounced"
		: "deferred");
}

static void log_result(struct dl_unit *u, size_t i, enum queue_rcpt_state st,
		       const struct dl_rres *r, unsigned attempt, int64_t now)
{
	char	rcpt[600], reply[800];

	sg_printable(rcpt, sizeof(rcpt), u->env.rcpt[i].addr, strlen(u->env.rcpt[i].addr));
	sg_printable(reply, sizeof(reply), r->reply, strlen(r->reply));
	sg_info("id=%s event=delivery rcpt=\"%s\" relay=\"%s\" tls=\"%s\" delay=%.2f "
		"attempt=%u status=%s dsn=%s reply=\"%s\"", u->idstr, rcpt, r->relay, r->tls,
		(double) (now - u->env.arrival_ms) / 1000.0, attempt, status_name(st),
		r->enh, reply);
}

static bool wants(unsigned notify, unsigned bit)
{
	if (notify & QUEUE_NOTIFY_NEVER)
		return (false);
	if (notify == 0)
		return (bit == QUEUE_NOTIFY_FAILURE || bit == QUEUE_NOTIFY_DELAY);
	return ((notify & bit) != 0);
}

/* decide - the queue state of one tried recipient */

/* too_many_rcpts - the server's limit of recipients per transaction */

static bool too_many_rcpts(const struct dl_rres *r)
{
	return (r->code == 452 && (strcmp(r->enh, "4.5.3") == 0
				   || (*r->enh == 0 && strcasestr(r->reply, "too many recipients"))));
}

/*
 * decide - the queue state of one tried recipient. A recipient refused
 * only because the transaction already had as many as the server takes
 * is retried at once, in a new transaction (RFC 5321 4.5.3.1.10), not
 * after the backoff, as long as the attempt delivered to someone: each
 * such round makes progress, so it cannot spin.
 */
static enum queue_rcpt_state decide(struct delivery_agent *a, struct dl_unit *u,
				    struct dl_rres *r, unsigned attempt, int64_t now,
				    bool progressed, int64_t *next)
{
	int64_t	expire = u->env.expire_ms ? u->env.expire_ms
		: u->env.arrival_ms + a->conf->max_lifetime;

	*next = 0;
	if (r->status == DELIVERY_OK)
		return (QUEUE_RCPT_DELIVERED);
	if (r->status == DELIVERY_PERM)
		return (QUEUE_RCPT_BOUNCED);
	if (progressed && too_many_rcpts(r) && now < expire) {
		*next = now;
		return (QUEUE_RCPT_DEFERRED);
	}
	*next = delivery_retry_next(a->conf, u->env.arrival_ms, attempt, now);
	if (*next > expire)
		*next = expire;
	if (*next < 0 || now >= expire) {
		char	why[sizeof(r->reply)];

		snprintf(why, sizeof(why), "message expired after %lld s in the queue: %.500s",
			 (long long) ((now - u->env.arrival_ms) / 1000), r->reply);
		snprintf(r->reply, sizeof(r->reply), "%s", why);
		return (QUEUE_RCPT_BOUNCED);
	}
	return (QUEUE_RCPT_DEFERRED);
}

static void unit_free(struct dl_unit *u)
{
	queue_env_free(&u->env);
	free(u->res);
	free(u);
}

/* The reports one attempt of one message asks for. */
struct reports {
	struct sg_dsn_rcpt *v[3];	/* failed, delayed, delivered */
	size_t	n[3];
};

/* classify - queue state of one tried recipient, and the report it wants */

static void classify(struct dl_unit *u, size_t i, int64_t now, bool progressed,
		     struct queue_result *out, struct reports *rp, bool warn)
{
	struct delivery_agent *a = u->a;
	struct dl_rres *r = &u->res[i];
	const struct queue_rcpt *q = &u->env.rcpt[i];
	struct sg_dsn_rcpt dr = {.addr = q->addr,.status = r->enh,
		.remote_mta = *r->mta ? r->mta : NULL,.diagnostic = r->reply,
	.last_attempt = now,.orcpt = *q->orcpt ? q->orcpt : NULL};
	int64_t	next;
	enum queue_rcpt_state st = decide(a, u, r, q->attempts + 1, now, progressed, &next);

	*out = (struct queue_result) {
		.index = i,.state = st,.reply = r->reply,.dsn_status = r->enh,
		.relay = r->relay,.next_attempt_ms = next,.tls = r->tls,
	};
	if (st == QUEUE_RCPT_BOUNCED && wants(q->notify, QUEUE_NOTIFY_FAILURE))
		dr.kind = SG_DSN_FAILED;
	else if (st == QUEUE_RCPT_DELIVERED && wants(q->notify, QUEUE_NOTIFY_SUCCESS))
		dr.kind = SG_DSN_DELIVERED;
	else if (st == QUEUE_RCPT_DEFERRED && warn && wants(q->notify, QUEUE_NOTIFY_DELAY)
		 && now - u->env.arrival_ms >= a->conf->delay_warning)
		dr.kind = SG_DSN_DELAYED;
	else
		return;
	rp->v[dr.kind][rp->n[dr.kind]++] = dr;
}

/*
 * keep_bounced - the bounce could not be stored: a recipient is final
 * only with its report, so it stays deferred and bounces next time.
 */
static void keep_bounced(struct dl_unit *u, struct queue_result *res, size_t n, int64_t now)
{
	for (size_t k = 0; k < n; k++) {
		if (res[k].state != QUEUE_RCPT_BOUNCED)
			continue;
		res[k].state = QUEUE_RCPT_DEFERRED;
		res[k].next_attempt_ms = now + u->a->conf->retry_min;
	}
}

/*
 * unit_results - reports and queue results of one finished unit, into
 * *it (it->res is allocated here, freed by unit_recorded).
 */
static void unit_results(struct dl_unit *u, struct queue_record_item *it)
{
	struct delivery_agent *a = u->a;
	size_t	n = u->env.nrcpt, nres = 0;
	struct queue_result *res = sg_xcalloc(n ? n : 1, sizeof(*res));
	struct reports rp = {{NULL}, {0}};
	bool	dsn_ok = *u->env.sender && !(u->env.flags & QUEUE_F_DSN);
	bool	warn = a->conf->delay_warning > 0 && !strstr(u->env.route, "delay-warned");
	bool	warned = false, progressed = false;
	int64_t	now = sg_now_ms();

	for (int k = 0; k < 3; k++)
		rp.v[k] = sg_xcalloc(n ? n : 1, sizeof(*rp.v[k]));
	for (size_t i = 0; i < n; i++)
		progressed |= u->res[i].tried && u->res[i].status == DELIVERY_OK;
	for (size_t i = 0; i < n; i++) {
		const struct dl_rres *r = &u->res[i];

		/* At shutdown, a recipient cut off locally was not really tried. */
		if (r->tried && !(a->stopping && r->status == DELIVERY_TEMP && r->code == 0))
			classify(u, i, now, progressed, &res[nres++], &rp, warn);
	}
	if (dsn_ok && rp.n[SG_DSN_FAILED]
	    && send_dsn(a, u, rp.v[SG_DSN_FAILED], rp.n[SG_DSN_FAILED], now) < 0)
		keep_bounced(u, res, nres, now);
	if (dsn_ok && rp.n[SG_DSN_DELIVERED])
		send_dsn(a, u, rp.v[SG_DSN_DELIVERED], rp.n[SG_DSN_DELIVERED], now);
	if (dsn_ok && rp.n[SG_DSN_DELAYED])
		warned = send_dsn(a, u, rp.v[SG_DSN_DELAYED], rp.n[SG_DSN_DELAYED],
				  now) == 0;
	for (size_t k = 0; k < nres; k++) {
		size_t	i = res[k].index;

		log_result(u, i, res[k].state, &u->res[i], u->env.rcpt[i].attempts + 1, now);
	}
	for (int k = 0; k < 3; k++)
		free(rp.v[k]);
	/*
	 * Also with no result: queue_due() may have leased the message,
	 * and the record puts it back on the schedule, at its recipients'
	 * next attempt or, when stopping, now, so a restart takes it at once.
	 */
	*it = (struct queue_record_item) {.id = u->id,.res = res,.nres = nres,
		.next_attempt_ms = a->stopping ? now : 0,
	.route = warned ? "delay-warned" : NULL };
}

/* unit_recorded - log what the queue made of the unit's results, free it */

static void unit_recorded(struct dl_unit *u, struct queue_record_item *it)
{
	struct delivery_agent *a = u->a;

	if (it->result < 0)
		sg_error("id=%s event=record_failed error=\"%s\"", u->idstr,
			 sg_strerror(it->result));
	else if (it->done)
		sg_info("id=%s event=removed", u->idstr);
	free((void *) it->res);
	*slot(a, u->id) = u->hnext;
	a->nunits--;
	unit_free(u);
}

static size_t start_due(struct delivery_agent *a, const uint64_t *ids, size_t n, int64_t now);

/*
 * record_again - store the results kept by keep_unrecorded(); what fails
 * again stays for the next try, unless this is the last one (stopping).
 */
static void record_again(struct delivery_agent *a)
{
	struct queue_record_item *items;
	struct dl_unit **units, *u;
	size_t	n = 0;
	int	err;

	for (u = a->unrecorded; u; u = u->dnext)
		n++;
	if (n == 0)
		return;
	items = sg_xcalloc(n, sizeof(*items));
	units = sg_xcalloc(n, sizeof(*units));
	n = 0;
	for (u = a->unrecorded; u; u = u->dnext) {
		units[n] = u;
		items[n++] = u->rec;
	}
	if ((err = queue_record_many(a->q, items, n)) < 0 && !a->stopping) {
		uv_timer_start(&a->record_timer, on_record_timer, RECORD_RETRY_MS, 0);
	} else {
		a->unrecorded = NULL;
		if (err == 0)
			sg_info("event=record_retried count=%zu", n);
		for (size_t i = 0; i < n; i++)
			unit_recorded(units[i], &items[i]);
	}
	free(units);
	free(items);
}

static void on_record_timer(uv_timer_t *t)
{
	record_again(t->data);
}

/*
 * keep_unrecorded - the commit holding these results failed as a whole:
 * keep them (the units stay in the table, so nothing is taken or sent
 * again) and store them again later.
 */
static void keep_unrecorded(struct delivery_agent *a, struct dl_unit **units,
			    struct queue_record_item *items, size_t n)
{
	sg_warn("event=record_retry count=%zu error=\"%s\" retry_in_ms=%d", n,
		sg_strerror(items[0].result), RECORD_RETRY_MS);
	for (size_t i = 0; i < n; i++) {
		units[i]->rec = items[i];
		units[i]->rec.result = 0;
		units[i]->rec.done = false;
		units[i]->dnext = a->unrecorded;
		a->unrecorded = units[i];
	}
	if (!uv_is_active((uv_handle_t *) &a->record_timer))
		uv_timer_start(&a->record_timer, on_record_timer, RECORD_RETRY_MS, 0);
}

/*
 * flush_done - record every unit finished since the last loop iteration
 * in one queue transaction: one fsync for all of them, which is what
 * bounds the delivery rate. Their reports were spooled before, so a crash
 * in between repeats a report and never loses one. When a scan is waiting
 * for its wake-up timer, the due messages are taken in that transaction
 * too, saving the scan its own commit.
 */
static void flush_done(struct delivery_agent *a)
{
	uint64_t ids[DUE_BATCH];
	int64_t	now = sg_now_ms();
	struct queue_take take = {.now_ms = now,.max = DUE_BATCH,.ids = ids };
	bool	taking = !a->stopping && a->nunits < MAX_UNITS
		&& uv_is_active((uv_handle_t *) &a->wake_timer);
	struct queue_record_item *items;
	struct dl_unit **units;
	size_t	n = 0;

	for (struct dl_unit *u = a->done; u; u = u->dnext)
		n++;
	if (n == 0)
		return;
	items = sg_xcalloc(n, sizeof(*items));
	units = sg_xcalloc(n, sizeof(*units));
	n = 0;
	for (struct dl_unit *u = a->done; u; u = u->dnext)
		units[n++] = u;
	a->done = NULL;
	for (size_t i = 0; i < n; i++)
		unit_results(units[i], &items[i]);
	/* each item and the take carry their own result */
	if (queue_record_due(a->q, items, n, taking ? &take : NULL) < 0 && !a->stopping)
		keep_unrecorded(a, units, items, n);
	else
		for (size_t i = 0; i < n; i++)
			unit_recorded(units[i], &items[i]);
	free(units);
	free(items);
	if (!taking)
		return;
	uv_timer_stop(&a->wake_timer);
	a->scan_deferred = false;
	if (take.result < 0)
		sg_warn("event=queue_due_failed error=\"%s\"", sg_strerror(take.result));
	start_due(a, ids, take.n, now);
	if (take.n == DUE_BATCH || take.result < 0)
		scan(a);		/* more are due, or try again alone */
}

static void on_check(uv_check_t *h)
{
	struct delivery_agent *a = h->data;

	uv_check_stop(h);
	flush_done(a);
}

static void unit_complete(struct dl_unit *u)
{
	struct delivery_agent *a = u->a;

	u->dnext = a->done;
	a->done = u;
	if (a->stopping)
		flush_done(a);
	else
		uv_check_start(&a->check, on_check);
}

void	dl_job_done(struct dl_job *j, const char *relay, const char *tls)
{
	struct dl_unit *u = j->u;

	for (size_t i = 0; i < j->msg.nrcpts; i++) {
		const struct delivery_rcpt *r = &j->rcpts[i];
		struct dl_rres *rr = &u->res[j->idx[i]];

		rr->status = r->status == DELIVERY_PENDING ? DELIVERY_TEMP : r->status;
		rr->code = r->code;
		snprintf(rr->enh, sizeof(rr->enh), "%s", *r->enh ? r->enh
			 : rr->status == DELIVERY_OK ? "2.0.0" : rr->status == DELIVERY_TEMP
			 ? "4.0.0" : "5.0.0");
		snprintf(rr->reply, sizeof(rr->reply), "%s", *r->reply ? r->reply
			 : "no result (internal)");
		snprintf(rr->relay, sizeof(rr->relay), "%s", relay);
		snprintf(rr->mta, sizeof(rr->mta), "%.*s", (int) strcspn(relay, "["),
			 strcmp(relay, "none") ? relay : "");
		snprintf(rr->tls, sizeof(rr->tls), "%s", tls);
	}
	free(j->rcpts);
	free(j->idx);
	free(j);
	if (--u->jobs == 0)
		unit_complete(u);
}

/* ------------------------------------------------------- new units */

/*
 * scan_8bit - any byte >= 0x80? A word at a time: it reads every body.
 * Once one is found the rest is not looked at, but the walk goes on to
 * the end, so that the queue checks the whole body against its envelope.
 */
static int scan_8bit(const void *chunk, size_t len, void *arg)
{
	const unsigned char *p = chunk;
	uint64_t acc = 0, w;
	size_t	i = 0;

	if (*(bool *) arg)
		return (0);
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		acc |= w;
	}
	for (; i < len; i++)
		acc |= p[i];
	if ((acc & SG_TOPS) == 0)
		return (0);
	*(bool *) arg = true;
	return (0);
}

static void local_result(struct dl_rres *r, int status, const char *enh, const char *reason)
{
	r->tried = true;
	r->status = status;
	snprintf(r->enh, sizeof(r->enh), "%s", enh);
	snprintf(r->reply, sizeof(r->reply), "%s", reason);
	snprintf(r->relay, sizeof(r->relay), "none");
	snprintf(r->tls, sizeof(r->tls), "none");
}

struct group {
	struct dl_dest *d;
	struct dl_job *j;
};

static struct dl_job *job_new(struct dl_unit *u, struct dl_dest *d, size_t max)
{
	struct dl_job *j = sg_xcalloc(1, sizeof(*j));
	const struct queue_env *e = &u->env;

	/* room for the message's recipients, not max_recipients: a result
	 * slot is over half a KiB, and up to MAX_UNITS messages are in
	 * flight when the queue holds many due (100 slots each made 1 GB) */
	if (max > e->nrcpt && e->nrcpt > 0)
		max = e->nrcpt;
	j->u = u;
	j->d = d;
	j->rcpts = sg_xcalloc(max, sizeof(*j->rcpts));
	j->idx = sg_xcalloc(max, sizeof(*j->idx));
	j->msg.sender = e->sender;
	j->msg.size = (e->flags & QUEUE_F_PROCESSED) ? e->processed_size : e->size;
	j->msg.eightbit = u->eightbit;
	j->msg.ret = e->ret == QUEUE_RET_FULL ? DELIVERY_RET_FULL
		: e->ret == QUEUE_RET_HDRS ? DELIVERY_RET_HDRS : DELIVERY_RET_NONE;
	j->msg.envid = *e->envid ? e->envid : NULL;
	j->msg.rcpts = j->rcpts;
	for (const char *p = e->sender; *p; p++)
		j->msg.smtputf8 |= (*p & 0x80) != 0;
	return (j);
}

/* route_rcpt - the job for recipient i, or NULL with a local result set */

static struct dl_job *route_rcpt(struct dl_unit *u, size_t i, struct group *g, size_t *ng,
				 struct dl_job **jobs, size_t *njobs)
{
	struct delivery_agent *a = u->a;
	const char *addr = u->env.rcpt[i].addr;
	struct sg_addr pa;
	struct delivery_route r;
	struct dl_dest *d;
	size_t	k, max = (size_t) a->conf->max_recipients;

	if (sg_addr_parse(addr, strlen(addr), SG_ADDR_O_UTF8, &pa) < 0
	    || (pa.flags & SG_ADDR_F_LITERAL)) {
		local_result(&u->res[i], DELIVERY_PERM, "5.1.3",
			     "recipient address cannot be routed");
		return (NULL);
	}
	if (delivery_route(a->conf, pa.domain, pa.domain_len, &r) < 0) {
		local_result(&u->res[i], DELIVERY_PERM, "5.1.2", "invalid recipient domain");
		return (NULL);
	}
	if (r.kind == DELIVERY_ROUTE_FAIL) {
		local_result(&u->res[i], DELIVERY_PERM, "5.7.4", r.reason);
		return (NULL);
	}
	d = dest_get(a, &r, pa.domain);
	for (k = 0; k < *ng && g[k].d != d; k++)
		;
	if (k == *ng || g[k].j->msg.nrcpts >= max) {
		if (k == *ng)
			(*ng)++;
		g[k].d = d;
		g[k].j = job_new(u, d, max);
		jobs[(*njobs)++] = g[k].j;
	}
	if (pa.flags & SG_ADDR_F_UTF8)
		g[k].j->msg.smtputf8 = true;
	u->res[i].tried = true;
	return (g[k].j);
}

/* unit_start - put message id in flight; false if it could not be started */

static bool unit_start(struct delivery_agent *a, uint64_t id, int64_t now)
{
	struct dl_unit *u = sg_xcalloc(1, sizeof(*u));
	struct group *g;
	struct dl_job **jobs;
	size_t	ng = 0, njobs = 0;
	int	rc;

	u->a = a;
	u->id = id;
	queue_id_format(id, u->idstr);
	queue_env_init(&u->env);
	if ((rc = queue_get(a->q, id, 0, &u->env)) < 0) {
		sg_warn("id=%s event=get_failed error=\"%s\"", u->idstr, sg_strerror(rc));
		unit_free(u);
		return (false);
	}
	if (u->env.state != QUEUE_READY && u->env.state != QUEUE_DEFERRED) {
		unit_free(u);
		return (false);
	}
	/* also the check of the body: a corrupt one is quarantined, never sent */
	if ((rc = queue_body_foreach(a->q, id, QUEUE_BODY_PROCESSED, scan_8bit, &u->eightbit,
				     NULL)) < 0) {
		sg_warn("id=%s event=get_failed error=\"%s\"", u->idstr, sg_strerror(rc));
		unit_free(u);
		return (false);
	}
	u->res = sg_xcalloc(u->env.nrcpt ? u->env.nrcpt : 1, sizeof(*u->res));
	g = sg_xcalloc(u->env.nrcpt + 1, sizeof(*g));
	jobs = sg_xcalloc(u->env.nrcpt + 1, sizeof(*jobs));
	for (size_t i = 0; i < u->env.nrcpt; i++) {
		const struct queue_rcpt *q = &u->env.rcpt[i];
		struct dl_job *j;

		if (queue_rcpt_final(q->state) || q->next_attempt_ms > now)
			continue;
		if ((j = route_rcpt(u, i, g, &ng, jobs, &njobs)) == NULL)
			continue;
		j->rcpts[j->msg.nrcpts] = (struct delivery_rcpt) {
			.addr = q->addr,.orcpt = *q->orcpt ? q->orcpt : NULL,.notify = q->notify,
		};
		j->idx[j->msg.nrcpts++] = i;
	}
	*slot(a, id) = u;
	a->nunits++;
	u->jobs = (unsigned) njobs + 1;	/* held until every job is queued */
	for (size_t k = 0; k < njobs; k++)
		dest_push(jobs[k]->d, jobs[k]);
	for (size_t k = 0; k < ng; k++)
		dl_dest_dispatch(g[k].d);
	free(g);
	free(jobs);
	if (--u->jobs == 0)
		unit_complete(u);
	return (true);
}

/* --------------------------------------------------------- polling */

/* start_due - put ids in flight; how many were neither in flight nor started */

static size_t start_due(struct delivery_agent *a, const uint64_t *ids, size_t n, int64_t now)
{
	size_t	failed = 0;

	for (size_t i = 0; i < n; i++)
		if (*slot(a, ids[i]) == NULL && !unit_start(a, ids[i], now))
			failed++;
	return (failed);
}

static void scan(struct delivery_agent *a)
{
	uint64_t ids[DUE_BATCH];
	int64_t	now = sg_now_ms();

	for (int round = 0; round < 16 && !a->stopping && a->nunits < MAX_UNITS; round++) {
		size_t	n = 0;
		int	rc = a->nunits < PEEK_UNITS ? queue_due_peek(a->q, now, PEEK_UNITS, ids, &n)
			: SG_EAGAIN;

		/* all in flight now, and no more due: no lease needed */
		if (rc == 0 && n < PEEK_UNITS && start_due(a, ids, n, now) == 0)
			break;
		/* more due, or one that could not start (a lease holds it off
		 * as before), or a key only a take settles: take them */
		if ((rc = queue_due(a->q, now, 0, DUE_BATCH, ids, &n)) < 0) {
			sg_warn("event=queue_due_failed error=\"%s\"", sg_strerror(rc));
			return;
		}
		start_due(a, ids, n, now);
		if (n < DUE_BATCH)
			break;
	}
}

static void on_scan_timer(uv_timer_t *t)
{
	scan(t->data);
}

/*
 * on_wake_timer - scan for the work a wake-up announced. While messages
 * are in flight, the next flush_done() is imminent and takes the due
 * messages in its own transaction, so the scan waits for it, but no
 * longer than SCAN_DEFER_MS.
 */
static void on_wake_timer(uv_timer_t *t)
{
	struct delivery_agent *a = t->data;

	if (a->nunits > 0 && !a->scan_deferred && !a->stopping) {
		a->scan_deferred = true;
		uv_timer_start(&a->wake_timer, on_wake_timer, SCAN_DEFER_MS, 0);
		return;
	}
	a->scan_deferred = false;
	scan(a);
}

/*
 * on_wake - work was queued. With fewer than PEEK_UNITS in flight the
 * scan takes due messages without leasing them (queue_due_peek(): a read
 * transaction; this process keeps them in memory, and its role lock
 * keeps every other delivery process away), so it costs the message no
 * flush on its way to the next hop: scan at once. Beyond that, taking
 * is a write transaction, so the scan waits WAKE_COALESCE_MS: wake-ups
 * that arrive meanwhile (one per message the worker finishes) share it.
 */
static void on_wake(uv_poll_t *p, int status, int events)
{
	struct delivery_agent *a = p->data;

	(void) status;
	(void) events;
	queue_wake_drain(a->wake_fd);
	if (uv_is_active((uv_handle_t *) &a->wake_timer))
		return;
	if (a->nunits < PEEK_UNITS && !a->stopping)
		scan(a);
	else
		uv_timer_start(&a->wake_timer, on_wake_timer, WAKE_COALESCE_MS, 0);
}

/* ------------------------------------------------------ life cycle */

static int read_credentials(struct delivery_agent *a)
{
	FILE   *fp;
	char	line[2][512];

	if (a->conf->smarthost_auth == DELIVERY_AUTH_NONE)
		return (0);
	if ((fp = fopen(a->conf->smarthost_credentials, "r")) == NULL)
		return (SG_EINVAL);
	for (int i = 0; i < 2; i++) {
		if (fgets(line[i], sizeof(line[i]), fp) == NULL)
			line[i][0] = 0;
		line[i][strcspn(line[i], "\r\n")] = 0;
	}
	fclose(fp);
	if (*line[0] == 0 || *line[1] == 0)
		return (SG_EINVAL);
	free(a->auth_user);
	if (a->auth_pass) {
		explicit_bzero(a->auth_pass, strlen(a->auth_pass));
		free(a->auth_pass);
	}
	a->auth_user = sg_xstrdup(line[0]);
	a->auth_pass = sg_xstrdup(line[1]);
	explicit_bzero(line, sizeof(line));
	return (0);
}

/*
 * on_sts_changed - a new MTA-STS policy: nothing made under the old one is
 * reused, and the hosts in hand are judged by the new one at once (a busy
 * destination is not resolved again until idle, and opens connections to
 * them meanwhile)
 */
static void on_sts_changed(void *arg, const char *domain)
{
	struct delivery_agent *a = arg;

	for (struct dl_dest *d = a->dests; d; d = d->next) {
		if (d->route.kind != DELIVERY_ROUTE_MX || strcmp(d->domain, domain) != 0)
			continue;
		d->policy_gen++;	/* busy connections quit when their message is done */
		dl_conn_quit_idle(d);
		sts_judge(d, d->hosts);
		d->hosts_ms = 0;	/* resolved again when idle */
	}
}

static void set_conf(struct delivery_agent *a, const struct delivery_agent_params *p)
{
	a->conf = dl_conf_copy(p->conf, a->arena);
	free(a->hostname);
	free(a->ehlo);
	a->hostname = sg_xstrdup(p->main->hostname);
	a->ehlo = sg_xstrdup(*a->conf->ehlo_name ? a->conf->ehlo_name : p->main->hostname);
}

int	delivery_agent_start(uv_loop_t *loop, const struct delivery_agent_params *p,
			     struct delivery_agent **out)
{
	struct delivery_agent *a = sg_xcalloc(1, sizeof(*a));
	int	rc;

	a->loop = loop;
	a->arena = sg_arena_new();
	a->wake_fd = -1;
	set_conf(a, p);
	if ((rc = read_credentials(a)) < 0
	    || (rc = queue_open(p->main, p->queue, 0, &a->q)) < 0
	    || (rc = dl_resolver_new(loop, a->conf, &a->res)) < 0) {
		delivery_agent_free(a);
		return (rc);
	}
	a->sts = dl_sts_new(loop, a->res, p->main->state_dir, DL_STS_DOMAINS, on_sts_changed, a);
	a->tlsrpt = dl_tlsrpt_new(a, p->main->state_dir);
	if ((rc = certs_open(p->main, p->certs, CERTS_RDONLY | CERTS_PUBLIC, &a->certs)) < 0) {
		a->certs = NULL;
		sg_warn("event=tls_unavailable error=\"%s\" detail=\"no certificate database: "
			"STARTTLS is never tried, required and verify destinations defer\"",
			sg_strerror(rc));
	}
	uv_timer_init(loop, &a->scan_timer);
	a->scan_timer.data = a;
	a->handles++;
	uv_timer_init(loop, &a->wake_timer);
	a->wake_timer.data = a;
	a->handles++;
	uv_check_init(loop, &a->check);
	a->check.data = a;
	a->handles++;
	uv_timer_init(loop, &a->record_timer);
	a->record_timer.data = a;
	a->handles++;
	uv_timer_start(&a->scan_timer, on_scan_timer, 0, (uint64_t) a->conf->scan_interval);
	if (queue_wake_listen(a->q, QUEUE_ROLE_DELIVERY, &a->wake_fd) == 0) {
		uv_poll_init(loop, &a->wake_poll, a->wake_fd);
		a->wake_poll.data = a;
		a->handles++;
		uv_poll_start(&a->wake_poll, UV_READABLE, on_wake);
	}
	*out = a;
	return (0);
}

/* dns_changed - do the resolver's settings differ? */

static bool dns_changed(const struct delivery_conf *o, const struct delivery_conf *n)
{
	if (o->dns_timeout != n->dns_timeout || o->dns_tries != n->dns_tries
	    || o->dns_servers.n != n->dns_servers.n)
		return (true);
	for (size_t i = 0; i < n->dns_servers.n; i++)
		if (strcmp(o->dns_servers.v[i], n->dns_servers.v[i]) != 0)
			return (true);
	return (false);
}

/* reload_dns - new lookups go to the new servers; old ones finish */

static void reload_dns(struct delivery_agent *a, const struct delivery_conf *n)
{
	struct sg_buf servers = SG_BUF_INIT;
	int	rc;

	for (size_t i = 0; i < n->dns_servers.n; i++)
		sg_buf_printf(&servers, "%s%s", i ? "," : "", n->dns_servers.v[i]);
	if ((rc = dl_resolver_reload(a->res, n)) < 0)
		sg_warn("event=dns_reload_failed servers=%s error=\"%s\" action=keep_old",
			servers.len ? servers.data : "system", sg_strerror(rc));
	else
		sg_info("event=dns_reloaded servers=%s timeout_ms=%lld tries=%lld",
			servers.len ? servers.data : "system", (long long) n->dns_timeout,
			(long long) n->dns_tries);
	sg_buf_free(&servers);
}

int	delivery_agent_reload(struct delivery_agent *a, const struct delivery_agent_params *p)
{
	if (dns_changed(a->conf, p->conf))
		reload_dns(a, p->conf);
	/*
	 * Old copies stay in the arena: destinations may still point into
	 * them. Destinations made under the old configuration finish what
	 * they hold; new mail gets new ones, routed by the new rules.
	 */
	set_conf(a, p);
	a->gen++;
	for (struct dl_dest *d = a->dests; d; d = d->next)
		dl_conn_quit_idle(d);
	uv_timer_set_repeat(&a->scan_timer, (uint64_t) a->conf->scan_interval);
	return (read_credentials(a));
}

static void on_handle_closed(uv_handle_t *h)
{
	struct delivery_agent *a = h->data;

	a->handles--;
	maybe_free(a);
}

static void maybe_free(struct delivery_agent *a)
{
	if (a->stopping && a->handles == 0 && a->total == 0 && a->dests == NULL)
		delivery_agent_free(a);
}

void	delivery_agent_stop(struct delivery_agent *a)
{
	struct dl_dest *d, *next;

	a->stopping = true;
	flush_done(a);
	record_again(a);		/* the last try */
	uv_check_stop(&a->check);
	uv_close((uv_handle_t *) &a->check, on_handle_closed);
	uv_timer_stop(&a->record_timer);
	uv_close((uv_handle_t *) &a->record_timer, on_handle_closed);
	uv_timer_stop(&a->scan_timer);
	uv_close((uv_handle_t *) &a->scan_timer, on_handle_closed);
	uv_timer_stop(&a->wake_timer);
	uv_close((uv_handle_t *) &a->wake_timer, on_handle_closed);
	if (a->wake_fd >= 0) {
		uv_poll_stop(&a->wake_poll);
		uv_close((uv_handle_t *) &a->wake_poll, on_handle_closed);
	}
	/* Policy fetches and reports end first: their lookups are the resolver's too. */
	dl_sts_stop(a->sts);
	dl_tlsrpt_stop(a->tlsrpt);
	/* Lookups in progress call back now, failing their jobs locally. */
	dl_resolver_free(a->res);
	a->res = NULL;
	for (d = a->dests; d; d = next) {
		next = d->next;
		dl_dest_fail(d, DELIVERY_TEMP, "4.3.2", "delivery agent shutting down", NULL);
		dl_conn_stop_all(d);
	}
	for (d = a->dests; d; d = next) {
		next = d->next;
		dest_gc(d);
	}
	maybe_free(a);
}

void	delivery_agent_free(struct delivery_agent *a)
{
	if (a == NULL)
		return;
	if (a->wake_fd >= 0)
		close(a->wake_fd);
	dl_sts_stop(a->sts);
	dl_tlsrpt_stop(a->tlsrpt);
	dl_resolver_free(a->res);
	dl_sts_free(a->sts);
	dl_tlsrpt_free(a->tlsrpt);
	if (a->certs)
		certs_close(a->certs);
	queue_close(a->q);
	free(a->hostname);
	free(a->ehlo);
	free(a->auth_user);
	if (a->auth_pass) {
		explicit_bzero(a->auth_pass, strlen(a->auth_pass));
		free(a->auth_pass);
	}
	sg_arena_free(a->arena);
	free(a);
}
