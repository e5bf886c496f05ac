"""valgrind memcheck over a short end-to-end run: sign, encrypt, decrypt,
verify, scan (a real clamd, clamd.py), bounce.

Every role runs alone under valgrind (`sealgated --role R -f`, so that a
slow, instrumented stop is never cut short by the master's 4-second grace),
then the master on its own (its roles natively), and sealctl's reading
commands. Each process must end with no invalid access, no use of an
uninitialised value, and nothing definitely or indirectly lost;
tests/valgrind.supp holds the only suppressions, each explained (NSS's own
one-time allocations).

`make test-valgrind` and `make test` run it (SEALGATE_VALGRIND=1, about
a minute); a plain pytest run and the ASan build (make check-asan, whose
binaries valgrind cannot run) skip it.

Shown to fail: with a deliberate leak (a queue_env_free() removed from
worker__done_free() in worker/process.c) the worker's log reports
"definitely lost" and the test names the role and the stack.
"""
import os
import re
import smtplib
import subprocess
from pathlib import Path

import pytest

from clamd import MARK, Clamd
from conftest import SEALCTL, free_port, wait_until
from peers import SmtpPeer
from pki import get_pki
from test_worker_smime import RULES

pytestmark = pytest.mark.skipif(os.environ.get("SEALGATE_VALGRIND") != "1",
                                reason="valgrind run: make test-valgrind")

HERE = Path(__file__).resolve().parent
SUPP = HERE.parent / "valgrind.supp"
SLOW = 300                                  # seconds: anything under valgrind


def valgrind(logdir, name):
    return ["valgrind", "--tool=memcheck", "--leak-check=full",
            "--show-leak-kinds=definite,indirect,possible",
            "--errors-for-leak-kinds=definite,indirect,possible",
            "--error-exitcode=99", "--num-callers=40", f"--suppressions={SUPP}",
            "--gen-suppressions=all", "--child-silent-after-fork=yes",
            f"--log-file={logdir}/vg-{name}.%p.log"]


# the inbound rule scans too: a clean message and one clamd finds (held)
SCAN_RULES = RULES.replace("harvest = true; }", "harvest = true; scan = true; }")
assert SCAN_RULES != RULES


def config(sealgate, sink, clamd, extra=""):
    sealgate.state_dir.mkdir(exist_ok=True)
    sealgate.write_config(
        'own_domains = [ "example.com" ];\nown_servers = [ "127.0.0.1" ];\n'
        'certs = { revocation = "off"; };\n'
        'delivery = { routes = ( { domains = [ "partner.test", "secret.test", "example.com", '
        f'"example.net" ]; hosts = [ "127.0.0.1:{sink.port}" ]; }} ); scan_interval = "100ms"; '
        'retry_min = "1s"; retry_max = "2s"; };\n'
        f'scan = {{ clamd = "{clamd.socket}"; }};\n' + SCAN_RULES + extra)


def certificates(sealgate, pki):
    sealgate.sealctl("cert", "init")
    sealgate.sealctl("cert", "import", pki.root.cert, "--ca")
    sealgate.sealctl("cert", "import", pki.chain)
    pw = pki.password_file("gateway", sealgate.dir)
    sealgate.sealctl("cert", "import", pki["gateway"].p12, "--password-file", pw,
                     "--gateway", "example.com")
    sealgate.sealctl("cert", "import", pki["grace"].cert)       # RSA: encrypt to grace


def cms(*args):
    return subprocess.run(["openssl", "cms"] + [str(a) for a in args], check=True,
                          capture_output=True).stdout


def crlf(b):
    return b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def traffic(sealgate, pki, tmp):
    """One message for each thing the worker and delivery do."""
    plain = b"From: carl@example.com\r\nSubject: invoice\r\n\r\nplease pay\r\n"
    (tmp / "in.txt").write_bytes(b"Content-Type: text/plain\r\n\r\ninbound text\r\n")
    signed = crlf(cms("-sign", "-in", tmp / "in.txt", "-signer", pki["frank"].cert, "-inkey",
                      pki["frank"].key, "-certfile", pki.chain, "-from", "frank@example.net",
                      "-to", "alice@example.com", "-subject", "signed"))
    encrypted = crlf(cms("-encrypt", "-in", tmp / "in.txt", "-aes256", "-from",
                         "frank@example.net", "-to", "alice@example.com", "-subject", "secret",
                         pki["gateway"].cert))
    (tmp / "virus.txt").write_bytes(b"Content-Type: text/plain\r\n\r\n" + MARK + b"\r\n")
    virus = crlf(cms("-encrypt", "-in", tmp / "virus.txt", "-aes256", "-from",
                     "frank@example.net", "-to", "alice@example.com", "-subject", "virus",
                     pki["gateway"].cert))
    with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=SLOW) as s:
        # outbound: signed with the gateway's key, encrypted to grace
        s.sendmail("carl@example.com", ["grace@example.com"], plain)
        # outbound, mandatory encryption, no certificate: rejected, a report to carl
        s.sendmail("carl@example.com", ["nocert@secret.test"], plain)
        # outbound to a recipient the next hop refuses: a bounce from delivery
        s.sendmail("carl@example.com", ["gone@partner.test"], plain)
    with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=SLOW,
                      source_address=("127.0.0.2", 0)) as s:
        s.sendmail("frank@example.net", ["alice@example.com"], signed)      # verify
        s.sendmail("frank@example.net", ["alice@example.com"], encrypted)   # decrypt
        s.sendmail("frank@example.net", ["alice@example.com"], virus)       # held


def errors_in(logdir):
    """{log file: its report} for every valgrind log that is not clean."""
    bad = {}
    for log in sorted(Path(logdir).glob("vg-*.log")):
        text = log.read_text(errors="replace")
        m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
        if m is None or m.group(1) != "0":
            bad[log.name] = text[-6000:]
    return bad


def test_memcheck_end_to_end(sealgate, tmp_path):
    pki = get_pki()
    logdir = tmp_path / "valgrind"
    logdir.mkdir()
    with SmtpPeer(port=free_port(), rcpt={"gone@partner.test": "550 5.1.1 no such user"}) as sink, \
            Clamd() as clamd:
        config(sealgate, sink, clamd)
        certificates(sealgate, pki)
        roles = {r: sealgate.start(role=r, prefix=valgrind(logdir, r), timeout=SLOW)
                 for r in ("smtpd", "worker", "delivery")}
        traffic(sealgate, pki, tmp_path)

        def arrived():
            got = {r for m in sink.messages for r in m["rcpts"]}
            return {"grace@example.com", "alice@example.com", "carl@example.com",
                    "admin@example.com"} <= got and \
                len([m for m in sink.messages if "alice@example.com" in m["rcpts"]]) == 2 and \
                len([m for m in sink.messages if m["sender"] == ""]) >= 3
        wait_until(arrived, SLOW, interval=0.5, what="every message and report")
        body = {m["rcpts"][0]: m["body"] for m in sink.messages}
        assert b"application/pkcs7-mime" in body["grace@example.com"]
        alice = [m["body"] for m in sink.messages if "alice@example.com" in m["rcpts"]]
        assert any(b'X-Sealgate-Signature: valid; signer="frank@example.net"' in b for b in alice)
        assert any(b"inbound text" in b and b"pkcs7" not in b for b in alice)
        assert all(b"X-Sealgate-Scan: clean" in b for b in alice)
        roles["worker"].wait_log(r"event=scan_found", timeout=SLOW)

        for args in (["queue", "list", "--json", "--full"], ["queue", "list", "--state", "done"],
                     ["queue", "stats", "--json"], ["incidents", "list", "--json"],
                     ["cert", "list", "--json"]):
            r = subprocess.run(valgrind(logdir, "sealctl") + [SEALCTL, "-c", str(sealgate.conf)]
                               + args, capture_output=True, timeout=SLOW)
            assert r.returncode == 0, (args, r.stderr)
        for role, d in roles.items():
            assert d.stop(timeout=SLOW) == 0, (role, d.log())

        # the master on its own: start, a reload, a stop (its roles run natively)
        master = sealgate.start(prefix=valgrind(logdir, "master") + ["--trace-children=no"],
                                timeout=SLOW)
        master.signal(1)
        master.wait_log(r"event=reloaded", timeout=SLOW)
        assert master.stop(timeout=SLOW) == 0, master.log()

    logs = list(logdir.glob("vg-*.log"))
    assert len(logs) >= 9, logs                 # 3 roles, 5 sealctl, the master
    bad = errors_in(logdir)
    assert not bad, "\n\n".join(f"===== {k}\n{v}" for k, v in bad.items())
