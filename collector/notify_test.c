/* notify_test.c: `schoolnet-collector notify-test [RECEIVER]`: send a test
 * message to each receiver through the real notifier and say how it went. */
#include <stdio.h>
#include <string.h>

#include "collector.h"
#include "schoolnet/calendar.h"
#include "schoolnet/mem.h"
#include "schoolnet/timeutil.h"

struct test_run {
	const struct collector_conf *conf;
	struct notifier *n;
	struct notify_result *res; /* per receiver, by index */
	bool *done;
	size_t want, got;
};

static void
on_closed(void *arg)
{
	(void)arg;
}

static void
on_result(void *arg, int64_t msg_id, const struct notify_result *res)
{
	struct test_run *t = arg;
	size_t i = (size_t)msg_id;

	if (msg_id < 0 || i >= t->conf->n_receivers || t->done[i])
		return;
	t->res[i] = *res;
	t->done[i] = true;
	if (++t->got == t->want)
		notifier_close(t->n, on_closed, t);
}

/* Messages show local time as the daemon does: the school calendar's
 * offset from UTC (the built-in calendar's is UTC+8). */
static int
utc_offset(const struct collector_conf *conf, int *off)
{
	struct calendar *cal = NULL;
	struct cfg_err err;

	memset(&err, 0, sizeof(err)); /* calendar_load appends to it */
	if (conf->policy.calendar[0] == '\0')
		cal = calendar_default();
	else if (calendar_load(conf->policy.calendar, &cal, &err) != 0) {
		fputs(err.text, stderr);
		return -1;
	}
	*off = calendar_utc_offset_min(cal);
	calendar_free(cal);
	return 0;
}

static void
list_names(FILE *f, const struct collector_conf *conf)
{
	for (size_t i = 0; i < conf->n_receivers; i++)
		fprintf(f, "%s%s", i ? ", " : "", conf->receivers[i].name);
}

int
cmd_notify_test(const struct collector_conf *conf, const char *only)
{
	struct test_run t = {.conf = conf};
	struct alert_event ev = {
	    .alert_id = 0,
	    .event = "test",
	    .cause = "",
	    .role = "",
	    .school_code = "",
	    .school_name = "",
	    .town = "",
	    .room = "",
	    .switch_name = "",
	    .port = "",
	    .agent = "",
	    .detail = "",
	};
	uv_loop_t loop;
	int rc = 0, off;

	if (conf->n_receivers == 0) {
		fprintf(stderr,
		    "schoolnet-collector: %s configures no receivers: add a "
		    "[webhook NAME] or [email NAME] section\n",
		    conf->path);
		return 1;
	}
	if (only != NULL) {
		size_t i;

		for (i = 0; i < conf->n_receivers; i++)
			if (strcmp(conf->receivers[i].name, only) == 0)
				break;
		if (i == conf->n_receivers) {
			fprintf(stderr,
			    "schoolnet-collector: no receiver '%s' in %s; the "
			    "receivers are: ",
			    only, conf->path);
			list_names(stderr, conf);
			fputc('\n', stderr);
			return 1;
		}
	}
	if (utc_offset(conf, &off) != 0)
		return 1;
	t.res = xcalloc(conf->n_receivers, sizeof(*t.res));
	t.done = xcalloc(conf->n_receivers, sizeof(*t.done));
	ev.since_ms = ev.at_ms = time_now_ms();
	if (uv_loop_init(&loop) != 0) {
		fprintf(stderr,
		    "schoolnet-collector: cannot start an event "
		    "loop\n");
		rc = 1;
		goto out;
	}
	t.n = notifier_new(&loop, conf, off, on_result, &t);
	for (size_t i = 0; i < conf->n_receivers; i++) {
		if (only && strcmp(conf->receivers[i].name, only) != 0)
			continue;
		t.want++;
		notifier_send(t.n, (int64_t)i, &conf->receivers[i], &ev);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	if (t.got < t.want) /* cannot happen: every attempt ends */
		notifier_close(t.n, on_closed, &t);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0) {
		fprintf(stderr,
		    "schoolnet-collector: event loop closed with "
		    "handles still open\n");
		rc = 1;
	}
	for (size_t i = 0; i < conf->n_receivers; i++) {
		const struct receiver_conf *r = &conf->receivers[i];
		const struct notify_result *res = &t.res[i];

		if (only && strcmp(r->name, only) != 0)
			continue;
		if (!t.done[i]) {
			printf("FAIL %s  no result\n", r->name);
			rc = 1;
		} else if (res->ok && r->kind == RECEIVER_WEBHOOK) {
			printf("ok  %s  HTTP %ld\n", r->name, res->http_status);
		} else if (res->ok) {
			printf("ok  %s  mail accepted by %s\n", r->name,
			    conf->smtp.server);
		} else {
			printf("FAIL %s  %s\n", r->name, res->error);
			rc = 1;
		}
	}
	fflush(stdout);
out:
	free(t.res);
	free(t.done);
	return rc;
}
