// SPDX-License-Identifier: Apache-2.0
// io-pgtable-arm (Linux drivers/iommu/io-pgtable-arm.c): VMSAv8-64 stage-1 and stage-2 tables
// for 4K, 16K and 64K granules in kernel memory, written through the bus. Descriptors are built
// with the smmu-arch pte-* field tables; the TCR/VTCR and MAIR values are what
// arm_64_lpae_alloc_pgtable_s1/s2 compute. The kernel's own walk, independent of the model's.

import { findFormat, GRANULE_SHIFT, type Granule, type Layout } from '@kdump-twin/smmu-arch';
import type { Hw } from './hw';
import { KernelError } from './hw';
import type { Tcr, Vtcr } from './entry';

/** IOMMU_READ/WRITE/CACHE/NOEXEC/MMIO/PRIV (include/linux/iommu.h). */
export const IOMMU = { READ: 1, WRITE: 2, CACHE: 4, NOEXEC: 8, MMIO: 16, PRIV: 32 } as const;

/** The MAIR io-pgtable programs: NC 0x44 (idx 0), WBRWA 0xFF (1), DEVICE 0x04 (2), INC_OWBRWA 0xF4 (3). */
export const LPAE_MAIR = 0xf404ff44n;
const MAIR_IDX = { NC: 0, CACHE: 1, DEV: 2 } as const;

/** ARM_LPAE_TCR_PS_* / IPS encodings for an output size in bits. */
function psOf(bits: number): number {
  const i = [32, 36, 40, 42, 44, 48, 52].indexOf(bits);
  if (i < 0) throw new KernelError('EINVAL', `unsupported output size ${bits}`);
  return i;
}

export interface PgtableConfig {
  readonly stage: 1 | 2;
  readonly granule: Granule;
  /** Input address bits (VA for stage 1, IPA for stage 2). */
  readonly ias: number;
  readonly oas: number;
  /** coherent_walk: WBWA/ISH walks, else NC/OSH with cache cleaning. */
  readonly coherentWalk: boolean;
}

export interface Unmapped {
  readonly iova: number;
  readonly size: number;
  /** Leaf granule of what was unmapped (the TLBI granule). */
  readonly granule: number;
}

export class IoPgtable {
  readonly startLevel: number;
  readonly root: number;
  private readonly g: number;
  private readonly bpl: number;
  private readonly pgdBits: number;
  private readonly table: Layout;
  private readonly page: Layout;
  private readonly block: Partial<Record<number, Layout>>;

  private constructor(
    private readonly hw: Hw,
    readonly cfg: PgtableConfig,
    root: number,
    startLevel: number,
    pgdBits: number,
  ) {
    this.root = root;
    this.startLevel = startLevel;
    this.pgdBits = pgdBits;
    this.g = GRANULE_SHIFT[cfg.granule];
    this.bpl = this.g - 3;
    const s = `s${cfg.stage}`;
    this.table = findFormat(`pte-${s}-${cfg.granule}-table`)!;
    this.page = findFormat(`pte-${s}-${cfg.granule}-page`)!;
    this.block = { 1: findFormat(`pte-${s}-${cfg.granule}-block-l1`), 2: findFormat(`pte-${s}-${cfg.granule}-block-l2`) };
  }

  /** arm_64_lpae_alloc_pgtable_s1/_s2: levels, PGD size (stage-2 concatenation), zeroed PGD. */
  static async alloc(hw: Hw, cfg: PgtableConfig): Promise<IoPgtable> {
    const g = GRANULE_SHIFT[cfg.granule];
    const bpl = g - 3;
    const levels = Math.ceil((cfg.ias - g) / bpl);
    let start = 4 - levels;
    let pgdBits = cfg.ias - (g + bpl * (3 - start));
    // Stage 2: concatenate at level 1 if the level-0 PGD would have <= 16 entries.
    if (cfg.stage === 2 && start === 0 && 2 ** pgdBits <= 16) {
      pgdBits += bpl;
      start++;
    }
    const bytes = Math.max(8 * 2 ** pgdBits, 64);
    const root = hw.pages.alloc(bytes, Math.max(bytes, 64));
    if (root === undefined) throw new KernelError('ENOMEM', 'page-table PGD');
    await hw.zero(root, Math.max(bytes, 4096));
    return new IoPgtable(hw, cfg, root, start, pgdBits);
  }

  /** The CD's TCR fields (arm_smmu_make_s1_cd input). */
  tcr(): Tcr {
    return {
      tsz: 64 - this.cfg.ias,
      tg: { '4k': 0, '64k': 1, '16k': 2 }[this.cfg.granule],
      irgn: this.cfg.coherentWalk ? 1 : 0,
      orgn: this.cfg.coherentWalk ? 1 : 0,
      sh: this.cfg.coherentWalk ? 3 : 2,
      ips: psOf(this.cfg.oas),
    };
  }

  /** The STE's VTCR fields: SL0 from the start level (4K counts one more; ~sl & 3). */
  vtcr(): Vtcr {
    const sl = this.startLevel + (this.cfg.granule === '4k' ? 1 : 0);
    return { ...this.tcr(), ps: psOf(this.cfg.oas), sl: ~sl & 3 };
  }

  private shift(level: number): number {
    return this.g + this.bpl * (3 - level);
  }

  private index(iova: number, level: number): number {
    const bits = level === this.startLevel ? this.pgdBits : this.bpl;
    return Math.floor(iova / 2 ** this.shift(level)) % 2 ** bits;
  }

  /** Page sizes this table can map: the granule and its block sizes. */
  pageSizes(): number[] {
    const sizes = [2 ** this.g];
    for (const l of [2, 1]) if (this.block[l] && l >= this.startLevel) sizes.push(2 ** this.shift(l));
    return sizes;
  }

  private leafBits(level: number, pa: number, prot: number): bigint {
    const layout = level === 3 ? this.page : this.block[level]!;
    const fields: Record<string, number | bigint | string> = { Valid: 1, OutputAddress: BigInt(pa), AF: 1 };
    if (this.cfg.stage === 1) {
      // arm_lpae_prot_to_pte, stage 1: nG always; AP_UNPRIV unless PRIV; AP_RDONLY if read-only.
      fields['nG'] = 1;
      let ap = prot & IOMMU.PRIV ? 0 : 1;
      if (!(prot & IOMMU.WRITE) && prot & IOMMU.READ) ap |= 2;
      fields['AP'] = ap;
      fields['AttrIndx'] = prot & IOMMU.MMIO ? MAIR_IDX.DEV : prot & IOMMU.CACHE ? MAIR_IDX.CACHE : MAIR_IDX.NC;
      fields['SH'] = prot & IOMMU.CACHE ? 'ISH' : 'OSH';
      if (prot & IOMMU.NOEXEC) {
        fields['PXN'] = 1;
        fields['UXN'] = 1;
      }
    } else {
      let s2ap = 0;
      if (prot & IOMMU.READ) s2ap |= 1;
      if (prot & IOMMU.WRITE) s2ap |= 2;
      fields['S2AP'] = s2ap;
      fields['MemAttr'] = prot & IOMMU.MMIO ? 0x1 : prot & IOMMU.CACHE ? 0xf : 0x5;
      fields['SH'] = prot & IOMMU.CACHE ? 'ISH' : 'OSH';
      if (prot & IOMMU.NOEXEC) fields['XN'] = 2;
    }
    if (level === 3) fields['Type'] = 1;
    return layout.build(fields)[0]!;
  }

  /**
   * iommu_map over arm_lpae_map_pages: maps [iova, iova+size) to pa with the largest page sizes
   * alignment allows. Throws EINVAL for an unaligned request, EEXIST-like EBUSY if mapped.
   */
  async map(iova: number, pa: number, size: number, prot: number): Promise<void> {
    const min = 2 ** this.g;
    if (iova % min || pa % min || size % min)
      throw new KernelError('EINVAL', `map 0x${iova.toString(16)} -> 0x${pa.toString(16)} size 0x${size.toString(16)} not ${min}-aligned`);
    if (iova + size > 2 ** this.cfg.ias) throw new KernelError('ERANGE', `iova 0x${iova.toString(16)} above the ${this.cfg.ias}-bit input range`);
    const sizes = this.pageSizes().sort((a, b) => b - a);
    let off = 0;
    while (off < size) {
      const pgsize = sizes.find((s) => s <= size - off && (iova + off) % s === 0 && (pa + off) % s === 0)!;
      await this.mapOne(iova + off, pa + off, pgsize, prot);
      off += pgsize;
    }
  }

  private async mapOne(iova: number, pa: number, pgsize: number, prot: number): Promise<void> {
    let table = this.root;
    for (let level = this.startLevel; level <= 3; level++) {
      const at = table + 8 * this.index(iova, level);
      if (2 ** this.shift(level) === pgsize) {
        const cur = await this.hw.read64(at);
        if (cur & 1n) throw new KernelError('EBUSY', `iova 0x${iova.toString(16)} already mapped`);
        await this.hw.write64(at, this.leafBits(level, pa, prot));
        return;
      }
      const cur = await this.hw.read64(at);
      if ((cur & 3n) === 3n) {
        table = Number(this.table.get([cur], 'NextLevelTable'));
        continue;
      }
      if (cur & 1n) throw new KernelError('EBUSY', `iova 0x${iova.toString(16)} inside a block mapping`);
      const next = this.hw.pages.alloc(2 ** this.g, 2 ** this.g);
      if (next === undefined) throw new KernelError('ENOMEM', 'page-table page');
      await this.hw.zero(next, 2 ** this.g);
      await this.hw.write64(at, this.table.build({ Valid: 1, NextLevelTable: BigInt(next) })[0]!);
      table = next;
    }
  }

  /** arm_lpae_unmap_pages: clears leaves covering [iova, iova+size); returns what went, per leaf. */
  async unmap(iova: number, size: number): Promise<Unmapped[]> {
    const out: Unmapped[] = [];
    let off = 0;
    while (off < size) {
      const r = await this.unmapOne(iova + off);
      if (!r) {
        off += 2 ** this.g;
        continue;
      }
      out.push(r);
      off = r.iova + r.size - iova;
    }
    return out;
  }

  private async unmapOne(iova: number): Promise<Unmapped | undefined> {
    let table = this.root;
    for (let level = this.startLevel; level <= 3; level++) {
      const at = table + 8 * this.index(iova, level);
      const cur = await this.hw.read64(at);
      if ((cur & 1n) === 0n) return undefined;
      if (level < 3 && (cur & 3n) === 3n) {
        table = Number(this.table.get([cur], 'NextLevelTable'));
        continue;
      }
      const sz = 2 ** this.shift(level);
      await this.hw.write64(at, 0n);
      return { iova: iova - (iova % sz), size: sz, granule: sz };
    }
    return undefined;
  }

  /** iova_to_phys by the kernel's own walk (used for checks). */
  async iovaToPhys(iova: number): Promise<number | undefined> {
    let table = this.root;
    for (let level = this.startLevel; level <= 3; level++) {
      const cur = await this.hw.read64(table + 8 * this.index(iova, level));
      if ((cur & 1n) === 0n) return undefined;
      if (level < 3 && (cur & 3n) === 3n) {
        table = Number(this.table.get([cur], 'NextLevelTable'));
        continue;
      }
      const layout = level === 3 ? this.page : this.block[level]!;
      return Number(layout.get([cur], 'OutputAddress')) + (iova % 2 ** this.shift(level));
    }
    return undefined;
  }
}
