"""Issue 14's algorithms through the whole gateway, both directions, against
OpenSSL 3.0, NSS cmsutil (3.87) and gpgsm (2.2.40).

Outbound: mail submitted over SMTP by an own server is signed (and
encrypted) by the worker with the algorithms of the recipient's profile,
delivered to a recording peer, and read there by each tool. Inbound: each
tool makes the mail, a stranger submits it, and what the gateway delivers
says whether it verified (or decrypted) it.

One gateway serves each test's whole set of combinations (one copy per
profile), so the matrix costs a few seconds, not one start per cell.
"""
import base64
import json
import os
import re
import smtplib
import subprocess
from pathlib import Path

import pytest

from cmspeers import (CONTENT_TYPE_ATTR, Peers, authenv, caps_der, openssl_sign, pkcs7_mime,
                      sign_with_caps)
from conftest import free_port, wait_until
from peers import SmtpPeer
from pki import get_pki

PARTNERS = ["legacy.test", "pss.test", "pss384.test", "ec384.test", "strict.test",
            "example.com", "example.net", "example.org"]
SEALS = (("gateway", "own.test"), ("bob", "own-ec.test"))


def gateway(sealgate, sink, profiles, rules, seals=SEALS, keys=(), certs=()):
    """Own domains with seals (entity, domain): by default own.test (RSA seal
    "gateway") and own-ec.test (EC P-256 seal "bob"); keys: entities whose
    PKCS#12 (key) is imported too, certs: whose certificate only (partners);
    every partner domain routed to the sink."""
    pki = get_pki()
    sealgate.state_dir.mkdir(exist_ok=True)
    own = [d for _, d in seals]
    domains = ", ".join(f'"{d}"' for d in PARTNERS + own)
    sealgate.write_config(
        f'own_domains = [ {", ".join(chr(34) + d + chr(34) for d in own)} ];\n'
        'own_servers = [ "127.0.0.1" ];\ncerts = { revocation = "off"; };\n'
        f'delivery = {{ routes = ( {{ domains = [ {domains} ]; '
        f'hosts = [ "127.0.0.1:{sink.port}" ]; }} ); }};\n'
        'worker = { threads = 2; ' + (f'profiles = ( {profiles} ); ' if profiles.strip() else '')
        + f'rules = ( {rules} ); }};\n')
    sealgate.sealctl("cert", "init")
    sealgate.sealctl("cert", "import", pki.root.cert, "--ca")
    sealgate.sealctl("cert", "import", pki.chain)
    for seal, domain in seals:
        pw = pki.password_file(seal, sealgate.dir)
        sealgate.sealctl("cert", "import", pki[seal].p12, "--password-file", pw,
                         "--gateway", domain)
    for k in keys:
        sealgate.sealctl("cert", "import", pki[k].p12, "--password-file",
                         pki.password_file(k, sealgate.dir))
    for k in certs:
        sealgate.sealctl("cert", "import", pki[k].cert)
    return sealgate.start()


def submit(sealgate, sender, rcpts, body, source=None):
    kw = {"source_address": (source, 0)} if source else {}
    with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=10, **kw) as s:
        s.sendmail(sender, rcpts, body)


def arrived(sink, rcpt, timeout=30):
    def found():
        return [m for m in sink.messages if rcpt in m["rcpts"]]
    return wait_until(found, timeout, what=f"mail to {rcpt} at the sink")[0]["body"]


SIGN_PROFILES = """
  { name = "legacy"; signature = "pkcs1"; recipients = [ "@legacy.test" ]; },
  { name = "pss"; signature = "pss"; recipients = [ "@pss.test" ]; },
  { name = "pss384"; signature = "pss"; digest = "sha384"; recipients = [ "@pss384.test" ]; },
  { name = "ec384"; digest = "sha384"; recipients = [ "@ec384.test" ]; },
  { name = "strict"; signature = "pss"; }
"""
SIGN_RULES = """
  { name = "strict"; direction = "outbound"; recipients = [ "@strict.test" ];
    sign = "required"; profile = "strict"; },
  { name = "out"; direction = "outbound"; sign = "required"; }
"""

# (sender, recipient, algorithm in openssl's print, micalg, profile logged):
# recipients whose profiles have the same algorithms share a copy (and the
# first one's name in the log): n@nowhere.test's default rides with legacy.
SIGN_CASES = [
    ("erp@own.test", "a@legacy.test", "rsaEncryption", "sha-256", "legacy"),
    ("erp@own.test", "b@pss.test", "rsassaPss", "sha-256", "pss"),
    ("erp@own.test", "c@pss384.test", "rsassaPss", "sha-384", "pss384"),
    ("erp@own.test", "n@nowhere.test", "rsaEncryption", "sha-256", "legacy"),
    ("erp@own-ec.test", "d@legacy.test", "ecdsa-with-SHA256", "sha-256", "legacy"),
    ("erp@own-ec.test", "e@ec384.test", "ecdsa-with-SHA384", "sha-384", "ec384"),
]


def test_outbound_signatures_by_profile(sealgate, tmp_path):
    """Each partner's profile decides the signature: PKCS#1 v1.5, RSASSA-PSS
    with SHA-256 or SHA-384, ECDSA with an EC seal; one copy per profile of
    one message. All three tools verify every one (gpgsm 2.2.40 included,
    PSS too)."""
    PARTNERS.append("nowhere.test")
    try:
        with SmtpPeer(port=free_port()) as sink:
            d = gateway(sealgate, sink, SIGN_PROFILES, SIGN_RULES)
            body = (b"From: erp@own.test\r\nSubject: invoice\r\n"
                    b"Content-Type: text/plain\r\n\r\nplease pay\r\n")
            for sender in ("erp@own.test", "erp@own-ec.test"):
                submit(sealgate, sender, [c[1] for c in SIGN_CASES if c[0] == sender],
                       body.replace(b"erp@own.test", sender.encode()))
            peers = Peers(get_pki(), tmp_path / "peers")
            try:
                for sender, rcpt, alg, micalg, profile in SIGN_CASES:
                    m = arrived(sink, rcpt)
                    assert f"micalg={micalg}".encode() in m, (rcpt, m[:400])
                    printed = peers.cms_print(m)
                    assert f"algorithm: {alg}" in printed, (rcpt, printed)
                    if alg == "rsassaPss":
                        h = micalg.replace("-", "")
                        salt = "20" if h == "sha256" else "30"
                        assert re.search(rf"cont \[ 0 \]\s+\S+.*SEQUENCE\s+\S+.*OBJECT\s+:{h}"
                                         rf"[\s\S]*:mgf1[\s\S]*:{h}[\s\S]*INTEGER\s+:{salt}",
                                         printed), printed
                    got = peers.verify(m)
                    assert got == {"openssl": True, "cmsutil": True, "gpgsm": True}, (rcpt, got)
                    d.wait_log(rf"event=processed rule=out rcpts=\d crypto=signed state=ready"
                               rf" profile={profile}\b")
            finally:
                peers.close()
    finally:
        PARTNERS.remove("nowhere.test")


def test_rule_profile_is_a_minimum(sealgate, tmp_path):
    """A legacy partner under a rule whose profile asks for PSS gets PSS:
    the rule's profile raises the partner's, it is never lowered."""
    profiles = SIGN_PROFILES.replace('recipients = [ "@legacy.test" ]',
                                     'recipients = [ "@legacy.test", "@strict.test" ]')
    with SmtpPeer(port=free_port()) as sink:
        d = gateway(sealgate, sink, profiles, SIGN_RULES)
        submit(sealgate, "erp@own.test", ["x@strict.test", "y@legacy.test"],
               b"From: erp@own.test\r\nSubject: x\r\n\r\nhello\r\n")
        peers = Peers(get_pki(), tmp_path / "peers")
        try:
            assert "algorithm: rsassaPss" in peers.cms_print(arrived(sink, "x@strict.test"))
            assert "algorithm: rsaEncryption" in peers.cms_print(arrived(sink, "y@legacy.test"))
        finally:
            peers.close()
        d.wait_log(r"event=processed rule=strict rcpts=1 crypto=signed state=ready "
                   r"profile=legacy\+strict")


# (signer entity, openssl options)
INBOUND_SIGNED = [
    ("alice", []),
    ("alice", ["-keyopt", "rsa_padding_mode:pss"]),
    ("alice", ["-md", "sha384", "-keyopt", "rsa_padding_mode:pss",
               "-keyopt", "rsa_pss_saltlen:digest"]),
    ("alice", ["-nodetach", "-keyopt", "rsa_padding_mode:pss"]),
    ("frank", []),
    ("frank", ["-md", "sha384"]),
    ("ivan", ["-md", "sha384", "-nodetach"]),
]


def test_inbound_signatures_from_openssl(sealgate):
    """PKCS#1 v1.5, RSASSA-PSS (salt max and salt = hash length), ECDSA P-256
    and P-384 with SHA-256/384, detached and opaque, as openssl signs them:
    the gateway stamps each valid."""
    pki = get_pki()
    with SmtpPeer(port=free_port()) as sink:
        gateway(sealgate, sink, SIGN_PROFILES, SIGN_RULES +
                ', { name = "in"; direction = "inbound"; verify = true; }')
        for i, (who, opts) in enumerate(INBOUND_SIGNED):
            rcpt = f"in{i}@own.test"
            msg = openssl_sign(pki, who, b"Content-Type: text/plain\r\n\r\nsigned\r\n", opts,
                               rcpt=rcpt)
            submit(sealgate, pki[who].email, [rcpt], msg, source="127.0.0.2")
        for i, (who, opts) in enumerate(INBOUND_SIGNED):
            m = arrived(sink, f"in{i}@own.test")
            head = m.split(b"\r\n\r\n", 1)[0]
            want = f'X-Sealgate-Signature: valid; signer="{pki[who].email}"'.encode()
            assert want in head, (who, opts, head)



# ------------------------------------------------------------- encryption

# name -> (content, key transport, openssl's name of the content cipher,
#          what cmsutil and gpgsm read: NSS 3.87 and gpgsm 2.2.40 have no OAEP)
ENC = {
    "cbc128-pkcs1": ("aes-128-cbc", "rsa-pkcs1", "aes-128-cbc", True),
    "cbc256-pkcs1": ("aes-256-cbc", "rsa-pkcs1", "aes-256-cbc", True),
    "cbc256-oaep1": ("aes-256-cbc", "oaep-sha1", "aes-256-cbc", False),
    "cbc128-oaep256": ("aes-128-cbc", "oaep-sha256", "aes-128-cbc", False),
}
# AuthEnvelopedData: neither cmsutil 3.87 nor gpgsm 2.2.40 reads it at all
GCM = {
    "gcm128-oaep256": ("aes-128-gcm", "oaep-sha256", "aes-128-gcm", False),
    "gcm256-oaep1": ("aes-256-gcm", "oaep-sha1", "aes-256-gcm", False),
    "gcm128-pkcs1": ("aes-128-gcm", "rsa-pkcs1", "aes-128-gcm", False),
    "gcm256-pkcs1": ("aes-256-gcm", "rsa-pkcs1", "aes-256-gcm", False),
}


def enc_config(cases):
    profiles = ", ".join(f'{{ name = "{n}"; content = "{c[0]}"; key_transport = "{c[1]}"; }}'
                         for n, c in cases.items())
    rules = ", ".join(f'{{ name = "{n}"; direction = "outbound"; senders = [ "{n}@own.test" ]; '
                      f'sign = "required"; encrypt = "mandatory"; profile = "{n}"; }}'
                      for n in cases)
    return profiles, rules


def check_outbound_encrypted(sealgate, sink, tmp_path, cases, partner="alice"):
    """Each case's mail to partner: the printed structure, who can read it,
    and that what they read is the signed entity (openssl verifies it)."""
    pki = get_pki()
    peers = Peers(pki, tmp_path / "peers", keys=(partner,))
    try:
        for n, c in cases.items():
            m = [x for x in sink.messages if x["sender"] == f"{n}@own.test"][0]["body"]
            kind = b"authEnveloped-data" if "gcm" in c[0] else b"enveloped-data"
            assert b"smime-type=" + kind in m, (n, m[:300])
            printed = peers.cms_print(m)
            assert c[2] in printed, (n, printed)
            got = peers.decrypt(m, partner)
            assert got["openssl"] is not None, n
            assert b"Content-Type: multipart/signed" in got["openssl"], n
            assert (got["cmsutil"] is not None, got["gpgsm"] is not None) == (c[3], c[3]), (n, got)
            inner = tmp_path / f"{n}.inner"
            inner.write_bytes(got["openssl"])
            r = subprocess.run(["openssl", "cms", "-verify", "-in", str(inner), "-CAfile",
                                str(pki.root.cert), "-out", "/dev/null"], capture_output=True)
            assert r.returncode == 0, (n, r.stderr)
    finally:
        peers.close()


def test_outbound_key_transport_and_cbc(sealgate, tmp_path):
    """RSA key transport PKCS#1 v1.5, OAEP with the SHA-1 defaults and OAEP
    SHA-256, with AES-128/256-CBC, each by a rule's profile: openssl reads
    them all, cmsutil and gpgsm the PKCS#1 v1.5 ones."""
    profiles, rules = enc_config(ENC)
    with SmtpPeer(port=free_port()) as sink:
        d = gateway(sealgate, sink, profiles, rules, certs=("alice",))
        for n in ENC:
            submit(sealgate, f"{n}@own.test", ["alice@example.com"],
                   f"From: {n}@own.test\r\nSubject: {n}\r\n\r\nsecret {n}\r\n".encode())
        wait_until(lambda: len(sink.messages) >= len(ENC), 30, what="every case delivered")
        check_outbound_encrypted(sealgate, sink, tmp_path, ENC)
        for n in ENC:
            d.wait_log(rf"event=processed rule={n} rcpts=1 crypto=signed,encrypted "
                       rf"state=ready profile={n}\b")


# openssl options -> what the gateway must make of it (True: decrypted)
INBOUND_ENC = [
    ["-aes256"],
    ["-aes128", "-keyopt", "rsa_padding_mode:oaep"],
    ["-aes256", "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"],
    ["-aes192", "-stream", "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha384"],
    ["-aes128", "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256",
     "-keyopt", "rsa_mgf1_md:sha1"],
    ["-des3"],
]


def test_inbound_key_transport_from_openssl_gpgsm_cmsutil(sealgate, tmp_path):
    """What openssl (every option above), gpgsm and cmsutil encrypt to a user
    whose key the gateway holds arrives decrypted."""
    pki = get_pki()
    text = b"Content-Type: text/plain\r\n\r\nfor alice only\r\n"
    with SmtpPeer(port=free_port()) as sink:
        gateway(sealgate, sink, "", '{ name = "in"; direction = "inbound"; decrypt = true; '
                'on_decrypt_failure = "hold"; }', seals=(("gateway", "example.com"),),
                keys=("alice",))
        msgs = []
        for opts in INBOUND_ENC:
            r = subprocess.run(["openssl", "cms", "-encrypt", "-from", "p@example.net", "-to",
                                "alice@example.com", "-subject", "x", "-recip",
                                str(pki["alice"].cert), *opts], input=text, capture_output=True,
                               check=True)
            msgs.append((" ".join(opts), r.stdout))
        peers = Peers(pki, tmp_path / "peers")
        try:
            r = subprocess.run(["gpgsm", "--batch", "--base64", "-r", "alice@example.com",
                                "--always-trust", "--encrypt"], input=text, capture_output=True,
                               env=peers.gpg_env)
            if r.returncode:
                subprocess.run(["gpgsm", "--batch", "--import", str(pki["alice"].cert)],
                               env=peers.gpg_env, check=True, capture_output=True)
                r = subprocess.run(["gpgsm", "--batch", "--base64", "-r", "alice@example.com",
                                    "--encrypt"], input=text, capture_output=True,
                                   env=peers.gpg_env, check=True)
            b64 = b"\r\n".join(l for l in r.stdout.splitlines() if not l.startswith(b"-----"))
            msgs.append(("gpgsm", b"From: p@example.net\r\nSubject: x\r\nContent-Type: "
                         b"application/pkcs7-mime; smime-type=enveloped-data\r\n"
                         b"Content-Transfer-Encoding: base64\r\n\r\n" + b64 + b"\r\n"))
            subprocess.run(["certutil", "-A", "-d", f"sql:{peers.db}", "-n", "alice", "-t", ",,",
                            "-i", str(pki["alice"].cert)], check=True, capture_output=True)
            (tmp_path / "t.txt").write_bytes(text)
            subprocess.run(["cmsutil", "-E", "-d", f"sql:{peers.db}", "-r", "alice@example.com",
                            "-i", str(tmp_path / "t.txt"), "-o", str(tmp_path / "t.der")],
                           check=True, capture_output=True)
            msgs.append(("cmsutil", b"From: p@example.net\r\nSubject: x\r\nContent-Type: "
                         b"application/pkcs7-mime; smime-type=enveloped-data\r\n"
                         b"Content-Transfer-Encoding: base64\r\n\r\n"
                         + base64.encodebytes((tmp_path / "t.der").read_bytes())))
        finally:
            peers.close()
        for i, (_, m) in enumerate(msgs):
            submit(sealgate, "p@example.net", [f"u{i}@example.com"],
                   m.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), source="127.0.0.2")
        for i, (how, _) in enumerate(msgs):
            got = arrived(sink, f"u{i}@example.com")
            assert b"for alice only" in got and b"pkcs7-mime" not in got, (how, got[:300])


def test_outbound_gcm(sealgate, tmp_path):
    """AES-128/256-GCM AuthEnvelopedData with each key transport: openssl
    reads every one (the OIDs and parameters are checked in its print)."""
    profiles, rules = enc_config(GCM)
    with SmtpPeer(port=free_port()) as sink:
        gateway(sealgate, sink, profiles, rules, certs=("alice",))
        for n in GCM:
            submit(sealgate, f"{n}@own.test", ["alice@example.com"],
                   f"From: {n}@own.test\r\nSubject: {n}\r\n\r\nsecret {n}\r\n".encode())
        wait_until(lambda: len(sink.messages) >= len(GCM), 30, what="every case delivered")
        check_outbound_encrypted(sealgate, sink, tmp_path, GCM)
        peers = Peers(get_pki(), tmp_path / "p2")
        try:
            for n in GCM:
                m = [x for x in sink.messages if x["sender"] == f"{n}@own.test"][0]["body"]
                printed = peers.cms_print(m)
                assert "contentType: id-smime-ct-authEnvelopedData" in printed, printed
                assert re.search(r"OCTET STRING +\[HEX DUMP\]:[0-9A-F]{24}\n.*INTEGER +:10",
                                 printed), printed
                assert re.search(r"mac: \n +0000 - (?:[0-9a-f]{2}[ -]){16}", printed), printed
        finally:
            peers.close()


INBOUND_GCM = [
    ["-aes-128-gcm", "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"],
    ["-aes-256-gcm", "-keyopt", "rsa_padding_mode:oaep"],
    ["-aes-128-gcm"],
    ["-aes-256-gcm", "-stream", "-keyopt", "rsa_padding_mode:oaep", "-keyopt",
     "rsa_oaep_md:sha256"],
]


def test_inbound_gcm_from_openssl(sealgate):
    """openssl cms -encrypt -aes-128-gcm (and -aes-256-gcm, OAEP or not,
    -stream): decrypted by the gateway."""
    pki = get_pki()
    text = b"Content-Type: text/plain\r\n\r\nauthenticated for alice\r\n"
    with SmtpPeer(port=free_port()) as sink:
        gateway(sealgate, sink, "", '{ name = "in"; direction = "inbound"; decrypt = true; '
                'on_decrypt_failure = "hold"; }', seals=(("gateway", "example.com"),),
                keys=("alice",))
        for i, opts in enumerate(INBOUND_GCM):
            r = subprocess.run(["openssl", "cms", "-encrypt", "-from", "p@example.net", "-to",
                                "alice@example.com", "-subject", "x", "-recip",
                                str(pki["alice"].cert), *opts], input=text, capture_output=True,
                               check=True)
            submit(sealgate, "p@example.net", [f"g{i}@example.com"],
                   r.stdout.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"),
                   source="127.0.0.2")
        for i, opts in enumerate(INBOUND_GCM):
            got = arrived(sink, f"g{i}@example.com")
            assert b"authenticated for alice" in got and b"pkcs7-mime" not in got, (opts, got)


# name -> (authenv() arguments, reason in the incident; None: decrypted)
TAMPER = {
    "good-attrs": (dict(auth_attrs=CONTENT_TYPE_ATTR), None),
    "wrong-attrs": (dict(auth_attrs=CONTENT_TYPE_ATTR,
                         aad_attrs=CONTENT_TYPE_ATTR.replace(b"\x07\x01", b"\x07\x02")),
                    "tag does not match"),
    "flipped-bit": (dict(flip_ct=True), "tag does not match"),
    "truncated-tag": (dict(tag_keep=12), "tag of 12 bytes refused"),
    "truncated-icv12": (dict(tag_keep=12, icv_field=12), "tag of 12 bytes refused"),
    "icv-absent": (dict(icv_field=None), "name a tag of 12 bytes"),
    "nonce-8": (dict(nonce_len=8), "nonce of 8 bytes refused"),
    "nonce-cut": (dict(nonce_field_len=8), "nonce of 8 bytes refused"),
    "nonce-16": (dict(nonce_len=16), "nonce of 16 bytes refused"),
    "gcm-in-enveloped": (dict(outer="1.2.840.113549.1.7.3"), None),
}


def test_gcm_tampering_is_refused_never_delivered_as_plaintext(sealgate):
    """A flipped ciphertext bit, a tag over other authenticated attributes, a
    truncated tag (with or without the ICV length rewritten), a nonce of
    another length: each is an undecryptable incident, and under
    on_decrypt_failure = "pass" the mail goes on still encrypted, never as
    plaintext. Authenticated attributes that match are decrypted (RFC 5083:
    their DER, tagged SET OF, is the AAD)."""
    pki = get_pki()
    secret = b"Content-Type: text/plain\r\n\r\nTOP-SECRET-PLAINTEXT\r\n"
    with SmtpPeer(port=free_port()) as sink:
        gateway(sealgate, sink, "", '{ name = "in"; direction = "inbound"; decrypt = true; '
                'on_decrypt_failure = "pass"; }', seals=(("gateway", "example.com"),),
                keys=("alice",))
        for i, (name, (kw, _)) in enumerate(TAMPER.items()):
            der_bytes = authenv(pki["alice"].cert, secret, **kw)
            kind = "enveloped-data" if name == "gcm-in-enveloped" else "authEnveloped-data"
            submit(sealgate, "partner@example.net", [f"t{i}@example.com"],
                   pkcs7_mime(der_bytes, kind), source="127.0.0.2")
        for i, (name, (_, reason)) in enumerate(TAMPER.items()):
            got = arrived(sink, f"t{i}@example.com")
            if name == "good-attrs":
                assert b"TOP-SECRET-PLAINTEXT" in got, got
                continue
            assert b"TOP-SECRET-PLAINTEXT" not in got and b"pkcs7-mime" in got, (name, got)
        rows = wait_until(lambda: [json.loads(l) for l in sealgate.sealctl(
            "incidents", "list", "--json").stdout.splitlines()], 20, what="incidents")
        reasons = " | ".join(r["reason"] for r in rows)
        for name, (_, reason) in TAMPER.items():
            if reason:
                assert reason in reasons, (name, reasons)
        assert "AES-GCM inside EnvelopedData refused" in reasons, reasons
        assert all(r["kind"] == "undecryptable" for r in rows), rows


def test_gcm_tampered_mail_is_held_under_hold(sealgate):
    """on_decrypt_failure = "hold": the tampered message waits as an incident."""
    pki = get_pki()
    with SmtpPeer(port=free_port()) as sink:
        gateway(sealgate, sink, "", '{ name = "in"; direction = "inbound"; decrypt = true; '
                'on_decrypt_failure = "hold"; }', seals=(("gateway", "example.com"),),
                keys=("alice",))
        submit(sealgate, "partner@example.net", ["held@example.com"],
               pkcs7_mime(authenv(pki["alice"].cert, b"Subject: x\r\n\r\nx\r\n",
                                  flip_ct=True)), source="127.0.0.2")
        held = wait_until(lambda: sealgate.sealctl("queue", "list", "--state", "hold",
                                                   "--json").stdout, 20, what="held mail")
        assert "held@example.com" in held
        assert not [m for m in sink.messages if "held@example.com" in m["rcpts"]]


# ------------------------------------------------------------------ ECDH

EC_CASES = {
    "ec-cbc128": ("aes-128-cbc", "rsa-pkcs1", "aes-128-cbc", False),
    "ec-cbc256": ("aes-256-cbc", "rsa-pkcs1", "aes-256-cbc", False),
    "ec-gcm128": ("aes-128-gcm", "rsa-pkcs1", "aes-128-gcm", False),
    "ec-gcm256": ("aes-256-gcm", "rsa-pkcs1", "aes-256-gcm", False),
}


def test_outbound_ecdh_p256_p384(sealgate, tmp_path):
    """Mail to EC partners: one key agreement recipient info each, P-256 with
    the SHA-256 KDF, P-384 with SHA-384 (RFC 5753), AES key wrap, under CBC
    and GCM; openssl reads it with either partner's key. cmsutil 3.87 and
    gpgsm 2.2.40 have no ECDH."""
    pki = get_pki()
    profiles, rules = enc_config(EC_CASES)
    with SmtpPeer(port=free_port()) as sink:
        gateway(sealgate, sink, profiles, rules, certs=("frank", "ivan"))
        for n in EC_CASES:
            submit(sealgate, f"{n}@own.test", ["frank@example.net", "ivan@example.net"],
                   f"From: {n}@own.test\r\nSubject: {n}\r\n\r\nsecret {n}\r\n".encode())
        wait_until(lambda: len(sink.messages) >= len(EC_CASES), 30, what="every case delivered")
        peers = Peers(pki, tmp_path / "peers", keys=("frank",))
        try:
            for n, c in EC_CASES.items():
                m = [x for x in sink.messages if x["sender"] == f"{n}@own.test"][0]["body"]
                printed = peers.cms_print(m)
                for want in ("dhSinglePass-stdDH-sha256kdf-scheme",
                             "dhSinglePass-stdDH-sha384kdf-scheme", c[2]):
                    assert want in printed, (n, want, printed)
                assert "id-aes256-wrap" in printed, (n, printed)
                for who in ("frank", "ivan"):
                    got = peers.decrypt(m, who)
                    assert got["openssl"] and b"multipart/signed" in got["openssl"], (n, who)
                got = peers.decrypt(m, "frank")
                assert got["cmsutil"] is None and got["gpgsm"] is None, (n, got)
        finally:
            peers.close()


INBOUND_EC = [
    ("frank", ["-aes-256-cbc"]),
    ("frank", ["-aes-128-gcm", "-keyopt", "ecdh_kdf_md:sha256"]),
    ("frank", ["-aes-128-cbc", "-stream", "-keyopt", "ecdh_kdf_md:sha384"]),
    ("ivan", ["-aes-256-gcm", "-keyopt", "ecdh_kdf_md:sha384"]),
    ("ivan", ["-aes-128-cbc", "-keyopt", "ecdh_cofactor_mode:1"]),
]


def test_inbound_ecdh_from_openssl(sealgate):
    """openssl encrypts to users' EC keys (P-256 and P-384; SHA-1 KDF by
    default, SHA-256/384 KDF, cofactor DH, CBC and GCM): decrypted."""
    pki = get_pki()
    text = b"Content-Type: text/plain\r\n\r\nagreed for you\r\n"
    with SmtpPeer(port=free_port()) as sink:
        gateway(sealgate, sink, "", '{ name = "in"; direction = "inbound"; decrypt = true; '
                'on_decrypt_failure = "hold"; }', seals=(("gateway", "example.net"),),
                keys=("frank", "ivan"))
        for i, (who, opts) in enumerate(INBOUND_EC):
            r = subprocess.run(["openssl", "cms", "-encrypt", "-from", "p@example.com", "-to",
                                pki[who].email, "-subject", "x", "-recip", str(pki[who].cert),
                                *opts], input=text, capture_output=True, check=True)
            submit(sealgate, "p@example.com", [f"e{i}@example.net"],
                   r.stdout.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), source="127.0.0.2")
        for i, (who, opts) in enumerate(INBOUND_EC):
            got = arrived(sink, f"e{i}@example.net")
            assert b"agreed for you" in got and b"pkcs7-mime" not in got, (who, opts, got)


# ------------------------------------------------------- keys on a token

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"


def token_keys(d, pki, env):
    """A SoftHSM2 token "keys" with an RSA-2048 and an EC P-256 key made on it
    (certutil through a scratch NSS database), certificates from the test
    PKI for tok-rsa@example.com and tok-ec@example.com stored beside them.
    Returns the PIN file and {name: certificate PEM}."""
    run = lambda *a: subprocess.run([str(x) for x in a], env=env, check=True,
                                    capture_output=True)
    run("softhsm2-util", "--init-token", "--free", "--label", "keys", "--pin", "1234",
        "--so-pin", "5678")
    scratch = d / "scratch"
    scratch.mkdir()
    run("certutil", "-N", "-d", f"sql:{scratch}", "--empty-password")
    run("modutil", "-dbdir", f"sql:{scratch}", "-add", "softhsm", "-libfile", SOFTHSM, "-force")
    pin = d / "pin.txt"
    pin.write_text("1234\n")
    (d / "noise").write_bytes(os.urandom(64))
    certs = {}
    for name, keyargs, ku in (("tok-rsa", ["-k", "rsa", "-g", "2048"],
                               "digitalSignature,keyEncipherment"),
                              ("tok-ec", ["-k", "ec", "-q", "nistp256"],
                               "digitalSignature,keyAgreement")):
        csr, cert, ext = d / f"{name}.csr", d / f"{name}.pem", d / f"{name}.ext"
        run("certutil", "-R", "-d", f"sql:{scratch}", "-h", "keys", "-f", pin, *keyargs,
            "-s", f"CN={name}", "-7", f"{name}@example.com", "-z", d / "noise", "-a", "-o", csr)
        ext.write_text(f"[ext]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,{ku}\n"
                       f"extendedKeyUsage=emailProtection\n"
                       f"subjectAltName=email:{name}@example.com\n")
        run("openssl", "x509", "-req", "-in", csr, "-CA", pki.inter.cert, "-CAkey", pki.inter.key,
            "-CAcreateserial", "-days", "30", "-extfile", ext, "-extensions", "ext", "-out", cert)
        run("certutil", "-A", "-d", f"sql:{scratch}", "-h", "keys", "-f", pin, "-n", name,
            "-t", ",,", "-a", "-i", cert)
        certs[name] = cert
    return pin, certs


# (key, openssl options, decrypted?) SoftHSM2 2.6.1 has RSAES-OAEP with SHA-1
# only, and ECDH without the X9.63 KDF whose shared secret it will not let out.
TOKEN_CASES = [
    ("tok-rsa", ["-aes-128-gcm"], True),
    ("tok-rsa", ["-aes-256-cbc", "-keyopt", "rsa_padding_mode:oaep"], True),
    ("tok-rsa", ["-aes-256-gcm", "-keyopt", "rsa_padding_mode:oaep"], True),
    ("tok-rsa", ["-aes-128-gcm", "-keyopt", "rsa_padding_mode:oaep", "-keyopt",
                 "rsa_oaep_md:sha256"], False),
    ("tok-ec", ["-aes-128-gcm", "-keyopt", "ecdh_kdf_md:sha256"], False),
]


@pytest.mark.skipif(not os.path.exists(SOFTHSM), reason="softhsm2 not installed")
def test_keys_on_a_token_decrypt_and_sign_pss(sealgate, tmp_path):
    """Private keys that never leave a PKCS#11 token (SoftHSM2): mail to the
    RSA key with PKCS#1 v1.5 or RSAES-OAEP and AES-GCM or CBC arrives
    decrypted, and that key, as the domain's seal, signs RSASSA-PSS that
    openssl verifies. What SoftHSM2 itself lacks (OAEP with SHA-256, ECDH
    with a KDF) is an incident that names the token and the operation."""
    pki = get_pki()
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\n"
                    "log.level = ERROR\n")
    env = dict(os.environ, SOFTHSM2_CONF=str(conf))
    pin, certs = token_keys(tmp_path, pki, env)
    text = b"Content-Type: text/plain\r\n\r\nfrom the token\r\n"
    with SmtpPeer(port=free_port()) as sink:
        sealgate.state_dir.mkdir(exist_ok=True)
        sealgate.write_config(
            'own_domains = [ "example.com" ];\nown_servers = [ "127.0.0.1" ];\n'
            f'certs = {{ revocation = "off"; pkcs11 = ( {{ name = "softhsm"; library = '
            f'"{SOFTHSM}"; token = "keys"; pin_file = "{pin}"; }} ); }};\n'
            f'delivery = {{ routes = ( {{ domains = [ "example.com", "partner.test" ]; '
            f'hosts = [ "127.0.0.1:{sink.port}" ]; }} ); }};\n'
            'worker = { profiles = ( { name = "pss"; signature = "pss"; } ); rules = (\n'
            '  { name = "out"; direction = "outbound"; sign = "required"; profile = "pss"; },\n'
            '  { name = "in"; direction = "inbound"; decrypt = true; '
            'on_decrypt_failure = "pass"; } ); };\n')
        ctl = lambda *a: subprocess.run(
            [str(Path(os.environ.get("SEALGATE_BIN", "bin")) / "sealctl"), "-c",
             str(sealgate.conf), *[str(x) for x in a]], env=env, capture_output=True, text=True)
        for args in (("cert", "init"), ("cert", "import", pki.root.cert, "--ca"),
                     ("cert", "import", pki.chain)):
            assert ctl(*args).returncode == 0
        # the token's RSA certificate becomes the seal of example.com
        fp = subprocess.run(["openssl", "x509", "-in", str(certs["tok-rsa"]), "-noout",
                             "-fingerprint", "-sha256"], capture_output=True, text=True,
                            check=True).stdout.split("=")[1].strip().replace(":", "").lower()
        (sealgate.state_dir / "nssdb" / "sealgate-certs.meta").write_text(
            f"gateway example.com {fp}\n")
        sealgate.start(env=env)
        for i, (who, opts, _) in enumerate(TOKEN_CASES):
            r = subprocess.run(["openssl", "cms", "-encrypt", "-from", "p@partner.test", "-to",
                                f"{who}@example.com", "-subject", "x", "-recip",
                                str(certs[who]), *opts], input=text, capture_output=True,
                               check=True)
            submit(sealgate, "p@partner.test", [f"k{i}@example.com"],
                   r.stdout.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), source="127.0.0.2")
        for i, (who, opts, ok) in enumerate(TOKEN_CASES):
            got = arrived(sink, f"k{i}@example.com")
            assert (b"from the token" in got) == ok and (b"pkcs7-mime" in got) != ok, (who, opts)
        reasons = " | ".join(json.loads(l)["reason"] for l in ctl(
            "incidents", "list", "--json").stdout.splitlines())
        assert 'key is on token "keys", which cannot do RSAES-OAEP' in reasons, reasons
        assert 'key is on token "keys", which cannot do ECDH' in reasons, reasons
        submit(sealgate, "erp@example.com", ["x@partner.test"],
               b"From: erp@example.com\r\nSubject: sealed\r\n\r\nsigned on the token\r\n")
        (tmp_path / "s.eml").write_bytes(arrived(sink, "x@partner.test"))
        r = subprocess.run(["openssl", "cms", "-verify", "-in", str(tmp_path / "s.eml"),
                            "-CAfile", str(pki.root.cert), "-out", "/dev/null"],
                           capture_output=True)
        assert r.returncode == 0, r.stderr
        assert "algorithm: rsassaPss" in subprocess.run(
            ["openssl", "cms", "-cmsout", "-print", "-in", str(tmp_path / "s.eml")],
            capture_output=True, text=True).stdout


# ------------------------------------------------ capabilities and profiles

def test_capabilities_upgrade_never_downgrade(sealgate, tmp_path):
    """A partner's harvested SMIMECapabilities raise what its profile gives
    (alice: AES-256-CBC + PKCS#1 v1.5 become AES-256-GCM + OAEP-SHA-256),
    unless the profile says upgrade = false (grace), and never lower it
    (frank advertises only AES-128-CBC: his AES-128-GCM stays). sealctl cert
    recipient shows each one's profile, algorithms and capabilities."""
    pki = get_pki()
    profiles = """
      { name = "up"; content = "aes-256-cbc"; recipients = [ "alice@example.com" ]; },
      { name = "noup"; content = "aes-128-cbc"; upgrade = false;
        recipients = [ "grace@example.com" ]; },
      { name = "floor"; content = "aes-128-gcm"; recipients = [ "frank@example.net" ]; }"""
    rules = """
      { name = "out"; direction = "outbound"; sign = "required"; encrypt = "mandatory";
        encrypt_to_self = false; },
      { name = "in"; direction = "inbound"; verify = true; harvest = true; }"""
    with SmtpPeer(port=free_port()) as sink:
        d = gateway(sealgate, sink, profiles, rules, seals=(("gateway", "own.test"),))
        before = sealgate.sealctl("cert", "recipient", "alice@example.com").stdout
        assert "profile=up rule=out" in before and "capabilities=unknown" in before, before
        sent = {"alice": ("aes-256-gcm", "aes-256-cbc", "oaep-sha256", "rsa-pkcs1"),
                "grace": ("aes-256-gcm", "oaep-sha256"),
                "frank": ("aes-128-cbc", "rsa-pkcs1")}
        for who, caps in sent.items():
            m = sign_with_caps(pki, who, b"Content-Type: text/plain\r\n\r\nmy capabilities\r\n",
                               caps_der(*caps), rcpt="u@own.test")
            submit(sealgate, pki[who].email, ["u@own.test"], m, source="127.0.0.2")
        wait_until(lambda: len([m for m in sink.messages if "u@own.test" in m["rcpts"]]) == 3,
                   30, what="the three signed mails")
        for m in sink.messages:
            assert b"X-Sealgate-Signature: valid" in m["body"], m["body"][:400]
        rec = {who: sealgate.sealctl("cert", "recipient", pki[who].email).stdout.splitlines()[0]
               for who in sent}
        assert ("content=aes-256-gcm key_transport=oaep-sha256 capabilities=aes-256-gcm,"
                "aes-256-cbc,oaep-sha256,rsa-pkcs1 upgraded=content,key_transport") in rec["alice"], rec
        assert "profile=noup" in rec["grace"] and "content=aes-128-cbc key_transport=rsa-pkcs1" \
            in rec["grace"] and "upgraded=no" in rec["grace"], rec
        assert "profile=floor" in rec["frank"] and "content=aes-128-gcm" in rec["frank"] \
            and "upgraded=no" in rec["frank"], rec
        j = [json.loads(l) for l in sealgate.sealctl("cert", "recipient", "frank@example.net",
                                                      "--json").stdout.splitlines()]
        assert j[0]["content"] == "aes-128-gcm" and j[0]["capabilities"] == [
            "aes-128-cbc", "rsa-pkcs1"], j
        assert j[0]["key"] == "ECDH P-256, dhSinglePass-stdDH-sha256kdf, id-aes128-wrap", j
        # and the mail itself
        submit(sealgate, "erp@own.test", ["alice@example.com", "grace@example.com",
                                          "frank@example.net"],
               b"From: erp@own.test\r\nSubject: out\r\n\r\nreply\r\n")
        peers = Peers(pki, tmp_path / "peers")
        try:
            want = {"alice@example.com": ("aes-256-gcm", "rsaesOaep"),
                    "grace@example.com": ("aes-128-cbc", "rsaEncryption"),
                    "frank@example.net": ("aes-128-gcm", "dhSinglePass-stdDH-sha256kdf")}
            for rcpt, (content, kt) in want.items():
                printed = peers.cms_print(arrived(sink, rcpt))
                assert content in printed and kt in printed, (rcpt, printed)
        finally:
            peers.close()
        d.wait_log(r"event=processed rule=out rcpts=1 crypto=signed,encrypted state=ready "
                   r"profile=up\+caps")
