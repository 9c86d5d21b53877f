// SPDX-License-Identifier: Apache-2.0
// Seeded fuzz. Each seed builds a valid world first (stream table, CDs and CD tables, stage-1,
// stage-2 and nested page tables from src/testing/fixture.ts, for a random SMMU configuration),
// then mutates it while traffic runs: random bits flipped in STEs, CDs and descriptors, random
// invalidations (or none, leaving stale entries), random MMIO, commands and virtual time, and
// transactions of every kind (untranslated, ATS requests and translated, with and without SSID).
// The model must never throw and its invariants must hold; a snapshot taken at the end must
// replay like the original. A final check asserts the run reached deep: stage-1, stage-2 and
// nested walks, TLB hits, several fault kinds and ATS completions, so the fuzz cannot silently
// become shallow again. Seeds are fixed and every loop is bounded.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PhysicalMemory, SeededRng, VirtualClock } from '@kdump-twin/platform';
import { EVENT_IDS, findRegister, REGISTERS, type Granule } from '@kdump-twin/smmu-arch';
import {
  bringUp,
  build,
  cd,
  cmd,
  fixture,
  GUEST_IPA,
  NestedGuest,
  PageTables,
  RAM_BASE,
  s2Fields,
  ste,
  submit,
  type Fixture,
  type Queues,
} from '../testing/fixture';
import type { SmmuConfig } from './config';
import { SmmuV3 } from './smmu';
import type { Transaction, TranslateResult } from './types';

const SEEDS = 12;
const STEPS = 700;
const OUTCOMES = new Set(['translated', 'bypassed', 'aborted', 'raz-wi', 'stalled']);
const TRANSLATION_FAULTS = new Set(['F_TRANSLATION', 'F_ADDR_SIZE', 'F_ACCESS', 'F_PERMISSION']);

/** What the run reached, across seeds. */
const seen = {
  paths: new Map<string, number>(),
  events: new Map<string, number>(),
  walks: new Map<string, number>(),
  tlbHits: 0,
  atsGrants: 0,
  atsNone: 0,
  atsCa: 0,
  atsUr: 0,
  stalls: 0,
  mutations: 0,
};
const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

function randomConfig(rng: SeededRng): Partial<SmmuConfig> {
  return {
    stallModel: rng.pick([0, 0, 1] as const),
    termModel: rng.pick([0, 1] as const),
    httu: rng.pick([0, 1, 2, 2] as const),
    ats: rng.chance(0.8),
    hyp: rng.chance(0.7),
    oasBits: rng.pick([48, 48, 52]),
    ackDelayNs: rng.pick([0, 50]),
    tlbEntries: rng.pick([4, 64, 1024]),
    configCacheEntries: rng.pick([2, 16, 256]),
    replacement: rng.pick(['fifo', 'lru'] as const),
    refetchProbability: rng.pick([0, 0, 0.05]),
  };
}

interface World {
  readonly f: Fixture;
  readonly q: Queues;
  /** Input addresses worth hitting, per StreamID. */
  readonly vas: Map<number, number[]>;
  /** Dwords a mutation may flip: STEs, CDs, descriptors. */
  readonly targets: number[];
  readonly maxSsid: Map<number, number>;
}

/** A valid world: 15 streams of every kind over real tables. */
function build_world(rng: SeededRng, config: Partial<SmmuConfig>): World {
  const f = fixture(config, 48 * 1024 * 1024);
  const q = bringUp(f, { strtabLog2: 5 });
  const vas = new Map<number, number[]>();
  const targets: number[] = [];
  const maxSsid = new Map<number, number>();
  const granule: Granule = rng.pick(['4k', '16k', '64k']);
  const gsize = { '4k': 4096, '16k': 16384, '64k': 65536 }[granule];
  const s1 = new PageTables(f, 1, granule, rng.pick([48, 39, 36]));
  const s1Vas: number[] = [];
  const leafAp = () => rng.pick(['RW_ANY', 'RW_ANY', 'RO_ANY', 'RW_EL1', 'RO_EL1'] as const);
  for (let i = 0; i < 40; i++) {
    const va = rng.int(0, 2 ** (s1.inputBits - 20) - 1) * 2 ** 20 + rng.int(0, 15) * gsize;
    const block = granule === '4k' && rng.chance(0.15);
    const pa = block ? RAM_BASE + 0x400_0000 + rng.int(0, 31) * 0x20_0000 : RAM_BASE + 0x400_0000 + rng.int(0, 0x3ff) * gsize;
    targets.push(
      s1.map(block ? va - (va % 0x20_0000) : va, pa, block ? 2 : 3, {
        AF: rng.chance(0.85) ? 1 : 0,
        AP: leafAp(),
        DBM: rng.chance(0.3) ? 1 : 0,
        UXN: rng.chance(0.3) ? 1 : 0,
      }),
    );
    s1Vas.push(va);
  }
  const s2 = new PageTables(f, 2, '4k', 40, 1);
  const s2Vas: number[] = [];
  for (let i = 0; i < 30; i++) {
    const ipa = rng.int(0, 2 ** 28 - 1) * 4096;
    targets.push(
      s2.map(ipa, RAM_BASE + 0x400_0000 + rng.int(0, 0x3ff) * 4096, 3, {
        AF: rng.chance(0.9) ? 1 : 0,
        S2AP: rng.pick(['READ_WRITE', 'READ_WRITE', 'READ'] as const),
        DBM: rng.chance(0.3) ? 1 : 0,
      }),
    );
    s2Vas.push(ipa);
  }
  const guest = new NestedGuest(f, 5);
  const gVas: number[] = [];
  for (let i = 0; i < 20; i++) {
    const va = rng.int(0, 0xffff) * 4096;
    targets.push(guest.s1.map(va, GUEST_IPA + rng.int(0, 0x3fff) * 4096, 3, { AP: leafAp(), AF: rng.chance(0.9) ? 1 : 0 }));
    gVas.push(va);
  }
  const cdFlags = () => ({
    HA: config.httu! >= 1 && rng.chance(0.5) ? 1 : 0,
    HD: config.httu === 2 && rng.chance(0.4) ? 1 : 0,
    S: config.stallModel === 0 && rng.chance(0.1) ? 1 : 0, // ILLEGAL under S1STALLD=1: some C_BAD_CD
    R: rng.chance(0.85) ? 1 : 0,
    A: config.termModel === 1 || rng.chance(0.8) ? 1 : 0,
    AFFD: rng.chance(0.2) ? 1 : 0,
    PAN: rng.chance(0.2) ? 1 : 0,
  });
  const eats = () => (config.ats ? rng.pick(['ABT', 'TRANS', 'TRANS'] as const) : 'ABT');
  for (let sid = 1; sid < 16; sid++) {
    const kind = rng.pick(['s1', 's1', 's1-ssid', 's2', 's2', 'nested', 'nested', 'bypass', 'abort'] as const);
    const stalld = config.stallModel === 0 ? (rng.chance(0.5) ? 1 : 0) : 0;
    const common = { S1STALLD: stalld, EATS: eats(), PRIVCFG: rng.pick([0, 0, 2, 3]), INSTCFG: rng.pick([0, 0, 2, 3]) };
    let words: bigint[];
    if (kind === 's1' || kind === 's1-ssid') {
      const n = kind === 's1' ? 0 : 4;
      const table = f.alloc(64 * 2 ** n, Math.max(64, 64 * 2 ** n));
      for (let i = 0; i < 2 ** n; i++) {
        f.writeWords(table + 64 * i, cd(s1, sid * 16 + i, cdFlags()));
        targets.push(table + 64 * i, table + 64 * i + 8);
      }
      words = ste({
        Config: 'S1_TRANS',
        S1ContextPtr: BigInt(table),
        S1CDMax: n,
        S1DSS: rng.pick(['SSID0', 'SSID0', 'BYPASS', 'TERMINATE'] as const),
        STRW: config.hyp && rng.chance(0.2) ? 'EL2' : 'NSEL1',
        ...common,
      });
      maxSsid.set(sid, n ? 2 ** n - 1 : 0);
      vas.set(sid, s1Vas);
    } else if (kind === 's2') {
      words = ste({
        Config: 'S2_TRANS',
        ...s2Fields(s2, sid),
        S2S: config.stallModel === 0 && rng.chance(0.2) ? 1 : 0,
        S2R: rng.chance(0.8) ? 1 : 0,
        ...common,
        EATS: rng.pick(['ABT', 'TRANS'] as const),
      });
      vas.set(sid, s2Vas);
    } else if (kind === 'nested') {
      const split = config.ats && rng.chance(0.3);
      words = guest.install(q, sid, cdFlags(), {
        ...common,
        EATS: split ? 'S1CHK' : common.EATS,
        S2PTW: rng.chance(0.2) ? 1 : 0,
        S1CDMax: rng.chance(0.2) ? 4 : 0,
        S1DSS: 'BYPASS',
      });
      vas.set(sid, gVas);
    } else if (kind === 'bypass') {
      words = ste({ Config: 'BYPASS' });
      vas.set(sid, [RAM_BASE + 0x1000 * rng.int(0, 100)]);
    } else {
      words = ste({ Config: 'ABORT' });
      vas.set(sid, [0x1000]);
    }
    f.writeWords(q.strtab + 64 * sid, words);
    for (let i = 0; i < 4; i++) targets.push(q.strtab + 64 * sid + 8 * i);
  }
  // CR0.ATSCHK on for some seeds (split-stage ATS needs it).
  if (config.ats && rng.chance(0.6)) f.cr0(0b11101);
  return { f, q, vas, targets, maxSsid };
}

function transaction(rng: SeededRng, w: World): Transaction {
  const sid = rng.chance(0.95) ? rng.int(1, 15) : rng.int(0, 40);
  const list = w.vas.get(sid) ?? [0];
  const max = w.maxSsid.get(sid) ?? 0;
  // Mostly mapped addresses, half of them among a few hot pages (so the TLB hits), some random.
  const base = rng.chance(0.5) ? list[rng.int(0, Math.min(3, list.length - 1))]! : rng.pick(list);
  const address = rng.chance(0.9) ? base + rng.int(0, 63) * 8 : rng.pick([rng.int(0, 2 ** 32), rng.int(0, 2 ** 52), GUEST_IPA + rng.int(0, 0xffff) * 4096]);
  const ats = rng.pick([undefined, undefined, undefined, undefined, 'request', 'translated'] as const);
  return {
    sid,
    ssid: max > 0 && rng.chance(0.6) ? rng.int(0, max) : rng.chance(0.03) ? rng.int(0, 20) : undefined,
    address: ats === 'request' ? address - (address % 4096) : address,
    size: ats === 'request' ? 4096 : rng.pick([4, 8, 64]),
    write: rng.chance(0.4),
    privileged: rng.chance(0.2),
    instruction: rng.chance(0.1),
    ats,
  };
}

function check(t: Transaction, r: TranslateResult): void {
  assert.ok(OUTCOMES.has(r.outcome), r.outcome);
  if (r.outcome === 'translated' || r.outcome === 'bypassed') assert.ok(Number.isSafeInteger(r.pa) && r.pa >= 0 && r.pa < 2 ** 52, `pa ${r.pa}`);
  else assert.equal(r.pa, -1);
  if (r.event) assert.ok(r.event in EVENT_IDS);
  if (r.recorded) assert.ok(r.event);
  assert.equal(typeof r.why, 'string');
  if (r.outcome === 'stalled') assert.ok(r.stag! > 0 && r.stag! <= 0xffff);
  if (t.ats === 'request') {
    // IHI0070 3.9.1: no stall and no recorded translation fault for a translation request.
    assert.ok(r.ats, `a request always gets a completion (${r.why})`);
    assert.notEqual(r.outcome, 'stalled');
    assert.ok(!(r.event && TRANSLATION_FAULTS.has(r.event)), `${r.event} for an ATS request`);
    if (r.outcome === 'translated') assert.ok(r.ats.status === 'SC' && (r.ats.r || r.ats.w || r.ats.x));
    if (r.ats.status === 'SC' && !(r.ats.r || r.ats.w || r.ats.x)) seen.atsNone++;
    else if (r.ats.status === 'SC') seen.atsGrants++;
    else if (r.ats.status === 'CA') seen.atsCa++;
    else seen.atsUr++;
  } else assert.equal(r.ats, undefined);
  if (r.outcome === 'translated' && t.ats !== 'request' && (r.path === 's1' || r.path === 's2' || r.path === 'nested' || r.path === 's1-bypass'))
    bump(seen.walks, `${r.path}${r.tlbHit ? '/hit' : '/walk'}`);
  if (r.tlbHit) seen.tlbHits++;
  if (r.outcome === 'stalled') seen.stalls++;
  bump(seen.paths, `${r.path}/${r.outcome}`);
  if (r.event) bump(seen.events, r.event);
}

describe('seeded fuzz over valid, then mutated, tables: never throws, invariants hold, snapshots replay', () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    it(`seed ${seed}`, () => {
      const rng = new SeededRng(seed);
      const config = randomConfig(rng);
      const w = build_world(rng, config);
      const { f, q } = w;
      const offsets = REGISTERS.map((r) => r.absoluteOffset);
      const stags = new Map<number, number>();
      for (let step = 0; step < STEPS; step++) {
        const action = rng.int(0, 99);
        if (action < 6) {
          // Mutation: flip bits of an STE, CD or descriptor dword, sometimes invalidated.
          const at = rng.pick(w.targets);
          f.write64(at, f.read64(at) ^ (1n << BigInt(rng.int(0, 63))));
          seen.mutations++;
          if (rng.chance(0.4))
            submit(f, q, [
              rng.pick([cmd.cfgiAll(), cmd.tlbiNsnhAll(), cmd.cfgiSte(rng.int(1, 15)), build('cmd-TLBI_S12_VMALL', { VMID: rng.int(0, 15) })]),
              cmd.sync(),
            ]);
        } else if (action < 8) {
          submit(f, q, [
            rng.pick([
              cmd.tlbiNhAsid(rng.int(0, 300)),
              cmd.tlbiNhVa(rng.int(0, 300), rng.int(0, 2 ** 20) * 4096),
              build('cmd-CFGI_CD_ALL', { StreamID: rng.int(1, 15) }),
              build('cmd-PREFETCH_CONFIG', { StreamID: rng.int(0, 20) }),
            ]),
            cmd.sync(),
          ]);
        } else if (action < 9 && stags.size > 0) {
          const [stag, sid] = rng.pick([...stags]);
          stags.delete(stag);
          submit(f, q, [build('cmd-RESUME', { StreamID: sid, STAG: stag, Ac: rng.int(0, 1), Ab: rng.int(0, 1) }), cmd.sync()], { run: rng.chance(0.8) });
        } else if (action < 10) {
          // Any register, any value; mostly harmless to a running SMMU (guards), sometimes not.
          f.smmu.mmioWrite(rng.pick(offsets), rng.chance(0.8) ? 4 : 8, BigInt(rng.nextU32()) | (BigInt(rng.nextU32()) << 32n));
        } else if (action < 12) {
          f.clock.advance(rng.int(0, 500));
        } else if (action < 13) {
          // Drain the event queue as software would, so records keep landing.
          const cons = f.field('EVENTQ_PROD', 'WR') | (f.field('EVENTQ_PROD', 'OVFLG') << 31);
          f.w('EVENTQ_CONS', cons);
        } else {
          const t = transaction(rng, w);
          const r = action < 18 ? f.smmu.dma(t, t.write ? new Uint8Array(t.size) : undefined).translations.at(-1)! : f.smmu.translate(t);
          check(t, r);
          if (r.outcome === 'stalled') stags.set(r.stag!, t.sid);
        }
      }
      f.clock.runUntilIdle(1_000_000);
      // Invariants.
      const c = f.smmu.counters;
      assert.equal(c.translated + c.bypassed + c.aborted + c.razWi + c.stalled, c.transactions, 'every transaction has exactly one outcome');
      const gerrorDefined = ~findRegister('GERROR')!.res0Masks[0]! & 0xffffffffn;
      assert.equal(f.reg('GERROR') & ~gerrorDefined, 0n, 'GERROR only toggles architected bits');
      const fates = new Map<string, number>();
      for (const e of f.smmu.events()) fates.set(e.fate, (fates.get(e.fate) ?? 0) + 1);
      assert.equal(fates.get('disabled') ?? 0, c.eventsDroppedDisabled);
      assert.equal(fates.get('overflow') ?? 0, c.eventsDroppedOverflow);
      assert.equal(fates.get('sfm') ?? 0, c.eventsDroppedSfm);
      assert.ok((fates.get('written') ?? 0) <= c.eventsWritten, 'buffered stall records may be written later');
      const stats = f.smmu.cacheStats();
      for (const k of ['l1std', 'ste', 'l1cd', 'cd'] as const) assert.ok(stats[k].size <= f.smmu.config.configCacheEntries, `${k} within its bound`);
      assert.ok(stats.tlb.size <= f.smmu.config.tlbEntries, 'TLB within its bound');
      assert.ok(f.memory.backedBytes() <= 48 * 1024 * 1024, 'backing bound respected');
      for (const v of f.smmu.violations()) assert.ok(v.rule.length > 0 && v.section.startsWith('IHI0070'));
      // A snapshot of whatever the fuzz left replays like the original.
      const clock = new VirtualClock();
      clock.advanceTo(f.clock.now());
      const memory = PhysicalMemory.restore(JSON.parse(JSON.stringify(f.memory.snapshot())), clock);
      const copy = SmmuV3.restore(clock, memory, JSON.parse(JSON.stringify(f.smmu.snapshot())));
      const replay = new SeededRng(seed * 7919);
      for (let i = 0; i < 60; i++) {
        const t = transaction(replay, w);
        assert.deepEqual(copy.translate(t), f.smmu.translate(t), `replay ${i} of seed ${seed}`);
      }
      assert.deepEqual(copy.cacheStats(), f.smmu.cacheStats());
      assert.deepEqual(copy.counters, f.smmu.counters);
    });
  }

  it('coverage: the run reached stage-1, stage-2 and nested walks, TLB hits, several fault kinds, stalls and ATS completions', () => {
    const walks = Object.fromEntries(seen.walks);
    for (const k of ['s1/walk', 's1/hit', 's2/walk', 's2/hit', 'nested/walk', 'nested/hit'])
      assert.ok((walks[k] ?? 0) >= 5, `${k}: ${walks[k] ?? 0} in ${JSON.stringify(walks)}`);
    assert.ok(seen.tlbHits >= 200, `TLB hits: ${seen.tlbHits}`);
    const faults = [
      'F_TRANSLATION',
      'F_PERMISSION',
      'F_ACCESS',
      'F_ADDR_SIZE',
      'C_BAD_STE',
      'C_BAD_CD',
      'C_BAD_SUBSTREAMID',
      'F_STREAM_DISABLED',
      'F_BAD_ATS_TREQ',
      'F_TRANSL_FORBIDDEN',
    ];
    const reached = faults.filter((e) => (seen.events.get(e) ?? 0) > 0);
    assert.ok(reached.length >= 8, `fault kinds reached: ${reached.join(', ')}`);
    assert.ok(seen.stalls > 0, 'stalls');
    assert.ok(
      seen.atsGrants > 0 && seen.atsNone > 0 && seen.atsUr > 0,
      `ATS completions: ${seen.atsGrants} grants, ${seen.atsNone} R=W=0, ${seen.atsCa} CA, ${seen.atsUr} UR`,
    );
    assert.ok(seen.mutations > 100, 'mutations');
  });
});
