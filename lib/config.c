/* config.c: INI reading (inih) and table-driven checking of config keys. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "schoolnet/config.h"
#include "schoolnet/mem.h"
#include "schoolnet/utf8.h"

#define CFG_NAME_MAX 63

struct parse_state {
	FILE *fp;
	int line;
	const struct cfg_section_def *defs;
	struct cfg_raw *raw;
	struct cfg_err *e;
	struct cfg_raw_section *cur;
	int skip; /* the current section was refused: ignore its keys */
};

void
cfg_error(struct cfg_err *e, const char *path, int line, const char *fmt, ...)
{
	size_t used = strlen(e->text);
	char msg[512];
	va_list ap;

	e->count++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (used >= sizeof(e->text) - 1)
		return;
	if (line > 0)
		snprintf(e->text + used, sizeof(e->text) - used, "%s:%d: %s\n",
		    path, line, msg);
	else
		snprintf(e->text + used, sizeof(e->text) - used, "%s: %s\n",
		    path, msg);
}

static int
valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return 0;
	return 1;
}

static const struct cfg_section_def *
find_def(const struct cfg_section_def *defs, const char *name)
{
	for (; defs->name; defs++)
		if (strcmp(defs->name, name) == 0)
			return defs;
	return NULL;
}

static const struct cfg_key *
find_key(const struct cfg_section_def *def, const char *name)
{
	for (const struct cfg_key *k = def->keys; k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

static char *
trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* A "[type name]" line: open the section in the raw result. */
static void
section_begin(struct parse_state *st, char *text)
{
	struct cfg_raw *raw = st->raw;
	const struct cfg_section_def *def;
	struct cfg_raw_section *sec;
	char *type, *name, *close = strchr(text, ']');

	st->cur = NULL;
	st->skip = 1;
	if (close == NULL)
		return; /* inih reports the syntax error */
	*close = '\0';
	type = trim(text + 1);
	name = type + strcspn(type, " \t");
	if (*name) {
		*name++ = '\0';
		name = trim(name);
	}
	if ((def = find_def(st->defs, type)) == NULL) {
		cfg_error(st->e, raw->path, st->line, "unknown section [%s]",
		    type);
		return;
	}
	if (def->named && *name == '\0') {
		cfg_error(st->e, raw->path, st->line,
		    "section [%s] needs a name: [%s NAME]", type, type);
		return;
	}
	if (!def->named && *name) {
		cfg_error(st->e, raw->path, st->line,
		    "section [%s] takes no name", type);
		return;
	}
	if (def->named && !valid_name(name, CFG_NAME_MAX)) {
		cfg_error(st->e, raw->path, st->line,
		    "bad %s name '%s': use 1-%d letters, digits, '.', '_', '-'",
		    type, name, CFG_NAME_MAX);
		return;
	}
	for (size_t i = 0; i < raw->n_sections; i++) {
		sec = &raw->sections[i];
		if (sec->def == def &&
		    (!def->named || strcmp(sec->name, name) == 0)) {
			cfg_error(st->e, raw->path, st->line,
			    "section [%s%s%s] repeats the one on line %d",
			    type, def->named ? " " : "", name, sec->line);
			return;
		}
	}
	raw->sections = xreallocarray(raw->sections, raw->n_sections + 1,
	    sizeof(*raw->sections));
	sec = &raw->sections[raw->n_sections++];
	memset(sec, 0, sizeof(*sec));
	sec->def = def;
	sec->name = def->named ? xstrdup(name) : NULL;
	sec->line = st->line;
	st->cur = sec;
	st->skip = 0;
}

/* inih's line source: counts lines and spots section headers on the way. */
static char *
cfg_reader(char *str, int num, void *stream)
{
	struct parse_state *st = stream;
	size_t len;
	char *p;
	int c;

	if (fgets(str, num, st->fp) == NULL)
		return NULL;
	st->line++;
	len = strlen(str);
	if (len == (size_t)num - 1 && str[len - 1] != '\n' && !feof(st->fp)) {
		cfg_error(st->e, st->raw->path, st->line,
		    "line longer than %d characters", num - 2);
		while ((c = fgetc(st->fp)) != EOF && c != '\n')
			;
		str[0] = '\0'; /* hand inih an empty line instead */
		return str;
	}
	p = str;
	if (st->line == 1 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (isspace((unsigned char)*p) && *p != '\n')
		p++;
	/*
	 * inih (as Debian builds it) glues an indented line onto the previous
	 * value; no key here spans lines, so hand it every line unindented.
	 */
	if (p != str)
		memmove(str, p, strlen(p) + 1);
	p = str;
	if (*p == '[') {
		char copy[512];

		snprintf(copy, sizeof(copy), "%s", p);
		section_begin(st, copy);
	}
	return str;
}

static int
cfg_handler(void *user, const char *section, const char *key,
    const char *value)
{
	struct parse_state *st = user;
	struct cfg_raw_section *sec = st->cur;

	(void)section;
	if (st->skip)
		return 1;
	if (sec == NULL) {
		cfg_error(st->e, st->raw->path, st->line,
		    "'%s' is outside any [section]", key);
		return 1;
	}
	if (find_key(sec->def, key) == NULL) {
		cfg_error(st->e, st->raw->path, st->line,
		    "unknown key '%s' in [%s]", key, sec->def->name);
		return 1;
	}
	for (size_t i = 0; i < sec->n_entries; i++) {
		if (strcmp(sec->entries[i].key, key) == 0) {
			cfg_error(st->e, st->raw->path, st->line,
			    "'%s' repeats line %d", key, sec->entries[i].line);
			return 1;
		}
	}
	sec->entries = xreallocarray(sec->entries, sec->n_entries + 1,
	    sizeof(*sec->entries));
	sec->entries[sec->n_entries].key = xstrdup(key);
	sec->entries[sec->n_entries].value = xstrdup(value);
	sec->entries[sec->n_entries].line = st->line;
	sec->n_entries++;
	return 1;
}

int
cfg_read(const char *path, const struct cfg_section_def *defs,
    struct cfg_raw *raw, struct cfg_err *e)
{
	struct parse_state st;
	int rc, before;

	memset(raw, 0, sizeof(*raw));
	memset(e, 0, sizeof(*e));
	raw->path = xstrdup(path);
	memset(&st, 0, sizeof(st));
	st.defs = defs;
	st.raw = raw;
	st.e = e;
	if ((st.fp = fopen(path, "r")) == NULL) {
		cfg_error(e, path, 0, "cannot open: %s", strerror(errno));
		return -1;
	}
	rc = ini_parse_stream(cfg_reader, &st, cfg_handler, &st);
	fclose(st.fp);
	if (rc > 0)
		cfg_error(e, path, rc,
		    "syntax error: expected '[section]' or 'key = value'");
	else if (rc < 0)
		cfg_error(e, path, 0, "cannot read the file");
	before = e->count;
	for (const struct cfg_section_def *d = defs; d->name; d++) {
		int seen = 0;

		for (size_t i = 0; i < raw->n_sections; i++)
			seen |= raw->sections[i].def == d;
		if (d->required && !seen && before == 0)
			cfg_error(e, path, 0, "missing section [%s%s]",
			    d->name, d->named ? " NAME" : "");
	}
	return e->count ? -1 : 0;
}

void
cfg_raw_free(struct cfg_raw *raw)
{
	for (size_t i = 0; i < raw->n_sections; i++) {
		struct cfg_raw_section *sec = &raw->sections[i];

		for (size_t j = 0; j < sec->n_entries; j++) {
			free(sec->entries[j].key);
			free(sec->entries[j].value);
		}
		free(sec->entries);
		free(sec->name);
	}
	free(raw->sections);
	free(raw->path);
	memset(raw, 0, sizeof(*raw));
}

const char *
cfg_raw_get(const struct cfg_raw_section *sec, const char *key, int *line)
{
	for (size_t i = 0; i < sec->n_entries; i++) {
		if (strcmp(sec->entries[i].key, key) == 0) {
			if (line)
				*line = sec->entries[i].line;
			return sec->entries[i].value;
		}
	}
	return NULL;
}

int
cfg_parse_seconds(const char *v, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (end == v || errno || !isfinite(d))
		return -1;
	if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
		;
	else if (strcmp(end, "ms") == 0)
		d /= 1000;
	else if (strcmp(end, "m") == 0)
		d *= 60;
	else if (strcmp(end, "h") == 0)
		d *= 3600;
	else if (strcmp(end, "d") == 0)
		d *= 86400;
	else
		return -1;
	*out = d;
	return 0;
}

static int
enum_index(const char *choices, const char *v)
{
	size_t vlen = strlen(v);
	int i = 0;

	for (const char *p = choices; *p; i++) {
		size_t n = strcspn(p, "|");

		if (n == vlen && strncasecmp(p, v, n) == 0)
			return i;
		p += n;
		if (*p == '|')
			p++;
	}
	return -1;
}

static void
enum_name(const char *choices, int idx, char *buf, size_t size)
{
	const char *p = choices;
	size_t n;

	for (int i = 0; i < idx && *p; i++) {
		p += strcspn(p, "|");
		if (*p == '|')
			p++;
	}
	n = strcspn(p, "|");
	snprintf(buf, size, "%.*s", (int)n, p);
}

/* Parse one value into obj; on failure write the reason into why. */
static int
parse_value(const struct cfg_key *k, const char *v, void *obj, char *why,
    size_t whysize)
{
	char *dst = (char *)obj + k->offset;
	const char *reason;
	char *end;
	double d;
	long l;
	int idx;

	switch (k->type) {
	case CFG_STRING:
	case CFG_PATH:
	case CFG_NAME:
		if (strlen(v) >= k->size) {
			snprintf(why, whysize, "longer than %zu bytes",
			    k->size - 1);
			return -1;
		}
		if (k->type == CFG_NAME && !valid_name(v, k->size - 1)) {
			snprintf(why, whysize,
			    "use letters, digits, '.', '_' and '-' only");
			return -1;
		}
		if (!utf8_valid_label(v, strlen(v))) {
			snprintf(why, whysize,
			    "not valid UTF-8 or has control characters");
			return -1;
		}
		/* An optional file (default "") may stay empty: that is how
		 * --print-config writes it, and it must load again. */
		if (k->type == CFG_PATH && *v == '\0' &&
		    !(k->def && *k->def == '\0')) {
			snprintf(why, whysize, "empty file name");
			return -1;
		}
		memcpy(dst, v, strlen(v) + 1);
		return 0;
	case CFG_INT:
		errno = 0;
		l = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || errno) {
			snprintf(why, whysize, "not a whole number");
			return -1;
		}
		if (l < k->min || l > k->max) {
			snprintf(why, whysize, "must be from %.0f to %.0f",
			    k->min, k->max);
			return -1;
		}
		*(long *)(void *)dst = l;
		return 0;
	case CFG_SECONDS:
		if (cfg_parse_seconds(v, &d) != 0) {
			snprintf(why, whysize,
			    "not a duration (examples: 30, 1.5, 250ms, 5m, 2h, 1d)");
			return -1;
		}
		if (d < k->min || d > k->max) {
			snprintf(why, whysize,
			    "must be from %g to %g seconds", k->min, k->max);
			return -1;
		}
		*(double *)(void *)dst = d;
		return 0;
	case CFG_REAL:
		errno = 0;
		d = strtod(v, &end);
		if (*v == '\0' || *end != '\0' || errno || !isfinite(d)) {
			snprintf(why, whysize, "not a number");
			return -1;
		}
		if (d < k->min || d > k->max) {
			snprintf(why, whysize, "must be from %g to %g", k->min,
			    k->max);
			return -1;
		}
		*(double *)(void *)dst = d;
		return 0;
	case CFG_HOSTPORT:
		if (hostport_parse(v, k->defport, (struct hostport *)(void *)dst,
			&reason) != 0) {
			snprintf(why, whysize, "%s", reason);
			return -1;
		}
		return 0;
	case CFG_ENUM:
		if ((idx = enum_index(k->choices, v)) < 0) {
			snprintf(why, whysize, "must be one of %s", k->choices);
			return -1;
		}
		*(int *)(void *)dst = idx;
		return 0;
	}
	snprintf(why, whysize, "internal: unknown key type");
	return -1;
}

void
cfg_defaults(const struct cfg_section_def *def, void *obj)
{
	char why[256];

	for (const struct cfg_key *k = def->keys; k->name; k++) {
		if (k->def && *k->def &&
		    parse_value(k, k->def, obj, why, sizeof(why)))
			abort(); /* a bad default in a table is a build bug */
	}
}

int
cfg_apply(const struct cfg_raw *raw, const struct cfg_raw_section *sec,
    void *obj, struct cfg_err *e)
{
	const struct cfg_section_def *def = sec->def;
	char why[256];
	const char *v;
	int line, before = e->count;

	cfg_defaults(def, obj);
	for (const struct cfg_key *k = def->keys; k->name; k++) {
		if ((v = cfg_raw_get(sec, k->name, &line)) == NULL) {
			if (k->flags & CFG_REQUIRED)
				cfg_error(e, raw->path, sec->line,
				    "[%s%s%s] is missing '%s' (%s)", def->name,
				    sec->name ? " " : "",
				    sec->name ? sec->name : "", k->name,
				    k->help);
			continue;
		}
		if (parse_value(k, v, obj, why, sizeof(why)) != 0)
			cfg_error(e, raw->path, line, "%s = %s: %s", k->name,
			    k->flags & CFG_SECRET ? "********" : v, why);
	}
	return e->count > before ? -1 : 0;
}

static void
format_value(const struct cfg_key *k, const void *obj, char *buf, size_t size)
{
	const char *src = (const char *)obj + k->offset;

	switch (k->type) {
	case CFG_STRING:
	case CFG_PATH:
	case CFG_NAME:
		snprintf(buf, size, "%s", src);
		break;
	case CFG_INT:
		snprintf(buf, size, "%ld", *(const long *)(const void *)src);
		break;
	case CFG_SECONDS:
	case CFG_REAL:
		snprintf(buf, size, "%g", *(const double *)(const void *)src);
		break;
	case CFG_HOSTPORT:
		hostport_format((const struct hostport *)(const void *)src, buf,
		    (int)size);
		break;
	case CFG_ENUM:
		enum_name(k->choices, *(const int *)(const void *)src, buf,
		    size);
		break;
	}
}

void
cfg_print(FILE *f, const struct cfg_section_def *def, const char *name,
    const void *obj)
{
	char val[512];

	fprintf(f, "[%s%s%s]\n", def->name, name ? " " : "", name ? name : "");
	for (const struct cfg_key *k = def->keys; k->name; k++) {
		format_value(k, obj, val, sizeof(val));
		if ((k->flags & CFG_SECRET) && val[0])
			snprintf(val, sizeof(val), "********");
		fprintf(f, "%s = %s\n", k->name, val);
	}
	fprintf(f, "\n");
}

static const char *const type_names[] = {
    [CFG_STRING] = "text", [CFG_NAME] = "name", [CFG_PATH] = "file",
    [CFG_INT] = "integer", [CFG_SECONDS] = "seconds",
    [CFG_HOSTPORT] = "host:port", [CFG_ENUM] = "choice",
    [CFG_REAL] = "number"};

void
cfg_print_help(FILE *f, const struct cfg_section_def *defs)
{
	for (; defs->name; defs++) {
		fprintf(f, "[%s%s]  %s\n", defs->name,
		    defs->named ? " NAME" : "", defs->help);
		for (const struct cfg_key *k = defs->keys; k->name; k++) {
			char range[64] = "";

			if (k->type == CFG_INT)
				snprintf(range, sizeof(range), " %.0f..%.0f",
				    k->min, k->max);
			else if (k->type == CFG_SECONDS || k->type == CFG_REAL)
				snprintf(range, sizeof(range), " %g..%g",
				    k->min, k->max);
			else if (k->type == CFG_ENUM)
				snprintf(range, sizeof(range), " %s",
				    k->choices);
			fprintf(f, "  %-16s %s%s%s%s%s\n      %s\n", k->name,
			    type_names[k->type], range,
			    k->flags & CFG_REQUIRED ? ", required" : "",
			    k->def && *k->def ? ", default " : "",
			    k->def && *k->def ? k->def : "", k->help);
		}
		fprintf(f, "\n");
	}
}
