"""Kill smtpd while messages wait between DATA and the 250.

Sixteen clients send messages as fast as they can; the daemon gets SIGKILL
in the middle. Every message a client saw acknowledged with "250 ... queued
as ID" must be in the queue (after the kill and again after a restart), and
each such ID must name exactly the message the client sent. Clients that lost
their connection after the final dot prove the kill hit the window.
"""
import threading
import time

from test_smtpd_util import Raw, queue_body, queue_list, send_message, smtpd_config


def sender(port, n, acked, inflight, stop):
    seq = 0
    while not stop.is_set():
        try:
            c = Raw(port, timeout=5)
            c.greet()
            c.ehlo()
        except (OSError, EOFError, AssertionError):
            return
        try:
            while not stop.is_set():
                seq += 1
                tag = f"client{n}-msg{seq}"
                c.send(f"MAIL FROM:<s{n}@x.test>\r\nRCPT TO:<u@own.test>\r\nDATA\r\n".encode())
                codes = [c.reply()[0] for _ in range(3)]
                assert codes == [250, 250, 354], codes
                c.send(f"Subject: {tag}\r\n\r\n{tag}\r\n.\r\n".encode())
                try:
                    code, lines = c.reply()
                except (EOFError, OSError):
                    inflight.append(tag)
                    return
                if code == 250:
                    acked[lines[0].rsplit(" ", 1)[1]] = tag
        except (EOFError, OSError):
            return


def run_and_kill(sealgate, d, seconds):
    acked, inflight, stop = {}, [], threading.Event()
    threads = [threading.Thread(target=sender, args=(sealgate.smtp_port, i, acked, inflight, stop))
               for i in range(16)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    d.kill()                                      # SIGKILL to the process group
    stop.set()
    for t in threads:
        t.join(10)
    return acked, inflight


def check_acked_in_queue(sealgate, acked):
    queued = {m["id"]: m for m in queue_list(sealgate)}
    missing = [i for i in acked if i not in queued]
    assert missing == [], f"{len(missing)} acknowledged messages are not in the queue"
    for qid, tag in list(acked.items())[:50]:
        body = queue_body(sealgate, qid)
        assert f"Subject: {tag}\r\n".encode() in body, (qid, tag)
    return queued


def test_kill_between_data_and_250(sealgate):
    smtpd_config(sealgate, smtpd="max_connections_per_client = 100;")
    total_inflight = 0
    all_acked = {}
    for attempt in range(3):
        d = sealgate.start(role="smtpd")
        acked, inflight = run_and_kill(sealgate, d, 0.8)
        assert len(acked) > 20, "the load did not get going"
        all_acked.update(acked)
        total_inflight += len(inflight)
        queued = check_acked_in_queue(sealgate, all_acked)
        if total_inflight:
            break
    assert total_inflight > 0, "the kill never hit a message waiting for its 250"
    # nothing acknowledged is lost across a restart, and the daemon works again
    d = sealgate.start(role="smtpd")
    check_acked_in_queue(sealgate, all_acked)
    code, lines = send_message(sealgate.smtp_port)
    assert code == 250
    assert len(queue_list(sealgate)) == len(queued) + 1
    d.stop()
