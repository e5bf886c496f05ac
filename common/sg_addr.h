#ifndef SG_ADDR_H
#define SG_ADDR_H

/*
 * NAME
 *	sg_addr 3h
 * SUMMARY
 *	mail address parsing shared by the relay decision and the router
 * SYNOPSIS
 *	#include "common/sg.h"	(includes this part)
 * DESCRIPTION
 *	Part of common's public interface, kept in its own file because it
 *	has its own owner. One parser decides both whether a recipient is
 *	relaying and where it is routed, so the two can never disagree.
 */

#endif
