"""Long text lines (issue 11.13): accepted from own servers up to
smtpd.max_line_length_own_servers, made legal by the worker on the way out.

ERP systems write e-invoices as XML or HTML on one line. From an own
server (127.0.0.1 here) a 1,500-octet and a 60 KiB line are accepted;
what reaches the next hop (a recording SmtpPeer) has no line over 998
octets, a signature made by the outbound rule verifies with openssl, and
the decoded content is what was sent. Mail no rule acts on (which would
otherwise skip the worker) arrives legal too. From anyone else the RFC 5321
limit stays: 550 5.5.2 after the final dot; past the own limit as well.
"""
import email
import email.policy
import smtplib
import subprocess

import pytest

from conftest import free_port, wait_until
from peers import SmtpPeer
from pki import get_pki
from test_smtpd_util import Raw
from test_worker_smime import prepare_gateway

RULES = """
worker = { threads = 2; rules = (
  { name = "plain"; direction = "outbound"; recipients = [ "@plain.test" ]; },
  { name = "out"; direction = "outbound"; sign = "required"; }
); };
"""


def gateway(sealgate, sink, smtpd=""):
    """own_servers 127.0.0.1; example.com signs with its gateway certificate;
    every domain routes to the sink."""
    pki = prepare_gateway(
        sealgate, sink,
        f'smtpd = {{ listeners = ( {{ address = "127.0.0.1:{sealgate.smtp_port}"; }} );\n'
        f'{smtpd} }};\n', ("partner.test", "plain.test", "example.com"), RULES)
    sealgate.start()
    return pki


def xml_line(n):
    """An e-invoice on one line of exactly n octets, 8-bit text included."""
    head = '<?xml version="1.0" encoding="UTF-8"?><Invoice><Note>Gr\u00fc\u00dfe</Note>'
    head = head.encode()
    item = b"<Line><Id>42</Id><Price currency=\"EUR\">1.00</Price></Line>"
    tail = b"</Invoice>"
    body = head
    while len(body) + len(item) + len(tail) <= n:
        body += item
    body += b"x" * (n - len(body) - len(tail))
    return body + tail


def send(port, sender, rcpt, msg, source="127.0.0.1"):
    with smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=(source, 0)) as s:
        s.sendmail(sender, [rcpt], msg)


def arrived(sink, rcpt, timeout=30):
    def found():
        return [m for m in sink.messages if rcpt in m["rcpts"]]
    return wait_until(found, timeout, what=f"mail to {rcpt} at the sink")[0]["body"]


def assert_legal(body):
    lines = body.split(b"\r\n")
    longest = max(len(l) for l in lines)
    assert longest <= 998, f"a line of {longest} octets reached the next hop"
    assert b"\n" not in body.replace(b"\r\n", b"")


def verified_content(pki, body, tmp_path):
    """openssl's verification of what the sink received; returns the signed entity."""
    eml, out = tmp_path / "got.eml", tmp_path / "content"
    eml.write_bytes(body)
    r = subprocess.run(["openssl", "smime", "-verify", "-in", str(eml), "-CAfile",
                        str(pki.root.cert), "-purpose", "any", "-out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


def leaves(raw):
    """(content type, decoded payload with LF line ends) of every leaf."""
    m = email.message_from_bytes(raw, policy=email.policy.compat32)
    return [(p.get_content_type(), p.get_payload(decode=True).replace(b"\r\n", b"\n"))
            for p in m.walk() if not p.is_multipart()]


SINGLE = b"From: erp@example.com\r\nTo: {to}\r\nSubject: e-invoice\r\n\r\n{line}\r\nregards\r\n"


def single(rcpt, n):
    return SINGLE.replace(b"{to}", rcpt.encode()).replace(b"{line}", xml_line(n))


def multipart(rcpt, n):
    """Nested multiparts: a long text/plain and text/html, a long 8-bit
    application/xml, and a base64 part whose lines are short already."""
    return (f"From: erp@example.com\r\nTo: {rcpt}\r\nSubject: e-invoice\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
            "preamble\r\n--outer\r\n"
            "Content-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n"
            "--inner\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + xml_line(n) + (
            b"\r\n--inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>"
            + xml_line(n) + b"</body></html>\r\n--inner--\r\n\r\n--outer\r\n"
            b"Content-Type: application/xml\r\nContent-Transfer-Encoding: 8bit\r\n"
            b"Content-Disposition: attachment; filename=\"invoice.xml\"\r\n\r\n"
            + xml_line(n) + b"\r\n--outer\r\nContent-Type: image/png\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--outer--\r\n")


@pytest.mark.parametrize("n", [1500, 60 * 1024])
@pytest.mark.parametrize("make", [single, multipart])
def test_own_long_lines_signed_arrive_legal_and_verify(sealgate, tmp_path, n, make):
    with SmtpPeer(port=free_port()) as sink:
        pki = gateway(sealgate, sink)
        msg = make("someone@partner.test", n)
        send(sealgate.smtp_port, "erp@example.com", "someone@partner.test", msg)
        body = arrived(sink, "someone@partner.test")
        assert b"multipart/signed" in body
        assert_legal(body)
        content = verified_content(pki, body, tmp_path)
        got = leaves(content)
        want = leaves(msg)
        assert [t for t, _ in got] == [t for t, _ in want]
        assert got == want
        if make is single:
            head = content.split(b"\r\n\r\n", 1)[0]
            assert b"Content-Transfer-Encoding: quoted-printable" in head


@pytest.mark.parametrize("make", [single, multipart])
def test_own_long_lines_unsigned_arrive_legal(sealgate, make):
    """No rule acts on @plain.test: such mail normally skips the worker."""
    with SmtpPeer(port=free_port()) as sink:
        gateway(sealgate, sink)
        msg = make("someone@plain.test", 60 * 1024)
        send(sealgate.smtp_port, "erp@example.com", "someone@plain.test", msg)
        body = arrived(sink, "someone@plain.test")
        assert b"multipart/signed" not in body
        assert_legal(body)
        assert leaves(body) == leaves(msg)
        # what was not too long is as it was
        head = body.split(b"\r\n\r\n", 1)[0]
        assert b"\r\nSubject: e-invoice\r\n" in head


def test_long_header_line_is_folded(sealgate):
    with SmtpPeer(port=free_port()) as sink:
        gateway(sealgate, sink)
        words = " ".join(f"item-{i}" for i in range(300))      # about 2,700 octets
        msg = (f"From: erp@example.com\r\nTo: someone@plain.test\r\nSubject: {words}\r\n\r\n"
               "short body\r\n").encode()
        send(sealgate.smtp_port, "erp@example.com", "someone@plain.test", msg)
        body = arrived(sink, "someone@plain.test")
        assert_legal(body)
        m = email.message_from_bytes(body, policy=email.policy.compat32)
        assert m["Subject"].replace("\r\n", "") == words
        assert body.endswith(b"\r\n\r\nshort body\r\n")


def test_long_line_from_the_internet_is_refused(sealgate):
    with SmtpPeer(port=free_port()) as sink:
        gateway(sealgate, sink)
        with pytest.raises(smtplib.SMTPDataError) as e:
            send(sealgate.smtp_port, "frank@example.net", "alice@example.com",
                 single("alice@example.com", 1500), source="127.0.0.2")
        assert e.value.smtp_code == 550
        assert b"5.5.2" in e.value.smtp_error and b"1000 octets" in e.value.smtp_error
        # a line of 998 octets is still fine
        send(sealgate.smtp_port, "frank@example.net", "alice@example.com",
             single("alice@example.com", 998), source="127.0.0.2")
        assert xml_line(998) in arrived(sink, "alice@example.com")


def test_long_line_over_the_own_limit_is_refused(sealgate):
    with SmtpPeer(port=free_port()) as sink:
        gateway(sealgate, sink)
        with pytest.raises(smtplib.SMTPDataError) as e:
            send(sealgate.smtp_port, "erp@example.com", "someone@partner.test",
                 single("someone@partner.test", 70 * 1024))
        assert e.value.smtp_code == 550
        assert b"5.5.2" in e.value.smtp_error and b"65536 octets" in e.value.smtp_error
        assert not sink.messages


def test_both_limits_are_configurable(sealgate):
    """A raised limit for the internet: the message is made legal all the same
    (inbound, and no rule acts on it)."""
    with SmtpPeer(port=free_port()) as sink:
        gateway(sealgate, sink, smtpd='max_line_length = "2K"; '
                'max_line_length_own_servers = "4K";')
        with pytest.raises(smtplib.SMTPDataError) as e:
            send(sealgate.smtp_port, "erp@example.com", "someone@partner.test",
                 single("someone@partner.test", 5000))
        assert e.value.smtp_code == 550 and b"4096 octets" in e.value.smtp_error
        with pytest.raises(smtplib.SMTPDataError) as e:
            send(sealgate.smtp_port, "frank@example.net", "alice@example.com",
                 single("alice@example.com", 3000), source="127.0.0.2")
        assert e.value.smtp_code == 550 and b"2048 octets" in e.value.smtp_error
        msg = single("alice@example.com", 1500)
        send(sealgate.smtp_port, "frank@example.net", "alice@example.com", msg,
             source="127.0.0.2")
        body = arrived(sink, "alice@example.com")
        assert_legal(body)
        assert leaves(body) == leaves(msg)


def test_bare_lf_is_still_refused_from_own_servers(sealgate):
    with SmtpPeer(port=free_port()) as sink:
        gateway(sealgate, sink)
        c = Raw(sealgate.smtp_port).greet()
        c.ehlo()
        assert c.cmd("MAIL FROM:<erp@example.com>")[0] == 250
        assert c.cmd("RCPT TO:<someone@partner.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        code, text = c.cmd(b"Subject: x\r\n\r\n" + xml_line(1500) + b"\n.\r\n"
                           + b"MAIL FROM:<evil@example.com>\r\n.\r\n")
        assert code == 550 and "bare CR or LF" in text[0]
        c.close()


def test_decrypted_long_lines_leave_legal(sealgate, tmp_path):
    """smtpd cannot see inside encrypted mail: a long line in the plaintext
    shows only once the worker has decrypted it, and is made legal then."""
    pki = get_pki()
    with SmtpPeer(port=free_port()) as sink:
        sealgate.state_dir.mkdir(exist_ok=True)
        sealgate.write_config(
            'own_domains = [ "example.com" ];\nown_servers = [ "127.0.0.1" ];\n'
            'certs = { revocation = "off"; };\n'
            f'delivery = {{ routes = ( {{ domains = [ "example.com" ]; '
            f'hosts = [ "127.0.0.1:{sink.port}" ]; }} ); }};\n'
            'worker = { rules = ( { name = "in"; direction = "inbound"; decrypt = true; } ); };\n')
        sealgate.sealctl("cert", "init")
        sealgate.sealctl("cert", "import", pki.root.cert, "--ca")
        pw = pki.password_file("gateway", sealgate.dir)
        sealgate.sealctl("cert", "import", pki["gateway"].p12, "--password-file", pw,
                         "--gateway", "example.com")
        sealgate.start()
        inner = tmp_path / "inner.txt"
        inner.write_bytes(b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + xml_line(1500)
                          + b"\r\n")
        subprocess.run(["openssl", "cms", "-encrypt", "-aes256", "-binary", "-in", str(inner),
                        "-from", "partner@partner.test", "-to", "ap@example.com",
                        "-subject", "e-invoice", "-out", str(tmp_path / "e.eml"),
                        str(pki["gateway"].cert)], check=True)
        enc = (tmp_path / "e.eml").read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        send(sealgate.smtp_port, "partner@partner.test", "ap@example.com", enc,
             source="127.0.0.2")
        body = arrived(sink, "ap@example.com")
        assert b"pkcs7-mime" not in body.split(b"\r\n\r\n", 1)[0]
        assert_legal(body)
        [(ctype, payload)] = leaves(body)
        assert payload.startswith(xml_line(1500)), payload[:200]
