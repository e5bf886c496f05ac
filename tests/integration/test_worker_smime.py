"""The crypto worker inside the running gateway: smtpd -> worker -> delivery.

Mail is submitted over SMTP from 127.0.0.1 (an own server: outbound),
processed by the worker role with the rules in the config, and delivered
by the delivery role to a recording SMTP peer (peers.SmtpPeer). What
arrives is checked with openssl; incidents with sealctl.
"""
import base64
import email
import json
import os
import pwd
import smtplib
import subprocess
import time
from pathlib import Path

from conftest import free_port, wait_until
from peers import SmtpPeer
from pki import get_pki
from privsep import outside, spare_user  # noqa: F401 (outside is a fixture)

RULES = """
worker = { threads = 2; notify = "admin@example.com"; rules = (
  { name = "secret"; direction = "outbound"; recipients = [ "@secret.test" ];
    sign = "if-possible"; encrypt = "mandatory"; on_encrypt_failure = "reject"; },
  { name = "out"; direction = "outbound"; sign = "if-possible"; encrypt = "if-possible"; },
  { name = "in"; direction = "inbound"; decrypt = true; verify = true; harvest = true; }
); };
"""


def prepare_gateway(sealgate, sink, top="",
                    domains=("partner.test", "secret.test", "example.com"), rules=RULES,
                    certs='revocation = "off";'):
    """The configuration (top, then example.com as own domain, rules,
    routes for domains to sink) and a key database with the test PKI's
    root, chain and the gateway seal for example.com; not started."""
    pki = get_pki()
    sealgate.state_dir.mkdir(exist_ok=True)
    routes = ", ".join(f'"{d}"' for d in domains)
    sealgate.write_config(
        top + 'own_domains = [ "example.com" ];\nown_servers = [ "127.0.0.1" ];\n'
        f'certs = {{ {certs} }};\n'
        f'delivery = {{ routes = ( {{ domains = [ {routes} ]; '
        f'hosts = [ "127.0.0.1:{sink.port}" ]; }} ); }};\n' + rules)
    sealgate.sealctl("cert", "init")
    sealgate.sealctl("cert", "import", pki.root.cert, "--ca")
    sealgate.sealctl("cert", "import", pki.chain)
    pw = pki.password_file("gateway", sealgate.dir)
    sealgate.sealctl("cert", "import", pki["gateway"].p12, "--password-file", pw,
                     "--gateway", "example.com")
    return pki


def gateway(sealgate, sink, top="", **kw):
    pki = prepare_gateway(sealgate, sink, top, **kw)
    sealgate.start()
    return pki


def send(sealgate, sender, rcpts, subject="invoice"):
    body = (f"From: {sender}\r\nTo: {', '.join(rcpts)}\r\nSubject: {subject}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
            "\r\nGr\u00fc\u00dfe, invoice attached.\r\n").encode()
    with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=10) as s:
        s.sendmail(sender, rcpts, body)


def arrived(sink, rcpt, timeout=20):
    def found():
        return [m for m in sink.messages if rcpt in m["rcpts"]]
    return wait_until(found, timeout, what=f"mail to {rcpt} at the sink")[0]


def test_outbound_signed_by_gateway_verifies_with_openssl(sealgate, tmp_path):
    with SmtpPeer(port=free_port()) as sink:
        pki = gateway(sealgate, sink)
        send(sealgate, "carl@example.com", ["someone@partner.test"])
        m = arrived(sink, "someone@partner.test")
        eml = tmp_path / "out.eml"
        eml.write_bytes(m["body"])
        assert b"multipart/signed" in m["body"]
        assert all(b < 0x80 for b in m["body"])
        r = subprocess.run(["openssl", "cms", "-verify", "-in", str(eml), "-CAfile",
                            str(pki.root.cert), "-signer", str(tmp_path / "s.pem"),
                            "-out", str(tmp_path / "content")], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        subj = subprocess.run(["openssl", "x509", "-in", str(tmp_path / "s.pem"), "-noout",
                               "-subject"], capture_output=True, text=True).stdout
        assert "example.com gateway" in subj
        assert b"Gr=C3=BC=C3=9Fe" in (tmp_path / "content").read_bytes()


def test_mandatory_encryption_refused_informs_sender_and_admin(sealgate):
    with SmtpPeer(port=free_port()) as sink:
        gateway(sealgate, sink)
        send(sealgate, "carl@example.com", ["nocert@secret.test"], subject="secret plans")
        notice = arrived(sink, "carl@example.com")
        assert notice["sender"] == ""
        report = email.message_from_bytes(notice["body"])
        assert report.get_content_type() == "multipart/report"
        assert report.get_param("report-type") == "delivery-status"
        text, status, returned = report.get_payload()
        assert "no copy of your message was delivered to anyone" in " ".join(text.get_payload().split())
        fields = status.as_bytes().replace(b"\r\n", b"\n")
        for f in (b"Action: failed", b"Status: 5.7.1", b"Final-Recipient: rfc822; nocert@secret.test",
                  b"Diagnostic-Code: X-Sealgate; no valid certificate for nocert@secret.test"):
            assert f in fields, fields
        # the header as received, never the body (it may have been decrypted)
        assert returned.get_content_type() == "text/rfc822-headers"
        assert b"Subject: secret plans" in returned.as_bytes()
        assert b"invoice attached" not in notice["body"]
        alert = arrived(sink, "admin@example.com")
        assert b"kind: no-cert" in alert["body"]
        assert not [m for m in sink.messages if "nocert@secret.test" in m["rcpts"]]
        rows = [json.loads(line) for line in
                sealgate.sealctl("incidents", "list", "--json").stdout.splitlines()]
        assert len(rows) == 1 and rows[0]["kind"] == "no-cert"
        assert rows[0]["rule"] == "secret"
        sealgate.sealctl("incidents", "ack", rows[0]["id"])
        assert sealgate.sealctl("incidents", "list", "--json").stdout == ""
        assert sealgate.sealctl("incidents", "ack", rows[0]["id"], check=False).returncode == 1


def frank_signed(pki, tmp_path, rcpt, when=None):
    """frank's detached signature (openssl cms) over a short text, CRLF;
    with when, made under faketime at that moment."""
    frank = pki["frank"]
    (tmp_path / "in.txt").write_bytes(b"Content-Type: text/plain\r\n\r\nsigned by frank\r\n")
    sign = ["openssl", "cms", "-sign", "-in", str(tmp_path / "in.txt"),
            "-signer", str(frank.cert), "-inkey", str(frank.key),
            "-certfile", str(pki.chain), "-from", "frank@example.net",
            "-to", rcpt, "-subject", "hello", "-out", str(tmp_path / "s.eml")]
    subprocess.run((["faketime", when] if when else []) + sign, check=True)
    return (tmp_path / "s.eml").read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def send_inbound(sealgate, rcpt, body):
    """from a stranger's address and host: inbound to an own domain"""
    with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=10,
                      source_address=("127.0.0.2", 0)) as s:
        s.sendmail("frank@example.net", [rcpt], body)


def test_inbound_verified_header_stamped_spoof_removed(sealgate, tmp_path):
    with SmtpPeer(port=free_port()) as sink:
        pki = gateway(sealgate, sink)
        signed = (b"X-Sealgate-Signature: valid; signer=\"ceo@example.com\"\r\n"
                  + frank_signed(pki, tmp_path, "alice@example.com"))
        send_inbound(sealgate, "alice@example.com", signed)
        m = arrived(sink, "alice@example.com")
        head = m["body"].split(b"\r\n\r\n", 1)[0]
        stamps = [h for h in head.split(b"\r\n") if h.lower().startswith(b"x-sealgate-signature")]
        assert len(stamps) == 1, head
        assert stamps[0].startswith(b'X-Sealgate-Signature: valid; signer="frank@example.net"')


def test_reload_and_clean_stop(sealgate):
    with SmtpPeer(port=free_port()) as sink:
        gateway(sealgate, sink)
        d = sealgate.daemons[-1]
        send(sealgate, "carl@example.com", ["one@partner.test"])
        arrived(sink, "one@partner.test")
        # a new rule set on SIGHUP: now nothing is signed
        text = sealgate.conf.read_text().replace('sign = "if-possible"; encrypt = "if-possible";',
                                                 'sign = "off";')
        sealgate.conf.write_text(text)
        d.signal(1)
        d.wait_log(r"event=worker_reloaded", timeout=10)
        send(sealgate, "carl@example.com", ["two@partner.test"])
        assert b"multipart/signed" not in arrived(sink, "two@partner.test")["body"]
        assert d.stop() == 0
        log = d.log()
        assert "role=worker event=stopped" in log
        assert "Sanitizer" not in log and "runtime error" not in log


def test_harvest_keeps_the_signers_intermediate_then_encrypts(sealgate, tmp_path):
    """Only the root is trusted: the intermediate comes with alice's signature
    and must be kept with her certificate, or it does not chain later. Here
    example.org is the own domain and alice@example.com a partner (RSA: NSS
    3.87 encrypts to RSA keys only)."""
    pki = get_pki()
    alice = pki["alice"]
    with SmtpPeer(port=free_port()) as sink:
        sealgate.state_dir.mkdir(exist_ok=True)
        sealgate.write_config(
            'own_domains = [ "example.org" ];\nown_servers = [ "127.0.0.1" ];\n'
            'certs = { revocation = "off"; };\n'
            f'delivery = {{ routes = ( {{ domains = [ "example.org", "example.com" ]; '
            f'hosts = [ "127.0.0.1:{sink.port}" ]; }} ); }};\n' + RULES)
        sealgate.sealctl("cert", "init")
        sealgate.sealctl("cert", "import", pki.root.cert, "--ca")
        sealgate.start()
        (tmp_path / "in.txt").write_bytes(b"Content-Type: text/plain\r\n\r\nmy certificate\r\n")
        subprocess.run(["openssl", "cms", "-sign", "-in", str(tmp_path / "in.txt"),
                        "-signer", str(alice.cert), "-inkey", str(alice.key),
                        "-certfile", str(pki.inter.cert), "-from", "alice@example.com",
                        "-to", "bob@example.org", "-subject", "hello",
                        "-out", str(tmp_path / "s.eml")], check=True)
        signed = (tmp_path / "s.eml").read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=10,
                          source_address=("127.0.0.2", 0)) as s:
            s.sendmail("alice@example.com", ["bob@example.org"], signed)
        body = arrived(sink, "bob@example.org")["body"]
        assert b'X-Sealgate-Signature: valid; signer="alice@example.com"' in body, body[:300]
        listed = sealgate.sealctl("cert", "list").stdout
        assert "Sealgate Test Intermediate CA" in listed, listed
        # the reply is encrypted to the harvested certificate
        send(sealgate, "bob@example.org", ["alice@example.com"], subject="reply")
        m = arrived(sink, "alice@example.com")
        assert b"enveloped-data" in m["body"], m["body"][:400]
        (tmp_path / "r.eml").write_bytes(m["body"])
        r = subprocess.run(["openssl", "cms", "-decrypt", "-in", str(tmp_path / "r.eml"),
                            "-recip", str(alice.cert), "-inkey", str(alice.key)],
                           capture_output=True)
        assert r.returncode == 0 and b"invoice attached" in r.stdout, r.stderr


def test_network_roles_run_as_the_user_the_worker_keeps_its_own(sealgate, outside):
    """smtpd and delivery drop to user/group once started; the worker runs as
    worker_user, the only user that can open the key database (smtpd could
    use every key in a database its user could open). test_privsep.py
    checks the rest of that promise."""
    if os.geteuid() != 0:
        import pytest
        pytest.skip("needs root")
    nobody, worker = pwd.getpwnam("nobody"), pwd.getpwnam(spare_user())
    with SmtpPeer(port=free_port()) as sink:
        gateway(sealgate, sink, top=f'user = "nobody"; group = "nogroup"; '
                f'worker_user = "{worker.pw_name}";\n')
        d = sealgate.daemons[-1]
        pids = {m.group(1): int(m.group(2))
                for m in d.wait_log(r"event=role_started role=(\w+) pid=(\d+)", count=3)}
        d.wait_log(r"event=privileges_dropped user=nobody", count=2)
        uids = {}
        for role, pid in pids.items():
            with open(f"/proc/{pid}/status") as f:
                uids[role] = {int(x) for line in f if line.startswith("Uid:")
                              for x in line.split()[1:]}
        assert uids == {"smtpd": {nobody.pw_uid}, "delivery": {nobody.pw_uid},
                        "worker": {worker.pw_uid}}
        # mail still flows: received as nobody, signed as worker_user, delivered as nobody
        send(sealgate, "carl@example.com", ["someone@partner.test"])
        assert b"multipart/signed" in arrived(sink, "someone@partner.test")["body"]
        assert "privilege_drop_failed" not in d.log()


def test_signature_claimed_before_the_signers_certificate_is_invalid(sealgate, tmp_path):
    """The worker checks the signer's chain once, now; the signing time a
    signature claims must still fall within the signer's certificate (as
    NSS's own check at that time did): frank signs as if in 2001, long
    before his certificate, and again today (the control)."""
    with SmtpPeer(port=free_port()) as sink:
        pki = gateway(sealgate, sink)
        for when, rcpt in (("2001-01-01 12:00:00", "old@example.com"), (None, "now@example.com")):
            send_inbound(sealgate, rcpt, frank_signed(pki, tmp_path, rcpt, when))
        head = arrived(sink, "old@example.com")["body"].split(b"\r\n\r\n", 1)[0]
        assert (b'X-Sealgate-Signature: invalid; reason="signer certificate: not valid at the '
                b'claimed signing time"') in head, head
        head = arrived(sink, "now@example.com")["body"].split(b"\r\n\r\n", 1)[0]
        assert b'X-Sealgate-Signature: valid; signer="frank@example.net"' in head, head


def test_a_signer_known_good_still_needs_a_good_signature(sealgate, tmp_path):
    """The second message of a signer whose certificate certs found good a
    moment ago is verified without importing the message's certificates
    (certs_known_good): its signature is still checked. Frank's message
    twice, then once with the signed text changed."""
    with SmtpPeer(port=free_port()) as sink:
        pki = gateway(sealgate, sink)
        signed = frank_signed(pki, tmp_path, "alice@example.com")
        forged = signed.replace(b"signed by frank", b"signed by frenk")
        assert forged != signed
        for rcpt, body in (("a1@example.com", signed), ("a2@example.com", signed),
                           ("a3@example.com", forged)):
            send_inbound(sealgate, rcpt, body)
            arrived(sink, rcpt)
        for rcpt, verdict in (("a1@example.com", b"valid; signer="),
                              ("a2@example.com", b"valid; signer="),
                              ("a3@example.com", b'invalid; reason="bad signature')):
            head = arrived(sink, rcpt)["body"].split(b"\r\n\r\n", 1)[0]
            assert b"X-Sealgate-Signature: " + verdict in head, (rcpt, head)


def test_signer_revoked_by_ocsp_is_invalid_under_the_policy(sealgate, tmp_path):
    """NSS alone would call carol's signature good; certs' revocation policy
    (hard-fail, OCSP) is applied while the verdict is made."""
    pki = get_pki()
    with SmtpPeer(port=free_port()) as sink, pki.ocsp_responder():
        sealgate.state_dir.mkdir(exist_ok=True)
        sealgate.write_config(
            'own_domains = [ "example.org" ];\nown_servers = [ "127.0.0.1" ];\n'
            'certs = { revocation = "hard-fail"; };\n'
            f'delivery = {{ routes = ( {{ domains = [ "example.org" ]; '
            f'hosts = [ "127.0.0.1:{sink.port}" ]; }} ); }};\n' + RULES)
        sealgate.sealctl("cert", "init")
        sealgate.sealctl("cert", "import", pki.root.cert, "--ca")
        sealgate.start()
        for name, rcpt in (("carol", "u1@example.org"), ("alice", "u2@example.org"),
                           ("grace", "u3@example.org")):
            e = pki[name]
            (tmp_path / "in.txt").write_bytes(b"Content-Type: text/plain\r\n\r\nhello\r\n")
            subprocess.run(["openssl", "cms", "-sign", "-in", str(tmp_path / "in.txt"),
                            "-signer", str(e.cert), "-inkey", str(e.key),
                            "-certfile", str(pki.inter.cert), "-from", e.email, "-to", rcpt,
                            "-subject", "hi", "-out", str(tmp_path / "s.eml")], check=True)
            signed = (tmp_path / "s.eml").read_bytes().replace(b"\r\n", b"\n").replace(
                b"\n", b"\r\n")
            with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=10,
                              source_address=("127.0.0.2", 0)) as s:
                s.sendmail(e.email, [rcpt], signed)
        head = arrived(sink, "u1@example.org")["body"].split(b"\r\n\r\n", 1)[0]
        assert b'X-Sealgate-Signature: invalid; reason="signer certificate: ' in head, head
        assert b"REVOKED" in head, head
        head = arrived(sink, "u2@example.org")["body"].split(b"\r\n\r\n", 1)[0]
        assert b'X-Sealgate-Signature: valid; signer="alice@example.com"' in head, head
        # grace's certificate names no responder: unknown, so invalid under hard-fail
        head = arrived(sink, "u3@example.org")["body"].split(b"\r\n\r\n", 1)[0]
        assert b'X-Sealgate-Signature: invalid; reason="signer certificate: ' in head, head
        assert b"no OCSP responder" in head, head
        rows = [json.loads(line) for line in
                sealgate.sealctl("incidents", "list", "--json").stdout.splitlines()]
        assert [r["kind"] for r in rows] == ["bad-signature", "bad-signature"]


def test_signer_without_revocation_information_under_soft_fail(sealgate, tmp_path):
    """Soft-fail accepts a signer whose revocation nobody can tell, and says so
    in the log instead of calling it good."""
    pki = get_pki()
    with SmtpPeer(port=free_port()) as sink:
        sealgate.state_dir.mkdir(exist_ok=True)
        sealgate.write_config(
            'own_domains = [ "example.org" ];\nown_servers = [ "127.0.0.1" ];\n'
            'certs = { revocation = "soft-fail"; };\n'
            f'delivery = {{ routes = ( {{ domains = [ "example.org" ]; '
            f'hosts = [ "127.0.0.1:{sink.port}" ]; }} ); }};\n' + RULES)
        sealgate.sealctl("cert", "init")
        sealgate.sealctl("cert", "import", pki.root.cert, "--ca")
        d = sealgate.start()
        e = pki["grace"]
        (tmp_path / "in.txt").write_bytes(b"Content-Type: text/plain\r\n\r\nhello\r\n")
        subprocess.run(["openssl", "cms", "-sign", "-in", str(tmp_path / "in.txt"),
                        "-signer", str(e.cert), "-inkey", str(e.key),
                        "-certfile", str(pki.inter.cert), "-from", e.email,
                        "-to", "u1@example.org", "-subject", "hi",
                        "-out", str(tmp_path / "s.eml")], check=True)
        signed = (tmp_path / "s.eml").read_bytes().replace(b"\r\n", b"\n").replace(
            b"\n", b"\r\n")
        with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=10,
                          source_address=("127.0.0.2", 0)) as s:
            s.sendmail(e.email, ["u1@example.org"], signed)
        head = arrived(sink, "u1@example.org")["body"].split(b"\r\n\r\n", 1)[0]
        assert b'X-Sealgate-Signature: valid; signer="grace@example.com"' in head, head
        d.wait_log(r'event=revocation_unknown use=verify signer="grace@example.com" '
                   r'reason="no CRL of the issuer, no OCSP responder.*policy=soft-fail')


def encrypted_to(tmp_path, cert, rcpt, subject):
    """a short text openssl encrypts to cert (AES-256), CRLF"""
    (tmp_path / "in.txt").write_bytes(b"Content-Type: text/plain\r\n\r\nsecret\r\n")
    subprocess.run(["openssl", "cms", "-encrypt", "-aes256", "-in", str(tmp_path / "in.txt"),
                    "-from", "partner@example.net", "-to", rcpt, "-subject", subject,
                    "-out", str(tmp_path / "e.eml"), str(cert)], check=True)
    return (tmp_path / "e.eml").read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def test_mail_encrypted_to_an_ec_certificate_is_decrypted(sealgate, tmp_path):
    """ECDH key agreement (RFC 5753): mail openssl encrypts to an EC
    certificate whose key the gateway holds arrives decrypted, and sealctl
    imports such a key without a warning."""
    pki = get_pki()
    with SmtpPeer(port=free_port()) as sink:
        sealgate.state_dir.mkdir(exist_ok=True)
        sealgate.write_config(
            'own_domains = [ "example.org" ];\nown_servers = [ "127.0.0.1" ];\n'
            'certs = { revocation = "off"; };\n'
            f'delivery = {{ routes = ( {{ domains = [ "example.org" ]; '
            f'hosts = [ "127.0.0.1:{sink.port}" ]; }} ); }};\n' + RULES)
        sealgate.sealctl("cert", "init")
        sealgate.sealctl("cert", "import", pki.root.cert, "--ca")
        pw = pki.password_file("bob", sealgate.dir)
        r = sealgate.sealctl("cert", "import", pki["bob"].p12, "--password-file", pw)
        assert "cannot receive encrypted mail" not in r.stderr, r.stderr
        sealgate.start()
        enc = encrypted_to(tmp_path, pki["bob"].cert, "bob@example.org", "for bob")
        with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=10,
                          source_address=("127.0.0.2", 0)) as s:
            s.sendmail("partner@example.net", ["bob@example.org"], enc)
        body = arrived(sink, "bob@example.org")["body"]
        assert b"\r\n\r\nsecret\r\n" in body and b"pkcs7-mime" not in body, body


def test_an_own_certificate_removed_neither_signs_nor_decrypts(sealgate, tmp_path):
    """sealctl cert remove of the gateway seal while the gateway runs: the
    worker had it in hand (signing, and its key in memory for decryption)
    and stops using it once lookup_cache_ttl has passed, as every other
    look-up it keeps, not at its next start (decryption went on for ever)."""
    with SmtpPeer(port=free_port()) as sink:
        pki = gateway(sealgate, sink, certs='revocation = "off"; lookup_cache_ttl = "1s";')
        enc = encrypted_to(tmp_path, pki["gateway"].cert, "alice@example.com", "sealed")

        def both(n):
            send(sealgate, "carl@example.com", [f"p{n}@partner.test"])
            with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=10,
                              source_address=("127.0.0.2", 0)) as s:
                s.sendmail("partner@example.net", [f"a{n}@example.com"], enc)
            return arrived(sink, f"p{n}@partner.test")["body"], \
                arrived(sink, f"a{n}@example.com")["body"]

        out, inb = both(1)
        assert b"multipart/signed" in out
        assert b"\r\n\r\nsecret\r\n" in inb and b"pkcs7-mime" not in inb, inb
        fp = subprocess.run(["openssl", "x509", "-in", str(pki["gateway"].cert), "-noout",
                             "-fingerprint", "-sha256"], capture_output=True, text=True,
                            check=True).stdout.split("=", 1)[1].strip().replace(":", "")
        sealgate.sealctl("cert", "remove", fp.lower())
        time.sleep(1.5)
        out, inb = both(2)
        assert b"multipart/signed" not in out, out
        assert b"pkcs7-mime" in inb and b"\r\n\r\nsecret\r\n" not in inb, inb


def test_a_partner_certificate_removed_is_no_longer_encrypted_to(sealgate, tmp_path):
    """Frank's certificate, harvested from his signed mail, then removed with
    sealctl while the gateway runs: past lookup_cache_ttl mail to him goes
    unencrypted. NSS kept its copy of the certificate in memory after the
    chain check (libpkix's cache, an hour) and found it by address."""
    with SmtpPeer(port=free_port()) as sink:
        pki = gateway(sealgate, sink, certs='revocation = "off"; lookup_cache_ttl = "1s";',
                      domains=("example.com", "example.net"))
        send_inbound(sealgate, "alice@example.com", frank_signed(pki, tmp_path,
                                                                 "alice@example.com"))
        arrived(sink, "alice@example.com")
        send(sealgate, "carl@example.com", ["frank@example.net"], subject="first")
        first = arrived(sink, "frank@example.net")["body"]
        assert b"application/pkcs7-mime" in first, first[:400]
        fp = [json.loads(line)["fingerprint"] for line in
              sealgate.sealctl("cert", "list", "--json").stdout.splitlines()
              if "frank@example.net" in line]
        assert len(fp) == 1
        sealgate.sealctl("cert", "remove", fp[0])
        time.sleep(1.5)
        send(sealgate, "carl@example.com", ["frank@example.net"], subject="second")
        second = wait_until(lambda: [m for m in sink.messages if "frank@example.net" in m["rcpts"]
                                     and b"second" in m["body"]], 20, what="second")[0]["body"]
        assert b"application/pkcs7-mime" not in second, second[:400]


def example_rules():
    """The rules sealgate.conf.example ships (enQsig's three defaults)."""
    import re
    text = (Path(__file__).resolve().parents[2] / "sealgate.conf.example").read_text()
    return re.search(r"^\trules = \(.*?^\t\);", text, re.S | re.M).group(0)


def test_injected_mail_is_classified_like_smtpd(sealgate):
    """sealctl queue inject stands for an own server unless --client says
    otherwise, so the README's inject example gets signed by the default
    outbound rule; --client with a stranger's address makes it inbound."""
    pki = get_pki()
    with SmtpPeer(port=free_port()) as sink:
        sealgate.state_dir.mkdir(exist_ok=True)
        sealgate.write_config(
            'own_domains = [ "example.com" ];\nown_servers = [ "10.1.0.0/16" ];\n'
            'certs = { revocation = "off"; };\n'
            f'delivery = {{ routes = ( {{ domains = [ "partner.test", "example.com" ]; '
            f'hosts = [ "127.0.0.1:{sink.port}" ]; }} ); }};\n'
            'worker = {\n' + example_rules() + '\n};\n')
        sealgate.sealctl("cert", "init")
        sealgate.sealctl("cert", "import", pki.root.cert, "--ca")
        sealgate.sealctl("cert", "import", pki.chain)
        pw = pki.password_file("gateway", sealgate.dir)
        sealgate.sealctl("cert", "import", pki["gateway"].p12, "--password-file", pw,
                         "--gateway", "example.com")
        sealgate.start()
        body = "From: erp@example.com\r\nSubject: invoice\r\n\r\nplease pay\r\n"
        out = sealgate.sealctl("queue", "inject", "--sender", "erp@example.com",
                               "--rcpt", "buyer@partner.test", input=body).stdout.split()
        got = arrived(sink, "buyer@partner.test")
        assert b"multipart/signed" in got["body"].split(b"\r\n\r\n", 1)[0], got["body"][:400]
        m = json.loads(sealgate.sealctl("queue", "show", out[0], "--json").stdout)
        assert (m["direction"], m["rule"]) == ("outbound", "outbound"), m
        out = sealgate.sealctl("queue", "inject", "--sender", "a@stranger.test",
                               "--client", "192.0.2.7", "--rcpt", "u@example.com",
                               input="Subject: hi\r\n\r\nhi\r\n").stdout.split()
        arrived(sink, "u@example.com")
        m = json.loads(sealgate.sealctl("queue", "show", out[0], "--json").stdout)
        assert (m["direction"], m["rule"], m["client_address"]) == \
            ("inbound", "inbound", "192.0.2.7"), m
        out = sealgate.sealctl("queue", "inject", "--client", "10.1.2.3", "--rcpt",
                               "x@partner.test", "--state", "hold", input="x\r\n").stdout.split()
        m = json.loads(sealgate.sealctl("queue", "show", out[0], "--json").stdout)
        assert m["direction"] == "outbound", m
        r = sealgate.sealctl("queue", "inject", "--client", "not-an-ip", "--rcpt",
                             "x@partner.test", input="x\r\n", check=False)
        assert r.returncode == 2 and "--client" in r.stderr, r.stderr


def test_a_storm_of_one_cause_is_one_incident_acked_with_its_mail(sealgate):
    """No signing certificate for a domain, under load: one incident with a
    count and the message ids, one notification, and one ack that deletes
    (or releases) every message it held."""
    with SmtpPeer(port=free_port()) as sink:
        sealgate.state_dir.mkdir(exist_ok=True)
        sealgate.write_config(
            'own_domains = [ "example.com" ];\nown_servers = [ "127.0.0.1" ];\n'
            f'delivery = {{ routes = ( {{ domains = [ "partner.test", "example.com" ]; '
            f'hosts = [ "127.0.0.1:{sink.port}" ]; }} ); }};\n'
            'worker = { notify = "admin@example.com"; rules = (\n'
            '  { name = "seal"; direction = "outbound"; sign = "required"; } ); };\n')
        sealgate.sealctl("cert", "init")
        sealgate.start()
        ids = [sealgate.sealctl("queue", "inject", "--sender", "erp@nocert.test", "--rcpt",
                                "buyer@partner.test", "--count", "1",
                                input=f"Subject: invoice {i}\r\n\r\npay\r\n").stdout.strip()
               for i in range(20)]

        def incidents():
            return [json.loads(line) for line in
                    sealgate.sealctl("incidents", "list", "--json").stdout.splitlines()]
        wait_until(lambda: incidents() and incidents()[0]["count"] == 20, 30,
                   what="20 failures counted")
        [inc] = incidents()
        assert inc["kind"] == "no-signing-cert" and sorted(inc["message_ids"]) == sorted(ids)
        held = sealgate.sealctl("queue", "list", "--state", "hold", "--json").stdout
        assert len(held.splitlines()) == 20
        time.sleep(1)
        notices = [m for m in sink.messages if "admin@example.com" in m["rcpts"]]
        assert len(notices) == 1, notices
        r = sealgate.sealctl("incidents", "ack", inc["id"], "--delete")
        assert "20 held message(s) deleted" in r.stdout, r.stdout
        assert sealgate.sealctl("queue", "list", "--state", "hold", "--json").stdout == ""
        assert incidents() == []
        # the cause is still there: a new incident opens, and --release re-runs the mail
        for i in range(3):
            sealgate.sealctl("queue", "inject", "--sender", "erp@nocert.test", "--rcpt",
                             "buyer@partner.test", input="Subject: again\r\n\r\npay\r\n")
        wait_until(lambda: incidents() and incidents()[0]["count"] == 3, 30, what="3 more")
        [again] = incidents()
        assert again["id"] != inc["id"]
        r = sealgate.sealctl("incidents", "ack", again["id"], "--release")
        assert "3 held message(s) released" in r.stdout, r.stdout
        wait_until(lambda: incidents() and incidents()[0]["count"] == 3, 30,
                   what="the released mail to fail again into a new incident")


def test_a_large_signed_message_arrives_whole_and_verifies(sealgate, tmp_path):
    """The signed copy of a large message refers to the original in the
    queue instead of copying it (queue_body.c): what leaves is still the
    whole message, byte for byte, under a signature that verifies."""
    attachment = os.urandom(300_000)
    b64 = base64.encodebytes(attachment).decode().replace("\n", "\r\n")
    body = ("From: carl@example.com\r\nTo: someone@partner.test\r\nSubject: big invoice\r\n"
            "MIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
            "--outer\r\nContent-Type: text/plain\r\n\r\nThe invoice is attached.\r\n"
            "--outer\r\nContent-Type: application/pdf\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n" + b64 + "--outer--\r\n").encode()
    with SmtpPeer(port=free_port()) as sink:
        pki = gateway(sealgate, sink)
        with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=10) as s:
            s.sendmail("carl@example.com", ["someone@partner.test"], body)
        m = arrived(sink, "someone@partner.test")
        eml = tmp_path / "out.eml"
        eml.write_bytes(m["body"])
        assert b"multipart/signed" in m["body"]
        r = subprocess.run(["openssl", "cms", "-verify", "-in", str(eml), "-CAfile",
                            str(pki.root.cert), "-out", str(tmp_path / "content")],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        content = (tmp_path / "content").read_bytes()
        assert content.endswith(body[body.index(b"\r\n\r\n") + 4:])
        inner = email.message_from_bytes(content)
        pdf = [p for p in inner.walk() if p.get_content_type() == "application/pdf"][0]
        assert pdf.get_payload(decode=True) == attachment
