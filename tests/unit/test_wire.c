/* test_wire.c: frame header, encoders and decoders of the agent protocol. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "schoolnet/utf8.h"
#include "schoolnet/wire.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

/* Under ASan, fail the test on a leak now (LeakSanitizer's report at exit
 * comes after criterion has already counted the test as passed). */
static void
assert_no_leaks(void)
{
#ifdef __SANITIZE_ADDRESS__
	cr_assert_eq(__lsan_do_recoverable_leak_check(), 0,
	    "LeakSanitizer found leaks (see above)");
#endif
}

/* --- an independent payload builder (big-endian, no checks) ---------- */

struct pb {
	uint8_t b[8192];
	size_t n;
};

static void
pb_bytes(struct pb *p, const void *v, size_t n)
{
	cr_assert_leq(p->n + n, sizeof(p->b));
	memcpy(p->b + p->n, v, n);
	p->n += n;
}

static void
pb_u8(struct pb *p, uint8_t v)
{
	pb_bytes(p, &v, 1);
}

static void
pb_u16(struct pb *p, uint16_t v)
{
	pb_u8(p, (uint8_t)(v >> 8));
	pb_u8(p, (uint8_t)v);
}

static void
pb_u32(struct pb *p, uint32_t v)
{
	pb_u16(p, (uint16_t)(v >> 16));
	pb_u16(p, (uint16_t)v);
}

static void
pb_u64(struct pb *p, uint64_t v)
{
	pb_u32(p, (uint32_t)(v >> 32));
	pb_u32(p, (uint32_t)v);
}

/* A string of n bytes (may be longer than any cap). */
static void
pb_strn(struct pb *p, const char *s, size_t n)
{
	pb_u16(p, (uint16_t)n);
	pb_bytes(p, s, n);
}

static void
pb_str(struct pb *p, const char *s)
{
	pb_strn(p, s, strlen(s));
}

/* REPORT fields up to and including n_if. */
static void
pb_report_head(struct pb *p, uint64_t seq, const char *sw, size_t sw_len,
    const char *addr, size_t addr_len, const char *err, size_t err_len,
    uint32_t n_if)
{
	pb_u64(p, seq);
	pb_u64(p, 9);		 /* epoch */
	pb_u64(p, 1763800000000ULL); /* t_ms */
	pb_u32(p, 150);		 /* duration_ms */
	pb_u32(p, 60000);	 /* interval_ms */
	pb_u32(p, 60);		 /* poll_interval_s */
	pb_u32(p, 123456);	 /* sys_uptime */
	pb_u32(p, 3);		 /* pdus */
	pb_u8(p, WIRE_POLL_OK);
	pb_u8(p, 0);
	pb_strn(p, sw, sw_len);
	pb_strn(p, addr, addr_len);
	pb_strn(p, err, err_len);
	pb_u32(p, n_if);
}

static void
pb_if(struct pb *p, uint32_t if_index, const char *name, size_t name_len,
    const char *descr, size_t descr_len, const char *alias, size_t alias_len)
{
	pb_u32(p, if_index);
	pb_u16(p, 6);
	pb_u8(p, 1);
	pb_u8(p, 1);
	pb_u8(p, WIRE_DUPLEX_FULL);
	pb_u8(p, WIRE_IF_RATES | WIRE_IF_HC);
	pb_u32(p, 1000);
	pb_strn(p, name, name_len);
	pb_strn(p, descr, descr_len);
	pb_strn(p, alias, alias_len);
	for (int i = 0; i < 6; i++)
		pb_u64(p, (uint64_t)i * 1000);
}

/* --- sample messages ------------------------------------------------- */

static void
fill(char *dst, const char *unit, size_t units)
{
	dst[0] = '\0';
	for (size_t i = 0; i < units; i++)
		strcat(dst, unit);
}

static void
sample_hello(struct wire_hello *m)
{
	memset(m, 0, sizeof(*m));
	m->proto = 1;
	snprintf(m->agent, sizeof(m->agent), "xian3-agent");
	snprintf(m->school, sizeof(m->school), "XA-003");
	snprintf(m->software, sizeof(m->software), "schoolnet-agent 0.1.0");
	m->epoch = 0x0123456789abcdefULL;
}

/* Three interfaces; the last one with every string at its cap. */
static struct wire_if sample_ifs[3];

static void
sample_report(struct wire_report *r)
{
	struct wire_if *f;

	memset(r, 0, sizeof(*r));
	memset(sample_ifs, 0, sizeof(sample_ifs));
	r->seq = 42;
	r->epoch = 0xfedcba9876543210ULL;
	r->t_ms = 1763800000123ULL;
	r->duration_ms = 831;
	r->interval_ms = 60012;
	r->poll_interval_s = 60;
	r->sys_uptime = 0xfffffff0u;
	r->pdus = 12;
	r->status = WIRE_POLL_OK;
	r->flags = 0;
	snprintf(r->switch_name, sizeof(r->switch_name), "access-1");
	snprintf(r->address, sizeof(r->address), "[2001:db8::2]:161");
	r->n_if = 3;
	r->ifs = sample_ifs;

	f = &sample_ifs[0];
	f->if_index = 1;
	f->if_type = 6;
	f->admin = 1;
	f->oper = 1;
	f->duplex = WIRE_DUPLEX_FULL;
	f->flags = WIRE_IF_RATES | WIRE_IF_HC;
	f->speed_mbps = 1000;
	snprintf(f->name, sizeof(f->name), "Gi0/1");
	snprintf(f->descr, sizeof(f->descr), "GigabitEthernet0/1");
	snprintf(f->alias, sizeof(f->alias), "三年级2班");
	f->in_octets = UINT64_MAX;
	f->out_octets = 7500000000ULL;
	f->in_errors = 1;
	f->out_errors = 2;
	f->in_discards = 3;
	f->out_discards = 4;

	f = &sample_ifs[1];
	f->if_index = 0xffffffffu;
	f->if_type = 0xffff;
	f->admin = 2;
	f->oper = 7;
	f->duplex = WIRE_DUPLEX_NONE;
	f->flags = 0;
	f->speed_mbps = 0;
	/* name/descr/alias empty */

	f = &sample_ifs[2];
	f->if_index = 10101;
	f->if_type = 161;
	f->admin = 3;
	f->oper = 2;
	f->duplex = WIRE_DUPLEX_HALF;
	f->flags = WIRE_IF_RATES;
	f->speed_mbps = 100000;
	memset(f->name, 'n', WIRE_TEXT_MAX);
	f->name[WIRE_TEXT_MAX] = '\0';
	fill(f->descr, "端口", WIRE_TEXT_MAX / 6); /* 42 x 6 = 252 bytes */
	strcat(f->descr, "abc");		   /* = 255 */
	fill(f->alias, "班", WIRE_ALIAS_MAX / 3); /* 85 x 3 = 255 bytes */
	f->in_octets = 0x0102030405060708ULL;
	f->out_octets = 0;
	f->in_errors = UINT64_MAX;
	f->out_errors = 0;
	f->in_discards = 0;
	f->out_discards = UINT64_MAX;
}

static void
assert_if_eq(const struct wire_if *a, const struct wire_if *b, uint32_t i)
{
	cr_assert_eq(a->if_index, b->if_index, "if %u: if_index", i);
	cr_assert_eq(a->if_type, b->if_type, "if %u: if_type", i);
	cr_assert_eq(a->admin, b->admin, "if %u: admin", i);
	cr_assert_eq(a->oper, b->oper, "if %u: oper", i);
	cr_assert_eq(a->duplex, b->duplex, "if %u: duplex", i);
	cr_assert_eq(a->flags, b->flags, "if %u: flags", i);
	cr_assert_eq(a->speed_mbps, b->speed_mbps, "if %u: speed", i);
	cr_assert_str_eq(a->name, b->name, "if %u: name", i);
	cr_assert_str_eq(a->descr, b->descr, "if %u: descr", i);
	cr_assert_str_eq(a->alias, b->alias, "if %u: alias", i);
	cr_assert_eq(a->in_octets, b->in_octets, "if %u: in_octets", i);
	cr_assert_eq(a->out_octets, b->out_octets, "if %u: out_octets", i);
	cr_assert_eq(a->in_errors, b->in_errors, "if %u: in_errors", i);
	cr_assert_eq(a->out_errors, b->out_errors, "if %u: out_errors", i);
	cr_assert_eq(a->in_discards, b->in_discards, "if %u: in_discards", i);
	cr_assert_eq(a->out_discards, b->out_discards, "if %u: out_discards",
	    i);
}

static void
assert_report_eq(const struct wire_report *a, const struct wire_report *b)
{
	cr_assert_eq(a->seq, b->seq);
	cr_assert_eq(a->epoch, b->epoch);
	cr_assert_eq(a->t_ms, b->t_ms);
	cr_assert_eq(a->duration_ms, b->duration_ms);
	cr_assert_eq(a->interval_ms, b->interval_ms);
	cr_assert_eq(a->poll_interval_s, b->poll_interval_s);
	cr_assert_eq(a->sys_uptime, b->sys_uptime);
	cr_assert_eq(a->pdus, b->pdus);
	cr_assert_eq(a->status, b->status);
	cr_assert_eq(a->flags, b->flags);
	cr_assert_str_eq(a->switch_name, b->switch_name);
	cr_assert_str_eq(a->address, b->address);
	cr_assert_str_eq(a->error, b->error);
	cr_assert_eq(a->n_if, b->n_if);
	for (uint32_t i = 0; i < a->n_if; i++)
		assert_if_eq(&a->ifs[i], &b->ifs[i], i);
}

/*
 * Check the single frame in out: header fields, then copy its payload to
 * an exactly sized heap block (so ASan sees any read past the end).
 */
static uint8_t *
frame_payload(const struct buf *out, enum wire_type type, size_t *len)
{
	struct wire_header h;
	const uint8_t *payload = NULL;
	uint8_t *copy;

	cr_assert_geq(out->len, WIRE_HEADER_LEN);
	cr_assert_eq(out->data[0], 0x53);
	cr_assert_eq(out->data[1], 0x4e);
	cr_assert_eq(wire_frame_next(out, &h, &payload), 1);
	cr_assert_eq(h.version, WIRE_VERSION);
	cr_assert_eq(h.type, type, "type %u, want %d", h.type, type);
	cr_assert_eq(h.length, out->len - WIRE_HEADER_LEN,
	    "header says %u, frame carries %zu", h.length,
	    out->len - WIRE_HEADER_LEN);
	cr_assert_eq(payload, out->data + WIRE_HEADER_LEN);
	*len = h.length;
	copy = malloc(h.length ? h.length : 1);
	cr_assert_not_null(copy);
	memcpy(copy, payload, h.length);
	return copy;
}

/* Exactly sized copy of p[0..n). */
static uint8_t *
dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	cr_assert_not_null(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

/* --- known bytes ------------------------------------------------------ */

Test(wire, ack_known_bytes)
{
	static const uint8_t want[] = {0x53, 0x4e, 0x01, 0x04, 0x00, 0x00, 0x00,
	    0x10, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x00, 0x00,
	    0x00, 0x00, 0x00, 0x00, 0x01, 0x2c};
	struct wire_ack a = {.epoch = 0x0102030405060708ULL, .seq = 300};
	struct buf out;

	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_ack(&out, &a), 0);
	cr_assert_eq(out.len, sizeof(want));
	cr_assert_arr_eq(out.data, want, sizeof(want));
	buf_free(&out);
}

Test(wire, hello_known_bytes)
{
	struct wire_hello m = {.proto = 1, .agent = "a", .school = "s",
	    .software = "", .epoch = 5};
	struct pb p = {.n = 0};
	struct buf out;

	pb_u16(&p, 1);
	pb_str(&p, "a");
	pb_str(&p, "s");
	pb_str(&p, "");
	pb_u64(&p, 5);
	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_hello(&out, &m), 0);
	cr_assert_eq(out.len, WIRE_HEADER_LEN + p.n);
	cr_assert_arr_eq(out.data + WIRE_HEADER_LEN, p.b, p.n);
	buf_free(&out);
}

Test(wire, report_builder_matches_encoder)
{
	/* The hand-written builder used below lays fields out like the
	 * encoder does; otherwise the tests built on it prove nothing. */
	struct wire_if f;
	struct wire_report r;
	struct pb p = {.n = 0};
	struct buf out;

	memset(&f, 0, sizeof(f));
	f.if_index = 5;
	f.if_type = 6;
	f.admin = 1;
	f.oper = 1;
	f.duplex = WIRE_DUPLEX_FULL;
	f.flags = WIRE_IF_RATES | WIRE_IF_HC;
	f.speed_mbps = 1000;
	strcpy(f.name, "Gi0/5");
	strcpy(f.alias, "三年级2班");
	f.in_octets = 0;
	f.out_octets = 1000;
	f.in_errors = 2000;
	f.out_errors = 3000;
	f.in_discards = 4000;
	f.out_discards = 5000;
	memset(&r, 0, sizeof(r));
	r.seq = 1;
	r.epoch = 9;
	r.t_ms = 1763800000000ULL;
	r.duration_ms = 150;
	r.interval_ms = 60000;
	r.poll_interval_s = 60;
	r.sys_uptime = 123456;
	r.pdus = 3;
	strcpy(r.switch_name, "sw");
	strcpy(r.address, "10.0.0.1:161");
	r.n_if = 1;
	r.ifs = &f;
	pb_report_head(&p, 1, "sw", 2, "10.0.0.1:161", 12, "", 0, 1);
	pb_if(&p, 5, "Gi0/5", 5, "", 0, "三年级2班", strlen("三年级2班"));
	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_report(&out, &r), 0);
	cr_assert_eq(out.len, WIRE_HEADER_LEN + p.n);
	cr_assert_arr_eq(out.data + WIRE_HEADER_LEN, p.b, p.n);
	buf_free(&out);
}

/* --- round trips ----------------------------------------------------- */

Test(wire, roundtrip_hello)
{
	struct wire_hello m, back;
	struct buf out;
	uint8_t *pl;
	size_t n;

	sample_hello(&m);
	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_hello(&out, &m), 0);
	pl = frame_payload(&out, WIRE_HELLO, &n);
	memset(&back, 0x5a, sizeof(back));
	cr_assert_eq(wire_decode_hello(pl, n, &back), WIRE_OK);
	cr_assert_eq(back.proto, 1);
	cr_assert_str_eq(back.agent, m.agent);
	cr_assert_str_eq(back.school, m.school);
	cr_assert_str_eq(back.software, m.software);
	cr_assert_eq(back.epoch, m.epoch);
	free(pl);
	buf_free(&out);
}

Test(wire, roundtrip_hello_max_and_utf8)
{
	struct wire_hello m, back;
	struct buf out;
	uint8_t *pl;
	size_t n;

	memset(&m, 0, sizeof(m));
	m.proto = 0xffff;
	memset(m.agent, 'a', WIRE_NAME_MAX);
	fill(m.school, "学", WIRE_NAME_MAX / 3); /* 21 x 3 = 63 bytes */
	memset(m.software, 'v', WIRE_NAME_MAX);
	m.epoch = UINT64_MAX;
	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_hello(&out, &m), 0);
	pl = frame_payload(&out, WIRE_HELLO, &n);
	cr_assert_eq(n, 2 + 3 * (2 + WIRE_NAME_MAX) + 8);
	cr_assert_eq(wire_decode_hello(pl, n, &back), WIRE_OK);
	cr_assert_eq(back.proto, 0xffff);
	cr_assert_str_eq(back.agent, m.agent);
	cr_assert_str_eq(back.school, m.school);
	cr_assert_str_eq(back.software, m.software);
	cr_assert_eq(back.epoch, UINT64_MAX);
	free(pl);
	buf_free(&out);
}

Test(wire, roundtrip_welcome)
{
	struct wire_welcome m = {.epoch = 7, .acked_seq = UINT64_MAX,
	    .server_time_ms = 1763800000999ULL};
	struct wire_welcome back;
	struct buf out;
	uint8_t *pl;
	size_t n;

	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_welcome(&out, &m), 0);
	pl = frame_payload(&out, WIRE_WELCOME, &n);
	cr_assert_eq(n, 24);
	cr_assert_eq(wire_decode_welcome(pl, n, &back), WIRE_OK);
	cr_assert_eq(back.epoch, 7);
	cr_assert_eq(back.acked_seq, UINT64_MAX);
	cr_assert_eq(back.server_time_ms, 1763800000999ULL);
	free(pl);
	buf_free(&out);
}

Test(wire, roundtrip_ack)
{
	struct wire_ack m = {.epoch = 0x8000000000000001ULL, .seq = 123456789};
	struct wire_ack back;
	struct buf out;
	uint8_t *pl;
	size_t n;

	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_ack(&out, &m), 0);
	pl = frame_payload(&out, WIRE_ACK, &n);
	cr_assert_eq(n, 16);
	cr_assert_eq(wire_decode_ack(pl, n, &back), WIRE_OK);
	cr_assert_eq(back.epoch, m.epoch);
	cr_assert_eq(back.seq, m.seq);
	free(pl);
	buf_free(&out);
}

Test(wire, roundtrip_error)
{
	struct wire_error m, back;
	struct buf out;
	uint8_t *pl;
	size_t n;

	memset(&m, 0, sizeof(m));
	m.code = WIRE_ERR_AUTH;
	snprintf(m.message, sizeof(m.message), "学校代码 XA-999 不在清单中");
	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_error(&out, &m), 0);
	pl = frame_payload(&out, WIRE_ERROR, &n);
	cr_assert_eq(wire_decode_error(pl, n, &back), WIRE_OK);
	cr_assert_eq(back.code, WIRE_ERR_AUTH);
	cr_assert_str_eq(back.message, m.message);
	free(pl);

	/* Longest message. */
	buf_reset(&out);
	memset(m.message, 'x', WIRE_TEXT_MAX);
	m.message[WIRE_TEXT_MAX] = '\0';
	m.code = 0xffff;
	cr_assert_eq(wire_encode_error(&out, &m), 0);
	pl = frame_payload(&out, WIRE_ERROR, &n);
	cr_assert_eq(n, 2 + 2 + WIRE_TEXT_MAX);
	cr_assert_eq(wire_decode_error(pl, n, &back), WIRE_OK);
	cr_assert_eq(back.code, 0xffff);
	cr_assert_str_eq(back.message, m.message);
	free(pl);
	buf_free(&out);
}

Test(wire, roundtrip_ping_pong)
{
	struct buf out;
	uint8_t *pl;
	size_t n;

	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_empty(&out, WIRE_PING), 0);
	cr_assert_eq(out.len, WIRE_HEADER_LEN);
	pl = frame_payload(&out, WIRE_PING, &n);
	cr_assert_eq(n, 0);
	free(pl);
	buf_reset(&out);
	cr_assert_eq(wire_encode_empty(&out, WIRE_PONG), 0);
	pl = frame_payload(&out, WIRE_PONG, &n);
	cr_assert_eq(n, 0);
	free(pl);
	buf_free(&out);
}

Test(wire, roundtrip_report)
{
	struct wire_report r, back;
	struct buf out;
	uint8_t *pl;
	size_t n;

	sample_report(&r);
	snprintf(r.error, sizeof(r.error), "partial walk: ifXTable missing");
	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_report(&out, &r), 0);
	pl = frame_payload(&out, WIRE_REPORT, &n);
	cr_assert_eq(wire_decode_report(pl, n, &back), WIRE_OK);
	assert_report_eq(&r, &back);
	cr_assert_str_eq(back.ifs[0].alias, "三年级2班");
	cr_assert_eq(strlen(back.ifs[2].alias), WIRE_ALIAS_MAX);
	cr_assert_eq(strlen(back.ifs[2].name), WIRE_TEXT_MAX);
	cr_assert_eq(strlen(back.ifs[2].descr), WIRE_TEXT_MAX);
	wire_report_free(&back);
	cr_assert_null(back.ifs);
	cr_assert_eq(back.n_if, 0);
	free(pl);
	buf_free(&out);
	assert_no_leaks();
}

Test(wire, roundtrip_report_max_header_strings)
{
	struct wire_report r, back;
	struct buf out;
	uint8_t *pl;
	size_t n;

	sample_report(&r);
	memset(r.switch_name, 's', WIRE_NAME_MAX);
	r.switch_name[WIRE_NAME_MAX] = '\0';
	memset(r.address, 'h', WIRE_ADDR_MAX);
	r.address[WIRE_ADDR_MAX] = '\0';
	fill(r.error, "超时", WIRE_TEXT_MAX / 6);
	strcat(r.error, "...");
	cr_assert_eq(strlen(r.error), WIRE_TEXT_MAX);
	r.status = WIRE_POLL_ERROR;
	r.flags = WIRE_REPORT_REBOOTED;
	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_report(&out, &r), 0);
	pl = frame_payload(&out, WIRE_REPORT, &n);
	cr_assert_eq(wire_decode_report(pl, n, &back), WIRE_OK);
	assert_report_eq(&r, &back);
	wire_report_free(&back);
	free(pl);
	buf_free(&out);
}

Test(wire, roundtrip_report_no_interfaces)
{
	struct wire_report r, back;
	struct buf out;
	uint8_t *pl;
	size_t n;

	sample_report(&r);
	r.n_if = 0;
	r.ifs = NULL;
	r.status = WIRE_POLL_TIMEOUT;
	snprintf(r.error, sizeof(r.error), "no answer");
	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_report(&out, &r), 0);
	pl = frame_payload(&out, WIRE_REPORT, &n);
	cr_assert_eq(wire_decode_report(pl, n, &back), WIRE_OK);
	assert_report_eq(&r, &back);
	cr_assert_null(back.ifs);
	wire_report_free(&back);
	free(pl);
	buf_free(&out);
}

Test(wire, roundtrip_report_max_interfaces)
{
	struct wire_report r, back;
	struct buf out;
	uint8_t *pl;
	size_t n;

	sample_report(&r);
	r.n_if = WIRE_MAX_IFS;
	r.ifs = calloc(WIRE_MAX_IFS, sizeof(*r.ifs));
	cr_assert_not_null(r.ifs);
	for (uint32_t i = 0; i < WIRE_MAX_IFS; i++) {
		r.ifs[i].if_index = i + 1;
		r.ifs[i].oper = (uint8_t)(i % 8);
		r.ifs[i].in_octets = (uint64_t)i << 33;
		snprintf(r.ifs[i].name, sizeof(r.ifs[i].name), "p%u", i);
	}
	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_report(&out, &r), 0);
	pl = frame_payload(&out, WIRE_REPORT, &n);
	cr_assert_eq(wire_decode_report(pl, n, &back), WIRE_OK);
	assert_report_eq(&r, &back);
	wire_report_free(&back);
	free(pl);
	free(r.ifs);
	buf_free(&out);
}

/* --- header ---------------------------------------------------------- */

Test(wire, header_needs_more)
{
	static const uint8_t h[8] = {0x53, 0x4e, 0x01, 0x03, 0, 0, 0, 0x10};
	struct wire_header out;

	for (size_t len = 0; len < WIRE_HEADER_LEN; len++) {
		uint8_t *p = dup_bytes(h, len);

		cr_assert_eq(wire_header_parse(p, len, &out), 1,
		    "%zu bytes: want 'need more'", len);
		free(p);
	}
	cr_assert_eq(wire_header_parse(h, 8, &out), WIRE_OK);
	cr_assert_eq(out.version, 1);
	cr_assert_eq(out.type, WIRE_REPORT);
	cr_assert_eq(out.length, 16);
}

Test(wire, header_bad_magic_early)
{
	struct wire_header out;
	uint8_t one[1] = {'G'};
	uint8_t two[2] = {0x53, 'E'};
	const char *http = "GET / HTTP/1.1\r\n";

	cr_assert_eq(wire_header_parse(one, 1, &out), WIRE_EMAGIC,
	    "first byte is enough");
	cr_assert_eq(wire_header_parse(two, 2, &out), WIRE_EMAGIC);
	cr_assert_eq(wire_header_parse((const uint8_t *)http, strlen(http),
			 &out), WIRE_EMAGIC);
	/* Byte-swapped magic ("NS"). */
	cr_assert_eq(wire_header_parse((const uint8_t *)"NS\x01\x01\0\0\0\0", 8,
			 &out), WIRE_EMAGIC);
}

Test(wire, header_version)
{
	uint8_t h[8] = {0x53, 0x4e, 0x02, 0x01, 0, 0, 0, 0};
	struct wire_header out;

	cr_assert_eq(wire_header_parse(h, 8, &out), WIRE_EVERSION);
	h[2] = 0;
	cr_assert_eq(wire_header_parse(h, 8, &out), WIRE_EVERSION);
	h[2] = 0xff;
	cr_assert_eq(wire_header_parse(h, 8, &out), WIRE_EVERSION);
}

Test(wire, header_types)
{
	uint8_t h[8] = {0x53, 0x4e, 0x01, 0x00, 0, 0, 0, 0};
	struct wire_header out;

	cr_assert_eq(wire_header_parse(h, 8, &out), WIRE_ETYPE, "type 0");
	for (int t = WIRE_HELLO; t <= WIRE_TYPE_MAX; t++) {
		h[3] = (uint8_t)t;
		cr_assert_eq(wire_header_parse(h, 8, &out), WIRE_OK, "type %d",
		    t);
		cr_assert_eq(out.type, t);
	}
	for (int t = WIRE_TYPE_MAX + 1; t <= 255; t++) {
		h[3] = (uint8_t)t;
		cr_assert_eq(wire_header_parse(h, 8, &out), WIRE_ETYPE,
		    "type %d", t);
	}
}

Test(wire, header_length_cap)
{
	uint8_t h[8] = {0x53, 0x4e, 0x01, 0x03, 0x00, 0x10, 0x00, 0x00};
	struct wire_header out;

	/* 0x00100000 = WIRE_MAX_PAYLOAD exactly: fine. */
	cr_assert_eq(wire_header_parse(h, 8, &out), WIRE_OK);
	cr_assert_eq(out.length, WIRE_MAX_PAYLOAD);
	h[7] = 0x01;
	cr_assert_eq(wire_header_parse(h, 8, &out), WIRE_ETOOBIG);
	memset(h + 4, 0xff, 4);
	cr_assert_eq(wire_header_parse(h, 8, &out), WIRE_ETOOBIG);
	h[4] = 0x80;
	h[5] = h[6] = h[7] = 0;
	cr_assert_eq(wire_header_parse(h, 8, &out), WIRE_ETOOBIG);
}

Test(wire, frame_next_partial_then_rest)
{
	struct wire_report r, back;
	struct buf frame, in;
	struct wire_header h;
	const uint8_t *payload;

	sample_report(&r);
	buf_init(&frame, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_report(&frame, &r), 0);
	cr_assert_eq(wire_encode_empty(&frame, WIRE_PING), 0);
	buf_init(&in, WIRE_MAX_FRAME);
	cr_assert_eq(wire_frame_next(&in, &h, &payload), 0, "empty buffer");
	/* Arrive in pieces of 1, 7, 13 ... bytes: no frame until it is all
	 * there. */
	size_t first = frame.len - WIRE_HEADER_LEN; /* the report frame */
	size_t off = 0, step = 1;

	while (off < first) {
		size_t n = step < first - off ? step : first - off;

		cr_assert_eq(wire_frame_next(&in, &h, &payload), 0,
		    "frame reported complete at %zu of %zu bytes", in.len,
		    first);
		cr_assert_eq(buf_add(&in, frame.data + off, n), 0);
		off += n;
		step += 6;
	}
	cr_assert_eq(wire_frame_next(&in, &h, &payload), 1);
	cr_assert_eq(h.type, WIRE_REPORT);
	cr_assert_eq(WIRE_HEADER_LEN + h.length, first);
	cr_assert_eq(wire_decode_report(payload, h.length, &back), WIRE_OK);
	assert_report_eq(&r, &back);
	wire_report_free(&back);
	buf_consume(&in, WIRE_HEADER_LEN + h.length);
	cr_assert_eq(in.len, 0);
	/* Then the PING, in one go. */
	cr_assert_eq(buf_add(&in, frame.data + first, WIRE_HEADER_LEN), 0);
	cr_assert_eq(wire_frame_next(&in, &h, &payload), 1);
	cr_assert_eq(h.type, WIRE_PING);
	cr_assert_eq(h.length, 0);
	buf_free(&in);
	buf_free(&frame);
}

Test(wire, frame_next_two_frames_in_one_read)
{
	struct wire_ack a = {.epoch = 1, .seq = 2}, back;
	struct buf in;
	struct wire_header h;
	const uint8_t *payload;

	buf_init(&in, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_ack(&in, &a), 0);
	a.seq = 3;
	cr_assert_eq(wire_encode_ack(&in, &a), 0);
	cr_assert_eq(wire_frame_next(&in, &h, &payload), 1);
	cr_assert_eq(wire_decode_ack(payload, h.length, &back), WIRE_OK);
	cr_assert_eq(back.seq, 2);
	buf_consume(&in, WIRE_HEADER_LEN + h.length);
	cr_assert_eq(wire_frame_next(&in, &h, &payload), 1);
	cr_assert_eq(wire_decode_ack(payload, h.length, &back), WIRE_OK);
	cr_assert_eq(back.seq, 3);
	buf_consume(&in, WIRE_HEADER_LEN + h.length);
	cr_assert_eq(wire_frame_next(&in, &h, &payload), 0);
	buf_free(&in);
}

Test(wire, frame_next_bad_header)
{
	struct buf in;
	struct wire_header h;
	const uint8_t *payload;
	static const uint8_t big[8] = {0x53, 0x4e, 1, 3, 0x7f, 0xff, 0xff, 0xff};

	buf_init(&in, 1024);
	cr_assert_eq(buf_add(&in, "X", 1), 0);
	cr_assert_eq(wire_frame_next(&in, &h, &payload), WIRE_EMAGIC);
	buf_reset(&in);
	/* A 2 GB announcement is refused from the header alone. */
	cr_assert_eq(buf_add(&in, big, sizeof(big)), 0);
	cr_assert_eq(wire_frame_next(&in, &h, &payload), WIRE_ETOOBIG);
	buf_free(&in);
}

/* --- decoders: truncation and trailing bytes ------------------------- */

typedef int (*decode_fn)(const uint8_t *, size_t, void *);

static int
dec_hello(const uint8_t *p, size_t n, void *m)
{
	return wire_decode_hello(p, n, m);
}

static int
dec_welcome(const uint8_t *p, size_t n, void *m)
{
	return wire_decode_welcome(p, n, m);
}

static int
dec_ack(const uint8_t *p, size_t n, void *m)
{
	return wire_decode_ack(p, n, m);
}

static int
dec_error(const uint8_t *p, size_t n, void *m)
{
	return wire_decode_error(p, n, m);
}

static int
dec_report(const uint8_t *p, size_t n, void *m)
{
	int rc = wire_decode_report(p, n, m);

	if (rc == WIRE_OK)
		wire_report_free(m);
	return rc;
}

static int
dec_probe(const uint8_t *p, size_t n, void *m)
{
	return wire_decode_probe(p, n, m);
}

static int
dec_probe_request(const uint8_t *p, size_t n, void *m)
{
	return wire_decode_probe_request(p, n, m);
}

/* A failed decode must leave no items behind; a good one is freed here. */
static int
dec_checks(const uint8_t *p, size_t n, void *m)
{
	struct wire_checks *c = m;
	int rc = wire_decode_checks(p, n, c);

	if (rc != WIRE_OK)
		cr_assert(c->items == NULL && c->n == 0,
		    "checks: failed decode (%d) left items behind", rc);
	wire_checks_free(c);
	return rc;
}

/* Every proper prefix of payload must be refused as truncated. */
static void
check_truncations(const uint8_t *payload, size_t full, decode_fn fn,
    const char *what)
{
	union {
		struct wire_hello h;
		struct wire_welcome w;
		struct wire_ack a;
		struct wire_error e;
		struct wire_report r;
		struct wire_probe pr;
		struct wire_probe_request rq;
		struct wire_checks ck;
	} m;

	for (size_t len = 0; len < full; len++) {
		uint8_t *p = dup_bytes(payload, len);
		int rc = fn(p, len, &m);

		cr_assert_eq(rc, WIRE_ETRUNCATED,
		    "%s cut to %zu of %zu bytes: got %d (%s)", what, len, full,
		    rc, wire_strerror(rc));
		free(p);
	}
	/* And the whole payload decodes; one more byte is trailing junk. */
	{
		uint8_t *p = malloc(full + 1);

		cr_assert_not_null(p);
		memcpy(p, payload, full);
		p[full] = 0;
		cr_assert_eq(fn(p, full, &m), WIRE_OK, "%s: whole payload",
		    what);
		cr_assert_eq(fn(p, full + 1, &m), WIRE_ETRAILING,
		    "%s + 1 byte", what);
		free(p);
	}
}

Test(wire, truncations_of_every_message)
{
	struct wire_hello hello;
	struct wire_welcome welcome = {1, 2, 3, 0};
	struct wire_ack ack = {4, 5};
	struct wire_error err = {.code = 1, .message = "版本不支持"};
	struct wire_report r;
	struct buf out;
	uint8_t *pl;
	size_t n;

	sample_hello(&hello);
	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_hello(&out, &hello), 0);
	pl = frame_payload(&out, WIRE_HELLO, &n);
	check_truncations(pl, n, dec_hello, "HELLO");
	free(pl);
	buf_reset(&out);
	cr_assert_eq(wire_encode_welcome(&out, &welcome), 0);
	pl = frame_payload(&out, WIRE_WELCOME, &n);
	check_truncations(pl, n, dec_welcome, "WELCOME");
	free(pl);
	buf_reset(&out);
	cr_assert_eq(wire_encode_ack(&out, &ack), 0);
	pl = frame_payload(&out, WIRE_ACK, &n);
	check_truncations(pl, n, dec_ack, "ACK");
	free(pl);
	buf_reset(&out);
	cr_assert_eq(wire_encode_error(&out, &err), 0);
	pl = frame_payload(&out, WIRE_ERROR, &n);
	check_truncations(pl, n, dec_error, "ERROR");
	free(pl);
	buf_reset(&out);
	sample_report(&r);
	snprintf(r.error, sizeof(r.error), "slow");
	cr_assert_eq(wire_encode_report(&out, &r), 0);
	pl = frame_payload(&out, WIRE_REPORT, &n);
	check_truncations(pl, n, dec_report, "REPORT");
	free(pl);
	buf_free(&out);
	assert_no_leaks();
}

Test(wire, report_trailing_bytes_after_interfaces)
{
	struct pb p = {.n = 0};
	struct wire_report r;

	pb_report_head(&p, 1, "sw", 2, "", 0, "", 0, 1);
	pb_if(&p, 1, "", 0, "", 0, "", 0);
	cr_assert_eq(wire_decode_report(p.b, p.n, &r), WIRE_OK);
	wire_report_free(&r);
	/* A second interface the count does not announce. */
	pb_if(&p, 2, "", 0, "", 0, "", 0);
	cr_assert_eq(wire_decode_report(p.b, p.n, &r), WIRE_ETRAILING);
	cr_assert_null(r.ifs, "ifs freed on error");
	cr_assert_eq(r.n_if, 0);
	assert_no_leaks();
}

/* --- decoders: string checks ------------------------------------------ */

static char big[400];

static void
init_big(void)
{
	memset(big, 'x', sizeof(big) - 1);
}

Test(wire, hello_string_over_cap, .init = init_big)
{
	struct wire_hello m;

	for (int which = 0; which < 3; which++) {
		struct pb p = {.n = 0};

		pb_u16(&p, 1);
		for (int i = 0; i < 3; i++)
			pb_strn(&p, big,
			    i == which ? WIRE_NAME_MAX + 1 : WIRE_NAME_MAX);
		pb_u64(&p, 1);
		cr_assert_eq(wire_decode_hello(p.b, p.n, &m), WIRE_EFIELD,
		    "string %d one byte over the cap", which);
	}
}

Test(wire, error_string_over_cap, .init = init_big)
{
	struct wire_error m;
	struct pb p = {.n = 0};

	pb_u16(&p, 1);
	pb_strn(&p, big, WIRE_TEXT_MAX);
	cr_assert_eq(wire_decode_error(p.b, p.n, &m), WIRE_OK);
	p.n = 0;
	pb_u16(&p, 1);
	pb_strn(&p, big, WIRE_TEXT_MAX + 1);
	cr_assert_eq(wire_decode_error(p.b, p.n, &m), WIRE_EFIELD);
	/* A length far beyond the payload is a field error, not a read. */
	p.n = 0;
	pb_u16(&p, 1);
	pb_u16(&p, 0xffff);
	cr_assert_eq(wire_decode_error(p.b, p.n, &m), WIRE_EFIELD);
}

Test(wire, report_strings_over_cap, .init = init_big)
{
	struct wire_report r;
	struct {
		size_t sw, addr, err, name, descr, alias;
		int want;
	} cases[] = {
	    {WIRE_NAME_MAX, WIRE_ADDR_MAX, WIRE_TEXT_MAX, WIRE_TEXT_MAX,
		WIRE_TEXT_MAX, WIRE_ALIAS_MAX, WIRE_OK},
	    {WIRE_NAME_MAX + 1, 1, 0, 0, 0, 0, WIRE_EFIELD},
	    {1, WIRE_ADDR_MAX + 1, 0, 0, 0, 0, WIRE_EFIELD},
	    {1, 1, WIRE_TEXT_MAX + 1, 0, 0, 0, WIRE_EFIELD},
	    {1, 1, 0, WIRE_TEXT_MAX + 1, 0, 0, WIRE_EFIELD},
	    {1, 1, 0, 0, WIRE_TEXT_MAX + 1, 0, WIRE_EFIELD},
	    {1, 1, 0, 0, 0, WIRE_ALIAS_MAX + 1, WIRE_EFIELD},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pb p = {.n = 0};
		int rc;

		pb_report_head(&p, 1, big, cases[i].sw, big, cases[i].addr, big,
		    cases[i].err, 2);
		pb_if(&p, 1, "a", 1, "b", 1, "c", 1);
		pb_if(&p, 2, big, cases[i].name, big, cases[i].descr, big,
		    cases[i].alias);
		rc = wire_decode_report(p.b, p.n, &r);
		cr_assert_eq(rc, cases[i].want, "case %zu: got %d (%s)", i, rc,
		    wire_strerror(rc));
		if (rc == WIRE_OK) {
			cr_assert_eq(strlen(r.switch_name), WIRE_NAME_MAX);
			cr_assert_eq(strlen(r.ifs[1].alias), WIRE_ALIAS_MAX);
		} else {
			cr_assert_null(r.ifs);
		}
		wire_report_free(&r);
	}
	assert_no_leaks();
}

static const char *const bad_strings[] = {
    "\xc0\xaf",		/* overlong '/' */
    "\xe0\x80\xaf",	/* overlong, 3 bytes */
    "\xed\xa0\x80",	/* surrogate */
    "\xf4\x90\x80\x80", /* above U+10FFFF */
    "ok\xe4\xb8",	/* truncated character at the end */
    "\x80",		/* lone continuation */
    "caf\xe9",		/* Latin-1 */
    "a\nb",		/* control characters */
    "a\rb",
    "\x1b[2J",
    "del\x7f",
};

Test(wire, hello_bad_utf8_and_controls)
{
	struct wire_hello m, back;
	struct buf out;

	buf_init(&out, WIRE_MAX_FRAME);
	for (size_t i = 0; i < sizeof(bad_strings) / sizeof(*bad_strings);
	     i++) {
		for (int which = 0; which < 3; which++) {
			uint8_t *pl;
			size_t n;

			sample_hello(&m);
			snprintf(which == 0 ? m.agent
				 : which == 1 ? m.school
					      : m.software,
			    WIRE_NAME_MAX + 1, "%s", bad_strings[i]);
			buf_reset(&out);
			cr_assert_eq(wire_encode_hello(&out, &m), 0);
			pl = frame_payload(&out, WIRE_HELLO, &n);
			cr_assert_eq(wire_decode_hello(pl, n, &back),
			    WIRE_EFIELD, "bad string %zu in field %d", i,
			    which);
			free(pl);
		}
	}
	buf_free(&out);
}

Test(wire, report_bad_utf8_and_controls)
{
	struct wire_report r, back;
	struct buf out;

	buf_init(&out, WIRE_MAX_FRAME);
	for (size_t i = 0; i < sizeof(bad_strings) / sizeof(*bad_strings);
	     i++) {
		for (int which = 0; which < 6; which++) {
			char *fields[6];
			uint8_t *pl;
			size_t n;

			sample_report(&r);
			fields[0] = r.switch_name;
			fields[1] = r.address;
			fields[2] = r.error;
			fields[3] = sample_ifs[1].name;
			fields[4] = sample_ifs[1].descr;
			fields[5] = sample_ifs[2].alias;
			strcpy(fields[which], bad_strings[i]);
			buf_reset(&out);
			cr_assert_eq(wire_encode_report(&out, &r), 0);
			pl = frame_payload(&out, WIRE_REPORT, &n);
			cr_assert_eq(wire_decode_report(pl, n, &back),
			    WIRE_EFIELD, "bad string %zu in field %d", i,
			    which);
			cr_assert_null(back.ifs);
			free(pl);
		}
	}
	buf_free(&out);
	assert_no_leaks();
}

Test(wire, error_bad_utf8)
{
	struct wire_error m = {.code = 1}, back;
	struct buf out;

	buf_init(&out, WIRE_MAX_FRAME);
	for (size_t i = 0; i < sizeof(bad_strings) / sizeof(*bad_strings);
	     i++) {
		uint8_t *pl;
		size_t n;

		snprintf(m.message, sizeof(m.message), "%s", bad_strings[i]);
		buf_reset(&out);
		cr_assert_eq(wire_encode_error(&out, &m), 0);
		pl = frame_payload(&out, WIRE_ERROR, &n);
		cr_assert_eq(wire_decode_error(pl, n, &back), WIRE_EFIELD,
		    "bad string %zu", i);
		free(pl);
	}
	/* Tab is allowed in labels. */
	snprintf(m.message, sizeof(m.message), "a\tb");
	buf_reset(&out);
	cr_assert_eq(wire_encode_error(&out, &m), 0);
	{
		uint8_t *pl;
		size_t n;

		pl = frame_payload(&out, WIRE_ERROR, &n);
		cr_assert_eq(wire_decode_error(pl, n, &back), WIRE_OK);
		cr_assert_str_eq(back.message, "a\tb");
		free(pl);
	}
	buf_free(&out);
}

Test(wire, embedded_nul_refused)
{
	struct pb p = {.n = 0};
	struct wire_error m;

	pb_u16(&p, 1);
	pb_strn(&p, "ab\0cd", 5);
	cr_assert_eq(wire_decode_error(p.b, p.n, &m), WIRE_EFIELD);
}

/* --- decoders: field ranges ------------------------------------------ */

static int
encode_decode_report(const struct wire_report *r)
{
	struct wire_report back;
	struct buf out;
	uint8_t *pl;
	size_t n;
	int rc;

	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_report(&out, r), 0);
	pl = frame_payload(&out, WIRE_REPORT, &n);
	rc = wire_decode_report(pl, n, &back);
	if (rc != WIRE_OK)
		cr_assert_null(back.ifs, "ifs left allocated after an error");
	wire_report_free(&back);
	free(pl);
	buf_free(&out);
	return rc;
}

Test(wire, report_field_ranges)
{
	struct wire_report r;

	sample_report(&r);
	cr_assert_eq(encode_decode_report(&r), WIRE_OK);

	r.seq = 0;
	cr_assert_eq(encode_decode_report(&r), WIRE_EFIELD, "seq 0");
	sample_report(&r);
	r.status = 3;
	cr_assert_eq(encode_decode_report(&r), WIRE_EFIELD, "status 3");
	r.status = 0xff;
	cr_assert_eq(encode_decode_report(&r), WIRE_EFIELD, "status 255");
	r.status = WIRE_POLL_ERROR;
	cr_assert_eq(encode_decode_report(&r), WIRE_OK, "status 2");
	sample_report(&r);
	r.switch_name[0] = '\0';
	cr_assert_eq(encode_decode_report(&r), WIRE_EFIELD, "no switch name");

	sample_report(&r);
	sample_ifs[2].if_index = 0;
	cr_assert_eq(encode_decode_report(&r), WIRE_EFIELD, "if_index 0");
	sample_report(&r);
	sample_ifs[1].oper = 8;
	cr_assert_eq(encode_decode_report(&r), WIRE_EFIELD, "oper 8");
	sample_ifs[1].oper = 0xff;
	cr_assert_eq(encode_decode_report(&r), WIRE_EFIELD, "oper 255");
	sample_ifs[1].oper = 7;
	cr_assert_eq(encode_decode_report(&r), WIRE_OK, "oper 7");
	sample_ifs[1].oper = 0;
	cr_assert_eq(encode_decode_report(&r), WIRE_OK, "oper 0");
	sample_report(&r);
	sample_ifs[0].admin = 4;
	cr_assert_eq(encode_decode_report(&r), WIRE_EFIELD, "admin 4");
	sample_report(&r);
	sample_ifs[0].duplex = 4;
	cr_assert_eq(encode_decode_report(&r), WIRE_EFIELD, "duplex 4");
	assert_no_leaks();
}

Test(wire, hello_empty_names)
{
	struct wire_hello m, back;
	struct buf out;
	uint8_t *pl;
	size_t n;

	buf_init(&out, WIRE_MAX_FRAME);
	sample_hello(&m);
	m.agent[0] = '\0';
	cr_assert_eq(wire_encode_hello(&out, &m), 0);
	pl = frame_payload(&out, WIRE_HELLO, &n);
	cr_assert_eq(wire_decode_hello(pl, n, &back), WIRE_EFIELD,
	    "empty agent");
	free(pl);

	buf_reset(&out);
	sample_hello(&m);
	m.school[0] = '\0';
	cr_assert_eq(wire_encode_hello(&out, &m), 0);
	pl = frame_payload(&out, WIRE_HELLO, &n);
	cr_assert_eq(wire_decode_hello(pl, n, &back), WIRE_EFIELD,
	    "empty school");
	free(pl);

	buf_reset(&out);
	sample_hello(&m);
	m.software[0] = '\0';
	cr_assert_eq(wire_encode_hello(&out, &m), 0);
	pl = frame_payload(&out, WIRE_HELLO, &n);
	cr_assert_eq(wire_decode_hello(pl, n, &back), WIRE_OK,
	    "software may be empty");
	free(pl);
	buf_free(&out);
}

/* --- decoders: interface counts -------------------------------------- */

/* Virtual memory in use now, bytes (from /proc/self/statm). */
static unsigned long
vm_bytes(void)
{
	unsigned long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	cr_assert_not_null(f);
	cr_assert_eq(fscanf(f, "%lu", &pages), 1);
	fclose(f);
	return pages * (unsigned long)sysconf(_SC_PAGESIZE);
}

/*
 * Decode with the address space capped a little above what is in use, so
 * an allocation sized by an unchecked count fails (and xcalloc exits,
 * which fails the test). Not under ASan: its shadow memory needs the room.
 */
static int
decode_report_capped(const uint8_t *p, size_t n, struct wire_report *r)
{
	int rc;
#ifndef __SANITIZE_ADDRESS__
	struct rlimit old, lim;

	cr_assert_eq(getrlimit(RLIMIT_AS, &old), 0);
	lim = old;
	lim.rlim_cur = vm_bytes() + 1024 * 1024;
	if (old.rlim_cur != RLIM_INFINITY && old.rlim_cur < lim.rlim_cur)
		lim.rlim_cur = old.rlim_cur;
	cr_assert_eq(setrlimit(RLIMIT_AS, &lim), 0);
	rc = wire_decode_report(p, n, r);
	cr_assert_eq(setrlimit(RLIMIT_AS, &old), 0);
#else
	(void)vm_bytes;
	rc = wire_decode_report(p, n, r);
#endif
	return rc;
}

Test(wire, report_count_beyond_remaining_bytes)
{
	struct wire_report r;
	uint32_t counts[] = {1, 2, 100, WIRE_MAX_IFS};

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		struct pb p = {.n = 0};
		uint8_t *copy;
		int rc;

		pb_report_head(&p, 1, "sw", 2, "", 0, "", 0, counts[i]);
		if (counts[i] > 1)
			pb_if(&p, 1, "", 0, "", 0, "", 0); /* one of them */
		copy = dup_bytes(p.b, p.n);
		rc = decode_report_capped(copy, p.n, &r);
		cr_assert_eq(rc, WIRE_ETRUNCATED, "n_if %u: got %d (%s)",
		    counts[i], rc, wire_strerror(rc));
		cr_assert_null(r.ifs);
		free(copy);
	}
	assert_no_leaks();
}

Test(wire, report_count_above_max)
{
	struct wire_report r;
	uint32_t counts[] = {WIRE_MAX_IFS + 1, 0x10000, 0x7fffffff,
	    0xffffffff};

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		struct pb p = {.n = 0};
		int rc;

		pb_report_head(&p, 1, "sw", 2, "", 0, "", 0, counts[i]);
		for (int k = 0; k < 4; k++)
			pb_if(&p, (uint32_t)k + 1, "", 0, "", 0, "", 0);
		rc = decode_report_capped(p.b, p.n, &r);
		cr_assert_eq(rc, WIRE_EFIELD, "n_if %u: got %d (%s)", counts[i],
		    rc, wire_strerror(rc));
		cr_assert_null(r.ifs);
	}
}

/* --- encoders refuse ------------------------------------------------- */

/* out holds one ACK frame; after a refused encode it must be untouched. */
static void
assert_buf_unchanged(const struct buf *out, const uint8_t *before,
    size_t before_len)
{
	cr_assert_eq(out->len, before_len, "buffer length changed: %zu -> %zu",
	    before_len, out->len);
	cr_assert_arr_eq(out->data, before, before_len);
}

/*
 * The structs hold strings of at most cap bytes + NUL, so a string one byte
 * over the cap fills its array and ends in the next field (set to "").
 * That is the only way to hand an encoder an over-long C string.
 */
Test(wire, encoder_refuses_long_strings)
{
	struct wire_ack a = {1, 1};
	struct wire_hello h;
	struct {
		struct wire_error e;
		char spill[16]; /* zero: ends the over-long message */
	} big_e;
	struct wire_report r;
	uint8_t before[64];
	size_t before_len;
	struct buf out;

	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_ack(&out, &a), 0);
	before_len = out.len;
	memcpy(before, out.data, before_len);

	sample_hello(&h);
	memset(h.agent, 'a', sizeof(h.agent));
	h.school[0] = '\0';
	cr_assert_eq(strlen(h.agent), WIRE_NAME_MAX + 1);
	cr_assert_eq(wire_encode_hello(&out, &h), -1, "agent 64 bytes");
	assert_buf_unchanged(&out, before, before_len);

	sample_hello(&h);
	memset(h.school, 's', sizeof(h.school));
	h.software[0] = '\0';
	cr_assert_eq(wire_encode_hello(&out, &h), -1, "school 64 bytes");
	assert_buf_unchanged(&out, before, before_len);

	memset(&big_e, 0, sizeof(big_e));
	big_e.e.code = 1;
	memset(big_e.e.message, 'm', WIRE_TEXT_MAX + 1);
	cr_assert_eq(strlen(big_e.e.message), WIRE_TEXT_MAX + 1);
	cr_assert_eq(wire_encode_error(&out, &big_e.e), -1, "error 256 bytes");
	assert_buf_unchanged(&out, before, before_len);

	sample_report(&r);
	memset(r.switch_name, 'w', sizeof(r.switch_name));
	r.address[0] = '\0';
	cr_assert_eq(wire_encode_report(&out, &r), -1, "switch name 64 bytes");
	assert_buf_unchanged(&out, before, before_len);

	sample_report(&r);
	memset(r.address, 'h', sizeof(r.address));
	r.error[0] = '\0';
	cr_assert_eq(wire_encode_report(&out, &r), -1, "address 128 bytes");
	assert_buf_unchanged(&out, before, before_len);

	/* Interface strings, in the last interface (after two good ones). */
	sample_report(&r);
	memset(sample_ifs[2].name, 'n', sizeof(sample_ifs[2].name));
	sample_ifs[2].descr[0] = '\0';
	cr_assert_eq(wire_encode_report(&out, &r), -1, "ifName 256 bytes");
	assert_buf_unchanged(&out, before, before_len);

	sample_report(&r);
	memset(sample_ifs[2].descr, 'd', sizeof(sample_ifs[2].descr));
	sample_ifs[2].alias[0] = '\0';
	cr_assert_eq(wire_encode_report(&out, &r), -1, "ifDescr 256 bytes");
	assert_buf_unchanged(&out, before, before_len);

	sample_report(&r);
	memset(sample_ifs[2].alias, 'z', sizeof(sample_ifs[2].alias));
	sample_ifs[2].in_octets = 0; /* its first byte ends the string */
	cr_assert_eq(strlen(sample_ifs[2].alias), WIRE_ALIAS_MAX + 1);
	cr_assert_eq(wire_encode_report(&out, &r), -1, "ifAlias 256 bytes");
	assert_buf_unchanged(&out, before, before_len);

	/* At the cap exactly: accepted. */
	sample_report(&r);
	cr_assert_eq(wire_encode_report(&out, &r), 0);
	cr_assert_gt(out.len, before_len);
	buf_free(&out);
}

Test(wire, encoder_refuses_too_many_interfaces)
{
	struct wire_ack a = {1, 1};
	struct wire_report r;
	uint8_t before[64];
	size_t before_len;
	struct buf out;

	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_ack(&out, &a), 0);
	before_len = out.len;
	memcpy(before, out.data, before_len);
	sample_report(&r);
	r.n_if = WIRE_MAX_IFS + 1; /* checked before ifs is read */
	cr_assert_eq(wire_encode_report(&out, &r), -1);
	assert_buf_unchanged(&out, before, before_len);
	buf_free(&out);
}

Test(wire, encoder_refuses_payload_over_cap)
{
	struct wire_ack a = {1, 1};
	struct wire_report r;
	uint8_t before[64];
	size_t before_len;
	struct buf out;

	/* 4096 interfaces with every string full: ~3.3 MB > 1 MB payload. */
	sample_report(&r);
	r.n_if = WIRE_MAX_IFS;
	r.ifs = calloc(WIRE_MAX_IFS, sizeof(*r.ifs));
	cr_assert_not_null(r.ifs);
	for (uint32_t i = 0; i < WIRE_MAX_IFS; i++) {
		r.ifs[i] = sample_ifs[2];
		r.ifs[i].if_index = i + 1;
	}
	buf_init(&out, 8 * WIRE_MAX_FRAME); /* the buffer has room */
	cr_assert_eq(wire_encode_ack(&out, &a), 0);
	before_len = out.len;
	memcpy(before, out.data, before_len);
	cr_assert_eq(wire_encode_report(&out, &r), -1);
	assert_buf_unchanged(&out, before, before_len);
	free(r.ifs);
	buf_free(&out);
}

Test(wire, encoder_refuses_past_buffer_cap)
{
	struct wire_ack a = {1, 1};
	struct wire_report r;
	uint8_t before[64];
	size_t before_len;
	struct buf out;

	sample_report(&r);
	buf_init(&out, 200);
	cr_assert_eq(wire_encode_ack(&out, &a), 0);
	before_len = out.len;
	memcpy(before, out.data, before_len);
	cr_assert_eq(wire_encode_report(&out, &r), -1);
	assert_buf_unchanged(&out, before, before_len);
	/* Still usable afterwards. */
	cr_assert_eq(wire_encode_ack(&out, &a), 0);
	cr_assert_eq(out.len, 2 * before_len);
	buf_free(&out);
}

/* --- garbage --------------------------------------------------------- */

static uint64_t lcg_state;

static uint32_t
lcg(void)
{
	/* Knuth's MMIX constants; the high bits are the good ones. */
	lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(lcg_state >> 33);
}

/* Decode p with every decoder; a decoded report must be sane. */
static void
feed_all(const uint8_t *p, size_t n)
{
	struct wire_header h;
	struct wire_hello hello;
	struct wire_welcome welcome;
	struct wire_ack ack;
	struct wire_error err;
	struct wire_report rep;
	struct wire_probe probe;
	struct wire_probe_request req;
	struct wire_checks checks;
	int rc;

	rc = wire_header_parse(p, n, &h);
	cr_assert(rc == 1 || rc == WIRE_OK ||
		(rc <= WIRE_EMAGIC && rc >= WIRE_ETYPE),
	    "header: %d", rc);
	rc = wire_decode_hello(p, n, &hello);
	if (rc == WIRE_OK) {
		cr_assert(utf8_valid_label(hello.agent, strlen(hello.agent)));
		cr_assert(hello.agent[0] && hello.school[0]);
	}
	(void)wire_decode_welcome(p, n, &welcome);
	(void)wire_decode_ack(p, n, &ack);
	rc = wire_decode_error(p, n, &err);
	if (rc == WIRE_OK)
		cr_assert_leq(strlen(err.message), WIRE_TEXT_MAX);
	rc = wire_decode_probe(p, n, &probe);
	cr_assert(rc <= WIRE_OK && rc >= WIRE_EFIELD, "probe: %d", rc);
	if (rc == WIRE_OK) {
		cr_assert(probe.seq != 0 && probe.answered <= probe.sent &&
		    probe.sent <= WIRE_PROBE_MAX_SENT);
		cr_assert(utf8_valid_label(probe.label, strlen(probe.label)));
		cr_assert(probe.kind >= WIRE_PROBE_LATENCY &&
		    probe.kind <= WIRE_PROBE_HOST);
		cr_assert(probe.kind == WIRE_PROBE_LATENCY
			? strlen(probe.target) <= WIRE_ADDR_MAX
			: probe.ref != 0);
	}
	rc = wire_decode_probe_request(p, n, &req);
	cr_assert(rc <= WIRE_OK && rc >= WIRE_EFIELD, "request: %d", rc);
	if (rc == WIRE_OK)
		cr_assert(req.id != 0 && req.token[0] != '\0' &&
		    req.streams >= 1 && req.streams <= WIRE_PROBE_MAX_STREAMS &&
		    req.max_ms > 0 && req.max_ms <= 300000 &&
		    (req.port != 0 || req.base[0] != '\0'));
	rc = wire_decode_checks(p, n, &checks);
	cr_assert(rc <= WIRE_OK && rc >= WIRE_EFIELD, "checks: %d", rc);
	if (rc == WIRE_OK) {
		cr_assert_leq(checks.n, WIRE_MAX_CHECKS);
		cr_assert((checks.n == 0) == (checks.items == NULL));
		for (uint32_t i = 0; i < checks.n; i++)
			cr_assert(checks.items[i].id != 0 &&
			    checks.items[i].room[0] != '\0' &&
			    checks.items[i].url[0] != '\0');
	} else {
		cr_assert(checks.items == NULL && checks.n == 0);
	}
	wire_checks_free(&checks);
	rc = wire_decode_report(p, n, &rep);
	cr_assert(rc <= WIRE_OK && rc >= WIRE_EFIELD, "report: %d", rc);
	if (rc == WIRE_OK) {
		cr_assert_leq(rep.n_if, WIRE_MAX_IFS);
		cr_assert(rep.n_if == 0 || rep.ifs != NULL);
		cr_assert_neq(rep.seq, 0);
		cr_assert_leq(strlen(rep.switch_name), WIRE_NAME_MAX);
		for (uint32_t i = 0; i < rep.n_if; i++) {
			cr_assert_neq(rep.ifs[i].if_index, 0);
			cr_assert_leq(rep.ifs[i].oper, 7);
			cr_assert(utf8_valid_label(rep.ifs[i].alias,
			    strlen(rep.ifs[i].alias)));
		}
		wire_report_free(&rep);
	} else {
		cr_assert_null(rep.ifs);
	}
}

Test(wire, random_garbage, .timeout = 120)
{
	struct buf in;

	lcg_state = 20251122;
	buf_init(&in, WIRE_MAX_FRAME);
	for (int iter = 0; iter < 20000; iter++) {
		size_t n = lcg() % 600;
		uint8_t *p = malloc(n ? n : 1);
		struct wire_header h;
		const uint8_t *payload;

		cr_assert_not_null(p);
		for (size_t i = 0; i < n; i++)
			p[i] = (uint8_t)lcg();
		/* Now and then start like a real frame or report. */
		if (n >= 8 && lcg() % 4 == 0) {
			p[0] = 0x53;
			p[1] = 0x4e;
			p[2] = (uint8_t)(lcg() % 3);
			p[3] = (uint8_t)(lcg() % (WIRE_TYPE_MAX + 2));
			p[4] = p[5] = 0;
		}
		if (n >= 60 && lcg() % 3 == 0) {
			memset(p + 40, 0, 6); /* pdus/status/flags small */
			p[46] = 0;
			p[47] = (uint8_t)(lcg() % 4); /* short switch name */
		}
		feed_all(p, n);
		buf_reset(&in);
		cr_assert_eq(buf_add(&in, p, n), 0);
		(void)wire_frame_next(&in, &h, &payload);
		free(p);
	}
	buf_free(&in);
	assert_no_leaks();
}

Test(wire, mutated_reports, .timeout = 120)
{
	struct wire_report r;
	struct buf out;
	uint8_t *pl;
	size_t n;

	sample_report(&r);
	r.ifs[2].name[10] = '\0';
	r.ifs[2].descr[12] = '\0';
	r.ifs[2].alias[9] = '\0';
	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_report(&out, &r), 0);
	pl = frame_payload(&out, WIRE_REPORT, &n);
	lcg_state = 7470;
	for (int iter = 0; iter < 20000; iter++) {
		size_t len = n;
		uint8_t *p;
		int flips = 1 + (int)(lcg() % 4);

		if (lcg() % 4 == 0)
			len = lcg() % (n + 16);
		p = malloc(len ? len : 1);
		cr_assert_not_null(p);
		for (size_t i = 0; i < len; i++)
			p[i] = i < n ? pl[i] : (uint8_t)lcg();
		for (int k = 0; k < flips && len; k++) {
			size_t at = lcg() % len;

			if (lcg() % 2)
				p[at] ^= (uint8_t)(1u << (lcg() % 8));
			else
				p[at] = (uint8_t)lcg();
		}
		feed_all(p, len);
		free(p);
	}
	free(pl);
	buf_free(&out);
	assert_no_leaks();
}

Test(wire, status_round_trip)
{
	struct wire_status in = {.dropped = 12345678901ULL, .pending = 42}, out;
	struct wire_header h;
	const uint8_t *payload;
	struct buf b;

	buf_init(&b, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_status(&b, &in), 0);
	cr_assert_eq(wire_frame_next(&b, &h, &payload), 1);
	cr_assert_eq(h.type, WIRE_STATUS);
	cr_assert_eq(wire_decode_status(payload, h.length, &out), WIRE_OK);
	cr_assert_eq(out.dropped, in.dropped);
	cr_assert_eq(out.pending, in.pending);
	/* One byte short, one byte long. */
	cr_assert_eq(wire_decode_status(payload, h.length - 1, &out),
	    WIRE_ETRUNCATED);
	buf_free(&b);
}

/* --- PROBE ------------------------------------------------------------- */

static void
sample_probe(struct wire_probe *m)
{
	memset(m, 0, sizeof(*m));
	m->seq = 43;
	m->epoch = 0xfedcba9876543210ULL;
	m->t_ms = 1763800000456ULL;
	m->kind = WIRE_PROBE_LATENCY;
	snprintf(m->label, sizeof(m->label), "collector");
	snprintf(m->target, sizeof(m->target), "[2001:db8::10]:7470");
	m->sent = 5;
	m->answered = 4;
	m->rtt_min_us = 98012;
	m->rtt_avg_us = 101500;
	m->rtt_max_us = 106003;
	m->jitter_us = 3100;
	m->interval_ms = 60000;
}

static void
assert_probe_eq(const struct wire_probe *a, const struct wire_probe *b)
{
	cr_assert_eq(a->seq, b->seq);
	cr_assert_eq(a->epoch, b->epoch);
	cr_assert_eq(a->t_ms, b->t_ms);
	cr_assert_eq(a->kind, b->kind);
	cr_assert_eq(a->ref, b->ref);
	cr_assert_str_eq(a->label, b->label);
	cr_assert_str_eq(a->target, b->target);
	cr_assert_eq(a->sent, b->sent);
	cr_assert_eq(a->answered, b->answered);
	cr_assert_eq(a->rtt_min_us, b->rtt_min_us);
	cr_assert_eq(a->rtt_avg_us, b->rtt_avg_us);
	cr_assert_eq(a->rtt_max_us, b->rtt_max_us);
	cr_assert_eq(a->jitter_us, b->jitter_us);
	cr_assert_eq(a->interval_ms, b->interval_ms);
	cr_assert_str_eq(a->error, b->error);
	cr_assert_eq(a->tp.streams, b->tp.streams);
	cr_assert_eq(a->tp.measured, b->tp.measured);
	cr_assert_eq(a->tp.down_kbps, b->tp.down_kbps);
	cr_assert_eq(a->tp.up_kbps, b->tp.up_kbps);
	cr_assert_eq(a->tp.down_bytes, b->tp.down_bytes);
	cr_assert_eq(a->tp.up_bytes, b->tp.up_bytes);
	cr_assert_eq(a->tp.down_ms, b->tp.down_ms);
	cr_assert_eq(a->tp.up_ms, b->tp.up_ms);
	cr_assert_eq(a->host.ok, b->host.ok);
	cr_assert_eq(a->host.status, b->host.status);
	cr_assert_eq(a->host.time_ms, b->host.time_ms);
}

/* Encode m, decode the payload (exactly sized) and return the result. */
static int
probe_through(const struct wire_probe *m, struct wire_probe *back)
{
	struct buf out;
	uint8_t *pl;
	size_t n;
	int rc;

	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_probe(&out, m), 0);
	pl = frame_payload(&out, WIRE_PROBE, &n);
	rc = wire_decode_probe(pl, n, back);
	free(pl);
	buf_free(&out);
	return rc;
}

/*
 * A PROBE written by hand in the order wire.h documents: seq, epoch, t_ms,
 * kind, ref, label, target, interval_ms, error, then the kind's own fields
 * (an unknown kind gets the latency ones). The three strings are given
 * with their lengths, so they may pass their caps or hold a NUL.
 */
static void
pb_probe_n(struct pb *p, const struct wire_probe *m, const char *label,
    size_t label_len, const char *target, size_t target_len,
    const char *error, size_t error_len)
{
	pb_u64(p, m->seq);
	pb_u64(p, m->epoch);
	pb_u64(p, m->t_ms);
	pb_u8(p, m->kind);
	pb_u64(p, m->ref);
	pb_strn(p, label, label_len);
	pb_strn(p, target, target_len);
	pb_u32(p, m->interval_ms);
	pb_strn(p, error, error_len);
	switch (m->kind) {
	case WIRE_PROBE_THROUGHPUT:
		pb_u8(p, m->tp.streams);
		pb_u8(p, m->tp.measured);
		pb_u32(p, m->tp.down_kbps);
		pb_u32(p, m->tp.up_kbps);
		pb_u64(p, m->tp.down_bytes);
		pb_u64(p, m->tp.up_bytes);
		pb_u32(p, m->tp.down_ms);
		pb_u32(p, m->tp.up_ms);
		break;
	case WIRE_PROBE_HOST:
		pb_u8(p, m->host.ok);
		pb_u16(p, m->host.status);
		pb_u32(p, m->host.time_ms);
		break;
	default:
		pb_u32(p, m->sent);
		pb_u32(p, m->answered);
		pb_u32(p, m->rtt_min_us);
		pb_u32(p, m->rtt_avg_us);
		pb_u32(p, m->rtt_max_us);
		pb_u32(p, m->jitter_us);
	}
}

static void
pb_probe(struct pb *p, const struct wire_probe *m, const char *label,
    size_t label_len, const char *target, size_t target_len)
{
	pb_probe_n(p, m, label, label_len, target, target_len, m->error,
	    strlen(m->error));
}

Test(wire, probe_known_bytes)
{
	struct wire_probe m;
	struct pb p = {.n = 0};
	struct buf out;

	sample_probe(&m);
	snprintf(m.error, sizeof(m.error), "x");
	pb_probe(&p, &m, m.label, strlen(m.label), m.target, strlen(m.target));
	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_probe(&out, &m), 0);
	cr_assert_eq(out.data[3], WIRE_PROBE);
	cr_assert_eq(out.data[3], 9, "PROBE is type 9 on the wire");
	cr_assert_eq(out.len, WIRE_HEADER_LEN + p.n);
	cr_assert_arr_eq(out.data + WIRE_HEADER_LEN, p.b, p.n);
	cr_assert_str_eq(wire_type_name(WIRE_PROBE), "PROBE");
	buf_free(&out);
}

Test(wire, roundtrip_probe)
{
	struct wire_probe m, back;

	sample_probe(&m);
	memset(&back, 0x5a, sizeof(back));
	cr_assert_eq(probe_through(&m, &back), WIRE_OK);
	assert_probe_eq(&m, &back);

	/* Every string at its cap, in UTF-8; the extremes of the figures. */
	fill(m.label, "校", WIRE_NAME_MAX / 3); /* 21 x 3 = 63 bytes */
	memset(m.target, 'h', WIRE_ADDR_MAX);
	m.target[WIRE_ADDR_MAX] = '\0';
	fill(m.error, "超时", WIRE_TEXT_MAX / 6);
	strcat(m.error, "...");
	cr_assert_eq(strlen(m.error), WIRE_TEXT_MAX);
	m.seq = UINT64_MAX;
	m.epoch = 0;
	m.t_ms = UINT64_MAX;
	m.sent = m.answered = WIRE_PROBE_MAX_SENT;
	m.rtt_min_us = 0;
	m.rtt_avg_us = 7;
	m.rtt_max_us = UINT32_MAX;
	m.jitter_us = UINT32_MAX;
	m.interval_ms = UINT32_MAX;
	cr_assert_eq(probe_through(&m, &back), WIRE_OK);
	assert_probe_eq(&m, &back);

	/* Nothing answered (a cut link): figures 0, no error. */
	sample_probe(&m);
	m.answered = 0;
	m.rtt_min_us = m.rtt_avg_us = m.rtt_max_us = m.jitter_us = 0;
	cr_assert_eq(probe_through(&m, &back), WIRE_OK);
	assert_probe_eq(&m, &back);

	/* The round could not run (DNS): an error, all lost. */
	snprintf(m.error, sizeof(m.error), "cannot resolve 校园.example: "
	    "unknown node or service");
	cr_assert_eq(probe_through(&m, &back), WIRE_OK);
	assert_probe_eq(&m, &back);

	/* One answer: min = avg = max, no jitter. */
	sample_probe(&m);
	m.answered = 1;
	m.rtt_min_us = m.rtt_avg_us = m.rtt_max_us = 250;
	m.jitter_us = 0;
	cr_assert_eq(probe_through(&m, &back), WIRE_OK);
	assert_probe_eq(&m, &back);
}

Test(wire, probe_field_ranges)
{
	struct wire_probe m, back;

#define PROBE_BAD(what, stmt)                                              \
	do {                                                               \
		sample_probe(&m);                                          \
		stmt;                                                      \
		cr_assert_eq(probe_through(&m, &back), WIRE_EFIELD, what); \
	} while (0)
#define PROBE_OK(what, stmt)                                           \
	do {                                                           \
		sample_probe(&m);                                      \
		stmt;                                                  \
		cr_assert_eq(probe_through(&m, &back), WIRE_OK, what); \
	} while (0)

	PROBE_BAD("seq 0", m.seq = 0);
	/* A latency round's figures under another kind: that kind's own
	 * fields (all 0) do not hold, and the kinds after HOST are unknown
	 * (the encoder refuses them: probe_unknown_kinds). */
	PROBE_BAD("kind 2", m.kind = WIRE_PROBE_THROUGHPUT);
	PROBE_BAD("kind 3", m.kind = WIRE_PROBE_HOST);
	PROBE_BAD("a ref on a latency round", m.ref = 1);
	PROBE_BAD("empty label", m.label[0] = '\0');
	PROBE_BAD("empty target", m.target[0] = '\0');
	PROBE_BAD("interval 0", m.interval_ms = 0);
	PROBE_BAD("sent 101", m.sent = m.answered = WIRE_PROBE_MAX_SENT + 1);
	PROBE_BAD("sent 2^32-1", m.sent = m.answered = UINT32_MAX);
	PROBE_BAD("answered > sent", m.answered = m.sent + 1);
	PROBE_BAD("none answered, yet a min", (m.answered = 0,
	    m.rtt_avg_us = m.rtt_max_us = m.jitter_us = 0));
	PROBE_BAD("none answered, yet an avg", (m.answered = 0,
	    m.rtt_min_us = m.rtt_max_us = m.jitter_us = 0));
	PROBE_BAD("none answered, yet a max", (m.answered = 0,
	    m.rtt_min_us = m.rtt_avg_us = m.jitter_us = 0));
	PROBE_BAD("none answered, yet a jitter", (m.answered = 0,
	    m.rtt_min_us = m.rtt_avg_us = m.rtt_max_us = 0));
	PROBE_BAD("min > avg", m.rtt_min_us = m.rtt_avg_us + 1);
	PROBE_BAD("avg > max", m.rtt_avg_us = m.rtt_max_us + 1);
	PROBE_BAD("jitter > max - min",
	    m.jitter_us = m.rtt_max_us - m.rtt_min_us + 1);
	PROBE_OK("sent 100", m.sent = m.answered = WIRE_PROBE_MAX_SENT);
	PROBE_OK("sent 0", (m.sent = m.answered = 0, m.rtt_min_us = 0,
	    m.rtt_avg_us = m.rtt_max_us = m.jitter_us = 0));
	PROBE_OK("jitter = max - min",
	    m.jitter_us = m.rtt_max_us - m.rtt_min_us);
	PROBE_OK("epoch 0, t 0", (m.epoch = 0, m.t_ms = 0));
	PROBE_OK("tab in the error", snprintf(m.error, sizeof(m.error),
	    "a\tb"));
#undef PROBE_BAD
#undef PROBE_OK
}

Test(wire, probe_strings, .init = init_big)
{
	static const char *const bad[] = {"\xff", "a\xc3", "\xed\xa0\x80",
	    "a\nb", "\x01", "a\x7f"};
	struct wire_probe m, back;

	/* One byte over each cap, written by hand (the encoder refuses). */
	for (int which = 0; which < 3; which++) {
		struct pb p = {.n = 0};

		sample_probe(&m);
		pb_probe_n(&p, &m, big, WIRE_NAME_MAX + (which == 0), big,
		    WIRE_ADDR_MAX + (which == 1), big,
		    WIRE_TEXT_MAX + (which == 2));
		cr_assert_eq(wire_decode_probe(p.b, p.n, &back), WIRE_EFIELD,
		    "string %d over its cap", which);
	}
	/* At the caps exactly: fine. */
	{
		struct pb p = {.n = 0};

		sample_probe(&m);
		pb_probe_n(&p, &m, big, WIRE_NAME_MAX, big, WIRE_ADDR_MAX, big,
		    WIRE_TEXT_MAX);
		cr_assert_eq(wire_decode_probe(p.b, p.n, &back), WIRE_OK);
		cr_assert_eq(strlen(back.label), WIRE_NAME_MAX);
		cr_assert_eq(strlen(back.target), WIRE_ADDR_MAX);
		cr_assert_eq(strlen(back.error), WIRE_TEXT_MAX);
	}
	/* Not UTF-8, or a control character, in each string. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (int which = 0; which < 3; which++) {
			sample_probe(&m);
			snprintf(which == 0 ? m.label : which == 1 ? m.target
								   : m.error,
			    WIRE_NAME_MAX, "%s", bad[i]);
			cr_assert_eq(probe_through(&m, &back), WIRE_EFIELD,
			    "bad string %zu in field %d", i, which);
		}
	}
	/* An embedded NUL. */
	{
		struct pb p = {.n = 0};

		sample_probe(&m);
		pb_probe(&p, &m, "ab\0cd", 5, m.target, strlen(m.target));
		cr_assert_eq(wire_decode_probe(p.b, p.n, &back), WIRE_EFIELD);
	}
}

Test(wire, probe_truncated_and_trailing)
{
	struct wire_probe m;
	struct buf out;
	uint8_t *pl;
	size_t n;

	sample_probe(&m);
	snprintf(m.error, sizeof(m.error), "partial");
	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_probe(&out, &m), 0);
	pl = frame_payload(&out, WIRE_PROBE, &n);
	check_truncations(pl, n, dec_probe, "PROBE");
	free(pl);
	buf_free(&out);
}

Test(wire, probe_encoder_refuses_long_strings)
{
	struct wire_ack a = {1, 1};
	struct {
		struct wire_probe m;
		char spill[16];
	} big_p;
	uint8_t before[64];
	size_t before_len;
	struct buf out;

	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_ack(&out, &a), 0);
	before_len = out.len;
	memcpy(before, out.data, before_len);

	memset(&big_p, 0, sizeof(big_p));
	sample_probe(&big_p.m);
	memset(big_p.m.label, 'l', sizeof(big_p.m.label));
	big_p.m.target[0] = '\0';
	cr_assert_eq(wire_encode_probe(&out, &big_p.m), -1, "label 64 bytes");
	assert_buf_unchanged(&out, before, before_len);

	sample_probe(&big_p.m);
	memset(big_p.m.target, 't', sizeof(big_p.m.target));
	big_p.m.sent = 0; /* its first byte ends the string */
	cr_assert_eq(wire_encode_probe(&out, &big_p.m), -1, "target 128 bytes");
	assert_buf_unchanged(&out, before, before_len);

	memset(&big_p, 0, sizeof(big_p));
	sample_probe(&big_p.m);
	memset(big_p.m.error, 'e', sizeof(big_p.m.error));
	cr_assert_eq(wire_encode_probe(&out, &big_p.m), -1, "error 256 bytes");
	assert_buf_unchanged(&out, before, before_len);
	buf_free(&out);
}

Test(wire, mutated_probes, .timeout = 120)
{
	struct wire_probe m;
	struct buf out;
	uint8_t *pl;
	size_t n;

	sample_probe(&m);
	snprintf(m.error, sizeof(m.error), "rtt");
	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_probe(&out, &m), 0);
	pl = frame_payload(&out, WIRE_PROBE, &n);
	lcg_state = 9;
	for (int iter = 0; iter < 20000; iter++) {
		size_t len = lcg() % 4 == 0 ? lcg() % (n + 16) : n;
		uint8_t *p = malloc(len ? len : 1);

		cr_assert_not_null(p);
		for (size_t i = 0; i < len; i++)
			p[i] = i < n ? pl[i] : (uint8_t)lcg();
		for (int k = 0, flips = 1 + (int)(lcg() % 4); k < flips && len;
		     k++)
			p[lcg() % len] ^= (uint8_t)(1u << (lcg() % 8));
		feed_all(p, len);
		free(p);
	}
	free(pl);
	buf_free(&out);
}

/* --- PROBE kinds THROUGHPUT and HOST ----------------------------------- */

/* A test that measured both directions, as probe_http.c reports one. */
static void
sample_tp_probe(struct wire_probe *m)
{
	memset(m, 0, sizeof(*m));
	m->seq = 44;
	m->epoch = 0xfedcba9876543210ULL;
	m->t_ms = 1763800000789ULL;
	m->kind = WIRE_PROBE_THROUGHPUT;
	m->ref = 0x0102030405060708ULL;
	snprintf(m->label, sizeof(m->label), "throughput");
	snprintf(m->target, sizeof(m->target), "http://10.17.0.1:7472");
	m->tp.streams = 4;
	m->tp.measured = WIRE_TP_DOWN | WIRE_TP_UP;
	m->tp.down_kbps = 281234;
	m->tp.up_kbps = 300456;
	m->tp.down_bytes = 104857600;
	m->tp.up_bytes = 0x123456789aULL;
	m->tp.down_ms = 2983;
	m->tp.up_ms = 2792;
}

/* One check of a recording host. */
static void
sample_host_probe(struct wire_probe *m)
{
	memset(m, 0, sizeof(*m));
	m->seq = 45;
	m->epoch = 0xfedcba9876543210ULL;
	m->t_ms = 1763800000999ULL;
	m->kind = WIRE_PROBE_HOST;
	m->ref = 17;
	snprintf(m->label, sizeof(m->label), "录播室");
	snprintf(m->target, sizeof(m->target), "rtsp://10.17.3.20:554/live");
	m->interval_ms = 60000;
	m->host.ok = 1;
	m->host.status = 200;
	m->host.time_ms = 0x01020304;
}

Test(wire, probe_throughput_known_bytes)
{
	static const uint8_t want_tail[] = {
	    0x04,			/* streams */
	    0x03,			/* measured: down | up */
	    0x00, 0x04, 0x4a, 0x92,	/* down_kbps 281234 */
	    0x00, 0x04, 0x95, 0xa8,	/* up_kbps 300456 */
	    0, 0, 0, 0, 0x06, 0x40, 0x00, 0x00, /* down_bytes 100 MiB */
	    0, 0, 0, 0x12, 0x34, 0x56, 0x78, 0x9a, /* up_bytes */
	    0x00, 0x00, 0x0b, 0xa7,	/* down_ms 2983 */
	    0x00, 0x00, 0x0a, 0xe8,	/* up_ms 2792 */
	};
	struct wire_probe m;
	struct pb p = {.n = 0};
	struct buf out;

	sample_tp_probe(&m);
	snprintf(m.error, sizeof(m.error), "up: 连接被重置");
	pb_probe(&p, &m, m.label, strlen(m.label), m.target, strlen(m.target));
	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_probe(&out, &m), 0);
	cr_assert_eq(out.len, WIRE_HEADER_LEN + p.n);
	cr_assert_arr_eq(out.data + WIRE_HEADER_LEN, p.b, p.n);
	/* The kind's fields by the byte, not only through the builder. */
	cr_assert_eq(out.data[WIRE_HEADER_LEN + 24], WIRE_PROBE_THROUGHPUT);
	cr_assert_arr_eq(out.data + WIRE_HEADER_LEN + 25,
	    ((const uint8_t[]){1, 2, 3, 4, 5, 6, 7, 8}), 8, "ref");
	cr_assert_arr_eq(out.data + out.len - sizeof(want_tail), want_tail,
	    sizeof(want_tail));
	buf_free(&out);
}

Test(wire, probe_host_known_bytes)
{
	static const uint8_t want_tail[] = {
	    0x01,			/* ok */
	    0x00, 0xc8,			/* status 200 */
	    0x01, 0x02, 0x03, 0x04,	/* time_ms */
	};
	struct wire_probe m;
	struct pb p = {.n = 0};
	struct buf out;

	sample_host_probe(&m);
	pb_probe(&p, &m, m.label, strlen(m.label), m.target, strlen(m.target));
	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_probe(&out, &m), 0);
	cr_assert_eq(out.len, WIRE_HEADER_LEN + p.n);
	cr_assert_arr_eq(out.data + WIRE_HEADER_LEN, p.b, p.n);
	cr_assert_eq(out.data[WIRE_HEADER_LEN + 24], WIRE_PROBE_HOST);
	cr_assert_arr_eq(out.data + out.len - sizeof(want_tail), want_tail,
	    sizeof(want_tail));
	buf_free(&out);
}

Test(wire, roundtrip_probe_throughput)
{
	struct wire_probe m, back;

	sample_tp_probe(&m);
	memset(&back, 0x5a, sizeof(back));
	cr_assert_eq(probe_through(&m, &back), WIRE_OK);
	assert_probe_eq(&m, &back);

	/* Every string at its cap in UTF-8 (the target's is TEXT_MAX for
	 * this kind, not ADDR_MAX), the figures at their extremes. */
	fill(m.label, "测", WIRE_NAME_MAX / 3);	    /* 63 bytes */
	fill(m.target, "服务器", WIRE_TEXT_MAX / 9); /* 28 x 9 = 252 */
	strcat(m.target, "/up");
	fill(m.error, "超时", WIRE_TEXT_MAX / 6);
	strcat(m.error, "...");
	cr_assert_eq(strlen(m.target), WIRE_TEXT_MAX);
	cr_assert_eq(strlen(m.error), WIRE_TEXT_MAX);
	m.seq = m.ref = m.t_ms = UINT64_MAX;
	m.tp.streams = WIRE_PROBE_MAX_STREAMS;
	m.tp.down_kbps = m.tp.up_kbps = UINT32_MAX;
	m.tp.down_bytes = m.tp.up_bytes = UINT64_MAX;
	m.tp.down_ms = m.tp.up_ms = UINT32_MAX;
	cr_assert_eq(probe_through(&m, &back), WIRE_OK);
	assert_probe_eq(&m, &back);

	/* Only the download measured (the upload failed): its figures 0. */
	sample_tp_probe(&m);
	m.tp.measured = WIRE_TP_DOWN;
	m.tp.up_kbps = 0;
	m.tp.up_bytes = 0;
	m.tp.up_ms = 0;
	snprintf(m.error, sizeof(m.error), "up: HTTP 413");
	cr_assert_eq(probe_through(&m, &back), WIRE_OK);
	assert_probe_eq(&m, &back);

	/* Nothing measured: "busy", one stream asked for. */
	sample_tp_probe(&m);
	memset(&m.tp, 0, sizeof(m.tp));
	m.tp.streams = 1;
	snprintf(m.error, sizeof(m.error), "busy");
	cr_assert_eq(probe_through(&m, &back), WIRE_OK);
	assert_probe_eq(&m, &back);
}

Test(wire, roundtrip_probe_host)
{
	struct wire_probe m, back;

	sample_host_probe(&m);
	memset(&back, 0x5a, sizeof(back));
	cr_assert_eq(probe_through(&m, &back), WIRE_OK);
	assert_probe_eq(&m, &back);

	fill(m.label, "室", WIRE_NAME_MAX / 3);
	memset(m.target, 'u', WIRE_TEXT_MAX);
	m.target[WIRE_TEXT_MAX] = '\0';
	fill(m.error, "拒绝", WIRE_TEXT_MAX / 6);
	strcat(m.error, "!!!");
	m.host.ok = 0;
	m.host.status = UINT16_MAX;
	m.host.time_ms = UINT32_MAX;
	m.interval_ms = UINT32_MAX;
	m.ref = UINT64_MAX;
	cr_assert_eq(probe_through(&m, &back), WIRE_OK);
	assert_probe_eq(&m, &back);

	/* Failed before any answer: status 0. */
	sample_host_probe(&m);
	m.host.ok = 0;
	m.host.status = 0;
	snprintf(m.error, sizeof(m.error), "connect: connection refused");
	cr_assert_eq(probe_through(&m, &back), WIRE_OK);
	assert_probe_eq(&m, &back);
}

/* Each check wire.h's PROBE comment lists, one case each. */
Test(wire, probe_kind_field_ranges)
{
	struct wire_probe m, back;

#define TP_BAD(what, stmt)                                                 \
	do {                                                               \
		sample_tp_probe(&m);                                       \
		stmt;                                                      \
		cr_assert_eq(probe_through(&m, &back), WIRE_EFIELD, what); \
	} while (0)
#define TP_OK(what, stmt)                                              \
	do {                                                           \
		sample_tp_probe(&m);                                   \
		stmt;                                                  \
		cr_assert_eq(probe_through(&m, &back), WIRE_OK, what); \
	} while (0)
#define HOST_BAD(what, stmt)                                               \
	do {                                                               \
		sample_host_probe(&m);                                     \
		stmt;                                                      \
		cr_assert_eq(probe_through(&m, &back), WIRE_EFIELD, what); \
	} while (0)
#define HOST_OK(what, stmt)                                            \
	do {                                                           \
		sample_host_probe(&m);                                 \
		stmt;                                                  \
		cr_assert_eq(probe_through(&m, &back), WIRE_OK, what); \
	} while (0)

	TP_BAD("throughput: seq 0", m.seq = 0);
	TP_BAD("throughput: empty label", m.label[0] = '\0');
	TP_BAD("throughput: empty target", m.target[0] = '\0');
	TP_BAD("throughput: ref 0", m.ref = 0);
	TP_BAD("throughput: streams 0", m.tp.streams = 0);
	TP_BAD("throughput: streams 17",
	    m.tp.streams = WIRE_PROBE_MAX_STREAMS + 1);
	TP_BAD("throughput: streams 255", m.tp.streams = 255);
	TP_BAD("throughput: unknown measured bit", m.tp.measured |= 0x04);
	TP_BAD("throughput: measured 0x80", m.tp.measured = 0x80);
	TP_BAD("throughput: down not measured, a rate",
	    (m.tp.measured = WIRE_TP_UP, m.tp.down_bytes = m.tp.down_ms = 0));
	TP_BAD("throughput: down not measured, bytes",
	    (m.tp.measured = WIRE_TP_UP, m.tp.down_kbps = m.tp.down_ms = 0));
	TP_BAD("throughput: down not measured, a time",
	    (m.tp.measured = WIRE_TP_UP, m.tp.down_kbps = 0,
		m.tp.down_bytes = 0));
	TP_BAD("throughput: up not measured, a rate",
	    (m.tp.measured = WIRE_TP_DOWN, m.tp.up_bytes = m.tp.up_ms = 0));
	TP_BAD("throughput: up not measured, bytes",
	    (m.tp.measured = WIRE_TP_DOWN, m.tp.up_kbps = m.tp.up_ms = 0));
	TP_BAD("throughput: up not measured, a time",
	    (m.tp.measured = WIRE_TP_DOWN, m.tp.up_kbps = 0,
		m.tp.up_bytes = 0));
	TP_OK("throughput: streams 1", m.tp.streams = 1);
	TP_OK("throughput: streams 16", m.tp.streams = WIRE_PROBE_MAX_STREAMS);
	TP_OK("throughput: up only",
	    (m.tp.measured = WIRE_TP_UP,
		m.tp.down_kbps = m.tp.down_ms = 0, m.tp.down_bytes = 0));
	/* A direction measured may still have moved nothing. */
	TP_OK("throughput: measured, all 0",
	    memset(&m.tp.down_kbps, 0,
		sizeof(m.tp) - offsetof(struct wire_throughput, down_kbps)));

	HOST_BAD("host: seq 0", m.seq = 0);
	HOST_BAD("host: empty label", m.label[0] = '\0');
	HOST_BAD("host: empty target", m.target[0] = '\0');
	HOST_BAD("host: ref 0", m.ref = 0);
	HOST_BAD("host: interval 0", m.interval_ms = 0);
	HOST_BAD("host: ok 2", m.host.ok = 2);
	HOST_BAD("host: ok 255", m.host.ok = 255);
	HOST_OK("host: ok 0", m.host.ok = 0);
	HOST_OK("host: interval 1", m.interval_ms = 1);
#undef TP_BAD
#undef TP_OK
#undef HOST_BAD
#undef HOST_OK
}

/* Kinds 0 and 4..255: the encoder refuses them, the decoder too. */
Test(wire, probe_unknown_kinds)
{
	static const int kinds[] = {0, 4, 5, 0x80, 255};
	struct wire_ack a = {1, 1};
	uint8_t before[64];
	size_t before_len;
	struct wire_probe m, back;
	struct buf out;

	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_ack(&out, &a), 0);
	before_len = out.len;
	memcpy(before, out.data, before_len);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct pb p = {.n = 0};

		sample_probe(&m);
		m.kind = (uint8_t)kinds[i];
		cr_assert_eq(wire_encode_probe(&out, &m), -1, "kind %d",
		    kinds[i]);
		assert_buf_unchanged(&out, before, before_len);
		pb_probe(&p, &m, m.label, strlen(m.label), m.target,
		    strlen(m.target));
		cr_assert_eq(wire_decode_probe(p.b, p.n, &back), WIRE_EFIELD,
		    "kind %d", kinds[i]);
		/* Nothing after error either (no kind fields). */
		p.n -= 6 * 4;
		cr_assert_eq(wire_decode_probe(p.b, p.n, &back), WIRE_EFIELD,
		    "kind %d without fields", kinds[i]);
	}
	buf_free(&out);
}

/* The target's cap depends on the kind: ADDR_MAX for LATENCY (host:port),
 * TEXT_MAX for the URLs of the other two. */
Test(wire, probe_target_cap_by_kind, .init = init_big)
{
	struct wire_probe m, back;
	struct pb p;

	sample_tp_probe(&m);
	p.n = 0;
	pb_probe(&p, &m, m.label, strlen(m.label), big, WIRE_TEXT_MAX);
	cr_assert_eq(wire_decode_probe(p.b, p.n, &back), WIRE_OK);
	cr_assert_eq(strlen(back.target), WIRE_TEXT_MAX);
	p.n = 0;
	pb_probe(&p, &m, m.label, strlen(m.label), big, WIRE_TEXT_MAX + 1);
	cr_assert_eq(wire_decode_probe(p.b, p.n, &back), WIRE_EFIELD);

	sample_host_probe(&m);
	p.n = 0;
	pb_probe(&p, &m, m.label, strlen(m.label), big, WIRE_TEXT_MAX);
	cr_assert_eq(wire_decode_probe(p.b, p.n, &back), WIRE_OK);
	p.n = 0;
	pb_probe(&p, &m, m.label, strlen(m.label), big, WIRE_TEXT_MAX + 1);
	cr_assert_eq(wire_decode_probe(p.b, p.n, &back), WIRE_EFIELD);
	p.n = 0;
	pb_probe(&p, &m, big, WIRE_NAME_MAX + 1, m.target, strlen(m.target));
	cr_assert_eq(wire_decode_probe(p.b, p.n, &back), WIRE_EFIELD,
	    "room over its cap");

	/* 128 bytes: fine as a URL, too long for a latency target. */
	sample_probe(&m);
	p.n = 0;
	pb_probe(&p, &m, m.label, strlen(m.label), big, WIRE_ADDR_MAX + 1);
	cr_assert_eq(wire_decode_probe(p.b, p.n, &back), WIRE_EFIELD);
	sample_host_probe(&m);
	p.n = 0;
	pb_probe(&p, &m, m.label, strlen(m.label), big, WIRE_ADDR_MAX + 1);
	cr_assert_eq(wire_decode_probe(p.b, p.n, &back), WIRE_OK);

	/* The encoder applies the same caps. */
	{
		struct buf out;

		buf_init(&out, WIRE_MAX_FRAME);
		sample_probe(&m);
		memset(m.target, 't', WIRE_ADDR_MAX + 1);
		m.target[WIRE_ADDR_MAX + 1] = '\0';
		cr_assert_eq(wire_encode_probe(&out, &m), -1,
		    "latency target 128 bytes");
		cr_assert_eq(out.len, 0);
		m.kind = WIRE_PROBE_HOST;
		m.ref = 1;
		m.host.ok = 1;
		cr_assert_eq(wire_encode_probe(&out, &m), 0,
		    "host URL 128 bytes");
		buf_free(&out);
	}
}

Test(wire, probe_kinds_bad_strings)
{
	static const char *const bad[] = {"\xff", "a\xc3", "\xed\xa0\x80",
	    "a\nb", "\x01", "a\x7f", "\xc0\xaf"};
	struct wire_probe m, back;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (int which = 0; which < 6; which++) {
			char *dst;

			if (which < 3)
				sample_tp_probe(&m);
			else
				sample_host_probe(&m);
			dst = which % 3 == 0 ? m.label
			    : which % 3 == 1 ? m.target
					     : m.error;
			snprintf(dst, WIRE_NAME_MAX, "%s", bad[i]);
			cr_assert_eq(probe_through(&m, &back), WIRE_EFIELD,
			    "bad string %zu in field %d", i, which);
		}
	}
}

Test(wire, probe_kinds_truncated_and_trailing)
{
	struct wire_probe m;
	struct buf out;
	uint8_t *pl;
	size_t n;

	buf_init(&out, WIRE_MAX_FRAME);
	sample_tp_probe(&m);
	snprintf(m.error, sizeof(m.error), "上行失败");
	cr_assert_eq(wire_encode_probe(&out, &m), 0);
	pl = frame_payload(&out, WIRE_PROBE, &n);
	check_truncations(pl, n, dec_probe, "PROBE throughput");
	free(pl);
	buf_reset(&out);
	sample_host_probe(&m);
	snprintf(m.error, sizeof(m.error), "x");
	cr_assert_eq(wire_encode_probe(&out, &m), 0);
	pl = frame_payload(&out, WIRE_PROBE, &n);
	check_truncations(pl, n, dec_probe, "PROBE host");
	free(pl);
	buf_free(&out);
}

/* --- WELCOME.proto ------------------------------------------------------ */

Test(wire, welcome_proto)
{
	struct wire_welcome m = {.epoch = 0x0102030405060708ULL,
	    .acked_seq = 9, .server_time_ms = 10, .proto = WIRE_PROTO_PROBES};
	struct wire_welcome back;
	struct pb p = {.n = 0};
	struct buf out;
	uint8_t *pl;
	size_t n;

	/* Proto 2: 26 bytes, the u16 last. */
	pb_u64(&p, m.epoch);
	pb_u64(&p, 9);
	pb_u64(&p, 10);
	pb_u16(&p, 2);
	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_welcome(&out, &m), 0);
	pl = frame_payload(&out, WIRE_WELCOME, &n);
	cr_assert_eq(n, 26);
	cr_assert_arr_eq(pl, p.b, p.n);
	memset(&back, 0x5a, sizeof(back));
	cr_assert_eq(wire_decode_welcome(pl, n, &back), WIRE_OK);
	cr_assert_eq(back.proto, WIRE_PROTO_PROBES);
	cr_assert_eq(back.epoch, m.epoch);
	cr_assert_eq(back.acked_seq, 9);
	cr_assert_eq(back.server_time_ms, 10);

	/* Its first 24 bytes are an old collector's WELCOME: proto 1. */
	memset(&back, 0x5a, sizeof(back));
	cr_assert_eq(wire_decode_welcome(pl, 24, &back), WIRE_OK);
	cr_assert_eq(back.proto, WIRE_PROTO_BASE);
	cr_assert_eq(back.server_time_ms, 10);
	/* Prefixes below 24 are truncated; 25 bytes leave one over. */
	for (size_t len = 0; len < 24; len++) {
		uint8_t *c = dup_bytes(pl, len);

		cr_assert_eq(wire_decode_welcome(c, len, &back),
		    WIRE_ETRUNCATED, "%zu bytes", len);
		free(c);
	}
	{
		uint8_t *c = dup_bytes(pl, 25);

		cr_assert_eq(wire_decode_welcome(c, 25, &back),
		    WIRE_ETRAILING);
		free(c);
	}
	free(pl);

	/* A later proto goes through as it is. */
	buf_reset(&out);
	m.proto = 0xffff;
	cr_assert_eq(wire_encode_welcome(&out, &m), 0);
	pl = frame_payload(&out, WIRE_WELCOME, &n);
	cr_assert_eq(n, 26);
	cr_assert_eq(wire_decode_welcome(pl, n, &back), WIRE_OK);
	cr_assert_eq(back.proto, 0xffff);
	free(pl);

	/* Protos below 2 are not written: 24 bytes, read back as 1. */
	for (uint16_t proto = 0; proto < WIRE_PROTO_PROBES; proto++) {
		buf_reset(&out);
		m.proto = proto;
		cr_assert_eq(wire_encode_welcome(&out, &m), 0);
		pl = frame_payload(&out, WIRE_WELCOME, &n);
		cr_assert_eq(n, 24, "proto %u written", proto);
		cr_assert_eq(wire_decode_welcome(pl, n, &back), WIRE_OK);
		cr_assert_eq(back.proto, WIRE_PROTO_BASE);
		free(pl);
	}
	buf_free(&out);

	/* A trailing proto below 2 is refused: it would not be there. */
	for (uint16_t proto = 0; proto < WIRE_PROTO_PROBES; proto++) {
		p.n = 24;
		pb_u16(&p, proto);
		cr_assert_eq(wire_decode_welcome(p.b, p.n, &back), WIRE_EFIELD,
		    "trailing proto %u", proto);
	}
	/* And three bytes after the times are one too many. */
	p.n = 24;
	pb_u16(&p, 2);
	pb_u8(&p, 0);
	cr_assert_eq(wire_decode_welcome(p.b, p.n, &back), WIRE_ETRAILING);
}

/* --- PROBE_REQUEST ------------------------------------------------------ */

static void
sample_request(struct wire_probe_request *m)
{
	memset(m, 0, sizeof(*m));
	m->id = 0x1122334455667788ULL;
	snprintf(m->base, sizeof(m->base), "http://collector.example:7472");
	m->port = 7472;
	snprintf(m->token, sizeof(m->token), "tok-3f9a");
	m->max_bytes = 104857600;
	m->max_ms = 10000;
	m->streams = 4;
}

static void
assert_request_eq(const struct wire_probe_request *a,
    const struct wire_probe_request *b)
{
	cr_assert_eq(a->id, b->id);
	cr_assert_str_eq(a->base, b->base);
	cr_assert_eq(a->port, b->port);
	cr_assert_str_eq(a->token, b->token);
	cr_assert_eq(a->max_bytes, b->max_bytes);
	cr_assert_eq(a->max_ms, b->max_ms);
	cr_assert_eq(a->streams, b->streams);
}

static int
request_through(const struct wire_probe_request *m,
    struct wire_probe_request *back)
{
	struct buf out;
	uint8_t *pl;
	size_t n;
	int rc;

	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_probe_request(&out, m), 0);
	pl = frame_payload(&out, WIRE_PROBE_REQUEST, &n);
	rc = wire_decode_probe_request(pl, n, back);
	free(pl);
	buf_free(&out);
	return rc;
}

/* id, base, port, token, max_bytes, max_ms, streams (wire.h). */
static void
pb_request_n(struct pb *p, const struct wire_probe_request *m,
    const char *base, size_t base_len, const char *token, size_t token_len)
{
	pb_u64(p, m->id);
	pb_strn(p, base, base_len);
	pb_u16(p, m->port);
	pb_strn(p, token, token_len);
	pb_u64(p, m->max_bytes);
	pb_u32(p, m->max_ms);
	pb_u8(p, m->streams);
}

Test(wire, probe_request_known_bytes)
{
	static const uint8_t want[] = {
	    0x53, 0x4e, 0x01, 0x0a, 0x00, 0x00, 0x00, 0x1d, /* header, 29 */
	    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, /* id 258 */
	    0x00, 0x00,					    /* base "" */
	    0x1d, 0x30,					    /* port 7472 */
	    0x00, 0x02, 't', 'k',			    /* token */
	    0x00, 0x00, 0x00, 0x00, 0x06, 0x40, 0x00, 0x00, /* 100 MiB */
	    0x00, 0x00, 0x27, 0x10,			    /* 10000 ms */
	    0x10,					    /* 16 streams */
	};
	struct wire_probe_request m = {.id = 258, .port = 7472,
	    .token = "tk", .max_bytes = 104857600, .max_ms = 10000,
	    .streams = 16};
	struct wire_probe_request back;
	struct pb p = {.n = 0};
	struct buf out;

	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_probe_request(&out, &m), 0);
	cr_assert_eq(out.len, sizeof(want));
	cr_assert_arr_eq(out.data, want, sizeof(want));
	cr_assert_eq(wire_decode_probe_request(want + WIRE_HEADER_LEN,
			 sizeof(want) - WIRE_HEADER_LEN, &back), WIRE_OK);
	assert_request_eq(&m, &back);
	buf_free(&out);

	/* The builder agrees with the sample, base and all. */
	sample_request(&m);
	pb_request_n(&p, &m, m.base, strlen(m.base), m.token,
	    strlen(m.token));
	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_probe_request(&out, &m), 0);
	cr_assert_eq(out.len, WIRE_HEADER_LEN + p.n);
	cr_assert_arr_eq(out.data + WIRE_HEADER_LEN, p.b, p.n);
	buf_free(&out);
}

Test(wire, roundtrip_probe_request)
{
	struct wire_probe_request m, back;

	sample_request(&m);
	memset(&back, 0x5a, sizeof(back));
	cr_assert_eq(request_through(&m, &back), WIRE_OK);
	assert_request_eq(&m, &back);

	/* Strings at their caps in UTF-8, figures at their edges. */
	fill(m.base, "学校", WIRE_TEXT_MAX / 6); /* 42 x 6 = 252 */
	strcat(m.base, "/pr");
	fill(m.token, "令", WIRE_NAME_MAX / 3);
	cr_assert_eq(strlen(m.base), WIRE_TEXT_MAX);
	cr_assert_eq(strlen(m.token), WIRE_NAME_MAX);
	m.id = UINT64_MAX;
	m.port = UINT16_MAX;
	m.max_bytes = UINT64_MAX;
	m.max_ms = 300000;
	m.streams = WIRE_PROBE_MAX_STREAMS;
	cr_assert_eq(request_through(&m, &back), WIRE_OK);
	assert_request_eq(&m, &back);

	/* No base: the agent builds it from the host and the port. */
	sample_request(&m);
	m.base[0] = '\0';
	m.streams = 1;
	m.max_bytes = 1;
	m.max_ms = 1;
	cr_assert_eq(request_through(&m, &back), WIRE_OK);
	assert_request_eq(&m, &back);
	/* A base and no port. */
	sample_request(&m);
	m.port = 0;
	cr_assert_eq(request_through(&m, &back), WIRE_OK);
	assert_request_eq(&m, &back);
}

Test(wire, probe_request_field_ranges, .init = init_big)
{
	struct wire_probe_request m, back;

#define RQ_BAD(what, stmt)                                                   \
	do {                                                                 \
		sample_request(&m);                                          \
		stmt;                                                        \
		cr_assert_eq(request_through(&m, &back), WIRE_EFIELD, what); \
	} while (0)
#define RQ_OK(what, stmt)                                                \
	do {                                                             \
		sample_request(&m);                                      \
		stmt;                                                    \
		cr_assert_eq(request_through(&m, &back), WIRE_OK, what); \
	} while (0)

	RQ_BAD("id 0", m.id = 0);
	RQ_BAD("empty token", m.token[0] = '\0');
	RQ_BAD("streams 0", m.streams = 0);
	RQ_BAD("streams 17", m.streams = WIRE_PROBE_MAX_STREAMS + 1);
	RQ_BAD("max_bytes < streams", m.max_bytes = m.streams - 1);
	RQ_BAD("max_bytes 0", m.max_bytes = 0);
	RQ_BAD("max_ms 0", m.max_ms = 0);
	RQ_BAD("max_ms 300001", m.max_ms = 300001);
	RQ_BAD("max_ms 2^32-1", m.max_ms = UINT32_MAX);
	RQ_BAD("no port, no base", (m.port = 0, m.base[0] = '\0'));
	RQ_BAD("base not UTF-8", snprintf(m.base, sizeof(m.base), "\xff"));
	RQ_BAD("token with a newline",
	    snprintf(m.token, sizeof(m.token), "a\nb"));
	RQ_OK("max_bytes = streams", m.max_bytes = m.streams);
	RQ_OK("max_ms 300000", m.max_ms = 300000);
#undef RQ_BAD
#undef RQ_OK

	/* Strings over their caps, by hand (the encoder refuses them). */
	for (int which = 0; which < 2; which++) {
		struct pb p = {.n = 0};

		sample_request(&m);
		pb_request_n(&p, &m, big, WIRE_TEXT_MAX + (which == 0), big,
		    WIRE_NAME_MAX + (which == 1));
		cr_assert_eq(wire_decode_probe_request(p.b, p.n, &back),
		    WIRE_EFIELD, "string %d over its cap", which);
	}
	{
		struct pb p = {.n = 0};

		sample_request(&m);
		pb_request_n(&p, &m, big, WIRE_TEXT_MAX, big, WIRE_NAME_MAX);
		cr_assert_eq(wire_decode_probe_request(p.b, p.n, &back),
		    WIRE_OK, "strings at their caps");
	}
}

Test(wire, probe_request_truncated_and_trailing)
{
	struct wire_probe_request m;
	struct buf out;
	uint8_t *pl;
	size_t n;

	sample_request(&m);
	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_probe_request(&out, &m), 0);
	pl = frame_payload(&out, WIRE_PROBE_REQUEST, &n);
	check_truncations(pl, n, dec_probe_request, "PROBE_REQUEST");
	free(pl);
	buf_free(&out);
}

Test(wire, probe_request_encoder_refuses_long_strings)
{
	struct {
		struct wire_probe_request m;
		char spill[16];
	} big_r;
	struct buf out;

	buf_init(&out, WIRE_MAX_FRAME);
	memset(&big_r, 0, sizeof(big_r));
	sample_request(&big_r.m);
	memset(big_r.m.base, 'b', sizeof(big_r.m.base));
	big_r.m.port = 0; /* ends the base string */
	cr_assert_eq(wire_encode_probe_request(&out, &big_r.m), -1,
	    "base 256 bytes");
	cr_assert_eq(out.len, 0);
	memset(&big_r, 0, sizeof(big_r));
	sample_request(&big_r.m);
	memset(big_r.m.token, 't', sizeof(big_r.m.token));
	big_r.m.max_bytes = 0;
	cr_assert_eq(wire_encode_probe_request(&out, &big_r.m), -1,
	    "token 64 bytes");
	cr_assert_eq(out.len, 0);
	buf_free(&out);
}

/* --- CHECKS ------------------------------------------------------------- */

/* n items; item i has id i + 1 and short UTF-8 strings. */
static void
sample_checks(struct wire_checks *m, struct wire_check *items, uint32_t n)
{
	memset(m, 0, sizeof(*m));
	m->interval_ms = 60000;
	m->timeout_ms = 5000;
	m->n = n;
	m->items = n ? items : NULL;
	for (uint32_t i = 0; i < n; i++) {
		memset(&items[i], 0, sizeof(items[i]));
		items[i].id = i + 1;
		snprintf(items[i].room, sizeof(items[i].room), "录播室%u", i);
		snprintf(items[i].url, sizeof(items[i].url),
		    "http://10.17.3.%u/status", i % 250 + 1);
		if (i % 2)
			snprintf(items[i].expect, sizeof(items[i].expect),
			    "录制中");
	}
}

static void
assert_checks_eq(const struct wire_checks *a, const struct wire_checks *b)
{
	cr_assert_eq(a->interval_ms, b->interval_ms);
	cr_assert_eq(a->timeout_ms, b->timeout_ms);
	cr_assert_eq(a->n, b->n);
	cr_assert((a->n == 0) == (b->items == NULL));
	for (uint32_t i = 0; i < a->n; i++) {
		cr_assert_eq(a->items[i].id, b->items[i].id, "item %u", i);
		cr_assert_str_eq(a->items[i].room, b->items[i].room);
		cr_assert_str_eq(a->items[i].url, b->items[i].url);
		cr_assert_str_eq(a->items[i].expect, b->items[i].expect);
	}
}

/* Encode, decode, compare when it decodes, free; returns the result. */
static int
checks_through(const struct wire_checks *m)
{
	struct wire_checks back;
	struct buf out;
	uint8_t *pl;
	size_t n;
	int rc;

	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_checks(&out, m), 0);
	pl = frame_payload(&out, WIRE_CHECKS, &n);
	memset(&back, 0x5a, sizeof(back));
	rc = wire_decode_checks(pl, n, &back);
	if (rc == WIRE_OK)
		assert_checks_eq(m, &back);
	else
		cr_assert(back.items == NULL && back.n == 0,
		    "items left after an error");
	wire_checks_free(&back);
	cr_assert(back.items == NULL && back.n == 0);
	free(pl);
	buf_free(&out);
	return rc;
}

/* interval, timeout, n, then each id, room, url, expect (wire.h). */
static void
pb_checks_head(struct pb *p, uint32_t interval, uint32_t timeout, uint32_t n)
{
	pb_u32(p, interval);
	pb_u32(p, timeout);
	pb_u32(p, n);
}

Test(wire, checks_known_bytes)
{
	static const uint8_t want0[] = {0x53, 0x4e, 0x01, 0x0b, 0, 0, 0, 12,
	    0x00, 0x00, 0xea, 0x60, /* 60000 */
	    0x00, 0x00, 0x13, 0x88, /* 5000 */
	    0x00, 0x00, 0x00, 0x00};
	struct wire_check items[2];
	struct wire_checks m, back;
	struct pb p = {.n = 0};
	struct buf out;

	sample_checks(&m, items, 0);
	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_checks(&out, &m), 0);
	cr_assert_eq(out.len, sizeof(want0));
	cr_assert_arr_eq(out.data, want0, sizeof(want0));
	buf_free(&out);

	sample_checks(&m, items, 2);
	pb_checks_head(&p, 60000, 5000, 2);
	pb_u64(&p, 1);
	pb_str(&p, "录播室0");
	pb_str(&p, "http://10.17.3.1/status");
	pb_str(&p, "");
	pb_u64(&p, 2);
	pb_str(&p, "录播室1");
	pb_str(&p, "http://10.17.3.2/status");
	pb_str(&p, "录制中");
	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_checks(&out, &m), 0);
	cr_assert_eq(out.data[3], 11, "CHECKS is type 11 on the wire");
	cr_assert_eq(out.len, WIRE_HEADER_LEN + p.n);
	cr_assert_arr_eq(out.data + WIRE_HEADER_LEN, p.b, p.n);
	cr_assert_eq(wire_decode_checks(p.b, p.n, &back), WIRE_OK);
	assert_checks_eq(&m, &back);
	wire_checks_free(&back);
	buf_free(&out);
	assert_no_leaks();
}

Test(wire, roundtrip_checks)
{
	static struct wire_check items[WIRE_MAX_CHECKS];
	struct wire_checks m;

	sample_checks(&m, items, 0);
	cr_assert_eq(checks_through(&m), WIRE_OK, "no hosts");
	sample_checks(&m, items, 1);
	cr_assert_eq(checks_through(&m), WIRE_OK, "one host");

	/* WIRE_MAX_CHECKS items, every string at its cap in UTF-8. */
	sample_checks(&m, items, WIRE_MAX_CHECKS);
	for (uint32_t i = 0; i < WIRE_MAX_CHECKS; i++) {
		struct wire_check *c = &items[i];

		c->id = UINT64_MAX - i;
		fill(c->room, "录", WIRE_NAME_MAX / 3);
		fill(c->url, "链", WIRE_TEXT_MAX / 3);
		fill(c->expect, "正", WIRE_TEXT_MAX / 3);
		cr_assert_eq(strlen(c->room), WIRE_NAME_MAX);
		cr_assert_eq(strlen(c->url), WIRE_TEXT_MAX);
		cr_assert_eq(strlen(c->expect), WIRE_TEXT_MAX);
	}
	m.interval_ms = UINT32_MAX;
	m.timeout_ms = 120000;
	cr_assert_eq(checks_through(&m), WIRE_OK, "%d hosts at their caps",
	    WIRE_MAX_CHECKS);
	/* The shortest interval, the timeout equal to it. */
	sample_checks(&m, items, 3);
	m.interval_ms = m.timeout_ms = 1000;
	cr_assert_eq(checks_through(&m), WIRE_OK);
	assert_no_leaks();
}

Test(wire, checks_field_ranges, .init = init_big)
{
	struct wire_check items[3];
	struct wire_checks m, back;

#define CK_BAD(what, stmt)                                                \
	do {                                                              \
		sample_checks(&m, items, 3);                              \
		stmt;                                                     \
		cr_assert_eq(checks_through(&m), WIRE_EFIELD, what);      \
	} while (0)

	CK_BAD("interval 999", m.interval_ms = m.timeout_ms = 999);
	CK_BAD("interval 0", m.interval_ms = m.timeout_ms = 0);
	CK_BAD("timeout 0", m.timeout_ms = 0);
	CK_BAD("timeout 120001", (m.interval_ms = 200000,
	    m.timeout_ms = 120001));
	CK_BAD("timeout > interval", (m.interval_ms = 2000,
	    m.timeout_ms = 2001));
	CK_BAD("id 0", items[2].id = 0);
	CK_BAD("empty room", items[1].room[0] = '\0');
	CK_BAD("empty url", items[0].url[0] = '\0');
	CK_BAD("room not UTF-8", snprintf(items[1].room, sizeof(items[1].room),
	    "a\xc3"));
	CK_BAD("url with a control", snprintf(items[1].url,
	    sizeof(items[1].url), "http://a/\x01"));
	CK_BAD("expect not UTF-8", snprintf(items[2].expect,
	    sizeof(items[2].expect), "\xed\xa0\x80"));
#undef CK_BAD

	/* n above the cap, by hand (the encoder refuses it), with the
	 * items there and without. */
	{
		static const uint32_t counts[] = {WIRE_MAX_CHECKS + 1, 0x10000,
		    0xffffffff};

		for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]);
		     i++) {
			struct pb p = {.n = 0};

			pb_checks_head(&p, 60000, 5000, counts[i]);
			cr_assert_eq(wire_decode_checks(p.b, p.n, &back),
			    WIRE_EFIELD, "n %u", counts[i]);
			cr_assert(back.items == NULL && back.n == 0);
			for (int k = 0; k < 4; k++) {
				pb_u64(&p, (uint64_t)k + 1);
				pb_str(&p, "r");
				pb_str(&p, "http://h/");
				pb_str(&p, "");
			}
			cr_assert_eq(wire_decode_checks(p.b, p.n, &back),
			    WIRE_EFIELD, "n %u with items", counts[i]);
			cr_assert(back.items == NULL && back.n == 0);
		}
	}
	/* Strings one byte over their caps, by hand. */
	for (int which = 0; which < 3; which++) {
		struct pb p = {.n = 0};

		pb_checks_head(&p, 60000, 5000, 1);
		pb_u64(&p, 1);
		pb_strn(&p, big, WIRE_NAME_MAX + (which == 0));
		pb_strn(&p, big, WIRE_TEXT_MAX + (which == 1));
		pb_strn(&p, big, WIRE_TEXT_MAX + (which == 2));
		cr_assert_eq(wire_decode_checks(p.b, p.n, &back), WIRE_EFIELD,
		    "string %d over its cap", which);
		cr_assert(back.items == NULL && back.n == 0);
	}
	assert_no_leaks();
}

/* A count the remaining bytes cannot hold is truncated, and the decoder
 * must not keep anything allocated for it. */
Test(wire, checks_count_beyond_remaining_bytes)
{
	static const uint32_t counts[] = {1, 2, 100, WIRE_MAX_CHECKS};
	struct wire_checks back;

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		struct pb p = {.n = 0};
		uint8_t *copy;

		pb_checks_head(&p, 60000, 5000, counts[i]);
		if (counts[i] > 1) {
			pb_u64(&p, 1);
			pb_str(&p, "r");
			pb_str(&p, "http://h/");
			pb_str(&p, "");
		}
		copy = dup_bytes(p.b, p.n);
		cr_assert_eq(wire_decode_checks(copy, p.n, &back),
		    WIRE_ETRUNCATED, "n %u", counts[i]);
		cr_assert(back.items == NULL && back.n == 0);
		free(copy);
	}
	assert_no_leaks();
}

Test(wire, checks_truncated_and_trailing)
{
	struct wire_check items[2];
	struct wire_checks m;
	struct buf out;
	uint8_t *pl;
	size_t n;

	buf_init(&out, WIRE_MAX_FRAME);
	sample_checks(&m, items, 0);
	cr_assert_eq(wire_encode_checks(&out, &m), 0);
	pl = frame_payload(&out, WIRE_CHECKS, &n);
	check_truncations(pl, n, dec_checks, "CHECKS, none");
	free(pl);
	buf_reset(&out);
	sample_checks(&m, items, 2);
	cr_assert_eq(wire_encode_checks(&out, &m), 0);
	pl = frame_payload(&out, WIRE_CHECKS, &n);
	check_truncations(pl, n, dec_checks, "CHECKS, two");
	free(pl);
	buf_free(&out);
	assert_no_leaks();
}

Test(wire, checks_encoder_refuses)
{
	static struct wire_check items[WIRE_MAX_CHECKS + 1];
	struct {
		struct wire_check c;
		char spill[16];
	} big_c;
	struct wire_ack a = {1, 1};
	struct wire_checks m;
	uint8_t before[64];
	size_t before_len;
	struct buf out;

	buf_init(&out, WIRE_MAX_FRAME);
	cr_assert_eq(wire_encode_ack(&out, &a), 0);
	before_len = out.len;
	memcpy(before, out.data, before_len);

	sample_checks(&m, items, WIRE_MAX_CHECKS + 1);
	cr_assert_eq(wire_encode_checks(&out, &m), -1, "n %d",
	    WIRE_MAX_CHECKS + 1);
	assert_buf_unchanged(&out, before, before_len);

	memset(&big_c, 0, sizeof(big_c));
	sample_checks(&m, &big_c.c, 1);
	memset(big_c.c.room, 'r', sizeof(big_c.c.room));
	big_c.c.url[0] = '\0';
	cr_assert_eq(wire_encode_checks(&out, &m), -1, "room 64 bytes");
	assert_buf_unchanged(&out, before, before_len);

	memset(&big_c, 0, sizeof(big_c));
	sample_checks(&m, &big_c.c, 1);
	memset(big_c.c.url, 'u', sizeof(big_c.c.url));
	big_c.c.expect[0] = '\0';
	cr_assert_eq(wire_encode_checks(&out, &m), -1, "url 256 bytes");
	assert_buf_unchanged(&out, before, before_len);

	memset(&big_c, 0, sizeof(big_c));
	sample_checks(&m, &big_c.c, 1);
	memset(big_c.c.expect, 'e', sizeof(big_c.c.expect));
	cr_assert_eq(wire_encode_checks(&out, &m), -1, "expect 256 bytes");
	assert_buf_unchanged(&out, before, before_len);
	buf_free(&out);
}

Test(wire, checks_free_is_idempotent)
{
	struct wire_checks m;

	memset(&m, 0, sizeof(m));
	wire_checks_free(&m);
	wire_checks_free(&m);
	cr_assert(m.items == NULL && m.n == 0);
}

Test(wire, type_names_new_frames)
{
	cr_assert_str_eq(wire_type_name(WIRE_PROBE), "PROBE");
	cr_assert_str_eq(wire_type_name(10), "PROBE_REQUEST");
	cr_assert_str_eq(wire_type_name(WIRE_PROBE_REQUEST), "PROBE_REQUEST");
	cr_assert_str_eq(wire_type_name(11), "CHECKS");
	cr_assert_str_eq(wire_type_name(WIRE_CHECKS), "CHECKS");
	cr_assert_str_eq(wire_type_name(12), "UNKNOWN");
	cr_assert_str_eq(wire_type_name(0), "UNKNOWN");
	cr_assert_str_eq(wire_type_name(-1), "UNKNOWN");
	cr_assert_eq(WIRE_TYPE_MAX, 11);
}

/* Garbage after a real frame of each new kind, as in mutated_probes. */
Test(wire, mutated_new_frames, .timeout = 120)
{
	struct wire_check items[3];
	struct wire_checks ck;
	struct wire_probe_request rq;
	struct wire_probe pr;
	struct buf out;
	uint8_t *pls[4];
	size_t lens[4];

	buf_init(&out, WIRE_MAX_FRAME);
	sample_tp_probe(&pr);
	cr_assert_eq(wire_encode_probe(&out, &pr), 0);
	pls[0] = frame_payload(&out, WIRE_PROBE, &lens[0]);
	buf_reset(&out);
	sample_host_probe(&pr);
	cr_assert_eq(wire_encode_probe(&out, &pr), 0);
	pls[1] = frame_payload(&out, WIRE_PROBE, &lens[1]);
	buf_reset(&out);
	sample_request(&rq);
	cr_assert_eq(wire_encode_probe_request(&out, &rq), 0);
	pls[2] = frame_payload(&out, WIRE_PROBE_REQUEST, &lens[2]);
	buf_reset(&out);
	sample_checks(&ck, items, 3);
	cr_assert_eq(wire_encode_checks(&out, &ck), 0);
	pls[3] = frame_payload(&out, WIRE_CHECKS, &lens[3]);
	lcg_state = 1104;
	for (int iter = 0; iter < 20000; iter++) {
		const uint8_t *pl = pls[iter % 4];
		size_t n = lens[iter % 4];
		size_t len = lcg() % 4 == 0 ? lcg() % (n + 16) : n;
		uint8_t *p = malloc(len ? len : 1);

		cr_assert_not_null(p);
		for (size_t i = 0; i < len; i++)
			p[i] = i < n ? pl[i] : (uint8_t)lcg();
		for (int k = 0, flips = 1 + (int)(lcg() % 4); k < flips && len;
		     k++)
			p[lcg() % len] ^= (uint8_t)(1u << (lcg() % 8));
		feed_all(p, len);
		free(p);
	}
	for (int i = 0; i < 4; i++)
		free(pls[i]);
	buf_free(&out);
	assert_no_leaks();
}
