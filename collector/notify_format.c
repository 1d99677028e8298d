/* notify_format.c: the words of an alert notification (zh/en) and the
 * request body of each webhook format. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "collector.h"
#include "schoolnet/log.h"
#include "schoolnet/mem.h"
#include "schoolnet/timeutil.h"
#include "schoolnet/utf8.h"

/*
 * Field values come from switches, agents and the inventory. Each is cut
 * to a sane length (on a character boundary, with "…") and made a valid
 * one-line label: control characters, CR and LF included, become '?', so
 * no value can add a line to a message or a header to a mail.
 */
#define NAME_MAX_BYTES 120      /* school name, room, switch, port, agent */
#define CODE_MAX_BYTES 64       /* school code, town, cause, role, event */
#define DETAIL_MAX_BYTES 300    /* free text such as an SNMP error */
#define ELLIPSIS "\xe2\x80\xa6" /* U+2026 */

/* What a message says, every string cleaned. */
struct words {
	bool en;
	int64_t id;
	char event[CODE_MAX_BYTES + 4], cause[CODE_MAX_BYTES + 4];
	char role[CODE_MAX_BYTES + 4];
	char code[CODE_MAX_BYTES + 4], town[CODE_MAX_BYTES + 4];
	char school[NAME_MAX_BYTES + 4], room[NAME_MAX_BYTES + 4];
	char sw[NAME_MAX_BYTES + 4], port[NAME_MAX_BYTES + 4];
	char agent[NAME_MAX_BYTES + 4];
	char detail[DETAIL_MAX_BYTES + 4];
	uint32_t speed, target;
	double errors;
	uint64_t since, at;
	int off_min;
};

/* A growing string (messages are small; out of memory is fatal). */
struct sb {
	char *p;
	size_t len, cap;
};

static void sb_printf(struct sb *b, const char *fmt, ...) SN_PRINTF(2, 3);

static void
sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(
	    b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatalx("notify: bad format");
	if (b->p == NULL || b->len + (size_t)n >= b->cap) {
		size_t want = b->len + (size_t)n + 1;

		b->cap = want < 256 ? 256 : want * 2;
		b->p = xreallocarray(b->p, b->cap, 1);
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

static void
sb_puts(struct sb *b, const char *s)
{
	sb_printf(b, "%s", s);
}

/* The finished string, owned by the caller. */
static char *
sb_take(struct sb *b)
{
	if (b->p == NULL)
		return xstrdup("");
	return b->p;
}

/* Copy src into dst[size] as a clean label of at most size - 4 bytes,
 * ending in "…" when it had to be cut. */
static void
clean(char *dst, size_t size, const char *src)
{
	size_t len = src ? strlen(src) : 0, used;

	used = utf8_sanitize(dst, size - 3, src ? src : "", len);
	/* utf8_sanitize writes one byte per byte read, so it stopped early
	 * exactly when fewer bytes came out than went in. */
	if (used < len)
		memcpy(dst + used, ELLIPSIS, sizeof(ELLIPSIS));
}

static void
words_init(
    struct words *w, const struct alert_event *ev, int lang, int utc_offset_min)
{
	memset(w, 0, sizeof(*w));
	w->en = lang == 1;
	w->id = ev->alert_id;
	clean(w->event, sizeof(w->event), ev->event);
	clean(w->cause, sizeof(w->cause), ev->cause);
	clean(w->role, sizeof(w->role), ev->role);
	clean(w->code, sizeof(w->code), ev->school_code);
	clean(w->town, sizeof(w->town), ev->town);
	clean(w->school, sizeof(w->school), ev->school_name);
	clean(w->room, sizeof(w->room), ev->room);
	clean(w->sw, sizeof(w->sw), ev->switch_name);
	clean(w->port, sizeof(w->port), ev->port);
	clean(w->agent, sizeof(w->agent), ev->agent);
	clean(w->detail, sizeof(w->detail), ev->detail);
	if (w->school[0] == '\0')
		memcpy(w->school, w->code, sizeof(w->code));
	w->speed = ev->speed_mbps;
	w->target = ev->target_mbps;
	w->errors = ev->errors_per_min;
	w->since = ev->since_ms;
	w->at = ev->at_ms;
	w->off_min = utc_offset_min;
}

static bool
is(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* "2026-11-23 08:15" in local time (the given offset from UTC). */
static void
local_time(const struct words *w, uint64_t ms, char *buf, size_t size)
{
	time_t t;
	struct tm tm;
	int n;

	if (ms == 0) {
		snprintf(buf, size, "%s", w->en ? "unknown" : "未知");
		return;
	}
	t = (time_t)((int64_t)(ms / 1000) + (int64_t)w->off_min * 60);
	gmtime_r(&t, &tm);
	/* Checked so gcc -O2 sees truncation handled (a year past 9999). */
	n = snprintf(buf, size, "%04d-%02d-%02d %02d:%02d", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min);
	if (n < 0 || (size_t)n >= size)
		buf[size - 1] = '\0';
}

/* How long from since to at: "2 小时 15 分钟" / "2 h 15 min". */
static void
duration(const struct words *w, char *buf, size_t size)
{
	uint64_t min;

	if (w->since == 0 || w->at < w->since) {
		snprintf(buf, size, "%s", w->en ? "unknown" : "未知");
		return;
	}
	min = (w->at - w->since) / 60000;
	if (min == 0)
		snprintf(buf, size, "%s",
		    w->en ? "less than a minute" : "不到 1 分钟");
	else if (min < 60)
		snprintf(buf, size,
		    w->en ? "%" PRIu64 " min" : "%" PRIu64 " 分钟", min);
	else if (min < 24 * 60)
		snprintf(buf, size,
		    w->en ? "%" PRIu64 " h %" PRIu64 " min"
		          : "%" PRIu64 " 小时 %" PRIu64 " 分钟",
		    min / 60, min % 60);
	else
		snprintf(buf, size,
		    w->en ? "%" PRIu64 " d %" PRIu64 " h"
		          : "%" PRIu64 " 天 %" PRIu64 " 小时",
		    min / (24 * 60), min / 60 % 24);
}

/* "120" or "3.5": errors per minute as people read them. */
static void
errors_str(const struct words *w, char *buf, size_t size)
{
	if (!isfinite(w->errors))
		snprintf(buf, size, "?");
	else if (w->errors >= 10 || w->errors <= -10 ||
	    w->errors == (double)(int)w->errors)
		snprintf(buf, size, "%.0f", w->errors);
	else
		snprintf(buf, size, "%.1f", w->errors);
}

enum cause {
	C_PORT_DOWN,
	C_SPEED_LOW,
	C_HALF_DUPLEX,
	C_ERRORS,
	C_UPLINK_DOWN,
	C_UPLINK_SPEED_LOW,
	C_AGENT_OFFLINE,
	C_SWITCH_UNREACHABLE,
	C_THROUGHPUT_LOW,
	C_LATENCY_HIGH,
	C_LOSS_HIGH,
	C_RECORDING_UNAVAILABLE,
	C_OTHER,
};

static const char *const cause_names[] = {
    [C_PORT_DOWN] = "port_down",
    [C_SPEED_LOW] = "speed_low",
    [C_HALF_DUPLEX] = "half_duplex",
    [C_ERRORS] = "errors",
    [C_UPLINK_DOWN] = "uplink_down",
    [C_UPLINK_SPEED_LOW] = "uplink_speed_low",
    [C_AGENT_OFFLINE] = "agent_offline",
    [C_SWITCH_UNREACHABLE] = "switch_unreachable",
    [C_THROUGHPUT_LOW] = "throughput_low",
    [C_LATENCY_HIGH] = "latency_high",
    [C_LOSS_HIGH] = "loss_high",
    [C_RECORDING_UNAVAILABLE] = "recording_unavailable",
};

/* Short names, for recovered and flapping messages. */
static const char *const cause_short[][2] = {
    [C_PORT_DOWN] = {"网口断开", "port down"},
    [C_SPEED_LOW] = {"网口速率不足", "port speed too low"},
    [C_HALF_DUPLEX] = {"网口半双工", "port in half duplex"},
    [C_ERRORS] = {"错误包过多", "too many errors"},
    [C_UPLINK_DOWN] = {"学校出口断开", "school uplink down"},
    [C_UPLINK_SPEED_LOW] = {"学校出口速率不足", "school uplink too slow"},
    [C_AGENT_OFFLINE] = {"监测代理离线", "monitoring agent offline"},
    [C_SWITCH_UNREACHABLE] = {"交换机无响应", "switch not answering"},
    [C_THROUGHPUT_LOW] = {"学校出口实测带宽不足", "school uplink measures too slow"},
    [C_LATENCY_HIGH] = {"网络延迟过高", "network latency too high"},
    [C_LOSS_HIGH] = {"网络丢包过多", "packet loss too high"},
    [C_RECORDING_UNAVAILABLE] = {"录播室不可用", "recording room unavailable"},
    [C_OTHER] = {"网络异常", "network problem"},
};

/* What to check, per cause: short enough for a phone screen. */
static const char *const cause_hint[][2] = {
    [C_PORT_DOWN] = {"请检查：终端设备是否开机，网线和水晶头是否松脱或损坏，"
                     "交换机端口是否被关闭。",
        "Check: is the device in the room on, is the cable or its plug "
        "loose or damaged, is the switch port disabled?"},
    [C_SPEED_LOW] = {"请检查：网线（应为超五类及以上、八芯全通）、水晶头是否"
                     "压接良好，交换机端口协商（应为自动协商）。",
        "Check: the cable (Cat5e or better, all 8 wires), the plugs, and "
        "the switch port's negotiation (should be auto)."},
    [C_HALF_DUPLEX] = {"请检查：交换机端口和终端的双工设置（两端都应为自动"
                       "协商），以及网线、水晶头。",
        "Check: the duplex setting of the switch port and the device (both "
        "should be auto), and the cable and plugs."},
    [C_ERRORS] = {"请检查：网线、水晶头、端口是否受损或受干扰，可更换网线或"
                  "换一个交换机端口试试。",
        "Check: damaged or disturbed cable, plugs or port; try another "
        "cable or switch port."},
    [C_UPLINK_DOWN] = {"请检查：学校出口交换机/路由器是否通电，上联光纤或网线"
                       "是否正常；必要时联系运营商或城域网维护人员。",
        "Check: power of the school's uplink switch/router and the uplink "
        "fibre or cable; call the carrier or metro network staff if "
        "needed."},
    [C_UPLINK_SPEED_LOW] = {"请检查：出口端口协商速率，光模块或网线是否支持"
                            "千兆；向运营商核实开通带宽。",
        "Check: the uplink port's negotiated speed, whether the optic or "
        "cable supports 1 Gbps; confirm the contracted bandwidth with the "
        "carrier."},
    [C_AGENT_OFFLINE] = {"请检查：学校机房是否停电、出口网络是否断开、监测"
                         "代理主机是否在运行。",
        "Check: a power cut at the school, the school's uplink, and whether "
        "the agent's computer is running."},
    [C_SWITCH_UNREACHABLE] = {"请检查：交换机是否通电，管理地址和 SNMP 设置"
                              "（团体名/用户）是否正确。",
        "Check: is the switch powered, are its management address and SNMP "
        "settings (community/user) right?"},
    [C_THROUGHPUT_LOW] = {"请检查：出口带宽是否被其他流量占满，出口路由器/防火墙"
                          "的限速和负载；向运营商核实开通带宽和线路质量。",
        "Check: other traffic filling the uplink, rate limits and load on "
        "the school's router or firewall; confirm the contracted bandwidth "
        "and the line with the carrier."},
    [C_LATENCY_HIGH] = {"请检查：出口是否拥塞（下载、视频、系统更新），出口"
                        "设备负载；若只有一个目标延迟高，请联系该平台或运营商。",
        "Check: a congested uplink (downloads, video, updates) and the load "
        "on the uplink devices; if only one target is slow, contact that "
        "platform or the carrier."},
    [C_LOSS_HIGH] = {"请检查：出口光纤或网线、光模块，出口是否拥塞；持续丢包"
                     "请联系运营商排查线路。",
        "Check: the uplink fibre or cable and optics, and congestion; "
        "call the carrier if the loss persists."},
    [C_RECORDING_UNAVAILABLE] = {"请检查：录播主机是否开机、录播服务是否运行，"
                                 "网线和交换机端口是否正常。",
        "Check: is the recording host on and its recording service running, "
        "are its cable and switch port working?"},
    [C_OTHER] = {"请查看 schoolnet 控制台了解详情。",
        "See the schoolnet dashboard for details."},
};

static enum cause
cause_of(const struct words *w)
{
	for (size_t i = 0; i < nitems(cause_names); i++)
		if (is(w->cause, cause_names[i]))
			return (enum cause)i;
	return C_OTHER;
}

/* Does the alert concern one port (a room's or the uplink's)? */
static bool
port_cause(enum cause c)
{
	return c == C_PORT_DOWN || c == C_SPEED_LOW || c == C_HALF_DUPLEX ||
	    c == C_ERRORS || c == C_RECORDING_UNAVAILABLE || c == C_OTHER;
}

/* The room as people name it: "三年级2班", "录播室 A", "学校出口". */
static void
room_label(const struct words *w, struct sb *b)
{
	if (is(w->role, "uplink"))
		sb_puts(b, w->en ? "school uplink" : "学校出口");
	else if (is(w->role, "recording") && w->room[0] == '\0')
		sb_puts(b, w->en ? "recording room" : "录播室");
	else if (is(w->role, "recording") && !strstr(w->room, "录播") &&
	    !strstr(w->room, "ecording"))
		sb_printf(
		    b, w->en ? "recording room %s" : "录播室 %s", w->room);
	else
		sb_puts(b, w->room);
}

/* "交换机 access1 端口 Gi0/0/5" (either part may be missing). */
static void
switch_port(const struct words *w, struct sb *b)
{
	if (w->sw[0])
		sb_printf(b, w->en ? "switch %s" : "交换机 %s", w->sw);
	if (w->sw[0] && w->port[0])
		sb_puts(b, " ");
	if (w->port[0])
		sb_printf(b, w->en ? "port %s" : "端口 %s", w->port);
}

/* Where, for a title: the room (or switch and port) of a port alert. */
static void
title_where(const struct words *w, enum cause c, struct sb *b)
{
	size_t before = b->len;

	if (!port_cause(c))
		return;
	room_label(w, b);
	if (b->len == before)
		switch_port(w, b);
}

/* The problem with its values, for a raise title. */
static void
title_problem(const struct words *w, enum cause c, struct sb *b)
{
	char e[32];

	switch (c) {
	case C_PORT_DOWN:
		sb_puts(b, w->en ? "port down" : "网口断开");
		break;
	case C_SPEED_LOW:
		sb_printf(b,
		    w->en ? "port at %" PRIu32 " Mbps (needs %" PRIu32 " Mbps)"
		          : "网口降为 %" PRIu32 " Mbps（要求 ≥%" PRIu32
		            " Mbps）",
		    w->speed, w->target);
		break;
	case C_HALF_DUPLEX:
		if (w->speed)
			sb_printf(b,
			    w->en ? "port in half duplex (%" PRIu32 " Mbps)"
			          : "网口为半双工（%" PRIu32 " Mbps）",
			    w->speed);
		else
			sb_puts(
			    b, w->en ? "port in half duplex" : "网口为半双工");
		break;
	case C_ERRORS:
		errors_str(w, e, sizeof(e));
		sb_printf(
		    b, w->en ? "%s errors per minute" : "错误包 %s 个/分钟", e);
		break;
	case C_UPLINK_DOWN:
		sb_puts(b, w->en ? "school uplink down" : "学校出口断开");
		break;
	case C_UPLINK_SPEED_LOW:
		if (w->target == 1000)
			sb_printf(b,
			    w->en ? "school uplink at %" PRIu32
			            " Mbps, below 1 Gbps"
			          : "学校出口 %" PRIu32 " Mbps，未达千兆",
			    w->speed);
		else
			sb_printf(b,
			    w->en ? "school uplink at %" PRIu32
			            " Mbps (needs %" PRIu32 " Mbps)"
			          : "学校出口 %" PRIu32 " Mbps（要求 ≥%" PRIu32
			            " Mbps）",
			    w->speed, w->target);
		break;
	case C_AGENT_OFFLINE:
		sb_puts(b,
		    w->en ? "monitoring agent offline (power or network "
		            "outage?)"
		          : "监测代理离线，可能断网或断电");
		break;
	case C_SWITCH_UNREACHABLE:
		if (w->sw[0])
			sb_printf(b,
			    w->en ? "switch %s not answering"
			          : "交换机 %s 无响应",
			    w->sw);
		else
			sb_puts(
			    b, w->en ? "switch not answering" : "交换机无响应");
		break;
	case C_THROUGHPUT_LOW:
		if (w->speed)
			sb_printf(b,
			    w->en ? "school uplink measures far below its "
			            "%" PRIu32 " Mbps"
			          : "学校出口实测带宽远低于协商的 %" PRIu32 " Mbps",
			    w->speed);
		else
			sb_puts(b, w->en ? "school uplink measures too slow"
			                 : "学校出口实测带宽不足");
		break;
	case C_LATENCY_HIGH:
		sb_puts(b, w->en ? "network latency too high" : "网络延迟过高");
		break;
	case C_LOSS_HIGH:
		sb_puts(b, w->en ? "packet loss too high" : "网络丢包过多");
		break;
	case C_RECORDING_UNAVAILABLE:
		sb_puts(b, w->en ? "unavailable" : "不可用");
		break;
	case C_OTHER:
		sb_printf(b, w->en ? "network problem (%s)" : "网络异常（%s）",
		    w->cause[0] ? w->cause : "?");
		break;
	}
}

/* The problem line of the text: the full facts. */
static void
text_problem(const struct words *w, enum cause c, struct sb *b)
{
	char e[32];

	sb_puts(b, w->en ? "Problem: " : "问题：");
	switch (c) {
	case C_SPEED_LOW:
		sb_printf(b,
		    w->en ? "the port negotiated %" PRIu32
		            " Mbps; it must reach %" PRIu32 " Mbps"
		          : "网口协商速率 %" PRIu32 " Mbps，要求 ≥%" PRIu32
		            " Mbps",
		    w->speed, w->target);
		break;
	case C_HALF_DUPLEX:
		sb_printf(b,
		    w->en ? "the port runs half duplex at %" PRIu32
		            " Mbps; it must be full duplex"
		          : "网口为半双工（%" PRIu32 " Mbps），应为全双工",
		    w->speed);
		break;
	case C_ERRORS:
		errors_str(w, e, sizeof(e));
		sb_printf(b,
		    w->en ? "%s errored packets per minute (in + out)"
		          : "每分钟 %s 个错误包（收发合计）",
		    e);
		break;
	case C_UPLINK_SPEED_LOW:
		sb_printf(b,
		    w->en ? "the school uplink negotiated %" PRIu32
		            " Mbps; it must reach %" PRIu32 " Mbps"
		          : "学校出口协商速率 %" PRIu32 " Mbps，要求 ≥%" PRIu32
		            " Mbps（千兆进校）",
		    w->speed, w->target);
		break;
	case C_UPLINK_DOWN:
		sb_puts(b,
		    w->en ? "the school uplink is down; the whole school "
		            "may be offline"
		          : "学校出口断开，全校可能无法上网");
		break;
	case C_AGENT_OFFLINE:
		sb_puts(b,
		    w->en ? "no reports from the monitoring agent; the "
		            "school may have lost power or its network"
		          : "监测代理没有上报数据，可能断网或断电");
		break;
	case C_THROUGHPUT_LOW:
		sb_puts(b,
		    w->en ? "a throughput test measured far less than the "
		            "school uplink's negotiated speed"
		          : "带宽测试的实测速率远低于学校出口的协商速率");
		break;
	case C_LATENCY_HIGH:
		sb_puts(b,
		    w->en ? "the round-trip time from the school passed its "
		            "limit during school hours"
		          : "上课时间内从学校发出的网络往返延迟超过限值");
		break;
	case C_LOSS_HIGH:
		sb_puts(b,
		    w->en ? "packets from the school were lost above the limit "
		            "during school hours"
		          : "上课时间内从学校发出的网络丢包超过限值");
		break;
	case C_RECORDING_UNAVAILABLE:
		sb_puts(b,
		    w->en ? "the recording room cannot be used: its host does "
		            "not answer or its port is below target"
		          : "录播室无法使用：录播主机无响应或其网口未达标");
		break;
	default:
		title_problem(w, c, b);
		break;
	}
	sb_puts(b, "\n");
}

/* "学校：城关镇中心小学（S001，城关镇）" */
static void
text_school(const struct words *w, struct sb *b)
{
	sb_printf(b, w->en ? "School: %s" : "学校：%s", w->school);
	if (w->code[0] && w->town[0] && !is(w->code, w->school))
		sb_printf(
		    b, w->en ? " (%s, %s)" : "（%s，%s）", w->code, w->town);
	else if (w->code[0] && !is(w->code, w->school))
		sb_printf(b, w->en ? " (%s)" : "（%s）", w->code);
	else if (w->town[0])
		sb_printf(b, w->en ? " (%s)" : "（%s）", w->town);
	sb_puts(b, "\n");
}

/* "位置：三年级2班，交换机 access1 端口 Gi0/0/5" */
static void
text_location(const struct words *w, enum cause c, struct sb *b)
{
	struct sb room = {0}, sp = {0};

	if (c == C_AGENT_OFFLINE || c == C_LATENCY_HIGH || c == C_LOSS_HIGH) {
		if (w->agent[0])
			sb_printf(b, w->en ? "Agent: %s\n" : "监测代理：%s\n",
			    w->agent);
		return;
	}
	if (c == C_UPLINK_DOWN || c == C_UPLINK_SPEED_LOW ||
	    c == C_THROUGHPUT_LOW)
		sb_puts(&room, w->en ? "school uplink" : "学校出口");
	else if (c != C_SWITCH_UNREACHABLE)
		room_label(w, &room);
	if (c == C_SWITCH_UNREACHABLE && w->sw[0])
		sb_printf(&sp, w->en ? "switch %s" : "交换机 %s", w->sw);
	else
		switch_port(w, &sp);
	if (room.len || sp.len) {
		sb_puts(b, w->en ? "Location: " : "位置：");
		if (room.len)
			sb_puts(b, room.p);
		if (room.len && sp.len)
			sb_puts(b, w->en ? ", " : "，");
		if (sp.len)
			sb_puts(b, sp.p);
		sb_puts(b, "\n");
	}
	free(room.p);
	free(sp.p);
}

static void
text_tail(const struct words *w, const char *hint, struct sb *b)
{
	sb_puts(b, "\n");
	if (hint)
		sb_printf(b, "%s\n", hint);
	sb_puts(b,
	    w->en ? "— schoolnet network monitor"
	          : "—— schoolnet 校园网络监测");
}

static void
render_test(const struct words *w, struct sb *t, struct sb *x)
{
	char when[32];

	local_time(w, w->at ? w->at : time_now_ms(), when, sizeof(when));
	sb_puts(t,
	    w->en ? "[TEST] schoolnet notification test"
	          : "【测试】schoolnet 通知测试");
	sb_puts(x,
	    w->en ? "This is a test message: schoolnet can deliver "
	            "network alerts to this receiver. Nothing needs to "
	            "be done.\n"
	          : "这是一条测试消息：schoolnet 可以向这里发送网络告警"
	            "通知，无需处理。\n");
	sb_printf(x, w->en ? "Sent: %s\n" : "发送时间：%s\n", when);
	text_tail(w, NULL, x);
}

void
notify_render(const struct alert_event *ev, int lang, int utc_offset_min,
    char **title, char **text)
{
	struct words w;
	struct sb t = {0}, x = {0}, where = {0};
	char since[32], at[32], dur[48];
	enum cause c;

	words_init(&w, ev, lang, utc_offset_min);
	if (is(w.event, "test")) {
		render_test(&w, &t, &x);
		goto out;
	}
	c = cause_of(&w);
	title_where(&w, c, &where);
	local_time(&w, w.since, since, sizeof(since));
	local_time(&w, w.at, at, sizeof(at));
	duration(&w, dur, sizeof(dur));

	/* Title: [what] school, where: problem */
	if (is(w.event, "clear"))
		sb_puts(&t, w.en ? "[RECOVERED] " : "【已恢复】");
	else if (is(w.event, "flapping"))
		sb_puts(&t, w.en ? "[FLAPPING] " : "【频繁波动】");
	else
		sb_puts(&t, w.en ? "[ALERT] " : "【网络告警】");
	sb_puts(&t, w.school);
	if (where.len)
		sb_printf(&t, w.en ? ", %s" : " %s", where.p);
	sb_puts(&t, w.en ? ": " : " ");
	if (is(w.event, "clear")) {
		sb_puts(&t, cause_short[c][w.en]);
		sb_printf(&t, w.en ? " (lasted %s)" : "（持续 %s）", dur);
	} else if (is(w.event, "flapping")) {
		sb_puts(&t, cause_short[c][w.en]);
		sb_puts(&t, w.en ? ", notifications paused" : "，暂停通知");
	} else {
		title_problem(&w, c, &t);
	}

	/* Text: the facts, a blank line, then what to do. */
	text_school(&w, &x);
	text_location(&w, c, &x);
	if (is(w.event, "clear")) {
		sb_printf(&x,
		    w.en ? "Problem (recovered): %s" : "问题（已恢复）：%s",
		    cause_short[c][w.en]);
		if (w.speed &&
		    (c == C_SPEED_LOW || c == C_UPLINK_SPEED_LOW ||
		        c == C_HALF_DUPLEX))
			sb_printf(&x,
			    w.en ? " (now %" PRIu32 " Mbps)"
			         : "（现为 %" PRIu32 " Mbps）",
			    w.speed);
		sb_puts(&x, "\n");
	} else {
		text_problem(&w, c, &x);
	}
	if (w.detail[0])
		sb_printf(&x, w.en ? "Detail: %s\n" : "详情：%s\n", w.detail);
	sb_printf(&x, w.en ? "Since: %s\n" : "开始时间：%s\n", since);
	if (is(w.event, "clear")) {
		sb_printf(
		    &x, w.en ? "Recovered at: %s\n" : "恢复时间：%s\n", at);
		sb_printf(&x, w.en ? "Lasted: %s\n" : "持续：%s\n", dur);
	}
	sb_printf(&x,
	    w.en ? "Alert ID: %" PRId64 "\n" : "告警编号：%" PRId64 "\n", w.id);
	if (is(w.event, "flapping"))
		text_tail(&w,
		    w.en ? "This alert keeps opening and clearing. "
		           "Notifications for it pause until it is stable; "
		           "check the cable and the switch port."
		         : "该告警反复出现又恢复，暂停发送通知，稳定后再通知；"
		           "请检查网线和交换机端口。",
		    &x);
	else if (is(w.event, "clear"))
		text_tail(&w, NULL, &x);
	else
		text_tail(&w, cause_hint[c][w.en], &x);
out:
	free(where.p);
	*title = sb_take(&t);
	*text = sb_take(&x);
}

/* --- webhook bodies --------------------------------------------------- */

/* A JSON string; text we built is valid UTF-8, but never fail on it. */
static json_t *
jstr(const char *s)
{
	json_t *j = json_string(s ? s : "");

	return j ? j : json_string("(invalid UTF-8)");
}

static json_t *
jtime(uint64_t ms)
{
	char buf[32];

	if (ms == 0)
		return json_null();
	time_iso8601(ms, buf, sizeof(buf));
	return json_string(buf);
}

/*
 * Markdown for WeCom and DingTalk: the title in bold, the facts quoted,
 * then the hint as plain lines. eol ends a line: WeCom breaks on "\n";
 * DingTalk's renderer needs a Markdown hard break ("  \n").
 */
static char *
markdown(const char *title, const char *text, const char *eol)
{
	struct sb b = {0};
	bool quoted = true;

	sb_printf(&b, "**%s**%s", title, eol);
	for (const char *p = text; *p;) {
		size_t n = strcspn(p, "\n");

		if (n == 0) {
			quoted = false;
			sb_puts(&b, "\n");
		} else {
			sb_printf(
			    &b, "%s%.*s%s", quoted ? "> " : "", (int)n, p, eol);
		}
		p += n;
		if (*p == '\n')
			p++;
	}
	return sb_take(&b);
}

static json_t *
generic_alert(const struct alert_event *ev)
{
	struct words w;
	char name[NAME_MAX_BYTES + 4];
	json_t *a;

	words_init(&w, ev, 0, 0);
	clean(name, sizeof(name), ev->school_name);
	a = json_object();
	json_object_set_new(a, "id", json_integer(ev->alert_id));
	json_object_set_new(a, "cause", jstr(w.cause));
	json_object_set_new(a, "role", jstr(w.role));
	json_object_set_new(a, "school_code", jstr(w.code));
	json_object_set_new(a, "school_name", jstr(name));
	json_object_set_new(a, "town", jstr(w.town));
	json_object_set_new(a, "room", jstr(w.room));
	json_object_set_new(a, "switch", jstr(w.sw));
	json_object_set_new(a, "port", jstr(w.port));
	json_object_set_new(a, "agent", jstr(w.agent));
	json_object_set_new(a, "speed_mbps", json_integer(ev->speed_mbps));
	json_object_set_new(a, "target_mbps", json_integer(ev->target_mbps));
	json_object_set_new(a, "errors_per_min",
	    isfinite(ev->errors_per_min) ? json_real(ev->errors_per_min)
	                                 : json_null());
	json_object_set_new(a, "since", jtime(ev->since_ms));
	json_object_set_new(a, "at", jtime(ev->at_ms));
	json_object_set_new(a, "detail", jstr(w.detail));
	return a;
}

char *
notify_webhook_body(int format, const struct alert_event *ev, const char *title,
    const char *text)
{
	json_t *root = json_object(), *inner = json_object();
	char *md = NULL, *out;
	struct sb plain = {0};
	char ev_name[CODE_MAX_BYTES + 4];

	switch (format) {
	case HOOK_WECOM:
		/* developer.work.weixin.qq.com 群机器人配置说明: markdown
		 * content, UTF-8, at most 4096 bytes (ours stay far below). */
		md = markdown(title, text, "\n");
		json_object_set_new(root, "msgtype", json_string("markdown"));
		json_object_set_new(inner, "content", jstr(md));
		json_object_set_new(root, "markdown", inner);
		break;
	case HOOK_DINGTALK:
		/* open.dingtalk.com 自定义机器人发送群消息: markdown with
		 * "title" (the preview in the chat list) and "text". */
		md = markdown(title, text, "  \n");
		json_object_set_new(root, "msgtype", json_string("markdown"));
		json_object_set_new(inner, "title", jstr(title));
		json_object_set_new(inner, "text", jstr(md));
		json_object_set_new(root, "markdown", inner);
		break;
	case HOOK_FEISHU:
		/* open.feishu.cn 自定义机器人使用指南: text message; the
		 * request body must stay under 20 KB. */
		sb_printf(&plain, "%s\n%s", title, text);
		json_object_set_new(root, "msg_type", json_string("text"));
		json_object_set_new(inner, "text", jstr(plain.p));
		json_object_set_new(root, "content", inner);
		break;
	default:
		clean(ev_name, sizeof(ev_name), ev->event);
		json_decref(inner);
		json_object_set_new(root, "event", jstr(ev_name));
		json_object_set_new(root, "alert", generic_alert(ev));
		json_object_set_new(root, "title", jstr(title));
		json_object_set_new(root, "text", jstr(text));
		break;
	}
	out = json_dumps(root, JSON_COMPACT);
	if (out == NULL)
		fatalx("notify: cannot encode a webhook body");
	json_decref(root);
	free(md);
	free(plain.p);
	return out;
}
