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

import type { KernelName } from './links';
import type { PlatformRole } from './platform-role';

export const DMI_PAGE = 4096;

/**
 * A page a kernel holds from now on, with its bytes; with `offset`, new bytes of a page it holds
 * at that offset; without bytes, a page it must drop.
 */
export interface PageImage {
  /** Page-aligned physical address. */
  readonly pa: number;
  readonly data?: Uint8Array;
  readonly offset?: number;
}

/** Written bytes of one page above this are sent as the whole page. */
const WHOLE_PAGE_ABOVE = 1024;

/** How the platform runs DMI: `on`; `off` (no grants: every load crosses); `no-invalidate`, which breaks it, for the tests that prove it matters. */
export type DmiMode = 'on' | 'off' | 'no-invalidate';

function pagesOf(pa: number, length: number): [number, number] {
  return [Math.floor(pa / DMI_PAGE), Math.floor((pa + Math.max(1, length) - 1) / DMI_PAGE)];
}

/** Sorted, merged byte ranges; null (send the whole page) for none given or more than WHOLE_PAGE_ABOVE bytes. */
function coalesce(ranges: [number, number][] | null): [number, number][] | null {
  if (!ranges) return null;
  ranges.sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  let bytes = 0;
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  for (const [a, b] of out) bytes += b - a;
  return bytes > WHOLE_PAGE_ABOVE ? null : out;
}

/** The platform's side: which pages each kernel holds, and what each answer must carry. */
export class PageGrants {
  private readonly held: Record<KernelName, Set<number>> = { primary: new Set(), kdump: new Set() };
  /** Write-log position of each kernel's previous answer. */
  private readonly cursor: Record<KernelName, number>;
  /** Pages a kernel's own store was refused on (the backing bound): its copy has bytes the platform does not. */
  private readonly refusedOn: Record<KernelName, Set<number>> = { primary: new Set(), kdump: new Set() };
  /** Offlined regions and halted CPUs as of each kernel's previous answer. */
  private readonly seen: Record<KernelName, { offlined: number; halted: boolean }> = { primary: { offlined: 0, halted: false }, kdump: { offlined: 0, halted: false } };

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
    if (this.p.cpuHalted(kernel) !== undefined) return false;
    const pa = n * DMI_PAGE;
    const mem = this.p.memory;
    if (mem.check(pa, DMI_PAGE)) return false;
    for (let at = pa; at < pa + DMI_PAGE; ) {
      const r = mem.regionAt(at);
      if (!r || this.p.ras.touch(r.name)) return false;
      at = r.base + r.size;
    }
    return true;
  }

  private image(n: number): PageImage {
    const r = this.p.memory.read(n * DMI_PAGE, DMI_PAGE);
    // plain() held a moment ago: the read cannot fault.
    return { pa: n * DMI_PAGE, data: r.ok ? r.data : new Uint8Array(DMI_PAGE) };
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
    // Per page touched: the byte ranges others wrote, or null for the whole page.
    const touched = new Map<number, [number, number][] | null>();
    this.cursor[kernel] = this.p.memory.writesSince(this.cursor[kernel], (writer, address, length) => {
      if (writer === me) return;
      const [first, last] = pagesOf(address, length);
      for (let n = first; n <= last; n++) {
        if (!held.has(n)) continue;
        const base = n * DMI_PAGE;
        const ranges = touched.get(n);
        if (ranges === null) continue;
        const r: [number, number] = [Math.max(address, base) - base, Math.min(address + length, base + DMI_PAGE) - base];
        if (ranges) ranges.push(r);
        else touched.set(n, [r]);
      }
    });
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
      const ranges = coalesce(touched.get(n)!);
      if (!ranges) {
        out.push(this.image(n));
        continue;
      }
      // Only the bytes written, as they are now (a ring's descriptor, not its whole page).
      for (const [from, to] of ranges) {
        const r = this.p.memory.read(n * DMI_PAGE + from, to - from);
        out.push({ pa: n * DMI_PAGE, offset: from, data: r.ok ? r.data : new Uint8Array(to - from) });
      }
    }
    return out;
  }
}

/** The kernel's side: the pages it holds, bounded; loads inside them never leave the process. */
export class PageCache {
  private readonly pages = new Map<number, Uint8Array>();
  /** Loads served here, and loads that had to go to the platform. */
  hits = 0;
  misses = 0;

  constructor(readonly limit: number) {}

  get size(): number {
    return this.pages.size;
  }

  /** Whether a miss may ask for the pages under it (the cache has room). */
  get wantsMore(): boolean {
    return this.pages.size < this.limit;
  }

  /** The bytes of [pa, pa+length) when every page under it is held; undefined otherwise. */
  read(pa: number, length: number): Uint8Array | undefined {
    if (this.pages.size === 0 || !Number.isInteger(pa) || pa < 0 || !Number.isInteger(length) || length <= 0) return this.miss();
    const [first, last] = pagesOf(pa, length);
    const off = pa - first * DMI_PAGE;
    if (first === last) {
      const p = this.pages.get(first);
      if (!p) return this.miss();
      this.hits++;
      return p.slice(off, off + length);
    }
    for (let n = first; n <= last; n++) if (!this.pages.has(n)) return this.miss();
    const out = new Uint8Array(length);
    let done = 0;
    for (let n = first; n <= last; n++) {
      const p = this.pages.get(n)!;
      const from = n === first ? off : 0;
      const k = Math.min(DMI_PAGE - from, length - done);
      out.set(p.subarray(from, from + k), done);
      done += k;
    }
    this.hits++;
    return out;
  }

  private miss(): undefined {
    this.misses++;
    return undefined;
  }

  /** The kernel's own store: written through into the pages it holds. */
  write(pa: number, data: Uint8Array): void {
    if (this.pages.size === 0 || data.length === 0) return;
    const [first, last] = pagesOf(pa, data.length);
    let done = 0;
    for (let n = first; n <= last; n++) {
      const from = n === first ? pa - first * DMI_PAGE : 0;
      const k = Math.min(DMI_PAGE - from, data.length - done);
      this.pages.get(n)?.set(data.subarray(done, done + k), from);
      done += k;
    }
  }

  /** An answer's pages: held with their bytes from now on, or dropped. */
  take(images: readonly PageImage[]): void {
    for (const i of images) {
      const n = i.pa / DMI_PAGE;
      if (!i.data) this.pages.delete(n);
      else if (i.offset === undefined) this.pages.set(n, i.data.slice());
      else this.pages.get(n)?.set(i.data, i.offset);
    }
  }

  clear(): void {
    this.pages.clear();
  }
}
