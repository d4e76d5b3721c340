// ops/ against a real chatd (issue 16): every metric the Prometheus rules
// (ops/prometheus/chatd-rules.yml) and the Grafana dashboard
// (ops/grafana/chatd.json) name is exported on /metrics by a `--role all`
// chatd with the testenv's PostgreSQL and Redis; the labels they match on
// exist with the values they expect; rate()/increase() are taken of counters
// (or histogram series) only; the dashboard covers what it promises
// (connections, subscriptions, operations, latency, deliveries, outbox,
// Redis/PostgreSQL up, gap fills, resyncs) and the rules hold every alert.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startChatd, gqlPost } from './lib/chatd.js';
import { allExprs, selectors, metricNames, substituteGrafanaVars, RULES_FILE } from '../../ops/exprs.mjs';

// Prometheus's own series (not exported by chatd) and target labels.
const PROMETHEUS_SERIES = new Set(['up']);
const TARGET_LABELS = new Set(['instance', 'job']);
const READY_MS = 20000;

// Prometheus text → { samples: Map(name → [labels]), types: Map(family → type) }
function parseExposition(text) {
  const samples = new Map();
  const types = new Map();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) {
      types.set(t[1], t[2]);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? \S+$/.exec(line);
    assert.ok(m, `unparsable /metrics line: ${line}`);
    const labels = {};
    for (const l of (m[2] || '').matchAll(/([A-Za-z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    if (!samples.has(m[1])) samples.set(m[1], []);
    samples.get(m[1]).push(labels);
  }
  return { samples, types };
}

// the family a sample belongs to, and its type (histogram series → histogram)
function typeOf(types, name) {
  if (types.has(name)) return types.get(name);
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return types.get(base) === 'histogram' ? 'histogram' : undefined;
}

// a matcher against a series' label value (an absent label reads as "")
const matches = (m, value) => {
  const v = value ?? '';
  switch (m.op) {
    case '=': return v === m.value;
    case '!=': return v !== m.value;
    case '=~': return new RegExp(`^(?:${m.value})$`).test(v);
    case '!~': return !new RegExp(`^(?:${m.value})$`).test(v);
    default: throw new Error(`matcher op ${m.op}`);
  }
};

let srv;
let exposition;
before(async () => {
  srv = await startChatd({ role: 'all', db: true, redis: true });
  // ready = PostgreSQL and Redis connected, so pg_up/redis_up read 1
  const t0 = Date.now();
  for (;;) {
    const r = await fetch(`${srv.base}/readyz`);
    if (r.status === 200) break;
    assert.ok(Date.now() - t0 < READY_MS, `chatd not ready: ${await r.text()}\n${srv.logs()}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  // one operation, so that the exposition is not only zeros
  const q = await gqlPost(srv.url, { query: '{ health { status role } }' });
  assert.equal(q.status, 200);
  assert.equal(q.body.data.health.role, 'all');
  const res = await fetch(`${srv.base}/metrics`);
  assert.equal(res.status, 200);
  exposition = parseExposition(await res.text());
});
after(async () => {
  const r = await srv.stop();
  assert.equal(r.code, 0, srv.logs().slice(-4000));
});

test('the extractor finds metric names and matchers (so the checks below can fail)', () => {
  assert.deepEqual(metricNames('sum by (instance, le) (rate(chatd_nope_bucket{class="5xx"}[5m])) / on (job) up'), ['chatd_nope_bucket', 'up']);
  assert.deepEqual(selectors('label_replace(chatd_pg_up == 0, "dependency", "postgres", "", "")'), [{ name: 'chatd_pg_up', matchers: [] }]);
  assert.deepEqual(selectors('chatd_info{role=~"sender|all"}')[0].matchers, [{ label: 'role', op: '=~', value: 'sender|all' }]);
  assert.ok(!exposition.samples.has('chatd_nope_bucket'));
});

test('every metric the rules and the dashboard name is exported by chatd', () => {
  const { rules, dashboard } = allExprs();
  assert.ok(rules.length >= 6 && dashboard.length >= 20, `${rules.length} rules, ${dashboard.length} dashboard queries`);
  const missing = [];
  const checked = new Set();
  for (const e of [...rules, ...dashboard]) {
    for (const name of metricNames(e.expr)) {
      checked.add(name);
      if (!PROMETHEUS_SERIES.has(name) && !exposition.samples.has(name)) missing.push(`${name} (${e.where})`);
    }
  }
  assert.deepEqual(missing, [], `named in ops/ but not on /metrics of a --role all chatd with PostgreSQL and Redis`);
  // histograms count as _bucket/_sum/_count: the latency histogram's series are all used
  for (const s of ['_bucket', '_sum', '_count']) assert.ok(checked.has(`chatd_operation_duration_seconds${s}`));
});

test('the labels the queries match on exist, with the values they expect', () => {
  const { rules, dashboard } = allExprs();
  const problems = [];
  for (const e of [...rules, ...dashboard]) {
    const expr = substituteGrafanaVars(e.expr);
    for (const sel of selectors(expr)) {
      const series = exposition.samples.get(sel.name);
      if (!series) continue; // reported by the test above (or Prometheus's own)
      const own = sel.matchers.filter((m) => !TARGET_LABELS.has(m.label));
      if (!series.some((labels) => own.every((m) => matches(m, labels[m.label])))) {
        problems.push(`${sel.name}{${own.map((m) => `${m.label}${m.op}"${m.value}"`).join(',')}} (${e.where})`);
      }
    }
    if (e.label && !TARGET_LABELS.has(e.label)) {
      const name = metricNames(expr)[0];
      if (!(exposition.samples.get(name) || []).some((l) => e.label in l)) problems.push(`label ${e.label} of ${name} (${e.where})`);
    }
  }
  assert.deepEqual(problems, [], 'selectors that match no exported series');
});

test('rate() and increase() are taken of counters and histogram series only', () => {
  const { rules, dashboard } = allExprs();
  const wrong = [];
  for (const e of [...rules, ...dashboard]) {
    for (const m of e.expr.matchAll(/\b(rate|irate|increase)\(\s*([A-Za-z_:][A-Za-z0-9_:]*)/g)) {
      const type = typeOf(exposition.types, m[2]);
      if (type !== 'counter' && type !== 'histogram') wrong.push(`${m[1]}(${m[2]}) of a ${type} (${e.where})`);
    }
    for (const m of e.expr.matchAll(/\b(deriv|min_over_time|max_over_time)\(\s*([A-Za-z_:][A-Za-z0-9_:]*)/g)) {
      if (typeOf(exposition.types, m[2]) !== 'gauge') wrong.push(`${m[1]}(${m[2]}) of a non-gauge (${e.where})`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('the dashboard shows what it promises; the rules hold every alert', () => {
  const { dashboard } = allExprs();
  const used = new Set(dashboard.flatMap((e) => metricNames(e.expr)));
  const promised = {
    connections: 'chatd_connections',
    subscriptions: 'chatd_subscriptions',
    operations: 'chatd_operations_total',
    'latency histogram': 'chatd_operation_duration_seconds_bucket',
    deliveries: 'chatd_subscription_deliveries_total',
    'outbox backlog': 'chatd_pg_pool_waiting',
    'redis up': 'chatd_redis_up',
    'postgres up': 'chatd_pg_up',
    'gap fills': 'chatd_receiver_fills_total',
    resyncs: 'chatd_receiver_resyncs_total',
  };
  for (const [what, name] of Object.entries(promised)) assert.ok(used.has(name), `the dashboard shows ${what} (${name})`);

  const alerts = [...fs.readFileSync(RULES_FILE, 'utf8').matchAll(/^\s*- alert: (\w+)$/gm)].map((m) => m[1]);
  for (const a of ['ChatdInstanceDown', 'ChatdNotReady', 'ChatdOutboxBacklogGrowing', 'ChatdDeliveryGaps', 'ChatdLatencyP99High', 'ChatdHttp5xxRate']) {
    assert.ok(alerts.includes(a), `alert ${a}`);
  }
});
