/* main.c: schoolnet-collector: receive agents' reports, store, answer queries. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "collector.h"
#include "schoolnet/log.h"
#include "schoolnet/version.h"

struct collector {
	uv_loop_t loop;
	struct collector_conf conf;
	sqlite3 *db;
	struct agent_table *agents;
	struct ingest *ingest;
	struct server *server;
	uv_signal_t sigint, sigterm;
	bool stopping;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: schoolnet-collector [-dn] [-c FILE] [serve]\n"
	    "       schoolnet-collector [-c FILE] ports [--school CODE] [--json]\n"
	    "       schoolnet-collector [-c FILE] switches [--school CODE] [--json]\n"
	    "\n"
	    "Receives the agents' reports and keeps them in SQLite.\n"
	    "\n"
	    "commands:\n"
	    "  serve      run the collector (the default)\n"
	    "  ports      current state of every port: status, speed, duplex,\n"
	    "             traffic, since when, last seen\n"
	    "  switches   every switch: last poll, answering or not, and why\n"
	    "\n"
	    "options:\n"
	    "  -c, --config FILE   config file (default %s)\n"
	    "  -n, --check         check the config, print 'configuration OK'\n"
	    "  -d, --debug         verbose logging\n"
	    "      --print-config  print the config with every default filled in\n"
	    "      --config-help   list every config key with its range and default\n"
	    "      --school CODE   (ports, switches) only this school\n"
	    "      --json          (ports, switches) print JSON\n"
	    "  -V, --version       print the version\n"
	    "  -h, --help          this help\n",
	    "/etc/schoolnet/collector.conf");
}

static void
on_ingest_closed(void *arg)
{
	struct collector *c = arg;

	uv_close((uv_handle_t *)&c->sigint, NULL);
	uv_close((uv_handle_t *)&c->sigterm, NULL);
}

static void
on_signal(uv_signal_t *s, int signum)
{
	struct collector *c = s->data;

	if (c->stopping)
		return;
	c->stopping = true;
	log_info("signal %d: shutting down, %zu reports still to write",
	    signum, ingest_queued(c->ingest));
	server_close(c->server);
	ingest_close(c->ingest, on_ingest_closed, c);
}

static int
cmd_serve(struct collector *c)
{
	if (db_open(c->conf.database, false, &c->db) != 0)
		fatalx("cannot open the database %s", c->conf.database);
	c->agents = agents_new();
	if (db_load_agents(c->db, c->agents) != 0)
		fatalx("database %s: cannot read agents: %s", c->conf.database,
		    sqlite3_errmsg(c->db));
	c->ingest = ingest_new(&c->loop, c->db, &c->conf);
	c->server = server_new(&c->loop, &c->conf, c->agents, c->ingest);
	ingest_set_server(c->ingest, c->server);
	if (server_start(c->server) != 0)
		fatalx("cannot listen for agents");
	uv_signal_init(&c->loop, &c->sigint);
	uv_signal_init(&c->loop, &c->sigterm);
	c->sigint.data = c->sigterm.data = c;
	uv_signal_start(&c->sigint, on_signal, SIGINT);
	uv_signal_start(&c->sigterm, on_signal, SIGTERM);
	log_info("schoolnet-collector %s: database %s (%zu agents known)",
	    SCHOOLNET_VERSION, c->conf.database, agents_count(c->agents));
	uv_run(&c->loop, UV_RUN_DEFAULT);
	sqlite3_close(c->db);
	agents_free(c->agents);
	log_info("stopped");
	return 0;
}

static int
cmd_query(struct collector *c, const char *cmd, const char *school, bool json)
{
	sqlite3_stmt *st;
	int version = 0, rc;

	if (db_open(c->conf.database, true, &c->db) != 0) {
		fprintf(stderr, "schoolnet-collector: cannot open %s (has the "
				"collector run yet?)\n",
		    c->conf.database);
		return 1;
	}
	if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) ==
	    SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			version = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	if (version < 1) {
		fprintf(stderr, "schoolnet-collector: %s holds no schoolnet "
				"data yet\n",
		    c->conf.database);
		sqlite3_close(c->db);
		return 1;
	}
	if (strcmp(cmd, "ports") == 0)
		rc = query_ports(c->db, school, json);
	else
		rc = query_switches(c->db, school, json);
	sqlite3_close(c->db);
	return rc;
}

int
main(int argc, char **argv)
{
	enum { OPT_PRINT = 256, OPT_JSON, OPT_SCHOOL, OPT_KEYS };
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check", no_argument, NULL, 'n'},
	    {"debug", no_argument, NULL, 'd'},
	    {"print-config", no_argument, NULL, OPT_PRINT},
	    {"config-help", no_argument, NULL, OPT_KEYS},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"school", required_argument, NULL, OPT_SCHOOL},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	const char *path = "/etc/schoolnet/collector.conf", *cmd = "serve";
	const char *school = NULL;
	bool check = false, print = false, json = false;
	struct collector c;
	struct cfg_err err;
	int ch, rc;

	memset(&c, 0, sizeof(c));
	while ((ch = getopt_long(argc, argv, "c:ndVh", longopts, NULL)) != -1) {
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
			json = true;
			break;
		case OPT_SCHOOL:
			school = optarg;
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
	if (optind < argc ||
	    (strcmp(cmd, "serve") && strcmp(cmd, "ports") &&
		strcmp(cmd, "switches"))) {
		fprintf(stderr, "schoolnet-collector: unknown command or "
				"argument '%s'\n",
		    optind < argc ? argv[optind] : cmd);
		usage(stderr);
		return 1;
	}
	log_init("schoolnet-collector", log_get_level());
	if (collector_conf_load(path, &c.conf, &err) != 0) {
		fputs(err.text, stderr);
		return 1;
	}
	if (check || print) {
		if (print)
			collector_conf_print(stdout, &c.conf);
		else
			printf("configuration OK\n");
		return 0;
	}
	if (strcmp(cmd, "serve") != 0)
		return cmd_query(&c, cmd, school, json);
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&c.loop);
	rc = cmd_serve(&c);
	if (uv_loop_close(&c.loop) != 0) {
		log_warnx("event loop closed with handles still open");
		rc = 1;
	}
	return rc;
}
