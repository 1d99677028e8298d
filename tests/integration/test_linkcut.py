#!/usr/bin/env python3
"""The school's link to the district is cut (the veth between two network
namespaces goes down) for about 10 s while the agent keeps polling, then
comes back.

Two namespaces of our own, joined by a veth pair on a private /30:
  district  10.77.0.1/30  schoolnet-collector listening on 10.77.0.1:7470
  school    10.77.0.2/30  schoolnet-agent, and snmpsimd on the school
                          namespace's own loopback (127.0.0.1)
No traffic leaves these namespaces; both are deleted at the end, even on
failure.

Checks: the agent notices the cut and reconnects (a new `connected` line),
its spool drains, the collector's agents.last_seq equals the spool's
meta.last_seq, and the measurements taken during the cut are back-filled:
every up port has one rate row per poll after the first, with no step longer
than 2.5 poll intervals across the cut.

Skips (77) when network namespaces cannot be created (not root, no
CAP_SYS_ADMIN, no `ip`).
"""
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402
import gen_county  # noqa: E402

POLL = 1
CUT = 10  # seconds without a link
DISTRICT_IP, SCHOOL_IP = "10.77.0.1", "10.77.0.2"  # our own /30, inside our own namespaces
LISTEN_PORT = 7470
SNMP_PORT = 1161


def ip(*args, check=True):
    r = subprocess.run(["ip"] + list(args), capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), r.stderr.decode(errors="replace").strip()))
    return r


class Netns:
    """A network namespace of our own, deleted at cleanup."""

    def __init__(self, name):
        self.name = name
        r = ip("netns", "add", name, check=False)
        if r.returncode != 0:
            raise h.Skip("cannot create a network namespace (ip netns add: %s); needs root or "
                         "CAP_SYS_ADMIN" % r.stderr.decode(errors="replace").strip())
        h.on_cleanup(self.delete)
        ip("-n", name, "link", "set", "lo", "up")

    def exec_argv(self, argv):
        return ["ip", "netns", "exec", self.name] + [str(a) for a in argv]

    def run(self, argv, **kw):
        return subprocess.run(self.exec_argv(argv), capture_output=True, stdin=subprocess.DEVNULL,
                              **kw)

    def delete(self):
        ip("netns", "del", self.name, check=False)


def spool_path(conf):
    with open(conf, encoding="utf-8") as f:
        return re.search(r"^spool\s*=\s*(\S+)", f.read(), re.M).group(1)


def spool_state(path):
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)
    try:
        pending = db.execute("SELECT count(*) FROM spool").fetchone()[0]
        last = db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()[0]
        return pending, last
    finally:
        db.close()


def stored_seq(db_path, name):
    try:
        db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=5)
    except sqlite3.Error:
        return 0
    try:
        r = db.execute("SELECT last_seq FROM agents WHERE name = ?", (name,)).fetchone()
        return r[0] if r else 0
    except sqlite3.Error:
        return 0
    finally:
        db.close()


def count_in_log(path, rx):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return len(re.findall(rx, f.read()))
    except OSError:
        return 0


def knows_key(binary, key):
    r = subprocess.run([binary, "--config-help"], capture_output=True, timeout=30)
    return re.search(r"^\s+%s\s" % re.escape(key), r.stdout.decode("utf-8", "replace"), re.M) is not None


def main():
    h.require_programs("ip", "snmpget", h.SNMPSIMD)
    agent_bin, collector_bin = h.binaries()
    if os.geteuid() != 0:
        raise h.Skip("network namespaces need root (running as uid %d)" % os.geteuid())
    tag = "%d" % os.getpid()
    wd = h.Workdir(prefix="schoolnet-linkcut-")
    logs = wd.sub("logs")

    h.step("namespaces: district %s/30 <-> school %s/30 over a veth pair" % (DISTRICT_IP, SCHOOL_IP))
    district = Netns("sn-dist-" + tag)
    school = Netns("sn-school-" + tag)
    veth_d, veth_s = "snd" + tag, "sns" + tag
    # Created inside the district namespace, so nothing appears in ours even
    # for a moment; the school end is moved to the school namespace.
    ip("-n", district.name, "link", "add", veth_d, "type", "veth", "peer", "name", veth_s)
    ip("-n", district.name, "link", "set", veth_s, "netns", school.name)
    ip("-n", district.name, "addr", "add", DISTRICT_IP + "/30", "dev", veth_d)
    ip("-n", school.name, "addr", "add", SCHOOL_IP + "/30", "dev", veth_s)
    ip("-n", district.name, "link", "set", veth_d, "up")
    ip("-n", school.name, "link", "set", veth_s, "up")
    r = school.run(["ping", "-c", "1", "-W", "2", DISTRICT_IP], timeout=10) \
        if shutil.which("ping") else None
    if r is not None:
        h.check(r.returncode == 0, "the school namespace reaches %s" % DISTRICT_IP,
                r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace"))

    county_dir = wd.sub("county")
    collector_addr = "%s:%d" % (DISTRICT_IP, LISTEN_PORT)
    # No probe rounds: reports are counted by their sequence numbers, which
    # probe results share (the probes have tests of their own).
    m = gen_county.generate(county_dir, SNMP_PORT, collector_addr, schools=1, seed=7,
                            poll_interval=POLL, timeout=0.5, retries=1,
                            probe={"targets": "none"},
                            # no throughput test takes a seq the test counts
                            collector_probe={"throughput_every": 0})
    code = m["schools"][0]["code"]
    agent_conf = m["schools"][0]["agent_conf"]
    conf = m["collector_conf"]
    spool = spool_path(agent_conf)
    # Short keepalive / timeouts where the binaries know them, so a dead
    # connection is noticed within the cut rather than after minutes.
    extra_agent = "keepalive = 2\n" if knows_key(agent_bin, "keepalive") else ""
    extra_coll = "".join("%s = %s\n" % kv for kv in (("idle_timeout", 5), ("read_timeout", 3))
                         if knows_key(collector_bin, kv[0]))
    for path, extra in ((agent_conf, extra_agent), (conf, extra_coll)):
        if extra:
            with open(path, encoding="utf-8") as f:
                text = f.read()
            sect = "[agent]\n" if path == agent_conf else "[collector]\n"
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.replace(sect, sect + extra, 1))
    must_reconnect = bool(extra_coll)
    if knows_key(collector_bin, "tls"):
        # TLS with a per-agent key, as the county's agents use (enroll).
        r = subprocess.run([collector_bin, "-c", conf, "enroll", "--school", code],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise h.TestFailure("enroll --school %s failed: %s" % (code, r.stderr.strip()))
        lines = [ln for ln in r.stdout.splitlines() if ln and not ln.startswith("#")]
        with open(agent_conf, encoding="utf-8") as f:
            text = f.read()
        with open(agent_conf, "w", encoding="utf-8") as f:
            f.write(text.replace("[agent]\n", "[agent]\n" + "".join(ln + "\n" for ln in lines), 1))
    h.check_config(agent_bin, agent_conf)
    h.check_config(collector_bin, conf)

    h.step("snmpsimd in the school namespace on 127.0.0.1:%d" % SNMP_PORT)
    rundir = wd.sub("snmpsim")
    data = os.path.join(rundir, "data")
    shutil.copytree(m["snmp_data_dir"], data)
    cache = os.path.join(rundir, "cache")
    os.mkdir(cache)
    for root, dirs, files in os.walk(rundir):
        os.chmod(root, 0o777 if root == cache else 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    argv = [h.SNMPSIMD, "--process-user=nobody", "--process-group=nogroup",
            "--data-dir=" + data, "--cache-dir=" + cache,
            "--agent-udpv4-endpoint=127.0.0.1:%d" % SNMP_PORT, "--logging-method=stderr"]
    argv += h.variation_aliases(data)
    snmpsim = h.Daemon(school.exec_argv(argv), os.path.join(logs, "snmpsimd.log"), name="snmpsimd",
                       tail_skip=r"^(Request|Response) var-binds|^SNMP EngineID")

    def snmp_answers():
        if not snmpsim.alive():
            raise h.TestFailure("snmpsimd exited:\n" + snmpsim.tail(40))
        r = subprocess.run(school.exec_argv(
            ["snmpget", "-v2c", "-c", "sw-" + code, "-t", "0.5", "-r", "0",
             "127.0.0.1:%d" % SNMP_PORT, "1.3.6.1.2.1.1.3.0"]),
            capture_output=True, env=h.snmp_env(), timeout=20, stdin=subprocess.DEVNULL)
        return r.returncode == 0
    h.wait_until(snmp_answers, 60, "snmpsimd to answer in the school namespace", logs=[snmpsim])

    h.step("collector in the district namespace on %s" % collector_addr)
    collector = h.Daemon(district.exec_argv([collector_bin, "-c", conf]),
                         os.path.join(logs, "collector.log"), name="collector")
    h.wait_until(lambda: collector.alive() and count_in_log(collector.log_path, r"listening for agents"),
                 20, "the collector to listen", logs=[collector])

    h.step("agent in the school namespace")
    agent = h.Daemon(school.exec_argv([agent_bin, "-c", agent_conf]),
                     os.path.join(logs, "agent.log"), name="agent",
                     env={"SNMP_PERSISTENT_DIR": wd.sub("snmp-persist")})
    all_logs = [collector, agent]
    h.wait_until(lambda: stored_seq(m["database"], code) >= 3, 30,
                 "three reports stored over the veth", logs=all_logs)
    connected_before = count_in_log(agent.log_path, r"connected; \d+ reports waiting")
    h.check(connected_before >= 1, "the agent connected across the link")

    h.step("link cut for %d s (%s down)" % (CUT, veth_s))
    seq_at_cut = stored_seq(m["database"], code)
    t_cut = int(time.time() * 1000)
    ip("-n", school.name, "link", "set", veth_s, "down")
    time.sleep(CUT)
    pending, last = spool_state(spool)
    stored_during = stored_seq(m["database"], code)
    h.check(stored_during <= seq_at_cut + 1,
            "nothing reached the collector during the cut (stored %d, %d at the cut)"
            % (stored_during, seq_at_cut))
    h.check(pending >= CUT - 3, "the agent kept polling and spooled %d reports" % pending)
    t_up = int(time.time() * 1000)
    ip("-n", school.name, "link", "set", veth_s, "up")
    h.step("link up again")

    if must_reconnect:
        # The collector hung up on the silent connection during the cut
        # (idle_timeout 5 s < cut), so the agent's first send after the cut
        # is refused and it must connect again.
        h.wait_until(lambda: count_in_log(agent.log_path, r"connected; \d+ reports waiting")
                     > connected_before, 45, "the agent to reconnect", logs=all_logs)
        h.check(True, "the agent reconnected (a new `connected` line)")
    else:
        print("  (this collector has no idle_timeout: the old connection may survive the cut, "
              "so a reconnect is not required)")

    def drained():
        p, l = spool_state(spool)
        s = stored_seq(m["database"], code)
        if p or s != l:
            raise h.NotYet("%d pending, spool last_seq %d, stored %d" % (p, l, s))
        return True
    h.wait_until(drained, 30, "the spool to drain", logs=all_logs)
    agent.stop()
    pending, last = spool_state(spool)
    stored = stored_seq(m["database"], code)
    h.check(pending == 0, "spool empty")
    h.check(stored == last, "collector stored up to seq %d, the agent's last is %d" % (stored, last))
    h.check(collector.alive(), "the collector is still running")

    db = sqlite3.connect("file:%s?mode=ro" % m["database"], uri=True)
    ports = db.execute(
        "SELECT p.id, p.if_name FROM ports p JOIN switches s ON s.id = p.switch_id"
        " JOIN agents a ON a.id = s.agent_id WHERE a.name = ? AND p.oper = 1 ORDER BY p.if_index",
        (code,)).fetchall()
    h.check(len(ports) > 0, "%d ports up" % len(ports))
    counts, worst, inside = {}, 0, []
    for port_id, name in ports:
        t_ends = [r[0] for r in db.execute(
            "SELECT t_end FROM port_rates WHERE port_id = ? ORDER BY t_end", (port_id,))]
        counts[name] = len(t_ends)
        steps = [b - a for a, b in zip(t_ends, t_ends[1:])]
        worst = max([worst] + steps)
        inside.append(sum(1 for t in t_ends if t_cut < t < t_up))
    h.check(set(counts.values()) == {stored - 1},
            "every up port has one rate row per poll after the first (%d)" % (stored - 1),
            "rate rows per port: %s" % counts)
    h.check(min(inside) >= CUT - 3,
            "%d measurements from inside the cut were back-filled (per port)" % min(inside))
    h.check(worst < POLL * 1000 * 2.5,
            "no hole in the history across the cut (largest step %d ms)" % worst)
    n_states = db.execute(
        "SELECT count(*) FROM port_state WHERE port_id IN (%s) GROUP BY port_id"
        " ORDER BY count(*) DESC LIMIT 1" % ",".join(str(p) for p, _ in ports)).fetchone()[0]
    h.check(n_states == 1, "every up port kept a single state interval (max %d)" % n_states)
    db.close()
    with open(agent.log_path, encoding="utf-8", errors="replace") as f:
        lines = [ln for ln in f.read().splitlines() if "collector" in ln]
    print("agent's connection log:\n  " + "\n  ".join(lines[-8:]))


if __name__ == "__main__":
    h.run_test(main)
