"""No root and no private keys facing the network (issue 13).

The gateway is started as root, as the unit starts it, with user and group
for smtpd and delivery and a worker_user of its own for the worker. Then,
with the roles running and after they moved mail (STARTTLS in from its own
TLS database, signed by the worker from a key database whose password only
root may read, delivered over verified TLS, a signer's certificate
harvested, a certificate imported by sealctl as root meanwhile):

- no role runs as root: every uid and gid is the configured one, no
  capability is left (/proc/PID/status: CapEff, CapPrm, CapAmb are 0);
- no role can leave a core or be read by its own uid (not dumpable: the
  kernel gives its /proc files to root and refuses /proc/PID/environ to
  that uid; the core size limit is 0);
- the key database is the worker's: as the network-facing user, opening
  nssdb/key4.db fails with EACCES, and neither smtpd nor delivery holds it
  (delivery holds cert9.db and the empty nokeys-key4.db, smtpd its own
  TLS database);
- what sealctl makes or changes as root stays the worker's.

The checks are privsep.broken_promises(). They are shown failing, in the
suite, on deliberately broken configurations: worker_user = user (the key
file opens for the network-facing user, the worker runs as that user), and
no user at all (every role runs as root, with every capability); and the
dumpable check on a process that is dumpable (a plain sleep as nobody).
Broken builds, each run once against the main test: a worker that stays
root (as before this change) fails on its uid and capabilities; roles
that set PR_SET_DUMPABLE 1 fail the dumpable check (without the prctl
they stay non-dumpable anyway: the kernel resets it when the uid
changes); no RLIMIT_CORE fails on the core limit; delivery without
CERTS_PUBLIC holds key4.db; no hand-over leaves nssdb root's; no
certs_secrets_preload() keeps the worker from starting; no
sg_conf_started() makes the worker's reload fail.
"""
import grp
import os
import pwd
import re
import smtplib
import socket
import ssl
import subprocess

import pytest

from conftest import SEALGATED, free_port, wait_until
from peers import Dns, SmtpPeer, issued_by
from pki import get_pki
from privsep import (broken_promises, dumpable_problems, held_open, identity_problems,
                     outside, roles_of, spare_user, try_open)
from test_worker_smime import RULES, arrived

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (it drops privileges)")

USER, GROUP = "nobody", "nogroup"


def owner(path):
    st = os.lstat(path)
    return pwd.getpwuid(st.st_uid).pw_name, st.st_mode & 0o7777


def gateway_config(sealgate, dns, mx_port, worker_user, user=USER, tls=True, extra=""):
    """smtpd with STARTTLS from its own database, the worker's rules, delivery
    by MX over verified TLS, a key database with a password only root reads."""
    pw = sealgate.conf.parent / "keydb.pw"
    pw.write_text("s3cret-keydb\n")
    os.chmod(pw, 0o600)
    who = f'user = "{user}";\ngroup = "{GROUP}";\n' if user else ""
    if worker_user:
        who += f'worker_user = "{worker_user}";\n'
    sec = 'security = "starttls"; ' if tls else ""
    return sealgate.write_config(
        who + 'own_domains = [ "example.com" ];\nown_servers = [ "127.0.0.1" ];\n'
        f'certs = {{ revocation = "off"; password_file = "{pw}"; '
        f'tls_db_dir = "{sealgate.state_dir}/tlsdb"; tls_cert = "server"; }};\n'
        f'delivery = {{ smtp_port = {mx_port}; dns_servers = [ "{dns.server}" ]; '
        'tls_policy = "verify"; scan_interval = "100ms"; retry_min = "1s"; '
        'dns_timeout = "300ms"; dns_tries = 1; };\n' + RULES + extra,
        listeners=f'( {{ address = "127.0.0.1:{sealgate.smtp_port}"; {sec}}} )')


def import_certs(sealgate, pki):
    """What an administrator does as root before the first start."""
    sealgate.sealctl("cert", "init")
    sealgate.sealctl("cert", "--tls", "init")
    sealgate.sealctl("cert", "import", pki.root.cert, "--ca")
    sealgate.sealctl("cert", "import", pki.chain)
    sealgate.sealctl("cert", "import", pki["gateway"].p12, "--password-file",
                     pki.password_file("gateway", sealgate.dir), "--gateway", "example.com")
    sealgate.sealctl("cert", "--tls", "import", pki["server"].p12, "--password-file",
                     pki.password_file("server", sealgate.dir))


def mx_records():
    return ["--mx-host=partner.test,mx.good.test,10", "--mx-host=example.com,mx2.good.test,10",
            "--host-record=mx.good.test,127.0.0.12", "--host-record=mx2.good.test,127.0.0.13"]


def port_on_both(a, b):
    """A port free on both addresses (delivery has one smtp_port for all)."""
    while True:
        port = free_port(a)
        with socket.socket() as s:
            try:
                s.bind((b, port))
                return port
            except OSError:
                continue


def signed_by_alice(pki, tmp_path):
    alice = pki["alice"]
    (tmp_path / "in.txt").write_bytes(b"Content-Type: text/plain\r\n\r\nmy certificate\r\n")
    subprocess.run(["openssl", "cms", "-sign", "-in", str(tmp_path / "in.txt"),
                    "-signer", str(alice.cert), "-inkey", str(alice.key),
                    "-certfile", str(pki.inter.cert), "-from", "alice@example.com",
                    "-to", "u@example.com", "-subject", "hello", "-out", str(tmp_path / "s.eml")],
                   check=True)
    return (tmp_path / "s.eml").read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def assert_the_workers(path, worker_user, dir_mode=0o700):
    assert owner(path) == (worker_user, dir_mode), (path, owner(path))
    for f in ("cert9.db", "key4.db", "pkcs11.txt", "nokeys-key4.db", "sealgate-certs.meta",
              "sealgate-certs.lock"):
        assert owner(path / f) == (worker_user, 0o600), (f, owner(path / f))


def test_no_role_runs_as_root_and_no_private_key_faces_the_network(sealgate, outside, tmp_path):
    worker_user = spare_user()
    pki = get_pki()
    nssdb, tlsdb = sealgate.state_dir / "nssdb", sealgate.state_dir / "tlsdb"
    mx_port = port_on_both("127.0.0.12", "127.0.0.13")
    cert, key = issued_by(pki, tmp_path, "mx.good.test")
    cert2, key2 = issued_by(pki, tmp_path, "mx2.good.test")
    # two next hops: a second session with one would be resumed, and delivery
    # checks no certificate then (a bug of its own, not this test's)
    with Dns(mx_records(), local=("test", "example.com")) as dns, \
            SmtpPeer("127.0.0.12", mx_port, starttls="offer", name="mx.good.test",
                     cert=cert, key=key) as mx, \
            SmtpPeer("127.0.0.13", mx_port, starttls="offer", name="mx2.good.test",
                     cert=cert2, key=key2) as mx2:
        sealgate.state_dir.mkdir()
        metrics_port = free_port()
        gateway_config(sealgate, dns, mx_port, worker_user,
                       extra=f'metrics = {{ listen = "127.0.0.1:{metrics_port}"; }};\n'
                       # a database nobody answers for: the role runs and retries
                       f'cluster = {{ node = "gw1"; postgres = '
                       f'"host=127.0.0.1 port={free_port()} connect_timeout=1"; }};\n')
        import_certs(sealgate, pki)
        # made and filled by root: the key database is the worker's, the TLS one root's
        assert_the_workers(nssdb, worker_user)
        assert owner(tlsdb) == ("root", 0o700)
        d = sealgate.start()
        pids = roles_of(d)
        assert {"metrics", "cluster"} <= set(pids), "the metrics or the cluster role did not start"
        assert broken_promises(pids, USER, GROUP, worker_user, nssdb) == []
        assert "worker_user_shared" not in d.log() and "roles_as_root" not in d.log()

        # in over STARTTLS (smtpd's key from its own database), signed by the
        # worker, out over TLS verified against the trust anchors delivery reads
        ctx = ssl.create_default_context(cafile=str(pki.root.cert))
        with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=10) as s:
            s.starttls(context=ctx)
            s.sendmail("carl@example.com", ["someone@partner.test"],
                       b"From: carl@example.com\r\nTo: someone@partner.test\r\n"
                       b"Subject: invoice\r\n\r\ninvoice attached\r\n")
        m = arrived(mx, "someone@partner.test")
        assert m["tls"] is True and b"multipart/signed" in m["body"], m["body"][:300]
        assert re.search(r'event=delivery rcpt="someone@partner.test" .*tls="TLSv1.*status=sent',
                         d.log())
        # a signer's certificate harvested: the worker writes its database
        with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=10,
                          source_address=("127.0.0.2", 0)) as s:
            s.sendmail("alice@example.com", ["u@example.com"], signed_by_alice(pki, tmp_path))
        body = arrived(mx2, "u@example.com")["body"]
        assert b'X-Sealgate-Signature: valid; signer="alice@example.com"' in body, body[:300]
        assert "alice@example.com" in sealgate.sealctl("cert", "list", "--json").stdout
        # root changes the database while the gateway runs: it stays the worker's
        sealgate.sealctl("cert", "import", pki["frank"].cert)
        assert_the_workers(nssdb, worker_user)

        # and after all that work, still
        assert roles_of(d) == pids, "a role was restarted"
        assert broken_promises(pids, USER, GROUP, worker_user, nssdb) == []
        assert any(str(tlsdb) in p for p in held_open(pids["smtpd"]))
        assert sorted(p for p in held_open(pids["delivery"]) if p.startswith(str(nssdb))) == \
            [f"{nssdb}/cert9.db", f"{nssdb}/nokeys-key4.db"]
        # a reload reaches the worker, whose password file it cannot read
        os.kill(d.pid, 1)
        d.wait_log(r"role=worker event=reloaded", timeout=10)
        assert "reload_failed" not in d.log()


def test_the_checks_fail_on_broken_configurations(sealgate, outside):
    """The negative controls: what broken_promises() reports when the worker
    shares the network roles' user, and when no user is set at all; and a
    dumpable process is told apart."""
    worker_user = spare_user()
    pki = get_pki()
    nssdb = sealgate.state_dir / "nssdb"
    with Dns(mx_records(), local=("test", "example.com")) as dns:
        sealgate.state_dir.mkdir()
        # worker_user = user: smtpd and delivery's user owns the key database
        gateway_config(sealgate, dns, free_port(), USER, tls=False)
        import_certs(sealgate, pki)
        d = sealgate.start()
        found = broken_promises(roles_of(d), USER, GROUP, worker_user, nssdb)
        assert f"nobody (smtpd, delivery) opening {nssdb}/key4.db: read" in found, found
        assert any(re.match(r"worker runs as uid \[65534\]", f) for f in found), found
        assert "event=worker_user_shared user=nobody" in d.log()
        d.stop()
        # no user at all: every role is root, with every capability
        gateway_config(sealgate, dns, free_port(), None, user=None, tls=False)
        d = sealgate.start()
        found = broken_promises(roles_of(d), USER, GROUP, worker_user, nssdb)
        for role in ("smtpd", "worker", "delivery"):
            assert f"{role} runs as root" in " ".join(found), found
            assert f"{role} keeps capabilities: CapEff" in " ".join(found), found
        assert "event=roles_as_root" in d.log()
    # a dumpable process of the same user is caught
    p = subprocess.Popen(["setpriv", f"--reuid={USER}", f"--regid={GROUP}", "--clear-groups",
                          "sleep", "30"])
    try:
        wait_until(lambda: pwd.getpwuid(os.stat(f"/proc/{p.pid}").st_uid).pw_name == USER)
        found = dumpable_problems(p.pid, USER, GROUP)
        assert any("can read" in f and "environ" in f for f in found), found
        assert identity_problems("sleep", p.pid, pwd.getpwnam(USER).pw_uid,
                                 grp.getgrnam(GROUP).gr_gid) == []
    finally:
        p.kill()
        p.wait()


@pytest.mark.parametrize("plant", ["owned by the network user", "a symbolic link"])
def test_a_key_database_the_worker_does_not_own_is_refused(sealgate, outside, tmp_path, plant):
    """smtpd's user can write the state directory: a key database it put
    there (its own, or a link to elsewhere) is never opened, nor handed to
    the worker (chown through a link would give away the link's target)."""
    worker_user = spare_user()
    sealgate.state_dir.mkdir()
    sealgate.write_config(f'user = "{USER}";\ngroup = "{GROUP}";\n'
                          f'worker_user = "{worker_user}";\n')
    nssdb = sealgate.state_dir / "nssdb"
    target = tmp_path / "elsewhere"
    target.mkdir()
    if plant.startswith("owned"):
        nssdb.mkdir()
        os.chown(nssdb, pwd.getpwnam(USER).pw_uid, grp.getgrnam(GROUP).gr_gid)
    else:
        nssdb.symlink_to(target)
    d = sealgate.start(ready=False)
    assert d.proc.wait(10) == 1
    assert re.search(r"event=certs_open_failed error=\"denied\" detail=", d.log())
    assert owner(target)[0] == "root" and list(target.iterdir()) == []
    assert try_open(USER, GROUP, nssdb / "key4.db") != "read"


def test_a_state_directory_from_before_is_taken_over(sealgate, outside):
    """What the version whose worker stayed root left (key database root's,
    queue and the worker's lock the run user's, 0700 and 0600) becomes what
    a worker of its own needs, under the unit's capabilities (no
    CAP_FOWNER: root takes a file before it changes its mode)."""
    worker_user = spare_user()
    sealgate.state_dir.mkdir()
    conf = sealgate.write_config(f'user = "{USER}";\ngroup = "{GROUP}";\n')
    sealgate.start().stop()
    st = sealgate.state_dir
    nobody, nogroup = pwd.getpwnam(USER).pw_uid, grp.getgrnam(GROUP).gr_gid
    for p in [st / "nssdb"] + list((st / "nssdb").iterdir()):
        os.chown(p, 0, 0)
    os.chown(st / "lock.worker", nobody, nogroup)
    os.chmod(st / "queue", 0o700)
    for f in ("data.mdb", "lock.mdb"):
        os.chmod(st / "queue" / f, 0o600)
    sealgate.write_config(f'user = "{USER}";\ngroup = "{GROUP}";\n'
                          f'worker_user = "{worker_user}";\n')
    caps = "-all,+net_bind_service,+setuid,+setgid,+chown,+dac_override,+kill"
    with open(sealgate.dir / "unit.log", "wb") as log:
        p = subprocess.Popen(["setpriv", f"--regid={GROUP}", "--clear-groups",
                              f"--bounding-set={caps}", "--no-new-privs", "--", SEALGATED, "-f",
                              "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: "event=all_ready" in (sealgate.dir / "unit.log").read_text(),
                       what="the gateway up under the unit's capabilities")
            pids = roles_of((sealgate.dir / "unit.log").read_text())
            assert broken_promises(pids, USER, GROUP, worker_user, st / "nssdb") == []
        finally:
            p.terminate()
            p.wait(10)
    assert owner(st / "queue") == (USER, 0o770)
    assert owner(st / "queue" / "data.mdb") == (USER, 0o660)
    assert owner(st / "lock.worker") == (worker_user, 0o600)
    assert owner(st / "nssdb") == (worker_user, 0o700)


def test_a_tls_listener_needs_its_own_database_when_the_worker_is_apart(sealgate):
    worker_user = spare_user()
    listeners = f'( {{ address = "127.0.0.1:{sealgate.smtp_port}"; security = "starttls"; }} )'
    base = (f'user = "{USER}";\ngroup = "{GROUP}";\nworker_user = "{worker_user}";\n'
            'certs = { tls_cert = "server"; %s};\n')
    sealgate.write_config(base % "", listeners=listeners)
    r = subprocess.run([SEALGATED, "-n", "-c", str(sealgate.conf)], capture_output=True, text=True)
    assert r.returncode == 1
    assert "certs.tls_db_dir: a TLS listener needs smtpd's own database when worker_user " \
        "is set" in r.stderr + r.stdout
    sealgate.write_config(base % f'tls_db_dir = "{sealgate.dir}/tlsdb"; ', listeners=listeners)
    r = subprocess.run([SEALGATED, "-n", "-c", str(sealgate.conf)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # worker_user without user would leave smtpd and delivery root
    sealgate.write_config(f'worker_user = "{worker_user}";\n')
    r = subprocess.run([SEALGATED, "-n", "-c", str(sealgate.conf)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "worker_user: needs user" in r.stderr + r.stdout
