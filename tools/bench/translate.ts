// SPDX-License-Identifier: Apache-2.0
// Translation throughput of the SMMU twin, each path next to a floor measured in the same run:
// - hit: translations served by the TLB (STE, CD and TLB entry cached) vs a bare Map lookup on
//   the same page keys;
// - walk: full 4-level 4K stage-1 walks (TLB of one entry, so every access misses) vs raw
//   memory reads of the same four descriptors per translation.
// Wall-clock timing is fine here: this is a tool, not a model.
import { fixture, bringUp, cd, ste, PageTables } from '@kdump-twin/smmu-model/testing';
import type { Transaction } from '@kdump-twin/smmu-model';

export interface Measured {
  opsPerSec: number;
  floorOpsPerSec: number;
  ratio: number;
}

const PAGES = 1024;

function setup(tlbEntries: number) {
  const f = fixture({ tlbEntries, configCacheEntries: 64 });
  const q = bringUp(f);
  const pt = new PageTables(f, 1, '4k', 48);
  const vas: number[] = [];
  const leaves: number[][] = [];
  for (let i = 0; i < PAGES; i++) {
    // Spread over distinct L0/L1/L2 tables every so often so walks touch different descriptors.
    const va = 0x10_0000_0000 * (i % 4) + 0x4000_0000 * (i % 3) + 0x20_0000 * (i % 5) + 0x1000 * i;
    vas.push(va);
    pt.map(va, 0x8800_0000 + 0x1000 * (i % 4096));
  }
  // The descriptor addresses each walk reads (for the floor), computed from the tables.
  for (const va of vas) {
    const path: number[] = [];
    let table = pt.root;
    for (let level = 0; level <= 3; level++) {
      const idx = Math.floor(va / 2 ** (12 + 9 * (3 - level))) % 512;
      const at = table + idx * 8;
      path.push(at);
      table = Number(f.read64(at) & 0x0000_ffff_ffff_f000n);
    }
    leaves.push(path);
  }
  const cdAddr = f.alloc(64, 64);
  f.writeWords(cdAddr, cd(pt, 1));
  f.writeWords(q.strtab + 64 * 7, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(cdAddr), S1STALLD: 1 }));
  const txns: Transaction[] = vas.map((va) => ({ sid: 7, address: va + 0x40, size: 64, write: false }));
  return { f, txns, leaves, vas };
}

/** Ops per second of one round of `body`. */
function once(iterations: number, body: (n: number) => void): number {
  const t0 = process.hrtime.bigint();
  body(iterations);
  return (iterations / Number(process.hrtime.bigint() - t0)) * 1e9;
}

/**
 * The path and its floor in interleaved rounds (path, floor, path, floor, ...), so both see the
 * machine in the same state, after a warm-up round of each: the median rate of each over
 * ROUNDS rounds. This machine's speed drifts by tens of percent within a minute; separate
 * blocks of rounds put the drift into the ratio.
 */
function paired(iterations: number, path: (n: number) => void, floor: (n: number) => void): { path: number; floor: number } {
  once(iterations, path);
  once(iterations, floor);
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    a.push(once(iterations, path));
    b.push(once(iterations, floor));
  }
  const median = (x: number[]) => x.sort((p, q) => p - q)[Math.floor(x.length / 2)]!;
  return { path: median(a), floor: median(b) };
}

const ROUNDS = 9;

export function benchTranslate(scale = 1): { hit: Measured; walk: Measured } {
  let sink = 0;
  // Hit path.
  const h = setup(PAGES * 2);
  for (const t of h.txns) if (h.f.smmu.translate(t).outcome !== 'translated') throw new Error('bench setup: translation failed');
  const keys = h.vas.map((va) => Math.floor(va / 4096));
  const map = new Map<number, { out: number }>(keys.map((k, i) => [k, { out: i }]));
  const hitN = Math.round(2_000_000 * scale);
  const hit = paired(
    hitN,
    (n) => {
      for (let i = 0; i < n; i++) sink += h.f.smmu.translate(h.txns[i & (PAGES - 1)]!).pa;
    },
    (n) => {
      for (let i = 0; i < n; i++) sink += map.get(keys[i & (PAGES - 1)]!)!.out;
    },
  );
  if (!h.f.smmu.translate(h.txns[0]!).tlbHit) throw new Error('bench: hit path did not hit');
  // Walk path: a one-entry TLB, alternating pages, so every translation walks all four levels.
  const w = setup(1);
  const walkN = Math.round(200_000 * scale);
  const out = { lo: 0, hi: 0 };
  const mem = w.f.memory;
  const walk = paired(
    walkN,
    (n) => {
      for (let i = 0; i < n; i++) sink += w.f.smmu.translate(w.txns[i & (PAGES - 1)]!).pa;
    },
    (n) => {
      for (let i = 0; i < n; i++) {
        const p = w.leaves[i & (PAGES - 1)]!;
        for (let l = 0; l < 4; l++) {
          mem.readDword(p[l]!, out);
          sink += out.lo;
        }
      }
    },
  );
  if (w.f.smmu.translate(w.txns[3]!).tlbHit) throw new Error('bench: walk path hit the TLB');
  if (sink === 42) console.log('');
  const m = (ops: number, floor: number): Measured => ({
    opsPerSec: Math.round(ops),
    floorOpsPerSec: Math.round(floor),
    ratio: Number((ops / floor).toFixed(3)),
  });
  return { hit: m(hit.path, hit.floor), walk: m(walk.path, walk.floor) };
}
