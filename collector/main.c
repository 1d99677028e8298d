/* main.c: schoolnet-collector: receive agents' reports, store, answer queries. */
#include <getopt.h>
#include <unistd.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <systemd/sd-daemon.h>

#include "collector.h"
#include "schoolnet/calendar.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"
#include "schoolnet/timeutil.h"
#include "schoolnet/version.h"

struct collector {
	uv_loop_t loop;
	struct collector_conf conf;
	sqlite3 *db;
	struct agent_table *agents;
	struct ingest *ingest;
	struct server *server;
	struct outbox *outbox;
	struct rollup_job *rollup;
	struct http_server *http;
	struct http_sources http_src;
	struct probe_server *probe_server; /* NULL: [probe] listen = off */
	struct probe_sched *sched;
	uint64_t started_ms;
	struct calendar *cal;
	struct collector_conf *active;	/* in use; &conf until a reload */
	struct collector_conf *old_conf; /* being replaced by a reload */
	struct calendar *old_cal;
	uv_signal_t sighup;
	uv_signal_t sigint, sigterm;
	bool stopping;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: schoolnet-collector [-dn] [-c FILE] [serve]\n"
	    "       schoolnet-collector [-c FILE] COMMAND [options]\n"
	    "\n"
	    "Receives the agents' reports, keeps them in SQLite, checks every\n"
	    "port against the targets and sends alerts.\n"
	    "\n"
	    "commands:\n"
	    "  serve                   run the collector (the default)\n"
	    "  schools [--school CODE] every school: uplink, classrooms and\n"
	    "                          recording rooms against the targets\n"
	    "  towns                   the same summed per town and district\n"
	    "  ports [--school CODE]   every port: status, speed, duplex,\n"
	    "                          traffic, role, state and why\n"
	    "  switches [--school CODE] every switch: answering or not, and why\n"
	    "  agents [--school CODE]  every agent: reporting or silent, its\n"
	    "                          sequence and what its spool dropped\n"
	    "  probes [--school CODE]  every probe target's latest round: TCP\n"
	    "                          connects answered, loss %%, RTT, jitter\n"
	    "  probe --school CODE [--wait S] [--json]  run a throughput test\n"
	    "                          now and wait for its result (default\n"
	    "                          120 s; 0: do not wait); exit 0 done,\n"
	    "                          1 failed, refused or timed out\n"
	    "  throughput [--school CODE] [--limit N]  throughput tests, newest\n"
	    "                          first: state, Mbps down/up, the uplink\n"
	    "  recording [--school CODE] every recording room: available or\n"
	    "                          not and why, share in school hours (7 days)\n"
	    "  alerts [--open] [--school CODE]   alerts, newest first\n"
	    "  alerts ack ID --by NAME acknowledge an alert\n"
	    "  maintenance add --school CODE [--switch NAME] [--from TIME]\n"
	    "                  (--to TIME | --for DURATION) [--reason TEXT] [--by NAME]\n"
	    "  maintenance list [--school CODE]\n"
	    "  maintenance delete ID   windows in which alerts are not sent\n"
	    "  enroll --school CODE [--for DURATION]  create an agent's TLS key\n"
	    "                          and print the lines for its agent.conf\n"
	    "  keys list | keys revoke IDENTITY   the agents' keys\n"
	    "  tokens add NAME [--role read|admin] | tokens list |\n"
	    "  tokens revoke NAME      tokens for the HTTP API and /metrics\n"
	    "  import [--dry-run] FILE.csv   load the inventory (all rows or none)\n"
	    "  export [-o FILE.csv]    write the current inventory as CSV\n"
	    "  notify-test [RECEIVER]  send a test message to every receiver\n"
	    "                          (or one) and say whether each took it\n"
	    "  report [--month YYYY-MM] [--format html|csv|json] [--lang zh|en]\n"
	    "         [--level classroom|school|town] [--town NAME]\n"
	    "         [--school CODE] [-o FILE] [--from-raw]\n"
	    "                          the monthly compliance report (default:\n"
	    "                          this month so far, HTML, Chinese)\n"
	    "\n"
	    "options:\n"
	    "  -c, --config FILE   config file (default %s)\n"
	    "  -n, --check         check the config, print 'configuration OK'\n"
	    "  -d, --debug         verbose logging\n"
	    "      --print-config  print the config with every default filled in\n"
	    "      --config-help   list every config key with its range and default\n"
	    "      --json          print JSON (schools, towns, ports, switches,\n"
	    "                      agents, probes, throughput, recording,\n"
	    "                      alerts, maintenance list)\n"
	    "  TIME is \"now\" or \"YYYY-MM-DD HH:MM\" in the calendar's local time.\n"
	    "  -V, --version       print the version\n"
	    "  -h, --help          this help\n",
	    "/etc/schoolnet/collector.conf");
}

static void
on_http_closed(void *arg)
{
	struct collector *c = arg;

	uv_close((uv_handle_t *)&c->sigint, NULL);
	uv_close((uv_handle_t *)&c->sigterm, NULL);
	uv_close((uv_handle_t *)&c->sighup, NULL);
}

static void
on_rollup_closed(void *arg)
{
	struct collector *c = arg;

	http_close(c->http, on_http_closed, c);
}

static void
on_outbox_closed(void *arg)
{
	struct collector *c = arg;

	rollup_job_close(c->rollup, on_rollup_closed, c);
}

static void
on_sched_closed(void *arg)
{
	struct collector *c = arg;

	probe_server_stop(c->probe_server);
	c->probe_server = NULL;
	outbox_close(c->outbox, on_outbox_closed, c);
}

/* The writer has drained: now stop the scheduler and the probe server,
 * the notifier, the roll-ups, the HTTP interface, then the signals. */
static void
on_ingest_closed(void *arg)
{
	struct collector *c = arg;

	probe_sched_close(c->sched, on_sched_closed, c);
}

static void
on_signal(uv_signal_t *s, int signum)
{
	struct collector *c = s->data;

	if (c->stopping)
		return;
	c->stopping = true;
	sd_notify(0, "STOPPING=1");
	log_info("signal %d: shutting down, %zu reports still to write",
	    signum, ingest_queued(c->ingest));
	/* First the HTTP interface: it reads the server's and the writer's
	 * figures, which go away while the writer drains. */
	http_close(c->http, NULL, NULL);
	c->http = NULL;
	server_close(c->server);
	probe_sched_stop(c->sched);
	ingest_close(c->ingest, on_ingest_closed, c);
}

/* The school calendar of [policy] calendar, or the built-in hours. */
static int
calendar_of(const struct collector_conf *conf, struct calendar **out,
    struct cfg_err *err)
{
	memset(err, 0, sizeof(*err)); /* calendar_load appends to it */
	if (conf->policy.calendar[0] == '\0') {
		*out = calendar_default();
		return 0;
	}
	return calendar_load(conf->policy.calendar, out, err);
}

static int
load_calendar(struct collector *c)
{
	struct cfg_err err;

	if (calendar_of(&c->conf, &c->cal, &err) != 0) {
		fputs(err.text, stderr);
		return -1;
	}
	return 0;
}

static void
conf_release(struct collector *c, struct collector_conf *conf)
{
	collector_conf_free(conf);
	if (conf != &c->conf)
		free(conf);
}

static void
on_reloaded(void *arg)
{
	struct collector *c = arg;

	conf_release(c, c->old_conf);
	calendar_free(c->old_cal);
	c->old_conf = NULL;
	c->old_cal = NULL;
	log_info("reload: applied");
}

/* Keep what only a restart can change, and say so. */
static void
keep_restart_only(const struct collector_conf *old, struct collector_conf *nc)
{
	if (memcmp(&old->listen, &nc->listen, sizeof(nc->listen)) ||
	    memcmp(&old->http, &nc->http, sizeof(nc->http)) ||
	    strcmp(old->http_cert, nc->http_cert) ||
	    strcmp(old->http_key, nc->http_key) ||
	    strcmp(old->web_dir, nc->web_dir) ||
	    strcmp(old->database, nc->database) || old->tls != nc->tls ||
	    strcmp(old->tls_cert, nc->tls_cert) ||
	    strcmp(old->tls_key, nc->tls_key) ||
	    strcmp(old->tls_ca, nc->tls_ca) ||
	    memcmp(&old->smtp, &nc->smtp, sizeof(nc->smtp)) ||
	    strcmp(old->probe.listen, nc->probe.listen))
		log_warnx("reload: listen, http (its certificate, web_dir), "
			  "database, tls, [smtp] and [probe] listen "
			  "change only with a restart; keeping the running ones");
	memcpy(nc->probe.listen, old->probe.listen, sizeof(nc->probe.listen));
	nc->listen = old->listen;
	nc->http = old->http;
	memcpy(nc->http_cert, old->http_cert, sizeof(nc->http_cert));
	memcpy(nc->http_key, old->http_key, sizeof(nc->http_key));
	memcpy(nc->web_dir, old->web_dir, sizeof(nc->web_dir));
	memcpy(nc->database, old->database, sizeof(nc->database));
	nc->tls = old->tls;
	memcpy(nc->tls_cert, old->tls_cert, sizeof(nc->tls_cert));
	memcpy(nc->tls_key, old->tls_key, sizeof(nc->tls_key));
	memcpy(nc->tls_ca, old->tls_ca, sizeof(nc->tls_ca));
	nc->smtp = old->smtp;
}

/*
 * SIGHUP: read the config and the calendar again. Targets, alert
 * settings, receivers, the calendar and connection limits take effect
 * from the writer's next batch; a file with errors changes nothing.
 */
static void
on_sighup(uv_signal_t *sig, int signum)
{
	struct collector *c = sig->data;
	struct collector_conf *nc;
	struct calendar *ncal;
	struct cfg_err err;

	(void)signum;
	if (c->stopping)
		return; /* what a reload would change is being shut down */
	sd_notify(0, "RELOADING=1");
	if (c->old_conf) {
		log_warnx("reload: the previous one is still being applied");
		sd_notify(0, "READY=1");
		return;
	}
	nc = xcalloc(1, sizeof(*nc));
	if (collector_conf_load(c->conf.path, nc, &err) != 0 ||
	    calendar_of(nc, &ncal, &err) != 0) {
		for (char *line = strtok(err.text, "\n"); line;
		     line = strtok(NULL, "\n"))
			log_warnx("reload: %s", line);
		log_warnx("reload: refused; the running configuration stays");
		conf_release(c, nc);
		sd_notify(0, "READY=1");
		return;
	}
	keep_restart_only(c->active, nc);
	c->old_conf = c->active;
	c->old_cal = c->cal;
	c->active = nc;
	c->cal = ncal;
	server_set_conf(c->server, nc);
	outbox_set_conf(c->outbox, nc);
	rollup_job_set_conf(c->rollup, nc);
	http_set_conf(c->http, nc);
	log_info("reload: %s read; %zu receivers, calendar %s", nc->path,
	    nc->n_receivers,
	    nc->policy.calendar[0] ? calendar_name(ncal) : "built in");
	ingest_reload(c->ingest, nc, ncal, on_reloaded, c);
	sd_notify(0, "READY=1");
}

/* [probe] listen: the probe server, or NULL when off or it cannot start. */
static struct probe_server *
probe_server_of(const struct collector_conf *conf)
{
	struct hostport hp;
	const char *why;

	if (strcmp(conf->probe.listen, "off") == 0) {
		log_info("probe server: off ([probe] listen); no throughput "
			 "tests");
		return NULL;
	}
	if (hostport_parse(conf->probe.listen, PROBE_DEFAULT_PORT, &hp,
		&why) != 0) {
		log_warnx("probe server %s: %s", conf->probe.listen, why);
		return NULL;
	}
	return probe_server_start(hp.host, hp.port);
}

/* The collector's own figures for /metrics. */
static void
collector_stats(void *arg, struct metrics_stats *st)
{
	struct collector *c = arg;
	size_t handshaking = 0;

	memset(st, 0, sizeof(*st));
	st->start_ms = c->started_ms;
	st->connections = server_connections(c->server, &handshaking);
	st->handshakes = handshaking;
	st->reports_stored = ingest_stored_total(c->ingest);
	st->duplicates = ingest_duplicates_total(c->ingest);
	st->queue_depth = ingest_queued(c->ingest);
	st->queue_max = (uint64_t)c->active->queue_max;
}

static int
cmd_serve(struct collector *c)
{
	if (load_calendar(c) != 0)
		fatalx("cannot load the school calendar %s",
		    c->conf.policy.calendar);
	log_info("school calendar: %s; %d receivers of notifications",
	    c->conf.policy.calendar[0] ? calendar_name(c->cal)
				       : "built in (Mon-Fri 07:30-17:30)",
	    (int)c->conf.n_receivers);
	if (db_open(c->conf.database, false, &c->db) != 0)
		fatalx("cannot open the database %s", c->conf.database);
	c->agents = agents_new();
	if (db_load_agents(c->db, c->agents) != 0)
		fatalx("database %s: cannot read agents: %s", c->conf.database,
		    sqlite3_errmsg(c->db));
	c->ingest = ingest_new(&c->loop, c->db, &c->conf, c->cal);
	c->server = server_new(&c->loop, &c->conf, c->agents, c->ingest);
	c->outbox = outbox_new(&c->loop, &c->conf, c->ingest,
	    calendar_utc_offset_min(c->cal));
	ingest_set_server(c->ingest, c->server);
	ingest_set_outbox(c->ingest, c->outbox);
	c->probe_server = probe_server_of(&c->conf);
	c->sched = probe_sched_new(&c->loop, &c->conf, c->cal, c->ingest,
	    c->server, c->probe_server);
	ingest_set_sched(c->ingest, c->sched);
	if (server_start(c->server) != 0)
		fatalx("cannot listen for agents");
	c->rollup = rollup_job_start(&c->loop, &c->conf);
	c->started_ms = time_now_ms();
	c->http_src.stats = collector_stats;
	c->http_src.arg = c;
	c->http = http_start(&c->loop, &c->conf, &c->http_src);
	c->active = &c->conf;
	uv_signal_init(&c->loop, &c->sigint);
	uv_signal_init(&c->loop, &c->sigterm);
	uv_signal_init(&c->loop, &c->sighup);
	c->sigint.data = c->sigterm.data = c->sighup.data = c;
	uv_signal_start(&c->sigint, on_signal, SIGINT);
	uv_signal_start(&c->sigterm, on_signal, SIGTERM);
	uv_signal_start(&c->sighup, on_sighup, SIGHUP);
	log_info("schoolnet-collector %s: database %s (%zu agents known)",
	    SCHOOLNET_VERSION, c->conf.database, agents_count(c->agents));
	/* Under systemd (Type=notify): listening, ready for agents. */
	sd_notify(0, "READY=1");
	uv_run(&c->loop, UV_RUN_DEFAULT);
	sqlite3_close(c->db);
	agents_free(c->agents);
	calendar_free(c->cal);
	if (c->old_conf) /* a reload still pending at shutdown */
		conf_release(c, c->old_conf);
	calendar_free(c->old_cal);
	if (c->active != &c->conf)
		conf_release(c, c->active);
	log_info("stopped");
	return 0;
}

/* Open the database for a command; read-only ones must find data. */
static int
open_db(struct collector *c, bool readonly)
{
	sqlite3_stmt *st;
	int version = 0;

	if (db_open(c->conf.database, readonly, &c->db) != 0) {
		fprintf(stderr, "schoolnet-collector: cannot open %s%s\n",
		    c->conf.database,
		    readonly ? " (has the collector run yet?)" : "");
		return -1;
	}
	if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) ==
	    SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			version = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	if (version < 2) {
		fprintf(stderr, "schoolnet-collector: %s holds no schoolnet "
				"data yet (start the collector once)\n",
		    c->conf.database);
		sqlite3_close(c->db);
		c->db = NULL;
		return -1;
	}
	return 0;
}

struct options {
	const char *school, *output, *by, *role;
	double wait;
	bool json, dry_run, open_only;
	struct maint_args maint;
	struct report_args report;
	int limit;
};

/* One probe_throughput row as the `probe` command shows it. */
struct tp_row {
	char state[16], agent[WIRE_NAME_MAX + 1], error[300];
	int64_t started_ms;
	double down, up;
	bool have_down, have_up, have_uplink;
	int64_t uplink, down_bytes, up_bytes, down_ms, up_ms;
};

static int
tp_row_read(sqlite3 *db, int64_t id, struct tp_row *r, json_t **json)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db,
		"SELECT state, coalesce(agent, ''), error, started_ms,"
		" down_mbps, up_mbps, uplink_mbps, down_bytes, up_bytes,"
		" down_ms, up_ms, id, school_code, reason, requested_ms,"
		" finished_ms, served_bytes, streams FROM probe_throughput"
		" WHERE id = ?",
		-1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(r, 0, sizeof(*r));
		snprintf(r->state, sizeof(r->state), "%s",
		    sqlite3_column_text(st, 0));
		snprintf(r->agent, sizeof(r->agent), "%s",
		    sqlite3_column_text(st, 1));
		snprintf(r->error, sizeof(r->error), "%s",
		    sqlite3_column_text(st, 2));
		r->started_ms = sqlite3_column_int64(st, 3);
		r->have_down = sqlite3_column_type(st, 4) != SQLITE_NULL;
		r->have_up = sqlite3_column_type(st, 5) != SQLITE_NULL;
		r->have_uplink = sqlite3_column_type(st, 6) != SQLITE_NULL;
		r->down = sqlite3_column_double(st, 4);
		r->up = sqlite3_column_double(st, 5);
		r->uplink = sqlite3_column_int64(st, 6);
		r->down_bytes = sqlite3_column_int64(st, 7);
		r->up_bytes = sqlite3_column_int64(st, 8);
		r->down_ms = sqlite3_column_int64(st, 9);
		r->up_ms = sqlite3_column_int64(st, 10);
		if (json) {
			*json = json_object();
			json_object_set_new(*json, "id", json_integer(id));
			json_object_set_new(*json, "school",
			    json_string((const char *)sqlite3_column_text(st,
				12)));
			json_object_set_new(*json, "reason",
			    json_string((const char *)sqlite3_column_text(st,
				13)));
			json_object_set_new(*json, "state",
			    json_string(r->state));
			json_object_set_new(*json, "agent",
			    r->agent[0] ? json_string(r->agent) : json_null());
			json_object_set_new(*json, "requested_at",
			    db_col_time(st, 14));
			json_object_set_new(*json, "started_at",
			    db_col_time(st, 3));
			json_object_set_new(*json, "finished_at",
			    db_col_time(st, 15));
			json_object_set_new(*json, "down_mbps", r->have_down
				? json_real(r->down) : json_null());
			json_object_set_new(*json, "up_mbps", r->have_up
				? json_real(r->up) : json_null());
			json_object_set_new(*json, "uplink_mbps",
			    r->have_uplink ? json_integer(r->uplink)
					   : json_null());
			json_object_set_new(*json, "down_bytes",
			    json_integer(r->down_bytes));
			json_object_set_new(*json, "up_bytes",
			    json_integer(r->up_bytes));
			json_object_set_new(*json, "down_ms",
			    json_integer(r->down_ms));
			json_object_set_new(*json, "up_ms",
			    json_integer(r->up_ms));
			json_object_set_new(*json, "served_bytes",
			    json_integer(sqlite3_column_int64(st, 16)));
			json_object_set_new(*json, "streams",
			    json_integer(sqlite3_column_int64(st, 17)));
			json_object_set_new(*json, "error",
			    json_string(r->error));
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* "XA-017 test 12: down 478.6 Mbps, up 477.9 Mbps (uplink negotiates
 * 1000 Mbps; 240 MB each way in 4.0 s)" */
static void
tp_row_print(const char *school, int64_t id, const struct tp_row *r)
{
	char down[32] = "not measured", up[32] = "not measured";
	double ms = (double)(r->down_ms > r->up_ms ? r->down_ms : r->up_ms);

	if (r->have_down)
		snprintf(down, sizeof(down), "%.1f Mbps", r->down);
	if (r->have_up)
		snprintf(up, sizeof(up), "%.1f Mbps", r->up);
	printf("%s test %lld: down %s, up %s (", school, (long long)id, down,
	    up);
	if (r->have_uplink)
		printf("uplink negotiates %lld Mbps; ", (long long)r->uplink);
	else
		printf("uplink speed unknown; ");
	printf("%.0f MB each way in %.1f s)%s%s\n",
	    (double)(r->down_bytes > r->up_bytes ? r->down_bytes
						 : r->up_bytes) / 1e6,
	    ms / 1000, r->error[0] ? ": " : "", r->error);
}

/* `probe --school CODE [--wait S] [--json]`: 0 done, 1 failed or not
 * finished in time, 2 usage. */
static int
cmd_probe(struct collector *c, const struct options *o)
{
	struct probe_size size;
	struct tp_row r;
	char last[16] = "";
	json_t *json = NULL;
	uint64_t deadline;
	int64_t id = 0;
	int rc;

	if (o->school == NULL) {
		fprintf(stderr, "schoolnet-collector: probe --school CODE "
				"[--wait S] [--json]\n");
		return 2;
	}
	if (strcmp(c->conf.probe.listen, "off") == 0)
		fprintf(stderr, "schoolnet-collector: note: [probe] listen = "
				"off: the collector will refuse the test\n");
	probe_conf_size(&c->conf.probe, &size);
	sqlite3_busy_timeout(c->db, 5000);
	rc = probe_demand(c->db, o->school, o->by ? o->by : "cli", &size,
	    &id);
	if (rc == PROBE_DEMAND_NO_SCHOOL) {
		fprintf(stderr, "schoolnet-collector: no school %s in the "
				"inventory\n",
		    o->school);
		return 1;
	}
	if (rc < 0) {
		fprintf(stderr, "schoolnet-collector: probe: %s\n",
		    sqlite3_errmsg(c->db));
		return 1;
	}
	if (!o->json) {
		if (rc == PROBE_DEMAND_NEW)
			printf("test %lld requested for %s\n", (long long)id,
			    o->school);
		else
			printf("already requested/running: test %lld\n",
			    (long long)id);
		fflush(stdout);
	}
	deadline = time_mono_ms() + (uint64_t)(o->wait * 1000);
	for (;;) {
		if (tp_row_read(c->db, id, &r, NULL) != 0) {
			fprintf(stderr, "schoolnet-collector: probe: test %lld: "
					"%s\n",
			    (long long)id, sqlite3_errmsg(c->db));
			return 1;
		}
		if (strcmp(r.state, last) != 0 && o->wait > 0) {
			char at[32];

			if (strcmp(r.state, "requested") == 0)
				fprintf(stderr, "waiting for the scheduler\n");
			if (strcmp(r.state, "running") == 0) {
				time_iso8601((uint64_t)r.started_ms, at,
				    sizeof(at));
				fprintf(stderr, "running on agent %s since "
						"%s\n",
				    r.agent, at);
			}
			snprintf(last, sizeof(last), "%s", r.state);
		}
		if (strcmp(r.state, "done") == 0 ||
		    strcmp(r.state, "failed") == 0 || o->wait <= 0 ||
		    time_mono_ms() >= deadline)
			break;
		usleep(500 * 1000);
	}
	if (o->json) {
		if (tp_row_read(c->db, id, &r, &json) == 0) {
			char *text = json_dumps(json, JSON_INDENT(2));

			printf("%s\n", text);
			free(text);
			json_decref(json);
		}
	} else if (strcmp(r.state, "done") == 0) {
		tp_row_print(o->school, id, &r);
	} else if (strcmp(r.state, "failed") == 0) {
		printf("%s test %lld failed: %s\n", o->school, (long long)id,
		    r.error);
	} else if (o->wait > 0) {
		printf("%s test %lld: still %s after %.0f s\n", o->school,
		    (long long)id, r.state, o->wait);
	}
	if (strcmp(r.state, "done") == 0)
		return 0;
	return o->wait <= 0 && strcmp(r.state, "failed") != 0 ? 0 : 1;
}

static int
run_command(struct collector *c, const char *cmd, int argc, char **argv,
    struct options *o)
{
	bool readonly = strcmp(cmd, "alerts") != 0 || argc == 0;
	int rc;

	if (strcmp(cmd, "import") == 0 || strcmp(cmd, "export") == 0) {
		if (strcmp(cmd, "import") == 0 && argc != 1) {
			fprintf(stderr, "schoolnet-collector: import FILE.csv\n");
			return 1;
		}
		return strcmp(cmd, "import") == 0
		    ? cmd_import(&c->conf, argv[0], o->dry_run)
		    : cmd_export(&c->conf, o->output);
	}
	if (strcmp(cmd, "notify-test") == 0)
		return cmd_notify_test(&c->conf, argc ? argv[0] : NULL);
	if (strcmp(cmd, "maintenance") == 0)
		readonly = argc > 0 && strcmp(argv[0], "list") == 0;
	if (strcmp(cmd, "enroll") == 0 || strcmp(cmd, "keys") == 0 ||
	    strcmp(cmd, "tokens") == 0)
		readonly = strcmp(cmd, "keys") == 0 &&
		    (argc == 0 || strcmp(argv[0], "list") == 0);
	if (strcmp(cmd, "report") == 0 || strcmp(cmd, "probe") == 0)
		readonly = false; /* roll-ups; a probe_throughput row */
	if (strcmp(cmd, "maintenance") == 0 || strcmp(cmd, "alerts") == 0 ||
	    strcmp(cmd, "report") == 0 || strcmp(cmd, "recording") == 0) {
		/* Times are read and shown in the calendar's local time. */
		if (load_calendar(c) != 0)
			return 1;
	}
	if (open_db(c, readonly) != 0) {
		calendar_free(c->cal);
		return 1;
	}
	if (strcmp(cmd, "ports") == 0)
		rc = query_ports(c->db, &c->conf.policy, o->school, o->json,
		    stdout);
	else if (strcmp(cmd, "switches") == 0)
		rc = query_switches(c->db, o->school, o->json, stdout);
	else if (strcmp(cmd, "agents") == 0)
		rc = query_agents(c->db, o->school, o->json, stdout);
	else if (strcmp(cmd, "probes") == 0)
		rc = query_probes(c->db, o->school, o->json, stdout);
	else if (strcmp(cmd, "probe") == 0 && argc == 0)
		rc = cmd_probe(c, o);
	else if (strcmp(cmd, "throughput") == 0)
		rc = query_throughput(c->db, o->school, o->limit, o->json,
		    stdout);
	else if (strcmp(cmd, "recording") == 0)
		rc = query_recording(c->db, c->cal, o->school, o->json, stdout);
	else if (strcmp(cmd, "enroll") == 0 && argc == 0)
		rc = cmd_enroll(c->db, o->school, o->maint.duration);
	else if (strcmp(cmd, "keys") == 0)
		rc = cmd_keys(c->db, argc, argv, o->school, o->json);
	else if (strcmp(cmd, "tokens") == 0)
		rc = cmd_tokens(c->db, argc, argv, o->role, o->json);
	else if (strcmp(cmd, "towns") == 0 && argc == 0)
		rc = query_towns(c->db, &c->conf.policy, o->json, stdout);
	else if (strcmp(cmd, "schools") == 0)
		rc = query_schools(c->db, &c->conf.policy, o->school, o->json,
		    true, stdout);
	else if (strcmp(cmd, "alerts") == 0 && argc == 0)
		rc = query_alerts(c->db, o->school, o->open_only, 0, o->json,
		    stdout);
	else if (strcmp(cmd, "alerts") == 0 && argc == 2 &&
	    strcmp(argv[0], "ack") == 0) {
		char *end;
		long long id = strtoll(argv[1], &end, 10);

		rc = *argv[1] && *end == '\0' && id > 0
		    ? cmd_alerts_ack(c->db, id, o->by)
		    : (fprintf(stderr, "schoolnet-collector: alerts ack ID "
				       "--by NAME\n"),
			  1);
	} else if (strcmp(cmd, "report") == 0 && argc == 0) {
		o->report.school = o->school;
		o->report.output = o->output;
		rc = cmd_report(c->db, c->cal, &c->conf, &o->report);
	} else if (strcmp(cmd, "maintenance") == 0) {
		o->maint.school = o->school;
		o->maint.by = o->by;
		o->maint.json = o->json;
		rc = cmd_maintenance(c->db, c->cal, argc, argv, &o->maint);
	} else {
		fprintf(stderr, "schoolnet-collector: unknown command '%s'\n",
		    cmd);
		usage(stderr);
		rc = 1;
	}
	sqlite3_close(c->db);
	calendar_free(c->cal);
	return rc;
}

static bool
one_of(const char *v, const char *a, const char *b, const char *c)
{
	return strcmp(v, a) == 0 || (b && strcmp(v, b) == 0) ||
	    (c && strcmp(v, c) == 0);
}

static int
bad_value(const char *opt, const char *v)
{
	fprintf(stderr, "schoolnet-collector: %s %s: not a choice (see --help)\n",
	    opt, v);
	return 1;
}

int
main(int argc, char **argv)
{
	enum {
		OPT_PRINT = 256, OPT_JSON, OPT_SCHOOL, OPT_KEYS, OPT_DRY,
		OPT_OPEN, OPT_BY, OPT_SWITCH, OPT_FROM, OPT_TO, OPT_FOR,
		OPT_REASON, OPT_MONTH, OPT_FORMAT, OPT_LANG, OPT_LEVEL, OPT_TOWN,
		OPT_RAW, OPT_ROLE, OPT_WAIT, OPT_LIMIT
	};
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check", no_argument, NULL, 'n'},
	    {"debug", no_argument, NULL, 'd'},
	    {"print-config", no_argument, NULL, OPT_PRINT},
	    {"config-help", no_argument, NULL, OPT_KEYS},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"school", required_argument, NULL, OPT_SCHOOL},
	    {"dry-run", no_argument, NULL, OPT_DRY},
	    {"output", required_argument, NULL, 'o'},
	    {"open", no_argument, NULL, OPT_OPEN},
	    {"by", required_argument, NULL, OPT_BY},
	    {"switch", required_argument, NULL, OPT_SWITCH},
	    {"from", required_argument, NULL, OPT_FROM},
	    {"to", required_argument, NULL, OPT_TO},
	    {"for", required_argument, NULL, OPT_FOR},
	    {"reason", required_argument, NULL, OPT_REASON},
	    {"month", required_argument, NULL, OPT_MONTH},
	    {"format", required_argument, NULL, OPT_FORMAT},
	    {"lang", required_argument, NULL, OPT_LANG},
	    {"level", required_argument, NULL, OPT_LEVEL},
	    {"town", required_argument, NULL, OPT_TOWN},
	    {"from-raw", no_argument, NULL, OPT_RAW},
	    {"role", required_argument, NULL, OPT_ROLE},
	    {"wait", required_argument, NULL, OPT_WAIT},
	    {"limit", required_argument, NULL, OPT_LIMIT},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	static const char *const commands[] = {"serve", "ports", "switches",
	    "agents", "probes", "probe", "throughput", "recording", "enroll",
	    "keys",
	    "schools", "towns", "alerts", "maintenance", "import", "export",
	    "notify-test", "report", "tokens", NULL};
	const char *path = "/etc/schoolnet/collector.conf", *cmd = "serve";
	bool check = false, print = false, known = false;
	struct options o;
	struct collector c;
	struct cfg_err err;
	int ch, rc;

	memset(&c, 0, sizeof(c));
	memset(&o, 0, sizeof(o));
	o.wait = 120;
	o.report.format = "html";
	o.report.level = "school";
	o.report.progress = true;
	while ((ch = getopt_long(argc, argv, "c:ndo:Vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'n':
			check = true;
			break;
		case 'd':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case OPT_PRINT:
			print = true;
			break;
		case OPT_KEYS:
			cfg_print_help(stdout, collector_cfg_sections);
			return 0;
		case OPT_JSON:
			o.json = true;
			break;
		case OPT_SCHOOL:
			o.school = optarg;
			break;
		case OPT_DRY:
			o.dry_run = true;
			break;
		case 'o':
			o.output = optarg;
			break;
		case OPT_OPEN:
			o.open_only = true;
			break;
		case OPT_BY:
			o.by = optarg;
			break;
		case OPT_SWITCH:
			o.maint.sw = optarg;
			break;
		case OPT_FROM:
			o.maint.from = optarg;
			break;
		case OPT_TO:
			o.maint.to = optarg;
			break;
		case OPT_FOR:
			o.maint.duration = optarg;
			break;
		case OPT_REASON:
			o.maint.reason = optarg;
			break;
		case OPT_MONTH:
			o.report.month = optarg;
			break;
		case OPT_FORMAT:
			o.report.format = optarg;
			if (!one_of(optarg, "html", "csv", "json"))
				return bad_value("--format", optarg);
			break;
		case OPT_LANG:
			if (!one_of(optarg, "zh", "en", NULL))
				return bad_value("--lang", optarg);
			o.report.en = strcmp(optarg, "en") == 0;
			break;
		case OPT_LEVEL:
			o.report.level = optarg;
			if (!one_of(optarg, "classroom", "school", "town"))
				return bad_value("--level", optarg);
			break;
		case OPT_TOWN:
			o.report.town = optarg;
			break;
		case OPT_RAW:
			o.report.from_raw = true;
			break;
		case OPT_ROLE:
			o.role = optarg;
			break;
		case OPT_WAIT:
			if (cfg_parse_seconds(optarg, &o.wait) != 0 ||
			    o.wait < 0 || o.wait > 86400) {
				fprintf(stderr, "schoolnet-collector: --wait %s: "
						"seconds from 0 to 86400\n",
				    optarg);
				return 2;
			}
			break;
		case OPT_LIMIT:
			o.limit = atoi(optarg);
			if (o.limit <= 0)
				return bad_value("--limit", optarg);
			break;
		case 'V':
			printf("schoolnet-collector %s\n", SCHOOLNET_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind < argc)
		cmd = argv[optind++];
	for (int i = 0; commands[i]; i++)
		known |= strcmp(cmd, commands[i]) == 0;
	if (!known || (strcmp(cmd, "serve") == 0 && optind < argc)) {
		fprintf(stderr, "schoolnet-collector: unknown command '%s'\n",
		    known ? argv[optind] : cmd);
		usage(stderr);
		return 1;
	}
	log_init("schoolnet-collector", log_get_level());
	if (collector_conf_load(path, &c.conf, &err) != 0) {
		fputs(err.text, stderr);
		return 1;
	}
	if (check || print) {
		if (load_calendar(&c) != 0) {
			collector_conf_free(&c.conf);
			return 1;
		}
		calendar_free(c.cal);
		if (print)
			collector_conf_print(stdout, &c.conf);
		else
			printf("configuration OK\n");
		collector_conf_free(&c.conf);
		return 0;
	}
	if (strcmp(cmd, "serve") != 0) {
		rc = run_command(&c, cmd, argc - optind, argv + optind, &o);
		collector_conf_free(&c.conf);
		return rc;
	}
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&c.loop);
	rc = cmd_serve(&c);
	if (uv_loop_close(&c.loop) != 0) {
		log_warnx("event loop closed with handles still open");
		rc = 1;
	}
	collector_conf_free(&c.conf);
	return rc;
}
