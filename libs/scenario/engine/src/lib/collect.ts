// SPDX-License-Identifier: Apache-2.0
// What the report counts while a scenario runs: every DMA transaction by device and by phase
// of the crash (before the panic, after it, and after it but before the device's kdump driver
// quiesced it), the SMMU path of every failure, and the mappings each kernel made for each
// device, from which corruption is computed exactly from the platform's write log.

import type { DmaOutcome, DmaRecord } from '@kdump-twin/endpoint';
import type { PhysicalMemory, Region } from '@kdump-twin/platform';

export interface DmaCounts {
  issued: number;
  completedOk: number;
  aborted: number;
  bypassed: number;
  faulted: number;
  stalled: number;
}

export const zeroCounts = (): DmaCounts => ({ issued: 0, completedOk: 0, aborted: 0, bypassed: 0, faulted: 0, stalled: 0 });

/** The report's bucket for a transaction outcome. */
export function bucket(o: DmaOutcome): keyof Omit<DmaCounts, 'issued'> {
  switch (o) {
    case 'translated':
      return 'completedOk';
    case 'bypassed':
      return 'bypassed';
    case 'aborted':
    case 'completer-abort':
      return 'aborted';
    case 'faulted':
    case 'raz-wi':
      return 'faulted';
    case 'stalled':
      return 'stalled';
  }
}

export interface DeviceDma {
  readonly total: DmaCounts;
  readonly afterCrash: DmaCounts;
  /** After the panic and before the device's kdump driver reset it: the crashed kernel's DMA. */
  readonly beforeQuiesce: DmaCounts;
  /** SMMU path of every transaction that did not complete OK (gbpa, ste-abort, s1, ...). */
  readonly failurePaths: Record<string, number>;
  /** Transactions after the panic decided by an STE the crashed kernel wrote / the kdump kernel wrote. */
  readonly steOrigin: { crashed: number; kdump: number };
  firstFailureAfterCrash?: number;
}

function add(c: DmaCounts, o: DmaOutcome): void {
  c.issued++;
  c[bucket(o)]++;
}

export class DmaCollector {
  readonly devices = new Map<string, DeviceDma>();
  crashAt: number | undefined;
  transactions = 0;
  /** Called on every transaction (crash triggers by count, traces). */
  onTransaction: ((r: DmaRecord) => void) | undefined;

  constructor(private readonly quiescedAt: (device: string) => number | undefined) {}

  device(name: string): DeviceDma {
    let d = this.devices.get(name);
    if (!d) {
      d = { total: zeroCounts(), afterCrash: zeroCounts(), beforeQuiesce: zeroCounts(), failurePaths: {}, steOrigin: { crashed: 0, kdump: 0 } };
      this.devices.set(name, d);
    }
    return d;
  }

  record(r: DmaRecord): void {
    this.transactions++;
    const d = this.device(r.device);
    const o = r.completion.outcome;
    add(d.total, o);
    if (this.crashAt !== undefined && r.time >= this.crashAt) {
      add(d.afterCrash, o);
      const q = this.quiescedAt(r.device);
      if (q === undefined || r.time <= q) add(d.beforeQuiesce, o);
      if (r.completion.steEpoch === 'primary') d.steOrigin.crashed++;
      else if (r.completion.steEpoch === 'kdump') d.steOrigin.kdump++;
      if (o !== 'translated' && o !== 'bypassed' && d.firstFailureAfterCrash === undefined) d.firstFailureAfterCrash = r.time;
    }
    if (o !== 'translated' && o !== 'bypassed') d.failurePaths[r.completion.path] = (d.failurePaths[r.completion.path] ?? 0) + 1;
    this.onTransaction?.(r);
  }

  sum(pick: (d: DeviceDma) => DmaCounts): DmaCounts {
    const out = zeroCounts();
    for (const d of this.devices.values()) {
      const c = pick(d);
      for (const k of Object.keys(out) as (keyof DmaCounts)[]) out[k] += c[k];
    }
    return out;
  }
}

/** A physical range a kernel mapped for a device, valid from `from` until `to` (an unmap). */
export interface Mapping {
  readonly kernel: 'primary' | 'kdump';
  readonly pa: number;
  readonly bytes: number;
  readonly iova: number;
  readonly from: number;
  to: number;
}

export type CorruptionBucket = 'carveout' | 'crashedKernel' | 'other';

export interface CorruptRegion {
  readonly region: string;
  readonly kind: string;
  readonly owner?: string;
  readonly bucket: CorruptionBucket;
  readonly bytes: number;
  /** The first ranges (at most 8), as [start, end) hex strings. */
  readonly ranges: readonly string[];
  readonly devices: readonly string[];
}

export interface Corruption {
  readonly totalBytes: number;
  readonly carveoutBytes: number;
  readonly crashedKernelBytes: number;
  readonly otherBytes: number;
  readonly regions: readonly CorruptRegion[];
  readonly byDevice: ReadonlyMap<string, number>;
  /**
   * Bytes a device wrote after its kdump driver reset it into memory the crashed kernel had
   * mapped for it: misdirected by stale translations (a reused ASID hitting the crashed
   * kernel's TLB entries, a stale ATC), not counted as corruption by the definition above.
   */
  readonly staleAfterQuiesceBytes: number;
  readonly staleByDevice: ReadonlyMap<string, number>;
  /** Every corrupted or stale interval with the time of the write, for the vmcore check. */
  readonly intervals: readonly { start: number; end: number; time: number; device: string; stale: boolean }[];
}

/** Union length of half-open intervals. */
function mergeLen(iv: { start: number; end: number }[]): { len: number; merged: { start: number; end: number }[] } {
  iv.sort((a, b) => a.start - b.start || a.end - b.end);
  const merged: { start: number; end: number }[] = [];
  for (const x of iv) {
    const last = merged.at(-1);
    if (last && x.start <= last.end) last.end = Math.max(last.end, x.end);
    else merged.push({ start: x.start, end: x.end });
  }
  return { len: merged.reduce((n, m) => n + m.end - m.start, 0), merged };
}

const hex = (n: number) => `0x${n.toString(16)}`;

/**
 * Bytes written by device DMA outside every mapping a kernel had made for that device at the
 * time of the write, classified by the region they landed in (the crashkernel carve-out, the
 * crashed kernel's RAM, anything else), exact to the byte, from the platform's write log.
 */
export function computeCorruption(
  memory: PhysicalMemory,
  owner: (smmu: string, sid: number) => string | undefined,
  mappings: ReadonlyMap<string, readonly Mapping[]>,
  quiescedAt: (device: string) => number | undefined = () => undefined,
): Corruption {
  const log = memory.writeLog();
  const bad: { start: number; end: number; time: number; device: string }[] = [];
  const stale: { start: number; end: number; time: number; device: string }[] = [];
  for (let i = 0; i < log.count; i++) {
    const rec = log.get(i);
    const k = rec.writer.kind;
    if (k !== 'device-translated' && k !== 'device-bypass') continue;
    const dev = owner(rec.writer.device ?? '', rec.writer.sid ?? -1);
    const start = rec.address;
    const end = rec.address + rec.length;
    // Subtract every mapping of this device valid at the time of the write.
    let parts = [{ start, end }];
    const q = dev ? quiescedAt(dev) : undefined;
    for (const m of (dev && mappings.get(dev)) || []) {
      if (rec.time < m.from || rec.time > m.to) continue;
      // After the device's reset, a landing in one of the crashed kernel's mappings is stale.
      const isStale = q !== undefined && rec.time > q && m.kernel === 'primary';
      const ms = m.pa;
      const me = m.pa + m.bytes;
      const next: { start: number; end: number }[] = [];
      for (const p of parts) {
        if (me <= p.start || ms >= p.end) next.push(p);
        else {
          if (p.start < ms) next.push({ start: p.start, end: ms });
          if (me < p.end) next.push({ start: me, end: p.end });
          if (isStale) stale.push({ start: Math.max(p.start, ms), end: Math.min(p.end, me), time: rec.time, device: dev! });
        }
      }
      parts = next;
      if (!parts.length) break;
    }
    for (const p of parts) bad.push({ ...p, time: rec.time, device: dev ?? `sid 0x${(rec.writer.sid ?? 0).toString(16)}` });
  }
  // Classify by region (splitting intervals that straddle region boundaries).
  const regions = memory.regions();
  const regionOf = (pa: number): Region | undefined => regions.find((r) => pa >= r.base && pa < r.base + r.size);
  const byRegion = new Map<string, { region?: Region; iv: { start: number; end: number }[]; devices: Set<string> }>();
  const byDevice = new Map<string, { start: number; end: number }[]>();
  for (const b of bad) {
    let s = b.start;
    while (s < b.end) {
      const r = regionOf(s);
      const e = r ? Math.min(b.end, r.base + r.size) : (regions.filter((x) => x.base > s).sort((x, y) => x.base - y.base)[0]?.base ?? b.end);
      const key = r?.name ?? '(no region)';
      let g = byRegion.get(key);
      if (!g) byRegion.set(key, (g = { region: r, iv: [], devices: new Set() }));
      g.iv.push({ start: s, end: Math.min(e, b.end) });
      g.devices.add(b.device);
      s = Math.min(e, b.end);
    }
    let d = byDevice.get(b.device);
    if (!d) byDevice.set(b.device, (d = []));
    d.push({ start: b.start, end: b.end });
  }
  const out: CorruptRegion[] = [];
  const totals = { carveout: 0, crashedKernel: 0, other: 0 };
  for (const [name, g] of [...byRegion.entries()].sort((a, b) => (a[1].region?.base ?? -1) - (b[1].region?.base ?? -1))) {
    const { len, merged } = mergeLen(g.iv);
    const r = g.region;
    const bucketName: CorruptionBucket = r?.kind === 'crashkernel' ? 'carveout' : r?.kind === 'ram' && r.owner === 'primary-kernel' ? 'crashedKernel' : 'other';
    totals[bucketName] += len;
    out.push({
      region: name,
      kind: r?.kind ?? 'none',
      owner: r?.owner,
      bucket: bucketName,
      bytes: len,
      ranges: merged.slice(0, 8).map((m) => `[${hex(m.start)}, ${hex(m.end)})`),
      devices: [...g.devices].sort(),
    });
  }
  const dev = new Map<string, number>();
  for (const [name, iv] of byDevice) dev.set(name, mergeLen(iv).len);
  const staleDev = new Map<string, { start: number; end: number }[]>();
  for (const x of stale) {
    let l = staleDev.get(x.device);
    if (!l) staleDev.set(x.device, (l = []));
    l.push({ start: x.start, end: x.end });
  }
  const staleBy = new Map<string, number>();
  for (const [name, iv] of staleDev) staleBy.set(name, mergeLen(iv).len);
  return {
    totalBytes: totals.carveout + totals.crashedKernel + totals.other,
    carveoutBytes: totals.carveout,
    crashedKernelBytes: totals.crashedKernel,
    otherBytes: totals.other,
    regions: out,
    byDevice: dev,
    staleAfterQuiesceBytes: mergeLen(stale.map((x) => ({ start: x.start, end: x.end }))).len,
    staleByDevice: staleBy,
    intervals: [...bad.map((b) => ({ ...b, stale: false })), ...stale.map((b) => ({ ...b, stale: true }))],
  };
}
