// SPDX-License-Identifier: Apache-2.0
// VMSAv8-64 translation table descriptors (Arm ARM D8.3 "Translation table descriptor formats"),
// stage 1 and stage 2, 4KB/16KB/64KB granules, 48-bit OA, plus OA[51:48] of the 64KB granule
// (FEAT_LPA). FEAT_LPA2 (DS=1) layouts are not covered. Format names: pte-<s1|s2>-<granule>-<kind>.

import { SHAREABILITY, SHAREABILITY_RESERVED } from './enums';
import { addr, bit, fld, type FieldSpec, Layout, structure } from './layout';

export type Stage = 's1' | 's2';
export type Granule = '4k' | '16k' | '64k';
export type DescriptorKind = 'table' | 'page' | 'block-l1' | 'block-l2';

export const GRANULE_SHIFT: Readonly<Record<Granule, number>> = { '4k': 12, '16k': 14, '64k': 16 };

/** Output-address LSB of a block at level `level` (Arm ARM D8.2: a level resolves granule-3 bits). */
export function blockShift(granule: Granule, level: 1 | 2): number {
  const g = GRANULE_SHIFT[granule];
  return g + (g - 3) * (3 - level);
}

/** Which block levels exist without FEAT_LPA2 (Arm ARM D8.3.1): 64KB L1 blocks need FEAT_LPA. */
export const BLOCK_LEVELS: Readonly<Record<Granule, readonly (1 | 2)[]>> = { '4k': [1, 2], '16k': [2], '64k': [1, 2] };

/** Stage-1 AP[2:1] (Arm ARM D8.4.1): Linux ARM_LPAE_PTE_AP_UNPRIV is bit 6, AP_RDONLY bit 7. */
export const S1_AP = { RW_EL1: 0, RW_ANY: 1, RO_EL1: 2, RO_ANY: 3 } as const;
/** Stage-2 S2AP (Arm ARM D8.4.3): bit 6 read, bit 7 write. */
export const S2_AP = { NONE: 0, READ: 1, WRITE: 2, READ_WRITE: 3 } as const;
/** Stage-2 XN[1:0] (Arm ARM D8.4.3, FEAT_XNX; without it only bit 54 exists). */
export const S2_XN = { EXEC: 0, PXN_ONLY: 1, XN: 2, UXN_ONLY: 3 } as const;
/** Table descriptor APTable (Arm ARM D8.4.2). */
export const AP_TABLE = { NONE: 0, NO_EL0: 1, NO_WRITE: 2, NO_WRITE_NO_EL0: 3 } as const;

const valid = bit('Valid', 0, 0, 'descriptor valid; 0 gives F_TRANSLATION');

function table(stage: Stage, granule: Granule): Layout {
  const g = GRANULE_SHIFT[granule];
  const fields: FieldSpec[] = [
    valid,
    fld('Type', 0, 1, 1, '1: table descriptor (at levels 0-2)', { fixed: 1n }),
    fld('IGNORED_LO', 0, 11, 2, 'ignored by the walk'),
  ];
  if (granule === '64k') fields.push(fld('TA_51_48', 0, 15, 12, 'next-level table address [51:48] with FEAT_LPA (52-bit OA)'));
  fields.push(
    addr('NextLevelTable', 0, 47, g, `next-level table address [47:${g}]`),
    fld('IGNORED_HI', 0, 58, 51, 'ignored by the walk (Linux SW_SYNC is bit 55)'),
  );
  if (stage === 's1') {
    fields.push(
      bit('PXNTable', 0, 59, 'hierarchical privileged execute-never'),
      bit('UXNTable', 0, 60, 'hierarchical unprivileged execute-never (XNTable in one-EL regimes)'),
      fld('APTable', 0, 62, 61, 'hierarchical access permission limit', { values: AP_TABLE }),
      bit('NSTable', 0, 63, 'Non-secure next-level table (Secure state only)'),
    );
  }
  return structure(
    `pte-${stage}-${granule}-table`,
    8,
    'Arm ARM D8.3.1',
    `stage-${stage === 's1' ? 1 : 2} ${granule.toUpperCase()} table descriptor (bits[1:0]=0b11 at levels 0-2)${stage === 's2' ? '; bits[63:59] RES0 at stage 2' : ''}`,
    fields,
  );
}

function leaf(stage: Stage, granule: Granule, kind: Exclude<DescriptorKind, 'table'>): Layout {
  const g = GRANULE_SHIFT[granule];
  const level = kind === 'page' ? 3 : kind === 'block-l1' ? 1 : 2;
  const oaLsb = kind === 'page' ? g : blockShift(granule, level as 1 | 2);
  const fields: FieldSpec[] = [
    valid,
    fld('Type', 0, 1, 1, kind === 'page' ? '1: page descriptor at level 3' : '0: block descriptor', { fixed: kind === 'page' ? 1n : 0n }),
  ];
  if (stage === 's1') {
    fields.push(
      fld('AttrIndx', 0, 4, 2, 'index into MAIR (Linux: 0 NC, 1 cached, 2 device)'),
      bit('NS', 0, 5, 'Non-secure output (Secure state only)'),
      fld('AP', 0, 7, 6, 'AP[2:1] data access permissions', { values: S1_AP }),
    );
  } else {
    fields.push(
      fld('MemAttr', 0, 5, 2, 'stage-2 memory type (Linux: 0xF WB, 0x5 NC, 0x1 device)'),
      fld('S2AP', 0, 7, 6, 'stage-2 access permissions', { values: S2_AP }),
    );
  }
  fields.push(
    fld('SH', 0, 9, 8, 'shareability', { values: SHAREABILITY, reserved: SHAREABILITY_RESERVED }),
    bit('AF', 0, 10, 'access flag; 0 gives F_ACCESS unless HA/AFFD'),
    stage === 's1' ? bit('nG', 0, 11, 'not global: the entry is tagged with the ASID') : bit('FnXS', 0, 11, 'FEAT_XS: not XS'),
  );
  if (kind !== 'page') fields.push(bit('nT', 0, 16, 'FEAT_BBM: block translation entry for level-2 BBM'));
  if (granule === '64k') fields.push(fld('OA_51_48', 0, 15, 12, 'output address [51:48] with FEAT_LPA (52-bit OA)'));
  fields.push(addr('OutputAddress', 0, 47, oaLsb, `output address [47:${oaLsb}]`));
  if (stage === 's1') fields.push(bit('GP', 0, 50, 'FEAT_BTI guarded page'));
  fields.push(bit('DBM', 0, 51, 'dirty bit modifier (hardware dirty state with HD)'), bit('Contiguous', 0, 52, 'contiguous hint'));
  if (stage === 's1') {
    fields.push(bit('PXN', 0, 53, 'privileged execute-never'), bit('UXN', 0, 54, 'unprivileged execute-never (XN in one-EL regimes)'));
  } else {
    fields.push(fld('XN', 0, 54, 53, 'execute-never (XN[1:0] with FEAT_XNX, else bit 54 only)', { values: S2_XN }));
  }
  fields.push(
    fld('SW', 0, 58, 55, 'reserved for software (ignored)'),
    fld('PBHA', 0, 62, 59, 'page-based hardware attributes'),
    bit('IGNORED', 0, 63, 'ignored'),
  );
  const what = kind === 'page' ? 'level-3 page' : `level-${level} block`;
  return structure(
    `pte-${stage}-${granule}-${kind}`,
    8,
    'Arm ARM D8.3.2',
    `stage-${stage === 's1' ? 1 : 2} ${granule.toUpperCase()} ${what} descriptor`,
    fields,
  );
}

function forGranule(stage: Stage, granule: Granule): Layout[] {
  return [
    table(stage, granule),
    ...BLOCK_LEVELS[granule].map((l) => leaf(stage, granule, `block-l${l}` as DescriptorKind as Exclude<DescriptorKind, 'table'>)),
    leaf(stage, granule, 'page'),
  ];
}

export const DESCRIPTORS: readonly Layout[] = (['s1', 's2'] as const).flatMap((s) => (['4k', '16k', '64k'] as const).flatMap((g) => forGranule(s, g)));
