// SPDX-License-Identifier: Apache-2.0
// Snapshot and restore of the complete state (registers, pending acks, queues, caches with
// their stale entries, memory) as a versioned JSON document: a crash saved and replayed
// behaves exactly like the original.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SmmuSystem, type SystemSnapshot } from './system';
import { build, cd, PageTables, regions, ste } from '../testing/fixture';
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

  it('rejects a document that is not a snapshot, naming the field', () => {
    assert.throws(() => SmmuSystem.restore({ kind: 'nope' } as unknown as SystemSnapshot), /snapshot\.kind/);
    assert.throws(() => SmmuSystem.restore({ kind: 'kdump-twin/smmu-system', version: 9 } as unknown as SystemSnapshot), /snapshot\.version/);
  });
});
