#!/usr/bin/env python3
"""A two-namespace network lab for schoolnet's link tests: a "district" and a
"school" network namespace joined by a veth pair, shaped with tc, with
iperf3, a recording-host HTTP server and a real RTSP server on demand.

    with netlab.Lab() as lab:
        lab.shape(rate_mbit=80)                       # both directions
        down = lab.iperf3(seconds=3, reverse=True)    # district -> school, Mbps
        up = lab.iperf3(seconds=3)                    # school -> district, Mbps
        lab.shape(delay_ms=50, loss_pct=1)            # replaces the shaping
        cam = lab.rtsp_server()                       # in the school
        cam.stop(); cam.start()
        lab.school.run(["curl", "-sS", lab.http_server().url])

Topology (all of it inside the lab's own namespaces; nothing is added to
the namespace the test runs in, and nothing has a default route):

    sn-<tag>-district                        sn-<tag>-school
      lo up                                    lo up
      sn-d-<tag>  10.249.N.1/30  <== veth ==>  sn-s-<tag>  10.249.N.2/30

<tag> is 6 random hex digits and N a random 1..250, so labs running in
parallel never share a name (the addresses live in separate namespaces and
could not collide anyway).  IPv6 is switched off in both namespaces so that
nothing but the test's own traffic crosses the veth.

Directions: "down" is district -> school (the school downloads), "up" is
school -> district.  lab.iperf3() runs its server in the district and its
client in the school: reverse=False measures up, reverse=True down.

Shaping (lab.shape) -- what is used and why:

* rate: `tc qdisc ... root tbf` on the sending end's veth (egress), so the
  district end shapes "down" and the school end "up".  burst is
  max(128 KiB, 1 ms at the rate): veth has TSO/GSO on, so TCP hands the
  qdisc super-packets of up to 64 KiB; a burst smaller than that makes tbf
  cut every super-packet into MTU segments (tbf_segment), which costs a lot
  of CPU (measured on this 2-core machine at 1000 Mbit: burst 16k/64k ->
  14-68 % CPU in iperf3's own accounting, 128k -> 2-4 %) while the rate is
  the same.  A 128 KiB bucket is 1 ms of line rate at 1 Gbit and 13 ms at
  80 Mbit: over a 3 s test the initial burst is < 0.05 % of the bytes.
  limit (the queue) is burst + queue_ms of line rate, queue_ms defaulting
  to max(20 ms, the emulated RTT), so that a delayed link still fills.
  tbf counts Ethernet frames; iperf3 and an HTTP probe count TCP payload,
  so goodput is about 1448/1514 = 95.6 % of the tbf rate at MTU 1500.

* delay, jitter, loss: with netem where the kernel has it (tbf as the root
  and netem as its child, as Mininet does: `tbf ... ; netem parent 1:1`),
  on the sending end.  Kernels without sch_netem (the machines this
  project runs on: CONFIG_NET_SCH_NETEM is not set, `tc qdisc add ... netem`
  says "Specified qdisc kind is unknown") get the same three knobs from
  netfilter on the receiving end instead, in a chain SNLAB of the mangle
  table's PREROUTING for the veth:
    - loss: `-m statistic --mode random --probability P -j DROP` (in the
      kernel, any rate);
    - delay/jitter: `-j NFQUEUE` to a small userspace delay line (this file,
      `_delayd`, stdlib only, raw nfnetlink) that holds each packet for
      delay +- uniform(jitter) and then accepts it.  Unlike netem's jitter,
      a packet never overtakes an earlier one (the delay line is FIFO).
      Packets are queued as they arrive (GSO super-packets are not split:
      NFQA_CFG_F_GSO), and only their metadata is copied to userspace.
  The receiving end is used rather than the sender's egress because a
  packet still owned by the sending socket counts against TCP small
  queues (about 1 ms of the pacing rate may sit below TCP): a delay line
  on the sender's egress would throttle a TCP flow to a fraction of the
  rate.  ip_rcv orphans the packet before PREROUTING, so on the receiving
  end the delay costs TCP nothing: 80 and 500 Mbit with 20 ms each way, and
  1000 Mbit with 5 ms, run at the full tbf rate once slow start is over.
  So the order on a link is rate, then delay and loss: a bottleneck and
  then the path.  Measured on this machine: 50 ms each way gives TCP
  connect times of 100.5-106 ms (median 101).
  Receive timestamps: the kernel stamps a packet (SO_TIMESTAMP*) when the
  veth delivers it, before PREROUTING, so a program that times replies by
  kernel receive timestamps does not see the receiving side's delay (plain
  `ping` shows 50 ms for 50 ms each way, and stops waiting for replies too
  early).  Time in userspace, as `ping -U` (Node.ping), a TCP connect, or
  libcurl do.  netem (on the sender) has no such effect.
  Reshaping replaces the delay line; what the old one held is let through
  at once, not dropped.  The line is FIFO with at most 20000 packets
  (GSO super-packets count as one); a full line drops.
  lab.impair_backend says which one is in use ("netem" or "nfqueue");
  SCHOOLNET_NETLAB_IMPAIR=nfqueue forces the userspace one.

  (The netem branch follows the usual recipe but has never run here: no
  machine of this project has sch_netem.)

Recording-host stand-ins (lab.http_server / lab.rtsp_server, in the school
by default, where="district" for the other side; start()/stop()/restart()):

* HTTP: busybox httpd (-f, foreground) serving index.html with the expected
  text.  Chosen over nginx-light: one binary, no config file, no pid file
  or temp paths, no worker user, starts in a few ms, and it is the kind of
  web server an embedded recorder or camera actually runs; over python3's
  http.server because it is a real server from Debian's packages.
* RTSP: GStreamer's gst-rtsp-server library (gir1.2-gst-rtsp-server-1.0,
  driven by Debian's python3-gi; Debian has no standalone RTSP server
  binary apart from rtsp-server-perl, a relay that has nothing to DESCRIBE
  until a source ANNOUNCEs, and live555's tools are not packaged) with
  one mount streaming videotestsrc as RTP/JPEG.  It answers OPTIONS,
  DESCRIBE (an SDP with m=video ... JPEG/90000), SETUP, PLAY, TEARDOWN.
  The curl command line can only send OPTIONS to an rtsp:// URL (it has no
  option for CURLOPT_RTSP_REQUEST, -X is ignored): rtsp_requests() sends
  OPTIONS and DESCRIBE through libcurl itself (python3-pycurl), as the
  agent's probe will.
* Stopped, both refuse connections at once (curl exit 7); started again,
  both answer within ~0.3 s.

Cleanup: the lab registers with harness.on_cleanup, so its servers, the
delay lines, the netfilter rules, the qdiscs and both namespaces are
removed at the end of the `with` block, on an exception, on SIGTERM/SIGINT/
SIGHUP (the lab installs harness's handlers when the process has none) and
at exit.  Every process the lab starts runs under `setpriv --pdeathsig
KILL`, so even a SIGKILLed test leaves no process behind; its namespaces
are then deleted by the next Lab() (each lab leaves a note with its owner's
pid in /run/schoolnet-netlab/; a lab whose owner is gone is swept).

Skips (harness.Skip): `ip netns add` refused (not root / no CAP_SYS_ADMIN /
no netns support), or a program a method needs is missing (ip, tc, setpriv;
iperf3; busybox; Debian's python3 with gi and GstRtspServer; iptables;
ping).  Debian packages: tests/sim/netlab-packages.txt (iproute2 iperf3
busybox iptables iputils-ping curl procps util-linux python3-gi
python3-pycurl gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
gstreamer1.0-plugins-good), which scripts/deps.sh installs.

Traffic goes only to the two lab addresses and to loopback inside the
namespaces.  Every wait has a time limit and every loop a count limit; the
helper daemons (delay line, TCP sink, RTSP server) end with the lab, when
the process that started them is gone, or after SCHOOLNET_NETLAB_MAX_LIFE
seconds (6 h).

Run as a script, this file is also the helpers the lab starts inside the
namespaces (`netlab.py _delayd|_rtsp|_connect|_sink ...`).
"""

import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
import harness as h  # noqa: E402

THIS = os.path.abspath(__file__)
# Debian's python3: the one python3-gi is installed for (a python3 earlier
# on the PATH, e.g. pyenv's, usually has no gi).
SYSTEM_PYTHON = "/usr/bin/python3"
RECORD_DIR = "/run/schoolnet-netlab"
NFQUEUE_NUM = 4242
CHAIN = "SNLAB"
DEFAULT_PAGE_TEXT = "schoolnet recording host OK"
RTSP_LAUNCH = ("( videotestsrc is-live=true pattern=ball "
               "! video/x-raw,format=I420,width=320,height=240,framerate=5/1 "
               "! jpegenc quality=50 ! rtpjpegpay name=pay0 pt=26 )")
GOODPUT_FACTOR = 1448.0 / 1514.0  # TCP payload per Ethernet frame at MTU 1500 with timestamps


def _run(argv, timeout=30, check=True, **kw):
    r = subprocess.run([str(a) for a in argv], capture_output=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, **kw)
    if check and r.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (" ".join(map(str, argv)), r.returncode,
                                                 _text(r.stderr).strip() or _text(r.stdout).strip()))
    return r


def _text(b):
    return b.decode("utf-8", "replace") if isinstance(b, (bytes, bytearray)) else (b or "")


def _require(*names):
    missing = [n for n in names if not (shutil.which(n) or os.access(n, os.X_OK))]
    if missing:
        raise h.Skip("netlab: required program(s) missing: %s" % ", ".join(missing))


def _proc_start_time(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def sweep_stale():
    """Delete the namespaces of labs whose owning process is gone (a test
    killed with SIGKILL).  Only labs that left a note are touched."""
    try:
        notes = os.listdir(RECORD_DIR)
    except OSError:
        return []
    swept = []
    for n in notes[:1000]:
        path = os.path.join(RECORD_DIR, n)
        try:
            with open(path) as f:
                rec = json.load(f)
        except (OSError, ValueError):
            continue
        if _proc_start_time(rec.get("pid", -1)) == rec.get("start"):
            continue  # owner still running
        for ns in rec.get("namespaces", []):
            if re.match(r"^sn-[0-9a-f]{6}-(district|school)$", ns):
                _run(["ip", "netns", "del", ns], check=False)
                swept.append(ns)
        wd = rec.get("workdir")
        if wd and os.path.basename(wd).startswith("schoolnet-netlab-") \
                and os.path.dirname(wd) == os.path.realpath(_tempfile_dir()):
            shutil.rmtree(wd, ignore_errors=True)
        try:
            os.unlink(path)
        except OSError:
            pass
    return swept


def _tempfile_dir():
    import tempfile
    return tempfile.gettempdir()


def netns_list():
    r = _run(["ip", "netns", "list"], check=False)
    return [ln.split()[0] for ln in _text(r.stdout).splitlines() if ln.strip()]


# --- a namespace ---------------------------------------------------------------

class Node:
    """One side of the lab: a network namespace with one veth end.

    .role ("district"/"school"), .name (namespace), .addr (IPv4 on the
    veth), .ifname (the veth end), .peer (the other Node)."""

    def __init__(self, lab, role, name, addr, ifname):
        self.lab, self.role, self.name, self.addr, self.ifname = lab, role, name, addr, ifname
        self.peer = None

    def __repr__(self):
        return "<Node %s %s %s>" % (self.role, self.name, self.addr)

    def exec_argv(self, argv):
        """argv run inside this namespace (`ip netns exec NAME ...`)."""
        return ["ip", "netns", "exec", self.name] + [str(a) for a in argv]

    def run(self, argv, timeout=30, check=False, **kw):
        """subprocess.run in the namespace; output captured, stdin closed,
        bounded by `timeout` s.  check=True raises RuntimeError on failure."""
        kw.setdefault("capture_output", True)
        kw.setdefault("stdin", subprocess.DEVNULL)
        r = subprocess.run(self.exec_argv(argv), timeout=timeout, **kw)
        if check and r.returncode != 0:
            raise RuntimeError("[%s] %s exited %d: %s" % (self.role, " ".join(map(str, argv)),
                                                        r.returncode, _text(r.stderr).strip()))
        return r

    def popen(self, argv, **kw):
        """subprocess.Popen in the namespace, in its own session, killed at
        cleanup (and when this process dies)."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(self.exec_argv(["setpriv", "--pdeathsig", "KILL", "--"] + list(argv)),
                             start_new_session=True, **kw)

        def kill():
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                    p.wait(5)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    p.wait(5)
        h.on_cleanup(kill)
        return p

    def daemon(self, argv, name=None, log_path=None, env=None, tail_skip=None):
        """A harness.Daemon in the namespace (log in the lab's workdir)."""
        name = name or os.path.basename(str(argv[0]))
        log_path = log_path or self.lab.log_path("%s-%s" % (self.role, name))
        return h.Daemon(self.exec_argv(["setpriv", "--pdeathsig", "KILL", "--"] + list(argv)),
                        log_path, env=env, name="%s[%s]" % (name, self.role), tail_skip=tail_skip)

    def free_port(self, kind="tcp"):
        """A port that was free on all addresses in this namespace."""
        st = "SOCK_DGRAM" if kind == "udp" else "SOCK_STREAM"
        r = self.run([sys.executable, "-c",
                      "import socket; s = socket.socket(socket.AF_INET, socket.%s); "
                      "s.bind(('0.0.0.0', 0)); print(s.getsockname()[1])" % st], check=True)
        return int(_text(r.stdout).strip())

    def listening(self, port):
        """True if a TCP socket LISTENs on `port` in this namespace."""
        r = self.run(["cat", "/proc/net/tcp", "/proc/net/tcp6"])
        hexport = ":%04X" % port
        for line in _text(r.stdout).splitlines()[1:]:
            parts = line.split()
            if len(parts) > 3 and parts[1].endswith(hexport) and parts[3] == "0A":
                return True
        return False

    def wait_listening(self, port, timeout=10, daemon=None, what=None):
        def ok():
            if daemon is not None and not daemon.alive():
                raise h.TestFailure("%s exited (%s):\n%s" % (daemon.name, daemon.proc.returncode,
                                                             daemon.tail(30)))
            return self.listening(port)
        h.wait_until(ok, timeout, what or "a listener on port %d in %s" % (port, self.name),
                     interval=0.05, logs=[daemon] if daemon else None)

    def tcp_connect_times(self, host, port, count=10, interval=0.05, timeout=1.0):
        """TCP connects from this namespace to host:port, one after another:
        a list with each connect's time in ms, or None where it failed or
        took longer than `timeout` s.  Bounded: count <= 10000."""
        count = max(1, min(int(count), 10000))
        r = self.run([sys.executable, THIS, "_connect", host, port, count, interval, timeout],
                     timeout=count * (interval + timeout) + 30, check=True)
        return json.loads(_text(r.stdout))

    def ping(self, host, count=10, interval=0.2, wait=1.0, size=None):
        """iputils ping from this namespace: {sent, received, loss_pct,
        min, avg, max, mdev} (ms; None when nothing came back).  Run with
        -U (user-to-user times): see "receive timestamps" in the module doc."""
        _require("ping")
        count = max(1, min(int(count), 10000))
        argv = ["ping", "-n", "-q", "-U", "-c", count, "-i", "%g" % interval, "-W", "%g" % wait]
        if size:
            argv += ["-s", size]
        r = self.run(argv + [host], timeout=count * interval + wait + 30)
        out = _text(r.stdout)
        m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
        if not m:
            raise RuntimeError("ping %s: unexpected output %r %r" % (host, out, _text(r.stderr)))
        res = {"sent": int(m.group(1)), "received": int(m.group(2))}
        res["loss_pct"] = 100.0 * (res["sent"] - res["received"]) / max(res["sent"], 1)
        m = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms", out)
        for i, k in enumerate(("min", "avg", "max", "mdev")):
            res[k] = float(m.group(i + 1)) if m else None
        return res

    def tcp_sink(self, port=None):
        """A TCP listener on 0.0.0.0:port here that accepts and closes every
        connection: a target for connect-time probes.  Returns a Daemon with
        .port set."""
        port = port or self.free_port()
        d = self.daemon([sys.executable, THIS, "_sink", port], name="tcp-sink-%d" % port)
        d.port = port
        self.wait_listening(port, 15, d, "the TCP sink on %s:%d" % (self.addr, port))
        self.lab._stoppables.append(d)
        return d


# --- recording-host stand-ins ---------------------------------------------------

class _Server:
    """start()/stop()/restart(); .url, .port, .addr, .node, .daemon."""

    what = "server"

    def __init__(self, lab, node, port):
        self.lab, self.node = lab, node
        self.port = port or node.free_port()
        self.addr = node.addr
        self.daemon = None
        lab._stoppables.append(self)

    def argv(self):
        raise NotImplementedError

    def ready(self):
        return self.node.listening(self.port)

    def start(self, timeout=20):
        if self.alive():
            return self
        self.daemon = self.node.daemon(self.argv(), name="%s-%d" % (self.what, self.port))

        def up():
            if not self.daemon.alive():
                raise h.TestFailure("%s exited (%s):\n%s" % (self.daemon.name,
                                                             self.daemon.proc.returncode,
                                                             self.daemon.tail(30)))
            return self.ready()
        h.wait_until(up, timeout, "%s on %s:%d" % (self.what, self.addr, self.port),
                     interval=0.05, logs=[self.daemon])
        return self

    def stop(self):
        """Stop it: connections to the port are refused afterwards."""
        if self.daemon is not None:
            self.daemon.stop(timeout=5)
            self.daemon = None
        return self

    def restart(self):
        return self.stop().start()

    def alive(self):
        return self.daemon is not None and self.daemon.alive()

    def __repr__(self):
        return "<%s %s %s>" % (type(self).__name__, self.url, "up" if self.alive() else "down")


class HttpHost(_Server):
    """busybox httpd serving `text` as /index.html (and `/` ) on
    0.0.0.0:port in the node's namespace.  .url is http://ADDR:PORT/."""

    what = "httpd"

    def __init__(self, lab, node, port=None, text=DEFAULT_PAGE_TEXT, files=None):
        _require("busybox")
        super().__init__(lab, node, port)
        self.text = text
        self.docroot = lab.workdir.sub("httpd-%s-%d" % (node.role, self.port))
        with open(os.path.join(self.docroot, "index.html"), "w", encoding="utf-8") as f:
            f.write("<!doctype html>\n<html><head><title>recording host</title></head>"
                    "<body><p>%s</p></body></html>\n" % text)
        for name, data in (files or {}).items():
            with open(os.path.join(self.docroot, name), "wb") as f:
                f.write(data if isinstance(data, bytes) else data.encode())
        self.url = "http://%s:%d/" % (self.addr, self.port)

    def argv(self):
        return ["busybox", "httpd", "-f", "-v", "-p", "0.0.0.0:%d" % self.port, "-h", self.docroot]

    def probe(self, frm="district", timeout=5.0):
        """curl the page from `frm`: (curl exit code, HTTP status, body)."""
        return curl(self.lab.node(frm), self.url, timeout)


class RtspHost(_Server):
    """gst-rtsp-server (GStreamer's RTSP server library, through Debian's
    python3-gi) with one mount `path` streaming a videotestsrc as RTP/JPEG,
    on 0.0.0.0:port in the node's namespace.  Answers OPTIONS and DESCRIBE
    (SDP) and streams on SETUP/PLAY.  .url is rtsp://ADDR:PORT/path."""

    what = "rtsp"

    def __init__(self, lab, node, port=None, path="/stream", launch=RTSP_LAUNCH):
        _check_gst()
        super().__init__(lab, node, port)
        self.path = path if path.startswith("/") else "/" + path
        self.launch = launch
        self.url = "rtsp://%s:%d%s" % (self.addr, self.port, self.path)

    def argv(self):
        return [SYSTEM_PYTHON, THIS, "_rtsp", self.port, self.path, self.launch]

    def ready(self):
        return self.node.listening(self.port) and "listening on rtsp://" in self.daemon.tail(50)

    def probe(self, frm="district", methods=("OPTIONS", "DESCRIBE"), timeout=5.0):
        """RTSP requests from `frm` with libcurl (see rtsp_requests)."""
        return rtsp_requests(self.lab.node(frm), self.url, methods, timeout)


_gst_ok = None


def _check_gst():
    global _gst_ok
    if _gst_ok is None:
        r = subprocess.run([SYSTEM_PYTHON, "-c",
                            "import gi; gi.require_version('Gst', '1.0'); "
                            "gi.require_version('GstRtspServer', '1.0'); "
                            "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
                            "missing = [e for e in ('videotestsrc', 'jpegenc', 'rtpjpegpay') "
                            "if Gst.ElementFactory.find(e) is None]; "
                            "assert not missing, missing"],
                           capture_output=True, timeout=60, stdin=subprocess.DEVNULL) \
            if os.access(SYSTEM_PYTHON, os.X_OK) else None
        why = _text(r.stderr).strip().splitlines()[-1:] if r is not None \
            else ["no " + SYSTEM_PYTHON]
        _gst_ok = (r is not None and r.returncode == 0, why)
    if not _gst_ok[0]:
        raise h.Skip("netlab: the RTSP server needs %s with gi, GstRtspServer 1.0, videotestsrc, "
                     "jpegenc and rtpjpegpay (Debian: python3-gi gir1.2-gst-rtsp-server-1.0 "
                     "gstreamer1.0-plugins-base gstreamer1.0-plugins-good): %s"
                     % (SYSTEM_PYTHON, " ".join(_gst_ok[1])))


# --- the lab -------------------------------------------------------------------

def _netem_available(nsname):
    r = _run(["tc", "-n", nsname, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "0ms"],
             check=False)
    if r.returncode == 0:
        _run(["tc", "-n", nsname, "qdisc", "del", "dev", "lo", "root"], check=False)
        return True
    return False


class Lab:
    """Two namespaces (district, school) joined by a veth pair.  A context
    manager; close() is also registered with harness.on_cleanup."""

    def __init__(self, workdir=None, tag=None):
        _require("ip", "tc", "setpriv")
        if threading.current_thread() is threading.main_thread() \
                and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            h.install_signal_handlers()  # SIGTERM must unwind, or nothing is cleaned
        sweep_stale()
        self.tag = tag or secrets.token_hex(3)
        self.net = random.randint(1, 250)
        self.workdir = workdir if isinstance(workdir, h.Workdir) else \
            h.Workdir(prefix="schoolnet-netlab-", path=workdir)
        self._stoppables = []
        self._impair = {}  # direction -> Daemon of the delay line, or None
        self.shaping = {}
        self._closed = False
        self._namespaces = []
        self.district = Node(self, "district", "sn-%s-district" % self.tag,
                             "10.249.%d.1" % self.net, "sn-d-%s" % self.tag)
        self.school = Node(self, "school", "sn-%s-school" % self.tag,
                           "10.249.%d.2" % self.net, "sn-s-%s" % self.tag)
        self.district.peer, self.school.peer = self.school, self.district
        h.on_cleanup(self.close)
        try:
            self._create()
        except BaseException:
            self.close()
            raise

    # -- setup / teardown --

    def _create(self):
        for node in (self.district, self.school):
            r = _run(["ip", "netns", "add", node.name], check=False)
            if r.returncode != 0:
                raise h.Skip("netlab: cannot create a network namespace (ip netns add %s: %s); "
                             "needs root or CAP_SYS_ADMIN and a kernel with network namespaces"
                             % (node.name, _text(r.stderr).strip()))
            self._namespaces.append(node.name)
            self._write_record()
            _run(["ip", "-n", node.name, "link", "set", "lo", "up"])
            for key in ("all", "default"):
                _run(["ip", "netns", "exec", node.name, "sysctl", "-q", "-w",
                      "net.ipv6.conf.%s.disable_ipv6=1" % key], check=False)
        d, s = self.district, self.school
        # Made inside the district namespace, the peer end straight in the
        # school's: nothing appears in the caller's namespace, even briefly.
        _run(["ip", "-n", d.name, "link", "add", d.ifname, "type", "veth",
              "peer", "name", s.ifname, "netns", s.name])
        _run(["ip", "-n", d.name, "addr", "add", d.addr + "/30", "dev", d.ifname])
        _run(["ip", "-n", s.name, "addr", "add", s.addr + "/30", "dev", s.ifname])
        _run(["ip", "-n", d.name, "link", "set", d.ifname, "up"])
        _run(["ip", "-n", s.name, "link", "set", s.ifname, "up"])
        forced = os.environ.get("SCHOOLNET_NETLAB_IMPAIR", "")
        if forced in ("netem", "nfqueue"):
            self.impair_backend = forced
        else:
            self.impair_backend = "netem" if _netem_available(d.name) else "nfqueue"

        def link_up():
            r = s.run(["ip", "-o", "link", "show", s.ifname])
            return "LOWER_UP" in _text(r.stdout)
        h.wait_until(link_up, 10, "the veth %s to come up" % s.ifname, interval=0.05)

    def _write_record(self):
        try:
            os.makedirs(RECORD_DIR, exist_ok=True)
            with open(os.path.join(RECORD_DIR, self.tag), "w") as f:
                json.dump({"pid": os.getpid(), "start": _proc_start_time(os.getpid()),
                           "namespaces": self._namespaces,
                           "workdir": self.workdir.path if self.workdir.owned and not h.KEEP
                           else None}, f)
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        """Stop the lab's servers, remove shaping and delete both namespaces
        (with them the veth, qdiscs and netfilter rules).  Idempotent."""
        if self._closed:
            return
        self._closed = True
        for d in reversed(self._stoppables):
            try:
                d.stop()
            except Exception as e:
                print("netlab: stopping %r failed: %s" % (d, e), file=sys.stderr)
        for dl in list(self._impair.values()):
            if dl is not None:
                dl.stop(timeout=2)
        for ns in self._namespaces:
            _run(["ip", "netns", "del", ns], check=False)
        try:
            os.unlink(os.path.join(RECORD_DIR, self.tag))
        except OSError:
            pass

    def log_path(self, name):
        """A new log file name in the lab's workdir (name.log, name-2.log, ...):
        a restarted server's readiness is read from its own log only."""
        base = os.path.join(self.workdir.sub("logs"), re.sub(r"[^\w.-]", "_", name))
        path = base + ".log"
        for i in range(2, 100000):
            if not os.path.exists(path):
                break
            path = "%s-%d.log" % (base, i)
        open(path, "ab").close()
        return path

    def node(self, which):
        """'district'/'school' (or a Node) -> Node."""
        if isinstance(which, Node):
            return which
        return {"district": self.district, "school": self.school}[which]

    # -- shaping --

    @staticmethod
    def _directions(direction):
        if direction not in ("both", "down", "up"):
            raise ValueError("direction must be 'both', 'down' or 'up', not %r" % (direction,))
        return ["down", "up"] if direction == "both" else [direction]

    def _sender(self, d):
        return self.district if d == "down" else self.school

    def shape(self, rate_mbit=None, delay_ms=None, jitter_ms=None, loss_pct=None,
              direction="both", burst_bytes=None, queue_ms=None):
        """Shape one or both directions (replacing what was there): tbf at
        rate_mbit, then delay_ms +- jitter_ms (uniform) and loss_pct random
        loss.  Returns {direction: description}."""
        if rate_mbit is not None and rate_mbit <= 0:
            raise ValueError("rate_mbit must be > 0")
        if loss_pct is not None and not 0 <= loss_pct <= 100:
            raise ValueError("loss_pct must be within 0..100")
        delay = float(delay_ms or 0)
        jitter = float(jitter_ms or 0)
        loss = float(loss_pct or 0)
        out = {}
        for d in self._directions(direction):
            self._unshape_one(d)
            desc = []
            snd, rcv = self._sender(d), self._sender(d).peer
            netem_args = []
            if self.impair_backend == "netem" and (delay or jitter or loss):
                netem_args = ["netem", "limit", 100000]
                if delay or jitter:
                    netem_args += ["delay", "%gms" % delay] + (["%gms" % jitter] if jitter else [])
                if loss:
                    netem_args += ["loss", "%g%%" % loss]
            if rate_mbit:
                rate_bps = rate_mbit * 1e6
                burst = int(burst_bytes or max(128 * 1024, rate_bps / 8 * 0.001))
                qms = queue_ms if queue_ms is not None else max(20.0, 2 * (delay + jitter))
                limit = int(burst + rate_bps / 8 * qms / 1000.0)
                _run(["tc", "-n", snd.name, "qdisc", "add", "dev", snd.ifname, "root", "handle", "1:",
                      "tbf", "rate", "%gmbit" % rate_mbit, "burst", burst, "limit", limit])
                desc.append("tbf %g Mbit burst %d limit %d on %s egress" % (rate_mbit, burst, limit,
                                                                           snd.ifname))
                if netem_args:
                    # Mininet's order: the rate qdisc as root, netem as its child.
                    _run(["tc", "-n", snd.name, "qdisc", "add", "dev", snd.ifname, "parent", "1:1",
                          "handle", "10:"] + netem_args)
            elif netem_args:
                _run(["tc", "-n", snd.name, "qdisc", "add", "dev", snd.ifname, "root", "handle", "10:"]
                     + netem_args)
            if netem_args:
                desc.append(" ".join(map(str, netem_args)) + " on %s egress" % snd.ifname)
            elif delay or jitter or loss:
                desc.append(self._nf_impair(d, rcv, delay, jitter, loss))
            self.shaping[d] = {"rate_mbit": rate_mbit, "delay_ms": delay, "jitter_ms": jitter,
                               "loss_pct": loss, "what": "; ".join(desc) or "unshaped"}
            out[d] = self.shaping[d]["what"]
        return out

    def _nf_impair(self, d, rcv, delay, jitter, loss):
        _require("iptables")
        ipt = ["iptables", "-w", "5", "-t", "mangle"]
        desc = []
        dl = None
        self._impair[d] = None  # from here on, unshape removes the chain
        if delay or jitter:
            dl = rcv.daemon([sys.executable, THIS, "_delayd", NFQUEUE_NUM, delay, jitter],
                            name="delayline")
            self._impair[d] = dl

            def bound():
                if not dl.alive():
                    raise h.TestFailure("the delay line exited (%s):\n%s"
                                        % (dl.proc.returncode, dl.tail(20)))
                return "ready" in dl.tail(5)
            h.wait_until(bound, 10, "the delay line in %s to bind its queue" % rcv.name,
                         interval=0.05, logs=[dl])
        rcv.run(ipt + ["-N", CHAIN], check=True, timeout=20)
        if loss:
            rcv.run(ipt + ["-A", CHAIN, "-m", "statistic", "--mode", "random",
                           "--probability", "%.6f" % (loss / 100.0), "-j", "DROP"],
                    check=True, timeout=20)
            desc.append("loss %g%%" % loss)
        if dl is not None:
            rcv.run(ipt + ["-A", CHAIN, "-j", "NFQUEUE", "--queue-num", NFQUEUE_NUM],
                    check=True, timeout=20)
            desc.append("delay %g ms +- %g ms (userspace delay line, NFQUEUE %d)"
                        % (delay, jitter, NFQUEUE_NUM))
        rcv.run(ipt + ["-I", "PREROUTING", "-i", rcv.ifname, "-j", CHAIN], check=True, timeout=20)
        return ", ".join(desc) + " on %s ingress (netfilter)" % rcv.ifname

    def _unshape_one(self, d):
        snd = self._sender(d)
        rcv = snd.peer
        _run(["tc", "-n", snd.name, "qdisc", "del", "dev", snd.ifname, "root"], check=False)
        if d in self._impair:
            ipt = ["iptables", "-w", "5", "-t", "mangle"]
            rcv.run(ipt + ["-D", "PREROUTING", "-i", rcv.ifname, "-j", CHAIN], timeout=20)
            rcv.run(ipt + ["-F", CHAIN], timeout=20)
            rcv.run(ipt + ["-X", CHAIN], timeout=20)
            dl = self._impair.pop(d)
            if dl is not None:
                dl.stop(timeout=2)
        self.shaping.pop(d, None)

    def unshape(self, direction="both"):
        """Remove all shaping in `direction`."""
        for d in self._directions(direction):
            self._unshape_one(d)

    def tc_show(self):
        """`tc -s qdisc` of both veth ends, and the netfilter chain (text)."""
        out = []
        for n in (self.district, self.school):
            r = _run(["tc", "-n", n.name, "-s", "qdisc", "show", "dev", n.ifname], check=False)
            out.append("[%s] %s" % (n.role, _text(r.stdout).strip()))
            if shutil.which("iptables"):
                r = n.run(["iptables", "-w", "5", "-t", "mangle", "-L", CHAIN, "-v", "-n"])
                if r.returncode == 0:
                    out.append(_text(r.stdout).strip())
        return "\n".join(out)

    # -- measurement --

    def iperf3_json(self, seconds=3, reverse=False, streams=1, omit=0, extra=()):
        """Run iperf3 once (server in the district on a free port, client in
        the school) and return its JSON.  omit: seconds of TCP ramp-up left
        out of the figures (iperf3 -O; they run on top of `seconds`).
        Bounded to seconds + omit + 30 s."""
        _require("iperf3")
        seconds = max(1, min(int(seconds), 120))
        streams = max(1, min(int(streams), 32))
        port = self.district.free_port()
        srv = self.district.daemon(["iperf3", "-s", "-1", "-B", self.district.addr, "-p", port],
                                   name="iperf3-server-%d" % port)
        try:
            self.district.wait_listening(port, 10, srv, "the iperf3 server on %s:%d"
                                         % (self.district.addr, port))
            omit = max(0, min(int(omit), 60))
            argv = ["iperf3", "-c", self.district.addr, "-p", port, "-t", seconds, "-P", streams,
                    "-J", "--connect-timeout", 3000] + (["-R"] if reverse else []) \
                + (["-O", omit] if omit else []) + list(extra)
            r = self.school.run(argv, timeout=seconds + omit + 30)
            out = _text(r.stdout)
            try:
                j = json.loads(out)
            except ValueError:
                raise RuntimeError("iperf3 exited %d without JSON: %s %s"
                                   % (r.returncode, out[-1000:], _text(r.stderr)[-1000:]))
            if j.get("error") or r.returncode != 0:
                raise RuntimeError("iperf3 failed (%d): %s\n%s" % (r.returncode, j.get("error"),
                                                                   srv.tail(10)))
            return j
        finally:
            srv.stop(timeout=3)
            if srv in h._daemons:  # a finished run's log is noise in later failure reports
                h._daemons.remove(srv)

    def iperf3(self, seconds=3, reverse=False, streams=1, omit=0):
        """Mbps received (end.sum_received.bits_per_second / 1e6):
        reverse=False school -> district (up), True district -> school (down).
        On a delayed link the first second or so is TCP slow start: pass
        omit=1 for the steady rate."""
        j = self.iperf3_json(seconds, reverse, streams, omit)
        return j["end"]["sum_received"]["bits_per_second"] / 1e6

    # -- servers --

    def http_server(self, where="school", port=None, text=DEFAULT_PAGE_TEXT, files=None, start=True):
        """busybox httpd in `where` serving `text`; started unless start=False."""
        s = HttpHost(self, self.node(where), port, text, files)
        return s.start() if start else s

    def rtsp_server(self, where="school", port=None, path="/stream", launch=RTSP_LAUNCH, start=True):
        """gst-rtsp-server in `where` with one mount `path`; started unless start=False."""
        s = RtspHost(self, self.node(where), port, path, launch)
        return s.start() if start else s


# --- a County across the lab, for throughput tests ------------------------------

IFX_HIGH_SPEED = "1.3.6.1.2.1.31.1.1.1.15"
IF_SPEED = "1.3.6.1.2.1.2.2.1.5"


def probe_county(lab, wd, seconds=3, streams=4, bytes_mb=500, min_percent=70, poll=2,
                 collector_extra=None):
    """A one-school harness.County across `lab` (collector in the district,
    snmpsimd and the agent in the school; not started) whose collector
    runs throughput tests on demand only (throughput_every = 0: nothing
    but the caller starts one, so none overlaps an iperf3 run), from its
    probe server on the district's veth address (.probe_port; [probe] url
    empty: the agent uses the collector's host), `seconds` and `streams` a
    direction, at most `bytes_mb` MB (pass more than `seconds` carry at the
    top rate so that the time ends each test, as it ends iperf3's), no
    monthly budget.  The agent runs no latency rounds.  Also sets .code,
    .school and .uplink (the manifest's uplink interface)."""
    probe_port = lab.district.free_port()
    county = h.County(wd, schools=1, poll_interval=poll, timeout=1, retries=1, lab=lab,
                      probe={"targets": "none"}, collector_extra=collector_extra,
                      collector_probe={
                          "listen": "%s:%d" % (lab.district.addr, probe_port), "url": "",
                          "throughput_every": 0, "throughput_bytes": bytes_mb,
                          "throughput_seconds": seconds, "throughput_streams": streams,
                          "throughput_parallel": 1, "throughput_budget": 0,
                          "throughput_min_percent": min_percent})
    county.probe_port = probe_port
    county.school = county.manifest["schools"][0]
    county.code = county.school["code"]
    county.uplink = next(i for i in county.school["switches"][0]["interfaces"]
                         if i["role"] == "uplink")
    return county


def start_probe_county(county, uplink_mbps=1000):
    """Start `county` (from probe_county): snmpsimd with the uplink set to
    negotiate `uplink_mbps` (the generated county may plant a slow one), the
    collector with the inventory imported and its probe server listening,
    the agent; waits until the collector has the uplink's speed.  Returns
    the agent's Daemon."""
    lab = county.lab
    county.start_snmpsim()
    idx = county.uplink["if_index"]
    county.snmpsim.set(county.school["switches"][0]["community"],
                       ("%s.%d" % (IFX_HIGH_SPEED, idx), "u", uplink_mbps),
                       ("%s.%d" % (IF_SPEED, idx), "u", min(uplink_mbps * 1000000, 4294967295)))
    county.start_collector()
    h.collector_cli(county, "import", county.manifest["inventory"])
    lab.district.wait_listening(county.probe_port, 15, county.collector,
                                "the probe server on %s:%d" % (lab.district.addr,
                                                               county.probe_port))
    agent = county.start_agent(county.code)

    def uplink_known():
        up = [p for p in county.ports(county.code)["ports"]
              if p["if_name"] == county.uplink["if_name"]]
        if not up or up[0]["speed_mbps"] != uplink_mbps or up[0]["role"] != "uplink":
            raise h.NotYet("uplink: %s" % up)
        return up[0]
    h.wait_until(uplink_known, 4 * county.poll_interval + 20, "the uplink %s at %d Mbps in "
                 "`ports`" % (county.uplink["if_name"], uplink_mbps),
                 logs=[county.collector, agent])
    return agent


def run_probe(county, code=None, wait=60):
    """`schoolnet-collector probe --school CODE --wait S --json` (from this
    namespace: it only needs the database), then the test's stored row.
    Returns (exit code, the probe_throughput row or None, parsed stdout
    or None, stdout + stderr, seconds it took)."""
    code = code or county.code
    db = sqlite3_ro(county.db)
    try:
        before = db.execute("SELECT coalesce(max(id), 0) FROM probe_throughput").fetchone()[0]
    finally:
        db.close()
    argv = [county.collector_bin, "-c", county.conf, "probe", "--school", code,
            "--wait", wait, "--json"]
    t0 = time.monotonic()
    r = subprocess.run([str(a) for a in argv], capture_output=True, timeout=wait + 60,
                       stdin=subprocess.DEVNULL)
    took = time.monotonic() - t0
    out = _text(r.stdout)
    try:
        parsed = json.loads(out)
    except ValueError:
        parsed = None
    db = sqlite3_ro(county.db)
    try:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM probe_throughput WHERE school_code = ? AND id > ? "
                         "ORDER BY id DESC LIMIT 1", (code, before)).fetchone()
    finally:
        db.close()
    return r.returncode, dict(row) if row else None, parsed, out + _text(r.stderr), took


def sqlite3_ro(path):
    """A read-only connection to a database a running collector writes."""
    return sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)


def curl(node, url, timeout=5.0, extra=()):
    """The curl command from `node`: (exit code, status code or 0, body +
    stderr).  For rtsp:// URLs curl sends OPTIONS (the only RTSP request
    the command line can make; see rtsp_requests for DESCRIBE)."""
    _require("curl")
    argv = ["curl", "-sS", "--max-time", "%g" % timeout, "--connect-timeout", "%g" % timeout,
            "-o", "-", "-w", "\n@@status=%{response_code}"]
    r = node.run(argv + list(extra) + [url], timeout=timeout + 20)
    out = _text(r.stdout)
    body, _, st = out.rpartition("\n@@status=")
    try:
        status = int(st.strip() or 0)
    except ValueError:
        status = 0
    return r.returncode, status, body + _text(r.stderr)


def rtsp_requests(node, url, methods=("OPTIONS", "DESCRIBE"), timeout=5.0):
    """RTSP requests from `node` with libcurl (pycurl under Debian's python3;
    the curl command line itself can only send OPTIONS: it has no option
    for CURLOPT_RTSP_REQUEST and ignores -X for rtsp://).  One handle, so
    CSeq counts up as a real client's does.  Returns one dict per method:
    {method, status (0 when none), curl_error (0 = ok), error, headers, body}."""
    _check_pycurl()
    r = node.run([SYSTEM_PYTHON, THIS, "_rtspreq", url, "%g" % timeout] + list(methods),
                 timeout=len(methods) * (timeout + 5) + 30)
    try:
        return json.loads(_text(r.stdout))
    except ValueError:
        raise RuntimeError("rtsp client exited %d: %s %s" % (r.returncode, _text(r.stdout)[-500:],
                                                             _text(r.stderr)[-1500:]))


_pycurl_ok = None


def _check_pycurl():
    global _pycurl_ok
    if _pycurl_ok is None:
        r = subprocess.run([SYSTEM_PYTHON, "-c", "import pycurl; pycurl.RTSPREQ_DESCRIBE"],
                           capture_output=True, timeout=30, stdin=subprocess.DEVNULL) \
            if os.access(SYSTEM_PYTHON, os.X_OK) else None
        _pycurl_ok = r is not None and r.returncode == 0
    if not _pycurl_ok:
        raise h.Skip("netlab: RTSP requests need %s with pycurl (Debian: python3-pycurl)"
                     % SYSTEM_PYTHON)


# --- helpers run inside the namespaces (python3 netlab.py _NAME ...) ------------

def _cmd_rtspreq(url, timeout, *methods):
    import io
    import pycurl
    c = pycurl.Curl()
    c.setopt(pycurl.URL, url)
    c.setopt(pycurl.OPT_RTSP_STREAM_URI, url)
    c.setopt(pycurl.CONNECTTIMEOUT_MS, int(float(timeout) * 1000))
    c.setopt(pycurl.TIMEOUT_MS, int(float(timeout) * 1000))
    out = []
    for m in methods[:20]:
        body, hdrs = io.BytesIO(), io.BytesIO()
        c.setopt(pycurl.WRITEFUNCTION, body.write)
        c.setopt(pycurl.HEADERFUNCTION, hdrs.write)
        c.setopt(pycurl.OPT_RTSP_REQUEST, getattr(pycurl, "RTSPREQ_" + m.upper()))
        res = {"method": m.upper(), "status": 0, "curl_error": 0, "error": ""}
        try:
            c.perform()
            res["status"] = c.getinfo(pycurl.RESPONSE_CODE)
        except pycurl.error as e:
            res["curl_error"], res["error"] = e.args[0], e.args[1]
        res["headers"] = hdrs.getvalue().decode("utf-8", "replace")
        res["body"] = body.getvalue().decode("utf-8", "replace")
        out.append(res)
    c.close()
    print(json.dumps(out))


MAX_LIFE = float(os.environ.get("SCHOOLNET_NETLAB_MAX_LIFE", 6 * 3600))


def _parent_watch():
    """A check for the helpers' loops: False once the process that started
    us is gone (a backstop to setpriv's pdeathsig) or after MAX_LIFE s."""
    ppid = os.getppid()
    end = time.monotonic() + MAX_LIFE
    return lambda: os.getppid() == ppid and time.monotonic() < end


def _cmd_connect(host, port, count, interval, timeout):
    port, count = int(port), min(int(count), 10000)
    interval, timeout = float(interval), float(timeout)
    out = []
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        t0 = time.perf_counter()
        try:
            s.connect((host, port))
            out.append(round((time.perf_counter() - t0) * 1000, 3))
        except OSError:
            out.append(None)
        finally:
            s.close()
        if i + 1 < count:
            time.sleep(interval)
    print(json.dumps(out))


def _cmd_sink(port):
    alive = _parent_watch()
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", int(port)))
    ls.listen(512)
    ls.settimeout(1.0)
    print("listening", flush=True)
    while alive():
        try:
            c, _ = ls.accept()
            c.close()
        except socket.timeout:
            continue


def _cmd_rtsp(port, path, launch):
    import gi
    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("0.0.0.0")
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)
    server.get_mount_points().add_factory(path, factory)
    if server.attach(None) == 0:
        print("gst-rtsp-server: cannot listen on port %s" % port, flush=True)
        sys.exit(1)
    loop = GLib.MainLoop()
    alive = _parent_watch()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, lambda *a: loop.quit() or False)

    def check():
        if not alive():
            loop.quit()
            return False
        return True
    GLib.timeout_add(1000, check)
    print("gst-rtsp-server %s listening on rtsp://0.0.0.0:%s%s" % (
        ".".join(map(str, Gst.version()[:3])), port, path), flush=True)
    loop.run()


# nfnetlink_queue, as in <linux/netfilter/nfnetlink_queue.h>
_NETLINK_NETFILTER = 12
_NFNL_SUBSYS_QUEUE = 3
_NFQNL_MSG_PACKET, _NFQNL_MSG_VERDICT, _NFQNL_MSG_CONFIG, _NFQNL_MSG_VERDICT_BATCH = 0, 1, 2, 3
_NFQA_CFG_CMD, _NFQA_CFG_PARAMS, _NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
_NFQA_CFG_MASK, _NFQA_CFG_FLAGS = 4, 5
_NFQNL_CFG_CMD_BIND = 1
_NFQNL_COPY_META = 1
_NFQA_CFG_F_GSO = 4
_NFQA_PACKET_HDR = 1
_NFQA_VERDICT_HDR = 2
_NF_ACCEPT = 1
_NLMSG_ERROR = 2
_NLM_F_REQUEST, _NLM_F_ACK = 1, 4


def _nla(t, data):
    n = 4 + len(data)
    return struct.pack("=HH", n, t) + data + b"\0" * ((4 - n % 4) % 4)


def _cmd_delayd(queue, delay_ms, jitter_ms, maxlen=20000):
    """A FIFO delay line on NFQUEUE `queue`: each packet is accepted
    delay +- uniform(jitter) ms after it was queued, never before the one
    queued ahead of it."""
    import collections
    import select
    queue = int(queue)
    delay, jitter = float(delay_ms) / 1000.0, float(jitter_ms) / 1000.0
    alive = _parent_watch()
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_NETFILTER)
    try:
        sock.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    try:
        sock.setsockopt(270, 5, 1)  # SOL_NETLINK, NETLINK_NO_ENOBUFS
    except OSError:
        pass
    sock.bind((0, 0))
    seq = [0]

    def send(msgtype, attrs, ack):
        seq[0] += 1
        body = struct.pack("!BBH", socket.AF_UNSPEC, 0, queue) + attrs
        flags = _NLM_F_REQUEST | (_NLM_F_ACK if ack else 0)
        sock.send(struct.pack("=IHHII", 16 + len(body), (_NFNL_SUBSYS_QUEUE << 8) | msgtype,
                              flags, seq[0], 0) + body)
        if not ack:
            return
        sock.settimeout(5)
        try:
            for _ in range(100):
                data = sock.recv(65536)
                off = 0
                while off + 16 <= len(data):
                    ln, typ, _fl, sq, _pid = struct.unpack_from("=IHHII", data, off)
                    if typ == _NLMSG_ERROR and sq == seq[0]:
                        err = struct.unpack_from("=i", data, off + 16)[0]
                        if err:
                            raise OSError(-err, "nfqueue config: %s" % os.strerror(-err))
                        return
                    off += (ln + 3) & ~3
            raise RuntimeError("no ack from nfnetlink")
        finally:
            sock.settimeout(None)

    cfg = _NFQNL_MSG_CONFIG
    send(cfg, _nla(_NFQA_CFG_CMD, struct.pack("!BBH", _NFQNL_CFG_CMD_BIND, 0, 0)), True)
    send(cfg, _nla(_NFQA_CFG_PARAMS, struct.pack("!IB", 0, _NFQNL_COPY_META)), True)
    send(cfg, _nla(_NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", maxlen)), True)
    send(cfg, _nla(_NFQA_CFG_MASK, struct.pack("!I", _NFQA_CFG_F_GSO))
         + _nla(_NFQA_CFG_FLAGS, struct.pack("!I", _NFQA_CFG_F_GSO)), True)
    sock.setblocking(False)
    print("ready: queue %d delay %g ms jitter %g ms" % (queue, delay * 1000, jitter * 1000),
          flush=True)

    pending = collections.deque()
    last = 0.0
    released = 0
    pkt_type = (_NFNL_SUBSYS_QUEUE << 8) | _NFQNL_MSG_PACKET
    debug = os.environ.get("SCHOOLNET_NETLAB_DEBUG") == "1"
    rnd = random.Random()
    next_check = time.monotonic() + 1.0

    class Stop(Exception):
        pass

    def on_term(*_):
        raise Stop()
    signal.signal(signal.SIGTERM, on_term)
    try:
        while True:
            now = time.monotonic()
            last_id = None
            while pending and pending[0][0] <= now:
                last_id = pending.popleft()[1]
            if last_id is not None:
                # Every packet up to last_id is due (the line is FIFO): one batch verdict.
                try:
                    send(_NFQNL_MSG_VERDICT_BATCH,
                         _nla(_NFQA_VERDICT_HDR, struct.pack("!II", _NF_ACCEPT, last_id)), False)
                    released += 1
                    if debug:
                        print("verdict <= %d at %.4f" % (last_id, now), flush=True)
                except BlockingIOError:
                    pending.appendleft((now, last_id))
            if now >= next_check:
                next_check = now + 1.0
                if not alive():
                    return
            wait = min(1.0, pending[0][0] - now) if pending else 1.0
            try:
                ready, _, _ = select.select([sock], [], [], max(wait, 0.0))
            except InterruptedError:
                continue
            if not ready:
                continue
            for _ in range(1024):  # drain what is there, bounded
                try:
                    data = sock.recv(1 << 20)
                except (BlockingIOError, InterruptedError):
                    break
                t_in = time.monotonic()
                off = 0
                while off + 20 <= len(data):
                    ln, typ = struct.unpack_from("=IH", data, off)
                    if ln < 16:
                        break
                    if debug and typ != pkt_type:
                        print("msg type %d: %s" % (typ, data[off:off + ln].hex()), flush=True)
                    if typ == pkt_type:
                        a = off + 20
                        end = off + ln
                        while a + 4 <= end:
                            alen, atyp = struct.unpack_from("=HH", data, a)
                            if alen < 4:
                                break
                            if atyp & 0x3FFF == _NFQA_PACKET_HDR:
                                pid = struct.unpack_from("!I", data, a + 4)[0]
                                d = delay + (rnd.uniform(-jitter, jitter) if jitter else 0.0)
                                t = max(t_in + max(d, 0.0), last)
                                last = t
                                pending.append((t, pid))
                                if debug:
                                    print("in %d at %.4f due %.4f" % (pid, t_in, t), flush=True)
                                break
                            a += (alen + 3) & ~3
                    off += (ln + 3) & ~3
    except Stop:
        pass
    finally:
        # Stopping (unshape, reshape): what the line holds goes on now
        # rather than being dropped when the queue goes away.
        if pending:
            try:
                sock.setblocking(True)
                send(_NFQNL_MSG_VERDICT_BATCH,
                     _nla(_NFQA_VERDICT_HDR, struct.pack("!II", _NF_ACCEPT, pending[-1][1])), False)
            except OSError:
                pass


def _main(argv):
    cmds = {"_connect": _cmd_connect, "_sink": _cmd_sink, "_rtsp": _cmd_rtsp,
            "_delayd": _cmd_delayd, "_rtspreq": _cmd_rtspreq}
    if len(argv) < 1 or argv[0] not in cmds:
        print("usage: netlab.py _connect|_sink|_rtsp|_rtspreq|_delayd ARGS (started by netlab.Lab)",
              file=sys.stderr)
        return 2
    try:
        cmds[argv[0]](*argv[1:])
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
