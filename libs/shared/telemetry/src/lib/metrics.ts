// SPDX-License-Identifier: Apache-2.0
// A run's metrics, exported OTLP next to its traces: DMA transactions by epoch, policy and
// outcome, jobs by epoch and result, every SMMU cache's hit rate and lookups, the invariants that
// failed and the architecture rules the kdump kernel broke, and the run itself. Counted in the
// run and added once at its end, so a million transactions cost a map update each.

import type { Attributes, Counter, Gauge } from '@opentelemetry/api';
import type { DmaRecord, JobRecord } from '@kdump-twin/endpoint';
import type { PlatformRole, Report, ScenarioSpec } from '@kdump-twin/scenario';
import { ATTR, METRIC, METRIC_DEF, type MetricName } from './registry.generated';
import type { Telemetry } from './setup';

type Instruments = { counters: Map<MetricName, Counter>; gauges: Map<MetricName, Gauge> };
const byMeter = new WeakMap<object, Instruments>();

function instruments(t: Telemetry): Instruments {
  let i = byMeter.get(t.meter);
  if (!i) {
    i = { counters: new Map(), gauges: new Map() };
    for (const [name, def] of Object.entries(METRIC_DEF) as [MetricName, (typeof METRIC_DEF)[MetricName]][]) {
      if (def.instrument === 'counter') i.counters.set(name, t.meter.createCounter(name, { description: def.brief, unit: def.unit }));
      else if (def.instrument === 'gauge') i.gauges.set(name, t.meter.createGauge(name, { description: def.brief, unit: def.unit }));
    }
    byMeter.set(t.meter, i);
  }
  return i;
}

const EPOCHS = ['primary', 'kdump'] as const;

export class RunMetrics {
  /** Per epoch (primary, kdump): outcome -> transactions; ok/failed jobs. */
  private readonly transactions = [new Map<string, number>(), new Map<string, number>()] as const;
  private readonly jobs = [
    [0, 0],
    [0, 0],
  ];
  private readonly base: Attributes;

  constructor(
    private readonly t: Telemetry,
    spec: ScenarioSpec,
  ) {
    this.base = { [ATTR.POLICY]: spec.kdump.policy, [ATTR.SCENARIO]: spec.id };
  }

  dma(r: DmaRecord, panicAt: number | undefined): void {
    if (!this.t.enabled) return;
    const m = this.transactions[panicAt !== undefined && r.time >= panicAt ? 1 : 0];
    m.set(r.completion.outcome, (m.get(r.completion.outcome) ?? 0) + 1);
  }

  job(r: JobRecord, panicAt: number | undefined): void {
    if (!this.t.enabled) return;
    this.jobs[panicAt !== undefined && r.time >= panicAt ? 1 : 0]![r.ok ? 1 : 0]++;
  }

  report(report: Report, p: PlatformRole | undefined): void {
    if (!this.t.enabled) return;
    const i = instruments(this.t);
    EPOCHS.forEach((epoch, e) => {
      for (const [outcome, n] of this.transactions[e]!)
        i.counters.get(METRIC.DMA_TRANSACTIONS)!.add(n, { ...this.base, [ATTR.EPOCH]: epoch, [ATTR.DMA_OUTCOME]: outcome });
      this.jobs[e]!.forEach((n, ok) => {
        if (n) i.counters.get(METRIC.DMA_JOBS)!.add(n, { ...this.base, [ATTR.EPOCH]: epoch, [ATTR.DMA_OK]: ok === 1 });
      });
    });
    for (const m of p?.smmus ?? []) {
      for (const [cache, c] of Object.entries(m.cacheStats())) {
        const a = { ...this.base, [ATTR.SMMU]: m.name, [ATTR.CACHE]: cache };
        const lookups = c.hits + c.misses;
        if (lookups > 0) i.gauges.get(METRIC.SMMU_CACHE_HIT_RATIO)!.record(c.hits / lookups, a);
        i.counters.get(METRIC.SMMU_CACHE_LOOKUPS)!.add(c.hits, { ...a, [ATTR.OK]: true });
        i.counters.get(METRIC.SMMU_CACHE_LOOKUPS)!.add(c.misses, { ...a, [ATTR.OK]: false });
      }
    }
    for (const inv of report.invariants) if (inv.applies && !inv.holds) i.counters.get(METRIC.VIOLATIONS)!.add(1, { ...this.base, [ATTR.INVARIANT]: inv.id });
    if (report.mmio.violations.length) i.counters.get(METRIC.VIOLATIONS)!.add(report.mmio.violations.length, { ...this.base, [ATTR.INVARIANT]: 'mmio-rule' });
    i.counters.get(METRIC.RUNS)!.add(1, { ...this.base, [ATTR.OK]: report.invariantsHold });
  }
}
