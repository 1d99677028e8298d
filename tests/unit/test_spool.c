/* test_spool.c: the agent's spool (agent/spool.c): reports and probe
 * results share one sequence but not their room. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "agent.h"
#include "schoolnet/log.h"
#include "tmpdir.h"

#define REPORT_ROOM 4096	/* max_bytes: about 40 small reports */

static struct spool *sp;

static void
setup(void)
{
	log_set_level(LOG_LVL_ERROR);
	tmp_setup();
	cr_assert_eq(spool_open("spool.db", &sp), 0);
}

static void
teardown(void)
{
	spool_close(sp);
	tmp_teardown();
}

TestSuite(spool, .init = setup, .fini = teardown);

static uint64_t
add_report(void)
{
	struct wire_report rep;

	memset(&rep, 0, sizeof(rep));
	rep.t_ms = 1000;
	rep.status = WIRE_POLL_TIMEOUT;
	snprintf(rep.switch_name, sizeof(rep.switch_name), "core");
	snprintf(rep.address, sizeof(rep.address), "10.0.0.2:161");
	cr_assert_geq(spool_append_report(sp, &rep, REPORT_ROOM), 0);
	return rep.seq;
}

static uint64_t
add_probe(void)
{
	struct wire_probe p;

	memset(&p, 0, sizeof(p));
	p.t_ms = 1000;
	p.kind = WIRE_PROBE_LATENCY;
	p.interval_ms = 60000;
	p.sent = 5;
	snprintf(p.label, sizeof(p.label), "collector");
	snprintf(p.target, sizeof(p.target), "10.0.0.1:7470");
	cr_assert_eq(spool_append_probe(sp, &p, REPORT_ROOM), 0);
	return p.seq;
}

/* Rows of a frame type and their bytes, read from the file. */
static void
stored(int type, uint64_t *n, uint64_t *bytes, uint64_t *min_seq)
{
	sqlite3 *db;
	sqlite3_stmt *st;

	cr_assert_eq(sqlite3_open("spool.db", &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db,
			 "SELECT count(*), coalesce(sum(length(frame)), 0),"
			 " coalesce(min(seq), 0) FROM spool WHERE type = ?",
			 -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_int(st, 1, type);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	*n = (uint64_t)sqlite3_column_int64(st, 0);
	*bytes = (uint64_t)sqlite3_column_int64(st, 1);
	*min_seq = (uint64_t)sqlite3_column_int64(st, 2);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

Test(spool, probe_room_is_a_tenth_of_spool_max_at_least_64k)
{
	cr_assert_eq(spool_probe_room(512ULL << 20), (512ULL << 20) / 10);
	cr_assert_eq(spool_probe_room(REPORT_ROOM), 64 * 1024);
}

Test(spool, probes_never_push_out_reports)
{
	uint64_t n, bytes, min_seq, last = 0, reports[10];

	for (int i = 0; i < 10; i++)
		reports[i] = add_report();
	/* Far more probe results than their room holds. */
	for (int i = 0; i < 2000; i++)
		last = add_probe();
	cr_assert_eq(spool_dropped(sp), 0, "no report dropped for probes");
	cr_assert_eq(spool_pending(sp), 10, "pending counts reports only");
	cr_assert_gt(spool_probe_dropped(sp), 0);
	stored(WIRE_REPORT, &n, &bytes, &min_seq);
	cr_assert_eq(n, 10);
	cr_assert_eq(min_seq, reports[0]);
	stored(WIRE_PROBE, &n, &bytes, &min_seq);
	cr_assert_leq(bytes, spool_probe_room(REPORT_ROOM));
	cr_assert_eq(n + spool_probe_dropped(sp), 2000,
	    "every probe result kept or counted (%llu + %llu)",
	    (unsigned long long)n,
	    (unsigned long long)spool_probe_dropped(sp));
	/* The oldest went: what is left is the newest, without holes. */
	cr_assert_eq(min_seq, last - n + 1);
}

Test(spool, reports_never_push_out_probes)
{
	uint64_t n, bytes, min_seq, first_probe;

	first_probe = add_probe();
	for (int i = 0; i < 200; i++)
		(void)add_report();
	cr_assert_gt(spool_dropped(sp), 0, "reports over their room drop");
	cr_assert_eq(spool_probe_dropped(sp), 0);
	stored(WIRE_PROBE, &n, &bytes, &min_seq);
	cr_assert_eq(n, 1);
	cr_assert_eq(min_seq, first_probe);
	stored(WIRE_REPORT, &n, &bytes, &min_seq);
	cr_assert_leq(bytes, REPORT_ROOM);
	cr_assert_eq(n + spool_dropped(sp), 200);
	cr_assert_eq(spool_pending(sp), n);
}

Test(spool, held_probes_are_not_dropped)
{
	uint64_t n, bytes, min_seq, first;

	first = add_probe();
	spool_hold(sp, first + 99); /* the first 100 are on the wire */
	for (int i = 1; i < 2000; i++)
		(void)add_probe();
	stored(WIRE_PROBE, &n, &bytes, &min_seq);
	cr_assert_eq(min_seq, first, "a probe in flight stays");
}

Test(spool, next_skips_probes_when_asked)
{
	struct buf b;
	uint64_t r1, p1, p2, r2, seq = 0;

	buf_init(&b, WIRE_MAX_FRAME);
	r1 = add_report();
	p1 = add_probe();
	p2 = add_probe();
	r2 = add_report();
	cr_assert_eq(spool_next(sp, r1, true, &seq, &b), 1);
	cr_assert_eq(seq, p1);
	cr_assert_eq(b.data[3], WIRE_PROBE);
	buf_reset(&b);
	cr_assert_eq(spool_next(sp, r1, false, &seq, &b), 1);
	cr_assert_eq(seq, r2, "a protocol-1 collector gets the next report");
	cr_assert_eq(b.data[3], WIRE_REPORT);
	buf_reset(&b);
	cr_assert_eq(spool_next(sp, r2, false, &seq, &b), 0);
	/* The cumulative ACK of r2 forgets the probes before it. */
	cr_assert_eq(spool_ack(sp, r2), 0);
	buf_reset(&b);
	cr_assert_eq(spool_next(sp, 0, true, &seq, &b), 0);
	cr_assert_eq(spool_pending(sp), 0);
	(void)p2;
	buf_free(&b);
}

Test(spool, old_spool_gains_the_type_column)
{
	struct buf b;
	sqlite3 *db;
	uint64_t n, bytes, min_seq, seq;

	spool_close(sp);
	sp = NULL;
	unlink("spool.db");
	/* A spool as main's agent wrote it: no type column, one report and,
	 * from a work-in-progress build, one PROBE. */
	buf_init(&b, WIRE_MAX_FRAME);
	cr_assert_eq(sqlite3_open("spool.db", &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db,
			 "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER);"
			 "INSERT INTO meta VALUES('epoch', 77), ('last_seq', 2);"
			 "CREATE TABLE spool(seq INTEGER PRIMARY KEY,"
			 " t_ms INTEGER NOT NULL, frame BLOB NOT NULL);"
			 "INSERT INTO spool VALUES(1, 0, x'534e010300000000'),"
			 " (2, 0, x'534e010900000000');",
			 NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	cr_assert_eq(spool_open("spool.db", &sp), 0);
	cr_assert_eq(spool_epoch(sp), 77);
	cr_assert_eq(spool_pending(sp), 1);
	stored(WIRE_PROBE, &n, &bytes, &min_seq);
	cr_assert_eq(n, 1);
	cr_assert_eq(min_seq, 2);
	cr_assert_eq(spool_next(sp, 0, false, &seq, &b), 1);
	cr_assert_eq(seq, 1);
	buf_free(&b);
}
