"""OCSP responders and CRL servers that hang or answer garbage.

The promise (README, Guarantees): when revocation cannot be learnt, the
configured policy decides -- soft-fail uses the certificate and logs
event=revocation_unknown, hard-fail refuses it (an invalid signature, an
incident) -- within certs.ocsp_timeout (or crl_fetch_timeout), and the
worker keeps processing other mail meanwhile: a message that needs no
revocation check goes through while the responder still holds the
connection of the one that does.

Inbound mail signed by alice (whose certificate names an OCSP responder and
a CRL distribution point on the test PKI's ports, see pki.py) is verified
by the "in" rule; where the PKI's ports would have the real responder, a
faults.BadHttp server misbehaves instead.
"""
import smtplib
import subprocess
import time

import pytest

from conftest import free_port, wait_until
from faults import BadHttp
from peers import SmtpPeer
from pki import get_pki
from test_worker_smime import RULES

OCSP_TIMEOUT = 3


def gateway(sealgate, sink, certs, *imports):
    pki = get_pki()
    sealgate.state_dir.mkdir(exist_ok=True)
    sealgate.write_config(
        'own_domains = [ "example.org" ];\nown_servers = [ "127.0.0.1" ];\n'
        f'certs = {{ {certs} }};\n'
        f'delivery = {{ routes = ( {{ domains = [ "example.org" ]; '
        f'hosts = [ "127.0.0.1:{sink.port}" ]; }} ); scan_interval = "100ms"; }};\n' + RULES)
    sealgate.sealctl("cert", "init")
    sealgate.sealctl("cert", "import", pki.root.cert, "--ca")
    for cert in imports:
        sealgate.sealctl("cert", "import", cert)
    return sealgate.start(), pki


def signed_by(pki, name, rcpt, directory):
    e = pki[name]
    (directory / "in.txt").write_bytes(b"Content-Type: text/plain\r\n\r\nsigned\r\n")
    subprocess.run(["openssl", "cms", "-sign", "-in", str(directory / "in.txt"),
                    "-signer", str(e.cert), "-inkey", str(e.key), "-certfile",
                    str(pki.inter.cert), "-from", e.email, "-to", rcpt, "-subject", "signed",
                    "-out", str(directory / "s.eml")], check=True)
    return (directory / "s.eml").read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def send_inbound(port, sender, rcpt, body):
    with smtplib.SMTP("127.0.0.1", port, timeout=10, source_address=("127.0.0.2", 0)) as s:
        s.sendmail(sender, [rcpt], body)


def arrival(sink, rcpt, timeout):
    """When (time.monotonic) mail to rcpt was first seen at the sink, and it."""
    got = wait_until(lambda: [m for m in sink.messages if rcpt in m["rcpts"]], timeout,
                     interval=0.02, what=f"mail to {rcpt}")
    return time.monotonic(), got[0]


def head(m):
    return m["body"].split(b"\r\n\r\n", 1)[0]


@pytest.mark.parametrize("policy", ["soft-fail", "hard-fail"])
@pytest.mark.parametrize("mode", ["hang", "garbage"])
def test_ocsp_responder_fault_policy_in_time_and_no_stall(sealgate, tmp_path, mode, policy):
    """alice's signature needs OCSP; the responder hangs or answers garbage.
    The verdict follows the policy (soft-fail: valid, revocation_unknown
    logged; hard-fail: invalid, an incident) within twice ocsp_timeout
    (NSS asks by GET, then again by POST) plus slack; an unsigned message
    sent while the responder hangs arrives before the hang ends.

    Shown to fail: with ocsp_timeout = "30s" the hang case misses its
    deadline; with worker threads = 1 the unsigned message waits behind the
    hung one and the "meanwhile" assertion fails."""
    with SmtpPeer(port=free_port()) as sink, \
            BadHttp(get_pki().ocsp_port, mode) as responder:
        d, pki = gateway(sealgate, sink, f'revocation = "{policy}"; '
                         f'ocsp_timeout = "{OCSP_TIMEOUT}s";')
        body = signed_by(pki, "alice", "u1@example.org", tmp_path)
        t0 = time.monotonic()
        send_inbound(sealgate.smtp_port, pki["alice"].email, "u1@example.org", body)
        if mode == "hang":
            wait_until(lambda: responder.hanging, 10, what="the OCSP request")
            send_inbound(sealgate.smtp_port, "bob@example.net", "u2@example.org",
                         b"Subject: plain\r\n\r\nno signature\r\n")
            t_plain, _ = arrival(sink, "u2@example.org", 10)
            assert responder.hanging, "the unsigned mail waited for the hung OCSP request"
        t_signed, m = arrival(sink, "u1@example.org", 2 * OCSP_TIMEOUT + 10)
        assert t_signed - t0 <= 2 * OCSP_TIMEOUT + 6, t_signed - t0
        assert responder.requests >= 1
        h = head(m)
        if policy == "soft-fail":
            assert b'X-Sealgate-Signature: valid; signer="alice@example.com"' in h, h
            d.wait_log(r'event=revocation_unknown use=verify signer="alice@example.com" '
                       r'reason="OCSP: .*policy=soft-fail')
        else:
            assert b"X-Sealgate-Signature: invalid" in h and b"OCSP" in h, h
            assert "bad-signature" in sealgate.sealctl("incidents", "list").stdout


@pytest.mark.parametrize("policy", ["soft-fail", "hard-fail"])
@pytest.mark.parametrize("mode", ["hang", "garbage"])
def test_crl_server_fault_policy_and_no_stall(sealgate, tmp_path, mode, policy):
    """OCSP off; the worker fetches CRLs every second (crl_fetch_timeout
    2 s) from a server that hangs or answers garbage. The fetch is reported
    as failed within its timeout, mail flows meanwhile (also while a fetch
    hangs), and alice's signature, whose issuer has no CRL, follows the
    policy: soft-fail valid with revocation_unknown, hard-fail invalid.

    Shown to fail: with crl_fetch_timeout = "30s" the hang case sees no
    failed fetch in time; run on the crypto threads (as a synchronous
    certs_crl_fetch() in the verify step would be) the mail sent while a
    fetch hangs would wait, and the "meanwhile" assertion fails."""
    with SmtpPeer(port=free_port()) as sink, \
            BadHttp(get_pki().crl_port, mode, "application/pkix-crl") as crl:
        d, pki = gateway(sealgate, sink, f'revocation = "{policy}"; ocsp = false; '
                         'crl_fetch_interval = "1s"; crl_fetch_timeout = "2s";',
                         get_pki()["alice"].cert)     # her CRL distribution point is fetched
        wait_until(lambda: crl.requests, 10, what="a CRL fetch")
        if mode == "hang":
            send_inbound(sealgate.smtp_port, "bob@example.net", "u2@example.org",
                         b"Subject: plain\r\n\r\nno signature\r\n")
            arrival(sink, "u2@example.org", 10)
            assert crl.hanging, "mail waited for the hung CRL fetch"
        d.wait_log(r"event=crl_fetch fetched=0 failed=1", timeout=10)
        send_inbound(sealgate.smtp_port, pki["alice"].email, "u1@example.org",
                     signed_by(pki, "alice", "u1@example.org", tmp_path))
        _, m = arrival(sink, "u1@example.org", 10)
        h = head(m)
        if policy == "soft-fail":
            assert b'X-Sealgate-Signature: valid; signer="alice@example.com"' in h, h
            d.wait_log(r'event=revocation_unknown use=verify signer="alice@example.com" '
                       r'reason="no CRL of the issuer, OCSP off')
        else:
            assert b"X-Sealgate-Signature: invalid" in h, h
