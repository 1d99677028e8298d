#!/usr/bin/env python3
"""Collector memory with many agent connections: RSS of an idle collector,
then with N connections that each said HELLO and keep sending PINGs, and
the cost per connection.  Plaintext (tls = off), since the clients are
Python; TLS adds OpenSSL's per-session state on top.

    bench/conns_bench.py [BUILD_DIR] [N]      (default build-bench, 2000)
"""
import asyncio
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "sim"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness as h  # noqa: E402
import test_abuse as abuse  # noqa: E402  (its Load holds the connections)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "build-bench")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    collector = os.path.join(build, "collector", "schoolnet-collector")
    if not os.access(collector, os.X_OK):
        print("conns_bench: build %s first" % build, file=sys.stderr)
        return 1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 256), hard))
    wd = h.Workdir(prefix="schoolnet-connsbench-")
    port = h.free_port("tcp")
    conf = wd.file("collector.conf")
    with open(conf, "w") as f:
        f.write("[collector]\nlisten = 127.0.0.1:%d\ndatabase = %s\ntls = off\n"
                "max_connections = %d\nmax_handshakes = %d\n"
                % (port, wd.file("c.db"), n + 100, n + 100))
    d = h.Daemon(["prlimit", "--nofile=%d" % (n + 256), collector, "-c", conf],
                 wd.file("collector.log"), name="collector")
    h.wait_until(lambda: h.tcp_listening(port), 20, "the collector to listen", logs=[d])
    pid = d.proc.pid  # prlimit execs the collector: same process
    time.sleep(1)
    idle = abuse.rss_mb(pid)

    async def hold():
        load = abuse.Load(port, n)
        t0 = time.monotonic()
        load.start()
        await asyncio.wait_for(load.all_in.wait(), 120)
        took = time.monotonic() - t0
        await asyncio.sleep(3)
        rss = abuse.rss_mb(pid)
        await load.finish()
        return load.welcomed, len(load.errors), took, rss
    welcomed, errors, took, rss = asyncio.run(hold())
    d.stop()
    print("conns_bench: %d connections asked, %d welcomed, %d failed, all in after %.1f s"
          % (n, welcomed, errors, took))
    print("CONNSRESULT connections=%d rss_idle_mb=%.1f rss_held_mb=%.1f kb_per_conn=%.1f"
          % (welcomed, idle, rss, (rss - idle) * 1024 / max(welcomed, 1)))
    return 0 if welcomed == n else 1


if __name__ == "__main__":
    try:
        rc = main()
    finally:
        h.cleanup_all()
    sys.exit(rc)
