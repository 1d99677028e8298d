/* fuzz_wire.c: the frame reader and every message codec on hostile bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "schoolnet/buf.h"
#include "schoolnet/utf8.h"
#include "schoolnet/wire.h"

/*
 * The input is what a peer sent on one connection. It is read twice: all
 * at once, and in small pieces as a slow network delivers it; both reads
 * must see the same frames with the same decoder results. Every payload
 * goes through every decoder; whatever decodes is encoded again and must
 * give back the same bytes and decode to the same fields.
 *
 * The input itself is also handed to every decoder as one payload, so the
 * fuzzer can reach a decoder's length checks without keeping a frame
 * header's length in step (the corpus has bare payloads for this).
 *
 * Lengths and counts decide everything here, and a byte-level mutator
 * rarely hits "exactly the cap plus one" in a big-endian field, so a custom
 * mutator sets a random 16- or 32-bit field to a protocol edge or moves it
 * by one, besides libFuzzer's own mutations.
 */

#define TRACE_MAX 4096

struct trace {
	int ev[TRACE_MAX];
	size_t n;
	size_t frames;
};

static void
trace_add(struct trace *t, int v)
{
	if (t->n < TRACE_MAX)
		t->ev[t->n] = v;
	t->n++;
}

static void
check_label(const char *s, size_t cap, const char *what)
{
	size_t n = strnlen(s, cap + 1);

	FUZZ_CHECK(n <= cap, "%s: %zu bytes, cap %zu", what, n, cap);
	FUZZ_CHECK(utf8_valid_label(s, n), "%s: not a valid label", what);
}

/* out holds one frame: its header must say type, and its payload must be
 * exactly the bytes it was decoded from. */
static void
check_frame(const struct buf *out, int type, const uint8_t *p, size_t len)
{
	struct wire_header h;
	const uint8_t *payload = NULL;

	FUZZ_CHECK(wire_frame_next(out, &h, &payload) == 1,
	    "%s: re-encoded frame does not parse", wire_type_name(type));
	FUZZ_CHECK(h.type == type && h.version == WIRE_VERSION,
	    "%s: re-encoded header says type %d version %d",
	    wire_type_name(type), h.type, h.version);
	FUZZ_CHECK(out->len == WIRE_HEADER_LEN + h.length,
	    "%s: frame is %zu bytes, header says payload %u",
	    wire_type_name(type), out->len, h.length);
	FUZZ_CHECK(h.length == len && memcmp(payload, p, len) == 0,
	    "%s: decode then encode changed the payload (%zu -> %u bytes)",
	    wire_type_name(type), len, h.length);
}

static int
do_hello(const uint8_t *p, size_t len)
{
	struct wire_hello m, m2;
	struct buf out;
	int rc;

	if ((rc = wire_decode_hello(p, len, &m)) != WIRE_OK)
		return rc;
	check_label(m.agent, WIRE_NAME_MAX, "hello.agent");
	check_label(m.school, WIRE_NAME_MAX, "hello.school");
	check_label(m.software, WIRE_NAME_MAX, "hello.software");
	buf_init(&out, WIRE_MAX_FRAME);
	FUZZ_CHECK(wire_encode_hello(&out, &m) == 0, "hello: encode failed");
	check_frame(&out, WIRE_HELLO, p, len);
	FUZZ_CHECK(wire_decode_hello(out.data + WIRE_HEADER_LEN,
	               out.len - WIRE_HEADER_LEN, &m2) == WIRE_OK,
	    "hello: round trip does not decode");
	FUZZ_CHECK(m.proto == m2.proto && m.epoch == m2.epoch &&
	        strcmp(m.agent, m2.agent) == 0 &&
	        strcmp(m.school, m2.school) == 0 &&
	        strcmp(m.software, m2.software) == 0,
	    "hello: round trip changed a field");
	buf_free(&out);
	return rc;
}

static int
do_welcome(const uint8_t *p, size_t len)
{
	struct wire_welcome m, m2;
	struct buf out;
	int rc;

	if ((rc = wire_decode_welcome(p, len, &m)) != WIRE_OK)
		return rc;
	buf_init(&out, WIRE_MAX_FRAME);
	FUZZ_CHECK(
	    wire_encode_welcome(&out, &m) == 0, "welcome: encode failed");
	check_frame(&out, WIRE_WELCOME, p, len);
	FUZZ_CHECK(wire_decode_welcome(out.data + WIRE_HEADER_LEN,
	               out.len - WIRE_HEADER_LEN, &m2) == WIRE_OK,
	    "welcome: round trip does not decode");
	/* proto is 1 when absent and never below 2 when present. */
	FUZZ_CHECK(len == 24 ? m.proto == WIRE_PROTO_BASE
	                     : len == 26 && m.proto >= WIRE_PROTO_PROBES,
	    "welcome: %zu bytes decoded as proto %u", len, m.proto);
	FUZZ_CHECK(m.epoch == m2.epoch && m.acked_seq == m2.acked_seq &&
	        m.server_time_ms == m2.server_time_ms && m.proto == m2.proto,
	    "welcome: round trip changed a field");
	buf_free(&out);
	return rc;
}

static int
do_ack(const uint8_t *p, size_t len)
{
	struct wire_ack m, m2;
	struct buf out;
	int rc;

	if ((rc = wire_decode_ack(p, len, &m)) != WIRE_OK)
		return rc;
	buf_init(&out, WIRE_MAX_FRAME);
	FUZZ_CHECK(wire_encode_ack(&out, &m) == 0, "ack: encode failed");
	check_frame(&out, WIRE_ACK, p, len);
	FUZZ_CHECK(wire_decode_ack(out.data + WIRE_HEADER_LEN,
	               out.len - WIRE_HEADER_LEN, &m2) == WIRE_OK,
	    "ack: round trip does not decode");
	FUZZ_CHECK(m.epoch == m2.epoch && m.seq == m2.seq,
	    "ack: round trip changed a field");
	buf_free(&out);
	return rc;
}

static int
do_error(const uint8_t *p, size_t len)
{
	struct wire_error m, m2;
	struct buf out;
	int rc;

	if ((rc = wire_decode_error(p, len, &m)) != WIRE_OK)
		return rc;
	check_label(m.message, WIRE_TEXT_MAX, "error.message");
	buf_init(&out, WIRE_MAX_FRAME);
	FUZZ_CHECK(wire_encode_error(&out, &m) == 0, "error: encode failed");
	check_frame(&out, WIRE_ERROR, p, len);
	FUZZ_CHECK(wire_decode_error(out.data + WIRE_HEADER_LEN,
	               out.len - WIRE_HEADER_LEN, &m2) == WIRE_OK,
	    "error: round trip does not decode");
	FUZZ_CHECK(m.code == m2.code && strcmp(m.message, m2.message) == 0,
	    "error: round trip changed a field");
	buf_free(&out);
	return rc;
}

static void
compare_reports(const struct wire_report *a, const struct wire_report *b)
{
	FUZZ_CHECK(a->seq == b->seq && a->epoch == b->epoch &&
	        a->t_ms == b->t_ms && a->duration_ms == b->duration_ms &&
	        a->interval_ms == b->interval_ms &&
	        a->poll_interval_s == b->poll_interval_s &&
	        a->sys_uptime == b->sys_uptime && a->pdus == b->pdus &&
	        a->status == b->status && a->flags == b->flags &&
	        a->n_if == b->n_if,
	    "report: round trip changed a header field");
	FUZZ_CHECK(strcmp(a->switch_name, b->switch_name) == 0 &&
	        strcmp(a->address, b->address) == 0 &&
	        strcmp(a->error, b->error) == 0,
	    "report: round trip changed a string");
	for (uint32_t i = 0; i < a->n_if; i++) {
		const struct wire_if *x = &a->ifs[i], *y = &b->ifs[i];

		FUZZ_CHECK(x->if_index == y->if_index &&
		        x->if_type == y->if_type && x->admin == y->admin &&
		        x->oper == y->oper && x->duplex == y->duplex &&
		        x->flags == y->flags &&
		        x->speed_mbps == y->speed_mbps &&
		        strcmp(x->name, y->name) == 0 &&
		        strcmp(x->descr, y->descr) == 0 &&
		        strcmp(x->alias, y->alias) == 0 &&
		        x->in_octets == y->in_octets &&
		        x->out_octets == y->out_octets &&
		        x->in_errors == y->in_errors &&
		        x->out_errors == y->out_errors &&
		        x->in_discards == y->in_discards &&
		        x->out_discards == y->out_discards,
		    "report: round trip changed interface %u", i);
	}
}

static int
do_report(const uint8_t *p, size_t len)
{
	struct wire_report m, m2;
	struct buf out;
	int rc;

	if ((rc = wire_decode_report(p, len, &m)) != WIRE_OK) {
		FUZZ_CHECK(m.ifs == NULL && m.n_if == 0,
		    "report: failed decode (%d) left interfaces behind", rc);
		return rc;
	}
	/* What the decoder promises the collector. */
	FUZZ_CHECK(m.seq != 0 && m.switch_name[0] != '\0' &&
	        m.status <= WIRE_POLL_ERROR && m.n_if <= WIRE_MAX_IFS &&
	        (m.n_if == 0) == (m.ifs == NULL),
	    "report: decoded fields out of range");
	check_label(m.switch_name, WIRE_NAME_MAX, "report.switch_name");
	check_label(m.address, WIRE_ADDR_MAX, "report.address");
	check_label(m.error, WIRE_TEXT_MAX, "report.error");
	for (uint32_t i = 0; i < m.n_if; i++) {
		const struct wire_if *f = &m.ifs[i];

		FUZZ_CHECK(f->if_index != 0 && f->admin <= 3 && f->oper <= 7 &&
		        f->duplex <= WIRE_DUPLEX_FULL,
		    "report: interface %u out of range", i);
		check_label(f->name, WIRE_TEXT_MAX, "if.name");
		check_label(f->descr, WIRE_TEXT_MAX, "if.descr");
		check_label(f->alias, WIRE_ALIAS_MAX, "if.alias");
	}
	buf_init(&out, WIRE_MAX_FRAME);
	FUZZ_CHECK(wire_encode_report(&out, &m) == 0, "report: encode failed");
	check_frame(&out, WIRE_REPORT, p, len);
	FUZZ_CHECK(wire_decode_report(out.data + WIRE_HEADER_LEN,
	               out.len - WIRE_HEADER_LEN, &m2) == WIRE_OK,
	    "report: round trip does not decode");
	compare_reports(&m, &m2);
	wire_report_free(&m2);
	wire_report_free(&m);
	FUZZ_CHECK(m.ifs == NULL && m.n_if == 0,
	    "report: wire_report_free left interfaces behind");
	buf_free(&out);
	return rc;
}

static int
do_status(const uint8_t *p, size_t len)
{
	struct wire_status m, m2;
	struct buf out;
	int rc;

	if ((rc = wire_decode_status(p, len, &m)) != WIRE_OK)
		return rc;
	buf_init(&out, WIRE_MAX_FRAME);
	FUZZ_CHECK(wire_encode_status(&out, &m) == 0, "status: encode failed");
	check_frame(&out, WIRE_STATUS, p, len);
	FUZZ_CHECK(wire_decode_status(out.data + WIRE_HEADER_LEN,
	               out.len - WIRE_HEADER_LEN, &m2) == WIRE_OK,
	    "status: round trip does not decode");
	FUZZ_CHECK(m.dropped == m2.dropped && m.pending == m2.pending,
	    "status: round trip changed a field");
	buf_free(&out);
	return rc;
}

/* What wire.h promises of a decoded PROBE, kind by kind. */
static void
check_probe(const struct wire_probe *m)
{
	const struct wire_throughput *t = &m->tp;

	FUZZ_CHECK(m->seq != 0 && m->label[0] != '\0' && m->target[0] != '\0',
	    "probe: decoded fields out of range");
	check_label(m->label, WIRE_NAME_MAX, "probe.label");
	check_label(m->target,
	    m->kind == WIRE_PROBE_LATENCY ? WIRE_ADDR_MAX : WIRE_TEXT_MAX,
	    "probe.target");
	check_label(m->error, WIRE_TEXT_MAX, "probe.error");
	switch (m->kind) {
	case WIRE_PROBE_LATENCY:
		FUZZ_CHECK(m->ref == 0 && m->interval_ms > 0 &&
		        m->answered <= m->sent &&
		        m->sent <= WIRE_PROBE_MAX_SENT,
		    "probe: latency fields out of range");
		FUZZ_CHECK(m->answered > 0
		        ? m->rtt_min_us <= m->rtt_avg_us &&
		            m->rtt_avg_us <= m->rtt_max_us &&
		            m->jitter_us <= m->rtt_max_us - m->rtt_min_us
		        : (m->rtt_min_us | m->rtt_avg_us | m->rtt_max_us |
		              m->jitter_us) == 0,
		    "probe: decoded figures impossible");
		break;
	case WIRE_PROBE_THROUGHPUT:
		FUZZ_CHECK(m->ref != 0 && t->streams >= 1 &&
		        t->streams <= WIRE_PROBE_MAX_STREAMS &&
		        (t->measured & ~(WIRE_TP_DOWN | WIRE_TP_UP)) == 0,
		    "probe: throughput fields out of range");
		FUZZ_CHECK((t->measured & WIRE_TP_DOWN) ||
		        (t->down_kbps == 0 && t->down_bytes == 0 &&
		            t->down_ms == 0),
		    "probe: figures of a download not measured");
		FUZZ_CHECK((t->measured & WIRE_TP_UP) ||
		        (t->up_kbps == 0 && t->up_bytes == 0 && t->up_ms == 0),
		    "probe: figures of an upload not measured");
		break;
	case WIRE_PROBE_HOST:
		FUZZ_CHECK(m->ref != 0 && m->interval_ms > 0 && m->host.ok <= 1,
		    "probe: host fields out of range");
		break;
	default:
		FUZZ_CHECK(0, "probe: kind %d decoded", m->kind);
	}
}

static int
do_probe(const uint8_t *p, size_t len)
{
	struct wire_probe m, m2;
	struct buf out;
	int rc;

	if ((rc = wire_decode_probe(p, len, &m)) != WIRE_OK)
		return rc;
	check_probe(&m);
	buf_init(&out, WIRE_MAX_FRAME);
	FUZZ_CHECK(wire_encode_probe(&out, &m) == 0, "probe: encode failed");
	check_frame(&out, WIRE_PROBE, p, len);
	FUZZ_CHECK(wire_decode_probe(out.data + WIRE_HEADER_LEN,
	               out.len - WIRE_HEADER_LEN, &m2) == WIRE_OK,
	    "probe: round trip does not decode");
	FUZZ_CHECK(m.seq == m2.seq && m.epoch == m2.epoch &&
	        m.t_ms == m2.t_ms && m.kind == m2.kind && m.ref == m2.ref &&
	        m.sent == m2.sent && m.answered == m2.answered &&
	        m.rtt_min_us == m2.rtt_min_us &&
	        m.rtt_avg_us == m2.rtt_avg_us &&
	        m.rtt_max_us == m2.rtt_max_us &&
	        m.jitter_us == m2.jitter_us &&
	        m.interval_ms == m2.interval_ms &&
	        strcmp(m.label, m2.label) == 0 &&
	        strcmp(m.target, m2.target) == 0 &&
	        strcmp(m.error, m2.error) == 0,
	    "probe: round trip changed a field");
	FUZZ_CHECK(m.tp.streams == m2.tp.streams &&
	        m.tp.measured == m2.tp.measured &&
	        m.tp.down_kbps == m2.tp.down_kbps &&
	        m.tp.up_kbps == m2.tp.up_kbps &&
	        m.tp.down_bytes == m2.tp.down_bytes &&
	        m.tp.up_bytes == m2.tp.up_bytes &&
	        m.tp.down_ms == m2.tp.down_ms && m.tp.up_ms == m2.tp.up_ms &&
	        m.host.ok == m2.host.ok && m.host.status == m2.host.status &&
	        m.host.time_ms == m2.host.time_ms,
	    "probe: round trip changed a kind's field");
	buf_free(&out);
	return rc;
}

static int
do_probe_request(const uint8_t *p, size_t len)
{
	struct wire_probe_request m, m2;
	struct buf out;
	int rc;

	if ((rc = wire_decode_probe_request(p, len, &m)) != WIRE_OK)
		return rc;
	/* What the agent may rely on (wire.h). */
	FUZZ_CHECK(m.id != 0 && m.token[0] != '\0' && m.streams >= 1 &&
	        m.streams <= WIRE_PROBE_MAX_STREAMS &&
	        m.max_bytes >= m.streams && m.max_ms > 0 &&
	        m.max_ms <= 300000 && (m.port != 0 || m.base[0] != '\0'),
	    "probe_request: decoded fields out of range");
	check_label(m.base, WIRE_TEXT_MAX, "probe_request.base");
	check_label(m.token, WIRE_NAME_MAX, "probe_request.token");
	buf_init(&out, WIRE_MAX_FRAME);
	FUZZ_CHECK(wire_encode_probe_request(&out, &m) == 0,
	    "probe_request: encode failed");
	check_frame(&out, WIRE_PROBE_REQUEST, p, len);
	FUZZ_CHECK(wire_decode_probe_request(out.data + WIRE_HEADER_LEN,
	               out.len - WIRE_HEADER_LEN, &m2) == WIRE_OK,
	    "probe_request: round trip does not decode");
	FUZZ_CHECK(m.id == m2.id && m.port == m2.port &&
	        m.max_bytes == m2.max_bytes && m.max_ms == m2.max_ms &&
	        m.streams == m2.streams && strcmp(m.base, m2.base) == 0 &&
	        strcmp(m.token, m2.token) == 0,
	    "probe_request: round trip changed a field");
	buf_free(&out);
	return rc;
}

static int
do_checks(const uint8_t *p, size_t len)
{
	struct wire_checks m, m2;
	struct buf out;
	int rc;

	if ((rc = wire_decode_checks(p, len, &m)) != WIRE_OK) {
		FUZZ_CHECK(m.items == NULL && m.n == 0,
		    "checks: failed decode (%d) left items behind", rc);
		return rc;
	}
	FUZZ_CHECK(m.n <= WIRE_MAX_CHECKS && (m.n == 0) == (m.items == NULL) &&
	        m.interval_ms >= 1000 && m.timeout_ms > 0 &&
	        m.timeout_ms <= 120000 && m.timeout_ms <= m.interval_ms,
	    "checks: decoded fields out of range");
	for (uint32_t i = 0; i < m.n; i++) {
		const struct wire_check *c = &m.items[i];

		FUZZ_CHECK(c->id != 0 && c->room[0] != '\0' &&
		        c->url[0] != '\0',
		    "checks: item %u out of range", i);
		check_label(c->room, WIRE_NAME_MAX, "check.room");
		check_label(c->url, WIRE_TEXT_MAX, "check.url");
		check_label(c->expect, WIRE_TEXT_MAX, "check.expect");
	}
	buf_init(&out, WIRE_MAX_FRAME);
	FUZZ_CHECK(wire_encode_checks(&out, &m) == 0, "checks: encode failed");
	check_frame(&out, WIRE_CHECKS, p, len);
	FUZZ_CHECK(wire_decode_checks(out.data + WIRE_HEADER_LEN,
	               out.len - WIRE_HEADER_LEN, &m2) == WIRE_OK,
	    "checks: round trip does not decode");
	FUZZ_CHECK(m.interval_ms == m2.interval_ms &&
	        m.timeout_ms == m2.timeout_ms && m.n == m2.n,
	    "checks: round trip changed a field");
	for (uint32_t i = 0; i < m.n; i++) {
		const struct wire_check *x = &m.items[i], *y = &m2.items[i];

		FUZZ_CHECK(x->id == y->id && strcmp(x->room, y->room) == 0 &&
		        strcmp(x->url, y->url) == 0 &&
		        strcmp(x->expect, y->expect) == 0,
		    "checks: round trip changed item %u", i);
	}
	wire_checks_free(&m2);
	wire_checks_free(&m);
	FUZZ_CHECK(m.items == NULL && m.n == 0,
	    "checks: wire_checks_free left items behind");
	buf_free(&out);
	return rc;
}

/*
 * Every decoder on one payload, copied to a heap block of exactly its size
 * so that AddressSanitizer sees a read past its end (in the receive buffer
 * it would land in the next frame or in spare room).
 */
static void
do_payload(struct trace *t, const uint8_t *in, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	FUZZ_CHECK(p != NULL, "out of memory");
	memcpy(p, in, len);
	trace_add(t, do_hello(p, len));
	trace_add(t, do_welcome(p, len));
	trace_add(t, do_ack(p, len));
	trace_add(t, do_error(p, len));
	trace_add(t, do_report(p, len));
	trace_add(t, do_status(p, len));
	trace_add(t, do_probe(p, len));
	trace_add(t, do_probe_request(p, len));
	trace_add(t, do_checks(p, len));
	free(p);
}

/* One whole frame from the stream. */
static void
do_frame(struct trace *t, const struct wire_header *h, const uint8_t *p)
{
	FUZZ_CHECK(h->version == WIRE_VERSION && h->type >= WIRE_HELLO &&
	        h->type <= WIRE_TYPE_MAX && h->length <= WIRE_MAX_PAYLOAD,
	    "wire_frame_next accepted version %d type %d length %u", h->version,
	    h->type, h->length);
	t->frames++;
	trace_add(t, 1000 + h->type);
	trace_add(t, (int)h->length);
	do_payload(t, p, h->length);
}

/* Read data as a connection would, chunk bytes at a time (0: all). */
static void
read_stream(const uint8_t *data, size_t size, size_t chunk, struct trace *t)
{
	struct wire_header h;
	const uint8_t *payload;
	struct buf in;
	size_t off = 0, n;
	int rc;

	/* The collector's receive buffer (server.c). */
	buf_init(&in, WIRE_MAX_FRAME + 65536);
	for (;;) {
		while ((rc = wire_frame_next(&in, &h, &payload)) == 1) {
			FUZZ_CHECK(payload == in.data + WIRE_HEADER_LEN &&
			        WIRE_HEADER_LEN + (size_t)h.length <= in.len,
			    "wire_frame_next: payload outside the buffer");
			do_frame(t, &h, payload);
			buf_consume(&in, WIRE_HEADER_LEN + h.length);
		}
		if (rc < 0) {
			/* The peer is dropped: nothing after this counts. */
			FUZZ_CHECK(rc >= WIRE_EFIELD, "bad error %d", rc);
			trace_add(t, rc);
			break;
		}
		if (off == size)
			break;
		n = chunk == 0 || chunk > size - off ? size - off : chunk;
		if (n > in.cap - in.len)
			n = in.cap - in.len;
		FUZZ_CHECK(n > 0, "receive buffer full without a whole frame");
		FUZZ_CHECK(buf_add(&in, data + off, n) == 0, "buf_add failed");
		off += n;
	}
	buf_free(&in);
}

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(
    uint8_t *data, size_t size, size_t max_size, unsigned int seed);

static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

size_t
LLVMFuzzerCustomMutator(
    uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	static const uint32_t edges[] = {0, 1, WIRE_NAME_MAX, WIRE_NAME_MAX + 1,
	    WIRE_ADDR_MAX, WIRE_ADDR_MAX + 1, WIRE_TEXT_MAX, WIRE_TEXT_MAX + 1,
	    WIRE_MAX_IFS, WIRE_MAX_IFS + 1, WIRE_MAX_PAYLOAD,
	    WIRE_MAX_PAYLOAD + 1, WIRE_PROBE_MAX_SENT, WIRE_PROBE_MAX_SENT + 1,
	    WIRE_PROTO_PROBES, WIRE_PROBE_MAX_STREAMS,
	    WIRE_PROBE_MAX_STREAMS + 1, WIRE_MAX_CHECKS, WIRE_MAX_CHECKS + 1,
	    999, 1000, 120000, 120001, 300000, 300001};
	uint32_t s = seed | 1, how = rnd(&s) % 3, v = 0;
	size_t pos, width;

	if (how != 0 || size < 2)
		size = LLVMFuzzerMutate(data, size, max_size);
	if (how == 2 || size < 2)
		return size;
	width = size >= 4 && rnd(&s) % 2 ? 4 : 2;
	pos = rnd(&s) % (size - width + 1);
	for (size_t i = 0; i < width; i++)
		v = v << 8 | data[pos + i];
	switch (rnd(&s) % 4) {
	case 0:
		v++;
		break;
	case 1:
		v--;
		break;
	default:
		v = edges[rnd(&s) % (sizeof(edges) / sizeof(edges[0]))];
	}
	for (size_t i = width; i-- > 0; v >>= 8)
		data[pos + i] = (uint8_t)v;
	return size;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct trace whole, pieces, bare;
	/* Piece sizes that split headers, strings and integers. */
	static const size_t chunks[] = {1, 3, 7, 8, 13, 64};
	size_t chunk = chunks[size % (sizeof(chunks) / sizeof(chunks[0]))];

	memset(&bare, 0, sizeof(bare));
	do_payload(&bare, data, size);
	memset(&whole, 0, sizeof(whole));
	memset(&pieces, 0, sizeof(pieces));
	read_stream(data, size, 0, &whole);
	read_stream(data, size, chunk, &pieces);
	FUZZ_CHECK(whole.n == pieces.n && whole.frames == pieces.frames &&
	        memcmp(whole.ev, pieces.ev,
	            (whole.n < TRACE_MAX ? whole.n : TRACE_MAX) *
	                sizeof(int)) == 0,
	    "reading in %zu-byte pieces gave other frames than reading at "
	    "once (%zu vs %zu frames)",
	    chunk, pieces.frames, whole.frames);
	return 0;
}
