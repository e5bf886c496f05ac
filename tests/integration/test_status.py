"""sealctl status: a running gateway that moved mail, a degraded one, a stopped one;
and what the master publishes for it (master.status, the pidfile lock, sd_notify)."""
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from conftest import SEALGATED, children_of, free_port, wait_until
from peers import SmtpPeer
from test_smtpd_util import send_message

ROLES = ("smtpd", "worker", "delivery")

CA_CNF = """[ca]
default_ca = d
[d]
dir = .
database = index.txt
new_certs_dir = .
serial = serial
crlnumber = crlnumber
default_md = sha256
policy = p
unique_subject = no
copy_extensions = none
[p]
commonName = supplied
[ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = emailProtection
"""


def mini_pki(d):
    """An EC CA with a CRL valid for a day, a gateway certificate that expires
    in 10 days ("soon") and one that expired in 2024 ("old"), as .p12 files."""
    d.mkdir()
    (d / "ca.cnf").write_text(CA_CNF)
    (d / "index.txt").touch()
    (d / "serial").write_text("1000\n")
    (d / "crlnumber").write_text("01\n")

    def ossl(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True)
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=Status Test CA", "-days", "30",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, dates in (("soon", ["-days", "10"]),
                        ("old", ["-startdate", "20240101000000Z", "-enddate", "20240201000000Z"])):
        ossl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name} gateway")
        ossl("ca", "-batch", "-notext", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile",
             "ca.key", "-in", f"{name}.csr", "-out", f"{name}.pem", "-extensions", "ext", *dates)
        ossl("pkcs12", "-export", "-inkey", f"{name}.key", "-in", f"{name}.pem", "-name",
             f"{name} gateway", "-passout", "pass:", "-out", f"{name}.p12")
    ossl("ca", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-gencrl",
         "-crldays", "1", "-out", "ca.crl")
    (d / "pw").write_text("\n")
    return d


def status(env, *args):
    return env.sealctl("status", *args, check=False)


def status_json(env):
    r = status(env, "--json")
    return r.returncode, json.loads(r.stdout)


def role_pid(daemon, role, count=1):
    m = daemon.wait_log(rf"event=role_started role={role} pid=(\d+)", count=count)
    return int(m[-1].group(1))


def test_status_of_a_gateway_that_moved_mail(sealgate, tmp_path):
    pki = mini_pki(tmp_path / "pki")
    with SmtpPeer() as sink:
        sealgate.write_config(
            'own_domains = [ "own.test" ];\n'
            f'delivery = {{ routes = ( {{ domains = [ "own.test" ]; '
            f'hosts = [ "127.0.0.1:{sink.port}" ]; tls = "none"; }} ); }};\n')
        sealgate.state_dir.mkdir()
        sealgate.sealctl("cert", "init")
        sealgate.sealctl("cert", "import", pki / "ca.pem", "--ca")
        sealgate.sealctl("cert", "import", pki / "soon.p12", "--password-file", pki / "pw",
                         "--gateway", "soon.test")
        sealgate.sealctl("crl", "import", pki / "ca.crl")
        d = sealgate.start()
        for i in range(3):
            assert send_message(sealgate.smtp_port, rcpts=[f"u{i}@own.test"])[0] == 250
        wait_until(lambda: len(sink.messages) == 3, what="three messages at the sink")
        held = sealgate.sealctl("queue", "inject", "--rcpt", "h@elsewhere.test", "--state",
                                "hold", input="Subject: held\r\n\r\nx\r\n").stdout.strip()
        # the three are gone from the queue too, not only at the sink
        wait_until(lambda: [json.loads(l)["queue_id"] for l in sealgate.sealctl(
            "queue", "list", "--json").stdout.splitlines()] == [held],
            what="only the held message left in the queue")

        r = status(sealgate)
        assert r.returncode == 0, r.stdout + r.stderr
        lines = r.stdout.splitlines()
        assert lines[0].startswith("sealgate OK: 3 roles running, 1 listener bound, "
                                   "1 message queued |"), lines[0]
        assert " hold=1 " in lines[0]
        pids = {}
        for role in ROLES:
            m = re.search(rf"^role +{role} +running +pid (\d+), up \S+, restarts 0$",
                          r.stdout, re.M)
            assert m, r.stdout
            pids[role] = int(m.group(1))
        assert sorted(pids.values()) == sorted(children_of(d.pid))
        assert re.search(rf"^master +pid {d.pid}, up ", r.stdout, re.M)
        assert re.search(rf"^listener +127\.0\.0\.1:{sealgate.smtp_port} "
                         rf"127\.0\.0\.1:{sealgate.smtp_port} bound$", r.stdout, re.M)
        assert re.search(r"^queue +incoming 0, working 0, ready 0, deferred 0, hold 1; "
                         rf"oldest \S+ \({held}\)$", r.stdout, re.M), r.stdout
        assert re.search(r"^database +\S+ in use of a 16\.0G map \(0\.\d%\), data\.mdb \S+, "
                         r"\d+ of 256 readers$", r.stdout, re.M), r.stdout
        assert re.search(r'^certificate +"soon gateway" \(gateway soon\.test, [0-9a-f]{16}\) '
                         r"expires in (9d2[0-3]h|10d0h)$", r.stdout, re.M), r.stdout
        assert re.search(r'^crl +"CN=Status Test CA" updated \S+ ago, next update in '
                         r"(23h\d+m|1d0h)$", r.stdout, re.M), r.stdout

        rc, j = status_json(sealgate)
        assert rc == 0 and j["status"] == "ok" and j["exit"] == 0 and j["problems"] == []
        assert j["master"]["pid"] == d.pid and j["master"]["state"] == "running"
        assert {ro["name"]: ro["pid"] for ro in j["roles"]} == pids
        for ro in j["roles"]:
            assert ro["state"] == "running" and ro["restarts"] == 0 and ro["last_exit"] is None
            assert 0 <= ro["uptime_s"] < 120
        assert j["listeners"] == [{"name": f"127.0.0.1:{sealgate.smtp_port}",
                                   "address": f"127.0.0.1:{sealgate.smtp_port}",
                                   "bound": True, "error": None}]
        q = j["queue"]
        assert (q["incoming"], q["working"], q["ready"], q["deferred"], q["hold"]) == \
            (0, 0, 0, 0, 1)
        assert q["oldest_id"] == held and q["incidents_open"] == 0
        db = j["database"]
        assert db["used_bytes"] > 0 and db["map_bytes"] == 16 << 30 and db["max_readers"] == 256
        assert [c["nickname"] for c in j["certificates"]] == ["soon gateway"]
        assert j["certificates"][0]["expired"] is False
        assert j["certificates"][0]["days_left"] in (9, 10)
        assert j["certificates_checked"] == 1
        assert [c["issuer"] for c in j["crls"]] == ["CN=Status Test CA"]
        assert j["crls"][0]["stale"] is False and j["crls"][0]["age_s"] < 120

        # An expired gateway certificate is a reason to look: exit 1.
        sealgate.sealctl("cert", "import", pki / "old.p12", "--password-file", pki / "pw",
                         "--gateway", "old.test")
        r = status(sealgate)
        assert r.returncode == 1
        assert r.stdout.startswith('sealgate DEGRADED: certificate "old gateway" (gateway '
                                   'old.test) expired on 2024-02-01T00:00:00Z |'), r.stdout
        rc, j = status_json(sealgate)
        assert rc == 1 and j["status"] == "degraded"
        old = [c for c in j["certificates"] if c["nickname"] == "old gateway"]
        assert old and old[0]["expired"] is True and old[0]["days_left"] < -300
        # TLS server certificates are watched too (sealctl reads the file: the
        # daemon, with no TLS listener, does not care)
        conf = sealgate.conf.read_text()
        sealgate.conf.write_text(conf + 'certs = { tls_sni_certs = [ "soon gateway" ]; };\n')
        rc, j = status_json(sealgate)
        soon = [c for c in j["certificates"] if c["nickname"] == "soon gateway"]
        assert soon[0]["use"] == "gateway soon.test, tls" and j["certificates_checked"] == 2


def test_a_role_killed_again_and_again_is_degraded(sealgate):
    d = sealgate.start()
    for i in range(3):
        pid = role_pid(d, "worker", i + 1)
        d.wait_log(r"role=worker event=ready", count=i + 1)
        os.kill(pid, signal.SIGKILL)
        d.wait_log(rf"event=role_exited role=worker pid={pid} ")
    r = status(sealgate)
    assert r.returncode == 1, r.stdout
    first = r.stdout.splitlines()[0]
    assert first.startswith("sealgate DEGRADED: role worker ")
    assert "3 failures in a row" in first and "killed by signal 9 (KILL)" in first, first
    rc, j = status_json(sealgate)
    assert rc == 1 and j["status"] == "degraded"
    assert any(p.startswith("role worker ") for p in j["problems"]), j["problems"]
    w = [ro for ro in j["roles"] if ro["name"] == "worker"][0]
    assert w["failures"] == 3 and w["restarts"] >= 2
    assert w["last_exit"]["signal"] == 9 and w["last_exit"]["reason"] == \
        "killed by signal 9 (KILL)"
    # smtpd and delivery did nothing wrong
    assert not any(p.startswith(("role smtpd", "role delivery")) for p in j["problems"])


def test_a_listener_that_cannot_bind_is_degraded_with_its_error(sealgate):
    conf = sealgate.write_config()
    d = sealgate.start()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        conf.write_text(conf.read_text().replace(
            "; } )", f'; }}, {{ address = "127.0.0.1:{port}"; name = "busy"; }} )'))
        d.signal(signal.SIGHUP)
        d.wait_log(r"event=role_exited role=smtpd .*status=1 ")
        r = status(sealgate)
        assert r.returncode == 1, r.stdout
        assert f"listener busy (127.0.0.1:{port}) is not bound: address already in use" \
            in r.stdout.splitlines()[0], r.stdout
        assert re.search(rf"^listener +busy 127\.0\.0\.1:{port} not bound: address already "
                         "in use$", r.stdout, re.M), r.stdout
        rc, j = status_json(sealgate)
        assert rc == 1
        byname = {li["name"]: li for li in j["listeners"]}
        assert byname["busy"]["bound"] is False
        assert byname["busy"]["error"] == "address already in use"
        # the other listener is down with it: smtpd binds all or none
        other = byname[f"127.0.0.1:{sealgate.smtp_port}"]
        assert other["bound"] is False and "listener busy" in other["error"]
    finally:
        busy.close()
    # once the port is free, smtpd comes back (after its backoff) and all is well
    wait_until(lambda: status(sealgate).returncode == 0, timeout=20, interval=0.5,
               what="smtpd to bind both listeners")
    rc, j = status_json(sealgate)
    assert all(li["bound"] for li in j["listeners"]) and len(j["listeners"]) == 2


def test_not_running_is_exit_2_even_with_a_pidfile_naming_a_live_process(sealgate):
    sealgate.write_config()
    sealgate.state_dir.mkdir()
    r = status(sealgate)
    assert r.returncode == 2
    assert r.stdout.startswith(f"sealgate NOT RUNNING: no sealgated holds "
                               f"{sealgate.state_dir}/sealgated.pid |"), r.stdout
    assert "database    no queue yet" in r.stdout
    # A pidfile left by a crash whose pid now belongs to someone else (here:
    # this test) neither makes status say "running" nor keeps a master from
    # starting.
    (sealgate.state_dir / "sealgated.pid").write_text(f"{os.getpid()}\n")
    rc, j = status_json(sealgate)
    assert rc == 2 and j["status"] == "not running" and j["master"] is None
    d = sealgate.start()
    assert status(sealgate).returncode == 0
    # kill -9 of the master: its roles follow it, and status says so
    os.kill(d.pid, signal.SIGKILL)
    d.proc.wait()
    wait_until(lambda: status(sealgate).returncode == 2, what="status to see it gone")


def test_master_status_file_and_notify_socket(sealgate, tmp_path):
    """The master tells systemd (Type=notify) READY=1 once every role is up,
    RELOADING=1/READY=1 around a reload and STOPPING=1; its roles do not get
    NOTIFY_SOCKET; master.status goes when it stops."""
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    try:
        d = sealgate.start(env={"NOTIFY_SOCKET": path}, ready=False)
        msg = sock.recv(4096).decode()
        assert msg.startswith("READY=1"), msg
        assert d.log().count("event=ready") == 3   # every role was up before READY=1
        d.wait_log(r"role=master event=all_ready roles=3 ms=\d+")
        for role in ROLES:
            env = open(f"/proc/{role_pid(d, role)}/environ", "rb").read()
            assert b"NOTIFY_SOCKET" not in env
        st = (sealgate.state_dir / "master.status").read_text()
        assert st.startswith(f"sealgate-status 1\nmaster pid={d.pid} state=running ")
        d.signal(signal.SIGHUP)
        assert sock.recv(4096) == b"RELOADING=1"
        assert sock.recv(4096).decode().startswith("READY=1")
        d.signal(signal.SIGTERM)
        assert sock.recv(4096) == b"STOPPING=1"
        assert d.proc.wait(10) == 0
    finally:
        sock.close()
    assert not (sealgate.state_dir / "master.status").exists()


def test_foreground_syslog_mode_passes_syslog_to_the_roles(sealgate):
    """sealgated -f --syslog (the systemd unit's ExecStart) stays in the
    foreground, logs nothing to stderr once it runs, and starts roles that
    log to syslog too."""
    sealgate.write_config()
    log = sealgate.dir / "fg.log"
    with open(log, "wb") as out:
        p = subprocess.Popen([SEALGATED, "-c", str(sealgate.conf), "-f", "--syslog"],
                             stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until(lambda: status(sealgate).returncode == 0, what="gateway up")
            kids = children_of(p.pid)
            assert len(kids) == 3
            for k in kids:
                args = open(f"/proc/{k}/cmdline").read().split("\0")
                assert "-f" in args and "--syslog" in args and "--report-fd" in args, args
            assert p.poll() is None
        finally:
            p.send_signal(signal.SIGTERM)
            assert p.wait(10) == 0
    assert log.read_text() == ""
    r = subprocess.run([SEALGATED, "-c", str(sealgate.conf), "--syslog"], capture_output=True)
    assert r.returncode == 2     # --syslog without -f: detached daemons log to syslog anyway
