// SPDX-License-Identifier: Apache-2.0
// iommu domains on an arm-smmu-v3 (Linux 6.12): DMA-API stage-1 domains (io-pgtable, ASID, a
// CD table per master: linear or 2-level with 64K leaves), identity (bypass STE), blocked
// (abort STE) and stage-2 domains (VMID); attach through the entry writer; the DMA API's IOVA
// allocator; map, and unmap with the TLB and ATC invalidations Linux issues.

import { CD_L1 } from '@kdump-twin/smmu-arch';
import { cdUsed, makeAbortSte, makeBypassSte, makeCdtableSte, makeNestedSte, makeS1Cd, makeS2Ste, writeEntry, type GuestSte } from './entry';
import { FEAT } from './features';
import { KernelError } from './hw';
import { ArmSmmuDevice, type Master } from './device';
import { IOMMU, IoPgtable, LPAE_MAIR, type Unmapped } from './pgtable';

export type DomainType = 'dma' | 'identity' | 'blocked' | 's2';

/** dma-iommu's per-CPU flush queue size and timeout (IOVA_DEFAULT_FQ_SIZE, IOVA_DEFAULT_FQ_TIMEOUT: 10 ms). */
export const IOVA_DEFAULT_FQ_SIZE = 256;
export const IOVA_DEFAULT_FQ_TIMEOUT_NS = 10_000_000;

/**
 * When a timer armed at `now` with mod_timer(jiffies + msecs_to_jiffies(timeout)) fires: at the
 * tick boundary that many jiffies after the current one (jiffies count from virtual time 0).
 * 10 ms at HZ=250 (Debian's arm64 kernels) is 3 jiffies, so 8 to 12 ms after `now`.
 */
export function timerExpiryNs(now: number, timeoutNs: number, hz: number): number {
  const tick = 1e9 / hz;
  return (Math.floor(now / tick) + Math.ceil(timeoutNs / tick)) * tick;
}

/**
 * The flush queue of a DMA-FQ domain (iommu.strict=0; dma-iommu queue_iova and friends, one CPU
 * so one per-CPU ring): unmapped IOVAs wait here, their TLB entries still live, until the
 * queue's flush (flush_iotlb_all) when the ring is full or its timer fires; only then do the
 * IOVAs return to the allocator.
 */
export class FlushQueue {
  /** Queued IOVA ranges, oldest first, each with fq_flush_start_cnt as it was queued. */
  readonly entries: { readonly iova: number; readonly len: number; readonly counter: number }[] = [];
  startCnt = 0;
  finishCnt = 0;
  timerOn = false;
  /** iommu_dma_free_fq ran (the domain was freed): the timer is gone. */
  dead = false;
}

/** dma-iommu's IOVA allocator: size rounded to a power of two, size-aligned, top-down below a limit. */
export class IovaAllocator {
  private readonly used: { lo: number; hi: number }[] = [];
  constructor(
    readonly granule: number,
    /** DMA limit (first attempt below 4 GiB, as dma-iommu tries 32-bit IOVAs first). */
    readonly limit: number,
    readonly start = 0x1000,
  ) {}

  alloc(size: number): number | undefined {
    const pages = Math.ceil(size / this.granule);
    const len = 2 ** Math.ceil(Math.log2(pages)) * this.granule;
    let cand = Math.floor((this.limit - len) / len) * len;
    for (const u of [...this.used].sort((a, b) => b.lo - a.lo)) {
      if (cand >= u.hi || cand + len <= u.lo) continue;
      cand = Math.floor((u.lo - len) / len) * len;
    }
    if (cand < this.start) return undefined;
    this.used.push({ lo: cand, hi: cand + len });
    return cand;
  }

  free(iova: number): void {
    const i = this.used.findIndex((u) => u.lo === iova);
    if (i >= 0) this.used.splice(i, 1);
  }
}

interface CdTable {
  readonly s1fmt: 'LINEAR' | 'L2_64K';
  readonly s1cdmax: number;
  readonly base: number;
  readonly numL1: number;
  readonly l2: (number | undefined)[];
}

export class Domain {
  pgtable?: IoPgtable;
  asid?: number;
  vmid?: number;
  iovad?: IovaAllocator;
  /** DMA-FQ (lazy invalidation): the flush queue; undefined for a strict DMA domain. */
  fq?: FlushQueue;
  finalised = false;
  /** iommu_domain_free ran. */
  freed = false;
  readonly masters = new Set<Master>();
  constructor(
    readonly type: DomainType,
    readonly name: string,
  ) {}
}

const CTXDESC_L2_ENTRIES = 1024;

export class DomainOps {
  private readonly cdTables = new Map<Master, CdTable>();
  private readonly domains = new Map<Master, Domain>();
  private seq = 0;

  constructor(readonly smmu: ArmSmmuDevice) {}

  domainOf(m: Master): Domain | undefined {
    return this.domains.get(m);
  }

  /** ASID from [1, 2^asid_bits - 1], lowest free (xa_alloc), skipping reserved ones. */
  private allocAsid(owner: string): number {
    for (let a = 1; a < 2 ** this.smmu.asidBits; a++) {
      if (!this.smmu.asids.has(a)) {
        this.smmu.asids.set(a, owner);
        return a;
      }
    }
    throw new KernelError('ENOSPC', 'no free ASID');
  }

  private allocVmid(owner: string): number {
    for (let v = 1; v < 2 ** this.smmu.vmidBits; v++) {
      if (!this.smmu.vmids.has(v)) {
        this.smmu.vmids.set(v, owner);
        return v;
      }
    }
    throw new KernelError('ENOSPC', 'no free VMID');
  }

  /** The granule io-pgtable picks: the CPU page size when the SMMU supports it, else the smallest. */
  private granule(): '4k' | '16k' | '64k' {
    const b = this.smmu.pgsizeBitmap;
    const want = this.smmu.opts.pageSize ?? 4096;
    if (b & want) return want === 4096 ? '4k' : want === 16384 ? '16k' : '64k';
    return b & 0x1000 ? '4k' : b & 0x4000 ? '16k' : '64k';
  }

  /**
   * The iommu core allocating a device's domain. 6.12's arm_smmu_domain_alloc_paging(dev)
   * finalises it right away (finaliseAt 'alloc', the default): io-pgtable and the ASID or VMID
   * are taken at iommu_probe_device, even for a device whose attach is deferred. With
   * finaliseAt 'attach' they come at the first attach instead. Throws a KernelError (-ENOSPC,
   * -ENOMEM) when finalising fails: the domain is not allocated.
   */
  async alloc(type: DomainType): Promise<Domain> {
    const d = new Domain(type, `${type}-${++this.seq}`);
    if ((this.smmu.opts.finaliseAt ?? 'alloc') === 'alloc') await this.finalise(d);
    return d;
  }

  /** arm_smmu_domain_finalise: io-pgtable and the ASID (stage 1) or VMID (stage 2). */
  private async finalise(d: Domain): Promise<void> {
    if (d.finalised) return;
    const type = d.type;
    const coherent = (this.smmu.features & FEAT.COHERENCY) !== 0;
    if (type === 'dma') {
      if (!(this.smmu.features & FEAT.TRANS_S1)) throw new KernelError('EINVAL', 'no stage 1');
      const ias = Math.min(this.smmu.features & FEAT.VAX ? 52 : 48, 48);
      d.pgtable = await IoPgtable.alloc(this.smmu.hw, { stage: 1, granule: this.granule(), ias, oas: this.smmu.ias, coherentWalk: coherent });
      d.asid = this.allocAsid(d.name);
      d.iovad = new IovaAllocator(2 ** { '4k': 12, '16k': 14, '64k': 16 }[this.granule()], 2 ** 32);
      // iommu_def_domain_type DMA_FQ (iommu.strict=0): iommu_dma_init_domain sets up the flush
      // queue (arm-smmu-v3 has IOMMU_CAP_DEFERRED_FLUSH); without timers there is none to arm.
      if (this.smmu.opts.strict === false && this.smmu.opts.timers) d.fq = new FlushQueue();
    } else if (type === 's2') {
      if (!(this.smmu.features & FEAT.TRANS_S2)) throw new KernelError('EINVAL', 'no stage 2');
      d.pgtable = await IoPgtable.alloc(this.smmu.hw, { stage: 2, granule: this.granule(), ias: this.smmu.ias, oas: this.smmu.oas, coherentWalk: coherent });
      d.vmid = this.allocVmid(d.name);
      d.iovad = new IovaAllocator(2 ** { '4k': 12, '16k': 14, '64k': 16 }[this.granule()], 2 ** 32);
    }
    d.finalised = true;
  }

  /** arm_smmu_alloc_cd_tables: linear up to 1024 CDs or without CD2L, else 2-level (64K leaves). */
  private async cdTable(m: Master): Promise<CdTable> {
    const have = this.cdTables.get(m);
    if (have) return have;
    const s1cdmax = Math.min(this.smmu.ssidBits, m.ssidBits ?? 0);
    const max = 2 ** s1cdmax;
    let t: CdTable;
    if (!(this.smmu.features & FEAT.TWO_LVL_CDTAB) || max <= CTXDESC_L2_ENTRIES) {
      const base = this.smmu.hw.pages.alloc(max * 64);
      if (base === undefined) throw new KernelError('ENOMEM', 'CD table');
      await this.smmu.hw.zero(base, Math.max(max * 64, 64));
      t = { s1fmt: 'LINEAR', s1cdmax, base, numL1: max, l2: [] };
    } else {
      const numL1 = Math.ceil(max / CTXDESC_L2_ENTRIES);
      const base = this.smmu.hw.pages.alloc(numL1 * 8);
      if (base === undefined) throw new KernelError('ENOMEM', 'CD L1 table');
      await this.smmu.hw.zero(base, Math.max(numL1 * 8, 64));
      t = { s1fmt: 'L2_64K', s1cdmax, base, numL1, l2: new Array(numL1).fill(undefined) };
    }
    this.cdTables.set(m, t);
    return t;
  }

  /** arm_smmu_get_cd_ptr with allocation of a 64K leaf, then a non-leaf CFGI_CD after the L1CD. */
  private async cdPa(m: Master, t: CdTable, ssid: number): Promise<number> {
    if (t.s1fmt === 'LINEAR') return t.base + 64 * ssid;
    const idx = Math.floor(ssid / CTXDESC_L2_ENTRIES);
    let l2 = t.l2[idx];
    if (l2 === undefined) {
      l2 = this.smmu.hw.pages.alloc(CTXDESC_L2_ENTRIES * 64);
      if (l2 === undefined) throw new KernelError('ENOMEM', 'CD leaf table');
      await this.smmu.hw.zero(l2, CTXDESC_L2_ENTRIES * 64);
      t.l2[idx] = l2;
      await this.smmu.hw.write64(t.base + 8 * idx, CD_L1.build({ V: 1, L2Ptr: BigInt(l2) })[0]!);
      await this.smmu.issueCmdlist(
        m.sids.map((sid) => ArmSmmuDevice.cmd('cmd-CFGI_CD', { StreamID: sid, SubstreamID: ssid, Leaf: 0 })),
        true,
      );
    }
    return l2 + 64 * (ssid % CTXDESC_L2_ENTRIES);
  }

  /** arm_smmu_write_cd_entry: the entry writer with CFGI_CD(sid, ssid, leaf) per SID + CMD_SYNC. */
  private async writeCd(m: Master, ssid: number, target: readonly bigint[]): Promise<number> {
    const t = await this.cdTable(m);
    const pa = await this.cdPa(m, t, ssid);
    const entry = await this.smmu.hw.readWords(pa, 8);
    const r = await writeEntry(
      {
        used: cdUsed,
        write: (i, v) => this.smmu.hw.write64(pa + 8 * i, v),
        sync: async () =>
          void (await this.smmu.issueCmdlist(
            m.sids.map((sid) => ArmSmmuDevice.cmd('cmd-CFGI_CD', { StreamID: sid, SubstreamID: ssid, Leaf: 1 })),
            true,
          )),
      },
      entry,
      target,
    );
    return r.syncs;
  }

  private atsEnabled(m: Master): boolean {
    return (m.ats ?? false) && (this.smmu.features & FEAT.ATS) !== 0;
  }

  /** arm_smmu_attach_dev and friends: CD (stage 1), then the STE for every SID of the master. */
  async attach(m: Master, d: Domain): Promise<void> {
    await this.finalise(d);
    const f = this.smmu.steFeatures;
    const ats = this.atsEnabled(m) && (d.type === 'dma' || d.type === 's2');
    let target: bigint[];
    if (d.type === 'dma') {
      const pt = d.pgtable!;
      await this.writeCd(m, 0, makeS1Cd({ asid: d.asid!, tcr: pt.tcr(), ttbr: BigInt(pt.root), mair: LPAE_MAIR }, { stallEnabled: m.stallEnabled }));
      const t = await this.cdTable(m);
      target = makeCdtableSte(f, { cdtab: t.base, s1fmt: t.s1fmt, s1cdmax: t.s1cdmax }, { ats, s1dss: 'SSID0', stallEnabled: m.stallEnabled });
    } else if (d.type === 's2') {
      const pt = d.pgtable!;
      target = makeS2Ste(f, { vmid: d.vmid!, vtcr: pt.vtcr(), vttbr: BigInt(pt.root) }, { ats, stallEnabled: m.stallEnabled });
    } else if (d.type === 'identity') target = makeBypassSte(f);
    else target = makeAbortSte();
    for (const sid of m.sids) await this.smmu.writeSte(m, sid, target);
    // arm_smmu_attach_commit, after the STE install: enabling ATS (arm_smmu_enable_ats), keeping
    // it across a domain change, or turning it off each invalidate the whole ATC of the master
    // (arm_smmu_atc_inv_master with IOMMU_NO_PASID: ATC_INV_SIZE_ALL), then CMD_SYNC.
    if (ats || m.atsEnabled) {
      await this.smmu.issueCmdlist(
        m.sids.map((sid) => ArmSmmuDevice.cmd('cmd-ATC_INV', { StreamID: sid, Size: 52 })),
        true,
      );
    }
    m.atsEnabled = ats;
    const old = this.domains.get(m);
    old?.masters.delete(m);
    d.masters.add(m);
    this.domains.set(m, d);
    m.domain = d.name;
    m.attachDeferred = false;
  }

  /**
   * A nested domain (iommufd, newer mainline arm_smmu_make_nested_cd_table_ste): the guest's
   * stage-1 STE fields (CD table in IPA space) over the S2 parent's translation.
   */
  async attachNested(m: Master, s2: Domain, guest: GuestSte): Promise<void> {
    if (s2.type !== 's2') throw new KernelError('EINVAL', 'a nested domain needs a stage-2 parent');
    if (!(this.smmu.features & FEAT.TRANS_S1 && this.smmu.features & FEAT.TRANS_S2)) throw new KernelError('EINVAL', 'nesting needs both stages');
    await this.finalise(s2);
    const pt = s2.pgtable!;
    const target = makeNestedSte(this.smmu.steFeatures, { vmid: s2.vmid!, vtcr: pt.vtcr(), vttbr: BigInt(pt.root) }, guest, {
      ats: this.atsEnabled(m),
      stallEnabled: m.stallEnabled,
    });
    for (const sid of m.sids) await this.smmu.writeSte(m, sid, target);
    this.domains.get(m)?.masters.delete(m);
    s2.masters.add(m);
    this.domains.set(m, s2);
    m.domain = `nested-${s2.name}`;
    m.attachDeferred = false;
  }

  /** dma_map_single on the master's DMA domain: an IOVA for `size` bytes of `pa`. */
  async dmaMap(m: Master, pa: number, size: number, prot = IOMMU.READ | IOMMU.WRITE | IOMMU.CACHE): Promise<number> {
    const d = this.domains.get(m);
    if (!d || !d.pgtable || !d.iovad) throw new KernelError('EINVAL', `${m.name} has no translating domain`);
    const gran = d.iovad.granule;
    const off = pa % gran;
    const len = Math.ceil((off + size) / gran) * gran;
    const iova = d.iovad.alloc(len);
    if (iova === undefined) throw new KernelError('ENOMEM', 'IOVA space exhausted');
    await d.pgtable.map(iova, pa - off, len, prot);
    return iova + off;
  }

  /** dma_unmap_single: unmap, then TLBI (range when RIL) + ATC_INV for ATS masters + CMD_SYNC. */
  async dmaUnmap(m: Master, iova: number, size: number): Promise<Unmapped[]> {
    const d = this.domains.get(m);
    if (!d || !d.pgtable || !d.iovad) throw new KernelError('EINVAL', `${m.name} has no translating domain`);
    const gran = d.iovad.granule;
    const start = iova - (iova % gran);
    const len = Math.ceil((iova - start + size) / gran) * gran;
    const gone = await d.pgtable.unmap(start, len);
    if (d.fq && !d.fq.dead) {
      // __iommu_dma_unmap with iotlb_gather.queued: io-pgtable adds no page to the gather, no
      // iotlb_sync; the IOVA waits in the flush queue with its TLB entries (queue_iova).
      await this.queueIova(d, start, len);
      return gone;
    }
    await this.tlbInvRange(d, start, len, gran, true);
    d.iovad.free(start);
    return gone;
  }

  /** queue_iova (dma-iommu.c): free what a finished flush covers, flush first when the ring is full, queue, arm the timer. */
  private async queueIova(d: Domain, iova: number, len: number): Promise<void> {
    const fq = d.fq!;
    this.fqRingFree(d);
    // fq_full: (tail + 1) & mod_mask == head, so a ring of 256 holds 255.
    if (fq.entries.length >= IOVA_DEFAULT_FQ_SIZE - 1) {
      await this.fqFlushIotlb(d);
      this.fqRingFree(d);
    }
    fq.entries.push({ iova, len, counter: fq.startCnt });
    if (!fq.timerOn) {
      fq.timerOn = true;
      const now = this.smmu.hw.now();
      this.smmu.opts.timers!.arm('dma-iommu fq_timer', timerExpiryNs(now, IOVA_DEFAULT_FQ_TIMEOUT_NS, this.smmu.opts.hz ?? 250) - now, () =>
        this.fqFlushTimeout(d),
      );
    }
  }

  /** fq_ring_free_locked: the IOVAs queued before the last finished flush return to the allocator. */
  private fqRingFree(d: Domain): void {
    const fq = d.fq!;
    while (fq.entries.length && fq.entries[0]!.counter < fq.finishCnt) d.iovad!.free(fq.entries.shift()!.iova);
  }

  /** fq_flush_iotlb: flush_iotlb_all (arm_smmu_flush_iotlb_all -> arm_smmu_tlb_inv_context) between the two counters. */
  private async fqFlushIotlb(d: Domain): Promise<void> {
    d.fq!.startCnt++;
    await this.tlbInvContext(d);
    d.fq!.finishCnt++;
  }

  /** fq_flush_timeout: the timer is off again, flush, free what was queued. */
  private async fqFlushTimeout(d: Domain): Promise<void> {
    const fq = d.fq!;
    if (fq.dead) return;
    fq.timerOn = false;
    await this.fqFlushIotlb(d);
    this.fqRingFree(d);
  }

  /**
   * iommu_domain_free of a paging domain (6.12): iommu_put_dma_cookie (iommu_dma_free_fq:
   * del_timer_sync, queued IOVAs go with the IOVA domain), then arm_smmu_domain_free_paging:
   * free_io_pgtable_ops flushes the whole context first (io_pgtable_tlb_flush_all ->
   * arm_smmu_tlb_inv_context: TLBI by ASID or VMID, CMD_SYNC, the ATCs of masters still
   * attached), then the ASID or VMID is released. A domain never finalised has no io-pgtable.
   */
  async free(d: Domain): Promise<void> {
    if (d.freed) return;
    if (d.fq) {
      d.fq.dead = true;
      d.fq.timerOn = false;
      d.fq.entries.length = 0;
    }
    if (d.finalised && d.pgtable) await this.tlbInvContext(d);
    if (d.asid !== undefined) this.smmu.asids.delete(d.asid);
    if (d.vmid !== undefined) this.smmu.vmids.delete(d.vmid);
    d.freed = true;
  }

  /**
   * arm_smmu_release_device (6.12): the STEs go back to what arm_smmu_init_strtab set, blocked
   * (an abort STE; identity for a device with an RMR, require_direct), through the entry writer;
   * then the master and its CD table go (memory only, no command).
   */
  async release(m: Master): Promise<void> {
    const rmr = m.sids.some((sid) => this.smmu.fw.rmrSids.includes(sid));
    const park = new Domain(rmr ? 'identity' : 'blocked', rmr ? 'identity-release' : 'blocked-release');
    await this.attach(m, park);
    park.masters.delete(m);
    this.domains.delete(m);
    this.cdTables.delete(m);
    this.smmu.masters.delete(m.name);
  }

  /**
   * arm_smmu_flush_iotlb_all / arm_smmu_tlb_inv_context (6.12): the domain's whole ASID
   * (TLBI_NH_ASID, TLBI_EL2_ASID with E2H) or VMID (TLBI_S12_VMALL) with a CMD_SYNC, then the ATCs
   * of its ATS masters. A domain not finalised yet has no SMMU and nothing to flush.
   */
  async tlbInvContext(d: Domain): Promise<void> {
    if (!d.finalised) return;
    const smmu = this.smmu;
    if (d.type === 'dma') {
      const op = smmu.features & FEAT.E2H ? 'cmd-TLBI_EL2_ASID' : 'cmd-TLBI_NH_ASID';
      await smmu.issueCmdlist([ArmSmmuDevice.cmd(op, { ASID: d.asid! })], true);
    } else if (d.type === 's2') {
      await smmu.issueCmdlist([ArmSmmuDevice.cmd('cmd-TLBI_S12_VMALL', { VMID: d.vmid! })], true);
    } else return;
    // arm_smmu_atc_inv_domain(smmu_domain, 0, 0): the whole ATC of each ATS master.
    const atsMasters = [...d.masters].filter((m) => this.atsEnabled(m));
    if (atsMasters.length) await smmu.issueBatch(atsMasters.flatMap((m) => m.sids.map((sid) => ArmSmmuDevice.cmd('cmd-ATC_INV', { StreamID: sid, Size: 52 }))));
  }

  /** __arm_smmu_tlb_inv_range (6.12), then ATC invalidation of the domain's ATS masters. */
  async tlbInvRange(d: Domain, iova: number, size: number, granule: number, leaf: boolean): Promise<void> {
    if (!size) return;
    const smmu = this.smmu;
    const cmds: bigint[][] = [];
    const tg = Math.log2(granule);
    let numPages = size / granule;
    const ril = (smmu.features & FEAT.RANGE_INV) !== 0;
    let ttl = 0;
    if (ril) {
      if (leaf) ttl = 4 - Math.floor((Math.log2(granule) - 3) / (tg - 3));
      else if ((numPages & 31) === 1) numPages++;
    }
    const end = iova + size;
    let addr = iova;
    while (addr < end) {
      let invRange = granule;
      const fields: Record<string, number | bigint> = { Leaf: leaf ? 1 : 0, Address: BigInt(addr) };
      if (ril) {
        const scale = Math.log2(numPages & -numPages);
        const num = Math.floor(numPages / 2 ** scale) & 31;
        Object.assign(fields, { TG: (tg - 10) / 2, TTL: ttl, SCALE: scale, NUM: num - 1 });
        invRange = num * 2 ** (scale + tg);
        numPages -= num * 2 ** scale;
      }
      if (d.type === 's2') cmds.push(ArmSmmuDevice.cmd('cmd-TLBI_S2_IPA', { ...fields, VMID: d.vmid! }));
      else if (smmu.features & FEAT.E2H) cmds.push(ArmSmmuDevice.cmd('cmd-TLBI_EL2_VA', { ...fields, ASID: d.asid! }));
      else cmds.push(ArmSmmuDevice.cmd('cmd-TLBI_NH_VA', { ...fields, ASID: d.asid!, VMID: 0 }));
      addr += invRange;
    }
    await smmu.issueBatch(cmds);
    const atsMasters = [...d.masters].filter((m) => this.atsEnabled(m));
    if (atsMasters.length) {
      // arm_smmu_atc_inv_to_cmd: the smallest aligned power-of-two span covering the range.
      const first = Math.floor(iova / 4096);
      const last = Math.floor((end - 1) / 4096);
      let log2span = Math.ceil(Math.log2(last - first + 1));
      while (Math.floor(first / 2 ** log2span) !== Math.floor(last / 2 ** log2span)) log2span++;
      const page = Math.floor(first / 2 ** log2span) * 2 ** log2span;
      await smmu.issueBatch(
        atsMasters.flatMap((m) => m.sids.map((sid) => ArmSmmuDevice.cmd('cmd-ATC_INV', { StreamID: sid, Size: log2span, Address: BigInt(page * 4096) }))),
      );
    }
  }
}
