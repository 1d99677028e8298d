#!/usr/bin/env python3
"""Alerts end to end, with real receivers: a classroom port dropped to
10 Mbps with snmpset raises exactly one alert, delivered to a real HTTP
webhook and a real SMTP server (aiosmtpd) within a poll interval plus a
few seconds, and exactly one recovery notice once the port is back at
1000 Mbps.  A flapping port does not spam; a maintenance window
suppresses notification (the alert is still recorded); `alerts ack`
records who took the alert.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402
import receivers  # noqa: E402

POLL = 2
IFX_HIGH_SPEED = "1.3.6.1.2.1.31.1.1.1.15"
IF_SPEED = "1.3.6.1.2.1.2.2.1.5"
IF_OPER = "1.3.6.1.2.1.2.2.1.8"
# raise_after = clear_after = 2 polls: an alert opens on the second bad poll.
DELIVERY = 2 * POLL + 8


def cli(county, *args, ok=True):
    r = subprocess.run([county.collector_bin, "-c", county.conf] + list(args),
                       capture_output=True, text=True, timeout=60)
    if ok and r.returncode != 0:
        raise h.TestFailure("%s failed (%d): %s %s" % (" ".join(args), r.returncode,
                                                       r.stdout, r.stderr))
    return r


def events(hook, port):
    """(event, cause) of every generic webhook body about this port."""
    out = []
    for r in hook.received("/hook"):
        if r.json and r.json.get("alert", {}).get("port") == port:
            out.append((r.json["event"], r.json["alert"]["cause"]))
    return out


def mails_about(smtp, room):
    return [m for m in smtp.messages() if room in str(m["Subject"])]


def main():
    h.require_programs("snmpget", "snmpset")
    wd = h.Workdir(prefix="schoolnet-alerts-")
    county = h.County(wd, schools=1, seed=7, poll_interval=POLL)
    school = county.manifest["schools"][0]
    sw = school["switches"][0]
    healthy = [i for i in sw["interfaces"] if i["role"] == "classroom" and i["oper"] == "up"
               and i["speed_mbps"] == 1000 and i["duplex"] == "full" and not i["fault"]]
    h.check(len(healthy) >= 3, "the county has three healthy classrooms to break")
    slow, flappy, quiet = healthy[0], healthy[1], healthy[2]

    hook = receivers.WebhookServer()
    smtp = receivers.SmtpServer(wd)
    calendar = wd.file("calendar.conf")
    with open(calendar, "w", encoding="utf-8") as f:
        f.write("[calendar]\nname = test: school hours around the clock\n"
                "[hours]\ndefault = daily 00:00-24:00\n")
    with open(county.conf, "a", encoding="utf-8") as f:
        f.write("\n[policy]\ncalendar = %s\n"
                "\n[alerts]\nraise_after = 2\nclear_after = 2\nflap_changes = 3\n"
                "flap_window = 60\nretry_min = 1\nretry_max = 2\n"
                "\n[smtp]\nserver = smtp://127.0.0.1:%d\nstarttls = no\n"
                "from = schoolnet@test.example\n"
                "\n[webhook hook]\nurl = %s\nformat = generic\n"
                "\n[email it]\nto = it@test.example\nlang = zh\n"
                % (calendar, smtp.port, hook.url("/hook")))
    county.start_snmpsim()
    county.start_collector()
    cli(county, "import", county.manifest["inventory"])
    county.start_agents()

    def settled():
        # The planted faults raise their alerts first; wait for them.
        alerts = json.loads(cli(county, "alerts", "--open", "--json").stdout)["alerts"]
        if len(alerts) >= len([f for f in county.manifest["faults"]]) - 1:
            return alerts
        raise h.NotYet("%d open alerts" % len(alerts))
    h.wait_until(settled, 6 * POLL + 20, "the planted faults' alerts", logs=[county.collector])

    h.step("%s (%s) drops to 10 Mbps" % (slow["if_name"], slow["room"]))
    community = sw["community"]
    t0 = time.time()
    county.snmpsim.set(community, ("%s.%d" % (IFX_HIGH_SPEED, slow["if_index"]), "u", 10),
                       ("%s.%d" % (IF_SPEED, slow["if_index"]), "u", 10000000))

    def raised():
        ev = events(hook, slow["if_name"])
        mails = mails_about(smtp, slow["room"])
        if ev and mails:
            return ev, mails
        raise h.NotYet("webhook %s, mails %d" % (ev, len(mails)))
    ev, mails = h.wait_until(raised, DELIVERY + 10, "the alert at the webhook and by mail",
                             logs=[county.collector])
    took = time.time() - t0
    h.check(took <= POLL + DELIVERY, "delivered %.1f s after the change (poll %d s, "
            "raise after 2 polls)" % (took, POLL))
    h.check(ev == [("raise", "speed_low")], "the webhook got one raise, cause speed_low", ev)
    body = next(r.json for r in hook.received("/hook")
                if r.json.get("alert", {}).get("port") == slow["if_name"])
    a = body["alert"]
    h.check(a["school_code"] == school["code"] and a["room"] == slow["room"]
            and a["speed_mbps"] == 10 and a["target_mbps"] == 100,
            "the webhook names school, room, 10 Mbps and the 100 Mbps target", h._short(a))
    mail = mails[0]
    text = mail.get_content()
    h.check(slow["room"] in str(mail["Subject"]) and "10 Mbps" in str(mail["Subject"]),
            "mail subject: %s" % mail["Subject"])
    h.check(school["name"] in text and "100" in text,
            "mail body names the school and the target")

    h.step("a few more polls: still exactly one notification each")
    time.sleep(3 * POLL)
    h.check(events(hook, slow["if_name"]) == [("raise", "speed_low")],
            "still one webhook call", events(hook, slow["if_name"]))
    h.check(len(mails_about(smtp, slow["room"])) == 1, "still one mail")
    alerts = json.loads(cli(county, "alerts", "--open", "--json").stdout)["alerts"]
    mine = [x for x in alerts if x["port"] == slow["if_name"]]
    h.check(len(mine) == 1 and mine[0]["cause"] == "speed_low",
            "`alerts --open` has one open speed_low alert for the port", h._short(mine))
    h.check(mine[0]["notifications"]["sent"] == 2, "its outbox shows 2 messages sent",
            h._short(mine[0]["notifications"]))

    h.step("alerts ack")
    r = cli(county, "alerts", "ack", str(mine[0]["id"]), "--by", "王老师")
    h.check("王老师" in r.stdout, "ack confirmed: %s" % r.stdout.strip())
    again = cli(county, "alerts", "ack", str(mine[0]["id"]), "--by", "someone", ok=False)
    h.check(again.returncode != 0 and "already" in again.stderr,
            "a second ack is refused: %s" % again.stderr.strip())
    acked = json.loads(cli(county, "alerts", "--json").stdout)["alerts"]
    h.check(next(x for x in acked if x["id"] == mine[0]["id"])["acknowledged_by"] == "王老师",
            "`alerts --json` shows acknowledged_by")

    h.step("%s back to 1000 Mbps" % slow["if_name"])
    county.snmpsim.set(community, ("%s.%d" % (IFX_HIGH_SPEED, slow["if_index"]), "u", 1000),
                       ("%s.%d" % (IF_SPEED, slow["if_index"]), "u", 1000000000))

    def cleared():
        ev = events(hook, slow["if_name"])
        if len(ev) >= 2 and len(mails_about(smtp, slow["room"])) >= 2:
            return ev
        raise h.NotYet(ev)
    ev = h.wait_until(cleared, DELIVERY + 10, "the recovery notice", logs=[county.collector])
    time.sleep(2 * POLL)
    ev = events(hook, slow["if_name"])
    h.check(ev == [("raise", "speed_low"), ("clear", "speed_low")],
            "one raise, then one clear", ev)
    h.check(len(mails_about(smtp, slow["room"])) == 2, "two mails: problem and recovery")

    h.step("%s flaps down/up every %d s" % (flappy["if_name"], 2 * POLL + 1))
    oid = "%s.%d" % (IF_OPER, flappy["if_index"])
    for i in range(6):
        county.snmpsim.set(community, (oid, "i", 2 if i % 2 == 0 else 1))
        time.sleep(2 * POLL + 1)
    county.snmpsim.set(community, (oid, "i", 1))
    time.sleep(DELIVERY)
    ev = events(hook, flappy["if_name"])
    print("    webhook events:", ev)
    h.check(("flapping", "port_down") in ev, "a flapping notice was sent")
    h.check(len(ev) <= 4, "no spam: %d notifications for 3 down/up cycles" % len(ev))
    flap_alerts = [x for x in json.loads(cli(county, "alerts", "--json").stdout)["alerts"]
                   if x["port"] == flappy["if_name"]]
    h.check(len(flap_alerts) >= 2 and any(x["flapping"] for x in flap_alerts),
            "the alerts themselves are all recorded (%d), marked flapping" % len(flap_alerts))

    h.step("maintenance window for the school: %s drops, nobody is told" % quiet["if_name"])
    r = cli(county, "maintenance", "add", "--school", school["code"], "--for", "1h",
            "--reason", "换交换机", "--by", "test")
    h.check("maintenance window" in r.stdout, r.stdout.strip())
    county.snmpsim.set(community, ("%s.%d" % (IF_OPER, quiet["if_index"]), "i", 2))

    def recorded():
        rows = [x for x in json.loads(cli(county, "alerts", "--open", "--json").stdout)["alerts"]
                if x["port"] == quiet["if_name"]]
        if rows:
            return rows
        raise h.NotYet("no alert yet")
    rows = h.wait_until(recorded, DELIVERY + 10, "the alert during maintenance")
    time.sleep(3)
    h.check(rows[0]["suppressed"], "the alert is recorded as suppressed")
    h.check(events(hook, quiet["if_name"]) == [], "no webhook during maintenance")
    h.check(mails_about(smtp, quiet["room"]) == [], "no mail during maintenance")
    listed = json.loads(cli(county, "maintenance", "list", "--json").stdout)["maintenance"]
    h.check(len(listed) == 1 and listed[0]["reason"] == "换交换机", "maintenance list shows it")
    cli(county, "maintenance", "delete", str(listed[0]["id"]))
    h.check(json.loads(cli(county, "maintenance", "list", "--json").stdout)["maintenance"] == [],
            "maintenance delete removes it")


if __name__ == "__main__":
    h.run_test(main)
