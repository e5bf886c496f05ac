"""A real PostgreSQL 15 for cluster tests: initdb in a temporary directory.

The server runs as the unprivileged user postgres (initdb and pg_ctl
refuse root), listens on a Unix socket in its own directory only (no TCP
port to collide with), with fsync off (durable=True: as shipped, for the
benchmarks): the tests are about sealgate, not the database's durability. stop(mode="immediate") is an outage (the
restart recovers from WAL), start() the comeback.
"""
import os
import pwd
import shutil
import subprocess
import tempfile

PGBIN = "/usr/lib/postgresql/15/bin"
PSQL = "/usr/bin/psql"


class Postgres:
    def __init__(self, durable=False):
        self.durable = durable
        self.dir = tempfile.mkdtemp(prefix="pg.", dir="/tmp")
        self.port = 5432  # only names the socket file: no TCP listener
        pw = pwd.getpwnam("postgres")
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o755)
        self._as_pg([f"{PGBIN}/initdb", "-D", f"{self.dir}/data", "-U", "gw", "-A", "trust",
                     "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        self.start()

    def _as_pg(self, argv):
        subprocess.run(["runuser", "-u", "postgres", "--"] + argv, check=True,
                       capture_output=True, timeout=60)

    def _ctl(self, *args):
        opts = f"-k {self.dir} -c listen_addresses= -p {self.port}"
        if not self.durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"

        self._as_pg([f"{PGBIN}/pg_ctl", "-D", f"{self.dir}/data", "-l",
                     f"{self.dir}/server.log", "-w", "-t", "30", "-o", opts] + list(args))

    def start(self):
        self._ctl("start")

    def stop(self, mode="fast"):
        self._ctl("-m", mode, "stop")

    def conninfo(self, db):
        return f"host={self.dir} port={self.port} user=gw dbname={db}"

    def createdb(self, name):
        self.sql("postgres", f"CREATE DATABASE {name}")
        return self.conninfo(name)

    def sql(self, db, query):
        """Run query with psql; the rows as lists of strings."""
        r = subprocess.run([PSQL, "-X", "-A", "-t", "-F", "\t", "-h", self.dir, "-p",
                            str(self.port), "-U", "gw", "-d", db, "-c", query],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise AssertionError(f"psql {query!r}: {r.stderr}")
        return [line.split("\t") for line in r.stdout.splitlines() if line]

    def close(self):
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)
