#!/usr/bin/env python3
"""A port drops from 1000 to 10 Mbps mid-run (snmpset on the simulated
switch): the collector shows the new speed with a new `since`, and
port_state holds exactly two intervals for that port, the old one closed
where the new one starts; every other port keeps a single interval.
"""
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402

POLL = 2
IFX_HIGH_SPEED = "1.3.6.1.2.1.31.1.1.1.15"
IF_SPEED = "1.3.6.1.2.1.2.2.1.5"


def find_port_id(db, if_name, if_index):
    """port_id of the port in a one-school, one-switch county.  The schema
    of the ports table is the C side's business: look for a table with an
    if_index (or if_name) column and an id column."""
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    for t in tables:
        if t == "port_state":
            continue
        cols = [r[1] for r in db.execute("PRAGMA table_info(%s)" % t)]
        idcol = "port_id" if "port_id" in cols else ("id" if "id" in cols else None)
        if idcol is None:
            continue
        if "if_index" in cols:
            rows = db.execute("SELECT %s FROM %s WHERE if_index = ?" % (idcol, t), (if_index,)).fetchall()
        elif "if_name" in cols:
            rows = db.execute("SELECT %s FROM %s WHERE if_name = ?" % (idcol, t), (if_name,)).fetchall()
        else:
            continue
        if len(rows) == 1:
            return rows[0][0], "%s.%s" % (t, idcol)
    return None, "no table maps if_index/if_name to a port id (tables: %s)" % tables


def state_rows(db):
    rows = db.execute("SELECT port_id, t_start, t_end, admin, oper, speed_mbps, duplex "
                      "FROM port_state ORDER BY port_id, t_start").fetchall()
    out = {}
    for r in rows:
        out.setdefault(r[0], []).append(r)
    return out


def main():
    h.require_programs("snmpget", "snmpset", "snmpbulkwalk")
    h.binaries()
    wd = h.Workdir(prefix="schoolnet-state-")
    county = h.County(wd, schools=1, seed=3, poll_interval=POLL)
    school = county.manifest["schools"][0]
    sw = school["switches"][0]
    target = next(i for i in sw["interfaces"] if i["role"] == "classroom" and i["oper"] == "up"
                  and i["speed_mbps"] == 1000 and i["duplex"] == "full" and not i["fault"])
    x = target["if_index"]
    h.step("school %s, target %s (ifIndex %d, %s)" % (school["code"], target["if_name"], x, target["room"]))
    county.start()

    def port(ps):
        return next((p for p in ps if p["switch"] == "access1" and p["if_index"] == x), None)

    def rated():
        p = port(county.ports()["ports"])
        if p and isinstance(p.get("in_bps"), (int, float)):
            return p
        raise h.NotYet(h._short(p))
    before = h.wait_until(rated, 8 * POLL + 20, "two polls of %s" % target["if_name"])
    h.check(before["speed_mbps"] == 1000 and before["oper"] == "up",
            "before: %s up at 1000 Mbps" % target["if_name"], h._short(before))
    since0 = h.parse_iso(before["since"])

    h.step("snmpset ifHighSpeed.%d = 10 (and ifSpeed = 10 Mbit/s, as a real switch would)" % x)
    t_set = time.time()
    county.snmpsim.set(sw["community"], ("%s.%d" % (IFX_HIGH_SPEED, x), "u", 10),
                       ("%s.%d" % (IF_SPEED, x), "u", 10000000))
    h.check(county.snmpsim.get(sw["community"], "%s.%d" % (IFX_HIGH_SPEED, x)) == "10",
            "the simulated switch now answers ifHighSpeed = 10")

    def changed():
        p = port(county.ports()["ports"])
        if p and p["speed_mbps"] == 10:
            return p
        raise h.NotYet(h._short(p))
    after = h.wait_until(changed, 4 * POLL + 15, "`ports --json` to show %s at 10 Mbps" % target["if_name"])
    since1 = h.parse_iso(after["since"])
    h.check(since1 > since0, "since moved forward (%s -> %s)" % (before["since"], after["since"]))
    h.check(since1 >= t_set - POLL - 1, "new since is not before the change (set at %s)"
            % time.strftime("%H:%M:%S", time.gmtime(t_set)))
    h.check(after["oper"] == "up" and after["duplex"] == "full", "still up, full duplex")

    # Let a couple more polls land: they must not add rows.
    time.sleep(2 * POLL + 1)
    db = sqlite3.connect("file:%s?mode=ro" % county.db, uri=True, timeout=10)
    try:
        pid, how = find_port_id(db, target["if_name"], x)
        rows = state_rows(db)
    finally:
        db.close()
    if pid is None:
        # Fall back: the only port whose history went 1000 -> 10.
        cands = [k for k, v in rows.items() if [r[5] for r in v] == [1000, 10]]
        h.check(len(cands) == 1, "port_state: exactly one port went 1000 -> 10 (%s)" % how,
                "candidates %s" % cands)
        pid = cands[0]
    h.step("port_state rows for port_id %s (%s)" % (pid, how))
    mine = rows.get(pid, [])
    for r in mine:
        print("    ", r)
    h.check(len(mine) == 2, "exactly 2 port_state rows for the changed port", h._short(mine))
    old, new = mine
    h.check(old[5] == 1000 and new[5] == 10, "speeds 1000 then 10")
    h.check(old[2] is not None and old[2] == new[1],
            "t_end(old) == t_start(new) (%s, %s)" % (old[2], new[1]))
    h.check(old[1] < new[1], "t_start(old) < t_start(new)")
    h.check(abs(new[1] / 1000.0 - since1) < 1.5, "ports --json since matches t_start(new)")
    h.check(t_set * 1000 - (POLL + 1) * 1000 <= new[1] <= time.time() * 1000,
            "t_start(new) lies between the snmpset and now")
    others = {k: len(v) for k, v in rows.items() if k != pid}
    h.check(len(others) == len(sw["interfaces"]) - 1,
            "port_state has rows for all %d other ports" % (len(sw["interfaces"]) - 1),
            "got %d" % len(others))
    multi = {k: n for k, n in others.items() if n != 1}
    h.check(not multi, "every other port has exactly one port_state row", h._short(multi))


if __name__ == "__main__":
    h.run_test(main)
