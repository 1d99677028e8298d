#!/usr/bin/env python3
"""Poll benchmark: schoolnet-agent's side-by-side GETBULK poll of one
simulated 48-port switch against net-snmp's snmpbulkwalk, one column at a
time (what a script around the command-line tools would do).

  poll_bench.py --build DIR [--runs 10] [--max-rep 10]

Generates a 1-school county with tests/sim/gen_county.py, serves it with
snmpsimd (tests/sim/harness.py Snmpsim), warms up once, then times
  - `schoolnet-agent -c CONF poll --json` RUNS times (the JSON's elapsed_ms
    and pdus, and the process's wall time), and
  - `snmpbulkwalk -v2c -c COMMUNITY -Cr<max-rep> -On ADDR OID` for each of the
    17 interface column OIDs the agent reads (agent/snmp_poll.c columns[])
    plus one `snmpget` of sysUpTime.0, RUNS times (wall time of the set);
the PDUs of the tool set are counted once from `-d` packet dumps.

snmpsimd caps a GETBULK response at 64 varbinds by default, so the agent's
17 side-by-side columns get 3 rows per response instead of 10; the agent is
timed once more against snmpsimd --max-varbinds=N (--uncapped-varbinds).

Prints progress lines and, last, `POLLRESULT key=value ...` for bench/run.sh.
Everything it starts is stopped and its temp dirs removed (harness cleanup).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "sim"))
import gen_county  # noqa: E402
import harness as h  # noqa: E402

# agent/snmp_poll.c columns[], in that order.
COLUMNS = [
    ("ifDescr", "1.3.6.1.2.1.2.2.1.2"),
    ("ifType", "1.3.6.1.2.1.2.2.1.3"),
    ("ifSpeed", "1.3.6.1.2.1.2.2.1.5"),
    ("ifAdminStatus", "1.3.6.1.2.1.2.2.1.7"),
    ("ifOperStatus", "1.3.6.1.2.1.2.2.1.8"),
    ("ifInOctets", "1.3.6.1.2.1.2.2.1.10"),
    ("ifInDiscards", "1.3.6.1.2.1.2.2.1.13"),
    ("ifInErrors", "1.3.6.1.2.1.2.2.1.14"),
    ("ifOutOctets", "1.3.6.1.2.1.2.2.1.16"),
    ("ifOutDiscards", "1.3.6.1.2.1.2.2.1.19"),
    ("ifOutErrors", "1.3.6.1.2.1.2.2.1.20"),
    ("ifName", "1.3.6.1.2.1.31.1.1.1.1"),
    ("ifHCInOctets", "1.3.6.1.2.1.31.1.1.1.6"),
    ("ifHCOutOctets", "1.3.6.1.2.1.31.1.1.1.10"),
    ("ifHighSpeed", "1.3.6.1.2.1.31.1.1.1.15"),
    ("ifAlias", "1.3.6.1.2.1.31.1.1.1.18"),
    ("dot3StatsDuplexStatus", "1.3.6.1.2.1.10.7.2.1.19"),
]
SYS_UPTIME0 = "1.3.6.1.2.1.1.3.0"
TOOL_TIMEOUT = 60  # seconds, per tool process


def say(msg):
    print("poll: %s" % msg, flush=True)


def run(argv, env, timeout=TOOL_TIMEOUT):
    """Run argv; return (wall seconds, stdout text). Fails on exit status."""
    t = time.monotonic()
    r = subprocess.run(argv, capture_output=True, env=env, stdin=subprocess.DEVNULL,
                       timeout=timeout)
    wall = time.monotonic() - t
    if r.returncode != 0:
        raise h.TestFailure("%s exited %d: %s" % (" ".join(argv), r.returncode,
                                                 r.stderr.decode(errors="replace")[-2000:]))
    return wall, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def tool_set(address, community, max_rep, env, debug=False):
    """One 'poll' with the command-line tools: 17 walks + 1 get.
    Returns (wall seconds, varbind lines, PDUs sent if debug)."""
    total = 0.0
    lines = 0
    pdus = 0
    dbg = ["-d"] if debug else []
    for _name, oid in COLUMNS:
        wall, out, err = run(["snmpbulkwalk", "-v2c", "-c", community, "-Cr%d" % max_rep, "-On"]
                             + dbg + [address, oid], env)
        total += wall
        lines += sum(1 for ln in out.splitlines() if ln.startswith("."))
        pdus += sum(1 for ln in (out + err).splitlines() if ln.startswith("Sending"))
    wall, out, err = run(["snmpget", "-v2c", "-c", community, "-On"] + dbg
                         + [address, SYS_UPTIME0], env)
    total += wall
    tool_set.last_get = wall
    lines += sum(1 for ln in out.splitlines() if ln.startswith("."))
    pdus += sum(1 for ln in (out + err).splitlines() if ln.startswith("Sending"))
    return total, lines, pdus


def agent_poll(agent, conf, env):
    """One `schoolnet-agent poll --json`: (wall s, elapsed_ms, pdus, n_if)."""
    t = time.monotonic()
    r = subprocess.run([agent, "-c", conf, "poll", "--json"], capture_output=True, env=env,
                       stdin=subprocess.DEVNULL, timeout=TOOL_TIMEOUT)
    wall = time.monotonic() - t
    out = r.stdout.decode("utf-8", "replace")
    if r.returncode != 0:
        raise h.TestFailure("agent poll exited %d\nstdout: %s\nstderr: %s"
                            % (r.returncode, out[-2000:],
                               r.stderr.decode(errors="replace")[-2000:]))
    sw = json.loads(out)["switches"][0]
    if sw["status"] != "ok":
        raise h.TestFailure("agent poll: switch status %s: %s" % (sw["status"], sw.get("error")))
    return wall, sw["elapsed_ms"], sw["pdus"], len(sw["interfaces"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True, help="build dir with agent/schoolnet-agent")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--max-rep", type=int, default=10,
                    help="GETBULK max-repetitions for both (the agent default is 10)")
    ap.add_argument("--uncapped-varbinds", type=int, default=1000, metavar="N",
                    help="also time the agent against snmpsimd --max-varbinds=N "
                         "(0: skip; snmpsimd's default cap is 64)")
    a = ap.parse_args()
    if not 1 <= a.runs <= 100:
        ap.error("--runs must be 1..100")
    os.environ["SCHOOLNET_BUILD"] = os.path.abspath(a.build)
    agent, _collector = h.binaries()
    h.require_programs("snmpbulkwalk", "snmpget")

    wd = h.Workdir(prefix="schoolnet-pollbench-")
    snmp_port = h.free_port("udp")
    # The first seed (bounded) whose school 1 has a 48-port access switch.
    manifest = None
    for seed in range(1, 21):
        county = os.path.join(wd.path, "county-%d" % seed)
        m = gen_county.generate(county, snmp_port, "127.0.0.1:9", schools=1, seed=seed,
                                poll_interval=60)
        if m["schools"][0]["switches"][0]["access_ports"] == 48:
            manifest = m
            break
    if manifest is None:
        raise h.TestFailure("no seed in 1..20 gives a 48-port switch")
    school = manifest["schools"][0]
    sw = school["switches"][0]
    n_if = len(sw["interfaces"])
    conf = school["agent_conf"]
    if a.max_rep != 10:
        with open(conf, "a", encoding="utf-8") as f:
            f.write("max_repetitions = %d\n" % a.max_rep)
    h.check_config(agent, conf)
    say("county: school %s, switch %s (%s, %d interfaces), seed %d"
        % (school["code"], sw["name"], sw["model"], n_if, manifest["generator"]["seed"]))

    sim = h.Snmpsim(manifest["snmp_data_dir"], snmp_port,
                    log_path=os.path.join(wd.sub("logs"), "snmpsimd.log"))
    say("snmpsimd (pid %d) answering on %s" % (sim.daemon.pid, sim.address))
    env = h.snmp_env()
    env["SNMP_PERSISTENT_DIR"] = wd.sub("snmp-persist")
    community = sw["community"]

    # Warm-up: snmpsimd builds its indexes and caches on first use.
    _w, _e, _p, got = agent_poll(agent, conf, env)
    if got != n_if:
        raise h.TestFailure("agent saw %d interfaces, the manifest has %d" % (got, n_if))
    _t, lines, _ = tool_set(sim.address, community, a.max_rep, env)
    say("warm-up done (agent: %d interfaces; tools: %d varbinds)" % (got, lines))

    a_wall, a_ms, a_pdus = [], [], []
    for i in range(a.runs):
        wall, ms, pdus, got = agent_poll(agent, conf, env)
        if got != n_if:
            raise h.TestFailure("run %d: agent saw %d interfaces" % (i + 1, got))
        a_wall.append(wall)
        a_ms.append(ms)
        a_pdus.append(pdus)
    say("agent: %d polls, median %.0f ms in the poll (%d PDUs), %.0f ms per process"
        % (a.runs, statistics.median(a_ms), statistics.median(a_pdus),
           statistics.median(a_wall) * 1e3))

    t_wall, t_get = [], []
    for i in range(a.runs):
        wall, lines, _ = tool_set(sim.address, community, a.max_rep, env)
        t_wall.append(wall)
        t_get.append(tool_set.last_get)
    _t, _l, t_pdus = tool_set(sim.address, community, a.max_rep, env, debug=True)
    say("snmpbulkwalk x17 + snmpget: %d sets, median %.0f ms per set (%d PDUs, %d varbinds)"
        % (a.runs, statistics.median(t_wall) * 1e3, t_pdus, lines))
    say("  (of which a lone snmpget, 1 PDU, takes %.0f ms: mostly process start-up, "
        "paid 18 times per set)" % (statistics.median(t_get) * 1e3))

    # snmpsimd answers a GETBULK with at most --max-varbinds (default 64)
    # varbinds: 17 side-by-side columns get 3 rows per response, not 10.
    # Real switches cap by size instead; measure the agent once more with
    # the cap out of the way (the tools' one-column walks are not affected).
    u_ms, u_pdus = [], []
    if a.uncapped_varbinds:
        sim.stop()
        orig = h.variation_aliases
        h.variation_aliases = lambda d: orig(d) + ["--max-varbinds=%d" % a.uncapped_varbinds]
        try:
            sim = h.Snmpsim(manifest["snmp_data_dir"], snmp_port,
                            log_path=os.path.join(wd.sub("logs"), "snmpsimd-uncapped.log"))
        finally:
            h.variation_aliases = orig
        agent_poll(agent, conf, env)  # warm-up
        for i in range(a.runs):
            _wall, ms, pdus, got = agent_poll(agent, conf, env)
            if got != n_if:
                raise h.TestFailure("run %d: agent saw %d interfaces" % (i + 1, got))
            u_ms.append(ms)
            u_pdus.append(pdus)
        say("agent, snmpsimd --max-varbinds=%d: %d polls, median %.0f ms in the poll (%d PDUs)"
            % (a.uncapped_varbinds, a.runs, statistics.median(u_ms), statistics.median(u_pdus)))

    agent_ms = statistics.median(a_ms)
    agent_wall_ms = statistics.median(a_wall) * 1e3
    tools_ms = statistics.median(t_wall) * 1e3
    agent_pdus = int(statistics.median(a_pdus))
    print("POLLRESULT interfaces=%d runs=%d max_rep=%d agent_ms=%.1f agent_wall_ms=%.1f "
          "agent_pdus=%d tools_ms=%.1f tools_pdus=%d time_ratio=%.2f time_ratio_wall=%.2f "
          "pdu_ratio=%.2f snmpget_ms=%.1f"
          % (n_if, a.runs, a.max_rep, agent_ms, agent_wall_ms, agent_pdus, tools_ms, t_pdus,
             tools_ms / max(agent_ms, 0.1), tools_ms / max(agent_wall_ms, 0.1),
             t_pdus / max(agent_pdus, 1), statistics.median(t_get) * 1e3), end="",
          flush=True)
    if u_ms:
        um, up = statistics.median(u_ms), int(statistics.median(u_pdus))
        print(" uncapped_max_varbinds=%d agent_ms_uncapped=%.1f agent_pdus_uncapped=%d "
              "time_ratio_uncapped=%.2f pdu_ratio_uncapped=%.2f"
              % (a.uncapped_varbinds, um, up, tools_ms / max(um, 0.1), t_pdus / max(up, 1)),
              end="")
    print(flush=True)


if __name__ == "__main__":
    h.install_signal_handlers()
    rc = 1
    try:
        main()
        rc = 0
    except h.Skip as e:
        print("poll: SKIP: %s" % e, flush=True)
        rc = 77
    except h.TestFailure as e:
        print("poll: FAILED: %s" % e, flush=True)
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    finally:
        h.cleanup_all()
    sys.exit(rc)
