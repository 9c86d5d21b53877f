// SPDX-License-Identifier: Apache-2.0
// The translation flow of the domain notes section 7, step by step: StreamID range, linear and
// 2-level stream tables, STE configs and ILLEGAL rules, substreams and CD tables, stage-1 and
// stage-2 walks for every granule and start level, nested, faults with their records, stall,
// RAZ/WI, HTTU, ATS.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findFormat, STE } from '@kdump-twin/smmu-arch';
import {
  bringUp,
  build,
  cd,
  drainEvents,
  eventName,
  fixture,
  GUEST_IPA,
  HOLE_BASE,
  l1cd,
  l1std,
  NestedGuest,
  PageTables,
  RAM_BASE,
  s2Fields,
  ste,
  submit,
  cmd,
  type Fixture,
  type Queues,
} from '../testing/fixture';

const EVT = (name: string) => findFormat(`evt-${name}`)!;
const rd = (sid: number, address: number, extra: object = {}) => ({ sid, address, size: 4, write: false, ...extra });
const wr = (sid: number, address: number, extra: object = {}) => ({ sid, address, size: 4, write: true, ...extra });

function s1Stream(f: Fixture, q: Queues, sid: number, pt: PageTables, asid = 1, cdExtra = {}, steExtra = {}): number {
  const cdAddr = f.alloc(64, 64);
  f.writeWords(cdAddr, cd(pt, asid, cdExtra));
  f.writeWords(
    q.strtab + 64 * sid,
    ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(cdAddr), S1CIR: 'WBRA', S1COR: 'WBRA', S1CSH: 'ISH', S1STALLD: 1, ...steExtra }),
  );
  return cdAddr;
}

describe('StreamID range and stream table formats (IHI0070 3.3; domain notes 2)', () => {
  it('a StreamID at or above 2^LOG2SIZE aborts with C_BAD_STREAMID when CR2.RECINVSID=1', () => {
    const f = fixture();
    const q = bringUp(f, { strtabLog2: 4 });
    const r = f.smmu.translate(rd(16, 0));
    assert.equal(r.outcome, 'aborted');
    assert.equal(r.event, 'C_BAD_STREAMID');
    assert.deepEqual(drainEvents(f, q).map(eventName), ['C_BAD_STREAMID']);
  });

  it('without RECINVSID the abort records nothing', () => {
    const f = fixture();
    const q = bringUp(f, { strtabLog2: 4, recinvsid: false });
    const r = f.smmu.translate(rd(16, 0));
    assert.equal(r.outcome, 'aborted');
    assert.equal(r.recorded, false);
    assert.equal(drainEvents(f, q).length, 0);
  });

  it('Config=abort aborts silently; Config=bypass passes the address through', () => {
    const f = fixture();
    const q = bringUp(f);
    const r = f.smmu.translate(rd(5, 0x8000_0000));
    assert.equal(r.outcome, 'aborted');
    assert.equal(r.path, 'ste-abort');
    assert.equal(r.event, undefined);
    f.writeWords(q.strtab + 64 * 6, ste({ Config: 'BYPASS', SHCFG: 'USE_INCOMING' }));
    const b = f.smmu.translate(wr(6, 0x8123_4560));
    assert.equal(b.outcome, 'bypassed');
    assert.equal(b.pa, 0x8123_4560);
    assert.equal(b.ste?.address, q.strtab + 64 * 6);
    assert.equal(b.ste?.epoch, 'primary');
    assert.equal(b.ste?.writer, 'primary-cpu');
  });

  for (const split of [6, 8, 10]) {
    it(`2-level stream table with SPLIT=${split}: L1STD then the STE at L2Ptr + index*64`, () => {
      const f = fixture();
      const q = bringUp(f, { strtabLog2: 16, twoLevel: { split } });
      const sid = 3 * 2 ** split + 5;
      const l2 = f.alloc(64 * 2 ** split, 64 * 2 ** split);
      f.writeWords(l2 + 64 * 5, ste({ Config: 'BYPASS' }));
      f.writeWords(q.strtab + 8 * 3, l1std(l2, split + 1));
      assert.equal(f.smmu.translate(rd(sid, 0x8000_0040)).outcome, 'bypassed');
      // Another L1 index has Span=0: every SID under it is invalid.
      const r = f.smmu.translate(rd(4 * 2 ** split, 0));
      assert.equal(r.event, 'C_BAD_STREAMID');
    });
  }

  it('an L2 index beyond a short span is C_BAD_STREAMID (not C_BAD_STE as QEMU reports)', () => {
    const f = fixture();
    const q = bringUp(f, { strtabLog2: 16, twoLevel: { split: 8 } });
    const l2 = f.alloc(64 * 4, 256);
    f.writeWords(q.strtab, l1std(l2, 3)); // 4 STEs
    f.writeWords(l2 + 64 * 3, ste({ Config: 'BYPASS' }));
    assert.equal(f.smmu.translate(rd(3, 0)).outcome, 'bypassed');
    assert.equal(f.smmu.translate(rd(4, 0)).event, 'C_BAD_STREAMID');
  });

  it('a stream table in an unbacked hole gives F_STE_FETCH with FetchAddr', () => {
    const f = fixture({ ackDelayNs: 0 });
    const q = bringUp(f, { enable: false });
    f.w('STRTAB_BASE', HOLE_BASE);
    f.cr0(0b1101);
    const r = f.smmu.translate(rd(2, 0));
    assert.equal(r.event, 'F_STE_FETCH');
    const [rec] = drainEvents(f, q);
    assert.equal(EVT('F_STE_FETCH').get(rec!, 'FetchAddr'), BigInt(HOLE_BASE + 128));
  });
});

describe('STE validity (IHI0070 5.2; domain notes 3 "Validity rules")', () => {
  // Each case breaks exactly one rule, and the test checks that rule is the one reported (`why`):
  // with another rule deleted the case would otherwise still pass on a different rule.
  // A valid 4K stage-2 base: 40-bit IPA (S2T0SZ=24) from level 1 with two concatenated tables.
  const s2ok = { Config: 'S2_TRANS', S2T0SZ: 24, S2SL0: 1, S2AA64: 1, S2TTB: BigInt(RAM_BASE) };
  const cases: [string, object, Record<string, string | number | bigint>, RegExp][] = [
    ['V=0', {}, { V: 0 }, /^STE V=0$/],
    ['S1STALLD=1 with STALL_MODEL=1', { stallModel: 1 }, { Config: 'S1_TRANS', S1STALLD: 1 }, /S1STALLD=1 while IDR0\.STALL_MODEL != 0/],
    ['STRW=0b01', {}, { Config: 'S1_TRANS', STRW: 1 }, /STRW=0bx1/],
    ['S1CDMax above SSIDSIZE', { ssidBits: 4 }, { Config: 'S1_TRANS', S1CDMax: 5 }, /S1CDMax=5 above IDR1\.SSIDSIZE=4/],
    ['S1Fmt 2-level without CD2L', { twoLevelCd: false }, { Config: 'S1_TRANS', S1CDMax: 4, S1Fmt: 'L2_4K' }, /IDR0\.CD2L=0/],
    ['stage 2 without S2P', { stage2: false }, { ...s2ok }, /IDR0\.S2P=0/],
    // 64K granule, 49-bit IPA from level 1 (7 index bits): only S2T0SZ < 64-IAS (16) is wrong.
    ['S2T0SZ below 64-IAS', {}, { ...s2ok, S2TG: 'G64K', S2T0SZ: 15, S2SL0: 2 }, /S2T0SZ=15 outside 16\.\.39/],
    ['S2T0SZ above 39', {}, { ...s2ok, S2T0SZ: 40, S2SL0: 0 }, /S2T0SZ=40 outside/],
    ['S2AA64=0', {}, { ...s2ok, S2AA64: 0 }, /S2AA64=0/],
    ['S2SL0 inconsistent (48-bit IPA from level 2)', {}, { ...s2ok, S2T0SZ: 16, S2SL0: 0 }, /S2SL0=0 inconsistent with S2T0SZ=16/],
    ['S2SL0=3 reserved', {}, { ...s2ok, S2SL0: 3 }, /S2SL0=3 inconsistent/],
    ['S2TG reserved', {}, { ...s2ok, S2TG: 3 }, /S2TG=3 is reserved/],
    ['S2TG not in IDR5', { granules: { '16k': false } }, { ...s2ok, S2TG: 'G16K' }, /S2TG=2 is reserved or not supported/],
    ['S2TTB beyond S2PS', {}, { ...s2ok, S2PS: 'PA32', S2TTB: 0x1_0000_0000n }, /S2TTB=0x100000000 outside the effective S2PS/],
    ['S2HA without HTTU', { httu: 0 }, { ...s2ok, S2HA: 1 }, /S2HA\/S2HD set without IDR0\.HTTU/],
    ['S2S=1 with STALL_MODEL=1', { stallModel: 1 }, { ...s2ok, S2S: 1 }, /S2S=1 while IDR0\.STALL_MODEL=1/],
    ['EATS=0b01 with S2S=1 and stage 2 on', {}, { ...s2ok, EATS: 'TRANS', S2S: 1 }, /EATS=0b01 \(full ATS\) with S2S=1 and stage 2 enabled/],
    ['EATS=0b10 without Config=0b111', {}, { ...s2ok, EATS: 'S1CHK' }, /EATS=0b10 \(split-stage ATS\) needs Config=0b111/],
    ['EATS=0b10 with S2S=1', {}, { ...s2ok, Config: 'NESTED', EATS: 'S1CHK', S2S: 1 }, /EATS=0b10 \(split-stage ATS\) with S2S=1/],
    ['EATS=0b10 with IDR0.NS1ATS=1', { splitStageAts: false }, { ...s2ok, Config: 'NESTED', EATS: 'S1CHK' }, /IDR0\.NS1ATS=1/],
    ['S2VMID above 8 bits without VMID16', { vmid16: false }, { ...s2ok, S2VMID: 0x100 }, /S2VMID\[15:8\]/],
  ];
  for (const [name, config, fields, why] of cases) {
    it(`C_BAD_STE: ${name}`, () => {
      const f = fixture(config);
      const q = bringUp(f);
      f.writeWords(q.strtab + 64 * 9, ste(fields));
      const r = f.smmu.translate(rd(9, 0x1000));
      assert.equal(r.outcome, 'aborted');
      assert.equal(r.event, 'C_BAD_STE', r.why);
      assert.match(r.why, why);
    });
  }

  it('the valid base of those cases is valid (so each case breaks only its own rule)', () => {
    const f = fixture();
    const q = bringUp(f);
    f.writeWords(q.strtab + 64 * 9, ste(s2ok));
    assert.equal(f.smmu.translate(rd(9, 0x1000)).event, 'F_TRANSLATION', 'reaches the (empty) stage-2 walk');
  });

  it('EATS=0b01 with S2S=1 and stage 2 bypassed is not ILLEGAL from v3.1 (CONSTRAINED UNPREDICTABLE; Arm recommends no check), but is in v3.0', () => {
    const pt = (f: Fixture) => new PageTables(f, 1, '4k', 48);
    for (const [config, expected] of [
      [{}, 'F_TRANSLATION'],
      [{ archMinor: 0, ril: false }, 'C_BAD_STE'],
    ] as const) {
      const f = fixture(config);
      const q = bringUp(f);
      s1Stream(f, q, 9, pt(f), 1, {}, { EATS: 'TRANS', S2S: 1 });
      assert.equal(f.smmu.translate(rd(9, 0x1000)).event, expected, JSON.stringify(config));
    }
  });

  it('EATS=0b11 (DPT) without IDR3.DPT behaves as 0b00: valid STE, ATS requests refused (IHI0070 5.2 EATS)', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    pt.map(0x1000, 0x8800_0000);
    s1Stream(f, q, 9, pt, 1, {}, { EATS: 3 });
    assert.equal(f.smmu.translate(rd(9, 0x1000)).outcome, 'translated');
    assert.equal(f.smmu.translate({ ...rd(9, 0x1000), ats: 'request' }).ats?.status, 'UR');
  });
});

describe('stage-1 walks: every granule and start level (Arm ARM D8.2; domain notes 7 step 7)', () => {
  const walks: [string, '4k' | '16k' | '64k', number, number][] = [
    // granule, T0SZ, expected start level
    ['4K 48-bit: 4 levels from L0', '4k', 16, 0],
    ['4K 39-bit: 3 levels from L1', '4k', 25, 1],
    ['4K 30-bit: 2 levels from L2', '4k', 34, 2],
    ['16K 48-bit: from L0 (1 index bit)', '16k', 16, 0],
    ['16K 47-bit: from L1', '16k', 17, 1],
    ['16K 36-bit: from L2', '16k', 28, 2],
    ['64K 48-bit: from L1', '64k', 16, 1],
    ['64K 42-bit: from L2', '64k', 22, 2],
  ];
  for (const [name, granule, t0sz, start] of walks) {
    it(name, () => {
      const f = fixture();
      const q = bringUp(f);
      const pt = new PageTables(f, 1, granule, 64 - t0sz);
      assert.equal(pt.startLevel, start);
      const g = { '4k': 4096, '16k': 16384, '64k': 65536 }[granule];
      const va = 2 ** (64 - t0sz) - 3 * g; // near the top: exercises every index bit
      const pa = 0x8800_0000 + 7 * g;
      pt.map(va, pa);
      s1Stream(f, q, 4, pt, 42);
      const r = f.smmu.translate(wr(4, va + 0x18));
      assert.equal(r.outcome, 'translated', r.why);
      assert.equal(r.pa, pa + 0x18);
      assert.match(r.why, /level 3/);
      // Second access hits the TLB.
      const r2 = f.smmu.translate(rd(4, va + 0x20));
      assert.equal(r2.tlbHit, true);
      assert.equal(r2.pa, pa + 0x20);
    });
  }

  const blocks: [string, '4k' | '16k' | '64k', number, number][] = [
    ['4K level-1 block (1 GiB)', '4k', 1, 30],
    ['4K level-2 block (2 MiB)', '4k', 2, 21],
    ['16K level-2 block (32 MiB)', '16k', 2, 25],
    ['64K level-2 block (512 MiB)', '64k', 2, 29],
  ];
  for (const [name, granule, level, shift] of blocks) {
    it(name, () => {
      const f = fixture();
      const q = bringUp(f);
      const pt = new PageTables(f, 1, granule, 48);
      const va = 2 ** 40 + 2 ** shift * 3;
      const pa = 2 ** 33 + 2 ** shift * 5; // inside the 48-bit OAS; translation only, no access
      pt.map(va, pa, level);
      s1Stream(f, q, 1, pt, 1);
      const off = 2 ** shift - 8;
      const r = f.smmu.translate(rd(1, va + off));
      assert.equal(r.pa, pa + off, r.why);
      assert.match(r.why, new RegExp(`level ${level}`));
    });
  }
});

describe('stage-1 faults and their records (IHI0070 7.3; domain notes 6 and 7)', () => {
  function setup(cdExtra = {}, config = {}) {
    const f = fixture(config);
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    s1Stream(f, q, 8, pt, 3, cdExtra);
    return { f, q, pt };
  }

  it('F_TRANSLATION for an invalid descriptor: S2=0, CLASS=IN, InputAddr, RnW', () => {
    const { f, q } = setup();
    const r = f.smmu.translate(rd(8, 0x1234_5000));
    assert.equal(r.event, 'F_TRANSLATION');
    assert.equal(r.outcome, 'aborted');
    const [rec] = drainEvents(f, q);
    const e = EVT('F_TRANSLATION');
    assert.equal(e.get(rec!, 'InputAddr'), 0x1234_5000n);
    assert.equal(e.get(rec!, 'CLASS'), 2n);
    assert.equal(e.get(rec!, 'S2'), 0n);
    assert.equal(e.get(rec!, 'RnW'), 1n);
    assert.equal(e.get(rec!, 'StreamID'), 8n);
  });

  it('F_TRANSLATION for an input address outside the TTB0 region (T0SZ)', () => {
    const { f } = setup();
    assert.equal(f.smmu.translate(rd(8, 2 ** 48)).event, 'F_TRANSLATION');
  });

  it('F_ADDR_SIZE when a leaf output address is above the effective IPS', () => {
    const { f, q } = setup({ IPS: 'PA32' });
    const pt = new PageTables(f, 1, '4k', 48);
    // Re-point the CD at tables whose leaf is above 4 GiB.
    pt.map(0x1000, 0x1_0000_0000);
    s1Stream(f, q, 8, pt, 3, { IPS: 'PA32' });
    assert.equal(f.smmu.translate(rd(8, 0x1000)).event, 'F_ADDR_SIZE');
  });

  it('F_ACCESS when AF=0 without HA/AFFD; with AFFD the access proceeds', () => {
    const { f, pt } = setup();
    pt.map(0x5000, 0x8800_0000, 3, { AF: 0 });
    assert.equal(f.smmu.translate(rd(8, 0x5000)).event, 'F_ACCESS');
    const g = setup({ AFFD: 1 });
    g.pt.map(0x5000, 0x8800_0000, 3, { AF: 0 });
    assert.equal(g.f.smmu.translate(rd(8, 0x5000)).outcome, 'translated');
  });

  it('HA sets the access flag in memory, written by the SMMU', () => {
    const { f, pt } = setup({ HA: 1 });
    const at = pt.map(0x6000, 0x8800_0000, 3, { AF: 0 });
    assert.equal(f.smmu.translate(rd(8, 0x6000)).outcome, 'translated');
    assert.equal((f.read64(at) >> 10n) & 1n, 1n);
    assert.equal(f.memory.lastWriteAt(at)?.writer.kind, 'smmu');
  });

  it('F_PERMISSION for a write to a read-only page; HD with DBM makes it writable by clearing AP[2]', () => {
    const { f, pt } = setup();
    pt.map(0x7000, 0x8800_0000, 3, { AP: 'RO_ANY' });
    assert.equal(f.smmu.translate(rd(8, 0x7000)).outcome, 'translated');
    assert.equal(f.smmu.translate(wr(8, 0x7000)).event, 'F_PERMISSION');
    const g = setup({ HA: 1, HD: 1 });
    const at = g.pt.map(0x7000, 0x8800_0000, 3, { AP: 'RO_ANY', DBM: 1 });
    assert.equal(g.f.smmu.translate(rd(8, 0x7000)).outcome, 'translated', 'read: clean, no update');
    assert.equal((g.f.read64(at) >> 7n) & 1n, 1n);
    assert.equal(g.f.smmu.translate(wr(8, 0x7000)).outcome, 'translated', 'write: the cached read-only entry re-walks');
    assert.equal((g.f.read64(at) >> 7n) & 1n, 0n, 'AP[2] cleared: dirty');
  });

  it('AP[1]: an unprivileged access to an EL1-only page faults, a privileged one passes; STE.PRIVCFG overrides', () => {
    const { f, q, pt } = setup();
    pt.map(0x9000, 0x8800_0000, 3, { AP: 'RW_EL1' });
    assert.equal(f.smmu.translate(rd(8, 0x9000)).event, 'F_PERMISSION');
    assert.equal(f.smmu.translate(rd(8, 0x9000, { privileged: true })).outcome, 'translated');
    pt.map(0xb000, 0x8800_0000, 3, { AP: 'RO_EL1' });
    assert.equal(f.smmu.translate(wr(8, 0xb000, { privileged: true })).event, 'F_PERMISSION', 'AP[2]=1: read-only at EL1 too');
    assert.equal(f.smmu.translate(rd(8, 0xb000, { privileged: true })).outcome, 'translated');
    const cdAddr = f.alloc(64, 64);
    f.writeWords(cdAddr, cd(pt, 3));
    f.writeWords(q.strtab + 64 * 10, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(cdAddr), S1STALLD: 1, PRIVCFG: 'PRIVILEGED' }));
    assert.equal(f.smmu.translate(rd(10, 0x9000)).outcome, 'translated');
  });

  it('UXN forbids an unprivileged instruction fetch; a data read of the same page passes', () => {
    const { f, pt } = setup();
    pt.map(0xa000, 0x8800_0000, 3, { UXN: 1 });
    assert.equal(f.smmu.translate(rd(8, 0xa000, { instruction: true })).event, 'F_PERMISSION');
    assert.equal(f.smmu.translate(rd(8, 0xa000)).outcome, 'translated');
  });

  it('APTable=NO_WRITE in a table descriptor removes write permission below it', () => {
    const { f, pt } = setup();
    pt.map(0x40_0000_0000, 0x8800_0000, 3, {}, { APTable: 'NO_WRITE' });
    assert.equal(f.smmu.translate(wr(8, 0x40_0000_0000)).event, 'F_PERMISSION');
  });

  it('R=0 terminates without a record; A=0 with TERM_MODEL=0 is RAZ/WI', () => {
    const { f, q } = setup({ R: 0 });
    const r = f.smmu.translate(rd(8, 0x1000));
    assert.equal(r.outcome, 'aborted');
    assert.equal(r.recorded, false);
    assert.equal(drainEvents(f, q).length, 0);
    const g = setup({ A: 0 });
    assert.equal(g.f.smmu.translate(rd(8, 0x1000)).outcome, 'raz-wi');
  });

  it('a table in an unbacked hole gives F_WALK_EABT with CLASS=TT... recorded even when R=0', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    f.write64(pt.root, BigInt(HOLE_BASE) | 3n); // L0 table descriptor pointing into the hole
    s1Stream(f, q, 8, pt, 3, { R: 0 });
    const r = f.smmu.translate(rd(8, 0x1000));
    assert.equal(r.event, 'F_WALK_EABT');
    assert.equal(r.recorded, true);
    const [rec] = drainEvents(f, q);
    assert.equal(EVT('F_WALK_EABT').get(rec!, 'FetchAddr'), BigInt(HOLE_BASE));
  });

  it('CD.S=1 stalls: Stall=1 and STAG in the record; CMD_RESUME retries the transaction afresh', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    s1Stream(f, q, 8, pt, 3, { S: 1 }, { S1STALLD: 0 });
    const r = f.smmu.translate(rd(8, 0x2000));
    assert.equal(r.outcome, 'stalled');
    const [rec] = drainEvents(f, q);
    const e = EVT('F_TRANSLATION');
    assert.equal(e.get(rec!, 'Stall'), 1n);
    assert.equal(Number(e.get(rec!, 'STAG')), r.stag);
    pt.map(0x2000, 0x8800_0000);
    const resolved: string[] = [];
    f.smmu.onStallResolved((s) => resolved.push(`${s.how}:${s.result.outcome}:${s.result.pa}`));
    submit(f, q, [[0x44n | (1n << 12n) | (8n << 32n), BigInt(r.stag!)], cmd.sync()]);
    assert.deepEqual(resolved, [`retry:translated:${0x8800_0000}`]);
  });
});

describe('substreams and CD tables (IHI0070 3.3.3, 5.4; domain notes 2.4 and 7 step 5)', () => {
  function cdTable(fmt: 'linear' | 'L2_4K' | 'L2_64K') {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    pt.map(0x1000, 0x8900_0000);
    const cdMax = 12;
    let root: number;
    let cdAt: (ssid: number) => number;
    if (fmt === 'linear') {
      root = f.alloc(64 * 2 ** cdMax, 64 * 2 ** cdMax);
      cdAt = (ssid) => root + 64 * ssid;
    } else {
      const split = fmt === 'L2_4K' ? 6 : 10;
      root = f.alloc(8 * 2 ** (cdMax - split), 64);
      const l2s = new Map<number, number>();
      cdAt = (ssid) => {
        const idx = ssid >> split;
        if (!l2s.has(idx)) {
          const l2 = f.alloc(64 * 2 ** split, 64 * 2 ** split);
          l2s.set(idx, l2);
          f.writeWords(root + 8 * idx, l1cd(l2));
        }
        return l2s.get(idx)! + 64 * (ssid % 2 ** split);
      };
    }
    f.writeWords(
      q.strtab + 64 * 2,
      ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(root), S1CDMax: cdMax, S1Fmt: fmt === 'linear' ? 'LINEAR' : fmt, S1DSS: 'SSID0', S1STALLD: 1 }),
    );
    return { f, q, pt, cdAt };
  }

  for (const fmt of ['linear', 'L2_4K', 'L2_64K'] as const) {
    it(`${fmt}: CD 0 serves transactions without SSID (S1DSS=SSID0); SSID n uses its own CD`, () => {
      const { f, pt, cdAt } = cdTable(fmt);
      const other = new PageTables(f, 1, '4k', 48);
      other.map(0x1000, 0x8a00_0000);
      f.writeWords(cdAt(0), cd(pt, 1));
      f.writeWords(cdAt(1500), cd(other, 2));
      assert.equal(f.smmu.translate(rd(2, 0x1000)).pa, 0x8900_0000);
      assert.equal(f.smmu.translate(rd(2, 0x1000, { ssid: 1500 })).pa, 0x8a00_0000);
      assert.equal(f.smmu.translate(rd(2, 0x1000, { ssid: 0 })).event, 'F_STREAM_DISABLED', 'SSID 0 with S1DSS=SSID0');
      assert.equal(f.smmu.translate(rd(2, 0x1000, { ssid: 4096 })).event, 'C_BAD_SUBSTREAMID', 'SSID >= 2^S1CDMax');
      // SSID 1499 shares its leaf table with SSID 1500 in every format, but its CD was never
      // written: V=0, C_BAD_CD.
      const r = f.smmu.translate(rd(2, 0x1000, { ssid: 1499 }));
      assert.equal(r.event, 'C_BAD_CD', r.why);
      assert.match(r.why, /^CD V=0$/);
      // SSID 3000's leaf table was never installed: its L1CD is V=0 under the 2-level formats
      // (C_BAD_SUBSTREAMID, IHI0070 5.2 S1Fmt); a linear table just holds another empty CD.
      const l1 = { L2_4K: 3000 >> 6, L2_64K: 3000 >> 10 } as Record<string, number>;
      const far = f.smmu.translate(rd(2, 0x1000, { ssid: 3000 }));
      assert.equal(far.event, fmt === 'linear' ? 'C_BAD_CD' : 'C_BAD_SUBSTREAMID', far.why);
      if (fmt !== 'linear') assert.match(far.why, new RegExp(`L1CD ${l1[fmt]} has V=0`));
    });
  }

  it('an L1CD with V=0 gives C_BAD_SUBSTREAMID', () => {
    const { f } = cdTable('L2_64K');
    assert.equal(f.smmu.translate(rd(2, 0x1000, { ssid: 3000 })).event, 'C_BAD_SUBSTREAMID');
  });

  it('S1DSS=terminate gives F_STREAM_DISABLED; S1DSS=bypass passes through', () => {
    const f = fixture();
    const q = bringUp(f);
    const t = f.alloc(64 * 16, 1024);
    f.writeWords(q.strtab + 64 * 3, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(t), S1CDMax: 4, S1DSS: 'TERMINATE', S1STALLD: 1 }));
    f.writeWords(q.strtab + 64 * 4, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(t), S1CDMax: 4, S1DSS: 'BYPASS', S1STALLD: 1 }));
    assert.equal(f.smmu.translate(rd(3, 0x1000)).event, 'F_STREAM_DISABLED');
    const b = f.smmu.translate(rd(4, 0x8000_1000));
    assert.equal(b.outcome, 'bypassed');
    assert.equal(b.path, 's1-bypass');
  });

  it('an SSID with S1CDMax=0 is C_BAD_SUBSTREAMID; so is an SSID on a bypass STE', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    s1Stream(f, q, 5, pt, 1);
    assert.equal(f.smmu.translate(rd(5, 0x1000, { ssid: 1 })).event, 'C_BAD_SUBSTREAMID');
    f.writeWords(q.strtab + 64 * 6, ste({ Config: 'BYPASS' }));
    assert.equal(f.smmu.translate(rd(6, 0x1000, { ssid: 1 })).event, 'C_BAD_SUBSTREAMID');
  });

  it('a CD in an unbacked hole gives F_CD_FETCH; an ILLEGAL CD gives C_BAD_CD', () => {
    const f = fixture({ termModel: 1 });
    const q = bringUp(f);
    f.writeWords(q.strtab + 64 * 5, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(HOLE_BASE + 64), S1STALLD: 1 }));
    assert.equal(f.smmu.translate(rd(5, 0)).event, 'F_CD_FETCH');
    const pt = new PageTables(f, 1, '4k', 48);
    s1Stream(f, q, 6, pt, 1, { A: 0 }); // A=0 is ILLEGAL with TERM_MODEL=1
    assert.equal(f.smmu.translate(rd(6, 0)).event, 'C_BAD_CD');
    s1Stream(f, q, 7, pt, 1, { T0SZ: 40 });
    assert.equal(f.smmu.translate(rd(7, 0)).event, 'C_BAD_CD');
  });
});

describe('stage 2 and nested (IHI0070 3.4; domain notes 7 step 8)', () => {
  it('S2-only: SL0=1 with S2T0SZ=24 concatenates two level-1 tables (4K)', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 2, '4k', 40, 1);
    const ipa = 2 ** 39 + 0x5000; // index in the second concatenated table
    pt.map(ipa, 0x8900_0000);
    f.writeWords(q.strtab + 64 * 12, ste({ Config: 'S2_TRANS', ...s2Fields(pt, 7) }));
    const r = f.smmu.translate(wr(12, ipa + 4));
    assert.equal(r.outcome, 'translated', r.why);
    assert.equal(r.pa, 0x8900_0004);
  });

  it('a stage-2 permission fault records S2=1 and the IPA', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 2, '64k', 48, 1);
    pt.map(0x3_0000, 0x8900_0000, 3, { S2AP: 'READ' });
    f.writeWords(q.strtab + 64 * 12, ste({ Config: 'S2_TRANS', ...s2Fields(pt, 7) }));
    assert.equal(f.smmu.translate(rd(12, 0x3_0010)).outcome, 'translated');
    const r = f.smmu.translate(wr(12, 0x3_0010));
    assert.equal(r.event, 'F_PERMISSION');
    const [rec] = drainEvents(f, q);
    assert.equal(EVT('F_PERMISSION').get(rec!, 'S2'), 1n);
    assert.equal(EVT('F_PERMISSION').get(rec!, 'IPA'), 0x3_0000n);
  });

  it('nested: stage-1 tables and CDs live in IPA space and are translated by stage 2', () => {
    const f = fixture();
    const q = bringUp(f);
    // Guest "physical" (IPA) space: IPA = PA - 0x4000_0000 for the guest's RAM window.
    const s2 = new PageTables(f, 2, '4k', 40, 1);
    const guestBase = 0x8000_0000; // PA of IPA 0x4000_0000
    for (let i = 0; i < 64; i++) s2.map(0x4000_0000 + i * 0x20_0000, guestBase + i * 0x20_0000, 2); // 128 MiB of 2 MiB blocks
    const toIpa = (pa: number) => pa - guestBase + 0x4000_0000;
    const s1 = new PageTables(f, 1, '4k', 48);
    const dataPa = f.alloc(4096);
    // Stage-1 tables must hold IPAs: build them, then rewrite each table pointer as an IPA.
    const leafAt = s1.map(0x7000, toIpa(dataPa));
    void leafAt;
    // Fix up table pointers level by level (the builder wrote PAs).
    const fix = (table: number, level: number) => {
      for (let i = 0; i < 512; i++) {
        const d = f.read64(table + 8 * i);
        if ((d & 3n) === 3n && level < 3) {
          const next = Number(d & 0x0000_ffff_ffff_f000n);
          fix(next, level + 1);
          f.write64(table + 8 * i, (d & ~0x0000_ffff_ffff_f000n) | BigInt(toIpa(next)));
        }
      }
    };
    fix(s1.root, 0);
    const cdPa = f.alloc(64, 64);
    const words = cd(s1, 9);
    // TTB0 as an IPA.
    words[1] = BigInt(toIpa(s1.root));
    f.writeWords(cdPa, words);
    f.writeWords(q.strtab + 64 * 20, ste({ Config: 'NESTED', S1ContextPtr: BigInt(toIpa(cdPa)), S1STALLD: 1, ...s2Fields(s2, 3) }));
    const r = f.smmu.translate(wr(20, 0x7010));
    assert.equal(r.outcome, 'translated', r.why);
    assert.equal(r.path, 'nested');
    assert.equal(r.pa, dataPa + 0x10);
  });
});

describe('ATS (IHI0070 3.9; domain notes 6.2 F_TRANSL_FORBIDDEN, F_BAD_ATS_TREQ)', () => {
  it('translated traffic passes unchecked with ATSCHK=0 and is checked against STE.EATS with ATSCHK=1', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    s1Stream(f, q, 8, pt, 1); // EATS=0
    const t = { sid: 8, address: 0x8800_0000, size: 64, write: true, ats: 'translated' as const };
    assert.equal(f.smmu.translate(t).outcome, 'bypassed');
    f.cr0(0b11101); // + ATSCHK
    const r = f.smmu.translate(t);
    assert.equal(r.event, 'F_TRANSL_FORBIDDEN');
    s1Stream(f, q, 9, pt, 1, {}, { EATS: 'TRANS' });
    assert.equal(f.smmu.translate({ ...t, sid: 9 }).outcome, 'bypassed');
  });

  it('a translation request with EATS=0 gets UR and F_BAD_ATS_TREQ', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    s1Stream(f, q, 8, pt, 1);
    const r = f.smmu.translate({ sid: 8, address: 0x1000, size: 4, write: false, ats: 'request' });
    assert.equal(r.event, 'F_BAD_ATS_TREQ');
  });
});

describe('DMA through the SMMU into memory (platform attribution)', () => {
  it('a DMA write is split per 4 KiB, translated per chunk and attributed to the device SID', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    const a = f.alloc(4096);
    const b = f.alloc(4096);
    pt.map(0x10_0000, a);
    pt.map(0x10_1000, b);
    s1Stream(f, q, 8, pt, 1);
    const data = new Uint8Array(256).fill(0xab);
    const r = f.smmu.dma({ sid: 8, address: 0x10_0f80, write: true }, data);
    assert.equal(r.completion, 'ok');
    assert.equal(r.translations.length, 2);
    assert.equal(f.read64(a + 0xf80), 0xababababababababn);
    assert.equal(f.read64(b + 0x78), 0xababababababababn);
    const w = f.memory.lastWriteAt(b);
    assert.equal(w?.writer.kind, 'device-translated');
    assert.equal(w?.writer.sid, 8);
  });

  it('a translation into an MMIO hole completes with a completer abort, not an exception', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    pt.map(0x1000, 0x0800_0000);
    s1Stream(f, q, 8, pt, 1);
    const r = f.smmu.dma({ sid: 8, address: 0x1000, write: true }, new Uint8Array(8));
    assert.equal(r.completion, 'completer-abort');
    assert.equal(r.faultAddress, 0x0800_0000);
  });
});

describe('nested: stage-1 and stage-2 permissions are checked apart (IHI0070 3.4, 7.3.16; domain notes 6.3 and 7 step 8.7)', () => {
  const DATA_IPA = 0x6000_0000;
  /** A nested stream whose VA 0x7000 maps to DATA_IPA, which stage 2 maps read-only. */
  function setup(cdExtra = {}, steExtra = {}) {
    const f = fixture();
    const q = bringUp(f);
    const g = new NestedGuest(f);
    g.s2.map(DATA_IPA, 0x9000_0000, 2, { S2AP: 'READ' });
    g.s1.map(0x7000, DATA_IPA);
    g.install(q, 20, { R: 0, ...cdExtra }, steExtra); // CD.R=0: stage-1 faults are not recorded
    return { f, q, g };
  }
  const fields = (rec: bigint[]) => {
    const e = EVT('F_PERMISSION');
    return Object.fromEntries(['S2', 'CLASS', 'IPA', 'InputAddr', 'RnW', 'StreamID'].map((n) => [n, e.get(rec, n)]));
  };
  const expected = { S2: 1n, CLASS: 2n, IPA: BigInt(DATA_IPA), InputAddr: 0x7010n, RnW: 0n, StreamID: 20n };

  it('a write stage 1 allows but stage 2 forbids is a stage-2 F_PERMISSION: S2=1, CLASS=IN, IPA = stage-1 output, recorded per STE.S2R', () => {
    const { f, q } = setup();
    const r = f.smmu.translate(wr(20, 0x7010));
    assert.equal(r.event, 'F_PERMISSION');
    assert.equal(r.recorded, true, 'S2R=1 records it although CD.R=0');
    assert.match(r.why, /stage-2 permission fault/);
    const [rec] = drainEvents(f, q);
    assert.deepEqual(fields(rec!), expected);
  });

  it('the same fault from a cached TLB entry (filled by a read) is still a stage-2 fault: the entry remembers which stage limited it', () => {
    const { f, q } = setup();
    assert.equal(f.smmu.translate(rd(20, 0x7010)).pa, 0x9000_0010);
    const r = f.smmu.translate(wr(20, 0x7010));
    assert.equal(r.event, 'F_PERMISSION');
    assert.equal(r.recorded, true);
    const [rec] = drainEvents(f, q);
    assert.deepEqual(fields(rec!), expected);
  });

  it('S2R=0 leaves a stage-2 fault unrecorded even with CD.R=1; a stage-1 denial stays S2=0 under CD.R', () => {
    const a = setup({ R: 1 }, { S2R: 0 });
    const r = a.f.smmu.translate(wr(20, 0x7010));
    assert.equal(r.event, 'F_PERMISSION');
    assert.equal(r.recorded, false);
    assert.match(r.why, /not recorded: S2R=0/);
    const b = setup({ R: 1 });
    b.g.s1.map(0x8000, DATA_IPA, 3, { AP: 'RO_ANY' });
    const s1 = b.f.smmu.translate(wr(20, 0x8010));
    assert.equal(s1.event, 'F_PERMISSION');
    const [rec] = drainEvents(b.f, b.q);
    assert.equal(EVT('F_PERMISSION').get(rec!, 'S2'), 0n, 'stage 1 denied it');
    assert.equal(EVT('F_PERMISSION').get(rec!, 'IPA'), 0n);
  });

  it('STE.S2S=1 stalls a stage-2 fault of a nested stream: Stall=1 and STAG; RESUME with Ab=1 aborts it (IHI0070 4.6.2)', () => {
    const { f, q } = setup({}, { S2S: 1 });
    const r = f.smmu.translate(wr(20, 0x7010));
    assert.equal(r.outcome, 'stalled');
    const [rec] = drainEvents(f, q);
    assert.equal(EVT('F_PERMISSION').get(rec!, 'Stall'), 1n);
    assert.equal(EVT('F_PERMISSION').get(rec!, 'S2'), 1n);
    assert.equal(Number(EVT('F_PERMISSION').get(rec!, 'STAG')), r.stag);
    const seen: string[] = [];
    f.smmu.onStallResolved((s) => seen.push(`${s.how}:${s.result.outcome}`));
    submit(f, q, [findFormat('cmd-RESUME')!.build({ StreamID: 20, STAG: r.stag!, Ac: 0, Ab: 1 }), cmd.sync()]);
    assert.deepEqual(seen, ['abort:aborted']);
  });

  it('stage-1 permissions are checked before stage 2 translates the output: a stage-1 denial wins over an unmapped IPA', () => {
    const { f, q, g } = setup({ R: 1 });
    g.s1.map(0x9000, 0x7000_0000, 3, { AP: 'RO_ANY' }); // IPA not mapped at stage 2
    assert.equal(f.smmu.translate(wr(20, 0x9000)).event, 'F_PERMISSION');
    const [rec] = drainEvents(f, q);
    assert.equal(EVT('F_PERMISSION').get(rec!, 'S2'), 0n);
    assert.equal(f.smmu.translate(rd(20, 0x9000)).event, 'F_TRANSLATION', 'a read reaches stage 2, which has no mapping');
  });
});

describe('stage-1 bypass address-size check (domain notes 7 steps 4 and 8.8; IHI0070 3.4)', () => {
  const addrFields = (rec: bigint[]) => {
    const e = EVT('F_ADDR_SIZE');
    return Object.fromEntries(['S2', 'CLASS', 'InputAddr', 'RnW', 'StreamID', 'SSV'].map((n) => [n, e.get(rec, n)]));
  };

  it('Config=S2_TRANS: an input above the 48-bit IAS is F_ADDR_SIZE reported at stage 1 (S2=0, CLASS=IN), before stage 2', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 2, '4k', 40, 1);
    f.writeWords(q.strtab + 64 * 12, ste({ Config: 'S2_TRANS', ...s2Fields(pt, 7) }));
    const r = f.smmu.translate(rd(12, 2 ** 49));
    assert.equal(r.event, 'F_ADDR_SIZE', r.why);
    const [rec] = drainEvents(f, q);
    assert.deepEqual(addrFields(rec!), { S2: 0n, CLASS: 2n, InputAddr: 2n ** 49n, RnW: 1n, StreamID: 12n, SSV: 0n });
    // Below the IAS but above the stage-2 input range it is a stage-2 translation fault.
    assert.equal(f.smmu.translate(rd(12, 2 ** 41)).event, 'F_TRANSLATION');
    const [rec2] = drainEvents(f, q);
    assert.equal(EVT('F_TRANSLATION').get(rec2!, 'S2'), 1n);
  });

  it('S1DSS=bypass on a nested STE: the same stage-1 F_ADDR_SIZE', () => {
    const f = fixture();
    const q = bringUp(f);
    const g = new NestedGuest(f);
    g.install(q, 21, {}, { S1CDMax: 4, S1DSS: 'BYPASS' });
    assert.equal(f.smmu.translate(wr(21, 2 ** 48)).event, 'F_ADDR_SIZE');
    const [rec] = drainEvents(f, q);
    assert.deepEqual(addrFields(rec!), { S2: 0n, CLASS: 2n, InputAddr: 2n ** 48n, RnW: 0n, StreamID: 21n, SSV: 0n });
    assert.equal(f.smmu.translate(rd(21, GUEST_IPA + 0x10)).pa, RAM_BASE + 0x10, 'below the IAS stage 2 translates');
  });

  it('bypass STE (Config=0b100): an input above the OAS is F_ADDR_SIZE with CLASS=IN (not CD)', () => {
    const f = fixture();
    const q = bringUp(f);
    f.writeWords(q.strtab + 64 * 6, ste({ Config: 'BYPASS' }));
    assert.equal(f.smmu.translate(rd(6, 2 ** 49)).event, 'F_ADDR_SIZE');
    const [rec] = drainEvents(f, q);
    assert.deepEqual(addrFields(rec!), { S2: 0n, CLASS: 2n, InputAddr: 2n ** 49n, RnW: 1n, StreamID: 6n, SSV: 0n });
  });

  it('S1DSS=bypass with stage 1 only: CLASS=IN too', () => {
    const f = fixture();
    const q = bringUp(f);
    const t = f.alloc(64 * 16, 1024);
    f.writeWords(q.strtab + 64 * 4, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(t), S1CDMax: 4, S1DSS: 'BYPASS', S1STALLD: 1 }));
    assert.equal(f.smmu.translate(wr(4, 2 ** 48 + 0x40)).event, 'F_ADDR_SIZE');
    const [rec] = drainEvents(f, q);
    assert.deepEqual(addrFields(rec!), { S2: 0n, CLASS: 2n, InputAddr: 2n ** 48n + 0x40n, RnW: 0n, StreamID: 4n, SSV: 0n });
  });
});

describe('descriptor encodings tied to the OA size (Arm ARM D8.3.1)', () => {
  for (const [oasBits, outcome] of [
    [48, 'aborted'],
    [52, 'translated'],
  ] as const) {
    it(`a 64K-granule level-1 block (4 TB) with a ${oasBits}-bit OAS: ${oasBits === 52 ? 'valid (FEAT_LPA)' : 'a translation fault'}`, () => {
      const f = fixture({ oasBits });
      const q = bringUp(f);
      const pt = new PageTables(f, 1, '64k', 48);
      pt.map(0, 0, 1);
      s1Stream(f, q, 3, pt, 1);
      const r = f.smmu.translate(rd(3, 0x8000_1000));
      assert.equal(r.outcome, outcome, r.why);
      if (outcome === 'translated') assert.equal(r.pa, 0x8000_1000);
      else {
        assert.equal(r.event, 'F_TRANSLATION');
        assert.match(r.why, /level-1 block .*64KB granule needs a 52-bit OA/);
      }
    });
  }

  it('the same holds at stage 2', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 2, '64k', 48, 1);
    pt.map(0, 0, 1);
    f.writeWords(q.strtab + 64 * 12, ste({ Config: 'S2_TRANS', ...s2Fields(pt, 7) }));
    const r = f.smmu.translate(rd(12, 0x8000_1000));
    assert.equal(r.event, 'F_TRANSLATION');
    assert.equal(r.recorded, true);
  });
});

describe('CD.PAN (IHI0070 5.4 PAN; domain notes 7 step 7.5)', () => {
  function setup(pan: number) {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    pt.map(0x1000, 0x8800_0000, 3, { AP: 'RW_ANY' }); // EL0 read/write
    pt.map(0x2000, 0x8800_1000, 3, { AP: 'RW_EL1' }); // EL1 only
    pt.map(0x3000, 0x8800_2000, 3, { AP: 'RO_ANY' }); // EL0 readable, EL1 executable
    s1Stream(f, q, 8, pt, 3, { PAN: pan });
    return f;
  }

  it('PAN=1: a privileged data access to a page unprivileged accesses may use is a permission fault', () => {
    const f = setup(1);
    assert.equal(f.smmu.translate(rd(8, 0x1000, { privileged: true })).event, 'F_PERMISSION');
    assert.equal(f.smmu.translate(wr(8, 0x1000, { privileged: true })).event, 'F_PERMISSION');
    assert.equal(f.smmu.translate(rd(8, 0x3000, { privileged: true })).event, 'F_PERMISSION', 'EL0-readable is enough');
  });

  it('PAN=1 leaves unprivileged accesses, EL1-only pages and privileged instruction fetches alone', () => {
    const f = setup(1);
    assert.equal(f.smmu.translate(rd(8, 0x1000)).outcome, 'translated');
    assert.equal(f.smmu.translate(wr(8, 0x2000, { privileged: true })).outcome, 'translated');
    assert.equal(f.smmu.translate(rd(8, 0x3000, { privileged: true, instruction: true })).outcome, 'translated');
  });

  it('PAN=0: the privileged data access passes', () => {
    const f = setup(0);
    assert.equal(f.smmu.translate(wr(8, 0x1000, { privileged: true })).outcome, 'translated');
  });

  it('PAN is ignored in a one-EL (NS-EL2) StreamWorld', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    pt.map(0x1000, 0x8800_0000, 3, { AP: 'RW_ANY' });
    s1Stream(f, q, 8, pt, 3, { PAN: 1 }, { STRW: 'EL2' });
    assert.equal(f.smmu.translate(wr(8, 0x1000)).outcome, 'translated');
  });
});

describe('reserved STRTAB_BASE_CFG values (IHI0070 6.3.25)', () => {
  it('a reserved SPLIT (7) behaves as 6', () => {
    const f = fixture();
    const q = bringUp(f, { strtabLog2: 16, twoLevel: { split: 6 } });
    f.cr0(0);
    f.w('STRTAB_BASE_CFG', build('STRTAB_BASE_CFG', { FMT: 'TWO_LEVEL', SPLIT: 7, LOG2SIZE: 16 })[0]!);
    f.cr0(0b1101);
    const l2 = f.alloc(64 * 64, 4096);
    f.writeWords(l2 + 64 * 5, ste({ Config: 'BYPASS' }));
    f.writeWords(q.strtab + 8 * 1, l1std(l2, 7)); // L1 index 1 under SPLIT=6 is SIDs 64..127
    const r = f.smmu.translate(rd(64 + 5, 0x8000_0000));
    assert.equal(r.outcome, 'bypassed', r.why);
  });
});

describe('walks not covered elsewhere (Arm ARM D8.2; domain notes 7 steps 7-8)', () => {
  for (const [granule, g] of [
    ['16k', 16384],
    ['64k', 65536],
  ] as const) {
    it(`${granule.toUpperCase()} stage 1 with T0SZ=39 starts at level 3`, () => {
      const f = fixture();
      const q = bringUp(f);
      const pt = new PageTables(f, 1, granule, 25);
      assert.equal(pt.startLevel, 3);
      const va = 2 ** 25 - g;
      pt.map(va, 0x8800_0000 + g);
      s1Stream(f, q, 4, pt, 42);
      const r = f.smmu.translate(wr(4, va + 8));
      assert.equal(r.pa, 0x8800_0000 + g + 8, r.why);
      assert.match(r.why, /level 3/);
    });
  }

  for (const [name, granule, ipaBits, start, sl0] of [
    ['16K, 36-bit IPA from level 2 (SL0=1)', '16k', 36, 2, 1],
    ['4K, 48-bit IPA from level 0 (SL0=2)', '4k', 48, 0, 2],
    ['4K, 34-bit IPA from level 2 with 16 concatenated tables (SL0=0)', '4k', 34, 2, 0],
  ] as const) {
    it(`stage 2: ${name}`, () => {
      const f = fixture();
      const q = bringUp(f);
      const pt = new PageTables(f, 2, granule, ipaBits, start);
      const ipa = 2 ** ipaBits - 0x10_0000; // top of the range: every index bit, the last concatenated table
      pt.map(ipa, 0x8900_0000);
      const fields = s2Fields(pt, 7);
      assert.equal(fields['S2SL0'], sl0);
      f.writeWords(q.strtab + 64 * 12, ste({ Config: 'S2_TRANS', ...fields }));
      const r = f.smmu.translate(wr(12, ipa + 4));
      assert.equal(r.pa, 0x8900_0004, r.why);
      assert.equal(f.smmu.translate(rd(12, ipa + 8)).tlbHit, true);
    });
  }

  it('S2PTW: a stage-1 table in stage-2 Device memory is a stage-2 F_PERMISSION, CLASS=TT, TTRnW=1', () => {
    const f = fixture();
    const q = bringUp(f);
    const g = new NestedGuest(f);
    g.s1.map(0x7000, GUEST_IPA + 0x10_0000);
    // Remap the 2 MiB block holding the stage-1 tables as Device-nGnRE (MemAttr 0b0001).
    const rootIpa = g.toIpa(g.s1.root);
    const block = rootIpa - (rootIpa % 0x20_0000);
    g.s2.map(block, block - GUEST_IPA + RAM_BASE, 2, { MemAttr: 1 });
    const e = EVT('F_PERMISSION');
    // The guest's CD sits in the same Device block: its fetch faults first, CLASS=CD.
    const steWords = g.install(q, 22, {}, { S2PTW: 1 });
    assert.equal(f.smmu.translate(rd(22, 0x7000)).event, 'F_PERMISSION');
    const [cdRec] = drainEvents(f, q);
    assert.deepEqual([e.get(cdRec!, 'S2'), e.get(cdRec!, 'CLASS'), e.get(cdRec!, 'IPA')], [1n, 0n, BigInt(g.toIpa(g.cdPa) - (g.toIpa(g.cdPa) % 4096))]);
    // Move the CD to the next (Normal) block: now the stage-1 table read faults, CLASS=TT.
    const cdPa = f.alloc(64, 0x20_0000);
    f.writeWords(cdPa, cd(g.s1, 9, { TTB0: BigInt(rootIpa) }));
    f.writeWords(q.strtab + 64 * 26, [STE.with(steWords, 'S1ContextPtr', BigInt(g.toIpa(cdPa)))[0]!, ...steWords.slice(1)]);
    const r = f.smmu.translate(rd(26, 0x7000));
    assert.equal(r.event, 'F_PERMISSION', r.why);
    const [rec] = drainEvents(f, q);
    assert.deepEqual([e.get(rec!, 'S2'), e.get(rec!, 'CLASS'), e.get(rec!, 'TTRnW'), e.get(rec!, 'IPA')], [1n, 1n, 1n, BigInt(rootIpa - (rootIpa % 4096))]);
    g.install(q, 23);
    assert.equal(f.smmu.translate(rd(23, 0x7000)).outcome, 'translated', 'S2PTW=0: Device memory is fine for walks');
  });

  it('nested: a stage-2 fault fetching the CD is CLASS=CD, fetching a stage-1 table CLASS=TT, both with the IPA', () => {
    const f = fixture();
    const q = bringUp(f);
    const g = new NestedGuest(f);
    g.install(q, 24, {}, { S1ContextPtr: 0x7000_0040n }); // CD IPA not mapped at stage 2
    assert.equal(f.smmu.translate(rd(24, 0x7000)).event, 'F_TRANSLATION');
    const [cdRec] = drainEvents(f, q);
    const e = EVT('F_TRANSLATION');
    assert.deepEqual([e.get(cdRec!, 'S2'), e.get(cdRec!, 'CLASS'), e.get(cdRec!, 'IPA'), e.get(cdRec!, 'InputAddr')], [1n, 0n, 0x7000_0000n, 0x7000n]);
    g.install(q, 25, { TTB0: 0x7100_0000n }); // stage-1 root IPA not mapped at stage 2
    assert.equal(f.smmu.translate(rd(25, 0x7000)).event, 'F_TRANSLATION');
    const [ttRec] = drainEvents(f, q);
    assert.deepEqual([e.get(ttRec!, 'S2'), e.get(ttRec!, 'CLASS'), e.get(ttRec!, 'IPA')], [1n, 1n, 0x7100_0000n]);
  });

  it('S2-only STE with S2S=1 stalls a stage-2 translation fault; STALL_TERM aborts every stall of the StreamID (IHI0070 4.6.3)', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 2, '4k', 40, 1);
    f.writeWords(q.strtab + 64 * 12, ste({ Config: 'S2_TRANS', ...s2Fields(pt, 7), S2S: 1 }));
    const a = f.smmu.translate(rd(12, 0x1000));
    const b = f.smmu.translate(rd(12, 0x2000));
    assert.deepEqual([a.outcome, b.outcome], ['stalled', 'stalled']);
    const recs = drainEvents(f, q);
    assert.deepEqual(
      recs.map((x) => [EVT('F_TRANSLATION').get(x, 'Stall'), EVT('F_TRANSLATION').get(x, 'S2')]),
      [
        [1n, 1n],
        [1n, 1n],
      ],
    );
    const seen: string[] = [];
    f.smmu.onStallResolved((s) => seen.push(`${s.stag}:${s.how}`));
    submit(f, q, [findFormat('cmd-STALL_TERM')!.build({ StreamID: 12 }), cmd.sync()]);
    assert.deepEqual(seen, [`${a.stag}:abort`, `${b.stag}:abort`]);
  });
});

describe('F_UUT: transactions the upstream interface cannot carry (IHI0070 7.3.2, 16.7.1)', () => {
  it('a burst crossing a 4KB boundary aborts with F_UUT (Reason 1, incoming PnU/InD), even while SMMUEN=0', () => {
    const f = fixture();
    const q = bringUp(f);
    const r = f.smmu.translate({ sid: 3, ssid: 7, address: 0x1ff0, size: 32, write: false, privileged: true, instruction: true });
    assert.equal(r.event, 'F_UUT');
    assert.equal(r.path, 'uut');
    const [rec] = drainEvents(f, q);
    const e = EVT('F_UUT');
    assert.deepEqual(
      ['StreamID', 'SSV', 'SubstreamID', 'Reason', 'PnU', 'InD', 'RnW', 'InputAddr'].map((n) => e.get(rec!, n)),
      [3n, 1n, 7n, 1n, 1n, 1n, 1n, 0x1ff0n],
    );
    f.cr0(0b1100);
    assert.equal(f.smmu.translate({ sid: 3, address: 0xfff, size: 2, write: true }).event, 'F_UUT');
    assert.equal(f.smmu.translate({ sid: 3, address: 0x8000_0000, size: 4096, write: true }).path, 'gbpa', 'a whole aligned page is fine');
  });

  it('a malformed size or address is F_UUT with Reason 2; dma() never produces one', () => {
    const f = fixture();
    const q = bringUp(f);
    assert.equal(f.smmu.translate({ sid: 1, address: 0x1000, size: 0, write: false }).event, 'F_UUT');
    assert.equal(f.smmu.translate({ sid: 1, address: 4096.5, size: 4, write: false }).event, 'F_UUT');
    // Also when the page is in the TLB: the hit path must not let a malformed transaction through.
    const pt = new PageTables(f, 1, '4k', 48);
    pt.map(0x1000, 0x8800_0000);
    s1Stream(f, q, 4, pt, 1);
    assert.equal(f.smmu.translate(rd(4, 0x1000)).outcome, 'translated');
    assert.equal(f.smmu.translate(rd(4, 0x1000)).tlbHit, true);
    assert.equal(f.smmu.translate({ sid: 4, address: 4096.5, size: 4, write: false }).event, 'F_UUT');
    assert.equal(f.smmu.translate({ sid: 4, address: 0x1000, size: 2.5, write: false }).event, 'F_UUT');
    const recs = drainEvents(f, q);
    assert.deepEqual(
      recs.map((x) => EVT('F_UUT').get(x, 'Reason')),
      [2n, 2n, 2n, 2n],
    );
    f.writeWords(q.strtab + 64 * 6, ste({ Config: 'BYPASS' }));
    const d = f.smmu.dma({ sid: 6, address: 0x8000_0ff0, write: true }, new Uint8Array(64));
    assert.equal(d.completion, 'ok');
    assert.equal(d.translations.length, 2);
  });
});

describe('event record fields against hand-computed values (IHI0070 7.3.6-7.3.16)', () => {
  /** The named fields of the only record in the queue. */
  function only(f: Fixture, q: Queues, name: string, names: string[]): Record<string, bigint> {
    const recs = drainEvents(f, q);
    assert.deepEqual(recs.map(eventName), [name]);
    return Object.fromEntries(names.map((n) => [n, EVT(name).get(recs[0]!, n)]));
  }
  const XLATE = ['StreamID', 'SSV', 'SubstreamID', 'Stall', 'STAG', 'PnU', 'InD', 'RnW', 'S2', 'CLASS', 'InputAddr', 'IPA'];

  /** SID 8: a linear table of 16 CDs, CD 3 over `pt` (nothing mapped yet). */
  function withSsid() {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    const table = f.alloc(64 * 16, 1024);
    f.writeWords(table + 64 * 3, cd(pt, 5));
    f.writeWords(q.strtab + 64 * 8, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(table), S1CDMax: 4, S1DSS: 'SSID0', S1STALLD: 1 }));
    return { f, q, pt, table };
  }

  it('F_TRANSLATION: a privileged instruction fetch with SSID 3 (SSV=1, PnU=1, InD=1, RnW=1, S2=0, CLASS=IN)', () => {
    const { f, q } = withSsid();
    f.smmu.translate({ sid: 8, ssid: 3, address: 0x12_3456_7890, size: 4, write: false, privileged: true, instruction: true });
    assert.deepEqual(only(f, q, 'F_TRANSLATION', XLATE), {
      StreamID: 8n,
      SSV: 1n,
      SubstreamID: 3n,
      Stall: 0n,
      STAG: 0n,
      PnU: 1n,
      InD: 1n,
      RnW: 1n,
      S2: 0n,
      CLASS: 2n,
      InputAddr: 0x12_3456_7890n,
      IPA: 0n,
    });
  });

  it('F_PERMISSION: an unprivileged write to a read-only page (RnW=0, InD=0 for writes); STE.PRIVCFG=PRIVILEGED gives PnU=1', () => {
    const { f, q, pt, table } = withSsid();
    pt.map(0x5000, 0x8800_0000, 3, { AP: 'RO_ANY' });
    f.smmu.translate({ sid: 8, ssid: 3, address: 0x5008, size: 8, write: true, instruction: true });
    assert.deepEqual(only(f, q, 'F_PERMISSION', [...XLATE, 'TTRnW']), {
      StreamID: 8n,
      SSV: 1n,
      SubstreamID: 3n,
      Stall: 0n,
      STAG: 0n,
      PnU: 0n,
      InD: 0n,
      RnW: 0n,
      S2: 0n,
      CLASS: 2n,
      InputAddr: 0x5008n,
      IPA: 0n,
      TTRnW: 0n,
    });
    f.writeWords(q.strtab + 64 * 9, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(table), S1CDMax: 4, S1DSS: 'SSID0', S1STALLD: 1, PRIVCFG: 'PRIVILEGED' }));
    f.smmu.translate({ sid: 9, ssid: 3, address: 0x5010, size: 8, write: true });
    assert.equal(only(f, q, 'F_PERMISSION', ['PnU'])['PnU'], 1n, 'post-override PnU');
  });

  it('F_ACCESS: AF=0 without HA/AFFD', () => {
    const { f, q, pt } = withSsid();
    pt.map(0x6000, 0x8800_0000, 3, { AF: 0 });
    f.smmu.translate({ sid: 8, ssid: 3, address: 0x6ffc, size: 4, write: false });
    assert.deepEqual(only(f, q, 'F_ACCESS', XLATE), {
      StreamID: 8n,
      SSV: 1n,
      SubstreamID: 3n,
      Stall: 0n,
      STAG: 0n,
      PnU: 0n,
      InD: 0n,
      RnW: 1n,
      S2: 0n,
      CLASS: 2n,
      InputAddr: 0x6ffcn,
      IPA: 0n,
    });
  });

  it('F_ADDR_SIZE: a leaf output above the CD.IPS (32 bits) of a stage-1 walk', () => {
    const { f, q, pt, table } = withSsid();
    pt.map(0x1000, 0x1_0000_0000);
    f.writeWords(table + 64 * 3, cd(pt, 5, { IPS: 'PA32' }));
    f.smmu.translate({ sid: 8, ssid: 3, address: 0x1020, size: 4, write: true });
    assert.deepEqual(only(f, q, 'F_ADDR_SIZE', XLATE), {
      StreamID: 8n,
      SSV: 1n,
      SubstreamID: 3n,
      Stall: 0n,
      STAG: 0n,
      PnU: 0n,
      InD: 0n,
      RnW: 0n,
      S2: 0n,
      CLASS: 2n,
      InputAddr: 0x1020n,
      IPA: 0n,
    });
  });

  it('F_TRANSLATION at stage 2 (S2-only): S2=1, CLASS=IN, IPA = the faulting IPA [55:12]', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 2, '4k', 40, 1);
    f.writeWords(q.strtab + 64 * 12, ste({ Config: 'S2_TRANS', ...s2Fields(pt, 7) }));
    f.smmu.translate(wr(12, 0x12_3456_7898));
    assert.deepEqual(only(f, q, 'F_TRANSLATION', XLATE), {
      StreamID: 12n,
      SSV: 0n,
      SubstreamID: 0n,
      Stall: 0n,
      STAG: 0n,
      PnU: 0n,
      InD: 0n,
      RnW: 0n,
      S2: 1n,
      CLASS: 2n,
      InputAddr: 0x12_3456_7898n,
      IPA: 0x12_3456_7000n,
    });
  });

  it('F_CD_FETCH: FetchAddr is the CD address in the hole (and the L1CD address for a 2-level table)', () => {
    const f = fixture();
    const q = bringUp(f);
    f.writeWords(q.strtab + 64 * 5, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(HOLE_BASE + 0x1c0), S1CDMax: 4, S1DSS: 'SSID0', S1STALLD: 1 }));
    f.smmu.translate({ sid: 5, ssid: 2, address: 0, size: 4, write: false });
    // Linear table of 16 CDs aligned to 1 KiB: CD 2 at HOLE_BASE + 0x000 + 2*64.
    assert.deepEqual(only(f, q, 'F_CD_FETCH', ['StreamID', 'SSV', 'SubstreamID', 'FetchAddr']), {
      StreamID: 5n,
      SSV: 1n,
      SubstreamID: 2n,
      FetchAddr: BigInt(HOLE_BASE + 0x80),
    });
    f.writeWords(
      q.strtab + 64 * 6,
      ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(HOLE_BASE + 0x4000), S1CDMax: 12, S1Fmt: 'L2_4K', S1DSS: 'SSID0', S1STALLD: 1 }),
    );
    f.smmu.translate({ sid: 6, ssid: 0x1c5, address: 0, size: 4, write: false });
    // L1 index 0x1c5 >> 6 = 7: the L1CD at base + 7*8.
    assert.deepEqual(only(f, q, 'F_CD_FETCH', ['StreamID', 'SubstreamID', 'FetchAddr']), {
      StreamID: 6n,
      SubstreamID: 0x1c5n,
      FetchAddr: BigInt(HOLE_BASE + 0x4000 + 56),
    });
  });

  it('F_BAD_ATS_TREQ: a PASID-tagged privileged write request (NW=0) to an EATS=0 stream', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    s1Stream(f, q, 8, pt, 1);
    const r = f.smmu.translate({ sid: 8, ssid: 5, address: 0xabc_d000, size: 4096, write: true, privileged: true, ats: 'request' });
    assert.equal(r.ats?.status, 'UR');
    assert.deepEqual(only(f, q, 'F_BAD_ATS_TREQ', ['StreamID', 'SSV', 'SubstreamID', 'PnU', 'InD', 'RnW', 'InputAddr']), {
      StreamID: 8n,
      SSV: 1n,
      SubstreamID: 5n,
      PnU: 1n,
      InD: 0n,
      RnW: 0n,
      InputAddr: 0xabc_d000n,
    });
  });

  it('F_TRANSL_FORBIDDEN: a translated read with CR0.ATSCHK=1 to an EATS=0 stream; no PASID is carried (SSV=0)', () => {
    const f = fixture();
    const q = bringUp(f);
    f.cr0(0b11101);
    const pt = new PageTables(f, 1, '4k', 48);
    s1Stream(f, q, 8, pt, 1);
    f.smmu.translate({ sid: 8, ssid: 5, address: 0x8800_0040, size: 64, write: false, ats: 'translated' });
    assert.deepEqual(only(f, q, 'F_TRANSL_FORBIDDEN', ['StreamID', 'SSV', 'SubstreamID', 'RnW', 'InputAddr']), {
      StreamID: 8n,
      SSV: 0n,
      SubstreamID: 0n,
      RnW: 1n,
      InputAddr: 0x8800_0040n,
    });
  });
});
