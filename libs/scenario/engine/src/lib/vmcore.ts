// SPDX-License-Identifier: Apache-2.0
// makedumpfile in the kdump kernel: the crashed kernel's memory (its pages in use, as -d 31
// keeps them) is read by the CPU, copied into the dump target's bounce buffers in the carve-out
// and written out by NVMe WRITE commands, whose data the device fetches by DMA through the SMMU.
// The saved image is then compared, byte for byte, with what the CPU copied; and every byte of
// the dump a device corrupted after the panic, before the dump read it, is counted too.

import { NVME_OPC, NVME_SC, NvmeDriver, type Nvme } from '@kdump-twin/endpoint';
import type { Corruption } from './collect';
import type { DeviceState, World } from './world';

export interface VmcoreResult {
  readonly attempted: boolean;
  readonly saved: boolean;
  readonly reason?: string;
  readonly target?: string;
  /** Pages makedumpfile selected, and how many reached the disk intact or not. */
  readonly pages: number;
  readonly savedPages: number;
  readonly bytes: number;
  /** Bytes of the saved image that differ from the crashed kernel's memory for a reason other than DMA it had mapped. */
  readonly corruptedBytes: number;
  /** Of which: bytes the device read back differently from what the CPU copied (bounce buffer or save DMA). */
  readonly mismatchedBytes: number;
  /** Of which: bytes of crashed memory DMA overwrote after the panic, before the dump read them, where no live mapping allowed it (corruption or stale DMA). */
  readonly modifiedBeforeReadBytes: number;
  /** Bytes of the crashed kernel's memory the kdump kernel itself wrote (e.g. an L2 pointer into the live L1 table). */
  readonly kdumpWrittenBytes: number;
  readonly startedAt?: number;
  readonly finishedAt?: number;
}

const PAGE = 4096;

function crashedRam(world: World) {
  return world.memory.regions().filter((r) => r.kind === 'ram' && r.owner === 'primary-kernel');
}

/** The crashed kernel's pages in use (non-zero pages: every page anyone wrote), ascending. */
export function dumpablePages(world: World): number[] {
  const ram = crashedRam(world);
  const pages = new Set<number>();
  const log = world.memory.writeLog();
  for (let i = 0; i < log.count; i++) {
    const r = log.get(i);
    if (!ram.some((x) => r.address < x.base + x.size && r.address + r.length > x.base)) continue;
    for (let p = r.address - (r.address % PAGE); p < r.address + r.length; p += PAGE) pages.add(p);
  }
  return [...pages].filter((p) => ram.some((x) => p >= x.base && p < x.base + x.size)).sort((a, b) => a - b);
}

function kdumpWritten(world: World): number {
  const ram = crashedRam(world);
  const log = world.memory.writeLog();
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

export function noSave(reason: string, target?: string): VmcoreResult {
  return { attempted: false, saved: false, reason, target, pages: 0, savedPages: 0, bytes: 0, corruptedBytes: 0, mismatchedBytes: 0, modifiedBeforeReadBytes: 0, kdumpWrittenBytes: 0 };
}

/** Runs the save on `target` (an NVMe whose kdump driver is set up) until done, the deadline, or a panic. */
export async function saveVmcore(world: World, target: DeviceState, maxPages: number, deadline: number): Promise<{ finish(c: Corruption): VmcoreResult }> {
  const driver = target.kdumpDriver;
  if (!(driver instanceof NvmeDriver)) return { finish: () => noSave('the dump target is not an NVMe controller', target.spec.name) };
  const nvme = target.endpoint as Nvme;
  const pages = dumpablePages(world).slice(0, maxPages);
  const perCmd = Math.max(1, Math.floor(driver.buffersPerCommand / PAGE));
  const readAt = new Map<number, number>();
  const expected = new Map<number, Uint8Array>();
  const startedAt = world.clock.now();
  let next = 0;
  let inflight = 0;
  let savedPages = 0;
  let failed: string | undefined;
  let mismatched = 0;
  const host = world.host(world.kdump!);
  const offlinedRegion = (pa: number) => world.memory.regionAt(pa)?.name;

  const pump = (): void => {
    while (!failed && !world.panic && next < pages.length && driver.canSubmit) {
      const batch = pages.slice(next, next + perCmd);
      const data = new Uint8Array(batch.length * PAGE);
      for (const [j, p] of batch.entries()) {
        const region = offlinedRegion(p);
        const touch = region ? world.ras.touch(region) : undefined;
        if (touch && touch.kind === 'panic') {
          for (const l of touch.lines) world.kdump!.log.log('err', 'kernel', l);
          world.serrors.push({ at: world.clock.now(), reason: touch.reason });
          world.kdumpPanics(touch.reason);
          return;
        }
        readAt.set(p, world.clock.now());
        const bytes = host.cpuRead(p, PAGE);
        if (bytes) data.set(bytes, j * PAGE);
      }
      const lba = (next * PAGE) / nvme.cfg.lbaBytes;
      expected.set(lba, data);
      const count = batch.length;
      next += count;
      inflight++;
      const ok = driver.submit(NVME_OPC.WRITE, lba, data, data.length, (sc) => {
        inflight--;
        if (sc !== NVME_SC.SUCCESS) failed = `NVMe WRITE of LBA ${lba} completed with status 0x${sc.toString(16)}`;
        else {
          savedPages += count;
          const got = nvme.disk.get(lba);
          const want = expected.get(lba)!;
          for (let b = 0; b < want.length; b++) if (!got || got[b] !== want[b]) mismatched++;
        }
        pump();
      });
      if (!ok) {
        next -= count;
        inflight--;
        break;
      }
    }
  };
  pump();
  await world.advanceUntil(() => failed !== undefined || (next >= pages.length && inflight === 0) || nvme.halted !== undefined, deadline);
  const finishedAt = world.clock.now();
  return {
    finish: (c: Corruption): VmcoreResult => {
      let before = 0;
      for (const iv of c.intervals) {
        if (world.crashAt === undefined || iv.time < world.crashAt) continue;
        for (let p = iv.start - (iv.start % PAGE); p < iv.end; p += PAGE) {
          const at = readAt.get(p);
          if (at === undefined || iv.time >= at) continue;
          before += Math.min(iv.end, p + PAGE) - Math.max(iv.start, p);
        }
      }
      const done = next >= pages.length && inflight === 0 && !failed;
      const reason = world.panic
        ? `the kdump kernel panicked: ${world.panic.reason}`
        : failed ?? (nvme.halted ? `${target.spec.name} stopped: ${nvme.halted}` : !done ? `timed out after ${savedPages} of ${pages.length} pages` : undefined);
      return {
        attempted: true,
        saved: done && !world.panic,
        reason,
        target: target.spec.name,
        pages: pages.length,
        savedPages,
        bytes: savedPages * PAGE,
        corruptedBytes: mismatched + before,
        mismatchedBytes: mismatched,
        modifiedBeforeReadBytes: before,
        kdumpWrittenBytes: kdumpWritten(world),
        startedAt,
        finishedAt,
      };
    },
  };
}
