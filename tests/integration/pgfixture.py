"""pgfixture - a throwaway PostgreSQL server for integration tests.

    from pgfixture import PgServer
    with PgServer() as pg:          # initdb + start, on 127.0.0.1:<free port>
        run(pg.conninfo)            # "hostaddr=127.0.0.1 port=N dbname=sbtest user=postgres"
        pg.kill()                   # pg_ctl stop -m immediate (a crash)
        pg.start()                  # same data, same port
        pg.restart()                # kill + start

The server lives in a temporary directory (data and Unix socket), listens on
loopback TCP only, trusts every local connection, and is removed on stop(),
at the end of the with-block and, as a last resort, at interpreter exit.
Run as root, initdb/pg_ctl/postgres run as the `postgres` user (PostgreSQL
refuses to run as root) and the directory is chowned to it.  Every wait is
bounded (pg_ctl -w -t, subprocess timeouts).  Python 3 standard library only.

Environment: SB_PG_BINDIR overrides the directory holding initdb/pg_ctl
(default: the newest /usr/lib/postgresql/*/bin, else PATH).
"""

import atexit
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile

__all__ = ["PgServer", "PgError", "find_bindir", "free_port"]

WAIT_S = 30  # pg_ctl -t and every subprocess timeout


class PgError(RuntimeError):
    pass


def find_bindir():
    """The directory holding initdb and pg_ctl, newest major version first."""
    env = os.environ.get("SB_PG_BINDIR")
    if env:
        return env

    def major(path):
        m = re.search(r"/postgresql/(\d+)", path)
        return int(m.group(1)) if m else -1

    cands = [d for d in glob.glob("/usr/lib/postgresql/*/bin")
             if os.access(os.path.join(d, "initdb"), os.X_OK)]
    if cands:
        return max(cands, key=major)
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(initdb)
    raise PgError("initdb not found: install the postgresql package "
                  "or set SB_PG_BINDIR")


def free_port():
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """One PostgreSQL cluster in a temporary directory."""

    def __init__(self, dbname="sbtest", bindir=None, user="postgres"):
        self.bindir = bindir or find_bindir()
        self.dbname = dbname
        self.user = user          # the database superuser name
        self.port = None
        self.tmpdir = None
        self.datadir = None
        self.logfile = None
        self.running = False
        self._as_root = os.geteuid() == 0
        self._registered = False

    # -- helpers ---------------------------------------------------------

    def _bin(self, name):
        return os.path.join(self.bindir, name)

    def _run(self, argv, check=True):
        """Run a server tool, as `postgres` when we are root."""
        if self._as_root:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT,
                               timeout=WAIT_S + 10, text=True)
        except subprocess.TimeoutExpired:
            raise PgError("%s: timed out" % " ".join(argv))
        if check and p.returncode != 0:
            raise PgError("%s failed (%d):\n%s%s" % (
                " ".join(argv), p.returncode, p.stdout, self.log_tail()))
        return p

    def log_tail(self, n=20):
        """The last lines of the server log, for failure messages."""
        try:
            with open(self.logfile) as f:
                lines = f.readlines()[-n:]
            return "--- server log tail ---\n" + "".join(lines)
        except (OSError, TypeError):
            return ""

    @property
    def conninfo(self):
        """libpq conninfo: an address literal, never a name to look up."""
        return "hostaddr=127.0.0.1 port=%d dbname=%s user=%s" % (
            self.port, self.dbname, self.user)

    # -- life cycle ------------------------------------------------------

    def _init(self):
        self.tmpdir = tempfile.mkdtemp(prefix="sbpg-")
        if not self._registered:
            atexit.register(self.cleanup)
            self._registered = True
        self.datadir = os.path.join(self.tmpdir, "data")
        self.logfile = os.path.join(self.tmpdir, "server.log")
        if self._as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(self.tmpdir, pw.pw_uid, pw.pw_gid)
        self._run([self._bin("initdb"), "-D", self.datadir, "-A", "trust",
                   "-U", self.user, "-E", "UTF8", "--no-locale", "--no-sync"])
        # Speed over durability: the data is thrown away.
        with open(os.path.join(self.datadir, "postgresql.conf"), "a") as f:
            f.write("\n# pgfixture\n"
                    "listen_addresses = '127.0.0.1'\n"
                    "unix_socket_directories = '%s'\n"
                    "fsync = off\nsynchronous_commit = off\n"
                    "full_page_writes = off\n"
                    "max_connections = 20\nshared_buffers = 16MB\n"
                    "logging_collector = off\n" % self.tmpdir)

    def _pg_ctl_start(self):
        # The port is given on each start: restart() keeps it.
        return self._run([self._bin("pg_ctl"), "start", "-w", "-t",
                          str(WAIT_S), "-D", self.datadir, "-l", self.logfile,
                          "-o", "-p %d" % self.port], check=False)

    def start(self):
        """Create the cluster on first use, then start it; returns self."""
        if self.running:
            return self
        first = self.datadir is None
        if first:
            self._init()
        # A free port can be taken before the server binds it: on the first
        # start try a few; later starts must keep the port clients know.
        for _ in range(3 if first else 1):
            if first:
                self.port = free_port()
            p = self._pg_ctl_start()
            if p.returncode == 0:
                break
        else:
            raise PgError("pg_ctl start failed on port %d:\n%s%s" % (
                self.port, p.stdout, self.log_tail()))
        self.running = True
        if first:
            self._run([self._bin("createdb"), "-h", self.tmpdir, "-p",
                       str(self.port), "-U", self.user, self.dbname])
        return self

    def kill(self):
        """Stop at once, as a crash would (no checkpoint, clients cut)."""
        if self.running:
            self._run([self._bin("pg_ctl"), "stop", "-m", "immediate", "-w",
                       "-t", str(WAIT_S), "-D", self.datadir])
            self.running = False

    def stop(self):
        """Stop cleanly and delete everything."""
        if self.running:
            self._run([self._bin("pg_ctl"), "stop", "-m", "fast", "-w", "-t",
                       str(WAIT_S), "-D", self.datadir], check=False)
            self.running = False
        self.cleanup()

    def restart(self):
        """kill() then start() on the same port and data."""
        self.kill()
        return self.start()

    def cleanup(self):
        """Idempotent: stop whatever runs, remove the directory."""
        if self.running and self.datadir:
            self._run([self._bin("pg_ctl"), "stop", "-m", "immediate", "-w",
                       "-t", str(WAIT_S), "-D", self.datadir], check=False)
            self.running = False
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = self.datadir = None

    def psql(self, sql):
        """Run @sql through psql over the Unix socket; returns stdout."""
        p = subprocess.run([self._bin("psql"), "-X", "-A", "-t", "-v",
                            "ON_ERROR_STOP=1", "-h", self.tmpdir, "-p",
                            str(self.port), "-U", self.user, "-d",
                            self.dbname, "-c", sql],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=WAIT_S)
        if p.returncode != 0:
            raise PgError("psql %r failed: %s" % (sql, p.stderr))
        return p.stdout

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc):
        self.stop()
        return False
