#!/usr/bin/env python3
"""PROBE_REQUEST and CHECKS at the real agent, from a fake protocol-2
collector (fake_collector.py, plaintext on 127.0.0.1) that also serves the
probe URLs itself (a threaded http.server: GET /down?bytes=N, POST /up, a
recording host's page).

Checks:
  - a PROBE_REQUEST with an empty base is run against http://<the
    collector host of the agent's config>:<port>/down and /up with the
    request's token; its THROUGHPUT PROBE carries the request's id and
    plausible figures (both directions, bytes as asked, kbps = bytes over
    the time); a second request while it runs is answered at once with
    error "busy";
  - CHECKS with a URL the fake serves and one to a closed port: HOST PROBEs
    with ok 1 (status 200) and ok 0, labelled with the room, every
    interval; the agent logs the dead host once, not every check;
  - a malformed PROBE_REQUEST (0 streams) is a protocol error: the agent
    names it in its log and connects again, and the checks of the last
    CHECKS keep running without a new one.
About 20 s.
"""
import http.server
import os
import re
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "sim")]
import harness as h  # noqa: E402
import gen_county  # noqa: E402
from fake_collector import FakeCollector, checks, probe_request, K_HOST, K_THROUGHPUT  # noqa: E402

SCHOOL = "p001"
TOKEN = "tok-0123456789abcdef"
MB = 1000 * 1000
ROOM = "录播室"


class ProbeServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen = []       # (method, path, authorization)
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _auth_ok(self):
        with self.server.lock:
            self.server.seen.append((self.command, self.path, self.headers.get("Authorization")))
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            self.send_error(401)
            return False
        return True

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/room":
            body = b"<html>recording</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if url.path != "/down" or not self._auth_ok():
            if url.path != "/down":
                self.send_error(404)
            return
        n = int(urllib.parse.parse_qs(url.query)["bytes"][0])
        self.send_response(200)
        self.send_header("Content-Length", str(n))
        self.end_headers()
        chunk = b"x" * 65536
        while n > 0:
            self.wfile.write(chunk[:min(n, len(chunk))])
            n -= min(n, len(chunk))

    def do_POST(self):
        if self.path != "/up" or not self._auth_ok():
            if self.path != "/up":
                self.send_error(404)
            return
        n = int(self.headers.get("Content-Length", "0"))
        while n > 0:
            got = self.rfile.read(min(n, 65536))
            if not got:
                break
            n -= len(got)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main():
    agent_bin, _ = h.binaries()
    wd = h.Workdir(prefix="schoolnet-agentframes-")
    http_srv = ProbeServer()
    h.on_cleanup(http_srv.shutdown)
    hp = http_srv.server_address[1]
    dead = h.free_port("tcp")
    col = FakeCollector(proto=2)
    h.on_cleanup(col.close)
    col.on_welcome = lambda c: c.send(checks(2000, 1000, [
        (7, ROOM, "http://127.0.0.1:%d/room" % hp),
        (8, "room2", "http://127.0.0.1:%d/" % dead)])) if c.welcomes == 1 else None
    switches = [{"name": "core", "address": "127.0.0.1:%d" % h.free_port("udp"),
                 "community": "public"}]
    text = gen_county.agent_conf_text(SCHOOL, "127.0.0.1:%d" % col.port, wd.file("spool.db"), 5,
                                      switches, timeout=0.5, retries=0, probe={"targets": "none"})
    conf = wd.file("agent.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(text.replace("[agent]\n", "[agent]\ntls = off\n", 1))
    h.check_config(agent_bin, conf)
    agent = h.Daemon([agent_bin, "-c", conf], wd.file("agent.log"), name="agent")
    logs = [agent]
    h.wait_until(lambda: col.welcomes >= 1 and col.reports, 15, "the agent connected", logs=logs)

    def probes(kind, ref=None):
        with col.lock:
            return [p for p in col.probes if p["kind"] == kind and (ref is None or p["ref"] == ref)]

    h.step("a throughput test, and a second request while it runs")
    col.send(probe_request(41, TOKEN, 40 * MB, 5000, 2, base="", port=hp)
             + probe_request(42, TOKEN, 40 * MB, 5000, 2, base="", port=hp))
    busy = h.wait_until(lambda: probes(K_THROUGHPUT, 42), 5, "the busy answer", logs=logs)[0]
    h.check(busy["error"] == "busy" and busy["measured"] == 0 and busy["down_kbps"] == 0,
            "request 42 answered at once: busy, nothing measured (%s)" % busy)
    tp = h.wait_until(lambda: probes(K_THROUGHPUT, 41), 20, "the THROUGHPUT PROBE", logs=logs)[0]
    print("  %s" % tp)
    base = "http://127.0.0.1:%d" % hp
    h.check(tp["label"] == "throughput" and tp["target"] == base and tp["interval_ms"] == 0,
            "labelled throughput, target %s" % base)
    h.check(tp["error"] == "" and tp["measured"] == 3 and tp["streams"] == 2,
            "both directions measured over 2 streams, no error")
    h.check(tp["down_bytes"] == 40 * MB and 0 < tp["up_bytes"] <= 40 * MB,
            "bytes as asked: down %d, up %d" % (tp["down_bytes"], tp["up_bytes"]))
    for d in ("down", "up"):
        ms = max(tp["%s_ms" % d], 1)
        want = tp["%s_bytes" % d] * 8 / ms  # kbit/s; ms are rounded (loopback: a few)
        h.check(tp["%s_ms" % d] > 0 and abs(tp["%s_kbps" % d] - want) <= (0.02 + 1.0 / ms) * want,
                "%s: %d kbit/s = %d bytes in %d ms" % (d, tp["%s_kbps" % d], tp["%s_bytes" % d],
                                                       tp["%s_ms" % d]))
    with http_srv.lock:
        seen = list(http_srv.seen)
    h.check(seen and all(a == "Bearer " + TOKEN for _m, _p, a in seen)
            and {m for m, _p, _a in seen} == {"GET", "POST"}
            and all(p.startswith("/down?bytes=") for m, p, _a in seen if m == "GET"),
            "GET /down?bytes=N and POST /up with the token (%d requests)" % len(seen))
    with open(agent.log_path, encoding="utf-8") as f:
        h.check(re.search(r"throughput test 41: down [0-9.]+ Mbps \([0-9]+ MB in [0-9.]+ s\), "
                          r"up [0-9.]+ Mbps", f.read()), "the agent logs the figures")

    h.step("host checks")
    h.wait_until(lambda: len(probes(K_HOST, 7)) >= 2 and len(probes(K_HOST, 8)) >= 2, 10,
                 "two rounds of HOST PROBEs", logs=logs)
    good, bad = probes(K_HOST, 7)[0], probes(K_HOST, 8)[0]
    print("  %s\n  %s" % (good, bad))
    h.check(good["ok"] == 1 and good["status"] == 200 and good["label"] == ROOM
            and good["interval_ms"] == 2000 and good["target"].endswith("/room"),
            "the served host: ok 1, status 200, label %s" % ROOM)
    h.check(bad["ok"] == 0 and bad["error"] and bad["label"] == "room2", "the closed port: ok 0 (%s)"
            % bad["error"])

    h.step("a malformed PROBE_REQUEST")
    n_host = len(probes(K_HOST, 7))
    col.send(probe_request(43, TOKEN, 10 * MB, 5000, 0, base="", port=hp))
    h.wait_until(lambda: col.welcomes >= 2, 10, "the agent to connect again", logs=logs)
    with open(agent.log_path, encoding="utf-8") as f:
        log = f.read()
    h.check(re.search(r"collector 127\.0\.0\.1:%d: unexpected PROBE_REQUEST frame: .*; connection "
                      r"closed" % col.port, log), "the agent names the bad frame and the peer")
    h.wait_until(lambda: len(probes(K_HOST, 7)) >= n_host + 2, 10,
                 "host checks to go on without a new CHECKS", logs=logs)
    h.check(len(re.findall(r"recording host room2 .* not answering", log)) == 1,
            "the dead host is logged once, not every check")
    h.check(not probes(K_THROUGHPUT, 43), "nothing ran for the malformed request")
    rc = agent.stop()
    h.check(rc == 0, "the agent exits 0 on SIGTERM (%s)" % rc)


if __name__ == "__main__":
    h.run_test(main)
