// SPDX-License-Identifier: Apache-2.0
// cachedTranslation() and translationEpoch(): what the platform grants devices direct memory
// from (libs/scenario/engine device-dmi.ts). The answer is translate()'s for a cached access, it
// touches nothing, and it changes only with translationEpoch(): an invalidation, SFM, SMMUEN.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bringUp, cd, cmd, CR0, fixture, PageTables, ste, submit } from '../testing/fixture';

function stream(opts: { atschk?: boolean } = {}) {
  const f = fixture();
  const q = bringUp(f);
  if (opts.atschk) f.cr0(CR0.CMDQEN | CR0.EVENTQEN | CR0.SMMUEN | CR0.ATSCHK);
  const pt = new PageTables(f, 1, '4k', 48);
  pt.map(0x1000, 0x8c00_0000);
  pt.map(0x2000, 0x8c00_1000);
  const cdAddr = f.alloc(64, 64);
  f.writeWords(cdAddr, cd(pt, 3));
  f.writeWords(q.strtab + 64 * 1, ste({ Config: 'S1_TRANS', S1ContextPtr: BigInt(cdAddr), S1STALLD: 1, EATS: 'TRANS' }));
  return { f, q };
}

describe('cachedTranslation: the fast path, answered without side effects', () => {
  it('answers only once STE, CD and TLB entry are cached, with the page translate() gives, and counts nothing', () => {
    const { f } = stream();
    assert.equal(f.smmu.cachedTranslation(1, 0x1040, false), undefined, 'nothing cached yet');
    assert.equal(f.smmu.translate({ sid: 1, address: 0x1040, size: 4, write: false }).pa, 0x8c00_0040);
    const before = JSON.stringify(f.smmu.cacheStats());
    const c = f.smmu.cachedTranslation(1, 0x1ff0, false);
    assert.equal(c?.page, 0x8c00_0000);
    assert.equal(f.smmu.cachedTranslation(1, 0x2000, false), undefined, 'another page is not in the TLB');
    assert.equal(JSON.stringify(f.smmu.cacheStats()), before, 'no counter or recency changed');
    assert.equal(f.smmu.cachedTranslation(1, 0x1ff0, false)?.entry, c?.entry, 'the same TLB entry decides it');
  });

  it('a TLBI that removes the entry changes the epoch and the answer; one that misses it changes neither answer', () => {
    const { f, q } = stream();
    f.smmu.translate({ sid: 1, address: 0x1000, size: 4, write: false });
    f.smmu.translate({ sid: 1, address: 0x2000, size: 4, write: false });
    const e0 = f.smmu.translationEpoch();
    submit(f, q, [cmd.tlbiNhVa(3, 0x2000), cmd.sync()]);
    assert.notEqual(f.smmu.translationEpoch(), e0);
    assert.equal(f.smmu.cachedTranslation(1, 0x2000, false), undefined);
    assert.equal(f.smmu.cachedTranslation(1, 0x1000, false)?.page, 0x8c00_0000, 'the other page still answers');
    const e1 = f.smmu.translationEpoch();
    f.smmu.translate({ sid: 1, address: 0x1000, size: 4, write: false });
    assert.equal(f.smmu.translationEpoch(), e1, 'a hit changes nothing');
  });

  it('SFM ends every answer and SMMUEN=0 hands them to GBPA, each with a new epoch', () => {
    const { f } = stream();
    f.smmu.translate({ sid: 1, address: 0x1000, size: 4, write: false });
    const e0 = f.smmu.translationEpoch();
    f.smmu.injectServiceFailure();
    assert.notEqual(f.smmu.translationEpoch(), e0);
    assert.equal(f.smmu.cachedTranslation(1, 0x1000, false), undefined);
    const g = stream();
    g.f.smmu.translate({ sid: 1, address: 0x1000, size: 4, write: false });
    const e1 = g.f.smmu.translationEpoch();
    g.f.cr0(CR0.CMDQEN | CR0.EVENTQEN);
    assert.notEqual(g.f.smmu.translationEpoch(), e1);
    // Now GBPA decides, whatever the caches hold: the same answer translate() gives.
    const t = g.f.smmu.translate({ sid: 1, address: 0x1000, size: 4, write: false });
    assert.equal(g.f.smmu.cachedTranslation(1, 0x1000, false)?.page, t.outcome === 'bypassed' ? 0x1000 : undefined);
  });

  it('a cached bypass STE (an identity domain) answers with the address itself', () => {
    const { f, q } = stream();
    f.writeWords(q.strtab + 64 * 2, ste({ Config: 'BYPASS' }));
    assert.equal(f.smmu.cachedTranslation(2, 0x8123_4560, true), undefined, 'STE not cached yet');
    assert.equal(f.smmu.translate({ sid: 2, address: 0x8123_4560, size: 4, write: true }).outcome, 'bypassed');
    assert.equal(f.smmu.cachedTranslation(2, 0x8123_4560, true)?.page, 0x8123_4000);
  });

  it('SMMUEN=0: GBPA bypass answers with the address itself, GBPA.ABORT nothing; a GBPA update moves the epoch (IHI0070 6.3.14)', () => {
    const f = fixture();
    bringUp(f, { enable: false });
    assert.equal(f.smmu.cachedTranslation(1, 0x8123_4560, true)?.page, 0x8123_4000);
    assert.equal(f.smmu.cachedTranslation(1, 0x8123_4560, true, 'translated'), undefined, 'ATS-translated traffic is F_TRANSL_FORBIDDEN');
    const e0 = f.smmu.translationEpoch();
    f.w('GBPA', (1 << 31) | (1 << 20)); // Update, ABORT
    f.clock.advance(10_000);
    assert.notEqual(f.smmu.translationEpoch(), e0);
    assert.equal(f.smmu.cachedTranslation(1, 0x8123_4560, true), undefined);
    assert.equal(f.smmu.translate({ sid: 1, address: 0x8123_4560, size: 4, write: true }).outcome, 'aborted');
  });

  it('ATS-translated: passed through while CR0.ATSCHK=0; with ATSCHK=1 only under a cached STE with EATS=0b01 (IHI0070 3.9.1.3)', () => {
    const { f } = stream();
    assert.equal(f.smmu.cachedTranslation(1, 0x9000_0040, false, 'translated')?.page, 0x9000_0000);
    const chk = stream({ atschk: true });
    assert.equal(chk.f.smmu.cachedTranslation(1, 0x9000_0040, false, 'translated'), undefined, 'STE not cached yet');
    const r = chk.f.smmu.translate({ sid: 1, address: 0x9000_0040, size: 4, write: false, ats: 'translated' });
    assert.equal(r.pa, 0x9000_0040);
    assert.equal(chk.f.smmu.cachedTranslation(1, 0x9000_0040, false, 'translated')?.page, 0x9000_0000);
  });
});
