"""smtpd's TLS key in a database of its own, protected by a password: smtpd
serves STARTTLS from it and never holds the S/MIME database open."""
import os
import smtplib
import ssl
import subprocess
from pathlib import Path

from test_smtpd_util import smtpd_config


def make_tls_db(d, password):
    db = d / "tlsdb"
    db.mkdir(parents=True)
    pw = d / "pw"
    pw.write_text(password + "\n")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", str(d / "k.pem"), "-out", str(d / "c.pem"), "-days", "2",
        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")
    run("openssl", "pkcs12", "-export", "-inkey", str(d / "k.pem"), "-in", str(d / "c.pem"),
        "-name", "smtpd", "-out", str(d / "s.p12"), "-passout", "pass:x")
    run("certutil", "-N", "-d", f"sql:{db}", "-f", str(pw))
    run("pk12util", "-i", str(d / "s.p12"), "-d", f"sql:{db}", "-W", "x", "-k", str(pw))
    return db, pw


def test_starttls_from_password_protected_tls_database(sealgate):
    db, pw = make_tls_db(Path(sealgate.dir), "s3cret pass")
    smime_db = Path(sealgate.dir) / "smime-db"
    listeners = f'( {{ address = "127.0.0.1:{sealgate.smtp_port}"; security = "starttls"; }} )'
    smtpd_config(sealgate, listeners=listeners,
                 certs=f'db_dir = "{smime_db}"; tls_db_dir = "{db}"; '
                       f'password_file = "{pw}"; tls_cert = "smtpd";')
    d = sealgate.start(role="smtpd")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=10) as s:
        s.starttls(context=ctx)
        assert s.sock.version() in ("TLSv1.3", "TLSv1.2")
        code, _ = s.noop()
        assert code == 250
    held = [os.readlink(f"/proc/{d.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{d.pid}/fd")]
    assert any(str(db) in h for h in held), held
    assert not any(str(smime_db) in h for h in held), held
    assert "s3cret" not in d.log()


def test_wrong_tls_database_password_is_a_clear_start_error(sealgate):
    db, pw = make_tls_db(Path(sealgate.dir), "right")
    pw.write_text("wrong\n")
    listeners = f'( {{ address = "127.0.0.1:{sealgate.smtp_port}"; security = "starttls"; }} )'
    smtpd_config(sealgate, listeners=listeners,
                 certs=f'tls_db_dir = "{db}"; password_file = "{pw}"; tls_cert = "smtpd";')
    d = sealgate.start(role="smtpd", ready=False)
    assert d.proc.wait(10) != 0
    assert "certs_open_failed" in d.log() and "password" in d.log()
