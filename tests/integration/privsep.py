"""What a running gateway's processes may do, read from /proc and tried out.

    from privsep import outside, spare_user, roles_of, broken_promises
    def test_x(sealgate, outside): ...  # config and state_dir users can reach
    worker_user = spare_user()          # a second unprivileged user, or skip
    pids = roles_of(daemon)             # {"smtpd": pid, "worker": pid, ...}
    broken_promises(pids, user="nobody", group="nogroup",
                    worker_user=worker_user, nssdb=state / "nssdb")

broken_promises() returns one line for each thing that breaks "no role runs
as root, no private key faces the network", so a test asserts it is empty
and a negative control asserts what it finds. Each check is done the way
an attacker in that process would meet it:

- /proc/PID/status: every uid and gid (real, effective, saved, file
  system) and the groups, and the capability sets (CapEff, CapPrm, CapAmb
  must be 0: a process that kept one could reach files or ports root can);
- dumpable (no core, no ptrace or /proc access by the same uid): the
  kernel gives the files in /proc/PID of a process that is not dumpable
  to root (the directory itself keeps showing the euid), and
  refuses /proc/PID/environ to a reader of the same uid (PTRACE_MODE_READ,
  which Yama's ptrace_scope does not touch); the core size limit is 0;
- the key database: as the network-facing user (setpriv, no groups but
  its own), opening nssdb/key4.db must fail with EACCES, and no
  network-facing role may hold it open (/proc/PID/fd).
"""
import grp
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

PROBE_OPEN = """
import errno, sys
try:
    open(sys.argv[1], "rb").read(1)
    print("read")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
"""


def spare_user():
    """An unprivileged user other than nobody to stand for worker_user
    (the tests never create users: they use one the system has)."""
    for name in ("daemon", "games", "bin"):
        try:
            if pwd.getpwnam(name).pw_uid != 0:
                return name
        except KeyError:
            continue
    pytest.skip("no second unprivileged user on this system")


@pytest.fixture
def outside(sealgate):
    """The test's configuration and state directory in a directory of their
    own under /tmp, which other users may pass through (0711). Roles that
    are no longer root open files by name (the worker all of them, every
    role its configuration on SIGHUP); pytest's own directories will not
    do: every pytest session that starts meanwhile makes /tmp/pytest-of-USER
    0700 again. The daemons are stopped before the directory goes."""
    d = Path(tempfile.mkdtemp(prefix="sealgate-privsep-"))
    os.chmod(d, 0o711)
    sealgate.state_dir = d / "state"
    sealgate.conf = d / "sealgate.conf"
    yield d
    for daemon in sealgate.daemons:
        daemon.kill()
    shutil.rmtree(d, ignore_errors=True)


def roles_of(daemon):
    """The current pid of each role, from the master's log (a Daemon, or
    the text of its log)."""
    pids = {}
    text = daemon if isinstance(daemon, str) else daemon.log()
    for line in text.splitlines():
        m = re.search(r"event=role_started role=(\w+) pid=(\d+)", line)
        if m:
            pids[m.group(1)] = int(m.group(2))
    return pids


def as_user(user, group, *argv):
    """argv as user:group with no supplementary groups and no capabilities."""
    uid = pwd.getpwnam(user).pw_uid
    gid = grp.getgrnam(group).gr_gid
    return subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                           "--inh-caps=-all", "--"] + [str(a) for a in argv],
                          capture_output=True, text=True, timeout=30)


def try_open(user, group, path):
    """What opening path for reading gives user: "read" or an errno name."""
    r = as_user(user, group, "/usr/bin/python3", "-c", PROBE_OPEN, path)
    return r.stdout.strip() or r.stderr.strip()


def status(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        fields[k] = v.split()
    return fields


def dumpable_problems(pid, user, group):
    """Why pid could leave a core or be read by its own uid; [] if it cannot."""
    out = []
    st = os.stat(f"/proc/{pid}/status")
    if st.st_uid != 0:
        out.append(f"/proc/{pid}/status belongs to uid {st.st_uid}: the process is dumpable")
    r = try_open(user, group, f"/proc/{pid}/environ")
    if r != "EACCES":
        out.append(f"{user} can read /proc/{pid}/environ ({r}): the process is dumpable")
    limits = Path(f"/proc/{pid}/limits").read_text()
    core = re.search(r"^Max core file size\s+(\S+)\s+(\S+)", limits, re.M)
    if core is None or core.groups() != ("0", "0"):
        out.append(f"pid {pid}: core file size limit is {core.groups() if core else '?'}")
    return out


def identity_problems(role, pid, uid, gid):
    """Why the role's process is not exactly uid:gid without capabilities."""
    out = []
    s = status(pid)
    uids, gids = [int(x) for x in s["Uid"]], [int(x) for x in s["Gid"]]
    groups = [int(x) for x in s.get("Groups", [])]
    if 0 in uids or 0 in gids or 0 in groups:
        out.append(f"{role} runs as root (Uid {uids}, Gid {gids}, Groups {groups})")
    if set(uids) != {uid}:
        out.append(f"{role} runs as uid {sorted(set(uids))}, not {uid}")
    if set(gids) != {gid}:
        out.append(f"{role} runs as gid {sorted(set(gids))}, not {gid}")
    for cap in ("CapEff", "CapPrm", "CapAmb"):
        if int(s[cap][0], 16) != 0:
            out.append(f"{role} keeps capabilities: {cap} {s[cap][0]}")
    return out


def held_open(pid):
    """The files pid holds open."""
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
    return out


def broken_promises(pids, user, group, worker_user, nssdb):
    """Every way the running roles break the promise (see the module)."""
    out = []
    uid, gid = pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid
    wuid = pwd.getpwnam(worker_user).pw_uid
    missing = {"smtpd", "worker", "delivery"} - set(pids)
    out += [f"{role} is not running" for role in sorted(missing)]
    for role, pid in sorted(pids.items()):   # metrics and cluster too, when started
        out += identity_problems(role, pid, wuid if role == "worker" else uid, gid)
        out += dumpable_problems(pid, worker_user if role == "worker" else user, group)
    key_db = Path(nssdb) / "key4.db"
    r = try_open(user, group, key_db)
    if r != "EACCES":
        out.append(f"{user} (smtpd, delivery) opening {key_db}: {r}")
    for role, pid in sorted(pids.items()):
        if role == "worker":
            continue
        for path in held_open(pid):
            # delivery alone reads the public part (cert9.db, nokeys-key4.db)
            if path == str(key_db) or (role != "delivery" and path.startswith(f"{nssdb}/")):
                out.append(f"{role} holds {path} open")
    return out
