/* test_probe_policy.c: recording-room intervals and the throughput verdict
 * (policy.c), and throughput_low in the alert engine against a real
 * database (alerts.c). */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "collector.h"
#include "schoolnet/calendar.h"
#include "tmpdir.h"

TestSuite(probe_policy);

Test(probe_policy, recording_available_needs_host_and_port)
{
	cr_expect(policy_recording_available(true, VERDICT_OK));
	cr_expect(!policy_recording_available(true, VERDICT_BELOW));
	cr_expect(!policy_recording_available(false, VERDICT_OK));
	cr_expect(!policy_recording_available(false, VERDICT_UNKNOWN));
	/* No fresh port data: judged by the host alone. */
	cr_expect(policy_recording_available(true, VERDICT_UNKNOWN));
}

Test(probe_policy, recording_interval_extends_only_unchanged_and_on_time)
{
	struct recording_span last = {
	    .host_ok = true, .available = true, .t_end = 1000000};

	cr_expect(!policy_recording_extends(NULL, true, true, 1000000, 60000),
	    "no interval yet: a new one");
	cr_expect(policy_recording_extends(&last, true, true, 1060000, 60000));
	/* 2.5 intervals is the last that still extends. */
	cr_expect(policy_recording_extends(&last, true, true, 1150000, 60000));
	cr_expect(!policy_recording_extends(&last, true, true, 1150001, 60000),
	    "a gap: a new interval");
	cr_expect(
	    !policy_recording_extends(&last, false, false, 1060000, 60000),
	    "the host went down");
	cr_expect(!policy_recording_extends(&last, true, false, 1060000, 60000),
	    "the port went below target");
	cr_expect(policy_recording_extends(&last, true, true, 1000000, 60000),
	    "the same instant again");
	cr_expect(!policy_recording_extends(&last, true, true, 999999, 60000),
	    "older than the interval's end");
	/* The check's own interval decides the gap. */
	cr_expect(policy_recording_extends(&last, true, true, 1700000, 300000));
}

Test(probe_policy, throughput_verdict)
{
	static const struct {
		double down;
		uint32_t uplink, target;
		double percent;
		enum verdict want;
		double floor;
		const char *why;
	} cases[] = {
	    {280, 1000, 1000, 70, VERDICT_BELOW, 700, "280 of 1000"},
	    {700, 1000, 1000, 70, VERDICT_OK, 700, "exactly at the limit"},
	    /* Judged on what the uplink can carry: min(100, 1000). */
	    {80, 100, 1000, 70, VERDICT_OK, 70, "80 of a 100 Mbps uplink"},
	    {60, 100, 1000, 70, VERDICT_BELOW, 70, "60 of a 100 Mbps uplink"},
	    {750, 10000, 1000, 70, VERDICT_OK, 700, "10 G: the target's share"},
	    {500, 0, 1000, 70, VERDICT_BELOW, 700, "speed unknown: the target"},
	    {5, 1000, 1000, 0, VERDICT_UNKNOWN, 0, "min_percent 0: off"},
	    {5, 0, 0, 70, VERDICT_UNKNOWN, 0, "nothing to judge against"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double floor_mbps;

		cr_expect_eq(
		    policy_throughput(cases[i].down, cases[i].uplink,
		        cases[i].target, cases[i].percent, &floor_mbps),
		    cases[i].want, "%s", cases[i].why);
		cr_expect_float_eq(
		    floor_mbps, cases[i].floor, 1e-9, "%s", cases[i].why);
	}
}

/* --- throughput_low in the engine ------------------------------------- */

struct engine {
	struct collector_conf conf;
	struct calendar *cal;
	sqlite3 *db;
	struct alert_engine *ae;
	struct agent_state ag;
};

static void
engine_start(struct engine *e)
{
	struct cfg_err err = {0};

	memset(e, 0, sizeof(*e));
	write_file("c.conf",
	    "[collector]\n[alerts]\nraise_after = 3\n"
	    "clear_after = 3\n");
	cr_assert_eq(
	    collector_conf_load("c.conf", &e->conf, &err), 0, "%s", err.text);
	e->cal = calendar_default();
	cr_assert_eq(db_open("c.db", false, &e->db), 0);
	cr_assert_eq(
	    sqlite3_exec(e->db,
	        "INSERT INTO schools VALUES('S001', '城关镇中心小学',"
	        " '城关镇', '小学', 1, 0, NULL);"
	        "INSERT INTO inventory(school_code, role, room, switch,"
	        " port, valid_from) VALUES('S001', 'uplink', '出口',"
	        " 'core', 'Gi0/0/1', 0);",
	        NULL, NULL, NULL),
	    SQLITE_OK, "%s", sqlite3_errmsg(e->db));
	e->ae = alerts_new(e->db, &e->conf, e->cal, 1);
	snprintf(e->ag.name, sizeof(e->ag.name), "s001");
}

static void
engine_stop(struct engine *e)
{
	alerts_free(e->ae);
	sqlite3_close(e->db);
	calendar_free(e->cal);
	collector_conf_free(&e->conf);
}

static struct wire_probe
result(uint64_t t_ms, uint8_t measured, uint32_t down_mbps, uint32_t up_mbps)
{
	struct wire_probe p = {
	    .seq = 1, .t_ms = t_ms, .kind = WIRE_PROBE_THROUGHPUT, .ref = 7};

	snprintf(p.label, sizeof(p.label), "throughput");
	p.tp.streams = 4;
	p.tp.measured = measured;
	if (measured & WIRE_TP_DOWN)
		p.tp.down_kbps = down_mbps * 1000;
	if (measured & WIRE_TP_UP)
		p.tp.up_kbps = up_mbps * 1000;
	if (measured == 0)
		snprintf(p.error, sizeof(p.error), "connection refused");
	return p;
}

/* The alerts rows of throughput_low: count, open ones, and the newest. */
static int
alert_rows(sqlite3 *db, int *open, char *row, size_t size)
{
	sqlite3_stmt *st;
	int n = 0;

	*open = 0;
	row[0] = '\0';
	cr_assert_eq(sqlite3_prepare_v2(db,
	                 "SELECT key, role, switch, port, speed_mbps,"
	                 " target_mbps, detail, cleared_at IS NULL FROM alerts"
	                 " WHERE cause = 'throughput_low' ORDER BY id",
	                 -1, &st, NULL),
	    SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		n++;
		*open += sqlite3_column_int(st, 7);
		snprintf(row, size, "%s|%s|%s|%s|%lld|%lld|%s",
		    sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
		    sqlite3_column_text(st, 2), sqlite3_column_text(st, 3),
		    (long long)sqlite3_column_int64(st, 4),
		    (long long)sqlite3_column_int64(st, 5),
		    sqlite3_column_text(st, 6));
	}
	sqlite3_finalize(st);
	return n;
}

Test(probe_policy, throughput_low_first_result_decides, .init = tmp_setup,
    .fini = tmp_teardown)
{
	struct engine e;
	struct wire_probe p;
	char row[512];
	int open;

	engine_start(&e);
	p = result(1000, WIRE_TP_DOWN | WIRE_TP_UP, 280, 300);
	cr_assert_eq(alerts_on_throughput(e.ae, &e.ag, "S001", &p, 1000), 0);
	cr_expect_eq(alert_rows(e.db, &open, row, sizeof(row)), 1,
	    "one low result opens it although raise_after = 3");
	cr_expect_eq(open, 1);
	cr_expect_str_eq(row,
	    "throughput_low school S001|uplink|core|Gi0/0/1|"
	    "1000|1000|negotiates 1000 Mbps, measures 280 "
	    "Mbps down, 300 Mbps up");

	/* Still low: the same alert. A test that measured nothing, or only
	 * the upload, changes nothing. */
	p = result(2000, WIRE_TP_DOWN, 250, 0);
	cr_assert_eq(alerts_on_throughput(e.ae, &e.ag, "S001", &p, 1000), 0);
	p = result(3000, 0, 0, 0);
	cr_assert_eq(alerts_on_throughput(e.ae, &e.ag, "S001", &p, 1000), 0);
	p = result(3500, WIRE_TP_UP, 0, 900);
	cr_assert_eq(alerts_on_throughput(e.ae, &e.ag, "S001", &p, 1000), 0);
	cr_expect_eq(alert_rows(e.db, &open, row, sizeof(row)), 1);
	cr_expect_eq(open, 1, "an error neither clears nor raises");

	/* One good result clears it although clear_after = 3. */
	p = result(4000, WIRE_TP_DOWN | WIRE_TP_UP, 920, 910);
	cr_assert_eq(alerts_on_throughput(e.ae, &e.ag, "S001", &p, 1000), 0);
	cr_expect_eq(alert_rows(e.db, &open, row, sizeof(row)), 1);
	cr_expect_eq(open, 0, "cleared by the first good result");

	/* A school without an uplink in the inventory, speed unknown. */
	p = result(5000, WIRE_TP_DOWN, 90, 0);
	cr_assert_eq(alerts_on_throughput(e.ae, &e.ag, "S002", &p, 0), 0);
	cr_expect_eq(alert_rows(e.db, &open, row, sizeof(row)), 2);
	cr_expect_str_eq(row,
	    "throughput_low school S002|uplink|||0|1000|"
	    "negotiated speed unknown, measures 90 Mbps "
	    "down");
	engine_stop(&e);
}
