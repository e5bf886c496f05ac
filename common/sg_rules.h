#ifndef SG_RULES_H
#define SG_RULES_H

/*
 * NAME
 *	sg_rules 3h
 * SUMMARY
 *	the crypto rules: configuration and the pure classification function
 * SYNOPSIS
 *	#include "common/sg.h"	(includes this part)
 * DESCRIPTION
 *	Part of common's public interface, kept in its own file because it
 *	has its own owner. smtpd (strict single rule) and the worker classify
 *	recipients with the same function.
 */

#endif
