// SPDX-License-Identifier: Apache-2.0
// The versioned scenario catalogue: `baseline` and every fault scenario of
// kdump-adopt-series.md section 4, each id starting with the document's identifier, each with
// its predicted outcome per policy as checks the report is held to.

import type { KdumpPolicy } from '@kdump-twin/kernel';
import { pathIssue } from '../lib/predict';
import { REPORT_SCHEMA } from '../lib/report';
import { applyOverrides, parseScenario, type ScenarioSpec } from '../lib/spec';
import { baselineDocument } from './baseline';
import type { CatalogueEntry } from './entry';
import { ENTRIES } from './entries';

export type { CatalogueEntry } from './entry';

export const CATALOGUE_VERSION = '1.2.0';

export { baselineDocument };
export { scaleBdf, scaleDocument } from './scale';

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge: objects merge key by key, anything else (lists included) replaces. */
export function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObj(v) && isObj(out[k]) ? merge(out[k] as Record<string, unknown>, v) : structuredClone(v);
  return out;
}

/**
 * Every prediction's path against the report contract (REPORT_SCHEMA): an entry whose check
 * names a field the report does not have, or an operator its value cannot take, is refused
 * when the catalogue loads, naming the entry, the policy and the rule.
 */
export function catalogueIssues(entries: readonly CatalogueEntry[]): string[] {
  const issues: string[] = [];
  for (const e of entries) {
    for (const [policy, checks] of Object.entries(e.predict)) {
      for (const [path, op] of checks ?? []) {
        const why = pathIssue(REPORT_SCHEMA, path, op);
        if (why) issues.push(`catalogue ${e.id} predict.${policy}: [${JSON.stringify(path)}, '${op}']: ${why}`);
      }
    }
  }
  return issues;
}

const issues = catalogueIssues(ENTRIES);
if (issues.length) throw new Error(`the scenario catalogue does not hold against the report contract:\n${issues.join('\n')}`);

export const CATALOGUE: readonly CatalogueEntry[] = ENTRIES;

export function findEntry(id: string): CatalogueEntry | undefined {
  return CATALOGUE.find((e) => e.id === id);
}

/** The entry's scenario document: the baseline with the entry's fields and its own identity. */
export function entryDocument(e: CatalogueEntry): Record<string, unknown> {
  const doc = merge(baselineDocument(), e.doc);
  return { ...doc, id: e.id, version: e.version, title: e.title, source: e.source, outcome: e.outcome };
}

/** The policies an entry is predicted (and run by default) under. */
export function entryPolicies(e: CatalogueEntry): KdumpPolicy[] {
  return Object.keys(e.predict) as KdumpPolicy[];
}

/** Builds a runnable scenario from an entry (or any scenario document), a policy and `--set` overrides. */
export function buildScenario(doc: Record<string, unknown>, o: { policy?: KdumpPolicy; seed?: number | string; sets?: readonly string[] } = {}): ScenarioSpec {
  let d = applyOverrides(doc, o.sets ?? []);
  if (o.policy) d = merge(d, { kdump: { policy: o.policy } });
  if (o.seed !== undefined) d = { ...d, seed: o.seed };
  return parseScenario(d, `scenario ${String(d.id ?? '?')}`);
}
