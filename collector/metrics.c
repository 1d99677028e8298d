/* metrics.c: the collector's state in Prometheus text format 0.0.4. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "collector.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"
#include "schoolnet/timeutil.h"
#include "schoolnet/utf8.h"

/*
 * Everything is read first, inside one read transaction (a savepoint, so
 * it also nests in a caller's transaction): the families agree with each
 * other, and a database error leaves nothing written. Then each family is
 * one pass over what was read, since the format wants a family's samples
 * together. Each label set is escaped once, into one arena, and written
 * by every family of its port, school, town or agent.
 *
 * A county (300 schools, 15,000 ports) is about 110,000 samples and
 * 17 MB. The port_map view costs most: it is read once, alone, and ports
 * and inventory rows are paired in memory.
 */

/* Mirrors query.c: data older than this many poll intervals is not current. */

/* A growable string. */
struct sbuf {
	char *p;
	size_t len, size;
};

/* A label set in an arena: name="value",... without the braces. */
struct lab {
	size_t off, len;
};

/* Room for n more bytes. */
static void
sb_reserve(struct sbuf *b, size_t n)
{
	if (b->len + n > b->size) {
		b->size =
		    b->size * 2 > b->len + n ? b->size * 2 : b->len + n + 4096;
		b->p = xreallocarray(b->p, b->size, 1);
	}
}

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (n == 0)
		return;
	sb_reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* Append a copy of l, which is in b (and moves if b grows). */
static void
sb_add_lab(struct sbuf *b, struct lab l)
{
	sb_reserve(b, l.len);
	memcpy(b->p + b->len, b->p + l.off, l.len);
	b->len += l.len;
}

static void
sb_puts(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* s[0..n) with backslashes and quotes escaped (sb_label does newlines). */
static void
sb_escape(struct sbuf *b, const char *s, size_t n)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\' && s[i] != '"')
			continue;
		sb_add(b, s + run, i - run);
		sb_puts(b, s[i] == '"' ? "\\\"" : "\\\\");
		run = i + 1;
	}
	sb_add(b, s + run, n - run);
}

/*
 * Append name="value" to the label set that starts at `start`. A label
 * value must be UTF-8 or the whole scrape is refused: what got into the
 * database was checked, but a line that is not is repaired ('?') rather
 * than trusted. Newlines survive as their escape.
 */
static void
sb_label(struct sbuf *b, size_t start, const char *name, const char *value)
{
	const char *s = value, *nl;

	if (b->len > start)
		sb_puts(b, ",");
	sb_puts(b, name);
	sb_puts(b, "=\"");
	for (;;) {
		size_t n =
		    (nl = strchr(s, '\n')) ? (size_t)(nl - s) : strlen(s);

		if (utf8_valid_label(s, n)) {
			sb_escape(b, s, n);
		} else {
			char *tmp = xmalloc(n + 1);

			sb_escape(b, tmp, utf8_sanitize(tmp, n + 1, s, n));
			free(tmp);
		}
		if (nl == NULL)
			break;
		sb_puts(b, "\\n");
		s = nl + 1;
	}
	sb_puts(b, "\"");
}

static struct lab
lab_since(const struct sbuf *b, size_t start)
{
	return (struct lab){start, b->len - start};
}

static const char *
text(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return t ? (const char *)t : "";
}

static bool
is_null(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL;
}

/* Mirrors query.c's meets_json: 1, 0, or -1 when the data cannot tell. */
static int
tally_meets(const struct verdict_tally *t)
{
	if (t->total == 0)
		return -1;
	if (t->below > 0)
		return 0;
	return t->unknown > 0 ? -1 : 1;
}

/* An inventory row and the port it names: a row of port_map. */
struct mmap {
	int64_t port_id, inventory_id;
	enum port_role role;
	struct lab tail; /* role, room, town */
	size_t port;     /* index in metrics.ports + 1; 0: none */
};

struct mport {
	struct lab labels;
	struct port_obs obs;
	bool mapped;           /* an inventory row names it */
	struct port_verdict v; /* when mapped */
	bool have_speed, have_oper, have_in, have_out;
	double in_bps, out_bps;
};

struct mschool {
	struct lab labels;
	size_t town; /* index in metrics.towns */
	struct verdict_tally uplink, classrooms, recording;
	enum verdict state; /* as `schools` says: ok, below, unknown */
};

struct mtown {
	struct lab labels;
	int compliant, below, unknown;
	int classrooms_below;
};

struct magent {
	struct lab labels;
	bool have_heard, reporting, have_pending;
	uint64_t heard_ms;
	int64_t dropped, pending;
};

/* The latest latency round of one (agent, label). */
struct mprobe {
	struct lab labels;
	uint64_t t_ms;
	int64_t sent, answered;
	double rtt_s, jitter_s;
};

/* A school's latest done throughput test. */
struct mthroughput {
	struct lab labels;
	double down_mbps, up_mbps; /* NaN: that direction not measured */
	uint64_t at_ms;
};

/* A recording room whose latest check is fresh. */
struct mrecording {
	struct lab labels;
	bool available;
};

struct mcause {
	char *name;
	struct lab labels;
	int64_t open;
};

struct metrics {
	struct sbuf arena;          /* every label set */
	struct mmap *maps;          /* by port id, then inventory id */
	struct mmap **by_inventory; /* the same by inventory id */
	size_t n_maps;
	struct mport *ports;
	size_t n_ports;
	struct mschool *schools;
	size_t n_schools;
	struct mtown *towns;
	size_t n_towns;
	struct magent *agents;
	size_t n_agents;
	struct mprobe *probes;
	size_t n_probes;
	struct mthroughput *tests;
	size_t n_tests;
	int64_t tests_by_state[4]; /* requested, running, done, failed */
	struct mrecording *rooms;
	size_t n_rooms;
	struct mcause *causes;
	size_t n_causes;
	int64_t outbox_backlog;
};

/* Append one zeroed element to arr (holding *n) and return arr; *elem
 * points at the new element. */
static void *
grow(void *arr, size_t *n, size_t size, void **elem)
{
	/* Room for 16, then doubled whenever n reaches a power of two. */
	if (*n == 0)
		arr = xreallocarray(arr, 16, size);
	else if (*n >= 16 && (*n & (*n - 1)) == 0)
		arr = xreallocarray(arr, *n * 2, size);
	*elem = (char *)arr + *n * size;
	memset(*elem, 0, size);
	(*n)++;
	return arr;
}

static int
prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return -1;
	}
	return 0;
}

/* Mirrors query.c's school_finish: the state `schools` shows. */
static enum verdict
school_state(const struct mschool *s)
{
	int below = s->uplink.below + s->classrooms.below + s->recording.below;
	int unknown =
	    s->uplink.unknown + s->classrooms.unknown + s->recording.unknown;

	if (below > 0)
		return VERDICT_BELOW;
	if (unknown > 0 || s->uplink.total == 0)
		return VERDICT_UNKNOWN;
	return VERDICT_OK;
}

static void
town_add(struct mtown *t, const struct mschool *s)
{
	if (s->state == VERDICT_OK)
		t->compliant++;
	else if (s->state == VERDICT_BELOW)
		t->below++;
	else
		t->unknown++;
	t->classrooms_below += s->classrooms.below;
}

static int
map_cmp(const void *a, const void *b)
{
	const struct mmap *x = a, *y = b;

	if (x->port_id != y->port_id)
		return x->port_id < y->port_id ? -1 : 1;
	if (x->inventory_id != y->inventory_id)
		return x->inventory_id < y->inventory_id ? -1 : 1;
	return 0;
}

static int
map_inventory_cmp(const void *a, const void *b)
{
	const struct mmap *x = *(struct mmap *const *)a;
	const struct mmap *y = *(struct mmap *const *)b;

	if (x->inventory_id != y->inventory_id)
		return x->inventory_id < y->inventory_id ? -1 : 1;
	return map_cmp(x, y);
}

/* Index of the first row of maps naming port_id, or n_maps. */
static size_t
map_by_port(const struct metrics *m, int64_t port_id)
{
	size_t lo = 0, hi = m->n_maps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->maps[mid].port_id < port_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->n_maps && m->maps[lo].port_id == port_id ? lo
	                                                        : m->n_maps;
}

/* Index of the first row of by_inventory for inventory_id, or n_maps. */
static size_t
map_by_inventory(const struct metrics *m, int64_t inventory_id)
{
	size_t lo = 0, hi = m->n_maps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->by_inventory[mid]->inventory_id < inventory_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->n_maps &&
	        m->by_inventory[lo]->inventory_id == inventory_id
	    ? lo
	    : m->n_maps;
}

/*
 * Which port each current inventory row names, and the labels it gives
 * the port, as `ports` joins them. The view is read once, alone: it costs
 * most of the time, more when joined (SQLite then materializes it).
 */
static int
load_maps(sqlite3 *db, struct metrics *m)
{
	static const char sql[] =
	    "SELECT m.port_id, m.inventory_id, m.role, m.room, sc.town"
	    " FROM port_map m LEFT JOIN schools sc ON sc.code = m.school_code";
	struct sbuf *b = &m->arena;
	sqlite3_stmt *st;
	int rc;

	if (prepare(db, sql, &st) != 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		size_t start = b->len;
		struct mmap *map;

		m->maps =
		    grow(m->maps, &m->n_maps, sizeof(*map), (void **)&map);
		map->port_id = sqlite3_column_int64(st, 0);
		map->inventory_id = sqlite3_column_int64(st, 1);
		map->role = policy_role(text(st, 2));
		sb_label(b, start, "role", policy_role_name(map->role));
		sb_label(b, start, "room", text(st, 3));
		sb_label(b, start, "town", text(st, 4));
		map->tail = lab_since(b, start);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -1;
	if (m->n_maps == 0)
		return 0;
	qsort(m->maps, m->n_maps, sizeof(*m->maps), map_cmp);
	m->by_inventory =
	    xreallocarray(NULL, m->n_maps, sizeof(*m->by_inventory));
	for (size_t i = 0; i < m->n_maps; i++)
		m->by_inventory[i] = &m->maps[i];
	qsort(m->by_inventory, m->n_maps, sizeof(*m->by_inventory),
	    map_inventory_cmp);
	return 0;
}

/*
 * Every port the agents report, as `ports` lists them, judged against the
 * role of the inventory row naming it. A port two rows name (by ifName
 * and by ifDescr) is one series, with the first row's labels.
 */
static int
load_ports(
    sqlite3 *db, const struct policy_conf *pc, uint64_t now, struct metrics *m)
{
	static const char sql[] =
	    "SELECT p.id, a.school, a.name, s.name, p.if_index, p.if_name,"
	    " p.if_descr, p.admin, p.oper, p.speed_mbps, p.duplex, p.last_seen,"
	    " p.in_errors, p.out_errors, s.poll_interval, p.in_bps, p.out_bps"
	    " FROM ports p JOIN switches s ON s.id = p.switch_id"
	    " JOIN agents a ON a.id = s.agent_id"
	    " ORDER BY a.school, a.name, s.name, p.if_index";
	struct sbuf *b = &m->arena;
	sqlite3_stmt *st;
	int rc;

	if (prepare(db, sql, &st) != 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		size_t start = b->len, k = map_by_port(m, id);
		struct mport *p;
		char idx[24];

		m->ports = grow(m->ports, &m->n_ports, sizeof(*p), (void **)&p);
		port_obs_from_row(st, 7, now, &p->obs);
		p->have_oper = !is_null(st, 8);
		p->have_speed = !is_null(st, 9);
		/* Rates of a port gone quiet are history, not the present. */
		p->have_in = p->obs.fresh && !is_null(st, 15);
		p->have_out = p->obs.fresh && !is_null(st, 16);
		p->in_bps = sqlite3_column_double(st, 15);
		p->out_bps = sqlite3_column_double(st, 16);
		snprintf(idx, sizeof(idx), "%lld",
		    (long long)sqlite3_column_int64(st, 4));
		sb_label(b, start, "school", text(st, 1));
		sb_label(b, start, "agent", text(st, 2));
		sb_label(b, start, "switch", text(st, 3));
		sb_label(
		    b, start, "port", *text(st, 5) ? text(st, 5) : text(st, 6));
		sb_label(b, start, "if_index", idx);
		if (k < m->n_maps) {
			p->mapped = true;
			policy_eval_port(pc, m->maps[k].role, &p->obs, &p->v);
			sb_puts(b, ",");
			sb_add_lab(b, m->maps[k].tail);
		}
		p->labels = lab_since(b, start);
		for (; k < m->n_maps && m->maps[k].port_id == id; k++)
			m->maps[k].port = m->n_ports;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * Every school's current inventory rows judged as `schools` judges them
 * (an inventory row naming no port is unknown, one naming two counts
 * twice), and the towns' totals.
 */
static int
load_schools(sqlite3 *db, const struct policy_conf *pc, struct metrics *m)
{
	static const char sql[] =
	    "SELECT sc.code, sc.name, sc.town, sc.town_seat, i.role, i.id"
	    " FROM schools sc"
	    " LEFT JOIN inventory i ON i.school_code = sc.code"
	    "  AND i.valid_to IS NULL"
	    " WHERE sc.removed_at IS NULL"
	    " ORDER BY sc.town, sc.code";
	static const struct port_obs no_data; /* not fresh: unknown */
	struct sbuf *b = &m->arena;
	struct mschool *sc = NULL;
	struct mtown *town = NULL;
	char *code = NULL, *town_name = NULL;
	sqlite3_stmt *st;
	int rc;

	if (prepare(db, sql, &st) != 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		size_t start = b->len, k;
		enum port_role role;
		struct port_verdict v;
		struct verdict_tally *t;
		int64_t inv;

		if (town == NULL || strcmp(town_name, text(st, 2)) != 0) {
			free(town_name);
			town_name = xstrdup(text(st, 2));
			m->towns = grow(m->towns, &m->n_towns, sizeof(*town),
			    (void **)&town);
			sb_label(b, start, "town", town_name);
			town->labels = lab_since(b, start);
			start = b->len;
		}
		if (sc == NULL || strcmp(code, text(st, 0)) != 0) {
			free(code);
			code = xstrdup(text(st, 0));
			m->schools = grow(m->schools, &m->n_schools,
			    sizeof(*sc), (void **)&sc);
			sb_label(b, start, "school", code);
			sb_label(b, start, "name", text(st, 1));
			sb_label(b, start, "town", text(st, 2));
			sb_label(b, start, "town_seat",
			    sqlite3_column_int(st, 3) ? "true" : "false");
			sc->labels = lab_since(b, start);
			sc->town = m->n_towns - 1;
		}
		if (is_null(st, 4))
			continue; /* a school with no inventory rows */
		role = policy_role(text(st, 4));
		t = role == ROLE_UPLINK      ? &sc->uplink
		    : role == ROLE_RECORDING ? &sc->recording
		                             : &sc->classrooms;
		/* As the LEFT JOINs of `schools`: a verdict for each port
		 * the row names, or one "unknown" when it names none. */
		inv = sqlite3_column_int64(st, 5);
		k = map_by_inventory(m, inv);
		do {
			const struct mmap *map =
			    k < m->n_maps ? m->by_inventory[k] : NULL;

			policy_eval_port(pc, role,
			    map && map->port ? &m->ports[map->port - 1].obs
			                     : &no_data,
			    &v);
			verdict_tally_add(t, v.verdict);
		} while (
		    ++k < m->n_maps && m->by_inventory[k]->inventory_id == inv);
	}
	sqlite3_finalize(st);
	free(code);
	free(town_name);
	if (rc != SQLITE_DONE)
		return -1;
	for (size_t i = 0; i < m->n_schools; i++) {
		sc = &m->schools[i];
		sc->state = school_state(sc);
		town_add(&m->towns[sc->town], sc);
	}
	return 0;
}

/* Mirrors query_agents: heard within 2.5 poll intervals (the slowest of
 * the agent's switches; 60 s without any) is reporting. */
static int
load_agents(sqlite3 *db, uint64_t now, struct metrics *m)
{
	static const char sql[] =
	    "SELECT a.name, a.school, a.last_heard, a.dropped, a.spool_pending,"
	    " (SELECT max(poll_interval) FROM switches s"
	    "  WHERE s.agent_id = a.id)"
	    " FROM agents a ORDER BY a.school, a.name";
	struct sbuf *b = &m->arena;
	sqlite3_stmt *st;
	int rc;

	if (prepare(db, sql, &st) != 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		double interval = sqlite3_column_double(st, 5), window;
		size_t start = b->len;
		struct magent *a;

		m->agents =
		    grow(m->agents, &m->n_agents, sizeof(*a), (void **)&a);
		a->have_heard = !is_null(st, 2);
		a->heard_ms = (uint64_t)sqlite3_column_int64(st, 2);
		window =
		    (interval > 0 ? interval : 60) * 1000 * FRESH_INTERVALS;
		a->reporting = a->have_heard &&
		    now - a->heard_ms <= (uint64_t)window + 1000;
		a->dropped = sqlite3_column_int64(st, 3);
		a->have_pending = !is_null(st, 4);
		a->pending = sqlite3_column_int64(st, 4);
		sb_label(b, start, "agent", text(st, 0));
		sb_label(b, start, "school", text(st, 1));
		a->labels = lab_since(b, start);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Mirrors query_probes: each (agent, label)'s newest round. */
static int
load_probes(sqlite3 *db, struct metrics *m)
{
	static const char sql[] =
	    "SELECT p.school, a.name, p.target, p.label, p.t_ms, p.sent,"
	    " p.answered, p.rtt_avg_us, p.jitter_us"
	    " FROM probe_last l JOIN agents a ON a.id = l.agent_id"
	    " JOIN probe_latency p ON p.agent_id = l.agent_id"
	    "  AND p.label = l.label AND p.t_ms = l.t_ms"
	    /* two rounds in one ms (a clock set back): one series */
	    " GROUP BY l.agent_id, l.label"
	    " ORDER BY p.school, a.name, p.label";
	struct sbuf *b = &m->arena;
	sqlite3_stmt *st;
	int rc;

	if (prepare(db, sql, &st) != 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		size_t start = b->len;
		struct mprobe *p;

		m->probes =
		    grow(m->probes, &m->n_probes, sizeof(*p), (void **)&p);
		p->t_ms = (uint64_t)sqlite3_column_int64(st, 4);
		p->sent = sqlite3_column_int64(st, 5);
		p->answered = sqlite3_column_int64(st, 6);
		p->rtt_s = is_null(st, 7) ? NAN
					   : sqlite3_column_int64(st, 7) / 1e6;
		p->jitter_s = is_null(st, 8) ? NAN
					      : sqlite3_column_int64(st, 8) / 1e6;
		sb_label(b, start, "school", text(st, 0));
		sb_label(b, start, "agent", text(st, 1));
		sb_label(b, start, "target", text(st, 2));
		sb_label(b, start, "label", text(st, 3));
		p->labels = lab_since(b, start);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static const char *const test_states[] = {"requested", "running", "done",
    "failed"};

/* Mirrors the schools listing's "throughput": each school's latest done
 * test; and every test by state. */
static int
load_throughput(sqlite3 *db, struct metrics *m)
{
	static const char sql[] =
	    "SELECT sc.code, t.down_mbps, t.up_mbps, t.finished_ms"
	    " FROM schools sc JOIN probe_throughput t ON t.id = (SELECT id"
	    "  FROM probe_throughput WHERE school_code = sc.code"
	    "  AND state = 'done' ORDER BY requested_ms DESC LIMIT 1)"
	    " WHERE sc.removed_at IS NULL ORDER BY sc.code";
	static const char count_sql[] =
	    "SELECT state, count(*) FROM probe_throughput GROUP BY state";
	struct sbuf *b = &m->arena;
	sqlite3_stmt *st;
	int rc;

	if (prepare(db, sql, &st) != 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		size_t start = b->len;
		struct mthroughput *t;

		m->tests = grow(m->tests, &m->n_tests, sizeof(*t), (void **)&t);
		t->down_mbps = is_null(st, 1) ? NAN
					      : sqlite3_column_double(st, 1);
		t->up_mbps = is_null(st, 2) ? NAN
					    : sqlite3_column_double(st, 2);
		t->at_ms = (uint64_t)sqlite3_column_int64(st, 3);
		sb_label(b, start, "school", text(st, 0));
		t->labels = lab_since(b, start);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE || prepare(db, count_sql, &st) != 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		for (size_t i = 0; i < nitems(test_states); i++)
			if (strcmp(text(st, 0), test_states[i]) == 0)
				m->tests_by_state[i] = sqlite3_column_int64(st,
				    1);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Mirrors query_recording: a room's newest check interval while it is
 * fresh (2.5 check intervals); rooms without one are left out. */
static int
load_recording(sqlite3 *db, uint64_t now, struct metrics *m)
{
	static const char sql[] =
	    "SELECT i.school_code, i.room, i.switch, i.port, r.available,"
	    " r.t_end, r.interval_ms"
	    " FROM inventory i JOIN schools sc ON sc.code = i.school_code"
	    " JOIN recording_state r ON r.id = (SELECT id FROM"
	    "  recording_state WHERE inventory_id = i.id"
	    "  ORDER BY t_start DESC LIMIT 1)"
	    " WHERE i.role = 'recording' AND i.valid_to IS NULL"
	    "  AND sc.removed_at IS NULL"
	    " ORDER BY i.school_code, i.switch, i.port";
	struct sbuf *b = &m->arena;
	sqlite3_stmt *st;
	int rc;

	if (prepare(db, sql, &st) != 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t t_end = (uint64_t)sqlite3_column_int64(st, 5);
		double window =
		    (double)sqlite3_column_int64(st, 6) * FRESH_INTERVALS;
		size_t start = b->len;
		struct mrecording *r;

		if (now > t_end + (uint64_t)window + 1000)
			continue;
		m->rooms = grow(m->rooms, &m->n_rooms, sizeof(*r), (void **)&r);
		r->available = sqlite3_column_int(st, 4) != 0;
		sb_label(b, start, "school", text(st, 0));
		sb_label(b, start, "room", text(st, 1));
		sb_label(b, start, "switch", text(st, 2));
		sb_label(b, start, "port", text(st, 3));
		r->labels = lab_since(b, start);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static struct mcause *
cause_add(struct metrics *m, const char *name)
{
	size_t start = m->arena.len;
	struct mcause *c;

	m->causes = grow(m->causes, &m->n_causes, sizeof(*c), (void **)&c);
	c->name = xstrdup(name);
	sb_label(&m->arena, start, "cause", name);
	c->labels = lab_since(&m->arena, start);
	return c;
}

/* Open alerts by cause. The causes alerts.c raises are always there (0
 * when none is open), so a rule can tell "none" from "no data". */
static int
load_alerts(sqlite3 *db, struct metrics *m)
{
	static const char *const causes[] = {"port_down", "speed_low",
	    "half_duplex", "errors", "uplink_down", "uplink_speed_low",
	    "agent_offline", "switch_unreachable"};
	static const char sql[] =
	    "SELECT cause, count(*) FROM alerts WHERE cleared_at IS NULL"
	    " GROUP BY cause ORDER BY cause";
	sqlite3_stmt *st;
	int rc;

	for (size_t i = 0; i < nitems(causes); i++)
		cause_add(m, causes[i]);
	if (prepare(db, sql, &st) != 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct mcause *c = NULL;

		for (size_t i = 0; i < m->n_causes && c == NULL; i++)
			if (strcmp(m->causes[i].name, text(st, 0)) == 0)
				c = &m->causes[i];
		if (c == NULL)
			c = cause_add(m, text(st, 0));
		c->open = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
load_outbox(sqlite3 *db, struct metrics *m)
{
	/* Counted from the outbox_due partial index. */
	static const char sql[] =
	    "SELECT count(*) FROM outbox"
	    " WHERE sent_at IS NULL AND failed_at IS NULL";
	sqlite3_stmt *st;
	int rc;

	if (prepare(db, sql, &st) != 0)
		return -1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		m->outbox_backlog = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

static void
metrics_free(struct metrics *m)
{
	for (size_t i = 0; i < m->n_causes; i++)
		free(m->causes[i].name);
	free(m->arena.p);
	free(m->maps);
	free(m->by_inventory);
	free(m->ports);
	free(m->schools);
	free(m->towns);
	free(m->agents);
	free(m->probes);
	free(m->tests);
	free(m->rooms);
	free(m->causes);
}

/* --- writing --------------------------------------------------------- */

#define PREFIX "schoolnet_"

static void
family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP " PREFIX "%s %s\n# TYPE " PREFIX "%s %s\n", name,
	    help, name, type);
}

/* v as the format wants it; integers without the cost of %g. */
static size_t
format_value(char *buf, size_t size, double v)
{
	char tmp[24];
	size_t n = 0, i = 0;
	uint64_t u;

	if (isnan(v))
		return (size_t)snprintf(buf, size, "NaN");
	if (isinf(v))
		return (size_t)snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
	if (v != floor(v) || fabs(v) >= 1e15)
		return (size_t)snprintf(buf, size, "%.15g", v);
	if (v < 0)
		buf[n++] = '-';
	u = (uint64_t)fabs(v);
	do
		tmp[i++] = (char)('0' + u % 10);
	while ((u /= 10) > 0);
	while (i > 0)
		buf[n++] = tmp[--i];
	buf[n] = '\0';
	return n;
}

/*
 * One sample: labels (from the arena) and extra (a label pair) may be
 * empty. A county is some 100,000 lines: each goes out in one fwrite.
 */
static void
sample(FILE *out, const struct metrics *m, const char *name, struct lab l,
    const char *extra, double v)
{
	size_t name_len = strlen(name), extra_len = extra ? strlen(extra) : 0;
	bool braces = l.len > 0 || extra_len > 0;
	char small[1024], *line = small, *p;
	size_t need = sizeof(PREFIX) + name_len + l.len + extra_len + 48;

	if (need > sizeof(small))
		line = xmalloc(need);
	p = line;
	memcpy(p, PREFIX, sizeof(PREFIX) - 1);
	p += sizeof(PREFIX) - 1;
	memcpy(p, name, name_len);
	p += name_len;
	if (braces) {
		*p++ = '{';
		if (l.len > 0)
			memcpy(p, m->arena.p + l.off, l.len);
		p += l.len;
		if (l.len > 0 && extra_len > 0)
			*p++ = ',';
		if (extra_len > 0)
			memcpy(p, extra, extra_len);
		p += extra_len;
		*p++ = '}';
	}
	*p++ = ' ';
	p += format_value(p, 40, v);
	*p++ = '\n';
	fwrite(line, 1, (size_t)(p - line), out);
	if (line != small)
		free(line);
}

/* The per-port families: a value, or false to leave the port out. */
typedef bool (*port_value_fn)(const struct mport *p, double *v);

static bool
port_speed(const struct mport *p, double *v)
{
	*v = p->obs.speed_mbps;
	return p->have_speed;
}

static bool
port_up(const struct mport *p, double *v)
{
	*v = p->obs.oper == 1;
	return p->have_oper;
}

static bool
port_in(const struct mport *p, double *v)
{
	*v = p->in_bps / 8;
	return p->have_in;
}

static bool
port_out(const struct mport *p, double *v)
{
	*v = p->out_bps / 8;
	return p->have_out;
}

static bool
port_errors(const struct mport *p, double *v)
{
	*v = p->obs.errors_per_min;
	return p->obs.have_errors && p->obs.fresh;
}

static bool
port_fresh(const struct mport *p, double *v)
{
	*v = p->obs.fresh;
	return true;
}

static bool
port_target(const struct mport *p, double *v)
{
	*v = p->v.target_mbps;
	return p->mapped;
}

static bool
port_at_target(const struct mport *p, double *v)
{
	*v = p->v.verdict == VERDICT_OK;
	return p->mapped && p->v.verdict != VERDICT_UNKNOWN;
}

static const struct {
	const char *name;
	port_value_fn value;
	const char *help;
} port_families[] = {
    {"port_speed_mbps", port_speed,
        "Speed the port last negotiated, in Mbit/s (ifHighSpeed)."},
    {"port_up", port_up, "1 when the port was last seen up (ifOperStatus)."},
    /* Bytes, the base unit promtool insists on, though polled as bits. */
    {"port_in_bytes_per_second", port_in,
        "Inbound traffic over the last poll, for ports with fresh data."},
    {"port_out_bytes_per_second", port_out,
        "Outbound traffic over the last poll, for ports with fresh data."},
    {"port_errors_per_minute", port_errors,
        "In and out errors per minute over the last poll, for ports with "
        "fresh data."},
    {"port_fresh", port_fresh,
        "1 when the port was seen within 2.5 poll intervals."},
    {"port_target_mbps", port_target,
        "Speed the port's inventory role requires, in Mbit/s."},
    {"port_at_target", port_at_target,
        "1 when an inventory port meets its target (up, speed, full duplex, "
        "errors), 0 when below; absent without fresh data."},
};

static void
write_ports(FILE *out, const struct metrics *m)
{
	for (size_t f = 0; f < nitems(port_families); f++) {
		family(
		    out, port_families[f].name, "gauge", port_families[f].help);
		for (size_t i = 0; i < m->n_ports; i++) {
			double v;

			if (port_families[f].value(&m->ports[i], &v))
				sample(out, m, port_families[f].name,
				    m->ports[i].labels, NULL, v);
		}
	}
}

/* school_classrooms or (recording) school_recording_rooms. */
static void
write_tally(FILE *out, const char *name, const char *help,
    const struct metrics *m, bool recording)
{
	family(out, name, "gauge", help);
	for (size_t i = 0; i < m->n_schools; i++) {
		const struct mschool *s = &m->schools[i];
		const struct verdict_tally *t =
		    recording ? &s->recording : &s->classrooms;

		sample(out, m, name, s->labels, "state=\"ok\"", t->ok);
		sample(out, m, name, s->labels, "state=\"below\"", t->below);
		sample(
		    out, m, name, s->labels, "state=\"unknown\"", t->unknown);
	}
}

static void
write_schools(FILE *out, const struct metrics *m)
{
	family(out, "school_uplink_at_target", "gauge",
	    "1 when every uplink of the school meets its target (千兆进校), "
	    "0 when one is below; absent when unknown or none is listed.");
	for (size_t i = 0; i < m->n_schools; i++) {
		int meets = tally_meets(&m->schools[i].uplink);

		if (meets >= 0)
			sample(out, m, "school_uplink_at_target",
			    m->schools[i].labels, NULL, meets);
	}
	write_tally(out, "school_classrooms",
	    "Classroom ports of the school by state (百兆进班).", m, false);
	write_tally(out, "school_recording_rooms",
	    "Recording-room ports of the school by state.", m, true);
	family(out, "school_compliant", "gauge",
	    "1 when the school's uplink and every classroom and recording "
	    "room meet their targets, 0 when one is below; absent when "
	    "unknown (the state `schools` shows).");
	for (size_t i = 0; i < m->n_schools; i++)
		if (m->schools[i].state != VERDICT_UNKNOWN)
			sample(out, m, "school_compliant", m->schools[i].labels,
			    NULL, m->schools[i].state == VERDICT_OK);
}

static void
write_towns(FILE *out, const struct metrics *m)
{
	family(out, "town_schools", "gauge",
	    "Schools of the town by state (compliant, below, unknown).");
	for (size_t i = 0; i < m->n_towns; i++) {
		const struct mtown *t = &m->towns[i];

		sample(out, m, "town_schools", t->labels, "state=\"compliant\"",
		    t->compliant);
		sample(out, m, "town_schools", t->labels, "state=\"below\"",
		    t->below);
		sample(out, m, "town_schools", t->labels, "state=\"unknown\"",
		    t->unknown);
	}
	family(out, "town_classrooms_below", "gauge",
	    "Classroom ports of the town's schools below target.");
	for (size_t i = 0; i < m->n_towns; i++)
		sample(out, m, "town_classrooms_below", m->towns[i].labels,
		    NULL, m->towns[i].classrooms_below);
}

static void
write_agents(FILE *out, const struct metrics *m)
{
	family(out, "agent_last_heard_timestamp_seconds", "gauge",
	    "When the agent's last report or status arrived (Unix time).");
	for (size_t i = 0; i < m->n_agents; i++)
		if (m->agents[i].have_heard)
			sample(out, m, "agent_last_heard_timestamp_seconds",
			    m->agents[i].labels, NULL,
			    (double)m->agents[i].heard_ms / 1000.0);
	family(out, "agent_reporting", "gauge",
	    "1 when the agent was heard within 2.5 poll intervals.");
	for (size_t i = 0; i < m->n_agents; i++)
		sample(out, m, "agent_reporting", m->agents[i].labels, NULL,
		    m->agents[i].reporting);
	family(out, "agent_spool_dropped", "gauge",
	    "Reports the agent's spool has dropped, its running total as it "
	    "last said.");
	for (size_t i = 0; i < m->n_agents; i++)
		sample(out, m, "agent_spool_dropped", m->agents[i].labels, NULL,
		    (double)m->agents[i].dropped);
	family(out, "agent_spool_pending", "gauge",
	    "Reports waiting in the agent's spool, as it last said.");
	for (size_t i = 0; i < m->n_agents; i++)
		if (m->agents[i].have_pending)
			sample(out, m, "agent_spool_pending",
			    m->agents[i].labels, NULL,
			    (double)m->agents[i].pending);
}

/* Absent rather than NaN when a round could not measure it. */
static void
write_probes(FILE *out, const struct metrics *m)
{
	family(out, "probe_rtt_seconds", "gauge",
	    "Average TCP connect time of the target's latest round (absent "
	    "when no connect was answered).");
	for (size_t i = 0; i < m->n_probes; i++)
		if (!isnan(m->probes[i].rtt_s))
			sample(out, m, "probe_rtt_seconds", m->probes[i].labels,
			    NULL, m->probes[i].rtt_s);
	family(out, "probe_loss_ratio", "gauge",
	    "Share of the latest round's connects not answered in time "
	    "(0 to 1).");
	for (size_t i = 0; i < m->n_probes; i++)
		if (m->probes[i].sent > 0)
			sample(out, m, "probe_loss_ratio", m->probes[i].labels,
			    NULL,
			    (double)(m->probes[i].sent - m->probes[i].answered) /
				(double)m->probes[i].sent);
	family(out, "probe_jitter_seconds", "gauge",
	    "Mean difference of consecutive connect times in the latest round "
	    "(absent when fewer than two were answered).");
	for (size_t i = 0; i < m->n_probes; i++)
		if (!isnan(m->probes[i].jitter_s))
			sample(out, m, "probe_jitter_seconds",
			    m->probes[i].labels, NULL, m->probes[i].jitter_s);
	family(out, "probe_last_timestamp_seconds", "gauge",
	    "When the target's latest round started (Unix time).");
	for (size_t i = 0; i < m->n_probes; i++)
		sample(out, m, "probe_last_timestamp_seconds",
		    m->probes[i].labels, NULL,
		    (double)m->probes[i].t_ms / 1000.0);
}

/* A school's latest done test: a value, or false to leave it out. */
typedef bool (*test_value_fn)(const struct mthroughput *t, double *v);

static bool
test_down(const struct mthroughput *t, double *v)
{
	*v = t->down_mbps;
	return !isnan(*v);
}

static bool
test_up(const struct mthroughput *t, double *v)
{
	*v = t->up_mbps;
	return !isnan(*v);
}

static bool
test_at(const struct mthroughput *t, double *v)
{
	*v = (double)t->at_ms / 1000.0;
	return true;
}

static const struct {
	const char *name;
	test_value_fn value;
	const char *help;
} test_families[] = {
    {"throughput_down_mbps", test_down,
        "Download the school's latest done throughput test measured, in "
        "Mbit/s (absent: none, or that direction failed)."},
    {"throughput_up_mbps", test_up,
        "Upload the school's latest done throughput test measured, in "
        "Mbit/s (absent: none, or that direction failed)."},
    {"throughput_last_timestamp_seconds", test_at,
        "When the school's latest done throughput test ended (Unix time)."},
};

static void
write_throughput(FILE *out, const struct metrics *m)
{
	static const struct lab none;
	char state[32];

	for (size_t f = 0; f < nitems(test_families); f++) {
		family(out, test_families[f].name, "gauge",
		    test_families[f].help);
		for (size_t i = 0; i < m->n_tests; i++) {
			double v;

			if (test_families[f].value(&m->tests[i], &v))
				sample(out, m, test_families[f].name,
				    m->tests[i].labels, NULL, v);
		}
	}
	family(out, "throughput_tests_total", "counter",
	    "Throughput tests stored, ended (done or failed) since the "
	    "database began.");
	for (size_t i = 2; i < nitems(test_states); i++) {
		snprintf(state, sizeof(state), "state=\"%s\"", test_states[i]);
		sample(out, m, "throughput_tests_total", none, state,
		    (double)m->tests_by_state[i]);
	}
	family(out, "throughput_tests_open", "gauge",
	    "Throughput tests waiting (requested) or running now.");
	for (size_t i = 0; i < 2; i++) {
		snprintf(state, sizeof(state), "state=\"%s\"", test_states[i]);
		sample(out, m, "throughput_tests_open", none, state,
		    (double)m->tests_by_state[i]);
	}
	family(out, "recording_available", "gauge",
	    "1 when the recording room's host answered its last check and its "
	    "port meets its target, 0 when not; absent when unknown (no fresh "
	    "check).");
	for (size_t i = 0; i < m->n_rooms; i++)
		sample(out, m, "recording_available", m->rooms[i].labels, NULL,
		    m->rooms[i].available);
}

static void
write_collector(
    FILE *out, const struct metrics *m, const struct metrics_stats *st)
{
	static const struct lab none;
	static const struct {
		const char *name, *type, *help;
		size_t offset;
	} stats[] = {
	    {"collector_agent_connections", "gauge",
	        "Agent connections open now.",
	        offsetof(struct metrics_stats, connections)},
	    {"collector_handshakes", "gauge",
	        "Agent connections not yet past HELLO.",
	        offsetof(struct metrics_stats, handshakes)},
	    {"collector_reports_stored_total", "counter",
	        "Reports stored since the collector started.",
	        offsetof(struct metrics_stats, reports_stored)},
	    {"collector_duplicates_total", "counter",
	        "Reports and probe rounds received again and not stored, since "
	        "the start.",
	        offsetof(struct metrics_stats, duplicates)},
	    {"collector_writer_queue_depth", "gauge",
	        "Reports waiting for the database writer.",
	        offsetof(struct metrics_stats, queue_depth)},
	    {"collector_writer_queue_max", "gauge",
	        "Reports the writer's queue holds before agents are paused.",
	        offsetof(struct metrics_stats, queue_max)},
	    {"collector_http_requests_total", "counter",
	        "HTTP requests since the collector started.",
	        offsetof(struct metrics_stats, http_requests)},
	    {"collector_http_jobs_total", "counter",
	        "Database work done for HTTP requests since the start (identical "
	        "requests that wait together share one).",
	        offsetof(struct metrics_stats, http_jobs)},
	};

	family(out, "alerts_open", "gauge", "Open alerts by cause.");
	for (size_t i = 0; i < m->n_causes; i++)
		sample(out, m, "alerts_open", m->causes[i].labels, NULL,
		    (double)m->causes[i].open);
	family(out, "collector_start_time_seconds", "gauge",
	    "When the collector started (Unix time).");
	fprintf(out, PREFIX "collector_start_time_seconds %llu.%03u\n",
	    (unsigned long long)(st->start_ms / 1000),
	    (unsigned)(st->start_ms % 1000));
	for (size_t i = 0; i < nitems(stats); i++) {
		const char *field = (const char *)st + stats[i].offset;

		family(out, stats[i].name, stats[i].type, stats[i].help);
		fprintf(out, PREFIX "%s %llu\n", stats[i].name,
		    (unsigned long long)*(const uint64_t *)field);
	}
	family(out, "collector_outbox_backlog", "gauge",
	    "Notifications waiting for delivery (neither sent nor given up).");
	sample(out, m, "collector_outbox_backlog", none, NULL,
	    (double)m->outbox_backlog);
}

int
metrics_write(FILE *out, sqlite3 *db, const struct policy_conf *pc,
    const struct metrics_stats *st)
{
	uint64_t now = time_now_ms();
	struct metrics m;
	int rc = -1;

	memset(&m, 0, sizeof(m));
	if (sqlite3_exec(db, "SAVEPOINT metrics", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		log_warnx("metrics: %s", sqlite3_errmsg(db));
		return -1;
	}
	/* In this order: ports use the maps, schools the ports. */
	if (load_maps(db, &m) != 0 || load_ports(db, pc, now, &m) != 0 ||
	    load_schools(db, pc, &m) != 0 || load_agents(db, now, &m) != 0 ||
	    load_probes(db, &m) != 0 || load_throughput(db, &m) != 0 ||
	    load_recording(db, now, &m) != 0 || load_alerts(db, &m) != 0 ||
	    load_outbox(db, &m) != 0) {
		log_warnx("metrics: %s", sqlite3_errmsg(db));
		goto out;
	}
	write_ports(out, &m);
	write_schools(out, &m);
	write_towns(out, &m);
	write_agents(out, &m);
	write_probes(out, &m);
	write_throughput(out, &m);
	write_collector(out, &m, st);
	rc = 0;
out:
	/* Only read: releasing ends the read transaction (or nests). */
	sqlite3_exec(db, "RELEASE metrics", NULL, NULL, NULL);
	metrics_free(&m);
	return rc;
}
