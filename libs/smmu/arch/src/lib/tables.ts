// SPDX-License-Identifier: Apache-2.0
// In-memory configuration structures of IHI0070 chapter 5: L1STD (5.1), STE (5.2), L1CD (5.3), CD (5.4).
// Field names follow the architecture; the Linux macro is named in the doc where it differs.

import {
  ADDRESS_SIZE,
  INSTCFG,
  INSTCFG_RESERVED,
  MEMATTR,
  PRIVCFG,
  PRIVCFG_RESERVED,
  SHAREABILITY,
  SHAREABILITY_RESERVED,
  SHCFG,
  STE_CD_CACHEABILITY,
  TCR_CACHEABILITY,
  TG0_GRANULE,
  TG0_RESERVED,
  TG1_GRANULE,
} from './enums';
import { addr, bit, fld, reserved, structure } from './layout';

/** STE.Config (IHI0070 5.2 STE): Linux STRTAB_STE_0_CFG_*. */
export const STE_CONFIG = { ABORT: 0, BYPASS: 4, S1_TRANS: 5, S2_TRANS: 6, NESTED: 7 } as const;
/** STE.S1Fmt (IHI0070 5.2 STE): Linux STRTAB_STE_0_S1FMT_*. */
export const STE_S1FMT = { LINEAR: 0, L2_4K: 1, L2_64K: 2 } as const;
/** STE.S1DSS (IHI0070 5.2 STE): Linux STRTAB_STE_1_S1DSS_*. */
export const STE_S1DSS = { TERMINATE: 0, BYPASS: 1, SSID0: 2 } as const;
/** STE.EATS (IHI0070 5.2 STE): Linux STRTAB_STE_1_EATS_*. */
export const STE_EATS = { ABT: 0, TRANS: 1, S1CHK: 2, DPT: 3 } as const;
/** STE.STRW (IHI0070 5.2 STE): Linux STRTAB_STE_1_STRW_*. */
export const STE_STRW = { NSEL1: 0, EL2: 2 } as const;

// IGNORED rules of IHI0070 5.2: stage-1 fields while Config[0]==0, stage-2 fields while Config[1]==0.
const S1_OFF = { field: 'Config', values: [0, 1, 2, 3, 4, 6] };
const S2_OFF = { field: 'Config', values: [0, 1, 2, 3, 4, 5] };
// IHI0070 5.2: STRW is used only for stage-1-only translation (ignored in bypass, abort and when
// stage 2 is enabled); with Config=0b0xx (abort) only CONT is used.
const STRW_OFF = { field: 'Config', values: [0, 1, 2, 3, 4, 6, 7] };
const ABORTING = { field: 'Config', values: [0, 1, 2, 3] };
// IHI0070 5.4 CD: with EPDx==1 the TTBx walk fields are IGNORED.
const EPD0_SET = { field: 'EPD0', values: [1] };
const EPD1_SET = { field: 'EPD1', values: [1] };

export const STE = structure(
  'ste',
  64,
  'IHI0070 5.2',
  'Stream Table Entry: 8 little-endian dwords',
  [
    bit('V', 0, 0, 'valid; 0: every other field ignored, transactions get C_BAD_STE'),
    fld('Config', 0, 3, 1, 'stream configuration (Linux STRTAB_STE_0_CFG)', {
      values: STE_CONFIG,
      reserved: [reserved(1, 3, 'reserved, behaves as 0b000 (abort, no event)')],
    }),
    fld('S1Fmt', 0, 5, 4, 'CD table format', { ignoredWhen: S1_OFF, values: STE_S1FMT, reserved: [reserved(3, 3, 'reserved, behaves as 0 (linear)')] }),
    addr('S1ContextPtr', 0, 55, 6, 'CD or L1CD table address, an IPA when stage 2 is enabled (Linux mask [51:6])'),
    fld('S1CDMax', 0, 63, 59, 'log2 of the number of CDs; 0 means one CD and no substreams'),
    fld('S1DSS', 1, 1, 0, 'default substream behaviour for transactions without an SSID', {
      ignoredWhen: S1_OFF,
      values: STE_S1DSS,
      reserved: [reserved(3, 3, 'reserved, behaves as 0 (terminate)')],
    }),
    fld('S1CIR', 1, 3, 2, 'CD fetch inner cacheability', { values: STE_CD_CACHEABILITY }),
    fld('S1COR', 1, 5, 4, 'CD fetch outer cacheability', { values: STE_CD_CACHEABILITY }),
    fld('S1CSH', 1, 7, 6, 'CD fetch shareability', { ignoredWhen: S1_OFF, values: SHAREABILITY, reserved: SHAREABILITY_RESERVED }),
    bit('S2HWU59', 1, 8, 'PBHA: stage-2 hardware use of descriptor bit 59'),
    bit('S2HWU60', 1, 9, 'PBHA: stage-2 hardware use of descriptor bit 60'),
    bit('S2HWU61', 1, 10, 'PBHA: stage-2 hardware use of descriptor bit 61'),
    bit('S2HWU62', 1, 11, 'PBHA: stage-2 hardware use of descriptor bit 62'),
    bit('DRE', 1, 12, 'destructive read enable'),
    fld('CONT', 1, 16, 13, 'contiguous hint: 2^CONT STEs share this configuration'),
    bit('DCP', 1, 17, 'directed cache prefetch'),
    bit('PPAR', 1, 18, 'PRI page response with PASID'),
    bit('MEV', 1, 19, 'merge events (newer Linux STRTAB_STE_1_MEV)'),
    fld('SW_RESERVED', 1, 23, 20, 'ignored by the SMMU, for software'),
    bit('S1PIE', 1, 24, 'stage-1 permission indirection'),
    bit('S2FWB', 1, 25, 'stage-2 forced write-back (newer Linux)'),
    bit('S1MPAM', 1, 26, 'MPAM from the CD'),
    bit('S1STALLD', 1, 27, 'stage-1 stalls disallowed; ILLEGAL when IDR0.STALL_MODEL != 0'),
    fld('EATS', 1, 29, 28, 'ATS enable', { values: STE_EATS }),
    fld('STRW', 1, 31, 30, 'StreamWorld', {
      ignoredWhen: STRW_OFF,
      values: STE_STRW,
      reserved: [reserved(1, 1, 'ILLEGAL in the Non-secure stream table'), reserved(3, 3, 'ILLEGAL in the Non-secure stream table')],
    }),
    fld('MemAttr', 1, 35, 32, 'memory type override when MTCFG==1', { values: MEMATTR }),
    bit('MTCFG', 1, 36, 'replace the incoming memory type with MemAttr'),
    fld('ALLOCCFG', 1, 40, 37, 'allocation hints override'),
    fld('SHCFG', 1, 45, 44, 'shareability override (Linux writes INCOMING with ATTR_TYPES_OVR)', { values: SHCFG }),
    fld('NSCFG', 1, 47, 46, 'Secure streams only'),
    fld('PRIVCFG', 1, 49, 48, 'privilege override', { ignoredWhen: ABORTING, values: PRIVCFG, reserved: PRIVCFG_RESERVED }),
    fld('INSTCFG', 1, 51, 50, 'instruction/data override', { ignoredWhen: ABORTING, values: INSTCFG, reserved: INSTCFG_RESERVED }),
    fld('S2VMID', 2, 15, 0, 'VMID; also tags stage-1 NS-EL1 translations when S2P is implemented'),
    fld('S2T0SZ', 2, 37, 32, 'stage-2 input size 64-S2T0SZ (Linux VTCR T0SZ)'),
    fld('S2SL0', 2, 39, 38, 'stage-2 starting level'),
    fld('S2IR0', 2, 41, 40, 'stage-2 walk inner cacheability', { values: TCR_CACHEABILITY }),
    fld('S2OR0', 2, 43, 42, 'stage-2 walk outer cacheability', { values: TCR_CACHEABILITY }),
    fld('S2SH0', 2, 45, 44, 'stage-2 walk shareability', { ignoredWhen: S2_OFF, values: SHAREABILITY, reserved: SHAREABILITY_RESERVED }),
    fld('S2TG', 2, 47, 46, 'stage-2 granule', { ignoredWhen: S2_OFF, values: TG0_GRANULE, reserved: TG0_RESERVED }),
    fld('S2PS', 2, 50, 48, 'stage-2 output size, effective min(S2PS, IDR5.OAS)', { values: ADDRESS_SIZE }),
    bit('S2AA64', 2, 51, 'stage-2 tables are VMSAv8-64'),
    bit('S2ENDI', 2, 52, 'stage-2 walks big-endian'),
    bit('S2AFFD', 2, 53, 'stage-2 access flag fault disable'),
    bit('S2PTW', 2, 54, 'stage-1 walks or CD fetches hitting stage-2 Device memory fault'),
    bit('S2HD', 2, 55, 'stage-2 hardware dirty update'),
    bit('S2HA', 2, 56, 'stage-2 hardware access flag update'),
    bit('S2S', 2, 57, 'stall on stage-2 faults'),
    bit('S2R', 2, 58, 'record stage-2 faults'),
    bit('S2HAFT', 2, 59, 'stage-2 hardware access flag in table descriptors'),
    bit('S2PIE', 2, 60, 'stage-2 permission indirection'),
    bit('S2POE', 2, 61, 'stage-2 permission overlay'),
    fld('DPT_VMATCH', 2, 63, 62, 'DPT VMID matching'),
    bit('S2NSW', 3, 0, 'Secure only: stage-2 Non-secure walk'),
    bit('S2NSA', 3, 1, 'Secure only: stage-2 Non-secure output'),
    bit('S2SL0_2', 3, 2, 'stage-2 starting level bit 2 (FEAT_LPA2)'),
    bit('S2DS', 3, 3, 'stage-2 52-bit descriptors (FEAT_LPA2)'),
    addr('S2TTB', 3, 55, 4, 'stage-2 translation table base (Linux mask [51:4])'),
    fld('S2SKL', 3, 62, 61, 'stage-2 skip level'),
    fld('PARTID', 4, 31, 16, 'MPAM partition ID'),
    fld('S_S2T0SZ', 4, 37, 32, 'Secure stage-2 T0SZ'),
    fld('S_S2SL0', 4, 39, 38, 'Secure stage-2 starting level'),
    fld('S_S2TG', 4, 47, 46, 'Secure stage-2 granule', { ignoredWhen: S2_OFF, values: TG0_GRANULE, reserved: TG0_RESERVED }),
    fld('MECID', 4, 63, 48, 'memory encryption context ID'),
    fld('PMG', 5, 7, 0, 'MPAM performance monitor group'),
    bit('MPAM_NS', 5, 8, 'MPAM NS'),
    addr('VMSPtr', 5, 55, 12, 'virtual machine structure address'),
    bit('S2SW', 6, 0, 'Secure only: stage-2 Secure walk'),
    bit('S2SA', 6, 1, 'Secure only: stage-2 Secure output'),
    addr('S_S2TTB', 6, 55, 4, 'Secure stage-2 translation table base'),
    fld('S2POI', 7, 63, 0, 'stage-2 permission overlay index'),
  ],
  'V',
);

export const L1STD = structure('l1std', 8, 'IHI0070 5.1', 'Level-1 Stream Table Descriptor of a 2-level stream table', [
  fld('Span', 0, 4, 0, 'L2 table holds 2^(Span-1) STEs; 0 invalid (Linux STRTAB_L1_DESC_SPAN; writes SPLIT+1 = 9)', {
    values: { INVALID: 0 },
    reserved: [reserved(12, 31, 'reserved, behaves as 0 (invalid)')],
  }),
  addr('L2Ptr', 0, 55, 6, 'L2 table address, aligned to its size (Linux STRTAB_L1_DESC_L2PTR_MASK [51:6])'),
]);

export const CD = structure(
  'cd',
  64,
  'IHI0070 5.4',
  'Context Descriptor: 8 little-endian dwords',
  [
    fld('T0SZ', 0, 5, 0, 'TTB0 region size 64-T0SZ (Linux CTXDESC_CD_0_TCR_T0SZ)'),
    fld('TG0', 0, 7, 6, 'TTB0 granule', { ignoredWhen: EPD0_SET, values: TG0_GRANULE, reserved: TG0_RESERVED }),
    fld('IR0', 0, 9, 8, 'TTB0 walk inner cacheability (IRGN0)', { values: TCR_CACHEABILITY }),
    fld('OR0', 0, 11, 10, 'TTB0 walk outer cacheability (ORGN0)', { values: TCR_CACHEABILITY }),
    fld('SH0', 0, 13, 12, 'TTB0 walk shareability', { ignoredWhen: EPD0_SET, values: SHAREABILITY, reserved: SHAREABILITY_RESERVED }),
    bit('EPD0', 0, 14, 'no walks through TTB0: a TLB miss gives F_TRANSLATION'),
    bit('ENDI', 0, 15, 'big-endian walks'),
    fld('T1SZ', 0, 21, 16, 'TTB1 region size 64-T1SZ'),
    fld('TG1', 0, 23, 22, 'TTB1 granule (TG1 encoding)', {
      ignoredWhen: EPD1_SET,
      values: TG1_GRANULE,
      reserved: [reserved(0, 0, 'reserved granule encoding')],
    }),
    fld('IR1', 0, 25, 24, 'TTB1 walk inner cacheability', { values: TCR_CACHEABILITY }),
    fld('OR1', 0, 27, 26, 'TTB1 walk outer cacheability', { values: TCR_CACHEABILITY }),
    fld('SH1', 0, 29, 28, 'TTB1 walk shareability', { ignoredWhen: EPD1_SET, values: SHAREABILITY, reserved: SHAREABILITY_RESERVED }),
    bit('EPD1', 0, 30, 'no walks through TTB1 (Linux always sets it)'),
    bit('V', 0, 31, 'valid; 0 gives C_BAD_CD'),
    fld('IPS', 0, 34, 32, 'intermediate physical size, effective min(IPS, IDR5.OAS)', { values: ADDRESS_SIZE }),
    bit('AFFD', 0, 35, 'access flag fault disable'),
    bit('WXN', 0, 36, 'writable implies execute-never'),
    bit('UWXN', 0, 37, 'unprivileged writable implies privileged execute-never'),
    bit('TBI0', 0, 38, 'top byte ignore for TTB0'),
    bit('TBI1', 0, 39, 'top byte ignore for TTB1'),
    bit('PAN', 0, 40, 'privileged access never'),
    bit('AA64', 0, 41, 'VMSAv8-64 tables'),
    bit('HD', 0, 42, 'hardware dirty update'),
    bit('HA', 0, 43, 'hardware access flag update'),
    bit('S', 0, 44, 'stall translation faults'),
    bit('R', 0, 45, 'record translation faults'),
    bit('A', 0, 46, 'abort (1) or RAZ/WI (0) on terminate; must be 1 when IDR0.TERM_MODEL==1'),
    bit('ASET', 0, 47, 'ASID not shared with the CPU'),
    fld('ASID', 0, 63, 48, 'address space ID'),
    bit('NSCFG0', 1, 0, 'Secure only'),
    bit('HAD0', 1, 1, 'hierarchical attribute disable, TTB0'),
    bit('E0PD0', 1, 2, 'EL0 access to TTB0 region faults'),
    bit('HAFT', 1, 3, 'hardware access flag in table descriptors'),
    addr('TTB0', 1, 55, 4, 'TTB0 base (Linux CTXDESC_CD_1_TTB0_MASK [51:4])'),
    bit('EPAN', 1, 59, 'enhanced PAN'),
    bit('NSCFG1', 2, 0, 'Secure only'),
    bit('HAD1', 2, 1, 'hierarchical attribute disable, TTB1'),
    bit('E0PD1', 2, 2, 'EL0 access to TTB1 region faults'),
    bit('AIE', 2, 3, 'attribute index enhancement'),
    addr('TTB1', 2, 55, 4, 'TTB1 base'),
    fld('MAIR0', 3, 31, 0, 'MAIR attributes 0-3 (Linux writes the 64-bit MAIR in dw3)'),
    fld('MAIR1', 3, 63, 32, 'MAIR attributes 4-7'),
    fld('AMAIR0', 4, 31, 0, 'auxiliary MAIR 0-3'),
    fld('AMAIR1', 4, 63, 32, 'auxiliary MAIR 4-7'),
    fld('PARTID', 5, 47, 32, 'MPAM partition ID'),
    fld('PMG', 5, 55, 48, 'MPAM performance monitor group'),
  ],
  'V',
);

export const CD_L1 = structure('cdl1', 8, 'IHI0070 5.3', 'Level-1 Context Descriptor of a 2-level CD table', [
  bit('V', 0, 0, 'valid; 0 gives C_BAD_SUBSTREAMID'),
  addr('L2Ptr', 0, 55, 12, 'L2 CD table address (Linux CTXDESC_L1_DESC_L2PTR_MASK [51:12])'),
]);
