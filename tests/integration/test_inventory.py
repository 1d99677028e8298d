#!/usr/bin/env python3
"""The inventory CSV: `import` applies it as a diff with history, rejects a
bad file whole, `export` writes it back (BOM, CRLF) so that re-importing is
a no-op, `--dry-run` changes nothing, and with agents running the imported
rows map onto the ports the agents report (`port_map`).
"""
import csv
import hashlib
import os
import re
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402

SUMMARY = re.compile(r"^(?P<file>.+): (?P<rows>\d+) rows; (?P<schools>\d+) schools; "
                     r"(?P<added>\d+) added, (?P<removed>\d+) removed, "
                     r"(?P<unchanged>\d+) unchanged(?P<dry> \(dry run: nothing written\))?$", re.M)
SCHOOLS = re.compile(r"^schools: (\d+) added, (\d+) removed, (\d+) changed, (\d+) unchanged$", re.M)
HEADER = ["town", "school_code", "school_name", "school_type", "town_seat", "role", "room",
          "switch", "port", "probe"]


def collector(bin, conf, *args):
    r = subprocess.run([bin, "-c", conf] + list(args), capture_output=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def import_ok(bin, conf, path, *opts):
    """Import path (must succeed); return the summary numbers."""
    rc, out, err = collector(bin, conf, "import", *opts, path)
    h.check(rc == 0, "import %s%s exits 0" % (" ".join(opts) + " " if opts else "",
                                                os.path.basename(path)),
            "exit %d\nstdout: %s\nstderr: %s" % (rc, out[-2000:], err[-2000:]))
    m = SUMMARY.search(out)
    s = SCHOOLS.search(out)
    h.check(m is not None and s is not None, "import prints its summary", out[-2000:])
    got = {k: int(m.group(k)) for k in ("rows", "schools", "added", "removed", "unchanged")}
    got["dry"] = m.group("dry") is not None
    got["s_added"], got["s_removed"], got["s_changed"], got["s_unchanged"] = map(int, s.groups())
    got["out"] = out
    return got


def read_rows(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == HEADER, rows[0]
    return [dict(zip(HEADER, r)) for r in rows[1:]]


def write_rows(path, rows, bom=False, crlf=False):
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n" if crlf else "\n")
        w.writerow(HEADER)
        for r in rows:
            w.writerow([r[k] for k in HEADER])


def db_connect(path):
    return sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=30)


def dump(path):
    """Everything the inventory tables hold, in a fixed order."""
    db = db_connect(path)
    try:
        return {t: db.execute("SELECT * FROM %s ORDER BY 1, 2, 3" % t).fetchall()
                for t in ("schools", "school_history", "inventory", "imports")}
    finally:
        db.close()


def file_hashes(db):
    out = {}
    for p in (db, db + "-wal"):
        if os.path.exists(p):
            with open(p, "rb") as f:
                out[p] = hashlib.sha256(f.read()).hexdigest()
    return out


def current(path):
    """{(school, switch, port): (id, role, room, probe, valid_from)}"""
    db = db_connect(path)
    try:
        return {(r[1], r[2], r[3]): (r[0], r[4], r[5], r[6], r[7]) for r in db.execute(
            "SELECT id, school_code, switch, port, role, room, probe, valid_from"
            " FROM inventory WHERE valid_to IS NULL")}
    finally:
        db.close()


def key(r):
    return (r["school_code"], r["switch"], r["port"])


def room(r):
    return r["room"] or "出口"


def part_import(wd, coll):
    m = h.gen_county.generate(wd.sub("county"), h.free_port("udp"), "127.0.0.1:1",
                              schools=12, seed=3)
    conf, db, inv = m["collector_conf"], m["database"], m["inventory"]
    rows = read_rows(inv)
    codes = sorted({r["school_code"] for r in rows})
    h.check(len(codes) == 12 and not os.path.exists(db),
            "county: 12 schools, %d inventory rows, no database yet" % len(rows))

    h.step("--dry-run against no database: every row would be added, nothing is written")
    s = import_ok(coll, conf, inv, "--dry-run")
    h.check(s["dry"] and s["added"] == len(rows) and s["s_added"] == 12,
            "dry run: %d rows would be added, 12 schools" % len(rows), s["out"][-1500:])
    h.check(not os.path.exists(db), "the dry run created no database")

    h.step("import into a fresh database")
    s = import_ok(coll, conf, inv)
    h.check((s["rows"], s["schools"], s["added"], s["removed"], s["unchanged"], s["dry"])
            == (len(rows), 12, len(rows), 0, 0, False),
            "summary: %d rows; 12 schools; %d added, 0 removed, 0 unchanged" % (len(rows), len(rows)),
            s["out"])
    h.check(s["out"].startswith("%s: %d rows; 12 schools; %d added, 0 removed, 0 unchanged\n"
                                % (inv, len(rows), len(rows))),
            "the summary names the file", s["out"])
    d = dump(db)
    cur = current(db)
    want = {key(r): (r["role"], room(r), r["probe"]) for r in rows}
    h.check({k: v[1:4] for k, v in cur.items()} == want,
            "the current inventory is the file's %d rows (uplinks in 网络机房)" % len(rows))
    h.check(len(d["inventory"]) == len(rows), "no other inventory rows")
    t0 = d["imports"][0][1] if d["imports"] else None
    h.check(len(d["imports"]) == 1 and d["imports"][0][2:] == (inv, len(rows), len(rows), 0, 0),
            "imports records the run (file, rows, added, removed, unchanged)", d["imports"])
    h.check(all(v[4] == t0 for v in cur.values()), "every row valid_from = the import time")
    want_schools = sorted({(r["school_code"], r["school_name"], r["town"], r["school_type"],
                            1 if r["town_seat"] == "yes" else 0) for r in rows})
    h.check(sorted(x[:5] for x in d["schools"]) == want_schools
            and all(x[5] == t0 and x[6] is None for x in d["schools"]),
            "schools: 12 rows with name, town, type, town_seat; added_at set, removed_at NULL",
            d["schools"][:3])
    h.check(sorted(x[:5] for x in d["school_history"]) == want_schools
            and all(x[5] == t0 and x[6] is None for x in d["school_history"]),
            "school_history: one open version per school")

    h.step("a file with one bad row among good ones is refused whole")
    before, hashes = dump(db), file_hashes(db)
    bad = [dict(r) for r in rows]
    bad[8]["role"] = "office"        # line 10 of the file
    bad[20]["room"] = "新教室"       # a good change that must not land either
    bad_path = wd.file("bad.csv")
    write_rows(bad_path, bad)
    rc, out, err = collector(coll, conf, "import", bad_path)
    h.check(rc == 1, "import of the bad file exits 1 (got %d)" % rc, err)
    h.check(err.startswith("%s:10: unknown role 'office' (use uplink, classroom or recording)\n"
                           % bad_path),
            "the error names the file and line 10", err)
    h.check("nothing imported" in err and SUMMARY.search(out) is None,
            "it says nothing was imported", out + err)
    h.check(dump(db) == before and file_hashes(db) == hashes,
            "the database is unchanged (tables and file bytes)")

    h.step("re-import: a classroom moved, a school removed, one added, one renamed")
    new = [dict(r) for r in rows]
    s001 = [r for r in new if r["school_code"] == "s001"]
    used = {r["port"] for r in s001}
    ifaces = m["schools"][0]["switches"][0]["interfaces"]
    spare = next(i["if_name"] for i in ifaces if i["role"] == "unused" and i["if_name"] not in used)
    moved = next(r for r in s001 if r["role"] == "classroom")
    old_key = key(moved)
    moved["port"] = spare
    gone = [r for r in new if r["school_code"] == "s012"]
    new = [r for r in new if r["school_code"] != "s012"]
    for r in new:
        if r["school_code"] == "s002":
            r["school_name"] = "石桥镇第一初级中学"
    added = [{"town": "龙泉镇", "school_code": "s013", "school_name": "龙泉镇新建小学",
              "school_type": "小学", "town_seat": "否", "role": role, "room": rm,
              "switch": "access1", "port": port, "probe": probe}
             for role, rm, port, probe in (
                 ("uplink", "", "XGigabitEthernet0/0/1", ""),
                 ("classroom", "一年级1班", "GigabitEthernet0/0/1", ""),
                 ("recording", "录播室", "GigabitEthernet0/0/2", "rtsp://10.9.0.2:554/live"))]
    new += added
    new_path = wd.file("second.csv")
    write_rows(new_path, new, bom=True, crlf=True)
    s = import_ok(coll, conf, new_path)
    unchanged = len(rows) - 1 - len(gone)
    h.check((s["rows"], s["schools"], s["added"], s["removed"], s["unchanged"])
            == (len(new), 12, 1 + len(added), 1 + len(gone), unchanged),
            "summary: %d added, %d removed, %d unchanged" % (1 + len(added), 1 + len(gone), unchanged),
            s["out"])
    h.check((s["s_added"], s["s_removed"], s["s_changed"], s["s_unchanged"]) == (1, 1, 1, 10),
            "schools: 1 added, 1 removed, 1 changed, 10 unchanged", s["out"])
    d = dump(db)
    t1 = d["imports"][-1][1]
    h.check(len(d["imports"]) == 2 and t1 > t0, "the second run is in imports")
    cur2 = current(db)
    h.check({k: v[1:4] for k, v in cur2.items()} == {key(r): (r["role"], room(r), r["probe"])
                                                      for r in new},
            "the current inventory is the second file")
    by_id = {r[0]: r for r in d["inventory"]}
    old = by_id[cur[old_key][0]]
    h.check(old[8] == t1 and old[7] == t0, "the moved classroom's old row is closed (valid_to)")
    nk = (moved["school_code"], moved["switch"], spare)
    h.check(nk in cur2 and cur2[nk][4] == t1 and cur2[nk][2] == moved["room"],
            "its new row on %s opened (valid_from) with the same room" % spare)
    untouched = [k for k in cur if k != old_key and k[0] != "s012"]
    h.check(all(cur2[k] == cur[k] for k in untouched),
            "the %d unchanged rows are untouched (same id, valid_from)" % len(untouched))
    h.check(all(by_id[cur[key(r)][0]][8] == t1 for r in gone),
            "the removed school's %d rows are closed" % len(gone))
    h.check(all(cur2[key(r)][4] == t1 for r in added), "the new school's rows opened")
    sch = {x[0]: x for x in d["schools"]}
    h.check(sch["s012"][6] == t1, "schools.removed_at set for s012", sch["s012"])
    h.check(sch["s013"][5] == t1 and sch["s013"][6] is None and sch["s013"][4] == 0,
            "s013 added (added_at, town_seat 否 = 0)", sch["s013"])
    h.check(sch["s002"][1] == "石桥镇第一初级中学" and sch["s002"][5] == t0,
            "s002 renamed in place", sch["s002"])
    hist = {}
    for x in d["school_history"]:
        hist.setdefault(x[0], []).append(x)
    h.check(sorted((x[1], x[5], x[6]) for x in hist["s002"])
            == sorted([(rows_name(rows, "s002"), t0, t1),
                       ("石桥镇第一初级中学", t1, None)]),
            "school_history of s002: old name closed, new name open", hist["s002"])
    h.check([(x[5], x[6]) for x in hist["s012"]] == [(t0, t1)], "school_history of s012 closed")
    h.check([(x[5], x[6]) for x in hist["s013"]] == [(t1, None)], "school_history of s013 opened")
    h.check(all(len(v) == 1 and v[0][6] is None for c, v in hist.items()
                if c not in ("s002", "s012", "s013")),
            "the other schools' history is untouched")

    h.step("export, then re-import the export: nothing changes")
    out_path = wd.file("export.csv")
    rc, out, err = collector(coll, conf, "export", "-o", out_path)
    h.check(rc == 0, "export -o exits 0", err)
    with open(out_path, "rb") as f:
        raw = f.read()
    h.check(raw.startswith(b"\xef\xbb\xbf" + ",".join(HEADER).encode() + b"\r\n"),
            "the export starts with the UTF-8 BOM and the header", raw[:120])
    h.check(raw.endswith(b"\r\n") and raw.count(b"\n") == raw.count(b"\r\n")
            and raw.count(b"\r") == raw.count(b"\r\n"),
            "every line of the export ends in CRLF")
    stdout_bytes = subprocess.run([coll, "-c", conf, "export"], capture_output=True,
                                  timeout=60).stdout
    h.check(stdout_bytes == raw, "export without -o writes the same to stdout")
    exp = read_rows(out_path)
    h.check(len(exp) == len(new) and {key(r): (r["role"], r["room"], r["probe"]) for r in exp}
            == {key(r): (r["role"], room(r), r["probe"]) for r in new},
            "the export holds the current %d rows" % len(new))
    order = [(r["town"], r["school_code"], {"uplink": 0, "recording": 1}.get(r["role"], 2),
              r["room"].encode()) for r in exp]
    h.check(order == sorted(order), "ordered by town, school, role (uplink, recording, "
            "classroom), room")
    before = dump(db)
    s = import_ok(coll, conf, out_path)
    h.check((s["added"], s["removed"], s["unchanged"], s["s_added"], s["s_removed"], s["s_changed"])
            == (0, 0, len(new), 0, 0, 0),
            "re-importing the export: 0 added, 0 removed, %d unchanged" % len(new), s["out"])
    after = dump(db)
    h.check(after["inventory"] == before["inventory"] and after["schools"] == before["schools"]
            and after["school_history"] == before["school_history"]
            and len(after["imports"]) == len(before["imports"]) + 1,
            "only the imports table gained a row")

    h.step("--dry-run prints what would change and writes nothing")
    before, hashes = dump(db), file_hashes(db)
    s = import_ok(coll, conf, inv, "--dry-run")
    h.check(s["dry"] and (s["added"], s["removed"]) == (1 + len(gone), 1 + len(added)),
            "dry run of the first file: %d would be added, %d removed"
            % (1 + len(gone), 1 + len(added)), s["out"][-1500:])
    h.check("add %s/%s/%s: classroom" % old_key in s["out"]
            and "remove school s013" in s["out"],
            "it lists the changes", s["out"][-1500:])
    h.check(dump(db) == before, "the inventory tables are unchanged")


def rows_name(rows, code):
    return next(r["school_name"] for r in rows if r["school_code"] == code)


def part_agents(wd):
    h.step("with agents running: imported rows map onto the reported ports")
    county = h.County(wd, schools=2, seed=5, poll_interval=2).start()
    expected = county.expected()

    def all_ports():
        have = {(p["school"], p["switch"], p["if_index"]) for p in county.ports()["ports"]}
        missing = set(expected) - have
        if missing:
            raise h.NotYet("%d of %d ports not reported yet" % (len(missing), len(expected)))
        return True
    h.wait_until(all_ports, 60, "every simulated port in `ports --json`",
                 logs=[county.collector])
    rows = read_rows(county.manifest["inventory"])
    s = import_ok(county.collector_bin, county.conf, county.manifest["inventory"])
    h.check(s["added"] == len(rows), "import while the collector writes: %d rows added"
            % len(rows), s["out"])
    names = {(k[0], k[1], i["if_name"]) for k, i in expected.items()}
    exist = [r for r in rows if key(r) in names]
    h.check(len(exist) == len(rows), "every inventory row names a simulated port")
    db = db_connect(county.db)
    try:
        n = db.execute("SELECT count(*) FROM port_map").fetchone()[0]
        bad = db.execute("SELECT m.school_code, m.port, p.if_name FROM port_map m"
                         " JOIN ports p ON p.id = m.port_id WHERE p.if_name != m.port").fetchall()
    finally:
        db.close()
    h.check(n == len(exist), "port_map has %d rows, one per inventory row (got %d)"
            % (len(exist), n))
    h.check(not bad, "each maps to the port of that name", bad[:5])
    h.check(county.collector.alive(), "the collector kept running")
    rc = county.collector.stop()
    h.check(rc == 0, "collector exits 0 on SIGTERM (got %s)" % rc, county.collector.tail(15))


def main():
    h.require_programs("snmpget")
    _agent, coll = h.binaries()
    wd = h.Workdir(prefix="schoolnet-inventory-")
    part_import(wd, coll)
    part_agents(h.Workdir(prefix="schoolnet-inventory-agents-"))


if __name__ == "__main__":
    h.run_test(main)
