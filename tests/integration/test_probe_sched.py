#!/usr/bin/env python3
"""Throughput tests through the real collector, with a fake protocol-2
agent written here (frames built byte by byte from include/schoolnet/wire.h)
on 127.0.0.1, tls = off.

Checks:
  - HELLO proto 2 gets a WELCOME with proto 2 and then CHECKS listing the
    school's recording row (its probe URL); a proto-1 HELLO gets the old
    24-byte WELCOME and no CHECKS;
  - `probe --school` makes the collector send PROBE_REQUEST; the fake agent
    downloads and uploads from the probe server with its token and answers
    with a THROUGHPUT PROBE (ACKed); the command prints the result and
    exits 0; the row has served_bytes = the bytes moved and uplink_mbps
    from the uplink port the agent reported;
  - a bad token gets 401;
  - an exhausted monthly budget makes the next demand fail with "monthly
    budget: ... used";
  - a test that moved bytes and never answered fails "no answer from the
    agent" (2 x max_ms + 60 s after it started: the longest step, run while
    the other school's steps go on) with served_bytes = what it moved, so
    the monthly budget counts it; its result, sent later from a new
    connection (a link that came back), completes the row (done, figures);
  - scheduled tests (throughput_every = 2 s): none while the calendar says
    school hours; outside them, with throughput_parallel = 1 and three
    schools due, at most one scheduled row is requested or running at any
    time (the table polled while each test is held open 3 s).
About 95 s.
"""
import datetime
import http.client
import os
import select
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402
import gen_county  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The framing, written byte by byte, shared with the agent's tests.
from fake_collector import (  # noqa: E402
    T_ACK, T_CHECKS, T_HELLO, T_PING, T_PONG, T_PROBE, T_PROBE_REQUEST, T_REPORT, T_WELCOME,
    Reader, frame, wstr)

EPOCH = 0x0DDBA11CAFE
SCHOOL, AGENT = "XA-017", "xa017-agent"
LATE_SCHOOL, LATE_AGENT = "XA-018", "xa018-agent"   # its test never answers in time
THIRD_SCHOOL, THIRD_AGENT = "XA-019", "xa019-agent"


def hello(proto, agent=AGENT, school=SCHOOL, epoch=EPOCH):
    return frame(T_HELLO, struct.pack(">H", proto) + wstr(agent) + wstr(school)
                 + wstr("fake-agent/2") + struct.pack(">Q", epoch))


def report(seq, t_ms, speed):
    """One switch 'core' with the uplink port ge-0/0/1 up at speed."""
    iface = (struct.pack(">IHBBBBI", 1, 6, 1, 1, 3, 0, speed) + wstr("ge-0/0/1") + wstr("uplink")
             + wstr("") + struct.pack(">QQQQQQ", 0, 0, 0, 0, 0, 0))
    return frame(T_REPORT, struct.pack(">QQQIIIII", seq, EPOCH, t_ms, 100, 0, 60, 1000, 4)
                 + struct.pack(">BB", 0, 0) + wstr("core") + wstr("10.0.0.2:161") + wstr("")
                 + struct.pack(">I", 1) + iface)


def throughput(seq, ref, target, down, up, error=""):
    """down/up: (bytes, ms) or None."""
    measured = (1 if down else 0) | (2 if up else 0)
    db, dm = down or (0, 0)
    ub, um = up or (0, 0)
    dk = int(db * 8 / dm) if dm else 0   # kbit/s
    uk = int(ub * 8 / um) if um else 0
    return frame(T_PROBE, struct.pack(">QQQBQ", seq, EPOCH, int(time.time() * 1000), 2, ref)
                 + wstr("throughput") + wstr(target) + struct.pack(">I", 0) + wstr(error)
                 + struct.pack(">BBIIQQII", 4, measured, dk, uk, db, ub, dm, um))


class Agent:
    def __init__(self, port, proto=2, agent=AGENT, school=SCHOOL):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.s.sendall(hello(proto, agent=agent, school=school))
        f = self.read()
        if f is None or f[0] != T_WELCOME:
            raise h.TestFailure("no WELCOME: %r" % (f,))
        self.welcome = f[1]
        self.last_seq = struct.unpack(">QQ", f[1][:16])[1]

    def read(self, timeout=10):
        self.s.settimeout(timeout)
        while True:
            if len(self.buf) >= 8:
                _, _, ftype, n = struct.unpack(">HBBI", self.buf[:8])
                if len(self.buf) >= 8 + n:
                    p, self.buf = self.buf[8:8 + n], self.buf[8 + n:]
                    return ftype, p
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                return "timeout"
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            if not data:
                return None
            self.buf += data

    def wait_for(self, ftype, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            f = self.read(timeout=max(0.1, end - time.time()))
            if f is None:
                raise h.TestFailure("the collector closed the connection")
            if f == "timeout":
                break
            if f[0] == T_PING:
                self.s.sendall(frame(T_PONG))
            elif f[0] == ftype:
                return f[1]
        raise h.TestFailure("no frame of type %d within %d s" % (ftype, timeout))

    def ack_of(self, seq):
        while True:
            p = self.wait_for(T_ACK)
            if struct.unpack(">QQ", p)[1] >= seq:
                return

    def close(self):
        self.s.close()


def parse_request(p):
    r = Reader(p)
    return {"id": r.take(">Q"), "base": r.str(), "port": r.take(">H"), "token": r.str(),
            "max_bytes": r.take(">Q"), "max_ms": r.take(">I"), "streams": r.take(">B")}


def parse_checks(p):
    r = Reader(p)
    interval, timeout, n = r.take(">III")
    items = [{"id": r.take(">Q"), "room": r.str(), "url": r.str(), "expect": r.str()}
             for _ in range(n)]
    return interval, timeout, items


def transfer(port, token, method, nbytes):
    """(status, bytes moved) of one GET /down or POST /up."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": "Bearer " + token}
    if method == "GET":
        c.request("GET", "/down?bytes=%d" % nbytes, headers=headers)
        r = c.getresponse()
        got = 0
        while True:
            chunk = r.read(65536)
            if not chunk:
                break
            got += len(chunk)
        c.close()
        return r.status, got
    body = b"u" * nbytes
    c.request("POST", "/up", body=body, headers=headers)
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    return r.status, int(text) if r.status == 200 else 0


def run_test(agent, req, seq):
    """Download then upload per the request's streams; the THROUGHPUT PROBE."""
    per = req["max_bytes"] // req["streams"]
    t0 = time.time()
    down = sum(transfer(req["port"], req["token"], "GET", per)[1] for _ in range(req["streams"]))
    t1 = time.time()
    up = sum(transfer(req["port"], req["token"], "POST", per)[1] for _ in range(req["streams"]))
    t2 = time.time()
    agent.s.sendall(throughput(seq, req["id"], "http://127.0.0.1:%d" % req["port"],
                               (down, max(1, int((t1 - t0) * 1000))),
                               (up, max(1, int((t2 - t1) * 1000)))))
    agent.ack_of(seq)
    return down, up


def poll_request(agent):
    """A PROBE_REQUEST the agent has been sent, or None; answers PINGs."""
    while True:
        if not agent.buf and not select.select([agent.s], [], [], 0)[0]:
            return None
        f = agent.read(timeout=1)
        if f is None:
            raise h.TestFailure("the collector closed the connection")
        if f == "timeout":
            return None
        if f[0] == T_PING:
            agent.s.sendall(frame(T_PONG))
        elif f[0] == T_PROBE_REQUEST:
            return parse_request(f[1])


def row(db_path, test_id):
    db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=5)
    db.row_factory = sqlite3.Row
    try:
        r = db.execute("SELECT * FROM probe_throughput WHERE id = ?", (test_id,)).fetchone()
        return dict(r) if r else None
    finally:
        db.close()


def rows(db_path):
    db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=5)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM probe_throughput ORDER BY id")]
    finally:
        db.close()


def write_calendar(path, school_hours):
    today = datetime.date.today()
    with open(path, "w", encoding="utf-8") as f:
        if school_hours:
            f.write("[calendar]\nname = around the clock\n[hours]\ndefault = daily 00:00-24:00\n")
        else:
            f.write("[calendar]\nname = a vacation\n[vacations]\n%s..%s = test vacation\n"
                    % (today - datetime.timedelta(days=5), today + datetime.timedelta(days=5)))


def write_conf(path, port, db_path, probe_port, calendar, extra_probe):
    probe = {"listen": "127.0.0.1:%d" % probe_port, "throughput_bytes": 2,
             "throughput_seconds": 1, "throughput_streams": 2, "check_interval": 30,
             "check_timeout": 3}
    probe.update(extra_probe)
    with open(path, "w", encoding="utf-8") as f:
        f.write(gen_county.collector_conf_text("127.0.0.1:%d" % port, db_path,
                                               extra={"tls": "off",
                                                      "http": "127.0.0.1:%d" % h.free_port("tcp")}))
        f.write("\n[policy]\ncalendar = %s\n\n[probe]\n" % calendar)
        f.write("".join("%s = %s\n" % kv for kv in probe.items()))


def main():
    _, collector_bin = h.binaries()
    wd = h.Workdir(prefix="schoolnet-probe-sched-")
    port, probe_port = h.free_port("tcp"), h.free_port("tcp")
    conf, db_path = wd.file("collector.conf"), wd.file("collector.db")
    calendar = wd.file("calendar.conf")
    write_calendar(calendar, school_hours=True)
    # Budget: 2 MB per direction; 20 MB a month holds this test's ~4 MB
    # (plus 2 x 2 MB asked), not a third one.
    # Two tests at once: XA-018's hangs for a minute while XA-017's run.
    write_conf(conf, port, db_path, probe_port, calendar,
               {"throughput_every": 0, "throughput_budget": 10, "throughput_parallel": 2})
    inv = wd.file("inventory.csv")
    with open(inv, "w", encoding="utf-8") as f:
        f.write("town,school_code,school_name,school_type,town_seat,role,room,switch,port,probe\n"
                "城关镇,XA-017,城关一小,小学,yes,uplink,出口,core,ge-0/0/1,\n"
                "城关镇,XA-017,城关一小,小学,yes,recording,录播室,core,ge-0/0/9,"
                "rtsp://10.0.0.9/live\n"
                "城关镇,XA-018,城关二小,小学,yes,uplink,出口,core,ge-0/0/1,\n"
                "城关镇,XA-019,城关三小,小学,yes,uplink,出口,core,ge-0/0/1,\n")
    col = h.Daemon([collector_bin, "-c", conf], wd.file("collector.log"), name="collector")
    h.wait_until(lambda: col.alive() and h.tcp_listening(port) and h.tcp_listening(probe_port),
                 20, "the collector and its probe server to listen", logs=[col])
    out = subprocess.run([collector_bin, "-c", conf, "import", inv], capture_output=True,
                         text=True, timeout=30)
    h.check(out.returncode == 0, "inventory imported", out.stderr)

    h.step("proto 1: the old WELCOME, no CHECKS")
    old = Agent(port, proto=1)
    h.check(len(old.welcome) == 24, "WELCOME is %d bytes" % len(old.welcome))
    f = old.read(timeout=3)
    h.check(f == "timeout", "nothing else within 3 s (%r)" % (f,))
    old.close()

    h.step("proto 2: WELCOME says 2, then CHECKS with the recording host")
    ag = Agent(port, proto=2)
    h.check(len(ag.welcome) == 26 and struct.unpack(">H", ag.welcome[24:])[0] == 2,
            "WELCOME is 26 bytes with proto 2")
    interval, timeout, items = parse_checks(ag.wait_for(T_CHECKS, timeout=10))
    h.check(interval == 30000 and timeout == 3000 and len(items) == 1
            and items[0]["url"] == "rtsp://10.0.0.9/live" and items[0]["room"] == "录播室",
            "CHECKS every 30 s, timeout 3 s: %r" % items)
    ag.s.sendall(report(1, int(time.time() * 1000), 1000))
    ag.ack_of(1)

    h.step("XA-018: a test that moves bytes and never answers (it expires in ~62 s)")
    late = Agent(port, agent=LATE_AGENT, school=LATE_SCHOOL)
    late_cmd = subprocess.Popen([collector_bin, "-c", conf, "probe", "--school", LATE_SCHOOL,
                                 "--wait", "1"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    h.on_cleanup(lambda: late_cmd.poll() is None and late_cmd.kill())
    late_req = parse_request(late.wait_for(T_PROBE_REQUEST, timeout=15))
    t_late = time.time()
    status, late_moved = transfer(probe_port, late_req["token"], "GET", 1500000)
    h.check(status == 200 and late_moved == 1500000,
            "test %d downloaded %d bytes (%d)" % (late_req["id"], late_moved, status))
    late_cmd.wait(timeout=30)
    late.close()  # its link drops: no PONG, no result

    h.step("probe --school: PROBE_REQUEST, transfers, result")
    t0 = time.time()
    cmd = subprocess.Popen([collector_bin, "-c", conf, "probe", "--school", SCHOOL, "--wait", "60"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    h.on_cleanup(lambda: cmd.poll() is None and cmd.kill())
    req = parse_request(ag.wait_for(T_PROBE_REQUEST, timeout=15))
    h.check(req["port"] == probe_port and req["base"] == "" and req["streams"] == 2
            and req["max_bytes"] == 2000000 and req["max_ms"] == 1000 and len(req["token"]) >= 16,
            "PROBE_REQUEST %r after %.1f s" % (req, time.time() - t0))
    status, _ = transfer(probe_port, "not-" + req["token"], "GET", 1000)
    h.check(status == 401, "a bad token gets %d" % status)
    down, up = run_test(ag, req, 2)
    stdout, stderr = cmd.communicate(timeout=30)
    h.check(cmd.returncode == 0 and "XA-017 test %d: down" % req["id"] in stdout
            and "uplink negotiates 1000 Mbps" in stdout,
            "the command exits %d: %s" % (cmd.returncode, stdout.strip()), stderr)
    h.check("waiting for the scheduler" in stderr or "running on agent" in stderr,
            "progress on stderr: %r" % stderr.strip())
    r = row(db_path, req["id"])
    h.check(r["state"] == "done" and r["served_bytes"] == down + up and r["uplink_mbps"] == 1000
            and r["agent"] == AGENT and r["down_bytes"] == down,
            "row: done, served %d bytes (moved %d + %d), uplink %s Mbps"
            % (r["served_bytes"], down, up, r["uplink_mbps"]))
    status, _ = transfer(probe_port, req["token"], "GET", 1000)
    h.check(status == 401, "the token is retired with the result (%d)" % status)

    h.step("the same result again: ACKed, not stored; an unknown test's result is ignored")
    ag.s.sendall(throughput(3, 999, "http://127.0.0.1:%d" % probe_port, (10, 1), None))
    ag.ack_of(3)
    h.check(row(db_path, 999) is None, "no row for test 999")

    h.step("budget: a second test fits, a third does not")
    cmd = subprocess.Popen([collector_bin, "-c", conf, "probe", "--school", SCHOOL, "--wait", "60"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    req2 = parse_request(ag.wait_for(T_PROBE_REQUEST, timeout=15))
    run_test(ag, req2, 4)
    cmd.communicate(timeout=30)
    h.check(cmd.returncode == 0, "second test done")
    out = subprocess.run([collector_bin, "-c", conf, "probe", "--school", SCHOOL, "--wait", "30"],
                         capture_output=True, text=True, timeout=60)
    h.check(out.returncode == 1 and "monthly budget:" in out.stdout and "used" in out.stdout,
            "third: exit %d: %s" % (out.returncode, out.stdout.strip()), out.stderr)

    h.step("XA-018's test: failed without an answer, what it moved counted")
    h.wait_until(lambda: row(db_path, late_req["id"])["state"] != "running", 90,
                 "test %d to expire" % late_req["id"], logs=[col])
    r = row(db_path, late_req["id"])
    h.check(r["state"] == "failed" and r["error"] == "no answer from the agent"
            and r["served_bytes"] == late_moved,
            "row after %.0f s: %s, %r, served %s bytes (moved %d)"
            % (time.time() - t_late, r["state"], r["error"], r["served_bytes"], late_moved))

    h.step("XA-018's result comes late, over a new connection: the row is completed")
    late = Agent(port, agent=LATE_AGENT, school=LATE_SCHOOL)
    late.s.sendall(throughput(late.last_seq + 1, late_req["id"],
                              "http://127.0.0.1:%d" % probe_port, (late_moved, 800), None,
                              error="upload: connection reset"))
    late.ack_of(late.last_seq + 1)
    late.last_seq += 1
    r = row(db_path, late_req["id"])
    h.check(r["state"] == "done" and r["down_bytes"] == late_moved and r["down_ms"] == 800
            and r["down_mbps"] is not None and abs(r["down_mbps"] - late_moved * 8 / 800 / 1000) < 0.1
            and r["up_mbps"] is None and r["served_bytes"] == late_moved
            and r["error"] == "upload: connection reset",
            "row: %s, down %s Mbps from %s bytes, served %s, error %r"
            % (r["state"], r["down_mbps"], r["down_bytes"], r["served_bytes"], r["error"]))

    h.step("schedule: none in school hours")
    write_conf(conf, port, db_path, probe_port, calendar,
               {"throughput_every": 2, "throughput_budget": 0, "throughput_parallel": 1})
    os.kill(col.proc.pid, signal.SIGHUP)
    h.wait_until(lambda: "reload: applied" in open(wd.file("collector.log")).read(), 10,
                 "the reload", logs=[col])
    time.sleep(5)
    sched = [x for x in rows(db_path) if x["reason"] == "schedule"]
    h.check(sched == [], "no scheduled test in school hours (%d rows)" % len(sched))

    h.step("schedule outside school hours, parallel 1, three schools due: one at a time")
    third = Agent(port, agent=THIRD_AGENT, school=THIRD_SCHOOL)
    agents = {SCHOOL: [ag, 5], LATE_SCHOOL: [late, late.last_seq + 1],
              THIRD_SCHOOL: [third, third.last_seq + 1]}
    write_calendar(calendar, school_hours=False)
    os.kill(col.proc.pid, signal.SIGHUP)
    tested, most, held, end = {}, 0, None, time.time() + 45
    while len(tested) < len(agents) and time.time() < end:
        open_rows = [x for x in rows(db_path) if x["reason"] == "schedule"
                     and x["state"] in ("requested", "running")]
        most = max(most, len(open_rows))
        if len(open_rows) > 1:
            h.check(False, "at most one scheduled test queued or running: %r"
                    % [(x["id"], x["school_code"], x["state"]) for x in open_rows])
        for school, (a, seq) in agents.items():
            req = poll_request(a)
            if req is not None:
                r = row(db_path, req["id"])
                h.check(held is None and r["reason"] == "schedule" and r["state"] == "running"
                        and r["school_code"] == school,
                        "scheduled test %d (%s) started" % (req["id"], school))
                held = (school, req, time.time())
        if held and time.time() - held[2] >= 3:
            school, req, _ = held
            run_test(agents[school][0], req, agents[school][1])
            agents[school][1] += 1
            h.wait_until(lambda: row(db_path, req["id"])["state"] == "done", 10,
                         "the scheduled result")
            tested[school] = req["id"]
            held = None
        time.sleep(0.3)
    h.check(len(tested) == len(agents), "every school tested once, one after another: %r (at"
            " most %d open at once)" % (tested, most))
    late.close()
    third.close()
    ag.close()
    col.stop()
    h.check(col.proc.returncode == 0, "the collector exits 0")
    wd.cleanup()


if __name__ == "__main__":
    h.run_test(main)
