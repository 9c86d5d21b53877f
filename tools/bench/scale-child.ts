// SPDX-License-Identifier: Apache-2.0
// One scale run in its own process, so its peak RSS is its own: prints one JSON line.
import { buildScenario, runScenario, scaleDocument } from '@kdump-twin/scenario';

async function main(): Promise<void> {
  const devices = Number(process.argv[2]);
  const t0 = process.hrtime.bigint();
  const r = await runScenario(buildScenario(scaleDocument(devices)));
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const ok = r.adoption.adopted && r.smmus[0]!.strtab.l2Mapped === 1 && r.vmcore.saved;
  console.log(
    JSON.stringify({
      devices,
      wallMs: Math.round(wallMs),
      maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
      heapMiB: Math.round(process.memoryUsage().heapUsed / 1048576),
      transactions: r.dma.issued,
      ok,
    }),
  );
}

void main();
