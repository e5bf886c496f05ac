"""Power cut, emulated: what a 250 promises when the machine itself dies.

kill -9 cannot test the durability rule (no 250 before the fsync of the
transaction that holds the message): pages written without fsync survive
the process in the kernel's page cache. A power cut does not spare them.
durable.c, preloaded into every process of the gateway, keeps an image of
the queue file that gets a written range only when it is synced, which is
what a disk holds after a power cut. The test stalls the next hop, loads the
gateway with several clients through the whole pipeline (signing rule),
kills every process with SIGKILL, puts the image in place of the queue file
(the power cut), and starts the gateway again on the real file: every
message that got a 250 must arrive.

The negative control runs the same with fsync disabled (SG_DURABLE_NOSYNC=1:
fsync and fdatasync do nothing, O_DSYNC is dropped, as libeatmydata does).
Then the suite must report loss, and it does: acknowledged messages never
arrive. A kill -9 alone would not have noticed (see test_crash.py).
"""
import json
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

from conftest import wait_until
from crashlib import Arrivals, Load, Sink, gateway_config, queue_stats

HERE = Path(__file__).resolve().parent


def build_shim(directory):
    so = Path(directory) / "libdurable.so"
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(so), str(HERE / "durable.c"),
                    "-ldl"], check=True)
    return so


def live(sealgate):
    c = queue_stats(sealgate)["count"]
    return c["incoming"] + c["working"] + c["ready"] + c["deferred"]


def stuck(sealgate, load, arrived):
    """What the queue holds when it does not drain: states, next attempts."""
    out = sealgate.sealctl("queue", "list", "--json").stdout
    listing = [json.loads(line) for line in out.splitlines() if line.strip()]
    now = time.time()
    states = Counter(m.get("queue_name") for m in listing)
    waits = sorted(m["next_attempt"] - now for m in listing if m.get("next_attempt"))
    missing = [t for t in load.acked if t not in arrived]
    return (f"{len(missing)} of {len(load.acked)} acknowledged not arrived "
            f"(e.g. {missing[:3]}); queue: {dict(states)}, tally {queue_stats(sealgate)['count']}, "
            f"next attempts in {waits[:1]}..{waits[-1:]} s")


def power_cut(queue_dir):
    """Every process is dead: the disk holds the synced image, nothing else."""
    image = queue_dir / "data.mdb.durable"
    shutil.copyfile(image, queue_dir / "data.mdb")
    image.unlink()
    (queue_dir / "data.mdb.pending").unlink(missing_ok=True)
    (queue_dir / "lock.mdb").unlink(missing_ok=True)


def run_power_cut(sealgate, tmp_path, nosync):
    shim = build_shim(tmp_path)
    env = {"LD_PRELOAD": str(shim), "SG_DURABLE": "1", "SG_DURABLE_NOSYNC": "1" if nosync else "0"}
    with Sink(tmp_path / "sink") as sink:
        gateway_config(sealgate, sink)
        sink.stall()
        d = sealgate.start(env=env)
        load = Load(sealgate.smtp_port, clients=4, rate=60).start()
        try:
            wait_until(lambda: len(load.acked) >= 300, 60, interval=0.1,
                       what="300 acknowledged messages")
            d.kill()
        finally:
            load.stop()
        before = live(sealgate)
        power_cut(sealgate.state_dir / "queue")
        sink.resume()
        d = sealgate.start()                        # after the reboot: a real disk
        arrived = lambda: Arrivals(sink.dir).tags()
        # drained: every acknowledged message arrived, or the queue is empty
        try:
            wait_until(lambda: live(sealgate) == 0 and (
                nosync or all(t in arrived() for t in load.acked)), 60, interval=0.25,
                what="the queue to drain after the power cut")
        except AssertionError as e:
            raise AssertionError(f"{e}: {stuck(sealgate, load, arrived())}") from None
        d.stop()
        return Arrivals(sink.dir).check(load), len(load.acked), before


def test_power_cut_loses_nothing_acknowledged(sealgate, tmp_path):
    problems, acked, before = run_power_cut(sealgate, tmp_path, nosync=False)
    assert before > 0
    assert problems == [], problems


def test_power_cut_without_fsync_is_reported(sealgate, tmp_path, capsys):
    """The negative control: with fsync off the same test must report loss."""
    problems, acked, before = run_power_cut(sealgate, tmp_path, nosync=True)
    with capsys.disabled():
        print(f"\npower cut without fsync: {acked} acknowledged, reported: {problems}")
    assert any("acknowledged messages never arrived" in p for p in problems), problems
