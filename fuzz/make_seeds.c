/* make_seeds.c: write the fuzz_wire seed corpus with the real encoders. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schoolnet/buf.h"
#include "schoolnet/mem.h"
#include "schoolnet/wire.h"

/*
 * Usage: make_seeds DIR. Each file is what one connection might carry:
 * single frames of every type, whole agent and collector sessions (in
 * protocol 1 and 2), and edge cases
 * (strings at their caps, Chinese labels, a report without interfaces).
 * Every frame is decoded again here, so a seed is never silently invalid.
 *
 * A few seeds are one byte too long on purpose (NAME-trailing): a message
 * whose last string is at its cap, followed by fields that would also read
 * as text, and one byte more. Such a payload is refused (trailing bytes),
 * but one changed length (cap + 1) makes it decode if the string's cap is
 * checked one off: length-prefixed fields are otherwise hard to reach for
 * a mutation fuzzer, which would have to change a length and add a byte.
 */

static const char *seed_dir;
static int seed_count;

static void
die(const char *what)
{
	fprintf(stderr, "make_seeds: %s\n", what);
	exit(1);
}

static void
seed_write(const char *name, const struct buf *b)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", seed_dir, name);
	if ((f = fopen(path, "wb")) == NULL) {
		fprintf(stderr, "make_seeds: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	if (b->len && fwrite(b->data, 1, b->len, f) != b->len)
		die("short write");
	if (fclose(f) != 0)
		die("close failed");
	seed_count++;
}

/* Decode a payload as type says; PING and PONG must be empty. */
static int
decode_as(int type, const uint8_t *p, size_t len)
{
	union {
		struct wire_hello hello;
		struct wire_welcome welcome;
		struct wire_ack ack;
		struct wire_error error;
		struct wire_report report;
		struct wire_status status;
		struct wire_probe probe;
		struct wire_probe_request request;
		struct wire_checks checks;
	} m;
	int rc;

	switch (type) {
	case WIRE_HELLO:
		return wire_decode_hello(p, len, &m.hello);
	case WIRE_WELCOME:
		return wire_decode_welcome(p, len, &m.welcome);
	case WIRE_ACK:
		return wire_decode_ack(p, len, &m.ack);
	case WIRE_ERROR:
		return wire_decode_error(p, len, &m.error);
	case WIRE_REPORT:
		if ((rc = wire_decode_report(p, len, &m.report)) == WIRE_OK)
			wire_report_free(&m.report);
		return rc;
	case WIRE_STATUS:
		return wire_decode_status(p, len, &m.status);
	case WIRE_PROBE:
		return wire_decode_probe(p, len, &m.probe);
	case WIRE_PROBE_REQUEST:
		return wire_decode_probe_request(p, len, &m.request);
	case WIRE_CHECKS:
		if ((rc = wire_decode_checks(p, len, &m.checks)) == WIRE_OK)
			wire_checks_free(&m.checks);
		return rc;
	}
	return len == 0 ? WIRE_OK : WIRE_ETRAILING;
}

/* Every frame in b must parse and decode as its type says. */
static void
seed_check(const struct buf *b)
{
	struct buf rest;
	struct wire_header h;
	const uint8_t *p;
	int rc;

	buf_init(&rest, WIRE_MAX_FRAME * 4);
	if (buf_add(&rest, b->data, b->len) != 0)
		die("seed too big");
	while (rest.len > 0) {
		if (wire_frame_next(&rest, &h, &p) != 1)
			die("seed frame does not parse");
		if ((rc = decode_as(h.type, p, h.length)) != WIRE_OK) {
			fprintf(stderr, "make_seeds: %s frame: %s\n",
			    wire_type_name(h.type), wire_strerror(rc));
			exit(1);
		}
		buf_consume(&rest, WIRE_HEADER_LEN + h.length);
	}
	buf_free(&rest);
}

static void
hello(struct buf *b, const char *agent, const char *school, uint64_t epoch)
{
	struct wire_hello m;

	memset(&m, 0, sizeof(m));
	m.proto = WIRE_VERSION;
	snprintf(m.agent, sizeof(m.agent), "%s", agent);
	snprintf(m.school, sizeof(m.school), "%s", school);
	snprintf(m.software, sizeof(m.software), "schoolnet-agent 0.1.0");
	m.epoch = epoch;
	if (wire_encode_hello(b, &m) != 0)
		die("encode hello");
}

static void
welcome(struct buf *b, uint64_t epoch, uint64_t acked)
{
	struct wire_welcome m = {epoch, acked, UINT64_C(1767225600000),
	    WIRE_PROTO_BASE};

	if (wire_encode_welcome(b, &m) != 0)
		die("encode welcome");
}

static void
ack(struct buf *b, uint64_t epoch, uint64_t seq)
{
	struct wire_ack m = {epoch, seq};

	if (wire_encode_ack(b, &m) != 0)
		die("encode ack");
}

static void
error(struct buf *b, uint16_t code, const char *text)
{
	struct wire_error m;

	memset(&m, 0, sizeof(m));
	m.code = code;
	snprintf(m.message, sizeof(m.message), "%s", text);
	if (wire_encode_error(b, &m) != 0)
		die("encode error");
}

static void
empty(struct buf *b, enum wire_type type)
{
	if (wire_encode_empty(b, type) != 0)
		die("encode empty");
}

/* A report of n_if ports of an access switch, as sample.c builds one. */
static void
report(struct buf *b, uint64_t seq, uint32_t n_if, int status, const char *sw)
{
	static const uint32_t speeds[] = {1000, 100, 10, 0};
	struct wire_report m;

	memset(&m, 0, sizeof(m));
	m.seq = seq;
	m.epoch = UINT64_C(0x5eed5eed00000001);
	m.t_ms = UINT64_C(1767225600000) + seq * 60000;
	m.duration_ms = 420;
	m.interval_ms = seq > 1 ? 60000 : 0;
	m.poll_interval_s = 60;
	m.sys_uptime = 123456789;
	m.pdus = 3 + n_if / 10;
	m.status = (uint8_t)status;
	m.flags = seq == 7 ? WIRE_REPORT_REBOOTED : 0;
	snprintf(m.switch_name, sizeof(m.switch_name), "%s", sw);
	snprintf(m.address, sizeof(m.address), "%s",
	    status == WIRE_POLL_OK ? "10.17.0.2:161" : "[fe80::2%eth0]:161");
	if (status == WIRE_POLL_TIMEOUT)
		snprintf(m.error, sizeof(m.error),
		    "no answer from udp:10.17.0.2:161 (2 s x 3 tries)");
	else if (status == WIRE_POLL_ERROR)
		snprintf(m.error, sizeof(m.error), "authorizationError");
	m.n_if = n_if;
	m.ifs = n_if ? xcalloc(n_if, sizeof(*m.ifs)) : NULL;
	for (uint32_t i = 0; i < n_if; i++) {
		struct wire_if *f = &m.ifs[i];

		f->if_index = i + 1;
		f->if_type = i + 1 == n_if ? 136 : 6;
		f->admin = 1;
		f->oper = i % 5 == 3 ? 2 : 1;
		f->duplex = i % 7 == 5 ? WIRE_DUPLEX_HALF : WIRE_DUPLEX_FULL;
		f->flags = WIRE_IF_RATES | (i % 2 ? WIRE_IF_HC : 0);
		f->speed_mbps = speeds[i % 4];
		snprintf(f->name, sizeof(f->name), "GE0/0/%u", i + 1);
		snprintf(
		    f->descr, sizeof(f->descr), "GigabitEthernet0/0/%u", i + 1);
		snprintf(f->alias, sizeof(f->alias), "%s",
		    i == 0      ? "uplink 出口"
		        : i % 3 ? "三年级2班"
		                : "录播室");
		f->in_octets = UINT64_C(1) << (i % 40);
		f->out_octets = UINT64_C(0xffffffff) + i;
		f->in_errors = i % 11 == 0 ? 17 : 0;
		f->out_errors = 0;
		f->in_discards = i;
		f->out_discards = i * 2;
	}
	if (wire_encode_report(b, &m) != 0)
		die("encode report");
	wire_report_free(&m);
}

/* A latency round as the agent sends one (agent/main.c). */
static void
probe(struct buf *b, uint64_t seq, uint32_t sent, uint32_t answered,
    const char *label, const char *target, const char *err)
{
	struct wire_probe m;

	memset(&m, 0, sizeof(m));
	m.seq = seq;
	m.epoch = UINT64_C(0x5eed5eed00000001);
	m.t_ms = UINT64_C(1767225600000) + seq * 60000;
	m.kind = WIRE_PROBE_LATENCY;
	snprintf(m.label, sizeof(m.label), "%s", label);
	snprintf(m.target, sizeof(m.target), "%s", target);
	m.sent = sent;
	m.answered = answered;
	if (answered > 0) {
		m.rtt_min_us = 98000;
		m.rtt_avg_us = answered > 1 ? 101250 : 98000;
		m.rtt_max_us = answered > 1 ? 106500 : 98000;
		m.jitter_us = answered > 1 ? 4200 : 0;
	}
	m.interval_ms = 60000;
	snprintf(m.error, sizeof(m.error), "%s", err);
	if (wire_encode_probe(b, &m) != 0)
		die("encode probe");
}

/* The frames fill writes, as NAME; a single frame's payload also bare, as
 * NAME.payload (fuzz_wire hands its whole input to every decoder too). */
static void
emit(const char *name, void (*fill)(struct buf *))
{
	struct buf b;
	struct wire_header h;
	const uint8_t *p;
	char bare[256];

	buf_init(&b, WIRE_MAX_FRAME * 4);
	fill(&b);
	seed_check(&b);
	seed_write(name, &b);
	if (wire_frame_next(&b, &h, &p) == 1 &&
	    b.len == WIRE_HEADER_LEN + h.length && h.length > 0) {
		buf_consume(&b, WIRE_HEADER_LEN);
		snprintf(bare, sizeof(bare), "%s.payload", name);
		seed_write(bare, &b);
	}
	buf_free(&b);
}

static void
s_hello(struct buf *b)
{
	hello(b, "xa017-agent", "XA-017", UINT64_C(0x5eed5eed00000001));
}

/* Every string at its cap: 21 three-byte characters, and ASCII. */
static void
s_hello_caps(struct buf *b)
{
	struct wire_hello m;

	memset(&m, 0, sizeof(m));
	m.proto = WIRE_VERSION;
	for (int i = 0; i < 21; i++)
		strcat(m.agent, "校");
	for (int i = 0; i < WIRE_NAME_MAX; i++)
		m.school[i] = i < 2 ? "S-"[i] : (char)('0' + i % 10);
	snprintf(m.software, sizeof(m.software), "%-*s", WIRE_NAME_MAX,
	    "schoolnet-agent 0.1.0 (debian 12; x86_64; net-snmp 5.9.3)");
	m.epoch = UINT64_MAX;
	if (strlen(m.agent) != WIRE_NAME_MAX ||
	    strlen(m.school) != WIRE_NAME_MAX ||
	    strlen(m.software) != WIRE_NAME_MAX)
		die("hello-caps: a string is not at its cap");
	if (wire_encode_hello(b, &m) != 0)
		die("encode hello");
}

static void
s_welcome(struct buf *b)
{
	welcome(b, UINT64_C(0x5eed5eed00000001), 41);
}

static void
s_ack(struct buf *b)
{
	ack(b, UINT64_C(0x5eed5eed00000001), 42);
}

static void
s_error(struct buf *b)
{
	error(b, WIRE_ERR_AUTH, "unknown school XA-999 (not in the inventory)");
}

static void
s_error_busy(struct buf *b)
{
	error(b, WIRE_ERR_BUSY, "collector at capacity: retry in 30 s");
}

static void
s_error_caps(struct buf *b)
{
	char text[WIRE_TEXT_MAX + 1] = "";

	for (int i = 0; i < 85; i++)
		strcat(text, "录");
	error(b, WIRE_ERR_INTERNAL, text);
}

/* A report whose every string is at its cap. */
static void
s_report_caps(struct buf *b)
{
	struct wire_report m;
	struct wire_if f;

	memset(&m, 0, sizeof(m));
	memset(&f, 0, sizeof(f));
	m.seq = 1;
	m.epoch = 1;
	memset(m.switch_name, 'S', WIRE_NAME_MAX);
	memset(m.address, 'a', WIRE_ADDR_MAX);
	memset(m.error, 'e', WIRE_TEXT_MAX);
	f.if_index = UINT32_MAX;
	f.admin = 3;
	f.oper = 7;
	f.duplex = WIRE_DUPLEX_FULL;
	memset(f.name, 'n', WIRE_TEXT_MAX);
	memset(f.descr, 'd', WIRE_TEXT_MAX);
	memset(f.alias, 'A', WIRE_ALIAS_MAX);
	m.n_if = 1;
	m.ifs = &f;
	if (wire_encode_report(b, &m) != 0)
		die("encode report");
}

/* A hello whose software string is at its cap and whose epoch reads as
 * text ("EPOCH-42"). */
static void
s_hello_text_epoch(struct buf *b)
{
	struct wire_hello m;

	memset(&m, 0, sizeof(m));
	m.proto = WIRE_VERSION;
	snprintf(m.agent, sizeof(m.agent), "xa017-agent");
	snprintf(m.school, sizeof(m.school), "XA-017");
	memset(m.software, 'v', WIRE_NAME_MAX);
	m.epoch = UINT64_C(0x45504f43482d3432); /* "EPOCH-42" */
	if (wire_encode_hello(b, &m) != 0)
		die("encode hello");
}

static void
s_error_ascii_caps(struct buf *b)
{
	char text[WIRE_TEXT_MAX + 1];

	memset(text, 'x', WIRE_TEXT_MAX);
	text[WIRE_TEXT_MAX] = '\0';
	error(b, WIRE_ERR_PROTOCOL, text);
}

/* One interface whose alias is at its cap and whose counters read as text. */
static void
s_report_text_counters(struct buf *b)
{
	struct wire_report m;
	struct wire_if f;

	memset(&m, 0, sizeof(m));
	memset(&f, 0, sizeof(f));
	m.seq = 9;
	m.epoch = 1;
	snprintf(m.switch_name, sizeof(m.switch_name), "access1");
	f.if_index = 1;
	f.admin = 1;
	f.oper = 1;
	f.duplex = WIRE_DUPLEX_FULL;
	f.speed_mbps = 100;
	snprintf(f.name, sizeof(f.name), "GE0/0/1");
	memset(f.alias, 'a', WIRE_ALIAS_MAX);
	f.in_octets = f.out_octets = f.in_errors = UINT64_C(0x3031323334353637);
	f.out_errors = f.in_discards = UINT64_C(0x3031323334353637);
	f.out_discards = UINT64_C(0x3031323334353637);
	m.n_if = 1;
	m.ifs = &f;
	if (wire_encode_report(b, &m) != 0)
		die("encode report");
}

static void
s_ping_pong(struct buf *b)
{
	empty(b, WIRE_PING);
	empty(b, WIRE_PONG);
}

static void
s_report_small(struct buf *b)
{
	report(b, 1, 3, WIRE_POLL_OK, "access1");
}

static void
s_report_empty(struct buf *b)
{
	report(b, 2, 0, WIRE_POLL_TIMEOUT, "core");
}

static void
s_report_error(struct buf *b)
{
	report(b, 3, 0, WIRE_POLL_ERROR, "access-3");
}

static void
s_report_48(struct buf *b)
{
	report(b, 7, 48, WIRE_POLL_OK, "access_2.north");
}

static void
s_probe(struct buf *b)
{
	probe(b, 5, 5, 4, "collector", "10.17.0.1:7470", "");
}

static void
s_probe_lost(struct buf *b)
{
	probe(b, 6, 20, 0, "smartedu", "[2001:db8::443]:443", "");
}

static void
s_probe_dns(struct buf *b)
{
	probe(b, 7, 5, 0, "教育云", "cloud.example.edu.cn:443",
	    "cannot resolve cloud.example.edu.cn: unknown node or service");
}

/* Every string at its cap; the figures at their edges. */
static void
s_probe_caps(struct buf *b)
{
	struct wire_probe m;

	memset(&m, 0, sizeof(m));
	m.seq = UINT64_MAX;
	m.epoch = 1;
	m.kind = WIRE_PROBE_LATENCY;
	for (int i = 0; i < 21; i++)
		strcat(m.label, "校");
	memset(m.target, 't', WIRE_ADDR_MAX);
	memset(m.error, 'e', WIRE_TEXT_MAX);
	m.sent = m.answered = WIRE_PROBE_MAX_SENT;
	m.rtt_max_us = UINT32_MAX;
	m.jitter_us = UINT32_MAX;
	m.interval_ms = UINT32_MAX;
	if (strlen(m.label) != WIRE_NAME_MAX)
		die("probe-caps: the label is not at its cap");
	if (wire_encode_probe(b, &m) != 0)
		die("encode probe");
}

/* A probe whose error is at its cap: its trailing byte reads as text. */
static void
s_probe_text_tail(struct buf *b)
{
	char text[WIRE_TEXT_MAX + 1];

	memset(text, 'x', WIRE_TEXT_MAX);
	text[WIRE_TEXT_MAX] = '\0';
	probe(b, 8, 3, 3, "collector", "10.17.0.1:7470", text);
}

/* A throughput result as probe_http.c reports one (ref = request id). */
static void
tp_probe(struct buf *b, uint64_t seq, uint64_t ref, uint8_t measured,
    const char *err)
{
	struct wire_probe m;

	memset(&m, 0, sizeof(m));
	m.seq = seq;
	m.epoch = UINT64_C(0x5eed5eed00000001);
	m.t_ms = UINT64_C(1767225600000) + seq * 60000;
	m.kind = WIRE_PROBE_THROUGHPUT;
	m.ref = ref;
	snprintf(m.label, sizeof(m.label), "throughput");
	snprintf(m.target, sizeof(m.target), "http://10.17.0.1:7472");
	snprintf(m.error, sizeof(m.error), "%s", err);
	m.tp.streams = 4;
	m.tp.measured = measured;
	if (measured & WIRE_TP_DOWN) {
		m.tp.down_kbps = 281000;
		m.tp.down_bytes = UINT64_C(104857600);
		m.tp.down_ms = 2985;
	}
	if (measured & WIRE_TP_UP) {
		m.tp.up_kbps = 95000;
		m.tp.up_bytes = UINT64_C(104857600);
		m.tp.up_ms = 8830;
	}
	if (wire_encode_probe(b, &m) != 0)
		die("encode throughput probe");
}

/* One check of a recording host (ref = the check's id). */
static void
host_probe(struct buf *b, uint64_t seq, uint64_t ref, const char *room,
    const char *url, int ok, uint16_t status, const char *err)
{
	struct wire_probe m;

	memset(&m, 0, sizeof(m));
	m.seq = seq;
	m.epoch = UINT64_C(0x5eed5eed00000001);
	m.t_ms = UINT64_C(1767225600000) + seq * 60000;
	m.kind = WIRE_PROBE_HOST;
	m.ref = ref;
	snprintf(m.label, sizeof(m.label), "%s", room);
	snprintf(m.target, sizeof(m.target), "%s", url);
	m.interval_ms = 60000;
	snprintf(m.error, sizeof(m.error), "%s", err);
	m.host.ok = (uint8_t)ok;
	m.host.status = status;
	m.host.time_ms = ok ? 35 : 5000;
	if (wire_encode_probe(b, &m) != 0)
		die("encode host probe");
}

static void
request(struct buf *b, uint64_t id, const char *base, uint16_t port)
{
	struct wire_probe_request m;

	memset(&m, 0, sizeof(m));
	m.id = id;
	snprintf(m.base, sizeof(m.base), "%s", base);
	m.port = port;
	snprintf(m.token, sizeof(m.token), "3f9a0c7d5e1b2a48");
	m.max_bytes = UINT64_C(104857600);
	m.max_ms = 10000;
	m.streams = 4;
	if (wire_encode_probe_request(b, &m) != 0)
		die("encode probe request");
}

/* n recording hosts, as the collector sends them after WELCOME. */
static void
checks(struct buf *b, uint32_t n)
{
	struct wire_checks m;

	memset(&m, 0, sizeof(m));
	m.interval_ms = 60000;
	m.timeout_ms = 5000;
	m.n = n;
	m.items = n ? xcalloc(n, sizeof(*m.items)) : NULL;
	for (uint32_t i = 0; i < n; i++) {
		struct wire_check *c = &m.items[i];

		c->id = 100 + i;
		snprintf(c->room, sizeof(c->room), "录播室%u", i + 1);
		snprintf(c->url, sizeof(c->url), i % 3 == 2
			? "rtsp://10.17.3.%u:554/live"
			: "http://10.17.3.%u/status", i % 250 + 1);
		if (i % 2)
			snprintf(c->expect, sizeof(c->expect), "recording");
	}
	if (wire_encode_checks(b, &m) != 0)
		die("encode checks");
	free(m.items);
}

static void
s_welcome_proto2(struct buf *b)
{
	struct wire_welcome m = {UINT64_C(0x5eed5eed00000001), 41,
	    UINT64_C(1767225600000), WIRE_PROTO_PROBES};

	if (wire_encode_welcome(b, &m) != 0)
		die("encode welcome");
}

static void
s_hello_proto2(struct buf *b)
{
	struct wire_hello m;

	memset(&m, 0, sizeof(m));
	m.proto = WIRE_PROTO;
	snprintf(m.agent, sizeof(m.agent), "xa017-agent");
	snprintf(m.school, sizeof(m.school), "XA-017");
	snprintf(m.software, sizeof(m.software), "schoolnet-agent 0.2.0");
	m.epoch = UINT64_C(0x5eed5eed00000001);
	if (wire_encode_hello(b, &m) != 0)
		die("encode hello");
}

static void
s_probe_throughput(struct buf *b)
{
	tp_probe(b, 50, 7, WIRE_TP_DOWN | WIRE_TP_UP, "");
}

static void
s_probe_throughput_down(struct buf *b)
{
	tp_probe(b, 51, 8, WIRE_TP_DOWN, "up: connection reset by peer");
}

static void
s_probe_busy(struct buf *b)
{
	tp_probe(b, 52, 9, 0, "busy");
}

/* Every string at its cap (the target is a URL: TEXT_MAX), figures at
 * their edges. */
static void
s_probe_throughput_caps(struct buf *b)
{
	struct wire_probe m;

	memset(&m, 0, sizeof(m));
	m.seq = UINT64_MAX;
	m.epoch = 1;
	m.kind = WIRE_PROBE_THROUGHPUT;
	m.ref = UINT64_MAX;
	for (int i = 0; i < 21; i++)
		strcat(m.label, "测");
	memset(m.target, 'u', WIRE_TEXT_MAX);
	memset(m.error, 'e', WIRE_TEXT_MAX);
	m.tp.streams = WIRE_PROBE_MAX_STREAMS;
	m.tp.measured = WIRE_TP_DOWN | WIRE_TP_UP;
	m.tp.down_kbps = m.tp.up_kbps = UINT32_MAX;
	m.tp.down_bytes = m.tp.up_bytes = UINT64_MAX;
	m.tp.down_ms = m.tp.up_ms = UINT32_MAX;
	if (wire_encode_probe(b, &m) != 0)
		die("encode probe");
}

static void
s_probe_host(struct buf *b)
{
	host_probe(b, 53, 100, "录播室1", "http://10.17.3.1/status", 1, 200,
	    "");
}

static void
s_probe_host_down(struct buf *b)
{
	host_probe(b, 54, 102, "录播室3", "rtsp://10.17.3.3:554/live", 0, 0,
	    "connect: connection timed out");
}

/* A host check whose error is at its cap: the kind's fields (ok 1,
 * status, time) follow, then the trailing byte. */
static void
s_probe_host_caps(struct buf *b)
{
	char room[WIRE_NAME_MAX + 1] = "", url[WIRE_TEXT_MAX + 1];
	char text[WIRE_TEXT_MAX + 1];

	for (int i = 0; i < 21; i++)
		strcat(room, "室");
	memset(url, 'h', WIRE_TEXT_MAX);
	url[WIRE_TEXT_MAX] = '\0';
	memset(text, 'x', WIRE_TEXT_MAX);
	text[WIRE_TEXT_MAX] = '\0';
	host_probe(b, 55, UINT64_MAX, room, url, 1, 0x7878, text);
}

static void
s_probe_request(struct buf *b)
{
	request(b, 7, "", 7472);
}

static void
s_probe_request_base(struct buf *b)
{
	request(b, 8, "https://collector.county.example/probe", 0);
}

static void
s_probe_request_caps(struct buf *b)
{
	struct wire_probe_request m;

	memset(&m, 0, sizeof(m));
	m.id = UINT64_MAX;
	for (int i = 0; i < 42; i++)
		strcat(m.base, "学校");
	strcat(m.base, "/pr");
	memset(m.token, 't', WIRE_NAME_MAX);
	m.port = UINT16_MAX;
	m.max_bytes = UINT64_MAX;
	m.max_ms = 300000;
	m.streams = WIRE_PROBE_MAX_STREAMS;
	if (strlen(m.base) != WIRE_TEXT_MAX)
		die("probe-request-caps: base is not at its cap");
	if (wire_encode_probe_request(b, &m) != 0)
		die("encode probe request");
}

static void
s_checks_none(struct buf *b)
{
	checks(b, 0);
}

static void
s_checks_3(struct buf *b)
{
	checks(b, 3);
}

static void
s_checks_max(struct buf *b)
{
	checks(b, WIRE_MAX_CHECKS);
}

/* One host whose strings are at their caps; expect is the last field, so
 * its trailing seed is one changed length away from a cap bug. */
static void
s_checks_caps(struct buf *b)
{
	struct wire_checks m;
	struct wire_check c;

	memset(&m, 0, sizeof(m));
	memset(&c, 0, sizeof(c));
	m.interval_ms = 120000;
	m.timeout_ms = 120000;
	m.n = 1;
	m.items = &c;
	c.id = UINT64_MAX;
	memset(c.room, 'r', WIRE_NAME_MAX);
	memset(c.url, 'u', WIRE_TEXT_MAX);
	memset(c.expect, 'e', WIRE_TEXT_MAX);
	if (wire_encode_checks(b, &m) != 0)
		die("encode checks");
}

static void
s_status(struct buf *b)
{
	struct wire_status m = {17, 250};

	if (wire_encode_status(b, &m) != 0)
		die("encode status");
}

/* What an agent sends on a fresh connection, and the collector's answers. */
static void
s_agent_session(struct buf *b)
{
	s_hello(b);
	s_status(b);
	for (uint64_t seq = 42; seq < 45; seq++)
		report(b, seq, 4, WIRE_POLL_OK, "access1");
	probe(b, 45, 5, 5, "collector", "10.17.0.1:7470", "");
	report(b, 46, 4, WIRE_POLL_OK, "access1");
	empty(b, WIRE_PING);
}

/* Protocol 2: a HELLO saying 2, then reports, latency rounds, host checks
 * and a throughput result in one sequence. */
static void
s_agent_session_proto2(struct buf *b)
{
	s_hello_proto2(b);
	s_status(b);
	report(b, 47, 4, WIRE_POLL_OK, "access1");
	probe(b, 48, 5, 5, "collector", "10.17.0.1:7470", "");
	host_probe(b, 49, 100, "录播室1", "http://10.17.3.1/status", 1, 200,
	    "");
	host_probe(b, 50, 101, "录播室2", "http://10.17.3.2/status", 0, 503,
	    "HTTP 503");
	tp_probe(b, 51, 7, WIRE_TP_DOWN | WIRE_TP_UP, "");
	empty(b, WIRE_PING);
}

static void
s_collector_session_proto2(struct buf *b)
{
	s_welcome_proto2(b);
	checks(b, 2);
	ack(b, UINT64_C(0x5eed5eed00000001), 47);
	request(b, 7, "", 7472);
	ack(b, UINT64_C(0x5eed5eed00000001), 51);
	checks(b, 0);
	empty(b, WIRE_PONG);
}

static void
s_collector_session(struct buf *b)
{
	s_welcome(b);
	ack(b, UINT64_C(0x5eed5eed00000001), 43);
	empty(b, WIRE_PONG);
	ack(b, UINT64_C(0x5eed5eed00000001), 44);
	error(b, WIRE_ERR_PROTOCOL, "malformed frame");
}

/* The single frame fill writes, one byte ('z') too long, as NAME and as
 * NAME.payload; it must be refused for exactly that. */
static void
emit_trailing(const char *name, void (*fill)(struct buf *))
{
	struct buf b;
	struct wire_header h;
	const uint8_t *p;
	char bare[256];
	uint32_t len;

	buf_init(&b, WIRE_MAX_FRAME * 4);
	fill(&b);
	if (buf_add(&b, "z", 1) != 0)
		die("buf_add");
	len = (uint32_t)(b.len - WIRE_HEADER_LEN);
	b.data[4] = (uint8_t)(len >> 24);
	b.data[5] = (uint8_t)(len >> 16);
	b.data[6] = (uint8_t)(len >> 8);
	b.data[7] = (uint8_t)len;
	if (wire_frame_next(&b, &h, &p) != 1)
		die("trailing seed does not parse");
	if (decode_as(h.type, p, h.length) != WIRE_ETRAILING)
		die("trailing seed is not refused for its last byte");
	seed_write(name, &b);
	buf_consume(&b, WIRE_HEADER_LEN);
	snprintf(bare, sizeof(bare), "%s.payload", name);
	seed_write(bare, &b);
	buf_free(&b);
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_seeds DIR\n");
		return 2;
	}
	seed_dir = argv[1];
	emit("hello", s_hello);
	emit("hello-caps", s_hello_caps);
	emit("welcome", s_welcome);
	emit("ack", s_ack);
	emit("error-auth", s_error);
	emit("error-busy", s_error_busy);
	emit("error-caps", s_error_caps);
	emit("ping-pong", s_ping_pong);
	emit("report-3-ports", s_report_small);
	emit("report-timeout", s_report_empty);
	emit("report-error", s_report_error);
	emit("report-48-ports", s_report_48);
	emit("report-caps", s_report_caps);
	emit("agent-session", s_agent_session);
	emit("collector-session", s_collector_session);
	emit("hello-text-epoch", s_hello_text_epoch);
	emit("error-ascii-caps", s_error_ascii_caps);
	emit("report-text-counters", s_report_text_counters);
	emit("status", s_status);
	emit("probe", s_probe);
	emit("probe-lost", s_probe_lost);
	emit("probe-dns", s_probe_dns);
	emit("probe-caps", s_probe_caps);
	emit_trailing("hello-trailing", s_hello_text_epoch);
	emit_trailing("error-trailing", s_error_ascii_caps);
	emit_trailing("report-trailing", s_report_text_counters);
	emit_trailing("probe-trailing", s_probe_text_tail);
	emit("hello-proto2", s_hello_proto2);
	emit("welcome-proto2", s_welcome_proto2);
	emit("probe-throughput", s_probe_throughput);
	emit("probe-throughput-down", s_probe_throughput_down);
	emit("probe-throughput-busy", s_probe_busy);
	emit("probe-throughput-caps", s_probe_throughput_caps);
	emit("probe-host", s_probe_host);
	emit("probe-host-down", s_probe_host_down);
	emit("probe-host-caps", s_probe_host_caps);
	emit("probe-request", s_probe_request);
	emit("probe-request-base", s_probe_request_base);
	emit("probe-request-caps", s_probe_request_caps);
	emit("checks-none", s_checks_none);
	emit("checks-3", s_checks_3);
	emit("checks-max", s_checks_max);
	emit("checks-caps", s_checks_caps);
	emit("agent-session-proto2", s_agent_session_proto2);
	emit("collector-session-proto2", s_collector_session_proto2);
	emit_trailing("welcome-trailing", s_welcome);
	emit_trailing("welcome-proto2-trailing", s_welcome_proto2);
	emit_trailing("probe-host-trailing", s_probe_host_caps);
	emit_trailing("probe-request-trailing", s_probe_request_caps);
	emit_trailing("checks-trailing", s_checks_caps);
	printf("make_seeds: %d seeds in %s\n", seed_count, seed_dir);
	return 0;
}
