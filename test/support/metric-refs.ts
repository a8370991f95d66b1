// The metrics the Grafana dashboard and the alert rules ask for, and which of
// them a gateway's /metrics text lacks: every series selector in their PromQL
// (metric name and label matchers) is looked up in the exposition.
//
// refs: dashboard targets, its label_values() variables, alert exprs
//   → selectors (name, matchers) → missingReferences(selectors, text)
//
// Used by deploy/metric-refs.test.ts over createMetrics with a fake source,
// and meant for a namespace test against a running gateway.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { parseExposition, type ExpoSample } from './exposition.js';

const DEPLOY = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'deploy');
export const DASHBOARD_FILE = join(DEPLOY, 'grafana', 'meshgate.json');
export const ALERTS_FILE = join(DEPLOY, 'prometheus', 'alerts.yml');

/** Series Prometheus makes itself for each target: not in any /metrics. */
const SYNTHETIC = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);
/** Labels Prometheus adds to every scraped series (the target's). */
const TARGET_LABELS = new Set(['job', 'instance']);
/** Words of PromQL that are not metric names when not followed by "(". */
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'Inf', 'NaN']);
/** Aggregations: a `by (...)` or `without (...)` may stand between them and "(". */
const AGGREGATIONS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
]);
/** Modifiers whose parenthesised list holds label names, not expressions. */
const LABEL_LISTS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

export interface Matcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

export interface Selector {
  name: string;
  matchers: Matcher[];
  /** Where it was found: the panel or alert and its expression. */
  where: string;
}

const IDENT = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const VARIABLE = /\$\{?[a-zA-Z0-9_]*\}?/y;
const NUMBER = /[0-9.]+(?:e[+-]?[0-9]+)?[a-zA-Z]*/y;
const MATCHER = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?/y;

function skipString(expr: string, i: number): number {
  const quote = expr[i];
  for (let j = i + 1; j < expr.length; j++) {
    if (expr[j] === '\\') j++;
    else if (expr[j] === quote) return j + 1;
  }
  throw new Error(`unterminated string in: ${expr}`);
}

function closing(expr: string, i: number, open: string, close: string): number {
  let depth = 0;
  for (let j = i; j < expr.length; j++) {
    if (expr[j] === '"' || expr[j] === "'") j = skipString(expr, j) - 1;
    else if (expr[j] === open) depth++;
    else if (expr[j] === close && --depth === 0) return j + 1;
  }
  throw new Error(`unbalanced ${open} in: ${expr}`);
}

function parseMatchers(body: string, expr: string): Matcher[] {
  const out: Matcher[] = [];
  MATCHER.lastIndex = 0;
  while (MATCHER.lastIndex < body.length) {
    const m = MATCHER.exec(body);
    if (m === null) {
      if (body.slice(MATCHER.lastIndex).trim() === '') break;
      throw new Error(`bad label matchers {${body}} in: ${expr}`);
    }
    out.push({ label: m[1]!, op: m[2] as Matcher['op'], value: m[3]!.replace(/\\(.)/g, '$1') });
  }
  return out;
}

/** The series selectors of one PromQL expression (Grafana's $variables allowed). */
export function selectorsOf(expr: string, where: string): Selector[] {
  const out: Selector[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    if (c === '"' || c === "'") i = skipString(expr, i);
    else if (c === '[')
      i = closing(expr, i, '[', ']'); // range or subquery: durations
    else if (c === '$' || /[0-9.]/.test(c)) {
      // a Grafana variable, a number or a duration
      const token = c === '$' ? VARIABLE : NUMBER;
      token.lastIndex = i;
      token.exec(expr);
      i = token.lastIndex;
    } else if (c === '{') {
      // a selector without a name: {__name__="..."}
      const end = closing(expr, i, '{', '}');
      const matchers = parseMatchers(expr.slice(i + 1, end - 1), expr);
      const name = matchers.find((m) => m.label === '__name__' && m.op === '=');
      if (name === undefined) throw new Error(`a selector without a metric name in: ${expr}`);
      out.push({ name: name.value, matchers: matchers.filter((m) => m !== name), where });
      i = end;
    } else if (/[a-zA-Z_:]/.test(c)) {
      IDENT.lastIndex = i;
      const word = IDENT.exec(expr)![0];
      i += word.length;
      let j = i;
      while (j < expr.length && /\s/.test(expr[j]!)) j++;
      if (expr[j] === '(') {
        if (LABEL_LISTS.has(word)) i = closing(expr, j, '(', ')'); // label names
        continue; // a function or aggregation: its arguments follow
      }
      if (KEYWORDS.has(word) || AGGREGATIONS.has(word)) continue;
      let matchers: Matcher[] = [];
      if (expr[j] === '{') {
        const end = closing(expr, j, '{', '}');
        matchers = parseMatchers(expr.slice(j + 1, end - 1), expr);
        i = end;
      }
      out.push({ name: word, matchers, where });
    } else i++;
  }
  return out;
}

interface Panel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

/** Selectors of the dashboard's panel targets and its label_values() variables. */
export function dashboardSelectors(json: string): Selector[] {
  const dash = JSON.parse(json) as { panels?: Panel[]; templating?: { list?: { name: string; query?: unknown }[] } };
  const out: Selector[] = [];
  const walk = (panels: Panel[] = []): void => {
    for (const p of panels) {
      for (const t of p.targets ?? [])
        if (t.expr !== undefined) out.push(...selectorsOf(t.expr, `panel "${p.title}": ${t.expr}`));
      walk(p.panels);
    }
  };
  walk(dash.panels);
  for (const v of dash.templating?.list ?? []) {
    const query = typeof v.query === 'object' && v.query !== null ? (v.query as { query?: unknown }).query : v.query;
    const m = typeof query === 'string' ? /^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$/.exec(query) : null;
    if (m === null) continue;
    const where = `variable $${v.name}: ${query as string}`;
    // the label it lists must exist on that metric as well
    for (const s of selectorsOf(m[1]!, where))
      out.push({ ...s, matchers: [...s.matchers, { label: m[2]!, op: '=~', value: '.+' }] });
  }
  return out;
}

/** Selectors of every rule's expression. */
export function alertSelectors(yamlText: string): Selector[] {
  const doc = parse(yamlText) as { groups: { rules: { alert?: string; record?: string; expr: string }[] }[] };
  return doc.groups.flatMap((g) =>
    g.rules.flatMap((r) => selectorsOf(r.expr, `alert ${r.alert ?? r.record}: ${r.expr.trim()}`)),
  );
}

/** Every selector the repository's dashboard and alert rules use. */
export function referencedSelectors(): Selector[] {
  return [
    ...dashboardSelectors(readFileSync(DASHBOARD_FILE, 'utf8')),
    ...alertSelectors(readFileSync(ALERTS_FILE, 'utf8')),
  ];
}

function matches(sample: ExpoSample, m: Matcher): boolean {
  const value = sample.labels[m.label];
  if (m.op === '=') return value === m.value;
  // a negative or regex matcher (or a Grafana $variable): the label must exist
  return value !== undefined;
}

/**
 * What `exposition` (a /metrics text) lacks for these selectors: a metric name
 * absent, or no series with the label values asked for by `=`. Labels the
 * target adds (job, instance) and series Prometheus makes (up) are not asked of
 * the exposition. An empty list: all there.
 */
export function missingReferences(selectors: Selector[], exposition: string): string[] {
  const byName = new Map<string, ExpoSample[]>();
  for (const s of parseExposition(exposition).samples) {
    const list = byName.get(s.name) ?? [];
    list.push(s);
    byName.set(s.name, list);
  }
  const missing = new Set<string>();
  for (const sel of selectors) {
    if (SYNTHETIC.has(sel.name)) continue;
    const samples = byName.get(sel.name);
    if (samples === undefined) {
      missing.add(`${sel.name}: no such metric (${sel.where})`);
      continue;
    }
    const asked = sel.matchers.filter((m) => !TARGET_LABELS.has(m.label));
    if (!samples.some((s) => asked.every((m) => matches(s, m)))) {
      const text = asked.map((m) => `${m.label}${m.op}"${m.value}"`).join(',');
      missing.add(`${sel.name}{${text}}: no such series (${sel.where})`);
    }
  }
  return [...missing];
}
