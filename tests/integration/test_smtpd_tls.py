"""smtpd with TLS: STARTTLS, STARTTLS required, SMTPS, and the injection attack.

The server certificate is a fresh self-signed P-256 certificate imported into
an NSS database (test_smtpd_util.tls_setup); clients do not verify it.
"""
import smtplib
import socket
import ssl
import subprocess


from conftest import free_port
from test_smtpd_util import Raw, queue_body, queue_list, smtpd_config, tls_setup


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def start_tls(sealgate, security="starttls", extra_listeners=""):
    certs = tls_setup(sealgate)
    listeners = (f'( {{ address = "127.0.0.1:{sealgate.smtp_port}"; security = "{security}"; '
                 f'name = "mx"; }} {extra_listeners} )')
    smtpd_config(sealgate, listeners=listeners, certs=certs)
    return sealgate.start(role="smtpd")


def test_starttls_with_smtplib(sealgate):
    start_tls(sealgate)
    with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=10) as s:
        s.ehlo("client.test")
        assert s.has_extn("STARTTLS")
        code, _ = s.starttls(context=ctx())
        assert code == 220
        s.ehlo("client.test")
        assert not s.has_extn("STARTTLS")          # no second STARTTLS offered
        code, text = s.docmd("STARTTLS")
        assert code == 554                          # and refused if tried
        s.sendmail("a@x.test", ["u@own.test"], b"Subject: tls\r\n\r\nsecret\r\n")
    [m] = queue_list(sealgate)
    assert m["tls_version"].startswith("TLSv1.") and m["tls_cipher"]
    body = queue_body(sealgate, m["id"])
    assert b"with ESMTPS" in body
    assert f"(using {m['tls_version']} with cipher {m['tls_cipher']})".encode() in body


def test_starttls_required_refuses_plain_mail(sealgate):
    start_tls(sealgate, security="starttls-required")
    c = Raw(sealgate.smtp_port).greet()
    assert "STARTTLS" in c.ehlo()
    code, lines = c.cmd("MAIL FROM:<a@x.test>")
    assert code == 530 and lines[0].startswith("5.7.0")
    code, lines = c.cmd("VRFY u@own.test")
    assert code == 530
    with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=10) as s:
        s.starttls(context=ctx())
        s.sendmail("a@x.test", ["u@own.test"], b"Subject: ok\r\n\r\nx\r\n")
    assert len(queue_list(sealgate)) == 1


def test_smtps(sealgate):
    start_tls(sealgate, security="smtps")
    with smtplib.SMTP_SSL("127.0.0.1", sealgate.smtp_port, timeout=10, context=ctx()) as s:
        s.ehlo("client.test")
        assert not s.has_extn("STARTTLS")
        s.sendmail("a@x.test", ["u@own.test"], b"Subject: smtps\r\n\r\nx\r\n")
    [m] = queue_list(sealgate)
    assert m["tls_version"]


def test_starttls_injection_is_discarded(sealgate):
    d = start_tls(sealgate)
    raw = socket.create_connection(("127.0.0.1", sealgate.smtp_port), timeout=10)
    f = raw.makefile("rb")
    assert f.readline().startswith(b"220 ")
    raw.sendall(b"EHLO x.test\r\n")
    while not f.readline().startswith(b"250 "):
        pass
    # the injected NOOP and MAIL ride in the same segment as STARTTLS
    raw.sendall(b"STARTTLS\r\nNOOP\r\nMAIL FROM:<inject@x.test>\r\n")
    assert f.readline().startswith(b"220 2.0.0")
    tls = ctx().wrap_socket(raw, server_hostname="localhost")
    tf = tls.makefile("rb")
    # after the handshake the first reply must answer our own command,
    # not the NOOP or MAIL the attacker slipped in
    tls.sendall(b"RCPT TO:<u@own.test>\r\n")
    line = tf.readline()
    assert line.startswith(b"503 5.5.1"), line        # no EHLO yet, no MAIL
    tls.sendall(b"EHLO x.test\r\n")
    while True:
        line = tf.readline()
        assert line.startswith(b"250"), line
        if line.startswith(b"250 "):
            break
    tls.sendall(b"QUIT\r\n")
    assert tf.readline().startswith(b"221")
    tls.close()
    d.wait_log(r"event=starttls_injection discarded=\d+")


def test_openssl_s_client_starttls(sealgate):
    start_tls(sealgate)
    script = (b"EHLO client.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<u@own.test>\r\n"
              b"DATA\r\nSubject: s_client\r\n\r\nhi\r\n.\r\nQUIT\r\n")
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{sealgate.smtp_port}",
                        "-starttls", "smtp", "-quiet", "-ign_eof"],
                       input=script, capture_output=True, timeout=30)
    out = r.stdout.decode(errors="replace")
    assert "250 2.0.0 Ok: queued as" in out, out + r.stderr.decode(errors="replace")
    assert len(queue_list(sealgate)) == 1


def test_tls_listener_without_certificate_is_a_start_error(sealgate):
    listeners = f'( {{ address = "127.0.0.1:{sealgate.smtp_port}"; security = "smtps"; }} )'
    smtpd_config(sealgate, listeners=listeners)
    d = sealgate.start(role="smtpd", ready=False)
    assert d.proc.wait(10) != 0
    assert "event=tls_needs_certificate" in d.log()


def test_plain_and_tls_listeners_side_by_side(sealgate):
    plain = free_port()
    start_tls(sealgate, security="smtps",
              extra_listeners=f', {{ address = "127.0.0.1:{plain}"; name = "plain"; }}')
    c = Raw(plain).greet()
    assert "STARTTLS" not in c.ehlo()
    with smtplib.SMTP_SSL("127.0.0.1", sealgate.smtp_port, timeout=10, context=ctx()) as s:
        s.sendmail("a@x.test", ["u@own.test"], b"Subject: a\r\n\r\nx\r\n")
    [m] = queue_list(sealgate)
    assert m["listener"] == "mx"


def test_pipelined_transactions_and_large_message_over_tls(sealgate):
    start_tls(sealgate, security="smtps")
    raw = socket.create_connection(("127.0.0.1", sealgate.smtp_port), timeout=20)
    tls = ctx().wrap_socket(raw, server_hostname="localhost")
    f = tls.makefile("rb")
    assert f.readline().startswith(b"220 ")
    big = b"Subject: big\r\n\r\n" + (b"z" * 998 + b"\r\n") * 1500      # 1.5 MB
    one = b"MAIL FROM:<a@x.test>\r\nRCPT TO:<u@own.test>\r\nDATA\r\n%s.\r\n"
    # three transactions in one write: the later ones wait, read ahead and
    # decrypted, while the first is committed
    tls.sendall(b"EHLO c.test\r\n" + one % b"Subject: 1\r\n\r\nx\r\n" + one % big
                + one % b"Subject: 3\r\n\r\ny\r\n" + b"QUIT\r\n")
    replies = []
    while True:
        line = f.readline()
        assert line, replies
        if line[3:4] == b" ":
            replies.append(line[:3])
        if line.startswith(b"221"):
            break
    assert replies == [b"250"] + [b"250", b"250", b"354", b"250"] * 3 + [b"221"]
    sizes = sorted(m["size"] for m in queue_list(sealgate))
    assert len(sizes) == 3 and sizes[2] > len(big)
