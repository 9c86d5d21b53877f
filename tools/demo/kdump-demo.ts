// SPDX-License-Identifier: Apache-2.0
// The driver model against the hardware twin: a primary kernel boots, a NIC and an NVMe DMA into
// buffers it mapped, the kernel panics with both mid-DMA, and a kdump kernel probes the SMMU
// under each policy. What happened to the in-flight DMA, and what the kdump kernel printed.
import { Machine, type KdumpPolicy } from '@kdump-twin/kernel';

const NIC = { name: '0000:01:00.0', sids: [0x100] };
const NVME = { name: '0000:02:00.0', sids: [0x200] };

async function run(policy: KdumpPolicy): Promise<void> {
  const m = new Machine({ seed: 'demo' });
  const p = m.primary();
  await p.probeSmmu();
  await p.probeDevice(NIC);
  await p.probeDevice(NVME);
  const buf = 0x9000_0000;
  const iova = await p.dmaMap(NIC.name, buf, 4096);
  // The NIC keeps receiving every 250 ns of virtual time, across the panic and the kdump probe.
  const seen = new Map<string, number>();
  let corrupt = 0;
  let n = 0;
  const tick = () => {
    const r = m.smmu.dma({ sid: 0x100, address: iova, write: true }, new Uint8Array(64).fill(0xa5));
    const t = r.translations[0]!;
    const key = `${r.completion === 'ok' ? (t.path === 'gbpa' ? 'bypassed (IOVA as PA)' : 'translated') : 'aborted'}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
    if (r.completion === 'ok' && t.pa !== buf) corrupt++;
    if (++n < 400) m.clock.after(250, 'nic', tick);
  };
  m.clock.after(250, 'nic', tick);
  m.crash();
  const k = m.kdump(policy);
  const probe = await k.probeSmmu();
  const d1 = await k.probeDevice(NIC);
  await k.probeDevice(NVME);
  m.clock.advance(400 * 250);
  const outcome = [...seen].map(([k2, v]) => `${v} ${k2}`).join(', ');
  console.log(
    `\n## kdump policy ${policy}: probe ${probe.ok ? 'ok' : `failed (${probe.reason})`}, NIC ${d1.deferred ? 'attach deferred (keeps the crashed STE)' : d1.grouped ? 'attached to a new domain at probe' : 'not grouped'}`,
  );
  console.log(`   NIC DMA after the panic: ${outcome}${corrupt ? `; ${corrupt} landed outside the NIC's buffer` : ''}`);
  const w = m.trace.of('kdump', { dir: 'write' }).map((a) => a.register);
  console.log(`   kdump MMIO writes: ${w.length} (${[...new Set(w)].join(', ') || 'none'})`);
  for (const l of k.log.all()) console.log(`   dmesg${l.level === 'debug' ? ' (dev_dbg)' : ''}: ${l.text}`);
}

async function main(): Promise<void> {
  for (const p of ['status-quo', 'gbpa-bypass', 'adopt-v7', 'adopt-v10', 'no-smmu-driver'] as const) await run(p);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
