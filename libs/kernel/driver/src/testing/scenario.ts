// SPDX-License-Identifier: Apache-2.0
// Test scaffolding for crash scenarios: a machine whose primary kernel booted, attached DMA
// domains and mapped a buffer per device, then panicked; and a DMA ticker that keeps a device
// writing through the SMMU on the virtual clock while the kdump kernel probes.

import type { SmmuConfig } from '@kdump-twin/smmu-model';
import type { Completion, Path } from '@kdump-twin/smmu-model';
import type { MasterSpec } from '../lib/device';
import type { DriverOptions } from '../lib/device';
import type { LinuxKernel } from '../lib/kernel';
import { Machine } from '../lib/machine';

export const NIC: MasterSpec = { name: '0000:01:00.0', sids: [0x100] };
export const NVME: MasterSpec = { name: '0000:02:00.0', sids: [0x200] };

export interface Crashed {
  readonly m: Machine;
  readonly p: LinuxKernel;
  /** Per device: the IOVA the primary kernel mapped and the buffer behind it. */
  readonly maps: Map<string, { iova: number; buf: number; sid: number }>;
}

export async function crashedMachine(
  o: { smmu?: Partial<SmmuConfig>; devices?: MasterSpec[]; primary?: Partial<DriverOptions>; crash?: boolean } = {},
): Promise<Crashed> {
  const m = new Machine({ smmu: o.smmu });
  const p = m.primary(o.primary);
  const r = await p.probeSmmu();
  if (!r.ok) throw new Error(`primary probe failed: ${r.reason}`);
  const maps = new Map<string, { iova: number; buf: number; sid: number }>();
  let buf = 0x9000_0000;
  for (const d of o.devices ?? [NIC, NVME]) {
    const pr = await p.probeDevice(d);
    if (!pr.grouped) continue;
    const iova = await p.dmaMap(d.name, buf, 4096);
    maps.set(d.name, { iova, buf, sid: d.sids[0]! });
    buf += 0x10_0000;
  }
  if (o.crash !== false) m.crash();
  return { m, p, maps };
}

export interface Tick {
  readonly time: number;
  readonly completion: Completion;
  readonly path: Path;
  readonly pa: number;
  readonly event?: string;
}

/** Keeps `sid` writing 64 bytes at `iova` every `periodNs` (at most `max` times). */
export function dmaTicker(m: Machine, sid: number, iova: number, periodNs = 5_000, max = 5_000): { ticks: Tick[]; stop(): void } {
  const ticks: Tick[] = [];
  let stopped = false;
  const tick = () => {
    if (stopped || ticks.length >= max) return;
    const r = m.smmu.dma({ sid, address: iova, write: true }, new Uint8Array(64).fill(0xd5));
    const t = r.translations[0]!;
    ticks.push({ time: m.clock.now(), completion: r.completion, path: t.path, pa: t.pa, event: t.event });
    m.clock.after(periodNs, `dma sid ${sid}`, tick);
  };
  m.clock.after(periodNs, `dma sid ${sid}`, tick);
  return {
    ticks,
    stop: () => {
      stopped = true;
    },
  };
}
