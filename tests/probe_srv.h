/* probe_srv.h: a small HTTP server (libmicrohttpd, its own threads) that
 * the probe_http tests measure against: GET /down?bytes=N sends N generated
 * bytes, POST /up reads and discards the body. */
#ifndef SCHOOLNET_TEST_PROBE_SRV_H
#define SCHOOLNET_TEST_PROBE_SRV_H

#include <stdbool.h>
#include <stdint.h>

struct probe_srv_conf {
	const char *addr; /* IPv4 address to bind, NULL: 127.0.0.1 */
	uint16_t port;    /* 0: any free port */
	uint64_t rate;    /* bytes/s per connection each way, 0: no limit */
	const char *auth; /* "Bearer x": the Authorization /down and /up
	                   * need, NULL: none */
	const char *page_text; /* in GET /page; NULL: a default */
};

/*
 * Routes:
 *   GET  /down?bytes=N  200, N bytes (N <= 2^40), paced at `rate`
 *   POST /up            200 "received N\n" once the body is read; paced
 *   GET  /page          200, a small HTML page containing page_text
 *   GET  /big           200, 200 KiB: page_text only after the first 100 KiB
 *   GET  /status/NNN    that status, a short body
 *   GET  /redirect      302 to /page
 *   anything else       404
 * Threads: one per connection, so pacing sleeps block nobody else.
 */
struct probe_srv;

/* NULL (and a message on stderr) when it cannot listen. */
struct probe_srv *probe_srv_start(const struct probe_srv_conf *c);
uint16_t probe_srv_port(const struct probe_srv *s);
/* Payload bytes sent by /down and received by /up, in all. */
uint64_t probe_srv_sent(const struct probe_srv *s);
uint64_t probe_srv_received(const struct probe_srv *s);
/* Requests answered (any route). */
uint64_t probe_srv_requests(const struct probe_srv *s);
/* Stops listening, ends the connections (waits for their threads), frees. */
void probe_srv_stop(struct probe_srv *s);

#endif
