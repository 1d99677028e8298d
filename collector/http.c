/*
 * http.c: the collector's HTTP interface: the JSON API under /api/v1/ and
 * Prometheus /metrics.
 *
 * libmicrohttpd runs without threads of its own, in its epoll mode: its
 * epoll descriptor sits in the collector's libuv loop (uv_poll), and a
 * uv_timer follows MHD_get_timeout. Requests are answered on the loop
 * thread from the collector's read connection; the writer thread is never
 * waited for, so ingest goes on whatever the HTTP side does.
 *
 * Every request but /healthz needs "Authorization: Bearer TOKEN" (tokens
 * from `schoolnet-collector tokens add`); acknowledging an alert needs an
 * admin token. Bodies are capped at HTTP_BODY_MAX, connections at
 * HTTP_CONN_MAX (HTTP_PER_IP_MAX per address) and HTTP_TIMEOUT_S idle.
 */
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <microhttpd.h>

#include "collector.h"
#include "schoolnet/hostport.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"
#include "schoolnet/timeutil.h"
#include "schoolnet/utf8.h"

#define HTTP_BODY_MAX 4096
#define HTTP_CONN_MAX 64
#define HTTP_PER_IP_MAX 8
#define HTTP_TIMEOUT_S 30
#define HTTP_MEMORY_LIMIT (64 * 1024)
/*
 * Requests run on the loop that also reads the agents: a county's /metrics
 * or ports take a few hundred ms. They may use at most BUDGET_MS_PER_S of
 * each second (bursts of BUDGET_BURST_MS); past that they get 503 and
 * Retry-After, and the agents are read in between.
 */
#define BUDGET_MS_PER_S 500.0
#define BUDGET_BURST_MS 1000.0
#define BY_MAX 64 /* bytes of an acknowledger's name */

struct http_server {
	uv_loop_t *loop;
	struct MHD_Daemon *mhd;
	uv_poll_t poll;
	uv_timer_t timer;
	int open_handles;
	sqlite3 *db;
	const struct collector_conf *conf;
	const struct http_sources *src;
	uint64_t requests;
	double budget_ms;	/* loop time requests may still take */
	uint64_t budget_at;
	void (*closed)(void *);
	void *closed_arg;
};

/* One request: who asks, and the body read so far. */
struct request {
	enum token_role role;
	char name[128];		/* the token's */
	char body[HTTP_BODY_MAX + 1];
	size_t len;
};

static enum MHD_Result
send_buf(struct MHD_Connection *conn, unsigned status, const char *type,
    char *buf, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, buf,
	    MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (r == NULL) {
		free(buf);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		    "Bearer realm=\"schoolnet\"");
	if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW,
		    "GET, HEAD, POST");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
send_json(struct MHD_Connection *conn, unsigned status, json_t *body)
{
	char *text = json_dumps(body, JSON_INDENT(2));

	json_decref(body);
	if (text == NULL)
		return MHD_NO;
	return send_buf(conn, status, "application/json; charset=utf-8", text,
	    strlen(text));
}

static enum MHD_Result
send_error(struct MHD_Connection *conn, unsigned status, const char *why)
{
	return send_json(conn, status, json_pack("{s:s}", "error", why));
}

/* s for a log line: control characters (an unescaped %0A) become '?'. */
static const char *
loggable(const char *s, char *buf, size_t size)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < size; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

static void
peer_of(struct MHD_Connection *conn, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char host[64] = "?";

	if (ci && ci->client_addr)
		(void)!uv_ip_name(ci->client_addr, host, sizeof(host));
	snprintf(buf, size, "%s", host);
}

/* The role of the request's bearer token; says why when none. */
static enum token_role
authorize(struct http_server *h, struct MHD_Connection *conn, char *name,
    size_t size, const char **why)
{
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	enum token_role role;

	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0) {
		*why = "an API token is needed: Authorization: Bearer TOKEN";
		return TOKEN_NONE;
	}
	role = token_lookup(h->db, auth + 7, name, size);
	if (role == TOKEN_NONE)
		*why = "unknown or revoked API token";
	return role;
}

static bool
school_exists(sqlite3 *db, const char *code)
{
	sqlite3_stmt *st;
	bool found = false;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM schools WHERE code = ?", -1,
		&st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
		found = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
	}
	return found;
}

/* A listing from query.c, captured as the response. */
static enum MHD_Result
send_query(struct http_server *h, struct MHD_Connection *conn,
    const char *what, const char *school, bool open_only)
{
	const struct policy_conf *pc = &h->conf->policy;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	int rc;

	if (m == NULL)
		return MHD_NO;
	if (strcmp(what, "schools") == 0)
		rc = query_schools(h->db, pc, school, true, m);
	else if (strcmp(what, "ports") == 0)
		rc = query_ports(h->db, pc, school, true, m);
	else if (strcmp(what, "switches") == 0)
		rc = query_switches(h->db, school, true, m);
	else if (strcmp(what, "agents") == 0)
		rc = query_agents(h->db, school, true, m);
	else
		rc = query_alerts(h->db, school, open_only, true, m);
	if (fclose(m) != 0 || rc != 0) {
		free(buf);
		return send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "database error; see the collector's log");
	}
	return send_buf(conn, MHD_HTTP_OK, "application/json; charset=utf-8",
	    buf, len);
}

static enum MHD_Result
send_metrics(struct http_server *h, struct MHD_Connection *conn)
{
	struct metrics_stats st;
	char *buf = NULL;
	size_t len = 0;
	FILE *m;
	int rc;

	h->src->stats(h->src->arg, &st);
	st.http_requests = h->requests;
	if ((m = open_memstream(&buf, &len)) == NULL)
		return MHD_NO;
	rc = metrics_write(m, h->db, &h->conf->policy, &st);
	if (fclose(m) != 0 || rc != 0) {
		free(buf);
		return send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "database error; see the collector's log");
	}
	return send_buf(conn, MHD_HTTP_OK, "text/plain; version=0.0.4", buf,
	    len);
}

/* POST /api/v1/alerts/ID/ack, body {"by": "NAME"} (default: the token's
 * name). */
static enum MHD_Result
ack_alert(struct http_server *h, struct MHD_Connection *conn, const char *id_s,
    const struct request *rq, const char *token_name, const char *peer)
{
	char *end, who[128];
	long long id = strtoll(id_s, &end, 10);
	json_t *body = NULL, *by;
	json_error_t jerr;
	int rc;

	if (*id_s == '\0' || *end != '\0' || id <= 0)
		return send_error(conn, MHD_HTTP_NOT_FOUND, "no such alert");
	if (rq->len > 0 &&
	    (body = json_loadb(rq->body, rq->len, 0, &jerr)) == NULL)
		return send_error(conn, MHD_HTTP_BAD_REQUEST,
		    "the body must be JSON: {\"by\": \"NAME\"}");
	by = json_object_get(body, "by");
	if (by != NULL && (!json_is_string(by) ||
			      json_string_length(by) > BY_MAX ||
			      !utf8_valid_label(json_string_value(by),
				  json_string_length(by)))) {
		json_decref(body);
		return send_error(conn, MHD_HTTP_BAD_REQUEST,
		    "\"by\" must be a name of at most 64 bytes");
	}
	snprintf(who, sizeof(who), "%s",
	    json_is_string(by) && *json_string_value(by)
		? json_string_value(by)
		: token_name);
	json_decref(body);
	rc = alerts_ack(h->db, id, who, NULL, 0);
	if (rc < 0) {
		log_warnx("http %s: alert %lld not acknowledged: %s", peer, id,
		    sqlite3_errmsg(h->db));
		return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "the database is busy; try again");
	}
	if (rc == ACK_NO_ALERT)
		return send_error(conn, MHD_HTTP_NOT_FOUND, "no such alert");
	if (rc == ACK_ALREADY)
		return send_error(conn, MHD_HTTP_CONFLICT,
		    "the alert was already acknowledged");
	log_info("http %s: alert %lld acknowledged by %s (token %s)", peer, id,
	    who, token_name);
	return send_json(conn, MHD_HTTP_OK,
	    json_pack("{s:I, s:s}", "acknowledged", (json_int_t)id, "by", who));
}

static enum MHD_Result
route(struct http_server *h, struct MHD_Connection *conn, const char *url,
    const char *method, const struct request *rq, const char *peer)
{
	static const char *const listings[] = {"schools", "ports", "switches",
	    "agents", "alerts"};
	const char *school = MHD_lookup_connection_value(conn,
	    MHD_GET_ARGUMENT_KIND, "school");
	const char *open = MHD_lookup_connection_value(conn,
	    MHD_GET_ARGUMENT_KIND, "open");
	/* HEAD is GET without the body (libmicrohttpd drops it). */
	bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
	    strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	bool open_only = open && (strcmp(open, "1") == 0 ||
				     strcmp(open, "true") == 0);
	char safe[160];
	const char *rest;

	if (strcmp(url, "/metrics") == 0 && get)
		return send_metrics(h, conn);
	if (strncmp(url, "/api/v1/", 8) != 0)
		return send_error(conn, MHD_HTTP_NOT_FOUND, "no such resource");
	rest = url + 8;
	/* POST /api/v1/alerts/ID/ack */
	if (strncmp(rest, "alerts/", 7) == 0) {
		const char *id = rest + 7, *slash = strchr(id, '/');
		char id_s[24];

		if (slash == NULL || strcmp(slash, "/ack") != 0 ||
		    (size_t)(slash - id) >= sizeof(id_s))
			return send_error(conn, MHD_HTTP_NOT_FOUND,
			    "no such resource");
		if (!post)
			return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
			    "use POST");
		if (rq->role != TOKEN_ADMIN) {
			log_info("http %s: %s %s: 403 token %s is read-only",
			    peer, method, loggable(url, safe, sizeof(safe)),
			    rq->name);
			return send_error(conn, MHD_HTTP_FORBIDDEN,
			    "acknowledging needs an admin token");
		}
		memcpy(id_s, id, (size_t)(slash - id));
		id_s[slash - id] = '\0';
		return ack_alert(h, conn, id_s, rq, rq->name, peer);
	}
	/* GET /api/v1/schools/CODE: one school */
	if (strncmp(rest, "schools/", 8) == 0 && rest[8] != '\0' && get) {
		if (!school_exists(h->db, rest + 8))
			return send_error(conn, MHD_HTTP_NOT_FOUND,
			    "no such school");
		return send_query(h, conn, "schools", rest + 8, false);
	}
	for (size_t i = 0; i < nitems(listings); i++)
		if (strcmp(rest, listings[i]) == 0) {
			if (!get)
				return send_error(conn,
				    MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
			return send_query(h, conn, listings[i], school,
			    open_only);
		}
	return send_error(conn, MHD_HTTP_NOT_FOUND, "no such resource");
}

/* Is there loop time left for a request? Refills at BUDGET_MS_PER_S. */
static bool
budget_left(struct http_server *h)
{
	uint64_t now = uv_now(h->loop);

	h->budget_ms += (double)(now - h->budget_at) * BUDGET_MS_PER_S / 1000.0;
	if (h->budget_ms > BUDGET_BURST_MS)
		h->budget_ms = BUDGET_BURST_MS;
	h->budget_at = now;
	return h->budget_ms > 0;
}

/*
 * The headers are in: refuse at once what will be refused anyway (no
 * token, a body over the cap), before any body is read.
 */
static enum MHD_Result
on_headers(struct http_server *h, struct MHD_Connection *conn,
    const char *url, const char *method, struct request *rq,
    const char *peer)
{
	const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *why = NULL;
	char safe[160];

	rq->role = authorize(h, conn, rq->name, sizeof(rq->name), &why);
	if (rq->role == TOKEN_NONE) {
		log_info("http %s: %s %s: 401 %s", peer,
		    loggable(method, safe, 16),
		    loggable(url, safe + 16, sizeof(safe) - 16), why);
		return send_error(conn, MHD_HTTP_UNAUTHORIZED, why);
	}
	if (length && strtoull(length, NULL, 10) > HTTP_BODY_MAX)
		return send_error(conn, 413, "request body too large");
	return MHD_YES;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct http_server *h = cls;
	struct request *rq = *con_cls;
	char peer[64];
	uint64_t t0;
	enum MHD_Result ret;

	(void)version;
	if (strcmp(url, "/healthz") == 0)
		return send_buf(conn, MHD_HTTP_OK, "text/plain", xstrdup("ok\n"),
		    3);
	peer_of(conn, peer, sizeof(peer));
	if (rq == NULL) {
		*con_cls = rq = xcalloc(1, sizeof(*rq));
		h->requests++;
		return on_headers(h, conn, url, method, rq, peer);
	}
	if (*upload_data_size > 0) { /* a piece of the body */
		if (rq->len + *upload_data_size > HTTP_BODY_MAX)
			return MHD_NO; /* chunked past the cap: hang up */
		memcpy(rq->body + rq->len, upload_data, *upload_data_size);
		rq->len += *upload_data_size;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (!budget_left(h))
		return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "busy: the collector serves its agents first; retry");
	t0 = uv_hrtime();
	ret = route(h, conn, url, method, rq, peer);
	h->budget_ms -= (double)(uv_hrtime() - t0) / 1e6;
	return ret;
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	free(*con_cls);
	*con_cls = NULL;
}

static void http_arm(struct http_server *h);

static void
on_timer(uv_timer_t *t)
{
	struct http_server *h = container_of(t, struct http_server, timer);

	MHD_run(h->mhd);
	http_arm(h);
}

static void
on_ready(uv_poll_t *p, int status, int events)
{
	struct http_server *h = container_of(p, struct http_server, poll);

	(void)status;
	(void)events;
	MHD_run(h->mhd);
	http_arm(h);
}

/* Wake up when libmicrohttpd next has something to time out. */
static void
http_arm(struct http_server *h)
{
	MHD_UNSIGNED_LONG_LONG ms = 0;

	if (MHD_get_timeout(h->mhd, &ms) != MHD_YES)
		ms = 1000;
	uv_timer_start(&h->timer, on_timer, ms, 0);
}

static void
log_mhd(void *arg, const char *fmt, va_list ap)
{
	char msg[300];
	size_t n;

	(void)arg;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_warnx("http: %s", msg);
}

struct http_server *
http_start(uv_loop_t *loop, const struct collector_conf *conf,
    const struct http_sources *src)
{
	struct http_server *h = xcalloc(1, sizeof(*h));
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICSERV}, *res = NULL;
	const union MHD_DaemonInfo *info;
	char port[8], where[300];
	int rc;

	h->loop = loop;
	h->conf = conf;
	h->src = src;
	hostport_format(&conf->http, where, sizeof(where));
	snprintf(port, sizeof(port), "%u", conf->http.port);
	if ((rc = getaddrinfo(conf->http.host, port, &hints, &res)) != 0) {
		log_warnx("http %s: %s; the API and /metrics are off", where,
		    gai_strerror(rc));
		free(h);
		return NULL;
	}
	if (db_open(conf->database, false, &h->db) != 0) {
		freeaddrinfo(res);
		free(h);
		return NULL;
	}
	/* Reads never wait in WAL; only a token's last_used update may, and
	 * it is best effort: never hold the loop for it. */
	sqlite3_busy_timeout(h->db, 50);
	h->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
		(res->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
	    0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, log_mhd,
	    h, MHD_OPTION_SOCK_ADDR, res->ai_addr,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONN_MAX,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_PER_IP_MAX,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_END);
	freeaddrinfo(res);
	if (h->mhd == NULL ||
	    (info = MHD_get_daemon_info(h->mhd,
		 MHD_DAEMON_INFO_EPOLL_FD)) == NULL) {
		log_warnx("http %s: cannot listen (%s); the API and /metrics "
			  "are off",
		    where, strerror(errno));
		if (h->mhd)
			MHD_stop_daemon(h->mhd);
		sqlite3_close(h->db);
		free(h);
		return NULL;
	}
	uv_poll_init(loop, &h->poll, info->epoll_fd);
	uv_poll_start(&h->poll, UV_READABLE, on_ready);
	uv_timer_init(loop, &h->timer);
	h->open_handles = 2;
	h->budget_ms = BUDGET_BURST_MS;
	h->budget_at = uv_now(loop);
	http_arm(h);
	log_info("http: API and /metrics on http://%s/", where);
	return h;
}

static void
on_handle_closed(uv_handle_t *handle)
{
	struct http_server *h = handle->data;
	void (*cb)(void *) = h->closed;
	void *arg = h->closed_arg;

	if (--h->open_handles > 0)
		return;
	MHD_stop_daemon(h->mhd);
	sqlite3_close(h->db);
	free(h);
	if (cb)
		cb(arg);
}

void
http_set_conf(struct http_server *h, const struct collector_conf *conf)
{
	if (h)
		h->conf = conf;
}

void
http_close(struct http_server *h, void (*cb)(void *), void *arg)
{
	if (h == NULL) {
		if (cb)
			cb(arg);
		return;
	}
	h->closed = cb;
	h->closed_arg = arg;
	h->poll.data = h->timer.data = h;
	uv_close((uv_handle_t *)&h->poll, on_handle_closed);
	uv_close((uv_handle_t *)&h->timer, on_handle_closed);
}
