"""make run's demo: starts in the foreground on loopback, Ctrl-C stops it."""
import os
import signal
import subprocess

from conftest import BIN, REPO, children_of, free_port, wait_until


def test_demo_starts_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    env = dict(os.environ, SEALGATE_DEMO_DIR=str(tmp_path / "run"),
               SEALGATE_DEMO_PORT=str(port), SEALGATE_BIN=str(BIN))
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
            assert (tmp_path / "run" / "pki" / "gateway.p12").stat().st_size > 0
            roles = children_of(p.pid)
            assert len(roles) == 3
            os.killpg(p.pid, signal.SIGINT)      # what Ctrl-C does
            assert p.wait(5) == 0
            assert "role=master event=stopped" in log.read_text()
            assert not any(os.path.exists(f"/proc/{r}") for r in roles)
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
