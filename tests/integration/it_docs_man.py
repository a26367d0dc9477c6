"""The man pages: sipbridged(8), sipbridgectl(1), sipbridge.conf(5).

Each page renders without a single groff or man warning, documents every
option and command the binaries' --help lists and every type and key (with
its default) of docs/config.md, and cmake --install puts it in
share/man/manN.
"""
import os
import re
import subprocess
import sbtest

MAN = os.path.join(sbtest.SOURCE, "man")
PAGES = {"sipbridged.8": ("SIPBRIDGED", "8"),
         "sipbridgectl.1": ("SIPBRIDGECTL", "1"),
         "sipbridge.conf.5": ("SIPBRIDGE.CONF", "5")}
# Alternating-font macros join their arguments without blanks.
ALTERNATING = {"BI", "BR", "IB", "IR", "RB", "RI"}


def page_path(name):
    return os.path.join(MAN, name)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def roff_args(rest):
    """Split a macro's arguments as roff does: blanks separate, double
    quotes group."""
    args, cur, quoted, started = [], "", False, False
    for ch in rest:
        if ch == '"':
            quoted = not quoted
            started = True
        elif ch in " \t" and not quoted:
            if started:
                args.append(cur)
            cur, started = "", False
        else:
            cur += ch
            started = True
    if started:
        args.append(cur)
    return args


def unescape(text):
    text = re.sub(r"\\f[BIRP]", "", text)
    text = text.replace("\\&", "").replace("\\-", "-").replace("\\e", "\\")
    return text


def line_text(line):
    """The text a source line puts on the page, fonts dropped."""
    m = re.match(r"^\.([A-Z]{1,2})(?:\s+(.*))?$", line)
    if not m:
        return unescape(line)
    macro, rest = m.group(1), m.group(2) or ""
    args = roff_args(rest)
    sep = "" if macro in ALTERNATING else " "
    return unescape(sep.join(args))


def paragraphs(path):
    """[(tag, text)] for every .TP of a page: the tag line's text and the
    tag plus its body up to the next paragraph or heading macro."""
    lines = read(path).splitlines()
    out = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == ".TP" and i + 1 < len(lines):
            tag = line_text(lines[i + 1])
            body = [tag]
            j = i + 2
            while j < len(lines) and not re.match(r"^\.(TP|SS|SH|PP|IP)\b", lines[j]):
                if not lines[j].startswith('.\\"'):
                    body.append(line_text(lines[j]))
                j += 1
            out.append((" ".join(tag.split()), " ".join(" ".join(body).split())))
            i = j
        else:
            i += 1
    return out


def headings(path, macro):
    return [" ".join(line_text(l).split()) for l in read(path).splitlines()
            if l.startswith("." + macro + " ") or l == "." + macro]


def tagged(paras, word):
    """The paragraphs whose tag starts with @p word (as a whole word)."""
    pat = re.compile(r"^" + re.escape(word) + r"(?![\w-])")
    return [p for p in paras if pat.search(p[0])]


def help_text(binary):
    r = subprocess.run([binary, "--help"], capture_output=True, text=True,
                       timeout=sbtest.bounded(10))
    assert r.returncode == 0, (binary, r.returncode, r.stderr)
    return r.stdout


def help_options(text):
    """Every -x / --long option on the option lines of a --help text."""
    opts = []
    for line in text.splitlines():
        if re.match(r"^\s+-", line):
            head = re.split(r"\s{2,}", line.strip())[0]
            opts += re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", head)
    return opts


def ctl_commands(text):
    """Every command of sipbridgectl --help, as its leading literal words
    ("conference send", "mwi show subscription", "debug")."""
    cmds, inside = [], False
    for line in text.splitlines():
        if line.startswith("Commands:"):
            inside = True
            continue
        if inside and not line.strip():
            break
        if inside and re.match(r"^  \S", line):
            words = []
            for w in line.split():
                if not re.match(r"^[a-z][a-z-]*$", w):
                    break
                words.append(w)
            # A help text of two blank-separated columns: the synopsis only.
            synopsis = re.split(r"\s{2,}", line.strip())[0].split()
            words = words[:len(synopsis)]
            while words and words[-1] not in synopsis:
                words.pop()
            if words:
                cmds.append(" ".join(words))
    return cmds


def config_tables():
    """{type: [(key, default cell)]} from the tables under each
    '### type=...' heading of docs/config.md."""
    types, cur, default_col = {}, None, None
    for line in read(os.path.join(sbtest.SOURCE, "docs", "config.md")).splitlines():
        if line.startswith("#"):
            cur = None
            if line.startswith("### ") and "type=" in line:
                cur = re.findall(r"type=([\w-]+)", line)
                for t in cur:
                    types.setdefault(t, [])
            continue
        if cur is None or not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if all(re.match(r"^-*$", c) for c in cells):
            continue
        if "`" not in line:
            default_col = cells.index("default") if "default" in cells else None
            continue
        keycell = next((c for c in cells if c.startswith("`")), None)
        if keycell is None:
            continue
        dflt = cells[default_col] if default_col is not None and default_col < len(cells) else ""
        rowtype = cells[0] if cells[0] in cur else None
        for key in re.findall(r"`([^`]+)`", keycell):
            for t in ([rowtype] if rowtype else cur):
                types[t].append((key, dflt))
    return types


class Render(sbtest.unittest.TestCase):
    def test_groff_no_warnings(self):
        for name in PAGES:
            with self.subTest(page=name):
                r = subprocess.run(["groff", "-ww", "-t", "-man", "-Tutf8", "-z", page_path(name)],
                                   capture_output=True, text=True, timeout=sbtest.bounded(30))
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stderr, "")

    def test_man_no_warnings(self):
        env = dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0", MANPAGER="cat",
                   PAGER="cat", LC_ALL="C.UTF-8")
        for name, (title, section) in PAGES.items():
            with self.subTest(page=name):
                r = subprocess.run(["man", "--warnings=w", "-l", page_path(name)], env=env,
                                   capture_output=True, text=True, timeout=sbtest.bounded(30))
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stderr, "")
                out = re.sub(r".\x08", "", r.stdout)  # overstrike bold/underline
                self.assertIn("%s(%s)" % (title, section), out)
                for head in ("NAME", "SYNOPSIS", "DESCRIPTION", "FILES", "SEE ALSO"):
                    self.assertIn("\n" + head + "\n", out)
                wide = [l for l in out.splitlines() if len(l) > 80]
                self.assertEqual(wide, [])

    def test_warnings_are_seen(self):
        """The two checks above can fail: a broken page gives warnings."""
        tmp = sbtest.tempfile.mkdtemp(prefix="sbman-")
        try:
            bad = os.path.join(tmp, "bad.1")
            with open(bad, "w") as f:
                f.write('.TH BAD 1\n.SH NAME\nbad \\- bad\n.XYZ\n.BR\n\\fQx\n')
            r = subprocess.run(["groff", "-ww", "-man", "-Tutf8", "-z", bad],
                               capture_output=True, text=True, timeout=sbtest.bounded(30))
            self.assertNotEqual(r.stderr, "")
            r = subprocess.run(["man", "--warnings=w", "-l", bad], capture_output=True,
                               text=True, timeout=sbtest.bounded(30),
                               env=dict(os.environ, MANWIDTH="80", MANPAGER="cat"))
            self.assertNotEqual(r.stderr, "")
        finally:
            sbtest.shutil.rmtree(tmp, ignore_errors=True)

    def test_source_hygiene(self):
        for name, (title, section) in PAGES.items():
            with self.subTest(page=name):
                text = read(page_path(name))
                self.assertTrue(text.endswith("\n"))
                self.assertNotRegex(text, r"(?m)[ \t]$")
                th = [l for l in text.splitlines() if l.startswith(".TH ")]
                self.assertEqual(len(th), 1)
                self.assertEqual(roff_args(th[0][4:])[:2], [title, section])
                # Options are written with \- so that they copy and paste.
                self.assertNotRegex(text, r"(?m)^[^.'].*(?<![\\\w])--?[a-z]")


class Content(sbtest.unittest.TestCase):
    def test_daemon_options(self):
        opts = help_options(help_text(sbtest.DAEMON))
        self.assertIn("--check-config", opts)
        paras = paragraphs(page_path("sipbridged.8"))
        tags = [t for t, _ in paras]
        for opt in opts:
            with self.subTest(option=opt):
                pat = re.compile(r"(?<![\w-])" + re.escape(opt) + r"(?![\w-])")
                self.assertTrue(any(pat.search(t) for t in tags), (opt, tags))
        sections = headings(page_path("sipbridged.8"), "SH")
        for head in ("OPTIONS", "SIGNALS", "ENVIRONMENT", "EXIT STATUS"):
            self.assertIn(head, sections)
        for sig in ("SIGHUP", "SIGTERM", "SIGINT"):
            self.assertTrue(any(sig in t for t in tags), sig)

    def test_ctl_commands_and_options(self):
        text = help_text(sbtest.CTL)
        cmds = ctl_commands(text)
        self.assertIn("conference send", cmds)
        self.assertIn("mwi show subscription", cmds)
        self.assertGreaterEqual(len(cmds), 20)
        paras = paragraphs(page_path("sipbridgectl.1"))
        for cmd in cmds:
            with self.subTest(command=cmd):
                self.assertTrue(tagged(paras, cmd), cmd)
        tags = [t for t, _ in paras]
        for opt in help_options(text):
            with self.subTest(option=opt):
                pat = re.compile(r"(?<![\w-])" + re.escape(opt) + r"(?![\w-])")
                self.assertTrue(any(pat.search(t) for t in tags), opt)
        # Exit statuses: those --help states.
        m = re.search(r"Exit status:(.*)", text, re.S)
        self.assertIsNotNone(m)
        for code in re.findall(r"\b(\d+) [a-z]", m.group(1)):
            with self.subTest(exit=code):
                self.assertIn(code, tags)
        self.assertIn("SIPBRIDGE_SOCKET", [t for t, _ in paras])

    def test_config_types_and_keys(self):
        tables = config_tables()
        for t in ("global", "transport", "control", "database", "conference", "endpoint",
                  "identify", "auth", "outbound-publish", "inbound-publication",
                  "asterisk-publication", "mwi", "api", "limits"):
            self.assertIn(t, tables)
        self.assertGreaterEqual(sum(len(v) for v in tables.values()), 60)
        path = page_path("sipbridge.conf.5")
        subsections = " ".join(headings(path, "SS"))
        paras = paragraphs(path)
        for t, keys in tables.items():
            with self.subTest(type=t):
                self.assertRegex(subsections, r"(?<![\w-])type=" + re.escape(t) + r"(?![\w-])")
            for key, dflt in keys:
                with self.subTest(type=t, key=key):
                    found = tagged(paras, key)
                    self.assertTrue(found, "%s: key %s has no .TP entry" % (t, key))
                    self.assertTrue(any(re.search(r"(?i)default|required", p[1]) for p in found),
                                    "%s: key %s gives no default" % (t, key))
                    m = re.search(r"`([^`]+)`", dflt)
                    if m:
                        value = m.group(1)
                        self.assertTrue(any(value in p[1] for p in found),
                                        "%s: key %s: default %r missing" % (t, key, value))


class Installed(sbtest.unittest.TestCase):
    def test_cmake_install_puts_pages_in_mandir(self):
        dest = sbtest.tempfile.mkdtemp(prefix="sbman-install-")
        try:
            r = subprocess.run(["cmake", "--install", sbtest.BUILD, "--prefix", "/usr"],
                               env=dict(os.environ, DESTDIR=dest), capture_output=True,
                               text=True, timeout=sbtest.bounded(60))
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            for name, (_, section) in PAGES.items():
                with self.subTest(page=name):
                    got = os.path.join(dest, "usr", "share", "man", "man" + section, name)
                    self.assertTrue(os.path.isfile(got), r.stdout)
                    self.assertEqual(read(got), read(page_path(name)))
        finally:
            sbtest.shutil.rmtree(dest, ignore_errors=True)


if __name__ == "__main__":
    sbtest.main()
