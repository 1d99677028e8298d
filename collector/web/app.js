/* schoolnet dashboard: overview, school, alerts and report pages over the collector's JSON API. */
"use strict";

/* ---------------------------------------------------------------- words -- */

/* Every visible label, one dictionary per language. {name} is filled in by t(). */
const I18N = {
  zh: {
    "skip": "跳到正文",
    "tagline": "千兆进校　百兆进班　录播室全覆盖",
    "nav.overview": "总览", "nav.alerts": "告警", "nav.report": "月报",
    "logout": "退出", "lang.switch": "English",
    "updated": "更新于",
    "role.read": "只读", "role.admin": "管理员",
    "login.title": "输入访问令牌",
    "login.label": "令牌（snt_ 开头）",
    "login.hint": "令牌由县教育局信息中心在采集器上生成：schoolnet-collector tokens add 名称",
    "login.save": "保存并进入",
    "login.none": "请先输入访问令牌。",
    "login.refused": "采集器不接受这个令牌（未知或已撤销），请输入新的令牌。",
    "offline.network": "连不上采集器（网络或服务中断），正在重试。下面是 {time} 的数据。",
    "offline.http": "采集器出错（{status}{msg}），正在重试。下面是 {time} 的数据。",
    "offline.never": "尚未取到数据",
    "err.forbidden": "这个操作需要管理员令牌（当前令牌只读）。",
    "err.generic": "出错了：{msg}",
    "err.network": "连不上采集器。",
    "loading": "正在加载…",
    "state.ok": "达标", "state.below": "未达标", "state.unknown": "未知",
    "role.uplink": "出口", "role.classroom": "班级", "role.recording": "录播室",
    "count.schools": "学校总数",
    "count.schools-below-1g": "出口未达千兆的学校",
    "count.classrooms-below-100m": "未达百兆的班级",
    "count.unknown": "状态未知的学校",
    "count.recording-gap": "缺录播室的镇区学校",
    "count.alerts": "未处理告警",
    "filter.placeholder": "按学校、代码或乡镇筛选",
    "filter.problems": "只看有问题的",
    "legend": "图例",
    "town.counts": "{n} 所学校 · {below} 所未达标 · {rooms} 个班级未达标",
    "town.unknown": " · {n} 所未知",
    "cell.rooms_below": "未达标班级 {n}",
    "cell.uplink_low": "出口<千兆",
    "cell.recording_gap": "缺录播室",
    "cell.alerts": "告警 {n}",
    "grid.empty": "还没有学校。请先导入清单：schoolnet-collector import inventory.csv",
    "grid.filtered": "没有符合筛选条件的学校。",
    "alerts.side": "未处理告警",
    "alerts.none": "没有未处理的告警。",
    "alerts.all": "全部告警与维护 →",
    "alerts.more": "只显示最新 {n} 条。",
    "alert.acked": "已由 {by} 确认",
    "alert.suppressed": "维护中",
    "alert.flapping": "频繁波动",
    "ago.now": "刚刚",
    "school.back": "← 返回总览",
    "school.notfound": "没有代码为 {code} 的学校。",
    "school.town_seat": "镇区学校",
    "school.state": "状态",
    "school.uplink_speed": "出口速率",
    "school.throughput": "实测带宽",
    "school.not_measured": "尚未测量",
    "school.not_measured_hint": "还没有完成的测速",
    "school.tp_val": "下行 {down} · 上行 {up}",
    "school.tp_when": "测于 {when}",
    "school.tp_link": "出口协商 {speed}",
    "school.tp_low": "低于出口速率的 70%",
    "school.run_test": "测一次",
    "school.test_requested": "已请求测速 #{id}，等待代理执行…",
    "school.test_running": "测速 #{id} 进行中…",
    "school.test_done": "测速 #{id} 完成",
    "school.test_failed": "测速 #{id} 失败：{error}",
    "school.test_timeout": "测速 #{id} 还没有完成，稍后再看",
    "school.rec_rooms": "录播室可用性",
    "school.rec_none": "清单里没有这所学校的录播室。",
    "school.rec_unavailable": "；{n} 间不可用",
    "rec.available": "可用", "rec.unavailable": "不可用", "rec.unknown": "未知",
    "rec.since": "自 {when}",
    "rec.why.host": "录播主机无响应：{error}",
    "rec.why.port": "网口未达标",
    "rec.why.port_unknown": "网口状态未知",
    "rec.why.no_url": "清单里没有检测地址",
    "rec.why.never": "尚未检测",
    "rec.why.stale": "检测已中断",
    "col.since": "自",
    "count.recording-unavailable": "不可用的录播室",
    "school.traffic": "出口当前流量",
    "school.traffic_val": "入 {in} · 出 {out}",
    "school.classrooms": "班级",
    "school.recording": "录播室",
    "school.counts": "{ok} 达标 / {total} 间",
    "school.counts_more": "，{below} 未达标，{unknown} 未知",
    "school.recording_gap": "镇区学校缺录播室（录播室全覆盖未达成）",
    "school.none": "—",
    "school.rooms": "端口与房间",
    "school.rooms_empty": "清单里没有这所学校的端口。",
    "school.traffic24": "出口流量（最近 24 小时）",
    "school.alerts": "本校告警",
    "school.alerts_none": "这所学校没有告警记录。",
    "school.uplink_unknown": "未见到出口端口",
    "school.never_seen": "从未见到该端口",
    "school.stale": "没有最新数据",
    "col.role": "类型", "col.room": "房间", "col.switch": "交换机", "col.port": "端口",
    "col.speed": "速率", "col.duplex": "双工", "col.errors": "错误（入/出，上次轮询）",
    "col.state": "状态", "col.reasons": "原因", "col.target": "目标",
    "port.down": "断开",
    "duplex.full": "全双工", "duplex.half": "半双工", "duplex.unknown": "未知",
    "spark.none": "最近 24 小时没有数据。",
    "spark.peak": "24 小时峰值：入 {in}（{tin}）· 出 {out}（{tout}）",
    "spark.scale": "纵轴 {v}（每 {m} 分钟平均）",
    "spark.in": "入", "spark.out": "出", "spark.gap": "无数据",
    "spark.band": "出口状态：绿 = 千兆，红 = 低于千兆或断开",
    "spark.aria": "出口最近 24 小时流量",
    "alerts.title": "告警与维护",
    "alerts.filter": "显示",
    "alerts.filter.all": "全部", "alerts.filter.open": "未关闭", "alerts.filter.closed": "已关闭",
    "alerts.ackby": "确认人",
    "alerts.ackby_ph": "留空则用令牌名",
    "alerts.empty": "没有告警。",
    "alerts.empty_filtered": "没有符合条件的告警。",
    "alerts.shown": "共 {n} 条（最新的 {limit} 条之内）",
    "col.open": "状态", "col.cause": "原因", "col.school": "学校", "col.where": "位置",
    "col.since": "开始", "col.cleared": "恢复", "col.duration": "持续", "col.detail": "详情",
    "col.acked": "确认", "col.action": "操作",
    "alert.open": "未关闭", "alert.closed": "已恢复",
    "alert.ack": "确认",
    "alert.acking": "确认中…",
    "alert.already": "该告警已被他人确认，已刷新。",
    "alert.speed": "{speed}，目标 {target}",
    "alert.errors": "每分钟 {n} 个错误",
    "alert.notify": "通知：已发 {sent}，待发 {pending}，失败 {failed}",
    "maint.title": "维护窗口",
    "maint.hint": "维护期间照常记录告警，但不发通知。",
    "maint.empty": "没有正在进行或计划中的维护。",
    "maint.unavailable": "这个采集器版本不提供维护窗口接口。",
    "col.from": "开始", "col.to": "结束", "col.reason": "事由", "col.by": "创建人",
    "maint.all_switches": "全部交换机",
    "maint.delete": "删除",
    "maint.add": "添加维护窗口",
    "maint.school": "学校", "maint.switch": "交换机（可空）", "maint.switch_ph": "留空 = 全部交换机",
    "maint.from": "开始（可空）", "maint.from_ph": "现在，或 2026-11-23 08:00",
    "maint.for": "时长或结束时间", "maint.for_ph": "2h、90m、3d 或 2026-11-23 12:00",
    "maint.reason": "事由", "maint.reason_ph": "例如：更换交换机",
    "maint.submit": "添加",
    "maint.added": "已添加维护窗口 #{id}，至 {to}。",
    "maint.deleted": "已删除维护窗口 #{id}。",
    "report.title": "月度达标报告",
    "report.month": "月份",
    "report.load": "生成",
    "report.level": "CSV 明细",
    "report.level.school": "按学校", "report.level.classroom": "按房间", "report.level.town": "按乡镇",
    "report.csv": "下载 CSV",
    "report.html": "下载 HTML（打印版）",
    "report.downloading": "下载中…",
    "report.loading": "正在生成 {month} 的报告…",
    "report.counted": "统计 {from} 至 {until}（{calendar}）",
    "report.incomplete": "本月尚未结束，统计到 {until}。",
    "report.fig.schools_passing_pct": "学校达标率",
    "report.fig.classrooms_compliant_pct": "班级百兆达标率",
    "report.fig.recording_coverage_pct": "录播室覆盖率",
    "report.fig.completeness_pct": "数据完整率",
    "report.fig.recording_available_pct": "录播室可用率",
    "report.fig.uplinks": "出口千兆达标",
    "report.fig.alerts": "告警数 / 平均修复",
    "report.sub.schools": "{a} / {b} 所（状态已知）",
    "report.sub.classrooms": "{a} / {b} 个班级（有数据）",
    "report.sub.recording": "{a} / {b} 所镇区学校",
    "report.sub.uplinks": "{a} / {b} 所学校",
    "report.change": "较上月 {v} 个百分点",
    "report.change_none": "上月无可比数据",
    "report.change_same": "与上月持平",
    "report.mttr": "平均 {v}",
    "report.towns": "各乡镇",
    "col.town": "乡镇", "col.schools_pass": "学校达标", "col.classrooms_pass": "班级达标",
    "col.uplinks": "出口达标", "col.rec_cov": "录播室覆盖", "col.rec_avail": "录播室可用",
    "col.complete": "数据完整", "col.alerts": "告警", "col.mttr": "平均修复",
    "report.noncompliant": "未达标或状态未知的学校",
    "report.noncompliant_none": "所有状态已知的学校都达标。",
    "report.nc_rooms": "未达标的班级（{n}）",
    "report.nc_rooms_more": "另有 {n} 个未列出，见 CSV（按房间）。",
    "col.at_target": "达标时间占比",
    "status.pass": "达标", "status.fail": "未达标", "status.unknown": "未知",
    "cause.speed_low": "速率低于目标",
    "cause.port_down": "端口断开",
    "cause.half_duplex": "半双工",
    "cause.errors": "错误过多",
    "cause.uplink_speed_low": "出口未达千兆",
    "cause.uplink_down": "出口断开",
    "cause.switch_unreachable": "交换机无响应",
    "cause.agent_offline": "采集端离线",
    "cause.no_data": "无监测数据",
    "cause.classrooms": "班级未达标",
    "cause.uplink": "出口未达标",
    "cause.unknown": "未知",
    "dur.d": "{n} 天", "dur.h": "{n} 小时", "dur.m": "{n} 分钟", "dur.s": "不到 1 分钟",
    "title.overview": "总览", "title.school": "学校", "title.alerts": "告警", "title.report": "月报",
  },
  en: {
    "skip": "Skip to content",
    "tagline": "1 Gb/s to every school · 100 Mb/s to every classroom · a recording room in every town-seat school",
    "nav.overview": "Overview", "nav.alerts": "Alerts", "nav.report": "Report",
    "logout": "Sign out", "lang.switch": "中文",
    "updated": "Updated",
    "role.read": "read-only", "role.admin": "admin",
    "login.title": "Enter your access token",
    "login.label": "Token (starts with snt_)",
    "login.hint": "The county IT office makes tokens on the collector: schoolnet-collector tokens add NAME",
    "login.save": "Save and continue",
    "login.none": "Enter an access token first.",
    "login.refused": "The collector does not accept this token (unknown or revoked). Enter a new one.",
    "offline.network": "Cannot reach the collector (network or service down); retrying. Showing data from {time}.",
    "offline.http": "The collector answered with an error ({status}{msg}); retrying. Showing data from {time}.",
    "offline.never": "no data yet",
    "err.forbidden": "This needs an admin token (this token is read-only).",
    "err.generic": "Something went wrong: {msg}",
    "err.network": "Cannot reach the collector.",
    "loading": "Loading…",
    "state.ok": "At target", "state.below": "Below target", "state.unknown": "Unknown",
    "role.uplink": "Uplink", "role.classroom": "Classroom", "role.recording": "Recording room",
    "count.schools": "Schools",
    "count.schools-below-1g": "Schools below 1 Gb/s",
    "count.classrooms-below-100m": "Classrooms below 100 Mb/s",
    "count.unknown": "Schools in unknown state",
    "count.recording-gap": "Town-seat schools without a recording room",
    "count.alerts": "Open alerts",
    "filter.placeholder": "Filter by school, code or town",
    "filter.problems": "Only problems",
    "legend": "Legend",
    "town.counts": "schools: {n} · below target: {below} · classrooms below: {rooms}",
    "town.unknown": " · unknown: {n}",
    "cell.rooms_below": "classrooms below: {n}",
    "cell.uplink_low": "uplink <1G",
    "cell.recording_gap": "no recording room",
    "cell.alerts": "alerts: {n}",
    "grid.empty": "No schools yet. Import the inventory first: schoolnet-collector import inventory.csv",
    "grid.filtered": "No school matches the filter.",
    "alerts.side": "Open alerts",
    "alerts.none": "No open alerts.",
    "alerts.all": "All alerts and maintenance →",
    "alerts.more": "Only the newest {n} are shown.",
    "alert.acked": "acknowledged by {by}",
    "alert.suppressed": "maintenance",
    "alert.flapping": "flapping",
    "ago.now": "just now",
    "school.back": "← Back to the overview",
    "school.notfound": "There is no school with code {code}.",
    "school.town_seat": "town-seat school",
    "school.state": "State",
    "school.uplink_speed": "Uplink speed",
    "school.throughput": "Measured throughput",
    "school.not_measured": "not measured yet",
    "school.not_measured_hint": "no test has finished yet",
    "school.tp_val": "down {down} · up {up}",
    "school.tp_when": "measured {when}",
    "school.tp_link": "uplink negotiates {speed}",
    "school.tp_low": "below 70 % of the uplink",
    "school.run_test": "Run a test",
    "school.test_requested": "test #{id} requested, waiting for the agent…",
    "school.test_running": "test #{id} running…",
    "school.test_done": "test #{id} done",
    "school.test_failed": "test #{id} failed: {error}",
    "school.test_timeout": "test #{id} has not finished yet; look again later",
    "school.rec_rooms": "Recording rooms: availability",
    "school.rec_none": "The inventory lists no recording room for this school.",
    "school.rec_unavailable": "; {n} not available",
    "rec.available": "available", "rec.unavailable": "not available", "rec.unknown": "unknown",
    "rec.since": "since {when}",
    "rec.why.host": "recording host not answering: {error}",
    "rec.why.port": "port below target",
    "rec.why.port_unknown": "port state unknown",
    "rec.why.no_url": "no probe URL in the inventory",
    "rec.why.never": "not checked yet",
    "rec.why.stale": "checks stopped",
    "col.since": "Since",
    "count.recording-unavailable": "Recording rooms unavailable",
    "school.traffic": "Uplink traffic now",
    "school.traffic_val": "in {in} · out {out}",
    "school.classrooms": "Classrooms",
    "school.recording": "Recording rooms",
    "school.counts": "{ok} of {total} at target",
    "school.counts_more": ", {below} below, {unknown} unknown",
    "school.recording_gap": "Town-seat school without a recording room",
    "school.none": "—",
    "school.rooms": "Ports and rooms",
    "school.rooms_empty": "The inventory lists no ports for this school.",
    "school.traffic24": "Uplink traffic (last 24 h)",
    "school.alerts": "Alerts at this school",
    "school.alerts_none": "No alerts recorded for this school.",
    "school.uplink_unknown": "uplink port not seen",
    "school.never_seen": "port never seen",
    "school.stale": "no recent data",
    "col.role": "Role", "col.room": "Room", "col.switch": "Switch", "col.port": "Port",
    "col.speed": "Speed", "col.duplex": "Duplex", "col.errors": "Errors (in/out, last poll)",
    "col.state": "State", "col.reasons": "Reasons", "col.target": "Target",
    "port.down": "down",
    "duplex.full": "full", "duplex.half": "half", "duplex.unknown": "unknown",
    "spark.none": "No data for the last 24 h.",
    "spark.peak": "24 h peak: in {in} ({tin}) · out {out} ({tout})",
    "spark.scale": "axis {v} ({m}-minute means)",
    "spark.in": "in", "spark.out": "out", "spark.gap": "no data",
    "spark.band": "Uplink state: green = 1 Gb/s, red = below 1 Gb/s or down",
    "spark.aria": "Uplink traffic over the last 24 hours",
    "alerts.title": "Alerts and maintenance",
    "alerts.filter": "Show",
    "alerts.filter.all": "all", "alerts.filter.open": "open", "alerts.filter.closed": "closed",
    "alerts.ackby": "Acknowledge as",
    "alerts.ackby_ph": "empty: the token's name",
    "alerts.empty": "No alerts.",
    "alerts.empty_filtered": "No alert matches.",
    "alerts.shown": "{n} shown (of the newest {limit})",
    "col.open": "State", "col.cause": "Cause", "col.school": "School", "col.where": "Where",
    "col.since": "Since", "col.cleared": "Cleared", "col.duration": "Lasted", "col.detail": "Detail",
    "col.acked": "Acknowledged", "col.action": "Action",
    "alert.open": "open", "alert.closed": "cleared",
    "alert.ack": "Acknowledge",
    "alert.acking": "Acknowledging…",
    "alert.already": "Someone else acknowledged this alert; reloaded.",
    "alert.speed": "{speed}, target {target}",
    "alert.errors": "{n} errors a minute",
    "alert.notify": "notifications: {sent} sent, {pending} pending, {failed} failed",
    "maint.title": "Maintenance windows",
    "maint.hint": "During maintenance alerts are still recorded, but nobody is notified.",
    "maint.empty": "No maintenance going on or planned.",
    "maint.unavailable": "This collector does not offer maintenance windows over the API.",
    "col.from": "From", "col.to": "To", "col.reason": "Reason", "col.by": "Created by",
    "maint.all_switches": "all switches",
    "maint.delete": "Delete",
    "maint.add": "Add a maintenance window",
    "maint.school": "School", "maint.switch": "Switch (optional)", "maint.switch_ph": "empty = all switches",
    "maint.from": "From (optional)", "maint.from_ph": "now, or 2026-11-23 08:00",
    "maint.for": "Duration or end", "maint.for_ph": "2h, 90m, 3d or 2026-11-23 12:00",
    "maint.reason": "Reason", "maint.reason_ph": "e.g. replacing a switch",
    "maint.submit": "Add",
    "maint.added": "Maintenance window #{id} added, until {to}.",
    "maint.deleted": "Maintenance window #{id} deleted.",
    "report.title": "Monthly compliance report",
    "report.month": "Month",
    "report.load": "Show",
    "report.level": "CSV rows",
    "report.level.school": "per school", "report.level.classroom": "per room", "report.level.town": "per town",
    "report.csv": "Download CSV",
    "report.html": "Download HTML (to print)",
    "report.downloading": "Downloading…",
    "report.loading": "Making the report for {month}…",
    "report.counted": "Counted {from} to {until} ({calendar})",
    "report.incomplete": "The month is not over; counted until {until}.",
    "report.fig.schools_passing_pct": "Schools passing",
    "report.fig.classrooms_compliant_pct": "Classrooms at 100 Mb/s",
    "report.fig.recording_coverage_pct": "Recording-room coverage",
    "report.fig.completeness_pct": "Data completeness",
    "report.fig.recording_available_pct": "Recording-room availability",
    "report.fig.uplinks": "Uplinks at 1 Gb/s",
    "report.fig.alerts": "Alerts / mean time to recover",
    "report.sub.schools": "{a} of {b} schools (known)",
    "report.sub.classrooms": "{a} of {b} classrooms (with data)",
    "report.sub.recording": "{a} of {b} town-seat schools",
    "report.sub.uplinks": "{a} of {b} schools",
    "report.change": "{v} pp against last month",
    "report.change_none": "no comparison with last month",
    "report.change_same": "same as last month",
    "report.mttr": "mean {v}",
    "report.towns": "Towns",
    "col.town": "Town", "col.schools_pass": "Schools passing", "col.classrooms_pass": "Classrooms",
    "col.uplinks": "Uplinks", "col.rec_cov": "Recording coverage", "col.rec_avail": "Recording available",
    "col.complete": "Data", "col.alerts": "Alerts", "col.mttr": "Mean recovery",
    "report.noncompliant": "Schools not passing or unknown",
    "report.noncompliant_none": "Every school with known status passes.",
    "report.nc_rooms": "Classrooms not compliant ({n})",
    "report.nc_rooms_more": "{n} more not listed; see the CSV (per room).",
    "col.at_target": "Time at target",
    "status.pass": "pass", "status.fail": "fail", "status.unknown": "unknown",
    "cause.speed_low": "speed below target",
    "cause.port_down": "port down",
    "cause.half_duplex": "half duplex",
    "cause.errors": "too many errors",
    "cause.uplink_speed_low": "uplink below 1 Gb/s",
    "cause.uplink_down": "uplink down",
    "cause.switch_unreachable": "switch not answering",
    "cause.agent_offline": "agent offline",
    "cause.no_data": "no data",
    "cause.classrooms": "classrooms below target",
    "cause.uplink": "uplink below target",
    "cause.unknown": "unknown",
    "dur.d": "{n} d", "dur.h": "{n} h", "dur.m": "{n} min", "dur.s": "under a minute",
    "title.overview": "Overview", "title.school": "School", "title.alerts": "Alerts", "title.report": "Report",
    /* Data values the inventory writes in Chinese. */
    "type.小学": "primary school", "type.初中": "junior middle school", "type.高中": "senior high school",
    "type.九年一贯制": "nine-year school", "type.完全中学": "secondary school", "type.教学点": "teaching point",
  },
};

const STATE_ICON = { ok: "✓", below: "✗", unknown: "?" };
const LS_TOKEN = "schoolnet.token", LS_LANG = "schoolnet.lang", LS_ACKBY = "schoolnet.ackBy";
const OVERVIEW_MS = 5000, SCHOOL_MS = 15000, ALERTS_MS = 30000, HISTORY_MS = 60000;
const SVGNS = "http://www.w3.org/2000/svg";

/* ---------------------------------------------------------------- state -- */

const app = {
  token: lsGet(LS_TOKEN) || "",
  lang: lsGet(LS_LANG) === "en" ? "en" : "zh",
  role: null,            /* "read" | "admin" | null (not known yet) */
  name: "",
  lastOk: null,          /* Date of the last successful refresh */
  page: null,            /* the page object now shown */
  /* Last data, kept so a language switch or a failed refresh still shows it. */
  data: { schools: null, openAlerts: null, school: {}, alerts: null, maint: null, report: {} },
};

function lsGet(k) { try { return localStorage.getItem(k); } catch (e) { return null; } }
function lsSet(k, v) { try { localStorage.setItem(k, v); } catch (e) { /* private mode: keep it in memory */ } }

function t(key, vars) {
  let s = I18N[app.lang][key];
  if (s === undefined) s = I18N.zh[key];
  if (s === undefined) s = key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] === undefined ? m : String(vars[k])));
  return s;
}
const locale = () => (app.lang === "en" ? "en-GB" : "zh-CN");

/* ----------------------------------------------------------------- DOM --- */

/* h("a", {class: "x", href: "#/", "data-school": code}, "text", child) — text is always a text node. */
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, kids);
  return el;
}
function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVGNS, tag);
  setAttrs(el, attrs);
  append(el, kids);
  return el;
}
function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const k of Object.keys(attrs)) {
    const v = attrs[k];
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
}
function append(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    el.appendChild(typeof k === "object" ? k : document.createTextNode(String(k)));
  }
}
function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }
function $(sel, root) { return (root || document).querySelector(sel); }
function show(el, on) { if (el) el.hidden = !on; }

/* ------------------------------------------------------------- formats --- */

function fmtRate(bps) {
  if (bps === null || bps === undefined || !isFinite(bps)) return "—";
  const units = [[1e9, "Gb/s"], [1e6, "Mb/s"], [1e3, "kb/s"]];
  for (const [div, unit] of units) {
    if (Math.abs(bps) >= div) return trim3(bps / div) + " " + unit;
  }
  return Math.round(bps) + " b/s";
}
function trim3(x) {
  /* three significant digits, no trailing zeros: 1, 1.5, 12.3, 950 */
  const d = x >= 100 ? 0 : x >= 10 ? 1 : 2;
  return String(Number(x.toFixed(d)));
}
function fmtSpeed(mbps) { return mbps === null || mbps === undefined ? "—" : fmtRate(mbps * 1e6); }
function fmtNum(x, digits) {
  if (x === null || x === undefined || !isFinite(x)) return "—";
  return Number(x).toLocaleString(locale(), { maximumFractionDigits: digits === undefined ? 2 : digits, useGrouping: false });
}
function parseTime(iso) {
  if (!iso) return null;
  const d = new Date(iso);
  return isNaN(d.getTime()) ? null : d;
}
function sameDay(a, b) { return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate(); }
/* Local time: "14:05" today, "11-21 14:05" (zh) / "21 Nov 14:05" (en) otherwise; year only if not this year. */
function fmtTime(iso, withSeconds) {
  const d = iso instanceof Date ? iso : parseTime(iso);
  if (!d) return "—";
  const now = new Date();
  const o = { hour: "2-digit", minute: "2-digit", hour12: false };
  if (withSeconds) o.second = "2-digit";
  if (!sameDay(d, now)) { o.month = app.lang === "en" ? "short" : "numeric"; o.day = "numeric"; }
  if (d.getFullYear() !== now.getFullYear()) o.year = "numeric";
  return new Intl.DateTimeFormat(locale(), o).format(d);
}
function fmtFull(iso) {
  const d = iso instanceof Date ? iso : parseTime(iso);
  if (!d) return "";
  return new Intl.DateTimeFormat(locale(), {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    second: "2-digit", hour12: false, timeZoneName: "short",
  }).format(d);
}
function fmtAgo(iso) {
  const d = parseTime(iso);
  if (!d) return "—";
  const sec = Math.round((Date.now() - d.getTime()) / 1000);
  if (sec < 45) return t("ago.now");
  const rtf = new Intl.RelativeTimeFormat(locale(), { numeric: "auto" });
  if (sec < 3600) return rtf.format(-Math.round(sec / 60), "minute");
  if (sec < 86400) return rtf.format(-Math.round(sec / 3600), "hour");
  return rtf.format(-Math.round(sec / 86400), "day");
}
function fmtDuration(ms) {
  if (ms === null || ms === undefined || !isFinite(ms) || ms < 0) return "—";
  const min = Math.floor(ms / 60000);
  if (min < 1) return t("dur.s");
  const d = Math.floor(min / 1440), hh = Math.floor((min % 1440) / 60), mm = min % 60;
  const parts = [];
  if (d) parts.push(t("dur.d", { n: d }));
  if (hh) parts.push(t("dur.h", { n: hh }));
  if (mm && !d) parts.push(t("dur.m", { n: mm }));
  return parts.join(" ");
}
function fmtMinutes(min) { return min === null || min === undefined ? "—" : fmtDuration(min * 60000); }
function timeEl(iso, text) {
  const d = parseTime(iso);
  return h("time", { datetime: iso || null, title: d ? fmtFull(d) : null }, text === undefined ? fmtTime(iso) : text);
}
/* <thead> row; keys ending in "#" are number columns (right-aligned). */
function headRow(keys) {
  return h("thead", null, h("tr", null, keys.map((k) => {
    const num = k.endsWith("#");
    return h("th", { scope: "col", class: num ? "num" : null }, t(num ? k.slice(0, -1) : k));
  })));
}
/* The wall-clock part of an ISO time with an offset ("2026-11-23T01:58:42+08:00" -> "2026-11-23 01:58"):
 * the report's times, in the calendar's own local time whatever the browser's time zone. */
function wallClock(iso) {
  const m = /^(\d{4}-\d\d-\d\d)(?:T(\d\d:\d\d))?/.exec(iso || "");
  return m ? m[1] + (m[2] ? " " + m[2] : "") : "—";
}
function causeLabel(c) { return c ? t("cause." + c) : ""; }
function stateBadge(state, extraClass) {
  const st = STATE_ICON[state] ? state : "unknown";
  return h("span", { class: "badge state-" + st + (extraClass ? " " + extraClass : "") },
    h("span", { class: "icon", "aria-hidden": "true" }, STATE_ICON[st]), " ", t("state." + st));
}
function schoolType(ty) {
  if (!ty) return "";
  return app.lang === "en" && I18N.en["type." + ty] ? I18N.en["type." + ty] : ty;
}
/* Month as YYYY-MM of a local date. */
function ym(d) { return d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0"); }
function previousMonth() { const d = new Date(); d.setDate(1); d.setMonth(d.getMonth() - 1); return ym(d); }

/* ----------------------------------------------------------------- API --- */

class ApiError extends Error {
  constructor(status, message, kind) { super(message || ("HTTP " + status)); this.status = status; this.kind = kind; }
}

/* fetch with the token; cache "no-cache" revalidates with the ETag (304 comes back as the cached 200).
 * Resolves to the parsed JSON (or the Response with raw). A 401 shows the login form. */
async function api(path, opts) {
  opts = opts || {};
  const headers = { Authorization: "Bearer " + app.token };
  let body;
  if (opts.body !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(opts.body); }
  let res;
  try {
    res = await fetch(path, { method: opts.method || "GET", headers, body, cache: "no-cache",
      credentials: "same-origin", signal: opts.signal, redirect: "error" });
  } catch (e) {
    if (e && e.name === "AbortError") throw e;
    throw new ApiError(0, e && e.message, "network");
  }
  if (res.ok) {
    if (opts.raw) return res;
    try { return await res.json(); } catch (e) {
      if (e && e.name === "AbortError") throw e;
      throw new ApiError(res.status, "bad JSON", "http");
    }
  }
  let msg = "";
  try { const j = await res.json(); if (j && typeof j.error === "string") msg = j.error; } catch (e) { /* not JSON */ }
  if (res.status === 401) {
    showLogin(t("login.refused"));
    throw new ApiError(401, msg, "auth");
  }
  throw new ApiError(res.status, msg, res.status === 403 ? "forbidden" : "http");
}
const q = encodeURIComponent;
function isAbort(e) { return e && e.name === "AbortError"; }

function errorText(e) {
  if (!e) return "";
  if (e.kind === "forbidden") return t("err.forbidden");
  if (e.kind === "network") return t("err.network");
  /* The collector's own message says what is wrong; the status only when there is none. */
  return t("err.generic", { msg: e.message && e.message !== "HTTP " + e.status ? e.message : "HTTP " + e.status });
}

/* ------------------------------------------------------- refresh status -- */

function refreshOk() {
  app.lastOk = new Date();
  const u = $("#updated");
  u.textContent = fmtTime(app.lastOk, true);
  u.setAttribute("datetime", app.lastOk.toISOString());
  u.title = fmtFull(app.lastOk);
  show($("#offline"), false);
}
function refreshFailed(e) {
  if (isAbort(e) || (e && e.kind === "auth")) return;
  const time = app.lastOk ? fmtTime(app.lastOk, true) : t("offline.never");
  const text = e && e.kind === "forbidden" ? t("err.forbidden")
    : e && e.kind === "network" ? t("offline.network", { time })
    : t("offline.http", { status: e && e.status ? e.status : "",
      msg: e && e.message && e.message !== "HTTP " + e.status ? " " + e.message : "", time });
  $("#offline-text").textContent = text;
  show($("#offline"), true);
}

/* ------------------------------------------------------------- polling --- */

/* One refresh at a time: the next starts only when the last has finished, and
 * only while the page is shown and visible. Leaving the page aborts what runs. */
const poller = { fn: null, ms: 0, timer: 0, gen: 0, running: 0, ctl: null };

function startPolling(fn, ms) {
  stopPolling();
  poller.fn = fn;
  poller.ms = ms;
  pollTick(poller.gen);
}
function stopPolling() {
  clearTimeout(poller.timer);
  poller.timer = 0;
  poller.fn = null;
  poller.gen++;
  if (poller.ctl) { poller.ctl.abort(); poller.ctl = null; }
}
async function pollTick(gen) {
  poller.timer = 0;
  if (gen !== poller.gen || !poller.fn || poller.running === gen) return;
  if (document.hidden) return;            /* resumed by visibilitychange */
  poller.running = gen;
  const ctl = new AbortController();
  poller.ctl = ctl;
  const busy = $("#busy");
  show(busy, true);
  try {
    await poller.fn(ctl.signal);
  } catch (e) {
    if (!isAbort(e)) console.warn("refresh:", e);
  } finally {
    if (poller.running === gen) poller.running = 0;
    if (poller.ctl === ctl) poller.ctl = null;
    show(busy, false);
  }
  if (gen === poller.gen && poller.fn && !document.hidden && !poller.timer)
    poller.timer = setTimeout(() => pollTick(gen), poller.ms);
}
/* Refresh now (after an action), unless one is running; the timer restarts after it. */
function pollNow() {
  if (!poller.fn || poller.running === poller.gen) return;
  clearTimeout(poller.timer);
  poller.timer = 0;
  pollTick(poller.gen);
}
document.addEventListener("visibilitychange", () => {
  if (document.hidden) {
    clearTimeout(poller.timer);
    poller.timer = 0;
  } else if (poller.fn && poller.running !== poller.gen && !poller.timer) {
    pollTick(poller.gen);
  }
});

/* --------------------------------------------------------------- login --- */

function showLogin(why) {
  stopPolling();
  app.role = null;          /* the next token may have another role */
  app.name = "";
  paintWho();
  const form = $("#login");
  $("#login-why").textContent = why || "";
  show(form, true);
  show($("#view"), false);
  show($("#offline"), false);
  const input = $("#token-input");
  input.value = "";
  input.focus();
}
function hideLogin() {
  show($("#login"), false);
  show($("#view"), true);
}
/* Accept the bare token or a pasted dashboard address with #token=. */
function cleanToken(text) {
  const m = /#token=([^&\s]+)/.exec(text);
  return (m ? decodeURIComponent(m[1]) : text).trim();
}

async function loadWhoami() {
  try {
    const w = await api("api/v1/whoami");
    app.role = w.role === "admin" ? "admin" : "read";
    app.name = typeof w.name === "string" ? w.name : "";
  } catch (e) {
    if (e.kind === "auth") throw e;
    /* Role not known (collector unreachable): read-only controls until it answers. */
  }
  paintWho();
}
function paintWho() {
  const who = $("#who");
  if (app.role) document.body.setAttribute("data-role", app.role);
  else document.body.removeAttribute("data-role");
  if (app.role) {
    clear(who);
    append(who, [h("span", { class: "who-name" }, app.name), " ",
      h("span", { class: "who-role role-" + app.role }, t("role." + app.role))]);
  }
  show(who, !!app.role);
  show($("#logout"), !!app.token);
}

/* -------------------------------------------------------------- router --- */

const pages = { overview: overviewPage, school: schoolPage, alerts: alertsPage, report: reportPage };

function parseRoute() {
  const hash = location.hash || "#/";
  let m;
  if ((m = /^#\/school\/(.+)$/.exec(hash))) {
    let code;
    try { code = decodeURIComponent(m[1]); } catch (e) { code = m[1]; }
    return { name: "school", arg: code };
  }
  if (hash === "#/alerts") return { name: "alerts" };
  if (hash === "#/report") return { name: "report" };
  return { name: "overview" };
}

function route() {
  if (takeTokenFromHash()) return;
  stopPolling();
  if (app.page && app.page.leave) app.page.leave();
  app.page = null;
  const r = parseRoute();
  for (const a of document.querySelectorAll("a[data-nav]")) {
    const on = a.getAttribute("data-nav") === (r.name === "school" ? "overview" : r.name);
    if (on) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  if (!app.token) { showLogin(t("login.none")); return; }
  hideLogin();
  if (!app.role && !app.whoamiPending) {
    /* whoami failed earlier (collector down): ask again; admin pages are redrawn once it is known. */
    app.whoamiPending = true;
    loadWhoami().then(() => {
      app.whoamiPending = false;
      if (app.role === "admin" && parseRoute().name === "alerts") route();
    }, () => { app.whoamiPending = false; });
  }
  const view = clear($("#view"));
  const page = pages[r.name](view, r.arg);
  app.page = page;
  document.title = page.title() + " · schoolnet";
}

/* #token=snt_… : store it, then drop it from the address bar. */
function takeTokenFromHash() {
  const m = /^#token=(.+)$/.exec(location.hash);
  if (!m) return false;
  app.token = cleanToken(location.hash);
  lsSet(LS_TOKEN, app.token);
  history.replaceState(null, "", location.pathname + location.search + "#/");
  app.role = null;
  loadWhoami().then(route, () => {});
  return true;
}

/* ------------------------------------------------------------ overview --- */

function overviewPage(view) {
  const st = { cells: new Map(), towns: new Map(), filter: "", problems: false, lastSchools: "", lastAlerts: "" };

  const countCard = (key, cls) => h("div", { class: "stat " + (cls || "") },
    h("span", { class: "stat-num", "data-count": key }, "–"),
    h("span", { class: "stat-label" }, t("count." + key)));
  const summary = h("section", { id: "summary", class: "summary", "aria-label": t("title.overview") },
    countCard("schools", "stat-total"),
    countCard("schools-below-1g", "stat-bad"),
    countCard("classrooms-below-100m", "stat-bad"),
    countCard("unknown", "stat-unknown"),
    countCard("recording-gap", "stat-bad"),
    countCard("recording-unavailable", "stat-bad"));

  const filter = h("input", { type: "search", class: "filter", placeholder: t("filter.placeholder"),
    "aria-label": t("filter.placeholder") });
  const problems = h("input", { type: "checkbox", id: "only-problems" });
  filter.addEventListener("input", () => { st.filter = filter.value.trim().toLowerCase(); applyFilter(); });
  problems.addEventListener("change", () => { st.problems = problems.checked; applyFilter(); });
  const legend = h("div", { class: "legend", "aria-label": t("legend") },
    ["ok", "below", "unknown"].map((x) => stateBadge(x)));
  const grid = h("div", { id: "grid", "aria-live": "off" });
  const gridEmpty = h("p", { class: "empty", hidden: true });

  const alertList = h("ul", { class: "alert-list" });
  const alertsEmpty = h("p", { class: "empty ok-empty", hidden: true },
    h("span", { class: "icon", "aria-hidden": "true" }, "✓"), " ", t("alerts.none"));
  const alertsMore = h("p", { class: "muted small", hidden: true }, t("alerts.more", { n: 50 }));
  const alertCount = h("span", { class: "pill" }, "–");
  const side = h("aside", { id: "alerts-side", class: "card side" },
    h("h2", null, t("alerts.side"), " ", alertCount),
    alertList, alertsEmpty, alertsMore,
    h("a", { href: "#/alerts", class: "more-link" }, t("alerts.all")));

  view.appendChild(h("div", { class: "overview" },
    summary,
    h("div", { class: "overview-body" },
      h("section", { class: "grid-wrap", "aria-label": t("nav.overview") },
        h("div", { class: "grid-tools" }, filter,
          h("label", { class: "check" }, problems, " ", t("filter.problems")), legend),
        grid, gridEmpty),
      side)));

  function applyFilter() {
    let shown = 0;
    for (const [code, cell] of st.cells) {
      const sc = cell._school;
      const text = (code + " " + (sc.name || "") + " " + (sc.town || "")).toLowerCase();
      const on = (!st.filter || text.includes(st.filter)) && (!st.problems || sc.state !== "ok"
        || sc.recording_gap || sc.open_alerts > 0);
      cell.hidden = !on;
      if (on) shown++;
    }
    for (const sec of st.towns.values()) sec.hidden = !Array.from(sec.querySelectorAll("a.cell")).some((c) => !c.hidden);
    gridEmpty.textContent = st.cells.size ? t("grid.filtered") : t("grid.empty");
    show(gridEmpty, shown === 0);
  }

  function paintSchools(schools) {
    let below1g = 0, rooms = 0, unknown = 0, gap = 0, recDown = 0;
    for (const x of schools) {
      if (x.meets_gigabit_uplink === false) below1g++;
      rooms += (x.classrooms && x.classrooms.below) || 0;
      if (x.state === "unknown") unknown++;
      if (x.recording_gap) gap++;
      recDown += recordingUnavailable(x);
    }
    const set = (k, v) => { const el = $('[data-count="' + k + '"]', summary); el.textContent = String(v); el.parentNode.classList.toggle("zero", v === 0); };
    set("schools", schools.length);
    set("schools-below-1g", below1g);
    set("classrooms-below-100m", rooms);
    set("unknown", unknown);
    set("recording-gap", gap);
    set("recording-unavailable", recDown);

    /* Group by town, in the API's order; update cells in place. */
    const byTown = new Map();
    for (const x of schools) {
      const town = x.town || "";
      if (!byTown.has(town)) byTown.set(town, []);
      byTown.get(town).push(x);
    }
    const seen = new Set();
    let ti = 0;
    for (const [town, list] of byTown) {
      let sec = st.towns.get(town);
      if (!sec) {
        sec = h("section", { class: "town", "data-town": town },
          h("h2", { class: "town-head" }, h("span", { class: "town-name" }, town || "—"), " ",
            h("span", { class: "town-counts" })),
          h("div", { class: "cells" }));
        st.towns.set(town, sec);
      }
      placeAt(grid, sec, ti++);
      const nBelow = list.filter((x) => x.state === "below").length;
      const nUnknown = list.filter((x) => x.state === "unknown").length;
      const nRooms = list.reduce((a, x) => a + ((x.classrooms && x.classrooms.below) || 0), 0);
      $(".town-counts", sec).textContent = t("town.counts", { n: list.length, below: nBelow, rooms: nRooms })
        + (nUnknown ? t("town.unknown", { n: nUnknown }) : "");
      sec.classList.toggle("has-below", nBelow > 0);
      const cells = $(".cells", sec);
      list.forEach((x, i) => {
        let cell = st.cells.get(x.code);
        if (!cell) { cell = h("a", { class: "cell", "data-school": x.code }); st.cells.set(x.code, cell); }
        fillCell(cell, x);
        placeAt(cells, cell, i);
        seen.add(x.code);
      });
      while (cells.children.length > list.length) cells.removeChild(cells.lastChild);
    }
    for (const [code, cell] of st.cells) if (!seen.has(code)) { cell.remove(); st.cells.delete(code); }
    for (const [town, sec] of st.towns) if (!byTown.has(town)) { sec.remove(); st.towns.delete(town); }
    applyFilter();
  }

  function paintAlerts(alerts) {
    alertCount.textContent = String(alerts.length);
    alertCount.classList.toggle("pill-bad", alerts.length > 0);
    clear(alertList);
    for (const a of alerts.slice(0, 50)) alertList.appendChild(alertItem(a, true));
    show(alertsEmpty, alerts.length === 0);
    show(alertsMore, alerts.length >= 50);
  }

  async function refresh(signal) {
    const [rs, ra] = await Promise.allSettled([
      api("api/v1/schools?brief=1", { signal }),
      api("api/v1/alerts?open=1&limit=50", { signal }),
    ]);
    if (signal.aborted) return;
    if (rs.status === "fulfilled") app.data.schools = rs.value.schools || [];
    if (ra.status === "fulfilled") app.data.openAlerts = ra.value.alerts || [];
    if (rs.status === "fulfilled") {
      const key = JSON.stringify(app.data.schools);
      if (key !== st.lastSchools) { st.lastSchools = key; paintSchools(app.data.schools); }
    }
    if (ra.status === "fulfilled") {
      const key = JSON.stringify(app.data.openAlerts);
      if (key !== st.lastAlerts) { st.lastAlerts = key; paintAlerts(app.data.openAlerts); }
      else refreshAgo(alertList);
    }
    const bad = [rs, ra].find((r) => r.status === "rejected");
    if (bad) refreshFailed(bad.reason); else refreshOk();
  }

  /* Paint what we had (language switch, coming back), then poll. */
  if (app.data.schools) { st.lastSchools = JSON.stringify(app.data.schools); paintSchools(app.data.schools); }
  if (app.data.openAlerts) { st.lastAlerts = JSON.stringify(app.data.openAlerts); paintAlerts(app.data.openAlerts); }
  startPolling(refresh, OVERVIEW_MS);
  return { title: () => t("title.overview") };
}

/* A school's recording rooms whose last check says not available (unknown ones are not counted). */
function recordingUnavailable(x) {
  const r = x.recording;
  return r && typeof r === "object" ? Math.max(0, (r.rooms || 0) - (r.available || 0) - (r.unknown || 0)) : 0;
}

/* Why a recording room is not available (or not known), from the recording listing's fields. */
function recordingWhy(r) {
  if (r.state === "available") return "";
  if (r.checked_at === null || r.checked_at === undefined) return t(r.url ? "rec.why.never" : "rec.why.no_url");
  if (r.state === "unknown") return t("rec.why.stale");
  if (r.host_ok === false) return t("rec.why.host", { error: r.error || (r.status ? "HTTP " + r.status : "—") });
  if (r.port_ok === false) return t("rec.why.port");
  return t("rec.why.port_unknown");
}

/* Put el at index i of parent, moving it only if it is not there already. */
function placeAt(parent, el, i) {
  const at = parent.children[i];
  if (at !== el) parent.insertBefore(el, at || null);
}

function fillCell(cell, x) {
  const state = STATE_ICON[x.state] ? x.state : "unknown";
  const below = (x.classrooms && x.classrooms.below) || 0;
  const sig = JSON.stringify([app.lang, state, x.name, below, x.meets_gigabit_uplink, x.recording_gap, x.open_alerts]);
  cell.setAttribute("data-state", state);
  cell.setAttribute("href", "#/school/" + q(x.code));
  cell._school = x;
  if (cell._sig === sig) return;
  cell._sig = sig;
  const flags = [];
  if (x.meets_gigabit_uplink === false) flags.push(h("span", { class: "flag flag-bad" }, t("cell.uplink_low")));
  if (x.recording_gap) flags.push(h("span", { class: "flag flag-bad" }, t("cell.recording_gap")));
  if (x.open_alerts > 0) flags.push(h("span", { class: "flag" }, t("cell.alerts", { n: x.open_alerts })));
  clear(cell);
  append(cell, [
    h("span", { class: "cell-top" },
      h("span", { class: "cell-state" }, h("span", { class: "icon", "aria-hidden": "true" }, STATE_ICON[state]), " ",
        t("state." + state)),
      h("span", { class: "cell-code" }, x.code)),
    h("span", { class: "cell-name" }, x.name || x.code),
    h("span", { class: "cell-rooms" + (below ? " bad" : "") }, t("cell.rooms_below", { n: below })),
    flags.length ? h("span", { class: "cell-flags" }, flags) : null,
  ]);
  cell.title = (x.name || "") + " (" + x.code + ") · " + t("state." + state);
}

/* One alert as a list item (overview side list and school page). */
function alertItem(a, withSchool) {
  const open = !!a.open || a.state === "open";
  const where = [];
  if (withSchool) where.push(a.school_name || a.school);
  if (a.room) where.push(a.room);
  else if (a.cause === "switch_unreachable" && a.switch) where.push(a.switch);
  if (a.port && a.room) where.push(a.port);
  const flags = [];
  if (a.acknowledged_by) flags.push(h("span", { class: "flag flag-ok" }, t("alert.acked", { by: a.acknowledged_by })));
  if (a.suppressed) flags.push(h("span", { class: "flag" }, t("alert.suppressed")));
  if (a.flapping) flags.push(h("span", { class: "flag flag-bad" }, t("alert.flapping")));
  if (!open) flags.push(h("span", { class: "flag flag-ok" }, t("alert.closed"), " ", timeEl(a.cleared_at)));
  const li = h("li", { class: "alert-item" + (open ? " is-open" : " is-closed"), "data-alert-id": a.id },
    h(withSchool ? "a" : "div", { class: "alert-link", href: withSchool ? "#/school/" + q(a.school) : null },
      h("span", { class: "alert-cause" },
        h("span", { class: "icon", "aria-hidden": "true" }, open ? "!" : "✓"), " ", causeLabel(a.cause)),
      h("span", { class: "alert-where" }, where.join(" · ")),
      h("span", { class: "alert-when" }, timeEl(a.since, fmtAgo(a.since))),
      flags.length ? h("span", { class: "cell-flags" }, flags) : null));
  return li;
}
const isOpen = (a) => !!a.open || a.state === "open";
/* Open alerts first, each group in the API's order (newest first). */
function openFirst(alerts) {
  return alerts.filter(isOpen).concat(alerts.filter((a) => !isOpen(a)));
}
function refreshAgo(root) {
  for (const el of root.querySelectorAll(".alert-when time")) el.textContent = fmtAgo(el.getAttribute("datetime"));
}

/* -------------------------------------------------------------- school --- */

function schoolPage(view, code) {
  const st = { hist: null, histAt: 0, histKey: "", last: "" };
  const cached = app.data.school[code];
  const title = h("h1", null, (cached && cached.school && cached.school.name) || code);
  const sub = h("p", { class: "subtitle muted" });
  const fState = h("dd", { "data-field": "state" }, "—");
  const fUplink = h("dd", { "data-field": "uplink-speed" }, "—");
  const fThroughput = h("dd", { "data-field": "throughput" }, t("school.not_measured"));
  const fTraffic = h("dd", { "data-field": "traffic" }, "—");
  const fClass = h("dd", { "data-field": "classrooms" }, "—");
  const fRec = h("dd", { "data-field": "recording" }, "—");
  const runBtn = h("button", { type: "button", class: "run-test", id: "run-test", hidden: true }, t("school.run_test"));
  const runMsg = h("p", { class: "muted small", "data-field": "test-status", role: "status", hidden: true });
  runBtn.addEventListener("click", () => runTest());
  const recBody = h("tbody");
  const recTable = h("table", { id: "recording", class: "data" },
    headRow(["col.room", "col.switch", "col.port", "col.state", "col.since", "col.reasons"]), recBody);
  const recEmpty = h("p", { class: "empty", hidden: true }, t("school.rec_none"));
  const gapNote = h("p", { class: "note note-bad", hidden: true },
    h("span", { class: "icon", "aria-hidden": "true" }, "✗"), " ", t("school.recording_gap"));
  const facts = h("dl", { class: "facts" },
    h("div", null, h("dt", null, t("school.state")), fState),
    h("div", null, h("dt", null, t("school.uplink_speed")), fUplink),
    h("div", null, h("dt", null, t("school.throughput")), fThroughput),
    h("div", null, h("dt", null, t("school.traffic")), fTraffic),
    h("div", null, h("dt", null, t("school.classrooms")), fClass),
    h("div", null, h("dt", null, t("school.recording")), fRec));
  const tbody = h("tbody");
  const roomsEmpty = h("p", { class: "empty", hidden: true }, t("school.rooms_empty"));
  const table = h("table", { id: "rooms", class: "data" },
    headRow(["col.role", "col.room", "col.switch", "col.port", "col.speed#", "col.target#",
      "col.duplex", "col.errors#", "col.state", "col.reasons"]),
    tbody);
  const spark = h("figure", { class: "spark-wrap" }, h("p", { class: "muted" }, t("loading")));
  const alertList = h("ul", { id: "school-alerts", class: "alert-list" });
  const alertsEmpty = h("p", { class: "empty ok-empty", hidden: true }, t("school.alerts_none"));
  const notFound = h("p", { class: "card empty", hidden: true }, t("school.notfound", { code }));
  const body = h("div", { class: "school-body", hidden: true },
    h("div", { class: "school-top" },
      h("section", { class: "card" }, facts, runBtn, runMsg, gapNote),
      h("section", { class: "card" }, h("h2", null, t("school.traffic24")), spark)),
    h("section", { class: "card" }, h("h2", null, t("school.rooms")),
      h("div", { class: "table-scroll" }, table), roomsEmpty),
    h("section", { class: "card" }, h("h2", null, t("school.rec_rooms")),
      h("div", { class: "table-scroll" }, recTable), recEmpty),
    h("section", { class: "card" }, h("h2", null, t("school.alerts")), alertList, alertsEmpty));
  view.appendChild(h("div", { class: "school" },
    h("a", { href: "#/", class: "back" }, t("school.back")),
    title, sub, notFound, body));

  function paint(d) {
    const x = d.school;
    title.textContent = x.name || x.code;
    document.title = (x.name || x.code) + " · schoolnet";
    sub.textContent = [x.code, x.town, schoolType(x.type), x.town_seat ? t("school.town_seat") : null]
      .filter(Boolean).join(" · ");
    clear(fState).appendChild(stateBadge(x.state, "big"));
    const rooms = x.rooms || [];
    const uplinks = rooms.filter((r) => r.role === "uplink");
    clear(fUplink);
    if (!uplinks.length) fUplink.textContent = "—";
    uplinks.forEach((u, i) => {
      if (i) fUplink.appendChild(document.createTextNode("; "));
      const ok = u.state === "ok" ? "ok" : u.state === "below" ? "below" : "unknown";
      fUplink.appendChild(h("span", { class: "inline-state state-" + ok },
        h("span", { class: "icon", "aria-hidden": "true" }, STATE_ICON[ok]), " ",
        u.seen === false ? t("school.uplink_unknown")
          : fmtSpeed(u.speed_mbps) + (u.duplex && u.duplex !== "full" ? " · " + t("duplex." + (u.duplex === "half" ? "half" : "unknown")) : "")));
    });
    paintThroughput(x.throughput);
    const upPorts = (d.ports || []).filter((p) => p.role === "uplink");
    fTraffic.textContent = upPorts.length && upPorts[0].fresh
      ? t("school.traffic_val", { in: fmtRate(upPorts[0].in_bps), out: fmtRate(upPorts[0].out_bps) }) : "—";
    const counts = (c) => (!c || !c.total ? t("school.none")
      : t("school.counts", c) + (c.below || c.unknown ? t("school.counts_more", c) : ""));
    fClass.textContent = counts(x.classrooms);
    fClass.className = x.classrooms && x.classrooms.below ? "bad" : "";
    /* The ports' tally, and the rooms whose host check says not available. */
    const recDown = recordingUnavailable(x);
    fRec.textContent = counts(x.recording_rooms) + (recDown ? t("school.rec_unavailable", { n: recDown }) : "");
    fRec.className = recDown ? "bad" : "";
    show(gapNote, !!x.recording_gap);

    /* Rooms, with the errors of their port from /ports. */
    const portOf = new Map();
    for (const p of d.ports || []) {
      if (p.if_name) portOf.set(p.switch + "\u0000" + p.if_name, p);
      if (p.if_descr && !portOf.has(p.switch + "\u0000" + p.if_descr)) portOf.set(p.switch + "\u0000" + p.if_descr, p);
    }
    clear(tbody);
    for (const r of rooms) {
      const p = portOf.get(r.switch + "\u0000" + r.port);
      const state = STATE_ICON[r.state] ? r.state : "unknown";
      const reasons = (r.reasons || []).map(causeLabel);
      if (r.seen === false) reasons.push(t("school.never_seen"));
      else if (state === "unknown" && !reasons.length) reasons.push(t("school.stale"));
      const down = p && p.fresh && (p.oper !== "up" || p.admin === "down");
      const errs = p && p.fresh ? (p.in_errors ?? 0) + " / " + (p.out_errors ?? 0) : "—";
      const errBad = p && p.fresh && ((p.in_errors || 0) + (p.out_errors || 0)) > 0;
      tbody.appendChild(h("tr", { "data-room": r.room, "data-state": state, class: "row-" + state },
        h("td", null, t("role." + r.role)),
        h("th", { scope: "row" }, r.room),
        h("td", null, r.switch),
        h("td", { class: "mono" }, r.port),
        h("td", { class: "num" + (down || (r.speed_mbps != null && r.target_mbps && r.speed_mbps < r.target_mbps) ? " bad" : "") },
          r.seen === false ? "—" : down ? t("port.down") : fmtSpeed(r.speed_mbps)),
        h("td", { class: "num muted" }, fmtSpeed(r.target_mbps)),
        h("td", { class: r.duplex === "half" ? "bad" : "" }, down || !r.duplex ? "—" : t("duplex." + (["full", "half"].includes(r.duplex) ? r.duplex : "unknown"))),
        h("td", { class: "num" + (errBad ? " bad" : "") }, errs),
        h("td", null, stateBadge(state)),
        h("td", null, reasons.join("，"))));
    }
    show(roomsEmpty, rooms.length === 0);
    show(table.parentNode, rooms.length > 0);
    paintRecording(d.recording || []);
    show(runBtn, app.role === "admin");

    clear(alertList);
    const alerts = openFirst(d.alerts || []);
    for (const a of alerts) alertList.appendChild(alertItem(a, false));
    show(alertsEmpty, alerts.length === 0);
    show(notFound, false);
    show(body, true);
  }

  /* The latest done test: down/up, when, and what the uplink negotiates (from the test, else now). */
  function paintThroughput(tp) {
    clear(fThroughput);
    fThroughput.className = "";
    if (!tp || typeof tp !== "object" || (tp.down_mbps == null && tp.up_mbps == null)) {
      append(fThroughput, [t("school.not_measured"), h("span", { class: "muted small block" }, t("school.not_measured_hint"))]);
      return;
    }
    const link = tp.uplink_mbps;
    const low = link && tp.down_mbps != null && tp.down_mbps < 0.7 * Math.min(link, 1000);
    fThroughput.className = low ? "bad" : "";
    append(fThroughput, [
      h("span", { "data-field": "throughput-val" }, t("school.tp_val", { down: fmtSpeed(tp.down_mbps), up: fmtSpeed(tp.up_mbps) })),
      h("span", { class: "muted small block" }, timeEl(tp.at, t("school.tp_when", { when: fmtTime(tp.at) })),
        link ? " · " + t("school.tp_link", { speed: fmtSpeed(link) }) : ""),
      low ? h("span", { class: "small block" }, t("school.tp_low")) : null]);
  }

  function paintRecording(recs) {
    clear(recBody);
    for (const r of recs) {
      const st = r.state === "available" ? "ok" : r.state === "unavailable" ? "below" : "unknown";
      const badge = h("span", { class: "badge state-" + st },
        h("span", { class: "icon", "aria-hidden": "true" }, STATE_ICON[st]), " ",
        t(r.state === "available" ? "rec.available" : r.state === "unavailable" ? "rec.unavailable" : "rec.unknown"));
      recBody.appendChild(h("tr", { "data-room": r.room, "data-state": r.state, class: "row-" + st },
        h("th", { scope: "row" }, r.room),
        h("td", null, r.switch),
        h("td", { class: "mono" }, r.port),
        h("td", null, badge),
        h("td", null, r.since && r.state !== "unknown" ? timeEl(r.since, t("rec.since", { when: fmtTime(r.since) })) : "—"),
        h("td", { "data-field": "why" }, recordingWhy(r))));
    }
    show(recEmpty, recs.length === 0);
    show(recTable.parentNode, recs.length > 0);
  }

  /* Admins: ask for a test, then follow it in the listing until it ends (or 3 minutes pass). */
  async function runTest() {
    runBtn.disabled = true;
    show(runMsg, true);
    runMsg.className = "muted small";
    let id;
    try {
      id = (await api("api/v1/throughput", { method: "POST", body: { school: code } })).id;
    } catch (e) {
      runMsg.textContent = errorText(e);
      runMsg.className = "small bad";
      runBtn.disabled = false;
      return;
    }
    runMsg.textContent = t("school.test_requested", { id });
    const until = Date.now() + 180000;
    while (Date.now() < until && runMsg.isConnected) {
      await new Promise((ok) => setTimeout(ok, 3000));
      let test;
      try {
        test = ((await api("api/v1/throughput?school=" + q(code) + "&limit=5")).throughput || []).find((x) => x.id === id);
      } catch (e) { continue; }
      if (!test) continue;
      if (test.state === "running") runMsg.textContent = t("school.test_running", { id });
      if (test.state === "done" || test.state === "failed") {
        runMsg.textContent = test.state === "done" ? t("school.test_done", { id })
          : t("school.test_failed", { id, error: test.error || "—" });
        runMsg.className = test.state === "done" ? "small" : "small bad";
        runBtn.disabled = false;
        pollNow();
        return;
      }
    }
    runMsg.textContent = t("school.test_timeout", { id });
    runBtn.disabled = false;
  }

  function paintSpark(hist) {
    clear(spark);
    if (!hist) { spark.appendChild(h("p", { class: "empty" }, t("spark.none"))); return; }
    drawSparkline(spark, hist);
  }

  async function refresh(signal) {
    let d;
    try {
      const [sr, pr, ar, rr] = await Promise.all([
        api("api/v1/schools/" + q(code), { signal }),
        api("api/v1/ports?school=" + q(code), { signal }),
        api("api/v1/alerts?school=" + q(code) + "&limit=50", { signal }),
        api("api/v1/recording?school=" + q(code), { signal }),
      ]);
      d = { school: (sr.schools || [])[0], ports: pr.ports || [], alerts: ar.alerts || [], recording: rr.recording || [] };
    } catch (e) {
      if (isAbort(e)) return;
      if (e.status === 404) {
        show(notFound, true); show(body, false); refreshOk(); return;
      }
      refreshFailed(e);
      return;
    }
    if (signal.aborted) return;
    if (!d.school) { show(notFound, true); show(body, false); refreshOk(); return; }
    app.data.school[code] = d;
    const key = JSON.stringify(d);
    if (key !== st.last) { st.last = key; paint(d); } else refreshAgo(alertList);
    show(runBtn, app.role === "admin");

    /* The uplink's last 24 h, once a minute (or when the port changes). */
    const up = d.ports.find((p) => p.role === "uplink");
    const hkey = up ? up.switch + "\u0000" + up.if_index : "";
    if (hkey !== st.histKey || Date.now() - st.histAt > HISTORY_MS) {
      let hist = null;
      if (up) {
        try {
          hist = await api("api/v1/ports/history?school=" + q(code) + "&switch=" + q(up.switch)
            + "&if_index=" + q(up.if_index) + "&hours=24&points=96", { signal });
        } catch (e) {
          if (isAbort(e)) return;
          if (e.status !== 404) { refreshFailed(e); return; }
        }
      }
      st.histKey = hkey;
      st.histAt = Date.now();
      st.hist = hist && hist.rates && hist.rates.length ? hist : null;
      d.hist = st.hist;
      paintSpark(st.hist);
    }
    refreshOk();
  }

  if (cached) { st.last = ""; paint(cached); if (cached.hist !== undefined) paintSpark(cached.hist); }
  startPolling(refresh, SCHOOL_MS);
  return { title: () => (cached && cached.school && cached.school.name) || t("title.school") };
}

/* The uplink's traffic: polyline.in and polyline.out over the range, grey where there is no
 * data, and a band under it with the port's state (green at 1 Gb/s, red below or down). */
function drawSparkline(box, hist) {
  const W = 600, H = 100, CH = 86;         /* chart area 0..CH, state band below */
  const from = Date.parse(hist.from), to = Date.parse(hist.to);
  const step = (hist.step_s || 900) * 1000;
  const span = Math.max(1, to - from);
  const rates = hist.rates.map((r) => ({ ...r, ts: Date.parse(r.t) })).filter((r) => isFinite(r.ts)).sort((a, b) => a.ts - b.ts);
  let max = 0;
  for (const r of rates) max = Math.max(max, r.in_bps || 0, r.out_bps || 0);
  const top = niceCeil(max || 1);
  const X = (ms) => Math.max(0, Math.min(W, ((ms - from) / span) * W));
  const Y = (v) => CH - (Math.max(0, v || 0) / top) * (CH - 4);
  const pts = (k) => rates.map((r) => X(r.ts + step / 2).toFixed(1) + "," + Y(r[k]).toFixed(1)).join(" ");

  const svg = s("svg", { class: "sparkline", viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none",
    role: "img", "aria-label": t("spark.aria") });
  /* gaps */
  const gaps = [];
  let prevEnd = from;
  for (const r of rates) { if (r.ts - prevEnd >= step) gaps.push([prevEnd, r.ts]); prevEnd = r.ts + step; }
  if (to - prevEnd >= step) gaps.push([prevEnd, to]);
  for (const [a, b] of gaps)
    svg.appendChild(s("rect", { class: "gap", x: X(a).toFixed(1), y: 0, width: Math.max(1, X(b) - X(a)).toFixed(1), height: CH },
      s("title", null, t("spark.gap") + " " + fmtTime(new Date(a)) + " – " + fmtTime(new Date(b)))));
  for (const g of [0.5, 1]) svg.appendChild(s("line", { class: "grid", x1: 0, x2: W, y1: Y(top * g), y2: Y(top * g) }));
  svg.appendChild(s("line", { class: "axis", x1: 0, x2: W, y1: CH, y2: CH }));
  /* state band */
  for (const iv of hist.states || []) {
    const a = Math.max(from, Date.parse(iv.from)), b = Math.min(to, iv.to ? Date.parse(iv.to) : to);
    if (!(b > a)) continue;
    const up = iv.oper === "up" && iv.admin !== "down";
    const cls = !up ? "band-down" : (iv.speed_mbps >= 1000 && iv.duplex !== "half") ? "band-ok" : "band-below";
    svg.appendChild(s("rect", { class: "band " + cls, x: X(a).toFixed(1), y: CH + 6, width: Math.max(0.5, X(b) - X(a)).toFixed(1), height: H - CH - 6 },
      s("title", null, fmtTime(new Date(a)) + " – " + fmtTime(new Date(b)) + ": "
        + (up ? fmtSpeed(iv.speed_mbps) : causeLabel("uplink_down")))));
  }
  svg.appendChild(s("polyline", { class: "in", points: pts("in_bps") }));
  svg.appendChild(s("polyline", { class: "out", points: pts("out_bps") }));
  /* A bucket with no neighbour would not show as a line: mark it. */
  rates.forEach((r, i) => {
    const lone = (i === 0 || r.ts - rates[i - 1].ts > step * 1.5) && (i === rates.length - 1 || rates[i + 1].ts - r.ts > step * 1.5);
    if (!lone) return;
    for (const k of ["in", "out"])
      svg.appendChild(s("line", { class: "dot " + k, x1: X(r.ts + step / 2), x2: X(r.ts + step / 2), y1: Y(r[k + "_bps"]), y2: Y(r[k + "_bps"]) }));
  });

  /* Peaks from the per-bucket maxima. */
  let pin = null, pout = null;
  for (const r of rates) {
    const vi = r.in_bps_max ?? r.in_bps, vo = r.out_bps_max ?? r.out_bps;
    if (pin === null || vi > pin.v) pin = { v: vi, t: r.ts };
    if (pout === null || vo > pout.v) pout = { v: vo, t: r.ts };
  }
  const mid = from + span / 2;
  append(box, [
    h("div", { class: "spark-legend" },
      h("span", { class: "key key-in" }, t("spark.in")), h("span", { class: "key key-out" }, t("spark.out")),
      h("span", { class: "key key-gap" }, t("spark.gap")),
      h("span", { class: "spark-max muted" }, t("spark.scale", { v: fmtRate(top), m: Math.round(step / 60000) }))),
    h("div", { class: "spark-plot" }, svg),
    h("div", { class: "spark-axis muted small" },
      h("span", null, fmtTime(new Date(from))), h("span", null, fmtTime(new Date(mid))), h("span", null, fmtTime(new Date(to)))),
    h("figcaption", null, t("spark.peak", {
      in: fmtRate(pin.v), tin: fmtTime(new Date(pin.t)), out: fmtRate(pout.v), tout: fmtTime(new Date(pout.t)) })),
    h("p", { class: "muted small" }, t("spark.band")),
  ]);
}
function niceCeil(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

/* -------------------------------------------------------------- alerts --- */

function alertsPage(view) {
  const admin = app.role === "admin";
  const st = { filter: "all", lastA: "", lastM: "", maintMissing: false };
  const LIMIT = 500;

  const filter = h("select", { id: "alerts-filter" },
    ["all", "open", "closed"].map((k) => h("option", { value: k }, t("alerts.filter." + k))));
  filter.addEventListener("change", () => { st.filter = filter.value; paintAlerts(); });
  let ackBy = null;
  if (admin) {
    ackBy = h("input", { id: "ack-by", type: "text", maxlength: 64, placeholder: t("alerts.ackby_ph"), autocomplete: "name" });
    ackBy.value = lsGet(LS_ACKBY) || "";
    ackBy.addEventListener("change", () => lsSet(LS_ACKBY, ackBy.value.trim()));
  }
  const msg = h("p", { class: "msg", role: "status", hidden: true });
  const tbody = h("tbody");
  const cols = ["col.open", "col.cause", "col.school", "col.where", "col.since", "col.cleared", "col.duration",
    "col.detail", "col.acked"].concat(admin ? ["col.action"] : []);
  const table = h("table", { id: "alerts", class: "data" },
    h("thead", null, h("tr", null, cols.map((k) => h("th", { scope: "col" }, t(k))))), tbody);
  const empty = h("p", { class: "empty", hidden: true });
  const shown = h("p", { class: "muted small" });

  const mBody = h("tbody");
  const mTable = h("table", { id: "maintenance", class: "data" },
    h("thead", null, h("tr", null, ["col.school", "col.switch", "col.from", "col.to", "col.reason", "col.by"]
      .concat(admin ? ["col.action"] : []).map((k) => h("th", { scope: "col" }, t(k))))), mBody);
  const mEmpty = h("p", { class: "empty", hidden: true }, t("maint.empty"));
  const mMsg = h("p", { class: "msg", role: "status", hidden: true });
  const form = admin ? maintenanceForm() : null;

  view.appendChild(h("div", { class: "alerts-page" },
    h("h1", null, t("alerts.title")),
    h("section", { class: "card" },
      h("div", { class: "toolbar" },
        h("label", null, t("alerts.filter"), " ", filter),
        admin ? h("label", null, t("alerts.ackby"), " ", ackBy) : null),
      msg,
      h("div", { class: "table-scroll" }, table), empty, shown),
    h("section", { class: "card" },
      h("h2", null, t("maint.title")),
      h("p", { class: "muted small" }, t("maint.hint")),
      mMsg,
      h("div", { class: "table-scroll" }, mTable), mEmpty,
      form)));

  function say(el, text, bad) {
    el.textContent = text;
    el.classList.toggle("msg-bad", !!bad);
    show(el, !!text);
  }

  function alertRow(a) {
    const open = !!a.open || a.state === "open";
    const start = parseTime(a.since || a.opened_at), end = a.cleared_at ? parseTime(a.cleared_at) : new Date();
    const detail = [];
    if (a.speed_mbps != null && a.target_mbps != null && /speed_low/.test(a.cause || ""))
      detail.push(t("alert.speed", { speed: fmtSpeed(a.speed_mbps), target: fmtSpeed(a.target_mbps) }));
    if (a.cause === "errors" && a.errors_per_min != null) detail.push(t("alert.errors", { n: fmtNum(a.errors_per_min, 1) }));
    if (a.detail) detail.push(a.detail);
    if (a.flapping) detail.push(t("alert.flapping"));
    if (a.suppressed) detail.push(t("alert.suppressed"));
    const n = a.notifications;
    const where = [a.room, a.switch, a.port].filter(Boolean).join(" · ");
    const row = h("tr", { "data-alert-id": a.id, "data-open": open ? "1" : "0", class: open ? "row-below" : "row-closed" },
      h("td", null, h("span", { class: "badge " + (open ? "state-below" : "state-ok") },
        h("span", { class: "icon", "aria-hidden": "true" }, open ? "!" : "✓"), " ", t(open ? "alert.open" : "alert.closed"))),
      h("td", null, causeLabel(a.cause)),
      h("td", null, a.school ? h("a", { href: "#/school/" + q(a.school) }, a.school_name || a.school) : "—",
        a.town ? h("span", { class: "muted small block" }, a.town) : null),
      h("td", null, where || "—"),
      h("td", { class: "nowrap" }, timeEl(a.since || a.opened_at)),
      h("td", { class: "nowrap" }, a.cleared_at ? timeEl(a.cleared_at) : "—"),
      h("td", { class: "nowrap" }, start ? fmtDuration(end - start) : "—"),
      h("td", null, detail.join("；"),
        n && (n.pending || n.failed) ? h("span", { class: "muted small block" }, t("alert.notify", n)) : null),
      h("td", { "data-field": "acked" }, a.acknowledged_by || ""));
    if (admin) {
      const td = h("td");
      if (open && !a.acknowledged_by) {
        const btn = h("button", { type: "button", class: "ack", "data-alert-id": a.id }, t("alert.ack"));
        btn.addEventListener("click", () => ack(a, btn));
        td.appendChild(btn);
      }
      row.appendChild(td);
    }
    return row;
  }

  async function ack(a, btn) {
    btn.disabled = true;
    btn.textContent = t("alert.acking");
    const by = ackBy && ackBy.value.trim();
    if (ackBy) lsSet(LS_ACKBY, by || "");
    try {
      const r = await api("api/v1/alerts/" + q(a.id) + "/ack", { method: "POST", body: by ? { by } : {} });
      a.acknowledged_by = r.by || by || app.name;
      a.acknowledged_at = new Date().toISOString();
      const old = btn.closest("tr");
      if (old) old.replaceWith(alertRow(a));
      st.lastA = JSON.stringify(app.data.alerts);
      say(msg, "");
    } catch (e) {
      if (e.kind === "auth") return;
      btn.disabled = false;
      btn.textContent = t("alert.ack");
      if (e.status === 409) { say(msg, t("alert.already")); pollNow(); return; }
      say(msg, errorText(e), true);
    }
  }

  function paintAlerts() {
    const all = app.data.alerts || [];
    const list = openFirst(all).filter((a) => st.filter === "all" || (st.filter === "open") === isOpen(a));
    clear(tbody);
    for (const a of list) tbody.appendChild(alertRow(a));
    empty.textContent = all.length ? t("alerts.empty_filtered") : t("alerts.empty");
    show(empty, list.length === 0);
    show(table.parentNode, list.length > 0);
    shown.textContent = t("alerts.shown", { n: list.length, limit: LIMIT });
  }

  function schoolName(code) {
    const x = (app.data.schools || []).find((y) => y.code === code);
    return x ? x.name : code;
  }

  function paintMaint() {
    clear(mBody);
    if (st.maintMissing) { say(mMsg, t("maint.unavailable")); show(mTable.parentNode, false); show(mEmpty, false); if (form) show(form, false); return; }
    const list = app.data.maint || [];
    for (const m of list) {
      const row = h("tr", { "data-maintenance-id": m.id },
        h("td", null, h("a", { href: "#/school/" + q(m.school) }, schoolName(m.school)),
          h("span", { class: "muted small block" }, m.school)),
        h("td", null, m.switch || t("maint.all_switches")),
        h("td", { class: "nowrap" }, timeEl(m.starts_at)),
        h("td", { class: "nowrap" }, timeEl(m.ends_at)),
        h("td", null, m.reason || ""),
        h("td", null, m.created_by || ""));
      if (admin) {
        const btn = h("button", { type: "button", class: "delete-maintenance danger", "data-maintenance-id": m.id }, t("maint.delete"));
        btn.addEventListener("click", () => delMaint(m, btn));
        row.appendChild(h("td", null, btn));
      }
      mBody.appendChild(row);
    }
    show(mEmpty, list.length === 0);
    show(mTable.parentNode, list.length > 0);
  }

  async function delMaint(m, btn) {
    btn.disabled = true;
    try {
      await api("api/v1/maintenance/" + q(m.id), { method: "DELETE" });
      app.data.maint = (app.data.maint || []).filter((x) => x.id !== m.id);
      st.lastM = JSON.stringify(app.data.maint);
      paintMaint();
      say(mMsg, t("maint.deleted", { id: m.id }));
    } catch (e) {
      if (e.kind === "auth") return;
      btn.disabled = false;
      if (e.status === 404) { pollNow(); }
      say(mMsg, errorText(e), true);
    }
  }

  function maintenanceForm() {
    const school = h("select", { name: "school", required: true });
    const f = h("form", { id: "maintenance-form", class: "form-grid", autocomplete: "off" },
      h("h3", null, t("maint.add")),
      h("label", null, h("span", null, t("maint.school")), school),
      h("label", null, h("span", null, t("maint.switch")), h("input", { name: "switch", type: "text", maxlength: 64, placeholder: t("maint.switch_ph") })),
      h("label", null, h("span", null, t("maint.from")), h("input", { name: "from", type: "text", placeholder: t("maint.from_ph") })),
      h("label", null, h("span", null, t("maint.for")), h("input", { name: "for", type: "text", value: "2h", required: true, placeholder: t("maint.for_ph") })),
      h("label", { class: "wide" }, h("span", null, t("maint.reason")), h("input", { name: "reason", type: "text", maxlength: 200, required: true, placeholder: t("maint.reason_ph") })),
      h("div", { class: "wide" }, h("button", { type: "submit", class: "primary" }, t("maint.submit"))));
    f.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const v = (n) => f.elements[n].value.trim();
      const body = { school: v("school"), reason: v("reason") };
      if (v("switch")) body.switch = v("switch");
      const from = v("from");
      if (from && !/^(now|现在)$/i.test(from)) body.from = from.replace("T", " ");
      const dur = v("for");
      if (/^\d{4}-\d\d-\d\d[ T]\d\d:\d\d$/.test(dur)) body.to = dur.replace("T", " "); else body.for = dur;
      const btn = $("button[type=submit]", f);
      btn.disabled = true;
      try {
        const r = await api("api/v1/maintenance", { method: "POST", body });
        say(mMsg, t("maint.added", { id: r.id, to: fmtTime(r.ends_at) }));
        f.elements.reason.value = "";
        f.elements.from.value = "";
        pollNow();
      } catch (e) {
        if (e.kind !== "auth") say(mMsg, errorText(e), true);
      } finally {
        btn.disabled = false;
      }
    });
    return f;
  }
  function fillSchoolSelect() {
    if (!form) return;
    const sel = form.elements.school;
    const list = app.data.schools || [];
    if (sel.options.length === list.length && list.length) return;
    const keep = sel.value;
    clear(sel);
    for (const x of list) sel.appendChild(h("option", { value: x.code }, x.code + " · " + (x.name || "") + (x.town ? "（" + x.town + "）" : "")));
    if (keep) sel.value = keep;
  }

  async function refresh(signal) {
    const jobs = [
      api("api/v1/alerts?limit=" + LIMIT, { signal }),
      api("api/v1/maintenance", { signal }),
    ];
    if (!app.data.schools || (admin && !app.data.schools.length)) jobs.push(api("api/v1/schools?brief=1", { signal }));
    const [ra, rm, rs] = await Promise.allSettled(jobs);
    if (signal.aborted) return;
    if (rs && rs.status === "fulfilled") app.data.schools = rs.value.schools || [];
    fillSchoolSelect();
    let failed = null;
    if (ra.status === "fulfilled") {
      app.data.alerts = ra.value.alerts || [];
      const key = JSON.stringify(app.data.alerts);
      if (key !== st.lastA) { st.lastA = key; paintAlerts(); }
    } else failed = ra.reason;
    if (rm.status === "fulfilled") {
      st.maintMissing = false;
      app.data.maint = rm.value.maintenance || [];
      const key = JSON.stringify(app.data.maint);
      if (key !== st.lastM) { st.lastM = key; paintMaint(); }
    } else if (rm.reason && (rm.reason.status === 404 || rm.reason.status === 405)) {
      if (!st.maintMissing) { st.maintMissing = true; paintMaint(); }
    } else failed = failed || rm.reason;
    if (failed) refreshFailed(failed); else refreshOk();
  }

  if (app.data.alerts) { st.lastA = JSON.stringify(app.data.alerts); paintAlerts(); }
  if (app.data.maint) { st.lastM = JSON.stringify(app.data.maint); paintMaint(); }
  fillSchoolSelect();
  startPolling(refresh, ALERTS_MS);
  return { title: () => t("title.alerts") };
}

/* -------------------------------------------------------------- report --- */

function reportPage(view) {
  const st = { month: app.data.reportMonth || previousMonth(), ctl: null, blobs: [] };
  const month = h("input", { id: "report-month", type: "month", value: st.month, max: ym(new Date()), required: true });
  const load = h("button", { id: "report-load", type: "button", class: "primary" }, t("report.load"));
  const level = h("select", { id: "report-level" },
    ["school", "classroom", "town"].map((k) => h("option", { value: k }, t("report.level." + k))));
  const csv = h("a", { id: "report-csv", href: "#", class: "button" }, t("report.csv"));
  const html = h("a", { id: "report-html", href: "#", class: "button" }, t("report.html"));
  const msg = h("p", { class: "msg", role: "status", hidden: true });
  const meta = h("p", { class: "muted" });
  const summary = h("section", { id: "report-summary", class: "figures" });
  const townBody = h("tbody");
  const towns = h("table", { id: "report-towns", class: "data" },
    headRow(["col.town", "col.schools_pass#", "col.classrooms_pass#", "col.uplinks#", "col.rec_cov#",
      "col.rec_avail#", "col.complete#", "col.alerts#", "col.mttr#"]), townBody);
  const ncList = h("ul", { id: "report-noncompliant", class: "nc-list" });
  const ncNone = h("p", { class: "empty ok-empty", hidden: true }, h("span", { class: "icon", "aria-hidden": "true" }, "✓"), " ", t("report.noncompliant_none"));
  const roomsBox = h("details", { class: "nc-rooms", hidden: true });
  const content = h("div", { class: "report-content", hidden: true },
    meta, summary,
    h("section", { class: "card" }, h("h2", null, t("report.towns")), h("div", { class: "table-scroll" }, towns)),
    h("section", { class: "card" }, h("h2", null, t("report.noncompliant")), ncList, ncNone, roomsBox));

  view.appendChild(h("div", { class: "report-page" },
    h("h1", null, t("report.title")),
    h("div", { class: "card toolbar" },
      h("label", null, t("report.month"), " ", month), load,
      h("span", { class: "spacer" }),
      h("label", null, t("report.level"), " ", level), csv, html),
    msg, content));

  function say(text, bad) { msg.textContent = text; msg.classList.toggle("msg-bad", !!bad); show(msg, !!text); }
  const fileName = (ext) => "schoolnet-" + st.month + "." + ext;

  function figure(key, value, sub, change) {
    let ch = null;
    if (change !== undefined) {
      ch = change === null ? h("span", { class: "change muted" }, t("report.change_none"))
        : h("span", { class: "change " + (change > 0 ? "up" : change < 0 ? "down" : "same") },
          h("span", { class: "icon", "aria-hidden": "true" }, change > 0 ? "▲" : change < 0 ? "▼" : "＝"), " ",
          change === 0 ? t("report.change_same") : t("report.change", { v: (change > 0 ? "+" : "") + fmtNum(change) }));
    }
    const pctVal = value === null || value === undefined ? "—" : fmtNum(value);
    return h("div", { class: "figure" + (value === null || value === undefined ? " unknown" : value >= 99.995 ? " good" : "") },
      h("span", { class: "figure-label" }, t("report.fig." + key)),
      h("span", { class: "figure-value" }, h("span", { "data-figure": key }, pctVal), value == null ? null : h("span", { class: "unit" }, "%")),
      sub ? h("span", { class: "figure-sub muted" }, sub) : null, ch);
  }

  function paint(rep) {
    const d = rep.district || {}, p = rep.params || {}, c = d.change || {};
    const cal = p.calendar || "—";
    const lastDay = p.period_end ? new Date(Date.parse(p.period_end.slice(0, 10) + "T12:00:00Z") - 86400000).toISOString().slice(0, 10) : "—";
    meta.textContent = t("report.counted", { from: wallClock(p.period_start).slice(0, 10), until: lastDay, calendar: cal })
      + (p.complete === false ? " " + t("report.incomplete", { until: wallClock(p.counted_until) }) : "");
    clear(summary);
    append(summary, [
      figure("schools_passing_pct", d.schools_passing_pct, t("report.sub.schools", { a: d.schools_passing, b: d.schools_known }), c.schools_passing_pct),
      figure("classrooms_compliant_pct", d.classrooms_compliant_pct, t("report.sub.classrooms", { a: d.classrooms_compliant, b: d.classrooms_known }), c.classrooms_compliant_pct),
      figure("recording_coverage_pct", d.recording_coverage_pct, t("report.sub.recording", { a: d.town_seat_with_recording, b: d.town_seat_schools }), c.recording_coverage_pct),
      figure("completeness_pct", d.completeness_pct),
      figure("recording_available_pct", d.recording_available_pct, null, c.recording_available_pct),
      h("div", { class: "figure" },
        h("span", { class: "figure-label" }, t("report.fig.uplinks")),
        h("span", { class: "figure-value" }, fmtNum(d.uplinks_compliant), h("span", { class: "unit" }, " / " + fmtNum(d.schools)))),
      h("div", { class: "figure" },
        h("span", { class: "figure-label" }, t("report.fig.alerts")),
        h("span", { class: "figure-value" }, fmtNum(d.alerts_opened)),
        h("span", { class: "figure-sub muted" }, t("report.mttr", { v: fmtMinutes(d.mttr_min) }))),
    ]);
    clear(townBody);
    const pc = (v) => (v == null ? "—" : fmtNum(v) + "%");
    for (const x of rep.towns || []) {
      townBody.appendChild(h("tr", { "data-town": x.town },
        h("th", { scope: "row" }, x.town),
        h("td", { class: "num" }, pc(x.schools_passing_pct), h("span", { class: "muted small block" }, x.schools_passing + " / " + x.schools_known)),
        h("td", { class: "num" }, pc(x.classrooms_compliant_pct), h("span", { class: "muted small block" }, x.classrooms_compliant + " / " + x.classrooms_known)),
        h("td", { class: "num" }, x.uplinks_compliant + " / " + x.schools),
        h("td", { class: "num" }, pc(x.recording_coverage_pct), h("span", { class: "muted small block" }, x.town_seat_with_recording + " / " + x.town_seat_schools)),
        h("td", { class: "num" }, pc(x.recording_available_pct)),
        h("td", { class: "num" }, pc(x.completeness_pct)),
        h("td", { class: "num" }, fmtNum(x.alerts_opened)),
        h("td", { class: "num" }, fmtMinutes(x.mttr_min))));
    }
    clear(ncList);
    const nc = (rep.noncompliant && rep.noncompliant.schools) || [];
    for (const x of nc) {
      const stt = x.status === "fail" ? "below" : "unknown";
      ncList.appendChild(h("li", { "data-school": x.code, class: "nc-" + stt },
        h("span", { class: "badge state-" + stt }, h("span", { class: "icon", "aria-hidden": "true" }, STATE_ICON[stt]), " ", t("status." + x.status)),
        " ", h("a", { href: "#/school/" + q(x.code) }, x.name || x.code),
        h("span", { class: "muted" }, " · " + x.code + " · " + (x.town || "")),
        x.main_cause ? h("span", { class: "nc-cause" }, " — " + causeLabel(x.main_cause)) : null));
    }
    show(ncNone, nc.length === 0);
    const rooms = (rep.noncompliant && rep.noncompliant.classrooms) || [];
    clear(roomsBox);
    if (rooms.length) {
      const MAX = 200;
      const body = h("tbody");
      for (const r of rooms.slice(0, MAX))
        body.appendChild(h("tr", null,
          h("td", null, h("a", { href: "#/school/" + q(r.school) }, r.school_name || r.school)),
          h("td", null, r.room), h("td", null, [r.switch, r.port].filter(Boolean).join(" · ")),
          h("td", { class: "num" }, r.at_target_pct == null ? "—" : fmtNum(r.at_target_pct) + "%"),
          h("td", null, causeLabel(r.main_cause))));
      append(roomsBox, [
        h("summary", null, t("report.nc_rooms", { n: rooms.length })),
        h("div", { class: "table-scroll" }, h("table", { class: "data" },
          headRow(["col.school", "col.room", "col.port", "col.at_target#", "col.cause"]),
          body)),
        rooms.length > MAX ? h("p", { class: "muted small" }, t("report.nc_rooms_more", { n: rooms.length - MAX })) : null]);
    }
    show(roomsBox, rooms.length > 0);
    show(content, true);
  }

  async function run() {
    if (!/^\d{4}-\d\d$/.test(month.value)) { month.reportValidity(); return; }
    st.month = month.value;
    app.data.reportMonth = st.month;
    if (st.ctl) st.ctl.abort();
    const ctl = new AbortController();
    st.ctl = ctl;
    resetDownloads();
    const cached = app.data.report[st.month];
    if (cached) paint(cached); else show(content, false);
    say(t("report.loading", { month: st.month }));
    load.disabled = true;
    try {
      /* rooms=0: only the summary is shown; the per-room lines can be large */
      const rep = await api("api/v1/report?month=" + q(st.month) + "&format=json&rooms=0&lang=" + app.lang, { signal: ctl.signal });
      app.data.report = { [st.month]: rep };
      paint(rep);
      say("");
      refreshOk();
    } catch (e) {
      if (isAbort(e) || e.kind === "auth") return;
      show(content, false);
      say(errorText(e), true);
      if (e.kind === "network") refreshFailed(e);
    } finally {
      if (st.ctl === ctl) { st.ctl = null; load.disabled = false; }
    }
  }

  function resetDownloads() {
    for (const u of st.blobs) URL.revokeObjectURL(u);
    st.blobs = [];
    for (const a of [csv, html]) { a.setAttribute("href", "#"); a.removeAttribute("data-ready"); }
    csv.setAttribute("download", fileName("csv"));
    html.setAttribute("download", fileName("html"));
  }

  /* Fetch with the token, then let the link itself download the blob under its file name. */
  async function download(a, ev, format) {
    if (a.getAttribute("data-ready") === "1") return;     /* second, programmatic click */
    ev.preventDefault();
    if (a.getAttribute("aria-busy") === "true") return;
    if (!/^\d{4}-\d\d$/.test(month.value)) { month.reportValidity(); return; }
    if (month.value !== st.month) { st.month = month.value; resetDownloads(); }
    const label = a.textContent;
    a.setAttribute("aria-busy", "true");
    a.textContent = t("report.downloading");
    try {
      let path = "api/v1/report?month=" + q(st.month) + "&format=" + format + "&lang=" + app.lang;
      if (format === "csv") path += "&level=" + q(level.value);
      const res = await api(path, { raw: true });
      const blob = await res.blob();
      const url = URL.createObjectURL(blob);
      st.blobs.push(url);
      a.setAttribute("href", url);
      a.setAttribute("download", fileName(format));
      a.setAttribute("data-ready", "1");
      a.textContent = label;
      a.removeAttribute("aria-busy");
      a.click();
      a.removeAttribute("data-ready");      /* the next click fetches afresh */
      say("");
    } catch (e) {
      a.textContent = label;
      a.removeAttribute("aria-busy");
      if (e.kind !== "auth") say(errorText(e), true);
    }
  }
  csv.addEventListener("click", (ev) => download(csv, ev, "csv"));
  html.addEventListener("click", (ev) => download(html, ev, "html"));
  level.addEventListener("change", () => { csv.removeAttribute("data-ready"); csv.setAttribute("href", "#"); });
  load.addEventListener("click", run);
  month.addEventListener("change", () => { if (/^\d{4}-\d\d$/.test(month.value)) run(); });
  month.addEventListener("keydown", (ev) => { if (ev.key === "Enter") run(); });

  resetDownloads();
  run();
  return {
    title: () => t("title.report"),
    leave: () => { if (st.ctl) st.ctl.abort(); for (const u of st.blobs) URL.revokeObjectURL(u); },
  };
}

/* ---------------------------------------------------------------- boot --- */

function applyLang() {
  const en = app.lang === "en";
  document.documentElement.setAttribute("lang", en ? "en" : "zh-CN");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.getAttribute("data-i18n"));
  const b = $("#lang-toggle");
  b.textContent = t("lang.switch");
  b.setAttribute("lang", en ? "zh-CN" : "en");
  b.setAttribute("aria-label", en ? "切换到中文" : "Switch to English");
  $("#token-input").setAttribute("aria-describedby", "login-why");
  if (app.lastOk) $("#updated").textContent = fmtTime(app.lastOk, true);
  paintWho();
}

function boot() {
  applyLang();
  $("#lang-toggle").addEventListener("click", () => {
    app.lang = app.lang === "en" ? "zh" : "en";
    lsSet(LS_LANG, app.lang);
    applyLang();
    if (!$("#login").hidden) {
      const why = $("#login-why");
      why.textContent = app.token ? t("login.refused") : t("login.none");
    } else route();
  });
  $("#login").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const tok = cleanToken($("#token-input").value);
    if (!tok) return;
    app.token = tok;
    lsSet(LS_TOKEN, tok);
    app.role = null;
    hideLogin();
    try { await loadWhoami(); } catch (e) { return; }     /* 401: the form is back */
    route();
  });
  $("#logout").addEventListener("click", () => {
    try { localStorage.removeItem(LS_TOKEN); } catch (e) { /* ignore */ }
    app.token = "";
    app.role = null;
    app.name = "";
    app.data = { schools: null, openAlerts: null, school: {}, alerts: null, maint: null, report: {} };
    paintWho();
    showLogin(t("login.none"));
  });
  window.addEventListener("hashchange", route);
  if (takeTokenFromHash()) return;
  if (!app.token) { route(); return; }
  loadWhoami().then(route, () => {});
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
else boot();
