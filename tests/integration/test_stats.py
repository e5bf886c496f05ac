"""Statistics: sealctl stats and the Prometheus endpoint after real mail.

One gateway with metrics.listen set (smtpd, worker with the S/MIME rules of
test_worker_smime, delivery to a recording SMTP peer, the metrics role)
moves mail that ends every way: signed and delivered, bounced by the next
hop, deferred by it, refused at SMTP, inbound encrypted and signed mail that
is decrypted and verified. The counters are checked against what message
tracking says happened (an independent record of the same commits), as
text and JSON, then the endpoint is scraped with urllib and curl, checked
with a strict parser of the text format and with promtool when it is
installed, and must say what sealctl stats says. A restart starts "since
start" again. Then hostile clients (garbage, a huge header, one that
sends a byte a second, more connections than allowed) get errors or a
close while a good scrape still answers at once and no role is harmed.
"""
import json
import math
import re
import shutil
import smtplib
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import free_port, wait_until
from peers import SmtpPeer
from pki import get_pki
from test_track import message, search, send
from test_worker_smime import prepare_gateway

ROLES = ("smtpd", "worker", "delivery", "metrics")


def start(sealgate):
    d = sealgate.start(ready=False)
    d.wait_log(r"event=all_ready roles=4", timeout=20)
    return d


def scrape(port, path="/metrics", timeout=5):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*"'
                  r'(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")*)?\})? (\S+)$')


def parse_exposition(text):
    """The text format 0.0.4, strictly: HELP and TYPE once per family and
    before its samples, samples of a family together, no series twice,
    values that parse, histograms with non-decreasing buckets ending in
    +Inf equal to _count, and a final newline. Returns {series: value} and
    {family: type}."""
    assert text.endswith("\n") and "\r" not in text
    series, types, helps, done = {}, {}, set(), set()
    current = None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            assert name not in helps and name not in done, line
            helps.add(name)
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram"), line
            assert name not in types and name in helps, line
            if current:
                done.add(current)
            types[name], current = kind, name
            continue
        assert not line.startswith("#") and line, repr(line)
        m = LINE.match(line)
        assert m, repr(line)
        name, labels, value = m.group(1), m.group(3) or "", m.group(5)
        family = name
        if types.get(current) == "histogram":
            family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert family == current and family not in done, line
        if types[current] == "counter":
            assert name.endswith("_total"), line
        v = float(value)
        assert not math.isnan(v) and v >= 0, line
        key = name + "{" + labels + "}"
        assert key not in series, f"duplicate series {key}"
        series[key] = v
    for fam, kind in types.items():
        if kind != "histogram":
            continue
        buckets = [(k, v) for k, v in series.items() if k.startswith(fam + "_bucket{")]
        les = [k.split('le="')[1].split('"')[0] for k, _ in buckets]
        assert les[-1] == "+Inf", les
        bounds = [float(x) for x in les[:-1]]
        assert bounds == sorted(bounds) and len(set(bounds)) == len(bounds), les
        counts = [v for _, v in buckets]
        assert counts == sorted(counts), counts
        assert counts[-1] == series[fam + "_count{}"], fam
    return series, types


def stats_json(sealgate):
    return json.loads(sealgate.sealctl("stats", "--json").stdout)


def oracle(sealgate):
    """What tracking says happened: the counters' expected totals."""
    rows = search(sealgate)
    want = {k: 0 for k in ("received", "rejected", "reject.relay", "sent", "bounced",
                           "signed", "encrypted", "decrypted", "verify.valid",
                           "verify.invalid", "verify.unsigned")}
    for r in rows:
        if r["status"] == "rejected":
            want["rejected"] += len(r["recipients"])
            want["reject.relay"] += sum(x["reply"].startswith("554 5.7.1 Relay")
                                        for x in r["recipients"])
            continue
        want["received"] += 1
        crypto = r["crypto"].split(",")
        for k in ("signed", "encrypted", "decrypted"):
            want[k] += k in crypto
        verdict = (r.get("crypto_notes") or {}).get("verify")
        if verdict:
            want["verify." + verdict] += 1
        for x in r["recipients"]:
            want["sent"] += x["status"] == "delivered"
            want["bounced"] += x["status"] == "bounced"
    return want


@pytest.fixture
def moved(sealgate, tmp_path):
    """A gateway with the metrics endpoint after every kind of mail."""
    pki = get_pki()
    rcpt = {"nobody@partner.test": "550 5.1.1 <nobody@partner.test>: no such user",
            "later@partner.test": "451 4.3.0 try again later"}
    mport = free_port()
    with SmtpPeer(port=free_port(), rcpt=rcpt) as sink:
        prepare_gateway(sealgate, sink, f'metrics = {{ listen = "127.0.0.1:{mport}"; }};\n',
                        ("partner.test", "example.com"))
        d = start(sealgate)
        port = sealgate.smtp_port
        for rc, subject in (("someone@partner.test", "signed"), ("nobody@partner.test", "to nobody"),
                            ("later@partner.test", "to later")):
            send(port, "carl@example.com", [rc], message("carl@example.com", [rc], subject))
        refused = send(port, "stranger@elsewhere.test",
                       ["victim@elsewhere.test", "dora@example.com"],
                       message("stranger@elsewhere.test", ["dora@example.com"], "relay try"),
                       source="127.0.0.2")
        assert "victim@elsewhere.test" in refused
        (tmp_path / "in.txt").write_bytes(b"Content-Type: text/plain\r\n\r\nhello\r\n")
        subprocess.run(["openssl", "cms", "-sign", "-in", str(tmp_path / "in.txt"),
                        "-signer", str(pki["frank"].cert), "-inkey", str(pki["frank"].key),
                        "-certfile", str(pki.chain), "-out", str(tmp_path / "s.eml")],
                       check=True)
        subprocess.run(["openssl", "cms", "-encrypt", "-aes256", "-in", str(tmp_path / "s.eml"),
                        "-from", "frank@example.net", "-to", "alice@example.com",
                        "-subject", "from frank", "-out", str(tmp_path / "e.eml"),
                        str(pki["gateway"].cert)], check=True)
        enc = (tmp_path / "e.eml").read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        send(port, "frank@example.net", ["alice@example.com"], enc, source="127.0.0.2")
        for rc in ("someone@partner.test", "alice@example.com", "dora@example.com",
                   "carl@example.com"):
            wait_until(lambda: [m for m in sink.messages if rc in m["rcpts"]], 20,
                       what=f"mail to {rc}")
        d.wait_log(r"event=delivery rcpt=\"later@partner.test\" .*status=deferred", timeout=20)
        # everything that will happen has happened: only the deferred one is left
        wait_until(lambda: len(sealgate.sealctl("queue", "list", "--json").stdout
                               .splitlines()) == 1, 20,
                   what="only the deferred message in the queue")
        wait_until(lambda: search(sealgate, "--status", "rejected"), 10, what="the refusal")
        yield sealgate, d, mport


def test_stats_count_what_happened_text_and_json(moved):
    sealgate, d, _ = moved
    want = oracle(sealgate)
    # every kind of end happened, and was counted
    assert want["received"] == 6 and want["sent"] == 4 and want["bounced"] == 1, want
    assert want["reject.relay"] == 1 and want["decrypted"] == 1 and want["signed"] == 3
    assert want["verify.valid"] == 1 and want["verify.unsigned"] == 1, want
    j = stats_json(sealgate)
    assert j["running"] is True and j["uptime_s"] < 300 and j["start"].endswith("Z")
    c = j["counters"]
    for k, v in want.items():
        assert c[k]["total"] == v, (k, c[k], v)
        # a fresh queue: everything happened since this start, in the last minute
        assert c[k]["since_start"] == v and c[k]["last_hour"] == v, (k, c[k])
    assert c["deferred"]["total"] == 1 and c["incidents"]["total"] == 0
    assert c["attempts.sent.plain"]["total"] == 4 and c["attempts.bounced.plain"]["total"] == 1
    assert c["attempts.deferred.plain"]["total"] == 1
    assert sum(c[f"attempts.{r}.tls"]["total"] for r in ("sent", "deferred", "bounced")) == 0
    assert c["received"]["per_minute"] > 5 and 5.9 < c["received"]["per_hour"] <= 6
    assert 60 <= j["windows"]["minute_s"] <= 71 and 3600 <= j["windows"]["hour_s"] <= 3611
    h = j["histograms"]
    # five messages left the queue through delivery; four were worked on with crypto
    assert h["queue_time"]["count"] == 5 and h["queue_time"]["buckets"][-1]["count"] == 5
    assert h["crypto_time"]["count"] == 5 and h["crypto_time"]["sum_s"] > 0, h

    text = sealgate.sealctl("stats").stdout
    assert re.match(r"sealgate statistics at \S+Z; running since \S+Z \(\S+\)\n", text), text
    for label, n in (("received", 6), ("rejected at SMTP", 1), ("  relay denied", 1),
                     (r"sent \(recipients\)", 4), (r"bounced \(recipients\)", 1),
                     (r"deferred \(attempts\)", 1), ("signed", 3), ("decrypted", 1),
                     ("verified valid", 1), ("incidents", 0)):
        assert re.search(rf"^{label} +{n} +{n} +\d+\.\d/min +\d+\.\d/h$", text, re.M), \
            (label, text)

    # a new run: since start begins again, the totals stay
    assert d.stop() == 0
    d2 = start(sealgate)
    j2 = stats_json(sealgate)
    for k, v in want.items():
        assert j2["counters"][k]["total"] == v and j2["counters"][k]["since_start"] == 0, k
    assert d2.stop() == 0
    stopped = stats_json(sealgate)
    assert stopped["running"] is False and stopped["counters"]["received"]["since_start"] \
        is None and stopped["counters"]["received"]["total"] == 6
    assert " -  " in sealgate.sealctl("stats").stdout


def test_metrics_scraped_match_stats(moved):
    sealgate, d, mport = moved
    status, ctype, text = scrape(mport)
    assert status == 200 and ctype == "text/plain; version=0.0.4; charset=utf-8"
    series, types = parse_exposition(text)
    j = stats_json(sealgate)["counters"]
    pairs = {
        "sealgate_messages_received_total{}": "received",
        'sealgate_smtp_rejections_total{reason="relay"}': "reject.relay",
        "sealgate_recipients_sent_total{}": "sent",
        "sealgate_recipients_deferred_total{}": "deferred",
        "sealgate_recipients_bounced_total{}": "bounced",
        "sealgate_messages_signed_total{}": "signed",
        "sealgate_messages_encrypted_total{}": "encrypted",
        "sealgate_messages_decrypted_total{}": "decrypted",
        'sealgate_messages_verified_total{result="valid"}': "verify.valid",
        'sealgate_messages_verified_total{result="invalid"}': "verify.invalid",
        'sealgate_messages_verified_total{result="unsigned"}': "verify.unsigned",
        "sealgate_crypto_incidents_total{}": "incidents",
        'sealgate_delivery_attempts_total{result="sent",tls="no"}': "attempts.sent.plain",
        'sealgate_delivery_attempts_total{result="sent",tls="yes"}': "attempts.sent.tls",
        'sealgate_delivery_attempts_total{result="deferred",tls="no"}':
            "attempts.deferred.plain",
        'sealgate_delivery_attempts_total{result="bounced",tls="no"}': "attempts.bounced.plain",
    }
    for s, k in pairs.items():
        assert series[s] == j[k]["total"], (s, series[s], j[k])
    assert sum(v for k, v in series.items() if k.startswith("sealgate_smtp_rejections_total")) \
        == j["rejected"]["total"] == 1
    assert series['sealgate_queue_messages{state="deferred"}'] == 1
    assert sum(v for k, v in series.items() if k.startswith("sealgate_queue_messages{")) == 1
    for role in ROLES:
        assert series[f'sealgate_role_up{{role="{role}"}}'] == 1
    assert types["sealgate_queue_time_seconds"] == "histogram"
    assert series["sealgate_queue_time_seconds_count{}"] == 5
    assert series["sealgate_crypto_seconds_count{}"] == 5
    assert abs(series["sealgate_start_time_seconds{}"] - time.time()) < 300

    # curl, as a scraper would; HEAD has the head only
    r = subprocess.run(["curl", "-sS", "-D", "-", f"http://127.0.0.1:{mport}/metrics"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and r.stdout.startswith("HTTP/1.1 200 OK\n"), r.stderr
    assert "sealgate_messages_received_total 6\n" in r.stdout
    r = subprocess.run(["curl", "-sS", "-I", f"http://127.0.0.1:{mport}/metrics"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "Content-Length: " in r.stdout and "# HELP" not in r.stdout
    promtool = shutil.which("promtool")
    if promtool:
        p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 0, p.stdout + p.stderr

    for path, code in (("/", 404), ("/metrics/x", 404), ("/favicon.ico", 404)):
        with pytest.raises(urllib.error.HTTPError) as e:
            scrape(mport, path)
        assert e.value.code == code
    req = urllib.request.Request(f"http://127.0.0.1:{mport}/metrics", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 405 and e.value.headers["Allow"] == "GET, HEAD"


def raw(port, data, timeout=10.0):
    """Send data, read until the server closes; (reply bytes, seconds)."""
    t = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = b""
    try:
        if data:
            s.sendall(data)
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        s.close()
    return got, time.monotonic() - t


def test_hostile_clients_get_errors_and_harm_nothing(sealgate):
    mport = free_port()
    sealgate.write_config(f'own_domains = [ "own.test" ];\n'
                          f'metrics = {{ listen = "127.0.0.1:{mport}"; }};\n')
    d = start(sealgate)
    pids = {m.group(1): m.group(2) for m in re.finditer(
        r"event=role_started role=(\w+) pid=(\d+)", d.log())}
    assert scrape(mport)[0] == 200

    # garbage: 400 and a close at once, with no line end to wait for
    for junk in (b"\x00\x01\x02garbage", b"GET /metrics HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
                 b"GET /metrics HTTP/1.1\r\n\r\n", b"GET metrics HTTP/1.1\r\n\r\n",
                 b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"):
        got, took = raw(mport, junk)
        assert got.startswith(b"HTTP/1.1 400 Bad Request\r\n"), (junk, got)
        assert took < 2, took
    assert raw(mport, b"GET /metrics HTTP/2.0\r\n\r\n")[0].startswith(b"HTTP/1.1 505 ")

    # a 1 MB header: 431 (or a close), never a crash
    big = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"
    got, took = raw(mport, big)
    assert got == b"" or got.startswith(b"HTTP/1.1 431 "), got[:100]
    assert took < 5

    # a slow client, a byte a second, and more connections than allowed,
    # while good scrapes go on
    slow_result = {}
    slow_connected = threading.Event()

    def slow():
        s = socket.create_connection(("127.0.0.1", mport), timeout=15)
        slow_connected.set()
        t, got = time.monotonic(), b""
        try:
            for ch in b"GET /metrics HTTP/1.1\r\nHost: x\r\n":
                s.sendall(bytes([ch]))
                time.sleep(1)
                if time.monotonic() - t > 12:
                    break
        except OSError:
            pass
        try:
            while True:
                b = s.recv(4096)
                if not b:
                    break
                got += b
        except OSError:
            pass
        slow_result["got"], slow_result["took"] = got, time.monotonic() - t
        s.close()
    th = threading.Thread(target=slow)
    th.start()
    # connected first (the server accepts in order), so the slow client
    # holds a slot of its own and gets 408, not the 503 of the 33rd
    assert slow_connected.wait(10)
    idle = [socket.create_connection(("127.0.0.1", mport)) for _ in range(40)]
    time.sleep(0.3)
    over, _ = raw(mport, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert over.startswith(b"HTTP/1.1 503 "), over[:100]
    for s in idle:
        s.close()
    time.sleep(0.3)
    for _ in range(5):
        t = time.monotonic()
        assert scrape(mport, timeout=2)[0] == 200
        assert time.monotonic() - t < 1.0
        time.sleep(0.2)
    th.join(20)
    assert slow_result["got"].startswith(b"HTTP/1.1 408 Request Timeout"), slow_result
    assert 4 <= slow_result["took"] < 9, slow_result

    # nobody was harmed: the same processes, mail still flows, status healthy
    assert "event=role_exited" not in d.log() and "Sanitizer" not in d.log()
    now = {m.group(1): m.group(2) for m in re.finditer(
        r"event=role_started role=(\w+) pid=(\d+)", d.log())}
    assert now == pids and set(now) == set(ROLES)
    with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=10) as s:
        s.sendmail("a@x.test", ["b@own.test"], b"Subject: t\r\n\r\nhi\r\n")
    # >= 1: the bounce delivery spools for it (own.test has no route here)
    # counts as received too, and an idle gateway may have made it already
    wait_until(lambda: stats_json(sealgate)["counters"]["received"]["total"] >= 1, 10,
               what="the message counted")
    r = sealgate.sealctl("status", check=False)
    assert r.stdout.startswith("sealgate OK: 4 roles running"), r.stdout
    assert d.stop() == 0


def test_metrics_listen_in_use_refuses_the_start(sealgate):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    sealgate.write_config(f'metrics = {{ listen = "127.0.0.1:{port}"; }};\n')
    d = sealgate.start(ready=False)
    assert d.proc.wait(20) == 1
    assert re.search(r"event=role_cannot_start role=metrics error=\"metrics.listen "
                     rf"127\.0\.0\.1:{port}: Address already in use\"", d.log()), d.log()
    busy.close()
    bad = sealgate.write_config('metrics = { listen = "localhost:9465"; };\n')
    r = sealgate.sealctl("config", "check", check=False)
    assert r.returncode == 2 and "is not a numeric ip:port" in r.stderr, (r.stdout, r.stderr, bad)
