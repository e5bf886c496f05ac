"""SIGHUP and every key: each one takes effect, or the reload says it needs a restart.

`sealgated -d` lists every key with its default, and marks the keys a
running gateway cannot apply with "# needs restart" (the config table's
SG_CONF_F_LIVE flag, inverted). The walk below changes each key in turn on
one running master, sends SIGHUP and checks the master's report: a live key
gives `event=reload_changed key=K`, a restart-only key
`event=reload_partial key=K needs=restart` and a `status=partial` reload.
Then the file goes back to the base and SIGHUP again: a live key is
reported changed once more (both directions), a restart-only key not at all
(the processes still run the value the file has again).

A key the walk does not know how to change fails the test: a new key needs
a line in CHANGES (or a default the generic rule understands).
"""
import os
import re
import signal
import subprocess
import time

from conftest import REPO, SEALGATED, free_port, wait_until
from peers import Dns, Injector, SmtpPeer

MARK = "# needs restart"


def key_table():
    """[(key, default text, restart?)] in `sealgated -d` order."""
    out = subprocess.run([SEALGATED, "-d"], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        key, rest = line.split(" = ", 1)
        restart = rest.endswith(MARK)
        rest = rest[:-len(MARK)].rstrip() if restart else rest
        assert rest.endswith(";"), line
        rows.append((key, rest[:-1], restart))
    return rows


def bump(default):
    """A valid different value of a scalar, from its default's form."""
    if default in ("true", "false"):
        return "false" if default == "true" else "true"
    if re.fullmatch(r"-?\d+", default):
        return str(int(default) + 1)
    m = re.fullmatch(r'"(\d+)(K|M|G|ms|s|m|h|d|w|)"', default)
    if m:
        return f'"{int(m.group(1)) + 1}{m.group(2)}"'
    return None


class World:
    """Files and ports that some changed values point at."""

    def __init__(self, env):
        self.env = env
        self.dir = env.dir
        for d in ("db2", "tlsdb2", "state2"):
            (self.dir / d).mkdir(exist_ok=True)
        for f, text in (("pw", "secret\n"), ("allow", "@reload.test\n"),
                        ("deny", "bad@reload.test\n"), ("creds", "user\npass\n")):
            (self.dir / f).write_text(text)
        self.port2 = free_port()

    def f(self, name):
        return f'"{self.dir / name}"'


# key -> function(world) -> {key: value, companion: value, ...}
CHANGES = {
    "state_dir": lambda w: {"state_dir": w.f("state2")},
    "hostname": lambda w: {"hostname": '"gw.reload.test"'},
    "user": lambda w: {"user": '"nobody"'},
    "group": lambda w: {"group": '"nogroup"'},
    "worker_user": lambda w: {"worker_user": '"nobody"', "user": '"nobody"'},
    "log_level": lambda w: {"log_level": '"debug"'},
    "syslog_facility": lambda w: {"syslog_facility": '"local3"'},
    "pidfile": lambda w: {"pidfile": w.f("other.pid")},
    "own_domains": lambda w: {"own_domains": '[ "reload.test" ]'},
    "own_servers": lambda w: {"own_servers": '[ "10.9.0.0/16" ]'},
    "certs.db_dir": lambda w: {"certs.db_dir": w.f("db2")},
    "certs.tls_db_dir": lambda w: {"certs.tls_db_dir": w.f("tlsdb2")},
    "certs.password_file": lambda w: {"certs.password_file": w.f("pw")},
    "certs.revocation": lambda w: {"certs.revocation": '"hard-fail"'},
    "certs.ocsp_responder": lambda w: {"certs.ocsp_responder": '"http://127.0.0.1:9/"',
                                       "certs.ocsp_responder_cert": '"responder"'},
    "certs.ocsp_responder_cert": lambda w: {"certs.ocsp_responder_cert": '"responder"'},
    "certs.pkcs11": lambda w: {"certs.pkcs11":
                               '( { name = "m"; library = "/bin/true"; token = "t"; } )'},
    "certs.tls_cert": lambda w: {"certs.tls_cert": '"gateway"'},
    "certs.tls_sni_certs": lambda w: {"certs.tls_sni_certs": '[ "other" ]'},
    "certs.tls_min_version": lambda w: {"certs.tls_min_version": '"1.3"'},
    "certs.tls_max_version": lambda w: {"certs.tls_max_version": '"1.2"'},
    "smtpd.listeners": lambda w: {"smtpd.listeners":
                                  f'( {{ address = "127.0.0.1:{w.port2}"; }} )'},
    "smtpd.recipient_allow_file": lambda w: {"smtpd.recipient_allow_file": w.f("allow")},
    "smtpd.recipient_deny_file": lambda w: {"smtpd.recipient_deny_file": w.f("deny")},
    "worker.rules": lambda w: {"worker.rules": '( { name = "walk"; } )'},
    "worker.profiles": lambda w: {"worker.profiles": '( { name = "walk"; signature = "pss"; } )'},
    "worker.result_header": lambda w: {"worker.result_header": '"X-Reload-Test"'},
    "worker.notify": lambda w: {"worker.notify": '"postmaster@reload.test"'},
    "scan.clamd": lambda w: {"scan.clamd": '"127.0.0.1:3310"'},
    "scan.on_too_large": lambda w: {"scan.on_too_large": '"hold"'},
    "scan.header": lambda w: {"scan.header": '"X-Reload-Scan"'},
    "delivery.dns_servers": lambda w: {"delivery.dns_servers": '[ "127.0.0.1:5353" ]'},
    "metrics.listen": lambda w: {"metrics.listen": f'"127.0.0.1:{w.port2}"'},
    "cluster.postgres": lambda w: {"cluster.postgres": '"host=/nonexistent dbname=walk"',
                                   "cluster.node": '"walk"'},
    "cluster.node": lambda w: {"cluster.node": '"walk"'},
    "cluster.password_file": lambda w: {"cluster.password_file": w.f("pw")},
    "cluster.key_file": lambda w: {"cluster.key_file": w.f("pw")},
    "delivery.routes": lambda w: {"delivery.routes":
                                  '( { domains = [ "r.test" ]; hosts = [ "127.0.0.1:2" ]; } )'},
    "delivery.smarthost": lambda w: {"delivery.smarthost": '"127.0.0.1:2"'},
    "delivery.smarthost_tls": lambda w: {"delivery.smarthost_tls": '"required"'},
    "delivery.smarthost_auth": lambda w: {
        "delivery.smarthost_auth": '"plain"', "delivery.smarthost": '"127.0.0.1:2"',
        "delivery.smarthost_tls": '"required"', "delivery.smarthost_credentials": w.f("creds")},
    "delivery.smarthost_credentials": lambda w: {"delivery.smarthost_credentials": w.f("creds")},
    "delivery.tls_policy": lambda w: {"delivery.tls_policy": '"none"'},
    "delivery.tlsrpt": lambda w: {"delivery.tlsrpt": "true"},
    "delivery.tlsrpt_period": lambda w: {"delivery.tlsrpt_period": '"2h"'},
    "delivery.mta_sts": lambda w: {"delivery.mta_sts": "true"},
    "delivery.sts_ca_file": lambda w: {"delivery.sts_ca_file": w.f("pw")},
    "delivery.sts_port": lambda w: {"delivery.sts_port": "8443"},
    "delivery.sts_fetch_timeout": lambda w: {"delivery.sts_fetch_timeout": '"5s"'},
    "delivery.dane": lambda w: {"delivery.dane": '"opportunistic"',
                                "delivery.dns_servers": '[ "127.0.0.1:5353" ]'},
    "delivery.tls_policies": lambda w: {"delivery.tls_policies":
                                        '( { domains = [ "p.test" ]; policy = "none"; } )'},
    "delivery.ehlo_name": lambda w: {"delivery.ehlo_name": '"ehlo.reload.test"'},
}

# Keys whose effect is a new smtpd process (it binds as root): wait for it.
SMTPD_RESTARTS = {"smtpd.listeners", "smtpd.loops"}

# What a live key visibly does, where a role says so in its log.
EFFECTS = {
    "log_level": r"role=master event=reloaded log_level=debug",
    "queue.track_keep": r"role=worker event=worker_reloaded .*track_keep_ms=691200000",
    "worker.housekeeping": r"role=worker event=worker_reloaded .*housekeeping_ms=120000",
    "scan.clamd": r"role=worker event=worker_reloaded .*clamd=127\.0\.0\.1:3310",
    "smtpd.loops": r"role=smtpd event=listening .*loops=2",
    "smtpd.listeners": r"role=smtpd event=listening .*address=127\.0\.0\.1:{port2}",
    "delivery.dns_servers": r"role=delivery event=dns_reloaded servers=127\.0\.0\.1:5353",
    "delivery.dns_timeout": r"role=delivery event=dns_reloaded .*timeout_ms=6000",
    "delivery.dns_tries": r"role=delivery event=dns_reloaded .*tries=3",
}


def config_text(values):
    """A config file from {"key" or "section.key": value text}."""
    top, sections = [], {}
    for key, value in values.items():
        if "." in key:
            sec, name = key.split(".", 1)
            sections.setdefault(sec, []).append(f"  {name} = {value};")
        else:
            top.append(f"{key} = {value};")
    for sec, lines in sections.items():
        top.append(f"{sec} = {{\n" + "\n".join(lines) + "\n};")
    return "\n".join(top) + "\n"


def write_atomically(path, text):
    """Roles read the file on SIGHUP too: never let one see it half written."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text)
    os.replace(tmp, path)


REPORT = re.compile(r"role=master event=reload_(changed|partial) key=(\S+)")


def test_every_key_takes_effect_or_says_restart(sealgate):
    rows = key_table()
    restart = {k: r for k, _, r in rows}
    world = World(sealgate)
    changes, unknown = {}, []
    for key, default, _ in rows:
        if key in CHANGES:
            changes[key] = CHANGES[key](world)
        elif bump(default) is not None:
            changes[key] = {key: bump(default)}
        else:
            unknown.append(key)
    assert not unknown, f"the walk cannot change these keys; add them to CHANGES: {unknown}"

    sealgate.state_dir.mkdir()
    base = {"state_dir": f'"{sealgate.state_dir}"',
            "smtpd.listeners": f'( {{ address = "127.0.0.1:{sealgate.smtp_port}"; }} )'}
    sealgate.conf.write_text(config_text(base))
    d = sealgate.start()
    reloads = 0
    smtpd_ready = 1

    def hup(values):
        """Write values, SIGHUP, wait for the master and every role to reload."""
        nonlocal reloads
        start = len(d.log().splitlines())
        write_atomically(sealgate.conf, config_text(values))
        d.signal(signal.SIGHUP)
        reloads += 1
        for role in ("master", "smtpd", "worker", "delivery"):
            d.wait_log(rf"role={role} event=reloaded ", count=reloads)
        lines = d.log().splitlines()[start:]
        done = [l for l in lines if "role=master event=reloaded " in l][0]
        found = {}
        for l in lines:
            m = REPORT.search(l)
            if m:
                assert m.group(2) not in found, f"{m.group(2)} reported twice:\n{l}"
                found[m.group(2)] = m.group(1)
        return found, done

    problems = []
    for key, _, _ in rows:
        change = changes[key]
        found, done = hup({**base, **change})
        if key not in found:
            problems.append(f"{key}: changed, but no reload_changed/reload_partial line")
        for k, kind in found.items():
            if (kind == "partial") != restart[k]:
                problems.append(f"{k}: reported {kind}, but -d says "
                                f"{'restart' if restart[k] else 'live'}")
        want = "partial" if any(restart[k] for k in found) else "complete"
        if f"status={want}" not in done:
            problems.append(f"{key}: final line is not status={want}: {done}")
        if key in SMTPD_RESTARTS:
            smtpd_ready += 1
            d.wait_log(r"role=smtpd event=ready", count=smtpd_ready)
        if key in EFFECTS:
            d.wait_log(EFFECTS[key].format(port2=world.port2), timeout=5)

        found, done = hup(base)
        for k in change:
            if restart[k] and k in found:
                problems.append(f"{k}: back to the running value, yet reported {found[k]}")
            if not restart[k] and found.get(k) != "changed":
                problems.append(f"{k}: changed back, but not reported as reload_changed")
        if key in SMTPD_RESTARTS:
            smtpd_ready += 1
            d.wait_log(r"role=smtpd event=ready", count=smtpd_ready)
    assert not problems, "\n".join(problems)

    log = d.log()
    for bad in ("event=role_exited", "event=reload_failed", "event=config_error",
                "event=smtpd_reload_failed", "event=delivery_reload "):
        assert bad not in log, f"{bad} in the log"
    assert d.stop() == 0


def example_sections():
    """{"key" or "section.key": its first line in sealgate.conf.example}."""
    docs, section = {}, None
    for line in (REPO / "sealgate.conf.example").read_text().splitlines():
        m = re.match(r"^(\w+) = \{$", line)
        if m:
            section = m.group(1)
            continue
        if line.startswith("};"):
            section = None
            continue
        pat = r"^(?:# )?(\w+) = " if section is None else r"^\t(?:# )?(\w+) = "
        m = re.match(pat, line)
        if m:
            docs.setdefault(f"{section}.{m.group(1)}" if section else m.group(1), line)
    return docs


def test_example_marks_exactly_the_restart_keys():
    docs = example_sections()
    wrong = []
    for key, _, restart in key_table():
        line = docs.get(key)
        if line is None:
            wrong.append(f"{key}: not in sealgate.conf.example")
        elif line.rstrip().endswith(MARK) != restart:
            wrong.append(f"{key}: example says {'restart' if not restart else 'live'}: {line}")
    assert not wrong, "\n".join(wrong)


# ------------------------------------------------------ live keys, for real

def test_dns_servers_change_takes_effect_both_ways(sealgate):
    port = free_port("127.0.0.11")
    dead = f"127.0.0.1:{free_port()}"
    recs = ["--mx-host=live.test,mx.live.test,10", "--host-record=mx.live.test,127.0.0.11",
            "--mx-host=again.test,mx.live.test,10"]

    def conf(server):
        sealgate.write_config(f'delivery = {{ smtp_port = {port}; dns_servers = [ "{server}" ];'
                              ' dns_timeout = "300ms"; dns_tries = 1; scan_interval = "100ms";'
                              ' retry_min = "1s"; retry_max = "1s"; };')

    with Dns(recs) as dns, SmtpPeer("127.0.0.11", port) as mx:
        sealgate.state_dir.mkdir()
        conf(dead)
        d = sealgate.start(role="delivery")
        inj = Injector(sealgate)
        inj.inject("", ["u@live.test"])
        d.wait_log(r'event=delivery rcpt="u@live\.test" .*status=deferred')
        conf(dns.server)
        d.signal(signal.SIGHUP)
        d.wait_log(r"event=reload_changed key=delivery\.dns_servers")
        wait_until(lambda: mx.rcpts_delivered() == ["u@live.test"], 15,
                   what="delivery through the new DNS server")
        conf(dead)
        d.signal(signal.SIGHUP)
        d.wait_log(r"event=reload_changed key=delivery\.dns_servers", count=2)
        inj.inject("", ["v@again.test"])
        d.wait_log(r'event=delivery rcpt="v@again\.test" .*status=deferred .*MX lookup')
        assert mx.rcpts_delivered() == ["u@live.test"]
        assert d.stop() == 0


def test_role_alone_reports_restart_keys(sealgate):
    sealgate.write_config('queue = { lease = "5m"; };')
    d = sealgate.start(role="worker")
    sealgate.write_config('queue = { lease = "6m"; };')
    d.signal(signal.SIGHUP)
    d.wait_log(r"role=worker event=reload_partial key=queue\.lease needs=restart")
    d.wait_log(r"role=worker event=reloaded .*status=partial")
    assert d.stop() == 0


def test_rapid_sighups_never_kill_a_role(sealgate):
    # Listener and loop changes make smtpd stop and start again while
    # more SIGHUPs arrive: none may meet a role without its handler.
    sealgate.state_dir.mkdir()
    ports = (sealgate.smtp_port, free_port())

    def conf(i):
        write_atomically(sealgate.conf, config_text({
            "state_dir": f'"{sealgate.state_dir}"',
            "smtpd.listeners": f'( {{ address = "127.0.0.1:{ports[i % 2]}"; }} )',
            "smtpd.loops": str(1 + (i // 2) % 2)}))

    conf(0)
    d = sealgate.start()
    for i in range(1, 41):
        conf(i)
        d.signal(signal.SIGHUP)
        time.sleep(0.005 * (i % 4))
    # pending SIGHUPs merge: count the reloads, then one more, paced
    time.sleep(0.5)
    n = d.log().count("role=master event=reloaded ")
    assert n > 1
    d.signal(signal.SIGHUP)
    d.wait_log(r"role=master event=reloaded ", count=n + 1)
    wait_until(lambda: d.log().count("event=role_restarting role=smtpd")
               == d.log().count("role=smtpd event=ready") - 1, 10, what="smtpd up again")
    assert "event=role_exited" not in d.log()
    assert d.stop() == 0
