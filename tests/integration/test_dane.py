"""DANE (RFC 7672) against a real DNSSEC world: nsd serving zones signed
with ldns-signzone, a validating unbound trusting them (dnssec.py), and
real SMTP peers with STARTTLS on loopback.

    dane.test    signed: good.dane.test (TLSA 3 1 1 of mx1's key),
                 bad.dane.test (TLSA of another key), ta.dane.test (2 0 1
                 of the test PKI's intermediate, mx3's issuer), none.dane.test
                 (MX secure, no TLSA: an authenticated denial)
    broken.test  signed, then its TLSA record spoiled: bogus
    plain.test   unsigned, with a TLSA record that would not match

Every MX host listens on the same port on its own 127.0.0.x.
"""
import pytest

from conftest import free_port
from dnssec import SignedDns, tlsa_digest
from peers import Injector, SmtpPeer, issued_by, self_signed
from test_delivery import config, wait_result

HOSTS = {"mx1": "127.0.0.11", "mx2": "127.0.0.12", "mx3": "127.0.0.13",
         "mx4": "127.0.0.14", "mx5": "127.0.0.15", "mx6": "127.0.0.16",
         "mx7": "127.0.0.17", "mx8": "127.0.0.18", "mx9": "127.0.0.21",
         "mx10": "127.0.0.22"}


def world(tmp_path, port, extra="", zones=None):
    """The DNS world and the MX peers (not started); extra: more records
    for dane.test, zones: more unsigned zones."""
    from pki import get_pki
    p = get_pki()
    good = self_signed(tmp_path, "mx1.dane.test")
    other = self_signed(tmp_path, "elsewhere.test")
    ta_leaf = issued_by(p, tmp_path, "mx3.dane.test")
    tl = f"_{port}._tcp"
    dane = (f"good MX 10 mx1\nbad MX 10 mx2\nta MX 10 mx3\nnone MX 10 mx4\n"
            f"full MX 10 mx7\nsha512 MX 10 mx8\n"
            f"mx1 A {HOSTS['mx1']}\nmx2 A {HOSTS['mx2']}\nmx3 A {HOSTS['mx3']}\n"
            f"mx4 A {HOSTS['mx4']}\nmx7 A {HOSTS['mx7']}\nmx8 A {HOSTS['mx8']}\n"
            # the other selectors and matching types: SPKI in full, certificate SHA-512
            f"{tl}.mx7 TLSA 3 1 0 {tlsa_digest(good[0], selector=1, mtype=0)}\n"
            f"{tl}.mx8 TLSA 3 0 2 {tlsa_digest(good[0], selector=0, mtype=2)}\n"
            f"{tl}.mx1 TLSA 3 1 1 {tlsa_digest(good[0])}\n"
            f"{tl}.mx2 TLSA 3 1 1 {tlsa_digest(other[0])}\n"
            f"{tl}.mx3 TLSA 2 0 1 {tlsa_digest(p.inter.cert, selector=0)}\n" + extra)
    broken = (f"@ MX 10 mx5\nmx5 A {HOSTS['mx5']}\n"
              f"{tl}.mx5 TLSA 3 1 1 {tlsa_digest(good[0])}\n")
    plain = (f"@ MX 10 mx6\nmx6 A {HOSTS['mx6']}\n"
             f"{tl}.mx6 TLSA 3 1 1 {tlsa_digest(other[0])}\n")
    dns = SignedDns(tmp_path / "dns", {"dane.test": dane, "broken.test": broken,
                                       "plain.test": plain, **(zones or {})},
                    signed={"dane.test", "broken.test"}, bogus={"broken.test": "TLSA"})
    # name -> (zone, certificate and key); mx4 gets a self-signed pair of its own
    table = {"mx1": ("dane.test", good), "mx2": ("dane.test", good),
             "mx3": ("dane.test", ta_leaf), "mx4": ("dane.test", (None, None)),
             "mx5": ("broken.test", good), "mx6": ("plain.test", good),
             "mx7": ("dane.test", good), "mx8": ("dane.test", good)}
    peers = {n: SmtpPeer(HOSTS[n], port, starttls="offer", name=f"{n}.{zone}", cert=ck[0],
                         key=ck[1], tmpdir=tmp_path)
             for n, (zone, ck) in table.items()}
    return dns, peers


def no_mail_in_the_clear(peer):
    assert not any(c.upper().startswith(("MAIL", "RCPT", "DATA"))
                   for c in peer.plaintext_commands())


@pytest.mark.parametrize("mode", ["opportunistic", "required"])
def test_dane_outcomes(sealgate, tmp_path, mode):
    port = free_port("127.0.0.11")
    dns, peers = world(tmp_path, port)
    with dns:
        for p in peers.values():
            p.__enter__()
        try:
            config(sealgate, dns, port, extra=f'dane = "{mode}"; tls_policy = "opportunistic";')
            d = sealgate.start(role="delivery")
            Injector(sealgate).inject("s@sender.test", [
                "u@good.dane.test", "u@bad.dane.test", "u@ta.dane.test",
                "u@none.dane.test", "u@broken.test", "u@plain.test",
                "u@full.dane.test", "u@sha512.dane.test"])
            # matching TLSA: delivered, logged as DANE
            r = wait_result(d, "u@good.dane.test", "sent")
            assert r["tls"] == "dane", r
            assert peers["mx1"].messages[0]["tls"] is True
            for rcpt in ("u@full.dane.test", "u@sha512.dane.test"):
                assert wait_result(d, rcpt, "sent")["tls"] == "dane"
            r = wait_result(d, "u@ta.dane.test", "sent")
            assert r["tls"] == "dane", r
            # non-matching: 4.7.5, nothing in the clear, nothing delivered
            r = wait_result(d, "u@bad.dane.test", "deferred")
            assert r["dsn"] == "4.7.5" and "matches no TLSA record" in r["reply"], r
            assert peers["mx2"].messages == []
            no_mail_in_the_clear(peers["mx2"])
            # bogus signatures: deferred without even connecting
            r = wait_result(d, "u@broken.test", "deferred")
            assert r["dsn"] == "4.7.5" and "cannot be had securely" in r["reply"], r
            assert peers["mx5"].messages == [] and peers["mx5"].all_commands() == []
            if mode == "opportunistic":
                # authenticated denial and an unsigned zone: the normal policy
                r = wait_result(d, "u@none.dane.test", "sent")
                assert r["tls"].startswith("TLSv1."), r
                r = wait_result(d, "u@plain.test", "sent")
                assert r["tls"].startswith("TLSv1."), r
            else:
                for rcpt, peer in (("u@none.dane.test", "mx4"), ("u@plain.test", "mx6")):
                    r = wait_result(d, rcpt, "deferred")
                    assert r["dsn"] == "4.7.5" and "DANE is required" in r["reply"], r
                    assert peers[peer].messages == []
        finally:
            for p in peers.values():
                p.__exit__(None, None, None)


def test_no_usable_tlsa_record_means_encrypted_not_authenticated(sealgate, tmp_path):
    """TLSA records none of which is usable for SMTP (RFC 7672 2.2; here
    PKIX-EE, usage 1) authenticate nothing, but their validated presence
    still says the host does TLS: delivered encrypted, not as DANE (as
    Postfix's "encrypt"), and never in the clear to a host without
    STARTTLS."""
    port = free_port("127.0.0.11")
    tl = f"_{port}._tcp"
    extra = (f"unusable MX 10 mx9\nclear MX 10 mx10\n"
             f"mx9 A {HOSTS['mx9']}\nmx10 A {HOSTS['mx10']}\n"
             f"{tl}.mx9 TLSA 1 1 1 {'ab' * 32}\n{tl}.mx10 TLSA 1 1 1 {'ab' * 32}\n")
    dns, _ = world(tmp_path, port, extra=extra)
    cert, key = self_signed(tmp_path, "mx9.dane.test")
    mx9 = SmtpPeer(HOSTS["mx9"], port, starttls="offer", name="mx9.dane.test", cert=cert,
                   key=key, tmpdir=tmp_path)
    mx10 = SmtpPeer(HOSTS["mx10"], port, starttls="none", name="mx10.dane.test")
    with dns, mx9, mx10:
        config(sealgate, dns, port, extra='dane = "opportunistic"; tls_policy = "opportunistic";')
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["u@unusable.dane.test", "u@clear.dane.test"])
        r = wait_result(d, "u@unusable.dane.test", "sent")
        assert r["tls"].startswith("TLSv1."), r
        d.wait_log(r'event=dane_unusable relay="[^"]*127\.0\.0\.21[^"]*" '
                   r'reason="no usable TLSA record"', 5)
        assert mx9.messages[0]["tls"] is True
        r = wait_result(d, "u@clear.dane.test", "deferred")
        assert r["dsn"].startswith("4.7."), r
        assert mx10.messages == []
        no_mail_in_the_clear(mx10)


def test_dane_off_ignores_tlsa_and_explicit_policy_wins(sealgate, tmp_path):
    """Negative controls: with dane off the bad TLSA record is not looked at
    (delivered opportunistically); an explicit tls_policies level beats a
    per-domain dane mode (precedence: tls_policies > DANE)."""
    port = free_port("127.0.0.11")
    dns, peers = world(tmp_path, port)
    with dns, peers["mx2"], peers["mx1"]:
        config(sealgate, dns, port, extra=(
            'tls_policies = ( { domains = [ "bad.dane.test" ]; policy = "required"; '
            'dane = "required"; }, { domains = [ "good.dane.test" ]; dane = "required"; } );'))
        d = sealgate.start(role="delivery")
        Injector(sealgate).inject("s@sender.test", ["u@bad.dane.test", "u@good.dane.test"])
        r = wait_result(d, "u@bad.dane.test", "sent")
        assert r["tls"].startswith("TLSv1."), r
        r = wait_result(d, "u@good.dane.test", "sent")
        assert r["tls"] == "dane", r


def test_sealctl_tls_check_names_the_policy_and_why(sealgate, tmp_path):
    port = free_port("127.0.0.11")
    dns, _ = world(tmp_path, port)
    with dns:
        config(sealgate, dns, port, extra=(
            'dane = "opportunistic"; tls_policy = "opportunistic"; tls_policies = ( '
            '{ domains = [ "ta.dane.test" ]; policy = "verify"; } );'))
        out = sealgate.sealctl("tls", "check", "Good.Dane.Test.").stdout
        assert "domain: good.dane.test\n" in out
        assert "dane: opportunistic\n" in out and "mx: validated (AD)\n" in out
        assert f"host: mx1.dane.test [{HOSTS['mx1']}] policy: dane" in out, out
        assert "tlsa: secure [3 1 1 " in out
        out = sealgate.sealctl("tls", "check", "broken.test").stdout
        assert "policy: dane-defer (4.7.5: TLSA lookup failed)" in out, out
        out = sealgate.sealctl("tls", "check", "none.dane.test").stdout
        assert "tlsa: denied (validated: none)" in out and "policy: default opportunistic" in out
        out = sealgate.sealctl("tls", "check", "plain.test").stdout
        assert "mx: not validated" in out and "policy: default opportunistic" in out, out
        out = sealgate.sealctl("tls", "check", "ta.dane.test").stdout
        assert "explicit: verify" in out and "policy: explicit verify" in out, out
        r = sealgate.sealctl("tls", "check", "bad..name", check=False)
        assert r.returncode == 2 and "not a domain name" in r.stderr


def test_dane_beats_mta_sts(sealgate, tmp_path):
    """Precedence DANE > MTA-STS: both.dane.test has matching TLSA records
    for its MX and an enforced MTA-STS policy that does not list that MX.
    Under the policy the host would be refused (4.7.5); DANE decides, so
    the mail goes, tls="dane". Negative control: with dane off the same
    policy refuses the host."""
    from pki import get_pki
    from sts_server import PolicyServer
    p = get_pki()
    port = free_port("127.0.0.11")
    cert, key = issued_by(p, tmp_path, "mta-sts.both.dane.test")
    extra = ("both MX 10 mx1\nmta-sts.both A 127.0.0.1\n"
             '_mta-sts.both TXT "v=STSv1; id=1;"\n')
    policy = "version: STSv1\nmode: enforce\nmx: elsewhere.test\nmax_age: 600\n"
    dns, peers = world(tmp_path, port, extra=extra)
    with dns, peers["mx1"], PolicyServer(cert, key, policy) as web:
        for dane, outcome in (("opportunistic", "sent"), ("off", "deferred")):
            config(sealgate, dns, port, extra=(
                f'dane = "{dane}"; mta_sts = true; sts_port = {web.port}; '
                f'sts_ca_file = "{p.root.cert}";'))
            d = sealgate.start(role="delivery")
            Injector(sealgate).inject("s@sender.test", [f"first-{dane}@both.dane.test"])
            if dane == "opportunistic":
                d.wait_log(r"event=sts_policy_fetched domain=both\.dane\.test")
            Injector(sealgate).inject("s@sender.test", [f"u-{dane}@both.dane.test"])
            r = wait_result(d, f"u-{dane}@both.dane.test", outcome)
            if outcome == "sent":
                assert r["tls"] == "dane", r
            else:
                assert r["dsn"] == "4.7.5" and "MTA-STS" in r["reply"], r
            d.stop()
