#!/usr/bin/env python3
"""Synthetic month for the monthly report: a collector database holding the
dimension tables and the daily roll-ups of two calendar months, no raw data.

  bench/gen_month.py [--scale county|province] [--schools N] [--rooms 40]
                     [--month YYYY-MM] [--seed 1] [--dir DIR]
                     [--collector PATH | --build DIR]

The schema comes from the collector itself: it is started once (`serve`,
loopback, tls off) on an empty database, which it migrates, and stopped by
PID.  Then Python's sqlite3 fills, in one transaction:

  schools, agents, switches ("core"), ports ("Gi0/N"), inventory
      one uplink (Gi0/48, room 出口), ROOMS classrooms (Gi0/1..), and a
      recording room (Gi0/41, 录播室) in about 80 % of town-seat schools
  port_day
      for MONTH and the month before it, one row per port, school day and
      condition (up/down, speed, duplex): school-hours ms and err_ms, as
      collector/rollup.c stores them.  Built-in calendar: Mon-Fri
      07:30-17:30 UTC+8, 36,000,000 ms a school day, no rows on weekends
  rollup_days
      every day of both months, under the built-in calendar's fingerprint,
      so the report trusts the roll-ups (there are no raw samples)
  alerts
      the alerts those port-days would have raised: a few hundred a month
      for a county

What the roll-ups hold, per month (seeded, so runs are comparable):
  ~96 % of port-days fully ok: one row, up, 36e6 ms, full duplex, 1000 Mb/s
  for uplinks and recording rooms, 1000 or 100 for classrooms; ~1.5 % with
  a data gap (their ms sum to less than the school day); ~0.6 % a slow
  period (10 Mb/s, uplinks 100); ~0.5 % down for a while; ~0.3 % erroring;
  ~0.1 % half duplex; ~0.5 % of classrooms bad all month (10 Mb/s,
  unplugged, half duplex) and 2 % of uplinks at 100 Mb/s, most of them
  still bad the next month; ~2 % of schools silent for 1-4 days, and a few
  schools silent or gapped on single days.  Trouble is mostly minutes long,
  now and then hours, and a fifth of the schools get most of it.

Importable: make_db() is what bench/report_bench.py uses.  Standalone, it
writes DIR/collector.db and DIR/collector.conf and keeps them.
"""
import argparse
import datetime
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from itertools import repeat

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "sim"))
import harness as h  # noqa: E402

SCALES = {
    "county": {"schools": 300, "rooms": 40},
    "province": {"schools": 20000, "rooms": 40},
}
SCHEMA_MIN = 5                  # port_day and rollup_days appear in migration 5
UTC8 = datetime.timezone(datetime.timedelta(hours=8))
DAY_MS = 86400000
SCHOOL_MS = 36000000            # 07:30-17:30
HOURS_START_MS = 7 * 3600000 + 1800000
FINGERPRINT = "calendar=builtin;max_errors_per_min=10"
DUPLEX_HALF, DUPLEX_FULL = 2, 3  # include/schoolnet/wire.h enum wire_duplex
UPLINK_PORT, RECORDING_PORT = 48, 41
BYTES_PER_ROW = 40              # port_day on disk, generous (measured ~30)

# Per port and school day, the share of each kind of trouble (the rest is ok).
DAY_TROUBLE = [("gap", 0.012), ("slow", 0.006), ("down", 0.005), ("errors", 0.003),
               ("half", 0.001)]
# Per port and month: bad all month.
CHRONIC = {"classroom": [("slow", 0.002), ("unplugged", 0.002), ("half", 0.0005)],
           "uplink": [("uplink100", 0.02)]}
CHRONIC_KEEP = 0.6              # of last month's, still bad this month
SCHOOL_STREAK = 0.02            # schools silent for a streak of 1-4 days a month
SCHOOL_SILENT_DAY = 0.001       # per school day: silent all day
SCHOOL_GAP_DAY = 0.003          # per school day: silent for part of the day
ALERT_ROOM_SHARE = 0.03         # room troubles that last long enough to alert
# Trouble is not spread evenly: a fifth of the schools (old wiring, a bad
# switch) have FRAGILE_WEIGHT times the others' share of it.
FRAGILE_SHARE, FRAGILE_WEIGHT = 0.2, 6

TOWN_A = "青柳石河桥岭山湾龙凤梅竹松白新古安平长高东西南北金银云水田沙花泉溪林塘"
TOWN_B = "山河桥口坪岗湖湾堡林集店庄屯寨溪洲港坝岭"
GRADES = "一二三四五六七八九"
TYPES = [("小学", 0.55), ("初中", 0.20), ("九年一贯制", 0.10), ("教学点", 0.15)]


def say(msg):
    print("gen_month: %s" % msg, flush=True)


def fmt_n(n):
    return "{:,}".format(n)


# --- calendar ---------------------------------------------------------------------

def parse_month(s):
    try:
        y, m = (int(x) for x in s.split("-"))
        if len(s) != 7 or not (1970 < y < 9999 and 1 <= m <= 12):
            raise ValueError
    except ValueError:
        raise ValueError("month %r: want YYYY-MM" % s)
    return y, m


def default_month():
    """The last full calendar month (local time, UTC+8)."""
    today = datetime.datetime.now(UTC8).date()
    first = today.replace(day=1) - datetime.timedelta(days=1)
    return first.year, first.month


def prev_month(y, m):
    return (y - 1, 12) if m == 1 else (y, m - 1)


def month_name(ym):
    return "%04d-%02d" % ym


def month_days(ym):
    """[(local midnight in ms since the epoch, is a school day)] for every day."""
    y, m = ym
    d = datetime.datetime(y, m, 1, tzinfo=UTC8)
    out = []
    while d.month == m:
        out.append((int(d.timestamp()) * 1000, d.weekday() < 5))
        d += datetime.timedelta(days=1)
    return out


def month_bounds(ym):
    """[start, end) of a local month in ms."""
    days = month_days(ym)
    return days[0][0], days[-1][0] + DAY_MS


# --- the schema, from the collector ----------------------------------------------

def find_collector(args):
    if getattr(args, "collector", None):
        path = os.path.abspath(args.collector)
    else:
        path = os.path.join(os.path.abspath(args.build), "collector", "schoolnet-collector")
    if not os.access(path, os.X_OK):
        raise h.Skip("not built: %s (use --build DIR or --collector PATH)" % path)
    return path


def write_conf(path, db_path, port):
    with open(path, "w", encoding="utf-8") as f:
        f.write("# generated by bench/gen_month.py\n[collector]\ndatabase = %s\n"
                "listen = 127.0.0.1:%d\ntls = off\n" % (db_path, port))


def user_version(db_path):
    db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=5)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def migrate(collector, wdir):
    """Let the collector create and migrate DIR/collector.db; returns
    (db path, conf path, schema version)."""
    db_path = os.path.join(wdir, "collector.db")
    conf = os.path.join(wdir, "collector.conf")
    port = h.free_port("tcp")
    write_conf(conf, db_path, port)
    h.check_config(collector, conf)
    log = os.path.join(wdir, "collector-migrate.log")
    d = h.Daemon([collector, "-c", conf, "serve"], log, name="collector")

    def ready():
        if not d.alive():
            raise h.TestFailure("collector exited at start:\n" + d.tail(20))
        # It listens once the database is open, i.e. migrated.
        if not h.tcp_listening(port):
            raise h.NotYet("not listening on 127.0.0.1:%d" % port)
        v = user_version(db_path)
        if v < SCHEMA_MIN:
            raise h.NotYet("schema version %d" % v)
        return v
    version = h.wait_until(ready, 20, "the collector to migrate %s" % db_path, logs=[d])
    rc = d.stop(10)
    if rc != 0:
        raise h.TestFailure("collector exited %s on SIGTERM:\n%s" % (rc, d.tail(20)))
    return db_path, conf, version


# --- the county ------------------------------------------------------------------------

def town_names(n, rng):
    names = [a + b + s for a in TOWN_A for b in TOWN_B for s in "镇乡"
             if a != b]
    if n > len(names):
        raise ValueError("at most %d towns" % len(names))
    rng.shuffle(names)
    return names[:n]


def room_names(school_type, n):
    """n classrooms: grade by grade, as many classes a grade as it takes."""
    first, last = {"初中": (7, 9), "九年一贯制": (1, 9)}.get(school_type, (1, 6))
    grades = range(first, last + 1)
    per = -(-n // len(grades))
    return ["%s年级%d班" % (GRADES[g - 1], c) for g in grades for c in range(1, per + 1)][:n]


def build_schools(n_schools, n_rooms, rng):
    """The schools and their ports, in port order: a school's ports are
    contiguous.  Returns (schools, ports)."""
    n_towns = max(1, round(n_schools / 20))
    towns = town_names(n_towns, rng)
    # Contiguous blocks of schools per town, 8..32 of them.
    weights = [rng.uniform(0.4, 1.6) for _ in towns]
    total = sum(weights)
    sizes = [max(1, int(w / total * n_schools)) for w in weights]
    i = 0
    while sum(sizes) < n_schools:
        sizes[i % n_towns] += 1
        i += 1
    while sum(sizes) > n_schools:
        j = max(range(n_towns), key=lambda k: sizes[k])
        sizes[j] -= 1
    schools, ports = [], []
    code_n = 0
    for town, size in zip(towns, sizes):
        counters = {}
        for k in range(size):
            code_n += 1
            code = "c%05d" % code_n
            if k == 0:
                stype, name, seat = "小学", town + "中心小学", 1
            else:
                r, acc = rng.random(), 0.0
                for stype, p in TYPES:
                    acc += p
                    if r < acc:
                        break
                counters[stype] = counters.get(stype, 0) + 1
                nth = counters[stype]
                name = town + {"小学": "第%d小学", "初中": "第%d中学",
                               "九年一贯制": "第%d九年一贯制学校",
                               "教学点": "第%d教学点"}[stype] % nth
                seat = 0
            s = {"code": code, "name": name, "town": town, "type": stype, "seat": seat,
                 "first_port": len(ports),
                 "weight": FRAGILE_WEIGHT if rng.random() < FRAGILE_SHARE else 1}
            for idx, room in enumerate(room_names(stype, n_rooms), 1):
                ports.append({"school": code, "role": "classroom", "room": room, "if_index": idx,
                              "speed": 1000 if rng.random() < 0.6 else 100})
            if seat and rng.random() < 0.8:
                ports.append({"school": code, "role": "recording", "room": "录播室",
                              "if_index": RECORDING_PORT, "speed": 1000})
            ports.append({"school": code, "role": "uplink", "room": "出口",
                          "if_index": UPLINK_PORT, "speed": 1000})
            s["n_ports"] = len(ports) - s["first_port"]
            for p in ports[s["first_port"]:]:
                p["weight"] = s["weight"]
            schools.append(s)
    return schools, ports


def fill_dimensions(db, schools, ports, since_ms, seen_ms):
    db.executemany("INSERT INTO schools(code, name, town, type, town_seat, added_at, removed_at)"
                   " VALUES(?, ?, ?, ?, ?, ?, NULL)",
                   [(s["code"], s["name"], s["town"], s["type"], s["seat"], since_ms)
                    for s in schools])
    db.executemany("INSERT INTO agents(id, name, school, epoch, last_seq, software, peer,"
                   " first_seen, last_seen, last_heard) VALUES(?, ?, ?, 1, 1000, ?, ?, ?, ?, ?)",
                   [(i, s["code"], s["code"], "schoolnet-agent bench", "10.%d.%d.2:40000"
                     % (i // 250, i % 250), since_ms, seen_ms, seen_ms)
                    for i, s in enumerate(schools, 1)])
    db.executemany("INSERT INTO switches(id, agent_id, name, address, status, poll_interval,"
                   " last_poll, last_ok) VALUES(?, ?, 'core', ?, 0, 60, ?, ?)",
                   [(i, i, "10.%d.%d.1:161" % (i // 250, i % 250), seen_ms, seen_ms)
                    for i in range(1, len(schools) + 1)])
    switch_of = {s["code"]: i for i, s in enumerate(schools, 1)}
    db.executemany("INSERT INTO ports(id, switch_id, if_index, if_name, if_descr, if_alias, if_type,"
                   " admin, oper, speed_mbps, duplex, since, last_seen)"
                   " VALUES(?, ?, ?, ?, ?, ?, 6, 1, 1, ?, 3, ?, ?)",
                   [(pid, switch_of[p["school"]], p["if_index"], "Gi0/%d" % p["if_index"],
                     "GigabitEthernet0/0/%d" % p["if_index"], p["room"], p["speed"], since_ms,
                     seen_ms)
                    for pid, p in enumerate(ports, 1)])
    db.executemany("INSERT INTO inventory(school_code, role, room, switch, port, probe, valid_from,"
                   " valid_to) VALUES(?, ?, ?, 'core', ?, '', ?, NULL)",
                   [(p["school"], p["role"], p["room"], "Gi0/%d" % p["if_index"], since_ms)
                    for p in ports])


# --- one month of roll-ups -------------------------------------------------------------

def chronic_ports(ports, rng, last=None):
    """{port index: kind} of ports bad all month; `last` is last month's."""
    out = {}
    if last:
        for i, kind in last.items():
            if rng.random() < CHRONIC_KEEP:
                out[i] = kind
    scale = (0.5 if last else 1.0) / (FRAGILE_SHARE * FRAGILE_WEIGHT + 1 - FRAGILE_SHARE)
    for i, p in enumerate(ports):
        if i in out:
            continue
        r, acc = rng.random(), 0.0
        for kind, share in CHRONIC.get(p["role"], ()):
            acc += share * scale * p["weight"]
            if r < acc:
                out[i] = kind
                break
    return out


def base_conditions(ports, chronic):
    """Per port: (up, speed, duplex) for the month when nothing else happens."""
    ups, speeds, dups = [], [], []
    for i, p in enumerate(ports):
        kind = chronic.get(i)
        if kind == "unplugged":
            c = (0, 0, 0)
        elif kind == "slow":
            c = (1, 10, DUPLEX_FULL)
        elif kind == "half":
            c = (1, 100, DUPLEX_HALF)
        elif kind == "uplink100":
            c = (1, 100, DUPLEX_FULL)
        else:
            c = (1, p["speed"], DUPLEX_FULL)
        ups.append(c[0])
        speeds.append(c[1])
        dups.append(c[2])
    return ups, speeds, dups


class Alerts:
    """Alert rows as the collector's alert engine would have written them."""

    CAUSE = {("down", "uplink"): "uplink_down", ("down", None): "port_down",
             ("slow", "uplink"): "uplink_speed_low", ("slow", None): "speed_low",
             ("half", None): "half_duplex", ("errors", None): "errors"}
    TARGET = {"uplink": 1000, "classroom": 100, "recording": 100}

    def __init__(self):
        self.rows = []

    def port(self, kind, pid, p, since, until, speed=None, epm=None):
        cause = self.CAUSE.get((kind, p["role"])) or self.CAUSE[(kind, None)]
        self.rows.append(("%s port %d" % (cause, pid), cause, p["role"], p["school"], p["room"],
                          p["school"], "core", "Gi0/%d" % p["if_index"], pid, since,
                          since + 120000, until, speed, self.TARGET[p["role"]], epm))

    def offline(self, code, since, until):
        self.rows.append(("agent_offline agent %s" % code, "agent_offline", "", code, "", code,
                          "", "", None, since, since + 180000, until, None, None, None))

    def store(self, db):
        db.executemany("INSERT INTO alerts(key, cause, role, school_code, room, agent, switch,"
                       " port, port_id, since, opened_at, cleared_at, speed_mbps, target_mbps,"
                       " errors_per_min) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       self.rows)


def duration(rng, mean, longest):
    """Mostly minutes, now and then hours: 1 min + exponential, capped."""
    return min(longest, 60000 + int(rng.expovariate(1 / mean)))


def trouble_rows(kind, day, pid, base, p, rng, alerts):
    """The rows of one port on one school day with `kind` of trouble."""
    up, speed, dup = base
    cond = {}
    t0 = day + HOURS_START_MS
    if up == 0 and kind != "gap":
        kind = "gap"
    if kind == "half" and base == (1, 100, DUPLEX_HALF):
        kind = "gap"
    if kind == "slow" and speed <= 10:
        kind = "errors"
    if kind == "gap":
        g = min(SCHOOL_MS - 60000, 60000 + int(rng.expovariate(1 / 2400000)))
        cond[base] = [SCHOOL_MS - g, 0]
    elif kind == "errors":
        err = duration(rng, 1200000, 7200000)
        cond[base] = [SCHOOL_MS, err]
        if alerts is not None:
            s = t0 + rng.randint(0, SCHOOL_MS - err)
            alerts.port("errors", pid, p, s, s + err, epm=round(rng.uniform(11, 400), 1))
    else:
        if kind == "down":
            a = SCHOOL_MS if rng.random() < 0.05 else duration(rng, 1800000, 6 * 3600000)
            other = (0, 0, 0)
        elif kind == "slow":
            a = duration(rng, 1800000, 4 * 3600000)
            other = (1, 100 if p["role"] == "uplink" and speed > 100 else 10,
                     DUPLEX_HALF if rng.random() < 0.3 else DUPLEX_FULL)
        else:  # half
            a = duration(rng, 7200000, SCHOOL_MS)
            other = (1, 100, DUPLEX_HALF)
        cond[other] = [a, 0]
        if a < SCHOOL_MS:
            cond[base] = [SCHOOL_MS - a, 0]
        if alerts is not None:
            s = t0 + rng.randint(0, SCHOOL_MS - a)
            alerts.port(kind, pid, p, s, s + a, speed=other[1] if other[0] else None)
    return [(day, pid) + c + tuple(v) for c, v in sorted(cond.items())]


def plan_silent(schools, school_days, rng):
    """{day index: {school index: gap ms (SCHOOL_MS = silent all day)}}."""
    plan = {}
    n = len(school_days)
    for si in range(len(schools)):
        if rng.random() < SCHOOL_STREAK:
            start, length = rng.randrange(n), rng.randint(1, 4)
            for d in range(start, min(n, start + length)):
                plan.setdefault(d, {})[si] = SCHOOL_MS
    p_day = SCHOOL_SILENT_DAY + SCHOOL_GAP_DAY
    for d in range(n):
        k = sum(1 for _ in schools if rng.random() < p_day)
        for si in rng.sample(range(len(schools)), k):
            if rng.random() < SCHOOL_SILENT_DAY / p_day:
                plan.setdefault(d, {})[si] = SCHOOL_MS
            else:
                plan.setdefault(d, {}).setdefault(si, rng.randint(600000, 4 * 3600000))
    return plan


def fill_month(db, ym, schools, ports, chronic, rng, progress, t_start, last_chronic=None):
    """port_day and alerts of one month; returns (rows, alerts, school days).
    Ports bad the same way last month already have their open alert."""
    n = len(ports)
    pids = range(1, n + 1)
    base = base_conditions(ports, chronic)
    ups, speeds, dups = base
    days = month_days(ym)
    school_days = [d for d, school in days if school]
    silent = plan_silent(schools, school_days, rng)
    alerts = Alerts()
    m0, m1 = month_bounds(ym)
    # Chronic trouble: one alert from before the month, cleared when fixed.
    for i, kind in chronic.items():
        if last_chronic and last_chronic.get(i) == kind:
            continue
        p = ports[i]
        k, speed = {"unplugged": ("down", None), "slow": ("slow", 10), "half": ("half", 100),
                    "uplink100": ("slow", 100)}[kind]
        alerts.port(k, i + 1, p, m0 - rng.randint(1, 20) * DAY_MS, None, speed=speed)
    total_w = sum(w for _, w in DAY_TROUBLE)
    # Port indexes, each as often as its weight: draws from it pick the
    # fragile schools' ports more often.
    pool = [i for i, p in enumerate(ports) for _ in range(p["weight"])]
    rows_total = 0
    last_say = time.monotonic()
    for di, day in enumerate(school_days):
        rows = list(zip(repeat(day, n), pids, ups, speeds, dups, repeat(SCHOOL_MS, n),
                        repeat(0, n)))
        over = {}
        k = round(n * total_w * rng.uniform(0.8, 1.2))
        chosen = set()
        for _ in range(10):     # draws repeat; a few rounds fill k
            chosen.update(rng.choices(pool, k=k - len(chosen)))
            if len(chosen) >= k:
                break
        for i in sorted(chosen):
            r, acc = rng.random() * total_w, 0.0
            for kind, w in DAY_TROUBLE:
                acc += w
                if r < acc:
                    break
            p = ports[i]
            alerting = p["role"] == "uplink" or rng.random() < ALERT_ROOM_SHARE
            over[i] = trouble_rows(kind, day, i + 1, (ups[i], speeds[i], dups[i]), p, rng,
                                   alerts if alerting else None)
        for si, gap in silent.get(di, {}).items():
            s = schools[si]
            first = s["first_port"]
            for i in range(first, first + s["n_ports"]):
                over[i] = [] if gap >= SCHOOL_MS else \
                    [(day, i + 1, ups[i], speeds[i], dups[i], SCHOOL_MS - gap, 0)]
            since = day + HOURS_START_MS + (0 if gap >= SCHOOL_MS else
                                            rng.randint(0, SCHOOL_MS - gap))
            alerts.offline(s["code"], since, since + (DAY_MS if gap >= SCHOOL_MS else gap))
        out, prev = [], 0
        for i in sorted(over):
            out.extend(rows[prev:i])
            out.extend(over[i])
            prev = i + 1
        out.extend(rows[prev:])
        db.executemany("INSERT INTO port_day(day, port_id, up, speed_mbps, duplex, ms, err_ms)"
                       " VALUES(?, ?, ?, ?, ?, ?, ?)", out)
        rows_total += len(out)
        now = time.monotonic()
        if progress and (now - last_say >= 5 or di == len(school_days) - 1):
            say("  [%5.1f s] %s: school day %d/%d, %s port_day rows"
                % (now - t_start, month_name(ym), di + 1, len(school_days), fmt_n(rows_total)))
            last_say = now
    # Chronic trouble fixed during the next month is cleared by the caller.
    alerts.store(db)
    now_ms = int(time.time() * 1000)
    db.executemany("INSERT OR REPLACE INTO rollup_days(day, fingerprint, computed_at)"
                   " VALUES(?, ?, ?)",
                   [(d, FINGERPRINT, min(now_ms, d + DAY_MS + 3600000)) for d, _ in days])
    return rows_total, len(alerts.rows), len(school_days)


def clear_fixed(db, prev_chronic, cur_chronic, ym, rng):
    """Last month's chronic alerts that this month no longer has: cleared
    on one of this month's first days."""
    m0, _ = month_bounds(ym)
    for i in prev_chronic:
        if i not in cur_chronic:
            t = m0 + rng.randint(0, 3) * DAY_MS + HOURS_START_MS
            db.execute("UPDATE alerts SET cleared_at = ? WHERE port_id = ? AND cleared_at IS NULL"
                       " AND since < ?", (t, i + 1, m0))


# --- the whole database ---------------------------------------------------------------

def estimate_bytes(n_schools, n_rooms, ym):
    ports = n_schools * (n_rooms + 2)
    days = sum(1 for m in (prev_month(*ym), ym) for _, school in month_days(m) if school)
    return int(ports * days * 1.05 * BYTES_PER_ROW + ports * 400)


def check_space(path, need):
    free = shutil.disk_usage(path).free
    if free < need * 1.5 + (512 << 20):
        raise h.TestFailure("%s has %.1f GB free; this scale needs about %.1f GB (and a margin)"
                            % (path, free / 1e9, need / 1e9))
    return free


def make_db(collector, wdir, n_schools, n_rooms, ym, seed, progress=True):
    """Create WDIR/collector.db for MONTH ym and the month before; returns a
    dict of what it holds and how long it took."""
    need = estimate_bytes(n_schools, n_rooms, ym)
    free = check_space(wdir, need)
    say("%d schools x %d classrooms, %s and %s, seed %d, into %s (about %.2f GB needed, %.0f GB free)"
        % (n_schools, n_rooms, month_name(prev_month(*ym)), month_name(ym), seed, wdir, need / 1e9,
           free / 1e9))
    t_start = time.monotonic()
    db_path, conf, version = migrate(collector, wdir)
    say("  [%5.1f s] schema version %d made by %s" % (time.monotonic() - t_start, version,
                                                      os.path.basename(collector)))
    rng = random.Random(seed)
    schools, ports = build_schools(n_schools, n_rooms, rng)
    pm = prev_month(*ym)
    since_ms = month_bounds(pm)[0] - 365 * DAY_MS
    seen_ms = min(int(time.time() * 1000), month_bounds(ym)[1] + 3600000)
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -262144")
    db.execute("BEGIN")
    fill_dimensions(db, schools, ports, since_ms, seen_ms)
    say("  [%5.1f s] %s schools, %s ports, %s inventory rows"
        % (time.monotonic() - t_start, fmt_n(len(schools)), fmt_n(len(ports)), fmt_n(len(ports))))
    chronic_prev = chronic_ports(ports, random.Random(seed * 1000 + 1))
    chronic_cur = chronic_ports(ports, random.Random(seed * 1000 + 2), chronic_prev)
    out = {"schools": len(schools), "ports": len(ports), "schema": version, "db": db_path,
           "conf": conf, "month": month_name(ym), "prev_month": month_name(pm),
           "recording": sum(1 for p in ports if p["role"] == "recording"),
           "towns": len({s["town"] for s in schools})}
    for key, m, chronic, last, sub in (("prev", pm, chronic_prev, None, 3),
                                       ("cur", ym, chronic_cur, chronic_prev, 4)):
        rows, n_alerts, sdays = fill_month(db, m, schools, ports, chronic,
                                           random.Random(seed * 1000 + sub), progress, t_start,
                                           last)
        out.update({key + "_rows": rows, key + "_alerts": n_alerts, key + "_school_days": sdays,
                    key + "_chronic": len(chronic)})
    clear_fixed(db, chronic_prev, chronic_cur, ym, random.Random(seed * 1000 + 5))
    db.execute("COMMIT")
    # Back to the collector's journal mode: a real database is in WAL.
    db.execute("PRAGMA journal_mode = WAL")
    db.close()
    out["seconds"] = time.monotonic() - t_start
    out["db_bytes"] = sum(os.path.getsize(db_path + s) for s in ("", "-wal")
                          if os.path.exists(db_path + s))
    say("  [%5.1f s] done: %s + %s port_day rows, %.1f MiB" % (
        out["seconds"], fmt_n(out["prev_rows"]), fmt_n(out["cur_rows"]),
        out["db_bytes"] / 1048576))
    return out


def verify(info):
    """Row counts read back, and the share of port-days that are fully ok."""
    db = sqlite3.connect("file:%s?mode=ro" % info["db"], uri=True)
    try:
        q = lambda sql, *a: db.execute(sql, a).fetchone()  # noqa: E731
        res = {}
        for t in ("schools", "agents", "switches", "ports", "inventory", "alerts", "rollup_days",
                  "port_day"):
            res[t] = q("SELECT count(*) FROM " + t)[0]
        m0, m1 = month_bounds(parse_month(info["month"]))
        res["month_rows"], res["month_ms"], res["month_err_ms"] = q(
            "SELECT count(*), sum(ms), sum(err_ms) FROM port_day WHERE day >= ? AND day < ?", m0, m1)
        # Port-days with one full, up, error-free row.
        res["ok_port_days"] = q(
            "SELECT count(*) FROM (SELECT day, port_id FROM port_day WHERE day >= ? AND day < ?"
            " GROUP BY day, port_id HAVING count(*) = 1 AND max(up) = 1 AND max(ms) = ?"
            " AND max(err_ms) = 0 AND max(duplex) = 3 AND max(speed_mbps) >= 100)",
            m0, m1, SCHOOL_MS)[0]
        res["gap_port_days"] = q(
            "SELECT count(*) FROM (SELECT day, port_id FROM port_day WHERE day >= ? AND day < ?"
            " GROUP BY day, port_id HAVING sum(ms) < ?)", m0, m1, SCHOOL_MS)[0]
        res["mapped"] = q("SELECT count(*) FROM port_map")[0]
        res["open_alerts"] = q("SELECT count(*) FROM alerts WHERE cleared_at IS NULL")[0]
        res["fingerprints"] = [r[0] for r in db.execute("SELECT DISTINCT fingerprint FROM rollup_days")]
        return res
    finally:
        db.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", choices=sorted(SCALES), default="county")
    ap.add_argument("--schools", type=int, help="schools (default: the scale's)")
    ap.add_argument("--rooms", type=int, help="classrooms a school (default 40)")
    ap.add_argument("--month", help="YYYY-MM (default: last full month, UTC+8)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", required=True, help="where collector.db and collector.conf go (kept)")
    ap.add_argument("--build", default=os.environ.get("SCHOOLNET_BUILD")
                    or os.path.join(REPO, "build-bench"))
    ap.add_argument("--collector", help="schoolnet-collector binary (default: BUILD's)")
    args = ap.parse_args()
    try:
        ym = parse_month(args.month) if args.month else default_month()
    except ValueError as e:
        ap.error(str(e))
    n_schools = args.schools or SCALES[args.scale]["schools"]
    n_rooms = args.rooms or SCALES[args.scale]["rooms"]
    if not (1 <= n_schools <= 99999 and 1 <= n_rooms <= 47):
        ap.error("--schools 1..99999, --rooms 1..47")
    os.makedirs(args.dir, exist_ok=True)
    if os.path.exists(os.path.join(args.dir, "collector.db")):
        ap.error("%s already holds a collector.db" % args.dir)
    h.install_signal_handlers()
    try:
        info = make_db(find_collector(args), args.dir, n_schools, n_rooms, ym, args.seed)
        v = verify(info)
        say("read back: %s" % ", ".join("%s %s" % (k, fmt_n(v[k]) if isinstance(v[k], int) else v[k])
                                        for k in sorted(v)))
        return 0
    except h.Skip as e:
        say("skipped: %s" % e)
        return 77
    except h.TestFailure as e:
        say("FAILED: %s" % e)
        return 1
    finally:
        h.cleanup_all()


if __name__ == "__main__":
    sys.exit(main())
