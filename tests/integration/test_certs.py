"""sealctl cert / crl: import, rules, listing, revocation, PKCS#11.

Every test gets its own state directory and NSS database; the test PKI
(pki.py) is built once per session. Peers: openssl (OCSP responder), a
Python HTTP server for CRL distribution points, SoftHSM2 with NSS's
certutil/modutil for the token.
"""
import json
import time
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pki import get_pki


@pytest.fixture(scope="session")
def pki():
    return get_pki()


def listing(env):
    out = env.sealctl("cert", "list", "--json").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def by_email(rows, email):
    return [r for r in rows if email in r["emails"]]


@pytest.fixture
def db(sealgate, pki):
    """A database with the root CA trusted and the intermediate known."""
    sealgate.write_config()
    sealgate.sealctl("cert", "init")
    sealgate.sealctl("cert", "import", pki.root.cert, "--ca")
    sealgate.sealctl("cert", "import", pki.chain)
    return sealgate


def pwfile(env, pki, name, text=None):
    p = env.dir / f"{name}.pw"
    p.write_text((text if text is not None else pki[name].password) + "\n")
    return p


def test_init_creates_private_database(sealgate):
    sealgate.write_config()
    r = sealgate.sealctl("cert", "init")
    nssdb = sealgate.state_dir / "nssdb"
    assert (nssdb / "cert9.db").exists() and (nssdb / "key4.db").exists()
    assert oct(nssdb.stat().st_mode & 0o777) == "0o700"
    assert str(nssdb) in r.stdout


def test_readonly_commands_need_a_database(sealgate):
    sealgate.write_config()
    r = sealgate.sealctl("cert", "list", check=False)
    assert r.returncode == 1 and "sealctl cert init" in r.stderr
    assert not (sealgate.state_dir / "nssdb").exists()


@pytest.mark.parametrize("ext", ["pem", "der", "crt", "cer"])
def test_import_certificate_formats(db, pki, ext):
    src = pki["bob"].cert if ext in ("pem", "crt") else pki["bob"].der
    f = db.dir / f"bob.{ext}"
    shutil.copy(src, f)
    db.sealctl("cert", "import", f)
    rows = by_email(listing(db), "bob@example.org")
    assert len(rows) == 1
    assert rows[0]["key"] is False and rows[0]["source"] == "imported"
    assert rows[0]["serial"] == pki["bob"].serial


def test_import_several_pem_and_pkcs7(db, pki):
    both = db.dir / "two.pem"
    both.write_text(pki["bob"].cert.read_text() + pki["frank"].cert.read_text())
    r = db.sealctl("cert", "import", both)
    assert "imported 2 certificate(s)" in r.stdout
    p7 = db.dir / "carol.p7b"
    subprocess.run(["openssl", "crl2pkcs7", "-nocrl", "-certfile", str(pki["carol"].cert),
                    "-outform", "DER", "-out", str(p7)], check=True)
    db.sealctl("cert", "import", p7)
    emails = {e for r in listing(db) for e in r["emails"]}
    assert {"bob@example.org", "frank@example.net", "carol@example.com"} <= emails


@pytest.mark.parametrize("legacy,ext", [(False, "p12"), (True, "p12"), (False, "pfx"),
                                        (True, "bin")], ids=["aes", "legacy", "pfx", "guessed"])
def test_import_pkcs12_right_and_wrong_password(db, pki, legacy, ext):
    e = pki["alice"]
    f = db.dir / f"alice.{ext}"
    shutil.copy(e.p12_legacy if legacy else e.p12, f)
    before = listing(db)
    bad = db.sealctl("cert", "import", f, "--password-file", pwfile(db, pki, "alice", "nope"),
                     check=False)
    assert bad.returncode == 1
    assert str(f) in bad.stderr and "wrong password" in bad.stderr
    assert listing(db) == before
    missing = db.sealctl("cert", "import", f, check=False)
    assert missing.returncode == 1 and listing(db) == before
    assert "--password-file" in missing.stderr, missing.stderr
    r = db.sealctl("cert", "import", f, "--password-file", pwfile(db, pki, "alice"))
    assert "already in the database" not in r.stdout, r.stdout
    rows = by_email(listing(db), "alice@example.com")
    assert len(rows) == 1 and rows[0]["key"] is True
    assert rows[0]["issuer"] == "CN=Sealgate Test Intermediate CA"
    again = db.sealctl("cert", "import", f, "--password-file", pwfile(db, pki, "alice"))
    assert "already in the database" in again.stdout, again.stdout
    assert len(by_email(listing(db), "alice@example.com")) == 1


def test_import_twice_says_already_there_and_unreadable_says_why(db, pki, tmp_path):
    r = db.sealctl("cert", "import", pki["frank"].cert)
    assert "imported 1 certificate(s) (0 already there)" in r.stdout, r.stdout
    r = db.sealctl("cert", "import", pki["frank"].cert)
    assert r.returncode == 0 and "already in the database" in r.stdout, r.stdout
    r = db.sealctl("cert", "import", tmp_path / "nonexistent.pem", check=False)
    assert r.returncode == 1 and "No such file or directory" in r.stderr, r.stderr
    r = db.sealctl("cert", "import", pki["alice"].p12, "--password-file",
                   tmp_path / "no-pw-file", check=False)
    assert r.returncode == 1 and "the password file" in r.stderr, r.stderr
    assert "No such file or directory" in r.stderr, r.stderr
    r = db.sealctl("crl", "import", tmp_path / "none.crl", check=False)
    assert r.returncode == 1 and "No such file or directory" in r.stderr, r.stderr


@pytest.mark.parametrize("content", [b"", b"hello, world\n", b"\x30\x82\x05\x00" + b"\x01" * 60,
                                     "damaged-pem", "damaged-p12", "key-only"])
def test_bad_files_are_refused_and_change_nothing(db, pki, content):
    before = listing(db)
    if content == "damaged-pem":
        text = pki["bob"].cert.read_text().splitlines()
        text[3] = "!!!!" + text[3][4:]
        data, name = ("\n".join(text) + "\n").encode(), "bad.pem"
    elif content == "damaged-p12":
        raw = bytearray(pki["alice"].p12.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        data, name = bytes(raw), "bad.p12"
    elif content == "key-only":
        data, name = pki["bob"].key.read_bytes(), "bob-key.pem"
    else:
        data, name = content, "bad.cer"
    f = db.dir / name
    f.write_bytes(data)
    r = db.sealctl("cert", "import", f, "--password-file", pwfile(db, pki, "alice"),
                   check=False)
    assert r.returncode == 1, r.stdout
    assert str(f) in r.stderr
    assert listing(db) == before


def test_private_replaces_public(db, pki):
    db.sealctl("cert", "import", pki["alice_old"].cert)
    db.sealctl("cert", "import", pki["alice"].cert)
    assert len(by_email(listing(db), "alice@example.com")) == 2
    r = db.sealctl("cert", "import", pki["alice"].p12, "--password-file", pwfile(db, pki, "alice"))
    assert "replaced 1" in r.stdout
    rows = by_email(listing(db), "alice@example.com")
    assert [(x["serial"], x["key"]) for x in rows] == [(pki["alice"].serial, True)]


def test_list_and_show_json(db, pki):
    db.sealctl("cert", "import", pki["bob"].cert)
    rows = listing(db)
    root = [r for r in rows if r["subject"] == "CN=Sealgate Test Root CA"][0]
    assert root["ca"] is True and root["trust"].startswith("C")
    bob = by_email(rows, "bob@example.org")[0]
    for key in ("id", "fingerprint", "nickname", "subject", "emails", "issuer", "serial",
                "not_before", "not_after", "key", "trust", "source", "gateway"):
        assert key in bob
    fp = subprocess.run(["openssl", "x509", "-in", str(pki["bob"].cert), "-noout",
                         "-fingerprint", "-sha256"], capture_output=True, text=True).stdout
    assert bob["fingerprint"] == fp.split("=")[1].strip().replace(":", "").lower()
    for ident in (bob["id"], bob["nickname"], "bob@example.org", bob["fingerprint"][:8]):
        shown = json.loads(db.sealctl("cert", "show", ident, "--json").stdout)
        assert shown == bob
    text = db.sealctl("cert", "show", bob["id"]).stdout
    assert "subject: CN=bob" in text and "email: bob@example.org" in text
    r = db.sealctl("cert", "show", "nobody@nowhere.test", check=False)
    assert r.returncode == 1 and "no such certificate" in r.stderr


def test_address_in_subject_and_alt_names_is_listed_once(db, tmp_path):
    key, crt = tmp_path / "dup.key", tmp_path / "dup.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(crt),
                    "-days", "30", "-subj", "/CN=dup/emailAddress=Dup@Example.com",
                    "-addext", "subjectAltName=email:dup@example.com,email:other@example.com"],
                   check=True, capture_output=True)
    db.sealctl("cert", "import", crt)
    [row] = [r for r in listing(db) if "CN=dup" in r["subject"]]
    assert sorted(e.lower() for e in row["emails"]) == ["dup@example.com", "other@example.com"], row
    shown = db.sealctl("cert", "show", row["id"]).stdout
    assert shown.lower().count("email: dup@example.com") == 1, shown


def test_export_and_remove(db, pki):
    db.sealctl("cert", "import", pki["frank"].der)
    pem = db.sealctl("cert", "export", "frank@example.net").stdout
    der = subprocess.run(["openssl", "x509", "-outform", "DER"], input=pem.encode(),
                         capture_output=True, check=True).stdout
    assert der == pki["frank"].der.read_bytes()
    db.sealctl("cert", "remove", "frank@example.net")
    assert by_email(listing(db), "frank@example.net") == []
    assert db.sealctl("cert", "remove", "frank@example.net", check=False).returncode == 1


def test_gateway_certificate_for_sender_without_own(db, pki):
    db.sealctl("cert", "import", pki["gateway"].p12, "--password-file",
               pwfile(db, pki, "gateway"), "--gateway", "example.com")
    db.sealctl("cert", "import", pki["alice"].p12, "--password-file", pwfile(db, pki, "alice"))
    gw = by_email(listing(db), "gateway@example.com")[0]
    assert gw["gateway"] == ["example.com"]
    own = json.loads(db.sealctl("cert", "signer", "alice@example.com", "--json").stdout)
    assert own["gateway"] is False and own["nickname"] == "alice"
    other = json.loads(db.sealctl("cert", "signer", "zoe@example.com", "--json").stdout)
    assert other["gateway"] is True and other["id"] == gw["id"]
    r = db.sealctl("cert", "signer", "zoe@elsewhere.test", check=False)
    assert r.returncode == 1
    # a public certificate is no signing certificate: bob has no key
    db.sealctl("cert", "import", pki["bob"].cert)
    assert db.sealctl("cert", "signer", "bob@example.org", check=False).returncode == 1
    # encryption: the recipient's own certificate and the domain's gateway
    db.sealctl("cert", "import", pki["carol"].cert)
    rcpt = [json.loads(l) for l in
            db.sealctl("cert", "recipient", "carol@example.com", "--json").stdout.splitlines()]
    assert [r["gateway"] for r in rcpt] == [False, True]
    # --gateway needs a key
    r = db.sealctl("cert", "import", pki["frank"].cert, "--gateway", "example.net", check=False)
    assert r.returncode == 1 and "private key" in r.stderr


def test_expired_and_untrusted_are_invalid(db, pki):
    db.sealctl("cert", "import", pki["dave"].cert)
    db.sealctl("cert", "import", pki["eve"].cert)
    db.sealctl("crl", "import", pki.crl)
    r = db.sealctl("cert", "check", "dave@example.com", "--json", check=False)
    assert r.returncode == 1
    assert json.loads(r.stdout)["reason"] == "SEC_ERROR_EXPIRED_CERTIFICATE"
    r = db.sealctl("cert", "check", "eve@example.net", "--json", check=False)
    assert r.returncode == 1 and json.loads(r.stdout)["valid"] is False
    cands = db.sealctl("cert", "recipient", "dave@example.com", "--json").stdout
    assert json.loads(cands)["valid"] is False


def write_conf(env, certs=""):
    env.write_config(f"certs = {{ {certs} }};")


def check(env, ident, usage="encrypt"):
    r = env.sealctl("cert", "check", ident, "--usage", usage, "--json", check=False)
    v = json.loads(r.stdout)
    assert (r.returncode == 0) == v["valid"]
    return v


def test_crl_import_revokes(db, pki):
    db.sealctl("cert", "import", pki["carol"].cert)
    db.sealctl("cert", "import", pki["bob"].cert)
    r = db.sealctl("crl", "import", pki.crl_pem)
    assert "CRL imported" in r.stdout
    v = check(db, "carol@example.com")
    assert (v["valid"], v["revocation"], v["source"]) == (False, "revoked", "crl")
    v = check(db, "bob@example.org", "sign")
    assert (v["valid"], v["revocation"], v["source"]) == (True, "good", "crl")
    bad = db.dir / "bad.crl"
    bad.write_bytes(b"not a crl")
    r = db.sealctl("crl", "import", bad, check=False)
    assert r.returncode == 1 and str(bad) in r.stderr


def test_crl_fetched_from_distribution_point(db, pki):
    db.sealctl("cert", "import", pki["carol"].cert)
    with pki.crl_server():
        r = db.sealctl("crl", "fetch")
    assert "fetched=1" in r.stdout
    v = check(db, "carol@example.com")
    assert (v["revocation"], v["source"]) == ("revoked", "crl")


def test_ocsp_revoked_good_and_responder_down(db, pki):
    for name in ("carol", "bob"):
        db.sealctl("cert", "import", pki[name].cert)
    with pki.ocsp_responder():
        v = check(db, "carol@example.com")
        assert (v["valid"], v["revocation"], v["source"]) == (False, "revoked", "ocsp")
        v = check(db, "bob@example.org")
        assert (v["valid"], v["revocation"], v["warning"]) == (True, "good", False)
    # responder down: soft-fail (the default) accepts with a warning ...
    v = check(db, "bob@example.org")
    assert (v["valid"], v["warning"], v["revocation"]) == (True, True, "unknown")
    assert "OCSP" in v["reason"]
    # ... hard-fail refuses
    write_conf(db, 'revocation = "hard-fail";')
    v = check(db, "bob@example.org")
    assert (v["valid"], v["revocation"]) == (False, "unknown")
    # and off does not ask at all
    write_conf(db, 'revocation = "off";')
    v = check(db, "carol@example.com")
    assert (v["valid"], v["revocation"]) == (True, "not-checked")


def test_no_revocation_information_is_unknown_never_good(db, pki):
    """grace's certificate names no OCSP responder and no CRL distribution
    point, and her CA's CRL was never imported: nothing can say she is not
    revoked. NSS's OCSP call answers success for "nothing to ask"; that is
    unknown, so hard-fail refuses and soft-fail warns."""
    db.sealctl("cert", "import", pki["grace"].cert)
    write_conf(db, 'revocation = "hard-fail";')
    for usage in ("encrypt", "sign"):
        v = check(db, "grace@example.com", usage)
        assert (v["valid"], v["revocation"]) == (False, "unknown"), v
        assert "no OCSP responder" in v["reason"], v
    r = db.sealctl("cert", "recipient", "grace@example.com", "--json")
    assert json.loads(r.stdout)["valid"] is False
    write_conf(db, 'revocation = "soft-fail";')
    v = check(db, "grace@example.com")
    assert (v["valid"], v["warning"], v["revocation"]) == (True, True, "unknown"), v
    # the issuer's CRL, once imported, covers her: good (crl) ...
    write_conf(db, 'revocation = "hard-fail";')
    db.sealctl("crl", "import", pki.crl_pem)
    v = check(db, "grace@example.com")
    assert (v["valid"], v["revocation"], v["source"]) == (True, "good", "crl"), v


def test_stale_crl_is_no_answer(db, pki, tmp_path):
    """A CRL past its nextUpdate says nothing about today: unknown, not good."""
    stale = tmp_path / "stale.crl"
    pki.short_lived_crl(stale)
    db.sealctl("cert", "import", pki["grace"].cert)
    db.sealctl("crl", "import", stale)
    time.sleep(1.5)
    write_conf(db, 'revocation = "hard-fail";')
    v = check(db, "grace@example.com")
    assert (v["valid"], v["revocation"]) == (False, "unknown"), v
    assert "out of date" in v["reason"], v


def test_ocsp_default_responder(db, pki):
    from conftest import free_port
    port = free_port()
    db.sealctl("cert", "import", pki["carol"].cert)
    db.sealctl("cert", "import", pki["ocsp"].cert)
    write_conf(db, f'revocation = "hard-fail"; ocsp_responder = "http://127.0.0.1:{port}/"; '
               f'ocsp_responder_cert = "{pki["ocsp"].cn}";')
    with pki.ocsp_responder(port):
        v = check(db, "carol@example.com")
    assert (v["revocation"], v["source"]) == ("revoked", "ocsp")


def test_password_protected_database(sealgate, pki):
    pw = sealgate.dir / "db.pw"
    pw.write_text("s3cret\n")
    sealgate.write_config(f'certs = {{ password_file = "{pw}"; }};')
    sealgate.sealctl("cert", "init")
    sealgate.sealctl("cert", "import", pki.root.cert, "--ca")
    sealgate.sealctl("cert", "import", pki["alice"].p12, "--password-file",
                     pwfile(sealgate, pki, "alice"))
    assert by_email(listing(sealgate), "alice@example.com")[0]["key"] is True
    data = sealgate.dir / "data.txt"
    data.write_text("invoice 42\n")
    sig = sealgate.dir / "data.sig"
    sealgate.sealctl("cert", "sign", "alice", data, sig)
    pub = subprocess.run(["openssl", "x509", "-in", str(pki["alice"].cert), "-noout", "-pubkey"],
                         capture_output=True, check=True).stdout
    (sealgate.dir / "pub.pem").write_bytes(pub)
    subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(sealgate.dir / "pub.pem"),
                    "-signature", str(sig), str(data)], check=True, capture_output=True)
    # a wrong database password is refused
    pw.write_text("wrong\n")
    r = sealgate.sealctl("cert", "list", check=False)
    assert r.returncode == 1 and "password" in r.stderr.lower()


SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"


@pytest.mark.skipif(not os.path.exists(SOFTHSM), reason="softhsm2 not installed")
def test_pkcs11_token_key_signs(db, pki):
    d = db.dir
    (d / "tokens").mkdir()
    conf = d / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {d / 'tokens'}\nobjectstore.backend = file\n"
                    "log.level = ERROR\n")
    env = dict(os.environ, SOFTHSM2_CONF=str(conf))
    run = lambda *a, **kw: subprocess.run([str(x) for x in a], env=env, check=True,
                                          capture_output=True, **kw)
    run("softhsm2-util", "--init-token", "--free", "--label", "seal", "--pin", "1234",
        "--so-pin", "5678")
    # a scratch NSS database drives the token to make the key and hold the cert
    scratch = d / "scratch"
    scratch.mkdir()
    run("certutil", "-N", "-d", f"sql:{scratch}", "--empty-password")
    run("modutil", "-dbdir", f"sql:{scratch}", "-add", "softhsm", "-libfile", SOFTHSM, "-force")
    pin = d / "pin.txt"
    pin.write_text("1234\n")
    noise = d / "noise"
    noise.write_bytes(os.urandom(64))
    csr = d / "seal.csr"
    run("certutil", "-R", "-d", f"sql:{scratch}", "-h", "seal", "-f", pin, "-k", "ec",
        "-q", "nistp256", "-s", "CN=Seal of example.com", "-7", "seal@example.com",
        "-z", noise, "-a", "-o", csr)
    cert = d / "seal.pem"
    ext = d / "seal.ext"
    ext.write_text("[ext]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=emailProtection\nsubjectAltName=email:seal@example.com\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", pki.inter.cert, "-CAkey", pki.inter.key,
        "-set_serial", "0x5EA1", "-days", "30", "-extfile", ext, "-extensions", "ext",
        "-out", cert)
    run("certutil", "-A", "-d", f"sql:{scratch}", "-h", "seal", "-f", pin, "-n", "seal",
        "-t", ",,", "-a", "-i", cert)
    db.write_config(f'certs = {{ pkcs11 = ( {{ name = "softhsm"; library = "{SOFTHSM}"; '
                    f'token = "seal"; pin_file = "{pin}"; }} ); }};')
    row = by_email([json.loads(l) for l in subprocess.run(
        [str(Path(os.environ.get("SEALGATE_BIN", "bin")) / "sealctl"), "-c", str(db.conf),
         "cert", "list", "--json"], env=env, capture_output=True, text=True,
        check=True).stdout.splitlines()], "seal@example.com")
    assert len(row) == 1 and row[0]["token"] == "seal" and row[0]["key"] is True
    data = d / "invoice.xml"
    data.write_text("<Invoice>42</Invoice>\n")
    sig = d / "invoice.sig"
    sealctl = str(Path(os.environ.get("SEALGATE_BIN", "bin")) / "sealctl")
    subprocess.run([sealctl, "-c", str(db.conf), "cert", "sign", "seal:seal", str(data),
                    str(sig)], env=env, check=True, capture_output=True)
    pub = d / "pub.pem"
    pub.write_bytes(run("openssl", "x509", "-in", cert, "-noout", "-pubkey").stdout)
    run("openssl", "dgst", "-sha256", "-verify", pub, "-signature", sig, data)
    # the signer lookup finds the token's certificate for the address
    signer = subprocess.run([sealctl, "-c", str(db.conf), "cert", "signer", "seal@example.com",
                             "--json"], env=env, capture_output=True, text=True, check=True)
    assert json.loads(signer.stdout)["nickname"] == "seal:seal"
    # a wrong PIN is refused at start
    pin.write_text("0000\n")
    r = subprocess.run([sealctl, "-c", str(db.conf), "cert", "list"], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 1


def test_pkcs12_iteration_bound(db, pki):
    """A bundle may not make us run more than 1,000,000 key-derivation rounds."""
    b = pki["bob"]
    for n, ok in ((1000001, False), (999999, True)):
        f = db.dir / f"iter{n}.p12"
        subprocess.run(["openssl", "pkcs12", "-export", "-in", str(b.cert), "-inkey", str(b.key),
                        "-keypbe", "NONE", "-certpbe", "NONE", "-iter", str(n),
                        "-passout", "pass:x", "-out", str(f)], check=True, capture_output=True)
        r = db.sealctl("cert", "import", f, "--password-file", pwfile(db, pki, "bob", "x"),
                       check=False)
        assert (r.returncode == 0) == ok, r.stderr
        if not ok:
            assert "1000000 iterations" in r.stderr
            assert by_email(listing(db), "bob@example.org") == []


def test_password_added_to_existing_database(sealgate, pki):
    sealgate.write_config()
    sealgate.sealctl("cert", "init")
    sealgate.sealctl("cert", "import", pki.root.cert, "--ca")
    sealgate.sealctl("cert", "import", pki["bob"].p12, "--password-file", pwfile(sealgate, pki, "bob"))
    pw = sealgate.dir / "db.pw"
    pw.write_text("later\n")
    sealgate.write_config(f'certs = {{ password_file = "{pw}"; }};')
    assert "password set" in sealgate.sealctl("cert", "init").stdout
    assert "password set" not in sealgate.sealctl("cert", "init").stdout
    assert by_email(listing(sealgate), "bob@example.org")[0]["key"] is True
    # the key now needs the password: a wrong one is refused ...
    pw.write_text("wrong\n")
    assert sealgate.sealctl("cert", "list", check=False).returncode == 1
    # ... and without one the database no longer opens for keys
    sealgate.write_config()
    assert sealgate.sealctl("cert", "signer", "bob@example.org", check=False).returncode == 1


def test_separate_tls_database(sealgate, pki):
    tls = sealgate.dir / "tlsdb"
    sealgate.write_config(f'certs = {{ tls_db_dir = "{tls}"; tls_cert = "server"; }};')
    sealgate.sealctl("cert", "init")
    sealgate.sealctl("cert", "--tls", "init")
    sealgate.sealctl("cert", "--tls", "import", pki["server"].p12, "--password-file",
                     pwfile(sealgate, pki, "server"))
    sealgate.sealctl("cert", "import", pki["alice"].p12, "--password-file",
                     pwfile(sealgate, pki, "alice"))
    tls_rows = [json.loads(l) for l in
                sealgate.sealctl("cert", "list", "--json", "--tls").stdout.splitlines()]
    main_rows = listing(sealgate)
    assert [r["nickname"] for r in tls_rows if r["key"]] == ["server"]
    assert [r["nickname"] for r in main_rows if r["key"]] == ["alice"]
    assert (tls / "key4.db").exists()
