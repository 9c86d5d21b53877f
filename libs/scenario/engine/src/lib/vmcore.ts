// SPDX-License-Identifier: Apache-2.0
// The vmcore as the report states it, from three views: what makedumpfile did in the kdump
// kernel (pages, when each was read, a digest of what the CPU copied), what landed on the dump
// target's disk (the fleet compares digests, page by page), and what the platform saw happen
// to the crashed kernel's memory after the panic (DMA no live mapping allowed, before the dump
// read the page; stores of the kdump kernel itself).

import type { Corruption } from './collect';
import type { PlatformRole } from './platform-role';
import type { FleetView, KernelView } from './views';

const PAGE = 4096;

export interface VmcoreResult {
  readonly attempted: boolean;
  readonly saved: boolean;
  readonly reason?: string;
  readonly target?: string;
  /** Pages makedumpfile selected, and how many reached the disk. */
  readonly pages: number;
  readonly savedPages: number;
  readonly bytes: number;
  /** Bytes of the saved image that differ from the crashed kernel's memory for a reason other than DMA it had mapped. */
  readonly corruptedBytes: number;
  /** Of which: pages (as bytes) the disk holds differently from what the CPU copied (a bounce buffer overwritten, save DMA misdirected). */
  readonly mismatchedBytes: number;
  /** Of which: bytes of crashed memory DMA overwrote after the panic, before the dump read them, where no live mapping allowed it (corruption or stale DMA). */
  readonly modifiedBeforeReadBytes: number;
  /** Bytes of the crashed kernel's memory the kdump kernel itself wrote (e.g. an L2 pointer into the live L1 table). */
  readonly kdumpWrittenBytes: number;
  readonly startedAt?: number;
  readonly finishedAt?: number;
}

export function noSave(reason: string, target?: string): VmcoreResult {
  return {
    attempted: false,
    saved: false,
    reason,
    ...(target ? { target } : {}),
    pages: 0,
    savedPages: 0,
    bytes: 0,
    corruptedBytes: 0,
    mismatchedBytes: 0,
    modifiedBeforeReadBytes: 0,
    kdumpWrittenBytes: 0,
  };
}

/** Bytes of the crashed kernel's RAM the kdump kernel's CPU wrote. */
function kdumpWritten(p: PlatformRole): number {
  const ram = p.memory.regions().filter((r) => r.kind === 'ram' && r.owner === 'primary-kernel');
  const log = p.memory.writeLog();
  const iv: [number, number][] = [];
  for (let i = 0; i < log.count; i++) {
    const r = log.get(i);
    if (r.writer.kind !== 'kdump-cpu') continue;
    for (const x of ram) {
      const s = Math.max(r.address, x.base);
      const e = Math.min(r.address + r.length, x.base + x.size);
      if (s < e) iv.push([s, e]);
    }
  }
  iv.sort((a, b) => a[0] - b[0]);
  let n = 0;
  let end = -1;
  for (const [s, e] of iv) {
    if (s >= end) {
      n += e - s;
      end = e;
    } else if (e > end) {
      n += e - end;
      end = e;
    }
  }
  return n;
}

export function vmcoreResult(
  p: PlatformRole,
  kdump: KernelView | null,
  fleet: FleetView,
  c: Corruption,
  skipped?: { reason: string; target: string | null },
): VmcoreResult {
  const written = kdumpWritten(p);
  const v = kdump?.vmcore;
  if (!v || !v.attempted) {
    const reason = p.panic
      ? p.panic.beforeBoot
        ? `the kdump kernel never booted: ${p.panic.reason}`
        : `the kdump kernel panicked: ${p.panic.reason}`
      : (v?.reason ?? skipped?.reason ?? (!kdump ? 'the kdump kernel never ran' : 'the vmcore was not saved'));
    return { ...noSave(reason, v?.target ?? skipped?.target ?? undefined), kdumpWrittenBytes: written };
  }
  let before = 0;
  for (const iv of c.intervals) {
    if (p.crashAt === undefined || iv.time < p.crashAt) continue;
    for (let pg = iv.start - (iv.start % PAGE); pg < iv.end; pg += PAGE) {
      const at = v.readAt[String(pg)];
      if (at === undefined || iv.time >= at) continue;
      before += Math.min(iv.end, pg + PAGE) - Math.max(iv.start, pg);
    }
  }
  const mismatched = (fleet.disk?.mismatchedPages ?? 0) * PAGE;
  const saved = v.done && !p.panic;
  return {
    attempted: true,
    saved,
    ...(v.reason ? { reason: v.reason } : {}),
    ...(v.target ? { target: v.target } : {}),
    pages: v.pages,
    savedPages: v.savedPages,
    bytes: v.savedPages * PAGE,
    corruptedBytes: mismatched + before,
    mismatchedBytes: mismatched,
    modifiedBeforeReadBytes: before,
    kdumpWrittenBytes: written,
    ...(v.startedAt !== null ? { startedAt: v.startedAt } : {}),
    ...(v.finishedAt !== null ? { finishedAt: v.finishedAt } : {}),
  };
}
