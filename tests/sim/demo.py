#!/usr/bin/env python3
"""Run a simulated county on loopback: snmpsimd switches, the collector and
one agent per school; print what the collector stored, then keep running
(one status line per poll interval) until Ctrl-C / SIGTERM.

Used by scripts/demo.sh (which builds first).  --once: exit after the
summary (CI).  The county goes to a temp dir (removed at the end) or to
$SCHOOLNET_DEMO_DIR / --dir (kept).
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import history  # noqa: E402
import receivers  # noqa: E402


def collector(county, *args):
    r = subprocess.run([county.collector_bin, "-c", county.conf] + list(args),
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise h.TestFailure("schoolnet-collector %s: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout


def status_line(county, hook):
    try:
        schools = json.loads(collector(county, "schools", "--json"))["schools"]
        alerts = json.loads(collector(county, "alerts", "--open", "--json"))["alerts"]
    except Exception as e:  # keep the demo running; say what went wrong
        return "%s  collector query failed: %s" % (time.strftime("%H:%M:%S"), str(e).splitlines()[0])
    below = sum(1 for x in schools if x["state"] == "below")
    rooms = sum(x["classrooms"]["below"] for x in schools)
    return ("%s  schools below target %d/%d  classrooms below target %d  open alerts %d  "
            "webhook messages received %d"
            % (time.strftime("%H:%M:%S"), below, len(schools), rooms, len(alerts),
               len(hook.received("/demo"))))


def monthly_reports(county, wd, seed):
    """Simulate last month's history, then write last month's and this
    month's compliance reports (HTML) and print their district figures."""
    last, n = history.seed_previous_month(county.db, seed=seed)
    print("\n== monthly compliance reports (schoolnet-collector report) ==")
    print("(last month is simulated: %d ports' history written into the database;"
          " this month has data only since the demo started)" % n)
    made = []
    for month in (last, None):
        args = ["--month", month] if month else []
        out = wd.file("report-%s.html" % (month or "this-month"))
        collector(county, "report", *args, "-o", out)
        rep = json.loads(collector(county, "report", *args, "--format", "json"))
        d, p = rep["district"], rep["params"]
        print("%s%s: schools passing %d of %d known, classrooms compliant %d of %d, recording-room "
              "coverage %d of %d town-seat schools, data completeness %s %%"
              % (p["month"], "" if p["complete"] else " (so far)", d["schools_passing"],
                 d["schools_known"], d["classrooms_compliant"], d["classrooms_known"],
                 d["town_seat_with_recording"], d["town_seat_schools"], d["completeness_pct"]))
        print("  %s" % out)
        made.append((p["month"], out))
    return made


def main():
    ap = argparse.ArgumentParser(description="schoolnet demo on loopback")
    ap.add_argument("--once", action="store_true", help="exit after the summary")
    ap.add_argument("--schools", type=int, default=12)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--poll-interval", type=float, default=10)
    ap.add_argument("--dir", default=os.environ.get("SCHOOLNET_DEMO_DIR"),
                    help="put the county here (kept) instead of a temp dir")
    a = ap.parse_args()
    h.install_signal_handlers()
    rc = 1
    try:
        rc = run(a)
    except h.Skip as e:
        print("demo: cannot run: %s" % e, file=sys.stderr)
        rc = 1
    except h.TestFailure as e:
        print("demo: FAILED: %s" % e, file=sys.stderr)
        rc = 1
    except SystemExit as e:
        print("\ndemo: stopping (signal)", flush=True)
        rc = 0 if e.code in (128 + 2, 128 + 15, 128 + 1) else (e.code or 0)
    finally:
        h.cleanup_all()
    return rc


class RecordingHosts:
    """A local HTTP server standing in for the schools' recording hosts
    (录播主机): GET /rec/CODE answers 200, or 503 for the schools in dead."""

    def __init__(self):
        dead = self.dead = set()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                code = 503 if self.path.rsplit("/", 1)[-1] in dead else 200
                body = b"recorder offline" if code == 503 else "录播主机 ok".encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        h.on_cleanup(self.server.shutdown)

    def url(self, code, room):
        return "http://127.0.0.1:%d/rec/%s" % (self.server.server_address[1], code)


def probe_conf(a):
    """The collector's [probe] section for the demo: every school's uplink
    measured once an hour, at any hour (the demo's school day never ends),
    with small tests; recording hosts checked every poll interval."""
    return {"listen": "127.0.0.1:%d" % h.free_port("tcp"),
            "throughput_every": 3600, "throughput_in_school_hours": "yes",
            "throughput_bytes": 50, "throughput_seconds": 2, "throughput_streams": 2,
            "check_interval": "%g" % max(a.poll_interval, 2), "check_timeout": 2}


def wait_probes(county, m, poll_interval):
    """Until every school has a finished throughput test and every recording
    room with a probe URL has been checked."""
    def done():
        tests = json.loads(collector(county, "throughput", "--json"))["throughput"]
        finished = {t["school"] for t in tests if t["state"] in ("done", "failed")}
        rooms = json.loads(collector(county, "recording", "--json"))["recording"]
        unknown = [r for r in rooms if r.get("url") and r["available"] is None]
        if len(finished) < len(m["schools"]) or unknown:
            raise h.NotYet("%d of %d schools measured, %d recording rooms not checked yet"
                           % (len(finished), len(m["schools"]), len(unknown)))
        return True
    h.wait_until(done, 8 * poll_interval + 60, "a throughput test of every school",
                 logs=[county.collector])


def run(a):
    wd = h.Workdir(prefix="schoolnet-demo-", path=a.dir)
    rec = RecordingHosts()
    county = h.County(wd, schools=a.schools, seed=a.seed, poll_interval=a.poll_interval,
                      collector_probe=probe_conf(a), recording_url=rec.url)
    m = county.manifest
    seats = [s["code"] for s in m["schools"]
             if any(i["role"] == "recording" for i in s["switches"][0]["interfaces"])]
    if seats:
        rec.dead.add(seats[-1])
    print("demo: %d schools in %d towns, %d faults planted; files in %s"
          % (len(m["schools"]), len(m["towns"]), len(m["faults"]), county.dir), flush=True)
    county.start_snmpsim()
    print("demo: snmpsimd serving %d switches on udp %s" % (len(m["schools"]), county.snmpsim.address),
          flush=True)
    hook = receivers.WebhookServer()
    calendar = wd.file("demo-calendar.conf")
    with open(calendar, "w", encoding="utf-8") as f:
        f.write("# The demo keeps school hours around the clock, so classroom\n"
                "# alerts show whatever the time; see deploy/calendar.conf.\n"
                "[calendar]\nname = demo: school hours around the clock\n"
                "[hours]\ndefault = daily 00:00-24:00\n")
    http_port = h.free_port("tcp")
    with open(county.conf, encoding="utf-8") as f:
        text = f.read()
    with open(county.conf, "w", encoding="utf-8") as f:
        f.write(text.replace("[collector]\n", "[collector]\nhttp = 127.0.0.1:%d\n" % http_port, 1))
        f.write("\n[policy]\ncalendar = %s\n\n[webhook demo]\nurl = %s\nformat = generic\n"
                % (calendar, hook.url("/demo")))
    viewer = collector(county, "tokens", "add", "demo-viewer").strip()
    admin = collector(county, "tokens", "add", "demo-admin", "--role", "admin").strip()
    county.start_collector()
    print("demo: collector listening on %s; alerts go to a local webhook receiver at %s"
          % (county.collector_addr, hook.url("/demo")), flush=True)
    print(collector(county, "import", m["inventory"]).rstrip(), flush=True)
    county.start_agents()
    print("demo: %d agents polling every %g s; waiting for the alerts (an alert opens after "
          "two bad polls)..." % (len(m["schools"]), a.poll_interval), flush=True)

    def alerted():
        alerts = json.loads(collector(county, "alerts", "--open", "--json"))["alerts"]
        if len(alerts) >= len(m["faults"]) - 1 and hook.received("/demo"):
            return alerts
        raise h.NotYet("%d open alerts" % len(alerts))
    h.wait_until(alerted, 4 * a.poll_interval + 30, "the planted faults' alerts",
                 logs=[county.collector])
    time.sleep(1)

    print("demo: waiting for each school's first throughput test and recording-host check...",
          flush=True)
    wait_probes(county, m, a.poll_interval)
    coll = county.collector_bin
    print("\n== schools (schoolnet-collector schools) ==")
    print(collector(county, "schools").rstrip())
    print("\n== open alerts (schoolnet-collector alerts --open) ==")
    print(collector(county, "alerts", "--open").rstrip())
    print("\n== measured throughput (schoolnet-collector throughput) ==")
    print("(agents and collector share this machine, so the figures are loopback speed,"
          " not a real link's)")
    print(collector(county, "throughput").rstrip())
    print("\n== recording rooms (schoolnet-collector recording) ==")
    print("(one school's recording host is planted dead: it answers 503)" if seats else
          "(no town-seat school in this county)")
    print(collector(county, "recording").rstrip())
    got = hook.received("/demo")
    print("\n== the local webhook receiver got %d messages; the first one says ==" % len(got))
    if got and got[0].json:
        print(got[0].json.get("text", got[0].json))
    reports = monthly_reports(county, wd, a.seed)
    print()
    print("collector DB:   %s" % county.db)
    print("logs:           %s" % county.logs)
    print("configs:        %s, %s" % (county.conf, os.path.join(county.dir, "agents")))
    print("try:            %s -c %s schools --json" % (coll, county.conf))
    print("                %s -c %s ports --school s001" % (coll, county.conf))
    print("                %s -c %s alerts ack 1 --by 王老师" % (coll, county.conf))
    print("                %s -c %s probe --school s001" % (coll, county.conf))
    print("                %s -c %s report --month %s --format csv" % (coll, county.conf, reports[0][0]))
    print("dashboard:      http://127.0.0.1:%d/#token=%s" % (http_port, viewer))
    print("                read-only token: %s" % viewer)
    print("                admin token (acknowledge, maintenance): %s" % admin)
    print("API:            http://127.0.0.1:%d/api/v1/schools  (same tokens)" % http_port)
    print("                curl -H 'Authorization: Bearer %s' http://127.0.0.1:%d/metrics"
          % (viewer, http_port))
    sys.stdout.flush()
    if a.once:
        print("demo: --once: stopping", flush=True)
        return 0
    print("\ndemo: running; Ctrl-C to stop%s" % ("" if wd.owned and not h.KEEP else
                                                 " (files are kept in %s)" % wd.path), flush=True)
    while True:
        time.sleep(a.poll_interval)
        dead = [d for d in [county.collector] + list(county.agents.values()) if not d.alive()]
        if dead:
            raise h.TestFailure("stopped unexpectedly: %s\n%s"
                                % (", ".join("%s (exit %s)" % (d.name, d.proc.returncode) for d in dead),
                                   h.log_tails(dead)))
        print(status_line(county, hook), flush=True)


if __name__ == "__main__":
    sys.exit(main())
