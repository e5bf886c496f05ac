/*
 * NAME
 *	test_certs_tls 1
 * SUMMARY
 *	TLS sessions over memory buffers, against openssl s_server/s_client
 * DESCRIPTION
 *	The group set-up builds the test PKI and an NSS database holding the
 *	"server" and "sni" certificates with their keys and the root CA as
 *	trust anchor, then opens it with certs_open(). Each test drives a
 *	certs_tls session by hand through a non-blocking loopback socket, the
 *	way smtpd and delivery do through libuv: handshakes in TLS 1.3 and
 *	1.2 both ways, 1 MiB in each direction checked byte for byte, SNI,
 *	the client's certificate verdict, back-pressure, a peer that closes
 *	in the middle of the handshake and garbage instead of a handshake.
 *	certs_close() must succeed at the end: every NSS reference freed.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "certs/certs.h"
#include "test_certs_util.h"

#define BIG (1u << 20)

static char *dir;
static struct certs *certs;
static struct certs_tls_server *server;
static struct certs_conf conf;
static struct sg_conf_main mconf;
static char *sni_list[] = {"sni"};

static int group_setup(void **state)
{
	char	db[512];

	(void) state;
	signal(SIGPIPE, SIG_IGN);
	if ((dir = tc_tmpdir("tls")) == NULL || tc_pki_build(dir) != 0 ||
	    tc_db_make(dir, "server sni") != 0)
		return (-1);
	snprintf(db, sizeof(db), "%s/db", dir);
	conf.db_dir = db;
	conf.password_file = "";
	conf.ocsp_responder = "";
	conf.ocsp_responder_cert = "";
	conf.ocsp_timeout = 5000;
	conf.tls_cert = "server";
	conf.tls_sni_certs.n = 1;
	conf.tls_sni_certs.v = sni_list;
	conf.tls_min_version = CERTS_TLS_1_2;
	conf.tls_max_version = CERTS_TLS_1_3;
	conf.tls_session_timeout = 3600000;
	conf.tls_buffer_size = 65536;
	mconf.state_dir = dir;
	if (certs_open(&mconf, &conf, CERTS_RDONLY | CERTS_KEYS, &certs) != 0)
		return (-1);
	return (certs_tls_server_new(certs, &server));
}

static int group_teardown(void **state)
{
	int	rc;

	(void) state;
	certs_tls_server_free(server);
	rc = certs_close(certs);
	tc_rmrf(dir);
	free(dir);
	return (rc);
}

/* A loopback connection driven by hand. */
struct pump {
	struct certs_tls *t;
	int	sock;
	struct sg_buf wire;		/* ciphertext not yet written to sock */
	const unsigned char *send;	/* plaintext to send over TLS */
	size_t	send_len, sent;
	struct sg_buf got;		/* plaintext received over TLS */
	size_t	want_got;
	struct tc_proc *peer;		/* openssl, or NULL */
	const unsigned char *pin;	/* bytes for the peer's stdin */
	size_t	pin_len, pin_sent;
	struct sg_buf pout;		/* the peer's stdout */
	size_t	want_pout;
	bool	eof;
	int	hs_rc;
};

static void pump_flush(struct pump *p)
{
	char	buf[16384];
	size_t	n;

	while ((n = certs_tls_take(p->t, buf, sizeof(buf))) > 0)
		sg_buf_append(&p->wire, buf, n);
	while (p->wire.len > 0) {
		ssize_t	w = write(p->sock, p->wire.data, p->wire.len);

		if (w <= 0)
			break;
		sg_buf_consume(&p->wire, (size_t) w);
	}
}

static void pump_tls(struct pump *p)
{
	char	buf[16384];
	ssize_t	n;

	p->hs_rc = certs_tls_handshake(p->t);
	if (p->hs_rc != 0)
		return;
	while (p->sent < p->send_len &&
	       (n = certs_tls_write(p->t, p->send + p->sent, p->send_len - p->sent)) > 0) {
		p->sent += (size_t) n;
		pump_flush(p);
	}
	while ((n = certs_tls_read(p->t, buf, sizeof(buf))) > 0)
		sg_buf_append(&p->got, buf, (size_t) n);
	if (n == 0)
		p->eof = true;
}

static void pump_sock_in(struct pump *p)
{
	char	buf[65536];
	size_t	room = certs_tls_in_room(p->t);
	ssize_t	n;

	if (room == 0)
		return;
	n = read(p->sock, buf, room < sizeof(buf) ? room : sizeof(buf));
	if (n > 0)
		assert_int_equal(certs_tls_feed(p->t, buf, (size_t) n), n);
	else if (n == 0)
		certs_tls_feed_eof(p->t);
}

static void pump_peer(struct pump *p, const struct pollfd *fds)
{
	char	buf[65536];
	ssize_t	n;

	if (p->peer->in >= 0 && (fds[1].revents & (POLLOUT | POLLERR))) {
		n = write(p->peer->in, p->pin + p->pin_sent, p->pin_len - p->pin_sent);
		if (n > 0)
			p->pin_sent += (size_t) n;
	}
	/*
	 * s_server ends the connection when its stdin ends: close that only
	 * once it has passed on all we sent, or our last bytes die with it.
	 */
	if (p->peer->in >= 0 && p->pin_sent == p->pin_len && p->pout.len >= p->want_pout) {
		close(p->peer->in);
		p->peer->in = -1;
	}
	if (fds[2].revents & (POLLIN | POLLHUP))
		while ((n = read(p->peer->out, buf, sizeof(buf))) > 0)
			sg_buf_append(&p->pout, buf, (size_t) n);
}

static bool pump_done(const struct pump *p)
{
	return (p->got.len >= p->want_got && p->pout.len >= p->want_pout &&
		p->sent == p->send_len && p->wire.len == 0 &&
		certs_tls_handshake_done(p->t));
}

/* pump_run - move bytes until everything expected arrived or 30 s pass */

static void pump_run(struct pump *p)
{
	int64_t	deadline = sg_mono_ms() + 30000;

	while (!pump_done(p) && sg_mono_ms() < deadline) {
		struct pollfd fds[3] = {
			{p->sock, POLLIN | (p->wire.len ? POLLOUT : 0), 0},
			{p->peer && p->peer->in >= 0 && p->pin_sent < p->pin_len ? p->peer->in : -1,
			 POLLOUT, 0},
			{p->peer ? p->peer->out : -1, POLLIN, 0},
		};

		pump_tls(p);
		pump_flush(p);
		if (p->hs_rc != 0 && p->hs_rc != SG_EAGAIN)
			fail_msg("handshake: %s (%s)", sg_strerror(p->hs_rc), certs_tls_error(p->t));
		if (pump_done(p))
			break;
		poll(fds, 3, 200);
		if (fds[0].revents & (POLLIN | POLLHUP | POLLERR))
			pump_sock_in(p);
		if (p->peer)
			pump_peer(p, fds);
	}
	if (!pump_done(p))
		fail_msg("after %lld ms: got %zu/%zu, peer out %zu/%zu, sent %zu/%zu, wire %zu, "
			 "handshake %s, eof %d, hs_rc %d", (long long) (sg_mono_ms() - deadline
			 + 30000), p->got.len, p->want_got, p->pout.len, p->want_pout, p->sent,
			 p->send_len, p->wire.len, certs_tls_handshake_done(p->t) ? "done" : "not done",
			 p->eof, p->hs_rc);
}

static void pump_free(struct pump *p)
{
	certs_tls_free(p->t);
	if (p->sock >= 0)
		close(p->sock);
	sg_buf_free(&p->wire);
	sg_buf_free(&p->got);
	sg_buf_free(&p->pout);
}

static int listen_any(unsigned *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *) &a, sizeof(a)), 0);
	assert_int_equal(listen(s, 4), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *) &a, &len), 0);
	*port = ntohs(a.sin_port);
	return (s);
}

static unsigned free_port(void)
{
	unsigned port;

	close(listen_any(&port));
	return (port);
}

static int connect_retry(unsigned port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < 500; i++) {
		int	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (connect(s, (struct sockaddr *) &a, sizeof(a)) == 0) {
			fcntl(s, F_SETFL, O_NONBLOCK);
			return (s);
		}
		close(s);
		usleep(10000);
	}
	fail_msg("nothing listens on port %u", port);
	return (-1);
}

/* Our client against openssl s_server. */

static void client_vs_s_server(const char *version, const char *name, bool name_ok)
{
	char	port[16], cert[512], key[512], chain[512];
	unsigned p = free_port();
	unsigned char *up = tc_pattern(BIG, 1), *down = tc_pattern(BIG, 2);
	struct tc_proc peer = {0, -1, -1};
	struct pump pu = {.sock = -1};
	struct certs_tls_info info;
	struct certs_tls_peer v;

	snprintf(port, sizeof(port), "%u", p);
	snprintf(cert, sizeof(cert), "%s/pki/server.pem", dir);
	snprintf(key, sizeof(key), "%s/pki/server.key", dir);
	snprintf(chain, sizeof(chain), "%s/pki/inter.pem", dir);
	char   *argv[] = {"openssl", "s_server", "-quiet", "-naccept", "1", "-accept", port,
		"-cert", cert, "-key", key, "-cert_chain", chain, (char *) version, NULL};

	assert_int_equal(tc_spawn(&peer, argv), 0);
	pu.sock = connect_retry(p);
	assert_int_equal(certs_tls_connect(certs, name, NULL, &pu.t), 0);
	pu.peer = &peer;
	pu.send = up;
	pu.send_len = BIG;
	pu.want_pout = BIG;
	pu.pin = down;
	pu.pin_len = BIG;
	pu.want_got = BIG;
	pump_run(&pu);
	assert_memory_equal(pu.pout.data, up, BIG);
	assert_memory_equal(pu.got.data, down, BIG);
	assert_int_equal(certs_tls_info(pu.t, &info), 0);
	assert_string_equal(info.version, strcmp(version, "-tls1_3") == 0 ? "TLSv1.3" : "TLSv1.2");
	assert_true(info.cipher[0] != 0);
	assert_string_equal(info.peer_subject, "CN=server");
	assert_int_equal(certs_tls_peer(pu.t, &v), 0);
	assert_true(v.presented);
	assert_true(v.chain_ok);
	assert_int_equal(v.name_ok, name_ok);
	assert_int_equal(v.reason[0] == 0, name_ok);
	assert_int_equal(certs_tls_close_notify(pu.t), 0);
	pump_flush(&pu);
	pump_free(&pu);
	tc_reap(&peer);
	free(up);
	free(down);
}

static void test_client_tls13(void **state)
{
	(void) state;
	client_vs_s_server("-tls1_3", "localhost", true);
}

static void test_client_tls12(void **state)
{
	(void) state;
	client_vs_s_server("-tls1_2", "localhost", true);
}

static void test_client_wrong_name(void **state)
{
	(void) state;
	client_vs_s_server("-tls1_3", "mx.wrong.test", false);
}

/* Our server against openssl s_client. */

static void server_vs_s_client(const char *version)
{
	char	connect_to[32], ca[512];
	unsigned port;
	int	ls = listen_any(&port);
	unsigned char *up = tc_pattern(BIG, 3), *down = tc_pattern(BIG, 4);
	struct tc_proc peer = {0, -1, -1};
	struct pump pu = {.sock = -1};
	struct certs_tls_info info;

	snprintf(connect_to, sizeof(connect_to), "127.0.0.1:%u", port);
	snprintf(ca, sizeof(ca), "%s/pki/root.pem", dir);
	char   *argv[] = {"openssl", "s_client", "-quiet", "-nocommands", "-connect", connect_to,
		"-servername", "localhost", "-CAfile", ca, "-verify_return_error",
		(char *) version, NULL};

	assert_int_equal(tc_spawn(&peer, argv), 0);
	pu.sock = accept4(ls, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	assert_true(pu.sock >= 0);
	close(ls);
	assert_int_equal(certs_tls_accept(server, NULL, &pu.t), 0);
	pu.peer = &peer;
	pu.pin = up;
	pu.pin_len = BIG;
	pu.want_got = BIG;
	pu.send = down;
	pu.send_len = BIG;
	pu.want_pout = BIG;
	pump_run(&pu);
	assert_memory_equal(pu.got.data, up, BIG);
	assert_memory_equal(pu.pout.data, down, BIG);
	assert_int_equal(certs_tls_info(pu.t, &info), 0);
	assert_string_equal(info.version, strcmp(version, "-tls1_3") == 0 ? "TLSv1.3" : "TLSv1.2");
	assert_string_equal(info.sni, "localhost");
	assert_string_equal(info.peer_subject, "");
	assert_int_equal(certs_tls_close_notify(pu.t), 0);
	pump_flush(&pu);
	pump_free(&pu);
	tc_reap(&peer);
	free(up);
	free(down);
}

static void test_server_tls13(void **state)
{
	(void) state;
	server_vs_s_client("-tls1_3");
}

static void test_server_tls12(void **state)
{
	(void) state;
	server_vs_s_client("-tls1_2");
}

/* In memory: our client and our server, no sockets. */

static void shuttle(struct certs_tls *a, struct certs_tls *b)
{
	char	buf[16384];
	size_t	n, room;

	while ((room = certs_tls_in_room(b)) > 0 &&
	       (n = certs_tls_take(a, buf, room < sizeof(buf) ? room : sizeof(buf))) > 0)
		assert_int_equal(certs_tls_feed(b, buf, n), (ssize_t) n);
}

static int handshake_pair(struct certs_tls *c, struct certs_tls *s)
{
	int	rc1 = SG_EAGAIN, rc2 = SG_EAGAIN;

	for (int i = 0; i < 20 && (rc1 != 0 || rc2 != 0); i++) {
		rc1 = certs_tls_handshake(c);
		shuttle(c, s);
		rc2 = certs_tls_handshake(s);
		shuttle(s, c);
		if ((rc1 < 0 && rc1 != SG_EAGAIN) || (rc2 < 0 && rc2 != SG_EAGAIN))
			return (rc1 < 0 && rc1 != SG_EAGAIN ? rc1 : rc2);
	}
	return (rc1 == 0 && rc2 == 0 ? 0 : SG_EAGAIN);
}

static void test_sni_picks_certificate(void **state)
{
	struct certs_tls *c, *s;
	struct certs_tls_info ci, si;
	struct certs_tls_peer v;

	(void) state;
	assert_int_equal(certs_tls_connect(certs, "sni.test", NULL, &c), 0);
	assert_int_equal(certs_tls_accept(server, NULL, &s), 0);
	assert_int_equal(handshake_pair(c, s), 0);
	assert_int_equal(certs_tls_info(c, &ci), 0);
	assert_int_equal(certs_tls_info(s, &si), 0);
	assert_string_equal(ci.peer_subject, "CN=sni");
	assert_string_equal(si.sni, "sni.test");
	assert_int_equal(certs_tls_peer(c, &v), 0);
	assert_true(v.chain_ok && v.name_ok);
	certs_tls_free(c);
	certs_tls_free(s);
	/* an unknown name gets the default certificate, and the client says so */
	assert_int_equal(certs_tls_connect(certs, "other.test", NULL, &c), 0);
	assert_int_equal(certs_tls_accept(server, NULL, &s), 0);
	assert_int_equal(handshake_pair(c, s), 0);
	assert_int_equal(certs_tls_info(c, &ci), 0);
	assert_string_equal(ci.peer_subject, "CN=server");
	assert_int_equal(certs_tls_peer(c, &v), 0);
	assert_true(v.chain_ok);
	assert_false(v.name_ok);
	assert_true(v.reason[0] != 0);
	certs_tls_free(c);
	certs_tls_free(s);
}

static void test_backpressure(void **state)
{
	struct certs_tls *c, *s;
	unsigned char *data = tc_pattern(BIG, 5);
	size_t	sent = 0, got = 0;
	char	buf[16384];
	ssize_t	n;
	int	stalls = 0;

	(void) state;
	assert_int_equal(certs_tls_connect(certs, "localhost", NULL, &c), 0);
	assert_int_equal(certs_tls_accept(server, NULL, &s), 0);
	assert_int_equal(handshake_pair(c, s), 0);
	/* without taking ciphertext, writes stop near tls_buffer_size */
	while ((n = certs_tls_write(c, data + sent, BIG - sent)) > 0)
		sent += (size_t) n;
	assert_int_equal(n, SG_EAGAIN);
	assert_true(sent >= 60000 && sent <= 65536);
	assert_true(certs_tls_pending(c) <= 65536 + 2 * 17000);
	/* feeding stops when the receiver's inbound buffer is full */
	shuttle(c, s);
	assert_int_equal(certs_tls_in_room(s), 0);
	assert_int_equal(certs_tls_feed(s, "x", 1), 0);
	/* then everything arrives, in order */
	while (got < BIG && stalls < 1000) {
		if (sent < BIG && (n = certs_tls_write(c, data + sent, BIG - sent)) > 0)
			sent += (size_t) n;
		shuttle(c, s);
		while ((n = certs_tls_read(s, buf, sizeof(buf))) > 0) {
			assert_memory_equal(buf, data + got, (size_t) n);
			got += (size_t) n;
		}
		assert_int_equal(n, SG_EAGAIN);
		stalls++;
	}
	assert_int_equal(got, BIG);
	/* close_notify reads as 0 on the other side */
	assert_int_equal(certs_tls_close_notify(c), 0);
	shuttle(c, s);
	assert_int_equal(certs_tls_read(s, buf, sizeof(buf)), 0);
	certs_tls_free(c);
	certs_tls_free(s);
	free(data);
}

static void test_resumption(void **state)
{
	struct certs_tls *c, *s;
	struct certs_tls_info info;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(2525)};
	char	buf[64];

	(void) state;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(certs_tls_connect(certs, "localhost", (struct sockaddr *) &a, &c), 0);
		assert_int_equal(certs_tls_accept(server, (struct sockaddr *) &a, &s), 0);
		assert_int_equal(handshake_pair(c, s), 0);
		/* TLS 1.3 tickets arrive after the handshake: read them */
		assert_int_equal(certs_tls_write(s, "hello", 5), 5);
		shuttle(s, c);
		assert_int_equal(certs_tls_read(c, buf, sizeof(buf)), 5);
		assert_int_equal(certs_tls_info(c, &info), 0);
		assert_int_equal(info.resumed, round == 1);
		certs_tls_free(c);
		certs_tls_free(s);
	}
}

/* Several threads accept on one server object (smtpd runs several loops). */

static void *handshakes(void *arg)
{
	intptr_t fails = 0;

	(void) arg;
	for (int i = 0; i < 12; i++) {
		struct certs_tls *c, *s;
		struct certs_tls_info info;
		bool	sni = i % 2;

		if (certs_tls_connect(certs, sni ? "sni.test" : "localhost", NULL, &c) != 0)
			return ((void *) 1);
		if (certs_tls_accept(server, NULL, &s) != 0) {
			certs_tls_free(c);
			return ((void *) 1);
		}
		if (handshake_pair(c, s) != 0 || certs_tls_info(c, &info) != 0 ||
		    strcmp(info.peer_subject, sni ? "CN=sni" : "CN=server") != 0)
			fails++;
		certs_tls_free(c);
		certs_tls_free(s);
	}
	return ((void *) fails);
}

static void test_threads(void **state)
{
	pthread_t t[4];
	void   *rc;

	(void) state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, handshakes, NULL), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &rc), 0);
		assert_null(rc);
	}
}

/* A peer that goes away, and one that talks nonsense. */

static void test_server_peer_closes_mid_handshake(void **state)
{
	struct certs_tls *c, *s;
	char	hello[4096];
	size_t	n;

	(void) state;
	assert_int_equal(certs_tls_connect(certs, "localhost", NULL, &c), 0);
	assert_int_equal(certs_tls_handshake(c), SG_EAGAIN);
	n = certs_tls_take(c, hello, sizeof(hello));
	assert_true(n > 60);
	assert_int_equal(certs_tls_accept(server, NULL, &s), 0);
	assert_int_equal(certs_tls_feed(s, hello, n / 2), (ssize_t) (n / 2));
	assert_int_equal(certs_tls_handshake(s), SG_EAGAIN);
	certs_tls_feed_eof(s);
	assert_int_equal(certs_tls_handshake(s), SG_ECLOSED);
	assert_true(certs_tls_error(s)[0] != 0);
	/* the error sticks */
	assert_int_equal(certs_tls_read(s, hello, sizeof(hello)), SG_ECLOSED);
	certs_tls_free(s);
	/* the client side: the server vanishes after the ClientHello */
	certs_tls_feed_eof(c);
	assert_int_equal(certs_tls_handshake(c), SG_ECLOSED);
	certs_tls_free(c);
}

static void test_s_client_killed_mid_handshake(void **state)
{
	char	connect_to[32];
	unsigned port;
	int	ls = listen_any(&port);
	struct tc_proc peer = {0, -1, -1};
	struct pump pu = {.sock = -1};
	int	rc = SG_EAGAIN;
	char	buf[4096];

	(void) state;
	snprintf(connect_to, sizeof(connect_to), "127.0.0.1:%u", port);
	char   *argv[] = {"openssl", "s_client", "-quiet", "-connect", connect_to, NULL};

	assert_int_equal(tc_spawn(&peer, argv), 0);
	pu.sock = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	close(ls);
	assert_int_equal(certs_tls_accept(server, NULL, &pu.t), 0);
	/* take its ClientHello, then kill it before answering */
	ssize_t	n = read(pu.sock, buf, sizeof(buf));

	assert_true(n > 0);
	assert_int_equal(certs_tls_feed(pu.t, buf, (size_t) n), n);
	tc_reap(&peer);
	while (rc == SG_EAGAIN) {
		rc = certs_tls_handshake(pu.t);
		pump_flush(&pu);
		if (rc != SG_EAGAIN)
			break;
		if ((n = read(pu.sock, buf, sizeof(buf))) > 0)
			certs_tls_feed(pu.t, buf, (size_t) n);
		else
			certs_tls_feed_eof(pu.t);
	}
	assert_true(rc == SG_ECLOSED || rc == SG_ETLS);
	pump_free(&pu);
}

static void test_garbage(void **state)
{
	static const char junk[] = "EHLO example.com\r\nMAIL FROM:<a@b>\r\n"
		"GET / HTTP/1.0\r\n\r\n";
	struct certs_tls *s, *c;
	char	buf[256];

	(void) state;
	assert_int_equal(certs_tls_accept(server, NULL, &s), 0);
	assert_int_equal(certs_tls_feed(s, junk, sizeof(junk) - 1), (ssize_t) sizeof(junk) - 1);
	assert_int_equal(certs_tls_handshake(s), SG_ETLS);
	assert_true(strlen(certs_tls_error(s)) > 0);
	assert_int_equal(certs_tls_write(s, "x", 1), SG_ETLS);
	certs_tls_free(s);
	/* a client that gets an SMTP greeting instead of a ServerHello */
	assert_int_equal(certs_tls_connect(certs, "localhost", NULL, &c), 0);
	assert_int_equal(certs_tls_handshake(c), SG_EAGAIN);
	while (certs_tls_take(c, buf, sizeof(buf)) > 0)
		continue;
	/* "220 m" parses as a record header of 0x7820 bytes: NSS waits... */
	assert_int_equal(certs_tls_feed(c, "220 mx ESMTP\r\n", 14), 14);
	assert_int_equal(certs_tls_handshake(c), SG_EAGAIN);
	/* ...and fails once that much arrived */
	for (int i = 0; i < 1100; i++)
		assert_int_equal(certs_tls_feed(c, "250-PIPELINING SIZE 8BITMIME\r\n", 30), 30);
	assert_int_equal(certs_tls_handshake(c), SG_ETLS);
	certs_tls_free(c);
	/* and a server that just hangs up is a close, not a hang */
	assert_int_equal(certs_tls_connect(certs, "localhost", NULL, &c), 0);
	assert_int_equal(certs_tls_handshake(c), SG_EAGAIN);
	assert_int_equal(certs_tls_feed(c, "421 bye\r\n", 9), 9);
	certs_tls_feed_eof(c);
	assert_true(certs_tls_handshake(c) == SG_ECLOSED || certs_tls_handshake(c) == SG_ETLS);
	certs_tls_free(c);
}

int	main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_tls13),
		cmocka_unit_test(test_client_tls12),
		cmocka_unit_test(test_client_wrong_name),
		cmocka_unit_test(test_server_tls13),
		cmocka_unit_test(test_server_tls12),
		cmocka_unit_test(test_sni_picks_certificate),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_resumption),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_server_peer_closes_mid_handshake),
		cmocka_unit_test(test_s_client_killed_mid_handshake),
		cmocka_unit_test(test_garbage),
	};

	sg_log_init("test_certs_tls", "test", SG_LOG_STDERR);
	return (cmocka_run_group_tests_name("certs_tls", tests, group_setup, group_teardown));
}
