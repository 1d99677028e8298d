/* main.c: schoolnet-agent: poll a school's switches, report to the collector. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <systemd/sd-daemon.h>

#include "agent.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"
#include "schoolnet/timeutil.h"
#include "schoolnet/version.h"

struct agent {
	uv_loop_t loop;
	struct agent_conf conf;
	struct poller *poller;
	struct sampler *sampler;
	struct spool *spool;
	struct uplink *uplink;
	struct tcp_prober *prober;
	struct probe_jobs *jobs;	/* what the collector asks for; lives
					   across reloads */
	bool probe_lost[AGENT_PROBE_TARGETS_MAX]; /* per target: last round
						    had no answer (log
						    changes only) */
	uv_signal_t sigint, sigterm, sighup;
	struct agent_conf *retired;	/* configs replaced by reloads, freed at
					   exit (closing handles may still read
					   them) */
	size_t n_retired;
	int *last_status;	/* per switch, to log only changes */
	/* poll and probe subcommands */
	json_t *out;
	int remaining;
	bool json;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: schoolnet-agent [-dn] [-c FILE] [run]\n"
	    "       schoolnet-agent [-c FILE] poll [SWITCH] [--json]\n"
	    "       schoolnet-agent [-c FILE] probe [LABEL] [--once] [--json]\n"
	    "\n"
	    "Polls the school's switches over SNMP every poll_interval, times\n"
	    "TCP connects to the [probe] targets every probe interval, and\n"
	    "reports both to the collector; they wait in the spool until the\n"
	    "collector has stored them.\n"
	    "\n"
	    "commands:\n"
	    "  run            run the agent (the default)\n"
	    "  poll [SWITCH]  poll every switch (or one) once, print what was\n"
	    "                 found and exit; nothing is sent or spooled\n"
	    "  probe [LABEL]  one round against every [probe] target (or one),\n"
	    "                 print the figures and exit (--once: the only\n"
	    "                 mode); nothing is sent or spooled\n"
	    "\n"
	    "options:\n"
	    "  -c, --config FILE   config file (default %s)\n"
	    "  -n, --check         check the config, print 'configuration OK'\n"
	    "  -d, --debug         log every poll\n"
	    "      --print-config  print the config with every default filled in\n"
	    "      --config-help   list every config key with its range and default\n"
	    "      --json          (poll, probe) print JSON\n"
	    "  -V, --version       print the version\n"
	    "  -h, --help          this help\n",
	    "/etc/schoolnet/agent.conf");
}

static void on_poll_done(struct poller *p, const struct poll_result *r,
    void *arg);
static void on_probe_round(const struct latency_round *r, void *arg);
static void on_probe_request(const struct wire_probe_request *q, void *arg);
static void on_checks(struct wire_checks *c, void *arg);

static const struct uplink_hooks agent_hooks = {
    .probe_request = on_probe_request, .checks = on_checks};

static struct uplink *
agent_uplink_new(struct agent *a)
{
	struct uplink_hooks hooks = agent_hooks;

	hooks.arg = a;
	return uplink_new(&a->loop, &a->conf, a->spool, &hooks);
}

/* The index of the target a round is for (labels are unique), or -1. */
static int
probe_index(const struct agent_conf *conf, const char *label)
{
	for (size_t i = 0; i < conf->n_probe_targets; i++)
		if (strcmp(conf->probe_targets[i].label, label) == 0)
			return (int)i;
	return -1;
}

/* A prober for conf's [probe] targets, or NULL when there are none. */
static struct tcp_prober *
probes_new(struct agent *a, latency_cb cb, uint32_t every_ms)
{
	const struct probe_conf *pc = &a->conf.probe;

	if (a->conf.n_probe_targets == 0)
		return NULL;
	return tcp_prober_new(&a->loop, a->conf.probe_targets,
	    a->conf.n_probe_targets, (uint32_t)pc->count,
	    probe_ms(pc->spacing), probe_ms(pc->timeout), every_ms, cb, a);
}

static void
probes_start(struct agent *a)
{
	memset(a->probe_lost, 0, sizeof(a->probe_lost));
	a->prober = probes_new(a, on_probe_round,
	    probe_ms(a->conf.probe.interval));
	if (a->prober)
		tcp_prober_start(a->prober);
	else if (a->conf.n_probe_targets > 0)
		log_warnx("probes: cannot start; running without them");
}

static void
on_signal(uv_signal_t *s, int signum)
{
	struct agent *a = s->data;

	sd_notify(0, "STOPPING=1");
	log_info("signal %d: shutting down (%llu reports still spooled)",
	    signum,
	    a->spool ? (unsigned long long)spool_pending(a->spool) : 0ULL);
	if (a->poller)
		poller_close(a->poller);
	a->poller = NULL;
	tcp_prober_close(a->prober);
	a->prober = NULL;
	probe_jobs_close(a->jobs);
	a->jobs = NULL;
	if (a->uplink)
		uplink_close(a->uplink);
	a->uplink = NULL;
	uv_close((uv_handle_t *)&a->sigint, NULL);
	uv_close((uv_handle_t *)&a->sigterm, NULL);
	uv_close((uv_handle_t *)&a->sighup, NULL);
}

/*
 * SIGHUP: read the config again; when it is good, start polling and
 * reporting with it. The spool stays (its path changes only with a
 * restart), so nothing waiting in it is lost.
 */
static void
on_sighup(uv_signal_t *s, int signum)
{
	struct agent *a = s->data;
	struct agent_conf nc;
	struct cfg_err err;
	int *status;

	(void)signum;
	sd_notify(0, "RELOADING=1");
	memset(&err, 0, sizeof(err));
	if (agent_conf_load(a->conf.path, &nc, &err) != 0 ||
	    agent_conf_check_tls(&nc, &err) != 0) {
		for (char *line = strtok(err.text, "\n"); line;
		     line = strtok(NULL, "\n"))
			log_warnx("reload: %s", line);
		log_warnx("reload: refused; the running configuration stays");
		if (nc.switches)
			agent_conf_free(&nc);
		sd_notify(0, "READY=1");
		return;
	}
	if (strcmp(nc.spool, a->conf.spool) != 0) {
		log_warnx("reload: the spool moves only with a restart; "
			  "keeping %s", a->conf.spool);
		memcpy(nc.spool, a->conf.spool, sizeof(nc.spool));
	}
	poller_close(a->poller);
	tcp_prober_close(a->prober);
	a->prober = NULL;
	uplink_close(a->uplink);
	a->retired = xreallocarray(a->retired, a->n_retired + 1,
	    sizeof(*a->retired));
	a->retired[a->n_retired++] = a->conf;
	a->conf = nc;
	status = xreallocarray(a->last_status, a->conf.n_switches ?
	    a->conf.n_switches : 1, sizeof(int));
	for (size_t i = 0; i < a->conf.n_switches; i++)
		status[i] = -1;
	a->last_status = status;
	a->poller = poller_new(&a->loop, &a->conf, on_poll_done, a);
	a->uplink = agent_uplink_new(a);
	probe_jobs_set_conf(a->jobs, &a->conf);
	uplink_start(a->uplink);
	poller_start(a->poller);
	probes_start(a);
	log_info("reload: %s: %zu switches, poll every %g s, collector %s:%u, "
		 "probe targets: %s",
	    a->conf.path, a->conf.n_switches, a->conf.poll_interval,
	    a->conf.collector.host, a->conf.collector.port,
	    a->conf.probe.targets);
	sd_notify(0, "READY=1");
}

static void
on_poll_done(struct poller *p, const struct poll_result *r, void *arg)
{
	struct agent *a = arg;
	size_t idx = (size_t)(r->sw - a->conf.switches);
	struct wire_report rep;
	int rc;

	(void)p;
	if (r->status != a->last_status[idx]) {
		if (r->status == WIRE_POLL_OK)
			log_info("switch %s (%s): answering, %zu interfaces",
			    r->sw->name, r->sw->address.host, r->n_rows);
		else
			log_warnx("switch %s (%s): %s", r->sw->name,
			    r->sw->address.host, r->error);
		a->last_status[idx] = r->status;
	}
	log_debug("switch %s: poll %s in %u ms, %u requests, %zu interfaces",
	    r->sw->name, r->status == WIRE_POLL_OK ? "ok" : "failed",
	    r->duration_ms, r->pdus, r->n_rows);
	sampler_build(a->sampler, r, (uint32_t)a->conf.poll_interval, &rep);
	rc = spool_append_report(a->spool, &rep,
	    (uint64_t)a->conf.spool_max << 20);
	if (rc > 0)
		uplink_status_changed(a->uplink);
	if (rc >= 0)
		uplink_kick(a->uplink);
	wire_report_free(&rep);
}

/* A round as it goes on the wire (seq and epoch come from the spool). */
static void
probe_to_wire(const struct agent *a, int idx, const struct latency_round *r,
    struct wire_probe *m)
{
	memset(m, 0, sizeof(*m));
	m->t_ms = r->t_ms;
	m->kind = WIRE_PROBE_LATENCY;
	snprintf(m->label, sizeof(m->label), "%s", r->label);
	agent_probe_target_name(&a->conf, (size_t)idx, m->target,
	    sizeof(m->target));
	m->sent = r->sent;
	m->answered = r->answered;
	m->rtt_min_us = r->rtt_min_us;
	m->rtt_avg_us = r->rtt_avg_us;
	m->rtt_max_us = r->rtt_max_us;
	m->jitter_us = r->jitter_us;
	m->interval_ms = probe_ms(a->conf.probe.interval);
	snprintf(m->error, sizeof(m->error), "%s", r->error);
}

/* A probe result of any kind: spool it, send it. */
static void
on_probe_result(struct wire_probe *m, void *arg)
{
	struct agent *a = arg;

	if (spool_append_probe(a->spool, m,
		(uint64_t)a->conf.spool_max << 20) == 0 && a->uplink)
		uplink_kick(a->uplink);
}

static void
on_probe_request(const struct wire_probe_request *q, void *arg)
{
	struct agent *a = arg;

	if (a->jobs)
		probe_jobs_request(a->jobs, q);
}

static void
on_checks(struct wire_checks *c, void *arg)
{
	struct agent *a = arg;

	if (a->jobs)
		probe_jobs_checks(a->jobs, c);
	else
		wire_checks_free(c);
}

/* A round is over: spool it, send it; log when a target stops or starts
 * answering. */
static void
on_probe_round(const struct latency_round *r, void *arg)
{
	struct agent *a = arg;
	int idx = probe_index(&a->conf, r->label);
	struct wire_probe m;
	bool lost;

	if (idx < 0)
		return; /* cannot happen: the prober has our targets */
	probe_to_wire(a, idx, r, &m);
	lost = r->answered == 0;
	if (lost && !a->probe_lost[idx])
		log_warnx("probe %s (%s): none of %u connects answered%s%s",
		    m.label, m.target, r->sent, r->error[0] ? ": " : "",
		    r->error);
	else if (!lost && a->probe_lost[idx])
		log_info("probe %s (%s): answering again, %u/%u, rtt %.1f ms",
		    m.label, m.target, r->answered, r->sent,
		    r->rtt_avg_us / 1000.0);
	a->probe_lost[idx] = lost;
	on_probe_result(&m, a);
}

static json_t *
row_json(const struct if_row *row)
{
	return json_pack("{s:I, s:s, s:s, s:s, s:i, s:s, s:s, s:I, s:s,"
			 " s:o, s:o, s:I, s:I, s:I, s:I}",
	    "if_index", (json_int_t)row->if_index, "if_name", row->name,
	    "if_descr", row->descr, "if_alias", row->alias, "if_type",
	    row->if_type, "admin", wire_oper_name(row->admin), "oper",
	    wire_oper_name(row->oper), "speed_mbps",
	    (json_int_t)if_row_speed_mbps(row), "duplex",
	    row->duplex ? wire_duplex_name(row->duplex) : "unknown",
	    "in_octets",
	    (row->have & IFROW_HAVE_HC) ? json_integer((json_int_t)row->hc_in)
	    : (row->have & IFROW_HAVE_32) ? json_integer(row->in32)
					  : json_null(),
	    "out_octets",
	    (row->have & IFROW_HAVE_HC) ? json_integer((json_int_t)row->hc_out)
	    : (row->have & IFROW_HAVE_32) ? json_integer(row->out32)
					  : json_null(),
	    "in_errors", (json_int_t)row->in_errors, "out_errors",
	    (json_int_t)row->out_errors, "in_discards",
	    (json_int_t)row->in_discards, "out_discards",
	    (json_int_t)row->out_discards);
}

static void
on_poll_once(struct poller *p, const struct poll_result *r, void *arg)
{
	struct agent *a = arg;
	json_t *ifs = json_array();

	for (size_t i = 0; i < r->n_rows; i++)
		json_array_append_new(ifs, row_json(&r->rows[i]));
	json_array_append_new(json_object_get(a->out, "switches"),
	    json_pack("{s:s, s:s, s:s, s:i, s:i, s:o, s:o}", "switch",
		r->sw->name, "status",
		r->status == WIRE_POLL_OK	 ? "ok"
		: r->status == WIRE_POLL_TIMEOUT ? "timeout"
						 : "error",
		"error", r->error, "pdus", (int)r->pdus, "elapsed_ms",
		(int)r->duration_ms,
		"sys_uptime",
		r->have_uptime ? json_integer(r->sys_uptime) : json_null(),
		"interfaces", ifs));
	if (!a->json)
		printf("%-16s %-8s %4zu interfaces  %3u requests  %5u ms  %s\n",
		    r->sw->name,
		    r->status == WIRE_POLL_OK ? "ok" : "FAILED", r->n_rows,
		    r->pdus, r->duration_ms, r->error);
	if (--a->remaining == 0)
		poller_close(p);
}

static int
cmd_poll(struct agent *a, const char *only)
{
	int rc;

	a->out = json_pack("{s:[]}", "switches");
	a->poller = poller_new(&a->loop, &a->conf, on_poll_once, a);
	a->remaining = poller_poll_once(a->poller, only);
	if (a->remaining == 0) {
		fprintf(stderr, "schoolnet-agent: no switch named '%s' in %s\n",
		    only, a->conf.path);
		poller_close(a->poller);
		uv_run(&a->loop, UV_RUN_DEFAULT);
		json_decref(a->out);
		return 1;
	}
	uv_run(&a->loop, UV_RUN_DEFAULT);
	if (a->json)
		json_dumpf(a->out, stdout, JSON_INDENT(2));
	rc = 0;
	for (size_t i = 0; i < json_array_size(json_object_get(a->out,
				"switches"));
	     i++) {
		json_t *s = json_array_get(json_object_get(a->out, "switches"), i);

		if (strcmp(json_string_value(json_object_get(s, "status")), "ok"))
			rc = 2;
	}
	if (a->json)
		printf("\n");
	json_decref(a->out);
	return rc;
}

/* A round as `probe --json` prints it; the collector's `probes --json`
 * has the same fields (times in microseconds, exact; null when not
 * measured). */
static json_t *
round_json(const struct agent *a, int idx, const struct latency_round *r)
{
	struct wire_probe m;
	char t[32];

	probe_to_wire(a, idx, r, &m);
	time_iso8601(r->t_ms, t, sizeof(t));
#define US_OR_NULL(us, ok) ((ok) ? json_integer(us) : json_null())
	return json_pack("{s:s, s:s, s:s, s:i, s:i, s:o, s:o, s:o, s:o, s:o,"
			 " s:s}",
	    "label", m.label, "target", m.target, "time", t, "sent",
	    (int)m.sent, "answered", (int)m.answered, "loss_pct",
	    m.sent ? json_real(100.0 * (m.sent - m.answered) / m.sent)
		   : json_null(),
	    "rtt_min_us", US_OR_NULL(m.rtt_min_us, m.answered > 0),
	    "rtt_avg_us", US_OR_NULL(m.rtt_avg_us, m.answered > 0),
	    "rtt_max_us", US_OR_NULL(m.rtt_max_us, m.answered > 0),
	    "jitter_us", US_OR_NULL(m.jitter_us, m.answered > 1), "error",
	    m.error);
#undef US_OR_NULL
}

static void
on_probe_once(const struct latency_round *r, void *arg)
{
	struct agent *a = arg;
	int idx = probe_index(&a->conf, r->label);

	if (idx < 0)
		return;
	json_array_append_new(json_object_get(a->out, "probes"),
	    round_json(a, idx, r));
	if (!a->json) {
		char target[WIRE_ADDR_MAX + 1];

		agent_probe_target_name(&a->conf, (size_t)idx, target,
		    sizeof(target));
		if (r->answered > 0)
			printf("%-16s %-28s %3u/%-3u answered  rtt "
			       "%.2f/%.2f/%.2f ms  jitter %.2f ms  %s\n",
			    r->label, target, r->answered, r->sent,
			    r->rtt_min_us / 1000.0, r->rtt_avg_us / 1000.0,
			    r->rtt_max_us / 1000.0, r->jitter_us / 1000.0,
			    r->error);
		else
			printf("%-16s %-28s %3u/%-3u answered  %s\n",
			    r->label, target, r->answered, r->sent, r->error);
	}
	if (--a->remaining == 0) {
		tcp_prober_close(a->prober);
		a->prober = NULL;
	}
}

/* One round against each target (or the one labelled only), printed. */
static int
cmd_probe(struct agent *a, const char *only)
{
	int idx, rc = 0;

	if (a->conf.n_probe_targets == 0) {
		fprintf(stderr, "schoolnet-agent: no probe targets in %s "
				"([probe] targets = none)\n",
		    a->conf.path);
		return 1;
	}
	if (only) {
		if ((idx = probe_index(&a->conf, only)) < 0) {
			fprintf(stderr, "schoolnet-agent: no probe target "
					"labelled '%s' in %s\n",
			    only, a->conf.path);
			return 1;
		}
		a->conf.probe_targets[0] = a->conf.probe_targets[idx];
		a->conf.n_probe_targets = 1;
	}
	a->out = json_pack("{s:[]}", "probes");
	a->remaining = (int)a->conf.n_probe_targets;
	/* Rounds every interval: the first ones start at once and end the
	 * command before a second could. */
	if ((a->prober = probes_new(a, on_probe_once,
		 probe_ms(a->conf.probe.interval))) == NULL) {
		json_decref(a->out);
		return 1;
	}
	tcp_prober_start(a->prober);
	uv_run(&a->loop, UV_RUN_DEFAULT);
	if (a->json) {
		json_dumpf(a->out, stdout, JSON_INDENT(2));
		printf("\n");
	}
	for (size_t i = 0; i < json_array_size(json_object_get(a->out,
				"probes"));
	     i++) {
		json_t *p = json_array_get(json_object_get(a->out, "probes"), i);

		if (json_integer_value(json_object_get(p, "answered")) == 0)
			rc = 2;
	}
	json_decref(a->out);
	return rc;
}

static int
cmd_run(struct agent *a)
{
	if (spool_open(a->conf.spool, &a->spool) != 0)
		fatalx("cannot open the spool %s", a->conf.spool);
	a->last_status = xcalloc(a->conf.n_switches, sizeof(int));
	for (size_t i = 0; i < a->conf.n_switches; i++)
		a->last_status[i] = -1; /* log the first result of each */
	a->sampler = sampler_new();
	a->poller = poller_new(&a->loop, &a->conf, on_poll_done, a);
	a->uplink = agent_uplink_new(a);
	a->jobs = probe_jobs_new(&a->loop, &a->conf, on_probe_result, a);
	uv_signal_init(&a->loop, &a->sigint);
	uv_signal_init(&a->loop, &a->sigterm);
	uv_signal_init(&a->loop, &a->sighup);
	a->sigint.data = a->sigterm.data = a->sighup.data = a;
	uv_signal_start(&a->sigint, on_signal, SIGINT);
	uv_signal_start(&a->sigterm, on_signal, SIGTERM);
	uv_signal_start(&a->sighup, on_sighup, SIGHUP);
	log_info("schoolnet-agent %s: school %s, agent %s, %zu switches, "
		 "poll every %g s, collector %s:%u, spool %s (%llu waiting)",
	    SCHOOLNET_VERSION, a->conf.school, a->conf.name,
	    a->conf.n_switches, a->conf.poll_interval, a->conf.collector.host,
	    a->conf.collector.port, a->conf.spool,
	    (unsigned long long)spool_pending(a->spool));
	uplink_start(a->uplink);
	poller_start(a->poller);
	probes_start(a);
	if (a->conf.n_probe_targets)
		log_info("probes: %s every %g s, %ld connects %g s apart, "
			 "timeout %g s",
		    a->conf.probe.targets, a->conf.probe.interval,
		    a->conf.probe.count, a->conf.probe.spacing,
		    a->conf.probe.timeout);
	sd_notify(0, "READY=1"); /* systemd Type=notify */
	uv_run(&a->loop, UV_RUN_DEFAULT);
	sampler_free(a->sampler);
	spool_close(a->spool);
	free(a->last_status);
	for (size_t i = 0; i < a->n_retired; i++)
		agent_conf_free(&a->retired[i]);
	free(a->retired);
	log_info("stopped");
	return 0;
}

int
main(int argc, char **argv)
{
	enum { OPT_PRINT = 256, OPT_JSON, OPT_KEYS, OPT_ONCE };
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check", no_argument, NULL, 'n'},
	    {"debug", no_argument, NULL, 'd'},
	    {"print-config", no_argument, NULL, OPT_PRINT},
	    {"config-help", no_argument, NULL, OPT_KEYS},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"once", no_argument, NULL, OPT_ONCE},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	const char *path = "/etc/schoolnet/agent.conf", *cmd = "run";
	bool check = false, print = false;
	struct agent a;
	struct cfg_err err;
	int ch, rc;

	memset(&a, 0, sizeof(a));
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
			cfg_print_help(stdout, agent_cfg_sections);
			return 0;
		case OPT_JSON:
			a.json = true;
			break;
		case OPT_ONCE:
			break; /* probe: one round is all it does */
		case 'V':
			printf("schoolnet-agent %s\n", SCHOOLNET_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 0)
		cmd = argv[0];
	log_init("schoolnet-agent", log_get_level());
	if (strcmp(cmd, "run") != 0 && strcmp(cmd, "poll") != 0 &&
	    strcmp(cmd, "probe") != 0) {
		fprintf(stderr, "schoolnet-agent: unknown command '%s'\n", cmd);
		usage(stderr);
		return 1;
	}
	if (agent_conf_load(path, &a.conf, &err) != 0) {
		fputs(err.text, stderr);
		return 1;
	}
	memset(&err, 0, sizeof(err));
	if ((check || (strcmp(cmd, "run") == 0 && !print)) &&
	    agent_conf_check_tls(&a.conf, &err) != 0) {
		fputs(err.text, stderr);
		agent_conf_free(&a.conf);
		return 1;
	}
	if (check || print) {
		if (print)
			agent_conf_print(stdout, &a.conf);
		else
			printf("configuration OK\n");
		agent_conf_free(&a.conf);
		return 0;
	}
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&a.loop);
	if (strcmp(cmd, "poll") == 0 || strcmp(cmd, "probe") == 0) {
		/* Optional [SWITCH] or [LABEL] after the command. */
		const char *only = NULL;

		for (int i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--json") == 0)
				a.json = true;
			else if (only == NULL)
				only = argv[i];
			else {
				usage(stderr);
				agent_conf_free(&a.conf);
				return 1;
			}
		}
		rc = strcmp(cmd, "poll") == 0 ? cmd_poll(&a, only)
					      : cmd_probe(&a, only);
	} else {
		rc = cmd_run(&a);
	}
	if (uv_loop_close(&a.loop) != 0)
		log_warnx("event loop closed with handles still open");
	agent_conf_free(&a.conf);
	return rc;
}
