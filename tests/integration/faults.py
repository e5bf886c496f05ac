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
