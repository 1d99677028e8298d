/* spool.c: reports and probe rounds wait in SQLite until the collector has them. */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <sqlite3.h>

#include "agent.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"
#include "schoolnet/timeutil.h"

#define PROBE_ROOM_MIN (64 * 1024)
#define PROBE_LOG_EVERY_MS 60000

struct spool {
	sqlite3 *db;
	char *path;
	uint64_t epoch;
	uint64_t last_seq;
	uint64_t dropped;	/* reports dropped for room, ever */
	uint64_t probe_dropped;	/* probe results dropped, ever */
	uint64_t bytes;		/* report frame bytes held */
	uint64_t probe_bytes;	/* probe frame bytes held */
	uint64_t held;		/* frames up to here are on their way */
	uint64_t probe_unlogged; /* probe drops not logged yet */
	uint64_t probe_logged_ms; /* monotonic: the last such line */
	sqlite3_stmt *st_insert, *st_next, *st_ack, *st_meta_set, *st_count,
	    *st_oldest, *st_drop, *st_range_bytes;
	struct buf frame;
};

static const char spool_schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER);"
    "CREATE TABLE IF NOT EXISTS spool(seq INTEGER PRIMARY KEY,"
    " t_ms INTEGER NOT NULL, frame BLOB NOT NULL);";

/* The frame's wire type (REPORT or PROBE), so the two kinds can be sent,
 * counted and dropped apart. A spool from before has reports only (and,
 * from a work-in-progress build, PROBEs: read from the frame header). */
static const char spool_type_schema[] =
    "ALTER TABLE spool ADD COLUMN type INTEGER NOT NULL DEFAULT 3;"
    "UPDATE spool SET type = 9 WHERE hex(substr(frame, 4, 1)) = '09';";

static void spool_recount(struct spool *sp);

/* The bytes counter of a frame type's room. */
static uint64_t *
spool_bytes(struct spool *sp, int type)
{
	return type == WIRE_PROBE ? &sp->probe_bytes : &sp->bytes;
}

uint64_t
spool_probe_room(uint64_t max_bytes)
{
	return max_bytes / 10 > PROBE_ROOM_MIN ? max_bytes / 10
					       : PROBE_ROOM_MIN;
}

/* Has the spool table the type column (a spool from before has not)? */
static int
spool_has_type(struct spool *sp)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(sp->db,
		"SELECT count(*) FROM pragma_table_info('spool')"
		" WHERE name = 'type'",
		-1, &st, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) > 0
					    : -1;
	sqlite3_finalize(st);
	return rc;
}

static int
meta_get(struct spool *sp, const char *key, uint64_t *v)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(sp->db, "SELECT value FROM meta WHERE key = ?",
		-1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int
meta_set(struct spool *sp, const char *key, uint64_t v)
{
	int rc;

	sqlite3_bind_text(sp->st_meta_set, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(sp->st_meta_set, 2, (sqlite3_int64)v);
	rc = sqlite3_step(sp->st_meta_set);
	sqlite3_reset(sp->st_meta_set);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
spool_open(const char *path, struct spool **out)
{
	struct spool *sp = xcalloc(1, sizeof(*sp));
	uint64_t v;
	int rc;

	sp->path = xstrdup(path);
	buf_init(&sp->frame, WIRE_MAX_FRAME);
	if (sqlite3_open(path, &sp->db) != SQLITE_OK) {
		log_warnx("spool %s: %s", path, sqlite3_errmsg(sp->db));
		goto fail;
	}
	sqlite3_busy_timeout(sp->db, 2000);
	if (sqlite3_exec(sp->db,
		"PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL,
		NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(sp->db, spool_schema, NULL, NULL, NULL) != SQLITE_OK)
		goto sqlfail;
	if ((rc = spool_has_type(sp)) < 0)
		goto sqlfail;
	if (rc == 0 && sqlite3_exec(sp->db, spool_type_schema, NULL, NULL,
			   NULL) != SQLITE_OK)
		goto sqlfail;
	if (sqlite3_exec(sp->db,
		"CREATE INDEX IF NOT EXISTS spool_type ON spool(type, seq)",
		NULL, NULL, NULL) != SQLITE_OK)
		goto sqlfail;
	if (sqlite3_prepare_v2(sp->db,
		"INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key)"
		" DO UPDATE SET value = excluded.value",
		-1, &sp->st_meta_set, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(sp->db,
		"INSERT INTO spool(seq, t_ms, frame, type) VALUES(?, ?, ?, ?)",
		-1, &sp->st_insert, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(sp->db,
		"SELECT seq, frame FROM spool WHERE seq > ?"
		" AND (? OR type != 9) ORDER BY seq LIMIT 1",
		-1, &sp->st_next, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(sp->db, "DELETE FROM spool WHERE seq <= ?", -1,
		&sp->st_ack, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(sp->db,
		"SELECT count(*) FROM spool WHERE type != 9", -1,
		&sp->st_count, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(sp->db,
		"SELECT seq, length(frame) FROM spool WHERE type = ?"
		" AND seq > ? ORDER BY seq LIMIT 64",
		-1, &sp->st_oldest, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(sp->db,
		"DELETE FROM spool WHERE type = ? AND seq > ? AND seq <= ?", -1,
		&sp->st_drop, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(sp->db,
		"SELECT type = 9, coalesce(sum(length(frame)), 0) FROM spool"
		" WHERE seq <= ? GROUP BY type = 9",
		-1, &sp->st_range_bytes, NULL) != SQLITE_OK)
		goto sqlfail;
	if ((rc = meta_get(sp, "epoch", &v)) < 0)
		goto sqlfail;
	if (rc == 0) {
		/* A new spool starts a new sequence space at the collector. */
		do {
			if (getrandom(&v, sizeof(v), 0) != sizeof(v)) {
				log_warn("spool %s: getrandom", path);
				goto fail;
			}
			v &= INT64_MAX; /* SQLite integers are signed */
		} while (v == 0);
		if (meta_set(sp, "epoch", v) != 0 ||
		    meta_set(sp, "last_seq", 0) != 0)
			goto sqlfail;
	}
	sp->epoch = v;
	if (meta_get(sp, "last_seq", &sp->last_seq) < 0 ||
	    meta_get(sp, "dropped", &sp->dropped) < 0 ||
	    meta_get(sp, "probe_dropped", &sp->probe_dropped) < 0)
		goto sqlfail;
	spool_recount(sp);
	*out = sp;
	return 0;
sqlfail:
	log_warnx("spool %s: %s", path, sqlite3_errmsg(sp->db));
fail:
	spool_close(sp);
	return -1;
}

void
spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	sqlite3_finalize(sp->st_insert);
	sqlite3_finalize(sp->st_next);
	sqlite3_finalize(sp->st_ack);
	sqlite3_finalize(sp->st_meta_set);
	sqlite3_finalize(sp->st_count);
	sqlite3_finalize(sp->st_oldest);
	sqlite3_finalize(sp->st_drop);
	sqlite3_finalize(sp->st_range_bytes);
	sqlite3_close(sp->db);
	buf_free(&sp->frame);
	free(sp->path);
	free(sp);
}

uint64_t
spool_epoch(const struct spool *sp)
{
	return sp->epoch;
}

/* Frame bytes held, from the table (after deletes we did not count). */
static void
spool_recount(struct spool *sp)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(sp->db,
		"SELECT coalesce(sum(length(frame) * (type != 9)), 0),"
		" coalesce(sum(length(frame) * (type = 9)), 0) FROM spool",
		-1, &st, NULL) != SQLITE_OK)
		return;
	if (sqlite3_step(st) == SQLITE_ROW) {
		sp->bytes = (uint64_t)sqlite3_column_int64(st, 0);
		sp->probe_bytes = (uint64_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
}

/*
 * Make room for `need` more bytes of frames of `type` under max_bytes, the
 * room of that type, by deleting its oldest frames that are not on their
 * way to the collector (inside the caller's transaction): a frame in flight
 * may be stored already, and counting it as dropped would report a hole
 * that is not there. The spool may so pass max_bytes by the send window.
 * Reports and probe results have rooms of their own: one never makes room
 * for the other. Returns how many went; *first and *last are the range of
 * sequence numbers deleted (other types may lie between).
 */
static int64_t
spool_make_room(struct spool *sp, int type, uint64_t need,
    uint64_t max_bytes, uint64_t *first, uint64_t *last)
{
	uint64_t *bytes = spool_bytes(sp, type);
	int64_t dropped = 0;

	while (*bytes + need > max_bytes) {
		uint64_t upto = 0, freed = 0;
		int64_t n = 0;
		int rc;

		/* Batches of up to 64 of the oldest until the frame fits. */
		sqlite3_bind_int(sp->st_oldest, 1, type);
		sqlite3_bind_int64(sp->st_oldest, 2, (sqlite3_int64)sp->held);
		while ((rc = sqlite3_step(sp->st_oldest)) == SQLITE_ROW) {
			upto = (uint64_t)sqlite3_column_int64(sp->st_oldest, 0);
			freed += (uint64_t)sqlite3_column_int64(sp->st_oldest, 1);
			if (n++ == 0 && dropped == 0)
				*first = upto;
			if (*bytes - freed + need <= max_bytes)
				break;
		}
		sqlite3_reset(sp->st_oldest);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return -1;
		if (n == 0)
			break; /* nothing left to drop but frames in flight */
		sqlite3_bind_int(sp->st_drop, 1, type);
		sqlite3_bind_int64(sp->st_drop, 2, (sqlite3_int64)sp->held);
		sqlite3_bind_int64(sp->st_drop, 3, (sqlite3_int64)upto);
		rc = sqlite3_step(sp->st_drop);
		sqlite3_reset(sp->st_drop);
		if (rc != SQLITE_DONE)
			return -1;
		*bytes -= freed;
		dropped += n;
		*last = upto;
	}
	return dropped;
}

void
spool_hold(struct spool *sp, uint64_t seq)
{
	sp->held = seq;
}

/* Probe results dropped for room: one info line a minute at most, with
 * how many since the last one. */
static void
spool_log_probe_drops(struct spool *sp, uint64_t n, uint64_t room)
{
	uint64_t now = time_mono_ms();

	sp->probe_unlogged += n;
	if (sp->probe_logged_ms != 0 &&
	    now - sp->probe_logged_ms < PROBE_LOG_EVERY_MS)
		return;
	log_info("spool %s: probe results fill their room (%llu KB): dropped "
		 "the %llu oldest; %llu in all",
	    sp->path, (unsigned long long)(room >> 10),
	    (unsigned long long)sp->probe_unlogged,
	    (unsigned long long)sp->probe_dropped);
	sp->probe_unlogged = 0;
	sp->probe_logged_ms = now;
}

/*
 * Store the frame in sp->frame under seq, making room for it in the room
 * of its type: the one path for every sequenced frame (REPORT, PROBE), so
 * they share the numbering. Returns how many frames of its type were
 * dropped, or -1 (nothing changed).
 */
static int
spool_store(struct spool *sp, int type, uint64_t seq, uint64_t t_ms,
    uint64_t max_bytes)
{
	const char *counter = type == WIRE_PROBE ? "probe_dropped" : "dropped";
	uint64_t *total =
	    type == WIRE_PROBE ? &sp->probe_dropped : &sp->dropped;
	uint64_t first = 0, last = 0;
	int64_t dropped = 0;
	int rc = -1;

	if (sqlite3_exec(sp->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	if ((dropped = spool_make_room(sp, type, sp->frame.len, max_bytes,
	    &first, &last)) < 0)
		goto out;
	sqlite3_bind_int64(sp->st_insert, 1, (sqlite3_int64)seq);
	sqlite3_bind_int64(sp->st_insert, 2, (sqlite3_int64)t_ms);
	sqlite3_bind_blob(sp->st_insert, 3, sp->frame.data,
	    (int)sp->frame.len, SQLITE_STATIC);
	sqlite3_bind_int(sp->st_insert, 4, type);
	rc = sqlite3_step(sp->st_insert) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(sp->st_insert);
	if (rc == 0)
		rc = meta_set(sp, "last_seq", seq);
	if (rc == 0 && dropped > 0)
		rc = meta_set(sp, counter, *total + (uint64_t)dropped);
	if (rc == 0 &&
	    sqlite3_exec(sp->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
		sp->last_seq = seq;
		*spool_bytes(sp, type) += sp->frame.len;
		*total += (uint64_t)dropped;
		if (dropped > 0 && type == WIRE_PROBE)
			spool_log_probe_drops(sp, (uint64_t)dropped, max_bytes);
		else if (dropped > 0)
			log_warnx("spool %s full (%llu MB): dropped %lld "
				  "unsent reports, seq %llu..%llu; %llu in all",
			    sp->path,
			    (unsigned long long)(max_bytes >> 20),
			    (long long)dropped, (unsigned long long)first,
			    (unsigned long long)last,
			    (unsigned long long)sp->dropped);
		return (int)dropped;
	}
out:
	log_warnx("spool %s: cannot store %s: %s", sp->path,
	    type == WIRE_PROBE ? "a probe result" : "a report",
	    sqlite3_errmsg(sp->db));
	sqlite3_exec(sp->db, "ROLLBACK", NULL, NULL, NULL);
	spool_recount(sp); /* the rolled-back deletes are back */
	return -1;
}

int
spool_append_report(struct spool *sp, struct wire_report *rep,
    uint64_t max_bytes)
{
	rep->seq = sp->last_seq + 1;
	rep->epoch = sp->epoch;
	buf_reset(&sp->frame);
	if (wire_encode_report(&sp->frame, rep) != 0) {
		log_warnx("spool: report of switch %s does not fit a frame",
		    rep->switch_name);
		return -1;
	}
	return spool_store(sp, WIRE_REPORT, rep->seq, rep->t_ms, max_bytes);
}

int
spool_append_probe(struct spool *sp, struct wire_probe *probe,
    uint64_t max_bytes)
{
	probe->seq = sp->last_seq + 1;
	probe->epoch = sp->epoch;
	buf_reset(&sp->frame);
	if (wire_encode_probe(&sp->frame, probe) != 0) {
		log_warnx("spool: probe result of %s cannot be encoded",
		    probe->label);
		return -1;
	}
	return spool_store(sp, WIRE_PROBE, probe->seq, probe->t_ms,
		   spool_probe_room(max_bytes)) < 0 ? -1 : 0;
}

int
spool_advance(struct spool *sp, uint64_t seq)
{
	if (seq <= sp->last_seq)
		return 0;
	/* The collector has stored reports this spool no longer remembers
	 * (a power cut rolled back its last commits): never reuse those
	 * sequence numbers, or the next reports would count as duplicates. */
	log_warnx("spool %s: the collector has up to seq %llu, the spool only "
		  "%llu (lost commits?); continuing after %llu",
	    sp->path, (unsigned long long)seq,
	    (unsigned long long)sp->last_seq, (unsigned long long)seq);
	if (meta_set(sp, "last_seq", seq) != 0)
		return -1;
	sp->last_seq = seq;
	return 0;
}

uint64_t
spool_last_seq(const struct spool *sp)
{
	return sp->last_seq;
}

uint64_t
spool_dropped(const struct spool *sp)
{
	return sp->dropped;
}

uint64_t
spool_probe_dropped(const struct spool *sp)
{
	return sp->probe_dropped;
}

int
spool_next(struct spool *sp, uint64_t after, bool probes, uint64_t *seq,
    struct buf *out)
{
	int rc;

	sqlite3_bind_int64(sp->st_next, 1, (sqlite3_int64)after);
	sqlite3_bind_int(sp->st_next, 2, probes);
	rc = sqlite3_step(sp->st_next);
	if (rc == SQLITE_ROW) {
		const void *blob = sqlite3_column_blob(sp->st_next, 1);
		int n = sqlite3_column_bytes(sp->st_next, 1);

		*seq = (uint64_t)sqlite3_column_int64(sp->st_next, 0);
		rc = buf_add(out, blob, (size_t)n) == 0 ? 1 : -1;
	} else {
		rc = rc == SQLITE_DONE ? 0 : -1;
	}
	sqlite3_reset(sp->st_next);
	if (rc < 0)
		log_warnx("spool %s: read failed: %s", sp->path,
		    sqlite3_errmsg(sp->db));
	return rc;
}

int
spool_ack(struct spool *sp, uint64_t seq)
{
	uint64_t freed[2] = {0, 0}; /* reports, probes */
	int rc;

	/* What leaves, by primary key range: no scan of the whole spool. */
	sqlite3_bind_int64(sp->st_range_bytes, 1, (sqlite3_int64)seq);
	while (sqlite3_step(sp->st_range_bytes) == SQLITE_ROW)
		freed[sqlite3_column_int(sp->st_range_bytes, 0) != 0] =
		    (uint64_t)sqlite3_column_int64(sp->st_range_bytes, 1);
	sqlite3_reset(sp->st_range_bytes);
	sqlite3_bind_int64(sp->st_ack, 1, (sqlite3_int64)seq);
	rc = sqlite3_step(sp->st_ack) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(sp->st_ack);
	if (rc) {
		log_warnx("spool %s: cannot forget acknowledged reports: %s",
		    sp->path, sqlite3_errmsg(sp->db));
		return rc;
	}
	sp->bytes = freed[0] <= sp->bytes ? sp->bytes - freed[0] : 0;
	sp->probe_bytes = freed[1] <= sp->probe_bytes ?
	    sp->probe_bytes - freed[1] : 0;
	return 0;
}

uint64_t
spool_pending(struct spool *sp)
{
	uint64_t n = 0;

	if (sqlite3_step(sp->st_count) == SQLITE_ROW)
		n = (uint64_t)sqlite3_column_int64(sp->st_count, 0);
	sqlite3_reset(sp->st_count);
	return n;
}
