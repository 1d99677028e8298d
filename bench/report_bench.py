#!/usr/bin/env python3
"""Monthly report benchmark: time and peak memory of `schoolnet-collector
report` for a county and a province, in every format.

  bench/report_bench.py [--build DIR | --collector PATH] [--month YYYY-MM]
                        [--seed 1] [--county-only] [--runs N]
                        [--province-runs N] [--dir DIR] [--keep]
                        [--timeout SECONDS] [--gen-only]

For each scale, bench/gen_month.py writes a collector database holding a
synthetic MONTH and the month before it (the report compares the two):
the schools, their ports and inventory, the daily roll-ups (port_day,
rollup_days) and the alerts, no raw samples.

  county     300 schools x 40 classrooms    ~12 k ports,  ~0.27 M port_day rows a month
  province 20000 schools x 40 classrooms   ~820 k ports,  ~18 M port_day rows a month

Then, per scale, each of

  schoolnet-collector -c CONF report --month MONTH --format html|csv|json -o OUT
  (and --format csv --level classroom)

is run RUNS times (county 3, province 1; the table shows the median wall
time and the largest peak RSS, from os.wait4), and so is the reference,
measured in the same run on the same file: Python's sqlite3 scanning the
month's roll-ups,

  SELECT count(*), sum(ms), sum(err_ms) FROM port_day WHERE day >= ? AND day < ?

('x scan' is report seconds / scan seconds; the report also reads the month
before, so the scan of both months is shown too, and it starts a process).
Afterwards the port_day and rollup_days counts are read again: the report
must have trusted the roll-ups, not recomputed them (there are no raw
samples to recompute them from).

Data goes to a temp dir (under --dir if given, else $TMPDIR or /tmp), removed
at the end unless --keep or BENCH_KEEP=1; free disk space is checked first
(about 2 GB for the province).  Every run has a time limit (--timeout,
default 60 s for the county, 15 min for the province), after which its
process group is killed.  Exit 77 if the collector has no `report` command.
"""
import argparse
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "sim"))
sys.path.insert(0, HERE)
import gen_month as gm  # noqa: E402
import harness as h  # noqa: E402

# (label, extra arguments, output file suffix)
FORMATS = [
    ("html", ["--format", "html"], "html"),
    ("csv", ["--format", "csv"], "csv"),
    ("json", ["--format", "json"], "json"),
    ("csv --level classroom", ["--format", "csv", "--level", "classroom"], "rooms.csv"),
]
COUNTY_LIMIT_S = 1.0            # the issue: "well under a second"


def say(msg):
    print("report_bench: %s" % msg, flush=True)


def mib(n):
    return n / 1048576.0


def has_report(collector):
    r = subprocess.run([collector, "--help"], capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    text = (r.stdout + r.stderr).decode("utf-8", "replace")
    return any(ln.split()[:1] == ["report"] for ln in text.splitlines())


# --- measuring ---------------------------------------------------------------------------

def run_measured(argv, log_path, timeout):
    """Run argv in its own process group; returns (wall s, cpu s, peak RSS
    KiB, exit status).  Killed (group, SIGKILL) after `timeout` s."""
    with open(log_path, "wb") as log:
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        done = threading.Event()
        killed = []

        def kill():
            if not done.is_set():
                killed.append(True)
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        timer = threading.Timer(timeout, kill)
        timer.start()
        h.on_cleanup(kill)
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            done.set()
            timer.cancel()
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
    if killed:
        raise h.TestFailure("%s: killed after %.0f s (time limit)\n%s"
                            % (" ".join(argv), timeout, h.tail(log_path, 20)))
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, p.returncode


def scan_month(db_path, m0, m1):
    """The reference: (seconds, (rows, sum ms, sum err_ms)) for one scan."""
    db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)
    try:
        t0 = time.monotonic()
        res = db.execute("SELECT count(*), sum(ms), sum(err_ms) FROM port_day"
                         " WHERE day >= ? AND day < ?", (m0, m1)).fetchone()
        return time.monotonic() - t0, res
    finally:
        db.close()


def table_counts(db_path):
    db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)
    try:
        return (db.execute("SELECT count(*) FROM port_day").fetchone()[0],
                db.execute("SELECT count(*), group_concat(DISTINCT fingerprint) FROM rollup_days")
                .fetchone())
    finally:
        db.close()


def check_output(label, path):
    """What the output holds, in a few words; '' if it does not look right."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return ""
    with open(path, "rb") as f:
        data = f.read()
    text = data.decode("utf-8", "replace")
    if label.startswith("json"):
        try:
            json.loads(text)
        except ValueError as e:
            return "INVALID JSON (%s)" % e
        return "valid JSON"
    if label.startswith("csv"):
        return "%d lines" % text.count("\n")
    return "ends with </html>" if text.rstrip().lower().endswith("</html>") else "no </html> at end"


def bench_scale(scale, args, collector, top, ym):
    spec = gm.SCALES[scale]
    wdir = os.path.join(top, scale)
    os.makedirs(wdir)
    info = gm.make_db(collector, wdir, spec["schools"], spec["rooms"], ym, args.seed)
    res = {"scale": scale, "info": info, "rows": []}
    if args.gen_only:
        return res
    runs = args.runs if scale == "county" else args.province_runs
    timeout = args.timeout or (60 if scale == "county" else 900)
    m0, m1 = gm.month_bounds(ym)
    counts_before = table_counts(info["db"])

    scan_s, got = scan_month(info["db"], m0, m1)      # warm-up: the file in the page cache
    if got[0] != info["cur_rows"]:
        raise h.TestFailure("%s: the scan finds %d rows in %s, the generator wrote %d"
                            % (scale, got[0], info["month"], info["cur_rows"]))
    scans = [scan_month(info["db"], m0, m1)[0] for _ in range(runs)]
    res["scan_s"] = statistics.median(scans)
    say("%s: reference scan of %s rows: %s s" % (scale, gm.fmt_n(got[0]),
                                                  ", ".join("%.3f" % s for s in scans)))
    # For context: the report reads the month before too.
    p0 = gm.month_bounds(gm.prev_month(*ym))[0]
    res["scan2_s"] = statistics.median(scan_month(info["db"], p0, m1)[0] for _ in range(runs))
    for label, extra, suffix in FORMATS:
        walls, cpus, rss = [], [], []
        out = os.path.join(wdir, "report-%s.%s" % (info["month"], suffix))
        for r in range(runs):
            if os.path.exists(out):
                os.unlink(out)
            argv = [collector, "-c", info["conf"], "report", "--month", info["month"]] + extra \
                + ["-o", out]
            log = os.path.join(wdir, "report-%s-%d.log" % (suffix, r + 1))
            wall, cpu, maxrss, rc = run_measured(argv, log, timeout)
            if rc != 0:
                raise h.TestFailure("%s: `%s` exited %d after %.2f s:\n%s"
                                    % (scale, " ".join(argv), rc, wall, h.tail(log, 30)))
            walls.append(wall)
            cpus.append(cpu)
            rss.append(maxrss)
            say("%s: report %s run %d/%d: %.3f s, CPU %.2f s, peak RSS %.1f MiB"
                % (scale, label, r + 1, runs, wall, cpu, maxrss / 1024))
        with open(log, "rb") as f:
            stderr_tail = f.read().decode("utf-8", "replace").strip().splitlines()[-3:]
        res["rows"].append({"label": label, "wall": statistics.median(walls),
                            "walls": walls, "cpu": statistics.median(cpus),
                            "rss_kb": max(rss), "bytes": os.path.getsize(out) if
                            os.path.exists(out) else 0, "check": check_output(label, out),
                            "said": stderr_tail})
    counts_after = table_counts(info["db"])
    res["counts_changed"] = None if counts_after == counts_before else (counts_before, counts_after)
    res["db_bytes_after"] = sum(os.path.getsize(info["db"] + s) for s in ("", "-wal")
                                if os.path.exists(info["db"] + s))
    if not args.keep:           # the next scale needs the disk
        for s in ("", "-wal", "-shm"):
            if os.path.exists(info["db"] + s):
                os.unlink(info["db"] + s)
    return res


# --- printing ----------------------------------------------------------------------------

def print_scale(res, runs):
    info = res["info"]
    print()
    print("Monthly report %s (compared with %s): %s, %s schools x %d classrooms, %d towns"
          % (info["month"], info["prev_month"], res["scale"], gm.fmt_n(info["schools"]),
             gm.SCALES[res["scale"]]["rooms"], info["towns"]))
    print("  %s ports (%s recording rooms); port_day rows: %s this month, %s the month before;"
          " %s + %s alerts" % (gm.fmt_n(info["ports"]), gm.fmt_n(info["recording"]),
                               gm.fmt_n(info["cur_rows"]), gm.fmt_n(info["prev_rows"]),
                               gm.fmt_n(info["prev_alerts"]), gm.fmt_n(info["cur_alerts"])))
    print("  database %.1f MiB, generated in %.1f s" % (mib(info["db_bytes"]), info["seconds"]))
    if not res["rows"]:
        return
    print("  median of %d run%s; peak RSS is the largest of them" % (runs, "s" if runs > 1 else ""))
    print("  %-40s %8s %7s %9s %11s %8s  %s" % ("", "seconds", "CPU s", "RSS MiB", "output KiB",
                                               "x scan", "output"))
    print("  %-40s %8.3f %7s %9s %11s %8s" % ("scan of the month's port_day (sqlite3)",
                                             res["scan_s"], "-", "-", "-", "1.0"))
    print("  %-40s %8.3f %7s %9s %11s %8.1f" % ("  same, both months", res["scan2_s"], "-", "-",
                                               "-", res["scan2_s"] / res["scan_s"]))
    for r in res["rows"]:
        print("  %-40s %8.3f %7.2f %9.1f %11.1f %8.1f  %s" % (
            "report " + r["label"], r["wall"], r["cpu"], r["rss_kb"] / 1024, r["bytes"] / 1024,
            r["wall"] / res["scan_s"] if res["scan_s"] > 0 else float("nan"), r["check"]))
    if res["scale"] == "county":
        slow = max(res["rows"], key=lambda r: r["wall"])
        print("  county report under %.0f s: %s (slowest: %s, %.3f s)"
              % (COUNTY_LIMIT_S, "yes" if slow["wall"] < COUNTY_LIMIT_S else "NO", slow["label"],
                 slow["wall"]))
    if res["counts_changed"]:
        (b_rows, b_days), (a_rows, a_days) = res["counts_changed"]
        print("  NOTE: the report changed the roll-ups: port_day %d -> %d rows, rollup_days %s -> %s"
              % (b_rows, a_rows, b_days, a_days))
    fields = []
    for r in res["rows"]:
        key = r["label"].replace(" --level ", "_")
        fields.append("%s_s=%.4f %s_rss_kb=%d %s_bytes=%d" % (key, r["wall"], key, r["rss_kb"],
                                                              key, r["bytes"]))
    print("REPORTRESULT scale=%s month=%s schools=%d ports=%d rows=%d scan_s=%.4f scan2_s=%.4f %s"
          % (res["scale"], info["month"], info["schools"], info["ports"], info["cur_rows"],
             res["scan_s"], res["scan2_s"], " ".join(fields)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("SCHOOLNET_BUILD")
                    or os.path.join(REPO, "build-bench"))
    ap.add_argument("--collector", help="schoolnet-collector binary (default: BUILD's)")
    ap.add_argument("--month", help="YYYY-MM (default: last full month, UTC+8)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--county-only", action="store_true")
    ap.add_argument("--runs", type=int, default=3, help="runs per format, county (default 3)")
    ap.add_argument("--province-runs", type=int, default=1)
    ap.add_argument("--dir", help="make the temp dir under DIR")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (also BENCH_KEEP=1)")
    ap.add_argument("--timeout", type=float, help="seconds per report run (60 county, 900 province)")
    ap.add_argument("--gen-only", action="store_true", help="generate the databases, no reports")
    args = ap.parse_args()
    try:
        ym = gm.parse_month(args.month) if args.month else gm.default_month()
    except ValueError as e:
        ap.error(str(e))
    if not (1 <= args.runs <= 9 and 1 <= args.province_runs <= 9):
        ap.error("--runs and --province-runs: 1..9")
    args.keep = args.keep or os.environ.get("BENCH_KEEP") == "1"
    scales = ["county"] if args.county_only else ["county", "province"]

    h.install_signal_handlers()
    rc = 1
    try:
        collector = gm.find_collector(args)
        if not args.gen_only and not has_report(collector):
            raise h.Skip("%s has no report command (--help)" % collector)
        parent = args.dir or tempfile.gettempdir()
        need = sum(gm.estimate_bytes(gm.SCALES[s]["schools"], gm.SCALES[s]["rooms"], ym)
                   for s in scales[-1:])
        gm.check_space(parent, need)
        top = tempfile.mkdtemp(prefix="schoolnet-reportbench-", dir=parent)
        h.on_cleanup(lambda: say("keeping %s" % top) if args.keep
                     else shutil.rmtree(top, ignore_errors=True))
        say("month %s, scales %s, in %s" % (gm.month_name(ym), ", ".join(scales), top))
        results = []
        for scale in scales:
            results.append(bench_scale(scale, args, collector, top, ym))
        for res in results:
            print_scale(res, args.runs if res["scale"] == "county" else args.province_runs)
        rc = 0
        for res in results:
            if res.get("counts_changed"):
                rc = 1
    except h.Skip as e:
        say("skipped: %s" % e)
        rc = 77
    except h.TestFailure as e:
        say("FAILED: %s" % e)
    finally:
        h.cleanup_all()
    return rc


if __name__ == "__main__":
    sys.exit(main())
