// SPDX-License-Identifier: Apache-2.0
// The seams between the roles of a run (docs/services.md): what a kernel reaches on the platform,
// what the runner asks of a kernel, what the platform asks of the fleet. In one process each is
// a direct call; between services each is an RPC. Everything crossing them is plain data.

import type { DeviceControl, FleetLink as FleetSliceLink, SetupResult } from '@kdump-twin/endpoint';
import type { BusInterrupt, MemFault, MmioOutcome, MmioSize, ProbeOutcome } from '@kdump-twin/kernel';
import type { Mapping } from './collect';
import type { FleetView, KernelView } from './views';

export type Owner = 'primary' | 'kdump' | 'runner';
export type KernelName = 'primary' | 'kdump';

/** The access a task makes first when it wakes: a load of memory, or an MMIO read of an SMMU. */
export type NextLoad = { readonly pa: number; readonly length: number } | { readonly smmu: number; readonly offset: number; readonly size: MmioSize };

/**
 * Wait-until (docs/services.md): a poll loop's next iterations change nothing while `loads` read
 * what they read now, so a remote platform may sleep the task again and again (each a turn of
 * it, in the sequencer's order) and answer only at the first wake-up where a load reads other
 * bytes (or cannot be read plainly). `poll`: the loop is readl_relaxed_poll_timeout's, which
 * also ends at `deadline`, takes interrupts first (so it wakes the kernel when one came) and
 * sleeps by `pollStep` (fast-forward to the next event); without it every sleep is the first's.
 */
export interface WaitWhile {
  readonly loads: readonly NextLoad[];
  readonly poll?: { readonly deadline: number; readonly step: number };
}

/** How a task sleeps (PlatformPort.sleep). */
export interface SleepOptions {
  /** Until its next sleep the task only posts stores and register writes: a kernel in a service may run the wake-up ahead. */
  readonly paced?: boolean;
  /** Wait-until: a remote platform may repeat the sleep while nothing the task depends on changed. */
  readonly wait?: WaitWhile;
}

/** What a kernel's CPUs and drivers reach on the platform (the hub). */
export interface PlatformPort {
  /** CPU accesses of `kernel`; a kernel whose CPUs stopped gets CpuHalted. */
  mmioRead(kernel: KernelName, smmu: number, offset: number, size: MmioSize): Promise<MmioOutcome>;
  mmioWrite(kernel: KernelName, smmu: number, offset: number, size: MmioSize, value: bigint): Promise<MmioOutcome>;
  memRead(kernel: KernelName, pa: number, length: number): Promise<{ readonly ok: true; readonly data: Uint8Array } | MemFault>;
  memWrite(kernel: KernelName, pa: number, data: Uint8Array): Promise<{ readonly ok: true } | MemFault>;
  /** Virtual time now, and the next pending event (answers carry both; they do not change while a task runs). */
  now(): number;
  nextEventTime(): number | undefined;
  /**
   * Parks task `task` until `ns` from now (its first call, with 0, waits for its first turn).
   * `next`: the task's first load after it wakes, a hint a remote platform answers with the wake-up.
   * `o`: how the task sleeps (SleepOptions: run-ahead, wait-until); in one process each is one sleep.
   */
  sleep(task: number, ns: number, next?: NextLoad, o?: SleepOptions): Promise<void>;
  /** The task's wait-until, if one is parked on a remote platform, ends at its next wake-up (its loop's state changed). */
  endWait?(task: number): void;
  /** A new task of `owner`, first running now, after the current one. */
  spawn(name: string, owner: Owner): number;
  finish(task: number): void;
  /** A register write to a device's BAR: it reaches the device in this instant, after the running task. */
  control(device: string, c: DeviceControl): void;
  /** The kernel mapped `m` for `device` (corruption is what lands outside every live mapping). */
  addMapping(device: string, m: Mapping): void;
  /** The kernel unmapped the mapping at `iova` (its bytes stop being the device's now). */
  endMapping(device: string, iova: number): void;
  onInterrupt(smmu: number, listener: (e: BusInterrupt) => void): () => void;
  /** A CPU hook in the primary kernel decided it panics now (between two accesses). */
  panicNow(reason: string): void;
  /**
   * The crashed kernel's pages in use, ascending, at most `limit` (what vmcoreinfo tells
   * makedumpfile; the twin takes every page of the crashed kernel's RAM anyone wrote).
   */
  crashedPages(limit: number): Promise<number[]>;
  /**
   * A hint: the task's next loads, in order, each `length` bytes, before it next sleeps (what
   * makedumpfile reads next). A remote platform may send their bytes with the first of them; in
   * one process nothing needs it.
   */
  willRead?(pas: readonly number[], length: number): void;
}

export interface BootResult {
  readonly ok: boolean;
  readonly reason?: string;
}

/** What the runner asks of a kernel; `task` is the runner's task the work runs on. */
export interface KernelLink {
  /** Primary: probe every SMMU, then every device's iommu probe and default domain. */
  boot(task: number): Promise<BootResult>;
  /** Primary: every device's driver sets up its rings and buffers and starts its device. */
  setupDrivers(task: number): Promise<void>;
  /** Primary: move `device` to a new domain; the CPU panics after `afterStores` stores into its STE. */
  reattach(task: number, device: string, domain: 'identity' | 'blocked' | 'dma', afterStores: number): Promise<void>;
  /**
   * Primary: dma_unmap of the device's buffer `buffer`. `midPanic` (the default): the CPU panics
   * at its first register write in there, before the TLBI is issued; false: the unmap runs to
   * its end (strict: the TLBI is issued; lazy: the IOVA waits in the flush queue).
   */
  unmap(task: number, device: string, buffer: number, midPanic?: boolean): Promise<void>;
  /** kdump: arm_smmu_device_probe of every SMMU under the policy. */
  probeSmmus(task: number): Promise<(ProbeOutcome | undefined)[]>;
  /** kdump: bus_iommu_probe as the SMMUs register. 6.12 probes no device here: each device's IOMMU probe (insert_master, default domain, deferral) runs when its driver binds, in probeDriver. */
  probeDevices(task: number): Promise<void>;
  /** kdump: the device's endpoint driver probes: reset (FLR), then its first DMA-API use (undefined if the CPU halted). */
  probeDriver(task: number, device: string): Promise<SetupResult | undefined>;
  /** kdump: makedumpfile writes the vmcore through the dump target until done or `deadline`. */
  saveVmcore(task: number, target: string, maxPages: number, deadline: number): Promise<void>;
  /** The running kernel takes the interrupts the SMMUs raised. */
  serviceIrqs(task: number): Promise<void>;
  /** kdump: unbind the SMMU driver (devres cleanup). */
  unbind(): Promise<void>;
  /** The platform says this kernel's CPUs stopped (its panic, or an escalated fatal error). */
  halt(reason: string): Promise<void>;
  view(): Promise<KernelView>;
}

/** What the platform asks of the fleet: its slices (the coupler's link), and its view for the report. */
export interface FleetLink extends FleetSliceLink {
  /** Changes a device's live traffic parameters (between steps: nothing runs meanwhile). */
  setTraffic(device: string, changes: Readonly<Record<string, unknown>>): Promise<Record<string, number>>;
  /** Device counters, and how the dump target's disk compares with what was meant to be written. */
  view(expected?: { device: string; pages: Readonly<Record<string, string>> }): Promise<FleetView>;
}
