#!/usr/bin/python3
"""conf-man.py - write sealgate.conf(5) from the configuration table and the example.

    sealgated --keys | conf-man.py --example sealgate.conf.example --version V [--date D]

Every key, its type, default, range, choices and whether SIGHUP applies it
come from the table the configuration engine itself uses (sealgated --keys:
key, type, default, live|restart, required, min, max, choices; tab-separated).
What a key means comes from the comments above it in sealgate.conf.example;
keys written one after another share the comment above the first. The man
page goes to standard output.

The two must agree, or there is no page: the script exits 1 and names each
disagreement when a key of the table is not in the example or has no comment
there, when the example sets a key the table does not know, when the example's
"# needs restart" marks differ from the table, or when a key of a list of
groups (smtpd.listeners[].address) is not mentioned where its list is
described. So a key added to the code without documentation, or documented
and then renamed, fails the build (make man) and the test that runs this.
"""
import argparse
import re
import sys

MARK = "# needs restart"

TYPES = {
    "bool": "boolean (true or false)",
    "int": "integer",
    "size": "size: bytes, or a string with K, M or G (\"50M\")",
    "duration": "duration: seconds, or a string with ms, s, m, h, d or w (\"5m\")",
    "string": "string",
    "path": "path (relative to the file it is in)",
    "enum": "one of",
    "strlist": "list of strings",
    "domainlist": "list of domains; \"*.example.com\" stands for every name below example.com",
    "cidrlist": "list of addresses or networks (\"192.0.2.0/24\", \"2001:db8::/32\")",
    "hostport": "host:port (numeric host)",
    "grouplist": "list of groups",
    "custom": "see below",
}

SECTION_TITLES = {
    None: "Top level",
}


class Key:
    def __init__(self, fields):
        (self.name, self.type, self.default, live, req, self.min, self.max,
         choices) = (fields + [""] * 8)[:8]
        self.live = live == "live"
        self.required = req == "required"
        self.choices = [c for c in choices.split(",") if c]
        self.short = self.name.rsplit(".", 1)[-1]
        self.parent = self.name.rsplit("[].", 1)[0] if "[]." in self.name else None
        self.desc = []          # paragraphs: lists of lines
        self.examples = []      # example lines from the file
        self.value = None       # the value written in the example, when set there
        self.example_restart = None
        self.group = None       # the key whose comment it shares


def read_table(text):
    keys = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        k = Key(line.split("\t"))
        keys[k.name] = k
    return keys


def depth(text):
    """Brackets opened minus closed, outside strings and comments."""
    d, quoted, i = 0, False, 0
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c == "#":
            break
        elif c in "([{":
            d += 1
        elif c in ")]}":
            d -= 1
        i += 1
    return d


def read_example(path, keys, problems):
    """Attach the example's comments, values and examples to the keys."""
    lines = open(path, encoding="utf-8").read().splitlines()
    section = None
    pending = []            # comment lines not given to a key yet
    last_key = None         # the key of the line just before (for sharing)
    in_example = None       # a key whose commented example continues
    open_value = None       # a key whose value spans lines, and its depth
    sections = {}           # section name -> its description
    seen = set()
    for raw in lines:
        line = raw.strip()
        if open_value is not None:
            k, d = open_value
            k.value += "\n" + (raw[1:] if section and raw.startswith("\t") else raw) \
                .rstrip().expandtabs(4)
            d += depth(line)
            open_value = (k, d) if d > 0 else None
            continue
        m = re.match(r"^(\w+) = \{$", line) if not raw.startswith(("\t", " ")) else None
        if m:
            section = m.group(1)
            sections[section] = pending
            pending, last_key, in_example = [], None, None
            continue
        if line.startswith("};") and not raw.startswith(("\t", " ")):
            section, pending, last_key, in_example = None, [], None, None
            continue
        if not line:
            pending, last_key, in_example = [], None, None
            continue
        prefix = f"{section}." if section else ""
        m = re.match(r"^(#\s*)?(\w+)\s*=\s*(.*)$", line)
        name = prefix + m.group(2) if m else None
        if m and (not m.group(1) or name in keys):
            k = keys.get(name)
            if k is None:
                problems.append(f"{path}: {name} is set in the example but is not a key")
                pending, last_key = [], None
                continue
            rest = m.group(3)
            restart = rest.rstrip().endswith(MARK)
            if restart:
                rest = rest.rstrip()[:-len(MARK)].rstrip()
            if m.group(1) and name in seen:       # an example of a key already met
                k.examples.append(f"{m.group(2)} = {rest}")
                in_example = k
                pending = []
                continue
            seen.add(name)
            k.example_restart = restart
            if m.group(1):
                k.examples.append(f"{m.group(2)} = {rest}")
            else:
                k.value = rest
            if pending:
                k.desc = paragraphs(pending)
            elif last_key is not None:
                k.group = last_key.group or last_key
            pending = []
            last_key, in_example = k, (k if m.group(1) else None)
            if not m.group(1) and depth(rest) > 0:
                open_value = (k, depth(rest))
            continue
        if line.startswith("#"):
            text = line[1:]
            if in_example is not None and text.startswith("  ") and in_example.examples:
                in_example.examples[-1] += "\n" + text[1:]
                continue
            in_example = None
            pending.append(text[1:] if text.startswith(" ") else text)
            last_key = None
            continue
        problems.append(f"{path}: cannot read: {line}")
    return sections


def paragraphs(lines):
    """Comment lines to paragraphs; lines indented by two or more spaces are
    kept as they are (tables such as the keys of a rule)."""
    out, cur = [], []
    for l in lines:
        if not l.strip():
            if cur:
                out.append(cur)
            cur = []
        else:
            cur.append(l)
    if cur:
        out.append(cur)
    return out


def esc(text):
    """Text safe in a roff line."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    if text.startswith((".", "'")):
        text = "\\&" + text
    return text


def human(n, unit):
    n = int(n)
    if unit == "size":
        for suffix, f in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
            if n >= f and n % f == 0:
                return f"{n // f}{suffix}"
        return str(n)
    if unit == "duration":
        for suffix, f in (("d", 86400000), ("h", 3600000), ("m", 60000), ("s", 1000)):
            if n >= f and n % f == 0:
                return f"{n // f}{suffix}"
        return f"{n}ms"
    return str(n)


def type_line(k):
    t = TYPES.get(k.type, k.type)
    if k.type == "enum":
        t += " " + ", ".join(k.choices)
    if k.min or k.max:
        lo, hi = int(k.min or 0), int(k.max or 0)
        if hi < 1 << 62:
            t += f", from {human(lo, k.type)} to {human(hi, k.type)}"
        elif lo > 0:
            t += f", at least {human(lo, k.type)}"
    return t


def norm(value):
    """A value without its final semicolon and white space, to compare."""
    return re.sub(r"\s+", "", value.rstrip().rstrip(";"))


def put_desc(out, paras):
    for i, p in enumerate(paras):
        if i:
            out.append(".IP")
        pre = [l for l in p if l.startswith("  ")]
        if pre and len(pre) == len(p):
            out += [".RS", ".EX"] + [esc(l) for l in p] + [".EE", ".RE"]
            continue
        block = []
        for l in p:
            if l.startswith("  "):
                if block:
                    out.extend(esc(x.strip()) for x in block)
                    block = []
                out += [".RS", ".EX", esc(l), ".EE", ".RE"]
            else:
                block.append(l)
        out.extend(esc(x.strip()) for x in block)


def put_key(out, k, members):
    out.append(".TP")
    out.append(f".B {k.short}")
    for m in members:
        out.append(".TQ")
        out.append(f".B {m.short}")
    for m in [k] + members:
        who = f"\\fB{m.short}\\fR: " if members else ""
        default = "none: it must be set" if m.required else \
            (m.default if m.default not in ("", '""') else '"" (empty)')
        out.append(f"{who}{esc(type_line(m))}.")
        out.append(".br")
        out.append(f"Default: \\fB{esc(default)}\\fR.")
        out.append("SIGHUP applies a change." if m.live else
                   "A change needs a restart of sealgated.")
        out.append(".br")
    out.append(".sp")
    put_desc(out, k.desc)
    for m in [k] + members:
        shown = [f"{m.short} = {m.value}"] if m.value is not None and \
            norm(m.value) != norm(m.default) and not m.required else []
        for e in shown + m.examples:
            out += [".IP", "In the example file:" if e in shown else "Example:", ".RS", ".EX"] \
                + [esc(l) for l in e.split("\n")] + [".EE", ".RE"]


def put_elements(out, parent, elems):
    out += [".IP", f"Each group of \\fB{parent.short}\\fR takes these keys:", ".RS"]
    for e in elems:
        out.append(".TP")
        out.append(f".B {e.short}")
        default = "none: it must be set" if e.required else \
            (e.default if e.default not in ("", '""') else '"" (empty)')
        out.append(f"{esc(type_line(e))}; default \\fB{esc(default)}\\fR.")
    out.append(".RE")


HEAD = r""".\" sealgate.conf.5 - generated by dist/man/conf-man.py from `sealgated --keys`
.\" and sealgate.conf.example; do not edit: change those instead.
.TH SEALGATE.CONF 5 "@DATE@" "sealgate @VERSION@" "File Formats Manual"
.SH NAME
sealgate.conf \- configuration file of the sealgate mail gateway
.SH SYNOPSIS
.I /etc/sealgate/sealgate.conf
.SH DESCRIPTION
.BR sealgated (8)
and
.BR sealctl (8)
read one file in libconfig syntax:
.I "key = value;"
lines, groups
.IR "section = { key = value; };" ,
lists of groups in parentheses, arrays in brackets, comments with
.BR # .
Each section below is a group of that name; a key is written inside its
group, as in
.BR "queue = { lease = \(dq5m\(dq; };" ,
and named
.B queue.lease
in messages and in the output of
.BR "sealgated \-d" .
.PP
Sizes are bytes or strings with K, M or G
.RB ( \(dq50M\(dq );
durations are seconds or strings with ms, s, m, h, d or w
.RB ( \(dq5m\(dq ).
Write large numbers as strings: libconfig wraps integers above 2^31\-1
(sealgated reads the file's text too and takes them as written).
Relative paths are relative to the file.
.B state_dir
is the only key without a default, so a file holding only
.B "state_dir = \(dq/var/lib/sealgate\(dq;"
is a complete configuration.
.PP
.B "sealgated \-n"
checks a file;
.B "sealgated \-n \-d"
shows what it changes from the defaults.
SIGHUP (systemctl reload sealgate) applies every changed key at once,
except those this page says need a restart: for those the running
gateway keeps the old value until sealgated is restarted, and logs
.BR "event=reload_partial key=... needs=restart" .
.PP
The installed file is
.IR sealgate.conf.example ,
which documents every key with its default; this page is made from it
and from the table the configuration engine uses, so the two cannot
disagree.
"""

TAIL = r""".SH EXAMPLES
The smallest configuration: a listener on 127.0.0.1:25, no relaying, no
rules.
.PP
.RS
.EX
state_dir = "/var/lib/sealgate";
.EE
.RE
.PP
A gateway that signs everything the company's mail server sends out and
decrypts and verifies what comes in:
.PP
.RS
.EX
state_dir = "/var/lib/sealgate";
user = "sealgate";
group = "sealgate";
own_domains = [ "example.com" ];
own_servers = [ "10.0.0.25" ];
certs = { tls_cert = "mx.example.com"; };
smtpd = {
        listeners = ( { address = "0.0.0.0:25"; security = "starttls"; } );
};
worker = {
        rules = (
                { name = "outbound"; direction = "outbound";
                  sign = "required"; encrypt = "if\-possible"; },
                { name = "inbound"; direction = "inbound";
                  decrypt = true; verify = true; harvest = true; }
        );
};
delivery = {
        routes = ( { domains = [ "example.com" ]; hosts = [ "10.0.0.25:25" ]; } );
};
.EE
.RE
.SH DIAGNOSTICS
.B "sealgated \-n"
(and a start or reload with a bad file) names every problem as
.IR "FILE:LINE: message" ,
all at once, for instance:
.TP
.B "unknown key \(dqNAME\(dq"
A misspelt key, or one in the wrong group.
.TP
.B "out of range"
A number outside the range given above.
.TP
.BR "one of: ..." ", " "invalid size" ", " "invalid duration"
A value of the wrong form.
.TP
.B "missing required key \(dqstate_dir\(dq"
The one key without a default.
.TP
.B "no such user \(dqNAME\(dq"
.B user
or
.B group
names an account the system does not have.
.PP
At a reload, a file with errors is logged
.RB ( event=config_error ,
.BR event=reload_failed )
and the running configuration stays.
.SH FILES
.TP
.I /etc/sealgate/sealgate.conf
The configuration (or
.BR $SEALGATE_CONF ,
or
.BR "sealgated \-c" ).
.TP
.I /usr/share/doc/sealgate/sealgate.conf.example
Every key with its default and comment.
.SH SEE ALSO
.BR sealgated (8),
.BR sealctl (8)
"""


def render(keys, sections, version, date):
    out = [HEAD.replace("@VERSION@", version).replace("@DATE@", date).rstrip("\n")]
    order = []
    for k in keys.values():
        sec = k.name.split(".")[0] if "." in k.name else None
        if sec not in order:
            order.append(sec)
    out.append(".SH KEYS")
    for sec in order:
        out.append(f".SS {SECTION_TITLES.get(sec, sec)}")
        if sec is not None and sections.get(sec):
            put_desc(out, paragraphs(sections[sec]))
        top = [k for k in keys.values() if k.parent is None and
               (k.name.split(".")[0] if "." in k.name else None) == sec]
        done = set()
        for k in top:
            if k.name in done or k.group is not None:
                continue
            members = [m for m in top if m.group is k]
            done.update([k.name] + [m.name for m in members])
            put_key(out, k, members)
            elems = [e for e in keys.values() if e.parent == k.name]
            if elems:
                put_elements(out, k, elems)
    out.append(TAIL.rstrip("\n"))
    return "\n".join(out) + "\n"


def check(keys, problems):
    for k in keys.values():
        if k.parent is not None:
            parent = keys[k.parent]
            owner = parent.group or parent
            text = " ".join(" ".join(p) for p in owner.desc) + " " + \
                " ".join(parent.examples) + " " + (parent.value or "")
            if not re.search(rf"\b{re.escape(k.short)}\b", text):
                problems.append(f"{k.name}: not mentioned where {k.parent} is described "
                                "in the example")
            continue
        if k.example_restart is None:
            problems.append(f"{k.name}: not in the example")
            continue
        if not k.desc and k.group is None:
            problems.append(f"{k.name}: no comment describes it in the example")
        if k.example_restart != (not k.live):
            problems.append(f"{k.name}: the example says {'needs restart' if k.example_restart else 'live'}"
                            f", the table says {'live' if k.live else 'needs restart'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--example", required=True)
    ap.add_argument("--keys", default="-", help="sealgated --keys output (default: stdin)")
    ap.add_argument("--version", default="")
    ap.add_argument("--date", default="")
    a = ap.parse_args()
    text = sys.stdin.read() if a.keys == "-" else open(a.keys).read()
    keys = read_table(text)
    if not keys:
        sys.exit("conf-man.py: no keys on input (sealgated --keys)")
    problems = []
    sections = read_example(a.example, keys, problems)
    check(keys, problems)
    if problems:
        for p in problems:
            print(f"conf-man.py: {p}", file=sys.stderr)
        sys.exit(1)
    sys.stdout.write(render(keys, sections, a.version, a.date))


if __name__ == "__main__":
    main()
