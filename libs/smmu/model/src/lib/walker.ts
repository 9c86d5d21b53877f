// SPDX-License-Identifier: Apache-2.0
// VMSAv8-64 stage-1 and stage-2 table walks for 4K, 16K and 64K granules (Arm ARM D8.2-D8.4,
// IHI0070 3.4 and domain notes 7): start level, per-level index, descriptor fetch (through
// stage 2 for nested stage-1 walks), table/block/page decode, address-size checks, hierarchical
// permissions, access flag and dirty-state hardware updates. Every field comes from the
// pte-* field tables of smmu-arch; this file only does arithmetic on addresses.

import { bitsReader, findFormat, GRANULE_SHIFT, type Granule, type Layout } from '@kdump-twin/smmu-arch';
import { PERM } from './cache';
import { POW2 } from './pow2';

/** The memory the walker reads descriptors from and writes AF/dirty updates to. */
export interface WalkMemory {
  readDword(pa: number, out: { lo: number; hi: number }): string | undefined;
  writeDword(pa: number, lo: number, hi: number, writerId: number): string | undefined;
}

export type WalkFaultName = 'F_TRANSLATION' | 'F_ADDR_SIZE' | 'F_ACCESS' | 'F_PERMISSION' | 'F_WALK_EABT';

export interface WalkFault {
  readonly ok: false;
  readonly fault: WalkFaultName;
  readonly stage: 1 | 2;
  readonly level: number;
  /** Physical address of the descriptor fetch that aborted (F_WALK_EABT). */
  readonly fetchAddress?: number;
  /** For a stage-2 fault met while translating a stage-1 descriptor or CD address: CLASS TT/CD. */
  readonly cls: 'CD' | 'TT' | 'IN';
  /** IPA of a stage-2 fault. */
  readonly ipa?: number;
  /** TTRnW: the stage-2 fault happened on a descriptor read (1) or an HTTU write (0). */
  readonly ttRead?: boolean;
  readonly why: string;
  /**
   * Not an architected fault: the HTTU write was refused by the simulator's backing bound
   * (memory.maxBackedBytes). The SMMU records a simulator error instead of an event.
   */
  readonly simulator?: boolean;
}

export interface WalkOk {
  readonly ok: true;
  /** Output address of the input address. */
  readonly out: number;
  /** Output address of the entry's first byte and log2 of its size. */
  readonly outBase: number;
  readonly shift: number;
  readonly level: number;
  /** PERM bits (stage 1: from AP/UXN/PXN/WXN and table limits; stage 2: R/W/X for both ELs). */
  readonly perms: number;
  readonly dirtyOnWrite: boolean;
  readonly global: boolean;
  readonly leafAddress: number;
  /** Stage 1: AttrIndx; stage 2: MemAttr. */
  readonly attr: number;
}

export type WalkResult = WalkOk | WalkFault;

export interface WalkParams {
  readonly stage: 1 | 2;
  readonly granule: Granule;
  /** Input address size in bits: 64 - TxSZ. */
  readonly inputBits: number;
  readonly startLevel: number;
  /** Start-level table address (already aligned). */
  readonly table: number;
  /** Effective output size in bits: min(IPS or S2PS, OAS). */
  readonly outputBits: number;
  readonly bigEndian: boolean;
  /** Hardware access-flag update (CD.HA / STE.S2HA with IDR0.HTTU). */
  readonly ha: boolean;
  /** Hardware dirty-state update (CD.HD / STE.S2HD). */
  readonly hd: boolean;
  /** AF treated as 1 (CD.AFFD / STE.S2AFFD). */
  readonly affd: boolean;
  /** Hierarchical attributes disabled (CD.HAD0). */
  readonly had: boolean;
  /** Stage 1: WXN. */
  readonly wxn: boolean;
  /**
   * Stage 1 in a one-EL regime (NS-EL2 without E2H): AP[1] is treated as 1, only AP[2] and
   * XN (bit 54) matter, and the permissions apply to every access (domain notes 7 step 7.5).
   */
  readonly oneEl?: boolean;
  /** Stage 2: XN is two bits (IDR3.XNX, EL0/EL1 execute-never distinction). */
  readonly xnx?: boolean;
  /**
   * 64KB granule: level-1 block descriptors (4TB) exist only with a 52-bit OA (FEAT_LPA, an
   * IDR5.OAS of 52 bits); without it that encoding is a Translation fault (Arm ARM D8.3.1).
   */
  readonly lpa?: boolean;
  /**
   * Stage 1 in a two-EL regime: CD.PAN. Privileged data reads and writes to a page that stage 1
   * lets unprivileged accesses read or write are denied (IHI0070 5.4 CD.PAN; Arm ARM D8.4.1).
   */
  readonly pan?: boolean;
  /**
   * Stage 1 of a nested configuration: every descriptor address is an IPA, translated here by
   * stage 2 (a fault there is reported as a stage-2 fault with CLASS=TT).
   */
  readonly tableAddress?: (ipa: number, write: boolean) => { ok: true; pa: number } | WalkFault;
}

interface Readers {
  readonly valid: R;
  readonly type: R;
  readonly tableAddr: R;
  readonly taHi: R | undefined;
  readonly oa: Readonly<Record<number, R>>;
  readonly oaHi: R | undefined;
  /** Output-address bits [50:48] that are RES0 without FEAT_LPA/LPA2: non-zero means OA >= 2^48. */
  readonly oaRes0: R | undefined;
  readonly blockLevels: readonly number[];
  readonly af: R;
  readonly ng: R | undefined;
  readonly ap: R;
  readonly attr: R;
  readonly dbm: R;
  readonly pxn: R | undefined;
  readonly uxn: R | undefined;
  readonly xn: R | undefined;
  readonly apTable: R | undefined;
  readonly pxnTable: R | undefined;
  readonly uxnTable: R | undefined;
  readonly leafLayout: Layout;
}
type R = (h: ArrayLike<number>, base?: number) => number;

const cache: (Readers | undefined)[] = [];
const GRANULE_INDEX: Readonly<Record<Granule, number>> = { '4k': 0, '16k': 1, '64k': 2 };

function readers(stage: 1 | 2, granule: Granule): Readers {
  const key = (stage - 1) * 3 + GRANULE_INDEX[granule];
  const hit = cache[key];
  if (hit) return hit;
  const s = `s${stage}`;
  const table = findFormat(`pte-${s}-${granule}-table`)!;
  const page = findFormat(`pte-${s}-${granule}-page`)!;
  const oa: Record<number, R> = { 3: page.reader('OutputAddress') };
  const blockLevels: number[] = [];
  for (const l of [1, 2]) {
    const b = findFormat(`pte-${s}-${granule}-block-l${l}`);
    if (b) {
      oa[l] = b.reader('OutputAddress');
      blockLevels.push(l);
    }
  }
  const r: Readers = {
    valid: page.reader('Valid'),
    type: page.reader('Type'),
    tableAddr: table.reader('NextLevelTable'),
    taHi: table.field('TA_51_48') ? table.reader('TA_51_48') : undefined,
    oa,
    oaHi: page.field('OA_51_48') ? page.reader('OA_51_48') : undefined,
    // Arm ARM D8.3: with a 48-bit OA the descriptor bits [50:48] are RES0 and a non-zero value
    // gives an Address size fault (the 64K granule holds OA[51:48] in bits [15:12] instead).
    oaRes0: granule === '64k' ? undefined : bitsReader(0, 50, 48),
    blockLevels,
    af: page.reader('AF'),
    ng: stage === 1 ? page.reader('nG') : undefined,
    ap: stage === 1 ? page.reader('AP') : page.reader('S2AP'),
    attr: stage === 1 ? page.reader('AttrIndx') : page.reader('MemAttr'),
    dbm: page.reader('DBM'),
    pxn: stage === 1 ? page.reader('PXN') : undefined,
    uxn: stage === 1 ? page.reader('UXN') : undefined,
    xn: stage === 2 ? page.reader('XN') : undefined,
    apTable: stage === 1 ? table.reader('APTable') : undefined,
    pxnTable: stage === 1 ? table.reader('PXNTable') : undefined,
    uxnTable: stage === 1 ? table.reader('UXNTable') : undefined,
    leafLayout: page,
  };
  cache[key] = r;
  return r;
}

/** Bits resolved per level: granule shift - 3 (Arm ARM D8.2.6). */
export function bitsPerLevel(granule: Granule): number {
  return GRANULE_SHIFT[granule] - 3;
}

/** LSB of the input address bits a level indexes. */
export function levelShift(granule: Granule, level: number): number {
  const g = GRANULE_SHIFT[granule];
  return g + (g - 3) * (3 - level);
}

/** Stage-1 start level from the input size (Arm ARM D8.2.7; domain notes 7 step 7.2). */
export function s1StartLevel(granule: Granule, inputBits: number): number {
  const g = GRANULE_SHIFT[granule];
  const levels = Math.ceil((inputBits - g) / (g - 3));
  return 4 - levels;
}

/**
 * Stage-2 start level from S2SL0 and the granule (Arm ARM D8.2.8 VTCR_EL2.SL0): 4K: 0/1/2 =
 * L2/L1/L0; 16K and 64K: 0/1/2 = L3/L2/L1. 3 is reserved (undefined here).
 */
export function s2StartLevel(granule: Granule, sl0: number): number | undefined {
  if (sl0 === 3) return undefined;
  return granule === '4k' ? 2 - sl0 : 3 - sl0;
}

/**
 * Index bits the start level resolves; stage 2 may concatenate up to 16 start tables (4 extra
 * bits). Returns undefined when the start level cannot map the input size (inconsistent
 * S2T0SZ/S2SL0/S2TG, which makes the STE ILLEGAL).
 */
export function startBits(granule: Granule, inputBits: number, level: number, stage: 1 | 2): number | undefined {
  const bits = inputBits - levelShift(granule, level);
  const max = bitsPerLevel(granule) + (stage === 2 ? 4 : 0);
  if (bits < 1 || bits > max) return undefined;
  if (stage === 2 && level === 0 && bits > bitsPerLevel(granule)) return undefined; // no L0 concatenation
  return bits;
}

const scratch = { lo: 0, hi: 0 };
const halves = [0, 0];

function bswap32(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

/** AP[2:1] and XN bits to PERM bits (Arm ARM D8.4.1 table; domain notes 7.1). */
export function s1Perms(ap: number, pxn: number, uxn: number, wxn: boolean): number {
  const ap1 = ap & 1; // EL0 access
  const ro = (ap & 2) !== 0; // AP[2]
  let p = PERM.PR;
  if (!ro) p |= PERM.PW;
  if (ap1) p |= PERM.UR;
  if (ap1 && !ro) p |= PERM.UW;
  const el0Writable = ap1 === 1 && !ro;
  if (!pxn && !el0Writable && !(wxn && !ro)) p |= PERM.PX;
  if (!uxn && !(wxn && el0Writable)) p |= PERM.UX;
  return p;
}

/** APTable / UXNTable / PXNTable limits (Arm ARM D8.4.2). */
function applyTableLimits(p: number, apTable: number, uxnTable: number, pxnTable: number): number {
  if (apTable & 1) p &= ~(PERM.UR | PERM.UW | PERM.UX);
  if (apTable & 2) p &= ~(PERM.PW | PERM.UW);
  if (uxnTable) p &= ~PERM.UX;
  if (pxnTable) p &= ~PERM.PX;
  return p;
}

/** Stage-2 S2AP and XN to PERM bits for both ELs (Arm ARM D8.4.3; XN[1:0] only with XNX). */
export function s2Perms(s2ap: number, xn: number, xnx: boolean): number {
  let p = 0;
  if (s2ap & 1) p |= PERM.PR | PERM.UR;
  if (s2ap & 2) p |= PERM.PW | PERM.UW;
  if (xnx) {
    if (xn === 0) p |= PERM.PX | PERM.UX;
    else if (xn === 1)
      p |= PERM.UX; // PXN only
    else if (xn === 3) p |= PERM.PX; // UXN only
  } else if ((xn & 2) === 0) p |= PERM.PX | PERM.UX;
  return p;
}

function fault(p: WalkParams, name: WalkFaultName, level: number, why: string, fetchAddress?: number): WalkFault {
  return { ok: false, fault: name, stage: p.stage, level, fetchAddress, cls: 'IN', why };
}

/** PAN (IHI0070 5.4): no privileged data access where stage 1 grants unprivileged data access. */
function applyPan(p: WalkParams, perms: number): number {
  return p.pan && (perms & (PERM.UR | PERM.UW)) !== 0 ? perms & ~(PERM.PR | PERM.PW) : perms;
}

/**
 * Walks `input` (a VA for stage 1, an IPA for stage 2). `write` is the access that caused the
 * walk: it decides the dirty-state update. Never throws on table contents.
 */
export function walk(mem: WalkMemory, p: WalkParams, input: number, write: boolean, smmuWriter: number): WalkResult {
  const rd = readers(p.stage, p.granule);
  const g = GRANULE_SHIFT[p.granule];
  const perLevel = g - 3;
  if (input >= POW2[p.inputBits]!) {
    return fault(p, 'F_TRANSLATION', p.startLevel, `input 0x${input.toString(16)} above the ${p.inputBits}-bit input range`);
  }
  let table = p.table;
  let apTable = 0;
  let uxnTable = 0;
  let pxnTable = 0;
  const outLimit = POW2[p.outputBits]!;
  for (let level = p.startLevel; level <= 3; level++) {
    const lsb = g + perLevel * (3 - level);
    const bits = level === p.startLevel ? p.inputBits - lsb : perLevel;
    // floor(x / m) and x - floor(x / m) * m are exact for integers below 2^53 and m a power of
    // two, and cheaper than % on doubles (a call to fmod): every walk takes this per level.
    const above = Math.floor(input / POW2[lsb]!);
    const index = above - Math.floor(above / POW2[bits]!) * POW2[bits]!;
    const descIpa = table + index * 8;
    let descPa = descIpa;
    if (p.tableAddress) {
      const t = p.tableAddress(descIpa, false);
      if (!t.ok) return { ...t, cls: 'TT', ttRead: true };
      descPa = t.pa;
    }
    const err = mem.readDword(descPa, scratch);
    if (err !== undefined) {
      return fault(p, 'F_WALK_EABT', level, `external abort (${err}) fetching the level-${level} descriptor at 0x${descPa.toString(16)}`, descPa);
    }
    if (p.bigEndian) {
      halves[0] = bswap32(scratch.hi);
      halves[1] = bswap32(scratch.lo);
    } else {
      halves[0] = scratch.lo;
      halves[1] = scratch.hi;
    }
    if (rd.valid(halves) === 0) return fault(p, 'F_TRANSLATION', level, `level-${level} descriptor at 0x${descPa.toString(16)} is invalid`);
    const type = rd.type(halves);
    if (type === 1 && level < 3) {
      // Table descriptor.
      let next = rd.tableAddr(halves);
      if (rd.taHi) next += rd.taHi(halves) * 2 ** 48;
      if (rd.oaRes0 && rd.oaRes0(halves) !== 0) next += 2 ** 48;
      if (next >= outLimit) {
        return fault(p, 'F_ADDR_SIZE', level, `level-${level} table address 0x${next.toString(16)} above the ${p.outputBits}-bit output size`);
      }
      if (p.stage === 1 && !p.had) {
        apTable |= rd.apTable!(halves);
        uxnTable |= rd.uxnTable!(halves);
        pxnTable |= rd.pxnTable!(halves);
      }
      table = next;
      continue;
    }
    const isPage = type === 1 && level === 3;
    if (!isPage && !(type === 0 && rd.blockLevels.includes(level))) {
      return fault(
        p,
        'F_TRANSLATION',
        level,
        `level-${level} descriptor at 0x${descPa.toString(16)} has a reserved encoding (${type === 0 ? 'block' : 'page'} not allowed at this level)`,
      );
    }
    if (!isPage && level === 1 && p.granule === '64k' && !p.lpa) {
      return fault(p, 'F_TRANSLATION', level, `level-1 block descriptor at 0x${descPa.toString(16)} with the 64KB granule needs a 52-bit OA (FEAT_LPA)`);
    }
    let oa = rd.oa[level]!(halves);
    if (rd.oaHi) oa += rd.oaHi(halves) * 2 ** 48;
    if (rd.oaRes0 && rd.oaRes0(halves) !== 0) oa += 2 ** 48;
    if (oa >= outLimit) {
      return fault(p, 'F_ADDR_SIZE', level, `output address 0x${oa.toString(16)} above the ${p.outputBits}-bit output size`);
    }
    // Access flag (Arm ARM D8.5.1; IHI0070 3.13): HA sets it, AFFD ignores it, else F_ACCESS.
    let lo = halves[0]!;
    let hi = halves[1]!;
    let update = false;
    const leaf = rd.leafLayout;
    if (rd.af(halves) === 0) {
      if (p.ha) {
        const w = leaf.with([BigInt(lo) | (BigInt(hi) << 32n)], 'AF', 1n)[0]!;
        lo = Number(w & 0xffffffffn);
        hi = Number(w >> 32n);
        update = true;
      } else if (!p.affd) {
        return fault(p, 'F_ACCESS', level, `access flag clear in the level-${level} descriptor at 0x${descPa.toString(16)}`);
      }
    }
    const apv = rd.ap(halves);
    let perms: number;
    let dirtyOnWrite = false;
    if (p.stage === 1 && p.oneEl) {
      const ro = (apv & 2) !== 0;
      const xn = rd.uxn!(halves) === 1 || uxnTable !== 0;
      let one = PERM.PR | PERM.UR;
      if (!ro && (apTable & 2) === 0) one |= PERM.PW | PERM.UW;
      if (!xn && !(p.wxn && (one & PERM.PW) !== 0)) one |= PERM.PX | PERM.UX;
      perms = one;
    } else if (p.stage === 1) {
      perms = applyPan(p, applyTableLimits(s1Perms(apv, rd.pxn!(halves), rd.uxn!(halves), p.wxn), apTable, uxnTable, pxnTable));
      // Dirty state (Arm ARM D8.5.2): DBM=1 with HD makes AP[2]=1 mean writable-clean.
      if (p.hd && rd.dbm(halves) === 1 && (apv & 2) !== 0) {
        const asWritable = applyPan(p, applyTableLimits(s1Perms(apv & 1, rd.pxn!(halves), rd.uxn!(halves), p.wxn), apTable, uxnTable, pxnTable));
        if (write && (asWritable & (PERM.PW | PERM.UW)) !== 0) {
          const w = leaf.with([BigInt(lo) | (BigInt(hi) << 32n)], 'AP', BigInt(apv & 1))[0]!;
          lo = Number(w & 0xffffffffn);
          hi = Number(w >> 32n);
          update = true;
          perms = asWritable;
        } else dirtyOnWrite = (asWritable & (PERM.PW | PERM.UW)) !== 0;
      }
    } else {
      perms = s2Perms(apv, rd.xn!(halves), p.xnx === true);
      if (p.hd && rd.dbm(halves) === 1 && (apv & 2) === 0) {
        if (write) {
          const w = leaf.with([BigInt(lo) | (BigInt(hi) << 32n)], 'S2AP', BigInt(apv | 2))[0]!;
          lo = Number(w & 0xffffffffn);
          hi = Number(w >> 32n);
          update = true;
          perms |= PERM.PW | PERM.UW;
        } else dirtyOnWrite = true;
      }
    }
    if (update) {
      const wlo = p.bigEndian ? bswap32(hi) : lo;
      const whi = p.bigEndian ? bswap32(lo) : hi;
      if (p.tableAddress) {
        const t = p.tableAddress(descIpa, true);
        if (!t.ok) return { ...t, cls: 'TT', ttRead: false };
      }
      const werr = mem.writeDword(descPa, wlo, whi, smmuWriter);
      if (werr === 'backing-limit') {
        return {
          ...fault(p, 'F_WALK_EABT', level, `simulator limit on the hardware update of the descriptor at 0x${descPa.toString(16)}`, descPa),
          simulator: true,
        };
      }
      if (werr !== undefined) {
        return fault(p, 'F_WALK_EABT', level, `external abort (${werr}) on the hardware update of the descriptor at 0x${descPa.toString(16)}`, descPa);
      }
    }
    const shift = level === 3 ? g : lsb;
    const offset = input - Math.floor(input / POW2[shift]!) * POW2[shift]!;
    return {
      ok: true,
      out: oa + offset,
      outBase: oa,
      shift,
      level,
      perms,
      dirtyOnWrite,
      global: rd.ng ? rd.ng(halves) === 0 : false,
      leafAddress: descPa,
      attr: rd.attr(halves),
    };
  }
  return fault(p, 'F_TRANSLATION', 3, 'walk ran past level 3');
}
