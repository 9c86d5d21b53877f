// SPDX-License-Identifier: Apache-2.0
// struct arm_smmu_device and its probe, as Linux 6.12's arm-smmu-v3.c does it, plus the kdump
// series ("iommu/arm-smmu-v3: Fix device crash on kdump kernel", v7 and the post-v7 deltas of
// v10) behind a policy switch (kdump-adopt-series.md sections 2 and 3). Every register access
// goes through Hw (traced); every message goes to the dmesg log with Linux's exact text.

import { inStep, type StepObserver } from './steps';
import { CD_L1, findFormat, L1STD, STE } from '@kdump-twin/smmu-arch';
import type { BusInterrupt, BusPort } from './bus';
import { makeAbortSte, makeBypassSte, steUsed, writeEntry, type SteFeatures } from './entry';
import { DEFAULT_FIRMWARE, FEAT, OPT, type Firmware, type KdumpPolicy } from './features';
import { Hw, KernelError, PageAllocator } from './hw';
import { Dmesg, type LogLevel } from './log';
import type { KernelTimers } from './timers';
import { MmioTrace } from './trace';

export const STRTAB_SPLIT = 8;
export const STRTAB_NUM_L2_STES = 256;
export const STRTAB_MAX_L1_ENTRIES = 1 << 17;
/** arm64's MAX_PAGE_ORDER (ARCH_FORCE_MAX_ORDER) by PAGE_SHIFT. */
const MAX_PAGE_ORDER: Readonly<Record<number, number>> = { 12: 10, 14: 11, 16: 13 };
/** log2 of the queues' entry sizes (CMDQ_ENT_SZ_SHIFT, EVTQ_ENT_SZ_SHIFT, PRIQ_ENT_SZ_SHIFT). */
const CMDQ_ENT_SZ_SHIFT = 4;
const EVTQ_ENT_SZ_SHIFT = 5;
const PRIQ_ENT_SZ_SHIFT = 4;
const CMDQ_BATCH_ENTRIES = 64;
/** arm-smmu-v3.h: IIDR_IMPLEMENTER_ARM and the product IDs arm_smmu_device_iidr_probe knows. */
const IIDR_IMPLEMENTER_ARM = 0x43b;
const IIDR_PRODUCTID_ARM_MMU_600 = 0x483;
const IIDR_PRODUCTID_ARM_MMU_700 = 0x487;
const GERROR_ERR_MASK = 0x1fd;
const CR0 = { SMMUEN: 1, PRIQEN: 2, EVTQEN: 4, CMDQEN: 8, ATSCHK: 16 } as const;
const IRQ = { GERROR: 1, PRIQ: 2, EVTQ: 4 } as const;
const GBPA_ABORT = 1 << 20;
const GBPA_UPDATE = 1 << 31;

/** Linux's %pa on arm64 (phys_addr_t is 64-bit): 0x%016llx. */
export function fmtPa(pa: number): string {
  return `0x${pa.toString(16).padStart(16, '0')}`;
}

export interface DriverOptions {
  /** Who watches the probe's steps (a telemetry adapter); the driver behaves the same without one. */
  readonly steps?: StepObserver;
  /** 'primary' or 'kdump' (is_kdump_kernel()). */
  readonly kernel: 'primary' | 'kdump';
  /** The kdump policy; ignored in the primary kernel. */
  readonly policy?: KdumpPolicy;
  readonly firmware?: Partial<Firmware>;
  /** The CPU implements VHE (FEAT_E2H with IDR0.Hyp). */
  readonly vhe?: boolean;
  /** iommu.passthrough=1: default domains are identity. */
  readonly passthrough?: boolean;
  /** v10 prints the geometry/L1 messages of arm-smmu-v3-kexec.c with this prefix ('' in the tree read). */
  readonly v10KexecPrefix?: string;
  /**
   * memremap(MEMREMAP_WB) of a range that is not RAM (MMIO or an unbacked hole): Linux may
   * return NULL or a mapping (domain notes S6b, an inference); 'fail' (default) gives -ENOMEM,
   * 'succeed' parses whatever reads back (zeros from an unbacked hole).
   */
  readonly memremapNonRam?: 'fail' | 'succeed';
  /** The CPU page size (CONFIG_ARM64_*K_PAGES): io-pgtable uses it as the granule when the SMMU supports it. */
  readonly pageSize?: 4096 | 16384 | 65536;
  /**
   * CONFIG_CMA_ALIGNMENT of a kernel built with CONFIG_DMA_CMA (Debian's: 8), undefined without:
   * the largest queue is 2^(PAGE_SHIFT + this) bytes (Q_MAX_SZ_SHIFT), not 2^(PAGE_SHIFT + MAX_PAGE_ORDER).
   */
  readonly cmaAlignment?: number;
  /** The kernel's IOMMU group IDs (one ida for all its SMMUs): the next one iommu_group_alloc hands out. */
  readonly groups?: { next: number };
  /** A kernel predating 2-level stream tables (S7a's crashed kernel): always linear. */
  readonly legacyLinearStrtab?: boolean;
  /** Fault injection: these devm_request_(threaded_)irq calls fail ("failed to enable ... irq"). */
  readonly failIrqRequest?: readonly IrqName[];
  /** Fault injection (S15): adopt_2lvl's kcalloc of the l2ptrs array fails (-ENOMEM). */
  readonly failKcalloc?: boolean;
  /** Fault injection (S7c): devm_add_action_or_reset fails with -ENOMEM after adoption. */
  readonly failDevresAction?: boolean;
  /**
   * When arm_smmu_domain_finalise runs (io-pgtable, ASID or VMID): 'alloc' (default, 6.12:
   * domain_alloc_paging(dev) finalises the default domain when iommu_probe_device allocates it,
   * so a deferred device holds its ID from probe on) or 'attach' (at the first attach).
   */
  readonly finaliseAt?: 'alloc' | 'attach';
  /**
   * iommu.strict: true (default, CONFIG_IOMMU_DEFAULT_DMA_STRICT) invalidates the TLB on every
   * dma_unmap; false (lazy, DMA-FQ domains) queues the IOVAs in a flush queue, flushed by
   * flush_iotlb_all when it fills or its 10 ms timer fires (needs `timers`).
   */
  readonly strict?: boolean;
  /** The kernel's timers: the flush queue's timer runs on them. */
  readonly timers?: KernelTimers;
  /** CONFIG_HZ (default 250, Debian's arm64 kernels): timers fire on jiffy boundaries. */
  readonly hz?: number;
  /**
   * The gbpa-bypass policy (cover letter case (b)): 'stay-disabled' (default) sets GBPA to
   * bypass, clears CR0 and leaves the SMMU disabled (no IOMMU: every device uses dma-direct);
   * 'reset-window' runs the status-quo reset with GBPA at bypass only during the window.
   */
  readonly gbpaBypass?: 'stay-disabled' | 'reset-window';
  /**
   * The kernel's page allocator, shared by every SMMU one kernel drives; without it the device
   * makes its own over `ram`.
   */
  readonly pages?: PageAllocator;
  /**
   * A shared ASID space: 6.12 and the v7 series have one global arm_smmu_asid_xa for all SMMUs
   * of a kernel, so pass the same map to each. Ignored under adopt-v10, whose asid_map is per
   * SMMU.
   */
  readonly asids?: Map<number, string>;
  /** Write the trace and log into these (shared by the kernels of one scenario). */
  readonly trace?: MmioTrace;
  readonly log?: Dmesg;
  /** The kernel's own RAM for its allocations (primary RAM, or the crashkernel carve-out). */
  readonly ram: { readonly base: number; readonly size: number };
}

interface Queue {
  readonly name: 'cmdq' | 'evtq' | 'priq';
  base: number;
  shift: number;
  readonly entBytes: number;
  qBase: bigint;
  prod: number;
  cons: number;
}

export type StrtabCfg =
  | { readonly kind: 'none' }
  | { readonly kind: 'linear'; readonly table: number; readonly numEnts: number; readonly adopted: boolean }
  | { readonly kind: '2lvl'; readonly l1tab: number; readonly numL1: number; readonly l2ptrs: (number | undefined)[]; readonly adopted: boolean };

export interface MasterSpec {
  /** dev_name of the endpoint, e.g. "0000:01:00.0". */
  readonly name: string;
  readonly sids: readonly number[];
  readonly ats?: boolean;
  /** PASID width the device supports (0: none). */
  readonly ssidBits?: number;
  readonly stallEnabled?: boolean;
  /**
   * The driver bound while the iommu core probes the device, the prefix of its dev_info lines:
   * on a device-tree machine the probe runs as the driver binds (of_iommu_configure from
   * really_probe); undefined for a probe before any driver binds (the bus's name, "pci").
   */
  readonly driver?: string;
}

export interface Master extends MasterSpec {
  /** Set by the iommu core from is_attach_deferred() right after probe_device. */
  attachDeferred: boolean;
  /** The errno of the last failed attach of its default domain (at probe or the deferred attach). */
  attachError?: string;
  /** ATS is enabled on the device (master->ats_enabled). */
  atsEnabled?: boolean;
  /** The STE the kernel last wrote for each SID (its shadow copy), keyed by SID. */
  readonly steShadow: Map<number, bigint[]>;
  domain?: string;
}

export type IrqReturn = 'IRQ_NONE' | 'IRQ_HANDLED' | 'IRQ_WAKE_THREAD';
export type IrqName = 'combined' | 'eventq' | 'priq' | 'gerror';

export interface IrqRecord {
  readonly time: number;
  readonly source: BusInterrupt['source'];
  readonly handler: 'combined' | 'gerror' | 'evtq';
  readonly result: IrqReturn;
  /** The threaded handler ran (combined thread, or the evtq thread). */
  readonly thread: boolean;
}

export type ProbeOutcome = { readonly ok: true } | { readonly ok: false; readonly errno: string; readonly reason: string };

export class ArmSmmuDevice {
  readonly hw: Hw;
  readonly log: Dmesg;
  readonly trace: MmioTrace;
  readonly fw: Firmware;
  readonly kdump: boolean;
  readonly policy: KdumpPolicy | undefined;
  features = 0;
  options = 0;
  ias = 0;
  oas = 0;
  asidBits = 8;
  vmidBits = 8;
  sidBits = 0;
  ssidBits = 0;
  pgsizeBitmap = 0;
  readonly cmdq: Queue = { name: 'cmdq', base: 0, shift: 0, entBytes: 16, qBase: 0n, prod: 0, cons: 0 };
  readonly evtq: Queue = { name: 'evtq', base: 0, shift: 0, entBytes: 32, qBase: 0n, prod: 0, cons: 0 };
  readonly priq: Queue = { name: 'priq', base: 0, shift: 0, entBytes: 16, qBase: 0n, prod: 0, cons: 0 };
  private strtabCfg: StrtabCfg = { kind: 'none' };
  /**
   * Every value the strtab_cfg union took, in order: 'adopted 2lvl', 'adopted linear', 'fresh
   * 2lvl', 'fresh linear', or 'none' (zeroed: a tossed adoption, an unbind).
   */
  readonly strtabHistory: string[] = [];

  get strtab(): StrtabCfg {
    return this.strtabCfg;
  }

  set strtab(v: StrtabCfg) {
    this.strtabCfg = v;
    this.strtabHistory.push(v.kind === 'none' ? 'none' : `${v.adopted ? 'adopted' : 'fresh'} ${v.kind}`);
  }
  /**
   * ASIDs in use or reserved: arm_smmu_asid_xa (6.12, v7: one per kernel, `DriverOptions.asids`)
   * or v10's per-SMMU asid_map; value 'reserved' for the crashed kernel's IDs.
   */
  readonly asids: Map<number, string>;
  /** VMIDs in use or reserved (vmid_map ida). */
  readonly vmids = new Map<number, string>();
  readonly masters = new Map<string, Master>();
  /** Which interrupt handlers are registered (request_irq / request_threaded_irq). */
  readonly irqs = { gerror: false, evtq: false, priq: false, combined: false as false | 'threaded' | 'plain' };
  /** Every interrupt a registered handler took: the top half's return and whether a thread ran. */
  readonly irqLog: IrqRecord[] = [];
  private readonly v10Prefix: string;
  readonly passthrough: boolean;
  private readonly vhe: boolean;

  constructor(
    bus: BusPort,
    readonly opts: DriverOptions,
  ) {
    this.fw = { ...DEFAULT_FIRMWARE, ...(opts.firmware ?? {}) };
    this.kdump = opts.kernel === 'kdump';
    this.policy = this.kdump ? (opts.policy ?? 'status-quo') : undefined;
    this.log = opts.log ?? new Dmesg(opts.kernel, () => bus.now());
    this.trace = opts.trace ?? new MmioTrace();
    this.hw = new Hw(bus, opts.kernel, this.trace, this.log, opts.pages ?? new PageAllocator(opts.ram.base, opts.ram.size));
    this.asids = opts.asids && this.policy !== 'adopt-v10' ? opts.asids : new Map();
    this.hw.irqHandler = (e) => this.interrupt(e);
    this.v10Prefix = opts.v10KexecPrefix ?? '';
    this.passthrough = opts.passthrough ?? false;
    this.vhe = opts.vhe ?? false;
  }

  /** The series is in this kernel (adopt-v7 or adopt-v10). */
  get series(): 'v7' | 'v10' | undefined {
    return this.policy === 'adopt-v7' ? 'v7' : this.policy === 'adopt-v10' ? 'v10' : undefined;
  }

  /**
   * The event queue exists: always in 6.12 and v7; in v10 while FEAT_EVTQ is set (it is cleared
   * in a kdump kernel).
   */
  get hasEvtq(): boolean {
    return this.series === 'v10' ? (this.features & FEAT.EVTQ) !== 0 : true;
  }

  /**
   * iommu_device_register ran: the kernel has an IOMMU for the devices behind this SMMU. Not
   * without the driver, after a failed probe, or when gbpa-bypass leaves the SMMU disabled.
   */
  get registered(): boolean {
    return this.isRegistered;
  }

  private isRegistered = false;

  get adopting(): boolean {
    return (this.options & OPT.KDUMP_ADOPT) !== 0;
  }

  private dev(level: LogLevel, text: string): void {
    this.log.log(level, this.fw.devName, text);
  }

  /** A v10 message from arm-smmu-v3-kexec.c (geometry and L1 checks): prefix configurable. */
  private kexecMsg(text: string): string {
    return this.series === 'v10' ? `${this.v10Prefix}${text}` : `kdump: ${text}`;
  }

  get steFeatures(): SteFeatures {
    return {
      attrTypesOverride: (this.features & FEAT.ATTR_TYPES_OVR) !== 0,
      stalls: (this.features & FEAT.STALLS) !== 0,
      e2h: (this.features & FEAT.E2H) !== 0,
    };
  }

  // =========================================================================================
  // arm_smmu_device_probe

  /** The whole probe: hw_probe, init_structures, RMR bypass, device_reset. */
  async probe(): Promise<ProbeOutcome> {
    // A kernel without the driver prints nothing and touches nothing.
    if (this.policy === 'no-smmu-driver') return { ok: true };
    // arm_smmu_device_acpi_probe -> acpi_smmu_get_options: the IORT model's quirks (none for a
    // generic SMMUv3), then the mask; the DT path (parse_driver_options) prints only options it set.
    if (this.fw.kind === 'acpi') this.dev('notice', `option mask 0x${this.options.toString(16)}`);
    try {
      if (this.policy === 'gbpa-bypass' && (this.opts.gbpaBypass ?? 'stay-disabled') === 'stay-disabled') {
        await this.hwProbe();
        await this.bypassAndDisable();
        return { ok: true };
      }
      await this.hwProbe();
      await this.initStructures();
      await this.rmrInstallBypassSte();
      const r = await inStep(
        this.opts.steps,
        'smmu.device_reset',
        () => this.hw.now(),
        { smmu: this.hw.bus.smmu },
        () => this.deviceReset(),
        (o) => (o.ok ? { ok: true } : { ok: false, errno: o.errno }),
      );
      if (!r.ok) {
        // arm_smmu_device_probe: a failed reset disables the device and fails the probe.
        await this.deviceDisable();
        return r;
      }
      await this.hw.serviceInterrupts();
      this.isRegistered = true;
      return { ok: true };
    } catch (e) {
      if (e instanceof KernelError) return { ok: false, errno: e.errno, reason: e.message };
      throw e;
    }
  }

  // -----------------------------------------------------------------------------------------
  // arm_smmu_device_hw_probe

  async hwProbe(): Promise<void> {
    const coherent = this.fw.coherent;
    // Series v10 adds FEAT_EVTQ, set unconditionally first ("the event queue is architecturally
    // mandatory"); 6.12 and v7 have no such bit and always have the queue (see hasEvtq).
    if (this.series === 'v10') this.features |= FEAT.EVTQ;
    let reg = await this.hw.readl('IDR0');
    const f0 = (n: string) => Hw.field('IDR0', reg, n);
    if (f0('ST_LEVEL') === 1) this.features |= FEAT.TWO_LVL_STRTAB;
    if (f0('CD2L')) this.features |= FEAT.TWO_LVL_CDTAB;
    switch (f0('TTENDIAN')) {
      case 0:
        this.features |= FEAT.TT_LE | FEAT.TT_BE;
        break;
      case 2: // IDR0_TTENDIAN_LE on a little-endian kernel; BE (3) is unsupported there
        this.features |= FEAT.TT_LE;
        break;
      default:
        this.dev('err', 'unknown/unsupported TT endianness!');
        throw new KernelError('ENXIO', 'unknown/unsupported TT endianness!');
    }
    if (f0('PRI')) this.features |= FEAT.PRI;
    if (f0('ATS')) this.features |= FEAT.ATS;
    if (f0('SEV')) this.features |= FEAT.SEV;
    if (f0('MSI')) {
      this.features |= FEAT.MSI;
      if (coherent) this.options |= OPT.MSIPOLL;
    }
    if (f0('Hyp')) {
      this.features |= FEAT.HYP;
      if (this.vhe) this.features |= FEAT.E2H;
    }
    // arm_smmu_get_httu with a DT node: the IDR0.HTTU features, not gated on coherency.
    if (f0('HTTU') >= 1) {
      this.features |= FEAT.HA;
      if (f0('HTTU') >= 2) this.features |= FEAT.HD;
    }
    // BTM only if the SMMU can tag EL2-E2H entries when the CPU runs VHE.
    if (f0('BTM') && (!this.vhe || f0('Hyp'))) this.features |= FEAT.BTM;
    // FEAT_COHERENCY comes from the firmware (DT dma-coherent / IORT COHACC override).
    if (coherent) this.features |= FEAT.COHERENCY;
    if (!!f0('COHACC') !== coherent) this.dev('warn', `IDR0.COHACC overridden by FW configuration (${coherent ? 'true' : 'false'})`);
    switch (f0('STALL_MODEL')) {
      case 2:
        this.features |= FEAT.STALL_FORCE | FEAT.STALLS;
        break;
      case 0:
        this.features |= FEAT.STALLS;
        break;
    }
    if (f0('S1P')) this.features |= FEAT.TRANS_S1;
    if (f0('S2P')) this.features |= FEAT.TRANS_S2;
    if (!(this.features & (FEAT.TRANS_S1 | FEAT.TRANS_S2))) {
      this.dev('err', 'no translation support!');
      throw new KernelError('ENXIO', 'no translation support!');
    }
    switch (f0('TTF')) {
      case 3:
        this.ias = 40;
        break;
      case 2:
        break;
      default:
        this.dev('err', 'AArch64 table format not supported!');
        throw new KernelError('ENXIO', 'AArch64 table format not supported!');
    }
    this.asidBits = f0('ASID16') ? 16 : 8;
    this.vmidBits = f0('VMID16') ? 16 : 8;

    reg = await this.hw.readl('IDR1');
    const f1 = (n: string) => Hw.field('IDR1', reg, n);
    if (f1('TABLES_PRESET') || f1('QUEUES_PRESET') || f1('REL')) {
      this.dev('err', 'embedded implementation not supported');
      throw new KernelError('ENXIO', 'embedded implementation not supported');
    }
    if (f1('ATTR_TYPES_OVR')) this.features |= FEAT.ATTR_TYPES_OVR;
    // Q_MAX_SZ_SHIFT: DMA allocations are naturally aligned, so a queue is at most the largest
    // CMA-aligned (CONFIG_CMA_ALIGNMENT) or buddy (MAX_PAGE_ORDER) allocation.
    const pageShift = Math.log2(this.opts.pageSize ?? 4096);
    const qMaxSzShift = pageShift + (this.opts.cmaAlignment ?? MAX_PAGE_ORDER[pageShift]!);
    this.cmdq.shift = Math.min(qMaxSzShift - CMDQ_ENT_SZ_SHIFT, f1('CMDQS'));
    if (this.cmdq.shift <= Math.log2(CMDQ_BATCH_ENTRIES)) {
      this.dev('err', `command queue size <= ${CMDQ_BATCH_ENTRIES} entries not supported`);
      throw new KernelError('ENXIO', 'command queue too small');
    }
    this.evtq.shift = Math.min(qMaxSzShift - EVTQ_ENT_SZ_SHIFT, f1('EVENTQS'));
    this.priq.shift = Math.min(qMaxSzShift - PRIQ_ENT_SZ_SHIFT, f1('PRIQS'));
    this.ssidBits = f1('SSIDSIZE');
    this.sidBits = f1('SIDSIZE');
    if (this.sidBits <= STRTAB_SPLIT || this.opts.legacyLinearStrtab) this.features &= ~FEAT.TWO_LVL_STRTAB;

    reg = await this.hw.readl('IDR3');
    if (Hw.field('IDR3', reg, 'RIL')) this.features |= FEAT.RANGE_INV;
    if (Hw.field('IDR3', reg, 'FWB')) this.features |= FEAT.S2FWB;

    reg = await this.hw.readl('IDR5');
    const f5 = (n: string) => Hw.field('IDR5', reg, n);
    if (f5('GRAN64K')) this.pgsizeBitmap |= 0x10000 | 0x2000_0000;
    if (f5('GRAN16K')) this.pgsizeBitmap |= 0x4000 | 0x200_0000;
    if (f5('GRAN4K')) this.pgsizeBitmap |= 0x1000 | 0x20_0000 | 0x4000_0000;
    if (f5('VAX')) this.features |= FEAT.VAX;
    const oas = [32, 36, 40, 42, 44, 48, 52][f5('OAS')];
    if (oas === undefined) {
      this.dev('info', 'unknown output address size. Truncating to 48-bit');
      this.oas = 48;
    } else this.oas = oas;
    this.ias = Math.max(this.ias, this.oas);
    if (this.features & FEAT.TRANS_S1 && this.features & FEAT.TRANS_S2) this.features |= FEAT.NESTING;
    await this.iidrProbe();
    if (this.series === 'v10' && this.kdump) {
      // series v10: a kdump kernel wants neither queue.
      this.features &= ~(FEAT.EVTQ | FEAT.PRI);
    }
    this.dev('info', `ias ${this.ias}-bit, oas ${this.oas}-bit (features 0x${(this.features >>> 0).toString(16).padStart(8, '0')})`);
    if (this.kdump && this.series)
      await inStep(
        this.opts.steps,
        'smmu.detection',
        () => this.hw.now(),
        { smmu: this.hw.bus.smmu },
        () => this.hwProbeKdump(),
        () => ({ adopt: this.adopting }),
      );
  }

  /** arm_smmu_device_iidr_probe: Arm's errata by IIDR (6.12: MMU-600 and MMU-700 only). */
  private async iidrProbe(): Promise<void> {
    const reg = await this.hw.readl('IIDR');
    const f = (n: string) => Hw.field('IIDR', reg, n);
    if (f('Implementer') !== IIDR_IMPLEMENTER_ARM) return;
    if (f('ProductID') === IIDR_PRODUCTID_ARM_MMU_600) {
      if (f('Variant') === 0 && f('Revision') <= 2) this.features &= ~FEAT.SEV; // Arm erratum 1076982
      if (f('Variant') < 2) this.features &= ~FEAT.NESTING; // Arm erratum 1209401
    } else if (f('ProductID') === IIDR_PRODUCTID_ARM_MMU_700) {
      this.features &= ~FEAT.BTM; // Arm erratum 2812531
      this.options |= OPT.CMDQ_FORCE_SYNC;
      this.features &= ~FEAT.NESTING; // Arm errata 2268618, 2812531
    }
  }

  /** Series v7 patch 7 (v10: arm_smmu_device_kdump_probe): decide whether to adopt. */
  private async hwProbeKdump(): Promise<void> {
    const cr0 = await this.hw.readl('CR0');
    if ((cr0 & CR0.SMMUEN) === 0) return; // no in-flight DMA possible
    if (!(this.features & FEAT.COHERENCY)) {
      this.dev('warn', 'kdump: non-coherent SMMU unsupported; reset to block all DMAs');
      return;
    }
    const active = (await this.hw.readl('GERROR')) ^ (await this.hw.readl('GERRORN'));
    if (active & (1 << 8)) {
      this.dev('warn', 'kdump: SMMU in Service Failure Mode, must reset');
      return;
    }
    this.options |= OPT.KDUMP_ADOPT;
  }

  // -----------------------------------------------------------------------------------------
  // arm_smmu_init_structures

  private async initStructures(): Promise<void> {
    await this.initQueues();
    await this.initStrtab();
  }

  private async initOneQueue(q: Queue): Promise<void> {
    for (;;) {
      const bytes = 2 ** q.shift * q.entBytes;
      const pa = this.hw.pages.alloc(bytes);
      if (pa !== undefined) {
        q.base = pa;
        break;
      }
      if (bytes <= 4096) {
        this.dev('err', `failed to allocate queue (0x${bytes.toString(16)} bytes) for ${q.name}`);
        throw new KernelError('ENOMEM', `no memory for ${q.name}`);
      }
      q.shift--;
    }
    // dmam_alloc_coherent returns zeroed memory (the carve-out may hold an earlier kernel's queue).
    await this.hw.zero(q.base, 2 ** q.shift * q.entBytes);
    // The page allocator hands out naturally aligned blocks, so the WARN_ON never fires.
    this.dev('info', `allocated ${2 ** q.shift} entries for ${q.name}`);
    q.prod = 0;
    q.cons = 0;
    // Q_BASE_RWA | (base & Q_BASE_ADDR_MASK) | LOG2SIZE, through the field table.
    q.qBase = findFormat('CMDQ_BASE')!.build({ RA: 1, ADDR: BigInt(q.base), LOG2SIZE: q.shift })[0]!;
  }

  private async initQueues(): Promise<void> {
    await this.initOneQueue(this.cmdq);
    // series v10: FEAT_EVTQ gates the event queue; v7 and mainline always allocate it.
    if (this.hasEvtq) await this.initOneQueue(this.evtq);
    if (this.features & FEAT.PRI) await this.initOneQueue(this.priq);
  }

  /** arm_smmu_init_strtab (series v7 patch 1: adopt first, fresh allocation on fallback). */
  private async initStrtab(): Promise<void> {
    if (
      this.adopting &&
      (await inStep(
        this.opts.steps,
        'smmu.adopt_strtab',
        () => this.hw.now(),
        { smmu: this.hw.bus.smmu },
        () => this.adoptStrtab(),
        (r) => (r === 0 ? { adopted: true } : { adopted: false, errno: r }),
      )) === 0
    )
      return;
    if (this.features & FEAT.TWO_LVL_STRTAB) await this.initStrtab2lvl();
    else await this.initStrtabLinear();
  }

  private async initStrtabLinear(): Promise<void> {
    const n = 2 ** this.sidBits;
    const size = n * 64;
    const table = this.hw.pages.alloc(size);
    if (table === undefined) {
      this.dev('err', `failed to allocate linear stream table (${size} bytes)`);
      throw new KernelError('ENOMEM', 'linear stream table');
    }
    // arm_smmu_init_initial_stes: every STE aborts (disable_bypass=1).
    const abort = makeAbortSte();
    const words: bigint[] = [];
    for (let i = 0; i < n; i++) words.push(...abort);
    await this.hw.writeWords(table, words);
    this.strtab = { kind: 'linear', table, numEnts: n, adopted: false };
  }

  private async initStrtab2lvl(): Promise<void> {
    const lastSidIdx = Math.floor((2 ** this.sidBits - 1) / STRTAB_NUM_L2_STES);
    const numL1 = Math.min(lastSidIdx + 1, STRTAB_MAX_L1_ENTRIES);
    if (numL1 <= lastSidIdx) this.dev('warn', `2-level strtab only covers ${Math.log2(numL1 * STRTAB_NUM_L2_STES)}/${this.sidBits} bits of SID`);
    const l1size = numL1 * 8;
    const l1tab = this.hw.pages.alloc(l1size);
    if (l1tab === undefined) {
      this.dev('err', `failed to allocate l1 stream table (${l1size} bytes)`);
      throw new KernelError('ENOMEM', 'l1 stream table');
    }
    // dmam_alloc_coherent zeroes it: every L1 descriptor starts invalid (Span=0).
    await this.hw.zero(l1tab, l1size);
    this.strtab = { kind: '2lvl', l1tab, numL1, l2ptrs: new Array(numL1).fill(undefined), adopted: false };
  }

  // -----------------------------------------------------------------------------------------
  // Series v7 patch 1: arm_smmu_kdump_adopt_strtab (+ v10 deltas, patch 1b reservation)

  /** Returns 0 on adoption, an errno string on fallback (the caller ignores the value). */
  private async adoptStrtab(): Promise<0 | string> {
    const cfgReg = await this.hw.readl('STRTAB_BASE_CFG');
    const baseReg = await this.hw.readq('STRTAB_BASE');
    const wasTwoLvl = (this.features & FEAT.TWO_LVL_STRTAB) !== 0;
    const base = Number(baseReg & 0x000f_ffff_ffff_ffc0n); // bits [51:6]: RA and upper bits dropped
    const fmt = Hw.field('STRTAB_BASE_CFG', cfgReg, 'FMT');
    this.dev('debug', "kdump: adopting crashed kernel's stream table");
    let ret: 0 | string;
    if (fmt === 1) {
      if (!wasTwoLvl) {
        // WARN_ON(): a plain printk with the location (the twin cannot know the line number).
        const file = this.series === 'v10' ? 'arm-smmu-v3-kdump.c' : 'arm-smmu-v3.c';
        this.log.log('warn', '', '------------[ cut here ]------------');
        this.log.log('warn', '', `WARNING: CPU: 0 PID: 1 at drivers/iommu/arm/arm-smmu-v3/${file} arm_smmu_kdump_adopt_strtab`);
        ret = 'EINVAL';
      } else ret = await this.adopt2lvl(cfgReg, base);
    } else if (fmt === 0) {
      ret = await this.adoptLinear(cfgReg, base);
      if (ret === 0) this.features &= ~FEAT.TWO_LVL_STRTAB; // follow the crashed table's format
    } else {
      this.dev('err', this.kexecMsg(`invalid STRTAB format ${fmt}`));
      ret = 'EINVAL';
    }
    if (ret === 0 && this.series === 'v10') {
      const r = await this.scanAndReserve();
      if (r !== 0) {
        this.dev('warn', 'kdump: failed to reserve in-use ASIDs/VMIDs');
        this.unreserve();
        ret = r;
      }
    }
    if (ret === 0 && this.opts.failDevresAction) {
      // devm_add_action_or_reset failed: the cleanup action already ran.
      this.dev('warn', 'kdump: failed to set up cleanup action');
      if (this.series === 'v7' && wasTwoLvl) this.features |= FEAT.TWO_LVL_STRTAB;
      if (this.series === 'v10') this.unreserve();
      ret = 'ENOMEM';
    }
    if (ret === 0) return 0;
    // fail:
    this.dev('warn', 'kdump: falling back to full reset');
    if (wasTwoLvl) this.features |= FEAT.TWO_LVL_STRTAB;
    this.strtab = { kind: 'none' };
    this.options &= ~OPT.KDUMP_ADOPT;
    return ret;
  }

  /**
   * memremap(base, size, MEMREMAP_WB) of crashed-kernel memory: the whole range is mapped or
   * nothing (NULL). A range with any byte outside memory (a hole, MMIO) is NULL unless
   * memremapNonRam='succeed', where the mapping exists and those bytes read as zeros.
   */
  private async memremap(base: number, size: number): Promise<boolean> {
    return this.opts.memremapNonRam === 'succeed' || (await this.hw.accessible(base, size));
  }

  /**
   * Loads through a memremap()ed crashed-kernel mapping (the L1 table, adopted L2 and linear
   * tables, the CD tables of the reservation scan). The mapping was checked whole, so with
   * memremapNonRam='fail' nothing faults; with 'succeed' the words that are not memory read 0.
   */
  private async readCrashed(pa: number, count: number): Promise<bigint[]> {
    try {
      return await this.hw.readWords(pa, count);
    } catch (e) {
      if (!(e instanceof KernelError) || this.opts.memremapNonRam !== 'succeed') throw e;
      const out: bigint[] = [];
      for (let i = 0; i < count; i++) {
        const r = await this.hw.bus.memRead(pa + 8 * i, 8);
        out.push(r.ok ? new DataView(r.data.buffer, r.data.byteOffset, 8).getBigUint64(0, true) : 0n);
      }
      return out;
    }
  }

  /** A store through such a mapping: lost where the mapping is not memory ('succeed'). */
  private async writeCrashed(pa: number, v: bigint): Promise<void> {
    try {
      await this.hw.write64(pa, v);
    } catch (e) {
      if (!(e instanceof KernelError) || this.opts.memremapNonRam !== 'succeed') throw e;
    }
  }

  private async adopt2lvl(cfgReg: number, base: number): Promise<0 | string> {
    const log2size = Hw.field('STRTAB_BASE_CFG', cfgReg, 'LOG2SIZE');
    const split = Hw.field('STRTAB_BASE_CFG', cfgReg, 'SPLIT');
    if (log2size < split || log2size > this.sidBits) {
      this.dev('err', this.kexecMsg(`log2size ${log2size} out of range [${split}, ${this.sidBits}]`));
      return 'EINVAL';
    }
    if (split !== STRTAB_SPLIT) {
      this.dev('err', this.kexecMsg(`unsupported STRTAB_SPLIT ${split} (expected ${STRTAB_SPLIT})`));
      return 'EINVAL';
    }
    if (this.series === 'v10') {
      if (log2size - split > 17) {
        this.dev('err', this.kexecMsg(`l1 entries 2^${log2size - split} exceeds max ${STRTAB_MAX_L1_ENTRIES}`));
        return 'EINVAL';
      }
    } else if (2 ** (log2size - split) > STRTAB_MAX_L1_ENTRIES) {
      this.dev('err', `kdump: l1 entries ${2 ** (log2size - split)} exceeds max ${STRTAB_MAX_L1_ENTRIES}`);
      return 'EINVAL';
    }
    const n = 2 ** (log2size - split);
    if (this.series === 'v10' && base % Math.max(n * 8, 1) !== 0) {
      this.dev('err', this.kexecMsg(`unaligned l1 stream table base ${fmtPa(base)}`));
      return 'EINVAL';
    }
    if (!(await this.memremap(base, n * 8))) return 'ENOMEM';
    if (this.opts.failKcalloc) return 'ENOMEM'; // kcalloc(l2ptrs) failed: no message of its own
    const l1 = await this.readCrashed(base, n);
    for (let i = 0; i < n; i++) {
      const span = Number(L1STD.get([l1[i]!], 'Span'));
      const l2 = Number(l1[i]! & 0x000f_ffff_ffff_ffc0n);
      if (this.series === 'v10') {
        if (span === 0) continue;
        if (span !== STRTAB_SPLIT + 1) {
          this.dev('err', this.kexecMsg(`L1[${i}] unsupported span ${span} (vs ${STRTAB_SPLIT + 1})`));
          return 'EINVAL';
        }
        if (l2 === 0 || l2 % (STRTAB_NUM_L2_STES * 64) !== 0) {
          this.dev('err', this.kexecMsg(`L1[${i}] bad l2 table base ${fmtPa(l2)}`));
          return 'EINVAL';
        }
      } else {
        if (span === 0 || l2 === 0) continue;
        if (span !== STRTAB_SPLIT + 1) {
          this.dev('err', `kdump: L1[${i}] unsupported span ${span} (vs ${STRTAB_SPLIT + 1})`);
          return 'EINVAL';
        }
      }
    }
    // No L2 table is mapped here: lazily, at master insert (arm_smmu_init_l2_strtab).
    this.strtab = { kind: '2lvl', l1tab: base, numL1: n, l2ptrs: new Array(n).fill(undefined), adopted: true };
    return 0;
  }

  private async adoptLinear(cfgReg: number, base: number): Promise<0 | string> {
    const log2size = Hw.field('STRTAB_BASE_CFG', cfgReg, 'LOG2SIZE');
    let max: number;
    if (this.series === 'v10') {
      max = this.sidBits;
      if (this.features & FEAT.TWO_LVL_STRTAB) max = Math.min(max, 25);
      max = Math.min(max, 31);
    } else {
      max = this.features & FEAT.TWO_LVL_STRTAB ? 25 : this.sidBits;
      max = Math.min(max, 31);
    }
    if (log2size > max) {
      this.dev('err', this.kexecMsg(`unsupported log2size ${log2size} (> ${max})`));
      return 'EINVAL';
    }
    const n = 2 ** log2size;
    if (this.series === 'v10' && base % (n * 64) !== 0) {
      this.dev('err', this.kexecMsg(`unaligned stream table base ${fmtPa(base)}`));
      return 'EINVAL';
    }
    if (!(await this.memremap(base, n * 64))) return 'ENOMEM';
    this.strtab = { kind: 'linear', table: base, numEnts: n, adopted: true };
    return 0;
  }

  // Series v10 patch 1b: reserve the crashed kernel's ASIDs and VMIDs.
  private async scanAndReserve(): Promise<0 | string> {
    const st = this.strtab;
    try {
      if (st.kind === 'linear') {
        for (let sid = 0; sid < st.numEnts; sid++) {
          const r = await this.reserveSte(await this.readCrashed(st.table + 64 * sid, 3));
          if (r !== 0) return r;
        }
        return 0;
      }
      if (st.kind !== '2lvl') return 0;
      const l1 = await this.readCrashed(st.l1tab, st.numL1);
      for (let i = 0; i < st.numL1; i++) {
        const span = Number(L1STD.get([l1[i]!], 'Span'));
        const l2 = Number(l1[i]! & 0x000f_ffff_ffff_ffc0n);
        if (span === 0) continue;
        if (span !== STRTAB_SPLIT + 1) {
          this.dev('err', this.kexecMsg(`L1[${i}] unsupported span ${span} (vs ${STRTAB_SPLIT + 1})`));
          return 'EINVAL';
        }
        if (l2 === 0 || l2 % (STRTAB_NUM_L2_STES * 64) !== 0) {
          this.dev('err', this.kexecMsg(`L1[${i}] bad l2 table base ${fmtPa(l2)}`));
          return 'EINVAL';
        }
        if (!(await this.memremap(l2, STRTAB_NUM_L2_STES * 64))) return 'ENOMEM';
        const stes = await this.readCrashed(l2, STRTAB_NUM_L2_STES * 8);
        for (let s = 0; s < STRTAB_NUM_L2_STES; s++) {
          const r = await this.reserveSte(stes.slice(8 * s, 8 * s + 3));
          if (r !== 0) return r;
        }
      }
      return 0;
    } catch (e) {
      if (e instanceof KernelError) return 'ENOMEM';
      throw e;
    }
  }

  private async reserveSte(w: readonly bigint[]): Promise<0 | string> {
    if (STE.get(w, 'V') === 0n) return 0;
    const cfg = Number(STE.get(w, 'Config'));
    if (cfg === 0 || cfg === 4) return 0;
    if (cfg === 5) return this.reserveS1Asids(w[0]!);
    if (cfg === 6 || cfg === 7) return this.reserveVmid(Number(STE.get(w, 'S2VMID')));
    return 'EINVAL'; // reserved Config 1..3
  }

  private async reserveS1Asids(w0: bigint): Promise<0 | string> {
    const cd = Number(w0 & 0x000f_ffff_ffff_ffc0n);
    const cdmax = Number(STE.get([w0], 'S1CDMax'));
    const fmt = Number(STE.get([w0], 'S1Fmt'));
    if (cd === 0 || cdmax > this.ssidBits) return 'EINVAL';
    if (fmt !== 0 && fmt !== 2) return 'EINVAL';
    if (fmt === 2 && !(this.features & FEAT.TWO_LVL_CDTAB)) return 'EINVAL';
    const ncd = 2 ** cdmax;
    const tableSize = fmt === 0 ? ncd * 64 : Math.ceil(ncd / 1024) * 8;
    if (cd % tableSize !== 0) return 'EINVAL';
    const reserveCds = async (pa: number, count: number): Promise<0 | string> => {
      if (!(await this.memremap(pa, count * 64))) return 'ENOMEM';
      const words = await this.readCrashed(pa, count * 8);
      const cdl = findFormat('cd')!;
      for (let i = 0; i < count; i++) {
        const d = words.slice(8 * i, 8 * i + 1);
        if (cdl.get(d, 'V') === 0n) continue;
        const r = this.reserveAsid(Number(cdl.get(d, 'ASID')));
        if (r !== 0) return r;
      }
      return 0;
    };
    if (fmt === 0) return reserveCds(cd, ncd);
    const nl1 = Math.ceil(ncd / 1024);
    if (!(await this.memremap(cd, nl1 * 8))) return 'ENOMEM';
    const l1 = await this.readCrashed(cd, nl1);
    const leaf = Math.min(ncd, 1024);
    for (const d of l1) {
      if (CD_L1.get([d], 'V') === 0n) continue;
      const l2 = Number(d & 0x000f_ffff_ffff_f000n);
      if (l2 === 0 || l2 % 0x10000 !== 0) return 'EINVAL';
      const r = await reserveCds(l2, leaf);
      if (r !== 0) return r;
    }
    return 0;
  }

  private reserveAsid(asid: number): 0 | string {
    if (asid === 0 || asid >= 2 ** this.asidBits) return 'EINVAL';
    if (!this.asids.has(asid)) this.asids.set(asid, 'reserved');
    return 0;
  }

  private reserveVmid(vmid: number): 0 | string {
    if (vmid === 0 || vmid >= 2 ** this.vmidBits) return 'EINVAL';
    if (!this.vmids.has(vmid)) this.vmids.set(vmid, 'reserved');
    return 0;
  }

  private unreserve(): void {
    this.asids.clear();
    this.vmids.clear();
  }

  /**
   * Driver unbind (series v7 S7d): the devres cleanup frees the adopted mappings using the
   * feature bit only, never touching registers (the SMMU may be powered off by then).
   */
  unbind(): { freed: string } {
    const st = this.strtab;
    this.strtab = { kind: 'none' };
    if (this.features & FEAT.TWO_LVL_STRTAB) return { freed: st.kind === '2lvl' ? `l2ptrs and l1tab (${st.numL1} entries)` : 'l2ptrs' };
    return { freed: st.kind === 'linear' ? `linear table (${st.numEnts} STEs)` : 'nothing' };
  }

  // -----------------------------------------------------------------------------------------
  // Stream table entries

  private sidInRange(sid: number): boolean {
    const st = this.strtab;
    if (st.kind === 'linear') return sid < st.numEnts;
    if (st.kind === '2lvl') return Math.floor(sid / STRTAB_NUM_L2_STES) < st.numL1;
    return false;
  }

  /** arm_smmu_init_sid_strtab: range check, then the L2 table for 2-level tables. */
  async initSidStrtab(sid: number): Promise<0 | string> {
    if (!this.sidInRange(sid)) return 'ERANGE';
    if (this.strtab.kind === '2lvl') return this.initL2Strtab(sid);
    return 0;
  }

  /** arm_smmu_init_l2_strtab, with the series' lazy L2 adoption (v7 patch 1, v10 deltas). */
  private async initL2Strtab(sid: number): Promise<0 | string> {
    const st = this.strtab;
    if (st.kind !== '2lvl') return 0;
    const idx = Math.floor(sid / STRTAB_NUM_L2_STES);
    if (st.l2ptrs[idx] !== undefined) return 0;
    if (this.adopting) {
      const [d] = await this.readCrashed(st.l1tab + 8 * idx, 1);
      const span = Number(L1STD.get([d], 'Span'));
      const base = Number(d & 0x000f_ffff_ffff_ffc0n);
      const live = this.series === 'v10' ? span !== 0 : span !== 0 && base !== 0;
      if (live)
        return inStep(
          this.opts.steps,
          'smmu.lazy_l2',
          () => this.hw.now(),
          { smmu: this.hw.bus.smmu, sid, l1: idx },
          () => this.adoptL2(sid, idx, base, span),
          (r) => (r === 0 ? { adopted: true } : { adopted: false, errno: r }),
        );
    }
    const l2 = this.hw.pages.alloc(STRTAB_NUM_L2_STES * 64);
    if (l2 === undefined) {
      this.dev('err', `failed to allocate l2 stream table for SID ${sid}`);
      return 'ENOMEM';
    }
    const abort = makeAbortSte();
    const words: bigint[] = [];
    for (let i = 0; i < STRTAB_NUM_L2_STES; i++) words.push(...abort);
    await this.hw.writeWords(l2, words);
    st.l2ptrs[idx] = l2;
    // arm_smmu_write_strtab_l1_desc: one 64-bit store (into the live table when adopting).
    await this.writeCrashed(st.l1tab + 8 * idx, L1STD.build({ Span: STRTAB_SPLIT + 1, L2Ptr: BigInt(l2) })[0]!);
    return 0;
  }

  private async adoptL2(sid: number, idx: number, base: number, span: number): Promise<0 | string> {
    const st = this.strtab as Extract<StrtabCfg, { kind: '2lvl' }>;
    if (span !== STRTAB_SPLIT + 1) {
      this.dev(
        'err',
        this.series === 'v10'
          ? `kdump: L1[${idx}] span ${span} changed since adopt (was ${STRTAB_SPLIT + 1})`
          : `kdump: L1[${idx}] span ${span} changed since adopt (was ${STRTAB_SPLIT + 1})`,
      );
      return 'EINVAL';
    }
    const size = 2 ** (span - 1) * 64;
    if (this.series === 'v10' && (base === 0 || base % size !== 0)) {
      this.dev('err', this.kexecMsg(`L1[${idx}] bad l2 table base ${fmtPa(base)}`));
      return 'EINVAL';
    }
    if (!(await this.memremap(base, size))) {
      // devm_memremap: ERR_PTR(-ENXIO) when memremap() returns NULL.
      this.dev('err', `kdump: failed to adopt l2 stream table for SID ${sid}`);
      return 'ENXIO';
    }
    st.l2ptrs[idx] = base;
    return 0;
  }

  /** Physical address of the STE for `sid`, once its table exists. */
  stePa(sid: number): number | undefined {
    const st = this.strtab;
    if (st.kind === 'linear') return sid < st.numEnts ? st.table + 64 * sid : undefined;
    if (st.kind === '2lvl') {
      const l2 = st.l2ptrs[Math.floor(sid / STRTAB_NUM_L2_STES)];
      return l2 === undefined ? undefined : l2 + 64 * (sid % STRTAB_NUM_L2_STES);
    }
    return undefined;
  }

  /** arm_smmu_rmr_install_bypass_ste (series v7 patch 6: skipped when adopting). */
  private async rmrInstallBypassSte(): Promise<void> {
    if (this.adopting) return;
    for (const sid of this.fw.rmrSids) {
      const r = await this.initSidStrtab(sid);
      if (r !== 0) {
        this.dev('err', `RMR SID(0x${sid.toString(16)}) bypass failed`);
        continue;
      }
      // The fresh stream table is not yet live: a plain store of the bypass STE.
      await this.hw.writeWords(this.stePa(sid)!, makeBypassSte(this.steFeatures));
    }
  }

  // -----------------------------------------------------------------------------------------
  // arm_smmu_device_reset and helpers

  private async writeRegSync(value: number, name: string, ack: string): Promise<boolean> {
    return this.hw.writeRegSync(value >>> 0, name, ack);
  }

  /** arm_smmu_update_gbpa: wait Update==0, read-modify-write with Update, wait again. */
  async updateGbpa(set: number, clr: number): Promise<boolean> {
    let r = await this.hw.pollReg('GBPA', (v) => (v & GBPA_UPDATE) === 0);
    if (!r.ok) return false;
    const reg = ((r.value & ~clr) | set) >>> 0;
    await this.hw.writel('GBPA', (reg | GBPA_UPDATE) >>> 0);
    r = await this.hw.pollReg('GBPA', (v) => (v & GBPA_UPDATE) === 0);
    if (!r.ok) this.dev('err', 'GBPA not responding to update');
    return r.ok;
  }

  /**
   * gbpa-bypass, 'stay-disabled': the opening of arm_smmu_device_reset with GBPA set to bypass
   * (ABORT cleared by the update protocol) instead of abort, then CR0 <- 0, and nothing more: no
   * tables, no queues, no iommu_device_register. The twin's reading of the cover letter's case
   * (b); no Linux tree does this, so the only message is the reset's own warning.
   */
  private async bypassAndDisable(): Promise<void> {
    const cr0 = await this.hw.readl('CR0');
    if (cr0 & CR0.SMMUEN) this.dev('warn', 'SMMU currently enabled! Resetting...');
    await this.updateGbpa(0, GBPA_ABORT);
    await this.deviceDisable();
  }

  /** arm_smmu_device_disable: CR0 <- 0, synced. */
  async deviceDisable(): Promise<boolean> {
    const ok = await this.writeRegSync(0, 'CR0', 'CR0ACK');
    if (!ok) this.dev('err', 'failed to clear cr0');
    return ok;
  }

  async deviceReset(): Promise<ProbeOutcome> {
    const fail = (reason: string): ProbeOutcome => {
      this.dev('err', reason);
      return { ok: false, errno: 'ETIMEDOUT', reason };
    };
    let enables = 0;
    const cr0 = await this.hw.readl('CR0');
    const series = this.series !== undefined;
    if (this.adopting) {
      // series v7 patch 5: keep SMMUEN (and ATSCHK); v10: every live field but queue enables.
      this.dev('info', 'kdump: retaining SMMUEN for in-flight DMA');
      enables = this.series === 'v10' ? cr0 & ~(CR0.CMDQEN | CR0.EVTQEN | CR0.PRIQEN) : cr0 & (CR0.SMMUEN | CR0.ATSCHK);
    } else {
      if (cr0 & CR0.SMMUEN) {
        this.dev('warn', 'SMMU currently enabled! Resetting...');
        // gbpa-bypass 'reset-window' (cover letter case (b)): the window bypasses instead of aborting.
        if (this.policy === 'gbpa-bypass') await this.updateGbpa(0, GBPA_ABORT);
        else await this.updateGbpa(GBPA_ABORT, 0);
      }
      if (!(await this.deviceDisable())) return { ok: false, errno: 'ETIMEDOUT', reason: 'failed to clear cr0' };
      await this.hw.writel('CR1', Hw.value('CR1', { TABLE_SH: 'ISH', TABLE_OC: 'WB', TABLE_IC: 'WB', QUEUE_SH: 'ISH', QUEUE_OC: 'WB', QUEUE_IC: 'WB' }));
      await this.hw.writel('CR2', Hw.value('CR2', { PTM: 1, RECINVSID: 1, E2H: this.features & FEAT.E2H ? 1 : 0 }));
      await this.writeStrtab();
    }
    if (this.adopting) {
      if (!(await this.writeRegSync(enables, 'CR0', 'CR0ACK'))) return fail('failed to disable queues');
    }
    if (this.kdump && series) {
      // series v7 patch 5: acknowledge latched global errors before enabling the new CMDQ.
      const g = await this.hw.readl('GERROR');
      const gn = await this.hw.readl('GERRORN');
      if ((g ^ gn) & GERROR_ERR_MASK) await this.hw.writel('GERRORN', g);
    }
    await this.hw.writeq('CMDQ_BASE', this.cmdq.qBase);
    await this.hw.writel('CMDQ_PROD', this.cmdq.prod);
    await this.hw.writel('CMDQ_CONS', this.cmdq.cons);
    enables |= CR0.CMDQEN;
    if (!(await this.writeRegSync(enables, 'CR0', 'CR0ACK'))) return fail('failed to enable command queue');
    await this.issueCmdWithSync('cmd-CFGI_ALL', {});
    if (this.features & FEAT.HYP) await this.issueCmdWithSync('cmd-TLBI_EL2_ALL', {});
    await this.issueCmdWithSync('cmd-TLBI_NSNH_ALL', {});
    // Event and PRI queues: never set up in a kdump kernel with the series (v7 patch 4).
    const skipQueues = this.kdump && series;
    if (!skipQueues && this.hasEvtq) {
      await this.hw.writeq('EVENTQ_BASE', this.evtq.qBase);
      await this.hw.writel('EVENTQ_PROD', this.evtq.prod);
      await this.hw.writel('EVENTQ_CONS', this.evtq.cons);
      enables |= CR0.EVTQEN;
      if (!(await this.writeRegSync(enables, 'CR0', 'CR0ACK'))) return fail('failed to enable event queue');
    }
    if (!skipQueues && this.features & FEAT.PRI) {
      await this.hw.writeq('PRIQ_BASE', this.priq.qBase);
      await this.hw.writel('PRIQ_PROD', this.priq.prod);
      await this.hw.writel('PRIQ_CONS', this.priq.cons);
      enables |= CR0.PRIQEN;
      if (!(await this.writeRegSync(enables, 'CR0', 'CR0ACK'))) return fail('failed to enable PRI queue');
    }
    if (!this.adopting && this.features & FEAT.ATS) {
      enables |= CR0.ATSCHK;
      if (!(await this.writeRegSync(enables, 'CR0', 'CR0ACK'))) return fail('failed to enable ATS check');
    }
    if (!(await this.setupIrqs())) return fail('failed to setup irqs');
    // Mainline kdump: fault reporting suppressed by dropping the queue enables before SMMUEN.
    if (this.kdump && !series) enables &= ~(CR0.EVTQEN | CR0.PRIQEN);
    enables |= CR0.SMMUEN;
    if (!(await this.writeRegSync(enables, 'CR0', 'CR0ACK'))) return fail('failed to enable SMMU interface');
    return { ok: true };
  }

  /** arm_smmu_write_strtab: STRTAB_BASE and STRTAB_BASE_CFG for the fresh table. */
  private async writeStrtab(): Promise<void> {
    const st = this.strtab;
    if (st.kind === 'linear') {
      await this.hw.writeq('STRTAB_BASE', findFormat('STRTAB_BASE')!.build({ RA: 1, ADDR: BigInt(st.table) })[0]!);
      await this.hw.writel('STRTAB_BASE_CFG', Hw.value('STRTAB_BASE_CFG', { FMT: 'LINEAR', LOG2SIZE: this.sidBits }));
    } else if (st.kind === '2lvl') {
      await this.hw.writeq('STRTAB_BASE', findFormat('STRTAB_BASE')!.build({ RA: 1, ADDR: BigInt(st.l1tab) })[0]!);
      await this.hw.writel(
        'STRTAB_BASE_CFG',
        Hw.value('STRTAB_BASE_CFG', { FMT: 'TWO_LEVEL', LOG2SIZE: Math.log2(st.numL1) + STRTAB_SPLIT, SPLIT: STRTAB_SPLIT }),
      );
    }
  }

  /**
   * arm_smmu_setup_msis: clear the CFG0s; with an MSI domain, program doorbell, data, attrs.
   * Returns whether the evtq/gerror/priq interrupts are MSIs (else the wired lines, if any).
   */
  private async setupMsis(): Promise<boolean> {
    await this.hw.writeq('GERROR_IRQ_CFG0', 0n);
    await this.hw.writeq('EVENTQ_IRQ_CFG0', 0n);
    if (this.features & FEAT.PRI) await this.hw.writeq('PRIQ_IRQ_CFG0', 0n);
    if (!(this.features & FEAT.MSI)) return false;
    if (!this.fw.msiDomain) {
      this.dev('info', 'msi_domain absent - falling back to wired irqs');
      return false;
    }
    const vectors: [string, number][] = [
      ['EVENTQ', 0],
      ['GERROR', 1],
    ];
    if (this.features & FEAT.PRI) vectors.push(['PRIQ', 2]);
    for (const [q, data] of vectors) {
      await this.hw.writeq(`${q}_IRQ_CFG0`, BigInt(this.fw.msiDoorbell));
      await this.hw.writel(`${q}_IRQ_CFG1`, data);
      await this.hw.writel(`${q}_IRQ_CFG2`, 1); // ARM_SMMU_MEMATTR_DEVICE_nGnRE
    }
    return true;
  }

  /** devm_request_(threaded_)irq: fails only by fault injection (`failIrqRequest`). */
  private requestIrq(name: IrqName): boolean {
    return !(this.opts.failIrqRequest ?? []).includes(name);
  }

  /**
   * arm_smmu_setup_unique_irqs: 6.12 requests evtq, gerror, then priq; the series requests
   * gerror first and, in a kdump kernel, stops there (v7 patch 3; v10 gates evtq/priq by
   * FEAT_EVTQ/FEAT_PRI, cleared in kdump). A line that is neither an MSI nor wired is absent.
   */
  private async setupUniqueIrqs(): Promise<void> {
    const msi = await this.setupMsis();
    const present = (l: 'eventq' | 'priq' | 'gerror') => msi || this.fw.irqLines.includes(l);
    const evtq = () => {
      if (!present('eventq')) this.dev('warn', 'no evtq irq - events will not be reported!');
      else if (!this.requestIrq('eventq')) this.dev('warn', 'failed to enable evtq irq');
      else this.irqs.evtq = true;
    };
    const gerror = () => {
      if (!present('gerror')) this.dev('warn', 'no gerr irq - errors will not be reported!');
      else if (!this.requestIrq('gerror')) this.dev('warn', 'failed to enable gerror irq');
      else this.irqs.gerror = true;
    };
    const priq = () => {
      if (!(this.features & FEAT.PRI)) return;
      if (!present('priq')) this.dev('warn', 'no priq irq - PRI will be broken');
      else if (!this.requestIrq('priq')) this.dev('warn', 'failed to enable priq irq');
      else this.irqs.priq = true;
    };
    if (!this.series) {
      evtq();
      gerror();
      priq();
      return;
    }
    gerror();
    if (this.kdump && this.series === 'v7') return;
    if (this.hasEvtq) evtq();
    priq();
  }

  /** arm_smmu_setup_irqs (series v7 patch 3: gerror only in a kdump kernel with the series). */
  private async setupIrqs(): Promise<boolean> {
    if (!(await this.writeRegSync(0, 'IRQ_CTRL', 'IRQ_CTRLACK'))) {
      this.dev('err', 'failed to disable irqs');
      return false;
    }
    const series = this.kdump && this.series !== undefined;
    if (this.fw.combinedIrq) {
      // v7: a plain handler in kdump; v10: always threaded, the thread gated by FEAT_EVTQ/PRI.
      if (!this.requestIrq('combined')) this.dev('warn', 'failed to enable combined irq');
      else this.irqs.combined = series && this.series === 'v7' ? 'plain' : 'threaded';
    } else await this.setupUniqueIrqs();
    let enables = IRQ.GERROR;
    if (!series) {
      if (this.hasEvtq) enables |= IRQ.EVTQ;
      if (this.features & FEAT.PRI) enables |= IRQ.PRIQ;
    }
    if (!(await this.writeRegSync(enables, 'IRQ_CTRL', 'IRQ_CTRLACK'))) this.dev('warn', 'failed to enable irqs');
    return true;
  }

  // -----------------------------------------------------------------------------------------
  // Command queue

  /** A command's words through the smmu-arch table (arm_smmu_cmdq_build_cmd). */
  static cmd(format: string, fields: Record<string, number | bigint | string>): bigint[] {
    return findFormat(format)!.build(fields);
  }

  private qIdx(q: Queue, v: number): number {
    return v & (2 ** q.shift - 1);
  }

  private qWrp(q: Queue, v: number): number {
    return Math.floor(v / 2 ** q.shift) & 1;
  }

  /** queue_consumed(): CONS has passed `prod`. */
  private consumed(q: Queue, cons: number, prod: number): boolean {
    return (
      (this.qWrp(q, cons) === this.qWrp(q, prod) && this.qIdx(q, cons) > this.qIdx(q, prod)) ||
      (this.qWrp(q, cons) !== this.qWrp(q, prod) && this.qIdx(q, cons) <= this.qIdx(q, prod))
    );
  }

  private space(q: Queue): number {
    const size = 2 ** q.shift;
    const used = (q.prod - q.cons + 2 * size) % (2 * size);
    return size - used;
  }

  /**
   * arm_smmu_cmdq_issue_cmdlist for one CPU: wait for space, write the commands (and a CMD_SYNC
   * whose MSI targets its own slot with MSIPOLL, else CS=SEV), publish PROD, and wait for the
   * sync: poll the slot's first word until 0, or CMDQ_CONS until it passes the sync.
   */
  async issueCmdlist(cmds: readonly bigint[][], sync: boolean): Promise<boolean> {
    const q = this.cmdq;
    const size = 2 ** q.shift;
    const need = cmds.length + (sync ? 1 : 0);
    if (this.space(q) < need) {
      const r = await this.hw.pollReg('CMDQ_CONS', (v) => {
        q.cons = v & (2 * size - 1);
        return this.space(q) >= need;
      });
      if (!r.ok) this.dev('err', 'CMDQ timeout');
    }
    const wrap = (v: number) => (v + 1) % (2 * size);
    for (const c of cmds) {
      await this.hw.writeWords(q.base + 16 * this.qIdx(q, q.prod), c);
      q.prod = wrap(q.prod);
    }
    let syncProd = -1;
    let syncSlot = 0;
    if (sync) {
      syncProd = q.prod;
      syncSlot = q.base + 16 * this.qIdx(q, q.prod);
      const msipoll = (this.options & OPT.MSIPOLL) !== 0;
      const c = msipoll
        ? ArmSmmuDevice.cmd('cmd-CMD_SYNC', { CS: 'IRQ', MSH: 'ISH', MSIAttr: 0xf, MSIData: 0, MSIAddress: BigInt(syncSlot) })
        : ArmSmmuDevice.cmd('cmd-CMD_SYNC', { CS: 'SEV', MSH: 'ISH', MSIAttr: 0xf });
      await this.hw.writeWords(syncSlot, c);
      q.prod = wrap(q.prod);
    }
    await this.hw.writel('CMDQ_PROD', q.prod);
    if (!sync) return true;
    let ok: boolean;
    if (this.options & OPT.MSIPOLL) {
      ok = (await this.hw.pollMem32(syncSlot, (v) => v === 0)).ok;
      if (ok) q.cons = wrap(syncProd);
    } else {
      ok = (
        await this.hw.pollReg('CMDQ_CONS', (v) => {
          q.cons = v & (2 * size - 1);
          return this.consumed(q, q.cons, syncProd);
        })
      ).ok;
    }
    if (!ok) {
      const hwprod = await this.hw.readl('CMDQ_PROD');
      const hwcons = await this.hw.readl('CMDQ_CONS');
      this.dev(
        'err',
        `CMD_SYNC timeout at 0x${syncProd.toString(16).padStart(8, '0')} [hwprod 0x${hwprod.toString(16).padStart(8, '0')}, hwcons 0x${hwcons.toString(16).padStart(8, '0')}]`,
      );
    }
    await this.hw.serviceInterrupts();
    return ok;
  }

  /**
   * arm_smmu_cmdq_batch_add for each command, then arm_smmu_cmdq_batch_submit: a full batch of
   * CMDQ_BATCH_ENTRIES goes out without a sync; with CMDQ_FORCE_SYNC (MMU-700) the 64th command
   * first makes the 63 before it go out with one.
   */
  async issueBatch(cmds: readonly bigint[][]): Promise<boolean> {
    let batch: bigint[][] = [];
    for (const c of cmds) {
      if (batch.length === CMDQ_BATCH_ENTRIES - 1 && this.options & OPT.CMDQ_FORCE_SYNC) {
        await this.issueCmdlist(batch, true);
        batch = [];
      }
      if (batch.length === CMDQ_BATCH_ENTRIES) {
        await this.issueCmdlist(batch, false);
        batch = [];
      }
      batch.push(c);
    }
    return this.issueCmdlist(batch, true);
  }

  async issueCmdWithSync(format: string, fields: Record<string, number | bigint | string>): Promise<boolean> {
    return this.issueCmdlist([ArmSmmuDevice.cmd(format, fields)], true);
  }

  // -----------------------------------------------------------------------------------------
  // Interrupt handlers

  /**
   * The CPU takes an interrupt. CMD_SYNC completions (a SEV event, the MSI-poll store into the
   * sync slot) are no interrupt line and run no handler. The combined line is a wire carrying
   * GERROR, EVENTQ and PRIQ; otherwise each source runs its own registered handler.
   */
  async interrupt(e: BusInterrupt): Promise<void> {
    if (e.source === 'CMD_SYNC') return;
    if (this.irqs.combined) {
      if (e.kind !== 'wired') return;
      const result = await this.combinedIrqHandler();
      const thread = result === 'IRQ_WAKE_THREAD';
      if (thread) await this.evtqThread(); // arm_smmu_combined_irq_thread (PRIQ thread not modelled)
      this.irqLog.push({ time: e.time, source: e.source, handler: 'combined', result, thread });
      return;
    }
    if (e.source === 'GERROR' && this.irqs.gerror) {
      const result = await this.gerrorHandler();
      this.irqLog.push({ time: e.time, source: e.source, handler: 'gerror', result, thread: false });
    } else if (e.source === 'EVENTQ' && this.irqs.evtq) {
      await this.evtqThread();
      this.irqLog.push({ time: e.time, source: e.source, handler: 'evtq', result: 'IRQ_HANDLED', thread: true });
    }
  }

  /**
   * arm_smmu_combined_irq_handler (top half): the gerror handler, then IRQ_WAKE_THREAD; in a
   * kdump kernel with v7 (plain handler, no thread) the gerror result; with v10 the gerror
   * result whenever neither FEAT_EVTQ nor FEAT_PRI is set.
   */
  async combinedIrqHandler(): Promise<IrqReturn> {
    const r = await this.gerrorHandler();
    if (this.irqs.combined === 'plain') return r;
    if (this.series === 'v10' && !this.hasEvtq && !(this.features & FEAT.PRI)) return r;
    return 'IRQ_WAKE_THREAD';
  }

  /** arm_smmu_gerror_handler. Returns IRQ_NONE / IRQ_HANDLED. */
  async gerrorHandler(): Promise<IrqReturn> {
    const gerror = await this.hw.readl('GERROR');
    const gerrorn = await this.hw.readl('GERRORN');
    const active = (gerror ^ gerrorn) >>> 0;
    if (!(active & GERROR_ERR_MASK)) return 'IRQ_NONE';
    this.dev('warn', `unexpected global error reported (0x${active.toString(16).padStart(8, '0')}), this could be serious`);
    if (active & (1 << 8)) {
      this.dev('err', 'device has entered Service Failure Mode!');
      await this.deviceDisable();
    }
    if (active & (1 << 7)) this.dev('warn', 'GERROR MSI write aborted');
    if (active & (1 << 6)) this.dev('warn', 'PRIQ MSI write aborted');
    if (active & (1 << 5)) this.dev('warn', 'EVTQ MSI write aborted');
    if (active & (1 << 4)) this.dev('warn', 'CMDQ MSI write aborted');
    if (active & (1 << 3)) this.dev('err', 'PRIQ write aborted -- events may have been lost');
    if (active & (1 << 2)) this.dev('err', 'EVTQ write aborted -- events may have been lost');
    if (active & 1) await this.cmdqSkipErr();
    await this.hw.writel('GERRORN', gerror);
    return 'IRQ_HANDLED';
  }

  /** __arm_smmu_cmdq_skip_err: report, and turn an illegal command into a CMD_SYNC. */
  private async cmdqSkipErr(): Promise<void> {
    const cons = await this.hw.readl('CMDQ_CONS');
    const idx = Hw.field('CMDQ_CONS', cons, 'ERR');
    const names = ['No error', 'Illegal command', 'Abort on command fetch', 'ATC invalidate timeout'];
    this.dev('err', `CMDQ error (cons 0x${cons.toString(16).padStart(8, '0')}): ${names[idx] ?? 'Unknown'}`);
    if (idx === 2) {
      this.dev('err', 'retrying command fetch');
      return;
    }
    if (idx === 0 || idx === 3) return;
    const q = this.cmdq;
    const slot = q.base + 16 * this.qIdx(q, cons & (2 * 2 ** q.shift - 1));
    const cmd = await this.hw.readWords(slot, 2);
    this.dev('err', 'skipping command in error state:');
    for (const w of cmd) this.dev('err', `\t0x${w.toString(16).padStart(16, '0')}`);
    // arm_smmu_cmdq_build_cmd(CMD_SYNC) with no MSI address: CS=SEV, MSH=ISH, MSIATTR=OIWB.
    // CS=NONE only for a queue that needs busy polling (tegra241 CMDQV's), never the main CMDQ.
    await this.hw.writeWords(slot, ArmSmmuDevice.cmd('cmd-CMD_SYNC', { CS: 'SEV', MSH: 'ISH', MSIAttr: 0xf }));
  }

  /**
   * arm_smmu_evtq_thread (6.12): queue_remove_raw() drains against the cached PROD, advancing
   * CONS and writing it out after every record (queue_sync_cons_out); then queue_sync_prod_in()
   * reads PROD (an OVFLG change is an overflow) and the loop repeats until empty; finally
   * queue_sync_cons_ovf() acknowledges the overflow flag with one more CONS write if needed.
   */
  async evtqThread(): Promise<number> {
    const q = this.evtq;
    if (!this.hasEvtq || q.base === 0) return 0;
    const mask = 2 * 2 ** q.shift - 1; // WRP | IDX
    const OVF = 0x8000_0000;
    const empty = () => (q.prod & mask) === (q.cons & mask);
    let drained = 0;
    do {
      while (!empty()) {
        const evt = await this.hw.readWords(q.base + 32 * this.qIdx(q, q.cons), 4);
        q.cons = ((q.cons & OVF) | (((q.cons & mask) + 1) & mask)) >>> 0;
        await this.hw.writel('EVENTQ_CONS', q.cons);
        const id = Number(evt[0]! & 0xffn);
        this.dev('info', `event 0x${id.toString(16).padStart(2, '0')} received:`);
        for (const w of evt) this.dev('info', `\t0x${w.toString(16).padStart(16, '0')}`);
        drained++;
      }
      const prod = await this.hw.readl('EVENTQ_PROD');
      if ((prod & OVF) !== (q.prod & OVF)) this.dev('err', 'EVTQ overflow detected -- events lost');
      q.prod = prod >>> 0;
    } while (!empty());
    if ((q.prod & OVF) !== (q.cons & OVF)) {
      q.cons = ((q.prod & OVF) | (q.cons & mask)) >>> 0;
      await this.hw.writel('EVENTQ_CONS', q.cons);
    }
    return drained;
  }

  // -----------------------------------------------------------------------------------------
  // Masters: probe_device, is_attach_deferred, STE writes

  /**
   * arm_smmu_probe_device → arm_smmu_insert_master: every SID's table (range check against the
   * adopted geometry, lazy L2), then the iommu core's is_attach_deferred().
   */
  async probeDevice(spec: MasterSpec): Promise<{ ok: true; master: Master } | { ok: false; errno: string }> {
    if (!this.registered) return { ok: false, errno: 'ENODEV' };
    for (const sid of spec.sids) {
      const r = await this.initSidStrtab(sid);
      if (r !== 0) return { ok: false, errno: r };
    }
    const master: Master = { ...spec, attachDeferred: false, steShadow: new Map() };
    for (const sid of spec.sids) master.steShadow.set(sid, await this.readCrashed(this.stePa(sid)!, 8));
    master.attachDeferred = await this.isAttachDeferred(master);
    this.masters.set(spec.name, master);
    return { ok: true, master };
  }

  /** Series v7 patch 2: defer while any of the master's STEs is live (V=1, Config != abort). */
  async isAttachDeferred(m: Master): Promise<boolean> {
    if (!this.adopting) return false;
    for (const sid of m.sids) {
      const [w0] = await this.readCrashed(this.stePa(sid)!, 1);
      if (STE.get([w0], 'V') === 1n && STE.get([w0], 'Config') !== 0n) return true;
    }
    return false;
  }

  /**
   * Writes `target` into the live STE of `sid` with Linux's entry writer: each sync is
   * CFGI_STE(sid, leaf) + CMD_SYNC; then one PREFETCH_CONFIG unless SKIP_PREFETCH.
   */
  async writeSte(master: Master, sid: number, target: readonly bigint[]): Promise<number> {
    const pa = this.stePa(sid);
    if (pa === undefined) throw new KernelError('ERANGE', `no STE for SID ${sid}`);
    // The table may be the crashed kernel's (adopted): loads and stores through its mapping.
    const entry = await this.readCrashed(pa, 8);
    const r = await writeEntry(
      {
        used: steUsed,
        write: (i, v) => this.writeCrashed(pa + 8 * i, v),
        sync: async () => void (await this.issueCmdlist([ArmSmmuDevice.cmd('cmd-CFGI_STE', { StreamID: sid, Leaf: 1 })], true)),
      },
      entry,
      target,
    );
    for (const w of r.warnings) this.dev('warn', w);
    master.steShadow.set(sid, entry);
    if (!(this.options & OPT.SKIP_PREFETCH)) await this.issueCmdlist([ArmSmmuDevice.cmd('cmd-PREFETCH_CONFIG', { StreamID: sid })], false);
    return r.syncs;
  }
}
