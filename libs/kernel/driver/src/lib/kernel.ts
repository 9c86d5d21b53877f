// SPDX-License-Identifier: Apache-2.0
// A Linux kernel as far as the SMMU is concerned: the arm-smmu-v3 driver, the iommu core's
// probe/default-domain/deferred-attach logic (drivers/iommu/iommu.c), and the DMA API an
// endpoint driver uses (dma-iommu, or dma-direct for a device without an IOMMU group or with an
// identity domain). One instance is the primary kernel; after the crash another, with its own
// memory (the crashkernel carve-out) and a kdump policy, takes over the same SMMU.
//
// Per-device failures a driver can hit (ID exhaustion, -ENOMEM, -EFAULT, -ERANGE...) come back
// as an errno, never as an exception: probeDevice, firstDmaUse, dmaMapResult and dmaUnmap do
// not throw a KernelError. Anything else (a bug, or a bus that halts the CPU) still propagates.

import { inStep } from './steps';
import type { BusPort } from './bus';
import { ArmSmmuDevice, type DriverOptions, type Master, type MasterSpec, type ProbeOutcome } from './device';
import { Domain, DomainOps, type DomainType } from './domain';
import { KernelError } from './hw';

export interface DeviceProbe {
  readonly name: string;
  /** probe_device and the default domain succeeded: the device has an IOMMU group. */
  readonly grouped: boolean;
  /** Why the device has no group (then it uses dma-direct): -ENODEV without an IOMMU, -ERANGE, -ENOSPC... */
  readonly errno?: string;
  /** is_attach_deferred() said yes: the default domain is not attached yet. */
  readonly deferred: boolean;
  readonly domain?: string;
}

/** What dma_map_single() returns an endpoint driver: the DMA address, or DMA_MAPPING_ERROR with why. */
export type DmaMapResult = { readonly ok: true; readonly iova: number } | { readonly ok: false; readonly errno: string; readonly reason: string };

function failure(e: unknown): { ok: false; errno: string; reason: string } {
  if (e instanceof KernelError) return { ok: false, errno: e.errno, reason: e.message };
  throw e;
}

export class LinuxKernel {
  readonly smmu: ArmSmmuDevice;
  readonly domains: DomainOps;
  private readonly defaults = new Map<string, Domain>();
  /** Devices probed without an IOMMU group: the DMA API is dma-direct for them (DMA address = PA). */
  private readonly direct = new Map<string, string>();
  probeResult: ProbeOutcome | undefined;

  private readonly groups: { next: number };

  constructor(bus: BusPort, opts: DriverOptions) {
    this.smmu = new ArmSmmuDevice(bus, opts);
    this.domains = new DomainOps(this.smmu);
    this.groups = opts.groups ?? { next: 0 };
  }

  /**
   * iommu_subsys_init's lines, which a kernel prints once at boot before any IOMMU driver
   * probes: the default domain type, and the invalidation policy of DMA domains: strict
   * (CONFIG_IOMMU_DEFAULT_DMA_STRICT, Debian's, or iommu.strict=1) or lazy (iommu.strict=0:
   * DMA-FQ default domains, see DriverOptions.strict), "(set via kernel command line)" when
   * the command line chose it.
   */
  static iommuSubsysInit(log: { log(level: 'info', device: string, text: string): void }, passthrough: boolean, strict = true): void {
    log.log('info', '', passthrough ? 'iommu: Default domain type: Passthrough (set via kernel command line)' : 'iommu: Default domain type: Translated');
    if (!passthrough) log.log('info', '', `iommu: DMA domain TLB invalidation policy: ${strict ? 'strict mode' : 'lazy mode (set via kernel command line)'}`);
  }

  get log() {
    return this.smmu.log;
  }

  get trace() {
    return this.smmu.trace;
  }

  /** arm_smmu_device_probe. */
  async probeSmmu(): Promise<ProbeOutcome> {
    const hw = this.smmu.hw;
    this.probeResult = await inStep(
      this.smmu.opts.steps,
      'smmu.probe',
      () => hw.now(),
      { smmu: hw.bus.smmu, kernel: hw.kernel },
      () => this.smmu.probe(),
      (o) => (o.ok ? { ok: true } : { ok: false, errno: o.errno }),
    );
    return this.probeResult;
  }

  private ungrouped(spec: MasterSpec, errno: string): DeviceProbe {
    this.direct.set(spec.name, errno);
    return { name: spec.name, grouped: false, deferred: false, errno };
  }

  /**
   * iommu_probe_device for one endpoint: probe_device (insert_master), then the default domain
   * (6.12 finalises it, taking its ASID/VMID, at this allocation), attached now unless
   * is_attach_deferred() (series v7 patch 2) said to wait. Without a registered IOMMU, or when
   * probe_device or the default domain fails, the device gets no group and uses dma-direct.
   */
  async probeDevice(spec: MasterSpec, defaultType?: DomainType): Promise<DeviceProbe> {
    if (!this.probeResult?.ok || !this.smmu.registered) return this.ungrouped(spec, 'ENODEV');
    let r: Awaited<ReturnType<ArmSmmuDevice['probeDevice']>>;
    try {
      r = await this.smmu.probeDevice(spec);
    } catch (e) {
      return this.ungrouped(spec, failure(e).errno);
    }
    if (!r.ok) return this.ungrouped(spec, r.errno);
    // iommu_group_add_device (arm_smmu_device_group: a PCI device gets a group of its own here).
    this.log.log('info', `${spec.driver ?? 'pci'} ${spec.name}`, `Adding to iommu group ${this.groups.next++}`);
    const type = defaultType ?? (this.smmu.passthrough ? 'identity' : 'dma');
    let d: Domain;
    try {
      d = await this.domains.alloc(type);
    } catch (e) {
      // iommu_setup_default_domain failed: the device leaves the group again (release_device).
      this.smmu.masters.delete(spec.name);
      return this.ungrouped(spec, failure(e).errno);
    }
    // iommu_setup_default_domain -> iommu_create_device_direct_mappings: the SMMU's reserved
    // regions (its software MSI window at least) are never empty, so a DMA-API domain is flushed
    // (iommu_flush_iotlb_all) before the attach, also when the attach is deferred.
    if (type === 'dma') await this.domains.tlbInvContext(d);
    this.direct.delete(spec.name);
    this.defaults.set(spec.name, d);
    if (!r.master.attachDeferred) {
      try {
        await this.domains.attach(r.master, d);
      } catch (e) {
        // iommu_setup_default_domain: a driver must not fail the first attach (WARN_ON), and
        // __iommu_probe_device unwinds: release_device puts the STEs back to blocked
        // (arm_smmu_release_device), and iommu_deinit_device frees the group's default domain
        // (free_io_pgtable_ops flushes its ASID or VMID; the ID is released). The device has no
        // group: its DMA API is dma-direct.
        const errno = failure(e).errno;
        this.log.log('warn', '', 'WARNING: CPU: 0 PID: 1 at drivers/iommu/iommu.c iommu_setup_default_domain');
        await this.domains.release(r.master);
        await this.domains.free(d);
        this.defaults.delete(spec.name);
        await this.smmu.hw.serviceInterrupts();
        return this.ungrouped(spec, errno);
      }
    }
    await this.smmu.hw.serviceInterrupts();
    return { name: spec.name, grouped: true, deferred: r.master.attachDeferred, domain: r.master.domain };
  }

  /** The default domain the iommu core allocated for `name` at probe (attached or not yet). */
  defaultDomain(name: string): Domain | undefined {
    return this.defaults.get(name);
  }

  master(name: string): Master | undefined {
    return this.smmu.masters.get(name);
  }

  /**
   * iommu_deferred_attach on the driver's first DMA-API use (dma-iommu): true when the deferred
   * default domain was attached now. A failed attach returns false and is kept in
   * `master.attachError` (the DMA API then fails with it).
   */
  async firstDmaUse(name: string): Promise<boolean> {
    const m = this.master(name);
    if (!m || !m.attachDeferred) return false;
    const hw = this.smmu.hw;
    return inStep(
      this.smmu.opts.steps,
      'smmu.deferred_attach',
      () => hw.now(),
      { smmu: hw.bus.smmu, device: name },
      async () => {
        try {
          await this.domains.attach(m, this.defaults.get(name)!);
          m.attachError = undefined;
          return true;
        } catch (e) {
          m.attachError = failure(e).errno;
          return false;
        }
      },
      (ok) => (ok ? { ok: true } : { ok: false, errno: m.attachError ?? 'EINVAL' }),
    );
  }

  /**
   * dma_map_single for an endpoint driver: attaches a deferred default domain first. A device
   * without an IOMMU group (no SMMU driver, a failed probe_device such as -ERANGE, the SMMU left
   * disabled) or with an identity domain goes through dma-direct: the DMA address is the PA, so
   * its DMA meets whatever the SMMU does with untranslated addresses.
   */
  async dmaMapResult(name: string, pa: number, size: number): Promise<DmaMapResult> {
    if (this.direct.has(name)) return { ok: true, iova: pa };
    const m = this.master(name);
    if (!m) return { ok: false, errno: 'ENODEV', reason: `${name} was never probed` };
    if (m.attachDeferred && !(await this.firstDmaUse(name))) return { ok: false, errno: m.attachError ?? 'EINVAL', reason: 'iommu_deferred_attach failed' };
    const d = this.domains.domainOf(m);
    if (!d) return { ok: false, errno: m.attachError ?? 'ENODEV', reason: `${name} has no attached domain` };
    if (d.type === 'identity' || d.type === 'blocked') return { ok: true, iova: pa };
    try {
      return { ok: true, iova: await this.domains.dmaMap(m, pa, size) };
    } catch (e) {
      return failure(e);
    }
  }

  /** dma_map_single as a throwing call (existing callers): the DMA address, or a KernelError. */
  async dmaMap(name: string, pa: number, size: number): Promise<number> {
    const r = await this.dmaMapResult(name, pa, size);
    if (!r.ok) throw new KernelError(r.errno as KernelError['errno'], r.reason);
    return r.iova;
  }

  /** dma_unmap_single: nothing to undo for dma-direct or an identity domain. */
  async dmaUnmap(name: string, iova: number, size: number): Promise<{ ok: true } | { ok: false; errno: string; reason: string }> {
    if (this.direct.has(name)) return { ok: true };
    const m = this.master(name);
    const d = m && this.domains.domainOf(m);
    if (!m || !d) return { ok: false, errno: 'ENODEV', reason: `${name} has no attached domain` };
    if (d.type === 'identity' || d.type === 'blocked') return { ok: true };
    try {
      await this.domains.dmaUnmap(m, iova, size);
      return { ok: true };
    } catch (e) {
      return failure(e);
    }
  }

  /** Runs the interrupt handlers of whatever the SMMU raised (the CPU taking pending IRQs). */
  async serviceInterrupts(): Promise<void> {
    await this.smmu.hw.serviceInterrupts();
  }
}
