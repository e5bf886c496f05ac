/*
 * NAME
 *	status 3
 * SUMMARY
 *	what the master knows about its roles: told by roles, published to sealctl
 * SYNOPSIS
 *	#include "cmd/sealgate.h"
 *
 *	void	status_report_init(fd)
 *	void	status_report_listener(name, address, error)
 *	void	status_report_ready(void)
 *	int	status_report_parse(line, len, msg)
 *
 *	int	status_write(state_dir, st)
 *	int	status_read(state_dir, st)
 *	int	status_parse(data, len, st)
 *	const char *status_role_state_name(state)
 *	char   *status_exit_reason(role, buf, len)
 *	long	status_master_pid(pidfile)
 * DESCRIPTION
 *	Roles tell the master what only they know, on the socket the master
 *	handed them as descriptor fd (sealgated --role ... --report-fd N):
 *	each listener smtpd bound or could not bind, then "ready". One line
 *	each, fields separated by tabs:
 *
 *		listener NAME ADDRESS bound
 *		listener NAME ADDRESS failed REASON
 *		ready
 *
 *	status_report_init() remembers fd (no report is sent without one: a
 *	role run alone). status_report_listener() sends one listener line
 *	(error NULL: bound). status_report_ready() sends "ready" and closes
 *	the socket: a role says nothing more once it serves, so the root
 *	master only ever reads what a role wrote before it met a client.
 *	Sending never blocks: a line the socket cannot take now is dropped
 *	(the status misses it; mail does not). Tabs, line ends and control
 *	bytes in a field are sent as '?'.
 *
 *	status_report_parse() reads one line (without its newline) as the
 *	master gets it, with an explicit length: 0 and *msg, or SG_EINVAL
 *	for anything that is not exactly one of the lines above.
 *
 *	status_write() publishes st as STATE_DIR/master.status: written to a
 *	temporary file, then renamed over the old one, so a reader sees the
 *	old or the new, never half of one. The form is that of the logs:
 *
 *		sealgate-status 1
 *		master pid=N state=S started=MS ready=MS written=MS version="V" config="F"
 *		role name=R state=S pid=N started=MS ready=MS restarts=N failures=N
 *		     exit_time=MS exit_status=N exit_signal=N exit_asked=0|1 restart_at=MS
 *		listener name="N" address="A" bound=0|1 error="E"
 *
 *	(one line per record; MS: milliseconds since the epoch, 0: never).
 *	Strings are quoted, with \", \\ and \xNN escapes. status_read()
 *	reads such a file; status_parse() parses the len bytes at data with
 *	explicit lengths (at most 256 KiB, 1024 bytes a line,
 *	STATUS_LISTENERS_MAX listeners); unknown keys and records are
 *	skipped, so a newer master's file reads.
 *
 *	status_exit_reason() says in words why a role's last process
 *	ended: "killed by signal 9 (KILL)", "exit status 1", "restart for
 *	a new configuration".
 *
 *	status_master_pid() tells whether a master runs: one does while it
 *	holds the lock on its pidfile (master.c), whatever pid the file
 *	names; a pidfile left behind by a crash or a power cut means nothing.
 * DIAGNOSTICS
 *	status_write(): SG_EIO (errno tells). status_read(): SG_ENOTFOUND
 *	(no file), SG_EIO, SG_ECORRUPT (not a status file, or too large);
 *	status_parse(): SG_ECORRUPT.
 * SECURITY
 *	The master runs as root and smtpd faces the internet: a line from a
 *	role is parsed with an explicit length into fixed-size fields, and
 *	a role's whole say is bounded by the master (master.c).
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sealgate.h"

#define STATUS_FILE_MAX	(256u << 10)

static int report_fd = -1;

static const char *const state_names[] = {
	"starting", "running", "restarting", "stopping",
};

const char *status_role_state_name(int state)
{
	return ((unsigned) state < SG_NELEM(state_names) ? state_names[state] : "unknown");
}

/* ------------------------------------------------------ role -> master */

void	status_report_init(int fd)
{
	report_fd = fd;
}

/* put_field - a tab and the field, with nothing that would end it */

static void put_field(struct sg_buf *b, const char *s)
{
	sg_buf_putc(b, '\t');
	for (size_t i = 0; s[i] && i < 255; i++)
		sg_buf_putc(b, (unsigned char) s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i]);
}

static void report_send(const struct sg_buf *b)
{
	if (report_fd >= 0)
		(void) send(report_fd, b->data, b->len, MSG_DONTWAIT | MSG_NOSIGNAL);
}

void	status_report_listener(const char *name, const char *address, const char *error)
{
	struct sg_buf b = SG_BUF_INIT;

	if (report_fd < 0)
		return;
	sg_buf_puts(&b, "listener");
	put_field(&b, name);
	put_field(&b, address);
	put_field(&b, error ? "failed" : "bound");
	if (error)
		put_field(&b, error);
	sg_buf_putc(&b, '\n');
	report_send(&b);
	sg_buf_free(&b);
}

void	status_report_ready(void)
{
	struct sg_buf b = SG_BUF_INIT;

	if (report_fd < 0)
		return;
	sg_buf_puts(&b, "ready\n");
	report_send(&b);
	sg_buf_free(&b);
	close(report_fd);
	report_fd = -1;
}

/* take_field - the next tab-separated field into out (cut to outlen - 1) */

static bool take_field(const char **p, const char *end, char *out, size_t outlen)
{
	const char *tab = memchr(*p, '\t', (size_t) (end - *p));
	const char *stop = tab ? tab : end;
	size_t	n = (size_t) (stop - *p);

	if (n == 0)
		return (false);
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, *p, n);
	out[n] = 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char) out[i] < 0x20 || out[i] == 0x7f)
			return (false);
	*p = tab ? tab + 1 : end;
	return (true);
}

int	status_report_parse(const char *line, size_t len, struct status_msg *msg)
{
	const char *p = line, *end = line + len;
	char	verb[16], state[8];

	memset(msg, 0, sizeof(*msg));
	/* no field is empty, the last one included */
	if (len == 0 || len > STATUS_LINE_MAX || line[len - 1] == '\t'
	    || !take_field(&p, end, verb, sizeof(verb)))
		return (SG_EINVAL);
	if (strcmp(verb, "ready") == 0 && p == end) {
		msg->kind = STATUS_MSG_READY;
		return (0);
	}
	if (strcmp(verb, "listener") != 0
	    || !take_field(&p, end, msg->listener.name, sizeof(msg->listener.name))
	    || !take_field(&p, end, msg->listener.address, sizeof(msg->listener.address))
	    || !take_field(&p, end, state, sizeof(state)))
		return (SG_EINVAL);
	msg->kind = STATUS_MSG_LISTENER;
	if (strcmp(state, "bound") == 0 && p == end) {
		msg->listener.bound = true;
		return (0);
	}
	if (strcmp(state, "failed") == 0 && p < end
	    && take_field(&p, end, msg->listener.error, sizeof(msg->listener.error)) && p == end)
		return (0);
	return (SG_EINVAL);
}

/* ------------------------------------------------------ the status file */

static void put_str(struct sg_buf *b, const char *key, const char *v)
{
	char	text[512];

	sg_buf_printf(b, " %s=\"%s\"", key, sg_printable(text, sizeof(text), v, strlen(v)));
}

static void put_role(struct sg_buf *b, const struct status_role *r)
{
	sg_buf_printf(b, "role name=%s state=%s pid=%ld started=%lld ready=%lld restarts=%llu "
		      "failures=%llu exit_time=%lld exit_status=%d exit_signal=%d exit_asked=%d "
		      "restart_at=%lld\n", r->name, status_role_state_name(r->state), r->pid,
		      (long long) r->started_ms, (long long) r->ready_ms,
		      (unsigned long long) r->restarts, (unsigned long long) r->failures,
		      (long long) r->exit_ms, r->exit_status, r->exit_signal, r->exit_asked,
		      (long long) r->restart_at_ms);
}

int	status_write(const char *state_dir, const struct status *st)
{
	struct sg_buf b = SG_BUF_INIT;
	char	path[4096], tmp[4096];
	int	fd, err = 0;

	if ((size_t) snprintf(path, sizeof(path), "%s/%s", state_dir, STATUS_FILE) >= sizeof(path)
	    || (size_t) snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return (SG_EIO);
	}
	sg_buf_printf(&b, "sealgate-status 1\nmaster pid=%ld state=%s started=%lld ready=%lld "
		      "written=%lld", st->pid, st->state, (long long) st->started_ms,
		      (long long) st->ready_ms, (long long) st->written_ms);
	put_str(&b, "version", st->version);
	put_str(&b, "config", st->config);
	sg_buf_putc(&b, '\n');
	for (size_t i = 0; i < st->nroles; i++)
		put_role(&b, &st->roles[i]);
	for (size_t i = 0; i < st->nlisteners; i++) {
		const struct status_listener *l = &st->listeners[i];

		sg_buf_puts(&b, "listener");
		put_str(&b, "name", l->name);
		put_str(&b, "address", l->address);
		sg_buf_printf(&b, " bound=%d", l->bound);
		put_str(&b, "error", l->error);
		sg_buf_putc(&b, '\n');
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		sg_buf_free(&b);
		return (SG_EIO);
	}
	if (write(fd, b.data, b.len) != (ssize_t) b.len)
		err = SG_EIO;
	if (close(fd) != 0 || (err == 0 && rename(tmp, path) != 0))
		err = SG_EIO;
	if (err)
		unlink(tmp);
	sg_buf_free(&b);
	return (err);
}

/* A key=value pair of a status line; value unescaped into val. */
struct kv {
	char	key[32];
	char	val[512];
};

static int hexval(int c)
{
	return (c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
		: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1);
}

/* take_quoted - a "..." value with \" \\ \xNN escapes; p is past the quote */

static const char *take_quoted(const char *p, const char *end, char *out, size_t outlen)
{
	size_t	o = 0;

	while (p < end && *p != '"') {
		int	c = (unsigned char) *p++;

		if (c == '\\') {
			if (p >= end)
				return (NULL);
			if (*p == 'x') {
				if (end - p < 3 || hexval(p[1]) < 0 || hexval(p[2]) < 0)
					return (NULL);
				c = hexval(p[1]) * 16 + hexval(p[2]);
				p += 3;
			} else {
				c = (unsigned char) *p++;
			}
		}
		if (o + 1 < outlen)
			out[o++] = (char) c;
	}
	out[o] = 0;
	return (p < end ? p + 1 : NULL);
}

/* take_kv - the next " key=value" of a line, or NULL at its end or on junk */

static const char *take_kv(const char *p, const char *end, struct kv *kv)
{
	const char *eq, *v;
	size_t	n;

	while (p < end && *p == ' ')
		p++;
	if (p >= end || (eq = memchr(p, '=', (size_t) (end - p))) == NULL
	    || (n = (size_t) (eq - p)) == 0 || n >= sizeof(kv->key) || memchr(p, ' ', n))
		return (NULL);
	memcpy(kv->key, p, n);
	kv->key[n] = 0;
	v = eq + 1;
	if (v < end && *v == '"')
		return (take_quoted(v + 1, end, kv->val, sizeof(kv->val)));
	for (n = 0; v + n < end && v[n] != ' '; n++)
		;
	snprintf(kv->val, sizeof(kv->val), "%.*s", (int) n, v);
	return (v + n);
}

/* set_text - a value into a field, cut to fit */

static void set_text(char *dst, size_t len, const char *src)
{
	size_t	n = strnlen(src, len - 1);

	memcpy(dst, src, n);
	dst[n] = 0;
}

static int64_t num(const char *s)
{
	uint64_t v;

	if (*s == '-')
		return (sg_parse_u64(s + 1, strlen(s + 1), &v) == 0 ? -(int64_t) v : 0);
	return (sg_parse_u64(s, strlen(s), &v) == 0 ? (int64_t) v : 0);
}

static void set_master(struct status *st, const struct kv *kv)
{
	if (strcmp(kv->key, "pid") == 0)
		st->pid = (long) num(kv->val);
	else if (strcmp(kv->key, "state") == 0)
		set_text(st->state, sizeof(st->state), kv->val);
	else if (strcmp(kv->key, "started") == 0)
		st->started_ms = num(kv->val);
	else if (strcmp(kv->key, "ready") == 0)
		st->ready_ms = num(kv->val);
	else if (strcmp(kv->key, "written") == 0)
		st->written_ms = num(kv->val);
	else if (strcmp(kv->key, "version") == 0)
		set_text(st->version, sizeof(st->version), kv->val);
	else if (strcmp(kv->key, "config") == 0)
		set_text(st->config, sizeof(st->config), kv->val);
}

static void set_role(struct status_role *r, const struct kv *kv)
{
	static const struct {
		const char *key;
		size_t	off;
	} nums[] = {
		{"started", offsetof(struct status_role, started_ms)},
		{"ready", offsetof(struct status_role, ready_ms)},
		{"exit_time", offsetof(struct status_role, exit_ms)},
		{"restart_at", offsetof(struct status_role, restart_at_ms)},
	};

	for (size_t i = 0; i < SG_NELEM(nums); i++)
		if (strcmp(kv->key, nums[i].key) == 0)
			*(int64_t *) ((char *) r + nums[i].off) = num(kv->val);
	if (strcmp(kv->key, "name") == 0)
		set_text(r->name, sizeof(r->name), kv->val);
	else if (strcmp(kv->key, "pid") == 0)
		r->pid = (long) num(kv->val);
	else if (strcmp(kv->key, "restarts") == 0)
		r->restarts = (uint64_t) num(kv->val);
	else if (strcmp(kv->key, "failures") == 0)
		r->failures = (uint64_t) num(kv->val);
	else if (strcmp(kv->key, "exit_status") == 0)
		r->exit_status = (int) num(kv->val);
	else if (strcmp(kv->key, "exit_signal") == 0)
		r->exit_signal = (int) num(kv->val);
	else if (strcmp(kv->key, "exit_asked") == 0)
		r->exit_asked = num(kv->val) != 0;
	else if (strcmp(kv->key, "state") == 0) {
		r->state = -1;
		for (size_t i = 0; i < SG_NELEM(state_names); i++)
			if (strcmp(kv->val, state_names[i]) == 0)
				r->state = (int) i;
	}
}

static void set_listener(struct status_listener *l, const struct kv *kv)
{
	if (strcmp(kv->key, "name") == 0)
		set_text(l->name, sizeof(l->name), kv->val);
	else if (strcmp(kv->key, "address") == 0)
		set_text(l->address, sizeof(l->address), kv->val);
	else if (strcmp(kv->key, "bound") == 0)
		l->bound = num(kv->val) != 0;
	else if (strcmp(kv->key, "error") == 0)
		set_text(l->error, sizeof(l->error), kv->val);
}

/* read_line - one record of the file into st */

static int read_line(struct status *st, const char *p, const char *end)
{
	const char *sp = memchr(p, ' ', (size_t) (end - p));
	size_t	n = sp ? (size_t) (sp - p) : (size_t) (end - p);
	struct status_role *r = NULL;
	struct status_listener *l = NULL;
	bool	master = false;
	struct kv kv;

	if (n == 4 && memcmp(p, "role", 4) == 0 && st->nroles < STATUS_ROLES)
		r = &st->roles[st->nroles++];
	else if (n == 8 && memcmp(p, "listener", 8) == 0 && st->nlisteners < STATUS_LISTENERS_MAX)
		l = &st->listeners[st->nlisteners++];
	else if (n == 6 && memcmp(p, "master", 6) == 0)
		master = true;
	else
		return (0);		/* a record of a later version */
	for (p += n; p < end; ) {
		if ((p = take_kv(p, end, &kv)) == NULL)
			return (SG_ECORRUPT);
		if (master)
			set_master(st, &kv);
		else if (r)
			set_role(r, &kv);
		else
			set_listener(l, &kv);
	}
	return (0);
}

int	status_parse(const char *data, size_t len, struct status *st)
{
	static const char magic[] = "sealgate-status 1\n";
	int	err = 0;

	memset(st, 0, sizeof(*st));
	if (len > STATUS_FILE_MAX || len < sizeof(magic) - 1
	    || memcmp(data, magic, sizeof(magic) - 1) != 0)
		return (SG_ECORRUPT);
	for (const char *p = data + sizeof(magic) - 1, *end = data + len, *nl;
	     err == 0 && p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t) (end - p))) == NULL || nl - p > STATUS_LINE_MAX)
			return (SG_ECORRUPT);
		err = read_line(st, p, nl);
	}
	return (err);
}

int	status_read(const char *state_dir, struct status *st)
{
	char	path[4096], *data;
	ssize_t	got;
	size_t	len = 0;
	int	fd, err;

	memset(st, 0, sizeof(*st));
	if ((size_t) snprintf(path, sizeof(path), "%s/%s", state_dir, STATUS_FILE) >= sizeof(path))
		return (SG_ENOTFOUND);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return (errno == ENOENT ? SG_ENOTFOUND : SG_EIO);
	data = sg_xmalloc(STATUS_FILE_MAX + 1);
	while (len <= STATUS_FILE_MAX
	       && (got = read(fd, data + len, STATUS_FILE_MAX + 1 - len)) > 0)
		len += (size_t) got;
	close(fd);
	err = status_parse(data, len, st);
	free(data);
	return (err);
}

char   *status_exit_reason(const struct status_role *r, char *buf, size_t len)
{
	const char *abbrev;

	if (r->exit_ms == 0)
		snprintf(buf, len, "none");
	else if (r->exit_asked)
		snprintf(buf, len, "restart for a new configuration");
	else if (r->exit_signal > 0 && (abbrev = sigabbrev_np(r->exit_signal)) != NULL)
		snprintf(buf, len, "killed by signal %d (%s)", r->exit_signal, abbrev);
	else if (r->exit_signal > 0)
		snprintf(buf, len, "killed by signal %d", r->exit_signal);
	else
		snprintf(buf, len, "exit status %d", r->exit_status);
	return (buf);
}

/*
 * status_master_pid - the pid of the master that holds pidfile's lock,
 * 0 when none does (no file, or a stale one), SG_EAGAIN when one holds
 * it but has not written its pid yet, SG_EDENIED or SG_EIO when the file
 * is there but cannot be looked at.
 * The lock is only looked at (F_OFD_GETLK), never taken, so a check never
 * stands in the way of a master that starts at that moment.
 */
long	status_master_pid(const char *pidfile)
{
	struct flock fl = {.l_type = F_RDLCK,.l_whence = SEEK_SET};
	char	text[32];
	ssize_t	n;
	uint64_t pid;
	int	fd;

	if ((fd = open(pidfile, O_RDONLY | O_CLOEXEC)) < 0)
		return (errno == ENOENT ? 0 : errno == EACCES ? SG_EDENIED : SG_EIO);
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0) {
		close(fd);
		return (SG_EIO);
	}
	n = fl.l_type == F_UNLCK ? 0 : read(fd, text, sizeof(text) - 1);
	close(fd);
	if (fl.l_type == F_UNLCK)
		return (0);
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
		n--;
	return (n > 0 && sg_parse_u64(text, (size_t) n, &pid) == 0 && pid > 0 && pid <= INT32_MAX
		? (long) pid : SG_EAGAIN);
}
