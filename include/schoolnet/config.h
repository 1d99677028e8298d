/* config.h: INI config files checked against one table of keys per section. */
#ifndef SCHOOLNET_CONFIG_H
#define SCHOOLNET_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "schoolnet/hostport.h"

enum cfg_type {
	CFG_STRING,   /* char[size]: UTF-8 text without control characters */
	CFG_NAME,     /* char[size]: [A-Za-z0-9._-]+ */
	CFG_PATH,     /* char[size]: a file name */
	CFG_INT,      /* long, min..max */
	CFG_SECONDS,  /* double seconds: "30", "1.5", "250ms", "5m", "2h", "1d" */
	CFG_HOSTPORT, /* struct hostport; defport when the port is left out */
	CFG_ENUM,     /* int: index into choices "a|b|c" */
	CFG_REAL,     /* double, min..max, no unit */
};

#define CFG_REQUIRED 0x01
#define CFG_SECRET 0x02 /* printed as ******** */

struct cfg_key {
	const char *name;
	enum cfg_type type;
	size_t offset;	      /* where the value goes in the section's struct */
	size_t size;	      /* buffer size for the string types */
	double min, max;      /* range for CFG_INT and CFG_SECONDS */
	uint16_t defport;     /* CFG_HOSTPORT */
	const char *choices;  /* CFG_ENUM */
	const char *def;      /* default, written as in a file; NULL = none */
	unsigned flags;
	const char *help;
};

struct cfg_section_def {
	const char *name;      /* "agent" for [agent], "switch" for [switch X] */
	int named;	       /* takes a NAME: [switch access1] */
	int required;	       /* must appear at least once */
	const struct cfg_key *keys; /* ends with a key whose name is NULL */
	const char *help;
};

struct cfg_entry {
	char *key, *value;
	int line;
};

struct cfg_raw_section {
	const struct cfg_section_def *def;
	char *name;	/* NULL for unnamed sections */
	int line;
	struct cfg_entry *entries;
	size_t n_entries;
};

/* A file as read: sections and their key lines, checked for shape only. */
struct cfg_raw {
	char *path;
	struct cfg_raw_section *sections;
	size_t n_sections;
};

/* Error text: one "FILE:LINE: reason" line per problem found. */
struct cfg_err {
	char text[4096];
	int count;
};

void cfg_error(struct cfg_err *e, const char *path, int line,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Read path: known sections only, valid and unique section names, known
 * keys, no key twice. Returns 0, or -1 with errors in *e (raw then holds
 * what could be read; free it either way).
 */
int cfg_read(const char *path, const struct cfg_section_def *defs,
    struct cfg_raw *raw, struct cfg_err *e)
    __attribute__((warn_unused_result));
void cfg_raw_free(struct cfg_raw *raw);

/* Fill obj from a section: defaults first, then the file's values, checked
 * for type and range; missing required keys are errors. Returns 0 or -1. */
int cfg_apply(const struct cfg_raw *raw, const struct cfg_raw_section *sec,
    void *obj, struct cfg_err *e) __attribute__((warn_unused_result));
/* Fill obj with defaults only (a section the file left out). */
void cfg_defaults(const struct cfg_section_def *def, void *obj);

/* The value of key in sec as written, or NULL; *line gets its line. */
const char *cfg_raw_get(const struct cfg_raw_section *sec, const char *key,
    int *line);

/* "30", "1.5", "250ms", "5m", "2h", "1d" as seconds; 0 or -1. */
int cfg_parse_seconds(const char *v, double *out)
    __attribute__((warn_unused_result));

/* Print a section back in canonical form with every key (config tests). */
void cfg_print(FILE *f, const struct cfg_section_def *def, const char *name,
    const void *obj);
/* Print the key table: section, key, type, range, default, help. */
void cfg_print_help(FILE *f, const struct cfg_section_def *defs);

#endif
