/* test_rate.c: counter arithmetic (rate.c) and the sampler (sample.c). */
#include <string.h>

#include <criterion/criterion.h>

#include "agent.h"

/* --- rate_counter_delta ---------------------------------------------- */

static uint64_t
delta_ok(uint64_t prev, uint64_t cur, int bits)
{
	uint64_t d = 0xdeadbeef;

	cr_assert_eq(rate_counter_delta(prev, cur, bits, &d), 0,
	    "%d-bit %#llx -> %#llx refused", bits, (unsigned long long)prev,
	    (unsigned long long)cur);
	return d;
}

Test(rate, delta_64bit)
{
	cr_assert_eq(delta_ok(1000, 1500, 64), 500);
	cr_assert_eq(delta_ok(7, 7, 64), 0);
	cr_assert_eq(delta_ok(0, UINT64_MAX, 64), UINT64_MAX);
	cr_assert_eq(delta_ok(0x1FFFFFFFFULL, 0x200000010ULL, 64), 0x11);
}

Test(rate, delta_32bit_forward)
{
	cr_assert_eq(delta_ok(100, 250, 32), 150);
	cr_assert_eq(delta_ok(0, 0xFFFFFFFFULL, 32), 0xFFFFFFFFULL);
}

Test(rate, delta_32bit_wrap)
{
	cr_assert_eq(delta_ok(0xFFFFFF00ULL, 0x10, 32), 0x110);
	cr_assert_eq(delta_ok(0xFFFFFFFFULL, 0, 32), 1);
	cr_assert_eq(delta_ok(1, 0, 32), 0xFFFFFFFFULL);
}

Test(rate, delta_64bit_backwards_is_a_reset)
{
	uint64_t d = 12345;

	cr_assert_eq(rate_counter_delta(1000, 999, 64, &d), -1);
	cr_assert_eq(rate_counter_delta(UINT64_MAX, 0, 64, &d), -1);
	cr_assert_eq(rate_counter_delta(0xFFFFFF00ULL, 0x10, 64, &d), -1,
	    "a 64-bit counter does not wrap at 2^32");
}

Test(rate, delta_32bit_with_values_above_32_bits)
{
	uint64_t d;

	/* A "32-bit" reading above 2^32 is nonsense: no delta. */
	cr_assert_eq(rate_counter_delta(0x100000000ULL, 5, 32, &d), -1);
}

/* --- rate_rebooted --------------------------------------------------- */

#define WRAP_CS 4294967296ULL

Test(rate, uptime_forward_is_not_a_reboot)
{
	cr_assert_not(rate_rebooted(1000, 7000, 60000));
	cr_assert_not(rate_rebooted(1000, 1000, 0));
	/* Forward by far less or far more than the wall clock says: still
	 * no reboot (only going back means a restart). */
	cr_assert_not(rate_rebooted(1000, 1001, 60000));
	cr_assert_not(rate_rebooted(0, 0xFFFFFFFFu, 60000));
}

Test(rate, uptime_back_is_a_reboot)
{
	cr_assert(rate_rebooted(500000, 3000, 60000));
	cr_assert(rate_rebooted(7000, 6999, 60000));
	cr_assert(rate_rebooted(0xFFFFFFFFu, 0, 0));
}

Test(rate, timeticks_wrap_with_matching_elapsed)
{
	/* 30 s before the wrap, poll 60 s later: uptime reads ~30 s. */
	uint32_t prev = (uint32_t)(WRAP_CS - 3000);

	cr_assert_not(rate_rebooted(prev, 3000, 60000));
	/* A few seconds of jitter either way are tolerated. */
	cr_assert_not(rate_rebooted(prev, 2600, 60000));
	cr_assert_not(rate_rebooted(prev, 3400, 60000));
	/* Wrap after a long outage: 2 h elapsed. */
	prev = (uint32_t)(WRAP_CS - 100);
	cr_assert_not(rate_rebooted(prev, 720000 - 100, 7200000));
}

Test(rate, timeticks_wrap_without_matching_elapsed)
{
	uint32_t prev = (uint32_t)(WRAP_CS - 3000);

	/* Went back, but too little time passed for a wrap. */
	cr_assert(rate_rebooted(prev, 3000, 10000));
	/* Expected ~3000 cs after the wrap, found 60 s more than that. */
	cr_assert(rate_rebooted(prev, 9000, 60000));
	/* Far from the wrap point. */
	cr_assert(rate_rebooted(1000000, 3000, 60000));
}

/* --- rate_plausible -------------------------------------------------- */

Test(rate, plausible_gigabit_minute)
{
	/* 1 Gbps for 60 s = 7.5e9 octets; 10 % slack allows up to 8.25e9. */
	cr_assert(rate_plausible(7500000000ULL, 60000, 1000));
	cr_assert(rate_plausible(8200000000ULL, 60000, 1000));
	cr_assert_not(rate_plausible(8500000000ULL, 60000, 1000));
	cr_assert(rate_plausible(0, 60000, 1000));
}

Test(rate, plausible_edge_cases)
{
	cr_assert(rate_plausible(UINT64_MAX, 60000, 0),
	    "speed 0 means unknown: always plausible");
	cr_assert_not(rate_plausible(0, 0, 1000), "interval 0");
	cr_assert_not(rate_plausible(1, 0, 0), "interval 0, speed 0");
	/* 100 Mbps for 60 s is 750e6 octets: a 32-bit wrap too many is not. */
	cr_assert(rate_plausible(750000000ULL, 60000, 100));
	cr_assert_not(rate_plausible(750000000ULL + 4294967296ULL, 60000,
	    100));
	/* 100 Gbps ports: no overflow in the arithmetic. */
	cr_assert(rate_plausible(750000000000ULL, 60000, 100000));
	cr_assert_not(rate_plausible(UINT64_MAX, 60000, UINT32_MAX));
}

/* --- sampler_build --------------------------------------------------- */

static struct switch_conf test_sw = {
    .name = "access-1",
    .address = {.host = "10.0.0.2", .port = 161},
};

static struct switch_conf other_sw = {
    .name = "core",
    .address = {.host = "2001:db8::1", .port = 1161},
};

#define T0_WALL 1763800000000ULL /* 2025-11-22, ms */
#define T0_MONO 5000000ULL

/* A row with both counter widths and a 1 Gbps speed. */
static struct if_row
row(uint32_t if_index, uint64_t hc_in, uint64_t hc_out)
{
	struct if_row r;

	memset(&r, 0, sizeof(r));
	r.if_index = if_index;
	r.have = IFROW_HAVE_HC | IFROW_HAVE_32 | IFROW_HAVE_HIGHSPEED |
	    IFROW_HAVE_SPEED;
	snprintf(r.name, sizeof(r.name), "Gi0/%u", if_index);
	snprintf(r.descr, sizeof(r.descr), "GigabitEthernet0/%u", if_index);
	snprintf(r.alias, sizeof(r.alias), "三年级%u班", if_index);
	r.if_type = 6;
	r.admin = 1;
	r.oper = 1;
	r.duplex = WIRE_DUPLEX_FULL;
	r.speed_bps = 1000000000u;
	r.high_speed = 1000;
	r.hc_in = hc_in;
	r.hc_out = hc_out;
	r.in32 = (uint32_t)hc_in;
	r.out32 = (uint32_t)hc_out;
	return r;
}

static struct poll_result
poll_at(const struct switch_conf *sw, uint64_t after_ms, uint32_t uptime,
    struct if_row *rows, size_t n)
{
	struct poll_result r;

	memset(&r, 0, sizeof(r));
	r.sw = sw;
	r.t_ms = T0_WALL + after_ms;
	r.mono_ms = T0_MONO + after_ms;
	r.duration_ms = 120;
	r.pdus = 4;
	r.status = WIRE_POLL_OK;
	r.have_uptime = true;
	r.sys_uptime = uptime;
	r.rows = rows;
	r.n_rows = n;
	return r;
}

static void
assert_no_rates(const struct wire_if *f)
{
	cr_assert_eq(f->flags & (WIRE_IF_RATES | WIRE_IF_HC), 0,
	    "ifIndex %u: unexpected flags %#x", f->if_index, f->flags);
	cr_assert_eq(f->in_octets, 0);
	cr_assert_eq(f->out_octets, 0);
	cr_assert_eq(f->in_errors, 0);
	cr_assert_eq(f->out_errors, 0);
	cr_assert_eq(f->in_discards, 0);
	cr_assert_eq(f->out_discards, 0);
}

Test(sampler, first_poll_has_no_rates)
{
	struct sampler *s = sampler_new();
	struct if_row rows[2] = {row(1, 1000, 2000), row(2, 5, 6)};
	struct poll_result r = poll_at(&test_sw, 0, 100000, rows, 2);
	struct wire_report rep;

	rows[1].oper = 2;
	rows[1].duplex = WIRE_DUPLEX_HALF;
	rows[1].high_speed = 100;
	sampler_build(s, &r, 60, &rep);
	cr_assert_eq(rep.status, WIRE_POLL_OK);
	cr_assert_eq(rep.flags, 0);
	cr_assert_eq(rep.interval_ms, 0);
	cr_assert_eq(rep.t_ms, T0_WALL);
	cr_assert_eq(rep.duration_ms, 120);
	cr_assert_eq(rep.pdus, 4);
	cr_assert_eq(rep.poll_interval_s, 60);
	cr_assert_eq(rep.sys_uptime, 100000);
	cr_assert_str_eq(rep.switch_name, "access-1");
	cr_assert_str_eq(rep.address, "10.0.0.2:161");
	cr_assert_str_eq(rep.error, "");
	cr_assert_eq(rep.n_if, 2);
	cr_assert_not_null(rep.ifs);
	for (uint32_t i = 0; i < rep.n_if; i++)
		assert_no_rates(&rep.ifs[i]);
	/* Descriptive columns are copied through. */
	cr_assert_eq(rep.ifs[0].if_index, 1);
	cr_assert_eq(rep.ifs[0].if_type, 6);
	cr_assert_eq(rep.ifs[0].admin, 1);
	cr_assert_eq(rep.ifs[0].oper, 1);
	cr_assert_eq(rep.ifs[0].duplex, WIRE_DUPLEX_FULL);
	cr_assert_eq(rep.ifs[0].speed_mbps, 1000);
	cr_assert_str_eq(rep.ifs[0].name, "Gi0/1");
	cr_assert_str_eq(rep.ifs[0].descr, "GigabitEthernet0/1");
	cr_assert_str_eq(rep.ifs[0].alias, "三年级1班");
	cr_assert_eq(rep.ifs[1].if_index, 2);
	cr_assert_eq(rep.ifs[1].oper, 2);
	cr_assert_eq(rep.ifs[1].duplex, WIRE_DUPLEX_HALF);
	cr_assert_eq(rep.ifs[1].speed_mbps, 100);
	wire_report_free(&rep);
	sampler_free(s);
}

Test(sampler, second_poll_hc_deltas)
{
	struct sampler *s = sampler_new();
	struct if_row a[2] = {row(1, 1000, 2000), row(7, 0xFFFFFFF0ULL, 10)};
	struct if_row b[2] = {row(1, 1000 + 750000000ULL, 2000 + 12345),
	    row(7, 0x100000010ULL, 10)};
	struct poll_result r1 = poll_at(&test_sw, 0, 100000, a, 2);
	struct poll_result r2 = poll_at(&test_sw, 60000, 106000, b, 2);
	struct wire_report rep;

	a[0].in_errors = 3;
	b[0].in_errors = 5;
	a[0].out_errors = 0xFFFFFFFFu; /* 32-bit error counter wraps */
	b[0].out_errors = 1;
	a[0].in_discards = 10;
	b[0].in_discards = 10;
	a[0].out_discards = 0;
	b[0].out_discards = 9;
	sampler_build(s, &r1, 60, &rep);
	wire_report_free(&rep);
	sampler_build(s, &r2, 60, &rep);
	cr_assert_eq(rep.flags, 0);
	cr_assert_eq(rep.interval_ms, 60000);
	cr_assert_eq(rep.t_ms, T0_WALL + 60000);
	cr_assert_eq(rep.n_if, 2);
	cr_assert_eq(rep.ifs[0].flags, WIRE_IF_RATES | WIRE_IF_HC);
	cr_assert_eq(rep.ifs[0].in_octets, 750000000ULL);
	cr_assert_eq(rep.ifs[0].out_octets, 12345);
	cr_assert_eq(rep.ifs[0].in_errors, 2);
	cr_assert_eq(rep.ifs[0].out_errors, 2);
	cr_assert_eq(rep.ifs[0].in_discards, 0);
	cr_assert_eq(rep.ifs[0].out_discards, 9);
	/* The 64-bit counter crossed 2^32: no wrap correction needed. */
	cr_assert_eq(rep.ifs[1].flags, WIRE_IF_RATES | WIRE_IF_HC);
	cr_assert_eq(rep.ifs[1].in_octets, 0x20);
	cr_assert_eq(rep.ifs[1].out_octets, 0);
	wire_report_free(&rep);
	sampler_free(s);
}

Test(sampler, fallback_to_32bit_with_wrap)
{
	struct sampler *s = sampler_new();
	struct if_row a[1] = {row(3, 0, 0)};
	struct if_row b[1] = {row(3, 0, 0)};
	struct poll_result r1 = poll_at(&test_sw, 0, 100000, a, 1);
	struct poll_result r2 = poll_at(&test_sw, 60000, 106000, b, 1);
	struct wire_report rep;

	/* The first poll had no 64-bit counters (e.g. a v1-only walk): the
	 * second has them, but the pair must use the 32-bit columns. */
	a[0].have &= ~(unsigned)IFROW_HAVE_HC;
	a[0].hc_in = a[0].hc_out = 0;
	a[0].in32 = 0xFFFFFF00u;
	a[0].out32 = 1000;
	b[0].hc_in = 123456789012ULL;
	b[0].hc_out = 987654321098ULL;
	b[0].in32 = 0x10;
	b[0].out32 = 3000;
	sampler_build(s, &r1, 60, &rep);
	wire_report_free(&rep);
	sampler_build(s, &r2, 60, &rep);
	cr_assert_eq(rep.n_if, 1);
	cr_assert_eq(rep.ifs[0].flags, WIRE_IF_RATES, "flags %#x",
	    rep.ifs[0].flags);
	cr_assert_eq(rep.ifs[0].in_octets, 0x110);
	cr_assert_eq(rep.ifs[0].out_octets, 2000);
	wire_report_free(&rep);
	sampler_free(s);
}

Test(sampler, only_32bit_counters)
{
	struct sampler *s = sampler_new();
	struct if_row a[1] = {row(3, 0, 0)};
	struct if_row b[1] = {row(3, 0, 0)};
	struct poll_result r1 = poll_at(&test_sw, 0, 100000, a, 1);
	struct poll_result r2 = poll_at(&test_sw, 60000, 106000, b, 1);
	struct wire_report rep;

	a[0].have = b[0].have = IFROW_HAVE_32 | IFROW_HAVE_SPEED;
	a[0].speed_bps = b[0].speed_bps = 100000000u; /* 100 Mbps, no ifHighSpeed */
	a[0].in32 = 4000000000u;
	b[0].in32 = 100000000u; /* wrapped once: 394967296 octets */
	a[0].out32 = 50;
	b[0].out32 = 60;
	sampler_build(s, &r1, 60, &rep);
	wire_report_free(&rep);
	sampler_build(s, &r2, 60, &rep);
	cr_assert_eq(rep.ifs[0].speed_mbps, 100);
	cr_assert_eq(rep.ifs[0].flags, WIRE_IF_RATES);
	cr_assert_eq(rep.ifs[0].in_octets, 394967296ULL);
	cr_assert_eq(rep.ifs[0].out_octets, 10);
	wire_report_free(&rep);
	sampler_free(s);
}

Test(sampler, no_counters_no_rates)
{
	struct sampler *s = sampler_new();
	struct if_row a[1] = {row(4, 10, 10)};
	struct if_row b[1] = {row(4, 20, 20)};
	struct poll_result r1 = poll_at(&test_sw, 0, 100000, a, 1);
	struct poll_result r2 = poll_at(&test_sw, 60000, 106000, b, 1);
	struct wire_report rep;

	/* HC only in the first, 32-bit only in the second: nothing pairs. */
	a[0].have = IFROW_HAVE_HC | IFROW_HAVE_HIGHSPEED;
	b[0].have = IFROW_HAVE_32 | IFROW_HAVE_HIGHSPEED;
	sampler_build(s, &r1, 60, &rep);
	wire_report_free(&rep);
	sampler_build(s, &r2, 60, &rep);
	cr_assert_eq(rep.interval_ms, 60000);
	assert_no_rates(&rep.ifs[0]);
	wire_report_free(&rep);
	sampler_free(s);
}

Test(sampler, reboot_flags_report_and_drops_rates)
{
	struct sampler *s = sampler_new();
	struct if_row a[1] = {row(1, 5000000, 5000000)};
	struct if_row b[1] = {row(1, 100, 200)};
	struct if_row c[1] = {row(1, 1100, 1200)};
	struct poll_result r1 = poll_at(&test_sw, 0, 8640000, a, 1);
	struct poll_result r2 = poll_at(&test_sw, 60000, 1500, b, 1);
	struct poll_result r3 = poll_at(&test_sw, 120000, 7500, c, 1);
	struct wire_report rep;

	sampler_build(s, &r1, 60, &rep);
	wire_report_free(&rep);
	sampler_build(s, &r2, 60, &rep);
	cr_assert_eq(rep.flags & WIRE_REPORT_REBOOTED, WIRE_REPORT_REBOOTED);
	cr_assert_eq(rep.interval_ms, 0);
	cr_assert_eq(rep.sys_uptime, 1500);
	cr_assert_eq(rep.n_if, 1);
	assert_no_rates(&rep.ifs[0]);
	wire_report_free(&rep);
	/* The poll after the reboot is the new reference. */
	sampler_build(s, &r3, 60, &rep);
	cr_assert_eq(rep.flags, 0);
	cr_assert_eq(rep.interval_ms, 60000);
	cr_assert_eq(rep.ifs[0].flags, WIRE_IF_RATES | WIRE_IF_HC);
	cr_assert_eq(rep.ifs[0].in_octets, 1000);
	cr_assert_eq(rep.ifs[0].out_octets, 1000);
	wire_report_free(&rep);
	sampler_free(s);
}

Test(sampler, counter_reset_without_reboot_drops_that_port)
{
	struct sampler *s = sampler_new();
	struct if_row a[2] = {row(1, 5000, 5000), row(2, 100, 100)};
	struct if_row b[2] = {row(1, 10, 6000), row(2, 200, 300)};
	struct poll_result r1 = poll_at(&test_sw, 0, 100000, a, 2);
	struct poll_result r2 = poll_at(&test_sw, 60000, 106000, b, 2);
	struct wire_report rep;

	/* "clear counters" on port 1: the 64-bit counter went back. */
	sampler_build(s, &r1, 60, &rep);
	wire_report_free(&rep);
	sampler_build(s, &r2, 60, &rep);
	cr_assert_eq(rep.flags, 0);
	assert_no_rates(&rep.ifs[0]);
	cr_assert_eq(rep.ifs[1].flags, WIRE_IF_RATES | WIRE_IF_HC);
	cr_assert_eq(rep.ifs[1].in_octets, 100);
	cr_assert_eq(rep.ifs[1].out_octets, 200);
	wire_report_free(&rep);
	sampler_free(s);
}

Test(sampler, interface_new_since_last_poll)
{
	struct sampler *s = sampler_new();
	struct if_row a[2] = {row(1, 100, 100), row(3, 100, 100)};
	struct if_row b[3] = {row(1, 200, 300), row(2, 999, 999),
	    row(3, 400, 500)};
	struct poll_result r1 = poll_at(&test_sw, 0, 100000, a, 2);
	struct poll_result r2 = poll_at(&test_sw, 60000, 106000, b, 3);
	struct wire_report rep;

	sampler_build(s, &r1, 60, &rep);
	wire_report_free(&rep);
	sampler_build(s, &r2, 60, &rep);
	cr_assert_eq(rep.n_if, 3);
	cr_assert_eq(rep.interval_ms, 60000);
	cr_assert_eq(rep.ifs[0].if_index, 1);
	cr_assert_eq(rep.ifs[0].flags, WIRE_IF_RATES | WIRE_IF_HC);
	cr_assert_eq(rep.ifs[0].in_octets, 100);
	cr_assert_eq(rep.ifs[0].out_octets, 200);
	cr_assert_eq(rep.ifs[1].if_index, 2);
	assert_no_rates(&rep.ifs[1]);
	cr_assert_eq(rep.ifs[2].if_index, 3);
	cr_assert_eq(rep.ifs[2].flags, WIRE_IF_RATES | WIRE_IF_HC);
	cr_assert_eq(rep.ifs[2].in_octets, 300);
	cr_assert_eq(rep.ifs[2].out_octets, 400);
	wire_report_free(&rep);
	sampler_free(s);
}

Test(sampler, failed_poll_keeps_previous_reference)
{
	struct sampler *s = sampler_new();
	struct if_row a[1] = {row(1, 1000, 1000)};
	struct if_row c[1] = {row(1, 5000, 9000)};
	struct poll_result r1 = poll_at(&test_sw, 0, 100000, a, 1);
	struct poll_result r2 = poll_at(&test_sw, 60000, 0, NULL, 0);
	struct poll_result r3 = poll_at(&test_sw, 120000, 112000, c, 1);
	struct wire_report rep;

	r2.status = WIRE_POLL_TIMEOUT;
	r2.have_uptime = false;
	r2.duration_ms = 6000;
	snprintf(r2.error, sizeof(r2.error), "no answer after 3 tries");
	sampler_build(s, &r1, 60, &rep);
	wire_report_free(&rep);

	sampler_build(s, &r2, 60, &rep);
	cr_assert_eq(rep.status, WIRE_POLL_TIMEOUT);
	cr_assert_str_eq(rep.error, "no answer after 3 tries");
	cr_assert_str_eq(rep.switch_name, "access-1");
	cr_assert_eq(rep.duration_ms, 6000);
	cr_assert_eq(rep.interval_ms, 0);
	cr_assert_eq(rep.n_if, 0);
	cr_assert_null(rep.ifs);
	wire_report_free(&rep);

	sampler_build(s, &r3, 60, &rep);
	cr_assert_eq(rep.status, WIRE_POLL_OK);
	cr_assert_eq(rep.flags, 0, "the failed poll's uptime 0 is no reboot");
	cr_assert_eq(rep.interval_ms, 120000, "deltas span from poll 1");
	cr_assert_eq(rep.ifs[0].flags, WIRE_IF_RATES | WIRE_IF_HC);
	cr_assert_eq(rep.ifs[0].in_octets, 4000);
	cr_assert_eq(rep.ifs[0].out_octets, 8000);
	wire_report_free(&rep);
	sampler_free(s);
}

Test(sampler, implausible_32bit_delta_dropped)
{
	struct sampler *s = sampler_new();
	struct if_row a[2] = {row(1, 0, 0), row(2, 0, 0)};
	struct if_row b[2] = {row(1, 0, 0), row(2, 0, 0)};
	struct poll_result r1 = poll_at(&test_sw, 0, 100000, a, 2);
	struct poll_result r2 = poll_at(&test_sw, 60000, 106000, b, 2);
	struct wire_report rep;

	/* 10 Mbps ports, 32-bit counters only: at most 82.5e6 octets/min. */
	for (int i = 0; i < 2; i++) {
		a[i].have = b[i].have = IFROW_HAVE_32 | IFROW_HAVE_HIGHSPEED;
		a[i].high_speed = b[i].high_speed = 10;
	}
	a[0].in32 = 1000;
	b[0].in32 = 1000 + 3000000000u; /* 3e9 octets in a minute at 10M */
	a[0].out32 = b[0].out32 = 5;
	a[1].in32 = 1000;
	b[1].in32 = 1000 + 60000000u; /* 60e6: fine */
	a[1].out32 = 0xFFFFFFF0u;
	b[1].out32 = 0x10; /* wrapped: 0x20 */
	sampler_build(s, &r1, 60, &rep);
	wire_report_free(&rep);
	sampler_build(s, &r2, 60, &rep);
	assert_no_rates(&rep.ifs[0]);
	cr_assert_eq(rep.ifs[1].flags, WIRE_IF_RATES);
	cr_assert_eq(rep.ifs[1].in_octets, 60000000u);
	cr_assert_eq(rep.ifs[1].out_octets, 0x20);
	wire_report_free(&rep);
	sampler_free(s);
}

Test(sampler, switches_are_tracked_separately)
{
	struct sampler *s = sampler_new();
	struct if_row a[1] = {row(1, 100, 100)};
	struct if_row o[1] = {row(1, 100000, 100000)};
	struct if_row b[1] = {row(1, 150, 170)};
	struct poll_result r1 = poll_at(&test_sw, 0, 100000, a, 1);
	struct poll_result ro = poll_at(&other_sw, 30000, 50, o, 1);
	struct poll_result r2 = poll_at(&test_sw, 60000, 106000, b, 1);
	struct wire_report rep;

	sampler_build(s, &r1, 60, &rep);
	wire_report_free(&rep);
	/* The other switch's first poll: no rates, its own address. */
	sampler_build(s, &ro, 60, &rep);
	cr_assert_str_eq(rep.switch_name, "core");
	cr_assert_str_eq(rep.address, "[2001:db8::1]:1161");
	cr_assert_eq(rep.interval_ms, 0);
	assert_no_rates(&rep.ifs[0]);
	wire_report_free(&rep);
	sampler_build(s, &r2, 60, &rep);
	cr_assert_eq(rep.interval_ms, 60000);
	cr_assert_eq(rep.ifs[0].in_octets, 50);
	cr_assert_eq(rep.ifs[0].out_octets, 70);
	wire_report_free(&rep);
	sampler_free(s);
}

Test(sampler, same_instant_gives_no_rates)
{
	struct sampler *s = sampler_new();
	struct if_row a[1] = {row(1, 100, 100)};
	struct if_row b[1] = {row(1, 200, 200)};
	struct poll_result r1 = poll_at(&test_sw, 0, 100000, a, 1);
	struct poll_result r2 = poll_at(&test_sw, 0, 100000, b, 1);
	struct wire_report rep;

	sampler_build(s, &r1, 60, &rep);
	wire_report_free(&rep);
	sampler_build(s, &r2, 60, &rep);
	cr_assert_eq(rep.interval_ms, 0);
	assert_no_rates(&rep.ifs[0]);
	wire_report_free(&rep);
	sampler_free(s);
}

Test(sampler, report_encodes_and_decodes)
{
	/* What the sampler builds is a valid REPORT once it has a seq. */
	struct sampler *s = sampler_new();
	struct if_row a[2] = {row(1, 100, 100), row(2, 0, 0)};
	struct if_row b[2] = {row(1, 200, 300), row(2, 0, 0)};
	struct poll_result r1 = poll_at(&test_sw, 0, 100000, a, 2);
	struct poll_result r2 = poll_at(&test_sw, 60000, 106000, b, 2);
	struct wire_report rep, back;
	struct wire_header h;
	const uint8_t *payload = NULL;
	struct buf out;

	buf_init(&out, WIRE_MAX_FRAME);
	sampler_build(s, &r1, 60, &rep);
	wire_report_free(&rep);
	sampler_build(s, &r2, 60, &rep);
	rep.seq = 2;
	rep.epoch = 77;
	cr_assert_eq(wire_encode_report(&out, &rep), 0);
	cr_assert_eq(wire_frame_next(&out, &h, &payload), 1);
	cr_assert_eq(wire_decode_report(payload, h.length, &back), WIRE_OK);
	cr_assert_eq(back.n_if, 2);
	cr_assert_eq(back.interval_ms, 60000);
	cr_assert_str_eq(back.ifs[0].alias, "三年级1班");
	cr_assert_eq(back.ifs[0].out_octets, 200);
	wire_report_free(&back);
	wire_report_free(&rep);
	buf_free(&out);
	sampler_free(s);
}
