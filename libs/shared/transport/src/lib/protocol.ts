// SPDX-License-Identifier: Apache-2.0
// The co-simulation protocol on NATS (docs/services.md): subjects, and the messages on them.
// Every run is a session with its own subjects, so one set of services runs many at once and
// replicas share the work through queue groups.

import type { DeviceControl } from '@kdump-twin/endpoint';
import type { BusInterrupt, MmioSize } from '@kdump-twin/kernel';
import type { KernelName, Mapping, NextLoad, Owner, PageImage, WaitWhile } from '@kdump-twin/scenario';

/** Subject prefix of this protocol's version. */
export const PROTOCOL = 'twin.v1';

/** A session or run id, as it stands in a subject: 1-64 letters, digits, - or _ (no dots, no wildcards). */
export const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;

export const SUBJECTS = {
  /** Queue-grouped: a fleet replica takes a new session. */
  fleetOpen: `${PROTOCOL}.fleet.open`,
  /** Queue-grouped: a kernel replica ('primary' is the crash generator, 'kdump' the kdump driver) takes a new session. */
  kernelOpen: (k: KernelName) => `${PROTOCOL}.kernel.${k}.open`,
  /** The platform's side of a session: the kernels' bus, tasks and posted operations. */
  platform: (session: string) => `${PROTOCOL}.run.${session}.platform`,
  fleet: (session: string) => `${PROTOCOL}.run.${session}.fleet`,
  kernel: (session: string, k: KernelName) => `${PROTOCOL}.run.${session}.kernel.${k}`,
  /** Published by the platform: a run's milestones (boot, crash, kexec, end), for watchers. */
  events: (session: string) => `${PROTOCOL}.run.${session}.events`,
} as const;

/** Queue groups, one per service kind. */
export const QUEUES = { fleet: 'dma-fleet', primary: 'crash-generator', kdump: 'kdump-driver' } as const;

/** What every platform answer to a kernel carries: the time, the next event, the interrupts raised since its last answer. */
export interface TimeContext {
  readonly now: number;
  readonly next: number | null;
  readonly irqs: readonly { readonly smmu: number; readonly e: BusInterrupt }[];
  /** Direct memory (kernel-dmi.ts): pages the kernel holds from now on with their bytes, or must drop; absent when none. */
  readonly pages?: readonly PageImage[];
  /** Run-ahead: before this instant nothing but the fleet and the running task can happen (no other task, timer or panic); absent for never. */
  readonly quiet?: number;
}

/** Operations a kernel makes without waiting: they ride on its next message to the platform, in order. */
export type PostedOp =
  | { readonly o: 'memWrite'; readonly pa: number; readonly data: Uint8Array }
  | { readonly o: 'control'; readonly device: string; readonly c: DeviceControl }
  | { readonly o: 'addMapping'; readonly device: string; readonly m: Mapping }
  | { readonly o: 'endMapping'; readonly device: string; readonly iova: number }
  | { readonly o: 'spawn'; readonly local: number; readonly name: string; readonly owner: Owner }
  | { readonly o: 'finish'; readonly task: number }
  /** Wait-until: the task's wait parked on the platform ends at its next wake-up. */
  | { readonly o: 'endWait'; readonly task: number }
  | { readonly o: 'panicNow'; readonly reason: string };

/** Wake-ups one sleep may carry as `steps` (run-ahead), and loads one `wait` may watch: the fleet's own bounds on what a slice carries of them. */
export { MAX_RUN_AHEAD_STEPS, MAX_WAIT_LOADS } from '@kdump-twin/endpoint';

/** What a paced thread may post between its run-ahead wake-ups: what the platform, and a fleet slice running past them, can make at each (ScriptedStep). */
export function isRunAheadOp(p: PostedOp): p is Extract<PostedOp, { o: 'memWrite' | 'control' | 'endWait' }> {
  return p.o === 'memWrite' || p.o === 'control' || p.o === 'endWait';
}

/** Announced loads one memRead may ask to be read ahead (`ahead`: 64 pages, 256 KiB); the platform refuses more. */
export const MAX_READ_AHEAD = 64;

/** One wake-up a kernel ran ahead: what the task posted when it woke, and its next sleep. */
export interface RunAheadStep {
  readonly posted: readonly PostedOp[];
  readonly ns: number;
}

/** Operations a kernel waits on. */
export type SyncOp =
  | { readonly o: 'mmioRead'; readonly smmu: number; readonly offset: number; readonly size: MmioSize }
  | { readonly o: 'mmioWrite'; readonly smmu: number; readonly offset: number; readonly size: MmioSize; readonly value: bigint }
  | { readonly o: 'memRead'; readonly pa: number; readonly length: number; readonly grant?: boolean; readonly ahead?: readonly number[] }
  | {
      readonly o: 'sleep';
      readonly task: number;
      readonly ns: number;
      readonly next?: NextLoad;
      /** Run-ahead: wake-ups the kernel ran ahead, after the first: at each, these posted ops, then the next sleep. */
      readonly steps?: readonly RunAheadStep[];
      /** Run-ahead: posted ops made after the last wake-up, applied before the answer. */
      readonly then?: readonly PostedOp[];
      /** Wait-until: sleep again and again while these loads read what they read now (WaitWhile); answered at the first wake-up where something differs. */
      readonly wait?: WaitWhile;
    }
  | { readonly o: 'crashedPages'; readonly limit: number };

/** A kernel's message to the platform: posted operations first, then at most one it waits on. */
export interface KernelToPlatform {
  readonly k: KernelName;
  readonly posted: readonly PostedOp[];
  readonly op?: SyncOp;
}

/** The platform's call into a kernel (a KernelLink method, on the runner's task). */
export interface PlatformToKernel {
  readonly call:
    | 'init'
    | 'boot'
    | 'setupDrivers'
    | 'reattach'
    | 'unmap'
    | 'probeSmmus'
    | 'probeDevices'
    | 'probeDriver'
    | 'saveVmcore'
    | 'serviceIrqs'
    | 'unbind'
    | 'halt'
    | 'view'
    | 'close';
  readonly args: readonly unknown[];
  readonly ctx: TimeContext;
}

/** A kernel's answer: what it posted while working, then the call's value. */
export interface KernelReply {
  readonly posted: readonly PostedOp[];
  readonly value: unknown;
}
