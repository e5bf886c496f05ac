"""The command-line hygiene an administrator expects of both programs:
--version, --help that exits 0 and names every verb (without a readable
configuration), per-command help, and error text that is readable."""
import os
import re
import signal
import subprocess

from conftest import SEALCTL, SEALGATED

VERBS = {
    "config": ["check"],
    "queue": ["list", "show", "cat", "hold", "release", "delete", "retry", "stats", "inject"],
    "cert": ["init", "import", "list", "show", "export", "remove", "check", "signer",
             "recipient", "sign"],
    "crl": ["import", "fetch"],
    "incidents": ["list", "show", "ack"],
}


def run(*args, env=None):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=10,
                          env=dict(os.environ, **(env or {})))


def test_version_on_both_programs():
    for prog in (SEALCTL, SEALGATED):
        r = run(prog, "--version")
        assert r.returncode == 0 and re.fullmatch(r"seal\w+ \d+\.\d+\.\d+\n", r.stdout), r


def test_sealctl_help_lists_every_verb_without_a_configuration():
    r = run(SEALCTL, "--help", env={"SEALGATE_CONF": "/nonexistent/sealgate.conf"})
    assert r.returncode == 0, r
    for command, verbs in VERBS.items():
        lines = [l for l in r.stdout.splitlines() if f"sealctl {command} " in l
                 or f"sealctl {command} [--tls] " in l]
        text = " ".join(lines)
        for verb in verbs:
            assert re.search(rf"(^|[\s|]){verb}([\s|]|$)", text), (command, verb, text)
        # and each command's own help, also without a configuration
        c = run(SEALCTL, "-c", "/nonexistent.conf", command, "--help")
        assert c.returncode == 0 and f"sealctl {command}" in c.stdout, c
    assert "--client" in r.stdout and "Exit status" in r.stdout


def test_usage_errors_exit_2_and_show_the_usage():
    r = run(SEALCTL)
    assert r.returncode == 2 and "usage: sealctl" in r.stderr
    r = run(SEALCTL, "nonsense")
    assert r.returncode == 2 and 'unknown command "nonsense"' in r.stderr
    r = run(SEALGATED, "--help")
    assert r.returncode == 0 and "--role" in r.stdout and "-n" in r.stdout, r
    r = run(SEALGATED, "--no-such-option")
    assert r.returncode == 2 and "usage: sealgated" in r.stderr


def test_reload_errors_quote_with_quotes_not_hex(sealgate):
    conf = sealgate.write_config()
    d = sealgate.start()
    d.wait_log(r"event=ready", count=3)
    conf.write_text(conf.read_text() + 'bogus_key = "x";\n')
    d.signal(signal.SIGHUP)
    line = d.wait_log(r"role=master event=config_error")[0].string
    assert "\\x22" not in line, line
    assert 'unknown key \\"bogus_key\\"' in line, line
