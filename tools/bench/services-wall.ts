// SPDX-License-Identifier: Apache-2.0
// Scenario wall time in one process vs through the four services (smmu-twin, dma-fleet,
// crash-generator, kdump-driver as processes over NATS), for the same scenario and seed, with
// the two reports compared byte for byte (a bench that measured a different run would be
// worthless). Also counts the NATS request/reply round trips of each run over services, by
// subject, from a wildcard subscription. Wall-clock timing is fine here: this is a tool.
import { connect } from 'nats';
import { buildScenario, entryDocument, findEntry, reportJson, runScenario } from '@kdump-twin/scenario';
import type { KdumpPolicy } from '@kdump-twin/kernel';
import { clientFor } from '../services/client';
import type { Stack } from '../services/stack';

export interface WallRow {
  readonly scenario: string;
  readonly policy: string;
  /** smmu-twin's KERNEL_DMI for the run over services. */
  readonly dmi: 'on' | 'off';
  readonly inProcessMs: number;
  readonly servicesMs: number;
  /** servicesMs / inProcessMs. */
  readonly ratio: number;
  /** Request/reply round trips on the run's platform and fleet subjects. */
  readonly platformRoundTrips: number;
  readonly fleetRoundTrips: number;
  readonly sameReport: boolean;
}

export async function benchServicesWall(stack: Stack, runs: readonly [string, KdumpPolicy][], dmi: 'on' | 'off' = 'on'): Promise<WallRow[]> {
  const scen = clientFor(stack.addresses['smmu-twin'], 'twin/scenario/v1/scenario.proto', 'twin.scenario.v1.ScenarioService');
  const nc = await connect({ servers: stack.natsUrl });
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
      let platform = 0;
      let fleet = 0;
      const sub = nc.subscribe('twin.v1.run.*.>', {
        callback: (_err, m) => {
          if (m.subject.endsWith('.platform')) platform++;
          else if (m.subject.endsWith('.fleet')) fleet++;
        },
      });
      await nc.flush();
      const t0 = process.hrtime.bigint();
      const r = await scen.call.RunScenario!({ scenario: { catalogueId: id, policy }, predict: policy in e.predict }, 3_600_000);
      const servicesMs = Number(process.hrtime.bigint() - t0) / 1e6;
      await nc.flush();
      sub.unsubscribe();
      const inProcessMs = times[1]!;
      rows.push({ scenario: id, policy, dmi, inProcessMs: Math.round(inProcessMs), servicesMs: Math.round(servicesMs), ratio: Math.round((servicesMs / inProcessMs) * 10) / 10, platformRoundTrips: platform, fleetRoundTrips: fleet, sameReport: r.reportJson === local });
    }
  } finally {
    scen.close();
    await nc.close();
  }
  return rows;
}
