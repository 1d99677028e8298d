/* test_notify_format.c: the words of alert notifications, the webhook
 * bodies, and the notifier's lifecycle on a private loop (notify*.c). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "collector.h"
#include "schoolnet/utf8.h"

#define OFF_CN (8 * 60) /* UTC+8 */

/* 2026-11-23 00:15:00 UTC = 08:15 in China. */
static uint64_t
utc_ms(int y, int mo, int d, int h, int mi)
{
	struct tm tm = {.tm_year = y - 1900,
	    .tm_mon = mo - 1,
	    .tm_mday = d,
	    .tm_hour = h,
	    .tm_min = mi};

	return (uint64_t)timegm(&tm) * 1000;
}

static struct alert_event
classroom_event(const char *event, const char *cause)
{
	struct alert_event ev = {
	    .alert_id = 4242,
	    .event = event,
	    .cause = cause,
	    .role = "classroom",
	    .school_code = "S001",
	    .school_name = "城关镇中心小学",
	    .town = "城关镇",
	    .room = "三年级2班",
	    .switch_name = "access1",
	    .port = "GigabitEthernet0/0/5",
	    .agent = "agent-s001",
	    .speed_mbps = 10,
	    .target_mbps = 100,
	    .errors_per_min = 120,
	    .since_ms = utc_ms(2026, 11, 23, 0, 15),
	    .at_ms = utc_ms(2026, 11, 23, 2, 30),
	    .detail = "",
	};

	return ev;
}

struct rendered {
	char *title, *text;
};

static struct rendered
render(const struct alert_event *ev, int lang)
{
	struct rendered r;

	notify_render(ev, lang, OFF_CN, &r.title, &r.text);
	cr_assert_not_null(r.title);
	cr_assert_not_null(r.text);
	return r;
}

static void
rendered_free(struct rendered *r)
{
	free(r->title);
	free(r->text);
}

#define assert_has(hay, needle, what)              \
	cr_expect(strstr((hay), (needle)) != NULL, \
	    "%s: expected \"%s\" in:\n%s", (what), (needle), (hay))

/* Title and text are clean: valid UTF-8, no CR anywhere, no LF in the
 * title (it becomes a mail Subject and a chat title). */
static void
assert_clean(const struct rendered *r)
{
	cr_expect(utf8_valid_label(r->title, strlen(r->title)),
	    "title is not a clean one-line label: %s", r->title);
	cr_expect(strchr(r->text, '\r') == NULL, "CR in the text");
	for (const char *p = r->text; *p;) {
		size_t n = strcspn(p, "\n");

		cr_expect(utf8_valid_label(p, n), "text line not clean: %.*s",
		    (int)n, p);
		p += n;
		if (*p)
			p++;
	}
}

/* --- every cause, both languages --------------------------------------- */

struct cause_case {
	const char *cause, *role;
	const char *zh_title, *en_title; /* the problem as the title says it */
	bool shows_room;                 /* the room is named */
	bool shows_port;                 /* switch and port are named */
};

static const struct cause_case causes[] = {
    {"port_down", "classroom", "网口断开", "port down", true, true},
    {"speed_low", "classroom", "网口降为 10 Mbps（要求 ≥100 Mbps）",
        "port at 10 Mbps (needs 100 Mbps)", true, true},
    {"half_duplex", "classroom", "半双工", "half duplex", true, true},
    {"errors", "classroom", "错误包 120 个/分钟", "120 errors per minute", true,
        true},
    {"uplink_down", "uplink", "学校出口断开", "school uplink down", false,
        true},
    {"uplink_speed_low", "uplink", "学校出口 10 Mbps",
        "school uplink at 10 Mbps", false, true},
    {"agent_offline", "", "监测代理离线，可能断网或断电",
        "monitoring agent offline", false, false},
    {"switch_unreachable", "", "交换机 access1 无响应",
        "switch access1 not answering", false, false},
    {"throughput_low", "uplink", "学校出口实测带宽远低于协商的 10 Mbps",
        "school uplink measures far below its 10 Mbps", false, true},
    {"latency_high", "", "网络延迟过高", "network latency too high", false,
        false},
    {"loss_high", "", "网络丢包过多", "packet loss too high", false, false},
    {"recording_unavailable", "recording", "录播室 三年级2班 不可用",
        "recording room 三年级2班: unavailable", true, true},
};

Test(notify_format, every_cause_zh_names_the_facts)
{
	for (size_t i = 0; i < sizeof(causes) / sizeof(causes[0]); i++) {
		const struct cause_case *c = &causes[i];
		struct alert_event ev = classroom_event("raise", c->cause);
		struct rendered r;

		ev.role = c->role;
		r = render(&ev, 0);
		cr_expect(strncmp(r.title, "【网络告警】",
		              strlen("【网络告警】")) == 0,
		    "%s: title %s", c->cause, r.title);
		assert_has(r.title, "城关镇中心小学", c->cause);
		assert_has(r.title, c->zh_title, c->cause);
		assert_has(
		    r.text, "学校：城关镇中心小学（S001，城关镇）", c->cause);
		assert_has(r.text, "开始时间：2026-11-23 08:15", c->cause);
		assert_has(r.text, "告警编号：4242", c->cause);
		assert_has(r.text, "请检查：", c->cause);
		if (c->shows_room) {
			assert_has(r.title, "三年级2班", c->cause);
			assert_has(r.text, "三年级2班", c->cause);
		}
		if (c->shows_port)
			assert_has(r.text,
			    "交换机 access1 端口 GigabitEthernet0/0/5",
			    c->cause);
		assert_clean(&r);
		rendered_free(&r);
	}
}

Test(notify_format, every_cause_en_names_the_facts)
{
	for (size_t i = 0; i < sizeof(causes) / sizeof(causes[0]); i++) {
		const struct cause_case *c = &causes[i];
		struct alert_event ev = classroom_event("raise", c->cause);
		struct rendered r;

		ev.role = c->role;
		r = render(&ev, 1);
		cr_expect(strncmp(r.title, "[ALERT] ", 8) == 0, "%s: title %s",
		    c->cause, r.title);
		assert_has(r.title, "城关镇中心小学", c->cause);
		assert_has(r.title, c->en_title, c->cause);
		assert_has(
		    r.text, "School: 城关镇中心小学 (S001, 城关镇)", c->cause);
		assert_has(r.text, "Since: 2026-11-23 08:15", c->cause);
		assert_has(r.text, "Alert ID: 4242", c->cause);
		assert_has(r.text, "Check: ", c->cause);
		cr_expect(strstr(r.text, "请检查") == NULL,
		    "%s: Chinese hint in en", c->cause);
		if (c->shows_room)
			assert_has(r.title, "三年级2班", c->cause);
		if (c->shows_port)
			assert_has(r.text,
			    "switch access1 port GigabitEthernet0/0/5",
			    c->cause);
		assert_clean(&r);
		rendered_free(&r);
	}
}

Test(notify_format, speed_low_text_has_value_and_target)
{
	struct alert_event ev = classroom_event("raise", "speed_low");
	struct rendered zh = render(&ev, 0), en = render(&ev, 1);

	cr_expect_str_eq(zh.title,
	    "【网络告警】城关镇中心小学 三年级2班 网口降为 10 Mbps（要求 ≥100 "
	    "Mbps）");
	assert_has(zh.text, "网口协商速率 10 Mbps，要求 ≥100 Mbps", "zh");
	assert_has(zh.text, "水晶头", "zh hint");
	assert_has(en.text, "negotiated 10 Mbps; it must reach 100 Mbps", "en");
	rendered_free(&zh);
	rendered_free(&en);
}

Test(notify_format, uplink_speed_low_says_gigabit)
{
	struct alert_event ev = classroom_event("raise", "uplink_speed_low");
	struct rendered r;

	ev.role = "uplink";
	ev.room = "";
	ev.speed_mbps = 100;
	ev.target_mbps = 1000;
	r = render(&ev, 0);
	cr_expect_str_eq(
	    r.title, "【网络告警】城关镇中心小学 学校出口 100 Mbps，未达千兆");
	assert_has(r.text, "要求 ≥1000 Mbps", "zh text");
	assert_has(r.text,
	    "位置：学校出口，交换机 access1 端口 GigabitEthernet0/0/5",
	    "zh location");
	rendered_free(&r);
}

Test(notify_format, recording_room_is_named_so)
{
	struct alert_event ev = classroom_event("raise", "port_down");
	struct rendered r;

	ev.role = "recording";
	ev.room = "一号";
	r = render(&ev, 0);
	assert_has(r.title, "录播室 一号", "zh");
	rendered_free(&r);
	ev.room = "录播室";
	r = render(&ev, 0);
	cr_expect(
	    strstr(r.title, "录播室 录播室") == NULL, "doubled: %s", r.title);
	rendered_free(&r);
}

Test(notify_format, errors_and_switch_detail)
{
	struct alert_event ev = classroom_event("raise", "errors");
	struct rendered r;

	ev.errors_per_min = 3.5;
	r = render(&ev, 0);
	assert_has(r.title, "错误包 3.5 个/分钟", "fractional errors");
	rendered_free(&r);

	ev = classroom_event("raise", "switch_unreachable");
	ev.detail = "Timeout (no response from 10.1.1.2:161)";
	r = render(&ev, 0);
	assert_has(
	    r.text, "详情：Timeout (no response from 10.1.1.2:161)", "detail");
	assert_has(r.text, "位置：交换机 access1", "switch");
	rendered_free(&r);
}

Test(notify_format, time_uses_the_offset)
{
	struct alert_event ev = classroom_event("raise", "port_down");
	char *title, *text;

	/* 00:15 UTC is 08:15 at +8 and 2026-11-22 19:15 at -5. */
	notify_render(&ev, 0, -5 * 60, &title, &text);
	assert_has(text, "开始时间：2026-11-22 19:15", "UTC-5");
	free(title);
	free(text);
	notify_render(&ev, 0, 0, &title, &text);
	assert_has(text, "开始时间：2026-11-23 00:15", "UTC");
	free(title);
	free(text);
}

Test(notify_format, unknown_cause_still_renders)
{
	struct alert_event ev = classroom_event("raise", "cosmic_rays");
	struct rendered r = render(&ev, 0);

	assert_has(r.title, "cosmic_rays", "the cause is named");
	assert_has(r.title, "城关镇中心小学", "school");
	assert_clean(&r);
	rendered_free(&r);
}

/* --- clear, flapping, test --------------------------------------------- */

Test(notify_format, clear_says_how_long)
{
	struct alert_event ev = classroom_event("clear", "speed_low");
	struct rendered zh, en;

	ev.speed_mbps = 1000; /* what it is now */
	zh = render(&ev, 0);
	en = render(&ev, 1);
	cr_expect_str_eq(zh.title,
	    "【已恢复】城关镇中心小学 三年级2班 网口速率不足（持续 2 小时 15 "
	    "分钟）");
	assert_has(zh.text, "持续：2 小时 15 分钟", "zh duration");
	assert_has(zh.text, "恢复时间：2026-11-23 10:30", "zh recovered at");
	assert_has(zh.text, "开始时间：2026-11-23 08:15", "zh since");
	assert_has(zh.text, "现为 1000 Mbps", "zh now");
	cr_expect(strncmp(en.title, "[RECOVERED] ", 12) == 0, "%s", en.title);
	assert_has(en.title, "(lasted 2 h 15 min)", "en duration");
	assert_has(en.text, "Lasted: 2 h 15 min", "en duration");
	assert_clean(&zh);
	assert_clean(&en);
	rendered_free(&zh);
	rendered_free(&en);
}

Test(notify_format, clear_durations)
{
	static const struct {
		uint64_t ms;
		const char *zh, *en;
	} cases[] = {
	    {30 * 1000, "不到 1 分钟", "less than a minute"},
	    {7 * 60 * 1000, "7 分钟", "7 min"},
	    {(26 * 60 + 5) * 60 * 1000ULL, "1 天 2 小时", "1 d 2 h"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct alert_event ev = classroom_event("clear", "port_down");
		struct rendered zh, en;

		ev.at_ms = ev.since_ms + cases[i].ms;
		zh = render(&ev, 0);
		en = render(&ev, 1);
		assert_has(zh.title, cases[i].zh, "zh");
		assert_has(en.title, cases[i].en, "en");
		rendered_free(&zh);
		rendered_free(&en);
	}
}

Test(notify_format, flapping_says_notifications_pause)
{
	struct alert_event ev = classroom_event("flapping", "port_down");
	struct rendered zh = render(&ev, 0), en = render(&ev, 1);

	cr_expect(
	    strncmp(zh.title, "【频繁波动】", strlen("【频繁波动】")) == 0,
	    "%s", zh.title);
	assert_has(zh.title, "三年级2班", "zh room");
	assert_has(zh.text, "暂停发送通知", "zh pause");
	assert_has(zh.text, "稳定后", "zh until stable");
	cr_expect(strncmp(en.title, "[FLAPPING] ", 11) == 0, "%s", en.title);
	assert_has(en.text, "pause until it is stable", "en pause");
	rendered_free(&zh);
	rendered_free(&en);
}

Test(notify_format, test_message)
{
	struct alert_event ev = {
	    .event = "test", .at_ms = utc_ms(2026, 11, 23, 0, 15)};
	struct rendered zh = render(&ev, 0), en = render(&ev, 1);

	cr_expect_str_eq(zh.title, "【测试】schoolnet 通知测试");
	assert_has(zh.text, "测试消息", "zh");
	assert_has(zh.text, "2026-11-23 08:15", "zh time");
	cr_expect_str_eq(en.title, "[TEST] schoolnet notification test");
	assert_has(en.text, "test message", "en");
	rendered_free(&zh);
	rendered_free(&en);
}

/* --- hostile field values ---------------------------------------------- */

Test(notify_format, no_line_injection_from_fields)
{
	struct alert_event ev = classroom_event("raise", "speed_low");
	struct rendered r;
	char *body;

	ev.school_name = "小学\r\nBcc: victim@example.com";
	ev.room = "3班\n\n**fake**";
	ev.port = "Gi0/1\rX-Evil: 1";
	ev.detail = "line1\nline2";
	for (int lang = 0; lang < 2; lang++) {
		r = render(&ev, lang);
		assert_clean(&r);
		cr_expect(strchr(r.title, '\n') == NULL, "LF in title");
		for (const char *p = r.text; (p = strchr(p, '\n')) != NULL; p++)
			cr_expect(strncmp(p + 1, "Bcc:", 4) != 0 &&
			        strncmp(p + 1, "X-Evil", 6) != 0 &&
			        strncmp(p + 1, "**fake", 6) != 0 &&
			        strncmp(p + 1, "line2", 5) != 0,
			    "a field value started a line:\n%s", r.text);
		assert_has(
		    r.title, "小学??Bcc: victim@example.com", "kept, defused");
		body = notify_webhook_body(HOOK_GENERIC, &ev, r.title, r.text);
		cr_expect(
		    strstr(body, "\\r") == NULL, "CR in the JSON: %s", body);
		free(body);
		rendered_free(&r);
	}
}

Test(notify_format, long_fields_are_cut_on_characters)
{
	struct alert_event ev = classroom_event("raise", "port_down");
	char name[3 * 1000 + 1], room[2001];
	struct rendered r;

	for (int i = 0; i < 1000; i++)
		memcpy(name + 3 * i, "校", 3); /* 3 bytes each */
	name[sizeof(name) - 1] = '\0';
	memset(room, 'R', sizeof(room) - 1);
	room[sizeof(room) - 1] = '\0';
	ev.school_name = name;
	ev.room = room;
	ev.detail = room;
	r = render(&ev, 0);
	assert_clean(&r);
	cr_expect(strlen(r.title) < 400, "title is %zu bytes", strlen(r.title));
	cr_expect(strlen(r.text) < 2048, "text is %zu bytes (WeCom text cap)",
	    strlen(r.text));
	assert_has(r.title, "校校…", "cut with an ellipsis");
	assert_has(r.title, "RR…", "room cut with an ellipsis");
	rendered_free(&r);
}

Test(notify_format, invalid_utf8_never_breaks_json)
{
	struct alert_event ev = classroom_event("raise", "port_down");
	static const int formats[] = {
	    HOOK_GENERIC, HOOK_WECOM, HOOK_DINGTALK, HOOK_FEISHU};
	struct rendered r;

	ev.school_name = "\xff\xfe bad \xe5\x9f";
	ev.room = "\xc0\xaf";
	r = render(&ev, 0);
	assert_clean(&r);
	for (size_t i = 0; i < 4; i++) {
		char *body =
		    notify_webhook_body(formats[i], &ev, r.title, r.text);
		json_error_t e;
		json_t *j = json_loads(body, 0, &e);

		cr_expect_not_null(
		    j, "format %d: %s: %s", formats[i], e.text, body);
		json_decref(j);
		free(body);
	}
	rendered_free(&r);
}

/* --- webhook bodies ---------------------------------------------------- */

static json_t *
body_json(int format, const struct alert_event *ev, const struct rendered *r)
{
	char *body = notify_webhook_body(format, ev, r->title, r->text);
	json_error_t e;
	json_t *j = json_loads(body, 0, &e);

	cr_assert_not_null(j, "not JSON (%s): %s", e.text, body);
	cr_assert(json_is_object(j));
	free(body);
	return j;
}

static const char *
jpath_str(json_t *j, const char *a, const char *b)
{
	json_t *v = json_object_get(j, a);

	if (b)
		v = json_object_get(v, b);
	cr_assert(json_is_string(v), "%s%s%s is not a string", a, b ? "." : "",
	    b ? b : "");
	return json_string_value(v);
}

Test(notify_format, wecom_body)
{
	struct alert_event ev = classroom_event("raise", "speed_low");
	struct rendered r = render(&ev, 0);
	json_t *j = body_json(HOOK_WECOM, &ev, &r);
	const char *md = jpath_str(j, "markdown", "content");
	char want[512];

	cr_expect_str_eq(jpath_str(j, "msgtype", NULL), "markdown");
	cr_expect_eq(json_object_size(j), 2);
	snprintf(want, sizeof(want), "**%s**\n", r.title);
	cr_expect(strncmp(md, want, strlen(want)) == 0, "bold title: %s", md);
	assert_has(md, "\n> 学校：城关镇中心小学", "quoted details");
	assert_has(md, "\n> 开始时间：2026-11-23 08:15", "quoted time");
	assert_has(md, "\n请检查：", "hint unquoted");
	cr_expect(strlen(md) < 4096, "WeCom markdown cap");
	json_decref(j);
	rendered_free(&r);
}

Test(notify_format, dingtalk_body)
{
	struct alert_event ev = classroom_event("raise", "port_down");
	struct rendered r = render(&ev, 0);
	json_t *j = body_json(HOOK_DINGTALK, &ev, &r);
	const char *md = jpath_str(j, "markdown", "text");

	cr_expect_str_eq(jpath_str(j, "msgtype", NULL), "markdown");
	cr_expect_str_eq(jpath_str(j, "markdown", "title"), r.title);
	cr_expect(strncmp(md, "**【网络告警】", strlen("**【网络告警】")) == 0,
	    "%s", md);
	assert_has(md,
	    "> 位置：三年级2班，交换机 access1 端口 GigabitEthernet0/0/5  \n",
	    "quoted with a hard break");
	json_decref(j);
	rendered_free(&r);
}

Test(notify_format, feishu_body)
{
	struct alert_event ev = classroom_event("clear", "port_down");
	struct rendered r = render(&ev, 1);
	json_t *j = body_json(HOOK_FEISHU, &ev, &r);
	const char *text = jpath_str(j, "content", "text");

	cr_expect_str_eq(jpath_str(j, "msg_type", NULL), "text");
	cr_expect(strncmp(text, r.title, strlen(r.title)) == 0 &&
	        text[strlen(r.title)] == '\n',
	    "title line first: %s", text);
	cr_expect_str_eq(text + strlen(r.title) + 1, r.text);
	cr_expect(strstr(text, "**") == NULL, "plain text, not markdown");
	json_decref(j);
	rendered_free(&r);
}

Test(notify_format, generic_body)
{
	struct alert_event ev = classroom_event("raise", "errors");
	struct rendered r = render(&ev, 0);
	json_t *j = body_json(HOOK_GENERIC, &ev, &r);
	json_t *a = json_object_get(j, "alert");
	static const char *const strs[] = {"cause", "role", "school_code",
	    "school_name", "town", "room", "switch", "port", "agent", "since",
	    "at", "detail"};

	cr_expect_str_eq(jpath_str(j, "event", NULL), "raise");
	cr_expect_str_eq(jpath_str(j, "title", NULL), r.title);
	cr_expect_str_eq(jpath_str(j, "text", NULL), r.text);
	cr_assert(json_is_object(a));
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		cr_expect(json_is_string(json_object_get(a, strs[i])),
		    "alert.%s is a string", strs[i]);
	cr_expect_eq(json_integer_value(json_object_get(a, "id")), 4242);
	cr_expect_eq(json_integer_value(json_object_get(a, "speed_mbps")), 10);
	cr_expect_eq(
	    json_integer_value(json_object_get(a, "target_mbps")), 100);
	cr_expect(json_is_number(json_object_get(a, "errors_per_min")));
	cr_expect_eq(
	    json_number_value(json_object_get(a, "errors_per_min")), 120.0);
	cr_expect_str_eq(jpath_str(a, "since", NULL), "2026-11-23T00:15:00Z");
	cr_expect_str_eq(jpath_str(a, "at", NULL), "2026-11-23T02:30:00Z");
	cr_expect_str_eq(jpath_str(a, "school_name", NULL), "城关镇中心小学");
	cr_expect_str_eq(jpath_str(a, "switch", NULL), "access1");
	cr_expect_str_eq(jpath_str(a, "port", NULL), "GigabitEthernet0/0/5");
	json_decref(j);
	rendered_free(&r);
}

/* --- the notifier on a private loop ------------------------------------ */

struct seen {
	int calls;
	int64_t id;
	struct notify_result res;
	bool in_send;
	bool called_in_send;
	bool closed;
};

static void
on_result(void *arg, int64_t id, const struct notify_result *res)
{
	struct seen *s = arg;

	s->calls++;
	s->id = id;
	s->res = *res;
	if (s->in_send)
		s->called_in_send = true;
}

static void
on_closed(void *arg)
{
	((struct seen *)arg)->closed = true;
}

static struct collector_conf
conf_empty(void)
{
	struct collector_conf c;

	memset(&c, 0, sizeof(c));
	return c;
}

TestSuite(notifier, .timeout = 60);

Test(notifier, close_idle_leaves_nothing)
{
	struct collector_conf conf = conf_empty();
	struct seen s = {0};
	uv_loop_t loop;
	struct notifier *n;

	cr_assert_eq(uv_loop_init(&loop), 0);
	n = notifier_new(&loop, &conf, OFF_CN, on_result, &s);
	cr_expect_eq(notifier_inflight(n), 0);
	notifier_close(n, on_closed, &s);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_expect(s.closed);
	cr_expect_eq(uv_loop_close(&loop), 0);
}

Test(notifier, immediate_failure_is_deferred)
{
	struct collector_conf conf = conf_empty(); /* no [smtp] */
	struct receiver_conf r = {
	    .kind = RECEIVER_EMAIL, .name = "mail", .to = "a@b.cn"};
	struct alert_event ev = classroom_event("raise", "port_down");
	struct seen s = {0};
	uv_loop_t loop;
	struct notifier *n;

	cr_assert_eq(uv_loop_init(&loop), 0);
	n = notifier_new(&loop, &conf, OFF_CN, on_result, &s);
	s.in_send = true;
	notifier_send(n, 7, &r, &ev);
	s.in_send = false;
	cr_expect_eq(s.calls, 0, "the callback ran inside notifier_send");
	cr_expect_eq(notifier_inflight(n), 1);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_expect_eq(s.calls, 1);
	cr_expect_not(s.called_in_send);
	cr_expect_eq(s.id, 7);
	cr_expect_not(s.res.ok);
	assert_has(s.res.error, "smtp", "the reason");
	cr_expect_eq(notifier_inflight(n), 0);
	notifier_close(n, on_closed, &s);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_expect(s.closed);
	cr_expect_eq(uv_loop_close(&loop), 0);
}

/* A peer that accepts the connection (the kernel does, from the backlog)
 * and never answers: the attempt stays in flight until closed. */
static int
silent_listener(int *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 8), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static void
on_tick(uv_timer_t *t)
{
	uv_stop(t->loop);
}

Test(notifier, close_aborts_in_flight_without_callback)
{
	struct collector_conf conf = conf_empty();
	struct receiver_conf r = {.kind = RECEIVER_WEBHOOK,
	    .name = "hook",
	    .format = HOOK_WECOM,
	    .timeout = 30};
	struct alert_event ev = classroom_event("raise", "port_down");
	struct seen s = {0};
	uv_loop_t loop;
	uv_timer_t tick;
	struct notifier *n;
	int port, fd = silent_listener(&port);

	snprintf(r.url, sizeof(r.url), "http://127.0.0.1:%d/send?key=k", port);
	cr_assert_eq(uv_loop_init(&loop), 0);
	n = notifier_new(&loop, &conf, OFF_CN, on_result, &s);
	notifier_send(n, 1, &r, &ev);
	notifier_send(n, 2, &r, &ev);
	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, on_tick, 300, 0);
	uv_run(&loop, UV_RUN_DEFAULT); /* connect, send, wait for a reply */
	cr_expect_eq(notifier_inflight(n), 2);
	cr_expect_eq(s.calls, 0);
	notifier_close(n, on_closed, &s);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_expect(s.closed);
	cr_expect_eq(s.calls, 0, "a callback ran after close");
	cr_expect_eq(uv_loop_close(&loop), 0);
	close(fd);
}

Test(notifier, timeout_is_reported)
{
	struct collector_conf conf = conf_empty();
	struct receiver_conf r = {.kind = RECEIVER_WEBHOOK,
	    .name = "hook",
	    .format = HOOK_GENERIC,
	    .timeout = 1};
	struct alert_event ev = classroom_event("raise", "port_down");
	struct seen s = {0};
	uv_loop_t loop;
	struct notifier *n;
	int port, fd = silent_listener(&port);
	uint64_t t0;

	snprintf(r.url, sizeof(r.url), "http://127.0.0.1:%d/hook", port);
	cr_assert_eq(uv_loop_init(&loop), 0);
	n = notifier_new(&loop, &conf, OFF_CN, on_result, &s);
	t0 = uv_now(&loop);
	notifier_send(n, 3, &r, &ev);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_update_time(&loop);
	cr_expect_eq(s.calls, 1);
	cr_expect_not(s.res.ok);
	assert_has(s.res.error, "imed out", "curl's timeout text");
	cr_expect(uv_now(&loop) - t0 < 3000, "took %llu ms",
	    (unsigned long long)(uv_now(&loop) - t0));
	notifier_close(n, on_closed, &s);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_expect_eq(uv_loop_close(&loop), 0);
	close(fd);
}

/* The callback may close the notifier: the rest is dropped quietly. */
struct closing_ctx {
	struct notifier *n;
	int calls;
	bool closed;
};

static void
set_true(void *arg)
{
	*(bool *)arg = true;
}

static void
close_from_cb(void *arg, int64_t id, const struct notify_result *res)
{
	struct closing_ctx *c = arg;

	(void)id;
	(void)res;
	c->calls++;
	notifier_close(c->n, set_true, &c->closed);
}

Test(notifier, close_from_the_callback)
{
	struct collector_conf conf = conf_empty(); /* e-mail fails at once */
	struct receiver_conf r = {
	    .kind = RECEIVER_EMAIL, .name = "mail", .to = "a@b.cn"};
	struct alert_event ev = classroom_event("raise", "port_down");
	struct closing_ctx c = {0};
	uv_loop_t loop;

	cr_assert_eq(uv_loop_init(&loop), 0);
	c.n = notifier_new(&loop, &conf, OFF_CN, close_from_cb, &c);
	notifier_send(c.n, 1, &r, &ev);
	notifier_send(c.n, 2, &r, &ev);
	notifier_send(c.n, 3, &r, &ev);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_expect_eq(c.calls, 1, "callbacks after close: %d", c.calls);
	cr_expect(c.closed);
	cr_expect_eq(uv_loop_close(&loop), 0);
}
