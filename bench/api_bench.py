#!/usr/bin/env python3
"""HTTP API benchmark: the collector's JSON API as the web dashboard uses it,
on a county-sized database.

  bench/api_bench.py [--build DIR | --collector PATH] [--month YYYY-MM]
                     [--seed 1] [--runs 20] [--ref-runs 10]
                     [--dashboards 10,30] [--duration 30] [--period 5]
                     [--school-every 2] [--same-address] [--dir DIR] [--keep]

1. bench/gen_month.py make_db() writes the county (300 schools x 40
   classrooms, ~12.3 k ports, the month's roll-ups, no raw samples).  Then
   Python's sqlite3 adds what a running county has:
     ports       every port's current state: up at its speed (the ports
                 with an open alert: down, slow or half duplex, as the
                 alert says), last_seen within the last poll interval,
                 in/out bit rates of the school-day curve at this time of
                 day, error and discard counts;
     switches    poll_interval 60 s, last_poll / last_ok within the last
                 60 s (each school polls at its own second of the minute);
     agents      last_heard likewise;
     port_rates  24 h of raw rates, one row a minute, for every port of
                 10 schools and for every school's uplink (~1 M rows):
                 school-day shaped (night 3 %, lessons and breaks, lunch,
                 evening study), per-port peaks, per-lesson use of each
                 classroom, noise, zero while down, nothing while an agent
                 was silent; every day is shaped as a school day;
     port_state  one current interval for every port, and for those same
                 ports over the 24 h a few more: link flaps, an uplink or
                 a classroom at 100 Mb/s for a while, two agents silent for
                 half an hour (a gap: a new interval after it);
     rollup_days the days since the generated month, marked rolled up
                 (a running collector has done them), so that the
                 collector's roll-up job does not start computing 3 weeks
                 of roll-ups in the middle of the measurement.
   While the collector runs, a stand-in for the agents (a process of this
   script, its own sqlite3 connection) writes what their reports would:
   each school once a minute at its own second (5 schools a second), its
   ports' state, rates and last_seen, port_state extended, port_rates rows
   for the sampled ports, the switch's last_poll and the agent's
   last_heard; one transaction a second.  So ports stay fresh, the
   readers see a live WAL, and unchanged states keep their ETags.  (It is
   not the collector's own ingest path: bench/run.sh measures that.)

2. `schoolnet-collector -c CONF serve` (tls off, agents' port and
   `http = 127.0.0.1:PORT` on free loopback ports); a read-only token from
   `schoolnet-collector -c CONF tokens add bench`.

3. Single requests, one client (http.client, keep-alive), median and p95
   of --runs each after one warm-up:
     schools?brief=1 (200), the same with If-None-Match (304),
     schools (full), schools/CODE, ports?school=X,
     ports/history (X's uplink, hours=24, points=96),
     alerts?open=1&limit=50, report?format=json&rooms=0 (the month),
     /metrics, /healthz.
   Reference, interleaved with them on the same file (--ref-runs, median):
   Python's sqlite3 running the same SELECTs as collector/query.c and
   metrics.c (fetchall), and for the report report_bench's scan of the
   month's port_day.  'x ref' = API median / reference median.  Then the
   parts of the schools SELECT are timed alone ('where the time goes').

4. Dashboards at once, N for each of --dashboards: each polls
   schools?brief=1 and alerts?open=1&limit=50 side by side on two
   keep-alive connections (as the browser's Promise.allSettled does),
   with If-None-Match once it has an ETag, then waits --period s after
   both answered (app.js pollTick), starts staggered over one period,
   for --duration s.  Each dashboard has its own loopback source address
   (127.0.0.10+k) as the browsers of an IT office would; the collector
   allows 8 connections per address (--same-address: all from 127.0.0.1).
   Meanwhile one client opens a school page every --school-every s with
   app.js's requests (schools/CODE, ports?school, alerts?school&limit=50,
   then the uplink's 24 h history; one after the other on one connection,
   where the browser sends the first three side by side: the worker runs
   one at a time either way), and a separate process, every 100 ms, GETs
   /healthz (the collector closes that connection after each answer, so
   each is a new connection, as a monitoring check's) and
   /api/v1/whoami on a keep-alive connection; both are answered on the
   loop, not the worker, so they show whether the loop stays responsive.
   Reported: per request kind p50/p95/max, 200/304/503/errors, the poll
   cycle, healthz and whoami p50/p99/max, the most connections seen
   established, and the collector's CPU split into its loop thread and
   the libuv pool (the HTTP worker; the writer is idle), and who else
   used the machine's CPU meanwhile.  Before that, two connection checks:
   10 keep-alive connections from one address (8 are served), and
   /healthz on a 65th connection while 64 idle ones are open.

5. A summary table and an APIRESULT key=value line.

Everything is on 127.0.0.1/8; every process started is stopped by PID
(process group); the temp dir is removed unless --keep / BENCH_KEEP=1.
Every request has a time limit (60 s), every phase a bounded length;
about 2.5 minutes on 2 cores.
"""
import argparse
import asyncio
import http.client
import json
import math
import multiprocessing
import os
import random
import resource
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "sim"))
sys.path.insert(0, HERE)
import gen_month as gm  # noqa: E402
import harness as h  # noqa: E402

MIN_MS = 60000
POLL_S = 60
HOURS = 24
N_POLLS = HOURS * 60
DETAILED = 10                   # schools with every port sampled
REQ_TIMEOUT = 60.0
UTC8_S = 8 * 3600
DUPLEX_HALF, DUPLEX_FULL = 2, 3
UP, DOWN = 1, 2


def say(msg):
    print("api_bench: %s" % msg, flush=True)


def fmt_n(n):
    return "{:,}".format(n)


def pct(xs, p):
    """p-th percentile (nearest rank) of xs; nan when empty."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(math.ceil(p / 100.0 * len(s))) - 1))
    return s[k]


def now_ms():
    return int(time.time() * 1000)


# --- the collector's SQL (collector/query.c, metrics.c), for the references --------------

SCHOOLS_SQL = (
    "SELECT sc.code, sc.name, sc.town, sc.type, sc.town_seat,"
    " i.role, i.room, i.switch, i.port,"
    " p.admin, p.oper, p.speed_mbps, p.duplex, p.last_seen,"
    " p.in_errors, p.out_errors, s.poll_interval,"
    " %s"
    " FROM schools sc"
    " LEFT JOIN inventory i ON i.school_code = sc.code"
    "  AND i.valid_to IS NULL"
    " LEFT JOIN port_map m ON m.inventory_id = i.id"
    " LEFT JOIN ports p ON p.id = m.port_id"
    " LEFT JOIN switches s ON s.id = p.switch_id"
    " WHERE sc.removed_at IS NULL AND (?1 IS NULL OR sc.code = ?1)"
    " ORDER BY sc.town, sc.code, CASE i.role WHEN 'uplink' THEN 0"
    "  WHEN 'recording' THEN 1 ELSE 2 END, i.room")
ALERT_COUNT = ("(SELECT count(*) FROM alerts al WHERE al.school_code = sc.code"
               "  AND al.cleared_at IS NULL)")
PORTS_SQL = (
    "SELECT a.school, a.name, s.name, p.if_index, p.if_name,"
    " p.if_descr, p.if_alias, p.if_type,"
    " p.admin, p.oper, p.speed_mbps, p.duplex, p.last_seen,"
    " p.in_errors, p.out_errors, s.poll_interval,"
    " p.since, p.in_bps, p.out_bps, p.in_discards, p.out_discards,"
    " m.role, m.room, sc.name, sc.town"
    " FROM ports p JOIN switches s ON s.id = p.switch_id"
    " JOIN agents a ON a.id = s.agent_id"
    " LEFT JOIN port_map m ON m.port_id = p.id"
    " LEFT JOIN schools sc ON sc.code = m.school_code"
    " WHERE ?1 IS NULL OR a.school = ?1"
    " ORDER BY a.school, a.name, s.name, p.if_index")
ALERTS_SQL = (
    "SELECT a.id, a.cause, a.role, a.school_code, sc.name, sc.town,"
    " a.room, a.agent, a.switch, a.port, a.since, a.opened_at,"
    " a.cleared_at, a.speed_mbps, a.target_mbps, a.errors_per_min,"
    " a.detail, a.flapping, a.suppressed, a.acked_by, a.acked_at,"
    " (SELECT count(*) FROM outbox o WHERE o.alert_id = a.id"
    "  AND o.sent_at IS NOT NULL),"
    " (SELECT count(*) FROM outbox o WHERE o.alert_id = a.id"
    "  AND o.sent_at IS NULL AND o.failed_at IS NULL),"
    " (SELECT count(*) FROM outbox o WHERE o.alert_id = a.id"
    "  AND o.failed_at IS NOT NULL)"
    " FROM alerts a LEFT JOIN schools sc ON sc.code = a.school_code"
    " WHERE (?1 IS NULL OR a.school_code = ?1)"
    " AND (?2 = 0 OR a.cleared_at IS NULL)"
    " ORDER BY a.opened_at DESC, a.id DESC LIMIT ?3")
HISTORY_PORT_SQL = (
    "SELECT p.id FROM ports p JOIN switches s ON s.id = p.switch_id"
    " JOIN agents ag ON ag.id = s.agent_id"
    " WHERE ag.school = ? AND s.name = ? AND p.if_index = ?"
    " ORDER BY p.last_seen DESC LIMIT 1")
STATES_SQL = (
    "SELECT t_start, t_end, admin, oper, speed_mbps, duplex"
    " FROM port_state WHERE port_id = ?1 AND t_start < ?3"
    " AND t_end > ?2 AND ?4 > 0 ORDER BY t_start LIMIT 10000")
RATES_SQL = (
    "SELECT (t_end - ?2) / ?4,"
    " sum(in_bps * (t_end - t_start)) / max(sum(t_end - t_start), 1),"
    " sum(out_bps * (t_end - t_start)) / max(sum(t_end - t_start), 1),"
    " max(in_bps), max(out_bps), sum(in_errors), sum(out_errors)"
    " FROM port_rates WHERE port_id = ?1 AND t_end > ?2"
    " AND t_end <= ?3 GROUP BY 1 ORDER BY 1")
METRICS_SQL = [
    "SELECT m.port_id, m.inventory_id, m.role, m.room, sc.town"
    " FROM port_map m LEFT JOIN schools sc ON sc.code = m.school_code",
    "SELECT p.id, a.school, a.name, s.name, p.if_index, p.if_name,"
    " p.if_descr, p.admin, p.oper, p.speed_mbps, p.duplex, p.last_seen,"
    " p.in_errors, p.out_errors, s.poll_interval, p.in_bps, p.out_bps"
    " FROM ports p JOIN switches s ON s.id = p.switch_id"
    " JOIN agents a ON a.id = s.agent_id"
    " ORDER BY a.school, a.name, s.name, p.if_index",
    "SELECT sc.code, sc.name, sc.town, sc.town_seat, i.role, i.id"
    " FROM schools sc LEFT JOIN inventory i ON i.school_code = sc.code"
    "  AND i.valid_to IS NULL WHERE sc.removed_at IS NULL ORDER BY sc.town, sc.code",
    "SELECT a.name, a.school, a.last_heard, a.dropped, a.spool_pending,"
    " (SELECT max(poll_interval) FROM switches s WHERE s.agent_id = a.id)"
    " FROM agents a ORDER BY a.school, a.name",
    "SELECT cause, count(*) FROM alerts WHERE cleared_at IS NULL GROUP BY cause ORDER BY cause",
    "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL",
]
# What query_schools could run instead: the same rows, with port_map's two
# cases (ifName; else ifDescr when no port has that ifName) as two indexed
# lookups, the school filter inside them, and the open alerts counted once
# per school instead of once per row.
PORT_MAP_FAST = (
    "WITH pm(port_id, inventory_id) AS ("
    " SELECT p.id, i.id FROM inventory i"
    "  JOIN agents a ON a.school = i.school_code"
    "  JOIN switches s ON s.agent_id = a.id AND s.name = i.switch"
    "  JOIN ports p ON p.switch_id = s.id AND p.if_name = i.port"
    "  WHERE i.valid_to IS NULL AND (?1 IS NULL OR i.school_code = ?1)"
    " UNION ALL"
    " SELECT p.id, i.id FROM inventory i"
    "  JOIN agents a ON a.school = i.school_code"
    "  JOIN switches s ON s.agent_id = a.id AND s.name = i.switch"
    "  JOIN ports p ON p.switch_id = s.id AND p.if_descr = i.port"
    "  WHERE i.valid_to IS NULL AND (?1 IS NULL OR i.school_code = ?1)"
    "  AND NOT EXISTS (SELECT 1 FROM ports q WHERE q.switch_id = s.id AND q.if_name = i.port)),"
    " oa(school_code, n) AS (SELECT school_code, count(*) FROM alerts"
    "  WHERE cleared_at IS NULL GROUP BY 1) ")
SCHOOLS_FAST_SQL = PORT_MAP_FAST + (SCHOOLS_SQL % "coalesce(oa.n, 0)").replace(
    "LEFT JOIN port_map m", "LEFT JOIN pm m").replace(
    " LEFT JOIN switches s ON s.id = p.switch_id",
    " LEFT JOIN switches s ON s.id = p.switch_id LEFT JOIN oa ON oa.school_code = sc.code")

# The parts of the schools SELECT, alone ('where the time goes').
PARTS = [
    ("schools SELECT, whole county (as query_schools)", SCHOOLS_SQL % ALERT_COUNT, (None,)),
    ("  same without the open-alerts subquery", SCHOOLS_SQL % "0", (None,)),
    ("  same, one school (?1 = X)", SCHOOLS_SQL % ALERT_COUNT, "X"),
    ("port_map view alone (SELECT port_id, inventory_id)",
     "SELECT port_id, inventory_id FROM port_map", ()),
    ("  ifName matches as a plain indexed join",
     "SELECT p.id, i.id FROM inventory i JOIN agents a ON a.school = i.school_code"
     " JOIN switches s ON s.agent_id = a.id AND s.name = i.switch"
     " JOIN ports p ON p.switch_id = s.id AND p.if_name = i.port"
     " WHERE i.valid_to IS NULL", ()),
    ("open alerts per school, grouped once",
     "SELECT school_code, count(*) FROM alerts WHERE cleared_at IS NULL GROUP BY 1", ()),
    ("rewritten schools SELECT, whole county (same rows)", SCHOOLS_FAST_SQL, (None,)),
    ("  same, one school (same rows)", SCHOOLS_FAST_SQL, "X"),
]


# --- the traffic model ---------------------------------------------------------------------

# Local time (h) -> share of a port's peak: night, arrival, lessons of 45
# min with breaks, lunch, afternoon lessons, evening study, night.
LESSONS = [(8.0, 8.75), (8.92, 9.67), (10.0, 10.75), (10.92, 11.67),
           (13.5, 14.25), (14.42, 15.17), (15.33, 16.08), (16.25, 17.0)]
SHAPE = [(0.0, 0.03), (5.5, 0.03), (6.5, 0.10), (7.5, 0.45), (8.0, 0.55), (11.67, 0.55),
         (12.0, 0.30), (13.3, 0.30), (13.5, 0.55), (17.0, 0.55), (18.0, 0.14), (21.5, 0.14),
         (22.5, 0.04), (24.0, 0.03)]


def base_level(hour):
    for (h0, v0), (h1, v1) in zip(SHAPE, SHAPE[1:]):
        if h0 <= hour <= h1:
            v = v0 + (v1 - v0) * (hour - h0) / (h1 - h0)
            break
    else:
        v = 0.03
    for l0, l1 in LESSONS:
        if l0 <= hour < l1:
            return 1.0
    return v


def local_hour(t_ms):
    return ((t_ms // 1000 + UTC8_S) % 86400) / 3600.0


def port_hash(pid, slot):
    """A fixed pseudo-random share in [0, 1) per port and half hour."""
    x = (pid * 2654435761 + slot * 40503 + 12345) & 0xFFFFFFFF
    x ^= x >> 13
    x = (x * 0x5bd1e995) & 0xFFFFFFFF
    x ^= x >> 15
    return (x % 10007) / 10007.0


class Port:
    __slots__ = ("id", "school", "role", "speed", "state", "peak_in", "out_ratio",
                 "noisy", "state_id", "last_t")


def rates_at(p, t_ms, state, rng):
    """(in_bps, out_bps, in_err, out_err, in_disc, out_disc) of port p for
    the poll ending at t_ms, in state (admin, oper, speed, duplex)."""
    if state[1] != UP:
        return 0.0, 0.0, 0, 0, 0, 0
    hour = local_hour(t_ms)
    lvl = base_level(hour)
    if p.role == "classroom":
        if 7.5 <= hour < 17.0:          # how much this class uses the network this half hour
            lvl *= 0.05 + 0.95 * port_hash(p.id, int(hour * 2))
    elif p.role == "recording":
        lvl = 1.0 if lvl >= 1.0 and port_hash(p.id, int(hour * 2)) < 0.4 else 0.02
    noise = rng.lognormvariate(0, 0.22)
    cap = state[2] * 1e6 * 0.93
    vin = min(cap, p.peak_in * lvl * noise)
    vout = min(cap, vin * p.out_ratio * rng.lognormvariate(0, 0.15))
    ie = oe = 0
    if p.noisy and rng.random() < 0.08:
        ie = rng.randint(1, 6)          # under max_errors_per_min: no state change
    if state[3] == DUPLEX_HALF and lvl > 0.3:
        oe = rng.randint(0, 8)          # late collisions, under the limit too
    idisc = rng.randint(0, 30) if p.role == "uplink" and lvl >= 1.0 and rng.random() < 0.3 else 0
    return round(vin, 1), round(vout, 1), ie, oe, idisc, 0


def make_port(pid, school, role, speed, rng):
    p = Port()
    p.id, p.school, p.role, p.speed = pid, school, role, speed
    if role == "uplink":
        p.peak_in = 1000e6 * rng.uniform(0.3, 0.75)
        p.out_ratio = rng.uniform(0.12, 0.3)
    elif role == "recording":
        p.peak_in = rng.uniform(12e6, 25e6)       # the recorder's streams
        p.out_ratio = rng.uniform(0.05, 0.15)
    else:
        p.peak_in = rng.uniform(3e6, 40e6)
        p.out_ratio = rng.uniform(0.1, 0.3)
    p.noisy = rng.random() < 0.03
    p.state_id = 0
    p.last_t = 0
    return p


# --- step 1: a live county on top of gen_month's ---------------------------------------------

def add_live_data(db_path, seed):
    """Current state, 24 h of raw data for the sampled ports, roll-up marks.
    Returns (what was written, the model for the stand-in)."""
    t_start = time.monotonic()
    rng = random.Random(seed * 7919 + 11)
    now = now_ms()
    db = sqlite3.connect(db_path, isolation_level=None, timeout=10)
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -262144")
    schools = [r[0] for r in db.execute("SELECT code FROM schools ORDER BY code")]
    sw_of = {}
    for sid, aid, code in db.execute("SELECT s.id, a.id, a.school FROM switches s"
                                     " JOIN agents a ON a.id = s.agent_id"):
        sw_of[code] = (sid, aid)
    # Ports and their roles, as port_map joins them (ifName = inventory port).
    ports = {}
    for pid, code, role, speed in db.execute(
            "SELECT p.id, a.school, i.role, p.speed_mbps FROM ports p"
            " JOIN switches s ON s.id = p.switch_id JOIN agents a ON a.id = s.agent_id"
            " LEFT JOIN inventory i ON i.school_code = a.school AND i.switch = s.name"
            "  AND i.port = p.if_name AND i.valid_to IS NULL ORDER BY p.id"):
        ports[pid] = make_port(pid, code, role or "classroom", speed, rng)
    by_school = {}
    for p in ports.values():
        by_school.setdefault(p.school, []).append(p)
    # The current state: up at its speed, or as its open alert says.
    cur = {pid: (UP, UP, p.speed, DUPLEX_FULL) for pid, p in ports.items()}
    bad_since = {}
    for pid, cause, speed, since in db.execute(
            "SELECT port_id, cause, speed_mbps, since FROM alerts"
            " WHERE cleared_at IS NULL AND port_id IS NOT NULL"):
        if cause in ("port_down", "uplink_down"):
            cur[pid] = (UP, DOWN, 0, 0)
        elif cause in ("speed_low", "uplink_speed_low"):
            cur[pid] = (UP, UP, speed or 10, DUPLEX_FULL)
        elif cause == "half_duplex":
            cur[pid] = (UP, UP, 100, DUPLEX_HALF)
        else:
            continue
        bad_since[pid] = since
    # The sampled ports: every port of DETAILED schools spread over the
    # county, and every uplink.
    step = max(1, len(schools) // DETAILED)
    detailed = [schools[i] for i in range(0, len(schools), step)][:DETAILED]
    sampled = set()
    for code in detailed:
        sampled.update(p.id for p in by_school[code])
    sampled.update(p.id for p in ports.values() if p.role == "uplink")
    # Each school polls at its own second of the minute.
    phase = {code: (i * MIN_MS // len(schools)) for i, code in enumerate(schools)}
    last_poll = {code: now - ((now - phase[code]) % MIN_MS) for code in schools}
    # Two detailed schools had their agent silent for half an hour or so.
    silent = {}
    for code in rng.sample(detailed[1:], 2):
        g0 = rng.randint(60, N_POLLS - 120)
        silent[code] = (g0, g0 + rng.randint(20, 45))

    rates_rows = state_rows = 0
    db.execute("BEGIN")
    ins_rate = ("INSERT INTO port_rates(port_id, t_start, t_end, in_bps, out_bps, in_errors,"
                " out_errors, in_discards, out_discards) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)")
    ins_state = ("INSERT INTO port_state(port_id, t_start, t_end, admin, oper, speed_mbps, duplex)"
                 " VALUES(?, ?, ?, ?, ?, ?, ?)")
    port_upd = []
    for code in schools:
        lp = last_poll[code]
        # Poll times, oldest first, a little jitter as agents' timers have.
        times = [lp - (N_POLLS - 1 - k) * MIN_MS + (rng.randint(-300, 300) if k < N_POLLS - 1
                                                      else 0) for k in range(N_POLLS)]
        gap = silent.get(code)
        for p in by_school[code]:
            state_now = cur[p.id]
            long_ago = bad_since.get(p.id) or (lp - rng.randint(1, 40) * 86400000
                                               - rng.randint(0, 86400000))
            if p.id not in sampled:
                db.execute(ins_state, (p.id, long_ago, lp) + state_now)
                p.state_id = db.execute("SELECT last_insert_rowid()").fetchone()[0]
                state_rows += 1
                since = long_ago
                vals = rates_at(p, lp, state_now, rng)
            else:
                # The state at each poll: the current one, with events.
                st = [state_now] * N_POLLS
                if p.id not in bad_since:
                    r = rng.random()
                    if r < 0.15:                            # a flap
                        a = rng.randint(0, N_POLLS - 20)
                        for k in range(a, a + rng.randint(1, 10)):
                            st[k] = (UP, DOWN, 0, 0)
                    elif r < 0.20 and p.speed >= 1000:      # a while at 100 Mb/s
                        a = rng.randint(0, N_POLLS - 130)
                        for k in range(a, a + rng.randint(20, 120)):
                            st[k] = (UP, UP, 100, DUPLEX_FULL)
                rows = []
                runs = []                                   # [first k, last k, state]
                prev_t = times[0] - MIN_MS
                for k in range(N_POLLS):
                    if gap and gap[0] <= k < gap[1]:
                        prev_t = times[k]
                        continue
                    t = times[k]
                    vals = rates_at(p, t, st[k], rng)
                    rows.append((p.id, prev_t, t) + vals)
                    prev_t = t
                    new_run = (not runs or runs[-1][2] != st[k]
                               or (gap and k == gap[1]))
                    if new_run:
                        runs.append([k, k, st[k]])
                    else:
                        runs[-1][1] = k
                db.executemany(ins_rate, rows)
                rates_rows += len(rows)
                for i, (k0, k1, s) in enumerate(runs):
                    t0 = long_ago if i == 0 else times[k0]
                    db.execute(ins_state, (p.id, t0, times[k1]) + s)
                    state_rows += 1
                    since = t0
                p.state_id = db.execute("SELECT last_insert_rowid()").fetchone()[0]
            p.last_t = lp
            adm, oper, speed, dup = state_now
            port_upd.append((adm, oper, speed, dup, since, lp, p.state_id) + vals + (p.id,))
    db.executemany("UPDATE ports SET admin = ?, oper = ?, speed_mbps = ?, duplex = ?, since = ?,"
                   " last_seen = ?, state_id = ?, in_bps = ?, out_bps = ?, in_errors = ?,"
                   " out_errors = ?, in_discards = ?, out_discards = ? WHERE id = ?", port_upd)
    for code in schools:
        sid, aid = sw_of[code]
        lp = last_poll[code]
        db.execute("UPDATE switches SET status = 0, error = NULL, poll_interval = ?,"
                   " last_poll = ?, last_ok = ?, sys_uptime = ?, pdus = 18, duration_ms = ?"
                   " WHERE id = ?", (POLL_S, lp, lp, rng.randint(10**6, 10**9),
                                     rng.randint(150, 900), sid))
        db.execute("UPDATE agents SET last_heard = ?, last_seen = ?, last_seq = last_seq + 1440"
                   " WHERE id = ?", (lp, lp, aid))
    # Days since the generated month: rolled up already, as on a running
    # collector (the roll-up job then finds nothing to do).
    midnight = ((now // 1000 + UTC8_S) // 86400 * 86400 - UTC8_S) * 1000
    marks = [(midnight - k * gm.DAY_MS, gm.FINGERPRINT, now) for k in range(0, 64)
             if midnight - (k - 1) * gm.DAY_MS + 3600000 <= now]
    before = db.execute("SELECT count(*) FROM rollup_days").fetchone()[0]
    db.executemany("INSERT OR IGNORE INTO rollup_days(day, fingerprint, computed_at)"
                   " VALUES(?, ?, ?)", marks)
    marked = db.execute("SELECT count(*) FROM rollup_days").fetchone()[0] - before
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    counts = {t: db.execute("SELECT count(*) FROM " + t).fetchone()[0]
              for t in ("ports", "port_rates", "port_state", "alerts", "port_day")}
    counts["open_alerts"] = db.execute("SELECT count(*) FROM alerts WHERE cleared_at IS NULL"
                                       ).fetchone()[0]
    db.close()
    x = detailed[0]
    info = {"seconds": time.monotonic() - t_start, "rates_rows": rates_rows,
            "state_rows": state_rows, "sampled": len(sampled), "detailed": detailed,
            "silent": sorted(silent), "marked_days": marked, "counts": counts,
            "x": x, "x_ports": len(by_school[x]),
            "x_uplink_port": next(p.id for p in by_school[x] if p.role == "uplink")}
    model = {"ports": ports, "by_school": by_school, "cur": cur, "sampled": sampled,
             "sw_of": sw_of, "last_poll": last_poll}
    return info, model


# --- the agents' stand-in: what their reports would write --------------------------------

def standin_main(db_path, model, stop, conn, seed):
    """In a child process: every second, write the schools whose minute has
    come, one transaction; at the end send what it did through conn."""
    rng = random.Random(seed * 31 + 7)
    db = sqlite3.connect(db_path, isolation_level=None, timeout=10)
    db.execute("PRAGMA synchronous = FULL")     # as the collector's writer
    next_due = {code: lp + MIN_MS for code, lp in model["last_poll"].items()}
    ports, by_school, cur, sampled = model["ports"], model["by_school"], model["cur"], \
        model["sampled"]
    stats = {"polls": 0, "tx": 0, "rates": 0, "max_tx_ms": 0.0, "sum_tx_ms": 0.0, "errors": 0}
    try:
        while not stop.is_set():
            t = now_ms()
            due = [c for c, d in next_due.items() if d <= t]
            if due:
                t0 = time.monotonic()
                pu, su, ri = [], [], []
                sw, ag = [], []
                for code in due:
                    for p in by_school[code]:
                        s = cur[p.id]
                        vals = rates_at(p, t, s, rng)
                        pu.append((t,) + vals + (p.id,))
                        su.append((t, p.state_id))
                        if p.id in sampled:
                            ri.append((p.id, p.last_t, t) + vals)
                        p.last_t = t
                    sid, aid = model["sw_of"][code]
                    sw.append((t, t, sid))
                    ag.append((t, t, aid))
                    next_due[code] += MIN_MS
                    while next_due[code] <= t:
                        next_due[code] += MIN_MS
                try:
                    db.execute("BEGIN IMMEDIATE")
                    db.executemany("UPDATE ports SET last_seen = ?, in_bps = ?, out_bps = ?,"
                                   " in_errors = ?, out_errors = ?, in_discards = ?,"
                                   " out_discards = ? WHERE id = ?", pu)
                    db.executemany("UPDATE port_state SET t_end = ? WHERE id = ?", su)
                    db.executemany("INSERT OR REPLACE INTO port_rates(port_id, t_start, t_end,"
                                   " in_bps, out_bps, in_errors, out_errors, in_discards,"
                                   " out_discards) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)", ri)
                    db.executemany("UPDATE switches SET last_poll = ?, last_ok = ? WHERE id = ?",
                                   sw)
                    db.executemany("UPDATE agents SET last_heard = ?, last_seen = ?,"
                                   " last_seq = last_seq + 1 WHERE id = ?", ag)
                    db.execute("COMMIT")
                except sqlite3.Error:
                    stats["errors"] += 1
                    try:
                        db.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                ms = (time.monotonic() - t0) * 1000
                stats["polls"] += len(due)
                stats["tx"] += 1
                stats["rates"] += len(ri)
                stats["sum_tx_ms"] += ms
                stats["max_tx_ms"] = max(stats["max_tx_ms"], ms)
            stop.wait(max(0.05, 1.0 - (now_ms() % 1000) / 1000.0))
    finally:
        db.close()
        conn.send(stats)
        conn.close()


class Standin:
    def __init__(self, db_path, model, seed):
        ctx = multiprocessing.get_context("fork")
        self.stop_ev = ctx.Event()
        self.parent, child = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=standin_main, args=(db_path, model, self.stop_ev, child,
                                                           seed), daemon=True)
        self.proc.start()
        self.stats = None
        h.on_cleanup(self.stop)

    def stop(self):
        if self.stats is not None or self.proc.pid is None:
            return self.stats
        self.stop_ev.set()
        if self.parent.poll(10):
            try:
                self.stats = self.parent.recv()
            except EOFError:
                self.stats = {}
        self.proc.join(5)
        if self.proc.is_alive():
            os.kill(self.proc.pid, 9)
            self.proc.join(5)
        if self.stats is None:
            self.stats = {}
        return self.stats


# --- the collector ---------------------------------------------------------------------

def start_collector(collector, wdir, db_path):
    conf = os.path.join(wdir, "api.conf")
    listen, port = h.free_port("tcp"), h.free_port("tcp")
    while port == listen:
        port = h.free_port("tcp")
    with open(conf, "w", encoding="utf-8") as f:
        f.write("# generated by bench/api_bench.py\n[collector]\ndatabase = %s\n"
                "listen = 127.0.0.1:%d\nhttp = 127.0.0.1:%d\ntls = off\n" % (db_path, listen, port))
    h.check_config(collector, conf)
    r = subprocess.run([collector, "-c", conf, "tokens", "add", "bench"], capture_output=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    token = r.stdout.decode().strip()
    if r.returncode != 0 or not token.startswith("snt_"):
        raise h.TestFailure("tokens add bench exited %d: %s %s" % (
            r.returncode, token, r.stderr.decode("utf-8", "replace")))
    log = os.path.join(wdir, "collector.log")
    d = h.Daemon([collector, "-c", conf, "serve"], log, name="collector")

    def ready():
        if not d.alive():
            raise h.TestFailure("collector exited at start:\n" + d.tail(20))
        return healthz_ok(port)
    h.wait_until(ready, 10, "the collector's /healthz on 127.0.0.1:%d" % port, logs=[d])
    return d, conf, port, token


def proc_cpu(pid):
    """(loop thread CPU s, other threads CPU s) from /proc/PID/task."""
    tck = os.sysconf("SC_CLK_TCK")
    loop = other = 0.0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return 0.0, 0.0
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu = (int(fields[11]) + int(fields[12])) / tck
        if int(tid) == pid:
            loop += cpu
        else:
            other += cpu
    return loop, other


def pid_cpu(pid):
    """CPU seconds (user + system) of a process, all its threads."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def machine_cpu():
    """(busy CPU seconds of the whole machine, CPUs) from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    total = sum(v[:8])
    return (total - v[3] - v[4]) / os.sysconf("SC_CLK_TCK"), os.cpu_count() or 1


class CpuWatch:
    """Who used the machine's CPU between start() and stop(): the collector,
    this script's own process (the clients), the stand-in, and the rest."""

    def __init__(self, collector_pid, standin_pid):
        self.pids = {"collector": collector_pid, "stand-in": standin_pid}

    def snap(self):
        ru = resource.getrusage(resource.RUSAGE_SELF)
        m, ncpu = machine_cpu()
        d = {k: pid_cpu(p) for k, p in self.pids.items()}
        d["bench"] = ru.ru_utime + ru.ru_stime
        d["machine"] = m
        d["t"] = time.monotonic()
        self.ncpu = ncpu
        return d

    def start(self):
        self.a = self.snap()
        return self

    def stop(self):
        b = self.snap()
        d = {k: b[k] - self.a[k] for k in b}
        d["other"] = max(0.0, d["machine"] - d["collector"] - d["stand-in"] - d["bench"])
        d["ncpu"] = self.ncpu
        return d


def cpu_line(d):
    """One line: busy cores on average, and whose."""
    w = d["t"] or 1e-9
    return ("machine busy %.2f of %d cores: collector %.2f, bench clients %.2f, stand-in %.2f,"
            " other processes %.2f%s" % (d["machine"] / w, d["ncpu"], d["collector"] / w,
                                         d["bench"] / w, d["stand-in"] / w, d["other"] / w,
                                         "  << SHARED MACHINE: figures inflated"
                                         if d["other"] / w > 0.25 else ""))


def rss_mib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith("VmHWM:"):
                    return int(ln.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


# --- step 3: single requests -------------------------------------------------------------

class Client:
    """One keep-alive connection (http.client), reconnecting if closed."""

    def __init__(self, port, token, src="127.0.0.1"):
        self.port, self.token, self.src = port, token, src
        self.c = None

    def get(self, path, inm=None, auth=True):
        hdrs = {"Accept": "application/json"}
        if auth:
            hdrs["Authorization"] = "Bearer " + self.token
        if inm:
            hdrs["If-None-Match"] = inm
        for attempt in (1, 2):
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQ_TIMEOUT,
                                                    source_address=(self.src, 0))
            try:
                t0 = time.perf_counter()
                self.c.request("GET", path, headers=hdrs)
                r = self.c.getresponse()
                body = r.read()
                dt = time.perf_counter() - t0
                return r.status, r.getheader("ETag"), body, dt
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.c.close()
                self.c = None
                if attempt == 2:
                    raise

    def close(self):
        if self.c:
            self.c.close()
            self.c = None


def history_window(hours, points, now):
    """from, to, step (ms) as collector/http.c port_history computes them."""
    step = (hours * 3600000 // points + 999) // 1000 * 1000
    return (now // step + 1 - points) * step, now, step


def ref_fetch(rdb, sql, args):
    return rdb.execute(sql, args).fetchall()


def make_refs(rdb, x, month):
    m0, m1 = gm.month_bounds(gm.parse_month(month))

    def schools():
        return len(ref_fetch(rdb, SCHOOLS_SQL % ALERT_COUNT, (None,)))

    def school_one():
        return len(ref_fetch(rdb, SCHOOLS_SQL % ALERT_COUNT, (x,)))

    def ports_one():
        return len(ref_fetch(rdb, PORTS_SQL, (x,)))

    def history():
        f, t, s = history_window(24, 96, now_ms())
        pid = rdb.execute(HISTORY_PORT_SQL, (x, "core", gm.UPLINK_PORT)).fetchone()[0]
        a = ref_fetch(rdb, STATES_SQL, (pid, f, t, s))
        b = ref_fetch(rdb, RATES_SQL, (pid, f, t, s))
        return len(a) + len(b)

    def alerts():
        return len(ref_fetch(rdb, ALERTS_SQL, (None, 1, 50)))

    def month_scan():
        return rdb.execute("SELECT count(*), sum(ms), sum(err_ms) FROM port_day"
                           " WHERE day >= ? AND day < ?", (m0, m1)).fetchone()[0]

    def metrics():
        return sum(len(ref_fetch(rdb, q, ())) for q in METRICS_SQL)

    return {"schools": ("query_schools SELECT, fetchall", schools),
            "school_one": ("query_schools SELECT ?1 = X", school_one),
            "ports_one": ("query_ports SELECT ?1 = X", ports_one),
            "history": ("history: port id + states + rates SELECTs", history),
            "alerts": ("query_alerts SELECT open, LIMIT 50", alerts),
            "month_scan": ("scan of the month's port_day (report_bench)", month_scan),
            "metrics": ("metrics.c's 6 SELECTs", metrics)}


def single_requests(cli, refs, x, month, runs, ref_runs):
    hist = "/api/v1/ports/history?school=%s&switch=core&if_index=%d&hours=24&points=96" % (
        x, gm.UPLINK_PORT)
    items = [
        ("schools?brief=1", "/api/v1/schools?brief=1", False, "schools", 200),
        ("schools?brief=1 If-None-Match", "/api/v1/schools?brief=1", True, "schools", 304),
        ("schools (full)", "/api/v1/schools", False, "schools", 200),
        ("schools/X", "/api/v1/schools/" + x, False, "school_one", 200),
        ("ports?school=X", "/api/v1/ports?school=" + x, False, "ports_one", 200),
        ("ports/history X uplink 24h/96", hist, False, "history", 200),
        ("alerts?open=1&limit=50", "/api/v1/alerts?open=1&limit=50", False, "alerts", 200),
        ("report json rooms=0 " + month,
         "/api/v1/report?month=%s&format=json&rooms=0" % month, False, "month_scan", 200),
        ("/metrics", "/metrics", False, "metrics", 200),
        ("/healthz", "/healthz", False, None, 200),
    ]
    out = []
    ref_done = {}
    for label, path, inm, ref, want in items:
        st, etag, body, dt = cli.get(path)             # warm-up, and the ETag
        if st != 200:
            raise h.TestFailure("GET %s: %d %s" % (path, st, body[:300]))
        size = len(body)
        try:
            parsed = json.loads(body) if path.startswith("/api/") else None
        except ValueError as e:
            raise h.TestFailure("GET %s: invalid JSON (%s)" % (path, e))
        note = ""
        if parsed is not None:
            for key in ("schools", "ports", "alerts", "rates"):
                if isinstance(parsed.get(key), list):
                    note = "%d %s" % (len(parsed[key]), key)
                    if key == "rates":
                        note += ", %d states" % len(parsed.get("states", []))
                    break
            if "district" in parsed:
                note = "%d schools" % len(parsed.get("schools", []))
        elif path == "/metrics":
            note = "%s lines" % fmt_n(body.count(b"\n"))
        times, statuses, sizes = [], {}, []
        rtimes = []
        do_ref = ref is not None and ref not in ref_done
        if do_ref:
            refs[ref][1]()                              # warm-up
        for i in range(runs):
            st, et, b, dt = cli.get(path, inm=etag if inm else None)
            times.append(dt)
            statuses[st] = statuses.get(st, 0) + 1
            sizes.append(len(b))
            if do_ref and i < ref_runs:
                t0 = time.perf_counter()
                refs[ref][1]()
                rtimes.append(time.perf_counter() - t0)
        if do_ref:
            ref_done[ref] = statistics.median(rtimes)
        row = {"label": label, "path": path, "p50": statistics.median(times),
               "p95": pct(times, 95), "max": max(times), "statuses": statuses,
               "bytes": size if not inm else statistics.median(sizes), "full_bytes": size,
               "note": note, "ref": ref, "want": want}
        out.append(row)
        say("  %-34s %8.1f ms p50 %8.1f ms p95  %s  %s%s" % (
            label, row["p50"] * 1000, row["p95"] * 1000,
            " ".join("%dx%d" % (n, s) for s, n in sorted(statuses.items())),
            "%.1f KiB" % (row["bytes"] / 1024.0), ("  (" + note + ")") if note else ""))
    return out, ref_done


def time_parts(rdb, x, runs=5):
    out = []
    for args in ((None,), (x,)):        # the rewrite must give the same rows
        if rdb.execute(SCHOOLS_SQL % ALERT_COUNT, args).fetchall() != \
                rdb.execute(SCHOOLS_FAST_SQL, args).fetchall():
            raise h.TestFailure("the rewritten schools SELECT gives other rows (%s)" % args)
    for label, sql, args in PARTS:
        if args == "X":
            args = (x,)
        rdb.execute(sql, args).fetchall()
        ts = []
        n = 0
        for _ in range(runs):
            t0 = time.perf_counter()
            n = len(rdb.execute(sql, args).fetchall())
            ts.append(time.perf_counter() - t0)
        out.append((label, statistics.median(ts), n))
    return out


def per_address_probe(port, n=10):
    """Keep-alive connections from one address: how many get an answer."""
    socks, ok = [], 0
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=3,
                                         source_address=("127.0.0.3", 0))
            socks.append(s)
        time.sleep(0.3)
        for s in socks:
            try:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    ok += 1
            except OSError:
                pass
    finally:
        for s in socks:
            s.close()
    return ok, n


def cap_probe(port, hold=64, wait=3.0):
    """With `hold` idle keep-alive connections open (from 8 addresses, 8
    each), does /healthz on one more connection get an answer within
    `wait` s?  Returns (answered, seconds)."""
    socks = []
    try:
        for i in range(hold):
            socks.append(socket.create_connection(
                ("127.0.0.1", port), timeout=3, source_address=("127.0.0.%d" % (100 + i // 8), 0)))
        time.sleep(0.3)
        t0 = time.perf_counter()
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=wait,
                                         source_address=("127.0.0.99", 0))
            socks.append(s)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            ok = s.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            ok = False
        return ok, time.perf_counter() - t0
    finally:
        for s in socks:
            s.close()


def healthz_ok(port):
    """True when GET /healthz answers 200; NotYet while it cannot connect."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        c.request("GET", "/healthz")
        return c.getresponse().status == 200
    except OSError as e:
        raise h.NotYet(str(e))
    finally:
        c.close()


def wait_healthz(port, timeout=15):
    h.wait_until(lambda: healthz_ok(port), timeout, "/healthz to answer again")


# --- step 4: dashboards at once (asyncio) ----------------------------------------------------

class AConn:
    """A keep-alive HTTP/1.1 connection for asyncio, from a source address."""

    def __init__(self, port, token, src, rec):
        self.port, self.token, self.src, self.rec = port, token, src, rec
        self.r = self.w = None
        self.used = False

    async def _open(self):
        self.r, self.w = await asyncio.open_connection("127.0.0.1", self.port,
                                                       local_addr=(self.src, 0))
        self.used = False

    def close(self):
        if self.w:
            self.w.close()
        self.r = self.w = None

    async def _once(self, path, inm):
        req = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1:%d" % self.port,
               "Authorization: Bearer %s" % self.token, "Accept: application/json"]
        if inm:
            req.append("If-None-Match: %s" % inm)
        self.w.write(("\r\n".join(req) + "\r\n\r\n").encode())
        await self.w.drain()
        line = await self.r.readline()
        if not line:
            raise ConnectionResetError("closed")
        status = int(line.split()[1])
        hdrs = {}
        while True:
            ln = await self.r.readline()
            if not ln:
                raise ConnectionResetError("closed in the headers")
            if ln in (b"\r\n", b"\n"):
                break
            k, _, v = ln.decode("latin-1").partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = 0
        if status not in (204, 304) and status >= 200:
            if hdrs.get("transfer-encoding", "").lower() == "chunked":
                body = b""
                while True:
                    size = int((await self.r.readline()).split(b";")[0], 16)
                    if size == 0:
                        await self.r.readline()
                        break
                    body += await self.r.readexactly(size)
                    await self.r.readexactly(2)
                n = len(body)
            else:
                n = int(hdrs.get("content-length", "0"))
                await self.r.readexactly(n)
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        self.used = True
        return status, hdrs.get("etag"), n

    async def get(self, kind, path, inm=None):
        """Record (kind, t, status, seconds, bytes); returns (status, etag)."""
        t_start = time.monotonic()
        t0 = time.perf_counter()
        status, etag, n = -1, None, 0
        for attempt in (1, 2):
            reused = self.used and self.w is not None
            try:
                if self.w is None:
                    await asyncio.wait_for(self._open(), REQ_TIMEOUT)
                status, etag, n = await asyncio.wait_for(self._once(path, inm), REQ_TIMEOUT)
                break
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as e:
                self.close()
                # A keep-alive connection closed under us: once more, as a
                # browser does for a GET.
                if attempt == 1 and reused:
                    self.rec.append((kind, t_start, "retry", 0.0, 0))
                    continue
                status = "error:" + type(e).__name__
                break
            except asyncio.TimeoutError:
                self.close()
                status = "timeout"
                break
        dt = time.perf_counter() - t0
        self.rec.append((kind, t_start, status, dt, n))
        return status, etag


async def dashboard(k, n, args, port, token, rec, cycles, t_end):
    src = "127.0.0.1" if args.same_address else "127.0.0.%d" % (10 + k)
    a = AConn(port, token, src, rec)
    b = AConn(port, token, src, rec)
    tags = {}
    await asyncio.sleep(k * args.period / n)
    try:
        while time.monotonic() < t_end:
            t0 = time.monotonic()

            async def one(conn, kind, path):
                st, et = await conn.get(kind, path, tags.get(kind))
                if st == 200 and et:
                    tags[kind] = et
            await asyncio.gather(one(a, "schools?brief=1", "/api/v1/schools?brief=1"),
                                 one(b, "alerts?open=1&limit=50",
                                     "/api/v1/alerts?open=1&limit=50"))
            cycles.append(time.monotonic() - t0)
            await asyncio.sleep(args.period)
    finally:
        a.close()
        b.close()


async def school_pages(args, port, token, schools, rec, pages, t_end):
    """app.js's school page: schools/CODE, ports?school and alerts?school
    (the browser sends these three side by side; here they go one after the
    other on one connection: the worker runs one at a time anyway, and the
    connections are kept for the dashboards), then the uplink's history."""
    conn = AConn(port, token, "127.0.0.5", rec)
    i = 0
    try:
        while time.monotonic() < t_end:
            t0 = time.monotonic()
            code = schools[i % len(schools)]
            i += 1
            for kind, path in (
                    ("page: schools/CODE", "/api/v1/schools/" + code),
                    ("page: ports?school", "/api/v1/ports?school=" + code),
                    ("page: alerts?school&limit=50", "/api/v1/alerts?school=%s&limit=50" % code),
                    ("page: ports/history 24h", "/api/v1/ports/history?school=%s&switch=core"
                     "&if_index=%d&hours=24&points=96" % (code, gm.UPLINK_PORT))):
                await conn.get(kind, path)
            pages.append(time.monotonic() - t0)
            rest = args.school_every - (time.monotonic() - t0)
            if rest > 0:
                await asyncio.sleep(rest)
    finally:
        conn.close()


def established(port):
    """TCP connections established to 127.0.0.1:port (accepted or still in
    the listen backlog), from /proc/net/tcp."""
    hexport = ":%04X" % port
    n = 0
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                if parts[1].endswith(hexport) and parts[3] == "01":
                    n += 1
    except OSError:
        pass
    return n


async def count_conns(port, t_end, out):
    while time.monotonic() < t_end:
        out.append(established(port))
        await asyncio.sleep(0.5)


async def crowd(n, args, port, token, schools, conns):
    rec, cycles, pages = [], [], []
    t_end = time.monotonic() + args.duration
    tasks = [asyncio.ensure_future(dashboard(k, n, args, port, token, rec, cycles, t_end))
             for k in range(n)]
    tasks.append(asyncio.ensure_future(school_pages(args, port, token, schools, rec, pages,
                                                    t_end)))
    tasks.append(asyncio.ensure_future(count_conns(port, t_end, conns)))
    done, pending = await asyncio.wait(tasks, timeout=args.duration + REQ_TIMEOUT + 5)
    for t in pending:
        t.cancel()
    for t in done:
        if t.exception():
            raise t.exception()
    return rec, cycles, pages, len(pending)


def healthz_probe(port, seconds, token, out):
    """--healthz-probe: every 100 ms for `seconds`, GET /healthz (the
    collector answers it with Connection: close, so each probe is a new
    connection, as a monitoring check's) and GET /api/v1/whoami on a
    keep-alive connection (also answered on the loop: the token check and
    a small JSON, no worker).  Latencies (s; -1 = failed) as JSON into out."""
    res = {"healthz": [], "whoami": []}
    conns = {"healthz": None, "whoami": None}
    src = {"healthz": "127.0.0.2", "whoami": "127.0.0.4"}
    hdrs = {"healthz": {}, "whoami": {"Authorization": "Bearer " + token}}
    path = {"healthz": "/healthz", "whoami": "/api/v1/whoami"}
    t_end = time.monotonic() + seconds
    nxt = time.monotonic()
    while time.monotonic() < t_end:
        for k in ("healthz", "whoami"):
            c = conns[k]
            try:
                if c is None:
                    c = conns[k] = http.client.HTTPConnection(
                        "127.0.0.1", port, timeout=5, source_address=(src[k], 0))
                t0 = time.perf_counter()
                c.request("GET", path[k], headers=hdrs[k])
                r = c.getresponse()
                r.read()
                res[k].append(time.perf_counter() - t0 if r.status == 200 else -1)
            except (OSError, http.client.HTTPException):
                res[k].append(-1)
                if c:
                    c.close()
                conns[k] = None
        nxt += 0.1
        time.sleep(max(0.0, nxt - time.monotonic()))
    with open(out, "w") as f:
        json.dump(res, f)
    return 0


def crowd_phase(n, args, port, token, schools, collector_pid, wdir, watch):
    out = os.path.join(wdir, "healthz-%d.json" % n)
    probe = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--healthz-probe",
                              str(port), str(args.duration), token, out],
                             stdin=subprocess.DEVNULL, start_new_session=True)

    def stop_probe():
        if probe.poll() is None:
            try:
                os.killpg(probe.pid, 9)
            except ProcessLookupError:
                pass
            probe.wait(5)
    h.on_cleanup(stop_probe)
    cpu0 = proc_cpu(collector_pid)
    watch.start()
    t0 = time.monotonic()
    conns = []
    rec, cycles, pages, stuck = asyncio.run(crowd(n, args, port, token, schools, conns))
    wall = time.monotonic() - t0
    cpu1 = proc_cpu(collector_pid)
    machine = watch.stop()
    try:
        probe.wait(args.duration + 15)
    except subprocess.TimeoutExpired:
        pass
    stop_probe()
    try:
        with open(out) as f:
            probes = json.load(f)
    except (OSError, ValueError):
        probes = {"healthz": [], "whoami": []}
    hz, who = probes["healthz"], probes["whoami"]
    kinds = {}
    for kind, _t, st, dt, nbytes in rec:
        k = kinds.setdefault(kind, {"times": [], "statuses": {}, "bytes": 0, "retries": 0})
        if st == "retry":
            k["retries"] += 1
            continue
        k["statuses"][st] = k["statuses"].get(st, 0) + 1
        k["bytes"] += nbytes
        if isinstance(st, int):
            k["times"].append(dt)
    ok_hz = [x for x in hz if x >= 0]
    ok_who = [x for x in who if x >= 0]
    return {"n": n, "kinds": kinds, "cycles": cycles, "pages": pages, "stuck": stuck,
            "wall": wall, "loop_cpu": cpu1[0] - cpu0[0], "pool_cpu": cpu1[1] - cpu0[1],
            "healthz": ok_hz, "healthz_fail": len(hz) - len(ok_hz), "machine": machine,
            "whoami": ok_who, "whoami_fail": len(who) - len(ok_who),
            "conns": n * 2 + 1 + 2, "max_conns": max(conns or [0])}


def print_crowd(res, args):
    n = res["n"]
    print()
    print("%d dashboards at once for %.0f s (poll every %.0f s after the answers), one school page"
          " every %.0f s, /healthz and whoami every 100 ms; %d client connections (most seen"
          " established: %d; the collector's limit is 256)"
          % (n, args.duration, args.period, args.school_every, res["conns"], res["max_conns"]))
    print("  %-30s %6s %9s %9s %9s %6s %6s %6s %6s %8s" % (
        "request", "count", "p50 ms", "p95 ms", "max ms", "200", "304", "503", "other",
        "MiB in"))
    order = ["schools?brief=1", "alerts?open=1&limit=50", "page: schools/CODE",
             "page: ports?school", "page: alerts?school&limit=50", "page: ports/history 24h"]
    for kind in order + sorted(set(res["kinds"]) - set(order)):
        k = res["kinds"].get(kind)
        if not k:
            continue
        st = k["statuses"]
        other = sum(v for s, v in st.items() if s not in (200, 304, 503))
        print("  %-30s %6d %9.1f %9.1f %9.1f %6d %6d %6d %6d %8.2f" % (
            kind, sum(st.values()), pct(k["times"], 50) * 1000, pct(k["times"], 95) * 1000,
            max(k["times"] or [float("nan")]) * 1000, st.get(200, 0), st.get(304, 0),
            st.get(503, 0), other, k["bytes"] / 1048576.0))
        odd = {s: v for s, v in st.items() if s not in (200, 304, 503)}
        if odd or k["retries"]:
            print("  %-30s   %s%s" % ("", " ".join("%s x%d" % (s, v) for s, v in odd.items()),
                                       (" (%d retried on a new connection)" % k["retries"])
                                       if k["retries"] else ""))
    c = res["cycles"]
    print("  dashboard poll cycle (both answers): p50 %.2f s, p95 %.2f s, max %.2f s;"
          " refresh every %.1f s at the median" % (
              pct(c, 50), pct(c, 95), max(c or [float("nan")]), args.period + pct(c, 50)))
    p = res["pages"]
    print("  school page (4 requests): %d opened, p50 %.2f s, max %.2f s" % (
        len(p), pct(p, 50), max(p or [float("nan")])))
    for key, what in (("healthz", "/healthz, a new connection each (its own process)"),
                      ("whoami", "whoami, keep-alive (same process)")):
        x = res[key]
        print("  %s: %d answered, %d failed; p50 %.2f ms, p99 %.2f ms, max %.2f ms" % (
            what, len(x), res[key + "_fail"], pct(x, 50) * 1000, pct(x, 99) * 1000,
            max(x or [float("nan")]) * 1000))
    print("  collector CPU over %.1f s: loop thread %.2f s, libuv pool (HTTP worker) %.2f s"
          " = %.0f %% of one core" % (res["wall"], res["loop_cpu"], res["pool_cpu"],
                                      100.0 * res["pool_cpu"] / res["wall"]))
    print("  " + cpu_line(res["machine"]))
    if res["stuck"]:
        print("  NOTE: %d client tasks did not finish in time and were cancelled" % res["stuck"])


# --- printing ---------------------------------------------------------------------------

def print_summary(info, live, rows, refs_t, refs, parts, crowds, probe, standin, cinfo, args):
    print()
    print("HTTP API benchmark: county %s schools x %d classrooms, %s ports, month %s"
          % (fmt_n(info["schools"]), gm.SCALES["county"]["rooms"], fmt_n(info["ports"]),
             info["month"]))
    c = live["counts"]
    print("  database: port_rates %s rows (24 h, one a minute, %s ports: every port of %d"
          " schools and every uplink), port_state %s rows, port_day %s rows, alerts %s (%d open);"
          " %.1f MiB" % (fmt_n(c["port_rates"]), fmt_n(live["sampled"]), DETAILED,
                         fmt_n(c["port_state"]), fmt_n(c["port_day"]), fmt_n(c["alerts"]),
                         c["open_alerts"], live["db_mib"]))
    print("  written in %.1f s (gen_month) + %.1f s (live state and raw data); X = %s (%d ports)"
          % (info["seconds"], live["seconds"], live["x"], live["x_ports"]))
    print()
    print("Single requests, one keep-alive client, %d runs each (reference: %d runs, median)"
          % (args.runs, args.ref_runs))
    print("  %-34s %9s %9s %10s %10s %8s  %s" % ("GET", "p50 ms", "p95 ms", "KiB", "ref ms",
                                                "x ref", "reference"))
    for r in rows:
        ref = refs_t.get(r["ref"]) if r["ref"] else None
        st = " ".join("%dx%d" % (n, s) for s, n in sorted(r["statuses"].items()))
        flag = "" if r["statuses"].get(r["want"], 0) == args.runs else "  (statuses %s)" % st
        print("  %-34s %9.1f %9.1f %10.1f %10s %8s  %s%s" % (
            r["label"], r["p50"] * 1000, r["p95"] * 1000, r["bytes"] / 1024.0,
            "%.1f" % (ref * 1000) if ref else "-",
            "%.1f" % (r["p50"] / ref) if ref else "-",
            refs[r["ref"]][0] if r["ref"] else "", flag))
    print("  during these runs: " + cpu_line(cinfo["single_cpu"]))
    print()
    print("Where the time goes: the schools SELECT in parts (Python sqlite3, median of 5)")
    for label, s, n in parts:
        print("  %-52s %8.1f ms %7s rows" % (label, s * 1000, fmt_n(n)))
    print()
    print("Connections (the collector allows 8 per address, 64 in all)")
    print("  keep-alive connections from one address answered: %d of %d" % probe)
    print("  /healthz on a 65th connection while 64 idle ones are open: %s after %.1f s" % (
        "answered" if cinfo["cap"][0] else "NO ANSWER", cinfo["cap"][1]))
    for res in crowds:
        print_crowd(res, args)
    print()
    print("Summary")
    print("  %-44s %s" % ("", "   ".join("%-22s" % ("%d dashboards" % r["n"]) for r in crowds)))
    lines = [
        ("schools?brief=1 p50 / p95 ms", lambda r: "%.0f / %.0f" % (
            pct(r["kinds"]["schools?brief=1"]["times"], 50) * 1000,
            pct(r["kinds"]["schools?brief=1"]["times"], 95) * 1000)),
        ("alerts?open=1 p50 / p95 ms", lambda r: "%.0f / %.0f" % (
            pct(r["kinds"]["alerts?open=1&limit=50"]["times"], 50) * 1000,
            pct(r["kinds"]["alerts?open=1&limit=50"]["times"], 95) * 1000)),
        ("answers 304 / 200 / 503 / other", lambda r: "%d / %d / %d / %d" % (
            tuple(sum(k["statuses"].get(s, 0) for k in r["kinds"].values())
                  for s in (304, 200, 503))
            + (sum(v for k in r["kinds"].values() for s, v in k["statuses"].items()
                   if s not in (200, 304, 503)),))),
        ("poll cycle p50 / max s", lambda r: "%.2f / %.2f" % (pct(r["cycles"], 50),
                                                            max(r["cycles"] or [0]))),
        ("school page p50 / max s", lambda r: "%.2f / %.2f" % (pct(r["pages"], 50),
                                                             max(r["pages"] or [0]))),
        ("healthz p50 / p99 / max ms (new connection)", lambda r: "%.2f / %.2f / %.1f" % (
            pct(r["healthz"], 50) * 1000, pct(r["healthz"], 99) * 1000,
            max(r["healthz"] or [0]) * 1000)),
        ("whoami p50 / p99 / max ms (keep-alive, loop)", lambda r: "%.2f / %.2f / %.1f" % (
            pct(r["whoami"], 50) * 1000, pct(r["whoami"], 99) * 1000,
            max(r["whoami"] or [0]) * 1000)),
        ("HTTP worker busy (pool CPU / wall)", lambda r: "%.0f %%" % (
            100.0 * r["pool_cpu"] / r["wall"])),
        ("loop thread CPU / wall", lambda r: "%.1f %%" % (100.0 * r["loop_cpu"] / r["wall"])),
    ]
    for label, fn in lines:
        print("  %-44s %s" % (label, "   ".join("%-22s" % fn(r) for r in crowds)))
    by = {r["label"]: r for r in rows}
    brief, b304 = by["schools?brief=1"], by["schools?brief=1 If-None-Match"]
    print("  %-44s %.2f (bytes %.3f)" % ("304 / 200 time for schools?brief=1",
                                         b304["p50"] / brief["p50"],
                                         b304["bytes"] / max(1, brief["full_bytes"])))
    print("  %-44s %.0f ms x %d dashboards / %.0f s = %.0f %% of the worker" % (
        "worker demand of the polls alone",
        (brief["p50"] + by["alerts?open=1&limit=50"]["p50"]) * 1000, crowds[-1]["n"] if crowds
        else 0, args.period, 100.0 * (brief["p50"] + by["alerts?open=1&limit=50"]["p50"])
        * (crowds[-1]["n"] if crowds else 0) / args.period))
    st = standin or {}
    if st.get("tx"):
        print("  agents' stand-in: %d school polls in %d transactions (mean %.1f ms, max %.0f ms),"
              " %s port_rates rows, %d failed" % (st["polls"], st["tx"], st["sum_tx_ms"] / st["tx"],
                                                  st["max_tx_ms"], fmt_n(st["rates"]),
                                                  st["errors"]))
    print("  collector: peak RSS %.1f MiB; log: %s" % (cinfo["rss"], cinfo["log_note"]))
    fields = ["schools=%d" % info["schools"], "ports=%d" % info["ports"],
              "port_rates=%d" % c["port_rates"], "port_state=%d" % c["port_state"]]
    for r in rows:
        key = r["label"].split()[0].replace("?", "_").replace("=", "").replace("&", "_") \
            .replace("/", "_").strip("_")
        if "If-None-Match" in r["label"]:
            key += "_304"
        fields.append("%s_ms=%.2f" % (key, r["p50"] * 1000))
    for res in crowds:
        fields.append("d%d_brief_p95_ms=%.1f d%d_503=%d d%d_healthz_p99_ms=%.2f"
                      " d%d_whoami_p99_ms=%.2f d%d_worker_pct=%.0f"
                      % (res["n"], pct(res["kinds"]["schools?brief=1"]["times"], 95) * 1000,
                         res["n"], sum(k["statuses"].get(503, 0) for k in res["kinds"].values()),
                         res["n"], pct(res["healthz"], 99) * 1000,
                         res["n"], pct(res["whoami"], 99) * 1000, res["n"],
                         100.0 * res["pool_cpu"] / res["wall"]))
    print("APIRESULT " + " ".join(fields))


# --- main ----------------------------------------------------------------------------------

def main():
    if len(sys.argv) == 6 and sys.argv[1] == "--healthz-probe":
        return healthz_probe(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("SCHOOLNET_BUILD")
                    or os.path.join(REPO, "build-bench"))
    ap.add_argument("--collector", help="schoolnet-collector binary (default: BUILD's)")
    ap.add_argument("--month", help="YYYY-MM for the generated month (default: last full month)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=20, help="runs per single request (default 20)")
    ap.add_argument("--ref-runs", type=int, default=10,
                    help="runs of each reference (default 10)")
    ap.add_argument("--dashboards", default="10,30", help="comma-separated N (default 10,30)")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds per N (default 30)")
    ap.add_argument("--period", type=float, default=5.0, help="dashboard poll period s (5)")
    ap.add_argument("--school-every", type=float, default=2.0,
                    help="a school page every S s (default 2)")
    ap.add_argument("--same-address", action="store_true",
                    help="all dashboards from 127.0.0.1 (as behind one NAT)")
    ap.add_argument("--dir", help="make the temp dir under DIR")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (also BENCH_KEEP=1)")
    args = ap.parse_args()
    try:
        ym = gm.parse_month(args.month) if args.month else gm.default_month()
        ns = [int(x) for x in args.dashboards.split(",") if x.strip()]
    except ValueError as e:
        ap.error(str(e))
    if not (5 <= args.runs <= 200 and 1 <= args.ref_runs <= args.runs):
        ap.error("--runs 5..200, --ref-runs 1..runs")
    if not all(1 <= n <= 200 for n in ns) or not 5 <= args.duration <= 300:
        ap.error("--dashboards 1..200 each, --duration 5..300")
    args.keep = args.keep or os.environ.get("BENCH_KEEP") == "1"

    h.install_signal_handlers()
    rc = 1
    t_all = time.monotonic()
    try:
        collector = gm.find_collector(args)
        parent = args.dir or tempfile.gettempdir()
        gm.check_space(parent, gm.estimate_bytes(300, 40, ym) + (200 << 20))
        top = tempfile.mkdtemp(prefix="schoolnet-apibench-", dir=parent)
        h.on_cleanup(lambda: say("keeping %s" % top) if args.keep
                     else shutil.rmtree(top, ignore_errors=True))
        with open("/proc/loadavg") as f:
            say("load average %s; %d CPUs" % (" ".join(f.read().split()[:3]), os.cpu_count()))
        say("1. county database in %s" % top)
        spec = gm.SCALES["county"]
        info = gm.make_db(collector, top, spec["schools"], spec["rooms"], ym, args.seed)
        say("   adding the ports' current state, 24 h of raw rates and state intervals ...")
        live, model = add_live_data(info["db"], args.seed)
        live["db_mib"] = os.path.getsize(info["db"]) / 1048576.0
        c = live["counts"]
        say("   [%.1f s] port_rates %s rows for %s ports (every port of %s; every uplink),"
            " port_state %s rows, %d days marked rolled up; %.1f MiB"
            % (live["seconds"], fmt_n(c["port_rates"]), fmt_n(live["sampled"]),
               ", ".join(live["detailed"]), fmt_n(c["port_state"]), live["marked_days"],
               live["db_mib"]))
        standin = Standin(info["db"], model, args.seed)
        say("   agents' stand-in started (pid %d): each school's poll once a minute"
            % standin.proc.pid)

        say("2. collector")
        d, conf, port, token = start_collector(collector, top, info["db"])
        say("   pid %d, http://127.0.0.1:%d/, read-only token from `tokens add bench`"
            % (d.pid, port))

        say("3. single requests (%d runs each; references %d runs)" % (args.runs, args.ref_runs))
        rdb = sqlite3.connect("file:%s?mode=ro" % info["db"], uri=True, timeout=10)
        refs = make_refs(rdb, live["x"], info["month"])
        cli = Client(port, token)
        watch = CpuWatch(d.pid, standin.proc.pid).start()
        rows, refs_t = single_requests(cli, refs, live["x"], info["month"], args.runs,
                                       args.ref_runs)
        single_cpu = watch.stop()
        say("   " + cpu_line(single_cpu))
        cli.close()
        say("   where the time goes: the schools SELECT in parts")
        parts = time_parts(rdb, live["x"])
        rdb.close()
        probe = per_address_probe(port)
        say("   one address: %d of %d keep-alive connections answered" % probe)
        time.sleep(0.5)
        cap = cap_probe(port)
        say("   /healthz on a new connection while 64 others are open: %s after %.1f s"
            % ("answered" if cap[0] else "no answer", cap[1]))
        time.sleep(1)
        wait_healthz(port)

        crowds = []
        page_schools = live["detailed"] + [s for s in model["by_school"]
                                           if s not in live["detailed"]][:20]
        for n in ns:
            say("4. %d dashboards for %.0f s ..." % (n, args.duration))
            res = crowd_phase(n, args, port, token, page_schools, d.pid, top, watch)
            crowds.append(res)
            k = res["kinds"].get("schools?brief=1", {"times": [], "statuses": {}})
            say("   schools?brief=1 x%d: p50 %.0f ms, p95 %.0f ms; statuses %s; healthz p99"
                " %.2f ms" % (len(k["times"]), pct(k["times"], 50) * 1000,
                              pct(k["times"], 95) * 1000, k["statuses"],
                              pct(res["healthz"], 99) * 1000))
            time.sleep(2)
        cinfo = {"rss": rss_mib(d.pid)}
        crc = d.stop(10)
        st = standin.stop()
        with open(d.log_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        notes = []
        if crc != 0:
            notes.append("exited %s on SIGTERM" % crc)
        rolled = [ln for ln in text.splitlines() if "roll-up:" in ln]
        if rolled:
            notes.append("roll-up ran: " + rolled[-1].strip())
        warns = [ln for ln in text.splitlines() if "http" in ln and ("warn" in ln.lower()
                                                                     or "refus" in ln)]
        notes.append("%d lines, %d http warnings" % (len(text.splitlines()), len(warns)))
        cinfo["log_note"] = "; ".join(notes)
        cinfo["single_cpu"] = single_cpu
        cinfo["cap"] = cap
        print_summary(info, live, rows, refs_t, refs, parts, crowds, probe, st, cinfo, args)
        say("done in %.0f s" % (time.monotonic() - t_all))
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
