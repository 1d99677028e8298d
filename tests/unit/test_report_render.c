/* test_report_render.c: the monthly report as CSV and HTML, rendered from
 * the hand-written model tests/report/sample.json (report_render.c). */
#define _POSIX_C_SOURCE 200809L /* open_memstream, strdup */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "report_render.h"

#ifndef SCHOOLNET_SOURCE_DIR
#error "SCHOOLNET_SOURCE_DIR must name the source tree"
#endif
#define SAMPLE SCHOOLNET_SOURCE_DIR "/tests/report/sample.json"

#define BOM "\xef\xbb\xbf"
#define HOSTILE "实验中学<script>alert('x')</script> & \"东校区\", 初中部"
#define HOSTILE_HTML                                                         \
	"实验中学&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; " \
	"&quot;东校区&quot;, 初中部"
#define HOSTILE_CSV \
	"\"实验中学<script>alert('x')</script> & \"\"东校区\"\", 初中部\""

static json_t *
sample(void)
{
	json_error_t err;
	json_t *rep = json_load_file(SAMPLE, 0, &err);

	cr_assert_not_null(rep, "%s:%d: %s", SAMPLE, err.line, err.text);
	return rep;
}

/* What a renderer wrote, NUL-terminated (open_memstream adds the NUL). */
struct out {
	char *buf;
	size_t len;
	int rc;
};

static struct out
csv(const json_t *rep, const char *level, bool en)
{
	struct out o = {0};
	FILE *f = open_memstream(&o.buf, &o.len);

	cr_assert_not_null(f);
	o.rc = report_write_csv(f, rep, level, en);
	fclose(f);
	return o;
}

static struct out
html(const json_t *rep, bool en)
{
	struct out o = {0};
	FILE *f = open_memstream(&o.buf, &o.len);

	cr_assert_not_null(f);
	o.rc = report_write_html(f, rep, en);
	fclose(f);
	return o;
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* Lines of a CSV; every one must end CRLF (the sample has no field with a
 * line break in it). */
static size_t
crlf_lines(const struct out *o)
{
	size_t n = 0;

	cr_assert(o->len >= 2 && memcmp(o->buf + o->len - 2, "\r\n", 2) == 0,
	    "the last line must end CRLF");
	for (size_t i = 0; i < o->len; i++) {
		if (o->buf[i] != '\n')
			continue;
		cr_assert(i > 0 && o->buf[i - 1] == '\r', "bare LF at %zu", i);
		n++;
	}
	return n;
}

/* The header row, after the BOM, which must come first. */
static void
assert_header(const struct out *o, const char *want)
{
	size_t n = strlen(want);

	cr_assert_eq(o->rc, 0);
	cr_assert(o->len > 3 && memcmp(o->buf, BOM, 3) == 0, "no BOM first");
	cr_assert(o->len >= 3 + n + 2 && memcmp(o->buf + 3, want, n) == 0 &&
	        memcmp(o->buf + 3 + n, "\r\n", 2) == 0,
	    "header:\n%.*s\nwant:\n%s", (int)(strcspn(o->buf + 3, "\r")),
	    o->buf + 3, want);
}

static void
assert_has(const struct out *o, const char *want)
{
	cr_assert_not_null(strstr(o->buf, want), "missing: %s", want);
}

Test(report_csv, school_level)
{
	json_t *rep = sample();
	struct out zh = csv(rep, "school", false), en = csv(rep, NULL, true);

	assert_header(&zh,
	    "城镇,学校代码,学校名称,类型,镇区学校,达标状态,主要原因,"
	    "出口达标时间占比(%),出口达标,出口最低速率(Mbps),测速次数,"
	    "实测下载中位数(Mbps),实测下载最低(Mbps),实测低于目标,达标班级数,"
	    "班级数,录播室数,录播室可用率(%),录播室可用率依据,数据完整率(%),"
	    "告警数,平均修复时间(分钟),统计起始日");
	assert_header(&en,
	    "Town,School code,School,Type,Town seat,Status,Main cause,"
	    "Uplink at target (%),Uplink compliant,Uplink min speed (Mbps),"
	    "Throughput tests,Measured download median (Mbps),"
	    "Measured download worst (Mbps),Measured below target,"
	    "Classrooms compliant,Classrooms,Recording rooms,"
	    "Recording availability (%),Recording availability basis,"
	    "Data completeness (%),Alerts opened,MTTR (min),Counted from");
	cr_assert_eq(crlf_lines(&zh), 1 + 4);
	cr_assert_eq(crlf_lines(&en), 1 + 4);
	/* Numbers plain, null as an empty field, words translated. */
	assert_has(&zh,
	    "\r\n城关镇,s001,城关一小,小学,是,达标,,100,是,1000,2,920.5,880,"
	    "否,1,1,1,99,主机检测+端口,100,1,15,2026-11-01\r\n");
	assert_has(&zh,
	    "\r\n河口镇,s102,河口村小,小学,否,未知,无监测数据,,,,0,,,,0,0,"
	    "0,,,0,0,,2026-11-10\r\n");
	assert_has(&en,
	    "\r\n河口镇,s102,河口村小,小学,no,unknown,no monitoring "
	    "data,,,,0,,,,0,0,0,,,0,0,,2026-11-10\r\n");
	assert_has(&en, ",100,port only,");
	/* RFC 4180: a comma or a quote quotes the field, quotes doubled. */
	assert_has(&zh, ",s002," HOSTILE_CSV ",初中,是,未达标,部分班级未达标,");
	free(zh.buf);
	free(en.buf);
	json_decref(rep);
}

Test(report_csv, classroom_level)
{
	json_t *rep = sample();
	struct out zh = csv(rep, "classroom", false);
	struct out en = csv(rep, "classroom", true);

	assert_header(&zh,
	    "学校代码,学校名称,城镇,用途,房间,交换机,端口,目标速率(Mbps),"
	    "在校时段(分钟),达标(分钟),速率不足(分钟),半双工(分钟),"
	    "错误包过多(分钟),断开(分钟),无数据(分钟),达标时间占比(%),达标,"
	    "主要原因,最低速率(Mbps),录播室可用率(%),录播室可用率依据");
	assert_header(&en,
	    "School code,School,Town,Role,Room,Switch,Port,Target (Mbps),"
	    "School hours (min),At target (min),Speed low (min),"
	    "Half duplex (min),Errors (min),Down (min),No data (min),"
	    "At target (%),Compliant,Main cause,Min speed (Mbps),"
	    "Recording availability (%),Recording availability basis");
	cr_assert_eq(crlf_lines(&zh), 1 + 10);
	cr_assert_eq(crlf_lines(&en), 1 + 10);
	assert_has(&zh,
	    "\r\ns002," HOSTILE_CSV ",城关镇,班级,"
	    "\"七年级2班, \"\"东\"\"\",core,Gi0/6,100,7200,4444,"
	    "2684,0,0,0,72,62.35,否,速率不足,10,,\r\n");
	assert_has(&en,
	    "\r\ns102,河口村小,河口镇,uplink,学校出口,sw-1,Gi0/1,"
	    "1000,5400,0,0,0,0,0,5400,,,no monitoring data,,,\r\n");
	assert_has(&en, ",recording room,");
	/* A recording room: its availability and what it is measured by. */
	assert_has(&en, ",1000,98.5,host checks and port\r\n");
	free(zh.buf);
	free(en.buf);
	json_decref(rep);
}

Test(report_csv, town_level)
{
	json_t *rep = sample();
	struct out zh = csv(rep, "town", false), en = csv(rep, "town", true);

	assert_header(&zh,
	    "城镇,学校数,有数据学校数,达标学校数,学校达标率(%),出口达标学校数,"
	    "班级数,有数据班级数,达标班级数,班级达标率(%),镇区学校数,"
	    "有录播室的镇区学校数,录播室覆盖率(%),录播室数,录播室可用率(%),"
	    "有主机检测的录播室数,测速次数,测速学校数,实测下载中位数(Mbps),"
	    "实测下载最低(Mbps),实测低于目标的学校数,数据完整率(%),告警数,平均修复时间(分钟),学校达标率较上月(百分点),"
	    "班级达标率较上月(百分点),录播室覆盖率较上月(百分点),"
	    "录播室可用率较上月(百分点)");
	assert_header(&en,
	    "Town,Schools,Schools with data,Schools passing,"
	    "Schools passing (%),Uplinks compliant,Classrooms,"
	    "Classrooms with data,Classrooms compliant,"
	    "Classrooms compliant (%),Town-seat schools,"
	    "Town-seat schools with recording,Recording coverage (%),"
	    "Recording rooms,Recording availability (%),"
	    "Recording rooms with host checks,Throughput tests,Schools tested,"
	    "Measured download median (Mbps),Measured download worst (Mbps),"
	    "Schools measured below target,"
	    "Data completeness (%),Alerts opened,MTTR (min),"
	    "Schools passing change (pts),Classrooms compliant change (pts),"
	    "Recording coverage change (pts),"
	    "Recording availability change (pts)");
	/* Two towns, then the district; a change may be negative or 0. */
	cr_assert_eq(crlf_lines(&zh), 1 + 2 + 1);
	assert_has(&zh,
	    "\r\n城关镇,2,2,1,50,2,3,3,2,66.67,2,1,50,1,99,1,2,1,920.5,880,0,"
	    "99.8,4,40,0,-8.33,0,0.5\r\n");
	assert_has(&zh,
	    "\r\n全县,4,3,2,66.67,3,4,4,3,75,3,2,66.67,2,99.5,1,3,2,930.25,880,"
	    "0,80.12,5,42.5,16.67,-5,0,\r\n");
	assert_has(&en, "\r\nDistrict,4,3,");
	free(zh.buf);
	free(en.buf);
	json_decref(rep);
}

Test(report_csv, comma_formula_and_scope)
{
	json_t *rep = sample();
	json_t *schools = json_object_get(rep, "schools");
	struct out o;

	json_object_set_new(
	    json_object_get(rep, "params"), "town", json_string("城关镇"));
	json_object_set_new(json_array_get(schools, 0), "name",
	    json_string("=HYPERLINK(\"x\")"));
	json_object_set_new(json_array_get(schools, 2), "type",
	    json_string("九年一贯制,小学部"));
	o = csv(rep, "town", false);
	assert_has(&o, "\r\n合计,4,"); /* not "全县": the report is cut */
	free(o.buf);
	o = csv(rep, "school", false);
	/* A comma alone quotes the field too. */
	assert_has(&o, ",河口中心小学,\"九年一贯制,小学部\",是,");
	/* A cell Excel would run as a formula is made text. */
	assert_has(&o, ",s001,\"'=HYPERLINK(\"\"x\"\")\",");
	free(o.buf);
	json_decref(rep);
}

Test(report_csv, refused)
{
	json_t *rep = sample(), *empty = json_object();
	struct out o = csv(rep, "county", false);

	cr_assert_eq(o.rc, -1);
	cr_assert_eq(o.len, 0);
	free(o.buf);
	o = csv(empty, "school", false);
	cr_assert_eq(o.rc, -1, "a model without params.month is refused");
	cr_assert_eq(o.len, 0);
	free(o.buf);
	json_decref(empty);
	json_decref(rep);
}

/* Lower-case copy, to look for tags whatever their case. */
static char *
lower(const char *s)
{
	char *l = strdup(s);

	cr_assert_not_null(l);
	for (char *p = l; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return l;
}

/* Self-contained, no script, and each <svg> announced as an image. */
static void
assert_clean_html(const struct out *o, size_t svgs)
{
	char *l = lower(o->buf);

	cr_assert_eq(o->rc, 0);
	cr_assert_null(strstr(l, "http://"));
	cr_assert_null(strstr(l, "https://"));
	cr_assert_null(strstr(l, "<script"));
	cr_assert_null(strstr(l, "<link"));
	cr_assert_null(strstr(l, "@font-face"));
	cr_assert_eq(count(o->buf, "<svg"), svgs);
	for (const char *p = o->buf; (p = strstr(p, "<svg")) != NULL; p++) {
		const char *end = strchr(p, '>');
		const char *role = strstr(p, " role=\"img\"");

		cr_assert_not_null(end);
		cr_assert(
		    role != NULL && role < end, "svg without role=\"img\"");
		cr_assert(strncmp(end + 1, "<title>", 7) == 0,
		    "svg without a <title>");
	}
	cr_assert(strstr(o->buf, "</html>\n") != NULL, "cut short");
	free(l);
}

Test(report_html, sample_zh)
{
	json_t *rep = sample();
	struct out o = html(rep, false);

	assert_clean_html(&o, 3);
	cr_assert(
	    strncmp(o.buf, "<!DOCTYPE html>\n<html lang=\"zh-CN\">", 34) == 0);
	assert_has(&o, "<title>数字校园网络达标月报 2026年11月</title>");
	assert_has(&o, "@page{size:A4");
	assert_has(&o, "thead{display:table-header-group}");
	assert_has(&o, HOSTILE_HTML);
	cr_assert_null(strstr(o.buf, HOSTILE), "a name went out unescaped");
	assert_has(&o, "本月尚未结束"); /* counted_until, not complete */
	assert_has(&o, "2026-11-01 至 2026-11-30"); /* the period */
	assert_has(&o, "千兆进校");
	assert_has(&o, "百兆进班");
	assert_has(&o, "录播室全覆盖");
	assert_has(&o, "▲ 16.67</span> 个百分点"); /* changes */
	assert_has(&o, "▼ 5</span> 个百分点");
	assert_has(&o, "持平");
	assert_has(&o, "✗ 未达标"); /* status in words, not colour alone */
	assert_has(&o, "速率不足"); /* the failing classroom's cause */
	assert_has(&o, "自 2026-11-10 起统计"); /* added mid-month */
	assert_has(&o, "sha256:3f6c0a1d");
	/* Measured throughput, the recording basis, the coverage gap. */
	assert_has(&o, "实测 920.5 Mbps");
	assert_has(&o, "主机检测+端口");
	assert_has(&o, "仅端口");
	assert_has(&o, "录播室覆盖缺口");
	assert_has(&o, "实测低于目标 / 测速学校");
	free(o.buf);
	json_decref(rep);
}

Test(report_html, sample_en)
{
	json_t *rep = sample();
	struct out o = html(rep, true);

	assert_clean_html(&o, 3);
	assert_has(&o, "<html lang=\"en\">");
	assert_has(&o,
	    "<title>Digital campus compliance report, November "
	    "2026</title>");
	assert_has(&o, "Gigabit to every school");
	assert_has(&o, "100 Mbps to every classroom");
	assert_has(&o, "A recording room in every town-seat school");
	assert_has(&o, "speed below target");
	assert_has(&o, HOSTILE_HTML);
	assert_has(&o, "measured 940 Mbps");
	assert_has(&o, "host checks and port");
	assert_has(&o, "Measured throughput");
	free(o.buf);
	json_decref(rep);
}

Test(report_html, refused_when_not_a_report)
{
	json_t *empty = json_object(), *arr = json_array();
	struct out o = html(empty, false);

	cr_assert_eq(o.rc, -1);
	cr_assert_eq(o.len, 0, "nothing is written for a refused model");
	free(o.buf);
	o = html(arr, false);
	cr_assert_eq(o.rc, -1);
	free(o.buf);
	json_decref(empty);
	json_decref(arr);
}

Test(report_render, empty_arrays)
{
	json_t *rep = json_pack("{s:{s:s}, s:{}, s:[], s:[], s:[], s:[], "
	                        "s:{s:[], s:[]}}",
	    "params", "month", "2026-02", "district", "towns", "schools",
	    "rooms", "days", "noncompliant", "schools", "classrooms");
	struct out o;

	cr_assert_not_null(rep);
	o = html(rep, false);
	assert_clean_html(&o, 3); /* the empty charts still say "no data" */
	assert_has(&o, "无数据");
	free(o.buf);
	o = csv(rep, "school", false);
	cr_assert_eq(o.rc, 0);
	cr_assert_eq(crlf_lines(&o), 1);
	free(o.buf);
	o = csv(rep, "town", true);
	cr_assert_eq(o.rc, 0);
	assert_has(&o, "\r\nDistrict,,,,,,,,,,,,,,,,,,,,,,,,,,,\r\n");
	free(o.buf);
	json_decref(rep);
}

/* Every member of obj made null. */
static void
nullify(json_t *obj)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		json_object_set_new(obj, key, json_null());
	}
}

Test(report_render, null_and_mistyped_fields)
{
	json_t *rep = sample();
	static const char *const levels[] = {"school", "classroom", "town"};
	struct out o;

	nullify(json_object_get(rep, "district"));
	nullify(json_array_get(json_object_get(rep, "towns"), 0));
	nullify(json_array_get(json_object_get(rep, "schools"), 0));
	nullify(json_array_get(json_object_get(rep, "rooms"), 0));
	nullify(json_array_get(json_object_get(rep, "days"), 3));
	json_array_append_new(json_object_get(rep, "towns"), json_null());
	json_array_append_new(json_object_get(rep, "rooms"), json_integer(7));
	json_object_set_new(json_array_get(json_object_get(rep, "schools"), 1),
	    "days", json_string("not an array"));
	json_object_set_new(rep, "noncompliant", json_string("?"));
	nullify(json_object_get(rep, "params"));
	json_object_set_new(
	    json_object_get(rep, "params"), "month", json_string("2026-11"));

	o = html(rep, false);
	assert_clean_html(&o, 3);
	free(o.buf);
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		o = csv(rep, levels[i], false);
		cr_assert_eq(o.rc, 0, "%s", levels[i]);
		free(o.buf);
	}
	json_decref(rep);
}

/* n copies of the sample's schools, spread over towns of 40 schools. */
static json_t *
many_schools(size_t n)
{
	json_t *rep = sample(), *schools = json_array();
	json_t *proto = json_array_get(json_object_get(rep, "schools"), 2);

	for (size_t i = 0; i < n; i++) {
		json_t *s = json_deep_copy(proto);
		char code[32], town[48];

		snprintf(code, sizeof(code), "x%04zu", i);
		snprintf(town, sizeof(town), "第%zu镇", i / 40);
		json_object_set_new(s, "code", json_string(code));
		json_object_set_new(s, "town", json_string(town));
		json_array_append_new(schools, s);
	}
	json_object_set_new(rep, "schools", schools);
	return rep;
}

Test(report_html, heat_map_pages_and_towns)
{
	json_t *rep = many_schools(120);
	struct out o = html(rep, false);

	/* 120 schools: three heat-map pages of at most 50 rows. */
	assert_clean_html(&o, 2 + 3);
	cr_assert_null(strstr(o.buf, "学校多于"));
	free(o.buf);
	json_decref(rep);

	/* Past 300 schools the map is drawn per town, and says so. */
	rep = many_schools(301);
	o = html(rep, false);
	assert_clean_html(&o, 3);
	assert_has(&o, "学校多于 300 所，按城镇绘制");
	assert_has(&o, ">第7镇</text>");
	free(o.buf);
	json_decref(rep);
}

Test(report_html, long_lists_are_cut)
{
	json_t *rep = sample();
	json_t *rooms =
	    json_object_get(json_object_get(rep, "noncompliant"), "classrooms");
	json_t *proto = json_array_get(rooms, 0);

	for (int i = 0; i < 2002; i++)
		json_array_append(rooms, proto);
	struct out o = html(rep, false);

	assert_clean_html(&o, 3);
	/* 2003 rooms: 2000 rows, then a line pointing to the CSV. */
	assert_has(&o, "…… 另有 3 间，完整清单见 CSV");
	cr_assert_eq(count(o.buf, "<td>七年级2班, &quot;东&quot;</td>"), 2000);
	free(o.buf);
	json_decref(rep);
}

Test(report_render, write_error)
{
	json_t *rep = sample();
	FILE *f = fopen("/dev/full", "w");

	cr_assert_not_null(f);
	cr_assert_eq(report_write_html(f, rep, false), -1);
	cr_assert_eq(report_write_csv(f, rep, "classroom", false), -1);
	fclose(f);
	json_decref(rep);
}
