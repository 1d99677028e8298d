#!/usr/bin/env python3
"""Generate a simulated county: snmpsim data, schoolnet configs, inventory, manifest.

Usage:
  gen_county.py --out DIR --snmp-port N --collector HOST:PORT
                [--schools 12] [--seed 1] [--poll-interval 10]

Writes
  DIR/snmp/sw-<code>.snmprec   one Huawei-S5735-like access switch per school,
                               served by snmpsimd to community sw-<code>
  DIR/collector.conf           [collector] listen/database
  DIR/agents/<code>.conf       [agent] + [switch access1]
  DIR/inventory.csv            the bureau's port inventory (DESIGN.md)
  DIR/manifest.json            what every interface should look like, and the
                               deliberate faults; tests compare against it

Moving values (counters, sysUpTime) use snmpsim's `numeric` variation.  The
values tests change with snmpset (ifSpeed, ifHighSpeed, ifOperStatus,
dot3StatsDuplexStatus) use `writecache`, under a per-school alias
(`writecache_<code>`): writecache keeps its cache per *module*, keyed by OID
only, so without an alias an snmpset on one school's switch would change the
same OID on every other school served by the same snmpsimd.  harness.Snmpsim
finds the aliases in the data files and passes
`--variation-module-options=writecache=writecache_<code>:` for each.

Everything is deterministic from --seed.  Importable: generate(...) returns
the manifest dict; agent_conf_text()/collector_conf_text() build configs for
tests that need other switch layouts.
"""

import argparse
import csv
import json
import os
import random
import sys

# --- OIDs -----------------------------------------------------------------

SYS = "1.3.6.1.2.1.1"
IF_NUMBER = "1.3.6.1.2.1.2.1.0"
IF_ENTRY = "1.3.6.1.2.1.2.2.1"
IFX_ENTRY = "1.3.6.1.2.1.31.1.1.1"
DOT3_ENTRY = "1.3.6.1.2.1.10.7.2.1"

# ifTable columns
IF_INDEX, IF_DESCR, IF_TYPE, IF_MTU, IF_SPEED, IF_PHYS, IF_ADMIN, IF_OPER = 1, 2, 3, 4, 5, 6, 7, 8
IF_LASTCHANGE, IF_IN_OCTETS, IF_IN_DISCARDS, IF_IN_ERRORS = 9, 10, 13, 14
IF_OUT_OCTETS, IF_OUT_DISCARDS, IF_OUT_ERRORS = 16, 19, 20
# ifXTable columns
IFX_NAME, IFX_HC_IN, IFX_HC_OUT, IFX_HIGH_SPEED, IFX_ALIAS = 1, 6, 10, 15, 18
# EtherLike-MIB dot3StatsTable columns
DOT3_INDEX, DOT3_DUPLEX = 1, 19

# snmprec tags
T_INT, T_STR, T_OID, T_C32, T_G32, T_TT, T_C64 = 2, 4, 6, 65, 66, 67, 70

OPER_CODE = {"up": 1, "down": 2, "testing": 3, "unknown": 4, "dormant": 5,
             "notPresent": 6, "lowerLayerDown": 7}
DUPLEX_CODE = {"unknown": 1, "half": 2, "full": 3}

IFTYPE_ETHERNET, IFTYPE_LOOPBACK, IFTYPE_L3VLAN = 6, 24, 136

HUAWEI_S5735_OID = "1.3.6.1.4.1.2011.2.23.642"
# ENTITY-MIB and HUAWEI-ENTITY-EXTENT-MIB rows: a real switch has MIB after
# IF-MIB, so walks of ifXTable end on the next table, not on endOfMibView.
ENT_PHYSICAL = "1.3.6.1.2.1.47.1.1.1.1"
HW_ENTITY_STATE = "1.3.6.1.4.1.2011.5.25.31.1.1.1.1"
MAIN_BOARD = 67108873

# --- the county -------------------------------------------------------------

TOWNS = ["城关镇", "石桥镇", "河口镇", "龙泉镇"]

# (name, town, type, town_seat).  Ordered so that the first few schools
# already cover every town, every school type and both seat/non-seat.
SCHOOLS = [
    ("城关镇中心小学", "城关镇", "小学", True),
    ("石桥镇初级中学", "石桥镇", "初级中学", True),
    ("河口镇柳树湾教学点", "河口镇", "教学点", False),
    ("龙泉镇九年一贯制学校", "龙泉镇", "九年一贯制学校", True),
    ("城关镇第二小学", "城关镇", "小学", True),
    ("石桥镇中心小学", "石桥镇", "小学", True),
    ("河口镇中心小学", "河口镇", "小学", True),
    ("石桥镇王家庄小学", "石桥镇", "小学", False),
    ("河口镇初级中学", "河口镇", "初级中学", True),
    ("龙泉镇高坪教学点", "龙泉镇", "教学点", False),
    ("城关镇实验初级中学", "城关镇", "初级中学", True),
    ("河口镇李家坝小学", "河口镇", "小学", False),
]
# Villages for schools beyond the named twelve.
VILLAGES = ["张家湾", "黄土坡", "杨柳村", "大坪", "双河", "青山", "马鞍山", "桃园",
            "白沙", "新田", "红星", "松林", "石门", "沙坝", "长岭", "梨树沟"]

GRADE_NAMES = ["一", "二", "三", "四", "五", "六", "七", "八", "九"]


def _grades(school_type):
    """Grades (1-based) a school of this type teaches."""
    if school_type == "小学":
        return list(range(1, 7))
    if school_type == "初级中学":
        return [7, 8, 9]
    if school_type == "九年一贯制学校":
        return list(range(1, 10))
    return [1, 2, 3]  # 教学点: the lower grades only


def _classes_per_grade(school_type, seat, rng):
    if school_type == "教学点":
        return 1
    if school_type == "初级中学":
        return rng.randint(3, 6)
    if school_type == "九年一贯制学校":
        return rng.randint(1, 3)
    # town-seat primary schools are the big ones
    return rng.randint(3, 6) if seat else rng.randint(1, 2)


def school_list(n):
    """The first n schools: (code, name, town, type, town_seat)."""
    out = []
    for i in range(n):
        code = "s%03d" % (i + 1)
        if i < len(SCHOOLS):
            name, town, stype, seat = SCHOOLS[i]
        else:
            j = i - len(SCHOOLS)
            town = TOWNS[j % len(TOWNS)]
            village = VILLAGES[(j // len(TOWNS)) % len(VILLAGES)]
            suffix = "" if j < len(TOWNS) * len(VILLAGES) else str(j // (len(TOWNS) * len(VILLAGES)) + 1)
            if j % 3 == 2:
                name, stype = "%s%s%s教学点" % (town, village, suffix), "教学点"
            else:
                name, stype = "%s%s%s小学" % (town, village, suffix), "小学"
            seat = False
        out.append((code, name, town, stype, seat))
    return out


# --- snmprec helpers --------------------------------------------------------

def _oid_key(oid):
    return tuple(int(x) for x in oid.split("."))


def _octets(s):
    """An OctetString record value: plain when safe, else hex (tag 4x)."""
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    if b and all(0x20 <= c < 0x7f for c in b) and b"|" not in b and b"\\" not in b:
        return "4", b.decode("ascii")
    return "4x", b.hex()


class Snmprec:
    def __init__(self, wc_alias):
        self.rows = {}
        self.wc = wc_alias

    def put(self, oid, tag, value):
        if oid in self.rows:
            raise ValueError("duplicate OID %s" % oid)
        self.rows[oid] = "%s|%s|%s" % (oid, tag, value)

    def string(self, oid, s):
        tag, val = _octets(s)
        self.put(oid, tag, val)

    def counter(self, oid, tag, initial, rate):
        """A counter that starts at `initial` when snmpsimd starts and grows by
        `rate` per second (numeric variation); a plain value if rate is 0."""
        initial = int(initial)
        if tag == T_C32:
            initial %= 2 ** 32 - 1
        if rate <= 0:
            self.put(oid, tag, initial)
            return
        opts = "initial=%d,rate=%s" % (initial, _num(rate))
        if tag == T_C32:
            opts += ",wrap=1"
        self.put(oid, "%d:numeric" % tag, opts)

    def writable(self, oid, tag, value):
        self.put(oid, "%d:%s" % (tag, self.wc), "value=%d" % value)

    def text(self):
        return "".join(self.rows[o] + "\n" for o in sorted(self.rows, key=_oid_key))


def _num(x):
    s = ("%.6f" % x).rstrip("0").rstrip(".")
    return s or "0"


# --- switch layout ----------------------------------------------------------

def _room_names(stype, seat, rng):
    rooms = []
    per = _classes_per_grade(stype, seat, rng)
    for g in _grades(stype):
        n = per
        if stype != "教学点" and rng.random() < 0.3:
            n = max(1, per + rng.choice([-1, 1]))
        for c in range(1, n + 1):
            rooms.append((g, c, "%s年级%d班" % (GRADE_NAMES[g - 1], c)))
    return rooms


def _plan_school(code, name, town, stype, seat, idx, rng):
    """Decide the switch layout of one school (before faults)."""
    rooms = _room_names(stype, seat, rng)
    # Ports needed: classrooms, a recording room at seat schools, 2 offices,
    # at least one spare.
    need = len(rooms) + (1 if seat else 0) + 2 + 1
    if need > 48:
        rooms = rooms[: 48 - (need - len(rooms))]
        need = 48
    nports = 24 if need <= 24 else 48
    chinese_alias = idx % 2 == 1  # every other school labels ports in Chinese
    ifaces = []
    k = 0

    def eth(role, room, alias, speed=1000, oper="up", admin="up", duplex="full", rates=(0, 0)):
        nonlocal k
        k += 1
        return {
            "if_index": k, "if_name": "GigabitEthernet0/0/%d" % k,
            "if_descr": "GigabitEthernet0/0/%d" % k, "if_type": IFTYPE_ETHERNET,
            "if_alias": alias, "admin": admin, "oper": oper, "speed_mbps": speed,
            "duplex": duplex, "role": role, "room": room,
            "in_bps": rates[0], "out_bps": rates[1], "in_errors_per_s": 0.0,
        }

    for g, c, room in rooms:
        alias = room if chinese_alias else "class-%d-%d" % (g, c)
        speed = 100 if rng.random() < 0.12 else 1000
        # bits/s: pupils' PCs upload a little, download a few Mbps
        rates = (rng.uniform(0.2e6, 1.5e6), rng.uniform(2e6, 8e6))
        ifaces.append(eth("classroom", room, alias, speed=speed, rates=rates))
    if seat:
        ifaces.append(eth("recording", "录播室", "录播室" if chinese_alias else "recording-room",
                          rates=(rng.uniform(8e6, 20e6), rng.uniform(1e6, 4e6))))
    for o, oname in enumerate(["教师办公室", "计算机教室"]):
        ifaces.append(eth("office", oname, oname if chinese_alias else "office-%d" % (o + 1),
                          rates=(rng.uniform(0.5e6, 3e6), rng.uniform(2e6, 10e6))))
    while k < nports:
        shut = rng.random() < 0.15
        ifaces.append(eth("unused", "", "", oper="down", admin="down" if shut else "up",
                          duplex="unknown"))
    # Uplinks: XGE0/0/1 up (GE optic at 1000 Mbps), XGE0/0/2 no module, down.
    ifaces.append({
        "if_index": k + 1, "if_name": "XGigabitEthernet0/0/1", "if_descr": "XGigabitEthernet0/0/1",
        "if_type": IFTYPE_ETHERNET, "if_alias": "至教育城域网" if chinese_alias else "uplink-edu-metro",
        "admin": "up", "oper": "up", "speed_mbps": 1000, "duplex": "full", "role": "uplink",
        "room": "网络机房", "in_bps": rng.uniform(40e6, 300e6), "out_bps": rng.uniform(10e6, 60e6),
        "in_errors_per_s": 0.0,
    })
    ifaces.append({
        "if_index": k + 2, "if_name": "XGigabitEthernet0/0/2", "if_descr": "XGigabitEthernet0/0/2",
        "if_type": IFTYPE_ETHERNET, "if_alias": "", "admin": "up", "oper": "down",
        "speed_mbps": 10000, "duplex": "unknown", "role": "uplink_spare", "room": "",
        "in_bps": 0, "out_bps": 0, "in_errors_per_s": 0.0,
    })
    ifaces.append({
        "if_index": k + 3, "if_name": "Vlanif1", "if_descr": "Vlanif1", "if_type": IFTYPE_L3VLAN,
        "if_alias": "", "admin": "up", "oper": "up", "speed_mbps": 1000, "duplex": "unknown",
        "role": "vlan", "room": "", "in_bps": 0, "out_bps": 0, "in_errors_per_s": 0.0,
    })
    ifaces.append({
        "if_index": k + 4, "if_name": "NULL0", "if_descr": "NULL0", "if_type": IFTYPE_LOOPBACK,
        "if_alias": "", "admin": "up", "oper": "up", "speed_mbps": 0, "duplex": "unknown",
        "role": "loopback", "room": "", "in_bps": 0, "out_bps": 0, "in_errors_per_s": 0.0,
    })
    return {
        "code": code, "name": name, "town": town, "type": stype, "town_seat": seat,
        "model": "S5735-L%dT4X-A1" % nports, "access_ports": nports, "interfaces": ifaces,
    }


def _inject_faults(schools, rng):
    """Deliberate faults, spread over the schools; returns the fault list."""
    faults = []

    def candidates(role="classroom"):
        out = []
        for s in schools:
            for i in s["interfaces"]:
                if i["role"] == role and i["oper"] == "up" and i["speed_mbps"] == 1000 \
                        and not i.get("fault"):
                    out.append((s, i))
        return out

    def pick(n, role="classroom"):
        # Round-robin over schools so small counties still get every fault.
        chosen = []
        order = schools[:]
        rng.shuffle(order)
        for r in range(n):
            s = order[r % len(order)]
            pool = [(ss, i) for ss, i in candidates(role) if ss is s]
            if not pool:
                pool = candidates(role)
            if not pool:
                break
            chosen.append(rng.choice(pool))
            chosen[-1][1]["fault"] = "pending"
        return chosen

    def record(kind, s, i, detail):
        i["fault"] = kind
        faults.append({"kind": kind, "school": s["code"], "switch": "access1",
                       "if_index": i["if_index"], "if_name": i["if_name"],
                       "room": i["room"], "detail": detail})

    for s, i in pick(3):
        i["speed_mbps"] = 10
        i["in_bps"], i["out_bps"] = rng.uniform(0.1e6, 0.6e6), rng.uniform(0.5e6, 2.5e6)
        record("speed_10", s, i, "classroom port negotiated 10 Mbps")
    for s, i in pick(3):
        i["oper"] = "down"
        i["duplex"] = "unknown"
        i["in_bps"] = i["out_bps"] = 0
        record("down", s, i, "classroom port down (cable unplugged)")
    for s, i in pick(1):
        i["speed_mbps"] = 100
        i["duplex"] = "half"
        i["in_bps"], i["out_bps"] = rng.uniform(0.5e6, 2e6), rng.uniform(3e6, 9e6)
        record("half_duplex", s, i, "classroom port at 100 Mbps half duplex")
    for s, i in pick(2):
        i["in_errors_per_s"] = round(rng.uniform(0.2, 1.0), 3)
        record("errors", s, i, "CRC errors on a classroom port (%.3f/s)" % i["in_errors_per_s"])
    for s, i in pick(1 if len(schools) < 8 else 2, role="uplink"):
        i["speed_mbps"] = 100
        i["in_bps"], i["out_bps"] = rng.uniform(70e6, 95e6), rng.uniform(10e6, 30e6)
        record("uplink_100", s, i, "school uplink only 100 Mbps")
    for s in schools:
        for i in s["interfaces"]:
            i.setdefault("fault", None)
    return faults


def _snmprec(school, rng, boot_ticks):
    code = school["code"]
    rec = Snmprec("writecache_" + code)
    ifaces = school["interfaces"]
    sysdescr = ("Huawei Versatile Routing Platform Software\r\n"
                "VRP (R) software, Version 5.170 (%s V200R019C10SPC500)\r\n"
                "Copyright (C) 2000-2020 HUAWEI TECH CO., LTD\r\nHUAWEI %s\r\n"
                % (school["model"], school["model"]))
    rec.string(SYS + ".1.0", sysdescr)
    rec.put(SYS + ".2.0", T_OID, HUAWEI_S5735_OID)
    rec.put(SYS + ".3.0", "%d:numeric" % T_TT, "initial=%d,rate=100" % boot_ticks)
    rec.string(SYS + ".4.0", "电教站 0000-1234567")
    rec.string(SYS + ".5.0", "%s-access1" % code)
    rec.string(SYS + ".6.0", school["name"] + " 网络机房")
    rec.put(SYS + ".7.0", T_INT, 2)
    rec.put(IF_NUMBER, T_INT, len(ifaces))
    mac_base = rng.getrandbits(24)
    for i in ifaces:
        x = i["if_index"]
        col = lambda c: "%s.%d.%d" % (IF_ENTRY, c, x)
        xcol = lambda c: "%s.%d.%d" % (IFX_ENTRY, c, x)
        speed = i["speed_mbps"]
        rec.put(col(IF_INDEX), T_INT, x)
        rec.string(col(IF_DESCR), i["if_descr"])
        rec.put(col(IF_TYPE), T_INT, i["if_type"])
        rec.put(col(IF_MTU), T_INT, 1500)
        rec.writable(col(IF_SPEED), T_G32, min(speed * 1000000, 4294967295))
        if i["if_type"] == IFTYPE_LOOPBACK:
            rec.put(col(IF_PHYS), "4", "")
        else:
            rec.put(col(IF_PHYS), "4x", "00e0fc%06x" % ((mac_base + x) & 0xffffff))
        rec.put(col(IF_ADMIN), T_INT, 1 if i["admin"] == "up" else 2)
        rec.writable(col(IF_OPER), T_INT, OPER_CODE[i["oper"]])
        rec.put(col(IF_LASTCHANGE), T_TT, rng.randint(3000, 90000))
        in_rate, out_rate = i["in_bps"] / 8.0, i["out_bps"] / 8.0
        hc_in = rng.randint(10 ** 9, 5 * 10 ** 12) if in_rate else rng.randint(0, 10 ** 8)
        hc_out = rng.randint(10 ** 9, 5 * 10 ** 12) if out_rate else rng.randint(0, 10 ** 8)
        if i["oper"] == "down" and i["role"] in ("unused", "uplink_spare"):
            hc_in = hc_out = 0
        rec.counter(col(IF_IN_OCTETS), T_C32, hc_in, in_rate)
        rec.counter(col(IF_OUT_OCTETS), T_C32, hc_out, out_rate)
        rec.counter(col(IF_IN_DISCARDS), T_C32, rng.randint(0, 40) if in_rate else 0, 0)
        rec.counter(col(IF_IN_ERRORS), T_C32, rng.randint(100, 900) if i["in_errors_per_s"] else 0,
                    i["in_errors_per_s"])
        rec.counter(col(IF_OUT_DISCARDS), T_C32, rng.randint(0, 40) if out_rate else 0, 0)
        rec.counter(col(IF_OUT_ERRORS), T_C32, 0, 0)
        rec.string(xcol(IFX_NAME), i["if_name"])
        rec.counter(xcol(IFX_HC_IN), T_C64, hc_in, in_rate)
        rec.counter(xcol(IFX_HC_OUT), T_C64, hc_out, out_rate)
        rec.writable(xcol(IFX_HIGH_SPEED), T_G32, speed)
        rec.string(xcol(IFX_ALIAS), i["if_alias"])
        if i["if_type"] == IFTYPE_ETHERNET:
            rec.put("%s.%d.%d" % (DOT3_ENTRY, DOT3_INDEX, x), T_INT, x)
            rec.writable("%s.%d.%d" % (DOT3_ENTRY, DOT3_DUPLEX, x), T_INT, DUPLEX_CODE[i["duplex"]])
    rec.string("%s.2.%d" % (ENT_PHYSICAL, MAIN_BOARD), school["model"])
    rec.string("%s.7.%d" % (ENT_PHYSICAL, MAIN_BOARD), "%s 0" % school["model"])
    rec.string("%s.11.%d" % (ENT_PHYSICAL, MAIN_BOARD), "21980105%08d" % rng.randint(0, 10 ** 8 - 1))
    rec.put("%s.5.%d" % (HW_ENTITY_STATE, MAIN_BOARD), T_INT, rng.randint(5, 25))   # CPU %
    rec.put("%s.7.%d" % (HW_ENTITY_STATE, MAIN_BOARD), T_INT, rng.randint(30, 60))  # memory %
    rec.put("%s.11.%d" % (HW_ENTITY_STATE, MAIN_BOARD), T_INT, rng.randint(35, 50))  # deg C
    return rec.text()


# --- configs ----------------------------------------------------------------

def collector_conf_text(listen, database, extra=None, probe=None):
    """extra: more [collector] keys; probe: the [probe] section's keys."""
    lines = ["# schoolnet collector (generated by tests/sim/gen_county.py)", "[collector]",
             "listen = %s" % listen, "database = %s" % database]
    for k, v in (extra or {}).items():
        lines.append("%s = %s" % (k, v))
    if probe:
        lines += ["", "[probe]"] + ["%s = %s" % kv for kv in probe.items()]
    return "\n".join(lines) + "\n"


def agent_conf_text(school, collector, spool, poll_interval, switches, timeout=None, retries=None,
                    probe=None):
    """switches: list of dicts with name, address and either community (v2c)
    or version='3' with user/auth_protocol/auth_key/priv_protocol/priv_key.
    probe: a dict of [probe] keys (e.g. {"targets": "none"}), or None for
    no section (the agent then probes its collector every minute)."""
    lines = ["# schoolnet agent for %s (generated by tests/sim/gen_county.py)" % school, "[agent]",
             "school = %s" % school, "collector = %s" % collector, "spool = %s" % spool,
             "poll_interval = %s" % _num(poll_interval)]
    if timeout is not None:
        lines.append("timeout = %s" % _num(timeout))
    if retries is not None:
        lines.append("retries = %d" % retries)
    if probe:
        lines += ["", "[probe]"] + ["%s = %s" % kv for kv in probe.items()]
    for sw in switches:
        lines += ["", "[switch %s]" % sw["name"], "address = %s" % sw["address"]]
        version = str(sw.get("version", "2c"))
        lines.append("version = %s" % version)
        if version == "3":
            for k in ("user", "auth_protocol", "auth_key", "priv_protocol", "priv_key"):
                if sw.get(k) is not None:
                    lines.append("%s = %s" % (k, sw[k]))
        else:
            lines.append("community = %s" % sw["community"])
    return "\n".join(lines) + "\n"


# --- main entry -------------------------------------------------------------

def generate(out, snmp_port, collector, schools=12, seed=1, poll_interval=10,
             snmp_host="127.0.0.1", timeout=None, retries=None, probe=None, collector_extra=None,
             collector_probe=None, recording_url=None):
    """Write the county into `out`; return the manifest (also in manifest.json).

    collector_probe: the collector's [probe] keys; recording_url: a function
    of (school code, room) giving the inventory's probe URL of a recording
    room ("" or None: none)."""
    if schools < 1:
        raise ValueError("need at least one school")
    out = os.path.abspath(out)
    rng = random.Random(seed)
    plans = [_plan_school(code, name, town, stype, seat, idx, rng)
             for idx, (code, name, town, stype, seat) in enumerate(school_list(schools))]
    faults = _inject_faults(plans, rng)

    for d in ("snmp", "agents", "spool"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    os.chmod(out, 0o755)
    os.chmod(os.path.join(out, "snmp"), 0o755)
    snmp_addr = "%s:%d" % (snmp_host, snmp_port)
    for p in plans:
        path = os.path.join(out, "snmp", "sw-%s.snmprec" % p["code"])
        with open(path, "w", encoding="utf-8") as f:
            f.write(_snmprec(p, rng, rng.randint(3 * 8640000, 120 * 8640000)))
        os.chmod(path, 0o644)
        p["switches"] = [{"name": "access1", "community": "sw-%s" % p["code"],
                          "address": snmp_addr, "model": p.pop("model"),
                          "sys_name": "%s-access1" % p["code"],
                          "access_ports": p.pop("access_ports"),
                          "interfaces": p.pop("interfaces")}]
        p["agent_conf"] = os.path.join(out, "agents", "%s.conf" % p["code"])
        with open(p["agent_conf"], "w", encoding="utf-8") as f:
            f.write(agent_conf_text(p["code"], collector,
                                    os.path.join(out, "spool", "%s.db" % p["code"]),
                                    poll_interval,
                                    [{"name": "access1", "address": snmp_addr,
                                      "community": "sw-%s" % p["code"]}],
                                    timeout=timeout, retries=retries, probe=probe))

    with open(os.path.join(out, "collector.conf"), "w", encoding="utf-8") as f:
        f.write(collector_conf_text(collector, os.path.join(out, "collector.db"),
                                    extra=collector_extra, probe=collector_probe))

    with open(os.path.join(out, "inventory.csv"), "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["town", "school_code", "school_name", "school_type", "town_seat", "role",
                    "room", "switch", "port", "probe"])
        for p in plans:
            sw = p["switches"][0]
            for i in sw["interfaces"]:
                if i["role"] in ("uplink", "classroom", "recording"):
                    url = ""
                    if i["role"] == "recording" and recording_url:
                        url = recording_url(p["code"], i["room"]) or ""
                    w.writerow([p["town"], p["code"], p["name"], p["type"],
                                "yes" if p["town_seat"] else "no", i["role"], i["room"],
                                sw["name"], i["if_name"], url])

    manifest = {
        "generator": {"seed": seed, "schools": schools, "poll_interval": poll_interval,
                      "snmp_address": snmp_addr, "collector": collector},
        "dir": out,
        "collector_conf": os.path.join(out, "collector.conf"),
        "database": os.path.join(out, "collector.db"),
        "inventory": os.path.join(out, "inventory.csv"),
        "snmp_data_dir": os.path.join(out, "snmp"),
        "towns": sorted({p["town"] for p in plans}, key=TOWNS.index),
        "schools": plans,
        "faults": faults,
    }
    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=1)
    return manifest


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--snmp-port", type=int, required=True, help="snmpsimd UDP port")
    ap.add_argument("--snmp-host", default="127.0.0.1")
    ap.add_argument("--collector", required=True, help="collector HOST:PORT")
    ap.add_argument("--schools", type=int, default=12)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--poll-interval", type=float, default=10)
    a = ap.parse_args(argv)
    m = generate(a.out, a.snmp_port, a.collector, schools=a.schools, seed=a.seed,
                 poll_interval=a.poll_interval, snmp_host=a.snmp_host)
    nif = sum(len(s["switches"][0]["interfaces"]) for s in m["schools"])
    print("wrote %d schools, %d interfaces, %d faults to %s"
          % (len(m["schools"]), nif, len(m["faults"]), m["dir"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
