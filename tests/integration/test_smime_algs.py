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
import re
import smtplib

from cmspeers import Peers, openssl_sign
from conftest import free_port, wait_until
from peers import SmtpPeer
from pki import get_pki

PARTNERS = ["legacy.test", "pss.test", "pss384.test", "ec384.test", "strict.test"]


def gateway(sealgate, sink, profiles, rules):
    """Own domains example.com (RSA seal "gateway") and example.org (EC
    P-256 seal "bob"); every partner domain routed to the sink."""
    pki = get_pki()
    sealgate.state_dir.mkdir(exist_ok=True)
    domains = ", ".join(f'"{d}"' for d in PARTNERS + ["example.com", "example.org"])
    sealgate.write_config(
        'own_domains = [ "example.com", "example.org" ];\nown_servers = [ "127.0.0.1" ];\n'
        'certs = { revocation = "off"; };\n'
        f'delivery = {{ routes = ( {{ domains = [ {domains} ]; '
        f'hosts = [ "127.0.0.1:{sink.port}" ]; }} ); }};\n'
        f'worker = {{ threads = 2; profiles = ( {profiles} ); rules = ( {rules} ); }};\n')
    sealgate.sealctl("cert", "init")
    sealgate.sealctl("cert", "import", pki.root.cert, "--ca")
    sealgate.sealctl("cert", "import", pki.chain)
    for seal, domain in (("gateway", "example.com"), ("bob", "example.org")):
        pw = pki.password_file(seal, sealgate.dir)
        sealgate.sealctl("cert", "import", pki[seal].p12, "--password-file", pw,
                         "--gateway", domain)
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
    ("erp@example.com", "a@legacy.test", "rsaEncryption", "sha-256", "legacy"),
    ("erp@example.com", "b@pss.test", "rsassaPss", "sha-256", "pss"),
    ("erp@example.com", "c@pss384.test", "rsassaPss", "sha-384", "pss384"),
    ("erp@example.com", "n@nowhere.test", "rsaEncryption", "sha-256", "legacy"),
    ("erp@example.org", "d@legacy.test", "ecdsa-with-SHA256", "sha-256", "legacy"),
    ("erp@example.org", "e@ec384.test", "ecdsa-with-SHA384", "sha-384", "ec384"),
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
            body = (b"From: erp@example.com\r\nSubject: invoice\r\n"
                    b"Content-Type: text/plain\r\n\r\nplease pay\r\n")
            submit(sealgate, "erp@example.com", [c[1] for c in SIGN_CASES if "com" in c[0]],
                   body)
            submit(sealgate, "erp@example.org", [c[1] for c in SIGN_CASES if "org" in c[0]],
                   body.replace(b"example.com", b"example.org"))
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
        submit(sealgate, "erp@example.com", ["x@strict.test", "y@legacy.test"],
               b"From: erp@example.com\r\nSubject: x\r\n\r\nhello\r\n")
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
            rcpt = f"in{i}@example.com"
            msg = openssl_sign(pki, who, b"Content-Type: text/plain\r\n\r\nsigned\r\n", opts,
                               rcpt=rcpt)
            submit(sealgate, pki[who].email, [rcpt], msg, source="127.0.0.2")
        for i, (who, opts) in enumerate(INBOUND_SIGNED):
            m = arrived(sink, f"in{i}@example.com")
            head = m.split(b"\r\n\r\n", 1)[0]
            want = f'X-Sealgate-Signature: valid; signer="{pki[who].email}"'.encode()
            assert want in head, (who, opts, head)

