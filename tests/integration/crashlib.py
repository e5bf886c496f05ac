"""What the crash tests share: a recording SMTP sink, client load, and the checks.

    from crashlib import Sink, Load, Arrivals

Sink(directory) runs an SMTP server in a process of its own (this file run as
a program, so it never competes with the test's threads for the GIL). Every
message it accepts is appended to directory/sink.log as one record
("SINK <length>\\r\\n" and the message, with X-Sink-From and X-Sink-To
lines on top) before it answers 250, so what is in the log is exactly what
the next hop took responsibility for. sink.stall() makes it hold every new
greeting and every reply to the final dot until sink.resume(): the gateway
keeps taking due messages and waits, as with a slow next hop.

Load(port, clients) sends mail from several client threads over SMTP with
pipelining, each message unique: Subject and Message-ID carry a tag, the body
is random text (with lines that start with a dot) whose SHA-256 the client
keeps. load.sent has every tag whose DATA was sent (digest per tag),
load.acked every tag that got its 250. Clients reconnect after any error
until load.stop().

Arrivals(sink_dir) reads what arrived: per message the tag, whether it is
S/MIME signed, and the digest of the body that was signed (or of the body,
unsigned); verify() checks the signatures with openssl.
"""
import asyncio
import concurrent.futures
import hashlib
import os
import random
import re
import signal
import socket
import string
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


# ----------------------------------------------------------------- sink

class Sink:
    def __init__(self, directory, host="127.0.0.1", port=None):
        from conftest import free_port, wait_until
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port or free_port(host)
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__)), str(self.dir),
                                      host, str(self.port)], stdin=subprocess.DEVNULL)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("the sink exited")
            with socket.socket() as s:
                return s.connect_ex((host, self.port)) == 0
        wait_until(up, 10, what="the sink")

    def stall(self):
        self.proc.send_signal(signal.SIGUSR1)

    def resume(self):
        self.proc.send_signal(signal.SIGUSR2)

    def records(self):
        """Every message in the log so far (bytes each)."""
        return list(read_records(self.dir / "sink.log"))

    def count(self):
        """How many messages arrived; reads only what is new since the last call."""
        path = self.dir / "sink.log"
        if not hasattr(self, "_seen"):
            self._seen, self._off = 0, 0
        if path.exists():
            with open(path, "rb") as f:
                f.seek(self._off)
                for _ in read_records(f):
                    self._seen += 1
                self._off = f.tell()
        return self._seen

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _sink_main(directory, host, port):
    """The sink process: asyncio, one coroutine per connection."""
    d = Path(directory)
    gate = {"open": True, "n": 0}

    def unstuff(data):
        body = data[:-3]                        # keep the CRLF before "."
        if body.startswith(b".."):
            body = body[1:]
        return body.replace(b"\r\n..", b"\r\n.")

    async def gated():
        while not gate["open"]:
            await asyncio.sleep(0.02)

    log = open(d / "sink.log", "ab", buffering=0)

    def store(sender, rcpts, body):
        msg = f"X-Sink-From: <{sender}>\r\nX-Sink-To: {','.join(rcpts)}\r\n".encode() + body
        log.write(b"SINK %d\r\n" % len(msg) + msg)     # one write: whole records

    async def handle(reader, writer):
        try:
            await gated()
            writer.write(b"220 sink.test ESMTP crash sink\r\n")
            sender, rcpts = None, []
            while True:
                line = await reader.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    writer.write(b"250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                                 b"250 SIZE 100000000\r\n")
                elif verb == b"MAIL":
                    sender, rcpts = line[10:].split(b">")[0].lstrip(b"<").decode(), []
                    writer.write(b"250 2.1.0 ok\r\n")
                elif verb == b"RCPT":
                    rcpts.append(line[8:].split(b">")[0].lstrip(b"<").decode())
                    writer.write(b"250 2.1.5 ok\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 go ahead\r\n")
                    await writer.drain()
                    # the gateway never sends an empty message: the end is CRLF.CRLF
                    data = await reader.readuntil(b"\r\n.\r\n")
                    await gated()
                    store(sender, rcpts, unstuff(data))
                    writer.write(b"250 2.0.0 stored\r\n")
                    sender, rcpts = None, []
                elif verb == b"RSET":
                    sender, rcpts = None, []
                    writer.write(b"250 2.0.0 ok\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 2.0.0 bye\r\n")
                    await writer.drain()
                    return
                else:
                    writer.write(b"250 2.0.0 ok\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                OSError):
            pass
        finally:
            writer.close()

    async def main():
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, lambda: gate.__setitem__("open", False))
        loop.add_signal_handler(signal.SIGUSR2, lambda: gate.__setitem__("open", True))
        stop = loop.create_future()
        loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(1))
        server = await asyncio.start_server(handle, host, port, limit=64 << 20, backlog=512)
        await stop
        server.close()
    asyncio.run(main())


# ----------------------------------------------------------------- load

WORDS = string.ascii_letters + string.digits


def make_body(rng, tag, size):
    """Random text lines, some starting with a dot, about size bytes; CRLF."""
    lines = [f"crash test message {tag}", ".a line that starts with a dot", "..and two"]
    total = sum(len(l) + 2 for l in lines)
    while total < size:
        line = "".join(rng.choice(WORDS) for _ in range(rng.randint(1, 76)))
        if rng.random() < 0.05:
            line = "." + line
        lines.append(line)
        total += len(line) + 2
    return ("\r\n".join(lines) + "\r\n").encode()


def body_digest(body):
    """What is compared end to end: the body without its final line break
    (in a multipart/signed the last CRLF belongs to the boundary)."""
    return hashlib.sha256(body.rstrip(b"\r\n")).hexdigest()


class Load:
    def __init__(self, port, clients=4, sender_domain="example.com", rcpt_domain="partner.test",
                 sizes=(600, 6000), seed=None, rate=None, host="127.0.0.1"):
        self.port = port
        self.host = host
        self.sent = {}          # tag -> digest (its DATA was sent)
        self.acked = {}         # tag -> queue id (it got a 250)
        self.errors = 0
        self.sizes = sizes
        self.rate = rate        # messages per second per client, None: as fast as it goes
        self.sender_domain = sender_domain
        self.rcpt_domain = rcpt_domain
        self._stop = threading.Event()
        self._pause = threading.Event()
        self._lock = threading.Lock()
        self._seed = seed if seed is not None else random.randrange(1 << 30)
        self.threads = [threading.Thread(target=self._client, args=(i,), daemon=True)
                        for i in range(clients)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self._stop.set()
        for t in self.threads:
            t.join(20)

    def pause(self):
        self._pause.set()

    def resume(self):
        self._pause.clear()

    def _message(self, rng, n, seq):
        tag = f"c{n}m{seq}r{self._seed}"
        body = make_body(rng, tag, rng.randint(*self.sizes))
        head = (f"From: load{n}@{self.sender_domain}\r\nTo: rcpt{n}@{self.rcpt_domain}\r\n"
                f"Subject: crash {tag}\r\nMessage-ID: <{tag}@crash.test>\r\n"
                "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
        wire = (head.encode() + body).replace(b"\r\n.", b"\r\n..")
        return tag, body_digest(body), wire + b".\r\n"

    def _client(self, n):
        rng = random.Random(self._seed * 100 + n)
        seq = [0]                   # survives the sessions: a tag is used once
        while not self._stop.is_set():
            if self._pause.is_set():
                time.sleep(0.05)
                continue
            try:
                with socket.create_connection((self.host, self.port), timeout=10) as s:
                    self._session(s, s.makefile("rb"), rng, n, seq)
            except (OSError, EOFError, ValueError, AssertionError):
                with self._lock:
                    self.errors += 1
                time.sleep(0.05)

    def _reply(self, f):
        while True:
            line = f.readline()
            if not line:
                raise EOFError("connection closed")
            if line[3:4] != b"-":
                return int(line[:3]), line.decode("latin-1").strip()

    def _session(self, s, f, rng, n, seq_ref):
        assert self._reply(f)[0] == 220
        s.sendall(b"EHLO load.test\r\n")
        assert self._reply(f)[0] == 250
        while not self._stop.is_set() and not self._pause.is_set():
            seq_ref[0] += 1
            tag, digest, wire = self._message(rng, n, seq_ref[0])
            s.sendall(f"MAIL FROM:<load{n}@{self.sender_domain}>\r\n"
                      f"RCPT TO:<rcpt{n}@{self.rcpt_domain}>\r\nDATA\r\n".encode())
            codes = [self._reply(f)[0] for _ in range(3)]
            if codes != [250, 250, 354]:
                raise AssertionError(codes)
            with self._lock:
                self.sent[tag] = digest
            s.sendall(wire)
            code, text = self._reply(f)
            if code == 250:
                with self._lock:
                    self.acked[tag] = text.rsplit(" ", 1)[1]
            if self.rate:
                time.sleep(1.0 / self.rate)
        s.sendall(b"QUIT\r\n")


# --------------------------------------------------------------- checks

def read_records(src):
    """The messages in a sink log (a path, or a file positioned at a record),
    stopping before a record that is not complete yet; a file is left after
    the last complete one."""
    if isinstance(src, (str, Path)):
        if not Path(src).exists():
            return
        with open(src, "rb") as f:
            yield from read_records(f)
        return
    while True:
        start = src.tell()
        head = src.readline()
        data = src.read(int(head[5:-2])) if head.startswith(b"SINK ") and \
            head.endswith(b"\r\n") else None
        if data is None or len(data) < int(head[5:-2]):
            src.seek(start)
            return
        yield data


TAG = re.compile(rb"^Subject: crash (\S+)\r$", re.M)


def signed_content(msg):
    """The first part of a multipart/signed message, or None."""
    head, _, body = msg.partition(b"\r\n\r\n")
    m = re.search(rb'boundary="?([^";\r\n]+)"?', head, re.I)
    if not re.search(rb"^Content-Type:\s*multipart/signed", head, re.I | re.M) or not m:
        return None
    delim = b"--" + m.group(1)
    start = body.find(delim + b"\r\n")
    end = body.find(b"\r\n" + delim, start + len(delim))
    if start < 0 or end < 0:
        return b""
    return body[start + len(delim) + 2:end]


class Arrivals:
    """Everything in a sink's directory, parsed."""

    def __init__(self, sink_dir):
        self.records = list(read_records(Path(sink_dir) / "sink.log"))
        self.by_tag = {}            # tag -> [(record index, signed, digest)]
        self.untagged = []
        for p, msg in enumerate(self.records):
            m = TAG.search(msg.partition(b"\r\n\r\n")[0] + b"\r\n")
            if not m:
                self.untagged.append(p)
                continue
            content = signed_content(msg)
            if content is None:
                body = msg.partition(b"\r\n\r\n")[2]
                signed = False
            else:
                body = content.partition(b"\r\n\r\n")[2] + b"\r\n"
                signed = True
            self.by_tag.setdefault(m.group(1).decode(), []).append(
                (p, signed, body_digest(body)))

    def tags(self):
        return set(self.by_tag)

    def duplicates(self):
        return sum(len(v) - 1 for v in self.by_tag.values())

    def check(self, load, signed=True):
        """The promises, as a list of problems (empty: all kept)."""
        problems = []
        lost = [t for t in load.acked if t not in self.by_tag]
        if lost:
            problems.append(f"{len(lost)} acknowledged messages never arrived, e.g. {lost[:5]}")
        strangers = [t for t in self.by_tag if t not in load.sent]
        if strangers or self.untagged:
            problems.append(f"{len(strangers) + len(self.untagged)} arrivals never entered: "
                            f"{strangers[:3]} {[self.records[p][:300] for p in self.untagged[:2]]}")
        altered = [(t, p) for t, v in self.by_tag.items() if t in load.sent
                   for p, _, d in v if d != load.sent[t]]
        if altered:
            problems.append(f"{len(altered)} arrived altered or truncated, e.g. {altered[:3]}")
        if signed:
            unsigned = [t for t, v in self.by_tag.items() for _, s, _ in v if not s]
            if unsigned:
                problems.append(f"{len(unsigned)} arrived unsigned, e.g. {unsigned[:3]}")
        return problems

    def verify(self, ca, tmpdir, limit=None, threads=2):
        """openssl cms -verify on every signed arrival (or a sample of limit);
        returns the record indexes that failed, and how many were checked."""
        paths = [p for v in self.by_tag.values() for p, s, _ in v if s]
        if limit and len(paths) > limit:
            paths = random.Random(1).sample(paths, limit)

        def one(p):
            msg = self.records[p]
            # the sink's own header lines are not part of what was signed
            while msg.startswith(b"X-Sink-"):
                msg = msg.split(b"\r\n", 1)[1]
            tmp = Path(tmpdir) / f"verify-{p}.eml"
            tmp.write_bytes(msg)
            r = subprocess.run(["openssl", "cms", "-verify", "-in", str(tmp), "-CAfile",
                                str(ca), "-purpose", "any", "-out", "/dev/null"],
                               capture_output=True)
            tmp.unlink()
            return None if r.returncode == 0 else p
        with concurrent.futures.ThreadPoolExecutor(threads) as ex:
            return [p for p in ex.map(one, paths) if p is not None], len(paths)


if __name__ == "__main__":
    _sink_main(sys.argv[1], sys.argv[2], int(sys.argv[3]))


# -------------------------------------------------------------- gateway

def gateway_config(sealgate, sink, worker="", delivery="", top=""):
    """Outbound mail from 127.0.0.1 (an own server) for example.com is signed
    with the gateway certificate (sign = required), then routed to the sink."""
    from pki import get_pki
    pki = get_pki()
    sealgate.state_dir.mkdir(exist_ok=True)
    sealgate.write_config(
        top + 'own_domains = [ "example.com" ];\nown_servers = [ "127.0.0.1" ];\n'
        'certs = { revocation = "off"; };\n'
        f'smtpd = {{ listeners = ( {{ address = "127.0.0.1:{sealgate.smtp_port}"; }} );\n'
        '  max_connections_per_client = 200; };\n'
        f'delivery = {{ routes = ( {{ domains = [ "partner.test", "example.com" ];\n'
        f'  hosts = [ "127.0.0.1:{sink.port}" ]; }} ); {delivery} }};\n'
        f'worker = {{ threads = 2; {worker} rules = (\n'
        '  { name = "seal"; direction = "outbound"; sign = "required"; }\n); };\n')
    if not (sealgate.state_dir / "nssdb").exists():
        sealgate.sealctl("cert", "init")
        sealgate.sealctl("cert", "import", pki.root.cert, "--ca")
        sealgate.sealctl("cert", "import", pki.chain)
        pw = pki.password_file("gateway", sealgate.dir)
        sealgate.sealctl("cert", "import", pki["gateway"].p12, "--password-file", pw,
                         "--gateway", "example.com")
    return pki


def role_pid(daemon, role, count=1):
    """The pid of the newest process of role the master started (waits for
    the count-th start of it)."""
    m = daemon.wait_log(rf"event=role_started role={role} pid=(\d+)", count=count)
    return int(m[-1].group(1))


def queue_stats(sealgate):
    import json
    return json.loads(sealgate.sealctl("queue", "stats", "--json").stdout)
