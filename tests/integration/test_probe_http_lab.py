#!/usr/bin/env python3
"""The agent's HTTP probes (agent/probe_http.c) in the network lab
(tests/sim/netlab.py), through tests/probe_http_cli (one throughput test or
host check, printed as JSON; `serve` is the throughput server).

  - throughput server: `probe_http_cli serve` (libmicrohttpd, tests/
    probe_srv.c) in the district, bound to the district's address.  Not
    python3: a Python server sending 125 MB/s would itself be the
    bottleneck on this 2-core machine (and skew the CPU figures), and this
    is the same C server the unit tests use.  The collector's own probe
    server, driven by the whole agent, is in test_lab_throughput.py.
  - the driver runs in the school, as the agent would;
  - tbf at 1000 Mbit both ways (the rate that needs the CPU; 80 and 500
    Mbit are test_lab_throughput.py's, through the whole agent and the
    collector's probe server): the probe (4 streams, 3 s, cut by time)
    against iperf3 (-P 4, -t 3) in the same lab, both directions, within
    +-10 % of iperf3.  No delay is configured, so TCP
    slow start takes a few milliseconds at the veth's ~0.05 ms RTT: iperf3
    runs without --omit and the probe counts from its first byte, the same
    way for both;
  - the driver's CPU time and max RSS (its own getrusage, and /usr/bin/time
    -v when there) for a 1 Gbit download;
  - RTSP (gst-rtsp-server in the school): OPTIONS + DESCRIBE ok; stopped ->
    not ok; started again -> ok;
  - HTTP recording host (busybox httpd in the school) with the expected
    text: ok; other text -> not ok; stopped -> not ok; started -> ok.

Traffic stays inside the lab's two namespaces.  Skips (77) without
namespaces or a program netlab needs, or without the driver
($SCHOOLNET_BUILD/tests/probe_http_cli; SCHOOLNET_PROBE_CLI overrides, e.g.
a Release build's for the figures).  About 30 s.
"""
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402
import netlab  # noqa: E402

RATES = (1000,)
SECONDS = 3
STREAMS = 4
TOLERANCE = 0.10
TOKEN = "lab-%d" % os.getpid()


def driver():
    cli = os.environ.get("SCHOOLNET_PROBE_CLI") or \
        os.path.join(h.build_dir(), "tests", "probe_http_cli")
    if not os.access(cli, os.X_OK):
        raise h.Skip("not built: %s (set SCHOOLNET_BUILD or SCHOOLNET_PROBE_CLI)" % cli)
    return cli


def run_cli(node, argv, timeout):
    r = node.run(argv, timeout=timeout)
    out = r.stdout.decode("utf-8", "replace")
    err = r.stderr.decode("utf-8", "replace")
    if r.returncode != 0:
        raise h.TestFailure("%s exited %d: %s %s" % (" ".join(map(str, argv)), r.returncode,
                                                   out[-1000:], err[-2000:]))
    try:
        line = [ln for ln in out.splitlines() if ln.startswith("{")][-1]
        return json.loads(line), err
    except (IndexError, ValueError):
        raise h.TestFailure("no JSON from %s: %r %r" % (argv, out[-1000:], err[-1000:]))


def main():
    h.require_programs("ip", "tc", "iperf3", "busybox", "setpriv")
    cli = driver()
    with netlab.Lab() as lab:
        d, s = lab.district, lab.school
        port = d.free_port()
        srv = d.daemon([cli, "serve", "--addr", d.addr, "--port", port,
                        "--auth", "Bearer " + TOKEN, "--max-life", 900], name="probe-srv")
        d.wait_listening(port, 15, srv, "the probe server on %s:%d" % (d.addr, port))
        base = "http://%s:%d" % (d.addr, port)
        h.step("lab %s: probe server %s in the district, driver %s in the school"
               % (lab.tag, base, cli))

        def throughput(rate, down=True, up=True, seconds=SECONDS, wrap=()):
            argv = list(wrap) + [cli, "throughput", "--streams", STREAMS,
                                 "--seconds", seconds,
                                 # enough for twice the rate: the time cut ends it
                                 "--bytes", int(rate * 1e6 / 8 * seconds * 2),
                                 "--auth", "Authorization: Bearer " + TOKEN]
            if down:
                argv += ["--down", base + "/down"]
            if up:
                argv += ["--up", base + "/up"]
            return run_cli(s, argv, timeout=4 * seconds + 60)

        # An unauthorized run: the error names the URL, nothing moved.
        res, _ = run_cli(s, [cli, "throughput", "--down", base + "/down", "--up", base + "/up",
                             "--bytes", 1000000, "--seconds", 2, "--streams", 2], timeout=60)
        h.check("/down: HTTP 401" in res["error"] and "/up: HTTP 401" in res["error"]
                and res["down_mbps"] < 0 and res["up_mbps"] < 0,
                "no token: %s" % res["error"], str(res))

        summary = []
        for rate in RATES:
            h.step("tbf %d Mbit both ways" % rate)
            lab.shape(rate_mbit=rate)
            for direction in ("down", "up"):
                runs = []
                # A run off by more than 10 % on a busy 2-core machine is
                # measured again (iperf3 and the probe both), 3 tries at most.
                for _ in range(3):
                    ip = lab.iperf3(seconds=SECONDS, reverse=direction == "down", streams=STREAMS)
                    res, _ = throughput(rate, down=direction == "down", up=direction == "up")
                    mbps = res[direction + "_mbps"]
                    dev = (mbps - ip) / ip if ip > 0 else float("inf")
                    runs.append("probe %.1f / iperf3 %.1f Mbps (%+.1f %%, %d bytes in %.3f s)%s"
                                % (mbps, ip, dev * 100, res[direction + "_bytes"],
                                   res[direction + "_s"],
                                   "; error: " + res["error"] if res["error"] else ""))
                    if abs(dev) <= TOLERANCE and not res["error"]:
                        break
                summary.append((rate, direction, mbps, ip, dev))
                h.check(abs(dev) <= TOLERANCE and not res["error"],
                        "tbf %d Mbit %s: probe %.1f Mbps, iperf3 %.1f Mbps: %+.1f %% (%.1f %% of "
                        "the tbf rate)%s"
                        % (rate, direction, mbps, ip, dev * 100, mbps / rate * 100,
                           "" if len(runs) == 1 else "; runs: " + "; ".join(runs)),
                        "runs:\n  " + "\n  ".join(runs) + "\n" + lab.tc_show())

        h.step("CPU and memory of the driver during a 1 Gbit download (%d s, %d streams)"
               % (SECONDS, STREAMS))
        lab.shape(rate_mbit=1000)
        wrap = ("/usr/bin/time", "-v") if os.access("/usr/bin/time", os.X_OK) else ()
        res, err = throughput(1000, up=False, wrap=wrap)
        cpu = res["cpu_user_s"] + res["cpu_sys_s"]
        extra = ""
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
        pct = re.search(r"Percent of CPU this job got: (\S+)", err)
        if rss and pct:
            extra = " (/usr/bin/time: max RSS %s kB, %s CPU)" % (rss.group(1), pct.group(1))
        h.check(res["down_mbps"] > 0 and not res["error"],
                "download %.1f Mbps: CPU user %.2f s + sys %.2f s = %.2f s over %.2f s "
                "(%.0f %% of one core), max RSS %d kB%s"
                % (res["down_mbps"], res["cpu_user_s"], res["cpu_sys_s"], cpu, res["wall_s"],
                   100 * cpu / res["wall_s"], res["max_rss_kb"], extra), str(res))
        lab.unshape()

        h.step("recording hosts in the school")
        text = "recording room 3 camera OK"
        web = lab.http_server("school", text=text)
        cam = lab.rtsp_server("school", path="/stream")

        def check(url, expect=None):
            argv = [cli, "check", url, "--timeout", 5]
            if expect:
                argv += ["--expect", expect]
            return run_cli(s, argv, timeout=60)[0]

        def hosts_up(what):
            r = check(cam.url)
            h.check(r["ok"] and r["status"] == 200 and not r["error"],
                    "%s: RTSP OPTIONS + DESCRIBE %s -> %d in %d ms"
                    % (what, cam.url, r["status"], r["time_ms"]), str(r))
            r = check(web.url, text)
            h.check(r["ok"] and r["status"] == 200,
                    "%s: GET %s has %r (%d ms)" % (what, web.url, text, r["time_ms"]), str(r))

        hosts_up("up")
        r = check(web.url, "some other camera")
        h.check(not r["ok"] and r["status"] == 200 and "is not in the first" in r["error"],
                "other text: not ok (%s)" % r["error"], str(r))
        cam.stop()
        web.stop()
        r = check(cam.url)
        h.check(not r["ok"] and r["status"] == 0 and "OPTIONS rtsp://" in r["error"],
                "RTSP stopped: not ok (%s)" % r["error"], str(r))
        r = check(web.url, text)
        h.check(not r["ok"] and r["status"] == 0, "HTTP stopped: not ok (%s)" % r["error"], str(r))
        cam.start()
        web.start()
        hosts_up("started again")

        srv.stop()
        print("  summary: " + "; ".join("%d %s %.1f/%.1f (%+.1f %%)" % (rate, dn, m, i, dv * 100)
                                        for rate, dn, m, i, dv in summary))


if __name__ == "__main__":
    h.run_test(main)
