#!/usr/bin/env python3
"""TLS 1.3 between agents and the collector, on by default with per-agent
keys from `enroll`.  Refused, and logged with the peer address: a wrong
key, an unknown identity, a plaintext client, an agent claiming another
school than its key's, a revoked key and an expired key.  Certificates
work as the option (CN = the school code).
"""
import os
import re
import socket
import sqlite3
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402

POLL = 1


def agent_conf(county, base, name, replace, extra=""):
    """A copy of base with `key = value` lines replaced, its own agent
    name and spool, written next to it."""
    with open(base, encoding="utf-8") as f:
        text = f.read()
    for key, value in replace.items():
        if re.search(r"^%s\s*=.*$" % key, text, re.M):
            text = re.sub(r"^%s\s*=.*$" % key, "%s = %s" % (key, value), text, count=1, flags=re.M)
        else:
            text = text.replace("[agent]\n", "[agent]\n%s = %s\n" % (key, value), 1)
    text = re.sub(r"^spool\s*=.*$", "spool = %s" % county.wd.file("spool-%s.db" % name), text,
                  count=1, flags=re.M)
    text = text.replace("[agent]\n", "[agent]\nname = %s\n%s" % (name, extra), 1)
    path = county.wd.file("agent-%s.conf" % name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def stored(db, name):
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        row = c.execute("SELECT last_seq FROM agents WHERE name = ?", (name,)).fetchone()
        return row[0] if row else 0
    finally:
        c.close()


def log_has(county, pattern):
    with open(os.path.join(county.logs, "collector.log"), encoding="utf-8") as f:
        return re.search(pattern, f.read())


def plaintext_hello():
    payload = struct.pack(">H", 1)
    for t in ("intruder", "s001", "script"):
        b = t.encode()
        payload += struct.pack(">H", len(b)) + b
    payload += struct.pack(">Q", 1)
    return struct.pack(">HBBI", 0x534E, 1, 1, len(payload)) + payload


def main():
    h.require_programs("snmpget", "openssl")
    wd = h.Workdir(prefix="schoolnet-tls-")
    county = h.County(wd, schools=1, seed=4, poll_interval=POLL)
    code = county.manifest["schools"][0]["code"]
    base = county.manifest["schools"][0]["agent_conf"]
    county.start()

    h.step("an enrolled agent reports over TLS")
    h.wait_until(lambda: stored(county.db, code) >= 2 or None, 20, "reports over TLS",
                 logs=[county.collector, county.agents[code]])
    h.check(log_has(county, r"listening for agents on .*TLS 1\.3, per-agent keys"),
            "the collector listens with TLS 1.3 and per-agent keys")
    ident = next(ln.split("=", 1)[1].strip() for ln in county.keys[code]
                 if ln.startswith("psk_identity"))

    def refused(name, conf, pattern, what):
        d = county.start_agent(name, conf)
        h.wait_until(lambda: log_has(county, pattern), 15, what, logs=[county.collector, d])
        time.sleep(1)
        h.check(stored(county.db, name) == 0, "%s: nothing stored" % what)
        d.stop()

    h.step("refusals")
    refused("wrongkey", agent_conf(county, base, "wrongkey", {"psk_key": "00" * 32}),
            r"peer 127\.0\.0\.1:\d+: TLS: .*; closing", "a wrong key is refused")
    refused("stranger", agent_conf(county, base, "stranger",
                                   {"psk_identity": "nobody-000000", "psk_key": "11" * 32}),
            r"peer 127\.0\.0\.1:\d+: TLS: PSK identity 'nobody-000000' refused: unknown identity",
            "an unknown identity is refused")

    sock = socket.create_connection(("127.0.0.1", county.collector_port), timeout=5)
    sock.sendall(plaintext_hello())
    sock.settimeout(5)
    try:
        got = sock.recv(100)
    except (ConnectionResetError, socket.timeout):
        got = b""
    sock.close()
    h.check(got == b"" or not got.startswith(b"SN"), "a plaintext client gets no answer frame")
    h.wait_until(lambda: log_has(county, r"peer 127\.0\.0\.1:\d+: TLS: .*(wrong version|packet length|unexpected|http).*closing"),
                 10, "the plaintext client logged", logs=[county.collector])
    h.check(True, "a plaintext client is refused and logged with its address")

    other = county.enroll("s999")
    key = {ln.split("=", 1)[0].strip(): ln.split("=", 1)[1].strip() for ln in other if "=" in ln}
    refused("claimer", agent_conf(county, base, "claimer",
                                  {"psk_identity": key["psk_identity"], "psk_key": key["psk_key"]}),
            r"agent claimer claims school %s, but its key is for school s999" % code,
            "an agent claiming another school than its key's is refused")

    h.step("revoked and expired keys")
    r = subprocess.run([county.collector_bin, "-c", county.conf, "keys", "revoke", ident],
                       capture_output=True, text=True)
    h.check(r.returncode == 0, "keys revoke %s: %s" % (ident, r.stdout.strip()))
    county.agents[code].stop()
    county.start_agent(code)
    h.wait_until(lambda: log_has(county, r"PSK identity '%s' refused: key revoked" % re.escape(ident)),
                 15, "the revoked key refused", logs=[county.collector])
    h.check(True, "a revoked key is refused on the next connection")
    county.agents[code].stop()

    lines = subprocess.run([county.collector_bin, "-c", county.conf, "enroll", "--school", code,
                            "--for", "1s"], capture_output=True, text=True, check=True).stdout
    key = dict(ln.split(" = ", 1) for ln in lines.splitlines() if " = " in ln)
    time.sleep(1.5)
    refused("expired", agent_conf(county, base, "expired",
                                  {"psk_identity": key["psk_identity"], "psk_key": key["psk_key"]}),
            r"PSK identity '%s' refused: key expired" % re.escape(key["psk_identity"]),
            "an expired key is refused")
    listed = subprocess.run([county.collector_bin, "-c", county.conf, "keys", "list"],
                            capture_output=True, text=True, check=True).stdout
    h.check(ident in listed and "revoked 20" in listed, "keys list shows the revocation")

    h.step("certificates (tls = cert)")
    pki = wd.sub("pki")

    def ossl(*args):
        subprocess.run(["openssl"] + list(args), cwd=pki, check=True, capture_output=True)
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=schoolnet test CA")
    for cn, ext in (("localhost", "subjectAltName=DNS:localhost"), (code, "basicConstraints=CA:FALSE")):
        ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "%s.key" % cn, "-out", "%s.csr" % cn, "-subj", "/CN=%s" % cn)
        with open(os.path.join(pki, "%s.ext" % cn), "w") as f:
            f.write(ext + "\n")
        ossl("x509", "-req", "-in", "%s.csr" % cn, "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "%s.pem" % cn, "-days", "2", "-extfile", "%s.ext" % cn)
    county.collector.stop()
    with open(county.conf, encoding="utf-8") as f:
        text = f.read()
    text = text.replace("[collector]\n", "[collector]\ntls = cert\ntls_cert = %s/localhost.pem\n"
                        "tls_key = %s/localhost.key\ntls_ca = %s/ca.pem\n" % (pki, pki, pki), 1)
    with open(county.conf, "w", encoding="utf-8") as f:
        f.write(text)
    county.start_collector()
    conf = agent_conf(county, base, "certagent",
                      {"tls": "cert", "tls_cert": "%s/%s.pem" % (pki, code),
                       "tls_key": "%s/%s.key" % (pki, code), "tls_ca": "%s/ca.pem" % pki,
                       "server_name": "localhost"})
    county.start_agent("certagent", conf)
    h.wait_until(lambda: stored(county.db, "certagent") >= 2 or None, 20,
                 "reports over TLS with certificates", logs=[county.collector])
    h.check(True, "an agent with a certificate for CN=%s reports" % code)
    h.check(log_has(county, r"TLS 1\.3, certificates"), "the collector says it uses certificates")


if __name__ == "__main__":
    h.run_test(main)
