"""make run's demo: starts in the foreground on loopback, signs what it relays,
and Ctrl-C stops everything it started."""
import os
import re
from pathlib import Path
import signal
import smtplib
import shutil
import subprocess
import tempfile

from conftest import BIN, REPO, children_of, free_port, pid_alive, wait_until


def test_demo_signs_mail_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    # smtp-sink writes as nobody, who cannot enter pytest's private tmp_path
    top = tempfile.mkdtemp(prefix="sealgate-demo-")
    os.chmod(top, 0o755)
    run = Path(top) / "run"
    env = dict(os.environ, SEALGATE_DEMO_DIR=str(run), SEALGATE_DEMO_PORT=str(port),
               SEALGATE_BIN=str(BIN))
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        p = subprocess.Popen(["sh", str(REPO / "cmd" / "demo.sh")], env=env, stdout=out,
                             stderr=subprocess.STDOUT, start_new_session=True)
        try:
            def ready():
                assert p.poll() is None, "demo exited early:\n" + log.read_text()
                return log.read_text().count("event=ready") == 3
            wait_until(ready, timeout=60, what="demo gateway ready")
            text = log.read_text()
            assert f"swaks --server 127.0.0.1:{port}" in text
            master = int(re.search(r"sealgated\[(\d+)\]: level=info role=master", text).group(1))

            with smtplib.SMTP("127.0.0.1", port) as s:
                s.starttls()
                s.sendmail("a@example.test", ["b@example.org"],
                           b"From: a@example.test\r\nTo: b@example.org\r\n"
                           b"Subject: demo\r\n\r\nhello from the demo\r\n")
            # smtp-sink writes its file while the message arrives: read it only
            # once the sink has answered 250 (the delivery is logged after that)
            wait_until(lambda: re.search(r"event=delivery rcpt=\"b@example.org\".*status=sent",
                                         log.read_text()), timeout=30,
                       what="the sink to accept the mail")
            dumps = list((run / "delivered").iterdir())
            assert len(dumps) == 1, dumps
            raw = dumps[0].read_bytes()
            msg = raw[raw.index(b"Received: from"):]        # drop smtp-sink's X- lines
            assert b"multipart/signed" in msg
            eml = tmp_path / "signed.eml"
            eml.write_bytes(msg)
            v = subprocess.run(["openssl", "smime", "-verify", "-in", str(eml), "-CAfile",
                                str(run / "pki" / "ca.pem"), "-purpose", "any"],
                               capture_output=True)
            assert v.returncode == 0, v.stderr
            assert b"hello from the demo" in v.stdout

            roles = children_of(master)
            assert len(roles) == 3
            sh_children = children_of(p.pid)      # the master and the sink
            assert master in sh_children and len(sh_children) == 2
            procs = roles + sh_children
            os.killpg(p.pid, signal.SIGINT)      # what Ctrl-C does
            assert p.wait(10) == 0
            assert "role=master event=stopped" in log.read_text()
            wait_until(lambda: not any(pid_alive(x) for x in procs), timeout=5,
                       what="every demo process to end")
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            shutil.rmtree(top, ignore_errors=True)
