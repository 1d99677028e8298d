#!/usr/bin/env python3
"""Replay benchmark: how fast does an agent catch up after a long outage?

  bench/replay_bench.py [--build DIR] [--days 7] [--ports 100] [--poll 60]
                        [--scenarios unthrottled,agent-default,defaults]

Fills an agent spool directly with Python's sqlite3, in the agent's own
format (tables meta(key, value) and spool(seq, t_ms, frame)): DAYS days of
reports at one poll every POLL seconds (the default poll_interval) for a
school with one PORTS-interface switch, 7 x 1440 = 10080 reports by
default.  The REPORT frame is encoded once (as agent/spool.c stores it: the
whole wire frame, header included) and reused with new seq, epoch and t_ms.

Then, per scenario, a fresh collector and an agent pointed at a copy of that
spool (the agent resumes from it on start; its own switch is a UDP black
hole, polled once an hour, so it adds only one failed report) and the time
until the spool is empty is measured:

  unthrottled    agent replay_rate 100000, collector rate_limit 1000000
  agent-default  agent replay_rate default (200/s), collector rate_limit 1000000
  defaults       both at their defaults (collector rate_limit 100/s)

Printed per scenario: seconds to drain, reports/s, CPU seconds of agent and
collector, collector database size; and once: the spool file size for DAYS
days and the frame size.  Uses TLS with an enrolled per-agent key when the
binaries have it (the default), plaintext otherwise.  Traffic goes to
127.0.0.1 only; everything started is stopped and temp dirs are removed
(tests/sim/harness.py cleanup, BENCH_KEEP=1 keeps them).  Every wait is
bounded (--timeout seconds per scenario, default 600).
"""
import argparse
import os
import random
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "sim"))
if os.environ.get("BENCH_KEEP") == "1":
    os.environ["SCHOOLNET_KEEP"] = "1"
import gen_county  # noqa: E402
import harness as h  # noqa: E402

MAGIC, VERSION, T_REPORT = 0x534E, 1, 3
IF_RATES, IF_HC = 0x01, 0x02

SCENARIOS = {
    "unthrottled": {"replay_rate": 100000, "rate_limit": 1000000},
    "agent-default": {"replay_rate": None, "rate_limit": 1000000},
    "defaults": {"replay_rate": None, "rate_limit": None},
}


def say(msg):
    print("replay: %s" % msg, flush=True)


# --- the REPORT frame ------------------------------------------------------------

def wstr(s):
    b = s.encode("utf-8")
    return struct.pack(">H", len(b)) + b


def report_frame(ports, poll_s, rng):
    """One REPORT frame (header + payload) for a switch with `ports` interfaces:
    (ports - 4) access ports, 2 uplinks, a VLAN interface and a loopback."""
    ifs = []
    n_access = ports - 4
    for i in range(1, ports + 1):
        if i <= n_access:
            name = "GigabitEthernet0/0/%d" % i
            up = rng.random() > 0.15
            alias = "%d年级%d班" % (rng.randint(1, 9), rng.randint(1, 6)) if up else ""
            itype, speed = 6, (1000 if rng.random() > 0.1 else 100)
            in_bps, out_bps = (rng.uniform(0.2e6, 2e6), rng.uniform(2e6, 9e6)) if up else (0, 0)
            duplex = 3 if up else 1
        elif i <= n_access + 2:
            name = "XGigabitEthernet0/0/%d" % (i - n_access)
            up = i == n_access + 1
            alias = "至教育城域网" if up else ""
            itype, speed, duplex = 6, 1000 if up else 10000, 3 if up else 1
            in_bps, out_bps = (rng.uniform(50e6, 300e6), rng.uniform(10e6, 60e6)) if up else (0, 0)
        elif i == n_access + 3:
            name, alias, itype, speed, duplex, up = "Vlanif1", "", 136, 1000, 0, True
            in_bps = out_bps = 0
        else:
            name, alias, itype, speed, duplex, up = "NULL0", "", 24, 0, 0, True
            in_bps = out_bps = 0
        ifs.append(struct.pack(">IHBBBBI", i, itype, 1, 1 if up else 2, duplex, IF_RATES | IF_HC,
                               speed)
                   + wstr(name) + wstr(name) + wstr(alias)
                   + struct.pack(">QQQQQQ", int(in_bps * poll_s / 8), int(out_bps * poll_s / 8),
                                 0, 0, rng.randint(0, 3) if up else 0, 0))
    payload = (struct.pack(">QQQIIIIIBB", 0, 0, 0, 850, poll_s * 1000, poll_s, 123456789, 18, 0, 0)
               + wstr("access1") + wstr("10.1.1.1:161") + wstr("")
               + struct.pack(">I", len(ifs)) + b"".join(ifs))
    return bytearray(struct.pack(">HBBI", MAGIC, VERSION, T_REPORT, len(payload)) + payload)


def fill_spool(path, n, poll_s, frame, epoch):
    """Write n reports ending one poll ago, as the agent's spool holds them."""
    if os.path.exists(path):
        os.unlink(path)
    db = sqlite3.connect(path)
    db.executescript(
        "PRAGMA journal_mode=WAL;"
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER);"
        "CREATE TABLE spool(seq INTEGER PRIMARY KEY, t_ms INTEGER NOT NULL, frame BLOB NOT NULL);")
    now_ms = int(time.time() * 1000)
    t0 = now_ms - n * poll_s * 1000
    buf = bytearray(frame)
    rows = []
    for seq in range(1, n + 1):
        t_ms = t0 + (seq - 1) * poll_s * 1000
        struct.pack_into(">QQQ", buf, 8, seq, epoch, t_ms)
        # sysUpTime moves with the clock (centiseconds), so no reboot is seen.
        struct.pack_into(">I", buf, 8 + 24 + 12, (123456789 + (seq - 1) * poll_s * 100) & 0xFFFFFFFF)
        rows.append((seq, t_ms, bytes(buf)))
    with db:
        db.executemany("INSERT INTO spool(seq, t_ms, frame) VALUES(?, ?, ?)", rows)
        db.executemany("INSERT INTO meta(key, value) VALUES(?, ?)",
                       [("epoch", epoch), ("last_seq", n), ("dropped", 0)])
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


# --- helpers -------------------------------------------------------------------------

def knows(binary, key):
    r = subprocess.run([binary, "--config-help"], capture_output=True, timeout=30)
    return re.search(r"^\s+%s\s" % re.escape(key), r.stdout.decode("utf-8", "replace"), re.M) is not None


def spool_pending(path):
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)
    try:
        return db.execute("SELECT count(*) FROM spool").fetchone()[0]
    finally:
        db.close()


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def file_sizes(path):
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def mb(n):
    return n / 1048576.0


# --- one scenario ------------------------------------------------------------------------

def run_scenario(name, sc, args, agent_bin, collector_bin, spool_src, n_reports, tls, timeout):
    wd = h.Workdir(prefix="schoolnet-replay-%s-" % name)
    port = h.free_port("tcp")
    db_path = os.path.join(wd.path, "collector.db")
    conf = os.path.join(wd.path, "collector.conf")
    extra = {}
    if sc["rate_limit"] is not None:
        extra["rate_limit"] = sc["rate_limit"]
    with open(conf, "w", encoding="utf-8") as f:
        f.write(gen_county.collector_conf_text("127.0.0.1:%d" % port, db_path, extra))
    spool = os.path.join(wd.path, "spool.db")
    shutil.copyfile(spool_src, spool)
    hole = h.Blackhole()
    agent_conf = os.path.join(wd.path, "agent.conf")
    text = gen_county.agent_conf_text("s001", "127.0.0.1:%d" % port, spool, 3600,
                                      [{"name": "access1", "address": hole.address,
                                        "community": "public"}], timeout=0.5, retries=0)
    lines = []
    if sc["replay_rate"] is not None:
        lines.append("replay_rate = %d" % sc["replay_rate"])
    if tls:
        r = subprocess.run([collector_bin, "-c", conf, "enroll", "--school", "s001"],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise h.TestFailure("enroll failed: %s" % r.stderr.strip())
        lines += [ln for ln in r.stdout.splitlines() if ln and not ln.startswith("#")]
    with open(agent_conf, "w", encoding="utf-8") as f:
        f.write(text.replace("[agent]\n", "[agent]\n" + "".join(ln + "\n" for ln in lines), 1))
    h.check_config(collector_bin, conf)
    h.check_config(agent_bin, agent_conf)

    col = h.Daemon([collector_bin, "-c", conf], os.path.join(wd.path, "collector.log"),
                   name="collector")
    h.wait_until(lambda: col.alive() and h.tcp_listening(port), 20, "the collector to listen",
                 logs=[col])
    t0 = time.monotonic()
    agent = h.Daemon([agent_bin, "-c", agent_conf], os.path.join(wd.path, "agent.log"), name="agent",
                     env={"SNMP_PERSISTENT_DIR": wd.sub("snmp-persist")})
    last = [n_reports, t0]

    def empty():
        if not agent.alive():
            raise h.TestFailure("agent exited:\n" + agent.tail(30))
        if not col.alive():
            raise h.TestFailure("collector exited:\n" + col.tail(30))
        p = spool_pending(spool)
        now = time.monotonic()
        if now - last[1] >= 10:
            say("  %s: %d waiting, %.0f reports/s over the last %.0f s"
                % (name, p, (last[0] - p) / (now - last[1]), now - last[1]))
            last[0], last[1] = p, now
        if p:
            raise h.NotYet("%d reports still spooled" % p)
        return True
    h.wait_until(empty, timeout, "the spool to drain", interval=0.1, logs=[col, agent])
    took = time.monotonic() - t0
    cpu_agent, cpu_col = cpu_seconds(agent.pid), cpu_seconds(col.pid)
    agent.stop()
    col.stop()
    hole.stop()
    db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)
    stored = db.execute("SELECT last_seq FROM agents WHERE name = 's001'").fetchone()[0]
    rates = db.execute("SELECT count(*) FROM port_rates").fetchone()[0]
    db.close()
    if stored < n_reports:
        raise h.TestFailure("%s: collector stored up to seq %d of %d" % (name, stored, n_reports))
    res = {"name": name, "seconds": took, "rate": n_reports / took, "cpu_agent": cpu_agent,
           "cpu_collector": cpu_col, "db_bytes": file_sizes(db_path), "rate_rows": rates,
           "replay_rate": sc["replay_rate"] or "200 (default)",
           "rate_limit": sc["rate_limit"] or "100 (default)"}
    say("%s: %d reports in %.1f s = %.0f reports/s; CPU agent %.1f s, collector %.1f s; "
        "collector DB %.1f MB, %d rate rows"
        % (name, n_reports, took, res["rate"], cpu_agent, cpu_col, mb(res["db_bytes"]), rates))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("SCHOOLNET_BUILD") or os.path.join(REPO, "build"))
    ap.add_argument("--days", type=float, default=7)
    ap.add_argument("--ports", type=int, default=100)
    ap.add_argument("--poll", type=int, default=60, help="poll interval of the spooled reports (s)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--timeout", type=float, default=600, help="seconds per scenario, at most")
    args = ap.parse_args()
    os.environ["SCHOOLNET_BUILD"] = os.path.abspath(args.build)
    names = [s for s in args.scenarios.split(",") if s]
    bad = [s for s in names if s not in SCENARIOS]
    if bad:
        ap.error("unknown scenario(s) %s; known: %s" % (", ".join(bad), ", ".join(SCENARIOS)))
    if not (1 <= args.ports <= 4096 and 1 <= args.poll <= 3600 and 0 < args.days <= 60):
        ap.error("--ports 1..4096, --poll 1..3600, --days up to 60")

    h.install_signal_handlers()
    rc = 1
    try:
        agent_bin, collector_bin = h.binaries()
        for key in ("replay_rate",):
            if not knows(agent_bin, key):
                raise h.Skip("this agent has no %s setting" % key)
        tls = knows(collector_bin, "tls")
        n = int(args.days * 86400 / args.poll)
        rng = random.Random(1)
        frame = report_frame(args.ports, args.poll, rng)
        wd = h.Workdir(prefix="schoolnet-replay-")
        spool_src = os.path.join(wd.path, "spool-%gd.db" % args.days)
        t = time.monotonic()
        fill_spool(spool_src, n, args.poll, frame, random.getrandbits(62) + 1)
        spool_bytes = file_sizes(spool_src)
        say("spool: %d reports (%g days every %d s, %d interfaces), frame %d bytes, "
            "file %.1f MB, written in %.1f s"
            % (n, args.days, args.poll, args.ports, len(frame), mb(spool_bytes), time.monotonic() - t))
        say("transport: %s" % ("TLS 1.3 with a per-agent key" if tls else "plaintext"))
        results = []
        for name in names:
            say("scenario %s: replay_rate %s, collector rate_limit %s"
                % (name, SCENARIOS[name]["replay_rate"] or "default",
                   SCENARIOS[name]["rate_limit"] or "default"))
            results.append(run_scenario(name, SCENARIOS[name], args, agent_bin, collector_bin,
                                        spool_src, n, tls, args.timeout))
        print()
        print("Replay of %g days of reports (%d, one every %d s) for a %d-interface school"
              % (args.days, n, args.poll, args.ports))
        print("  frame %d bytes; spool file %.1f MB (%.0f bytes a report)"
              % (len(frame), mb(spool_bytes), spool_bytes / n))
        print("  %-14s %-14s %-14s %9s %10s %9s %9s %9s" % (
            "scenario", "replay_rate", "rate_limit", "seconds", "reports/s", "cpu agt", "cpu col",
            "DB MB"))
        for r in results:
            print("  %-14s %-14s %-14s %9.1f %10.0f %9.1f %9.1f %9.1f" % (
                r["name"], r["replay_rate"], r["rate_limit"], r["seconds"], r["rate"],
                r["cpu_agent"], r["cpu_collector"], mb(r["db_bytes"])))
        print("REPLAYRESULT reports=%d frame_bytes=%d spool_bytes=%d %s" % (
            n, len(frame), spool_bytes,
            " ".join("%s_rate=%.0f" % (r["name"].replace("-", "_"), r["rate"]) for r in results)))
        rc = 0
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
