// SPDX-License-Identifier: Apache-2.0
// Linux's STE/CD construction and its hitless entry writer (arm-smmu-v3.c 6.12:
// arm_smmu_make_*_ste, arm_smmu_make_s1_cd, arm_smmu_get_ste_used, arm_smmu_get_cd_used,
// arm_smmu_write_entry; domain notes 7.3). Field positions come from the smmu-arch tables;
// address masks are Linux's ([51:x], not the architecture's [55:x]), as the kernel defines them.

import { CD, STE, type Layout } from '@kdump-twin/smmu-arch';

/** Linux's 52-bit physical address limit on its structure masks (e.g. STRTAB_STE_0_S1CTXPTR_MASK). */
const LINUX_PA_TOP = 51;

/** GENMASK of a field from the smmu-arch table, capped at bit 51 for address fields as Linux does. */
export function fieldMask(l: Layout, name: string): { word: number; mask: bigint } {
  const f = l.field(name);
  if (!f) throw new Error(`${l.name} has no field ${name}`);
  const hi = f.address ? Math.min(f.lsb + f.width - 1, LINUX_PA_TOP) : f.lsb + f.width - 1;
  return { word: f.word, mask: ((1n << BigInt(hi - f.lsb + 1)) - 1n) << BigInt(f.lsb) };
}

function or(used: bigint[], l: Layout, ...names: string[]): void {
  for (const n of names) {
    const { word, mask } = fieldMask(l, n);
    used[word] = used[word]! | mask;
  }
}

/** STRTAB_STE_2_VTCR: the S2T0SZ..S2PS group, bits [50:32] of dw2. */
const VTCR = ['S2T0SZ', 'S2SL0', 'S2IR0', 'S2OR0', 'S2SH0', 'S2TG', 'S2PS'];

/** arm_smmu_get_ste_used (6.12): the STE bits the hardware uses in the current configuration. */
export function steUsed(ent: readonly bigint[]): bigint[] {
  const used = new Array<bigint>(8).fill(0n);
  or(used, STE, 'V');
  if (STE.get(ent, 'V') === 0n) return used;
  or(used, STE, 'Config');
  const cfg = Number(STE.get(ent, 'Config'));
  if (cfg & 1) {
    or(used, STE, 'S1Fmt', 'S1ContextPtr', 'S1CDMax');
    or(used, STE, 'S1DSS', 'S1CIR', 'S1COR', 'S1CSH', 'S1STALLD', 'STRW', 'EATS');
    or(used, STE, 'S2VMID');
    if (STE.get(ent, 'S1DSS') === 1n) or(used, STE, 'SHCFG');
  }
  if (cfg & 2) {
    or(used, STE, 'EATS', 'SHCFG');
    or(used, STE, 'S2VMID', ...VTCR, 'S2AA64', 'S2ENDI', 'S2PTW', 'S2S', 'S2R');
    or(used, STE, 'S2TTB');
  }
  if (cfg === 4) or(used, STE, 'SHCFG');
  return used;
}

/** arm_smmu_get_cd_used (6.12). */
export function cdUsed(ent: readonly bigint[]): bigint[] {
  const used = new Array<bigint>(8).fill(0n);
  or(used, CD, 'V');
  if (CD.get(ent, 'V') === 0n) return used;
  used.fill((1n << 64n) - 1n);
  if (CD.get(ent, 'EPD0') === 1n) {
    for (const n of ['T0SZ', 'TG0', 'IR0', 'OR0', 'SH0', 'TTB0']) {
      const { word, mask } = fieldMask(CD, n);
      used[word] = used[word]! & ~mask;
    }
  }
  return used;
}

export interface SteFeatures {
  readonly attrTypesOverride: boolean;
  readonly stalls: boolean;
  readonly e2h: boolean;
}

/** arm_smmu_make_abort_ste. */
export function makeAbortSte(): bigint[] {
  return STE.build({ V: 1, Config: 'ABORT' });
}

/** arm_smmu_make_bypass_ste: SHCFG=incoming when IDR1.ATTR_TYPES_OVR. */
export function makeBypassSte(f: SteFeatures): bigint[] {
  return STE.build({ V: 1, Config: 'BYPASS', ...(f.attrTypesOverride ? { SHCFG: 'USE_INCOMING' } : {}) });
}

/** arm_smmu_make_cdtable_ste. `cdtab` is the CD table's physical address. */
export function makeCdtableSte(
  f: SteFeatures,
  cd: { cdtab: number | bigint; s1fmt: 'LINEAR' | 'L2_64K'; s1cdmax: number },
  o: { ats: boolean; s1dss: 'TERMINATE' | 'BYPASS' | 'SSID0'; stallEnabled?: boolean },
): bigint[] {
  const ptr = BigInt(cd.cdtab) & fieldMask(STE, 'S1ContextPtr').mask;
  return STE.build({
    V: 1,
    Config: 'S1_TRANS',
    S1Fmt: cd.s1fmt,
    S1ContextPtr: ptr,
    S1CDMax: cd.s1cdmax & 0x1f,
    S1DSS: o.s1dss,
    S1CIR: 'WBRA',
    S1COR: 'WBRA',
    S1CSH: 'ISH',
    S1STALLD: f.stalls && !o.stallEnabled ? 1 : 0,
    EATS: o.ats ? 'TRANS' : 'ABT',
    ...(f.attrTypesOverride && o.s1dss === 'BYPASS' ? { SHCFG: 'USE_INCOMING' } : {}),
    STRW: f.e2h ? 'EL2' : 'NSEL1',
  });
}

export interface Vtcr {
  readonly tsz: number;
  readonly sl: number;
  readonly irgn: number;
  readonly orgn: number;
  readonly sh: number;
  readonly tg: number;
  readonly ps: number;
}

/** arm_smmu_make_s2_domain_ste: S2PTW and S2R always, S2S when the master stalls. */
export function makeS2Ste(f: SteFeatures, s2: { vmid: number; vtcr: Vtcr; vttbr: bigint }, o: { ats: boolean; stallEnabled?: boolean }): bigint[] {
  return STE.build({
    V: 1,
    Config: 'S2_TRANS',
    EATS: o.ats ? 'TRANS' : 'ABT',
    ...(f.attrTypesOverride ? { SHCFG: 'USE_INCOMING' } : {}),
    S2VMID: s2.vmid,
    S2T0SZ: s2.vtcr.tsz,
    S2SL0: s2.vtcr.sl,
    S2IR0: s2.vtcr.irgn,
    S2OR0: s2.vtcr.orgn,
    S2SH0: s2.vtcr.sh,
    S2TG: s2.vtcr.tg,
    S2PS: s2.vtcr.ps,
    S2AA64: 1,
    S2PTW: 1,
    S2S: o.stallEnabled ? 1 : 0,
    S2R: 1,
    S2TTB: s2.vttbr & fieldMask(STE, 'S2TTB').mask,
  });
}

/** The stage-1 fields a guest may set in its STE (iommufd vSTE: V, Config, S1Fmt/ContextPtr/CDMax, S1DSS/CIR/COR/CSH/STALLD, EATS). */
export interface GuestSte {
  readonly s1ContextPtr: number | bigint;
  readonly s1cdmax: number;
  readonly s1fmt: 'LINEAR' | 'L2_64K';
  readonly s1dss?: 'TERMINATE' | 'BYPASS' | 'SSID0';
}

/**
 * arm_smmu_make_nested_cd_table_ste (newer mainline): the S2 parent's STE with Config=nested and
 * the guest's stage-1 fields merged in. The event-merge hint (MEV) newer kernels add is left
 * out: Linux 6.12's used-bit masks, which this writer reproduces, do not cover it.
 */
export function makeNestedSte(
  f: SteFeatures,
  s2: { vmid: number; vtcr: Vtcr; vttbr: bigint },
  guest: GuestSte,
  o: { ats: boolean; stallEnabled?: boolean },
): bigint[] {
  let w = makeS2Ste(f, s2, o);
  w = STE.with(w, 'Config', 7n);
  w = STE.with(w, 'S1Fmt', guest.s1fmt === 'LINEAR' ? 0n : 2n);
  w = STE.with(w, 'S1ContextPtr', BigInt(guest.s1ContextPtr) & fieldMask(STE, 'S1ContextPtr').mask);
  w = STE.with(w, 'S1CDMax', BigInt(guest.s1cdmax & 0x1f));
  w = STE.with(w, 'S1DSS', BigInt({ TERMINATE: 0, BYPASS: 1, SSID0: 2 }[guest.s1dss ?? 'SSID0']));
  w = STE.with(w, 'S1CIR', 1n);
  w = STE.with(w, 'S1COR', 1n);
  w = STE.with(w, 'S1CSH', 3n);
  if (f.stalls && !o.stallEnabled) w = STE.with(w, 'S1STALLD', 1n);
  return w;
}

export interface Tcr {
  readonly tsz: number;
  readonly tg: number;
  readonly irgn: number;
  readonly orgn: number;
  readonly sh: number;
  readonly ips: number;
}

/** arm_smmu_make_s1_cd: EPD1, V, AA64, R, A, ASET fixed; S with stall; HA|HD for dirty tracking. */
export function makeS1Cd(s1: { asid: number; tcr: Tcr; ttbr: bigint; mair: bigint }, o: { stallEnabled?: boolean; dirty?: boolean } = {}): bigint[] {
  return CD.build({
    T0SZ: s1.tcr.tsz,
    TG0: s1.tcr.tg,
    IR0: s1.tcr.irgn,
    OR0: s1.tcr.orgn,
    SH0: s1.tcr.sh,
    EPD1: 1,
    V: 1,
    IPS: s1.tcr.ips,
    AA64: 1,
    S: o.stallEnabled ? 1 : 0,
    R: 1,
    A: 1,
    ASET: 1,
    ASID: s1.asid,
    ...(o.dirty ? { HA: 1, HD: 1 } : {}),
    TTB0: s1.ttbr & fieldMask(CD, 'TTB0').mask,
    MAIR0: s1.mair & 0xffffffffn,
    MAIR1: s1.mair >> 32n,
  });
}

/** The SVA "release" CD (arm_smmu_make_sva_cd with no mm): EPD0, TCR0/TTB0 cleared, S/R cleared. */
export function makeSvaReleaseCd(cd: readonly bigint[]): bigint[] {
  let w = CD.with(cd, 'EPD0', 1n);
  for (const n of ['T0SZ', 'TG0', 'IR0', 'OR0', 'SH0', 'TTB0', 'S', 'R'] as const) w = CD.with(w, n, 0n);
  return w;
}

/** Where the writer stores qwords and how it syncs (CFGI_STE/CFGI_CD + CMD_SYNC in the driver). */
export interface EntryWriterOps {
  readonly used: (ent: readonly bigint[]) => bigint[];
  /** Stores qword i of the live entry (one 64-bit store). */
  write(i: number, value: bigint): Promise<void>;
  sync(): Promise<void>;
}

/**
 * arm_smmu_write_entry (6.12): `entry` is the current content (updated in place). One differing
 * used qword: hitless (unused bits first, then the critical qword, then the rest). Two or more:
 * breaking (V=0, the other qwords, then qword 0). Returns the syncs issued and the
 * WARN_ON_ONCE conditions met (a kernel warning, not an error).
 */
export async function writeEntry(ops: EntryWriterOps, entry: bigint[], target: readonly bigint[]): Promise<{ syncs: number; warnings: string[] }> {
  const warnings: string[] = [];
  const n = entry.length;
  const cur = ops.used(entry);
  const tgt = ops.used(target);
  const unusedUpdate = new Array<bigint>(n);
  let diff = 0;
  for (let i = 0; i < n; i++) {
    if ((target[i]! & ~tgt[i]!) !== 0n) warnings.push(`WARN_ON_ONCE: target qword ${i} sets bits its used mask does not cover`);
    unusedUpdate[i] = (entry[i]! & cur[i]!) | (target[i]! & ~cur[i]!);
    if ((unusedUpdate[i]! & tgt[i]!) !== target[i]) diff |= 1 << i;
  }
  let syncs = 0;
  const set = async (src: readonly bigint[], start: number, len: number): Promise<boolean> => {
    let changed = false;
    for (let i = start; i < start + len; i++) {
      if (entry[i] !== src[i]) {
        entry[i] = src[i]!;
        await ops.write(i, src[i]!);
        changed = true;
      }
    }
    if (changed) {
      await ops.sync();
      syncs++;
    }
    return changed;
  };
  const bits = diff
    .toString(2)
    .split('')
    .filter((c) => c === '1').length;
  if (bits === 1) {
    const critical = Math.log2(diff & -diff);
    unusedUpdate[critical] = entry[critical]!;
    await set(unusedUpdate, 0, n);
    await set(target, critical, 1);
    await set(target, 0, n);
  } else if (bits > 1) {
    unusedUpdate[0] = 0n;
    await set(unusedUpdate, 0, 1);
    await set(target, 1, n - 1);
    await set(target, 0, 1);
  } else if (await set(target, 0, n)) {
    warnings.push('WARN_ON_ONCE: no used bit changed, yet unused bits differed');
  }
  return { syncs, warnings };
}
