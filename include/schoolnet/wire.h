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
	WIRE_PROBE = 9,	  /* agent -> collector, one probe round */
};
#define WIRE_TYPE_MAX WIRE_PROBE

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
	WIRE_PROBE_LATENCY = 1, /* TCP connects to a target (agent/probe_tcp.c) */
};
#define WIRE_PROBE_MAX_SENT 100 /* connects in one round */

/*
 * One probe round against one target. PROBE frames share the agent's
 * sequence space with REPORT frames: spooled, acknowledged and de-duplicated
 * alike. A connect is answered when the SYN got a SYN-ACK or an RST in
 * time. The decoder holds: 1 <= seq, kind known, label and target not
 * empty, answered <= sent <= WIRE_PROBE_MAX_SENT, interval_ms > 0; with
 * nothing answered every RTT and the jitter are 0, else min <= avg <= max
 * and jitter <= max - min.
 */
struct wire_probe {
	uint64_t seq;
	uint64_t epoch;
	uint64_t t_ms;		/* round start, ms since the Unix epoch (UTC) */
	uint8_t kind;		/* enum wire_probe_kind */
	char label[WIRE_NAME_MAX + 1];	/* the agent's name for the target */
	char target[WIRE_ADDR_MAX + 1];	/* host:port */
	uint32_t sent, answered;
	uint32_t rtt_min_us, rtt_avg_us, rtt_max_us;
	uint32_t jitter_us;	/* mean |difference| of consecutive RTTs */
	uint32_t interval_ms;	/* the agent's schedule: a round this often */
	char error[WIRE_TEXT_MAX + 1];	/* "" or why the round could not run */
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
void wire_report_free(struct wire_report *m);

const char *wire_strerror(int err);
const char *wire_type_name(int type);
/* Text for ifOperStatus/ifAdminStatus values, "unknown" outside 1..7. */
const char *wire_oper_name(int oper);
const char *wire_duplex_name(int duplex);

#endif
