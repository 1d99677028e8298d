#!/usr/bin/env python3
"""Alerts that fire around the clock: an agent that stops reporting raises
agent_offline after `offline_after` poll intervals and clears with its
first report; a switch that stops answering raises switch_unreachable and
clears when it answers again.  Both reach a real webhook receiver.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402
import receivers  # noqa: E402

POLL = 1


def hook_events(hook, cause):
    return [r.json["event"] for r in hook.received("/hook")
            if r.json and r.json["alert"]["cause"] == cause]


def main():
    h.require_programs("snmpget")
    wd = h.Workdir(prefix="schoolnet-offline-")
    county = h.County(wd, schools=1, seed=2, poll_interval=POLL, timeout=0.5, retries=0)
    code = county.manifest["schools"][0]["code"]
    hook = receivers.WebhookServer()
    with open(county.conf, "a", encoding="utf-8") as f:
        # Outside school hours or not, these alerts fire: the built-in
        # calendar stays in place on purpose.
        f.write("\n[alerts]\nraise_after = 2\nclear_after = 2\noffline_after = 3\n"
                "\n[webhook hook]\nurl = %s\n" % hook.url("/hook"))
    county.start()
    h.wait_until(lambda: county.switches()["switches"] or None, 20, "the first report")

    h.step("the agent stops")
    county.agents[code].stop()
    t0 = time.time()
    h.wait_until(lambda: hook_events(hook, "agent_offline") == ["raise"] or None,
                 3 * POLL + 5 + 10, "agent_offline at the webhook", logs=[county.collector])
    took = time.time() - t0
    # offline_after x poll interval, plus up to one 5 s check of the writer.
    h.check(3 * POLL <= took <= 3 * POLL + 5 + 3,
            "agent_offline raised %.1f s after the agent stopped" % took)
    body = next(r.json for r in hook.received("/hook")
                if r.json["alert"]["cause"] == "agent_offline")
    h.check(body["alert"]["agent"] == code and body["alert"]["school_code"] == code,
            "the message names the agent and its school", h._short(body["alert"]))

    h.step("the agent comes back")
    county.start_agent(code)
    h.wait_until(lambda: hook_events(hook, "agent_offline") == ["raise", "clear"] or None,
                 15, "the recovery notice", logs=[county.collector])
    h.check(True, "agent_offline cleared")

    h.step("the switch stops answering (snmpsimd stopped)")
    county.snmpsim.stop()
    h.wait_until(lambda: hook_events(hook, "switch_unreachable") == ["raise"] or None,
                 4 * POLL + 10, "switch_unreachable at the webhook", logs=[county.collector])
    body = next(r.json for r in hook.received("/hook")
                if r.json["alert"]["cause"] == "switch_unreachable")
    h.check(body["alert"]["switch"] == "access1" and "no answer" in body["alert"]["detail"],
            "it names the switch and the reason: %s" % body["alert"]["detail"])
    h.check(hook_events(hook, "agent_offline") == ["raise", "clear"],
            "the agent itself is not offline: it still reports")

    h.step("the switch answers again")
    county.snmpsim = h.Snmpsim(county.manifest["snmp_data_dir"], county.snmp_port,
                               log_path=os.path.join(county.logs, "snmpsimd-2.log"))
    h.wait_until(lambda: hook_events(hook, "switch_unreachable") == ["raise", "clear"] or None,
                 4 * POLL + 15, "the switch's recovery notice", logs=[county.collector])
    h.check(True, "switch_unreachable cleared")


if __name__ == "__main__":
    h.run_test(main)
