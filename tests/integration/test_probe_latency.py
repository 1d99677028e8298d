#!/usr/bin/env python3
"""Latency probes end to end: a one-school County across the network lab
(tests/sim/netlab.py): the collector in the district namespace, snmpsimd
and the agent in the school namespace, the link between them shaped.

The agent probes two targets across the link every 10 s, 20 connects a
round with a 500 ms timeout (below TCP's 1 s SYN retransmission, as in
test_probe_tcp_lab.py): `collector` (the collector's own port) and `sink`
(a TCP listener in the district).  Its rounds go through the spool, in the
reports' sequence, to the collector.

Checks, each with the figures it saw:
  - unshaped: the stored rounds answered every connect, RTT < 5 ms;
  - delay 50 ms each way: the latest rounds' average RTT is 100 ms +-15 %
    in `probes --json`, in GET /api/v1/probes and in /metrics
    (schoolnet_probe_rtt_seconds; promtool accepts the page when it is
    installed); `schoolnet-agent probe --once --json` says the same;
  - 20 % loss each way: answered/sent over the rounds stored in that phase
    within 50..78 % (0.8 x 0.8 = 64 %, the range test_probe_tcp_lab.py
    uses);
  - the alerts, with school hours around the clock, [probe]
    latency_max_ms = 50 and loss_max_percent = 10, raise/clear after 2
    rounds: the 50 ms delay opens latency_high for both targets (key
    "latency_high agent CODE LABEL", detail "avg ... ms to LABEL (limit 50
    ms)"), in `alerts --json`, GET /api/v1/alerts and the table; under the
    loss it clears and loss_high opens; after the link is back loss_high
    clears;
  - the link cut (100 % loss) for 2 rounds: nothing of them reaches the
    collector during the cut, the agent spools them; after the restore
    they arrive (answered 0), and over the whole run every round the agent
    made (its -d log) is stored exactly once, or still in its spool; the
    collector's last seq equals the spool's, nothing dropped;
  - no malformed or unexpected frame was logged, both daemons exit 0.

Traffic stays inside the lab's two namespaces.  Skips (77) without network
namespaces, snmpsimd, iptables (the delay line) or the built binaries.
About 2 minutes.
"""
import json
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402
import netlab  # noqa: E402

POLL = 2            # s between SNMP polls
EVERY = 10          # s between probe rounds (the agent's minimum)
COUNT = 20          # connects a round
PROBE = {"targets": None, "interval": EVERY, "count": COUNT, "spacing": "100ms",
         "timeout": "500ms"}
LABELS = ("collector", "sink")
LATENCY_MAX_MS = 50
LOSS_MAX_PCT = 10
ROUND_MS = (COUNT - 1) * 100 + 500  # the longest a round takes


def ro(path):
    return sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)


def rounds(db_path, since_ms=0, until_ms=None):
    """Stored rounds as dicts, oldest first."""
    db = ro(db_path)
    try:
        db.row_factory = sqlite3.Row
        q = "SELECT * FROM probe_latency WHERE t_ms > ?"
        args = [since_ms]
        if until_ms is not None:
            q += " AND t_ms < ?"
            args.append(until_ms)
        return [dict(r) for r in db.execute(q + " ORDER BY t_ms, label", args)]
    except sqlite3.Error:
        return []
    finally:
        db.close()


def stored_seq(db_path, name):
    db = ro(db_path)
    try:
        r = db.execute("SELECT last_seq FROM agents WHERE name = ?", (name,)).fetchone()
        return r[0] if r else 0
    except sqlite3.Error:
        return 0
    finally:
        db.close()


def spool(path):
    """(meta, [(seq, type, label, t_ms)]) of the agent's spool; PROBE
    frames decoded from their bytes (wire.h), the label and t_ms of others
    None."""
    db = ro(path)
    try:
        meta = dict(db.execute("SELECT key, value FROM meta"))
        out = []
        for seq, frame in db.execute("SELECT seq, frame FROM spool ORDER BY seq"):
            ftype = frame[3]
            label = t_ms = None
            if ftype == 9:
                # seq u64, epoch u64, t_ms u64, kind u8, ref u64, label
                # (u16 length + bytes), ... (lib/wire.c wire_encode_probe)
                p = frame[8:]
                t_ms = struct.unpack(">Q", p[16:24])[0]
                n = struct.unpack(">H", p[33:35])[0]
                label = p[35:35 + n].decode()
            out.append((seq, ftype, label, t_ms))
        return meta, out
    finally:
        db.close()


def wait_rounds(county, since_ms, what, timeout, per_label=1, logs=None):
    """Rounds of every label that started after since_ms, at least
    per_label each; returns them all."""
    def enough():
        rs = rounds(county.db, since_ms)
        got = {lb: sum(1 for r in rs if r["label"] == lb) for lb in LABELS}
        if min(got.values()) < per_label:
            raise h.NotYet("rounds stored since then: %s" % got)
        return rs
    return h.wait_until(enough, timeout, what, interval=0.5, logs=logs)


def ms(us):
    return None if us is None else us / 1000.0


def describe(rs):
    sent = sum(r["sent"] for r in rs)
    ans = sum(r["answered"] for r in rs)
    avgs = [r["rtt_avg_us"] / 1000.0 for r in rs if r["rtt_avg_us"] is not None]
    return "%d rounds, %d/%d answered%s" % (
        len(rs), ans, sent,
        ", round averages %.2f..%.2f ms" % (min(avgs), max(avgs)) if avgs else "")


def api_get(lab, port, token, path):
    rc, status, body = netlab.curl(lab.district, "http://127.0.0.1:%d%s" % (port, path),
                                   timeout=10, extra=["-H", "Authorization: Bearer " + token])
    if rc != 0 or status != 200:
        raise h.TestFailure("GET %s: curl exit %d, HTTP %d: %s" % (path, rc, status, body[-500:]))
    return body


def probe_alerts(county, lab, http_port, token, code, cause, want_open):
    """Wait-step: `cause` open (want_open) or not open for every label,
    the same alerts in the alerts table (key "CAUSE agent CODE LABEL"),
    `alerts --json` and GET /api/v1/alerts; returns {label: alert} (the
    open ones, or the newest closed ones), or NotYet."""
    keys = {lb: "%s agent %s %s" % (cause, code, lb) for lb in LABELS}
    db = ro(county.db)
    try:
        rows = {lb: db.execute("SELECT id, cleared_at FROM alerts WHERE key = ? "
                               "ORDER BY id DESC LIMIT 1", (k,)).fetchone()
                for lb, k in keys.items()}
    finally:
        db.close()
    cli = {a["id"]: a for a in h.collector_json(county.collector_bin, county.conf, "alerts",
                                                "--school", code)["alerts"]
           if a["cause"] == cause}
    api = {a["id"]: a for a in json.loads(api_get(lab, http_port, token,
                                                  "/api/v1/alerts?school=" + code))["alerts"]
           if a["cause"] == cause}
    out = {}
    for lb, r in rows.items():
        if want_open:
            if r is None or r[1] is not None or r[0] not in cli or not cli[r[0]]["open"] \
                    or r[0] not in api or not api[r[0]]["open"]:
                raise h.NotYet("%s %s: db %s, cli %s" % (cause, lb, r, h._short(list(cli.values()))))
        elif r is not None and (r[1] is None or cli.get(r[0], {}).get("open")
                                or api.get(r[0], {}).get("open")):
            raise h.NotYet("%s %s still open: %s" % (cause, lb, h._short(cli.get(r[0]))))
        out[lb] = cli.get(r[0]) if r else None
    return out


def main():
    h.require_programs("ip", "tc", "iptables", "setpriv", "curl", "snmpget", h.SNMPSIMD)
    h.binaries()
    if os.geteuid() != 0:
        raise h.Skip("network namespaces need root (running as uid %d)" % os.geteuid())
    wd = h.Workdir(prefix="schoolnet-probe-latency-")
    with netlab.Lab(workdir=wd.sub("lab")) as lab:
        d = lab.district
        sink = d.tcp_sink()
        http_port = d.free_port()
        probe = dict(PROBE, targets="collector, sink=%s:%d" % (d.addr, sink.port))
        county = h.County(wd, schools=1, poll_interval=POLL, timeout=1, retries=1, lab=lab,
                          probe=probe,
                          collector_extra={"http": "127.0.0.1:%d" % http_port,
                                           "idle_timeout": 5, "read_timeout": 3},
                          collector_probe={"listen": "off", "throughput_every": 0,
                                           "latency_max_ms": LATENCY_MAX_MS,
                                           "loss_max_percent": LOSS_MAX_PCT})
        # Latency and loss alerts count in school hours only: all hours are.
        calendar = wd.file("calendar.conf")
        with open(calendar, "w", encoding="utf-8") as f:
            f.write("[calendar]\nname = test: school hours around the clock\n"
                    "[hours]\ndefault = daily 00:00-24:00\n")
        with open(county.conf, "a", encoding="utf-8") as f:
            f.write("\n[policy]\ncalendar = %s\n\n[alerts]\nraise_after = 2\nclear_after = 2\n"
                    % calendar)
        code = county.manifest["schools"][0]["code"]
        agent_conf = county.manifest["schools"][0]["agent_conf"]
        with open(agent_conf, encoding="utf-8") as f:
            text = f.read()
        # A dead link is noticed within the cut, not after minutes.
        with open(agent_conf, "w", encoding="utf-8") as f:
            f.write(text.replace("[agent]\n", "[agent]\nkeepalive = 2\n", 1))
        spool_path = re.search(r"^spool\s*=\s*(\S+)", text, re.M).group(1)
        h.step("lab %s: agent in %s, collector on %s, sink %s:%d; delay/loss by %s"
               % (lab.tag, lab.school.addr, county.collector_addr, d.addr, sink.port,
                  lab.impair_backend))
        county.start_snmpsim()
        county.start_collector()
        token = h.api_token(county, "probe-test")
        agent = county.start_agent(code, argv_extra=["-d"])
        logs = [county.collector, agent]

        h.step("unshaped")
        t0 = int(time.time() * 1000) - 1
        rs = wait_rounds(county, t0, "a round of each target stored", 30, logs=logs)
        h.check(all(r["answered"] == r["sent"] == COUNT and r["error"] == "" for r in rs)
                and all(r["rtt_avg_us"] < 5000 for r in rs),
                "stored: %s (expected all answered, < 5 ms)" % describe(rs), str(rs))
        cli = h.collector_json(county.collector_bin, county.conf, "probes", "--school", code)
        got = {p["label"]: p for p in cli["probes"]}
        h.check(sorted(got) == sorted(LABELS) and all(p["loss_pct"] == 0 and p["fresh"]
                                                      and p["agent"] == code for p in got.values()),
                "`probes --json`: %s" % ", ".join(
                    "%s %s %d/%d, %.2f ms" % (lb, p["target"], p["answered"], p["sent"],
                                             ms(p["rtt_avg_us"])) for lb, p in sorted(got.items())),
                json.dumps(cli))

        h.step("delay 50 ms each way: " + "; ".join(lab.shape(delay_ms=50).values()))
        t1 = int(time.time() * 1000)
        rs = wait_rounds(county, t1, "a delayed round of each target stored", 40, logs=logs)
        h.check(all(r["answered"] == r["sent"] == COUNT for r in rs)
                and all(85000 <= r["rtt_avg_us"] <= 115000 for r in rs),
                "stored: %s (expected all, each round's average 100 ms +-15 %%)" % describe(rs),
                str(rs))
        cli = h.collector_json(county.collector_bin, county.conf, "probes")
        latest = {p["label"]: p for p in cli["probes"]}
        h.check(all(85000 <= latest[lb]["rtt_avg_us"] <= 115000 for lb in LABELS),
                "`probes --json`: %s" % ", ".join("%s %.1f ms" % (lb, ms(latest[lb]["rtt_avg_us"]))
                                                  for lb in LABELS), json.dumps(cli))
        api = json.loads(api_get(lab, http_port, token, "/api/v1/probes?school=" + code))
        same = {p["label"]: p for p in api["probes"]}
        h.check(all(same[lb]["rtt_avg_us"] == latest[lb]["rtt_avg_us"]
                    and same[lb]["time"] == latest[lb]["time"] for lb in LABELS),
                "GET /api/v1/probes: the same rounds (%s)" % ", ".join(
                    "%s %.1f ms" % (lb, ms(same[lb]["rtt_avg_us"])) for lb in LABELS),
                json.dumps(api))
        metrics = api_get(lab, http_port, token, "/metrics")
        seen = {}
        for lb in LABELS:
            m = re.search(r'^schoolnet_probe_rtt_seconds\{school="%s",agent="%s",target="[^"]+",'
                          r'label="%s"\} (\S+)$' % (code, code, lb), metrics, re.M)
            seen[lb] = float(m.group(1)) if m else None
        h.check(all(v is not None and 0.085 <= v <= 0.115 for v in seen.values()),
                "/metrics: schoolnet_probe_rtt_seconds %s" % seen,
                "\n".join(ln for ln in metrics.splitlines() if "probe" in ln))
        for fam in ("probe_loss_ratio", "probe_jitter_seconds", "probe_last_timestamp_seconds"):
            h.check(re.search(r'^schoolnet_%s\{school="%s".*label="collector"\} \S+$' % (fam, code),
                              metrics, re.M) is not None, "/metrics has schoolnet_%s" % fam)
        if shutil.which("promtool"):
            r = subprocess.run(["promtool", "check", "metrics"], input=metrics.encode(),
                               capture_output=True, timeout=60)
            out = (r.stdout + r.stderr).decode("utf-8", "replace")
            h.check(r.returncode == 0, "promtool check metrics accepts the page", out[-1500:])
        r = lab.school.run([county.agent_bin, "-c", agent_conf, "probe", "--once", "--json"],
                           timeout=60)
        once = json.loads(netlab._text(r.stdout) or "{}")
        byl = {p["label"]: p for p in once.get("probes", [])}
        h.check(r.returncode == 0 and sorted(byl) == sorted(LABELS)
                and all(byl[lb]["answered"] == COUNT and 85000 <= byl[lb]["rtt_avg_us"] <= 115000
                        for lb in LABELS),
                "`schoolnet-agent probe --once --json` in the school: %s" % ", ".join(
                    "%s %d/%d %.1f ms" % (lb, byl[lb]["answered"], byl[lb]["sent"],
                                         ms(byl[lb]["rtt_avg_us"])) for lb in byl),
                netlab._text(r.stdout)[-2000:] + netlab._text(r.stderr)[-2000:])

        alerts = lambda cause, want: probe_alerts(county, lab, http_port, token,  # noqa: E731
                                                  code, cause, want)
        t_wait = time.monotonic()
        lat = h.wait_until(lambda: alerts("latency_high", True), 3 * EVERY + 15,
                           "latency_high for both targets", interval=0.5, logs=logs)
        h.check(all("ms to %s (limit %d ms)" % (lb, LATENCY_MAX_MS) in lat[lb]["detail"]
                    and lat[lb]["agent"] == code for lb in LABELS),
                "latency_high open for both targets %.0f s later: %s"
                % (time.monotonic() - t_wait,
                   "; ".join("%d %r" % (lat[lb]["id"], lat[lb]["detail"]) for lb in LABELS)),
                h._short(lat))
        h.check(not any(alerts("loss_high", False).values()), "no loss_high alert yet")

        h.step("20 % loss each way: " + "; ".join(lab.shape(loss_pct=20).values()))
        t2 = int(time.time() * 1000)
        # 4 rounds a target, 160 connects: 50..78 % is 64 % +- 3.7 sd.
        rs = wait_rounds(county, t2, "rounds of 160+ connects stored under loss", 100,
                         per_label=4, logs=logs)
        sent = sum(r["sent"] for r in rs)
        ans = sum(r["answered"] for r in rs)
        h.check(sent >= 160 and 0.50 <= ans / sent <= 0.78,
                "stored: %s = %.1f %% (expected 0.8 x 0.8 = 64 %%, 50..78 %%); per round %s"
                % (describe(rs), 100.0 * ans / sent, [r["answered"] for r in rs]), str(rs))
        loss = h.wait_until(lambda: alerts("loss_high", True), 3 * EVERY + 15,
                            "loss_high for both targets", interval=0.5, logs=logs)
        h.check(all("%% to %s (limit %d %%)" % (lb, LOSS_MAX_PCT) in loss[lb]["detail"]
                    for lb in LABELS),
                "loss_high open for both targets: %s"
                % "; ".join("%d %r" % (loss[lb]["id"], loss[lb]["detail"]) for lb in LABELS),
                h._short(loss))
        lat = h.wait_until(lambda: alerts("latency_high", False), 3 * EVERY + 15,
                           "latency_high to clear", interval=0.5, logs=logs)
        h.check(True, "latency_high cleared for both targets (%s)"
                % ", ".join("%d at %s" % (lat[lb]["id"], lat[lb]["cleared_at"]) for lb in LABELS))

        h.step("link cut (100 % loss) for 2 rounds: " + "; ".join(
            lab.shape(loss_pct=100).values()))
        t_cut = int(time.time() * 1000)
        time.sleep(2 * EVERY + 3)
        t_up = int(time.time() * 1000)
        during = rounds(county.db, t_cut)
        meta, frames = spool(spool_path)
        # Rounds that started and ended inside the cut.
        inside = lambda t: t_cut < t < t_up - ROUND_MS - 200  # noqa: E731
        cut_spooled = sorted((f[2], f[3]) for f in frames if f[1] == 9 and inside(f[3]))
        h.check(not during, "nothing measured after the cut reached the collector during it "
                "(%d rounds)" % len(during), str(during))
        h.check(all(sum(1 for f in cut_spooled if f[0] == lb) >= 2 for lb in LABELS),
                "the agent spooled %d probe rounds (and %d reports) measured during the cut"
                % (len(cut_spooled), sum(1 for f in frames if f[1] == 3)), str(frames))
        lab.unshape()
        h.step("link restored")

        def drained():
            m, fr = spool(spool_path)
            s = stored_seq(county.db, code)
            if fr or s != int(m["last_seq"]):
                raise h.NotYet("%d frames spooled, spool last_seq %s, stored %d"
                               % (len(fr), m["last_seq"], s))
            return True
        h.wait_until(drained, 120, "the spool to drain", interval=0.5, logs=logs)
        cut = [r for r in rounds(county.db, t_cut, t_up) if inside(r["t_ms"])]
        h.check(all(sum(1 for r in cut if r["label"] == lb) >= 2 for lb in LABELS)
                and all(r["answered"] == 0 and r["sent"] == COUNT and r["rtt_avg_us"] is None
                        for r in cut),
                "the rounds measured during the cut arrived after it: %s, each 0/%d answered"
                % (", ".join("%s %d" % (lb, sum(1 for r in cut if r["label"] == lb))
                             for lb in LABELS), COUNT), str(cut))
        h.check(sorted((r["label"], r["t_ms"]) for r in cut) == cut_spooled,
                "they are the rounds the spool held during the cut", "%s\n%s" % (cut, cut_spooled))

        t_wait = time.monotonic()
        loss = h.wait_until(lambda: alerts("loss_high", False), 3 * EVERY + 15,
                            "loss_high to clear after the link is back", interval=0.5, logs=logs)
        h.check(True, "loss_high cleared for both targets %.0f s after the spool drained (%s)"
                % (time.monotonic() - t_wait,
                   ", ".join("%d at %s" % (loss[lb]["id"], loss[lb]["cleared_at"])
                             for lb in LABELS)))

        h.step("stop; every round made is stored once")
        agent_rc = agent.stop()
        meta, frames = spool(spool_path)
        s = stored_seq(county.db, code)
        last = int(meta["last_seq"])
        unsent = [f for f in frames if f[0] > s]
        h.check(s <= last and [f[0] for f in unsent] == list(range(s + 1, last + 1))
                and int(meta.get("dropped", 0) or 0) == 0,
                "collector stored up to seq %d, the spool's last is %d and it holds the rest "
                "(%d frames), nothing dropped" % (s, last, len(unsent)))
        with open(agent.log_path, encoding="utf-8", errors="replace") as f:
            made = re.findall(r": debug: probe (\S+) \(.*?\): \d+/\d+ answered", f.read())
        allr = rounds(county.db)
        for lb in LABELS:
            n_made = made.count(lb)
            stored = [r["t_ms"] for r in allr if r["label"] == lb]
            n_left = sum(1 for f in unsent if f[1] == 9 and f[2] == lb)
            gaps = [b - a for a, b in zip(stored, stored[1:])]
            h.check(n_made == len(stored) + n_left and len(set(stored)) == len(stored)
                    and all(EVERY * 500 < g < EVERY * 1500 for g in gaps),
                    "%s: %d rounds made, %d stored once each (%d still spooled), one every "
                    "%.1f..%.1f s" % (lb, n_made, len(stored), n_left,
                                      min(gaps) / 1000.0, max(gaps) / 1000.0), str(stored))
        coll_rc = county.collector.stop()
        with open(county.collector.log_path, encoding="utf-8", errors="replace") as f:
            clog = f.read()
        bad = re.findall(r".*(?:malformed|bad PROBE|bad REPORT|unexpected).*", clog)
        h.check(not bad, "the collector logged no malformed or unexpected frame", "\n".join(bad))
        h.check(agent_rc == 0 and coll_rc == 0,
                "agent and collector exited 0 (%s, %s)" % (agent_rc, coll_rc))


if __name__ == "__main__":
    h.run_test(main)
