/*
 * http.c: the collector's HTTP interface: the JSON API under /api/v1/ and
 * Prometheus /metrics.
 *
 * libmicrohttpd runs without threads of its own, in its epoll mode: its
 * epoll descriptor sits in the collector's libuv loop (uv_poll), and a
 * uv_timer follows MHD_get_timeout. What takes time (the listings,
 * /metrics, the monthly report) runs on a libuv worker thread, one at a
 * time, with a database connection of its own, while its HTTP connection
 * is suspended: the loop goes on reading the agents, and the writer thread
 * is never waited for. Token checks and acknowledgments are quick and run
 * on the loop.
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
#include "schoolnet/calendar.h"
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
#define JOBS_MAX 16	/* heavy requests waiting for the worker; more: 503 */
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
	sqlite3 *work_db;	/* the worker's: one job at a time */
	struct job *queue, *queue_tail;
	size_t queued;
	bool running, closing;
	void (*closed)(void *);
	void *closed_arg;
};

/* One request: who asks, the body read so far, and a worker's answer. */
struct request {
	enum token_role role;
	char name[128];		/* the token's */
	char body[HTTP_BODY_MAX + 1];
	size_t len;
	bool suspended, done;
	unsigned status;	/* when done */
	const char *type;
	char *answer;
	size_t answer_len;
};

/* Work for the worker thread, on a suspended connection. */
enum job_kind { JOB_LISTING, JOB_SCHOOL, JOB_METRICS, JOB_REPORT };
struct job {
	uv_work_t work;
	struct http_server *h;
	struct MHD_Connection *conn;
	struct request *rq;
	enum job_kind kind;
	const char *listing;	/* static */
	char *school, *town, *month, *format, *level;
	bool open_only, en;
	struct policy_conf policy; /* a copy: a reload may free the conf */
	struct metrics_stats stats;
	struct job *next;
};

static void http_arm(struct http_server *h);

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

static void
job_answer(struct job *j, unsigned status, const char *type, char *buf,
    size_t len)
{
	j->rq->status = status;
	j->rq->type = type;
	j->rq->answer = buf;
	j->rq->answer_len = len;
}

static void
job_error(struct job *j, unsigned status, const char *why)
{
	json_t *o = json_pack("{s:s}", "error", why);
	char *text = json_dumps(o, JSON_INDENT(2));

	json_decref(o);
	job_answer(j, status, "application/json; charset=utf-8", text,
	    text ? strlen(text) : 0);
}

/* The monthly report, as `report` writes it. */
static int
job_report(struct job *j, FILE *m)
{
	struct collector_conf *conf = xcalloc(1, sizeof(*conf));
	struct report_args a = {.month = j->month,
	    .format = j->format ? j->format : "json",
	    .level = j->level ? j->level : "school",
	    .town = j->town,
	    .school = j->school,
	    .en = j->en,
	    .out = m};
	struct calendar *cal = NULL;
	struct cfg_err err;
	int rc = 1;

	conf->policy = j->policy;
	memset(&err, 0, sizeof(err));
	if (j->policy.calendar[0] == '\0')
		cal = calendar_default();
	else if (calendar_load(j->policy.calendar, &cal, &err) != 0)
		log_warnx("http: report: %s", err.text);
	if (cal)
		rc = cmd_report(j->h->work_db, cal, conf, &a);
	calendar_free(cal);
	free(conf);
	return rc;
}

/* On the worker thread: the job's answer, into its request. */
static void
job_work(uv_work_t *w)
{
	struct job *j = container_of(w, struct job, work);
	sqlite3 *db = j->h->work_db;
	const char *type = "application/json; charset=utf-8";
	char *buf = NULL;
	size_t len = 0;
	FILE *m;
	int rc = 1;

	if (j->kind == JOB_SCHOOL && !school_exists(db, j->school)) {
		job_error(j, MHD_HTTP_NOT_FOUND, "no such school");
		return;
	}
	if ((m = open_memstream(&buf, &len)) == NULL) {
		job_error(j, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		return;
	}
	switch (j->kind) {
	case JOB_SCHOOL:
		rc = query_schools(db, &j->policy, j->school, true, m);
		break;
	case JOB_LISTING:
		if (strcmp(j->listing, "schools") == 0)
			rc = query_schools(db, &j->policy, j->school, true, m);
		else if (strcmp(j->listing, "ports") == 0)
			rc = query_ports(db, &j->policy, j->school, true, m);
		else if (strcmp(j->listing, "switches") == 0)
			rc = query_switches(db, j->school, true, m);
		else if (strcmp(j->listing, "agents") == 0)
			rc = query_agents(db, j->school, true, m);
		else
			rc = query_alerts(db, j->school, j->open_only, true, m);
		break;
	case JOB_METRICS:
		rc = metrics_write(m, db, &j->policy, &j->stats);
		type = "text/plain; version=0.0.4";
		break;
	case JOB_REPORT:
		rc = job_report(j, m);
		type = !j->format || strcmp(j->format, "json") == 0
		    ? "application/json; charset=utf-8"
		    : strcmp(j->format, "csv") == 0 ? "text/csv; charset=utf-8"
						    : "text/html; charset=utf-8";
		break;
	}
	if (fclose(m) != 0 || rc != 0) {
		free(buf);
		job_error(j,
		    j->kind == JOB_REPORT ? MHD_HTTP_BAD_REQUEST
					  : MHD_HTTP_INTERNAL_SERVER_ERROR,
		    j->kind == JOB_REPORT
			? "no report: check month, town and school (the "
			  "collector's log says why)"
			: "database error; see the collector's log");
		return;
	}
	job_answer(j, MHD_HTTP_OK, type, buf, len);
}

static void job_done(uv_work_t *w, int status);
static void http_finish_close(struct http_server *h);

static void
job_free(struct job *j)
{
	free(j->school);
	free(j->town);
	free(j->month);
	free(j->format);
	free(j->level);
	free(j);
}

/* Start the next job when the worker is free. */
static void
jobs_next(struct http_server *h)
{
	struct job *j = h->queue;

	if (h->running || j == NULL)
		return;
	h->queue = j->next;
	if (h->queue == NULL)
		h->queue_tail = NULL;
	h->queued--;
	h->running = true;
	uv_queue_work(h->loop, &j->work, job_work, job_done);
}

/* Back on the loop: wake the connection; its handler sends the answer. */
static void
job_done(uv_work_t *w, int status)
{
	struct job *j = container_of(w, struct job, work);
	struct http_server *h = j->h;

	(void)status;
	h->running = false;
	j->rq->done = true;
	j->rq->suspended = false;
	MHD_resume_connection(j->conn);
	job_free(j);
	if (h->closing) {
		http_finish_close(h);
		return;
	}
	jobs_next(h);
	MHD_run(h->mhd);
	http_arm(h);
}

static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* Queue heavy work and suspend the connection until it is done. */
static enum MHD_Result
submit(struct http_server *h, struct MHD_Connection *conn, struct request *rq,
    enum job_kind kind, const char *listing, const char *school)
{
	struct job *j;
	const char *v;

	if (h->queued >= JOBS_MAX)
		return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "busy: too many requests waiting; retry");
	j = xcalloc(1, sizeof(*j));
	j->h = h;
	j->conn = conn;
	j->rq = rq;
	j->kind = kind;
	j->listing = listing;
	j->school = dup_or_null(school);
	j->policy = h->conf->policy;
	if (kind == JOB_METRICS) {
		h->src->stats(h->src->arg, &j->stats);
		j->stats.http_requests = h->requests;
	}
	if (kind == JOB_REPORT) {
		j->town = dup_or_null(MHD_lookup_connection_value(conn,
		    MHD_GET_ARGUMENT_KIND, "town"));
		j->month = dup_or_null(MHD_lookup_connection_value(conn,
		    MHD_GET_ARGUMENT_KIND, "month"));
		j->format = dup_or_null(MHD_lookup_connection_value(conn,
		    MHD_GET_ARGUMENT_KIND, "format"));
		j->level = dup_or_null(MHD_lookup_connection_value(conn,
		    MHD_GET_ARGUMENT_KIND, "level"));
		v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
		    "lang");
		j->en = v && strcmp(v, "en") == 0;
	}
	v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "open");
	j->open_only = v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
	if (h->queue_tail)
		h->queue_tail->next = j;
	else
		h->queue = j;
	h->queue_tail = j;
	h->queued++;
	rq->suspended = true;
	MHD_suspend_connection(conn);
	jobs_next(h);
	return MHD_YES;
}

/* A report's options, checked before any work. */
static const char *
report_args_bad(struct MHD_Connection *conn)
{
	static const char *const formats[] = {"json", "csv", "html"};
	static const char *const levels[] = {"school", "classroom", "town"};
	const char *f = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
	    "format");
	const char *l = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
	    "level");
	const char *m = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
	    "month");
	bool ok_f = f == NULL, ok_l = l == NULL;

	for (size_t i = 0; i < nitems(formats); i++)
		ok_f |= f && strcmp(f, formats[i]) == 0;
	for (size_t i = 0; i < nitems(levels); i++)
		ok_l |= l && strcmp(l, levels[i]) == 0;
	if (!ok_f)
		return "format must be json, csv or html";
	if (!ok_l)
		return "level must be school, classroom or town";
	if (m && (strlen(m) != 7 || m[4] != '-'))
		return "month must be YYYY-MM";
	return NULL;
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
    const char *method, struct request *rq, const char *peer)
{
	static const char *const listings[] = {"schools", "ports", "switches",
	    "agents", "alerts"};
	const char *school = MHD_lookup_connection_value(conn,
	    MHD_GET_ARGUMENT_KIND, "school");
	/* HEAD is GET without the body (libmicrohttpd drops it). */
	bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
	    strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	char safe[160];
	const char *rest;

	if (strcmp(url, "/metrics") == 0 && get)
		return submit(h, conn, rq, JOB_METRICS, NULL, NULL);
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
	if (strncmp(rest, "schools/", 8) == 0 && rest[8] != '\0' && get)
		return submit(h, conn, rq, JOB_SCHOOL, NULL, rest + 8);
	/* GET /api/v1/report?month=&format=&lang=&level=&town=&school= */
	if (strcmp(rest, "report") == 0) {
		const char *bad = report_args_bad(conn);

		if (!get)
			return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
			    "use GET");
		if (bad)
			return send_error(conn, MHD_HTTP_BAD_REQUEST, bad);
		return submit(h, conn, rq, JOB_REPORT, NULL, school);
	}
	for (size_t i = 0; i < nitems(listings); i++)
		if (strcmp(rest, listings[i]) == 0) {
			if (!get)
				return send_error(conn,
				    MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
			return submit(h, conn, rq, JOB_LISTING, listings[i],
			    school);
		}
	return send_error(conn, MHD_HTTP_NOT_FOUND, "no such resource");
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

	(void)version;
	if (h->closing)
		return MHD_NO; /* shutting down: no new work, hang up */
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
	if (rq->suspended)
		return MHD_YES;
	if (rq->done) { /* the worker's answer */
		char *buf = rq->answer;

		rq->answer = NULL;
		if (buf == NULL)
			return MHD_NO;
		return send_buf(conn, rq->status, rq->type, buf,
		    rq->answer_len);
	}
	return route(h, conn, url, method, rq, peer);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (rq)
		free(rq->answer);
	free(rq);
	*con_cls = NULL;
}

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
	if (db_open(conf->database, false, &h->db) != 0 ||
	    db_open(conf->database, false, &h->work_db) != 0) {
		sqlite3_close(h->db);
		freeaddrinfo(res);
		free(h);
		return NULL;
	}
	sqlite3_busy_timeout(h->work_db, 5000); /* a report stores roll-ups */
	/* Reads never wait in WAL; only a token's last_used update may, and
	 * it is best effort: never hold the loop for it. */
	sqlite3_busy_timeout(h->db, 50);
	h->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
		MHD_ALLOW_SUSPEND_RESUME |
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
		sqlite3_close(h->work_db);
		free(h);
		return NULL;
	}
	uv_poll_init(loop, &h->poll, info->epoll_fd);
	uv_poll_start(&h->poll, UV_READABLE, on_ready);
	uv_timer_init(loop, &h->timer);
	h->open_handles = 2;
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
	sqlite3_close(h->work_db);
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

/* Close the handles once no job runs; then the daemon stops. */
static void
http_finish_close(struct http_server *h)
{
	if (h->running)
		return; /* job_done comes back here */
	h->poll.data = h->timer.data = h;
	uv_close((uv_handle_t *)&h->poll, on_handle_closed);
	uv_close((uv_handle_t *)&h->timer, on_handle_closed);
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
	h->closing = true;
	/* Jobs not started: their connections get no answer but are woken,
	 * so that the daemon can close them. */
	while (h->queue) {
		struct job *j = h->queue;

		h->queue = j->next;
		j->rq->suspended = false;
		MHD_resume_connection(j->conn);
		job_free(j);
	}
	h->queue_tail = NULL;
	h->queued = 0;
	http_finish_close(h);
}
