/* test_config.c: agent and collector config files (lib/config.c + tables). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <ini.h>

#include "agent.h"
#include "collector.h"
#include "tmpdir.h"

#ifndef SCHOOLNET_SOURCE_DIR
#error "SCHOOLNET_SOURCE_DIR must name the source tree"
#endif
#define CONFIG_DIR SCHOOLNET_SOURCE_DIR "/tests/config"

TestSuite(config, .init = tmp_setup, .fini = tmp_teardown);

/* Load text as an agent config that must be accepted. */
static void
agent_ok(const char *text, struct agent_conf *conf)
{
	struct cfg_err e;

	write_file("a.conf", text);
	cr_assert_eq(agent_conf_load("a.conf", conf, &e), 0,
	    "refused:\n%s", e.text);
	cr_assert_eq(e.count, 0);
	cr_assert_str_eq(e.text, "");
}

/* Load text as an agent config that must be refused with exactly want. */
static void
agent_fails(const char *text, const char *want)
{
	struct agent_conf conf;
	struct cfg_err e;

	write_file("a.conf", text);
	cr_assert_eq(agent_conf_load("a.conf", &conf, &e), -1,
	    "accepted; wanted:\n%s", want);
	cr_assert_str_eq(e.text, want);
	cr_assert_gt(e.count, 0);
	cr_assert_null(conf.switches, "switches freed on failure");
	cr_assert_eq(conf.n_switches, 0);
}

static void
collector_ok(const char *text, struct collector_conf *conf)
{
	struct cfg_err e;

	write_file("c.conf", text);
	cr_assert_eq(collector_conf_load("c.conf", conf, &e), 0,
	    "refused:\n%s", e.text);
	cr_assert_str_eq(e.text, "");
}

static void
collector_fails(const char *text, const char *want)
{
	struct collector_conf conf;
	struct cfg_err e;

	write_file("c.conf", text);
	cr_assert_eq(collector_conf_load("c.conf", &conf, &e), -1,
	    "accepted; wanted:\n%s", want);
	cr_assert_str_eq(e.text, want);
}

#define AGENT_HEAD "[agent]\nschool = XA-003\ncollector = c.example\n"
#define SWITCH_A "[switch a]\naddress = 10.0.0.1\n"

/* --- valid files ------------------------------------------------------ */

Test(config, agent_minimal_defaults)
{
	struct agent_conf c;
	const struct switch_conf *sw;

	agent_ok("[agent]\n"
		 "school = XA-003\n"
		 "collector = collector.example\n"
		 "\n"
		 "[switch core]\n"
		 "address = 10.0.0.1\n",
	    &c);
	cr_assert_str_eq(c.path, "a.conf");
	cr_assert_str_eq(c.school, "XA-003");
	cr_assert_str_eq(c.name, "XA-003", "name defaults to the school");
	cr_assert_str_eq(c.collector.host, "collector.example");
	cr_assert_eq(c.collector.port, 7470);
	cr_assert_str_eq(c.spool, "/var/lib/schoolnet/agent-spool.db");
	cr_assert_float_eq(c.poll_interval, 60.0, 1e-9);
	cr_assert_float_eq(c.timeout, 2.0, 1e-9);
	cr_assert_eq(c.retries, 2);
	cr_assert_eq(c.max_inflight, 64);
	cr_assert_eq(c.send_window, 64);
	cr_assert_eq(c.n_switches, 1);
	sw = &c.switches[0];
	cr_assert_str_eq(sw->name, "core");
	cr_assert_str_eq(sw->address.host, "10.0.0.1");
	cr_assert_eq(sw->address.port, 161);
	cr_assert_eq(sw->version, SNMP_V2C);
	cr_assert_str_eq(sw->community, "public");
	cr_assert_str_eq(sw->user, "");
	cr_assert_eq(sw->auth_protocol, 1, "SHA");
	cr_assert_str_eq(sw->auth_key, "");
	cr_assert_eq(sw->priv_protocol, 1, "AES");
	cr_assert_str_eq(sw->priv_key, "");
	cr_assert_eq(sw->max_inflight, 1);
	cr_assert_eq(sw->max_repetitions, 10);
	agent_conf_free(&c);
}

Test(config, agent_every_key)
{
	struct agent_conf c;
	const struct switch_conf *sw;

	agent_ok("[agent]\n"
		 "school = XA-017\n"
		 "name = xa017.agent_b\n"
		 "collector = [2001:db8::10]:7000\n"
		 "spool = /srv/spool.db\n"
		 "poll_interval = 5m\n"
		 "timeout = 250ms\n"
		 "retries = 10\n"
		 "max_inflight = 1024\n"
		 "send_window = 1\n"
		 "[switch core-1]\n"
		 "address = core.example:1161\n"
		 "version = 3\n"
		 "user = 监控\n"
		 "auth_protocol = sha-512\n"
		 "auth_key = correct horse\n"
		 "priv_protocol = DES\n"
		 "priv_key = battery staple\n"
		 "max_inflight = 8\n"
		 "max_repetitions = 100\n"
		 "[switch b]\n"
		 "address = [::1]\n"
		 "community = 三年级2班\n",
	    &c);
	cr_assert_str_eq(c.name, "xa017.agent_b");
	cr_assert_str_eq(c.collector.host, "2001:db8::10");
	cr_assert_eq(c.collector.port, 7000);
	cr_assert_str_eq(c.spool, "/srv/spool.db");
	cr_assert_float_eq(c.poll_interval, 300.0, 1e-9);
	cr_assert_float_eq(c.timeout, 0.25, 1e-9);
	cr_assert_eq(c.retries, 10);
	cr_assert_eq(c.max_inflight, 1024);
	cr_assert_eq(c.send_window, 1);
	cr_assert_eq(c.n_switches, 2);
	sw = &c.switches[0];
	cr_assert_str_eq(sw->name, "core-1");
	cr_assert_str_eq(sw->address.host, "core.example");
	cr_assert_eq(sw->address.port, 1161);
	cr_assert_eq(sw->version, SNMP_V3);
	cr_assert_str_eq(sw->user, "监控");
	cr_assert_eq(sw->auth_protocol, 5, "SHA-512, case-insensitive");
	cr_assert_str_eq(sw->auth_key, "correct horse");
	cr_assert_eq(sw->priv_protocol, 0, "DES");
	cr_assert_str_eq(sw->priv_key, "battery staple");
	cr_assert_eq(sw->max_inflight, 8);
	cr_assert_eq(sw->max_repetitions, 100);
	sw = &c.switches[1];
	cr_assert_str_eq(sw->name, "b");
	cr_assert_str_eq(sw->address.host, "::1");
	cr_assert_eq(sw->address.port, 161);
	cr_assert_str_eq(sw->community, "三年级2班");
	agent_conf_free(&c);
}

Test(config, durations)
{
	static const struct {
		const char *text;
		double want;
	} cases[] = {
	    {"30", 30}, {"30s", 30}, {"1.5", 1.5}, {"1500ms", 1.5},
	    {"2m", 120}, {"1h", 3600}, {"1", 1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[256];
		struct agent_conf c;

		snprintf(text, sizeof(text),
		    AGENT_HEAD "poll_interval = %s\n" SWITCH_A, cases[i].text);
		agent_ok(text, &c);
		cr_assert_float_eq(c.poll_interval, cases[i].want, 1e-9,
		    "'%s' gave %g", cases[i].text, c.poll_interval);
		agent_conf_free(&c);
	}
}

Test(config, collector_defaults)
{
	struct collector_conf c;

	collector_ok("[collector]\n", &c);
	cr_assert_str_eq(c.listen.host, "0.0.0.0");
	cr_assert_eq(c.listen.port, 7470);
	cr_assert_str_eq(c.database, "/var/lib/schoolnet/collector.db");
	cr_assert_str_eq(c.http.host, "127.0.0.1");
	cr_assert_eq(c.http.port, 8080);
	cr_assert_eq(c.max_connections, 4096);
	cr_assert_eq(c.batch_max, 2000);
	cr_assert_eq(c.queue_max, 5000);
	cr_assert_float_eq(c.hello_timeout, 10.0, 1e-9);
}

Test(config, collector_values_and_default_ports)
{
	struct collector_conf c;

	collector_ok("[collector]\n"
		     "listen = 10.1.2.3\n"
		     "http = [::1]\n"
		     "database = /data/c.db\n"
		     "max_connections = 1\n"
		     "batch_max = 100000\n"
		     "queue_max = 1000000\n"
		     "hello_timeout = 500ms\n",
	    &c);
	cr_assert_str_eq(c.listen.host, "10.1.2.3");
	cr_assert_eq(c.listen.port, 7470, "listen port defaults to 7470");
	cr_assert_str_eq(c.http.host, "::1");
	cr_assert_eq(c.http.port, 8080, "http port defaults to 8080");
	cr_assert_str_eq(c.database, "/data/c.db");
	cr_assert_eq(c.max_connections, 1);
	cr_assert_eq(c.batch_max, 100000);
	cr_assert_eq(c.queue_max, 1000000);
	cr_assert_float_eq(c.hello_timeout, 0.5, 1e-9);
}

/* --- syntax accepted -------------------------------------------------- */

Test(config, utf8_bom)
{
	struct agent_conf c;

	agent_ok("\xef\xbb\xbf[agent]\nschool = XA-003\ncollector = c\n" SWITCH_A,
	    &c);
	cr_assert_str_eq(c.school, "XA-003");
	cr_assert_eq(c.n_switches, 1);
	agent_conf_free(&c);
}

Test(config, utf8_bom_then_error_keeps_line_numbers)
{
	agent_fails("\xef\xbb\xbf[agent]\nschool = XA-003\ncollector = c\n"
		    "retries = -1\n" SWITCH_A,
	    "a.conf:4: retries = -1: must be from 0 to 10\n");
}

Test(config, crlf_line_endings)
{
	struct agent_conf c;

	agent_ok("[agent]\r\n"
		 "school = XA-003\r\n"
		 "collector = c.example:7000\r\n"
		 "poll_interval = 30\r\n"
		 "\r\n"
		 "[switch core]\r\n"
		 "address = 10.0.0.1\r\n"
		 "community = s3cret\r\n",
	    &c);
	cr_assert_str_eq(c.school, "XA-003", "no CR left in values");
	cr_assert_eq(c.collector.port, 7000);
	cr_assert_float_eq(c.poll_interval, 30.0, 1e-9);
	cr_assert_eq(c.n_switches, 1);
	cr_assert_str_eq(c.switches[0].name, "core");
	cr_assert_str_eq(c.switches[0].community, "s3cret");
	agent_conf_free(&c);
}

Test(config, crlf_error_line_numbers)
{
	agent_fails("[agent]\r\nschool = XA-003\r\ncollector = c\r\n"
		    "\r\nretries = 11\r\n" SWITCH_A,
	    "a.conf:5: retries = 11: must be from 0 to 10\n");
}

Test(config, comments_and_blank_lines)
{
	struct agent_conf c;

	agent_ok("; a comment\n"
		 "# another comment\n"
		 "\n"
		 "[agent]   ; trailing comment on a section line\n"
		 "school = XA-003\n"
		 "  # indented comment\n"
		 "collector = c.example\n"
		 "poll_interval = 30 ; half a minute\n"
		 "\n"
		 "[switch core]\n"
		 ";address = 10.9.9.9\n"
		 "#address = 10.8.8.8\n"
		 "address = 10.0.0.1\n",
	    &c);
	cr_assert_float_eq(c.poll_interval, 30.0, 1e-9);
	cr_assert_str_eq(c.switches[0].address.host, "10.0.0.1");
	agent_conf_free(&c);
}

Test(config, spaces_around_equals_and_in_headers)
{
	struct agent_conf c;

	agent_ok("[ agent ]\n"
		 "school=XA-003\n"
		 "collector   =   c.example   \n"
		 "[switch   core ]\n"
		 "address =10.0.0.1\n",
	    &c);
	cr_assert_str_eq(c.collector.host, "c.example");
	cr_assert_str_eq(c.switches[0].name, "core");
	agent_conf_free(&c);
}

/*
 * Indented key lines are common in hand-edited INI files. They must be read
 * as keys (or at least refused with an error naming the right key), not
 * glued onto the previous key as an inih multi-line continuation.
 */
Test(config, indented_keys)
{
	struct agent_conf c;

	agent_ok("[agent]\n"
		 "    school = XA-003\n"
		 "    collector = c.example\n"
		 "[switch core]\n"
		 "    address = 10.0.0.1\n"
		 "    version = 2c\n",
	    &c);
	cr_assert_str_eq(c.school, "XA-003");
	cr_assert_str_eq(c.collector.host, "c.example");
	cr_assert_eq(c.n_switches, 1);
	agent_conf_free(&c);
}

/* --- errors: FILE:LINE: reason ----------------------------------------- */

Test(config, unknown_section)
{
	agent_fails(AGENT_HEAD SWITCH_A "[switchs b]\naddress = 10.0.0.2\n",
	    "a.conf:6: unknown section [switchs]\n");
}

Test(config, unknown_key_line_of_the_key)
{
	agent_fails("[agent]\nschool = XA-003\n\ncolector = c.example\n" SWITCH_A,
	    "a.conf:4: unknown key 'colector' in [agent]\n");
	agent_fails(AGENT_HEAD "[switch a]\naddress = 10.0.0.1\nport = 161\n",
	    "a.conf:6: unknown key 'port' in [switch]\n");
}

Test(config, key_repeated)
{
	agent_fails("[agent]\nschool = XA-003\ncollector = c\nschool = XA-004\n"
		    SWITCH_A,
	    "a.conf:4: 'school' repeats line 2\n");
}

Test(config, section_repeated)
{
	agent_fails(AGENT_HEAD SWITCH_A "[agent]\n",
	    "a.conf:6: section [agent] repeats the one on line 1\n");
	agent_fails(AGENT_HEAD SWITCH_A "[switch b]\naddress = 10.0.0.2\n"
				       "[switch a]\naddress = 10.0.0.3\n",
	    "a.conf:8: section [switch a] repeats the one on line 4\n");
}

Test(config, section_name_needed_or_refused)
{
	agent_fails(AGENT_HEAD "[switch]\naddress = 10.0.0.1\n",
	    "a.conf:4: section [switch] needs a name: [switch NAME]\n");
	agent_fails("[agent main]\nschool = XA-003\ncollector = c\n" SWITCH_A,
	    "a.conf:1: section [agent] takes no name\n");
	collector_fails("[collector main]\n",
	    "c.conf:1: section [collector] takes no name\n");
}

Test(config, bad_switch_name)
{
	char text[512], want[512], name[80];

	agent_fails(AGENT_HEAD "[switch core/1]\naddress = 10.0.0.1\n",
	    "a.conf:4: bad switch name 'core/1': use 1-63 letters, digits, "
	    "'.', '_', '-'\n");
	agent_fails(AGENT_HEAD "[switch core 1]\naddress = 10.0.0.1\n",
	    "a.conf:4: bad switch name 'core 1': use 1-63 letters, digits, "
	    "'.', '_', '-'\n");
	agent_fails(AGENT_HEAD "[switch 三年级]\naddress = 10.0.0.1\n",
	    "a.conf:4: bad switch name '三年级': use 1-63 letters, digits, "
	    "'.', '_', '-'\n");
	/* 63 characters are fine, 64 are not. */
	memset(name, 'n', 64);
	name[63] = '\0';
	snprintf(text, sizeof(text), AGENT_HEAD "[switch %s]\naddress = x\n",
	    name);
	{
		struct agent_conf c;

		agent_ok(text, &c);
		cr_assert_str_eq(c.switches[0].name, name);
		agent_conf_free(&c);
	}
	name[63] = 'n';
	name[64] = '\0';
	snprintf(text, sizeof(text), AGENT_HEAD "[switch %s]\naddress = x\n",
	    name);
	snprintf(want, sizeof(want),
	    "a.conf:4: bad switch name '%s': use 1-63 letters, digits, '.', "
	    "'_', '-'\n",
	    name);
	agent_fails(text, want);
}

Test(config, values_out_of_range)
{
	agent_fails("[agent]\nschool = XA-003\ncollector = c\npoll_interval = 0\n"
		    SWITCH_A,
	    "a.conf:4: poll_interval = 0: must be from 1 to 3600 seconds\n");
	agent_fails("[agent]\nschool = XA-003\ncollector = c\npoll_interval = 2h\n"
		    SWITCH_A,
	    "a.conf:4: poll_interval = 2h: must be from 1 to 3600 seconds\n");
	agent_fails("[agent]\nschool = XA-003\ncollector = c\nretries = 11\n"
		    SWITCH_A,
	    "a.conf:4: retries = 11: must be from 0 to 10\n");
	agent_fails(AGENT_HEAD SWITCH_A "max_repetitions = 101\n",
	    "a.conf:6: max_repetitions = 101: must be from 1 to 100\n");
	agent_fails(AGENT_HEAD SWITCH_A "max_inflight = 0\n",
	    "a.conf:6: max_inflight = 0: must be from 1 to 8\n");
	collector_fails("[collector]\nhello_timeout = 0.1\n",
	    "c.conf:2: hello_timeout = 0.1: must be from 0.5 to 300 seconds\n");
}

Test(config, not_a_number)
{
	agent_fails("[agent]\nschool = XA-003\ncollector = c\nretries = two\n"
		    SWITCH_A,
	    "a.conf:4: retries = two: not a whole number\n");
	agent_fails("[agent]\nschool = XA-003\ncollector = c\nretries = 2.5\n"
		    SWITCH_A,
	    "a.conf:4: retries = 2.5: not a whole number\n");
	agent_fails("[agent]\nschool = XA-003\ncollector = c\nretries =\n"
		    SWITCH_A,
	    "a.conf:4: retries = : not a whole number\n");
	agent_fails("[agent]\nschool = XA-003\ncollector = c\n"
		    "send_window = 99999999999999999999999\n" SWITCH_A,
	    "a.conf:4: send_window = 99999999999999999999999: not a whole "
	    "number\n");
}

Test(config, bad_durations)
{
	static const char *const bad[] = {"soon", "5 m", "1w", "", "ms", "-",
	    "30sec", "nan", "inf"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256], want[256];

		snprintf(text, sizeof(text),
		    "[agent]\nschool = XA-003\ncollector = c\ntimeout = %s\n"
		    SWITCH_A,
		    bad[i]);
		snprintf(want, sizeof(want),
		    "a.conf:4: timeout = %s: not a duration (examples: 30, 1.5, "
		    "250ms, 5m, 2h, 1d)\n",
		    bad[i]);
		agent_fails(text, want);
	}
}

Test(config, bad_host_port)
{
	agent_fails(AGENT_HEAD "[switch a]\naddress = [::1\n",
	    "a.conf:5: address = [::1: missing ']' after IPv6 address\n");
	agent_fails(AGENT_HEAD "[switch a]\naddress = host:99999\n",
	    "a.conf:5: address = host:99999: port must be a number from 1 to "
	    "65535\n");
	agent_fails(AGENT_HEAD "[switch a]\naddress = a:b:c\n",
	    "a.conf:5: address = a:b:c: IPv6 addresses must be written as "
	    "[ADDR]:PORT\n");
	agent_fails("[agent]\nschool = XA-003\ncollector = bad host\n" SWITCH_A,
	    "a.conf:3: collector = bad host: invalid host name or address\n");
	collector_fails("[collector]\nlisten = :7470\n",
	    "c.conf:2: listen = :7470: missing host\n");
}

Test(config, enum_not_in_list)
{
	agent_fails(AGENT_HEAD SWITCH_A "version = 1\n",
	    "a.conf:6: version = 1: must be one of 2c|3\n");
	agent_fails(AGENT_HEAD SWITCH_A "version = 3\nuser = u\n"
				       "auth_protocol = SHA1\n",
	    "a.conf:8: auth_protocol = SHA1: must be one of "
	    "MD5|SHA|SHA-224|SHA-256|SHA-384|SHA-512\n");
	agent_fails(AGENT_HEAD SWITCH_A "priv_protocol = AES-256\n",
	    "a.conf:6: priv_protocol = AES-256: must be one of DES|AES\n");
}

Test(config, bad_names_and_strings)
{
	agent_fails("[agent]\nschool = XA 003\ncollector = c\n" SWITCH_A,
	    "a.conf:2: school = XA 003: use letters, digits, '.', '_' and '-' "
	    "only\n");
	agent_fails("[agent]\nschool = XA-003\ncollector = c\nspool =\n" SWITCH_A,
	    "a.conf:4: spool = : empty file name\n");
	agent_fails(AGENT_HEAD SWITCH_A "version = 3\nuser = caf\xe9\n",
	    "a.conf:7: user = caf\xe9: not valid UTF-8 or has control "
	    "characters\n");
}

Test(config, secrets_never_printed)
{
	char text[512], secret[200];
	struct agent_conf conf;
	struct cfg_err e;

	memset(secret, 'S', 150);
	secret[150] = '\0';
	snprintf(text, sizeof(text), AGENT_HEAD SWITCH_A "community = %s\n",
	    secret);
	agent_fails(text,
	    "a.conf:6: community = ********: longer than 127 bytes\n");
	snprintf(text, sizeof(text),
	    AGENT_HEAD SWITCH_A "version = 3\nuser = u\nauth_key = %s\n",
	    secret);
	write_file("a.conf", text);
	cr_assert_eq(agent_conf_load("a.conf", &conf, &e), -1);
	cr_assert_str_eq(e.text,
	    "a.conf:8: auth_key = ********: longer than 127 bytes\n");
}

Test(config, missing_required_key_at_section_line)
{
	agent_fails(AGENT_HEAD "\n[switch a]\nversion = 2c\n",
	    "a.conf:5: [switch a] is missing 'address' (switch management "
	    "address, host[:port])\n");
	agent_fails("# header\n[agent]\nschool = XA-003\n" SWITCH_A,
	    "a.conf:2: [agent] is missing 'collector' (collector address, "
	    "host[:port] (default port 7470))\n");
}

Test(config, missing_required_section)
{
	agent_fails(AGENT_HEAD, "a.conf: missing section [switch NAME]\n");
	agent_fails(SWITCH_A, "a.conf: missing section [agent]\n");
	/* Every missing section is reported. */
	agent_fails("", "a.conf: missing section [agent]\n"
			"a.conf: missing section [switch NAME]\n");
	agent_fails("# only comments\n\n; here\n",
	    "a.conf: missing section [agent]\n"
	    "a.conf: missing section [switch NAME]\n");
	collector_fails("; nothing here\n",
	    "c.conf: missing section [collector]\n");
}

Test(config, key_outside_any_section)
{
	agent_fails("school = XA-003\n" AGENT_HEAD SWITCH_A,
	    "a.conf:1: 'school' is outside any [section]\n");
}

Test(config, keys_in_refused_section_are_skipped)
{
	/* One error for the section, none for each of its keys. */
	agent_fails(AGENT_HEAD SWITCH_A "[router r1]\nfoo = 1\nbar = 2\n",
	    "a.conf:6: unknown section [router]\n");
}

Test(config, line_too_long)
{
	char text[1024], want[256], line[600];

	memset(line, 'x', 500);
	line[500] = '\0';
	snprintf(text, sizeof(text),
	    "[agent]\nschool = XA-003\nspool = /%s\ncollector = c\n" SWITCH_A,
	    line);
	snprintf(want, sizeof(want), "a.conf:3: line longer than %d characters\n",
	    INI_MAX_LINE - 2);
	agent_fails(text, want);
}

Test(config, line_length_limit_exact)
{
	char text[1024], want[256], line[600];
	int max = INI_MAX_LINE - 2; /* characters before the newline */
	struct agent_conf c;

	/* A comment line of exactly max characters is fine... */
	line[0] = '#';
	memset(line + 1, 'x', (size_t)max - 1);
	line[max] = '\0';
	snprintf(text, sizeof(text), AGENT_HEAD "%s\n" SWITCH_A, line);
	agent_ok(text, &c);
	agent_conf_free(&c);
	/* ...one more is not, and the next line is still counted right. */
	line[max] = 'x';
	line[max + 1] = '\0';
	snprintf(text, sizeof(text), AGENT_HEAD "%s\nfoo = 1\n" SWITCH_A,
	    line);
	snprintf(want, sizeof(want),
	    "a.conf:4: line longer than %d characters\n"
	    "a.conf:5: unknown key 'foo' in [agent]\n",
	    max);
	agent_fails(text, want);
}

Test(config, syntax_error_line)
{
	agent_fails(AGENT_HEAD "just words\n" SWITCH_A,
	    "a.conf:4: syntax error: expected '[section]' or 'key = value'\n");
	agent_fails(AGENT_HEAD "[switch a\naddress = 10.0.0.1\n",
	    "a.conf:4: syntax error: expected '[section]' or 'key = value'\n");
}

Test(config, snmpv3_rules)
{
	agent_fails(AGENT_HEAD SWITCH_A "version = 3\n",
	    "a.conf:4: [switch a]: version 3 needs 'user'\n");
	agent_fails(AGENT_HEAD SWITCH_A "version = 3\nuser = u\n"
				       "priv_key = 12345678\n",
	    "a.conf:4: [switch a]: priv_key needs auth_key (authPriv)\n");
	agent_fails(AGENT_HEAD SWITCH_A "version = 3\nuser = u\n"
				       "auth_key = 1234567\n",
	    "a.conf:4: [switch a]: auth_key must have at least 8 characters\n");
	agent_fails(AGENT_HEAD SWITCH_A "version = 3\nuser = u\n"
				       "auth_key = 12345678\npriv_key = short\n",
	    "a.conf:4: [switch a]: priv_key must have at least 8 characters\n");
	agent_fails(AGENT_HEAD SWITCH_A "auth_key = 12345678\n",
	    "a.conf:4: [switch a]: user/auth_key/priv_key need 'version = 3'\n");
	{
		struct agent_conf c;

		/* authNoPriv and authPriv at 8 characters exactly. */
		agent_ok(AGENT_HEAD SWITCH_A "version = 3\nuser = u\n"
					    "auth_key = 12345678\n"
					    "[switch b]\naddress = 10.0.0.2\n"
					    "version = 3\nuser = u\n"
					    "auth_key = 12345678\n"
					    "priv_key = abcdefgh\n"
					    "[switch c]\naddress = 10.0.0.3\n"
					    "version = 3\nuser = u\n",
		    &c);
		cr_assert_eq(c.n_switches, 3);
		cr_assert_str_eq(c.switches[1].priv_key, "abcdefgh");
		agent_conf_free(&c);
	}
}

Test(config, several_errors_all_reported)
{
	agent_fails("[agent]\n"
		    "school = XA-003\n"
		    "collector = c:0\n"
		    "poll_interval = 0\n"
		    "[switch a]\n"
		    "address = 10.0.0.1\n"
		    "version = 3\n"
		    "[switch b]\n"
		    "address = [::1\n",
	    "a.conf:3: collector = c:0: port must be a number from 1 to 65535\n"
	    "a.conf:4: poll_interval = 0: must be from 1 to 3600 seconds\n"
	    "a.conf:5: [switch a]: version 3 needs 'user'\n"
	    "a.conf:9: address = [::1: missing ']' after IPv6 address\n");
}

Test(config, missing_file)
{
	struct agent_conf c;
	struct cfg_err e;

	cr_assert_eq(agent_conf_load("nope.conf", &c, &e), -1);
	cr_assert_str_eq(e.text,
	    "nope.conf: cannot open: No such file or directory\n");
}

Test(config, print_round_values)
{
	struct agent_conf c;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	agent_ok("[agent]\nschool = XA-003\ncollector = [::1]\n"
		 "timeout = 1500ms\n" SWITCH_A "community = hush\n",
	    &c);
	f = open_memstream(&text, &len);
	cr_assert_not_null(f);
	agent_conf_print(f, &c);
	cr_assert_eq(fclose(f), 0);
	cr_assert_not_null(strstr(text, "\ncollector = [::1]:7470\n"));
	cr_assert_not_null(strstr(text, "\ntimeout = 1.5\n"));
	cr_assert_not_null(strstr(text, "\ncommunity = ********\n"));
	cr_assert_null(strstr(text, "hush"), "secret printed:\n%s", text);
	free(text);
	agent_conf_free(&c);
}

/* --- the files in tests/config: NAME.conf against NAME.ok or NAME.err --- */

/* The whole file, or NULL when it does not exist. */
static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *text = NULL;
	size_t len = 0;
	FILE *m;
	char chunk[4096];
	size_t n;

	if (f == NULL)
		return NULL;
	m = open_memstream(&text, &len);
	cr_assert_not_null(m);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		cr_assert_eq(fwrite(chunk, 1, n, m), n);
	fclose(f);
	cr_assert_eq(fclose(m), 0);
	return text;
}

static int
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/*
 * Load name (relative: the test runs in tests/config, so error texts hold
 * just the file name) with the loader its name asks for, and return what
 * --print-config prints (rc 0) or the error text (rc -1).
 */
static char *
load_and_print(const char *name, int *rc)
{
	const char *kind = strncmp(name, "bad-", 4) == 0 ? name + 4 : name;
	struct cfg_err e;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	f = open_memstream(&text, &len);
	cr_assert_not_null(f);
	if (strncmp(kind, "agent", 5) == 0) {
		struct agent_conf c;

		*rc = agent_conf_load(name, &c, &e);
		if (*rc == 0) {
			agent_conf_print(f, &c);
			agent_conf_free(&c);
		}
	} else if (strncmp(kind, "collector", 9) == 0) {
		struct collector_conf c;

		*rc = collector_conf_load(name, &c, &e);
		if (*rc == 0) {
			collector_conf_print(f, &c);
			collector_conf_free(&c);
		}
	} else {
		cr_assert_fail("%s: name must start with [bad-]agent or "
			       "[bad-]collector",
		    name);
	}
	if (*rc != 0)
		fputs(e.text, f);
	cr_assert_eq(fclose(f), 0);
	return text;
}

Test(config_files, expected_output)
{
	DIR *d;
	struct dirent *de;
	int n_ok = 0, n_bad = 0;

	cr_assert_eq(chdir(CONFIG_DIR), 0, "%s: %s", CONFIG_DIR,
	    strerror(errno));
	cr_assert_not_null(d = opendir("."));
	while ((de = readdir(d)) != NULL) {
		char name[256], want_path[256];
		char *got, *want;
		int bad, rc;

		if (!has_suffix(de->d_name, ".conf"))
			continue;
		snprintf(name, sizeof(name), "%s", de->d_name);
		bad = strncmp(name, "bad-", 4) == 0;
		snprintf(want_path, sizeof(want_path), "%.*s%s",
		    (int)(strlen(name) - 5), name, bad ? ".err" : ".ok");
		want = slurp(want_path);
		cr_assert_not_null(want, "%s has no %s", name, want_path);
		got = load_and_print(name, &rc);
		if (bad) {
			cr_assert_eq(rc, -1, "%s was accepted", name);
			n_bad++;
		} else {
			cr_assert_eq(rc, 0, "%s was refused:\n%s", name, got);
			n_ok++;
		}
		cr_assert_str_eq(got, want,
		    "%s: output differs from %s\n--- got:\n%s--- want:\n%s",
		    name, want_path, got, want);
		free(got);
		free(want);
	}
	closedir(d);
	cr_assert_geq(n_ok, 4, "only %d good config files found", n_ok);
	cr_assert_geq(n_bad, 6, "only %d bad config files found", n_bad);
}

Test(config_files, every_expected_file_has_a_config)
{
	DIR *d;
	struct dirent *de;

	cr_assert_eq(chdir(CONFIG_DIR), 0);
	cr_assert_not_null(d = opendir("."));
	while ((de = readdir(d)) != NULL) {
		char conf[256];
		size_t n = strlen(de->d_name);

		if (!has_suffix(de->d_name, ".ok") &&
		    !has_suffix(de->d_name, ".err"))
			continue;
		snprintf(conf, sizeof(conf), "%.*s.conf",
		    (int)(n - (has_suffix(de->d_name, ".ok") ? 3 : 4)),
		    de->d_name);
		cr_assert_eq(access(conf, R_OK), 0, "%s has no %s", de->d_name,
		    conf);
	}
	closedir(d);
}
