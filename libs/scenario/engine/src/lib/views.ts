// SPDX-License-Identifier: Apache-2.0
// What each role contributes to the report, as plain JSON-safe data (64-bit values as hex
// strings), so the builder gets the same input whether a role ran in this process or in a
// service.

import type { SetupResult } from '@kdump-twin/endpoint';
import type { DeviceProbe, LogLine } from '@kdump-twin/kernel';

/** One MMIO access of the trace, JSON-safe. */
export interface AccessView {
  readonly time: number;
  readonly kernel: string;
  readonly smmu: string;
  readonly register: string;
  readonly offset: number;
  readonly dir: 'read' | 'write';
  readonly size: number;
  readonly value: string;
  readonly result: string;
  readonly repeat: number;
}

export interface SmmuDriverView {
  readonly devName: string;
  readonly series: 'v7' | 'v10' | null;
  readonly options: number;
  readonly features: number;
  readonly probe: { readonly ok: boolean; readonly errno?: string; readonly reason?: string } | null;
  readonly strtab: { readonly kind: 'none' | 'linear' | '2lvl'; readonly adopted: boolean; readonly entries: number; readonly l2Mapped: number };
  /** The crashed kernel's stream-table L2 tables (primary view): where adopted STEs live. */
  readonly l2Tables: readonly { readonly base: number; readonly firstSid: number; readonly bytes: number }[];
  readonly irqs: { readonly gerror: boolean; readonly evtq: boolean; readonly priq: boolean; readonly combined: string };
  /** ASIDs and VMIDs in the allocators: 'reserved' for adopted IDs, else the owning domain. */
  readonly asids: readonly [number, string][];
  readonly vmids: readonly [number, string][];
  /** IDs of the domains of this kernel's masters. */
  readonly domainIds: { readonly asids: readonly number[]; readonly vmids: readonly number[] };
  /** Commands this kernel queued, by name. */
  readonly commands: Readonly<Record<string, number>>;
  readonly unbind: { readonly freed: string; readonly registerAccesses: number } | null;
}

export interface DeviceKernelView {
  readonly probe: DeviceProbe | null;
  readonly setup: SetupResult | null;
  /** When the iommu core probed it, when a domain got attached, when its driver reset it. */
  readonly probedAt: number | null;
  readonly attachedAt: number | null;
  readonly quiescedAt: number | null;
  /** Whether its master's default domain is attached now (false while deferred). */
  readonly attached: boolean;
}

export interface VmcoreKernelView {
  readonly attempted: boolean;
  readonly target: string | null;
  readonly reason: string | null;
  readonly pages: number;
  readonly savedPages: number;
  readonly done: boolean;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  /** When makedumpfile read each dumped page, by PA (decimal string keys). */
  readonly readAt: Readonly<Record<string, number>>;
  /** Digest of what the CPU copied, per saved page, by disk LBA of the page (decimal keys). */
  readonly expected: Readonly<Record<string, string>>;
}

export interface KernelView {
  readonly name: 'primary' | 'kdump';
  readonly halted: string | null;
  readonly smmus: readonly SmmuDriverView[];
  readonly devices: Readonly<Record<string, DeviceKernelView>>;
  readonly log: readonly LogLine[];
  readonly trace: readonly AccessView[];
  readonly vmcore: VmcoreKernelView | null;
}

export interface FleetDeviceView {
  readonly kind: string;
  readonly jobsOk: number;
  readonly jobsFailed: number;
  readonly dropped: number;
  readonly halted: string | null;
  readonly outstanding: number;
  readonly jobsInFlight: number;
  readonly flrs: number;
}

export interface FleetView {
  readonly devices: Readonly<Record<string, FleetDeviceView>>;
  /** The dump target's disk against makedumpfile's digests: pages that differ, and pages missing. */
  readonly disk: { readonly mismatchedPages: number; readonly missingPages: number } | null;
}
