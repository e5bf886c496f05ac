"""Fixtures for integration tests: a real sealgated on loopback.

Each test gets a temporary directory with a config, free loopback ports,
and daemons it starts through `sealgate(...)`. Every daemon is stopped at
teardown, and its log is printed when the test failed.
"""
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("SEALGATE_BIN", REPO / "bin"))
SEALGATED = str(BIN / "sealgated")
SEALCTL = str(BIN / "sealctl")


def free_port(host="127.0.0.1"):
    """A TCP port that was free a moment ago on host."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); look at its state.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def children_of(pid):
    """Direct children of pid, from /proc."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry))
    return out


class Daemon:
    """One sealgated process (master or a single role) with its log file."""

    def __init__(self, conf, args, logfile, env=None, prefix=None):
        self.conf = conf
        self.args = args
        self.logfile = logfile
        self.env = env
        self.prefix = list(prefix or [])     # e.g. valgrind and its options
        self.proc = None
        self._log = None

    def start(self):
        self._log = open(self.logfile, "ab")
        env = dict(os.environ, **(self.env or {}))
        self.proc = subprocess.Popen(
            self.prefix + [SEALGATED, "-c", str(self.conf), "-f"] + self.args,
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=env)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        try:
            return Path(self.logfile).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=10.0, count=1):
        """Wait until pattern (a regex) matched count lines; return the matches."""
        rx = re.compile(pattern)

        def found():
            hits = [m for m in (rx.search(l) for l in self.log().splitlines()) if m]
            if self.proc.poll() is not None and len(hits) < count:
                raise AssertionError(
                    f"sealgated exited ({self.proc.returncode}) before /{pattern}/:\n"
                    + self.log())
            return hits if len(hits) >= count else None
        return wait_until(found, timeout, what=f"log /{pattern}/ x{count}")

    def signal(self, signum):
        self.proc.send_signal(signum)

    def stop(self, timeout=10.0):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError("sealgated did not stop within %ss" % timeout)
        finally:
            self._log.close()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        if self._log:
            self._log.close()


class Env:
    """A test's sealgate world: its directory, config and daemons."""

    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.state_dir = tmp_path / "state"
        self.conf = tmp_path / "sealgate.conf"
        self.daemons = []
        self.smtp_port = free_port()

    def write_config(self, body="", listeners=None):
        """state_dir plus body; by default one plain listener on smtp_port."""
        if listeners is None:
            listeners = f'( {{ address = "127.0.0.1:{self.smtp_port}"; }} )'
        text = f'state_dir = "{self.state_dir}";\n'
        if "smtpd" not in body:
            text += f"smtpd = {{ listeners = {listeners}; }};\n"
        text += body + "\n"
        self.conf.write_text(text)
        return self.conf

    def start(self, role=None, args=(), ready=True, env=None, prefix=None, timeout=10.0):
        """Start the master (role=None) or one role; wait for its readiness.
        prefix runs it under another program (valgrind)."""
        if not self.conf.exists():
            self.write_config()
        extra = (["--role", role] if role else []) + list(args)
        d = Daemon(self.conf, extra, self.dir / f"sealgated-{len(self.daemons)}.log", env,
                   prefix)
        self.daemons.append(d)
        d.start()
        if ready:  # the master says when every role it wanted is ready
            d.wait_log(r"event=ready" if role else r"event=all_ready", timeout=timeout)
        return d

    def sealctl(self, *args, input=None, check=True, text=True):
        """Run sealctl against this config; returns CompletedProcess (text,
        or bytes with text=False)."""
        r = subprocess.run([SEALCTL, "-c", str(self.conf)] + [str(a) for a in args],
                           input=input, capture_output=True, text=text, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError(f"sealctl {args} failed ({r.returncode}):\n"
                                 f"{r.stdout}\n{r.stderr}")
        return r


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def sealgate(tmp_path, request):
    env = Env(tmp_path)
    yield env
    failed = getattr(request.node, "rep_call", None) and request.node.rep_call.failed
    for d in env.daemons:
        d.kill()
        if failed:
            print(f"\n----- {d.logfile} -----\n{d.log()}")
