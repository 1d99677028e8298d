#!/usr/bin/env python3
"""Recording rooms end to end in the network lab (tests/sim/netlab.py): a
one-school County with the collector in the "district" namespace, and in
the "school" namespace snmpsimd (the school's switch), the agent and two
recording hosts from Debian's packages:
  - 录播室: busybox httpd, inventory probe http://SCHOOL:PORT/;
  - 录播室2 (on an office port of the same switch, up at 1000 Mbps): the
    gst-rtsp-server, inventory probe rtsp://SCHOOL:PORT/stream.
The collector sends the agent CHECKS for both ([probe] check_interval = 2
s, check_timeout = 2 s); the calendar makes every hour a school hour;
alerts raise and clear after 2 checks.

Checks, each with the figures it saw:
  - both hosts up: both rooms available in `recording --school CODE --json`
    and GET /api/v1/recording, and their newest recording_state rows say
    available (host ok, port ok, HTTP/RTSP status 200);
  - both servers stopped: both rooms unavailable (listing, API, rows with
    the check's error) and recording_unavailable open for each (key
    "recording_unavailable inventory ID", role recording, the room, detail
    "host: ...") in `alerts --json`, GET /api/v1/alerts and the table;
  - both started again: available again and both alerts cleared.
The latency and loss alerts (latency_high, loss_high) are checked where
the latency rounds are, in test_probe_latency.py.

Traffic stays inside the lab's two namespaces.  Skips (77) without
network namespaces (not root), snmpsimd, busybox, the GStreamer RTSP
server or the built binaries.  About 60 s.
"""
import csv
import json
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402
import netlab  # noqa: E402

POLL = 2
CHECK_INTERVAL = 2
ROOM_HTTP = "录播室"
ROOM_RTSP = "录播室2"
TEXT = "recording host 录播室 OK"
# Both rooms change state within raise_after checks plus one interval, the
# CHECKS frame and a poll of the port: 20 s is generous.
CHANGE_S = 20


def ro(path):
    return sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)


def query(db_path, sql, args=()):
    db = ro(db_path)
    try:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute(sql, args)]
    finally:
        db.close()


def api_get(lab, port, token, path):
    rc, status, body = netlab.curl(lab.district, "http://127.0.0.1:%d%s" % (port, path),
                                   timeout=10, extra=["-H", "Authorization: Bearer " + token])
    if rc != 0 or status != 200:
        raise h.TestFailure("GET %s: curl exit %d, HTTP %d: %s" % (path, rc, status, body[-500:]))
    return json.loads(body)


def find_rows(obj, key):
    """Every dict in a JSON answer that has `key` (listings nest their rows)."""
    out = []
    if isinstance(obj, dict):
        if key in obj:
            out.append(obj)
        for v in obj.values():
            out += find_rows(v, key)
    elif isinstance(obj, list):
        for v in obj:
            out += find_rows(v, key)
    return out


def write_inventory(county, school, web, cam):
    """The generated inventory with the recording room's probe set to the
    HTTP host, and a second recording room (an office port) with the RTSP
    host."""
    with open(county.manifest["inventory"], encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    mine = [r for r in rows if r["school_code"] == school["code"]]
    rec = [r for r in mine if r["role"] == "recording"]
    h.check(len(rec) == 1, "school %s (a town seat) has one recording room in the inventory"
            % school["code"], str(rec))
    rec[0]["probe"] = web.url
    office = next(i for i in school["switches"][0]["interfaces"]
                  if i["role"] == "office" and i["oper"] == "up" and i["speed_mbps"] >= 100)
    extra = dict(rec[0], room=ROOM_RTSP, port=office["if_name"], probe=cam.url)
    rows.append(extra)
    path = os.path.join(county.wd.path, "inventory-recording.csv")
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path, {ROOM_HTTP: rec[0]["port"], ROOM_RTSP: office["if_name"]}


def newest_states(db_path, ids):
    """{inventory id: newest recording_state row}"""
    out = {}
    for i in ids:
        r = query(db_path, "SELECT * FROM recording_state WHERE inventory_id = ? "
                  "ORDER BY t_start DESC, id DESC LIMIT 1", (i,))
        out[i] = r[0] if r else None
    return out


def main():
    h.require_programs("ip", "tc", "busybox", "setpriv", "curl", "snmpget", h.SNMPSIMD)
    h.binaries()
    if os.geteuid() != 0:
        raise h.Skip("network namespaces need root (running as uid %d)" % os.geteuid())
    wd = h.Workdir(prefix="schoolnet-lab-recording-")
    with netlab.Lab(workdir=wd.sub("lab")) as lab:
        web = lab.http_server("school", text=TEXT)
        cam = lab.rtsp_server("school", path="/stream")
        http_port = lab.district.free_port()
        county = h.County(wd, schools=1, poll_interval=POLL, timeout=1, retries=1, lab=lab,
                          probe={"targets": "none"},
                          collector_extra={"http": "127.0.0.1:%d" % http_port},
                          collector_probe={"listen": "off", "throughput_every": 0,
                                           "check_interval": CHECK_INTERVAL,
                                           "check_timeout": 2})
        school = county.manifest["schools"][0]
        code = school["code"]
        calendar = wd.file("calendar.conf")
        with open(calendar, "w", encoding="utf-8") as f:
            f.write("[calendar]\nname = test: school hours around the clock\n"
                    "[hours]\ndefault = daily 00:00-24:00\n")
        with open(county.conf, "a", encoding="utf-8") as f:
            f.write("\n[policy]\ncalendar = %s\n"
                    "\n[alerts]\nraise_after = 2\nclear_after = 2\n" % calendar)
        inventory, ports = write_inventory(county, school, web, cam)
        county.start_snmpsim()
        county.start_collector()
        h.collector_cli(county, "import", inventory)
        token = h.api_token(county, "lab-recording")
        agent = county.start_agent(code)
        logs = [county.collector, agent]
        inv = {r["room"]: r for r in query(
            county.db, "SELECT * FROM inventory WHERE school_code = ? AND role = 'recording' "
            "AND valid_to IS NULL", (code,))}
        h.check(sorted(inv) == sorted([ROOM_HTTP, ROOM_RTSP])
                and inv[ROOM_HTTP]["probe"] == web.url and inv[ROOM_RTSP]["probe"] == cam.url,
                "inventory: %s" % ", ".join("%s (id %d, %s) %s" % (rm, r["id"], r["port"],
                                                                  r["probe"])
                                            for rm, r in sorted(inv.items())), str(inv))
        ids = {rm: r["id"] for rm, r in inv.items()}
        h.step("lab %s: collector %s, agent and recording hosts in %s (%s, %s)"
               % (lab.tag, county.collector_addr, lab.school.addr, web.url, cam.url))

        def rooms_are(available, since_ms):
            """Both rooms `available` (bool) in the listing, the API and
            their newest recording_state rows (started after since_ms when
            the state is to change); returns a description or NotYet."""
            listing = h.collector_json(county.collector_bin, county.conf, "recording",
                                       "--school", code)
            api = api_get(lab, http_port, token, "/api/v1/recording?school=" + code)
            got = {}
            for what, j in (("listing", listing), ("api", api)):
                rows = {x.get("room"): x for x in find_rows(j, "available")}
                for rm in ids:
                    if rm not in rows or bool(rows[rm]["available"]) != available:
                        raise h.NotYet("%s: %s" % (what, json.dumps(j, ensure_ascii=False)[:1500]))
                got[what] = rows
            states = newest_states(county.db, ids.values())
            for rm, i in ids.items():
                s = states[i]
                if s is None or bool(s["available"]) != available or s["t_start"] < since_ms:
                    raise h.NotYet("recording_state %s: %s" % (rm, s))
            return "; ".join(
                "%s: %s %s" % (rm, "available" if available else "unavailable",
                               "status %s in %s ms" % (states[i]["status"], states[i]["time_ms"])
                               if available else repr(states[i]["error"]))
                for rm, i in sorted(ids.items()))

        def alerts(open_only):
            a = h.collector_json(county.collector_bin, county.conf, "alerts",
                                 *(["--open"] if open_only else []), "--school", code)["alerts"]
            return [x for x in a if x["cause"] == "recording_unavailable"]

        h.step("both recording hosts up")
        seen = h.wait_until(lambda: rooms_are(True, 0), CHANGE_S + 20, "both rooms available",
                            interval=0.5, logs=logs)
        h.check(True, seen)
        states = newest_states(county.db, ids.values())
        h.check(all(s["host_ok"] == 1 and s["port_ok"] == 1 and s["status"] == 200
                    for s in states.values()),
                "recording_state: host ok, port ok, status 200 (%s)"
                % ", ".join("%s %d ms" % (rm, states[i]["time_ms"]) for rm, i in ids.items()),
                str(states))

        def none_open():
            a = alerts(True)
            if a:  # a check before the first poll knew the ports: it clears
                raise h.NotYet("open: %s" % h._short(a))
            return True
        h.wait_until(none_open, CHANGE_S, "no recording_unavailable alert open", interval=0.5,
                     logs=logs)
        h.check(True, "no recording_unavailable alert open")

        h.step("both servers stopped")
        t_stop = int(time.time() * 1000)
        web.stop()
        cam.stop()
        t0 = time.monotonic()
        seen = h.wait_until(lambda: rooms_are(False, t_stop - 1000), CHANGE_S,
                            "both rooms unavailable", interval=0.5, logs=logs)
        h.check(True, "after %.1f s: %s" % (time.monotonic() - t0, seen))
        states = newest_states(county.db, ids.values())
        h.check(all(s["host_ok"] == 0 and s["port_ok"] == 1 and s["error"]
                    for s in states.values()),
                "recording_state: host not ok, port still ok, the check's error kept", str(states))

        def opened():
            a = {x["room"]: x for x in alerts(True)}
            api = {x["room"]: x for x in api_get(lab, http_port, token,
                                                  "/api/v1/alerts?open=1&school=" + code)["alerts"]
                   if x["cause"] == "recording_unavailable"}
            db = {r["key"]: r for r in query(county.db, "SELECT * FROM alerts WHERE cause = "
                                             "'recording_unavailable' AND cleared_at IS NULL")}
            if sorted(a) != sorted(ids) or sorted(api) != sorted(ids) or len(db) != 2:
                raise h.NotYet("cli %s api %s db %s" % (sorted(a), sorted(api), sorted(db)))
            return a, db
        cli_open, db_open = h.wait_until(opened, CHANGE_S, "recording_unavailable for both rooms",
                                         interval=0.5, logs=logs)
        for rm, i in sorted(ids.items()):
            a = cli_open[rm]
            key = "recording_unavailable inventory %d" % i
            h.check(key in db_open and db_open[key]["id"] == a["id"] and a["role"] == "recording"
                    and a["port"] == ports[rm] and a["detail"].startswith("host:"),
                    "%s: alert %d open, key %r, port %s, detail %r"
                    % (rm, a["id"], key, a["port"], a["detail"]),
                    "%s\n%s" % (h._short(a), db_open))

        h.step("both servers started again")
        t_start = int(time.time() * 1000)
        web.start()
        cam.start()
        t0 = time.monotonic()
        seen = h.wait_until(lambda: rooms_are(True, t_start - 1000), CHANGE_S,
                            "both rooms available again", interval=0.5, logs=logs)
        h.check(True, "after %.1f s: %s" % (time.monotonic() - t0, seen))

        def cleared():
            a = alerts(True)
            db = query(county.db, "SELECT id FROM alerts WHERE cause = 'recording_unavailable' "
                       "AND cleared_at IS NULL")
            if a or db:
                raise h.NotYet("open: cli %s db %s" % ([x["id"] for x in a], db))
            return alerts(False)
        closed = h.wait_until(cleared, CHANGE_S, "recording_unavailable cleared", interval=0.5,
                              logs=logs)
        h.check(sorted(x["room"] for x in closed) == sorted(ids),
                "both alerts cleared (%s)" % ", ".join("%d at %s" % (x["id"], x["cleared_at"])
                                                       for x in closed), str(closed))
        history = query(county.db, "SELECT inventory_id, available, t_start, t_end, error "
                        "FROM recording_state ORDER BY inventory_id, t_start")
        for rm, i in sorted(ids.items()):
            seq = [r["available"] for r in history if r["inventory_id"] == i]
            h.check(seq[-3:] == [1, 0, 1],
                    "%s: intervals available %s (the newest three: up, down, up)" % (rm, seq),
                    str(history))
        agent_rc = agent.stop()
        coll_rc = county.collector.stop()
        h.check(agent_rc == 0 and coll_rc == 0,
                "agent and collector exited 0 (%s, %s)" % (agent_rc, coll_rc))


if __name__ == "__main__":
    h.run_test(main)
