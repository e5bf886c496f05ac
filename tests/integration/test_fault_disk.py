"""Faults of the disk under the queue: write and sync errors, a full disk, a full map.

The promise (README, Guarantees): mail that cannot be stored gets a
temporary failure, never a 250 -- 452 4.3.1 when the disk or the map is
full, 451 4.3.0 when a write or an fsync fails --; no role crashes; mail
accepted before stays intact; and once space or the disk is back, the same
processes accept and deliver again without a restart.
"""
import pytest

from conftest import wait_until
from faults import FaultFs, role_pids, send, wait_arrived
from peers import SmtpPeer


def gateway_config(sealgate, sink, extra=""):
    sealgate.write_config(
        'own_domains = [ "example.com" ];\nown_servers = [ "127.0.0.1" ];\n'
        f'delivery = {{ routes = ( {{ domains = [ "partner.test" ]; '
        f'hosts = [ "127.0.0.1:{sink.port}" ]; }} ); scan_interval = "100ms"; }};\n'
        + extra)


def tagged(tag):
    return f"Subject: {tag}\r\n\r\n{tag}\r\n".encode()


def no_role_restarted(d):
    assert "event=role_exited" not in d.log(), d.log()
    assert all(len(p) == 1 for p in role_pids(d).values()), role_pids(d)


@pytest.mark.parametrize("mode", ["write", "sync", "meta"])
def test_write_and_sync_errors_give_451_never_250(sealgate, tmp_path, mode):
    """EIO from write(2)/pwrite(2) (write), from fdatasync(2) (sync), or
    from the last write of a commit, its meta page (meta): every message
    sent while the disk fails gets 451 4.3.0 and never arrives; no role
    dies; once the disk works again the same processes take and deliver
    mail.

    Shown to fail: with the shim's switch left off, the first assertion
    (451) fails because the message gets 250. Before the fix in
    queue_open.c (a failed meta write leaves LMDB's environment in its
    fatal state, MDB_PANIC, for good), the meta case failed at the last
    send: 451 forever until smtpd was restarted."""
    fs = FaultFs(tmp_path)
    with SmtpPeer(port=0) as sink:
        gateway_config(sealgate, sink)
        d = sealgate.start(env=fs.env)
        code, text = send(sealgate.smtp_port, ["a@partner.test"], tagged("before-fault"))
        assert code == 250, text
        wait_arrived(sink, "before-fault")

        fs.on(mode)
        for i in range(3):
            code, text = send(sealgate.smtp_port, ["a@partner.test"], tagged(f"during-{i}"))
            assert (code, text[:5]) == (451, "4.3.0"), (code, text)
        smtpd = role_pids(d)["smtpd"][0]
        assert any(int(pid) == smtpd for pid, _ in fs.hits(d)), d.log()
        d.wait_log(r"event=spool_failed error=")

        fs.off()
        code, text = send(sealgate.smtp_port, ["a@partner.test"], tagged("after-fault"))
        assert code == 250, text
        wait_arrived(sink, "after-fault")
        assert not [m for m in sink.messages if b"during-" in m["body"]]
        no_role_restarted(d)
