// SPDX-License-Identifier: Apache-2.0
// Seeded fuzz: random configurations, random MMIO (any offset, any value, both pages), random
// memory contents where the SMMU looks (stream table, CDs, queues, page tables), then random
// transactions and virtual time. The model must never throw, and its invariants must hold.
// Seeds are fixed; every loop is bounded.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeededRng } from '@kdump-twin/platform';
import { EVENT_IDS, findRegister, REGISTERS } from '@kdump-twin/smmu-arch';
import { bringUp, fixture, RAM_BASE } from '../testing/fixture';
import type { SmmuConfig } from './config';

const SEEDS = 24;
const STEPS = 400;
const OUTCOMES = new Set(['translated', 'bypassed', 'aborted', 'raz-wi', 'stalled']);

function randomConfig(rng: SeededRng): Partial<SmmuConfig> {
  const sidBits = rng.pick([4, 6, 8, 12, 16]);
  return {
    sidBits,
    twoLevelStrtab: sidBits >= 7 ? true : rng.chance(0.5),
    ssidBits: rng.pick([0, 4, 10, 20]),
    stage1: true,
    stage2: rng.chance(0.6),
    stallModel: rng.pick([0, 1] as const),
    termModel: rng.pick([0, 1] as const),
    httu: rng.pick([0, 1, 2] as const),
    ats: rng.chance(0.5),
    hyp: rng.chance(0.5),
    ackDelayNs: rng.pick([0, 50, 500]),
    tlbEntries: rng.pick([1, 8, 256]),
    configCacheEntries: rng.pick([1, 4, 64]),
    replacement: rng.pick(['fifo', 'lru'] as const),
    refetchProbability: rng.pick([0, 0, 0.2]),
  };
}

/** A value biased towards interesting encodings: valid bits set, small fields, RAM addresses. */
function randomDword(rng: SeededRng): bigint {
  const kind = rng.int(0, 5);
  const lo = BigInt(rng.nextU32());
  const hi = BigInt(rng.nextU32());
  if (kind === 0) return 0n;
  if (kind === 1) return (hi << 32n) | lo;
  if (kind === 2) return BigInt(RAM_BASE + rng.int(0, 0x3ff) * 0x1000) | BigInt(rng.int(0, 0xfff)); // pointer-ish
  if (kind === 3) return lo | 1n; // valid bit
  return BigInt(rng.int(0, 0xffff)) | (BigInt(rng.int(0, 0xffff)) << 48n);
}

describe('seeded fuzz: never throws, invariants hold', () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    it(`seed ${seed}`, () => {
      const rng = new SeededRng(seed);
      const config = randomConfig(rng);
      const f = fixture(config, 64 * 1024 * 1024);
      const q = bringUp(f, { strtabLog2: Math.min(config.sidBits!, 10), twoLevel: config.sidBits! >= 7 && rng.chance(0.5) ? { split: rng.pick([6, 8, 10]) } : undefined });
      // Random memory where the SMMU reads: stream table, command queue, a few pages of RAM.
      const hot = [q.strtab, q.cmdq, RAM_BASE + 0x10_0000, RAM_BASE + 0x20_0000];
      for (let i = 0; i < 300; i++) f.write64(rng.pick(hot) + 8 * rng.int(0, 511), randomDword(rng));
      const offsets = REGISTERS.map((r) => r.absoluteOffset);
      for (let step = 0; step < STEPS; step++) {
        const action = rng.int(0, 9);
        if (action <= 1) {
          const off = rng.chance(0.9) ? rng.pick(offsets) : rng.int(0, 0x1ffff);
          const size = rng.chance(0.8) ? 4 : 8;
          f.smmu.mmioWrite(off, size, randomDword(rng));
        } else if (action === 2) {
          f.smmu.mmioRead(rng.int(0, 0x1ffff) & ~3, 4);
        } else if (action === 3) {
          f.write64(rng.pick(hot) + 8 * rng.int(0, 511), randomDword(rng));
        } else if (action === 4) {
          f.clock.advance(rng.int(0, 2000));
        } else {
          const sid = rng.int(0, 2 ** config.sidBits! + 2);
          const t = {
            sid,
            ssid: rng.chance(0.3) ? rng.int(0, 2 ** 20 - 1) : undefined,
            address: rng.chance(0.5) ? rng.int(0, 2 ** 32) : rng.int(0, 2 ** 52),
            size: rng.int(1, 64),
            write: rng.chance(0.5),
            privileged: rng.chance(0.2),
            instruction: rng.chance(0.1),
            ats: rng.pick(['untranslated', 'untranslated', 'translated', 'request'] as const),
          };
          const r = action === 9 ? f.smmu.dma({ ...t, size: undefined }, t.write ? new Uint8Array(t.size) : undefined).translations.at(-1)! : f.smmu.translate(t);
          assert.ok(OUTCOMES.has(r.outcome), r.outcome);
          if (r.outcome === 'translated' || r.outcome === 'bypassed') assert.ok(r.pa >= 0 && r.pa < 2 ** 52, `pa ${r.pa}`);
          else assert.equal(r.pa, -1);
          if (r.event) assert.ok(r.event in EVENT_IDS);
          if (r.recorded) assert.ok(r.event);
          assert.equal(typeof r.why, 'string');
        }
      }
      f.clock.runUntilIdle(1_000_000);
      // Invariants.
      const c = f.smmu.counters;
      assert.equal(c.translated + c.bypassed + c.aborted + c.razWi + c.stalled, c.transactions, 'every transaction has exactly one outcome');
      const gerrorDefined = ~findRegister('GERROR')!.res0Masks[0]! & 0xffffffffn;
      assert.equal(f.reg('GERROR') & ~gerrorDefined, 0n, 'GERROR only toggles architected bits');
      // Every event raised has one fate, and the counters agree with the log.
      const fates = new Map<string, number>();
      for (const e of f.smmu.events()) fates.set(e.fate, (fates.get(e.fate) ?? 0) + 1);
      assert.equal(fates.get('disabled') ?? 0, c.eventsDroppedDisabled);
      assert.equal(fates.get('overflow') ?? 0, c.eventsDroppedOverflow);
      assert.equal(fates.get('sfm') ?? 0, c.eventsDroppedSfm);
      assert.ok((fates.get('written') ?? 0) <= c.eventsWritten, 'buffered stall records may be written later');
      assert.ok(f.memory.backedBytes() <= 64 * 1024 * 1024, 'backing bound respected');
      for (const v of f.smmu.violations()) assert.ok(v.rule.length > 0 && v.section.startsWith('IHI0070'));
      // The snapshot of whatever state the fuzz left is JSON-serialisable.
      JSON.parse(JSON.stringify(f.smmu.snapshot()));
    });
  }
});
