// SPDX-License-Identifier: Apache-2.0
// Caches keep stale entries until the architected invalidation completes at a CMD_SYNC
// (IHI0070 16.2, 4.7; domain notes 7.2), including across SMMUEN 1->0->1, which is what a
// kdump kernel finds. Replacement is deterministic and counters are exposed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bringUp, cd, cmd, CR0, fixture, l1std, PageTables, ste, submit } from '../testing/fixture';

const rd = (sid: number, address: number) => ({ sid, address, size: 4, write: false });

describe('configuration cache: stale until CFGI + CMD_SYNC', () => {
  it('an STE changed in memory keeps its cached copy; CFGI_STE alone is not enough; CFGI_STE + CMD_SYNC is', () => {
    const f = fixture();
    const q = bringUp(f);
    f.writeWords(q.strtab + 64 * 4, ste({ Config: 'BYPASS' }));
    assert.equal(f.smmu.translate(rd(4, 0x8000_0000)).outcome, 'bypassed');
    f.writeWords(q.strtab + 64 * 4, ste({ Config: 'ABORT' }));
    const stale = f.smmu.translate(rd(4, 0x8000_0000));
    assert.equal(stale.outcome, 'bypassed', 'stale STE still used');
    assert.equal(stale.steCached, true);
    submit(f, q, [cmd.cfgiSte(4)]);
    assert.equal(f.smmu.translate(rd(4, 0x8000_0000)).outcome, 'bypassed', 'invalidation completes only at the CMD_SYNC');
    submit(f, q, [cmd.sync()]);
    assert.equal(f.smmu.translate(rd(4, 0x8000_0000)).outcome, 'aborted');
  });

  it('an invalid STE (V=0) may be cached: making it valid needs a CFGI too', () => {
    const f = fixture();
    const q = bringUp(f);
    f.writeWords(q.strtab + 64 * 4, [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
    assert.equal(f.smmu.translate(rd(4, 0)).event, 'C_BAD_STE');
    f.writeWords(q.strtab + 64 * 4, ste({ Config: 'BYPASS' }));
    assert.equal(f.smmu.translate(rd(4, 0)).event, 'C_BAD_STE');
    submit(f, q, [cmd.cfgiSte(4), cmd.sync()]);
    assert.equal(f.smmu.translate(rd(4, 0)).outcome, 'bypassed');
  });

  it('an invalid L1STD is dropped by a leaf CFGI_STE of a SID under it (Linux 6.12 installs L1 descriptors without CFGI)', () => {
    const f = fixture();
    const q = bringUp(f, { strtabLog2: 16, twoLevel: { split: 8 } });
    assert.equal(f.smmu.translate(rd(0x105, 0)).event, 'C_BAD_STREAMID'); // Span=0 cached
    const l2 = f.alloc(64 * 256, 16384);
    for (let i = 0; i < 256; i++) f.writeWords(l2 + 64 * i, ste({ Config: 'ABORT' }));
    f.writeWords(l2 + 64 * 5, ste({ Config: 'BYPASS' }));
    f.writeWords(q.strtab + 8, l1std(l2, 9));
    assert.equal(f.smmu.translate(rd(0x105, 0)).event, 'C_BAD_STREAMID', 'stale L1STD');
    submit(f, q, [cmd.cfgiSte(0x105, 1), cmd.sync()]);
    assert.equal(f.smmu.translate(rd(0x105, 0)).outcome, 'bypassed');
  });

  it('CFGI_ALL drops every STE, L1STD and CD', () => {
    const f = fixture();
    const q = bringUp(f);
    for (const sid of [1, 2, 3]) f.writeWords(q.strtab + 64 * sid, ste({ Config: 'BYPASS' }));
    for (const sid of [1, 2, 3]) f.smmu.translate(rd(sid, 0));
    assert.equal(f.smmu.cacheStats().ste.size, 3);
    submit(f, q, [cmd.cfgiAll(), cmd.sync()]);
    assert.equal(f.smmu.cacheStats().ste.size, 0);
  });

  it('CD cache statistics count the hits of transactions without SSID, and the cache bound holds for them (IHI0070 16.2)', () => {
    const f = fixture({ configCacheEntries: 2 });
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    pt.map(0x1000, 0x8c00_0000);
    for (const sid of [1, 2, 3]) {
      const cdAddr = f.alloc(64, 64);
      f.writeWords(cdAddr, cd(pt, sid));
      f.writeWords(q.strtab + 64 * sid, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(cdAddr), S1STALLD: 1 }));
    }
    for (let i = 0; i < 3; i++) f.smmu.translate(rd(1, 0x1000)); // 1 miss, then 2 hits (fast path)
    let c = f.smmu.cacheStats().cd;
    assert.deepEqual([c.hits, c.misses, c.size], [2, 1, 1]);
    f.smmu.translate(rd(2, 0x1000));
    f.smmu.translate(rd(3, 0x1000)); // evicts SID 1's CD
    c = f.smmu.cacheStats().cd;
    assert.deepEqual([c.size, c.evictions], [2, 1]);
    f.smmu.translate(rd(1, 0x1000));
    assert.equal(f.smmu.cacheStats().cd.misses, 4, 'the evicted CD is a miss again, not served from beside the cache');
  });

  it('a CD changed in memory stays cached until CFGI_CD + CMD_SYNC', () => {
    const f = fixture();
    const q = bringUp(f);
    const a = new PageTables(f, 1, '4k', 48);
    const b = new PageTables(f, 1, '4k', 48);
    a.map(0x1000, 0x8a00_0000);
    b.map(0x1000, 0x8b00_0000);
    const cdAddr = f.alloc(64, 64);
    f.writeWords(cdAddr, cd(a, 5));
    f.writeWords(q.strtab + 64 * 2, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(cdAddr), S1STALLD: 1 }));
    assert.equal(f.smmu.translate(rd(2, 0x1000)).pa, 0x8a00_0000);
    f.writeWords(cdAddr, cd(b, 6));
    submit(f, q, [cmd.tlbiNhAsid(5), cmd.sync()]);
    assert.equal(f.smmu.translate(rd(2, 0x1000)).pa, 0x8a00_0000, 'old CD (ASID 5, TTB a) still cached; it re-walks table a');
    submit(f, q, [cmd.cfgiCd(2, 0), cmd.sync()]);
    assert.equal(f.smmu.translate(rd(2, 0x1000)).pa, 0x8b00_0000);
  });
});

describe('TLB: stale until TLBI + CMD_SYNC, tagged by ASID/VMID', () => {
  function s1(f: ReturnType<typeof fixture>, q: ReturnType<typeof bringUp>, sid: number, asid: number, pt: PageTables) {
    const cdAddr = f.alloc(64, 64);
    f.writeWords(cdAddr, cd(pt, asid));
    f.writeWords(q.strtab + 64 * sid, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(cdAddr), S1STALLD: 1 }));
  }

  it('an unmapped page keeps translating until TLBI_NH_VA + CMD_SYNC', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    const leaf = pt.map(0x40_0000, 0x8c00_0000);
    s1(f, q, 3, 9, pt);
    assert.equal(f.smmu.translate(rd(3, 0x40_0010)).pa, 0x8c00_0010);
    f.write64(leaf, 0n); // unmap
    const stale = f.smmu.translate(rd(3, 0x40_0010));
    assert.equal(stale.tlbHit, true);
    assert.equal(stale.pa, 0x8c00_0010);
    submit(f, q, [cmd.tlbiNhVa(9, 0x40_0000)]);
    assert.equal(f.smmu.translate(rd(3, 0x40_0010)).tlbHit, true, 'not complete before the CMD_SYNC');
    submit(f, q, [cmd.sync()]);
    assert.equal(f.smmu.translate(rd(3, 0x40_0010)).event, 'F_TRANSLATION');
  });

  it('TLBI_NH_ASID drops only that ASID; TLBI_NSNH_ALL drops everything', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    const l1 = pt.map(0x1000, 0x8c00_0000);
    s1(f, q, 1, 10, pt);
    s1(f, q, 2, 11, pt);
    f.smmu.translate(rd(1, 0x1000));
    f.smmu.translate(rd(2, 0x1000));
    f.write64(l1, 0n);
    submit(f, q, [cmd.tlbiNhAsid(10), cmd.sync()]);
    assert.equal(f.smmu.translate(rd(1, 0x1000)).event, 'F_TRANSLATION');
    assert.equal(f.smmu.translate(rd(2, 0x1000)).tlbHit, true);
    submit(f, q, [cmd.tlbiNsnhAll(), cmd.sync()]);
    assert.equal(f.smmu.translate(rd(2, 0x1000)).event, 'F_TRANSLATION');
  });

  it('caches survive SMMUEN 1->0->1 (changing SMMUEN invalidates nothing): what a kdump kernel inherits', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    const leaf = pt.map(0x1000, 0x8c00_0000);
    s1(f, q, 1, 10, pt);
    f.smmu.translate(rd(1, 0x1000));
    f.cr0(0); // the kdump kernel's status-quo reset disables the SMMU ...
    assert.equal(f.smmu.translate(rd(1, 0x1000)).path, 'gbpa', 'SMMUEN=0: GBPA decides, caches untouched');
    f.write64(leaf, 0n);
    f.writeWords(q.strtab + 64, ste({ Config: 'ABORT' }));
    f.cr0(CR0.CMDQEN | CR0.EVENTQEN | CR0.SMMUEN); // ... and re-enables without CFGI_ALL
    const r = f.smmu.translate(rd(1, 0x1000));
    assert.equal(r.outcome, 'translated', 'the crashed kernel\'s STE and TLB entry are still live');
    assert.equal(r.pa, 0x8c00_0000);
  });
});

describe('capacity, replacement and counters', () => {
  it('FIFO evicts the oldest STE first, deterministically', () => {
    const f = fixture({ configCacheEntries: 2 });
    const q = bringUp(f);
    for (const sid of [1, 2, 3]) f.writeWords(q.strtab + 64 * sid, ste({ Config: 'BYPASS' }));
    f.smmu.translate(rd(1, 0));
    f.smmu.translate(rd(2, 0));
    f.smmu.translate(rd(1, 0)); // hit: FIFO does not refresh
    f.smmu.translate(rd(3, 0)); // evicts 1
    assert.equal(f.smmu.cachedSte(1), undefined);
    assert.notEqual(f.smmu.cachedSte(2), undefined);
    const s = f.smmu.cacheStats().ste;
    assert.deepEqual([s.hits, s.misses, s.evictions], [1, 3, 1]);
  });

  it('LRU keeps the recently used STE', () => {
    const f = fixture({ configCacheEntries: 2, replacement: 'lru' });
    const q = bringUp(f);
    for (const sid of [1, 2, 3]) f.writeWords(q.strtab + 64 * sid, ste({ Config: 'BYPASS' }));
    f.smmu.translate(rd(1, 0));
    f.smmu.translate(rd(2, 0));
    f.smmu.translate(rd(1, 0));
    f.smmu.translate(rd(3, 0)); // evicts 2
    assert.notEqual(f.smmu.cachedSte(1), undefined);
    assert.equal(f.smmu.cachedSte(2), undefined);
  });

  it('the TLB is bounded and counts hits and misses', () => {
    const f = fixture({ tlbEntries: 4 });
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    for (let i = 0; i < 8; i++) pt.map(0x1000 * i, 0x8c00_0000 + 0x1000 * i);
    const cdAddr = f.alloc(64, 64);
    f.writeWords(cdAddr, cd(pt, 1));
    f.writeWords(q.strtab + 64, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(cdAddr), S1STALLD: 1 }));
    for (let i = 0; i < 8; i++) f.smmu.translate(rd(1, 0x1000 * i));
    f.smmu.translate(rd(1, 0x7000));
    const t = f.smmu.cacheStats().tlb;
    assert.deepEqual([t.size, t.hits, t.misses, t.evictions], [4, 1, 8, 4]);
  });
});

describe('adversarial caching (domain notes 7.2: the SMMU may re-read memory at any time)', () => {
  it('with refetchProbability=1 a changed STE is seen at once; with 0 it stays stale', () => {
    for (const [p, expected] of [
      [1, 'aborted'],
      [0, 'bypassed'],
    ] as const) {
      const f = fixture({ refetchProbability: p });
      const q = bringUp(f);
      f.writeWords(q.strtab + 64 * 4, ste({ Config: 'BYPASS' }));
      f.smmu.translate(rd(4, 0x8000_0000));
      f.writeWords(q.strtab + 64 * 4, ste({ Config: 'ABORT' }));
      assert.equal(f.smmu.translate(rd(4, 0x8000_0000)).outcome, expected, `p=${p}`);
    }
  });

  it('a partial probability is deterministic for a seed: the same run twice sees the same re-reads', () => {
    const run = () => {
      const f = fixture({ refetchProbability: 0.3 });
      const q = bringUp(f);
      f.writeWords(q.strtab + 64 * 4, ste({ Config: 'BYPASS' }));
      const out: string[] = [];
      for (let i = 0; i < 40; i++) {
        f.writeWords(q.strtab + 64 * 4, ste({ Config: i % 2 ? 'BYPASS' : 'ABORT' }));
        out.push(f.smmu.translate(rd(4, 0x8000_0000)).outcome);
      }
      return out;
    };
    const a = run();
    assert.deepEqual(run(), a);
    assert.ok(new Set(a).size === 2, 'some re-reads happened and some did not');
  });
});

