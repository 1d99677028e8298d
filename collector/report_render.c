/* report_render.c: the monthly compliance report model (report.c) as one
 * printable HTML page or as CSV, using nothing but the model. */
#include <ctype.h>
#include <math.h> /* isnan() and NAN only: no libm */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <csv.h>
#include <jansson.h>

#include "report_render.h"
#include "schoolnet/mem.h"

/*
 * Everything is written straight to the stream, row by row, so a district
 * of 20,000 schools and 800,000 rooms costs one pass over the model. Only
 * the heat map (rows × days, bounded by drawing towns instead of schools
 * past HEAT_SCHOOLS_MAX) and the classroom CSV (school code → name) need
 * memory of their own.
 */
#define LIST_MAX 2000        /* rows per non-compliant list in the HTML */
#define HEAT_SCHOOLS_MAX 300 /* more schools: the heat map shows towns */
#define HEAT_ROWS_PER_SVG 50 /* one printed page of heat map */
#define LABEL_CHARS 10       /* characters of a name in a chart */
#define NUMBUF 48

#define DASH "\xe2\x80\x94"     /* "—": unknown or not applicable */
#define ELLIPSIS "\xe2\x80\xa6" /* "…" */
#define BOM "\xef\xbb\xbf"

/* Colours, each also told apart in black and white by lightness or a
 * pattern (heat map) so a grey printout still reads. */
#define C_SCHOOLS "#1f4e8c" /* chart 1: dark bar */
#define C_ROOMS "#8db4e2"   /* chart 1: light bar */
#define C_GOOD "#86c98a"
#define C_BAD "#b71c1c"

struct render {
	FILE *f;
	bool en;
	const json_t *rep, *params, *targets, *district, *days;
	const char *until; /* date counted_until falls on, NULL if unknown */
	int year, month;   /* of params.month */
};

/* ---- the words, Chinese and English side by side ---- */

enum label {
	L_NOLABEL, /* a card without a policy name */
	L_TITLE,
	L_SCOPE,
	L_SCOPE_ALL,
	L_SCHOOL_CODE,
	L_PERIOD,
	L_TO,
	L_COUNTED_UNTIL,
	L_CALENDAR,
	L_INCOMPLETE,
	L_INCOMPLETE_END,
	L_TARGETS,
	L_T_UPLINK,
	L_T_UPLINK_END,
	L_T_CLASSROOM,
	L_T_CLASSROOM_END,
	L_T_RECORDING,
	L_T_MBPS,
	L_T_ERRORS,
	L_T_ERRORS_END,
	L_T_SHARE,
	L_T_SHARE_END,
	L_T_DUPLEX,
	L_SUMMARY,
	L_DISTRICT,
	L_TOTAL,
	L_VS_PREV,
	L_PTS,
	L_NO_CHANGE,
	L_SCHOOLS_PASSING,
	L_UPLINKS,
	L_CLASSROOMS,
	L_COVERAGE,
	L_REC_AVAIL,
	L_COMPLETENESS,
	L_ALERTS,
	L_GIGABIT,
	L_100M,
	L_RECORDING_ALL,
	L_U_KNOWN_SCHOOLS,
	L_U_UPLINKS,
	L_U_KNOWN_ROOMS,
	L_U_SEAT_SCHOOLS,
	L_U_REC_ROOMS,
	L_U_KNOWN_TIME,
	L_MTTR,
	L_MIN,
	L_CHART_TOWNS,
	L_CHART_TOWNS_CAP,
	L_SCHOOLS_PCT,
	L_ROOMS_PCT,
	L_CHART_DAYS,
	L_CHART_DAYS_CAP,
	L_DAILY_PCT,
	L_NO_SCHOOL,
	L_CHART_HEAT,
	L_HEAT_CAP,
	L_HEAT_CAP_TOWNS,
	L_HEAT_CAP_TOWNS_END,
	L_NO_DATA,
	L_TOWN_TABLE,
	L_SCHOOL_TABLE,
	L_TOWN,
	L_SCHOOL,
	L_TYPE,
	L_STATUS,
	L_CAUSE,
	L_FIX,
	L_H_SCHOOLS,
	L_H_SCHOOLS_PCT,
	L_H_UPLINKS,
	L_H_ROOMS,
	L_H_ROOMS_PCT,
	L_H_COVERAGE,
	L_H_COVERAGE_PCT,
	L_H_REC_AVAIL,
	L_H_TP_BELOW,
	L_MEASURED,
	L_H_COMPLETENESS,
	L_H_ALERTS,
	L_H_MTTR,
	L_H_UPLINK,
	L_H_RECORDING,
	L_H_ALERTS_MTTR,
	L_SEAT_TAG,
	L_COUNTED_FROM,
	L_COUNTED_FROM_END,
	L_NONCOMPLIANT,
	L_NC_SCHOOLS,
	L_NC_ROOMS,
	L_ROOM,
	L_PORT,
	L_AT_TARGET,
	L_NONE,
	L_MORE,
	L_MORE_SCHOOLS_END,
	L_MORE_ROOMS_END,
	L_GLOSSARY,
	L_HASH,
	L_GENERATED,
};

static const char *const labels[][2] = {
    [L_TITLE] = {"数字校园网络达标月报", "Digital campus compliance report"},
    [L_SCOPE] = {"范围：", "Scope: "},
    [L_SCOPE_ALL] = {"全县", "whole district"},
    [L_SCHOOL_CODE] = {"学校 ", "school "},
    [L_PERIOD] = {"统计周期：", "Period: "},
    [L_TO] = {" 至 ", " to "},
    [L_COUNTED_UNTIL] = {"统计截至：", "Counted until: "},
    [L_CALENDAR] = {"校历：", "Calendar: "},
    [L_INCOMPLETE] = {"本月尚未结束：数据统计至 ",
        "The month is not over: figures count up to "},
    [L_INCOMPLETE_END] = {"，之后的时间不计入本报告。",
        "; later time is not in this report."},
    [L_TARGETS] = {"达标标准：", "Targets: "},
    [L_T_UPLINK] = {"学校出口 ≥ ", "school uplink ≥ "},
    [L_T_UPLINK_END] = {" Mbps（千兆进校）", " Mbps (Gigabit to every school)"},
    [L_T_CLASSROOM] = {"班级 ≥ ", "classroom ≥ "},
    [L_T_CLASSROOM_END] = {" Mbps（百兆进班）",
        " Mbps (100 Mbps to every classroom)"},
    [L_T_RECORDING] = {"录播室 ≥ ", "recording room ≥ "},
    [L_T_MBPS] = {" Mbps", " Mbps"},
    [L_T_ERRORS] = {"错误包 ≤ ", "errors ≤ "},
    [L_T_ERRORS_END] = {" 个/分钟", " per minute"},
    [L_T_SHARE] = {"达标时间 ≥ 在校已知时间的 ", "compliant when at target ≥ "},
    [L_T_SHARE_END] = {"%", "% of known school-hours time"},
    [L_T_DUPLEX] = {"全双工", "full duplex"},
    [L_SUMMARY] = {"概况", "Summary"},
    [L_DISTRICT] = {"全县", "District"},
    [L_TOTAL] = {"合计", "Total"},
    [L_VS_PREV] = {"较上月 ", "vs previous month: "},
    [L_PTS] = {" 个百分点", " pts"},
    [L_NO_CHANGE] = {"持平", "no change"},
    [L_SCHOOLS_PASSING] = {"学校达标", "Schools passing"},
    [L_UPLINKS] = {"学校出口达标", "School uplinks compliant"},
    [L_CLASSROOMS] = {"班级达标", "Classrooms compliant"},
    [L_COVERAGE] = {"录播室覆盖", "Recording-room coverage"},
    [L_REC_AVAIL] = {"录播室可用率", "Recording availability"},
    [L_COMPLETENESS] = {"数据完整率", "Data completeness"},
    [L_ALERTS] = {"告警", "Alerts opened"},
    [L_GIGABIT] = {"千兆进校", "Gigabit to every school"},
    [L_100M] = {"百兆进班", "100 Mbps to every classroom"},
    [L_RECORDING_ALL] = {"录播室全覆盖",
        "A recording room in every town-seat school"},
    [L_U_KNOWN_SCHOOLS] = {" 所有数据的学校", " schools with data"},
    [L_U_UPLINKS] = {"达标出口 / 学校数", "compliant uplinks / schools"},
    [L_U_KNOWN_ROOMS] = {" 间有数据的班级", " classrooms with data"},
    [L_U_SEAT_SCHOOLS] = {" 所镇区学校", " town-seat schools"},
    [L_U_REC_ROOMS] = {" 间录播室", " recording rooms"},
    [L_U_KNOWN_TIME] = {"已知时间 ÷ 在校时段", "known time ÷ school hours"},
    [L_MTTR] = {"平均修复 ", "mean time to repair "},
    [L_MIN] = {" 分钟", " min"},
    [L_CHART_TOWNS] = {"各城镇达标率", "Compliance by town"},
    [L_CHART_TOWNS_CAP] =
        {"学校达标率按有数据的学校计，班级达标率按有数据的班级计。",
            "Schools passing out of schools with data; compliant classrooms "
            "out of classrooms with data."},
    [L_SCHOOLS_PCT] = {"学校达标率", "Schools passing"},
    [L_ROOMS_PCT] = {"班级达标率", "Classrooms compliant"},
    [L_CHART_DAYS] = {"每日班级达标率", "Daily classroom compliance"},
    [L_CHART_DAYS_CAP] =
        {"每天所有班级网口的达标时间 ÷ 已知时间；灰底为非上课日，"
         "断开处为当天无数据。纵轴未从 0 开始时以刻度为准。",
            "Time at target of all classroom ports that day ÷ their known "
            "time; grey columns are days without school, gaps are days "
            "without data. Read the axis: it need not start at 0."},
    [L_DAILY_PCT] = {"班级达标率", "classroom compliance"},
    [L_NO_SCHOOL] = {"非上课日", "no school"},
    [L_CHART_HEAT] = {"学校每日达标热力图", "Schools by day"},
    [L_HEAT_CAP] = {"每格为该校当天的班级达标率（达标时间 ÷ 已知时间）。",
        "Each cell is the school's classroom compliance that day (time "
        "at target ÷ known time)."},
    [L_HEAT_CAP_TOWNS] = {"学校多于 ", "With more than "},
    [L_HEAT_CAP_TOWNS_END] =
        {" 所，按城镇绘制：每格为该镇当天有数据的各校班级达标率"
         "（达标时间 ÷ 已知时间）的平均值。",
            " schools the map is drawn per town: each cell is the mean "
            "classroom compliance (time at target ÷ known time) of the town's "
            "schools with data that day."},
    [L_NO_DATA] = {"无数据", "no data"},
    [L_TOWN_TABLE] = {"城镇汇总", "Towns"},
    [L_SCHOOL_TABLE] = {"学校明细", "Schools"},
    [L_TOWN] = {"城镇", "Town"},
    [L_SCHOOL] = {"学校", "School"},
    [L_TYPE] = {"类型", "Type"},
    [L_STATUS] = {"状态", "Status"},
    [L_CAUSE] = {"主要原因", "Main cause"},
    [L_FIX] = {"处理建议", "What to fix"},
    [L_H_SCHOOLS] = {"学校达标", "Schools passing"},
    [L_H_SCHOOLS_PCT] = {"学校达标率 %", "Schools passing %"},
    [L_H_UPLINKS] = {"出口达标 / 学校", "Uplinks compliant / schools"},
    [L_H_ROOMS] = {"班级达标", "Classrooms compliant"},
    [L_H_ROOMS_PCT] = {"班级达标率 %", "Classrooms compliant %"},
    [L_H_COVERAGE] = {"有录播室 / 镇区学校",
        "Town-seat schools with recording"},
    [L_H_COVERAGE_PCT] = {"录播室覆盖率 %", "Recording coverage %"},
    [L_H_REC_AVAIL] = {"录播室可用率 %", "Recording availability %"},
    [L_H_TP_BELOW] = {"实测低于目标 / 测速学校",
        "Measured below target / schools tested"},
    [L_MEASURED] = {"实测 ", "measured "},
    [L_H_COMPLETENESS] = {"数据完整率 %", "Data completeness %"},
    [L_H_ALERTS] = {"告警", "Alerts"},
    [L_H_MTTR] = {"平均修复（分钟）", "MTTR (min)"},
    [L_H_UPLINK] = {"出口达标时间（最低速率）", "Uplink at target (min speed)"},
    [L_H_RECORDING] = {"录播室（可用率）", "Recording rooms (availability)"},
    [L_H_ALERTS_MTTR] = {"告警 / 平均修复（分钟）", "Alerts / MTTR (min)"},
    [L_SEAT_TAG] = {"镇区", "town seat"},
    [L_COUNTED_FROM] = {"自 ", "counted from "},
    [L_COUNTED_FROM_END] = {" 起统计", ""},
    [L_NONCOMPLIANT] = {"未达标清单", "Not compliant"},
    [L_NC_SCHOOLS] = {"未达标或未知的学校", "Schools failing or unknown"},
    [L_NC_ROOMS] = {"未达标的班级", "Classrooms not compliant"},
    [L_ROOM] = {"班级", "Classroom"},
    [L_PORT] = {"交换机 / 端口", "Switch / port"},
    [L_AT_TARGET] = {"达标时间 %", "At target %"},
    [L_NONE] = {"无。", "None."},
    [L_MORE] = {"…… 另有 ", "… and "},
    [L_MORE_SCHOOLS_END] =
        {" 所，完整清单见 CSV（--format csv --level school）。",
            " more, see the CSV (--format csv --level school)."},
    [L_MORE_ROOMS_END] =
        {" 间，完整清单见 CSV（--format csv --level classroom）。",
            " more, see the CSV (--format csv --level classroom)."},
    [L_GLOSSARY] = {"指标说明", "What the figures mean"},
    [L_HASH] = {"内容校验 ", "Content hash "},
    [L_GENERATED] = {"生成时间 ", "Generated "},
};

/* Codes of the model and their words; a code not listed prints as is. */
struct term {
	const char *code;
	const char *text[2];
};

static const struct term statuses[] = {
    {"pass", {"达标", "pass"}},
    {"fail", {"未达标", "fail"}},
    {"unknown", {"未知", "unknown"}},
};

static const struct term roles[] = {
    {"uplink", {"出口", "uplink"}},
    {"classroom", {"班级", "classroom"}},
    {"recording", {"录播室", "recording room"}},
};

/* What a recording room's availability is measured by. */
static const struct term bases[] = {
    {"checks", {"主机检测+端口", "host checks and port"}},
    {"port", {"仅端口", "port only"}},
    {"mixed", {"部分主机检测", "host checks for some"}},
};

static const struct term day_kinds[] = {
    {"school_day", {"上课日", "school day"}},
    {"weekend", {"周末", "weekend"}},
    {"holiday", {"节假日", "holiday"}},
    {"makeup_day", {"调休上课日", "make-up school day"}},
    {"vacation", {"假期", "vacation"}},
};

static const struct term causes[] = {
    {"port_down", {"网口断开", "port down"}},
    {"speed_low", {"速率不足", "speed below target"}},
    {"half_duplex", {"半双工", "half duplex"}},
    {"errors", {"错误包过多", "too many errors"}},
    {"uplink_down", {"学校出口断开", "school uplink down"}},
    {"uplink_speed_low", {"学校出口速率不足", "school uplink too slow"}},
    {"no_data", {"无监测数据", "no monitoring data"}},
    {"classrooms", {"部分班级未达标", "some classrooms not compliant"}},
    {"uplink", {"学校出口未达标", "school uplink not compliant"}},
};

/* Short enough for a table cell; same order of ideas as notify_format.c. */
static const struct term cause_fixes[] = {
    {"port_down",
        {"检查终端是否开机、网线是否松脱、交换机端口是否被关闭",
            "check the device is on, the cable is plugged in and the "
            "switch port is enabled"}},
    {"speed_low",
        {"检查网线（超五类、八芯全通）和水晶头，端口设为自动协商",
            "check the cable (Cat5e, all 8 wires) and plugs; set the port "
            "to auto-negotiate"}},
    {"half_duplex",
        {"两端双工都设为自动协商，检查网线和水晶头",
            "set both ends to auto duplex; check the cable and plugs"}},
    {"errors",
        {"更换网线或换一个交换机端口",
            "replace the cable or try another switch port"}},
    {"uplink_down",
        {"检查出口设备电源和上联线路，必要时联系运营商",
            "check the uplink device's power and line; call the carrier "
            "if needed"}},
    {"uplink_speed_low",
        {"检查出口端口协商速率、光模块或网线是否支持千兆，核实开通带宽",
            "check the uplink's negotiated speed and that the optic or "
            "cable does 1 Gbps; confirm the bandwidth with the carrier"}},
    {"no_data",
        {"检查监测代理是否运行、交换机 SNMP 是否可达",
            "check the monitoring agent runs and the switch answers SNMP"}},
    {"classrooms", {"见下方未达标班级清单", "see the classroom list below"}},
    {"uplink",
        {"检查学校出口链路（见学校明细的出口一列）",
            "check the school uplink (see the uplink column of the school "
            "table)"}},
};

/* Every figure of the report, in a few words. */
static const struct {
	const char *term[2], *text[2];
} glossary[] = {
    {{"在校时段", "School hours"},
        {"校历规定的上课日（含调休上课日）在校时间；周末、节假日、假期不计。",
            "The school-day hours of the calendar, make-up days included; "
            "weekends, holidays and vacations do not count."}},
    {{"达标", "At target"},
        {"网口已连接，协商速率不低于目标速率，全双工，且每分钟错误包不超过上限"
         "（见开头的达标标准）。",
            "The port is up, at or above its target speed, in full duplex, "
            "with errors per minute within the limit (see the targets at "
            "the top)."}},
    {{"未知时间", "Unknown time"},
        {"没有监测数据的时间（监测代理离线、交换机无响应等）。既不算连接也不算"
         "断开，"
         "不计入达标时间占比。",
            "Time without monitoring data (agent offline, switch not "
            "answering). Never counted as up or as down, and left out of "
            "the at-target share."}},
    {{"达标时间占比", "At-target share"},
        {"达标时间 ÷（在校时段 − 未知时间）。",
            "Time at target ÷ (school hours − unknown time)."}},
    {{"达标班级", "Compliant classroom"},
        {"达标时间占比不低于达标门槛（见达标标准）的班级网口。学校出口、录播室"
         "按同样"
         "规则判断，各用自己的目标速率。",
            "A classroom port at target for at least the compliance share "
            "of its known school-hours time (see the targets). Uplinks and "
            "recording rooms are judged the same way at their own target "
            "speed."}},
    {{"学校达标", "School passes"},
        {"学校出口达标，且所有班级都达标。数据不足以判断时为“未知”，不计入学校"
         "达标率。",
            "Its uplink and all its classrooms are compliant. \"Unknown\" "
            "when there is not enough data to decide; unknown schools are "
            "left out of the pass rate."}},
    {{"千兆进校", "Gigabit to every school"},
        {"学校出口达标的学校数 ÷ 学校数。",
            "Schools whose uplink is compliant, out of all schools."}},
    {{"百兆进班", "100 Mbps to every classroom"},
        {"达标班级数 ÷ 有数据的班级数。",
            "Compliant classrooms out of classrooms with data."}},
    {{"录播室全覆盖", "A recording room in every town-seat school"},
        {"有录播室的镇区学校数 ÷ 镇区学校数。",
            "Town-seat schools with a recording room, out of all "
            "town-seat schools."}},
    {{"录播室可用率", "Recording availability"},
        {"有主机检测的录播室：录播主机应答且网口达标的在校时间 ÷ 有检测的在校时间"
         "（依据“主机检测+端口”）；没有主机检测的录播室：网口达标时间 ÷ "
         "已知时间（依据“仅端口”）。",
            "Recording rooms with host checks: school-hours time their "
            "recording host answered and their port met its target ÷ the "
            "time they were checked (basis \"host checks and port\"); rooms "
            "without host checks: their port's time at target ÷ its known "
            "time (basis \"port only\")."}},
    {{"录播室覆盖缺口", "Recording coverage gap"},
        {"镇区学校在清单中没有录播室，即为覆盖缺口（见“录播室全覆盖”）。",
            "A town-seat school with no recording room in the inventory is "
            "a coverage gap (see \"A recording room in every town-seat "
            "school\")."}},
    {{"实测带宽", "Measured throughput"},
        {"本月完成的测速次数、下载速率中位数和最低值；中位数低于出口协商速率"
         "（最高按出口目标计）的 70% 记为“低于目标”。",
            "Throughput tests done in the month, their median and worst "
            "download speed; a median below 70 % of the uplink's "
            "negotiated speed (at most the uplink target) is \"below "
            "target\"."}},
    {{"数据完整率", "Data completeness"},
        {"已知时间 ÷ 在校时段：监测看到了多少在校时间。",
            "Known time ÷ school hours: how much of the school hours the "
            "monitoring saw."}},
    {{"告警、平均修复", "Alerts, MTTR"},
        {"本月新产生的告警数；平均修复时间为已恢复告警从问题开始到恢复的平均分钟数"
         "。",
            "Alerts opened in the month; MTTR is the mean minutes from the "
            "start of the problem to the recovery, over the alerts that "
            "recovered."}},
    {{"较上月", "Change"},
        {"本月减上月，单位为百分点（▲ 上升，▼ 下降）；任一月份无数据时为“—”。",
            "This month minus the previous month in percentage points "
            "(▲ up, ▼ down); \"—\" when either month has no figure."}},
    {{"—", "—"},
        {"未知或不适用，从不表示 0。",
            "Unknown or not applicable; never zero."}},
};

static const char *const month_names[] = {"January", "February", "March",
    "April", "May", "June", "July", "August", "September", "October",
    "November", "December"};

static const char *
tr(const struct render *r, enum label l)
{
	return labels[l][r->en];
}

/* The words for code, code itself when the table lacks it, or NULL. */
static const char *
term_text(const struct term *t, size_t n, const char *code, bool en)
{
	if (code == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].code, code) == 0)
			return t[i].text[en];
	return code;
}

/* ---- reading the model ---- */

/* Member at path ("uplink.at_target_pct"), NULL when any step is absent. */
static const json_t *
get(const json_t *obj, const char *path)
{
	const char *dot;

	while ((dot = strchr(path, '.')) != NULL) {
		obj = json_object_getn(obj, path, (size_t)(dot - path));
		path = dot + 1;
	}
	return json_object_get(obj, path);
}

static const char *
str(const json_t *obj, const char *path)
{
	return json_string_value(get(obj, path));
}

/* NAN stands for null: unknown, never 0. */
static double
num(const json_t *obj, const char *path)
{
	const json_t *v = get(obj, path);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Does s match pat, where 'd' in pat stands for a digit? */
static bool
matches(const char *s, const char *pat)
{
	if (s == NULL)
		return false;
	for (; *pat != '\0'; pat++, s++)
		if (*pat == 'd' ? !isdigit((unsigned char)*s) : *s != *pat)
			return false;
	return true;
}

static bool
same(const char *a, const char *b)
{
	return a != NULL && b != NULL ? strcmp(a, b) == 0 : a == b;
}

static bool
school_day(const struct render *r, size_t d)
{
	const char *kind = str(json_array_get(r->days, d), "kind");

	return same(kind, "school_day") || same(kind, "makeup_day");
}

/* False for a day after counted_until (month not over): it has no data
 * because it has not come yet, which is not "no data". */
static bool
day_counted(const struct render *r, size_t d)
{
	const char *date = str(json_array_get(r->days, d), "date");

	return r->until == NULL || !matches(date, "dddd-dd-dd") ||
	    strncmp(date, r->until, 10) <= 0;
}

static double
clamp(double v, double lo, double hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* v plainly: at most 2 decimals, no trailing zeros, no separators. */
static const char *
fmt_num(char buf[NUMBUF], double v)
{
	char *end;

	if (v >= 1e15 || v <= -1e15) {
		snprintf(buf, NUMBUF, "%g", v);
		return buf;
	}
	snprintf(buf, NUMBUF, "%.2f", v);
	end = buf + strlen(buf);
	while (end[-1] == '0')
		*--end = '\0';
	if (end[-1] == '.')
		*--end = '\0';
	if (strcmp(buf, "-0") == 0)
		strcpy(buf, "0");
	return buf;
}

/* Refuses a model without a month: it would be a report of nothing. */
static int
render_init(struct render *r, FILE *f, const json_t *rep, bool en)
{
	const char *month;

	r->f = f;
	r->en = en;
	r->rep = rep;
	r->params = json_object_get(rep, "params");
	r->targets = json_object_get(r->params, "targets");
	r->district = json_object_get(rep, "district");
	r->days = json_object_get(rep, "days");
	r->until = str(r->params, "counted_until");
	if (!matches(r->until, "dddd-dd-dd"))
		r->until = NULL;
	month = str(r->params, "month");
	if (!matches(month, "dddd-dd") || month[7] != '\0')
		return -1;
	r->year = atoi(month);
	r->month = atoi(month + 5);
	return r->month >= 1 && r->month <= 12 ? 0 : -1;
}

/* The total row is the district's unless the report is cut to a town or
 * a school. */
static enum label
total_label(const struct render *r)
{
	return str(r->params, "town") == NULL &&
	        str(r->params, "school") == NULL
	    ? L_DISTRICT
	    : L_TOTAL;
}

static int
finish(struct render *r)
{
	return fflush(r->f) == EOF || ferror(r->f) ? -1 : 0;
}

/* ---- HTML output ---- */

static void
put(struct render *r, const char *s)
{
	fputs(s, r->f);
}

static void
put_l(struct render *r, enum label l)
{
	fputs(tr(r, l), r->f);
}

/* s[0..len) as HTML text or attribute value. */
static void
esc_n(struct render *r, const char *s, size_t len)
{
	size_t i = 0, run;

	while (i < len) {
		run = strcspn(s + i, "&<>\"'");
		if (run > len - i)
			run = len - i;
		fwrite(s + i, 1, run, r->f);
		i += run;
		if (i == len)
			break;
		switch (s[i++]) {
		case '&':
			put(r, "&amp;");
			break;
		case '<':
			put(r, "&lt;");
			break;
		case '>':
			put(r, "&gt;");
			break;
		case '"':
			put(r, "&quot;");
			break;
		default:
			put(r, "&#39;");
			break;
		}
	}
}

/* Text from the model; NULL (absent or null) is "—". */
static void
esc(struct render *r, const char *s)
{
	if (s == NULL)
		put(r, DASH);
	else
		esc_n(r, s, strlen(s));
}

/* s cut to at most max characters, "…" marking the cut (chart labels
 * cannot wrap). */
static void
esc_cut(struct render *r, const char *s, size_t max)
{
	size_t i, chars = 0, cut = 0;

	if (s == NULL) {
		put(r, DASH);
		return;
	}
	for (i = 0; s[i] != '\0'; i++) {
		if (((unsigned char)s[i] & 0xc0) == 0x80)
			continue; /* inside a UTF-8 sequence */
		if (chars == max - 1)
			cut = i;
		if (++chars > max) {
			esc_n(r, s, cut);
			put(r, ELLIPSIS);
			return;
		}
	}
	esc_n(r, s, i);
}

/* A number with its unit, or "—" alone. */
static void
put_num(struct render *r, double v, const char *unit)
{
	char b[NUMBUF];

	if (isnan(v)) {
		put(r, DASH);
		return;
	}
	put(r, fmt_num(b, v));
	put(r, unit);
}

static void
put_ratio(struct render *r, const json_t *obj, const char *a, const char *b)
{
	put_num(r, num(obj, a), "");
	put(r, " / ");
	put_num(r, num(obj, b), "");
}

/* "2026-11-22T18:00:00+08:00" as "2026-11-22 18:00", "…Z" as "… UTC". */
static void
put_time(struct render *r, const char *ts)
{
	if (!matches(ts, "dddd-dd-ddTdd:dd")) {
		esc(r, ts);
		return;
	}
	fprintf(r->f, "%.10s %.5s%s", ts, ts + 11,
	    ts[strlen(ts) - 1] == 'Z' ? " UTC" : "");
}

/* The last day of the period: the day before its exclusive end. */
static void
put_last_day(struct render *r, const char *end)
{
	static const int mdays[] = {
	    31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, m, d;

	if (!matches(end, "dddd-dd-dd")) {
		esc(r, end);
		return;
	}
	y = atoi(end);
	m = atoi(end + 5);
	d = atoi(end + 8) - 1;
	if (m < 1 || m > 12) {
		esc(r, end);
		return;
	}
	if (d < 1) {
		if (--m < 1) {
			m = 12;
			y--;
		}
		d = mdays[m - 1];
		if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
			d = 29;
	}
	fprintf(r->f, "%04d-%02d-%02d", y, m, d);
}

static void
put_title(struct render *r)
{
	if (r->en)
		fprintf(r->f, "%s, %s %d", tr(r, L_TITLE),
		    month_names[r->month - 1], r->year);
	else
		fprintf(r->f, "%s %d年%d月", tr(r, L_TITLE), r->year, r->month);
}

/* ▲/▼ with the absolute change in points, "持平" or "—". */
static void
put_change(struct render *r, double d)
{
	char b[NUMBUF];

	if (isnan(d)) {
		put(r, DASH);
		return;
	}
	fmt_num(b, d < 0 ? -d : d);
	if (strcmp(b, "0") == 0)
		put_l(r, L_NO_CHANGE);
	else
		fprintf(r->f, "<span class=\"%s\">%s %s</span>%s",
		    d > 0 ? "up" : "down", d > 0 ? "▲" : "▼", b, tr(r, L_PTS));
}

/* Status as colour, mark and word, so it survives a grey printout. */
static void
put_status(struct render *r, const char *status)
{
	const char *cls = "unknown", *mark = "?";

	if (same(status, "pass")) {
		cls = "pass";
		mark = "✓";
	} else if (same(status, "fail")) {
		cls = "fail";
		mark = "✗";
	}
	fprintf(r->f, "<span class=\"st %s\">%s ", cls, mark);
	esc(r, term_text(statuses, nitems(statuses), status, r->en));
	put(r, "</span>");
}

static void
put_cause(struct render *r, const char *cause)
{
	esc(r, term_text(causes, nitems(causes), cause, r->en));
}

static void
put_fix(struct render *r, const char *cause)
{
	const char *fix =
	    term_text(cause_fixes, nitems(cause_fixes), cause, r->en);

	/* An unlisted cause has no advice: don't echo the code twice. */
	esc(r, fix == cause ? NULL : fix);
}

static void
svg_open(struct render *r, int w, int h, enum label title)
{
	fprintf(r->f,
	    "<svg role=\"img\" viewBox=\"0 0 %d %d\" width=\"%d\" "
	    "height=\"%d\"><title>%s</title>\n",
	    w, h, w, h, tr(r, title));
}

static void
svg_empty(struct render *r, enum label title)
{
	svg_open(r, 660, 40, title);
	fprintf(r->f,
	    "<text x=\"10\" y=\"24\" font-size=\"12\">%s</text>\n"
	    "</svg>\n",
	    tr(r, L_NO_DATA));
}

static const char css[] =
    "@page{size:A4;margin:14mm 12mm 16mm}\n"
    "body{font-family:\"Noto Sans CJK SC\",\"Source Han Sans SC\","
    "\"PingFang SC\",\"Microsoft YaHei\",\"WenQuanYi Micro Hei\",sans-serif;"
    "font-size:10pt;line-height:1.45;color:#111;max-width:186mm;"
    "margin:0 auto;padding:6mm}\n"
    "h1{font-size:17pt;margin:0 0 4pt}\n"
    "h2{font-size:12.5pt;border-bottom:1.2pt solid #333;margin:14pt 0 6pt;"
    "break-after:avoid}\n"
    "h3{font-size:11pt;margin:10pt 0 4pt;break-after:avoid}\n"
    ".meta span{margin-right:1.4em;white-space:nowrap}\n"
    ".note{border-left:3pt solid #b26a00;background:#fff6e0;"
    "padding:3pt 8pt}\n"
    ".targets span{margin-right:1em;white-space:nowrap}\n"
    ".cards{display:grid;grid-template-columns:repeat(4,1fr);gap:6pt}\n"
    ".card{border:0.8pt solid #888;border-radius:4pt;padding:5pt 7pt;"
    "break-inside:avoid}\n"
    ".card .k{font-weight:700}.card .p{font-size:8pt;color:#444}\n"
    ".card .v{font-size:16pt;font-weight:700}\n"
    ".card .s,.card .d{font-size:8.5pt;color:#333}\n"
    ".up{color:#1b5e20}.down{color:#b71c1c}\n"
    "figure{margin:6pt 0}figcaption{font-size:8.5pt;color:#333}\n"
    "svg{display:block;max-width:100%;height:auto;break-inside:avoid;"
    "margin:4pt 0}\n"
    "table{border-collapse:collapse;width:100%;font-size:8pt}\n"
    "thead{display:table-header-group}tr{break-inside:avoid}\n"
    "th,td{border:0.5pt solid #999;padding:2pt 3pt;text-align:left;"
    "vertical-align:top}\n"
    "th{background:#eee;font-weight:700;hyphens:auto}\n"
    "td.n{text-align:right;white-space:nowrap;"
    "font-variant-numeric:tabular-nums}\n"
    "tr.total td{font-weight:700;border-top:1.2pt solid #333}\n"
    ".st{font-weight:700;white-space:nowrap}.st.pass{color:#1b5e20}"
    ".st.fail{color:#b71c1c}.st.unknown{color:#555}\n"
    /* keep-all: no break inside a Chinese word, English still wraps */
    ".kw,tbody td:first-child{word-break:keep-all}\n"
    ".tag{font-size:7pt;border:0.5pt solid #666;border-radius:2pt;"
    "padding:0 2pt;white-space:nowrap}\n"
    ".code{color:#555;font-size:7.5pt}\n"
    "dl.gloss{font-size:9pt}dl.gloss dt{font-weight:700;float:left;"
    "clear:left;width:9em}dl.gloss dd{margin:0 0 3pt 10em}\n"
    "footer{margin-top:14pt;font-size:7.5pt;color:#444;"
    "word-break:break-all}\n"
    "@media print{body{padding:0;max-width:none}"
    "th,.note{-webkit-print-color-adjust:exact;print-color-adjust:exact}}\n";

static void
html_head(struct render *r)
{
	fprintf(r->f,
	    "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n"
	    "<meta charset=\"utf-8\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width\">\n"
	    "<title>",
	    r->en ? "en" : "zh-CN");
	put_title(r);
	put(r, "</title>\n<style>\n");
	put(r, css);
	put(r, "</style>\n</head>\n<body>\n");
}

/* The targets line: each threshold between its words. */
static const struct {
	const char *path;
	enum label before, after;
} target_words[] = {
    {"uplink_mbps", L_T_UPLINK, L_T_UPLINK_END},
    {"classroom_mbps", L_T_CLASSROOM, L_T_CLASSROOM_END},
    {"recording_mbps", L_T_RECORDING, L_T_MBPS},
    {"max_errors_per_min", L_T_ERRORS, L_T_ERRORS_END},
    {"compliant_share_pct", L_T_SHARE, L_T_SHARE_END},
};

static void
html_header(struct render *r)
{
	const json_t *p = r->params;
	const char *town = str(p, "town"), *school = str(p, "school");
	const char *cal = str(p, "calendar"), *start = str(p, "period_start");

	put(r, "<header>\n<h1>");
	put_title(r);
	put(r, "</h1>\n<p class=\"meta\"><span>");
	put_l(r, L_SCOPE);
	if (town == NULL && school == NULL)
		put_l(r, L_SCOPE_ALL);
	if (town != NULL)
		esc(r, town);
	if (school != NULL) {
		put(r, town != NULL ? " · " : "");
		put_l(r, L_SCHOOL_CODE);
		esc(r, school);
	}
	put(r, "</span>\n<span>");
	put_l(r, L_PERIOD);
	if (matches(start, "dddd-dd-dd"))
		fprintf(r->f, "%.10s", start);
	else
		esc(r, start);
	put_l(r, L_TO);
	put_last_day(r, str(p, "period_end"));
	if (json_is_integer(get(p, "utc_offset_min"))) {
		json_int_t off = json_integer_value(get(p, "utc_offset_min"));
		json_int_t mag = off < 0 ? -off : off;

		fprintf(r->f, " (UTC%c%02d:%02d)", off < 0 ? '-' : '+',
		    (int)(mag / 60 % 100), (int)(mag % 60));
	}
	put(r, "</span>\n<span>");
	put_l(r, L_COUNTED_UNTIL);
	put_time(r, str(p, "counted_until"));
	put(r, "</span>");
	if (cal != NULL && cal[0] != '\0') {
		put(r, "\n<span>");
		put_l(r, L_CALENDAR);
		esc(r, cal);
		put(r, "</span>");
	}
	put(r, "</p>\n");
	if (json_is_false(get(p, "complete"))) {
		put(r, "<p class=\"note\">");
		put_l(r, L_INCOMPLETE);
		put_time(r, str(p, "counted_until"));
		put_l(r, L_INCOMPLETE_END);
		put(r, "</p>\n");
	}
	fprintf(r->f, "<p class=\"targets\"><b>%s</b>", tr(r, L_TARGETS));
	for (size_t i = 0; i < nitems(target_words); i++) {
		put(r, "<span>");
		put_l(r, target_words[i].before);
		put_num(r, num(r->targets, target_words[i].path), "");
		put_l(r, target_words[i].after);
		put(r, "</span>\n");
	}
	fprintf(r->f, "<span>%s</span></p>\n</header>\n", tr(r, L_T_DUPLEX));
}

/*
 * The summary cards. Each shows its percentage (or, without one, the
 * count) large, the count behind it small, and the change in points.
 */
static const struct {
	enum label name, policy, unit;
	const char *pct, *count, *of, *change;
} cards[] = {
    {L_SCHOOLS_PASSING, L_NOLABEL, L_U_KNOWN_SCHOOLS, "schools_passing_pct",
        "schools_passing", "schools_known", "change.schools_passing_pct"},
    {L_UPLINKS, L_GIGABIT, L_U_UPLINKS, NULL, "uplinks_compliant", "schools",
        NULL},
    {L_CLASSROOMS, L_100M, L_U_KNOWN_ROOMS, "classrooms_compliant_pct",
        "classrooms_compliant", "classrooms_known",
        "change.classrooms_compliant_pct"},
    {L_COVERAGE, L_RECORDING_ALL, L_U_SEAT_SCHOOLS, "recording_coverage_pct",
        "town_seat_with_recording", "town_seat_schools",
        "change.recording_coverage_pct"},
    {L_REC_AVAIL, L_NOLABEL, L_U_REC_ROOMS, "recording_available_pct",
        "recording_rooms", NULL, "change.recording_available_pct"},
    {L_COMPLETENESS, L_NOLABEL, L_U_KNOWN_TIME, "completeness_pct", NULL, NULL,
        NULL},
};

static void
put_count(struct render *r, const json_t *d, const char *count, const char *of)
{
	if (of != NULL)
		put_ratio(r, d, count, of);
	else
		put_num(r, num(d, count), "");
}

static void
html_cards(struct render *r)
{
	const json_t *d = r->district;

	fprintf(r->f, "<section>\n<h2>%s · %s</h2>\n<div class=\"cards\">\n",
	    tr(r, L_SUMMARY), tr(r, total_label(r)));
	for (size_t i = 0; i < nitems(cards); i++) {
		fprintf(r->f, "<div class=\"card\"><div class=\"k\">%s</div>",
		    tr(r, cards[i].name));
		if (cards[i].policy != L_NOLABEL)
			fprintf(r->f, "<div class=\"p\">%s</div>",
			    tr(r, cards[i].policy));
		put(r, "<div class=\"v\">");
		if (cards[i].pct != NULL)
			put_num(r, num(d, cards[i].pct), "%");
		else
			put_count(r, d, cards[i].count, cards[i].of);
		put(r, "</div><div class=\"s\">");
		if (cards[i].pct != NULL && cards[i].count != NULL)
			put_count(r, d, cards[i].count, cards[i].of);
		put_l(r, cards[i].unit);
		put(r, "</div>");
		if (cards[i].change != NULL) {
			put(r, "<div class=\"d\">");
			put_l(r, L_VS_PREV);
			put_change(r, num(d, cards[i].change));
			put(r, "</div>");
		}
		put(r, "</div>\n");
	}
	fprintf(r->f,
	    "<div class=\"card\"><div class=\"k\">%s</div>"
	    "<div class=\"v\">",
	    tr(r, L_ALERTS));
	put_num(r, num(d, "alerts_opened"), "");
	put(r, "</div><div class=\"s\">");
	put_l(r, L_MTTR);
	put_num(r, num(d, "mttr_min"), tr(r, L_MIN));
	put(r, "</div></div>\n</div>\n</section>\n");
}

/* ---- chart 1: schools passing and classrooms compliant per town ---- */

#define BAR_X0 150 /* the 0 % line */
#define BAR_PX 4.6 /* pixels per percent */
#define BAR_ROW 32
#define BAR_TOP 26

static void
bar(struct render *r, double y, double pct, const char *fill)
{
	char b[NUMBUF];
	double w;

	if (isnan(pct)) {
		fprintf(r->f,
		    "<text x=\"%d\" y=\"%.1f\" font-size=\"10\">%s"
		    "</text>\n",
		    BAR_X0 + 4, y + 9, DASH);
		return;
	}
	w = clamp(pct, 0, 100) * BAR_PX;
	fprintf(r->f,
	    "<rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"11\" "
	    "fill=\"%s\"/><text x=\"%.1f\" y=\"%.1f\" font-size=\"10\">%s%%"
	    "</text>\n",
	    BAR_X0, y, w, fill, BAR_X0 + w + 4, y + 9, fmt_num(b, pct));
}

static void
bars_row(
    struct render *r, int i, const char *name, const json_t *sum, bool total)
{
	double y = BAR_TOP + i * BAR_ROW;

	fprintf(r->f,
	    "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" "
	    "text-anchor=\"end\"%s>",
	    BAR_X0 - 8, y + 19, total ? " font-weight=\"700\"" : "");
	esc_cut(r, name, LABEL_CHARS);
	put(r, "</text>\n");
	bar(r, y + 4, num(sum, "schools_passing_pct"), C_SCHOOLS);
	bar(r, y + 17, num(sum, "classrooms_compliant_pct"), C_ROOMS);
}

static void
html_chart_towns(struct render *r)
{
	const json_t *towns = json_object_get(r->rep, "towns");
	size_t n = json_array_size(towns);
	int rows = (int)n + 1, bottom = BAR_TOP + rows * BAR_ROW;

	fprintf(
	    r->f, "<section>\n<h2>%s</h2>\n<figure>\n", tr(r, L_CHART_TOWNS));
	svg_open(r, 660, bottom + 22, L_CHART_TOWNS);
	fprintf(r->f,
	    "<rect x=\"%d\" y=\"4\" width=\"12\" height=\"10\" fill=\"%s\"/>"
	    "<text x=\"%d\" y=\"13\" font-size=\"11\">%s</text>"
	    "<rect x=\"%d\" y=\"4\" width=\"12\" height=\"10\" fill=\"%s\"/>"
	    "<text x=\"%d\" y=\"13\" font-size=\"11\">%s</text>\n",
	    BAR_X0, C_SCHOOLS, BAR_X0 + 16, tr(r, L_SCHOOLS_PCT), BAR_X0 + 180,
	    C_ROOMS, BAR_X0 + 196, tr(r, L_ROOMS_PCT));
	for (int t = 0; t <= 100; t += 20) {
		double x = BAR_X0 + t * BAR_PX;

		fprintf(r->f,
		    "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
		    "stroke=\"#ccc\"/><text x=\"%.1f\" y=\"%d\" "
		    "font-size=\"10\" text-anchor=\"middle\">%d%%</text>\n",
		    x, BAR_TOP, x, bottom, x, bottom + 14, t);
	}
	bars_row(r, 0, tr(r, total_label(r)), r->district, true);
	for (size_t i = 0; i < n; i++) {
		const json_t *t = json_array_get(towns, i);

		bars_row(r, (int)i + 1, str(t, "town"), t, false);
	}
	fprintf(r->f,
	    "</svg>\n<figcaption>%s</figcaption>\n</figure>\n"
	    "</section>\n",
	    tr(r, L_CHART_TOWNS_CAP));
}

/* ---- chart 2: the month's daily classroom compliance ---- */

#define LINE_X0 44
#define LINE_X1 650
#define LINE_Y0 26
#define LINE_Y1 200

/* y of a percentage on an axis from ymin to 100 */
static double
line_y(double v, double ymin)
{
	v = clamp(v, ymin, 100);
	return LINE_Y1 - (v - ymin) / (100 - ymin) * (LINE_Y1 - LINE_Y0);
}

static void
days_svg(struct render *r, const json_t *days, size_t n)
{
	double lo = 100, ymin = 0, step, v;
	bool any = false, pen = false;

	for (size_t i = 0; i < n; i++) {
		v = num(json_array_get(days, i), "classroom_pct");
		if (!isnan(v)) {
			any = true;
			lo = v < lo ? v : lo;
		}
	}
	/* Values cluster near 100: start the axis at the decade below the
	 * lowest day so a dip of one point is visible. */
	if (any)
		ymin = (int)clamp(lo, 0, 90) / 10 * 10;
	step = (double)(LINE_X1 - LINE_X0) / (double)n;
	svg_open(r, 660, LINE_Y1 + 24, L_CHART_DAYS);
	fprintf(r->f,
	    "<line x1=\"%d\" y1=\"9\" x2=\"%d\" y2=\"9\" stroke=\"%s\" "
	    "stroke-width=\"2\"/><text x=\"%d\" y=\"13\" font-size=\"11\">%s"
	    "</text><rect x=\"%d\" y=\"3\" width=\"12\" height=\"11\" "
	    "fill=\"#e6e6e6\"/><text x=\"%d\" y=\"13\" font-size=\"11\">%s"
	    "</text>\n",
	    LINE_X0, LINE_X0 + 18, C_SCHOOLS, LINE_X0 + 24, tr(r, L_DAILY_PCT),
	    LINE_X0 + 200, LINE_X0 + 216, tr(r, L_NO_SCHOOL));
	for (size_t i = 0; i < n; i++) {
		const json_t *day = json_array_get(days, i);

		if (school_day(r, i))
			continue;
		fprintf(r->f,
		    "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
		    "fill=\"#e6e6e6\"><title>",
		    LINE_X0 + step * (double)i, LINE_Y0, step,
		    LINE_Y1 - LINE_Y0);
		esc(r, str(day, "date"));
		put(r, " ");
		esc(r,
		    term_text(
		        day_kinds, nitems(day_kinds), str(day, "kind"), r->en));
		if (str(day, "name") != NULL) {
			put(r, " ");
			esc(r, str(day, "name"));
		}
		put(r, "</title></rect>\n");
	}
	for (int k = 0; k <= 5; k++) {
		char b[NUMBUF];
		double y = LINE_Y1 - (double)(LINE_Y1 - LINE_Y0) * k / 5;

		fprintf(r->f,
		    "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
		    "stroke=\"#bbb\"/><text x=\"%d\" y=\"%.1f\" "
		    "font-size=\"10\" text-anchor=\"end\">%s%%</text>\n",
		    LINE_X0, y, LINE_X1, y, LINE_X0 - 4, y + 3,
		    fmt_num(b, ymin + (100 - ymin) * k / 5));
	}
	for (size_t i = 0; i < n; i++) {
		const char *date = str(json_array_get(days, i), "date");

		fprintf(r->f,
		    "<text x=\"%.1f\" y=\"%d\" font-size=\"9\" "
		    "text-anchor=\"middle\"%s>%d</text>\n",
		    LINE_X0 + step * ((double)i + 0.5), LINE_Y1 + 13,
		    school_day(r, i) ? "" : " fill=\"#888\"",
		    matches(date, "dddd-dd-dd") ? atoi(date + 8) : (int)i + 1);
	}
	/* One path; a day without data lifts the pen, leaving a gap. */
	if (any) {
		fprintf(r->f,
		    "<path fill=\"none\" stroke=\"%s\" "
		    "stroke-width=\"2\" d=\"",
		    C_SCHOOLS);
		for (size_t i = 0; i < n; i++) {
			v = num(json_array_get(days, i), "classroom_pct");
			if (isnan(v)) {
				pen = false;
				continue;
			}
			fprintf(r->f, "%s%.1f %.1f ", pen ? "L" : "M",
			    LINE_X0 + step * ((double)i + 0.5),
			    line_y(v, ymin));
			pen = true;
		}
		put(r, "\"/>\n");
	}
	/* A dot per day, so a day alone between two gaps still shows. */
	for (size_t i = 0; i < n; i++) {
		char b[NUMBUF];
		const json_t *day = json_array_get(days, i);

		v = num(day, "classroom_pct");
		if (isnan(v))
			continue;
		fprintf(r->f,
		    "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" "
		    "fill=\"%s\"><title>",
		    LINE_X0 + step * ((double)i + 0.5), line_y(v, ymin),
		    C_SCHOOLS);
		esc(r, str(day, "date"));
		fprintf(r->f, " %s%%</title></circle>\n", fmt_num(b, v));
	}
	put(r, "</svg>\n");
}

static void
html_chart_days(struct render *r)
{
	size_t n = json_array_size(r->days);

	fprintf(
	    r->f, "<section>\n<h2>%s</h2>\n<figure>\n", tr(r, L_CHART_DAYS));
	if (n == 0)
		svg_empty(r, L_CHART_DAYS);
	else
		days_svg(r, r->days, n);
	fprintf(r->f, "<figcaption>%s</figcaption>\n</figure>\n</section>\n",
	    tr(r, L_CHART_DAYS_CAP));
}

/* ---- chart 3: heat map, school (or town) × day ---- */

#define HEAT_X0 140 /* left edge of the cells */
#define HEAT_Y0 36  /* top edge of the cells */
#define HEAT_CW 16
#define HEAT_RH 15

struct heat {
	size_t rows, days;
	const char **label; /* borrowed from the model */
	double *pct;        /* rows × days, NAN: no data */
	bool by_town;
};

enum cell { CELL_OFF, CELL_NONE, CELL_GOOD, CELL_WARN, CELL_BAD };

/*
 * One row per school; past HEAT_SCHOOLS_MAX, one per town with the mean
 * of the known values of its schools. Schools come sorted by town, so a
 * town is a run of consecutive schools. Returns -1 out of memory.
 */
static int
heat_build(struct render *r, struct heat *h)
{
	const json_t *schools = json_object_get(r->rep, "schools");
	size_t n = json_array_size(schools), row = 0;
	unsigned *known = NULL;
	const char *town, *prev = NULL;

	h->days = json_array_size(r->days);
	h->by_town = n > HEAT_SCHOOLS_MAX;
	h->rows = n;
	if (h->by_town) {
		h->rows = 0;
		for (size_t i = 0; i < n; i++) {
			town = str(json_array_get(schools, i), "town");
			if (i == 0 || !same(town, prev))
				h->rows++;
			prev = town;
		}
	}
	if (h->days > 0 && h->rows > SIZE_MAX / sizeof(double) / h->days)
		return -1;
	h->label = calloc(h->rows + 1, sizeof(*h->label));
	h->pct = calloc(h->rows * h->days + 1, sizeof(*h->pct));
	if (h->by_town)
		known = calloc(h->rows * h->days + 1, sizeof(*known));
	if (h->label == NULL || h->pct == NULL || (h->by_town && !known)) {
		free(known);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *s = json_array_get(schools, i);
		const json_t *sdays = json_object_get(s, "days");

		if (h->by_town) {
			town = str(s, "town");
			if (i > 0 && !same(town, prev))
				row++;
			prev = town;
			h->label[row] = town;
		} else {
			row = i;
			h->label[row] = str(s, "name");
		}
		for (size_t d = 0; d < h->days; d++) {
			double v =
			    num(json_array_get(sdays, d), "classroom_pct");
			double *cell = &h->pct[row * h->days + d];

			if (!h->by_town)
				*cell = v;
			else if (!isnan(v)) {
				*cell += v;
				known[row * h->days + d]++;
			}
		}
	}
	for (size_t c = 0; h->by_town && c < h->rows * h->days; c++)
		h->pct[c] = known[c] > 0 ? h->pct[c] / known[c] : NAN;
	free(known);
	return 0;
}

static enum cell
cell_of(const struct render *r, size_t d, double pct)
{
	if (!school_day(r, d) || !day_counted(r, d))
		return CELL_OFF;
	if (isnan(pct))
		return CELL_NONE;
	return pct >= 99 ? CELL_GOOD : pct >= 90 ? CELL_WARN : CELL_BAD;
}

/* Fill of a cell; the patterns are defined per <svg> (ids suffixed by
 * the chunk number, so they stay unique in the page). */
static void
put_fill(struct render *r, enum cell c, size_t chunk)
{
	switch (c) {
	case CELL_OFF:
		put(r, "#fff");
		break;
	case CELL_NONE:
		fprintf(r->f, "url(#hn%zu)", chunk);
		break;
	case CELL_GOOD:
		put(r, C_GOOD);
		break;
	case CELL_WARN:
		fprintf(r->f, "url(#hw%zu)", chunk);
		break;
	case CELL_BAD:
		put(r, C_BAD);
		break;
	}
}

static const struct {
	enum cell cell;
	const char *text[2];
} heat_legend[] = {
    {CELL_GOOD, {"≥ 99%", "≥ 99%"}},
    {CELL_WARN, {"90–99%", "90–99%"}},
    {CELL_BAD, {"< 90%", "< 90%"}},
    {CELL_NONE, {"无数据", "no data"}},
    {CELL_OFF, {"非上课日或未统计", "no school or not counted"}},
};

/* Rows [first, end) as one <svg>, a printed page at most. */
static void
heat_svg(struct render *r, const struct heat *h, size_t first, size_t end,
    size_t chunk)
{
	int w = HEAT_X0 + (int)h->days * HEAT_CW + 8;
	int bottom = HEAT_Y0 + (int)(end - first) * HEAT_RH;

	svg_open(r, w, bottom + 4, L_CHART_HEAT);
	fprintf(r->f,
	    "<defs><pattern id=\"hw%zu\" width=\"4\" height=\"4\" "
	    "patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
	    "<rect width=\"4\" height=\"4\" fill=\"#f4b63f\"/>"
	    "<rect width=\"1.5\" height=\"4\" fill=\"#8a5a00\"/></pattern>"
	    "<pattern id=\"hn%zu\" width=\"4\" height=\"4\" "
	    "patternUnits=\"userSpaceOnUse\"><rect width=\"4\" height=\"4\" "
	    "fill=\"#e4e4e4\"/><circle cx=\"2\" cy=\"2\" r=\"0.8\" "
	    "fill=\"#777\"/></pattern></defs>\n",
	    chunk, chunk);
	for (size_t i = 0; i < nitems(heat_legend); i++) {
		int x = HEAT_X0 + (int)i * 80;

		fprintf(r->f,
		    "<rect x=\"%d\" y=\"3\" width=\"12\" "
		    "height=\"10\" stroke=\"#999\" fill=\"",
		    x);
		put_fill(r, heat_legend[i].cell, chunk);
		fprintf(r->f,
		    "\"/><text x=\"%d\" y=\"12\" font-size=\"10\">"
		    "%s</text>\n",
		    x + 16, heat_legend[i].text[r->en]);
	}
	for (size_t d = 0; d < h->days; d++) {
		const char *date = str(json_array_get(r->days, d), "date");

		fprintf(r->f,
		    "<text x=\"%d\" y=\"%d\" font-size=\"8\" "
		    "text-anchor=\"middle\"%s>%d</text>\n",
		    HEAT_X0 + (int)d * HEAT_CW + HEAT_CW / 2, HEAT_Y0 - 5,
		    school_day(r, d) ? "" : " fill=\"#999\"",
		    matches(date, "dddd-dd-dd") ? atoi(date + 8) : (int)d + 1);
	}
	for (size_t row = first; row < end; row++) {
		const double *pct = &h->pct[row * h->days];
		int y = HEAT_Y0 + (int)(row - first) * HEAT_RH;
		size_t d = 0, run;

		fprintf(r->f,
		    "<text x=\"%d\" y=\"%d\" font-size=\"10\" "
		    "text-anchor=\"end\">",
		    HEAT_X0 - 6, y + 11);
		esc_cut(r, h->label[row], LABEL_CHARS);
		put(r, "</text>\n");
		/* One rectangle per run of equal cells keeps the file small;
		 * the white grid drawn over them marks the days. */
		while (d < h->days) {
			enum cell c = cell_of(r, d, pct[d]);

			for (run = d + 1;
			     run < h->days && cell_of(r, run, pct[run]) == c;
			     run++)
				;
			fprintf(r->f,
			    "<rect x=\"%d\" y=\"%d\" width=\"%d\" "
			    "height=\"%d\" fill=\"",
			    HEAT_X0 + (int)d * HEAT_CW, y,
			    (int)(run - d) * HEAT_CW, HEAT_RH);
			put_fill(r, c, chunk);
			put(r, "\"/>\n");
			d = run;
		}
	}
	put(r, "<path stroke=\"#fff\" stroke-width=\"1.5\" d=\"");
	for (size_t d = 1; d < h->days; d++)
		fprintf(r->f, "M%d %dV%d", HEAT_X0 + (int)d * HEAT_CW, HEAT_Y0,
		    bottom);
	for (size_t row = first + 1; row < end; row++)
		fprintf(r->f, "M%d %dH%d", HEAT_X0,
		    HEAT_Y0 + (int)(row - first) * HEAT_RH,
		    HEAT_X0 + (int)h->days * HEAT_CW);
	put(r, "\"/>\n</svg>\n");
}

static int
html_chart_heat(struct render *r)
{
	struct heat h = {0};
	int rc = -1;

	if (heat_build(r, &h) == -1)
		goto out;
	fprintf(r->f, "<section>\n<h2>%s</h2>\n<figure>\n<figcaption>",
	    tr(r, L_CHART_HEAT));
	if (h.by_town)
		fprintf(r->f, "%s%d%s", tr(r, L_HEAT_CAP_TOWNS),
		    HEAT_SCHOOLS_MAX, tr(r, L_HEAT_CAP_TOWNS_END));
	else
		put_l(r, L_HEAT_CAP);
	put(r, "</figcaption>\n");
	if (h.rows == 0 || h.days == 0)
		svg_empty(r, L_CHART_HEAT);
	for (size_t first = 0; h.days > 0 && first < h.rows;
	     first += HEAT_ROWS_PER_SVG)
		heat_svg(r, &h, first,
		    first + HEAT_ROWS_PER_SVG < h.rows
		        ? first + HEAT_ROWS_PER_SVG
		        : h.rows,
		    first / HEAT_ROWS_PER_SVG);
	put(r, "</figure>\n</section>\n");
	rc = 0;
out:
	free(h.label);
	free(h.pct);
	return rc;
}

/* ---- tables ---- */

static void
thead(struct render *r, const enum label *heads, size_t n)
{
	put(r, "<table>\n<thead><tr>");
	for (size_t i = 0; i < n; i++)
		fprintf(r->f, "<th>%s</th>", tr(r, heads[i]));
	put(r, "</tr></thead>\n<tbody>\n");
}

/* Town table columns: a ratio when of is set, else a number. */
static const struct {
	enum label head;
	const char *path, *of;
} town_cols[] = {
    {L_H_SCHOOLS, "schools_passing", "schools_known"},
    {L_H_SCHOOLS_PCT, "schools_passing_pct", NULL},
    {L_H_UPLINKS, "uplinks_compliant", "schools"},
    {L_H_ROOMS, "classrooms_compliant", "classrooms_known"},
    {L_H_ROOMS_PCT, "classrooms_compliant_pct", NULL},
    {L_H_COVERAGE, "town_seat_with_recording", "town_seat_schools"},
    {L_H_COVERAGE_PCT, "recording_coverage_pct", NULL},
    {L_H_REC_AVAIL, "recording_available_pct", NULL},
    {L_H_TP_BELOW, "throughput.below_target", "throughput.schools_tested"},
    {L_H_COMPLETENESS, "completeness_pct", NULL},
    {L_H_ALERTS, "alerts_opened", NULL},
    {L_H_MTTR, "mttr_min", NULL},
};

static void
town_row(struct render *r, const char *name, const json_t *sum, bool total)
{
	fprintf(r->f, "<tr%s><td>", total ? " class=\"total\"" : "");
	esc(r, name);
	put(r, "</td>");
	for (size_t i = 0; i < nitems(town_cols); i++) {
		put(r, "<td class=\"n\">");
		if (town_cols[i].of != NULL)
			put_ratio(r, sum, town_cols[i].path, town_cols[i].of);
		else
			put_num(r, num(sum, town_cols[i].path), "");
		put(r, "</td>");
	}
	put(r, "</tr>\n");
}

static void
html_town_table(struct render *r)
{
	const json_t *towns = json_object_get(r->rep, "towns");
	enum label heads[nitems(town_cols) + 1] = {L_TOWN};

	for (size_t i = 0; i < nitems(town_cols); i++)
		heads[i + 1] = town_cols[i].head;
	fprintf(r->f, "<section>\n<h2>%s</h2>\n", tr(r, L_TOWN_TABLE));
	thead(r, heads, nitems(heads));
	for (size_t i = 0; i < json_array_size(towns); i++) {
		const json_t *t = json_array_get(towns, i);

		town_row(r, str(t, "town"), t, false);
	}
	town_row(r, tr(r, total_label(r)), r->district, true);
	put(r, "</tbody>\n</table>\n</section>\n");
}

static void
school_row(struct render *r, const json_t *s, const char *month_start)
{
	const char *from = str(s, "counted_from");
	const json_t *up = get(s, "uplink.compliant");

	put(r, "<tr><td>");
	esc(r, str(s, "town"));
	put(r, "</td><td>");
	esc(r, str(s, "name"));
	if (json_is_true(get(s, "town_seat")))
		fprintf(
		    r->f, " <span class=\"tag\">%s</span>", tr(r, L_SEAT_TAG));
	put(r, "<br><span class=\"code\">");
	esc(r, str(s, "code"));
	/* Added mid-month: say from when it counts. */
	if (from != NULL && !same(from, month_start)) {
		put(r, " · ");
		put_l(r, L_COUNTED_FROM);
		esc(r, from);
		put_l(r, L_COUNTED_FROM_END);
	}
	put(r, "</span></td><td class=\"kw\">");
	esc(r, str(s, "type"));
	put(r, "</td><td>");
	put_status(r, str(s, "status"));
	put(r, "</td><td class=\"kw\">");
	put_cause(r, str(s, "main_cause"));
	fprintf(r->f, "</td><td class=\"n\">%s",
	    json_is_true(up)        ? "✓ "
	        : json_is_false(up) ? "✗ "
	                            : "");
	put_num(r, num(s, "uplink.at_target_pct"), "%");
	put(r, "<br>");
	put_num(r, num(s, "uplink.speed_mbps_min"), " Mbps");
	/* Measured: the median download of the month's tests. */
	if (num(s, "uplink.throughput.tests") > 0) {
		put(r, "<br>");
		put_l(r, L_MEASURED);
		put_num(r, num(s, "uplink.throughput.median_mbps"), " Mbps");
		if (json_is_true(get(s, "uplink.throughput.below_target")))
			put(r, " ✗");
	}
	put(r, "</td><td class=\"n\">");
	put_ratio(r, s, "classrooms.compliant", "classrooms.total");
	put(r, "</td><td class=\"n\">");
	put_num(r, num(s, "recording.rooms"), "");
	put(r, " (");
	put_num(r, num(s, "recording.available_pct"), "%");
	put(r, ")");
	if (str(s, "recording.basis") != NULL) {
		put(r, "<br><span class=\"code\">");
		esc(r, term_text(bases, nitems(bases), str(s, "recording.basis"),
		    r->en));
		put(r, "</span>");
	}
	put(r, "</td><td class=\"n\">");
	put_num(r, num(s, "completeness_pct"), "%");
	put(r, "</td><td class=\"n\">");
	put_num(r, num(s, "alerts.opened"), "");
	put(r, " / ");
	put_num(r, num(s, "alerts.mttr_min"), "");
	put(r, "</td></tr>\n");
}

static void
html_school_table(struct render *r)
{
	static const enum label heads[] = {L_TOWN, L_SCHOOL, L_TYPE, L_STATUS,
	    L_CAUSE, L_H_UPLINK, L_H_ROOMS, L_H_RECORDING, L_H_COMPLETENESS,
	    L_H_ALERTS_MTTR};
	const json_t *schools = json_object_get(r->rep, "schools");
	const char *start = str(r->params, "period_start");
	char month_start[11] = "";

	if (matches(start, "dddd-dd-dd"))
		snprintf(month_start, sizeof(month_start), "%.10s", start);
	fprintf(r->f, "<section>\n<h2>%s</h2>\n", tr(r, L_SCHOOL_TABLE));
	thead(r, heads, nitems(heads));
	for (size_t i = 0; i < json_array_size(schools); i++)
		school_row(r, json_array_get(schools, i), month_start);
	put(r, "</tbody>\n</table>\n</section>\n");
}

/* "… and N more, see the CSV" under a list cut at LIST_MAX. */
static void
list_end(struct render *r, size_t n, enum label more_end)
{
	put(r, "</tbody>\n</table>\n");
	if (n > LIST_MAX)
		fprintf(r->f, "<p>%s%zu%s</p>\n", tr(r, L_MORE), n - LIST_MAX,
		    tr(r, more_end));
}

static void
html_noncompliant(struct render *r)
{
	static const enum label school_heads[] = {
	    L_TOWN, L_SCHOOL, L_STATUS, L_CAUSE, L_FIX};
	static const enum label room_heads[] = {
	    L_TOWN, L_SCHOOL, L_ROOM, L_PORT, L_AT_TARGET, L_CAUSE, L_FIX};
	const json_t *schools = get(r->rep, "noncompliant.schools");
	const json_t *rooms = get(r->rep, "noncompliant.classrooms");
	size_t ns = json_array_size(schools), nr = json_array_size(rooms);

	fprintf(r->f, "<section>\n<h2>%s</h2>\n<h3>%s</h3>\n",
	    tr(r, L_NONCOMPLIANT), tr(r, L_NC_SCHOOLS));
	if (ns == 0)
		fprintf(r->f, "<p>%s</p>\n", tr(r, L_NONE));
	else
		thead(r, school_heads, nitems(school_heads));
	for (size_t i = 0; i < ns && i < LIST_MAX; i++) {
		const json_t *s = json_array_get(schools, i);

		put(r, "<tr><td>");
		esc(r, str(s, "town"));
		put(r, "</td><td>");
		esc(r, str(s, "name"));
		put(r, "<br><span class=\"code\">");
		esc(r, str(s, "code"));
		put(r, "</span></td><td>");
		put_status(r, str(s, "status"));
		put(r, "</td><td class=\"kw\">");
		put_cause(r, str(s, "main_cause"));
		put(r, "</td><td>");
		put_fix(r, str(s, "main_cause"));
		put(r, "</td></tr>\n");
	}
	if (ns > 0)
		list_end(r, ns, L_MORE_SCHOOLS_END);

	fprintf(r->f, "<h3>%s</h3>\n", tr(r, L_NC_ROOMS));
	if (nr == 0)
		fprintf(r->f, "<p>%s</p>\n", tr(r, L_NONE));
	else
		thead(r, room_heads, nitems(room_heads));
	for (size_t i = 0; i < nr && i < LIST_MAX; i++) {
		const json_t *c = json_array_get(rooms, i);
		const char *name = str(c, "school_name");

		put(r, "<tr><td>");
		esc(r, str(c, "town"));
		put(r, "</td><td>");
		esc(r, name != NULL ? name : str(c, "school"));
		put(r, "</td><td>");
		esc(r, str(c, "room"));
		put(r, "</td><td>");
		esc(r, str(c, "switch"));
		put(r, " / ");
		esc(r, str(c, "port"));
		put(r, "</td><td class=\"n\">");
		put_num(r, num(c, "at_target_pct"), "%");
		put(r, "</td><td class=\"kw\">");
		put_cause(r, str(c, "main_cause"));
		put(r, "</td><td>");
		put_fix(r, str(c, "main_cause"));
		put(r, "</td></tr>\n");
	}
	if (nr > 0)
		list_end(r, nr, L_MORE_ROOMS_END);
	put(r, "</section>\n");
}

static void
html_glossary(struct render *r)
{
	fprintf(r->f, "<section>\n<h2>%s</h2>\n<dl class=\"gloss\">\n",
	    tr(r, L_GLOSSARY));
	for (size_t i = 0; i < nitems(glossary); i++)
		fprintf(r->f, "<dt>%s</dt><dd>%s</dd>\n",
		    glossary[i].term[r->en], glossary[i].text[r->en]);
	put(r, "</dl>\n</section>\n");
}

static void
html_footer(struct render *r)
{
	put(r, "<footer>");
	put_l(r, L_HASH);
	esc(r, str(r->rep, "content_hash"));
	put(r, " · ");
	put_l(r, L_GENERATED);
	put_time(r, str(r->params, "generated_at"));
	put(r, " · schoolnet</footer>\n</body>\n</html>\n");
}

int
report_write_html(FILE *f, const json_t *rep, bool en)
{
	struct render r;

	if (render_init(&r, f, rep, en) == -1)
		return -1;
	html_head(&r);
	html_header(&r);
	html_cards(&r);
	html_chart_towns(&r);
	html_chart_days(&r);
	if (html_chart_heat(&r) == -1)
		return -1;
	html_town_table(&r);
	html_school_table(&r);
	html_noncompliant(&r);
	html_glossary(&r);
	html_footer(&r);
	return finish(&r);
}

/* ---- CSV ---- */

enum csv_kind {
	K_TEXT,
	K_NUM,
	K_BOOL,
	K_STATUS,
	K_ROLE,
	K_CAUSE,
	K_SCHOOL_NAME, /* the name of the school whose code is at path */
	K_BASIS,       /* a recording room's availability basis */
};

struct csv_col {
	const char *path;
	enum csv_kind kind;
	const char *head[2];
};

static const struct csv_col school_csv[] = {
    {"town", K_TEXT, {"城镇", "Town"}},
    {"code", K_TEXT, {"学校代码", "School code"}},
    {"name", K_TEXT, {"学校名称", "School"}},
    {"type", K_TEXT, {"类型", "Type"}},
    {"town_seat", K_BOOL, {"镇区学校", "Town seat"}},
    {"status", K_STATUS, {"达标状态", "Status"}},
    {"main_cause", K_CAUSE, {"主要原因", "Main cause"}},
    {"uplink.at_target_pct", K_NUM,
        {"出口达标时间占比(%)", "Uplink at target (%)"}},
    {"uplink.compliant", K_BOOL, {"出口达标", "Uplink compliant"}},
    {"uplink.speed_mbps_min", K_NUM,
        {"出口最低速率(Mbps)", "Uplink min speed (Mbps)"}},
    {"uplink.throughput.tests", K_NUM, {"测速次数", "Throughput tests"}},
    {"uplink.throughput.median_mbps", K_NUM,
        {"实测下载中位数(Mbps)", "Measured download median (Mbps)"}},
    {"uplink.throughput.worst_mbps", K_NUM,
        {"实测下载最低(Mbps)", "Measured download worst (Mbps)"}},
    {"uplink.throughput.below_target", K_BOOL,
        {"实测低于目标", "Measured below target"}},
    {"classrooms.compliant", K_NUM, {"达标班级数", "Classrooms compliant"}},
    {"classrooms.total", K_NUM, {"班级数", "Classrooms"}},
    {"recording.rooms", K_NUM, {"录播室数", "Recording rooms"}},
    {"recording.available_pct", K_NUM,
        {"录播室可用率(%)", "Recording availability (%)"}},
    {"recording.basis", K_BASIS,
        {"录播室可用率依据", "Recording availability basis"}},
    {"completeness_pct", K_NUM, {"数据完整率(%)", "Data completeness (%)"}},
    {"alerts.opened", K_NUM, {"告警数", "Alerts opened"}},
    {"alerts.mttr_min", K_NUM, {"平均修复时间(分钟)", "MTTR (min)"}},
    {"counted_from", K_TEXT, {"统计起始日", "Counted from"}},
};

static const struct csv_col room_csv[] = {
    {"school", K_TEXT, {"学校代码", "School code"}},
    {"school", K_SCHOOL_NAME, {"学校名称", "School"}},
    {"town", K_TEXT, {"城镇", "Town"}},
    {"role", K_ROLE, {"用途", "Role"}},
    {"room", K_TEXT, {"房间", "Room"}},
    {"switch", K_TEXT, {"交换机", "Switch"}},
    {"port", K_TEXT, {"端口", "Port"}},
    {"target_mbps", K_NUM, {"目标速率(Mbps)", "Target (Mbps)"}},
    {"school_min", K_NUM, {"在校时段(分钟)", "School hours (min)"}},
    {"ok_min", K_NUM, {"达标(分钟)", "At target (min)"}},
    {"speed_min", K_NUM, {"速率不足(分钟)", "Speed low (min)"}},
    {"half_min", K_NUM, {"半双工(分钟)", "Half duplex (min)"}},
    {"errors_min", K_NUM, {"错误包过多(分钟)", "Errors (min)"}},
    {"down_min", K_NUM, {"断开(分钟)", "Down (min)"}},
    {"unknown_min", K_NUM, {"无数据(分钟)", "No data (min)"}},
    {"at_target_pct", K_NUM, {"达标时间占比(%)", "At target (%)"}},
    {"compliant", K_BOOL, {"达标", "Compliant"}},
    {"main_cause", K_CAUSE, {"主要原因", "Main cause"}},
    {"speed_mbps_min", K_NUM, {"最低速率(Mbps)", "Min speed (Mbps)"}},
    {"available_pct", K_NUM,
        {"录播室可用率(%)", "Recording availability (%)"}},
    {"basis", K_BASIS, {"录播室可用率依据", "Recording availability basis"}},
};

static const struct csv_col town_csv[] = {
    {"town", K_TEXT, {"城镇", "Town"}},
    {"schools", K_NUM, {"学校数", "Schools"}},
    {"schools_known", K_NUM, {"有数据学校数", "Schools with data"}},
    {"schools_passing", K_NUM, {"达标学校数", "Schools passing"}},
    {"schools_passing_pct", K_NUM, {"学校达标率(%)", "Schools passing (%)"}},
    {"uplinks_compliant", K_NUM, {"出口达标学校数", "Uplinks compliant"}},
    {"classrooms", K_NUM, {"班级数", "Classrooms"}},
    {"classrooms_known", K_NUM, {"有数据班级数", "Classrooms with data"}},
    {"classrooms_compliant", K_NUM, {"达标班级数", "Classrooms compliant"}},
    {"classrooms_compliant_pct", K_NUM,
        {"班级达标率(%)", "Classrooms compliant (%)"}},
    {"town_seat_schools", K_NUM, {"镇区学校数", "Town-seat schools"}},
    {"town_seat_with_recording", K_NUM,
        {"有录播室的镇区学校数", "Town-seat schools with recording"}},
    {"recording_coverage_pct", K_NUM,
        {"录播室覆盖率(%)", "Recording coverage (%)"}},
    {"recording_rooms", K_NUM, {"录播室数", "Recording rooms"}},
    {"recording_available_pct", K_NUM,
        {"录播室可用率(%)", "Recording availability (%)"}},
    {"recording_checked_rooms", K_NUM,
        {"有主机检测的录播室数", "Recording rooms with host checks"}},
    {"throughput.tests", K_NUM, {"测速次数", "Throughput tests"}},
    {"throughput.schools_tested", K_NUM, {"测速学校数", "Schools tested"}},
    {"throughput.median_mbps", K_NUM,
        {"实测下载中位数(Mbps)", "Measured download median (Mbps)"}},
    {"throughput.worst_mbps", K_NUM,
        {"实测下载最低(Mbps)", "Measured download worst (Mbps)"}},
    {"throughput.below_target", K_NUM,
        {"实测低于目标的学校数", "Schools measured below target"}},
    {"completeness_pct", K_NUM, {"数据完整率(%)", "Data completeness (%)"}},
    {"alerts_opened", K_NUM, {"告警数", "Alerts opened"}},
    {"mttr_min", K_NUM, {"平均修复时间(分钟)", "MTTR (min)"}},
    {"change.schools_passing_pct", K_NUM,
        {"学校达标率较上月(百分点)", "Schools passing change (pts)"}},
    {"change.classrooms_compliant_pct", K_NUM,
        {"班级达标率较上月(百分点)", "Classrooms compliant change (pts)"}},
    {"change.recording_coverage_pct", K_NUM,
        {"录播室覆盖率较上月(百分点)", "Recording coverage change (pts)"}},
    {"change.recording_available_pct", K_NUM,
        {"录播室可用率较上月(百分点)", "Recording availability change (pts)"}},
};

static const struct csv_level {
	const char *name, *rows; /* rows: the model's array */
	const struct csv_col *cols;
	size_t ncols;
	bool total; /* a last row for the district (or the report's scope) */
} csv_levels[] = {
    {"school", "schools", school_csv, nitems(school_csv), false},
    {"classroom", "rooms", room_csv, nitems(room_csv), false},
    {"town", "towns", town_csv, nitems(town_csv), true},
};

/* One text field; RFC 4180 quoting by libcsv when it holds a comma,
 * quote, CR or LF. */
static void
csv_text(FILE *f, const char *s)
{
	/* Excel runs a cell starting with one of these as a formula: a
	 * quote mark makes it text (OWASP "CSV injection"). */
	bool guard;
	size_t n;
	char *t;

	if (s == NULL)
		return;
	guard = s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL;
	if (strpbrk(s, ",\"\r\n") == NULL) {
		if (guard)
			putc('\'', f);
		fputs(s, f);
		return;
	}
	n = strlen(s);
	t = xmalloc(n + 2);
	t[0] = '\'';
	memcpy(t + 1, s, n + 1);
	csv_fwrite(f, guard ? t : t + 1, guard ? n + 1 : n);
	free(t);
}

static void
csv_cell(struct render *r, const struct csv_col *col, const json_t *obj,
    const json_t *names)
{
	const json_t *v = get(obj, col->path);
	char b[NUMBUF];

	switch (col->kind) {
	case K_TEXT:
		csv_text(r->f, json_string_value(v));
		break;
	case K_NUM:
		if (json_is_number(v))
			fputs(fmt_num(b, json_number_value(v)), r->f);
		break;
	case K_BOOL:
		if (json_is_boolean(v))
			fputs(json_is_true(v) ? (r->en ? "yes" : "是")
			                      : (r->en ? "no" : "否"),
			    r->f);
		break;
	case K_STATUS:
		csv_text(r->f,
		    term_text(statuses, nitems(statuses), json_string_value(v),
		        r->en));
		break;
	case K_ROLE:
		csv_text(r->f,
		    term_text(
		        roles, nitems(roles), json_string_value(v), r->en));
		break;
	case K_CAUSE:
		csv_text(r->f,
		    term_text(
		        causes, nitems(causes), json_string_value(v), r->en));
		break;
	case K_BASIS:
		csv_text(r->f,
		    term_text(bases, nitems(bases), json_string_value(v), r->en));
		break;
	case K_SCHOOL_NAME: /* a code is a key, not a path: no get() */
		csv_text(r->f,
		    json_string_value(
		        json_object_get(names, json_string_value(v))));
		break;
	}
}

static void
csv_row(struct render *r, const struct csv_level *lv, const json_t *obj,
    const char *first, const json_t *names)
{
	for (size_t i = 0; i < lv->ncols; i++) {
		if (i > 0)
			putc(',', r->f);
		if (i == 0 && first != NULL)
			csv_text(r->f, first);
		else
			csv_cell(r, &lv->cols[i], obj, names);
	}
	fputs("\r\n", r->f);
}

/* School code → name, for the classroom level (rooms carry the code).
 * Returns a new object, or NULL out of memory. */
static json_t *
school_names(const json_t *schools)
{
	json_t *names = json_object();

	for (size_t i = 0; names != NULL && i < json_array_size(schools); i++) {
		const json_t *s = json_array_get(schools, i);
		const char *code = str(s, "code");

		if (code != NULL && json_is_string(get(s, "name")))
			json_object_set(
			    names, code, json_object_get(s, "name"));
	}
	return names;
}

int
report_write_csv(FILE *f, const json_t *rep, const char *level, bool en)
{
	return report_write_csv_rows(f, rep, level, en, NULL, NULL);
}

int
report_write_csv_rows(FILE *f, const json_t *rep, const char *level,
    bool en, json_t *(*next_room)(void *arg), void *arg)
{
	const struct csv_level *lv = NULL;
	const json_t *rows;
	json_t *names = NULL;
	struct render r;

	for (size_t i = 0; i < nitems(csv_levels); i++)
		if (same(level != NULL ? level : "school", csv_levels[i].name))
			lv = &csv_levels[i];
	if (lv == NULL || render_init(&r, f, rep, en) == -1)
		return -1;
	if (lv->cols == room_csv &&
	    (names = school_names(json_object_get(rep, "schools"))) == NULL)
		return -1;
	fputs(BOM, f);
	for (size_t i = 0; i < lv->ncols; i++) {
		if (i > 0)
			putc(',', f);
		csv_text(f, lv->cols[i].head[en]);
	}
	fputs("\r\n", f);
	if (lv->cols == room_csv && next_room != NULL) {
		json_t *row;

		while ((row = next_room(arg)) != NULL) {
			csv_row(&r, lv, row, NULL, names);
			json_decref(row);
		}
	} else {
		rows = json_object_get(rep, lv->rows);
		for (size_t i = 0; i < json_array_size(rows); i++)
			csv_row(&r, lv, json_array_get(rows, i), NULL, names);
	}
	if (lv->total)
		csv_row(&r, lv, r.district, tr(&r, total_label(&r)), NULL);
	json_decref(names);
	return finish(&r);
}
