// SPDX-License-Identifier: Apache-2.0
// The SMMU's caches (IHI0070 16.2 "Caching"; domain notes 7.2): configuration caches for
// L1STDs, STEs, L1CDs and CDs, and a TLB tagged by StreamWorld, VMID and ASID. Entries stay
// until the architected invalidation completes at a CMD_SYNC, so a crashed kernel's
// configuration can outlive it exactly as the hardware allows. Capacity is bounded with
// deterministic replacement (FIFO by insertion, or LRU).

import type { Replacement } from './config';
import { KeyTable } from './key-table';
import { POW2 } from './pow2';

export interface CacheCounters {
  hits: number;
  misses: number;
  inserts: number;
  evictions: number;
  invalidations: number;
}

const counters = (): CacheCounters => ({ hits: 0, misses: 0, inserts: 0, evictions: 0, invalidations: 0 });

/** A bounded map with FIFO or LRU replacement, built on Map insertion order (deterministic). */
export class BoundedCache<K, V> {
  private readonly map = new Map<K, V>();
  readonly counters: CacheCounters = counters();
  private readonly lru: boolean;
  /** Bumped on every insert, delete and clear: lets a caller keep a one-entry memo safely. */
  version = 0;

  constructor(
    readonly name: string,
    private capacity: number,
    replacement: Replacement,
    /** Called for every entry that leaves the cache (eviction, invalidation, replacement). */
    private readonly onRemove?: (k: K, v: V) => void,
  ) {
    this.lru = replacement === 'lru';
  }

  get size(): number {
    return this.map.size;
  }

  lookup(k: K): V | undefined {
    const v = this.map.get(k);
    if (v === undefined) {
      this.counters.misses++;
      return undefined;
    }
    this.counters.hits++;
    if (this.lru) {
      this.map.delete(k);
      this.map.set(k, v);
    }
    return v;
  }

  /** Counts a hit found with peek() and refreshes its recency (the model's fast path). */
  hit(k: K, v: V): void {
    this.counters.hits++;
    if (this.lru) {
      this.map.delete(k);
      this.map.set(k, v);
    }
  }

  /** Reads without touching counters or recency (inspection, snapshots). */
  peek(k: K): V | undefined {
    return this.map.get(k);
  }

  insert(k: K, v: V): void {
    this.version++;
    const old = this.map.get(k);
    if (old !== undefined) {
      this.map.delete(k);
      if (old !== v) this.onRemove?.(k, old);
    }
    this.map.set(k, v);
    this.counters.inserts++;
    while (this.map.size > this.capacity) {
      const [first, victim] = this.map.entries().next().value as [K, V];
      this.map.delete(first);
      this.onRemove?.(first, victim);
      this.counters.evictions++;
    }
  }

  delete(k: K): boolean {
    this.version++;
    const v = this.map.get(k);
    const had = this.map.delete(k);
    if (had) {
      this.counters.invalidations++;
      this.onRemove?.(k, v!);
    }
    return had;
  }

  deleteWhere(pred: (k: K, v: V) => boolean): number {
    this.version++;
    let n = 0;
    for (const [k, v] of this.map) {
      if (pred(k, v)) {
        this.map.delete(k);
        this.onRemove?.(k, v);
        n++;
      }
    }
    this.counters.invalidations += n;
    return n;
  }

  clear(): number {
    this.version++;
    const n = this.map.size;
    if (this.onRemove) for (const [k, v] of this.map) this.onRemove(k, v);
    this.map.clear();
    this.counters.invalidations += n;
    return n;
  }

  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }
}

/** Translation regime a TLB entry belongs to (IHI0070 3.3.4 StreamWorld). */
export type StreamWorld = 'NS-EL1' | 'NS-EL2' | 'NS-EL2-E2H';
/** What the entry translates: stage 1 only, stage 2 only, or a combined nested S1+S2 entry. */
export type TlbStage = 's1' | 's2' | 's12';

/** Access permissions of a cached translation, as bits: privileged/unprivileged x R/W/X. */
export const PERM = { PR: 1, PW: 2, PX: 4, UR: 8, UW: 16, UX: 32 } as const;
/** Every PERM bit: the stage-2 permissions of an entry no stage 2 limits (and vice versa). */
export const PERM_ALL = 63;

export interface TlbEntry {
  /** Input address of the first byte the entry covers (VA or IPA), aligned to 2^shift. */
  readonly base: number;
  /** log2 of the bytes the entry covers (page or block size). */
  readonly shift: number;
  /** Output address of `base`. */
  readonly out: number;
  /** PERM bits after hierarchical and stage-2 limits: s1Perms & s2Perms (the hit path's check). */
  readonly perms: number;
  /**
   * The two stages' permissions kept apart, so a cached entry that denies an access reports the
   * stage that denied it (a stage-2 permission fault is S2=1 with the IPA, under STE.S2R/S2S).
   * PERM_ALL for a stage that does not translate.
   */
  readonly s1Perms: number;
  readonly s2Perms: number;
  /** Nested (s12) entries: the IPA of `base` (stage-1 output), for stage-2 fault records; else -1. */
  readonly ipa: number;
  /** A writable-on-demand page (DBM with HD): a write re-walks to update the descriptor. */
  readonly dirtyOnWrite: boolean;
  readonly level: number;
  /** Physical address of the leaf descriptor (stage 1, or stage 2 for S2-only entries). */
  readonly leafAddress: number;
  /** Memory attributes: MAIR byte (stage 1) or MemAttr (stage 2). */
  readonly attr: number;
}

/** An entry's place in the TLB: its context, its key there and its place in replacement order. */
class TlbNode {
  prev: TlbNode | undefined = undefined;
  next: TlbNode | undefined = undefined;
  constructor(
    readonly e: TlbEntry,
    readonly ctx: TlbContext,
    /** Math.floor(e.base / 2^e.shift): the entry's key in its context. */
    readonly key: number,
  ) {}
}

/** One tagged set of TLB entries: a (StreamWorld, VMID, ASID or global, stage) context. */
export class TlbContext {
  /** The entries by key (Math.floor(base / 2^shift)), each with its place in the TLB's replacement order. */
  readonly entries = new KeyTable<TlbNode>();
  /** Distinct entry sizes present, smallest first, so a lookup tries each once. */
  shifts: number[] = [];
  /** 2^shift for each of `shifts`. */
  private divs: number[] = [];
  constructor(
    readonly key: string,
    readonly world: StreamWorld,
    readonly vmid: number,
    /** -1 for the global (nG=0) context of a world and VMID. */
    readonly asid: number,
    readonly stage: TlbStage,
  ) {}

  find(address: number): TlbEntry | undefined {
    const d = this.divs;
    if (d.length === 1) return this.entries.get(Math.floor(address / d[0]!))?.e;
    for (let i = 0; i < d.length; i++) {
      const n = this.entries.get(Math.floor(address / d[i]!));
      if (n !== undefined) return n.e;
    }
    return undefined;
  }

  addShift(shift: number): void {
    const s = this.shifts;
    if (s.length === 1 ? s[0] === shift : s.includes(shift)) return;
    this.shifts = [...this.shifts, shift].sort((a, b) => a - b);
    this.divs = this.shifts.map((x) => 2 ** x);
  }
}

export interface TlbEntrySnapshot extends TlbEntry {
  readonly world: StreamWorld;
  readonly vmid: number;
  readonly asid: number;
  readonly stage: TlbStage;
}

/** The TLB: contexts by tag, a global capacity bound and replacement order across contexts. */
export class Tlb {
  private readonly contexts = new Map<string, TlbContext>();
  /**
   * Replacement order across contexts, oldest first: a doubly-linked list through the nodes
   * (FIFO: insertion order; LRU: a hit moves its node to the end). A Map keyed by entry gave the
   * same order, but paid an iterator and an object-keyed rehash for every eviction.
   */
  private head: TlbNode | undefined = undefined;
  private tail: TlbNode | undefined = undefined;
  private count = 0;
  readonly counters: CacheCounters = counters();
  private readonly lru: boolean;
  /** Bumped whenever an entry comes or goes (not on recency changes): what a lookup can find changed. */
  version = 0;

  constructor(
    private readonly capacity: number,
    replacement: Replacement,
  ) {
    this.lru = replacement === 'lru';
  }

  get size(): number {
    return this.count;
  }

  context(world: StreamWorld, vmid: number, asid: number, stage: TlbStage): TlbContext {
    const key = `${world}/${vmid}/${asid}/${stage}`;
    let c = this.contexts.get(key);
    if (!c) {
      c = new TlbContext(key, world, vmid, asid, stage);
      this.contexts.set(key, c);
    }
    return c;
  }

  private append(n: TlbNode): void {
    n.prev = this.tail;
    n.next = undefined;
    if (this.tail) this.tail.next = n;
    else this.head = n;
    this.tail = n;
    this.count++;
  }

  private unlink(n: TlbNode): void {
    if (n.prev) n.prev.next = n.next;
    else this.head = n.next;
    if (n.next) n.next.prev = n.prev;
    else this.tail = n.prev;
    n.prev = n.next = undefined;
    this.count--;
  }

  /** LRU: `e` (held by `owner`) becomes the most recently used. */
  private touch(owner: TlbContext, e: TlbEntry): void {
    const n = owner.entries.get(Math.floor(e.base / POW2[e.shift]!))!;
    if (n === this.tail) return;
    this.unlink(n);
    this.append(n);
  }

  /** Looks `address` up in the ASID context and then its global context. */
  lookup(ctx: TlbContext, global: TlbContext | undefined, address: number): TlbEntry | undefined {
    let e = ctx.find(address);
    let owner = ctx;
    if (e === undefined && global !== undefined) {
      e = global.find(address);
      owner = global;
    }
    if (e === undefined) {
      this.counters.misses++;
      return undefined;
    }
    this.counters.hits++;
    if (this.lru) this.touch(owner, e);
    return e;
  }

  /** Counts a hit found with TlbContext.find() and refreshes its recency (the fast path). */
  hit(owner: TlbContext, e: TlbEntry): void {
    this.counters.hits++;
    if (this.lru) this.touch(owner, e);
  }

  insert(ctx: TlbContext, e: TlbEntry): void {
    const key = Math.floor(e.base / POW2[e.shift]!);
    const old = ctx.entries.get(key);
    if (old) this.unlink(old);
    const n = new TlbNode(e, ctx, key);
    ctx.entries.set(key, n);
    ctx.addShift(e.shift);
    this.append(n);
    this.counters.inserts++;
    this.version++;
    while (this.count > this.capacity) {
      const victim = this.head!;
      this.unlink(victim);
      victim.ctx.entries.delete(victim.key);
      this.counters.evictions++;
    }
  }

  private drop(ctx: TlbContext, key: number, n: TlbNode): void {
    this.version++;
    ctx.entries.delete(key);
    this.unlink(n);
    this.counters.invalidations++;
  }

  /** Drops every entry of every context `match` selects. Returns how many went. */
  invalidateContexts(match: (c: TlbContext) => boolean): number {
    let n = 0;
    for (const c of this.contexts.values()) {
      if (!match(c)) continue;
      for (const [k, e] of c.entries.entries()) {
        this.drop(c, k, e);
        n++;
      }
    }
    return n;
  }

  /**
   * Drops entries of the selected contexts that overlap [address, address + bytes). `leafOnly`
   * has no effect here: the TLB holds leaf translations only (walk caches are not modelled),
   * so a leaf invalidation removes exactly what a non-leaf one would.
   */
  invalidateRange(match: (c: TlbContext) => boolean, address: number, bytes: number): number {
    let n = 0;
    const end = address + bytes;
    for (const c of this.contexts.values()) {
      if (!match(c) || c.entries.size === 0) continue;
      const pagesSpanned = bytes / 2 ** (c.shifts[0] ?? 12);
      if (pagesSpanned <= c.entries.size) {
        for (const sh of c.shifts) {
          const size = 2 ** sh;
          for (let k = Math.floor(address / size); k * size < end; k++) {
            const e = c.entries.get(k);
            if (e) {
              this.drop(c, k, e);
              n++;
            }
          }
        }
      } else {
        for (const [k, x] of c.entries.entries()) {
          if (x.e.base < end && x.e.base + 2 ** x.e.shift > address) {
            this.drop(c, k, x);
            n++;
          }
        }
      }
    }
    return n;
  }

  snapshot(): TlbEntrySnapshot[] {
    const out: TlbEntrySnapshot[] = [];
    for (let n = this.head; n !== undefined; n = n.next) out.push({ ...n.e, world: n.ctx.world, vmid: n.ctx.vmid, asid: n.ctx.asid, stage: n.ctx.stage });
    return out;
  }

  restore(entries: readonly TlbEntrySnapshot[]): void {
    for (const s of entries) {
      const { world, vmid, asid, stage, ...e } = s;
      this.insert(this.context(world, vmid, asid, stage), e);
    }
    this.counters.inserts -= entries.length;
  }
}
