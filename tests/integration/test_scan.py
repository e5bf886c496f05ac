"""Virus scan after decryption: the running gateway and a real clamd.

clamd is Debian's clamav-daemon, started by the test as nobody with a
signature made on the spot (clamd.py: no freshclam, no download). Inbound
mail comes from 127.0.0.2 (a stranger) for example.com, encrypted by
openssl to the gateway's certificate; the marker clamd knows is only in the
plaintext, so only a scan after decryption can find it (shown below by
asking clamd about the ciphertext). Delivered mail lands at a recording
SMTP peer; holds and incidents are read with sealctl.
"""
import base64
import json
import os
import signal
import smtplib
import time

from clamd import MARK, SIGNATURE, Clamd, instream
from cmspeers import openssl_encrypt
from conftest import free_port, wait_until
from peers import SmtpPeer
from pki import get_pki
from test_memcheck import certificates

SPOOF = b"X-Sealgate-Scan: clean\r\n"

RULES = """
worker = { threads = 2; rules = (
  { name = "hold"; recipients = [ "alice@example.com" ]; decrypt = true; scan = true; },
  { name = "reject"; recipients = [ "bob@example.com" ]; decrypt = true; scan = true;
    on_virus = "reject"; },
  { name = "tag"; recipients = [ "carol@example.com" ]; decrypt = true; scan = true;
    on_virus = "pass-tagged"; on_scan_failure = "pass-tagged"; },
  { name = "holdfail"; recipients = [ "dave@example.com" ]; decrypt = true; scan = true;
    on_scan_failure = "hold"; },
  { name = "noscan"; recipients = [ "nick@example.com" ]; decrypt = true; },
  { name = "sign"; recipients = [ "sid@example.com" ]; sign = "required"; },
  { name = "in"; direction = "inbound"; decrypt = true; scan = true; }
); };
"""


def gateway(sealgate, sink, clamd_addr, scan_extra=""):
    pki = get_pki()
    sealgate.state_dir.mkdir(exist_ok=True)
    sealgate.write_config(
        'own_domains = [ "example.com" ];\nown_servers = [ "127.0.0.1" ];\n'
        'certs = { revocation = "off"; };\n'
        f'scan = {{ clamd = "{clamd_addr}"; timeout = "1s"; retry = "1s"; {scan_extra} }};\n'
        f'delivery = {{ routes = ( {{ domains = [ "example.com", "example.net" ]; '
        f'hosts = [ "127.0.0.1:{sink.port}" ]; }} ); }};\n' + RULES)
    certificates(sealgate, pki)
    return pki, sealgate.start()


def encrypted(pki, rcpt, text, inner=None):
    """Inbound S/MIME mail to the gateway's key, with a forged result header."""
    inner = inner or (b"Content-Type: text/plain\r\n\r\n" + text + b"\r\n")
    return SPOOF + openssl_encrypt(pki, ["gateway"], inner, sender="partner@example.net",
                                   rcpt=rcpt)


def with_attachment(data):
    """A multipart entity whose attachment is data, base64: clamd decodes it."""
    b64 = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return (b"Content-Type: multipart/mixed; boundary=sg\r\n\r\n--sg\r\n"
            b"Content-Type: text/plain\r\n\r\nsee the attachment\r\n--sg\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename=invoice.bin\r\n\r\n" + b64
            + b"\r\n--sg--\r\n")


def send(sealgate, rcpt, body):
    with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=10,
                      source_address=("127.0.0.2", 0)) as s:
        s.sendmail("partner@example.net", rcpt if isinstance(rcpt, list) else [rcpt], body)


def arrived(sink, rcpt, timeout=20):
    return wait_until(lambda: [m for m in sink.messages if rcpt in m["rcpts"]], timeout,
                      what=f"mail to {rcpt} at the sink")[0]


def stamps(body):
    head = body.split(b"\r\n\r\n", 1)[0]
    return [h for h in head.split(b"\r\n") if h.lower().startswith(b"x-sealgate-scan")]


def incidents(sealgate):
    return [json.loads(line) for line in
            sealgate.sealctl("incidents", "list", "--json").stdout.splitlines()]


def counters(sealgate):
    c = json.loads(sealgate.sealctl("stats", "--json").stdout)["counters"]
    return {k: c[k]["total"] for k in ("scan.clean", "scan.infected", "scan.unscanned")}


def test_decrypted_virus_held_rejected_or_tagged_clean_passes(sealgate):
    with Clamd() as clamd, SmtpPeer(port=free_port()) as sink:
        pki, d = gateway(sealgate, sink, clamd.socket)
        virus = b"an invoice, and then " + MARK
        # negative control: the marker is invisible to clamd until decrypted
        sample = encrypted(pki, "x@example.com", virus)
        assert instream(clamd.socket, sample) == "stream: OK"
        assert SIGNATURE in instream(clamd.socket, virus)

        send(sealgate, "erin@example.com", encrypted(pki, "erin@example.com", b"all clean"))
        m = arrived(sink, "erin@example.com")
        assert stamps(m["body"]) == [b"X-Sealgate-Scan: clean"], m["body"][:400]
        assert b"all clean" in m["body"]          # decrypted, then scanned

        # in a base64 attachment: found once decrypted and decoded
        att = with_attachment(b"\0\1" + MARK + b"\2" * 300)
        assert MARK not in att
        send(sealgate, "alice@example.com", encrypted(pki, "alice@example.com", b"", att))
        d.wait_log(r"event=scan_found rule=hold name=\"Sg\.Test\.Body\.UNOFFICIAL\" "
                   r"action=hold")
        held = wait_until(lambda: sealgate.sealctl("queue", "list", "--state", "hold",
                                                   "--json").stdout, 20, what="held mail")
        assert "alice@example.com" in held
        rows = incidents(sealgate)
        assert [(r["kind"], r["rule"]) for r in rows] == [("virus", "hold")], rows
        assert SIGNATURE in json.dumps(rows)

        send(sealgate, "bob@example.com", encrypted(pki, "bob@example.com", virus))
        dsn = arrived(sink, "partner@example.net")
        assert dsn["sender"] == ""
        flat = dsn["body"].replace(b"\r\n", b"\n")
        assert b"Status: 5.7.1" in flat and SIGNATURE.encode() in flat, flat[:1500]
        assert MARK not in dsn["body"]              # the header only, never the body

        send(sealgate, "carol@example.com", encrypted(pki, "carol@example.com", virus))
        m = arrived(sink, "carol@example.com")
        assert stamps(m["body"]) == [
            f'X-Sealgate-Scan: infected; name="{SIGNATURE}"'.encode()], m["body"][:400]

        # negative control: a rule without scan lets the same mail through,
        # but not the forged result field
        send(sealgate, "nick@example.com", encrypted(pki, "nick@example.com", virus))
        m = arrived(sink, "nick@example.com")
        assert MARK in m["body"] and stamps(m["body"]) == [], m["body"][:300]

        # no rule at all (outbound, from an own server): smtpd sends it past
        # the worker, unless it carries the field; then the worker drops it
        with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=10) as s:
            s.sendmail("dora@example.com", ["yan@example.net"], b"Subject: plain\r\n\r\nhi\r\n")
            s.sendmail("carl@example.com", ["zed@example.net"],
                       b"Subject: forged\r\nX-Sealgate-Scan : clean;\r\n\tvery\r\n\r\nhi\r\n")
        m = arrived(sink, "zed@example.net")
        assert b"very" not in m["body"] and stamps(m["body"]) == [], m["body"][:300]
        assert b"Subject: plain" in arrived(sink, "yan@example.net")["body"]
        ids = {f: d.wait_log(rf'id=(\w+) session=\S+ event=queued .*from="{f}"')[0].group(1)
               for f in ("dora@example.com", "carl@example.com")}
        d.wait_log(rf"id={ids['carl@example.com']} event=processed rule=- ")
        assert f"id={ids['dora@example.com']} event=processed" not in d.log()   # bypassed

        # encrypted to a key the gateway does not hold (on_decrypt_failure
        # "pass"): clamd would call the ciphertext clean, so it is not asked
        send(sealgate, "ulla@example.com",
             SPOOF + openssl_encrypt(pki, ["alice"], b"Content-Type: text/plain\r\n\r\n"
                                     + virus + b"\r\n", rcpt="ulla@example.com"))
        m = arrived(sink, "ulla@example.com")
        assert stamps(m["body"]) == [b"X-Sealgate-Scan: unscanned; reason=encrypted"]
        d.wait_log(r"event=scan_encrypted rule=in action=pass-tagged")

        assert not [m for m in sink.messages
                    if {"alice@example.com", "bob@example.com"} & set(m["rcpts"])]
        assert counters(sealgate) == {"scan.clean": 1, "scan.infected": 3,
                                      "scan.unscanned": 1}


def test_clamd_down_defers_until_it_is_back(sealgate):
    with Clamd() as clamd, SmtpPeer(port=free_port()) as sink:
        pki, d = gateway(sealgate, sink, clamd.socket)
        clamd.stop()
        # erin's copy scans, sid's is held (no signing certificate for the
        # sender): the scanning part goes first, so while it defers the other
        # rule does nothing, and its incident is counted once in the end
        send(sealgate, ["sid@example.com", "erin@example.com"],
             encrypted(pki, "erin@example.com", b"later"))
        d.wait_log(r"event=scan_failed rule=in reason=\"connect: .*\" action=defer")
        d.wait_log(r"event=scan_deferred retry_ms=1000")
        send(sealgate, "dave@example.com", encrypted(pki, "dave@example.com", b"held"))
        send(sealgate, "carol@example.com", encrypted(pki, "carol@example.com", b"tagged"))
        m = arrived(sink, "carol@example.com")
        assert stamps(m["body"]) == [b"X-Sealgate-Scan: unscanned; reason=failed"]
        wait_until(lambda: [r for r in incidents(sealgate) if r["kind"] == "scan-failed"],
                   20, what="scan-failed incident")
        # retried every second, never passed unscanned while clamd is away
        d.wait_log(r"id=\S+ event=scan_deferred", count=2)
        assert not [m for m in sink.messages if "erin@example.com" in m["rcpts"]]
        assert not [r for r in incidents(sealgate) if r["kind"] == "no-signing-cert"]
        clamd.start()
        m = arrived(sink, "erin@example.com")
        assert stamps(m["body"]) == [b"X-Sealgate-Scan: clean"]
        assert b"later" in m["body"]
        signing = wait_until(lambda: [r for r in incidents(sealgate)
                                      if r["kind"] == "no-signing-cert"], 20, what="incident")
        assert signing[0]["count"] == 1, signing
        assert not [m for m in sink.messages if "dave@example.com" in m["rcpts"]]


def test_deferred_past_max_defer_the_message_is_held(sealgate):
    """No clamd for longer than scan.max_defer after the message arrived: the
    message is held (incident scan-failed), where sealctl shows it, instead of
    being deferred again for ever; once clamd is back, a release sends it."""
    with Clamd() as clamd, SmtpPeer(port=free_port()) as sink:
        pki, d = gateway(sealgate, sink, clamd.socket, 'max_defer = "3s";')
        clamd.stop()
        t0 = time.monotonic()
        send(sealgate, "erin@example.com", encrypted(pki, "erin@example.com", b"waited"))
        d.wait_log(r"event=scan_failed rule=in reason=\"connect: .*\" action=defer")
        d.wait_log(r"event=scan_failed rule=in reason=\"connect: .*\" action=hold", 15)
        assert time.monotonic() - t0 >= 3
        held = wait_until(lambda: sealgate.sealctl("queue", "list", "--state", "hold",
                                                   "--json").stdout, 10, what="held mail")
        assert "erin@example.com" in held
        assert [r["kind"] for r in incidents(sealgate)] == ["scan-failed"]
        assert not [m for m in sink.messages if "erin@example.com" in m["rcpts"]]
        clamd.start()
        mid = json.loads(held.splitlines()[0])["id"]

        def released_and_sent():
            # released while a worker thread still counts clamd down (it
            # fails fast for a moment after a failure): held again at once
            sealgate.sealctl("queue", "release", mid, check=False)
            time.sleep(0.5)
            return [m for m in sink.messages if "erin@example.com" in m["rcpts"]]
        m = wait_until(released_and_sent, 30, interval=0.5, what="erin's mail, released")[0]
        assert stamps(m["body"]) == [b"X-Sealgate-Scan: clean"]


def test_hung_clamd_costs_the_timeout_then_mail_goes_on(sealgate):
    """clamd frozen (SIGSTOP): the kernel still accepts connections, nothing
    answers. Each scan ends at scan.timeout (1 s), the message is deferred,
    and once clamd runs again it goes through."""
    with Clamd() as clamd, SmtpPeer(port=free_port()) as sink:
        pki, d = gateway(sealgate, sink, clamd.socket)
        os.kill(clamd.proc.pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            send(sealgate, "erin@example.com", encrypted(pki, "erin@example.com", b"hung"))
            d.wait_log(r"event=scan_failed rule=in reason=\".*timed out\" action=defer")
            assert time.monotonic() - t0 < 5
            time.sleep(1.5)
            assert not [m for m in sink.messages if "erin@example.com" in m["rcpts"]]
        finally:
            os.kill(clamd.proc.pid, signal.SIGCONT)
        m = arrived(sink, "erin@example.com")
        assert stamps(m["body"]) == [b"X-Sealgate-Scan: clean"]


def test_too_large_passes_tagged_never_truncated_over_tcp(sealgate):
    """clamd's StreamMaxLength 64K, scan.max_size 128K, clamd over TCP: a
    message over 128K is not sent; one between is refused by clamd; both
    pass as "unscanned; reason=too-large" (scan.on_too_large's default),
    and neither is ever called clean. A small one is still scanned. Then
    on_too_large = "hold" (a reload) holds the next big one."""
    with Clamd(max_length="64K") as clamd, SmtpPeer(port=free_port()) as sink:
        pki, d = gateway(sealgate, sink, clamd.tcp, 'max_size = "128K";')
        pad = b"".join(b"%06d padding padding padding padding padding\r\n" % i
                       for i in range(2400))           # about 120 KB
        send(sealgate, "erin@example.com",
             b"Subject: mid\r\n\r\n" + pad[:100000] + MARK + b"\r\n")
        send(sealgate, "frank@example.com",
             b"Subject: big\r\n\r\n" + pad + pad + MARK + b"\r\n")
        send(sealgate, "alice@example.com",
             b"Subject: small\r\n\r\n" + pad[:30000] + MARK + b"\r\n")
        for rcpt in ("erin@example.com", "frank@example.com"):
            m = arrived(sink, rcpt)
            assert stamps(m["body"]) == [b"X-Sealgate-Scan: unscanned; reason=too-large"]
        d.wait_log(r"event=scan_too_large rule=in reason=\"\d+ bytes, over clamd's "
                   r"StreamMaxLength.*action=pass-tagged")
        d.wait_log(r"event=scan_too_large rule=in reason=\"\d+ bytes, over scan.max_size "
                   r"131072\" action=pass-tagged")
        d.wait_log(r"event=scan_found rule=hold name=\"Sg\.Test\.Body\.UNOFFICIAL\"")
        assert counters(sealgate)["scan.unscanned"] == 2
        # on SIGHUP the rule for too large mail becomes hold: the next one waits
        sealgate.conf.write_text(sealgate.conf.read_text().replace(
            'max_size = "128K";', 'max_size = "128K"; on_too_large = "hold";'))
        d.signal(signal.SIGHUP)
        d.wait_log(r"event=reload_changed key=scan.on_too_large")
        d.wait_log(r"event=worker_reloaded")
        send(sealgate, "gina@example.com", b"Subject: big\r\n\r\n" + pad + pad + b"\r\n")
        d.wait_log(r"event=scan_too_large rule=in .*action=hold")
        # the virus above is held already: wait for gina's message itself
        wait_until(lambda: "gina@example.com" in sealgate.sealctl(
            "queue", "list", "--state", "hold", "--json").stdout, 20, what="gina's mail held")
        assert sorted(r["kind"] for r in incidents(sealgate)) == ["scan-too-large", "virus"]


def test_config_errors_name_file_and_key(sealgate):
    """A rule that scans without a clamd, a host name for clamd, a scan that
    could outlast the worker's claim: each refused with the file (and line)."""
    import subprocess
    from conftest import SEALGATED

    def check(text):
        sealgate.write_config(text)
        r = subprocess.run([SEALGATED, "-n", "-c", str(sealgate.conf)], capture_output=True,
                           text=True)
        return r.returncode, r.stdout + r.stderr
    sealgate.state_dir.mkdir(exist_ok=True)
    rc, out = check('worker = { rules = ( { name = "in"; scan = true; } ); };')
    assert rc != 0 and f'{sealgate.conf}:3: rule "in": scan = true needs scan.clamd' in out, out
    rc, out = check('scan = { clamd = "clamd.example.com:3310"; };')
    assert rc != 0 and f'{sealgate.conf}:3: clamd: "clamd.example.com:3310" is neither' in out
    rc, out = check('queue = { lease = "1m"; };\nscan = { clamd = "/run/c.ctl"; timeout = "31s"; };')
    assert rc != 0 and "scan.timeout: 31000 ms is more than half of queue.lease" in out, out
    rc, out = check('queue = { lease = "1m"; };\nscan = { clamd = "/run/c.ctl"; timeout = "30s"; };')
    assert rc == 0, out
    rc, out = check('queue = { lease = "10s"; };')       # no clamd: the default timeout is moot
    assert rc == 0, out
