// SPDX-License-Identifier: Apache-2.0
// Pages held by another party under direct memory (SystemC TLM-2.0 DMI with invalidation):
// what a kernel service or the device fleet keeps of platform memory, and how the platform
// finds, from its write log, what changed in the pages someone holds. The rules of who may hold
// what are each user's own (kernel-dmi.ts for the kernels, device-dmi.ts for the fleet).

import type { PhysicalMemory } from './memory';

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

export function pagesOf(pa: number, length: number): [number, number] {
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

/**
 * Whether every access in the 4 KiB page at `pa` is plain memory now: accessible (no hole, MMIO
 * or address beyond the PA size) and in no region `spoiled` names (a RAS action such as firmware
 * offlining it). What may be held; the holder's own conditions (its CPUs running) come on top.
 */
export function plainPage(memory: PhysicalMemory, pa: number, spoiled: (region: string) => unknown): boolean {
  if (memory.check(pa, DMI_PAGE)) return false;
  for (let at = pa; at < pa + DMI_PAGE;) {
    const r = memory.regionAt(at);
    if (!r || spoiled(r.name)) return false;
    at = r.base + r.size;
  }
  return true;
}

/**
 * Walks the write log from `from` and notes, per page in `held`, the byte ranges written by the
 * writers `counts` accepts (null once the whole page must go); returns the log's new end.
 */
export function touchedSince(
  memory: PhysicalMemory,
  from: number,
  held: ReadonlySet<number>,
  touched: Map<number, [number, number][] | null>,
  counts: (writer: number) => boolean,
): number {
  return memory.writesSince(from, (writer, address, length) => {
    if (!counts(writer)) return;
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
}

/** Page `n` as it is now: the written ranges (a descriptor, not its ring's page), or the whole page for null or past WHOLE_PAGE_ABOVE bytes. */
export function imagesOf(memory: PhysicalMemory, n: number, ranges: [number, number][] | null): PageImage[] {
  const merged = coalesce(ranges);
  if (!merged) {
    const r = memory.read(n * DMI_PAGE, DMI_PAGE);
    // The caller checked the page is plain memory a moment ago: the read cannot fault.
    return [{ pa: n * DMI_PAGE, data: r.ok ? r.data : new Uint8Array(DMI_PAGE) }];
  }
  return merged.map(([from, to]) => {
    const r = memory.read(n * DMI_PAGE + from, to - from);
    return { pa: n * DMI_PAGE, offset: from, data: r.ok ? r.data : new Uint8Array(to - from) };
  });
}

/** The holder's side: the pages it holds, bounded; loads inside them never leave its process. */
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
