// SPDX-License-Identifier: Apache-2.0
// The versioned scenario catalogue: `baseline` and every fault scenario of
// kdump-adopt-series.md section 4, each id starting with the document's identifier, each with
// its predicted outcome per policy as checks the report is held to.

import type { KdumpPolicy } from '@kdump-twin/kernel';
import type { Check } from '../lib/predict';
import { applyOverrides, parseScenario, type ScenarioSpec } from '../lib/spec';
import { baselineDocument } from './baseline';
import { ENTRIES } from './entries';

export const CATALOGUE_VERSION = '1.2.0';

export interface CatalogueEntry {
  readonly id: string;
  readonly version: number;
  readonly title: string;
  /** Where in the series document it comes from. */
  readonly source: string;
  /** The predicted outcome in words, as the document states it. */
  readonly outcome: string;
  /** Shown in the demo's policy comparison. */
  readonly headline?: boolean;
  /** Where the document marks the outcome as inference: the twin's choice and the knob that changes it. */
  readonly inference?: string;
  /** Scenario-document fields over the baseline (objects merge, lists replace). */
  readonly doc: Record<string, unknown>;
  /** Predicted outcome per policy; the policies listed are the ones the scenario is run under by default. */
  readonly predict: Partial<Record<KdumpPolicy, readonly Check[]>>;
}

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
