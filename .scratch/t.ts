import { buildScenario, findEntry, entryDocument, runScenario } from '@kdump-twin/scenario';
async function main() {
  for (const [id, sets] of [['baseline', []], ['baseline', ['run.endAfterKdumpNs=2000000']], ['S10f-reserved-ste-config', []], ['S10f-reserved-ste-config', ['run.endAfterKdumpNs=2000000']]] as [string, string[]][]) {
    const e = findEntry(id)!;
    for (const p of ['status-quo', 'adopt-v7'] as const) {
      const t = Date.now();
      const spec = buildScenario(entryDocument(e), { policy: p, seed: 3, sets });
      const r = await runScenario(spec, { predict: e.predict[p] });
      console.log(id, sets.join(','), p, Date.now() - t, 'ms', r.vmcore.saved, r.kdumpPanicked, r.corruption.totalBytes, r.dma.issued);
    }
  }
}
main();
