"""Message tracking: sealctl track search and show after real mail.

One gateway (smtpd, worker with the S/MIME rules of test_worker_smime,
delivery to a recording SMTP peer) moves mail that ends every way:
delivered and signed, bounced by the next hop (550), deferred (451, still
in the queue), refused at SMTP (relay denied), and inbound signed and
encrypted mail that is decrypted and verified. Then every kind of search
(sender, recipient, domain, subject with RFC 2047 and case folding,
status, direction, time, limit) and show, as text and as JSON, must tell
each message's story and never its body.
"""
import json
import smtplib
import subprocess

import pytest

from conftest import free_port, wait_until
from peers import SmtpPeer
from pki import get_pki
from test_worker_smime import prepare_gateway

SECRET = b"the body stays out of tracking"


def message(sender, rcpts, subject):
    return (f"From: {sender}\r\nTo: {', '.join(rcpts)}\r\nSubject: {subject}\r\n"
            "Content-Type: text/plain\r\n\r\n").encode() + SECRET + b"\r\n"


def send(port, sender, rcpts, body, source="127.0.0.1"):
    """Send one message; returns the recipients smtpd refused."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10, source_address=(source, 0)) as s:
        try:
            return s.sendmail(sender, rcpts, body)
        except smtplib.SMTPRecipientsRefused as e:
            return e.recipients


def search(sealgate, *args):
    out = sealgate.sealctl("track", "search", "--json", "--limit", "0", *args).stdout
    return [json.loads(line) for line in out.splitlines()]


def one(rows, subject):
    hits = [r for r in rows if r["subject"] == subject]
    assert len(hits) == 1, rows
    return hits[0]


@pytest.fixture
def moved(sealgate, tmp_path):
    """The gateway after every kind of mail; yields (sealgate, pki)."""
    pki = get_pki()
    rcpt = {"nobody@partner.test": "550 5.1.1 <nobody@partner.test>: no such user",
            "later@partner.test": "451 4.3.0 try again later"}
    with SmtpPeer(port=free_port(), rcpt=rcpt) as sink:
        prepare_gateway(sealgate, sink, domains=("partner.test", "example.com"))
        d = sealgate.start()
        port = sealgate.smtp_port
        # outbound, signed by the gateway certificate, delivered
        send(port, "carl@example.com", ["someone@partner.test"],
             message("carl@example.com", ["someone@partner.test"],
                     "=?UTF-8?Q?Rechnung_f=C3=BCr?= Mai"))
        # bounced by the next hop, deferred by it
        send(port, "carl@example.com", ["nobody@partner.test"],
             message("carl@example.com", ["nobody@partner.test"], "to nobody"))
        send(port, "carl@example.com", ["later@partner.test"],
             message("carl@example.com", ["later@partner.test"], "to later"))
        # inbound from a stranger: one recipient refused at SMTP, one taken
        refused = send(port, "stranger@elsewhere.test",
                       ["victim@elsewhere.test", "dora@example.com"],
                       message("stranger@elsewhere.test", ["dora@example.com"], "relay try"),
                       source="127.0.0.2")
        assert "victim@elsewhere.test" in refused
        # inbound, signed by frank, encrypted to the gateway: decrypted and verified
        (tmp_path / "in.txt").write_bytes(b"Content-Type: text/plain\r\n\r\n" + SECRET + b"\r\n")
        subprocess.run(["openssl", "cms", "-sign", "-in", str(tmp_path / "in.txt"),
                        "-signer", str(pki["frank"].cert), "-inkey", str(pki["frank"].key),
                        "-certfile", str(pki.chain), "-out", str(tmp_path / "s.eml")],
                       check=True)
        subprocess.run(["openssl", "cms", "-encrypt", "-aes256", "-in", str(tmp_path / "s.eml"),
                        "-from", "frank@example.net", "-to", "alice@example.com",
                        "-subject", "=?ISO-8859-1?Q?Gr=FC=DFe?= from frank",
                        "-out", str(tmp_path / "e.eml"), str(pki["gateway"].cert)], check=True)
        enc = (tmp_path / "e.eml").read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        send(port, "frank@example.net", ["alice@example.com"], enc, source="127.0.0.2")
        for rcpt in ("someone@partner.test", "alice@example.com", "dora@example.com"):
            wait_until(lambda: [m for m in sink.messages if rcpt in m["rcpts"]], 20,
                       what=f"mail to {rcpt}")
        d.wait_log(r"event=delivery rcpt=\"nobody@partner.test\" .*status=bounced", timeout=20)
        d.wait_log(r"event=delivery rcpt=\"later@partner.test\" .*status=deferred", timeout=20)
        wait_until(lambda: search(sealgate, "--status", "rejected"), 10, what="the refusal")
        wait_until(lambda: search(sealgate, "--status", "bounced"), 10, what="the bounce")
        yield sealgate, pki


def test_search_finds_every_kind_of_end(moved):
    sealgate, _ = moved
    rows = search(sealgate)
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    signed = one(rows, "Rechnung f\u00fcr Mai")      # stored RFC 2047-decoded
    assert signed["status"] == "delivered" and signed["crypto"] == "signed"
    assert signed["direction"] == "outbound" and signed["rule"] == "out"
    assert one(rows, "to nobody")["status"] == "bounced"
    later = one(rows, "to later")
    assert later["status"] == "deferred" and later["queue_state"] == "deferred"
    inbound = one(rows, "Gr\u00fc\u00dfe from frank")
    assert inbound["status"] == "delivered"
    assert inbound["crypto"] == "decrypted,verified,harvested", inbound
    assert inbound["crypto_notes"]["verify"] == "valid"
    assert inbound["crypto_notes"]["signer"] == "frank@example.net"
    rejected = [r for r in rows if r["status"] == "rejected"]
    assert len(rejected) == 1, rows
    rj = rejected[0]
    assert rj["sender"] == "stranger@elsewhere.test" and rj["direction"] == "inbound"
    assert rj["client_address"] == "127.0.0.2"
    assert [(x["address"], x["status"], x["dsn_status"]) for x in rj["recipients"]] == [
        ("victim@elsewhere.test", "rejected", "5.7.1")]
    assert rj["recipients"][0]["reply"].startswith("554 5.7.1 ")
    # the DSN for the bounce is tracked too, from the null sender
    dsn = search(sealgate, "--from", "<>")
    assert len(dsn) == 1 and dsn[0]["recipients"][0]["address"] == "carl@example.com"
    assert all(SECRET.decode() not in json.dumps(r) for r in rows)


def test_search_filters(moved):
    sealgate, _ = moved

    def subjects(*args):
        return [r["subject"] for r in search(sealgate, *args)]

    assert subjects("--from", "CARL@example.com") == ["to later", "to nobody",
                                                      "Rechnung f\u00fcr Mai"]
    assert subjects("--from", "carl@example.com", "--status", "bounced") == ["to nobody"]
    assert subjects("--from", "carl@example.com", "--status", "deferred,bounced") == [
        "to later", "to nobody"]
    assert subjects("--to", "nobody@partner.test") == ["to nobody"]
    assert len(subjects("--to", "@partner.test")) == 3
    assert [r["status"] for r in search(sealgate, "--to", "*@elsewhere.test")] == ["rejected"]
    assert subjects("--subject", "F\u00dcR MAI") == ["Rechnung f\u00fcr Mai"]  # folded
    assert subjects("--subject", "frank", "--direction", "inbound") == [
        "Gr\u00fc\u00dfe from frank"]
    assert subjects("--subject", "frank", "--direction", "outbound") == []
    every = search(sealgate)
    assert len(search(sealgate, "--since", "1h")) == len(every)
    assert search(sealgate, "--until", "2021-01-01") == []
    assert search(sealgate, "--since", "2021-01-01T00:00:00Z", "--until", "2100-01-01") \
        == every
    assert len(search(sealgate, "--limit", "2")) == 2
    out = sealgate.sealctl("track", "search", "--from", "carl@example.com", "--stats")
    assert "plan=sender" in out.stderr, out.stderr
    table = out.stdout.splitlines()
    assert table[-1] == "-- 3 messages"
    assert "deferred" in table[0] and "carl@example.com -> later@partner.test" in table[0]
    for bad in (["--status", "lost"], ["--since", "yesterday"], ["--direction", "up"],
                ["--nonsense"], ["extra"]):
        r = sealgate.sealctl("track", "search", *bad, check=False)
        assert r.returncode == 2, (bad, r.stdout, r.stderr)


def test_show_tells_the_story_but_never_the_body(moved):
    sealgate, pki = moved
    rows = search(sealgate)
    signed = one(rows, "Rechnung f\u00fcr Mai")
    text = sealgate.sealctl("track", "show", signed["id"]).stdout
    assert "status:       delivered" in text, text
    assert "crypto:       signed" in text
    # the nickname sealctl cert list shows (the PKCS#12 friendly name)
    listed = sealgate.sealctl("cert", "list").stdout
    assert "sign-cert: gateway" in text and "gateway" in listed, text
    assert "someone@partner.test  delivered" in text
    assert "relay: " in text and "tls: none" in text and "reply: 250 2.0.0 queued" in text
    bounced = json.loads(sealgate.sealctl("track", "show", one(rows, "to nobody")["id"],
                                          "--json").stdout)
    r = bounced["recipients"][0]
    assert r["status"] == "bounced" and r["dsn_status"] == "5.1.1"
    assert "no such user" in r["reply"] and "127.0.0.1" in r["relay"], r
    inbound = one(rows, "Gr\u00fc\u00dfe from frank")
    text = sealgate.sealctl("track", "show", inbound["id"]).stdout
    assert "crypto:       decrypted,verified,harvested" in text, text
    assert "verify: valid" in text and "signer: frank@example.net" in text, text
    rejected = [x for x in rows if x["status"] == "rejected"][0]
    text = sealgate.sealctl("track", "show", rejected["id"]).stdout
    assert "victim@elsewhere.test  rejected" in text and "554 5.7.1" in text, text
    assert json.loads(sealgate.sealctl("track", "show", one(rows, "relay try")["id"], "--json")
                      .stdout)["crypto_notes"] == {"verify": "unsigned"}
    assert "refused at SMTP (RCPT)" in text
    later = one(rows, "to later")
    text = sealgate.sealctl("track", "show", later["id"]).stdout
    assert "later@partner.test  deferred" in text and "next=" in text, text
    assert "451 4.3.0 try again later" in text
    for row in rows:
        shown = sealgate.sealctl("track", "show", row["id"]).stdout
        shown += sealgate.sealctl("track", "show", row["id"], "--json").stdout
        assert SECRET.decode() not in shown
    r = sealgate.sealctl("track", "show", "0000000000001", check=False)
    assert r.returncode == 1 and "no such message" in r.stderr
