// exprs.mjs — the PromQL expressions of ops/ and the metric names in them.
// Used by `make ops-check` (ops/check: the dashboard's queries are checked by
// promtool as recording rules) and by tests/integration/ops-metrics.test.js
// (every metric named here is exported by a real chatd).
//
//   node ops/exprs.mjs dashboard-rules ops/grafana/chatd.json   → a rules file on stdout
//   node ops/exprs.mjs names                                    → every metric name used
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const RULES_FILE = path.join(here, 'prometheus/chatd-rules.yml');
export const DASHBOARD_FILE = path.join(here, 'grafana/chatd.json');

// Grafana's variables, as a concrete value promtool and the label checks accept.
const GRAFANA_VARS = [
  [/\$__rate_interval|\$__interval|\$__range/g, '5m'],
  [/\$\{?[A-Za-z_]\w*\}?/g, '.*'],
];
export function substituteGrafanaVars(expr) {
  let out = expr;
  for (const [re, v] of GRAFANA_VARS) out = out.replace(re, v);
  return out;
}

/**
 * The expressions of a rules file (our own, as written in ops/prometheus):
 * `expr: <one line>` or `expr: |` followed by more-indented lines. Throws
 * when the count differs from the number of `- alert:` / `- record:` entries
 * (a form this reader does not understand).
 */
export function rulesExprs(text) {
  const lines = text.split('\n');
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)expr:\s*(.*)$/.exec(lines[i]);
    if (!m) continue;
    if (m[2] !== '|' && m[2] !== '>') {
      out.push(m[2].trim());
      continue;
    }
    const indent = m[1].length;
    const body = [];
    while (i + 1 < lines.length && (lines[i + 1].trim() === '' || lines[i + 1].search(/\S/) > indent)) {
      body.push(lines[++i].trim());
    }
    out.push(body.join(' ').trim());
  }
  const entries = (text.match(/^\s*- (alert|record):/gm) || []).length;
  if (entries !== out.length) throw new Error(`rules: ${entries} rules but ${out.length} expressions read`);
  return out;
}

/**
 * The queries of a Grafana dashboard: every target's `expr` (panels and
 * rows' panels) and every query variable's `label_values(<selector>, <label>)`
 * as { expr, label }.
 */
export function dashboardExprs(dash) {
  const exprs = [];
  const walk = (panels) => {
    for (const p of panels || []) {
      for (const t of p.targets || []) if (t.expr) exprs.push({ expr: t.expr, where: `panel "${p.title}"` });
      walk(p.panels);
    }
  };
  walk(dash.panels);
  for (const v of (dash.templating && dash.templating.list) || []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query && v.query.query;
    const m = /^label_values\((.*),\s*(\w+)\)$/.exec(q || '');
    if (!m) throw new Error(`variable ${v.name}: expected label_values(selector, label), got ${q}`);
    exprs.push({ expr: m[1], label: m[2], where: `variable $${v.name}` });
  }
  return exprs;
}

const KEYWORDS = new Set([
  'and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right',
  'inf', 'nan', 'atan2',
]);

/**
 * The vector selectors of a PromQL expression: [{ name, matchers: [{ label,
 * op, value }] }]. String literals, range/subquery brackets, grouping label
 * lists and function names are not metric names.
 */
export function selectors(expr) {
  const strings = [];
  // keep string literals aside (they may hold anything, braces included)
  let s = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, (m) => {
    strings.push(m.slice(1, -1));
    return `\u0000${strings.length - 1}\u0000`;
  });
  s = s.replace(/\[[^\]]*\]/g, ' ');
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const out = [];
  const re = /([A-Za-z_:][A-Za-z0-9_:]*)?\s*(\{[^}]*\})?/g;
  let m;
  while ((m = re.exec(s))) {
    if (m[0] === '') {
      re.lastIndex++;
      continue;
    }
    const [, name, braces] = m;
    const before = s[m.index - 1];
    if (name && /[0-9.]/.test(before || '')) continue; // 5m, 1e3
    const after = s.slice(m.index + m[0].length).trimStart()[0];
    if (name && after === '(' && !braces) continue; // a function or aggregation
    if (name && KEYWORDS.has(name.toLowerCase()) && !braces) continue;
    const matchers = [];
    for (const mm of (braces || '').matchAll(/([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*\u0000(\d+)\u0000/g)) {
      matchers.push({ label: mm[1], op: mm[2], value: strings[Number(mm[3])] });
    }
    const nameMatcher = matchers.find((x) => x.label === '__name__' && x.op === '=');
    const metric = name || (nameMatcher && nameMatcher.value);
    if (metric) out.push({ name: metric, matchers: matchers.filter((x) => x.label !== '__name__') });
  }
  return out;
}

export const metricNames = (expr) => [...new Set(selectors(expr).map((x) => x.name))];

export function allExprs() {
  const rules = rulesExprs(fs.readFileSync(RULES_FILE, 'utf8')).map((expr, i) => ({ expr, where: `rule ${i + 1}` }));
  const dash = dashboardExprs(JSON.parse(fs.readFileSync(DASHBOARD_FILE, 'utf8')));
  return { rules, dashboard: dash };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [cmd, file] = process.argv.slice(2);
  if (cmd === 'dashboard-rules') {
    // every dashboard query as a recording rule, so that promtool checks its syntax
    const exprs = dashboardExprs(JSON.parse(fs.readFileSync(file || DASHBOARD_FILE, 'utf8')));
    const lines = ['groups:', '  - name: dashboard-queries', '    rules:'];
    exprs.forEach((e, i) => {
      lines.push(`      - record: dashboard:query_${i + 1}`);
      lines.push(`        expr: ${JSON.stringify(substituteGrafanaVars(e.expr))}`);
    });
    process.stdout.write(`${lines.join('\n')}\n`);
  } else if (cmd === 'names') {
    const { rules, dashboard } = allExprs();
    const names = new Set([...rules, ...dashboard].flatMap((e) => metricNames(e.expr)));
    process.stdout.write(`${[...names].sort().join('\n')}\n`);
  } else {
    process.stderr.write('usage: node ops/exprs.mjs dashboard-rules [dashboard.json] | names\n');
    process.exit(2);
  }
}
