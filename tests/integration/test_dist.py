"""Install and service: the manuals, make install, the systemd unit, the Debian package.

What needs a running systemd (the unit started as a service) is tested only
where PID 1 is systemd; elsewhere the test says so and is skipped. What can
be emulated is tested everywhere: systemd-analyze verify and security on the
installed unit, and the unit's capability bounding set and group applied with
setpriv to a real gateway that moves mail.
"""
import gzip
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BIN, REPO, SEALCTL, SEALGATED, children_of, wait_until
from peers import SmtpPeer
from privsep import outside, spare_user  # noqa: F401 (outside is a fixture)
from test_smtpd_util import send_message

# The binaries the suite runs are the ones installed and packaged (the ASan
# build under make check-asan), so nothing is compiled again here.
BUILD = REPO / "build" if BIN == REPO / "bin" else BIN.parent
MAKEVARS = [f"BUILD={BUILD}", f"BINDIR={BIN}"]
ROOT = os.geteuid() == 0


def make(*args):
    r = subprocess.run(["make", "-s", "--no-print-directory", "-C", str(REPO)] + MAKEVARS
                       + list(args), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def pid1():
    try:
        return Path("/proc/1/comm").read_text().strip()
    except OSError:
        return "unknown"


def systemd_running():
    return Path("/run/systemd/system").is_dir()


# ------------------------------------------------------------ manuals

PAGES = {"sealgated.8": BUILD / "man" / "sealgated.8", "sealctl.8": BUILD / "man" / "sealctl.8",
         "sealgate.conf.5": BUILD / "man" / "sealgate.conf.5"}


@pytest.fixture(scope="module")
def manuals():
    make("man")
    return PAGES


def render(page):
    env = dict(os.environ, MANWIDTH="100", LC_ALL="C.UTF-8")
    return subprocess.run(["man", "-l", str(page)], capture_output=True, text=True,
                          env=env, check=True).stdout


@pytest.mark.parametrize("name", sorted(PAGES))
def test_manual_renders_without_warnings(manuals, name):
    page = manuals[name]
    r = subprocess.run(["groff", "-ww", "-man", "-Tutf8", "-z", str(page)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    env = dict(os.environ, MANWIDTH="80")
    r = subprocess.run(["man", "--warnings", "-l", str(page)], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    text = render(page)
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "FILES", "EXAMPLES", "DIAGNOSTICS",
                    "SEE ALSO"):
        assert re.search(rf"^{section}$", text, re.M), f"{name}: no {section} section"
    if name.endswith(".8"):
        assert re.search(r"^EXIT STATUS$", text, re.M)
    assert "@VERSION@" not in page.read_text()


def keys_table():
    out = subprocess.run([SEALGATED, "--keys"], capture_output=True, text=True,
                         check=True).stdout
    return [l.split("\t") for l in out.splitlines()]


def test_conf_manual_has_every_key_of_the_table(manuals):
    text = render(manuals["sealgate.conf.5"])
    rows = keys_table()
    assert len(rows) > 100
    defaults = subprocess.run([SEALGATED, "-d"], capture_output=True, text=True,
                              check=True).stdout
    assert len([r for r in rows if "[]" not in r[0]]) == len(defaults.splitlines())
    missing = []
    for key, typ, default, live, required, *_ in rows:
        short = key.rsplit(".", 1)[-1]
        if not re.search(rf"^\s+{re.escape(short)}(\s|$)", text, re.M):
            missing.append(key)
    assert not missing, f"not in sealgate.conf(5): {missing}"
    # each section is there, with its defaults and reload behaviour
    for section in ("queue", "certs", "smtpd", "worker", "delivery"):
        assert re.search(rf"^   {section}$", text, re.M)
    assert re.search(r'^\s+lease\s.*\n\s+Default: "5m"\.\s+A change needs a restart',
                     text, re.M), "queue.lease"
    assert re.search(r'^\s+max_message_size\n.*\n\s+Default: "50M"\.\s+SIGHUP applies',
                     text, re.M), "smtpd.max_message_size"


def generate(example, keys_text):
    return subprocess.run([shutil.which("python3") or "/usr/bin/python3",
                           str(REPO / "dist" / "man" / "conf-man.py"), "--example",
                           str(example)], input=keys_text, capture_output=True, text=True)


def test_conf_manual_generator_fails_when_code_and_example_drift(tmp_path):
    keys = subprocess.run([SEALGATED, "--keys"], capture_output=True, text=True,
                          check=True).stdout
    example = (REPO / "sealgate.conf.example").read_text()
    assert generate(REPO / "sealgate.conf.example", keys).returncode == 0
    cases = {
        # a key without its comment
        "queue.chunk_size: no comment describes it":
            example.replace("\t# Bodies are stored in chunks of this size (no single huge "
                            "value).\n", "\n"),
        # a key the code does not have
        "queue.bogus is set in the example but is not a key":
            example.replace("\tcommit_batch = 256;", "\tbogus = 1;\n\tcommit_batch = 256;"),
        # a key the example lost
        "smtpd.max_hops: not in the example":
            re.sub(r"\t# More Received fields.*\n\tmax_hops = 50;\n", "", example),
        # a restart mark that lies
        "queue.track_keep: the example says needs restart":
            example.replace('track_keep = "7d";', 'track_keep = "7d";  # needs restart'),
    }
    for message, text in cases.items():
        assert text != example, message
        p = tmp_path / "example"
        p.write_text(text)
        r = generate(p, keys)
        assert r.returncode == 1 and message in r.stderr, (message, r.stderr)
    # a key added to the code (a list element here) that nobody documented
    r = generate(REPO / "sealgate.conf.example",
                 keys + "smtpd.listeners[].backlog\tint\t511\tlive\t\t\t\t\n")
    assert r.returncode == 1 and "smtpd.listeners[].backlog: not mentioned" in r.stderr


def usage_verbs(line):
    """("queue", ["hold", "release", ...]) from one line of sealctl --help."""
    m = re.match(r"^\s+sealctl (\w+) (.*)$", line) or re.match(r"^\s+sealctl (\w+)()$", line)
    if not m:
        return None, []
    rest = m.group(2)
    while re.search(r"\[[^\[\]]*\]", rest):
        rest = re.sub(r"\[[^\[\]]*\]", "", rest)
    verbs = []
    for alt in rest.split("|"):
        words = alt.split()
        if words and re.fullmatch(r"[a-z]+", words[0]):
            verbs.append(words[0])
    return m.group(1), verbs


def test_sealctl_manual_describes_every_command(manuals):
    """Every command and verb of sealctl --help is in sealctl(8)'s COMMANDS:
    a command added to the table without its manual entry fails here."""
    text = render(manuals["sealctl.8"])
    commands = text.split("\nCOMMANDS\n", 1)[1].split("\nFILES\n", 1)[0]
    usage = subprocess.run([SEALCTL, "--help"], capture_output=True, text=True,
                           check=True).stdout
    missing, seen = [], 0
    for line in usage.splitlines():
        cmd, verbs = usage_verbs(line)
        if cmd is None:
            continue
        seen += 1
        if not re.search(rf"^\s+{cmd}\b", commands, re.M):
            missing.append(cmd)
        for v in verbs:
            if not re.search(rf"^\s+{cmd}\b.*\b{v}\b", commands, re.M):
                missing.append(f"{cmd} {v}")
    assert seen >= 15, usage
    assert not missing, f"sealctl(8) does not describe: {missing}"
    assert usage_verbs("       sealctl queue hold|release ID... | - | --all [--to P]") == \
        ("queue", ["hold", "release"])


# ------------------------------------------------------------ make install

UNIT = "sealgate.service"


def installed(tmp_path, prefix):
    dest = tmp_path / "root"
    make("install", f"DESTDIR={dest}", f"PREFIX={prefix}")
    return dest


def verify_root(dest):
    """A root systemd-analyze can load the unit in: the host's targets and
    slices beside what make install put there."""
    lib = dest / "usr" / "lib" / "systemd" / "system"
    lib.mkdir(parents=True, exist_ok=True)
    for f in Path("/lib/systemd/system").iterdir():
        if f.suffix in (".target", ".slice") and not (lib / f.name).exists():
            shutil.copy(f, lib / f.name, follow_symlinks=True)
    return dest


def test_make_install_with_destdir(tmp_path):
    dest = installed(tmp_path, "/usr")
    for path in ("usr/sbin/sealgated", "usr/sbin/sealctl", "etc/sealgate/sealgate.conf",
                 "usr/share/man/man8/sealgated.8.gz", "usr/share/man/man8/sealctl.8.gz",
                 "usr/share/man/man5/sealgate.conf.5.gz", "lib/systemd/system/sealgate.service",
                 "usr/share/doc/sealgate/sealgate.conf.example"):
        assert (dest / path).is_file(), path
    assert os.access(dest / "usr/sbin/sealgated", os.X_OK)
    unit = (dest / "lib/systemd/system/sealgate.service").read_text()
    assert "ExecStart=/usr/sbin/sealgated -f --syslog -c /etc/sealgate/sealgate.conf" in unit
    assert "@" not in unit.replace("@system-service", "")
    conf = (dest / "etc/sealgate/sealgate.conf").read_text()
    assert re.search(r'^user = "sealgate";  # needs restart$', conf, re.M)
    assert re.search(r'^group = "sealgate";  # needs restart$', conf, re.M)
    assert re.search(r'^worker_user = "sealgate-crypto";  # needs restart$', conf, re.M)
    assert re.search(r'^\ttls_db_dir = "/var/lib/sealgate/tlsdb";  # needs restart$', conf, re.M)
    assert re.search(r'^state_dir = "/var/lib/sealgate";', conf, re.M)
    assert gzip.decompress((dest / "usr/share/man/man5/sealgate.conf.5.gz").read_bytes()) \
        .startswith(b".\\\" sealgate.conf.5 - generated")
    # an existing configuration is never overwritten
    (dest / "etc/sealgate/sealgate.conf").write_text("# mine\n")
    r = make("install", f"DESTDIR={dest}", "PREFIX=/usr")
    assert (dest / "etc/sealgate/sealgate.conf").read_text() == "# mine\n"
    assert "keeping" in r.stdout
    # from source, under /usr/local, with a unit systemd finds there
    local = installed(tmp_path / "local", "/usr/local")
    unit = (local / "usr/local/lib/systemd/system/sealgate.service").read_text()
    assert "ExecStart=/usr/local/sbin/sealgated -f --syslog -c /etc/sealgate/sealgate.conf" in unit
    assert (local / "usr/local/sbin/sealctl").is_file()
    make("uninstall", f"DESTDIR={local}", "PREFIX=/usr/local")
    assert not (local / "usr/local/sbin/sealctl").exists()
    assert (local / "etc/sealgate/sealgate.conf").is_file()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_installed_unit_passes_systemd_analyze_verify(tmp_path):
    dest = verify_root(installed(tmp_path, "/usr"))
    # MANPATH: Documentation= must name manuals that exist, in the installed tree
    env = dict(os.environ, MANPATH=str(dest / "usr/share/man"))
    r = subprocess.run(["systemd-analyze", "verify", f"--root={dest}", UNIT],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    # the check can fail: a unit whose binary is missing does not verify
    (dest / "usr/sbin/sealgated").unlink()
    r = subprocess.run(["systemd-analyze", "verify", f"--root={dest}", UNIT],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode != 0 and "sealgated" in r.stderr
    # hardening: systemd's own exposure score stays "OK" (3.0 today; 10 is a bare unit)
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", f"--root={dest}",
                        "--no-pager", UNIT], capture_output=True, text=True, cwd=tmp_path)
    m = re.search(r"Overall exposure level for sealgate\.service: ([\d.]+) (\w+)", r.stdout)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 3.5, m.group(0)


def unit_settings():
    text = (REPO / "dist" / "sealgate.service.in").read_text()
    return dict(re.findall(r"^(\w+)=(.*)$", text, re.M))


def low_port():
    for port in range(600, 1024):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    pytest.skip("no free port below 1024 on 127.0.0.1")


def under_unit_limits(caps, gid, conf, log):
    """sealgated as the unit runs it (root, Group=, CapabilityBoundingSet=,
    NoNewPrivileges=), with setpriv standing in for systemd."""
    bounding = "-all," + ",".join("+" + c.lower().replace("cap_", "") for c in caps)
    return subprocess.Popen(
        ["setpriv", f"--regid={gid}", "--clear-groups", f"--bounding-set={bounding}",
         "--no-new-privs", "--", SEALGATED, "-f", "--syslog", "-c", str(conf)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


@pytest.mark.skipif(not ROOT or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to apply the unit's limits")
def test_the_units_capabilities_and_group_are_enough_to_move_mail(sealgate, outside, tmp_path):
    """The unit's CapabilityBoundingSet, its Group= and a state directory as
    StateDirectory= makes it (root:GROUP 0770), applied with setpriv: the
    gateway binds a port below 1024, drops to its users (smtpd and delivery
    to user, the worker to worker_user), moves mail, reloads, reports
    healthy and stops cleanly; and leaves the state directory's owner alone
    (systemd would otherwise chown it back on every start). Without
    CAP_NET_BIND_SERVICE it refuses to start, and without CAP_DAC_OVERRIDE
    the root master cannot reach the worker's files: the limits are real,
    and that one is still needed."""
    unit = unit_settings()
    caps = unit["CapabilityBoundingSet"].split()
    assert unit["NoNewPrivileges"] == "yes" and unit["Group"] == "sealgate"
    import grp
    import pwd
    group = grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
    worker = spare_user()
    port = low_port()
    state = sealgate.state_dir
    state.mkdir(mode=0o770)
    os.chown(state, 0, grp.getgrnam(group).gr_gid)
    os.chmod(state, 0o770)
    with SmtpPeer() as sink:
        conf = sealgate.write_config(
            f'user = "nobody";\ngroup = "{group}";\nworker_user = "{worker}";\n'
            'own_domains = [ "own.test" ];\n'
            f'delivery = {{ routes = ( {{ domains = [ "own.test" ]; '
            f'hosts = [ "127.0.0.1:{sink.port}" ]; tls = "none"; }} ); }};\n',
            listeners=f'( {{ address = "127.0.0.1:{port}"; }} )')
        log = open(tmp_path / "unit.log", "wb")
        p = under_unit_limits(caps, group, conf, log)
        try:
            wait_until(lambda: sealgate.sealctl("status", check=False).returncode == 0,
                       timeout=20, what="the gateway up under the unit's limits")
            kids = children_of(p.pid)
            uids = sorted(os.stat(f"/proc/{k}").st_uid for k in kids)
            assert uids == sorted([pwd.getpwnam("nobody").pw_uid] * 2
                                  + [pwd.getpwnam(worker).pw_uid]), uids
            assert send_message(port, rcpts=["u@own.test"])[0] == 250
            wait_until(lambda: len(sink.messages) == 1, what="the message at the sink")
            p.send_signal(signal.SIGHUP)      # no role is root: CAP_KILL reaches them
            time.sleep(0.5)
            assert sealgate.sealctl("status", check=False).returncode == 0
            st = os.stat(state)
            assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == \
                (0, grp.getgrnam(group).gr_gid, 0o770)
        finally:
            t0 = time.monotonic()
            p.send_signal(signal.SIGTERM)
            rc = p.wait(15)
            log.close()
        assert rc == 0 and time.monotonic() - t0 < 5, (tmp_path / "unit.log").read_text()
        assert "role_kill" not in (tmp_path / "unit.log").read_text()
    # negative controls: one capability fewer, and it cannot bind port 25's kind ...
    with open(tmp_path / "nobind.log", "wb") as log:
        p = under_unit_limits([c for c in caps if c != "CAP_NET_BIND_SERVICE"], group, conf, log)
        assert p.wait(20) == 1
    assert "ports below 1024 need root" in (tmp_path / "nobind.log").read_text()
    # ... nor, as root, reach what is the worker's alone (its lock, its key database)
    with open(tmp_path / "nodac.log", "wb") as log:
        p = under_unit_limits([c for c in caps if c != "CAP_DAC_OVERRIDE"], group, conf, log)
        assert p.wait(20) == 1
    assert re.search(r"event=(state_dir_failed|certs_open_failed) .*denied",
                     (tmp_path / "nodac.log").read_text(), re.I)


# ------------------------------------------------------------ the package

@pytest.fixture(scope="module")
def deb():
    if shutil.which("dpkg-deb") is None:
        pytest.skip("no dpkg-deb")
    make("deb")
    debs = sorted(BUILD.glob("sealgate_*.deb"))
    assert debs
    return debs[-1]


def test_make_deb_lists_binaries_unit_manuals_and_config(deb):
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert re.fullmatch(rf"sealgate_\d+\.\d+\.\d+_{arch}\.deb", deb.name)
    listing = subprocess.run(["dpkg", "-c", str(deb)], capture_output=True, text=True,
                             check=True).stdout
    for path in ("./usr/sbin/sealgated", "./usr/sbin/sealctl",
                 "./lib/systemd/system/sealgate.service", "./etc/sealgate/sealgate.conf",
                 "./usr/share/man/man8/sealgated.8.gz", "./usr/share/man/man8/sealctl.8.gz",
                 "./usr/share/man/man5/sealgate.conf.5.gz",
                 "./usr/share/doc/sealgate/sealgate.conf.example"):
        assert re.search(rf" {re.escape(path)}$", listing, re.M), path
    assert re.search(r"^-rwxr-xr-x root/root .* \./usr/sbin/sealgated$", listing, re.M)
    info = subprocess.run(["dpkg-deb", "-I", str(deb)], capture_output=True, text=True,
                          check=True).stdout
    depends = re.search(r"^ Depends: (.*)$", info, re.M).group(1)
    for lib in ("libnss3", "liblmdb0", "libuv1", "libconfig9", "libc-ares2", "adduser"):
        assert re.search(rf"\b{lib}\b", depends), (lib, depends)
    ctl = subprocess.run(["dpkg-deb", "--ctrl-tarfile", str(deb)], capture_output=True,
                         check=True).stdout
    import io
    import tarfile
    names = tarfile.open(fileobj=io.BytesIO(ctl)).getnames()
    for f in ("./conffiles", "./postinst", "./prerm", "./postrm", "./control"):
        assert f in names, names


def dpkg(*args):
    """dpkg, waiting while another process holds its lock (apt in parallel)."""
    deadline = time.monotonic() + 120
    while True:
        r = subprocess.run(["dpkg"] + list(args), capture_output=True, text=True,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        if r.returncode == 0 or "lock" not in r.stderr or time.monotonic() > deadline:
            return r
        time.sleep(2)


def user_exists(name):
    return subprocess.run(["getent", "passwd", name], capture_output=True).returncode == 0


@pytest.mark.skipif(not ROOT, reason="installing a package needs root")
def test_package_installs_and_is_removed_cleanly(deb):
    status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "sealgate"],
                            capture_output=True, text=True).stdout
    if "installed" in status or user_exists("sealgate") or user_exists("sealgate-crypto"):
        pytest.skip("a sealgate package or user is already on this machine; not touching it")
    try:
        r = dpkg("-i", str(deb))
        assert r.returncode == 0, r.stdout + r.stderr
        assert user_exists("sealgate") and user_exists("sealgate-crypto")
        import pwd
        assert pwd.getpwnam("sealgate-crypto").pw_gid == pwd.getpwnam("sealgate").pw_gid
        for path in ("/usr/sbin/sealgated", "/usr/sbin/sealctl", "/etc/sealgate/sealgate.conf",
                     "/lib/systemd/system/sealgate.service",
                     "/usr/share/man/man8/sealctl.8.gz"):
            assert Path(path).exists(), path
        st = os.stat("/var/lib/sealgate")
        import grp
        assert st.st_uid == 0 and st.st_gid == grp.getgrnam("sealgate").gr_gid
        assert st.st_mode & 0o777 == 0o770
        conf = os.stat("/etc/sealgate/sealgate.conf")
        assert conf.st_mode & 0o777 == 0o640 and conf.st_gid == grp.getgrnam("sealgate").gr_gid
        # the installed configuration is valid as it is (its user exists now)
        r = subprocess.run(["/usr/sbin/sealgated", "-n"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert subprocess.run(["man", "-w", "sealgate.conf"], capture_output=True).returncode == 0
        # nothing was started: no gateway runs, none was enabled
        r = subprocess.run(["/usr/sbin/sealctl", "status"], capture_output=True, text=True)
        assert r.returncode == 2 and "NOT RUNNING" in r.stdout
        assert not Path("/etc/systemd/system/multi-user.target.wants/sealgate.service").exists()

        r = dpkg("-r", "sealgate")
        assert r.returncode == 0, r.stdout + r.stderr
        left = subprocess.run(["dpkg", "-L", "sealgate"], capture_output=True, text=True).stdout
        kept = [l for l in left.splitlines() if Path(l).is_file()]
        assert kept == ["/etc/sealgate/sealgate.conf"], kept     # only the conffile
        for path in ("/usr/sbin/sealgated", "/lib/systemd/system/sealgate.service"):
            assert not Path(path).exists(), path
        assert user_exists("sealgate") and Path("/var/lib/sealgate").is_dir()

        r = dpkg("-P", "sealgate")
        assert r.returncode == 0, r.stdout + r.stderr
        assert not Path("/etc/sealgate").exists()
        assert not Path("/var/lib/sealgate").exists()
        assert not user_exists("sealgate") and not user_exists("sealgate-crypto")
        assert "not-installed" in subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", "sealgate"], capture_output=True,
            text=True).stdout or subprocess.run(
            ["dpkg-query", "-W", "sealgate"], capture_output=True).returncode != 0
    finally:
        dpkg("-P", "sealgate")


@pytest.mark.skipif(not systemd_running(),
                    reason=f"PID 1 is {pid1()!r}, not systemd: the unit cannot be started "
                    "as a service on this machine (systemd-analyze verify and the setpriv "
                    "emulation above cover what can be checked)")
@pytest.mark.skipif(not ROOT, reason="needs root")
def test_service_runs_under_systemd(deb, tmp_path):
    status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "sealgate"],
                            capture_output=True, text=True).stdout
    if "installed" in status or user_exists("sealgate") or user_exists("sealgate-crypto"):
        pytest.skip("a sealgate package or user is already on this machine; not touching it")
    port = low_port()
    try:
        assert dpkg("-i", str(deb)).returncode == 0
        conf = Path("/etc/sealgate/sealgate.conf")
        conf.write_text(conf.read_text().replace('"127.0.0.1:25"', f'"127.0.0.1:{port}"'))
        subprocess.run(["systemctl", "start", "sealgate"], check=True, timeout=60)
        assert subprocess.run(["systemctl", "is-active", "sealgate"],
                              capture_output=True, text=True).stdout.strip() == "active"
        r = subprocess.run(["/usr/sbin/sealctl", "status"], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout
        assert send_message(port, sender="a@x.test", rcpts=["postmaster@localhost"])[0] in \
            (250, 550)
        subprocess.run(["systemctl", "reload", "sealgate"], check=True, timeout=60)
        assert subprocess.run(["/usr/sbin/sealctl", "status"]).returncode == 0
        subprocess.run(["systemctl", "stop", "sealgate"], check=True, timeout=60)
        r = subprocess.run(["/usr/sbin/sealctl", "status"], capture_output=True, text=True)
        assert r.returncode == 2
    finally:
        subprocess.run(["systemctl", "stop", "sealgate"], capture_output=True)
        dpkg("-P", "sealgate")
