#!/usr/bin/env python3
"""SNMPv3 authPriv (SHA/AES) against the real net-snmp snmpd.

The agent polls one snmpd with the right keys (switch `core`) and a second
snmpd (its own engine ID, same user name) with a wrong auth_key (switch
`badkey`): the collector shows snmpd's interfaces (`lo` up) for `core`,
`core` stays ok and `badkey` is in status `error`.  (Two snmpds, because
net-snmp keys its USM users by engine ID and user name: two sections for
the same device and user with different keys is a config error of its own.)
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402
import gen_county  # noqa: E402

POLL = 2


def main():
    h.require_programs("snmpget", "snmpbulkwalk", h.SNMPD)
    agent_bin, collector_bin = h.binaries()
    wd = h.Workdir(prefix="schoolnet-v3-")
    d = h.Snmpd(log_path=wd.file("logs", "snmpd.log"))
    h.step("snmpd on %s, user %s (SHA/AES)" % (d.address, d.v3["user"]))
    lo = {k.rsplit(".", 1)[1]: v for k, v in h.snmp_walk(d.port, "1.3.6.1.2.1.31.1.1.1.1", v3=d.v3).items()}
    lo_index = next((int(k) for k, v in lo.items() if v == "lo"), None)
    h.check(lo_index is not None, "snmpd itself lists `lo` (ifIndex %s)" % lo_index, h._short(lo))

    cport = h.free_port("tcp")
    caddr = "127.0.0.1:%d" % cport
    conf = wd.file("collector.conf")
    with open(conf, "w") as f:
        f.write(gen_county.collector_conf_text(caddr, wd.file("collector.db")))
    d2 = h.Snmpd(log_path=wd.file("logs", "snmpd2.log"))
    h.step("second snmpd on %s (target of the wrong key)" % d2.address)
    good = dict(d.v3, name="core", address=d.address, version="3")
    bad = dict(d2.v3, name="badkey", address=d2.address, version="3", auth_key="not-the-right-key")
    aconf = wd.file("agent.conf")
    with open(aconf, "w") as f:
        f.write(gen_county.agent_conf_text("s901", caddr, wd.file("spool", "s901.db"), POLL,
                                           [good, bad], timeout=1, retries=1))
    h.enroll(collector_bin, conf, "s901", aconf)
    print(open(aconf).read().replace(d.v3["priv_key"], "***").replace(d.v3["auth_key"], "***"))
    h.check(d2.v3["auth_key"] != bad["auth_key"], "badkey's auth_key differs from the second snmpd's")

    h.step("agent poll once (`poll core --json`)")
    h.check_config(agent_bin, aconf)
    once = h.agent_json(agent_bin, aconf, "poll", "core")
    sw = (once.get("switches") or [{}])[0]
    h.check(sw.get("status") == "ok", "poll core: status ok", h._short(sw))
    ifs = {i["if_index"]: i for i in sw.get("interfaces", [])}
    h.check(ifs.get(lo_index, {}).get("if_name") == "lo" and ifs[lo_index].get("oper") == "up",
            "poll core: lo is up", h._short(ifs.get(lo_index)))
    h.check(len(ifs) == len(lo), "poll core: all %d snmpd interfaces" % len(lo), "got %s" % sorted(ifs))
    once_bad = h.agent_json(agent_bin, aconf, "poll", "badkey")
    swb = (once_bad.get("switches") or [{}])[0]
    h.check(swb.get("status") == "error", "poll badkey: status error (%s)" % swb.get("error"), h._short(swb))

    h.step("collector + agent daemon")
    h.check_config(collector_bin, conf)
    coll = h.Daemon([collector_bin, "-c", conf], wd.file("logs", "collector.log"), name="collector")
    h.wait_until(lambda: h.tcp_listening(cport), 20, "collector to listen on %s" % caddr, logs=[coll])
    h.Daemon([agent_bin, "-c", aconf], wd.file("logs", "agent.log"), name="agent",
             env={"SNMP_PERSISTENT_DIR": wd.sub("agent-snmp")})

    def states():
        b = {x["switch"]: x for x in h.collector_json(collector_bin, conf, "switches")["switches"]}
        if b.get("core", {}).get("status") == "ok" and b.get("badkey", {}).get("status") == "error":
            return b
        raise h.NotYet(h._short(b, 1500))
    b = h.wait_until(states, 8 * POLL + 20, "core ok and badkey error in `switches --json`")
    h.check(True, "switches --json: core ok, badkey error (%s)" % b["badkey"].get("error"))
    h.check(bool(b["badkey"].get("error")), "badkey has an error message")
    h.check(b["badkey"].get("last_ok") is None, "badkey last_ok is null")

    def lo_up():
        ps = h.collector_json(collector_bin, conf, "ports", "--school", "s901")["ports"]
        p = next((p for p in ps if p["switch"] == "core" and p["if_name"] == "lo"), None)
        if p is None:
            raise h.NotYet("%d ports: %s" % (len(ps), h._short(ps, 800)))
        return ps, p
    ps, p = h.wait_until(lo_up, 4 * POLL + 15, "lo of core in `ports --json`")
    h.check(p["oper"] == "up" and p["if_index"] == lo_index, "ports --json: core lo is up", h._short(p))
    h.check(sum(1 for x in ps if x["switch"] == "core") == len(lo),
            "ports --json: all %d snmpd interfaces" % len(lo))
    h.check(not any(x["switch"] == "badkey" for x in ps), "no ports for badkey")

    time.sleep(POLL + 0.5)
    b2 = {x["switch"]: x for x in h.collector_json(collector_bin, conf, "switches")["switches"]}
    h.check(b2["core"]["status"] == "ok" and b2["badkey"]["status"] == "error",
            "a later look: core still ok, badkey still error")


if __name__ == "__main__":
    h.run_test(main)
