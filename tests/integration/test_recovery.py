"""Recovery after a crash: a role's leases die with its process.

A delivery process that is killed leaves the messages it took with
queue_due() leased for queue.lease (5 minutes; with more than 16 due it
leases them, as here); a killed worker leaves its
claims. The next process of the role holds the role's lock, so it knows the
leases are void, releases them before it looks for work, and sends or
processes them at once. A role started by hand beside a running gateway
refuses to start instead of stealing the live role's leases.
"""
import json
import os
import signal
import subprocess
import time

from conftest import SEALGATED, wait_until
from crashlib import Sink, role_pid, queue_stats

BODY = b"From: a@example.com\r\nSubject: recovery\r\n\r\nhello\r\n"


def plain_config(sealgate, sink, worker=""):
    sealgate.state_dir.mkdir(exist_ok=True)
    sealgate.write_config(
        'own_domains = [ "example.com" ];\n'
        f'delivery = {{ routes = ( {{ domains = [ "partner.test" ];\n'
        f'  hosts = [ "127.0.0.1:{sink.port}" ]; }} ); }};\n' + worker)


def inject(sealgate, n, state="ready"):
    sealgate.sealctl("queue", "inject", "--state", state, "--sender", "a@example.com",
                     "--rcpt", "b@partner.test", "--count", n, input=BODY, text=False)


def leased(sealgate):
    """Live messages whose next attempt is more than a minute away: taken."""
    later = time.time() + 60
    rows = [json.loads(l) for l in
            sealgate.sealctl("queue", "list", "--json").stdout.splitlines()]
    return sum(1 for r in rows if r["next_attempt"] > later), len(rows)


def test_killed_delivery_leases_sent_at_once(sealgate, capsys):
    with Sink(sealgate.dir / "sink") as sink:
        plain_config(sealgate, sink)
        sink.stall()
        inject(sealgate, 300)
        d = sealgate.start()
        # the delivery takes everything due and waits for the slow next hop
        wait_until(lambda: leased(sealgate) == (300, 300), 20, what="300 messages taken")
        pid = role_pid(d, "delivery")
        os.kill(pid, signal.SIGKILL)
        t0 = time.monotonic()
        sink.resume()
        wait_until(lambda: sink.count() >= 300, 15,
                   what="the dead delivery's messages at the sink (not after the 5 min lease)")
        took = time.monotonic() - t0
        d.wait_log(r"role=delivery event=leases_released role=delivery count=300 ")
        wait_until(lambda: queue_stats(sealgate)["count"]["ready"] == 0, 10, what="empty queue")
        with capsys.disabled():
            print(f"\nrecovery: delivery killed with 300 taken, all sent {took:.2f} s later")


def test_killed_worker_claims_processed_at_once(sealgate):
    with Sink(sealgate.dir / "sink") as sink:
        # a slow rule (RSA signing) and one big claim, so the kill finds claims
        from crashlib import gateway_config
        gateway_config(sealgate, sink, worker="batch = 400;")
        text = sealgate.conf.read_text().replace('direction = "outbound";',
                                                 'senders = [ "@example.com" ];')
        sealgate.conf.write_text(text.replace("threads = 2;", "threads = 1;"))
        for attempt in range(5):
            inject(sealgate, 800, state="incoming")
            w = sealgate.start(role="worker")
            wait_until(lambda: queue_stats(sealgate)["count"]["working"] > 0, 20,
                       interval=0.005, what="a claim")
            os.kill(w.pid, signal.SIGKILL)
            w.proc.wait()
            working = queue_stats(sealgate)["count"]["working"]
            if working:
                break
        assert working > 0, "the kill never found a claim"
        # before the fix they stay claimed for the 5 minute lease
        t0 = time.monotonic()
        w = sealgate.start(role="worker")
        wait_until(lambda: (lambda c: c["working"] + c["incoming"] == 0)(
            queue_stats(sealgate)["count"]), 20,
            what="the dead worker's claims processed (not after the 5 min lease)")
        assert time.monotonic() - t0 < 20
        w.wait_log(rf"event=leases_released role=worker count={working} ")
        w.stop()


def test_role_alone_beside_gateway_refuses(sealgate):
    with Sink(sealgate.dir / "sink") as sink:
        plain_config(sealgate, sink)
        d = sealgate.start()
        for role in ("delivery", "worker"):
            pid = role_pid(d, role)
            r = subprocess.run([SEALGATED, "-c", str(sealgate.conf), "-f", "--role", role],
                               capture_output=True, text=True, timeout=20)
            assert r.returncode == 1, r.stderr
            assert f"event=role_busy role={role} holder_pid={pid} " in r.stderr, r.stderr
            assert "event=leases_released" not in r.stderr
        # the gateway's own roles go on working
        inject(sealgate, 3)
        wait_until(lambda: sink.count() == 3, 10, what="mail still delivered")
        assert "event=role_exited" not in d.log()


def test_restarted_role_waits_for_its_predecessor(sealgate):
    """A master killed alone: its roles stop (SIGTERM from the kernel) while
    a new master starts new ones, which wait for the old ones' locks."""
    with Sink(sealgate.dir / "sink") as sink:
        plain_config(sealgate, sink)
        d = sealgate.start()
        old = role_pid(d, "delivery")
        os.kill(old, signal.SIGSTOP)          # a predecessor slow to stop
        os.kill(d.pid, signal.SIGKILL)
        d.proc.wait()
        d2 = sealgate.start(ready=False)
        d2.wait_log(rf"role=delivery event=role_lock_wait role=delivery holder_pid={old} ")
        os.kill(old, signal.SIGCONT)          # it gets its SIGTERM now and stops
        d2.wait_log(r"role=delivery event=leases_released role=delivery count=0 ")
        d2.wait_log(r"event=ready", count=3)
        inject(sealgate, 2)
        wait_until(lambda: sink.count() == 2, 10, what="mail delivered by the new role")
