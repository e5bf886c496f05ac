"""The smtpd role as a process: privileges, reload, several loops, strict single
rule, clean stop, and running under the master."""
import os
import pwd
import signal
import socket
import threading

import pytest

from conftest import free_port, wait_until
from test_smtpd_util import Raw, queue_list, send_message, smtpd_config


def proc_ids(pid):
    uid = gid = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                uid = [int(x) for x in line.split()[1:]]
            if line.startswith("Gid:"):
                gid = [int(x) for x in line.split()[1:]]
    return uid, gid


def test_drops_privileges_after_binding(sealgate):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    nobody = pwd.getpwnam("nobody")
    smtpd_config(sealgate, top='user = "nobody"; group = "nogroup";')
    os.chown(sealgate.state_dir, nobody.pw_uid, nobody.pw_gid)
    # pytest's directories are private to root: let nobody pass through
    for p in (sealgate.dir, sealgate.dir.parent, sealgate.dir.parent.parent):
        os.chmod(p, os.stat(p).st_mode | 0o011)
    d = sealgate.start(role="smtpd")
    d.wait_log(r"event=privileges_dropped user=nobody")
    uid, gid = proc_ids(d.pid)
    assert set(uid) == {nobody.pw_uid}
    assert nobody.pw_uid != 0 and 0 not in gid
    # it still works: the queue was opened as nobody
    assert send_message(sealgate.smtp_port)[0] == 250
    assert len(queue_list(sealgate)) == 1


def test_reload_changes_policy_for_new_sessions(sealgate):
    smtpd_config(sealgate)
    d = sealgate.start(role="smtpd")
    old = Raw(sealgate.smtp_port).greet()
    old.ehlo()
    assert old.cmd("MAIL FROM:<a@x.test>")[0] == 250
    smtpd_config(sealgate, domains='"own.test", "new.test"')
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reloaded")
    c = Raw(sealgate.smtp_port).greet()
    c.ehlo()
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
    assert c.cmd("RCPT TO:<u@new.test>")[0] == 250
    # the session that began before the reload keeps its policy
    assert old.cmd("RCPT TO:<u@new.test>")[0] == 554
    # run alone, a listener change waits for a restart, and says so
    smtpd_config(sealgate, domains='"own.test", "new.test"',
                 listeners=f'( {{ address = "127.0.0.1:{sealgate.smtp_port}"; }}, '
                           f'{{ address = "127.0.0.1:{sealgate.smtp_port + 1}"; }} )')
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=listeners_changed action=restart")
    d.wait_log(r"event=restart_needed")
    # a broken file is refused and the old policy stays
    sealgate.conf.write_text(sealgate.conf.read_text() + "\nsmtpd_bogus = 1;\n")
    d.signal(signal.SIGHUP)
    d.wait_log(r"event=reload_failed")
    c = Raw(sealgate.smtp_port).greet()
    c.ehlo()
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
    assert c.cmd("RCPT TO:<u@new.test>")[0] == 250


def test_several_loops_and_clean_stop(sealgate):
    smtpd_config(sealgate, smtpd="loops = 2; max_connections_per_client = 200;")
    d = sealgate.start(role="smtpd")
    d.wait_log(r"event=listening .* loops=2")
    results = []

    def client():
        for _ in range(20):
            results.append(send_message(sealgate.smtp_port)[0])
    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [250] * 160
    assert len(queue_list(sealgate)) == 160
    idle = Raw(sealgate.smtp_port).greet()
    assert d.stop() == 0
    code, lines = idle.reply()
    assert code == 421 and lines[0].startswith("4.3.2")
    assert "event=loop_not_empty" not in d.log()


RULES = """
worker = {
  rules = (
    { name = "sales"; recipients = [ "@sales.own.test" ]; sign = "required"; },
    { name = "rest"; }
  );
};
"""


def test_strict_single_rule(sealgate):
    smtpd_config(sealgate, smtpd="strict_single_rule = true;", top=RULES,
                 domains='"own.test", "sales.own.test"')
    sealgate.start(role="smtpd")
    c = Raw(sealgate.smtp_port).greet()
    c.ehlo()
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
    assert c.cmd("RCPT TO:<x@sales.own.test>")[0] == 250
    assert c.cmd("RCPT TO:<y@sales.own.test>")[0] == 250
    code, lines = c.cmd("RCPT TO:<u@own.test>")
    assert code == 452 and lines[0].startswith("4.5.3")
    assert c.cmd("DATA")[0] == 354
    assert c.cmd(b"Subject: s\r\n\r\nx\r\n.\r\n")[0] == 250
    # the retry in its own transaction goes through
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
    assert c.cmd("RCPT TO:<u@own.test>")[0] == 250
    assert c.cmd("RCPT TO:<x@sales.own.test>")[0] == 452


def test_without_strict_single_rule_mixed_recipients_pass(sealgate):
    smtpd_config(sealgate, top=RULES, domains='"own.test", "sales.own.test"')
    sealgate.start(role="smtpd")
    c = Raw(sealgate.smtp_port).greet()
    c.ehlo()
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
    assert c.cmd("RCPT TO:<x@sales.own.test>")[0] == 250
    assert c.cmd("RCPT TO:<u@own.test>")[0] == 250


def test_under_the_master(sealgate):
    smtpd_config(sealgate)
    d = sealgate.start()
    assert send_message(sealgate.smtp_port)[0] == 250
    wait_until(lambda: "role=smtpd" in d.log(), what="smtpd log")
    assert d.stop() == 0


def test_listener_change_on_reload_rebinds_under_the_master(sealgate):
    """smtpd cannot rebind once unprivileged: it stops cleanly and the master
    starts a new one at once (no crash backoff), which binds the new set."""
    smtpd_config(sealgate)
    d = sealgate.start()
    old = int(d.wait_log(r"event=role_started role=smtpd pid=(\d+)")[0].group(1))
    assert send_message(sealgate.smtp_port)[0] == 250
    port = free_port()
    smtpd_config(sealgate, listeners=f'( {{ address = "127.0.0.1:{port}"; }} )')
    d.signal(signal.SIGHUP)
    d.wait_log(rf"event=role_restarting role=smtpd pid={old} reason=reload")
    new = int(d.wait_log(r"event=role_started role=smtpd pid=(\d+)", count=2)[-1].group(1))
    assert new != old
    d.wait_log(rf"event=listening listener=\S+ address=127.0.0.1:{port}")
    assert send_message(port)[0] == 250
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", sealgate.smtp_port), timeout=2)
    assert "event=role_exited" not in d.log()
    assert d.stop() == 0


def test_config_checks(sealgate):
    import subprocess
    from conftest import SEALGATED
    for smtpd, msg in [("error_soft_limit = 5; error_hard_limit = 5;", "error_hard_limit"),
                       ("max_recipients = 99;", "max_recipients"),
                       ('tarpit_delay = "1s";', "tarpit_delay"),
                       ('recipient_deny_file = "/nonexistent/deny";', "recipient_deny_file")]:
        smtpd_config(sealgate, smtpd=smtpd)
        r = subprocess.run([SEALGATED, "-n", "-c", str(sealgate.conf)], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode != 0 and msg in r.stderr, (smtpd, r.stderr)
