"""Mail no rule acts on goes from smtpd straight to delivery; mail a rule
acts on (or that would be split across rules) waits for the worker."""
import json

import pytest

from test_smtpd_util import send_message, smtpd_config

RULES = '''worker = { rules = (
    { name = "signing"; senders = [ "@sign.test" ]; sign = "if-possible"; },
    { name = "special"; recipients = [ "@special.test" ]; },
    { name = "plain"; }
); };'''


@pytest.mark.parametrize("sender, rcpts, state, rule", [
    ("a@x.test", ["u@own.test"], "ready", "plain"),              # inert rule
    ("a@sign.test", ["u@own.test"], "incoming", ""),            # a rule that signs
    ("a@x.test", ["u@own.test", "v@special.test"], "incoming", ""),   # two rules: split
    ("a@x.test", ["v@special.test", "w@special.test"], "ready", "special"),
])
def test_spool_state_follows_rules(sealgate, sender, rcpts, state, rule):
    smtpd_config(sealgate, top=RULES, domains='"own.test", "special.test"')
    sealgate.start(role="smtpd")
    assert send_message(sealgate.smtp_port, sender=sender, rcpts=rcpts)[0] == 250
    msgs = [json.loads(l) for l in sealgate.sealctl("queue", "list", "--json").stdout.splitlines()]
    assert len(msgs) == 1
    assert msgs[0]["queue_name"] == state
    if rule:
        shown = sealgate.sealctl("queue", "show", msgs[0]["queue_id"], "--json").stdout
        assert json.loads(shown)["rule"] == rule


def test_without_rules_everything_skips_the_worker(sealgate):
    smtpd_config(sealgate)
    sealgate.start(role="smtpd")
    assert send_message(sealgate.smtp_port)[0] == 250
    out = sealgate.sealctl("queue", "list", "--json").stdout
    assert json.loads(out.splitlines()[0])["queue_name"] == "ready"
