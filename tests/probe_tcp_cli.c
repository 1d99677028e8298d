/* probe_tcp_cli.c: runs agent/probe_tcp.c's rounds, one JSON line each (lab tests). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "probe.h"
#include "schoolnet/hostport.h"
#include "schoolnet/log.h"

struct cli {
	struct tcp_prober *p;
	long rounds_left;	/* over all targets */
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: probe_tcp_cli [-v] [-n rounds] [-c count] [-i interval_ms]\n"
	    "                     [-t timeout_ms] [-e every_ms] LABEL=HOST:PORT...\n"
	    "  -n rounds per target (1), -c connects a round (5), -i 200,\n"
	    "  -t 1000, -e 5000; -v logs at debug. One JSON object a line.\n");
	exit(2);
}

static long
num(const char *s, long lo, long hi)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "probe_tcp_cli: %s: not a number in %ld..%ld\n",
		    s, lo, hi);
		exit(2);
	}
	return v;
}

static void
on_round(const struct latency_round *r, void *arg)
{
	struct cli *c = arg;
	json_t *j = json_pack("{s:s, s:I, s:i, s:i, s:i, s:i, s:i, s:i, s:s}",
	    "label", r->label, "t_ms", (json_int_t)r->t_ms, "sent", r->sent,
	    "answered", r->answered, "rtt_min_us", r->rtt_min_us,
	    "rtt_avg_us", r->rtt_avg_us, "rtt_max_us", r->rtt_max_us,
	    "jitter_us", r->jitter_us, "error", r->error);

	if (j) {
		json_dumpf(j, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		fflush(stdout);
		json_decref(j);
	}
	if (--c->rounds_left == 0)
		tcp_prober_close(c->p);
}

int
main(int argc, char **argv)
{
	struct probe_target targets[TCP_PROBE_MAX_TARGETS];
	long rounds = 1, count = 5, interval = 200, timeout = 1000;
	long every = 5000;
	struct cli c = {0};
	uv_loop_t loop;
	size_t n = 0;
	int ch, rc;

	log_init("probe_tcp_cli", LOG_LVL_INFO);
	while ((ch = getopt(argc, argv, "n:c:i:t:e:v")) != -1) {
		switch (ch) {
		case 'n':
			rounds = num(optarg, 1, 100000);
			break;
		case 'c':
			count = num(optarg, 1, TCP_PROBE_MAX_COUNT);
			break;
		case 'i':
			interval = num(optarg, 0, 3600000);
			break;
		case 't':
			timeout = num(optarg, 1, 3600000);
			break;
		case 'e':
			every = num(optarg, 1, 86400000);
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		default:
			usage();
		}
	}
	if (optind >= argc || argc - optind > TCP_PROBE_MAX_TARGETS)
		usage();
	for (int i = optind; i < argc; i++, n++) {
		struct probe_target *t = &targets[n];
		const char *eq = strchr(argv[i], '=');
		struct hostport hp;
		const char *why;

		if (eq == NULL || eq == argv[i] ||
		    (size_t)(eq - argv[i]) >= sizeof(t->label))
			usage();
		if (hostport_parse(eq + 1, 0, &hp, &why) != 0) {
			fprintf(stderr, "probe_tcp_cli: %s: %s\n", eq + 1, why);
			return 2;
		}
		memset(t, 0, sizeof(*t));
		memcpy(t->label, argv[i], (size_t)(eq - argv[i]));
		snprintf(t->host, sizeof(t->host), "%s", hp.host);
		t->port = hp.port;
	}
	uv_loop_init(&loop);
	c.rounds_left = rounds * (long)n;
	c.p = tcp_prober_new(&loop, targets, n, (uint32_t)count,
	    (uint32_t)interval, (uint32_t)timeout, (uint32_t)every, on_round, &c);
	if (c.p == NULL) {
		uv_loop_close(&loop);
		return 2;
	}
	tcp_prober_start(c.p);
	uv_run(&loop, UV_RUN_DEFAULT);
	if ((rc = uv_loop_close(&loop)) != 0) {
		fprintf(stderr, "probe_tcp_cli: handles left open: %s\n",
		    uv_strerror(rc));
		return 1;
	}
	return 0;
}
