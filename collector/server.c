/* server.c: the TCP endpoint agents connect to; one libuv stream each. */
#include <ctype.h>
#include <netdb.h>
#include <string.h>

#include "collector.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"
#include "schoolnet/timeutil.h"
#include "schoolnet/tls.h"

#define READ_CHUNK 65536

struct conn {
	struct server *s;
	uv_tcp_t tcp;
	uv_shutdown_t shutdown_req;
	struct buf in;
	char peer[64];
	struct agent_state *ag;	/* set by HELLO */
	struct tls *tls;	/* NULL when tls = off */
	char key_school[64];	/* the school the agent's key is for */
	uint64_t epoch;
	uint16_t proto;		/* what we answered in WELCOME */
	uint64_t id;		/* never reused while the collector runs */
	int refs;		/* the open connection + queued reports */
	bool closing, failing, reading, throttled;
	bool got_bytes;		/* the peer has sent something */
	uint64_t failing_since;	/* conn_fail: the ERROR frame may never drain */
	uint64_t last_frame;	/* when the last whole frame arrived (or we
				   began reading: the clock for hello and
				   idle deadlines) */
	uint64_t partial_since;	/* a frame begun but not finished, or 0 */
	double tokens;		/* reports it may send now (rate_limit) */
	uint64_t tokens_at;
	uint64_t reports;
	struct conn *prev, *next;
};

struct server {
	uv_loop_t *loop;
	const struct collector_conf *conf;
	struct agent_table *agents;
	struct ingest *ingest;
	uv_tcp_t listener;
	uv_timer_t sweep;	/* once a second: deadlines and throttling */
	struct tls_ctx *tls_ctx;
	struct keystore *keys;
	/* Ciphertext lands here first: libuv reads one socket at a time. */
	uint8_t raw[READ_CHUNK];
	struct conn *conns;
	size_t n_conns;
	size_t n_handshaking;	/* connections before their HELLO */
	int handles;
	bool paused;
	uint64_t accepted, refused;
	uint64_t conn_ids;
};

struct wreq {
	uv_write_t req;
	uint8_t data[];
};

static void conn_spend_token(struct conn *c);
static void conn_frames(struct conn *c);

void
conn_ref(struct conn *c)
{
	c->refs++;
}

void
conn_unref(struct conn *c)
{
	if (--c->refs > 0)
		return;
	buf_free(&c->in);
	tls_free(c->tls);
	free(c);
}

static void
on_conn_closed(uv_handle_t *h)
{
	conn_unref(h->data);
}

static void
conn_close(struct conn *c, const char *reason)
{
	struct server *s = c->s;

	if (c->closing)
		return;
	c->closing = true;
	if (reason && c->ag)
		log_info("agent %s (%s): connection closed: %s", c->ag->name,
		    c->peer, reason);
	else if (reason)
		log_info("peer %s: connection closed: %s", c->peer, reason);
	if (c->ag && c->ag->conn == c)
		c->ag->conn = NULL;
	if (c->ag == NULL)
		s->n_handshaking--;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_conns--;
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void
on_written(uv_write_t *req, int status)
{
	struct wreq *w = container_of(req, struct wreq, req);
	struct conn *c = req->data;

	free(w);
	if (status < 0 && status != UV_ECANCELED)
		conn_close(c, uv_strerror(status));
	conn_unref(c);
}

/* Queue bytes as they go on the wire. */
static int
conn_send_raw(struct conn *c, const uint8_t *p, size_t len)
{
	struct wreq *w;
	uv_buf_t b;

	if (c->closing)
		return -1;
	if (len == 0)
		return 0;
	w = xmalloc(sizeof(*w) + len);
	memcpy(w->data, p, len);
	w->req.data = c;
	b = uv_buf_init((char *)w->data, (unsigned)len);
	conn_ref(c);
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) {
		free(w);
		conn_unref(c);
		conn_close(c, "write failed");
		return -1;
	}
	return 0;
}

/* Whatever TLS has to say (handshake, records) goes out now. */
static int
conn_flush_tls(struct conn *c)
{
	struct buf out;
	int rc = 0;

	buf_init(&out, 4 * WIRE_MAX_FRAME);
	if (tls_take_output(c->tls, &out) != 0) {
		log_warnx("peer %s: TLS: %s", c->peer, tls_error(c->tls));
		rc = -1;
	} else {
		rc = conn_send_raw(c, out.data, out.len);
	}
	buf_free(&out);
	return rc;
}

static int
conn_write(struct conn *c, const struct buf *frame)
{
	if (c->tls == NULL)
		return conn_send_raw(c, frame->data, frame->len);
	if (c->closing)
		return -1;
	if (tls_write(c->tls, frame->data, frame->len) != 0) {
		log_warnx("peer %s: TLS: %s", c->peer, tls_error(c->tls));
		conn_close(c, "TLS write failed");
		return -1;
	}
	return conn_flush_tls(c);
}

static void
on_shutdown(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;

	(void)status;
	conn_close(c, NULL);
	conn_unref(c);
}

/* Tell the peer why, then hang up once the ERROR frame is out. */
static void
conn_fail(struct conn *c, enum wire_error_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
conn_fail(struct conn *c, enum wire_error_code code, const char *fmt, ...)
{
	struct wire_error e;
	struct buf frame;
	va_list ap;

	if (c->closing || c->failing)
		return;
	c->failing = true;
	c->failing_since = uv_now(c->s->loop);
	e.code = (uint16_t)code;
	va_start(ap, fmt);
	vsnprintf(e.message, sizeof(e.message), fmt, ap);
	va_end(ap);
	log_warnx("peer %s%s%s: %s; closing", c->peer,
	    c->ag ? " agent " : "", c->ag ? c->ag->name : "", e.message);
	uv_read_stop((uv_stream_t *)&c->tcp);
	/* In TLS mode there is nowhere to say why until the handshake is
	 * done (and a plaintext frame would only confuse the agent). */
	if (c->s->tls_ctx && (c->tls == NULL || !tls_handshake_done(c->tls))) {
		conn_close(c, NULL);
		return;
	}
	buf_init(&frame, WIRE_MAX_FRAME);
	if (wire_encode_error(&frame, &e) == 0 && conn_write(c, &frame) == 0) {
		c->shutdown_req.data = c;
		conn_ref(c);
		if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp,
			on_shutdown) == 0) {
			buf_free(&frame);
			return;
		}
		conn_unref(c);
	}
	buf_free(&frame);
	conn_close(c, NULL);
}

void
conn_send_ack(struct conn *c, uint64_t epoch, uint64_t seq)
{
	struct wire_ack a = {epoch, seq};
	struct buf frame;

	if (c->closing || c->failing || epoch != c->epoch)
		return;
	buf_init(&frame, WIRE_HEADER_LEN + 64);
	if (wire_encode_ack(&frame, &a) == 0)
		(void)conn_write(c, &frame);
	buf_free(&frame);
}

int
conn_send_frame(struct conn *c, const struct buf *frame)
{
	if (c->closing || c->failing || c->ag == NULL)
		return -1;
	return conn_write(c, frame);
}

size_t
server_probe_peers(struct server *s, struct probe_peer **out)
{
	struct probe_peer *v = NULL;
	size_t n = 0;

	for (struct conn *c = s->conns; c; c = c->next) {
		struct probe_peer *p;

		if (c->ag == NULL || c->closing || c->failing ||
		    c->proto < WIRE_PROTO_PROBES || c->ag->conn != c)
			continue;
		v = xreallocarray(v, n + 1, sizeof(*v));
		p = &v[n++];
		memset(p, 0, sizeof(*p));
		snprintf(p->agent, sizeof(p->agent), "%s", c->ag->name);
		snprintf(p->school, sizeof(p->school), "%s", c->ag->school);
		p->conn = c;
		p->conn_id = c->id;
		conn_ref(c);
	}
	*out = v;
	return n;
}

static bool
valid_ident(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return false;
	return true;
}

static void
handle_hello(struct conn *c, const uint8_t *p, size_t len)
{
	struct server *s = c->s;
	struct wire_welcome wel;
	struct wire_hello h;
	struct agent_state *ag;
	struct buf frame;
	int rc;

	if ((rc = wire_decode_hello(p, len, &h)) != 0) {
		conn_fail(c, WIRE_ERR_PROTOCOL, "bad HELLO: %s",
		    wire_strerror(rc));
		return;
	}
	if (!valid_ident(h.agent) || !valid_ident(h.school)) {
		conn_fail(c, WIRE_ERR_PROTOCOL,
		    "agent and school names may use letters, digits, '.', '_' "
		    "and '-' only");
		return;
	}
	/* An agent reports for the school its key or certificate names. */
	if (c->tls && s->conf->tls == TLS_MODE_CERT)
		snprintf(c->key_school, sizeof(c->key_school), "%s",
		    tls_peer_identity(c->tls));
	if (c->tls && strcmp(h.school, c->key_school) != 0) {
		conn_fail(c, WIRE_ERR_AUTH,
		    "agent %s claims school %s, but its %s is for school %s",
		    h.agent, h.school,
		    s->conf->tls == TLS_MODE_PSK ? "key" : "certificate",
		    c->key_school);
		return;
	}
	ag = agents_get(s->agents, h.agent, true);
	if (c->tls && ag->school[0] && strcmp(ag->school, h.school) != 0) {
		conn_fail(c, WIRE_ERR_AUTH,
		    "agent name %s belongs to school %s, not %s (use another "
		    "name, or move it with a new key and a new name)",
		    h.agent, ag->school, h.school);
		return;
	}
	if (ag->conn && ag->conn != c)
		conn_close(ag->conn, "replaced by a new connection of the "
				     "same agent");
	if (ag->school[0] && strcmp(ag->school, h.school) != 0)
		log_warnx("agent %s now reports school %s (was %s)", h.agent,
		    h.school, ag->school);
	snprintf(ag->school, sizeof(ag->school), "%s", h.school);
	snprintf(ag->software, sizeof(ag->software), "%s", h.software);
	if (h.epoch != ag->epoch) {
		if (ag->epoch)
			log_info("agent %s: new sequence space (spool "
				 "recreated?): epoch %016llx",
			    h.agent, (unsigned long long)h.epoch);
		ag->epoch = h.epoch;
		ag->acked_seq = 0;
	}
	ag->conn = c;
	c->ag = ag;
	c->epoch = h.epoch;
	s->n_handshaking--;
	wel.epoch = h.epoch;
	wel.acked_seq = ag->acked_seq;
	wel.server_time_ms = time_now_ms();
	/* Only an agent that speaks probes gets our proto (and later CHECKS
	 * and PROBE_REQUEST): an older one refuses the trailing field. */
	c->proto = h.proto >= WIRE_PROTO_PROBES ? WIRE_PROTO : WIRE_PROTO_BASE;
	wel.proto = c->proto;
	buf_init(&frame, WIRE_HEADER_LEN + 64);
	if (wire_encode_welcome(&frame, &wel) == 0)
		(void)conn_write(c, &frame);
	buf_free(&frame);
	log_info("agent %s (school %s, %s, protocol %u) connected from %s; "
		 "stored up to seq %llu",
	    h.agent, h.school, h.software, c->proto, c->peer,
	    (unsigned long long)ag->acked_seq);
}

/*
 * A decoded REPORT or PROBE (it->kind set) goes to the writer, which
 * stores, de-duplicates and acknowledges both alike: one sequence per
 * agent epoch. The epoch must be the HELLO's. Takes it.
 */
static void
conn_push_sequenced(struct conn *c, struct ingest_item *it, uint64_t epoch,
    uint64_t seq)
{
	if (epoch != c->epoch) {
		const char *what = wire_type_name(it->kind == ITEM_REPORT
			? WIRE_REPORT : WIRE_PROBE);

		if (it->kind == ITEM_REPORT)
			wire_report_free(&it->rep);
		free(it);
		conn_fail(c, WIRE_ERR_PROTOCOL,
		    "%s for another epoch than the HELLO's", what);
		return;
	}
	it->epoch = epoch;
	it->seq = seq;
	it->ag = c->ag;
	it->conn = c;
	conn_ref(c);
	snprintf(it->peer, sizeof(it->peer), "%s", c->peer);
	snprintf(it->school, sizeof(it->school), "%s", c->ag->school);
	snprintf(it->software, sizeof(it->software), "%s", c->ag->software);
	c->reports++;
	ingest_push(c->s->ingest, it);
}

static void
handle_frame(struct conn *c, const struct wire_header *h, const uint8_t *p)
{
	struct ingest_item *it;
	struct buf frame;
	int rc;

	if (c->ag == NULL && h->type != WIRE_HELLO) {
		conn_fail(c, WIRE_ERR_PROTOCOL, "expected HELLO, got %s",
		    wire_type_name(h->type));
		return;
	}
	switch (h->type) {
	case WIRE_HELLO:
		if (c->ag) {
			conn_fail(c, WIRE_ERR_PROTOCOL, "second HELLO");
			return;
		}
		handle_hello(c, p, h->length);
		return;
	case WIRE_STATUS:
		it = xcalloc(1, sizeof(*it));
		it->kind = ITEM_STATUS;
		if ((rc = wire_decode_status(p, h->length, &it->status)) != 0) {
			free(it);
			conn_fail(c, WIRE_ERR_PROTOCOL, "bad STATUS: %s",
			    wire_strerror(rc));
			return;
		}
		if (it->status.dropped > 0)
			log_info("agent %s: its spool has dropped %llu reports "
				 "in all; %llu waiting",
			    c->ag->name, (unsigned long long)it->status.dropped,
			    (unsigned long long)it->status.pending);
		it->ag = c->ag;
		snprintf(it->school, sizeof(it->school), "%s", c->ag->school);
		snprintf(it->software, sizeof(it->software), "%s",
		    c->ag->software);
		ingest_push(c->s->ingest, it);
		return;
	case WIRE_REPORT:
		conn_spend_token(c);
		it = xcalloc(1, sizeof(*it));
		if ((rc = wire_decode_report(p, h->length, &it->rep)) != 0) {
			free(it);
			conn_fail(c, WIRE_ERR_PROTOCOL, "bad REPORT: %s",
			    wire_strerror(rc));
			return;
		}
		it->kind = ITEM_REPORT;
		conn_push_sequenced(c, it, it->rep.epoch, it->rep.seq);
		return;
	case WIRE_PROBE:
		conn_spend_token(c);
		it = xcalloc(1, sizeof(*it));
		if ((rc = wire_decode_probe(p, h->length, &it->probe)) != 0) {
			free(it);
			conn_fail(c, WIRE_ERR_PROTOCOL, "bad PROBE: %s",
			    wire_strerror(rc));
			return;
		}
		it->kind = ITEM_PROBE;
		conn_push_sequenced(c, it, it->probe.epoch, it->probe.seq);
		return;
	case WIRE_PING:
		buf_init(&frame, WIRE_HEADER_LEN);
		if (wire_encode_empty(&frame, WIRE_PONG) == 0)
			(void)conn_write(c, &frame);
		buf_free(&frame);
		return;
	case WIRE_PONG:
		return;
	}
	conn_fail(c, WIRE_ERR_PROTOCOL, "unexpected %s from an agent",
	    wire_type_name(h->type));
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct conn *c = h->data;
	size_t room = c->in.cap - c->in.len;
	uint8_t *p;

	(void)suggested;
	if (c->tls) {
		*b = uv_buf_init((char *)c->s->raw, sizeof(c->s->raw));
		return;
	}
	if (room > READ_CHUNK)
		room = READ_CHUNK;
	p = room ? buf_reserve(&c->in, room) : NULL;
	*b = uv_buf_init((char *)p, p ? (unsigned)room : 0);
}

/* Handle every whole frame in the plaintext buffer. */
static void
conn_frames(struct conn *c)
{
	struct wire_header h;
	const uint8_t *payload;
	int rc;

	while (!c->closing && !c->failing &&
	    (rc = wire_frame_next(&c->in, &h, &payload)) != 0) {
		if (rc < 0) {
			conn_fail(c, WIRE_ERR_PROTOCOL, "malformed frame: %s",
			    wire_strerror(rc));
			return;
		}
		handle_frame(c, &h, payload);
		buf_consume(&c->in, WIRE_HEADER_LEN + h.length);
		c->last_frame = uv_now(c->s->loop);
		c->partial_since = 0;
	}
	/* Bytes of a frame not yet whole: the clock for read_timeout. */
	if (c->in.len > 0 && c->partial_since == 0)
		c->partial_since = uv_now(c->s->loop);
}

static void
on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct conn *c = st->data;

	if (n < 0 && !c->got_bytes && c->ag == NULL) {
		/* Connected and hung up without a byte: the agents' latency
		 * probes time TCP connects to the collector ([probe]). */
		log_debug("peer %s: closed before sending anything (%s): a "
			  "connect probe?",
		    c->peer, n == UV_EOF ? "end of stream" : uv_strerror((int)n));
		conn_close(c, NULL);
		return;
	}
	if (n < 0) {
		conn_close(c, n == UV_EOF ? "peer closed" : uv_strerror((int)n));
		return;
	}
	if (n > 0)
		c->got_bytes = true;
	if (c->tls == NULL) {
		buf_commit(&c->in, (size_t)n);
		conn_frames(c);
		return;
	}
	if (tls_feed(c->tls, (const uint8_t *)b->base, (size_t)n) != 0)
		goto tls_failed;
	/* Decrypt as much as fits, handle the frames, repeat. */
	for (;;) {
		size_t before = c->in.len;
		bool was_done = tls_handshake_done(c->tls);

		if (tls_read(c->tls, &c->in) != 0)
			goto tls_failed;
		if (conn_flush_tls(c) != 0)
			return;
		if (!was_done && tls_handshake_done(c->tls))
			log_debug("peer %s: TLS session with %s", c->peer,
			    tls_peer_identity(c->tls));
		if (c->in.len == before)
			break;
		conn_frames(c);
		if (c->closing || c->failing)
			return;
	}
	/* Ciphertext that made no whole frame yet (a record still coming in
	 * after the handshake) runs the read_timeout clock too. */
	if ((c->in.len > 0 || tls_pending_input(c->tls)) &&
	    c->partial_since == 0)
		c->partial_since = uv_now(c->s->loop);
	return;
tls_failed:
	log_warnx("peer %s: TLS: %s; closing", c->peer, tls_error(c->tls));
	(void)conn_flush_tls(c); /* the alert, if any */
	conn_close(c, NULL);
}

static void
conn_read(struct conn *c, bool on)
{
	on = on && !c->s->paused && !c->throttled;
	if (c->closing || c->failing || c->reading == on)
		return;
	c->reading = on;
	/* The peer's deadlines run only while we read from it. */
	if (on)
		c->last_frame = uv_now(c->s->loop), c->partial_since = 0;
	if (on)
		uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	else
		uv_read_stop((uv_stream_t *)&c->tcp);
}

void
server_pause(struct server *s, bool paused)
{
	s->paused = paused;
	for (struct conn *c = s->conns; c; c = c->next)
		conn_read(c, true);
}

/* Token bucket: rate_limit reports a second, bursts of twice that. */
static void
conn_refill(struct conn *c, uint64_t now)
{
	double rate = (double)c->s->conf->rate_limit;

	c->tokens += (double)(now - c->tokens_at) * rate / 1000.0;
	if (c->tokens > 2 * rate)
		c->tokens = 2 * rate;
	c->tokens_at = now;
}

/* A report costs a token; out of tokens, stop reading until the sweep
 * finds some again. The agent's window holds the rest: nothing is lost. */
static void
conn_spend_token(struct conn *c)
{
	conn_refill(c, uv_now(c->s->loop));
	c->tokens -= 1;
	if (c->tokens < 1 && !c->throttled) {
		c->throttled = true;
		log_debug("agent %s: above %ld reports/s, slowed down",
		    c->ag ? c->ag->name : c->peer, c->s->conf->rate_limit);
		conn_read(c, false);
	}
}

/* Once a second: the deadlines of every connection, and throttling. */
static void
on_sweep(uv_timer_t *t)
{
	struct server *s = t->data;
	const struct collector_conf *cf = s->conf;
	uint64_t now = uv_now(s->loop);
	struct conn *c, *next;

	for (c = s->conns; c; c = next) {
		next = c->next;
		if (c->closing)
			continue;
		if (c->failing) {
			/* A peer that does not read our ERROR: hang up. */
			if (now - c->failing_since > 5000)
				conn_close(c, "peer did not take the error");
			continue;
		}
		if (c->throttled) {
			conn_refill(c, now);
			if (c->tokens >= 1) {
				c->throttled = false;
				conn_read(c, true);
			}
			continue;
		}
		if (s->paused)
			continue; /* we are not reading: no deadlines */
		if (c->ag == NULL &&
		    now - c->last_frame > (uint64_t)(cf->hello_timeout * 1000))
			conn_fail(c, WIRE_ERR_PROTOCOL, "no HELLO within %g s",
			    cf->hello_timeout);
		else if (c->partial_since &&
		    now - c->partial_since > (uint64_t)(cf->read_timeout * 1000))
			conn_fail(c, WIRE_ERR_PROTOCOL,
			    "frame not completed within %g s (slow peer)",
			    cf->read_timeout);
		else if (now - c->last_frame >
		    (uint64_t)(cf->idle_timeout * 1000))
			conn_fail(c, WIRE_ERR_PROTOCOL,
			    "nothing received for %g s", cf->idle_timeout);
	}
}

static void
peer_name(uv_tcp_t *tcp, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char ip[64] = "?";

	if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0) {
		snprintf(buf, size, "?");
		return;
	}
	if (ss.ss_family == AF_INET6) {
		uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
		snprintf(buf, size, "[%s]:%u", ip,
		    ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	} else {
		uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
		snprintf(buf, size, "%s:%u", ip,
		    ntohs(((struct sockaddr_in *)&ss)->sin_port));
	}
}

static size_t
conn_psk_lookup(void *arg, const char *identity, uint8_t *key,
    const char **why)
{
	struct conn *c = arg;

	return keystore_lookup(c->s->keys, identity, key, c->key_school,
	    sizeof(c->key_school), why);
}

static void
on_connection(uv_stream_t *listener, int status)
{
	struct server *s = listener->data;
	struct conn *c;

	if (status < 0) {
		log_warnx("accept: %s", uv_strerror(status));
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->id = ++s->conn_ids;
	c->s = s;
	c->refs = 1;
	buf_init(&c->in, WIRE_MAX_FRAME + READ_CHUNK);
	uv_tcp_init(s->loop, &c->tcp);
	c->tcp.data = c;
	c->last_frame = c->tokens_at = uv_now(s->loop);
	c->tokens = 2.0 * (double)s->conf->rate_limit;
	s->n_handshaking++;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c, "accept failed");
		return;
	}
	peer_name(&c->tcp, c->peer, sizeof(c->peer));
	s->accepted++;
	if (s->n_conns > (size_t)s->conf->max_connections) {
		s->refused++;
		conn_fail(c, WIRE_ERR_BUSY, "collector at max_connections (%ld)",
		    s->conf->max_connections);
		return;
	}
	if (s->n_handshaking > (size_t)s->conf->max_handshakes) {
		s->refused++;
		conn_fail(c, WIRE_ERR_BUSY,
		    "too many connections introducing themselves at once "
		    "(max_handshakes %ld)",
		    s->conf->max_handshakes);
		return;
	}
	if (s->tls_ctx &&
	    (c->tls = tls_new(s->tls_ctx, true, c, NULL)) == NULL) {
		conn_close(c, "cannot start a TLS session");
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	uv_tcp_keepalive(&c->tcp, 1, 60);
	conn_read(c, true);
}

struct server *
server_new(uv_loop_t *loop, const struct collector_conf *conf,
    struct agent_table *agents, struct ingest *in)
{
	struct server *s = xcalloc(1, sizeof(*s));

	s->loop = loop;
	s->conf = conf;
	s->agents = agents;
	s->ingest = in;
	uv_tcp_init(loop, &s->listener);
	uv_timer_init(loop, &s->sweep);
	s->listener.data = s->sweep.data = s;
	s->handles = 2;
	uv_timer_start(&s->sweep, on_sweep, 1000, 1000);
	return s;
}

/* Certificates: the client certificate's CN names the school. */
static int
server_tls(struct server *s)
{
	char err[256];

	switch (s->conf->tls) {
	case TLS_MODE_OFF:
		log_warnx("tls = off: agents connect in plaintext and are not "
			  "authenticated; use this only on a closed network");
		return 0;
	case TLS_MODE_PSK:
		if ((s->keys = keystore_open(s->conf->database)) == NULL)
			return -1;
		s->tls_ctx = tls_ctx_server_psk(conn_psk_lookup, err);
		break;
	case TLS_MODE_CERT:
		s->tls_ctx = tls_ctx_server_cert(s->conf->tls_cert,
		    s->conf->tls_key, s->conf->tls_ca, err);
		break;
	}
	if (s->tls_ctx == NULL) {
		log_warnx("TLS: %s", err);
		return -1;
	}
	return 0;
}

void
server_set_conf(struct server *s, const struct collector_conf *conf)
{
	s->conf = conf;
}

int
server_start(struct server *s)
{
	struct addrinfo hints, *res = NULL;
	char port[8], where[300];
	int rc;

	if (server_tls(s) != 0)
		return -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(port, sizeof(port), "%u", s->conf->listen.port);
	hostport_format(&s->conf->listen, where, sizeof(where));
	if ((rc = getaddrinfo(s->conf->listen.host, port, &hints, &res)) != 0) {
		log_warnx("listen %s: %s", where, gai_strerror(rc));
		return -1;
	}
	rc = uv_tcp_bind(&s->listener, res->ai_addr, 0);
	freeaddrinfo(res);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&s->listener, 511, on_connection);
	if (rc != 0) {
		log_warnx("listen %s: %s", where, uv_strerror(rc));
		return -1;
	}
	log_info("listening for agents on %s (%s)", where,
	    s->conf->tls == TLS_MODE_PSK	? "TLS 1.3, per-agent keys"
	    : s->conf->tls == TLS_MODE_CERT ? "TLS 1.3, certificates"
					    : "plaintext");
	return 0;
}

static void
on_server_handle_closed(uv_handle_t *h)
{
	struct server *s = h->data;

	if (--s->handles == 0) {
		tls_ctx_free(s->tls_ctx);
		keystore_close(s->keys);
		free(s);
	}
}

void
server_close(struct server *s)
{
	while (s->conns)
		conn_close(s->conns, "collector shutting down");
	uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
	uv_close((uv_handle_t *)&s->sweep, on_server_handle_closed);
}

size_t
server_connections(const struct server *s, size_t *handshaking)
{
	*handshaking = s->n_handshaking;
	return s->n_conns;
}
