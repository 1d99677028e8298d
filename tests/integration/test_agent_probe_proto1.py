#!/usr/bin/env python3
"""The real agent against collectors of both protocols (fake_collector.py,
plaintext on 127.0.0.1), with a probe target (the collector) and a switch
that never answers (each poll is a REPORT with status timeout).

Checks:
  - HELLO says protocol 2;
  - a protocol-1 collector (WELCOME without proto; a PROBE frame is an
    ERROR 1 and a close, as on main) never gets a PROBE, over three probe
    rounds: reports keep being acknowledged, on one connection, and the
    spool keeps no probe result (the ACKs forget them); the agent logs
    once per connection that probe results are not sent;
  - then a protocol-2 collector on the same address gets LATENCY PROBEs,
    and the reports still flow.
About 45 s.
"""
import os
import re
import sqlite3
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "sim")]
import harness as h  # noqa: E402
import gen_county  # noqa: E402
from fake_collector import FakeCollector  # noqa: E402

SCHOOL = "p001"
PROBE_EVERY = 10


def write_conf(wd, port):
    spool = wd.file("spool.db")
    switches = [{"name": "core", "address": "127.0.0.1:%d" % h.free_port("udp"),
                 "community": "public"}]
    text = gen_county.agent_conf_text(SCHOOL, "127.0.0.1:%d" % port, spool, 2, switches,
                                      timeout=0.5, retries=0,
                                      probe={"targets": "collector", "interval": PROBE_EVERY,
                                             "count": 2, "spacing": "100ms", "timeout": 1})
    text = text.replace("[agent]\n", "[agent]\ntls = off\n", 1)
    conf = wd.file("agent.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(text)
    return conf, spool


def spooled_probes(spool):
    db = sqlite3.connect("file:%s?mode=ro" % spool, uri=True, timeout=5)
    try:
        return db.execute("SELECT count(*) FROM spool WHERE type = 9").fetchone()[0]
    finally:
        db.close()


def main():
    agent_bin, _ = h.binaries()
    wd = h.Workdir(prefix="schoolnet-agentproto1-")
    old = FakeCollector(proto=1)
    conf, spool = write_conf(wd, old.port)
    h.check_config(agent_bin, conf)
    agent = h.Daemon([agent_bin, "-c", conf], wd.file("agent.log"), name="agent")
    logs = [agent]

    h.step("a protocol-1 collector over three probe rounds")
    h.wait_until(lambda: old.reports, 15, "the first REPORT", logs=logs)
    h.check(old.hello_protos[0] == 2, "HELLO says protocol 2 (%s)" % old.hello_protos)
    t0 = time.monotonic()
    time.sleep(3 * PROBE_EVERY + 2)
    with old.lock:
        reports, refused, welcomes = list(old.reports), old.refused_probes, old.welcomes
        acked = max(old.acked.values())
    print("  %.0f s: %d reports (seq %d..%d), acked up to %d, %d connections"
          % (time.monotonic() - t0, len(reports), reports[0], reports[-1], acked, welcomes))
    with open(agent.log_path, encoding="utf-8", errors="replace") as f:
        log = f.read()
    h.check(refused == 0, "no PROBE frame reached the old collector (%d)" % refused)
    h.check(welcomes == 1, "one connection all along (%d WELCOMEs)" % welcomes)
    h.check(len(reports) >= 12 and reports == sorted(reports),
            "reports keep coming in order (%d)" % len(reports))
    gaps = reports[-1] - reports[0] + 1 - len(reports)
    h.check(gaps >= 3, "the probe rounds took sequence numbers between them (%d gaps)" % gaps)
    h.check(acked == reports[-1], "the last report is acknowledged (%d)" % acked)
    h.wait_until(lambda: spooled_probes(spool) == 0, 5, "the spool to hold no probe result", logs=logs)
    h.check(True, "the spool holds no probe result")
    note = re.findall(r"collector speaks protocol 1: probe results are not sent "
                      r"\(upgrade the collector\)", log)
    h.check(len(note) == 1, "the agent said once that probe results are not sent (%d)" % len(note))

    h.step("a protocol-2 collector on the same address")
    port = old.port
    old.close()
    new = FakeCollector(proto=2, port=port)
    before = len(new.reports)
    h.wait_until(lambda: new.probes, PROBE_EVERY + 20, "a PROBE at the new collector", logs=logs)
    p = new.probes[0]
    h.check(p["kind"] == 1 and p["label"] == "collector" and p["target"] == "127.0.0.1:%d" % port
            and p["sent"] == 2, "a LATENCY PROBE of the collector target: %s" % p)
    h.wait_until(lambda: len(new.reports) > before + 2, 15, "reports at the new collector", logs=logs)
    h.check(new.hello_protos == [2], "HELLO protocol 2 again")
    rc = agent.stop()
    h.check(rc == 0, "the agent exits 0 on SIGTERM (%s)" % rc)
    new.close()


if __name__ == "__main__":
    h.run_test(main)
