"""Reusable test peers for delivery tests: SMTP servers, a DNS server, an injector.

    from peers import SmtpPeer, Dns, Injector, nss_db

SmtpPeer(host="127.0.0.1", port=0, **script) is a real SMTP server on a
thread (plain asyncio sockets, so it can misbehave on purpose). It records
every command line with whether it arrived over TLS, every message, and
the highest number of sessions open at once. Script knobs:

    starttls   "offer" | "none" | "454" | "broken" | "inject"
               broken: answers 220, then closes instead of a handshake;
               inject: answers "220" plus extra lines in the same packet.
    cert, key  PEM files for STARTTLS (default: a self-signed pair)
    greeting   e.g. "421 busy" (default "220 NAME ESMTP")
    ehlo_extra extra EHLO lines, e.g. ["AUTH PLAIN LOGIN"]
    auth       (user, password) accepted by AUTH PLAIN/LOGIN
    mail       reply to MAIL (default "250 2.1.0 ok")
    rcpt       {address: reply} (default "250 2.1.5 ok"); a list as value
               is used one reply per session, the last one repeats
    data       reply after the final dot (default "250 2.0.0 queued")
    delay      seconds to hold each reply to DATA's dot (for concurrency)
    drop_in_data  close the connection in the middle of DATA
    silent     accept the connection and never say anything
    eightbit   offer 8BITMIME (default True)
    max_rcpts  accept at most this many RCPTs a transaction, then
               "452 4.5.3 Too many recipients" (RFC 5321 4.5.3.1.10)

Dns(records) runs dnsmasq on a loopback high port; records is a list of
dnsmasq options such as "--mx-host=a.test,mx1.a.test,10". Unknown names
below the given local domains are NXDOMAIN; "--server=/slow.test/127.0.0.1#9"
makes a domain time out.

Injector(sealgate_env) puts READY messages straight into the queue with
`sealctl queue inject` (DSN parameters included), as the worker would after
processing, so delivery is tested on its own.
"""
import asyncio
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from pathlib import Path

from conftest import free_port, wait_until


# ----------------------------------------------------------------- SMTP

def self_signed(directory, cn="selfsigned.test"):
    """A throw-away self-signed certificate and key; returns (cert, key)."""
    cert, key = Path(directory) / f"{cn}.pem", Path(directory) / f"{cn}.key"
    if not cert.exists():
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                        f"/CN={cn}", "-addext", f"subjectAltName=DNS:{cn}",
                        "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True)
    return cert, key


def issued_by(pki, directory, name, also=()):
    """A TLS server certificate for DNS name `name` (and the names in also)
    issued by the test PKI's intermediate CA; returns (cert with chain, key)."""
    d = Path(directory)
    key, csr, crt, full = (d / f"{name}.key", d / f"{name}.csr", d / f"{name}.crt",
                           d / f"{name}.full.pem")
    ext = d / f"{name}.ext"
    names = ",".join(f"DNS:{n}" for n in (name, *also))
    ext.write_text(f"subjectAltName={names}\nextendedKeyUsage=serverAuth\n"
                   "keyUsage=critical,digitalSignature,keyEncipherment\n")
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={name}",
                    "-keyout", str(key), "-out", str(csr)], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(pki.inter.cert),
                    "-CAkey", str(pki.inter.key), "-CAcreateserial", "-days", "2",
                    "-extfile", str(ext), "-out", str(crt)], check=True, capture_output=True)
    full.write_text(crt.read_text() + pki.chain.read_text())
    return full, key


class Session:
    def __init__(self, peer):
        self.peer = peer
        self.commands = []      # (tls, line)
        self.tls = False


class SmtpPeer:
    def __init__(self, host="127.0.0.1", port=0, name="peer.test", starttls="none",
                 cert=None, key=None, greeting=None, ehlo_extra=(), auth=None,
                 mail="250 2.1.0 ok", rcpt=None, data="250 2.0.0 queued", delay=0.0,
                 drop_in_data=False, tmpdir=None, silent=False, eightbit=True, max_rcpts=0):
        self.host = host
        self.port = port or free_port(host)
        self.name = name
        self.starttls = starttls
        self.greeting = greeting or f"220 {name} ESMTP test peer"
        self.ehlo_extra = list(ehlo_extra)
        self.auth = auth
        self.mail = mail
        self.rcpt = rcpt or {}
        self.data = data
        self.delay = delay
        self.drop_in_data = drop_in_data
        self.silent = silent
        self.eightbit = eightbit
        self.max_rcpts = max_rcpts
        self.sessions = []
        self.messages = []      # dicts: sender, rcpts, body (bytes), tls
        self.auth_ok = []       # users that authenticated
        self.bare_line_endings = 0  # DATA lines with a bare CR or LF
        self.current = 0
        self.max_concurrent = 0
        self._lock = threading.Lock()
        self._ctx = None
        if starttls != "none":
            if cert is None:
                cert, key = self_signed(tmpdir or tempfile.mkdtemp(), name)
            self._ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ctx.load_cert_chain(str(cert), str(key))
        self._loop = None
        self._server = None
        self._thread = None

    # -- life cycle
    def __enter__(self):
        started = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, self.host, self.port))
            started.set()
            self._loop.run_forever()
            tasks = asyncio.all_tasks(self._loop)
            for t in tasks:
                t.cancel()
            if tasks:
                self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._server.close()
            self._loop.run_until_complete(self._server.wait_closed())
            self._loop.close()
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        started.wait(5)
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    # -- what tests look at
    def all_commands(self):
        with self._lock:
            return [c for s in self.sessions for c in s.commands]

    def plaintext_commands(self):
        return [line for tls, line in self.all_commands() if not tls]

    def rcpts_delivered(self):
        with self._lock:
            return [r for m in self.messages for r in m["rcpts"]]

    # -- the server
    def _reply_for(self, table, key, default, session_index):
        v = table.get(key, default)
        if isinstance(v, list):
            return v[min(session_index, len(v) - 1)]
        return v

    async def _handle(self, reader, writer):
        s = Session(self)
        with self._lock:
            self.sessions.append(s)
            index = len(self.sessions) - 1
            self.current += 1
            self.max_concurrent = max(self.max_concurrent, self.current)
        try:
            await self._dialogue(s, index, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError):
            pass
        finally:
            with self._lock:
                self.current -= 1
            try:
                writer.close()
            except Exception:
                pass

    async def _send(self, writer, text):
        writer.write(text.encode() + b"\r\n")
        await writer.drain()

    def _ehlo_lines(self, s):
        lines = [self.name, "PIPELINING", "SIZE 100000000", "DSN"]
        if self.eightbit:
            lines.append("8BITMIME")
        if self.starttls != "none" and not s.tls:
            lines.append("STARTTLS")
        if s.tls or self.starttls == "none":
            lines += self.ehlo_extra
        return lines

    async def _dialogue(self, s, index, reader, writer):
        if self.silent:
            await reader.read()         # until the client gives up
            return
        await self._send(writer, self.greeting)
        if not self.greeting.startswith("2"):
            return
        mail_from, rcpts = None, []
        while True:
            raw = await reader.readline()
            if not raw:
                return
            line = raw.decode("latin-1").rstrip("\r\n")
            with self._lock:
                s.commands.append((s.tls, line))
            verb = line.split(" ", 1)[0].split(":", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                lines = self._ehlo_lines(s)
                out = "".join(f"250-{l}\r\n" for l in lines[:-1]) + f"250 {lines[-1]}"
                await self._send(writer, out)
            elif verb == "STARTTLS":
                if self.starttls == "454":
                    await self._send(writer, "454 4.7.0 TLS not available due to local problem")
                    continue
                if self.starttls == "broken":
                    await self._send(writer, "220 2.0.0 go ahead")
                    writer.write(b"\x15\x03\x03\x00\x02\x02\x28")   # a fatal alert, then EOF
                    await writer.drain()
                    return
                if self.starttls == "inject":
                    writer.write(b"220 2.0.0 go ahead\r\n250 2.1.0 injected\r\n"
                                 b"250 2.1.5 injected\r\n")
                else:
                    writer.write(b"220 2.0.0 go ahead\r\n")
                await writer.drain()
                await writer.start_tls(self._ctx)
                s.tls = True
                mail_from, rcpts = None, []
            elif verb == "AUTH":
                await self._auth(s, line, reader, writer)
            elif verb == "MAIL":
                mail_from, rcpts = line[10:].split(">")[0].lstrip("<"), []
                await self._send(writer, self.mail)
            elif verb == "RCPT":
                addr = line[8:].split(">")[0].lstrip("<")
                reply = self._reply_for(self.rcpt, addr, "250 2.1.5 ok", index)
                if self.max_rcpts and len(rcpts) >= self.max_rcpts:
                    reply = "452 4.5.3 Too many recipients"
                if reply.startswith("2"):
                    rcpts.append(addr)
                await self._send(writer, reply)
            elif verb == "DATA":
                if not rcpts:
                    await self._send(writer, "554 5.5.1 no valid recipients")
                    continue
                await self._send(writer, "354 go ahead")
                body = await self._read_body(reader)
                if self.drop_in_data:
                    return
                if self.delay:
                    await asyncio.sleep(self.delay)
                if self.data.startswith("2"):
                    with self._lock:
                        self.messages.append({"sender": mail_from, "rcpts": rcpts,
                                              "body": body, "tls": s.tls})
                await self._send(writer, self.data)
                mail_from, rcpts = None, []
            elif verb == "RSET":
                mail_from, rcpts = None, []
                await self._send(writer, "250 2.0.0 ok")
            elif verb == "QUIT":
                await self._send(writer, "221 2.0.0 bye")
                return
            else:
                await self._send(writer, "502 5.5.2 unknown command")

    async def _read_body(self, reader):
        lines = []
        while True:
            raw = await reader.readline()
            if not raw:
                raise ConnectionError("eof in DATA")
            if b"\r" in raw[:-2] or not raw.endswith(b"\r\n"):
                with self._lock:
                    self.bare_line_endings += 1
            if raw == b".\r\n":
                return b"".join(lines)
            if self.drop_in_data and len(lines) > 2:
                raise ConnectionError("dropping mid-DATA on purpose")
            lines.append(raw[1:] if raw.startswith(b".") else raw)

    async def _auth(self, s, line, reader, writer):
        import base64
        parts = line.split()
        ok = False
        user = None
        if len(parts) >= 2 and parts[1].upper() == "PLAIN" and len(parts) == 3:
            fields = base64.b64decode(parts[2]).split(b"\0")
            user, pw = fields[1].decode(), fields[2].decode()
            ok = self.auth and (user, pw) == tuple(self.auth)
        elif len(parts) >= 2 and parts[1].upper() == "LOGIN":
            await self._send(writer, "334 VXNlcm5hbWU6")
            user = base64.b64decode((await reader.readline()).strip()).decode()
            await self._send(writer, "334 UGFzc3dvcmQ6")
            pw = base64.b64decode((await reader.readline()).strip()).decode()
            ok = self.auth and (user, pw) == tuple(self.auth)
        if ok:
            with self._lock:
                self.auth_ok.append((user, s.tls))
            await self._send(writer, "235 2.7.0 authenticated")
        else:
            await self._send(writer, "535 5.7.8 bad credentials")


# ------------------------------------------------------------------ DNS

class Dns:
    """dnsmasq on 127.0.0.1:PORT serving records for test domains."""

    def __init__(self, records, local=("test",), port=None):
        self.port = port or free_port()
        self.records = list(records)
        self.local = local
        self.proc = None

    def __enter__(self):
        exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        args = [exe, "--keep-in-foreground", "--conf-file=/dev/null", "--pid-file=",
                f"--port={self.port}", "--listen-address=127.0.0.1", "--bind-interfaces",
                "--no-resolv", "--no-hosts", "--no-poll", "--local-ttl=60",
                "--log-facility=-", "--log-queries"]
        args += [f"--local=/{d}/" for d in self.local]
        args += self.records
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("dnsmasq exited: " + self.proc.stderr.read().decode())
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0
        wait_until(up, 10, what="dnsmasq")
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(5)

    @property
    def server(self):
        return f"127.0.0.1:{self.port}"


# ------------------------------------------------------------- injector

NOTIFY_WORDS = ((1, "NEVER"), (2, "SUCCESS"), (4, "FAILURE"), (8, "DELAY"))


class Injector:
    """READY messages straight into the queue, with sealctl queue inject."""

    def __init__(self, env):
        self.env = env

    def inject(self, sender, rcpts, body=b"Subject: test\r\n\r\nhello\r\n", count=1,
               notify=0, ret=0, envid=None):
        """notify: QUEUE_NOTIFY_* bits; ret: 1 FULL, 2 HDRS. Returns the id
        of a single message ([] for several)."""
        args = ["queue", "inject", "--state", "ready", "--sender", sender, "--count", count]
        for r in rcpts:
            args += ["--rcpt", r]
        if notify:
            args += ["--notify", ",".join(w for bit, w in NOTIFY_WORDS if notify & bit)]
        if ret:
            args += ["--ret", {1: "FULL", 2: "HDRS"}[ret]]
        if envid:
            args += ["--envid", envid]
        return self.env.sealctl(*args, input=body, text=False).stdout.decode().split()


# ------------------------------------------------------------ NSS db

def nss_db(directory, trust=()):
    """An NSS sql: database with an empty password, trusting each PEM CA in trust."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    if not (d / "cert9.db").exists():
        subprocess.run(["certutil", "-N", "-d", f"sql:{d}", "--empty-password"],
                       check=True, capture_output=True)
    for i, pem in enumerate(trust):
        subprocess.run(["certutil", "-A", "-d", f"sql:{d}", "-n", f"ca{i}", "-t", "C,,",
                        "-i", str(pem)], check=True, capture_output=True)
    return d
