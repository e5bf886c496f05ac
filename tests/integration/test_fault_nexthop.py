"""Next hops and DNS servers that misbehave.

The promise (README, Guarantees): a next hop that drops the connection in
the middle of DATA, answers with garbage, or stalls past the timeout for
the final dot makes the attempt a temporary failure; the message is
retried and delivered exactly once when the next hop recovers. A next hop
that stalls but answers within the timeout gets the message once, on the
first attempt. DNS that times out, SERVFAILs, refuses, answers with a
CNAME loop, a truncated reply (with no TCP to retry on) or garbage defers
the mail, never bounces it; when DNS answers again, the mail goes.

The delivery role runs alone on messages injected READY (peers.Injector).
"""
import time

import pytest

from conftest import free_port, wait_until
from faults import FaultDns, faulty_peer
from peers import Injector, SmtpPeer
from test_delivery import results, wait_result


def config(sealgate, extra, dns=None):
    dns_line = f'dns_servers = [ "{dns.server}" ]; ' if dns else ""
    sealgate.write_config(
        f'delivery = {{ {dns_line}scan_interval = "100ms"; dns_timeout = "300ms"; '
        f'dns_tries = 1; retry_min = "1s"; retry_max = "2s"; reuse_time = "300ms";\n'
        f'  {extra}\n}};\n')


def route(port):
    return f'routes = ( {{ domains = [ "partner.test" ]; hosts = [ "127.0.0.1:{port}" ]; }} );'


def copies(sink, tag):
    return [m for m in sink.messages if tag.encode() in m["body"]]


@pytest.mark.parametrize("fault,stall,extra", [
    ("drop", 0, ""),
    ("garbage", 0, ""),
    ("stall", 4.0, 'dot_timeout = "1s";'),
], ids=["drop-mid-data", "garbage-reply", "stall-past-timeout"])
def test_next_hop_fault_is_retried_and_delivered_once(sealgate, fault, stall, extra):
    """The first session misbehaves, the next ones are fine: one deferred
    attempt with a 4.x.x reason, then one delivery; a few retry periods
    later the sink still holds exactly one copy and the queue is empty.

    Shown to fail: with bad_sessions=99 (the next hop never recovers) the
    wait for status=sent times out; the copy count catches a second
    delivery (it did catch the stall case sending twice when the peer
    recorded messages whose client had gone)."""
    port = free_port()
    with faulty_peer(fault, bad_sessions=1, stall=stall, port=port) as sink:
        config(sealgate, route(port) + extra)
        d = sealgate.start(role="delivery")
        tag = f"once-after-{fault}"
        body = f"Subject: {tag}\r\n\r\n{tag}\r\n".encode() + b"more text\r\n" * 50
        Injector(sealgate).inject("s@example.com", ["u@partner.test"], body=body)
        r = wait_result(d, "u@partner.test", "deferred")
        assert r["dsn"].startswith("4."), r
        wait_result(d, "u@partner.test", "sent", timeout=20)
        time.sleep(stall + 2.5)                 # past any retry that should not come
        assert len(copies(sink, tag)) == 1, copies(sink, tag)
        assert [x["status"] for x in results(d)].count("sent") == 1
        assert sealgate.sealctl("queue", "list", "--json").stdout == ""


def test_next_hop_slow_final_reply_within_timeout_delivers_once(sealgate):
    """A next hop that takes 3 s to answer the final dot (dot_timeout is
    10 minutes): one attempt, sent, no retry, one copy.

    Shown to fail: with dot_timeout = "1s" the first attempt is deferred and
    the assertion on the attempt number fails."""
    port = free_port()
    with faulty_peer("stall", bad_sessions=1, stall=3.0, port=port) as sink:
        config(sealgate, route(port))
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@example.com", ["u@partner.test"],
                                  body=b"Subject: slow\r\n\r\nslow\r\n")
        r = wait_result(d, "u@partner.test", "sent", timeout=20)
        assert r["attempt"] == "1" and "after a stall" in r["reply"], r
        time.sleep(2.5)
        assert len(copies(sink, "slow")) == 1
        assert [x["status"] for x in results(d)] == ["sent"]


DNS_FAULTS = ["timeout", "servfail", "refused", "loop", "trunc", "garbage"]


def test_dns_faults_defer_never_bounce_then_deliver(sealgate):
    """One recipient per DNS fault; each is deferred at least twice with a
    4.x.x status and never bounced (no bounce, no DSN). Then the DNS server
    answers properly for every one of them and each is delivered once.

    Shown to fail: adding a domain the server answers NXDOMAIN for (a
    permanent answer) to DNS_FAULTS makes that recipient bounce, and the
    test stops at "deferred twice"."""
    port = free_port("127.0.0.11")
    with FaultDns() as dns, SmtpPeer("127.0.0.11", port) as mx:
        config(sealgate, f"smtp_port = {port};", dns)
        d = sealgate.start(role="delivery")
        rcpts = [f"u@{m}.test" for m in DNS_FAULTS]
        Injector(sealgate).inject("s@example.com", rcpts,
                                  body=b"Subject: dns\r\n\r\ndns\r\n")
        for r in rcpts:
            wait_until(lambda: len([x for x in results(d, r) if x["status"] == "deferred"])
                       >= 2, 20, what=f"{r} deferred twice")
        for r in results(d):
            assert r["status"] == "deferred" and r["dsn"].startswith("4."), r
        assert "event=dsn " not in d.log()
        for m in DNS_FAULTS:
            dns.mode_for[f"{m}.test"] = "ok"
        for r in rcpts:
            wait_result(d, r, "sent", timeout=20)
        time.sleep(2.5)
        assert sorted(mx.rcpts_delivered()) == sorted(rcpts)
        assert not [x for x in results(d) if x["status"] == "bounced"]


def test_alias_without_mx_is_its_own_exchange(sealgate):
    """A domain that is a CNAME of a host with an address and no MX: the
    MX answer is the CNAME alone (NODATA at its end), so the domain itself
    is the exchange (RFC 5321 5.1) and the mail is delivered.

    Shown to fail: before delivery_mx_parse() (mx.c) the answer with no MX
    record was taken for a malformed reply and deferred until the message
    expired and bounced."""
    port = free_port("127.0.0.11")
    with FaultDns() as dns, SmtpPeer("127.0.0.11", port) as mx:
        config(sealgate, f"smtp_port = {port};", dns)
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@example.com", ["u@cname.test"])
        r = wait_result(d, "u@cname.test", "sent", timeout=10)
        assert r["attempt"] == "1" and r["relay"] == f"cname.test[127.0.0.11]:{port}", r
        assert mx.rcpts_delivered() == ["u@cname.test"]
