// SPDX-License-Identifier: Apache-2.0
// PCIe ATS through the SMMU (IHI0070 3.9.1, 5.2 EATS, 6.3.9 CR0.ATSCHK, 13.6-13.7): translation
// requests get a completion (never an event for a translation failure, never a stall),
// translated traffic is checked only when ATSCHK=1, and split-stage ATS (EATS=0b10) hands out
// IPAs that stage 2 translates later.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findFormat } from '@kdump-twin/smmu-arch';
import {
  bringUp,
  cd,
  CR0,
  drainEvents,
  eventName,
  fixture,
  GUEST_IPA,
  NestedGuest,
  PageTables,
  RAM_BASE,
  s2Fields,
  ste,
  type Fixture,
  type Queues,
} from '../testing/fixture';
import type { Transaction } from './types';

const EVT = (name: string) => findFormat(`evt-${name}`)!;
const ALL_ON = CR0.CMDQEN | CR0.EVENTQEN | CR0.SMMUEN;
const req = (sid: number, address: number, extra: Partial<Transaction> = {}): Transaction => ({
  sid,
  address,
  size: 4096,
  write: false,
  ats: 'request',
  ...extra,
});
const xlated = (sid: number, address: number, extra: Partial<Transaction> = {}): Transaction => ({
  sid,
  address,
  size: 64,
  write: true,
  ats: 'translated',
  ...extra,
});

/** SID `sid`: stage 1 over `pt`, ATS enabled (EATS=0b01), PCIe-like (S1STALLD=1) unless overridden. */
function s1Ats(f: Fixture, q: Queues, sid: number, pt: PageTables, cdExtra = {}, steExtra = {}): void {
  const cdAddr = f.alloc(64, 64);
  f.writeWords(cdAddr, cd(pt, sid, cdExtra));
  f.writeWords(q.strtab + 64 * sid, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(cdAddr), S1STALLD: 1, EATS: 'TRANS', ...steExtra }));
}

describe('ATS translation requests: completions, not events (IHI0070 3.9.1, 3.9.1.2)', () => {
  it('a translation fault gives Success with R=W=0: no event, and no stall even with CD.S=1', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    s1Ats(f, q, 8, pt, { S: 1 }, { S1STALLD: 0 });
    const r = f.smmu.translate(req(8, 0x1000));
    assert.equal(r.outcome, 'aborted');
    assert.deepEqual(r.ats, { status: 'SC', r: false, w: false, x: false, ipa: false });
    assert.equal(r.event, undefined);
    assert.equal(r.stag, undefined);
    assert.equal(f.smmu.counters.stalled, 0);
    assert.deepEqual(drainEvents(f, q), []);
    // The same address as an ordinary transaction does stall (CD.S=1): the request was special.
    assert.equal(f.smmu.translate({ sid: 8, address: 0x1000, size: 4, write: false }).outcome, 'stalled');
  });

  it('address-size and access-flag faults, and stage-2 faults fetching the CD, are R=W=0 too', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    pt.map(0x1000, 0x1_0000_0000);
    pt.map(0x2000, 0x8800_0000, 3, { AF: 0 });
    s1Ats(f, q, 8, pt, { IPS: 'PA32' });
    for (const a of [0x1000, 0x2000])
      assert.deepEqual(f.smmu.translate(req(8, a)).ats, { status: 'SC', r: false, w: false, x: false, ipa: false }, `0x${a.toString(16)}`);
    const g = new NestedGuest(f);
    g.install(q, 9, {}, { EATS: 'TRANS', S1ContextPtr: 0x7000_0040n }); // CD IPA not mapped at stage 2
    assert.equal(f.smmu.translate(req(9, 0x7000)).ats?.r, false);
    assert.deepEqual(drainEvents(f, q), []);
  });

  it('permissions are granted as the tables allow (13.7): a read-only page grants R, not W, to a write request', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    pt.map(0x1000, 0x8800_0000, 3, { AP: 'RO_ANY' });
    pt.map(0x2000, 0x8800_1000, 3, { AP: 'RW_ANY' });
    pt.map(0x3000, 0x8800_2000, 3, { AP: 'RW_EL1' });
    s1Ats(f, q, 8, pt);
    const ro = f.smmu.translate(req(8, 0x1000, { write: true }));
    assert.equal(ro.outcome, 'translated');
    assert.equal(ro.pa, 0x8800_0000);
    assert.deepEqual(ro.ats, { status: 'SC', r: true, w: false, x: false, ipa: false });
    assert.deepEqual(f.smmu.translate(req(8, 0x2000)).ats, { status: 'SC', r: true, w: true, x: false, ipa: false }, 'W granted even with NW=1 when writable');
    assert.equal(f.smmu.translate(req(8, 0x3000)).ats?.r, false, 'EL1-only: nothing for an unprivileged request');
    assert.equal(f.smmu.translate(req(8, 0x3000, { privileged: true })).ats?.r, false, 'Priv needs a PASID');
    const cdTable = f.alloc(64 * 16, 1024);
    f.writeWords(cdTable + 64 * 2, cd(pt, 30));
    f.writeWords(q.strtab + 64 * 10, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(cdTable), S1CDMax: 4, S1DSS: 'SSID0', S1STALLD: 1, EATS: 'TRANS' }));
    assert.deepEqual(
      f.smmu.translate(req(10, 0x3000, { ssid: 2, privileged: true, instruction: true })).ats,
      { status: 'SC', r: true, w: true, x: true, ipa: false },
      'privileged with a PASID: EL1 RWX (AP=00 without WXN)',
    );
    assert.deepEqual(
      f.smmu.translate(req(10, 0x1000, { ssid: 2, instruction: true })).ats,
      { status: 'SC', r: true, w: false, x: true, ipa: false },
      'Exe granted with R',
    );
    assert.deepEqual(drainEvents(f, q), []);
  });

  it('HTTU (3.13.7): a request with NW=0 marks a writable-clean page dirty and gets W; NW=1 leaves it clean without W', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    const at = pt.map(0x1000, 0x8800_0000, 3, { AP: 'RO_ANY', DBM: 1 });
    s1Ats(f, q, 8, pt, { HA: 1, HD: 1 });
    assert.deepEqual(f.smmu.translate(req(8, 0x1000)).ats, { status: 'SC', r: true, w: false, x: false, ipa: false });
    assert.equal((f.read64(at) >> 7n) & 1n, 1n, 'still clean');
    assert.deepEqual(f.smmu.translate(req(8, 0x1000, { write: true })).ats, { status: 'SC', r: true, w: true, x: false, ipa: false });
    assert.equal((f.read64(at) >> 7n) & 1n, 0n, 'dirty');
  });

  it('configuration errors complete with CA, recorded only with CR2.REC_CFG_ATS=1', () => {
    const f = fixture();
    const q = bringUp(f);
    f.writeWords(q.strtab + 64 * 4, [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
    const r = f.smmu.translate(req(4, 0x1000));
    assert.deepEqual([r.outcome, r.ats?.status, r.event, r.recorded], ['aborted', 'CA', 'C_BAD_STE', false]);
    assert.deepEqual(drainEvents(f, q), []);
    f.cr0(CR0.CMDQEN | CR0.EVENTQEN);
    f.w('CR2', 0x6 | 0x8); // + REC_CFG_ATS
    f.cr0(ALL_ON);
    assert.equal(f.smmu.translate(req(4, 0x1000)).recorded, true);
    assert.deepEqual(drainEvents(f, q).map(eventName), ['C_BAD_STE']);
  });

  it('C_BAD_STREAMID for a request needs both REC_CFG_ATS and RECINVSID', () => {
    for (const [cr2, recorded] of [
      [0x6, false],
      [0x8 | 0x4, false],
      [0x8 | 0x6, true],
    ] as const) {
      const f = fixture();
      bringUp(f, { strtabLog2: 4, enable: false });
      f.w('CR2', cr2);
      f.cr0(ALL_ON);
      const r = f.smmu.translate(req(16, 0));
      assert.deepEqual([r.ats?.status, r.event, r.recorded], ['CA', 'C_BAD_STREAMID', recorded], `CR2=0x${cr2.toString(16)}`);
    }
  });

  it('UR: SMMUEN=0, a bypass STE and effective EATS=0 record F_BAD_ATS_TREQ; Config=abort records nothing', () => {
    const f = fixture();
    const q = bringUp(f, { enable: false });
    assert.equal(f.smmu.translate(req(1, 0)).ats?.status, 'UR');
    f.cr0(ALL_ON);
    f.writeWords(q.strtab + 64 * 2, ste({ Config: 'BYPASS', EATS: 'TRANS' }));
    const pt = new PageTables(f, 1, '4k', 48);
    s1Ats(f, q, 3, pt, {}, { EATS: 'ABT' });
    for (const sid of [2, 3]) assert.equal(f.smmu.translate(req(sid, 0)).ats?.status, 'UR');
    const abort = f.smmu.translate(req(5, 0)); // the bring-up's abort STE
    assert.deepEqual([abort.ats?.status, abort.event], ['UR', undefined]);
    assert.deepEqual(drainEvents(f, q).map(eventName), ['F_BAD_ATS_TREQ', 'F_BAD_ATS_TREQ', 'F_BAD_ATS_TREQ']);
  });

  it('S1DSS=bypass with stage 1 only: an identity-mapped completion, R=W=1 (13.6.4)', () => {
    const f = fixture();
    const q = bringUp(f);
    const t = f.alloc(64 * 16, 1024);
    f.writeWords(q.strtab + 64 * 4, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(t), S1CDMax: 4, S1DSS: 'BYPASS', S1STALLD: 1, EATS: 'TRANS' }));
    const r = f.smmu.translate(req(4, 0x8123_4000));
    assert.deepEqual([r.outcome, r.pa, r.ats], ['translated', 0x8123_4000, { status: 'SC', r: true, w: true, x: false, ipa: false }]);
  });

  it('a TLB hit answers the request from the cached permissions', () => {
    const f = fixture();
    const q = bringUp(f);
    const pt = new PageTables(f, 1, '4k', 48);
    const leaf = pt.map(0x1000, 0x8800_0000, 3, { AP: 'RO_ANY' });
    s1Ats(f, q, 8, pt);
    f.smmu.translate({ sid: 8, address: 0x1000, size: 4, write: false });
    f.write64(leaf, 0n);
    const r = f.smmu.translate(req(8, 0x1000, { write: true }));
    assert.deepEqual([r.tlbHit, r.pa, r.ats?.r, r.ats?.w], [true, 0x8800_0000, true, false]);
  });
});

describe('ATS-translated traffic (IHI0070 3.9.1, 3.9.1.1, 3.9.1.3, 6.3.9 ATSCHK)', () => {
  it('CR0.ATSCHK=0: no StreamID range check and no STE lookup at all, only the OAS check', () => {
    const f = fixture();
    const q = bringUp(f, { strtabLog2: 4 });
    f.writeWords(q.strtab + 64 * 6, [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]); // V=0
    const before = f.smmu.cacheStats().ste;
    for (const sid of [6, 5 /* abort STE */, 100 /* beyond LOG2SIZE */]) {
      const r = f.smmu.translate(xlated(sid, 0x8800_0000));
      assert.deepEqual([r.outcome, r.pa, r.path, r.event], ['bypassed', 0x8800_0000, 'ats-translated', undefined], `SID ${sid}`);
    }
    assert.deepEqual(f.smmu.cacheStats().ste, before, 'the stream table was not consulted');
    const high = f.smmu.translate(xlated(6, 2 ** 50));
    assert.deepEqual([high.outcome, high.event], ['aborted', undefined], 'above the 48-bit OAS: aborted, no event (3.9.1.1)');
    assert.deepEqual(drainEvents(f, q), []);
  });

  it('CR0.ATSCHK=1: EATS=0b01 passes with the OAS check; configuration errors abort, recorded only with REC_CFG_ATS (RECINVSID not needed)', () => {
    const f = fixture();
    const q = bringUp(f, { strtabLog2: 4 });
    f.cr0(ALL_ON | CR0.ATSCHK);
    const pt = new PageTables(f, 1, '4k', 48);
    s1Ats(f, q, 8, pt);
    assert.equal(f.smmu.translate(xlated(8, 0x8800_0000)).outcome, 'bypassed');
    assert.equal(f.smmu.translate(xlated(8, 2 ** 49)).outcome, 'aborted');
    f.writeWords(q.strtab + 64 * 6, [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
    const bad = f.smmu.translate(xlated(6, 0x8800_0000));
    assert.deepEqual([bad.outcome, bad.event, bad.recorded], ['aborted', 'C_BAD_STE', false]);
    assert.deepEqual(
      [f.smmu.translate(xlated(5, 0x8800_0000)).outcome, f.smmu.translate(xlated(5, 0x8800_0000)).event],
      ['aborted', undefined],
      'Config=abort: no event',
    );
    assert.deepEqual(drainEvents(f, q), []);
    f.cr0(CR0.CMDQEN | CR0.EVENTQEN | CR0.ATSCHK);
    f.w('CR2', 0x4 | 0x8); // REC_CFG_ATS without RECINVSID
    f.cr0(ALL_ON | CR0.ATSCHK);
    f.smmu.translate(xlated(6, 0x8800_0000));
    f.smmu.translate(xlated(16, 0x8800_0000));
    assert.deepEqual(drainEvents(f, q).map(eventName), ['C_BAD_STE', 'C_BAD_STREAMID']);
  });
});

describe('split-stage ATS, STE.EATS=0b10 (IHI0070 13.6.3, 13.6.5; IDR0.NS1ATS=0)', () => {
  const DATA_IPA = 0x6000_0000;
  function setup() {
    const f = fixture();
    const q = bringUp(f);
    f.cr0(ALL_ON | CR0.ATSCHK);
    const g = new NestedGuest(f);
    g.s2.map(DATA_IPA, 0x9000_0000, 2, { S2AP: 'READ' });
    g.s1.map(0x7000, DATA_IPA + 0x3000);
    g.install(q, 20, {}, { EATS: 'S1CHK' });
    return { f, q, g };
  }

  it('IDR0.NS1ATS=0 advertises it; splitStageAts=false reports NS1ATS=1', () => {
    assert.equal(fixture().field('IDR0', 'NS1ATS'), 0);
    assert.equal(fixture({ splitStageAts: false }).field('IDR0', 'NS1ATS'), 1);
  });

  it('a translation request returns the stage-1 output (the IPA), with permissions from both stages', () => {
    const { f, q } = setup();
    const r = f.smmu.translate(req(20, 0x7000, { write: true }));
    assert.equal(r.outcome, 'translated', r.why);
    assert.equal(r.pa, DATA_IPA + 0x3000, 'an IPA, not the PA 0x9000_3000');
    assert.deepEqual(r.ats, { status: 'SC', r: true, w: false, x: false, ipa: true }, 'stage 2 is read-only');
    const again = f.smmu.translate(req(20, 0x7000));
    assert.deepEqual([again.tlbHit, again.pa], [true, DATA_IPA + 0x3000], 'also from the TLB');
    assert.deepEqual(drainEvents(f, q), []);
  });

  it('translated traffic carries that IPA, and stage 2 translates it; a stage-2 fault is recorded as for any transaction', () => {
    const { f, q } = setup();
    const r = f.smmu.translate(xlated(20, DATA_IPA + 0x3040, { write: false }));
    assert.deepEqual([r.outcome, r.pa], ['translated', 0x9000_3040]);
    const denied = f.smmu.translate(xlated(20, DATA_IPA + 0x3040));
    assert.equal(denied.event, 'F_PERMISSION', 'stage 2 is read-only');
    const unmapped = f.smmu.translate(xlated(20, 0x7000_0000));
    assert.equal(unmapped.event, 'F_TRANSLATION');
    const recs = drainEvents(f, q);
    assert.deepEqual(recs.map(eventName), ['F_PERMISSION', 'F_TRANSLATION']);
    assert.deepEqual(
      ['S2', 'CLASS', 'IPA', 'InputAddr'].map((n) => EVT('F_TRANSLATION').get(recs[1]!, n)),
      [1n, 2n, 0x7000_0000n, 0x7000_0000n],
    );
    // Writes land where stage 2 says, attributed to the device as translated.
    const d = f.smmu.dma({ sid: 20, address: GUEST_IPA + 0x40, write: true, ats: 'translated' }, new Uint8Array(8).fill(7));
    assert.equal(d.completion, 'ok');
    assert.equal(f.memory.lastWriteAt(RAM_BASE + 0x40)?.writer.kind, 'device-translated');
  });

  it('with CR0.ATSCHK=0, EATS=0b10 behaves as 0b00: requests get UR and F_BAD_ATS_TREQ, translated traffic passes as a PA', () => {
    const { f, q } = setup();
    f.cr0(ALL_ON);
    assert.equal(f.smmu.translate(req(20, 0x7000)).ats?.status, 'UR');
    assert.deepEqual(drainEvents(f, q).map(eventName), ['F_BAD_ATS_TREQ']);
    assert.deepEqual([f.smmu.translate(xlated(20, 0x8800_0000)).outcome, f.smmu.translate(xlated(20, 0x8800_0000)).pa], ['bypassed', 0x8800_0000]);
  });

  it('S1DSS=bypass: the request gets the IPA back identity-mapped, with stage-2 permissions (13.6.5)', () => {
    const f = fixture();
    const q = bringUp(f);
    f.cr0(ALL_ON | CR0.ATSCHK);
    const g = new NestedGuest(f);
    g.s2.map(DATA_IPA, 0x9000_0000, 2, { S2AP: 'READ' });
    g.install(q, 21, {}, { EATS: 'S1CHK', S1CDMax: 4, S1DSS: 'BYPASS' });
    const r = f.smmu.translate(req(21, DATA_IPA + 0x5000, { write: true }));
    assert.deepEqual([r.pa, r.ats], [DATA_IPA + 0x5000, { status: 'SC', r: true, w: false, x: false, ipa: true }]);
    assert.equal(f.smmu.translate(req(21, 0x7100_0000)).ats?.r, false, 'unmapped at stage 2: R=W=0');
  });

  it('full ATS (EATS=0b01) on the same nested stream returns the PA instead', () => {
    const f = fixture();
    const q = bringUp(f);
    const g = new NestedGuest(f);
    g.s2.map(DATA_IPA, 0x9000_0000, 2);
    g.s1.map(0x7000, DATA_IPA + 0x3000);
    g.install(q, 22, {}, { EATS: 'TRANS' });
    const r = f.smmu.translate(req(22, 0x7000, { write: true }));
    assert.deepEqual([r.pa, r.ats], [0x9000_3000, { status: 'SC', r: true, w: true, x: false, ipa: false }]);
    void s2Fields;
  });
});
