// SPDX-License-Identifier: Apache-2.0
// One catalogue entry: a scenario of the series document over the baseline, with its predicted
// outcome per policy (index.ts collects them, entries.ts holds them).

import type { KdumpPolicy } from '@kdump-twin/kernel';
import type { Check } from '../lib/predict';

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
