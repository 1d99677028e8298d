"""A simulated past for the demo's county, so that last month's report has
something to say.

The demo's agents report from the moment it starts. For the month before,
this writes into the collector's database what it would have stored had the
county been monitored then: for every port in the inventory one state
interval a day, in the state the port is in now (the planted faults held
all month), with a few seeded accidents: a classroom port down for a day or
two, a day without data for a port, and one school whose agent was offline
for two days. The schools and the inventory are back-dated to the month's
first day, and the month's hours are marked in rollup_dirty, as a late
report marks them, so a day the collector rolled up already is made again. The collector computes the report's roll-ups from these raw
intervals with its own code, as for real data.
"""
import datetime
import random
import sqlite3

DAY_MS = 86400000


def month_bounds(year, month, utc_offset_min=480):
    tz = datetime.timezone(datetime.timedelta(minutes=utc_offset_min))
    start = datetime.datetime(year, month, 1, tzinfo=tz)
    end = datetime.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def previous_month(utc_offset_min=480):
    now = datetime.datetime.now(datetime.timezone(datetime.timedelta(minutes=utc_offset_min)))
    return (now.year - 1, 12) if now.month == 1 else (now.year, now.month - 1)


def seed_previous_month(db_path, seed=1):
    """Write last month's history; returns ("YYYY-MM", ports written)."""
    year, month = previous_month()
    m0, m1 = month_bounds(year, month)
    days = (m1 - m0) // DAY_MS
    rng = random.Random(seed)
    db = sqlite3.connect(db_path, timeout=30)
    try:
        ports = db.execute(
            "SELECT m.port_id, m.school_code, m.role, p.admin, p.oper, p.speed_mbps, p.duplex"
            " FROM port_map m JOIN ports p ON p.id = m.port_id ORDER BY m.port_id").fetchall()
        schools = sorted({p[1] for p in ports})
        offline = rng.choice(schools) if schools else None
        offline_days = set(rng.sample(range(days), 2))
        with db:
            db.execute("UPDATE schools SET added_at = min(added_at, ?)", (m0,))
            db.execute("UPDATE school_history SET valid_from = min(valid_from, ?)", (m0,))
            db.execute("UPDATE inventory SET valid_from = min(valid_from, ?) WHERE valid_to IS NULL", (m0,))
            for port_id, school, role, admin, oper, speed, duplex in ports:
                down = set()
                if role == "classroom" and rng.random() < 0.1:
                    first = rng.randrange(days)
                    down = set(range(first, min(days, first + rng.randint(1, 2))))
                gap = {rng.randrange(days)} if rng.random() < 0.05 else set()
                for d in range(days):
                    if d in gap or (school == offline and d in offline_days):
                        continue
                    up = d not in down
                    db.execute(
                        "INSERT INTO port_state(port_id, t_start, t_end, admin, oper, speed_mbps, duplex)"
                        " VALUES(?, ?, ?, ?, ?, ?, ?)",
                        (port_id, m0 + d * DAY_MS, m0 + (d + 1) * DAY_MS, admin if up else 1,
                         oper if up else 2, speed, duplex))
            # Data written after the fact, like a spool replayed late: mark
            # its hours so that days rolled up already are made again.
            now = int(datetime.datetime.now().timestamp() * 1000)
            db.executemany("INSERT OR REPLACE INTO rollup_dirty(hour, marked_at) VALUES(?, ?)",
                           [(hr, now) for hr in range(m0 // 3600000, m1 // 3600000)])
        return "%04d-%02d" % (year, month), len(ports)
    finally:
        db.close()
