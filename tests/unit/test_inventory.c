/* test_inventory.c: checking the inventory CSV (collector/inventory.c). */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <curl/curl.h>

#include "collector.h"
#include "tmpdir.h"

TestSuite(inventory, .init = tmp_setup, .fini = tmp_teardown);

#define HEADER                                                          \
	"town,school_code,school_name,school_type,town_seat,role,room," \
	"switch,port,probe\n"
/*
 * Three good rows of one school: lines 2-4 of a file that starts with
 * HEADER. Formatted by hand: clang-format misjudges the width of Chinese.
 */
/* clang-format off */
#define GOOD \
	"城关镇,s001,城关镇中心小学,小学,yes,uplink,,access1," \
	"XGigabitEthernet0/0/1,\n" \
	"城关镇,s001,城关镇中心小学,小学,yes,classroom,一年级1班," \
	"access1,GigabitEthernet0/0/1,\n" \
	"城关镇,s001,城关镇中心小学,小学,yes,recording,录播室," \
	"access1,GigabitEthernet0/0/2,rtsp://10.1.2.3:554/live\n"
/* clang-format on */

static void
write_bytes(const char *text, size_t len)
{
	FILE *f = fopen("inv.csv", "wb");

	cr_assert_not_null(f, "inv.csv: %s", strerror(errno));
	cr_assert_eq(fwrite(text, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

/* text must be accepted; the caller frees the result. */
static struct inventory *
inv_ok(const char *text)
{
	struct inventory *inv = NULL;
	struct cfg_err e;

	write_bytes(text, strlen(text));
	cr_assert_eq(inventory_check_file("inv.csv", &inv, &e), 0,
	    "refused:\n%s", e.text);
	cr_assert_eq(e.count, 0);
	cr_assert_str_eq(e.text, "");
	cr_assert_not_null(inv);
	return inv;
}

/* inv.csv as it is must be refused with exactly want. */
static void
file_bad(const char *want)
{
	struct inventory *inv = (struct inventory *)&inv;
	struct cfg_err e;

	cr_assert_eq(inventory_check_file("inv.csv", &inv, &e), -1,
	    "accepted, expected:\n%s", want);
	cr_assert_null(inv, "*out must be NULL on failure");
	cr_assert_str_eq(e.text, want);
}

/* text (len bytes) must be refused with exactly want. */
static void
inv_bad_bytes(const char *text, size_t len, const char *want)
{
	write_bytes(text, len);
	file_bad(want);
}

static void
inv_bad(const char *text, const char *want)
{
	inv_bad_bytes(text, strlen(text), want);
}

/* --- what is accepted --------------------------------------------------- */

Test(inventory, rows_chinese_names_and_defaults)
{
	struct inventory *inv = inv_ok(HEADER GOOD
	    "石桥镇,s002,石桥镇初级中学,初级中学,no,classroom,七年级1班,"
	    "core-1,Gi0/0/3,\n");
	const struct inventory_row *r = inv->rows;

	cr_assert_eq(inv->n_rows, 4);
	cr_assert_eq(inv->n_schools, 2);
	cr_assert_eq(r[0].line, 2);
	cr_assert_str_eq(r[0].town, "城关镇");
	cr_assert_str_eq(r[0].school_code, "s001");
	cr_assert_str_eq(r[0].school_name, "城关镇中心小学");
	cr_assert_str_eq(r[0].school_type, "小学");
	cr_assert(r[0].town_seat);
	cr_assert_str_eq(r[0].role, "uplink");
	cr_assert_str_eq(r[0].room, "出口", "an uplink's default room");
	cr_assert_str_eq(r[0].switch_name, "access1");
	cr_assert_str_eq(r[0].port, "XGigabitEthernet0/0/1");
	cr_assert_str_eq(r[0].probe, "");
	cr_assert_str_eq(r[1].role, "classroom");
	cr_assert_str_eq(r[1].room, "一年级1班");
	cr_assert_str_eq(r[2].role, "recording");
	cr_assert_str_eq(r[2].probe, "rtsp://10.1.2.3:554/live");
	cr_assert_eq(r[3].line, 5);
	cr_assert_not(r[3].town_seat);
	cr_assert_str_eq(r[3].switch_name, "core-1");
	inventory_free(inv);
}

Test(inventory, bom_or_no_bom)
{
	struct inventory *a = inv_ok(HEADER GOOD);
	struct inventory *b = inv_ok("\xef\xbb\xbf" HEADER GOOD);

	cr_assert_eq(a->n_rows, 3);
	cr_assert_eq(b->n_rows, 3);
	cr_assert_str_eq(b->rows[0].town, "城关镇", "the BOM is not text");
	cr_assert_eq(b->rows[2].line, 4);
	inventory_free(a);
	inventory_free(b);
	/* A BOM is only a BOM at the start of the file. */
	inv_bad(HEADER "\xef\xbb\xbf" GOOD,
	    "inv.csv:3: school s001: town '城关镇' differs from line 2 "
	    "('\xef\xbb\xbf城关镇')\n"
	    "inv.csv:4: school s001: town '城关镇' differs from line 2 "
	    "('\xef\xbb\xbf城关镇')\n");
}

Test(inventory, crlf_or_lf)
{
	struct inventory *inv = inv_ok(
	    "town,school_code,school_name,school_type,town_seat,role,room,"
	    "switch,port,probe\r\n"
	    "城关镇,s001,城关镇中心小学,小学,yes,uplink,,access1,Xe1,\r\n"
	    "\r\n"
	    "城关镇,s001,城关镇中心小学,小学,yes,classroom,一年级1班,access1,"
	    "Ge1,\r\n");

	cr_assert_eq(inv->n_rows, 2);
	cr_assert_str_eq(inv->rows[0].port, "Xe1", "no CR in the last field");
	cr_assert_str_eq(inv->rows[1].port, "Ge1");
	cr_assert_eq(inv->rows[1].line, 4, "CRLF counts as one line");
	inventory_free(inv);
	/* Line numbers stay right with CRLF, blank lines and no final
	 * newline. */
	inv_bad("\xef\xbb\xbf"
	        "town,school_code,school_name,school_type,town_seat,role,"
	        "room,switch,port,probe\r\n"
	        "\r\n"
	        "城关镇,s001,城关镇中心小学,小学,yes,uplink,,access1,Xe1,\r\n"
	        "\r\n"
	        "\r\n"
	        "城关镇,s001,城关镇中心小学,小学,yes,lobby,大厅,access1,Ge1,",
	    "inv.csv:6: unknown role 'lobby' (use uplink, classroom or "
	    "recording)\n");
}

Test(inventory, quoted_fields_with_commas_and_quotes)
{
	struct inventory *inv = inv_ok(HEADER
	    "\"城关镇\",s001,\"城关,\"\"一\"\"小\",小学,是,\"classroom\","
	    "\"一年级1班, 东\",access1,\"Gi0/0/1\",\n"
	    "城关镇,s001,\"城关,\"\"一\"\"小\",小学,是,recording,\" 录播室 \","
	    "access1,Gi0/0/2,\"http://rec.local/a?x=1,2\"\n");

	cr_assert_eq(inv->n_rows, 2);
	cr_assert_str_eq(inv->rows[0].school_name, "城关,\"一\"小");
	cr_assert_str_eq(inv->rows[0].room, "一年级1班, 东");
	cr_assert_str_eq(inv->rows[0].port, "Gi0/0/1");
	cr_assert_str_eq(
	    inv->rows[1].room, " 录播室 ", "spaces inside quotes are kept");
	cr_assert_str_eq(inv->rows[1].probe, "http://rec.local/a?x=1,2");
	inventory_free(inv);
}

Test(inventory, town_seat_words)
{
	static const struct {
		const char *word;
		bool seat;
	} words[] = {
	    {"yes", true},
	    {"YES", true},
	    {"Y", true},
	    {"1", true},
	    {"是", true},
	    {"no", false},
	    {"No", false},
	    {"n", false},
	    {"0", false},
	    {"否", false},
	};
	char text[1024];

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		struct inventory *inv;

		snprintf(text, sizeof(text),
		    HEADER "河口镇,s003,河口镇柳树湾教学点,教学点,%s,classroom,"
		           "一年级1班,access1,Gi0/0/1,\n",
		    words[i].word);
		inv = inv_ok(text);
		cr_assert_eq(
		    inv->rows[0].town_seat, words[i].seat, "%s", words[i].word);
		inventory_free(inv);
	}
}

Test(inventory, every_school_type_and_probe_scheme)
{
	static const char *const types[] = {
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
	static const char *const probes[] = {
	    "http://10.0.0.9/",
	    "https://rec.example.cn:8443/status",
	    "rtsp://10.0.0.9:554/ch1",
	    "HTTP://10.0.0.9",
	};
	char text[1024];

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct inventory *inv;

		snprintf(text, sizeof(text),
		    HEADER "镇,s1,学校,%s,no,recording,录播室,sw,p1,%s\n",
		    types[i], probes[i % 4]);
		inv = inv_ok(text);
		cr_assert_str_eq(inv->rows[0].school_type, types[i]);
		cr_assert_str_eq(inv->rows[0].probe, probes[i % 4]);
		inventory_free(inv);
	}
}

Test(inventory, blank_rows_are_skipped)
{
	struct inventory *inv = inv_ok(HEADER "\n" GOOD ",,,,,,,,,\n\n");

	cr_assert_eq(inv->n_rows, 3);
	cr_assert_eq(inv->rows[0].line, 3);
	inventory_free(inv);
}

Test(inventory, uplinks_may_share_the_default_room)
{
	struct inventory *inv =
	    inv_ok(HEADER "镇,s1,学校,小学,no,uplink,,sw,Xe1,\n"
	                  "镇,s1,学校,小学,no,uplink,,sw,Xe2,\n"
	                  "镇,s1,学校,小学,no,classroom,出口,sw,Ge1,\n");

	cr_assert_eq(inv->n_rows, 3);
	inventory_free(inv);
}

/* --- one test per reason to refuse a file ------------------------------- */

Test(inventory, wrong_header_column)
{
	inv_bad("town,school,school_name,school_type,town_seat,role,room,"
	        "switch,port,probe\n" GOOD,
	    "inv.csv:1: header column 2 is 'school', expected "
	    "'school_code'\n");
	inv_bad("town,school_code,school_name,school_type,town_seat,room,role,"
	        "switch,port,probe\n" GOOD,
	    "inv.csv:1: header column 6 is 'room', expected 'role'\n"
	    "inv.csv:1: header column 7 is 'role', expected 'room'\n");
}

Test(inventory, wrong_header_column_count)
{
	inv_bad("town,school_code,school_name,school_type,town_seat,role,room,"
	        "switch,port\n" GOOD,
	    "inv.csv:1: the header has 9 columns, expected 10: town,"
	    "school_code,school_name,school_type,town_seat,role,room,switch,"
	    "port,probe\n");
}

Test(inventory, wrong_number_of_fields)
{
	inv_bad(HEADER GOOD "镇,s1,学校,小学,no,uplink,,sw,Xe1\n"
	                    "镇,s1,学校,小学,no,uplink,,sw,Xe1,,\n"
	                    "just one\n",
	    "inv.csv:5: 9 fields, expected 10\n"
	    "inv.csv:6: 11 fields, expected 10\n"
	    "inv.csv:7: 1 field, expected 10\n");
}

Test(inventory, missing_required_fields)
{
	inv_bad(HEADER ",s1,学校,小学,no,uplink,,sw,Xe1,\n"
	               "镇,,学校,小学,no,uplink,,sw,Xe1,\n"
	               "镇,s1,,小学,no,uplink,,sw,Xe1,\n"
	               "镇,s1,学校,,no,uplink,,sw,Xe1,\n"
	               "镇,s1,学校,小学,,uplink,,sw,Xe1,\n"
	               "镇,s1,学校,小学,no,,,sw,Xe1,\n"
	               "镇,s1,学校,小学,no,uplink,,,Xe1,\n"
	               "镇,s1,学校,小学,no,uplink,,sw,,\n",
	    "inv.csv:2: town is missing\n"
	    "inv.csv:3: school_code is missing\n"
	    "inv.csv:4: school_name is missing\n"
	    "inv.csv:5: school_type is missing\n"
	    "inv.csv:6: town_seat is missing\n"
	    "inv.csv:7: role is missing\n"
	    "inv.csv:8: switch is missing\n"
	    "inv.csv:9: port is missing\n");
}

Test(inventory, missing_room)
{
	inv_bad(HEADER "镇,s1,学校,小学,no,classroom,,sw,Ge1,\n"
	               "镇,s1,学校,小学,no,recording,,sw,Ge2,\n",
	    "inv.csv:2: room is missing (a classroom row needs one)\n"
	    "inv.csv:3: room is missing (a recording row needs one)\n");
}

Test(inventory, unknown_role)
{
	inv_bad(HEADER "镇,s1,学校,小学,no,office,教师办公室,sw,Ge1,\n",
	    "inv.csv:2: unknown role 'office' (use uplink, classroom or "
	    "recording)\n");
}

Test(inventory, unknown_school_type)
{
	inv_bad(HEADER "镇,s1,学校,大学,no,classroom,一年级1班,sw,Ge1,\n",
	    "inv.csv:2: unknown school_type '大学' (use 小学, 初中, 初级中学, "
	    "九年一贯制, 九年一贯制学校, 完全中学, 高中, 幼儿园, 教学点, "
	    "特殊教育学校 or 职业学校)\n");
}

Test(inventory, unknown_town_seat)
{
	inv_bad(HEADER "镇,s1,学校,小学,maybe,classroom,一年级1班,sw,Ge1,\n"
	               "镇,s2,学校,小学,true,classroom,一年级1班,sw,Ge1,\n",
	    "inv.csv:2: town_seat 'maybe' is not yes or no\n"
	    "inv.csv:3: town_seat 'true' is not yes or no\n");
}

Test(inventory, bad_school_code)
{
	inv_bad(HEADER
	    "镇,s 1,学校,小学,no,uplink,,sw,Xe1,\n"
	    "镇,城关一小,学校,小学,no,uplink,,sw,Xe1,\n"
	    "镇,a234567890123456789012345678901234567890123456789012345678"
	    "901234,学校,小学,no,uplink,,sw,Xe1,\n",
	    "inv.csv:2: bad school_code 's 1': use 1-63 letters, digits, "
	    "'.', '_', '-'\n"
	    "inv.csv:3: bad school_code '城关一小': use 1-63 letters, "
	    "digits, '.', '_', '-'\n"
	    "inv.csv:4: bad school_code 'a2345678901234567890123456789012345"
	    "67890123456789012345678901234': use 1-63 letters, digits, '.', "
	    "'_', '-'\n");
}

Test(inventory, bad_switch_name)
{
	inv_bad(HEADER "镇,s1,学校,小学,no,uplink,,core/1,Xe1,\n",
	    "inv.csv:2: bad switch name 'core/1': use 1-63 letters, digits, "
	    "'.', '_', '-'\n");
}

Test(inventory, probe_on_a_non_recording_row)
{
	inv_bad(HEADER "镇,s1,学校,小学,no,uplink,,sw,Xe1,http://10.0.0.1/\n"
	               "镇,s1,学校,小学,no,classroom,一年级1班,sw,Ge1,"
	               "http://10.0.0.2/\n",
	    "inv.csv:2: probe is only for recording rows, not uplink\n"
	    "inv.csv:3: probe is only for recording rows, not classroom\n");
}

/* What libcurl says of url (its words change between versions). */
static const char *
curl_says(const char *url)
{
	CURLU *u = curl_url();
	CURLUcode rc;

	cr_assert_not_null(u);
	rc = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
	curl_url_cleanup(u);
	cr_assert_neq(rc, CURLUE_OK, "%s", url);
	return curl_url_strerror(rc);
}

Test(inventory, bad_probe_url)
{
	char want[1024];

	snprintf(want, sizeof(want),
	    "inv.csv:2: bad probe URL 'ftp://10.0.0.1/': the scheme must be "
	    "http, https or rtsp\n"
	    "inv.csv:3: bad probe URL '10.0.0.1/live': %s\n"
	    "inv.csv:4: bad probe URL 'http://a b/': %s\n"
	    "inv.csv:5: bad probe URL 'http://': %s\n",
	    curl_says("10.0.0.1/live"), curl_says("http://a b/"),
	    curl_says("http://"));
	inv_bad(HEADER
	    "镇,s1,学校,小学,no,recording,录播室,sw,Ge1,"
	    "ftp://10.0.0.1/\n"
	    "镇,s1,学校,小学,no,recording,录播室2,sw,Ge2,10.0.0.1/live\n"
	    "镇,s1,学校,小学,no,recording,录播室3,sw,Ge3,http://a b/\n"
	    "镇,s1,学校,小学,no,recording,录播室4,sw,Ge4,http://\n",
	    want);
}

Test(inventory, same_port_twice)
{
	inv_bad(HEADER GOOD
	    "城关镇,s001,城关镇中心小学,小学,yes,classroom,一年级2班,access1,"
	    "GigabitEthernet0/0/1,\n",
	    "inv.csv:5: port GigabitEthernet0/0/1 of switch access1 of school "
	    "s001 is already on line 3\n");
}

Test(inventory, same_room_on_two_ports)
{
	inv_bad(HEADER GOOD
	    "城关镇,s001,城关镇中心小学,小学,yes,classroom,一年级1班,access1,"
	    "GigabitEthernet0/0/7,\n"
	    "城关镇,s001,城关镇中心小学,小学,yes,classroom,录播室,access1,"
	    "GigabitEthernet0/0/8,\n",
	    "inv.csv:5: room 一年级1班 of school s001 is already on line 3\n"
	    "inv.csv:6: room 录播室 of school s001 is already on line 4\n");
}

Test(inventory, school_differs_between_lines)
{
	inv_bad(HEADER GOOD
	    "城关镇,s001,城关镇第一小学,小学,yes,classroom,一年级2班,access1,"
	    "GigabitEthernet0/0/3,\n"
	    "石桥镇,s001,城关镇中心小学,小学,yes,classroom,一年级3班,access1,"
	    "GigabitEthernet0/0/4,\n"
	    "城关镇,s001,城关镇中心小学,九年一贯制,yes,classroom,一年级4班,"
	    "access1,GigabitEthernet0/0/5,\n"
	    "城关镇,s001,城关镇中心小学,小学,否,classroom,一年级5班,access1,"
	    "GigabitEthernet0/0/6,\n",
	    "inv.csv:5: school s001: school_name '城关镇第一小学' differs from "
	    "line 2 ('城关镇中心小学')\n"
	    "inv.csv:6: school s001: town '石桥镇' differs from line 2 "
	    "('城关镇')\n"
	    "inv.csv:7: school s001: school_type '九年一贯制' differs from "
	    "line 2 ('小学')\n"
	    "inv.csv:8: school s001: town_seat '否' differs from line 2 "
	    "('yes')\n");
}

Test(inventory, empty_file)
{
	inv_bad("",
	    "inv.csv:1: empty file: expected the header town,school_code,"
	    "school_name,school_type,town_seat,role,room,switch,port,probe\n");
	inv_bad("\xef\xbb\xbf\r\n\r\n",
	    "inv.csv:1: empty file: expected the header town,school_code,"
	    "school_name,school_type,town_seat,role,room,switch,port,probe\n");
}

Test(inventory, header_only)
{
	inv_bad(HEADER, "inv.csv:2: no rows after the header\n");
	inv_bad("\xef\xbb\xbf" HEADER ",,,,,,,,,\r\n",
	    "inv.csv:3: no rows after the header\n");
}

Test(inventory, invalid_utf8)
{
	/* GBK, as Excel saves "CSV" on a Chinese Windows (some GBK pairs
	 * happen to be well-formed UTF-8, 城关镇 is not); an overlong '/';
	 * a UTF-16 surrogate. */
	inv_bad(HEADER "\xb3\xc7\xb9\xd8\xd5\xf2,s1,学校,小学,no,uplink,,sw,"
	               "Xe1,\n"
	               "镇,s1,学校,小学,no,uplink,,sw,Gi0\xc0\xaf"
	               "1,\n"
	               "镇,s1,学校,小学,no,classroom,\xed\xa0\x80,sw,Ge1,\n"
	               "镇,s1,学校,小学,no,classroom,一年级\xe4\xb8,sw,Ge2,\n",
	    "inv.csv:2: town is not valid UTF-8 (save the file as \"CSV "
	    "UTF-8\")\n"
	    "inv.csv:3: port is not valid UTF-8 (save the file as \"CSV "
	    "UTF-8\")\n"
	    "inv.csv:4: room is not valid UTF-8 (save the file as \"CSV "
	    "UTF-8\")\n"
	    "inv.csv:5: room is not valid UTF-8 (save the file as \"CSV "
	    "UTF-8\")\n");
	inv_bad_bytes("\xff\xfet\0o\0w\0n\0", 10,
	    "inv.csv:1: the file is UTF-16: save it as \"CSV UTF-8\"\n");
}

Test(inventory, control_characters)
{
	static const char text[] =
	    HEADER "镇,s1,学校,小学,no,classroom,\"一年级\t1班\",sw,Ge1,\n"
	           "镇,s1,学校,小学,no,classroom,\"一年级\n2班\",sw,Ge2,\n"
	           "镇,s1,学校,小学,no,classroom,一年级\0013班,sw,Ge3,\n"
	           "镇,s1,学校,小学,no,classroom,一年级4班,sw,Ge\0004,\n"
	           "镇,s1,学校,小学,no,lobby,大厅,sw,Ge5,\n";

	inv_bad_bytes(text, sizeof(text) - 1,
	    "inv.csv:2: room contains a control character\n"
	    "inv.csv:3: room contains a control character\n"
	    "inv.csv:5: room contains a control character\n"
	    "inv.csv:6: port contains a control character\n"
	    "inv.csv:7: unknown role 'lobby' (use uplink, classroom or "
	    "recording)\n");
}

Test(inventory, fields_too_long)
{
	char *text = malloc(4096), *p;

	cr_assert_not_null(text);
	p = text + sprintf(text, HEADER "镇,s1,学校,小学,no,classroom,");
	memset(p, 'x', 1025);
	p += 1025;
	p += sprintf(p, ",sw,Ge1,\n镇,s1,学校,小学,no,classroom,一年级1班,sw,");
	memset(p, 'p', 256);
	p += 256;
	strcpy(p, ",\n");
	inv_bad(text,
	    "inv.csv:2: room is longer than 1024 bytes\n"
	    "inv.csv:3: port is longer than 255 bytes\n");
	free(text);
}

Test(inventory, bad_quoting)
{
	inv_bad(HEADER GOOD "镇,s1,学\"校,小学,no,uplink,,sw,Xe1,\n",
	    "inv.csv:5: bad quoting: a quote inside an unquoted field, or text "
	    "after a closing quote\n");
	inv_bad(HEADER "镇,s1,\"学校\"x,小学,no,uplink,,sw,Xe1,\n",
	    "inv.csv:2: bad quoting: a quote inside an unquoted field, or text "
	    "after a closing quote\n");
	inv_bad(HEADER GOOD "镇,s1,\"学校,小学,no,uplink,,sw,Xe1,\n",
	    "inv.csv:5: a quoted field is not closed\n");
}

/* A file of n rows with an unknown role each. */
static void
write_bad_rows(int n, const char *role)
{
	char *text = malloc(256 * 1024), *p = text;

	cr_assert_not_null(text);
	p += sprintf(p, "%s", HEADER);
	for (int i = 0; i < n; i++)
		p += sprintf(
		    p, "镇,s%d,学校,小学,no,%s,大厅,sw,Ge1,\n", i, role);
	write_bytes(text, strlen(text));
	free(text);
}

static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

Test(inventory, problems_are_capped_and_counted)
{
	struct inventory *inv = (struct inventory *)&inv;
	struct cfg_err e;
	const char *last;

	write_bad_rows(70, "office");
	cr_assert_eq(inventory_check_file("inv.csv", &inv, &e), -1);
	cr_assert_null(inv);
	cr_assert_eq(e.count, 70, "every problem is counted");
	cr_assert_eq(
	    count_lines(e.text), 51, "50 problems and a count:\n%s", e.text);
	cr_assert(strncmp(e.text, "inv.csv:2: unknown role 'office'", 32) == 0,
	    "%s", e.text);
	cr_assert_not_null(strstr(e.text,
	    "\ninv.csv:51: unknown role "
	    "'office'"));
	cr_assert_null(strstr(e.text, "inv.csv:52:"));
	last = strstr(e.text, "inv.csv: and");
	cr_assert_not_null(last, "%s", e.text);
	cr_assert_str_eq(last, "inv.csv: and 20 more problems\n");
}

Test(inventory, long_problems_still_fit)
{
	char role[300];
	struct inventory *inv = (struct inventory *)&inv;
	struct cfg_err e;
	const char *last;
	int shown;

	/* Each message quotes 96 bytes of the value: fewer than 50 fit. */
	memset(role, 'r', sizeof(role) - 1);
	role[sizeof(role) - 1] = '\0';
	write_bad_rows(60, role);
	cr_assert_eq(inventory_check_file("inv.csv", &inv, &e), -1);
	cr_assert_eq(e.count, 60);
	cr_assert_lt(strlen(e.text), sizeof(e.text) - 1, "not cut off");
	shown = count_lines(e.text) - 1;
	cr_assert_gt(shown, 10);
	cr_assert_lt(shown, 50);
	last = strstr(e.text, "inv.csv: and");
	cr_assert_not_null(last, "%s", e.text);
	cr_assert_eq(atoi(last + strlen("inv.csv: and ")), 60 - shown);
	cr_assert_not_null(strstr(e.text, "rrr...' (use uplink"),
	    "long values are clipped: %s", e.text);
}

Test(inventory, too_many_rows)
{
	size_t size = 16 * 1024 * 1024;
	char *text = malloc(size), *p = text;

	cr_assert_not_null(text);
	p += sprintf(p, "%s", HEADER);
	for (int i = 0; i < 200001; i++)
		p += sprintf(p, "t,s%d,n,小学,no,uplink,,sw,Xe1,\n", i);
	write_bytes(text, (size_t)(p - text));
	free(text);
	file_bad("inv.csv:200002: more than 200000 rows\n");
}

Test(inventory, file_too_big)
{
	FILE *f = fopen("inv.csv", "wb");

	cr_assert_not_null(f);
	cr_assert_geq(fputs(HEADER, f), 0);
	cr_assert_eq(ftruncate(fileno(f), 32 * 1024 * 1024 + 1), 0);
	cr_assert_eq(fclose(f), 0);
	file_bad("inv.csv: larger than 32 MiB\n");
}

Test(inventory, not_a_file)
{
	file_bad("inv.csv: No such file or directory\n");
	cr_assert_eq(mkdir("inv.csv", 0755), 0);
	file_bad("inv.csv: is a directory\n");
	cr_assert_eq(rmdir("inv.csv"), 0);
}
