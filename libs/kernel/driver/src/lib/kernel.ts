// SPDX-License-Identifier: Apache-2.0
// A Linux kernel as far as the SMMU is concerned: the arm-smmu-v3 driver, the iommu core's
// probe/default-domain/deferred-attach logic (drivers/iommu/iommu.c), and the DMA API an
// endpoint driver uses. One instance is the primary kernel; after the crash another, with its
// own memory (the crashkernel carve-out) and a kdump policy, takes over the same SMMU.

import type { BusPort } from './bus';
import { ArmSmmuDevice, type DriverOptions, type Master, type MasterSpec, type ProbeOutcome } from './device';
import { Domain, DomainOps, type DomainType } from './domain';

export interface DeviceProbe {
  readonly name: string;
  /** probe_device succeeded: the device has an IOMMU group. */
  readonly grouped: boolean;
  readonly errno?: string;
  /** is_attach_deferred() said yes: the default domain is not attached yet. */
  readonly deferred: boolean;
  readonly domain?: string;
}

export class LinuxKernel {
  readonly smmu: ArmSmmuDevice;
  readonly domains: DomainOps;
  private readonly defaults = new Map<string, Domain>();
  probeResult: ProbeOutcome | undefined;

  constructor(bus: BusPort, opts: DriverOptions) {
    this.smmu = new ArmSmmuDevice(bus, opts);
    this.domains = new DomainOps(this.smmu);
  }

  get log() {
    return this.smmu.log;
  }

  get trace() {
    return this.smmu.trace;
  }

  /** arm_smmu_device_probe. */
  async probeSmmu(): Promise<ProbeOutcome> {
    this.probeResult = await this.smmu.probe();
    return this.probeResult;
  }

  /**
   * iommu_probe_device for one endpoint: probe_device (insert_master), then the default domain,
   * attached now unless is_attach_deferred() (series v7 patch 2) said to wait.
   */
  async probeDevice(spec: MasterSpec, defaultType?: DomainType): Promise<DeviceProbe> {
    if (!this.probeResult?.ok || this.smmu.policy === 'no-smmu-driver') return { name: spec.name, grouped: false, deferred: false, errno: 'ENODEV' };
    const r = await this.smmu.probeDevice(spec);
    if (!r.ok) return { name: spec.name, grouped: false, deferred: false, errno: r.errno };
    const type = defaultType ?? (this.smmu.passthrough ? 'identity' : 'dma');
    const d = await this.domains.alloc(type);
    this.defaults.set(spec.name, d);
    if (!r.master.attachDeferred) await this.domains.attach(r.master, d);
    await this.smmu.hw.serviceInterrupts();
    return { name: spec.name, grouped: true, deferred: r.master.attachDeferred, domain: r.master.domain };
  }

  master(name: string): Master | undefined {
    return this.smmu.masters.get(name);
  }

  /** iommu_deferred_attach on the driver's first DMA-API use (dma-iommu). */
  async firstDmaUse(name: string): Promise<boolean> {
    const m = this.master(name);
    if (!m) return false;
    if (m.attachDeferred) {
      await this.domains.attach(m, this.defaults.get(name)!);
      return true;
    }
    return false;
  }

  /** dma_map_single for an endpoint driver: attaches a deferred default domain first. */
  async dmaMap(name: string, pa: number, size: number): Promise<number> {
    await this.firstDmaUse(name);
    const m = this.master(name);
    if (!m) throw new Error(`${name} has no IOMMU group`);
    return this.domains.dmaMap(m, pa, size);
  }

  async dmaUnmap(name: string, iova: number, size: number): Promise<void> {
    const m = this.master(name);
    if (!m) throw new Error(`${name} has no IOMMU group`);
    await this.domains.dmaUnmap(m, iova, size);
  }

  /** Runs the interrupt handlers of whatever the SMMU raised (the CPU taking pending IRQs). */
  async serviceInterrupts(): Promise<void> {
    await this.smmu.hw.serviceInterrupts();
  }
}
