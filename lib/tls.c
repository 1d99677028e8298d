/* tls.c: OpenSSL TLS 1.3 sessions driven through memory BIOs. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "schoolnet/mem.h"
#include "schoolnet/tls.h"

struct tls_ctx {
	SSL_CTX *ssl;
	tls_psk_lookup lookup;	/* server PSK */
	char identity[TLS_IDENTITY_MAX + 1]; /* client PSK */
	uint8_t key[TLS_PSK_MAX];
	size_t keylen;
};

struct tls {
	SSL *ssl;
	BIO *rbio, *wbio;	/* network side: owned by ssl */
	struct tls_ctx *ctx;
	void *conn;
	bool done;
	char identity[TLS_IDENTITY_MAX + 1];
	char error[256];
};

/* TLS 1.3's PSK callbacks need a SHA-256 suite: offer just that one. */
#define PSK_SUITES "TLS_AES_128_GCM_SHA256"

static int ex_index = -1;

static void
ssl_error(char *err, size_t n, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[200] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, n, "%s%s%s", what, e ? ": " : "", buf);
	ERR_clear_error();
}

static struct tls_ctx *
ctx_new(bool server, char *err)
{
	struct tls_ctx *c = xcalloc(1, sizeof(*c));

	if (ex_index < 0)
		ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	c->ssl = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (c->ssl == NULL ||
	    !SSL_CTX_set_min_proto_version(c->ssl, TLS1_3_VERSION)) {
		ssl_error(err, 256, "cannot create a TLS context");
		tls_ctx_free(c);
		return NULL;
	}
	/* No session tickets: every connection authenticates afresh. */
	SSL_CTX_set_num_tickets(c->ssl, 0);
	SSL_CTX_set_options(c->ssl, SSL_OP_NO_TICKET);
	return c;
}

static unsigned int
psk_server_cb(SSL *ssl, const char *identity, unsigned char *psk,
    unsigned int max_psk_len)
{
	struct tls *t = SSL_get_ex_data(ssl, ex_index);
	const char *why = "unknown identity";
	uint8_t key[TLS_PSK_MAX];
	size_t n;

	if (t == NULL || identity == NULL)
		return 0;
	snprintf(t->identity, sizeof(t->identity), "%s", identity);
	n = t->ctx->lookup(t->conn, identity, key, &why);
	if (n == 0 || n > max_psk_len) {
		snprintf(t->error, sizeof(t->error), "PSK identity '%.64s' "
		    "refused: %s", identity, why);
		OPENSSL_cleanse(key, sizeof(key));
		return 0;
	}
	memcpy(psk, key, n);
	OPENSSL_cleanse(key, sizeof(key));
	return (unsigned int)n;
}

static unsigned int
psk_client_cb(SSL *ssl, const char *hint, char *identity,
    unsigned int max_identity_len, unsigned char *psk,
    unsigned int max_psk_len)
{
	struct tls *t = SSL_get_ex_data(ssl, ex_index);
	struct tls_ctx *c = t ? t->ctx : NULL;

	(void)hint;
	if (c == NULL || strlen(c->identity) + 1 > max_identity_len ||
	    c->keylen > max_psk_len)
		return 0;
	memcpy(identity, c->identity, strlen(c->identity) + 1);
	memcpy(psk, c->key, c->keylen);
	return (unsigned int)c->keylen;
}

struct tls_ctx *
tls_ctx_server_psk(tls_psk_lookup lookup, char *err)
{
	struct tls_ctx *c = ctx_new(true, err);

	if (c == NULL)
		return NULL;
	c->lookup = lookup;
	if (!SSL_CTX_set_ciphersuites(c->ssl, PSK_SUITES)) {
		ssl_error(err, 256, "cannot set the TLS 1.3 suites");
		tls_ctx_free(c);
		return NULL;
	}
	SSL_CTX_set_psk_server_callback(c->ssl, psk_server_cb);
	return c;
}

struct tls_ctx *
tls_ctx_client_psk(const char *identity, const uint8_t *key, size_t keylen,
    char *err)
{
	struct tls_ctx *c;

	if (strlen(identity) > TLS_IDENTITY_MAX || keylen == 0 ||
	    keylen > TLS_PSK_MAX) {
		snprintf(err, 256, "bad PSK identity or key length");
		return NULL;
	}
	if ((c = ctx_new(false, err)) == NULL)
		return NULL;
	snprintf(c->identity, sizeof(c->identity), "%s", identity);
	memcpy(c->key, key, keylen);
	c->keylen = keylen;
	if (!SSL_CTX_set_ciphersuites(c->ssl, PSK_SUITES)) {
		ssl_error(err, 256, "cannot set the TLS 1.3 suites");
		tls_ctx_free(c);
		return NULL;
	}
	SSL_CTX_set_psk_client_callback(c->ssl, psk_client_cb);
	return c;
}

static struct tls_ctx *
ctx_cert(bool server, const char *cert, const char *key, const char *ca,
    char *err)
{
	struct tls_ctx *c = ctx_new(server, err);

	if (c == NULL)
		return NULL;
	if (SSL_CTX_use_certificate_chain_file(c->ssl, cert) != 1) {
		ssl_error(err, 256, cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(c->ssl, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(c->ssl) != 1) {
		ssl_error(err, 256, key);
		goto fail;
	}
	if (SSL_CTX_load_verify_locations(c->ssl, ca, NULL) != 1) {
		ssl_error(err, 256, ca);
		goto fail;
	}
	/* Both sides must show a certificate from this CA. */
	SSL_CTX_set_verify(c->ssl,
	    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return c;
fail:
	tls_ctx_free(c);
	return NULL;
}

struct tls_ctx *
tls_ctx_server_cert(const char *cert, const char *key, const char *ca,
    char *err)
{
	return ctx_cert(true, cert, key, ca, err);
}

struct tls_ctx *
tls_ctx_client_cert(const char *cert, const char *key, const char *ca,
    char *err)
{
	return ctx_cert(false, cert, key, ca, err);
}

void
tls_ctx_free(struct tls_ctx *c)
{
	if (c == NULL)
		return;
	SSL_CTX_free(c->ssl);
	OPENSSL_cleanse(c->key, sizeof(c->key));
	free(c);
}

struct tls *
tls_new(struct tls_ctx *ctx, bool server, void *conn, const char *server_name)
{
	struct tls *t = xcalloc(1, sizeof(*t));

	t->ctx = ctx;
	t->conn = conn;
	if ((t->ssl = SSL_new(ctx->ssl)) == NULL ||
	    (t->rbio = BIO_new(BIO_s_mem())) == NULL ||
	    (t->wbio = BIO_new(BIO_s_mem())) == NULL) {
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		SSL_free(t->ssl);
		free(t);
		return NULL;
	}
	/* A closed memory BIO returns "retry", never EOF. */
	BIO_set_mem_eof_return(t->rbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	SSL_set_ex_data(t->ssl, ex_index, t);
	if (server) {
		SSL_set_accept_state(t->ssl);
	} else {
		SSL_set_connect_state(t->ssl);
		if (server_name && *server_name) {
			SSL_set_tlsext_host_name(t->ssl, server_name);
			/* Certificates: the collector's must name this host. */
			SSL_set1_host(t->ssl, server_name);
		}
	}
	return t;
}

void
tls_free(struct tls *t)
{
	if (t == NULL)
		return;
	SSL_free(t->ssl); /* frees both BIOs */
	free(t);
}

static int
fail(struct tls *t, const char *what)
{
	if (t->error[0] == '\0')
		ssl_error(t->error, sizeof(t->error), what);
	ERR_clear_error();
	return -1;
}

/* Note the handshake's end and, for certificates, who the peer is. */
static void
check_done(struct tls *t)
{
	X509 *peer;

	if (t->done || !SSL_is_init_finished(t->ssl))
		return;
	t->done = true;
	if (t->identity[0] == '\0' &&
	    (peer = SSL_get1_peer_certificate(t->ssl)) != NULL) {
		X509_NAME_get_text_by_NID(X509_get_subject_name(peer),
		    NID_commonName, t->identity, sizeof(t->identity));
		X509_free(peer);
	}
}

int
tls_feed(struct tls *t, const uint8_t *p, size_t len)
{
	while (len > 0) {
		int n = BIO_write(t->rbio, p, (int)(len > 65536 ? 65536 : len));

		if (n <= 0)
			return fail(t, "TLS input");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
tls_read(struct tls *t, struct buf *out)
{
	for (;;) {
		size_t room = out->cap - out->len;
		uint8_t *dst;
		int n, e;

		if (room == 0)
			return 0; /* the caller drains and calls again */
		if (room > 16384)
			room = 16384;
		dst = buf_reserve(out, room);
		n = SSL_read(t->ssl, dst, (int)room);
		if (n > 0) {
			buf_commit(out, (size_t)n);
			check_done(t);
			continue;
		}
		e = SSL_get_error(t->ssl, n);
		check_done(t);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			return 0;
		if (e == SSL_ERROR_ZERO_RETURN) {
			snprintf(t->error, sizeof(t->error),
			    "peer closed the TLS session");
			return -1;
		}
		return fail(t, t->done ? "TLS record" : "TLS handshake");
	}
}

int
tls_write(struct tls *t, const uint8_t *p, size_t len)
{
	while (len > 0) {
		int n = SSL_write(t->ssl, p, (int)(len > 16384 ? 16384 : len));

		if (n <= 0) {
			int e = SSL_get_error(t->ssl, n);

			/* Before the handshake is done: OpenSSL keeps the
			 * data only in this call, so drive the handshake
			 * first (the caller writes after tls_handshake_done). */
			if (e == SSL_ERROR_WANT_READ)
				return fail(t, "TLS write before the handshake");
			return fail(t, "TLS write");
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
tls_take_output(struct tls *t, struct buf *out)
{
	size_t pending;

	/* A client starts the handshake itself. */
	if (!t->done && !SSL_is_server(t->ssl) && BIO_ctrl_pending(t->wbio) == 0) {
		int n = SSL_do_handshake(t->ssl);

		if (n <= 0) {
			int e = SSL_get_error(t->ssl, n);

			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				return fail(t, "TLS handshake");
		}
		check_done(t);
	}
	while ((pending = BIO_ctrl_pending(t->wbio)) > 0) {
		uint8_t *dst = buf_reserve(out, pending);
		int n;

		if (dst == NULL)
			return fail(t, "TLS output over its cap");
		n = BIO_read(t->wbio, dst, (int)pending);
		if (n <= 0)
			return fail(t, "TLS output");
		buf_commit(out, (size_t)n);
	}
	return 0;
}

bool
tls_pending_input(const struct tls *t)
{
	/* In the BIO, or already taken into OpenSSL's record buffer. */
	return t && (BIO_ctrl_pending(t->rbio) > 0 || SSL_has_pending(t->ssl));
}

bool
tls_handshake_done(const struct tls *t)
{
	return t->done;
}

const char *
tls_error(const struct tls *t)
{
	return t->error[0] ? t->error : "TLS failure";
}

const char *
tls_peer_identity(const struct tls *t)
{
	return t->identity;
}

int
tls_random(uint8_t *p, size_t len)
{
	return RAND_bytes(p, (int)len) == 1 ? 0 : -1;
}

void
tls_hex_encode(const uint8_t *p, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
}

int
tls_hex_decode(const char *hex, uint8_t *out, size_t max)
{
	size_t n = strlen(hex);

	if (n % 2 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n; i += 2) {
		int hi = isxdigit((unsigned char)hex[i]) ? hex[i] : -1;
		int lo = isxdigit((unsigned char)hex[i + 1]) ? hex[i + 1] : -1;

		if (hi < 0 || lo < 0)
			return -1;
		hi = isdigit(hi) ? hi - '0' : (tolower(hi) - 'a' + 10);
		lo = isdigit(lo) ? lo - '0' : (tolower(lo) - 'a' + 10);
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return (int)(n / 2);
}
