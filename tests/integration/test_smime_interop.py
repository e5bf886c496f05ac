"""Issue 14's interoperability bugs, through the whole gateway (SMTP in, SMTP out).

Each test runs a gateway whose worker signs and encrypts by rule, sends
it mail over SMTP and checks what the recording peer received with
OpenSSL (and what the incidents, the log and sealctl say).
"""
import json
import re
import smtplib
import subprocess

from conftest import free_port, wait_until
from peers import SmtpPeer
from pki import get_pki

RULES = """
worker = { threads = 2; rules = (
  { name = "secret"; direction = "outbound"; recipients = [ "@secret.test" ];
    sign = "if-possible"; encrypt = "mandatory"; on_encrypt_failure = "reject"; },
  { name = "out"; direction = "outbound"; sign = "if-possible"; encrypt = "if-possible"; },
  { name = "in"; direction = "inbound"; decrypt = true; verify = true; harvest = true; }
); };
"""


def gateway(sealgate, sink, seal="gateway", domain="example.com", rules=RULES, start=True):
    """A gateway for own domain `domain` whose seal is PKI entity `seal`."""
    pki = get_pki()
    sealgate.state_dir.mkdir(exist_ok=True)
    sealgate.write_config(
        f'own_domains = [ "{domain}" ];\nown_servers = [ "127.0.0.1" ];\n'
        'certs = { revocation = "off"; };\n'
        f'delivery = {{ routes = ( {{ domains = [ "partner.test", "secret.test", '
        f'"example.com", "example.net", "example.org" ]; '
        f'hosts = [ "127.0.0.1:{sink.port}" ]; }} ); }};\n' + rules)
    sealgate.sealctl("cert", "init")
    sealgate.sealctl("cert", "import", pki.root.cert, "--ca")
    sealgate.sealctl("cert", "import", pki.chain)
    pw = pki.password_file(seal, sealgate.dir)
    sealgate.sealctl("cert", "import", pki[seal].p12, "--password-file", pw, "--gateway", domain)
    return sealgate.start() if start else None


def submit(sealgate, sender, rcpts, body, source=None):
    kw = {"source_address": (source, 0)} if source else {}
    with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=10, **kw) as s:
        s.sendmail(sender, rcpts, body)


def arrived(sink, rcpt, timeout=20):
    def found():
        return [m for m in sink.messages if rcpt in m["rcpts"]]
    return wait_until(found, timeout, what=f"mail to {rcpt} at the sink")[0]


def incidents(sealgate):
    return [json.loads(line) for line in
            sealgate.sealctl("incidents", "list", "--json").stdout.splitlines()]


def relay_mangle(data):
    """What careless relays do to text in transit: strip blanks at line ends,
    and quote mailbox "From " lines (RFC 8551 3.1.1)."""
    lines = data.split(b"\r\n")
    out = []
    for line in lines:
        line = line.rstrip(b" \t")
        if line.startswith(b"From "):
            line = b">" + line
        out.append(line)
    return b"\r\n".join(out)


def test_detached_signature_of_7bit_text_survives_relays(sealgate, tmp_path):
    """7-bit text with trailing blanks and a "From " line: signed as received
    a relay breaks the signature; protected by quoted-printable it survives
    and still decodes to the text as sent."""
    with SmtpPeer(port=free_port()) as sink:
        gateway(sealgate, sink)
        text = (b"Dear customer,\r\nthe invoice is attached.   \r\nFrom now on we ship weekly.\r\n"
                b"tab at the end\t\r\n")
        body = (b"From: erp@example.com\r\nTo: buyer@partner.test\r\nSubject: weekly\r\n"
                b"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + text)
        submit(sealgate, "erp@example.com", ["buyer@partner.test"], body)
        m = arrived(sink, "buyer@partner.test")["body"]
        assert b"multipart/signed" in m
        for name, data in (("as-sent", m), ("mangled", relay_mangle(m))):
            (tmp_path / f"{name}.eml").write_bytes(data)
            r = subprocess.run(["openssl", "cms", "-verify", "-in", str(tmp_path / f"{name}.eml"),
                                "-CAfile", str(get_pki().root.cert), "-out",
                                str(tmp_path / f"{name}.out")], capture_output=True, text=True)
            assert r.returncode == 0, f"{name}: {r.stderr}"
        signed = (tmp_path / "mangled.out").read_bytes()
        assert b"Content-Transfer-Encoding: quoted-printable" in signed, signed
        assert b"=46rom now on" in signed and b"attached.  =20" in signed, signed
        import quopri
        assert quopri.decodestring(signed.split(b"\r\n\r\n", 1)[1]).replace(b"\r\n", b"\n") \
            == text.replace(b"\r\n", b"\n")


def cms_print(path):
    """openssl cms -cmsout -print of a signed or enveloped message file."""
    r = subprocess.run(["openssl", "cms", "-cmsout", "-print", "-in", str(path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_capabilities_name_only_what_is_accepted(sealgate, tmp_path):
    """SMIMECapabilities lists what inbound decryption accepts, strongest
    first: AES-GCM, AES-CBC, then key transport (OAEP SHA-256, OAEP, PKCS#1
    v1.5 under the default profile); no 3DES, RC2 or DES (NSS's own list had
    all three)."""
    with SmtpPeer(port=free_port()) as sink:
        gateway(sealgate, sink)
        submit(sealgate, "erp@example.com", ["buyer@partner.test"],
               b"From: erp@example.com\r\nSubject: x\r\n\r\nhello\r\n")
        (tmp_path / "s.eml").write_bytes(arrived(sink, "buyer@partner.test")["body"])
        out = cms_print(tmp_path / "s.eml")
        caps = out[out.index("S/MIME Capabilities"):].split("signatureAlgorithm")[0]
        top = re.findall(r"d=2 .*OBJECT\s+:(\S+)", caps)
        assert top == ["aes-256-gcm", "aes-128-gcm", "aes-256-cbc", "aes-128-cbc", "rsaesOaep",
                       "rsaesOaep", "rsaEncryption"], caps
        algs = re.findall(r"OBJECT\s+:(\S+)", caps)
        for weak in ("des", "rc2", "DES", "RC2"):
            assert not [a for a in algs if weak in a], caps


def test_recipient_with_unusable_key_names_the_cause(sealgate, tmp_path):
    """A partner whose only certificate is valid but cannot receive: the
    incident and the bounce name the key, not a missing certificate."""
    pki = get_pki()
    with SmtpPeer(port=free_port()) as sink:
        gateway(sealgate, sink, start=False)
        tmp_path.joinpath("p.pem").write_bytes(UNUSABLE[0](tmp_path))
        r = sealgate.sealctl("cert", "import", tmp_path / "p.pem")
        assert "warning:" in r.stderr and "brainpoolP256r1" in r.stderr \
            and "neither sign" in r.stderr and "README" in r.stderr, r.stderr
        rec = sealgate.sealctl("cert", "recipient", UNUSABLE[1]).stdout
        assert " valid " in rec and "receive=no" in rec and UNUSABLE[2] in rec, rec
        sealgate.start()
        submit(sealgate, "erp@example.com", [UNUSABLE[1]],
               b"From: erp@example.com\r\nSubject: secret\r\n\r\nhello\r\n")
        notice = arrived(sink, "erp@example.com")["body"]
        assert b"key type not supported for encryption" in notice, notice
        assert UNUSABLE[2].encode() in notice, notice
        [inc] = wait_until(lambda: incidents(sealgate), 20, what="an incident")
        assert inc["kind"] == "no-cert" and "no valid certificate" not in inc["reason"], inc
        assert UNUSABLE[2] in inc["reason"], inc
        del pki


def _brainpool_partner(d):
    """A brainpoolP256r1 partner certificate for someone@secret.test: valid,
    issued by the test PKI, with keyAgreement; NSS 3.87 has no such curve."""
    pki = get_pki()
    return _issue(d, pki, "ec -pkeyopt ec_paramgen_curve:brainpoolP256r1", "someone@secret.test",
                  "digitalSignature,keyAgreement")


def _issue(d, pki, newkey, email, ku, name="partner"):
    """A certificate for email from the test PKI's intermediate; returns its PEM."""
    key, csr, crt, ext = (d / f"{name}.key", d / f"{name}.csr", d / f"{name}.pem",
                          d / f"{name}.ext")
    ext.write_text(f"basicConstraints=critical,CA:FALSE\nkeyUsage=critical,{ku}\n"
                   f"extendedKeyUsage=emailProtection\nsubjectAltName=email:{email}\n")
    subprocess.run(["openssl", "req", "-new", "-newkey", *newkey.split(), "-nodes", "-subj",
                    f"/CN={name}", "-keyout", str(key), "-out", str(csr)], check=True,
                   capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(pki.inter.cert),
                    "-CAkey", str(pki.inter.key), "-CAcreateserial", "-days", "2",
                    "-extfile", str(ext), "-out", str(crt)], check=True, capture_output=True)
    return crt.read_bytes()


# The partner certificate that cannot receive, its address, and the key named.
UNUSABLE = (_brainpool_partner, "someone@secret.test", "EC brainpoolP256r1")


def test_encrypt_to_self_with_a_seal_that_cannot_receive_is_logged(sealgate, tmp_path):
    """A signing-only seal (keyUsage digitalSignature): encrypt_to_self cannot
    add it, which is said at start and by sealctl cert check, never dropped
    in silence."""
    pki = get_pki()
    cert = _issue(tmp_path, pki, "rsa:2048", "seal@example.org", "digitalSignature", "signonly")
    (tmp_path / "signonly.pem").write_bytes(cert)
    subprocess.run(["openssl", "pkcs12", "-export", "-in", str(tmp_path / "signonly.pem"),
                    "-inkey", str(tmp_path / "signonly.key"), "-name", "signonly", "-passout",
                    "pass:pw", "-out", str(tmp_path / "signonly.p12")], check=True)
    (tmp_path / "pw").write_text("pw\n")
    with SmtpPeer(port=free_port()) as sink:
        gateway(sealgate, sink, seal="bob", domain="example.net", start=False)
        sealgate.sealctl("cert", "import", tmp_path / "signonly.p12", "--password-file",
                         tmp_path / "pw", "--gateway", "example.org")
        d = sealgate.start()
        d.wait_log(r'event=encrypt_to_self_unavailable domain=example.org cert="signonly" '
                   r'reason="key usage of the certificate \(RSA-2048\) does not allow key '
                   r'encipherment')
        assert "domain=example.net" not in d.log(), "the EC seal can receive now"
        r = sealgate.sealctl("cert", "check", "seal@example.org", check=False)
        assert "receive=no" in r.stdout and "signing-only" in r.stdout, r.stdout
        r = sealgate.sealctl("cert", "check", "seal@example.org", "--json", check=False)
        row = json.loads(r.stdout)
        assert row["receive"] is False and "key encipherment" in row["receive_reason"], row


def test_encrypt_to_self_with_an_ec_seal(sealgate, tmp_path):
    """An ECDSA seal with keyAgreement receives by ECDH: mail encrypted to a
    partner also carries a key agreement recipient for the seal, so the
    gateway keeps a copy it can read."""
    pki = get_pki()
    with SmtpPeer(port=free_port()) as sink:
        gateway(sealgate, sink, seal="bob", domain="example.org", start=False)
        sealgate.sealctl("cert", "import", pki["alice"].cert)
        d = sealgate.start()
        submit(sealgate, "erp@example.org", ["alice@example.com"],
               b"From: erp@example.org\r\nSubject: s\r\n\r\nfor alice and the archive\r\n")
        m = arrived(sink, "alice@example.com")["body"]
        (tmp_path / "m.eml").write_bytes(m)
        for who in ("alice", "bob"):
            r = subprocess.run(["openssl", "cms", "-decrypt", "-in", str(tmp_path / "m.eml"),
                                "-recip", str(pki[who].cert), "-inkey", str(pki[who].key)],
                               capture_output=True)
            assert r.returncode == 0 and b"multipart/signed" in r.stdout, (who, r.stderr)
        assert "encrypt_to_self_unavailable" not in d.log()
