/* collector.h: private interfaces of schoolnet-collector. */
#ifndef SCHOOLNET_COLLECTOR_H
#define SCHOOLNET_COLLECTOR_H

#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>
#include <uv.h>

#include "schoolnet/config.h"
#include "schoolnet/wire.h"

#define COLLECTOR_DEFAULT_PORT 7470

/* Targets: what a port must meet to count as compliant. */
struct policy_conf {
	long uplink_mbps;	/* 千兆进校 */
	long classroom_mbps;	/* 百兆进班 */
	long recording_mbps;	/* 录播室 port */
	double max_errors_per_min; /* in + out errors per minute of a port */
	double compliant_share;	/* % of known school time at target */
	char calendar[4096];	/* school-hours calendar; "" = built in */
};

struct alerts_conf {
	long raise_after;	/* bad polls in a row before an alert opens */
	long clear_after;	/* good polls in a row before it clears */
	long offline_after;	/* poll intervals without a report: agent offline */
	long flap_changes;	/* state changes within flap_window = flapping */
	double flap_window;	/* seconds */
	int lang;		/* 0 zh, 1 en: default for receivers */
	double retry_min, retry_max; /* outbox backoff, seconds */
	double give_up_after;	/* seconds; then a message is marked failed */
};

struct smtp_conf {
	char server[512];	/* smtp://host[:port] or smtps://host[:port] */
	int starttls;		/* 0 no, 1 try, 2 require */
	char username[256];
	char password[256];
	char from[256];
	double timeout;
	bool configured;	/* the file has an [smtp] section */
};

enum receiver_kind { RECEIVER_WEBHOOK, RECEIVER_EMAIL };
enum webhook_format { HOOK_GENERIC, HOOK_WECOM, HOOK_DINGTALK, HOOK_FEISHU };

/* One [webhook NAME] or [email NAME] section. */
struct receiver_conf {
	enum receiver_kind kind;
	char name[64];
	char url[1024];		/* webhook */
	int format;		/* enum webhook_format */
	char secret[256];	/* DingTalk / Feishu signing secret */
	char to[1024];		/* e-mail: comma-separated addresses */
	int lang;		/* 0 default ([alerts] lang), 1 zh, 2 en */
	char towns[1024];	/* comma-separated; empty = every town */
	char schools[1024];	/* comma-separated school codes; empty = all */
	double timeout;
};

/* [probe]: throughput tests, recording-host checks, latency limits. */
#define PROBE_DEFAULT_PORT 7472
struct school_budget {
	char code[64];
	long mb;
};
/* Named apart from the agent's struct probe_conf (test_config.c includes
 * both headers). */
struct collector_probe_conf {
	char listen[128];	/* host:port of the probe server, or "off" */
	char url[256];		/* base URL agents use; "": the collector's
				   address as the agent sees it */
	double throughput_every; /* s between scheduled tests; 0 = demand only */
	int throughput_in_school_hours; /* CFG_ENUM no|yes: 1 = any hour */
	long throughput_bytes_mb; /* per direction per test */
	double throughput_seconds; /* per direction */
	long throughput_streams;
	long throughput_parallel; /* tests running at once, district-wide */
	long throughput_budget_mb; /* per school per month; 0 = no limit */
	char school_budgets[1024]; /* as written: "CODE=MB, CODE=MB" */
	struct school_budget *budgets; /* parsed school_budgets (owned) */
	size_t n_budgets;
	double throughput_min_percent;
	double check_interval;	/* s between recording-host checks */
	double check_timeout;
	double latency_max_ms;	/* 0 = off */
	double loss_max_percent; /* 0 = off */
};
/* The monthly budget of school in MB (0 = no limit). */
long probe_budget_mb(const struct collector_probe_conf *pc, const char *school);
/* The test size [probe] asks for. */
struct probe_size;
void probe_conf_size(const struct collector_probe_conf *pc, struct probe_size *size);

struct collector_conf {
	char path[4096];
	struct hostport listen;
	char database[4096];
	struct hostport http;
	char http_cert[4096], http_key[4096]; /* HTTPS when both are set */
	char web_dir[4096];	/* the dashboard's files; empty: built in */
	long max_connections;
	long batch_max;		/* reports per transaction */
	long queue_max;		/* reports waiting for the writer */
	double hello_timeout;	/* seconds a new connection has for HELLO */
	double read_timeout;	/* seconds to finish a frame once begun */
	double idle_timeout;	/* seconds without any frame */
	long max_handshakes;	/* connections not yet past HELLO */
	long rate_limit;	/* reports per second per connection */
	int tls;		/* enum tls_mode: psk, cert, off */
	char tls_cert[4096], tls_key[4096], tls_ca[4096];
	struct policy_conf policy;
	struct alerts_conf alerts;
	struct smtp_conf smtp;
	struct receiver_conf *receivers;
	size_t n_receivers;
	struct collector_probe_conf probe;
};

/* collector_config.c */
extern const struct cfg_section_def collector_cfg_sections[];
int collector_conf_load(const char *path, struct collector_conf *conf,
    struct cfg_err *e) __attribute__((warn_unused_result));
void collector_conf_free(struct collector_conf *conf);
void collector_conf_print(FILE *f, const struct collector_conf *conf);
/* True when the receiver's towns/schools lists select this school. */
bool receiver_wants(const struct receiver_conf *r, const char *town,
    const char *school_code);

/*
 * An alert event as the notifier renders it (notify_format.c). Strings are
 * borrowed; empty when not applicable (an agent-offline alert has no port).
 */
struct alert_event {
	int64_t alert_id;
	const char *event;	/* "raise", "clear", "flapping", "test" */
	const char *cause;	/* port_down speed_low half_duplex errors
				   uplink_down uplink_speed_low agent_offline
				   switch_unreachable throughput_low
				   latency_high loss_high
				   recording_unavailable */
	const char *role;	/* classroom, recording, uplink, "" */
	const char *school_code, *school_name, *town;
	const char *room, *switch_name, *port;
	const char *agent;
	uint32_t speed_mbps;	/* what the port negotiated */
	uint32_t target_mbps;	/* what it must reach */
	double errors_per_min;
	uint64_t since_ms;	/* when the problem started */
	uint64_t at_ms;		/* when this event happened */
	const char *detail;	/* free text, e.g. the switch's SNMP error */
};

/* agents.c: what the loop thread knows of every agent, by name */
struct conn;
struct server;
struct agent_state {
	char name[WIRE_NAME_MAX + 1];
	char school[WIRE_NAME_MAX + 1];
	char software[WIRE_NAME_MAX + 1]; /* from its HELLO */
	uint64_t epoch;		/* of the current (or last) connection */
	uint64_t acked_seq;	/* highest committed seq of that epoch */
	struct conn *conn;	/* current connection, or NULL */
	struct agent_state *hnext;
	/* Owned by the writer thread (db.c) only. */
	int64_t w_id;
	bool w_loaded;
	uint64_t w_epoch, w_last_seq;
};
struct agent_table;
struct agent_table *agents_new(void);
void agents_free(struct agent_table *t);
/* Find name; with create, add it when missing (never NULL then). */
struct agent_state *agents_get(struct agent_table *t, const char *name,
    bool create);
size_t agents_count(const struct agent_table *t);

/* db.c: schema, migrations, and the writer (runs on a worker thread) */
struct ingest_item;
int db_open(const char *path, bool readonly, sqlite3 **db)
    __attribute__((warn_unused_result));
/* Load every agent's committed (epoch, last_seq) into t. */
int db_load_agents(sqlite3 *db, struct agent_table *t)
    __attribute__((warn_unused_result));
/* A school in the inventory (not removed): 1, 0 if not, -1 on error. */
int db_school_exists(sqlite3 *db, const char *code);

/* admin.c: ask for a throughput test of a school now (see there). */
struct probe_size {
	uint64_t max_bytes;	/* per direction, over all streams */
	uint32_t max_ms;	/* per direction */
	int streams;
};
enum { PROBE_DEMAND_NEW = 1, PROBE_DEMAND_OPEN = 2,
	PROBE_DEMAND_NO_SCHOOL = 3 };
int probe_demand(sqlite3 *db, const char *school, const char *by,
    const struct probe_size *size, int64_t *id);
/* A copy of a text column ("" for NULL); the caller frees it. */
char *db_col_dup(sqlite3_stmt *st, int col);
struct json_t;
/* A column of ms since the epoch as ISO 8601 UTC, or JSON null. */
struct json_t *db_col_time(sqlite3_stmt *st, int col);
struct db_writer;
struct db_writer *db_writer_new(sqlite3 *db);
void db_writer_free(struct db_writer *w);
int db_begin(struct db_writer *w) __attribute__((warn_unused_result));
int db_commit(struct db_writer *w) __attribute__((warn_unused_result));
void db_rollback(struct db_writer *w);
/* Store one report. Returns 1 stored, 0 duplicate (already stored), -1 on
 * error (the transaction must be rolled back). */
int db_store_report(struct db_writer *w, struct agent_state *ag,
    const struct ingest_item *it, uint64_t now, int64_t *switch_id)
    __attribute__((warn_unused_result));
sqlite3 *db_writer_db(struct db_writer *w);
const char *db_errmsg(struct db_writer *w);
int db_store_status(struct db_writer *w, struct agent_state *ag,
    const struct ingest_item *it, uint64_t now)
    __attribute__((warn_unused_result));
/* Store one probe round, de-duplicated with the agent's reports (one
 * sequence): 1 stored, 0 duplicate, -1 error (roll back). */
int db_store_probe(struct db_writer *w, struct agent_state *ag,
    const struct ingest_item *it, uint64_t now)
    __attribute__((warn_unused_result));

struct recording_obs; /* policy.c section */
/* Store a HOST check in recording_state (the room must be the agent's
 * school's current recording row; an unknown one is ACKed, logged once
 * and not stored). 1 new (r filled), 0 duplicate, -1 error (roll back). */
int db_store_host(struct db_writer *w, struct agent_state *ag,
    const struct ingest_item *it, uint64_t now, const struct policy_conf *pc,
    struct recording_obs *r) __attribute__((warn_unused_result));
/* A message in the agent's sequence stored by store(arg, db) instead of
 * the usual tables (between the de-duplication and the seq update), or
 * only sequenced (ACKed, nothing stored) when store is NULL: 1 stored, 0
 * duplicate, -1 error (roll back). store returns 0 or -1. */
int db_store_sequenced(struct db_writer *w, struct agent_state *ag,
    const struct ingest_item *it, uint64_t now,
    int (*store)(void *arg, sqlite3 *db), void *arg)
    __attribute__((warn_unused_result));

/* ingest.c: the writer; reports are ACKed after their COMMIT */
struct ingest;
struct calendar;
enum ingest_kind {
	ITEM_REPORT, ITEM_TICK, ITEM_DELIVERY, ITEM_STATUS, ITEM_PROBE,
	ITEM_SCHED		/* the throughput scheduler's turn */
};
struct ingest_item {
	enum ingest_kind kind;
	/* ITEM_REPORT and ITEM_PROBE: sequenced, acknowledged after COMMIT */
	uint64_t epoch, seq;	/* copies of the message's */
	struct wire_report rep;	/* ITEM_REPORT */
	struct wire_probe probe; /* ITEM_PROBE */
	struct agent_state *ag;
	struct conn *conn;	/* holds a reference (conn_ref) */
	char peer[64];
	/* Copies: the loop may rewrite ag's on a reconnect meanwhile. */
	char school[WIRE_NAME_MAX + 1];
	char software[WIRE_NAME_MAX + 1];
	/* ITEM_DELIVERY */
	int64_t msg_id;
	bool ok;
	char error[256];
	/* ITEM_STATUS (uses ag) */
	struct wire_status status;
};
struct ingest *ingest_new(uv_loop_t *loop, sqlite3 *db,
    const struct collector_conf *conf, const struct calendar *cal);
void ingest_set_server(struct ingest *in, struct server *s);
/* SIGHUP: use conf and cal from the next batch on; applied(arg) runs when
 * the old ones are no longer used. */
void ingest_reload(struct ingest *in, const struct collector_conf *conf,
    const struct calendar *cal, void (*applied)(void *), void *arg);
struct outbox;
void ingest_set_outbox(struct ingest *in, struct outbox *o);
/* Queue a decoded report or probe round (kind, epoch and seq set), or a
 * status; takes ownership of item (and item->rep). */
void ingest_push(struct ingest *in, struct ingest_item *item);
/* Record the outcome of a notification attempt. */
void ingest_delivery(struct ingest *in, int64_t msg_id, bool ok,
    const char *error);
size_t ingest_queued(const struct ingest *in);
uint64_t ingest_duplicates_total(const struct ingest *in);
/* Stop after the transaction in flight; cb runs once nothing is pending. */
void ingest_close(struct ingest *in, void (*cb)(void *), void *arg);
uint64_t ingest_stored_total(const struct ingest *in);
/* Probe rounds stored since the start. */
uint64_t ingest_probes_total(const struct ingest *in);
struct probe_sched;
void ingest_set_sched(struct ingest *in, struct probe_sched *s);
/* Queue the scheduler's turn (probe_sched_work on the writer). */
void ingest_push_sched(struct ingest *in);

/* probe_sched.c: throughput tests (schedule, budget, start, time out,
 * results) and the agents' CHECKS. The loop side queues the writer's
 * turn every second; what the writer decides is sent after its COMMIT. */
struct alert_engine;
struct probe_server;
struct probe_sched *probe_sched_new(uv_loop_t *loop,
    const struct collector_conf *conf, const struct calendar *cal,
    struct ingest *in, struct server *server, struct probe_server *ps);
/* Between writer batches (a reload). */
void probe_sched_set_conf(struct probe_sched *s,
    const struct collector_conf *conf, const struct calendar *cal);
/* Writer thread, in its transaction: 0 or -1 (roll back). */
int probe_sched_work(struct probe_sched *s, sqlite3 *db, uint64_t now)
    __attribute__((warn_unused_result));
/* Writer thread: a THROUGHPUT PROBE, in the agent's sequence: 1 stored
 * (or ignored: unknown or finished test), 0 duplicate, -1 error. */
int probe_sched_result(struct probe_sched *s, struct db_writer *w,
    struct alert_engine *ae, const struct ingest_item *it, uint64_t now)
    __attribute__((warn_unused_result));
/* Loop thread, after the batch with the scheduler's turn: ok = committed
 * (send what it decided), else it runs again. */
void probe_sched_done(struct probe_sched *s, bool ok);
/* Stop queuing turns (shutdown); then close once the writer is gone. */
void probe_sched_stop(struct probe_sched *s);
void probe_sched_close(struct probe_sched *s, void (*cb)(void *), void *arg);

/* server.c: the agents' TCP endpoint */
struct server;
struct server *server_new(uv_loop_t *loop, const struct collector_conf *conf,
    struct agent_table *agents, struct ingest *in);
int server_start(struct server *s) __attribute__((warn_unused_result));
void server_set_conf(struct server *s, const struct collector_conf *conf);
void server_close(struct server *s);
/* Agent connections open now, and how many of them before their HELLO. */
size_t server_connections(const struct server *s, size_t *handshaking);
void conn_ref(struct conn *c);
void conn_unref(struct conn *c);
/* After a commit: tell the agent everything up to seq is stored. */
void conn_send_ack(struct conn *c, uint64_t epoch, uint64_t seq);
/* Backpressure from the writer queue. */
void server_pause(struct server *s, bool paused);
/* Send an encoded frame to a connected agent; -1 when it is going. */
int conn_send_frame(struct conn *c, const struct buf *frame);
/* The agents connected now that speak protocol 2 (one each: its current
 * connection). Each conn holds a reference: conn_unref them, free(*out). */
struct probe_peer {
	char agent[WIRE_NAME_MAX + 1];
	char school[WIRE_NAME_MAX + 1];
	struct conn *conn;
	uint64_t conn_id;	/* tells a reconnection from the same one */
};
size_t server_probe_peers(struct server *s, struct probe_peer **out);

/* probe_server.c: GET /down?bytes=N and POST /up for throughput tests,
 * on libmicrohttpd's own thread. Every request needs a test's token. */
struct probe_server;
/* Listen on host:port (port 0: any); NULL (logged) when it cannot. */
struct probe_server *probe_server_start(const char *host, uint16_t port);
uint16_t probe_server_port(const struct probe_server *ps);
void probe_server_stop(struct probe_server *ps); /* NULL is fine */
/* Any thread: let token move up to allowance bytes (sent + received)
 * for test_id until expires_ms (replaces the test's earlier token). */
void probe_server_allow(struct probe_server *ps, const char *token,
    int64_t test_id, const char *school, uint64_t allowance,
    uint64_t expires_ms);
/* Any thread: end test_id's token; the bytes it moved (0 if unknown). */
uint64_t probe_server_retire(struct probe_server *ps, int64_t test_id);

/* notify.c: one delivery attempt of one message to one receiver, over
 * libcurl's multi interface driven by the collector's libuv loop. */
struct notifier;
struct notify_result {
	bool ok;		/* the receiver accepted it */
	long http_status;	/* webhooks: HTTP status; e-mail: 0 */
	char error[256];	/* why not, for the log and the outbox */
};
typedef void (*notify_cb)(void *arg, int64_t msg_id,
    const struct notify_result *res);
/* utc_offset_min: local time for the "since" times in messages. */
struct notifier *notifier_new(uv_loop_t *loop, const struct collector_conf *conf,
    int utc_offset_min, notify_cb cb, void *arg);
/* Start one attempt; cb runs once for it on the loop thread (never from
 * inside this call). ev and r are copied or rendered before returning. */
void notifier_send(struct notifier *n, int64_t msg_id,
    const struct receiver_conf *r, const struct alert_event *ev);
size_t notifier_inflight(const struct notifier *n);
/* Abort what is in flight (no callbacks) and free n once libuv is done. */
void notifier_close(struct notifier *n, void (*cb)(void *), void *arg);

/* notify_format.c: the words of a message */
/* Title and text of ev in lang (0 zh, 1 en); both malloc'd UTF-8. */
void notify_render(const struct alert_event *ev, int lang,
    int utc_offset_min, char **title, char **text);
/* The HTTP request body for a webhook format (malloc'd JSON). */
char *notify_webhook_body(int format, const struct alert_event *ev,
    const char *title, const char *text);

/* inventory.c: `import FILE.csv` and `export` */
/* Check every row and apply the file in one transaction: nothing changes
 * unless every row is good. dry_run: check and report only. */
int cmd_import(const struct collector_conf *conf, const char *csv_path,
    bool dry_run);
/* Write the current inventory as the same CSV (to path, or stdout). */
int cmd_export(const struct collector_conf *conf, const char *out_path);
/* One checked row of an inventory CSV; strings belong to the inventory. */
struct inventory_row {
	int line;		/* where the row is in the file */
	char *town, *school_code, *school_name, *school_type;
	bool town_seat;
	const char *role;	/* "uplink", "classroom" or "recording" */
	char *room;		/* an uplink's default: "出口" */
	char *switch_name, *port;
	char *probe;		/* URL of a recording row, or "" */
};
struct inventory {
	struct inventory_row *rows;	/* in file order */
	size_t n_rows;
	size_t n_schools;
};
/* Read and check path (see DESIGN.md, "Inventory"). Returns 0 and *out (free
 * it with inventory_free), or -1 with one "FILE:LINE: reason" per problem
 * in *e (at most 50 that fit; a last line counts the rest), *out NULL. */
int inventory_check_file(const char *path, struct inventory **out,
    struct cfg_err *e) __attribute__((warn_unused_result));
void inventory_free(struct inventory *inv);

/* notify_test.c: `schoolnet-collector notify-test [RECEIVER]` */
int cmd_notify_test(const struct collector_conf *conf, const char *only);

/* policy.c: does a port meet its target? (pure functions) */
enum port_role { ROLE_NONE, ROLE_UPLINK, ROLE_CLASSROOM, ROLE_RECORDING };
enum verdict { VERDICT_OK, VERDICT_BELOW, VERDICT_UNKNOWN };
/* Reasons a port is below target; one alert cause each. */
#define REASON_DOWN 0x01	/* not up (admin or oper) */
#define REASON_SPEED 0x02	/* negotiated below the target */
#define REASON_HALF 0x04	/* half duplex */
#define REASON_ERRORS 0x08	/* errors per minute above the limit */
struct port_obs {
	bool fresh;		/* seen within 2.5 poll intervals */
	int admin, oper;	/* ifAdminStatus / ifOperStatus */
	uint32_t speed_mbps;
	int duplex;		/* enum wire_duplex */
	bool have_errors;	/* the last poll had counter deltas */
	double errors_per_min;
};
struct port_verdict {
	enum verdict verdict;
	unsigned reasons;	/* REASON_* when below */
	uint32_t target_mbps;
};
enum port_role policy_role(const char *name);
const char *policy_role_name(enum port_role role);
uint32_t policy_target(const struct policy_conf *p, enum port_role role);
void policy_eval_port(const struct policy_conf *p, enum port_role role,
    const struct port_obs *obs, struct port_verdict *out);
/* Alert cause for one reason bit of a port in this role. */
const char *policy_cause(enum port_role role, unsigned reason);
const char *verdict_name(enum verdict v);
/* Inventory rows (of one role, say) counted by verdict. */
struct verdict_tally {
	int total, ok, below, unknown;
};
void verdict_tally_add(struct verdict_tally *t, enum verdict v);
/* "port down, 10 Mbps (target 100), half duplex" style summary. */
void policy_reasons_text(const struct port_verdict *v, const struct port_obs *o,
    char *buf, size_t size);
/* Recording rooms: available when the host answered and the port is not
 * below its target (a port with no fresh data counts as not below). */
bool policy_recording_available(bool host_ok, enum verdict port);
/* A room's open interval in recording_state. */
struct recording_span {
	bool host_ok, available;
	uint64_t t_end;
};
/* Does a check at t_ms continue last (NULL: none)? Only with the same
 * host_ok and available, not older, and within FRESH_INTERVALS (2.5) of
 * interval_ms after last->t_end; else the check starts a new interval. */
bool policy_recording_extends(const struct recording_span *last, bool host_ok,
    bool available, uint64_t t_ms, uint32_t interval_ms);
/* A throughput test's download against min_percent % of what the uplink
 * should carry, min(negotiated, target) (the target alone when the speed
 * is unknown: 0). *floor_mbps gets the limit. VERDICT_UNKNOWN when there
 * is nothing to judge against (min_percent 0, no target and no speed). */
enum verdict policy_throughput(double down_mbps, uint32_t uplink_mbps,
    uint32_t target_mbps, double min_percent, double *floor_mbps);
/* A recording room as one HOST check found it (db_store_host). */
struct recording_obs {
	int64_t inventory_id;	/* 0: no such room (nothing stored) */
	char room[256], switch_name[256], port[256];
	int64_t port_id;	/* 0: the port is not mapped */
	struct port_obs obs;	/* the port's latest state */
	struct port_verdict verdict; /* VERDICT_UNKNOWN: no fresh data */
	bool host_ok, available;
	bool current;		/* stored: not older than the room's latest */
};

/* alerts.c: the alert engine, on the writer thread inside its
 * transactions (so an alert commits with the report that caused it). */
struct alert_engine;
struct calendar;
struct outbox_msg {
	int64_t id;
	char receiver[64];
	char *payload;		/* alert_event as JSON */
};
struct alert_engine *alerts_new(sqlite3 *db, const struct collector_conf *conf,
    const struct calendar *cal, uint64_t started_ms);
void alerts_free(struct alert_engine *ae);
void alerts_set_conf(struct alert_engine *ae, const struct collector_conf *conf,
    const struct calendar *cal);
/* Forget in-memory state after a rolled-back transaction. */
void alerts_rollback(struct alert_engine *ae);
/* A report was stored: check its switch and the inventory's ports on it. */
int alerts_on_report(struct alert_engine *ae, const struct agent_state *ag,
    const char *school, const struct wire_report *rep, int64_t switch_id)
    __attribute__((warn_unused_result));
/* Link probes (issue 4). A latency round: latency_high, loss_high (school
 * hours). A HOST check as stored: recording_unavailable (school hours). A
 * throughput result against the uplink's negotiated speed (0: unknown):
 * throughput_low, raised by the first low result and cleared by the first
 * good one; a test that measured no download changes nothing. */
int alerts_on_latency(struct alert_engine *ae, const struct agent_state *ag,
    const char *school, const struct wire_probe *p)
    __attribute__((warn_unused_result));
int alerts_on_recording(struct alert_engine *ae, const struct agent_state *ag,
    const char *school, const struct wire_probe *p,
    const struct recording_obs *r) __attribute__((warn_unused_result));
int alerts_on_throughput(struct alert_engine *ae, const struct agent_state *ag,
    const char *school, const struct wire_probe *p, uint32_t uplink_mbps)
    __attribute__((warn_unused_result));
/* Time-driven checks: agents gone quiet, flapping alerts settling. */
int alerts_tick(struct alert_engine *ae, uint64_t now)
    __attribute__((warn_unused_result));
int alerts_delivery_result(struct alert_engine *ae, int64_t msg_id, bool ok,
    const char *error, uint64_t now) __attribute__((warn_unused_result));
/* Messages due for (another) delivery attempt; free with outbox_msgs_free. */
int alerts_due(struct alert_engine *ae, uint64_t now, struct outbox_msg **out,
    size_t *n) __attribute__((warn_unused_result));
void outbox_msgs_free(struct outbox_msg *msgs, size_t n);
struct json_t;
struct json_t *alert_event_to_json(const struct alert_event *ev);
/* Fill ev from JSON; strings point into o, which must outlive ev. */
int alert_event_from_json(struct json_t *o, struct alert_event *ev);

/* outbox.c: hands due messages to the notifier, results to the writer */
struct outbox *outbox_new(uv_loop_t *loop, const struct collector_conf *conf,
    struct ingest *in, int utc_offset_min);
/* Start delivering msgs not already claimed; takes ownership. */
void outbox_dispatch(struct outbox *o, struct outbox_msg *msgs, size_t n);
/* The writer has committed the outcome of msg id: release its claim. */
void outbox_recorded(struct outbox *o, int64_t id);
void outbox_close(struct outbox *o, void (*cb)(void *), void *arg);
void outbox_set_conf(struct outbox *o, const struct collector_conf *conf);

/* Data older than this many poll intervals is not current. */
#define FRESH_INTERVALS 2.5
/* query.c: the policy inputs from a row whose columns start at col:
 * admin, oper, speed, duplex, last_seen, in_errors, out_errors,
 * poll_interval. */
void port_obs_from_row(sqlite3_stmt *st, int col, uint64_t now,
    struct port_obs *o);
/* query.c: read-only listings, as text or JSON, written to out (the
 * commands' stdout, or an HTTP response). Return 0, or 1 on a database
 * error (said on stderr). */
int query_ports(sqlite3 *db, const struct policy_conf *pc, const char *school,
    bool json, FILE *out);
int query_switches(sqlite3 *db, const char *school, bool json, FILE *out);
int query_schools(sqlite3 *db, const struct policy_conf *pc, const char *school,
    bool json, bool rooms, FILE *out);
/* Per town and for the district: schools by state, schools below 1 Gb/s,
 * classrooms and recording rooms by state, 录播室 gaps, open alerts. */
int query_towns(sqlite3 *db, const struct policy_conf *pc, bool json,
    FILE *out);
#define ALERTS_LIST_MAX 5000
/* Newest first; at most limit (ALERTS_LIST_MAX when 0 or more). */
int query_alerts(sqlite3 *db, const char *school, bool open_only, int limit,
    bool json, FILE *out);
/* One port's state intervals and bucketed rates over [from, to). */
struct history_args {
	const char *school, *sw;
	int64_t if_index;
	uint64_t from, to;	/* ms */
	uint64_t step;		/* ms a rate bucket, from `from` on */
};
/* 0, 1 when there is no such port, -1 on a database error. */
int query_port_history(sqlite3 *db, const struct history_args *a, FILE *out);
int query_agents(sqlite3 *db, const char *school, bool json, FILE *out);
/* The latest latency round of every (school, agent, probe label). */
int query_probes(sqlite3 *db, const char *school, bool json, FILE *out);
/* Throughput tests, newest first: at most limit (the default when 0). */
#define THROUGHPUT_LIST_DEFAULT 100
#define THROUGHPUT_LIST_MAX 5000
int query_throughput(sqlite3 *db, const char *school, int limit, bool json,
    FILE *out);
/* Every current recording room and its latest check; with cal (may be
 * NULL) the share available in school hours over the last 7 days. */
struct calendar;
int query_recording(sqlite3 *db, const struct calendar *cal,
    const char *school, bool json, FILE *out);
/* {"generated_at": now, key: rows} to out (rows is taken). */
int print_listing(FILE *out, const char *key, struct json_t *rows);

/* rollup.c: daily roll-ups of every port's school-hours time (port_day) */
#define DAY_MS INT64_C(86400000)
#define ROLLUP_LATE_MS (30 * 60 * 1000) /* later reports mark their hour dirty */
#define ROLLUP_GRACE_MS (60 * 60 * 1000) /* a day is rolled up this long after */
struct calendar;
/* School-hours time of one port on one local day in one condition. */
struct day_row {
	uint64_t day;		/* local midnight */
	int64_t port_id;
	int up;			/* admin and oper up; else speed, duplex 0 */
	uint32_t speed_mbps;
	int duplex;
	uint64_t ms;		/* school-hours ms in this condition */
	uint64_t err_ms;	/* of which in polls with too many errors */
};
typedef int (*day_row_fn)(void *arg, const struct day_row *r);
/* The local midnight starting the day of t_ms. */
uint64_t rollup_day_start(const struct calendar *cal, uint64_t t_ms);
/* What stored roll-ups depend on: the calendar's contents, the error
 * limit. -1 when the calendar file cannot be read. */
int rollup_fingerprint(const struct policy_conf *pc, char *buf, size_t size);
/* From the raw intervals: the rows of every port the inventory names in
 * [t0, t1), port by port, days ascending (t1 may fall within a day).
 * Stops with -1 when *cancel (if not NULL) becomes true. */
int rollup_compute(sqlite3 *db, const struct calendar *cal,
    double max_errors_per_min, uint64_t t0, uint64_t t1, bool progress,
    const atomic_bool *cancel, day_row_fn fn, void *arg)
    __attribute__((warn_unused_result));
/* Store the roll-ups of every finished day in [from, to) that is missing,
 * back-filled since, or made under another fingerprint. Returns the number
 * of days computed, or -1. */
int rollup_update(sqlite3 *db, const struct calendar *cal,
    const struct policy_conf *pc, uint64_t from, uint64_t to, uint64_t now,
    bool progress, const atomic_bool *cancel)
    __attribute__((warn_unused_result));
/* In `serve`: every 15 minutes, on a worker thread with its own database
 * connection, roll up the last 62 days' finished days that need it. */
struct rollup_job;
struct rollup_job *rollup_job_start(uv_loop_t *loop,
    const struct collector_conf *conf);
void rollup_job_set_conf(struct rollup_job *j, const struct collector_conf *conf);
void rollup_job_close(struct rollup_job *j, void (*cb)(void *), void *arg);

/* report.c: `report`, the monthly compliance report */
struct report_args {
	const char *month;	/* YYYY-MM; NULL: this month */
	const char *format;	/* html, csv, json */
	const char *level;	/* csv: classroom, school, town */
	const char *town, *school, *output;
	FILE *out;		/* if set, write here (not closed) */
	bool en;		/* English instead of Chinese */
	bool from_raw;		/* skip the roll-ups (checks them) */
	bool no_rooms;		/* JSON: leave out the rooms (summaries only) */
	bool progress;
	uint64_t now;		/* 0: the clock (tests pin it) */
};
int cmd_report(sqlite3 *db, const struct calendar *cal,
    const struct collector_conf *conf, const struct report_args *a);

/* tokens.c: tokens for the HTTP API */
enum token_role { TOKEN_NONE, TOKEN_READ, TOKEN_ADMIN };
/* The role of a presented token ("snt_" + 40 lowercase hex); TOKEN_NONE
 * when malformed, unknown or revoked. name (if not NULL) gets the token's
 * name. Looks the token up by its SHA-256 (no secret is stored). */
enum token_role token_lookup(sqlite3 *db, const char *token, char *name,
    size_t size);
/* The same without writing: touch gets the token's hash when its last_used
 * is due an update (over a minute old), else "". For the HTTP loop, which
 * must not wait for the database's write lock: token_touch later, from the
 * worker. */
#define TOKEN_HASH_SIZE 65 /* hex SHA-256 and its NUL */
enum token_role token_check(sqlite3 *db, const char *token, char *name,
    size_t size, char touch[TOKEN_HASH_SIZE]);
void token_touch(sqlite3 *db, const char *hash);
/* tokens add NAME [--role read|admin] | tokens list | tokens revoke NAME */
int cmd_tokens(sqlite3 *db, int argc, char **argv, const char *role,
    bool json);

/* metrics.c: Prometheus text exposition (format 0.0.4) */
struct metrics_stats {
	uint64_t start_ms;	/* collector start, ms since epoch */
	uint64_t connections;	/* agent connections open now */
	uint64_t handshakes;	/* of which not yet past HELLO */
	uint64_t reports_stored; /* since start (counter) */
	uint64_t duplicates;	/* since start (counter) */
	uint64_t queue_depth;	/* reports waiting for the writer */
	uint64_t queue_max;
	uint64_t http_requests;	/* since start (counter) */
	uint64_t http_jobs;	/* worker computations since start */
};
/* Write every metric to out; -1 on a database error, else 0. */
int metrics_write(FILE *out, sqlite3 *db, const struct policy_conf *pc,
    const struct metrics_stats *st);

/* http.c: the JSON API and /metrics (libmicrohttpd on the loop) */
struct http_sources {
	/* The collector's own figures for /metrics (all but http_requests). */
	void (*stats)(void *arg, struct metrics_stats *st);
	void *arg;
};
struct http_server;
/* web.c: the dashboard's files, built in or from a folder */
const char *web_type(const char *name);
bool web_name_ok(const char *name);
int web_read(const char *dir, const char *name, char **data, size_t *size);
int file_read(const char *path, size_t max, bool follow, char **data,
    size_t *size);
/* Listen on conf->http; NULL (logged) when it cannot: the collector goes
 * on without its HTTP interface. */
struct http_server *http_start(uv_loop_t *loop,
    const struct collector_conf *conf, const struct http_sources *src);
void http_set_conf(struct http_server *h, const struct collector_conf *conf);
void http_close(struct http_server *h, void (*cb)(void *), void *arg);

/* keys.c: per-agent TLS keys */
struct keystore;
struct keystore *keystore_open(const char *path);
void keystore_close(struct keystore *ks);
/* The key of identity (returns its length, 0 when refused, with why) and
 * the school it was enrolled for. */
size_t keystore_lookup(struct keystore *ks, const char *identity,
    uint8_t *key, char *school, size_t school_size, const char **why);
int cmd_enroll(sqlite3 *db, const char *school, const char *duration);
int cmd_keys(sqlite3 *db, int argc, char **argv, const char *school, bool json);

/* admin.c: commands that change alerts and maintenance windows */
enum { ACK_DONE, ACK_ALREADY, ACK_NO_ALERT };
/* Acknowledge alert id for `by`: ACK_DONE, ACK_ALREADY (prev_by, if not
 * NULL, gets who did), ACK_NO_ALERT, or -1 on a database error. */
int alerts_ack(sqlite3 *db, long long id, const char *by, char *prev_by,
    size_t size);
int cmd_alerts_ack(sqlite3 *db, long long id, const char *by);
struct maint_args {
	const char *school, *sw, *from, *to, *duration, *reason, *by;
	bool json;
};
/* A window from a (school required; from, to or duration; switch, reason,
 * by): 0 with *added its JSON and span its [start, end) in ms, 1 with why
 * (the caller's mistake: bad time, no such school), -1 (database). */
int maintenance_add(sqlite3 *db, const struct calendar *cal,
    const struct maint_args *a, struct json_t **added, uint64_t span[2], char *why,
    size_t size);
/* Windows not yet ended (of one school, or all), as text or JSON. */
int maintenance_list(sqlite3 *db, const struct calendar *cal,
    const char *school, bool json, FILE *out);
/* 0 deleted, 1 no such window, -1 database error. */
int maintenance_delete(sqlite3 *db, long long id);
/* "now", "YYYY-MM-DD HH:MM[:SS]" or with a T, in the calendar's local
 * time, or the same ending in Z for UTC: 0 and *ms, or -1. */
int time_parse_local(const struct calendar *cal, const char *s, uint64_t *ms);
/* maintenance add | list | delete ID */
int cmd_maintenance(sqlite3 *db, const struct calendar *cal, int argc,
    char **argv, const struct maint_args *a);

#endif
