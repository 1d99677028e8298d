#!/usr/bin/env python3
"""The agent's throughput probe, driven through the real collector: its
accuracy against iperf3 at shaped rates, and what the agent costs while a
1 Gbit test runs.

    sudo bench/probe_bench.py [--build DIR] [--runs N] [--seconds S]
                                                     (about 1.5 min)

A one-school County across the network lab (tests/sim/netlab.py): the
collector in the "district" namespace with its probe server on the veth
address, snmpsimd and the agent in the "school" namespace, tests started
with `schoolnet-collector probe --school CODE` (4 streams, S s a
direction, time-bound).  Prints:
  a. at tbf 80, 500 and 1000 Mbit both ways: iperf3 (-P 4, S s) then the
     agent's test, N times; the median of each and the ratio agent/iperf3;
  b. one more 1 Gbit test: the agent process's CPU (utime + stime from
     /proc/PID/stat, before and after), its peak RSS during the test
     (VmHWM, reset through /proc/PID/clear_refs just before) and its RSS
     before, and the collector's CPU over the same test (probe server
     and the rest).
PROBERESULT lines (key=value) repeat the figures for scripts.  Traffic
stays inside the lab's two namespaces.  Needs root (namespaces), iperf3,
snmpsimd and a build (--build, or $SCHOOLNET_BUILD, default build/; a
Release or RelWithDebInfo one for figures worth quoting).
"""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "sim"))
import harness as h  # noqa: E402
import netlab  # noqa: E402

RATES = (80, 500, 1000)
STREAMS = 4


def proc_cpu(pid):
    """utime + stime of `pid` (all its threads), seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def result(**kw):
    print("PROBERESULT " + " ".join("%s=%s" % kv for kv in kw.items()), flush=True)


def one_test(county):
    rc, row, _, text, took = netlab.run_probe(county)
    if rc != 0 or row is None or row["state"] != "done":
        raise RuntimeError("probe --school %s: exit %d, row %s\n%s"
                           % (county.code, rc, row, text[-2000:]))
    return row, took


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", help="build dir (default $SCHOOLNET_BUILD or build/)")
    ap.add_argument("--runs", type=int, default=3, help="tests per rate and direction (1..9)")
    ap.add_argument("--seconds", type=int, default=3, help="seconds a direction (2..10)")
    a = ap.parse_args()
    if not 1 <= a.runs <= 9 or not 2 <= a.seconds <= 10:
        ap.error("--runs 1..9, --seconds 2..10")
    if a.build:
        os.environ["SCHOOLNET_BUILD"] = os.path.abspath(a.build)
    if os.geteuid() != 0:
        print("probe_bench: needs root (network namespaces)", file=sys.stderr)
        return 1
    h.require_programs("iperf3", h.SNMPSIMD)
    wd = h.Workdir(prefix="schoolnet-probe-bench-")
    with netlab.Lab(workdir=wd.sub("lab")) as lab:
        county = netlab.probe_county(lab, wd, seconds=a.seconds, streams=STREAMS,
                                     bytes_mb=200 * a.seconds)
        agent = netlab.start_probe_county(county)
        print("lab %s: collector and probe server %s (district), agent pid %d in %s; build %s"
              % (lab.tag, lab.district.addr, agent.pid, lab.school.addr, h.build_dir()))
        print("load before: %s" % open("/proc/loadavg").read().strip())

        print("\na. accuracy: median of %d runs, %d streams, %d s a direction (Mbps)"
              % (a.runs, STREAMS, a.seconds))
        print("  %-9s %10s %10s %7s %10s %10s %7s" % ("tbf", "iperf3 dn", "agent dn", "ratio",
                                                     "iperf3 up", "agent up", "ratio"))
        for rate in RATES:
            lab.shape(rate_mbit=rate)
            f = {"ip_dn": [], "ag_dn": [], "ip_up": [], "ag_up": []}
            for _ in range(a.runs):
                f["ip_dn"].append(lab.iperf3(seconds=a.seconds, reverse=True, streams=STREAMS))
                f["ip_up"].append(lab.iperf3(seconds=a.seconds, streams=STREAMS))
                row, _ = one_test(county)
                f["ag_dn"].append(row["down_mbps"])
                f["ag_up"].append(row["up_mbps"])
            m = {k: statistics.median(v) for k, v in f.items()}
            print("  %-9s %10.1f %10.1f %7.3f %10.1f %10.1f %7.3f"
                  % ("%d Mbit" % rate, m["ip_dn"], m["ag_dn"], m["ag_dn"] / m["ip_dn"],
                     m["ip_up"], m["ag_up"], m["ag_up"] / m["ip_up"]), flush=True)
            result(part="a", rate=rate, iperf3_down=round(m["ip_dn"], 1),
                   agent_down=round(m["ag_dn"], 1), ratio_down=round(m["ag_dn"] / m["ip_dn"], 3),
                   iperf3_up=round(m["ip_up"], 1), agent_up=round(m["ag_up"], 1),
                   ratio_up=round(m["ag_up"] / m["ip_up"], 3),
                   runs_down=",".join("%.1f/%.1f" % x for x in zip(f["ag_dn"], f["ip_dn"])),
                   runs_up=",".join("%.1f/%.1f" % x for x in zip(f["ag_up"], f["ip_up"])))

        print("\nb. the agent during one 1 Gbit test (%d s down, then %d s up)"
              % (a.seconds, a.seconds))
        lab.shape(rate_mbit=1000)
        pid, cpid = agent.pid, county.collector.pid
        rss0 = proc_status_kb(pid, "VmRSS")
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        c0, cc0, t0 = proc_cpu(pid), proc_cpu(cpid), time.monotonic()
        row, took = one_test(county)
        c1, cc1, wall = proc_cpu(pid), proc_cpu(cpid), time.monotonic() - t0
        hwm = proc_status_kb(pid, "VmHWM")
        busy = (row["down_ms"] + row["up_ms"]) / 1000.0
        cpu, ccpu = c1 - c0, cc1 - cc0
        print("  measured %.1f Mbps down, %.1f up; transfers %.2f s of the command's %.2f s"
              % (row["down_mbps"], row["up_mbps"], busy, wall))
        print("  agent CPU %.2f s: %.0f %% of one core over the transfers (%.0f %% over the "
              "command)" % (cpu, 100 * cpu / busy, 100 * cpu / wall))
        print("  agent RSS %.1f MiB before, peak %.1f MiB during (+%.1f MiB)"
              % (rss0 / 1024.0, hwm / 1024.0, (hwm - rss0) / 1024.0))
        print("  collector (probe server) CPU %.2f s: %.0f %% of one core over the transfers"
              % (ccpu, 100 * ccpu / busy))
        result(part="b", down=round(row["down_mbps"], 1), up=round(row["up_mbps"], 1),
               transfer_s=round(busy, 2), wall_s=round(wall, 2), agent_cpu_s=round(cpu, 2),
               agent_cpu_pct=round(100 * cpu / busy), rss_before_kb=rss0, hwm_kb=hwm,
               collector_cpu_s=round(ccpu, 2))
        print("load after: %s" % open("/proc/loadavg").read().strip())
        agent.stop()
        county.collector.stop()
    return 0


if __name__ == "__main__":
    h.install_signal_handlers()
    rc = 1
    try:
        rc = main()
    finally:
        h.cleanup_all()
    sys.exit(rc)
