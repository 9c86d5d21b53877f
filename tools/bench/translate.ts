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

function rate(iterations: number, body: (n: number) => void): number {
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    body(iterations);
    const ns = Number(process.hrtime.bigint() - t0);
    runs.push((iterations / ns) * 1e9);
  }
  runs.sort((a, b) => a - b);
  return runs[2]!; // median of 5
}

export function benchTranslate(scale = 1): { hit: Measured; walk: Measured } {
  let sink = 0;
  // Hit path.
  const h = setup(PAGES * 2);
  for (const t of h.txns) if (h.f.smmu.translate(t).outcome !== 'translated') throw new Error('bench setup: translation failed');
  const keys = h.vas.map((va) => Math.floor(va / 4096));
  const map = new Map<number, { out: number }>(keys.map((k, i) => [k, { out: i }]));
  const hitN = Math.round(2_000_000 * scale);
  const hitOps = rate(hitN, (n) => {
    for (let i = 0; i < n; i++) sink += h.f.smmu.translate(h.txns[i & (PAGES - 1)]!).pa;
  });
  if (!h.f.smmu.translate(h.txns[0]!).tlbHit) throw new Error('bench: hit path did not hit');
  const hitFloor = rate(hitN, (n) => {
    for (let i = 0; i < n; i++) sink += map.get(keys[i & (PAGES - 1)]!)!.out;
  });
  // Walk path: a one-entry TLB, alternating pages, so every translation walks all four levels.
  const w = setup(1);
  const walkN = Math.round(200_000 * scale);
  const walkOps = rate(walkN, (n) => {
    for (let i = 0; i < n; i++) sink += w.f.smmu.translate(w.txns[i & (PAGES - 1)]!).pa;
  });
  if (w.f.smmu.translate(w.txns[3]!).tlbHit) throw new Error('bench: walk path hit the TLB');
  const out = { lo: 0, hi: 0 };
  const mem = w.f.memory;
  const walkFloor = rate(walkN, (n) => {
    for (let i = 0; i < n; i++) {
      const p = w.leaves[i & (PAGES - 1)]!;
      for (let l = 0; l < 4; l++) {
        mem.readDword(p[l]!, out);
        sink += out.lo;
      }
    }
  });
  if (sink === 42) console.log('');
  const m = (ops: number, floor: number): Measured => ({ opsPerSec: Math.round(ops), floorOpsPerSec: Math.round(floor), ratio: Number((ops / floor).toFixed(3)) });
  return { hit: m(hitOps, hitFloor), walk: m(walkOps, walkFloor) };
}
