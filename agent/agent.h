/* agent.h: private interfaces of schoolnet-agent. */
#ifndef SCHOOLNET_AGENT_H
#define SCHOOLNET_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "probe.h"
#include "schoolnet/config.h"
#include "schoolnet/wire.h"

#define AGENT_DEFAULT_PORT 7470
#define AGENT_PROBE_TARGETS_MAX 16	/* [probe] targets */

enum snmp_version { SNMP_V2C = 0, SNMP_V3 = 1 };

struct switch_conf {
	char name[WIRE_NAME_MAX + 1];
	struct hostport address;
	int version;			/* enum snmp_version */
	char community[128];
	char user[64];
	int auth_protocol;		/* index into "MD5|SHA|SHA-224|..." */
	char auth_key[128];
	int priv_protocol;		/* index into "DES|AES|AES-192|AES-256" */
	char priv_key[128];
	long max_inflight;		/* concurrent requests to this switch */
	long max_repetitions;
};

/* [probe]: TCP-connect latency rounds (probe_tcp.c) to a few targets. */
struct probe_conf {
	char targets[1024];	/* canonical: "collector, LABEL=HOST:PORT" or
				   "none" */
	double interval;	/* seconds: one round per target this often */
	long count;		/* connects a round */
	double spacing;		/* seconds between a round's connects */
	double timeout;		/* seconds a connect may take */
};

struct agent_conf {
	char path[4096];
	char school[WIRE_NAME_MAX + 1];
	char name[WIRE_NAME_MAX + 1];	/* agent id; defaults to school */
	struct hostport collector;
	char spool[4096];
	double poll_interval;		/* seconds */
	double timeout;			/* SNMP timeout per try, seconds */
	long retries;
	long max_inflight;		/* requests in flight over all switches */
	long send_window;		/* unacked reports on the wire */
	long spool_max;			/* MB; the oldest reports go beyond */
	long replay_rate;		/* reports per second when catching up */
	double keepalive;		/* seconds of silence before a PING */
	int tls;			/* enum tls_mode */
	char psk_identity[128];
	char psk_key[160];		/* hex */
	char tls_cert[4096], tls_key[4096], tls_ca[4096];
	char server_name[256];		/* certificates: the collector's name */
	int agent_line;			/* where [agent] starts, for errors */
	struct switch_conf *switches;
	size_t n_switches;
	struct probe_conf probe;
	/* probe.targets parsed; "collector" is [agent] collector. */
	struct probe_target probe_targets[AGENT_PROBE_TARGETS_MAX];
	size_t n_probe_targets;
};

/* agent_config.c */
extern const struct cfg_section_def agent_cfg_sections[];
/* Load and check path; on failure errors are in *e and *conf is freed. */
int agent_conf_load(const char *path, struct agent_conf *conf,
    struct cfg_err *e) __attribute__((warn_unused_result));
void agent_conf_free(struct agent_conf *conf);
/* Can the agent talk to its collector: a key or certificates for its TLS
 * mode? (The parser checks keys one by one; running needs them all.) */
int agent_conf_check_tls(const struct agent_conf *conf, struct cfg_err *e)
    __attribute__((warn_unused_result));
void agent_conf_print(FILE *f, const struct agent_conf *conf);

/* rate.c: counter arithmetic (pure functions; tested on their own) */
/*
 * Delta between two readings of a counter `bits` wide (32 or 64). A 32-bit
 * counter that went back is taken to have wrapped once; a 64-bit counter
 * that went back was reset (it cannot wrap in practice). Returns 0 with
 * *delta, or -1 when there is no trustworthy delta.
 */
int rate_counter_delta(uint64_t prev, uint64_t cur, int bits,
    uint64_t *delta) __attribute__((warn_unused_result));
/*
 * True when the device restarted between two polls: sysUpTime went back by
 * more than a TimeTicks wrap (2^32 cs, ~497 days) explains, given that
 * elapsed_ms of wall time passed.
 */
bool rate_rebooted(uint32_t prev_uptime, uint32_t cur_uptime,
    uint64_t elapsed_ms);
/*
 * True when octets over interval_ms fit the port's speed (10 % slack); a
 * larger figure means a 32-bit counter wrapped more than once.
 */
bool rate_plausible(uint64_t octets, uint64_t interval_ms,
    uint32_t speed_mbps);

/* snmp_poll.c */
struct poller;
struct if_row;

/* What one poll of one switch found; handed to the done callback. */
struct poll_result {
	const struct switch_conf *sw;
	uint64_t t_ms;		/* wall clock at the start of the poll */
	uint64_t mono_ms;	/* monotonic clock at the start */
	uint32_t duration_ms;
	uint32_t pdus;
	int status;		/* enum wire_poll_status */
	char error[WIRE_TEXT_MAX + 1];
	bool have_uptime;
	uint32_t sys_uptime;
	struct if_row *rows;	/* sorted by ifIndex */
	size_t n_rows;
};

/* The columns read per interface, as the poll found them. */
#define IFROW_HAVE_HC 0x01
#define IFROW_HAVE_32 0x02
#define IFROW_HAVE_HIGHSPEED 0x04
#define IFROW_HAVE_SPEED 0x08
struct if_row {
	uint32_t if_index;
	unsigned have;
	char name[WIRE_TEXT_MAX + 1];
	char descr[WIRE_TEXT_MAX + 1];
	char alias[WIRE_ALIAS_MAX + 1];
	uint16_t if_type;
	uint8_t admin, oper, duplex;
	uint32_t speed_bps;	/* ifSpeed */
	uint32_t high_speed;	/* ifHighSpeed, Mbps */
	uint64_t hc_in, hc_out;
	uint32_t in32, out32;
	uint32_t in_errors, out_errors, in_discards, out_discards;
};

typedef void (*poll_done_cb)(struct poller *p, const struct poll_result *r,
    void *arg);

struct poller *poller_new(uv_loop_t *loop, const struct agent_conf *conf,
    poll_done_cb cb, void *arg);
/* Start polling every switch now and then every poll_interval. */
void poller_start(struct poller *p);
/* Poll each switch (or just `only`) once; the callback runs per switch. */
int poller_poll_once(struct poller *p, const char *only);
/* Stop timers and close every session; frees p once libuv is done. */
void poller_close(struct poller *p);
uint32_t if_row_speed_mbps(const struct if_row *row);

/* sample.c: turn consecutive polls of a switch into reports */
struct sampler;
struct sampler *sampler_new(void);
void sampler_free(struct sampler *s);
/*
 * Fill rep (header fields and interfaces with counter deltas against the
 * previous poll of the same switch) from r. rep->ifs is allocated; free
 * with wire_report_free.
 */
void sampler_build(struct sampler *s, const struct poll_result *r,
    uint32_t poll_interval_s, struct wire_report *rep);

/* Seconds from the config as whole milliseconds (rounded). */
uint32_t probe_ms(double seconds);
/* The target of conf->probe_targets[i] as the collector sees it. */
void agent_probe_target_name(const struct agent_conf *conf, size_t i,
    char *buf, size_t size);

/*
 * spool.c: the on-disk queue of reports and probe results not yet
 * acknowledged. Both take numbers of one sequence, but each kind has its
 * own room: reports max_bytes (spool_max), probe results a tenth of it on
 * top (at least 64 KB: spool_probe_room), so a probe never pushes out a
 * report. `dropped` and `pending` (STATUS) count reports only.
 */
struct spool;
int spool_open(const char *path, struct spool **sp)
    __attribute__((warn_unused_result));
void spool_close(struct spool *sp);
uint64_t spool_epoch(const struct spool *sp);
/*
 * Give rep the next sequence number and the spool's epoch, and store it.
 * When the reports would pass max_bytes, the oldest reports not held (see
 * spool_hold) are deleted to make room and counted in the persistent
 * dropped total. Returns how many were dropped (>= 0), or -1 when the
 * report could not be stored.
 */
int spool_append_report(struct spool *sp, struct wire_report *rep,
    uint64_t max_bytes) __attribute__((warn_unused_result));
/* The same for a probe result, in the probes' room for a spool_max of
 * max_bytes: the oldest probe results not held make room (counted apart,
 * logged at info a minute at most). 0, or -1 when it could not be stored. */
int spool_append_probe(struct spool *sp, struct wire_probe *probe,
    uint64_t max_bytes) __attribute__((warn_unused_result));
/* The probes' room for a spool_max of max_bytes. */
uint64_t spool_probe_room(uint64_t max_bytes);
uint64_t spool_dropped(const struct spool *sp);
uint64_t spool_probe_dropped(const struct spool *sp);
/* Frames up to seq are sent and not yet acknowledged: never drop them
 * (0 when nothing is in flight). */
void spool_hold(struct spool *sp, uint64_t seq);
/* The sequence number of the newest frame stored. */
uint64_t spool_last_seq(const struct spool *sp);
/* The collector holds up to seq: continue numbering after it. */
int spool_advance(struct spool *sp, uint64_t seq)
    __attribute__((warn_unused_result));
/* The first stored frame with seq > after (PROBE frames only when probes):
 * 1 found (frame in out), 0 none, -1 error. */
int spool_next(struct spool *sp, uint64_t after, bool probes, uint64_t *seq,
    struct buf *out) __attribute__((warn_unused_result));
/* Forget every frame with seq <= seq. */
int spool_ack(struct spool *sp, uint64_t seq);
/* Reports waiting (probe results not counted). */
uint64_t spool_pending(struct spool *sp);

/* probe_jobs.c: throughput tests (PROBE_REQUEST) and recording-host
 * checks (CHECKS) the collector asks for, each result a PROBE for cb
 * (m valid during the call; the owner spools it). */
struct probe_jobs;
typedef void (*probe_result_cb)(struct wire_probe *m, void *arg);
struct probe_jobs *probe_jobs_new(uv_loop_t *loop,
    const struct agent_conf *conf, probe_result_cb cb, void *arg);
/* A reload: the collector's host for URLs comes from conf from now on. */
void probe_jobs_set_conf(struct probe_jobs *j, const struct agent_conf *conf);
/* Run a test now, or answer "busy" at once when one is running. */
void probe_jobs_request(struct probe_jobs *j,
    const struct wire_probe_request *q);
/* The hosts to check from now on (n = 0: none), checked at once and then
 * every interval; takes c's items (c is freed). */
void probe_jobs_checks(struct probe_jobs *j, struct wire_checks *c);
/* Abandons what runs (no more callbacks); frees once libuv is done.
 * NULL is ignored. */
void probe_jobs_close(struct probe_jobs *j);
/* The throughput test's base URL: base, or when empty "http://HOST:PORT"
 * (an IPv6 address bracketed), without a trailing '/'. 0, or -1 when it
 * does not fit size. */
int probe_tp_base(const char *base, const char *host, uint16_t port,
    char *out, size_t size) __attribute__((warn_unused_result));

/* uplink.c: the persistent connection to the collector */
struct uplink;
/* What the collector asks of the agent, handed on as it comes (protocol 2). */
struct uplink_hooks {
	void (*probe_request)(const struct wire_probe_request *q, void *arg);
	void (*checks)(struct wire_checks *c, void *arg); /* takes c */
	void *arg;
};
struct uplink *uplink_new(uv_loop_t *loop, const struct agent_conf *conf,
    struct spool *sp, const struct uplink_hooks *hooks);
void uplink_start(struct uplink *u);
/* New reports are in the spool: send what the window allows. */
void uplink_kick(struct uplink *u);
/* The spool's dropped total changed: tell the collector. */
void uplink_status_changed(struct uplink *u);
void uplink_close(struct uplink *u);

#endif
