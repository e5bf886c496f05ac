"""A local HTTPS server for MTA-STS tests (test-peers notes, section 4).

    with PolicyServer(cert, key, policy_text) as srv:
        srv.port, srv.requests      # requests: paths asked for, in order

    PolicyServer(cert, key, policy_text, answer=fn): fn(host) may return
    (status, content type, body bytes, extra headers) to answer a request
    for that Host instead of the file, for the ways a fetch can fail.

The TLS handshake runs per connection in its thread (never in accept()),
so one idle client cannot stall the others. Files are served from a
temporary directory: /.well-known/mta-sts.txt is text/plain, as RFC 8461
requires.
"""
import functools
import http.server
import ssl
import tempfile
import threading
from pathlib import Path


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    ctx = None

    def finish_request(self, sock, addr):
        sock.settimeout(10)
        try:
            with self.ctx.wrap_socket(sock, server_side=True) as tls:
                super().finish_request(tls, addr)
        except (ssl.SSLError, OSError):
            pass


class PolicyServer:
    def __init__(self, cert, key, policy, answer=None):
        self.root = Path(tempfile.mkdtemp(prefix="sts."))
        (self.root / ".well-known").mkdir()
        (self.root / ".well-known" / "mta-sts.txt").write_text(policy)
        self.requests = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=str(outer.root), **kw)

            def do_GET(self):
                outer.requests.append(self.path)
                host = (self.headers.get("Host") or "").split(":")[0]
                special = answer(host) if answer else None
                if special is None:
                    super().do_GET()
                    return
                status, ctype, body, headers = special
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server.ctx.load_cert_chain(str(cert), str(key))
        self.port = self.server.server_address[1]
        self.thread = None

    def __enter__(self):
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
