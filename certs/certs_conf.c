/*
 * NAME
 *	certs_conf 3
 * SUMMARY
 *	the certs section of the configuration
 * SYNOPSIS
 *	#include "certs/certs.h"
 *
 *	extern const struct sg_conf_row certs_conf_rows[];
 */

#include "certs.h"

#define Q(s) "\"" s "\""
#define OFF(f) offsetof(struct certs_conf, f)

const struct sg_conf_row certs_conf_rows[] = {
	{.name = "db_dir",.type = SG_CONF_PATH,.offset = OFF(db_dir),.def = Q(""),
	.flags = SG_CONF_F_DIR},
	{.name = "password_file",.type = SG_CONF_PATH,.offset = OFF(password_file),
	.def = Q(""),.flags = SG_CONF_F_FILE},
	SG_CONF_END
};
