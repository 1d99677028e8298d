/* uplink.c: the agent's persistent, reconnecting connection to the collector. */
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"
#include "schoolnet/tls.h"
#include "schoolnet/version.h"

#define BACKOFF_BASE_MS 1000
#define BACKOFF_MAX_MS 60000
#define READ_CHUNK 65536

enum up_state { UP_WAIT, UP_RESOLVING, UP_CONNECTING, UP_HELLO, UP_READY };

struct uplink {
	uv_loop_t *loop;
	const struct agent_conf *conf;
	struct spool *sp;
	struct uplink_hooks hooks;
	enum up_state state;
	uv_tcp_t tcp;
	bool tcp_open;
	uv_connect_t connect_req;
	uv_getaddrinfo_t gai;
	bool gai_pending;
	uv_timer_t retry;
	uv_timer_t pace;	/* replay rate and keepalive */
	struct buf in;		/* plaintext frames from the collector */
	struct buf frame;	/* scratch for spool reads */
	struct buf out;		/* ciphertext to send */
	struct tls_ctx *tls_ctx; /* NULL when tls = off */
	struct tls *tls;	/* this connection's session */
	bool hello_sent;
	uint8_t raw[READ_CHUNK]; /* ciphertext as read */
	/* sent_seq: the last frame dealt with (sent, or a PROBE skipped for
	 * a protocol-1 collector); wire_seq: the last one actually sent. */
	uint64_t sent_seq, acked_seq, wire_seq;
	uint16_t peer_proto;	/* WELCOME.proto of this connection */
	double tokens;		/* reports we may send now (replay_rate) */
	uint64_t tokens_at;	/* when tokens were last topped up */
	uint64_t last_rx, last_tx; /* monotonic ms */
	bool ping_sent;
	bool status_dirty;
	unsigned attempt;
	bool closing;
	char peer[300];
};

struct wreq {
	uv_write_t req;
	size_t len;
	uint8_t data[];
};

static void up_connect(struct uplink *u);
static void send_hello(struct uplink *u);
static void up_drop(struct uplink *u, const char *why);

static void
maybe_free(struct uplink *u)
{
	if (u->closing && !u->tcp_open && !u->gai_pending &&
	    u->retry.data == NULL && u->pace.data == NULL) {
		buf_free(&u->in);
		buf_free(&u->frame);
		buf_free(&u->out);
		tls_ctx_free(u->tls_ctx);
		free(u);
	}
}

static void
on_timer_closed(uv_handle_t *h)
{
	struct uplink *u = h->data;

	h->data = NULL;
	maybe_free(u);
}

static void
on_retry(uv_timer_t *t)
{
	up_connect(container_of(t, struct uplink, retry));
}

static void
schedule_retry(struct uplink *u)
{
	uint64_t delay = BACKOFF_BASE_MS;

	if (u->closing)
		return;
	for (unsigned i = 0; i < u->attempt && delay < BACKOFF_MAX_MS; i++)
		delay *= 2;
	if (delay > BACKOFF_MAX_MS)
		delay = BACKOFF_MAX_MS;
	/* Full jitter in [delay/2, delay): agents of a district that lost
	 * the collector together do not all come back in the same second. */
	delay = delay / 2 + (uint64_t)random() % (delay / 2);
	u->attempt++;
	u->state = UP_WAIT;
	log_info("collector %s:%u: reconnecting in %.1f s", u->conf->collector.host,
	    u->conf->collector.port, delay / 1000.0);
	uv_timer_start(&u->retry, on_retry, delay, 0);
}

static void
on_tcp_closed(uv_handle_t *h)
{
	struct uplink *u = container_of((uv_tcp_t *)h, struct uplink, tcp);

	u->tcp_open = false;
	/* What was in flight may never arrive: droppable again. */
	spool_hold(u->sp, 0);
	buf_reset(&u->in);
	tls_free(u->tls);
	u->tls = NULL;
	if (u->closing)
		maybe_free(u);
	else
		schedule_retry(u);
}

static void
up_drop(struct uplink *u, const char *why)
{
	if (!u->tcp_open || uv_is_closing((uv_handle_t *)&u->tcp))
		return;
	if (why)
		log_warnx("collector %s: %s; connection closed", u->peer, why);
	u->state = UP_WAIT;
	uv_close((uv_handle_t *)&u->tcp, on_tcp_closed);
}

static void
on_written(uv_write_t *req, int status)
{
	struct wreq *w = container_of(req, struct wreq, req);
	struct uplink *u = req->data;

	free(w);
	if (status < 0 && status != UV_ECANCELED)
		up_drop(u, uv_strerror(status));
}

static int
up_send_raw(struct uplink *u, const uint8_t *p, size_t len)
{
	struct wreq *w;
	uv_buf_t b;
	int rc;

	if (len == 0)
		return 0;
	w = xmalloc(sizeof(*w) + len);
	memcpy(w->data, p, len);
	w->len = len;
	w->req.data = u;
	b = uv_buf_init((char *)w->data, (unsigned)len);
	if ((rc = uv_write(&w->req, (uv_stream_t *)&u->tcp, &b, 1,
		 on_written)) < 0) {
		free(w);
		up_drop(u, uv_strerror(rc));
		return -1;
	}
	u->last_tx = uv_now(u->loop);
	return 0;
}

/* What TLS has to send (handshake, records) goes out now. */
static int
up_flush_tls(struct uplink *u)
{
	buf_reset(&u->out);
	if (tls_take_output(u->tls, &u->out) != 0) {
		char why[300];

		snprintf(why, sizeof(why), "TLS: %s", tls_error(u->tls));
		up_drop(u, why);
		return -1;
	}
	return up_send_raw(u, u->out.data, u->out.len);
}

static int
up_write(struct uplink *u, const uint8_t *p, size_t len)
{
	if (u->tls == NULL)
		return up_send_raw(u, p, len);
	if (tls_write(u->tls, p, len) != 0) {
		char why[300];

		snprintf(why, sizeof(why), "TLS: %s", tls_error(u->tls));
		up_drop(u, why);
		return -1;
	}
	return up_flush_tls(u);
}

static void
up_send_status(struct uplink *u)
{
	struct wire_status st = {spool_dropped(u->sp), spool_pending(u->sp)};

	u->status_dirty = false;
	buf_reset(&u->frame);
	if (wire_encode_status(&u->frame, &st) == 0)
		(void)up_write(u, u->frame.data, u->frame.len);
}

/* Top up the replay tokens: replay_rate a second, up to one second's worth
 * (and at least the window, so a normal poll never waits). */
static void
refill(struct uplink *u)
{
	uint64_t now = uv_now(u->loop);
	double cap = (double)u->conf->replay_rate;

	if (cap < (double)u->conf->send_window)
		cap = (double)u->conf->send_window;
	u->tokens += (double)(now - u->tokens_at) * u->conf->replay_rate / 1000.0;
	if (u->tokens > cap)
		u->tokens = cap;
	u->tokens_at = now;
}

static bool
up_probes_ok(const struct uplink *u)
{
	return u->peer_proto >= WIRE_PROTO_PROBES;
}

/*
 * PROBE frames a protocol-1 collector is not sent are acknowledged here:
 * once everything sent is acknowledged, the skipped frames after it are
 * forgotten (the collector accepts gaps in the sequence, and a later
 * REPORT's cumulative ACK would cover them anyway). Without this a run of
 * skipped frames as long as the window would stall the pump.
 */
static void
up_ack_skipped(struct uplink *u)
{
	if (u->acked_seq == u->wire_seq && u->sent_seq > u->acked_seq) {
		u->acked_seq = u->sent_seq;
		(void)spool_ack(u->sp, u->acked_seq);
	}
}

/* Send spooled frames while the window and the replay rate allow. */
static void
up_pump(struct uplink *u)
{
	bool probes = up_probes_ok(u);
	uint64_t seq;
	int rc;

	if (u->state != UP_READY)
		return;
	if (u->status_dirty)
		up_send_status(u);
	refill(u);
	/* Everything sent (the usual case between polls): no query. */
	while (u->sent_seq < spool_last_seq(u->sp) &&
	    u->sent_seq - u->acked_seq < (uint64_t)u->conf->send_window &&
	    u->tokens >= 1) {
		buf_reset(&u->frame);
		rc = spool_next(u->sp, u->sent_seq, probes, &seq, &u->frame);
		if (rc == 0 && !probes) {
			/* Only PROBE frames left: skipped. */
			u->sent_seq = spool_last_seq(u->sp);
			spool_hold(u->sp, u->sent_seq);
			break;
		}
		if (rc <= 0)
			return;
		if (up_write(u, u->frame.data, u->frame.len) != 0)
			return;
		u->sent_seq = u->wire_seq = seq;
		spool_hold(u->sp, seq);
		u->tokens -= 1;
	}
	up_ack_skipped(u);
}

void
uplink_kick(struct uplink *u)
{
	up_pump(u);
}

void
uplink_status_changed(struct uplink *u)
{
	u->status_dirty = true;
	up_pump(u);
}

/*
 * Every 100 ms while connected: pump what the replay rate now allows;
 * after `keepalive` of silence send a PING, and give up on a collector
 * that has not said anything for three keepalives (a dead link that TCP
 * would take many minutes to notice).
 */
static void
on_pace(uv_timer_t *t)
{
	struct uplink *u = container_of(t, struct uplink, pace);
	uint64_t now = uv_now(u->loop);
	uint64_t keep = (uint64_t)(u->conf->keepalive * 1000);

	/* A collector that takes the connection but never finishes its TLS
	 * handshake or WELCOME gets the same three keepalives. */
	if (u->state == UP_HELLO && now - u->last_rx > 3 * keep) {
		up_drop(u, "no WELCOME from the collector");
		return;
	}
	if (u->state != UP_READY)
		return;
	up_pump(u);
	if (now - u->last_rx > 3 * keep) {
		up_drop(u, "collector silent for three keepalives");
		return;
	}
	if (now - u->last_rx > keep && now - u->last_tx > keep / 2 &&
	    !u->ping_sent) {
		buf_reset(&u->frame);
		if (wire_encode_empty(&u->frame, WIRE_PING) == 0 &&
		    up_write(u, u->frame.data, u->frame.len) == 0)
			u->ping_sent = true;
	}
}

static void
handle_frame(struct uplink *u, const struct wire_header *h,
    const uint8_t *payload)
{
	struct wire_probe_request req;
	struct wire_welcome wel;
	struct wire_checks chk;
	struct wire_error err;
	struct wire_ack ack;
	char why[300];
	int rc = WIRE_ETYPE;

	switch (h->type) {
	case WIRE_WELCOME:
		if (u->state != UP_HELLO)
			break;
		if ((rc = wire_decode_welcome(payload, h->length, &wel)) != 0)
			break;
		if (wel.epoch != spool_epoch(u->sp)) {
			up_drop(u, "WELCOME for another epoch");
			return;
		}
		u->state = UP_READY;
		u->attempt = 0;
		if (spool_advance(u->sp, wel.acked_seq) != 0) {
			up_drop(u, "cannot update the spool");
			return;
		}
		u->acked_seq = u->sent_seq = u->wire_seq = wel.acked_seq;
		u->peer_proto = wel.proto;
		if (wel.acked_seq)
			(void)spool_ack(u->sp, wel.acked_seq);
		u->status_dirty = true;
		u->tokens = (double)u->conf->send_window;
		u->tokens_at = uv_now(u->loop);
		log_info("collector %s: connected; %llu reports waiting in "
			 "the spool",
		    u->peer, (unsigned long long)spool_pending(u->sp));
		if (!up_probes_ok(u))
			log_info("collector %s: the collector speaks "
				 "protocol %u: probe results are not sent "
				 "(upgrade the collector)",
			    u->peer, wel.proto);
		up_pump(u);
		return;
	case WIRE_ACK:
		if (u->state != UP_READY)
			break;
		if ((rc = wire_decode_ack(payload, h->length, &ack)) != 0)
			break;
		if (ack.epoch != spool_epoch(u->sp) || ack.seq > u->wire_seq) {
			up_drop(u, "ACK for a report never sent");
			return;
		}
		if (ack.seq > u->acked_seq) {
			u->acked_seq = ack.seq;
			(void)spool_ack(u->sp, ack.seq);
		}
		up_pump(u);
		return;
	case WIRE_ERROR:
		if (wire_decode_error(payload, h->length, &err) == 0)
			snprintf(why, sizeof(why), "refused us (code %u): %s",
			    err.code, err.message);
		else
			snprintf(why, sizeof(why), "sent a malformed ERROR");
		up_drop(u, why);
		return;
	case WIRE_PING:
		buf_reset(&u->frame);
		if (wire_encode_empty(&u->frame, WIRE_PONG) == 0)
			(void)up_write(u, u->frame.data, u->frame.len);
		return;
	case WIRE_PONG:
		return;
	/* Protocol 2 only; a malformed one is a protocol error like any
	 * other frame's: logged with the reason, and a new connection. */
	case WIRE_PROBE_REQUEST:
		if (u->state != UP_READY || !up_probes_ok(u))
			break;
		if ((rc = wire_decode_probe_request(payload, h->length,
			 &req)) != 0)
			break;
		if (u->hooks.probe_request)
			u->hooks.probe_request(&req, u->hooks.arg);
		return;
	case WIRE_CHECKS:
		if (u->state != UP_READY || !up_probes_ok(u))
			break;
		if ((rc = wire_decode_checks(payload, h->length, &chk)) != 0)
			break;
		if (u->hooks.checks)
			u->hooks.checks(&chk, u->hooks.arg);
		else
			wire_checks_free(&chk);
		return;
	}
	snprintf(why, sizeof(why), "unexpected %s frame: %s",
	    wire_type_name(h->type), rc ? wire_strerror(rc) : "out of order");
	up_drop(u, why);
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct uplink *u = container_of((uv_tcp_t *)h, struct uplink, tcp);
	size_t room = u->in.cap - u->in.len;
	uint8_t *p;

	(void)suggested;
	if (u->tls) {
		*b = uv_buf_init((char *)u->raw, sizeof(u->raw));
		return;
	}
	if (room > READ_CHUNK)
		room = READ_CHUNK;
	p = room ? buf_reserve(&u->in, room) : NULL;
	*b = uv_buf_init((char *)p, p ? (unsigned)room : 0);
}

static bool
up_open(struct uplink *u)
{
	return u->tcp_open && !uv_is_closing((uv_handle_t *)&u->tcp);
}

static void
up_frames(struct uplink *u)
{
	struct wire_header h;
	const uint8_t *payload;
	int rc;

	while (up_open(u) && (rc = wire_frame_next(&u->in, &h, &payload)) != 0) {
		if (rc < 0) {
			up_drop(u, wire_strerror(rc));
			return;
		}
		handle_frame(u, &h, payload);
		buf_consume(&u->in, WIRE_HEADER_LEN + h.length);
	}
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct uplink *u = container_of((uv_tcp_t *)s, struct uplink, tcp);
	char why[300];

	if (n < 0) {
		up_drop(u, n == UV_EOF ? "collector closed the connection"
				       : uv_strerror((int)n));
		return;
	}
	u->last_rx = uv_now(u->loop);
	u->ping_sent = false;
	if (u->tls == NULL) {
		buf_commit(&u->in, (size_t)n);
		up_frames(u);
		return;
	}
	if (tls_feed(u->tls, (const uint8_t *)b->base, (size_t)n) != 0)
		goto tls_failed;
	while (up_open(u)) {
		size_t before = u->in.len;

		if (tls_read(u->tls, &u->in) != 0)
			goto tls_failed;
		if (up_flush_tls(u) != 0)
			return;
		/* The handshake is done: now introduce ourselves. */
		if (!u->hello_sent && tls_handshake_done(u->tls))
			send_hello(u);
		if (u->in.len == before)
			break;
		up_frames(u);
	}
	return;
tls_failed:
	snprintf(why, sizeof(why), "TLS: %s", tls_error(u->tls));
	up_drop(u, why);
}

static void
on_connected(uv_connect_t *req, int status)
{
	struct uplink *u = req->data;

	if (status < 0) {
		log_warnx("collector %s: cannot connect: %s", u->peer,
		    uv_strerror(status));
		up_drop(u, NULL);
		return;
	}
	if (u->closing)
		return;
	u->state = UP_HELLO;
	u->last_rx = uv_now(u->loop);
	u->hello_sent = false;
	uv_tcp_nodelay(&u->tcp, 1);
	uv_tcp_keepalive(&u->tcp, 1, 60);
	uv_read_start((uv_stream_t *)&u->tcp, on_alloc, on_read);
	if (u->tls_ctx == NULL) {
		send_hello(u);
		return;
	}
	u->tls = tls_new(u->tls_ctx, false, u,
	    u->conf->server_name[0] ? u->conf->server_name
				    : u->conf->collector.host);
	if (u->tls == NULL) {
		up_drop(u, "cannot start a TLS session");
		return;
	}
	(void)up_flush_tls(u); /* the ClientHello */
}

static void
send_hello(struct uplink *u)
{
	struct wire_hello hello;

	u->hello_sent = true;
	memset(&hello, 0, sizeof(hello));
	hello.proto = WIRE_PROTO;
	snprintf(hello.agent, sizeof(hello.agent), "%s", u->conf->name);
	snprintf(hello.school, sizeof(hello.school), "%s", u->conf->school);
	snprintf(hello.software, sizeof(hello.software), "schoolnet-agent/%s",
	    SCHOOLNET_VERSION);
	hello.epoch = spool_epoch(u->sp);
	buf_reset(&u->frame);
	if (wire_encode_hello(&u->frame, &hello) != 0) {
		up_drop(u, "cannot encode HELLO");
		return;
	}
	(void)up_write(u, u->frame.data, u->frame.len);
}

static void
on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct uplink *u = container_of(req, struct uplink, gai);
	char ip[64] = "?";
	int rc;

	u->gai_pending = false;
	if (u->closing) {
		uv_freeaddrinfo(res);
		maybe_free(u);
		return;
	}
	if (status < 0 || res == NULL) {
		log_warnx("collector %s: cannot resolve: %s",
		    u->conf->collector.host, uv_strerror(status));
		uv_freeaddrinfo(res);
		schedule_retry(u);
		return;
	}
	if (res->ai_family == AF_INET6)
		uv_ip6_name((struct sockaddr_in6 *)res->ai_addr, ip, sizeof(ip));
	else
		uv_ip4_name((struct sockaddr_in *)res->ai_addr, ip, sizeof(ip));
	snprintf(u->peer, sizeof(u->peer), res->ai_family == AF_INET6 ?
	    "[%s]:%u" : "%s:%u", ip, u->conf->collector.port);
	uv_tcp_init(u->loop, &u->tcp);
	u->tcp_open = true;
	u->state = UP_CONNECTING;
	u->connect_req.data = u;
	rc = uv_tcp_connect(&u->connect_req, &u->tcp, res->ai_addr,
	    on_connected);
	uv_freeaddrinfo(res);
	if (rc < 0) {
		log_warnx("collector %s: cannot connect: %s", u->peer,
		    uv_strerror(rc));
		up_drop(u, NULL);
	}
}

static void
up_connect(struct uplink *u)
{
	struct addrinfo hints;
	char port[8];

	if (u->closing)
		return;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", u->conf->collector.port);
	u->state = UP_RESOLVING;
	if (uv_getaddrinfo(u->loop, &u->gai, on_resolved,
		u->conf->collector.host, port, &hints) < 0) {
		schedule_retry(u);
		return;
	}
	u->gai_pending = true;
}

static struct tls_ctx *
uplink_tls(const struct agent_conf *conf)
{
	uint8_t key[TLS_PSK_MAX];
	struct tls_ctx *ctx;
	char err[256];
	int n;

	if (conf->tls == TLS_MODE_CERT) {
		ctx = tls_ctx_client_cert(conf->tls_cert, conf->tls_key,
		    conf->tls_ca, err);
	} else {
		n = tls_hex_decode(conf->psk_key, key, sizeof(key));
		ctx = n > 0 ? tls_ctx_client_psk(conf->psk_identity, key,
				  (size_t)n, err)
			    : NULL;
		if (n <= 0)
			snprintf(err, sizeof(err), "psk_key is not hex");
		memset(key, 0, sizeof(key));
	}
	if (ctx == NULL)
		log_warnx("TLS: %s", err);
	return ctx;
}

struct uplink *
uplink_new(uv_loop_t *loop, const struct agent_conf *conf, struct spool *sp,
    const struct uplink_hooks *hooks)
{
	struct uplink *u = xcalloc(1, sizeof(*u));

	if (hooks)
		u->hooks = *hooks;
	u->loop = loop;
	u->conf = conf;
	u->sp = sp;
	buf_init(&u->in, WIRE_MAX_FRAME + READ_CHUNK);
	buf_init(&u->frame, WIRE_MAX_FRAME);
	buf_init(&u->out, 4 * WIRE_MAX_FRAME);
	if (conf->tls != TLS_MODE_OFF && (u->tls_ctx = uplink_tls(conf)) == NULL)
		fatalx("cannot set up TLS to the collector");
	uv_timer_init(loop, &u->retry);
	uv_timer_init(loop, &u->pace);
	u->retry.data = u->pace.data = u;
	uv_timer_start(&u->pace, on_pace, 100, 100);
	return u;
}

void
uplink_start(struct uplink *u)
{
	up_connect(u);
}

void
uplink_close(struct uplink *u)
{
	u->closing = true;
	if (u->gai_pending)
		uv_cancel((uv_req_t *)&u->gai);
	uv_close((uv_handle_t *)&u->retry, on_timer_closed);
	uv_close((uv_handle_t *)&u->pace, on_timer_closed);
	if (u->tcp_open && !uv_is_closing((uv_handle_t *)&u->tcp))
		uv_close((uv_handle_t *)&u->tcp, on_tcp_closed);
}
