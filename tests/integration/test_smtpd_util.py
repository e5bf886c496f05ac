"""Helpers for the smtpd integration tests: a raw SMTP client, a queue reader,
a TLS server certificate in an NSS database, and config writing.

qread is a small C program built once per test process against the tree's
queue library (public API only): `qread CONF` prints one JSON object per
live message; `qread CONF ID` writes that message's original body.
"""
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import queue_tool


QREAD_C = r'''
#include <stdio.h>
#include <string.h>
#include "common/sg.h"
#include "queue/queue.h"

static void jstr(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char c = (unsigned char) *s;
		if (c == '"' || c == '\\') printf("\\%c", c);
		else if (c < 32) printf("\\u%04x", c);
		else putchar(c);
	}
	putchar('"');
}

static int one(const struct queue_env *e, void *arg)
{
	char id[QUEUE_ID_BUFSZ];
	(void) arg;
	printf("{\"id\":\"%s\",\"state\":\"%s\",\"size\":%llu,\"direction\":%d,\"ret\":%d,",
	       queue_id_format(e->id, id), queue_state_name(e->state),
	       (unsigned long long) e->size, (int) e->direction, (int) e->ret);
	printf("\"sender\":"); jstr(e->sender);
	printf(",\"envid\":"); jstr(e->envid);
	printf(",\"listener\":"); jstr(e->listener);
	printf(",\"client\":"); jstr(e->client_addr);
	printf(",\"helo\":"); jstr(e->helo);
	printf(",\"tls_version\":"); jstr(e->tls_version);
	printf(",\"tls_cipher\":"); jstr(e->tls_cipher);
	printf(",\"rcpts\":[");
	for (size_t i = 0; i < e->nrcpt; i++) {
		printf("%s{\"addr\":", i ? "," : "");
		jstr(e->rcpt[i].addr);
		printf(",\"orcpt\":"); jstr(e->rcpt[i].orcpt);
		printf(",\"notify\":%u}", e->rcpt[i].notify);
	}
	printf("]}\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct sg_conf_main m;
	struct queue_conf qc;
	struct queue *q;
	uint64_t cursor = 0, id;
	char buf[65536];
	size_t got;
	int err;

	if (argc < 2)
		return 2;
	memset(&m, 0, sizeof(m));
	memset(&qc, 0, sizeof(qc));
	m.state_dir = argv[1];
	m.hostname = "localhost";
	qc.map_size_max = 1ull << 32;
	qc.lease_ms = 300000;
	qc.chunk_size = 65536;
	qc.commit_batch = 64;
	qc.max_readers = 126;
	qc.track_keep_ms = 86400000;
	if ((err = queue_open(&m, &qc, QUEUE_RDONLY, &q)) < 0) {
		fprintf(stderr, "queue_open: %s\n", sg_strerror(err));
		return 1;
	}
	if (argc == 2) {
		err = queue_scan(q, 0, &cursor, 0, one, NULL);
	} else {
		if (queue_id_parse(argv[2], strlen(argv[2]), &id) < 0)
			return 2;
		for (uint64_t off = 0;; off += got) {
			if ((err = queue_body_read(q, id, QUEUE_BODY_ORIGINAL, off, buf,
						   sizeof(buf), &got)) < 0 || got == 0)
				break;
			fwrite(buf, 1, got, stdout);
		}
	}
	queue_close(q);
	if (err < 0) {
		fprintf(stderr, "qread: %s\n", sg_strerror(err));
		return 1;
	}
	return 0;
}
'''


def qread_exe():
    """Build qread once per test process; returns its path."""
    return queue_tool.build("qread", QREAD_C)


def _qenv():
    return dict(os.environ, ASAN_OPTIONS="detect_leaks=0")


def queue_list(env):
    """Every live message as a dict (id, sender, rcpts, ...)."""
    if not (Path(env.state_dir) / "queue").exists():
        return []
    r = subprocess.run([qread_exe(), str(env.state_dir)], capture_output=True, text=True,
                       timeout=60, env=_qenv())
    if r.returncode != 0:
        raise AssertionError("qread failed: " + r.stderr)
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def queue_body(env, qid):
    r = subprocess.run([qread_exe(), str(env.state_dir), qid], capture_output=True,
                       timeout=60, env=_qenv())
    if r.returncode != 0:
        raise AssertionError("qread failed: " + r.stderr.decode())
    return r.stdout


# ------------------------------------------------------------ config

def smtpd_config(env, smtpd="", top="", listeners=None, certs="", domains='"own.test"'):
    """own.test is ours; one plain listener on env.smtp_port unless given."""
    if listeners is None:
        listeners = f'( {{ address = "127.0.0.1:{env.smtp_port}"; }} )'
    body = f'own_domains = [ {domains} ];\n{top}\n'
    body += f"smtpd = {{ listeners = {listeners};\n{smtpd}\n}};\n"
    if certs:
        body += f"certs = {{ {certs} }};\n"
    Path(env.state_dir).mkdir(parents=True, exist_ok=True)   # the master's job
    return env.write_config(body)


def tls_setup(env):
    """A self-signed server certificate "smtpd" in an NSS database; returns the
    certs section text naming it."""
    d = Path(env.dir) / "tls"
    db = d / "nssdb"
    db.mkdir(parents=True, exist_ok=True)
    key, crt, p12 = d / "key.pem", d / "crt.pem", d / "srv.p12"
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "2", "-subj",
        "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")
    run("openssl", "pkcs12", "-export", "-inkey", str(key), "-in", str(crt), "-name", "smtpd",
        "-out", str(p12), "-passout", "pass:pw")
    run("certutil", "-N", "-d", f"sql:{db}", "--empty-password")
    run("pk12util", "-i", str(p12), "-d", f"sql:{db}", "-W", "pw")
    return f'db_dir = "{db}"; tls_cert = "smtpd";'


# ------------------------------------------------------------ raw client

class Raw:
    """A line-level SMTP client that can break every rule on purpose."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; buffered %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        """One whole reply: (code, [text lines])."""
        lines = []
        while True:
            line = self._line()
            lines.append(line[4:])
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), lines

    def cmd(self, line):
        self.send(line.encode() + b"\r\n" if isinstance(line, str) else line)
        return self.reply()

    def greet(self):
        code, _ = self.reply()
        assert code == 220
        return self

    def ehlo(self, name="client.test"):
        code, lines = self.cmd(f"EHLO {name}")
        assert code == 250, lines
        return lines

    def closed(self, timeout=5.0):
        """True when the server closed the connection (EOF) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


def send_message(port, sender="a@x.test", rcpts=("u@own.test",), body=b"Subject: t\r\n\r\nhi\r\n"):
    """One transaction over a raw connection; returns the final reply."""
    c = Raw(port).greet()
    c.ehlo()
    assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
    for r in rcpts:
        assert c.cmd(f"RCPT TO:<{r}>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    res = c.cmd(body + b".\r\n")
    c.cmd("QUIT")
    c.close()
    return res


def timed(fn):
    t = time.monotonic()
    v = fn()
    return v, time.monotonic() - t
