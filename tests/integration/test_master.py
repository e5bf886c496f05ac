"""The master: three role processes, restart on crash, SIGTERM, SIGHUP."""
import os
import re
import signal
import time

from conftest import children_of, pid_alive, wait_until

ROLES = ("smtpd", "worker", "delivery")


def role_pids(daemon):
    pids = {}
    for m in daemon.wait_log(r"event=role_started role=(\w+) pid=(\d+)", count=3):
        pids[m.group(1)] = int(m.group(2))  # later lines win: current pid
    return pids


def test_master_starts_three_roles(sealgate):
    d = sealgate.start()
    pids = role_pids(d)
    assert set(pids) == set(ROLES)
    assert sorted(children_of(d.pid)) == sorted(pids.values())
    for role, pid in pids.items():
        cmdline = open(f"/proc/{pid}/cmdline").read().split("\0")
        assert "--role" in cmdline and role in cmdline
    pidfile = sealgate.state_dir / "sealgated.pid"
    assert int(pidfile.read_text()) == d.pid


def test_killed_role_is_restarted_and_logged(sealgate):
    d = sealgate.start()
    old = role_pids(d)["worker"]
    os.kill(old, signal.SIGKILL)
    d.wait_log(rf"event=role_exited role=worker pid={old} status=0 signal=9")
    m = d.wait_log(r"event=role_started role=worker pid=(\d+)", count=2)[-1]
    new = int(m.group(1))
    assert new != old and pid_alive(new)
    assert new in children_of(d.pid)
    # the restarted role is a working role: it comes up again
    d.wait_log(r"role=worker event=ready", count=2)


def test_restart_backoff_grows(sealgate):
    d = sealgate.start()
    delays = []
    for i in range(3):
        pid = int(d.wait_log(r"event=role_started role=delivery pid=(\d+)",
                             count=i + 1)[-1].group(1))
        d.wait_log(r"role=delivery event=ready", count=i + 1)
        os.kill(pid, signal.SIGKILL)
        m = d.wait_log(rf"role_exited role=delivery pid={pid} .*restart_in_ms=(\d+)")
        delays.append(int(m[-1].group(1)))
    assert delays[0] < delays[1] < delays[2], delays


def test_restarts_asked_for_by_a_reload_do_not_grow_the_backoff(sealgate):
    """smtpd restarts itself for new listeners; those are not failures, so a
    crash after three of them still waits only the first delay."""
    from conftest import free_port
    conf = sealgate.write_config()
    d = sealgate.start()
    role_pids(d)
    d.wait_log(r"role=smtpd event=ready")
    for i in range(3):
        port = free_port()
        conf.write_text(conf.read_text().replace(
            re.search(r'address = "127\.0\.0\.1:(\d+)"', conf.read_text()).group(0),
            f'address = "127.0.0.1:{port}"'))
        d.signal(signal.SIGHUP)
        d.wait_log(r"event=role_restarting role=smtpd", count=i + 1)
        d.wait_log(r"role=smtpd event=ready", count=i + 2)
    pid = int(d.wait_log(r"event=role_started role=smtpd pid=(\d+)", count=4)[-1].group(1))
    os.kill(pid, signal.SIGKILL)
    m = d.wait_log(rf"role_exited role=smtpd pid={pid} .*restart_in_ms=(\d+)")
    assert int(m[-1].group(1)) == 500, m[-1].group(0)


def test_sigterm_stops_everything_within_5s(sealgate):
    d = sealgate.start()
    pids = list(role_pids(d).values())
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    rc = d.proc.wait(5)
    assert rc == 0
    wait_until(lambda: not any(pid_alive(p) for p in pids), timeout=5 - (time.monotonic() - t0),
               what="roles to exit")
    assert time.monotonic() - t0 < 5
    assert not (sealgate.state_dir / "sealgated.pid").exists()


def test_sigint_stops_like_sigterm(sealgate):
    d = sealgate.start()
    role_pids(d)
    os.killpg(d.pid, signal.SIGINT)   # Ctrl-C reaches the whole group
    assert d.proc.wait(5) == 0
    assert "event=role_exited" not in d.log()


def test_sighup_rereads_config(sealgate):
    sealgate.write_config('log_level = "info";')
    d = sealgate.start()
    role_pids(d)
    assert "level=debug" not in d.log()
    sealgate.write_config('log_level = "debug";')
    d.signal(signal.SIGHUP)
    d.wait_log(r"role=master event=reloaded log_level=debug")
    for role in ROLES:
        d.wait_log(rf"role={role} event=reloaded log_level=debug")
    # roles were signalled, not restarted
    assert "event=role_exited" not in d.log()
    # the new level takes effect: debug lines appear once the level is debug
    d.signal(signal.SIGHUP)
    d.wait_log(r"level=debug role=master")


def test_sighup_with_broken_config_keeps_running(sealgate):
    d = sealgate.start()
    pids = role_pids(d)
    sealgate.conf.write_text(sealgate.conf.read_text() + "\nnonsense = 1;\n")
    d.signal(signal.SIGHUP)
    d.wait_log(r"role=master event=config_error .*unknown key")
    d.wait_log(r"role=master event=reload_failed")
    time.sleep(0.3)
    assert all(pid_alive(p) for p in pids.values())
    assert d.proc.poll() is None


def test_second_master_refused(sealgate):
    d = sealgate.start()
    role_pids(d)
    d2 = sealgate.start(ready=False)
    assert d2.proc.wait(5) == 1
    assert f"event=already_running pid={d.pid}" in d2.log()


def test_role_runs_alone(sealgate):
    d = sealgate.start(role="delivery")
    assert d.wait_log(r"role=delivery event=ready")
    assert children_of(d.pid) == []
    assert d.stop() == 0


# ------------------------------------------------ a daemon that cannot start

def start_as_admin(sealgate, *args, timeout=20):
    """sealgated as an administrator starts it: detached unless -f is given.
    A daemon it left running (it should not have) is stopped afterwards."""
    import subprocess
    from conftest import SEALGATED
    pidfile = sealgate.state_dir / "sealgated.pid"
    try:
        r = subprocess.run([SEALGATED, "-c", str(sealgate.conf), *args],
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        r = subprocess.CompletedProcess(e.cmd, None, e.stdout, e.stderr)
    if r.returncode == 0 and not getattr(sealgate, "keep_running", False):
        # it detached: a daemon is running, so stop it
        deadline = time.time() + 5
        while not pidfile.exists() and time.time() < deadline:
            time.sleep(0.05)
        if pidfile.exists():
            os.kill(int(pidfile.read_text()), signal.SIGTERM)
    return r


def test_first_start_with_a_port_in_use_says_so_and_exits(sealgate):
    import socket
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        sealgate.write_config(listeners=f'( {{ name = "mx"; address = "127.0.0.1:{port}"; }} )')
        for fg in ((), ("-f",)):
            r = start_as_admin(sealgate, *fg)
            assert r.returncode == 1, (fg, r)
            assert f"listener mx: 127.0.0.1:{port}: Address already in use" in r.stderr, r.stderr
            assert "event=start_refused" in r.stderr, r.stderr
            assert not (sealgate.state_dir / "sealgated.pid").exists()


def test_first_start_with_a_missing_tls_certificate_says_so(sealgate):
    sealgate.write_config(
        'certs = { tls_cert = "no-such-nickname"; };',
        listeners=f'( {{ address = "127.0.0.1:{sealgate.smtp_port}"; security = "starttls"; }} )')
    r = start_as_admin(sealgate)
    assert r.returncode == 1, r
    assert '"no-such-nickname"' in r.stderr and "not usable" in r.stderr, r.stderr


def test_state_dir_without_parent_and_second_master_fail_on_stderr(sealgate, tmp_path):
    conf = sealgate.write_config()
    good = conf.read_text()
    conf.write_text(good.replace(str(sealgate.state_dir), str(tmp_path / "no" / "state")))
    r = start_as_admin(sealgate)
    assert r.returncode == 1 and "event=state_dir_failed" in r.stderr, r
    assert str(tmp_path / "no" / "state") in r.stderr, r.stderr
    conf.write_text(good)
    d = sealgate.start()
    role_pids(d)
    sealgate.keep_running = True
    r = start_as_admin(sealgate)
    assert r.returncode == 1 and f"event=already_running pid={d.pid}" in r.stderr, r
    assert d.proc.poll() is None
