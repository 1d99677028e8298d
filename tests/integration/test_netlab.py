#!/usr/bin/env python3
"""The network lab itself (tests/sim/netlab.py), which the link-probe tests
build on: two namespaces of our own ("district", "school") joined by a veth
pair, shaped with tc.

Checks, each with the figures it saw:
  - an unshaped veth carries well over 1 Gbit/s (so the 1000 Mbit case is
    the shaper's doing, not the machine's limit);
  - tbf at 80 and 1000 Mbit: iperf3 down (district -> school) and up
    (school -> district), 2 s each, land within +-10 % of the shaped rate
    (test_lab_throughput.py, which runs iperf3 at 80, 500 and 1000 Mbit
    anyway, checks all three the same way);
  - 50 ms delay each way shows as ~100 ms TCP-connect time from the school
    to the district; 10 ms jitter as spread in ping RTTs; 20 % loss each way
    as ~36 % ping loss and failed or retried (>= 1 s) TCP connects; rate and
    delay together still carry the rate;
  - a busybox httpd in the school answers with its page text, the
    gst-rtsp-server answers OPTIONS (curl) and OPTIONS + DESCRIBE (libcurl)
    with 200 and an SDP; after stop() both refuse, after start() both
    answer again;
  - the namespaces are gone after the lab is closed, after an exception in
    its `with` block, and after a process holding a lab gets SIGTERM.

Traffic goes only to the two addresses inside the lab's namespaces.
Skips (77) when the kernel refuses network namespaces or a program is
missing (see netlab.py for the Debian packages).  About 30 s.
"""
import os
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402
import netlab  # noqa: E402

RATES = (80, 1000)
RATE_SECONDS = 2    # iperf3 at each tbf rate
SECONDS = 3         # iperf3 with rate and delay together (after 1 s of ramp-up)
TOLERANCE = 0.10


def fmt(x):
    return "%.0f" % x if x is not None else "-"


def check_rate(lab, rate, baseline):
    lab.shape(rate_mbit=rate)
    # If the machine cannot carry the rate unshaped, the honest target is
    # what it does carry (not the case here: a veth does >10 Gbit/s).
    target = rate if baseline >= rate * 1.2 else baseline
    for reverse, name in ((True, "down"), (False, "up")):
        # tbf caps the rate, so a run above +10 % fails at once; one below
        # -10 % is what a CPU-starved run looks like on a busy 2-core machine
        # (other tests, a browser): measured again, at most 3 runs in all.
        runs = []
        for _ in range(3):
            t0 = time.monotonic()
            j = lab.iperf3_json(seconds=RATE_SECONDS, reverse=reverse)
            mbps = j["end"]["sum_received"]["bits_per_second"] / 1e6
            cpu = j["end"].get("cpu_utilization_percent", {})
            runs.append("%.1f Mbps (%.1f s, CPU sender %.0f %% receiver %.0f %%)"
                        % (mbps, time.monotonic() - t0,
                           cpu.get("remote_total" if reverse else "host_total", -1),
                           cpu.get("host_total" if reverse else "remote_total", -1)))
            dev = (mbps - target) / target
            if dev > TOLERANCE or abs(dev) <= TOLERANCE:
                break
        h.check(abs(dev) <= TOLERANCE,
                "tbf %d Mbit %s: iperf3 %.1f Mbps, %+.1f %% of %s %.0f (TCP payload at MTU 1500 is "
                "at most %.1f %% of the wire rate)%s"
                % (rate, name, mbps, dev * 100, "the rate" if target == rate else
                   "the unshaped veth's", target, netlab.GOODPUT_FACTOR * 100,
                   "" if len(runs) == 1 else "; runs: " + ", ".join(runs)),
                "runs: %s\n%s" % (", ".join(runs), lab.tc_show()))


def main():
    h.require_programs("ip", "tc", "iperf3", "busybox", "curl", "ping", "iptables", "setpriv")

    # Cleanup on an exception inside the `with` block.
    names = []
    try:
        with netlab.Lab() as lab:
            names = [lab.district.name, lab.school.name]
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    left = set(names) & set(netlab.netns_list())
    h.check(names and not left, "an exception in the with block removes %s" % ", ".join(names),
            "left: %s" % left)

    # Cleanup on SIGTERM of a process holding a lab (its delay line too).
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; sys.path.insert(0, %r); import netlab\n"
         "lab = netlab.Lab(); lab.shape(delay_ms=5)\n"
         "print(lab.district.name, lab.school.name, flush=True); time.sleep(60)"
         % os.path.dirname(os.path.abspath(netlab.__file__))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    h.on_cleanup(lambda: child.poll() is None and os.killpg(child.pid, signal.SIGKILL))
    line = child.stdout.readline().decode().split()
    h.check(len(line) == 2 and set(line) <= set(netlab.netns_list()),
            "a child process made a lab (%s)" % " ".join(line),
            child.stderr.read().decode() if child.poll() is not None else "")
    child.send_signal(signal.SIGTERM)
    rc = child.wait(20)
    left = set(line) & set(netlab.netns_list())
    h.check(not left, "SIGTERM to it (exit %d) removed its namespaces" % rc, "left: %s" % left)

    t_start = time.monotonic()
    with netlab.Lab() as lab:
        d, s = lab.district, lab.school
        h.step("lab %s: district %s (%s) <-> school %s (%s); delay/loss by %s"
               % (lab.tag, d.addr, d.ifname, s.addr, s.ifname, lab.impair_backend))
        p = s.ping(d.addr, count=3, interval=0.05)
        h.check(p["received"] == 3, "the school pings the district (%.3f ms)" % p["avg"])

        h.step("unshaped veth")
        base_down = lab.iperf3(seconds=2, reverse=True)
        base_up = lab.iperf3(seconds=2)
        baseline = min(base_down, base_up)
        h.check(baseline > 0, "unshaped: %.0f Mbps down, %.0f Mbps up%s"
                % (base_down, base_up, "" if baseline >= 1200 else
                   " (below 1.2 x 1000 Mbit: the 1000 Mbit case is held to this instead)"))

        for rate in RATES:
            h.step("tbf %d Mbit both ways" % rate)
            check_rate(lab, rate, baseline)
        lab.unshape()
        out = lab.tc_show()
        h.check("tbf" not in out, "unshape() removes the qdiscs", out)

        sink = d.tcp_sink()
        h.step("delay 50 ms each way (TCP connects school -> district %s:%d)" % (d.addr, sink.port))
        print("  " + "; ".join("%s: %s" % kv for kv in lab.shape(delay_ms=50).items()))
        times = s.tcp_connect_times(d.addr, sink.port, count=15, interval=0.02, timeout=2)
        ok = [t for t in times if t is not None]
        med = statistics.median(ok) if ok else None
        h.check(len(ok) == len(times) and 95 <= med <= 120,
                "TCP connect %d/%d, min/median/max %s/%s/%s ms (expected ~100)"
                % (len(ok), len(times), fmt(min(ok, default=None)), fmt(med),
                   fmt(max(ok, default=None))), "times: %s" % times)

        h.step("delay 50 ms +- 10 ms jitter each way")
        lab.shape(delay_ms=50, jitter_ms=10)
        p = s.ping(d.addr, count=50, interval=0.02)
        h.check(p["received"] == 50 and 90 <= p["avg"] <= 115 and p["mdev"] >= 3
                and p["min"] >= 78 and p["max"] <= 125,
                "ping %d/%d, min/avg/max/mdev %.1f/%.1f/%.1f/%.1f ms "
                "(expected avg ~100, spread up to +-20)"
                % (p["received"], p["sent"], p["min"] or 0, p["avg"] or 0, p["max"] or 0,
                   p["mdev"] or 0), str(p))

        h.step("20 % loss each way")
        lab.shape(loss_pct=20)
        p = s.ping(d.addr, count=200, interval=0.005, wait=0.5)
        h.check(20 <= p["loss_pct"] <= 52,
                "ping loss %.1f %% of %d (expected 1 - 0.8^2 = 36 %%)" % (p["loss_pct"], p["sent"]),
                str(p))
        times = s.tcp_connect_times(d.addr, sink.port, count=30, interval=0.01, timeout=0.5)
        fast = [t for t in times if t is not None]
        h.check(len(fast) < len(times),
                "TCP connect: %d of %d failed within 0.5 s (a lost SYN or SYN-ACK waits for the "
                "1 s retransmission; expected ~36 %%), the rest median %s ms"
                % (len(times) - len(fast), len(times), "%.2f" % statistics.median(fast)
                   if fast else "-"), "times: %s" % times)

        h.step("80 Mbit and 20 ms delay each way together")
        lab.shape(rate_mbit=80, delay_ms=20)
        mbps = lab.iperf3(seconds=SECONDS, reverse=True, omit=1)  # after slow start
        times = s.tcp_connect_times(d.addr, sink.port, count=5, interval=0.02, timeout=2)
        ok = [t for t in times if t is not None]
        h.check(abs(mbps - 80) / 80 <= TOLERANCE and len(ok) == 5 and 38 <= min(ok) <= 60,
                "iperf3 down %.1f Mbps after 1 s of ramp-up, TCP connect min %s ms (expected ~40)"
                % (mbps, fmt(min(ok, default=None))), lab.tc_show())
        lab.unshape()

        h.step("recording host stand-ins in the school")
        web = lab.http_server("school", text="recording room 3 camera OK")
        cam = lab.rtsp_server("school", path="/stream")
        print("  %s, %s" % (web, cam))

        def answers(what):
            rc, status, body = web.probe("district")
            h.check(rc == 0 and status == 200 and web.text in body,
                    "%s: GET %s -> %d with the page text" % (what, web.url, status), body[-500:])
            rc, status, body = netlab.curl(d, cam.url)
            h.check(rc == 0 and status == 200,
                    "%s: curl %s (OPTIONS) -> %d" % (what, cam.url, status), body[-500:])
            t0 = time.monotonic()
            res = cam.probe("district")
            took = (time.monotonic() - t0) * 1000
            h.check([r["status"] for r in res] == [200, 200] and "m=video" in res[1]["body"],
                    "%s: libcurl OPTIONS, DESCRIBE -> %s, SDP %s (%.0f ms)"
                    % (what, [r["status"] for r in res],
                       " ".join(ln for ln in res[1]["body"].splitlines() if ln.startswith("m=")),
                       took), str(res)[-1500:])

        answers("up")
        web.stop()
        cam.stop()
        rc, status, body = web.probe("district")
        h.check(rc == 7 and status == 0, "stopped: HTTP refused (curl exit %d)" % rc, body)
        rc, status, body = netlab.curl(d, cam.url)
        h.check(rc == 7, "stopped: RTSP refused (curl exit %d)" % rc, body)
        res = cam.probe("district", methods=("OPTIONS",))
        h.check(res[0]["curl_error"] == 7 and res[0]["status"] == 0,
                "stopped: libcurl says %r" % res[0]["error"], str(res))
        t0 = time.monotonic()
        web.start()
        cam.start()
        print("  restarted both in %.2f s" % (time.monotonic() - t0))
        answers("started again")
        names = [d.name, s.name]
    left = set(names) & set(netlab.netns_list())
    h.check(not left, "after the lab: `ip netns list` has neither %s" % " nor ".join(names),
            "left: %s" % left)
    print("  lab part took %.1f s" % (time.monotonic() - t_start))


if __name__ == "__main__":
    h.run_test(main)
