/* fuzz_config.c: the agent and collector config parsers, and print/reload. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "collector.h"
#include "fuzz_util.h"
#include "schoolnet/utf8.h"

/*
 * The input is a config file; both daemons' loaders read it. A file that
 * loads is printed (--print-config), and the printed text must load again
 * and print the same: the printer writes only what the parser accepts.
 *
 * Secrets print as ********, which would not load back as the same value,
 * so the text reloaded is printed from copies of the key tables without
 * CFG_SECRET; it is checked to differ from the real print only on those
 * lines.
 *
 * Two known limits of the printed form would stop the fuzzer on many
 * inputs; they are stepped around here, each in one place. Build with
 * -DFUZZ_STRICT_ROUNDTRIP to see them. (A third, empty optional file
 * values, is fixed: they load again.)
 *  2. printed lines can be longer than the 198 bytes a config line may
 *     have ("key = value" spacing, ports filled in, 1d -> 86400);
 *  3. a value that starts with ';' loads when written "key =;x" but prints
 *     as "key = ;x", which inih reads as an empty value and a comment.
 */

#define FUZZ_CFG_LINE_MAX 198 /* inih's INI_MAX_LINE (200) less "\n\0" */
#define FUZZ_MAX_SECTIONS 8
#define FUZZ_MAX_KEYS 32

/* A table of sections with their keys copied, CFG_SECRET cleared. */
struct shown {
	struct cfg_section_def defs[FUZZ_MAX_SECTIONS];
	struct cfg_key keys[FUZZ_MAX_SECTIONS][FUZZ_MAX_KEYS];
};

static struct shown agent_shown, collector_shown;

static void
shown_init(struct shown *s, const struct cfg_section_def *defs)
{
	size_t i, k;

	for (i = 0; defs[i].name; i++) {
		FUZZ_CHECK(i + 1 < FUZZ_MAX_SECTIONS, "too many sections");
		s->defs[i] = defs[i];
		for (k = 0; defs[i].keys[k].name; k++) {
			FUZZ_CHECK(k + 1 < FUZZ_MAX_KEYS, "too many keys");
			s->keys[i][k] = defs[i].keys[k];
			s->keys[i][k].flags &= ~(unsigned)CFG_SECRET;
		}
		s->defs[i].keys = s->keys[i];
	}
}

static const struct cfg_section_def *
shown_find(const struct shown *s, const char *name)
{
	for (size_t i = 0; s->defs[i].name; i++)
		if (strcmp(s->defs[i].name, name) == 0)
			return &s->defs[i];
	fuzz_fail("no section [%s] in the key table", name);
}

typedef void (*print_fn)(FILE *, const void *);

static char *
print_mem(print_fn fn, const void *conf)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	FUZZ_CHECK(f != NULL, "open_memstream failed");
	fn(f, conf);
	FUZZ_CHECK(fclose(f) == 0, "memstream close failed");
	return text;
}

static void
agent_print(FILE *f, const void *conf)
{
	agent_conf_print(f, conf);
}

/* agent_conf_print(), secrets shown. */
static void
agent_print_shown(FILE *f, const void *p)
{
	const struct agent_conf *conf = p;

	cfg_print(f, shown_find(&agent_shown, "agent"), NULL, conf);
	cfg_print(f, shown_find(&agent_shown, "probe"), NULL, &conf->probe);
	for (size_t i = 0; i < conf->n_switches; i++)
		cfg_print(f, shown_find(&agent_shown, "switch"),
		    conf->switches[i].name, &conf->switches[i]);
}

static void
collector_print(FILE *f, const void *conf)
{
	collector_conf_print(f, conf);
}

/* collector_conf_print(), secrets shown. */
static void
collector_print_shown(FILE *f, const void *p)
{
	const struct collector_conf *conf = p;

	cfg_print(f, shown_find(&collector_shown, "collector"), NULL, conf);
	cfg_print(
	    f, shown_find(&collector_shown, "policy"), NULL, &conf->policy);
	cfg_print(
	    f, shown_find(&collector_shown, "alerts"), NULL, &conf->alerts);
	cfg_print(f, shown_find(&collector_shown, "probe"), NULL, &conf->probe);
	if (conf->smtp.configured)
		cfg_print(
		    f, shown_find(&collector_shown, "smtp"), NULL, &conf->smtp);
	for (size_t i = 0; i < conf->n_receivers; i++) {
		const struct receiver_conf *r = &conf->receivers[i];

		cfg_print(f,
		    shown_find(&collector_shown,
		        r->kind == RECEIVER_WEBHOOK ? "webhook" : "email"),
		    r->name, r);
	}
}

/* Every text value of obj (a section's struct) fits its buffer. */
static void
check_fields(const struct shown *tables, const char *section, const void *obj)
{
	const struct cfg_section_def *def = shown_find(tables, section);

	for (const struct cfg_key *k = def->keys; k->name; k++) {
		const char *v = (const char *)obj + k->offset;

		if (k->type != CFG_STRING && k->type != CFG_NAME &&
		    k->type != CFG_PATH)
			continue;
		FUZZ_CHECK(memchr(v, '\0', k->size) != NULL &&
		        utf8_valid_label(v, strlen(v)),
		    "[%s] %s: not a terminated label within its %zu bytes",
		    section, k->name, k->size);
	}
}

/* The next line of *pp (without its newline), or NULL at the end. */
static const char *
next_line(const char **pp, size_t *n)
{
	const char *p = *pp;

	if (*p == '\0')
		return NULL;
	*n = strcspn(p, "\n");
	*pp = p + *n + (p[*n] == '\n');
	return p;
}

/* masked and shown must differ only where masked says ********. */
static void
check_masking(const char *masked, const char *shown)
{
	const char *m = masked, *s = shown, *ml, *sl;
	size_t mn, sn, kn;

	for (;;) {
		ml = next_line(&m, &mn);
		sl = next_line(&s, &sn);
		if (ml == NULL || sl == NULL) {
			FUZZ_CHECK(ml == NULL && sl == NULL,
			    "printed config and the copy with secrets shown "
			    "have different lines:\n%s\n---\n%s",
			    masked, shown);
			return;
		}
		if (mn == sn && memcmp(ml, sl, mn) == 0)
			continue;
		kn = strcspn(ml, "=");
		FUZZ_CHECK(mn > 11 &&
		        memcmp(ml + mn - 11, " = ********", 11) == 0 &&
		        kn + 10 == mn && sn > kn + 2 &&
		        memcmp(ml, sl, kn + 2) == 0,
		    "printed line '%.*s' is not '%.*s' masked", (int)mn, ml,
		    (int)sn, sl);
	}
}

/*
 * The text to load again: shown, less what findings 2 and 3 (above) trip
 * on. Returns NULL when the round trip has to be skipped.
 */
static char *
reload_text(const char *shown)
{
	const char *p = shown, *l;
	char *out = malloc(strlen(shown) + 1), *o = out;
	size_t n, kn;

	FUZZ_CHECK(out != NULL, "out of memory");
	while ((l = next_line(&p, &n)) != NULL) {
		if (n > FUZZ_CFG_LINE_MAX) {
#ifndef FUZZ_STRICT_ROUNDTRIP
			free(out); /* finding 2 */
			return NULL;
#endif
		}
		kn = strcspn(l, "=");
		if (*l != '[' && kn + 2 < n && l[kn + 1] == ' ' &&
		    l[kn + 2] == ';') {
#ifndef FUZZ_STRICT_ROUNDTRIP
			free(out); /* finding 3 */
			return NULL;
#endif
		}
		memcpy(o, l, n);
		o += n;
		*o++ = '\n';
	}
	*o = '\0';
	return out;
}

static void
roundtrip_agent(const struct agent_conf *conf)
{
	struct agent_conf again;
	struct cfg_err e;
	char *masked, *shown, *reload, *masked2;
	const char *path;

	check_fields(&agent_shown, "agent", conf);
	check_fields(&agent_shown, "probe", &conf->probe);
	for (size_t i = 0; i < conf->n_switches; i++)
		check_fields(&agent_shown, "switch", &conf->switches[i]);
	masked = print_mem(agent_print, conf);
	shown = print_mem(agent_print_shown, conf);
	check_masking(masked, shown);
	if ((reload = reload_text(shown)) != NULL) {
		path = fuzz_file(1, reload, strlen(reload));
		FUZZ_CHECK(agent_conf_load(path, &again, &e) == 0,
		    "printed agent config does not load:\n%s---\n%s", e.text,
		    reload);
		masked2 = print_mem(agent_print, &again);
		FUZZ_CHECK(strcmp(masked, masked2) == 0,
		    "agent config printed, loaded and printed again "
		    "changed:\n%s---\n%s",
		    masked, masked2);
		free(masked2);
		agent_conf_free(&again);
		free(reload);
	}
	free(shown);
	free(masked);
}

static void
roundtrip_collector(const struct collector_conf *conf)
{
	struct collector_conf again;
	struct cfg_err e;
	char *masked, *shown, *reload, *masked2;
	const char *path;

	check_fields(&collector_shown, "collector", conf);
	check_fields(&collector_shown, "policy", &conf->policy);
	check_fields(&collector_shown, "alerts", &conf->alerts);
	check_fields(&collector_shown, "probe", &conf->probe);
	check_fields(&collector_shown, "smtp", &conf->smtp);
	for (size_t i = 0; i < conf->n_receivers; i++)
		check_fields(&collector_shown,
		    conf->receivers[i].kind == RECEIVER_WEBHOOK ? "webhook"
		                                                : "email",
		    &conf->receivers[i]);
	masked = print_mem(collector_print, conf);
	shown = print_mem(collector_print_shown, conf);
	check_masking(masked, shown);
	if ((reload = reload_text(shown)) != NULL) {
		path = fuzz_file(1, reload, strlen(reload));
		FUZZ_CHECK(collector_conf_load(path, &again, &e) == 0,
		    "printed collector config does not load:\n%s---\n%s",
		    e.text, reload);
		masked2 = print_mem(collector_print, &again);
		FUZZ_CHECK(strcmp(masked, masked2) == 0,
		    "collector config printed, loaded and printed again "
		    "changed:\n%s---\n%s",
		    masked, masked2);
		free(masked2);
		collector_conf_free(&again);
		free(reload);
	}
	free(shown);
	free(masked);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	static struct agent_conf ac;
	static struct collector_conf cc;
	static struct cfg_err e;
	const char *path;

	if (!ready) {
		shown_init(&agent_shown, agent_cfg_sections);
		shown_init(&collector_shown, collector_cfg_sections);
		ready = 1;
	}
	path = fuzz_file(0, data, size);

	if (agent_conf_load(path, &ac, &e) == 0) {
		FUZZ_CHECK(e.count == 0, "agent config loaded with errors");
		FUZZ_CHECK(ac.n_switches > 0 && ac.school[0] && ac.name[0],
		    "agent config loaded without school or switch");
		roundtrip_agent(&ac);
		agent_conf_free(&ac);
	} else {
		FUZZ_CHECK(
		    e.count > 0 && e.text[0] != '\0' && ac.switches == NULL,
		    "agent config refused without a reason");
	}

	if (collector_conf_load(path, &cc, &e) == 0) {
		FUZZ_CHECK(e.count == 0, "collector config loaded with errors");
		roundtrip_collector(&cc);
		collector_conf_free(&cc);
	} else {
		FUZZ_CHECK(
		    e.count > 0 && e.text[0] != '\0' && cc.receivers == NULL,
		    "collector config refused without a reason");
	}
	return 0;
}
