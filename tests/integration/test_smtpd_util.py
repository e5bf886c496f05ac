"""Helpers for the smtpd integration tests: a raw SMTP client, a queue reader
(sealctl queue list/show/cat), a TLS server certificate in an NSS database,
and config writing.
"""
import json
import os
import socket
import subprocess
import time
from pathlib import Path


DIRECTIONS = {"unknown": 0, "inbound": 1, "outbound": 2}
RETS = {"": 0, "FULL": 1, "HDRS": 2}


def queue_list(env):
    """Every live message as a dict (id, state, size, direction, ret, sender,
    envid, listener, client, helo, tls_version, tls_cipher, rcpts with addr,
    orcpt and notify), read with sealctl queue list --json --full."""
    if not (Path(env.state_dir) / "queue").exists():
        return []
    out = []
    for line in env.sealctl("queue", "list", "--json", "--full").stdout.splitlines():
        j = json.loads(line)
        out.append({
            "id": j["id"], "state": j["queue_name"], "size": j["message_size"],
            "direction": DIRECTIONS[j["direction"]], "ret": RETS[j["ret"]],
            "sender": j["sender"], "envid": j["envid"], "listener": j["listener"],
            "client": j["client_address"], "helo": j["helo"],
            "tls_version": j["tls_version"], "tls_cipher": j["tls_cipher"],
            "rcpts": [{"addr": r["address"], "orcpt": r["orcpt"], "notify": r["notify"]}
                      for r in j["recipients"]],
        })
    return out


def queue_body(env, qid):
    """The original body of message qid, as received."""
    return env.sealctl("queue", "cat", qid, text=False).stdout


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
