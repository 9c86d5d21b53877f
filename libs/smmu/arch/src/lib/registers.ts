// SPDX-License-Identifier: Apache-2.0
// The SMMUv3 register file (IHI0070 chapter 6): offset, page, width, access, reset and every
// field. Register names are the architecture's without the SMMU_ prefix.

import {
  ADDRESS_SIZE,
  CERROR,
  CR1_CACHEABILITY,
  CR1_CACHEABILITY_RESERVED,
  INSTCFG,
  INSTCFG_RESERVED,
  MEMATTR,
  PRIVCFG,
  PRIVCFG_RESERVED,
  SHAREABILITY,
  SHAREABILITY_RESERVED,
  SHCFG,
} from './enums';
import { addr, bit, fld, Layout, reserved, structure, type FieldSpec } from './layout';

export type Access = 'RO' | 'RW';

/** A condition a guard needs: `register.field == value` (IHI0070 6.2 "Guarded" fields). */
export interface GuardTerm {
  readonly register: string;
  readonly field: string;
  readonly value: 0 | 1;
}

/**
 * Fields that may only change while every term holds. v3.2+ ignores a write that breaks the
 * guard (IHI0070 6.2); the hardware model records it as an architecture violation.
 */
export interface GuardRule {
  readonly fields: readonly string[] | 'all';
  readonly when: readonly GuardTerm[];
  readonly rule: string;
}

export type ResetValue = bigint | 'UNKNOWN' | 'IMPDEF';

export interface RegisterSpecInput {
  readonly name: string;
  readonly offset: number;
  readonly page: 0 | 1;
  readonly width: 32 | 64;
  readonly access: Access;
  readonly reset: ResetValue;
  /** The twin's fixed choice for an UNKNOWN or IMPLEMENTATION DEFINED reset. */
  readonly resetChoice?: bigint;
  /** A Secure programming interface register: RAZ/WI to the Non-secure accesses the twin models. */
  readonly secure?: boolean;
  /** The IHI0070 section, when REGISTER_SECTIONS has none for the name (e.g. "IHI0070 6.3.37"). */
  readonly section?: string;
  readonly guards?: readonly GuardRule[];
  readonly doc: string;
  readonly fields: readonly FieldSpec[];
}

/**
 * The IHI0070 6.3 sub-section that describes each register (checked against the text: the
 * numbering is not in offset order, e.g. S2PII is 6.3.17 and the page-1 registers 6.3.95-98).
 */
export const REGISTER_SECTIONS: Readonly<Record<string, string>> = {
  IDR0: '6.3.1',
  IDR1: '6.3.2',
  IDR2: '6.3.3',
  IDR3: '6.3.4',
  IDR4: '6.3.5',
  IDR5: '6.3.6',
  IIDR: '6.3.7',
  AIDR: '6.3.8',
  CR0: '6.3.9',
  CR0ACK: '6.3.10',
  CR1: '6.3.11',
  CR2: '6.3.12',
  STATUSR: '6.3.13',
  GBPA: '6.3.14',
  AGBPA: '6.3.15',
  IRQ_CTRL: '6.3.16',
  S2PII: '6.3.17',
  IRQ_CTRLACK: '6.3.18',
  GERROR: '6.3.19',
  GERRORN: '6.3.20',
  GERROR_IRQ_CFG0: '6.3.21',
  GERROR_IRQ_CFG1: '6.3.22',
  GERROR_IRQ_CFG2: '6.3.23',
  STRTAB_BASE: '6.3.24',
  STRTAB_BASE_CFG: '6.3.25',
  CMDQ_BASE: '6.3.26',
  CMDQ_PROD: '6.3.27',
  CMDQ_CONS: '6.3.28',
  EVENTQ_BASE: '6.3.29',
  EVENTQ_IRQ_CFG0: '6.3.30',
  EVENTQ_IRQ_CFG1: '6.3.31',
  EVENTQ_IRQ_CFG2: '6.3.32',
  PRIQ_BASE: '6.3.33',
  PRIQ_IRQ_CFG0: '6.3.34',
  PRIQ_IRQ_CFG1: '6.3.35',
  PRIQ_IRQ_CFG2: '6.3.36',
  GATOS_CTRL: '6.3.37',
  GATOS_SID: '6.3.38',
  GATOS_ADDR: '6.3.39',
  GATOS_PAR: '6.3.40',
  MPAMIDR: '6.3.41',
  GMPAM: '6.3.42',
  GBPMPAM: '6.3.43',
  IDR6: '6.3.45',
  S_IDR0: '6.3.52',
  S_IDR1: '6.3.53',
  S_IDR2: '6.3.54',
  S_IDR3: '6.3.55',
  S_IDR4: '6.3.56',
  S_CR0: '6.3.57',
  S_CR0ACK: '6.3.58',
  S_CR1: '6.3.59',
  S_CR2: '6.3.60',
  S_INIT: '6.3.62',
  S_GBPA: '6.3.63',
  S_AGBPA: '6.3.64',
  S_IRQ_CTRL: '6.3.65',
  S_IRQ_CTRLACK: '6.3.66',
  S_GERROR: '6.3.67',
  S_GERRORN: '6.3.68',
  S_GERROR_IRQ_CFG0: '6.3.69',
  S_GERROR_IRQ_CFG1: '6.3.70',
  S_GERROR_IRQ_CFG2: '6.3.71',
  S_STRTAB_BASE: '6.3.72',
  S_STRTAB_BASE_CFG: '6.3.73',
  S_CMDQ_BASE: '6.3.74',
  S_CMDQ_PROD: '6.3.75',
  S_CMDQ_CONS: '6.3.76',
  S_EVENTQ_BASE: '6.3.77',
  S_EVENTQ_PROD: '6.3.78',
  S_EVENTQ_CONS: '6.3.79',
  S_EVENTQ_IRQ_CFG0: '6.3.80',
  S_EVENTQ_IRQ_CFG1: '6.3.81',
  S_EVENTQ_IRQ_CFG2: '6.3.82',
  S_GATOS_CTRL: '6.3.83',
  S_GATOS_SID: '6.3.84',
  S_GATOS_ADDR: '6.3.85',
  S_GATOS_PAR: '6.3.86',
  EVENTQ_PROD: '6.3.95',
  EVENTQ_CONS: '6.3.96',
  PRIQ_PROD: '6.3.97',
  PRIQ_CONS: '6.3.98',
};

function sectionOf(name: string): string {
  const s = REGISTER_SECTIONS[name];
  return s === undefined ? `IHI0070 ch.6 SMMU_${name}` : `IHI0070 ${s}`;
}

export class RegisterLayout<N extends string = string> extends Layout<N> {
  readonly offset: number;
  readonly page: 0 | 1;
  readonly width: 32 | 64;
  readonly access: Access;
  readonly reset: ResetValue;
  /** The value the twin resets the register to. */
  readonly resetValue: bigint;
  readonly guards: readonly GuardRule[];
  readonly secure: boolean;

  constructor(r: RegisterSpecInput) {
    super({
      name: r.name,
      kind: 'register',
      sizeBytes: r.width / 8,
      words: 1,
      wordBits: r.width,
      section: r.section ?? sectionOf(r.name),
      doc: r.doc,
      fields: r.fields,
    });
    this.secure = r.secure ?? false;
    this.offset = r.offset;
    this.page = r.page;
    this.width = r.width;
    this.access = r.access;
    this.reset = r.reset;
    this.resetValue = typeof r.reset === 'bigint' ? r.reset : (r.resetChoice ?? 0n);
    this.guards = r.guards ?? [];
  }

  /** Byte offset from the SMMU base (page 1 is base + 64 KiB). */
  get absoluteOffset(): number {
    return this.page * 0x10000 + this.offset;
  }

  value(v: bigint): Decoded {
    return this.decode([v]);
  }
}

type Decoded = ReturnType<Layout['decode']>;

const f = (name: string, hi: number, lo: number, doc: string, extra: Omit<FieldSpec, 'name' | 'word' | 'lsb' | 'width' | 'doc'> = {}) =>
  fld(name, 0, hi, lo, doc, extra);
const b = (name: string, at: number, doc: string) => bit(name, 0, at, doc);
const a = (name: string, hi: number, lo: number, doc: string) => addr(name, 0, hi, lo, doc);

const off = (register: string, field: string): GuardTerm => ({ register, field, value: 0 });
const smmuenOff = [off('CR0', 'SMMUEN'), off('CR0ACK', 'SMMUEN')];
const cmdqenOff = [off('CR0', 'CMDQEN'), off('CR0ACK', 'CMDQEN')];
const eventqenOff = [off('CR0', 'EVENTQEN'), off('CR0ACK', 'EVENTQEN')];
const priqenOff = [off('CR0', 'PRIQEN'), off('CR0ACK', 'PRIQEN')];
const irqOff = (field: string) => [off('IRQ_CTRL', field), off('IRQ_CTRLACK', field)];

const guardAll = (when: readonly GuardTerm[], rule: string): GuardRule[] => [{ fields: 'all', when, rule }];

// CR0 and CR0ACK share a layout (IHI0070 6.3.9, 6.3.10).
const cr0Fields = (ack: boolean): FieldSpec[] => {
  const s = ack ? ' (acknowledged)' : '';
  return [
    b('SMMUEN', 0, `non-secure SMMU enable${s}`),
    b('PRIQEN', 1, `PRI queue enable, only if IDR0.PRI${s}`),
    b('EVENTQEN', 2, `event queue enable${s}`),
    b('CMDQEN', 3, `command queue enable${s}`),
    b('ATSCHK', 4, `ATS-translated traffic checked against the STE, only if IDR0.ATS${s}`),
    f('VMW', 8, 6, `VMID wildcard for TLB invalidation, only if IDR0.VMW${s}`, { reserved: [reserved(5, 7, 'reserved, behaves as 0b000 (exact VMID match)')] }),
    b('DPT_WALK_EN', 10, `DPT walks enabled, only if IDR3.DPT${s}`),
  ];
};

const irqCtrlFields = (ack: boolean): FieldSpec[] => {
  const s = ack ? ' (acknowledged)' : '';
  return [
    b('GERROR_IRQEN', 0, `GERROR interrupt enable${s}`),
    b('PRIQ_IRQEN', 1, `PRI queue interrupt enable${s}`),
    b('EVENTQ_IRQEN', 2, `event queue interrupt enable${s}`),
  ];
};

// GERROR and GERRORN share a layout (IHI0070 6.3.19, 6.3.20).
const gerrorFields = (n: boolean): FieldSpec[] => {
  const s = n ? ' acknowledge' : '';
  return [
    b('CMDQ_ERR', 0, `command queue error (CMDQ_CONS.ERR holds the reason)${s}`),
    b('EVENTQ_ABT_ERR', 2, `event queue access aborted${s}`),
    b('PRIQ_ABT_ERR', 3, `PRI queue access aborted${s}`),
    b('MSI_CMDQ_ABT_ERR', 4, `CMD_SYNC MSI aborted${s}`),
    b('MSI_EVENTQ_ABT_ERR', 5, `event queue MSI aborted${s}`),
    b('MSI_PRIQ_ABT_ERR', 6, `PRI queue MSI aborted${s}`),
    b('MSI_GERROR_ABT_ERR', 7, `GERROR MSI aborted${s}`),
    b('SFM_ERR', 8, `Service Failure Mode entered${s}`),
    b('CMDQP_ERR', 9, `ECMDQ error, only if IDR1.ECMDQ${s}`),
    b('DPT_ERR', 10, `DPT error, only if IDR3.DPT${s}`),
  ];
};

const irqCfg0 = (name: string, offset: number, guardField: string, src: string) =>
  new RegisterLayout({
    name,
    offset,
    page: 0,
    width: 64,
    access: 'RW',
    reset: 'UNKNOWN',
    guards: guardAll(irqOff(guardField), `RW only while IRQ_CTRL.${guardField}==0 and IRQ_CTRLACK.${guardField}==0`),
    doc: `${src} MSI address; ADDR 0 means a wired interrupt is used. RES0 when IDR0.MSI==0`,
    fields: [a('ADDR', 55, 2, 'MSI target physical address [55:2] (Linux masks [51:2])')],
  });
const irqCfg1 = (name: string, offset: number, guardField: string, src: string) =>
  new RegisterLayout({
    name,
    offset,
    page: 0,
    width: 32,
    access: 'RW',
    reset: 'UNKNOWN',
    guards: guardAll(irqOff(guardField), `RW only while IRQ_CTRL.${guardField}==0 and IRQ_CTRLACK.${guardField}==0`),
    doc: `${src} MSI payload`,
    fields: [f('DATA', 31, 0, '32-bit MSI data')],
  });
const irqCfg2 = (name: string, offset: number, guardField: string, src: string, lo = false) =>
  new RegisterLayout({
    name,
    offset,
    page: 0,
    width: 32,
    access: 'RW',
    reset: 'UNKNOWN',
    guards: guardAll(irqOff(guardField), `RW only while IRQ_CTRL.${guardField}==0 and IRQ_CTRLACK.${guardField}==0`),
    doc: `${src} MSI memory attributes (Linux writes 1: Device-nGnRE)`,
    fields: [
      f('MemAttr', 3, 0, 'MSI write memory type', { values: MEMATTR }),
      f('SH', 5, 4, 'MSI write shareability', { values: SHAREABILITY, reserved: SHAREABILITY_RESERVED }),
      ...(lo ? [b('LO', 31, 'PRI queue overflow MSI only for the last request of a group')] : []),
    ],
  });

const queueBase = (name: string, offset: number, guard: readonly GuardTerm[], en: string, ra: 'RA' | 'WA', entry: string) =>
  new RegisterLayout({
    name,
    offset,
    page: 0,
    width: 64,
    access: 'RW',
    reset: 'UNKNOWN',
    guards: guardAll(guard, `RW only while CR0.${en}==0 and CR0ACK.${en}==0`),
    doc: `${entry} queue base: the effective base is aligned to max(queue size, 32 bytes); LOG2SIZE above IDR1 is capped for use but reads back as written`,
    fields: [
      f('LOG2SIZE', 4, 0, 'log2 of the number of entries (capped at IDR1.*QS)'),
      a('ADDR', 55, 5, 'queue base physical address [55:5] (Linux Q_BASE_ADDR_MASK [51:5])'),
      b(ra, 62, ra === 'RA' ? 'read-allocate hint for queue reads' : 'write-allocate hint for queue writes'),
    ],
  });

const prodCons = (
  name: string,
  offset: number,
  page: 0 | 1,
  flag: 'OVFLG' | 'OVACKFLG' | null,
  field: 'WR' | 'RD',
  guards: readonly GuardRule[],
  doc: string,
  extra: FieldSpec[] = [],
) =>
  new RegisterLayout({
    name,
    offset,
    page,
    width: 32,
    access: 'RW',
    reset: 'UNKNOWN',
    guards,
    doc,
    fields: [
      f(field, 19, 0, `${field === 'WR' ? 'write' : 'read'} index: bits [QS-1:0] index, bit QS the wrap flag; higher bits read 0 in the SMMU-owned index`),
      ...extra,
      ...(flag
        ? [
            b(
              flag,
              31,
              flag === 'OVFLG' ? 'overflow flag, toggled by the SMMU on a discard while full' : 'overflow acknowledge, software copies PROD.OVFLG here',
            ),
          ]
        : []),
    ],
  });

/** Every register of IHI0070 6.3 the twin models, page 0 then page 1. */
export const REGISTERS: readonly RegisterLayout[] = [
  new RegisterLayout({
    name: 'IDR0',
    offset: 0x000,
    page: 0,
    width: 32,
    access: 'RO',
    reset: 'IMPDEF',
    doc: 'features: stages, formats, coherency, ATS/PRI, MSI, stall model, stream table levels',
    fields: [
      b('S2P', 0, 'stage 2 translation implemented'),
      b('S1P', 1, 'stage 1 translation implemented'),
      f('TTF', 3, 2, 'translation table formats', { values: { AARCH32: 1, AARCH64: 2, AARCH32_AND_64: 3 }, reserved: [reserved(0, 0, 'reserved')] }),
      b('COHACC', 4, 'coherent access to tables, queues and MSIs'),
      b('BTM', 5, 'broadcast TLB maintenance'),
      f('HTTU', 7, 6, 'hardware translation table update', { values: { NONE: 0, ACCESS: 1, ACCESS_DIRTY: 2, ACCESS_DIRTY_TABLE_AF: 3 } }),
      b('DORMHINT', 8, 'STATUSR.DORMANT implemented'),
      b('Hyp', 9, 'EL2 StreamWorld supported'),
      b('ATS', 10, 'PCIe ATS supported'),
      b('NS1ATS', 11, '1: split-stage ATS (EATS=0b10) not supported'),
      b('ASID16', 12, '16-bit ASIDs'),
      b('MSI', 13, 'MSIs supported'),
      b('SEV', 14, 'WFE wake-up events (CMD_SYNC CS=SEV)'),
      b('ATOS', 15, 'address translation operations'),
      b('PRI', 16, 'PCIe PRI supported'),
      b('VMW', 17, 'VMID wildcards'),
      b('VMID16', 18, '16-bit VMIDs'),
      b('CD2L', 19, '2-level CD tables'),
      b('VATOS', 20, 'virtual ATOS page'),
      f('TTENDIAN', 22, 21, 'table endianness', { values: { MIXED: 0, LITTLE: 2, BIG: 3 }, reserved: [reserved(1, 1, 'reserved')] }),
      b('ATSRECERR', 23, 'ATS errors recorded'),
      f('STALL_MODEL', 25, 24, 'stall model', {
        values: { STALL_AND_TERMINATE: 0, TERMINATE_ONLY: 1, STALL_FORCED: 2 },
        reserved: [reserved(3, 3, 'reserved')],
      }),
      b('TERM_MODEL', 26, '0: CD.A chooses abort or RAZ/WI; 1: terminated transactions always abort (CD.A must be 1)'),
      f('ST_LEVEL', 28, 27, 'stream table levels (Linux IDR0_ST_LVL)', { values: { LINEAR: 0, TWO_LEVEL: 1 }, reserved: [reserved(2, 3, 'reserved')] }),
      b('RME_IMPL', 30, 'Realm Management Extension implemented'),
    ],
  }),
  new RegisterLayout({
    name: 'IDR1',
    offset: 0x004,
    page: 0,
    width: 32,
    access: 'RO',
    reset: 'IMPDEF',
    doc: 'sizes: StreamID, SubstreamID, queues; presets. Linux rejects TABLES_PRESET, QUEUES_PRESET, REL and CMDQS <= 6',
    fields: [
      f('SIDSIZE', 5, 0, 'StreamID bits (0..32); SIDSIZE >= 7 requires ST_LEVEL != 0'),
      f('SSIDSIZE', 10, 6, 'SubstreamID bits (0..20)'),
      f('PRIQS', 15, 11, 'log2 of the maximum PRI queue entries (<= 19)'),
      f('EVENTQS', 20, 16, 'log2 of the maximum event queue entries (<= 19)'),
      f('CMDQS', 25, 21, 'log2 of the maximum command queue entries (<= 19)'),
      b('ATTR_PERMS_OVR', 26, 'STE PRIVCFG/INSTCFG overrides supported'),
      b('ATTR_TYPES_OVR', 27, 'STE MemAttr/SHCFG/ALLOCCFG overrides supported'),
      b('REL', 28, 'base addresses are relative to the SMMU base'),
      b('QUEUES_PRESET', 29, 'queue bases fixed'),
      b('TABLES_PRESET', 30, 'table bases fixed'),
      b('ECMDQ', 31, 'enhanced command queues'),
    ],
  }),
  new RegisterLayout({
    name: 'IDR2',
    offset: 0x008,
    page: 0,
    width: 32,
    access: 'RO',
    reset: 'IMPDEF',
    doc: 'VATOS page location',
    fields: [f('BA_VATOS', 9, 0, 'VATOS page base offset from the SMMU base, in 64KB units (0 when !IDR0.VATOS)')],
  }),
  new RegisterLayout({
    name: 'IDR3',
    offset: 0x00c,
    page: 0,
    width: 32,
    access: 'RO',
    reset: 'IMPDEF',
    doc: 'more features; Linux 6.12 reads only RIL',
    fields: [
      b('HAD', 2, 'hierarchical attribute disable'),
      b('PBHA', 3, 'page-based hardware attributes'),
      b('XNX', 4, 'EL0/EL1 execute-never distinction at stage 2'),
      b('PPS', 5, 'PASID used on PRI auto-generated overflow responses whatever STE.PPAR says'),
      b('MPAM', 7, 'MPAM supported'),
      b('FWB', 8, 'stage-2 forced write-back'),
      b('STT', 9, 'small translation tables (T0SZ up to 48)'),
      b('RIL', 10, 'range invalidation and TTL hints (mandatory from v3.2)'),
      f('BBML', 12, 11, 'break-before-make level', { values: { LEVEL0: 0, LEVEL1: 1, LEVEL2: 2 }, reserved: [reserved(3, 3, 'reserved')] }),
      b('E0PD', 13, 'E0PD supported'),
      b('PTWNNC', 14, 'table walks to Normal-NC'),
      b('DPT', 15, 'device permission table'),
      b('PASIDTT', 16, 'PASID on ATS Translated transactions'),
      b('EPAN', 17, 'Enhanced PAN (1 from v3.4)'),
      b('S1PI', 18, 'stage-1 permission indirection'),
      b('S2PI', 19, 'stage-2 permission indirection'),
      b('S2PO', 20, 'stage-2 permission overlays'),
      b('THE', 21, 'translation hardening extension'),
      b('MTEPERM', 22, 'stage-2 NoTagAccess MemAttr encodings (1 from v3.4)'),
      b('AIE', 23, 'stage-1 Attribute Index Extension (CD.AIE)'),
    ],
  }),
  new RegisterLayout({
    name: 'IDR4',
    offset: 0x010,
    page: 0,
    width: 32,
    access: 'RO',
    reset: 'IMPDEF',
    doc: 'IMPLEMENTATION DEFINED identification',
    fields: [f('IMPDEF', 31, 0, 'IMPLEMENTATION DEFINED contents')],
  }),
  new RegisterLayout({
    name: 'IDR5',
    offset: 0x014,
    page: 0,
    width: 32,
    access: 'RO',
    reset: 'IMPDEF',
    doc: 'output address size, granules, VA size, stall limit',
    fields: [
      f('OAS', 2, 0, 'output address size', { values: ADDRESS_SIZE }),
      b('GRAN4K', 4, '4KB granule supported'),
      b('GRAN16K', 5, '16KB granule supported'),
      b('GRAN64K', 6, '64KB granule supported'),
      b('DS', 7, '52-bit addresses with 4KB/16KB granules (FEAT_LPA2)'),
      b('D128', 8, '128-bit descriptors'),
      f('VAX', 11, 10, 'virtual address size', { values: { VA48: 0, VA52: 1, VA56: 2 }, reserved: [reserved(3, 3, 'reserved')] }),
      f('STALL_MAX', 31, 16, 'maximum outstanding stalled transactions'),
    ],
  }),
  new RegisterLayout({
    name: 'IIDR',
    offset: 0x018,
    page: 0,
    width: 32,
    access: 'RO',
    reset: 'IMPDEF',
    doc: 'implementation identification; Linux picks errata by ProductID (0x483 MMU-600, 0x487 MMU-700)',
    fields: [
      f('Implementer', 11, 0, 'JEP106 implementer code (0x43B = Arm)'),
      f('Revision', 15, 12, 'minor revision'),
      f('Variant', 19, 16, 'major revision'),
      f('ProductID', 31, 20, 'product'),
    ],
  }),
  new RegisterLayout({
    name: 'AIDR',
    offset: 0x01c,
    page: 0,
    width: 32,
    access: 'RO',
    reset: 'IMPDEF',
    doc: 'architecture revision (SMMUv3.ArchMinorRev)',
    fields: [
      f('ArchMinorRev', 3, 0, 'minor revision: 0..4 = v3.0..v3.4', { values: { V3_0: 0, V3_1: 1, V3_2: 2, V3_3: 3, V3_4: 4 } }),
      f('ArchMajorRev', 7, 4, 'major revision: 0 = SMMUv3.x', { values: { V3: 0 } }),
    ],
  }),
  new RegisterLayout({
    name: 'CR0',
    offset: 0x020,
    page: 0,
    width: 32,
    access: 'RW',
    reset: 0n,
    doc: 'global enables; each field completes when CR0ACK shows it (Linux arm_smmu_write_reg_sync)',
    fields: cr0Fields(false),
  }),
  new RegisterLayout({
    name: 'CR0ACK',
    offset: 0x024,
    page: 0,
    width: 32,
    access: 'RO',
    reset: 0n,
    doc: 'acknowledged CR0 fields',
    fields: cr0Fields(true),
  }),
  new RegisterLayout({
    name: 'CR1',
    offset: 0x028,
    page: 0,
    width: 32,
    access: 'RW',
    reset: 'UNKNOWN',
    guards: [
      { fields: ['TABLE_IC', 'TABLE_OC', 'TABLE_SH'], when: smmuenOff, rule: 'TABLE_* RW only while CR0.SMMUEN==0 and CR0ACK.SMMUEN==0' },
      {
        fields: ['QUEUE_IC', 'QUEUE_OC', 'QUEUE_SH'],
        when: [...cmdqenOff, ...eventqenOff, ...priqenOff],
        rule: 'QUEUE_* RW only while CMDQEN, EVENTQEN, PRIQEN and their ACKs are all 0',
      },
    ],
    doc: 'memory attributes of table and queue accesses (Linux writes 0xD75: ISH, WB/WB)',
    fields: [
      f('QUEUE_IC', 1, 0, 'queue inner cacheability', { values: CR1_CACHEABILITY, reserved: CR1_CACHEABILITY_RESERVED }),
      f('QUEUE_OC', 3, 2, 'queue outer cacheability', { values: CR1_CACHEABILITY, reserved: CR1_CACHEABILITY_RESERVED }),
      f('QUEUE_SH', 5, 4, 'queue shareability', { values: SHAREABILITY, reserved: SHAREABILITY_RESERVED }),
      f('TABLE_IC', 7, 6, 'table inner cacheability', { values: CR1_CACHEABILITY, reserved: CR1_CACHEABILITY_RESERVED }),
      f('TABLE_OC', 9, 8, 'table outer cacheability', { values: CR1_CACHEABILITY, reserved: CR1_CACHEABILITY_RESERVED }),
      f('TABLE_SH', 11, 10, 'table shareability', { values: SHAREABILITY, reserved: SHAREABILITY_RESERVED }),
    ],
  }),
  new RegisterLayout({
    name: 'CR2',
    offset: 0x02c,
    page: 0,
    width: 32,
    access: 'RW',
    reset: 'UNKNOWN',
    guards: guardAll(smmuenOff, 'RW only while CR0.SMMUEN==0 and CR0ACK.SMMUEN==0'),
    doc: 'Linux writes 0x6 (PTM|RECINVSID), plus E2H on VHE hosts; takes effect when SMMUEN next completes an update to 1',
    fields: [
      b('E2H', 0, 'EL2 StreamWorld is EL2-E2H, only if IDR0.Hyp'),
      b('RECINVSID', 1, 'record C_BAD_STREAMID for out-of-range StreamIDs'),
      b('PTM', 2, 'private TLB maintenance: ignore broadcast TLBI'),
      b('REC_CFG_ATS', 3, 'record configuration errors for ATS translation requests'),
    ],
  }),
  new RegisterLayout({
    name: 'S2PII',
    offset: 0x030,
    page: 0,
    width: 64,
    access: 'RW',
    reset: 'UNKNOWN',
    doc: 'stage-2 permission indirection index (v3.4, FEAT_S2PIE); not used by Linux',
    fields: [f('S2PII', 63, 0, 'sixteen 4-bit stage-2 permission indirections')],
  }),
  new RegisterLayout({
    name: 'STATUSR',
    offset: 0x040,
    page: 0,
    width: 32,
    access: 'RO',
    reset: 0n,
    doc: 'status; DORMANT only when IDR0.DORMHINT',
    fields: [b('DORMANT', 0, 'the SMMU is dormant: no cached state, may be powered down')],
  }),
  new RegisterLayout({
    name: 'GBPA',
    offset: 0x044,
    page: 0,
    width: 32,
    access: 'RW',
    reset: 'IMPDEF',
    resetChoice: 0x0000_1000n,
    guards: [{ fields: 'all', when: [off('GBPA', 'Update')], rule: 'read-only while Update==1; a write without Update set is ignored (v3.2+)' }],
    doc: 'global bypass attributes for SMMUEN==0; written with Update=1, complete when Update reads 0. Twin reset 0x1000 (SHCFG=use incoming, bypass), as QEMU',
    fields: [
      f('MemAttr', 3, 0, 'memory type override when MTCFG==1', { values: MEMATTR }),
      b('MTCFG', 4, 'replace the incoming memory type with MemAttr'),
      f('ALLOCCFG', 11, 8, 'allocation hints override'),
      f('SHCFG', 13, 12, 'shareability override', { values: SHCFG }),
      f('PRIVCFG', 17, 16, 'privilege override', { values: PRIVCFG, reserved: PRIVCFG_RESERVED }),
      f('INSTCFG', 19, 18, 'instruction/data override', { values: INSTCFG, reserved: INSTCFG_RESERVED }),
      b('ABORT', 20, 'abort all incoming transactions while SMMUEN==0'),
      b('Update', 31, 'update request; cleared by the SMMU when the update completes'),
    ],
  }),
  new RegisterLayout({
    name: 'AGBPA',
    offset: 0x048,
    page: 0,
    width: 32,
    access: 'RW',
    reset: 'IMPDEF',
    doc: 'IMPLEMENTATION DEFINED additional global bypass attributes',
    fields: [f('IMPDEF', 31, 0, 'IMPLEMENTATION DEFINED contents')],
  }),
  new RegisterLayout({
    name: 'IRQ_CTRL',
    offset: 0x050,
    page: 0,
    width: 32,
    access: 'RW',
    reset: 0n,
    doc: 'interrupt enables; each completes when IRQ_CTRLACK shows it',
    fields: irqCtrlFields(false),
  }),
  new RegisterLayout({
    name: 'IRQ_CTRLACK',
    offset: 0x054,
    page: 0,
    width: 32,
    access: 'RO',
    reset: 0n,
    doc: 'acknowledged IRQ_CTRL fields',
    fields: irqCtrlFields(true),
  }),
  new RegisterLayout({
    name: 'GERROR',
    offset: 0x060,
    page: 0,
    width: 32,
    access: 'RO',
    reset: 0n,
    doc: 'global errors: error x is active while GERROR[x] != GERRORN[x]; the SMMU toggles a bit to activate it (Linux handles mask 0x1FD)',
    fields: gerrorFields(false),
  }),
  new RegisterLayout({
    name: 'GERRORN',
    offset: 0x064,
    page: 0,
    width: 32,
    access: 'RW',
    reset: 0n,
    doc: 'global error acknowledge: software writes bit x equal to GERROR[x]',
    fields: gerrorFields(true),
  }),
  irqCfg0('GERROR_IRQ_CFG0', 0x068, 'GERROR_IRQEN', 'GERROR'),
  irqCfg1('GERROR_IRQ_CFG1', 0x070, 'GERROR_IRQEN', 'GERROR'),
  irqCfg2('GERROR_IRQ_CFG2', 0x074, 'GERROR_IRQEN', 'GERROR'),
  new RegisterLayout({
    name: 'STRTAB_BASE',
    offset: 0x080,
    page: 0,
    width: 64,
    access: 'RW',
    reset: 'UNKNOWN',
    guards: guardAll(smmuenOff, 'RW only while CR0.SMMUEN==0 and CR0ACK.SMMUEN==0 (RO if IDR1.TABLES_PRESET)'),
    doc: 'stream table base; the low bits below the table (linear) or L1 table (2-level) alignment are ignored',
    fields: [a('ADDR', 55, 6, 'stream table physical address [55:6] (Linux [51:6])'), b('RA', 62, 'read-allocate hint')],
  }),
  new RegisterLayout({
    name: 'STRTAB_BASE_CFG',
    offset: 0x088,
    page: 0,
    width: 32,
    access: 'RW',
    reset: 'UNKNOWN',
    guards: guardAll(smmuenOff, 'RW only while CR0.SMMUEN==0 and CR0ACK.SMMUEN==0 (RO if IDR1.TABLES_PRESET)'),
    doc: 'stream table format; Linux 2-level with SIDSIZE 16 writes 0x10210',
    fields: [
      f('LOG2SIZE', 5, 0, 'log2 of the number of StreamIDs covered (effective min(LOG2SIZE, IDR1.SIDSIZE))'),
      f('SPLIT', 10, 6, 'StreamID bits resolved by the L2 table (Linux uses 8)', {
        values: { SPLIT_4K_L2: 6, SPLIT_16K_L2: 8, SPLIT_64K_L2: 10 },
        reserved: [
          reserved(0, 5, 'reserved, behaves as 6'),
          reserved(7, 7, 'reserved, behaves as 6'),
          reserved(9, 9, 'reserved, behaves as 6'),
          reserved(11, 31, 'reserved, behaves as 6'),
        ],
      }),
      f('FMT', 17, 16, 'stream table format', { values: { LINEAR: 0, TWO_LEVEL: 1 }, reserved: [reserved(2, 3, 'reserved, behaves as 0 (linear)')] }),
    ],
  }),
  queueBase('CMDQ_BASE', 0x090, cmdqenOff, 'CMDQEN', 'RA', 'command'),
  new RegisterLayout({
    name: 'CMDQ_PROD',
    offset: 0x098,
    page: 0,
    width: 32,
    access: 'RW',
    reset: 'UNKNOWN',
    doc: 'command queue producer index, always writable (software produces); Linux bit 31 CMDQ_PROD_OWNED_FLAG is a software lock, never written',
    fields: [f('WR', 19, 0, 'write index: bits [QS-1:0] index, bit QS the wrap flag')],
  }),
  prodCons(
    'CMDQ_CONS',
    0x09c,
    0,
    null,
    'RD',
    guardAll(cmdqenOff, 'RW only while CR0.CMDQEN==0 and CR0ACK.CMDQEN==0'),
    'command queue consumer index and the error reason of CMDQ_ERR',
    [
      f('ERR', 30, 24, 'command error reason (CMDQ_CONS.ERR)', {
        values: CERROR,
        reserved: [reserved(4, 0x7f, 'reserved / IMPLEMENTATION DEFINED error code')],
      }),
    ],
  ),
  queueBase('EVENTQ_BASE', 0x0a0, eventqenOff, 'EVENTQEN', 'WA', 'event'),
  irqCfg0('EVENTQ_IRQ_CFG0', 0x0b0, 'EVENTQ_IRQEN', 'event queue'),
  irqCfg1('EVENTQ_IRQ_CFG1', 0x0b8, 'EVENTQ_IRQEN', 'event queue'),
  irqCfg2('EVENTQ_IRQ_CFG2', 0x0bc, 'EVENTQ_IRQEN', 'event queue'),
  queueBase('PRIQ_BASE', 0x0c0, priqenOff, 'PRIQEN', 'WA', 'PRI'),
  irqCfg0('PRIQ_IRQ_CFG0', 0x0d0, 'PRIQ_IRQEN', 'PRI queue'),
  irqCfg1('PRIQ_IRQ_CFG1', 0x0d8, 'PRIQ_IRQEN', 'PRI queue'),
  irqCfg2('PRIQ_IRQ_CFG2', 0x0dc, 'PRIQ_IRQEN', 'PRI queue', true),
  new RegisterLayout({
    name: 'IDR6',
    offset: 0x190,
    page: 0,
    width: 32,
    access: 'RO',
    reset: 'IMPDEF',
    doc: 'enhanced command queue (ECMDQ) geometry, only if IDR1.ECMDQ; bits [15:0] RES0',
    fields: [
      f('LOG2NUMQ', 19, 16, 'CMDQ_CONTROL_PAGE_LOG2NUMQ: log2 of the ECMDQs per control page'),
      f('LOG2NUMP', 27, 24, 'CMDQ_CONTROL_PAGE_LOG2NUMP: log2 of the number of control pages'),
    ],
  }),
  prodCons(
    'EVENTQ_PROD',
    0x0a8,
    1,
    'OVFLG',
    'WR',
    guardAll(eventqenOff, 'RW only while CR0.EVENTQEN==0 and CR0ACK.EVENTQEN==0 (the SMMU produces)'),
    'event queue producer index (page 1; Linux EVTQ_PROD)',
  ),
  prodCons('EVENTQ_CONS', 0x0ac, 1, 'OVACKFLG', 'RD', [], 'event queue consumer index, always writable (page 1; Linux EVTQ_CONS)'),
  prodCons(
    'PRIQ_PROD',
    0x0c8,
    1,
    'OVFLG',
    'WR',
    guardAll(priqenOff, 'RW only while CR0.PRIQEN==0 and CR0ACK.PRIQEN==0 (the SMMU produces)'),
    'PRI queue producer index (page 1)',
  ),
  prodCons('PRIQ_CONS', 0x0cc, 1, 'OVACKFLG', 'RD', [], 'PRI queue consumer index, always writable (page 1)'),
  ...atosRegisters(),
  ...mpamRegisters(),
  ...idRegisters(),
  ...secureRegisters(),
];

/** Global ATOS (IHI0070 6.3.37-6.3.40), present when IDR0.ATOS; RUN guards SID and ADDR. */
function atosRegisters(): RegisterLayout[] {
  const runOff = guardAll([off('GATOS_CTRL', 'RUN')], 'RO while GATOS_CTRL.RUN==1 (v3.2+: writes IGNORED)');
  return [
    new RegisterLayout({
      name: 'GATOS_CTRL',
      offset: 0x100,
      page: 0,
      width: 32,
      access: 'RW',
      reset: 0n,
      guards: [
        {
          fields: ['RUN'],
          when: [{ register: 'CR0', field: 'SMMUEN', value: 1 }, off('GATOS_CTRL', 'RUN')],
          rule: 'RUN may only be set while SMMUEN==1 and RUN==0 (v3.2+: otherwise IGNORED)',
        },
      ],
      doc: 'global ATOS control: software sets RUN after GATOS_SID/ADDR, the SMMU clears it when GATOS_PAR holds the result',
      fields: [b('RUN', 0, 'run the ATOS translation; cleared by the SMMU on completion')],
    }),
    new RegisterLayout({
      name: 'GATOS_SID',
      offset: 0x108,
      page: 0,
      width: 64,
      access: 'RW',
      reset: 'UNKNOWN',
      guards: runOff,
      doc: 'StreamID and SubstreamID of the ATOS request',
      fields: [
        f('STREAMID', 31, 0, 'StreamID (bits above SIDSIZE RES0)'),
        f('SUBSTREAMID', 51, 32, 'SubstreamID (bits above SSIDSIZE RES0)'),
        b('SSID_VALID', 52, 'SubstreamID valid (RES0 when SSIDSIZE==0)'),
      ],
    }),
    new RegisterLayout({
      name: 'GATOS_ADDR',
      offset: 0x110,
      page: 0,
      width: 64,
      access: 'RW',
      reset: 'UNKNOWN',
      guards: runOff,
      doc: 'ATOS input address and access attributes (not affected by STE.PRIVCFG/INSTCFG)',
      fields: [
        b('HTTUI', 6, 'inhibit HTTU: the operation is passive'),
        b('InD', 7, 'instruction (1) or data; IGNORED for writes'),
        b('RnW', 8, 'read (1) or write (0)'),
        b('PnU', 9, 'privileged (1) or unprivileged'),
        f('TYPE', 11, 10, 'request type', { values: { STAGE1: 1, STAGE2: 2, STAGE1_AND_2: 3 }, reserved: [reserved(0, 0, 'reserved: INV_REQ ATOS error')] }),
        a('ADDR', 63, 12, 'input address [63:12]'),
      ],
    }),
    new RegisterLayout({
      name: 'GATOS_PAR',
      offset: 0x118,
      page: 0,
      width: 64,
      access: 'RO',
      reset: 'UNKNOWN',
      doc: 'ATOS result, FAULT==0 view (success); the FAULT==1 view is the gatos-par-fault format',
      fields: [
        b('FAULT', 0, '0: success (this view); 1: see gatos-par-fault'),
        f('SH', 9, 8, 'shareability of the translation', { values: SHAREABILITY, reserved: SHAREABILITY_RESERVED }),
        b('Size', 11, '0: 4KB; 1: size given by the lowest set bit of ADDR'),
        a('ADDR', 55, 12, 'output address [55:12] (bits above OAS RES0)'),
        f('ATTR', 63, 56, 'memory attributes in MAIR format'),
      ],
    }),
  ];
}

/** GATOS_PAR when FAULT==1 (IHI0070 6.3.40): the fault syndrome view of the same 64 bits. */
export const GATOS_PAR_FAULT = structure(
  'gatos-par-fault',
  8,
  'IHI0070 6.3.40',
  'SMMU_GATOS_PAR with FAULT==1: fault code, reason class and stage-2 fault address',
  [
    bit('FAULT', 0, 0, '1: the translation failed'),
    fld('REASON', 0, 2, 1, 'class of the faulting activity', { values: { S1_OR_OTHER: 0, CD: 1, TT: 2, IN: 3 } }),
    fld('FAULTCODE', 0, 11, 4, 'fault/error code (IHI0070 9.1.4)'),
    addr('FADDR', 0, 55, 12, 'stage-2 fault page address [55:12]'),
    fld('IMPDEF', 0, 63, 60, 'IMPLEMENTATION DEFINED fault data'),
  ],
);

/** MPAM for the Non-secure interface (IHI0070 6.3.41-6.3.43), present when IDR3.MPAM. */
function mpamRegisters(): RegisterLayout[] {
  const update = (name: string) => [
    { fields: 'all' as const, when: [off(name, 'Update')], rule: 'read-only while Update==1; a write without Update set is IGNORED (as GBPA)' },
  ];
  return [
    new RegisterLayout({
      name: 'MPAMIDR',
      offset: 0x130,
      page: 0,
      width: 32,
      access: 'RO',
      reset: 'IMPDEF',
      doc: 'MPAM capabilities of the Non-secure state',
      fields: [f('PARTID_MAX', 15, 0, 'largest PARTID usable in Non-secure state'), f('PMG_MAX', 23, 16, 'largest PMG usable in Non-secure state')],
    }),
    new RegisterLayout({
      name: 'GMPAM',
      offset: 0x138,
      page: 0,
      width: 32,
      access: 'RW',
      reset: 0n,
      guards: update('GMPAM'),
      doc: 'MPAM labels of SMMU-originated accesses (L1STD/STE fetches, queues, MSIs); Update protocol as GBPA',
      fields: [
        f('SO_PARTID', 15, 0, 'PARTID of SMMU-originated accesses'),
        f('SO_PMG', 23, 16, 'PMG of SMMU-originated accesses'),
        b('Update', 31, 'update request; cleared by the SMMU when applied'),
      ],
    }),
    new RegisterLayout({
      name: 'GBPMPAM',
      offset: 0x13c,
      page: 0,
      width: 32,
      access: 'RW',
      reset: 0n,
      guards: update('GBPMPAM'),
      doc: 'MPAM labels of global-bypass client traffic (SMMUEN==0, or ATS Translated with ATSCHK==0); Update protocol as GBPA',
      fields: [
        f('GBP_PARTID', 15, 0, 'PARTID of bypassing transactions'),
        f('GBP_PMG', 23, 16, 'PMG of bypassing transactions'),
        b('Update', 31, 'update request; cleared by the SMMU when applied'),
      ],
    }),
  ];
}

/**
 * The IMPLEMENTATION DEFINED identification block at 0xFD0-0xFFC (IHI0070 6.2, ID_REGS). Arm's
 * SMMUs use the CoreSight component/peripheral ID layout: PIDR4-7, PIDR0-3, CIDR0-3, one byte
 * each. The twin's reset choice describes an MMU-700 (part 0x487, JEP106 Arm 0x4 0x3B).
 */
function idRegisters(): RegisterLayout[] {
  const id = (name: string, offset: number, resetValue: bigint, doc: string, fields: FieldSpec[]) =>
    new RegisterLayout({
      name,
      offset,
      page: 0,
      width: 32,
      access: 'RO',
      reset: 'IMPDEF',
      resetChoice: resetValue,
      section: 'IHI0070 6.2.1 ID_REGS (CoreSight ID layout)',
      doc,
      fields,
    });
  return [
    id('PIDR4', 0xfd0, 0x04n, 'peripheral ID 4', [f('DES_2', 3, 0, 'JEP106 continuation code'), f('SIZE', 7, 4, 'log2 of the 4KB blocks occupied')]),
    id('PIDR5', 0xfd4, 0n, 'peripheral ID 5 (RES0)', [f('RES0', 7, 0, 'reserved')]),
    id('PIDR6', 0xfd8, 0n, 'peripheral ID 6 (RES0)', [f('RES0', 7, 0, 'reserved')]),
    id('PIDR7', 0xfdc, 0n, 'peripheral ID 7 (RES0)', [f('RES0', 7, 0, 'reserved')]),
    id('PIDR0', 0xfe0, 0x87n, 'peripheral ID 0', [f('PART_0', 7, 0, 'part number [7:0]')]),
    id('PIDR1', 0xfe4, 0xb4n, 'peripheral ID 1', [f('PART_1', 3, 0, 'part number [11:8]'), f('DES_0', 7, 4, 'JEP106 identity code [3:0]')]),
    id('PIDR2', 0xfe8, 0x0bn, 'peripheral ID 2', [
      f('DES_1', 2, 0, 'JEP106 identity code [6:4]'),
      b('JEDEC', 3, 'JEP106 code is used'),
      f('REVISION', 7, 4, 'revision'),
    ]),
    id('PIDR3', 0xfec, 0n, 'peripheral ID 3', [f('CMOD', 3, 0, 'customer modified'), f('REVAND', 7, 4, 'manufacturer revision')]),
    id('CIDR0', 0xff0, 0x0dn, 'component ID 0', [f('PRMBL_0', 7, 0, 'preamble 0x0D')]),
    id('CIDR1', 0xff4, 0xf0n, 'component ID 1', [f('PRMBL_1', 3, 0, 'preamble 0x0'), f('CLASS', 7, 4, 'component class (0xF: generic IP)')]),
    id('CIDR2', 0xff8, 0x05n, 'component ID 2', [f('PRMBL_2', 7, 0, 'preamble 0x05')]),
    id('CIDR3', 0xffc, 0xb1n, 'component ID 3', [f('PRMBL_3', 7, 0, 'preamble 0xB1')]),
  ];
}

/**
 * The Secure programming interface (IHI0070 6.3, SMMU_S_*, page 0 from 0x8000). The twin
 * models the Non-secure interface only: these read as zero and ignore writes from it, so each
 * is one opaque field.
 */
function secureRegisters(): RegisterLayout[] {
  const list: [string, number, 32 | 64][] = [
    ['S_IDR0', 0x8000, 32],
    ['S_IDR1', 0x8004, 32],
    ['S_IDR2', 0x8008, 32],
    ['S_IDR3', 0x800c, 32],
    ['S_IDR4', 0x8010, 32],
    ['S_CR0', 0x8020, 32],
    ['S_CR0ACK', 0x8024, 32],
    ['S_CR1', 0x8028, 32],
    ['S_CR2', 0x802c, 32],
    ['S_INIT', 0x803c, 32],
    ['S_GBPA', 0x8044, 32],
    ['S_AGBPA', 0x8048, 32],
    ['S_IRQ_CTRL', 0x8050, 32],
    ['S_IRQ_CTRLACK', 0x8054, 32],
    ['S_GERROR', 0x8060, 32],
    ['S_GERRORN', 0x8064, 32],
    ['S_GERROR_IRQ_CFG0', 0x8068, 64],
    ['S_GERROR_IRQ_CFG1', 0x8070, 32],
    ['S_GERROR_IRQ_CFG2', 0x8074, 32],
    ['S_STRTAB_BASE', 0x8080, 64],
    ['S_STRTAB_BASE_CFG', 0x8088, 32],
    ['S_CMDQ_BASE', 0x8090, 64],
    ['S_CMDQ_PROD', 0x8098, 32],
    ['S_CMDQ_CONS', 0x809c, 32],
    ['S_EVENTQ_BASE', 0x80a0, 64],
    ['S_EVENTQ_PROD', 0x80a8, 32],
    ['S_EVENTQ_CONS', 0x80ac, 32],
    ['S_EVENTQ_IRQ_CFG0', 0x80b0, 64],
    ['S_EVENTQ_IRQ_CFG1', 0x80b8, 32],
    ['S_EVENTQ_IRQ_CFG2', 0x80bc, 32],
    ['S_GATOS_CTRL', 0x8100, 32],
    ['S_GATOS_SID', 0x8108, 64],
    ['S_GATOS_ADDR', 0x8110, 64],
    ['S_GATOS_PAR', 0x8118, 64],
  ];
  return list.map(
    ([name, offset, width]) =>
      new RegisterLayout({
        name,
        offset,
        page: 0,
        width,
        access: 'RO',
        reset: 0n,
        secure: true,
        doc: `Secure register SMMU_${name}: RAZ/WI to Non-secure accesses (the twin models the Non-secure interface)`,
        fields: [f('SECURE', width - 1, 0, 'Secure state; not visible to Non-secure software')],
      }),
  );
}
