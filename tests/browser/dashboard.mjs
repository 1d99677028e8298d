#!/usr/bin/env node
// The collector's web dashboard in a real browser (Debian's /usr/bin/chromium,
// driven by playwright-core). Run by tests/integration/test_dashboard.py
// against a simulated county; it relies only on the DOM hooks of the
// dashboard contract (ids, data-* attributes) and on the /api/v1 JSON.
//
//   node tests/browser/dashboard.mjs --url http://127.0.0.1:PORT/ \
//       --read snt_... --admin snt_... --artifacts DIR \
//       --school s003 --room ROOM --port IFNAME [--month YYYY-MM] [--ack-by NAME]
//
// Output: "- step" and "  ok    check" lines as the Python harness prints
// them, and machine lines starting with "@@ " (JSON):
//   @@ {"need":"drop", ...}   a classroom port of --school must now be dropped
//                             to 10 Mbps (snmpset); answer with one line on
//                             stdin: {"dropped":true} or {"error":"..."}
//   @@ {"result":"pass", ...} or {"result":"fail","message":...,"screenshot":...}
// Exit status 0 pass, 1 fail, 2 usage or setup error. Every wait is bounded;
// the whole run is bounded by --budget seconds (default 100).
//
// Only 127.0.0.1 is contacted: the dashboard and its API.

import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import fs from 'node:fs';
import path from 'node:path';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const DESKTOP = { width: 1366, height: 768 };
const PHONE = { width: 390, height: 844 };
const CJK = /[\u3400-\u9fff]/;

// --- output -------------------------------------------------------------------

function out(line) { process.stdout.write(line + '\n'); }
function machine(obj) { out('@@ ' + JSON.stringify(obj)); }
let stepName = 'setup';
function step(what) { stepName = what; out('- ' + what); }
function ok(what) { out('  ok    ' + what); }

class Failure extends Error {}
function short(x, n = 400) {
  const s = typeof x === 'string' ? x : JSON.stringify(x);
  return s === undefined ? String(x) : (s.length <= n ? s : s.slice(0, n) + '...');
}
function fail(what, expected, seen) {
  let msg = what;
  if (expected !== undefined) msg += '\n  expected: ' + short(expected);
  if (seen !== undefined) msg += '\n  seen:     ' + short(seen);
  throw new Failure(msg);
}
function check(cond, what, expected, seen) {
  if (!cond) fail(what, expected, seen);
  ok(what);
}

// Poll probe() (async, returns {ok, seen}) every 200 ms for at most
// timeoutMs; fail with what was expected and what was last seen.
async function until(what, expected, timeoutMs, probe) {
  const t0 = Date.now();
  let last, first;
  for (;;) {
    try {
      last = await probe();
    } catch (e) {
      if (e instanceof Failure) throw e;
      last = { ok: false, seen: 'error: ' + (e && e.message ? e.message.split('\n')[0] : e) };
    }
    if (!last.ok && first === undefined) first = last.seen;
    if (last.ok) {
      const took = (Date.now() - t0) / 1000;
      ok(what + ' (' + took.toFixed(1) + ' s)');
      // A slow one says what it saw first (a hint when a wait grows).
      if (took > timeoutMs / 3000) out('          (at first: ' + short(first) + ')');
      return last;
    }
    if (Date.now() - t0 >= timeoutMs) {
      fail(what + ': not within ' + (timeoutMs / 1000) + ' s', expected, last.seen);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

// --- options --------------------------------------------------------------------

function options() {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' }, read: { type: 'string' }, admin: { type: 'string' },
      artifacts: { type: 'string' }, school: { type: 'string' }, room: { type: 'string' },
      port: { type: 'string' }, month: { type: 'string' }, 'ack-by': { type: 'string' },
      budget: { type: 'string' },
    },
    strict: true,
  });
  const missing = ['url', 'read', 'admin', 'artifacts', 'school', 'room', 'port']
    .filter((k) => !values[k]);
  if (missing.length) {
    process.stderr.write('dashboard.mjs: missing --' + missing.join(', --') + '\n');
    process.exit(2);
  }
  const u = new URL(values.url);
  if (u.hostname !== '127.0.0.1') {
    process.stderr.write('dashboard.mjs: --url must be on 127.0.0.1\n');
    process.exit(2);
  }
  const now = new Date(Date.now() + 8 * 3600 * 1000); // the month in China (UTC+8)
  return {
    base: u.origin + '/',
    read: values.read, admin: values.admin, artifacts: values.artifacts,
    school: values.school, room: values.room, port: values.port,
    month: values.month || now.getUTCFullYear() + '-' + String(now.getUTCMonth() + 1).padStart(2, '0'),
    ackBy: values['ack-by'] || '王老师',
    budgetMs: Number(values.budget || 100) * 1000,
  };
}

// --- stdin: answers from the test ----------------------------------------------------

const stdinLines = [];
let stdinWaiter = null;
let stdinClosed = false;
const rl = createInterface({ input: process.stdin });
rl.on('line', (l) => {
  if (stdinWaiter) { const w = stdinWaiter; stdinWaiter = null; w(l); } else stdinLines.push(l);
});
rl.on('close', () => {
  stdinClosed = true;
  if (stdinWaiter) { const w = stdinWaiter; stdinWaiter = null; w(null); }
});
function nextLine(timeoutMs) {
  if (stdinLines.length) return Promise.resolve(stdinLines.shift());
  if (stdinClosed) return Promise.resolve(null);
  return new Promise((resolve) => {
    const t = setTimeout(() => { stdinWaiter = null; resolve(undefined); }, timeoutMs);
    stdinWaiter = (l) => { clearTimeout(t); resolve(l); };
  });
}

// --- the API, as the test sees it (not through the page) ------------------------------------

let cfg;
async function api(pathq, token = cfg.read) {
  const ctl = new AbortController();
  const t = setTimeout(() => ctl.abort(), 10000);
  try {
    const r = await fetch(cfg.base + pathq.replace(/^\//, ''), {
      headers: { Authorization: 'Bearer ' + token }, signal: ctl.signal,
    });
    const text = await r.text();
    if (r.status !== 200) throw new Error('GET ' + pathq + ': ' + r.status + ' ' + text.slice(0, 200));
    return JSON.parse(text);
  } finally {
    clearTimeout(t);
  }
}

function apiCounts(schools) {
  return {
    schools: schools.length,
    'schools-below-1g': schools.filter((s) => s.meets_gigabit_uplink === false).length,
    'classrooms-below-100m': schools.reduce((n, s) => n + ((s.classrooms && s.classrooms.below) || 0), 0),
    unknown: schools.filter((s) => s.state === 'unknown').length,
    // Rooms whose fresh check says not available (unknown ones are not counted).
    'recording-unavailable': schools.reduce((n, s) => n + (s.recording
      ? Math.max(0, s.recording.rooms - s.recording.available - s.recording.unknown) : 0), 0),
  };
}

// The summary as the page shows it: {name: number or the raw text}.
async function domCounts(page) {
  return page.evaluate(() => {
    const o = {};
    for (const k of ['schools', 'schools-below-1g', 'classrooms-below-100m', 'unknown',
      'recording-unavailable']) {
      const el = document.querySelector('#summary [data-count="' + k + '"]');
      const t = el ? el.textContent.trim() : null;
      o[k] = t !== null && /^\d+$/.test(t) ? Number(t) : t;
    }
    return o;
  });
}

function sameCounts(a, b) {
  return Object.keys(a).every((k) => a[k] === b[k]);
}

// CSS attribute value in double quotes.
function q(s) { return '"' + String(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"'; }

// --- problems seen by the browser (step 7) ------------------------------------------

const problems = [];
const aborted = []; // requests cancelled on the client side: noted, not failures

function watch(page, label) {
  page.on('console', (m) => {
    if (m.type() === 'error') {
      const loc = m.location();
      problems.push(label + ': console error: ' + m.text() + (loc && loc.url ? ' (' + loc.url + ':' + loc.lineNumber + ')' : ''));
    }
  });
  page.on('pageerror', (e) => problems.push(label + ': uncaught exception: ' + (e.stack || e.message || e)));
  page.on('requestfailed', (r) => {
    const err = r.failure() ? r.failure().errorText : '?';
    // net::ERR_ABORTED is a request cancelled in the browser: by the page
    // itself (a newer request supersedes it: AbortController), by a reload
    // or a closed context. A resource refused by the browser (wrong MIME
    // type, ...) also ends so, but with a console error, counted above.
    if (err === 'net::ERR_ABORTED') {
      aborted.push(label + ': ' + r.method() + ' ' + r.url());
      return;
    }
    problems.push(label + ': request failed: ' + r.method() + ' ' + r.url() + ': ' + err);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) {
      problems.push(label + ': HTTP ' + r.status() + ' for ' + r.request().method() + ' ' + r.url());
    }
  });
  page.on('crash', () => problems.push(label + ': the page crashed'));
}

// --- the run ----------------------------------------------------------------------

let browser = null;
let current = null; // the page the step is looking at (for the failure screenshot)
let result = {};

async function shot(page, name, fullPage = false) {
  const file = path.join(cfg.artifacts, name);
  await page.screenshot({ path: file, fullPage, timeout: 15000 });
  ok('screenshot ' + file);
  return file;
}

async function newContext(viewport, extra = {}) {
  // A browser in the county: Chinese locale, China's time (as the
  // calendar's utc_offset in the test).
  const ctx = await browser.newContext({ viewport, locale: 'zh-CN', timezoneId: 'Asia/Shanghai', ...extra });
  ctx.setDefaultTimeout(15000);
  ctx.setDefaultNavigationTimeout(20000);
  return ctx;
}

// Open BASE#token=TOKEN; the overview must load and the token leave the
// address bar. Returns once every school has its cell.
async function openWithToken(page, token, role, nSchools, label) {
  await page.goto(cfg.base + '#token=' + token, { waitUntil: 'load' });
  await until(label + ': the overview loads with a cell per school', nSchools + ' a.cell in #grid',
    15000, async () => {
      const n = await page.locator('#grid a.cell').count();
      return { ok: n === nSchools, seen: n + ' cells' };
    });
  await until(label + ': the token is gone from the address bar (hash #/)', 'no token in the URL, hash "#/"',
    5000, async () => {
      const url = page.url();
      return { ok: !url.includes(token) && !url.includes('token=') && new URL(url).hash === '#/', seen: url.replace(token, '<TOKEN>') };
    });
  const stored = await page.evaluate(() => localStorage.getItem('schoolnet.token'));
  check(stored === token, label + ': the token is kept in localStorage "schoolnet.token"',
    'the token', stored === null ? null : (stored === token ? 'the token' : 'something else'));
  await until(label + ': body[data-role="' + role + '"]', role, 10000, async () => {
    const r = await page.evaluate(() => document.body.getAttribute('data-role'));
    return { ok: r === role, seen: r };
  });
}

async function run() {
  const t0 = Date.now();
  step('launch ' + CHROMIUM);
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30000 });
  ok('chromium ' + browser.version() + ' in ' + ((Date.now() - t0) / 1000).toFixed(1) + ' s');
  machine({ event: 'launched' });

  const full = (await api('/api/v1/schools')).schools;
  const me = full.find((s) => s.code === cfg.school);
  if (!me) fail('the API knows school ' + cfg.school, cfg.school, full.map((s) => s.code));
  const towns = [...new Set(full.map((s) => s.town))];

  // 1. Overview, desktop and phone ------------------------------------------------------
  step('overview with the read-only token (desktop ' + DESKTOP.width + 'x' + DESKTOP.height + ')');
  const desk = await newContext(DESKTOP);
  const page = await desk.newPage();
  current = page;
  watch(page, 'desktop');
  await openWithToken(page, cfg.read, 'read', full.length, 'desktop');
  for (const s of full) {
    const cell = page.locator('#grid a.cell[data-school=' + q(s.code) + ']');
    const n = await cell.count();
    check(n === 1, 'one cell for ' + s.code, 1, n);
    const href = await cell.getAttribute('href');
    check(href === '#/school/' + s.code, s.code + ': the cell links to #/school/' + s.code, '#/school/' + s.code, href);
  }
  const townSections = await page.locator('#grid section.town').evaluateAll(
    (els) => els.map((e) => e.getAttribute('data-town')));
  check(towns.every((t) => townSections.includes(t)) && townSections.length === towns.length,
    'one section.town per town (' + towns.length + ')', towns, townSections);
  let want;
  await until('the summary counts match /api/v1/schools', 'the counts of the API', 15000, async () => {
    want = apiCounts((await api('/api/v1/schools')).schools);
    const got = await domCounts(page);
    return { ok: sameCounts(want, got), seen: { dom: got, api: want } };
  });
  out('          ' + JSON.stringify(want));
  const offline = await page.locator('#offline').isVisible();
  check(!offline, 'the #offline banner is not shown', 'hidden', 'visible');
  await shot(page, 'overview.png');

  step('overview on a phone (' + PHONE.width + 'x' + PHONE.height + ')');
  const phoneCtx = await newContext(PHONE, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const phone = await phoneCtx.newPage();
  current = phone;
  watch(phone, 'phone');
  await openWithToken(phone, cfg.read, 'read', full.length, 'phone');
  const dims = await phone.evaluate(() => ({
    innerWidth: window.innerWidth, scrollWidth: document.scrollingElement.scrollWidth,
  }));
  check(dims.innerWidth === PHONE.width, 'the page is laid out for the phone (meta viewport): innerWidth ' + PHONE.width,
    PHONE.width, dims.innerWidth);
  check(dims.scrollWidth <= dims.innerWidth, 'no horizontal scroll on the phone',
    'scrollWidth <= ' + dims.innerWidth, dims);
  await shot(phone, 'overview-phone.png');
  await phoneCtx.close();

  // 2. A classroom drops to 10 Mbps, the overview follows without a reload ---------------------
  step(cfg.school + ' ' + cfg.room + ' (' + cfg.port + ') drops to 10 Mbps');
  current = page;
  const cellSel = '#grid a.cell[data-school=' + q(cfg.school) + ']';
  // The count before: while every room has fresh data (a late agent makes
  // its rooms "unknown" for a while, and they leave the count) and the page
  // agrees with the API.
  let before;
  await until(cfg.school + ': the cell says ok before the drop, every room known, the page and the API agree',
    'data-state="ok", no unknown room, the same counts', 20000, async () => {
      const s = await page.locator(cellSel).getAttribute('data-state');
      const schools = (await api('/api/v1/schools?brief=1')).schools;
      const unknownRooms = schools.reduce((n, x) => n + ((x.classrooms && x.classrooms.unknown) || 0), 0);
      const want = apiCounts(schools);
      const got = await domCounts(page);
      before = got['classrooms-below-100m'];
      return {
        ok: s === 'ok' && unknownRooms === 0 && want.unknown === 0 && sameCounts(want, got),
        seen: { 'data-state': s, 'unknown classrooms': unknownRooms, dom: got, api: want },
      };
    });
  const marker = 'm' + Math.random().toString(36).slice(2);
  await page.evaluate((m) => { window.__schoolnetNoReload = m; }, marker);
  machine({ need: 'drop', school: cfg.school, room: cfg.room, port: cfg.port });
  const answer = await nextLine(20000);
  if (answer === undefined || answer === null) {
    fail('the test answers the drop request', '{"dropped":true} on stdin',
      answer === null ? 'stdin closed' : 'nothing within 20 s');
  }
  const reply = JSON.parse(answer);
  if (!reply.dropped) fail('snmpset dropped the port', 'dropped', reply);
  const tDrop = Date.now();
  ok('snmpset: ' + cfg.port + ' now 10 Mbps on the switch');
  await until(cfg.school + ': the cell turns data-state="below" and classrooms below go from ' + before + ' to ' + (before + 1),
    'data-state="below", classrooms-below-100m ' + (before + 1), 30000, async () => {
      const s = await page.locator(cellSel).getAttribute('data-state');
      const n = (await domCounts(page))['classrooms-below-100m'];
      return { ok: s === 'below' && n === before + 1, seen: 'data-state=' + s + ', classrooms-below-100m ' + n };
    });
  let alert;
  await until('the API has an open alert for ' + cfg.port, 'an open alert for the port', 30000, async () => {
    const a = (await api('/api/v1/alerts?open=1&school=' + encodeURIComponent(cfg.school))).alerts;
    alert = a.find((x) => x.port === cfg.port && x.open !== false);
    return { ok: !!alert, seen: a.map((x) => x.id + ':' + x.port + ':' + x.cause) };
  });
  result.alert_id = alert.id;
  await until('#alerts-side lists alert ' + alert.id + ' (' + alert.cause + ')', 'li[data-alert-id="' + alert.id + '"]',
    20000, async () => {
      const ids = await page.locator('#alerts-side li[data-alert-id]').evaluateAll(
        (els) => els.map((e) => e.getAttribute('data-alert-id')));
      return { ok: ids.includes(String(alert.id)), seen: 'ids ' + ids.join(',') };
    });
  const firstId = await page.locator('#alerts-side li[data-alert-id]').first().getAttribute('data-alert-id');
  const newest = (await api('/api/v1/alerts?open=1&limit=50')).alerts[0];
  check(newest && firstId === String(newest.id), '#alerts-side: newest first', newest && String(newest.id), firstId);
  const still = await page.evaluate(() => window.__schoolnetNoReload);
  check(still === marker, 'no reload: the window marker set before the drop is still there', marker, still);
  ok('seen ' + ((Date.now() - tDrop) / 1000).toFixed(1) + ' s after the snmpset');
  await shot(page, 'overview-below.png');

  // 3. Alerts: read-only sees no button; an admin acknowledges ---------------------------------
  step('alerts page with the read-only token');
  const rowSel = 'table#alerts tr[data-alert-id="' + alert.id + '"]';
  await page.locator('a[data-nav="alerts"]').first().click();
  await until('the alert ' + alert.id + ' is in table#alerts', rowSel, 15000, async () => {
    const n = await page.locator(rowSel).count();
    return { ok: n === 1, seen: n + ' rows for it; hash ' + new URL(page.url()).hash };
  });
  const open = await page.locator(rowSel).getAttribute('data-open');
  check(open === '1', 'its row is data-open="1"', '1', open);
  const roButtons = await page.locator('button.ack').count();
  check(roButtons === 0, 'no button.ack for a read-only token', 0, roButtons);

  step('alerts page as admin: acknowledge as ' + cfg.ackBy);
  const adminCtx = await newContext(DESKTOP);
  const admin = await adminCtx.newPage();
  current = admin;
  watch(admin, 'admin');
  await openWithToken(admin, cfg.admin, 'admin', full.length, 'admin');
  await admin.locator('a[data-nav="alerts"]').first().click();
  const btnSel = 'button.ack[data-alert-id="' + alert.id + '"]';
  await until('button.ack for alert ' + alert.id, btnSel, 15000, async () => {
    const n = await admin.locator(btnSel).count();
    return { ok: n === 1, seen: n + ' buttons for it, ' + (await admin.locator('button.ack').count()) + ' in all' };
  });
  await admin.locator('input#ack-by').fill(cfg.ackBy);
  await admin.locator(btnSel).click();
  await until('the row shows ' + cfg.ackBy + ' in [data-field="acked"], and its button is gone',
    cfg.ackBy + ', no button', 10000, async () => {
      const acked = await admin.locator('table#alerts tr[data-alert-id="' + alert.id + '"] [data-field="acked"]')
        .evaluateAll((els) => els.map((e) => e.textContent.trim()));
      const n = await admin.locator(btnSel).count();
      return { ok: acked.length === 1 && acked[0].includes(cfg.ackBy) && n === 0, seen: { acked, buttons: n } };
    });
  const after = (await api('/api/v1/alerts?school=' + encodeURIComponent(cfg.school))).alerts
    .find((x) => x.id === alert.id);
  check(after && after.acknowledged_by === cfg.ackBy, 'the API says acknowledged_by ' + cfg.ackBy,
    cfg.ackBy, after && after.acknowledged_by);
  result.acked_by = cfg.ackBy;
  await shot(admin, 'alerts.png', true);

  // 4. The school page ----------------------------------------------------------------
  step('school page #/school/' + cfg.school);
  current = page;
  await page.locator('a[data-nav="overview"]').first().click();
  await page.locator(cellSel).click();
  await until('the hash is #/school/' + cfg.school + ' and h1 names ' + me.name, me.name, 15000, async () => {
    const h1 = await page.locator('h1').allTextContents();
    const hash = new URL(page.url()).hash;
    return { ok: hash === '#/school/' + cfg.school && h1.some((t) => t.includes(me.name)), seen: { hash, h1 } };
  });
  const roomSel = 'table#rooms tr[data-room=' + q(cfg.room) + ']';
  await until('table#rooms: ' + cfg.room + ' is data-state="below"', 'data-state="below"', 25000, async () => {
    const st = await page.locator(roomSel).evaluateAll((els) => els.map((e) => e.getAttribute('data-state')));
    return { ok: st.length === 1 && st[0] === 'below', seen: st.length ? 'data-state ' + st.join(',') : 'no such row' };
  });
  const nRooms = await page.locator('table#rooms tr[data-room]').count();
  check(nRooms === me.rooms.length, 'table#rooms has a row per inventory port (' + me.rooms.length + ')',
    me.rooms.length, nRooms);
  await until('svg.sparkline is drawn', 'svg.sparkline', 15000, async () => {
    const n = await page.locator('svg.sparkline').count();
    return { ok: n >= 1, seen: n + ' svg.sparkline' };
  });
  // Throughput and recording rooms: the test wrote a done test and a room's
  // failed host check into the database (SQL), as the probes would.
  const tpSel = 'dd[data-field="throughput"]';
  const tp = (await api('/api/v1/schools/' + encodeURIComponent(cfg.school))).schools[0].throughput;
  check(tp && tp.down_mbps > 0, 'the API has a done throughput test for ' + cfg.school, 'down_mbps', tp);
  await until(tpSel + ' shows the test: down/up, when, what the uplink negotiates', '下行 280 · 出口协商', 10000,
    async () => {
      const text = (await page.locator(tpSel).textContent()).replace(/\s+/g, ' ');
      return { ok: /下行 280 Mb\/s/.test(text) && text.includes('上行 300') && text.includes('出口协商')
        && !text.includes('尚未测量'), seen: text };
    });
  const recs = (await api('/api/v1/recording?school=' + encodeURIComponent(cfg.school))).recording;
  const down = recs.find((r) => r.state === 'unavailable');
  check(down, 'the API lists an unavailable recording room for ' + cfg.school, 'state unavailable', recs);
  await until('table#recording: a row per recording room (' + recs.length + '), ' + down.room
    + ' data-state="unavailable" saying why', 'connection refused', 10000, async () => {
    const rows = await page.locator('table#recording tr[data-room]').evaluateAll((els) => els.map((e) => ({
      room: e.getAttribute('data-room'), state: e.getAttribute('data-state'),
      why: (e.querySelector('[data-field="why"]') || {}).textContent,
    })));
    const mine = rows.find((r) => r.room === down.room);
    return { ok: rows.length === recs.length && mine && mine.state === 'unavailable'
      && /connection refused/.test(mine.why), seen: rows };
  });
  const roRun = await page.locator('button#run-test').isVisible();
  check(!roRun, 'no button#run-test for a read-only token', 'hidden', 'visible');
  await shot(page, 'school.png', true);

  step('school page as admin: run a test');
  current = admin;
  await admin.goto(cfg.base + '#/school/' + encodeURIComponent(cfg.school));
  const run = admin.locator('button#run-test');
  await until('button#run-test is shown to the admin', 'visible', 10000, async () => ({
    ok: await run.isVisible(), seen: 'hidden' }));
  await run.click();
  const msgSel = '[data-field="test-status"]';
  let asked;
  await until(msgSel + ' names the test, and the API lists it', '测速 #N', 10000, async () => {
    const text = await admin.locator(msgSel).textContent();
    const list = (await api('/api/v1/throughput?school=' + encodeURIComponent(cfg.school) + '&limit=1')).throughput;
    asked = list[0];
    return { ok: asked && asked.reason === 'demand'
      && text.includes('#' + asked.id), seen: { text, list } };
  });
  // The collector's scheduler sends it to the school's (real) agent, which
  // measures against the probe server over loopback.
  let row;
  await until(msgSel + ' says done, and the page shows the measured figures', '测速 #' + asked.id + ' 完成',
    30000, async () => {
      const text = await admin.locator(msgSel).textContent();
      const val = (await admin.locator(tpSel).textContent()).replace(/\s+/g, ' ');
      row = (await api('/api/v1/throughput?school=' + encodeURIComponent(cfg.school) + '&limit=1')).throughput[0];
      return { ok: row.id === asked.id && row.state === 'done' && text.includes('#' + asked.id + ' 完成')
        && /下行 [0-9][0-9.,]* [MG]b\/s/.test(val), seen: { text, val, row } };
    });
  result.test_id = asked.id;
  await adminCtx.close();
  current = page;

  // 5. Language --------------------------------------------------------------------
  step('language switch');
  const navText = () => page.locator('a[data-nav]').evaluateAll((els) => els.map((e) => e.textContent.trim()));
  const lang0 = await page.evaluate(() => document.documentElement.lang);
  check(lang0 === 'zh-CN', 'Chinese by default: <html lang="zh-CN">', 'zh-CN', lang0);
  const zhNav = await navText();
  check(zhNav.length >= 3 && zhNav.every((t) => CJK.test(t)), 'the nav is in Chinese', 'Chinese labels', zhNav);
  await page.locator('button#lang-toggle').click();
  const isEnglish = async () => {
    const lang = await page.evaluate(() => document.documentElement.lang);
    const nav = await navText();
    const h = await page.locator('table#rooms thead th').allTextContents();
    const labels = nav.concat(h.map((t) => t.trim()).filter(Boolean));
    return {
      ok: lang === 'en' && nav.length >= 3 && labels.every((t) => !CJK.test(t) && /[A-Za-z]/.test(t)),
      seen: { lang, labels },
    };
  };
  await until('after button#lang-toggle: <html lang="en"> and English labels (nav, table#rooms column headings)',
    'lang="en", no Chinese in the labels', 5000, isEnglish);
  await page.reload({ waitUntil: 'load' });
  await until('after a reload: still English', 'lang="en", no Chinese in the labels', 10000, isEnglish);
  const stored = await page.evaluate(() => localStorage.getItem('schoolnet.lang'));
  check(stored === 'en', 'localStorage "schoolnet.lang" is "en"', 'en', stored);

  // 6. The monthly report ---------------------------------------------------------------
  step('report page, month ' + cfg.month);
  await page.locator('a[data-nav="report"]').first().click();
  await page.locator('input#report-month').waitFor({ state: 'visible', timeout: 15000 });
  await page.locator('input#report-month').fill(cfg.month);
  await page.locator('button#report-load').click();
  const rep = await api('/api/v1/report?format=json&month=' + cfg.month);
  const figures = ['schools_passing_pct', 'classrooms_compliant_pct', 'recording_coverage_pct', 'completeness_pct'];
  const numeric = figures.filter((f) => typeof rep.district[f] === 'number');
  check(numeric.length >= 3, 'the API has this month\'s figures (so the page must show numbers)',
    'numbers', figures.map((f) => f + '=' + rep.district[f]).join(', '));
  const shown = await until('#report-summary shows the district figures of the API', figures.map((f) => f + ' ' + rep.district[f]).join(', '),
    20000, async () => {
      const got = {};
      for (const f of figures) {
        const el = page.locator('#report-summary [data-figure="' + f + '"]');
        got[f] = (await el.count()) ? (await el.first().textContent()).trim() : null;
      }
      const good = figures.every((f) => {
        const v = rep.district[f];
        if (got[f] === null) return false;
        if (typeof v !== 'number') return true;
        const m = got[f].replace(/,/g, '').match(/-?\d+(\.\d+)?/);
        return m !== null && Math.abs(Number(m[0]) - v) <= 1;
      });
      return { ok: good, seen: got };
    });
  out('          ' + JSON.stringify(shown.seen));
  const csv = page.locator('a#report-csv');
  check((await csv.count()) === 1, 'a#report-csv is there', 1, await csv.count());
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 15000 }),
    csv.click(),
  ]);
  const fname = download.suggestedFilename();
  check(fname === 'schoolnet-' + cfg.month + '.csv', 'a#report-csv downloads ' + fname,
    'schoolnet-' + cfg.month + '.csv', fname);
  const csvPath = await download.path();
  const csvText = fs.readFileSync(csvPath, 'utf8');
  check(csvText.includes(cfg.school), 'the CSV names ' + cfg.school, cfg.school, csvText.slice(0, 200));
  await shot(page, 'report.png', true);

  // 7. What the browser said along the way -------------------------------------------------
  step('console errors, uncaught exceptions, failed requests');
  for (const a of aborted) out('          (cancelled in the browser, not counted: ' + a + ')');
  check(problems.length === 0, 'none in the whole run', 'none', problems.join('\n            '));
  result.seconds = (Date.now() - t0) / 1000;
}

// Screenshot of the failure state (bounded), for the artifacts.
async function failureShot() {
  if (!current || current.isClosed()) return null;
  const slug = stepName.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60) || 'step';
  const file = path.join(cfg.artifacts, 'FAILED-' + slug + '.png');
  try {
    await current.screenshot({ path: file, fullPage: true, timeout: 5000 });
    return file;
  } catch {
    return null;
  }
}

async function main() {
  cfg = options();
  fs.mkdirSync(cfg.artifacts, { recursive: true });
  let code = 0;
  let timer;
  const budget = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Failure('the browser run took over ' + cfg.budgetMs / 1000 + ' s (in step: ' + stepName + ')')), cfg.budgetMs);
  });
  try {
    await Promise.race([run(), budget]);
    machine({ result: 'pass', ...result });
  } catch (e) {
    code = 1;
    const message = e instanceof Failure ? e.message
      : 'unexpected error in step "' + stepName + '": ' + (e && e.stack ? e.stack : e);
    const screenshot = await failureShot();
    if (problems.length) out('  browser problems so far:\n    ' + problems.join('\n    '));
    machine({ result: 'fail', step: stepName, message, screenshot });
  } finally {
    clearTimeout(timer);
    if (browser) {
      await Promise.race([browser.close().catch(() => {}), new Promise((r) => setTimeout(r, 10000))]);
    }
    rl.close();
  }
  process.exit(code);
}

main();
