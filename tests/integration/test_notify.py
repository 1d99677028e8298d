#!/usr/bin/env python3
"""Alert notifications, end to end: `schoolnet-collector notify-test` against
real receivers on 127.0.0.1.

A real HTTP server answers like the WeCom, DingTalk and Feishu group robots
and a generic webhook; Debian's aiosmtpd takes the e-mail.  Checked: the
JSON shape and Chinese text each robot gets, the DingTalk URL signature and
the Feishu body signature (HMAC recomputed here with the same secrets), the
e-mail's envelope, headers, RFC 2047 subject and base64 UTF-8 body; then
robots that refuse (errcode != 0, HTTP 500), a closed port and a peer that
never answers: FAIL lines with the reason, a non-zero exit, and no attempt
outliving its timeout.  Robot tokens and secrets never reach the output.
"""
import base64
import hashlib
import hmac
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402
import receivers  # noqa: E402

WECOM_KEY = "wecom-key-5f1c0a"
DING_TOKEN = "ding-token-77ab"
DING_SECRET = "SEC0123456789abcdef+/="
FEISHU_HOOK = "feishu-hook-9c2e"
FEISHU_SECRET = "feishu-secret-Qx7"
TEST_TITLE_ZH = "【测试】schoolnet 通知测试"
TEST_TITLE_EN = "[TEST] schoolnet notification test"
SECRETS = [WECOM_KEY, DING_TOKEN, DING_SECRET, FEISHU_HOOK, FEISHU_SECRET]


def write_conf(wd, name, smtp_port, sections):
    path = wd.file(name)
    with open(path, "w", encoding="utf-8") as f:
        f.write("[collector]\ndatabase = %s\n\n" % wd.file("collector.db"))
        f.write("[alerts]\nlang = zh\n\n")
        if smtp_port:
            f.write("[smtp]\nserver = smtp://127.0.0.1:%d\nstarttls = no\n"
                    "from = schoolnet@edu.example\ntimeout = 5\n\n" % smtp_port)
        f.write(sections)
    return path


def notify_test(bin, conf, *args, timeout=60):
    t0 = time.monotonic()
    r = subprocess.run([bin, "-c", conf, "-d", "notify-test"] + list(args), capture_output=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    out = r.stdout.decode("utf-8", "replace")
    err = r.stderr.decode("utf-8", "replace")
    for word in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        if word in err:
            raise h.TestFailure("notify-test: sanitizer report:\n%s" % err[-4000:])
    return r.returncode, out, err, time.monotonic() - t0


def result_lines(out):
    """{receiver: (status, rest)} from `ok  NAME  detail` / `FAIL NAME  reason`."""
    res = {}
    for line in out.splitlines():
        m = re.match(r"^(ok|FAIL) +(\S+)  (.*)$", line)
        if m:
            res[m.group(2)] = (m.group(1), m.group(3))
    return res


def no_secrets(text, what):
    leaked = [s for s in SECRETS if s in text]
    h.check(not leaked, "%s shows no robot token or secret" % what, "leaked: %s" % leaked)


def one_request(web, path, what):
    reqs = web.received(path)
    h.check(len(reqs) == 1, "%s got exactly one request" % what, "got %d: %s" % (len(reqs), reqs))
    r = reqs[0]
    h.check(r.method == "POST" and r.headers.get("content-type") == "application/json; charset=utf-8",
            "%s: POST with Content-Type application/json; charset=utf-8" % what,
            "%s %r" % (r.method, r.headers.get("content-type")))
    h.check(isinstance(r.json, dict), "%s: the body is a JSON object" % what, repr(r.body[:300]))
    return r


def check_good_run(bin, wd, web, smtp):
    sections = """
[webhook generic-ops]
url = {generic}

[webhook generic-en]
url = {generic_en}
lang = en

[webhook wecom-ops]
url = {wecom}
format = wecom

[webhook dingtalk-ops]
url = {ding}
format = dingtalk
secret = {ding_secret}

[webhook feishu-ops]
url = {feishu}
format = feishu
secret = {feishu_secret}

[email mail-it]
to = it@edu.example, boss@edu.example
""".format(generic=web.url("/generic"), generic_en=web.url("/generic-en"),
           wecom=web.url("/cgi-bin/webhook/send?key=" + WECOM_KEY),
           ding=web.url("/robot/send?access_token=" + DING_TOKEN), ding_secret=DING_SECRET,
           feishu=web.url("/open-apis/bot/v2/hook/" + FEISHU_HOOK), feishu_secret=FEISHU_SECRET)
    conf = write_conf(wd, "good.conf", smtp.port, sections)
    h.check_config(bin, conf)
    web.reply("/generic", 204, b"")
    web.reply("/generic-en", 200, {"ok": True})
    web.reply("/cgi-bin/webhook/send", 200, receivers.ROBOT_OK["wecom"])
    web.reply("/robot/send", 200, receivers.ROBOT_OK["dingtalk"])
    web.reply("/open-apis/bot/v2/hook/" + FEISHU_HOOK, 200, receivers.ROBOT_OK["feishu"])

    h.step("notify-test to one receiver of each format and an e-mail receiver")
    sent_ms = time.time() * 1000
    rc, out, err, took = notify_test(bin, conf)
    res = result_lines(out)
    names = ["generic-ops", "generic-en", "wecom-ops", "dingtalk-ops", "feishu-ops", "mail-it"]
    h.check(rc == 0, "notify-test exits 0 when every receiver accepted (%.1f s)" % took,
            "exit %d\nstdout:\n%s\nstderr:\n%s" % (rc, out, err[-3000:]))
    h.check(sorted(res) == sorted(names) and all(s == "ok" for s, _ in res.values()),
            "one `ok` line per receiver", out)
    h.check(res["wecom-ops"][1] == "HTTP 200" and res["generic-ops"][1] == "HTTP 204",
            "the ok lines give the HTTP status", out)
    no_secrets(out + err, "notify-test's output (with -d)")

    h.step("WeCom: markdown with the Chinese test text")
    r = one_request(web, "/cgi-bin/webhook/send", "the WeCom robot")
    h.check(r.query.get("key") == [WECOM_KEY], "WeCom: the URL keeps its key")
    md = r.json.get("markdown", {})
    h.check(r.json.get("msgtype") == "markdown" and set(r.json) == {"msgtype", "markdown"}
            and isinstance(md.get("content"), str),
            "WeCom body is {msgtype: markdown, markdown: {content}}", repr(r.json))
    h.check(md["content"].startswith("**" + TEST_TITLE_ZH + "**") and "测试消息" in md["content"]
            and len(md["content"].encode()) <= 4096,
            "WeCom content: bold Chinese title, Chinese text, under 4096 bytes", md["content"])

    h.step("DingTalk: markdown, URL signed (加签)")
    r = one_request(web, "/robot/send", "the DingTalk robot")
    md = r.json.get("markdown", {})
    h.check(r.json.get("msgtype") == "markdown" and md.get("title") == TEST_TITLE_ZH
            and isinstance(md.get("text"), str) and "测试消息" in md["text"],
            "DingTalk body is {msgtype: markdown, markdown: {title, text}} in Chinese", repr(r.json))
    h.check(r.query.get("access_token") == [DING_TOKEN], "DingTalk: the URL keeps its access_token")
    ts = (r.query.get("timestamp") or [""])[0]
    sign = (r.query.get("sign") or [""])[0]
    h.check(ts.isdigit() and abs(int(ts) - sent_ms) < 60 * 1000,
            "DingTalk timestamp is now in milliseconds (%s)" % ts)
    want = base64.b64encode(hmac.new(DING_SECRET.encode(), (ts + "\n" + DING_SECRET).encode(),
                                     hashlib.sha256).digest()).decode()
    h.check(sign == want, "DingTalk sign = base64(HMAC-SHA256(secret, timestamp\\nsecret)) verifies",
            "got %r, recomputed %r" % (sign, want))
    # On the wire the sign is URL-encoded: base64's + / = never appear raw.
    raw_sign = re.search(r"(?:^|&)sign=([^&]*)", r.raw_query).group(1)
    h.check(not re.search(r"[+/=]", raw_sign) and urllib.parse.unquote(raw_sign) == want,
            "DingTalk sign is URL-encoded in the query (%s)" % raw_sign)

    h.step("Feishu: text, body signed (签名校验)")
    r = one_request(web, "/open-apis/bot/v2/hook/" + FEISHU_HOOK, "the Feishu robot")
    content = r.json.get("content", {})
    h.check(r.json.get("msg_type") == "text" and isinstance(content.get("text"), str)
            and content["text"].startswith(TEST_TITLE_ZH + "\n") and "测试消息" in content["text"],
            "Feishu body is {msg_type: text, content: {text}} in Chinese", repr(r.json))
    ts, sign = r.json.get("timestamp"), r.json.get("sign")
    h.check(isinstance(ts, str) and ts.isdigit() and abs(int(ts) - sent_ms / 1000) < 60,
            "Feishu timestamp is now in seconds, as a string (%r)" % ts)
    want = base64.b64encode(hmac.new((ts + "\n" + FEISHU_SECRET).encode(), b"",
                                     hashlib.sha256).digest()).decode()
    h.check(sign == want, "Feishu sign = base64(HMAC-SHA256(key=timestamp\\nsecret, \"\")) verifies",
            "got %r, recomputed %r" % (sign, want))

    h.step("generic webhook: event, alert, title, text; English when lang = en")
    r = one_request(web, "/generic", "the generic webhook")
    h.check(r.json.get("event") == "test" and isinstance(r.json.get("alert"), dict)
            and r.json.get("title") == TEST_TITLE_ZH and "测试消息" in r.json.get("text", ""),
            "generic body: event test, alert object, Chinese title and text", repr(r.json))
    a = r.json["alert"]
    keys = {"id", "cause", "role", "school_code", "school_name", "town", "room", "switch", "port",
            "agent", "speed_mbps", "target_mbps", "errors_per_min", "since", "at", "detail"}
    h.check(keys <= set(a), "generic alert has every field", "missing %s" % (keys - set(a)))
    h.check(abs(h.parse_iso(a["at"]) - sent_ms / 1000) < 60, "generic alert.at is ISO 8601 UTC, now")
    # Local time in messages is the calendar's: the built-in one is UTC+8.
    local = {time.strftime("%Y-%m-%d %H:%M", time.gmtime(sent_ms / 1000 + 8 * 3600 + d))
             for d in (-60, 0, 60)}
    h.check(any("发送时间：" + t in r.json.get("text", "") for t in local),
            "the test text gives the local time (UTC+8)", r.json.get("text", ""))
    r = one_request(web, "/generic-en", "the English generic webhook")
    h.check(r.json.get("title") == TEST_TITLE_EN and "test message" in r.json.get("text", ""),
            "lang = en: English title and text", repr(r.json))

    h.step("e-mail through aiosmtpd")
    msgs = h.wait_until(lambda: smtp.messages(), 10, "the mail in aiosmtpd's Maildir",
                        logs=[smtp.daemon])
    h.check(len(msgs) == 1, "exactly one mail arrived", "%d mails" % len(msgs))
    m = msgs[0]
    raw = smtp.raw_messages()[0]
    h.check(m["X-MailFrom"] == "schoolnet@edu.example", "envelope MAIL FROM is [smtp] from",
            repr(m["X-MailFrom"]))
    rcpts = sorted(x.strip() for x in str(m["X-RcptTo"]).split(","))
    h.check(rcpts == ["boss@edu.example", "it@edu.example"], "envelope RCPT TO is the `to` list",
            repr(m["X-RcptTo"]))
    h.check("schoolnet@edu.example" in str(m["From"]), "From: has the sender", str(m["From"]))
    tos = sorted(a.addr_spec for a in m["To"].addresses)
    h.check(tos == ["boss@edu.example", "it@edu.example"], "To: lists both recipients", str(m["To"]))
    h.check(str(m["Subject"]) == TEST_TITLE_ZH, "Subject decodes to the Chinese title",
            repr(str(m["Subject"])))
    raw_subject = re.search(rb"^Subject:(.*(?:\r?\n[ \t].*)*)", raw, re.M).group(1)
    h.check(re.fullmatch(rb"( ?=\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=(\r?\n)?)+", raw_subject) is not None,
            "the raw Subject is RFC 2047 =?UTF-8?B?...?= words", repr(raw_subject))
    for hdr in ("Date", "Message-ID", "MIME-Version"):
        h.check(m[hdr] is not None, "the mail has a %s header" % hdr)
    h.check(m.get_content_type() == "text/plain" and m.get_content_charset() == "utf-8"
            and m["Content-Transfer-Encoding"] == "base64",
            "text/plain; charset=UTF-8, base64", "%s %s %s" % (m.get_content_type(),
                                                            m.get_content_charset(),
                                                            m["Content-Transfer-Encoding"]))
    body_lines = raw.split(b"\n\n", 1)[1].replace(b"\r", b"").split(b"\n")
    h.check(all(len(x) <= 76 for x in body_lines), "base64 body lines are at most 76 columns")
    body = m.get_content()
    h.check("测试消息" in body and "schoolnet" in body, "the body decodes to the Chinese test text",
            repr(body[:300]))
    no_secrets(raw.decode("utf-8", "replace"), "the mail")

    h.step("notify-test RECEIVER sends to that one only; an unknown name lists the names")
    web.clear()
    rc, out, err, _ = notify_test(bin, conf, "wecom-ops")
    res = result_lines(out)
    h.check(rc == 0 and list(res) == ["wecom-ops"] and len(web.requests) == 1,
            "`notify-test wecom-ops`: one line, one request", "exit %d, %s, %d requests"
            % (rc, out, len(web.requests)))
    rc, out, err, _ = notify_test(bin, conf, "nosuch")
    h.check(rc == 1 and "nosuch" in err and all(n in err for n in names),
            "`notify-test nosuch` exits 1 and lists the receivers", "exit %d: %s" % (rc, err))


def silent_port():
    """A port that accepts connections (kernel backlog) and never answers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    h.on_cleanup(s.close)
    return s.getsockname()[1]


def check_failures(bin, wd, web):
    closed = h.free_port("tcp")
    sections = """
[webhook wecom-ok]
url = {wecom_ok}
format = wecom

[webhook wecom-refuses]
url = {wecom_bad}
format = wecom

[webhook dingtalk-refuses]
url = {ding_bad}
format = dingtalk
secret = {ding_secret}

[webhook feishu-refuses]
url = {feishu_bad}
format = feishu
secret = {feishu_secret}

[webhook generic-500]
url = {g500}

[webhook echoes-url]
url = {echo}

[webhook closed-port]
url = http://127.0.0.1:{closed}/hook
timeout = 3

[webhook never-answers]
url = http://127.0.0.1:{silent}/hook
format = wecom
timeout = 2

[email mail-down]
to = it@edu.example
""".format(wecom_ok=web.url("/w-ok?key=" + WECOM_KEY), wecom_bad=web.url("/w-bad?key=" + WECOM_KEY),
           ding_bad=web.url("/d-bad?access_token=" + DING_TOKEN), ding_secret=DING_SECRET,
           feishu_bad=web.url("/f-bad/" + FEISHU_HOOK), feishu_secret=FEISHU_SECRET,
           g500=web.url("/g500"), echo=web.url("/echo?token=" + WECOM_KEY), closed=closed, silent=silent_port())
    # [smtp] points at a port where nothing listens.
    conf = write_conf(wd, "bad.conf", h.free_port("tcp"), sections)
    h.check_config(bin, conf)
    web.reply("/w-ok", 200, receivers.ROBOT_OK["wecom"])
    web.reply("/w-bad", 200, {"errcode": 310000, "errmsg": "keywords not in content"})
    web.reply("/d-bad", 200, {"errcode": 310000, "errmsg": "sign not match"})
    web.reply("/f-bad/" + FEISHU_HOOK, 200,
              {"code": 19021, "msg": "sign match fail or timestamp is not within one hour "
                                     "from current time", "data": {}})
    web.reply("/g500", 500, "internal error")
    # A proxy's error page that echoes the URL, token and all.
    web.reply("/echo", 404, "no route to /echo?token=%s" % WECOM_KEY)

    h.step("receivers that refuse, fail or never answer")
    web.clear()
    rc, out, err, took = notify_test(bin, conf)
    res = result_lines(out)
    h.check(rc == 1, "notify-test exits 1 when a receiver failed", "exit %d\n%s\n%s" % (rc, out, err))
    h.check(len(res) == 9, "one line per receiver", out)
    h.check(res.get("wecom-ok", ("",))[0] == "ok", "the good robot still says ok", out)

    def fail(name, *words):
        st, why = res.get(name, ("missing", ""))
        h.check(st == "FAIL" and all(w in why for w in words),
                "%s: FAIL %s" % (name, why), "want FAIL with %s; got %s %r" % (words, st, why))
    fail("wecom-refuses", "errcode 310000", "keywords not in content")
    fail("dingtalk-refuses", "errcode 310000", "sign not match")
    fail("feishu-refuses", "code 19021", "sign match fail")
    fail("generic-500", "HTTP 500")
    fail("echoes-url", "HTTP 404", "token=***")
    fail("closed-port", "onnect")
    fail("never-answers", "imed out")
    fail("mail-down")
    h.check(took < 2 + 8, "the whole run ends soon after the longest timeout (2 s): %.1f s" % took)
    no_secrets(out + err, "notify-test's output (with -d)")

    h.step("a config without receivers")
    conf = write_conf(wd, "none.conf", 0, "")
    rc, out, err, _ = notify_test(bin, conf)
    h.check(rc == 1 and "no receivers" in err, "notify-test says there are no receivers, exit 1",
            "exit %d: %s %s" % (rc, out, err))


def main():
    _agent, collector = h.binaries()
    wd = h.Workdir(prefix="schoolnet-notify-")
    web = receivers.WebhookServer()
    smtp = receivers.SmtpServer(wd)   # Skip (77) when aiosmtpd is missing
    check_good_run(collector, wd, web, smtp)
    check_failures(collector, wd, web)


if __name__ == "__main__":
    h.run_test(main)
