/* wire.h: the agent <-> collector protocol: framing and message codecs. */
#ifndef SCHOOLNET_WIRE_H
#define SCHOOLNET_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "schoolnet/buf.h"

/*
 * Every frame is an 8-byte header followed by the payload:
 *
 *   u16 magic 0x534e ("SN") | u8 version | u8 type | u32 payload length
 *
 * all integers big-endian. A payload never exceeds WIRE_MAX_PAYLOAD; a peer
 * that announces more is cut off before anything is buffered. Strings are
 * u16 length + UTF-8 bytes (no NUL), each with its own cap below.
 */
#define WIRE_MAGIC 0x534e
#define WIRE_VERSION 1
#define WIRE_HEADER_LEN 8
#define WIRE_MAX_PAYLOAD (1024 * 1024)
#define WIRE_MAX_FRAME (WIRE_HEADER_LEN + WIRE_MAX_PAYLOAD)

/* Message types. Numbers are part of the protocol: never renumber. */
enum wire_type {
	WIRE_HELLO = 1,	  /* agent -> collector, first frame */
	WIRE_WELCOME = 2, /* collector -> agent, answer to HELLO */
	WIRE_REPORT = 3,  /* agent -> collector, one switch poll */
	WIRE_ACK = 4,	  /* collector -> agent, reports durably stored */
	WIRE_ERROR = 5,	  /* either way, then the sender closes */
	WIRE_PING = 6,	  /* keepalive; answered with PONG */
	WIRE_PONG = 7,
	WIRE_STATUS = 8,  /* agent -> collector: spool state */
	WIRE_PROBE = 9,	  /* agent -> collector, one probe result */
	WIRE_PROBE_REQUEST = 10, /* collector -> agent: run a throughput test */
	WIRE_CHECKS = 11, /* collector -> agent: the recording hosts to check */
};
#define WIRE_TYPE_MAX WIRE_CHECKS

/*
 * HELLO.proto and WELCOME.proto. 1: HELLO .. STATUS only. 2: also PROBE,
 * PROBE_REQUEST and CHECKS. Each side sends the newer frames only when the
 * other said 2: a collector that did not (an older one) never gets a PROBE.
 */
#define WIRE_PROTO_BASE 1
#define WIRE_PROTO_PROBES 2
#define WIRE_PROTO WIRE_PROTO_PROBES

/* Decoder results (negative) and ERROR frame codes (positive, on the wire). */
enum wire_err {
	WIRE_OK = 0,
	WIRE_EMAGIC = -1,	/* not our protocol */
	WIRE_EVERSION = -2,	/* protocol version we do not speak */
	WIRE_ETOOBIG = -3,	/* announced payload above the cap */
	WIRE_ETYPE = -4,	/* unknown message type */
	WIRE_ETRUNCATED = -5,	/* payload shorter than its fields */
	WIRE_ETRAILING = -6,	/* bytes left after the last field */
	WIRE_EFIELD = -7,	/* a field out of range or not UTF-8 */
};

enum wire_error_code {
	WIRE_ERR_PROTOCOL = 1, /* malformed frame */
	WIRE_ERR_VERSION = 2,  /* unsupported protocol version */
	WIRE_ERR_AUTH = 3,     /* agent or school refused */
	WIRE_ERR_BUSY = 4,     /* collector at capacity, retry later */
	WIRE_ERR_INTERNAL = 5,
};

/* String caps (bytes, excluding the NUL the decoder adds). */
#define WIRE_NAME_MAX 63    /* agent, school, switch names */
#define WIRE_ADDR_MAX 127   /* host:port */
#define WIRE_TEXT_MAX 255   /* error text, ifDescr, ifName */
#define WIRE_ALIAS_MAX 255  /* ifAlias */
#define WIRE_MAX_IFS 4096   /* interfaces in one report */

struct wire_header {
	uint8_t version;
	uint8_t type;
	uint32_t length;
};

struct wire_hello {
	uint16_t proto;		/* highest protocol version the agent speaks */
	char agent[WIRE_NAME_MAX + 1];
	char school[WIRE_NAME_MAX + 1];
	char software[WIRE_NAME_MAX + 1];
	uint64_t epoch;		/* identifies the agent's sequence space */
};

struct wire_welcome {
	uint64_t epoch;
	uint64_t acked_seq;	/* highest seq already stored for this epoch */
	uint64_t server_time_ms;
	/* The collector's protocol: a trailing u16 on the wire, written only
	 * when >= WIRE_PROTO_PROBES (an older agent's decoder refuses trailing
	 * bytes, so a collector sends it only to agents that said 2 in HELLO);
	 * decoded as WIRE_PROTO_BASE when absent. */
	uint16_t proto;
};

/* Cumulative: every REPORT and PROBE of this epoch with seq <= seq is
 * stored. */
struct wire_ack {
	uint64_t epoch;
	uint64_t seq;
};

/* The agent's spool, sent after WELCOME and whenever dropped changes. */
struct wire_status {
	uint64_t dropped;	/* reports dropped because the spool was full,
				   since the spool was created */
	uint64_t pending;	/* reports waiting in the spool */
};

struct wire_error {
	uint16_t code;
	char message[WIRE_TEXT_MAX + 1];
};

/* Report status of a switch poll. */
enum wire_poll_status {
	WIRE_POLL_OK = 0,
	WIRE_POLL_TIMEOUT = 1, /* no answer within timeout x retries */
	WIRE_POLL_ERROR = 2,   /* answered with an error (auth, noSuchName..) */
};

#define WIRE_REPORT_REBOOTED 0x01 /* sysUpTime went back: no rates */

#define WIRE_IF_RATES 0x01	/* counter deltas below are valid */
#define WIRE_IF_HC 0x02		/* octet deltas came from 64-bit counters */

/* Duplex as in EtherLike-MIB dot3StatsDuplexStatus. */
enum wire_duplex {
	WIRE_DUPLEX_NONE = 0, /* not an Ethernet port or not reported */
	WIRE_DUPLEX_UNKNOWN = 1,
	WIRE_DUPLEX_HALF = 2,
	WIRE_DUPLEX_FULL = 3,
};

struct wire_if {
	uint32_t if_index;
	uint16_t if_type;
	uint8_t admin;		/* ifAdminStatus 1..3, 0 = not reported */
	uint8_t oper;		/* ifOperStatus 1..7, 0 = not reported */
	uint8_t duplex;		/* enum wire_duplex */
	uint8_t flags;		/* WIRE_IF_* */
	uint32_t speed_mbps;
	char name[WIRE_TEXT_MAX + 1];
	char descr[WIRE_TEXT_MAX + 1];
	char alias[WIRE_ALIAS_MAX + 1];
	/* Counter deltas over the report's interval_ms. */
	uint64_t in_octets, out_octets;
	uint64_t in_errors, out_errors;
	uint64_t in_discards, out_discards;
};

struct wire_report {
	uint64_t seq;
	uint64_t epoch;
	uint64_t t_ms;		/* poll start, ms since the Unix epoch (UTC) */
	uint32_t duration_ms;	/* how long the poll took */
	uint32_t interval_ms;	/* time the counter deltas cover, 0 if none */
	uint32_t poll_interval_s; /* the agent's schedule, for gap detection */
	uint32_t sys_uptime;	/* centiseconds */
	uint32_t pdus;		/* requests sent for this poll */
	uint8_t status;		/* enum wire_poll_status */
	uint8_t flags;		/* WIRE_REPORT_* */
	char switch_name[WIRE_NAME_MAX + 1];
	char address[WIRE_ADDR_MAX + 1];
	char error[WIRE_TEXT_MAX + 1];
	uint32_t n_if;
	struct wire_if *ifs;	/* owned; n_if entries; free with wire_report_free */
};

/* What a PROBE measured. */
enum wire_probe_kind {
	WIRE_PROBE_LATENCY = 1,	   /* TCP connects to a target (probe_tcp.c) */
	WIRE_PROBE_THROUGHPUT = 2, /* one test asked by a PROBE_REQUEST */
	WIRE_PROBE_HOST = 3,	   /* one check of a recording host */
};
#define WIRE_PROBE_MAX_SENT 100 /* connects in one round */
#define WIRE_PROBE_MAX_STREAMS 16

/* wire_throughput.measured */
#define WIRE_TP_DOWN 0x01
#define WIRE_TP_UP 0x02

/* Kind THROUGHPUT. Rates in kbit/s of payload; a direction not in
 * `measured` has every figure 0. */
struct wire_throughput {
	uint8_t streams;	/* 1..WIRE_PROBE_MAX_STREAMS */
	uint8_t measured;	/* WIRE_TP_* */
	uint32_t down_kbps, up_kbps;
	uint64_t down_bytes, up_bytes;
	uint32_t down_ms, up_ms; /* the time each rate is measured over */
};

/* Kind HOST. */
struct wire_host_check {
	uint8_t ok;		/* 1: answered as expected */
	uint16_t status;	/* HTTP/RTSP status, 0 if none */
	uint32_t time_ms;	/* until the answer, or until it failed */
};

/*
 * One probe result. PROBE frames share the agent's sequence space with
 * REPORT frames: spooled, acknowledged and de-duplicated alike, so a result
 * measured while the link was down is stored when it is back. On the wire:
 * seq, epoch, t_ms, kind, ref, label, target, interval_ms, error, then the
 * kind's own fields in the order of its struct.
 *
 *   kind      label            target (cap)            ref
 *   LATENCY   the agent's      host:port (ADDR_MAX)    0
 *             name for it
 *   THROUGHPUT "throughput"    the probe server's      the request's id
 *                              base URL (TEXT_MAX)
 *   HOST      the room         the URL (TEXT_MAX)      the check's id
 *
 * The decoder holds: 1 <= seq, kind known, label and target not empty and
 * within their caps. LATENCY: answered <= sent <= WIRE_PROBE_MAX_SENT,
 * interval_ms > 0; with nothing answered every RTT and the jitter are 0,
 * else min <= avg <= max and jitter <= max - min. THROUGHPUT: ref > 0,
 * streams in range, no unknown bit in measured, a direction not measured
 * all 0. HOST: ref > 0, interval_ms > 0, ok 0 or 1.
 */
struct wire_probe {
	uint64_t seq;
	uint64_t epoch;
	uint64_t t_ms;		/* start, ms since the Unix epoch (UTC) */
	uint8_t kind;		/* enum wire_probe_kind */
	uint64_t ref;		/* see the table above */
	char label[WIRE_NAME_MAX + 1];
	char target[WIRE_TEXT_MAX + 1];
	uint32_t interval_ms;	/* the agent's schedule; 0 for THROUGHPUT */
	char error[WIRE_TEXT_MAX + 1];	/* "" or why it could not run */
	/* LATENCY */
	uint32_t sent, answered;
	uint32_t rtt_min_us, rtt_avg_us, rtt_max_us;
	uint32_t jitter_us;	/* mean |difference| of consecutive RTTs */
	struct wire_throughput tp;	/* THROUGHPUT */
	struct wire_host_check host;	/* HOST */
};

/*
 * Collector -> agent: run one throughput test now, download then upload.
 * The agent answers with a PROBE of kind THROUGHPUT and ref = id, also
 * when it cannot run it (error set, e.g. "busy": one test at a time).
 * URLs are base + "/down" (GET, ?bytes=N per stream) and base + "/up"
 * (POST); an empty base means "http://" + the host the agent connects to
 * + ":" + port. The token goes in "Authorization: Bearer TOKEN" and is good
 * for this test only. The decoder holds: id > 0, token not empty, streams
 * 1..WIRE_PROBE_MAX_STREAMS, max_bytes >= streams, 0 < max_ms <= 300000,
 * port > 0 or base not empty.
 */
struct wire_probe_request {
	uint64_t id;
	char base[WIRE_TEXT_MAX + 1];
	uint16_t port;
	char token[WIRE_NAME_MAX + 1];
	uint64_t max_bytes;	/* per direction, over all streams */
	uint32_t max_ms;	/* per direction */
	uint8_t streams;
};

/*
 * Collector -> agent: the school's recording hosts (inventory rows of role
 * recording with a probe URL), sent after WELCOME and whenever they change;
 * each replaces the last (n = 0: none). Every interval_ms the agent checks
 * each and sends a PROBE of kind HOST with ref = id. The decoder holds:
 * n <= WIRE_MAX_CHECKS, every id > 0, room and url not empty,
 * interval_ms >= 1000, 0 < timeout_ms <= 120000 and timeout_ms <=
 * interval_ms.
 */
#define WIRE_MAX_CHECKS 256
struct wire_check {
	uint64_t id;		/* the collector's, echoed as PROBE.ref */
	char room[WIRE_NAME_MAX + 1];
	char url[WIRE_TEXT_MAX + 1];	/* http://, https:// or rtsp:// */
	char expect[WIRE_TEXT_MAX + 1];	/* HTTP: text the page must hold, or "" */
};
struct wire_checks {
	uint32_t interval_ms;
	uint32_t timeout_ms;
	uint32_t n;
	struct wire_check *items; /* owned when decoded: wire_checks_free */
};

/*
 * Look at the start of a receive buffer. Returns WIRE_OK and fills *h when a
 * whole header is there (the payload may still be incomplete), 1 when more
 * bytes are needed for the header, or a negative enum wire_err. A peer that
 * sends a bad header can be dropped at once: nothing else needs buffering.
 */
int wire_header_parse(const uint8_t *p, size_t len, struct wire_header *h);

/*
 * The first whole frame in a receive buffer: returns 1 with *h and *payload
 * set (drop it afterwards with buf_consume(b, WIRE_HEADER_LEN + h->length)),
 * 0 when more bytes are needed, or a negative enum wire_err.
 */
int wire_frame_next(const struct buf *b, struct wire_header *h,
    const uint8_t **payload);

/* Encoders append one whole frame to out; -1 when it would pass the cap. */
int wire_encode_hello(struct buf *out, const struct wire_hello *m)
    __attribute__((warn_unused_result));
int wire_encode_welcome(struct buf *out, const struct wire_welcome *m)
    __attribute__((warn_unused_result));
int wire_encode_ack(struct buf *out, const struct wire_ack *m)
    __attribute__((warn_unused_result));
int wire_encode_error(struct buf *out, const struct wire_error *m)
    __attribute__((warn_unused_result));
int wire_encode_report(struct buf *out, const struct wire_report *m)
    __attribute__((warn_unused_result));
int wire_encode_status(struct buf *out, const struct wire_status *m)
    __attribute__((warn_unused_result));
int wire_encode_probe(struct buf *out, const struct wire_probe *m)
    __attribute__((warn_unused_result));
int wire_encode_probe_request(struct buf *out,
    const struct wire_probe_request *m) __attribute__((warn_unused_result));
int wire_encode_checks(struct buf *out, const struct wire_checks *m)
    __attribute__((warn_unused_result));
int wire_encode_empty(struct buf *out, enum wire_type type)
    __attribute__((warn_unused_result));

/*
 * Decoders take the payload of a frame whose header said this type and
 * return WIRE_OK or a negative enum wire_err; every length and range is
 * checked before use. A decoded report owns r->ifs: wire_report_free.
 */
int wire_decode_hello(const uint8_t *p, size_t len, struct wire_hello *m);
int wire_decode_welcome(const uint8_t *p, size_t len, struct wire_welcome *m);
int wire_decode_ack(const uint8_t *p, size_t len, struct wire_ack *m);
int wire_decode_error(const uint8_t *p, size_t len, struct wire_error *m);
int wire_decode_status(const uint8_t *p, size_t len, struct wire_status *m);
int wire_decode_report(const uint8_t *p, size_t len, struct wire_report *m);
int wire_decode_probe(const uint8_t *p, size_t len, struct wire_probe *m);
int wire_decode_probe_request(const uint8_t *p, size_t len,
    struct wire_probe_request *m);
int wire_decode_checks(const uint8_t *p, size_t len, struct wire_checks *m);
void wire_report_free(struct wire_report *m);
void wire_checks_free(struct wire_checks *m);

const char *wire_strerror(int err);
const char *wire_type_name(int type);
/* Text for ifOperStatus/ifAdminStatus values, "unknown" outside 1..7. */
const char *wire_oper_name(int oper);
const char *wire_duplex_name(int duplex);

#endif
