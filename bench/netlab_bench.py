#!/usr/bin/env python3
"""How faithful the network lab (tests/sim/netlab.py) is on this machine:
the figures a link-probe benchmark is judged against.

    sudo bench/netlab_bench.py [--quick]      (about 2.5 min; --quick ~1 min)

Prints one table per part and NETLABRESULT lines (key=value):
  a. iperf3 through tbf at 10..1000 Mbit, down and up, 1 and 4 streams
     (3 s after 1 s of ramp-up left out), as % of the tbf rate; the ceiling
     for TCP payload at MTU 1500 is 95.6 %;
  b. tbf burst at 1000 Mbit: rate and iperf3's CPU for 16k..1m buckets;
  c. delay: TCP-connect time school -> district for 5..200 ms each way
     (expected 2 x delay);
  d. the userspace delay line (kernels without netem): the most it carries
     at 5 ms each way, and its CPU time per second;
  e. loss: ping loss for 1, 5, 20 % each way (expected 1 - (1 - p)^2).
Traffic stays inside the lab's two namespaces.  Needs root (namespaces).
"""
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "sim"))
import harness as h  # noqa: E402
import netlab  # noqa: E402


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            f_ = f.read().rsplit(")", 1)[1].split()
        return (int(f_[11]) + int(f_[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def iperf(lab, reverse, streams=1, seconds=3, omit=1):
    j = lab.iperf3_json(seconds=seconds, reverse=reverse, streams=streams, omit=omit)
    e = j["end"]
    cpu = e.get("cpu_utilization_percent", {})
    snd = cpu.get("remote_total" if reverse else "host_total", float("nan"))
    return e["sum_received"]["bits_per_second"] / 1e6, snd


def result(**kw):
    print("NETLABRESULT " + " ".join("%s=%s" % kv for kv in kw.items()), flush=True)


def main():
    quick = "--quick" in sys.argv
    if os.geteuid() != 0:
        print("netlab_bench: needs root (network namespaces)", file=sys.stderr)
        return 1
    with netlab.Lab() as lab:
        d, s = lab.district, lab.school
        print("lab %s: %s <-> %s, delay/loss by %s" % (lab.tag, d.addr, s.addr, lab.impair_backend))

        print("\na. tbf rate (Mbps received by iperf3; % of the tbf rate)")
        print("%-10s %-8s %10s %10s" % ("rate", "dir", "1 stream", "4 streams"))
        down, _ = iperf(lab, True, 1, 2, 0)
        up, _ = iperf(lab, False, 1, 2, 0)
        print("%-10s %-8s %10.0f\n%-10s %-8s %10.0f" % ("unshaped", "down", down, "", "up", up))
        result(part="a", rate="none", down=round(down), up=round(up))
        for rate in ((80, 1000) if quick else (10, 80, 200, 500, 1000)):
            lab.shape(rate_mbit=rate)
            for rev, name in ((True, "down"), (False, "up")):
                one, _ = iperf(lab, rev, 1)
                four, _ = iperf(lab, rev, 4) if not quick else (float("nan"), 0)
                print("%-10s %-8s %6.1f %3.0f%% %6.1f %3.0f%%"
                      % ("%d Mbit" % rate, name, one, one / rate * 100, four, four / rate * 100))
                result(part="a", rate=rate, dir=name, mbps_1=round(one, 1), mbps_4=round(four, 1))
        lab.unshape()

        print("\nb. tbf burst at 1000 Mbit, up (Mbps, iperf3 sender CPU %)")
        for burst in ((16 << 10, 128 << 10) if quick else (16 << 10, 64 << 10, 128 << 10, 1 << 20)):
            lab.shape(rate_mbit=1000, burst_bytes=burst, direction="up")
            mbps, cpu = iperf(lab, False)
            print("  burst %5d KiB: %6.1f Mbps, sender CPU %3.0f %%" % (burst >> 10, mbps, cpu))
            result(part="b", burst_kib=burst >> 10, mbps=round(mbps, 1), sender_cpu=round(cpu))
        lab.unshape()

        sink = d.tcp_sink()
        print("\nc. delay each way -> TCP connect ms (min / median / p95 / max of 20)")
        for delay in ((50,) if quick else (5, 20, 50, 200)):
            lab.shape(delay_ms=delay)
            t = [x for x in s.tcp_connect_times(d.addr, sink.port, count=20, interval=0.02,
                                                timeout=2 + delay / 250) if x is not None]
            t.sort()
            p95 = t[int(len(t) * 0.95) - 1] if t else float("nan")
            print("  %3d ms: %6.1f / %6.1f / %6.1f / %6.1f  (expected %d, %d of 20 connected)"
                  % (delay, t[0], statistics.median(t), p95, t[-1], 2 * delay, len(t)))
            result(part="c", delay_ms=delay, min=t[0], median=statistics.median(t), p95=p95,
                   max=t[-1], ok=len(t))
        lab.unshape()

        if lab.impair_backend == "nfqueue":
            print("\nd. the userspace delay line, 5 ms each way, no rate limit")
            lab.shape(delay_ms=5)
            lines = [lab._impair["down"], lab._impair["up"]]
            c0 = [cpu_seconds(x.pid) for x in lines]
            t0 = time.monotonic()
            mbps, _ = iperf(lab, True, 1, 3, 1)
            el = time.monotonic() - t0
            c1 = [cpu_seconds(x.pid) for x in lines]
            print("  down: %.0f Mbps; delay line CPU: receiving side %.0f %%, sending side %.0f %%"
                  % (mbps, (c1[0] - c0[0]) / el * 100, (c1[1] - c0[1]) / el * 100))
            result(part="d", mbps=round(mbps), cpu_data=round((c1[0] - c0[0]) / el * 100),
                   cpu_acks=round((c1[1] - c0[1]) / el * 100))
            lab.unshape()

        print("\ne. loss each way -> ping loss (400 pings)")
        for loss in ((20,) if quick else (1, 5, 20)):
            lab.shape(loss_pct=loss)
            p = s.ping(d.addr, count=400, interval=0.003, wait=0.5)
            exp = 100 * (1 - (1 - loss / 100.0) ** 2)
            print("  %2d %%: %.1f %% lost (expected %.1f %%)" % (loss, p["loss_pct"], exp))
            result(part="e", loss_pct=loss, ping_loss=p["loss_pct"], expected=round(exp, 1))
        lab.unshape()
    return 0


if __name__ == "__main__":
    h.install_signal_handlers()
    rc = 1
    try:
        rc = main()
    finally:
        h.cleanup_all()
    sys.exit(rc)
