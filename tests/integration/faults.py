"""Helpers for the fault-injection suites (test_fault_*.py).

    from faults import FaultFs, Tmpfs, send, role_pids

FaultFs(directory) builds faultfs.c, an LD_PRELOAD shim that makes writes
or syncs of the queue file fail while a switch file exists; `env` is what
to start the gateway with, `on("write")` / `off()` flip the switch, and
`hits(daemon)` counts the failures the shim reported in a daemon's log.

Tmpfs(path, size) mounts a small tmpfs (a disk that fills up) and always
unmounts it, whatever the test did; `fill()` takes every free byte with a
ballast file and `free()` gives it back.

send(port, rcpts, body) runs one SMTP transaction and returns the reply to
the final dot as (code, text) (or the refusal of an earlier command).
"""
import os
import re
import smtplib
import subprocess
from pathlib import Path

from conftest import wait_until

HERE = Path(__file__).resolve().parent


def build_shim(directory, source, name):
    so = Path(directory) / name
    subprocess.run(["cc", "-O2", "-Wall", "-shared", "-fPIC", "-o", str(so),
                    str(HERE / source), "-ldl"], check=True)
    return so


class FaultFs:
    def __init__(self, directory):
        self.dir = Path(directory)
        self.so = build_shim(self.dir, "faultfs.c", "libfaultfs.so")
        self.switch = self.dir / "faultfs.switch"
        self.off()

    @property
    def env(self):
        return {"LD_PRELOAD": str(self.so), "SG_FAULT_SWITCH": str(self.switch)}

    def on(self, spec):
        tmp = self.switch.with_suffix(".tmp")
        tmp.write_text(spec + "\n")
        tmp.rename(self.switch)

    def off(self):
        self.switch.unlink(missing_ok=True)

    @staticmethod
    def hits(daemon, call=None):
        rx = re.compile(r"faultfs: pid=(\d+) call=(\w+)")
        return [m.groups() for m in map(rx.search, daemon.log().splitlines())
                if m and (call is None or m.group(2) == call)]


class Tmpfs:
    """A small tmpfs at path, mounted for the duration of a with block."""

    def __init__(self, path, size="8m"):
        self.path = Path(path)
        self.size = size
        self.ballast = self.path / "ballast"

    def __enter__(self):
        self.path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size},mode=0755",
                        "tmpfs", str(self.path)], check=True)
        return self

    def __exit__(self, *exc):
        # Whatever still has files open in it must be gone first: the
        # caller stops its daemons before leaving the block; a lazy
        # unmount makes sure the mount never outlives the test anyway.
        r = subprocess.run(["umount", str(self.path)], capture_output=True)
        if r.returncode != 0:
            subprocess.run(["umount", "-l", str(self.path)], check=True)

    def avail(self):
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self, leave=0):
        """Take every free byte but `leave` with a ballast file."""
        with open(self.ballast, "ab") as f:
            chunk = b"\0" * 65536
            try:
                while self.avail() > leave:
                    n = min(len(chunk), max(self.avail() - leave, 4096))
                    f.write(chunk[:n])
                    f.flush()
            except OSError:
                pass

    def free(self):
        self.ballast.unlink(missing_ok=True)


def send(port, rcpts, body=b"Subject: fault\r\n\r\nbody\r\n", sender="s@example.com",
         host="127.0.0.1"):
    """One SMTP transaction: the reply that decided it, as (code, text)."""
    with smtplib.SMTP(host, port, timeout=30) as s:
        s.ehlo("client.test")
        code, text = s.mail(sender)
        if code != 250:
            return code, text.decode()
        for r in rcpts:
            code, text = s.rcpt(r)
            if code != 250:
                return code, text.decode()
        code, text = s.data(body)
        return code, text.decode()


def role_pids(daemon):
    """role -> pid of every role_started line in a master's log, latest last."""
    out = {}
    for role, pid in re.findall(r"event=role_started role=(\w+) pid=(\d+)", daemon.log()):
        out.setdefault(role, []).append(int(pid))
    return out


def queued_id(text):
    """The queue id in a "250 2.0.0 Ok: queued as ID" reply."""
    return text.rsplit(" ", 1)[1]


def wait_arrived(sink, tag, timeout=20):
    """The message at the sink whose body holds tag."""
    def found():
        return [m for m in sink.messages if tag.encode() in m["body"]]
    return wait_until(found, timeout, what=f"{tag} at the sink")


# --------------------------------------------------- the queue, by hand

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def id_key(qid):
    """The LMDB key (8 bytes, big-endian) of a queue id's text."""
    n = 0
    for c in qid.upper():
        n = n * 32 + CROCKFORD.index(c)
    return n.to_bytes(8, "big")


def lmdb_records(queue_dir, db):
    """Every (key, value) of one named database, read with mdb_dump."""
    out = subprocess.run(["mdb_dump", "-s", db, str(queue_dir)], check=True,
                         capture_output=True, text=True).stdout
    lines = out.split("HEADER=END\n", 1)[1].split("DATA=END", 1)[0].split()
    return [(bytes.fromhex(lines[i]), bytes.fromhex(lines[i + 1]))
            for i in range(0, len(lines), 2)]


def lmdb_put(queue_dir, db, key, value):
    """Store value under key in one named database with mdb_load: the way a
    bad sector or a bug elsewhere would leave a record, while the gateway
    runs (LMDB serialises the write with the gateway's own)."""
    dump = Path(queue_dir).parent / f"corrupt-{db}.dump"
    dump.write_text("VERSION=3\nformat=bytevalue\ndatabase=%s\ntype=btree\nHEADER=END\n"
                    " %s\n %s\nDATA=END\n" % (db, key.hex(), value.hex()))
    subprocess.run(["mdb_load", "-s", db, "-f", str(dump), str(queue_dir)], check=True,
                   capture_output=True)


# ------------------------------------------------------------ DNS faults

class FaultDns:
    """A DNS server on 127.0.0.1 (UDP; TCP only when tcp=True) that misbehaves
    by name. The first label of the name asked decides:

        timeout    no answer at all
        servfail   RCODE 2
        refused    RCODE 5
        loop       NOERROR with a CNAME loop: NAME -> x.NAME -> NAME
        trunc      TC=1 and no records (and, by default, no TCP to retry on)
        garbage    a reply whose answer section does not parse
        ok         NOERROR: MX 10 mx.NAME, and mx.NAME A 127.0.0.11
        cname      NAME is a CNAME of host.NAME, which has an A record and no MX
        anything else: NXDOMAIN

    `mode_for` (a dict name -> mode) overrides the first label, so a test can
    turn a domain good again: dns.mode_for["flaky.test"] = "ok".
    """

    def __init__(self, mx_addr="127.0.0.11", tcp=False):
        import socket
        import threading
        self.mx_addr = mx_addr
        self.mode_for = {}
        self.queries = []
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.port = self.udp.getsockname()[1]
        self.tcp = None
        if tcp:
            self.tcp = socket.socket()
            self.tcp.bind(("127.0.0.1", self.port))
            self.tcp.listen(8)
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def server(self):
        return f"127.0.0.1:{self.port}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop = True
        self.udp.close()
        if self.tcp:
            self.tcp.close()
        self._thread.join(5)

    def _serve(self):
        import select
        socks = [self.udp] + ([self.tcp] if self.tcp else [])
        while not self._stop:
            try:
                ready, _, _ = select.select(socks, [], [], 0.2)
            except (OSError, ValueError):
                return
            for s in ready:
                try:
                    if s is self.udp:
                        q, addr = self.udp.recvfrom(4096)
                        r = self.answer(q)
                        if r:
                            self.udp.sendto(r, addr)
                    else:
                        c, _ = self.tcp.accept()
                        with c:
                            c.settimeout(2)
                            n = int.from_bytes(c.recv(2), "big")
                            r = self.answer(c.recv(n), tcp=True)
                            if r:
                                c.sendall(len(r).to_bytes(2, "big") + r)
                except OSError:
                    continue

    @staticmethod
    def _name(q, off):
        labels = []
        while q[off]:
            n = q[off]
            labels.append(q[off + 1:off + 1 + n].decode("latin-1"))
            off += 1 + n
        return ".".join(labels).lower(), off + 1

    @staticmethod
    def _encode(name):
        out = b""
        for label in name.split("."):
            if label:
                out += bytes([len(label)]) + label.encode()
        return out + b"\0"

    def _rr(self, name, rtype, rdata):
        import struct
        return self._encode(name) + struct.pack(">HHIH", rtype, 1, 60, len(rdata)) + rdata

    def answer(self, q, tcp=False):
        import struct
        qid, _flags, qd = struct.unpack(">HHH", q[:6])
        name, off = self._name(q, 12)
        qtype = struct.unpack(">H", q[off:off + 2])[0]
        question = q[12:off + 4]
        self.queries.append((name, qtype))
        base = name.split(".", 1)[1] if name.startswith(("mx.", "x.", "host.")) else name
        mode = self.mode_for.get(base, base.split(".")[0])
        rcode, tc, answers = 0, 0, []
        if mode == "timeout":
            return None
        if mode in ("servfail", "refused"):
            rcode = 2 if mode == "servfail" else 5
        elif mode == "loop":
            other = f"x.{base}" if name == base else base
            answers = [self._rr(name, 5, self._encode(other)),
                       self._rr(other, 5, self._encode(name))]
        elif mode == "trunc" and not tcp:
            tc = 1
        elif mode == "garbage":
            hdr = struct.pack(">HHHHHH", qid, 0x8180, 1, 3, 0, 0)
            return hdr + question + b"\xc0\x0c\x00\x0f\x00\x01" + b"\xff" * 7
        elif mode == "cname":
            # the domain is an alias of a host that has an address and no MX
            host, a = f"host.{base}", bytes(map(int, self.mx_addr.split(".")))
            if name == base:
                answers = [self._rr(name, 5, self._encode(host))]
            if qtype == 1:
                answers.append(self._rr(host, 1, a))
        elif mode in ("ok", "trunc"):
            if qtype == 15 and not name.startswith("mx."):
                answers = [self._rr(name, 15, struct.pack(">H", 10) +
                                    self._encode(f"mx.{base}"))]
            elif qtype == 1 and name.startswith("mx."):
                answers = [self._rr(name, 1, bytes(map(int, self.mx_addr.split("."))))]
        else:
            rcode = 3
        flags = 0x8000 | 0x0100 | 0x0080 | (tc << 9) | rcode
        return struct.pack(">HHHHHH", qid, flags, 1, len(answers), 0, 0) + question + \
            b"".join(answers)


# ------------------------------------------------------- next-hop faults

def faulty_peer(fault, bad_sessions=1, stall=0.0, **kw):
    """An SmtpPeer (peers.py) whose first bad_sessions sessions misbehave:

        drop     closes the connection after a few lines of DATA
        stall    reads the whole message, waits `stall` seconds, then
                 answers 250 -- and records the message -- only if the
                 client is still there (a client that gave up before the
                 reply cannot count on the message; a real server might
                 still have kept it: see the README on duplicates)
        garbage  answers the final dot with bytes that are no SMTP reply

    Later sessions are the ordinary recording sink.
    """
    import asyncio

    from peers import SmtpPeer

    class FaultyPeer(SmtpPeer):
        async def _dialogue(self, s, index, reader, writer):
            if index >= bad_sessions:
                return await super()._dialogue(s, index, reader, writer)
            await self._send(writer, self.greeting)
            rcpts, sender = [], None
            while True:
                raw = await reader.readline()
                if not raw:
                    return
                line = raw.decode("latin-1").rstrip("\r\n")
                with self._lock:
                    s.commands.append((False, line))
                verb = line.split(" ", 1)[0].split(":", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    await self._send(writer, f"250-{self.name}\r\n250-PIPELINING\r\n250 8BITMIME")
                elif verb == "MAIL":
                    sender = line[10:].split(">")[0].lstrip("<")
                    await self._send(writer, "250 2.1.0 ok")
                elif verb == "RCPT":
                    rcpts.append(line[8:].split(">")[0].lstrip("<"))
                    await self._send(writer, "250 2.1.5 ok")
                elif verb == "DATA":
                    await self._send(writer, "354 go ahead")
                    body = await self._bad_body(reader, writer)
                    if body is None:
                        return
                    with self._lock:
                        self.messages.append({"sender": sender, "rcpts": rcpts,
                                              "body": body, "tls": False})
                    await self._send(writer, "250 2.0.0 queued after a stall")
                    rcpts = []
                elif verb == "QUIT":
                    await self._send(writer, "221 bye")
                    return
                else:
                    await self._send(writer, "250 ok")

        async def _bad_body(self, reader, writer):
            """The message, or None when this session is to fail."""
            lines = []
            while True:
                raw = await reader.readline()
                if not raw:
                    return None
                if raw == b".\r\n":
                    break
                lines.append(raw[1:] if raw.startswith(b".") else raw)
                if fault == "drop" and len(lines) > 3:
                    return None                 # the connection goes, mid-DATA
            if fault == "garbage":
                writer.write(b"\x00\xff\xfeHTTP/1.1 200 OK\r\nnot smtp\r\n")
                await writer.drain()
                await asyncio.sleep(0.5)
                return None
            if fault == "stall":
                await asyncio.sleep(stall)
                try:
                    await asyncio.wait_for(reader.read(1), 0.05)
                    if reader.at_eof():
                        return None             # the client has gone: no 250 reaches it
                except asyncio.TimeoutError:
                    pass
            return b"".join(lines)

    return FaultyPeer(**kw)


# ------------------------------------------------- OCSP and CRL faults

class BadHttp:
    """An HTTP server on 127.0.0.1:port that misbehaves:

        hang     reads the request and never answers (until the test ends)
        garbage  answers 200 with content_type and bytes that are no DER

    `requests` counts requests seen; `hanging` is how many connections it
    holds open right now (a "meanwhile" can be checked against it).
    """

    def __init__(self, port, mode, content_type="application/ocsp-response"):
        import socket
        import threading
        self.port = port
        self.mode = mode
        self.content_type = content_type
        self.requests = 0
        self.hanging = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self._threads = []
        self._accept = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self._accept.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._accept.join(5)
        for t in self._threads:
            t.join(5)
        self.sock.close()

    def _serve(self):
        import socket
        import threading
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._one, args=(c,), daemon=True)
            self._threads.append(t)
            t.start()

    def _one(self, c):
        with c:
            c.settimeout(5)
            try:
                data = c.recv(65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.requests += 1
            if self.mode == "hang":
                with self._lock:
                    self.hanging += 1
                # hold the connection until the client gives up or the test ends
                c.settimeout(0.1)
                while not self._stop.is_set():
                    try:
                        if c.recv(65536) == b"":
                            break
                    except OSError as e:
                        import socket
                        if isinstance(e, socket.timeout):
                            continue
                        break
                with self._lock:
                    self.hanging -= 1
                return
            body = b"\x30\x82\xff\xff garbage, not DER " * 4
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: " + self.content_type.encode() +
                      b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
