"""The delivery role against real peers: dnsmasq for DNS, SMTP servers on loopback.

Messages are put into the queue READY (as the worker leaves them) by the
injector in peers.py; the delivery role (sealgated --role delivery) routes,
connects, and records results; its log has one line per recipient result.
Every MX host listens on the same port (smtp_port) on its own loopback
address (127.0.0.x). Bounces go to the sender's domain, sender.test, whose
MX is a recording peer too, so each report is parsed as a real message.
"""
import email
import email.policy
import os
import re

import pytest

from conftest import free_port, wait_until
from peers import Dns, Injector, SmtpPeer, issued_by, nss_db

SENDER_HOST = "127.0.0.20"


def dns_records(*extra):
    return ["--mx-host=sender.test,mx.sender.test,10",
            f"--host-record=mx.sender.test,{SENDER_HOST}"] + list(extra)


def config(env, dns, port, extra="", nss=True, trust=()):
    env.state_dir.mkdir(exist_ok=True)
    if nss:
        nss_db(env.state_dir / "nssdb", trust)
    defaults = {"scan_interval": '"100ms"', "dns_timeout": '"300ms"', "dns_tries": "1",
                "retry_min": '"1s"', "retry_max": '"2s"', "reuse_time": '"300ms"'}
    keys = "".join(f"  {k} = {v};\n" for k, v in defaults.items()
                   if not re.search(rf"\b{k}\s*=", extra))
    env.write_config(
        f'delivery = {{ smtp_port = {port}; dns_servers = [ "{dns.server}" ];\n'
        f'{keys}  {extra}\n}};\n')


def results(daemon, rcpt=None):
    """Parsed delivery log lines: dicts of key -> value."""
    out = []
    for line in daemon.log().splitlines():
        if "event=delivery " not in line:
            continue
        d = dict(re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', line))
        d = {k: v.strip('"') for k, v in d.items()}
        if rcpt is None or d.get("rcpt") == rcpt:
            out.append(d)
    return out


def wait_result(daemon, rcpt, status, timeout=15):
    def found():
        return [r for r in results(daemon, rcpt) if r["status"] == status]
    return wait_until(found, timeout, what=f"{rcpt} {status}")[-1]


def dsn_parts(raw):
    """(message, delivery-status blocks) of an RFC 3464 report."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    assert parts[0].get_content_type() == "text/plain"
    status = parts[1]
    assert status.get_content_type() == "message/delivery-status"
    blocks = status.get_payload()     # list of Message: per-message, then per-recipient
    return msg, blocks


@pytest.fixture
def port():
    return free_port("127.0.0.10")


def test_mx_preference_fallback_and_4xx_greeting(sealgate, port, tmp_path):
    recs = dns_records(
        "--mx-host=pref.test,mx1.pref.test,10", "--mx-host=pref.test,mx2.pref.test,20",
        "--host-record=mx1.pref.test,127.0.0.10", "--host-record=mx2.pref.test,127.0.0.11",
        # fallback.test: the best MX refuses connections
        "--mx-host=fallback.test,down.fallback.test,5", "--mx-host=fallback.test,mx2.pref.test,50",
        "--host-record=down.fallback.test,127.0.0.12",
        # busy.test: the best MX greets with 421
        "--mx-host=busy.test,busy.busy.test,1", "--mx-host=busy.test,mx2.pref.test,2",
        "--host-record=busy.busy.test,127.0.0.13")
    with Dns(recs) as dns, SmtpPeer("127.0.0.10", port) as mx1, \
            SmtpPeer("127.0.0.11", port) as mx2, \
            SmtpPeer("127.0.0.13", port, greeting="421 4.3.2 too busy") as busy:
        config(sealgate, dns, port)
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["a@pref.test", "b@fallback.test",
                                                    "c@busy.test"])
        r = wait_result(d, "a@pref.test", "sent")
        assert r["relay"] == f"mx1.pref.test[127.0.0.10]:{port}"
        r = wait_result(d, "b@fallback.test", "sent")
        assert r["relay"] == f"mx2.pref.test[127.0.0.11]:{port}"
        r = wait_result(d, "c@busy.test", "sent")
        assert r["relay"] == f"mx2.pref.test[127.0.0.11]:{port}"
        assert mx1.rcpts_delivered() == ["a@pref.test"]
        assert sorted(mx2.rcpts_delivered()) == ["b@fallback.test", "c@busy.test"]
        assert len(busy.sessions) >= 1 and busy.rcpts_delivered() == []


def test_implicit_mx(sealgate, port):
    with Dns(dns_records("--host-record=nomx.test,127.0.0.11")) as dns, \
            SmtpPeer("127.0.0.11", port) as mx:
        config(sealgate, dns, port)
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["u@nomx.test"])
        r = wait_result(d, "u@nomx.test", "sent")
        assert r["relay"] == f"nomx.test[127.0.0.11]:{port}"
        assert mx.rcpts_delivered() == ["u@nomx.test"]


def test_null_mx_and_nxdomain_bounce(sealgate, port):
    recs = dns_records("--mx-host=nullmx.test,.,0")
    with Dns(recs) as dns, SmtpPeer(SENDER_HOST, port) as sender:
        config(sealgate, dns, port)
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["u@nullmx.test", "v@nowhere.test"])
        r = wait_result(d, "u@nullmx.test", "bounced")
        assert r["dsn"] == "5.1.10" and "null MX" in r["reply"]
        r = wait_result(d, "v@nowhere.test", "bounced")
        assert r["dsn"] == "5.1.2" and "NXDOMAIN" in r["reply"]
        wait_until(lambda: sender.messages, 15, what="bounce")
        m = sender.messages[0]
        assert m["sender"] == "" and m["rcpts"] == ["s@sender.test"]
        msg, blocks = dsn_parts(m["body"])
        finals = {b["Final-Recipient"]: b for b in blocks[1:]}
        assert finals["rfc822; u@nullmx.test"]["Action"] == "failed"
        assert finals["rfc822; u@nullmx.test"]["Status"] == "5.1.10"
        assert finals["rfc822; v@nowhere.test"]["Status"] == "5.1.2"


def test_dns_timeout_is_temporary(sealgate, port):
    recs = dns_records("--server=/slow.test/127.0.0.1#9")
    with Dns(recs, local=("sender.test", "nowhere.test")) as dns:
        config(sealgate, dns, port)
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["u@slow.test"])
        r = wait_result(d, "u@slow.test", "deferred")
        assert r["dsn"].startswith("4.") and r["relay"] == "none"


def test_4xx_then_success_on_retry(sealgate, port):
    recs = dns_records("--mx-host=retry.test,mx.retry.test,10",
                       "--host-record=mx.retry.test,127.0.0.11")
    with Dns(recs) as dns, SmtpPeer("127.0.0.11", port, rcpt={
            "u@retry.test": ["451 4.3.0 try again later", "250 2.1.5 ok"]}) as mx:
        config(sealgate, dns, port)
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["u@retry.test"])
        r = wait_result(d, "u@retry.test", "deferred")
        assert r["attempt"] == "1" and "451 4.3.0 try again later" in r["reply"]
        r = wait_result(d, "u@retry.test", "sent", timeout=20)
        assert r["attempt"] == "2"
        assert mx.rcpts_delivered() == ["u@retry.test"]


def test_5xx_bounce_is_rfc3464_with_remote_reply(sealgate, port):
    recs = dns_records("--mx-host=hard.test,mx.hard.test,10",
                       "--host-record=mx.hard.test,127.0.0.11")
    body = b"Subject: quarterly numbers\r\nMessage-ID: <m1@sender.test>\r\n\r\nsecret body\r\n"
    with Dns(recs) as dns, SmtpPeer(SENDER_HOST, port) as sender, \
            SmtpPeer("127.0.0.11", port, rcpt={"gone@hard.test": "550 5.1.1 no such user"}):
        config(sealgate, dns, port)
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["gone@hard.test"], body=body, envid="E42")
        wait_result(d, "gone@hard.test", "bounced")
        wait_until(lambda: sender.messages, 15, what="bounce")
        msg, blocks = dsn_parts(sender.messages[0]["body"])
        assert msg["To"] == "s@sender.test"
        assert "MAILER-DAEMON" in msg["From"]
        assert msg["Auto-Submitted"] == "auto-replied"
        assert blocks[0]["Reporting-MTA"].startswith("dns;")
        assert blocks[0]["Original-Envelope-Id"] == "E42"
        rb = blocks[1]
        assert rb["Final-Recipient"] == "rfc822; gone@hard.test"
        assert rb["Action"] == "failed" and rb["Status"] == "5.1.1"
        assert rb["Remote-MTA"] == "dns; mx.hard.test"
        assert rb["Diagnostic-Code"] == "smtp; 550 5.1.1 no such user"
        headers = msg.get_payload()[2]
        assert headers.get_content_type() == "text/rfc822-headers"
        text = headers.get_payload()
        assert "quarterly numbers" in text and "secret body" not in text


def test_partial_success(sealgate, port):
    recs = dns_records("--mx-host=mix.test,mx.mix.test,10",
                       "--host-record=mx.mix.test,127.0.0.11")
    with Dns(recs) as dns, SmtpPeer(SENDER_HOST, port) as sender, \
            SmtpPeer("127.0.0.11", port, rcpt={
                "later@mix.test": "452 4.2.2 mailbox full",
                "bad@mix.test": "550 5.1.1 unknown"}) as mx:
        config(sealgate, dns, port, extra='retry_min = "1h"; retry_max = "1h";')
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["ok@mix.test", "later@mix.test",
                                                    "bad@mix.test"])
        assert wait_result(d, "ok@mix.test", "sent")["dsn"] == "2.0.0"
        assert wait_result(d, "later@mix.test", "deferred")["dsn"] == "4.2.2"
        assert wait_result(d, "bad@mix.test", "bounced")["dsn"] == "5.1.1"
        assert mx.rcpts_delivered() == ["ok@mix.test"]
        wait_until(lambda: sender.messages, 15, what="bounce")
        _, blocks = dsn_parts(sender.messages[0]["body"])
        assert [b["Final-Recipient"] for b in blocks[1:]] == ["rfc822; bad@mix.test"]


def test_too_many_recipients_go_on_at_once_in_new_transactions(sealgate, port):
    """A server taking 2 RCPTs a transaction answers the third "452 4.5.3":
    the rest goes in further transactions right away, not after the backoff
    (retry_min is an hour here)."""
    recs = dns_records("--mx-host=few.test,mx.few.test,10",
                       "--host-record=mx.few.test,127.0.0.11")
    rcpts = [f"u{i}@few.test" for i in range(5)]
    with Dns(recs) as dns, SmtpPeer("127.0.0.11", port, max_rcpts=2) as mx:
        config(sealgate, dns, port, extra='retry_min = "1h"; retry_max = "1h";')
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", rcpts)
        for r in rcpts:
            wait_result(d, r, "sent", timeout=10)
        assert sorted(mx.rcpts_delivered()) == rcpts
        assert [len(m["rcpts"]) for m in mx.messages] == [2, 2, 1]
        assert wait_result(d, "u4@few.test", "sent")["attempt"] == "3"


def test_expiry_bounces(sealgate, port):
    recs = dns_records("--mx-host=slowbox.test,mx.slowbox.test,10",
                       "--host-record=mx.slowbox.test,127.0.0.11")
    with Dns(recs) as dns, SmtpPeer(SENDER_HOST, port) as sender, \
            SmtpPeer("127.0.0.11", port, rcpt={"u@slowbox.test": "451 4.3.0 later"}):
        config(sealgate, dns, port, extra='max_lifetime = "2s";')
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["u@slowbox.test"])
        wait_result(d, "u@slowbox.test", "deferred")
        r = wait_result(d, "u@slowbox.test", "bounced", timeout=20)
        assert "expired" in r["reply"] and "451 4.3.0 later" in r["reply"]
        wait_until(lambda: sender.messages, 15, what="bounce")
        _, blocks = dsn_parts(sender.messages[0]["body"])
        assert blocks[1]["Action"] == "failed" and blocks[1]["Status"] == "4.3.0"


def test_drop_mid_data_is_temporary(sealgate, port):
    recs = dns_records("--mx-host=drop.test,mx.drop.test,10",
                       "--host-record=mx.drop.test,127.0.0.11")
    with Dns(recs) as dns, SmtpPeer("127.0.0.11", port, drop_in_data=True) as mx:
        config(sealgate, dns, port, extra='retry_min = "1h"; retry_max = "1h";')
        d = sealgate.start(role="delivery")
        body = b"Subject: big\r\n\r\n" + b"line of text\r\n" * 200
        Injector(sealgate).inject("s@sender.test", ["u@drop.test"], body=body)
        r = wait_result(d, "u@drop.test", "deferred")
        assert r["dsn"] == "4.4.2" and "lost connection" in r["reply"]
        assert mx.messages == []


# ------------------------------------------------------------ TLS policy

TLS_RECS = ["--mx-host=tls.test,mx.tls.test,10", "--host-record=mx.tls.test,127.0.0.11"]


@pytest.mark.parametrize("offer", [True, False])
def test_opportunistic(sealgate, port, tmp_path, offer):
    with Dns(dns_records(*TLS_RECS)) as dns, SmtpPeer(
            "127.0.0.11", port, starttls="offer" if offer else "none", tmpdir=tmp_path) as mx:
        config(sealgate, dns, port, extra='tls_policy = "opportunistic";')
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["u@tls.test"])
        r = wait_result(d, "u@tls.test", "sent")
        assert mx.messages[0]["tls"] is offer
        if offer:
            assert r["tls"].startswith("TLSv1."), r
            assert "STARTTLS" in mx.plaintext_commands()
            assert not any(c.startswith("MAIL") for c in mx.plaintext_commands())
        else:
            assert r["tls"] == "none"


@pytest.mark.parametrize("mode, reason", [
    ("none", "TLS is required, but was not offered by host mx.tls.test"),
    ("454", "TLS is required, but host mx.tls.test refused to start TLS: 454 4.7.0"),
    ("broken", "TLS is required, but the TLS handshake with mx.tls.test failed"),
])
def test_required_never_sends_mail_in_plaintext(sealgate, port, tmp_path, mode, reason):
    with Dns(dns_records(*TLS_RECS)) as dns, SmtpPeer(
            "127.0.0.11", port, starttls=mode, tmpdir=tmp_path) as mx:
        config(sealgate, dns, port, extra='tls_policies = ( { domains = [ "tls.test" ]; '
               'policy = "required"; } );')
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["u@tls.test"])
        r = wait_result(d, "u@tls.test", "deferred")
        assert r["dsn"] == "4.7.4"
        assert reason in r["reply"], r["reply"]
        cmds = mx.plaintext_commands()
        assert cmds and cmds[0].startswith("EHLO")
        assert not any(c.upper().startswith(("MAIL", "RCPT", "DATA", "AUTH")) for c in cmds)
        assert mx.messages == []


@pytest.mark.parametrize("user", [None, "nobody"])
def test_verify(sealgate, port, tmp_path, user):
    """Run as nobody too: delivery drops privileges once started, and must
    still read the trust anchors of the database it opened as root."""
    from pki import get_pki
    p = get_pki()
    if user and os.geteuid() != 0:
        pytest.skip("needs root")
    recs = dns_records("--mx-host=selfsigned.test,mx.tls.test,10",
                       "--host-record=mx.tls.test,127.0.0.11",
                       "--mx-host=good.test,mx.good.test,10",
                       "--host-record=mx.good.test,127.0.0.12",
                       "--mx-host=wrongname.test,mx.wrongname.test,10",
                       "--host-record=mx.wrongname.test,127.0.0.13")
    cert, key = issued_by(p, tmp_path, "mx.good.test")
    other, other_key = issued_by(p, tmp_path, "not-this-host.test")
    with Dns(recs) as dns, \
            SmtpPeer("127.0.0.11", port, starttls="offer", name="mx.tls.test",
                     tmpdir=tmp_path) as bad, \
            SmtpPeer("127.0.0.12", port, starttls="offer", name="mx.good.test",
                     cert=cert, key=key) as good, \
            SmtpPeer("127.0.0.13", port, starttls="offer", name="mx.wrongname.test",
                     cert=other, key=other_key) as wrong:
        config(sealgate, dns, port, trust=[p.root.cert],
               extra='tls_policy = "verify";')
        if user:
            sealgate.conf.write_text(f'user = "{user}"; group = "nogroup";\n'
                                     + sealgate.conf.read_text())
            for d in (sealgate.dir, sealgate.dir.parent, sealgate.dir.parent.parent):
                os.chmod(d, os.stat(d).st_mode | 0o011)
        d = sealgate.start(role="delivery")
        if user:
            d.wait_log(rf"event=privileges_dropped user={user}")
        Injector(sealgate).inject("s@sender.test", ["u@selfsigned.test", "v@good.test",
                                                    "w@wrongname.test"])
        r = wait_result(d, "u@selfsigned.test", "deferred")
        assert r["dsn"] == "4.7.4" and "could not be verified: untrusted chain" in r["reply"]
        r = wait_result(d, "w@wrongname.test", "deferred")
        assert r["dsn"] == "4.7.4" and "could not be verified: name mismatch" in r["reply"]
        for peer in (bad, wrong):
            assert not any(c.startswith("MAIL") for _, c in peer.all_commands())
            assert peer.messages == []
        r = wait_result(d, "v@good.test", "sent")
        assert r["tls"].startswith("TLSv1.")
        assert good.messages[0]["tls"] is True


def test_starttls_response_injection_ignored(sealgate, port, tmp_path):
    with Dns(dns_records(*TLS_RECS)) as dns, SmtpPeer(
            "127.0.0.11", port, starttls="inject", tmpdir=tmp_path) as mx:
        config(sealgate, dns, port, extra='tls_policy = "required";')
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["u@tls.test"])
        wait_result(d, "u@tls.test", "sent")
        tls_cmds = [c for tls, c in mx.all_commands() if tls]
        # EHLO again over TLS, then the transaction, in order
        assert tls_cmds[0].startswith("EHLO")
        assert tls_cmds[1].startswith("MAIL FROM:<s@sender.test>")
        assert mx.plaintext_commands() == [mx.plaintext_commands()[0], "STARTTLS"]
        assert mx.messages[0]["rcpts"] == ["u@tls.test"]


# ------------------------------------------------------------- smarthost

def smarthost_conf(port, mech, tls="required", creds=None):
    extra = f'smarthost = "127.0.0.30:{port}"; smarthost_tls = "{tls}";'
    if mech:
        extra += f' smarthost_auth = "{mech}"; smarthost_credentials = "{creds}";'
    return extra


@pytest.mark.parametrize("mech", ["plain", "login"])
def test_smarthost_auth_over_starttls(sealgate, port, tmp_path, mech):
    creds = tmp_path / "creds"
    creds.write_text("relayuser\ns3cr3t-pw\n")
    with Dns(dns_records()) as dns, SmtpPeer(
            "127.0.0.30", port, starttls="offer", tmpdir=tmp_path,
            ehlo_extra=["AUTH PLAIN LOGIN"], auth=("relayuser", "s3cr3t-pw")) as relay:
        config(sealgate, dns, port, extra=smarthost_conf(port, mech, creds=creds))
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["x@anywhere.example"])
        r = wait_result(d, "x@anywhere.example", "sent")
        assert r["relay"] == f"127.0.0.30[127.0.0.30]:{port}"
        assert relay.auth_ok == [("relayuser", True)]
        assert not any(c.upper().startswith("AUTH") for c in relay.plaintext_commands())
        assert "s3cr3t-pw" not in d.log()


def test_smarthost_never_authenticates_in_plaintext(sealgate, port, tmp_path):
    creds = tmp_path / "creds"
    creds.write_text("relayuser\ns3cr3t-pw\n")
    with Dns(dns_records()) as dns, SmtpPeer(
            "127.0.0.30", port, starttls="none", ehlo_extra=["AUTH PLAIN LOGIN"],
            auth=("relayuser", "s3cr3t-pw")) as relay:
        config(sealgate, dns, port, extra=smarthost_conf(port, "plain", creds=creds))
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["x@anywhere.example"])
        r = wait_result(d, "x@anywhere.example", "deferred")
        assert r["dsn"] == "4.7.4"
        assert not any(c.upper().startswith(("AUTH", "MAIL")) for c in relay.plaintext_commands())
        assert relay.auth_ok == []


def test_required_tls_domain_through_smarthost_fails(sealgate, port, tmp_path):
    with Dns(dns_records()) as dns, SmtpPeer(SENDER_HOST, port) as sender, \
            SmtpPeer("127.0.0.30", port) as relay:
        # Bounces to sender.test go through its route, not the smarthost.
        config(sealgate, dns, port, extra=smarthost_conf(port, None, tls="none")
               + f' routes = ( {{ domains = [ "sender.test" ]; hosts = [ "{SENDER_HOST}:{port}" ]; '
               'tls = "none"; } );'
               ' tls_policies = ( { domains = [ "bank.example" ]; policy = "verify"; } );')
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["x@bank.example", "y@other.example"])
        r = wait_result(d, "x@bank.example", "bounced")
        assert r["dsn"] == "5.7.4"
        assert "cannot be guaranteed end to end through smarthost" in r["reply"]
        wait_result(d, "y@other.example", "sent")
        assert relay.rcpts_delivered() == ["y@other.example"]
        wait_until(lambda: sender.messages, 15, what="bounce")
        _, blocks = dsn_parts(sender.messages[0]["body"])
        assert "end to end" in blocks[1]["Diagnostic-Code"]


# ------------------------------------------------- reuse and concurrency

def test_connection_reuse_and_destination_limit(sealgate, port):
    recs = dns_records("--mx-host=bulk.test,mx.bulk.test,10",
                       "--host-record=mx.bulk.test,127.0.0.11")
    with Dns(recs) as dns, SmtpPeer("127.0.0.11", port, delay=0.05) as mx:
        config(sealgate, dns, port, extra='destination_concurrency = 2; reuse_time = "2s";')
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["u@bulk.test"], count=40)
        wait_until(lambda: len(mx.messages) == 40, 30, what="40 messages")
        assert mx.max_concurrent == 2
        assert len(mx.sessions) <= 4, len(mx.sessions)
        wait_until(lambda: len(results(d, "u@bulk.test")) == 40, 15, what="40 results")
        assert all(r["status"] == "sent" for r in results(d, "u@bulk.test"))


def test_success_notification_when_asked(sealgate, port):
    recs = dns_records("--mx-host=ok.test,mx.ok.test,10", "--host-record=mx.ok.test,127.0.0.11")
    with Dns(recs) as dns, SmtpPeer(SENDER_HOST, port) as sender, \
            SmtpPeer("127.0.0.11", port, ehlo_extra=[]):
        config(sealgate, dns, port)
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["u@ok.test"], notify=2 | 4)  # SUCCESS,FAILURE
        wait_result(d, "u@ok.test", "sent")
        wait_until(lambda: sender.messages, 15, what="success DSN")
        _, blocks = dsn_parts(sender.messages[0]["body"])
        assert blocks[1]["Action"] == "delivered" and blocks[1]["Status"] == "2.0.0"


def test_stop_is_clean_with_connections_open(sealgate, port):
    """SIGTERM with an idle cached connection and a message mid-retry: the
    loop drains (no handle left), the role exits 0, and untried mail stays."""
    recs = dns_records("--mx-host=idle.test,mx.idle.test,10",
                       "--host-record=mx.idle.test,127.0.0.11",
                       "--mx-host=later.test,mx.later.test,10",
                       "--host-record=mx.later.test,127.0.0.14")
    with Dns(recs) as dns, SmtpPeer("127.0.0.11", port) as mx:
        config(sealgate, dns, port, extra='reuse_time = "30s";')
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["u@idle.test", "v@later.test"])
        wait_result(d, "u@idle.test", "sent")
        wait_result(d, "v@later.test", "deferred")
        assert mx.current == 1           # the cached connection is still open
        assert d.stop() == 0
        log = d.log()
        assert "event=stopped" in log and "loop_not_empty" not in log
        assert "Sanitizer" not in log
        assert mx.all_commands()[-1] == (False, "QUIT")


def test_greeting_timeout_moves_to_next_mx(sealgate, port):
    recs = dns_records("--mx-host=mute.test,mx1.mute.test,10",
                       "--mx-host=mute.test,mx2.mute.test,20",
                       "--host-record=mx1.mute.test,127.0.0.10",
                       "--host-record=mx2.mute.test,127.0.0.11")
    with Dns(recs) as dns, SmtpPeer("127.0.0.10", port, silent=True) as mute, \
            SmtpPeer("127.0.0.11", port) as mx2:
        config(sealgate, dns, port, extra='greeting_timeout = "1s";')
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["u@mute.test"])
        r = wait_result(d, "u@mute.test", "sent")
        assert r["relay"] == f"mx2.mute.test[127.0.0.11]:{port}"
        assert len(mute.sessions) == 1 and mx2.rcpts_delivered() == ["u@mute.test"]


def test_8bit_body_to_a_peer_without_8bitmime_bounces_clearly(sealgate, port):
    recs = dns_records("--mx-host=seven.test,mx.seven.test,10",
                       "--host-record=mx.seven.test,127.0.0.11")
    with Dns(recs) as dns, SmtpPeer("127.0.0.11", port, eightbit=False) as mx:
        config(sealgate, dns, port)
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["u@seven.test"],
                                  body="Subject: caf\u00e9\r\n\r\nna\u00efve\r\n".encode())
        r = wait_result(d, "u@seven.test", "bounced")
        assert r["dsn"] == "5.6.3" and "8BITMIME" in r["reply"]
        assert not any(c.startswith("MAIL") for _, c in mx.all_commands())


def test_delay_warning_once(sealgate, port):
    recs = dns_records("--mx-host=slow2.test,mx.slow2.test,10",
                       "--host-record=mx.slow2.test,127.0.0.11")
    with Dns(recs) as dns, SmtpPeer(SENDER_HOST, port) as sender, \
            SmtpPeer("127.0.0.11", port, rcpt={"u@slow2.test": "451 4.3.0 later"}):
        config(sealgate, dns, port, extra='delay_warning = "1s"; retry_min = "500ms"; '
               'retry_max = "500ms";')
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["u@slow2.test"])
        wait_until(lambda: sender.messages, 15, what="delay notice")
        wait_until(lambda: len(results(d, "u@slow2.test")) >= 4, 15, what="more attempts")
        assert len(sender.messages) == 1
        msg, blocks = dsn_parts(sender.messages[0]["body"])
        assert "Delayed Mail" in msg["Subject"]
        assert blocks[1]["Action"] == "delayed" and blocks[1]["Status"] == "4.3.0"
        assert blocks[1]["Will-Retry-Until"]


@pytest.mark.parametrize("body, message", [
    ('smarthost = "relay.test:25"; smarthost_auth = "plain"; smarthost_credentials = "/etc/passwd";',
     'smarthost_tls must be "required" or "verify" with smarthost_auth'),
    ('routes = ( { domains = [ "a.test" ]; hosts = [ "nohost" ]; } );', 'invalid host "nohost"'),
    ('tls_policy = "sometimes";', "one of: none"),
    ('dns_servers = [ "dns.example:53" ];', "is not a numeric ip:port"),
    ('retry_min = "2h"; retry_max = "1h";', "retry_min is larger than retry_max"),
])
def test_bad_delivery_config_is_refused(sealgate, body, message):
    import subprocess
    from conftest import SEALGATED
    sealgate.state_dir.mkdir()
    sealgate.write_config(f"delivery = {{ {body} }};")
    r = subprocess.run([SEALGATED, "-n", "-c", str(sealgate.conf)], capture_output=True, text=True)
    assert r.returncode == 1
    assert message in r.stderr, r.stderr


def test_reload_reroutes_new_mail(sealgate, port):
    import signal
    with Dns(dns_records()) as dns, SmtpPeer("127.0.0.40", port) as old, \
            SmtpPeer("127.0.0.41", port) as new:
        route = 'routes = ( {{ domains = [ "corp.test" ]; hosts = [ "{}:{}" ]; }} ); ' \
                'reuse_time = "30s";'
        config(sealgate, dns, port, extra=route.format("127.0.0.40", port))
        d = sealgate.start(role="delivery")
        inj = Injector(sealgate)
        inj.inject("s@sender.test", ["a@corp.test"])
        wait_result(d, "a@corp.test", "sent")
        assert old.current == 1          # kept for reuse
        config(sealgate, dns, port, extra=route.format("127.0.0.41", port))
        d.signal(signal.SIGHUP)
        d.wait_log("event=reloaded")
        inj.inject("s@sender.test", ["b@corp.test"])
        r = wait_result(d, "b@corp.test", "sent")
        assert r["relay"] == f"127.0.0.41[127.0.0.41]:{port}"
        assert new.rcpts_delivered() == ["b@corp.test"]
        wait_until(lambda: old.current == 0, 5, what="old connection closed")


def test_large_body_over_tls_arrives_intact_with_crlf_only(sealgate, port, tmp_path):
    lines = [b"Subject: big\r\n", b"\r\n"]
    for i in range(6000):
        lines.append(b".leading dot %d\r\n" % i if i % 7 == 0 else b"line %d of text\r\n" % i)
    body = b"".join(lines) + b"bare LF here\nbare CR here\rlast line without end"
    with Dns(dns_records(*TLS_RECS)) as dns, SmtpPeer(
            "127.0.0.11", port, starttls="offer", tmpdir=tmp_path) as mx:
        config(sealgate, dns, port, extra='tls_policy = "required";')
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["u@tls.test"], body=body)
        wait_result(d, "u@tls.test", "sent")
        got = mx.messages[0]["body"]
        assert mx.messages[0]["tls"] is True
        assert mx.bare_line_endings == 0
        want = b"".join(lines) + b"bare LF here\r\nbare CR here\r\nlast line without end\r\n"
        assert got == want


def test_opportunistic_failed_handshake_retries_in_plaintext(sealgate, port, tmp_path):
    with Dns(dns_records(*TLS_RECS)) as dns, SmtpPeer(
            "127.0.0.11", port, starttls="broken", tmpdir=tmp_path) as mx:
        config(sealgate, dns, port, extra='tls_policy = "opportunistic";')
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["u@tls.test"])
        r = wait_result(d, "u@tls.test", "sent")
        assert r["tls"] == "none" and r["attempt"] == "1"
        assert len(mx.sessions) == 2
        second = [c for c in mx.sessions[1].commands]
        assert (False, "STARTTLS") not in second
        assert mx.messages[0]["tls"] is False


def test_total_connection_limit(sealgate, port):
    # Two destinations (two MX domains) served by one recording peer: the
    # peer sees every connection the agent opens, whatever the domain.
    recs = dns_records("--mx-host=one.test,mx.both.test,10", "--mx-host=two.test,mx.both.test,10",
                       "--host-record=mx.both.test,127.0.0.11")
    with Dns(recs) as dns, SmtpPeer("127.0.0.11", port, delay=0.05) as mx:
        # Idle connections are kept long: one destination's cached ones must
        # still give way to the other's waiting mail.
        config(sealgate, dns, port, extra='destination_concurrency = 5; max_connections = 2; '
               'reuse_time = "30s";')
        d = sealgate.start(role="delivery")
        inj = Injector(sealgate)
        inj.inject("s@sender.test", ["u@one.test"], count=15)
        inj.inject("s@sender.test", ["u@two.test"], count=15)
        wait_until(lambda: len(mx.messages) == 30, 30, what="30 messages")
        assert mx.max_concurrent == 2


def test_aaaa_only_mail_host(sealgate, port):
    recs = dns_records("--mx-host=six.test,mx.six.test,10", "--host-record=mx.six.test,::1")
    with Dns(recs) as dns, SmtpPeer("::1", port) as mx:
        config(sealgate, dns, port)
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["u@six.test"])
        r = wait_result(d, "u@six.test", "sent")
        assert r["relay"] == f"mx.six.test[::1]:{port}"
        assert mx.rcpts_delivered() == ["u@six.test"]


def test_many_messages_refused_before_mail_on_one_connection(sealgate, port):
    recs = dns_records("--mx-host=seven.test,mx.seven.test,10",
                       "--host-record=mx.seven.test,127.0.0.11")
    with Dns(recs) as dns, SmtpPeer("127.0.0.11", port, eightbit=False) as mx:
        config(sealgate, dns, port, extra="reuse_count = 1000; destination_concurrency = 1;")
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("", ["u@seven.test"], body=b"Subject: x\r\n\r\n\xff\r\n",
                                  count=300)
        wait_until(lambda: len(results(d, "u@seven.test")) == 300, 30, what="300 results")
        assert {r["status"] for r in results(d, "u@seven.test")} == {"bounced"}
        assert len(mx.sessions) <= 3
        assert "event=dsn " not in d.log()        # the null sender gets no report


def test_message_cut_off_by_stop_is_retried_at_once_after_restart(sealgate, port):
    recs = dns_records("--mx-host=cut.test,mx.cut.test,10", "--host-record=mx.cut.test,127.0.0.11")
    with Dns(recs) as dns, SmtpPeer("127.0.0.11", port, delay=2.0) as mx:
        config(sealgate, dns, port)
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["u@cut.test"])
        wait_until(lambda: any(c == "DATA" for _, c in mx.all_commands()), 10, what="DATA")
        assert d.stop() == 0                     # cut off while waiting for the 250
        assert results(d, "u@cut.test") == []    # nothing recorded as tried
        mx.delay = 0
        d2 = sealgate.start(role="delivery")
        r = wait_result(d2, "u@cut.test", "sent", timeout=10)   # not after the 5 min lease
        assert r["attempt"] == "1"
