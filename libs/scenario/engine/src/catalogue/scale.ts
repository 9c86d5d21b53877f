// SPDX-License-Identifier: Apache-2.0
// The scale scenario: `devices` endpoints spread over all 256 PCI buses of one SMMU, so the
// crashed kernel's 2-level stream table is full (every one of its 256 L1 slots has an L2
// table), each device mid-DMA at a low rate, and one NVMe dump target. Used by the scale test
// and by `npm run bench -- scale`.

const US = 1_000;
const MS = 1_000_000;

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

/** PCI name of the i-th device: bus i % 256, then device and function numbers. */
export function scaleBdf(i: number): string {
  const bus = i % 256;
  const slot = Math.floor(i / 256);
  return `0000:${hex2(bus)}:${hex2(slot >> 3)}.${slot & 7}`;
}

export function scaleDocument(devices: number): Record<string, unknown> {
  if (!Number.isInteger(devices) || devices < 2 || devices > 65_536) throw new RangeError(`devices: an integer in [2, 65536], got ${devices}`);
  const list: Record<string, unknown>[] = [
    {
      kind: 'nvme',
      name: scaleBdf(0),
      kdumpDriver: { present: true, role: 'dump-target', probeAtNs: 1 * MS },
      traffic: { outstanding: 16, mediaLatencyNs: 100 * US },
    },
  ];
  for (let i = 1; i < devices; i++) {
    list.push({
      kind: 'nic',
      name: scaleBdf(i),
      kdumpDriver: { present: false },
      traffic: { rxEntries: 8, rxBufBytes: 2_048, txEntries: 8, txIntervalNs: 0, rxIntervalNs: 500 * US, statsIntervalNs: 1 * MS, pollNs: 200 * US },
    });
  }
  return {
    id: `scale-${devices}`,
    title: `${devices} devices over 256 buses: a full 16-bit 2-level stream table`,
    platform: { maxBackedMiB: 4_096, smmus: [{ config: { sidBits: 16, tlbEntries: 8_192, configCacheEntries: 8_192 } }] },
    devices: list,
    crash: { trigger: { kind: 'time', atNs: 300 * US }, kexecDelayNs: 200 * US, smmuProbeDelayNs: 50 * US },
    kdump: { policy: 'adopt-v7' },
    run: { endAfterKdumpNs: 3 * MS, vmcore: { save: true, maxPages: 256 } },
  };
}
