/* probe_http_cli.c: runs one probe_http throughput test or host check and
 * prints JSON, or serves /down and /up (tests/probe_srv.c): the lab
 * test's driver (tests/integration/test_probe_http_lab.py). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <jansson.h>

#include "probe.h"
#include "probe_srv.h"
#include "schoolnet/log.h"

static const char usage[] =
    "usage: probe_http_cli throughput [--down URL] [--up URL] [--auth HEADER]\n"
    "                      [--bytes N] [--seconds S] [--streams K]\n"
    "       probe_http_cli check URL [--expect TEXT] [--timeout S]\n"
    "       probe_http_cli serve [--addr A] [--port P] [--rate BYTES_PER_S]\n"
    "                      [--auth 'Bearer T'] [--text T] [--max-life S]\n"
    "Prints one JSON object (with the process's CPU time and max RSS);\n"
    "exit 0 when the probe ran (its result may still be an error), 2 on\n"
    "bad arguments. serve prints 'listening on http://A:P' and runs until\n"
    "SIGTERM/SIGINT or --max-life (3600 s).\n";

struct cli {
	uv_loop_t *loop;
	json_t *out;
	uint64_t t0;
};

/* The peak RSS of this program: VmHWM (ru_maxrss would include the
 * image that exec'd us, e.g. `ip netns exec`, on Linux). */
static long
peak_rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void
add_usage(json_t *o, uint64_t t0)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	json_object_set_new(
	    o, "wall_s", json_real((double)(uv_hrtime() - t0) / 1e9));
	json_object_set_new(o, "cpu_user_s",
	    json_real((double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6));
	json_object_set_new(o, "cpu_sys_s",
	    json_real((double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6));
	json_object_set_new(o, "max_rss_kb", json_integer(peak_rss_kb()));
}

static void
on_throughput(const struct throughput_result *r, void *arg)
{
	struct cli *c = arg;

	c->out = json_pack("{s:f, s:f, s:I, s:I, s:f, s:f, s:s}", "down_mbps",
	    r->down_mbps, "up_mbps", r->up_mbps, "down_bytes",
	    (json_int_t)r->down_bytes, "up_bytes", (json_int_t)r->up_bytes,
	    "down_s", r->down_s, "up_s", r->up_s, "error", r->error);
	add_usage(c->out, c->t0);
	uv_stop(c->loop);
}

static void
on_check(const struct host_check_result *r, void *arg)
{
	struct cli *c = arg;

	c->out = json_pack("{s:b, s:I, s:I, s:s}", "ok", r->ok, "status",
	    (json_int_t)r->status, "time_ms", (json_int_t)r->time_ms, "error",
	    r->error);
	add_usage(c->out, c->t0);
	uv_stop(c->loop);
}

static const char *
opt(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc) {
		fprintf(stderr, "%s needs a value\n%s", argv[*i], usage);
		exit(2);
	}
	return argv[++*i];
}

static int
serve(int argc, char **argv)
{
	struct probe_srv_conf c = {0};
	struct probe_srv *s;
	struct timespec life = {.tv_sec = 3600};
	sigset_t set;
	int sig;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--addr") == 0)
			c.addr = opt(argc, argv, &i);
		else if (strcmp(argv[i], "--port") == 0)
			c.port = (uint16_t)atoi(opt(argc, argv, &i));
		else if (strcmp(argv[i], "--rate") == 0)
			c.rate = strtoull(opt(argc, argv, &i), NULL, 10);
		else if (strcmp(argv[i], "--auth") == 0)
			c.auth = opt(argc, argv, &i);
		else if (strcmp(argv[i], "--text") == 0)
			c.page_text = opt(argc, argv, &i);
		else if (strcmp(argv[i], "--max-life") == 0)
			life.tv_sec = atol(opt(argc, argv, &i));
		else {
			fprintf(
			    stderr, "unknown option %s\n%s", argv[i], usage);
			return 2;
		}
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	/* Blocked before MHD's threads start, so they inherit the mask. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if ((s = probe_srv_start(&c)) == NULL)
		return 1;
	printf("listening on http://%s:%u\n", c.addr ? c.addr : "127.0.0.1",
	    probe_srv_port(s));
	fflush(stdout);
	sig = sigtimedwait(&set, NULL, &life);
	printf("stopping (%s): sent %llu, received %llu, %llu requests\n",
	    sig > 0 ? strsignal(sig) : "max life",
	    (unsigned long long)probe_srv_sent(s),
	    (unsigned long long)probe_srv_received(s),
	    (unsigned long long)probe_srv_requests(s));
	probe_srv_stop(s);
	return 0;
}

int
main(int argc, char **argv)
{
	struct throughput_req tq = {
	    .max_bytes = 100000000, .max_seconds = 10, .streams = 4};
	struct host_check_req hq = {.timeout_s = 5};
	uv_loop_t loop;
	struct curl_runner *cr;
	struct cli c = {.loop = &loop};
	bool tp;
	int rc;

	log_init("probe_http_cli",
	    getenv("PROBE_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_WARN);
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	if (strcmp(argv[1], "serve") == 0)
		return serve(argc, argv);
	tp = strcmp(argv[1], "throughput") == 0;
	if (!tp && strcmp(argv[1], "check") != 0) {
		fputs(usage, stderr);
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (tp && strcmp(argv[i], "--down") == 0)
			tq.down_url = opt(argc, argv, &i);
		else if (tp && strcmp(argv[i], "--up") == 0)
			tq.up_url = opt(argc, argv, &i);
		else if (tp && strcmp(argv[i], "--auth") == 0)
			tq.auth = opt(argc, argv, &i);
		else if (tp && strcmp(argv[i], "--bytes") == 0)
			tq.max_bytes = strtoull(opt(argc, argv, &i), NULL, 10);
		else if (tp && strcmp(argv[i], "--seconds") == 0)
			tq.max_seconds = atof(opt(argc, argv, &i));
		else if (tp && strcmp(argv[i], "--streams") == 0)
			tq.streams = atoi(opt(argc, argv, &i));
		else if (!tp && strcmp(argv[i], "--expect") == 0)
			hq.expect = opt(argc, argv, &i);
		else if (!tp && strcmp(argv[i], "--timeout") == 0)
			hq.timeout_s = atof(opt(argc, argv, &i));
		else if (!tp && hq.url == NULL && argv[i][0] != '-')
			hq.url = argv[i];
		else {
			fprintf(stderr, "unexpected argument %s\n%s", argv[i],
			    usage);
			return 2;
		}
	}
	uv_loop_init(&loop);
	cr = curl_runner_new(&loop);
	c.t0 = uv_hrtime();
	rc = tp ? throughput_start(cr, &tq, on_throughput, &c)
	        : host_check_start(cr, &hq, on_check, &c);
	if (rc != 0) {
		fprintf(stderr, "the probe did not start (bad arguments?)\n%s",
		    usage);
		curl_runner_close(cr);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		return 2;
	}
	/* Everything inside is bounded by the request's own limits. */
	uv_run(&loop, UV_RUN_DEFAULT);
	curl_runner_close(cr);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0)
		fprintf(stderr, "probe_http_cli: handles left open\n");
	if (c.out == NULL) {
		fprintf(stderr, "probe_http_cli: no result\n");
		return 1;
	}
	json_dumpf(c.out, stdout, JSON_SORT_KEYS);
	putchar('\n');
	json_decref(c.out);
	return 0;
}
