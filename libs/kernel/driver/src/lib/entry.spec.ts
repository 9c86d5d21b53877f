// SPDX-License-Identifier: Apache-2.0
// The entry writer against Linux 6.12's KUnit suite (arm-smmu-v3-test.c; domain notes 7.3):
// golden STE/CD values from the make functions with the KUnit parameters, and every
// transition with its expected sync count and hitless-ness. The harness is KUnit's: at each
// sync, an entry with V=1 must equal the start or the target under its own used bits.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cdUsed, makeAbortSte, makeBypassSte, makeCdtableSte, makeS1Cd, makeS2Ste, makeSvaReleaseCd, steUsed, writeEntry } from './entry';

const f = { attrTypesOverride: true, stalls: true, e2h: false };
const cdtab = { cdtab: 0xf0f0f0f0f0f0, s1fmt: 'L2_64K' as const, s1cdmax: 0xff };
const cdtableSsid0 = () => makeCdtableSte(f, cdtab, { ats: true, s1dss: 'SSID0' });
const cdtableBypass = () => makeCdtableSte(f, cdtab, { ats: true, s1dss: 'BYPASS' });
const vtcr = { tsz: 4, sl: 3, irgn: 2, orgn: 1, sh: 3, tg: 2, ps: 1 };
const s2 = (stall = false) => makeS2Ste(f, { vmid: 0, vtcr, vttbr: 0xdaedbeefdeadbeefn }, { ats: true, stallEnabled: stall });
const tcr = { tsz: 4, tg: 2, irgn: 2, orgn: 1, sh: 3, ips: 1 };
const s1cd = (asid: number) => makeS1Cd({ asid, tcr, ttbr: 0xdaedbeefdeadbeefn, mair: 0xabcdef012345678n });
// SVA CD: 48-bit VA (T0SZ 16), 4K granule, WB/WB/ISH, TTB0 = the mm's pgd.
const svaCd = (asid: number) => makeS1Cd({ asid, tcr: { tsz: 16, tg: 0, irgn: 1, orgn: 1, sh: 3, ips: 5 }, ttbr: 0x1234000n, mair: 0xf404ff44n });
const empty = () => new Array<bigint>(8).fill(0n);

const hex = (w: readonly bigint[]) => w.slice(0, 4).map((x) => `0x${x.toString(16).toUpperCase().padStart(16, '0')}`);

describe('make functions: golden values (domain notes 7.3, KUnit parameters)', () => {
  it('abort, bypass, CD-table and S2 STEs', () => {
    assert.deepEqual(hex(makeAbortSte()), hex([0x1n, 0n, 0n, 0n]));
    assert.deepEqual(hex(makeBypassSte(f)), hex([0x9n, 0x0000100000000000n, 0n, 0n]));
    assert.deepEqual(hex(cdtableSsid0()), hex([0xf800f0f0f0f0f0ebn, 0x00000000180000d6n, 0n, 0n]));
    assert.deepEqual(hex(cdtableBypass()), hex([0xf800f0f0f0f0f0ebn, 0x00001000180000d5n, 0n, 0n]));
    assert.deepEqual(hex(s2()), hex([0xdn, 0x0000100010000000n, 0x0449b6c400000000n, 0x000dbeefdeadbee0n]));
  });

  it('S1 CD for ASID 1997', () => {
    assert.deepEqual(hex(s1cd(1997)), hex([0x07cde201c0003684n, 0x000dbeefdeadbee0n, 0n, 0x0abcdef012345678n]));
  });

  it('used-bit masks', () => {
    assert.deepEqual(hex(steUsed(makeAbortSte())), hex([0xfn, 0n, 0n, 0n]));
    assert.deepEqual(hex(steUsed(makeBypassSte(f))), hex([0xfn, 0x300000000000n, 0n, 0n]));
    assert.deepEqual(hex(steUsed(cdtableSsid0())), hex([0xf80fffffffffffffn, 0xf80000ffn, 0xffffn, 0n]));
    assert.deepEqual(hex(steUsed(cdtableBypass())), hex([0xf80fffffffffffffn, 0x3000f80000ffn, 0xffffn, 0n]));
    assert.deepEqual(hex(steUsed(s2())), hex([0xfn, 0x300030000000n, 0x065fffff0000ffffn, 0x000ffffffffffff0n]));
    assert.deepEqual(cdUsed(s1cd(1)), new Array(8).fill((1n << 64n) - 1n));
  });
});

/** KUnit's test writer: counts syncs and checks each intermediate entry. */
async function transition(used: (e: readonly bigint[]) => bigint[], start: readonly bigint[], target: readonly bigint[]) {
  const entry = [...start];
  let invalidWritten = false;
  let syncs = 0;
  const masked = (a: readonly bigint[], m: readonly bigint[]) => a.map((x, i) => (x & m[i]!).toString(16)).join(',');
  const r = await writeEntry(
    {
      used,
      write: async (i, v) => void (entry[i] = v),
      sync: async () => {
        syncs++;
        if ((entry[0]! & (used === steUsed ? 1n : 1n << 31n)) === 0n) {
          invalidWritten = true;
          return;
        }
        const u = used(entry);
        const now = masked(entry, u);
        assert.ok(now === masked(start, u) || now === masked(target, u), 'an intermediate entry must equal the start or the target under its used bits');
      },
    },
    [...start],
    target,
  );
  assert.equal(r.syncs, syncs);
  assert.deepEqual(r.warnings, []);
  return { syncs, hitless: !invalidWritten };
}

describe('STE transitions (KUnit arm_smmu_v3_write_ste_test_*)', () => {
  const cases: [string, () => bigint[], () => bigint[], number, boolean][] = [
    ['bypass -> abort', () => makeBypassSte(f), makeAbortSte, 2, true],
    ['abort -> bypass', makeAbortSte, () => makeBypassSte(f), 2, true],
    ['cdtable -> abort', cdtableSsid0, makeAbortSte, 2, true],
    ['abort -> cdtable', makeAbortSte, cdtableSsid0, 2, true],
    ['cdtable -> bypass', cdtableSsid0, () => makeBypassSte(f), 3, true],
    ['bypass -> cdtable', () => makeBypassSte(f), cdtableSsid0, 3, true],
    ['cdtable S1DSS SSID0 -> S1DSS bypass', cdtableSsid0, cdtableBypass, 1, true],
    ['cdtable S1DSS bypass -> S1DSS SSID0', cdtableBypass, cdtableSsid0, 1, true],
    ['S1DSS bypass cdtable -> bypass', cdtableBypass, () => makeBypassSte(f), 2, true],
    ['bypass -> S1DSS bypass cdtable', () => makeBypassSte(f), cdtableBypass, 2, true],
    ['s2 -> abort', s2, makeAbortSte, 2, true],
    ['abort -> s2', makeAbortSte, s2, 2, true],
    ['s2 -> bypass', s2, () => makeBypassSte(f), 2, true],
    ['bypass -> s2', () => makeBypassSte(f), s2, 2, true],
    ['s1 -> s2', cdtableSsid0, s2, 3, true],
    ['s2 -> s1', s2, cdtableSsid0, 3, true],
    ['s1 -> s2 with stall', cdtableSsid0, () => s2(true), 3, true],
    ['s2 with stall -> s1', () => s2(true), cdtableSsid0, 3, true],
    [
      'cdtable (ptr A, SSID0) -> cdtable (ptr B, S1DSS bypass): breaking',
      cdtableSsid0,
      () => makeCdtableSte(f, { ...cdtab, cdtab: 0x0f0f0f0f0f00 }, { ats: true, s1dss: 'BYPASS' }),
      3,
      false,
    ],
  ];
  for (const [name, from, to, syncs, hitless] of cases) {
    it(`${name}: ${syncs} syncs, ${hitless ? 'hitless' : 'not hitless'}`, async () => {
      assert.deepEqual(await transition(steUsed, from(), to()), { syncs, hitless });
    });
  }
});

describe('CD transitions (KUnit arm_smmu_v3_write_cd_test_*)', () => {
  const cases: [string, () => bigint[], () => bigint[], number, boolean][] = [
    ['empty -> S1 CD', empty, () => s1cd(1997), 2, false],
    ['S1 CD -> empty', () => s1cd(1997), empty, 2, false],
    ['ASID 778 -> ASID 1997', () => s1cd(778), () => s1cd(1997), 1, true],
    ['ASID 1997 -> ASID 778', () => s1cd(1997), () => s1cd(778), 1, true],
    ['empty -> SVA CD', empty, () => svaCd(1997), 2, false],
    ['SVA CD -> empty', () => svaCd(1997), empty, 2, false],
    ['SVA -> SVA release', () => svaCd(1997), () => makeSvaReleaseCd(svaCd(1997)), 2, true],
    ['SVA release -> SVA', () => makeSvaReleaseCd(svaCd(1997)), () => svaCd(1997), 2, true],
  ];
  for (const [name, from, to, syncs, hitless] of cases) {
    it(`${name}: ${syncs} syncs, ${hitless ? 'hitless' : 'not hitless'}`, async () => {
      assert.deepEqual(await transition(cdUsed, from(), to()), { syncs, hitless });
    });
  }
});
