// SPDX-License-Identifier: Apache-2.0
// The demo's last part: the policy comparison matrix on the catalogue's headline scenarios,
// run in this process, with every report written to out/reports/<scenario>.<policy>.json and a
// short account of the baseline under each policy.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildScenario, CATALOGUE, entryDocument, formatMatrix, POLICIES, reportJson, runScenario, type Report } from '@kdump-twin/scenario';

async function main(): Promise<void> {
  const dir = join(__dirname, '..', '..', 'out', 'reports');
  mkdirSync(dir, { recursive: true });
  const reports: Report[] = [];
  for (const e of CATALOGUE.filter((x) => x.headline)) {
    for (const policy of POLICIES) {
      const r = await runScenario(buildScenario(entryDocument(e), { policy }), { predict: e.predict[policy] });
      writeFileSync(join(dir, `${e.id}.${policy}.json`), reportJson(r));
      reports.push(r);
    }
  }
  console.log(formatMatrix(reports));
  console.log(`\n${reports.length} reports in out/reports/ (twinctl run <scenario> --policy <policy> prints one)`);
  const base = reports.filter((r) => r.scenario === 'baseline');
  console.log('\nbaseline, policy by policy:');
  for (const r of base) {
    const q = r.dma.afterCrash.beforeQuiesce;
    const why = r.kdumpPanicked ? `kdump kernel panicked (${r.panic!.reason})` : r.vmcore.saved ? 'vmcore saved' : `vmcore lost (${r.vmcore.reason})`;
    console.log(`  ${r.policy.padEnd(15)} in-flight DMA until quiesce: ${q.completedOk} ok, ${q.bypassed} bypassed, ${q.aborted + q.faulted} rejected; ${r.aer.nonFatal + r.aer.fatal} AER; ${r.corruption.totalBytes} B corrupted, ${r.corruption.staleAfterQuiesceBytes} B stale; ${why}`);
  }
  const notMet = reports.filter((r) => r.prediction && !r.prediction.met);
  if (notMet.length) {
    console.error(`prediction not met: ${notMet.map((r) => `${r.scenario}/${r.policy}`).join(', ')}`);
    process.exitCode = 1;
  }
}

void main();
