#!/usr/bin/env python3
"""The collector under abuse, while a real agent keeps reporting.

Collector limits: read_timeout = 3, idle_timeout = 5, hello_timeout = 5,
max_handshakes = 100, max_connections = 2100 (plaintext: tls = off where the
binaries know the key; every peer here is a Python client on 127.0.0.1).

1. LOAD connections (2000) each send a valid HELLO (agent load-0001...), get
   their WELCOME, and then a PING every 2 s: all of them are held.  The
   collector's RSS with them is printed and must stay under RSS_MAX_MB.
2. While they are held:
   - a client sending random bytes is dropped at once;
   - a slow-loris client sending a HELLO one byte every 2 s is dropped
     within read_timeout + 2 s;
   - a client that connects and sends nothing is dropped by the hello/idle
     timeout;
   - an agent that says HELLO and then nothing is dropped by idle_timeout;
   - the real agent (a County school) still reports: its last_seq rises.
3. CONN_BURST silent connections on top of the load: the ones beyond
   max_connections are closed at once, the others are held; then, with the
   load gone, HANDSHAKE_BURST silent connections: the ones beyond
   max_handshakes are closed at once.
4. With TLS on (where the binaries have it): a garbage client, a ClientHello
   trickling in and a silent client are dropped during the handshake.
Every drop of 2.-4. is logged on one line `peer 127.0.0.1:PORT: <reason>`;
the collector is still running at the end.  All 2000 load connections are
still open at the end.  The whole test is bounded to about 90 s.
"""
import asyncio
import os
import random
import re
import resource
import socket
import sqlite3
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import harness as h  # noqa: E402

LOAD = 2000
HANDSHAKE_PARALLEL = 50      # load HELLOs in flight at once (< max_handshakes)
PING_EVERY = 2.0
READ_TIMEOUT, IDLE_TIMEOUT, HELLO_TIMEOUT = 3, 5, 5
MAX_HANDSHAKES, MAX_CONNECTIONS = 100, 2100
HANDSHAKE_BURST = 130       # > max_handshakes, with the load gone
CONN_BURST = 150            # > max_connections - LOAD, with the load held
RSS_MAX_MB = 512
COLLECTOR_NOFILE = 8192
POLL = 1

MAGIC, VERSION = 0x534E, 1
T_HELLO, T_WELCOME, T_ERROR, T_PING, T_PONG = 1, 2, 5, 6, 7


# --- frames ----------------------------------------------------------------

def frame(ftype, payload=b""):
    return struct.pack(">HBBI", MAGIC, VERSION, ftype, len(payload)) + payload


def wstr(s):
    b = s.encode("utf-8")
    return struct.pack(">H", len(b)) + b


def hello(agent, school, epoch, software="abuse-test/1"):
    return frame(T_HELLO, struct.pack(">H", 1) + wstr(agent) + wstr(school) + wstr(software)
                 + struct.pack(">Q", epoch))


async def read_frame(reader):
    hdr = await reader.readexactly(8)
    magic, ver, ftype, n = struct.unpack(">HBBI", hdr)
    if magic != MAGIC:
        raise ValueError("bad magic from the collector")
    payload = await reader.readexactly(n) if n else b""
    return ftype, payload


async def wait_closed_by_peer(reader, limit):
    """Seconds until the peer closes (EOF or reset), or None after `limit`."""
    t0 = time.monotonic()
    try:
        while True:
            left = limit - (time.monotonic() - t0)
            if left <= 0:
                return None
            data = await asyncio.wait_for(reader.read(4096), left)
            if not data:
                break
    except asyncio.TimeoutError:
        return None
    except (ConnectionResetError, BrokenPipeError, OSError):
        pass
    return time.monotonic() - t0


# --- helpers -------------------------------------------------------------------

def knows_key(binary, key):
    r = subprocess.run([binary, "--config-help"], capture_output=True, timeout=30)
    return re.search(r"^\s+%s\s" % re.escape(key), r.stdout.decode("utf-8", "replace"), re.M) is not None


def set_keys(path, section, kv):
    """Put key = value lines at the top of [section], replacing old ones."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    keys = set(kv)
    out, cur = [], None
    for ln in lines:
        m = re.match(r"^\[([^\]]+)\]", ln)
        if m:
            cur = m.group(1)
            out.append(ln)
            if cur == section:
                out += ["%s = %s" % (k, v) for k, v in kv.items()]
            continue
        km = re.match(r"^\s*([A-Za-z_]+)\s*=", ln)
        if cur == section and km and km.group(1) in keys:
            continue
        out.append(ln)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


def drop_keys(path, prefixes):
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    lines = [ln for ln in lines if not any(re.match(r"^\s*%s\w*\s*=" % p, ln) for p in prefixes)]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1]) / 1024.0
    return -1


def stored_seq(db_path, name):
    try:
        db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=5)
        try:
            r = db.execute("SELECT last_seq FROM agents WHERE name = ?", (name,)).fetchone()
            return r[0] if r else 0
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def log_lines_for(path, port):
    rx = re.compile(r"\bpeer 127\.0\.0\.1:%d\b" % port)
    with open(path, encoding="utf-8", errors="replace") as f:
        return [ln for ln in f.read().splitlines() if rx.search(ln)]


# --- the load --------------------------------------------------------------------

class Load:
    def __init__(self, port, n):
        self.port, self.n = port, n
        self.welcomed = 0
        self.lost = []          # (agent, why)
        self.errors = []        # handshake failures
        self.stop = asyncio.Event()
        self.all_in = asyncio.Event()
        self.conns = []

    async def one(self, i, sem):
        name = "load-%04d" % i
        async with sem:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.port), 10)
                writer.write(hello(name, "load", random.getrandbits(62) + 1))
                await writer.drain()
                ftype, payload = await asyncio.wait_for(read_frame(reader), 10)
                if ftype != T_WELCOME:
                    raise RuntimeError("answered with frame type %d: %r" % (ftype, payload[:80]))
            except Exception as e:
                self.errors.append("%s: %s: %s" % (name, type(e).__name__, e))
                if len(self.errors) + self.welcomed >= self.n:
                    self.all_in.set()
                return
        self.welcomed += 1
        self.conns.append(writer)
        if self.welcomed + len(self.errors) >= self.n:
            self.all_in.set()
        # Keep it alive: a PING every PING_EVERY s, read whatever comes back.
        try:
            next_ping = time.monotonic() + PING_EVERY * random.random()
            while not self.stop.is_set():
                left = max(0.0, next_ping - time.monotonic())
                try:
                    data = await asyncio.wait_for(reader.read(4096), left)
                    if not data:
                        self.lost.append((name, "closed by the collector"))
                        return
                except asyncio.TimeoutError:
                    writer.write(frame(T_PING))
                    await writer.drain()
                    next_ping = time.monotonic() + PING_EVERY
        except Exception as e:
            if not self.stop.is_set():
                self.lost.append((name, "%s: %s" % (type(e).__name__, e)))
        finally:
            if self.stop.is_set():
                writer.close()

    def start(self):
        sem = asyncio.Semaphore(HANDSHAKE_PARALLEL)
        self.tasks = [asyncio.ensure_future(self.one(i, sem)) for i in range(1, self.n + 1)]

    async def finish(self):
        self.stop.set()
        for w in self.conns:
            try:
                w.close()
            except Exception:
                pass
        await asyncio.wait(self.tasks, timeout=10)
        for t in self.tasks:
            t.cancel()


# --- abusive clients -------------------------------------------------------------

async def garbage(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    local = writer.get_extra_info("sockname")[1]
    rng = random.Random(7)
    junk = bytes([0x00]) + bytes(rng.getrandbits(8) for _ in range(255))
    writer.write(junk)
    await writer.drain()
    took = await wait_closed_by_peer(reader, 5)
    writer.close()
    return local, took


async def slowloris(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    local = writer.get_extra_info("sockname")[1]
    data = hello("slow-loris", "load", 12345)
    closed = asyncio.ensure_future(wait_closed_by_peer(reader, READ_TIMEOUT + 10))
    t0 = time.monotonic()
    sent = 0
    for b in data:
        if closed.done():
            break
        try:
            writer.write(bytes([b]))
            await writer.drain()
            sent += 1
        except (ConnectionResetError, BrokenPipeError, OSError):
            break
        try:
            await asyncio.wait_for(asyncio.shield(closed), 2.0)
        except asyncio.TimeoutError:
            pass
    took = await closed
    writer.close()
    return local, (None if took is None else time.monotonic() - t0), sent, len(data)


async def idle(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    local = writer.get_extra_info("sockname")[1]
    took = await wait_closed_by_peer(reader, max(HELLO_TIMEOUT, IDLE_TIMEOUT) + 8)
    writer.close()
    return local, took


async def tls_slow(port):
    """The start of a TLS ClientHello record, one byte every 2 s."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    local = writer.get_extra_info("sockname")[1]
    data = bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03]) + bytes(32)
    closed = asyncio.ensure_future(wait_closed_by_peer(reader, max(READ_TIMEOUT, HELLO_TIMEOUT) + 10))
    t0 = time.monotonic()
    sent = 0
    for b in data:
        if closed.done():
            break
        try:
            writer.write(bytes([b]))
            await writer.drain()
            sent += 1
        except (ConnectionResetError, BrokenPipeError, OSError):
            break
        try:
            await asyncio.wait_for(asyncio.shield(closed), 2.0)
        except asyncio.TimeoutError:
            pass
    took = await closed
    writer.close()
    return local, (None if took is None else time.monotonic() - t0), sent


async def silent_agent(port):
    """HELLO, WELCOME, then nothing: idle_timeout applies."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    local = writer.get_extra_info("sockname")[1]
    writer.write(hello("silent-agent", "load", 424242))
    await writer.drain()
    ftype, _ = await asyncio.wait_for(read_frame(reader), 10)
    took = await wait_closed_by_peer(reader, IDLE_TIMEOUT + 8)
    writer.close()
    return local, ftype, took


async def handshake_burst(port, n):
    """n silent connections at once: (ports closed within 1.5 s, ports held)."""
    conns = []
    for _ in range(n):
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
            conns.append((r, w))
        except Exception:
            pass
    res = await asyncio.gather(*(wait_closed_by_peer(r, 1.5) for r, _w in conns))
    closed = [w.get_extra_info("sockname")[1] for (r, w), t in zip(conns, res) if t is not None]
    held = [w.get_extra_info("sockname")[1] for (r, w), t in zip(conns, res) if t is None]
    for _r, w in conns:
        w.close()
    return closed, held


# --- the test --------------------------------------------------------------------

def main():
    h.require_programs("snmpget", "prlimit")
    t_begin = time.monotonic()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = LOAD + HANDSHAKE_BURST + 500
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(want, 8192), hard)
                                                        if hard != resource.RLIM_INFINITY
                                                        else max(want, 8192), hard))
        except (ValueError, OSError) as e:
            raise h.Skip("cannot raise the fd limit to %d (%s)" % (want, e))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft < want:
            raise h.Skip("fd limit %d < %d needed (hard limit %d)" % (soft, want, hard))

    wd = h.Workdir(prefix="schoolnet-abuse-")
    county = h.County(wd, schools=1, seed=3, poll_interval=POLL)
    code = county.manifest["schools"][0]["code"]
    agent_conf = os.path.join(county.dir, "agents", "%s.conf" % code)
    for key in ("read_timeout", "idle_timeout", "max_handshakes"):
        if not knows_key(county.collector_bin, key):
            raise h.Skip("this collector has no `%s` setting yet" % key)
    ckeys = {"read_timeout": READ_TIMEOUT, "idle_timeout": IDLE_TIMEOUT,
             "hello_timeout": HELLO_TIMEOUT, "max_handshakes": MAX_HANDSHAKES,
             "max_connections": MAX_CONNECTIONS}
    if knows_key(county.collector_bin, "tls"):
        # The clients here speak the plaintext protocol.
        ckeys["tls"] = "off"
        drop_keys(agent_conf, ["tls", "psk_"])
        set_keys(agent_conf, "agent", {"tls": "off"})
    set_keys(county.conf, "collector", ckeys)
    h.check_config(county.collector_bin, county.conf)

    county.start_snmpsim()
    h.step("collector with read_timeout %d, idle_timeout %d, hello_timeout %d, max_handshakes %d,"
           " max_connections %d, %d fds" % (READ_TIMEOUT, IDLE_TIMEOUT, HELLO_TIMEOUT,
                                           MAX_HANDSHAKES, MAX_CONNECTIONS, COLLECTOR_NOFILE))
    county.collector = h.Daemon(["prlimit", "--nofile=%d:%d" % (COLLECTOR_NOFILE, COLLECTOR_NOFILE),
                                 "--", county.collector_bin, "-c", county.conf],
                                os.path.join(county.logs, "collector.log"), name="collector")
    col = county.collector
    h.wait_until(lambda: col.alive() and h.tcp_listening(county.collector_port), 20,
                 "the collector to listen", logs=[col])
    agent = county.start_agent(code)
    h.wait_until(lambda: stored_seq(county.db, code) >= 2, 30, "the real agent's first reports",
                 logs=[col, agent])
    port = county.collector_port
    rss_idle = rss_mb(col.pid)

    async def scenario():
        out = {}
        h.step("%d load connections: HELLO, then a PING every %.0f s" % (LOAD, PING_EVERY))
        load = Load(port, LOAD)
        t0 = time.monotonic()
        load.start()
        try:
            await asyncio.wait_for(load.all_in.wait(), 60)
        except asyncio.TimeoutError:
            pass
        out["load_time"] = time.monotonic() - t0
        out["welcomed"] = load.welcomed
        out["load_errors"] = list(load.errors)
        if load.welcomed < LOAD:
            await load.finish()
            return out
        await asyncio.sleep(1)
        out["rss"] = rss_mb(col.pid)
        out["seq_before"] = stored_seq(county.db, code)

        h.step("while they are held: garbage, slow loris and idle clients")
        g, s, i, q = await asyncio.gather(garbage(port), slowloris(port), idle(port),
                                          silent_agent(port))
        out["garbage"], out["slowloris"], out["idle"], out["silent"] = g, s, i, q

        h.step("%d silent connections at once on top of the load (max_connections %d)"
               % (CONN_BURST, MAX_CONNECTIONS))
        out["conn_burst"] = await handshake_burst(port, CONN_BURST)

        await asyncio.sleep(PING_EVERY + 1)  # the load keeps pinging meanwhile
        out["seq_after"] = stored_seq(county.db, code)
        out["rss_end"] = rss_mb(col.pid)
        out["lost"] = list(load.lost)
        out["still_open"] = load.welcomed - len(load.lost)
        await load.finish()

        await asyncio.sleep(2)  # the collector sees the load go
        h.step("%d silent connections at once, load gone (max_handshakes %d)"
               % (HANDSHAKE_BURST, MAX_HANDSHAKES))
        out["burst"] = await handshake_burst(port, HANDSHAKE_BURST)
        return out

    out = asyncio.run(scenario())
    logs = [col, agent]

    h.check(out["welcomed"] == LOAD,
            "%d of %d load connections welcomed in %.1f s" % (out["welcomed"], LOAD, out["load_time"]),
            "first errors: %s\n%s" % (out["load_errors"][:5], h.log_tails(logs)))
    print("  collector RSS: %.1f MB idle, %.1f MB with %d connections, %.1f MB at the end"
          % (rss_idle, out["rss"], LOAD, out["rss_end"]))
    h.check(out["rss"] < RSS_MAX_MB, "collector RSS with %d connections %.1f MB < %d MB"
            % (LOAD, out["rss"], RSS_MAX_MB))

    def logged(what, local):
        lines = log_lines_for(col.log_path, local)
        h.check(lines, "%s: the collector logged `peer 127.0.0.1:%d` with a reason" % (what, local),
                h.log_tails([col]))
        for ln in lines[:2]:
            print("        " + ln)

    local, took = out["garbage"]
    h.check(took is not None and took < 2.0, "garbage client dropped at once (%s s)"
            % (None if took is None else "%.2f" % took), h.log_tails([col]))
    logged("garbage", local)

    local, took, sent, total = out["slowloris"]
    h.check(took is not None and took <= READ_TIMEOUT + 2,
            "slow-loris client dropped %s s after its first byte (%d of %d HELLO bytes sent; "
            "read_timeout %d)" % (None if took is None else "%.1f" % took, sent, total, READ_TIMEOUT),
            h.log_tails([col]))
    logged("slow loris", local)

    local, took = out["idle"]
    limit = min(HELLO_TIMEOUT, IDLE_TIMEOUT) + 2
    h.check(took is not None and took <= limit,
            "idle client dropped after %s s (hello_timeout %d, idle_timeout %d)"
            % (None if took is None else "%.1f" % took, HELLO_TIMEOUT, IDLE_TIMEOUT), h.log_tails([col]))
    logged("idle", local)

    local, ftype, took = out["silent"]
    h.check(ftype == T_WELCOME, "a silent agent was welcomed")
    h.check(took is not None and IDLE_TIMEOUT - 1 <= took <= IDLE_TIMEOUT + 2,
            "... and dropped %s s later, no frame within idle_timeout %d"
            % (None if took is None else "%.1f" % took, IDLE_TIMEOUT), h.log_tails([col]))
    logged("silent agent", local)

    def burst(what, res, limit, word):
        closed, held = res
        h.check(len(held) <= limit and len(held) >= limit - 5,
                "%s: of %d silent connections %d were held, up to the limit %d, and %d closed at once"
                % (what, len(closed) + len(held), len(held), limit, len(closed)))
        h.check(closed, "%s: some were refused" % what)
        lines = log_lines_for(col.log_path, closed[0])
        logged(what, closed[0])
        h.check(any(word in ln for ln in lines), "%s: the reason names %s" % (what, word))

    # 2000 load + the real agent are connected: room for 99 more.
    burst("over max_connections", out["conn_burst"], MAX_CONNECTIONS - LOAD - 1, "max_connections")
    burst("over max_handshakes", out["burst"], MAX_HANDSHAKES, "max_handshakes")

    h.check(out["seq_after"] >= out["seq_before"] + 3,
            "the real agent kept reporting during the abuse (last_seq %d -> %d)"
            % (out["seq_before"], out["seq_after"]), h.log_tails(logs))
    h.check(not out["lost"] and out["still_open"] == LOAD,
            "all %d load connections were held to the end" % LOAD,
            "lost %d, e.g. %s" % (len(out["lost"]), out["lost"][:5]))
    h.check(col.alive(), "the collector is still running")

    if "tls" in ckeys:
        h.step("the same abuse against the TLS handshake (tls = psk)")
        agent.stop()
        col.stop()
        set_keys(county.conf, "collector", {"tls": "psk"})
        h.check_config(county.collector_bin, county.conf)
        col = h.Daemon([county.collector_bin, "-c", county.conf],
                       os.path.join(county.logs, "collector-tls.log"), name="collector-tls")
        h.wait_until(lambda: col.alive() and h.tcp_listening(port), 20, "the TLS collector to listen",
                     logs=[col])

        async def tls_abuse():
            return await asyncio.gather(garbage(port), tls_slow(port), idle(port))
        (g_port, g_took), (s_port, s_took, s_sent), (i_port, i_took) = asyncio.run(tls_abuse())
        h.check(g_took is not None and g_took < 2.0, "TLS: garbage client dropped at once (%s s)"
                % (None if g_took is None else "%.2f" % g_took), h.log_tails([col]))
        logged("TLS garbage", g_port)
        h.check(s_took is not None and s_took <= max(READ_TIMEOUT, HELLO_TIMEOUT) + 2,
                "TLS: a ClientHello trickling in a byte every 2 s is dropped after %s s (%d bytes)"
                % (None if s_took is None else "%.1f" % s_took, s_sent), h.log_tails([col]))
        logged("TLS slow handshake", s_port)
        h.check(i_took is not None and i_took <= HELLO_TIMEOUT + 2,
                "TLS: a silent client is dropped after %s s" % (None if i_took is None else "%.1f" % i_took),
                h.log_tails([col]))
        logged("TLS idle", i_port)
        h.check(col.alive(), "the TLS collector is still running")
    print("  (test took %.0f s)" % (time.monotonic() - t_begin))


if __name__ == "__main__":
    h.run_test(main)
