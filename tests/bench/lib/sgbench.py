"""sgbench - helpers for the end-to-end benchmarks written in Python.

A gateway or a Postfix instance runs on loopback ports of its own, relaying
to a real smtp-sink (Postfix's test server, the same peer for both), and
smtp-source sends the load. What is measured around a run:

- the rate: messages over the time from smtp-source's first connection to
  the sink counting the last message;
- CPU time: utime + stime of every process of the gateway (the master and
  its roles, from /proc), of the sink, and of smtp-source (its rusage),
  summed over the run: the CPU a message costs on this machine, load
  generator and next hop included, the figure the computed limits use;
- peak resident size of each role: VmHWM, read just before the stop (it
  counts the pages of LMDB's map a role has touched, which are page cache
  shared by every role), and the largest RssAnon seen (the role's own
  memory: heap, stacks), sampled every 100 ms.

Nothing here asserts a time: benchmarks print, tests check.
"""

import os
import resource
import signal
import socket
import subprocess
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def children(pid):
    """Direct children of pid (the master's roles)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


def cpu_seconds(pid):
    """utime + stime of pid (all its threads), 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
    except OSError:
        return 0.0
    fields = st[st.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def role_name(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return None
    for i, a in enumerate(argv):
        if a == b"--role" and i + 1 < len(argv):
            return argv[i + 1].decode()
    return None


def peak_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib(pid):
    """(RssAnon, RssFile) of pid in KiB: the heap apart from mapped files
    (LMDB's map counts as file pages, shared and reclaimable)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("RssAnon:", "RssFile:")):
                    out[line.split(":")[0]] = int(line.split()[1])
    except OSError:
        pass
    return out.get("RssAnon", 0), out.get("RssFile", 0)


def sink_count(path):
    """Messages smtp-sink -c has counted: its last "mesg=N"."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 300))
            tail = f.read().replace(b"\r", b"\n").split(b"\n")
    except OSError:
        return 0
    n = 0
    for line in tail:
        i = line.find(b"mesg=")
        if i >= 0:
            digits = line[i + 5:].split()[0] if line[i + 5:].split() else b""
            if digits.isdigit():
                n = int(digits)
    return n


def wait_sink(path, n, secs):
    end = time.time() + secs
    while sink_count(path) < n:
        if time.time() > end:
            raise RuntimeError(f"sink has {sink_count(path)} of {n}")
        time.sleep(0.02)
    return time.time()


class Sink:
    """smtp-sink -c on a port of its own, counting into DIR/sink.out."""

    def __init__(self, workdir, name="sink"):
        self.port = free_port()
        self.out = os.path.join(workdir, name + ".out")
        self.f = open(self.out, "wb")
        self.p = subprocess.Popen(["smtp-sink", "-c", "-u", "nobody",
                                   f"127.0.0.1:{self.port}", "1000"],
                                  stdout=self.f, stderr=subprocess.STDOUT)

    def stop(self):
        self.p.terminate()
        self.p.wait()
        self.f.close()


def source(port, n, msgfile, sender, rcpt, sessions=20):
    """smtp-source; returns its CPU seconds (rusage of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(["smtp-source", "-s", str(sessions), "-m", str(n), "-F", msgfile,
                    "-f", sender, "-t", rcpt, f"127.0.0.1:{port}"], check=True,
                   stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


class Gateway:
    """sealgated -f with a config; its roles found from /proc. A thread
    samples each role's RssAnon every 100 ms for anon_peak()."""

    def __init__(self, binpath, conf, log):
        self.log = open(log, "wb")
        self.p = subprocess.Popen([os.path.join(binpath, "sealgated"), "-f", "-c", conf],
                                  stdout=self.log, stderr=subprocess.STDOUT)
        self.anon = {}
        self.sampling = True
        self.sampler = threading.Thread(target=self.sample, daemon=True)
        self.sampler.start()

    def sample(self):
        while self.sampling and self.p.poll() is None:
            for role, pid in self.roles().items():
                self.anon[role] = max(self.anon.get(role, 0), rss_kib(pid)[0])
            time.sleep(0.1)

    def anon_peak(self):
        """The largest RssAnon (heap, no mapped files) seen per role, KiB."""
        return dict(self.anon)

    def roles(self):
        return {role_name(c): c for c in children(self.p.pid) if role_name(c)}

    def cpu(self):
        return cpu_seconds(self.p.pid) + sum(cpu_seconds(c) for c in self.roles().values())

    def peak_rss(self):
        return {r: peak_rss_kib(pid) for r, pid in self.roles().items()}

    def stop(self):
        self.sampling = False
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


def wait_port(port, secs=20):
    end = time.time() + secs
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False
