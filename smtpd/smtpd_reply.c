/*
 * NAME
 *	smtpd_reply 3
 * SUMMARY
 *	SMTP reply formatting
 * SYNOPSIS
 *	#include "smtpd/smtpd_int.h"
 *
 *	void	smtpd_reply(s, fmt, ...)
 *	bool	smtpd_reply_is_error(line)
 * DESCRIPTION
 *	smtpd_reply() appends one reply line, "CODE X.Y.Z text", and CRLF to
 *	the session's output. Callers put an enhanced status code in every
 *	reply (RFC 2034 asks for it on all replies once advertised, and we
 *	always advertise it). A formatted line is cut at 510 octets and
 *	any CR or LF in it becomes a space, so that text from the client
 *	copied into a reply can never start a reply of its own. Multi-line
 *	replies are consecutive calls with "CODE-" on all but the last.
 *
 *	smtpd_reply_is_error() tells a 4xx or 5xx reply line from others.
 */

#include <stdio.h>
#include <string.h>

#include "smtpd_int.h"

void	smtpd_reply(struct smtpd_session *s, const char *fmt, ...)
{
	char	line[SMTPD_CMD_MAX];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t) n > sizeof(line) - 3)
		n = (int) sizeof(line) - 3;
	for (int i = 0; i < n; i++)
		if (line[i] == '\r' || line[i] == '\n')
			line[i] = ' ';
	line[n++] = '\r';
	line[n++] = '\n';
	sg_buf_append(&s->out, line, (size_t) n);
}

bool	smtpd_reply_is_error(const char *line)
{
	return (line[0] == '4' || line[0] == '5');
}
