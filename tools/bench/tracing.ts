// SPDX-License-Identifier: Apache-2.0
// What tracing costs: the same scenario and seed untraced, traced at the default job ratio and
// traced with every job (always_on), exporting OTLP/protobuf to a real receiver in this run; in
// one process (median of interleaved rounds) and through the four services (one run each, a stack
// per setting). The reports must be identical in every case. Wall-clock timing is fine: a tool.
import { buildScenario, entryDocument, findEntry, reportJson, runScenario } from '@kdump-twin/scenario';
import { runTraced, Telemetry } from '@kdump-twin/telemetry';
import { startOtlpReceiver } from '@kdump-twin/telemetry/testing';
import type { KdumpPolicy } from '@kdump-twin/kernel';
import { clientFor } from '../services/client';
import { startStack } from '../services/stack';

export interface TracingRow {
  readonly where: 'in process' | 'services';
  readonly setting: 'untraced' | 'ratio 0.001' | 'always_on';
  readonly ms: number;
  /** ms / the untraced ms of the same place. */
  readonly ratio: number;
  readonly spans: number;
  readonly sameReport: boolean;
}

const SETTINGS = [
  ['untraced', undefined],
  ['ratio 0.001', { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.001' }],
  ['always_on', { OTEL_TRACES_SAMPLER: 'always_on' }],
] as const;

export async function benchTracing(scenario: string, policy: KdumpPolicy, o: { rounds?: number; services?: boolean } = {}): Promise<TracingRow[]> {
  const e = findEntry(scenario);
  if (!e) throw new Error(`unknown scenario ${scenario}`);
  const spec = () => buildScenario(entryDocument(e), { policy, seed: 7 });
  const rx = await startOtlpReceiver();
  const rows: TracingRow[] = [];
  try {
    const base = {
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.httpEndpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_BSP_MAX_QUEUE_SIZE: '65536',
    };
    const want = reportJson(await runScenario(spec())); // also the warm-up
    const times = new Map<string, number[]>(SETTINGS.map(([n]) => [n, []]));
    const spans = new Map<string, number>();
    let same = true;
    for (let round = 0; round < (o.rounds ?? 3); round++)
      for (const [name, env] of SETTINGS) {
        const t = env ? Telemetry.start('bench', { ...base, ...env }) : Telemetry.disabled();
        const before = rx.spans.length;
        const t0 = process.hrtime.bigint();
        const r = await runTraced(t, spec());
        await t.shutdown();
        times.get(name)!.push(Number(process.hrtime.bigint() - t0) / 1e6);
        spans.set(name, rx.spans.length - before);
        same &&= reportJson(r) === want;
      }
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
    const untraced = median(times.get('untraced')!);
    for (const [name] of SETTINGS) {
      const ms = median(times.get(name)!);
      rows.push({
        where: 'in process',
        setting: name,
        ms: Math.round(ms),
        ratio: Math.round((ms / untraced) * 100) / 100,
        spans: spans.get(name)!,
        sameReport: same,
      });
    }
    if (o.services) {
      let servicesUntraced = 0;
      for (const [name, env] of SETTINGS) {
        const stack = await startStack({ ownNats: true, freePorts: true, env: env ? { ...base, ...env, OTEL_BSP_SCHEDULE_DELAY: '500' } : {} });
        const before = rx.spans.length;
        let ms = 0;
        let json = '';
        try {
          const scen = clientFor(stack.addresses['smmu-twin'], 'twin/scenario/v1/scenario.proto', 'twin.scenario.v1.ScenarioService');
          const t0 = process.hrtime.bigint();
          json = (await scen.call.RunScenario!({ scenario: { catalogueId: scenario, policy, seed: '7' } }, 3_600_000)).reportJson as string;
          ms = Number(process.hrtime.bigint() - t0) / 1e6;
          scen.close();
        } finally {
          await stack.stop();
        }
        if (name === 'untraced') servicesUntraced = ms;
        rows.push({
          where: 'services',
          setting: name,
          ms: Math.round(ms),
          ratio: Math.round((ms / servicesUntraced) * 100) / 100,
          spans: rx.spans.length - before,
          sameReport: json === want,
        });
      }
    }
  } finally {
    await rx.stop();
  }
  return rows;
}
