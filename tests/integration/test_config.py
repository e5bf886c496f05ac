"""sealgated -n: every configuration problem as FILE:LINE: message, exit 1."""
import re
import subprocess

import pytest

from conftest import REPO, SEALCTL, SEALGATED


def check(path):
    r = subprocess.run([SEALGATED, "-n", "-c", str(path)], capture_output=True, text=True)
    return r.returncode, r.stderr


def write(tmp_path, text, name="sg.conf"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_minimal_config_is_valid(tmp_path):
    p = write(tmp_path, f'state_dir = "{tmp_path}/state";\n')
    rc, err = check(p)
    assert rc == 0, err


def test_sealctl_works_against_minimal_config(tmp_path):
    # a state directory no daemon has made yet
    p = write(tmp_path, f'state_dir = "{tmp_path}/state";\n')
    ctl = lambda *a, **kw: subprocess.run([SEALCTL, "-c", str(p)] + list(a), capture_output=True,
                                          text=True, **kw)
    r = ctl("config", "check")
    assert r.returncode == 0, r.stderr
    assert "valid" in r.stdout
    r = ctl("queue", "list")
    assert r.returncode == 2 and f"{tmp_path}/state" in r.stderr, r.stderr
    r = ctl("queue", "inject", "--rcpt", "a@example.org", "--sync")
    assert r.returncode == 0, r.stderr
    r = ctl("queue", "list", "--json")
    assert r.returncode == 0 and '"a@example.org"' in r.stdout, r.stderr
    r = ctl("cert", "list")
    assert r.returncode == 1 and "sealctl cert init" in r.stderr
    assert ctl("cert", "init").returncode == 0
    r = ctl("cert", "list", "--json")
    assert r.returncode == 0, r.stderr


def test_example_config_is_valid(tmp_path):
    # The shipped example documents every key; it must load as it is,
    # given a state directory and files it names.
    text = (REPO / "sealgate.conf.example").read_text()
    text = re.sub(r'^state_dir = ".*";', f'state_dir = "{tmp_path}/state";', text, flags=re.M)
    rc, err = check(write(tmp_path, text))
    assert rc == 0, err


def test_every_key_is_documented_in_example():
    defaults = subprocess.run([SEALGATED, "-d"], capture_output=True, text=True, check=True).stdout
    example = (REPO / "sealgate.conf.example").read_text()
    missing = []
    for line in defaults.splitlines():
        key = line.split(" = ")[0].split(".")[-1]
        if not re.search(r"^\s*#?\s*" + re.escape(key) + r"\s*=", example, re.M):
            missing.append(line.split(" = ")[0])
    assert not missing, f"keys not documented in sealgate.conf.example: {missing}"


@pytest.mark.parametrize("body, line, message", [
    ('state_dir = "/tmp/x";\nsmtpd = {\n  listeners = ( { address = "127.0.0.1:25" } \n', 4,
     "syntax error"),
    ('state_dir = "/tmp/x";\n\nbogus_key = 1;\n', 3, 'unknown key "bogus_key"'),
    ('state_dir = "/tmp/x";\nsmtpd = {\n  tarpit = 1;\n};\n', 3, 'unknown key "tarpit"'),
    ('state_dir = "/tmp/x";\nsmtpd = { listeners = (\n { address = "127.0.0.1:70000"; } ); };\n',
     3, "invalid address"),
    ('state_dir = "/tmp/x";\nsmtpd = { listeners = (\n { address = "127.0.0.1:port"; } ); };\n',
     3, "invalid address"),
    ('state_dir = "/tmp/x";\ncerts = {\n  password_file = "/nonexistent/pw";\n};\n', 3,
     "No such file or directory"),
    ('state_dir = "/tmp/x";\nlog_level = "loud";\n', 2, "one of: debug"),
    ('state_dir = "/tmp/x";\nworker = { threads = 100000; };\n', 2, "out of range"),
    ('state_dir = "/tmp/x";\nsmtpd = { max_message_size = "lots"; };\n', 2, "invalid size"),
    ('state_dir = "/tmp/x";\nown_servers = [ "10.0.0.0/33" ];\n', 2, "invalid address"),
    ('state_dir = "/tmp/x";\nown_domains = [ "exa mple.com" ];\n', 2, "invalid domain"),
    ('state_dir = "/tmp/x";\nown_domains = [ "ok.test",\n "*example.com" ];\n', 3,
     "invalid domain \"*example.com\""),
    ('state_dir = 5;\n', 1, "expected a string"),
    ('hostname = "gw.example.com";\n', None, 'missing required key "state_dir"'),
])
def test_bad_config_names_file_and_line(tmp_path, body, line, message):
    p = write(tmp_path, body)
    rc, err = check(p)
    assert rc == 1
    prefix = f"{p}:{line}: " if line else f"{p}: "
    assert any(l.startswith(prefix) and message in l for l in err.splitlines()), err


def test_missing_file_is_named(tmp_path):
    p = tmp_path / "nope.conf"
    rc, err = check(p)
    assert rc == 1
    assert err.startswith(f"{p}: cannot open: No such file")


def test_error_in_included_file_names_that_file(tmp_path):
    inc = write(tmp_path, 'smtpd = { colour = "red"; };\n', "inc.conf")
    p = write(tmp_path, 'state_dir = "/tmp/x";\n@include "inc.conf"\n')
    rc, err = check(p)
    assert rc == 1
    assert f"{inc}:1: unknown key \"colour\"" in err, err


def test_all_errors_reported_at_once(tmp_path):
    p = write(tmp_path, 'state_dir = "/tmp/x";\na = 1;\nb = 2;\nlog_level = "x";\n')
    rc, err = check(p)
    assert rc == 1
    assert len(err.strip().splitlines()) == 3, err
