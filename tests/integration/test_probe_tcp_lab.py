#!/usr/bin/env python3
"""The agent's TCP-connect probes (agent/probe_tcp.c) over the network lab
(tests/sim/netlab.py): tests/probe_tcp_cli runs tcp_prober rounds in the
school namespace against a TCP sink (and a closed port) in the district and
prints one JSON line a round.

Checks, each with the figures it saw:
  - unshaped: every connect answered, RTT average < 5 ms;
  - a closed port: the RST counts as answered;
  - 50 ms delay each way: every connect answered, RTT average 100 ms
    +-15 % in every round, to the sink and to the closed port alike;
  - 50 ms +- 10 ms jitter each way: the jitter figure shows it;
  - 20 % loss each way, timeout 500 ms (below TCP's 1 s SYN
    retransmission): answered/sent near 0.8 x 0.8 = 64 %;
  - 100 % loss: every connect times out, no error, the round still ends.

Traffic goes only to the two addresses inside the lab's namespaces.
Skips (77) without network namespaces, a required program, or the
built driver.  About 30 s.
"""
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402
import netlab  # noqa: E402


def cli_path():
    p = os.path.join(h.build_dir(), "tests", "probe_tcp_cli")
    if not os.access(p, os.X_OK):
        raise h.Skip("not built: %s (set SCHOOLNET_BUILD to the build dir)" % p)
    return p


def probe(lab, cli, targets, rounds, count, interval_ms, timeout_ms, every_ms):
    """Run the driver in the school: (rounds as dicts, seconds it took)."""
    argv = [cli, "-v", "-n", rounds, "-c", count, "-i", interval_ms, "-t", timeout_ms,
            "-e", every_ms] + ["%s=%s:%d" % t for t in targets]
    limit = rounds * every_ms / 1000.0 + timeout_ms / 1000.0 + 30
    t0 = time.monotonic()
    r = lab.school.run(argv, timeout=limit)
    took = time.monotonic() - t0
    out = netlab._text(r.stdout)
    err = netlab._text(r.stderr)
    if r.returncode != 0 or "Sanitizer" in err or "runtime error" in err:
        raise h.TestFailure("probe_tcp_cli exited %d:\n%s\n%s" % (r.returncode, out[-2000:],
                                                                   err[-4000:]))
    res = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
    if len(res) != rounds * len(targets):
        raise h.TestFailure("%d rounds reported, %d expected:\n%s\n%s"
                            % (len(res), rounds * len(targets), out, err[-2000:]))
    return res, took


def of(res, label):
    return [r for r in res if r["label"] == label]


def ms(us):
    return us / 1000.0


def summary(rounds):
    """'a/s answered, rtt avg min..max of the rounds' averages' (ms)."""
    sent = sum(r["sent"] for r in rounds)
    ans = sum(r["answered"] for r in rounds)
    avgs = [ms(r["rtt_avg_us"]) for r in rounds if r["answered"]]
    if not avgs:
        return "%d/%d answered" % (ans, sent)
    return "%d/%d answered, rtt min %.2f, round averages %.2f..%.2f (mean %.2f), " \
           "max %.2f ms, jitter %.2f..%.2f ms" % (
               ans, sent, min(ms(r["rtt_min_us"]) for r in rounds if r["answered"]),
               min(avgs), max(avgs), statistics.mean(avgs),
               max(ms(r["rtt_max_us"]) for r in rounds), min(ms(r["jitter_us"]) for r in rounds),
               max(ms(r["jitter_us"]) for r in rounds))


def main():
    h.require_programs("ip", "tc", "iptables", "setpriv")
    cli = cli_path()
    with netlab.Lab() as lab:
        d, s = lab.district, lab.school
        sink = d.tcp_sink()
        closed = d.free_port()
        up, refused = ("sink", d.addr, sink.port), ("closed", d.addr, closed)
        h.step("lab %s: school %s -> district %s, sink port %d, closed port %d; "
               "delay/loss by %s" % (lab.tag, s.addr, d.addr, sink.port, closed,
                                    lab.impair_backend))

        h.step("unshaped")
        res, _ = probe(lab, cli, [up, refused], rounds=3, count=10, interval_ms=20,
                       timeout_ms=400, every_ms=600)
        for label in ("sink", "closed"):
            rounds = of(res, label)
            h.check(all(r["answered"] == r["sent"] == 10 and r["error"] == "" for r in rounds)
                    and statistics.mean(r["rtt_avg_us"] for r in rounds) < 5000,
                    "%s: %s (expected all, < 5 ms)" % (label, summary(rounds)), str(rounds))

        h.step("delay 50 ms each way: " + "; ".join(lab.shape(delay_ms=50).values()))
        res, _ = probe(lab, cli, [up, refused], rounds=3, count=10, interval_ms=50,
                       timeout_ms=2000, every_ms=2500)
        for label in ("sink", "closed"):
            rounds = of(res, label)
            h.check(all(r["answered"] == r["sent"] == 10 and r["error"] == "" for r in rounds)
                    and all(85000 <= r["rtt_avg_us"] <= 115000 for r in rounds),
                    "%s: %s (expected all, each round's average 100 ms +-15 %%)"
                    % (label, summary(rounds)), str(rounds))

        h.step("delay 50 ms +- 10 ms jitter each way")
        lab.shape(delay_ms=50, jitter_ms=10)
        res, _ = probe(lab, cli, [up], rounds=2, count=20, interval_ms=50, timeout_ms=2000,
                       every_ms=3000)
        # Each RTT is 100 ms + two uniform(-10, 10) terms: the mean absolute
        # difference of two such RTTs is about 9 ms.
        h.check(all(r["answered"] == 20 and 85000 <= r["rtt_avg_us"] <= 115000
                    and 3000 <= r["jitter_us"] <= 20000 for r in res),
                "sink: %s (expected jitter ~9 ms)" % summary(res), str(res))

        h.step("20 % loss each way")
        lab.shape(loss_pct=20)
        res, _ = probe(lab, cli, [up], rounds=10, count=20, interval_ms=20, timeout_ms=500,
                       every_ms=1000)
        sent = sum(r["sent"] for r in res)
        ans = sum(r["answered"] for r in res)
        # 200 connects, p = 0.64: sd 3.4 %; +-4 sd is 50..78 %.
        h.check(sent == 200 and 0.50 <= ans / sent <= 0.78
                and all(r["error"] == "" for r in res),
                "sink: %s = %.1f %% (expected 0.8 x 0.8 = 64 %%); per round %s"
                % (summary(res), 100.0 * ans / sent, [r["answered"] for r in res]), str(res))

        h.step("100 % loss: every connect times out")
        lab.shape(loss_pct=100)
        res, took = probe(lab, cli, [up], rounds=1, count=3, interval_ms=100, timeout_ms=400,
                          every_ms=1000)
        r = res[0]
        h.check(r["sent"] == 3 and r["answered"] == 0 and r["error"] == ""
                and r["rtt_avg_us"] == 0 and 0.6 <= took < 5,
                "sink: %s, no error; the driver ran %.2f s (the last connect gives up "
                "at 0.6 s)" % (summary(res), took), str(r))
        lab.unshape()


if __name__ == "__main__":
    h.run_test(main)
