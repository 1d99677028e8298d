/* test_metrics.c: the Prometheus exposition (collector/metrics.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "collector.h"
#include "schoolnet/timeutil.h"
#include "tmpdir.h"

TestSuite(metrics, .init = tmp_setup, .fini = tmp_teardown);

static const struct policy_conf policy = {
    .uplink_mbps = 1000,
    .classroom_mbps = 100,
    .recording_mbps = 1000,
    .max_errors_per_min = 10,
    .compliant_share = 95,
};

static const struct metrics_stats stats = {
    .start_ms = 1700000000123,
    .connections = 3,
    .handshakes = 1,
    .reports_stored = 42,
    .duplicates = 2,
    .queue_depth = 5,
    .queue_max = 10000,
    .http_requests = 7,
    .http_jobs = 5,
};

static void
exec_sql(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK,
	    "%s: %s", sql, err ? err : "");
}

/* Add a port seen age_ms ago on switch sw (60 s polls). */
static void
add_port(sqlite3 *db, int sw, int if_index, const char *if_name,
    const char *if_descr, int oper, int speed, int64_t age_ms)
{
	sqlite3_stmt *st;

	cr_assert_eq(sqlite3_prepare_v2(db,
	                 "INSERT INTO ports(switch_id, if_index, if_name,"
	                 " if_descr, if_type, admin, oper, speed_mbps, duplex,"
	                 " since, last_seen, in_bps, out_bps, in_errors,"
	                 " out_errors, in_discards, out_discards)"
	                 " VALUES(?, ?, ?, ?, 6, 1, ?, ?, 3, ?, ?, 123456.5,"
	                 " 2000, 3, 3, 0, 0)",
	                 -1, &st, NULL),
	    SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_bind_int(st, 1, sw);
	sqlite3_bind_int(st, 2, if_index);
	sqlite3_bind_text(st, 3, if_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, if_descr, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, oper);
	sqlite3_bind_int(st, 6, speed);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)time_now_ms() - age_ms - 1000);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)time_now_ms() - age_ms);
	cr_assert_eq(sqlite3_step(st), SQLITE_DONE, "%s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
}

#define HOUR_MS INT64_C(3600000)

/*
 * 城关镇: s001 (uplink ok, one classroom at 10 Mbps, one ok: below) and
 * s002 (all ok: compliant). 河口乡: s003 (its agent silent for an hour:
 * unknown) and s004 (no inventory, no agent: unknown).
 */
static sqlite3 *
county(void)
{
	sqlite3 *db;
	char sql[1024];

	cr_assert_eq(db_open("c.db", false, &db), 0);
	snprintf(sql, sizeof(sql),
	    "INSERT INTO schools VALUES"
	    " ('s001', '城关镇\"中心\"\\小学', '城关镇', '小学', 1, 0, NULL),"
	    " ('s002', '城关镇二小', '城关镇', '小学', 0, 0, NULL),"
	    " ('s003', '河口乡小学', '河口乡', '小学', 1, 0, NULL),"
	    " ('s004', '河口乡教学点', '河口乡', '教学点', 0, 0, NULL),"
	    " ('s005', '撤并小学', '河口乡', '小学', 0, 0, 1);"
	    "INSERT INTO agents(id, name, school, last_heard, dropped,"
	    " spool_pending) VALUES (1, 'a1', 's001', %lld, 4, 0),"
	    " (2, 'a2', 's002', %lld, 0, NULL),"
	    " (3, 'a3', 's003', %lld, 17, 250);"
	    "INSERT INTO switches(id, agent_id, name, poll_interval) VALUES"
	    " (1, 1, 'access1', 60), (2, 2, 'sw2', 60), (3, 3, 'sw3', 60);",
	    (long long)time_now_ms(), (long long)time_now_ms(),
	    (long long)(time_now_ms() - HOUR_MS));
	exec_sql(db, sql);
	add_port(db, 1, 1, "Gi0/1", "GigabitEthernet0/1", 1, 1000, 0);
	add_port(db, 1, 2, "Gi0/2", "GigabitEthernet0/2", 1, 10, 0);
	add_port(db, 1, 3, "Gi0/3", "GigabitEthernet0/3", 1, 100, 0);
	add_port(db, 1, 4, "", "Vlan1", 1, 0, 0);
	add_port(db, 2, 1, "Gi0/1", "", 1, 1000, 0);
	add_port(db, 2, 2, "Gi0/2", "", 1, 1000, 0);
	add_port(db, 2, 3, "Gi0/3", "", 1, 1000, 0);
	add_port(db, 3, 1, "Gi0/1", "", 1, 1000, HOUR_MS);
	add_port(db, 3, 2, "Gi0/2", "", 2, 1000, HOUR_MS);
	exec_sql(db,
	    "INSERT INTO inventory(school_code, role, room, switch, port,"
	    " valid_from) VALUES"
	    " ('s001', 'uplink', '出口', 'access1', 'Gi0/1', 0),"
	    " ('s001', 'classroom', '一年级1班', 'access1', 'Gi0/2', 0),"
	    /* The same port again, by its ifDescr. */
	    " ('s001', 'classroom', '重复', 'access1', 'GigabitEthernet0/2',"
	    "  0),"
	    " ('s001', 'classroom', '二年级' || char(10) || '1班', 'access1',"
	    "  'GigabitEthernet0/3', 0),"
	    " ('s002', 'uplink', '出口', 'sw2', 'Gi0/1', 0),"
	    " ('s002', 'classroom', '一年级1班', 'sw2', 'Gi0/2', 0),"
	    " ('s002', 'recording', '录播室', 'sw2', 'Gi0/3', 0),"
	    " ('s003', 'uplink', '出口', 'sw3', 'Gi0/1', 0),"
	    " ('s003', 'classroom', '一年级1班', 'sw3', 'Gi0/2', 0),"
	    " ('s003', 'classroom', '旧教室', 'sw3', 'Gi0/9', 0);"
	    "INSERT INTO alerts(key, cause, since, opened_at, cleared_at)"
	    " VALUES"
	    " ('k1', 'speed_low', 0, 0, NULL), ('k2', 'speed_low', 0, 0, NULL),"
	    " ('k3', 'port_down', 0, 0, 5), ('k4', 'new\"cause', 0, 0, NULL);"
	    "INSERT INTO outbox(receiver, event, payload, created_at, next_try,"
	    " sent_at, failed_at) VALUES"
	    " ('r', 'raise', '{}', 0, 0, NULL, NULL),"
	    " ('r', 'raise', '{}', 0, 0, NULL, NULL),"
	    " ('r', 'raise', '{}', 0, 0, 1, NULL),"
	    " ('r', 'raise', '{}', 0, 0, NULL, 1);"
	    /* a1's rounds: collector (an older one, then 4 of 5 answered)
	     * and dns (nothing answered); a3's one round, answered once. */
	    "INSERT INTO probe_latency(agent_id, school, label, target, t_ms,"
	    " interval_ms, sent, answered, rtt_min_us, rtt_avg_us, rtt_max_us,"
	    " jitter_us, error, epoch, seq) VALUES"
	    " (1, 's001', 'collector', '10.0.0.1:7470', 1700000000000, 60000,"
	    "  5, 5, 900, 1000, 1100, 50, '', 1, 1),"
	    " (1, 's001', 'collector', '10.0.0.1:7470', 1700000060500, 60000,"
	    "  5, 4, 98000, 101500, 106000, 3100, '', 1, 3),"
	    " (1, 's001', 'dns', '[2001:db8::53]:53', 1700000060000, 60000,"
	    "  5, 0, NULL, NULL, NULL, NULL, 'cannot resolve', 1, 2),"
	    " (3, 's003', 'collector', '10.0.0.1:7470', 1700000000000, 60000,"
	    "  3, 1, 2000, 2000, 2000, NULL, '', 1, 1);"
	    "INSERT INTO probe_last(agent_id, label, t_ms) VALUES"
	    " (1, 'collector', 1700000060500), (1, 'dns', 1700000060000),"
	    " (3, 'collector', 1700000000000);");
	return db;
}

/* metrics_write's whole output (the caller frees it). */
static char *
scrape(sqlite3 *db)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	cr_assert_eq(metrics_write(f, db, &policy, &stats), 0);
	cr_assert_eq(fclose(f), 0);
	return buf;
}

/* True when text has line (whole) as one of its lines. */
static bool
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; p && *p;
	     p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

/* True when a line starts with prefix. */
static bool
has_prefix(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);

	for (const char *p = text; p && *p;
	     p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncmp(p, prefix, n) == 0)
			return true;
	return false;
}

#define LINE(text, line) \
	cr_expect(has_line(text, line), "missing line: %s", line)
#define NO_PREFIX(text, prefix) \
	cr_expect(!has_prefix(text, prefix), "unexpected line: %s", prefix)

/* clang-format off */
#define S001 "school=\"s001\",agent=\"a1\",switch=\"access1\","
#define P_CLASS_10 S001 "port=\"Gi0/2\",if_index=\"2\",role=\"classroom\"," \
	"room=\"一年级1班\",town=\"城关镇\"}"
#define P_CLASS_100 S001 "port=\"Gi0/3\",if_index=\"3\",role=\"classroom\"," \
	"room=\"二年级\\n1班\",town=\"城关镇\"}"
#define P_UPLINK S001 "port=\"Gi0/1\",if_index=\"1\",role=\"uplink\"," \
	"room=\"出口\",town=\"城关镇\"}"
#define SC001 "{school=\"s001\",name=\"城关镇\\\"中心\\\"\\\\小学\"," \
	"town=\"城关镇\",town_seat=\"true\""
#define SC002 "{school=\"s002\",name=\"城关镇二小\",town=\"城关镇\"," \
	"town_seat=\"false\""
#define SC003 "{school=\"s003\",name=\"河口乡小学\",town=\"河口乡\"," \
	"town_seat=\"true\""
/* clang-format on */

Test(metrics, ports)
{
	sqlite3 *db = county();
	char *m = scrape(db);

	/* One series, labelled by the first inventory row naming it. */
	LINE(m, "schoolnet_port_at_target{" P_CLASS_10 " 0");
	NO_PREFIX(m,
	    "schoolnet_port_at_target{" S001 "port=\"Gi0/2\","
	    "if_index=\"2\",role=\"classroom\",room=\"重复\"");
	LINE(m, "schoolnet_port_speed_mbps{" P_CLASS_10 " 10");
	LINE(m, "schoolnet_port_target_mbps{" P_CLASS_10 " 100");
	/* Mapped by ifDescr; its room has a newline. */
	LINE(m, "schoolnet_port_at_target{" P_CLASS_100 " 1");
	LINE(m, "schoolnet_port_at_target{" P_UPLINK " 1");
	LINE(m, "schoolnet_port_target_mbps{" P_UPLINK " 1000");
	LINE(m, "schoolnet_port_up{" P_UPLINK " 1");
	LINE(m, "schoolnet_port_fresh{" P_UPLINK " 1");
	/* Stored as bits/s, exposed in the base unit. */
	LINE(m, "schoolnet_port_in_bytes_per_second{" P_UPLINK " 15432.0625");
	LINE(m, "schoolnet_port_out_bytes_per_second{" P_UPLINK " 250");
	LINE(m, "schoolnet_port_errors_per_minute{" P_UPLINK " 6");
	/* Not in the inventory: ifDescr names it, no role, no target. */
	LINE(m,
	    "schoolnet_port_speed_mbps{" S001
	    "port=\"Vlan1\",if_index=\"4\"} 0");
	NO_PREFIX(m, "schoolnet_port_at_target{" S001 "port=\"Vlan1\"");
	NO_PREFIX(m, "schoolnet_port_target_mbps{" S001 "port=\"Vlan1\"");
	/* Stale: its state is unknown, its rates history. */
	LINE(m,
	    "schoolnet_port_fresh{school=\"s003\",agent=\"a3\","
	    "switch=\"sw3\",port=\"Gi0/2\",if_index=\"2\","
	    "role=\"classroom\",room=\"一年级1班\",town=\"河口乡\"} 0");
	LINE(m,
	    "schoolnet_port_up{school=\"s003\",agent=\"a3\","
	    "switch=\"sw3\",port=\"Gi0/2\",if_index=\"2\","
	    "role=\"classroom\",room=\"一年级1班\",town=\"河口乡\"} 0");
	NO_PREFIX(m, "schoolnet_port_at_target{school=\"s003\"");
	NO_PREFIX(m, "schoolnet_port_in_bytes_per_second{school=\"s003\"");
	NO_PREFIX(m, "schoolnet_port_errors_per_minute{school=\"s003\"");
	free(m);
	sqlite3_close(db);
}

Test(metrics, schools_and_towns)
{
	sqlite3 *db = county();
	char *m = scrape(db);

	LINE(m, "schoolnet_school_compliant" SC001 "} 0");
	LINE(m, "schoolnet_school_uplink_at_target" SC001 "} 1");
	LINE(m, "schoolnet_school_classrooms" SC001 ",state=\"ok\"} 1");
	/* Two inventory rows name the 10 Mbps port: `schools` counts both. */
	LINE(m, "schoolnet_school_classrooms" SC001 ",state=\"below\"} 2");
	LINE(m, "schoolnet_school_classrooms" SC001 ",state=\"unknown\"} 0");
	LINE(m, "schoolnet_school_recording_rooms" SC001 ",state=\"ok\"} 0");
	LINE(m, "schoolnet_school_compliant" SC002 "} 1");
	LINE(m, "schoolnet_school_recording_rooms" SC002 ",state=\"ok\"} 1");
	/* Silent, and one classroom not among the ports at all. */
	NO_PREFIX(m, "schoolnet_school_compliant" SC003);
	NO_PREFIX(m, "schoolnet_school_uplink_at_target" SC003);
	LINE(m, "schoolnet_school_classrooms" SC003 ",state=\"unknown\"} 2");
	NO_PREFIX(m, "schoolnet_school_compliant{school=\"s004\"");
	LINE(m,
	    "schoolnet_school_classrooms{school=\"s004\","
	    "name=\"河口乡教学点\",town=\"河口乡\",town_seat=\"false\","
	    "state=\"unknown\"} 0");
	NO_PREFIX(m, "schoolnet_school_classrooms{school=\"s005\"");

	LINE(
	    m, "schoolnet_town_schools{town=\"城关镇\",state=\"compliant\"} 1");
	LINE(m, "schoolnet_town_schools{town=\"城关镇\",state=\"below\"} 1");
	LINE(m, "schoolnet_town_schools{town=\"城关镇\",state=\"unknown\"} 0");
	LINE(
	    m, "schoolnet_town_schools{town=\"河口乡\",state=\"compliant\"} 0");
	LINE(m, "schoolnet_town_schools{town=\"河口乡\",state=\"unknown\"} 2");
	LINE(m, "schoolnet_town_classrooms_below{town=\"城关镇\"} 2");
	LINE(m, "schoolnet_town_classrooms_below{town=\"河口乡\"} 0");
	free(m);
	sqlite3_close(db);
}

Test(metrics, agents_alerts_collector)
{
	sqlite3 *db = county();
	char *m = scrape(db);

	LINE(m, "schoolnet_agent_reporting{agent=\"a1\",school=\"s001\"} 1");
	LINE(m, "schoolnet_agent_reporting{agent=\"a3\",school=\"s003\"} 0");
	LINE(m,
	    "schoolnet_agent_spool_dropped{agent=\"a3\",school=\"s003\"} "
	    "17");
	LINE(m,
	    "schoolnet_agent_spool_pending{agent=\"a3\",school=\"s003\"} "
	    "250");
	NO_PREFIX(m, "schoolnet_agent_spool_pending{agent=\"a2\"");
	cr_expect(has_prefix(m,
	    "schoolnet_agent_last_heard_timestamp_seconds{"
	    "agent=\"a1\",school=\"s001\"} 1"));

	LINE(m, "schoolnet_alerts_open{cause=\"speed_low\"} 2");
	LINE(m, "schoolnet_alerts_open{cause=\"port_down\"} 0");
	LINE(m, "schoolnet_alerts_open{cause=\"agent_offline\"} 0");
	LINE(m, "schoolnet_alerts_open{cause=\"new\\\"cause\"} 1");

	LINE(m, "schoolnet_collector_start_time_seconds 1700000000.123");
	LINE(m, "schoolnet_collector_agent_connections 3");
	LINE(m, "schoolnet_collector_handshakes 1");
	LINE(m, "# TYPE schoolnet_collector_reports_stored_total counter");
	LINE(m, "schoolnet_collector_reports_stored_total 42");
	LINE(m, "schoolnet_collector_duplicates_total 2");
	LINE(m, "schoolnet_collector_writer_queue_depth 5");
	LINE(m, "schoolnet_collector_writer_queue_max 10000");
	LINE(m, "schoolnet_collector_http_requests_total 7");
	LINE(m, "schoolnet_collector_http_jobs_total 5");
	LINE(m, "schoolnet_collector_outbox_backlog 2");
	free(m);
	sqlite3_close(db);
}

#define PR_COLL "{school=\"s001\",agent=\"a1\",target=\"10.0.0.1:7470\"," \
	"label=\"collector\"}"
#define PR_DNS "{school=\"s001\",agent=\"a1\"," \
	"target=\"[2001:db8::53]:53\",label=\"dns\"}"
#define PR_A3 "{school=\"s003\",agent=\"a3\",target=\"10.0.0.1:7470\"," \
	"label=\"collector\"}"

Test(metrics, probes)
{
	sqlite3 *db = county();
	char *m = scrape(db);

	/* The latest round only (the older one had 1 ms). */
	LINE(m, "schoolnet_probe_rtt_seconds" PR_COLL " 0.1015");
	LINE(m, "schoolnet_probe_loss_ratio" PR_COLL " 0.2");
	LINE(m, "schoolnet_probe_jitter_seconds" PR_COLL " 0.0031");
	LINE(m, "schoolnet_probe_last_timestamp_seconds" PR_COLL
		" 1700000060.5");
	/* Nothing answered: loss 1, no RTT or jitter to show. */
	LINE(m, "schoolnet_probe_loss_ratio" PR_DNS " 1");
	NO_PREFIX(m, "schoolnet_probe_rtt_seconds" PR_DNS);
	NO_PREFIX(m, "schoolnet_probe_jitter_seconds" PR_DNS);
	LINE(m, "schoolnet_probe_last_timestamp_seconds" PR_DNS " 1700000060");
	/* One answer: an RTT, no jitter. */
	LINE(m, "schoolnet_probe_rtt_seconds" PR_A3 " 0.002");
	LINE(m, "schoolnet_probe_loss_ratio" PR_A3 " 0.666666666666667");
	NO_PREFIX(m, "schoolnet_probe_jitter_seconds" PR_A3);
	free(m);
	sqlite3_close(db);
}

static void check_families(const char *m);

/* Throughput tests: s001's latest done one (not the newer failed one),
 * s002's with no upload; recording rooms: fresh, stale, never checked. */
Test(metrics, throughput_and_recording)
{
	sqlite3 *db = county();
	char sql[2048], *m;
	long long now = (long long)time_now_ms();

	snprintf(sql, sizeof(sql),
	    "INSERT INTO probe_throughput(school_code, reason, state,"
	    " requested_ms, finished_ms, max_bytes, max_ms, streams,"
	    " down_mbps, up_mbps) VALUES"
	    " ('s001', 'schedule', 'done', 1000, 1700000000500, 1, 1, 1,"
	    "  280.5, 300),"
	    " ('s001', 'schedule', 'failed', 2000, 1700000100000, 1, 1, 1,"
	    "  NULL, NULL),"
	    " ('s001', 'demand', 'requested', 3000, NULL, 1, 1, 1, NULL, NULL),"
	    " ('s002', 'schedule', 'done', 1000, 1700000000000, 1, 1, 1,"
	    "  95, NULL);"
	    "INSERT INTO inventory(school_code, role, room, switch, port,"
	    " valid_from) VALUES ('s003', 'recording', '录播室', 'sw3',"
	    " 'Gi0/5', 0), ('s003', 'recording', '录播室2', 'sw3', 'Gi0/6', 0);"
	    "INSERT INTO recording_state(inventory_id, t_start, t_end,"
	    " interval_ms, host_ok, port_ok, available, error)"
	    " SELECT id, %lld, %lld, 60000, 0, 1, 0, 'refused' FROM inventory"
	    " WHERE school_code = 's002' AND role = 'recording';"
	    "INSERT INTO recording_state(inventory_id, t_start, t_end,"
	    " interval_ms, host_ok, port_ok, available)"
	    " SELECT id, %lld, %lld, 60000, 1, 1, 1 FROM inventory"
	    " WHERE room = '录播室' AND school_code = 's003';",
	    now - 600000, now, now - 7200000, now - 3600000);
	exec_sql(db, sql);
	m = scrape(db);
	LINE(m, "schoolnet_throughput_down_mbps{school=\"s001\"} 280.5");
	LINE(m, "schoolnet_throughput_up_mbps{school=\"s001\"} 300");
	LINE(m, "schoolnet_throughput_last_timestamp_seconds{school=\"s001\"}"
		" 1700000000.5");
	LINE(m, "schoolnet_throughput_down_mbps{school=\"s002\"} 95");
	NO_PREFIX(m, "schoolnet_throughput_up_mbps{school=\"s002\"}");
	NO_PREFIX(m, "schoolnet_throughput_down_mbps{school=\"s003\"}");
	LINE(m, "schoolnet_throughput_tests_total{state=\"done\"} 2");
	LINE(m, "schoolnet_throughput_tests_total{state=\"failed\"} 1");
	LINE(m, "schoolnet_throughput_tests_open{state=\"requested\"} 1");
	LINE(m, "schoolnet_throughput_tests_open{state=\"running\"} 0");
	LINE(m, "schoolnet_recording_available{school=\"s002\","
		"room=\"录播室\",switch=\"sw2\",port=\"Gi0/3\"} 0");
	/* Stale (an hour old) and never checked: unknown, absent. */
	NO_PREFIX(m, "schoolnet_recording_available{school=\"s003\"");
	check_families(m);
	free(m);
	sqlite3_close(db);
}

static const char *const families[] = {"port_speed_mbps", "port_up",
    "port_in_bytes_per_second", "port_out_bytes_per_second",
    "port_errors_per_minute", "port_fresh", "port_target_mbps",
    "port_at_target", "school_uplink_at_target", "school_classrooms",
    "school_recording_rooms", "school_compliant", "town_schools",
    "town_classrooms_below", "agent_last_heard_timestamp_seconds",
    "agent_reporting", "agent_spool_dropped", "agent_spool_pending",
    "probe_rtt_seconds", "probe_loss_ratio", "probe_jitter_seconds",
    "probe_last_timestamp_seconds", "throughput_down_mbps",
    "throughput_up_mbps", "throughput_last_timestamp_seconds",
    "throughput_tests_total", "throughput_tests_open", "recording_available",
    "alerts_open", "collector_start_time_seconds",
    "collector_agent_connections", "collector_handshakes",
    "collector_reports_stored_total", "collector_duplicates_total",
    "collector_writer_queue_depth", "collector_writer_queue_max",
    "collector_http_requests_total", "collector_http_jobs_total",
    "collector_outbox_backlog"};

/* Every family: HELP, then TYPE (a counter's name ends in _total), then
 * its samples together, no series twice. */
static void
check_families(const char *m)
{
	const char *current = NULL, *series[512];
	size_t cur_len = 0, n_series = 0;
	int seen[sizeof(families) / sizeof(families[0])] = {0};

	for (const char *p = m; *p; p = strchr(p, '\n') + 1) {
		const char *end = strchr(p, '\n');
		size_t n;

		cr_assert_not_null(end, "last line not terminated");
		if (strncmp(p, "# HELP schoolnet_", 17) == 0) {
			current = p + 7;
			cur_len = strcspn(current, " ");
			cr_assert(strncmp(end + 1, "# TYPE ", 7) == 0 &&
			        strncmp(end + 8, current, cur_len) == 0 &&
			        end[8 + cur_len] == ' ',
			    "HELP without its TYPE: %.*s", (int)cur_len,
			    current);
			if (strncmp(end + 9 + cur_len, "counter\n", 8) == 0)
				cr_expect(cur_len > 6 &&
				        strncmp(current + cur_len - 6, "_total",
				            6) == 0,
				    "counter %.*s", (int)cur_len, current);
			for (size_t i = 0;
			     i < sizeof(families) / sizeof(families[0]); i++)
				if (strlen(families[i]) + 10 == cur_len &&
				    strncmp(current + 10, families[i],
				        cur_len - 10) == 0)
					seen[i]++;
			continue;
		}
		if (*p == '#')
			continue;
		n = strcspn(p, "{ ");
		cr_assert(current != NULL && n == cur_len &&
		        strncmp(p, current, n) == 0,
		    "sample outside its family: %.*s", (int)(end - p), p);
		/* The series: all but the value. */
		for (n = (size_t)(end - p); n > 0 && p[n] != ' '; n--)
			;
		for (size_t i = 0; i < n_series; i++)
			cr_expect(strncmp(series[i], p, n) != 0 ||
			        series[i][n] != ' ',
			    "series twice: %.*s", (int)n, p);
		cr_assert_lt(n_series, sizeof(series) / sizeof(series[0]));
		series[n_series++] = p;
	}
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		cr_expect_eq(seen[i], 1, "family %s: HELP %d times",
		    families[i], seen[i]);
}

Test(metrics, every_family_has_help_and_type)
{
	sqlite3 *db = county();
	char *m = scrape(db);

	check_families(m);
	free(m);
	sqlite3_close(db);
}

Test(metrics, empty_database)
{
	sqlite3 *db;
	char *m;

	cr_assert_eq(db_open("c.db", false, &db), 0);
	m = scrape(db);
	check_families(m);
	LINE(m, "schoolnet_alerts_open{cause=\"speed_low\"} 0");
	LINE(m, "schoolnet_collector_outbox_backlog 0");
	free(m);
	sqlite3_close(db);
}

Test(metrics, database_error_writes_nothing)
{
	sqlite3 *db;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	/* No schema: the first query fails. */
	cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
	f = open_memstream(&buf, &len);
	cr_assert_eq(metrics_write(f, db, &policy, &stats), -1);
	fclose(f);
	cr_expect_eq(len, 0, "wrote: %s", buf);
	free(buf);
	sqlite3_close(db);
}

/* Inside a caller's transaction, and the connection usable afterwards. */
Test(metrics, nests_in_a_transaction)
{
	sqlite3 *db = county();
	char *m;

	exec_sql(db, "BEGIN");
	m = scrape(db);
	free(m);
	exec_sql(db, "COMMIT");
	m = scrape(db);
	free(m);
	sqlite3_close(db);
}

/* The value of the first sample starting with prefix, or NULL. */
static const char *
value_of(const char *m, const char *prefix)
{
	const char *p = strstr(m, prefix), *v;

	if (p == NULL)
		return NULL;
	for (v = strchr(p, '\n'); v[-1] != ' '; v--)
		;
	return v;
}

/* `ok` 1, `below` 0, `unknown` no sample at all. */
static void
expect_state(const char *m, const char *prefix, const char *state)
{
	const char *v = value_of(m, prefix);

	if (strcmp(state, "unknown") == 0) {
		cr_expect_null(v, "%s: unknown, yet %.1s", prefix, v ? v : "");
		return;
	}
	cr_assert_not_null(v, "%s: %s, yet no sample", prefix, state);
	cr_expect_eq(*v, strcmp(state, "ok") == 0 ? '1' : '0', "%s: %s, yet %c",
	    prefix, state, *v);
}

/* query.c's JSON listing key of `ports` or `schools`. */
static json_t *
listing(sqlite3 *db, bool schools)
{
	char *js = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&js, &len);
	json_t *top;

	cr_assert_eq(schools ? query_schools(db, &policy, NULL, true, true, f)
	                     : query_ports(db, &policy, NULL, true, f),
	    0);
	fclose(f);
	top = json_loads(js, 0, NULL);
	cr_assert_not_null(top);
	free(js);
	return top;
}

/* The same states as `schools --json` and `ports --json` (query.c). */
Test(metrics, agrees_with_query)
{
	sqlite3 *db = county();
	char *m = scrape(db), prefix[512];
	json_t *top = listing(db, true), *row;
	size_t i;

	json_array_foreach(json_object_get(top, "schools"), i, row)
	{
		snprintf(prefix, sizeof(prefix),
		    "schoolnet_school_compliant{school=\"%s\",",
		    json_string_value(json_object_get(row, "code")));
		expect_state(m, prefix,
		    json_string_value(json_object_get(row, "state")));
	}
	json_decref(top);
	top = listing(db, false);
	json_array_foreach(json_object_get(top, "ports"), i, row)
	{
		const char *name =
		    json_string_value(json_object_get(row, "if_name"));

		if (!json_is_true(json_object_get(row, "mapped")))
			continue;
		snprintf(prefix, sizeof(prefix),
		    "schoolnet_port_at_target{school=\"%s\",agent=\"%s\","
		    "switch=\"%s\",port=\"%s\",if_index=\"%lld\",",
		    json_string_value(json_object_get(row, "school")),
		    json_string_value(json_object_get(row, "agent")),
		    json_string_value(json_object_get(row, "switch")),
		    *name ? name
		          : json_string_value(json_object_get(row, "if_descr")),
		    (long long)json_integer_value(
		        json_object_get(row, "if_index")));
		expect_state(m, prefix,
		    json_string_value(json_object_get(row, "state")));
	}
	json_decref(top);
	free(m);
	sqlite3_close(db);
}
