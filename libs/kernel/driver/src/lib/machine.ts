// SPDX-License-Identifier: Apache-2.0
// One machine for the in-process runs: platform memory with the server layout, one SMMUv3 twin
// (more with addSmmu), and a bus per kernel and SMMU (stores attributed to the primary or the
// kdump CPU). The kernels share one MMIO trace; each kernel has its own dmesg (its own ring
// buffer), and every line also goes to the machine's `log`, so a crash scenario reads as one
// timeline in both.

import { defaultServerMemoryLayout, PhysicalMemory, SeededRng, VirtualClock, type Region } from '@kdump-twin/platform';
import { SmmuV3, type SmmuConfig } from '@kdump-twin/smmu-model';
import { LocalBus } from './bus';
import type { DriverOptions } from './device';
import type { KdumpPolicy } from './features';
import { LinuxKernel } from './kernel';
import { Dmesg } from './log';
import { MmioTrace } from './trace';

export interface MachineConfig {
  readonly seed?: number | string;
  readonly smmu?: Partial<SmmuConfig>;
  readonly regions?: readonly Region[];
  readonly maxBackedBytes?: number;
}

export class Machine {
  readonly clock = new VirtualClock();
  readonly memory: PhysicalMemory;
  readonly smmu: SmmuV3;
  /** Every SMMU of the machine, `smmu` first. */
  readonly smmus: SmmuV3[];
  readonly trace = new MmioTrace();
  readonly log: Dmesg;
  readonly rng: SeededRng;

  constructor(c: MachineConfig = {}) {
    this.memory = new PhysicalMemory(
      { paBits: 48, maxBackedBytes: c.maxBackedBytes ?? 512 * 1024 * 1024, regions: c.regions ?? defaultServerMemoryLayout() },
      this.clock,
    );
    this.rng = new SeededRng(c.seed ?? 1);
    this.smmu = new SmmuV3(this.clock, this.memory, c.smmu ?? {}, this.rng.fork('smmu0'));
    this.smmus = [this.smmu];
    this.log = new Dmesg('', () => this.clock.now());
  }

  /** Another SMMU on the same memory and clock (named smmu1, smmu2... unless `c.name`). */
  addSmmu(c: Partial<SmmuConfig> = {}): SmmuV3 {
    const name = c.name ?? `smmu${this.smmus.length}`;
    const s = new SmmuV3(this.clock, this.memory, { ...c, name }, this.rng.fork(name));
    this.smmus.push(s);
    return s;
  }

  private ram(name: string): { base: number; size: number } {
    const r = this.memory.region(name);
    if (!r) throw new RangeError(`no memory region ${name}`);
    return { base: r.base, size: r.size };
  }

  /** The primary kernel's driver for `smmu` (default: the first), allocating from primary RAM. */
  primary(opts: Partial<DriverOptions> = {}, smmu: SmmuV3 = this.smmu): LinuxKernel {
    const bus = new LocalBus(smmu, this.memory, this.clock, { kind: 'primary-cpu' });
    return new LinuxKernel(bus, {
      kernel: 'primary',
      ram: this.ram('primary-ram'),
      trace: this.trace,
      log: new Dmesg('primary', () => this.clock.now(), this.log),
      ...opts,
    });
  }

  /** The panic: from now on every store is in the kdump epoch. */
  crash(): void {
    this.memory.setEpoch('kdump');
  }

  /** The kdump kernel's driver for `smmu` (default: the first), from the crashkernel carve-out, under `policy`. */
  kdump(policy: KdumpPolicy, opts: Partial<DriverOptions> = {}, smmu: SmmuV3 = this.smmu): LinuxKernel {
    const bus = new LocalBus(smmu, this.memory, this.clock, { kind: 'kdump-cpu' });
    return new LinuxKernel(bus, {
      kernel: 'kdump',
      policy,
      ram: this.ram('crashkernel'),
      trace: this.trace,
      log: new Dmesg('kdump', () => this.clock.now(), this.log),
      ...opts,
    });
  }
}
