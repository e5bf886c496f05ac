/*
 * NAME
 *	test_status 1
 * SUMMARY
 *	unit tests of cmd/status.c: role reports, master.status, the pidfile lock
 * DESCRIPTION
 *	What a role may say to the master and what it may not; master.status
 *	written and read back with hostile strings in it; files that are
 *	not status files; status_master_pid() with the lock held, not held,
 *	and held by a master that has not written its pid yet.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "cmd/sealgate.h"

/* scratch - a new empty directory (the caller frees the name) */

static char *scratch(void)
{
	char   *dir = sg_xstrdup("/tmp/sealgate-test-status.XXXXXX");

	assert_non_null(mkdtemp(dir));
	return (dir);
}

static void scratch_remove(char *dir, const char *file)
{
	char	path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
	free(dir);
}

#define S(x) x, strlen(x)

static void test_report_parse(void **state)
{
	struct status_msg m;

	(void) state;
	assert_int_equal(status_report_parse(S("ready"), &m), 0);
	assert_int_equal(m.kind, STATUS_MSG_READY);
	assert_int_equal(status_report_parse(S("listener\tmx\t0.0.0.0:25\tbound"), &m), 0);
	assert_int_equal(m.kind, STATUS_MSG_LISTENER);
	assert_string_equal(m.listener.name, "mx");
	assert_string_equal(m.listener.address, "0.0.0.0:25");
	assert_true(m.listener.bound);
	assert_int_equal(status_report_parse(S("listener\tmx\t0.0.0.0:25\tfailed\tin use"), &m), 0);
	assert_false(m.listener.bound);
	assert_string_equal(m.listener.error, "in use");
	/* explicit length: what follows len is not read */
	assert_int_equal(status_report_parse("readyX", 5, &m), 0);
	static const char *const bad[] = {
		"", "ready\t", "ready ", "Ready", "listener", "listener\tmx", "listener\tmx\ta",
		"listener\tmx\ta\tbound\tx", "listener\tmx\ta\tfailed", "listener\tmx\ta\tfailed\t",
		"listener\t\ta\tbound", "listener\tm\x01x\ta\tbound", "listener\tmx\ta\tmaybe",
		"listener\tmx\ta\tfailed\tr\ts", "hello",
	};
	for (size_t i = 0; i < SG_NELEM(bad); i++)
		assert_int_equal(status_report_parse(S(bad[i]), &m), SG_EINVAL);
	/* longer than a line may be */
	char	big[STATUS_LINE_MAX + 2];

	memset(big, 'a', sizeof(big));
	memcpy(big, "listener\t", 9);
	assert_int_equal(status_report_parse(big, sizeof(big), &m), SG_EINVAL);
}

static void test_report_send(void **state)
{
	char	buf[4096];
	int	sv[2];
	ssize_t	n;

	(void) state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	status_report_init(sv[1]);
	status_report_listener("we\tird\nname", "127.0.0.1:25", NULL);
	status_report_listener("b", "[::1]:25", "address\talready in use");
	status_report_ready();		/* and closes sv[1] */
	n = read(sv[0], buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = 0;
	assert_string_equal(buf, "listener\twe?ird?name\t127.0.0.1:25\tbound\n"
			    "listener\tb\t[::1]:25\tfailed\taddress?already in use\nready\n");
	assert_int_equal(read(sv[0], buf, sizeof(buf)), 0);	/* EOF: it was closed */
	close(sv[0]);
	/* without a socket nothing is sent and nothing breaks */
	status_report_listener("a", "b", NULL);
	status_report_ready();
}

static void test_file_round_trip(void **state)
{
	char   *dir = scratch();
	struct status w, r;

	(void) state;
	memset(&w, 0, sizeof(w));
	w.pid = 4242;
	snprintf(w.state, sizeof(w.state), "running");
	w.started_ms = 1796400000000;
	w.ready_ms = 1796400000100;
	snprintf(w.version, sizeof(w.version), "9.9");
	snprintf(w.config, sizeof(w.config), "/etc/with \"quotes\" and \\ and \x01");
	w.nroles = 2;
	snprintf(w.roles[0].name, sizeof(w.roles[0].name), "smtpd");
	w.roles[0].state = STATUS_RUNNING;
	w.roles[0].pid = 7;
	w.roles[0].restarts = 3;
	snprintf(w.roles[1].name, sizeof(w.roles[1].name), "worker");
	w.roles[1].state = STATUS_RESTARTING;
	w.roles[1].failures = 5;
	w.roles[1].exit_ms = 1796400000200;
	w.roles[1].exit_signal = 9;
	w.roles[1].exit_status = -1;
	w.roles[1].restart_at_ms = 1796400001200;
	w.nlisteners = 1;
	snprintf(w.listeners[0].name, sizeof(w.listeners[0].name), "a=b c");
	snprintf(w.listeners[0].address, sizeof(w.listeners[0].address), "[::1]:25");
	snprintf(w.listeners[0].error, sizeof(w.listeners[0].error), "said \"no\"\n");
	assert_int_equal(status_write(dir, &w), 0);
	assert_int_equal(status_read(dir, &r), 0);
	assert_int_equal(r.pid, 4242);
	assert_string_equal(r.state, "running");
	assert_true(r.started_ms == w.started_ms && r.ready_ms == w.ready_ms);
	assert_string_equal(r.config, w.config);
	assert_int_equal(r.nroles, 2);
	assert_string_equal(r.roles[1].name, "worker");
	assert_int_equal(r.roles[1].state, STATUS_RESTARTING);
	assert_int_equal(r.roles[1].failures, 5);
	assert_int_equal(r.roles[1].exit_signal, 9);
	assert_int_equal(r.roles[1].exit_status, -1);
	assert_true(r.roles[1].restart_at_ms == w.roles[1].restart_at_ms);
	assert_int_equal(r.roles[0].restarts, 3);
	assert_int_equal(r.nlisteners, 1);
	assert_string_equal(r.listeners[0].name, "a=b c");
	assert_string_equal(r.listeners[0].error, "said \"no\"\n");
	assert_false(r.listeners[0].bound);

	char	why[96];

	assert_string_equal(status_exit_reason(&r.roles[1], why, sizeof(why)),
			    "killed by signal 9 (KILL)");
	assert_string_equal(status_exit_reason(&r.roles[0], why, sizeof(why)), "none");
	assert_int_equal(status_read("/nonexistent", &r), SG_ENOTFOUND);
	scratch_remove(dir, STATUS_FILE);
}

static void test_parse_rejects(void **state)
{
	struct status st;

	(void) state;
	assert_int_equal(status_parse(S(""), &st), SG_ECORRUPT);
	assert_int_equal(status_parse(S("sealgate-status 2\n"), &st), SG_ECORRUPT);
	assert_int_equal(status_parse(S("sealgate-status 1\nmaster pid=1"), &st), SG_ECORRUPT);
	assert_int_equal(status_parse(S("sealgate-status 1\nmaster pid=\"1\n"), &st), SG_ECORRUPT);
	assert_int_equal(status_parse(S("sealgate-status 1\nmaster pid=1 junk\n"), &st),
			 SG_ECORRUPT);
	assert_int_equal(status_parse(S("sealgate-status 1\nmaster x=\"\\x4\"\n"), &st),
			 SG_ECORRUPT);
	/* a record or key of a later version is skipped */
	assert_int_equal(status_parse(S("sealgate-status 1\nfuture a=1\nmaster pid=3 new=x\n"),
				      &st), 0);
	assert_int_equal(st.pid, 3);
	/* no more roles and listeners than there is room for */
	struct sg_buf b = SG_BUF_INIT;

	sg_buf_puts(&b, "sealgate-status 1\n");
	for (int i = 0; i < 100; i++)
		sg_buf_printf(&b, "role name=r%d\nlistener name=l%d\n", i, i);
	assert_int_equal(status_parse(b.data, b.len, &st), 0);
	assert_int_equal(st.nroles, STATUS_ROLES);
	assert_int_equal(st.nlisteners, STATUS_LISTENERS_MAX);
	sg_buf_free(&b);
}

static void test_master_pid(void **state)
{
	char   *dir = scratch();
	char	path[512];
	struct flock fl = {.l_type = F_WRLCK,.l_whence = SEEK_SET};
	int	fd;

	(void) state;
	snprintf(path, sizeof(path), "%s/sealgated.pid", dir);
	assert_int_equal(status_master_pid(path), 0);		/* no file */
	fd = open(path, O_RDWR | O_CREAT, 0644);
	assert_int_equal(write(fd, "1\n", 2), 2);		/* pid 1 lives; no lock */
	assert_int_equal(status_master_pid(path), 0);
	assert_int_equal(fcntl(fd, F_OFD_SETLK, &fl), 0);
	assert_int_equal(status_master_pid(path), 1);
	assert_int_equal(ftruncate(fd, 0), 0);			/* locked, pid not yet written */
	assert_int_equal(status_master_pid(path), SG_EAGAIN);
	close(fd);						/* the master is gone */
	assert_int_equal(status_master_pid(path), 0);
	scratch_remove(dir, "sealgated.pid");
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_report_parse),
		cmocka_unit_test(test_report_send),
		cmocka_unit_test(test_file_round_trip),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_master_pid),
	};

	sg_log_init("test_status", "test", SG_LOG_STDERR);
	return (cmocka_run_group_tests_name("status", tests, NULL, NULL));
}
