/* collector_config.c: the collector's config keys (one table). */
#include <stddef.h>
#include <string.h>

#include "collector.h"

#define C(field) offsetof(struct collector_conf, field), sizeof(((struct collector_conf *)0)->field)

static const struct cfg_key collector_keys[] = {
    {.name = "listen", .type = CFG_HOSTPORT, C(listen),
	.defport = COLLECTOR_DEFAULT_PORT, .def = "0.0.0.0:7470",
	.help = "address:port where agents connect"},
    {.name = "database", .type = CFG_PATH, C(database),
	.def = "/var/lib/schoolnet/collector.db",
	.help = "SQLite database file (WAL mode; keep it on local disk)"},
    {.name = "http", .type = CFG_HOSTPORT, C(http), .defport = 8080,
	.def = "127.0.0.1:8080",
	.help = "address:port for the dashboard and JSON API (not served yet)"},
    {.name = "max_connections", .type = CFG_INT, C(max_connections),
	.min = 1, .max = 100000, .def = "4096",
	.help = "agent connections held at once; more are refused"},
    {.name = "batch_max", .type = CFG_INT, C(batch_max), .min = 1,
	.max = 100000, .def = "2000",
	.help = "reports written per SQLite transaction at most"},
    {.name = "queue_max", .type = CFG_INT, C(queue_max), .min = 1,
	.max = 1000000, .def = "20000",
	.help = "reports waiting for the writer before agents are paused"},
    {.name = "hello_timeout", .type = CFG_SECONDS, C(hello_timeout),
	.min = 0.5, .max = 300, .def = "10",
	.help = "seconds a new connection has to introduce itself"},
    {.name = NULL},
};

const struct cfg_section_def collector_cfg_sections[] = {
    {.name = "collector", .required = 1, .keys = collector_keys,
	.help = "the district collector"},
    {.name = NULL},
};

int
collector_conf_load(const char *path, struct collector_conf *conf,
    struct cfg_err *e)
{
	struct cfg_raw raw;
	int rc = -1;

	memset(conf, 0, sizeof(*conf));
	snprintf(conf->path, sizeof(conf->path), "%s", path);
	if (cfg_read(path, collector_cfg_sections, &raw, e) == 0 &&
	    cfg_apply(&raw, &raw.sections[0], conf, e) == 0)
		rc = 0;
	cfg_raw_free(&raw);
	return rc;
}

void
collector_conf_print(FILE *f, const struct collector_conf *conf)
{
	cfg_print(f, &collector_cfg_sections[0], NULL, conf);
}
