/*
 * probe.h: the agent's link probes (issue 4). Two independent modules on
 * the agent's libuv loop:
 *   probe_tcp.c   TCP-connect latency, loss and jitter to targets
 *   probe_http.c  libcurl multi: throughput (download/upload) and
 *                 recording-host checks (HTTP(S) and RTSP)
 * See docs/design-probes.md for how they fit the agent and the collector.
 */
#ifndef SCHOOLNET_PROBE_H
#define SCHOOLNET_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

/* ---- probe_tcp.c ---------------------------------------------------- */

struct probe_target {
	char label[64];		/* "collector", "smartedu", ... */
	char host[256];		/* name or address */
	uint16_t port;
};

/* One round against one target: `count` connects, `interval_ms` apart. */
struct latency_round {
	char label[64];
	uint64_t t_ms;		/* wall clock at the round's start */
	uint32_t sent;		/* connects tried */
	uint32_t answered;	/* SYN answered (SYN-ACK or RST) in time */
	uint32_t rtt_min_us, rtt_avg_us, rtt_max_us; /* 0 if none answered */
	uint32_t jitter_us;	/* mean |rtt[i] - rtt[i-1]| of answered, RFC 3550 style */
	char error[128];	/* "" or why the round could not run (DNS...) */
};

#define TCP_PROBE_MAX_TARGETS 64
#define TCP_PROBE_MAX_COUNT 100	/* connects per round */

struct tcp_prober;
typedef void (*latency_cb)(const struct latency_round *r, void *arg);

/* Every every_ms, a round against each target (rounds of different
 * targets may overlap; their connects are staggered by interval_ms / n);
 * cb once per target and round, r valid during the call only.
 * targets are copied. NULL (logged) unless 1 <= n <= TCP_PROBE_MAX_TARGETS,
 * 1 <= count <= TCP_PROBE_MAX_COUNT, timeout_ms > 0, every host and label
 * a non-empty string, every port > 0, and a round fits its period:
 * (count - 1) * interval_ms + timeout_ms <= every_ms. */
struct tcp_prober *tcp_prober_new(uv_loop_t *loop,
    const struct probe_target *targets, size_t n, uint32_t count,
    uint32_t interval_ms, uint32_t timeout_ms, uint32_t every_ms,
    latency_cb cb, void *arg);
void tcp_prober_start(struct tcp_prober *p);
/* Stops timers, abandons connects in flight (no more callbacks, even when
 * called from cb), frees p once libuv is done with its handles: run the
 * loop on to let it. Call once; NULL is ignored. */
void tcp_prober_close(struct tcp_prober *p);

/* ---- probe_http.c --------------------------------------------------- */

struct curl_runner;
/* The first call also runs curl_global_init (once per process). */
struct curl_runner *curl_runner_new(uv_loop_t *loop);
/* Abandons transfers in flight (no more callbacks, also when called from
 * one); frees once libuv is done. */
void curl_runner_close(struct curl_runner *cr);

struct throughput_req {
	const char *down_url;	/* GET: the server sends bytes=N; NULL: skip */
	const char *up_url;	/* POST: the body is discarded; NULL: skip */
	const char *auth;	/* "Authorization: Bearer ..." header or NULL */
	uint64_t max_bytes;	/* per direction, over all streams */
	double max_seconds;	/* per direction */
	int streams;		/* parallel connections, 1..16 */
};

struct throughput_result {
	double down_mbps, up_mbps; /* payload bits / s; < 0: not measured */
	uint64_t down_bytes, up_bytes;
	double down_s, up_s;	/* the time measured over */
	char error[256];	/* "" or what went wrong */
};
typedef void (*throughput_cb)(const struct throughput_result *r, void *arg);
/* Download, then upload (how bytes and time are counted: probe_http.c).
 * 0, or -1 when one is already running or q is out of range (streams
 * 1..16, max_bytes >= streams, 0 < max_seconds <= 300, auth one header
 * line): then cb is never called. Else cb once, from the loop. The strings
 * are copied. */
int throughput_start(struct curl_runner *cr, const struct throughput_req *q,
    throughput_cb cb, void *arg);

struct host_check_req {
	const char *url;	/* http://, https:// or rtsp:// */
	const char *expect;	/* HTTP: text the body must contain, or NULL */
	double timeout_s;
};
struct host_check_result {
	bool ok;		/* answered as expected */
	long status;		/* HTTP/RTSP status, 0 if none */
	uint32_t time_ms;	/* until the answer (HTTP: its first byte; RTSP:
				 * DESCRIBE's, from the start of OPTIONS); with
				 * none, until it failed */
	char error[256];	/* "" or why not ok */
};
typedef void (*host_check_cb)(const struct host_check_result *r, void *arg);
/* 0, or -1 (cb never called) for a URL of another scheme, timeout_s not
 * within (0, 120] or 256 checks running. HTTP: ok for 2xx/3xx (not
 * followed) and, with expect, the text in the first 64 KB of the page. */
int host_check_start(struct curl_runner *cr, const struct host_check_req *q,
    host_check_cb cb, void *arg);

#endif
