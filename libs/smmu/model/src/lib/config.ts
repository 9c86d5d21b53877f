// SPDX-License-Identifier: Apache-2.0
// What one SMMUv3 instance implements (the IDRs it reports) and the twin's timing and cache
// knobs. Defaults are close to an Arm CoreLink MMU-700 in a server: v3.2, 16-bit StreamIDs,
// 20-bit SubstreamIDs, 2-level tables, coherent, ATS/PRI, MSIs, both stages.

import { ADDRESS_SIZE_BITS, findRegister, type RegisterLayout } from '@kdump-twin/smmu-arch';

export type Replacement = 'fifo' | 'lru';

export interface SmmuConfig {
  /** Instance name, used in traces and violation records. */
  readonly name: string;
  /** IDR1.SIDSIZE: StreamID bits (0..32). */
  readonly sidBits: number;
  /** IDR1.SSIDSIZE: SubstreamID bits (0..20). */
  readonly ssidBits: number;
  /** IDR0.ST_LEVEL: 2-level stream tables supported (required when sidBits >= 7). */
  readonly twoLevelStrtab: boolean;
  /** IDR0.CD2L: 2-level CD tables. */
  readonly twoLevelCd: boolean;
  /** IDR0.COHACC: coherent table, queue and MSI accesses. */
  readonly coherent: boolean;
  readonly asid16: boolean;
  readonly vmid16: boolean;
  /** IDR0.Hyp: EL2 StreamWorld. */
  readonly hyp: boolean;
  readonly ats: boolean;
  /**
   * Split-stage ATS (STE.EATS=0b10: translation requests return the stage-1 IPA, translated
   * traffic is translated by stage 2). IDR0.NS1ATS reports its absence: NS1ATS = !splitStageAts.
   */
  readonly splitStageAts: boolean;
  readonly pri: boolean;
  /** IDR0.S1P / S2P. */
  readonly stage1: boolean;
  readonly stage2: boolean;
  /** IDR5.GRAN4K/16K/64K. */
  readonly granules: { readonly '4k': boolean; readonly '16k': boolean; readonly '64k': boolean };
  /** IDR5.OAS in bits: one of 32, 36, 40, 42, 44, 48, 52. */
  readonly oasBits: number;
  /** IDR1.CMDQS / EVENTQS / PRIQS: log2 of the largest queue (<= 19). */
  readonly cmdqLog2Max: number;
  readonly eventqLog2Max: number;
  readonly priqLog2Max: number;
  /** IDR0.MSI and IDR0.SEV. */
  readonly msi: boolean;
  readonly sev: boolean;
  /** IDR0.STALL_MODEL: 0 stall and terminate, 1 terminate only, 2 stall forced. */
  readonly stallModel: 0 | 1 | 2;
  /** IDR0.TERM_MODEL: 1 means terminated transactions always abort (CD.A must be 1). */
  readonly termModel: 0 | 1;
  /** IDR0.HTTU: 0 none, 1 access flag, 2 access flag and dirty state. */
  readonly httu: 0 | 1 | 2;
  /** IDR0.BTM. */
  readonly btm: boolean;
  /** IDR0.VMW: VMID wildcard matching for invalidation, making CR0.VMW writable (RES0 otherwise). */
  readonly vmw: boolean;
  /** IDR3.RIL: range invalidation. */
  readonly ril: boolean;
  /** IDR1.ATTR_TYPES_OVR / ATTR_PERMS_OVR. */
  readonly attrTypesOverride: boolean;
  readonly attrPermsOverride: boolean;
  /** AIDR.ArchMinorRev: 0..4 for v3.0..v3.4. From 2 (v3.2) guarded writes are ignored. */
  readonly archMinor: number;
  /** IIDR.ProductID (0x487 MMU-700, 0x483 MMU-600). */
  readonly productId: number;
  /** Virtual nanoseconds from a CR0 / IRQ_CTRL write to its ACK. 0 acknowledges at once. */
  readonly ackDelayNs: number;
  /** Virtual nanoseconds from a GBPA write with Update=1 to Update reading 0. */
  readonly gbpaDelayNs: number;
  /** Virtual nanoseconds from a CMDQ_PROD write (or restart) to the consumer running. */
  readonly cmdqLatencyNs: number;
  /** Virtual nanoseconds each consumed command costs. */
  readonly cmdNs: number;
  /** Configuration cache capacity: STEs (L1STDs and CDs use the same bound each). */
  readonly configCacheEntries: number;
  /** TLB capacity in entries. */
  readonly tlbEntries: number;
  readonly replacement: Replacement;
  /** Cache STEs/CDs with V=0 and L1STDs with Span=0 (permitted; catches a missing CFGI). */
  readonly cacheInvalid: boolean;
  /**
   * Adversarial caching (domain notes 7.2: the SMMU may re-read memory at any time): with this
   * probability per transaction, the STE, CDs and TLB entry it would use are dropped and
   * re-fetched, drawing from the SMMU's seeded RNG. 0 (the default) is the sticky mode: entries
   * stay until the architected invalidation completes.
   */
  readonly refetchProbability: number;
  /**
   * Physical ranges that are interrupt doorbells (a GIC ITS GITS_TRANSLATER): an MSI written
   * there is delivered to the interrupt listeners instead of memory.
   */
  readonly msiDoorbells: readonly { readonly base: number; readonly size: number }[];
  /**
   * ID register fields the twin's behaviour does not depend on, as a given implementation
   * reports them (IIDR.Implementer, IDR3.BBML, IDR5.STALL_MAX, ...). A field a key above
   * describes (IDR0.MSI is `msi`) is refused here, so the IDRs and the behaviour never disagree.
   */
  readonly idFields?: Partial<Record<IdRegisterName, Readonly<Record<string, number>>>>;
}

export type IdRegisterName = 'IDR0' | 'IDR1' | 'IDR2' | 'IDR3' | 'IDR4' | 'IDR5' | 'IIDR' | 'AIDR';
export const ID_REGISTER_NAMES: readonly IdRegisterName[] = ['IDR0', 'IDR1', 'IDR2', 'IDR3', 'IDR4', 'IDR5', 'IIDR', 'AIDR'];

/** The ID register fields the configuration keys own (idRegisters builds them from the keys). */
export const ID_FIELDS_FROM_KEYS: Readonly<Record<string, string>> = {
  'IDR0.S2P': 'stage2',
  'IDR0.S1P': 'stage1',
  'IDR0.COHACC': 'coherent',
  'IDR0.BTM': 'btm',
  'IDR0.HTTU': 'httu',
  'IDR0.Hyp': 'hyp',
  'IDR0.ATS': 'ats',
  'IDR0.NS1ATS': 'splitStageAts',
  'IDR0.ASID16': 'asid16',
  'IDR0.MSI': 'msi',
  'IDR0.SEV': 'sev',
  'IDR0.PRI': 'pri',
  'IDR0.VMW': 'vmw',
  'IDR0.VMID16': 'vmid16',
  'IDR0.CD2L': 'twoLevelCd',
  'IDR0.STALL_MODEL': 'stallModel',
  'IDR0.TERM_MODEL': 'termModel',
  'IDR0.ST_LEVEL': 'twoLevelStrtab',
  'IDR0.TTF': 'stage1 (AArch64 tables only)',
  'IDR0.TTENDIAN': 'little-endian tables only',
  'IDR1.SIDSIZE': 'sidBits',
  'IDR1.SSIDSIZE': 'ssidBits',
  'IDR1.PRIQS': 'priqLog2Max',
  'IDR1.EVENTQS': 'eventqLog2Max',
  'IDR1.CMDQS': 'cmdqLog2Max',
  'IDR1.ATTR_TYPES_OVR': 'attrTypesOverride',
  'IDR1.ATTR_PERMS_OVR': 'attrPermsOverride',
  'IDR3.RIL': 'ril',
  'IDR5.OAS': 'oasBits',
  'IDR5.GRAN4K': 'granules',
  'IDR5.GRAN16K': 'granules',
  'IDR5.GRAN64K': 'granules',
  'IIDR.ProductID': 'productId',
  'AIDR.ArchMinorRev': 'archMinor',
};

export const DEFAULT_SMMU_CONFIG: SmmuConfig = {
  name: 'smmu0',
  sidBits: 16,
  ssidBits: 20,
  twoLevelStrtab: true,
  twoLevelCd: true,
  coherent: true,
  asid16: true,
  vmid16: true,
  hyp: true,
  ats: true,
  splitStageAts: true,
  pri: true,
  stage1: true,
  stage2: true,
  granules: { '4k': true, '16k': true, '64k': true },
  oasBits: 48,
  cmdqLog2Max: 19,
  eventqLog2Max: 19,
  priqLog2Max: 19,
  msi: true,
  sev: true,
  stallModel: 0,
  termModel: 0,
  httu: 2,
  btm: false,
  vmw: false,
  ril: true,
  attrTypesOverride: true,
  attrPermsOverride: true,
  archMinor: 2,
  productId: 0x487,
  ackDelayNs: 200,
  gbpaDelayNs: 200,
  cmdqLatencyNs: 100,
  cmdNs: 20,
  configCacheEntries: 4096,
  tlbEntries: 2048,
  replacement: 'fifo',
  cacheInvalid: true,
  refetchProbability: 0,
  msiDoorbells: [{ base: 0x0801_0040, size: 4 }],
};

export class SmmuConfigError extends Error {
  constructor(
    readonly field: string,
    readonly rule: string,
  ) {
    super(`smmu config ${field}: ${rule}`);
    this.name = 'SmmuConfigError';
  }
}

const int = (v: unknown, lo: number, hi: number) => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;

/** Merges `partial` over the defaults and checks every field; throws SmmuConfigError naming it. */
export function smmuConfig(partial: Partial<SmmuConfig> = {}): SmmuConfig {
  const c: SmmuConfig = { ...DEFAULT_SMMU_CONFIG, ...partial, granules: { ...DEFAULT_SMMU_CONFIG.granules, ...(partial.granules ?? {}) } };
  const need = (ok: boolean, field: string, rule: string) => {
    if (!ok) throw new SmmuConfigError(field, rule);
  };
  need(typeof c.name === 'string' && c.name.length > 0, 'name', 'must be a non-empty string');
  need(int(c.sidBits, 0, 32), 'sidBits', 'IDR1.SIDSIZE is an integer 0..32');
  need(int(c.ssidBits, 0, 20), 'ssidBits', 'IDR1.SSIDSIZE is an integer 0..20');
  need(!(c.sidBits >= 7 && !c.twoLevelStrtab), 'twoLevelStrtab', 'IDR0.ST_LEVEL must be 2-level when SIDSIZE >= 7 (IHI0070 6.3.1)');
  need(c.stage1 || c.stage2, 'stage1', 'at least one of S1P and S2P must be implemented');
  need(c.granules['4k'] || c.granules['16k'] || c.granules['64k'], 'granules', 'at least one granule must be supported');
  need(ADDRESS_SIZE_BITS.slice(0, 7).includes(c.oasBits), 'oasBits', 'IDR5.OAS is one of 32, 36, 40, 42, 44, 48, 52 bits');
  for (const q of ['cmdqLog2Max', 'eventqLog2Max', 'priqLog2Max'] as const) need(int(c[q], 0, 19), q, 'queue size log2 is an integer 0..19');
  need(c.cmdqLog2Max > 6 || !c.stage1, 'cmdqLog2Max', 'Linux requires CMDQS > 6 (arm_smmu_device_hw_probe); keep it >= 7');
  need([0, 1, 2].includes(c.stallModel), 'stallModel', 'IDR0.STALL_MODEL is 0, 1 or 2');
  need([0, 1].includes(c.termModel), 'termModel', 'IDR0.TERM_MODEL is 0 or 1');
  need([0, 1, 2].includes(c.httu), 'httu', 'IDR0.HTTU is 0, 1 or 2');
  need(int(c.archMinor, 0, 4), 'archMinor', 'AIDR.ArchMinorRev is 0..4');
  need(!(c.archMinor >= 2 && !c.ril), 'ril', 'IDR3.RIL is mandatory from SMMUv3.2');
  need(int(c.productId, 0, 0xfff), 'productId', 'IIDR.ProductID is 12 bits');
  for (const k of ['ackDelayNs', 'gbpaDelayNs', 'cmdqLatencyNs', 'cmdNs'] as const)
    need(int(c[k], 0, 1e12), k, 'a non-negative integer number of virtual nanoseconds');
  for (const k of ['configCacheEntries', 'tlbEntries'] as const) need(int(c[k], 1, 1 << 24), k, 'an integer 1..16777216');
  need(c.replacement === 'fifo' || c.replacement === 'lru', 'replacement', "'fifo' or 'lru'");
  need(typeof c.refetchProbability === 'number' && c.refetchProbability >= 0 && c.refetchProbability <= 1, 'refetchProbability', 'a probability 0..1');
  for (const [r, fields] of Object.entries(c.idFields ?? {})) {
    need((ID_REGISTER_NAMES as readonly string[]).includes(r), `idFields.${r}`, `not an ID register (${ID_REGISTER_NAMES.join(', ')})`);
    for (const [f, v] of Object.entries(fields ?? {})) {
      const spec = reg(r).field(f);
      need(spec !== undefined, `idFields.${r}.${f}`, `SMMU_${r} has no field ${f} (IHI0070 6.3)`);
      need(!(`${r}.${f}` in ID_FIELDS_FROM_KEYS), `idFields.${r}.${f}`, `set by the key ${ID_FIELDS_FROM_KEYS[`${r}.${f}`]}, not here`);
      need(int(v, 0, 2 ** spec!.width - 1), `idFields.${r}.${f}`, `an integer 0..${2 ** spec!.width - 1} (${spec!.width} bits)`);
    }
  }
  need(
    Array.isArray(c.msiDoorbells) && c.msiDoorbells.every((d) => int(d.base, 0, 2 ** c.oasBits - 1) && int(d.size, 1, 1 << 20)),
    'msiDoorbells',
    'each doorbell is {base, size} inside the OAS',
  );
  return c;
}

function reg(name: string): RegisterLayout {
  return findRegister(name)!;
}

const OAS_CODE = (bits: number) => ADDRESS_SIZE_BITS.indexOf(bits);

/** The ID register values this configuration reports (IHI0070 6.3.1-6.3.6, 6.3.10-6.3.11). */
export function idRegisters(c: SmmuConfig): Record<IdRegisterName, bigint> {
  const ids = builtIdRegisters(c);
  for (const [r, fields] of Object.entries(c.idFields ?? {}) as [IdRegisterName, Readonly<Record<string, number>>][]) {
    for (const [f, v] of Object.entries(fields)) ids[r] = reg(r).with([ids[r]], f, BigInt(v))[0]!;
  }
  return ids;
}

function builtIdRegisters(c: SmmuConfig): Record<IdRegisterName, bigint> {
  const b = (x: boolean) => (x ? 1 : 0);
  return {
    IDR0: reg('IDR0').build({
      S2P: b(c.stage2),
      S1P: b(c.stage1),
      TTF: 'AARCH64',
      COHACC: b(c.coherent),
      BTM: b(c.btm),
      HTTU: c.httu,
      Hyp: b(c.hyp),
      ATS: b(c.ats),
      NS1ATS: b(c.ats && !c.splitStageAts),
      ASID16: b(c.asid16),
      MSI: b(c.msi),
      SEV: b(c.sev),
      PRI: b(c.pri),
      VMW: b(c.vmw),
      VMID16: b(c.vmid16),
      CD2L: b(c.twoLevelCd),
      TTENDIAN: 'LITTLE',
      STALL_MODEL: c.stallModel,
      TERM_MODEL: c.termModel,
      ST_LEVEL: c.twoLevelStrtab ? 'TWO_LEVEL' : 'LINEAR',
    })[0]!,
    IDR1: reg('IDR1').build({
      SIDSIZE: c.sidBits,
      SSIDSIZE: c.ssidBits,
      // IHI0070 6.3.2: PRIQS is RES0 when IDR0.PRI == 0.
      PRIQS: c.pri ? c.priqLog2Max : 0,
      EVENTQS: c.eventqLog2Max,
      CMDQS: c.cmdqLog2Max,
      ATTR_TYPES_OVR: b(c.attrTypesOverride),
      ATTR_PERMS_OVR: b(c.attrPermsOverride),
    })[0]!,
    IDR2: 0n,
    // IHI0070 6.3.4: XNX mandatory with S2P from v3.1; FWB from v3.2; E0PD and PTWNNC from v3.3.
    IDR3: reg('IDR3').build({
      HAD: b(c.stage1),
      XNX: b(c.stage2 && c.archMinor >= 1),
      FWB: b(c.stage2 && c.archMinor >= 2),
      RIL: b(c.ril),
      BBML: c.archMinor >= 2 ? 'LEVEL2' : 'LEVEL0',
      E0PD: b(c.archMinor >= 3),
      PTWNNC: b(c.stage2 && c.archMinor >= 3),
    })[0]!,
    IDR4: 0n,
    IDR5: reg('IDR5').build({
      OAS: OAS_CODE(c.oasBits),
      GRAN4K: b(c.granules['4k']),
      GRAN16K: b(c.granules['16k']),
      GRAN64K: b(c.granules['64k']),
      STALL_MAX: 128,
    })[0]!,
    IIDR: reg('IIDR').build({ Implementer: 0x43b, ProductID: c.productId })[0]!,
    AIDR: reg('AIDR').build({ ArchMinorRev: c.archMinor })[0]!,
  };
}
