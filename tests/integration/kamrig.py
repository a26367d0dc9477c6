"""kamrig - a real Kamailio 5.6 (edge proxy + presence server) for tests.

    import pgfixture, kamrig
    with pgfixture.PgServer() as pg:
        kamrig.load_kamailio_presence_schema(pg)    # the package's own DDL
        with kamrig.Kamailio(pg) as k:              # both answer OPTIONS
            send SUBSCRIBEs to 127.0.0.1:k.edge_port
            rows = kamrig.query(pg, "SELECT ... FROM active_watchers")

Two Kamailio processes, each in the foreground (-DD -E) as the current user,
each with its own config (tests/integration/kamailio/*.cfg, templated here),
-P pid file and -Y runtime dir in one temp dir, one UDP listener on a free
loopback port, no TCP, no ctl/jsonrpcs (so no control socket anywhere):

    phone --UDP--> edge (record_route, t_relay) --UDP--> presence
                   edge_port                             pres_port
                                                          presence + presence_mwi
                                                          subs_db_mode=3 (DB only)
                                                          PostgreSQL (PgServer)

The edge record-routes the initial SUBSCRIBE, so the presence server stores
a non-empty active_watchers.record_route (<sip:127.0.0.1:EDGE;lr;ftag=..>)
and its NOTIFYs, and a third party's, travel back through the edge.

Environment: SB_KAMAILIO overrides the kamailio binary; SB_KEEP=1 keeps the
temp dir.  Python 3 standard library only; every wait is bounded.
"""
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pgfixture
from sbtest import bounded, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
CFG_DIR = os.path.join(HERE, "kamailio")
SQL_DIR = os.path.join(HERE, "sql")
KAM_SQL_DIR = os.environ.get("SB_KAMAILIO_SQL", "/usr/share/kamailio/postgres")

__all__ = ["Kamailio", "KamailioError", "load_sql", "load_kamailio_presence_schema",
           "query", "find_kamailio", "options_ping"]


class KamailioError(RuntimeError):
    pass


def find_kamailio():
    """The kamailio binary (SB_KAMAILIO, PATH, /usr/sbin), or None."""
    exe = os.environ.get("SB_KAMAILIO")
    if exe:
        return exe
    return shutil.which("kamailio") or (
        "/usr/sbin/kamailio" if os.access("/usr/sbin/kamailio", os.X_OK) else None)


def find_mpath():
    """Kamailio's module directory (the multiarch one Debian uses)."""
    for d in sorted(glob.glob("/usr/lib/*/kamailio/modules")) + ["/usr/lib/kamailio/modules",
                                                                  "/usr/local/lib64/kamailio/modules"]:
        if os.path.exists(os.path.join(d, "presence_mwi.so")):
            return d
    raise KamailioError("no kamailio module directory with presence_mwi.so: "
                        "install kamailio-presence-modules (scripts/deps.sh test)")


# -- PostgreSQL ---------------------------------------------------------------

def _psql_argv(pg, *args):
    return [os.path.join(pg.bindir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
            pg.conninfo] + list(args)


def load_sql(pg, path):
    """Run one SQL file in pg's database over loopback TCP (psql -f)."""
    p = subprocess.run(_psql_argv(pg, "-f", path), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=bounded(30))
    if p.returncode != 0:
        raise pgfixture.PgError("psql -f %s failed: %s" % (path, p.stderr))
    return p.stdout


def load_kamailio_presence_schema(pg):
    """The presence tables and the version table as the installed Kamailio
    package creates them: standard-create.sql then presence-create.sql."""
    for name in ("standard-create.sql", "presence-create.sql"):
        path = os.path.join(KAM_SQL_DIR, name)
        if not os.path.exists(path):
            raise KamailioError("%s missing: install kamailio (scripts/deps.sh test)" % path)
        load_sql(pg, path)


def query(pg, sql):
    """Rows of a SELECT (or ... RETURNING) as dicts, through row_to_json."""
    wrapped = "SELECT row_to_json(q) FROM (%s) q" % sql.rstrip().rstrip(";")
    if not sql.lstrip().upper().startswith("SELECT"):
        # DML ... RETURNING cannot be a subquery; a CTE can hold it.
        wrapped = "WITH q AS (%s) SELECT row_to_json(q) FROM q" % sql.rstrip().rstrip(";")
    p = subprocess.run(_psql_argv(pg, "-A", "-t", "-c", wrapped), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=bounded(30))
    if p.returncode != 0:
        raise pgfixture.PgError("psql %r failed: %s" % (sql, p.stderr))
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


# -- SIP liveness ---------------------------------------------------------------

def options_ping(port, host="127.0.0.1", timeout=0.5):
    """One OPTIONS to sip:host:port over UDP; True on a 200 reply."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((host, 0))
        s.settimeout(timeout)
        lport = s.getsockname()[1]
        branch = "z9hG4bK" + uuid.uuid4().hex[:16]
        msg = ("OPTIONS sip:%s:%d SIP/2.0\r\n"
               "Via: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n"
               "Max-Forwards: 70\r\n"
               "From: <sip:probe@%s>;tag=%s\r\n"
               "To: <sip:%s:%d>\r\n"
               "Call-ID: %s@%s\r\n"
               "CSeq: 1 OPTIONS\r\n"
               "Content-Length: 0\r\n\r\n") % (host, port, host, lport, branch, host,
                                               uuid.uuid4().hex[:8], host, port,
                                               uuid.uuid4().hex, host)
        s.sendto(msg.encode(), (host, port))
        data, _ = s.recvfrom(65535)
        return data.startswith(b"SIP/2.0 200 ")
    except OSError:        # timeout, ICMP port unreachable
        return False
    finally:
        s.close()


# -- the rig ------------------------------------------------------------------

class Kamailio:
    """Edge proxy + presence server, started on construction."""

    NAMES = ("edge", "presence")

    def __init__(self, pg, start=True):
        self.pg = pg
        self.exe = find_kamailio()
        if not self.exe:
            raise KamailioError("kamailio not installed (scripts/deps.sh test)")
        self.dir = tempfile.mkdtemp(prefix="sbkam-")
        self.edge_port = free_port()
        self.pres_port = free_port()
        while self.pres_port == self.edge_port:
            self.pres_port = free_port()
        self.db_url = "postgres://%s@127.0.0.1:%d/%s" % (pg.user, pg.port, pg.dbname)
        self.procs = {}
        self.logfiles = {}
        subst = {"@EDGE_PORT@": str(self.edge_port), "@PRES_PORT@": str(self.pres_port),
                 "@DB_URL@": self.db_url, "@MPATH@": find_mpath()}
        self.cfg = {}
        for name in self.NAMES:
            with open(os.path.join(CFG_DIR, name + ".cfg")) as f:
                text = f.read()
            for k, v in subst.items():
                text = text.replace(k, v)
            left = re.findall(r"@[A-Z_]+@", text)
            if left:
                raise KamailioError("%s.cfg: no value for %s" % (name, ", ".join(left)))
            path = os.path.join(self.dir, name + ".cfg")
            with open(path, "w") as f:
                f.write(text)
            self.cfg[name] = path
            os.makedirs(os.path.join(self.dir, name + ".run"), exist_ok=True)
        if start:
            try:
                self.start()
            except BaseException:
                self.cleanup()
                raise

    @property
    def ports(self):
        return {"edge": self.edge_port, "presence": self.pres_port}

    def log_path(self, name):
        return os.path.join(self.dir, name + ".log")

    def _spawn(self, name):
        logf = open(self.log_path(name), "ab")
        self.logfiles[name] = logf
        argv = [self.exe, "-f", self.cfg[name], "-P", os.path.join(self.dir, name + ".pid"),
                "-Y", os.path.join(self.dir, name + ".run"), "-w", self.dir,
                "-DD", "-E", "-m", "64", "-M", "8"]
        # Its own session: stop() signals this process group and nothing else.
        self.procs[name] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def start(self):
        # Presence first: the edge relays to it.
        for name in ("presence", "edge"):
            self._spawn(name)
        deadline = time.monotonic() + bounded(20)
        for name in ("presence", "edge"):
            port = self.ports[name]
            while True:
                rc = self.procs[name].poll()
                if rc is not None:
                    raise KamailioError("kamailio %s exited %s:\n%s" % (name, rc, self.log(name)))
                if options_ping(port):
                    break
                if time.monotonic() > deadline:
                    raise KamailioError("kamailio %s did not answer OPTIONS on %d:\n%s"
                                        % (name, port, self.log(name)))
                time.sleep(0.1)
        return self

    def log(self, name=None):
        """One instance's log (stderr), or both, labelled."""
        if name is None:
            return "".join("---- kamailio %s (%s) ----\n%s\n" % (n, self.log_path(n), self.log(n))
                           for n in self.NAMES)
        try:
            with open(self.log_path(name), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def alive(self, name):
        p = self.procs.get(name)
        return p is not None and p.poll() is None

    def stop(self):
        """SIGTERM each process group; SIGKILL what is left after 5 s."""
        for name, p in self.procs.items():
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for name, p in self.procs.items():
            try:
                p.wait(timeout=bounded(5))
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(p.pid, signal.SIGKILL)   # children that outlived the main one
            except ProcessLookupError:
                pass
            if p.poll() is None:
                p.wait(timeout=bounded(5))
        for f in self.logfiles.values():
            f.close()
        self.logfiles = {}

    def cleanup(self):
        try:
            self.stop()
        finally:
            if os.environ.get("SB_KEEP"):
                print("kept", self.dir, file=sys.stderr)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        try:
            self.stop()
            if et is not None:
                sys.stderr.write(self.log())
        finally:
            self.cleanup()
        return False
