"""MTA-STS (RFC 8461) against real peers: dnsmasq with the _mta-sts TXT
record, a local HTTPS server (sts_server.py) whose certificate the test
PKI issued (the gateway trusts the PKI's root through sts_ca_file), and
SMTP peers with STARTTLS.

The MX of sts.test presents a self-signed certificate: under the enforced
policy it must never get the mail (deferred 4.7.4, certificate not
verified); without a policy it gets it opportunistically. That difference
is how each step shows which policy applied.
"""
import functools
import re

from conftest import free_port, wait_until
from peers import Dns, Injector, SmtpPeer, issued_by
from sts_server import PolicyServer
from test_delivery import config, dns_records, results, wait_result

POLICY = "version: STSv1\r\nmode: enforce\r\nmx: mx.sts.test\r\nmax_age: 86400\r\n"
MX = "127.0.0.21"


def records(txt_id):
    return dns_records("--mx-host=sts.test,mx.sts.test,10", f"--host-record=mx.sts.test,{MX}",
                       "--host-record=mta-sts.sts.test,127.0.0.1",
                       f'--txt-record=_mta-sts.sts.test,v=STSv1; id={txt_id};')


def sts_config(sealgate, dns, port, sts_port, ca):
    config(sealgate, dns, port, extra=(
        f'mta_sts = true; sts_port = {sts_port}; sts_ca_file = "{ca}"; '
        'sts_fetch_timeout = "3s"; tls_policy = "opportunistic";'))
    sealgate.conf.write_text('log_level = "debug";\n' + sealgate.conf.read_text())


def test_enforce_cache_restart_and_unreachable_host(sealgate, tmp_path):
    from pki import get_pki
    p = get_pki()
    port = free_port(MX)
    cert, key = issued_by(p, tmp_path, "mta-sts.sts.test")
    dns_port = free_port()
    with Dns(records("20261204"), port=dns_port) as dns, \
            PolicyServer(cert, key, POLICY) as web, \
            SmtpPeer(MX, port, starttls="offer", name="mx.sts.test", tmpdir=tmp_path) as mx:
        sts_config(sealgate, dns, port, web.port, p.root.cert)
        d = sealgate.start(role="delivery")
        # 1. the first message to the domain starts the background fetch
        # (whether it goes before the policy is in is a race; both are fine)
        Injector(sealgate).inject("s@sender.test", ["a@sts.test"])
        d.wait_log(r"event=sts_policy_fetched domain=sts\.test id=20261204 mode=enforce "
                   r"max_age=86400 mx=1")
        assert web.requests == ["/.well-known/mta-sts.txt"]
        cache = sealgate.state_dir / "sts" / "sts.test"
        assert "mode: enforce" in cache.read_text()
        # 2. enforced: the MX certificate does not verify, so it is deferred
        Injector(sealgate).inject("s@sender.test", ["b@sts.test"])
        r = wait_result(d, "b@sts.test", "deferred")
        assert r["dsn"] == "4.7.4" and "could not be verified" in r["reply"], r
        assert all(m["rcpts"] == ["a@sts.test"] for m in mx.messages)
        # 3. after a restart: the cached policy, with no fetch (same TXT id)
        d.stop()
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["c@sts.test"])
        r = wait_result(d, "c@sts.test", "deferred")
        assert r["dsn"] == "4.7.4", r
        wait_until(lambda: "event=sts_policy_fetched" not in d.log() and
                   re.search(r"event=delivery .*c@sts\.test", d.log()), 5)
        assert len(web.requests) == 1
        out = sealgate.sealctl("tls", "check", "sts.test").stdout
        assert "mta-sts txt: id=20261204\n" in out
        assert "mta-sts cached: id=20261204 mode=enforce max_age=86400" in out, out
        assert f"host: mx.sts.test [{MX}] policy: mta-sts verify" in out, out
        d.stop()
    # 4. a new TXT id but the policy host is gone: the cached policy applies
    with Dns(records("20261205"), port=dns_port) as dns, \
            SmtpPeer(MX, port, starttls="offer", name="mx.sts.test", tmpdir=tmp_path) as mx:
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["e@sts.test"])
        d.wait_log(r"event=sts_fetch_failed domain=sts\.test .*cached=yes")
        r = wait_result(d, "e@sts.test", "deferred")
        assert r["dsn"] == "4.7.4", r
        assert mx.messages == []


def test_negative_controls_off_and_explicit_policy(sealgate, tmp_path):
    """The same world with mta_sts off: no lookup, no fetch, delivered
    opportunistically; and with it on, an explicit tls_policies level for
    the domain wins over the policy (precedence) and nothing is fetched."""
    from pki import get_pki
    p = get_pki()
    port = free_port(MX)
    cert, key = issued_by(p, tmp_path, "mta-sts.sts.test")
    with Dns(records("1")) as dns, PolicyServer(cert, key, POLICY) as web, \
            SmtpPeer(MX, port, starttls="offer", name="mx.sts.test", tmpdir=tmp_path):
        config(sealgate, dns, port, extra=(
            f'mta_sts = false; sts_port = {web.port}; sts_ca_file = "{p.root.cert}";'))
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["a@sts.test"])
        assert wait_result(d, "a@sts.test", "sent")["tls"].startswith("TLSv1.")
        d.stop()
        config(sealgate, dns, port, extra=(
            f'mta_sts = true; sts_port = {web.port}; sts_ca_file = "{p.root.cert}"; '
            'tls_policies = ( { domains = [ "sts.test" ]; policy = "required"; } );'))
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["b@sts.test", "c@sts.test"])
        assert wait_result(d, "b@sts.test", "sent")["tls"].startswith("TLSv1.")
        assert web.requests == []


# what each domain's policy host answers, and how the gateway must read it
REFUSALS = {
    "st1.test": ((404, "text/plain", b"not here", {}), "HTTP status 404"),
    "st2.test": ((200, "text/html", POLICY.encode(), {}), "media type is not text/plain"),
    "st3.test": ((200, "text/plain", POLICY.encode() + b"x" * 70000, {}),
                 "policy larger than 65536 bytes"),
    "st4.test": ((301, "text/plain", b"", {"Location": "https://mta-sts.sts.test/"}),
                 "HTTP status 301"),
    "st5.test": ((200, "text/plain; charset=utf-8", b"version: STSv1\r\nmode: strict\r\n", {}),
                 "the policy does not parse"),
}


def test_a_policy_fetch_that_fails_applies_no_policy(sealgate, tmp_path):
    """RFC 8461 3.3: only a 200 with text/plain, no redirect, a bounded size and
    a policy that parses counts. Each domain's policy host answers one way
    that must not: the fetch is logged as failed with the reason, nothing is
    cached, and the mail goes as if the domain had no policy (delivered to
    its MX, whose self-signed certificate an enforced policy would refuse)."""
    from pki import get_pki
    p = get_pki()
    port = free_port(MX)
    hosts = [f"mta-sts.{d}" for d in REFUSALS]
    cert, key = issued_by(p, tmp_path, "mta-sts.sts.test", also=hosts)
    dns = []
    for d in REFUSALS:
        dns += [f"--mx-host={d},mx.{d},10", f"--host-record=mx.{d},{MX}",
                f"--host-record=mta-sts.{d},127.0.0.1", f"--txt-record=_mta-sts.{d},v=STSv1; id=1;"]
    answer = lambda host: REFUSALS[host[len("mta-sts."):]][0] if host in hosts else None
    with Dns(dns_records(*dns)) as dnsd, PolicyServer(cert, key, POLICY, answer) as web, \
            SmtpPeer(MX, port, starttls="offer", name="mx.sts.test", tmpdir=tmp_path) as mx:
        sts_config(sealgate, dnsd, port, web.port, p.root.cert)
        d = sealgate.start(role="delivery")
        for domain, (_, why) in REFUSALS.items():
            Injector(sealgate).inject("s@sender.test", [f"a@{domain}"])
            d.wait_log(rf'event=sts_fetch_failed domain={re.escape(domain)} '
                       rf'reason="{re.escape(why)}" cached=no')
            assert not (sealgate.state_dir / "sts" / domain).exists()
            # no policy: a second message goes opportunistically, to the MX
            Injector(sealgate).inject("s@sender.test", [f"b@{domain}"])
            assert wait_result(d, f"b@{domain}", "sent")["tls"].startswith("TLSv1."), domain
        assert "event=sts_policy_fetched" not in d.log()
        assert len(web.requests) == len(REFUSALS)
        assert {m["rcpts"][0] for m in mx.messages} >= {f"b@{d}" for d in REFUSALS}
