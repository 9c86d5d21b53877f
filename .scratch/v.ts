import { buildScenario, findEntry, entryDocument, runScenario } from '@kdump-twin/scenario';
async function main() {
  for (const end of [2, 5, 10]) for (const p of ['adopt-v7', 'status-quo'] as const) {
    const e = findEntry('S10f-reserved-ste-config')!;
    const t = Date.now();
    const r = await runScenario(buildScenario(entryDocument(e), { policy: p, seed: 3, sets: [`run.endAfterKdumpNs=${end}000000`] }));
    console.log(end, p, Date.now() - t, 'ms saved', r.vmcore.saved, JSON.stringify(r.vmcore).slice(0, 200));
  }
}
main();
