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

struct collector_conf {
	char path[4096];
	struct hostport listen;
	char database[4096];
	struct hostport http;
	long max_connections;
	long batch_max;		/* reports per transaction */
	long queue_max;		/* reports waiting for the writer */
	double hello_timeout;	/* seconds a new connection has for HELLO */
};

/* collector_config.c */
extern const struct cfg_section_def collector_cfg_sections[];
int collector_conf_load(const char *path, struct collector_conf *conf,
    struct cfg_err *e) __attribute__((warn_unused_result));
void collector_conf_print(FILE *f, const struct collector_conf *conf);

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
