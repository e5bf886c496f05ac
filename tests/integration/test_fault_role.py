"""A role that crashes on every start.

The promise (README, Guarantees): the master restarts it with a delay that
doubles (500 ms, 1 s, 2 s, ... up to 60 s) and logs each exit; the other
roles keep working meanwhile (smtpd accepts mail, delivery delivers what is
ready); once the cause is gone the role comes back by itself and the mail
that waited for it flows.

crashrole.c, preloaded into every process of the gateway, kills the process
started with "--role worker" with SIGSEGV before main() while its switch
file names that role.
"""
import json
import re
import time

from conftest import wait_until
from faults import build_shim, role_pids, send, wait_arrived
from peers import Injector, SmtpPeer
from test_fault_disk import gateway_config, tagged


def exits(d, role):
    return [(int(sig), int(ms)) for sig, ms in re.findall(
        rf"event=role_exited role={role} pid=\d+ status=\d+ signal=(\d+) uptime_ms=\d+ "
        r"restart_in_ms=(\d+)", d.log())]


def test_worker_crashing_on_every_start(sealgate, tmp_path):
    """Shown to fail: with the switch file empty the worker never crashes
    and the wait for its exits times out; a master that restarted without
    backoff would fail the doubling assertion; `sealctl status` must say
    DEGRADED because of the worker (exit 1) while it is down."""
    so = build_shim(tmp_path, "crashrole.c", "libcrashrole.so")
    switch = tmp_path / "crash.switch"
    switch.write_text("worker\n")
    with SmtpPeer(port=0) as sink:
        gateway_config(sealgate, sink, 'worker = { rules = ( { name = "out"; '
                       'direction = "outbound"; sign = "if-possible"; } ); };\n')
        d = sealgate.start(ready=False, env={"LD_PRELOAD": str(so),
                                             "SG_CRASH_SWITCH": str(switch)})
        d.wait_log(r"role=smtpd event=ready")
        d.wait_log(r"role=delivery event=ready")
        wait_until(lambda: len(exits(d, "worker")) >= 3, 15, what="three worker crashes")
        seen = exits(d, "worker")
        # SIGSEGV; under ASan (make check-asan) its handler reports it and aborts
        assert all(sig in (11, 6) for sig, _ in seen), seen
        delays = [ms for _, ms in seen[:3]]
        assert delays == [500, 1000, 2000], delays

        # smtpd still takes mail (it waits in the inbox for a worker) ...
        code, text = send(sealgate.smtp_port, ["a@partner.test"], tagged("waits-for-worker"))
        assert code == 250, text
        # ... and delivery still delivers what is ready
        Injector(sealgate).inject("s@example.com", ["b@partner.test"],
                                  body=tagged("ready-meanwhile"))
        wait_arrived(sink, "ready-meanwhile")
        assert not [m for m in sink.messages if b"waits-for-worker" in m["body"]]
        assert len(role_pids(d)["smtpd"]) == 1 and len(role_pids(d)["delivery"]) == 1
        # sealctl status: degraded, because of the worker, which is not running
        r = sealgate.sealctl("status", check=False)
        assert r.returncode == 1, r.stdout + r.stderr
        first = r.stdout.splitlines()[0]
        assert first.startswith("sealgate DEGRADED") and "worker" in first, r.stdout
        st = json.loads(sealgate.sealctl("status", "--json", check=False).stdout)
        roles = {x["name"]: x for x in st["roles"]}
        assert st["status"] == "degraded", st
        assert roles["worker"]["state"] != "running" and roles["worker"]["failures"] >= 3, st
        assert roles["worker"]["last_exit"]["signal"] in (11, 6), st
        assert roles["smtpd"]["state"] == roles["delivery"]["state"] == "running", st

        switch.write_text("")                   # the cause is gone
        d.wait_log(r"role=worker event=ready", timeout=20)
        wait_arrived(sink, "waits-for-worker", timeout=20)
        time.sleep(0.5)
        assert "event=role_exited role=smtpd" not in d.log()
        assert "event=role_exited role=delivery" not in d.log()
        st = json.loads(sealgate.sealctl("status", "--json", check=False).stdout)
        assert {x["name"]: x["state"] for x in st["roles"]}["worker"] == "running", st
