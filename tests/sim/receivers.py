#!/usr/bin/env python3
"""Real alert receivers on 127.0.0.1 for the notification tests.

WebhookServer: an HTTP server (http.server, in a thread) that records every
request and answers each path the way a robot would: WeCom/DingTalk
{"errcode":0,"errmsg":"ok"}, Feishu {"code":0,"msg":"success"}, or whatever
a test sets with reply() (errcode 310000, HTTP 500, ...).

SmtpServer: Debian's python3-aiosmtpd (`python3 -m aiosmtpd`) with its
Mailbox handler, which saves every message in a Maildir; messages() reads
them back as email.message objects.

Both stop at harness cleanup.
"""

import email
import email.policy
import json
import mailbox
import os
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import harness as h

ROBOT_OK = {
    "wecom": {"errcode": 0, "errmsg": "ok"},
    "dingtalk": {"errcode": 0, "errmsg": "ok"},
    "feishu": {"code": 0, "msg": "success", "data": {}},
}


class Request:
    def __init__(self, method, path, raw_query, headers, body):
        self.method = method
        self.path = path          # without the query
        self.raw_query = raw_query  # as sent
        self.query = urllib.parse.parse_qs(raw_query, keep_blank_values=True)  # {name: [values]}
        self.headers = headers    # {lower-case name: value}
        self.body = body          # bytes
        try:
            self.json = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            self.json = None

    def __repr__(self):
        return "<%s %s %r>" % (self.method, self.path, self.body[:200])


class WebhookServer:
    """Records requests; reply(path, status, body) sets the answer of a path
    (body: dict -> JSON, bytes/str as is).  The default answer is HTTP 200
    with {"errcode":0,"errmsg":"ok"}."""

    def __init__(self):
        self.requests = []
        self.replies = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n > 0 else b""
                u = urllib.parse.urlsplit(self.path)
                req = Request("POST", u.path, u.query,
                              {k.lower(): v for k, v in self.headers.items()}, body)
                with outer.lock:
                    outer.requests.append(req)
                    status, reply = outer.replies.get(u.path, (200, ROBOT_OK["wecom"]))
                if isinstance(reply, dict):
                    reply = json.dumps(reply).encode()
                elif isinstance(reply, str):
                    reply = reply.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        h.on_cleanup(self.stop)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def reply(self, path, status, body):
        with self.lock:
            self.replies[path] = (status, body)

    def received(self, path):
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def clear(self):
        with self.lock:
            self.requests = []

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


def aiosmtpd_python():
    """A python3 that can import aiosmtpd (this one, or Debian's), or None."""
    for py in (sys.executable, "/usr/bin/python3"):
        if py and os.access(py, os.X_OK):
            r = subprocess.run([py, "-c", "import aiosmtpd"], capture_output=True,
                               stdin=subprocess.DEVNULL)
            if r.returncode == 0:
                return py
    return None


class SmtpServer:
    """aiosmtpd on 127.0.0.1:port (no TLS, no AUTH) saving to a Maildir."""

    def __init__(self, wd, port=None, timeout=20):
        py = aiosmtpd_python()
        if py is None:
            raise h.Skip("aiosmtpd is not installed (Debian package python3-aiosmtpd)")
        self.port = port or h.free_port("tcp")
        self.maildir = os.path.join(wd.path, "maildir")
        self.daemon = h.Daemon([py, "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:%d" % self.port,
                                "-c", "aiosmtpd.handlers.Mailbox", self.maildir],
                               os.path.join(wd.sub("logs"), "aiosmtpd.log"), name="aiosmtpd")

        def up():
            if not self.daemon.alive():
                raise h.TestFailure("aiosmtpd exited (%s):\n%s"
                                    % (self.daemon.proc.returncode, self.daemon.tail()))
            return h.tcp_listening(self.port)
        h.wait_until(up, timeout, "aiosmtpd to listen on 127.0.0.1:%d" % self.port,
                     logs=[self.daemon])

    def raw_messages(self):
        """The raw bytes of every message received so far."""
        if not os.path.isdir(os.path.join(self.maildir, "new")):
            return []
        md = mailbox.Maildir(self.maildir, factory=None, create=False)
        raws = []
        for key in sorted(md.keys()):
            with md.get_file(key) as f:
                raws.append(f.read())
        return raws

    def messages(self):
        """Every message received so far, parsed (email.message.EmailMessage)."""
        return [email.message_from_bytes(raw, policy=email.policy.default)
                for raw in self.raw_messages()]
