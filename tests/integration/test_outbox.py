#!/usr/bin/env python3
"""The notification outbox: while a webhook receiver is down (HTTP 503)
messages wait and are retried with backoff; when it comes back each
message arrives exactly once.  A message still waiting when the collector
stops is delivered after it starts again, and only once.
"""
import os
import re
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402
import receivers  # noqa: E402

POLL = 2
IF_OPER = "1.3.6.1.2.1.2.2.1.8"


def outbox(db_path):
    db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=10)
    try:
        return db.execute("SELECT id, alert_id, event, attempts, sent_at, failed_at, last_error"
                          " FROM outbox ORDER BY id").fetchall()
    finally:
        db.close()


def deliveries_in_log(path):
    seen = {}
    with open(path, encoding="utf-8") as f:
        for m in re.finditer(r"outbox: message (\d+) delivered", f.read()):
            seen[m.group(1)] = seen.get(m.group(1), 0) + 1
    return seen


def main():
    h.require_programs("snmpget", "snmpset")
    wd = h.Workdir(prefix="schoolnet-outbox-")
    county = h.County(wd, schools=1, seed=11, poll_interval=POLL)
    school = county.manifest["schools"][0]
    sw = school["switches"][0]
    victim = next(i for i in sw["interfaces"] if i["role"] == "classroom" and i["oper"] == "up"
                  and not i["fault"])
    hook = receivers.WebhookServer()
    hook.reply("/hook", 503, "receiver down")
    calendar = wd.file("calendar.conf")
    with open(calendar, "w", encoding="utf-8") as f:
        f.write("[hours]\ndefault = daily 00:00-24:00\n")
    with open(county.conf, "a", encoding="utf-8") as f:
        f.write("\n[policy]\ncalendar = %s\n"
                "\n[alerts]\nraise_after = 2\nclear_after = 2\nretry_min = 1\nretry_max = 2\n"
                "\n[webhook hook]\nurl = %s\n" % (calendar, hook.url("/hook")))
    county.start_snmpsim()
    county.start_collector()
    subprocess.run([county.collector_bin, "-c", county.conf, "import",
                    county.manifest["inventory"]], check=True, capture_output=True)
    county.start_agents()

    h.step("the receiver answers 503: messages wait and are retried")

    def retried():
        rows = outbox(county.db)
        if rows and all(r[3] >= 2 and r[4] is None for r in rows):
            return rows
        raise h.NotYet(rows[:3])
    rows = h.wait_until(retried, 40, "every message to be tried at least twice",
                        logs=[county.collector])
    h.check(all("503" in (r[6] or "") for r in rows),
            "%d messages waiting, each with its last error (HTTP 503)" % len(rows),
            h._short(rows[0]))

    h.step("the receiver comes back")
    hook.clear()
    hook.reply("/hook", 200, receivers.ROBOT_OK["wecom"])

    def delivered():
        rows = outbox(county.db)
        if all(r[4] is not None for r in rows):
            return rows
        raise h.NotYet([r for r in rows if r[4] is None][:3])
    rows = h.wait_until(delivered, 20, "every waiting message to be delivered",
                        logs=[county.collector])
    got = [(r.json["alert"]["id"], r.json["event"]) for r in hook.received("/hook")]
    want = [(r[1], r[2]) for r in rows]
    h.check(sorted(got) == sorted(want),
            "the receiver got each of the %d messages exactly once" % len(want),
            "got %s want %s" % (got, want))

    h.step("a message waits while the collector is stopped and restarted")
    hook.reply("/hook", 503, "receiver down")
    before = len(rows)
    county.snmpsim.set(sw["community"], ("%s.%d" % (IF_OPER, victim["if_index"]), "i", 2))

    def new_attempted():
        rows = outbox(county.db)
        if len(rows) > before and rows[-1][3] >= 1:
            return rows
        raise h.NotYet(rows[before:])
    rows = h.wait_until(new_attempted, 30, "the new alert's message to be tried")
    new_id = rows[-1][0]
    h.check(rows[-1][4] is None, "message %d not delivered yet" % new_id)
    county.collector.stop()
    hook.clear()
    hook.reply("/hook", 200, receivers.ROBOT_OK["wecom"])
    time.sleep(1)
    county.start_collector()

    def after_restart():
        rows = outbox(county.db)
        r = next(x for x in rows if x[0] == new_id)
        if r[4] is not None:
            return rows
        raise h.NotYet(r)
    rows = h.wait_until(after_restart, 30, "delivery after the restart", logs=[county.collector])
    got = [(r.json["alert"]["id"], r.json["event"]) for r in hook.received("/hook")]
    h.check(got == [(rows[-1][1], "raise")],
            "after the restart the receiver got exactly the waiting message", got)
    time.sleep(2 * POLL)
    h.check(len(hook.received("/hook")) == 1, "and nothing more")
    logs = deliveries_in_log(os.path.join(county.logs, "collector.log"))
    twice = {k: n for k, n in logs.items() if n > 1}
    h.check(not twice, "the collector log shows no message delivered twice", twice)


if __name__ == "__main__":
    h.run_test(main)
