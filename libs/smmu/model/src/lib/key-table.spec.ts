// SPDX-License-Identifier: Apache-2.0
// The TLB's own structures against plain references: KeyTable against a Map under random
// inserts, overwrites and deletes (keys small, above 2^32 and near 2^53, colliding runs), and
// the TLB's replacement order (FIFO and LRU across contexts, with invalidations and
// re-inserts) against a list kept by hand.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeededRng } from '@kdump-twin/platform';
import { KeyTable } from './key-table';
import { Tlb, type TlbEntry } from './cache';

describe('KeyTable', () => {
  it('agrees with a Map through 20,000 random operations', () => {
    const rng = new SeededRng('key-table');
    const t = new KeyTable<number>();
    const m = new Map<number, number>();
    const pools = [
      Array.from({ length: 64 }, (_, i) => i),
      Array.from({ length: 64 }, (_, i) => 2 ** 32 + i * 2 ** 20),
      Array.from({ length: 64 }, (_, i) => 2 ** 52 + i * 4096),
      // Keys whose low 32 bits are equal: they differ only in the high half.
      Array.from({ length: 64 }, (_, i) => i * 2 ** 32 + 7),
    ];
    for (let op = 0; op < 20_000; op++) {
      const pool = pools[rng.int(0, pools.length - 1)]!;
      const k = pool[rng.int(0, pool.length - 1)]!;
      const r = rng.int(0, 9);
      if (r < 5) {
        t.set(k, op);
        m.set(k, op);
      } else if (r < 8) assert.equal(t.delete(k), m.delete(k), `delete ${k} at op ${op}`);
      else assert.equal(t.get(k), m.get(k), `get ${k} at op ${op}`);
      assert.equal(t.size, m.size);
    }
    for (const pool of pools) for (const k of pool) assert.equal(t.get(k), m.get(k));
    assert.deepEqual(new Map(t.entries()), m);
  });

  it('empties completely and is usable again', () => {
    const t = new KeyTable<string>();
    for (let i = 0; i < 1000; i++) t.set(i * 4096, `v${i}`);
    for (let i = 0; i < 1000; i++) assert.ok(t.delete(i * 4096));
    assert.equal(t.size, 0);
    assert.deepEqual(t.entries(), []);
    t.set(5, 'x');
    assert.equal(t.get(5), 'x');
  });
});

describe('TLB replacement order', () => {
  const entry = (page: number): TlbEntry => ({
    base: page * 4096,
    shift: 12,
    out: 0x8000_0000 + page * 4096,
    perms: 15,
    s1Perms: 15,
    s2Perms: 15,
    ipa: -1,
    dirtyOnWrite: false,
    level: 3,
    leafAddress: 0,
    attr: 0,
  });
  for (const replacement of ['fifo', 'lru'] as const) {
    it(`${replacement}: evictions, invalidations, re-inserts and hits keep the order a plain list gives`, () => {
      const rng = new SeededRng(`tlb-${replacement}`);
      const tlb = new Tlb(16, replacement);
      const ctxs = [tlb.context('NS-EL1', 0, 1, 's1'), tlb.context('NS-EL1', 0, 2, 's1'), tlb.context('NS-EL1', 0, -1, 's1')];
      // The reference: [context index, page], oldest first.
      let ref: [number, number][] = [];
      for (let op = 0; op < 5_000; op++) {
        const c = rng.int(0, ctxs.length - 1);
        const page = rng.int(0, 40);
        const r = rng.int(0, 9);
        const at = ref.findIndex(([x, p]) => x === c && p === page);
        if (r < 5) {
          tlb.insert(ctxs[c]!, entry(page));
          if (at >= 0) ref.splice(at, 1);
          ref.push([c, page]);
          if (ref.length > 16) ref.shift();
        } else if (r < 7) {
          const hit = tlb.lookup(ctxs[c]!, undefined, page * 4096 + 8);
          assert.equal(hit !== undefined, at >= 0, `lookup ${c}/${page} at op ${op}`);
          if (hit && replacement === 'lru') ref.push(...ref.splice(at, 1));
        } else if (r < 9) {
          const n = rng.int(1, 3);
          tlb.invalidateRange((x) => x === ctxs[c], page * 4096, 4096 * n);
          ref = ref.filter(([x, p]) => !(x === c && p >= page && p < page + n));
        } else {
          tlb.invalidateContexts((x) => x === ctxs[c]);
          ref = ref.filter(([x]) => x !== c);
        }
        const snap = tlb.snapshot().map((s) => [ctxs.findIndex((x) => x.asid === s.asid), s.base / 4096]);
        assert.deepEqual(snap, ref, `order after op ${op}`);
        assert.equal(tlb.size, ref.length);
      }
    });
  }
});
