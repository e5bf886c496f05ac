"""The worker role's housekeeping: old tracking records go, CRL fetches run, stop is clean.

The worker role runs alone (no smtpd, no delivery) on a short
worker.housekeeping; tracking records are made with sealctl (inject a held
message, delete it), so their age is known to the second. A CRL download
still running at stop (a slow loopback HTTP server) must finish before the
worker closes its certificate database.
"""
import json
import socket
import threading
import time

from conftest import wait_until
from pki import get_pki

CONF = """
queue = { track_keep = "4s"; };
certs = { revocation = "off"; crl_fetch_interval = "%s"; };
worker = { housekeeping = "200ms"; rules = ( { name = "pass"; } ); };
"""


def tracked(sealgate):
    out = sealgate.sealctl("queue", "list", "--state", "done", "--json").stdout
    return {json.loads(l)["id"] for l in out.splitlines() if l.strip()}


def finished_message(sealgate):
    """A message that left the queue: its tracking record remains."""
    sealgate.state_dir.mkdir(exist_ok=True)     # as the daemon's first start makes it
    before = tracked(sealgate)
    sealgate.sealctl("queue", "inject", "--rcpt", "x@partner.test", "--state", "hold",
                     input="Subject: t\r\n\r\nhi\r\n")
    out = sealgate.sealctl("queue", "list", "--state", "hold", "--json").stdout
    for line in out.splitlines():
        sealgate.sealctl("queue", "delete", json.loads(line)["id"])
    new = tracked(sealgate) - before
    assert len(new) == 1, new
    return new.pop()


def test_old_tracking_records_are_pruned_young_ones_kept(sealgate):
    sealgate.write_config(CONF % "0")
    old = finished_message(sealgate)
    time.sleep(2)
    young = finished_message(sealgate)
    d = sealgate.start(role="worker")
    d.wait_log(r"event=housekeeping stale_readers=0 tracking_pruned=1", timeout=15)
    left = tracked(sealgate)
    assert old not in left
    assert young in left
    # its turn comes too, once it is older than track_keep
    d.wait_log(r"event=housekeeping stale_readers=0 tracking_pruned=1", timeout=15, count=2)
    assert tracked(sealgate) == set()
    assert d.stop() == 0
    log = d.log()
    assert "event=housekeeping_failed" not in log
    assert "Sanitizer" not in log and "runtime error" not in log


def test_reload_applies_housekeeping_pace_and_track_keep(sealgate):
    sealgate.write_config((CONF % "0").replace('"200ms"', '"1h"').replace('"4s"', '"7d"'))
    gone = finished_message(sealgate)
    d = sealgate.start(role="worker")
    time.sleep(1)
    assert "event=housekeeping " not in d.log() and gone in tracked(sealgate)
    sealgate.write_config(CONF % "0")           # every 200ms, keep 4s
    d.signal(1)
    d.wait_log(r"event=worker_reloaded rules=1 housekeeping_ms=200 track_keep_ms=4000")
    d.wait_log(r"event=housekeeping stale_readers=0 tracking_pruned=1", timeout=15)
    assert gone not in tracked(sealgate)
    assert d.stop() == 0


def test_crl_timer_runs_and_stop_is_clean(sealgate):
    sealgate.write_config(CONF % "300ms")
    d = sealgate.start(role="worker")
    assert "crl_fetch=on" in d.wait_log(r"event=worker_started .*")[0].group(0)
    d.wait_log(r"event=crl_fetch fetched=0 failed=0", count=2, timeout=15)
    assert d.stop() == 0
    log = d.log()
    assert "role=worker event=stopped" in log
    assert "event=loop_not_empty" not in log and "certs_close_failed" not in log
    assert "Sanitizer" not in log and "runtime error" not in log


class SlowHttp:
    """A loopback HTTP server that answers each request with body only after
    delay seconds: a CRL download still running when the worker is told to
    stop, which then imports what it got."""

    def __init__(self, port, body, delay):
        self.sock = socket.create_server(("127.0.0.1", port))
        self.body, self.delay = body, delay
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._answer, args=(c,), daemon=True).start()

    def _answer(self, c):
        try:
            c.recv(65536)
            time.sleep(self.delay)
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/pkix-crl\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(self.body) + self.body)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.sock.close()


def test_stop_while_a_crl_fetch_is_running(sealgate):
    pki = get_pki()
    sealgate.write_config(CONF % '300ms"; crl_fetch_timeout = "3s')
    sealgate.state_dir.mkdir(exist_ok=True)
    sealgate.sealctl("cert", "init")
    sealgate.sealctl("cert", "import", pki.root.cert, "--ca")
    sealgate.sealctl("cert", "import", pki.chain)
    sealgate.sealctl("cert", "import", pki["carol"].cert)
    srv = SlowHttp(pki.crl_port, pki.crl.read_bytes(), 1.5)
    try:
        d = sealgate.start(role="worker")
        wait_until(lambda: srv.conns, 15, what="a CRL download in flight")
        # stopped mid-download: the database must stay open until the CRL
        # has been imported (a use after free under ASan otherwise)
        assert d.stop(timeout=20) == 0
    finally:
        srv.close()
    log = d.log()
    assert "role=worker event=stopped" in log
    assert "event=loop_not_empty" not in log and "certs_close_failed" not in log
    assert "Sanitizer" not in log and "runtime error" not in log
