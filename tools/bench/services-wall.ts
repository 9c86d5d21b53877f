// SPDX-License-Identifier: Apache-2.0
// Scenario wall time in one process vs through the four services (smmu-twin, dma-fleet,
// crash-generator, kdump-driver as processes over NATS), for the same scenario and seed, with
// the two reports compared byte for byte (a bench that measured a different run would be
// worthless). Also the run's NATS round trips by cause (smmu-twin logs them with the run) and a
// bare cross-process NATS round trip measured just before it. Wall-clock timing is fine here:
// this is a tool.
import { buildScenario, entryDocument, findEntry, reportJson, runScenario } from '@kdump-twin/scenario';
import type { KdumpPolicy } from '@kdump-twin/kernel';
import { clientFor } from '../services/client';
import type { Stack } from '../services/stack';
import type { RoundTrips } from '@kdump-twin/transport';
import { natsFloorUs, roundTripsOf } from './round-trips';

export interface WallRow {
  readonly scenario: string;
  readonly policy: string;
  /** smmu-twin's KERNEL_DMI for the run over services. */
  readonly dmi: 'on' | 'off';
  /** smmu-twin's DEVICE_DMI, RUN_AHEAD and WAIT_UNTIL for the run over services. */
  readonly deviceDmi: 'on' | 'off';
  readonly runAhead: 'on' | 'off';
  readonly waitUntil: 'on' | 'off';
  readonly inProcessMs: number;
  readonly servicesMs: number;
  /** servicesMs / inProcessMs. */
  readonly ratio: number;
  /** Every round trip of the run by cause, as smmu-twin counted them. */
  readonly roundTrips: RoundTrips & { readonly total: number };
  /** A bare NATS request/reply on the same server just before the run (median us), and the run's wall time per round trip against it. */
  readonly floorUs: number;
  readonly usPerRoundTrip: number;
  readonly perRoundTripRatio: number;
  readonly sameReport: boolean;
}

export async function benchServicesWall(
  stack: Stack,
  runs: readonly [string, KdumpPolicy][],
  dmi: 'on' | 'off' = 'on',
  deviceDmi: 'on' | 'off' = 'on',
  runAhead: 'on' | 'off' = 'on',
  waitUntil: 'on' | 'off' = 'on',
): Promise<WallRow[]> {
  const scen = clientFor(stack.addresses['smmu-twin'], 'twin/scenario/v1/scenario.proto', 'twin.scenario.v1.ScenarioService');
  const rows: WallRow[] = [];
  try {
    for (const [id, policy] of runs) {
      const e = findEntry(id);
      if (!e) throw new Error(`unknown scenario ${id}`);
      const spec = () => buildScenario(entryDocument(e), { policy });
      await runScenario(spec()); // warm-up: JIT and module loading are not the scenario's cost
      const times: number[] = [];
      let local = '';
      for (let i = 0; i < 3; i++) {
        const t0 = process.hrtime.bigint();
        local = reportJson(await runScenario(spec(), { predict: e.predict[policy] }));
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      times.sort((a, b) => a - b);
      const floorUs = await natsFloorUs(stack.natsUrl);
      const t0 = process.hrtime.bigint();
      const r = await scen.call.RunScenario!({ scenario: { catalogueId: id, policy }, predict: policy in e.predict }, 3_600_000);
      const servicesMs = Number(process.hrtime.bigint() - t0) / 1e6;
      const rt = await roundTripsOf(() => stack.logs('smmu-twin'), r.runId);
      const inProcessMs = times[1]!;
      rows.push({
        scenario: id,
        policy,
        dmi,
        deviceDmi,
        runAhead,
        waitUntil,
        inProcessMs: Math.round(inProcessMs),
        servicesMs: Math.round(servicesMs),
        ratio: Math.round((servicesMs / inProcessMs) * 10) / 10,
        roundTrips: rt,
        floorUs: Math.round(floorUs),
        usPerRoundTrip: Math.round((servicesMs * 1000) / rt.total),
        perRoundTripRatio: Math.round(((servicesMs * 1000) / rt.total / floorUs) * 100) / 100,
        sameReport: r.reportJson === local,
      });
    }
  } finally {
    scen.close();
  }
  return rows;
}
