#!/usr/bin/env python3
"""The collector is stopped while the agents keep polling: reports pile up
in the agents' spools, and after the collector restarts every one of them
arrives exactly once, under its measurement time.  The outage is of the
transport only, so the stored history has no gap: one state interval per
port and one rate row per poll, evenly spaced across the outage.
"""
import os
import re
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402

POLL = 1
OUTAGE = 6  # seconds without a collector


def spool_path(conf):
    with open(conf, encoding="utf-8") as f:
        return re.search(r"^spool\s*=\s*(\S+)", f.read(), re.M).group(1)


def spool_state(path):
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        pending = db.execute("SELECT count(*) FROM spool").fetchone()[0]
        last = db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()[0]
        return pending, last
    finally:
        db.close()


def stored_seq(db_path):
    db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)
    try:
        return dict(db.execute("SELECT name, last_seq FROM agents"))
    finally:
        db.close()


def main():
    h.require_programs("snmpget")
    wd = h.Workdir(prefix="schoolnet-outage-")
    # No probe rounds: reports are counted by their sequence numbers, which
    # probe results share (the probes have tests of their own).
    county = h.County(wd, schools=2, seed=5, poll_interval=POLL, probe={"targets": "none"})
    codes = [s["code"] for s in county.manifest["schools"]]
    spools = {c: spool_path(os.path.join(county.dir, "agents", "%s.conf" % c)) for c in codes}
    county.start()

    h.step("agents report while the collector is up")
    h.wait_until(lambda: all(stored_seq(county.db).get(c, 0) >= 2 for c in codes), 30,
                 "two reports stored per agent", logs=[county.collector])

    h.step("collector stopped for %d s" % OUTAGE)
    county.collector.stop()
    before = stored_seq(county.db)
    time.sleep(OUTAGE)
    for c in codes:
        pending, last = spool_state(spools[c])
        h.check(pending >= OUTAGE - 2, "%s spooled %d reports during the outage" % (c, pending),
                "last_seq %d, stored before %d" % (last, before[c]))

    h.step("collector restarted")
    county.start_collector()
    h.wait_until(lambda: all(spool_state(spools[c])[0] == 0 for c in codes), 30,
                 "spools to drain", logs=[county.collector] + list(county.agents.values()))
    for a in county.agents.values():
        a.stop()
    stored = stored_seq(county.db)
    for c in codes:
        pending, last = spool_state(spools[c])
        h.check(stored[c] == last,
                "%s: collector stored up to seq %d, the agent's last is %d" % (c, stored[c], last))

    db = sqlite3.connect("file:%s?mode=ro" % county.db, uri=True)
    for c in codes:
        n_reports = stored[c]
        ports = db.execute(
            "SELECT p.id, p.if_name FROM ports p JOIN switches s ON s.id = p.switch_id"
            " JOIN agents a ON a.id = s.agent_id WHERE a.name = ? AND p.oper = 1", (c,)).fetchall()
        h.check(len(ports) > 0, "%s has up ports" % c)
        port_id, name = ports[0]
        t_ends = [r[0] for r in db.execute(
            "SELECT t_end FROM port_rates WHERE port_id = ? ORDER BY t_end", (port_id,))]
        # The first poll has no rate; every later one has exactly one row.
        h.check(len(t_ends) == n_reports - 1,
                "%s %s: %d rate rows for %d reports (one per poll after the first)"
                % (c, name, len(t_ends), n_reports))
        gaps = [b - a for a, b in zip(t_ends, t_ends[1:])]
        h.check(max(gaps) < POLL * 1000 * 2.5,
                "%s %s: no hole in the history across the outage (largest step %d ms)"
                % (c, name, max(gaps)))
        n_states = db.execute(
            "SELECT count(*) FROM port_state ps JOIN ports p ON p.id = ps.port_id"
            " JOIN switches s ON s.id = p.switch_id JOIN agents a ON a.id = s.agent_id"
            " WHERE a.name = ? GROUP BY ps.port_id ORDER BY count(*) DESC LIMIT 1", (c,)).fetchone()[0]
        h.check(n_states == 1, "%s: every port still has a single state interval (max %d)"
                % (c, n_states))
    db.close()


if __name__ == "__main__":
    h.run_test(main)
