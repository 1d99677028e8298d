/* test_probe_jobs.c: what agent/probe_jobs.c works out on its own: the
 * throughput test's base URL. */
#include <string.h>

#include <criterion/criterion.h>

#include "agent.h"

Test(probe_jobs, base_from_the_request)
{
	char out[WIRE_TEXT_MAX + 1];

	cr_assert_eq(probe_tp_base("https://probe.example:8443/sn", "c", 7472,
			 out, sizeof(out)), 0);
	cr_assert_str_eq(out, "https://probe.example:8443/sn");
	cr_assert_eq(probe_tp_base("http://probe.example/", "c", 7472, out,
			 sizeof(out)), 0);
	cr_assert_str_eq(out, "http://probe.example", "no '//down'");
}

Test(probe_jobs, base_from_the_collector_host)
{
	char out[WIRE_TEXT_MAX + 1];

	cr_assert_eq(probe_tp_base("", "collector.county.example", 7472, out,
			 sizeof(out)), 0);
	cr_assert_str_eq(out, "http://collector.county.example:7472");
	cr_assert_eq(probe_tp_base("", "2001:db8::1", 7472, out, sizeof(out)),
	    0);
	cr_assert_str_eq(out, "http://[2001:db8::1]:7472");
	cr_assert_eq(probe_tp_base("", "10.0.0.1", 80, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "http://10.0.0.1:80");
}

Test(probe_jobs, too_long_is_an_error)
{
	char out[24];

	cr_assert_eq(probe_tp_base("", "collector.county.example", 7472, out,
			 sizeof(out)), -1);
	cr_assert_eq(probe_tp_base("http://a:1", "x", 1, out, sizeof(out)), 0);
}
