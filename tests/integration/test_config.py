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
    ('state_dir = "/tmp/x";\nworker = {\n rules = ( { name = "r"; profile = "nope"; } ); };\n', 3,
     'rule "r": no profile "nope" in profiles'),
    ('state_dir = "/tmp/x";\nworker = { profiles = (\n { name = "a b"; } ); };\n', 3,
     'profiles: name "a b"'),
    ('state_dir = "/tmp/x";\nworker = { profiles = (\n { name = "p"; signature = "md5"; } ); };\n',
     3, "one of: pkcs1, pss"),
    ('hostname = "gw.example.com";\n', None, 'missing required key "state_dir"'),
    # DANE believes the resolver's AD bit: only from this host
    ('state_dir = "/tmp/x";\ndelivery = {\n dane = "opportunistic"; };\n', 2,
     "dane needs dns_servers"),
    ('state_dir = "/tmp/x";\ndelivery = {\n dns_servers = [ "192.0.2.1:53" ];\n'
     ' tls_policies = ( { domains = [ "a.test" ]; dane = "required"; } ); };\n', 2,
     'dns_servers "192.0.2.1:53" is not on this host'),
    ('state_dir = "/tmp/x";\ndelivery = { tls_policies = (\n { domains = [ "a.test" ]; } ); };\n',
     3, "an entry needs a policy, a dane mode or both"),
    ('state_dir = "/tmp/x";\ndelivery = {\n tlsrpt_period = "10ms"; };\n', 3, "out of range"),
    # found by fuzz_conf: an empty state_dir was a valid configuration, and
    # a NUL byte ended a string where libconfig met it ("/tmp/x\0y" -> "/tmp/x")
    ('state_dir = "";\n', 1, "state_dir: must not be empty"),
    ('state_dir = "/tmp/x";\nhostname = "gw\0.example.com";\n', 2,
     "a NUL byte: the file is not text"),
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


# ------------------------------------------- numbers beyond libconfig's int

@pytest.mark.parametrize("body, line, message", [
    # libconfig 1.5 reads 20000000000 as -1474836480: say the range instead
    ('smtpd = {\n  max_message_size = 20000000000;\n};\n', 3,
     "max_message_size: 20000000000 is out of range (1K to 16G)"),
    # 5000000000 would silently be 705032704, -3000000000 would be 1294967296
    ('worker = { threads =\n 5000000000; };\n', 2, "threads: 5000000000 is out of range (0 to 256)"),
    ('worker = { batch = -3000000000; };\n', 2, "batch: -3000000000 is out of range (1 to 1024)"),
    ('queue = { lease = 100000; };\n', 2, "lease: 100000 is out of range (1s to 1d)"),
    ('smtpd = { max_message_size = -5; };\n', 2, "max_message_size: -5 is out of range (1K to 16G)"),
    ('smtpd = { max_message_size = "20G"; };\n', 2,
     "max_message_size: 20G is out of range (1K to 16G)"),
    ('smtpd = { max_message_size = "99999999999G"; };\n', 2,
     "max_message_size: 99999999999G is out of range (1K to 16G)"),
    ('queue = { map_size_max = "512K"; };\n', 2,
     "map_size_max: 512K is out of range (at least 1M)"),
])
def test_numbers_out_of_range_name_the_range(tmp_path, body, line, message):
    p = write(tmp_path, 'state_dir = "/tmp/x";\n' + body)
    rc, err = check(p)
    assert rc == 1
    assert f"{p}:{line}: {message}" in err.splitlines(), err
    assert "negative value" not in err


def test_large_integers_are_read_as_written(tmp_path):
    # libconfig alone wraps both (34359738368 -> 0, 3000000000 -> -1294967296)
    p = write(tmp_path, 'state_dir = "/tmp/x";\nqueue = { map_size_max = 34359738368; };\n'
              'smtpd = { max_message_size = 3000000000; };\n'
              'certs = { tls_buffer_size = 0x10000; };\n'
              'delivery = { max_lifetime = 17179869184L; };\n')
    r = subprocess.run([SEALGATED, "-n", "-c", str(p), "-d"], capture_output=True, text=True)
    assert r.returncode == 1            # only max_lifetime: far too long
    assert f"{p}:5: max_lifetime: 17179869184 is out of range (100ms to 100d)" in r.stderr
    p.write_text(p.read_text().replace("17179869184L", "8640000L"))
    r = subprocess.run([SEALGATED, "-n", "-c", str(p), "-d"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ['state_dir = "/tmp/x";', 'queue.map_size_max = "32G";',
                                     'smtpd.max_message_size = "3000000000";',
                                     'delivery.max_lifetime = "100d";']


# ----------------------------------------------- dotted keys from sealgated -d

def test_dotted_key_says_it_is_not_libconfig_syntax(tmp_path):
    p = write(tmp_path, 'state_dir = "/tmp/x";\nqueue.lease = "5m";\n'
              'smtpd.listeners = ( { address = "127.0.0.1:25"; } );  # pasted\n')
    rc, err = check(p)
    assert rc == 1
    lines = err.splitlines()
    assert any(l.startswith(f"{p}:2: ") and "dotted key \"queue.lease\"" in l
               and "not libconfig syntax" in l and 'queue = { lease = "5m"; };' in l
               for l in lines), err
    assert any(l.startswith(f"{p}:3: ") and
               'smtpd = { listeners = ( { address = "127.0.0.1:25"; } ); };' in l
               for l in lines), err


def test_line_pasted_from_d_output_is_explained(tmp_path):
    out = subprocess.run([SEALGATED, "-d"], capture_output=True, text=True, check=True).stdout
    lease = [l for l in out.splitlines() if l.startswith("queue.lease = ")][0]
    p = write(tmp_path, f'state_dir = "/tmp/x";\n{lease}\n')
    rc, err = check(p)
    assert rc == 1
    assert f'{p}:2: ' in err and 'queue = { lease = "5m"; };' in err, err


# ------------------------------------------------- adjacent string literals

def test_adjacent_strings_in_a_list_are_reported(tmp_path):
    p = write(tmp_path, 'state_dir = "/tmp/x";\n'
              '# a comment with "quotes" "here" is fine\n'
              'own_domains = [ "a.com", "b.com",\n'
              '                "c.com" /* a comment */ "d.com" ];\n')
    rc, err = check(p)
    assert rc == 1
    assert (f'{p}:4: adjacent strings "c.com" "d.com" are joined into one by libconfig; '
            "separate list elements with commas") in err.splitlines(), err


def test_adjacent_strings_across_lines_and_in_includes(tmp_path):
    write(tmp_path, 'delivery = {\n  // "x" "y" in a comment\n'
          '  dns_servers = [ "127.0.0.1:53" # first\n     "127.0.0.2:53" ];\n};\n', "inc.conf")
    p = write(tmp_path, 'state_dir = "/tmp/x";\n/* "p" "q" */\n'
              'certs = { ocsp_responder_cert = "a\\"b#c"; };\n@include "inc.conf"\n')
    rc, err = check(p)
    assert rc == 1
    inc = tmp_path / "inc.conf"
    assert any(l.startswith(f"{inc}:3: adjacent strings \"127.0.0.1:53\" \"127.0.0.2:53\"")
               for l in err.splitlines()), err
    # and nothing from comments or the string with a quote and a hash
    assert len([l for l in err.splitlines() if ": adjacent strings" in l]) == 1, err


def test_strings_with_commas_quotes_and_hashes_are_not_adjacent(tmp_path):
    p = write(tmp_path, 'state_dir = "/tmp/x";\n'
              'own_domains = [ "a.com", /* "x" "y" */ "b.com" ]; # "c" "d"\n'
              'worker = { notify = "post\\"master\\\\@x.test"; result_header = "X-A"; };\n')
    rc, err = check(p)
    assert ": adjacent strings" not in err, err


# ------------------------------------------------ the effective configuration

def test_effective_configuration_shows_what_differs(tmp_path):
    p = write(tmp_path, 'state_dir = "state";\n'
              'own_domains = [ "Example.com" ];\n'
              'queue = { lease = 600; commit_batch = 256; };\n'
              'smtpd = { max_message_size = 10485760; max_recipients = 1000; };\n'
              'delivery = { routes = ( { domains = [ "a.test" ]; hosts = [ "10.0.0.1:25" ]; } ); };\n')
    r = subprocess.run([SEALGATED, "-n", "-c", str(p), "-d"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f'state_dir = "{tmp_path}/state";',
        'own_domains = [ "example.com" ];',
        'queue.lease = "10m";',
        'smtpd.max_message_size = "10M";',
        'delivery.routes = ( { domains = [ "a.test" ]; hosts = [ "10.0.0.1:25" ]; '
        'tls = "opportunistic"; } );',
    ]
    # the same from sealctl
    r2 = subprocess.run([SEALCTL, "-c", str(p), "config", "show"], capture_output=True, text=True)
    assert r2.returncode == 0, r2.stderr
    assert r2.stdout == r.stdout


def test_effective_configuration_all_keys(tmp_path):
    p = write(tmp_path, 'state_dir = "/tmp/x";\nhostname = "gw.example.test";\n')
    r = subprocess.run([SEALGATED, "-n", "-c", str(p), "-d", "-a"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    keys = [l.split(" = ")[0] for l in r.stdout.splitlines()]
    d = subprocess.run([SEALGATED, "-d"], capture_output=True, text=True, check=True).stdout
    assert keys == [l.split(" = ")[0] for l in d.splitlines()]
    assert 'hostname = "gw.example.test";' in r.stdout.splitlines()
    assert 'queue.lease = "5m";' in r.stdout.splitlines()


def test_effective_configuration_of_a_bad_file_is_the_errors(tmp_path):
    p = write(tmp_path, 'state_dir = "/tmp/x";\nnope = 1;\n')
    r = subprocess.run([SEALGATED, "-n", "-c", str(p), "-d"], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stdout == ""
    assert f'{p}:2: unknown key "nope"' in r.stderr
