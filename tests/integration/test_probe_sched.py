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
  - scheduled tests (throughput_every = 2 s): none while the calendar says
    school hours, one once a reload brings a calendar without them.
About 30 s.
"""
import datetime
import http.client
import os
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

MAGIC, VERSION = 0x534E, 1
T_HELLO, T_WELCOME, T_REPORT, T_ACK, T_ERROR = 1, 2, 3, 4, 5
T_PING, T_PONG, T_PROBE, T_PROBE_REQUEST, T_CHECKS = 6, 7, 9, 10, 11
EPOCH = 0x0DDBA11CAFE
SCHOOL, AGENT = "XA-017", "xa017-agent"


def frame(ftype, payload=b""):
    return struct.pack(">HBBI", MAGIC, VERSION, ftype, len(payload)) + payload


def wstr(s):
    b = s if isinstance(s, bytes) else s.encode("utf-8")
    return struct.pack(">H", len(b)) + b


class Reader:
    def __init__(self, p):
        self.p, self.i = p, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.p, self.i)
        self.i += struct.calcsize(fmt)
        return v if len(v) > 1 else v[0]

    def str(self):
        n = self.take(">H")
        s = self.p[self.i:self.i + n].decode("utf-8")
        self.i += n
        return s


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
    def __init__(self, port, proto=2):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.s.sendall(hello(proto))
        f = self.read()
        if f is None or f[0] != T_WELCOME:
            raise h.TestFailure("no WELCOME: %r" % (f,))
        self.welcome = f[1]

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
             "throughput_seconds": 10, "throughput_streams": 2, "check_interval": 30,
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
    write_conf(conf, port, db_path, probe_port, calendar,
               {"throughput_every": 0, "throughput_budget": 10})
    inv = wd.file("inventory.csv")
    with open(inv, "w", encoding="utf-8") as f:
        f.write("town,school_code,school_name,school_type,town_seat,role,room,switch,port,probe\n"
                "城关镇,XA-017,城关一小,小学,yes,uplink,出口,core,ge-0/0/1,\n"
                "城关镇,XA-017,城关一小,小学,yes,recording,录播室,core,ge-0/0/9,"
                "rtsp://10.0.0.9/live\n")
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

    h.step("probe --school: PROBE_REQUEST, transfers, result")
    t0 = time.time()
    cmd = subprocess.Popen([collector_bin, "-c", conf, "probe", "--school", SCHOOL, "--wait", "60"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    h.on_cleanup(lambda: cmd.poll() is None and cmd.kill())
    req = parse_request(ag.wait_for(T_PROBE_REQUEST, timeout=15))
    h.check(req["port"] == probe_port and req["base"] == "" and req["streams"] == 2
            and req["max_bytes"] == 2000000 and req["max_ms"] == 10000 and len(req["token"]) >= 16,
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

    h.step("schedule: none in school hours, one outside them")
    write_conf(conf, port, db_path, probe_port, calendar,
               {"throughput_every": 2, "throughput_budget": 0})
    os.kill(col.proc.pid, signal.SIGHUP)
    h.wait_until(lambda: "reload: applied" in open(wd.file("collector.log")).read(), 10,
                 "the reload", logs=[col])
    time.sleep(5)
    sched = [x for x in rows(db_path) if x["reason"] == "schedule"]
    h.check(sched == [], "no scheduled test in school hours (%d rows)" % len(sched))
    write_calendar(calendar, school_hours=False)
    os.kill(col.proc.pid, signal.SIGHUP)
    req3 = parse_request(ag.wait_for(T_PROBE_REQUEST, timeout=20))
    r3 = row(db_path, req3["id"])
    h.check(r3["reason"] == "schedule" and r3["state"] == "running",
            "scheduled test %d started outside school hours" % req3["id"])
    run_test(ag, req3, 5)
    h.wait_until(lambda: row(db_path, req3["id"])["state"] == "done", 10, "the scheduled result")
    ag.close()
    col.stop()
    h.check(col.proc.returncode == 0, "the collector exits 0")
    wd.cleanup()


if __name__ == "__main__":
    h.run_test(main)
