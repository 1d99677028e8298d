#!/usr/bin/env python3
"""Run a simulated county on loopback: snmpsimd switches, the collector and
one agent per school; print what the collector stored, then keep running
(one status line per poll interval) until Ctrl-C / SIGTERM.

Used by scripts/demo.sh (which builds first).  --once: exit after the
summary (CI).  The county goes to a temp dir (removed at the end) or to
$SCHOOLNET_DEMO_DIR / --dir (kept).
"""
import argparse
import csv
import os
import sys
import time
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def width(s):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def pad(s, w):
    s = str(s)
    return s + " " * max(0, w - width(s))


def rpad(s, w):
    s = str(s)
    return " " * max(0, w - width(s)) + s


def mbps(bps):
    return "-" if not isinstance(bps, (int, float)) else "%.1f" % (bps / 1e6)


def read_inventory(path):
    roles = {}
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            roles[(row["school_code"], row["switch"], row["port"])] = row
    return roles


def summarize(county, inventory):
    """Per school, from `ports --json` and `switches --json`; roles (uplink,
    classroom, recording room) come from the inventory."""
    ports = county.ports()["ports"]
    sws = {(x["school"], x["switch"]): x for x in county.switches()["switches"]}
    schools = county.manifest["schools"]
    cols = [("school", 6), ("name", 20), ("town", 6), ("switch", 7), ("ports up/down", 14),
            ("rooms", 6), ("down", 5), ("<100M", 6), ("half", 5), ("uplink", 10),
            ("uplink in/out Mbps", 18)]
    lines = ["".join(pad(c, w + 1) for c, w in cols).rstrip(),
             "".join(pad("-" * w, w + 1) for _c, w in cols).rstrip()]
    problems = []
    tot = {"up": 0, "down": 0, "rooms": 0, "rdown": 0, "slow": 0, "half": 0, "uplink_bad": 0}
    for s in schools:
        mine = [p for p in ports if p["school"] == s["code"]]
        eth = [p for p in mine if p.get("if_type") == 6]
        n_up = sum(1 for p in eth if p["oper"] == "up")
        rooms = rdown = slow = half = 0
        uplink = None
        for p in mine:
            r = inventory.get((s["code"], p["switch"], p["if_name"]))
            if not r:
                continue
            if r["role"] == "uplink":
                uplink = p
                continue
            rooms += 1
            why = []
            if p["oper"] != "up":
                rdown += 1
                why.append("port %s" % p["oper"])
            else:
                if isinstance(p.get("speed_mbps"), int) and p["speed_mbps"] < 100:
                    slow += 1
                    why.append("%s Mbps" % p["speed_mbps"])
                if p.get("duplex") == "half":
                    half += 1
                    why.append("half duplex")
            if why:
                problems.append("%s %s %s (%s): %s" % (s["code"], s["name"], r["room"], p["if_name"],
                                                      ", ".join(why)))
        sw = sws.get((s["code"], "access1"), {})
        if uplink is None:
            up_txt, up_rate = "?", "-"
        else:
            up_txt = "%s Mbps" % uplink.get("speed_mbps") if uplink["oper"] == "up" else uplink["oper"]
            up_rate = "%s/%s" % (mbps(uplink.get("in_bps")), mbps(uplink.get("out_bps")))
            if uplink["oper"] != "up" or uplink.get("speed_mbps", 0) < 1000:
                tot["uplink_bad"] += 1
                problems.append("%s %s uplink %s: %s (target 1000 Mbps)"
                                % (s["code"], s["name"], uplink["if_name"], up_txt))
        for k, v in (("up", n_up), ("down", len(eth) - n_up), ("rooms", rooms), ("rdown", rdown),
                     ("slow", slow), ("half", half)):
            tot[k] += v
        vals = [s["code"], s["name"], s["town"], sw.get("status", "?"),
                "%d/%d" % (n_up, len(eth) - n_up), rooms, rdown, slow, half, up_txt, up_rate]
        lines.append("".join(pad(v, w + 1) for v, (_c, w) in zip(vals, cols)).rstrip())
    lines.append("")
    lines.append("total: %d Ethernet ports up, %d down; %d classrooms/recording rooms: %d down, "
                 "%d below 100 Mbps, %d half duplex; %d of %d school uplinks below 1 Gbps"
                 % (tot["up"], tot["down"], tot["rooms"], tot["rdown"], tot["slow"], tot["half"],
                    tot["uplink_bad"], len(schools)))
    if problems:
        lines.append("")
        lines.append("below target (千兆进校、百兆进班) right now:")
        lines += ["  " + p for p in problems]
    return "\n".join(lines)


def status_line(county):
    try:
        ports = county.ports()["ports"]
        sws = county.switches()["switches"]
    except Exception as e:  # keep the demo running; say what went wrong
        return "%s  collector query failed: %s" % (time.strftime("%H:%M:%S"), str(e).splitlines()[0])
    ok = sum(1 for x in sws if x.get("status") == "ok")
    eth = [p for p in ports if p.get("if_type") == 6]
    up = [p for p in eth if p["oper"] == "up"]
    slow = sum(1 for p in up if isinstance(p.get("speed_mbps"), int) and p["speed_mbps"] < 100)
    traffic = sum(p["in_bps"] for p in up if isinstance(p.get("in_bps"), (int, float)))
    last = max((x.get("last_poll") or "" for x in sws), default="")
    return ("%s  switches ok %d/%d  ports up %d down %d  up<100M %d  total in %.0f Mbps  last poll %s"
            % (time.strftime("%H:%M:%S"), ok, len(sws), len(up), len(eth) - len(up), slow,
               traffic / 1e6, last))


def main():
    ap = argparse.ArgumentParser(description="schoolnet demo on loopback")
    ap.add_argument("--once", action="store_true", help="exit after the summary")
    ap.add_argument("--schools", type=int, default=12)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--poll-interval", type=float, default=10)
    ap.add_argument("--dir", default=os.environ.get("SCHOOLNET_DEMO_DIR"),
                    help="put the county here (kept) instead of a temp dir")
    a = ap.parse_args()
    h.install_signal_handlers()
    rc = 1
    try:
        rc = run(a)
    except h.Skip as e:
        print("demo: cannot run: %s" % e, file=sys.stderr)
        rc = 1
    except h.TestFailure as e:
        print("demo: FAILED: %s" % e, file=sys.stderr)
        rc = 1
    except SystemExit as e:
        print("\ndemo: stopping (signal)", flush=True)
        rc = 0 if e.code in (128 + 2, 128 + 15, 128 + 1) else (e.code or 0)
    finally:
        h.cleanup_all()
    return rc


def run(a):
    wd = h.Workdir(prefix="schoolnet-demo-", path=a.dir)
    county = h.County(wd, schools=a.schools, seed=a.seed, poll_interval=a.poll_interval)
    m = county.manifest
    print("demo: %d schools in %d towns, %d faults planted; files in %s"
          % (len(m["schools"]), len(m["towns"]), len(m["faults"]), county.dir), flush=True)
    county.start_snmpsim()
    print("demo: snmpsimd serving %d switches on udp %s" % (len(m["schools"]), county.snmpsim.address),
          flush=True)
    county.start_collector()
    print("demo: collector listening on %s" % county.collector_addr, flush=True)
    county.start_agents()
    print("demo: %d agents polling every %g s; waiting for two polls..." % (len(m["schools"]), a.poll_interval),
          flush=True)

    expected = county.expected()
    moving = [k for k, e in expected.items() if e["oper"] == "up" and e["in_bps"] > 0]

    def two_polls():
        ps = {(p["school"], p["switch"], p["if_index"]): p for p in county.ports()["ports"]}
        if not set(expected) <= set(ps):
            return None
        return all(isinstance(ps[k].get("in_bps"), (int, float)) for k in moving)
    h.wait_until(two_polls, 3 * a.poll_interval + 30,
                 "every school's ports in the collector with rates (two polls)")

    print()
    print(summarize(county, read_inventory(m["inventory"])))
    coll = county.collector_bin
    print()
    print("collector DB:   %s" % county.db)
    print("logs:           %s" % county.logs)
    print("configs:        %s, %s" % (county.conf, os.path.join(county.dir, "agents")))
    print("manifest:       %s" % os.path.join(county.dir, "manifest.json"))
    print("try:            %s -c %s ports --school s001 --json" % (coll, county.conf))
    print("                %s -c %s switches --json" % (coll, county.conf))
    sys.stdout.flush()
    if a.once:
        print("demo: --once: stopping", flush=True)
        return 0
    print("\ndemo: running; Ctrl-C to stop%s" % ("" if wd.owned and not h.KEEP else
                                                 " (files are kept in %s)" % wd.path), flush=True)
    while True:
        time.sleep(a.poll_interval)
        dead = [d for d in [county.collector] + list(county.agents.values()) if not d.alive()]
        if dead:
            raise h.TestFailure("stopped unexpectedly: %s\n%s"
                                % (", ".join("%s (exit %s)" % (d.name, d.proc.returncode) for d in dead),
                                   h.log_tails(dead)))
        print(status_line(county), flush=True)


if __name__ == "__main__":
    sys.exit(main())
