// SPDX-License-Identifier: Apache-2.0
// Caches keep stale entries until the architected invalidation completes at a CMD_SYNC
// (IHI0070 16.2, 4.7; domain notes 7.2), including across SMMUEN 1->0->1, which is what a
// kdump kernel finds. Replacement is deterministic and counters are exposed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeededRng } from '@kdump-twin/platform';
import { SmmuSystem } from './system';
import {
  bringUp,
  build,
  cd,
  cmd,
  CR0,
  fixture,
  l1cd,
  l1std,
  NestedGuest,
  PageTables,
  regions,
  s2Fields,
  ste,
  submit,
  type Fixture,
  type Queues,
} from '../testing/fixture';

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

  it('CFGI_ALL drops every STE, L1STD, L1CD and CD (IHI0070 4.3.2), and no TLB entry', () => {
    const f = fixture();
    const q = bringUp(f, { strtabLog2: 16, twoLevel: { split: 8 } });
    const l2 = f.alloc(64 * 256, 16384);
    for (let i = 0; i < 256; i++) f.writeWords(l2 + 64 * i, ste({ Config: 'ABORT' }));
    f.writeWords(q.strtab, l1std(l2, 9));
    const pt = new PageTables(f, 1, '4k', 48);
    pt.map(0x1000, 0x8c00_0000);
    const root = f.alloc(8 * 64, 64);
    const leaf = f.alloc(64 * 64, 4096);
    f.writeWords(root, l1cd(leaf));
    for (const ssid of [1, 2]) f.writeWords(leaf + 64 * ssid, cd(pt, 9));
    f.writeWords(l2 + 64 * 3, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(root), S1CDMax: 12, S1Fmt: 'L2_4K', S1DSS: 'SSID0', S1STALLD: 1 }));
    for (const sid of [1, 2]) f.writeWords(l2 + 64 * sid, ste({ Config: 'BYPASS' }));
    for (const sid of [1, 2]) f.smmu.translate(rd(sid, 0));
    for (const ssid of [1, 2]) assert.equal(f.smmu.translate({ ...rd(3, 0x1000), ssid }).outcome, 'translated');
    const before = f.smmu.cacheStats();
    assert.deepEqual([before.l1std.size, before.ste.size, before.l1cd.size, before.cd.size, before.tlb.size], [1, 3, 1, 2, 1]);
    submit(f, q, [cmd.cfgiAll(), cmd.sync()]);
    const after = f.smmu.cacheStats();
    assert.deepEqual([after.l1std.size, after.ste.size, after.l1cd.size, after.cd.size, after.tlb.size], [0, 0, 0, 0, 1], 'CFGI does not touch the TLB');
    assert.deepEqual([after.l1std.invalidations, after.ste.invalidations, after.l1cd.invalidations, after.cd.invalidations], [1, 3, 1, 2]);
  });

  it('CFGI_STE_RANGE drops the 2^(Range+1) aligned StreamIDs only; CFGI_CD_ALL every CD of one StreamID only (IHI0070 4.3.2, 4.3.5)', () => {
    const f = fixture();
    const q = bringUp(f);
    for (let sid = 0; sid < 12; sid++) f.writeWords(q.strtab + 64 * sid, ste({ Config: 'BYPASS' }));
    for (let sid = 0; sid < 12; sid++) f.smmu.translate(rd(sid, 0));
    for (let sid = 0; sid < 12; sid++) f.writeWords(q.strtab + 64 * sid, ste({ Config: 'ABORT' }));
    submit(f, q, [build('cmd-CFGI_STE_RANGE', { StreamID: 5, Range: 1 }), cmd.sync()]); // SIDs 4..7
    const now = [...Array(12).keys()].map((sid) => f.smmu.translate(rd(sid, 0)).outcome);
    assert.deepEqual(now, [
      'bypassed',
      'bypassed',
      'bypassed',
      'bypassed',
      'aborted',
      'aborted',
      'aborted',
      'aborted',
      'bypassed',
      'bypassed',
      'bypassed',
      'bypassed',
    ]);
    // CFGI_CD_ALL
    const pt = new PageTables(f, 1, '4k', 48);
    pt.map(0x1000, 0x8c00_0000);
    const other = new PageTables(f, 1, '4k', 48);
    other.map(0x1000, 0x8d00_0000);
    const tables = [20, 21].map((sid) => {
      const t = f.alloc(64 * 16, 1024);
      for (const ssid of [1, 2]) f.writeWords(t + 64 * ssid, cd(pt, sid));
      f.writeWords(q.strtab + 64 * sid, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(t), S1CDMax: 4, S1DSS: 'SSID0', S1STALLD: 1 }));
      return t;
    });
    for (const sid of [20, 21]) for (const ssid of [1, 2]) f.smmu.translate({ ...rd(sid, 0x1000), ssid });
    tables.forEach((t, i) => {
      for (const ssid of [1, 2]) f.writeWords(t + 64 * ssid, cd(other, 40 + i)); // new ASIDs: no stale TLB hit
    });
    submit(f, q, [build('cmd-CFGI_CD_ALL', { StreamID: 20 }), cmd.sync()]);
    const pas = [20, 21].flatMap((sid) => [1, 2].map((ssid) => f.smmu.translate({ ...rd(sid, 0x1000), ssid }).pa));
    assert.deepEqual(pas, [0x8d00_0000, 0x8d00_0000, 0x8c00_0000, 0x8c00_0000]);
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
    assert.equal(r.outcome, 'translated', "the crashed kernel's STE and TLB entry are still live");
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

  it('through SmmuSystem the re-read stream is forked from the system seed (same seed, same run; another seed, another run)', () => {
    const run = (seed: number) => {
      const sys = SmmuSystem.create({ seed, memory: { paBits: 48, maxBackedBytes: 64 << 20, regions: regions() }, smmus: [{ refetchProbability: 0.5 }] });
      return sys.smmus[0]!.snapshot().rng;
    };
    assert.deepEqual(run(1), run(1));
    assert.notDeepEqual(run(1), run(2));
    assert.deepEqual(run(1), new SeededRng(1).fork('smmu/smmu0').getState());
  });
});

describe('TLB invalidation scope of every TLBI (IHI0070 4.4; domain notes 5 and 7.2)', () => {
  /** Stage-1 streams (SID, ASID, VMID 0), each mapping 0x1000-0x4fff; one access each fills the TLB. */
  function s1Streams(f: Fixture, q: Queues, streams: [number, number][], steExtra = {}) {
    const pt = new PageTables(f, 1, '4k', 48);
    for (let i = 1; i <= 4; i++) pt.map(0x1000 * i, 0x8c00_0000 + 0x1000 * i);
    for (const [sid, asid] of streams) {
      const cdAddr = f.alloc(64, 64);
      f.writeWords(cdAddr, cd(pt, asid));
      f.writeWords(q.strtab + 64 * sid, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(cdAddr), S1STALLD: 1, ...steExtra }));
    }
    return pt;
  }
  const fill = (f: Fixture, sids: number[]) => {
    for (const sid of sids) for (let i = 1; i <= 4; i++) f.smmu.translate(rd(sid, 0x1000 * i));
  };
  const hits = (f: Fixture, sids: number[]) => sids.map((sid) => [1, 2, 3, 4].map((i) => (f.smmu.translate(rd(sid, 0x1000 * i)).tlbHit ? 1 : 0)).join(''));

  it('TLBI_NH_ALL drops every NS-EL1 stage-1 entry of its VMID', () => {
    const f = fixture();
    const q = bringUp(f);
    s1Streams(f, q, [
      [1, 1],
      [2, 2],
    ]);
    fill(f, [1, 2]);
    submit(f, q, [build('cmd-TLBI_NH_ALL', { VMID: 1 }), cmd.sync()]);
    assert.deepEqual(hits(f, [1, 2]), ['1111', '1111'], 'another VMID: nothing');
    submit(f, q, [build('cmd-TLBI_NH_ALL', { VMID: 0 }), cmd.sync()]);
    assert.deepEqual([f.smmu.cacheStats().tlb.size, f.smmu.cacheStats().tlb.invalidations], [0, 8]);
    assert.deepEqual(hits(f, [1, 2]), ['0000', '0000']);
  });

  it('TLBI_NH_VAA drops one VA for every ASID; a range TLBI covers (NUM+1) * 2^SCALE granules (IHI0070 4.4.1)', () => {
    const f = fixture();
    const q = bringUp(f);
    s1Streams(f, q, [
      [1, 1],
      [2, 2],
    ]);
    fill(f, [1, 2]);
    submit(f, q, [build('cmd-TLBI_NH_VAA', { VMID: 0, Address: 0x2000n, Leaf: 1 }), cmd.sync()]);
    assert.deepEqual(hits(f, [1, 2]), ['1011', '1011']);
    // TG=4K, SCALE=1, NUM=0: 2 pages from 0x2000 (0x2000, 0x3000), for ASID 1 only.
    submit(f, q, [build('cmd-TLBI_NH_VA', { VMID: 0, ASID: 1, Address: 0x2000n, TG: 1, SCALE: 1, NUM: 0, Leaf: 1 }), cmd.sync()]);
    assert.deepEqual(hits(f, [1, 2]), ['1001', '1111']);
    // NUM=2, SCALE=0: 3 pages from 0x1000.
    submit(f, q, [build('cmd-TLBI_NH_VA', { VMID: 0, ASID: 2, Address: 0x1000n, TG: 1, SCALE: 0, NUM: 2, Leaf: 1 }), cmd.sync()]);
    assert.deepEqual(hits(f, [1, 2]), ['1111', '0001']);
  });

  it('TLBI_EL2_*: EL2_ALL drops NS-EL2 entries only; EL2_VA and EL2_VAA drop one VA of them (IHI0070 4.4.4-4.4.7)', () => {
    const f = fixture();
    const q = bringUp(f);
    s1Streams(f, q, [[1, 1]]);
    s1Streams(f, q, [[2, 2]], { STRW: 'EL2' });
    fill(f, [1, 2]);
    submit(f, q, [build('cmd-TLBI_EL2_VA', { ASID: 0, Address: 0x3000n, Leaf: 1 }), cmd.sync()]);
    assert.deepEqual(hits(f, [1, 2]), ['1111', '1101'], 'CR2.E2H=0: the NS-EL2 regime, any ASID');
    submit(f, q, [build('cmd-TLBI_EL2_VAA', { Address: 0x1000n, Leaf: 1 }), cmd.sync()]);
    assert.deepEqual(hits(f, [1, 2]), ['1111', '0111']);
    submit(f, q, [build('cmd-TLBI_EL2_ALL', {}), cmd.sync()]);
    assert.deepEqual(hits(f, [1, 2]), ['1111', '0000']);
  });

  it('TLBI_EL2_ASID drops EL2-E2H entries of one ASID (CR2.E2H=1)', () => {
    const f = fixture();
    const q = bringUp(f, { enable: false });
    f.w('CR2', 0x7); // + E2H
    f.cr0(CR0.CMDQEN | CR0.EVENTQEN | CR0.SMMUEN);
    s1Streams(
      f,
      q,
      [
        [1, 1],
        [2, 2],
      ],
      { STRW: 'EL2' },
    );
    fill(f, [1, 2]);
    submit(f, q, [build('cmd-TLBI_EL2_ASID', { ASID: 2 }), cmd.sync()]);
    assert.deepEqual(hits(f, [1, 2]), ['1111', '0000']);
    submit(f, q, [build('cmd-TLBI_NH_ASID', { ASID: 1, VMID: 0 }), cmd.sync()]);
    assert.deepEqual(hits(f, [1]), ['1111'], 'an NS-EL1 TLBI does not touch EL2-E2H entries');
  });

  function s2AndNested() {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 2, '4k', 40, 1);
    for (let i = 1; i <= 4; i++) pt.map(0x1000 * i, 0x8c00_0000 + 0x1000 * i);
    f.writeWords(q.strtab + 64 * 12, ste({ Config: 'S2_TRANS', ...s2Fields(pt, 7) }));
    const g = new NestedGuest(f, 7);
    for (let i = 1; i <= 4; i++) g.s1.map(0x1000 * i, 0x4000_0000 + 0x1000 * i);
    g.install(q, 13);
    return { f, q };
  }

  it('TLBI_S2_IPA drops stage-2-only entries by IPA, not combined nested entries; TLBI_S12_VMALL drops both (IHI0070 4.4.9, 4.4.8)', () => {
    const { f, q } = s2AndNested();
    fill(f, [12, 13]);
    submit(f, q, [build('cmd-TLBI_S2_IPA', { VMID: 7, Address: 0x2000n, Leaf: 1 }), cmd.sync()]);
    assert.deepEqual(hits(f, [12, 13]), ['1011', '1111']);
    submit(f, q, [build('cmd-TLBI_S2_IPA', { VMID: 8, Address: 0x1000n, Leaf: 1 }), cmd.sync()]);
    assert.deepEqual(hits(f, [12]), ['1111'], 'another VMID');
    submit(f, q, [build('cmd-TLBI_S12_VMALL', { VMID: 7 }), cmd.sync()]);
    assert.deepEqual(hits(f, [12, 13]), ['0000', '0000']);
  });
});
