/*
 * NAME
 *	delivery_conf 3
 * SUMMARY
 *	the delivery section of the configuration
 * SYNOPSIS
 *	#include "delivery/delivery.h"
 *
 *	extern const struct sg_conf_row delivery_conf_rows[];
 */

#include "delivery.h"

#define OFF(f) offsetof(struct delivery_conf, f)

const struct sg_conf_row delivery_conf_rows[] = {
	{.name = "smtp_port",.type = SG_CONF_INT,.offset = OFF(smtp_port),.def = "25",
	.min = 1,.max = 65535},
	{.name = "max_connections",.type = SG_CONF_INT,.offset = OFF(max_connections),
	.def = "100",.min = 1,.max = 100000},
	SG_CONF_END
};
