// SPDX-License-Identifier: Apache-2.0
// Direct memory for the kernels of a run across services (SystemC TLM-2.0's DMI, with its
// invalidation): a kernel service keeps the pages it has loaded and serves later loads of them
// itself, so a loop over a descriptor ring or a page-table walk stops crossing NATS.
//
// The rules (docs/services.md, "Direct memory for kernels"):
// - The platform grants a page when a kernel's load misses and asks for it, and only a page that
//   a load of that kernel reads plainly now: the whole page accessible memory, in no region
//   firmware offlined, the kernel's CPUs running.
// - Every answer the platform gives a kernel (a sync op's reply, a call into it) carries, for the
//   pages that kernel holds, the bytes written since its previous answer by anyone but its own
//   CPUs (devices, SMMUs, the other kernel, fault injection) as they are now (the written ranges,
//   or the whole page past 1 KiB of them), every page its own store was refused on, and a drop
//   for every page that stopped being plain (its region offlined, the CPUs halted: the next load
//   goes to the platform, which refuses or panics).
// - The kernel writes its own stores through into what it holds, and takes in an answer's pages
//   before it uses the answer.
// Exact because one task runs at a time: between two answers to a kernel only that kernel's own
// task runs, so nothing else can write memory, offline a region or halt a CPU in between.

import { DMI_PAGE, imagesOf, pagesOf, plainPage, touchedSince, type DmiMode, type PageImage } from '@kdump-twin/platform';
import type { KernelName } from './links';
import type { PlatformRole } from './platform-role';

/** The platform's side: which pages each kernel holds, and what each answer must carry. */
export class PageGrants {
  private readonly held: Record<KernelName, Set<number>> = { primary: new Set(), kdump: new Set() };
  /** Write-log position of each kernel's previous answer. */
  private readonly cursor: Record<KernelName, number>;
  /** Pages a kernel's own store was refused on (the backing bound): its copy has bytes the platform does not. */
  private readonly refusedOn: Record<KernelName, Set<number>> = { primary: new Set(), kdump: new Set() };
  /** Offlined regions and halted CPUs as of each kernel's previous answer. */
  private readonly seen: Record<KernelName, { offlined: number; halted: boolean }> = {
    primary: { offlined: 0, halted: false },
    kdump: { offlined: 0, halted: false },
  };

  constructor(
    private readonly p: PlatformRole,
    private readonly mode: DmiMode = 'on',
  ) {
    const n = p.memory.writeLog().count;
    this.cursor = { primary: n, kdump: n };
  }

  /** Pages `kernel` holds now. */
  holding(kernel: KernelName): number {
    return this.held[kernel].size;
  }

  /** Whether a load of `kernel` anywhere in page `n` reads plain memory now. */
  private plain(kernel: KernelName, n: number): boolean {
    return this.p.cpuHalted(kernel) === undefined && plainPage(this.p.memory, n * DMI_PAGE, (r) => this.p.ras.touch(r));
  }

  private image(n: number): PageImage {
    return imagesOf(this.p.memory, n, null)[0]!;
  }

  /**
   * The bytes a load of `kernel` at [pa, pa+length) (within one page) would read now, if it is
   * plain and so has no other effect; undefined otherwise (the load must be made as such). For
   * read-ahead of loads the running task announced; `off` reads nothing ahead.
   */
  readPlain(kernel: KernelName, pa: number, length: number): Uint8Array | undefined {
    if (this.mode === 'off' || !Number.isSafeInteger(pa) || pa < 0 || !Number.isInteger(length) || length <= 0 || length > DMI_PAGE) return undefined;
    const [first, last] = pagesOf(pa, length);
    for (let n = first; n <= last; n++) if (!this.plain(kernel, n)) return undefined;
    const r = this.p.memory.read(pa, length);
    return r.ok ? r.data : undefined;
  }

  /** A load of `kernel` at [pa, pa+length) missed and asked: the pages under it it may hold, with their bytes. */
  grant(kernel: KernelName, pa: number, length: number): PageImage[] {
    if (this.mode === 'off' || !Number.isInteger(pa) || pa < 0 || !Number.isInteger(length) || length <= 0) return [];
    const held = this.held[kernel];
    const [first, last] = pagesOf(pa, length);
    const out: PageImage[] = [];
    for (let n = first; n <= last; n++) {
      if (held.has(n) || !this.plain(kernel, n)) continue;
      held.add(n);
      out.push(this.image(n));
    }
    return out;
  }

  /** `kernel`'s store at [pa, pa+length) was refused by the platform: its next answer carries those pages as they are. */
  refused(kernel: KernelName, pa: number, length: number): void {
    const [first, last] = pagesOf(pa, length);
    for (let n = first; n <= last; n++) if (this.held[kernel].has(n)) this.refusedOn[kernel].add(n);
  }

  /** What `kernel`'s answer now must carry (see the rules above); empty when nothing it holds changed. */
  changes(kernel: KernelName): PageImage[] {
    const held = this.held[kernel];
    // Every answer comes here: a kernel holding nothing (one that never loads, or halted) has
    // nothing to hear of (its refused stores and drops are of held pages only).
    if (held.size === 0) {
      this.cursor[kernel] = this.p.memory.writeLog().count;
      return [];
    }
    const me = this.p.cpuWriter(kernel);
    const touched = new Map<number, [number, number][] | null>();
    this.cursor[kernel] = touchedSince(this.p.memory, this.cursor[kernel], held, touched, (writer) => writer !== me);
    if (this.mode === 'no-invalidate') touched.clear();
    for (const n of this.refusedOn[kernel]) if (held.has(n)) touched.set(n, null);
    this.refusedOn[kernel].clear();
    const seen = this.seen[kernel];
    const halted = this.p.cpuHalted(kernel) !== undefined;
    const offlined = this.p.ras.offlined.size;
    if (halted !== seen.halted || offlined !== seen.offlined) {
      seen.halted = halted;
      seen.offlined = offlined;
      for (const n of held) if (!this.plain(kernel, n)) touched.set(n, null);
    }
    if (touched.size === 0) return [];
    const out: PageImage[] = [];
    for (const n of [...touched.keys()].sort((a, b) => a - b)) {
      if (!this.plain(kernel, n)) {
        held.delete(n);
        out.push({ pa: n * DMI_PAGE });
        continue;
      }
      out.push(...imagesOf(this.p.memory, n, touched.get(n)!));
    }
    return out;
  }
}

export { DMI_PAGE, PageCache, type DmiMode, type PageImage } from '@kdump-twin/platform';
