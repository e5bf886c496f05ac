/*
 * NAME
 *	notice 3
 * SUMMARY
 *	crypto incidents, their notification mails, and rejection notices
 * SYNOPSIS
 *	#include "worker/worker_int.h"
 *
 *	struct worker_notify *worker__notify_new(void)
 *
 *	void	worker__incident(thread, snap, failure)
 *
 *	void	worker__bounce(thread, snap, env, failure, original)
 * DESCRIPTION
 *	worker__incident() records a crypto failure in the queue (time,
 *	message id, sender, recipient, rule, kind, text), where failures of
 *	one cause are counted in one open incident, and, when the failure
 *	opened a new incident and the configuration names a notify address,
 *	spools a short mail to it, at most notify_max_per_hour an hour for
 *	the whole process (a storm of failures must not become a storm of
 *	mail).
 *
 *	worker__bounce() tells the sender, in an RFC 3464 report (status
 *	5.7.1, the reason as an X-Sealgate diagnostic), that a message was
 *	rejected by a rule and that no copy reached anyone. It returns the
 *	header of the original as received, never its body, whatever RET
 *	asked for: by then the body may have been decrypted, and the sender
 *	address may be forged. Neither mail goes back through the worker:
 *	both are spooled straight to delivery, from the null sender, so
 *	they can never loop.
 * DIAGNOSTICS
 *	Failures to record or spool are logged; the message at hand is
 *	handled the same either way.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "worker_int.h"

struct worker_notify {
	pthread_mutex_t mu;
	int64_t	window;			/* start of the current hour */
	int64_t	sent;
};

struct worker_notify *worker__notify_new(void)
{
	struct worker_notify *n = sg_xcalloc(1, sizeof(*n));

	pthread_mutex_init(&n->mu, NULL);
	return (n);
}

void	worker__notify_free(struct worker_notify *n)
{
	if (n == NULL)
		return;
	pthread_mutex_destroy(&n->mu);
	free(n);
}

/* notify_allowed - one more notification this hour? */

static bool notify_allowed(struct worker_notify *n, int64_t max)
{
	int64_t	now = sg_mono_ms();
	bool	ok;

	if (n == NULL)
		return (false);
	pthread_mutex_lock(&n->mu);
	if (n->window == 0 || now - n->window >= 3600 * 1000) {
		n->window = now;
		n->sent = 0;
	}
	if ((ok = n->sent < max))
		n->sent++;
	pthread_mutex_unlock(&n->mu);
	return (ok);
}

/* spool_report - a message from the null sender to one address, for delivery */

static int spool_report(struct queue *q, const char *to, const char *subject, uint64_t parent,
			const struct sg_buf *msg)
{
	struct queue_env env;
	struct queue_body_src body = {.fd = -1,.data = msg->data,.len = msg->len };
	uint64_t id;
	int	rc;

	queue_env_init(&env);
	env.state = QUEUE_READY;
	env.sender = "";
	env.flags = QUEUE_F_DSN;
	env.direction = QUEUE_DIR_OUTBOUND;
	env.subject = subject;
	env.parent = parent;
	rc = queue_env_rcpt_add(&env, to) == NULL ? SG_ELIMIT : queue_spool(q, &env, &body, &id);
	queue_env_free(&env);
	return (rc);
}

/* spool_text - a plain-text mail from the null sender to one address */

static int spool_text(struct queue *q, const char *hostname, const char *to,
		      const char *subject, const struct sg_buf *text)
{
	struct sg_buf m = SG_BUF_INIT;
	char	date[64];
	time_t	t = time(NULL);
	struct tm tm;
	int	rc;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	sg_buf_printf(&m, "From: Mail Gateway <MAILER-DAEMON@%s>\r\nTo: <%s>\r\nSubject: %s\r\n"
		      "Date: %s\r\nAuto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n"
		      "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
		      hostname, to, subject, date);
	sg_buf_append(&m, text->data, text->len);
	rc = spool_report(q, to, subject, 0, &m);
	sg_buf_free(&m);
	return (rc);
}

/* describe - the incident as text: printable, one fact a line */

static void describe(struct sg_buf *b, const struct worker_failure *f)
{
	char	id[QUEUE_ID_BUFSZ], esc[600];

	queue_id_format(f->msg_id, id);
	sg_buf_printf(b, "message: %s\r\nkind: %s\r\n", id, f->kind);
	sg_buf_printf(b, "sender: %s\r\n", sg_printable(esc, sizeof(esc), f->sender, strlen(f->sender)));
	sg_buf_printf(b, "recipient: %s\r\n", sg_printable(esc, sizeof(esc), f->rcpt, strlen(f->rcpt)));
	sg_buf_printf(b, "rule: %s\r\n", f->rule);
	sg_buf_printf(b, "reason: %s\r\n", sg_printable(esc, sizeof(esc), f->text, strlen(f->text)));
}

void	worker__incident(struct worker_thread *t, const struct worker_snap *s,
			 const struct worker_failure *f)
{
	struct queue_incident inc = {
		.msg_id = f->msg_id,.kind = f->kind,.sender = f->sender,.rcpt = f->rcpt,
		.rule = f->rule,.text = f->text,
	};
	struct sg_buf text = SG_BUF_INIT;
	char	id[QUEUE_ID_BUFSZ], iids[QUEUE_ID_BUFSZ], esc[300];
	uint64_t iid = 0;
	bool	created = true;
	int	rc;

	if ((rc = queue_incident_add(t->q, &inc, &iid, &created)) < 0)
		sg_error("id=%s event=incident_not_recorded kind=%s error=\"%s\"",
			 queue_id_format(f->msg_id, id), f->kind, sg_strerror(rc));
	sg_warn("id=%s event=crypto_incident incident=%s new=%s kind=%s rule=%s reason=\"%s\"",
		queue_id_format(f->msg_id, id), iid ? queue_id_format(iid, iids) : "-",
		created ? "yes" : "no", f->kind, f->rule,
		sg_printable(esc, sizeof(esc), f->text, strlen(f->text)));
	/* One mail per incident: later failures of the same cause are counted in it. */
	if (!created || *s->conf.notify == 0
	    || !notify_allowed(t->notify, s->conf.notify_max_per_hour))
		return;
	sg_buf_puts(&text, "The mail gateway recorded a crypto incident.\r\n\r\n");
	describe(&text, f);
	sg_buf_printf(&text, "incident: %s\r\n\r\nSee: sealctl incidents show %s\r\n",
		      queue_id_format(iid, id), id);
	if ((rc = spool_text(t->q, s->hostname, s->conf.notify, "Crypto incident", &text)) < 0)
		sg_error("event=notify_failed error=\"%s\"", sg_strerror(rc));
	sg_buf_free(&text);
}

void	worker__bounce(struct worker_thread *t, const struct worker_snap *s,
		       const struct queue_env *env, const struct worker_failure *f,
		       const struct sg_buf *original)
{
	char	id[QUEUE_ID_BUFSZ];
	struct sg_dsn d = {
		.reporting_mta = s->hostname,.queue_id = queue_id_format(env->id, id),
		.sender = env->sender,.envid = *env->envid ? env->envid : NULL,
		.explanation = "A security rule of the mail gateway could not be met, so no copy\r\n"
		"of your message was delivered to anyone.",
		.arrival = env->arrival_ms,.now = sg_now_ms(),.nrcpts = env->nrcpt,
		.original = original->data,.original_len = original->len,.full = false,
	};
	struct sg_dsn_rcpt *r;
	struct sg_buf msg = SG_BUF_INIT;
	int	rc;

	if (*env->sender == 0 || (env->flags & QUEUE_F_DSN) || env->nrcpt == 0)
		return;				/* never answer a bounce */
	r = sg_xcalloc(env->nrcpt, sizeof(*r));
	for (size_t i = 0; i < env->nrcpt; i++)
		r[i] = (struct sg_dsn_rcpt) {
			.addr = env->rcpt[i].addr,.kind = SG_DSN_FAILED,.status = "5.7.1",
			.orcpt = *env->rcpt[i].orcpt ? env->rcpt[i].orcpt : NULL,
			.diagnostic = f->text,.diagnostic_type = "X-Sealgate",
		};
	d.rcpts = r;
	if ((rc = sg_dsn_build(&d, &msg)) == 0)
		rc = spool_report(t->q, env->sender, "Undelivered mail: security rule", env->id, &msg);
	if (rc < 0)
		sg_error("id=%s event=reject_notice_failed error=\"%s\"", id, sg_strerror(rc));
	sg_buf_free(&msg);
	free(r);
}
