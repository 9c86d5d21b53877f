// SPDX-License-Identifier: Apache-2.0
// arm-smmu-v3.h feature and option bits (Linux 6.12; FEAT_EVTQ from the v10 series), the
// kdump policies the twin can run, and the firmware description (DT/IORT) a probe starts from.

export const FEAT = {
  TWO_LVL_STRTAB: 1 << 0,
  TWO_LVL_CDTAB: 1 << 1,
  TT_LE: 1 << 2,
  TT_BE: 1 << 3,
  PRI: 1 << 4,
  ATS: 1 << 5,
  SEV: 1 << 6,
  MSI: 1 << 7,
  COHERENCY: 1 << 8,
  TRANS_S1: 1 << 9,
  TRANS_S2: 1 << 10,
  STALLS: 1 << 11,
  HYP: 1 << 12,
  STALL_FORCE: 1 << 13,
  VAX: 1 << 14,
  RANGE_INV: 1 << 15,
  BTM: 1 << 16,
  SVA: 1 << 17,
  E2H: 1 << 18,
  NESTING: 1 << 19,
  ATTR_TYPES_OVR: 1 << 20,
  HA: 1 << 21,
  HD: 1 << 22,
  S2FWB: 1 << 23,
  /** v10 series: "the event queue is architecturally mandatory, unlike the PRI queue". */
  EVTQ: 1 << 24,
} as const;

/** smmu->options (series v7 patch 1: KDUMP_ADOPT is bit 5). */
export const OPT = {
  SKIP_PREFETCH: 1 << 0,
  PAGE0_REGS_ONLY: 1 << 1,
  MSIPOLL: 1 << 2,
  CMDQ_FORCE_SYNC: 1 << 3,
  TEGRA241_CMDQV: 1 << 4,
  KDUMP_ADOPT: 1 << 5,
} as const;

/**
 * What the kdump kernel's SMMU driver does (domain notes kdump-adopt-series.md):
 * - status-quo: mainline without the series (3.3);
 * - adopt-v7: the seven v7 patches;
 * - adopt-v10: the post-v7 deltas (section 5: alignment and L2Ptr checks, ASID/VMID
 *   reservation, CR0 retention of live fields, FEAT_EVTQ);
 * - gbpa-bypass: the cover letter's case (b), "disable the SMMU with GBPA bypass": GBPA set to
 *   bypass, CR0.SMMUEN cleared and the SMMU left disabled, so the kernel has no IOMMU and DMA
 *   goes untranslated (DriverOptions.gbpaBypass 'reset-window': bypass only during the
 *   status-quo reset, then a fresh table);
 * - no-smmu-driver: a kdump kernel that never touches the SMMU.
 */
export type KdumpPolicy = 'status-quo' | 'adopt-v7' | 'adopt-v10' | 'gbpa-bypass' | 'no-smmu-driver';
export const KDUMP_POLICIES: readonly KdumpPolicy[] = ['status-quo', 'adopt-v7', 'adopt-v10', 'gbpa-bypass', 'no-smmu-driver'];

/** The firmware's description of the SMMU (DT node or IORT SMMUv3 node). */
export interface Firmware {
  /** DT "dma-coherent" / IORT COHACC override: FEAT_COHERENCY comes from here, not IDR0. */
  readonly coherent: boolean;
  /** IORT RMR StreamIDs that need bypass STEs at probe. */
  readonly rmrSids: readonly number[];
  /** One "combined" interrupt line (Cavium ThunderX2) instead of eventq/priq/gerror lines. */
  readonly combinedIrq: boolean;
  /** The wired lines the firmware describes ("eventq", "priq", "gerror"); MSIs replace them. */
  readonly irqLines: readonly ('eventq' | 'priq' | 'gerror')[];
  /** An MSI domain (GIC ITS) exists: queue and GERROR interrupts are MSIs to `msiDoorbell`. */
  readonly msiDomain: boolean;
  readonly msiDoorbell: number;
  /** Device name, as dev_name() prints it. */
  readonly devName: string;
  /** How the SMMU is described: an IORT node (ACPI) or a device-tree node. */
  readonly kind: 'acpi' | 'dt';
}

export const DEFAULT_FIRMWARE: Firmware = {
  coherent: true,
  rmrSids: [],
  combinedIrq: false,
  irqLines: ['eventq', 'priq', 'gerror'],
  msiDomain: true,
  msiDoorbell: 0x0801_0040,
  devName: 'arm-smmu-v3 arm-smmu-v3.0.auto',
  kind: 'acpi',
};

export function featureNames(features: number): string[] {
  return Object.entries(FEAT)
    .filter(([, b]) => (features & b) !== 0)
    .map(([n]) => n);
}
