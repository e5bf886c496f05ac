"""A real clamd (Debian's clamav-daemon) for the scan tests, offline.

No freshclam, no official database: the signature database is made here,
one body signature (.ndb: hex of MARK, any file type, any offset), so clamd
starts in about 0.1 s and finds MARK wherever it is, in a MIME body or a
base64 attachment it decodes. Run as root, clamd is started as nobody
(setpriv) in a directory nobody owns; its socket is made 0666 so the
gateway's worker, whoever it runs as, can connect.

    with Clamd(max_length="64K") as c:
        c.socket      # Unix socket path;  c.tcp: "127.0.0.1:PORT"
        c.stop(); c.start()          # an outage and the way back
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time

from conftest import free_port, wait_until

MARK = b"SEALGATE-TEST-SIGNATURE-7f3a91"
SIGNATURE = "Sg.Test.Body.UNOFFICIAL"     # clamd appends .UNOFFICIAL to our own
CLAMD = shutil.which("clamd") or "/usr/sbin/clamd"


def instream(addr, data, timeout=10):
    """Ask clamd directly (the raw protocol, not clamdscan, which cuts at
    StreamMaxLength silently): the reply without its NUL."""
    if addr.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(addr)
    else:
        host, port = addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=timeout)
    with s:
        s.sendall(b"zINSTREAM\0")
        for i in range(0, len(data), 65536):
            chunk = data[i:i + 65536]
            s.sendall(len(chunk).to_bytes(4, "big") + chunk)
        s.sendall(b"\0\0\0\0")
        out = b""
        while not out.endswith(b"\0"):
            b = s.recv(4096)
            if not b:
                break
            out += b
    return out.rstrip(b"\0").decode()


class Clamd:
    def __init__(self, max_length="1M"):
        self.dir = tempfile.mkdtemp(prefix="clam.", dir="/tmp")   # short: socket path
        self.socket = os.path.join(self.dir, "clamd.sock")
        self.port = free_port()
        self.tcp = f"127.0.0.1:{self.port}"
        os.mkdir(os.path.join(self.dir, "db"))
        with open(os.path.join(self.dir, "db", "sg.ndb"), "w") as f:
            f.write(f"Sg.Test.Body:0:*:{MARK.hex()}\n")
        self.conf = os.path.join(self.dir, "clamd.conf")
        with open(self.conf, "w") as f:
            f.write("Foreground yes\n"
                    f"LocalSocket {self.socket}\nLocalSocketMode 666\n"
                    f"TCPSocket {self.port}\nTCPAddr 127.0.0.1\n"
                    f"DatabaseDirectory {self.dir}/db\nTemporaryDirectory {self.dir}\n"
                    f"PidFile {self.dir}/clamd.pid\nLogFile {self.dir}/clamd.log\n"
                    f"StreamMaxLength {max_length}\n")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "nobody", "nogroup")
            for name in os.listdir(self.dir):
                shutil.chown(os.path.join(self.dir, name), "nobody", "nogroup")
        self.proc = None

    def start(self):
        prefix = (["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
                  if os.geteuid() == 0 else [])
        self.proc = subprocess.Popen(prefix + [CLAMD, "--foreground",
                                               f"--config-file={self.conf}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

        def pong():
            if self.proc.poll() is not None:
                raise AssertionError(f"clamd exited ({self.proc.returncode}): "
                                     + self.log())
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(1)
                    s.connect(self.socket)
                    s.sendall(b"zPING\0")
                    return s.recv(16) == b"PONG\0"
            except OSError:
                return False
        wait_until(pong, 20, interval=0.025, what="clamd PONG")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def log(self):
        try:
            with open(os.path.join(self.dir, "clamd.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_gone(path, timeout=5):
    wait_until(lambda: not os.path.exists(path), timeout, what=f"{path} removed")
    time.sleep(0)
