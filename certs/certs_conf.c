/*
 * NAME
 *	certs_conf 3
 * SUMMARY
 *	the certs section of the configuration
 * SYNOPSIS
 *	#include "certs/certs.h"
 *
 *	extern const struct sg_conf_row certs_conf_rows[];
 * DESCRIPTION
 *	Database and password, revocation policy (OCSP, CRL fetching),
 *	PKCS#11 modules and the TLS server settings. Cross-key rules
 *	(version range, responder URL and its certificate) are checked
 *	after the section is read. Each role reads these keys when it opens
 *	the database at start: none is SG_CONF_F_LIVE (a reload reports a
 *	change as needing a restart).
 * DIAGNOSTICS
 *	Every error names its key.
 */

#include <string.h>

#include "certs.h"

#define Q(s) "\"" s "\""
#define OFF(f) offsetof(struct certs_conf, f)
#define MOFF(f) offsetof(struct certs_pkcs11_conf, f)

static const char *const policies[] = {"soft-fail", "hard-fail", "off", NULL};
static const char *const versions[] = {"1.2", "1.3", NULL};

static const struct sg_conf_row pkcs11_rows[] = {
	{.name = "name",.type = SG_CONF_STRING,.offset = MOFF(name),
	.flags = SG_CONF_F_REQUIRED},
	{.name = "library",.type = SG_CONF_PATH,.offset = MOFF(library),
	.flags = SG_CONF_F_REQUIRED | SG_CONF_F_EXEC},
	{.name = "token",.type = SG_CONF_STRING,.offset = MOFF(token),
	.flags = SG_CONF_F_REQUIRED},
	{.name = "pin_file",.type = SG_CONF_PATH,.offset = MOFF(pin_file),.def = Q(""),
	.flags = SG_CONF_F_FILE},
	SG_CONF_END
};

/* check_certs - rules that span keys */

static int check_certs(struct sg_conf_ctx *ctx, const config_setting_t *g, void *base)
{
	struct certs_conf *c = base;
	int	bad = 0;

	if (c->tls_min_version > c->tls_max_version) {
		sg_conf_error(ctx, g ? config_setting_get_member(g, "tls_min_version") : NULL,
			      "tls_min_version: above tls_max_version");
		bad++;
	}
	if (*c->ocsp_responder && strncmp(c->ocsp_responder, "http://", 7) != 0) {
		sg_conf_error(ctx, g ? config_setting_get_member(g, "ocsp_responder") : NULL,
			      "ocsp_responder: only http:// URLs are supported");
		bad++;
	}
	if (*c->ocsp_responder && *c->ocsp_responder_cert == 0) {
		sg_conf_error(ctx, g ? config_setting_get_member(g, "ocsp_responder") : NULL,
			      "ocsp_responder: needs ocsp_responder_cert");
		bad++;
	}
	return (bad ? SG_EINVAL : 0);
}

const struct sg_conf_row certs_conf_rows[] = {
	{.name = "db_dir",.type = SG_CONF_PATH,.offset = OFF(db_dir),.def = Q(""),
	.flags = SG_CONF_F_DIR},
	{.name = "tls_db_dir",.type = SG_CONF_PATH,.offset = OFF(tls_db_dir),.def = Q(""),
	.flags = SG_CONF_F_DIR},
	{.name = "password_file",.type = SG_CONF_PATH,.offset = OFF(password_file),
	.def = Q(""),.flags = SG_CONF_F_FILE},
	{.name = "revocation",.type = SG_CONF_ENUM,.offset = OFF(revocation),
	.def = Q("soft-fail"),.choices = policies},
	{.name = "ocsp",.type = SG_CONF_BOOL,.offset = OFF(ocsp),.def = "true"},
	{.name = "ocsp_responder",.type = SG_CONF_STRING,.offset = OFF(ocsp_responder),
	.def = Q("")},
	{.name = "ocsp_responder_cert",.type = SG_CONF_STRING,
	.offset = OFF(ocsp_responder_cert),.def = Q("")},
	{.name = "ocsp_timeout",.type = SG_CONF_DURATION,.offset = OFF(ocsp_timeout),
	.def = Q("10s"),.min = 1000,.max = 300000},
	{.name = "crl_fetch_interval",.type = SG_CONF_DURATION,
	.offset = OFF(crl_fetch_interval),.def = Q("6h"),.min = 0,.max = 7 * 86400000LL},
	{.name = "crl_fetch_timeout",.type = SG_CONF_DURATION,
	.offset = OFF(crl_fetch_timeout),.def = Q("30s"),.min = 1000,.max = 600000},
	{.name = "lookup_cache_ttl",.type = SG_CONF_DURATION,.offset = OFF(lookup_cache_ttl),
	.def = Q("1m"),.min = 0,.max = 3600000},
	{.name = "pkcs11",.type = SG_CONF_GROUPLIST,.offset = OFF(pkcs11),.def = "()",
	.elem_rows = pkcs11_rows,.elem_size = sizeof(struct certs_pkcs11_conf)},
	{.name = "tls_cert",.type = SG_CONF_STRING,.offset = OFF(tls_cert),.def = Q("")},
	{.name = "tls_sni_certs",.type = SG_CONF_STRLIST,.offset = OFF(tls_sni_certs),
	.def = "[]"},
	{.name = "tls_min_version",.type = SG_CONF_ENUM,.offset = OFF(tls_min_version),
	.def = Q("1.2"),.choices = versions},
	{.name = "tls_max_version",.type = SG_CONF_ENUM,.offset = OFF(tls_max_version),
	.def = Q("1.3"),.choices = versions},
	{.name = "tls_session_timeout",.type = SG_CONF_DURATION,
	.offset = OFF(tls_session_timeout),.def = Q("1h"),.min = 1000,.max = 86400000,
	.check = check_certs},
	{.name = "tls_buffer_size",.type = SG_CONF_SIZE,.offset = OFF(tls_buffer_size),
	.def = Q("64K"),.min = 20000,.max = 16 << 20},
	SG_CONF_END
};
