#!/usr/bin/env python3
"""Process and simulation helpers for schoolnet integration tests and the demo.

Everything started here is registered for cleanup: processes run in their own
session and are stopped by process group (SIGTERM, then SIGKILL after 5 s),
temp dirs are removed (unless SCHOOLNET_KEEP=1), at normal exit, on an
exception unwinding through run_test(), and on SIGINT/SIGTERM/SIGHUP.

Traffic goes to 127.0.0.1 only.  Binaries come from $SCHOOLNET_BUILD (a
build dir with agent/schoolnet-agent and collector/schoolnet-collector),
default <repo>/build.
"""

import atexit
import datetime
import json
import os
import re
import shutil
import sqlite3
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import gen_county  # noqa: E402

KEEP = os.environ.get("SCHOOLNET_KEEP") == "1"
SNMPSIMD = "/usr/bin/snmpsimd"
SNMPD = "/usr/sbin/snmpd"
VARIATION_DIRS = ["/usr/share/snmpsim/variation"]


# --- failures and skips ------------------------------------------------------

class Skip(Exception):
    """A required program is missing: the test exits 77."""


class TestFailure(AssertionError):
    pass


class NotYet(Exception):
    """Raised by a wait_until condition: not there yet, and what it saw."""


# --- cleanup registry ----------------------------------------------------------

_cleanups = []
_daemons = []
_cleanup_lock = threading.Lock()


def on_cleanup(fn):
    """Run fn at cleanup (LIFO: things started later are stopped first)."""
    _cleanups.append(fn)
    return fn


def cleanup_all():
    """Stop everything registered, newest first.  Safe to call twice."""
    with _cleanup_lock:
        old = {}
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            try:
                old[s] = signal.signal(s, signal.SIG_IGN)
            except (ValueError, OSError):  # not the main thread
                pass
        try:
            while _cleanups:
                fn = _cleanups.pop()
                try:
                    fn()
                except Exception as e:  # keep cleaning the rest
                    print("harness: cleanup %r failed: %s" % (fn, e), file=sys.stderr)
        finally:
            for s, h in old.items():
                signal.signal(s, h)


atexit.register(cleanup_all)


def _on_signal(signum, _frame):
    # Unwind through try/finally; atexit then runs cleanup_all.
    raise SystemExit(128 + signum)


def install_signal_handlers():
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)


# --- temp dirs, ports ------------------------------------------------------

class Workdir:
    """A temp dir (world-traversable, so snmpsimd's `nobody` can read what
    it needs), removed at cleanup unless SCHOOLNET_KEEP=1.  With `path`,
    uses that dir and never removes it (it is not ours)."""

    def __init__(self, prefix="schoolnet-", path=None):
        if path:
            self.path = os.path.abspath(path)
            os.makedirs(self.path, exist_ok=True)
            self.owned = False
        else:
            self.path = tempfile.mkdtemp(prefix=prefix, dir=tempfile.gettempdir())
            self.owned = True
        os.chmod(self.path, 0o755)
        on_cleanup(self.cleanup)

    def sub(self, *parts):
        p = os.path.join(self.path, *parts)
        os.makedirs(p, exist_ok=True)
        return p

    def file(self, *parts):
        p = os.path.join(self.path, *parts)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def cleanup(self):
        if not self.owned:
            return
        if KEEP:
            print("harness: keeping %s (SCHOOLNET_KEEP=1)" % self.path, file=sys.stderr)
            return
        shutil.rmtree(self.path, ignore_errors=True)


def free_port(kind="udp"):
    """A port that was free on 127.0.0.1 for `kind` ('udp' or 'tcp')."""
    st = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, st) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcp_listening(port, host="127.0.0.1"):
    """True if something LISTENs on host:port (read from /proc, no connect)."""
    want = {"127.0.0.1": ["0100007F", "00000000"], "::1": []}.get(host, [])
    hexport = "%04X" % port
    for path, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    addr, p = parts[1].split(":")
                    if p != hexport or parts[3] != "0A":
                        continue
                    if v6 or addr in want:
                        return True
        except OSError:
            pass
    return False


# --- processes ---------------------------------------------------------------

class Daemon:
    """A long-running process in its own session, output to log_path."""

    def __init__(self, argv, log_path, env=None, cwd=None, name=None, tail_skip=None):
        self.tail_skip = re.compile(tail_skip) if tail_skip else None
        self.argv = [str(a) for a in argv]
        self.name = name or os.path.basename(self.argv[0])
        self.log_path = log_path
        os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
        full_env = dict(os.environ)
        full_env.update(env or {})
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=full_env, cwd=cwd,
                                     start_new_session=True)
        self.pid = self.proc.pid
        self.returncode = None
        _daemons.append(self)
        on_cleanup(self.stop)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=5.0):
        """SIGTERM the process group, SIGKILL after `timeout`; return the exit
        status (negative = killed by that signal)."""
        if self.returncode is not None:
            return self.returncode
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                print("harness: %s (pid %d) ignored SIGTERM for %.0f s, killing"
                      % (self.name, self.pid, timeout), file=sys.stderr)
                self.killed = True
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        # Anything it left behind in its own group.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.returncode = self.proc.returncode
        self._log.close()
        return self.returncode

    def tail(self, n=25):
        return tail(self.log_path, n, self.tail_skip)

    def __repr__(self):
        return "<%s pid %d>" % (self.name, self.pid)


def tail(path, n=25, skip=None):
    """The last n lines of a log (lines matching regex `skip` left out)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 256 * 1024))
            lines = f.read().decode("utf-8", "replace").splitlines()
        if skip is not None:
            lines = [ln for ln in lines if not skip.search(ln)]
        return "\n".join(lines[-n:])
    except OSError as e:
        return "(no log: %s)" % e


def log_tails(logs=None, n=25):
    items = logs if logs is not None else _daemons
    out = []
    for d in items:
        if isinstance(d, Daemon):
            state = "running" if d.alive() else "exited %s" % d.proc.returncode
            out.append("--- %s pid %d (%s), %s:\n%s" % (d.name, d.pid, state, d.log_path, d.tail(n)))
        else:
            out.append("--- %s:\n%s" % (d, tail(d, n)))
    return "\n".join(out)


def wait_until(fn, timeout, what, interval=0.25, logs=None):
    """Call fn until it returns something truthy (returned); raise
    TestFailure after `timeout` s with the last value/error and log tails.
    fn may raise NotYet("what it saw") to say why it is not done yet."""
    deadline = time.monotonic() + timeout
    last, err = None, None
    while True:
        try:
            last = fn()
            err = None
            if last:
                return last
        except Skip:
            raise
        except Exception as e:
            err = e
        if time.monotonic() >= deadline:
            msg = "timed out after %.1f s waiting for %s" % (timeout, what)
            if isinstance(err, NotYet):
                msg += "\n  last seen: %s" % err
            elif err is not None:
                msg += "\n  last error: %s: %s" % (type(err).__name__, err)
            else:
                msg += "\n  last result: %s" % _short(last)
            raise TestFailure(msg + "\n" + log_tails(logs))
        time.sleep(interval)


def _short(x, n=600):
    s = repr(x)
    return s if len(s) <= n else s[:n] + "..."


# --- net-snmp command-line tools -----------------------------------------------

_tool_dir = None


def snmp_env():
    """Env for net-snmp tools: no MIB loading (none installed; only noise),
    persistent state in our own temp dir instead of /var/lib/snmp."""
    global _tool_dir
    if _tool_dir is None:
        _tool_dir = tempfile.mkdtemp(prefix="schoolnet-snmptools-")
        on_cleanup(lambda: shutil.rmtree(_tool_dir, ignore_errors=True))
    env = dict(os.environ)
    env.update({"SNMP_PERSISTENT_DIR": _tool_dir, "MIBS": "", "MIBDIRS": "/nonexistent"})
    return env


def _snmp_auth(community=None, v3=None):
    if v3:
        return ["-v3", "-l", "authPriv", "-u", v3["user"], "-a", v3.get("auth_protocol", "SHA"),
                "-A", v3["auth_key"], "-x", v3.get("priv_protocol", "AES"), "-X", v3["priv_key"]]
    return ["-v2c", "-c", community]


def snmp_cmd(tool, port, args, community=None, v3=None, timeout=1.0, retries=1, opts=(), node=None):
    """Run a net-snmp tool against 127.0.0.1:port; args go after the address.
    node: run it in that network namespace (a netlab Node), not here."""
    argv = ([tool] + _snmp_auth(community, v3)
            + ["-t", str(timeout), "-r", str(retries), "-On", "-Ot", "-Oe", "-Oq"] + list(opts)
            + ["127.0.0.1:%d" % port] + [str(a) for a in args])
    if node is not None:
        argv = node.exec_argv(argv)
    r = subprocess.run(argv, capture_output=True, env=snmp_env(), stdin=subprocess.DEVNULL,
                       timeout=(timeout * (retries + 1)) * 4 + 30)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(argv), r.returncode,
                                                   r.stderr.decode(errors="replace").strip()))
    return r.stdout.decode("utf-8", "replace")


def _parse_varbinds(text):
    """`-On -Oq` output -> {oid: value-string}."""
    out = {}
    for line in text.splitlines():
        if not line.startswith("."):
            continue
        oid, _, val = line.partition(" ")
        val = val.strip()
        if len(val) >= 2 and val[0] == '"' and val[-1] == '"':
            val = val[1:-1]
        out[oid[1:]] = val
    return out


def snmp_get(port, oid, community=None, v3=None, **kw):
    text = snmp_cmd("snmpget", port, [oid], community=community, v3=v3, **kw)
    vals = _parse_varbinds(text)
    if oid.lstrip(".") not in vals:
        raise RuntimeError("snmpget %s: unexpected output %r" % (oid, text))
    v = vals[oid.lstrip(".")]
    if v.startswith("No Such"):
        raise RuntimeError("snmpget %s: %s" % (oid, v))
    return v


def snmp_walk(port, oid, community=None, v3=None, **kw):
    return _parse_varbinds(snmp_cmd("snmpbulkwalk", port, [oid], community=community,
                                    v3=v3, **kw))


def snmp_set(port, community, *triples, **kw):
    """snmp_set(port, 'sw-s001', (oid, 'u', 10), ...)"""
    args = []
    for oid, typ, val in triples:
        args += [oid, typ, str(val)]
    return snmp_cmd("snmpset", port, args, community=community, **kw)


# --- simulated switches --------------------------------------------------------

def _variation_modules():
    mods = set()
    for d in VARIATION_DIRS:
        try:
            mods |= {f[:-3] for f in os.listdir(d) if f.endswith(".py")}
        except OSError:
            pass
    return mods


_TAG_RE = re.compile(r"^[0-9.]+\|[0-9]+[xe]?:([A-Za-z0-9_]+)\|", re.M)


def variation_aliases(data_dir):
    """--variation-module-options for every `<module>_<suffix>` alias used by
    the .snmprec files in data_dir (e.g. writecache_s001, see gen_county)."""
    mods = _variation_modules()
    used = set()
    for root, _dirs, files in os.walk(data_dir):
        for f in files:
            if f.endswith(".snmprec"):
                with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
                    used |= set(_TAG_RE.findall(fh.read()))
    opts, aliased = [], set()
    for name in sorted(used - mods):
        base = next((m for m in sorted(mods, key=len, reverse=True) if name.startswith(m + "_")), None)
        if base is None:
            raise ValueError("unknown variation module %r in %s" % (name, data_dir))
        opts.append("--variation-module-options=%s=%s:" % (base, name))
        aliased.add(base)
    # Options for a module replace its default load: keep the plain name too.
    for base in sorted(aliased & used):
        opts.append("--variation-module-options=%s=%s:" % (base, base))
    return opts


def communities(data_dir):
    out = []
    for root, _dirs, files in os.walk(data_dir):
        for f in sorted(files):
            if f.endswith(".snmprec"):
                rel = os.path.relpath(os.path.join(root, f[: -len(".snmprec")]), data_dir)
                out.append(rel.replace(os.sep, "/"))
    return sorted(out)


class Snmpsim:
    """snmpsimd serving every .snmprec under data_dir on 127.0.0.1:port (one
    community per file).  Runs as nobody from a private copy of the data in a
    fresh /tmp dir (so the data dir's own permissions do not matter).  With
    node (a netlab Node), on that namespace's loopback."""

    def __init__(self, data_dir, port=None, log_path=None, startup_timeout=60, node=None):
        self.node = node
        if not os.access(SNMPSIMD, os.X_OK):
            raise Skip("snmpsimd (%s) is not installed (Debian package snmpsim)" % SNMPSIMD)
        self.port = port or free_port("udp")
        self.address = "127.0.0.1:%d" % self.port
        self.rundir = tempfile.mkdtemp(prefix="schoolnet-snmpsim-")
        on_cleanup(self._remove_rundir)
        os.chmod(self.rundir, 0o755)
        self.data_dir = os.path.join(self.rundir, "data")
        shutil.copytree(data_dir, self.data_dir,
                        ignore=lambda d, names: [n for n in names if not n.endswith(".snmprec")
                                                 and not os.path.isdir(os.path.join(d, n))])
        for root, dirs, files in os.walk(self.data_dir):
            os.chmod(root, 0o755)
            for f in files:
                os.chmod(os.path.join(root, f), 0o644)
        cache = os.path.join(self.rundir, "cache")
        os.mkdir(cache)
        os.chmod(cache, 0o777)  # snmpsimd writes its index there as nobody
        self.communities = communities(self.data_dir)
        if not self.communities:
            raise ValueError("no .snmprec files in %s" % data_dir)
        self.log_path = log_path or os.path.join(self.rundir, "snmpsimd.log")
        argv = [SNMPSIMD]
        if os.geteuid() == 0:  # snmpsimd refuses to keep root; as a user it cannot switch
            argv += ["--process-user=nobody", "--process-group=nogroup"]
        argv += ["--data-dir=" + self.data_dir, "--cache-dir=" + cache,
                "--agent-udpv4-endpoint=" + self.address, "--logging-method=stderr"]
        argv += variation_aliases(self.data_dir)
        if node is not None:
            argv = node.exec_argv(argv)
        # snmpsimd logs every request; leave those out of failure reports.
        self.daemon = Daemon(argv, self.log_path, name="snmpsimd",
                             tail_skip=r"^(Request|Response) var-binds|^SNMP EngineID"
                             r"|^Using .* controller selected by candidate"
                             r"|^ 1\.3\.6\.")  # var-binds go on over lines
        self._wait_ready(startup_timeout)

    def _wait_ready(self, timeout):
        def answers():
            if not self.daemon.alive():
                raise TestFailure("snmpsimd exited (%s):\n%s"
                                  % (self.daemon.proc.returncode, self.daemon.tail(40)))
            try:
                return snmp_get(self.port, "1.3.6.1.2.1.1.3.0", community=self.communities[0],
                                timeout=0.5, retries=0, node=self.node)
            except RuntimeError:
                return None
        try:
            wait_until(answers, timeout, "snmpsimd on %s to answer" % self.address,
                       logs=[self.daemon])
        except TestFailure:
            raise
        for c in self.communities[1:]:
            snmp_get(self.port, "1.3.6.1.2.1.1.3.0", community=c, timeout=1, retries=2,
                     node=self.node)

    # In a lab, snmpsimd listens on the school namespace's loopback: the
    # tools run there too.
    def get(self, community, oid):
        return snmp_get(self.port, oid, community=community, node=self.node)

    def walk(self, community, oid):
        return snmp_walk(self.port, oid, community=community, node=self.node)

    def set(self, community, *triples):
        return snmp_set(self.port, community, *triples, node=self.node)

    def stop(self):
        return self.daemon.stop()

    def _remove_rundir(self):
        if KEEP:
            print("harness: keeping %s (SCHOOLNET_KEEP=1)" % self.rundir, file=sys.stderr)
        else:
            shutil.rmtree(self.rundir, ignore_errors=True)


class Snmpd:
    """The real net-snmp agent with one SNMPv3 authPriv user, on 127.0.0.1."""

    def __init__(self, port=None, v3user="schoolnet", authpass="authpass-0123", privpass="privpass-0123",
                 auth_protocol="SHA", priv_protocol="AES", log_path=None, startup_timeout=20):
        if not os.access(SNMPD, os.X_OK):
            raise Skip("snmpd (%s) is not installed (Debian package snmpd)" % SNMPD)
        self.port = port or free_port("udp")
        self.address = "127.0.0.1:%d" % self.port
        self.v3 = {"user": v3user, "auth_protocol": auth_protocol, "auth_key": authpass,
                   "priv_protocol": priv_protocol, "priv_key": privpass}
        self.rundir = tempfile.mkdtemp(prefix="schoolnet-snmpd-")
        on_cleanup(lambda: KEEP or shutil.rmtree(self.rundir, ignore_errors=True))
        persist = os.path.join(self.rundir, "persist")
        os.mkdir(persist)
        self.conf = os.path.join(self.rundir, "snmpd.conf")
        # The listening address is given on the command line only: an
        # `agentaddress` line for the same port as well makes snmpd bind it
        # twice and exit ("Error opening specified endpoint").
        with open(self.conf, "w") as f:
            f.write('createUser %s %s "%s" %s "%s"\nrouser %s priv\n'
                    % (v3user, auth_protocol, authpass, priv_protocol, privpass, v3user))
        self.log_path = log_path or os.path.join(self.rundir, "snmpd.log")
        argv = [SNMPD, "-f", "-Lo", "-C", "-c", self.conf, "-p", os.path.join(self.rundir, "snmpd.pid"),
                "udp:" + self.address]
        self.daemon = Daemon(argv, self.log_path, name="snmpd",
                             env={"SNMP_PERSISTENT_DIR": persist, "MIBS": "", "MIBDIRS": "/nonexistent"})

        def answers():
            if not self.daemon.alive():
                raise TestFailure("snmpd exited (%s):\n%s" % (self.daemon.proc.returncode,
                                                              self.daemon.tail(40)))
            try:
                return snmp_get(self.port, "1.3.6.1.2.1.1.3.0", v3=self.v3, timeout=0.5, retries=0)
            except RuntimeError:
                return None
        wait_until(answers, startup_timeout, "snmpd on %s to answer SNMPv3" % self.address,
                   logs=[self.daemon])

    def stop(self):
        return self.daemon.stop()


class Blackhole:
    """A UDP socket on 127.0.0.1 that reads everything and never answers."""

    def __init__(self, port=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port or 0))
        self.port = self.sock.getsockname()[1]
        self.address = "127.0.0.1:%d" % self.port
        self.sock.settimeout(0.2)
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="blackhole", daemon=True)
        self._thread.start()
        on_cleanup(self.stop)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.sock.recvfrom(65536)
                self.received += 1
            except socket.timeout:
                continue
            except OSError:
                break

    def stop(self):
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join(2)
            self.sock.close()


# --- schoolnet binaries ----------------------------------------------------------

def build_dir():
    b = os.environ.get("SCHOOLNET_BUILD")
    if b:
        return os.path.abspath(b)
    return os.path.join(REPO, "build")


def artifacts_dir():
    """Where tests leave what a person may want to look at (screenshots):
    $SCHOOLNET_ARTIFACTS, or BUILD/test-artifacts. Kept after the test."""
    d = os.environ.get("SCHOOLNET_ARTIFACTS") or os.path.join(build_dir(), "test-artifacts")
    os.makedirs(d, exist_ok=True)
    return d


def binaries():
    """(agent, collector) paths; Skip if they are not built."""
    b = build_dir()
    agent = os.path.join(b, "agent", "schoolnet-agent")
    collector = os.path.join(b, "collector", "schoolnet-collector")
    missing = [p for p in (agent, collector) if not os.access(p, os.X_OK)]
    if missing:
        raise Skip("not built: %s (set SCHOOLNET_BUILD to the build dir)" % ", ".join(missing))
    return agent, collector


def require_programs(*names):
    missing = [n for n in names if not (shutil.which(n) or os.access(n, os.X_OK))]
    if missing:
        raise Skip("required program(s) missing: %s" % ", ".join(missing))


def run_json(argv, timeout=30, ok_codes=(0,)):
    """Run argv; its stdout must be JSON and its exit status in ok_codes."""
    r = subprocess.run([str(a) for a in argv], capture_output=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    out = r.stdout.decode("utf-8", "replace")
    if r.returncode not in ok_codes:
        raise RuntimeError("%s exited %d\nstdout: %s\nstderr: %s"
                           % (" ".join(map(str, argv)), r.returncode, out[-2000:],
                              r.stderr.decode("utf-8", "replace")[-2000:]))
    try:
        return json.loads(out)
    except ValueError as e:
        raise RuntimeError("%s printed invalid JSON (%s): %r" % (" ".join(map(str, argv)), e, out[:2000]))


def collector_json(bin, conf, *args, timeout=30):
    """`schoolnet-collector -c CONF <args> --json`, parsed."""
    return run_json([bin, "-c", conf] + list(args) + ["--json"], timeout=timeout)


def agent_json(bin, conf, *args, timeout=60):
    """`schoolnet-agent -c CONF <args> --json`, parsed (e.g. args = poll, access1).
    `poll` exits 2 when a switch was not ok; its JSON says which."""
    return run_json([bin, "-c", conf] + list(args) + ["--json"], timeout=timeout, ok_codes=(0, 2))


def check_config(bin, conf):
    """`BIN -c CONF -n` must print `configuration OK` and exit 0."""
    r = subprocess.run([bin, "-c", conf, "-n"], capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    text = (r.stdout + r.stderr).decode("utf-8", "replace")
    if r.returncode != 0 or "configuration OK" not in text:
        raise TestFailure("%s -c %s -n exited %d: %s\n--- %s:\n%s"
                          % (os.path.basename(bin), conf, r.returncode, text.strip(), conf,
                             open(conf, encoding="utf-8").read()))
    return text


def parse_iso(s):
    """'2026-11-22T12:40:01Z' (fraction and offsets allowed) -> epoch seconds."""
    if s is None:
        return None
    s = s.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    return datetime.datetime.fromisoformat(s).timestamp()


# --- a running county --------------------------------------------------------------

def enroll(collector_bin, collector_conf, code, agent_conf=None):
    """`schoolnet-collector enroll --school CODE`; with agent_conf, put the
    lines it prints into that file's [agent] section.  Returns the lines."""
    r = subprocess.run([collector_bin, "-c", collector_conf, "enroll", "--school", code],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise TestFailure("enroll --school %s failed: %s" % (code, r.stderr.strip()))
    lines = [ln for ln in r.stdout.splitlines() if ln and not ln.startswith("#")]
    if agent_conf:
        with open(agent_conf, encoding="utf-8") as f:
            text = f.read()
        text = text.replace("[agent]\n", "[agent]\n" + "\n".join(lines) + "\n", 1)
        with open(agent_conf, "w", encoding="utf-8") as f:
            f.write(text)
    return lines


class County:
    """gen_county output + snmpsimd + collector + agents, all on loopback.

    With lab (a tests/sim/netlab.py Lab), across its link instead: the
    collector in the district namespace (listening on its veth address),
    snmpsimd and the agents in the school namespace.  probe: the agents'
    [probe] keys (gen_county.agent_conf_text); collector_extra: more
    [collector] keys; collector_probe: the collector's [probe] keys;
    recording_url(code, room): a recording room's probe URL (gen_county)."""

    def __init__(self, wd, schools=3, seed=1, poll_interval=3, timeout=None, retries=None,
                 lab=None, probe=None, collector_extra=None, collector_probe=None,
                 recording_url=None):
        self.wd = wd
        self.lab = lab
        self.agent_bin, self.collector_bin = binaries()
        self.snmp_port = free_port("udp")
        self.collector_port = free_port("tcp")
        self.collector_addr = "%s:%d" % (lab.district.addr if lab else "127.0.0.1",
                                         self.collector_port)
        self.dir = wd.sub("county")
        self.logs = wd.sub("logs")
        # The probe server on a port of its own (not the default 7472, which
        # tests running side by side would share).
        collector_probe = dict(collector_probe or {})
        collector_probe.setdefault("listen", "%s:%d" % (self.collector_addr.rsplit(":", 1)[0],
                                                        free_port("tcp")))
        # Throughput tests only when a test asks for them: a scheduled one
        # takes a sequence number from the agent, which tests that count
        # reports do not expect.
        collector_probe.setdefault("throughput_every", 0)
        self.probe_listen = collector_probe["listen"]
        self.manifest = gen_county.generate(self.dir, self.snmp_port, self.collector_addr,
                                            schools=schools, seed=seed, poll_interval=poll_interval,
                                            timeout=timeout, retries=retries, probe=probe,
                                            collector_extra=collector_extra,
                                            collector_probe=collector_probe,
                                            recording_url=recording_url)
        self.conf = self.manifest["collector_conf"]
        self.db = self.manifest["database"]
        # TLS with per-agent keys is the default: enroll every school and
        # put the lines `enroll` prints into its agent's [agent] section.
        self.keys = {}
        for sch in self.manifest["schools"]:
            self.keys[sch["code"]] = self.enroll(sch["code"], sch["agent_conf"])
        self.poll_interval = poll_interval
        self.snmpsim = None
        self.collector = None
        self.agents = {}

    def enroll(self, code, agent_conf=None):
        return enroll(self.collector_bin, self.conf, code, agent_conf)

    def _in(self, where, argv):
        """argv as run in the lab's `where` namespace (as is without a lab)."""
        return argv if self.lab is None else self.lab.node(where).exec_argv(argv)

    def start_snmpsim(self):
        self.snmpsim = Snmpsim(self.manifest["snmp_data_dir"], self.snmp_port,
                               log_path=os.path.join(self.logs, "snmpsimd.log"),
                               node=self.lab.school if self.lab else None)
        return self.snmpsim

    def start_collector(self, timeout=20, argv_extra=()):
        check_config(self.collector_bin, self.conf)
        self.collector = Daemon(self._in("district", [self.collector_bin, "-c", self.conf]
                                         + list(argv_extra)),
                                os.path.join(self.logs, "collector.log"), name="collector")

        def listening():
            if not self.collector.alive():
                raise TestFailure("collector exited (%s):\n%s"
                                  % (self.collector.proc.returncode, self.collector.tail(40)))
            if self.lab is not None:
                return self.lab.district.listening(self.collector_port)
            return tcp_listening(self.collector_port)
        wait_until(listening, timeout, "collector to listen on %s" % self.collector_addr,
                   logs=[self.collector])
        return self.collector

    def start_agent(self, code, conf=None, argv_extra=()):
        conf = conf or os.path.join(self.dir, "agents", "%s.conf" % code)
        check_config(self.agent_bin, conf)
        d = Daemon(self._in("school", [self.agent_bin, "-c", conf] + list(argv_extra)),
                   os.path.join(self.logs, "agent-%s.log" % code),
                   name="agent-%s" % code,
                   env={"SNMP_PERSISTENT_DIR": self.wd.sub("snmp-persist", code)})
        self.agents[code] = d
        return d

    def start_agents(self):
        for s in self.manifest["schools"]:
            self.start_agent(s["code"])

    def start(self):
        self.start_snmpsim()
        self.start_collector()
        self.start_agents()
        return self

    def ports(self, school=None):
        args = ["ports"] + (["--school", school] if school else [])
        return collector_json(self.collector_bin, self.conf, *args)

    def switches(self):
        return collector_json(self.collector_bin, self.conf, "switches")

    def expected(self):
        """{(school, switch, if_index): manifest interface}"""
        out = {}
        for s in self.manifest["schools"]:
            for sw in s["switches"]:
                for i in sw["interfaces"]:
                    out[(s["code"], sw["name"], i["if_index"])] = i
        return out


def probe_rounds(db_path, agent):
    """Probe rounds (PROBE frames) the collector stored for `agent`. They
    share the agent's sequence numbers with its reports, so a test that
    counts reports by sequence number subtracts these."""
    try:
        db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=5)
    except sqlite3.Error:
        return 0
    try:
        return db.execute("SELECT count(*) FROM probe_latency p JOIN agents a ON a.id = p.agent_id"
                          " WHERE a.name = ?", (agent,)).fetchone()[0]
    except sqlite3.Error:
        return 0  # a collector without probes
    finally:
        db.close()


# --- test runner -----------------------------------------------------------------

def collector_cli(county, *args):
    """`schoolnet-collector -c CONF ARGS...` on the county; its stdout, or
    TestFailure with its stderr."""
    r = subprocess.run([county.collector_bin, "-c", county.conf] + list(args),
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise TestFailure("schoolnet-collector %s: exit %d: %s"
                          % (" ".join(args), r.returncode, r.stderr.strip()))
    return r.stdout


def api_token(county, name, role=None):
    """A new API token (`tokens add NAME [--role ROLE]`), checked for its form."""
    args = ["tokens", "add", name] + (["--role", role] if role else [])
    out = collector_cli(county, *args).strip()
    check(re.fullmatch(r"snt_[0-9a-f]{40}", out) is not None,
          "tokens add %s%s prints one token" % (name, " --role " + role if role else ""), out)
    return out


def check(cond, what, detail=""):
    """Print `ok  what` or raise TestFailure(what + detail)."""
    if cond:
        print("  ok    %s" % what, flush=True)
        return
    raise TestFailure("%s%s" % (what, ("\n  " + detail) if detail else ""))


def step(msg):
    print("- %s" % msg, flush=True)


def run_test(main):
    """Run main(); exit 0 pass, 1 fail, 77 skip.  Cleans up in every case."""
    install_signal_handlers()
    name = os.path.basename(sys.argv[0])
    rc = 1
    try:
        main()
        print("PASS %s" % name, flush=True)
        rc = 0
    except Skip as e:
        print("SKIP %s: %s" % (name, e), flush=True)
        rc = 77
    except TestFailure as e:
        print("FAIL %s: %s" % (name, e), flush=True)
        if "\n--- " not in str(e) and _daemons:
            print(log_tails(), flush=True)
    except SystemExit as e:
        print("INTERRUPTED %s (%s)" % (name, e.code), flush=True)
        rc = e.code if isinstance(e.code, int) and e.code else 1
    except Exception:
        traceback.print_exc()
        print("FAIL %s: unexpected error" % name, flush=True)
        if _daemons:
            print(log_tails(), flush=True)
    finally:
        cleanup_all()
    sys.stdout.flush()
    os._exit(rc)
