"""TLS-RPT (RFC 8460) for test traffic: DANE sessions to good.dane.test
(matching) and bad.dane.test (not matching) in the DNSSEC world of
test_dane.py, both domains publishing _smtp._tls with a mailto: rua at
sender.test, whose MX is a recording peer. tlsrpt_period is two seconds
instead of a day, so the report of a finished period arrives during the
test; it is taken apart as a receiver would (multipart/report, gzip,
JSON) and checked for the fields of RFC 8460 section 4.4.
"""
import email
import email.policy
import gzip
import json

from conftest import free_port, wait_until
from peers import Injector, SmtpPeer
from test_dane import world
from test_delivery import config, wait_result

RUA = '"v=TLSRPTv1; rua=mailto:tlsrpt@sender.test,https://reports.example/x"'


def report_of(raw, domain):
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "tlsrpt"
    assert msg["TLS-Report-Domain"] == domain
    assert msg["TLS-Report-Submitter"]
    assert f"Report Domain: {domain}" in msg["Subject"]
    att = [p for p in msg.get_payload() if p.get_content_type() == "application/tlsrpt+gzip"]
    assert len(att) == 1
    assert att[0].get_filename().endswith(".json.gz")
    return json.loads(gzip.decompress(att[0].get_payload(decode=True)))


def test_reports_for_a_period_of_dane_traffic(sealgate, tmp_path):
    port = free_port("127.0.0.11")
    extra = f"_smtp._tls.good TXT {RUA}\n_smtp._tls.bad TXT {RUA}\n"
    zones = {"sender.test": "@ MX 10 mx\nmx A 127.0.0.20\n"}
    dns, peers = world(tmp_path, port, extra=extra, zones=zones)
    with dns, peers["mx1"], peers["mx2"], \
            SmtpPeer("127.0.0.20", port, name="mx.sender.test") as rua:
        config(sealgate, dns, port, extra='dane = "opportunistic"; tlsrpt = true; '
               'tlsrpt_period = "2s"; retry_min = "10s"; retry_max = "10s";')
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["u@good.dane.test", "u@bad.dane.test"])
        wait_result(d, "u@good.dane.test", "sent")
        wait_result(d, "u@bad.dane.test", "deferred")
        d.wait_log(r"event=tlsrpt_queued domain=good\.dane\.test", timeout=15)
        d.wait_log(r"event=tlsrpt_queued domain=bad\.dane\.test", timeout=15)
        wait_until(lambda: len(rua.messages) >= 2, 15, what="two reports")
        reports = {}
        for m in rua.messages:
            assert m["rcpts"] == ["tlsrpt@sender.test"]
            assert m["sender"] == ""
            msg = email.message_from_bytes(m["body"], policy=email.policy.compat32)
            dom = msg["TLS-Report-Domain"]
            reports[dom] = report_of(m["body"], dom)
        good, bad = reports["good.dane.test"], reports["bad.dane.test"]
        for rep, dom in ((good, "good.dane.test"), (bad, "bad.dane.test")):
            for key in ("organization-name", "date-range", "contact-info", "report-id",
                        "policies"):
                assert key in rep, (key, rep)
            assert rep["date-range"]["start-datetime"].endswith("Z")
            assert rep["date-range"]["end-datetime"] >= rep["date-range"]["start-datetime"]
            pol = rep["policies"][0]
            assert pol["policy"]["policy-type"] == "tlsa"
            assert pol["policy"]["policy-domain"] == dom
            assert set(pol["summary"]) == {"total-successful-session-count",
                                           "total-failure-session-count"}
        gp = good["policies"][0]
        assert gp["policy"]["mx-host"] == ["mx1.dane.test"]
        assert gp["summary"]["total-successful-session-count"] >= 1
        assert gp["summary"]["total-failure-session-count"] == 0
        bp = bad["policies"][0]
        assert bp["summary"]["total-successful-session-count"] == 0
        assert bp["summary"]["total-failure-session-count"] >= 1
        fd = bp["failure-details"][0]
        assert fd["result-type"] == "validation-failure"
        assert fd["receiving-mx-hostname"] == "mx2.dane.test"
        assert fd["receiving-ip"] == "127.0.0.12"
        assert fd["failed-session-count"] == bp["summary"]["total-failure-session-count"]


def test_a_domain_without_rua_gets_no_report_and_its_counts_go(sealgate, tmp_path):
    """No _smtp._tls record: the period's counts are dropped once it ends
    (event=tlsrpt_no_rua), nothing is sent, and the period's directory goes."""
    port = free_port("127.0.0.11")
    zones = {"sender.test": "@ MX 10 mx\nmx A 127.0.0.20\n"}
    dns, peers = world(tmp_path, port, zones=zones)
    with dns, peers["mx1"], SmtpPeer("127.0.0.20", port, name="mx.sender.test") as rua:
        config(sealgate, dns, port, extra='dane = "opportunistic"; tlsrpt = true; '
               'tlsrpt_period = "2s";')
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["u@good.dane.test"])
        wait_result(d, "u@good.dane.test", "sent")
        d.wait_log(r"event=tlsrpt_no_rua domain=good\.dane\.test records=0", timeout=15)
        counts = sealgate.state_dir / "tlsrpt"
        wait_until(lambda: not any(counts.iterdir()), 10, what="the period's directory gone")
        assert "event=tlsrpt_queued" not in d.log()
        assert rua.messages == []


def test_sts_testing_mode_delivers_and_reports(sealgate, tmp_path):
    """An MTA-STS policy in testing mode: the MX's self-signed certificate
    does not verify, the mail goes anyway (testing only reports), and the
    report says so: policy-type sts, the policy's lines as policy-string,
    a certificate-not-trusted failure."""
    from pki import get_pki
    from sts_server import PolicyServer
    from peers import issued_by
    p = get_pki()
    port = free_port("127.0.0.22")
    cert, key = issued_by(p, tmp_path, "mta-sts.ststest.test")
    policy = "version: STSv1\r\nmode: testing\r\nmx: mx.ststest.test\r\nmax_age: 600\r\n"
    zones = {"ststest.test": ("@ MX 10 mx\nmx A 127.0.0.22\nmta-sts A 127.0.0.1\n"
                              '_mta-sts TXT "v=STSv1; id=7;"\n' f"_smtp._tls TXT {RUA}\n"),
             "sender.test": "@ MX 10 mx\nmx A 127.0.0.20\n"}
    dns, _ = world(tmp_path, port, zones=zones)
    with dns, PolicyServer(cert, key, policy) as web, \
            SmtpPeer("127.0.0.22", port, starttls="offer", name="mx.ststest.test",
                     tmpdir=tmp_path) as mx, \
            SmtpPeer("127.0.0.20", port, name="mx.sender.test") as rua:
        config(sealgate, dns, port, extra=(
            f'mta_sts = true; sts_port = {web.port}; sts_ca_file = "{p.root.cert}"; '
            'tlsrpt = true; tlsrpt_period = "2s";'))
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["a@ststest.test"])
        d.wait_log(r"event=sts_policy_fetched domain=ststest\.test id=7 mode=testing")
        wait_result(d, "a@ststest.test", "sent")
        Injector(sealgate).inject("s@sender.test", ["b@ststest.test"])
        wait_result(d, "b@ststest.test", "sent")
        assert len(mx.messages) == 2
        d.wait_log(r"event=tlsrpt_queued domain=ststest\.test", timeout=15)
        wait_until(lambda: rua.messages, 15, what="the report")
        rep = report_of(rua.messages[0]["body"], "ststest.test")
        pol = rep["policies"][0]
        assert pol["policy"]["policy-type"] == "sts"
        assert "mode: testing" in pol["policy"]["policy-string"]
        assert pol["policy"]["mx-host"] == ["mx.ststest.test"]
        assert pol["summary"]["total-failure-session-count"] >= 1
        assert pol["failure-details"][0]["result-type"] == "certificate-not-trusted"
