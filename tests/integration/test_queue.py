"""sealctl queue: every verb against a running sealgated.

The queue is filled through the queue API (`sealctl queue inject`, which
spools like smtpd does). Messages are injected on hold, or ready but due
only in an hour, so that the running worker and delivery roles leave them
alone while a test looks at them.
"""
import json
import subprocess
import time

import pytest

from conftest import SEALCTL


def inject(env, *rcpts, sender="s@example.com", state="hold", count=None, body=b"x\r\n",
           delay=None):
    args = ["queue", "inject", "--sender", sender, "--state", state]
    for r in rcpts:
        args += ["--rcpt", r]
    if count:
        args += ["--count", str(count)]
    if delay:
        args += ["--delay", delay]
    r = subprocess.run([SEALCTL, "-c", str(env.conf)] + args, input=body,
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().split()


def listing(env, *filters):
    out = env.sealctl("queue", "list", "--json", *filters).stdout
    return [json.loads(line) for line in out.splitlines()]


def by_id(env):
    return {m["id"]: m for m in listing(env)}


@pytest.fixture
def running(sealgate):
    sealgate.write_config()
    sealgate.start()
    return sealgate


def test_empty_queue_before_any_mail(sealgate):
    """A state directory with no queue in it yet (installed, never started)."""
    sealgate.write_config()
    sealgate.state_dir.mkdir()
    r = sealgate.sealctl("queue", "list")
    assert "Queue is empty" in r.stdout
    assert sealgate.sealctl("queue", "list", "--json").stdout == ""
    st = json.loads(sealgate.sealctl("queue", "stats", "--json").stdout)
    assert st["count"]["hold"] == 0


def test_missing_state_dir_is_an_error_not_an_empty_queue(sealgate, tmp_path):
    missing = tmp_path / "no" / "such" / "state"
    sealgate.write_config()
    conf = sealgate.conf.read_text().replace(str(sealgate.state_dir), str(missing))
    sealgate.conf.write_text(conf)
    for verb in (["list"], ["list", "--json"], ["stats"], ["stats", "--json"],
                 ["show", "00CQ3FV37W000"], ["hold", "--all"], ["delete", "00CQ3FV37W000"]):
        r = sealgate.sealctl("queue", *verb, check=False)
        assert r.returncode == 2, (verb, r)
        assert str(missing) in r.stderr and "No such file or directory" in r.stderr, (verb, r)
        assert "usage:" not in r.stderr and "Queue is empty" not in r.stdout, (verb, r)
    r = sealgate.sealctl("incidents", "list", check=False)
    assert r.returncode == 2 and str(missing) in r.stderr, r
    assert not missing.exists()


def test_inject_with_dsn_parameters(sealgate):
    sealgate.write_config()
    r = sealgate.sealctl("queue", "inject", "--rcpt", "a@example.net", "--rcpt", "b@example.net",
                         "--state", "hold", "--notify", "success,FAILURE", "--ret", "hdrs",
                         "--envid", "INV-2026-0042", input="Subject: x\r\n\r\nx\r\n")
    [qid] = r.stdout.split()
    m = json.loads(sealgate.sealctl("queue", "show", qid, "--json").stdout)
    assert (m["ret"], m["envid"], m["subject"]) == ("HDRS", "INV-2026-0042", "x")
    assert [x["notify"] for x in m["recipients"]] == [2 | 4, 2 | 4]   # SUCCESS, FAILURE
    # list --json --full carries what show --json does, for every message
    [full] = listing(sealgate, "--full")
    assert full == m
    [short] = listing(sealgate)
    assert "envid" not in short and "orcpt" not in short["recipients"][0]
    for bad in (["--notify", "NEVER,SUCCESS"], ["--notify", "SOMETIMES"], ["--ret", "ALL"],
                ["--envid", "has space"], ["--envid", "x" * 101]):
        r = sealgate.sealctl("queue", "inject", "--rcpt", "a@example.net", *bad,
                             input="x\r\n", check=False)
        assert r.returncode == 2 and "bad option or value" in r.stderr, (bad, r.stderr)


def test_list_json_fields_and_escaping(running):
    nasty = 'a"b\\c\x01\x7f\xc3\xa4@example.com'
    [held] = inject(running, "r1@example.net", "r2@example.org", sender=nasty)
    [ready] = inject(running, "r3@example.net", state="ready", delay="1h")
    [null] = inject(running, "r4@example.net", sender="")
    msgs = by_id(running)
    assert set(msgs) >= {held, ready, null}
    m = msgs[held]
    # postqueue -j's fields, plus ours
    for key in ("queue_name", "queue_id", "arrival_time", "message_size", "forced_expire",
                "sender", "recipients", "attempts", "next_attempt"):
        assert key in m, key
    assert m["queue_name"] == "hold" and m["queue_id"] == held
    assert m["sender"] == nasty                 # JSON escaping round-trips exactly
    assert [r["address"] for r in m["recipients"]] == ["r1@example.net", "r2@example.org"]
    assert all("delay_reason" in r for r in m["recipients"])
    assert m["message_size"] == 3
    assert abs(m["arrival_time"] - time.time()) < 120
    assert msgs[ready]["queue_name"] == "ready"
    assert msgs[ready]["next_attempt"] > time.time() + 3000
    assert msgs[null]["sender"] == ""
    # the table shows untrusted text escaped, and the null sender as <>
    table = running.sealctl("queue", "list").stdout
    assert "\x01" not in table and "\\x01" in table
    assert "<>" in table and "3 messages" in table


def test_a_listing_that_cannot_be_written_says_so(running):
    """stdout on a full disk: the listing fails with exit 1 and says why,
    instead of ending as if it were complete; the queue is untouched."""
    inject(running, "r@example.net", count=3000)
    with open("/dev/full", "wb") as full:
        for args in (["--json"], []):
            r = subprocess.run([SEALCTL, "-c", str(running.conf), "queue", "list", *args],
                               stdout=full, stderr=subprocess.PIPE, timeout=60)
            assert r.returncode == 1, (args, r.stderr)
            assert b"sealctl: queue list: " in r.stderr, (args, r.stderr)
    assert len(listing(running)) == 3000


def test_invalid_utf8_is_escaped_not_passed_through(running):
    [mid] = inject(running, "r@example.net", sender="x\xff\xfe@example.com".encode(
        "latin-1").decode("latin-1"))
    raw = subprocess.run([SEALCTL, "-c", str(running.conf), "queue", "list", "--json"],
                         capture_output=True).stdout
    raw.decode("utf-8")                         # must be valid UTF-8
    line = [l for l in raw.splitlines() if mid.encode() in l][0]
    assert json.loads(line)["sender"].startswith("x")


def test_show_and_cat(running):
    body = bytes(range(256)) + b"\r\n.\r\nend\r\n"
    [mid] = inject(running, "r@example.net", body=body)
    shown = json.loads(running.sealctl("queue", "show", mid, "--json").stdout)
    assert shown["id"] == mid and shown["client_address"] == "127.0.0.1"
    assert shown["recipients"][0]["address"] == "r@example.net"
    assert "orcpt" in shown["recipients"][0]
    text = running.sealctl("queue", "show", mid).stdout
    assert mid in text and "r@example.net" in text
    cat = subprocess.run([SEALCTL, "-c", str(running.conf), "queue", "cat", mid],
                         capture_output=True)
    assert cat.returncode == 0 and cat.stdout == body
    # no processed body yet: --processed gives the original
    cat = subprocess.run([SEALCTL, "-c", str(running.conf), "queue", "cat", mid,
                          "--processed"], capture_output=True)
    assert cat.stdout == body
    r = running.sealctl("queue", "show", "0000000000001", check=False)
    assert r.returncode == 1 and "0000000000001" in r.stderr
    r = running.sealctl("queue", "cat", "not-an-id", check=False)
    assert r.returncode == 1


def test_jq_pipeline_delete(running):
    a = inject(running, "r@example.net", sender="alice@a.example", count=10)
    assert a == []                             # --count goes through the committer
    inject(running, "r@example.net", sender="bob@b.example", count=7)
    assert len(listing(running)) == 17
    pipe = (f"{SEALCTL} -c {running.conf} queue list --json | "
            f"jq -r 'select(.sender | startswith(\"alice@\")) | .id' | "
            f"{SEALCTL} -c {running.conf} queue delete -")
    r = subprocess.run(pipe, shell=True, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "10 deleted" in r.stderr
    left = listing(running)
    assert len(left) == 7 and all(m["sender"] == "bob@b.example" for m in left)
    st = json.loads(running.sealctl("queue", "stats", "--json").stdout)
    assert st["counters"]["deleted"] == 10
    assert st["count"]["done"] == 10            # tracking records stay
    done = listing(running, "--state", "done")
    assert len(done) == 10 and all(m["sender"] == "alice@a.example" for m in done)


def test_all_with_filters(running):
    inject(running, "x@one.example", sender="a@corp.example", count=3)
    inject(running, "y@two.example", sender="b@corp.example", count=4)
    inject(running, "z@two.example", sender="c@else.example", state="ready", delay="1h",
           count=2)
    # --to with a glob, --from with a substring, --state
    r = running.sealctl("queue", "release", "--all", "--to", "*@one.example")
    assert "3 released" in r.stderr
    assert all(m["queue_name"] != "hold" for m in listing(running, "--to", "one.example"))
    r = running.sealctl("queue", "hold", "--all", "--state", "ready", "--from", "ELSE.example")
    assert "2 held" in r.stderr
    assert len(listing(running, "--state", "hold")) == 4 + 2
    r = running.sealctl("queue", "delete", "--all", "--state", "hold", "--to", "y@*")
    assert "4 deleted" in r.stderr
    assert [m["sender"] for m in listing(running, "--state", "hold")] == ["c@else.example"] * 2


def test_older_than(running):
    old = set(inject(running, "r@example.net") + inject(running, "r@example.net"))
    time.sleep(2.2)
    new = set(inject(running, "r@example.net"))
    got = {m["id"] for m in listing(running, "--older-than", "2s")}
    assert got == old
    r = running.sealctl("queue", "delete", "--all", "--older-than", "2s")
    assert "2 deleted" in r.stderr
    assert {m["id"] for m in listing(running)} == new


def test_hold_release_retry_and_exit_codes(running):
    [ready] = inject(running, "r@example.net", state="ready", delay="1h")
    r = running.sealctl("queue", "hold", ready, "0000000000001", check=False)
    assert r.returncode == 1                    # partial: one id missing, named
    assert "0000000000001" in r.stderr and "1 held" in r.stderr
    assert by_id(running)[ready]["queue_name"] == "hold"
    running.sealctl("queue", "release", ready)
    m = by_id(running).get(ready)
    assert m is None or m["queue_name"] != "hold"
    # retry: a message due in an hour becomes due now
    [later] = inject(running, "r@example.net", state="ready", delay="1h")
    running.sealctl("queue", "hold", later)
    r = running.sealctl("queue", "retry", later)
    assert "cannot be retried" in r.stderr      # held: not applicable, not an error
    running.sealctl("queue", "release", later)
    [again] = inject(running, "r@example.net", state="ready", delay="1h")
    before = by_id(running)[again]["next_attempt"]
    running.sealctl("queue", "retry", again)
    m = by_id(running).get(again)
    assert m is None or m["next_attempt"] < before - 3000
    # usage errors
    for args in (("queue", "hold"), ("queue", "hold", "--all", again),
                 ("queue", "hold", "--from", "x", again), ("queue", "frobnicate"),
                 ("queue", "list", "--state", "nosuch"), ("queue", "list", "--older-than", "x")):
        r = running.sealctl(*args, check=False)
        assert r.returncode == 2, args
    r = running.sealctl("queue", "delete", "-", input="garbage\n", check=False)
    assert r.returncode == 1 and "garbage" in r.stderr


def test_stats(running):
    inject(running, "a@example.net", "b@example.net", count=5, body=b"y" * 1000)
    st = json.loads(running.sealctl("queue", "stats", "--json").stdout)
    assert st["count"]["hold"] == 5 and st["bytes"]["hold"] == 5000
    assert st["recipients"] == 10
    assert st["counters"]["received"] == 5
    assert st["db_bytes"] > 0 and st["map_bytes"] >= st["used_bytes"] > 0
    assert st["oldest_id"] and abs(st["oldest_time"] - time.time()) < 120
    text = running.sealctl("queue", "stats").stdout
    assert "hold" in text and "database" in text
    # the figures per state are a tally the queue keeps: a full count agrees
    # (held mail: nothing changes between the two)
    r = running.sealctl("queue", "stats", "--verify", "--json")
    assert "the tally equals a count" in r.stderr
    assert json.loads(r.stdout)["count"]["hold"] == 5


def test_map_full_is_reported_and_harmless(sealgate):
    sealgate.write_config('queue = { map_size_max = "1M"; };')
    sealgate.start()
    big = b"z" * 200_000
    ids = []
    for _ in range(20):
        r = subprocess.run([SEALCTL, "-c", str(sealgate.conf), "queue", "inject", "--rcpt",
                            "r@example.net", "--state", "hold"], input=big,
                           capture_output=True, timeout=60)
        if r.returncode != 0:
            assert r.returncode == 1 and b"full" in r.stderr.lower(), r.stderr
            break
        ids += r.stdout.decode().split()
    else:
        pytest.fail("a 1M map took 4M of mail")
    assert 1 <= len(ids) < 6
    for mid in ids:                             # what was accepted is intact
        out = subprocess.run([SEALCTL, "-c", str(sealgate.conf), "queue", "cat", mid],
                             capture_output=True).stdout
        assert out == big
    sealgate.sealctl("queue", "delete", ids[0])
    inject(sealgate, "r@example.net", body=big)  # space came back


def test_subject_is_tracked_unfolded_also_from_a_spilled_body(sealgate):
    """The tracking record carries the Subject field: folded lines joined,
    encoded-words decoded, found in a body kept in memory and in one
    spilled to a file."""
    import smtplib
    sealgate.write_config('own_domains = [ "example.net" ];\n'
                          'smtpd = { listeners = ( { address = "127.0.0.1:%d"; } ); '
                          'spill_threshold = "4K"; };' % sealgate.smtp_port)
    sealgate.start(role="smtpd")
    cases = [(b"From: a@x.test\r\nSubject: Rechnung 4711\r\n\tfor May\r\n\r\nhi\r\n",
              "Rechnung 4711 for May"),
             (b"Subject: big one\r\n\r\n" + (b"y" * 76 + b"\r\n") * 200,
              "big one"),
             (b"X-Other: 1\r\n\r\nSubject: in the body\r\n", ""),
             # RFC 2047: decoded, the space between two encoded-words dropped
             (b"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n =?ISO-8859-1?Q?_aus_K=F6ln?= "
              b"=?x-unknown?Q?kept?=\r\n\r\nhi\r\n",
              "Gr\u00fc\u00dfe aus K\u00f6ln =?x-unknown?Q?kept?=")]
    ids = []
    with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=10) as s:
        s.ehlo("client.test")
        for body, _ in cases:
            s.mail("a@x.test")
            s.rcpt("b@example.net")
            code, text = s.data(body)
            assert code == 250, text
            ids.append(text.decode().rsplit(" ", 1)[1])
    for mid, (_, want) in zip(ids, cases):
        shown = json.loads(sealgate.sealctl("queue", "show", mid, "--json").stdout)
        assert shown["subject"] == want, shown


def test_mail_from_a_real_smtp_client(sealgate):
    """smtplib -> smtpd role -> queue; sealctl sees, shows, cats and deletes it."""
    import smtplib
    sealgate.write_config('own_domains = [ "example.net", "example.org" ];')
    sealgate.start(role="smtpd")
    body = b"Subject: via smtp\r\n\r\nline one\r\n"
    with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=10) as s:
        s.ehlo("client.test")
        s.mail("alice@x.test")
        s.rcpt("bob@example.net")
        s.rcpt("carol@example.org")
        code, text = s.data(body)
    assert code == 250, text
    mid = text.decode().rsplit(" ", 1)[1]
    shown = json.loads(sealgate.sealctl("queue", "show", mid, "--json").stdout)
    assert shown["sender"] == "alice@x.test" and shown["helo"] == "client.test"
    assert shown["subject"] == "via smtp", shown
    assert shown["client_address"] == "127.0.0.1"
    assert [r["address"] for r in shown["recipients"]] == ["bob@example.net",
                                                           "carol@example.org"]
    assert mid in {m["id"] for m in listing(sealgate)}
    cat = subprocess.run([SEALCTL, "-c", str(sealgate.conf), "queue", "cat", mid],
                         capture_output=True)
    assert cat.returncode == 0 and b"line one" in cat.stdout
    sealgate.sealctl("queue", "delete", mid)
    assert mid not in {m["id"] for m in listing(sealgate)}
