/*
 * loadgen.c: schoolnet-loadgen, an ingest benchmark for schoolnet-collector.
 *
 *   schoolnet-loadgen [-n CONNS] [-m REPORTS] [-w WINDOW] [-t SECONDS]
 *                     HOST:PORT
 *   schoolnet-loadgen [-n CONNS] [-m REPORTS] [-w RUN] [--pragma SQL]
 *                     --raw-sqlite DBFILE
 *
 * Collector mode opens CONNS TCP connections, each a distinct agent
 * (bench-0001, school b0001, random epoch): HELLO, wait for WELCOME, then
 * REPORTS reports of one simulated 48-port access switch (52 interfaces)
 * with up to WINDOW reports unacknowledged, until every report is ACKed.
 * One thread, non-blocking sockets and poll().
 *
 * Raw mode writes the same reports straight into a fresh SQLite file with
 * the collector's schema and the statements the collector runs for them
 * (collector/db.c: db_store_report/store_port), WAL, synchronous=FULL, in
 * transactions of 2000 reports: the ceiling the collector can approach.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <sqlite3.h>

#include "collector.h"
#include "schoolnet/buf.h"
#include "schoolnet/tls.h"
#include "schoolnet/wire.h"

#define N_IFS 52		/* 48 access ports, 2 uplinks, Vlanif1, NULL0 */
#define INTERVAL_MS 60000u
#define POLL_INTERVAL_S 60u
#define RAW_BATCH 2000		/* reports per transaction, as the collector */
#define OUT_HIGH (256 * 1024)	/* stop encoding when this much is unsent */

/* --- time, randomness ------------------------------------------------ */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t
splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double
unit(uint64_t *s)
{
	return (double)(splitmix64(s) >> 11) / 9007199254740992.0;
}

static uint64_t
random_epoch(void)
{
	static uint64_t fallback;
	uint64_t e = 0;

	while (e == 0)
		if (getrandom(&e, sizeof(e), 0) != (ssize_t)sizeof(e)) {
			if (fallback == 0)
				fallback = wall_ms() ^ ((uint64_t)getpid() << 32);
			e = splitmix64(&fallback);
		}
	return e;
}

/* --- the simulated switch -------------------------------------------- */

/* What one interface looks like; rates in bits/s. */
struct sim_if {
	struct wire_if f;	/* static fields; deltas filled per report */
	double in_bps, out_bps, err_per_s;
};

struct sim_switch {
	struct sim_if ifs[N_IFS];
	char address[WIRE_ADDR_MAX + 1];
};

/*
 * A Huawei S5735-like 48-port access switch, as tests/sim/gen_county.py
 * lays it out: classrooms first, offices, spare ports (some shut), then
 * XGigabitEthernet0/0/1 (uplink, up), XGigabitEthernet0/0/2 (no module),
 * Vlanif1 and NULL0. Deterministic from the agent number.
 */
static void
sim_switch_init(struct sim_switch *sw, unsigned agent)
{
	uint64_t s = 0x5c0015eedULL ^ ((uint64_t)agent << 20);
	unsigned classrooms = 30 + (unsigned)(splitmix64(&s) % 15); /* 30..44 */
	unsigned k = 0;

	memset(sw, 0, sizeof(*sw));
	snprintf(sw->address, sizeof(sw->address), "10.%u.%u.2:161",
	    (agent >> 8) & 0xff, agent & 0xff);
	for (k = 0; k < 48; k++) {
		struct sim_if *x = &sw->ifs[k];
		struct wire_if *f = &x->f;

		f->if_index = k + 1;
		f->if_type = 6; /* ethernetCsmacd */
		snprintf(f->name, sizeof(f->name), "GigabitEthernet0/0/%u",
		    k + 1);
		memcpy(f->descr, f->name, sizeof(f->descr));
		f->admin = 1;
		f->oper = 1;
		f->duplex = WIRE_DUPLEX_FULL;
		f->speed_mbps = 1000;
		f->flags = WIRE_IF_RATES | WIRE_IF_HC;
		if (k < classrooms) {
			unsigned grade = 1 + k / 6, cls = 1 + k % 6;

			snprintf(f->alias, sizeof(f->alias), "class-%u-%u",
			    grade, cls);
			if (unit(&s) < 0.12)
				f->speed_mbps = 100;
			x->in_bps = 0.2e6 + unit(&s) * 1.3e6;
			x->out_bps = 2e6 + unit(&s) * 6e6;
			if (k == 7)
				x->err_per_s = 0.5; /* one port with CRC errors */
		} else if (k < classrooms + 2) {
			snprintf(f->alias, sizeof(f->alias), "office-%u",
			    k - classrooms + 1);
			x->in_bps = 0.5e6 + unit(&s) * 2.5e6;
			x->out_bps = 2e6 + unit(&s) * 8e6;
		} else {
			f->oper = 2;
			f->duplex = WIRE_DUPLEX_UNKNOWN;
			if (unit(&s) < 0.15)
				f->admin = 2;
		}
	}
	for (unsigned u = 0; u < 2; u++, k++) {
		struct sim_if *x = &sw->ifs[k];
		struct wire_if *f = &x->f;

		f->if_index = k + 1;
		f->if_type = 6;
		snprintf(f->name, sizeof(f->name), "XGigabitEthernet0/0/%u",
		    u + 1);
		memcpy(f->descr, f->name, sizeof(f->descr));
		f->admin = 1;
		f->flags = WIRE_IF_RATES | WIRE_IF_HC;
		if (u == 0) {
			snprintf(f->alias, sizeof(f->alias),
			    "uplink-edu-metro");
			f->oper = 1;
			f->duplex = WIRE_DUPLEX_FULL;
			f->speed_mbps = 1000;
			x->in_bps = 40e6 + unit(&s) * 260e6;
			x->out_bps = 10e6 + unit(&s) * 50e6;
		} else {
			f->oper = 2;
			f->duplex = WIRE_DUPLEX_UNKNOWN;
			f->speed_mbps = 10000;
		}
	}
	/* Vlanif1, NULL0: no EtherLike duplex. */
	for (unsigned v = 0; v < 2; v++, k++) {
		struct wire_if *f = &sw->ifs[k].f;

		f->if_index = k + 1;
		f->if_type = v == 0 ? 136 : 24;
		snprintf(f->name, sizeof(f->name), "%s",
		    v == 0 ? "Vlanif1" : "NULL0");
		memcpy(f->descr, f->name, sizeof(f->descr));
		f->admin = f->oper = 1;
		f->duplex = WIRE_DUPLEX_NONE;
		f->speed_mbps = v == 0 ? 1000 : 0;
		f->flags = WIRE_IF_RATES | WIRE_IF_HC;
	}
}

/* Report seq (1-based) of this agent; ifs must hold N_IFS entries. */
static void
sim_report(const struct sim_switch *sw, unsigned agent, uint64_t epoch,
    uint64_t seq, uint64_t t0_ms, struct wire_if *ifs, struct wire_report *r)
{
	uint64_t s = ((uint64_t)agent << 32) ^ seq ^ 0xbe7c4ULL;
	double secs = INTERVAL_MS / 1000.0;

	memset(r, 0, sizeof(*r));
	r->seq = seq;
	r->epoch = epoch;
	r->t_ms = t0_ms + seq * INTERVAL_MS;
	r->duration_ms = 30 + (uint32_t)(splitmix64(&s) % 40);
	r->interval_ms = INTERVAL_MS;
	r->poll_interval_s = POLL_INTERVAL_S;
	r->sys_uptime = (uint32_t)(360000 + seq * (INTERVAL_MS / 10));
	r->pdus = 7;
	r->status = WIRE_POLL_OK;
	snprintf(r->switch_name, sizeof(r->switch_name), "access1");
	snprintf(r->address, sizeof(r->address), "%s", sw->address);
	r->n_if = N_IFS;
	r->ifs = ifs;
	for (unsigned i = 0; i < N_IFS; i++) {
		const struct sim_if *x = &sw->ifs[i];
		struct wire_if *f = &ifs[i];

		*f = x->f;
		if (f->oper != 1)
			continue;
		/* +-20% around the port's mean rate. */
		f->in_octets = (uint64_t)(x->in_bps / 8 * secs *
		    (0.8 + 0.4 * unit(&s)));
		f->out_octets = (uint64_t)(x->out_bps / 8 * secs *
		    (0.8 + 0.4 * unit(&s)));
		f->in_errors = (uint64_t)(x->err_per_s * secs *
		    (0.5 + unit(&s)));
		if (x->in_bps > 0 && unit(&s) < 0.05)
			f->in_discards = 1 + splitmix64(&s) % 5;
		if (x->out_bps > 0 && unit(&s) < 0.05)
			f->out_discards = 1 + splitmix64(&s) % 5;
	}
}

/* Reports start at a whole minute M reports before now. */
static uint64_t
t0_for(unsigned reports)
{
	uint64_t now = wall_ms() / 60000 * 60000;

	return now - (uint64_t)(reports + 1) * INTERVAL_MS;
}

/* --- results ---------------------------------------------------------- */

struct result {
	const char *mode;
	unsigned conns, reports_per_conn;
	uint64_t reports;
	double seconds;
};

/* CPU seconds (user + system) this process has used. */
static double
cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
print_result(const struct result *r)
{
	uint64_t samples = r->reports * N_IFS;
	double secs = r->seconds > 0 ? r->seconds : 1e-9, cpu = cpu_s();
	struct rusage ru;
	long rss_kb = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;

	printf("mode:              %s\n", r->mode);
	printf("connections:       %u\n", r->conns);
	printf("reports:           %" PRIu64 " (%u per connection)\n",
	    r->reports, r->reports_per_conn);
	printf("interface samples: %" PRIu64 "\n", samples);
	printf("seconds:           %.3f\n", r->seconds);
	printf("samples/s:         %.0f\n", (double)samples / secs);
	printf("reports/s:         %.1f\n", (double)r->reports / secs);
	printf("loadgen CPU:       %.2f s (user + system), peak RSS %ld KiB\n",
	    cpu, rss_kb);
	printf("RESULT mode=%s conns=%u reports=%" PRIu64 " samples=%" PRIu64
	       " seconds=%.3f samples_per_s=%.0f reports_per_s=%.1f cpu_s=%.2f"
	       " rss_kb=%ld\n",
	    r->mode, r->conns, r->reports, samples, r->seconds,
	    (double)samples / secs, (double)r->reports / secs, cpu, rss_kb);
	fflush(stdout);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* --- collector mode -------------------------------------------------- */

enum conn_state { C_CONNECTING, C_HELLO, C_READY, C_DONE, C_FAILED };

struct conn {
	int fd;
	unsigned agent;		/* 1-based */
	enum conn_state state;
	uint64_t epoch;
	uint64_t sent, acked;	/* seqs */
	struct buf out;
	size_t out_off;		/* bytes of out already written */
	struct buf in;
	struct sim_switch sw;
	double *sent_at;	/* per seq, for ACK latency */
	uint64_t acks;
	/* --psk-file: TLS 1.3 with this agent's enrolled key */
	struct tls_ctx *tctx;
	struct tls *tls;
	struct buf plain;	/* frames waiting for the handshake */
};

/* --psk-file F: line i is "IDENTITY HEXKEY" for agent i+1 (school bNNNN). */
static char (*psk_ids)[TLS_IDENTITY_MAX + 1];
static char (*psk_keys)[2 * TLS_PSK_MAX + 1];
static unsigned n_psk;

static int
load_psk_file(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char id[TLS_IDENTITY_MAX + 1], key[2 * TLS_PSK_MAX + 1];

		if (sscanf(line, "%127s %128s", id, key) != 2)
			continue;
		psk_ids = realloc(psk_ids, (n_psk + 1) * sizeof(*psk_ids));
		psk_keys = realloc(psk_keys, (n_psk + 1) * sizeof(*psk_keys));
		if (!psk_ids || !psk_keys) {
			fclose(f);
			return -1;
		}
		memcpy(psk_ids[n_psk], id, sizeof(id));
		memcpy(psk_keys[n_psk], key, sizeof(key));
		n_psk++;
	}
	fclose(f);
	return 0;
}

/* TLS: frames in plain go out encrypted once the handshake is done. */
static int
conn_tls_pump(struct conn *c)
{
	if (tls_handshake_done(c->tls) && c->plain.len > 0) {
		if (tls_write(c->tls, c->plain.data, c->plain.len) != 0)
			return -1;
		buf_reset(&c->plain);
	}
	return tls_take_output(c->tls, &c->out);
}

struct lg {
	unsigned n, m, window;
	uint64_t t0_ms;
	struct conn *c;
	struct wire_if ifs[N_IFS];
	double *lat;		/* ACK latency of every report */
	uint64_t n_lat;
	unsigned done, failed;
	uint64_t acked_total;
};

static void
conn_failf(struct lg *g, struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
conn_failf(struct lg *g, struct conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->state == C_FAILED || c->state == C_DONE)
		return;
	fprintf(stderr, "loadgen: bench-%04u: ", c->agent);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (sent %" PRIu64 ", acked %" PRIu64 ")\n", c->sent,
	    c->acked);
	c->state = C_FAILED;
	g->failed++;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int
conn_queue(struct conn *c, int (*enc)(struct buf *, const void *),
    const void *msg)
{
	if (c->out_off > 0 && c->out_off == c->out.len) {
		buf_reset(&c->out);
		c->out_off = 0;
	}
	if (c->tls == NULL)
		return enc(&c->out, msg);
	if (enc(&c->plain, msg) != 0)
		return -1;
	return conn_tls_pump(c);
}

static int
enc_hello(struct buf *b, const void *m)
{
	return wire_encode_hello(b, m);
}

static int
enc_report(struct buf *b, const void *m)
{
	return wire_encode_report(b, m);
}

static int
enc_pong(struct buf *b, const void *m)
{
	(void)m;
	return wire_encode_empty(b, WIRE_PONG);
}

/* Encode reports while the window and the output buffer allow. */
static void
conn_fill(struct lg *g, struct conn *c)
{
	struct wire_report r;

	while (c->state == C_READY && c->sent < g->m &&
	    c->sent - c->acked < g->window &&
	    c->out.len - c->out_off < OUT_HIGH) {
		sim_report(&c->sw, c->agent, c->epoch, c->sent + 1, g->t0_ms,
		    g->ifs, &r);
		if (conn_queue(c, enc_report, &r) != 0) {
			conn_failf(g, c, "cannot encode report");
			return;
		}
		c->sent++;
		c->sent_at[c->sent] = now_s();
	}
}

static void
conn_flush(struct lg *g, struct conn *c)
{
	while (c->fd >= 0 && c->out_off < c->out.len) {
		ssize_t n = write(c->fd, c->out.data + c->out_off,
		    c->out.len - c->out_off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			conn_failf(g, c, "write: %s", strerror(errno));
			return;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out.len) {
		buf_reset(&c->out);
		c->out_off = 0;
	} else if (c->out_off > OUT_HIGH) {
		buf_consume(&c->out, c->out_off);
		c->out_off = 0;
	}
}

static void
conn_frame(struct lg *g, struct conn *c, const struct wire_header *h,
    const uint8_t *p)
{
	struct wire_welcome wel;
	struct wire_ack ack;
	struct wire_error err;
	double t;
	int rc;

	switch (h->type) {
	case WIRE_WELCOME:
		if (c->state != C_HELLO) {
			conn_failf(g, c, "unexpected WELCOME");
			return;
		}
		if ((rc = wire_decode_welcome(p, h->length, &wel)) != 0) {
			conn_failf(g, c, "bad WELCOME: %s", wire_strerror(rc));
			return;
		}
		if (wel.epoch != c->epoch) {
			conn_failf(g, c, "WELCOME for epoch %016" PRIx64
			    ", we said %016" PRIx64, wel.epoch, c->epoch);
			return;
		}
		if (wel.acked_seq != 0) {
			conn_failf(g, c, "WELCOME says seq %" PRIu64 " already "
			    "stored for a fresh random epoch", wel.acked_seq);
			return;
		}
		c->state = C_READY;
		return;
	case WIRE_ACK:
		if (c->state != C_READY) {
			conn_failf(g, c, "ACK before WELCOME");
			return;
		}
		if ((rc = wire_decode_ack(p, h->length, &ack)) != 0) {
			conn_failf(g, c, "bad ACK: %s", wire_strerror(rc));
			return;
		}
		if (ack.epoch != c->epoch) {
			conn_failf(g, c, "ACK for epoch %016" PRIx64, ack.epoch);
			return;
		}
		if (ack.seq > c->sent) {
			conn_failf(g, c, "ACK of seq %" PRIu64 ", never sent",
			    ack.seq);
			return;
		}
		if (ack.seq < c->acked) {
			conn_failf(g, c, "ACK went back: %" PRIu64 " after %"
			    PRIu64, ack.seq, c->acked);
			return;
		}
		c->acks++;
		t = now_s();
		for (uint64_t s = c->acked + 1; s <= ack.seq; s++)
			g->lat[g->n_lat++] = t - c->sent_at[s];
		g->acked_total += ack.seq - c->acked;
		c->acked = ack.seq;
		if (c->acked == g->m) {
			c->state = C_DONE;
			g->done++;
			close(c->fd);
			c->fd = -1;
		}
		return;
	case WIRE_ERROR:
		if (wire_decode_error(p, h->length, &err) == 0)
			conn_failf(g, c, "collector sent ERROR %u: %s",
			    err.code, err.message);
		else
			conn_failf(g, c, "collector sent a malformed ERROR");
		return;
	case WIRE_PING:
		if (conn_queue(c, enc_pong, NULL) != 0)
			conn_failf(g, c, "cannot encode PONG");
		return;
	case WIRE_PONG:
		return;
	default:
		conn_failf(g, c, "unexpected %s frame", wire_type_name(h->type));
	}
}

static uint8_t raw_in[65536];

static void
conn_read(struct lg *g, struct conn *c)
{
	for (int rounds = 0; rounds < 16 && c->fd >= 0; rounds++) {
		uint8_t *p = buf_reserve(&c->in, 65536);
		struct wire_header h;
		const uint8_t *payload;
		ssize_t n;
		int rc;

		if (p == NULL) {
			conn_failf(g, c, "receive buffer full");
			return;
		}
		if (c->tls)
			p = raw_in; /* ciphertext lands here first */
		n = read(c->fd, p, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			conn_failf(g, c, "read: %s", strerror(errno));
			return;
		}
		if (n == 0) {
			conn_failf(g, c, "collector closed the connection");
			return;
		}
		if (c->tls == NULL) {
			buf_commit(&c->in, (size_t)n);
		} else if (tls_feed(c->tls, p, (size_t)n) != 0 ||
		    tls_read(c->tls, &c->in) != 0 || conn_tls_pump(c) != 0) {
			conn_failf(g, c, "TLS: %s", tls_error(c->tls));
			return;
		}
		while (c->fd >= 0 &&
		    (rc = wire_frame_next(&c->in, &h, &payload)) != 0) {
			if (rc < 0) {
				conn_failf(g, c, "malformed frame: %s",
				    wire_strerror(rc));
				return;
			}
			conn_frame(g, c, &h, payload);
			buf_consume(&c->in, WIRE_HEADER_LEN + h.length);
		}
	}
}

static int
conn_start(struct lg *g, struct conn *c, const struct sockaddr_in *sa)
{
	int fd, one = 1;

	(void)g;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "loadgen: socket: %s\n", strerror(errno));
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->state = C_CONNECTING;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0 &&
	    errno != EINPROGRESS) {
		fprintf(stderr, "loadgen: connect: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static void
conn_connected(struct lg *g, struct conn *c)
{
	struct wire_hello hello;
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err != 0) {
		conn_failf(g, c, "connect: %s", strerror(err));
		return;
	}
	if (c->agent <= n_psk) {
		uint8_t key[TLS_PSK_MAX];
		char why[256];
		int klen = tls_hex_decode(psk_keys[c->agent - 1], key,
		    sizeof(key));

		if (klen <= 0 || (c->tctx = tls_ctx_client_psk(
				      psk_ids[c->agent - 1], key, (size_t)klen,
				      why)) == NULL ||
		    (c->tls = tls_new(c->tctx, false, c, NULL)) == NULL) {
			conn_failf(g, c, "cannot start TLS");
			return;
		}
		buf_init(&c->plain, OUT_HIGH + 2 * WIRE_MAX_FRAME);
		if (conn_tls_pump(c) != 0) { /* the ClientHello */
			conn_failf(g, c, "TLS: %s", tls_error(c->tls));
			return;
		}
	}
	memset(&hello, 0, sizeof(hello));
	hello.proto = WIRE_VERSION;
	snprintf(hello.agent, sizeof(hello.agent), "bench-%04u", c->agent);
	snprintf(hello.school, sizeof(hello.school), "b%04u", c->agent);
	snprintf(hello.software, sizeof(hello.software), "schoolnet-loadgen");
	hello.epoch = c->epoch;
	if (conn_queue(c, enc_hello, &hello) != 0) {
		conn_failf(g, c, "cannot encode HELLO");
		return;
	}
	c->state = C_HELLO;
}

static void
raise_nofile(unsigned want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur >= want + 16)
		return;
	rl.rlim_cur = rl.rlim_max < want + 64 ? rl.rlim_max : want + 64;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
}

static int
parse_addr(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	long port;
	char *end;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535)
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static int
run_collector(const char *addr, unsigned n, unsigned m, unsigned window,
    double timeout)
{
	struct sockaddr_in sa;
	struct pollfd *pfd;
	unsigned *pidx;
	struct lg g;
	struct result res;
	double start, deadline, next_progress, end;
	uint64_t total = (uint64_t)n * m, acks = 0;
	int rc = 0;

	if (parse_addr(addr, &sa) != 0) {
		fprintf(stderr, "loadgen: bad address '%s' (want IPv4:PORT)\n",
		    addr);
		return 1;
	}
	raise_nofile(n);
	memset(&g, 0, sizeof(g));
	g.n = n;
	g.m = m;
	g.window = window;
	g.t0_ms = t0_for(m);
	g.c = calloc(n, sizeof(*g.c));
	g.lat = calloc(total ? total : 1, sizeof(*g.lat));
	pfd = calloc(n, sizeof(*pfd));
	pidx = calloc(n, sizeof(*pidx));
	if (!g.c || !g.lat || !pfd || !pidx) {
		fprintf(stderr, "loadgen: out of memory\n");
		return 1;
	}
	for (unsigned i = 0; i < n; i++) {
		struct conn *c = &g.c[i];

		c->fd = -1;
		c->agent = i + 1;
		c->epoch = random_epoch();
		buf_init(&c->out, OUT_HIGH + 2 * WIRE_MAX_FRAME);
		buf_init(&c->in, WIRE_MAX_FRAME + 65536);
		sim_switch_init(&c->sw, c->agent);
		c->sent_at = calloc((size_t)m + 1, sizeof(double));
		if (!c->sent_at) {
			fprintf(stderr, "loadgen: out of memory\n");
			return 1;
		}
	}
	fprintf(stderr, "loadgen: %u connections x %u reports (window %u) to "
			"%s\n", n, m, window, addr);
	start = now_s();
	deadline = start + timeout;
	next_progress = start + 5;
	for (unsigned i = 0; i < n; i++)
		if (conn_start(&g, &g.c[i], &sa) != 0)
			return 1;

	while (g.done + g.failed < n) {
		unsigned np = 0;
		int pr, wait_ms;
		double t = now_s();

		if (t >= deadline) {
			unsigned hello = 0, ready = 0, conn = 0;

			for (unsigned i = 0; i < n; i++) {
				hello += g.c[i].state == C_HELLO;
				ready += g.c[i].state == C_READY;
				conn += g.c[i].state == C_CONNECTING;
			}
			fprintf(stderr, "loadgen: TIMEOUT after %.0f s: %" PRIu64
			    "/%" PRIu64 " reports acked; %u connections done, "
			    "%u failed, %u connecting, %u waiting for WELCOME, "
			    "%u waiting for ACKs\n", timeout, g.acked_total,
			    total, g.done, g.failed, conn, hello, ready);
			rc = 2;
			break;
		}
		if (t >= next_progress) {
			fprintf(stderr, "loadgen: %.0f s: %" PRIu64 "/%" PRIu64
			    " reports acked, %u/%u connections done\n",
			    t - start, g.acked_total, total, g.done, n);
			next_progress = t + 5;
		}
		for (unsigned i = 0; i < n; i++) {
			struct conn *c = &g.c[i];

			if (c->fd < 0)
				continue;
			conn_fill(&g, c);
			pfd[np].fd = c->fd;
			pfd[np].events = c->state == C_CONNECTING ? POLLOUT
								  : POLLIN;
			if (c->out_off < c->out.len)
				pfd[np].events |= POLLOUT;
			pfd[np].revents = 0;
			pidx[np++] = i;
		}
		if (np == 0)
			break;
		wait_ms = (int)((deadline - t) * 1000) + 1;
		if (wait_ms > 1000)
			wait_ms = 1000;
		pr = poll(pfd, np, wait_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0) {
			fprintf(stderr, "loadgen: poll: %s\n", strerror(errno));
			rc = 1;
			break;
		}
		for (unsigned k = 0; k < np && pr > 0; k++) {
			struct conn *c = &g.c[pidx[k]];
			short re = pfd[k].revents;

			if (re == 0)
				continue;
			if (c->state == C_CONNECTING) {
				conn_connected(&g, c);
				if (c->fd >= 0)
					conn_flush(&g, c);
				continue;
			}
			if (re & (POLLIN | POLLHUP | POLLERR))
				conn_read(&g, c);
			if (c->fd >= 0) {
				conn_fill(&g, c);
				conn_flush(&g, c);
			}
		}
	}
	end = now_s();
	for (unsigned i = 0; i < n; i++) {
		if (g.c[i].fd >= 0)
			close(g.c[i].fd);
		acks += g.c[i].acks;
		buf_free(&g.c[i].out);
		buf_free(&g.c[i].in);
		free(g.c[i].sent_at);
	}
	if (g.failed && rc == 0)
		rc = 1;
	res.mode = "collector";
	res.conns = n;
	res.reports_per_conn = m;
	res.reports = g.acked_total;
	res.seconds = end - start;
	if (rc != 0)
		fprintf(stderr, "loadgen: FAILED (%s): %u of %u connections "
				"failed; %" PRIu64 " of %" PRIu64 " reports acked\n",
		    rc == 2 ? "timeout" : "errors", g.failed, n, g.acked_total,
		    total);
	print_result(&res);
	if (g.n_lat > 0) {
		qsort(g.lat, g.n_lat, sizeof(*g.lat), cmp_double);
		printf("ACK latency:       p50 %.1f ms, p99 %.1f ms, max %.1f "
		       "ms (%" PRIu64 " ACK frames for %" PRIu64 " reports)\n",
		    g.lat[g.n_lat / 2] * 1e3,
		    g.lat[(size_t)((double)g.n_lat * 0.99)] * 1e3,
		    g.lat[g.n_lat - 1] * 1e3, acks, g.acked_total);
	}
	free(g.c);
	free(g.lat);
	free(pfd);
	free(pidx);
	return rc;
}

/* --- raw SQLite mode --------------------------------------------------- */

/* The collector's writer statements (collector/db.c writer_sql), verbatim. */
enum {
	R_AGENT_GET, R_AGENT_ADD, R_AGENT_SEQ, R_SWITCH_GET, R_SWITCH_ADD,
	R_SWITCH_SET, R_PORT_GET, R_PORT_ADD, R_PORT_SET, R_STATE_ADD,
	R_STATE_EXTEND, R_RATE_ADD, R_COUNT
};

static const char *const raw_sql[R_COUNT] = {
    [R_AGENT_GET] = "SELECT id, epoch, last_seq FROM agents WHERE name = ?",
    [R_AGENT_ADD] = "INSERT INTO agents(name, school, first_seen)"
		    " VALUES(?, ?, ?)",
    [R_AGENT_SEQ] = "UPDATE agents SET epoch = ?, last_seq = ?, school = ?,"
		    " peer = ?, last_seen = ? WHERE id = ?",
    [R_SWITCH_GET] = "SELECT id FROM switches WHERE agent_id = ? AND name = ?",
    [R_SWITCH_ADD] = "INSERT INTO switches(agent_id, name) VALUES(?, ?)",
    [R_SWITCH_SET] = "UPDATE switches SET address = ?, status = ?,"
		     " error = ?, sys_uptime = ?, poll_interval = ?, pdus = ?,"
		     " duration_ms = ?, last_poll = ?,"
		     " last_ok = CASE WHEN ?2 = 0 THEN ?8 ELSE last_ok END"
		     " WHERE id = ?",
    [R_PORT_GET] = "SELECT id, admin, oper, speed_mbps, duplex, state_id,"
		   " last_seen FROM ports WHERE switch_id = ? AND if_index = ?",
    [R_PORT_ADD] = "INSERT INTO ports(switch_id, if_index) VALUES(?, ?)",
    [R_PORT_SET] = "UPDATE ports SET if_name = ?, if_descr = ?,"
		   " if_alias = ?, if_type = ?, admin = ?, oper = ?,"
		   " speed_mbps = ?, duplex = ?, state_id = ?,"
		   " since = COALESCE(?, since), last_seen = ?, in_bps = ?,"
		   " out_bps = ?, in_errors = ?, out_errors = ?,"
		   " in_discards = ?, out_discards = ? WHERE id = ?",
    [R_STATE_ADD] = "INSERT INTO port_state(port_id, t_start, t_end, admin,"
		    " oper, speed_mbps, duplex) VALUES(?, ?, ?, ?, ?, ?, ?)",
    [R_STATE_EXTEND] = "UPDATE port_state SET t_end = ? WHERE id = ?",
    [R_RATE_ADD] = "INSERT OR REPLACE INTO port_rates(port_id, t_start,"
		   " t_end, in_bps, out_bps, in_errors, out_errors,"
		   " in_discards, out_discards) VALUES(?,?,?,?,?,?,?,?,?)",
};

struct raw {
	sqlite3 *db;
	sqlite3_stmt *st[R_COUNT];
	uint64_t statements;
};

struct raw_agent {
	char name[WIRE_NAME_MAX + 1], school[WIRE_NAME_MAX + 1];
	int64_t id;
	bool loaded;
	uint64_t epoch;
	struct sim_switch sw;
};

static int
raw_exec(struct raw *r, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(r->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "loadgen: sqlite: %s: %s\n", sql,
		    msg ? msg : sqlite3_errmsg(r->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* As the collector's step_done: step, reset, clear bindings. */
static int
raw_done(struct raw *r, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	r->statements++;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "loadgen: sqlite: %s\n", sqlite3_errmsg(r->db));
		return -1;
	}
	return 0;
}

/*
 * One interface, the statements collector/db.c store_port runs: look the
 * port up, add it (and a state interval) the first time, else extend its
 * state interval; one rate row; update the port's current values.
 */
static int
raw_port(struct raw *r, int64_t switch_id, const struct wire_report *rep,
    const struct wire_if *f)
{
	sqlite3_stmt *st = r->st[R_PORT_GET];
	int64_t port_id = 0, state_id = 0;
	uint64_t t = rep->t_ms, last_seen = 0;
	uint64_t gap_ms = (uint64_t)(rep->poll_interval_s * 1000.0 * 2.5);
	bool have_state = false, same = false, new_interval;
	double in_bps, out_bps;
	int rc;

	sqlite3_bind_int64(st, 1, switch_id);
	sqlite3_bind_int64(st, 2, f->if_index);
	r->statements++;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		port_id = sqlite3_column_int64(st, 0);
		if (sqlite3_column_type(st, 5) != SQLITE_NULL) {
			have_state = true;
			same = sqlite3_column_int(st, 1) == f->admin &&
			    sqlite3_column_int(st, 2) == f->oper &&
			    sqlite3_column_int64(st, 3) == f->speed_mbps &&
			    sqlite3_column_int(st, 4) == f->duplex;
			state_id = sqlite3_column_int64(st, 5);
			last_seen = (uint64_t)sqlite3_column_int64(st, 6);
		}
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE) {
		st = r->st[R_PORT_ADD];
		sqlite3_bind_int64(st, 1, switch_id);
		sqlite3_bind_int64(st, 2, f->if_index);
		if (raw_done(r, st) != 0)
			return -1;
		port_id = sqlite3_last_insert_rowid(r->db);
	} else if (rc != SQLITE_ROW) {
		return -1;
	}
	if (have_state && t < last_seen)
		return 0;
	new_interval = !have_state || !same || t - last_seen > gap_ms;
	if (have_state && t - last_seen <= gap_ms) {
		st = r->st[R_STATE_EXTEND];
		sqlite3_bind_int64(st, 1, (sqlite3_int64)t);
		sqlite3_bind_int64(st, 2, state_id);
		if (raw_done(r, st) != 0)
			return -1;
	}
	if (new_interval) {
		st = r->st[R_STATE_ADD];
		sqlite3_bind_int64(st, 1, port_id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)t);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)t);
		sqlite3_bind_int(st, 4, f->admin);
		sqlite3_bind_int(st, 5, f->oper);
		sqlite3_bind_int64(st, 6, f->speed_mbps);
		sqlite3_bind_int(st, 7, f->duplex);
		if (raw_done(r, st) != 0)
			return -1;
		state_id = sqlite3_last_insert_rowid(r->db);
	}
	/* Every simulated interface has WIRE_IF_RATES and interval_ms > 0. */
	in_bps = (double)f->in_octets * 8000.0 / rep->interval_ms;
	out_bps = (double)f->out_octets * 8000.0 / rep->interval_ms;
	st = r->st[R_RATE_ADD];
	sqlite3_bind_int64(st, 1, port_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)(t - rep->interval_ms));
	sqlite3_bind_int64(st, 3, (sqlite3_int64)t);
	sqlite3_bind_double(st, 4, in_bps);
	sqlite3_bind_double(st, 5, out_bps);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)f->in_errors);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)f->out_errors);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)f->in_discards);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)f->out_discards);
	if (raw_done(r, st) != 0)
		return -1;

	st = r->st[R_PORT_SET];
	sqlite3_bind_text(st, 1, f->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, f->descr, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, f->alias, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, f->if_type);
	sqlite3_bind_int(st, 5, f->admin);
	sqlite3_bind_int(st, 6, f->oper);
	sqlite3_bind_int64(st, 7, f->speed_mbps);
	sqlite3_bind_int(st, 8, f->duplex);
	sqlite3_bind_int64(st, 9, state_id);
	if (new_interval)
		sqlite3_bind_int64(st, 10, (sqlite3_int64)t);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)t);
	sqlite3_bind_double(st, 12, in_bps);
	sqlite3_bind_double(st, 13, out_bps);
	sqlite3_bind_int64(st, 14, (sqlite3_int64)f->in_errors);
	sqlite3_bind_int64(st, 15, (sqlite3_int64)f->out_errors);
	sqlite3_bind_int64(st, 16, (sqlite3_int64)f->in_discards);
	sqlite3_bind_int64(st, 17, (sqlite3_int64)f->out_discards);
	sqlite3_bind_int64(st, 18, port_id);
	return raw_done(r, st);
}

/* One report, as collector/db.c db_store_report. */
static int
raw_report(struct raw *r, struct raw_agent *a, const struct wire_report *rep)
{
	sqlite3_stmt *st;
	int64_t switch_id = -1;
	int rc;

	if (!a->loaded) {
		st = r->st[R_AGENT_GET];
		sqlite3_bind_text(st, 1, a->name, -1, SQLITE_STATIC);
		r->statements++;
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			a->id = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (rc == SQLITE_DONE) {
			st = r->st[R_AGENT_ADD];
			sqlite3_bind_text(st, 1, a->name, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, a->school, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, (sqlite3_int64)rep->t_ms);
			if (raw_done(r, st) != 0)
				return -1;
			a->id = sqlite3_last_insert_rowid(r->db);
		} else if (rc != SQLITE_ROW) {
			return -1;
		}
		a->loaded = true;
	}
	st = r->st[R_SWITCH_GET];
	sqlite3_bind_int64(st, 1, a->id);
	sqlite3_bind_text(st, 2, rep->switch_name, -1, SQLITE_STATIC);
	r->statements++;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		switch_id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE) {
		st = r->st[R_SWITCH_ADD];
		sqlite3_bind_int64(st, 1, a->id);
		sqlite3_bind_text(st, 2, rep->switch_name, -1, SQLITE_STATIC);
		if (raw_done(r, st) != 0)
			return -1;
		switch_id = sqlite3_last_insert_rowid(r->db);
	} else if (rc != SQLITE_ROW) {
		return -1;
	}
	st = r->st[R_SWITCH_SET];
	sqlite3_bind_text(st, 1, rep->address, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, rep->status);
	sqlite3_bind_text(st, 3, rep->error, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, rep->sys_uptime);
	sqlite3_bind_int64(st, 5, rep->poll_interval_s);
	sqlite3_bind_int64(st, 6, rep->pdus);
	sqlite3_bind_int64(st, 7, rep->duration_ms);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)rep->t_ms);
	sqlite3_bind_int64(st, 9, switch_id);
	if (raw_done(r, st) != 0)
		return -1;
	for (uint32_t i = 0; i < rep->n_if; i++)
		if (raw_port(r, switch_id, rep, &rep->ifs[i]) != 0)
			return -1;
	st = r->st[R_AGENT_SEQ];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)rep->epoch);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)rep->seq);
	sqlite3_bind_text(st, 3, a->school, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, "127.0.0.1:40000", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)rep->t_ms);
	sqlite3_bind_int64(st, 6, a->id);
	return raw_done(r, st);
}

static int
run_raw(const char *path, unsigned n, unsigned m, unsigned window,
    double timeout, const char *pragma)
{
	struct stat sb;
	struct raw r;
	struct raw_agent *ag;
	struct wire_if ifs[N_IFS];
	struct wire_report rep;
	struct result res;
	uint64_t t0 = t0_for(m), in_txn = 0, stored = 0, txns = 0;
	double start, end;
	int rc = 1;

	if (stat(path, &sb) == 0) {
		fprintf(stderr, "loadgen: %s exists; raw mode wants a new "
				"file\n", path);
		return 1;
	}
	memset(&r, 0, sizeof(r));
	ag = calloc(n, sizeof(*ag));
	if (ag == NULL) {
		fprintf(stderr, "loadgen: out of memory\n");
		return 1;
	}
	for (unsigned i = 0; i < n; i++) {
		snprintf(ag[i].name, sizeof(ag[i].name), "bench-%04u", i + 1);
		snprintf(ag[i].school, sizeof(ag[i].school), "b%04u", i + 1);
		ag[i].epoch = random_epoch();
		sim_switch_init(&ag[i].sw, i + 1);
	}
	/* The collector's own schema, migrations and pragmas: the baseline
	 * differs from the collector only in how the rows get written. */
	if (db_open(path, false, &r.db) != 0) {
		fprintf(stderr, "loadgen: %s: cannot open\n", path);
		goto out;
	}
	if (pragma && raw_exec(&r, pragma) != 0)
		goto out;
	for (int i = 0; i < R_COUNT; i++)
		if (sqlite3_prepare_v3(r.db, raw_sql[i], -1,
			SQLITE_PREPARE_PERSISTENT, &r.st[i], NULL) != SQLITE_OK) {
			fprintf(stderr, "loadgen: preparing %d: %s\n", i,
			    sqlite3_errmsg(r.db));
			goto out;
		}
	fprintf(stderr, "loadgen: raw SQLite: %u agents x %u reports into "
			"%s, %d reports per transaction, runs of %u per "
			"agent%s%s\n", n, m, path, RAW_BATCH, window,
	    pragma ? "; also " : "", pragma ? pragma : "");
	start = now_s();
	/*
	 * In the order the collector's queue sees them: runs of up to
	 * `window` reports per agent (what each connection has in flight),
	 * agent after agent.
	 */
	for (unsigned s0 = 1; s0 <= m; s0 += window) {
		for (unsigned i = 0; i < n; i++) {
			for (unsigned s = s0; s < s0 + window && s <= m; s++) {
				if (in_txn == 0 &&
				    raw_exec(&r, "BEGIN IMMEDIATE") != 0)
					goto out;
				sim_report(&ag[i].sw, i + 1, ag[i].epoch, s, t0,
				    ifs, &rep);
				if (raw_report(&r, &ag[i], &rep) != 0)
					goto out;
				stored++;
				if (++in_txn < RAW_BATCH)
					continue;
				if (raw_exec(&r, "COMMIT") != 0)
					goto out;
				in_txn = 0;
				txns++;
				if (now_s() - start > timeout) {
					fprintf(stderr, "loadgen: TIMEOUT after "
					    "%.0f s\n", timeout);
					goto out;
				}
			}
		}
	}
	if (in_txn > 0) {
		if (raw_exec(&r, "COMMIT") != 0)
			goto out;
		txns++;
	}
	end = now_s();
	res.mode = "raw-sqlite";
	res.conns = n;
	res.reports_per_conn = m;
	res.reports = stored;
	res.seconds = end - start;
	print_result(&res);
	printf("statements:        %" PRIu64 " (%.1f per report), %" PRIu64
	       " transactions\n", r.statements,
	    stored ? (double)r.statements / (double)stored : 0.0, txns);
	rc = 0;
out:
	for (int i = 0; i < R_COUNT; i++)
		sqlite3_finalize(r.st[i]);
	sqlite3_close(r.db);
	free(ag);
	return rc;
}

/* --- main ---------------------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: schoolnet-loadgen [-n CONNS] [-m REPORTS] [-w WINDOW] "
	    "[-t SECONDS] HOST:PORT\n"
	    "       schoolnet-loadgen [-n CONNS] [-m REPORTS] [-w WINDOW] "
	    "--raw-sqlite DBFILE\n"
	    "\n"
	    "Ingest benchmark: CONNS agents (bench-0001..) each send REPORTS\n"
	    "reports of a simulated 48-port switch (52 interfaces) to a\n"
	    "schoolnet-collector and wait for every ACK; or, with --raw-sqlite,\n"
	    "write the same rows into a new SQLite file directly.\n"
	    "\n"
	    "  -n, --connections N  agents / connections (default 50)\n"
	    "  -m, --reports M      reports per agent (default 200)\n"
	    "  -w, --window W       unacked reports per connection (default 64);\n"
	    "                       raw mode: write runs of W reports per agent\n"
	    "  -t, --timeout S      give up after S seconds (default 300)\n"
	    "      --raw-sqlite F   write to the new SQLite file F instead\n"
	    "      --psk-file F     TLS 1.3: line i is 'IDENTITY HEXKEY' of agent\n"
	    "                       i (school b000i), as 'enroll' prints them\n"
	    "      --pragma SQL     (raw) run SQL after the collector's pragmas,\n"
	    "                       e.g. 'PRAGMA cache_size = -65536'\n"
	    "  -h, --help           this help\n");
}

static int
parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int
main(int argc, char **argv)
{
	enum { OPT_RAW = 256, OPT_PRAGMA, OPT_PSK };
	static const struct option longopts[] = {
	    {"connections", required_argument, NULL, 'n'},
	    {"reports", required_argument, NULL, 'm'},
	    {"window", required_argument, NULL, 'w'},
	    {"timeout", required_argument, NULL, 't'},
	    {"raw-sqlite", required_argument, NULL, OPT_RAW},
	    {"pragma", required_argument, NULL, OPT_PRAGMA},
	    {"psk-file", required_argument, NULL, OPT_PSK},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	unsigned n = 50, m = 200, w = 64, timeout = 300;
	const char *raw = NULL, *pragma = NULL;
	int ch;

	while ((ch = getopt_long(argc, argv, "n:m:w:t:h", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'n':
			if (parse_uint(optarg, 1, 60000, &n) != 0)
				goto bad;
			break;
		case 'm':
			if (parse_uint(optarg, 1, 10000000, &m) != 0)
				goto bad;
			break;
		case 'w':
			if (parse_uint(optarg, 1, 100000, &w) != 0)
				goto bad;
			break;
		case 't':
			if (parse_uint(optarg, 1, 86400, &timeout) != 0)
				goto bad;
			break;
		case OPT_RAW:
			raw = optarg;
			break;
		case OPT_PRAGMA:
			pragma = optarg;
			break;
		case OPT_PSK:
			if (load_psk_file(optarg) != 0)
				return 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (raw != NULL) {
		if (optind != argc)
			goto bad;
		return run_raw(raw, n, m, w, (double)timeout, pragma);
	}
	if (optind + 1 != argc || pragma != NULL)
		goto bad;
	signal(SIGPIPE, SIG_IGN);
	return run_collector(argv[optind], n, m, w, (double)timeout);
bad:
	fprintf(stderr, "schoolnet-loadgen: bad arguments (see --help)\n");
	return 1;
}
