// SPDX-License-Identifier: Apache-2.0
// Golden vectors. Every expected value below was worked out BY HAND from the research notes
// (shared/domain/smmuv3-architecture.md sections 1-7, 9 and kdump-adopt-series.md section 0),
// never produced by running this library. The comment on each vector names the section.
// A failure here means the library disagrees with the notes: do not "fix" the expected value
// without re-deriving it from the notes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CD,
  CD_L1,
  decodeFormat,
  dwordsFromBytes,
  dwordsToBytes,
  findFormat,
  findRegister,
  formatNames,
  L1STD,
  type Decoded,
  type Layout,
  registerAt,
  STE,
} from '../index';

/** Asserts the listed fields (and only claims those), with a message naming the field. */
function assertFields(d: Decoded, expected: Record<string, bigint>): void {
  for (const [name, v] of Object.entries(expected)) {
    assert.equal((d.fields as Record<string, bigint>)[name], v, `${d.format}.${name}`);
  }
}

/** A decode with no RES0 bits set and no reserved encoding. */
function assertClean(d: Decoded): void {
  assert.deepEqual(d.res0, [], `${d.format}: unexpected RES0 bits`);
  assert.deepEqual(d.reserved, [], `${d.format}: unexpected reserved encodings`);
}

function fmt(name: string): Layout {
  const l = findFormat(name);
  assert.ok(l, `format ${name} exists`);
  return l;
}

function encodeOk(l: Layout, values: Record<string, bigint | number | string>): readonly bigint[] {
  const r = l.encode(values);
  assert.ok(r.ok, r.ok ? '' : `${r.error.field}/${r.error.rule}: ${r.error.message}`);
  return r.words;
}

/** The union of the bits the named fields cover in dword `word`, from the library's table. */
function fieldMask(l: Layout, word: number, names: readonly string[]): bigint {
  let m = 0n;
  for (const n of names) {
    const f = l.field(n);
    assert.ok(f, `${l.name}.${n} exists`);
    assert.equal(f.word, word, `${l.name}.${n} is in dw${word}`);
    m |= ((1n << BigInt(f.width)) - 1n) << BigInt(f.lsb);
  }
  return m;
}

const pad8 = (ws: bigint[]): bigint[] => [...ws, ...new Array<bigint>(8 - ws.length).fill(0n)];

// ---------------------------------------------------------------------------------------------
// STE: the Linux 6.12 KUnit golden table (notes 7.3) and the STE field table (notes section 3).
// ---------------------------------------------------------------------------------------------
describe('ste (KUnit golden table, notes 7.3)', () => {
  // smmuv3-architecture.md 7.3 KUnit golden: abort STE dw0 0x1 (V=1, Config=0 ABORT)
  const ABORT = pad8([0x1n]);
  // smmuv3-architecture.md 7.3 KUnit golden: bypass STE dw0 0x9 (V=1, Config=4<<1=8), dw1 bit 44 SHCFG=1 INCOMING
  const BYPASS = pad8([0x9n, 0x0000_1000_0000_0000n]);
  // smmuv3-architecture.md 7.3 KUnit golden: CD-table STE, S1DSS=SSID0, ATS
  // dw0: 0xF0F0F0F0F0F0 & [55:6] = 0xF0F0F0F0F0C0; | S1Fmt 2<<4 (0x20) | Config 5<<1 (0xA) | V (1) = ...F0EB;
  //      | S1CDMax 31<<59 = 0xF800_0000_0000_0000
  // dw1: S1DSS 2 | S1CIR 1<<2 | S1COR 1<<4 | S1CSH 3<<6 = 0xD6; S1STALLD 1<<27 = 0x0800_0000; EATS 1<<28 = 0x1000_0000
  const CDTAB_SSID0 = pad8([0xf800_f0f0_f0f0_f0ebn, 0x0000_0000_1800_00d6n]);
  // smmuv3-architecture.md 7.3 KUnit golden: CD-table STE, S1DSS=BYPASS (0xD5: S1DSS=1), SHCFG=1 (bit 44)
  const CDTAB_BYPASS = pad8([0xf800_f0f0_f0f0_f0ebn, 0x0000_1000_1800_00d5n]);
  // smmuv3-architecture.md 7.3 KUnit golden: S2 STE (ATS), vtcr tsz=4 sl=3 irgn=2 orgn=1 sh=3 tg=2 ps=1,
  // vttbr 0xdaedbeefdeadbeef & [51:4] = 0x000DBEEFDEADBEE0
  const S2 = pad8([0xdn, 0x0000_1000_1000_0000n, 0x0449_b6c4_0000_0000n, 0x000d_beef_dead_bee0n]);

  const CDTAB_FIELDS = {
    V: 1n,
    Config: 5n, // S1_TRANS
    S1Fmt: 2n, // 64K L2 (Linux STRTAB_STE_0_S1FMT_64K_L2), notes 2.4
    S1ContextPtr: 0xf0f0_f0f0_f0c0n, // notes 7.3: 0xF0F0F0F0F0F0 masked to [55:6]
    S1CDMax: 31n, // notes 7.3: 0xFF passed, 31 in the 5-bit field
    S1DSS: 2n, // SSID0
    S1CIR: 1n, // WBRA
    S1COR: 1n, // WBRA
    S1CSH: 3n, // ISH
    S1STALLD: 1n,
    EATS: 1n, // TRANS
  };

  it('abort STE: encode and decode', () => {
    // smmuv3-architecture.md 7.3 KUnit golden: abort STE
    assert.deepEqual(encodeOk(STE, { V: 1, Config: 'ABORT' }), ABORT);
    const d = STE.decode(ABORT);
    assertFields(d, { V: 1n, Config: 0n });
    assert.equal(d.names.Config, 'ABORT');
    assertClean(d);
  });

  it('bypass STE (ATTR_TYPES_OVR: SHCFG=INCOMING): encode and decode', () => {
    // smmuv3-architecture.md 7.3 KUnit golden: bypass STE; notes 3 SHCFG [45:44] 1 = use incoming
    assert.deepEqual(encodeOk(STE, { V: 1, Config: 'BYPASS', SHCFG: 'USE_INCOMING' }), BYPASS);
    const d = STE.decode(BYPASS);
    assertFields(d, { V: 1n, Config: 4n, SHCFG: 1n });
    assert.equal(d.names.Config, 'BYPASS');
    assertClean(d);
  });

  it('CD-table STE, S1DSS=SSID0, ATS: encode by enumeration names gives the golden dwords', () => {
    // smmuv3-architecture.md 7.3 KUnit golden: CD-table STE (S1DSS=SSID0, ATS)
    const words = encodeOk(STE, {
      V: 1,
      Config: 'S1_TRANS',
      S1Fmt: 'L2_64K',
      S1ContextPtr: 0xf0f0_f0f0_f0c0n,
      S1CDMax: 31,
      S1DSS: 'SSID0',
      S1CIR: 'WBRA',
      S1COR: 'WBRA',
      S1CSH: 'ISH',
      S1STALLD: 1,
      EATS: 'TRANS',
    });
    assert.deepEqual(words, CDTAB_SSID0);
  });

  it('CD-table STE, S1DSS=SSID0, ATS: decode gives every field', () => {
    // smmuv3-architecture.md 7.3 KUnit golden: CD-table STE (S1DSS=SSID0, ATS)
    const d = STE.decode(CDTAB_SSID0);
    assertFields(d, { ...CDTAB_FIELDS, SHCFG: 0n, S2VMID: 0n, STRW: 0n });
    assert.equal(d.names.Config, 'S1_TRANS');
    assert.equal(d.names.S1DSS, 'SSID0');
    assert.equal(d.names.EATS, 'TRANS');
    assertClean(d);
  });

  it('CD-table STE, S1DSS=BYPASS: encode and decode', () => {
    // smmuv3-architecture.md 7.3 KUnit golden: CD-table STE (S1DSS=BYPASS, ATS); dw1 0xD5 + SHCFG bit 44
    assert.deepEqual(encodeOk(STE, { ...CDTAB_FIELDS, S1DSS: 'BYPASS', SHCFG: 1 }), CDTAB_BYPASS);
    const d = STE.decode(CDTAB_BYPASS);
    assertFields(d, { ...CDTAB_FIELDS, S1DSS: 1n, SHCFG: 1n });
    assert.equal(d.names.S1DSS, 'BYPASS');
    assertClean(d);
  });

  it('S2 STE: decode of the golden dw2 0x0449B6C400000000, field by field', () => {
    // smmuv3-architecture.md 7.3 KUnit golden: S2 STE. dw2[63:32] = 0x0449B6C4:
    //   0xC4 = 1100_0100: [37:32] = 000100 = 4 (S2T0SZ), [39:38] = 11 = 3 (S2SL0)
    //   0xB6 = 1011_0110: [41:40] = 10 = 2 (S2IR0), [43:42] = 01 = 1 (S2OR0), [45:44] = 11 = 3 (S2SH0), [47:46] = 10 = 2 (S2TG 16K)
    //   0x49 = 0100_1001: [50:48] = 001 = 1 (S2PS 36-bit), bit 51 = 1 (S2AA64), bit 52 = 0 (S2ENDI), bit 53 = 0, bit 54 = 1 (S2PTW)
    //   0x04 = 0000_0100: bit 58 = 1 (S2R), bit 57 = 0 (S2S)
    const d = STE.decode(S2);
    assertFields(d, {
      V: 1n,
      Config: 6n, // 0xD = 1101: V=1, Config=110
      EATS: 1n, // dw1 bit 28
      SHCFG: 1n, // dw1 bit 44
      S2VMID: 0n,
      S2T0SZ: 4n,
      S2SL0: 3n,
      S2IR0: 2n,
      S2OR0: 1n,
      S2SH0: 3n,
      S2TG: 2n,
      S2PS: 1n,
      S2AA64: 1n,
      S2ENDI: 0n,
      S2AFFD: 0n,
      S2PTW: 1n,
      S2HD: 0n,
      S2HA: 0n,
      S2S: 0n,
      S2R: 1n,
      S2TTB: 0x000d_beef_dead_bee0n,
    });
    assert.equal(d.names.Config, 'S2_TRANS');
    assert.equal(d.names.S2TG, 'G16K'); // notes 3: S2TG 2 = 16K
    assert.equal(d.names.S2PS, 'PA36'); // notes 1.2 IDR5.OAS encoding: 1 = 36 bits
    assertClean(d);
  });

  it('S2 STE: encode from the vtcr fields gives the golden dwords', () => {
    // smmuv3-architecture.md 7.3 KUnit golden: S2 STE
    const words = encodeOk(STE, {
      V: 1,
      Config: 'S2_TRANS',
      EATS: 'TRANS',
      SHCFG: 'USE_INCOMING',
      S2T0SZ: 4,
      S2SL0: 3,
      S2IR0: 2,
      S2OR0: 1,
      S2SH0: 3,
      S2TG: 2,
      S2PS: 1,
      S2AA64: 1,
      S2PTW: 1,
      S2R: 1,
      S2TTB: 0x000d_beef_dead_bee0n,
    });
    assert.deepEqual(words, S2);
  });

  it('used-bit masks of notes 7.3 are exactly the unions of the named fields', () => {
    // smmuv3-architecture.md 7.3 used-bit masks: CD-table dw1 0xF80000FF = S1DSS..S1CSH (0xFF) | S1STALLD (bit 27) | EATS [29:28] | STRW [31:30]
    assert.equal(fieldMask(STE, 1, ['S1DSS', 'S1CIR', 'S1COR', 'S1CSH', 'S1STALLD', 'EATS', 'STRW']), 0xf800_00ffn);
    // smmuv3-architecture.md 7.3 used-bit masks: bypass dw1 0x300000000000 = SHCFG [45:44]
    assert.equal(fieldMask(STE, 1, ['SHCFG']), 0x3000_0000_0000n);
    // smmuv3-architecture.md 7.3 used-bit masks: S2 dw1 0x300030000000 = EATS | SHCFG
    assert.equal(fieldMask(STE, 1, ['EATS', 'SHCFG']), 0x3000_3000_0000n);
    // smmuv3-architecture.md 7.3 used-bit masks: S2 dw2 0x065FFFFF0000FFFF = S2VMID | VTCR[50:32] | S2AA64 | S2ENDI | S2PTW | S2S | S2R
    const vtcr = ['S2T0SZ', 'S2SL0', 'S2IR0', 'S2OR0', 'S2SH0', 'S2TG', 'S2PS'];
    assert.equal(fieldMask(STE, 2, ['S2VMID', ...vtcr, 'S2AA64', 'S2ENDI', 'S2PTW', 'S2S', 'S2R']), 0x065f_ffff_0000_ffffn);
    // smmuv3-architecture.md 7.3 used-bit masks: dw0 0xF80FFFFFFFFFFFFF is V|Config|S1Fmt|S1ContextPtr|S1CDMax with Linux's [51:6]
    // pointer mask; the architectural field is [55:6] (notes 3), so the library's union is 0xF8FFFFFFFFFFFFFF.
    assert.equal(fieldMask(STE, 0, ['V', 'Config', 'S1Fmt', 'S1ContextPtr', 'S1CDMax']), 0xf8ff_ffff_ffff_ffffn);
  });
});

// ---------------------------------------------------------------------------------------------
// CD (notes 4 and the KUnit golden of 7.3)
// ---------------------------------------------------------------------------------------------
describe('cd (KUnit golden S1 CD, notes 7.3 and 4)', () => {
  // smmuv3-architecture.md 7.3 KUnit golden: S1 CD, ASID 1997
  // dw0 = 0x07CD_E201_C000_3684: ASID 0x07CD = 1997; 0xE201 = ASET(47)|A(46)|R(45)|AA64(41)|IPS=1(34:32);
  //       0xC000_3684 = V(31)|EPD1(30)| SH0=3<<12 | OR0=1<<10 | IR0=2<<8 | TG0=2<<6 | T0SZ=4
  const GOLDEN = pad8([0x07cd_e201_c000_3684n, 0x000d_beef_dead_bee0n, 0n, 0x0abc_def0_1234_5678n]);
  const FIELDS = {
    T0SZ: 4n,
    TG0: 2n,
    IR0: 2n,
    OR0: 1n,
    SH0: 3n,
    EPD0: 0n,
    ENDI: 0n,
    EPD1: 1n,
    V: 1n,
    IPS: 1n,
    AA64: 1n,
    HD: 0n,
    HA: 0n,
    S: 0n,
    R: 1n,
    A: 1n,
    ASET: 1n,
    ASID: 1997n,
    TTB0: 0x000d_beef_dead_bee0n, // ttbr 0xdaedbeefdeadbeef & Linux [51:4]
    MAIR0: 0x1234_5678n, // mair 0x0abcdef012345678, dw3[31:0]
    MAIR1: 0x0abc_def0n, // dw3[63:32]
  };

  it('encode gives the golden dwords', () => {
    // smmuv3-architecture.md 7.3 KUnit golden: S1 CD ASID 1997
    assert.deepEqual(encodeOk(CD, FIELDS), GOLDEN);
  });

  it('decode gives every field', () => {
    // smmuv3-architecture.md 7.3 KUnit golden: S1 CD ASID 1997 (CD layout notes 4)
    const d = CD.decode(GOLDEN);
    assertFields(d, FIELDS);
    assert.equal(d.names.TG0, 'G16K'); // notes 4: TG0 2 = 16K
    assertClean(d);
  });
});

// ---------------------------------------------------------------------------------------------
// Registers (notes 1.1, 1.2, 1.7, 9; kdump-adopt-series.md 0)
// ---------------------------------------------------------------------------------------------
describe('registers: QEMU defaults (notes 9) decoded field by field', () => {
  it('IDR0 0x0D44101A', () => {
    // smmuv3-architecture.md 9 QEMU defaults: IDR0 = 0x0D44101A, fields per notes 1.2
    // 0x1A = 0001_1010: S1P(1), TTF[3:2]=10, COHACC(4); 0x10 -> ASID16(12); 0x44 -> VMID16(18), TTENDIAN[22:21]=10;
    // 0x0D = 0000_1101 -> STALL_MODEL[25:24]=01, TERM_MODEL(26), ST_LEVEL[28:27]=01
    const d = findRegister('IDR0')!.decode([0x0d44_101an]);
    assertFields(d, {
      S2P: 0n,
      S1P: 1n,
      TTF: 2n,
      COHACC: 1n,
      BTM: 0n,
      HTTU: 0n,
      DORMHINT: 0n,
      Hyp: 0n,
      ATS: 0n,
      NS1ATS: 0n,
      ASID16: 1n,
      MSI: 0n,
      SEV: 0n,
      ATOS: 0n,
      PRI: 0n,
      VMW: 0n,
      VMID16: 1n,
      CD2L: 0n,
      VATOS: 0n,
      TTENDIAN: 2n,
      ATSRECERR: 0n,
      STALL_MODEL: 1n,
      TERM_MODEL: 1n,
      ST_LEVEL: 1n,
      RME_IMPL: 0n,
    });
    assert.equal(d.names.TTF, 'AARCH64');
    assert.equal(d.names.TTENDIAN, 'LITTLE');
    assert.equal(d.names.STALL_MODEL, 'TERMINATE_ONLY');
    assert.equal(d.names.ST_LEVEL, 'TWO_LEVEL');
    assertClean(d);
  });

  it('IDR1 0x02730010', () => {
    // smmuv3-architecture.md 9 QEMU defaults: IDR1 = 0x02730010: SIDSIZE 16, EVENTQS 19, CMDQS 19, SSIDSIZE 0
    // [31:16] = 0x0273 = 0000_0010_0111_0011: EVENTQS = [20:16] = 10011 = 19; CMDQS = 0x273 >> 5 = 19
    const d = findRegister('IDR1')!.decode([0x0273_0010n]);
    assertFields(d, {
      SIDSIZE: 16n,
      SSIDSIZE: 0n,
      PRIQS: 0n,
      EVENTQS: 19n,
      CMDQS: 19n,
      ATTR_PERMS_OVR: 0n,
      ATTR_TYPES_OVR: 0n,
      REL: 0n,
      QUEUES_PRESET: 0n,
      TABLES_PRESET: 0n,
      ECMDQ: 0n,
    });
    assertClean(d);
  });

  it('IDR3 0x1404', () => {
    // smmuv3-architecture.md 9 QEMU defaults: IDR3 = 0x1404 = RIL(10) | HAD(2) | BBML[12:11]=2 (bit 12)
    const d = findRegister('IDR3')!.decode([0x1404n]);
    assertFields(d, { HAD: 1n, PBHA: 0n, XNX: 0n, RIL: 1n, BBML: 2n, E0PD: 0n, FWB: 0n, STT: 0n });
    assertClean(d);
  });

  it('IDR5 0x74', () => {
    // smmuv3-architecture.md 9 QEMU defaults: IDR5 = 0x74 = 0111_0100: OAS[2:0]=100 (44 bits), GRAN4K(4), GRAN16K(5), GRAN64K(6)
    const d = findRegister('IDR5')!.decode([0x74n]);
    assertFields(d, { OAS: 4n, GRAN4K: 1n, GRAN16K: 1n, GRAN64K: 1n, DS: 0n, VAX: 0n, STALL_MAX: 0n });
    assert.equal(d.names.OAS, 'PA44');
    assertClean(d);
  });

  it('GBPA reset 0x1000: SHCFG = use incoming, ABORT = 0, Update = 0', () => {
    // smmuv3-architecture.md 1.2 GBPA / 9 QEMU defaults: GBPA resets to 0x00001000 ([13:12] SHCFG = 01)
    const gbpa = findRegister('GBPA')!;
    assert.equal(gbpa.resetValue, 0x1000n);
    const d = gbpa.decode([0x1000n]);
    assertFields(d, { MemAttr: 0n, MTCFG: 0n, ALLOCCFG: 0n, SHCFG: 1n, PRIVCFG: 0n, INSTCFG: 0n, ABORT: 0n, Update: 0n });
    assert.equal(d.names.SHCFG, 'USE_INCOMING');
    assertClean(d);
  });
});

describe('registers: what Linux writes (notes 1.2, 1.7)', () => {
  it('CR1 0xD75: WB/WB/ISH for queues and tables', () => {
    // smmuv3-architecture.md 1.2 CR1: 0xD75 = 1101_0111_0101: [1:0]=01 [3:2]=01 [5:4]=11 [7:6]=01 [9:8]=01 [11:10]=11
    const d = findRegister('CR1')!.decode([0xd75n]);
    assertFields(d, { QUEUE_IC: 1n, QUEUE_OC: 1n, QUEUE_SH: 3n, TABLE_IC: 1n, TABLE_OC: 1n, TABLE_SH: 3n });
    assert.equal(d.names.QUEUE_IC, 'WB');
    assert.equal(d.names.TABLE_SH, 'ISH');
    assertClean(d);
    // and the other direction
    assert.deepEqual(encodeOk(findRegister('CR1')!, { QUEUE_IC: 'WB', QUEUE_OC: 'WB', QUEUE_SH: 'ISH', TABLE_IC: 'WB', TABLE_OC: 'WB', TABLE_SH: 'ISH' }), [
      0xd75n,
    ]);
  });

  it('CR2 0x6: PTM | RECINVSID', () => {
    // smmuv3-architecture.md 1.2 CR2: Linux writes 0x6 = PTM (bit 2) | RECINVSID (bit 1)
    const d = findRegister('CR2')!.decode([0x6n]);
    assertFields(d, { E2H: 0n, RECINVSID: 1n, PTM: 1n, REC_CFG_ATS: 0n });
    assertClean(d);
  });

  it('STRTAB_BASE_CFG 0x10210 for SIDSIZE 16', () => {
    // smmuv3-architecture.md 1.7 step 3 / IHI0070 ch.6 via notes 1.2 STRTAB_BASE_CFG: FMT=1<<16 | SPLIT=8<<6 (0x200) | LOG2SIZE=16 (0x10)
    const r = findRegister('STRTAB_BASE_CFG')!;
    assert.deepEqual(encodeOk(r, { FMT: 'TWO_LEVEL', SPLIT: 8, LOG2SIZE: 16 }), [0x10210n]);
    const d = r.decode([0x10210n]);
    assertFields(d, { FMT: 1n, SPLIT: 8n, LOG2SIZE: 16n });
    assertClean(d);
  });

  it('STRTAB_BASE: ADDR in place plus RA (bit 62)', () => {
    // smmuv3-architecture.md 1.2 STRTAB_BASE: ADDR [55:6], RA [62]; 0x4000_0000_8000_0000 = RA | 0x8000_0000
    const r = findRegister('STRTAB_BASE')!;
    assert.deepEqual(encodeOk(r, { ADDR: 0x8000_0000n, RA: 1 }), [0x4000_0000_8000_0000n]);
    assertFields(r.decode([0x4000_0000_8000_0000n]), { ADDR: 0x8000_0000n, RA: 1n });
  });

  it('CMDQ_BASE: LOG2SIZE, ADDR [55:5], RA', () => {
    // smmuv3-architecture.md 1.2 CMDQ_BASE: [4:0] LOG2SIZE, ADDR [55:5], [62] RA; 0x4000_0000_9000_0008 = RA | 0x9000_0000 | 8
    const r = findRegister('CMDQ_BASE')!;
    assert.deepEqual(encodeOk(r, { LOG2SIZE: 8, ADDR: 0x9000_0000n, RA: 1 }), [0x4000_0000_9000_0008n]);
  });
});

describe('registers: offsets, pages, widths, access and reset (notes 1.1, kdump-adopt-series.md 0)', () => {
  // smmuv3-architecture.md 1.1 offsets table (page 0 unless noted); kdump-adopt-series.md 0 register offsets
  const TABLE: readonly [name: string, offset: number, page: 0 | 1, width: 32 | 64, access: 'RO' | 'RW'][] = [
    ['IDR0', 0x000, 0, 32, 'RO'],
    ['IDR1', 0x004, 0, 32, 'RO'],
    ['IDR2', 0x008, 0, 32, 'RO'],
    ['IDR3', 0x00c, 0, 32, 'RO'],
    ['IDR4', 0x010, 0, 32, 'RO'],
    ['IDR5', 0x014, 0, 32, 'RO'],
    ['IIDR', 0x018, 0, 32, 'RO'],
    ['AIDR', 0x01c, 0, 32, 'RO'],
    ['CR0', 0x020, 0, 32, 'RW'],
    ['CR0ACK', 0x024, 0, 32, 'RO'],
    ['CR1', 0x028, 0, 32, 'RW'],
    ['CR2', 0x02c, 0, 32, 'RW'],
    ['S2PII', 0x030, 0, 64, 'RW'],
    ['STATUSR', 0x040, 0, 32, 'RO'],
    ['GBPA', 0x044, 0, 32, 'RW'],
    ['AGBPA', 0x048, 0, 32, 'RW'],
    ['IRQ_CTRL', 0x050, 0, 32, 'RW'],
    ['IRQ_CTRLACK', 0x054, 0, 32, 'RO'],
    ['GERROR', 0x060, 0, 32, 'RO'],
    ['GERRORN', 0x064, 0, 32, 'RW'],
    ['GERROR_IRQ_CFG0', 0x068, 0, 64, 'RW'],
    ['GERROR_IRQ_CFG1', 0x070, 0, 32, 'RW'],
    ['GERROR_IRQ_CFG2', 0x074, 0, 32, 'RW'],
    ['STRTAB_BASE', 0x080, 0, 64, 'RW'],
    ['STRTAB_BASE_CFG', 0x088, 0, 32, 'RW'],
    ['CMDQ_BASE', 0x090, 0, 64, 'RW'],
    ['CMDQ_PROD', 0x098, 0, 32, 'RW'],
    ['CMDQ_CONS', 0x09c, 0, 32, 'RW'],
    ['EVENTQ_BASE', 0x0a0, 0, 64, 'RW'],
    ['EVENTQ_IRQ_CFG0', 0x0b0, 0, 64, 'RW'],
    ['EVENTQ_IRQ_CFG1', 0x0b8, 0, 32, 'RW'],
    ['EVENTQ_IRQ_CFG2', 0x0bc, 0, 32, 'RW'],
    ['PRIQ_BASE', 0x0c0, 0, 64, 'RW'],
    ['PRIQ_IRQ_CFG0', 0x0d0, 0, 64, 'RW'],
    ['PRIQ_IRQ_CFG1', 0x0d8, 0, 32, 'RW'],
    ['PRIQ_IRQ_CFG2', 0x0dc, 0, 32, 'RW'],
    ['IDR6', 0x190, 0, 32, 'RO'],
    ['EVENTQ_PROD', 0x0a8, 1, 32, 'RW'],
    ['EVENTQ_CONS', 0x0ac, 1, 32, 'RW'],
    ['PRIQ_PROD', 0x0c8, 1, 32, 'RW'],
    ['PRIQ_CONS', 0x0cc, 1, 32, 'RW'],
  ];
  for (const [name, offset, page, width, access] of TABLE) {
    const r = findRegister(name);
    it(`${name}: page ${page} 0x${offset.toString(16)}, ${width}-bit ${access}`, () => {
      // smmuv3-architecture.md 1.1 offsets table
      assert.ok(r);
      assert.equal(r.offset, offset, `${name}.offset`);
      assert.equal(r.page, page, `${name}.page`);
      assert.equal(r.width, width, `${name}.width`);
      assert.equal(r.access, access, `${name}.access`);
      assert.equal(r.absoluteOffset, page * 0x10000 + offset, `${name}.absoluteOffset`);
    });
  }

  it('page-1 queue registers: absolute offsets and lookup by address and Linux name', () => {
    // smmuv3-architecture.md 1.1: EVENTQ_PROD page 1 0x0A8 (abs 0x100A8), PRIQ_CONS page 1 0x0CC (abs 0x100CC)
    assert.equal(findRegister('EVENTQ_PROD')!.absoluteOffset, 0x100a8);
    assert.equal(findRegister('PRIQ_CONS')!.absoluteOffset, 0x100cc);
    assert.equal(registerAt(0x100a8)?.name, 'EVENTQ_PROD');
    assert.equal(registerAt(0x100ac)?.name, 'EVENTQ_CONS');
    // kdump-adopt-series.md 0: Linux spells them EVTQ_PROD / EVTQ_CONS
    assert.equal(findRegister('EVTQ_PROD')?.name, 'EVENTQ_PROD');
    assert.equal(findRegister('SMMU_CR0')?.offset, 0x20);
    // smmuv3-architecture.md 1.1: page-0 0xA8 is only an optional alias (RAZ/WI otherwise), not EVENTQ_PROD
    assert.notEqual(registerAt(0x0a8)?.name, 'EVENTQ_PROD');
  });

  it('reset values: CR0, CR0ACK, IRQ_CTRL, GERROR, GERRORN reset to 0; CR1, CR2, STRTAB_BASE UNKNOWN', () => {
    // smmuv3-architecture.md 1.1 Reset column
    for (const n of ['CR0', 'CR0ACK', 'IRQ_CTRL', 'IRQ_CTRLACK', 'GERROR', 'GERRORN']) assert.equal(findRegister(n)!.reset, 0n, `${n}.reset`);
    for (const n of ['CR1', 'CR2', 'STRTAB_BASE', 'STRTAB_BASE_CFG', 'CMDQ_BASE', 'EVENTQ_CONS']) assert.equal(findRegister(n)!.reset, 'UNKNOWN', `${n}.reset`);
  });
});

describe('registers: guards (notes 1.1 guard column, 1.3)', () => {
  const terms = (name: string) =>
    findRegister(name)!
      .guards.flatMap((g) => g.when.map((t) => `${t.register}.${t.field}==${t.value}`))
      .sort();

  it('STRTAB_BASE and STRTAB_BASE_CFG: RW only while CR0.SMMUEN==0 and CR0ACK.SMMUEN==0', () => {
    // smmuv3-architecture.md 1.1 STRTAB_BASE / STRTAB_BASE_CFG guard
    for (const n of ['STRTAB_BASE', 'STRTAB_BASE_CFG', 'CR2']) {
      const r = findRegister(n)!;
      assert.equal(r.guards.length, 1, n);
      assert.equal(r.guards[0]!.fields, 'all', n);
      assert.deepEqual(terms(n), ['CR0.SMMUEN==0', 'CR0ACK.SMMUEN==0'], n);
    }
  });

  it('CMDQ_BASE and CMDQ_CONS guarded by CMDQEN; EVENTQ_BASE and EVENTQ_PROD by EVENTQEN', () => {
    // smmuv3-architecture.md 1.1 CMDQ_BASE/CMDQ_CONS/EVENTQ_BASE/EVENTQ_PROD guard
    assert.deepEqual(terms('CMDQ_BASE'), ['CR0.CMDQEN==0', 'CR0ACK.CMDQEN==0']);
    assert.deepEqual(terms('CMDQ_CONS'), ['CR0.CMDQEN==0', 'CR0ACK.CMDQEN==0']);
    assert.deepEqual(terms('EVENTQ_BASE'), ['CR0.EVENTQEN==0', 'CR0ACK.EVENTQEN==0']);
    assert.deepEqual(terms('EVENTQ_PROD'), ['CR0.EVENTQEN==0', 'CR0ACK.EVENTQEN==0']);
  });

  it('PRIQ_PROD and PRIQ_BASE guarded by CR0.PRIQEN', () => {
    // smmuv3-architecture.md 1.1 PRIQ_BASE ("guarded by CR0.PRIQEN") / PRIQ_PROD ("guarded by PRIQEN")
    assert.ok(terms('PRIQ_BASE').includes('CR0.PRIQEN==0'));
    assert.ok(terms('PRIQ_PROD').includes('CR0.PRIQEN==0'));
  });

  it('CMDQ_PROD, EVENTQ_CONS and PRIQ_CONS are always writable (no guard)', () => {
    // smmuv3-architecture.md 1.1: CMDQ_PROD, EVENTQ_CONS, PRIQ_CONS "always writable"
    for (const n of ['CMDQ_PROD', 'EVENTQ_CONS', 'PRIQ_CONS']) assert.deepEqual(findRegister(n)!.guards, [], n);
  });

  it('IRQ_CFG registers guarded by their IRQ_CTRL enable and its ACK', () => {
    // smmuv3-architecture.md 1.1 GERROR_IRQ_CFG0 / EVENTQ_IRQ_CFG0 / PRIQ_IRQ_CFG0 guard
    assert.deepEqual(terms('GERROR_IRQ_CFG0'), ['IRQ_CTRL.GERROR_IRQEN==0', 'IRQ_CTRLACK.GERROR_IRQEN==0']);
    assert.deepEqual(terms('EVENTQ_IRQ_CFG1'), ['IRQ_CTRL.EVENTQ_IRQEN==0', 'IRQ_CTRLACK.EVENTQ_IRQEN==0']);
    assert.deepEqual(terms('PRIQ_IRQ_CFG2'), ['IRQ_CTRL.PRIQ_IRQEN==0', 'IRQ_CTRLACK.PRIQ_IRQEN==0']);
  });

  it('CR1: TABLE_* guarded by SMMUEN, QUEUE_* by all three queue enables', () => {
    // smmuv3-architecture.md 1.1 CR1 guard
    const cr1 = findRegister('CR1')!;
    const table = cr1.guards.find((g) => g.fields !== 'all' && g.fields.includes('TABLE_SH'))!;
    const queue = cr1.guards.find((g) => g.fields !== 'all' && g.fields.includes('QUEUE_SH'))!;
    assert.deepEqual(table.when.map((t) => `${t.register}.${t.field}`).sort(), ['CR0.SMMUEN', 'CR0ACK.SMMUEN']);
    assert.deepEqual(queue.when.map((t) => `${t.register}.${t.field}`).sort(), [
      'CR0.CMDQEN',
      'CR0.EVENTQEN',
      'CR0.PRIQEN',
      'CR0ACK.CMDQEN',
      'CR0ACK.EVENTQEN',
      'CR0ACK.PRIQEN',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Commands (notes 5)
// ---------------------------------------------------------------------------------------------
describe('cmd (notes 5)', () => {
  const CMD = fmt('cmd');

  it('CMD_SYNC dw0 0x0FC02046 (SEV mode) decodes via cmd', () => {
    // smmuv3-architecture.md 5 CMD_SYNC in Linux: SEV-mode dw0 0x0FC02046 = MSIAttr 0xF<<24 | MSH 3<<22 | CS 2<<12 | 0x46
    const d = decodeFormat(CMD, [0x0fc0_2046n, 0n]);
    assert.equal(d.format, 'cmd-CMD_SYNC');
    assertFields(d, { Opcode: 0x46n, CS: 2n, MSH: 3n, MSIAttr: 0xfn, MSIData: 0n, MSIAddress: 0n });
    assert.equal(d.names.CS, 'SEV');
    assert.equal(d.names.MSH, 'ISH');
    assertClean(d);
  });

  it('CMD_SYNC dw0 0x0FC01046 (MSI mode) with MSIAddress = the slot address', () => {
    // smmuv3-architecture.md 5 CMD_SYNC in Linux: MSI-poll dw0 0x0FC01046 (CS=IRQ 1<<12), MSIAddress [55:2] = slot PA 0x8000_0100
    const words = [0x0fc0_1046n, 0x8000_0100n];
    assert.deepEqual(encodeOk(fmt('cmd-CMD_SYNC'), { CS: 'IRQ', MSH: 'ISH', MSIAttr: 0xf, MSIData: 0, MSIAddress: 0x8000_0100n }), words);
    const d = decodeFormat(CMD, words);
    assertFields(d, { CS: 1n, MSH: 3n, MSIAttr: 0xfn, MSIAddress: 0x8000_0100n });
    assert.equal(d.names.CS, 'IRQ');
    assertClean(d);
  });

  it('CFGI_ALL: dw0 0x04, dw1 0x1F', () => {
    // smmuv3-architecture.md 5 opcode 0x04: CFGI_ALL at reset (dw1 = 0x1F, Range=31)
    assert.deepEqual(encodeOk(fmt('cmd-CFGI_ALL'), {}), [0x04n, 0x1fn]);
    const d = decodeFormat(CMD, [0x04n, 0x1fn]);
    assertFields(d, { Opcode: 4n, Range: 31n, StreamID: 0n });
    assert.equal(d.names.Range, 'ALL');
    assertClean(d);
  });

  it('CFGI_STE with SID and Leaf', () => {
    // smmuv3-architecture.md 5 opcode 0x03: SID dw0[63:32], dw1[0] Leaf; SID 0x1234 -> dw0 0x0000_1234_0000_0003
    const words = [0x0000_1234_0000_0003n, 1n];
    assert.deepEqual(encodeOk(fmt('cmd-CFGI_STE'), { StreamID: 0x1234, Leaf: 1 }), words);
    const d = decodeFormat(CMD, words);
    assert.equal(d.format, 'cmd-CFGI_STE');
    assertFields(d, { StreamID: 0x1234n, Leaf: 1n, SSec: 0n });
    assertClean(d);
  });

  it('CFGI_CD with SID, SSID and Leaf', () => {
    // smmuv3-architecture.md 5 opcode 0x05: SSID dw0[31:12], SID dw0[63:32], Leaf dw1[0]
    // SID 0x10, SSID 0x3FF -> dw0 = 0x10<<32 | 0x3FF<<12 (0x3F_F000) | 5
    assert.deepEqual(encodeOk(fmt('cmd-CFGI_CD'), { StreamID: 0x10, SubstreamID: 0x3ff, Leaf: 1 }), [0x0000_0010_003f_f005n, 1n]);
  });

  it('TLBI_NH_VA: ASID, VMID, NUM, SCALE, Leaf, TTL, TG, Address placed by hand', () => {
    // smmuv3-architecture.md 5 opcode 0x12: VMID dw0[47:32], ASID dw0[63:48], NUM [16:12], SCALE [24:20];
    // dw1 Leaf [0], TTL [9:8], TG [11:10], VA [63:12]
    // ASID 5, VMID 2, NUM 3, SCALE 1: dw0 = 0x0005<<48 | 0x0002<<32 | 1<<20 | 3<<12 | 0x12 = 0x0005_0002_0010_3012
    // VA 0xFFFF_8000_1234_5000, TG 1 (4K), TTL 3, Leaf: dw1 = VA | 1<<10 | 3<<8 | 1 = 0xFFFF_8000_1234_5701
    const words = [0x0005_0002_0010_3012n, 0xffff_8000_1234_5701n];
    const values = { ASID: 5, VMID: 2, NUM: 3, SCALE: 1, Leaf: 1, TTL: 3, TG: 'G4K', Address: 0xffff_8000_1234_5000n };
    assert.deepEqual(encodeOk(fmt('cmd-TLBI_NH_VA'), values), words);
    const d = decodeFormat(CMD, words);
    assert.equal(d.format, 'cmd-TLBI_NH_VA');
    assertFields(d, { ASID: 5n, VMID: 2n, NUM: 3n, SCALE: 1n, Leaf: 1n, TTL: 3n, TG: 1n, Address: 0xffff_8000_1234_5000n });
    assertClean(d);
  });

  it('TLBI_S2_IPA: IPA [55:12] and VMID', () => {
    // smmuv3-architecture.md 5 opcode 0x2A: VMID dw0[47:32], IPA [55:12] (spec); VMID 7, IPA 0x0080_0000_4000_0000, Leaf
    // dw0 = 7<<32 | 0x2A; dw1 = 0x0080_0000_4000_0000 | 1
    assert.deepEqual(encodeOk(fmt('cmd-TLBI_S2_IPA'), { VMID: 7, Address: 0x0080_0000_4000_0000n, Leaf: 1 }), [0x0000_0007_0000_002an, 0x0080_0000_4000_0001n]);
  });

  it('ATC_INV Size=52 (everything)', () => {
    // smmuv3-architecture.md 5 opcode 0x40: SID dw0[63:32], dw1 Size [5:0]; Size 52 = ATC_INV_SIZE_ALL = 0x34
    const words = [0x0000_0100_0000_0040n, 0x34n];
    assert.deepEqual(encodeOk(fmt('cmd-ATC_INV'), { StreamID: 0x100, Size: 'ALL' }), words);
    const d = decodeFormat(CMD, words);
    assertFields(d, { StreamID: 0x100n, Size: 52n, Global: 0n, SSV: 0n, Address: 0n });
    assert.equal(d.names.Size, 'ALL');
    assertClean(d);
  });

  it('RESUME: Ac (retry) at dw0[12], STAG in dw1', () => {
    // smmuv3-architecture.md 5 opcode 0x44: SID dw0[63:32], Ac dw0[12] (Linux RESP RETRY=1), dw1 STAG [15:0]
    // SID 5: dw0 = 5<<32 | 1<<12 | 0x44 = 0x0000_0005_0000_1044
    assert.deepEqual(encodeOk(fmt('cmd-RESUME'), { StreamID: 5, Ac: 1, STAG: 0x1234 }), [0x0000_0005_0000_1044n, 0x1234n]);
  });

  it('PRI_RESP Resp=3 is reported as reserved (ILLEGAL)', () => {
    // smmuv3-architecture.md 5 opcode 0x41: Resp dw1[13:12], 3 ILLEGAL; dw1 = 3<<12 = 0x3000
    const d = decodeFormat(CMD, [0x41n, 0x3000n]);
    assert.equal(d.format, 'cmd-PRI_RESP');
    assert.equal(d.fields.Resp, 3n);
    assert.deepEqual(
      d.reserved.map((r) => [r.field, r.value]),
      [['Resp', 3n]],
    );
  });

  it('reserved opcode 0x09 via cmd: reported, not thrown', () => {
    // smmuv3-architecture.md 5: "others | reserved | CERROR_ILL" (0x09 is not in the opcode table)
    let d: Decoded | undefined;
    assert.doesNotThrow(() => {
      d = decodeFormat(CMD, [0x09n, 0n]);
    });
    assert.equal(d!.fields.Opcode, 9n);
    assert.deepEqual(
      d!.reserved.map((r) => [r.field, r.value]),
      [['Opcode', 9n]],
    );
  });

  it('IMP DEF opcode 0x85 via cmd: reported as a non-architected encoding', () => {
    // smmuv3-architecture.md 5: 0x80-0x8F IMP DEF
    const d = decodeFormat(CMD, [0x85n, 0n]);
    assert.deepEqual(
      d.reserved.map((r) => [r.field, r.value]),
      [['Opcode', 0x85n]],
    );
    assert.match(d.reserved[0]!.rule, /IMPLEMENTATION DEFINED/i);
  });

  it('a command with the wrong fixed opcode is reported', () => {
    // smmuv3-architecture.md 5: dw0[7:0] is the opcode; decoding 0x03 with the CMD_SYNC table is a mismatch
    const d = fmt('cmd-CMD_SYNC').decode([0x03n, 0n]);
    assert.deepEqual(
      d.reserved.map((r) => [r.field, r.value]),
      [['Opcode', 3n]],
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Events (notes 6.1, 6.2)
// ---------------------------------------------------------------------------------------------
describe('evt (notes 6.1)', () => {
  const EVT = fmt('evt');

  it('F_TRANSLATION built by hand decodes via evt', () => {
    // smmuv3-architecture.md 6.1 record layout, 6.2 ID 0x10 F_TRANSLATION
    // dw0 = SID 0x815<<32 | SSID 0x2A<<12 (0x2A000) | SSV 1<<11 (0x800) | 0x10 = 0x0000_0815_0002_A810
    // dw1 = CLASS 2<<40 (0x200_0000_0000) | S2 1<<39 (0x80_0000_0000) | RnW 1<<35 (0x8_0000_0000)
    //       | Stall 1<<31 (0x8000_0000) | STAG 0x1234 = 0x0000_0288_8000_1234
    // dw2 = InputAddr 0xFFFF_0000_8765_4321; dw3 = IPA [55:12] 0x0000_0012_3456_7000
    const words = [0x0000_0815_0002_a810n, 0x0000_0288_8000_1234n, 0xffff_0000_8765_4321n, 0x0000_0012_3456_7000n];
    const d = decodeFormat(EVT, words);
    assert.equal(d.format, 'evt-F_TRANSLATION');
    assertFields(d, {
      EventID: 0x10n,
      SSV: 1n,
      SubstreamID: 0x2an,
      StreamID: 0x815n,
      STAG: 0x1234n,
      Stall: 1n,
      PnU: 0n,
      InD: 0n,
      RnW: 1n,
      S2: 1n,
      CLASS: 2n,
      InputAddr: 0xffff_0000_8765_4321n,
      IPA: 0x0000_0012_3456_7000n,
    });
    assert.equal(d.names.CLASS, 'IN');
    assert.equal(d.names.EventID, 'F_TRANSLATION');
    assertClean(d);
    const values = {
      SSV: 1,
      SubstreamID: 0x2a,
      StreamID: 0x815,
      STAG: 0x1234,
      Stall: 1,
      RnW: 1,
      S2: 1,
      CLASS: 'IN',
      InputAddr: 0xffff_0000_8765_4321n,
      IPA: 0x12_3456_7000n,
    };
    assert.deepEqual(encodeOk(fmt('evt-F_TRANSLATION'), values), words);
  });

  it('F_PERMISSION: PnU (33), InD (34), CLASS=TT, TTRnW (44)', () => {
    // smmuv3-architecture.md 6.1: PnU dw1[33], InD dw1[34], CLASS [41:40] 1 = TT, TTRnW dw1[44]
    // dw1 = 1<<44 (0x1000_0000_0000) | 1<<40 (0x100_0000_0000) | 1<<34 (0x4_0000_0000) | 1<<33 (0x2_0000_0000) = 0x0000_1106_0000_0000
    const d = decodeFormat(EVT, [0x13n, 0x0000_1106_0000_0000n, 0n, 0n]);
    assert.equal(d.format, 'evt-F_PERMISSION');
    assertFields(d, { PnU: 1n, InD: 1n, RnW: 0n, CLASS: 1n, TTRnW: 1n });
    assert.equal(d.names.CLASS, 'TT');
    assertClean(d);
  });

  it('F_STE_FETCH: FetchAddr at dw3 [55:3]', () => {
    // smmuv3-architecture.md 6.1 FetchAddr dw3 [55:3] (spec), 6.2 ID 0x03; SID 7: dw0 = 7<<32 | 3
    // FetchAddr 0x0080_0000_0000_0048 uses bit 55 and bit 3
    const words = [0x0000_0007_0000_0003n, 0n, 0n, 0x0080_0000_0000_0048n];
    const d = decodeFormat(EVT, words);
    assert.equal(d.format, 'evt-F_STE_FETCH');
    assertFields(d, { StreamID: 7n, FetchAddr: 0x0080_0000_0000_0048n });
    assertClean(d);
    assert.deepEqual(encodeOk(fmt('evt-F_STE_FETCH'), { StreamID: 7, FetchAddr: 0x0080_0000_0000_0048n }), words);
    // bits [2:0] of dw3 are below FetchAddr: an unaligned address is rejected
    const r = fmt('evt-F_STE_FETCH').encode({ FetchAddr: 0x1004n });
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.rule, 'alignment');
  });

  it('C_BAD_STE with SID', () => {
    // smmuv3-architecture.md 6.2 ID 0x04 C_BAD_STE, StreamID dw0[63:32]; SID 0x42 -> 0x0000_0042_0000_0004
    const words = [0x0000_0042_0000_0004n, 0n, 0n, 0n];
    assert.deepEqual(encodeOk(fmt('evt-C_BAD_STE'), { StreamID: 0x42 }), words);
    const d = decodeFormat(EVT, words);
    assert.equal(d.format, 'evt-C_BAD_STE');
    assertFields(d, { EventID: 4n, StreamID: 0x42n, SSV: 0n });
    assertClean(d);
  });

  it('an unassigned event ID via evt is reported as reserved', () => {
    // smmuv3-architecture.md 6.2: 0x0C is not an assigned event ID
    const d = decodeFormat(EVT, [0x0cn, 0n, 0n, 0n]);
    assert.deepEqual(
      d.reserved.map((r) => [r.field, r.value]),
      [['EventID', 0x0cn]],
    );
  });
});

// ---------------------------------------------------------------------------------------------
// L1STD and L1CD (notes 2.2, 2.4; kdump-adopt-series.md 0)
// ---------------------------------------------------------------------------------------------
describe('l1std and cdl1 (notes 2.2, 2.4)', () => {
  it('L1STD Span=9 with a 16 KiB aligned L2Ptr', () => {
    // smmuv3-architecture.md 2.2 L1STD: Span [4:0], L2Ptr [55:6]; kdump-adopt-series.md 0: Linux writes SPAN 9
    // L2Ptr 0x8_1234_C000 (16 KiB aligned) | 9 = 0x0000_0008_1234_C009
    const words = [0x0000_0008_1234_c009n];
    assert.deepEqual(encodeOk(L1STD, { Span: 9, L2Ptr: 0x8_1234_c000n }), words);
    const d = L1STD.decode(words);
    assertFields(d, { Span: 9n, L2Ptr: 0x8_1234_c000n });
    assertClean(d);
  });

  it('L1STD Span 12..31 is reserved (behaves as 0); bit 5 is RES0', () => {
    // smmuv3-architecture.md 2.2 L1STD: 12..31 behave as 0; [5] RES0
    const d = L1STD.decode([0x2cn]); // 0x2C = 10_1100: bit 5 set, Span = 0b01100 = 12
    assert.equal(d.fields.Span, 12n);
    assert.deepEqual(
      d.reserved.map((r) => [r.field, r.value]),
      [['Span', 12n]],
    );
    assert.deepEqual(
      d.res0.map((v) => [v.bits, v.value]),
      [['dw0[5]', 1n]],
    );
  });

  it('L1CD: V at bit 0, L2Ptr [55:12]', () => {
    // smmuv3-architecture.md 2.4 L1CD layout: [0] V, [55:12] L2Ptr; L2Ptr 0x40_0001_0000 | 1 = 0x0000_0040_0001_0001
    const words = [0x0000_0040_0001_0001n];
    assert.deepEqual(encodeOk(CD_L1, { V: 1, L2Ptr: 0x40_0001_0000n }), words);
    const d = CD_L1.decode(words);
    assertFields(d, { V: 1n, L2Ptr: 0x40_0001_0000n });
    assertClean(d);
    // 0x800 is below bit 12: not 4 KiB aligned
    const r = CD_L1.encode({ L2Ptr: 0x40_0001_0800n });
    assert.equal(r.ok, false);
    if (!r.ok) assert.deepEqual([r.error.field, r.error.rule], ['L2Ptr', 'alignment']);
  });
});

// ---------------------------------------------------------------------------------------------
// Translation table descriptors (notes 7 step 7, 7.1 "what Linux io-pgtable writes", 8.4)
// ---------------------------------------------------------------------------------------------
describe('pte (notes 7, 7.1 io-pgtable)', () => {
  it('stage-1 4K page: AF, nG, SH=ISH, AttrIndx 1, AP unpriv, OA 0x8000_1000', () => {
    // smmuv3-architecture.md 7.1 io-pgtable stage 1 (nG, AF, SH=IS, AttrIndx 1, AP_UNPRIV bit 6), 7 step 7.4 page bits[1:0]=11
    // 0x8000_1000 | nG 0x800 | AF 0x400 | SH 3<<8 (0x300) | AP_UNPRIV 0x40 | AttrIndx 1<<2 (0x4) | 0b11 = 0x8000_1F47
    const words = [0x0000_0000_8000_1f47n];
    const l = fmt('pte-s1-4k-page');
    assert.deepEqual(encodeOk(l, { Valid: 1, AttrIndx: 1, AP: 1, SH: 'ISH', AF: 1, nG: 1, OutputAddress: 0x8000_1000n }), words);
    const d = l.decode(words);
    assertFields(d, { Valid: 1n, Type: 1n, AttrIndx: 1n, AP: 1n, SH: 3n, AF: 1n, nG: 1n, OutputAddress: 0x8000_1000n, PXN: 0n, UXN: 0n });
    assert.equal(d.names.AP, 'RW_ANY'); // AP[2:1] = 01: read/write at any privilege (notes 7.1 table row AP 01)
    assertClean(d);
  });

  it('stage-1 4K level-2 block: OA [47:21], bits[1:0] = 01', () => {
    // smmuv3-architecture.md 7 step 7.4: 01 at L2 is a 2 MB block; OA 0x4020_0000 (2 MB aligned)
    // 0x4020_0000 | 0xF00 (nG, AF, SH ISH) | 0x40 | 0x4 | 0b01 = 0x4020_0F45
    const words = [0x0000_0000_4020_0f45n];
    const l = fmt('pte-s1-4k-block-l2');
    assert.deepEqual(encodeOk(l, { Valid: 1, AttrIndx: 1, AP: 1, SH: 3, AF: 1, nG: 1, OutputAddress: 0x4020_0000n }), words);
    const d = l.decode(words);
    assertFields(d, { Valid: 1n, Type: 0n, OutputAddress: 0x4020_0000n, AF: 1n, nG: 1n });
    assertClean(d);
    // 0x4020_1000 is 4 KiB but not 2 MiB aligned
    const r = l.encode({ OutputAddress: 0x4020_1000n });
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.rule, 'alignment');
  });

  it('stage-1 64K page: OA [47:16]', () => {
    // smmuv3-architecture.md 7.1 io-pgtable stage 1 attributes; 64K page OA [47:16]: 0x1234_5678_0000 | 0xF47
    const words = [0x0000_1234_5678_0f47n];
    const l = fmt('pte-s1-64k-page');
    assert.deepEqual(encodeOk(l, { Valid: 1, AttrIndx: 1, AP: 1, SH: 3, AF: 1, nG: 1, OutputAddress: 0x1234_5678_0000n }), words);
    const d = l.decode(words);
    assertFields(d, { Type: 1n, OutputAddress: 0x1234_5678_0000n, AttrIndx: 1n });
    assertClean(d);
    const r = l.encode({ OutputAddress: 0x1234_5678_1000n });
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.rule, 'alignment');
  });

  it('stage-2 4K page: MemAttr 0xF, S2AP read+write, SH ISH, AF', () => {
    // smmuv3-architecture.md 7.1 io-pgtable stage 2 (HAP read bit 6 / write bit 7, MemAttr 0xF, AF, SH); 8 step 4 MemAttr [5:2]
    // 0x9000_0000 | AF 0x400 | SH 0x300 | S2AP 0xC0 | MemAttr 0xF<<2 (0x3C) | 0b11 = 0x9000_07FF
    const words = [0x0000_0000_9000_07ffn];
    const l = fmt('pte-s2-4k-page');
    assert.deepEqual(encodeOk(l, { Valid: 1, MemAttr: 0xf, S2AP: 'READ_WRITE', SH: 'ISH', AF: 1, OutputAddress: 0x9000_0000n }), words);
    const d = l.decode(words);
    assertFields(d, { Valid: 1n, Type: 1n, MemAttr: 0xfn, S2AP: 3n, SH: 3n, AF: 1n, OutputAddress: 0x9000_0000n, XN: 0n });
    assertClean(d);
  });

  it('stage-1 4K table descriptor: next-level address [47:12]', () => {
    // smmuv3-architecture.md 7 step 7.4: 11 at L0-L2 is a table, next address = desc[47:12]; 0x8_0000_3000 | 3
    const l = fmt('pte-s1-4k-table');
    assert.deepEqual(encodeOk(l, { Valid: 1, NextLevelTable: 0x8_0000_3000n }), [0x0000_0008_0000_3003n]);
  });
});

// ---------------------------------------------------------------------------------------------
// RES0 and reserved reporting
// ---------------------------------------------------------------------------------------------
describe('RES0 and reserved encodings', () => {
  it('STE: dw1[43:41] set is RES0; Config=1 is reserved', () => {
    // smmuv3-architecture.md 3: dw1 ALLOCCFG [40:37] then SHCFG [45:44], so [43:41] are RES0; Config 0b0xx (1..3) reserved
    // dw0 = V | Config 1<<1 = 0x3; dw1 = 0b111<<41 = 0x0000_0E00_0000_0000
    const d = STE.decode(pad8([0x3n, 0x0000_0e00_0000_0000n]));
    assert.deepEqual(
      d.res0.map((v) => ({ bits: v.bits, word: v.word, lsb: v.lsb, width: v.width, value: v.value })),
      [{ bits: 'dw1[43:41]', word: 1, lsb: 41, width: 3, value: 7n }],
    );
    assert.deepEqual(
      d.reserved.map((r) => [r.field, r.value]),
      [['Config', 1n]],
    );
  });

  it('STE: dw0[58:56] is RES0 (between S1ContextPtr [55:6] and S1CDMax [63:59])', () => {
    // smmuv3-architecture.md 3: S1ContextPtr [55:6], S1CDMax [63:59]; 0x0100_0000_0000_0001 sets bit 56
    const d = STE.decode(pad8([0x0100_0000_0000_0001n]));
    assert.deepEqual(
      d.res0.map((v) => v.bits),
      ['dw0[56]'],
    );
  });

  it('STE: STRW 0b01 is ILLEGAL in the Non-secure table (stage-1-only STE, where STRW is used)', () => {
    // smmuv3-architecture.md 3 STRW [31:30]: 0bx1 ILLEGAL; dw0 = V | Config 5<<1 = 0xB; dw1 = 1<<30 = 0x4000_0000
    const d = STE.decode(pad8([0xbn, 0x4000_0000n]));
    assert.deepEqual(
      d.reserved.map((r) => [r.field, r.value]),
      [['STRW', 1n]],
    );
  });

  it('STE: STRW is IGNORED unless Config = S1_TRANS, so 0b01 is not reported there', () => {
    // smmuv3-architecture.md 3 STRW: "Ignored when stage 2 is enabled"; IGNORED rules: Config=0b100 uses only
    // MTCFG/MemAttr/ALLOCCFG/SHCFG/NSCFG/PRIVCFG/INSTCFG, Config=0b000 uses only CONT. dw1 = STRW 1<<30 = 0x4000_0000
    // dw0: ABORT 0x1, BYPASS 0x9, S2_TRANS 0xD, NESTED 0xF
    for (const dw0 of [0x1n, 0x9n, 0xdn, 0xfn]) {
      const d = STE.decode(pad8([dw0, 0x4000_0000n]));
      assert.deepEqual(
        d.reserved.map((r) => r.field),
        [],
        `dw0 0x${dw0.toString(16)}`,
      );
    }
  });

  it('STE: PRIVCFG/INSTCFG 0b01 reported in bypass (used) but not in abort (IGNORED)', () => {
    // smmuv3-architecture.md 3 PRIVCFG [49:48] / INSTCFG [51:50]: 0b01 reserved; IGNORED rules as above
    // dw1 = PRIVCFG 1<<48 | INSTCFG 1<<50 = 0x0005_0000_0000_0000
    const bypass = STE.decode(pad8([0x9n, 0x0005_0000_0000_0000n]));
    assert.deepEqual(
      bypass.reserved.map((r) => r.field),
      ['PRIVCFG', 'INSTCFG'],
    );
    const abort = STE.decode(pad8([0x1n, 0x0005_0000_0000_0000n]));
    assert.deepEqual(
      abort.reserved.map((r) => r.field),
      [],
    );
  });

  it('CD: V=0 ignores every other field; with V=1 and EPD0=0 a reserved TG0 is reported', () => {
    // smmuv3-architecture.md 4: V [31] = 0 -> the rest is ignored; TG0 [7:6] 3 reserved; EPD0=1 ignores TG0
    // TG0 3<<6 = 0xC0 | EPD1 1<<30 = 0x4000_0000 -> dw0 0x4000_00C0 (V=0); | V 1<<31 -> 0xC000_00C0
    assert.deepEqual(CD.decode(pad8([0x4000_00c0n])).reserved, []);
    assert.deepEqual(
      CD.decode(pad8([0xc000_00c0n])).reserved.map((r) => [r.field, r.value]),
      [['TG0', 3n]],
    );
    // with EPD0 (bit 14, 0x4000) set as well TG0 is IGNORED: 0xC000_40C0
    assert.deepEqual(CD.decode(pad8([0xc000_40c0n])).reserved, []);
  });

  it('STRTAB_BASE_CFG FMT=2 is reserved', () => {
    // smmuv3-architecture.md 1.2 STRTAB_BASE_CFG / kdump-adopt-series.md 0: FMT 2/3 invalid (behave as 0)
    // 0x20210 = FMT 2<<16 | SPLIT 8<<6 | LOG2SIZE 16 (SPLIT 8 legal, so FMT is the only finding)
    const d = findRegister('STRTAB_BASE_CFG')!.decode([0x20210n]);
    assert.equal(d.fields.FMT, 2n);
    assert.deepEqual(
      d.reserved.map((r) => [r.field, r.value]),
      [['FMT', 2n]],
    );
    assert.deepEqual(d.res0, []);
  });

  it('STRTAB_BASE_CFG SPLIT=7 is reserved (behaves as 6)', () => {
    // smmuv3-architecture.md 1.2 STRTAB_BASE_CFG: SPLIT 6, 8 or 10, other values behave as 6; 7<<6 = 0x1C0
    const d = findRegister('STRTAB_BASE_CFG')!.decode([0x101c0n | 0x10n]);
    assert.deepEqual(
      d.reserved.map((r) => [r.field, r.value]),
      [['SPLIT', 7n]],
    );
  });

  it('CR0 bit 5 is RES0', () => {
    // smmuv3-architecture.md 1.2 CR0: [4] ATSCHK then [8:6] VMW, so bit 5 is RES0; 0x21 = SMMUEN | bit 5
    const d = findRegister('CR0')!.decode([0x21n]);
    assert.equal(d.fields.SMMUEN, 1n);
    assert.deepEqual(
      d.res0.map((v) => ({ bits: v.bits, lsb: v.lsb, width: v.width, value: v.value })),
      [{ bits: '[5]', lsb: 5, width: 1, value: 1n }],
    );
  });

  it('GERROR bit 1 is RES0; 0x1FD is the Linux mask of defined bits', () => {
    // smmuv3-architecture.md 1.2 GERROR: bits 0, 2..10 defined; bit 1 RES0. 0x1FD = 1_1111_1101 decodes clean
    const g = findRegister('GERROR')!;
    assert.deepEqual(g.decode([0x1fdn]).res0, []);
    assertFields(g.decode([0x1fdn]), { CMDQ_ERR: 1n, EVENTQ_ABT_ERR: 1n, SFM_ERR: 1n, CMDQP_ERR: 0n });
    assert.deepEqual(
      g.decode([0x2n]).res0.map((v) => v.bits),
      ['[1]'],
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Encode errors
// ---------------------------------------------------------------------------------------------
describe('encode errors', () => {
  it('STE S1CDMax=32 is too wide for [63:59]', () => {
    // smmuv3-architecture.md 3: S1CDMax [63:59] is 5 bits, max 31; 7.3 notes Linux passes 0xFF and gets 31 by masking
    const r = STE.encode({ S1CDMax: 32 });
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.error.field, 'S1CDMax');
      assert.equal(r.error.rule, 'width');
      assert.match(r.error.message, /S1CDMax/);
    }
  });

  it('STE S1ContextPtr unaligned (the raw KUnit 0xF0F0F0F0F0F0) is rejected', () => {
    // smmuv3-architecture.md 3 / 7.3: S1ContextPtr [55:6]; 0xF0F0F0F0F0F0 has bits [5:4] set
    const r = STE.encode({ S1ContextPtr: 0xf0f0_f0f0_f0f0n });
    assert.equal(r.ok, false);
    if (!r.ok) assert.deepEqual([r.error.field, r.error.rule], ['S1ContextPtr', 'alignment']);
  });

  it('STE S2TTB above bit 55 is rejected (width)', () => {
    // smmuv3-architecture.md 3: S2TTB [55:4]; 0x0100_0000_0000_0000 is bit 56
    const r = STE.encode({ S2TTB: 0x0100_0000_0000_0000n });
    assert.equal(r.ok, false);
    if (!r.ok) assert.deepEqual([r.error.field, r.error.rule], ['S2TTB', 'width']);
  });

  it('unknown field name', () => {
    // smmuv3-architecture.md 3: the STE has no field S1Foo
    const r = STE.encode({ S1Foo: 1 });
    assert.equal(r.ok, false);
    if (!r.ok) assert.deepEqual([r.error.field, r.error.rule], ['S1Foo', 'unknown-field']);
  });

  it('enumeration name that does not exist', () => {
    // smmuv3-architecture.md 3 Config names: ABORT, BYPASS, S1_TRANS, S2_TRANS, NESTED; there is no S3_TRANS
    const r = STE.encode({ Config: 'S3_TRANS' });
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.error.field, 'Config');
      assert.notEqual(r.error.rule, 'unknown-field');
    }
    assert.throws(() => STE.build({ Config: 'S3_TRANS' }));
  });

  it('register field too wide: STRTAB_BASE_CFG SPLIT=32', () => {
    // smmuv3-architecture.md 1.2 STRTAB_BASE_CFG: SPLIT [10:6] is 5 bits
    const r = findRegister('STRTAB_BASE_CFG')!.encode({ SPLIT: 32 });
    assert.equal(r.ok, false);
    if (!r.ok) assert.deepEqual([r.error.field, r.error.rule], ['SPLIT', 'width']);
  });
});

// ---------------------------------------------------------------------------------------------
// Bytes (notes 0 conventions: a dword is 64-bit little-endian)
// ---------------------------------------------------------------------------------------------
describe('dwordsFromBytes / dwordsToBytes', () => {
  // smmuv3-architecture.md 0 conventions: dwords are 64-bit little-endian; the CD-table STE dw0/dw1 of 7.3 as bytes
  // 0xF800_F0F0_F0F0_F0EB LE -> EB F0 F0 F0 F0 F0 00 F8; 0x1800_00D6 LE -> D6 00 00 18 00 00 00 00
  const STE_BYTES = [0xeb, 0xf0, 0xf0, 0xf0, 0xf0, 0xf0, 0x00, 0xf8, 0xd6, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, 0x00];

  it('reads little-endian dwords at an offset', () => {
    // smmuv3-architecture.md 0 conventions (little-endian dwords); 7.3 golden CD-table STE
    const bytes = new Uint8Array([0xaa, 0xbb, 0xcc, 0xdd, ...STE_BYTES]);
    assert.deepEqual(dwordsFromBytes(bytes, 4, 2), [0xf800_f0f0_f0f0_f0ebn, 0x1800_00d6n]);
  });

  it('writes little-endian bytes and round-trips', () => {
    // smmuv3-architecture.md 0 conventions (little-endian dwords)
    const out = dwordsToBytes([0xf800_f0f0_f0f0_f0ebn, 0x1800_00d6n]);
    assert.deepEqual([...out], STE_BYTES);
    assert.deepEqual(dwordsFromBytes(out, 0, 2), [0xf800_f0f0_f0f0_f0ebn, 0x1800_00d6n]);
  });

  it('reads from a subarray view with a non-zero byteOffset', () => {
    // smmuv3-architecture.md 0 conventions; 0x0102030405060708 LE = 08 07 06 05 04 03 02 01
    const backing = new Uint8Array([0xff, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01]);
    assert.deepEqual(dwordsFromBytes(backing.subarray(1), 0, 1), [0x0102_0304_0506_0708n]);
  });
});

// ---------------------------------------------------------------------------------------------
// Registers added from the IHI0070 text: ATOS (6.3.37-6.3.40), MPAM (6.3.41-6.3.43), IDR3's
// upper fields (6.3.4), the ID block (6.2 ID_REGS, CoreSight layout) and the Secure page.
// Offsets and bit positions below are copied by hand from those sections.
// ---------------------------------------------------------------------------------------------
describe('registers from the IHI0070 text (6.3.4, 6.3.37-6.3.43, 6.2 ID_REGS, Secure page)', () => {
  it('offsets, widths and access', () => {
    const T: [string, number, 32 | 64, 'RO' | 'RW'][] = [
      ['GATOS_CTRL', 0x100, 32, 'RW'], // 6.3.37
      ['GATOS_SID', 0x108, 64, 'RW'], // 6.3.38
      ['GATOS_ADDR', 0x110, 64, 'RW'], // 6.3.39
      ['GATOS_PAR', 0x118, 64, 'RO'], // 6.3.40
      ['MPAMIDR', 0x130, 32, 'RO'], // 6.3.41
      ['GMPAM', 0x138, 32, 'RW'], // 6.3.42
      ['GBPMPAM', 0x13c, 32, 'RW'], // 6.3.43
      ['PIDR4', 0xfd0, 32, 'RO'],
      ['CIDR3', 0xffc, 32, 'RO'],
      ['S_IDR0', 0x8000, 32, 'RO'],
      ['S_INIT', 0x803c, 32, 'RO'],
      ['S_STRTAB_BASE', 0x8080, 64, 'RO'],
      ['S_GATOS_PAR', 0x8118, 64, 'RO'],
    ];
    for (const [name, off, width, access] of T) {
      const r = findRegister(name)!;
      assert.deepEqual([r.offset, r.page, r.width, r.access], [off, 0, width, access], name);
    }
    assert.equal(findRegister('S_CR0')!.secure, true);
    assert.equal(findRegister('CR0')!.secure, false);
  });

  it('IDR3 [23:16] (6.3.4): AIE 23, MTEPERM 22, THE 21, S2PO 20, S2PI 19, S1PI 18, EPAN 17, PASIDTT 16', () => {
    // 0x00AA0000 = bits 23, 21, 19, 17.
    assertFields(findRegister('IDR3')!.value(0x00aa0000n), { AIE: 1n, MTEPERM: 0n, THE: 1n, S2PO: 0n, S2PI: 1n, S1PI: 0n, EPAN: 1n, PASIDTT: 0n });
    assertClean(findRegister('IDR3')!.value(0x00ff0000n));
  });

  it('GATOS_ADDR (6.3.39): a stage-1 read of VA 0x12345000 by a privileged data access', () => {
    // ADDR [63:12] 0x12345000, TYPE [11:10] = 1 (0x400), PnU [9] (0x200), RnW [8] (0x100).
    const w = encodeOk(findRegister('GATOS_ADDR')!, { ADDR: 0x1234_5000n, TYPE: 'STAGE1', PnU: 1, RnW: 1 });
    assert.equal(w[0], 0x1234_5700n);
    assert.deepEqual(
      findRegister('GATOS_ADDR')!
        .value(0x1234_5000n)
        .reserved.map((r) => r.field),
      ['TYPE'],
      'TYPE 0 is reserved (INV_REQ)',
    );
  });

  it('GATOS_SID (6.3.38) and GATOS_PAR success view (6.3.40)', () => {
    // STREAMID [31:0] 0x100, SUBSTREAMID [51:32] 5, SSID_VALID [52].
    assert.equal(encodeOk(findRegister('GATOS_SID')!, { STREAMID: 0x100, SUBSTREAMID: 5, SSID_VALID: 1 })[0], 0x0010_0005_0000_0100n);
    // ATTR [63:56] 0xFF, ADDR [55:12] 0x8000_1000, SH [9:8] ISH.
    assertFields(findRegister('GATOS_PAR')!.value(0xff00_0000_8000_1300n), { ATTR: 0xffn, ADDR: 0x8000_1000n, SH: 3n, Size: 0n, FAULT: 0n });
  });

  it('GATOS_PAR fault view (6.3.40): FAULTCODE [11:4], REASON [2:1], FADDR [55:12]', () => {
    // FAULTCODE 0x10 (0x100), REASON TT=2 (0x4), FAULT (0x1); FADDR 0x4000_0000.
    assertFields(fmt('gatos-par-fault').decode([0x4000_0105n]), { FAULT: 1n, REASON: 2n, FAULTCODE: 0x10n, FADDR: 0x4000_0000n });
  });

  it('GMPAM and GBPMPAM (6.3.42-43): Update [31], PMG [23:16], PARTID [15:0]; reset 0', () => {
    assert.equal(encodeOk(findRegister('GMPAM')!, { Update: 1, SO_PMG: 2, SO_PARTID: 7 })[0], 0x8002_0007n);
    assert.equal(encodeOk(findRegister('GBPMPAM')!, { Update: 1, GBP_PMG: 1, GBP_PARTID: 0x34 })[0], 0x8001_0034n);
    assert.equal(findRegister('GMPAM')!.resetValue, 0n);
    assertFields(findRegister('MPAMIDR')!.value(0x000f_0034n), { PMG_MAX: 0xfn, PARTID_MAX: 0x34n });
  });

  it('ID block (CoreSight layout): the twin identifies as an Arm MMU-700 (part 0x487)', () => {
    const v = (n: string) => findRegister(n)!.resetValue;
    // part number = PIDR1.PART_1 << 8 | PIDR0.PART_0; JEP106 Arm = continuation 4, code 0x3B.
    assert.equal((v('PIDR1') & 0xfn) * 256n + v('PIDR0'), 0x487n);
    assert.equal((v('PIDR2') & 7n) * 16n + (v('PIDR1') >> 4n), 0x3bn);
    assert.equal(v('PIDR4') & 0xfn, 4n);
    assert.deepEqual(['CIDR0', 'CIDR1', 'CIDR2', 'CIDR3'].map(v), [0x0dn, 0xf0n, 0x05n, 0xb1n]);
  });
});

// ---------------------------------------------------------------------------------------------
// Checked against the IHI0070 text (Markdown copy): every value below is worked out by hand
// from the section named in its comment, not produced by running this library.
// ---------------------------------------------------------------------------------------------

/** [field, hi, lo] of a register or of dword `word` of a structure. */
type Ranges = readonly (readonly [string, number, number])[];

/** The table's fields are exactly `expected` (names and bit ranges), in any order. */
function assertRanges(l: Layout, expected: Ranges, word = 0): void {
  const got = l.fields
    .filter((f) => f.word === word)
    .map((f) => `${f.name}[${f.lsb + f.width - 1}:${f.lsb}]`)
    .sort();
  const want = expected.map(([n, hi, lo]) => `${n}[${hi}:${lo}]`).sort();
  assert.deepEqual(got, want, `${l.name} dw${word}`);
}

describe('commands against IHI0070 4.1.1 and 4.4.1.1', () => {
  it('opcodes (4.1.1)', () => {
    const want: Record<string, number> = {
      PREFETCH_CONFIG: 0x01,
      PREFETCH_ADDR: 0x02,
      CFGI_STE: 0x03,
      CFGI_STE_RANGE: 0x04,
      CFGI_CD: 0x05,
      CFGI_CD_ALL: 0x06,
      CFGI_VMS_PIDM: 0x07,
      TLBI_NH_ALL: 0x10,
      TLBI_NH_ASID: 0x11,
      TLBI_NH_VA: 0x12,
      TLBI_NH_VAA: 0x13,
      TLBI_EL3_ALL: 0x18,
      TLBI_EL3_VA: 0x1a,
      TLBI_EL2_ALL: 0x20,
      TLBI_EL2_ASID: 0x21,
      TLBI_EL2_VA: 0x22,
      TLBI_EL2_VAA: 0x23,
      TLBI_S12_VMALL: 0x28,
      TLBI_S2_IPA: 0x2a,
      TLBI_NSNH_ALL: 0x30,
      ATC_INV: 0x40,
      PRI_RESP: 0x41,
      RESUME: 0x44,
      STALL_TERM: 0x45,
      CMD_SYNC: 0x46,
      TLBI_S_EL2_ALL: 0x50,
      TLBI_S_EL2_ASID: 0x51,
      TLBI_S_EL2_VA: 0x52,
      TLBI_S_EL2_VAA: 0x53,
      TLBI_S_S12_VMALL: 0x58,
      TLBI_S_S2_IPA: 0x5a,
      TLBI_SNH_ALL: 0x60,
      DPTI_ALL: 0x70,
      DPTI_PA: 0x73,
    };
    for (const [name, op] of Object.entries(want)) assert.equal(fmt(`cmd-${name}`).field('Opcode')!.fixed, BigInt(op), name);
    // 0x80-0x8F IMPLEMENTATION DEFINED, 0x74 reserved.
    assert.match(decodeFormat(fmt('cmd'), [0x8fn, 0n]).reserved[0]!.rule, /IMPLEMENTATION DEFINED/);
    assert.deepEqual(
      decodeFormat(fmt('cmd'), [0x74n, 0n]).reserved.map((r) => r.field),
      ['Opcode'],
    );
  });

  it('range fields of every address-based TLBI (4.4.1.1): NUM [16:12], SCALE [25:20], TTL128 [71], TTL [73:72], TG [75:74]', () => {
    for (const n of ['NH_VA', 'NH_VAA', 'EL3_VA', 'EL2_VA', 'EL2_VAA', 'S2_IPA', 'S_EL2_VA', 'S_EL2_VAA', 'S_S2_IPA']) {
      const l = fmt(`cmd-TLBI_${n}`);
      const at = (f: string) => [l.field(f)!.word, l.field(f)!.lsb + l.field(f)!.width - 1, l.field(f)!.lsb];
      assert.deepEqual(
        ['NUM', 'SCALE', 'TTL128', 'TTL', 'TG'].map(at),
        [
          [0, 16, 12],
          [0, 25, 20],
          [1, 7, 7],
          [1, 9, 8],
          [1, 11, 10],
        ],
        n,
      );
    }
  });

  it('TLBI_EL3_VA (4.4.2.6) with SCALE 39, which needs bit 25, and TTL128', () => {
    // 4.4.1.1: SCALE 39 = 0b10_0111 -> 0x27<<20 = 0x0270_0000; NUM 31<<12 = 0x1_F000; opcode 0x1A (4.1.1)
    //   dw0 = 0x0270_0000 + 0x1_F000 + 0x1A = 0x0271_F01A (bit 25 = 0x0200_0000 set)
    // dw1 = VA 0x0000_7FFF_0000_0000 | TG 1<<10 (0x400) | TTL 2<<8 (0x200) | TTL128 1<<7 (0x80) | Leaf 1 = 0x0000_7FFF_0000_0681
    const words = [0x0271_f01an, 0x0000_7fff_0000_0681n];
    const values = { SCALE: 39, NUM: 31, TG: 'G4K', TTL: 2, TTL128: 1, Leaf: 1, Address: 0x0000_7fff_0000_0000n };
    assert.deepEqual(encodeOk(fmt('cmd-TLBI_EL3_VA'), values), words);
    const d = decodeFormat(fmt('cmd'), words);
    assert.equal(d.format, 'cmd-TLBI_EL3_VA');
    assertFields(d, { SCALE: 39n, NUM: 31n, TG: 1n, TTL: 2n, TTL128: 1n, Leaf: 1n, Address: 0x0000_7fff_0000_0000n });
    assertClean(d);
  });

  it('TLBI_S_S2_IPA (4.4.3.3): SCALE 32 is bit 25 alone; 64K granule, level 3', () => {
    // 4.4.1.1: SCALE 32<<20 = 0x0200_0000; VMID 3 at [47:32] (as TLBI_NH_ASID, 4.4.2.2) = 0x3_0000_0000; opcode 0x5A
    //   dw0 = 0x0000_0003_0200_005A
    // dw1 = IPA 0x0000_0040_0000_0000 (4.1.6: IPA [55:12]) | TG 3<<10 (0xC00) | TTL 3<<8 (0x300) = 0x0000_0040_0000_0F00
    const words = [0x0000_0003_0200_005an, 0x0000_0040_0000_0f00n];
    assert.deepEqual(encodeOk(fmt('cmd-TLBI_S_S2_IPA'), { VMID: 3, SCALE: 32, TG: 'G64K', TTL: 3, Address: 0x0000_0040_0000_0000n }), words);
    assertFields(decodeFormat(fmt('cmd'), words), { VMID: 3n, SCALE: 32n, NUM: 0n, TG: 3n, TTL: 3n, TTL128: 0n, Leaf: 0n, Address: 0x40_0000_0000n });
  });

  it('TLBI_NH_ASID (4.4.2.2): ASID [63:48], VMID [47:32], the rest RES0; TLBI_NSNH_ALL (4.4.4.1) is only an opcode', () => {
    assertRanges(fmt('cmd-TLBI_NH_ASID'), [
      ['Opcode', 7, 0],
      ['VMID', 47, 32],
      ['ASID', 63, 48],
    ]);
    assertRanges(fmt('cmd-TLBI_NH_ASID'), [], 1);
    // ASID 0xBEEF, VMID 0x0102: dw0 = 0xBEEF<<48 | 0x0102<<32 | 0x11 = 0xBEEF_0102_0000_0011
    assert.deepEqual(encodeOk(fmt('cmd-TLBI_NH_ASID'), { ASID: 0xbeef, VMID: 0x102 }), [0xbeef_0102_0000_0011n, 0n]);
    assertRanges(fmt('cmd-TLBI_NSNH_ALL'), [['Opcode', 7, 0]]);
    assertRanges(fmt('cmd-TLBI_NSNH_ALL'), [], 1);
  });
});

describe('event records against IHI0070 7.3', () => {
  const EVT = fmt('evt');

  it('E_PAGE_REQUEST (7.3.19): uX 97, uW 98, uR 99, pX 101, pW 102, pR 103, Span [115:108], InputAddr[63:12] at [191:140]', () => {
    // dw0 = SID 0x21<<32 | SSID 5<<12 (0x5000) | SSV 1<<11 (0x800) | 0x24 = 0x0000_0021_0000_5824
    // dw1 = Span 16<<44 (0x0001_0000_0000_0000) | pR 1<<39 (0x80_0000_0000) | pW 1<<38 (0x40_0000_0000)
    //       | uR 1<<35 (0x8_0000_0000) = 0x0001_00C8_0000_0000
    // dw2 = InputAddr 0xFFFF_0000_1234_5000 (bits [11:0] RES0)
    const words = [0x0000_0021_0000_5824n, 0x0001_00c8_0000_0000n, 0xffff_0000_1234_5000n, 0n];
    const d = decodeFormat(EVT, words);
    assert.equal(d.format, 'evt-E_PAGE_REQUEST');
    assertFields(d, {
      StreamID: 0x21n,
      SSV: 1n,
      SubstreamID: 5n,
      Span: 16n,
      pR: 1n,
      pW: 1n,
      pX: 0n,
      uR: 1n,
      uW: 0n,
      uX: 0n,
      InputAddr: 0xffff_0000_1234_5000n,
    });
    assertClean(d);
    const values = { StreamID: 0x21, SSV: 1, SubstreamID: 5, Span: 16, pR: 1, pW: 1, uR: 1, InputAddr: 0xffff_0000_1234_5000n };
    assert.deepEqual(encodeOk(fmt('evt-E_PAGE_REQUEST'), values), words);
    // Bits 96 and 100 (dw1[32], dw1[36]) and InputAddr[11:0] (dw2[11:0]) are RES0; there is no Reason field.
    const r = fmt('evt-E_PAGE_REQUEST').decode([0x24n, (1n << 32n) | (1n << 36n), 0x1n, 0n]);
    assert.deepEqual(
      r.res0.map((x) => x.bits),
      ['dw1[32]', 'dw1[36]', 'dw2[0]'],
    );
    assert.equal(fmt('evt-E_PAGE_REQUEST').field('Reason'), undefined);
  });

  it('F_UUT (7.3.2): Reason [79:64], PnU 97, InD 98, RnW 99, InputAddr [191:128]', () => {
    // dw0 = SID 7<<32 | 0x01 = 0x0000_0007_0000_0001
    // dw1 = Reason 0xBEEF | PnU 1<<33 (0x2_0000_0000) | InD 1<<34 (0x4_0000_0000) | RnW 1<<35 (0x8_0000_0000) = 0x0000_000E_0000_BEEF
    const words = [0x0000_0007_0000_0001n, 0x0000_000e_0000_beefn, 0x1000n, 0n];
    const d = decodeFormat(EVT, words);
    assert.equal(d.format, 'evt-F_UUT');
    assertFields(d, { StreamID: 7n, Reason: 0xbeefn, PnU: 1n, InD: 1n, RnW: 1n, InputAddr: 0x1000n });
    assertClean(d);
    assert.deepEqual(encodeOk(fmt('evt-F_UUT'), { StreamID: 7, Reason: 0xbeef, PnU: 1, InD: 1, RnW: 1, InputAddr: 0x1000 }), words);
    // [95:80] and bit 96 are RES0.
    assert.deepEqual(
      fmt('evt-F_UUT')
        .decode([1n, (1n << 16n) | (1n << 32n), 0n, 0n])
        .res0.map((x) => x.bits),
      ['dw1[16]', 'dw1[32]'],
    );
  });

  it('F_STE_FETCH (7.3.4): Reason [79:64], GPCF 80, FetchAddr[55:3] at [247:195]', () => {
    // dw0 = SID 9<<32 | 0x03; dw1 = GPCF 1<<16 (0x1_0000) | Reason 3 = 0x0001_0003; dw3 = FetchAddr 0x8_0000_0040
    const words = [0x0000_0009_0000_0003n, 0x0001_0003n, 0n, 0x0000_0008_0000_0040n];
    const d = decodeFormat(EVT, words);
    assert.equal(d.format, 'evt-F_STE_FETCH');
    assertFields(d, { StreamID: 9n, Reason: 3n, GPCF: 1n, FetchAddr: 0x8_0000_0040n });
    assertClean(d);
    assert.deepEqual(encodeOk(fmt('evt-F_STE_FETCH'), { StreamID: 9, Reason: 3, GPCF: 1, FetchAddr: 0x8_0000_0040n }), words);
    // bit 81 (dw1[17]) is RES0
    assert.deepEqual(
      fmt('evt-F_STE_FETCH')
        .decode([3n, 1n << 17n, 0n, 0n])
        .res0.map((x) => x.bits),
      ['dw1[17]'],
    );
  });

  it('F_VMS_FETCH (7.3.20): same Reason, GPCF and FetchAddr positions, with SSV and SubstreamID', () => {
    // dw0 = SID 0x100<<32 | SSID 2<<12 (0x2000) | SSV 0x800 | 0x25 = 0x0000_0100_0000_2825; dw1 = Reason 0xFF; dw3 = 0x9000_0008
    const words = [0x0000_0100_0000_2825n, 0xffn, 0n, 0x9000_0008n];
    const d = decodeFormat(EVT, words);
    assert.equal(d.format, 'evt-F_VMS_FETCH');
    assertFields(d, { StreamID: 0x100n, SSV: 1n, SubstreamID: 2n, Reason: 0xffn, GPCF: 0n, FetchAddr: 0x9000_0008n });
    assertClean(d);
  });

  it('F_CFG_CONFLICT (7.3.18): Reason fills [95:64]', () => {
    // dw0 = SID 3<<32 | 0x21 = 0x0000_0003_0000_0021; dw1 = Reason 0xDEAD_BEEF
    const words = [0x0000_0003_0000_0021n, 0xdead_beefn, 0n, 0n];
    assert.deepEqual(encodeOk(fmt('evt-F_CFG_CONFLICT'), { StreamID: 3, Reason: 0xdead_beef }), words);
    const d = decodeFormat(EVT, words);
    assertFields(d, { StreamID: 3n, Reason: 0xdead_beefn });
    assertClean(d);
  });

  it('C_BAD_SUBSTREAMID (7.3.9): no SSV, bit 11 is RES0', () => {
    // dw0 = SID 1<<32 | SSID 0xF_FFFF<<12 (0xFFFF_F000) | 0x08 = 0x0000_0001_FFFF_F008
    const words = [0x0000_0001_ffff_f008n, 0n, 0n, 0n];
    const d = decodeFormat(EVT, words);
    assert.equal(d.format, 'evt-C_BAD_SUBSTREAMID');
    assertFields(d, { StreamID: 1n, SubstreamID: 0xf_ffffn });
    assertClean(d);
    assertRanges(fmt('evt-C_BAD_SUBSTREAMID'), [
      ['EventID', 7, 0],
      ['SubstreamID', 31, 12],
      ['StreamID', 63, 32],
    ]);
    assert.deepEqual(
      fmt('evt-C_BAD_SUBSTREAMID')
        .decode([0x808n, 0n, 0n, 0n])
        .res0.map((x) => x.bits),
      ['dw0[11]'],
    );
  });

  it('header of C_BAD_STREAMID, C_BAD_STE, C_BAD_CD (7.3.3, 7.3.5, 7.3.11): SSV 11, SubstreamID [31:12], StreamID [63:32], nothing else', () => {
    for (const n of ['C_BAD_STREAMID', 'C_BAD_STE', 'C_BAD_CD']) {
      assertRanges(fmt(`evt-${n}`), [
        ['EventID', 7, 0],
        ['SSV', 11, 11],
        ['SubstreamID', 31, 12],
        ['StreamID', 63, 32],
      ]);
      for (const w of [1, 2, 3]) assertRanges(fmt(`evt-${n}`), [], w);
    }
  });

  it('F_TRANSL_FORBIDDEN (7.3.8): RnW 99, bits [98:96] RES0', () => {
    // dw1 = RnW 1<<35 = 0x8_0000_0000; bit 98 = dw1[34] must be RES0
    assertFields(fmt('evt-F_TRANSL_FORBIDDEN').decode([7n, 0x8_0000_0000n, 0n, 0n]), { RnW: 1n });
    assert.deepEqual(
      fmt('evt-F_TRANSL_FORBIDDEN')
        .decode([7n, 0x4_0000_0000n, 0n, 0n])
        .res0.map((x) => x.bits),
      ['dw1[34]'],
    );
  });
});

describe('registers against IHI0070 6.3', () => {
  const R = (n: string) => findRegister(n)!;

  it('IDR0 (6.3.1), IDR1 (6.3.2), IDR3 (6.3.4), IDR5 (6.3.6): every field range', () => {
    assertRanges(R('IDR0'), [
      ['S2P', 0, 0],
      ['S1P', 1, 1],
      ['TTF', 3, 2],
      ['COHACC', 4, 4],
      ['BTM', 5, 5],
      ['HTTU', 7, 6],
      ['DORMHINT', 8, 8],
      ['Hyp', 9, 9],
      ['ATS', 10, 10],
      ['NS1ATS', 11, 11],
      ['ASID16', 12, 12],
      ['MSI', 13, 13],
      ['SEV', 14, 14],
      ['ATOS', 15, 15],
      ['PRI', 16, 16],
      ['VMW', 17, 17],
      ['VMID16', 18, 18],
      ['CD2L', 19, 19],
      ['VATOS', 20, 20],
      ['TTENDIAN', 22, 21],
      ['ATSRECERR', 23, 23],
      ['STALL_MODEL', 25, 24],
      ['TERM_MODEL', 26, 26],
      ['ST_LEVEL', 28, 27],
      ['RME_IMPL', 30, 30],
    ]);
    assertRanges(R('IDR1'), [
      ['SIDSIZE', 5, 0],
      ['SSIDSIZE', 10, 6],
      ['PRIQS', 15, 11],
      ['EVENTQS', 20, 16],
      ['CMDQS', 25, 21],
      ['ATTR_PERMS_OVR', 26, 26],
      ['ATTR_TYPES_OVR', 27, 27],
      ['REL', 28, 28],
      ['QUEUES_PRESET', 29, 29],
      ['TABLES_PRESET', 30, 30],
      ['ECMDQ', 31, 31],
    ]);
    assertRanges(R('IDR3'), [
      ['HAD', 2, 2],
      ['PBHA', 3, 3],
      ['XNX', 4, 4],
      ['PPS', 5, 5],
      ['MPAM', 7, 7],
      ['FWB', 8, 8],
      ['STT', 9, 9],
      ['RIL', 10, 10],
      ['BBML', 12, 11],
      ['E0PD', 13, 13],
      ['PTWNNC', 14, 14],
      ['DPT', 15, 15],
      ['PASIDTT', 16, 16],
      ['EPAN', 17, 17],
      ['S1PI', 18, 18],
      ['S2PI', 19, 19],
      ['S2PO', 20, 20],
      ['THE', 21, 21],
      ['MTEPERM', 22, 22],
      ['AIE', 23, 23],
    ]);
    assertRanges(R('IDR5'), [
      ['OAS', 2, 0],
      ['GRAN4K', 4, 4],
      ['GRAN16K', 5, 5],
      ['GRAN64K', 6, 6],
      ['DS', 7, 7],
      ['D128', 8, 8],
      ['VAX', 11, 10],
      ['STALL_MAX', 31, 16],
    ]);
    // IDR5 OAS 0b111 is 56 bits (6.3.6): 0x0001_0007 = STALL_MAX 1, OAS 7
    assert.equal(R('IDR5').value(0x0001_0007n).names.OAS, 'PA56');
  });

  it('CR0 (6.3.9), CR1 (6.3.11), CR2 (6.3.12), GBPA (6.3.14), STRTAB_BASE_CFG (6.3.25), GERROR (6.3.19): every field range', () => {
    const cr0: Ranges = [
      ['SMMUEN', 0, 0],
      ['PRIQEN', 1, 1],
      ['EVENTQEN', 2, 2],
      ['CMDQEN', 3, 3],
      ['ATSCHK', 4, 4],
      ['VMW', 8, 6],
      ['DPT_WALK_EN', 10, 10],
    ];
    assertRanges(R('CR0'), cr0);
    assertRanges(R('CR0ACK'), cr0); // 6.3.10
    assertRanges(R('CR1'), [
      ['QUEUE_IC', 1, 0],
      ['QUEUE_OC', 3, 2],
      ['QUEUE_SH', 5, 4],
      ['TABLE_IC', 7, 6],
      ['TABLE_OC', 9, 8],
      ['TABLE_SH', 11, 10],
    ]);
    assertRanges(R('CR2'), [
      ['E2H', 0, 0],
      ['RECINVSID', 1, 1],
      ['PTM', 2, 2],
      ['REC_CFG_ATS', 3, 3],
    ]);
    assertRanges(R('GBPA'), [
      ['MemAttr', 3, 0],
      ['MTCFG', 4, 4],
      ['ALLOCCFG', 11, 8],
      ['SHCFG', 13, 12],
      ['PRIVCFG', 17, 16],
      ['INSTCFG', 19, 18],
      ['ABORT', 20, 20],
      ['Update', 31, 31],
    ]);
    assertRanges(R('STRTAB_BASE_CFG'), [
      ['LOG2SIZE', 5, 0],
      ['SPLIT', 10, 6],
      ['FMT', 17, 16],
    ]);
    const gerror: Ranges = [
      ['CMDQ_ERR', 0, 0],
      ['EVENTQ_ABT_ERR', 2, 2],
      ['PRIQ_ABT_ERR', 3, 3],
      ['MSI_CMDQ_ABT_ERR', 4, 4],
      ['MSI_EVENTQ_ABT_ERR', 5, 5],
      ['MSI_PRIQ_ABT_ERR', 6, 6],
      ['MSI_GERROR_ABT_ERR', 7, 7],
      ['SFM_ERR', 8, 8],
      ['CMDQP_ERR', 9, 9],
      ['DPT_ERR', 10, 10],
    ];
    assertRanges(R('GERROR'), gerror);
    assertRanges(R('GERRORN'), gerror); // 6.3.20
  });

  it('CR0 (6.3.9): VMW 0b101-0b111 are reserved (behave as 0b000); bits 5 and 9 RES0', () => {
    // all enables 0xF | ATSCHK 0x10 | VMW 4<<6 (0x100) | DPT_WALK_EN 0x400 = 0x51F
    const ok = R('CR0').value(0x51fn);
    assertFields(ok, { SMMUEN: 1n, PRIQEN: 1n, EVENTQEN: 1n, CMDQEN: 1n, ATSCHK: 1n, VMW: 4n, DPT_WALK_EN: 1n });
    assertClean(ok);
    // VMW 7<<6 = 0x1C0
    assert.deepEqual(
      R('CR0')
        .value(0x1c0n)
        .reserved.map((r) => [r.field, r.value]),
      [['VMW', 7n]],
    );
    assert.deepEqual(
      R('CR0')
        .value(0x220n)
        .res0.map((x) => x.bits),
      ['[5]', '[9]'],
    );
  });

  it('IDR6 (6.3.45): LOG2NUMP [27:24], LOG2NUMQ [19:16], bits [15:0] RES0', () => {
    // LOG2NUMP 3<<24 (0x0300_0000) | LOG2NUMQ 2<<16 (0x2_0000) = 0x0302_0000
    const d = R('IDR6').value(0x0302_0000n);
    assertFields(d, { LOG2NUMP: 3n, LOG2NUMQ: 2n });
    assertClean(d);
    assertRanges(R('IDR6'), [
      ['LOG2NUMQ', 19, 16],
      ['LOG2NUMP', 27, 24],
    ]);
    assert.deepEqual(
      R('IDR6')
        .value(0x3ffn)
        .res0.map((x) => x.bits),
      ['[9:0]'],
    );
  });
});

describe('sections cite the IHI0070 sub-section', () => {
  const R = (n: string) => findRegister(n)!;

  it('registers (6.3.x, read from each register heading)', () => {
    const want: Record<string, string> = {
      IDR0: '6.3.1',
      IDR5: '6.3.6',
      AIDR: '6.3.8',
      CR0: '6.3.9',
      CR0ACK: '6.3.10',
      CR1: '6.3.11',
      CR2: '6.3.12',
      STATUSR: '6.3.13',
      GBPA: '6.3.14',
      IRQ_CTRL: '6.3.16',
      S2PII: '6.3.17',
      IRQ_CTRLACK: '6.3.18',
      GERROR: '6.3.19',
      GERRORN: '6.3.20',
      STRTAB_BASE: '6.3.24',
      STRTAB_BASE_CFG: '6.3.25',
      CMDQ_CONS: '6.3.28',
      EVENTQ_BASE: '6.3.29',
      PRIQ_IRQ_CFG2: '6.3.36',
      GATOS_CTRL: '6.3.37',
      IDR6: '6.3.45',
      EVENTQ_PROD: '6.3.95',
      EVENTQ_CONS: '6.3.96',
      PRIQ_PROD: '6.3.97',
      PRIQ_CONS: '6.3.98',
      S_IDR0: '6.3.52',
      S_CR0: '6.3.57',
      S_INIT: '6.3.62',
      S_GERROR: '6.3.67',
      S_STRTAB_BASE: '6.3.72',
      S_EVENTQ_PROD: '6.3.78',
      S_GATOS_PAR: '6.3.86',
    };
    for (const [n, s] of Object.entries(want)) assert.equal(R(n).section, `IHI0070 ${s}`, n);
    for (const f of formatNames()) {
      const r = findRegister(f);
      if (r) assert.match(r.section, /^IHI0070 6\.(3\.\d+|2\.1 ID_REGS)/, f);
    }
  });

  it('structures (5.1-5.4, 4.x, 7.3.x)', () => {
    const want: Record<string, string> = {
      l1std: '5.1',
      ste: '5.2',
      cdl1: '5.3',
      cd: '5.4',
      cmd: '4.1.1',
      'cmd-PREFETCH_ADDR': '4.2.2',
      'cmd-CFGI_VMS_PIDM': '4.3.5',
      'cmd-CFGI_ALL': '4.3.6',
      'cmd-TLBI_EL3_ALL': '4.4.2.5',
      'cmd-TLBI_EL3_VA': '4.4.2.6',
      'cmd-TLBI_S_EL2_ASID': '4.4.2.14',
      'cmd-TLBI_S_S2_IPA': '4.4.3.3',
      'cmd-TLBI_SNH_ALL': '4.4.4.2',
      'cmd-DPTI_ALL': '4.6.1',
      'cmd-DPTI_PA': '4.6.2',
      'cmd-CMD_SYNC': '4.7.3',
      evt: '7.3',
      'evt-F_UUT': '7.3.2',
      'evt-F_BAD_ATS_TREQ': '7.3.6',
      'evt-F_TRANSLATION': '7.3.13',
      'evt-F_PERMISSION': '7.3.16',
      'evt-F_TLB_CONFLICT': '7.3.17',
      'evt-E_PAGE_REQUEST': '7.3.19',
      'evt-F_VMS_FETCH': '7.3.20',
    };
    for (const [n, s] of Object.entries(want)) assert.equal(fmt(n).section, `IHI0070 ${s}`, n);
    for (const n of formatNames()) assert.doesNotMatch(fmt(n).section, /ch\./, n);
  });
});
