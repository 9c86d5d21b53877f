// SPDX-License-Identifier: Apache-2.0
// STE and CD decode and validation (IHI0070 5.2 STE, 5.4 CD, and the ILLEGAL rules the domain
// notes list in sections 3 and 4): turns fetched words into the configuration the translation
// pipeline uses, or into the reason the structure is ILLEGAL (C_BAD_STE / C_BAD_CD).

import { ADDRESS_SIZE_BITS, CD, STE, type Granule } from '@kdump-twin/smmu-arch';
import type { SmmuConfig } from './config';
import type { StreamWorld, TlbContext } from './cache';
import { s1StartLevel, s2StartLevel, startBits, type WalkParams } from './walker';

/** STE.Config (IHI0070 5.2): 0b0xx abort, 0b100 bypass, 0b101 S1, 0b110 S2, 0b111 nested. */
export type SteKind = 'invalid' | 'abort' | 'bypass' | 's1' | 's2' | 'nested';

export interface S2Config {
  readonly vmid: number;
  readonly walk: WalkParams;
  /** S2S / S2R: stall and record stage-2 faults. */
  readonly stall: boolean;
  readonly record: boolean;
  /** S2PTW: stage-1 walks and CD fetches that hit stage-2 Device memory fault. */
  readonly ptw: boolean;
}

export interface DecodedSte {
  readonly kind: SteKind;
  /** Why the STE is ILLEGAL (kind 'invalid' with V=1), or 'V=0'. */
  readonly illegal?: string;
  readonly s1Fmt: number;
  readonly s1ContextPtr: number;
  readonly s1CdMax: number;
  readonly s1Dss: number;
  readonly s1StallD: boolean;
  /**
   * STE.EATS as the SMMU uses it: 0 none, 1 full ATS, 2 split-stage. 0b11 (DPT, IDR3.DPT=0) is
   * reserved and behaves as 0b00. EATS=0b10 is further effective only while CR0.ATSCHK=1.
   */
  readonly eats: number;
  readonly world: StreamWorld;
  readonly privcfg: number;
  readonly instcfg: number;
  readonly vmid: number;
  readonly s2?: S2Config;
  /** The STE's raw dwords. */
  readonly words: readonly bigint[];
}

export interface DecodedCd {
  readonly valid: boolean;
  readonly illegal?: string;
  readonly asid: number;
  /** TTB0 walk, or undefined when EPD0=1 (a TLB miss then gives F_TRANSLATION). */
  readonly walk?: WalkParams;
  readonly epd0: boolean;
  readonly inputBits: number;
  readonly stall: boolean;
  readonly record: boolean;
  /** A: 1 abort on terminate, 0 RAZ/WI. */
  readonly abort: boolean;
  readonly words: readonly bigint[];
}

const n = (v: bigint) => Number(v);
const TG0: Readonly<Record<number, Granule>> = { 0: '4k', 1: '64k', 2: '16k' };
const TG1: Readonly<Record<number, Granule>> = { 1: '16k', 2: '4k', 3: '64k' };

/** Effective output size of an IPS/PS encoding: min(encoding, OAS) (IHI0070 5.4 CD.IPS). */
export function effectiveOutputBits(code: number, oasBits: number): number {
  const bits = ADDRESS_SIZE_BITS[code] ?? oasBits;
  return Math.min(bits, oasBits);
}

function granuleOk(c: SmmuConfig, g: Granule | undefined): g is Granule {
  return g !== undefined && c.granules[g];
}

/** Decodes and validates an STE (IHI0070 5.2; ILLEGAL rules from the domain notes section 3). */
export function decodeSte(c: SmmuConfig, words: readonly bigint[], e2h: boolean): DecodedSte {
  const g = (f: Parameters<typeof STE.get>[1]) => n(STE.get(words, f));
  const base = {
    s1Fmt: 0,
    s1ContextPtr: 0,
    s1CdMax: 0,
    s1Dss: 0,
    s1StallD: false,
    eats: 0,
    world: 'NS-EL1' as StreamWorld,
    privcfg: 0,
    instcfg: 0,
    vmid: 0,
    words,
  };
  if (g('V') === 0) return { ...base, kind: 'invalid', illegal: 'V=0' };
  const config = g('Config');
  const bad = (why: string): DecodedSte => ({ ...base, kind: 'invalid', illegal: why });
  if (config < 4) return { ...base, kind: 'abort' };
  const s1 = (config & 1) !== 0;
  const s2on = (config & 2) !== 0;
  const privcfg = c.attrPermsOverride ? g('PRIVCFG') : 0;
  const instcfg = c.attrPermsOverride ? g('INSTCFG') : 0;
  if (config === 4) return { ...base, kind: 'bypass', privcfg, instcfg };
  if (s1 && !c.stage1) return bad('Config enables stage 1 but IDR0.S1P=0');
  if (s2on && !c.stage2) return bad('Config enables stage 2 but IDR0.S2P=0');
  const vmid = c.stage2 ? g('S2VMID') : 0;
  if (!c.vmid16 && vmid > 0xff) return bad('S2VMID[15:8] non-zero without IDR0.VMID16');
  // IHI0070 5.2 EATS: IGNORED without IDR0.ATS; 0b11 (DPT) is reserved without IDR3.DPT and behaves as 0b00.
  let eats = c.ats ? g('EATS') : 0;
  if (eats === 3) eats = 0;
  // S2S is checked by the EATS rules even when stage 2 bypasses (5.2: "STE.S2S is not IGNORED").
  const s2sBit = g('S2S') === 1;
  let world: StreamWorld = 'NS-EL1';
  if (s1 && !s2on && c.hyp) {
    const strw = g('STRW');
    if (strw & 1) return bad('STRW=0bx1 is ILLEGAL in the Non-secure stream table');
    if (strw === 2) world = e2h ? 'NS-EL2-E2H' : 'NS-EL2';
  }
  let s1Fmt = 0;
  let s1CdMax = 0;
  let s1Dss = 0;
  let s1StallD = false;
  let s1ContextPtr = 0;
  if (s1) {
    s1StallD = g('S1STALLD') === 1;
    if (s1StallD && c.stallModel !== 0) return bad('S1STALLD=1 while IDR0.STALL_MODEL != 0');
    s1CdMax = g('S1CDMax');
    if (s1CdMax > c.ssidBits) return bad(`S1CDMax=${s1CdMax} above IDR1.SSIDSIZE=${c.ssidBits}`);
    s1Fmt = s1CdMax > 0 ? g('S1Fmt') : 0;
    if (s1Fmt === 3) s1Fmt = 0; // reserved, behaves as linear (IHI0070 5.2 S1Fmt)
    if (s1Fmt !== 0 && !c.twoLevelCd) return bad('S1Fmt selects a 2-level CD table but IDR0.CD2L=0');
    s1Dss = g('S1DSS');
    if (s1Dss === 3) s1Dss = 0; // reserved, behaves as 0 (terminate)
    s1ContextPtr = g('S1ContextPtr');
  }
  let s2: S2Config | undefined;
  if (s2on) {
    const s2s = g('S2S') === 1;
    if (s2s && c.stallModel === 1) return bad('S2S=1 while IDR0.STALL_MODEL=1 (terminate only)');
    if (!s2s && c.stallModel === 2) return bad('S2S=0 while IDR0.STALL_MODEL=2 (stall forced)');
    if (eats === 1 && s2s) return bad('EATS=0b01 (full ATS) with S2S=1 and stage 2 enabled');
    if (g('S2AA64') === 0) return bad('S2AA64=0: AArch32 stage-2 tables are not supported (IDR0.TTF=AArch64)');
    if (g('S2ENDI') === 1) return bad('S2ENDI=1 but IDR0.TTENDIAN is little-endian only');
    if ((g('S2HA') || g('S2HD')) && c.httu === 0) return bad('S2HA/S2HD set without IDR0.HTTU');
    if (g('S2HD') && c.httu < 2) return bad('S2HD set but IDR0.HTTU has no dirty-state support');
    const granule = TG0[g('S2TG')];
    if (!granuleOk(c, granule)) return bad(`S2TG=${g('S2TG')} is reserved or not supported in IDR5`);
    const t0sz = g('S2T0SZ');
    // 64 - IAS (IAS = OAS without AArch32 LPAE); 12 is the floor with 64KB and 52-bit addresses.
    const minT0sz = Math.max(granule === '64k' ? 12 : 16, 64 - c.oasBits);
    if (t0sz < minT0sz || t0sz > 39) return bad(`S2T0SZ=${t0sz} outside ${minT0sz}..39`);
    const inputBits = 64 - t0sz;
    const level = s2StartLevel(granule, g('S2SL0'));
    if (level === undefined || startBits(granule, inputBits, level, 2) === undefined) {
      return bad(`S2SL0=${g('S2SL0')} inconsistent with S2T0SZ=${t0sz} and S2TG (${granule})`);
    }
    const outputBits = effectiveOutputBits(g('S2PS'), c.oasBits);
    const ttb = g('S2TTB');
    if (ttb >= 2 ** outputBits) return bad(`S2TTB=0x${ttb.toString(16)} outside the effective S2PS range (${outputBits} bits)`);
    // The concatenated start table is aligned to its size; lower TTB bits are treated as 0.
    const tableBytes = 2 ** (startBits(granule, inputBits, level, 2)! + 3);
    s2 = {
      vmid,
      stall: s2s,
      record: g('S2R') === 1,
      ptw: g('S2PTW') === 1,
      walk: {
        stage: 2,
        granule,
        inputBits,
        startLevel: level,
        table: ttb - (ttb % tableBytes),
        outputBits,
        bigEndian: false,
        ha: g('S2HA') === 1,
        hd: g('S2HD') === 1,
        affd: g('S2AFFD') === 1,
        had: true,
        wxn: false,
        xnx: c.archMinor >= 1,
        lpa: c.oasBits >= 52,
      },
    };
  }
  // IHI0070 5.2 EATS=0b01: SMMUv3.0 makes S2S=1 ILLEGAL whatever Config; from v3.1 only with stage
  // 2 enabled (checked above). For a stage-2-bypassing Config that check is CONSTRAINED
  // UNPREDICTABLE: the twin follows Arm's recommendation and does not apply it.
  if (eats === 1 && s2sBit && !s2on && c.archMinor === 0) return bad('EATS=0b01 (full ATS) with S2S=1 (SMMUv3.0)');
  // EATS=0b10 (split-stage ATS) is ILLEGAL unless Config=0b111, S2S=0 and IDR0.NS1ATS=0.
  if (eats === 2 && config !== 7) return bad('EATS=0b10 (split-stage ATS) needs Config=0b111');
  if (eats === 2 && s2sBit) return bad('EATS=0b10 (split-stage ATS) with S2S=1');
  if (eats === 2 && !c.splitStageAts) return bad('EATS=0b10 (split-stage ATS) but IDR0.NS1ATS=1');
  const kind: SteKind = s1 && s2on ? 'nested' : s1 ? 's1' : 's2';
  return { ...base, kind, s1Fmt, s1ContextPtr, s1CdMax, s1Dss, s1StallD, eats, world, privcfg, instcfg, vmid, s2 };
}

/** Decodes and validates a CD (IHI0070 5.4; ILLEGAL rules from the domain notes section 4). */
export function decodeCd(c: SmmuConfig, words: readonly bigint[], ste: DecodedSte): DecodedCd {
  const g = (f: Parameters<typeof CD.get>[1]) => n(CD.get(words, f));
  const base = { asid: 0, epd0: true, inputBits: 0, stall: false, record: false, abort: true, words };
  if (g('V') === 0) return { ...base, valid: false, illegal: 'V=0' };
  const bad = (why: string): DecodedCd => ({ ...base, valid: false, illegal: why });
  if (g('AA64') === 0) return bad('AA64=0: AArch32 translation tables are not supported (IDR0.TTF=AArch64)');
  const epd0 = g('EPD0') === 1;
  const epd1 = g('EPD1') === 1;
  if (g('ENDI') === 1 && !(epd0 && epd1)) return bad('ENDI=1 but IDR0.TTENDIAN is little-endian only');
  const asid = g('ASID');
  if (!c.asid16 && asid > 0xff) return bad('ASID[15:8] non-zero without IDR0.ASID16');
  const s = g('S') === 1;
  if (s && c.stallModel === 1) return bad('S=1 while IDR0.STALL_MODEL=1');
  if (s && c.stallModel === 0 && ste.s1StallD) return bad('S=1 while STE.S1STALLD=1');
  if (!s && c.stallModel === 2) return bad('S=0 while IDR0.STALL_MODEL=2');
  const a = g('A') === 1;
  if (!a && c.termModel === 1) return bad('A=0 while IDR0.TERM_MODEL=1');
  if ((g('HA') || g('HD')) && c.httu === 0) return bad('HA/HD set without IDR0.HTTU');
  if (g('HD') && c.httu < 2) return bad('HD set but IDR0.HTTU has no dirty-state support');
  const outputBits = effectiveOutputBits(g('IPS'), c.oasBits);
  if (!epd1) {
    const g1 = TG1[g('TG1')];
    if (!granuleOk(c, g1)) return bad(`TG1=${g('TG1')} is reserved or not supported (EPD1=0)`);
    const t1 = g('T1SZ');
    if (t1 < 16 || t1 > 39) return bad(`T1SZ=${t1} outside 16..39 (EPD1=0)`);
    if (n(CD.get(words, 'TTB1')) >= 2 ** outputBits) return bad('TTB1 outside the effective IPS range');
  }
  let walk: WalkParams | undefined;
  let inputBits = 0;
  if (!epd0) {
    const granule = TG0[g('TG0')];
    if (!granuleOk(c, granule)) return bad(`TG0=${g('TG0')} is reserved or not supported in IDR5`);
    const t0 = g('T0SZ');
    if (t0 < 16 || t0 > 39) return bad(`T0SZ=${t0} outside 16..39`);
    const ttb = g('TTB0');
    if (ttb >= 2 ** outputBits) return bad(`TTB0=0x${ttb.toString(16)} outside the effective IPS range (${outputBits} bits)`);
    inputBits = 64 - t0;
    const level = s1StartLevel(granule, inputBits);
    const tableBytes = 2 ** (startBits(granule, inputBits, level, 1)! + 3);
    walk = {
      stage: 1,
      granule,
      inputBits,
      startLevel: level,
      table: ttb - (ttb % Math.max(tableBytes, 8)),
      outputBits,
      bigEndian: false,
      ha: g('HA') === 1,
      hd: g('HD') === 1,
      affd: g('AFFD') === 1,
      had: g('HAD0') === 1,
      wxn: g('WXN') === 1,
      lpa: c.oasBits >= 52,
      // PAN is IGNORED in a one-EL (any-EL2) StreamWorld (IHI0070 5.4).
      pan: g('PAN') === 1 && ste.world !== 'NS-EL2',
    };
  }
  return { valid: true, asid, epd0, walk, inputBits, stall: s, record: g('R') === 1, abort: a || c.termModel === 1, words };
}

/** The TLB contexts a CD (or an S2-only STE) translates into. */
export interface Contexts {
  readonly ctx: TlbContext;
  readonly global?: TlbContext;
}
