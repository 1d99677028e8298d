#!/usr/bin/env python3
"""Graceful life: both daemons tell systemd they are ready (sd_notify on a
real NOTIFY_SOCKET), SIGHUP reloads their configuration (a receiver added
to the collector gets the next alert; a new poll interval reaches the
agent), and a broken file on SIGHUP is refused while everything keeps
running.
"""
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402
import receivers  # noqa: E402

IF_OPER = "1.3.6.1.2.1.2.2.1.8"


class NotifySocket:
    """A datagram socket like systemd's: collects what a daemon says."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.said = []
        h.on_cleanup(self.sock.close)

    def poll(self):
        try:
            while True:
                self.said.append(self.sock.recv(4096).decode())
        except socket.timeout:
            pass
        return self.said

    def wait(self, text, timeout, what):
        return h.wait_until(lambda: any(text in m for m in self.poll()) or None, timeout, what)


def poll_interval(db):
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        row = c.execute("SELECT poll_interval FROM switches").fetchone()
        return row[0] if row else None
    finally:
        c.close()


def main():
    h.require_programs("snmpget", "snmpset")
    wd = h.Workdir(prefix="schoolnet-reload-")
    county = h.County(wd, schools=1, seed=9, poll_interval=1)
    sw = county.manifest["schools"][0]["switches"][0]
    victim = next(i for i in sw["interfaces"] if i["role"] == "classroom" and i["oper"] == "up"
                  and not i["fault"])
    hook = receivers.WebhookServer()
    calendar = wd.file("calendar.conf")
    with open(calendar, "w", encoding="utf-8") as f:
        f.write("[hours]\ndefault = daily 00:00-24:00\n")
    with open(county.conf, "a", encoding="utf-8") as f:
        f.write("\n[policy]\ncalendar = %s\n\n[webhook a]\nurl = %s\n"
                % (calendar, hook.url("/a")))
    county.start_snmpsim()
    subprocess.run([county.collector_bin, "-c", county.conf, "import",
                    county.manifest["inventory"]], check=True, capture_output=True)

    h.step("the collector tells systemd it is ready")
    cns = NotifySocket(wd.file("collector.notify"))
    county.collector = h.Daemon([county.collector_bin, "-c", county.conf],
                                os.path.join(county.logs, "collector.log"), name="collector",
                                env={"NOTIFY_SOCKET": cns.path})
    cns.wait("READY=1", 15, "READY=1 from the collector")
    h.check(h.tcp_listening(county.collector_port), "it is listening when it says READY=1")

    h.step("the agent tells systemd it is ready")
    code = county.manifest["schools"][0]["code"]
    ans = NotifySocket(wd.file("agent.notify"))
    agent_conf = county.manifest["schools"][0]["agent_conf"]
    county.agents[code] = h.Daemon([county.agent_bin, "-c", agent_conf],
                                   os.path.join(county.logs, "agent.log"), name="agent",
                                   env={"NOTIFY_SOCKET": ans.path})
    ans.wait("READY=1", 15, "READY=1 from the agent")
    h.wait_until(lambda: poll_interval(county.db) == 1 or None, 20, "the first reports")
    h.check(True, "both are ready and reporting")

    h.step("SIGHUP: the collector gets a second receiver")
    with open(county.conf, "a", encoding="utf-8") as f:
        f.write("\n[webhook b]\nurl = %s\n" % hook.url("/b"))
    cns.said.clear()
    county.collector.proc.send_signal(1)
    cns.wait("RELOADING=1", 10, "RELOADING=1")
    cns.wait("READY=1", 10, "READY=1 after the reload")
    with open(os.path.join(county.logs, "collector.log"), encoding="utf-8") as f:
        h.check(re.search(r"reload: .* read; 2 receivers", f.read()), "the log says 2 receivers")
    county.snmpsim.set(sw["community"], ("%s.%d" % (IF_OPER, victim["if_index"]), "i", 2))

    def both():
        a = [r for r in hook.received("/a") if r.json["alert"]["port"] == victim["if_name"]]
        b = [r for r in hook.received("/b") if r.json["alert"]["port"] == victim["if_name"]]
        return (a, b) if a and b else None
    h.wait_until(both, 20, "the alert at both receivers", logs=[county.collector])
    h.check(True, "the new receiver got the alert raised after the reload")

    h.step("SIGHUP with a broken file: refused, nothing stops")
    with open(county.conf, encoding="utf-8") as f:
        good = f.read()
    with open(county.conf, "a", encoding="utf-8") as f:
        f.write("\n[webhook c]\nurl = not a url\n")
    county.collector.proc.send_signal(1)

    def refused():
        with open(os.path.join(county.logs, "collector.log"), encoding="utf-8") as f:
            return re.search(r"reload: refused", f.read())
    h.wait_until(refused, 10, "the refusal in the log")
    time.sleep(1)
    h.check(county.collector.alive(), "the collector still runs")
    with open(county.conf, "w", encoding="utf-8") as f:
        f.write(good)

    h.step("SIGHUP: the agent polls every 3 s instead of 1 s")
    with open(agent_conf, encoding="utf-8") as f:
        text = f.read()
    with open(agent_conf, "w", encoding="utf-8") as f:
        f.write(re.sub(r"^poll_interval\s*=.*$", "poll_interval = 3", text, flags=re.M))
    ans.said.clear()
    county.agents[code].proc.send_signal(1)
    ans.wait("READY=1", 10, "READY=1 after the agent's reload")
    h.wait_until(lambda: poll_interval(county.db) == 3 or None, 20,
                 "reports with poll_interval 3", logs=[county.agents[code]])
    h.check(True, "the agent reloaded and polls every 3 s")
    with open(agent_conf, "a", encoding="utf-8") as f:
        f.write("\n[switch broken]\n")
    county.agents[code].proc.send_signal(1)
    time.sleep(2)
    with open(os.path.join(county.logs, "agent.log"), encoding="utf-8") as f:
        h.check("reload: refused" in f.read(), "a broken agent config is refused")
    h.check(county.agents[code].alive(), "the agent still runs")


if __name__ == "__main__":
    h.run_test(main)
