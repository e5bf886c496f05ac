/*
 * NAME
 *	worker_conf 3
 * SUMMARY
 *	the worker section of the configuration
 * SYNOPSIS
 *	#include "worker/worker.h"
 *
 *	extern const struct sg_conf_row worker_conf_rows[];
 * DESCRIPTION
 *	The rules list uses the element table of common/rules.c, so smtpd
 *	and the worker read the very same rules. Profiles (the algorithms
 *	for a partner, profile.c) are checked here: unique names, valid
 *	recipient patterns, and every rule's profile key naming one. Without a rules list every
 *	message passes unchanged. A reload hands the pool a new snapshot of
 *	every key (SG_CONF_F_LIVE) but threads: the pool is made at start.
 *	A rule with scan = true needs scan.clamd; the scan section is
 *	loaded first, into worker_conf.scan, so this check sees it.
 */

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "worker.h"

#define Q(s) "\"" s "\""
#define OFF(f) offsetof(struct worker_conf, f)
#define POFF(f) offsetof(struct worker_profile, f)

const char *const worker_sigalg_names[] = { "pkcs1", "pss", NULL };
const char *const worker_digest_names[] = { "sha256", "sha384", "sha512", NULL };
const char *const worker_content_names[] = { "aes-128-cbc", "aes-256-cbc", "aes-128-gcm",
	"aes-256-gcm", NULL };
const char *const worker_kt_names[] = { "rsa-pkcs1", "oaep-sha1", "oaep-sha256", NULL };

static const struct sg_conf_row profile_rows[] = {
	{.name = "name",.type = SG_CONF_STRING,.offset = POFF(name),.flags = SG_CONF_F_REQUIRED},
	{.name = "signature",.type = SG_CONF_ENUM,.offset = POFF(signature),.def = Q("pkcs1"),
	.choices = worker_sigalg_names},
	{.name = "digest",.type = SG_CONF_ENUM,.offset = POFF(digest),.def = Q("sha256"),
	.choices = worker_digest_names},
	{.name = "content",.type = SG_CONF_ENUM,.offset = POFF(content),.def = Q("aes-256-cbc"),
	.choices = worker_content_names},
	{.name = "key_transport",.type = SG_CONF_ENUM,.offset = POFF(key_transport),
	.def = Q("rsa-pkcs1"),.choices = worker_kt_names},
	{.name = "upgrade",.type = SG_CONF_BOOL,.offset = POFF(upgrade),.def = "true"},
	{.name = "recipients",.type = SG_CONF_STRLIST,.offset = POFF(recipients),.def = "[ ]"},
	SG_CONF_END
};

/* check_profiles - names unique and sane, patterns valid, rules name profiles */

static int check_profiles(struct sg_conf_ctx *ctx, const config_setting_t *g, void *base)
{
	struct worker_conf *w = base;
	const struct worker_profile *p = w->profiles.v;
	const struct sg_rule *r = w->rules.v;
	const config_setting_t *list = g ? config_setting_get_member(g, "profiles") : NULL;
	int	bad = 0;

	for (size_t i = 0; i < w->profiles.n; i++) {
		const config_setting_t *e = list ? config_setting_get_elem(list, (unsigned) i) : NULL;
		size_t	n = strlen(p[i].name);

		if (n == 0 || n >= 64 || strspn(p[i].name, "abcdefghijklmnopqrstuvwxyz"
						 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != n) {
			sg_conf_error(ctx, e, "profiles: name \"%s\": 1 to 63 letters, digits, "
				      "'-', '_' or '.'", p[i].name);
			bad++;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(p[i].name, p[j].name) == 0) {
				sg_conf_error(ctx, e, "profiles: \"%s\" twice", p[i].name);
				bad++;
			}
		for (size_t k = 0; k < p[i].recipients.n; k++) {
			char   *pat = p[i].recipients.v[k];

			if (!sg_rule_pattern_valid(pat)) {
				sg_conf_error(ctx, e, "profile \"%s\": invalid address pattern \"%s\" "
					      "(want user@domain, @domain or *.domain)", p[i].name, pat);
				bad++;
			}
			for (char *c = pat; *c; c++)
				*c = (char) tolower((unsigned char) *c);
		}
	}
	for (size_t i = 0; i < w->rules.n; i++) {
		size_t	k = 0;

		if (*r[i].profile == 0 || strcmp(r[i].profile, "default") == 0)
			continue;
		while (k < w->profiles.n && strcmp(p[k].name, r[i].profile) != 0)
			k++;
		if (k == w->profiles.n) {
			sg_conf_error(ctx, g ? config_setting_get_member(g, "rules") : NULL,
				      "rule \"%s\": no profile \"%s\" in profiles", r[i].name,
				      r[i].profile);
			bad++;
		}
	}
	return (bad ? SG_EINVAL : 0);
}

/* check_header - the result header name must be a header field name */

static int check_header(struct sg_conf_ctx *ctx, const config_setting_t *g, void *base)
{
	struct worker_conf *w = base;

	if (!worker_field_name(w->result_header)) {
		sg_conf_error(ctx, g ? config_setting_get_member(g, "result_header") : NULL,
			      "result_header: not a header field name \"%s\"", w->result_header);
		return (SG_EINVAL);
	}
	if (*w->notify && !sg_rule_pattern_valid(w->notify)) {
		sg_conf_error(ctx, g ? config_setting_get_member(g, "notify") : NULL,
			      "notify: not a mail address \"%s\"", w->notify);
		return (SG_EINVAL);
	}
	return (0);
}

/*
 * check_scan_rules - a rule that scans needs a clamd (the scan section is
 * loaded before this one), and the scan's header cannot be the result
 * header; without a default header a unit test's own section list has none
 */
static int check_scan_rules(struct sg_conf_ctx *ctx, const config_setting_t *g, void *base)
{
	struct worker_conf *w = base;
	const struct sg_rule *r = w->rules.v;
	int	bad = 0;

	for (size_t i = 0; i < w->rules.n; i++)
		if (r[i].scan && (w->scan.clamd == NULL || *w->scan.clamd == 0)) {
			sg_conf_error(ctx, g ? config_setting_get_member(g, "rules") : NULL,
				      "rule \"%s\": scan = true needs scan.clamd (where clamd "
				      "listens)", r[i].name);
			bad++;
		}
	/* each stamp first removes every field of its name a sender wrote */
	if (w->scan.header && w->result_header && strcasecmp(w->scan.header, w->result_header) == 0) {
		sg_conf_error(ctx, g ? config_setting_get_member(g, "result_header") : NULL,
			      "result_header: \"%s\" is also scan.header: the scan's verdict "
			      "would remove the signature's, or the other way round", w->result_header);
		bad++;
	}
	return (bad ? SG_EINVAL : 0);
}

const struct sg_conf_row worker_conf_rows[] = {
	{.name = "threads",.type = SG_CONF_INT,.offset = OFF(threads),.def = "0",
	.min = 0,.max = 256},
	{.name = "batch",.type = SG_CONF_INT,.offset = OFF(batch),.def = "16",
	.min = 1,.max = 1024,.flags = SG_CONF_F_LIVE},
	{.name = "rules",.type = SG_CONF_GROUPLIST,.offset = OFF(rules),.def = "( )",
	.elem_rows = sg_rule_rows,.elem_size = sizeof(struct sg_rule),
	.flags = SG_CONF_F_LIVE},
	{.name = "profiles",.type = SG_CONF_GROUPLIST,.offset = OFF(profiles),.def = "( )",
	.elem_rows = profile_rows,.elem_size = sizeof(struct worker_profile),
	.flags = SG_CONF_F_LIVE,.check = check_profiles},
	{.name = "result_header",.type = SG_CONF_STRING,.offset = OFF(result_header),
	.def = Q("X-Sealgate-Signature"),.flags = SG_CONF_F_LIVE},
	{.name = "notify",.type = SG_CONF_STRING,.offset = OFF(notify),.def = Q(""),
	.flags = SG_CONF_F_LIVE},
	{.name = "notify_max_per_hour",.type = SG_CONF_INT,.offset = OFF(notify_max_per_hour),
	.def = "60",.min = 0,.max = 100000,.check = check_header,.flags = SG_CONF_F_LIVE},
	{.name = "housekeeping",.type = SG_CONF_DURATION,.offset = OFF(housekeeping_ms),
	.def = Q("1m"),.min = 100,.max = 86400000,.flags = SG_CONF_F_LIVE,
	.check = check_scan_rules},
	SG_CONF_END
};
