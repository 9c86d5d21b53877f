// SPDX-License-Identifier: Apache-2.0
// twinctl scenarios | run | matrix: the crash-scenario catalogue, one run with its outcome
// report, and the policy-by-scenario comparison table. Everything runs in this process, in
// virtual time: the same arguments and seed give byte-identical JSON.

import { readFileSync } from 'node:fs';
import type { KdumpPolicy } from '@kdump-twin/kernel';
import {
  buildScenario,
  CATALOGUE,
  CATALOGUE_VERSION,
  entryDocument,
  entryPolicies,
  findEntry,
  formatMatrix,
  formatReport,
  POLICIES,
  reportJson,
  SchemaError,
  type CatalogueEntry,
  type Check,
  type Report,
} from '@kdump-twin/scenario';
import { runTraced, Telemetry } from '@kdump-twin/telemetry';
import type { CliResult } from './cli';
import { RemoteFailure, ScenarioClient } from './remote';
import { DEFAULT_SMMU_TWIN, SCENARIO_USAGE } from './usage';

/** Exit codes of the scenario commands: 3 means the run finished but its predicted outcome did not hold. */
export const SCENARIO_EXIT = { OK: 0, REJECTED: 1, USAGE: 2, PREDICTION_NOT_MET: 3 } as const;

interface Args {
  positional: string[];
  flags: Set<string>;
  values: Map<string, string[]>;
}

const VALUE_FLAGS = new Set(['--policy', '--series', '--seed', '--set', '--log', '--policies', '--smmu-twin']);
const BOOL_FLAGS = new Set(['--json', '--help', '-h', '--services']);

function parseArgs(argv: readonly string[]): Args | string {
  const a: Args = { positional: [], flags: new Set(), values: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i]!;
    if (x.startsWith('--') || x === '-h') {
      const eq = x.indexOf('=');
      const name = eq > 0 ? x.slice(0, eq) : x;
      if (VALUE_FLAGS.has(name)) {
        const v = eq > 0 ? x.slice(eq + 1) : argv[++i];
        if (v === undefined) return `${name} needs a value`;
        a.values.set(name, [...(a.values.get(name) ?? []), v]);
      } else if (BOOL_FLAGS.has(name)) a.flags.add(name);
      else return `unknown option ${x}`;
    } else a.positional.push(x);
  }
  return a;
}

const one = (a: Args, f: string) => a.values.get(f)?.at(-1);

function resolvePolicy(policy: string | undefined, series: string | undefined): KdumpPolicy | string | undefined {
  if (series !== undefined && series !== 'v7' && series !== 'v10') return `--series must be v7 or v10, got "${series}"`;
  if (policy === undefined) return series ? (`adopt-${series}` as KdumpPolicy) : undefined;
  if (policy === 'adopt') return `adopt-${series ?? 'v7'}` as KdumpPolicy;
  if (!(POLICIES as readonly string[]).includes(policy)) return `--policy must be one of ${POLICIES.join(', ')} (or adopt with --series), got "${policy}"`;
  if (series && !policy.startsWith('adopt')) return `--series applies to the adopt policies, not ${policy}`;
  if (series && policy !== `adopt-${series}`) return `--policy ${policy} contradicts --series ${series}`;
  return policy as KdumpPolicy;
}

function parseSeed(s: string | undefined): number | string | undefined {
  if (s === undefined) return undefined;
  return /^-?\d+$/.test(s) ? Number(s) : s;
}

/** A catalogue id, or a scenario file. */
function loadScenario(ref: string): { doc: Record<string, unknown>; entry?: CatalogueEntry } | string {
  const e = findEntry(ref);
  if (e) return { doc: entryDocument(e), entry: e };
  if (!ref.endsWith('.json')) return `unknown scenario "${ref}"; see \`twinctl scenarios\` (or give a .json scenario file)`;
  let text: string;
  try {
    text = readFileSync(ref, 'utf8');
  } catch (err) {
    return `cannot read ${ref}: ${(err as Error).message}`;
  }
  try {
    const doc = JSON.parse(text) as unknown;
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return `${ref}: a scenario file holds one JSON object`;
    return { doc: doc as Record<string, unknown> };
  } catch (err) {
    return `${ref}: not JSON: ${(err as Error).message}`;
  }
}

function rejected(msg: string): CliResult {
  return { code: SCENARIO_EXIT.REJECTED, stdout: '', stderr: `twinctl: ${msg}\n` };
}

function usage(msg: string): CliResult {
  return { code: SCENARIO_EXIT.USAGE, stdout: '', stderr: `twinctl: ${msg}\n` };
}

function scenariosCmd(a: Args): CliResult {
  if (a.positional.length) return usage('scenarios takes no arguments');
  if (a.flags.has('--json')) {
    const list = CATALOGUE.map((e) => ({
      id: e.id,
      version: e.version,
      title: e.title,
      source: e.source,
      outcome: e.outcome,
      policies: entryPolicies(e),
      headline: e.headline === true,
      ...(e.inference ? { inference: e.inference } : {}),
    }));
    return { code: 0, stdout: `${JSON.stringify({ catalogueVersion: CATALOGUE_VERSION, scenarios: list }, null, 2)}\n`, stderr: '' };
  }
  const w = Math.max(...CATALOGUE.map((e) => e.id.length));
  const lines = [
    `kdump-twin scenario catalogue ${CATALOGUE_VERSION} (${CATALOGUE.length} scenarios; * = headline)`,
    ...CATALOGUE.map((e) => `${e.headline ? '*' : ' '} ${e.id.padEnd(w)}  ${e.title}`),
  ];
  return { code: 0, stdout: `${lines.join('\n')}\n`, stderr: '' };
}

interface Runner {
  run(
    doc: Record<string, unknown>,
    entry: CatalogueEntry | undefined,
    policy: KdumpPolicy | undefined,
    seed: number | string | undefined,
    sets: readonly string[],
  ): Promise<Report>;
  close(): void;
}

const LOCAL: Runner = {
  run: async (doc, entry, policy, seed, sets) => {
    const spec = buildScenario(doc, { policy, seed, sets });
    const predict: readonly Check[] | undefined = entry?.predict[spec.kdump.policy];
    // Traced when OTEL_* asks for it (main starts the telemetry); the same report either way.
    return runTraced(Telemetry.get(), spec, predict ? { predict } : {});
  },
  close: () => undefined,
};

function runnerOf(a: Args): Runner | string {
  const addr = one(a, '--smmu-twin');
  if (!a.flags.has('--services')) return addr ? '--smmu-twin applies with --services' : LOCAL;
  const address = addr ?? process.env['KDUMP_TWIN_SMMU_TWIN'] ?? DEFAULT_SMMU_TWIN;
  if (!/^[^\s:]+:\d{1,5}$/.test(address)) return `--smmu-twin: host:port, got "${address}"`;
  const c = new ScenarioClient(address);
  return {
    run: (doc, entry, policy, seed, sets) =>
      c.run({
        ...(entry ? { catalogueId: entry.id } : { documentJson: JSON.stringify(doc) }),
        ...(policy ? { policy } : {}),
        ...(seed !== undefined ? { seed: String(seed) } : {}),
        sets,
        predict: entry !== undefined && (policy ?? (doc as { kdump?: { policy?: string } }).kdump?.policy ?? 'status-quo') in entry.predict,
      }),
    close: () => c.close(),
  };
}

async function runCmd(a: Args): Promise<CliResult> {
  if (a.positional.length !== 1) return usage('run takes one scenario (a catalogue id or a .json file)');
  const policy = resolvePolicy(one(a, '--policy'), one(a, '--series'));
  if (typeof policy === 'string' && !(POLICIES as readonly string[]).includes(policy)) return usage(policy);
  const log = one(a, '--log') ?? 'kdump';
  if (log !== 'kdump' && log !== 'all' && log !== 'none') return usage(`--log must be kdump, all or none, got "${log}"`);
  const loaded = loadScenario(a.positional[0]!);
  if (typeof loaded === 'string') return rejected(loaded);
  const runner = runnerOf(a);
  if (typeof runner === 'string') return usage(runner);
  let report: Report;
  try {
    report = await runner.run(loaded.doc, loaded.entry, policy as KdumpPolicy | undefined, parseSeed(one(a, '--seed')), a.values.get('--set') ?? []);
  } catch (e) {
    if (e instanceof SchemaError || e instanceof RemoteFailure) return rejected(e.message);
    throw e;
  } finally {
    runner.close();
  }
  const code = report.prediction && !report.prediction.met ? SCENARIO_EXIT.PREDICTION_NOT_MET : SCENARIO_EXIT.OK;
  return { code, stdout: a.flags.has('--json') ? reportJson(report) : `${formatReport(report, { log })}\n`, stderr: '' };
}

/** One row of the matrix, for --json. */
function matrixRow(r: Report) {
  const q = r.dma.afterCrash.beforeQuiesce;
  return {
    scenario: r.scenario,
    policy: r.policy,
    adopted: r.adoption.adopted,
    fallbackReason: r.adoption.fallbackReason,
    inFlightUntilQuiesce: q,
    aer: r.aer,
    kdumpPanicked: r.kdumpPanicked,
    panicReason: r.panic?.reason ?? null,
    corruption: {
      totalBytes: r.corruption.totalBytes,
      carveoutBytes: r.corruption.carveoutBytes,
      crashedKernelBytes: r.corruption.crashedKernelBytes,
      staleAfterQuiesceBytes: r.corruption.staleAfterQuiesceBytes,
    },
    vmcore: { saved: r.vmcore.saved, corruptedBytes: r.vmcore.corruptedBytes },
    predictionMet: r.prediction ? r.prediction.met : null,
  };
}

async function matrixCmd(a: Args): Promise<CliResult> {
  const ids = a.positional.length ? a.positional : CATALOGUE.filter((e) => e.headline).map((e) => e.id);
  const entries: CatalogueEntry[] = [];
  for (const id of ids) {
    const e = findEntry(id);
    if (!e) return rejected(`unknown scenario "${id}"; see \`twinctl scenarios\``);
    entries.push(e);
  }
  const list = one(a, '--policies');
  const policies = list ? list.split(',').map((p) => p.trim()) : [...POLICIES];
  for (const p of policies) if (!(POLICIES as readonly string[]).includes(p)) return usage(`--policies: unknown policy "${p}" (one of ${POLICIES.join(', ')})`);
  const runner = runnerOf(a);
  if (typeof runner === 'string') return usage(runner);
  let reports: Report[];
  const jobs = entries.flatMap((e) =>
    (policies as KdumpPolicy[]).map((p) => () => runner.run(entryDocument(e), e, p, parseSeed(one(a, '--seed')), a.values.get('--set') ?? [])),
  );
  try {
    // In process one at a time; through the services four at a time (the runs are independent sessions).
    reports = await inOrder(jobs, runner === LOCAL ? 1 : 4);
  } catch (e) {
    if (e instanceof SchemaError || e instanceof RemoteFailure) return rejected(e.message);
    throw e;
  } finally {
    runner.close();
  }
  const notMet = reports.some((r) => r.prediction && !r.prediction.met);
  const stdout = a.flags.has('--json') ? `${JSON.stringify(reports.map(matrixRow), null, 2)}\n` : `${formatMatrix(reports)}\n`;
  return { code: notMet ? SCENARIO_EXIT.PREDICTION_NOT_MET : SCENARIO_EXIT.OK, stdout, stderr: '' };
}

/** Runs the jobs `width` at a time; the results in the jobs' order. */
async function inOrder<T>(jobs: readonly (() => Promise<T>)[], width: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, lane));
  return out;
}

export async function runScenarioCommand(cmd: string, argv: readonly string[]): Promise<CliResult> {
  const a = parseArgs(argv);
  if (typeof a === 'string') return usage(a);
  if (a.flags.has('--help') || a.flags.has('-h')) return { code: 0, stdout: `${SCENARIO_USAGE}\n`, stderr: '' };
  if (cmd === 'scenarios') return scenariosCmd(a);
  if (cmd === 'run') return runCmd(a);
  return matrixCmd(a);
}
