/* wire.c: bounded encoders and decoders for the agent <-> collector frames. */
#include <stdbool.h>
#include <string.h>

#include "schoolnet/mem.h"
#include "schoolnet/utf8.h"
#include "schoolnet/wire.h"

/* Writer: appends into a struct buf and latches the first overflow. */
struct wr {
	struct buf *out;
	size_t start; /* offset of this frame's header */
	int err;
};

static void
wr_bytes(struct wr *w, const void *p, size_t n)
{
	if (!w->err && buf_add(w->out, p, n) != 0)
		w->err = -1;
}

static void
wr_u8(struct wr *w, uint8_t v)
{
	wr_bytes(w, &v, 1);
}

static void
wr_u16(struct wr *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	wr_bytes(w, b, sizeof(b));
}

static void
wr_u32(struct wr *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16),
	    (uint8_t)(v >> 8), (uint8_t)v};

	wr_bytes(w, b, sizeof(b));
}

static void
wr_u64(struct wr *w, uint64_t v)
{
	wr_u32(w, (uint32_t)(v >> 32));
	wr_u32(w, (uint32_t)v);
}

/* Strings longer than their cap are an encoder bug: refuse the frame. */
static void
wr_str(struct wr *w, const char *s, size_t cap)
{
	size_t n = strlen(s);

	if (n > cap) {
		w->err = -1;
		return;
	}
	wr_u16(w, (uint16_t)n);
	wr_bytes(w, s, n);
}

static void
wr_begin(struct wr *w, struct buf *out, enum wire_type type)
{
	w->out = out;
	w->start = out->len;
	w->err = 0;
	wr_u16(w, WIRE_MAGIC);
	wr_u8(w, WIRE_VERSION);
	wr_u8(w, (uint8_t)type);
	wr_u32(w, 0); /* patched in wr_end */
}

static int
wr_end(struct wr *w)
{
	size_t plen;
	uint8_t *h;

	if (!w->err) {
		plen = w->out->len - w->start - WIRE_HEADER_LEN;
		if (plen > WIRE_MAX_PAYLOAD)
			w->err = -1;
	}
	if (w->err) {
		w->out->len = w->start; /* leave the buffer as it was */
		return -1;
	}
	h = w->out->data + w->start + 4;
	h[0] = (uint8_t)(plen >> 24);
	h[1] = (uint8_t)(plen >> 16);
	h[2] = (uint8_t)(plen >> 8);
	h[3] = (uint8_t)plen;
	return 0;
}

/* Reader: every get checks the remaining length; the first failure sticks. */
struct rd {
	const uint8_t *p;
	size_t len, off;
	int err;
};

static const uint8_t *
rd_take(struct rd *r, size_t n)
{
	const uint8_t *p;

	if (r->err)
		return NULL;
	if (n > r->len - r->off) {
		r->err = WIRE_ETRUNCATED;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

static uint8_t
rd_u8(struct rd *r)
{
	const uint8_t *p = rd_take(r, 1);

	return p ? p[0] : 0;
}

static uint16_t
rd_u16(struct rd *r)
{
	const uint8_t *p = rd_take(r, 2);

	return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

static uint32_t
rd_u32(struct rd *r)
{
	const uint8_t *p = rd_take(r, 4);

	return p ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		(uint32_t)p[2] << 8 | p[3]
		 : 0;
}

static uint64_t
rd_u64(struct rd *r)
{
	uint64_t hi = rd_u32(r);

	return hi << 32 | rd_u32(r);
}

/* Copy a string into dst (cap bytes + NUL); it must be a valid label. */
static void
rd_str(struct rd *r, char *dst, size_t cap)
{
	uint16_t n = rd_u16(r);
	const uint8_t *p;

	dst[0] = '\0';
	if (r->err)
		return;
	if (n > cap) {
		r->err = WIRE_EFIELD;
		return;
	}
	if ((p = rd_take(r, n)) == NULL)
		return;
	if (!utf8_valid_label((const char *)p, n)) {
		r->err = WIRE_EFIELD;
		return;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
}

static int
rd_finish(struct rd *r)
{
	if (r->err)
		return r->err;
	if (r->off != r->len)
		return WIRE_ETRAILING;
	return WIRE_OK;
}

int
wire_header_parse(const uint8_t *p, size_t len, struct wire_header *h)
{
	if (len < WIRE_HEADER_LEN) {
		/* Reject garbage as early as the bytes allow. */
		if (len >= 1 && p[0] != (WIRE_MAGIC >> 8))
			return WIRE_EMAGIC;
		if (len >= 2 && p[1] != (WIRE_MAGIC & 0xff))
			return WIRE_EMAGIC;
		return 1;
	}
	if ((p[0] << 8 | p[1]) != WIRE_MAGIC)
		return WIRE_EMAGIC;
	h->version = p[2];
	h->type = p[3];
	h->length = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 |
	    (uint32_t)p[6] << 8 | p[7];
	if (h->version != WIRE_VERSION)
		return WIRE_EVERSION;
	if (h->type < WIRE_HELLO || h->type > WIRE_TYPE_MAX)
		return WIRE_ETYPE;
	if (h->length > WIRE_MAX_PAYLOAD)
		return WIRE_ETOOBIG;
	return WIRE_OK;
}

int
wire_frame_next(const struct buf *b, struct wire_header *h,
    const uint8_t **payload)
{
	int rc = wire_header_parse(b->data, b->len, h);

	if (rc == 1)
		return 0;
	if (rc < 0)
		return rc;
	if (b->len - WIRE_HEADER_LEN < h->length)
		return 0;
	*payload = b->data + WIRE_HEADER_LEN;
	return 1;
}

int
wire_encode_hello(struct buf *out, const struct wire_hello *m)
{
	struct wr w;

	wr_begin(&w, out, WIRE_HELLO);
	wr_u16(&w, m->proto);
	wr_str(&w, m->agent, WIRE_NAME_MAX);
	wr_str(&w, m->school, WIRE_NAME_MAX);
	wr_str(&w, m->software, WIRE_NAME_MAX);
	wr_u64(&w, m->epoch);
	return wr_end(&w);
}

int
wire_decode_hello(const uint8_t *p, size_t len, struct wire_hello *m)
{
	struct rd r = {p, len, 0, 0};

	m->proto = rd_u16(&r);
	rd_str(&r, m->agent, WIRE_NAME_MAX);
	rd_str(&r, m->school, WIRE_NAME_MAX);
	rd_str(&r, m->software, WIRE_NAME_MAX);
	m->epoch = rd_u64(&r);
	if (!r.err && (m->agent[0] == '\0' || m->school[0] == '\0'))
		r.err = WIRE_EFIELD;
	return rd_finish(&r);
}

int
wire_encode_welcome(struct buf *out, const struct wire_welcome *m)
{
	struct wr w;

	wr_begin(&w, out, WIRE_WELCOME);
	wr_u64(&w, m->epoch);
	wr_u64(&w, m->acked_seq);
	wr_u64(&w, m->server_time_ms);
	if (m->proto >= WIRE_PROTO_PROBES)
		wr_u16(&w, m->proto);
	return wr_end(&w);
}

int
wire_decode_welcome(const uint8_t *p, size_t len, struct wire_welcome *m)
{
	struct rd r = {p, len, 0, 0};

	m->epoch = rd_u64(&r);
	m->acked_seq = rd_u64(&r);
	m->server_time_ms = rd_u64(&r);
	m->proto = WIRE_PROTO_BASE;
	if (!r.err && r.len - r.off >= 2) {
		m->proto = rd_u16(&r);
		if (m->proto < WIRE_PROTO_PROBES)
			r.err = WIRE_EFIELD; /* then it would not be there */
	}
	return rd_finish(&r);
}

int
wire_encode_ack(struct buf *out, const struct wire_ack *m)
{
	struct wr w;

	wr_begin(&w, out, WIRE_ACK);
	wr_u64(&w, m->epoch);
	wr_u64(&w, m->seq);
	return wr_end(&w);
}

int
wire_decode_ack(const uint8_t *p, size_t len, struct wire_ack *m)
{
	struct rd r = {p, len, 0, 0};

	m->epoch = rd_u64(&r);
	m->seq = rd_u64(&r);
	return rd_finish(&r);
}

int
wire_encode_error(struct buf *out, const struct wire_error *m)
{
	struct wr w;

	wr_begin(&w, out, WIRE_ERROR);
	wr_u16(&w, m->code);
	wr_str(&w, m->message, WIRE_TEXT_MAX);
	return wr_end(&w);
}

int
wire_decode_error(const uint8_t *p, size_t len, struct wire_error *m)
{
	struct rd r = {p, len, 0, 0};

	m->code = rd_u16(&r);
	rd_str(&r, m->message, WIRE_TEXT_MAX);
	return rd_finish(&r);
}

int
wire_encode_status(struct buf *out, const struct wire_status *m)
{
	struct wr w;

	wr_begin(&w, out, WIRE_STATUS);
	wr_u64(&w, m->dropped);
	wr_u64(&w, m->pending);
	return wr_end(&w);
}

int
wire_decode_status(const uint8_t *p, size_t len, struct wire_status *m)
{
	struct rd r = {p, len, 0, 0};

	m->dropped = rd_u64(&r);
	m->pending = rd_u64(&r);
	return rd_finish(&r);
}

int
wire_encode_empty(struct buf *out, enum wire_type type)
{
	struct wr w;

	wr_begin(&w, out, type);
	return wr_end(&w);
}

int
wire_encode_report(struct buf *out, const struct wire_report *m)
{
	struct wr w;

	if (m->n_if > WIRE_MAX_IFS)
		return -1;
	wr_begin(&w, out, WIRE_REPORT);
	wr_u64(&w, m->seq);
	wr_u64(&w, m->epoch);
	wr_u64(&w, m->t_ms);
	wr_u32(&w, m->duration_ms);
	wr_u32(&w, m->interval_ms);
	wr_u32(&w, m->poll_interval_s);
	wr_u32(&w, m->sys_uptime);
	wr_u32(&w, m->pdus);
	wr_u8(&w, m->status);
	wr_u8(&w, m->flags);
	wr_str(&w, m->switch_name, WIRE_NAME_MAX);
	wr_str(&w, m->address, WIRE_ADDR_MAX);
	wr_str(&w, m->error, WIRE_TEXT_MAX);
	wr_u32(&w, m->n_if);
	for (uint32_t i = 0; i < m->n_if && !w.err; i++) {
		const struct wire_if *f = &m->ifs[i];

		wr_u32(&w, f->if_index);
		wr_u16(&w, f->if_type);
		wr_u8(&w, f->admin);
		wr_u8(&w, f->oper);
		wr_u8(&w, f->duplex);
		wr_u8(&w, f->flags);
		wr_u32(&w, f->speed_mbps);
		wr_str(&w, f->name, WIRE_TEXT_MAX);
		wr_str(&w, f->descr, WIRE_TEXT_MAX);
		wr_str(&w, f->alias, WIRE_ALIAS_MAX);
		wr_u64(&w, f->in_octets);
		wr_u64(&w, f->out_octets);
		wr_u64(&w, f->in_errors);
		wr_u64(&w, f->out_errors);
		wr_u64(&w, f->in_discards);
		wr_u64(&w, f->out_discards);
	}
	return wr_end(&w);
}

/* Smallest encoding of one interface record: fixed fields + 3 empty strings. */
#define WIRE_IF_MIN_LEN (4 + 2 + 4 * 1 + 4 + 3 * 2 + 6 * 8)

int
wire_decode_report(const uint8_t *p, size_t len, struct wire_report *m)
{
	struct rd r = {p, len, 0, 0};
	uint32_t n;
	int rc;

	memset(m, 0, sizeof(*m));
	m->seq = rd_u64(&r);
	m->epoch = rd_u64(&r);
	m->t_ms = rd_u64(&r);
	m->duration_ms = rd_u32(&r);
	m->interval_ms = rd_u32(&r);
	m->poll_interval_s = rd_u32(&r);
	m->sys_uptime = rd_u32(&r);
	m->pdus = rd_u32(&r);
	m->status = rd_u8(&r);
	m->flags = rd_u8(&r);
	rd_str(&r, m->switch_name, WIRE_NAME_MAX);
	rd_str(&r, m->address, WIRE_ADDR_MAX);
	rd_str(&r, m->error, WIRE_TEXT_MAX);
	n = rd_u32(&r);
	if (r.err)
		return r.err;
	if (m->status > WIRE_POLL_ERROR || m->switch_name[0] == '\0' ||
	    m->seq == 0)
		return WIRE_EFIELD;
	/* The count must be plausible for the bytes left before allocating. */
	if (n > WIRE_MAX_IFS || n > (r.len - r.off) / WIRE_IF_MIN_LEN)
		return n > WIRE_MAX_IFS ? WIRE_EFIELD : WIRE_ETRUNCATED;
	m->ifs = n ? xcalloc(n, sizeof(*m->ifs)) : NULL;
	m->n_if = n;
	for (uint32_t i = 0; i < n && !r.err; i++) {
		struct wire_if *f = &m->ifs[i];

		f->if_index = rd_u32(&r);
		f->if_type = rd_u16(&r);
		f->admin = rd_u8(&r);
		f->oper = rd_u8(&r);
		f->duplex = rd_u8(&r);
		f->flags = rd_u8(&r);
		f->speed_mbps = rd_u32(&r);
		rd_str(&r, f->name, WIRE_TEXT_MAX);
		rd_str(&r, f->descr, WIRE_TEXT_MAX);
		rd_str(&r, f->alias, WIRE_ALIAS_MAX);
		f->in_octets = rd_u64(&r);
		f->out_octets = rd_u64(&r);
		f->in_errors = rd_u64(&r);
		f->out_errors = rd_u64(&r);
		f->in_discards = rd_u64(&r);
		f->out_discards = rd_u64(&r);
		if (!r.err && (f->if_index == 0 || f->admin > 3 ||
				  f->oper > 7 || f->duplex > WIRE_DUPLEX_FULL))
			r.err = WIRE_EFIELD;
	}
	if ((rc = rd_finish(&r)) != WIRE_OK)
		wire_report_free(m);
	return rc;
}

int
wire_encode_probe(struct buf *out, const struct wire_probe *m)
{
	struct wr w;

	wr_begin(&w, out, WIRE_PROBE);
	wr_u64(&w, m->seq);
	wr_u64(&w, m->epoch);
	wr_u64(&w, m->t_ms);
	wr_u8(&w, m->kind);
	wr_u64(&w, m->ref);
	wr_str(&w, m->label, WIRE_NAME_MAX);
	wr_str(&w, m->target,
	    m->kind == WIRE_PROBE_LATENCY ? WIRE_ADDR_MAX : WIRE_TEXT_MAX);
	wr_u32(&w, m->interval_ms);
	wr_str(&w, m->error, WIRE_TEXT_MAX);
	switch (m->kind) {
	case WIRE_PROBE_LATENCY:
		wr_u32(&w, m->sent);
		wr_u32(&w, m->answered);
		wr_u32(&w, m->rtt_min_us);
		wr_u32(&w, m->rtt_avg_us);
		wr_u32(&w, m->rtt_max_us);
		wr_u32(&w, m->jitter_us);
		break;
	case WIRE_PROBE_THROUGHPUT:
		wr_u8(&w, m->tp.streams);
		wr_u8(&w, m->tp.measured);
		wr_u32(&w, m->tp.down_kbps);
		wr_u32(&w, m->tp.up_kbps);
		wr_u64(&w, m->tp.down_bytes);
		wr_u64(&w, m->tp.up_bytes);
		wr_u32(&w, m->tp.down_ms);
		wr_u32(&w, m->tp.up_ms);
		break;
	case WIRE_PROBE_HOST:
		wr_u8(&w, m->host.ok);
		wr_u16(&w, m->host.status);
		wr_u32(&w, m->host.time_ms);
		break;
	default:
		w.err = -1;
	}
	return wr_end(&w);
}

/* The figures of a latency round must be possible ones (see wire.h). */
static bool
latency_ok(const struct wire_probe *m)
{
	if (m->interval_ms == 0 || m->answered > m->sent ||
	    m->sent > WIRE_PROBE_MAX_SENT)
		return false;
	if (m->answered == 0)
		return m->rtt_min_us == 0 && m->rtt_avg_us == 0 &&
		    m->rtt_max_us == 0 && m->jitter_us == 0;
	return m->rtt_min_us <= m->rtt_avg_us &&
	    m->rtt_avg_us <= m->rtt_max_us &&
	    m->jitter_us <= m->rtt_max_us - m->rtt_min_us;
}

static bool
throughput_ok(const struct wire_probe *m)
{
	const struct wire_throughput *t = &m->tp;

	if (m->ref == 0 || t->streams < 1 ||
	    t->streams > WIRE_PROBE_MAX_STREAMS ||
	    (t->measured & ~(WIRE_TP_DOWN | WIRE_TP_UP)) != 0)
		return false;
	if (!(t->measured & WIRE_TP_DOWN) &&
	    (t->down_kbps || t->down_bytes || t->down_ms))
		return false;
	if (!(t->measured & WIRE_TP_UP) &&
	    (t->up_kbps || t->up_bytes || t->up_ms))
		return false;
	return true;
}

int
wire_decode_probe(const uint8_t *p, size_t len, struct wire_probe *m)
{
	struct rd r = {p, len, 0, 0};
	bool ok = false;

	memset(m, 0, sizeof(*m));
	m->seq = rd_u64(&r);
	m->epoch = rd_u64(&r);
	m->t_ms = rd_u64(&r);
	m->kind = rd_u8(&r);
	m->ref = rd_u64(&r);
	rd_str(&r, m->label, WIRE_NAME_MAX);
	rd_str(&r, m->target,
	    m->kind == WIRE_PROBE_LATENCY ? WIRE_ADDR_MAX : WIRE_TEXT_MAX);
	m->interval_ms = rd_u32(&r);
	rd_str(&r, m->error, WIRE_TEXT_MAX);
	switch (m->kind) {
	case WIRE_PROBE_LATENCY:
		m->sent = rd_u32(&r);
		m->answered = rd_u32(&r);
		m->rtt_min_us = rd_u32(&r);
		m->rtt_avg_us = rd_u32(&r);
		m->rtt_max_us = rd_u32(&r);
		m->jitter_us = rd_u32(&r);
		ok = m->ref == 0 && latency_ok(m);
		break;
	case WIRE_PROBE_THROUGHPUT:
		m->tp.streams = rd_u8(&r);
		m->tp.measured = rd_u8(&r);
		m->tp.down_kbps = rd_u32(&r);
		m->tp.up_kbps = rd_u32(&r);
		m->tp.down_bytes = rd_u64(&r);
		m->tp.up_bytes = rd_u64(&r);
		m->tp.down_ms = rd_u32(&r);
		m->tp.up_ms = rd_u32(&r);
		ok = throughput_ok(m);
		break;
	case WIRE_PROBE_HOST:
		m->host.ok = rd_u8(&r);
		m->host.status = rd_u16(&r);
		m->host.time_ms = rd_u32(&r);
		ok = m->ref != 0 && m->interval_ms != 0 && m->host.ok <= 1;
		break;
	}
	if (!r.err && (m->seq == 0 || m->label[0] == '\0' ||
			  m->target[0] == '\0' || !ok))
		r.err = WIRE_EFIELD;
	return rd_finish(&r);
}

int
wire_encode_probe_request(struct buf *out, const struct wire_probe_request *m)
{
	struct wr w;

	wr_begin(&w, out, WIRE_PROBE_REQUEST);
	wr_u64(&w, m->id);
	wr_str(&w, m->base, WIRE_TEXT_MAX);
	wr_u16(&w, m->port);
	wr_str(&w, m->token, WIRE_NAME_MAX);
	wr_u64(&w, m->max_bytes);
	wr_u32(&w, m->max_ms);
	wr_u8(&w, m->streams);
	return wr_end(&w);
}

int
wire_decode_probe_request(const uint8_t *p, size_t len,
    struct wire_probe_request *m)
{
	struct rd r = {p, len, 0, 0};

	memset(m, 0, sizeof(*m));
	m->id = rd_u64(&r);
	rd_str(&r, m->base, WIRE_TEXT_MAX);
	m->port = rd_u16(&r);
	rd_str(&r, m->token, WIRE_NAME_MAX);
	m->max_bytes = rd_u64(&r);
	m->max_ms = rd_u32(&r);
	m->streams = rd_u8(&r);
	if (!r.err &&
	    (m->id == 0 || m->token[0] == '\0' || m->streams < 1 ||
		m->streams > WIRE_PROBE_MAX_STREAMS ||
		m->max_bytes < m->streams || m->max_ms == 0 ||
		m->max_ms > 300000 || (m->port == 0 && m->base[0] == '\0')))
		r.err = WIRE_EFIELD;
	return rd_finish(&r);
}

int
wire_encode_checks(struct buf *out, const struct wire_checks *m)
{
	struct wr w;

	wr_begin(&w, out, WIRE_CHECKS);
	wr_u32(&w, m->interval_ms);
	wr_u32(&w, m->timeout_ms);
	if (m->n > WIRE_MAX_CHECKS)
		w.err = -1;
	wr_u32(&w, m->n);
	for (uint32_t i = 0; i < m->n && !w.err; i++) {
		wr_u64(&w, m->items[i].id);
		wr_str(&w, m->items[i].room, WIRE_NAME_MAX);
		wr_str(&w, m->items[i].url, WIRE_TEXT_MAX);
		wr_str(&w, m->items[i].expect, WIRE_TEXT_MAX);
	}
	return wr_end(&w);
}

/* Smallest encoding of one check: id + 3 empty strings. */
#define WIRE_CHECK_MIN_LEN (8 + 3 * 2)

int
wire_decode_checks(const uint8_t *p, size_t len, struct wire_checks *m)
{
	struct rd r = {p, len, 0, 0};
	int rc;

	memset(m, 0, sizeof(*m));
	m->interval_ms = rd_u32(&r);
	m->timeout_ms = rd_u32(&r);
	m->n = rd_u32(&r);
	if (!r.err &&
	    (m->n > WIRE_MAX_CHECKS || m->interval_ms < 1000 ||
		m->timeout_ms == 0 || m->timeout_ms > 120000 ||
		m->timeout_ms > m->interval_ms))
		r.err = WIRE_EFIELD;
	/* As for a report's interfaces: the count must fit the bytes left
	 * before anything is allocated for it. */
	if (!r.err && m->n > (r.len - r.off) / WIRE_CHECK_MIN_LEN)
		r.err = WIRE_ETRUNCATED;
	if (!r.err && m->n > 0)
		m->items = xcalloc(m->n, sizeof(*m->items));
	for (uint32_t i = 0; i < m->n && !r.err; i++) {
		struct wire_check *c = &m->items[i];

		c->id = rd_u64(&r);
		rd_str(&r, c->room, WIRE_NAME_MAX);
		rd_str(&r, c->url, WIRE_TEXT_MAX);
		rd_str(&r, c->expect, WIRE_TEXT_MAX);
		if (!r.err &&
		    (c->id == 0 || c->room[0] == '\0' || c->url[0] == '\0'))
			r.err = WIRE_EFIELD;
	}
	if ((rc = rd_finish(&r)) != WIRE_OK)
		wire_checks_free(m);
	return rc;
}

void
wire_checks_free(struct wire_checks *m)
{
	free(m->items);
	m->items = NULL;
	m->n = 0;
}

void
wire_report_free(struct wire_report *m)
{
	free(m->ifs);
	m->ifs = NULL;
	m->n_if = 0;
}

const char *
wire_strerror(int err)
{
	switch (err) {
	case WIRE_OK:
		return "ok";
	case WIRE_EMAGIC:
		return "not a schoolnet frame (bad magic)";
	case WIRE_EVERSION:
		return "unsupported protocol version";
	case WIRE_ETOOBIG:
		return "frame larger than the protocol cap";
	case WIRE_ETYPE:
		return "unknown message type";
	case WIRE_ETRUNCATED:
		return "payload shorter than its fields";
	case WIRE_ETRAILING:
		return "unexpected bytes after the last field";
	case WIRE_EFIELD:
		return "field out of range or not UTF-8";
	}
	return "unknown error";
}

const char *
wire_type_name(int type)
{
	static const char *const names[] = {NULL, "HELLO", "WELCOME",
	    "REPORT", "ACK", "ERROR", "PING", "PONG", "STATUS", "PROBE",
	    "PROBE_REQUEST", "CHECKS"};

	if (type >= WIRE_HELLO && type <= WIRE_TYPE_MAX)
		return names[type];
	return "UNKNOWN";
}

const char *
wire_oper_name(int oper)
{
	static const char *const names[] = {"unknown", "up", "down", "testing",
	    "unknown", "dormant", "notPresent", "lowerLayerDown"};

	if (oper >= 1 && oper <= 7)
		return names[oper];
	return "unknown";
}

const char *
wire_duplex_name(int duplex)
{
	switch (duplex) {
	case WIRE_DUPLEX_HALF:
		return "half";
	case WIRE_DUPLEX_FULL:
		return "full";
	}
	return "unknown";
}
