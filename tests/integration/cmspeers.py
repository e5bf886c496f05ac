"""The other S/MIME implementations on this machine, as test peers.

    from cmspeers import Peers
    peers = Peers(pki, directory, keys=("alice", "frank"))
    peers.verify(message_bytes)          # {"openssl": ok, "cmsutil": ok, "gpgsm": ok}
    peers.decrypt(message_bytes, "alice")  # {"openssl": bytes or None, ...}
    peers.cms_print(message_bytes)       # `openssl cms -cmsout -print` text
    openssl_sign(pki, "alice", text, extra_args)   # a signed message from openssl
    openssl_encrypt(pki, ["alice"], text, extra_args)

Peers sets up, in `directory`, an NSS database (for cmsutil) and a gpgsm
home, both trusting the test PKI's root, with the intermediate and the
private keys of the named entities. Results are per tool so a test can say
which tool lacks which algorithm: cmsutil is NSS 3.87 (no OAEP, no
AuthEnvelopedData, no ECDH); gpgsm is GnuPG 2.2.40.
"""
import base64
import re
import subprocess
from pathlib import Path


def _run(args, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, **kw)


def crlf(data):
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def split_smime(msg):
    """(der, content) of a signed or encrypted message: content is the
    signed first part of a multipart/signed (exact bytes), else None."""
    head, _, body = msg.partition(b"\r\n\r\n")
    unfolded = re.sub(rb"\r\n[ \t]+", b" ", head)
    m = re.search(rb'boundary="?([^";\r\n]+)"?', unfolded)
    if b"multipart/signed" in unfolded.lower() and m:
        b = b"--" + m.group(1)
        first = body.index(b + b"\r\n") + len(b) + 2
        end = body.index(b"\r\n" + b, first)
        content = body[first:end]
        sig = body[end + 2 + len(b) + 2:]
        sig = sig[:sig.index(b"\r\n" + b)]
        der = base64.b64decode(sig.partition(b"\r\n\r\n")[2])
        return der, content
    return base64.b64decode(body), None


class Peers:
    def __init__(self, pki, directory, keys=()):
        self.pki = pki
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.db = self.dir / "nssdb"
        self.gnupg = self.dir / "gnupg"
        self.n = 0
        self._nss(keys)
        self._gpgsm(keys)

    def _nss(self, keys):
        self.db.mkdir(exist_ok=True)
        d = f"sql:{self.db}"
        _run(["certutil", "-N", "-d", d, "--empty-password"], check=True)
        _run(["certutil", "-A", "-d", d, "-n", "root", "-t", "C,C,C", "-i", self.pki.root.cert],
             check=True)
        _run(["certutil", "-A", "-d", d, "-n", "inter", "-t", ",,", "-i", self.pki.inter.cert],
             check=True)
        for k in keys:
            e = self.pki[k]
            _run(["pk12util", "-d", d, "-i", e.p12, "-W", e.password], check=True)

    def _gpgsm(self, keys):
        g = self.gnupg
        g.mkdir(mode=0o700, exist_ok=True)
        (g / "gpgsm.conf").write_text("disable-crl-checks\ndisable-trusted-cert-crl-check\n")
        fpr = _run(["openssl", "x509", "-in", self.pki.root.cert, "-noout", "-fingerprint",
                    "-sha1"], check=True, text=True).stdout.strip().split("=")[1]
        (g / "trustlist.txt").write_text(f"{fpr} S relax\n")
        env = {"GNUPGHOME": str(g), "PATH": "/usr/bin:/bin"}
        self.gpg_env = env
        _run(["gpgsm", "--batch", "--import", self.pki.root.cert], env=env, check=True)
        _run(["gpgsm", "--batch", "--import", self.pki.inter.cert], env=env, check=True)
        for k in keys:
            e = self.pki[k]
            if e.algo != "rsa":
                continue        # gpgsm 2.2.40 crashes importing an EC PKCS#12
            _run(["gpgsm", "--batch", "--pinentry-mode", "loopback", "--passphrase-fd", "0",
                  "--import", e.p12_legacy], input=e.password.encode(), env=env, check=True)

    def close(self):
        _run(["gpgconf", "--kill", "gpg-agent"], env=self.gpg_env)

    def _files(self, msg):
        self.n += 1
        base = self.dir / f"m{self.n}"
        eml = base.with_suffix(".eml")
        eml.write_bytes(crlf(msg))
        der, content = split_smime(crlf(msg))
        base.with_suffix(".der").write_bytes(der)
        if content is not None:
            base.with_suffix(".content").write_bytes(content)
        return base, content is not None

    def cms_print(self, msg):
        base, _ = self._files(msg)
        r = _run(["openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in",
                  base.with_suffix(".der")], text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def verify(self, msg):
        """Each tool's verdict on a signed message (chain to the PKI's root)."""
        base, detached = self._files(msg)
        der, content = base.with_suffix(".der"), base.with_suffix(".content")
        out = {}
        r = _run(["openssl", "cms", "-verify", "-in", base.with_suffix(".eml"), "-CAfile",
                  self.pki.root.cert, "-certfile", self.pki.inter.cert, "-purpose", "any",
                  "-out", "/dev/null"])
        out["openssl"] = r.returncode == 0
        args = ["cmsutil", "-D", "-d", f"sql:{self.db}", "-i", der, "-u", "4", "-o", "/dev/null"]
        if detached:
            args += ["-c", content]
        r = _run(args)
        out["cmsutil"] = r.returncode == 0
        args = ["gpgsm", "--batch", "--verify", der] + ([content] if detached else [])
        r = _run(args, env=self.gpg_env)
        out["gpgsm"] = r.returncode == 0 and b"Good signature" in r.stderr
        return out

    def decrypt(self, msg, entity):
        """What each tool decrypts with entity's key (None: it could not)."""
        base, _ = self._files(msg)
        der = base.with_suffix(".der")
        e = self.pki[entity]
        out = {}
        r = _run(["openssl", "cms", "-decrypt", "-inform", "DER", "-in", der, "-recip", e.cert,
                  "-inkey", e.key])
        out["openssl"] = r.stdout if r.returncode == 0 else None
        r = _run(["cmsutil", "-D", "-d", f"sql:{self.db}", "-i", der])
        out["cmsutil"] = r.stdout if r.returncode == 0 else None
        r = _run(["gpgsm", "--batch", "--pinentry-mode", "loopback", "--passphrase-fd", "0",
                  "--decrypt", der], input=e.password.encode(), env=self.gpg_env)
        out["gpgsm"] = r.stdout if r.returncode == 0 else None
        return out


def openssl_sign(pki, signer, text, extra=(), sender=None, rcpt="u@example.com"):
    """A message signed by openssl cms with entity signer's key."""
    e = pki[signer]
    r = _run(["openssl", "cms", "-sign", "-signer", e.cert, "-inkey", e.key, "-certfile",
              pki.inter.cert, "-from", sender or e.email, "-to", rcpt, "-subject", "signed",
              *extra], input=crlf(text), check=True)
    return crlf(r.stdout)


def openssl_encrypt(pki, recips, text, extra=(), sender="partner@example.net",
                    rcpt="u@example.com"):
    """A message encrypted by openssl cms to the entities' certificates."""
    certs = [pki[n].cert for n in recips]
    r = _run(["openssl", "cms", "-encrypt", "-from", sender, "-to", rcpt, "-subject",
              "encrypted", *extra, *certs], input=crlf(text), check=True)
    return crlf(r.stdout)


# ------------------------------------------------- crafting CMS by hand

def der(tag, content):
    """One DER TLV."""
    n = len(content)
    if n < 0x80:
        head = bytes([tag, n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([tag, 0x80 | len(b)]) + b
    return head + content


def seq(*parts):
    return der(0x30, b"".join(parts))


def oid(dotted):
    a = [int(x) for x in dotted.split(".")]
    out = bytes([a[0] * 40 + a[1]])
    for v in a[2:]:
        enc = [v & 0x7F]
        v >>= 7
        while v:
            enc.append(0x80 | (v & 0x7F))
            v >>= 7
        out += bytes(reversed(enc))
    return der(0x06, out)


def integer(v):
    return der(0x02, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big"))


ID_DATA = oid("1.2.840.113549.1.7.1")
SHA256 = seq(oid("2.16.840.1.101.3.4.2.1"))
OAEP_SHA256 = seq(oid("1.2.840.113549.1.1.7"),
                  seq(der(0xA0, SHA256), der(0xA1, seq(oid("1.2.840.113549.1.1.8"), SHA256))))
CONTENT_TYPE_ATTR = seq(oid("1.2.840.113549.1.9.3"), der(0x31, ID_DATA))


def authenv(cert_path, plaintext, nonce_len=12, auth_attrs=None, aad_attrs=None,
            icv_field=16, tag_keep=16, flip_ct=False, outer="1.2.840.113549.1.9.16.1.23",
            nonce_field_len=None):
    """An AuthEnvelopedData (AES-128-GCM, RSAES-OAEP-SHA-256 to cert_path) made
    with python cryptography, bent as asked: auth_attrs is the content of the
    [1] authAttrs (None: absent), aad_attrs what the tag is computed over
    instead of them, icv_field the aes-ICVlen written (None: left out),
    tag_keep the bytes of the tag kept, flip_ct one bit of the ciphertext
    flipped, nonce_field_len the nonce cut to that length after encrypting,
    outer the content type: EnvelopedData's OID puts the GCM content, tag
    appended, where it is not authenticated (as PKI.js does)."""
    import os
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    cek, nonce = os.urandom(16), os.urandom(nonce_len)
    attrs = der(0x31, auth_attrs) if auth_attrs is not None else None
    aad = der(0x31, aad_attrs) if aad_attrs is not None else attrs
    out = AESGCM(cek).encrypt(nonce, plaintext, aad)
    ct, tag = bytearray(out[:-16]), out[-16:]
    if flip_ct:
        ct[len(ct) // 2] ^= 0x04
    wrapped = cert.public_key().encrypt(cek, padding.OAEP(
        mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    isn = seq(cert.issuer.public_bytes(), integer(cert.serial_number))
    ktri = seq(integer(0), isn, OAEP_SHA256, der(0x04, wrapped))
    if nonce_field_len is not None:
        nonce = nonce[:nonce_field_len]
    params = der(0x04, nonce) + (integer(icv_field) if icv_field is not None else b"")
    enveloped = outer == "1.2.840.113549.1.7.3"
    eci = seq(ID_DATA, seq(oid("2.16.840.1.101.3.4.1.6"), seq(params)),
              der(0x80, bytes(ct) + (tag if enveloped else b"")))
    body = integer(0) + der(0x31, ktri) + eci
    if enveloped:
        return seq(oid(outer), der(0xA0, seq(body)))
    if attrs is not None:
        body += der(0xA1, auth_attrs)
    body += der(0x04, tag[:tag_keep])
    return seq(oid(outer), der(0xA0, seq(body)))


def pkcs7_mime(der_bytes, smime_type="authEnveloped-data", sender="partner@example.net"):
    """A message around DER, as application/pkcs7-mime."""
    b64 = base64.encodebytes(der_bytes).replace(b"\n", b"\r\n")
    return (f"From: {sender}\r\nSubject: crafted\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: application/pkcs7-mime; smime-type={smime_type}; "
            f"name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\n").encode() + b64


def caps_der(*names):
    """An SMIMECapabilities value (SEQUENCE OF) naming the algorithms given:
    aes-256-gcm, aes-128-gcm, aes-256-cbc, aes-128-cbc, oaep-sha256,
    oaep-sha1, rsa-pkcs1."""
    a = "2.16.840.1.101.3.4.1."
    table = {
        "aes-256-gcm": seq(oid(a + "46")), "aes-128-gcm": seq(oid(a + "6")),
        "aes-256-cbc": seq(oid(a + "42")), "aes-128-cbc": seq(oid(a + "2")),
        "oaep-sha256": OAEP_SHA256, "oaep-sha1": seq(oid("1.2.840.113549.1.1.7"), seq()),
        "rsa-pkcs1": seq(oid("1.2.840.113549.1.1.1"), b"\x05\x00"),
    }
    return seq(*[table[n] for n in names])


def sign_with_caps(pki, signer, content, caps, sender=None, rcpt="u@example.com"):
    """A multipart/signed message whose SignerInfo (made here with python
    cryptography, entity signer's key) carries the SMIMECapabilities value
    caps, which openssl cms -sign cannot set."""
    import datetime
    import hashlib
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    e = pki[signer]
    cert = x509.load_pem_x509_certificate(Path(e.cert).read_bytes())
    key = serialization.load_pem_private_key(Path(e.key).read_bytes(), None)
    content = crlf(content)
    t = datetime.datetime.utcnow().strftime("%y%m%d%H%M%SZ").encode()
    attrs = sorted([
        CONTENT_TYPE_ATTR,
        seq(oid("1.2.840.113549.1.9.5"), der(0x31, der(0x17, t))),
        seq(oid("1.2.840.113549.1.9.4"), der(0x31, der(0x04, hashlib.sha256(content).digest()))),
        seq(oid("1.2.840.113549.1.9.15"), der(0x31, caps)),
    ])
    signed = der(0x31, b"".join(attrs))
    if isinstance(key, ec.EllipticCurvePrivateKey):
        sig = key.sign(signed, ec.ECDSA(hashes.SHA256()))
        sigalg = seq(oid("1.2.840.10045.4.3.2"))
    else:
        sig = key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
        sigalg = seq(oid("1.2.840.113549.1.1.1"), b"\x05\x00")
    isn = seq(cert.issuer.public_bytes(), integer(cert.serial_number))
    si = seq(integer(1), isn, SHA256, der(0xA0, b"".join(attrs)), sigalg, der(0x04, sig))
    inter = x509.load_pem_x509_certificate(Path(pki.inter.cert).read_bytes())
    certs = cert.public_bytes(serialization.Encoding.DER) + \
        inter.public_bytes(serialization.Encoding.DER)
    sd = seq(integer(1), der(0x31, SHA256), seq(ID_DATA), der(0xA0, certs), der(0x31, si))
    p7 = seq(oid("1.2.840.113549.1.7.2"), der(0xA0, sd))
    b = "sg-test-boundary"
    sig64 = base64.encodebytes(p7).replace(b"\n", b"\r\n")
    return (f"From: {sender or e.email}\r\nTo: {rcpt}\r\nSubject: capabilities\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: multipart/signed; "
            f"protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"{b}\"\r\n"
            f"\r\n--{b}\r\n").encode() + content + (
        f"\r\n--{b}\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n").encode() + sig64 + f"\r\n--{b}--\r\n".encode()
