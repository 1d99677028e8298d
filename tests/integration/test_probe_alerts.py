#!/usr/bin/env python3
"""Recording rooms and latency alerts at the real collector, from a fake
protocol-2 agent written here (frames built byte by byte from
include/schoolnet/wire.h) on 127.0.0.1, tls = off. The school has an
inventory (uplink, classroom, two recording rows, one with a probe URL);
the agent's REPORTs say how the ports are, its HOST PROBEs how the
recording host answered, its LATENCY PROBEs what a round measured. Times
are chosen on a past Monday (the built-in calendar: Mon-Fri 07:30-17:30,
UTC+8), at 10:00 for school hours and 22:00 for outside them.

Checks:
  - recording_state: checks with nothing changed extend one interval; a
    change (host down, port down) starts a new row; a gap of more than
    2.5 intervals starts a new row although nothing changed; port_ok is
    NULL while the port has no fresh poll (the room is then judged by its
    host alone);
  - recording_unavailable opens on the second bad check in school hours
    (raise_after = 2) with the inventory's room, switch and port, detail
    "host: ..." or "port below target: port down", and clears on the
    second good one; outside school hours bad checks open nothing;
  - a HOST check of an id not in the school's inventory is ACKed, stores
    nothing and is logged once;
  - LATENCY rounds above the limits (latency_max_ms 200, loss_max_percent
    5) open latency_high and loss_high in school hours with their details
    and clear on good rounds; a round with an error counts as 100 % lost
    and gives no latency verdict; outside school hours nothing opens.
  - probe alerts whose subject is gone clear on the collector's minute
    check: an open recording_unavailable once a re-import removed its
    inventory row (detail "no longer checked ..."), an open latency_high
    once its target sent no round for 3 of its intervals while the agent
    went on sending others (2 s here: the
    rounds are stamped now, under a reloaded around-the-clock calendar;
    detail "no longer measured ..."). The details are read from a webhook
    receiver's outbox rows (it listens nowhere; delivery does not matter).
THROUGHPUT PROBEs are stored by the scheduler (another part), so
throughput_low is tested in tests/unit/test_probe_policy.c.
About 70 s (the minute check).
"""
import datetime
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402
import gen_county  # noqa: E402

MAGIC, VERSION = 0x534E, 1
T_HELLO, T_WELCOME, T_REPORT, T_ACK, T_ERROR, T_PROBE = 1, 2, 3, 4, 5, 9
K_LATENCY, K_HOST = 1, 3
EPOCH = 0x5EC0DE
AGENT, SCHOOL = "s001-agent", "s001"
MIN = 60000

INVENTORY = (
    "town,school_code,school_name,school_type,town_seat,role,room,switch,port,probe\n"
    "城关镇,s001,城关镇中心小学,小学,yes,uplink,,core,Gi0/0/1,\n"
    "城关镇,s001,城关镇中心小学,小学,yes,classroom,一年级1班,core,Gi0/0/2,\n"
    "城关镇,s001,城关镇中心小学,小学,yes,recording,录播室,core,Gi0/0/3,"
    "http://10.1.0.50/live\n"
    "城关镇,s001,城关镇中心小学,小学,yes,recording,录播室二,core,Gi0/0/4,\n")


def frame(ftype, payload=b""):
    return struct.pack(">HBBI", MAGIC, VERSION, ftype, len(payload)) + payload


def wstr(s):
    b = s.encode("utf-8")
    return struct.pack(">H", len(b)) + b


def hello():
    return frame(T_HELLO, struct.pack(">H", 2) + wstr(AGENT) + wstr(SCHOOL)
                 + wstr("probe-alerts-test/1") + struct.pack(">Q", EPOCH))


def port(if_index, name, oper=1, speed=1000):
    return (struct.pack(">IHBBBBI", if_index, 6, 1, oper, 3, 0, speed) + wstr(name) + wstr(name)
            + wstr("") + struct.pack(">QQQQQQ", 0, 0, 0, 0, 0, 0))


def report(seq, t_ms, recording_oper=1):
    ifs = [port(1, "Gi0/0/1"), port(2, "Gi0/0/2"), port(3, "Gi0/0/3", oper=recording_oper),
           port(4, "Gi0/0/4")]
    return frame(T_REPORT, struct.pack(">QQQIIIII", seq, EPOCH, t_ms, 100, 0, 60, 1000, 1)
                 + struct.pack(">BB", 0, 0) + wstr("core") + wstr("10.1.0.2:161") + wstr("")
                 + struct.pack(">I", len(ifs)) + b"".join(ifs))


def probe_head(seq, t_ms, kind, ref, label, target, interval_ms, error):
    return (struct.pack(">QQQBQ", seq, EPOCH, t_ms, kind, ref) + wstr(label) + wstr(target)
            + struct.pack(">I", interval_ms) + wstr(error))


def host(seq, t_ms, ref, ok, status=200, error="", interval_ms=MIN):
    return frame(T_PROBE, probe_head(seq, t_ms, K_HOST, ref, "录播室", "http://10.1.0.50/live",
                                     interval_ms, error)
                 + struct.pack(">BHI", 1 if ok else 0, status, 35 if ok else 5000))


def latency(seq, t_ms, label, sent=10, answered=10, avg_ms=20, error="", interval_ms=MIN):
    if answered:
        rtt = (int(avg_ms * 900), int(avg_ms * 1000), int(avg_ms * 1100))
        jitter = int(avg_ms * 100)
    else:
        rtt, jitter = (0, 0, 0), 0
    return frame(T_PROBE, probe_head(seq, t_ms, K_LATENCY, 0, label, "edu.example:443",
                                     interval_ms, error)
                 + struct.pack(">IIIIII", sent, answered, rtt[0], rtt[1], rtt[2], jitter))


class Agent:
    """One connection; every frame sent waits for the ACK of its seq."""

    def __init__(self, port_no):
        import socket
        self.s = socket.create_connection(("127.0.0.1", port_no), timeout=10)
        self.buf = b""
        self.seq = 0
        self.s.sendall(hello())
        f = self.read_frame()
        if f is None or f[0] != T_WELCOME:
            raise h.TestFailure("no WELCOME after HELLO: %r" % (f,))
        self.seq = struct.unpack(">QQ", f[1][:16])[1]

    def read_frame(self):
        while True:
            if len(self.buf) >= 8:
                _, _, ftype, n = struct.unpack(">HBBI", self.buf[:8])
                if len(self.buf) >= 8 + n:
                    payload, self.buf = self.buf[8:8 + n], self.buf[8 + n:]
                    return ftype, payload
            data = self.s.recv(65536)
            if not data:
                return None
            self.buf += data

    def send(self, make, *args, **kw):
        self.seq += 1
        self.s.sendall(make(self.seq, *args, **kw))
        while True:
            f = self.read_frame()
            if f is None or f[0] != T_ACK:
                raise h.TestFailure("expected the ACK of seq %d, got %r" % (self.seq, f))
            if struct.unpack(">QQ", f[1])[1] >= self.seq:
                return

    def close(self):
        self.s.close()


def query(db_path, sql, args=()):
    db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=5)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def monday_ms(hour_cst):
    """A Monday at least a week back, at hour_cst:00 China time, in ms."""
    today = datetime.datetime.now(datetime.timezone.utc).date()
    day = today - datetime.timedelta(days=today.weekday() + 7)
    t = datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc)
    return int(t.timestamp() * 1000) + (hour_cst - 8) * 3600000


def main():
    _, collector_bin = h.binaries()
    wd = h.Workdir(prefix="schoolnet-probe-alerts-")
    port_no = h.free_port("tcp")
    conf = wd.file("collector.conf")
    db_path = wd.file("collector.db")
    inv = wd.file("inventory.csv")
    with open(inv, "w", encoding="utf-8") as f:
        f.write(INVENTORY)
    http_port, hook_port = h.free_port("tcp"), h.free_port("tcp")

    def write_conf(calendar=None):
        with open(conf, "w", encoding="utf-8") as f:
            f.write(gen_county.collector_conf_text("127.0.0.1:%d" % port_no, db_path,
                                                   extra={"tls": "off",
                                                          "http": "127.0.0.1:%d" % http_port}))
            f.write("\n[alerts]\nraise_after = 2\nclear_after = 2\n")
            f.write("\n[webhook t]\nurl = http://127.0.0.1:%d/hook\nlang = en\n" % hook_port)
            if calendar:
                f.write("\n[policy]\ncalendar = %s\n" % calendar)

    write_conf()
    r = subprocess.run([collector_bin, "-c", conf, "import", inv], capture_output=True, text=True,
                       timeout=60)
    h.check(r.returncode == 0, "inventory imported", r.stdout + r.stderr)
    col = h.Daemon([collector_bin, "-c", conf], wd.file("collector.log"), name="collector")
    h.wait_until(lambda: col.alive() and h.tcp_listening(port_no), 20, "the collector to listen",
                 logs=[col])
    rec = query(db_path, "SELECT id FROM inventory WHERE probe != ''")[0][0]

    def rows():
        return query(db_path, "SELECT t_start, t_end, host_ok, port_ok, available, status, error"
                     " FROM recording_state WHERE inventory_id = ? ORDER BY t_start", (rec,))

    def alerts(cause):
        return query(db_path, "SELECT key, role, room, switch, port, detail, since,"
                     " cleared_at IS NULL FROM alerts WHERE cause = ? ORDER BY id", (cause,))

    t0 = monday_ms(10)
    a = Agent(port_no)

    h.step("host checks before any poll: port unknown, the room judged by its host")
    a.send(host, t0 - 2 * MIN, rec, True)
    got = rows()
    h.check(len(got) == 1 and got[0][2:5] == (1, None, 1),
            "one row: host_ok 1, port_ok NULL, available 1 (%s)" % (got,))

    h.step("polls and checks with nothing changed extend one interval")
    a.send(report, t0)
    for k in range(3):
        a.send(host, t0 + k * MIN, rec, True)
    got = rows()
    h.check(len(got) == 1 and got[0][:5] == (t0 - 2 * MIN, t0 + 2 * MIN, 1, 1, 1),
            "still one row (host_ok and available unchanged), extended to t0 + 2 min, port_ok"
            " now 1: %s" % (got,))

    h.step("the host stops answering in school hours: new row, alert on the second check")
    a.send(report, t0 + 3 * MIN)
    a.send(host, t0 + 3 * MIN, rec, False, status=0, error="connection refused")
    h.check(alerts("recording_unavailable") == [], "no alert after one bad check")
    a.send(host, t0 + 4 * MIN, rec, False, status=0, error="connection refused")
    got, al = rows(), alerts("recording_unavailable")
    h.check(len(got) == 2 and got[1][:5] == (t0 + 3 * MIN, t0 + 4 * MIN, 0, 1, 0)
            and got[1][6] == "connection refused",
            "row 2: host_ok 0, available 0, its error, [t0+3, t0+4] min")
    h.check(len(al) == 1 and al[0][:6] == ("recording_unavailable inventory %d" % rec, "recording",
                                          "录播室", "core", "Gi0/0/3", "host: connection refused")
            and al[0][6] == t0 + 3 * MIN and al[0][7] == 1,
            "recording_unavailable open since the first bad check: %s" % (al,))

    h.step("the host answers again: new row, cleared on the second good check")
    a.send(report, t0 + 5 * MIN)
    a.send(host, t0 + 5 * MIN, rec, True)
    h.check(alerts("recording_unavailable")[0][7] == 1, "still open after one good check")
    a.send(host, t0 + 6 * MIN, rec, True)
    got, al = rows(), alerts("recording_unavailable")
    h.check(len(got) == 3 and got[2][:5] == (t0 + 5 * MIN, t0 + 6 * MIN, 1, 1, 1),
            "row 3: available again")
    h.check(len(al) == 1 and al[0][7] == 0, "the alert cleared")

    h.step("a gap of more than 2.5 intervals starts a new row although nothing changed")
    a.send(report, t0 + 9 * MIN)
    a.send(host, t0 + 9 * MIN, rec, True)
    got = rows()
    h.check(len(got) == 4 and got[2][1] == t0 + 6 * MIN and got[3][:2] == (t0 + 9 * MIN, t0 + 9 * MIN),
            "row 3 ends at t0+6 min, row 4 starts at t0+9 min")

    h.step("the recording port goes down: unavailable although the host answers")
    a.send(report, t0 + 10 * MIN, recording_oper=2)
    a.send(host, t0 + 10 * MIN, rec, True)
    a.send(host, t0 + 11 * MIN, rec, True)
    got, al = rows(), alerts("recording_unavailable")
    h.check(len(got) == 5 and got[4][:5] == (t0 + 10 * MIN, t0 + 11 * MIN, 1, 0, 0),
            "row 5: host_ok 1, port_ok 0, available 0")
    h.check(len(al) == 2 and al[1][7] == 1 and al[1][5] == "port below target: port down",
            "a second alert: %r" % (al[1][5] if len(al) > 1 else None,))
    a.send(report, t0 + 12 * MIN)
    a.send(host, t0 + 12 * MIN, rec, True)
    a.send(host, t0 + 13 * MIN, rec, True)
    h.check(alerts("recording_unavailable")[1][7] == 0, "cleared once the port is back")

    h.step("outside school hours (22:00): bad checks are stored, no alert opens")
    night = monday_ms(22)
    a.send(report, night)
    for k in range(3):
        a.send(host, night + k * MIN, rec, False, status=503)
    got, al = rows(), alerts("recording_unavailable")
    h.check(got[-1][:5] == (night, night + 2 * MIN, 0, 1, 0) and got[-1][5] == 503,
            "stored: [22:00, 22:02] host_ok 0, status 503")
    h.check(len(al) == 2 and all(x[7] == 0 for x in al), "no new alert (%d in all, none open)"
            % len(al))

    h.step("a check of a room the school's inventory does not hold")
    before = len(query(db_path, "SELECT * FROM recording_state"))
    a.send(host, night + 3 * MIN, 999999, True)
    a.send(host, night + 4 * MIN, 999999, True)
    after = len(query(db_path, "SELECT * FROM recording_state"))
    with open(col.log_path, encoding="utf-8", errors="replace") as lf:
        logged = [ln for ln in lf if "recording row 999999" in ln]
    h.check(after == before and len(logged) == 1,
            "ACKed, nothing stored, logged once: %s" % (logged[0].split(": ", 1)[-1].strip()
                                                        if logged else None))

    h.step("latency rounds above the limits in school hours")
    lt = t0 + 20 * MIN
    for k in range(2):
        a.send(latency, lt + k * MIN, "smartedu", sent=10, answered=6, avg_ms=250)
    lat, loss = alerts("latency_high"), alerts("loss_high")
    h.check(len(lat) == 1 and lat[0][0] == "latency_high agent %s smartedu" % AGENT
            and lat[0][5] == "avg 250 ms to smartedu (limit 200 ms)" and lat[0][7] == 1,
            "latency_high open: %s" % (lat[0][5] if lat else None,))
    h.check(len(loss) == 1 and loss[0][5] == "lost 40 % to smartedu (limit 5 %)"
            and loss[0][7] == 1, "loss_high open: %s" % (loss[0][5] if loss else None,))
    for k in range(2, 4):
        a.send(latency, lt + k * MIN, "smartedu", avg_ms=30)
    h.check(alerts("latency_high")[0][7] == 0 and alerts("loss_high")[0][7] == 0,
            "both cleared after two good rounds")

    h.step("rounds with an error: 100 % lost, no latency verdict")
    for k in range(2):
        a.send(latency, lt + (4 + k) * MIN, "dns", answered=0, error="cannot resolve")
    loss = [x for x in alerts("loss_high") if x[7] == 1]
    h.check(len(loss) == 1 and loss[0][5] == "lost 100 % to dns (limit 5 %): cannot resolve",
            "loss_high open for dns: %s" % (loss[0][5] if loss else None,))
    h.check(len(alerts("latency_high")) == 1, "no latency_high for dns")

    h.step("latency and loss outside school hours open nothing")
    for k in range(3):
        a.send(latency, night + (10 + k) * MIN, "night", sent=10, answered=2, avg_ms=900)
    h.check(not [x for x in alerts("latency_high") + alerts("loss_high") if "night" in x[0]],
            "no alert for the night rounds")
    stored = query(db_path, "SELECT count(*) FROM probe_latency")[0][0]
    h.check(stored == 9, "every latency round stored (%d)" % stored)

    h.step("probe alerts whose subject is gone clear within the minute check")
    day2 = t0 + 24 * 60 * MIN  # Tuesday 10:00, after the night's checks
    a.send(report, day2)
    for k in range(2):
        a.send(host, day2 + k * MIN, rec, False, status=0, error="timed out")
    rec_key = "recording_unavailable inventory %d" % rec
    h.check([x for x in alerts("recording_unavailable") if x[0] == rec_key and x[7] == 1],
            "recording_unavailable open again")
    calendar = wd.file("calendar.conf")
    with open(calendar, "w", encoding="utf-8") as f:
        f.write("[calendar]\nname = around the clock\n[hours]\ndefault = daily 00:00-24:00\n")
    write_conf(calendar)
    os.kill(col.proc.pid, signal.SIGHUP)
    h.wait_until(lambda: "reload: applied" in open(col.log_path, encoding="utf-8").read(), 10,
                 "the reload", logs=[col])
    now_ms = int(time.time() * 1000)
    for k in range(2):
        a.send(latency, now_ms - (1 - k) * 2000, "gone", avg_ms=250, interval_ms=2000)
    lat_key = "latency_high agent %s gone" % AGENT
    h.check([x for x in alerts("latency_high") if x[0] == lat_key and x[7] == 1],
            "latency_high open for the target 'gone' (rounds every 2 s, stamped now)")
    last_round = time.time()
    with open(inv, "w", encoding="utf-8") as f:
        f.write("".join(ln + "\n" for ln in INVENTORY.splitlines() if "http://" not in ln))
    r = subprocess.run([collector_bin, "-c", conf, "import", inv], capture_output=True, text=True,
                       timeout=60)
    h.check(r.returncode == 0, "re-imported without the recording row", r.stdout + r.stderr)

    def open_of(cause, key):
        return [x for x in alerts(cause) if x[0] == key and x[7] == 1]

    kept = {"next": 0.0}

    def cleared():
        # The agent goes on (rounds of another target, every 2 s): only
        # then is a silent target gone rather than its agent offline.
        if time.time() >= kept["next"]:
            a.send(latency, int(time.time() * 1000), "kept", avg_ms=20, interval_ms=2000)
            kept["next"] = time.time() + 2
        return not open_of("recording_unavailable", rec_key) and not open_of("latency_high",
                                                                            lat_key)
    h.wait_until(cleared, 75, "both alerts to clear", logs=[col])
    took = time.time() - last_round
    h.check(took >= 6, "latency_high cleared %.0f s after its last round (3 intervals: 6 s)" % took)

    def clear_detail(key):
        """The latest alert of key: (flapping, its clear message's payload)."""
        aid, flapping = query(db_path, "SELECT id, flapping FROM alerts WHERE key = ?"
                              " ORDER BY id DESC LIMIT 1", (key,))[0]
        got = query(db_path, "SELECT payload FROM outbox WHERE alert_id = ? AND event = 'clear'",
                    (aid,))
        return flapping, got[0][0] if got else ""

    for key, why in ((rec_key, "no longer checked (removed from the inventory)"),
                     (lat_key, "no longer measured (target removed)")):
        flapping, payload = clear_detail(key)
        if flapping or (key == rec_key and payload == ""):
            # this key opened and cleared several times above: it is flapping,
            # notifications paused, no message to read the detail from
            h.check(payload == "", "%s (flapping): cleared without a message" % key)
        else:
            h.check(why in payload, "%s's clear says why: %s" % (key, payload[:300]))
    a.close()
    h.check(col.stop() == 0, "the collector exits 0")


if __name__ == "__main__":
    h.run_test(main)
