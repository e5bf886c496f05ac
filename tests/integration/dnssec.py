"""A DNSSEC test world: nsd serving zones signed by ldns-signzone, and a
validating unbound that trusts them (test-peers notes, section 2).

    from dnssec import SignedDns, tlsa_digest
    zones = {"dane.test": ZONE_TEXT, "plain.test": ...}
    with SignedDns(tmpdir, zones, signed={"dane.test"}, bogus={"broken.test": "TLSA"}) as dns:
        dns.server   # "127.0.0.1:PORT" of unbound, for delivery.dns_servers

Each zone text is the records without SOA and NS (added here), one per
line, names relative to the zone. Signed zones get fresh keys and
signatures (now to four weeks from now) each run; a zone in bogus has the
data of its first record of the given type changed after signing, so its
signature no longer verifies and unbound answers SERVFAIL. unbound gets a
stub-zone entry pointing at nsd for each zone, so its cache never mixes
the three states.
"""
import socket
import struct
import subprocess
from pathlib import Path

from conftest import free_port, wait_until

SOA = "@ 3600 IN SOA ns.{z}. hostmaster.{z}. 1 3600 600 86400 60\n@ 3600 IN NS ns.{z}.\n" \
      "ns 3600 IN A 127.0.0.1\n"


def tlsa_digest(cert_pem, selector=1, mtype=1, der=False):
    """The association data (hex) of a PEM certificate for a TLSA record."""
    if selector == 1:
        pub = subprocess.run(["openssl", "x509", "-in", str(cert_pem), "-noout", "-pubkey"],
                             check=True, capture_output=True).stdout
        data = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                              check=True, capture_output=True).stdout
    else:
        data = subprocess.run(["openssl", "x509", "-in", str(cert_pem), "-outform", "DER"],
                              check=True, capture_output=True).stdout
    if mtype == 0:
        return data.hex()
    alg = {1: "-sha256", 2: "-sha512"}[mtype]
    out = subprocess.run(["openssl", "dgst", alg, "-r"], input=data, check=True,
                         capture_output=True).stdout.decode()
    return out.split()[0]


def _probe(port, name, qtype=1):
    """True when the server answers NOERROR for name (a raw UDP query)."""
    q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        try:
            s.sendto(q, ("127.0.0.1", port))
            a = s.recv(4096)
        except OSError:
            return False
    return len(a) >= 4 and (a[3] & 0x0f) == 0


class SignedDns:
    def __init__(self, directory, zones, signed=(), bogus=None):
        self.dir = Path(directory)
        self.zones = zones
        self.signed = set(signed)
        self.bogus = dict(bogus or {})
        self.nsd_port = free_port()
        self.port = free_port()
        self.procs = []

    def _write_zone(self, z, text):
        path = self.dir / f"{z}.zone"
        path.write_text(f"$ORIGIN {z}.\n$TTL 60\n" + SOA.format(z=z) + text)
        if z not in self.signed:
            return path.name
        run = dict(cwd=self.dir, check=True, capture_output=True, text=True)
        zsk = subprocess.run(["ldns-keygen", "-a", "ECDSAP256SHA256", z], **run).stdout.strip()
        ksk = subprocess.run(["ldns-keygen", "-a", "ECDSAP256SHA256", "-k", z],
                             **run).stdout.strip()
        subprocess.run(["ldns-signzone", "-n", path.name, zsk, ksk], **run)
        (self.dir / f"{z}.ds").write_text((self.dir / f"{ksk}.ds").read_text())
        signed = self.dir / f"{z}.zone.signed"
        if z in self.bogus:
            lines = signed.read_text().splitlines()
            for i, line in enumerate(lines):
                f = line.split("\t")
                if len(f) >= 5 and f[3] == self.bogus[z]:
                    data = f[4].split(" ")
                    data[-1] = "00" * (len(data[-1]) // 2)
                    f[4] = " ".join(data)
                    lines[i] = "\t".join(f)
                    break
            else:
                raise AssertionError(f"no {self.bogus[z]} record to spoil in {z}")
            signed.write_text("\n".join(lines) + "\n")
        return signed.name

    def __enter__(self):
        d = self.dir
        d.mkdir(parents=True, exist_ok=True)
        blocks = ""
        for z, text in self.zones.items():
            blocks += f'zone:\n  name: "{z}"\n  zonefile: "{self._write_zone(z, text)}"\n'
        (d / "nsd.conf").write_text(
            f'server:\n  ip-address: 127.0.0.1@{self.nsd_port}\n  username: ""\n'
            f'  chroot: ""\n  database: ""\n  server-count: 1\n  zonesdir: "{d}"\n'
            f'  zonelistfile: "{d}/zone.list"\n  xfrdfile: "{d}/xfrd.state"\n'
            f'  xfrdir: "{d}"\n  pidfile: "{d}/nsd.pid"\n  logfile: "{d}/nsd.log"\n'
            f'remote-control:\n  control-enable: no\n' + blocks)
        anchors = "".join(f'  trust-anchor-file: "{d}/{z}.ds"\n' for z in sorted(self.signed))
        stub_zones = "".join(f'stub-zone:\n  name: "{z}"\n  stub-addr: 127.0.0.1@{self.nsd_port}\n'
                        for z in self.zones)
        (d / "unbound.conf").write_text(
            f'server:\n  interface: 127.0.0.1@{self.port}\n  do-ip6: no\n'
            f'  do-daemonize: no\n  username: ""\n  chroot: ""\n  directory: "{d}"\n'
            f'  pidfile: "{d}/unbound.pid"\n  use-syslog: no\n  logfile: "{d}/unbound.log"\n'
            f'  val-log-level: 2\n  access-control: 127.0.0.0/8 allow\n'
            f'  do-not-query-localhost: no\n  local-zone: "test." nodefault\n'
            f'  module-config: "validator iterator"\n' + anchors +
            'remote-control:\n  control-enable: no\n' + stub_zones)
        self.procs.append(subprocess.Popen(["nsd", "-d", "-c", str(d / "nsd.conf")],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.procs.append(subprocess.Popen(["unbound", "-d", "-c", str(d / "unbound.conf")],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        first = next(iter(self.zones))
        wait_until(lambda: _probe(self.nsd_port, f"ns.{first}"), 10, what="nsd")
        wait_until(lambda: _probe(self.port, f"ns.{first}"), 10, what="unbound")
        return self

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            p.terminate()
            p.wait(5)

    @property
    def server(self):
        return f"127.0.0.1:{self.port}"
