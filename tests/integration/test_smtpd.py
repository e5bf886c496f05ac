"""The SMTP receiver with real clients: smtplib, swaks, raw sockets.

Every test starts its own smtpd role on a loopback port with own_domains =
["own.test"], talks to it, and checks the replies and what reached the
queue (read back with the queue library, see test_smtpd_util.py).
"""
import smtplib
import subprocess
import time

import pytest

from test_smtpd_util import Raw, queue_body, queue_list, send_message, smtpd_config


def start(sealgate, smtpd="", top="", domains='"own.test"'):
    smtpd_config(sealgate, smtpd=smtpd, top=top, domains=domains)
    return sealgate.start(role="smtpd")


def queued_id(reply_text):
    assert "queued as" in reply_text, reply_text
    return reply_text.rsplit(" ", 1)[1]


# ------------------------------------------------------------ acceptance

def test_smtplib_plain_message_is_spooled(sealgate):
    start(sealgate)
    with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=10) as s:
        code, caps = s.ehlo("client.test")
        assert code == 250
        for ext in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN"):
            assert s.has_extn(ext), ext
        assert not s.has_extn("CHUNKING")
        assert not s.has_extn("STARTTLS")      # plain listener, no certificate
        s.mail("alice@x.test")
        s.rcpt("bob@own.test")
        code, text = s.data(b"Subject: hello\r\n\r\nbody line\r\n.leading dot\r\n")
    assert code == 250
    qid = queued_id(text.decode())
    msgs = queue_list(sealgate)
    assert [m["id"] for m in msgs] == [qid]
    m = msgs[0]
    assert m["sender"] == "alice@x.test"
    assert [r["addr"] for r in m["rcpts"]] == ["bob@own.test"]
    assert m["client"] == "127.0.0.1" and m["helo"] == "client.test"
    body = queue_body(sealgate, qid)
    first, rest = body.split(b"\r\n", 1)
    assert first.startswith(b"Received: from client.test ([127.0.0.1])")
    assert b"with ESMTP id" in body and b"for <bob@own.test>" in body
    # the Received field ends before the client's header; smtplib stuffed
    # the dot and we took it out again
    assert rest.split(b"Subject: hello\r\n", 1)[1] == b"\r\nbody line\r\n.leading dot\r\n"


def test_every_reply_has_enhanced_status_code(sealgate):
    start(sealgate)
    c = Raw(sealgate.smtp_port).greet()
    c.ehlo()        # RFC 2034: all replies but the greeting and EHLO/HELO's
    for line in ["NOOP", "VRFY u", "HELP", "RSET", "MAIL FROM:<a@x.test>",
                 "RCPT TO:<u@own.test>", "RCPT TO:<u@evil.test>", "BDAT 10", "FOO",
                 "MAIL FROM:<b@x.test>", "DATA x", "DATA", "Subject: s\r\n\r\nx\r\n.",
                 "QUIT"]:
        code, lines = c.cmd(line)
        last = lines[-1]
        assert last[0] in "245" and last[1] == "." and last.split()[0].count(".") == 2, \
            (line, code, lines)
        if line == "DATA":
            assert code == 354, lines      # 354 too (RFC 2034 excepts only those two)


def test_pipelining_in_one_write(sealgate):
    start(sealgate)
    c = Raw(sealgate.smtp_port).greet()
    c.ehlo()
    c.send(b"MAIL FROM:<a@x.test>\r\nRCPT TO:<u@own.test>\r\nRCPT TO:<v@own.test>\r\n"
           b"RCPT TO:<w@evil.test>\r\nDATA\r\n")
    codes = [c.reply()[0] for _ in range(5)]
    assert codes == [250, 250, 250, 554, 354]
    # the message and the next transaction in one write, too
    c.send(b"Subject: p\r\n\r\nx\r\n.\r\nMAIL FROM:<b@x.test>\r\nRCPT TO:<u@own.test>\r\n"
           b"DATA\r\nSubject: q\r\n\r\ny\r\n.\r\nQUIT\r\n")
    r1, r2, r3, r4, r5 = (c.reply() for _ in range(5))
    assert r1[0] == 250 and "queued as" in r1[1][0]
    assert (r2[0], r3[0], r4[0]) == (250, 250, 354)
    assert r5[0] == 250 and "queued as" in r5[1][0]
    assert c.reply()[0] == 221
    msgs = queue_list(sealgate)
    assert sorted(len(m["rcpts"]) for m in msgs) == [1, 2]


def test_size_parameter(sealgate):
    start(sealgate, smtpd='max_message_size = "100K";')
    c = Raw(sealgate.smtp_port).greet()
    assert "SIZE 102400" in c.ehlo()
    assert c.cmd("MAIL FROM:<a@x.test> SIZE=abc")[0] == 501
    assert c.cmd("MAIL FROM:<a@x.test> SIZE=")[0] == 501
    assert c.cmd("MAIL FROM:<a@x.test> SIZE=-1")[0] == 501
    code, lines = c.cmd("MAIL FROM:<a@x.test> SIZE=102401")
    assert code == 552 and lines[0].startswith("5.3.4")
    code, lines = c.cmd("MAIL FROM:<a@x.test> SIZE=184467440737095516160")   # > 2^64
    assert code == 552 and lines[0].startswith("5.3.4")
    code, lines = c.cmd("MAIL FROM:<a@x.test> SIZE=18446744073709551617")    # wraps to 1
    assert code == 552
    assert c.cmd("MAIL FROM:<a@x.test> SIZE=100 SIZE=100")[0] == 501
    assert c.cmd("MAIL FROM:<a@x.test> SIZE=102400")[0] == 250
    # and the real size is enforced after DATA whatever SIZE said
    assert c.cmd("RCPT TO:<u@own.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    code, lines = c.cmd(b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 110 + b".\r\n")
    assert code == 552 and lines[0].startswith("5.3.4")
    assert queue_list(sealgate) == []


def test_smtputf8(sealgate):
    start(sealgate)
    with smtplib.SMTP("127.0.0.1", sealgate.smtp_port, timeout=10) as s:
        s.ehlo("client.test")
        assert s.has_extn("SMTPUTF8")
        code, text = s.mail("jörg@bücher.test", ["SMTPUTF8"])
        assert code == 250, text
        code, text = s.rcpt("müller@own.test")
        assert code == 250, text
        code, text = s.data("Subject: grüße\r\n\r\nhallo\r\n".encode())
        assert code == 250
    # without SMTPUTF8 a non-ASCII address is refused (smtplib will not send it)
    c = Raw(sealgate.smtp_port).greet()
    c.ehlo()
    code, lines = c.cmd("MAIL FROM:<jörg@bücher.test>".encode() + b"\r\n")
    assert code == 553 and lines[0].startswith("5.6.7")
    assert c.cmd("MAIL FROM:<a@x.test> SMTPUTF8")[0] == 250
    code, lines = c.cmd(b"RCPT TO:<m\xfcller@own.test>\r\n")     # Latin-1, not UTF-8
    assert code == 501
    [m] = queue_list(sealgate)
    assert m["sender"] == "jörg@bücher.test"
    assert m["rcpts"][0]["addr"] == "müller@own.test"
    assert b"with UTF8SMTP" in queue_body(sealgate, m["id"])


def test_swaks(sealgate):
    start(sealgate)
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{sealgate.smtp_port}",
                        "--from", "a@x.test", "--to", "u@own.test", "--pipeline",
                        "--header", "Subject: via swaks"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "250 2.0.0 Ok: queued as" in r.stdout
    [m] = queue_list(sealgate)
    assert b"Subject: via swaks" in queue_body(sealgate, m["id"])


def test_dsn_parameters_are_stored(sealgate):
    start(sealgate)
    c = Raw(sealgate.smtp_port).greet()
    c.ehlo()
    assert c.cmd("MAIL FROM:<a@x.test> RET=HDRS ENVID=QQ+2Bid1 BODY=8BITMIME")[0] == 250
    assert c.cmd("RCPT TO:<u@own.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;u+40own.test")[0] == 250
    assert c.cmd("RCPT TO:<v@own.test> NOTIFY=NEVER")[0] == 250
    assert c.cmd("RCPT TO:<w@own.test> NOTIFY=NEVER,SUCCESS")[0] == 501
    assert c.cmd("RCPT TO:<w@own.test> ORCPT=nosemicolon")[0] == 501
    assert c.cmd("RCPT TO:<w@own.test> FOO=BAR")[0] == 555
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 503
    assert c.cmd("DATA")[0] == 354
    assert c.cmd(b"Subject: dsn\r\n\r\nx\r\n.\r\n")[0] == 250
    [m] = queue_list(sealgate)
    assert m["ret"] == 2 and m["envid"] == "QQ+2Bid1"
    r1, r2 = m["rcpts"]
    assert r1["notify"] == 2 | 8 and r1["orcpt"] == "rfc822;u+40own.test"
    assert r2["notify"] == 1 and r2["orcpt"] == ""


def test_sequence_errors(sealgate):
    start(sealgate)
    c = Raw(sealgate.smtp_port).greet()
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 503          # before EHLO
    c.ehlo()
    assert c.cmd("RCPT TO:<u@own.test>")[0] == 503          # before MAIL
    assert c.cmd("DATA")[0] == 503
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
    assert c.cmd("DATA")[0] == 554                          # no valid recipient
    assert c.cmd("RSET")[0] == 250
    assert c.cmd("RCPT TO:<u@own.test>")[0] == 503          # RSET ended it
    assert c.cmd("MAIL FROM:<>")[0] == 250                  # null sender
    assert c.cmd("RCPT TO:<Postmaster>")[0] == 250
    code, lines = c.cmd("VRFY someone")
    assert code == 252
    assert c.cmd("STARTTLS")[0] == 502                       # not offered here
    assert c.cmd("AUTH PLAIN AGFAYg==")[0] == 502


# ------------------------------------------------------------ relaying

RELAY_TRICKS = [
    ("u@evil.test", 554),
    ("u@own.test.evil.test", 554),
    ("u@sub.own.test", 554),
    ("u%evil.test@own.test", 554),
    ("evil.test!u@own.test", 554),
    ('"u@evil.test"@own.test', 554),
    ('"u%evil.test"@own.test', 554),
    ("u@[127.0.0.1]", 554),
    ("@own.test:u@evil.test", 553),
    ("@own.test,@own.test:u@evil.test", 553),
    ("u@evil.test@own.test", 501),
    ("u@own.test.", 501),
]


@pytest.mark.parametrize("rcpt,code", RELAY_TRICKS)
def test_relay_tricks_from_strangers(sealgate, rcpt, code):
    start(sealgate)
    c = Raw(sealgate.smtp_port).greet()
    c.ehlo()
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
    got, lines = c.cmd(f"RCPT TO:<{rcpt}>")
    assert got == code, lines
    if code == 554:
        assert lines[0].startswith("5.7.1") and "Relay access denied" in lines[0]
    assert c.cmd("RCPT TO:<u@OWN.Test>")[0] == 250    # own domain, any case


def test_own_domain_patterns_cover_subdomains_only(sealgate):
    start(sealgate, domains='"*.corp.test", "own.test"')
    c = Raw(sealgate.smtp_port).greet()
    c.ehlo()
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
    assert c.cmd("RCPT TO:<u@eu.Corp.test>")[0] == 250
    assert c.cmd("RCPT TO:<u@a.b.corp.test>")[0] == 250
    for rcpt in ("u@corp.test", "u@evilcorp.test", "u@corp.test.evil.test"):
        assert c.cmd(f"RCPT TO:<{rcpt}>")[0] == 554, rcpt
    # <Postmaster> is postmaster at the first own domain that is a name
    assert c.cmd("RCPT TO:<Postmaster>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    assert c.cmd(b"Subject: x\r\n\r\nx\r\n.\r\n")[0] == 250
    [m] = queue_list(sealgate)
    assert "postmaster@own.test" in [r["addr"].lower() for r in m["rcpts"]], m


def test_own_servers_may_relay(sealgate):
    start(sealgate, top='own_servers = [ "127.0.0.0/8" ];')
    c = Raw(sealgate.smtp_port).greet()
    c.ehlo()
    assert c.cmd("MAIL FROM:<erp@own.test>")[0] == 250
    assert c.cmd("RCPT TO:<customer@far.test>")[0] == 250
    assert c.cmd("RCPT TO:<u%evil.test@own.test>")[0] == 250   # ours: trusted routing
    assert c.cmd("RCPT TO:<@a.test:u@far.test>")[0] == 553    # never source routes
    assert c.cmd("DATA")[0] == 354
    assert c.cmd(b"Subject: out\r\n\r\nx\r\n.\r\n")[0] == 250
    [m] = queue_list(sealgate)
    assert m["direction"] == 2                                 # outbound


def test_recipient_allow_and_deny_lists(sealgate):
    allow = sealgate.dir / "allow"
    allow.write_text("# people we know\nalice@own.test\n@team.own.test\nBob@Own.Test\n")
    deny = sealgate.dir / "deny"
    deny.write_text("bob@own.test\n")
    start(sealgate, smtpd=f'recipient_allow_file = "{allow}"; recipient_deny_file = "{deny}";',
          domains='"own.test", "team.own.test"')
    c = Raw(sealgate.smtp_port).greet()
    c.ehlo()
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
    assert c.cmd("RCPT TO:<alice@own.test>")[0] == 250
    assert c.cmd("RCPT TO:<ALICE@own.test>")[0] == 250
    assert c.cmd("RCPT TO:<anyone@team.own.test>")[0] == 250
    code, lines = c.cmd("RCPT TO:<carol@own.test>")
    assert code == 550 and lines[0].startswith("5.1.1")
    code, lines = c.cmd("RCPT TO:<bob@own.test>")
    assert code == 550 and lines[0].startswith("5.7.1")


def test_every_rejection_is_logged_with_who_what_and_the_reply(sealgate):
    """Like Postfix's NOQUEUE: reject lines, at info: client, helo, sender,
    recipient and the reply, for relay, unknown user, size and policy."""
    allow = sealgate.dir / "allow"
    allow.write_text("alice@own.test\n")
    d = start(sealgate, smtpd=f'recipient_allow_file = "{allow}"; '
              'max_message_size = "10K";')
    c = Raw(sealgate.smtp_port).greet()
    c.ehlo("client.example")
    assert c.cmd("MAIL FROM:<a@x.test> SIZE=999999")[0] == 552
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
    assert c.cmd("RCPT TO:<victim@elsewhere.test>")[0] == 554
    assert c.cmd("RCPT TO:<nobody@own.test>")[0] == 550
    assert c.cmd("RCPT TO:<alice@own.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    assert c.cmd(b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 200 + b".\r\n")[0] == 552
    assert c.cmd("NONSENSE")[0] == 500
    head = r'event=reject client=127\.0\.0\.1 listener=\S+ helo="client\.example" '
    d.wait_log(head + r'command=MAIL from="" to="" reply="552 5\.3\.4 ')
    d.wait_log(head + r'command=RCPT from="a@x\.test" to="victim@elsewhere\.test" '
               r'reply="554 5\.7\.1 Relay access denied"')
    d.wait_log(head + r'command=RCPT from="a@x\.test" to="nobody@own\.test" '
               r'reply="550 5\.1\.1 Recipient address rejected: user unknown"')
    d.wait_log(head + r'command=end-of-data from="a@x\.test" to="" reply="552 5\.3\.4 ')
    d.wait_log(head + r'command=unknown from="" to="" reply="500 5\.5\.2 ')
    c.cmd("QUIT")
    # accepted mail: the queued line names the client and the listener
    send_message(sealgate.smtp_port, "a@x.test", ["alice@own.test"], b"Subject: ok\r\n\r\nhi\r\n")
    d.wait_log(r'event=queued client=127\.0\.0\.1 listener=\S+ from="a@x\.test"')


def test_recipient_limit(sealgate):
    start(sealgate, smtpd="max_recipients = 100;")
    c = Raw(sealgate.smtp_port).greet()
    c.ehlo()
    c.send(b"MAIL FROM:<a@x.test>\r\n" + b"".join(b"RCPT TO:<u%d@own.test>\r\n" % i
                                                  for i in range(101)))
    codes = [c.reply()[0] for _ in range(102)]
    assert codes[:101] == [250] * 101
    code = codes[101]
    assert code == 452


# ------------------------------------------------------------ smuggling, lines

SMUGGLE = [
    b"Subject: s\r\n\r\nhello\n.\r\nMAIL FROM:<x@x.test>\r\n",       # bare LF before dot
    b"Subject: s\r\n\r\nhello\r\n.\n",                                # dot, bare LF
    b"Subject: s\r\n\r\nhello\r.\r\n",                                # bare CR before dot
    b"Subject: s\r\n\r\nhel\rlo\r\n",                                 # bare CR in a line
    b"Subject: s\r\n\r\nhello\n",                                     # bare LF line end
]


@pytest.mark.parametrize("text", SMUGGLE)
def test_bare_cr_lf_in_data_refused(sealgate, text):
    start(sealgate)
    c = Raw(sealgate.smtp_port).greet()
    c.ehlo()
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
    assert c.cmd("RCPT TO:<u@own.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    # only CRLF.CRLF ends it: the smuggled MAIL is message text, not a command
    code, lines = c.cmd(text + b"\r\n.\r\n")
    assert code == 550 and lines[0].startswith("5.5.2"), lines
    assert c.cmd("NOOP")[0] == 250
    assert queue_list(sealgate) == []


def test_bare_lf_in_command_refused(sealgate):
    start(sealgate)
    c = Raw(sealgate.smtp_port).greet()
    code, lines = c.cmd(b"EHLO x.test\n")
    assert code == 500 and lines[0].startswith("5.5.2")
    code, lines = c.cmd(b"NOOP\rNOOP\r\n")
    assert code == 500


def test_long_lines_refused(sealgate):
    start(sealgate)
    c = Raw(sealgate.smtp_port).greet()
    c.ehlo()
    code, lines = c.cmd("NOOP " + "x" * 600)
    assert code == 500 and "too long" in lines[0]
    # 512 octets with CRLF is still fine
    assert c.cmd("NOOP " + "x" * (512 - 7))[0] == 250
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
    assert c.cmd("RCPT TO:<u@own.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    code, lines = c.cmd(b"Subject: l\r\n\r\n" + b"y" * 999 + b"\r\n.\r\n")
    assert code == 550 and lines[0].startswith("5.5.2")
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
    assert c.cmd("RCPT TO:<u@own.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    assert c.cmd(b"Subject: l\r\n\r\n" + b"y" * 998 + b"\r\n.\r\n")[0] == 250
    assert len(queue_list(sealgate)) == 1


def test_large_message_spills_and_arrives_whole(sealgate):
    start(sealgate, smtpd='spill_threshold = "64K";')
    line = b"0123456789" * 99 + b"\r\n"
    text = b"Subject: big\r\n\r\n" + line * 3000                    # about 3 MB
    code, lines = send_message(sealgate.smtp_port, body=text)
    assert code == 250
    [m] = queue_list(sealgate)
    body = queue_body(sealgate, m["id"])
    assert body.endswith(text) and body.startswith(b"Received: ")


def test_too_many_hops(sealgate):
    start(sealgate, smtpd="max_hops = 10;")
    hdr = b"".join(b"Received: from h%d by h%d; now\r\n" % (i, i) for i in range(11))
    code, lines = send_message(sealgate.smtp_port, body=hdr + b"Subject: loop\r\n\r\nx\r\n")
    assert code == 554 and lines[0].startswith("5.4.0")


# ------------------------------------------------------------ limits

def test_connection_limits(sealgate):
    start(sealgate, smtpd="max_connections_per_client = 2; max_connections = 3;")
    a = Raw(sealgate.smtp_port).greet()
    b = Raw(sealgate.smtp_port).greet()
    c = Raw(sealgate.smtp_port)
    code, lines = c.reply()
    assert code == 421 and lines[0].startswith("4.7.0")
    assert c.closed()
    a.cmd("QUIT")
    assert a.closed()
    d = wait_for_greeting(sealgate.smtp_port)
    assert d is not None
    b.close()
    d.close()


def wait_for_greeting(port, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c = Raw(port)
        if c.reply()[0] == 220:
            return c
        c.close()
        time.sleep(0.05)
    return None


def test_error_limits_and_tarpit(sealgate):
    start(sealgate, smtpd='error_soft_limit = 2; error_hard_limit = 5; tarpit_delay = "2s";')
    c = Raw(sealgate.smtp_port).greet()
    times = []
    for _ in range(4):
        (code, _), t = timed_cmd(c, "FOO")
        assert code == 500
        times.append(t)
    assert times[0] < 1.0 and times[1] < 1.0         # within the soft limit: at once
    assert 1.9 <= times[2] < 4.0 and 1.9 <= times[3] < 4.0   # past it: held 2 s
    (code, lines), t = timed_cmd(c, "BAR")
    assert code == 500
    code, lines = c.reply()
    assert code == 421 and lines[0].startswith("4.7.0")
    assert c.closed()


def timed_cmd(c, line):
    t = time.monotonic()
    r = c.cmd(line)
    return r, time.monotonic() - t


def test_early_talker_is_dropped(sealgate):
    d = start(sealgate, smtpd='greeting_delay = "1s";')
    c = Raw(sealgate.smtp_port)
    c.send(b"EHLO early.test\r\n")
    assert c.closed(timeout=3.0)
    assert c.buf == b""                                # never greeted
    d.wait_log(r"event=pregreet")
    patient = Raw(sealgate.smtp_port)
    assert patient.reply()[0] == 220


def test_http_request_is_dropped(sealgate):
    d = start(sealgate)
    c = Raw(sealgate.smtp_port).greet()
    c.send(b"GET / HTTP/1.1\r\nHost: gw\r\n\r\n")
    assert c.closed(timeout=3.0)
    assert c.buf == b""                                # no reply at all
    d.wait_log(r"event=http_request")
    c = Raw(sealgate.smtp_port).greet()
    c.ehlo()
    c.send(b"POST /x HTTP/1.0\r\n")
    assert c.closed(timeout=3.0)


def test_command_timeout(sealgate):
    start(sealgate, smtpd='command_timeout = "1s";')
    c = Raw(sealgate.smtp_port).greet()
    t = time.monotonic()
    # trickle a command: the deadline is per command, not per byte
    for ch in b"NOO":
        c.send(bytes([ch]))
        time.sleep(0.25)
    code, lines = c.reply()
    assert code == 421 and lines[0].startswith("4.4.2")
    # a timeout per read would have come 1 s after the last byte (>= 1.5 s)
    assert 0.9 <= time.monotonic() - t < 1.45
    assert c.closed()


def test_data_deadline_for_tricklers(sealgate):
    start(sealgate, smtpd='data_timeout = "1s"; min_data_rate = 100000;')
    c = Raw(sealgate.smtp_port).greet()
    c.ehlo()
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
    assert c.cmd("RCPT TO:<u@own.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    t = time.monotonic()
    with pytest.raises((EOFError, BrokenPipeError, ConnectionResetError)):
        while time.monotonic() - t < 5:
            c.send(b"x" * 10 + b"\r\n")
            time.sleep(0.1)
            c.sock.settimeout(0.01)
            try:
                chunk = c.sock.recv(4096)
                if not chunk:
                    raise EOFError
                c.buf += chunk
            except TimeoutError:
                pass
    assert b"421 4.4.2" in c.buf
    assert time.monotonic() - t < 3.0
    assert queue_list(sealgate) == []
