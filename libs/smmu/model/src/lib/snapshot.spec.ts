// SPDX-License-Identifier: Apache-2.0
// Snapshot and restore of the complete state (registers, pending timers in their order, queues,
// caches with their stale entries and counters, injections, memory) as a versioned JSON
// document: a crash saved and replayed behaves exactly like the original, which the tests check
// by running the same sequence on both and comparing every result.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SmmuSystem, type SystemSnapshot } from './system';
import { bringUp, build, cd, cmd, GUEST_IPA, NestedGuest, PageTables, regions, ste, submit } from '../testing/fixture';
import { findRegister } from '@kdump-twin/smmu-arch';
import type { Fixture } from '../testing/fixture';

function systemFixture(sys: SmmuSystem): Fixture {
  // Reuse the fixture helpers on a system's memory and first SMMU.
  const smmu = sys.smmus[0]!;
  const cpu = sys.memory.internWriter({ kind: 'primary-cpu' });
  let next = 0x8010_0000;
  const scratch = { lo: 0, hi: 0 };
  const f: Fixture = {
    clock: sys.clock,
    memory: sys.memory,
    smmu,
    cpu,
    useWriter: () => undefined,
    alloc(bytes, align = 4096) {
      next = Math.ceil(next / align) * align;
      const pa = next;
      next += bytes;
      return pa;
    },
    write64: (pa, v) => void sys.memory.writeDword(pa, Number(v & 0xffffffffn), Number(v >> 32n), cpu),
    read64(pa) {
      sys.memory.readDword(pa, scratch);
      return BigInt(scratch.lo) | (BigInt(scratch.hi) << 32n);
    },
    writeWords: (pa, words) => words.forEach((w, i) => f.write64(pa + 8 * i, w)),
    reg: (n) => smmu.register(n),
    field: (n, x) => smmu.field(n, x),
    w: (n, v) => smmu.mmioWrite(findRegister(n)!.absoluteOffset, findRegister(n)!.width === 64 ? 8 : 4, BigInt(v)),
    cr0(v) {
      f.w('CR0', v);
      for (let i = 0; i < 100 && Number(smmu.register('CR0ACK')) !== v; i++) sys.clock.advance(100);
    },
    irqCtrl: (v) => void f.w('IRQ_CTRL', v),
  };
  return f;
}

describe('snapshot and restore (versioned, JSON)', () => {
  it('restores registers, caches (including a stale STE and TLB entry), pending acks and memory', () => {
    const sys = SmmuSystem.create({ seed: 7, memory: { paBits: 48, maxBackedBytes: 64 << 20, regions: regions() }, smmus: [{ ackDelayNs: 1000 }] });
    const f = systemFixture(sys);
    const strtab = f.alloc(64 * 256, 64 * 256);
    f.w('STRTAB_BASE', strtab);
    f.w('STRTAB_BASE_CFG', build('STRTAB_BASE_CFG', { FMT: 'LINEAR', LOG2SIZE: 8 })[0]!);
    const pt = new PageTables(f, 1, '4k', 48);
    const leaf = pt.map(0x1000, 0x8c00_0000);
    const cdAddr = f.alloc(64, 64);
    f.writeWords(cdAddr, cd(pt, 4));
    f.writeWords(strtab + 64 * 3, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(cdAddr), S1STALLD: 1 }));
    f.cr0(1);
    const t = { sid: 3, address: 0x1010, size: 4, write: true };
    assert.equal(f.smmu.translate(t).pa, 0x8c00_0010);
    // Make the cached state stale, then start a CR0 update that is still in flight.
    f.write64(leaf, 0n);
    f.w('CR0', 0b1001);
    const json = JSON.stringify(sys.snapshot());
    const restored = SmmuSystem.restore(JSON.parse(json) as SystemSnapshot);
    const s2 = restored.smmus[0]!;
    assert.equal(s2.register('CR0'), 0b1001n);
    assert.equal(s2.register('CR0ACK'), 1n, 'the ack is still pending after restore');
    const r = s2.translate(t);
    assert.equal(r.tlbHit, true, 'the stale TLB entry survived the snapshot');
    assert.equal(r.pa, 0x8c00_0010);
    restored.clock.advance(1000);
    assert.equal(s2.register('CR0ACK'), 0b1001n, 'the pending ack completes at the same virtual time');
    // Both continue identically.
    sys.clock.advance(1000);
    sys.smmus[0]!.translate(t);
    assert.deepEqual(JSON.parse(JSON.stringify(restored.snapshot())), JSON.parse(JSON.stringify(sys.snapshot())));
    assert.equal(restored.memory.lastWriteAt(leaf)?.writer.kind, 'primary-cpu');
  });

  it('a restored system replays a long sequence exactly like the original: results, counters, cache statistics, events, state', () => {
    // Small FIFO caches (evictions), adversarial re-reads (the RNG), a nested and a stage-1
    // stream, commands in flight, a pending CR0 ack and GBPA update at the moment of the snapshot.
    const mk = () =>
      SmmuSystem.create({
        seed: 11,
        memory: { paBits: 48, maxBackedBytes: 64 << 20, regions: regions() },
        smmus: [{ ackDelayNs: 300, gbpaDelayNs: 300, configCacheEntries: 2, tlbEntries: 8, refetchProbability: 0.2 }],
      });
    const sys = mk();
    const f = systemFixture(sys);
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    for (let i = 0; i < 16; i++) pt.map(0x1000 * i, 0x8c00_0000 + 0x1000 * i, 3, i % 5 === 0 ? { AP: 'RO_ANY' } : {});
    const table = f.alloc(64 * 16, 1024);
    for (const ssid of [0, 1, 2]) f.writeWords(table + 64 * ssid, cd(pt, 10 + ssid));
    f.writeWords(q.strtab + 64 * 3, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(table), S1CDMax: 4, S1DSS: 'SSID0', S1STALLD: 1 }));
    const g = new NestedGuest(f);
    g.s1.map(0x7000, GUEST_IPA + 0x4000);
    g.install(q, 4);
    const ops = (s: SmmuSystem, round: number): unknown[] => {
      const m = s.smmus[0]!;
      const out: unknown[] = [];
      for (let i = 0; i < 40; i++) {
        const ssid = i % 4 === 3 ? undefined : i % 3;
        out.push(
          m.translate({
            sid: 3 + (i % 2),
            ssid: i % 2 ? undefined : ssid,
            address: i % 2 ? 0x7000 + (i % 7) * 8 : 0x1000 * ((i * 7 + round) % 18),
            size: 8,
            write: i % 3 === 0,
          }),
        );
      }
      return out;
    };
    ops(sys, 0);
    // In flight at the snapshot: a CR0 write (ack pending), a GBPA update, two commands queued.
    f.w('CR0', 0b1111 & ~0b10);
    f.w('GBPA', (1 << 31) | 0x1000);
    submit(f, q, [cmd.tlbiNhAsid(10), cmd.sync()], { run: false });
    const restored = SmmuSystem.restore(JSON.parse(JSON.stringify(sys.snapshot())) as SystemSnapshot);
    const observe = (s: SmmuSystem) => {
      const m = s.smmus[0]!;
      const out: unknown[] = [];
      for (let round = 1; round <= 3; round++) {
        out.push(ops(s, round), m.register('CR0ACK'), m.register('GBPA'), m.field('CMDQ_CONS', 'RD'));
        s.clock.advance(150);
      }
      return { out, counters: { ...m.counters }, stats: m.cacheStats(), events: m.events().length };
    };
    const a = observe(sys);
    const b = observe(restored);
    assert.deepEqual(b, a);
    assert.ok(a.stats.cd.hits > 0 && a.stats.cd.evictions > 0 && a.stats.tlb.evictions > 0, 'the sequence exercised the caches');
    assert.deepEqual(JSON.parse(JSON.stringify(restored.snapshot())), JSON.parse(JSON.stringify(sys.snapshot())));
  });

  it('cache and TLB counters survive the snapshot instead of being zeroed', () => {
    const sys = SmmuSystem.create({ seed: 3, memory: { paBits: 48, maxBackedBytes: 64 << 20, regions: regions() }, smmus: [{ ackDelayNs: 0 }] });
    const f = systemFixture(sys);
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    pt.map(0x1000, 0x8c00_0000);
    const cdAddr = f.alloc(64, 64);
    f.writeWords(cdAddr, cd(pt, 4));
    f.writeWords(q.strtab + 64 * 3, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(cdAddr), S1STALLD: 1 }));
    for (let i = 0; i < 5; i++) f.smmu.translate({ sid: 3, address: 0x1000, size: 4, write: false });
    const before = f.smmu.cacheStats();
    assert.deepEqual([before.ste.hits, before.cd.hits, before.tlb.hits, before.ste.inserts], [4, 4, 4, 1]);
    const r = SmmuSystem.restore(JSON.parse(JSON.stringify(sys.snapshot())) as SystemSnapshot);
    assert.deepEqual(r.smmus[0]!.cacheStats(), before);
  });

  it('fault injections are part of the state: a stuck CR0 acknowledge stays stuck after restore', () => {
    const sys = SmmuSystem.create({ seed: 1, memory: { paBits: 48, maxBackedBytes: 64 << 20, regions: regions() }, smmus: [{ ackDelayNs: 100 }] });
    const s = sys.smmus[0]!;
    s.injectRegister('CR0', 0x9n); // found enabled by the kdump kernel
    s.injectStuckAck(['SMMUEN'], 0); // disabling SMMUEN never acknowledges
    s.mmioWrite(0x20, 4, 0x8n);
    const r = SmmuSystem.restore(JSON.parse(JSON.stringify(sys.snapshot())) as SystemSnapshot);
    sys.clock.advance(1000);
    r.clock.advance(1000);
    assert.equal(s.register('CR0ACK'), 0x9n);
    assert.equal(r.smmus[0]!.register('CR0ACK'), 0x9n, 'still stuck');
    assert.deepEqual(r.smmus[0]!.injections, s.injections);
  });

  it('timers due at the same nanosecond run in their original order after restore (a CMDQ kick before a CMDQEN 1->0 ack)', () => {
    const sys = SmmuSystem.create({
      seed: 1,
      memory: { paBits: 48, maxBackedBytes: 64 << 20, regions: regions() },
      smmus: [{ ackDelayNs: 100, cmdqLatencyNs: 100 }],
    });
    const s = sys.smmus[0]!;
    const cpu = sys.memory.internWriter({ kind: 'primary-cpu' });
    const cmdq = 0x8010_0000;
    s.mmioWrite(0x90, 8, BigInt(cmdq) | 4n);
    s.mmioWrite(0x98, 4, 0n);
    s.mmioWrite(0x9c, 4, 0n);
    s.mmioWrite(0x20, 4, 8n);
    sys.clock.advance(1000);
    const c = cmd.sync();
    sys.memory.writeDword(cmdq, Number(c[0]! & 0xffffffffn), Number(c[0]! >> 32n), cpu);
    sys.memory.writeDword(cmdq + 8, 0, 0, cpu);
    s.mmioWrite(0x98, 4, 1n); // the consumer runs at t+100 ...
    s.mmioWrite(0x20, 4, 0n); // ... and CMDQEN 1->0 is acknowledged at t+100 too, scheduled after it
    const r = SmmuSystem.restore(JSON.parse(JSON.stringify(sys.snapshot())) as SystemSnapshot);
    sys.clock.advance(1000);
    r.clock.advance(1000);
    assert.equal(s.field('CMDQ_CONS', 'RD'), 1, 'the original consumes the CMD_SYNC first');
    assert.equal(r.smmus[0]!.field('CMDQ_CONS', 'RD'), 1, 'so does the restored one');
  });

  it('a default CD evicted from the CD cache is re-read, in the original as after restore (no copy kept beside the cache)', () => {
    const sys = SmmuSystem.create({
      seed: 1,
      memory: { paBits: 48, maxBackedBytes: 64 << 20, regions: regions() },
      smmus: [{ ackDelayNs: 0, configCacheEntries: 2 }],
    });
    const f = systemFixture(sys);
    const q = bringUp(f);
    const a = new PageTables(f, 1, '4k', 48);
    a.map(0x1000, 0x8a00_0000);
    const b = new PageTables(f, 1, '4k', 48);
    b.map(0x1000, 0x8b00_0000);
    const table = f.alloc(64 * 16, 1024);
    for (const ssid of [0, 1, 2]) f.writeWords(table + 64 * ssid, cd(a, ssid + 1));
    f.writeWords(q.strtab + 64 * 3, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(table), S1CDMax: 4, S1DSS: 'SSID0', S1STALLD: 1 }));
    const t = { sid: 3, address: 0x1000, size: 4, write: false };
    assert.equal(f.smmu.translate(t).pa, 0x8a00_0000);
    f.smmu.translate({ ...t, ssid: 1 });
    f.smmu.translate({ ...t, ssid: 2 }); // evicts CD 0 from the two-entry CD cache
    assert.equal(f.smmu.cacheStats().cd.size, 2);
    f.writeWords(table, cd(b, 7)); // CD 0 rewritten without a CFGI
    const r = SmmuSystem.restore(JSON.parse(JSON.stringify(sys.snapshot())) as SystemSnapshot).smmus[0]!;
    assert.equal(f.smmu.translate(t).pa, 0x8b00_0000, 'the evicted CD is fetched again');
    assert.equal(r.translate(t).pa, 0x8b00_0000);
    assert.deepEqual(r.cacheStats(), f.smmu.cacheStats());
  });

  it('rejects a document that is not a snapshot, naming the field', () => {
    assert.throws(() => SmmuSystem.restore({ kind: 'nope' } as unknown as SystemSnapshot), /snapshot\.kind/);
    assert.throws(() => SmmuSystem.restore({ kind: 'kdump-twin/smmu-system', version: 9 } as unknown as SystemSnapshot), /snapshot\.version/);
  });
});
