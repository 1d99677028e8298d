/*
 * http.c: the collector's HTTP interface: the dashboard (static files), the
 * JSON API under /api/v1/ and Prometheus /metrics, over HTTP or HTTPS.
 *
 * libmicrohttpd runs without threads of its own, in its epoll mode: its
 * epoll descriptor sits in the collector's libuv loop (uv_poll), and a
 * uv_timer follows MHD_get_timeout. What touches the database (listings,
 * history, /metrics, the monthly report, acknowledgments, maintenance
 * windows) runs on a libuv worker thread, one job at a time, with a
 * database connection of its own, while its HTTP connection is suspended:
 * the loop goes on reading the agents, and the writer thread is never
 * waited for. Only token checks run on the loop.
 *
 * Every /api/v1 request and /metrics needs "Authorization: Bearer TOKEN"
 * (tokens from `schoolnet-collector tokens add`); what changes state needs
 * an admin token. The dashboard's files need none: they hold no data.
 * Bodies are capped at HTTP_BODY_MAX, connections at HTTP_CONN_MAX
 * (HTTP_PER_IP_MAX per address) and HTTP_TIMEOUT_S idle. JSON and files
 * carry an ETag; a matching If-None-Match gets 304.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

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
#define HTTP_CONN_MAX 256
#define HTTP_PER_IP_MAX 64 /* a county office's staff may share one NAT
			      address; a browser opens up to 6 a host */
#define HTTP_TIMEOUT_S 30
#define HTTP_MEMORY_LIMIT (64 * 1024)
#define JOBS_MAX 16	/* heavy requests waiting for the worker; more: 503 */
#define WAITERS_MAX 256	/* requests sharing one waiting job's answer */
#define TOUCH_MAX 16	/* tokens whose last_used waits for a job */
#define WORK_BUSY_MS 5000 /* the worker's writes (a report stores roll-ups) */
#define BY_MAX 64 /* bytes of an acknowledger's name */
#define HTTP_DRAIN_MS 2000 /* at shutdown: time to send what is answered */

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
	uint64_t jobs;		/* started on the worker */
	sqlite3 *work_db;	/* the worker's: one job at a time */
	struct job *queue, *queue_tail;
	size_t queued;
	bool running, closing;
	int active;		/* requests begun and not completed */
	uint64_t drain_until;	/* closing: monotonic ms */
	void (*closed)(void *);
	void *closed_arg;
	char web_dir[4096];	/* the dashboard from disk; "" built in */
	char touch[TOUCH_MAX][TOKEN_HASH_SIZE]; /* tokens' last_used due */
	int n_touch;
	char tried[TOUCH_MAX][TOKEN_HASH_SIZE]; /* and when last queued */
	uint64_t tried_at[TOUCH_MAX];
	char *tls_cert, *tls_key; /* PEM, while the daemon runs */
};

/* One request: who asks, the body read so far, and a worker's answer. */
struct request {
	bool get;		/* GET or HEAD: conditional, cacheable */
	bool counted;		/* begun before closing: in h->active */
	bool open;		/* /healthz or a dashboard file: no token */
	enum token_role role;
	char name[128];		/* the token's */
	char body[HTTP_BODY_MAX + 1];
	size_t len;
	bool suspended, done;
	unsigned status;	/* when done */
	const char *type;
	char *answer;
	size_t answer_len;
	char etag[28];		/* of a 200's answer, made on the worker */
	struct shared *shared;	/* a coalesced job's answer, when done */
};

/* Work for the worker thread, on a suspended connection. */
enum job_kind {
	JOB_LISTING, JOB_SCHOOL, JOB_METRICS, JOB_REPORT, JOB_HISTORY,
	JOB_MAINT_LIST, JOB_MAINT_ADD, JOB_MAINT_DELETE, JOB_ACK, JOB_DEMAND
};
struct job {
	uv_work_t work;
	struct http_server *h;
	struct MHD_Connection *conn;
	struct request *rq;
	enum job_kind kind;
	const char *listing;	/* static */
	char *school, *town, *month, *format, *level;
	bool open_only, en, brief;
	int limit;
	long long id;		/* an alert's or a window's */
	char peer[64];
	struct history_args hist;
	char *sw, *from, *to, *duration, *reason, *by; /* history, windows */
	struct policy_conf policy; /* a copy: a reload may free the conf */
	struct probe_size size;	/* a throughput test's, asked for */
	struct metrics_stats stats;
	/* Identical read requests that came while this one waited: they get
	 * a copy of its answer (one computation for every dashboard that
	 * polls the same listing). */
	struct waiter *waiters;
	int n_waiters;
	char touch[TOUCH_MAX][TOKEN_HASH_SIZE];
	int n_touch;
	struct job *next;
};

struct waiter {
	struct MHD_Connection *conn;
	struct request *rq;
	struct waiter *next;
};

/* One response for a job and its waiters: built once, queued on each
 * connection (libmicrohttpd counts its own references), ours dropped by
 * the last request to let go of it. */
struct shared {
	struct MHD_Response *resp;
	unsigned status;
	char etag[28];
	int refs;
};

static void
shared_release(struct shared *sh)
{
	if (sh && --sh->refs == 0) {
		MHD_destroy_response(sh->resp);
		free(sh);
	}
}

static void http_arm(struct http_server *h);

/*
 * A weak validator: FNV-1a over the body, but for the listing's own
 * "generated_at" stamp, so that an unchanged listing keeps its tag.
 */
static void
etag_of(const char *buf, size_t len, char out[28])
{
	static const char stamp[] = "\"generated_at\": \"";
	uint64_t x = 0xcbf29ce484222325ULL;
	const char *skip = NULL, *skip_end = NULL;

	if (len > 0 && buf[0] == '{') {
		size_t head = len < 64 ? len : 64;

		skip = memmem(buf, head, stamp, sizeof(stamp) - 1);
		if (skip)
			skip_end = memchr(skip + sizeof(stamp) - 1, '"',
			    len - (size_t)(skip - buf) - (sizeof(stamp) - 1));
		if (skip_end == NULL)
			skip = NULL;
	}
	for (size_t i = 0; i < len; i++) {
		if (skip && buf + i == skip) {
			i = (size_t)(skip_end - buf);
			continue;
		}
		x = (x ^ (unsigned char)buf[i]) * 0x100000001b3ULL;
	}
	snprintf(out, 28, "W/\"%016llx\"", (unsigned long long)x);
}

/* Does If-None-Match name this ETag (or "*")? */
static bool
etag_matches(struct MHD_Connection *conn, const char *etag)
{
	const char *inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_IF_NONE_MATCH);
	size_t n = strlen(etag);

	if (inm == NULL)
		return false;
	if (strcmp(inm, "*") == 0)
		return true;
	for (const char *p = inm; (p = strstr(p, etag)) != NULL; p += n)
		if ((p == inm || p[-1] == ' ' || p[-1] == ',' || p[-1] == '/') &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			return true;
	return false;
}

#define SEND_CONDITIONAL 0x01 /* a GET: ETag, and 304 if the client has it */
#define SEND_PAGE 0x02	      /* the dashboard's files: CSP */

/*
 * A response of buf (taken; NULL for none) with our headers. etag (or "")
 * goes with a 200 to a GET: it must then be revalidated (no-cache).
 * allow: the methods a 405's resource takes.
 */
static struct MHD_Response *
make_response(unsigned status, const char *type, char *buf, size_t len,
    unsigned flags, const char *allow, const char *etag)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, buf,
	    MHD_RESPMEM_MUST_FREE);

	if (r == NULL) {
		free(buf);
		return NULL;
	}
	if (status != MHD_HTTP_NOT_MODIFIED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (etag[0]) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
		/* private: the API's answers need a token; keep them out of
		 * shared caches */
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
		    flags & SEND_PAGE ? "no-cache" : "private, no-cache");
	} else {
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
		    "no-store");
	}
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (flags & SEND_PAGE) { /* its own files and API only */
		MHD_add_response_header(r, "Content-Security-Policy",
		    "default-src 'self'; img-src 'self' data: blob:; "
		    "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; "
		    "base-uri 'none'; form-action 'self'");
		MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	}
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		    "Bearer realm=\"schoolnet\"");
	if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED && allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	return r;
}

/* 304 for a client that already has etag. */
static enum MHD_Result
send_not_modified(struct MHD_Connection *conn, const char *etag,
    unsigned flags)
{
	struct MHD_Response *r = make_response(MHD_HTTP_NOT_MODIFIED, NULL,
	    NULL, 0, flags, NULL, etag);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	ret = MHD_queue_response(conn, MHD_HTTP_NOT_MODIFIED, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * Send buf (taken). A 200 to a GET carries an ETag; if the client already
 * has it, 304 without the body.
 */
static enum MHD_Result
send_page(struct MHD_Connection *conn, unsigned status, const char *type,
    char *buf, size_t len, unsigned flags, const char *allow)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char etag[28] = "";

	if (status == MHD_HTTP_OK && (flags & SEND_CONDITIONAL)) {
		etag_of(buf, len, etag);
		if (etag_matches(conn, etag)) {
			free(buf);
			return send_not_modified(conn, etag, flags);
		}
	}
	if ((r = make_response(status, type, buf, len, flags, allow, etag)) ==
	    NULL)
		return MHD_NO;
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
send_buf(struct MHD_Connection *conn, unsigned status, const char *type,
    char *buf, size_t len)
{
	return send_page(conn, status, type, buf, len, 0, NULL);
}

static enum MHD_Result
send_json_as(struct MHD_Connection *conn, unsigned status, json_t *body,
    unsigned flags, const char *allow)
{
	char *text = json_dumps(body, JSON_INDENT(2));

	json_decref(body);
	if (text == NULL)
		return MHD_NO;
	return send_page(conn, status, "application/json; charset=utf-8", text,
	    strlen(text), flags, allow);
}

static enum MHD_Result
send_json(struct MHD_Connection *conn, unsigned status, json_t *body)
{
	return send_json_as(conn, status, body, 0, NULL);
}

static enum MHD_Result
send_error(struct MHD_Connection *conn, unsigned status, const char *why)
{
	return send_json(conn, status, json_pack("{s:s}", "error", why));
}

/* 405, naming the methods the resource takes. */
static enum MHD_Result
send_405(struct MHD_Connection *conn, const char *allow)
{
	return send_json_as(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
	    json_pack("{s:s, s:s}", "error", "method not allowed", "allow",
		allow),
	    0, allow);
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

/* A token's last_used is written by the worker (see job_work), never on
 * the loop; a few wait here until the next job. */
static void
touch_later(struct http_server *h, const char *hash)
{
	uint64_t now = time_mono_ms();
	int oldest = 0;

	/* Tried lately (and maybe failed: the database was busy): not again
	 * on every request. */
	for (int i = 0; i < TOUCH_MAX; i++) {
		if (strcmp(h->tried[i], hash) == 0 &&
		    now - h->tried_at[i] < 60000)
			return;
		if (h->tried_at[i] < h->tried_at[oldest])
			oldest = i;
	}
	memcpy(h->tried[oldest], hash, TOKEN_HASH_SIZE);
	h->tried_at[oldest] = now;
	if (h->n_touch < TOUCH_MAX)
		memcpy(h->touch[h->n_touch++], hash, TOKEN_HASH_SIZE);
}

/* The role of the request's bearer token; says why when none. */
static enum token_role
authorize(struct http_server *h, struct MHD_Connection *conn, char *name,
    size_t size, const char **why)
{
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	char touch[TOKEN_HASH_SIZE];
	enum token_role role;

	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0) {
		*why = "an API token is needed: Authorization: Bearer TOKEN";
		return TOKEN_NONE;
	}
	role = token_check(h->db, auth + 7, name, size, touch);
	if (touch[0])
		touch_later(h, touch);
	if (role == TOKEN_NONE)
		*why = "unknown or revoked API token";
	return role;
}

/* On the worker: the answer, and a 200's ETag (hashing a county's
 * listing takes milliseconds: not on the loop). */
static void
job_answer(struct job *j, unsigned status, const char *type, char *buf,
    size_t len)
{
	j->rq->status = status;
	j->rq->type = type;
	j->rq->answer = buf;
	j->rq->answer_len = len;
	j->rq->etag[0] = '\0';
	if (status == MHD_HTTP_OK && buf)
		etag_of(buf, len, j->rq->etag);
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

/* The calendar the collector runs on (for local times), or NULL (logged). */
static struct calendar *
job_calendar(const struct job *j)
{
	struct calendar *cal = NULL;
	struct cfg_err err;

	memset(&err, 0, sizeof(err));
	if (j->policy.calendar[0] == '\0')
		return calendar_default();
	if (calendar_load(j->policy.calendar, &cal, &err) != 0)
		log_warnx("http: %s", err.text);
	return cal;
}

/* The monthly report, as `report` writes it. */
static int
job_report(struct job *j, struct calendar *cal, FILE *m)
{
	struct collector_conf *conf = xcalloc(1, sizeof(*conf));
	struct report_args a = {.month = j->month,
	    .format = j->format ? j->format : "json",
	    .level = j->level ? j->level : "school",
	    .town = j->town,
	    .school = j->school,
	    .en = j->en,
	    .no_rooms = j->brief,
	    .out = m};
	int rc;

	conf->policy = j->policy;
	rc = cmd_report(j->h->work_db, cal, conf, &a);
	free(conf);
	return rc;
}

static void
job_json(struct job *j, unsigned status, json_t *o)
{
	char *text = json_dumps(o, JSON_INDENT(2));

	json_decref(o);
	job_answer(j, status, "application/json; charset=utf-8", text,
	    text ? strlen(text) : 0);
}

/* A write failed (logged): 503 if the database was busy, else 500. */
static void
job_db_error(struct job *j)
{
	int code = sqlite3_errcode(j->h->work_db) & 0xff;

	if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
		job_error(j, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "the database is busy; try again");
	else
		job_error(j, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "database error; see the collector's log");
}

/* POST /api/v1/alerts/ID/ack */
static void
job_ack(struct job *j)
{
	int rc = alerts_ack(j->h->work_db, j->id, j->by, NULL, 0);

	if (rc < 0) {
		log_warnx("http %s: alert %lld not acknowledged: %s", j->peer,
		    j->id, sqlite3_errmsg(j->h->work_db));
		job_db_error(j);
	} else if (rc == ACK_NO_ALERT) {
		job_error(j, MHD_HTTP_NOT_FOUND, "no such alert");
	} else if (rc == ACK_ALREADY) {
		job_error(j, MHD_HTTP_CONFLICT,
		    "the alert was already acknowledged");
	} else {
		log_info("http %s: alert %lld acknowledged by %s (token %s)",
		    j->peer, j->id, j->by, j->rq->name);
		job_json(j, MHD_HTTP_OK,
		    json_pack("{s:I, s:s}", "acknowledged", (json_int_t)j->id,
			"by", j->by));
	}
}

/* POST /api/v1/maintenance */
static void
job_maint_add(struct job *j, const struct calendar *cal)
{
	struct maint_args a = {.school = j->school,
	    .sw = j->sw,
	    .from = j->from,
	    .to = j->to,
	    .duration = j->duration,
	    .reason = j->reason,
	    .by = j->by};
	uint64_t span[2];
	json_t *added;
	char why[160];

	switch (maintenance_add(j->h->work_db, cal, &a, &added, span, why,
	    sizeof(why))) {
	case 0:
		log_info("http %s: maintenance window %lld added for school "
			 "%s by %s (token %s)",
		    j->peer,
		    (long long)json_integer_value(json_object_get(added, "id")),
		    j->school, j->by, j->rq->name);
		job_json(j, MHD_HTTP_CREATED, added);
		break;
	case 1:
		job_error(j, MHD_HTTP_BAD_REQUEST, why);
		break;
	default:
		log_warnx("http %s: maintenance window not added: %s", j->peer,
		    sqlite3_errmsg(j->h->work_db));
		job_db_error(j);
	}
}

/* DELETE /api/v1/maintenance/ID */
static void
job_maint_delete(struct job *j)
{
	switch (maintenance_delete(j->h->work_db, j->id)) {
	case 0:
		log_info("http %s: maintenance window %lld deleted (token %s)",
		    j->peer, j->id, j->rq->name);
		job_json(j, MHD_HTTP_OK,
		    json_pack("{s:I}", "deleted", (json_int_t)j->id));
		break;
	case 1:
		job_error(j, MHD_HTTP_NOT_FOUND, "no such maintenance window");
		break;
	default:
		log_warnx("http %s: maintenance window %lld not deleted: %s",
		    j->peer, j->id, sqlite3_errmsg(j->h->work_db));
		job_db_error(j);
	}
}

/* POST /api/v1/throughput: 202 for a new test, 200 with the one already
 * open (one at a time per school). */
static void
job_demand(struct job *j)
{
	sqlite3 *db = j->h->work_db;
	const char *state = "requested";
	sqlite3_stmt *st;
	int64_t id = 0;
	int rc = probe_demand(db, j->school, j->by, &j->size, &id);

	if (rc < 0) {
		log_warnx("http %s: no throughput test for school %s: %s",
		    j->peer, j->school, sqlite3_errmsg(db));
		job_db_error(j);
		return;
	}
	if (rc == PROBE_DEMAND_NO_SCHOOL) {
		job_error(j, MHD_HTTP_NOT_FOUND, "no such school");
		return;
	}
	if (rc == PROBE_DEMAND_OPEN &&
	    sqlite3_prepare_v2(db,
		"SELECT state FROM probe_throughput WHERE id = ?", -1, &st,
		NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW &&
		    strcmp((const char *)sqlite3_column_text(st, 0),
			"running") == 0)
			state = "running";
		sqlite3_finalize(st);
	}
	if (rc == PROBE_DEMAND_NEW)
		log_info("http %s: throughput test %lld of school %s asked "
			 "for by %s (token %s)",
		    j->peer, (long long)id, j->school, j->by, j->rq->name);
	job_json(j, rc == PROBE_DEMAND_NEW ? MHD_HTTP_ACCEPTED : MHD_HTTP_OK,
	    json_pack("{s:I, s:s}", "id", (json_int_t)id, "state", state));
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

	struct calendar *cal = NULL;

	/* Best effort: never wait for the write lock (an import or a
	 * roll-up may hold it for seconds); the reads below need none. */
	sqlite3_busy_timeout(db, 0);
	for (int i = 0; i < j->n_touch; i++)
		token_touch(db, j->touch[i]);
	sqlite3_busy_timeout(db, WORK_BUSY_MS);
	if (j->kind == JOB_SCHOOL &&
	    (rc = db_school_exists(db, j->school)) != 1) {
		job_error(j, rc == 0 ? MHD_HTTP_NOT_FOUND
				     : MHD_HTTP_INTERNAL_SERVER_ERROR,
		    rc == 0 ? "no such school"
			    : "database error; see the collector's log");
		return;
	}
	if (j->kind == JOB_ACK) {
		job_ack(j);
		return;
	}
	if (j->kind == JOB_MAINT_DELETE) {
		job_maint_delete(j);
		return;
	}
	if (j->kind == JOB_DEMAND) {
		job_demand(j);
		return;
	}
	if ((j->kind == JOB_REPORT || j->kind == JOB_MAINT_ADD ||
		j->kind == JOB_MAINT_LIST ||
		(j->kind == JOB_LISTING &&
		    strcmp(j->listing, "recording") == 0)) &&
	    (cal = job_calendar(j)) == NULL) {
		job_error(j, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "the calendar cannot be read; see the collector's log");
		return;
	}
	if (j->kind == JOB_MAINT_ADD) {
		job_maint_add(j, cal);
		calendar_free(cal);
		return;
	}
	if ((m = open_memstream(&buf, &len)) == NULL) {
		calendar_free(cal);
		job_error(j, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		return;
	}
	switch (j->kind) {
	case JOB_SCHOOL:
		rc = query_schools(db, &j->policy, j->school, true, true, m);
		break;
	case JOB_LISTING:
		if (strcmp(j->listing, "schools") == 0)
			rc = query_schools(db, &j->policy, j->school, true,
			    !j->brief, m);
		else if (strcmp(j->listing, "ports") == 0)
			rc = query_ports(db, &j->policy, j->school, true, m);
		else if (strcmp(j->listing, "switches") == 0)
			rc = query_switches(db, j->school, true, m);
		else if (strcmp(j->listing, "agents") == 0)
			rc = query_agents(db, j->school, true, m);
		else if (strcmp(j->listing, "probes") == 0)
			rc = query_probes(db, j->school, true, m);
		else if (strcmp(j->listing, "towns") == 0)
			rc = query_towns(db, &j->policy, true, m);
		else if (strcmp(j->listing, "throughput") == 0)
			rc = query_throughput(db, j->school, j->limit, true, m);
		else if (strcmp(j->listing, "recording") == 0)
			rc = query_recording(db, cal, j->school, true, m);
		else
			rc = query_alerts(db, j->school, j->open_only, j->limit,
			    true, m);
		break;
	case JOB_METRICS:
		rc = metrics_write(m, db, &j->policy, &j->stats);
		type = "text/plain; version=0.0.4";
		break;
	case JOB_REPORT:
		rc = job_report(j, cal, m);
		type = !j->format || strcmp(j->format, "json") == 0
		    ? "application/json; charset=utf-8"
		    : strcmp(j->format, "csv") == 0 ? "text/csv; charset=utf-8"
						    : "text/html; charset=utf-8";
		break;
	case JOB_HISTORY:
		rc = query_port_history(db, &j->hist, m);
		break;
	case JOB_MAINT_LIST:
		rc = maintenance_list(db, cal, j->school, true, m) == 0 ? 0 : 1;
		break;
	default:
		break;
	}
	calendar_free(cal);
	if (fclose(m) != 0 || rc != 0) {
		free(buf);
		if (j->kind == JOB_REPORT)
			job_error(j, MHD_HTTP_BAD_REQUEST,
			    "no report: check month, town and school (the "
			    "collector's log says why)");
		else if (j->kind == JOB_HISTORY && rc == 1)
			job_error(j, MHD_HTTP_NOT_FOUND,
			    "no such port: school, switch and if_index name "
			    "none");
		else
			job_error(j, MHD_HTTP_INTERNAL_SERVER_ERROR,
			    "database error; see the collector's log");
		return;
	}
	job_answer(j, MHD_HTTP_OK, type, buf, len);
}

static void job_done(uv_work_t *w, int status);
static void job_free(struct job *j);

/* The job's answer (in its request) to it and to its waiters: wake their
 * connections; their handlers send it. Frees j. */
static void
job_deliver(struct job *j)
{
	struct shared *sh = NULL;

	if (j->waiters) { /* one response for all, not a copy each */
		sh = xcalloc(1, sizeof(*sh));
		sh->status = j->rq->status;
		memcpy(sh->etag, j->rq->etag, sizeof(sh->etag));
		sh->resp = make_response(j->rq->status, j->rq->type,
		    j->rq->answer, j->rq->answer_len, 0, NULL, sh->etag);
		j->rq->answer = NULL;
		if (sh->resp == NULL) {
			free(sh);
			sh = NULL;
		} else {
			sh->refs = 1 + j->n_waiters;
			j->rq->shared = sh;
		}
	}
	while (j->waiters) {
		struct waiter *wt = j->waiters;

		j->waiters = wt->next;
		wt->rq->shared = sh; /* NULL: out of memory; hang up */
		wt->rq->done = true;
		wt->rq->suspended = false;
		MHD_resume_connection(wt->conn);
		free(wt);
	}
	j->rq->done = true;
	j->rq->suspended = false;
	MHD_resume_connection(j->conn);
	job_free(j);
}

static void
job_free(struct job *j)
{
	free(j->school);
	free(j->town);
	free(j->month);
	free(j->format);
	free(j->level);
	free(j->sw);
	free(j->from);
	free(j->to);
	free(j->duration);
	free(j->reason);
	free(j->by);
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
	h->jobs++;
	memcpy(j->touch, h->touch, sizeof(j->touch));
	j->n_touch = h->n_touch;
	h->n_touch = 0;
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
	job_deliver(j);
	if (!h->closing)
		jobs_next(h);
	MHD_run(h->mhd); /* sends the answer, even while closing */
	http_arm(h);
}

static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static const char *
arg(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
}

static struct job *
job_new(struct http_server *h, struct MHD_Connection *conn,
    struct request *rq, enum job_kind kind, const char *school,
    const char *peer)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->h = h;
	j->conn = conn;
	j->rq = rq;
	j->kind = kind;
	j->school = dup_or_null(school);
	j->policy = h->conf->policy;
	snprintf(j->peer, sizeof(j->peer), "%s", peer);
	return j;
}

/* Queue heavy work and suspend the connection until it is done. */
/* The same read as a job already waiting (not running: its snapshot could
 * be older than this request)? Listings, one school and /metrics only. */
static struct job *
job_twin(struct http_server *h, const struct job *j)
{
	if (j->kind != JOB_LISTING && j->kind != JOB_SCHOOL &&
	    j->kind != JOB_METRICS)
		return NULL;
	for (struct job *q = h->queue; q; q = q->next)
		if (q->kind == j->kind && q->listing == j->listing &&
		    !q->school == !j->school &&
		    (!q->school || strcmp(q->school, j->school) == 0) &&
		    q->open_only == j->open_only && q->brief == j->brief &&
		    q->limit == j->limit && q->n_waiters < WAITERS_MAX)
			return q;
	return NULL;
}

static enum MHD_Result
job_submit(struct http_server *h, struct job *j)
{
	struct job *twin = job_twin(h, j);

	if (twin) {
		struct waiter *w = xcalloc(1, sizeof(*w));

		w->conn = j->conn;
		w->rq = j->rq;
		w->next = twin->waiters;
		twin->waiters = w;
		twin->n_waiters++;
		w->rq->suspended = true;
		MHD_suspend_connection(w->conn);
		job_free(j);
		return MHD_YES;
	}
	if (h->queued >= JOBS_MAX) {
		struct MHD_Connection *conn = j->conn;

		job_free(j);
		return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "busy: too many requests waiting; retry");
	}
	if (h->queue_tail)
		h->queue_tail->next = j;
	else
		h->queue = j;
	h->queue_tail = j;
	h->queued++;
	j->rq->suspended = true;
	MHD_suspend_connection(j->conn);
	jobs_next(h);
	return MHD_YES;
}

/* A report's options, checked before any work. */
static const char *
report_args_bad(struct MHD_Connection *conn)
{
	static const char *const formats[] = {"json", "csv", "html"};
	static const char *const levels[] = {"school", "classroom", "town"};
	const char *f = arg(conn, "format"), *l = arg(conn, "level");
	const char *m = arg(conn, "month");
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

/* An integer argument in [lo, hi], or def when absent; false if bad. */
static bool
int_arg(struct MHD_Connection *conn, const char *name, long long lo,
    long long hi, long long def, long long *out)
{
	const char *v = arg(conn, name);
	char *end;

	*out = def;
	if (v == NULL)
		return true;
	errno = 0;
	*out = strtoll(v, &end, 10);
	return *v != '\0' && *end == '\0' && errno == 0 && *out >= lo &&
	    *out <= hi;
}

/* An id at the end of a path ("/api/v1/maintenance/12"); 0 if none. */
static long long
path_id(const char *s, size_t n)
{
	char buf[24], *end;
	long long id;

	if (n == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	id = strtoll(buf, &end, 10);
	return *end == '\0' && id > 0 ? id : 0;
}

/* The body as a JSON object (NULL for none); false if it is not one. */
static bool
body_object(const struct request *rq, json_t **out)
{
	json_error_t jerr;

	*out = NULL;
	if (rq->len == 0)
		return true;
	*out = json_loadb(rq->body, rq->len, 0, &jerr);
	if (*out != NULL && !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
	}
	return *out != NULL;
}

/*
 * A short text member of the body: absent is fine (NULL); present, it must
 * be a string of at most max bytes of printable UTF-8.
 */
static bool
body_text(json_t *body, const char *key, size_t max, char **out)
{
	json_t *v = json_object_get(body, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_string(v) || json_string_length(v) > max ||
	    (json_string_length(v) > 0 &&
		!utf8_valid_label(json_string_value(v), json_string_length(v))))
		return false;
	*out = xstrdup(json_string_value(v));
	return true;
}

/* The acting person: the body's "by", else the token's name. */
static bool
body_by(json_t *body, const struct request *rq, char **by)
{
	if (!body_text(body, "by", BY_MAX, by))
		return false;
	if (*by == NULL || **by == '\0') {
		free(*by);
		*by = xstrdup(rq->name);
	}
	return true;
}

/* POST /api/v1/alerts/ID/ack, body {"by": "NAME"} (default: the token's
 * name). */
static enum MHD_Result
ack_alert(struct http_server *h, struct MHD_Connection *conn, long long id,
    struct request *rq, const char *peer)
{
	struct job *j;
	json_t *body;

	if (id <= 0)
		return send_error(conn, MHD_HTTP_NOT_FOUND, "no such alert");
	if (!body_object(rq, &body))
		return send_error(conn, MHD_HTTP_BAD_REQUEST,
		    "the body must be JSON: {\"by\": \"NAME\"}");
	j = job_new(h, conn, rq, JOB_ACK, NULL, peer);
	j->id = id;
	if (!body_by(body, rq, &j->by)) {
		json_decref(body);
		job_free(j);
		return send_error(conn, MHD_HTTP_BAD_REQUEST,
		    "\"by\" must be a name of at most 64 bytes");
	}
	json_decref(body);
	return job_submit(h, j);
}

/* POST /api/v1/maintenance {"school", "switch", "from", "to" | "for",
 * "reason", "by"} */
static enum MHD_Result
add_window(struct http_server *h, struct MHD_Connection *conn,
    struct request *rq, const char *peer)
{
	struct job *j;
	json_t *body;
	bool ok;

	if (!body_object(rq, &body) || body == NULL)
		return send_error(conn, MHD_HTTP_BAD_REQUEST,
		    "the body must be a JSON object: {\"school\": CODE, "
		    "\"for\": \"2h\", \"reason\": TEXT}");
	j = job_new(h, conn, rq, JOB_MAINT_ADD, NULL, peer);
	ok = body_text(body, "school", 64, &j->school) &&
	    body_text(body, "switch", 128, &j->sw) &&
	    body_text(body, "from", 32, &j->from) &&
	    body_text(body, "to", 32, &j->to) &&
	    body_text(body, "for", 16, &j->duration) &&
	    body_text(body, "reason", 512, &j->reason) &&
	    body_by(body, rq, &j->by);
	json_decref(body);
	if (!ok) {
		job_free(j);
		return send_error(conn, MHD_HTTP_BAD_REQUEST,
		    "school, switch, from, to, for, reason and by must be "
		    "short texts");
	}
	return job_submit(h, j);
}

/* POST /api/v1/throughput {"school": CODE[, "by": NAME]} */
static enum MHD_Result
ask_throughput(struct http_server *h, struct MHD_Connection *conn,
    struct request *rq, const char *peer)
{
	struct job *j;
	json_t *body;
	bool ok;

	if (!body_object(rq, &body) || body == NULL)
		return send_error(conn, MHD_HTTP_BAD_REQUEST,
		    "the body must be a JSON object: {\"school\": CODE}");
	j = job_new(h, conn, rq, JOB_DEMAND, NULL, peer);
	ok = body_text(body, "school", 64, &j->school) && j->school &&
	    j->school[0] && body_by(body, rq, &j->by);
	json_decref(body);
	if (!ok) {
		job_free(j);
		return send_error(conn, MHD_HTTP_BAD_REQUEST,
		    "school must be a school's code; by a name of at most 64 "
		    "bytes");
	}
	probe_conf_size(&h->conf->probe, &j->size);
	return job_submit(h, j);
}

/* GET /api/v1/ports/history?school=&switch=&if_index=[&hours=][&points=] */
static enum MHD_Result
port_history(struct http_server *h, struct MHD_Connection *conn,
    struct request *rq, const char *peer)
{
	const char *school = arg(conn, "school"), *sw = arg(conn, "switch");
	long long if_index, hours, points;
	uint64_t now = time_now_ms();
	struct job *j;

	if (school == NULL || sw == NULL ||
	    !int_arg(conn, "if_index", 1, INT32_MAX, 0, &if_index) ||
	    if_index == 0)
		return send_error(conn, MHD_HTTP_BAD_REQUEST,
		    "school, switch and if_index are needed");
	if (!int_arg(conn, "hours", 1, 744, 24, &hours))
		return send_error(conn, MHD_HTTP_BAD_REQUEST,
		    "hours must be 1 to 744 (31 days)");
	if (!int_arg(conn, "points", 10, 1000, 96, &points))
		return send_error(conn, MHD_HTTP_BAD_REQUEST,
		    "points must be 10 to 1000");
	j = job_new(h, conn, rq, JOB_HISTORY, school, peer);
	j->sw = xstrdup(sw);
	j->hist.school = j->school;
	j->hist.sw = j->sw;
	j->hist.if_index = if_index;
	/* Whole-second buckets on the clock's multiples of the step, so that
	 * a chart polled again keeps its buckets (and its ETag). */
	j->hist.step = ((uint64_t)hours * 3600000 / (uint64_t)points + 999) /
	    1000 * 1000;
	/* to: the end of the bucket now is in */
	j->hist.to = (now / j->hist.step + 1) * j->hist.step;
	j->hist.from = now / j->hist.step + 1 >= (uint64_t)points
	    ? j->hist.to - (uint64_t)points * j->hist.step
	    : 0; /* a clock near 1970 */
	return job_submit(h, j);
}

/* Refuse a read-only token an admin action (logged). */
static enum MHD_Result
need_admin(struct MHD_Connection *conn, const struct request *rq,
    const char *method, const char *url, const char *peer)
{
	char safe[160];

	log_info("http %s: %s %s: 403 token %s is read-only", peer, method,
	    loggable(url, safe, sizeof(safe)), rq->name);
	return send_error(conn, MHD_HTTP_FORBIDDEN,
	    "this needs an admin token");
}

static enum MHD_Result
route(struct http_server *h, struct MHD_Connection *conn, const char *url,
    const char *method, struct request *rq, const char *peer)
{
	static const char *const listings[] = {"schools", "ports", "switches",
	    "agents", "probes", "alerts", "towns", "throughput", "recording"};
	const char *school = arg(conn, "school");
	/* HEAD is GET without the body (libmicrohttpd drops it). */
	bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
	    strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	bool del = strcmp(method, MHD_HTTP_METHOD_DELETE) == 0;
	bool admin = rq->role == TOKEN_ADMIN;
	const char *rest, *slash;
	struct job *j;
	long long n;

	if (strcmp(url, "/metrics") == 0 && get) {
		j = job_new(h, conn, rq, JOB_METRICS, NULL, peer);
		h->src->stats(h->src->arg, &j->stats);
		j->stats.http_requests = h->requests;
		j->stats.http_jobs = h->jobs;
		return job_submit(h, j);
	}
	if (strncmp(url, "/api/v1/", 8) != 0)
		return send_error(conn, MHD_HTTP_NOT_FOUND, "no such resource");
	rest = url + 8;
	if (strcmp(rest, "whoami") == 0 && get)
		return send_json_as(conn, MHD_HTTP_OK,
		    json_pack("{s:s, s:s}", "name", rq->name, "role",
			admin ? "admin" : "read"),
		    SEND_CONDITIONAL, NULL);
	/* POST /api/v1/alerts/ID/ack */
	if (strncmp(rest, "alerts/", 7) == 0) {
		slash = strchr(rest + 7, '/');
		if (slash == NULL || strcmp(slash, "/ack") != 0)
			return send_error(conn, MHD_HTTP_NOT_FOUND,
			    "no such resource");
		if (!post)
			return send_405(conn, "POST");
		if (!admin)
			return need_admin(conn, rq, method, url, peer);
		return ack_alert(h, conn,
		    path_id(rest + 7, (size_t)(slash - rest - 7)), rq, peer);
	}
	/* /api/v1/maintenance: GET list, POST add; DELETE .../ID */
	if (strcmp(rest, "maintenance") == 0) {
		if (get)
			return job_submit(h, job_new(h, conn, rq,
			    JOB_MAINT_LIST, school, peer));
		if (!post)
			return send_405(conn, "GET, HEAD, POST");
		if (!admin)
			return need_admin(conn, rq, method, url, peer);
		return add_window(h, conn, rq, peer);
	}
	if (strncmp(rest, "maintenance/", 12) == 0) {
		if (!del)
			return send_405(conn, "DELETE");
		if (!admin)
			return need_admin(conn, rq, method, url, peer);
		if ((n = path_id(rest + 12, strlen(rest + 12))) == 0)
			return send_error(conn, MHD_HTTP_NOT_FOUND,
			    "no such maintenance window");
		j = job_new(h, conn, rq, JOB_MAINT_DELETE, NULL, peer);
		j->id = n;
		return job_submit(h, j);
	}
	/* /api/v1/throughput: GET the tests (a listing), POST ask for one */
	if (strcmp(rest, "throughput") == 0 && !get) {
		if (!post)
			return send_405(conn, "GET, HEAD, POST");
		if (!admin)
			return need_admin(conn, rq, method, url, peer);
		return ask_throughput(h, conn, rq, peer);
	}
	if (!get)
		return send_405(conn, "GET, HEAD");
	/* GET /api/v1/schools/CODE: one school */
	if (strncmp(rest, "schools/", 8) == 0 && rest[8] != '\0')
		return job_submit(h, job_new(h, conn, rq, JOB_SCHOOL, rest + 8,
		    peer));
	if (strcmp(rest, "ports/history") == 0)
		return port_history(h, conn, rq, peer);
	/* GET /api/v1/report?month=&format=&lang=&level=&town=&school= */
	if (strcmp(rest, "report") == 0) {
		const char *bad = report_args_bad(conn), *v = arg(conn, "lang");

		if (bad)
			return send_error(conn, MHD_HTTP_BAD_REQUEST, bad);
		j = job_new(h, conn, rq, JOB_REPORT, school, peer);
		j->town = dup_or_null(arg(conn, "town"));
		j->month = dup_or_null(arg(conn, "month"));
		j->format = dup_or_null(arg(conn, "format"));
		j->level = dup_or_null(arg(conn, "level"));
		j->en = v && strcmp(v, "en") == 0;
		v = arg(conn, "rooms");
		j->brief = v && (strcmp(v, "0") == 0 || strcmp(v, "false") == 0);
		return job_submit(h, j);
	}
	for (size_t i = 0; i < nitems(listings); i++) {
		const char *v;

		if (strcmp(rest, listings[i]) != 0)
			continue;
		if (!int_arg(conn, "limit", 1, ALERTS_LIST_MAX, 0, &n))
			return send_error(conn, MHD_HTTP_BAD_REQUEST,
			    "limit must be 1 to 5000");
		j = job_new(h, conn, rq, JOB_LISTING, school, peer);
		j->listing = listings[i];
		j->limit = (int)n;
		v = arg(conn, "open");
		j->open_only = v && (strcmp(v, "1") == 0 ||
					strcmp(v, "true") == 0);
		v = arg(conn, "brief");
		j->brief = v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
		return job_submit(h, j);
	}
	return send_error(conn, MHD_HTTP_NOT_FOUND, "no such resource");
}

/* GET / and /NAME: the dashboard's files (no token: they hold no data). */
static enum MHD_Result
serve_file(struct http_server *h, struct MHD_Connection *conn,
    const char *url, const char *method)
{
	const char *name = url[1] ? url + 1 : "index.html";
	char *data, safe[80];
	size_t size;
	int err;

	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return send_405(conn, "GET, HEAD");
	if ((err = web_read(h->web_dir, name, &data, &size)) == ENOENT)
		return send_error(conn, MHD_HTTP_NOT_FOUND, "no such resource");
	if (err != 0) {
		log_warnx("http: dashboard file %s%s%s: %s", h->web_dir,
		    h->web_dir[0] ? "/" : "", loggable(name, safe, sizeof(safe)),
		    strerror(err));
		return send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "the file cannot be read; see the collector's log");
	}
	return send_page(conn, MHD_HTTP_OK, web_type(name), data, size,
	    SEND_CONDITIONAL | SEND_PAGE, NULL);
}

/* A dashboard file's address: "/" or "/NAME", not an API's. */
static bool
is_file(const char *url)
{
	return url[0] == '/' && strchr(url + 1, '/') == NULL &&
	    strcmp(url, "/metrics") != 0 && strcmp(url, "/healthz") != 0;
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
	struct MHD_Response *resp;
	char peer[64];

	(void)version;
	if (rq == NULL) { /* the headers are in */
		*con_cls = rq = xcalloc(1, sizeof(*rq));
		rq->counted = !h->closing;
		h->active += rq->counted;
		rq->get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
		    strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
		rq->open = strcmp(url, "/healthz") == 0 || is_file(url);
		if (rq->open || h->closing) {
			const char *length = MHD_lookup_connection_value(conn,
			    MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

			if (length && strtoull(length, NULL, 10) > HTTP_BODY_MAX)
				return send_error(conn, 413,
				    "request body too large");
			return MHD_YES; /* answered on the next call: an
					   answer this early closes the
					   connection */
		}
		h->requests++;
		peer_of(conn, peer, sizeof(peer));
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
	if (rq->done) { /* the worker's answer */
		struct shared *sh = rq->shared;
		char *buf = rq->answer;
		enum MHD_Result ret;

		rq->answer = NULL;
		rq->shared = NULL;
		if (sh) {
			ret = sh->status == MHD_HTTP_OK && sh->etag[0] &&
				etag_matches(conn, sh->etag)
			    ? send_not_modified(conn, sh->etag, 0)
			    : MHD_queue_response(conn, sh->status, sh->resp);
			shared_release(sh);
			return ret;
		}
		if (buf == NULL)
			return MHD_NO;
		if (rq->status == MHD_HTTP_OK && rq->get && rq->etag[0] &&
		    etag_matches(conn, rq->etag)) {
			free(buf);
			return send_not_modified(conn, rq->etag, 0);
		}
		if ((resp = make_response(rq->status, rq->type, buf,
			 rq->answer_len, 0, NULL,
			 rq->get ? rq->etag : "")) == NULL)
			return MHD_NO;
		ret = MHD_queue_response(conn, rq->status, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	if (rq->suspended)
		return MHD_YES;
	if (h->closing)
		return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "the collector is shutting down");
	if (strcmp(url, "/healthz") == 0)
		return send_buf(conn, MHD_HTTP_OK, "text/plain", xstrdup("ok\n"),
		    3);
	if (rq->open)
		return serve_file(h, conn, url, method);
	peer_of(conn, peer, sizeof(peer));
	return route(h, conn, url, method, rq, peer);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *con_cls;

	(void)conn;
	(void)toe;
	if (rq) {
		((struct http_server *)cls)->active -= rq->counted;
		free(rq->answer);
		shared_release(rq->shared);
	}
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

static void on_handle_closed(uv_handle_t *handle);

/* Closing: once every begun request is answered and no job runs (or the
 * grace time is over), close the handles; then the daemon stops. */
static void
on_drain(uv_timer_t *t)
{
	struct http_server *h = container_of(t, struct http_server, timer);

	MHD_run(h->mhd);
	if (!h->running && (h->active == 0 || time_mono_ms() >= h->drain_until)) {
		if (h->active > 0)
			log_warnx("http: %d requests still unanswered at "
				  "shutdown",
			    h->active);
		h->poll.data = h->timer.data = h;
		uv_close((uv_handle_t *)&h->poll, on_handle_closed);
		uv_close((uv_handle_t *)&h->timer, on_handle_closed);
		return;
	}
	http_arm(h);
}

/* Wake up when libmicrohttpd next has something to time out (closing:
 * every 20 ms to see whether all is answered). */
static void
http_arm(struct http_server *h)
{
	MHD_UNSIGNED_LONG_LONG ms = 0;

	if (MHD_get_timeout(h->mhd, &ms) != MHD_YES)
		ms = 1000;
	if (h->closing)
		uv_timer_start(&h->timer, on_drain, ms < 20 ? ms : 20, 0);
	else
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

/* A PEM file for HTTPS, read whole; NULL (logged) if it cannot be. */
static char *
read_pem(const char *path)
{
	char *buf;
	size_t len;
	int err = file_read(path, 1u << 20, true, &buf, &len);

	if (err != 0)
		log_warnx("http: %s: %s; the dashboard, API and /metrics are "
			  "off",
		    path, strerror(err));
	return err == 0 ? buf : NULL;
}

static void
http_free(struct http_server *h)
{
	sqlite3_close(h->db);
	sqlite3_close(h->work_db);
	free(h->tls_cert);
	free(h->tls_key);
	free(h);
}

struct http_server *
http_start(uv_loop_t *loop, const struct collector_conf *conf,
    const struct http_sources *src)
{
	bool tls = conf->http_cert[0] != '\0';
	const char *env = getenv("SCHOOLNET_WEB_DIR");
	struct http_server *h = xcalloc(1, sizeof(*h));
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICSERV}, *res = NULL;
	const union MHD_DaemonInfo *info;
	char port[8], where[300];
	int rc;

	h->loop = loop;
	h->conf = conf;
	h->src = src;
	snprintf(h->web_dir, sizeof(h->web_dir), "%s",
	    conf->web_dir[0] ? conf->web_dir : env ? env : "");
	hostport_format(&conf->http, where, sizeof(where));
	if (tls && ((h->tls_cert = read_pem(conf->http_cert)) == NULL ||
		       (h->tls_key = read_pem(conf->http_key)) == NULL)) {
		http_free(h);
		return NULL;
	}
	snprintf(port, sizeof(port), "%u", conf->http.port);
	if ((rc = getaddrinfo(conf->http.host, port, &hints, &res)) != 0) {
		log_warnx("http %s: %s; the dashboard, API and /metrics are "
			  "off",
		    where, gai_strerror(rc));
		http_free(h);
		return NULL;
	}
	if (db_open(conf->database, false, &h->db) != 0 ||
	    db_open(conf->database, false, &h->work_db) != 0) {
		freeaddrinfo(res);
		http_free(h);
		return NULL;
	}
	sqlite3_busy_timeout(h->work_db, WORK_BUSY_MS);
	/* The loop only reads (tokens), and reads never wait in WAL. */
	sqlite3_busy_timeout(h->db, 50);
	errno = 0;
	h->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
		MHD_ALLOW_SUSPEND_RESUME | (tls ? MHD_USE_TLS : 0) |
		/* [::] takes IPv4 clients too */
		(res->ai_family == AF_INET6 ? MHD_USE_DUAL_STACK : 0),
	    0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, log_mhd,
	    h, MHD_OPTION_SOCK_ADDR, res->ai_addr,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONN_MAX,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_PER_IP_MAX,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
	    /* last: without HTTPS the list ends here */
	    tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, h->tls_cert,
	    MHD_OPTION_HTTPS_MEM_KEY, h->tls_key, MHD_OPTION_END);
	freeaddrinfo(res);
	if (h->mhd == NULL ||
	    (info = MHD_get_daemon_info(h->mhd,
		 MHD_DAEMON_INFO_EPOLL_FD)) == NULL) {
		log_warnx("http %s: cannot start (%s); the dashboard, API and "
			  "/metrics are off",
		    where,
		    errno ? strerror(errno)
			  : tls ? "the certificate or key is refused: see above"
				: "see above");
		if (h->mhd)
			MHD_stop_daemon(h->mhd);
		http_free(h);
		return NULL;
	}
	uv_poll_init(loop, &h->poll, info->epoll_fd);
	uv_poll_start(&h->poll, UV_READABLE, on_ready);
	uv_timer_init(loop, &h->timer);
	h->open_handles = 2;
	http_arm(h);
	log_info("http: dashboard, API and /metrics on %s://%s/",
	    tls ? "https" : "http", where);
	if (h->web_dir[0])
		log_info("http: the dashboard's files are read from %s",
		    h->web_dir);
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
	http_free(h);
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
	MHD_socket fd;

	if (h == NULL) {
		if (cb)
			cb(arg);
		return;
	}
	h->closed = cb;
	h->closed_arg = arg;
	h->closing = true;
	h->drain_until = time_mono_ms() + HTTP_DRAIN_MS;
	/* No new connections; open ones get 503 for anything new. */
	if ((fd = MHD_quiesce_daemon(h->mhd)) != MHD_INVALID_SOCKET)
		close(fd);
	/* Jobs not started: their requests are answered 503. A running job
	 * finishes, and its answer is sent. */
	while (h->queue) {
		struct job *j = h->queue;

		h->queue = j->next;
		job_error(j, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "the collector is shutting down");
		job_deliver(j);
	}
	h->queue_tail = NULL;
	h->queued = 0;
	MHD_run(h->mhd);
	http_arm(h);
}
