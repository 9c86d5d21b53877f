// SPDX-License-Identifier: Apache-2.0
// The demo's main part: the policy comparison matrix on the catalogue's headline scenarios, run
// through the four services (smmu-twin, dma-fleet, crash-generator, kdump-driver) over NATS:
// NATS_URL or 127.0.0.1:4222 if one answers, else a nats-server of our own on a free loopback
// port. The services listen on free loopback ports and are stopped at the end. Without any NATS
// (no server answers, no nats-server binary) it says so and runs the same matrix in this process.
// Every report goes to out/reports/<scenario>.<policy>.json; then one scenario is run again in
// process to show the two reports are the same bytes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildScenario,
  CATALOGUE,
  entryDocument,
  findEntry,
  formatMatrix,
  POLICIES,
  reportJson,
  runScenario,
  type CatalogueEntry,
  type Report,
} from '@kdump-twin/scenario';
import type { KdumpPolicy } from '@kdump-twin/kernel';
import { clientFor, type GenericClient } from '../services/client';
import { startStack, SERVICES, type Stack } from '../services/stack';

/** Runs through the services this many at a time (each run is its own session). */
const WIDTH = 4;

type Job = { readonly e: CatalogueEntry; readonly policy: KdumpPolicy };

async function overServices(jobs: readonly Job[], scen: GenericClient): Promise<Report[]> {
  const out: Report[] = new Array(jobs.length);
  let next = 0;
  let done = 0;
  const lane = async () => {
    while (next < jobs.length) {
      const i = next++;
      const { e, policy } = jobs[i]!;
      const r = await scen.call.RunScenario!({ scenario: { catalogueId: e.id, policy }, predict: policy in e.predict }, 3_600_000);
      out[i] = JSON.parse(r.reportJson as string) as Report;
      process.stderr.write(`  [${++done}/${jobs.length}] ${e.id} ${policy}\n`);
    }
  };
  await Promise.all(Array.from({ length: WIDTH }, lane));
  return out;
}

async function inProcess(jobs: readonly Job[]): Promise<Report[]> {
  const out: Report[] = [];
  for (const { e, policy } of jobs) out.push(await runScenario(buildScenario(entryDocument(e), { policy }), { predict: e.predict[policy] }));
  return out;
}

async function main(): Promise<void> {
  const dir = join(__dirname, '..', '..', 'out', 'reports');
  mkdirSync(dir, { recursive: true });
  const jobs: Job[] = CATALOGUE.filter((x) => x.headline).flatMap((e) => POLICIES.map((policy) => ({ e, policy })));
  let stack: Stack | undefined;
  try {
    stack = await startStack({ freePorts: true });
  } catch (e) {
    // Only the absence of NATS is a reason to run in one process; a service that fails to start is an error.
    if (!/no nats-server binary/.test((e as Error).message)) throw e;
    console.log(
      `No NATS to be had: nothing answers at NATS_URL or 127.0.0.1:4222 and there is no nats-server binary to start (apt-get install nats-server).\nRunning the same matrix in one process instead.`,
    );
  }
  let reports: Report[];
  const t0 = Date.now();
  if (stack) {
    console.log(`NATS ${stack.natsUrl}${stack.ownNats ? ' (a nats-server started for the demo)' : ''}`);
    for (const s of SERVICES) console.log(`  ${s.padEnd(16)} grpc ${stack.addresses[s]} SERVING`);
    console.log(
      `${jobs.length} runs through the services, ${WIDTH} at a time (each a few seconds to a minute: every dependent MMIO access, load, wake-up and device read is a NATS round trip)`,
    );
    const scen = clientFor(stack.addresses['smmu-twin'], 'twin/scenario/v1/scenario.proto', 'twin.scenario.v1.ScenarioService');
    try {
      reports = await overServices(jobs, scen);
    } catch (e) {
      // Say which service failed and how: its exit, and the end of its log.
      for (const s of SERVICES) {
        const p = stack.procs[s];
        const errors = stack
          .logs(s)
          .split('\n')
          .filter((l) => /"level":"(error|warn)"/.test(l))
          .slice(-3);
        if (p.exitCode !== null || p.signalCode !== null || errors.length)
          console.error(
            `${s}: ${p.exitCode !== null || p.signalCode !== null ? `exited (${p.exitCode ?? p.signalCode})` : 'running'}${errors.length ? `; last warnings and errors:\n  ${errors.join('\n  ')}` : ''}`,
          );
      }
      throw e;
    } finally {
      scen.close();
      await stack.stop();
    }
  } else reports = await inProcess(jobs);
  const wall = ((Date.now() - t0) / 1000).toFixed(0);
  for (const r of reports) writeFileSync(join(dir, `${r.scenario}.${r.policy}.json`), reportJson(r));
  console.log(`\n${formatMatrix(reports)}`);
  console.log(
    `\n${reports.length} reports ${stack ? 'from the services ' : ''}in out/reports/ (${wall} s; twinctl run <scenario> --policy <policy> prints one)`,
  );
  const base = reports.filter((r) => r.scenario === 'baseline');
  console.log('\nbaseline, policy by policy:');
  for (const r of base) {
    const q = r.dma.afterCrash.beforeQuiesce;
    const why = r.kdumpPanicked ? `kdump kernel panicked (${r.panic!.reason})` : r.vmcore.saved ? 'vmcore saved' : `vmcore lost (${r.vmcore.reason})`;
    console.log(
      `  ${r.policy.padEnd(15)} in-flight DMA until quiesce: ${q.completedOk} ok, ${q.bypassed} bypassed, ${q.aborted + q.faulted} rejected; ${r.aer.nonFatal + r.aer.fatal} AER; ${r.corruption.totalBytes} B corrupted, ${r.corruption.staleAfterQuiesceBytes} B stale; ${why}`,
    );
  }
  if (stack) {
    // Determinism across the process boundary: the same seed gives the same report bytes.
    const e = findEntry('S10h-asid-alias-v7')!;
    const i = jobs.findIndex((j) => j.e.id === e.id && j.policy === 'adopt-v7');
    const [local] = await inProcess([jobs[i]!]);
    const same = reportJson(local!) === reportJson(reports[i]!);
    console.log(`\n${e.id} adopt-v7 run again in one process: ${same ? 'the same report, byte for byte' : 'A DIFFERENT REPORT (a determinism bug)'}`);
    if (!same) process.exitCode = 1;
  }
  const notMet = reports.filter((r) => r.prediction && !r.prediction.met);
  if (notMet.length) {
    console.error(`prediction not met: ${notMet.map((r) => `${r.scenario}/${r.policy}`).join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch((e: unknown) => {
  console.error(`matrix demo: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
