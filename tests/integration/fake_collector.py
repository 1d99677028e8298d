"""A fake collector for agent tests: a plaintext TCP server on 127.0.0.1
speaking the framing of include/schoolnet/wire.h, written here byte by
byte (not with the project's codec), as protocol 1 (a collector from
before PROBE: WELCOME without its proto field, a PROBE frame answered with
ERROR 1 and a close, as lib/wire.c on main does) or protocol 2.

It answers HELLO with WELCOME (the acked seq it remembers for the epoch),
ACKs every REPORT (and, at protocol 2, every PROBE), answers PING, and
records what came: reports' seqs, decoded PROBEs, STATUS frames. send()
writes a frame to the agent's current connection (PROBE_REQUEST, CHECKS);
on_welcome, when set, is called with the connection right after WELCOME.
"""
import socket
import struct
import threading
import time

MAGIC, VERSION = 0x534E, 1
T_HELLO, T_WELCOME, T_REPORT, T_ACK, T_ERROR, T_PING, T_PONG, T_STATUS = range(1, 9)
T_PROBE, T_PROBE_REQUEST, T_CHECKS = 9, 10, 11
K_LATENCY, K_THROUGHPUT, K_HOST = 1, 2, 3


def frame(ftype, payload=b""):
    return struct.pack(">HBBI", MAGIC, VERSION, ftype, len(payload)) + payload


def wstr(s):
    b = s if isinstance(s, bytes) else s.encode("utf-8")
    return struct.pack(">H", len(b)) + b


class Reader:
    def __init__(self, p):
        self.p, self.off = p, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.p, self.off)
        self.off += struct.calcsize(fmt)
        return v if len(v) > 1 else v[0]

    def str(self):
        n = self.take(">H")
        s = self.p[self.off:self.off + n].decode("utf-8")
        self.off += n
        return s


def decode_probe(p):
    r = Reader(p)
    m = {"seq": r.take(">Q"), "epoch": r.take(">Q"), "t_ms": r.take(">Q"), "kind": r.take(">B"),
         "ref": r.take(">Q"), "label": r.str(), "target": r.str(), "interval_ms": r.take(">I"),
         "error": r.str()}
    if m["kind"] == K_LATENCY:
        for k in ("sent", "answered", "rtt_min_us", "rtt_avg_us", "rtt_max_us", "jitter_us"):
            m[k] = r.take(">I")
    elif m["kind"] == K_THROUGHPUT:
        m.update(zip(("streams", "measured", "down_kbps", "up_kbps", "down_bytes", "up_bytes",
                      "down_ms", "up_ms"), r.take(">BBIIQQII")))
    elif m["kind"] == K_HOST:
        m.update(zip(("ok", "status", "time_ms"), r.take(">BHI")))
    if r.off != len(p):
        raise ValueError("PROBE: %d bytes left over" % (len(p) - r.off))
    return m


def probe_request(req_id, token, max_bytes, max_ms, streams, base="", port=0):
    return frame(T_PROBE_REQUEST, struct.pack(">Q", req_id) + wstr(base) + struct.pack(">H", port)
                 + wstr(token) + struct.pack(">QIB", max_bytes, max_ms, streams))


def checks(interval_ms, timeout_ms, items):
    """items: (id, room, url[, expect])."""
    body = struct.pack(">III", interval_ms, timeout_ms, len(items))
    for it in items:
        body += struct.pack(">Q", it[0]) + wstr(it[1]) + wstr(it[2]) + wstr(it[3] if len(it) > 3 else "")
    return frame(T_CHECKS, body)


class FakeCollector:
    def __init__(self, proto, port=0):
        self.proto = proto
        self.lock = threading.Lock()
        self.acked = {}          # epoch -> highest seq
        self.reports = []        # seqs of REPORTs received
        self.probes = []         # decoded PROBEs (protocol 2)
        self.refused_probes = 0  # PROBE frames refused (protocol 1)
        self.hello_protos = []
        self.status = []
        self.welcomes = 0
        self.conn = None
        self.on_welcome = None
        self.closed = False
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", port))
        self.srv.listen(16)
        self.port = self.srv.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.closed = True
        try:
            self.srv.shutdown(socket.SHUT_RDWR)  # wakes the accept thread
        except OSError:
            pass
        self.srv.close()
        with self.lock:
            if self.conn:
                self.conn.shutdown(socket.SHUT_RDWR)

    def send(self, data):
        with self.lock:
            c = self.conn
        if c is None:
            raise RuntimeError("no agent connected")
        c.sendall(data)

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf, epoch = b"", None
        try:
            while True:
                while len(buf) >= 8:
                    _magic, _ver, ftype, n = struct.unpack(">HBBI", buf[:8])
                    if len(buf) < 8 + n:
                        break
                    payload, buf = buf[8:8 + n], buf[8 + n:]
                    epoch = self._frame(c, ftype, payload, epoch)
                    if epoch is False:
                        return
                data = c.recv(65536)
                if not data:
                    return
                buf += data
        except OSError:
            return
        finally:
            with self.lock:
                if self.conn is c:
                    self.conn = None
            c.close()

    def _frame(self, c, ftype, p, epoch):
        """Answer one frame; returns the connection's epoch, False to close."""
        if ftype == T_HELLO:
            r = Reader(p)
            proto = r.take(">H")
            r.str(), r.str(), r.str()
            epoch = r.take(">Q")
            with self.lock:
                self.hello_protos.append(proto)
                acked = self.acked.get(epoch, 0)
                self.conn = c
                self.welcomes += 1
            body = struct.pack(">QQQ", epoch, acked, int(time.time() * 1000))
            if self.proto >= 2 and proto >= 2:
                body += struct.pack(">H", self.proto)
            c.sendall(frame(T_WELCOME, body))
            if self.on_welcome:
                self.on_welcome(self)
        elif ftype == T_REPORT or (ftype == T_PROBE and self.proto >= 2):
            seq = struct.unpack(">Q", p[:8])[0]
            with self.lock:
                if ftype == T_REPORT:
                    self.reports.append(seq)
                else:
                    self.probes.append(decode_probe(p))
                self.acked[epoch] = max(self.acked.get(epoch, 0), seq)
            c.sendall(frame(T_ACK, struct.pack(">QQ", epoch, seq)))
        elif ftype == T_PROBE:
            with self.lock:
                self.refused_probes += 1
            c.sendall(frame(T_ERROR, struct.pack(">H", 1) + wstr("malformed frame: unknown message type")))
            return False
        elif ftype == T_PING:
            c.sendall(frame(T_PONG))
        elif ftype == T_STATUS:
            with self.lock:
                self.status.append(struct.unpack(">QQ", p))
        return epoch
