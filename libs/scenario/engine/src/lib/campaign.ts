// SPDX-License-Identifier: Apache-2.0
// Fault-injection campaigns as data: a campaign document names catalogue scenarios, injection
// axes (scenario-document keys with the values to try, as `--set` would), policies and a range
// of seeds; the work items are their product, numbered in one fixed order so an item's id names
// the same run on every machine. From each run's report comes a small outcome record, and from
// the records the aggregate matrix: outcome rates per scenario, injection and policy, each with
// its Wilson 95% interval. Pure: the transport (JetStream) and the clock live in the callers.

import type { KdumpPolicy } from '@kdump-twin/kernel';
import { buildScenario, entryDocument, findEntry } from '../catalogue';
import type { Report } from './report';
import { runScenario, type RunOptions } from './runner';
import { any, arr, int, obj, oneOf, opt, str, SchemaError, validate, type Schema, type SchemaIssue } from './schema';
import { POLICIES, type ScenarioSpec } from './spec';

export const CAMPAIGN_SCHEMA_VERSION = 1;
/** An item id is `<campaign>/<n>`; the campaign id is also a NATS subject token. */
export const CAMPAIGN_ID_PATTERN = '^[a-z0-9][a-z0-9-]{0,62}$';
/** Upper bound on the work items of one campaign. */
export const MAX_WORK_ITEMS = 1_000_000;
/** Upper bound on scenario x injection x policy combinations, each validated when the campaign is read. */
export const MAX_COMBINATIONS = 4_096;

const axisValue: Schema = any('a JSON value for the key, or {"label": ..., "value": ...} to name it in the matrix');

export const CAMPAIGN_SCHEMA = obj(
  {
    schemaVersion: int(CAMPAIGN_SCHEMA_VERSION, 1, 1),
    id: str(undefined, 'campaign id: lower-case letters, digits and dashes, at most 63 (a NATS subject token)', CAMPAIGN_ID_PATTERN),
    title: str('', 'one line for the report'),
    scenarios: arr(str(undefined, 'a catalogue id (twinctl scenarios)'), undefined, 'the scenarios every injection is applied to', 1, 256),
    policies: opt(
      arr(oneOf(POLICIES), undefined, 'kdump policies; default: each scenario is run under the policies its catalogue entry predicts', 1, POLICIES.length),
    ),
    seeds: obj(
      { from: int(1, -(2 ** 31), 2 ** 31 - 1, 'first seed'), count: int(1, 1, MAX_WORK_ITEMS, 'how many consecutive seeds') },
      'seeds of each combination',
    ),
    axes: arr(
      obj(
        {
          key: str(undefined, 'a dotted scenario-document key, as --set takes it (crash.trigger.atNs, devices[2].traffic.outstanding, devices)'),
          name: opt(str(undefined, 'short name in the matrix (default: the key)')),
          values: arr(axisValue, undefined, 'the values to try', 1, 256),
        },
        undefined,
        ['key', 'values'],
      ),
      [],
      'injection axes: every combination of one value per axis is an injection',
      0,
      8,
    ),
    sets: arr(str(undefined, 'key=value'), [], 'overrides applied to every run before the axes (run.endAfterKdumpNs=5000000)'),
    trace: obj(
      { every: int(0, 0, MAX_WORK_ITEMS, 'every Nth item (n % every == 0) is traced, through the services when the worker has them; 0: none') },
      'the traced subset',
    ),
  },
  'kdump-twin fault-injection campaign',
  ['id', 'scenarios'],
);

export interface CampaignAxis {
  readonly key: string;
  readonly name: string;
  readonly values: readonly { readonly label: string; readonly set: string }[];
}

export interface CampaignSpec {
  readonly schemaVersion: number;
  readonly id: string;
  readonly title: string;
  readonly scenarios: readonly string[];
  /** Per scenario, the policies it runs under (the given list, or its catalogue entry's). */
  readonly policies: Readonly<Record<string, readonly KdumpPolicy[]>>;
  readonly seeds: { readonly from: number; readonly count: number };
  readonly axes: readonly CampaignAxis[];
  readonly sets: readonly string[];
  readonly trace: { readonly every: number };
  /** Work items in all. */
  readonly total: number;
}

/** One scenario run of a campaign. */
export interface WorkItem {
  readonly campaign: string;
  /** `<campaign>/<n>`: the JetStream message id and the result's key. */
  readonly id: string;
  readonly n: number;
  readonly scenario: string;
  readonly policy: KdumpPolicy;
  readonly seed: number;
  /** The injection's label in the matrix: `catalogued`, or `name=label, ...` over the axes. */
  readonly injection: string;
  /** The campaign's sets, then one per axis. */
  readonly sets: readonly string[];
  readonly traced: boolean;
}

/**
 * The run a work item names: its catalogue entry built with the item's policy, seed and sets,
 * checked against the entry's prediction for that policy. Every runner of items (workers, the
 * bench, tests comparing digests) builds it here, so they all run the same thing.
 */
export function workItemRun(item: Pick<WorkItem, 'scenario' | 'policy' | 'seed' | 'sets'>): { spec: ScenarioSpec; options: RunOptions } {
  const e = findEntry(item.scenario);
  if (!e) throw new SchemaError('work item', [{ path: 'scenario', rule: `unknown scenario "${item.scenario}"` }]);
  const predict = e.predict[item.policy];
  return { spec: buildScenario(entryDocument(e), { policy: item.policy, seed: item.seed, sets: item.sets }), options: predict ? { predict } : {} };
}

/** Runs a work item in this process (workItemRun, then runScenario). */
export function runWorkItem(item: Pick<WorkItem, 'scenario' | 'policy' | 'seed' | 'sets'>): Promise<Report> {
  const r = workItemRun(item);
  return runScenario(r.spec, r.options);
}

interface RawCampaign {
  schemaVersion: number;
  id: string;
  title: string;
  scenarios: string[];
  policies?: KdumpPolicy[];
  seeds: { from: number; count: number };
  axes: { key: string; name?: string; values: unknown[] }[];
  sets: string[];
  trace: { every: number };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function axisOf(a: RawCampaign['axes'][number], i: number, issues: SchemaIssue[]): CampaignAxis {
  const labels = new Set<string>();
  const values = a.values.map((v, j) => {
    const named = isObj(v) && Object.keys(v).sort().join(',') === 'label,value' && typeof v.label === 'string';
    const value = named ? v.value : v;
    const label = named ? (v.label as string) : typeof value === 'string' ? value : JSON.stringify(value);
    if (label === '' || /[,=]/.test(label))
      issues.push({ path: `axes[${i}].values[${j}]`, rule: 'a label is non-empty and holds no "," or "=" (give {"label": ..., "value": ...})' });
    if (labels.has(label)) issues.push({ path: `axes[${i}].values[${j}]`, rule: `label "${label}" appears twice on this axis` });
    labels.add(label);
    if (value === undefined || value === null) issues.push({ path: `axes[${i}].values[${j}]`, rule: 'a value is required' });
    return { label, set: `${a.key}=${typeof value === 'string' ? value : JSON.stringify(value)}` };
  });
  const name = a.name ?? a.key;
  if (/[,=]/.test(name)) issues.push({ path: `axes[${i}].name`, rule: 'holds no "," or "="' });
  return { key: a.key, name, values };
}

/**
 * Reads a campaign document: the schema first, then the rules across fields (known scenarios,
 * the size bounds, and every scenario x injection x policy builds into a valid scenario), each
 * issue naming the field.
 */
export function parseCampaign(input: unknown, what = 'campaign'): CampaignSpec {
  const raw = validate<RawCampaign>(CAMPAIGN_SCHEMA, input, what);
  const issues: SchemaIssue[] = [];
  const policies: Record<string, KdumpPolicy[]> = {};
  raw.scenarios.forEach((id, i) => {
    const e = findEntry(id);
    if (!e) issues.push({ path: `scenarios[${i}]`, rule: `unknown scenario "${id}" (see twinctl scenarios)` });
    else if (policies[id]) issues.push({ path: `scenarios[${i}]`, rule: `"${id}" is listed twice` });
    else policies[id] = raw.policies ? [...new Set(raw.policies)] : (Object.keys(e.predict) as KdumpPolicy[]);
  });
  const keys = new Set<string>();
  raw.axes.forEach((a, i) => {
    if (keys.has(a.key)) issues.push({ path: `axes[${i}].key`, rule: `"${a.key}" is already an axis` });
    keys.add(a.key);
  });
  raw.sets.forEach((s, i) => {
    if (s.indexOf('=') <= 0) issues.push({ path: `sets[${i}]`, rule: 'expected key=value' });
  });
  const axes = raw.axes.map((a, i) => axisOf(a, i, issues));
  if (issues.length) throw new SchemaError(what, issues);

  const injections = axes.reduce((n, a) => n * a.values.length, 1);
  const combinations = raw.scenarios.reduce((n, s) => n + policies[s]!.length, 0) * injections;
  if (combinations > MAX_COMBINATIONS)
    throw new SchemaError(what, [{ path: 'axes', rule: `scenarios x injections x policies is ${combinations}, more than ${MAX_COMBINATIONS}` }]);
  const total = combinations * raw.seeds.count;
  if (total > MAX_WORK_ITEMS) throw new SchemaError(what, [{ path: 'seeds.count', rule: `the campaign has ${total} work items, more than ${MAX_WORK_ITEMS}` }]);
  const spec: CampaignSpec = {
    schemaVersion: raw.schemaVersion,
    id: raw.id,
    title: raw.title,
    scenarios: raw.scenarios,
    policies,
    seeds: raw.seeds,
    axes,
    sets: raw.sets,
    trace: raw.trace,
    total,
  };

  // Every combination must build: a bad value fails here, naming the item, not in a worker.
  for (let n = 0; n < total; n += raw.seeds.count) {
    const item = workItem(spec, n);
    try {
      buildScenario(entryDocument(findEntry(item.scenario)!), { policy: item.policy, seed: item.seed, sets: item.sets });
    } catch (e) {
      if (!(e instanceof SchemaError)) throw e;
      throw new SchemaError(what, [{ path: 'axes', rule: `${item.scenario} under ${item.policy} with ${item.injection}: ${e.message}` }]);
    }
  }
  return spec;
}

/** The injection (one value per axis) at index `k` of the axes' product, last axis fastest. */
function injectionAt(spec: CampaignSpec, k: number): { label: string; sets: string[] } {
  if (spec.axes.length === 0) return { label: 'catalogued', sets: [] };
  const picks: { name: string; label: string; set: string }[] = [];
  for (let i = spec.axes.length - 1; i >= 0; i--) {
    const a = spec.axes[i]!;
    const v = a.values[k % a.values.length]!;
    k = Math.floor(k / a.values.length);
    picks.unshift({ name: a.name, ...v });
  }
  return { label: picks.map((p) => `${p.name}=${p.label}`).join(', '), sets: picks.map((p) => p.set) };
}

/**
 * Work item `n` of the campaign. The order is scenario, injection, policy, seed (seed fastest),
 * so item n is the same run wherever it is computed; items are made one at a time, never listed.
 */
export function workItem(spec: CampaignSpec, n: number): WorkItem {
  if (!Number.isInteger(n) || n < 0 || n >= spec.total) throw new RangeError(`work item ${n} is outside 0..${spec.total - 1}`);
  const injections = spec.axes.reduce((m, a) => m * a.values.length, 1);
  let rest = n;
  for (const scenario of spec.scenarios) {
    const pol = spec.policies[scenario]!;
    const size = injections * pol.length * spec.seeds.count;
    if (rest >= size) {
      rest -= size;
      continue;
    }
    const seedIdx = rest % spec.seeds.count;
    const pi = Math.floor(rest / spec.seeds.count) % pol.length;
    const ii = Math.floor(rest / (spec.seeds.count * pol.length));
    const inj = injectionAt(spec, ii);
    return {
      campaign: spec.id,
      id: `${spec.id}/${n}`,
      n,
      scenario,
      policy: pol[pi]!,
      seed: spec.seeds.from + seedIdx,
      injection: inj.label,
      sets: [...spec.sets, ...inj.sets],
      traced: spec.trace.every > 0 && n % spec.trace.every === 0,
    };
  }
  throw new RangeError(`work item ${n} is outside the campaign`);
}

/** Checks a work item received from the queue against its campaign (bad input names the field). */
export function checkWorkItem(spec: CampaignSpec, input: unknown): WorkItem {
  if (!isObj(input)) throw new SchemaError('work item', [{ path: '', rule: 'expected an object' }]);
  const n = input.n;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n >= spec.total)
    throw new SchemaError('work item', [{ path: 'n', rule: `an integer in 0..${spec.total - 1}` }]);
  const want = workItem(spec, n);
  for (const k of ['campaign', 'id', 'scenario', 'policy', 'seed', 'injection'] as const) {
    if (input[k] !== want[k])
      throw new SchemaError('work item', [
        { path: k, rule: `item ${n} of campaign ${spec.id} has ${k} ${JSON.stringify(want[k])}, got ${JSON.stringify(input[k])}` },
      ]);
  }
  return want;
}

/** What a campaign counts of one run. */
export interface RunOutcome {
  /** The kdump kernel saved the vmcore. */
  readonly vmcoreSaved: boolean;
  readonly kdumpPanicked: boolean;
  /** Any byte written where it must not be (carve-out, crashed kernel, stale after quiesce). */
  readonly corrupted: boolean;
  /** A transaction aborted or faulted after the panic and before its device was quiesced. */
  readonly inflightAborted: boolean;
  readonly adopted: boolean;
  readonly invariantsHold: boolean;
  /** The catalogue's prediction for this policy held; null where there is none. */
  readonly predictionMet: boolean | null;
}

export const OUTCOMES = ['vmcoreSaved', 'kdumpPanicked', 'corrupted', 'inflightAborted', 'adopted', 'invariantsBroken', 'predictionMet'] as const;
export type OutcomeName = (typeof OUTCOMES)[number];

export function outcomeOf(r: Report): RunOutcome {
  const q = r.dma.afterCrash.beforeQuiesce;
  return {
    vmcoreSaved: r.vmcore.saved,
    kdumpPanicked: r.kdumpPanicked,
    corrupted: r.corruption.totalBytes > 0,
    inflightAborted: q.aborted + q.faulted > 0,
    adopted: r.adoption.adopted,
    invariantsHold: r.invariantsHold,
    predictionMet: r.prediction ? r.prediction.met : null,
  };
}

/** One work item's result, as a worker publishes it. */
export interface CampaignResult {
  readonly campaign: string;
  /** The campaign's generation where it is stored (JetStream: the stream sequence of its document). */
  readonly generation?: number;
  readonly id: string;
  readonly n: number;
  readonly scenario: string;
  readonly policy: KdumpPolicy;
  readonly injection: string;
  readonly seed: number;
  /** Absent when the run failed (error says why). */
  readonly outcome?: RunOutcome;
  readonly error?: string;
  /** sha256 of the report's JSON: the same item gives the same digest on any worker. */
  readonly digest?: string;
  readonly worker: string;
  /** JetStream delivery count of the work message when it ran (above 1: redelivered). */
  readonly attempt: number;
  readonly route: 'in-process' | 'services';
  /** The run's trace in Jaeger, for traced items. */
  readonly traceId?: string;
  readonly wallMs: number;
}

/** Wilson score interval (95%) of k successes in n trials. */
export function wilson(k: number, n: number, z = 1.959963984540054): { readonly lo: number; readonly hi: number } {
  if (n === 0) return { lo: 0, hi: 1 };
  const p = k / n;
  const z2 = z * z;
  const centre = p + z2 / (2 * n);
  const half = z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  const d = 1 + z2 / n;
  return { lo: Math.max(0, (centre - half) / d), hi: Math.min(1, (centre + half) / d) };
}

export interface Rate {
  readonly k: number;
  readonly n: number;
  readonly rate: number;
  readonly lo: number;
  readonly hi: number;
}

export interface MatrixCell {
  readonly scenario: string;
  readonly injection: string;
  readonly policy: KdumpPolicy;
  readonly runs: number;
  readonly errors: number;
  readonly rates: Readonly<Record<OutcomeName, Rate>>;
  /** The cell's traced runs (item order, at most MAX_TRACES_PER_CELL): where to look in Jaeger. */
  readonly traces: readonly CellTrace[];
  /** Traced runs of the cell beyond those listed. */
  readonly moreTraces: number;
}

export interface CellTrace {
  readonly n: number;
  readonly seed: number;
  readonly traceId: string;
  /** Whether this run's outcome differs from the cell's majority on vmcore saved (an outlier worth opening first). */
  readonly outlier: boolean;
}

/** Trace ids kept per matrix cell; the rest are counted (every result keeps its own). */
export const MAX_TRACES_PER_CELL = 16;

export interface CampaignMatrix {
  readonly campaign: string;
  readonly title: string;
  readonly total: number;
  /** Work items with a result. */
  readonly done: number;
  readonly errors: number;
  /** Results that ran on a redelivery (a worker was lost or let an item go). */
  readonly redelivered: number;
  readonly cells: readonly MatrixCell[];
}

function rate(k: number, n: number): Rate {
  const w = wilson(k, n);
  return { k, n, rate: n ? k / n : 0, lo: w.lo, hi: w.hi };
}

/** Aggregates results (one per item id; a second result of an id is ignored) into the matrix, cells in work-item order. */
export function campaignMatrix(spec: CampaignSpec, results: Iterable<CampaignResult>): CampaignMatrix {
  const seen = new Set<string>();
  const groups = new Map<string, { first: number; cell: { scenario: string; injection: string; policy: KdumpPolicy }; list: CampaignResult[] }>();
  let errors = 0;
  let redelivered = 0;
  for (const r of results) {
    if (r.campaign !== spec.id || seen.has(r.id)) continue;
    seen.add(r.id);
    if (r.error !== undefined) errors++;
    if (r.attempt > 1) redelivered++;
    const key = `${r.scenario}\u0000${r.injection}\u0000${r.policy}`;
    const g = groups.get(key) ?? { first: r.n, cell: { scenario: r.scenario, injection: r.injection, policy: r.policy }, list: [] };
    g.first = Math.min(g.first, r.n);
    g.list.push(r);
    groups.set(key, g);
  }
  const cells = [...groups.values()]
    .sort((a, b) => a.first - b.first)
    .map((g) => {
      const ok = g.list.filter((r) => r.outcome !== undefined).map((r) => r.outcome!);
      const count = (f: (o: RunOutcome) => boolean) => rate(ok.filter(f).length, ok.length);
      const predicted = ok.filter((o) => o.predictionMet !== null);
      const rates: Record<OutcomeName, Rate> = {
        vmcoreSaved: count((o) => o.vmcoreSaved),
        kdumpPanicked: count((o) => o.kdumpPanicked),
        corrupted: count((o) => o.corrupted),
        inflightAborted: count((o) => o.inflightAborted),
        adopted: count((o) => o.adopted),
        invariantsBroken: count((o) => !o.invariantsHold),
        predictionMet: rate(predicted.filter((o) => o.predictionMet).length, predicted.length),
      };
      const majority = rates.vmcoreSaved.k * 2 >= rates.vmcoreSaved.n;
      const traced = g.list
        .filter((r): r is CampaignResult & { traceId: string } => r.traceId !== undefined)
        .sort((a, b) => a.n - b.n)
        .map((r) => ({ n: r.n, seed: r.seed, traceId: r.traceId, outlier: r.outcome !== undefined && r.outcome.vmcoreSaved !== majority }))
        // Outliers first, so a capped list still holds them.
        .sort((a, b) => Number(b.outlier) - Number(a.outlier) || a.n - b.n);
      return {
        ...g.cell,
        runs: g.list.length,
        errors: g.list.length - ok.length,
        rates,
        traces: traced.slice(0, MAX_TRACES_PER_CELL),
        moreTraces: Math.max(0, traced.length - MAX_TRACES_PER_CELL),
      };
    });
  return { campaign: spec.id, title: spec.title, total: spec.total, done: seen.size, errors, redelivered, cells };
}

export interface Progress {
  readonly total: number;
  readonly done: number;
  readonly errors: number;
  /** Runs per second since the first result, null before two results. */
  readonly rate: number | null;
  /** Seconds to the last result at that rate, null when unknown. */
  readonly etaS: number | null;
}

/** Progress from counts and the times (ms, any clock) of the first and latest results. */
export function progressOf(total: number, done: number, errors: number, firstAtMs: number | null, lastAtMs: number | null): Progress {
  const span = firstAtMs !== null && lastAtMs !== null ? (lastAtMs - firstAtMs) / 1000 : 0;
  const rate = done > 1 && span > 0 ? (done - 1) / span : null;
  return { total, done, errors, rate, etaS: done >= total ? 0 : rate ? (total - done) / rate : null };
}

export function formatProgress(p: Progress): string {
  const pct = p.total ? ((100 * p.done) / p.total).toFixed(1) : '100.0';
  const eta = p.etaS === null ? 'ETA unknown' : `ETA ${p.etaS < 60 ? `${Math.ceil(p.etaS)} s` : `${Math.floor(p.etaS / 60)} min ${Math.ceil(p.etaS % 60)} s`}`;
  return `${p.done}/${p.total} runs (${pct}%), ${p.errors} errors, ${p.rate === null ? '- runs/s' : `${p.rate.toFixed(1)} runs/s`}, ${eta}`;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}`;
const showRate = (r: Rate) => (r.n === 0 ? '-' : `${pct(r.rate)}% [${pct(r.lo)},${pct(r.hi)}]`);

const COLUMNS: readonly [OutcomeName, string][] = [
  ['vmcoreSaved', 'vmcore saved'],
  ['kdumpPanicked', 'kdump panic'],
  ['inflightAborted', 'in-flight aborted'],
  ['corrupted', 'corrupted'],
  ['invariantsBroken', 'invariants broken'],
  ['predictionMet', 'prediction met'],
];

/** The matrix as a text table: one block per scenario and injection, a row per policy, rates with 95% intervals. */
export function formatCampaignMatrix(m: CampaignMatrix): string {
  const lines = [
    `campaign ${m.campaign}${m.title ? `: ${m.title}` : ''}`,
    `${m.done}/${m.total} runs, ${m.errors} errors, ${m.redelivered} ran on a redelivery; rates with Wilson 95% intervals`,
  ];
  const head = ['policy', 'runs', ...COLUMNS.map((c) => c[1])];
  let block = '';
  let rows: string[][] = [];
  let traces: string[] = [];
  const flush = () => {
    if (!rows.length) return;
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    lines.push(
      '',
      block,
      `  ${head.map((h, i) => h.padEnd(w[i]!)).join('  ')}`.trimEnd(),
      ...rows.map((r) => `  ${r.map((c, i) => c.padEnd(w[i]!)).join('  ')}`.trimEnd()),
    );
    if (traces.length) lines.push('  traced runs (Jaeger: /trace/<id>; * = vmcore outcome differs from the cell):', ...traces);
    rows = [];
    traces = [];
  };
  for (const c of m.cells) {
    const b = `${c.scenario}  (${c.injection})`;
    if (b !== block) {
      flush();
      block = b;
    }
    rows.push([c.policy, `${c.runs}${c.errors ? ` (${c.errors} err)` : ''}`, ...COLUMNS.map(([k]) => showRate(c.rates[k]))]);
    if (c.traces.length) {
      const shown = c.traces.slice(0, 3).map((t) => `${t.traceId} (seed ${t.seed}${t.outlier ? ' *' : ''})`);
      const more = c.traces.length - shown.length + c.moreTraces;
      traces.push(`    ${c.policy}: ${shown.join(', ')}${more ? `, +${more} more (--json)` : ''}`);
    }
  }
  flush();
  return lines.join('\n');
}
