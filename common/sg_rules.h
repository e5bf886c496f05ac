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
 *
 *	The rules are an ordered list, first match wins. A rule matches on
 *	direction, the listener a message came in on, the sender and the
 *	recipient. Address patterns are "user@example.com" (exact),
 *	"@example.com" (any address in that domain) or "*.example.com" (any
 *	address in a subdomain of it, not in the domain itself); matching is
 *	case-insensitive. An empty pattern list matches every address, the
 *	null sender included; "<>" matches the null sender only.
 */

/* Direction of a message, decided by smtpd from own_servers/own_domains. */
enum sg_rule_dir {
	SG_RULE_DIR_ANY,		/* rule: either; message: unknown (only
					 * rules for any direction match it) */
	SG_RULE_DIR_INBOUND,
	SG_RULE_DIR_OUTBOUND,
};

enum sg_rule_sign {
	SG_RULE_SIGN_OFF,
	SG_RULE_SIGN_IF_POSSIBLE,
	SG_RULE_SIGN_REQUIRED,
};

enum sg_rule_signature {
	SG_RULE_SIG_DETACHED,		/* multipart/signed */
	SG_RULE_SIG_OPAQUE,		/* application/pkcs7-mime signed-data */
};

enum sg_rule_encrypt {
	SG_RULE_ENC_OFF,
	SG_RULE_ENC_IF_POSSIBLE,
	SG_RULE_ENC_MANDATORY,		/* all recipients or nobody */
};

/* What a failed step does to the message. */
enum sg_rule_fail {
	SG_RULE_FAIL_REJECT,		/* bounce to the sender with the reason */
	SG_RULE_FAIL_HOLD,		/* crypto incident; the message stays held */
	SG_RULE_FAIL_PASS,		/* deliver as it is (incident still logged) */
};

/*
 * What a scan that could not be done (clamd unreachable, too slow, an
 * error reply) does to the message; on_virus takes enum sg_rule_fail,
 * whose "pass" is spelt "pass-tagged" there (the result header says so).
 */
enum sg_rule_scan_fail {
	SG_RULE_SCAN_DEFER,		/* left in the inbox, scanned again later */
	SG_RULE_SCAN_HOLD,		/* an incident; the message stays held */
	SG_RULE_SCAN_PASS,		/* delivered with "unscanned" in the header */
};

struct sg_rule {
	char   *name;			/* for logs and incidents; default "rule-N" */
	int	direction;		/* enum sg_rule_dir */
	char   *listener;		/* smtpd listener name; "": any */
	struct sg_strlist senders;	/* patterns; empty: any */
	struct sg_strlist recipients;	/* patterns; empty: any */
	int	sign;			/* enum sg_rule_sign */
	int	signature;		/* enum sg_rule_signature */
	int	encrypt;		/* enum sg_rule_encrypt */
	bool	encrypt_to_self;	/* add the gateway's own certificate */
	bool	decrypt;
	bool	verify;
	bool	harvest;		/* keep valid signers' certificates */
	bool	strip_client_signature;
	char   *profile;		/* worker.profiles name: algorithms and
					 * their minimum; "": default */
	int	on_sign_failure;	/* enum sg_rule_fail, each */
	int	on_encrypt_failure;
	int	on_decrypt_failure;
	int	on_verify_failure;
	bool	scan;			/* clamd scan after decrypt and verify */
	int	on_virus;		/* enum sg_rule_fail */
	int	on_scan_failure;	/* enum sg_rule_scan_fail */
};

/* Row table of one element of a "rules = ( { ... }, ... );" list. */
extern const struct sg_conf_row sg_rule_rows[];

extern const char *const sg_rule_dir_names[];
extern const char *const sg_rule_sign_names[];
extern const char *const sg_rule_signature_names[];
extern const char *const sg_rule_encrypt_names[];
extern const char *const sg_rule_fail_names[];
extern const char *const sg_rule_virus_names[];
extern const char *const sg_rule_scan_fail_names[];

/*
 * sg_rule_pattern_valid() tells whether pattern (NUL-terminated, as the
 * configuration holds it) is one of the forms above.
 */
bool	sg_rule_pattern_valid(const char *pattern);

/*
 * sg_rule_pattern_match() matches one address (explicit length, no angle
 * brackets; length 0 is the null sender) against one pattern.
 */
bool	sg_rule_pattern_match(const char *pattern, const char *addr, size_t len);

/*
 * sg_rules_classify() returns the index of the first rule in rules (an
 * array of struct sg_rule) matching the message's direction, listener
 * name (NULL or "": none), sender and one recipient, or -1 if none does
 * (the message then passes unchanged). Pure: no state, no allocation,
 * safe from any thread.
 */
int	sg_rules_classify(const struct sg_conf_array *rules, enum sg_rule_dir dir,
			  const char *listener, const char *sender, size_t senderlen,
			  const char *rcpt, size_t rcptlen);

/*
 * sg_rules_pass() tells whether a whole message would pass the worker
 * unchanged: every recipient falls under the same rule, and that rule
 * has no action (or no rule matches). It returns that rule's name ("" for
 * none), or NULL when the worker has work to do. smtpd uses it to spool
 * such mail straight for delivery. Pure, like sg_rules_classify().
 */
const char *sg_rules_pass(const struct sg_conf_array *rules, enum sg_rule_dir dir,
			  const char *listener, const char *sender,
			  const char *const *rcpts, size_t nrcpts);

#endif
