#!/usr/bin/env python3
"""The monthly compliance report on a hand-built month (October 2026), whose
every figure is worked out by hand below.

The collector makes the database (its migrations); the test then writes the
month straight into it: schools, inventory, agents, switches, ports, state
intervals, error counts and alerts, as the collector would have stored them.

Calendar (this test's own file, UTC+08:00):
  default   = mon-fri 08:00-12:00, 14:00-18:00     480 school minutes a day
  教学点     = mon-fri 08:00-12:00                  240 school minutes a day
  holidays  2026-10-01..2026-10-07 国庆节 (Thu 1, Fri 2, Mon 5, Tue 6, Wed 7
            are weekdays off)
  workdays  2026-10-10 国庆调休 (a Saturday with Monday's hours)
  vacations 2026-10-19..2026-10-23 秋假 (a vacation week, Mon-Fri)
October 2026 starts on a Thursday: 22 weekdays - 5 holidays - 5 vacation
days + 1 make-up Saturday = 13 school days: 8 9 10 12 13 14 15 16 26 27 28
29 30. So a room counted all month has 13 x 480 = 6240 school minutes
(教学点: 13 x 240 = 3120).

Schools (town 城东镇: A, B; town 城西镇: C, D):
  A  小学, town seat, from Sep 1. Data from Sep 20 00:00 (intervals cross
     the month's start and end):
     uplink  1000 full all month                      ok 6240
     A1      classroom, a data gap: no data on Mon Oct 12 (480 unknown)
             ok 5760 of known 5760 = 100 %            compliant
     A2      classroom, flapping Tue Oct 13 09:00-10:00: down 09:00-09:10,
             09:20-09:30, 09:40-09:50 = 30 min down; ok 6210 of 6240 =
             99.52 % >= 99 %                          compliant
     录播室   recording, port down Wed Oct 14 07:00-13:00: the school-hours
             part is 08:00-12:00 = 240 (the lunch break and 07:00-08:00 are
             not school time); available 6000 / 6240 = 96.15 %
     -> passes. Alerts: Oct 13 09:00 cleared 10:00 (60 min), Oct 14 08:00
        cleared 12:00 (240 min): 2 opened, mean time to recover 150 min.
  B  初中, added mid-month on Thu Oct 15 at 10:00: counted from Oct 15:
     15 16 26 27 28 29 30 = 7 school days, 3360 minutes a room; data from
     10:00 on the 15th, so 08:00-10:00 = 120 unknown:
     uplink  100 Mbps full: below 1000: speed 3240, unknown 120, 0 % at
             target: not compliant -> B fails, cause uplink_speed_low
     B1      classroom 1000 full: ok 3240, unknown 120, 100 %
     Alert: Oct 15 10:05, not cleared.
  C  教学点 (240 min a day), town seat with NO recording room (a coverage
     gap of 录播室全覆盖). Data from Sep 20:
     uplink  1000 full: ok 3120
     C1      classroom 100 Mbps: half duplex on Oct 26-30 (5 x 240 = 1200),
             full otherwise (8 x 240 = 1920): 61.54 %, cause half_duplex
     C2      classroom 1000 full, 1000 errors a minute on Fri Oct 16
             08:00-18:00 (limit 10): the school-hours part 08:00-12:00 =
             240 erroring; ok 2880 / 3120 = 92.31 %, cause errors
     -> fails; its failing classrooms lost 1200 to half duplex and 240 to
        errors: main cause half_duplex.
  D  小学, no agent ever reported: uplink + D1 all unknown (2 x 6240) ->
     status unknown, cause no_data.

District, October:
  schools 4, known 3 (A B C), passing 1 (A): 33.33 %
  uplinks compliant: A, C = 2
  classrooms A1 A2 B1 C1 C2 D1 = 6, known 5, compliant 3: 60.0 %
  town-seat schools A, C = 2, with a recording room 1: coverage 50.0 %
  recording availability 96.15 %
  completeness: known A 24480 + B 6480 + C 9360 + D 0 = 40320 of
    24960 + 6720 + 9360 + 12480 = 53520 school minutes: 75.34 %
  alerts opened 3, mean time to recover (60 + 240) / 2 = 150 min
September (the previous month; data from Sep 20, all at target; B not yet
there): schools known A, C, both pass: 100 %; classrooms A1 A2 C1 C2 all
compliant: 100 %; coverage 50 %; availability 100 %. So the change is
-66.67, -40.0, 0.0 and -3.85 points.
Towns: 城东镇 A B: passing 1 of 2 = 50.0 % (September: A alone, 100 %:
-50.0); classrooms 3 of 3 = 100 % (0.0). 城西镇 C D: passing 0 of 1 known =
0.0 % (September 100 %: -100.0); classrooms 0 of 2 known = 0.0 %.
Daily classroom line: Oct 13: A1 480 + A2 450 + C1 240 + C2 240 ok of 1440
known = 97.92 %; Oct 16: A1 480 + A2 480 + B1 480 + C1 240 ok, C2 240
erroring: 1680 / 1920 = 87.5 %; Oct 12: A1 unknown, the rest at target:
100.0 %; Oct 3 (a Saturday in the holiday): no school time, null. Oct 3 is
a "holiday" (the holiday's range holds it), Oct 17 a plain "weekend".
"""
import csv
import datetime
import io
import json
import os
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402

CST = datetime.timezone(datetime.timedelta(hours=8))
FULL, HALF = 3, 2

CALENDAR = """\
[calendar]
name = golden month
utc_offset = +08:00
[hours]
default = mon-fri 08:00-12:00, mon-fri 14:00-18:00
教学点 = mon-fri 08:00-12:00
[holidays]
2026-10-01..2026-10-07 = 国庆节
[workdays]
2026-10-10 = 国庆调休
[vacations]
2026-10-19..2026-10-23 = 秋假
"""


def ms(month, day, hour=0, minute=0):
    t = datetime.datetime(2026, month, day, hour, tzinfo=CST) + datetime.timedelta(minutes=minute)
    return int(t.timestamp() * 1000)


START = ms(9, 20)          # the agents' data begins
END = ms(11, 5)            # ... and runs past the month's end
SEP1 = ms(9, 1)
B_ADDED = ms(10, 15, 10)


class Month:
    """Writes the hand-built month into the collector's database."""

    def __init__(self, db):
        self.db = db
        self.ports = {}

    def school(self, code, name, town, type_, seat, added):
        self.db.execute("INSERT INTO schools(code, name, town, type, town_seat, added_at)"
                        " VALUES(?, ?, ?, ?, ?, ?)", (code, name, town, type_, seat, added))
        self.db.execute("INSERT INTO school_history(code, name, town, type, town_seat, valid_from)"
                        " VALUES(?, ?, ?, ?, ?, ?)", (code, name, town, type_, seat, added))
        cur = self.db.execute("INSERT INTO agents(name, school) VALUES(?, ?)", (code, code))
        cur = self.db.execute("INSERT INTO switches(agent_id, name) VALUES(?, 'core')",
                              (cur.lastrowid,))
        return cur.lastrowid

    def room(self, switch_id, code, role, room, if_index, added, reported=True):
        port = "Gi0/%d" % if_index
        self.db.execute("INSERT INTO inventory(school_code, role, room, switch, port, valid_from)"
                        " VALUES(?, ?, ?, 'core', ?, ?)", (code, role, room, port, added))
        if not reported:
            return None
        cur = self.db.execute("INSERT INTO ports(switch_id, if_index, if_name) VALUES(?, ?, ?)",
                              (switch_id, if_index, port))
        self.ports[(code, room)] = cur.lastrowid
        return cur.lastrowid

    def state(self, port_id, t0, t1, speed=1000, duplex=FULL, up=True):
        self.db.execute("INSERT INTO port_state(port_id, t_start, t_end, admin, oper, speed_mbps, duplex)"
                        " VALUES(?, ?, ?, 1, ?, ?, ?)", (port_id, t0, t1, 1 if up else 2, speed, duplex))

    def errors(self, port_id, t0, t1, per_min, step_min=10):
        t = t0
        while t < t1:
            n = per_min * step_min
            self.db.execute("INSERT INTO port_rates(port_id, t_start, t_end, in_bps, out_bps, in_errors,"
                            " out_errors, in_discards, out_discards) VALUES(?, ?, ?, 0, 0, ?, 0, 0, 0)",
                            (port_id, t, t + step_min * 60000, n))
            t += step_min * 60000

    def alert(self, code, since, cleared=None):
        self.db.execute("INSERT INTO alerts(key, cause, role, school_code, since, opened_at, cleared_at)"
                        " VALUES(?, 'port_down', 'classroom', ?, ?, ?, ?)",
                        ("golden-%d" % since, code, since, since, cleared))


def build(db):
    m = Month(db)
    # A: 小学, town seat, from September 1.
    sw = m.school("A", "城东小学", "城东镇", "小学", 1, SEP1)
    p = m.room(sw, "A", "uplink", "出口", 1, SEP1)
    m.state(p, START, END)
    p = m.room(sw, "A", "classroom", "一年级1班", 2, SEP1)
    m.state(p, START, ms(10, 12))               # gap: all of Oct 12
    m.state(p, ms(10, 13), END)
    p = m.room(sw, "A", "classroom", "一年级2班", 3, SEP1)
    m.state(p, START, ms(10, 13, 9))
    for i in range(6):                          # flapping 09:00-10:00
        m.state(p, ms(10, 13, 9, 10 * i), ms(10, 13, 9, 10 * i + 10), up=(i % 2 == 1))
    m.state(p, ms(10, 13, 10), END)
    p = m.room(sw, "A", "recording", "录播室", 4, SEP1)
    m.state(p, START, ms(10, 14, 7))
    m.state(p, ms(10, 14, 7), ms(10, 14, 13), up=False)   # host room dark all morning
    m.state(p, ms(10, 14, 13), END)
    m.alert("A", ms(10, 13, 9), ms(10, 13, 10))
    m.alert("A", ms(10, 14, 8), ms(10, 14, 12))

    # B: 初中, added on Oct 15 at 10:00, reporting from then on.
    sw = m.school("B", "城东中学", "城东镇", "初中", 0, B_ADDED)
    p = m.room(sw, "B", "uplink", "出口", 1, B_ADDED)
    m.state(p, B_ADDED, END, speed=100)
    p = m.room(sw, "B", "classroom", "七年级1班", 2, B_ADDED)
    m.state(p, B_ADDED, END)
    m.alert("B", ms(10, 15, 10, 5))

    # C: 教学点, town seat without a recording room.
    sw = m.school("C", "西村教学点", "城西镇", "教学点", 1, SEP1)
    p = m.room(sw, "C", "uplink", "出口", 1, SEP1)
    m.state(p, START, END)
    p = m.room(sw, "C", "classroom", "复式班", 2, SEP1)
    m.state(p, START, ms(10, 26), speed=100)
    m.state(p, ms(10, 26), ms(10, 31), speed=100, duplex=HALF)
    m.state(p, ms(10, 31), END, speed=100)
    p = m.room(sw, "C", "classroom", "学前班", 3, SEP1)
    m.state(p, START, END)
    m.errors(p, ms(10, 16, 8), ms(10, 16, 18), per_min=1000)
    m.errors(p, ms(10, 26, 8), ms(10, 26, 9), per_min=5)     # under the limit

    # D: never reported.
    sw = m.school("D", "西岭小学", "城西镇", "小学", 0, SEP1)
    m.room(sw, "D", "uplink", "出口", 1, SEP1, reported=False)
    m.room(sw, "D", "classroom", "一年级1班", 2, SEP1, reported=False)
    db.commit()
    return m


def report(collector, conf, *args, raw=False):
    argv = [collector, "-c", conf, "report", "--month", "2026-10"] + list(args)
    if raw:
        argv.append("--from-raw")
    r = subprocess.run(argv, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise h.TestFailure("%s exited %d: %s" % (" ".join(argv), r.returncode,
                                                   r.stderr.decode("utf-8", "replace")[-3000:]))
    return r


def report_json(collector, conf, raw=False):
    r = report(collector, conf, "--format", "json", raw=raw)
    return json.loads(r.stdout.decode("utf-8"))


def eq(got, want, what):
    h.check(got == want, "%s = %r" % (what, want), "got %r" % (got,))


def by(rows, key, value):
    found = [r for r in rows if r.get(key) == value]
    if len(found) != 1:
        raise h.TestFailure("expected one row with %s = %r, found %d" % (key, value, len(found)))
    return found[0]


def check_golden(rep):
    h.step("district")
    d = rep["district"]
    for k, v in (("schools", 4), ("schools_known", 3), ("schools_passing", 1),
                 ("schools_passing_pct", 33.33), ("uplinks_compliant", 2), ("classrooms", 6),
                 ("classrooms_known", 5), ("classrooms_compliant", 3),
                 ("classrooms_compliant_pct", 60.0), ("town_seat_schools", 2),
                 ("town_seat_with_recording", 1), ("recording_coverage_pct", 50.0),
                 ("recording_rooms", 1), ("recording_available_pct", 96.15),
                 ("completeness_pct", 75.34), ("alerts_opened", 3), ("mttr_min", 150.0)):
        eq(d[k], v, "district %s" % k)
    eq(d["change"], {"schools_passing_pct": -66.67, "classrooms_compliant_pct": -40.0,
                     "recording_coverage_pct": 0.0, "recording_available_pct": -3.85},
       "district change against September")

    h.step("towns")
    east, west = by(rep["towns"], "town", "城东镇"), by(rep["towns"], "town", "城西镇")
    eq((east["schools_passing_pct"], east["classrooms_compliant_pct"]), (50.0, 100.0),
       "城东镇 schools passing %, classrooms compliant %")
    eq((east["change"]["schools_passing_pct"], east["change"]["classrooms_compliant_pct"]),
       (-50.0, 0.0), "城东镇 change")
    eq((west["schools_known"], west["schools_passing_pct"], west["classrooms_compliant_pct"],
        west["recording_coverage_pct"]), (1, 0.0, 0.0, 0.0), "城西镇 known, passing %, classrooms %, coverage %")
    eq(west["change"]["schools_passing_pct"], -100.0, "城西镇 change in schools passing")

    h.step("schools")
    a, b, c, dd = (by(rep["schools"], "code", x) for x in "ABCD")
    eq((a["status"], a["main_cause"]), ("pass", None), "A status")
    eq((a["school_min"], a["known_min"], a["completeness_pct"]), (24960.0, 24480.0, 98.08),
       "A school / known minutes, completeness")
    eq(a["uplink"]["at_target_pct"], 100.0, "A uplink at target")
    eq((a["uplink"]["speed_mbps_min"], a["uplink"]["speed_mbps_max"]), (1000, 1000), "A uplink speeds")
    eq(a["classrooms"], {"total": 2, "known": 2, "compliant": 2}, "A classrooms")
    eq(a["recording"], {"rooms": 1, "available_pct": 96.15, "checked_rooms": 0, "basis": "port"},
       "A recording (no host checks: its port)")
    eq(a["uplink"]["throughput"], {"tests": 0, "median_mbps": None, "worst_mbps": None, "uplink_mbps": None,
                                   "below_target": None}, "A has no throughput test")
    eq(a["alerts"], {"opened": 2, "recovered": 2, "mttr_min": 150.0}, "A alerts")
    eq(a["counted_from"], "2026-10-01", "A counted from")
    eq((b["status"], b["main_cause"], b["counted_from"]), ("fail", "uplink_speed_low", "2026-10-15"),
       "B fails on its uplink, counted from the day it was added")
    eq((b["school_min"], b["known_min"], b["completeness_pct"]), (6720.0, 6480.0, 96.43),
       "B school / known minutes, completeness")
    eq((b["uplink"]["compliant"], b["uplink"]["at_target_pct"], b["uplink"]["speed_mbps_min"]),
       (False, 0.0, 100), "B uplink")
    eq(b["uplink"]["speed_mbps_max"], 100, "B uplink's highest speed")
    eq(b["alerts"], {"opened": 1, "recovered": 0, "mttr_min": None}, "B alerts")
    eq((c["status"], c["main_cause"], c["school_min"], c["known_min"]),
       ("fail", "half_duplex", 9360.0, 9360.0), "C (教学点 hours) fails, main cause")
    eq(c["recording"], {"rooms": 0, "available_pct": None, "checked_rooms": 0, "basis": None},
       "C has no recording room")
    eq((dd["status"], dd["main_cause"], dd["completeness_pct"], dd["uplink"]["compliant"]),
       ("unknown", "no_data", 0.0, None), "D has no data: unknown, never up or down")

    h.step("rooms")
    rooms = {(r["school"], r["room"]): r for r in rep["rooms"]}
    want = {
        ("A", "一年级1班"): (6240.0, 5760.0, 0.0, 0.0, 0.0, 0.0, 480.0, 100.0, True, None),
        ("A", "一年级2班"): (6240.0, 6210.0, 0.0, 0.0, 0.0, 30.0, 0.0, 99.52, True, None),
        ("A", "录播室"): (6240.0, 6000.0, 0.0, 0.0, 0.0, 240.0, 0.0, 96.15, False, "port_down"),
        ("B", "出口"): (3360.0, 0.0, 3240.0, 0.0, 0.0, 0.0, 120.0, 0.0, False, "uplink_speed_low"),
        ("B", "七年级1班"): (3360.0, 3240.0, 0.0, 0.0, 0.0, 0.0, 120.0, 100.0, True, None),
        ("C", "复式班"): (3120.0, 1920.0, 0.0, 1200.0, 0.0, 0.0, 0.0, 61.54, False, "half_duplex"),
        ("C", "学前班"): (3120.0, 2880.0, 0.0, 0.0, 240.0, 0.0, 0.0, 92.31, False, "errors"),
        ("D", "一年级1班"): (6240.0, 0.0, 0.0, 0.0, 0.0, 0.0, 6240.0, None, None, "no_data"),
    }
    fields = ("school_min", "ok_min", "speed_min", "half_min", "errors_min", "down_min",
              "unknown_min", "at_target_pct", "compliant", "main_cause")
    for key, values in want.items():
        got = tuple(rooms[key][f] for f in fields)
        eq(got, values, "%s %s: %s" % (key[0], key[1], ", ".join(fields)))

    h.step("non-compliant lists")
    eq(sorted((s["code"], s["status"], s["main_cause"]) for s in rep["noncompliant"]["schools"]),
       [("B", "fail", "uplink_speed_low"), ("C", "fail", "half_duplex"), ("D", "unknown", "no_data")],
       "schools to fix")
    eq(sorted((c["school"], c["room"], c["main_cause"]) for c in rep["noncompliant"]["classrooms"]),
       [("C", "复式班", "half_duplex"), ("C", "学前班", "errors"), ("D", "一年级1班", "no_data")],
       "classrooms to fix")

    h.step("days")
    days = {x["date"]: x for x in rep["days"]}
    eq(len(rep["days"]), 31, "31 days")
    eq((days["2026-10-13"]["classroom_pct"], days["2026-10-16"]["classroom_pct"],
        days["2026-10-12"]["classroom_pct"], days["2026-10-03"]["classroom_pct"]),
       (97.92, 87.5, 100.0, None), "daily classroom compliance on Oct 13, 16, 12, 3")
    eq((days["2026-10-01"]["kind"], days["2026-10-01"]["name"], days["2026-10-10"]["kind"],
        days["2026-10-20"]["kind"], days["2026-10-17"]["kind"], days["2026-10-08"]["kind"]),
       ("holiday", "国庆节", "makeup_day", "vacation", "weekend", "school_day"), "kinds of day")
    a_days = {x["date"]: x["classroom_pct"] for x in a["days"]}
    eq((a_days["2026-10-13"], a_days["2026-10-12"], a_days["2026-10-19"]), (96.88, 100.0, None),
       "A's heat-map cells: Oct 13 (930/960), Oct 12 (A2 only), Oct 19 (vacation)")
    eq(rep["params"]["complete"], True, "October is complete")
    eq(rep["params"]["counted_until"], "2026-11-01T00:00:00+08:00", "counted until the month's end")


def main():
    _, collector = h.binaries()
    wd = h.Workdir(prefix="schoolnet-report-")
    cal = wd.file("calendar.conf")
    with open(cal, "w", encoding="utf-8") as f:
        f.write(CALENDAR)
    db_path = wd.file("collector.db")
    conf = wd.file("collector.conf")
    port = h.free_port("tcp")
    with open(conf, "w", encoding="utf-8") as f:
        f.write("[collector]\nlisten = 127.0.0.1:%d\ndatabase = %s\ntls = off\n"
                "[policy]\ncalendar = %s\n" % (port, db_path, cal))

    h.step("the collector creates the database")
    col = h.Daemon([collector, "-c", conf, "serve"], wd.file("logs", "collector.log"))
    h.wait_until(lambda: h.tcp_listening(port), 20, "the collector to listen", logs=[col])
    eq(col.stop(), 0, "collector exit status after SIGTERM")
    db = sqlite3.connect(db_path)
    eq(db.execute("PRAGMA user_version").fetchone()[0] >= 5, True, "schema has the roll-up tables")
    m = build(db)

    h.step("the report rolls up the month's days and stores them")
    r = report(collector, conf, "--format", "json")
    err = r.stderr.decode("utf-8", "replace")
    h.check("rolling up" in err and "2026-10-01" in err, "it said what it rolled up", err[-800:])
    eq(db.execute("SELECT count(*) FROM rollup_days WHERE day >= ? AND day < ?",
                  (ms(10, 1), ms(11, 1))).fetchone()[0], 31, "31 days of October stored")
    rep = json.loads(r.stdout.decode("utf-8"))
    check_golden(rep)

    h.step("a second report reads the stored roll-ups")
    r = report(collector, conf, "--format", "json")
    err = r.stderr.decode("utf-8", "replace")
    h.check("rolling up" not in err, "nothing rolled up again", err[-800:])
    eq(json.loads(r.stdout.decode("utf-8"))["content_hash"], rep["content_hash"], "the same content hash")

    h.step("the running collector rolls up finished days by itself")
    # Two days ago (local) is always finished and within the job's reach.
    today = datetime.datetime.now(CST).replace(hour=0, minute=0, second=0, microsecond=0)
    d0 = int((today - datetime.timedelta(days=2)).timestamp() * 1000)
    uplink = m.ports[("A", "出口")]
    db.execute("INSERT INTO port_state(port_id, t_start, t_end, admin, oper, speed_mbps, duplex)"
               " VALUES(?, ?, ?, 1, 1, 1000, 3)", (uplink, d0, d0 + 86400000))
    db.commit()
    col = h.Daemon([collector, "-c", conf, "serve"], wd.file("logs", "collector.log"))

    def rolled():
        if db.execute("SELECT count(*) FROM rollup_days WHERE day = ?", (d0,)).fetchone()[0] == 0:
            raise h.NotYet("day %d not rolled up" % d0)
        return True
    h.wait_until(rolled, 90, "the collector's roll-up job (30 s after start)", logs=[col])
    eq(col.stop(), 0, "collector exit status after SIGTERM")
    with open(col.log_path, encoding="utf-8") as f:
        h.check("roll-up:" in f.read(), "the collector logged its roll-up")

    h.step("the same figures computed from the raw intervals")
    raw = report_json(collector, conf, raw=True)
    eq(raw["content_hash"], rep["content_hash"], "content hash of the raw computation")

    h.step("back-filled data: the day's roll-up is made again")
    a1 = m.ports[("A", "一年级1班")]
    db.execute("UPDATE port_state SET t_end = ? WHERE port_id = ? AND t_end = ?", (ms(10, 13), a1, ms(10, 12)))
    db.commit()
    before = [x for x in report_json(collector, conf)["rooms"]
              if x["school"] == "A" and x["room"] == "一年级1班"][0]
    eq(before["unknown_min"], 480.0, "without a dirty mark the stored roll-up is used (A1 still 480 unknown)")
    db.execute("INSERT INTO rollup_dirty(hour, marked_at) VALUES(?, ?)",
               (ms(10, 12, 9) // 3600000, int(datetime.datetime.now().timestamp() * 1000)))
    db.commit()
    after = report_json(collector, conf)
    a1row = [x for x in after["rooms"] if x["school"] == "A" and x["room"] == "一年级1班"][0]
    eq((a1row["unknown_min"], a1row["ok_min"]), (0.0, 6240.0), "after the mark: A1 known all month")
    eq(db.execute("SELECT count(*) FROM rollup_dirty").fetchone()[0], 0, "the mark is consumed")
    db.execute("UPDATE port_state SET t_end = ? WHERE port_id = ? AND t_end = ?", (ms(10, 12), a1, ms(10, 13)))
    db.execute("INSERT INTO rollup_dirty(hour, marked_at) VALUES(?, ?)",
               (ms(10, 12, 9) // 3600000, int(datetime.datetime.now().timestamp() * 1000)))
    db.commit()
    eq(report_json(collector, conf)["content_hash"], rep["content_hash"], "back to the golden figures")

    h.step("scope: --town and --school")
    east = report_json_args(collector, conf, "--town", "城东镇")
    eq(sorted(s["code"] for s in east["schools"]), ["A", "B"], "--town 城东镇 has A and B")
    eq(east["district"]["schools_passing_pct"], 50.0, "its summary is the town's")
    one = report_json_args(collector, conf, "--school", "C")
    eq([s["code"] for s in one["schools"]], ["C"], "--school C")

    h.step("formats")
    check_csv(collector, conf, wd)
    check_html(collector, conf, wd, rep["content_hash"])
    check_probes(collector, conf, db)
    db.close()

    h.step("bad input is refused with a clear error")
    for args, what in ((["--month", "2026-13"], "--month 2026-13"),
                       (["--month", "October"], "--month October"),
                       (["--format", "pdf"], "--format pdf"),
                       (["--month", "2026-10", "--town", "不存在镇"], "a town with no school")):
        r = subprocess.run([collector, "-c", conf, "report"] + args, capture_output=True, timeout=30)
        err = r.stderr.decode("utf-8", "replace")
        h.check(r.returncode != 0 and args[-1] in err, "%s refused: %s" % (what, err.strip()[:120]))


def check_probes(collector, conf, db):
    """Host checks and throughput tests, written as the collector stores them.

    A's 录播室 gets host checks (recording_state) from Sep 20 on: available
    but for its port's dark morning (Oct 14 08:00-12:00, 240), its host down
    Tue Oct 27 14:00-16:00 (120), and no check at all Wed Oct 28 08:00-12:00
    (240, unknown): available 6240 - 600 = 5640 of 6000 checked = 94.0 %
    (the port alone said 96.15). September: all available, so -6.0 points.
    Throughput (download, done in October): A 900, 850, 600 on a 1000 Mbps
    uplink: median 850, worst 600, not below 70 %; B 60 on its 100 Mbps
    uplink: below; C 500, uplink speed not stored: its highest in the month
    (1000) counts: below. Not counted: A's September test, B's failed one.
    District: 3 schools tested, 5 tests, median of medians 500, worst 60,
    2 below target; 城东镇 (A, B) median (850 + 60) / 2 = 455.
    """
    h.step("host checks and throughput tests")
    rec = db.execute("SELECT id FROM inventory WHERE school_code = 'A' AND role = 'recording'").fetchone()[0]
    for t0, t1, host, port in ((START, ms(10, 14, 7), 1, 1), (ms(10, 14, 7), ms(10, 14, 13), 1, 0),
                               (ms(10, 14, 13), ms(10, 27, 14), 1, 1), (ms(10, 27, 14), ms(10, 27, 16), 0, 1),
                               (ms(10, 27, 16), ms(10, 28, 8), 1, 1), (ms(10, 28, 12), END, 1, 1)):
        db.execute("INSERT INTO recording_state(inventory_id, t_start, t_end, interval_ms, host_ok, port_ok,"
                   " available, status, error) VALUES(?, ?, ?, 60000, ?, ?, ?, ?, ?)",
                   (rec, t0, t1, host, port, host and port, 200 if host else None, "" if host else "refused"))
    for code, state, finished, down, uplink in (("A", "done", ms(10, 9, 20), 900, 1000),
                                                ("A", "done", ms(10, 16, 20), 850, 1000),
                                                ("A", "done", ms(10, 28, 20), 600, 1000),
                                                ("A", "done", ms(9, 28, 20), 100, 1000),
                                                ("B", "done", ms(10, 20, 20), 60, 100),
                                                ("B", "failed", ms(10, 21, 20), None, 100),
                                                ("C", "done", ms(10, 22, 20), 500, None)):
        db.execute("INSERT INTO probe_throughput(school_code, reason, state, requested_ms, finished_ms,"
                   " max_bytes, max_ms, streams, down_mbps, up_mbps, uplink_mbps)"
                   " VALUES(?, 'schedule', ?, ?, ?, 100000000, 10000, 4, ?, ?, ?)",
                   (code, state, finished - 60000, finished, down, down, uplink))
    db.commit()
    rep = report_json(collector, conf)
    a, b, c = (by(rep["schools"], "code", x) for x in "ABC")
    eq(a["recording"], {"rooms": 1, "available_pct": 94.0, "checked_rooms": 1, "basis": "checks"},
       "A recording by its host checks")
    room = [r for r in rep["rooms"] if r["school"] == "A" and r["role"] == "recording"][0]
    eq((room["available_pct"], room["basis"], room["at_target_pct"]), (94.0, "checks", 96.15),
       "A 录播室: available by checks, its port's own share unchanged")
    d = rep["district"]
    eq((d["recording_available_pct"], d["recording_checked_rooms"], d["change"]["recording_available_pct"]),
       (94.0, 1, -6.0), "district recording availability, rooms with checks, change")
    eq(a["uplink"]["throughput"], {"tests": 3, "median_mbps": 850.0, "worst_mbps": 600.0, "uplink_mbps": 1000,
                                   "below_target": False}, "A throughput")
    eq(b["uplink"]["throughput"], {"tests": 1, "median_mbps": 60.0, "worst_mbps": 60.0, "uplink_mbps": 100,
                                   "below_target": True}, "B throughput: below 70 % of its 100 Mbps uplink")
    eq((c["uplink"]["throughput"]["uplink_mbps"], c["uplink"]["throughput"]["below_target"]), (None, True),
       "C: no stored uplink speed, its highest (1000) counts: below")
    eq(d["throughput"], {"schools_tested": 3, "tests": 5, "median_mbps": 500.0, "worst_mbps": 60.0,
                         "below_target": 2}, "district throughput")
    eq(by(rep["towns"], "town", "城东镇")["throughput"],
       {"schools_tested": 2, "tests": 4, "median_mbps": 455.0, "worst_mbps": 60.0, "below_target": 1},
       "城东镇 throughput")
    raw = report_json(collector, conf, raw=True)
    eq(raw["content_hash"], rep["content_hash"], "the same from the raw intervals")
    r = report(collector, conf, "--format", "csv", "--lang", "en")
    text = r.stdout.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    row = dict(zip(rows[0], [x for x in rows if x[1] == "A"][0]))
    eq((row["Measured download median (Mbps)"], row["Recording availability (%)"],
        row["Recording availability basis"]), ("850", "94", "host checks and port"), "the CSV says it, and which basis")
    html = report(collector, conf, "--format", "html").stdout.decode("utf-8")
    h.check("实测 850 Mbps" in html and "主机检测+端口" in html and "录播室覆盖缺口" in html,
            "the HTML shows the measured median, the basis, and explains the coverage gap")


def report_json_args(collector, conf, *args):
    r = report(collector, conf, "--format", "json", *args)
    return json.loads(r.stdout.decode("utf-8"))


def check_csv(collector, conf, wd):
    out = wd.file("report.csv")
    report(collector, conf, "--format", "csv", "-o", out)
    data = open(out, "rb").read()
    h.check(data.startswith(b"\xef\xbb\xbf"), "the CSV starts with a UTF-8 BOM (Excel shows Chinese)")
    rows = list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline="")))
    eq(len(rows), 1 + 4, "a header and one row per school")
    h.check(any("学校" in c for c in rows[0]), "Chinese header: %s" % ",".join(rows[0][:6]))
    codes = [r[1] for r in rows[1:]]
    h.check(set(codes) == set("ABCD"), "school codes in the second column (%s)" % codes)
    rooms = wd.file("rooms.csv")
    report(collector, conf, "--format", "csv", "--level", "classroom", "--lang", "en", "-o", rooms)
    rows = list(csv.reader(io.StringIO(open(rooms, "rb").read()[3:].decode("utf-8"), newline="")))
    eq(len(rows), 1 + 11, "--level classroom: a header and one row per room (11)")
    h.check(any(r[0] == "A" and "一年级2班" in r for r in rows[1:]) and any(c in ("99.52",) for r in rows[1:] for c in r),
            "the rooms' rows carry their figures (A 一年级2班 99.52 %)")
    h.check(any("school" in c.lower() for c in rows[0]), "English header: %s" % ",".join(rows[0][:6]))


def check_html(collector, conf, wd, content_hash):
    out = wd.file("report.html")
    report(collector, conf, "--format", "html", "-o", out)
    text = open(out, encoding="utf-8").read()
    h.check("http://" not in text and "https://" not in text and "<script" not in text,
            "the HTML is self-contained (no external assets, no scripts)")
    h.check(text.count("<svg") >= 3, "three inline SVG charts (%d <svg)" % text.count("<svg"))
    h.check("城东小学" in text and "33.33" in text, "the figures are in it")
    h.check(content_hash in text, "its footer has the JSON's content hash (%s)" % content_hash[:20])
    chromium = next((p for p in ("chromium", "chromium-browser") if h.shutil.which(p)), None)
    if chromium is None:
        raise h.Skip("chromium is not installed: the HTML was checked, not rendered")
    shot = os.path.join(h.artifacts_dir(), "report-2026-10.png")
    pdf = wd.file("report.pdf")
    for extra in (["--screenshot=%s" % shot, "--window-size=1240,1754"], ["--print-to-pdf=%s" % pdf]):
        r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                            "--user-data-dir=%s" % wd.sub("chromium")] + extra + ["file://" + out],
                           capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        h.check(r.returncode == 0, "chromium %s exited 0" % extra[0].split("=")[0],
                r.stderr.decode("utf-8", "replace")[-1500:])
    h.check(os.path.getsize(pdf) > 10000 and open(pdf, "rb").read(5) == b"%PDF-",
            "printed to PDF (%d bytes)" % os.path.getsize(pdf))
    # The charts draw in saturated greens, ambers and reds; a page of text is
    # black on white with anti-aliased greys. Count the saturated pixels with
    # Debian's python3-pil (this python, or /usr/bin/python3).
    count = ("import sys; from PIL import Image; im = Image.open(sys.argv[1]).convert('RGB');"
             "print(sum(n for n, c in im.getcolors(1 << 22) if max(c) - min(c) > 80))")
    for py in (sys.executable, "/usr/bin/python3"):
        r = subprocess.run([py, "-c", count, shot], capture_output=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        if r.returncode == 0:
            break
    else:
        raise h.TestFailure("no python3 with PIL (python3-pil) to read %s: %s"
                            % (shot, r.stderr.decode("utf-8", "replace")[-500:]))
    chart = int(r.stdout)
    h.check(chart > 5000, "the screenshot shows the charts: %d coloured pixels (%s)" % (chart, shot))


if __name__ == "__main__":
    h.run_test(main)
