#!/usr/bin/env python3
"""The simulation itself (no schoolnet binaries needed).

gen_county's switches as served by snmpsimd match the manifest; counters
and sysUpTime move at the simulated rates; snmpset changes one school's
switch and no other; the real snmpd answers SNMPv3 authPriv and refuses a
wrong key; a blackhole never answers; nothing is left running.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402
import gen_county as g  # noqa: E402

IFX = "1.3.6.1.2.1.31.1.1.1"
IFT = "1.3.6.1.2.1.2.2.1"
DOT3 = "1.3.6.1.2.1.10.7.2.1.19"


def col(walk, base, x):
    return walk.get("%s.%d" % (base, x))


def main():
    h.require_programs("snmpget", "snmpset", "snmpbulkwalk", h.SNMPSIMD, h.SNMPD)
    wd = h.Workdir(prefix="schoolnet-sim-")
    port = h.free_port("udp")
    m = g.generate(wd.sub("county"), port, "127.0.0.1:7470", schools=4, seed=11, poll_interval=10)
    h.step("snmpsimd with %d schools" % len(m["schools"]))
    sim = h.Snmpsim(m["snmp_data_dir"], port, log_path=wd.file("logs", "snmpsimd.log"))
    pids = [sim.daemon.pid]

    for s in m["schools"]:
        c = s["switches"][0]["community"]
        exp = {i["if_index"]: i for i in s["switches"][0]["interfaces"]}
        w = {}
        for base in ("%s.1" % IFX, "%s.15" % IFX, "%s.18" % IFX, "%s.3" % IFT, "%s.5" % IFT, "%s.7" % IFT,
                     "%s.8" % IFT, DOT3):
            w[base] = sim.walk(c, base)
        bad = []
        for x, i in exp.items():
            got = (col(w["%s.1" % IFX], "%s.1" % IFX, x), int(col(w["%s.15" % IFX], "%s.15" % IFX, x)),
                   int(col(w["%s.3" % IFT], "%s.3" % IFT, x)), int(col(w["%s.5" % IFT], "%s.5" % IFT, x)),
                   int(col(w["%s.7" % IFT], "%s.7" % IFT, x)), int(col(w["%s.8" % IFT], "%s.8" % IFT, x)),
                   col(w[DOT3], DOT3, x))
            want = (i["if_name"], i["speed_mbps"], i["if_type"], min(i["speed_mbps"] * 10 ** 6, 4294967295),
                    1 if i["admin"] == "up" else 2, g.OPER_CODE[i["oper"]],
                    str(g.DUPLEX_CODE[i["duplex"]]) if i["if_type"] == 6 else None)
            if got != want:
                bad.append((x, got, want))
        h.check(not bad and len(w["%s.1" % IFX]) == len(exp),
                "%s: %d interfaces served as in the manifest (name, speeds, type, status, duplex)"
                % (s["code"], len(exp)), h._short(bad))
        h.check(all(i["if_type"] != 6 or i["if_name"] for i in exp.values())
                and any(i["if_type"] == 136 for i in exp.values())
                and any(i["if_type"] == 24 for i in exp.values()),
                "%s: has Vlanif (136) and NULL0 (24) rows besides Ethernet" % s["code"])

    h.step("counters move at the simulated rates")
    s = m["schools"][0]
    c = s["switches"][0]["community"]
    ifs = s["switches"][0]["interfaces"]
    a_hc, a_32 = sim.walk(c, "%s.6" % IFX), sim.walk(c, "%s.10" % IFT)
    a_up, ta = int(sim.get(c, "1.3.6.1.2.1.1.3.0")), time.time()
    time.sleep(3)
    b_hc, b_32 = sim.walk(c, "%s.6" % IFX), sim.walk(c, "%s.10" % IFT)
    b_up, tb = int(sim.get(c, "1.3.6.1.2.1.1.3.0")), time.time()
    dt = tb - ta
    h.check(abs((b_up - a_up) / dt - 100) < 10, "sysUpTime advances 100 ticks/s (%.1f)" % ((b_up - a_up) / dt))
    off = []
    for i in ifs:
        x = i["if_index"]
        hc = (int(col(b_hc, "%s.6" % IFX, x)) - int(col(a_hc, "%s.6" % IFX, x))) * 8 / dt
        c32 = ((int(col(b_32, "%s.10" % IFT, x)) - int(col(a_32, "%s.10" % IFT, x))) % 2 ** 32) * 8 / dt
        for got in (hc, c32):
            if abs(got - i["in_bps"]) > 0.1 * i["in_bps"] + 1:
                off.append((i["if_name"], i["in_bps"], got))
    h.check(not off, "ifHCInOctets and ifInOctets rates match the manifest on all %d ports" % len(ifs),
            h._short(off))

    h.step("snmpset changes one school's switch only")
    other = m["schools"][1]["switches"][0]
    x = 5
    before_other = sim.get(other["community"], "%s.15.%d" % (IFX, x))
    sim.set(c, ("%s.15.%d" % (IFX, x), "u", 10))
    h.check(sim.get(c, "%s.15.%d" % (IFX, x)) == "10", "ifHighSpeed.5 of %s reads 10 after snmpset" % c)
    h.check(sim.get(other["community"], "%s.15.%d" % (IFX, x)) == before_other,
            "ifHighSpeed.5 of %s unchanged (%s)" % (other["community"], before_other))
    sim.set(c, ("%s.8.%d" % (IFT, x), "i", 2), ("%s.%d" % (DOT3, x), "i", 2))
    h.check(sim.get(c, "%s.8.%d" % (IFT, x)) == "2" and sim.get(c, "%s.%d" % (DOT3, x)) == "2",
            "ifOperStatus and dot3StatsDuplexStatus are writable")

    h.step("inventory and configs")
    import csv
    with open(m["inventory"], encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    h.check(list(rows[0].keys()) == ["town", "school_code", "school_name", "school_type", "town_seat",
                                     "role", "room", "switch", "port", "probe"], "inventory header")
    for s in m["schools"]:
        mine = [r for r in rows if r["school_code"] == s["code"]]
        h.check(sum(r["role"] == "uplink" for r in mine) == 1
                and sum(r["role"] == "recording" for r in mine) == (1 if s["town_seat"] else 0)
                and all(r["port"] in {i["if_name"] for i in s["switches"][0]["interfaces"]} for r in mine),
                "%s (%s): one uplink row, %s recording row, every port exists"
                % (s["code"], s["name"], "one" if s["town_seat"] else "no"))
    conf = open(m["schools"][0]["agent_conf"], encoding="utf-8").read()
    h.check("[switch access1]" in conf and "community = sw-s001" in conf
            and "address = 127.0.0.1:%d" % port in conf, "agent config points at snmpsimd")

    h.step("snmpd SNMPv3 and the blackhole")
    d = h.Snmpd(log_path=wd.file("logs", "snmpd.log"))
    pids.append(d.daemon.pid)
    names = h.snmp_walk(d.port, "%s.1" % IFX, v3=d.v3)
    h.check("lo" in names.values(), "snmpd lists lo over SNMPv3 authPriv")
    try:
        h.snmp_get(d.port, "1.3.6.1.2.1.1.3.0", v3=dict(d.v3, auth_key="wrong-key-123"), timeout=0.5, retries=0)
        wrong = "answered"
    except RuntimeError as e:
        wrong = str(e)
    h.check("Authentication failure" in wrong, "snmpd refuses a wrong auth key")
    bh = h.Blackhole()
    try:
        h.snmp_get(bh.port, "1.3.6.1.2.1.1.3.0", community="x", timeout=0.3, retries=1)
        res = "answered"
    except RuntimeError as e:
        res = str(e)
    h.check("Timeout" in res and bh.received == 2, "blackhole swallowed both tries (%d)" % bh.received)

    h.step("stop and check nothing is left")
    sim.stop()
    d.stop()
    time.sleep(0.2)
    left = [p for p in pids if os.path.exists("/proc/%d" % p)]
    h.check(not left, "snmpsimd and snmpd are gone", "%s" % left)


if __name__ == "__main__":
    h.run_test(main)
