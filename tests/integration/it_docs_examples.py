"""The documentation's examples and references are true (issue 10).

Conventions for examples in docs/*.md and README.md (docs/README.md,
"Examples in these pages"):

  ```ini        a sipbridge config.  First line "; sipbridge.d/NAME.conf"
                (optionally with /etc/sipbridge/ before it): a drop-in,
                checked as the shipped etc/sipbridge.conf with its
                "#include sipbridge.d/*.conf" line uncommented plus this
                file in sipbridge.d/.  Otherwise a complete file.  Paths
                under /etc/sipbridge/tls/ are rewritten to certificates
                this test makes with openssl (--check-config checks that
                they can be read).  Every one: sipbridged --check-config
                -c FILE exits 0.
  ```kamailio   a complete Kamailio config: kamailio -c -f FILE exits 0
                (needs the kamailio, kamailio-presence-modules and
                kamailio-postgres-modules packages).  The Kamailio guide's
                configs are also run (KamailioGuideLive): Kamailio, the
                guide's sipbridge config and PostgreSQL on loopback, with
                probes, a conference and an MWI NOTIFY through Kamailio.
  ```text       whose first line is "# /etc/kamailio/dispatcher.list": the
                list file of the Kamailio config of the same page.
  ```opensips   an OpenSIPS 3.x script.  OpenSIPS is not packaged in
                Debian 12: every module, modparam and function it uses is
                checked against OpenSIPS 3.6.8's (tables below), braces
                and route names too.
  ```asterisk   an Asterisk config file named by its first line
                ("; /etc/asterisk/pjsip.conf").  Asterisk is not packaged
                in Debian 12: every option is checked against the options
                Asterisk registers for that object type (tables below),
                and the two sides of the guide against each other.
  ```sh         sipbridgectl and sipbridged command lines: commands and
                options that their --help lists.

It also checks the references against the source: every config key of
every type the parser knows is in docs/config.md's tables with the range
the code enforces and the default the code uses, and is used by at least
one example; every control request, error code and event topic is in
docs/control-protocol.md, and a running daemon knows every request the
document has a heading for.  Relative links between the docs resolve.

A failure names the doc file and line of the example.  Each checker has a
test that feeds it a broken example and sees it fail.
"""
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile

import sbtest

SOURCE = sbtest.SOURCE
DOCS = os.path.join(SOURCE, "docs")
SHIPPED = os.path.join(SOURCE, "etc", "sipbridge.conf")
TLS_PREFIX = "/etc/sipbridge/tls/"
DROPIN_RE = re.compile(r"^;\s*(?:/etc/sipbridge/)?sipbridge\.d/([\w.-]+\.conf)\s*$")
INCLUDE_OFF = ";#include sipbridge.d/*.conf"

# Examples each page must keep (so that a lost example fails), and in all.
MIN_INI = {"config.md": 12, "quickstart.md": 4, "conference.md": 1, "mwi.md": 1,
           "publish.md": 1, "integration-kamailio.md": 1, "integration-asterisk.md": 1,
           "integration-opensips.md": 1, "metrics.md": 1}
MIN_INI_TOTAL = 23



def doc_files():
    names = sorted(f for f in os.listdir(DOCS) if f.endswith(".md"))
    return [os.path.join(DOCS, f) for f in names] + [os.path.join(SOURCE, "README.md")]


def rel(path):
    return os.path.relpath(path, SOURCE)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


class Block:
    """A fenced code block: its file, the line of its first content line,
    its info string and its text."""

    def __init__(self, path, line, info, text):
        self.path, self.line, self.info, self.text = path, line, info, text

    @property
    def where(self):
        return "%s:%d" % (rel(self.path), self.line)

    @property
    def first(self):
        return self.text.split("\n", 1)[0]


def blocks(path):
    out, fence, info, start, buf = [], None, None, 0, []
    for n, line in enumerate(read(path).split("\n"), 1):
        if fence is None:
            m = re.match(r"^(\s*)(`{3,})\s*([\w.+-]*)", line)
            if m:
                fence, indent, info, start, buf = m.group(2), len(m.group(1)), m.group(3), n + 1, []
        elif re.match(r"^\s*" + fence + r"\s*$", line):
            out.append(Block(path, start, info, "\n".join(buf) + "\n"))
            fence = None
        else:
            buf.append(line[indent:] if line[:indent].strip() == "" else line)
    return out


def all_blocks(info=None):
    return [b for p in doc_files() for b in blocks(p) if info is None or b.info == info]


# -- sipbridge configs ------------------------------------------------------------


def make_certs(d):
    """A CA and a certificate it signed, for the TLS examples."""
    os.makedirs(d, exist_ok=True)

    def openssl(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True,
                       timeout=sbtest.bounded(30))
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=docs CA")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "key.pem", "-out", "cert.csr", "-subj", "/CN=sipbridge")
    openssl("x509", "-req", "-in", "cert.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "cert.pem", "-days", "2")


def check_config(path):
    return subprocess.run([sbtest.DAEMON, "--check-config", "-c", path], capture_output=True,
                          text=True, timeout=sbtest.bounded(20))


class Checked:
    """One --check-config run of one or more ini blocks."""

    def __init__(self, rc, out, files):
        self.rc, self.out, self.files = rc, out, files   # files: tmp path -> Block

    def explain(self):
        """The output with each FILE:LINE of an example turned into the doc's
        file and line."""
        lines = []
        for l in self.out.splitlines():
            m = re.match(r"^(.*?):(\d+): (.*)$", l)
            if m and m.group(1) in self.files:
                b = self.files[m.group(1)]
                l = "%s:%d: %s" % (rel(b.path), b.line + int(m.group(2)) - 1, m.group(3))
            lines.append(l)
        return "\n".join(lines)


def run_blocks(tmp, bs):
    """Check @p bs together: one complete file, or drop-ins (any number)
    with the shipped file.  @return Checked."""
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "sipbridge.d"))
    files = {}
    tls = os.path.join(os.path.dirname(tmp), "tls") + "/"
    dropins = [b for b in bs if DROPIN_RE.match(b.first)]
    if dropins:
        assert len(dropins) == len(bs), "a complete file cannot be checked with drop-ins"
        shipped = read(SHIPPED)
        assert INCLUDE_OFF in shipped, "etc/sipbridge.conf lost its '%s' line" % INCLUDE_OFF
        main = os.path.join(tmp, "sipbridge.conf")
        write(main, shipped.replace(INCLUDE_OFF, INCLUDE_OFF[1:]))
        for b in bs:
            p = os.path.join(tmp, "sipbridge.d", DROPIN_RE.match(b.first).group(1))
            assert p not in files, "%s: two drop-ins named %s" % (b.where, os.path.basename(p))
            write(p, b.text.replace(TLS_PREFIX, tls))
            files[p] = b
    else:
        assert len(bs) == 1
        main = os.path.join(tmp, "example.conf")
        write(main, bs[0].text.replace(TLS_PREFIX, tls))
        files[main] = bs[0]
    r = check_config(main)
    return Checked(r.returncode, r.stdout + r.stderr, files)


def ini_sections(text):
    """[(name, type, [(key, value)])] of an INI text (comments dropped)."""
    out, cur = [], None
    for line in text.splitlines():
        s = re.sub(r"(?<!\\);.*$", "", line).strip()
        if not s or s.startswith("#"):
            continue
        m = re.match(r"^\[([^\]]+)\]$", s)
        if m:
            cur = [m.group(1).strip(), None, []]
            out.append(cur)
            continue
        m = re.match(r"^([^=]+?)\s*=>?\s*(.*)$", s)
        if m and cur is not None:
            k, v = m.group(1).strip(), m.group(2).strip()
            if k == "type":
                cur[1] = v
            else:
                cur[2].append((k, v))
    return [tuple(x) for x in out]


class SipbridgeExamples(sbtest.unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sbdocs-")
        make_certs(os.path.join(cls.tmp, "tls"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_every_ini_example_passes_check_config(self):
        bs = all_blocks("ini")
        per_file = {}
        for b in bs:
            per_file[os.path.basename(b.path)] = per_file.get(os.path.basename(b.path), 0) + 1
            with self.subTest(example=b.where):
                r = run_blocks(os.path.join(self.tmp, "ex"), [b])
                self.assertEqual(r.rc, 0, "%s: the example fails --check-config:\n%s"
                                 % (b.where, r.explain()))
                self.assertIn("configuration OK", r.out)
        for name, n in MIN_INI.items():
            self.assertGreaterEqual(per_file.get(name, 0), n, "docs/%s lost an ini example" % name)
        self.assertGreaterEqual(len(bs), MIN_INI_TOTAL)
        print("\n  %d ini examples checked with --check-config (%s)" % (
            len(bs), ", ".join("%s %d" % kv for kv in sorted(per_file.items()))))

    def test_quickstart_drop_ins_together(self):
        """The quick start's files all end up in one sipbridge.d/."""
        bs = [b for b in blocks(os.path.join(DOCS, "quickstart.md"))
              if b.info == "ini" and DROPIN_RE.match(b.first)]
        self.assertGreaterEqual(len(bs), 3)
        r = run_blocks(os.path.join(self.tmp, "qs"), bs)
        self.assertEqual(r.rc, 0, r.explain())

    def test_broken_example_fails_and_names_the_doc_line(self):
        """The check can fail: a typo in a real example is caught, and the
        message points at the doc line of the typo."""
        b = next(b for b in blocks(os.path.join(DOCS, "config.md"))
                 if b.info == "ini" and "[conf-100]" in b.text)
        lines = b.text.split("\n")
        i = next(n for n, l in enumerate(lines) if l.startswith("max_participants"))
        lines[i] = "max_participant = 50"
        broken = Block(b.path, b.line, b.info, "\n".join(lines))
        r = run_blocks(os.path.join(self.tmp, "broken"), [broken])
        self.assertEqual(r.rc, 1, r.out)
        self.assertIn("docs/config.md:%d: [conf-100] key 'max_participant': unknown key"
                      % (b.line + i), r.explain())
        # A complete example with an error too.
        b = next(b for b in blocks(os.path.join(DOCS, "config.md"))
                 if b.info == "ini" and "[transport-tls]" in b.text)
        broken = Block(b.path, b.line, b.info, b.text.replace("verify_depth = 4", "verify_depth = 0"))
        r = run_blocks(os.path.join(self.tmp, "broken"), [broken])
        self.assertEqual(r.rc, 1, r.out)
        self.assertIn("verify_depth", r.explain())

    def test_blocks_are_found(self):
        """The fence parser sees every fence (an unclosed one would swallow
        the rest of a page)."""
        for p in doc_files():
            with self.subTest(doc=rel(p)):
                fences = [l for l in read(p).split("\n") if re.match(r"^\s*```", l)]
                self.assertEqual(len(fences) % 2, 0, "odd number of ``` lines")
                self.assertEqual(len(blocks(p)), len(fences) // 2)


# -- the config reference against the source -------------------------------------------


def c_sources():
    out = []
    for root, _, names in os.walk(os.path.join(SOURCE, "src")):
        out += [os.path.join(root, n) for n in names if n.endswith(".c")]
    return sorted(out)


def c_number(expr):
    """A key table's min/max: digits, u suffixes, CFG_K/M/G, << and *."""
    e = re.sub(r"(\d+)(?:ull|ul|u|ll|l)\b", r"\1", expr.strip(), flags=re.I)
    e = e.replace("CFG_K", "1024").replace("CFG_M", "1048576").replace("CFG_G", "1073741824")
    if not re.match(r"^[\d\s*<()+]+$", e):
        raise ValueError(expr)
    return int(eval(e))  # digits and operators only, checked above


def source_schema():
    """{type: {key: (kind, flags, min, max, file)}} from the cfg_key tables
    and the cfg_type definitions in src/."""
    tables, types = {}, {}
    for path in c_sources():
        text = read(path)
        for m in re.finditer(r"static const struct cfg_key (\w+)\[\] = \{(.*?)\n\};", text, re.S):
            keys = {}
            for e in re.finditer(r"\{\s*\"([^\"]+)\",\s*(CFG_\w+),\s*([^,]+),\s*([^,]+),\s*([^,]+),",
                                 m.group(2)):
                keys[e.group(1)] = (e.group(2), e.group(3).strip(), c_number(e.group(4)),
                                    c_number(e.group(5)), path)
            tables[m.group(1)] = keys
        for m in re.finditer(r"\{\s*\"([a-z][a-z-]*)\",\s*(\w+_keys)\b", text):
            types[m.group(1)] = m.group(2)
        for m in re.finditer(r"\.type\s*=\s*\"([a-z][a-z-]*)\",\s*\.keys\s*=\s*(\w+)", text):
            types[m.group(1)] = m.group(2)
    return {t: tables[k] for t, k in types.items() if k in tables}


def known_types():
    """The types the daemon itself lists for an unknown one."""
    d = tempfile.mkdtemp(prefix="sbdocs-types-")
    try:
        p = os.path.join(d, "x.conf")
        write(p, "[x]\ntype = no-such-type\n")
        r = check_config(p)
        m = re.search(r"unknown type \(known: ([^)]*)\)", r.stderr)
        assert m, r.stderr
        return {t.strip() for t in m.group(1).split(",")}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def config_tables():
    """{type: {key: row text}}, and {type: {key: default cell}}, from the
    tables under each '### type=...' heading of docs/config.md."""
    rows, defaults, cur, dcol = {}, {}, None, None
    for line in read(os.path.join(DOCS, "config.md")).splitlines():
        if line.startswith("#"):
            cur = re.findall(r"type=([\w-]+)", line) if line.startswith("### ") else None
            for t in cur or ():
                rows.setdefault(t, {})
                defaults.setdefault(t, {})
            continue
        if not cur or not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if all(re.match(r"^:?-*:?$", c) for c in cells):
            continue
        if "`" not in line:
            dcol = cells.index("default") if "default" in cells else None
            continue
        keycell = next((c for c in cells if c.startswith("`")), None)
        if keycell is None:
            continue
        rowtypes = [cells[0]] if cells[0] in cur else cur
        for key in re.findall(r"`([^`]+)`", keycell):
            for t in rowtypes:
                rows[t][key] = line
                defaults[t][key] = cells[dcol] if dcol is not None and dcol < len(cells) else ""
    return rows, defaults


def example_keys():
    """{type: set of keys} used by the ini examples of all the docs."""
    used = {}
    for b in all_blocks("ini"):
        for _, t, kvs in ini_sections(b.text):
            if t:
                used.setdefault(t, set()).update(k for k, _ in kvs)
    return used


def key_matches(pattern, key):
    return key.startswith(pattern[:-1]) if pattern.endswith("*") else key == pattern


def size_text(n):
    for suffix, unit in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= unit and n % unit == 0:
            return "%d%s" % (n // unit, suffix)
    return str(n)


def doc_number(s):
    m = re.match(r"^(\d+)([KMG]?)$", s)
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)]


def source_defaults(schema):
    """{(type, key): value} for the defaults the code passes to
    cfg_get_uint/size/bool as a literal, when the key belongs to one type
    of that source file."""
    out = {}
    for path in c_sources():
        text = read(path)
        file_types = [t for t, keys in schema.items()
                      if any(v[4] == path for v in keys.values())]
        for m in re.finditer(r"cfg_get_(uint|size|bool)\(\s*\w+,\s*\"(\w+)\",\s*([^;]+?)\)\s*[;:]",
                             text):
            kind, key, expr = m.groups()
            owners = [t for t in file_types if key in schema[t]]
            if len(owners) != 1:
                continue
            if kind == "bool":
                if expr.strip() in ("true", "false"):
                    out[(owners[0], key)] = expr.strip() == "true"
                continue
            try:
                out[(owners[0], key)] = c_number(expr)
            except (ValueError, SyntaxError):
                continue
    return out


def range_problems(schema, rows):
    """(number of keys checked, [problems]): the range of every integer and
    size key must be written in its row as MIN..MAX."""
    n, bad = 0, []
    for t, keys in sorted(schema.items()):
        for key, (kind, _, lo, hi, _) in sorted(keys.items()):
            if kind not in ("CFG_UINT", "CFG_SIZE") or key not in rows.get(t, {}):
                continue
            n += 1
            row = rows[t][key]
            ranges = {(doc_number(a), doc_number(b))
                      for a, b in re.findall(r"(\d+[KMG]?)\.\.(\d+[KMG]?)", row)}
            if (lo, hi) not in ranges:
                fmt = size_text if kind == "CFG_SIZE" else str
                bad.append("type=%s %s: the code takes %s..%s; docs/config.md: %s"
                           % (t, key, fmt(lo), fmt(hi), row))
    return n, bad


def default_problems(found, defaults):
    """(number checked, [problems]): each literal default of the code must be
    the first `value` of the key's default cell."""
    n, bad = 0, []
    for (t, key), value in sorted(found.items()):
        n += 1
        cell = defaults.get(t, {}).get(key, "")
        m = re.search(r"`([^`]+)`", cell)
        if m is None:
            bad.append("type=%s %s: no default in %r" % (t, key, cell))
        elif isinstance(value, bool):
            if m.group(1) != ("yes" if value else "no"):
                bad.append("type=%s %s: docs say %s, code %s" % (t, key, m.group(1), value))
        elif doc_number(m.group(1)) != value:
            bad.append("type=%s %s: docs say %s, code %s" % (t, key, m.group(1), value))
    return n, bad


class ConfigReference(sbtest.unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.schema = source_schema()
        cls.rows, cls.defaults = config_tables()

    def test_source_types_are_the_daemons(self):
        """The extraction from src/ finds every type the daemon knows."""
        known = known_types()
        self.assertEqual(set(self.schema), known)
        self.assertGreaterEqual(len(known), 14)

    def test_every_key_is_in_the_reference(self):
        n = 0
        for t, keys in sorted(self.schema.items()):
            with self.subTest(type=t):
                self.assertIn(t, self.rows, "docs/config.md has no '### type=%s' table" % t)
            for key in keys:
                n += 1
                with self.subTest(type=t, key=key):
                    documented = self.rows.get(t, {})
                    self.assertTrue(any(key_matches(key, k) for k in documented),
                                    "docs/config.md: type=%s key %s is not in its table" % (t, key))
        self.assertGreaterEqual(n, 90)

    def test_every_documented_key_exists(self):
        for t, keys in self.rows.items():
            for key in keys:
                with self.subTest(type=t, key=key):
                    self.assertIn(t, self.schema, "docs/config.md documents an unknown type=%s" % t)
                    self.assertTrue(any(key_matches(k, key) for k in self.schema[t]),
                                    "docs/config.md: type=%s has no key %s in src/" % (t, key))

    def test_ranges_are_the_codes(self):
        """Every integer and size key's row gives the range the code checks."""
        n, bad = range_problems(self.schema, self.rows)
        self.assertEqual(bad, [])
        self.assertGreaterEqual(n, 30)

    def test_defaults_are_the_codes(self):
        """Where the code reads a key with a literal default, the table says
        the same."""
        n, bad = default_problems(source_defaults(self.schema), self.defaults)
        self.assertEqual(bad, [])
        self.assertGreaterEqual(n, 35)

    def test_every_key_has_an_example(self):
        used = example_keys()
        for t, keys in sorted(self.schema.items()):
            for key in keys:
                with self.subTest(type=t, key=key):
                    self.assertTrue(any(key_matches(key, k) for k in used.get(t, ())),
                                    "no ini example uses type=%s key %s" % (t, key))

    def test_checker_can_fail(self):
        rows = {t: dict(k) for t, k in self.rows.items()}
        del rows["mwi"]["listen_channel"]
        missing = [k for k in self.schema["mwi"] if not any(key_matches(k, d) for d in rows["mwi"])]
        self.assertEqual(missing, ["listen_channel"])
        rows["conference"]["max_participants"] = rows["conference"]["max_participants"].replace(
            "1..100000", "1..10000")
        self.assertEqual(len(range_problems(self.schema, rows)[1]), 1)
        defaults = {t: dict(k) for t, k in self.defaults.items()}
        defaults["api"]["session_timer"] = defaults["api"]["session_timer"].replace("1800", "3600")
        defaults["limits"]["max_message"] = defaults["limits"]["max_message"].replace("2M", "4M")
        defaults["transport"]["verify_server"] = "`no`"
        self.assertEqual(len(default_problems(source_defaults(self.schema), defaults)[1]), 3)


# -- the control protocol reference against the source ----------------------------------


def source_requests():
    names = set()
    for path in c_sources():
        text = read(path)
        names.update(re.findall(r"ctl_register\([^,]+,\s*\"([a-z_]+)\"", text))
        names.update(re.findall(r"\{\s*\"([a-z_]+)\",\s*api_req_\w+\s*\}", text))
    return names


def source_error_codes():
    codes = {}
    for root in ("include", "src"):
        for d, _, names in os.walk(os.path.join(SOURCE, root)):
            for n in names:
                if n.endswith((".c", ".h")):
                    for m in re.finditer(r"#define\s+((?:CTL|API)_ERR_\w+)\s+(\d+)",
                                         read(os.path.join(d, n))):
                        codes[int(m.group(2))] = m.group(1)
    return codes


def source_topics():
    topics = set()
    for path in c_sources():
        topics.update(re.findall(r"ctl_publish\([^,]+,\s*\"([a-z_]+)\"", read(path)))
    return topics


def doc_error_codes(text):
    """Codes in the first column of the error tables."""
    codes = set()
    for line in text.splitlines():
        m = re.match(r"^\|\s*([\d, ]+?)\s*\|", line)
        if m:
            codes.update(int(c) for c in re.findall(r"\d+", m.group(1)))
    return codes


def doc_heading_requests(text):
    names = set()
    for line in text.splitlines():
        if re.match(r"^#{3,4} ", line) and not re.match(r"^#{3,4} Topic ", line):
            names.update(re.findall(r"`([a-z_]+)`", line))
    return names


class ControlReference(sbtest.unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.doc = read(os.path.join(DOCS, "control-protocol.md"))

    def test_every_request_is_documented(self):
        names = source_requests()
        self.assertGreaterEqual(len(names), 45)
        for n in sorted(names):
            with self.subTest(request=n):
                self.assertIn("`%s`" % n, self.doc)

    def test_every_error_code_is_documented(self):
        codes = source_error_codes()
        self.assertGreaterEqual(len(codes), 15)
        documented = doc_error_codes(self.doc)
        for c in sorted(codes):
            with self.subTest(code=c, name=codes[c]):
                self.assertIn(c, documented)
        for c in sorted(documented):
            with self.subTest(documented=c):
                self.assertIn(c, codes, "control-protocol.md documents error %d, unknown to src/" % c)

    def test_every_topic_is_documented(self):
        topics = source_topics()
        self.assertGreaterEqual(len(topics), 5)
        rows = set(re.findall(r"^\| `([a-z_]+)` \|", self.doc, re.M))
        for t in sorted(topics):
            with self.subTest(topic=t):
                self.assertIn(t, rows, "topic %s not in the topics table" % t)
        for t in sorted(rows & {"log"}):
            self.fail("topic %s is documented but never published" % t)

    def test_documented_requests_exist_in_a_running_daemon(self):
        names = doc_heading_requests(self.doc)
        self.assertGreaterEqual(len(names), 35)
        with sbtest.Daemon() as d:
            c = d.client()
            try:
                for n in sorted(names):
                    with self.subTest(request=n):
                        r = c.request({"request": n})
                        self.assertFalse(r.get("error_code") == 442 and "unknown request"
                                         in r.get("error", ""), (n, r))
                r = c.request({"request": "no_such_request"})
                self.assertEqual(r.get("error_code"), 442)
            finally:
                c.close()

    def test_checker_can_fail(self):
        self.assertNotIn(999, doc_error_codes(self.doc))
        self.assertIn(447, doc_error_codes(self.doc))
        self.assertNotIn("`no_such_request`", self.doc)


# -- Kamailio -----------------------------------------------------------------------------


def kamailio_binary():
    return os.environ.get("SB_KAMAILIO") or shutil.which("kamailio") or "/usr/sbin/kamailio"


def kamailio_check(tmp, text):
    p = os.path.join(tmp, "kamailio.cfg")
    write(p, text)
    r = subprocess.run([kamailio_binary(), "-c", "-f", p], capture_output=True, text=True,
                       timeout=sbtest.bounded(30), cwd=tmp)
    return r.returncode, r.stdout + r.stderr


def guide_ini(path):
    """The sipbridge config of a guide: its one complete ini block."""
    bs = [b for b in blocks(path) if b.info == "ini" and not DROPIN_RE.match(b.first)]
    assert len(bs) == 1, "%s: %d complete ini examples" % (rel(path), len(bs))
    return bs[0], ini_sections(bs[0].text)


def sections_of(secs, typ):
    return [(n, dict(kv), kv) for n, t, kv in secs if t == typ]


class KamailioExamples(sbtest.unittest.TestCase):
    GUIDE = os.path.join(DOCS, "integration-kamailio.md")

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sbdocs-kam-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_kamailio_configs_pass_kamailio_c(self):
        bs = all_blocks("kamailio")
        self.assertGreaterEqual(len(bs), 1)
        for b in bs:
            with self.subTest(example=b.where):
                rc, out = kamailio_check(self.tmp, b.text)
                self.assertEqual(rc, 0, "%s: kamailio -c fails:\n%s" % (b.where, out))
                self.assertIn("config file ok", out)
        print("\n  %d Kamailio config(s) checked with kamailio -c" % len(bs))

    def test_broken_kamailio_config_fails(self):
        b = all_blocks("kamailio")[0]
        for old, new in (("ds_select_dst(", "ds_select_destination("),
                         ('"hash_pvar"', '"hash_pvars"'), ('loadmodule "presence.so"', "")):
            with self.subTest(broken=new):
                self.assertIn(old, b.text)
                rc, out = kamailio_check(self.tmp, b.text.replace(old, new, 1))
                self.assertNotEqual(rc, 0, out)

    def test_dispatcher_list_and_both_sides_agree(self):
        cfg = next(b for b in blocks(self.GUIDE) if b.info == "kamailio").text
        lst = [b for b in blocks(self.GUIDE) if b.info == "text"
               and b.first.strip() == "# /etc/kamailio/dispatcher.list"]
        self.assertEqual(len(lst), 1)
        self.assertIn('"list_file", "/etc/kamailio/dispatcher.list"', cfg)
        dests = []
        for line in lst[0].text.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            m = re.match(r"^(\d+)\s+(sips?:\S+)(?:\s+(\d+)(?:\s+(\d+)(?:\s+(\S+))?)?)?\s*$", line)
            self.assertIsNotNone(m, "%s: bad dispatcher.list line %r" % (lst[0].where, line))
            dests.append((m.group(1), m.group(2)))
        sets = set(re.findall(r'ds_(?:select_dst|is_from_list)\("(\d+)"', cfg))
        self.assertEqual(sets, {s for s, _ in dests})
        b, secs = guide_ini(self.GUIDE)
        binds = {v["bind"] for _, v, _ in sections_of(secs, "transport")}
        self.assertIn(dests[0][1], {"sip:" + x for x in binds},
                      "the first dispatcher destination is the guide's sipbridge")
        listen = re.findall(r"^listen=udp:([\d.]+):(\d+)", cfg, re.M)
        self.assertEqual(len(listen), 1)
        kam_ip, kam_port = listen[0]
        match = [v["match"] for _, v, _ in sections_of(secs, "identify")]
        self.assertIn(kam_ip, match, "sipbridge identifies Kamailio by its address")
        mwi = sections_of(secs, "mwi")[0][1]
        self.assertEqual(mwi["proxy"], "sip:%s:%s" % (kam_ip, kam_port))
        db = re.search(r'#!define DBURL "postgres://[^@]+@([\d.]+)/(\w+)"', cfg)
        conninfo = sections_of(secs, "database")[0][1]["conninfo"]
        self.assertIn("hostaddr=%s" % db.group(1), conninfo)
        self.assertIn("dbname=%s" % db.group(2), conninfo)
        self.assertIn('"subs_db_mode", 3', cfg)
        users = {v["user"] for _, v, _ in sections_of(secs, "conference")}
        prefix = re.search(r'\$rU =~ "\^([\w-]+)"', cfg).group(1)
        self.assertTrue(users and all(u.startswith(prefix) for u in users), users)


class KamailioGuideLive(sbtest.unittest.TestCase):
    """The Kamailio guide's configs, run: Kamailio with its kamailio.cfg and
    dispatcher.list in front of sipbridged with its sipbridge config, and a
    throwaway PostgreSQL with the tables of Debian's kamailio package.  Only
    what SUBST lists is rewritten: addresses and ports (Kamailio and the
    phones on 127.0.0.1, sipbridge on 127.0.0.2, the second, absent,
    instance on 127.0.0.3), the database, the paths, stderr logging and a
    1 s probe interval instead of 10 s.

    - dispatcher: Kamailio's OPTIONS probes reach sipbridge (answered 200);
    - conference: two sipp members join conf-100 through Kamailio (hash over
      the user part; the absent instance is skipped), one speaks, the other
      gets it through the Route set Kamailio record-routed, both leave;
    - MWI: a sipp phone subscribes to sip:1000@example.com at Kamailio
      (presence, subs_db_mode=3), sipbridge's mwi_notify sends its NOTIFY
      through Kamailio (the no-Route relay rule), the phone gets it, and
      Kamailio's own next NOTIFY continues above its CSeq.
    """

    GUIDE = os.path.join(DOCS, "integration-kamailio.md")

    def setUp(self):
        import pgfixture
        import kamrig
        self.kamrig = kamrig
        self.tmp = tempfile.mkdtemp(prefix="sbdocs-live-")
        self.procs = []
        self.pg = pgfixture.PgServer()
        self.pg.__enter__()
        kamrig.load_kamailio_presence_schema(self.pg)
        self.k_port = sbtest.free_port()
        self.s_port = sbtest.free_port(host="127.0.0.2")
        self.dead_port = sbtest.free_port(host="127.0.0.3")
        db_url = "postgres://%s@127.0.0.1:%d/%s" % (self.pg.user, self.pg.port, self.pg.dbname)
        k = "127.0.0.1:%d" % self.k_port
        s = "127.0.0.2:%d" % self.s_port
        self.subst = {
            "kamailio": [("192.0.2.10:5060", k),
                         ('"postgres://kamailio:kamailiorw@192.0.2.5/kamailio"', '"%s"' % db_url),
                         ("/etc/kamailio/dispatcher.list", os.path.join(self.tmp, "dispatcher.list")),
                         ("unix:/run/kamailio/kamailio_ctl",
                          "unix:" + os.path.join(self.tmp, "kamailio_ctl")),
                         ('"ds_ping_interval", 10', '"ds_ping_interval", 1'),
                         ("log_stderror=no", "log_stderror=yes")],
            "list": [("192.0.2.21:5060", s), ("192.0.2.22:5060", "127.0.0.3:%d" % self.dead_port)],
            "ini": [("192.0.2.21:5060", s), ("192.0.2.10:5060", k), ("192.0.2.10", "127.0.0.1"),
                    ("/var/lib/sipbridge", os.path.join(self.tmp, "state")),
                    ("/run/sipbridge/control.sock", os.path.join(self.tmp, "control.sock")),
                    ("hostaddr=192.0.2.5 dbname=kamailio user=sipbridge", self.pg.conninfo)],
        }

    def tearDown(self):
        for p, log in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                    p.wait(timeout=sbtest.bounded(10))
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait(timeout=sbtest.bounded(10))
            log.close()
        self.pg.__exit__(None, None, None)
        if not os.environ.get("SB_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def rewrite(self, what, text):
        for old, new in self.subst[what]:
            self.assertIn(old, text, "the guide's %s config no longer has %r" % (what, old))
            text = text.replace(old, new)
        return text

    def spawn(self, name, argv):
        log = open(os.path.join(self.tmp, name + ".log"), "wb")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True, cwd=self.tmp)
        self.procs.append((p, log))
        return p

    def logs(self):
        out = ""
        for name in ("kamailio", "sipbridged"):
            path = os.path.join(self.tmp, name + ".log")
            if os.path.exists(path):
                with open(path, "rb") as f:
                    out += "---- %s ----\n%s\n" % (name, f.read().decode(errors="replace")[-6000:])
        return out

    def ctl(self, *args):
        return subprocess.run([sbtest.CTL, "-s", os.path.join(self.tmp, "control.sock")]
                              + list(args), capture_output=True, text=True,
                              timeout=sbtest.bounded(15))

    def status(self):
        c = sbtest.Client(os.path.join(self.tmp, "control.sock"))
        try:
            return c.request({"request": "status"})["data"]
        finally:
            c.close()

    def member(self, name, scenario, extra=()):
        port = sbtest.free_port()
        argv = ["sipp", "-sf", os.path.join(sbtest.SIPP_DIR, scenario),
                "127.0.0.1:%d" % self.k_port, "-i", "127.0.0.1", "-p", str(port), "-t", "u1",
                "-m", "1", "-nostdin", "-timeout", "%ds" % sbtest.bounded(40), "-timeout_error",
                "-key", "conf", "conf-100", "-key", "user", name, "-key", "dn", name.title(),
                "-trace_msg", "-message_file", os.path.join(self.tmp, name + ".msg")] + list(extra)
        return self.spawn(name, argv)

    def test_guide_configs_run(self):
        kam = next(b for b in blocks(self.GUIDE) if b.info == "kamailio")
        lst = next(b for b in blocks(self.GUIDE) if b.info == "text")
        ini, _ = guide_ini(self.GUIDE)
        write(os.path.join(self.tmp, "kamailio.cfg"), self.rewrite("kamailio", kam.text))
        write(os.path.join(self.tmp, "dispatcher.list"), self.rewrite("list", lst.text))
        write(os.path.join(self.tmp, "sipbridge.conf"), self.rewrite("ini", ini.text))
        sb = self.spawn("sipbridged", sbtest.WRAPPER + [sbtest.DAEMON, "-f", "-c",
                                                        os.path.join(self.tmp, "sipbridge.conf")])
        kamailio = self.spawn("kamailio", [kamailio_binary(), "-f",
                                           os.path.join(self.tmp, "kamailio.cfg"),
                                           "-P", os.path.join(self.tmp, "kamailio.pid"),
                                           "-Y", self.tmp, "-w", self.tmp, "-DD", "-E",
                                           "-m", "64", "-M", "8"])
        try:
            sbtest.wait_for(lambda: self.kamrig.options_ping(self.k_port), 20, "Kamailio up")
            sbtest.wait_for(lambda: os.path.exists(os.path.join(self.tmp, "control.sock")), 10,
                            "sipbridged up")
            # Dispatcher: probes answered; the absent instance has missed
            # two probes (ds_probing_threshold) once three have arrived here.
            sbtest.wait_for(lambda: self.status()["counters"]["sip"]["options"] >= 3, 20,
                            "three OPTIONS probes from Kamailio")

            # Conference through Kamailio.
            bob = self.member("bob", "chat_member.xml")
            sbtest.wait_for(lambda: "bob" in self.ctl("conference", "show", "conf-100").stdout,
                            15, "bob in conf-100")
            alice = self.member("alice", "chat_speaker.xml",
                                ("-key", "ctype", "text/plain", "-key", "text", "hello via kamailio"))
            sbtest.wait_for(lambda: "hello via kamailio" in self.read_msgs("bob"), 15,
                            "alice's message relayed to bob through Kamailio")
            r = self.ctl("conference", "send", "conf-100", "CHAT-LEAVE")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(bob.wait(timeout=sbtest.bounded(20)), 0, self.read_msgs("bob"))
            self.assertEqual(alice.wait(timeout=sbtest.bounded(20)), 0, self.read_msgs("alice"))
            msg = self.read_msgs("bob")
            self.assertRegex(msg, r"(?m)^Record-Route: <sip:127\.0\.0\.1:%d" % self.k_port)
            self.assertRegex(msg, r'(?m)^From: "Alice"')

            # MWI through Kamailio's presence.
            from it_mwi_kamailio import Phone
            phone = Phone(self.k_port, self.tmp)
            try:
                rows = sbtest.wait_for(lambda: self.kamrig.query(
                    self.pg, "SELECT id FROM active_watchers WHERE event = 'message-summary' "
                    "AND presentity_uri = 'sip:1000@example.com' AND status = 1"), 20,
                    "the subscription in active_watchers")
                self.assertEqual(len(rows), 1)
                sbtest.wait_for(lambda: phone.logged_cseq(1) is not None, 10,
                                "Kamailio's initial NOTIFY")
                r = self.ctl("mwi", "notify", "1000", "example.com", "2", "5")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(phone.wait(40), 0, phone.dump())
                notifies = phone.received("NOTIFY")
                self.assertEqual(len(notifies), 3, phone.dump())
                self.assertIn("Voice-Message: 2/5", notifies[1])
                self.assertIn("User-Agent: sipbridge", notifies[1])
                self.assertGreater(phone.logged_cseq(3), phone.logged_cseq(2))
            finally:
                phone.stop()
            mwi = self.status()["capabilities"]["mwi"]["counters"]
            self.assertEqual((mwi["sent"], mwi["ok"]), (1, 1), mwi)
            self.assertIsNone(sb.poll())
            self.assertIsNone(kamailio.poll())
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.logs()))

    def read_msgs(self, name):
        path = os.path.join(self.tmp, name + ".msg")
        if not os.path.exists(path):
            return ""
        with open(path, "rb") as f:
            return f.read().decode(errors="replace").replace("\r\n", "\n")


# -- OpenSIPS -----------------------------------------------------------------------------

# OpenSIPS 3.6.8 (OpenSIPS/opensips tag 3.6.8): the param_export_t and
# cmd_export_t tables of the modules the guide may load, and the core
# functions (core_cmds.c) and statements.
OPENSIPS = {
    "signaling": ({""}, {"send_reply", "load_sig"}),
    "sl": ({"enable_stats"}, {"sl_send_reply", "sl_reply_error", "load_sl"}),
    "tm": ({"T1_timer", "T2_timer", "auto_100trying", "cluster_auto_cancel", "cluster_param",
            "delete_timer", "disable_6xx_block", "enable_stats", "fr_inv_timeout", "fr_timeout",
            "local_reply_route", "local_request_route", "minor_branch_flag",
            "onreply_avp_mode", "pass_provisional_replies", "restart_fr_on_each_reply",
            "ruri_matching", "syn_branch", "timer_partitions", "tm_replication_cluster",
            "tw_append", "unix_tx_timeout", "via1_matching", "wt_timer"},
           {"t_add_cancel_reason", "t_add_hdrs", "t_anycast_replicate", "t_cancel_branch",
            "t_check_status", "t_check_trans", "t_flush_flags", "t_get_branch_idx_by_attr",
            "t_inject_branches", "t_local_replied", "t_new_request", "t_newtran",
            "t_on_branch", "t_on_failure", "t_on_reply", "t_relay", "t_replicate", "t_reply",
            "t_reply_by_callid", "t_reply_with_body", "t_wait_for_new_branches",
            "t_wait_no_more_branches", "t_was_cancelled", "t_write_req", "t_write_unix"}),
    "rr": ({"add_username", "append_fromtag", "enable_double_rr",
            "enable_socket_mismatch_warning", "ignore_user"},
           {"add_rr_param", "check_route_param", "is_direction", "loose_route", "record_route",
            "record_route_preset"}),
    "maxfwd": ({"max_limit"}, {"is_maxfwd_lt", "mf_process_maxfwd_header"}),
    "sipmsgops": (set(), {"append_hf", "append_to_reply", "has_body", "has_totag", "insert_hf",
                          "is_method", "is_present_hf", "remove_hf", "ruri_has_param",
                          "sipmsg_validate", "append_urihf", "change_reply_status"}),
    "mi_fifo": ({"fifo_name", "fifo_mode", "fifo_group", "fifo_user", "reply_dir",
                 "trace_destination", "trace_bwlist", "pretty_printing"}, set()),
    "db_postgres": ({"exec_query_threshold", "max_db_queries", "timeout", "use_tls"}, set()),
    "presence": ({"db_url", "presentity_table", "active_watchers_table", "watchers_table",
                  "clean_period", "db_update_period", "expires_offset", "max_expires_subscribe",
                  "max_expires_publish", "contact_user", "subs_htable_size", "pres_htable_size",
                  "fallback2db", "enable_sphere_check", "waiting_subs_daysno",
                  "mix_dialog_presence", "bla_presentity_spec", "bla_fix_remote_target",
                  "notify_offline_body", "end_sub_on_timeout", "cluster_id",
                  "cluster_federation_mode", "cluster_be_active_shtag", "cluster_pres_events"},
                 {"handle_publish", "handle_subscribe"}),
    "presence_mwi": (set(), set()),
    "dispatcher": ({"algo_route", "attrs_avp", "attrs_col", "cluster_id", "cluster_probing_mode",
                    "cluster_sharing_tag", "cnt_avp", "db_url", "description_col",
                    "destination_col", "ds_define_blacklist", "ds_ping_from",
                    "ds_ping_interval", "ds_ping_maxfwd", "ds_ping_method", "ds_probing_list",
                    "ds_probing_mode", "ds_probing_sock", "ds_probing_threshold", "dst_avp",
                    "grp_avp", "hash_pvar", "options_reply_codes", "partition",
                    "persistent_state", "priority_col", "probe_mode_col", "pvar_algo_pattern",
                    "script_attrs_avp", "setid_col", "setid_pvar", "sock_avp", "socket_col",
                    "state_col", "table_name", "weight_col"},
                   {"ds_count", "ds_get_script_attrs", "ds_is_in_list", "ds_mark_dst",
                    "ds_next_domain", "ds_next_dst", "ds_push_script_attrs", "ds_select_domain",
                    "ds_select_dst"}),
    "proto_udp": ({"udp_port"}, set()),
    "proto_tcp": ({"tcp_port", "tcp_send_timeout", "tcp_max_msg_chunks", "tcp_crlf_pingpong",
                   "tcp_crlf_drop", "tcp_async"}, set()),
}
OPENSIPS_CORE_FUNCS = {
    "forward", "send", "setflag", "resetflag", "isflagset", "setbflag", "resetbflag",
    "isbflagset", "sethost", "sethostport", "setuser", "setuserpass", "setport", "seturi",
    "prefix", "strip", "strip_tail", "append_branch", "revert_uri", "setdsturi",
    "resetdsturi", "isdsturiset", "force_rport", "force_send_socket", "is_myself",
    "xlog", "raise_event", "cache_store", "cache_fetch", "cache_remove", "get_timestamp",
    "script_trace", "drop", "exit", "return", "route", "assert"}
OPENSIPS_GLOBALS = {
    "log_level", "xlog_level", "stderror_enabled", "syslog_enabled", "syslog_facility",
    "log_stdout", "log_stderror", "log_facility", "log_name", "syslog_name", "debug_mode",
    "udp_workers", "tcp_workers", "socket", "listen", "alias", "auto_aliases", "dns",
    "rev_dns", "dns_try_ipv6", "mpath", "server_header", "user_agent_header",
    "disable_dns_blacklist", "open_files_limit", "tcp_max_connections"}
SCRIPT_KEYWORDS = {"if", "else", "while", "switch", "case", "for", "return", "exit", "drop",
                   "route", "failure_route", "onreply_route", "branch_route", "local_route",
                   "startup_route", "timer_route", "event_route", "error_route", "break",
                   "default", "not", "and", "or", "loadmodule", "modparam"}


def strip_script(text):
    """The script without comments and with string contents blanked."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    out = []
    for line in text.split("\n"):
        line = re.sub(r'"(?:[^"\\]|\\.)*"', '""', line)
        out.append(re.sub(r"#.*$", "", line))
    return "\n".join(out)


def opensips_problems(text):
    """What is wrong with an OpenSIPS 3.x script, by the tables above."""
    bad = []
    mods = re.findall(r'^\s*loadmodule\s+"([\w]+)\.so"', text, re.M)
    for m in mods:
        if m not in OPENSIPS:
            bad.append("unknown module %s" % m)
    for mod, param in re.findall(r'^\s*modparam\(\s*"([\w|]+)",\s*"(\w+)"', text, re.M):
        for mm in mod.split("|"):
            if mm not in mods:
                bad.append("modparam of a module not loaded: %s" % mm)
            elif param not in OPENSIPS[mm][0]:
                bad.append("module %s has no parameter %s" % (mm, param))
    body = strip_script(text)
    for key in re.findall(r"^(\w+)\s*=", body, re.M):
        if key not in OPENSIPS_GLOBALS:
            bad.append("unknown global parameter %s" % key)
    if body.count("{") != body.count("}"):
        bad.append("braces do not balance")
    funcs = OPENSIPS_CORE_FUNCS.union(*(OPENSIPS[m][1] for m in mods if m in OPENSIPS))
    routes = set(re.findall(r"^\s*(?:route|failure_route|onreply_route|branch_route)\[(\w+)\]",
                            body, re.M))
    code = re.sub(r"^\s*(?:loadmodule|modparam)\b.*$", "", body, flags=re.M)
    for name in re.findall(r"(?<![\w$.])([a-z_][a-z0-9_]*)\s*\(", code):
        if name not in funcs and name not in SCRIPT_KEYWORDS:
            bad.append("unknown function %s()" % name)
    for target in re.findall(r"\broute\((\w+)\)", code):
        if target not in routes:
            bad.append("route(%s) is not defined" % target)
    for target in re.findall(r'\bt_on_failure\("(\w+)"\)', text):
        if not re.search(r"^failure_route\[%s\]" % target, body, re.M):
            bad.append("failure_route[%s] is not defined" % target)
    return bad


class OpensipsExamples(sbtest.unittest.TestCase):
    GUIDE = os.path.join(DOCS, "integration-opensips.md")

    def test_opensips_scripts_use_known_names(self):
        bs = all_blocks("opensips")
        self.assertGreaterEqual(len(bs), 1)
        for b in bs:
            with self.subTest(example=b.where):
                self.assertEqual(opensips_problems(b.text), [], b.where)

    def test_checker_can_fail(self):
        b = all_blocks("opensips")[0]
        for old, new, why in (("ds_select_dst(", "ds_select_dest(", "unknown function"),
                              ('"db_update_period"', '"db_update_periods"', "no parameter"),
                              ("route(relay);", "route(relais);", "not defined"),
                              ('t_on_failure("sipbridge_failover")', 't_on_failure("nope")',
                               "not defined"),
                              ("udp_workers=4", "udp_worker=4", "unknown global")):
            with self.subTest(broken=new):
                self.assertIn(old, b.text)
                probs = opensips_problems(b.text.replace(old, new, 1))
                self.assertTrue(any(why in p for p in probs), probs)

    def test_both_sides_agree(self):
        text = next(b for b in blocks(self.GUIDE) if b.info == "opensips").text
        b, secs = guide_ini(self.GUIDE)
        ip, port = re.findall(r"^socket=udp:([\d.]+):(\d+)", text, re.M)[0]
        self.assertIn(ip, [v["match"] for _, v, _ in sections_of(secs, "identify")])
        mwi = sections_of(secs, "mwi")[0][1]
        self.assertEqual(mwi["proxy"], "sip:%s:%s" % (ip, port))
        self.assertEqual(mwi.get("schema_flavour"), "opensips")
        sql = "\n".join(x.text for x in blocks(self.GUIDE) if x.info == "sh")
        binds = {"sip:" + v["bind"] for _, v, _ in sections_of(secs, "transport")}
        self.assertTrue(binds & set(re.findall(r"'(sip:[\d.:]+)'", sql)),
                        "the dispatcher table holds the guide's sipbridge")


# -- Asterisk -----------------------------------------------------------------------------

# The options Asterisk (asterisk/asterisk master f0c1c1a7b79b) registers
# for each pjsip.conf object type (ast_sorcery_object_field_register* in
# res/res_pjsip/*.c, res/res_pjsip_*.c).
ASTERISK_OPTIONS = {
    "endpoint": set("""100rel accept_multiple_sdp_answers accountcode acl aggregate_mwi allow
        allow_overlap allow_subscribe allow_transfer allow_unauthenticated_options aors
        asymmetric_rtp_codec auth bind_rtp_to_media_address bundle call_group callerid
        callerid_privacy callerid_tag codec_prefs_incoming_answer codec_prefs_incoming_offer
        codec_prefs_outgoing_answer codec_prefs_outgoing_offer connected_line_method
        contact_acl contact_deny contact_permit contact_user context cos_audio cos_video deny
        device_state_busy_at direct_media direct_media_glare_mitigation direct_media_method
        disable_direct_media_on_nat disallow dtls_auto_generate_cert dtls_ca_file dtls_ca_path
        dtls_cert_file dtls_cipher dtls_fingerprint dtls_private_key dtls_rekey dtls_setup
        dtls_verify dtmf_mode fax_detect fax_detect_timeout follow_early_media_fork
        follow_redirect_methods force_avp force_rport from_domain from_user g726_non_standard
        ice_support identify_by ignore_183_without_sdp inband_progress
        incoming_call_offer_pref incoming_mwi_mailbox language mailboxes max_audio_streams
        max_video_streams media_address media_encryption media_encryption_optimistic
        media_use_received_transport message_context moh_passthrough moh_suggest
        mwi_from_user mwi_subscribe_replaces_unsolicited named_call_group named_pickup_group
        notify_early_inuse_ringing one_touch_recording outbound_auth outbound_proxy
        outgoing_call_offer_pref overlap_context permit pickup_group preferred_codec_only
        record_off_feature record_on_feature redirect_method refer_blind_progress
        rewrite_contact rpid_immediate rtcp_mux rtp_engine rtp_ipv6 rtp_keepalive rtp_port_end
        rtp_port_start rtp_symmetric rtp_timeout rtp_timeout_hold sdp_owner sdp_session
        security_mechanisms security_negotiation send_aoc send_connected_line send_diversion
        send_history_info send_pai send_rpid set_var srtp_tag_32 stir_shaken_profile
        sub_min_expiry subscribe_context suppress_moh_on_sendonly
        suppress_q850_reason_headers t38_udptl t38_udptl_ec t38_udptl_ipv6
        t38_udptl_maxdatagram t38_udptl_nat timers timers_min_se timers_sess_expires
        tone_zone tos_audio tos_video transport trust_connected_line trust_id_inbound
        trust_id_outbound use_avpf use_ptime user_eq_phone voicemail_extension
        webrtc""".split()),
    "aor": set("""authenticate_qualify contact default_expiration mailboxes max_contacts
        maximum_expiration minimum_expiration outbound_proxy qualify_2xx_only
        qualify_frequency qualify_timeout remove_existing remove_unavailable support_path
        voicemail_extension""".split()),
    "identify": {"endpoint", "match", "match_header", "match_request_uri", "srv_lookups"},
    "auth": {"auth_type", "md5_cred", "nonce_lifetime", "password", "realm", "username",
             "password_digest", "supported_algorithms_uac", "supported_algorithms_uas",
             "oauth_clientid", "oauth_secret", "refresh_token"},
    "transport": set("""allow_reload allow_wildcard_certs async_operations bind ca_list_file
        ca_list_path cert_file cipher cos domain external_media_address
        external_signaling_address external_signaling_port local_net method password
        priv_key_file protocol require_client_cert symmetric_transport tos verify_client
        verify_server websocket_write_timeout""".split()),
    "outbound-publish": {"event", "expiration", "from_uri", "max_auth_attempts", "multi_user",
                         "outbound_auth", "outbound_proxy", "server_uri", "to_uri", "transport",
                         "@device_state_filter", "@mailbox_state_filter"},
    "inbound-publication": {"endpoint", "event_*"},
    "asterisk-publication": {"device_state", "device_state_filter", "devicestate_publish",
                             "mailbox_state", "mailbox_state_filter", "mailboxstate_publish"},
}


def uri_parts(uri):
    m = re.match(r"^sips?:(?:([^@;]+)@)?([^;:]+)(?::(\d+))?", uri)
    return m.group(1), m.group(2), int(m.group(3) or 5060)


def asterisk_files(path):
    files = {}
    for b in blocks(path):
        if b.info == "asterisk":
            m = re.match(r"^;\s*/etc/asterisk/([\w.]+)", b.first)
            assert m, "%s: an asterisk block must start with '; /etc/asterisk/FILE'" % b.where
            files[m.group(1)] = b
    return files


def asterisk_problems(ast, sb):
    """What is wrong with the Asterisk files @p ast ({name: text}) of a guide
    whose sipbridge config has the sections @p sb."""
    bad = []
    pj = ini_sections(ast["pjsip.conf"])
    for name, typ, kvs in pj:
        if typ not in ASTERISK_OPTIONS:
            bad.append("[%s] unknown type %s" % (name, typ))
            continue
        for k, _ in kvs:
            if not any(key_matches(o, k) for o in ASTERISK_OPTIONS[typ]):
                bad.append("[%s] type=%s has no option %s" % (name, typ, k))

    def of(secs, typ):
        return {n: dict(kv) for n, t, kv in secs if t == typ}
    a_ep, a_ident, a_aor = of(pj, "endpoint"), of(pj, "identify"), of(pj, "aor")
    a_out, a_in = of(pj, "outbound-publish"), of(pj, "inbound-publication")
    s_ep, s_ident = of(sb, "endpoint"), of(sb, "identify")
    s_out, s_in = of(sb, "outbound-publish"), of(sb, "inbound-publication")
    s_binds = {v["bind"] for v in of(sb, "transport").values()}
    a_binds = {v["bind"] for v in of(pj, "transport").values()}
    a_addr = {m for v in s_ident.values() for m in re.split(r"[,\s]+", v["match"])}

    def identified(endpoints, idents, user, addr):
        by_ip = [v["endpoint"] for v in idents.values()
                 if addr in re.split(r"[,\s]+", v["match"])]
        by_user = [user] if user in endpoints and "username" in endpoints[user].get(
            "identify_by", "username,ip") else []
        return by_ip[:1] or by_user
    # Asterisk -> sipbridge
    for name, o in a_out.items():
        user, host, port = uri_parts(o["server_uri"])
        if user not in s_in:
            bad.append("Asterisk [%s] publishes to %s: no sipbridge inbound-publication [%s]"
                       % (name, o["server_uri"], user))
            continue
        if "%s:%d" % (host, port) not in s_binds:
            bad.append("Asterisk [%s] publishes to %s:%d, where sipbridge does not listen"
                       % (name, host, port))
        if "event_" + o["event"] not in s_in[user]:
            bad.append("sipbridge [%s] takes no Event %s" % (user, o["event"]))
        from_user = uri_parts(o.get("from_uri", o["server_uri"]))[0]
        who = identified(s_ep, s_ident, from_user, next(iter(a_addr), None))
        want = s_in[user].get("endpoint")
        if want and want not in who:
            bad.append("sipbridge [%s] takes PUBLISH from %s only; Asterisk is %s"
                       % (user, want, who or "unidentified"))
    # sipbridge -> Asterisk
    for name, o in s_out.items():
        user, host, port = uri_parts(o["server_uri"])
        if user not in a_in:
            bad.append("sipbridge [%s] publishes to %s: no Asterisk inbound-publication [%s]"
                       % (name, o["server_uri"], user))
            continue
        if not any(b.endswith(":%d" % port) for b in a_binds):
            bad.append("sipbridge [%s] publishes to port %d, where Asterisk does not listen"
                       % (name, port))
        if "event_" + o["event"] not in a_in[user]:
            bad.append("Asterisk [%s] takes no Event %s" % (user, o["event"]))
        if host not in a_addr:
            bad.append("sipbridge [%s] publishes to %s, not the Asterisk it identifies (%s)"
                       % (name, host, sorted(a_addr)))
        want = a_in[user].get("endpoint")
        sb_host = next(iter(s_binds)).split(":")[0]
        if want:
            who = identified(a_ep, a_ident, user, sb_host)
            if want not in who:
                bad.append("Asterisk [%s] takes PUBLISH from %s only; sipbridge is %s"
                           % (user, want, who or "unidentified"))
    # The trunk and the dialplan.
    for name, a in a_aor.items():
        if "contact" in a and name in a_ep:
            _, host, port = uri_parts(a["contact"])
            if "%s:%d" % (host, port) not in s_binds:
                bad.append("Asterisk aor [%s] contact %s is not sipbridge" % (name, a["contact"]))
    users = {v["user"] for v in of(sb, "conference").values()}
    for dest, ep in re.findall(r"Dial\(PJSIP/([\w${}:-]+)@(\w+)", ast.get("extensions.conf", "")):
        if ep not in a_ep or not a_ep[ep].get("aors"):
            bad.append("Dial(PJSIP/%s@%s): no endpoint %s with an aor" % (dest, ep, ep))
        elif dest not in users:
            bad.append("Dial(PJSIP/%s@%s): sipbridge has no conference %s" % (dest, ep, dest))
    eid = re.search(r"^\s*entityid\s*=\s*([0-9a-f:]+)", ast.get("asterisk.conf", ""), re.M)
    s_eid = [dict(kv).get("entity_id") for n, t, kv in sb if t == "global"]
    if eid is None or not re.match(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$", eid.group(1)):
        bad.append("asterisk.conf: no entityid")
    elif eid.group(1) in s_eid:
        bad.append("Asterisk and sipbridge share the entity id %s" % eid.group(1))
    return bad


class AsteriskExamples(sbtest.unittest.TestCase):
    GUIDE = os.path.join(DOCS, "integration-asterisk.md")

    def load(self):
        files = asterisk_files(self.GUIDE)
        self.assertEqual(set(files), {"asterisk.conf", "pjsip.conf", "extensions.conf"})
        _, sb = guide_ini(self.GUIDE)
        return {k: b.text for k, b in files.items()}, sb

    def test_asterisk_files_and_sipbridge_agree(self):
        ast, sb = self.load()
        self.assertEqual(asterisk_problems(ast, sb), [])
        self.assertGreaterEqual(len(ini_sections(ast["pjsip.conf"])), 10)

    def test_checker_can_fail(self):
        ast, sb = self.load()
        for f, old, new, why in (
                ("pjsip.conf", "server_uri = sip:asterisk@", "server_uri = sip:astrisk@",
                 "no sipbridge inbound-publication"),
                ("pjsip.conf", "qualify_frequency", "qualify_frequence", "no option"),
                ("extensions.conf", "PJSIP/conf-100@", "PJSIP/conf-101@", "no conference"),
                ("asterisk.conf", "entityid = 02:00:5e:00:53:30",
                 "entityid = 02:00:5e:00:53:21", "share the entity id")):
            with self.subTest(broken=new):
                self.assertIn(old, ast[f])
                probs = asterisk_problems(dict(ast, **{f: ast[f].replace(old, new, 1)}), sb)
                self.assertTrue(any(why in p for p in probs), probs)
        sb2 = [(n, t, [(k, v.replace("192.0.2.30", "192.0.2.31") if t == "outbound-publish"
                        else v) for k, v in kv]) for n, t, kv in sb]
        self.assertTrue(any("not the Asterisk" in p for p in asterisk_problems(ast, sb2)))


# -- command lines ------------------------------------------------------------------------


def ctl_commands():
    """Every command of sipbridgectl --help as its literal words ("mwi show
    subscription"); "debug on|off" gives "debug on" and "debug off"."""
    r = subprocess.run([sbtest.CTL, "--help"], capture_output=True, text=True,
                       timeout=sbtest.bounded(10))
    cmds, inside = [], False
    for line in r.stdout.splitlines():
        if line.startswith("Commands:"):
            inside = True
            continue
        if inside and not line.strip():
            break
        if not inside or not re.match(r"^  \S", line):
            continue
        words = []
        for w in re.split(r"\s{2,}", line.strip())[0].split():
            if re.match(r"^[a-z][a-z-]*(\|[a-z][a-z-]*)+$", w):
                cmds += [" ".join(words + [alt]) for alt in w.split("|")]
                words = None
                break
            if not re.match(r"^[a-z][a-z-]*$", w):
                break
            words.append(w)
        if words:
            cmds.append(" ".join(words))
    return cmds


CTL_VALUE_OPTS = {"-s", "--socket", "-t", "--timeout", "--from", "--type"}


def ctl_lines(text):
    """The argument lists of the sipbridgectl command lines of a sh block."""
    out = []
    for line in text.split("\n"):
        line = re.sub(r"^\s*(?:\$\s+)?", "", line)
        line = re.sub(r"^(?:build/|/usr/bin/)(?=sipbridgectl\b)", "", line)
        if not re.match(r"^sipbridgectl\b", line):
            continue
        line = re.split(r"\s[|;&]|\s#", line)[0]
        try:
            args = shlex.split(line)[1:]
        except ValueError:
            args = line.split()[1:]
        words, skip = [], False
        for a in args:
            if skip:
                skip = False
            elif a in CTL_VALUE_OPTS:
                skip = True
            elif a.startswith("-"):
                continue
            else:
                words.append(a)
        if "COMMAND" not in words:      # the synopsis of docs/cli.md
            out.append((line, words))
    return out


def ctl_command_known(words, cmds):
    return any(words[:len(c.split())] == c.split() for c in cmds)


class CommandLines(sbtest.unittest.TestCase):
    def test_sipbridgectl_commands_exist(self):
        cmds = ctl_commands()
        self.assertIn("mwi show subscription", cmds)
        self.assertIn("debug on", cmds)
        n = 0
        for b in all_blocks("sh") + all_blocks(""):
            for line, words in ctl_lines(b.text):
                n += 1
                with self.subTest(example=b.where, line=line):
                    self.assertTrue(words and ctl_command_known(words, cmds),
                                    "%s: %r is not a sipbridgectl command" % (b.where, line))
        self.assertGreaterEqual(n, 60)
        self.assertFalse(ctl_command_known(["mwi", "shw", "subscription"], cmds))

    def test_files_and_sipp_keys_exist(self):
        """Repository files the command lines use exist, and the -key names
        given to a sipp scenario are ones it uses."""
        n = keys = 0
        for b in all_blocks("sh"):
            for path in re.findall(r"(?<![\w/.-])((?:tests|scripts|etc|packaging)/[\w./*-]+)",
                                   b.text):
                if "*" in path:
                    continue
                n += 1
                with self.subTest(example=b.where, path=path):
                    self.assertTrue(os.path.exists(os.path.join(SOURCE, path)),
                                    "%s: %s does not exist" % (b.where, path))
            text = re.sub(r"\\\n\s*", " ", b.text)
            for line in text.split("\n"):
                m = re.search(r"\bsipp -sf (\S+\.xml)(.*)", line)
                if not m:
                    continue
                scen = read(os.path.join(SOURCE, m.group(1)))
                for key in re.findall(r"-key (\w+) ", m.group(2)):
                    keys += 1
                    with self.subTest(example=b.where, scenario=m.group(1), key=key):
                        self.assertIn("[%s]" % key, scen)
        self.assertGreaterEqual(n, 8)
        self.assertGreaterEqual(keys, 10)

    def test_sipbridged_options_exist(self):
        r = subprocess.run([sbtest.DAEMON, "--help"], capture_output=True, text=True,
                           timeout=sbtest.bounded(10))
        opts = set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", r.stdout))
        self.assertIn("--check-config", opts)
        n = 0
        for b in all_blocks("sh"):
            for line in b.text.split("\n"):
                line = re.sub(r"^\s*(?:\$\s+)?(?:runuser -u \w+ -- )?", "", line)
                if not re.match(r"^(?:build/|/usr/sbin/)?sipbridged\s", line):
                    continue
                n += 1
                for o in re.findall(r"\s(--?[a-zA-Z][\w-]*)", line.split("#")[0]):
                    with self.subTest(example=b.where, option=o):
                        self.assertIn(o, opts)
        self.assertGreaterEqual(n, 3)


# -- links --------------------------------------------------------------------------------


def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r"[`*_]", lambda m: "_" if m.group(0) == "_" else "", s)
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(path):
    seen, out, fence = {}, set(), False
    for line in read(path).split("\n"):
        if re.match(r"^\s*```", line):
            fence = not fence
        if fence:
            continue
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            s = slug(m.group(1))
            n = seen.get(s, 0)
            out.add(s if n == 0 else "%s-%d" % (s, n))
            seen[s] = n + 1
    return out


class Links(sbtest.unittest.TestCase):
    def test_relative_links_resolve(self):
        n = 0
        for p in doc_files():
            text = re.sub(r"```.*?```", "", read(p), flags=re.S)
            text = re.sub(r"`[^`\n]*`", lambda m: "" if "](" in m.group(0) else m.group(0), text)
            for target in re.findall(r"\]\(([^)\s]+)\)", text):
                if re.match(r"^[a-z]+:", target):
                    continue
                n += 1
                with self.subTest(doc=rel(p), link=target):
                    f, _, frag = target.partition("#")
                    dest = os.path.normpath(os.path.join(os.path.dirname(p), f)) if f else p
                    self.assertTrue(os.path.exists(dest), "%s: %s does not exist" % (rel(p), f))
                    if frag and dest.endswith(".md"):
                        self.assertIn(frag, anchors(dest))
            for ref in re.findall(r"`(docs/[\w.-]+\.md)`", text):
                with self.subTest(doc=rel(p), ref=ref):
                    self.assertTrue(os.path.exists(os.path.join(SOURCE, ref)), ref)
        self.assertGreaterEqual(n, 20)
        self.assertIn("topic-sip", anchors(os.path.join(DOCS, "control-protocol.md")))
        self.assertNotIn("no-such-heading", anchors(os.path.join(DOCS, "control-protocol.md")))


if __name__ == "__main__":
    sbtest.main()
