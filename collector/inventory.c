/* inventory.c: the inventory CSV: check it, apply it as a diff, export it. */
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <csv.h>
#include <curl/curl.h>

#include "collector.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"
#include "schoolnet/timeutil.h"
#include "schoolnet/utf8.h"

#define INV_FILE_MAX (32 * 1024 * 1024) /* bytes */
#define INV_ROWS_MAX 200000
#define INV_FIELD_MAX 1024         /* bytes */
#define INV_PORT_MAX 255           /* bytes; ifName and ifDescr */
#define INV_NAME_MAX WIRE_NAME_MAX /* school code, switch name */
#define INV_ERRORS_MAX 50          /* problems listed; the rest counted */
#define INV_CLIP 96                /* bytes of a value quoted in a message */
#define INV_UPLINK_ROOM "出口"

enum inv_col {
	COL_TOWN,
	COL_CODE,
	COL_NAME,
	COL_TYPE,
	COL_SEAT,
	COL_ROLE,
	COL_ROOM,
	COL_SWITCH,
	COL_PORT,
	COL_PROBE,
	COL_COUNT
};

/* The header, in order, and what each column may hold. */
static const struct inv_column {
	const char *name;
	size_t max;    /* bytes */
	bool required; /* room: see inv_check_row() */
} inv_columns[COL_COUNT] = {
    [COL_TOWN] = {"town", INV_FIELD_MAX, true},
    [COL_CODE] = {"school_code", INV_FIELD_MAX, true},
    [COL_NAME] = {"school_name", INV_FIELD_MAX, true},
    [COL_TYPE] = {"school_type", INV_FIELD_MAX, true},
    [COL_SEAT] = {"town_seat", INV_FIELD_MAX, true},
    [COL_ROLE] = {"role", INV_FIELD_MAX, true},
    [COL_ROOM] = {"room", INV_FIELD_MAX, false},
    [COL_SWITCH] = {"switch", INV_FIELD_MAX, true},
    [COL_PORT] = {"port", INV_PORT_MAX, true},
    [COL_PROBE] = {"probe", INV_FIELD_MAX, false},
};

/*
 * School types, as the bureaus write them. The calendar's school hours per
 * type use these same names, so this is the one list of them.
 */
static const char *const inv_school_types[] = {
    "小学",
    "初中",
    "初级中学",
    "九年一贯制",
    "九年一贯制学校",
    "完全中学",
    "高中",
    "幼儿园",
    "教学点",
    "特殊教育学校",
    "职业学校",
};

static const char *const inv_roles[] = {"uplink", "classroom", "recording"};

static const struct {
	const char *word;
	bool seat;
} inv_seat_words[] = {
    {"yes", true},
    {"no", false},
    {"是", true},
    {"否", false},
    {"y", true},
    {"n", false},
    {"1", true},
    {"0", false},
};

static const char *const inv_probe_schemes[] = {"http", "https", "rtsp"};

/* --- a string-keyed hash map (keys owned by the map) ------------------- */

struct strmap_slot {
	char *key;
	size_t val;
};

struct strmap {
	struct strmap_slot *slot;
	size_t cap, n; /* cap: 0 or a power of two */
};

static uint64_t
strmap_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct strmap_slot *
strmap_slot(const struct strmap *m, const char *key)
{
	size_t i = (size_t)strmap_hash(key) & (m->cap - 1);

	while (m->slot[i].key != NULL && strcmp(m->slot[i].key, key) != 0)
		i = (i + 1) & (m->cap - 1);
	return &m->slot[i];
}

static bool
strmap_find(const struct strmap *m, const char *key, size_t *val)
{
	struct strmap_slot *s;

	if (m->cap == 0)
		return false;
	s = strmap_slot(m, key);
	if (s->key == NULL)
		return false;
	*val = s->val;
	return true;
}

/* Add key (taken over) when it is not there yet; the caller checked. */
static void
strmap_add(struct strmap *m, char *key, size_t val)
{
	struct strmap_slot *s;

	if (2 * (m->n + 1) > m->cap) {
		struct strmap old = *m;

		m->cap = old.cap ? 2 * old.cap : 64;
		m->slot = xcalloc(m->cap, sizeof(*m->slot));
		for (size_t i = 0; i < old.cap; i++)
			if (old.slot[i].key != NULL)
				*strmap_slot(m, old.slot[i].key) = old.slot[i];
		free(old.slot);
	}
	s = strmap_slot(m, key);
	s->key = key;
	s->val = val;
	m->n++;
}

static void
strmap_free(struct strmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->slot[i].key);
	free(m->slot);
	memset(m, 0, sizeof(*m));
}

/* "a\x1fb\x1fc": fields never hold control characters, so keys are unique. */
static char *
inv_key(const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = c ? strlen(c) : 0;
	char *k = xmalloc(la + lb + lc + 3), *p = k;

	memcpy(p, a, la);
	p += la;
	*p++ = '\x1f';
	memcpy(p, b, lb);
	p += lb;
	if (c != NULL) {
		*p++ = '\x1f';
		memcpy(p, c, lc);
		p += lc;
	}
	*p = '\0';
	return k;
}

/* --- checking the file ------------------------------------------------- */

struct inv_parse {
	const char *path;
	struct cfg_err *e;
	int hidden; /* problems found beyond what e->text shows */
	struct inventory *inv;
	size_t cap;
	struct strmap ports;   /* school, switch, port -> row */
	struct strmap rooms;   /* school, room -> row */
	struct strmap schools; /* school -> its first row */

	/* The row being read. */
	char *cur[COL_COUNT];
	size_t curlen[COL_COUNT];
	bool toolong[COL_COUNT];
	size_t nfields;
	bool nonempty; /* some field has text */
	int row_line;  /* where it starts */
	int newlines;  /* inside its (quoted) fields */

	int line;      /* where the next row starts */
	bool after_cr; /* a row just ended with CR: LF is its pair */
	bool header_seen;
	bool stop; /* ignore the rest (bad header, too many rows) */
	size_t data_rows;
};

static void inv_err(struct inv_parse *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Room kept at the end of e->text for the "N more problems" line. */
#define INV_ERR_RESERVE 128

static void
inv_err(struct inv_parse *p, int line, const char *fmt, ...)
{
	struct cfg_err *e = p->e;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (e->count >= INV_ERRORS_MAX ||
	    strlen(e->text) + strlen(p->path) + strlen(msg) + 16 +
	            INV_ERR_RESERVE >=
	        sizeof(e->text)) {
		e->count++;
		p->hidden++;
		return;
	}
	cfg_error(e, p->path, line, "%s", msg);
}

/* s, clipped for a message (never inside a UTF-8 character). */
static const char *
inv_clip(const char *s, char *buf, size_t size)
{
	size_t n = strlen(s), used;

	if (n < size)
		return s;
	used = utf8_sanitize(buf, size - 3, s, n);
	memcpy(buf + used, "...", 4);
	return buf;
}

/* "小学, 初中, ... or 职业学校" from the table. */
static const char *
inv_type_list(char *buf, size_t size)
{
	size_t used = 0, n = nitems(inv_school_types);

	buf[0] = '\0';
	for (size_t i = 0; i < n && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s",
		    i == 0           ? ""
		        : i + 1 == n ? " or "
		                     : ", ",
		    inv_school_types[i]);
	return buf;
}

static bool
inv_valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > INV_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		        (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
		        *s == '-'))
			return false;
	return true;
}

/* NULL when url is a probe URL we can use, else why not. */
static const char *
inv_probe_problem(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	const char *why = NULL;
	CURLUcode rc;

	if (u == NULL)
		fatalx("out of memory");
	rc = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
	if (rc != CURLUE_OK) {
		why = curl_url_strerror(rc);
		goto out;
	}
	why = "the scheme must be http, https or rtsp";
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK)
		for (size_t i = 0; i < nitems(inv_probe_schemes); i++)
			if (strcasecmp(scheme, inv_probe_schemes[i]) == 0)
				why = NULL;
	if (why == NULL &&
	    (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	        *host == '\0'))
		why = "no host";
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return why;
}

static void
inv_row_free(struct inventory_row *r)
{
	free(r->town);
	free(r->school_code);
	free(r->school_name);
	free(r->school_type);
	free(r->room);
	free(r->switch_name);
	free(r->port);
	free(r->probe);
}

void
inventory_free(struct inventory *inv)
{
	if (inv == NULL)
		return;
	for (size_t i = 0; i < inv->n_rows; i++)
		inv_row_free(&inv->rows[i]);
	free(inv->rows);
	free(inv);
}

static void
inv_check_header(struct inv_parse *p)
{
	size_t n = p->nfields < COL_COUNT ? p->nfields : COL_COUNT;
	char clip[INV_CLIP];

	p->header_seen = true;
	for (size_t i = 0; i < n; i++) {
		if (p->toolong[i] || strcmp(p->cur[i], inv_columns[i].name)) {
			inv_err(p, p->row_line,
			    "header column %zu is '%s', expected '%s'", i + 1,
			    p->toolong[i]
			        ? "(too long)"
			        : inv_clip(p->cur[i], clip, sizeof(clip)),
			    inv_columns[i].name);
			p->stop = true;
		}
	}
	if (p->nfields != COL_COUNT) {
		inv_err(p, p->row_line,
		    "the header has %zu columns, expected %d: "
		    "town,school_code,school_name,school_type,town_seat,role,"
		    "room,switch,port,probe",
		    p->nfields, COL_COUNT);
		p->stop = true;
	}
}

/* A row whose fields are each valid text: check what they mean. */
static void
inv_check_row(struct inv_parse *p)
{
	char **f = p->cur, clip[INV_CLIP], clip2[INV_CLIP], types[256];
	int line = p->row_line;
	const char *role = NULL, *why;
	struct inventory_row *r, *o;
	bool ok = true, seat = false;
	char *pkey, *rkey = NULL;
	size_t i, j;

	for (i = 0; i < COL_COUNT; i++)
		if (inv_columns[i].required && *f[i] == '\0') {
			inv_err(p, line, "%s is missing", inv_columns[i].name);
			ok = false;
		}
	if (*f[COL_CODE] && !inv_valid_name(f[COL_CODE])) {
		inv_err(p, line,
		    "bad school_code '%s': use 1-%d letters, digits, "
		    "'.', '_', '-'",
		    inv_clip(f[COL_CODE], clip, sizeof(clip)), INV_NAME_MAX);
		ok = false;
	}
	if (*f[COL_TYPE]) {
		for (i = 0; i < nitems(inv_school_types); i++)
			if (strcmp(f[COL_TYPE], inv_school_types[i]) == 0)
				break;
		if (i == nitems(inv_school_types)) {
			inv_err(p, line, "unknown school_type '%s' (use %s)",
			    inv_clip(f[COL_TYPE], clip, sizeof(clip)),
			    inv_type_list(types, sizeof(types)));
			ok = false;
		}
	}
	if (*f[COL_SEAT]) {
		for (i = 0; i < nitems(inv_seat_words); i++)
			if (strcasecmp(f[COL_SEAT], inv_seat_words[i].word) ==
			    0)
				break;
		if (i == nitems(inv_seat_words)) {
			inv_err(p, line, "town_seat '%s' is not yes or no",
			    inv_clip(f[COL_SEAT], clip, sizeof(clip)));
			ok = false;
		} else
			seat = inv_seat_words[i].seat;
	}
	if (*f[COL_ROLE]) {
		for (i = 0; i < nitems(inv_roles); i++)
			if (strcasecmp(f[COL_ROLE], inv_roles[i]) == 0)
				role = inv_roles[i];
		if (role == NULL) {
			inv_err(p, line,
			    "unknown role '%s' "
			    "(use uplink, classroom or recording)",
			    inv_clip(f[COL_ROLE], clip, sizeof(clip)));
			ok = false;
		}
	}
	if (role != NULL && role != inv_roles[0] && *f[COL_ROOM] == '\0') {
		inv_err(p, line, "room is missing (a %s row needs one)", role);
		ok = false;
	}
	if (*f[COL_SWITCH] && !inv_valid_name(f[COL_SWITCH])) {
		inv_err(p, line,
		    "bad switch name '%s': use 1-%d letters, digits, "
		    "'.', '_', '-'",
		    inv_clip(f[COL_SWITCH], clip, sizeof(clip)), INV_NAME_MAX);
		ok = false;
	}
	if (*f[COL_PROBE]) {
		if (role != NULL && role != inv_roles[2]) {
			inv_err(p, line,
			    "probe is only for recording rows, not %s", role);
			ok = false;
		} else if ((why = inv_probe_problem(f[COL_PROBE])) != NULL) {
			inv_err(p, line, "bad probe URL '%s': %s",
			    inv_clip(f[COL_PROBE], clip, sizeof(clip)), why);
			ok = false;
		}
	}
	if (!ok)
		return;

	/* Against the rows before it; keys are kept for accepted rows only. */
	pkey = inv_key(f[COL_CODE], f[COL_SWITCH], f[COL_PORT]);
	if (strmap_find(&p->ports, pkey, &j)) {
		inv_err(p, line,
		    "port %s of switch %s of school %s is already on line %d",
		    inv_clip(f[COL_PORT], clip, sizeof(clip)), f[COL_SWITCH],
		    f[COL_CODE], p->inv->rows[j].line);
		ok = false;
	}
	/* Uplinks share a room ("出口") when a school has two. */
	if (role != inv_roles[0]) {
		rkey = inv_key(f[COL_CODE], f[COL_ROOM], NULL);
		if (strmap_find(&p->rooms, rkey, &j)) {
			inv_err(p, line,
			    "room %s of school %s is already on line %d",
			    inv_clip(f[COL_ROOM], clip, sizeof(clip)),
			    f[COL_CODE], p->inv->rows[j].line);
			ok = false;
		}
	}
	if (strmap_find(&p->schools, f[COL_CODE], &j)) {
		static const struct {
			enum inv_col col;
			size_t off;
		} attrs[] = {
		    {COL_NAME, offsetof(struct inventory_row, school_name)},
		    {COL_TOWN, offsetof(struct inventory_row, town)},
		    {COL_TYPE, offsetof(struct inventory_row, school_type)},
		};

		o = &p->inv->rows[j];
		for (i = 0; i < nitems(attrs); i++) {
			const char *was = *(char **)((char *)o + attrs[i].off);

			if (strcmp(f[attrs[i].col], was) == 0)
				continue;
			inv_err(p, line,
			    "school %s: %s '%s' differs from line %d ('%s')",
			    f[COL_CODE], inv_columns[attrs[i].col].name,
			    inv_clip(f[attrs[i].col], clip, sizeof(clip)),
			    o->line, inv_clip(was, clip2, sizeof(clip2)));
			ok = false;
		}
		if (seat != o->town_seat) {
			inv_err(p, line,
			    "school %s: town_seat '%s' "
			    "differs from line %d ('%s')",
			    f[COL_CODE], f[COL_SEAT], o->line,
			    o->town_seat ? "yes" : "no");
			ok = false;
		}
	} else if (ok) {
		strmap_add(&p->schools, xstrdup(f[COL_CODE]), p->inv->n_rows);
		p->inv->n_schools++;
	}
	if (!ok) {
		free(pkey);
		free(rkey);
		return;
	}
	strmap_add(&p->ports, pkey, p->inv->n_rows);
	if (rkey != NULL)
		strmap_add(&p->rooms, rkey, p->inv->n_rows);

	if (p->inv->n_rows == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 256;
		p->inv->rows =
		    xreallocarray(p->inv->rows, p->cap, sizeof(*p->inv->rows));
	}
	r = &p->inv->rows[p->inv->n_rows++];
	r->line = line;
	r->town = f[COL_TOWN];
	r->school_code = f[COL_CODE];
	r->school_name = f[COL_NAME];
	r->school_type = f[COL_TYPE];
	r->town_seat = seat;
	r->role = role;
	r->room = *f[COL_ROOM] ? f[COL_ROOM] : xstrdup(INV_UPLINK_ROOM);
	if (*f[COL_ROOM] == '\0')
		free(f[COL_ROOM]);
	r->switch_name = f[COL_SWITCH];
	r->port = f[COL_PORT];
	r->probe = f[COL_PROBE];
	/* The row owns the rest now. */
	free(f[COL_SEAT]);
	free(f[COL_ROLE]);
	memset(p->cur, 0, sizeof(p->cur));
}

static void
inv_check_fields(struct inv_parse *p)
{
	bool ok = true;

	if (p->nfields != COL_COUNT) {
		inv_err(p, p->row_line, "%zu field%s, expected %d", p->nfields,
		    p->nfields == 1 ? "" : "s", COL_COUNT);
		return;
	}
	for (size_t i = 0; i < COL_COUNT; i++) {
		const unsigned char *s = (const unsigned char *)p->cur[i];
		size_t n = p->curlen[i], k;

		if (p->toolong[i] || n > inv_columns[i].max) {
			inv_err(p, p->row_line, "%s is longer than %zu bytes",
			    inv_columns[i].name, inv_columns[i].max);
			ok = false;
			continue;
		}
		for (k = 0; k < n; k++)
			if (s[k] < 0x20 || s[k] == 0x7f)
				break;
		if (k < n) {
			inv_err(p, p->row_line,
			    "%s contains a control character",
			    inv_columns[i].name);
			ok = false;
		} else if (!utf8_valid_label(p->cur[i], n)) {
			inv_err(p, p->row_line,
			    "%s is not valid UTF-8 "
			    "(save the file as \"CSV UTF-8\")",
			    inv_columns[i].name);
			ok = false;
		}
	}
	if (ok)
		inv_check_row(p);
}

static void
inv_clear_row(struct inv_parse *p)
{
	for (size_t i = 0; i < COL_COUNT; i++) {
		free(p->cur[i]);
		p->cur[i] = NULL;
		p->curlen[i] = 0;
		p->toolong[i] = false;
	}
	p->nfields = 0;
	p->nonempty = false;
	p->newlines = 0;
}

/* libcsv: one field of the current row. */
static void
inv_on_field(void *s, size_t len, void *arg)
{
	struct inv_parse *p = arg;
	size_t i = p->nfields;

	if (p->nfields == 0)
		p->row_line = p->line;
	p->after_cr = false;
	for (size_t k = 0; k < len; k++)
		if (((char *)s)[k] == '\n' ||
		    (((char *)s)[k] == '\r' &&
		        (k + 1 == len || ((char *)s)[k + 1] != '\n')))
			p->newlines++;
	p->nfields++;
	if (len > 0)
		p->nonempty = true;
	if (i >= COL_COUNT || p->stop)
		return;
	if (len > INV_FIELD_MAX) {
		p->toolong[i] = true;
		p->cur[i] = xstrdup("");
		return;
	}
	p->cur[i] = xmalloc(len + 1);
	memcpy(p->cur[i], s, len);
	p->cur[i][len] = '\0';
	p->curlen[i] = len;
}

/* libcsv: the end of a row (c is CR, LF, or -1 at the end of the file);
 * with CSV_REPALL_NL also every empty line, so lines can be counted. */
static void
inv_on_row(int c, void *arg)
{
	struct inv_parse *p = arg;

	if (p->nfields == 0) {
		if (c == '\n' && p->after_cr)
			p->after_cr = false;
		else if (c == '\n' || c == '\r') {
			p->line++;
			p->after_cr = c == '\r';
		}
		return;
	}
	if (p->stop) {
		/* nothing */
	} else if (!p->header_seen) {
		inv_check_header(p);
	} else if (!p->nonempty) {
		/* ",,,,": a blank row as spreadsheets save it */
	} else if (++p->data_rows > INV_ROWS_MAX) {
		inv_err(p, p->row_line, "more than %d rows", INV_ROWS_MAX);
		p->stop = true;
	} else {
		inv_check_fields(p);
	}
	p->line = p->row_line + p->newlines;
	if (c == '\n' || c == '\r')
		p->line++;
	p->after_cr = c == '\r';
	inv_clear_row(p);
}

/* Feed the file to libcsv; false when it could not be read or parsed. */
static bool
inv_read(struct inv_parse *p, FILE *fp)
{
	static const unsigned char bom[3] = {0xef, 0xbb, 0xbf};
	struct csv_parser csv;
	unsigned char buf[65536];
	size_t total = 0, n, off, done;
	int lines = 1; /* for a parse error: the line it is on */
	bool ok = false, first = true;

	if (csv_init(&csv, CSV_STRICT | CSV_STRICT_FINI | CSV_REPALL_NL) != 0)
		fatalx("out of memory");
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0) {
		total += n;
		if (total > INV_FILE_MAX) {
			inv_err(p, 0, "larger than %d MiB", INV_FILE_MAX >> 20);
			goto out;
		}
		off = 0;
		if (first) {
			first = false;
			if (n >= 2 &&
			    ((buf[0] == 0xff && buf[1] == 0xfe) ||
			        (buf[0] == 0xfe && buf[1] == 0xff))) {
				inv_err(p, 1,
				    "the file is UTF-16: "
				    "save it as \"CSV UTF-8\"");
				goto out;
			}
			if (n >= 3 && memcmp(buf, bom, 3) == 0)
				off = 3;
		}
		done = csv_parse(
		    &csv, buf + off, n - off, inv_on_field, inv_on_row, p);
		for (size_t k = off; k < off + done; k++)
			lines += buf[k] == '\n';
		if (done != n - off) {
			inv_err(p, lines,
			    "bad quoting: a quote inside an unquoted field, or "
			    "text after a closing quote");
			goto out;
		}
		if (p->stop) {
			ok = true; /* the problem is already reported */
			goto out;
		}
	}
	if (ferror(fp)) {
		inv_err(p, 0, "read error: %s", strerror(errno));
		goto out;
	}
	if (csv_fini(&csv, inv_on_field, inv_on_row, p) != 0) {
		inv_err(p, p->row_line, "a quoted field is not closed");
		goto out;
	}
	ok = true;
out:
	csv_free(&csv);
	inv_clear_row(p);
	return ok;
}

int
inventory_check_file(
    const char *path, struct inventory **out, struct cfg_err *e)
{
	struct inv_parse p;
	struct stat sb;
	FILE *fp;
	int rc = -1;

	memset(e, 0, sizeof(*e));
	memset(&p, 0, sizeof(p));
	*out = NULL;
	p.path = path;
	p.e = e;
	p.line = 1;
	p.inv = xcalloc(1, sizeof(*p.inv));
	if ((fp = fopen(path, "rb")) == NULL) {
		inv_err(&p, 0, "%s", strerror(errno));
		goto out;
	}
	if (fstat(fileno(fp), &sb) == 0 && S_ISDIR(sb.st_mode))
		inv_err(&p, 0, "is a directory");
	else if (fstat(fileno(fp), &sb) == 0 && S_ISREG(sb.st_mode) &&
	    sb.st_size > INV_FILE_MAX)
		inv_err(&p, 0, "larger than %d MiB", INV_FILE_MAX >> 20);
	else if (inv_read(&p, fp)) {
		if (!p.header_seen)
			inv_err(&p, 1,
			    "empty file: expected the header "
			    "town,school_code,school_name,school_type,"
			    "town_seat,role,room,switch,port,probe");
		else if (e->count == 0 && p.data_rows == 0)
			inv_err(&p, p.line, "no rows after the header");
	}
	fclose(fp);
	if (p.hidden > 0) {
		size_t used = strlen(e->text);

		snprintf(e->text + used, sizeof(e->text) - used,
		    "%s: and %d more problems\n", path, p.hidden);
	}
	if (e->count == 0) {
		*out = p.inv;
		p.inv = NULL;
		rc = 0;
	}
out:
	inventory_free(p.inv);
	strmap_free(&p.ports);
	strmap_free(&p.rooms);
	strmap_free(&p.schools);
	return rc;
}

/* --- applying it ------------------------------------------------------- */

/* An open inventory row or a school, as the database has it. */
struct inv_db_row {
	int64_t id;
	char *school, *role, *room, *switch_name, *port, *probe;
	bool seen;
};

struct inv_db_school {
	char *code, *name, *town, *type;
	bool town_seat, removed, seen;
};

enum {
	IST_ROW_CLOSE,
	IST_ROW_ADD,
	IST_SCHOOL_ADD,
	IST_SCHOOL_SET,
	IST_SCHOOL_REMOVE,
	IST_HIST_CLOSE,
	IST_HIST_OPEN,
	IST_IMPORT,
	IST_COUNT
};

static const char *const inv_sql[IST_COUNT] = {
    [IST_ROW_CLOSE] = "UPDATE inventory SET valid_to = ? WHERE id = ?",
    [IST_ROW_ADD] = "INSERT INTO inventory(school_code, role, room, switch, "
                    "port, probe, valid_from) VALUES(?, ?, ?, ?, ?, ?, ?)",
    [IST_SCHOOL_ADD] = "INSERT INTO schools(code, name, town, type, town_seat, "
                       "added_at) VALUES(?, ?, ?, ?, ?, ?)",
    [IST_SCHOOL_SET] = "UPDATE schools SET name = ?2, town = ?3, type = ?4, "
                       "town_seat = ?5, removed_at = NULL WHERE code = ?1",
    [IST_SCHOOL_REMOVE] = "UPDATE schools SET removed_at = ? WHERE code = ?",
    [IST_HIST_CLOSE] = "UPDATE school_history SET valid_to = ? WHERE code = ? "
                       "AND valid_to IS NULL",
    [IST_HIST_OPEN] = "INSERT INTO school_history(code, name, town, type, "
                      "town_seat, valid_from) VALUES(?, ?, ?, ?, ?, ?)",
    [IST_IMPORT] = "INSERT INTO imports(at, file, rows, added, removed, "
                   "unchanged) VALUES(?, ?, ?, ?, ?, ?)",
};

struct inv_apply {
	sqlite3 *db; /* NULL: a dry run against no database */
	bool dry_run;
	sqlite3_stmt *st[IST_COUNT];
	int64_t now;
	struct inv_db_row *rows;
	size_t n_rows;
	struct strmap row_by_key;
	struct inv_db_school *schools;
	size_t n_schools;
	struct strmap school_by_code;
	size_t added, removed, changed, unchanged;
	size_t s_added, s_removed, s_changed, s_unchanged;
	bool failed;
};

/* Read the current inventory and every school. */
static int
inv_load(struct inv_apply *a)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc;

	if (sqlite3_prepare_v2(a->db,
	        "SELECT id, school_code, role, room, switch, port, probe FROM "
	        "inventory WHERE valid_to IS NULL",
	        -1, &st, NULL) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct inv_db_row *r;

		if (a->n_rows == cap) {
			cap = cap ? 2 * cap : 256;
			a->rows = xreallocarray(a->rows, cap, sizeof(*a->rows));
		}
		r = &a->rows[a->n_rows];
		memset(r, 0, sizeof(*r));
		r->id = sqlite3_column_int64(st, 0);
		r->school = db_col_dup(st, 1);
		r->role = db_col_dup(st, 2);
		r->room = db_col_dup(st, 3);
		r->switch_name = db_col_dup(st, 4);
		r->port = db_col_dup(st, 5);
		r->probe = db_col_dup(st, 6);
		strmap_add(&a->row_by_key,
		    inv_key(r->school, r->switch_name, r->port), a->n_rows++);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -1;
	if (sqlite3_prepare_v2(a->db,
	        "SELECT code, name, town, type, town_seat, removed_at IS NOT "
	        "NULL FROM schools",
	        -1, &st, NULL) != SQLITE_OK)
		return -1;
	cap = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct inv_db_school *s;

		if (a->n_schools == cap) {
			cap = cap ? 2 * cap : 64;
			a->schools =
			    xreallocarray(a->schools, cap, sizeof(*a->schools));
		}
		s = &a->schools[a->n_schools];
		memset(s, 0, sizeof(*s));
		s->code = db_col_dup(st, 0);
		s->name = db_col_dup(st, 1);
		s->town = db_col_dup(st, 2);
		s->type = db_col_dup(st, 3);
		s->town_seat = sqlite3_column_int(st, 4) != 0;
		s->removed = sqlite3_column_int(st, 5) != 0;
		strmap_add(
		    &a->school_by_code, xstrdup(s->code), a->n_schools++);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void
inv_apply_free(struct inv_apply *a)
{
	for (int i = 0; i < IST_COUNT; i++)
		sqlite3_finalize(a->st[i]);
	for (size_t i = 0; i < a->n_rows; i++) {
		free(a->rows[i].school);
		free(a->rows[i].role);
		free(a->rows[i].room);
		free(a->rows[i].switch_name);
		free(a->rows[i].port);
		free(a->rows[i].probe);
	}
	free(a->rows);
	for (size_t i = 0; i < a->n_schools; i++) {
		free(a->schools[i].code);
		free(a->schools[i].name);
		free(a->schools[i].town);
		free(a->schools[i].type);
	}
	free(a->schools);
	strmap_free(&a->row_by_key);
	strmap_free(&a->school_by_code);
}

/*
 * Bind the arguments (a format of 'i' int64, 's' text) and run statement
 * which; a dry run only counts. Once one fails the rest do nothing.
 */
static void
inv_exec(struct inv_apply *a, int which, const char *fmt, ...)
{
	sqlite3_stmt *st = a->st[which];
	va_list ap;
	int n = 1;

	if (a->dry_run || a->failed)
		return;
	va_start(ap, fmt);
	for (; *fmt; fmt++, n++) {
		if (*fmt == 'i')
			sqlite3_bind_int64(st, n, va_arg(ap, int64_t));
		else
			sqlite3_bind_text(st, n, va_arg(ap, const char *), -1,
			    SQLITE_TRANSIENT);
	}
	va_end(ap);
	if (sqlite3_step(st) != SQLITE_DONE) {
		fprintf(stderr, "schoolnet-collector: database: %s\n",
		    sqlite3_errmsg(a->db));
		a->failed = true;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static void
inv_row_add(struct inv_apply *a, const struct inventory_row *r)
{
	if (a->dry_run)
		printf("add %s/%s/%s: %s %s%s%s\n", r->school_code,
		    r->switch_name, r->port, r->role, r->room,
		    *r->probe ? " " : "", r->probe);
	inv_exec(a, IST_ROW_ADD, "ssssssi", r->school_code, r->role, r->room,
	    r->switch_name, r->port, r->probe, a->now);
}

static void
inv_row_close(struct inv_apply *a, const struct inv_db_row *d)
{
	if (a->dry_run)
		printf("remove %s/%s/%s: %s %s%s%s\n", d->school,
		    d->switch_name, d->port, d->role, d->room,
		    *d->probe ? " " : "", d->probe);
	inv_exec(a, IST_ROW_CLOSE, "ii", a->now, d->id);
}

static void
inv_school(struct inv_apply *a, const struct inventory_row *r)
{
	const char *seat = r->town_seat ? "yes" : "no";
	struct inv_db_school *s;
	size_t i;

	if (!strmap_find(&a->school_by_code, r->school_code, &i)) {
		a->s_added++;
		if (a->dry_run)
			printf("add school %s %s (%s, %s, town seat %s)\n",
			    r->school_code, r->school_name, r->town,
			    r->school_type, seat);
		inv_exec(a, IST_SCHOOL_ADD, "ssssii", r->school_code,
		    r->school_name, r->town, r->school_type,
		    (int64_t)r->town_seat, a->now);
		inv_exec(a, IST_HIST_OPEN, "ssssii", r->school_code,
		    r->school_name, r->town, r->school_type,
		    (int64_t)r->town_seat, a->now);
		return;
	}
	s = &a->schools[i];
	s->seen = true;
	if (!s->removed && strcmp(s->name, r->school_name) == 0 &&
	    strcmp(s->town, r->town) == 0 &&
	    strcmp(s->type, r->school_type) == 0 &&
	    s->town_seat == r->town_seat) {
		a->s_unchanged++;
		return;
	}
	if (s->removed)
		a->s_added++;
	else
		a->s_changed++;
	if (a->dry_run)
		printf("%s school %s %s (%s, %s, town seat %s)\n",
		    s->removed ? "add again" : "change", r->school_code,
		    r->school_name, r->town, r->school_type, seat);
	inv_exec(a, IST_SCHOOL_SET, "ssssi", r->school_code, r->school_name,
	    r->town, r->school_type, (int64_t)r->town_seat);
	inv_exec(a, IST_HIST_CLOSE, "is", a->now, r->school_code);
	inv_exec(a, IST_HIST_OPEN, "ssssii", r->school_code, r->school_name,
	    r->town, r->school_type, (int64_t)r->town_seat, a->now);
}

/* Work out (and unless dry run, make) the changes from a to inv. */
static void
inv_diff(struct inv_apply *a, const struct inventory *inv)
{
	struct strmap done = {0};
	size_t i, j;

	for (i = 0; i < inv->n_rows; i++) {
		const struct inventory_row *r = &inv->rows[i];

		if (!strmap_find(&done, r->school_code, &j)) {
			strmap_add(&done, xstrdup(r->school_code), i);
			inv_school(a, r);
		}
	}
	strmap_free(&done);
	for (i = 0; i < a->n_schools; i++) {
		struct inv_db_school *s = &a->schools[i];

		if (s->seen || s->removed)
			continue;
		a->s_removed++;
		if (a->dry_run)
			printf("remove school %s %s\n", s->code, s->name);
		inv_exec(a, IST_SCHOOL_REMOVE, "is", a->now, s->code);
		inv_exec(a, IST_HIST_CLOSE, "is", a->now, s->code);
	}

	for (i = 0; i < inv->n_rows; i++) {
		const struct inventory_row *r = &inv->rows[i];
		struct inv_db_row *d;
		char *key = inv_key(r->school_code, r->switch_name, r->port);
		bool found = strmap_find(&a->row_by_key, key, &j);

		free(key);
		if (!found) {
			a->added++;
			inv_row_add(a, r);
			continue;
		}
		d = &a->rows[j];
		d->seen = true;
		if (strcmp(d->role, r->role) == 0 &&
		    strcmp(d->room, r->room) == 0 &&
		    strcmp(d->probe, r->probe) == 0) {
			a->unchanged++;
			continue;
		}
		/* Close the old version first: one open row per port. */
		a->changed++;
		a->added++;
		a->removed++;
		inv_row_close(a, d);
		inv_row_add(a, r);
	}
	for (i = 0; i < a->n_rows; i++)
		if (!a->rows[i].seen) {
			a->removed++;
			inv_row_close(a, &a->rows[i]);
		}
}

static bool
inv_file_exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

static int
inv_sql_exec(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "schoolnet-collector: database: %s: %s\n", sql,
		    sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

int
cmd_import(
    const struct collector_conf *conf, const char *csv_path, bool dry_run)
{
	struct inventory *inv = NULL;
	struct inv_apply a;
	struct cfg_err e;
	bool in_tx = false;
	int rc = 1;

	memset(&a, 0, sizeof(a));
	if (inventory_check_file(csv_path, &inv, &e) != 0) {
		fputs(e.text, stderr);
		fprintf(stderr,
		    "schoolnet-collector: %s: %d problem%s; nothing imported\n",
		    csv_path, e.count, e.count == 1 ? "" : "s");
		return 1;
	}
	a.dry_run = dry_run;
	a.now = (int64_t)time_now_ms();
	if (dry_run && !inv_file_exists(conf->database)) {
		printf("database %s does not exist yet: every row is new\n",
		    conf->database);
	} else {
		if (db_open(conf->database, false, &a.db) != 0) {
			fprintf(stderr,
			    "schoolnet-collector: cannot open the "
			    "database %s\n",
			    conf->database);
			goto out;
		}
		/* The daemon commits in short batches: wait for it. */
		sqlite3_busy_timeout(a.db, 30000);
		if (inv_sql_exec(a.db, dry_run ? "BEGIN" : "BEGIN IMMEDIATE"))
			goto out;
		in_tx = true;
		for (int i = 0; i < IST_COUNT && !dry_run; i++)
			if (sqlite3_prepare_v2(a.db, inv_sql[i], -1, &a.st[i],
			        NULL) != SQLITE_OK) {
				fprintf(stderr,
				    "schoolnet-collector: database: %s\n",
				    sqlite3_errmsg(a.db));
				goto out;
			}
		if (inv_load(&a) != 0) {
			fprintf(stderr, "schoolnet-collector: database: %s\n",
			    sqlite3_errmsg(a.db));
			goto out;
		}
	}
	inv_diff(&a, inv);
	inv_exec(&a, IST_IMPORT, "isiiii", a.now, csv_path,
	    (int64_t)inv->n_rows, (int64_t)a.added, (int64_t)a.removed,
	    (int64_t)a.unchanged);
	if (a.failed)
		goto out;
	if (!dry_run) {
		if (inv_sql_exec(a.db, "COMMIT") != 0)
			goto out;
		in_tx = false;
	}
	printf("%s: %zu rows; %zu schools; "
	       "%zu added, %zu removed, %zu unchanged%s\n",
	    csv_path, inv->n_rows, inv->n_schools, a.added, a.removed,
	    a.unchanged, dry_run ? " (dry run: nothing written)" : "");
	if (a.changed > 0)
		printf("%zu of the rows added replace a removed one "
		       "(same port, new role, room or probe)\n",
		    a.changed);
	printf("schools: %zu added, %zu removed, %zu changed, %zu unchanged\n",
	    a.s_added, a.s_removed, a.s_changed, a.s_unchanged);
	rc = 0;
out:
	if (in_tx)
		sqlite3_exec(a.db, "ROLLBACK", NULL, NULL, NULL);
	inv_apply_free(&a);
	if (a.db != NULL)
		sqlite3_close(a.db);
	inventory_free(inv);
	if (rc != 0 && !dry_run)
		fprintf(stderr, "schoolnet-collector: %s: nothing imported\n",
		    csv_path);
	return rc;
}

/* --- export ------------------------------------------------------------- */

/* One field; quoted when libcsv would not read it back as it is. */
static void
inv_put_field(FILE *f, const char *s)
{
	size_t n = strlen(s);

	if (n > 0 &&
	    (strpbrk(s, ",\"\r\n") != NULL || s[0] == ' ' || s[0] == '\t' ||
	        s[n - 1] == ' ' || s[n - 1] == '\t'))
		csv_fwrite(f, s, n);
	else
		fputs(s, f);
}

static void
inv_put_row(FILE *f, const char **fields)
{
	for (int i = 0; i < COL_COUNT; i++) {
		if (i > 0)
			fputc(',', f);
		inv_put_field(f, fields[i]);
	}
	fputs("\r\n", f); /* what Excel writes */
}

static const char *
inv_text(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return t ? (const char *)t : "";
}

int
cmd_export(const struct collector_conf *conf, const char *out_path)
{
	static const char sql[] =
	    "SELECT s.town, i.school_code, s.name, s.type, s.town_seat, "
	    "i.role, i.room, i.switch, i.port, i.probe FROM inventory i JOIN "
	    "schools s ON s.code = i.school_code WHERE i.valid_to IS NULL "
	    "ORDER BY s.town, i.school_code, CASE i.role WHEN 'uplink' THEN 0 "
	    "WHEN 'recording' THEN 1 ELSE 2 END, i.room, i.switch, i.port";
	const char *fields[COL_COUNT];
	char tmp[sizeof(conf->database) + 16];
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	FILE *f = stdout;
	bool made_tmp = false;
	size_t n = 0;
	int rc = 1, src;

	if (!inv_file_exists(conf->database)) {
		fprintf(stderr,
		    "schoolnet-collector: the database %s does not exist "
		    "(import an inventory first)\n",
		    conf->database);
		return 1;
	}
	if (db_open(conf->database, false, &db) != 0) {
		fprintf(stderr,
		    "schoolnet-collector: cannot open the database %s\n",
		    conf->database);
		return 1;
	}
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "schoolnet-collector: database: %s\n",
		    sqlite3_errmsg(db));
		goto out;
	}
	if (out_path != NULL && strcmp(out_path, "-") != 0) {
		/* Write beside it and rename: a failure leaves the old file. */
		if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", out_path) >=
		    sizeof(tmp)) {
			fprintf(stderr,
			    "schoolnet-collector: %s: name too long\n",
			    out_path);
			goto out;
		}
		if ((f = fopen(tmp, "wb")) == NULL) {
			f = stdout;
			fprintf(stderr, "schoolnet-collector: %s: %s\n", tmp,
			    strerror(errno));
			goto out;
		}
		made_tmp = true;
	} else
		out_path = NULL;
	fputs("\xef\xbb\xbf", f); /* so Excel reads the file as UTF-8 */
	for (int i = 0; i < COL_COUNT; i++)
		fields[i] = inv_columns[i].name;
	inv_put_row(f, fields);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < COL_COUNT; i++)
			fields[i] = inv_text(st, i);
		fields[COL_SEAT] =
		    sqlite3_column_int(st, COL_SEAT) ? "yes" : "no";
		inv_put_row(f, fields);
		n++;
	}
	if (src != SQLITE_DONE) {
		fprintf(stderr, "schoolnet-collector: database: %s\n",
		    sqlite3_errmsg(db));
		goto out;
	}
	if (fflush(f) != 0 || ferror(f)) {
		fprintf(stderr, "schoolnet-collector: %s: %s\n",
		    out_path ? tmp : "stdout", strerror(errno));
		goto out;
	}
	if (out_path != NULL) {
		int c = fclose(f);

		f = stdout;
		if (c != 0 || rename(tmp, out_path) != 0) {
			fprintf(stderr, "schoolnet-collector: %s: %s\n",
			    out_path, strerror(errno));
			goto out;
		}
		fprintf(stderr, "schoolnet-collector: wrote %zu rows to %s\n",
		    n, out_path);
	}
	rc = 0;
out:
	if (f != stdout)
		fclose(f);
	if (rc != 0 && made_tmp)
		unlink(tmp);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}
