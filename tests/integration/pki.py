"""A throw-away test PKI made with the openssl command line.

    from pki import get_pki
    p = get_pki()                  # built once per test process, cached
    p.root, p.inter                # CAs: .cert (PEM path), .der, .key
    p["alice"]                     # an Entity, see ENTITIES below
    p["alice"].p12, .p12_legacy    # PKCS#12 with key and chain; .password
    p.crl, p.crl_pem               # the intermediate's CRL (carol revoked)
    p.chain                        # PEM: intermediate + root
    with p.ocsp_responder() as url: ...   # `openssl ocsp` on p.ocsp_port
    with p.crl_server() as url: ...       # HTTP server for p.crl on p.crl_port

Or build into a directory of your own: `PKI(path).build()`. From a shell
(used by the C unit tests): `python3 pki.py DIR` builds into DIR.

Layout: a root CA (RSA-2048) signs an intermediate (RSA-2048), which
signs every end entity. Every end entity carries an AIA OCSP URL
http://127.0.0.1:OCSP_PORT/ and a CRL distribution point
http://127.0.0.1:CRL_PORT/inter.crl, ports picked free at build time.
Files for entity NAME in the directory: NAME.pem (certificate), NAME.der,
NAME.key (PEM, unencrypted PKCS#8), NAME.p12 (AES-256/SHA-256, OpenSSL 3
default) and NAME-legacy.p12 (RC2-40/3DES, SHA-1 MAC) with password
NAME-pw and the chain, NAME.full.pem (certificate + chain). ports.txt
names the two ports ("ocsp N", "crl N") for programs that cannot import
this module.
"""
import contextlib
import datetime
import functools
import http.server
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fixed_port():
    """A port to write into certificates (OCSP and CRL URLs) and listen on
    later, maybe minutes later: chosen below the kernel's ephemeral range,
    so that no outgoing connection or free_port() of another test can take
    it meanwhile, and at random, so that test runs side by side differ."""
    import random
    rng = random.Random(os.getpid() ^ int.from_bytes(os.urandom(4), "little"))
    while True:
        port = rng.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue


class Entity:
    """One certificate with its key and files."""

    def __init__(self, pki, name, spec):
        self.name = name
        self.kind = spec["kind"]
        self.email = spec.get("email")
        self.dns = spec.get("dns", [])
        self.ips = spec.get("ips", [])
        self.algo = spec.get("algo", "ec")
        self.cn = spec.get("cn", name)
        self.revinfo = spec.get("revinfo", True)
        d = pki.dir
        self.cert = d / f"{name}.pem"
        self.der = d / f"{name}.der"
        self.key = d / f"{name}.key"
        self.full = d / f"{name}.full.pem"
        self.p12 = d / f"{name}.p12"
        self.p12_legacy = d / f"{name}-legacy.p12"
        self.password = f"{name}-pw"
        self.serial = None          # hex, upper case, set by build
        self.subject = None         # openssl's one-line form

    def __repr__(self):
        return f"<Entity {self.name} {self.email or self.dns}>"


# name -> what it is. kind: user (S/MIME), tls (server), ocsp (responder).
ENTITIES = {
    "alice": {"kind": "user", "email": "alice@example.com", "algo": "rsa"},
    "alice_old": {"kind": "user", "email": "alice@example.com", "cn": "alice (old)"},
    "bob": {"kind": "user", "email": "bob@example.org", "algo": "ec"},
    "carol": {"kind": "user", "email": "carol@example.com", "revoked": True},
    "dave": {"kind": "user", "email": "dave@example.com", "expired": True},
    "gateway": {"kind": "user", "email": "gateway@example.com", "algo": "rsa",
                "cn": "example.com gateway"},
    "frank": {"kind": "user", "email": "frank@example.net"},
    "mallory": {"kind": "user", "email": "mallory@example.net", "md": "sha1"},
    "grace": {"kind": "user", "email": "grace@example.com", "algo": "rsa", "revinfo": False},
    "ivan": {"kind": "user", "email": "ivan@example.net", "algo": "ec384"},
    "ocsp": {"kind": "ocsp", "cn": "Test OCSP responder"},
    "server": {"kind": "tls", "dns": ["localhost"], "ips": ["127.0.0.1"], "algo": "rsa"},
    "sni": {"kind": "tls", "dns": ["sni.test"], "algo": "ec"},
}
# mallory: signed with SHA-1 (never harvested).
# grace: neither an OCSP URL nor a CRL distribution point (revocation unknowable).
# ivan: EC P-384 (every other EC entity is P-256).
# Self-signed, chains to nothing we trust.
SELF_SIGNED = {"eve": {"kind": "user", "email": "eve@example.net"}}

CA_CONF = """
[ca]
default_ca = CA_default
[CA_default]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 825
default_crl_days = 30
policy = policy_any
unique_subject = no
email_in_dn = no
copy_extensions = none
[policy_any]
commonName = supplied
organizationName = optional
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_inter]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


class PKI:
    """The whole test PKI in one directory."""

    def __init__(self, directory, ocsp_port=None, crl_port=None):
        self.dir = Path(directory)
        self.ocsp_port = ocsp_port or _fixed_port()
        self.crl_port = crl_port or _fixed_port()
        self.ocsp_url = f"http://127.0.0.1:{self.ocsp_port}/"
        self.crl_url = f"http://127.0.0.1:{self.crl_port}/inter.crl"
        self.entities = {n: Entity(self, n, s) for n, s in {**ENTITIES, **SELF_SIGNED}.items()}
        self.root = Entity(self, "root", {"kind": "ca", "algo": "rsa", "cn": "Sealgate Test Root CA"})
        self.inter = Entity(self, "inter", {"kind": "ca", "algo": "rsa",
                                            "cn": "Sealgate Test Intermediate CA"})
        self.chain = self.dir / "chain.pem"
        self.crl = self.dir / "inter.crl"
        self.crl_pem = self.dir / "inter.crl.pem"
        self.index = self.dir / "inter" / "index.txt"

    def __getitem__(self, name):
        return self.entities[name]

    # building

    def _run(self, *args, **kw):
        r = subprocess.run([OPENSSL] + [str(a) for a in args], capture_output=True, **kw)
        if r.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(map(str, args))}: {r.stderr.decode()}")
        return r.stdout

    def _cadir(self, name):
        d = self.dir / name
        (d / "newcerts").mkdir(parents=True, exist_ok=True)
        (d / "index.txt").touch()
        (d / "serial").write_text("1000\n" if name == "root" else "2000\n")
        (d / "crlnumber").write_text("01\n")
        conf = d / "ca.cnf"
        conf.write_text(CA_CONF.replace("{dir}", str(d)))
        return conf

    def _newkey(self, e):
        if e.algo == "rsa":
            self._run("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                      "-out", e.key)
        else:
            curve = "P-384" if e.algo == "ec384" else "P-256"
            self._run("genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}",
                      "-out", e.key)

    def _extfile(self, e):
        lines = ["[ext]", "basicConstraints = critical,CA:FALSE",
                 "subjectKeyIdentifier = hash"]
        if e.kind != "selfsigned":
            lines.append("authorityKeyIdentifier = keyid")
        san = []
        if e.kind == "user":
            ku = "digitalSignature,keyEncipherment" if e.algo == "rsa" else \
                "digitalSignature,keyAgreement"
            lines += [f"keyUsage = critical,{ku}", "extendedKeyUsage = emailProtection"]
            san.append(f"email:{e.email}")
        elif e.kind == "tls":
            lines += ["keyUsage = critical,digitalSignature,keyEncipherment",
                      "extendedKeyUsage = serverAuth"]
            san += [f"DNS:{n}" for n in e.dns] + [f"IP:{i}" for i in e.ips]
        elif e.kind == "ocsp":
            lines += ["keyUsage = critical,digitalSignature",
                      "extendedKeyUsage = OCSPSigning", "noCheck = ignored"]
        if san:
            lines.append("subjectAltName = " + ",".join(san))
        if e.kind in ("user", "tls") and e.revinfo:
            lines.append(f"authorityInfoAccess = OCSP;URI:{self.ocsp_url}")
            lines.append(f"crlDistributionPoints = URI:{self.crl_url}")
        path = self.dir / f"{e.name}.ext"
        path.write_text("\n".join(lines) + "\n")
        return path

    def _issue(self, e, ca_name, extensions, extfile=None, days=None, expired=False, md=None):
        csr = self.dir / f"{e.name}.csr"
        conf = self.dir / ca_name / "ca.cnf"
        self._run("req", "-new", "-key", e.key, "-subj", f"/CN={e.cn}", "-out", csr,
                  "-config", conf)
        args = ["ca", "-batch", "-notext", "-config", conf, "-in", csr, "-out", e.cert,
                "-extensions", extensions]
        if extfile:
            args += ["-extfile", extfile]
        if md:
            args += ["-md", md]
        if expired:
            now = datetime.datetime.utcnow()
            args += ["-startdate", (now - datetime.timedelta(days=400)).strftime("%Y%m%d%H%M%SZ"),
                     "-enddate", (now - datetime.timedelta(days=30)).strftime("%Y%m%d%H%M%SZ")]
        else:
            args += ["-days", str(days or 825)]
        if ca_name == "root" and e is not self.root:
            args += ["-cert", self.root.cert, "-keyfile", self.root.key]
        elif ca_name == "inter":
            args += ["-cert", self.inter.cert, "-keyfile", self.inter.key]
        self._run(*args)
        self._finish(e)

    def _finish(self, e):
        self._run("x509", "-in", e.cert, "-outform", "DER", "-out", e.der)
        out = self._run("x509", "-in", e.cert, "-noout", "-serial", "-subject",
                        "-nameopt", "RFC2253").decode()
        for line in out.splitlines():
            k, _, v = line.partition("=")
            if k == "serial":
                e.serial = v.strip().upper()
            elif k == "subject":
                e.subject = v.strip()

    def _p12(self, e, chain):
        full = e.cert.read_text() + (chain.read_text() if chain else "")
        e.full.write_text(full)
        pw = f"pass:{e.password}"
        self._run("pkcs12", "-export", "-in", e.full, "-inkey", e.key, "-name", e.name,
                  "-out", e.p12, "-passout", pw)
        self._run("pkcs12", "-export", "-legacy", "-in", e.full, "-inkey", e.key,
                  "-name", e.name, "-out", e.p12_legacy, "-passout", pw)

    def build(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        self._cadir("root")
        self._cadir("inter")
        r = self.root
        self._newkey(r)
        self._run("req", "-new", "-x509", "-key", r.key, "-subj", f"/CN={r.cn}", "-days", "3650",
                  "-out", r.cert, "-config", self.dir / "root" / "ca.cnf",
                  "-extensions", "v3_root", "-set_serial", "1")
        self._finish(r)
        self._newkey(self.inter)
        self._issue(self.inter, "root", "v3_inter", days=3650)
        self.chain.write_text(self.inter.cert.read_text() + r.cert.read_text())
        for name, spec in ENTITIES.items():
            e = self.entities[name]
            self._newkey(e)
            self._issue(e, "inter", "ext", self._extfile(e), expired=spec.get("expired", False),
                        md=spec.get("md"))
            if spec["kind"] in ("user", "tls"):
                self._p12(e, self.chain)
        for name in SELF_SIGNED:
            self._self_signed(self.entities[name])
        self._revoke(self["carol"])
        (self.dir / "ports.txt").write_text(f"ocsp {self.ocsp_port}\ncrl {self.crl_port}\n")
        return self

    def _self_signed(self, e):
        self._newkey(e)
        self._run("req", "-new", "-x509", "-key", e.key, "-subj", f"/CN={e.cn}", "-days", "365",
                  "-out", e.cert, "-config", self.dir / "root" / "ca.cnf",
                  "-addext", "basicConstraints=critical,CA:FALSE",
                  "-addext", "keyUsage=critical,digitalSignature,keyAgreement",
                  "-addext", "extendedKeyUsage=emailProtection",
                  "-addext", f"subjectAltName=email:{e.email}")
        self._finish(e)
        self._p12(e, None)

    def _revoke(self, e):
        conf = self.dir / "inter" / "ca.cnf"
        self._run("ca", "-config", conf, "-cert", self.inter.cert, "-keyfile", self.inter.key,
                  "-revoke", e.cert, "-crl_reason", "keyCompromise")
        self.gencrl()

    def gencrl(self):
        """(Re)write the intermediate's CRL from its index (PEM and DER)."""
        conf = self.dir / "inter" / "ca.cnf"
        self._run("ca", "-config", conf, "-cert", self.inter.cert, "-keyfile", self.inter.key,
                  "-gencrl", "-out", self.crl_pem)
        self._run("crl", "-in", self.crl_pem, "-outform", "DER", "-out", self.crl)

    def short_lived_crl(self, out):
        """Write to out (PEM) a CRL of the intermediate whose nextUpdate is one
        second after its thisUpdate, from a copy of the CA directory, so the
        shared PKI's CRL numbering is left alone."""
        work = Path(tempfile.mkdtemp(prefix="sealgate-ca-"))
        try:
            shutil.copytree(self.dir / "inter", work / "inter")
            conf = work / "inter" / "ca.cnf"
            conf.write_text(CA_CONF.replace("{dir}", str(work / "inter")))
            self._run("ca", "-config", conf, "-cert", self.inter.cert, "-keyfile",
                      self.inter.key, "-gencrl", "-crlsec", "1", "-out", out)
        finally:
            shutil.rmtree(work, True)

    # peers

    @contextlib.contextmanager
    def ocsp_responder(self, port=None):
        """`openssl ocsp` answering for the intermediate's certificates.

        Listens on port (default self.ocsp_port; OpenSSL 3.0 binds all
        interfaces, clients only ever use 127.0.0.1). Yields the URL."""
        port = port or self.ocsp_port
        o = self["ocsp"]
        log = open(self.dir / f"ocsp-{port}.log", "wb")
        proc = subprocess.Popen(
            [OPENSSL, "ocsp", "-index", str(self.index), "-port", str(port),
             "-rsigner", str(o.cert), "-rkey", str(o.key), "-CA", str(self.inter.cert),
             "-nmin", "5", "-ignore_err"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            _wait_log(self.dir / f"ocsp-{port}.log", "ACCEPT", proc)
            yield f"http://127.0.0.1:{port}/"
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()

    @contextlib.contextmanager
    def crl_server(self, port=None):
        """A loopback HTTP server publishing this directory (inter.crl). Yields the URL."""
        port = port or self.crl_port
        handler = functools.partial(_QuietHandler, directory=str(self.dir))
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        try:
            yield self.crl_url
        finally:
            srv.shutdown()
            srv.server_close()
            t.join(5)

    def password_file(self, name, directory=None):
        """Write entity name's PKCS#12 password to a file; return its path."""
        p = Path(directory or self.dir) / f"{name}.pw"
        p.write_text(self[name].password + "\n")
        return p


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _wait_log(path, text, proc, timeout=10.0):
    """Wait for text in the log: a test connection would wedge `openssl ocsp`
    (OpenSSL 3.0 spins on a connection closed without a request)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"openssl ocsp exited ({proc.returncode})")
        if text in Path(path).read_text(errors="replace"):
            return
        time.sleep(0.02)
    raise RuntimeError(f"openssl ocsp did not start: {Path(path).read_text()}")


_cached = None


def get_pki():
    """The process-wide PKI, built on first use in a temporary directory
    that is removed when the process ends. Treat it as read-only; build a
    PKI of your own to revoke or re-issue."""
    global _cached
    if _cached is None:
        d = tempfile.mkdtemp(prefix="sealgate-pki-")
        import atexit
        atexit.register(shutil.rmtree, d, True)
        _cached = PKI(d).build()
    return _cached


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: pki.py DIR")
    PKI(sys.argv[1]).build()
