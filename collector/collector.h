/* collector.h: private interfaces of schoolnet-collector. */
#ifndef SCHOOLNET_COLLECTOR_H
#define SCHOOLNET_COLLECTOR_H

#include <stdbool.h>
#include <stdint.h>

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

struct collector_conf {
	char path[4096];
	struct hostport listen;
	char database[4096];
	struct hostport http;
	long max_connections;
	long batch_max;		/* reports per transaction */
	long queue_max;		/* reports waiting for the writer */
	double hello_timeout;	/* seconds a new connection has for HELLO */
	struct policy_conf policy;
	struct alerts_conf alerts;
	struct smtp_conf smtp;
	struct receiver_conf *receivers;
	size_t n_receivers;
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
				   switch_unreachable */
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
#define DB_SCHEMA_VERSION 1
int db_open(const char *path, bool readonly, sqlite3 **db)
    __attribute__((warn_unused_result));
/* Load every agent's committed (epoch, last_seq) into t. */
int db_load_agents(sqlite3 *db, struct agent_table *t)
    __attribute__((warn_unused_result));
struct db_writer;
struct db_writer *db_writer_new(sqlite3 *db);
void db_writer_free(struct db_writer *w);
int db_begin(struct db_writer *w) __attribute__((warn_unused_result));
int db_commit(struct db_writer *w) __attribute__((warn_unused_result));
void db_rollback(struct db_writer *w);
/* Store one report. Returns 1 stored, 0 duplicate (already stored), -1 on
 * error (the transaction must be rolled back). */
int db_store_report(struct db_writer *w, struct agent_state *ag,
    const struct wire_report *rep, const char *peer)
    __attribute__((warn_unused_result));
const char *db_errmsg(struct db_writer *w);

/* ingest.c: reports wait here for the writer; ACKs follow each commit */
struct ingest;
struct ingest_item {
	struct wire_report rep;
	struct agent_state *ag;
	struct conn *conn;	/* holds a reference (conn_ref) */
	char peer[64];
};
struct ingest *ingest_new(uv_loop_t *loop, sqlite3 *db,
    const struct collector_conf *conf);
void ingest_set_server(struct ingest *in, struct server *s);
/* Queue a decoded report; takes ownership of item (and item->rep). */
void ingest_push(struct ingest *in, struct ingest_item *item);
size_t ingest_queued(const struct ingest *in);
/* Stop after the transaction in flight; cb runs once nothing is pending. */
void ingest_close(struct ingest *in, void (*cb)(void *), void *arg);
uint64_t ingest_stored_total(const struct ingest *in);

/* server.c: the agents' TCP endpoint */
struct server;
struct server *server_new(uv_loop_t *loop, const struct collector_conf *conf,
    struct agent_table *agents, struct ingest *in);
int server_start(struct server *s) __attribute__((warn_unused_result));
void server_close(struct server *s);
void conn_ref(struct conn *c);
void conn_unref(struct conn *c);
/* After a commit: tell the agent everything up to seq is stored. */
void conn_send_ack(struct conn *c, uint64_t epoch, uint64_t seq);
/* Backpressure from the writer queue. */
void server_pause(struct server *s, bool paused);

/* query.c: read-only subcommands printing JSON */
int query_ports(sqlite3 *db, const char *school, bool json);
int query_switches(sqlite3 *db, const char *school, bool json);

#endif
