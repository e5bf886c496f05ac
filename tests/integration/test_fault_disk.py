"""Faults of the disk under the queue: write and sync errors, a full disk, a full map.

The promise (README, Guarantees): mail that cannot be stored gets a
temporary failure, never a 250 -- 452 4.3.1 when the disk or the map is
full, 451 4.3.0 when a write or an fsync fails --; no role crashes; mail
accepted before stays intact; and once space or the disk is back, the same
processes accept and deliver again without a restart.
"""
import signal
import smtplib

import pytest

from conftest import wait_until
from faults import FaultFs, Tmpfs, role_pids, send, wait_arrived
from peers import SmtpPeer


def gateway_config(sealgate, sink, extra="", delivery=""):
    sealgate.write_config(
        'own_domains = [ "example.com" ];\nown_servers = [ "127.0.0.1" ];\n'
        f'delivery = {{ routes = ( {{ domains = [ "partner.test" ]; '
        f'hosts = [ "127.0.0.1:{sink.port}" ]; }} ); scan_interval = "100ms"; {delivery} }};\n'
        + extra)


def smtpd(sealgate, keys):
    """An smtpd section with the usual listener and keys."""
    return (f'smtpd = {{ listeners = ( {{ address = "127.0.0.1:{sealgate.smtp_port}"; }} ); '
            f'{keys} }};\n')


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


def fill_until_refused(port, tag, size, tries=40):
    """Send messages of size bytes until one is refused; the replies, in order."""
    replies = []
    for i in range(tries):
        body = f"Subject: {tag}-{i}\r\n\r\n".encode() + (b"x" * 76 + b"\r\n") * (size // 78)
        code, text = send(port, ["a@partner.test"], body)
        replies.append((f"{tag}-{i}", code, text))
        if code != 250:
            break
    return replies


def check_full_then_back(sealgate, d, sink, replies, release):
    """The refusals were 452 4.3.1; everything acknowledged arrives once space
    is back; the same roles then accept and deliver new mail."""
    refused = [(t, c, x) for t, c, x in replies if c != 250]
    assert refused, f"the disk never filled: {replies}"
    assert all((c, x[:5]) == (452, "4.3.1") for _, c, x in refused), refused
    # logged: a spool that failed, or the refusal of a body that could not be spilled
    d.wait_log(r'event=spool_failed error="[^"]*full|reply="452 4\.3\.1')
    release()
    for tag, code, _ in replies:
        if code == 250:
            wait_arrived(sink, tag + "\r\n", timeout=20)
    assert not [m for m in sink.messages
                for t, c, _ in refused if (t + "\r\n").encode() in m["body"]]
    code, text = send(sealgate.smtp_port, ["a@partner.test"], tagged("space-is-back"))
    assert code == 250, text
    wait_arrived(sink, "space-is-back")
    no_role_restarted(d)


@pytest.mark.parametrize("size", [20_000, 600_000], ids=["in-memory", "spilled"])
def test_disk_full_gives_452_and_recovers_without_restart(sealgate, tmp_path, size):
    """The state directory on a 24 MB tmpfs, filled up with a ballast file
    while the gateway runs: messages get 452 4.3.1 (never 250, never 451)
    whether smtpd holds the body in memory or spilled it to a file in the
    state directory (over spill_threshold, 256K); once the ballast is
    removed, what got 250 before arrives and new mail is taken, by the
    same processes.

    Shown to fail: without the ballast (the disk never fills) the first
    assertion fails. Before the fixes both cases answered 451 4.3.0: the
    in-memory one because LMDB reports a write cut short by a full disk as
    EIO (queue_open.c now takes EIO on a full filesystem for full), the
    spilled one because smtpd called the spill file's ENOSPC a "local
    error" (smtpd_session.c)."""
    with Tmpfs(sealgate.state_dir, "24m") as disk, SmtpPeer(port=0) as sink:
        try:
            # min_free 0: no refusal at MAIL FROM, the commit must refuse
            gateway_config(sealgate, sink, smtpd(sealgate, "min_free = 0;"))
            d = sealgate.start()
            code, text = send(sealgate.smtp_port, ["a@partner.test"], tagged("before-full"))
            assert code == 250, text
            wait_arrived(sink, "before-full")
            disk.fill(leave=size // 2)
            replies = fill_until_refused(sealgate.smtp_port, "full", size)
            check_full_then_back(sealgate, d, sink, replies, disk.free)
        finally:
            for daemon in sealgate.daemons:
                daemon.kill()


def mail_from(port, size=None):
    """The reply to MAIL FROM (with SIZE=size when given)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.ehlo("client.test")
        code, text = s.mail("s@example.com", [f"SIZE={size}"] if size is not None else [])
        return code, text.decode()


def test_too_little_free_space_refuses_at_mail_from(sealgate):
    """Before a client sends a byte of its message, MAIL FROM is refused
    with 452 4.3.1 when the state directory's filesystem has less than
    smtpd.min_free left, plus one and a half times the SIZE it declared (as
    Postfix does with queue_minfree): the client retries later, having
    transferred nothing, instead of learning after DATA that the disk is
    full. The key is live: a reload that lowers it lets mail in at once.

    Shown to fail: before smtpd_policy_room(), the first MAIL FROM (default
    min_free 100M on a 24 MB tmpfs) got 250 2.1.0."""
    with Tmpfs(sealgate.state_dir, "24m") as disk, SmtpPeer(port=0) as sink:
        try:
            gateway_config(sealgate, sink)
            d = sealgate.start()
            assert mail_from(sealgate.smtp_port) == (452, "4.3.1 Insufficient system storage")
            assert send(sealgate.smtp_port, ["a@partner.test"])[0] == 452
            d.wait_log(r'event=reject .*command=MAIL .*reply="452 4\.3\.1')

            gateway_config(sealgate, sink, smtpd(sealgate, 'min_free = "1M";'))
            d.signal(signal.SIGHUP)
            d.wait_log(r"event=reload_changed key=smtpd\.min_free")
            wait_until(lambda: mail_from(sealgate.smtp_port)[0] == 250, 10,
                       what="MAIL FROM taken after the reload")
            free = disk.avail()
            assert mail_from(sealgate.smtp_port, free)[0] == 452
            assert mail_from(sealgate.smtp_port, (free - (1 << 20)) // 2)[0] == 250
            code, text = send(sealgate.smtp_port, ["a@partner.test"], tagged("room-again"))
            assert code == 250, text
            wait_arrived(sink, "room-again")
            no_role_restarted(d)
        finally:
            for daemon in sealgate.daemons:
                daemon.kill()


def test_map_full_gives_452_and_recovers_without_restart(sealgate, tmp_path):
    """queue.map_size_max = 2M with the next hop refusing (4xx) so that mail
    stays: smtpd answers 452 4.3.1 once the map is full, never 250; mail
    already accepted is intact; when the next hop takes mail again and the
    queue drains, the same smtpd accepts again.

    Shown to fail: with map_size_max = "64M" the disk never fills and the
    first assertion fails."""
    with SmtpPeer(port=0, data="451 4.3.0 not now") as sink:
        gateway_config(sealgate, sink, 'queue = { map_size_max = "2M"; };\n',
                       delivery='retry_min = "500ms"; retry_max = "1s";')
        d = sealgate.start()
        replies = fill_until_refused(sealgate.smtp_port, "map", 120_000)

        def release():
            sink.data = "250 2.0.0 queued"
        check_full_then_back(sealgate, d, sink, replies, release)


def live_ids(sealgate):
    import json
    out = sealgate.sealctl("queue", "list", "--json").stdout
    return [json.loads(line)["queue_id"] for line in out.splitlines()]


@pytest.mark.parametrize("role,after", [("worker", 0), ("worker", 1), ("delivery", 0)])
def test_worker_and_delivery_survive_sync_errors(sealgate, tmp_path, role, after):
    """fdatasync fails in one role only (after letting `after` commits of it
    through: the worker's claim, so that the commit that fails is the
    completion of a message it holds; delivery, with nothing else in
    flight, takes the message without a commit (queue_due_peek), so its
    first commit is the record of a message it sent).
    The role neither dies nor loses the message: once the disk works
    again it is delivered within seconds, exactly once -- not after the
    5-minute lease, and not a second time.

    Shown to fail: before the fix in worker/batch.c the worker case with
    after=1 left the message claimed until its lease ended (5 minutes);
    before the fix in delivery/agent.c the delivery case (then after=1,
    past the take's commit) sent the message, lost its result, and sent it
    again when the lease ended."""
    fs = FaultFs(tmp_path)
    with SmtpPeer(port=0) as sink:
        gateway_config(sealgate, sink, 'worker = { housekeeping = "1h"; };\n')
        d = sealgate.start(env=fs.env)
        fs.on(f"sync EIO after {after} role {role}")
        [mid] = sealgate.sealctl("queue", "inject", "--rcpt", "a@partner.test",
                                 "--sender", "s@example.com",
                                 input=tagged("held-by-the-fault"), text=False).stdout.decode().split()
        wait_until(lambda: fs.hits(d), 10, what="an injected sync error")
        pid = role_pids(d)[role][0]
        assert all(int(p) == pid for p, _ in fs.hits(d)), fs.hits(d)
        import time
        time.sleep(1.5)                     # the role tries again, and fails again
        fs.off()
        wait_until(lambda: mid not in live_ids(sealgate), 15,
                   what="the message to leave the queue")
        time.sleep(1.0)
        got = [m for m in sink.messages if b"held-by-the-fault" in m["body"]]
        assert len(got) == 1, got
        no_role_restarted(d)
