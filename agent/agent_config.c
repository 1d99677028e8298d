/* agent_config.c: the agent's config keys (one table) and their checks. */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "schoolnet/mem.h"
#include "schoolnet/tls.h"

#define A(field) offsetof(struct agent_conf, field), sizeof(((struct agent_conf *)0)->field)
#define S(field) offsetof(struct switch_conf, field), sizeof(((struct switch_conf *)0)->field)
#define P(field) offsetof(struct probe_conf, field), sizeof(((struct probe_conf *)0)->field)

static const struct cfg_key agent_keys[] = {
    {.name = "school", .type = CFG_NAME, A(school), .flags = CFG_REQUIRED,
	.help = "code of the school this agent reports for (inventory school_code)"},
    {.name = "name", .type = CFG_NAME, A(name), .def = "",
	.help = "agent identity at the collector (default: the school code)"},
    {.name = "collector", .type = CFG_HOSTPORT, A(collector),
	.defport = AGENT_DEFAULT_PORT, .flags = CFG_REQUIRED,
	.help = "collector address, host[:port] (default port 7470)"},
    {.name = "spool", .type = CFG_PATH, A(spool),
	.def = "/var/lib/schoolnet/agent-spool.db",
	.help = "SQLite file holding reports until the collector has stored them"},
    {.name = "poll_interval", .type = CFG_SECONDS, A(poll_interval),
	.min = 1, .max = 3600, .def = "60",
	.help = "seconds between polls of each switch"},
    {.name = "timeout", .type = CFG_SECONDS, A(timeout), .min = 0.1,
	.max = 60, .def = "2", .help = "seconds to wait for each SNMP answer"},
    {.name = "retries", .type = CFG_INT, A(retries), .min = 0, .max = 10,
	.def = "2", .help = "SNMP retries after a timeout"},
    {.name = "max_inflight", .type = CFG_INT, A(max_inflight), .min = 1,
	.max = 1024, .def = "64",
	.help = "SNMP requests outstanding over all switches at once"},
    {.name = "send_window", .type = CFG_INT, A(send_window), .min = 1,
	.max = 4096, .def = "64",
	.help = "reports sent to the collector before waiting for its ACK"},
    {.name = "spool_max", .type = CFG_INT, A(spool_max), .min = 1,
	.max = 100000, .def = "512",
	.help = "spool size in MB; when full the oldest unsent reports are dropped and counted"},
    {.name = "replay_rate", .type = CFG_INT, A(replay_rate), .min = 1,
	.max = 100000, .def = "200",
	.help = "reports per second sent when catching up after an outage"},
    {.name = "keepalive", .type = CFG_SECONDS, A(keepalive), .min = 1,
	.max = 3600, .def = "30",
	.help = "seconds of silence after which the agent checks the link with a PING"},
    {.name = "tls", .type = CFG_ENUM, A(tls), .choices = "psk|cert|off",
	.def = "psk",
	.help = "TLS 1.3 to the collector: a pre-shared key (enroll), certificates, or off"},
    {.name = "psk_identity", .type = CFG_STRING, A(psk_identity), .def = "",
	.help = "tls = psk: the identity 'schoolnet-collector enroll' printed"},
    {.name = "psk_key", .type = CFG_STRING, A(psk_key), .def = "",
	.flags = CFG_SECRET,
	.help = "tls = psk: the key 'schoolnet-collector enroll' printed (hex)"},
    {.name = "tls_cert", .type = CFG_PATH, A(tls_cert), .def = "",
	.help = "tls = cert: this agent's certificate (PEM, CN = the school code)"},
    {.name = "tls_key", .type = CFG_PATH, A(tls_key), .def = "",
	.help = "tls = cert: its private key (PEM)"},
    {.name = "tls_ca", .type = CFG_PATH, A(tls_ca), .def = "",
	.help = "tls = cert: the CA that signed the collector's certificate"},
    {.name = "server_name", .type = CFG_STRING, A(server_name), .def = "",
	.help = "tls = cert: the name in the collector's certificate (default: the collector host)"},
    {.name = NULL},
};

static const struct cfg_key switch_keys[] = {
    {.name = "address", .type = CFG_HOSTPORT, S(address), .defport = 161,
	.flags = CFG_REQUIRED, .help = "switch management address, host[:port]"},
    {.name = "version", .type = CFG_ENUM, S(version), .choices = "2c|3",
	.def = "2c", .help = "SNMP version"},
    {.name = "community", .type = CFG_STRING, S(community), .def = "public",
	.flags = CFG_SECRET, .help = "SNMPv2c community"},
    {.name = "user", .type = CFG_STRING, S(user), .def = "",
	.help = "SNMPv3 user (securityName)"},
    {.name = "auth_protocol", .type = CFG_ENUM, S(auth_protocol),
	.choices = "MD5|SHA|SHA-224|SHA-256|SHA-384|SHA-512", .def = "SHA",
	.help = "SNMPv3 authentication protocol"},
    {.name = "auth_key", .type = CFG_STRING, S(auth_key), .def = "",
	.flags = CFG_SECRET,
	.help = "SNMPv3 authentication passphrase (8+ characters; empty: noAuthNoPriv)"},
    {.name = "priv_protocol", .type = CFG_ENUM, S(priv_protocol),
	.choices = "DES|AES", .def = "AES",
	.help = "SNMPv3 privacy protocol (AES is AES-128-CFB)"},
    {.name = "priv_key", .type = CFG_STRING, S(priv_key), .def = "",
	.flags = CFG_SECRET,
	.help = "SNMPv3 privacy passphrase (8+ characters; empty: authNoPriv)"},
    {.name = "max_inflight", .type = CFG_INT, S(max_inflight), .min = 1,
	.max = 8, .def = "1",
	.help = "requests outstanding to this switch at once (columns are split into this many walks)"},
    {.name = "max_repetitions", .type = CFG_INT, S(max_repetitions),
	.min = 1, .max = 100, .def = "10",
	.help = "GETBULK max-repetitions (rows per column per request)"},
    {.name = NULL},
};

static const struct cfg_key probe_keys[] = {
    {.name = "targets", .type = CFG_STRING, P(targets), .def = "collector",
	.help = "LABEL=HOST:PORT, ... (at most 16) to time TCP connects to; "
		"'collector' alone is the collector's address, 'none' turns "
		"probing off"},
    {.name = "interval", .type = CFG_SECONDS, P(interval), .min = 10,
	.max = 86400, .def = "60",
	.help = "seconds between rounds to each target"},
    {.name = "count", .type = CFG_INT, P(count), .min = 1, .max = 20,
	.def = "5", .help = "TCP connects in a round"},
    {.name = "spacing", .type = CFG_SECONDS, P(spacing), .min = 0,
	.max = 10, .def = "200ms",
	.help = "time between the connects of a round"},
    {.name = "timeout", .type = CFG_SECONDS, P(timeout), .min = 0.01,
	.max = 60, .def = "2",
	.help = "seconds a connect may take before it counts as lost"},
    {.name = NULL},
};

const struct cfg_section_def agent_cfg_sections[] = {
    {.name = "agent", .required = 1, .keys = agent_keys,
	.help = "this agent and where it reports"},
    {.name = "switch", .named = 1, .required = 1, .keys = switch_keys,
	.help = "one switch to poll; NAME is how reports and the inventory call it"},
    {.name = "probe", .keys = probe_keys,
	.help = "link probes: TCP-connect latency and loss to a few targets"},
    {.name = NULL},
};

#define SEC_AGENT (&agent_cfg_sections[0])
#define SEC_SWITCH (&agent_cfg_sections[1])
#define SEC_PROBE (&agent_cfg_sections[2])

static void
check_switch(const struct cfg_raw *raw, const struct cfg_raw_section *sec,
    const struct switch_conf *sw, struct cfg_err *e)
{
	if (sw->version == SNMP_V3) {
		if (sw->user[0] == '\0')
			cfg_error(e, raw->path, sec->line,
			    "[switch %s]: version 3 needs 'user'", sw->name);
		if (sw->auth_key[0] && strlen(sw->auth_key) < 8)
			cfg_error(e, raw->path, sec->line,
			    "[switch %s]: auth_key must have at least 8 characters",
			    sw->name);
		if (sw->priv_key[0] && strlen(sw->priv_key) < 8)
			cfg_error(e, raw->path, sec->line,
			    "[switch %s]: priv_key must have at least 8 characters",
			    sw->name);
		if (sw->priv_key[0] && !sw->auth_key[0])
			cfg_error(e, raw->path, sec->line,
			    "[switch %s]: priv_key needs auth_key (authPriv)",
			    sw->name);
	} else if (sw->user[0] || sw->auth_key[0] || sw->priv_key[0]) {
		cfg_error(e, raw->path, sec->line,
		    "[switch %s]: user/auth_key/priv_key need 'version = 3'",
		    sw->name);
	}
}

static bool
probe_label_ok(const char *s, size_t n)
{
	if (n == 0 || n > WIRE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

/* One item of [probe] targets: "collector" or LABEL=HOST:PORT. */
static void
probe_item(struct agent_conf *c, const char *item, const char *path,
    int line, struct cfg_err *e)
{
	const char *eq = strchr(item, '='), *why;
	struct probe_target *t;
	struct hostport hp;
	char addr[WIRE_ADDR_MAX + 64];

	if (c->n_probe_targets == AGENT_PROBE_TARGETS_MAX) {
		cfg_error(e, path, line, "[probe] targets: more than %d",
		    AGENT_PROBE_TARGETS_MAX);
		return;
	}
	if (eq == NULL && strcmp(item, "collector") != 0) {
		cfg_error(e, path, line,
		    "[probe] targets: '%s' is not LABEL=HOST:PORT (or "
		    "'collector')", item);
		return;
	}
	if (eq && !probe_label_ok(item, (size_t)(eq - item))) {
		cfg_error(e, path, line,
		    "[probe] targets: label '%.*s': use 1-%d letters, digits, "
		    "'.', '_' and '-'", (int)(eq - item), item, WIRE_NAME_MAX);
		return;
	}
	if (eq == NULL) {
		hp = c->collector;
	} else if (hostport_parse(eq + 1, 0, &hp, &why) != 0) {
		cfg_error(e, path, line, "[probe] targets: %s: %s", item, why);
		return;
	}
	hostport_format(&hp, addr, sizeof(addr));
	if (strlen(addr) > WIRE_ADDR_MAX) {
		cfg_error(e, path, line,
		    "[probe] targets: %s: longer than %d bytes", addr,
		    WIRE_ADDR_MAX);
		return;
	}
	t = &c->probe_targets[c->n_probe_targets];
	memset(t, 0, sizeof(*t));
	snprintf(t->label, sizeof(t->label), "%.*s",
	    eq ? (int)(eq - item) : (int)strlen(item), item);
	snprintf(t->host, sizeof(t->host), "%s", hp.host);
	t->port = hp.port;
	for (size_t i = 0; i < c->n_probe_targets; i++)
		if (strcmp(c->probe_targets[i].label, t->label) == 0) {
			cfg_error(e, path, line,
			    "[probe] targets: label '%s' twice", t->label);
			return;
		}
	c->n_probe_targets++;
}

/*
 * [probe] targets into c->probe_targets (written back in canonical form),
 * and a round must fit its interval. Errors point at line (the targets
 * key) or sec_line (the section; 0 when the file has none).
 */
static void
check_probe(struct agent_conf *c, const char *path, int sec_line, int line,
    struct cfg_err *e)
{
	struct probe_conf *pc = &c->probe;
	char list[sizeof(pc->targets)], *item, *save = NULL;
	char canon[sizeof(pc->targets)];
	uint64_t round_ms, every_ms;
	int before = e->count;
	size_t len = 0;

	c->n_probe_targets = 0;
	snprintf(list, sizeof(list), "%s", pc->targets);
	for (item = strtok_r(list, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		char *end = item + strlen(item);

		while (isspace((unsigned char)*item))
			item++;
		while (end > item && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (strcmp(item, "none") == 0 && c->n_probe_targets == 0 &&
		    strtok_r(NULL, ",", &save) == NULL)
			return; /* probing off */
		if (*item == '\0' || strcmp(item, "none") == 0) {
			cfg_error(e, path, line, "[probe] targets: %s",
			    *item ? "'none' must stand alone"
				  : "an empty item");
			return;
		}
		probe_item(c, item, path, line, e);
		if (e->count > before)
			return;
	}
	if (c->n_probe_targets == 0) {
		cfg_error(e, path, line,
		    "[probe] targets: empty (write 'none' to turn probing off)");
		return;
	}
	/* As tcp_prober_new counts it: the last connect starts after
	 * (count - 1) spacings and may take the whole timeout. */
	round_ms = (uint64_t)(pc->count - 1) * probe_ms(pc->spacing) +
	    probe_ms(pc->timeout);
	every_ms = probe_ms(pc->interval);
	if (round_ms > every_ms)
		cfg_error(e, path, sec_line,
		    "[probe]: a round (%ld connects %g s apart, each given "
		    "%g s) takes up to %g s, longer than interval (%g s)",
		    pc->count, pc->spacing, pc->timeout, round_ms / 1000.0,
		    pc->interval);
	/* Canonical: what --print-config shows and a reload compares. It adds
	 * ", " between items: a list near the cap could come out longer
	 * than it went in, and a list cut short would not parse the same. */
	for (size_t i = 0; i < c->n_probe_targets; i++) {
		const struct probe_target *t = &c->probe_targets[i];
		char addr[WIRE_ADDR_MAX + 1];
		int n;

		agent_probe_target_name(c, i, addr, sizeof(addr));
		if (strcmp(t->label, "collector") == 0 &&
		    strcmp(t->host, c->collector.host) == 0 &&
		    t->port == c->collector.port)
			n = snprintf(canon + len, sizeof(canon) - len,
			    "%scollector", i ? ", " : "");
		else
			n = snprintf(canon + len, sizeof(canon) - len,
			    "%s%s=%s", i ? ", " : "", t->label, addr);
		if (n < 0 || (size_t)n >= sizeof(canon) - len) {
			cfg_error(e, path, line,
			    "[probe] targets: longer than %zu bytes once "
			    "written out (\", \" between items)",
			    sizeof(pc->targets) - 1);
			return;
		}
		len += (size_t)n;
	}
	memcpy(pc->targets, canon, len + 1);
}

void
agent_probe_target_name(const struct agent_conf *conf, size_t i, char *buf,
    size_t size)
{
	struct hostport hp;

	memset(&hp, 0, sizeof(hp));
	snprintf(hp.host, sizeof(hp.host), "%s", conf->probe_targets[i].host);
	hp.port = conf->probe_targets[i].port;
	hostport_format(&hp, buf, (int)size);
}

uint32_t
probe_ms(double seconds)
{
	double ms = seconds * 1000.0 + 0.5;

	return ms >= UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

int
agent_conf_check_tls(const struct agent_conf *c, struct cfg_err *e)
{
	uint8_t key[TLS_PSK_MAX];
	int before = e->count;

	if (c->tls == TLS_MODE_PSK &&
	    (c->psk_identity[0] == '\0' || c->psk_key[0] == '\0'))
		cfg_error(e, c->path, c->agent_line,
		    "[agent]: tls = psk needs psk_identity and psk_key: run "
		    "'schoolnet-collector enroll --school %s' on the collector "
		    "and paste the lines it prints (or set tls = off)",
		    c->school);
	else if (c->tls == TLS_MODE_PSK &&
	    tls_hex_decode(c->psk_key, key, sizeof(key)) < 16)
		cfg_error(e, c->path, c->agent_line,
		    "[agent]: psk_key must be the hex key enroll printed");
	if (c->tls == TLS_MODE_CERT &&
	    (!c->tls_cert[0] || !c->tls_key[0] || !c->tls_ca[0]))
		cfg_error(e, c->path, c->agent_line,
		    "[agent]: tls = cert needs tls_cert, tls_key and tls_ca");
	return e->count > before ? -1 : 0;
}

int
agent_conf_load(const char *path, struct agent_conf *conf, struct cfg_err *e)
{
	struct cfg_raw raw;
	const struct cfg_raw_section *probe = NULL;
	int rc = -1, probe_line = 0;

	memset(conf, 0, sizeof(*conf));
	snprintf(conf->path, sizeof(conf->path), "%s", path);
	cfg_defaults(SEC_PROBE, &conf->probe);
	if (cfg_read(path, agent_cfg_sections, &raw, e) != 0)
		goto out;
	for (size_t i = 0; i < raw.n_sections; i++) {
		struct cfg_raw_section *sec = &raw.sections[i];
		struct switch_conf *sw;

		if (sec->def == SEC_PROBE) {
			probe = sec;
			if (cfg_apply(&raw, sec, &conf->probe, e) != 0)
				probe = NULL; /* said why already */
			continue;
		}
		if (sec->def == SEC_AGENT) {
			if (cfg_apply(&raw, sec, conf, e) == 0) {
				if (conf->name[0] == '\0')
					memcpy(conf->name, conf->school,
					    sizeof(conf->name));
				conf->agent_line = sec->line;
			}
			continue;
		}
		conf->switches = xreallocarray(conf->switches,
		    conf->n_switches + 1, sizeof(*conf->switches));
		sw = &conf->switches[conf->n_switches++];
		memset(sw, 0, sizeof(*sw));
		snprintf(sw->name, sizeof(sw->name), "%s", sec->name);
		if (cfg_apply(&raw, sec, sw, e) == 0)
			check_switch(&raw, sec, sw, e);
	}
	/* Targets need the collector's address: after [agent], and only
	 * when it and [probe] read well. */
	if (e->count == 0) {
		if (probe == NULL || cfg_raw_get(probe, "targets",
					 &probe_line) == NULL)
			probe_line = probe ? probe->line : 0;
		check_probe(conf, path, probe ? probe->line : 0, probe_line, e);
	}
	rc = e->count ? -1 : 0;
out:
	cfg_raw_free(&raw);
	if (rc != 0)
		agent_conf_free(conf);
	return rc;
}

void
agent_conf_free(struct agent_conf *conf)
{
	free(conf->switches);
	conf->switches = NULL;
	conf->n_switches = 0;
}

void
agent_conf_print(FILE *f, const struct agent_conf *conf)
{
	cfg_print(f, SEC_AGENT, NULL, conf);
	cfg_print(f, SEC_PROBE, NULL, &conf->probe);
	for (size_t i = 0; i < conf->n_switches; i++)
		cfg_print(f, SEC_SWITCH, conf->switches[i].name,
		    &conf->switches[i]);
}
