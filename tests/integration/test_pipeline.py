#!/usr/bin/env python3
"""End to end: snmpsimd switches -> agents -> collector -> `ports --json`.

A 3-school county (deliberate faults included); every interface the
collector reports must match the generator's manifest (oper, speed, duplex,
names), rates must appear after the second poll and match the simulated
counter rates, and `--school` must filter.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402

POLL = 3
SCHOOLS = 3


def key(p):
    return (p["school"], p["switch"], p["if_index"])


def main():
    h.require_programs("snmpget", "snmpbulkwalk")
    h.binaries()
    wd = h.Workdir(prefix="schoolnet-pipeline-")
    county = h.County(wd, schools=SCHOOLS, seed=7, poll_interval=POLL)
    m = county.manifest
    expected = county.expected()
    kinds = {f["kind"] for f in m["faults"]}
    h.step("county: %d schools, %d interfaces, faults %s" % (SCHOOLS, len(expected), sorted(kinds)))
    h.check({"speed_10", "down", "half_duplex", "uplink_100"} <= kinds,
            "the generated county contains every kind of deliberate fault")

    h.step("start snmpsimd, check one poll by the agent alone (`poll --json`)")
    county.start_snmpsim()
    s1 = m["schools"][0]
    h.check_config(county.agent_bin, s1["agent_conf"])
    once = h.agent_json(county.agent_bin, s1["agent_conf"], "poll", "access1")
    sws = once.get("switches", [])
    h.check(len(sws) == 1 and sws[0].get("switch") == "access1" and sws[0].get("status") == "ok",
            "agent poll access1 of %s: status ok" % s1["code"], h._short(sws))
    got = {i["if_index"]: i for i in sws[0].get("interfaces", [])}
    exp1 = {i["if_index"]: i for i in s1["switches"][0]["interfaces"]}
    h.check(sorted(got) == sorted(exp1), "agent poll returns all %d interfaces" % len(exp1),
            "got ifIndex %s" % sorted(got))
    bad = [(x, got[x].get("oper"), got[x].get("speed_mbps"), got[x].get("duplex"), e["oper"],
            e["speed_mbps"], e["duplex"])
           for x, e in exp1.items()
           if (got[x].get("oper"), got[x].get("speed_mbps"), got[x].get("duplex"))
           != (e["oper"], e["speed_mbps"], e["duplex"]) or got[x].get("if_name") != e["if_name"]]
    h.check(not bad, "agent poll: oper/speed/duplex/name of every interface match the manifest",
            "mismatches (ifIndex, got oper/speed/duplex, expected oper/speed/duplex): %s" % bad[:10])
    uptime = sws[0].get("sys_uptime")
    h.check(isinstance(uptime, int) and uptime > 3 * 8640000,
            "agent poll reports sysUpTime (%s ticks)" % uptime)

    h.step("start the collector and %d agents (poll_interval %d s)" % (SCHOOLS, POLL))
    county.start_collector()
    county.start_agents()

    def all_present():
        ports = county.ports()["ports"]
        have = {key(p) for p in ports}
        missing = set(expected) - have
        if missing:
            raise h.NotYet("%d of %d interfaces missing, e.g. %s"
                           % (len(missing), len(expected), sorted(missing)[:5]))
        return ports
    ports = h.wait_until(all_present, 10 * POLL + 20,
                         "`ports --json` to list every manifest interface")
    h.check(True, "`ports --json` lists all %d manifest interfaces" % len(expected))
    extra = [key(p) for p in ports if key(p) not in expected]
    h.check(not extra, "no interfaces beyond the manifest", "extra: %s" % extra[:10])
    keys = [key(p) for p in ports]
    h.check(len(keys) == len(set(keys)), "each interface listed once")

    mism = []
    for p in ports:
        e = expected[key(p)]
        for f in ("oper", "speed_mbps", "duplex", "if_name", "if_type", "admin"):
            if p.get(f) != e[f]:
                mism.append("%s/%s/%d %s: got %r, expected %r"
                            % (p["school"], p["switch"], p["if_index"], f, p.get(f), e[f]))
        if p.get("if_descr") != e["if_descr"] or p.get("if_alias") != e["if_alias"]:
            mism.append("%s/%d descr/alias: got %r/%r, expected %r/%r"
                        % (p["school"], p["if_index"], p.get("if_descr"), p.get("if_alias"),
                           e["if_descr"], e["if_alias"]))
    h.check(not mism, "oper/admin/speed/duplex/names/ifType of every interface equal the manifest",
            "\n  ".join(mism[:20]))

    byk = {key(p): p for p in ports}
    for f in m["faults"]:
        p = byk[(f["school"], f["switch"], f["if_index"])]
        if f["kind"] == "speed_10":
            h.check(p["speed_mbps"] == 10 and p["oper"] == "up",
                    "fault %s %s (%s): up at 10 Mbps" % (f["school"], f["if_name"], f["room"]))
        elif f["kind"] == "down":
            h.check(p["oper"] == "down", "fault %s %s (%s): down" % (f["school"], f["if_name"], f["room"]))
        elif f["kind"] == "half_duplex":
            h.check(p["duplex"] == "half" and p["speed_mbps"] == 100,
                    "fault %s %s (%s): 100 Mbps half duplex" % (f["school"], f["if_name"], f["room"]))
        elif f["kind"] == "uplink_100":
            h.check(p["speed_mbps"] == 100 and p["oper"] == "up",
                    "fault %s uplink %s: 100 Mbps" % (f["school"], f["if_name"]))
    for p in ports:
        for f in ("since", "last_seen"):
            try:
                ok = h.parse_iso(p.get(f)) is not None
            except (ValueError, TypeError, AttributeError):
                ok = False
            if not ok:
                h.check(False, "%s is an ISO time on every port" % f, "port %s: %r" % (key(p), p.get(f)))

    h.step("wait for rates (second poll)")
    moving = [k for k, e in expected.items() if e["oper"] == "up" and e["in_bps"] > 0]

    def rates_ready():
        ps = county.ports()["ports"]
        b = {key(p): p for p in ps}
        norate = [k for k in moving if not isinstance(b.get(k, {}).get("in_bps"), (int, float))]
        if norate:
            raise h.NotYet("%d ports without in_bps, e.g. %s" % (len(norate), h._short(
                [b.get(k) for k in norate[:2]], 800)))
        return b
    byk = h.wait_until(rates_ready, 6 * POLL + 20, "in_bps on every up port with moving counters")
    h.check(True, "in_bps is a number on all %d up ports with moving counters" % len(moving))
    off = []
    for k in moving:
        e, p = expected[k], byk[k]
        for f in ("in_bps", "out_bps"):
            want, have = e[f], p.get(f)
            if not isinstance(have, (int, float)) or abs(have - want) > 0.15 * want:
                off.append("%s %s: got %r, simulated %.0f" % (k, f, have, want))
    h.check(not off, "in_bps/out_bps within 15 % of the simulated counter rates",
            "\n  ".join(off[:15]))
    still = [k for k, e in expected.items() if e["in_bps"] == 0 and e["out_bps"] == 0
             and isinstance(byk[k].get("in_bps"), (int, float)) and byk[k]["in_bps"] > 1]
    h.check(not still, "ports with static counters show no traffic", "%s" % still[:10])
    errs = [f for f in m["faults"] if f["kind"] == "errors"]
    for f in errs:
        p = byk[(f["school"], f["switch"], f["if_index"])]
        h.check(isinstance(p.get("in_errors"), int) and p["in_errors"] > 0,
                "port with CRC errors %s %s reports in_errors > 0 (%r)"
                % (f["school"], f["if_name"], p.get("in_errors")))

    h.step("`ports --school` filters")
    for s in m["schools"]:
        ps = county.ports(s["code"])["ports"]
        want = {k for k in expected if k[0] == s["code"]}
        h.check({key(p) for p in ps} == want and len(ps) == len(want),
                "ports --school %s lists exactly its %d interfaces" % (s["code"], len(want)),
                "got %d ports, schools %s" % (len(ps), sorted({p["school"] for p in ps})))

    sw = county.switches()["switches"]
    h.check(sorted((x["school"], x["switch"], x["status"]) for x in sw)
            == sorted((s["code"], "access1", "ok") for s in m["schools"]),
            "switches --json: every school's access1 is ok", h._short(sw))
    h.check(all(x.get("ports") == len(s["switches"][0]["interfaces"])
                for x in sw for s in m["schools"] if s["code"] == x["school"]),
            "switches --json: port counts match", h._short([(x["school"], x.get("ports")) for x in sw]))

    h.step("SIGTERM stops the daemons")
    for code, d in county.agents.items():
        rc = d.stop()
        h.check(rc == 0, "agent %s exits 0 on SIGTERM (got %s)" % (code, rc), d.tail(15))
    rc = county.collector.stop()
    h.check(rc == 0, "collector exits 0 on SIGTERM (got %s)" % rc, county.collector.tail(15))


if __name__ == "__main__":
    h.run_test(main)
