#!/usr/bin/env python3
"""A bounded spool: with `spool_max = 1` (MB) and the collector stopped,
the agent's spool fills up, and from then on every new report pushes out
the oldest ones, counted in the spool's persistent meta 'dropped'.

poll_interval cannot go below 1 s and snmpsimd answers only a few polls a
second, so the reports are made big instead: the simulated 52-port switch
gets 220-character ifDescr and ifAlias values (~25 KB a report), and the
agent polls it as SWITCHES switch sections every second: 1 MB in ~20 s.

Checks:
- while full, the spool holds at most 1 MB of frames, its file stays small,
  and the dropped reports are exactly the oldest ones (the oldest seq left
  = the oldest at the stop + dropped);
- after the collector is back, `agents --json` reports `dropped` equal to
  the spool's counter, the spool drains and agents.last_seq equals the
  spool's last_seq;
- the stored history has a hole where the dropped reports were (unknown
  time: a gap longer than 2.5 poll intervals, and the port's state interval
  ends before it and a new one starts after it), while every report newer
  than the dropped ones is stored: one rate row per report.
"""
import os
import re
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402
import gen_county  # noqa: E402

POLL = 1
SWITCHES = 2           # reports per poll interval
LONG = 220             # characters of ifDescr and ifAlias
SPOOL_MAX_MB = 1
LIMIT = SPOOL_MAX_MB << 20
HOLE = POLL * 1000 * 2.5


def fatten(snmprec):
    """Give every interface a LONG-character ifDescr and ifAlias."""
    out = []
    with open(snmprec, encoding="utf-8") as f:
        for line in f:
            oid, tag, _ = line.rstrip("\n").split("|", 2)
            for col in ("1.3.6.1.2.1.2.2.1.2.", "1.3.6.1.2.1.31.1.1.1.18."):
                if oid.startswith(col):
                    x = oid[len(col):]
                    text = ("port %s of the simulated switch, a long description " % x) * 8
                    line = "%s|4|%s\n" % (oid, text[:LONG])
            out.append(line)
    with open(snmprec, "w", encoding="utf-8") as f:
        f.writelines(out)


def knows_key(binary, key):
    r = subprocess.run([binary, "--config-help"], capture_output=True, timeout=30)
    return re.search(r"^\s+%s\s" % re.escape(key), r.stdout.decode("utf-8", "replace"), re.M) is not None


def ro(path):
    return sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)


def spool_state(path):
    db = ro(path)
    try:
        meta = dict(db.execute("SELECT key, value FROM meta"))
        n, lo, hi, size = db.execute(
            "SELECT count(*), min(seq), max(seq), coalesce(sum(length(frame)), 0) FROM spool").fetchone()
        pages = db.execute("PRAGMA page_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0]
        return {"pending": n, "min_seq": lo, "max_seq": hi, "bytes": size, "pages_bytes": pages,
                "last_seq": int(meta.get("last_seq", 0)), "dropped": int(meta.get("dropped", 0) or 0)}
    finally:
        db.close()


def spool_times(path):
    db = ro(path)
    try:
        return dict(db.execute("SELECT seq, t_ms FROM spool"))
    finally:
        db.close()


def stored_seq(db_path, name):
    db = ro(db_path)
    try:
        r = db.execute("SELECT last_seq FROM agents WHERE name = ?", (name,)).fetchone()
        return r[0] if r else 0
    finally:
        db.close()


def file_size(p):
    try:
        return os.path.getsize(p)
    except OSError:
        return 0


def main():
    h.require_programs("snmpget")
    wd = h.Workdir(prefix="schoolnet-spoolfull-")
    county = h.County(wd, schools=1, seed=1, poll_interval=POLL, timeout=1, retries=1)
    for key in ("spool_max",):
        if not knows_key(county.agent_bin, key):
            raise h.Skip("this agent has no `%s` setting yet" % key)
    school = county.manifest["schools"][0]
    code = school["code"]
    sw = school["switches"][0]
    nifs = len(sw["interfaces"])
    spool = os.path.join(county.dir, "spool", "%s.db" % code)
    conf = os.path.join(county.dir, "agents", "%s-full.conf" % code)
    switches = [{"name": "sw%02d" % i, "address": sw["address"], "community": sw["community"]}
                for i in range(1, SWITCHES + 1)]
    # No probe rounds: the arithmetic below counts reports by their
    # sequence numbers, and probe rounds would share them.
    text = gen_county.agent_conf_text(code, county.collector_addr, spool, POLL, switches,
                                      timeout=1, retries=1, probe={"targets": "none"})
    # The same [agent] lines as the county's own config for this school
    # (e.g. its TLS key from `enroll`), plus the spool limit.
    extra = list(getattr(county, "keys", {}).get(code, []))
    text = text.replace("[agent]\n", "[agent]\n" + "".join(ln + "\n" for ln in extra)
                        + "spool_max = %d\n" % SPOOL_MAX_MB, 1)
    with open(conf, "w", encoding="utf-8") as f:
        f.write(text)
    print("agent: %d switch sections x %d interfaces, poll every %d s, spool_max = %d MB"
          % (SWITCHES, nifs, POLL, SPOOL_MAX_MB))

    fatten(os.path.join(county.manifest["snmp_data_dir"], "sw-%s.snmprec" % code))
    county.start_snmpsim()
    county.start_collector()
    agent = county.start_agent(code, conf=conf)
    logs = lambda: [county.collector, agent]  # noqa: E731
    h.step("the agent reports while the collector is up")
    h.wait_until(lambda: stored_seq(county.db, code) >= 3 * SWITCHES, 40,
                 "three polls of every switch stored", logs=logs())

    h.step("collector stopped: the spool fills up")
    county.collector.stop()
    s0 = stored_seq(county.db, code)
    st = spool_state(spool)
    first_at_stop = st["min_seq"] if st["pending"] else st["last_seq"] + 1
    t_stop = int(time.time() * 1000)
    print("  stored up to seq %d; spool holds %d (seq %s..%s, %d bytes)"
          % (s0, st["pending"], st["min_seq"], st["max_seq"], st["bytes"]))
    h.check(st["dropped"] == 0, "nothing dropped before the spool was full")
    t0 = time.monotonic()
    full = h.wait_until(lambda: spool_state(spool)["dropped"] > 0 and spool_state(spool), 60,
                        "the spool to pass %d MB and drop its oldest reports" % SPOOL_MAX_MB,
                        logs=logs(), interval=0.5)
    print("  first drop after %.1f s, at %d reports / %d bytes"
          % (time.monotonic() - t0, full["pending"], full["bytes"]))
    frame = full["bytes"] / max(1, full["pending"])
    # Stay full a while longer: every poll now pushes out old reports.
    peak_file = 0
    for _ in range(10):
        time.sleep(0.5)
        peak_file = max(peak_file, file_size(spool))
    print("  now %d reports, %d bytes, %d dropped" % (spool_state(spool)["pending"],
                                                     spool_state(spool)["bytes"],
                                                     spool_state(spool)["dropped"]))
    snap = spool_state(spool)
    times = spool_times(spool)
    h.check(snap["bytes"] <= LIMIT,
            "the spool holds %d bytes of frames (%d reports of ~%.0f bytes) <= %d"
            % (snap["bytes"], snap["pending"], frame, LIMIT))
    h.check(snap["bytes"] > LIMIT - 2 * frame,
            "... and is full up to the limit (within two reports)")
    wal = file_size(spool + "-wal")
    h.check(snap["pages_bytes"] <= LIMIT * 3 // 2,
            "the spool database stays bounded: %d bytes in pages (file %d, WAL %d)"
            % (snap["pages_bytes"], peak_file, wal))
    h.check(snap["min_seq"] == first_at_stop + snap["dropped"],
            "the %d dropped reports are the oldest: oldest left is seq %d = %d + %d"
            % (snap["dropped"], snap["min_seq"], first_at_stop, snap["dropped"]))
    h.check(snap["max_seq"] == snap["last_seq"], "the newest report (seq %d) is kept" % snap["last_seq"])
    with open(agent.log_path, encoding="utf-8", errors="replace") as f:
        n_warn = len(re.findall(r"spool .* full", f.read()))
    h.check(n_warn >= 1, "the agent logged the drops (%d lines)" % n_warn)

    h.step("collector restarted")
    county.start_collector()

    def drained():
        # Until it drains the agent keeps dropping: remember when every
        # report it still held was measured.
        times.update(spool_times(spool))
        s = spool_state(spool)
        got = stored_seq(county.db, code)
        if s["pending"] or got != s["last_seq"]:
            raise h.NotYet("%d pending, last_seq %d, stored %d" % (s["pending"], s["last_seq"], got))
        return s
    # The agent's reconnect backoff has grown during the outage (<= 60 s).
    h.wait_until(drained, 90, "the spool to drain", logs=logs())
    agent.stop()
    final = spool_state(spool)
    stored = stored_seq(county.db, code)
    h.check(final["pending"] == 0 and stored == final["last_seq"],
            "spool drained; collector stored up to seq %d = the agent's last" % stored)

    ags = h.collector_json(county.collector_bin, county.conf, "agents")
    me = [a for a in ags.get("agents", []) if a.get("name") == code]
    h.check(len(me) == 1, "`agents --json` lists agent %s" % code, h._short(ags))
    me = me[0]
    for k in ("dropped", "last_seq", "spool_pending", "school"):
        h.check(k in me, "agents --json has `%s`" % k, h._short(me))
    h.check(me["dropped"] == final["dropped"],
            "agents --json: dropped = %s, the spool's counter is %d" % (me["dropped"], final["dropped"]))
    h.check(me["last_seq"] == stored, "agents --json: last_seq = %s" % me["last_seq"])
    h.check(isinstance(me["spool_pending"], int) and me["spool_pending"] >= 0,
            "agents --json: spool_pending = %s (as of the agent's last STATUS)" % me["spool_pending"])
    h.check(me["school"] == code, "agents --json: school %s" % me["school"])

    h.step("the agent's log names every dropped report")
    drop_re = re.compile(r"spool .* full \(\d+ MB\): dropped (\d+) unsent reports, seq (\d+)\.\.(\d+);")
    with open(agent.log_path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    # Drops logged after the agent reconnected: a poll that lands while
    # the replay is still going (the spool is still full) drops the oldest
    # report not yet sent, which is not the oldest one (seen under ASan).
    reconnect = max(i for i, ln in enumerate(lines) if "connected; " in ln)
    ranges, post = [], []
    for i, ln in enumerate(lines):
        m = drop_re.search(ln)
        if m:
            (post if i > reconnect else ranges).append(
                (int(m.group(2)), int(m.group(3)), int(m.group(1))))
    h.check(ranges and all(b - a + 1 == n for a, b, n in ranges),
            "%d drop lines, each with its seq range" % len(ranges), str(ranges))
    dropped_seqs = sorted(s for a, b, _ in ranges for s in range(a, b + 1))
    late = sorted(s for a, b, _ in post for s in range(a, b + 1))
    h.check(len(dropped_seqs) + len(late) == final["dropped"]
            == len(set(dropped_seqs + late)),
            "the ranges add up to the spool's counter (%d; %d of them during the replay: %s)"
            % (final["dropped"], len(late), late))
    h.check(all(s > max(dropped_seqs) for s in late) and len(late) <= 3,
            "drops during the replay (if any) are newer ones, and few")
    final = dict(final, dropped=len(dropped_seqs))
    # The spool held fewer reports than the send window: once connected all
    # of them were in flight, and reports in flight are never dropped. So
    # every drop happened while the collector was away, from the oldest on.
    h.check(dropped_seqs == list(range(first_at_stop, first_at_stop + final["dropped"])),
            "the dropped reports are seq %d..%d, the oldest unsent ones"
            % (first_at_stop, first_at_stop + final["dropped"] - 1), str(ranges))

    h.step("the history: a hole where the dropped reports were, everything newer stored")
    first_kept = first_at_stop + final["dropped"]
    h.check(first_kept in times,
            "the oldest kept report (seq %d) was seen in the spool" % first_kept)
    # Reports are spooled when their poll ends, stamped with its start: the
    # earliest measurement time among the kept reports.
    t_first_kept = min(t for s, t in times.items() if s >= first_kept)
    lost = max(0, first_kept - (s0 + 1))
    n_stored = s0 + (final["last_seq"] - max(first_kept, s0 + 1) + 1) - len(late)
    print("  %d reports in all, %d stored, %d dropped before the collector had them"
          % (final["last_seq"], n_stored, lost))
    h.check(lost > 0, "some reports were lost for good (%d)" % lost)

    db = ro(county.db)
    uplink = next(i for i in sw["interfaces"] if i["role"] == "uplink")
    rows = db.execute(
        "SELECT s.name, p.id FROM ports p JOIN switches s ON s.id = p.switch_id"
        " JOIN agents a ON a.id = s.agent_id WHERE a.name = ? AND p.if_index = ? ORDER BY s.name",
        (code, uplink["if_index"])).fetchall()
    h.check(len(rows) == SWITCHES, "the uplink port is known on all %d switch sections" % SWITCHES)
    total_rates, newer = 0, 0
    for swname, port_id in rows:
        t_ends = [r[0] for r in db.execute(
            "SELECT t_end FROM port_rates WHERE port_id = ? ORDER BY t_end", (port_id,))]
        total_rates += len(t_ends)
        newer += sum(1 for t in t_ends if t >= t_first_kept)
        holes = [(a, b) for a, b in zip(t_ends, t_ends[1:]) if b - a > HOLE]
        h.check(len(holes) == 1 and holes[0][0] <= t_stop and holes[0][1] >= t_first_kept,
                "%s: one hole in the rates, over the dropped reports (%s)"
                % (swname, ", ".join("%.1f s" % ((b - a) / 1000) for a, b in holes)),
                "holes %s; collector stopped at %d, oldest kept report from %d; spool times %s"
                % (holes, t_stop, t_first_kept, sorted((k, v) for k, v in times.items())[:6]))
        states = db.execute("SELECT t_start, t_end FROM port_state WHERE port_id = ? ORDER BY t_start",
                            (port_id,)).fetchall()
        h.check(len(states) == 2 and states[1][0] - states[0][1] >= HOLE,
                "%s: the state interval ends before the hole and a new one starts after it "
                "(unknown time, %s)" % (swname, states))
    h.check(total_rates == n_stored - SWITCHES,
            "one rate row per stored report after each switch's first: %d = %d - %d"
            % (total_rates, n_stored, SWITCHES))
    expect_newer = final["last_seq"] - first_kept + 1 - len(late)
    h.check(newer == expect_newer,
            "every report from seq %d on is stored (%d of %d)" % (first_kept, newer, expect_newer))
    db.close()

    h.step("`agents --json` has every field of the contract")
    missing = [k for k in ("name", "school", "reporting", "peer", "software", "epoch", "last_seq",
                           "last_heard", "dropped", "spool_pending") if k not in me]
    h.check(not missing, "agents --json: every agent has name, school, reporting, peer, software, "
            "epoch, last_seq, last_heard, dropped, spool_pending", "missing %s in %s"
            % (missing, h._short(me)))
    h.check(isinstance(me["reporting"], bool), "agents --json: reporting is a boolean")
    h.check(me["software"].startswith("schoolnet-agent/"),
            "agents --json: software = %r (the agent's HELLO)" % me["software"])
    h.check("generated_at" in ags, "agents --json has generated_at")


if __name__ == "__main__":
    h.run_test(main)
