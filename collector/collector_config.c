/* collector_config.c: the collector's config keys (one table per section). */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "collector.h"
#include "schoolnet/mem.h"

#define C(field) offsetof(struct collector_conf, field), sizeof(((struct collector_conf *)0)->field)
#define P(field) offsetof(struct policy_conf, field), sizeof(((struct policy_conf *)0)->field)
#define AL(field) offsetof(struct alerts_conf, field), sizeof(((struct alerts_conf *)0)->field)
#define SM(field) offsetof(struct smtp_conf, field), sizeof(((struct smtp_conf *)0)->field)
#define PR(field) offsetof(struct collector_probe_conf, field), sizeof(((struct collector_probe_conf *)0)->field)
#define R(field) offsetof(struct receiver_conf, field), sizeof(((struct receiver_conf *)0)->field)

static const struct cfg_key collector_keys[] = {
    {.name = "listen", .type = CFG_HOSTPORT, C(listen),
	.defport = COLLECTOR_DEFAULT_PORT, .def = "0.0.0.0:7470",
	.help = "address:port where agents connect"},
    {.name = "database", .type = CFG_PATH, C(database),
	.def = "/var/lib/schoolnet/collector.db",
	.help = "SQLite database file (WAL mode; keep it on local disk)"},
    {.name = "http", .type = CFG_HOSTPORT, C(http), .defport = 8080,
	.def = "127.0.0.1:8080",
	.help = "address:port of the dashboard, the JSON API and /metrics; if it cannot be bound the collector runs without them"},
    {.name = "http_cert", .type = CFG_PATH, C(http_cert), .def = "",
	.help = "HTTPS: the certificate chain (PEM) served on http; with http_key, the dashboard and API are HTTPS only"},
    {.name = "http_key", .type = CFG_PATH, C(http_key), .def = "",
	.help = "HTTPS: its private key (PEM)"},
    {.name = "web_dir", .type = CFG_PATH, C(web_dir), .def = "",
	.help = "serve the dashboard's files from this folder instead of the copy built in (empty: built in)"},
    {.name = "max_connections", .type = CFG_INT, C(max_connections),
	.min = 1, .max = 100000, .def = "4096",
	.help = "agent connections held at once; more are refused"},
    {.name = "batch_max", .type = CFG_INT, C(batch_max), .min = 1,
	.max = 100000, .def = "2000",
	.help = "reports written per SQLite transaction at most"},
    {.name = "queue_max", .type = CFG_INT, C(queue_max), .min = 1,
	.max = 1000000, .def = "5000",
	.help = "reports waiting for the writer before agents are paused"},
    {.name = "hello_timeout", .type = CFG_SECONDS, C(hello_timeout),
	.min = 0.5, .max = 300, .def = "10",
	.help = "seconds a new connection has to introduce itself"},
    {.name = "read_timeout", .type = CFG_SECONDS, C(read_timeout),
	.min = 0.5, .max = 3600, .def = "30",
	.help = "seconds to receive the rest of a frame once it has begun (slow peers are dropped)"},
    {.name = "idle_timeout", .type = CFG_SECONDS, C(idle_timeout),
	.min = 1, .max = 86400, .def = "120",
	.help = "seconds without any frame before a connection is dropped (agents ping every 30 s)"},
    {.name = "max_handshakes", .type = CFG_INT, C(max_handshakes), .min = 1,
	.max = 100000, .def = "256",
	.help = "connections still introducing themselves at once; more are refused"},
    {.name = "tls", .type = CFG_ENUM, C(tls), .choices = "psk|cert|off",
	.def = "psk",
	.help = "TLS 1.3 for agents: per-agent keys (enroll), certificates, or off"},
    {.name = "tls_cert", .type = CFG_PATH, C(tls_cert), .def = "",
	.help = "tls = cert: the collector's certificate chain (PEM)"},
    {.name = "tls_key", .type = CFG_PATH, C(tls_key), .def = "",
	.help = "tls = cert: its private key (PEM)"},
    {.name = "tls_ca", .type = CFG_PATH, C(tls_ca), .def = "",
	.help = "tls = cert: the CA that signs agents' certificates (CN = school code)"},
    {.name = "rate_limit", .type = CFG_INT, C(rate_limit), .min = 1,
	.max = 1000000, .def = "500",
	.help = "reports per second per agent (bursts of twice that); faster agents are slowed, not cut"},
    {.name = NULL},
};

static const struct cfg_key policy_keys[] = {
    {.name = "uplink_mbps", .type = CFG_INT, P(uplink_mbps), .min = 1,
	.max = 400000, .def = "1000",
	.help = "speed a school's uplink must negotiate (千兆进校)"},
    {.name = "classroom_mbps", .type = CFG_INT, P(classroom_mbps), .min = 1,
	.max = 400000, .def = "100",
	.help = "speed a classroom port must negotiate (百兆进班)"},
    {.name = "recording_mbps", .type = CFG_INT, P(recording_mbps), .min = 1,
	.max = 400000, .def = "100",
	.help = "speed a recording room (录播室) port must negotiate"},
    {.name = "max_errors_per_min", .type = CFG_REAL,
	P(max_errors_per_min), .min = 0, .max = 1e9, .def = "10",
	.help = "in+out errors per minute above which a port counts as erroring"},
    {.name = "compliant_share", .type = CFG_REAL, P(compliant_share),
	.min = 0, .max = 100, .def = "99",
	.help = "% of its known school-hours time a port must be at target to count as compliant in the monthly report"},
    {.name = "calendar", .type = CFG_PATH, P(calendar), .def = "",
	.help = "school calendar file (hours, holidays, vacations); empty: Mon-Fri 07:30-17:30"},
    {.name = NULL},
};

static const struct cfg_key alerts_keys[] = {
    {.name = "raise_after", .type = CFG_INT, AL(raise_after), .min = 1,
	.max = 100, .def = "2",
	.help = "bad polls in a row before an alert opens"},
    {.name = "clear_after", .type = CFG_INT, AL(clear_after), .min = 1,
	.max = 100, .def = "2",
	.help = "good polls in a row before an alert clears"},
    {.name = "offline_after", .type = CFG_INT, AL(offline_after), .min = 1,
	.max = 1000, .def = "3",
	.help = "poll intervals without a report before an agent counts as offline"},
    {.name = "flap_changes", .type = CFG_INT, AL(flap_changes), .min = 2,
	.max = 1000, .def = "4",
	.help = "open/clear changes within flap_window that make an alert flapping"},
    {.name = "flap_window", .type = CFG_SECONDS, AL(flap_window), .min = 60,
	.max = 86400, .def = "30m",
	.help = "window for flap detection; a flapping alert is quiet until stable this long"},
    {.name = "lang", .type = CFG_ENUM, AL(lang), .choices = "zh|en",
	.def = "zh", .help = "language of notifications (receivers may override)"},
    {.name = "retry_min", .type = CFG_SECONDS, AL(retry_min), .min = 1,
	.max = 3600, .def = "10",
	.help = "first retry delay of an undelivered notification"},
    {.name = "retry_max", .type = CFG_SECONDS, AL(retry_max), .min = 1,
	.max = 86400, .def = "30m",
	.help = "longest retry delay (the delay doubles up to this)"},
    {.name = "give_up_after", .type = CFG_SECONDS, AL(give_up_after),
	.min = 60, .max = 30 * 86400, .def = "2d",
	.help = "stop retrying a notification this long after it was queued"},
    {.name = NULL},
};

static const struct cfg_key smtp_keys[] = {
    {.name = "server", .type = CFG_STRING, SM(server), .flags = CFG_REQUIRED,
	.help = "smtp://host[:port] (STARTTLS per 'starttls') or smtps://host[:port]"},
    {.name = "starttls", .type = CFG_ENUM, SM(starttls),
	.choices = "no|try|require", .def = "try",
	.help = "upgrade smtp:// connections with STARTTLS"},
    {.name = "username", .type = CFG_STRING, SM(username), .def = "",
	.help = "SMTP AUTH user (empty: no authentication)"},
    {.name = "password", .type = CFG_STRING, SM(password), .def = "",
	.flags = CFG_SECRET, .help = "SMTP AUTH password"},
    {.name = "from", .type = CFG_STRING, SM(from), .flags = CFG_REQUIRED,
	.help = "sender address, e.g. schoolnet@edu.example"},
    {.name = "timeout", .type = CFG_SECONDS, SM(timeout), .min = 1,
	.max = 600, .def = "30", .help = "seconds for one delivery attempt"},
    {.name = NULL},
};

static const struct cfg_key webhook_keys[] = {
    {.name = "url", .type = CFG_STRING, R(url), .flags = CFG_REQUIRED | CFG_SECRET,
	.help = "http(s) URL of the webhook (robot URLs carry their token)"},
    {.name = "format", .type = CFG_ENUM, R(format),
	.choices = "generic|wecom|dingtalk|feishu", .def = "generic",
	.help = "body format: generic JSON, 企业微信, 钉钉 or 飞书 group robot"},
    {.name = "secret", .type = CFG_STRING, R(secret), .def = "",
	.flags = CFG_SECRET,
	.help = "signing secret of a DingTalk or Feishu robot (加签)"},
    {.name = "lang", .type = CFG_ENUM, R(lang), .choices = "default|zh|en",
	.def = "default", .help = "language of this receiver's messages"},
    {.name = "towns", .type = CFG_STRING, R(towns), .def = "",
	.help = "comma-separated towns whose schools this receiver gets (empty: all)"},
    {.name = "schools", .type = CFG_STRING, R(schools), .def = "",
	.help = "comma-separated school codes this receiver gets (empty: all)"},
    {.name = "timeout", .type = CFG_SECONDS, R(timeout), .min = 1,
	.max = 600, .def = "10", .help = "seconds for one delivery attempt"},
    {.name = NULL},
};

static const struct cfg_key email_keys[] = {
    {.name = "to", .type = CFG_STRING, R(to), .flags = CFG_REQUIRED,
	.help = "comma-separated recipient addresses"},
    {.name = "lang", .type = CFG_ENUM, R(lang), .choices = "default|zh|en",
	.def = "default", .help = "language of this receiver's messages"},
    {.name = "towns", .type = CFG_STRING, R(towns), .def = "",
	.help = "comma-separated towns whose schools this receiver gets (empty: all)"},
    {.name = "schools", .type = CFG_STRING, R(schools), .def = "",
	.help = "comma-separated school codes this receiver gets (empty: all)"},
    {.name = NULL},
};

static const struct cfg_key probe_keys[] = {
    {.name = "listen", .type = CFG_STRING, PR(listen), .def = "[::]:7472",
	.help = "address:port of the probe server agents measure throughput against (plain HTTP), or off: no throughput tests"},
    {.name = "url", .type = CFG_STRING, PR(url), .def = "",
	.help = "base URL agents use for the probe server (empty: http://<the collector address the agent uses>:<listen port>)"},
    {.name = "throughput_every", .type = CFG_SECONDS, PR(throughput_every),
	.min = 0, .max = 366 * 86400, .def = "86400",
	.help = "time between scheduled throughput tests of a school; 0: on demand only"},
    {.name = "throughput_in_school_hours", .type = CFG_ENUM,
	PR(throughput_in_school_hours), .choices = "no|yes", .def = "no",
	.help = "yes: scheduled tests may also run in school hours (default: outside them only, by the calendar)"},
    {.name = "throughput_bytes", .type = CFG_INT, PR(throughput_bytes_mb),
	.min = 1, .max = 100000, .def = "100",
	.help = "MB per direction of one test, over all its streams"},
    {.name = "throughput_seconds", .type = CFG_SECONDS,
	PR(throughput_seconds), .min = 1, .max = 300, .def = "10",
	.help = "longest time of one direction of a test"},
    {.name = "throughput_streams", .type = CFG_INT, PR(throughput_streams),
	.min = 1, .max = WIRE_PROBE_MAX_STREAMS, .def = "4",
	.help = "parallel HTTP streams of a test"},
    {.name = "throughput_parallel", .type = CFG_INT,
	PR(throughput_parallel), .min = 1, .max = 64, .def = "1",
	.help = "tests running at once across the district (they share the collector's link)"},
    {.name = "throughput_budget", .type = CFG_INT, PR(throughput_budget_mb),
	.min = 0, .max = 100000000, .def = "5000",
	.help = "MB a school's tests may move per calendar month (metered links); 0: no limit"},
    {.name = "school_budgets", .type = CFG_STRING, PR(school_budgets),
	.def = "",
	.help = "per-school budgets instead of throughput_budget: CODE=MB, CODE=MB"},
    {.name = "throughput_min_percent", .type = CFG_REAL,
	PR(throughput_min_percent), .min = 0, .max = 100, .def = "70",
	.help = "alert when a test's download is below this % of the uplink's negotiated speed"},
    {.name = "check_interval", .type = CFG_SECONDS, PR(check_interval),
	.min = 1, .max = 86400, .def = "60",
	.help = "time between checks of each recording host"},
    {.name = "check_timeout", .type = CFG_SECONDS, PR(check_timeout),
	.min = 0.1, .max = 120, .def = "5",
	.help = "longest wait for a recording host's answer"},
    {.name = "latency_max_ms", .type = CFG_REAL, PR(latency_max_ms),
	.min = 0, .max = 60000, .def = "200",
	.help = "alert when a latency round's average RTT is above this in school hours; 0: off"},
    {.name = "loss_max_percent", .type = CFG_REAL, PR(loss_max_percent),
	.min = 0, .max = 100, .def = "5",
	.help = "alert when a latency round loses more than this % in school hours; 0: off"},
    {.name = NULL},
};

enum { SEC_COLLECTOR, SEC_POLICY, SEC_ALERTS, SEC_SMTP, SEC_WEBHOOK, SEC_EMAIL,
	SEC_PROBE };

const struct cfg_section_def collector_cfg_sections[] = {
    [SEC_COLLECTOR] = {.name = "collector", .required = 1,
	.keys = collector_keys, .help = "the district collector"},
    [SEC_POLICY] = {.name = "policy", .keys = policy_keys,
	.help = "the targets ports are checked against, and the school calendar"},
    [SEC_ALERTS] = {.name = "alerts", .keys = alerts_keys,
	.help = "when alerts open and clear, and how notifications are retried"},
    [SEC_SMTP] = {.name = "smtp", .keys = smtp_keys,
	.help = "mail server for [email NAME] receivers"},
    [SEC_WEBHOOK] = {.name = "webhook", .named = 1, .keys = webhook_keys,
	.help = "a webhook receiver (generic JSON, WeCom, DingTalk, Feishu)"},
    [SEC_EMAIL] = {.name = "email", .named = 1, .keys = email_keys,
	.help = "an e-mail receiver (needs [smtp])"},
    [SEC_PROBE] = {.name = "probe", .keys = probe_keys,
	.help = "link probes: throughput tests (probe server, schedule, budgets), recording-host checks, latency limits"},
    {.name = NULL},
};

/* URLs are checked by libcurl's own parser, with the schemes we send to. */
static int
check_url(const char *url, const char *const *schemes, char *why, size_t n)
{
	CURLU *u = curl_url();
	char *scheme = NULL;
	int ok = 0;

	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		snprintf(why, n, "not a valid URL");
	} else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK) {
		for (int i = 0; schemes[i]; i++)
			ok |= strcmp(scheme, schemes[i]) == 0;
		if (!ok)
			snprintf(why, n, "the URL must start with %s:// or %s://",
			    schemes[0], schemes[1]);
	}
	curl_free(scheme);
	curl_url_cleanup(u);
	return ok ? 0 : -1;
}

/* The next item of a comma-separated list, spaces trimmed: its start and
 * *len, or NULL at the end; *pp moves past it. */
static const char *
list_next(const char **pp, size_t *len)
{
	const char *p = *pp, *item;

	while (*p == ' ' || *p == ',')
		p++;
	if (*p == '\0')
		return NULL;
	item = p;
	*len = strcspn(p, ",");
	*pp = p + *len;
	while (*len > 0 && item[*len - 1] == ' ')
		(*len)--;
	return item;
}

/* "a@b.cn, c@d.cn": every item one address, nothing that could break a
 * mail header or an SMTP command. */
static int
check_addresses(const char *list)
{
	const char *p;
	size_t len;
	int n = 0;

	while ((p = list_next(&list, &len)) != NULL) {
		if (memchr(p, '@', len) == NULL || p[0] == '@' ||
		    p[len - 1] == '@')
			return -1;
		for (size_t i = 0; i < len; i++)
			if (strchr("<>\"\r\n ;()[]\\", p[i]))
				return -1;
		n++;
	}
	return n > 0 ? 0 : -1;
}

static void
check_receiver(const struct cfg_raw *raw, const struct cfg_raw_section *sec,
    const struct receiver_conf *r, struct cfg_err *e)
{
	static const char *const http[] = {"http", "https", NULL};
	char why[128];
	int line = sec->line;

	if (r->kind == RECEIVER_WEBHOOK) {
		cfg_raw_get(sec, "url", &line);
		if (check_url(r->url, http, why, sizeof(why)) != 0)
			cfg_error(e, raw->path, line, "[webhook %s] url: %s",
			    r->name, why);
		if (r->secret[0] && r->format != HOOK_DINGTALK &&
		    r->format != HOOK_FEISHU)
			cfg_error(e, raw->path, sec->line,
			    "[webhook %s]: 'secret' is for dingtalk and feishu "
			    "robots only",
			    r->name);
	} else if (check_addresses(r->to) != 0) {
		cfg_raw_get(sec, "to", &line);
		cfg_error(e, raw->path, line,
		    "[email %s] to: expected addresses like a@b.cn, c@d.cn",
		    r->name);
	}
}

/* "CODE=MB, CODE=MB" into pc->budgets; -1 with why. */
static int
parse_budgets(struct collector_probe_conf *pc, char *why, size_t n)
{
	const char *list = pc->school_budgets, *p;
	size_t len;

	while ((p = list_next(&list, &len)) != NULL) {
		struct school_budget *b;
		size_t eq;
		char num[32], *end;
		long mb;

		eq = strcspn(p, "=");
		if (eq >= len || eq == 0 || eq >= sizeof(b->code)) {
			snprintf(why, n, "'%.*s': expected CODE=MB", (int)len,
			    p);
			return -1;
		}
		for (size_t i = 0; i < eq; i++)
			if (!isalnum((unsigned char)p[i]) &&
			    !strchr("._-", p[i])) {
				snprintf(why, n, "'%.*s': a school code has "
						 "letters, digits, '.', '_' and "
						 "'-' only",
				    (int)eq, p);
				return -1;
			}
		snprintf(num, sizeof(num), "%.*s",
		    (int)(len - eq - 1 < sizeof(num) - 1 ? len - eq - 1
							 : sizeof(num) - 1),
		    p + eq + 1);
		errno = 0;
		mb = strtol(num, &end, 10);
		if (num[0] == '\0' || *end != '\0' || errno || mb < 0 ||
		    mb > 100000000) {
			snprintf(why, n, "'%.*s': MB must be a whole number "
					 "from 0 to 100000000",
			    (int)len, p);
			return -1;
		}
		for (size_t i = 0; i < pc->n_budgets; i++)
			if (strlen(pc->budgets[i].code) == eq &&
			    strncmp(pc->budgets[i].code, p, eq) == 0) {
				snprintf(why, n, "school %.*s given twice",
				    (int)eq, p);
				return -1;
			}
		pc->budgets = xreallocarray(pc->budgets, pc->n_budgets + 1,
		    sizeof(*pc->budgets));
		b = &pc->budgets[pc->n_budgets++];
		snprintf(b->code, sizeof(b->code), "%.*s", (int)eq, p);
		b->mb = mb;
	}
	return 0;
}

static void
check_probe(const struct cfg_raw *raw, const struct cfg_raw_section *sec,
    struct collector_probe_conf *pc, struct cfg_err *e)
{
	static const char *const http[] = {"http", "https", NULL};
	struct hostport hp;
	const char *reason;
	char why[160];
	int line = sec->line;

	cfg_raw_get(sec, "listen", &line);
	if (strcmp(pc->listen, "off") != 0 &&
	    hostport_parse(pc->listen, PROBE_DEFAULT_PORT, &hp, &reason) != 0)
		cfg_error(e, raw->path, line, "listen = %s: %s", pc->listen,
		    reason);
	line = sec->line;
	cfg_raw_get(sec, "url", &line);
	if (pc->url[0] && check_url(pc->url, http, why, sizeof(why)) != 0)
		cfg_error(e, raw->path, line, "url = %s: %s", pc->url, why);
	line = sec->line;
	cfg_raw_get(sec, "school_budgets", &line);
	if (parse_budgets(pc, why, sizeof(why)) != 0)
		cfg_error(e, raw->path, line, "school_budgets: %s", why);
	line = sec->line;
	cfg_raw_get(sec, "check_timeout", &line);
	if (pc->check_timeout > pc->check_interval)
		cfg_error(e, raw->path, line,
		    "check_timeout = %g: must not be longer than "
		    "check_interval (%g)",
		    pc->check_timeout, pc->check_interval);
}

long
probe_budget_mb(const struct collector_probe_conf *pc, const char *school)
{
	for (size_t i = 0; i < pc->n_budgets; i++)
		if (strcmp(pc->budgets[i].code, school) == 0)
			return pc->budgets[i].mb;
	return pc->throughput_budget_mb;
}

void
probe_conf_size(const struct collector_probe_conf *pc, struct probe_size *size)
{
	size->max_bytes = (uint64_t)pc->throughput_bytes_mb * 1000000;
	size->max_ms = (uint32_t)(pc->throughput_seconds * 1000);
	size->streams = (int)pc->throughput_streams;
}

int
collector_conf_load(const char *path, struct collector_conf *conf,
    struct cfg_err *e)
{
	static const char *const smtp_schemes[] = {"smtp", "smtps", NULL};
	struct cfg_raw raw;
	bool have_email = false;
	char why[128];
	int rc = -1;

	memset(conf, 0, sizeof(*conf));
	snprintf(conf->path, sizeof(conf->path), "%s", path);
	cfg_defaults(&collector_cfg_sections[SEC_POLICY], &conf->policy);
	cfg_defaults(&collector_cfg_sections[SEC_ALERTS], &conf->alerts);
	cfg_defaults(&collector_cfg_sections[SEC_PROBE], &conf->probe);
	if (cfg_read(path, collector_cfg_sections, &raw, e) != 0)
		goto out;
	for (size_t i = 0; i < raw.n_sections; i++) {
		struct cfg_raw_section *sec = &raw.sections[i];
		int which = (int)(sec->def - collector_cfg_sections);
		struct receiver_conf *r;

		switch (which) {
		case SEC_COLLECTOR:
			if (cfg_apply(&raw, sec, conf, e) != 0)
				break; /* the errors are in *e */
			if (conf->tls == 1 && (!conf->tls_cert[0] ||
						  !conf->tls_key[0] ||
						  !conf->tls_ca[0]))
				cfg_error(e, raw.path, sec->line,
				    "[collector]: tls = cert needs tls_cert, "
				    "tls_key and tls_ca");
			if (!conf->http_cert[0] != !conf->http_key[0])
				cfg_error(e, raw.path, sec->line,
				    "[collector]: HTTPS needs both http_cert "
				    "and http_key");
			break;
		case SEC_POLICY:
			if (cfg_apply(&raw, sec, &conf->policy, e) != 0)
				break;
			break;
		case SEC_ALERTS:
			if (cfg_apply(&raw, sec, &conf->alerts, e) == 0 &&
			    conf->alerts.retry_max < conf->alerts.retry_min)
				cfg_error(e, raw.path, sec->line,
				    "[alerts]: retry_max is below retry_min");
			break;
		case SEC_SMTP:
			conf->smtp.configured = true;
			if (cfg_apply(&raw, sec, &conf->smtp, e) == 0 &&
			    check_url(conf->smtp.server, smtp_schemes, why,
				sizeof(why)) != 0)
				cfg_error(e, raw.path, sec->line,
				    "[smtp] server: %s", why);
			break;
		case SEC_PROBE:
			if (cfg_apply(&raw, sec, &conf->probe, e) == 0)
				check_probe(&raw, sec, &conf->probe, e);
			break;
		case SEC_WEBHOOK:
		case SEC_EMAIL:
			conf->receivers = xreallocarray(conf->receivers,
			    conf->n_receivers + 1, sizeof(*conf->receivers));
			r = &conf->receivers[conf->n_receivers++];
			memset(r, 0, sizeof(*r));
			r->kind = which == SEC_WEBHOOK ? RECEIVER_WEBHOOK
						       : RECEIVER_EMAIL;
			have_email |= which == SEC_EMAIL;
			snprintf(r->name, sizeof(r->name), "%s", sec->name);
			if (cfg_apply(&raw, sec, r, e) == 0)
				check_receiver(&raw, sec, r, e);
			break;
		}
	}
	if (have_email && !conf->smtp.configured)
		cfg_error(e, raw.path, 0,
		    "[email ...] receivers need an [smtp] section");
	rc = e->count ? -1 : 0;
out:
	cfg_raw_free(&raw);
	if (rc != 0)
		collector_conf_free(conf);
	return rc;
}

void
collector_conf_free(struct collector_conf *conf)
{
	free(conf->receivers);
	conf->receivers = NULL;
	conf->n_receivers = 0;
	free(conf->probe.budgets);
	conf->probe.budgets = NULL;
	conf->probe.n_budgets = 0;
}

void
collector_conf_print(FILE *f, const struct collector_conf *conf)
{
	cfg_print(f, &collector_cfg_sections[SEC_COLLECTOR], NULL, conf);
	cfg_print(f, &collector_cfg_sections[SEC_POLICY], NULL, &conf->policy);
	cfg_print(f, &collector_cfg_sections[SEC_ALERTS], NULL, &conf->alerts);
	cfg_print(f, &collector_cfg_sections[SEC_PROBE], NULL, &conf->probe);
	if (conf->smtp.configured)
		cfg_print(f, &collector_cfg_sections[SEC_SMTP], NULL,
		    &conf->smtp);
	for (size_t i = 0; i < conf->n_receivers; i++) {
		const struct receiver_conf *r = &conf->receivers[i];

		cfg_print(f,
		    &collector_cfg_sections[r->kind == RECEIVER_WEBHOOK
			    ? SEC_WEBHOOK
			    : SEC_EMAIL],
		    r->name, r);
	}
}

/* Is needle one of the comma-separated items of list? */
static bool
list_has(const char *list, const char *needle)
{
	size_t n = strlen(needle), len;
	const char *p;

	while ((p = list_next(&list, &len)) != NULL)
		if (len == n && len > 0 && strncmp(p, needle, n) == 0)
			return true;
	return false;
}

bool
receiver_wants(const struct receiver_conf *r, const char *town,
    const char *school_code)
{
	if (r->towns[0] == '\0' && r->schools[0] == '\0')
		return true;
	return (town && list_has(r->towns, town)) ||
	    (school_code && list_has(r->schools, school_code));
}
