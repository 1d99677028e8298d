/* tls.h: TLS 1.3 (OpenSSL) over memory buffers, for any event loop. */
#ifndef SCHOOLNET_TLS_H
#define SCHOOLNET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schoolnet/buf.h"

/*
 * The caller owns the socket: bytes read from it go to tls_feed(), and
 * whatever tls_take_output() returns goes out on it. Plaintext comes out
 * of tls_read() and goes in through tls_write(). The handshake runs inside
 * these calls. Only TLS 1.3 is offered, so every session has forward
 * secrecy (PSK with (EC)DHE, or certificates).
 */

#define TLS_PSK_MAX 64		/* key bytes */
#define TLS_IDENTITY_MAX 127

enum tls_mode { TLS_MODE_PSK = 0, TLS_MODE_CERT = 1, TLS_MODE_OFF = 2 };

struct tls_ctx;
struct tls;

/*
 * Server PSK lookup: copy the key of `identity` into key (at most
 * TLS_PSK_MAX bytes) and return its length, or 0 to refuse (unknown,
 * revoked, expired); `why` may be set for the log. conn is the pointer
 * given to tls_new.
 */
typedef size_t (*tls_psk_lookup)(void *conn, const char *identity,
    uint8_t *key, const char **why);

/* Contexts; on failure NULL and a reason in err (at least 256 bytes). */
struct tls_ctx *tls_ctx_server_psk(tls_psk_lookup lookup, char *err);
struct tls_ctx *tls_ctx_client_psk(const char *identity, const uint8_t *key,
    size_t keylen, char *err);
/* Certificates: both sides present one, signed by ca. */
struct tls_ctx *tls_ctx_server_cert(const char *cert, const char *key,
    const char *ca, char *err);
struct tls_ctx *tls_ctx_client_cert(const char *cert, const char *key,
    const char *ca, char *err);
void tls_ctx_free(struct tls_ctx *ctx);

/* A session; conn is handed back to the PSK lookup. NULL on failure. */
struct tls *tls_new(struct tls_ctx *ctx, bool server, void *conn,
    const char *server_name);
void tls_free(struct tls *t);

/* Ciphertext from the peer. Returns 0, or -1 (see tls_error). */
int tls_feed(struct tls *t, const uint8_t *p, size_t len)
    __attribute__((warn_unused_result));
/* Move decrypted bytes into out (up to its cap). 0, or -1 on a fatal
 * error: a failed handshake, a bad record, an alert from the peer. */
int tls_read(struct tls *t, struct buf *out)
    __attribute__((warn_unused_result));
/* Encrypt plaintext for the peer; only after tls_handshake_done(). */
int tls_write(struct tls *t, const uint8_t *p, size_t len)
    __attribute__((warn_unused_result));
/* Ciphertext to send now, appended to out; 0 or -1. */
int tls_take_output(struct tls *t, struct buf *out)
    __attribute__((warn_unused_result));
bool tls_handshake_done(const struct tls *t);
/* Ciphertext fed but not yet a whole record (NULL t: false). */
bool tls_pending_input(const struct tls *t);
/* Why the session failed, for the log. */
const char *tls_error(const struct tls *t);
/* Server side: the PSK identity the client used, or "" (certificates:
 * the client certificate's common name). */
const char *tls_peer_identity(const struct tls *t);

/* Random bytes from OpenSSL's generator; 0 or -1. */
int tls_random(uint8_t *p, size_t len) __attribute__((warn_unused_result));
/* "00ff.." <-> bytes; hex_decode returns the length or -1. */
void tls_hex_encode(const uint8_t *p, size_t len, char *out);
int tls_hex_decode(const char *hex, uint8_t *out, size_t max);

#endif
