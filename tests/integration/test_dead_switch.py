#!/usr/bin/env python3
"""One dead switch must not hold up the others.

An agent polls three switches: two simulated ones and a UDP blackhole that
never answers (timeout 1 s, 1 retry, poll_interval 2 s).  Over ~10 s both
real switches' last_poll must advance every interval (no gap over two
intervals) and the dead one must show status `timeout`.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402
import gen_county  # noqa: E402

POLL = 2
WATCH = 10.0


def main():
    h.require_programs("snmpget", "snmpbulkwalk")
    h.binaries()
    wd = h.Workdir(prefix="schoolnet-dead-")
    county = h.County(wd, schools=2, seed=5, poll_interval=POLL)
    m = county.manifest
    hole = h.Blackhole()
    conf = os.path.join(county.dir, "agents", "dead-test.conf")
    switches = [
        {"name": "access1", "address": "127.0.0.1:%d" % county.snmp_port, "community": "sw-s001"},
        {"name": "access2", "address": "127.0.0.1:%d" % county.snmp_port, "community": "sw-s002"},
        {"name": "dead1", "address": hole.address, "community": "sw-dead"},
    ]
    with open(conf, "w", encoding="utf-8") as f:
        f.write(gen_county.agent_conf_text("s001", county.collector_addr,
                                           os.path.join(county.dir, "spool", "dead-test.db"),
                                           POLL, switches, timeout=1, retries=1))
    county.enroll("s001", conf)
    h.step("agent s001 with access1, access2 (snmpsimd) and dead1 (blackhole %s)" % hole.address)
    county.start_snmpsim()
    county.start_collector()
    county.start_agent("s001", conf)

    def by_switch():
        return {x["switch"]: x for x in county.switches()["switches"] if x["school"] == "s001"}

    def all_seen():
        b = by_switch()
        if {"access1", "access2", "dead1"} <= set(b) and b["dead1"].get("last_poll") \
                and all(b[s].get("last_poll") for s in ("access1", "access2")):
            return b
        raise h.NotYet(h._short(b, 1500))
    h.wait_until(all_seen, 6 * POLL + 20, "all three switches in `switches --json`")

    h.step("watch last_poll for %.0f s" % WATCH)
    seen = {"access1": [], "access2": []}
    worst_age = {"access1": 0.0, "access2": 0.0}
    dead_status = set()
    t_end = time.time() + WATCH
    while time.time() < t_end:
        now = time.time()
        b = by_switch()
        for s in seen:
            lp = h.parse_iso(b[s]["last_poll"])
            if not seen[s] or seen[s][-1] != lp:
                seen[s].append(lp)
            worst_age[s] = max(worst_age[s], now - lp)
        dead_status.add(b["dead1"]["status"])
        time.sleep(0.25)
    b = by_switch()
    for s in ("access1", "access2"):
        ts = seen[s]
        gaps = [round(b2 - a, 2) for a, b2 in zip(ts, ts[1:])]
        print("    %s last_poll values: %d, gaps %s, worst age %.1f s" % (s, len(ts), gaps, worst_age[s]))
        h.check(len(ts) >= int(WATCH / POLL) - 1,
                "%s polled at least %d times in %.0f s (got %d)" % (s, int(WATCH / POLL) - 1, WATCH, len(ts)))
        h.check(all(g <= 2 * POLL for g in gaps), "%s: no gap between polls over %d s" % (s, 2 * POLL),
                "gaps %s" % gaps)
        h.check(worst_age[s] <= 2 * POLL + 1.5,
                "%s: last_poll never older than %.1f s (worst %.1f s)" % (s, 2 * POLL + 1.5, worst_age[s]))
        h.check(b[s]["status"] == "ok", "%s status ok" % s, h._short(b[s]))
    h.check(b["dead1"]["status"] == "timeout", "dead1 status is timeout", h._short(b["dead1"]))
    h.check(dead_status == {"timeout"}, "dead1 was `timeout` throughout (saw %s)" % sorted(dead_status))
    h.check(b["dead1"].get("last_ok") is None, "dead1 last_ok is null", h._short(b["dead1"]))
    h.check(hole.received >= 2, "the agent did send requests to the blackhole (%d datagrams)" % hole.received)
    ports = county.ports("s001")["ports"]
    n = {s: sum(1 for p in ports if p["switch"] == s) for s in ("access1", "access2", "dead1")}
    want = {"access1": len(m["schools"][0]["switches"][0]["interfaces"]),
            "access2": len(m["schools"][1]["switches"][0]["interfaces"]), "dead1": 0}
    h.check(n == want, "ports of s001 per switch %s" % want, "got %s" % n)


if __name__ == "__main__":
    h.run_test(main)
