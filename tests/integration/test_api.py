#!/usr/bin/env python3
"""The collector's HTTP interface against a running simulated county.

Real parts: snmpsimd switches, the agents, the collector with its HTTP
server on a loopback port, tokens made with `schoolnet-collector tokens`,
and Prometheus' own parser (`promtool check metrics`, Debian's prometheus
package) for /metrics.

Checks:
- /healthz answers without a token; everything else refuses a missing,
  garbled or revoked token with 401 (and WWW-Authenticate), logged with the
  peer's address;
- the API's schools, one school, ports, agents and open alerts are the
  same as the command line's JSON;
- acknowledging an alert: 403 for a read-only token, 200 for an admin one
  (the CLI then shows who), 409 the second time, 404 for no such alert;
  an oversized body gets 413; a wrong method 405;
- /metrics passes promtool, and every inventory port's port_at_target
  agrees with `ports --json` (1 for "ok", 0 for "below"); the collector's
  own figures count the agents' connections.
"""
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402


cli = h.collector_cli
token = h.api_token


class Api:
    def __init__(self, port):
        self.base = "http://127.0.0.1:%d" % port

    def call(self, path, tok=None, method="GET", body=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if tok:
            req.add_header("Authorization", "Bearer " + tok)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def json(self, path, tok, **kw):
        status, _, body = self.call(path, tok, **kw)
        if status != 200:
            raise h.TestFailure("GET %s: %d %s" % (path, status, body[:300]))
        return json.loads(body)


def main():
    h.require_programs("promtool")
    wd = h.Workdir(prefix="schoolnet-api-")
    county = h.County(wd, schools=2, seed=3, poll_interval=2)
    port = h.free_port("tcp")
    with open(county.conf, encoding="utf-8") as f:
        text = f.read()
    calendar = wd.file("calendar.conf")
    with open(calendar, "w", encoding="utf-8") as f:
        f.write("[calendar]\nname = around the clock\n[hours]\ndefault = daily 00:00-24:00\n")
    with open(county.conf, "w", encoding="utf-8") as f:
        f.write(text.replace("[collector]\n", "[collector]\nhttp = 127.0.0.1:%d\n" % port, 1)
                + "\n[policy]\ncalendar = %s\n" % calendar)
    api = Api(port)

    h.step("tokens")
    viewer = token(county, "viewer")
    boss = token(county, "boss", "admin")
    gone = token(county, "gone")
    cli(county, "tokens", "revoke", "gone")
    listed = json.loads(cli(county, "tokens", "list", "--json"))["tokens"]
    h.check(sorted((t["name"], t["role"]) for t in listed)
            == [("boss", "admin"), ("gone", "read"), ("viewer", "read")],
            "tokens list --json: names and roles", listed)
    h.check(all("hash" not in t for t in listed) and any(t["revoked_at"] for t in listed),
            "no hash listed; the revoked one says when")

    county.start_snmpsim()
    county.start_collector()
    cli(county, "import", county.manifest["inventory"])
    county.start_agents()
    h.wait_until(lambda: h.tcp_listening(port), 20, "the HTTP interface to listen",
                 logs=[county.collector])
    faults = len(county.manifest["faults"])

    def alerted():
        alerts = json.loads(cli(county, "alerts", "--open", "--json"))["alerts"]
        if len(alerts) < max(1, faults - 1):
            raise h.NotYet("%d open alerts" % len(alerts))
        return alerts
    h.wait_until(alerted, 60, "the planted faults' alerts", logs=[county.collector])

    h.step("authentication")
    status, _, body = api.call("/healthz")
    h.check(status == 200 and body == b"ok\n", "/healthz: 200 without a token")
    status, _, _ = api.call("/healthz", method="HEAD")
    h.check(status == 200, "HEAD /healthz: 200")
    status, _, _ = api.call("/api/v1/alerts/1/ack", None, "POST", raw=b"x" * 300000)
    h.check(status == 401, "a 300 KB POST without a token: 401 before the body is read")
    req = urllib.request.Request(api.base + "/api/v1/agents")
    req.add_header("Authorization", "bearer " + viewer)
    with urllib.request.urlopen(req, timeout=20) as r:
        h.check(r.status == 200, "the scheme is case-insensitive: 'bearer TOKEN' works")
    for tok, what in ((None, "no token"), ("snt_" + "0" * 40, "an unknown token"),
                      ("garbage", "a garbled token"), (gone, "a revoked token")):
        for path in ("/api/v1/schools", "/metrics"):
            status, headers, body = api.call(path, tok)
            h.check(status == 401 and "Bearer" in headers.get("WWW-Authenticate", ""),
                    "%s with %s: 401 and WWW-Authenticate" % (path, what), (status, body[:200]))
    with open(county.collector.log_path, encoding="utf-8") as f:
        h.check(re.search(r"http 127\.0\.0\.1: GET /api/v1/schools: 401", f.read()) is not None,
                "refusals are logged with the peer's address")

    h.step("the API says what the command line says")
    # The identity of each row (what changes from poll to poll is left out).
    keys = {"schools": ("code", "name", "town", "type"),
            "ports": ("school", "switch", "if_index", "if_name", "role", "room", "target_mbps"),
            "agents": ("name", "school", "software"),
            "switches": ("school", "agent", "switch", "address")}
    for what, fields in keys.items():
        got = api.json("/api/v1/" + what, viewer)[what]
        want = json.loads(cli(county, what, "--json"))[what]
        ident = lambda rows: sorted(tuple(str(r.get(k)) for k in fields) for r in rows)  # noqa: E731
        h.check(want and ident(got) == ident(want),
                "GET /api/v1/%s: the same %d rows as `%s --json`" % (what, len(want), what),
                "api %s\ncli %s" % (ident(got)[:3], ident(want)[:3]))
    # The listings map inventory rows to ports as the port_map view does
    # (they inline it, per school, for speed).
    import sqlite3
    db = sqlite3.connect(county.db)
    view = {(r[0], r[1], r[2]): (r[3], r[4]) for r in db.execute(
        "SELECT a.school, s.name, p.if_index, m.role, m.room FROM port_map m"
        " JOIN ports p ON p.id = m.port_id JOIN switches s ON s.id = p.switch_id"
        " JOIN agents a ON a.id = s.agent_id")}
    db.close()
    for q in ("", "?school=s002"):
        mapped = {(p["school"], p["switch"], p["if_index"]): (p["role"], p["room"])
                  for p in api.json("/api/v1/ports" + q, viewer)["ports"] if p["mapped"]}
        want = {k: v for k, v in view.items() if not q or k[0] == "s002"}
        h.check(mapped == want, "GET /api/v1/ports%s maps the same %d ports to rooms as the port_map view"
                % (q, len(want)))
    rooms = sorted((s["code"], r["switch"], r["port"], r["role"], r["room"])
                   for s in api.json("/api/v1/schools", viewer)["schools"] for r in s["rooms"] if r["seen"])
    h.check(len(rooms) == len(view), "every inventory row the view maps is a seen room in /api/v1/schools (%d)"
            % len(rooms))
    towns = api.json("/api/v1/towns", viewer)
    h.check(towns["district"] == json.loads(cli(county, "towns", "--json"))["district"],
            "GET /api/v1/towns: the same district figures as `towns --json`")
    schools = api.json("/api/v1/schools", viewer)["schools"]
    for t in towns["towns"] + [dict(towns["district"], town=None)]:
        mine = [s for s in schools if t["town"] is None or s["town"] == t["town"]]
        want = {"total": len(mine)}
        for state in ("ok", "below", "unknown"):
            want[state] = sum(s["state"] == state for s in mine)
        h.check(t["schools"] == want
                and t["classrooms"]["below"] == sum(s["classrooms"]["below"] for s in mine)
                and t["schools_below_1g"] == sum(s["meets_gigabit_uplink"] is False for s in mine)
                and t["open_alerts"] == sum(s["open_alerts"] for s in mine),
                "towns: %s sums its %d schools" % (t["town"] or "the district", len(mine)), repr(t))
    one = api.json("/api/v1/schools/s001", viewer)["schools"]
    h.check(len(one) == 1 and one[0]["code"] == "s001", "GET /api/v1/schools/s001: that school")
    status, _, _ = api.call("/api/v1/schools/nope", viewer)
    h.check(status == 404, "GET /api/v1/schools/nope: 404")
    mine = api.json("/api/v1/ports?school=s002", viewer)["ports"]
    h.check(mine and all(p["school"] == "s002" for p in mine),
            "GET /api/v1/ports?school=s002: only its %d ports" % len(mine))
    open_api = api.json("/api/v1/alerts?open=1", viewer)["alerts"]
    open_cli = json.loads(cli(county, "alerts", "--open", "--json"))["alerts"]
    h.check(sorted(a["id"] for a in open_api) == sorted(a["id"] for a in open_cli) and open_api,
            "GET /api/v1/alerts?open=1: the %d open alerts" % len(open_cli))

    h.step("acknowledging an alert")
    aid = open_cli[0]["id"]
    status, _, body = api.call("/api/v1/alerts/%d/ack" % aid, viewer, "POST", {"by": "王老师"})
    h.check(status == 403, "a read-only token may not acknowledge: 403", (status, body[:200]))
    status, _, body = api.call("/api/v1/alerts/%d/ack" % aid, boss, "POST", {"by": "王" * 50})
    h.check(status == 400, "a 150-byte name: 400, nothing stored", (status, body[:200]))
    status, _, body = api.call("/api/v1/alerts/%d/ack" % aid, boss, "POST", {"by": "王老师"})
    h.check(status == 200 and json.loads(body)["by"] == "王老师", "an admin token acknowledges: 200",
            (status, body[:200]))
    acked = [a for a in json.loads(cli(county, "alerts", "--json"))["alerts"] if a["id"] == aid][0]
    h.check(acked.get("acknowledged_by") == "王老师", "the command line shows it acknowledged by 王老师",
            h._short(acked))
    status, _, _ = api.call("/api/v1/alerts/%d/ack" % aid, boss, "POST", {"by": "王老师"})
    h.check(status == 409, "acknowledging again: 409")
    status, _, _ = api.call("/api/v1/alerts/999999/ack", boss, "POST", {})
    h.check(status == 404, "no such alert: 404")
    status, _, _ = api.call("/api/v1/alerts/%d/ack" % aid, boss, "POST", raw=b"x" * 10000)
    h.check(status == 413, "a 10 KB body: 413")
    status, headers, _ = api.call("/api/v1/schools", viewer, "DELETE")
    h.check(status == 405 and "GET" in headers.get("Allow", ""), "DELETE /api/v1/schools: 405 with Allow")
    status, _, _ = api.call("/api/v1/nothing", viewer)
    h.check(status == 404, "an unknown path: 404")

    h.step("the monthly report over HTTP")
    status, headers, body = api.call("/api/v1/report?format=csv&level=school", viewer)
    h.check(status == 200 and body.startswith(b"\xef\xbb\xbf") and b"s001" in body
            and headers.get("Content-Type", "").startswith("text/csv"),
            "GET /api/v1/report?format=csv: this month's CSV with its BOM", (status, body[:200]))
    rep = api.json("/api/v1/report?format=json", viewer)
    cli_rep = json.loads(cli(county, "report", "--format", "json"))
    h.check(rep["district"] == cli_rep["district"] and len(rep["rooms"]) == len(cli_rep["rooms"]),
            "its JSON has the same figures as `report --format json` (%d rooms)" % len(rep["rooms"]))
    # A finished month, so that both answers count the same time.
    y, mo = (int(x) for x in cli_rep["params"]["month"].split("-"))
    last = "%04d-%02d" % ((y, mo - 1) if mo > 1 else (y - 1, 12))
    whole = api.json("/api/v1/report?format=json&month=" + last, viewer)
    summary = api.json("/api/v1/report?format=json&rooms=0&month=" + last, viewer)
    h.check("rooms" not in summary and "rooms" in whole and summary["district"] == whole["district"]
            and summary["content_hash"] == whole["content_hash"],
            "rooms=0 (%s): the same figures and content_hash, without the rooms" % last)
    for q, what in (("?format=pdf", "a bad format"), ("?month=October", "a bad month"),
                    ("?month=2026-10&town=nowhere", "a town with no school")):
        status, _, body = api.call("/api/v1/report" + q, viewer)
        h.check(status == 400, "%s: 400 (%s)" % (what, body[:80]))

    used = {t["name"]: t["last_used"] for t in json.loads(cli(county, "tokens", "list", "--json"))["tokens"]}
    h.check(used["viewer"] and used["boss"] and not used["gone"],
            "tokens list: last_used set for the tokens in use (written by the HTTP worker, not the loop)",
            repr(used))

    h.step("requests at once: the worker takes them in turn")
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: api.call("/api/v1/ports", viewer)[0], range(8)))
    h.check(got == [200] * 8, "8 concurrent GET /api/v1/ports: all 200 (%s)" % got)

    def jobs():
        text = api.call("/metrics", viewer)[2].decode()
        return int(re.search(r"^schoolnet_collector_http_jobs_total (\d+)$", text, re.M).group(1))
    before = jobs()
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: api.call("/api/v1/schools", viewer), range(20)))
    done = jobs() - before - 1  # the first scrape's own job counts in the second
    h.check(all(a[0] == 200 for a in answers) and done < 20
            and len({json.dumps(json.loads(a[2])["schools"]) for a in answers}) <= 2,
            "20 identical GET /api/v1/schools at once: all 200, answered by %d computations "
            "(identical requests waiting together share one)" % done)

    h.step("/metrics")
    status, headers, body = api.call("/metrics", viewer)
    h.check(status == 200 and headers.get("Content-Type", "").startswith("text/plain"),
            "/metrics: 200 text/plain")
    path = wd.file("metrics.txt")
    with open(path, "wb") as f:
        f.write(body)
    r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, timeout=60)
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    h.check(r.returncode == 0, "promtool check metrics accepts it (%d lines)" % body.count(b"\n"), out[-1500:])
    text = body.decode("utf-8")
    at = {}
    for m in re.finditer(r'^schoolnet_port_at_target\{([^}]*)\} (\S+)$', text, re.M):
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1)))
        at[(labels["school"], labels["switch"], labels["port"])] = float(m.group(2))
    ports = json.loads(cli(county, "ports", "--json"))["ports"]
    judged = [p for p in ports if p["mapped"] and p["state"] in ("ok", "below")]
    agree = [p for p in judged
             if at.get((p["school"], p["switch"], p["if_name"] or p["if_descr"])) == (1.0 if p["state"] == "ok" else 0.0)]
    h.check(judged and len(agree) == len(judged),
            "port_at_target agrees with `ports --json` for all %d judged ports (%d agree)"
            % (len(judged), len(agree)))
    h.check(any(v == 0.0 for v in at.values()), "the planted faults show as port_at_target 0")
    m = re.search(r"^schoolnet_collector_agent_connections (\S+)$", text, re.M)
    h.check(m is not None and float(m.group(1)) == 2, "collector_agent_connections = 2",
            m.group(0) if m else "missing")
    m = re.search(r"^schoolnet_collector_reports_stored_total (\S+)$", text, re.M)
    h.check(m is not None and float(m.group(1)) > 0, "collector_reports_stored_total > 0")

    h.step("the dashboard's files")
    status, headers, body = api.call("/")
    h.check(status == 200 and headers.get("Content-Type", "").startswith("text/html")
            and b"<html" in body and "default-src 'self'" in headers.get("Content-Security-Policy", ""),
            "GET / without a token: the dashboard's page, with a Content-Security-Policy",
            (status, headers))
    names = set(re.findall(rb'(?:src|href)="([\w.-]+\.(?:js|css|svg))"', body))
    for name in sorted(names):
        status, headers, _ = api.call("/" + name.decode())
        h.check(status == 200, "GET /%s (named by the page): 200 %s"
                % (name.decode(), headers.get("Content-Type")))
    h.check(names, "the page names its script and style sheet")
    for path, tok, want, what in (("/nothing.js", None, 404, "an unknown file"),
                                  ("/.hidden", None, 404, "a dot file"),
                                  ("/%2e%2e%2fcollector.conf", viewer, 404, "an escaped ../ path")):
        status, _, _ = api.call(path, tok)
        h.check(status == want, "GET %s (%s): %d" % (path, what, want), status)
    status, _, _ = api.call("/", None, "POST", raw=b"{}")
    h.check(status == 405, "POST /: 405")
    status, _, _ = api.call("/", None, "POST", raw=b"x" * 300000)
    h.check(status == 413, "POST / with a 300 KB body: 413 before the body is read")
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    sizes = []
    for name in ("/", "/app.js", "/style.css"):
        conn.request("GET", name)
        r = conn.getresponse()
        sizes.append(len(r.read()))
        h.check(r.status == 200 and r.getheader("Connection", "").lower() != "close",
                "GET %s on one kept-alive connection: 200, the connection stays open" % name)
    conn.close()

    h.step("who am I; brief listings; ETags")
    h.check(api.json("/api/v1/whoami", viewer) == {"name": "viewer", "role": "read"}
            and api.json("/api/v1/whoami", boss) == {"name": "boss", "role": "admin"},
            "GET /api/v1/whoami: the token's name and role")
    full = api.json("/api/v1/schools", viewer)["schools"]
    brief = api.json("/api/v1/schools?brief=1", viewer)["schools"]
    h.check([(s["code"], s["classrooms"]) for s in brief] == [(s["code"], s["classrooms"]) for s in full]
            and all("rooms" not in s for s in brief) and all("rooms" in s for s in full),
            "?brief=1: the same schools and tallies, without their rooms")
    revalidated = False
    for _ in range(5):
        status, headers, _ = api.call("/api/v1/schools?brief=1", viewer)
        tag = headers.get("ETag", "")
        req = urllib.request.Request(api.base + "/api/v1/schools?brief=1")
        req.add_header("Authorization", "Bearer " + viewer)
        req.add_header("If-None-Match", tag)
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                again = r.status
        except urllib.error.HTTPError as e:
            again, body = e.code, e.read()
        if again == 304:
            revalidated = body == b""
            break
    h.check(tag.startswith('W/"') and revalidated,
            "an unchanged listing (a second later: only generated_at differs) gets 304 for its ETag %s" % tag)
    status, _, _ = api.call("/api/v1/schools?brief=1", viewer)
    h.check(status == 200, "without If-None-Match: 200")
    h.check(len(api.json("/api/v1/alerts?limit=1", viewer)["alerts"]) == 1, "alerts?limit=1: one alert")
    for q in ("limit=0", "limit=abc", "limit=5001"):
        status, _, _ = api.call("/api/v1/alerts?" + q, viewer)
        h.check(status == 400, "alerts?%s: 400" % q)

    h.step("throughput tests and recording rooms")
    # Rows written by SQL, as the scheduler and the host checks would (their
    # own tests drive them from real agents).
    now = int(time.time() * 1000)
    db = sqlite3.connect(county.db, timeout=10)
    db.executemany(
        "INSERT INTO probe_throughput(school_code, reason, state, requested_ms, finished_ms, agent,"
        " max_bytes, max_ms, streams, down_mbps, up_mbps, down_bytes, up_bytes, served_bytes,"
        " uplink_mbps, error) VALUES(?, 'schedule', ?, ?, ?, ?, 100000000, 10000, 4, ?, ?, ?, ?, ?, ?, ?)",
        [("s001", "done", now - 7200000, now - 7190000, "s001", 280.5, 300.25, 35000000, 37500000,
          72500000, 1000, ""),
         ("s001", "failed", now - 3600000, now - 3590000, "s001", None, None, None, None, 0, None,
          "no answer in time"),
         ("s002", "done", now - 1800000, now - 1790000, "s002", 910.0, 905.0, 100000000, 100000000,
          200000000, 1000, "")])
    rec = db.execute("SELECT id, school_code, room FROM inventory WHERE role = 'recording'"
                     " AND valid_to IS NULL ORDER BY id").fetchall()
    if rec:
        db.execute("UPDATE inventory SET probe = 'http://127.0.0.1:9/' WHERE id = ?", (rec[0][0],))
        db.execute("INSERT INTO recording_state(inventory_id, t_start, t_end, interval_ms, host_ok,"
                   " port_ok, available, status, time_ms, error) VALUES(?, ?, ?, 60000, 0, 1, 0, NULL,"
                   " NULL, 'connection refused')", (rec[0][0], now - 600000, now))
    db.commit()
    db.close()
    got = api.json("/api/v1/throughput", viewer)["throughput"]
    want = json.loads(cli(county, "throughput", "--json"))["throughput"]
    h.check([t["id"] for t in got] == [t["id"] for t in want] and len(got) == 3
            and [t["school"] for t in got] == ["s002", "s001", "s001"],
            "GET /api/v1/throughput: the 3 tests, newest first, as `throughput --json`", h._short(got))
    h.check(got[2]["down_mbps"] == 280.5 and got[2]["uplink_mbps"] == 1000 and got[1]["down_mbps"] is None
            and got[1]["error"] == "no answer in time" and got[2]["served_bytes"] == 72500000,
            "a done test's Mbps, uplink and bytes; a failed one's error")
    mine = api.json("/api/v1/throughput?school=s001&limit=1", viewer)["throughput"]
    h.check([t["state"] for t in mine] == ["failed"], "?school=s001&limit=1: its newest test only")
    text = cli(county, "throughput", "--school", "s001")
    h.check(re.search(r"\bdone\b.*\b28[01]/300\b.*1000", text) is not None,
            "`throughput --school s001` lists the done test as 280/300 Mbps on a 1000 Mbps uplink", text)
    one = api.json("/api/v1/schools/s001", viewer)["schools"][0]
    brief = {s["code"]: s for s in api.json("/api/v1/schools?brief=1", viewer)["schools"]}
    h.check(one["throughput"]["down_mbps"] == 280.5 and one["throughput"]["up_mbps"] == 300.25
            and one["throughput"]["uplink_mbps"] == 1000 and one["throughput"]["at"]
            and brief["s002"]["throughput"]["down_mbps"] == 910.0,
            "schools (one, brief): the latest done test, not the newer failed one", h._short(one["throughput"]))
    recs = api.json("/api/v1/recording", viewer)["recording"]
    h.check(recs == json.loads(cli(county, "recording", "--json"))["recording"]
            and len(recs) == len(rec), "GET /api/v1/recording: every recording room (%d), as the CLI" % len(rec))
    if rec:
        r0 = [r for r in recs if r["inventory_id"] == rec[0][0]][0]
        h.check(r0["state"] == "unavailable" and r0["available"] is False
                and r0["why"] == "host: connection refused" and r0["available_7d_pct"] == 0,
                "the checked room: unavailable, why, 0 % of its checked school hours", h._short(r0))
        h.check(all(r["state"] == "unknown" and r["available"] is None for r in recs if r is not r0),
                "rooms never checked: unknown")
        text = cli(county, "recording", "--school", rec[0][1])
        h.check(re.search(r"\bunavailable\b.*\b0\.0%.*: host: connection refused \(http://127\.0\.0\.1:9/\)", text)
                is not None, "`recording --school %s`: the room unavailable, 0.0 %% in 7 days, why, its URL"
                % rec[0][1], text)
        sch = api.json("/api/v1/schools/%s" % rec[0][1], viewer)["schools"][0]
        h.check(sch["recording"]["available"] == 0 and sch["recording"]["rooms"] >= 1
                and sch["recording"]["unknown"] == sch["recording"]["rooms"] - 1,
                "the school's recording figures", repr(sch["recording"]))
    status, _, body = api.call("/api/v1/throughput", viewer, "POST", {"school": "s001"})
    h.check(status == 403, "a read-only token may not ask for a test: 403")
    status, _, body = api.call("/api/v1/throughput", boss, "POST", {"school": "s001"})
    first = json.loads(body)
    h.check(status == 202 and first["state"] == "requested" and first["id"] > 0,
            "an admin asks for a test of s001: 202 with its id", (status, body[:200]))
    status, _, body = api.call("/api/v1/throughput", boss, "POST", {"school": "s001"})
    h.check(status == 200 and json.loads(body)["id"] == first["id"],
            "asking again while it is open: 200 with the same id", (status, body[:200]))
    asked = api.json("/api/v1/throughput?school=s001&limit=1", viewer)["throughput"][0]
    h.check(asked["id"] == first["id"] and asked["reason"] == "demand" and asked["requested_by"] == "boss",
            "the listing shows it: reason demand, asked by the token's name", h._short(asked))
    for body_, what, code in (({"school": "s999"}, "an unknown school", 404), ({}, "no school", 400),
                              ({"school": 7}, "a school that is not text", 400)):
        status, _, body = api.call("/api/v1/throughput", boss, "POST", body_)
        h.check(status == code, "%s: %d (%s)" % (what, code, json.loads(body)["error"]))
    status, headers, _ = api.call("/api/v1/throughput", boss, "PUT", raw=b"")
    h.check(status == 405 and headers.get("Allow") == "GET, HEAD, POST", "PUT /api/v1/throughput: 405, Allow")
    status, _, _ = api.call("/api/v1/throughput?limit=0", viewer)
    h.check(status == 400, "throughput?limit=0: 400")

    h.step("maintenance windows over HTTP")
    window = {"school": "s001", "for": "2h", "reason": "更换接入交换机"}
    status, _, _ = api.call("/api/v1/maintenance", viewer, "POST", window)
    h.check(status == 403, "a read-only token may not add a window: 403")
    status, _, body = api.call("/api/v1/maintenance", boss, "POST", window)
    added = json.loads(body)
    h.check(status == 201 and added["school"] == "s001" and added["created_by"] == "boss"
            and added["reason"] == window["reason"],
            "an admin adds one: 201, created by the token's name", (status, body[:300]))
    listed = api.json("/api/v1/maintenance?school=s001", viewer)["maintenance"]
    cli_listed = json.loads(cli(county, "maintenance", "list", "--json"))["maintenance"]
    h.check([w["id"] for w in listed] == [added["id"]] and listed == cli_listed,
            "GET /api/v1/maintenance lists it as `maintenance list --json` does")
    for body_, what in (({"school": "s001", "for": "forever"}, "a bad duration"),
                        ({"for": "2h"}, "no school"), ({"school": "s999", "for": "2h"}, "an unknown school"),
                        ({"school": "s001", "from": "2026-13-01 08:00", "for": "2h"}, "a bad date"),
                        ({"school": "s001", "from": "2030-01-02 10:00", "to": "2030-01-02 09:00"},
                         "an end before the start"),
                        ({"school": 7, "for": "2h"}, "a school that is not text")):
        status, _, body = api.call("/api/v1/maintenance", boss, "POST", body_)
        h.check(status == 400 and json.loads(body)["error"], "%s: 400 (%s)" % (what, body[:90].decode("utf-8", "replace")))
    status, _, _ = api.call("/api/v1/maintenance", boss, "POST", raw=b"[1, 2]")
    h.check(status == 400, "a body that is not an object: 400")
    status, _, _ = api.call("/api/v1/maintenance/%d" % added["id"], viewer, "DELETE")
    h.check(status == 403, "a read-only token may not delete it: 403")
    status, _, body = api.call("/api/v1/maintenance/%d" % added["id"], boss, "DELETE")
    h.check(status == 200 and json.loads(body) == {"deleted": added["id"]}, "an admin deletes it: 200")
    status, _, _ = api.call("/api/v1/maintenance/%d" % added["id"], boss, "DELETE")
    h.check(status == 404, "deleting it again: 404")
    h.check(api.json("/api/v1/maintenance", viewer)["maintenance"] == [], "the list is empty again")
    status, _, body = api.call("/api/v1/maintenance", boss, "POST", window)
    again = json.loads(body)
    h.check(status == 201 and again["id"] > added["id"],
            "a new window gets a new id (%s after %s): a stale list cannot delete it" % (again["id"], added["id"]))
    req = urllib.request.Request(api.base + "/api/v1/maintenance/%d" % again["id"], method="DELETE")
    req.add_header("Authorization", "Bearer " + boss)
    req.add_header("If-None-Match", "*")
    with urllib.request.urlopen(req, timeout=20) as r:
        h.check(r.status == 200 and "ETag" not in r.headers,
                "DELETE with If-None-Match: * is not answered 304 (ETags are for GET only)")
    for path, method, allow in (("/api/v1/maintenance", "PUT", "GET, HEAD, POST"),
                                ("/api/v1/maintenance/1", "GET", "DELETE"),
                                ("/api/v1/alerts/1/ack", "GET", "POST"), ("/app.js", "POST", "GET, HEAD")):
        status, headers, _ = api.call(path, boss, method, raw=b"" if method in ("PUT", "POST") else None)
        h.check(status == 405 and headers.get("Allow") == allow,
                "%s %s: 405, Allow: %s" % (method, path, allow), (status, headers.get("Allow")))

    h.step("port history")
    import sqlite3
    from datetime import datetime, timezone
    uplink = [p for p in api.json("/api/v1/ports?school=s001", viewer)["ports"] if p["role"] == "uplink"][0]
    q = "school=s001&switch=%s&if_index=%d" % (urllib.parse.quote(uplink["switch"]), uplink["if_index"])
    sql = ("SELECT r.t_start, r.t_end, r.in_bps, r.out_bps, r.in_errors FROM port_rates r"
           " JOIN ports p ON p.id = r.port_id JOIN switches s ON s.id = p.switch_id"
           " JOIN agents a ON a.id = s.agent_id WHERE a.school = 's001' AND s.name = ?"
           " AND p.if_index = ? AND r.t_end > ? AND r.t_end <= ?")

    def samples(t0=0, t1=2 ** 62):
        db = sqlite3.connect(county.db)
        try:
            return db.execute(sql, (uplink["switch"], uplink["if_index"], t0, t1)).fetchall()
        finally:
            db.close()

    def enough():
        rows = samples()
        if max(r[1] for r in rows) - min(r[0] for r in rows) < 12000:
            raise h.NotYet("%d samples" % len(rows))
        return True
    h.wait_until(enough, 30, "12 s of the uplink's samples", logs=[county.collector])
    # The agents stop first, so that the API and this test read the same
    # samples.
    for agent in county.agents.values():
        agent.stop()
    time.sleep(1.5)
    hist = api.json("/api/v1/ports/history?%s&hours=1&points=720" % q, viewer)
    h.check(hist["step_s"] == 5 and hist["states"] and len(hist["rates"]) >= 2,
            "an hour in 720 points: 5-second buckets, %d state intervals, %d buckets"
            % (len(hist["states"]), len(hist["rates"])), h._short(hist, 2000))
    # Each bucket against the raw samples, read from the database itself.
    ms = lambda t: int(datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp() * 1000)  # noqa: E731
    t0 = ms(hist["from"])
    rows = samples(t0)
    want = {}
    for ts, te, i, o, e in rows:
        b = want.setdefault(t0 + (te - 1 - t0) // 5000 * 5000, [0, 0.0, 0.0, 0])
        b[0] += te - ts
        b[1] += i * (te - ts)
        b[3] += e
    got = {ms(r["t"]): r for r in hist["rates"]}
    h.check(sorted(got) == sorted(want) and all(
        abs(got[t]["in_bps"] - want[t][1] / want[t][0]) <= 1e-6 * max(1.0, got[t]["in_bps"])
        and got[t]["in_errors"] == want[t][3] for t in want),
        "every bucket is the time-weighted mean of its %d raw samples (%d buckets)" % (len(rows), len(want)),
        "got %s\nwant %s" % (sorted(got.items())[:3], sorted(want.items())[:3]))
    for bad, code, what in (("school=s001&switch=x", 400, "no if_index"),
                            (q + "&hours=0", 400, "hours=0"), (q + "&hours=745", 400, "over 31 days"),
                            (q + "&points=5", 400, "5 points"),
                            ("school=s001&switch=nope&if_index=1", 404, "no such switch")):
        status, _, _ = api.call("/api/v1/ports/history?" + bad, viewer)
        h.check(status == code, "history with %s: %d" % (what, code), status)

    h.step("a write lock held elsewhere does not hold up reads")
    import sqlite3
    import threading
    fresh = token(county, "fresh")  # last_used empty: due to be written
    lock = sqlite3.connect(county.db, timeout=0, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # as an import or a roll-up would
    took = []
    for _ in range(3):
        t0 = time.monotonic()
        status, _, _ = api.call("/api/v1/agents", fresh)
        took.append((status, round(time.monotonic() - t0, 2)))
    lock.execute("ROLLBACK")
    lock.close()
    h.check(all(st == 200 and dt < 1.5 for st, dt in took),
            "3 reads with a new token while the write lock is held: answered at once, "
            "its last_used write skipped (%s)" % took)

    h.step("a write in progress at shutdown is answered")
    lock = sqlite3.connect(county.db, timeout=0, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # the window's INSERT waits for this
    answer = {}

    def add():
        try:
            answer["status"], _, answer["body"] = api.call(
                "/api/v1/maintenance", boss, "POST", {"school": "s002", "for": "1h", "reason": "停机检修"})
        except OSError as e:
            answer["status"] = repr(e)
    writer = threading.Thread(target=add)
    writer.start()
    time.sleep(0.5)
    os.kill(county.collector.pid, signal.SIGTERM)
    time.sleep(0.5)
    lock.execute("ROLLBACK")
    lock.close()
    writer.join(20)
    h.wait_until(lambda: not county.collector.alive(), 15, "the collector to exit after SIGTERM",
                 logs=[county.collector])
    rc = county.collector.stop()
    db = sqlite3.connect(county.db)
    stored = db.execute("SELECT count(*) FROM maintenance WHERE school_code = 's002'").fetchone()[0]
    db.close()
    h.check(answer.get("status") == 201 and stored == 1 and rc == 0,
            "POST /api/v1/maintenance waiting on a lock when SIGTERM came: stored, answered 201, exit 0",
            repr((answer, stored, rc)))
    county.start_collector()
    h.wait_until(lambda: h.tcp_listening(port), 20, "the HTTP interface to listen again",
                 logs=[county.collector])

    h.step("requests during shutdown")
    # SIGTERM, then scrape while the collector drains: its figures must not
    # be read after they are gone (the HTTP side closes first).
    os.kill(county.collector.pid, signal.SIGTERM)
    t_end = time.monotonic() + 3
    while time.monotonic() < t_end and county.collector.alive():
        try:
            api.call("/metrics", viewer)
        except OSError:
            pass
    rc = county.collector.stop()
    h.check(rc == 0, "the collector exits 0 after SIGTERM with scrapes going on (exit %s)" % rc)

    h.step("HTTPS")
    cert, key = wd.file("http-cert.pem"), wd.file("http-key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], capture_output=True, text=True, timeout=30)
    h.check(r.returncode == 0, "openssl makes a self-signed certificate", r.stderr[-500:])
    with open(county.conf, encoding="utf-8") as f:
        text = f.read()
    with open(county.conf, "w", encoding="utf-8") as f:
        f.write(text.replace("[collector]\n", "[collector]\nhttp_cert = %s\n" % cert, 1))
    r = subprocess.run([county.collector_bin, "-c", county.conf, "-n"], capture_output=True, text=True,
                       timeout=30)
    h.check(r.returncode != 0 and "http_cert and http_key" in r.stderr,
            "a certificate without its key: the config is refused, saying so", r.stderr.strip())
    with open(county.conf, "w", encoding="utf-8") as f:
        f.write(text.replace("[collector]\n", "[collector]\nhttp_cert = %s\nhttp_key = %s\n" % (cert, key), 1))
    county.start_collector()
    h.wait_until(lambda: h.tcp_listening(port), 20, "the HTTPS interface to listen", logs=[county.collector])
    import ssl
    ctx = ssl.create_default_context(cafile=cert)
    req = urllib.request.Request("https://127.0.0.1:%d/api/v1/whoami" % port)
    req.add_header("Authorization", "Bearer " + viewer)
    with urllib.request.urlopen(req, timeout=20, context=ctx) as r:
        h.check(r.status == 200 and json.loads(r.read())["role"] == "read",
                "https://…/api/v1/whoami answers, and the certificate verifies")
    with urllib.request.urlopen("https://127.0.0.1:%d/" % port, timeout=20, context=ctx) as r:
        h.check(r.status == 200 and b"<html" in r.read(), "the dashboard over HTTPS")
    try:
        status, _, _ = api.call("/healthz")
    except OSError as e:
        status = repr(e)
    h.check(status != 200, "plain HTTP on the HTTPS port gets no answer (%s)" % status)
    with open(county.collector.log_path, encoding="utf-8") as f:
        h.check("on https://127.0.0.1:%d/" % port in f.read(), "the log says https://")
    rc = county.collector.stop()
    h.check(rc == 0, "the HTTPS collector exits 0 on SIGTERM (exit %s)" % rc)


if __name__ == "__main__":
    h.run_test(main)
