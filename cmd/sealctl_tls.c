/*
 * NAME
 *	sealctl_tls 3
 * SUMMARY
 *	sealctl tls check: which outbound TLS policy applies to a domain, and why
 * SYNOPSIS
 *	#include "cmd/sealctl.h"
 *
 *	int	sealctl_tls(conf, argc, argv)
 * DESCRIPTION
 *	sealctl tls check DOMAIN prints what delivery_tls_check() finds with
 *	the configuration's delivery section and state directory: the
 *	explicit tls_policies level if any, the DANE mode, the MX hosts and
 *	whether their answer was validated, each host's TLSA records, the
 *	_mta-sts TXT id and the MTA-STS policy in the cache, then for each
 *	MX host the policy that applies (precedence: tls_policies > DANE >
 *	MTA-STS > tls_policy). It looks up DNS as delivery does and waits
 *	for the answers; it never fetches a policy and changes nothing.
 * DIAGNOSTICS
 *	Exit 0; 2 for a usage error or a domain that is not a DNS name.
 */

#include <stdio.h>
#include <string.h>

#include "sealctl.h"

int	sealctl_tls(const struct sealgate_conf *c, int argc, char **argv)
{
	struct sg_buf out = SG_BUF_INIT;
	char	d[256];
	size_t	n;

	if (argc != 3 || strcmp(argv[1], "check") != 0 || (n = strlen(argv[2])) == 0
	    || n >= sizeof(d)) {
		sealctl_usage(stderr, "tls");
		return (SEALCTL_USAGE);
	}
	/* Names are compared in lower case everywhere in delivery. */
	for (size_t i = 0; i <= n; i++)
		d[i] = (char) (argv[2][i] >= 'A' && argv[2][i] <= 'Z' ? argv[2][i] + 32
			       : argv[2][i]);
	if (n > 1 && d[n - 1] == '.')
		d[n - 1] = 0;
	if (delivery_tls_check(&c->delivery, c->main.state_dir, d, &out) < 0) {
		fprintf(stderr, "sealctl: tls check: \"%s\" is not a domain name\n", d);
		return (SEALCTL_USAGE);
	}
	fwrite(out.data, 1, out.len, stdout);
	sg_buf_free(&out);
	return (SEALCTL_OK);
}
