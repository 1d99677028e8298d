#!/usr/bin/env python3
"""Crash safety: the collector and the agents are killed with SIGKILL at
(seeded) random moments while reports flow, and restarted right away.

Six rounds; in most the collector is killed (once while the agents are
spooling, once more while it is replaying their backlog), in some an agent
is killed instead and must resume from its spool (same epoch, same sequence
space).  At the end the agents are stopped cleanly, restarted with a poll
interval of an hour so their spools can drain without new polls, and:

- for every agent the collector's agents.last_seq equals the spool's
  meta.last_seq, under the same epoch, and the spool is empty: every report
  the agent produced was acknowledged, and the spool only forgets a report
  after its ACK (the collector ACKs after COMMIT);
- per port, port_rates holds one row per poll that had a rate: one per
  report, less the first report of every agent process (a fresh process has
  no previous counters), so nothing was lost and nothing doubled;
- consecutive measurement times are never further apart than 2.5 poll
  intervals, except across a window in which the *agent* was dead (that
  time is unknown, and must show as a hole rather than be papered over).
"""
import os
import random
import re
import signal
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402

POLL = 1
ROUNDS = 6
SEED = 20251
REPLAY_RATE = 4  # reports/s when catching up, if the agent has replay_rate
HOLE = POLL * 1000 * 2.5  # ms: a longer step between measurements is unknown time


# --- helpers ---------------------------------------------------------------

def kill9(d):
    """SIGKILL a harness Daemon (its whole process group) and reap it."""
    try:
        os.killpg(d.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        d.proc.wait(10)
    except Exception:
        pass
    d.stop()  # bookkeeping only: records the exit status, closes the log


def spool_path(conf):
    with open(conf, encoding="utf-8") as f:
        return re.search(r"^spool\s*=\s*(\S+)", f.read(), re.M).group(1)


def spool_state(path):
    """{'pending', 'last_seq', 'epoch', 'dropped'} of an agent's spool."""
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)
    try:
        meta = dict(db.execute("SELECT key, value FROM meta"))
        pending = db.execute("SELECT count(*) FROM spool").fetchone()[0]
        return {"pending": pending, "last_seq": int(meta.get("last_seq", 0)),
                "epoch": int(meta.get("epoch", 0)), "dropped": int(meta.get("dropped", 0) or 0)}
    finally:
        db.close()


def stored_agents(db_path):
    db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=5)
    try:
        return {r[0]: {"epoch": r[1], "last_seq": r[2]}
                for r in db.execute("SELECT name, epoch, last_seq FROM agents")}
    finally:
        db.close()


CONNECTED = re.compile(r"\) connected from ")


def count_in_log(path, rx):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return len(rx.findall(f.read()))
    except OSError:
        return 0


def knows_key(binary, key):
    """True if `binary --config-help` lists `key` (a feature has landed)."""
    import subprocess
    r = subprocess.run([binary, "--config-help"], capture_output=True, timeout=30)
    return re.search(r"^\s+%s\s" % re.escape(key), r.stdout.decode("utf-8", "replace"), re.M) is not None


def now_ms():
    return int(time.time() * 1000)


def main():
    h.require_programs("snmpget")
    wd = h.Workdir(prefix="schoolnet-crash-")
    # No probe rounds: reports are counted by their sequence numbers, which
    # probe results share (the probes have tests of their own).
    county = h.County(wd, schools=2, seed=11, poll_interval=POLL, probe={"targets": "none"})
    codes = [s["code"] for s in county.manifest["schools"]]
    confs = {c: os.path.join(county.dir, "agents", "%s.conf" % c) for c in codes}
    spools = {c: spool_path(confs[c]) for c in codes}
    rng = random.Random(SEED)
    if knows_key(county.agent_bin, "replay_rate"):
        # Catch up slowly, so the second kill of a round lands mid-replay.
        for c in codes:
            with open(confs[c], encoding="utf-8") as f:
                text = f.read()
            with open(confs[c], "w", encoding="utf-8") as f:
                f.write(text.replace("[agent]\n", "[agent]\nreplay_rate = %d\n" % REPLAY_RATE, 1))
        print("agents catch up at replay_rate = %d reports/s" % REPLAY_RATE)

    # Per agent: how many processes produced reports, and when it was dead.
    starts = {c: 1 for c in codes}
    down = {c: [] for c in codes}  # [(killed_ms, restarted_ms)]

    county.start()
    all_logs = lambda: [county.collector] + list(county.agents.values())  # noqa: E731
    h.step("agents report while the collector is up")
    h.wait_until(lambda: all(stored_agents(county.db).get(c, {}).get("last_seq", 0) >= 2
                             for c in codes), 30, "two reports stored per agent", logs=all_logs())
    epochs = {c: spool_state(spools[c])["epoch"] for c in codes}

    kinds = ["collector"] * 4 + ["agent"] * 2
    rng.shuffle(kinds)
    collector_kills = 0
    for rnd, kind in enumerate(kinds, 1):
        time.sleep(rng.uniform(0.3, 2.0))
        if kind == "collector":
            outage = rng.uniform(1.0, 4.0)
            replay = rng.uniform(0.0, 0.6)
            h.step("round %d: kill -9 the collector, restart after %.1f s, kill -9 again "
                   "%.2f s after the first agent is back, restart at once" % (rnd, outage, replay))
            kill9(county.collector)
            collector_kills += 1
            time.sleep(outage)
            seen = count_in_log(county.collector.log_path, CONNECTED)
            county.start_collector()
            # Kill it while the agents replay their backlog: shortly after
            # the first of them is back (bounded wait; kill anyway after).
            try:
                h.wait_until(lambda: count_in_log(county.collector.log_path, CONNECTED) > seen,
                             6, "an agent to reconnect", interval=0.02)
            except h.TestFailure:
                print("  (no agent back within 6 s; killing anyway)")
            time.sleep(replay)
            backlog = sum(spool_state(spools[c])["pending"] for c in codes)
            kill9(county.collector)
            collector_kills += 1
            print("  killed with %d reports still spooled" % backlog, flush=True)
            county.start_collector()
        else:
            code = rng.choice(codes)
            dead = rng.uniform(0.0, 2.0)
            h.step("round %d: kill -9 agent %s, restart after %.1f s" % (rnd, code, dead))
            before = spool_state(spools[code])
            t_kill = now_ms()
            kill9(county.agents[code])
            time.sleep(dead)
            county.start_agent(code)
            t_start = now_ms()
            down[code].append((t_kill, t_start))
            starts[code] += 1
            after = spool_state(spools[code])
            h.check(after["epoch"] == epochs[code] and after["last_seq"] >= before["last_seq"],
                    "%s: spool survived the kill (epoch kept, last_seq %d -> %d, %d pending)"
                    % (code, before["last_seq"], after["last_seq"], after["pending"]))
        if not county.collector.alive():
            raise h.TestFailure("collector died after round %d:\n%s"
                                % (rnd, county.collector.tail(40)))

    h.step("the agents resumed: they keep reporting to the restarted collector")
    mark = {c: spool_state(spools[c])["last_seq"] for c in codes}
    h.wait_until(lambda: all(stored_agents(county.db).get(c, {}).get("last_seq", 0) >= mark[c] + 2
                             for c in codes), 30, "new reports stored after the last round",
                 logs=all_logs())
    for c in codes:
        with open(county.agents[c].log_path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        n = len(re.findall(r"connected; \d+ reports waiting", text))
        h.check(n >= 2, "%s reconnected after the crashes (%d connections in its log)" % (c, n))

    h.step("agents stopped cleanly, then restarted with poll_interval = 3600 to drain")
    for c in codes:
        before = spool_state(spools[c])["last_seq"]
        t_stop = now_ms()
        county.agents[c].stop()
        with open(confs[c], encoding="utf-8") as f:
            text = f.read()
        drain_conf = os.path.join(county.dir, "agents", "%s-drain.conf" % c)
        with open(drain_conf, "w", encoding="utf-8") as f:
            f.write(re.sub(r"^poll_interval\s*=.*$", "poll_interval = 3600", text, flags=re.M))
        county.start_agent(c, conf=drain_conf)
        down[c].append((t_stop, now_ms()))
        # The drain process polls once at start (a report without rates).
        h.wait_until(lambda: spool_state(spools[c])["last_seq"] > before, 15,
                     "%s's drain process to poll once" % c, logs=all_logs())
        starts[c] += 1

    def drained():
        st = stored_agents(county.db)
        out = []
        for c in codes:
            sp = spool_state(spools[c])
            if sp["pending"] or st.get(c, {}).get("last_seq") != sp["last_seq"]:
                out.append("%s: %d pending, spool last_seq %d, stored %s"
                           % (c, sp["pending"], sp["last_seq"], st.get(c)))
        if out:
            raise h.NotYet("; ".join(out))
        return True
    h.wait_until(drained, 30, "spools to drain", logs=all_logs())
    for c in codes:
        county.agents[c].stop()

    h.step("checking what was stored")
    stored = stored_agents(county.db)
    for c in codes:
        sp = spool_state(spools[c])
        h.check(sp["epoch"] == epochs[c] and stored[c]["epoch"] == epochs[c],
                "%s: one sequence space throughout (epoch %016x)" % (c, epochs[c]))
        h.check(sp["pending"] == 0, "%s: spool empty" % c)
        h.check(stored[c]["last_seq"] == sp["last_seq"],
                "%s: collector stored up to seq %d, the agent's last is %d"
                % (c, stored[c]["last_seq"], sp["last_seq"]))
        h.check(sp["dropped"] == 0, "%s: the spool dropped nothing" % c)

    db = sqlite3.connect("file:%s?mode=ro" % county.db, uri=True)
    for c in codes:
        with open(county.agents[c].log_path, encoding="utf-8", errors="replace") as f:
            failed_polls = len(re.findall(r"switch access1 \([^)]*\): (?!answering)", f.read()))
        n_reports = stored[c]["last_seq"]
        expect = n_reports - starts[c]
        ports = db.execute(
            "SELECT p.id, p.if_name FROM ports p JOIN switches s ON s.id = p.switch_id"
            " JOIN agents a ON a.id = s.agent_id WHERE a.name = ? AND p.oper = 1"
            " ORDER BY p.if_index", (c,)).fetchall()
        h.check(len(ports) > 0, "%s: %d ports up" % (c, len(ports)))
        counts = {}
        worst_gap = 0
        for port_id, name in ports:
            t_ends = [r[0] for r in db.execute(
                "SELECT t_end FROM port_rates WHERE port_id = ? ORDER BY t_end", (port_id,))]
            counts[name] = len(t_ends)
            for a, b in zip(t_ends, t_ends[1:]):
                if b - a <= HOLE:
                    worst_gap = max(worst_gap, b - a)
                    continue
                # A hole must span a window in which the agent was dead: it
                # starts at the last poll before the kill and ends at the
                # second poll of the new process (the first has no rate).
                ok = any(a <= k + 500 and a >= k - HOLE and b >= r and b <= r + 3 * POLL * 1000 + 2000
                         for k, r in down[c])
                h.check(ok, "%s %s: hole %d..%d (%d ms) lies over an agent kill" % (c, name, a, b, b - a),
                        "agent down windows: %s" % down[c])
        distinct = set(counts.values())
        if failed_polls == 0:
            h.check(distinct == {expect},
                    "%s: every up port has %d rate rows = %d reports - %d agent starts"
                    % (c, expect, n_reports, starts[c]),
                    "rate rows per port: %s" % counts)
        else:
            h.check(len(distinct) == 1 and expect - 2 * failed_polls <= min(distinct) <= expect,
                    "%s: every up port has the same number of rate rows (%s), %d reports, "
                    "%d starts, %d failed polls" % (c, sorted(distinct), n_reports, starts[c],
                                                    failed_polls), "rate rows: %s" % counts)
        h.check(True, "%s: no hole in any port's history outside the agent's own downtime "
                "(largest step elsewhere %d ms)" % (c, worst_gap))
        n_states = db.execute(
            "SELECT count(*) FROM port_state ps JOIN ports p ON p.id = ps.port_id"
            " JOIN switches s ON s.id = p.switch_id JOIN agents a ON a.id = s.agent_id"
            " WHERE a.name = ? GROUP BY ps.port_id ORDER BY count(*) DESC LIMIT 1", (c,)).fetchone()[0]
        h.check(n_states <= starts[c],
                "%s: at most one state interval per agent process (max %d, %d processes)"
                % (c, n_states, starts[c]))
    db.close()
    h.check(county.collector.alive(), "the collector is still running after %d SIGKILLs"
            % collector_kills)


if __name__ == "__main__":
    h.run_test(main)
