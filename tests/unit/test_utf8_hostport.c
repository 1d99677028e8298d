/* test_utf8_hostport.c: UTF-8 label checks/repair and host:port parsing. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "schoolnet/hostport.h"
#include "schoolnet/utf8.h"

static bool
valid(const char *s)
{
	return utf8_valid_label(s, strlen(s));
}

/* --- utf8_valid_label ------------------------------------------------ */

Test(utf8, valid_labels)
{
	cr_assert(utf8_valid_label("", 0));
	cr_assert(valid("Gi0/1 uplink"));
	cr_assert(valid("tab\tinside"), "tab is allowed");
	cr_assert(valid("三年级2班"));
	cr_assert(valid("caf\xc3\xa9"));			/* U+00E9 */
	cr_assert(valid("\xe0\xa0\x80"));			/* U+0800 */
	cr_assert(valid("\xed\x9f\xbf"));			/* U+D7FF */
	cr_assert(valid("\xee\x80\x80"));			/* U+E000 */
	cr_assert(valid("\xf0\x9f\x98\x80"));		/* U+1F600 */
	cr_assert(valid("\xf4\x8f\xbf\xbf"));		/* U+10FFFF */
}

Test(utf8, control_characters_refused)
{
	cr_assert_not(valid("a\nb"));
	cr_assert_not(valid("a\rb"));
	cr_assert_not(valid("\x1b[31m"));
	cr_assert_not(valid("del\x7f"));
	cr_assert_not(utf8_valid_label("a\0b", 3), "embedded NUL");
}

Test(utf8, ill_formed_refused)
{
	cr_assert_not(valid("\x80"), "lone continuation byte");
	cr_assert_not(valid("\xbf"), "lone continuation byte");
	cr_assert_not(valid("\xc0\xaf"), "overlong '/' (2 bytes)");
	cr_assert_not(valid("\xc1\xbf"), "overlong (2 bytes)");
	cr_assert_not(valid("\xe0\x80\xaf"), "overlong '/' (3 bytes)");
	cr_assert_not(valid("\xe0\x9f\xbf"), "overlong (3 bytes)");
	cr_assert_not(valid("\xf0\x80\x80\xaf"), "overlong '/' (4 bytes)");
	cr_assert_not(valid("\xf0\x8f\xbf\xbf"), "overlong (4 bytes)");
	cr_assert_not(valid("\xed\xa0\x80"), "surrogate U+D800");
	cr_assert_not(valid("\xed\xbf\xbf"), "surrogate U+DFFF");
	cr_assert_not(valid("\xf4\x90\x80\x80"), "above U+10FFFF");
	cr_assert_not(valid("\xf5\x80\x80\x80"), "F5 lead byte");
	cr_assert_not(valid("\xfe"), "FE byte");
	cr_assert_not(valid("\xff"), "FF byte");
	cr_assert_not(valid("\xe4\xb8"), "truncated 3-byte char");
	cr_assert_not(valid("ok\xe4"), "truncated at the end");
	cr_assert_not(valid("\xf0\x9f\x98"), "truncated 4-byte char");
	cr_assert_not(valid("\xc3("), "bad continuation");
}

Test(utf8, length_bounds_the_check)
{
	/* "三" is e4 b8 89: cutting the length inside it must fail, and bytes
	 * past len must not be read as part of the label. */
	const char *s = "ab三";

	cr_assert(utf8_valid_label(s, 2));
	cr_assert_not(utf8_valid_label(s, 3));
	cr_assert_not(utf8_valid_label(s, 4));
	cr_assert(utf8_valid_label(s, 5));
}

/* --- utf8_sanitize --------------------------------------------------- */

static void
check_sanitize(const char *src, size_t len, size_t dstsize, const char *want)
{
	char dst[64];
	size_t n;

	cr_assert(dstsize <= sizeof(dst));
	memset(dst, 'X', sizeof(dst));
	n = utf8_sanitize(dst, dstsize, src, len);
	cr_assert_str_eq(dst, want);
	cr_assert_eq(n, strlen(want), "returned %zu, want %zu", n,
	    strlen(want));
	cr_assert(utf8_valid_label(dst, n), "sanitized output is a label");
	cr_assert_lt(n, dstsize);
}

Test(utf8, sanitize_keeps_valid_text)
{
	check_sanitize("三年级2班", strlen("三年级2班"), 64, "三年级2班");
	check_sanitize("tab\there", 8, 64, "tab\there");
	check_sanitize("", 0, 64, "");
}

Test(utf8, sanitize_replaces_controls)
{
	check_sanitize("a\nb\rc", 5, 64, "a?b?c");
	check_sanitize("\x1b[0m", 4, 64, "?[0m");
	check_sanitize("x\x7fy", 3, 64, "x?y");
	check_sanitize("a\0b", 3, 64, "a?b");
}

Test(utf8, sanitize_drops_one_trailing_nul)
{
	/* Some agents count the C string's NUL in an OCTET STRING. */
	check_sanitize("port1\0", 6, 64, "port1");
}

Test(utf8, sanitize_replaces_ill_formed_bytes)
{
	check_sanitize("\xc0\xaf", 2, 64, "??");
	check_sanitize("\xe0\x80\xaf", 3, 64, "???");
	check_sanitize("\xed\xa0\x80", 3, 64, "???");
	check_sanitize("a\xffz", 3, 64, "a?z");
	check_sanitize("\xf4\x90\x80\x80", 4, 64, "????");
	/* Latin-1 text from an old switch: each high byte becomes '?'. */
	check_sanitize("caf\xe9", 4, 64, "caf?");
}

Test(utf8, sanitize_truncated_multibyte_at_end)
{
	check_sanitize("ok\xe4\xb8", 4, 64, "ok??");
	check_sanitize("ok\xf0\x9f\x98", 5, 64, "ok???");
}

Test(utf8, sanitize_never_cuts_a_character)
{
	const char *s = "ab三年"; /* 2 + 3 + 3 bytes */

	check_sanitize(s, 8, 9, "ab三年");
	check_sanitize(s, 8, 8, "ab三");
	check_sanitize(s, 8, 6, "ab三");
	check_sanitize(s, 8, 5, "ab");
	check_sanitize(s, 8, 3, "ab");
	check_sanitize(s, 8, 2, "a");
	check_sanitize(s, 8, 1, "");
}

Test(utf8, sanitize_zero_size_writes_nothing)
{
	char dst[4] = "XYZ";

	cr_assert_eq(utf8_sanitize(dst, 0, "abc", 3), 0);
	cr_assert_str_eq(dst, "XYZ");
}

Test(utf8, sanitize_replacement_respects_size)
{
	/* Replacements count against the size too. */
	check_sanitize("\x01\x02\x03\x04", 4, 3, "??");
}

/* --- hostport_parse / hostport_format -------------------------------- */

static void
check_ok(const char *s, uint16_t defport, const char *host, uint16_t port)
{
	struct hostport hp;
	const char *why = NULL;

	memset(&hp, 0, sizeof(hp));
	cr_assert_eq(hostport_parse(s, defport, &hp, &why), 0,
	    "'%s' refused: %s", s, why ? why : "(no reason)");
	cr_assert_str_eq(hp.host, host, "'%s': host", s);
	cr_assert_eq(hp.port, port, "'%s': port %u, want %u", s, hp.port,
	    port);
}

static void
check_bad(const char *s, uint16_t defport, const char *reason)
{
	struct hostport hp;
	const char *why = NULL;

	memset(&hp, 0, sizeof(hp));
	cr_assert_eq(hostport_parse(s, defport, &hp, &why), -1,
	    "'%s' accepted as %s:%u", s, hp.host, hp.port);
	cr_assert_not_null(why, "'%s': no reason given", s);
	cr_assert_str_eq(why, reason, "'%s'", s);
}

Test(hostport, ipv4_and_hostnames)
{
	check_ok("10.0.0.1:161", 0, "10.0.0.1", 161);
	check_ok("10.0.0.1", 161, "10.0.0.1", 161);
	check_ok("collector.county.edu.cn:7470", 7470, "collector.county.edu.cn",
	    7470);
	check_ok("sw-1_core.school.local", 161, "sw-1_core.school.local", 161);
	check_ok("localhost:1", 7470, "localhost", 1);
	check_ok("localhost:65535", 7470, "localhost", 65535);
}

Test(hostport, ipv6_bracketed)
{
	check_ok("[::1]:7470", 0, "::1", 7470);
	check_ok("[::1]", 161, "::1", 161);
	check_ok("[2001:db8::10]:1161", 161, "2001:db8::10", 1161);
	check_ok("[fe80::1%eth0]:161", 0, "fe80::1%eth0", 161);
	check_ok("[::ffff:10.0.0.1]:80", 0, "::ffff:10.0.0.1", 80);
}

Test(hostport, errors)
{
	check_bad("[::1", 161, "missing ']' after IPv6 address");
	check_bad("[::1]x", 161, "expected ':PORT' after ']'");
	check_bad("[::1]:", 161, "port must be a number from 1 to 65535");
	check_bad("a:b:c", 161, "IPv6 addresses must be written as [ADDR]:PORT");
	check_bad("::1", 161, "IPv6 addresses must be written as [ADDR]:PORT");
	check_bad("host:99999", 161, "port must be a number from 1 to 65535");
	check_bad("host:0", 161, "port must be a number from 1 to 65535");
	check_bad("host:65536", 161, "port must be a number from 1 to 65535");
	check_bad("host:", 161, "port must be a number from 1 to 65535");
	check_bad("host:http", 161, "port must be a number from 1 to 65535");
	check_bad("host:80x", 161, "port must be a number from 1 to 65535");
	check_bad("host:-1", 161, "port must be a number from 1 to 65535");
	check_bad("", 161, "missing host");
	check_bad(":80", 161, "missing host");
	check_bad("[]:80", 161, "missing host");
	check_bad("host", 0, "missing ':PORT'");
	check_bad("[::1]", 0, "missing ':PORT'");
	check_bad("-host:80", 161, "invalid host name or address");
	check_bad(".host:80", 161, "invalid host name or address");
	check_bad("ho st:80", 161, "invalid host name or address");
	check_bad("host/24:80", 161, "invalid host name or address");
	check_bad("[1.2.3.4]:80", 161, "invalid host name or address");
	check_bad("[::1 ]:80", 161, "invalid host name or address");
}

Test(hostport, host_length_limit)
{
	char s[300];

	/* RFC 1123 names: at most 253 characters. */
	memset(s, 'a', 253);
	s[253] = '\0';
	check_ok(s, 161, s, 161);
	memset(s, 'a', 254);
	s[254] = '\0';
	check_bad(s, 161, "invalid host name or address");
	/* Past the buffer: refused before copying. */
	memset(s, 'a', 256);
	strcpy(s + 256, ":161");
	check_bad(s, 161, "host name too long");
	memset(s, 'a', 290);
	s[290] = '\0';
	check_bad(s, 161, "host name too long");
}

static void
check_format(const char *host, uint16_t port, const char *want)
{
	struct hostport hp, back;
	char buf[300];
	const char *why = "";

	memset(&hp, 0, sizeof(hp));
	snprintf(hp.host, sizeof(hp.host), "%s", host);
	hp.port = port;
	hostport_format(&hp, buf, (int)sizeof(buf));
	cr_assert_str_eq(buf, want);
	/* What is printed parses back to the same thing. */
	cr_assert_eq(hostport_parse(buf, 0, &back, &why), 0, "%s: %s", buf,
	    why);
	cr_assert_str_eq(back.host, hp.host);
	cr_assert_eq(back.port, hp.port);
}

Test(hostport, format_round_trip)
{
	check_format("10.0.0.1", 161, "10.0.0.1:161");
	check_format("collector.example", 7470, "collector.example:7470");
	check_format("::1", 7470, "[::1]:7470");
	check_format("2001:db8::10", 1161, "[2001:db8::10]:1161");
}

Test(hostport, format_truncates_safely)
{
	struct hostport hp = {.host = "collector.example", .port = 7470};
	char buf[8];

	memset(buf, 'X', sizeof(buf));
	hostport_format(&hp, buf, (int)sizeof(buf));
	cr_assert_str_eq(buf, "collect");
}
