#!/usr/bin/env python3
"""The web dashboard in a real browser: headless Debian chromium, driven by
playwright-core (tests/browser/dashboard.mjs), against a simulated county of
three schools served by the collector's own HTTP server.

Real parts: snmpsimd switches, the agents, the collector (its HTTP server
and the dashboard it serves: the copy built into the binary, or
$SCHOOLNET_WEB_DIR when that is set, as in development), tokens made with
`schoolnet-collector tokens`, and a classroom dropped to 10 Mbps with the
real `snmpset`.  The browser talks to 127.0.0.1 only.

One school (the one without a planted error-counter fault) has its planted
faults undone with snmpset before the agents start, so it begins "ok".
Then, in the browser (see dashboard.mjs for every check):
1. #token=READ opens the overview: the token leaves the address bar, a
   cell per school, summary counts equal to /api/v1/schools; screenshots
   at 1366x768 and on a 390x844 phone (no horizontal scroll);
2. a classroom of that school drops to 10 Mbps: without a reload, its cell
   turns "below", classrooms below goes up by one, the alert shows in the
   side list;
3. a read-only token gets no acknowledge button; an admin acknowledges
   the alert as 王老师, and the API (checked here too) records it;
4. the school page shows the room below and the uplink's sparkline, the
   measured throughput (down/up, when, what the uplink negotiates) and its
   recording room "not available" and why; an admin's "测一次" asks for a
   test and follows it to "done": the collector's scheduler runs it on the
   school's real agent against the probe server, over loopback (the first
   test and the room's failed host check shown before are written by SQL,
   as the probes would: their own tests drive them from real agents);
5. the language switch gives English, kept over a reload;
6. this month's report shows the district figures; its CSV downloads;
7. no console error, uncaught exception or failed request all along.
Screenshots go to h.artifacts_dir() (overview.png, overview-phone.png,
overview-below.png, alerts.png, school.png, report.png; FAILED-*.png when a
step fails).

Skipped (77) only when /usr/bin/chromium or node (>= 18, which
playwright-core 1.61 needs) is missing.  tests/browser/node_modules comes
from scripts/deps.sh (npm ci).
"""
import json
import os
import queue
import re
import secrets
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402

POLL = 2
CHROMIUM = "/usr/bin/chromium"
BROWSER_DIR = os.path.join(h.REPO, "tests", "browser")
SCRIPT = os.path.join(BROWSER_DIR, "dashboard.mjs")
NODE_MAJOR = 18          # playwright-core 1.61 needs Node.js >= 18 (Debian 12 has 18)
BROWSER_BUDGET = 100     # seconds for the whole browser part
ACK_BY = "王老师"
IFX_HIGH_SPEED = "1.3.6.1.2.1.31.1.1.1.15"
IF_SPEED = "1.3.6.1.2.1.2.2.1.5"
IF_OPER = "1.3.6.1.2.1.2.2.1.8"
DOT3_DUPLEX = "1.3.6.1.2.1.10.7.2.1.19"
SCREENSHOTS = {"overview.png": (1366, 768), "overview-phone.png": (780, 1688),  # 390x844 at 2x
               "overview-below.png": (1366, 768), "alerts.png": None, "school.png": None,
               "report.png": None}


cli = h.collector_cli
token = h.api_token


def api(port, path, tok):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    req.add_header("Authorization", "Bearer " + tok)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise h.TestFailure("GET %s: %d %s" % (path, e.code, e.read()[:300]))


def node_program():
    """The node binary, or Skip when there is none new enough."""
    node = shutil.which("node")
    if node is None:
        raise h.Skip("node is not installed (scripts/deps.sh installs Debian's nodejs and npm)")
    r = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    m = re.match(r"v(\d+)\.", r.stdout.strip())
    if not m or int(m.group(1)) < NODE_MAJOR:
        raise h.Skip("node %s is too old: playwright-core 1.61 needs Node.js >= %d"
                     % (r.stdout.strip() or "(no version)", NODE_MAJOR))
    return node


def this_month():
    """YYYY-MM now at the calendar's UTC offset (+08:00, as the county's)."""
    return time.strftime("%Y-%m", time.gmtime(time.time() + 8 * 3600))


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])


class BrowserRun:
    """`node dashboard.mjs ...` in its own session, its stdout read line by
    line.  Every process it starts (chromium and its helpers, even those that
    leave its session, like chrome_crashpad_handler) carries a marker in its
    environment; stop() ends node, then any of those still there, by PID."""

    def __init__(self, argv, log_path):
        self.marker = "%d-%s" % (os.getpid(), secrets.token_hex(6))
        env = dict(os.environ, SCHOOLNET_BROWSER_RUN=self.marker, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, env=env, cwd=BROWSER_DIR,
                                     start_new_session=True)
        self.lines = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="node-stdout", daemon=True)
        self._reader.start()
        h.on_cleanup(self.stop)

    def _read(self):
        for raw in self.proc.stdout:
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self.lines.put(None)

    def send(self, obj):
        try:
            self.proc.stdin.write((json.dumps(obj) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    def processes(self):
        """PIDs of live processes carrying our marker (node, chromium, ...)."""
        want = ("SCHOOLNET_BROWSER_RUN=%s" % self.marker).encode()
        pids = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/environ" % d, "rb") as f:
                    if want in f.read().split(b"\0"):
                        pids.append(int(d))
            except OSError:
                pass
        return pids

    def stop(self):
        """End node (SIGTERM to its group: playwright closes chromium),
        SIGKILL after 5 s; then SIGKILL whatever of ours is left."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode

    def stderr_tail(self, n=30):
        """node's stderr for a failure message (empty if it said nothing)."""
        text = h.tail(self.log_path, n).strip()
        return "\n  node stderr (%s):\n%s" % (self.log_path, text) if text else ""


def main():
    # What the browser part needs, before anything starts.
    if not os.access(CHROMIUM, os.X_OK):
        raise h.Skip("%s is not installed (Debian package chromium)" % CHROMIUM)
    node = node_program()
    h.require_programs("snmpget", "snmpset")
    if not os.path.exists(os.path.join(BROWSER_DIR, "node_modules", "playwright-core", "package.json")):
        raise h.TestFailure("playwright-core is not installed in %s: run scripts/deps.sh "
                            "(it runs `npm ci` there)" % BROWSER_DIR)

    wd = h.Workdir(prefix="schoolnet-dashboard-")
    county = h.County(wd, schools=3, seed=1, poll_interval=POLL)
    port = h.free_port("tcp")
    calendar = wd.file("calendar.conf")
    with open(calendar, "w", encoding="utf-8") as f:
        f.write("[calendar]\nname = around the clock\nutc_offset = +08:00\n"
                "[hours]\ndefault = daily 00:00-24:00\n")
    with open(county.conf, encoding="utf-8") as f:
        text = f.read()
    with open(county.conf, "w", encoding="utf-8") as f:
        f.write(text.replace("[collector]\n", "[collector]\nhttp = 127.0.0.1:%d\n" % port, 1)
                + "\n[policy]\ncalendar = %s\n" % calendar
                + "\n[alerts]\nraise_after = 2\nclear_after = 2\n")

    # The school that can be made healthy: no planted error-counter fault
    # (counters cannot be set); its other faults are undone below.
    faults = county.manifest["faults"]
    fixable = [s for s in county.manifest["schools"]
               if not any(f["school"] == s["code"] and f["kind"] == "errors" for f in faults)]
    h.check(fixable, "a school without a planted error fault", [f["kind"] for f in faults])
    school = fixable[0]
    sw = school["switches"][0]
    mine = [f for f in faults if f["school"] == school["code"]]
    fixed = {f["if_index"] for f in mine}
    rooms = [i for i in sw["interfaces"] if i["role"] == "classroom"
             and (i["if_index"] in fixed or (i["oper"] == "up" and i["speed_mbps"] == 1000
                                             and i["duplex"] == "full"))]
    h.check(rooms, "%s has a classroom at 1000 Mbps to drop" % school["code"])
    room = next((i for i in rooms if i["if_index"] not in fixed), rooms[0])

    h.step("tokens")
    viewer = token(county, "viewer")
    boss = token(county, "boss", "admin")

    h.step("the county: %d schools, poll every %d s" % (len(county.manifest["schools"]), POLL))
    county.start_snmpsim()
    for f in mine:
        x = f["if_index"]
        county.snmpsim.set(sw["community"], ("%s.%d" % (IFX_HIGH_SPEED, x), "u", 1000),
                           ("%s.%d" % (IF_SPEED, x), "u", 1000000000),
                           ("%s.%d" % (IF_OPER, x), "i", 1), ("%s.%d" % (DOT3_DUPLEX, x), "i", 3))
    h.check(True, "%s: planted faults undone with snmpset (%s)"
            % (school["code"], ", ".join("%s %s" % (f["kind"], f["if_name"]) for f in mine)))
    county.start_collector()
    cli(county, "import", county.manifest["inventory"])
    county.start_agents()
    h.wait_until(lambda: h.tcp_listening(port), 20, "the HTTP interface to listen",
                 logs=[county.collector])

    # Every planted classroom fault counts once it is seen (error counters
    # take two polls to give a rate); the school made healthy has none.
    want = {s["code"]: {"state": "ok" if s is school else "below", "below": len(
        {f["if_index"] for f in faults if f["school"] == s["code"] and f["kind"] != "uplink_100"
         and s is not school})} for s in county.manifest["schools"]}

    def settled():
        schools = api(port, "/api/v1/schools", viewer)["schools"]
        seen = {s["code"]: {"state": s["state"], "below": s["classrooms"]["below"],
                            "unknown rooms": sum(1 for r in s["rooms"] if r["state"] == "unknown")}
                for s in schools}
        if all(seen.get(c, {}).get("state") == w["state"] and seen[c]["below"] == w["below"]
               and seen[c]["unknown rooms"] == 0 for c, w in want.items()):
            return seen
        raise h.NotYet("want %s, seen %s" % (want, seen))
    h.wait_until(settled, 10 * POLL + 20, "every school's data and planted faults, %s ok" % school["code"],
                 logs=[county.collector])
    h.check(True, "every school has data; classrooms below target: %s"
            % ", ".join("%s %d" % (c, w["below"]) for c, w in sorted(want.items())))

    h.step("probe results written by SQL (a done test, a failed host check)")
    now = int(time.time() * 1000)
    db = sqlite3.connect(county.db, timeout=10)
    db.execute("INSERT INTO probe_throughput(school_code, reason, state, requested_ms, started_ms, finished_ms,"
               " agent, max_bytes, max_ms, streams, down_mbps, up_mbps, down_bytes, up_bytes, served_bytes,"
               " uplink_mbps) VALUES(?, 'schedule', 'done', ?, ?, ?, ?, 100000000, 10000, 4, 280, 300,"
               " 35000000, 37500000, 72500000, 1000)",
               (school["code"], now - 3660000, now - 3650000, now - 3600000, school["code"]))
    rec = db.execute("SELECT id, room FROM inventory WHERE school_code = ? AND role = 'recording'"
                     " AND valid_to IS NULL", (school["code"],)).fetchall()
    h.check(rec, "%s has a recording room in the inventory" % school["code"])
    # Fresh for 25 minutes (2.5 check intervals of 10 min): the whole run.
    db.execute("INSERT INTO recording_state(inventory_id, t_start, t_end, interval_ms, host_ok, port_ok,"
               " available, error) VALUES(?, ?, ?, 600000, 0, 1, 0, 'connection refused')",
               (rec[0][0], now - 600000, now))
    db.commit()
    h.check(True, "%s: a 280/300 Mbps test an hour ago; %s's host refused its check"
            % (school["code"], rec[0][1]))

    h.step("the dashboard in chromium (tests/browser/dashboard.mjs)")
    artifacts = h.artifacts_dir()
    for name in list(SCREENSHOTS) + [n for n in os.listdir(artifacts) if n.startswith("FAILED-")]:
        try:
            os.unlink(os.path.join(artifacts, name))
        except FileNotFoundError:
            pass
    argv = [node, SCRIPT, "--url", "http://127.0.0.1:%d/" % port, "--read", viewer, "--admin", boss,
            "--artifacts", artifacts, "--school", school["code"], "--room", room["room"],
            "--port", room["if_name"], "--month", this_month(), "--ack-by", ACK_BY,
            "--budget", str(BROWSER_BUDGET)]
    run = BrowserRun(argv, wd.file("logs", "node-stderr.log"))
    t0 = time.monotonic()
    deadline = t0 + BROWSER_BUDGET + 20
    result, launched = None, False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise h.TestFailure("the browser run did not end within %d s%s"
                                % (BROWSER_BUDGET + 20, run.stderr_tail()))
        try:
            line = run.lines.get(timeout=left)
        except queue.Empty:
            continue
        if line is None:
            break
        if not line.startswith("@@ "):
            print(line, flush=True)
            continue
        msg = json.loads(line[3:])
        if msg.get("event") == "launched":
            launched = True
        elif msg.get("need") == "drop":
            x = room["if_index"]
            try:
                county.snmpsim.set(sw["community"], ("%s.%d" % (IFX_HIGH_SPEED, x), "u", 10),
                                   ("%s.%d" % (IF_SPEED, x), "u", 10000000))
                run.send({"dropped": True})
            except Exception as e:  # the browser side reports it, then we fail
                run.send({"dropped": False, "error": str(e)})
        elif "result" in msg:
            result = msg
    try:
        rc = run.proc.wait(15)
    except subprocess.TimeoutExpired:
        raise h.TestFailure("node did not exit after its result%s" % run.stderr_tail())
    took = time.monotonic() - t0
    if result is None or result["result"] != "pass" or rc != 0:
        detail = result["message"] if result else "no result line (exit %s)" % rc
        shot = result.get("screenshot") if result else None
        raise h.TestFailure("in the browser, step %r: %s%s%s"
                            % (result.get("step") if result else "?", detail,
                               "\n  screenshot of the failure: %s" % shot if shot else "",
                               run.stderr_tail()))
    h.check(launched and rc == 0, "the browser part passed in %.1f s" % took)

    db.close()
    h.step("after the browser")
    alerts = api(port, "/api/v1/alerts?school=%s" % school["code"], viewer)["alerts"]
    acked = next((a for a in alerts if a["id"] == result["alert_id"]), None)
    h.check(acked is not None and acked.get("acknowledged_by") == ACK_BY,
            "the API: alert %s acknowledged_by %s" % (result["alert_id"], ACK_BY), h._short(acked))
    for name, size in SCREENSHOTS.items():
        path = os.path.join(artifacts, name)
        got = png_size(path) if os.path.exists(path) else None
        h.check(got is not None and (size is None or tuple(got) == size),
                "%s: a PNG%s" % (path, " of %dx%d" % size if size else ""), "got %s" % (got,))
    def gone():
        pids = run.processes()
        if pids:
            raise h.NotYet("still running: %s" % pids)
        return True
    h.wait_until(gone, 10, "node and chromium to be gone")
    h.check(True, "no node or chromium process of this run is left")
    rc = county.collector.stop()
    h.check(rc == 0, "the collector, after serving the dashboard, exits 0 on SIGTERM (exit %s)" % rc,
            county.collector.tail(40))


if __name__ == "__main__":
    h.run_test(main)
