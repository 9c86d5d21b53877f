// SPDX-License-Identifier: Apache-2.0
// Named encodings shared by several field tables. Each cites where the encoding is defined.

import { reserved, type ReservedRule } from './layout';

/** IDR5.OAS, STE.S2PS, CD.IPS: physical/intermediate address size (IHI0070 6.3.6). */
export const ADDRESS_SIZE = { PA32: 0, PA36: 1, PA40: 2, PA42: 3, PA44: 4, PA48: 5, PA52: 6, PA56: 7 } as const;
export const ADDRESS_SIZE_BITS: readonly number[] = [32, 36, 40, 42, 44, 48, 52, 56];

/** CR1 QUEUE_/TABLE_ IC and OC (IHI0070 6.3.11): not the TCR encoding. */
export const CR1_CACHEABILITY = { NC: 0, WB: 1, WT: 2 } as const;
export const CR1_CACHEABILITY_RESERVED: readonly ReservedRule[] = [reserved(3, 3, 'reserved, treated as Non-cacheable (0)')];

/** Shareability used by CR1.*_SH, STE.S1CSH, CD.SHx, IRQ_CFG2.SH, CMD_SYNC.MSH. */
export const SHAREABILITY = { NSH: 0, OSH: 2, ISH: 3 } as const;
export const SHAREABILITY_RESERVED: readonly ReservedRule[] = [reserved(1, 1, 'reserved, treated as Non-shareable')];

/** TCR-style inner/outer cacheability (CD IR0/OR0, STE S2IR0/S2OR0; Arm ARM TCR_ELx.IRGN0). */
export const TCR_CACHEABILITY = { NC: 0, WBWA: 1, WT: 2, WB: 3 } as const;

/** STE.S1CIR/S1COR: CD fetch cacheability (IHI0070 5.2 STE). */
export const STE_CD_CACHEABILITY = { NC: 0, WBRA: 1, WTRA: 2, WB: 3 } as const;

/** TG0 / S2TG granule encoding (IHI0070 5.2 STE.S2TG, 5.4 CD.TG0). */
export const TG0_GRANULE = { G4K: 0, G64K: 1, G16K: 2 } as const;
export const TG0_RESERVED: readonly ReservedRule[] = [reserved(3, 3, 'reserved granule encoding: the structure is ILLEGAL when walks are enabled')];

/** CD.TG1 granule encoding, different from TG0 (IHI0070 5.4). */
export const TG1_GRANULE = { G16K: 1, G4K: 2, G64K: 3 } as const;

/**
 * MemAttr for GBPA, STE overrides, IRQ_CFG2 and CMD_SYNC.MSIAttr: the stage-2 style encoding
 * (IHI0070 ch.13 attributes): [3:2]=00 Device with [1:0] nGnRnE..GRE, otherwise outer [3:2] / inner [1:0]
 * with 01 NC, 10 WT, 11 WB. Only the encodings Linux and firmware use are named.
 */
export const MEMATTR = {
  DEVICE_nGnRnE: 0,
  DEVICE_nGnRE: 1,
  DEVICE_nGRE: 2,
  DEVICE_GRE: 3,
  NORMAL_NC: 5,
  NORMAL_WT: 10,
  NORMAL_WB: 15,
} as const;

/** PRIVCFG override (GBPA, STE) (IHI0070 6.3.14, 5.2 STE). */
export const PRIVCFG = { USE_INCOMING: 0, UNPRIVILEGED: 2, PRIVILEGED: 3 } as const;
export const PRIVCFG_RESERVED: readonly ReservedRule[] = [reserved(1, 1, 'reserved, behaves as 0b00 (use incoming)')];

/** INSTCFG override (GBPA, STE) (IHI0070 6.3.14, 5.2 STE). */
export const INSTCFG = { USE_INCOMING: 0, DATA: 2, INSTRUCTION: 3 } as const;
export const INSTCFG_RESERVED: readonly ReservedRule[] = [reserved(1, 1, 'reserved, behaves as 0b00 (use incoming)')];

/** SHCFG override (GBPA, STE) (IHI0070 6.3.14, 5.2 STE). */
export const SHCFG = { NSH: 0, USE_INCOMING: 1, OSH: 2, ISH: 3 } as const;

/** CMDQ_CONS.ERR, the command error codes (IHI0070 7.1, Linux CMDQ_ERR_CERROR_*). */
export const CERROR = { NONE: 0, ILL: 1, ABT: 2, ATC_INV_SYNC: 3 } as const;
export type CerrorName = keyof typeof CERROR;
