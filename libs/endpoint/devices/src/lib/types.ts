// SPDX-License-Identifier: Apache-2.0
// What crosses the endpoint boundary: the virtual-time scheduler, the DMA port the device's
// requests go out on (to an SMMU), what the device sees back (a PCIe completion status), the
// per-transaction records observers collect, and the AER errors a failed completion raises.

/** Virtual time; in process it is the platform's VirtualClock. */
export interface Scheduler {
  now(): number;
  after(delayNs: number, label: string, fn: () => void): number;
}

/** A memory request from the device to the host (PCIe MRd/MWr, an ATS translation request). */
export interface DmaRequest {
  readonly sid: number;
  readonly ssid?: number;
  /** Device address: an IOVA (untranslated), or a PA from the ATC (translated). */
  readonly address: number;
  readonly size: number;
  readonly write: boolean;
  /** PCIe AT field: translated (AT=10b) or a translation request (no data access). */
  readonly ats?: 'translated' | 'request';
  readonly data?: Uint8Array;
}

/**
 * PCIe completion status the device sees: SC (successful), UR (Unsupported Request: the SMMU
 * terminated it), CA (Completer Abort: the target was an MMIO or unbacked hole). Posted writes
 * get no completion; the same status is what the Root Complex logs for them.
 */
export type CompletionStatus = 'SC' | 'UR' | 'CA' | 'stalled';

/**
 * How the transaction was handled: translated (SMMU translation, or an ATS-translated access
 * it let through), bypassed (untranslated: GBPA bypass, a bypass STE, S1DSS bypass), aborted
 * (terminated with no event: GBPA abort, an abort STE, SFM), faulted (terminated with an event,
 * recorded or discarded), completer-abort (translated into a hole), raz-wi, stalled.
 */
export type DmaOutcome = 'translated' | 'bypassed' | 'aborted' | 'faulted' | 'completer-abort' | 'raz-wi' | 'stalled';

export interface DmaCompletion {
  readonly status: CompletionStatus;
  readonly outcome: DmaOutcome;
  /** Output PA (translated/bypassed), else -1. */
  readonly pa: number;
  /** The SMMU path that decided it (gbpa, ste-abort, s1, ats-translated, ...). */
  readonly path: string;
  readonly event?: string;
  /** Read data; undefined for writes and failures. */
  readonly data?: Uint8Array;
  /** Who last wrote the STE that decided it, and in which epoch (the "STE origin"). */
  readonly steEpoch?: 'primary' | 'kdump';
  readonly steWriter?: string;
}

/**
 * One request as it leaves the device: what it is for, and when its completion is due back at
 * the device (`latencyNs` after it was issued; posted writes 0: only AER depends on them).
 */
export interface DmaSubmission extends DmaRequest {
  readonly device: string;
  readonly phase: DmaPhase;
  readonly job: number;
  readonly generation: number;
  readonly latencyNs: number;
}

/**
 * Where the device's requests go. The SMMU sees each at the time it is submitted; `done` runs
 * later (never within the call), `latencyNs` after submission: a device never needs a
 * completion in the same instant, which is what lets requests travel in batches.
 */
export interface DmaPort {
  submit(s: DmaSubmission, done: (c: DmaCompletion) => void): void;
}

/** A register write the host makes through the device's BAR (a doorbell, a queue base, a reset). */
export type DeviceControl =
  | { readonly op: 'configureRx' | 'configureTx' | 'configureRing'; readonly base: number; readonly entries: number }
  | { readonly op: 'setRxTail' | 'setTxTail' | 'ringSq' | 'ringTail'; readonly tail: number }
  | { readonly op: 'ringCq'; readonly head: number }
  | { readonly op: 'setStatsAddress'; readonly iova: number }
  | { readonly op: 'configureQueues'; readonly sqBase: number; readonly sqEntries: number; readonly cqBase: number; readonly cqEntries: number }
  | { readonly op: 'enable' | 'start' | 'flr' | 'recordWrites' }
  | { readonly op: 'setAts'; readonly enabled: boolean }
  /** An ATS Invalidate Request from the SMMU (CMD_ATC_INV): [address, address + bytes), or everything. */
  | { readonly op: 'atcInvalidate'; readonly address: number; readonly bytes: number; readonly all: boolean };

/** What a transaction was for. */
export type DmaPhase =
  | 'desc-fetch'
  | 'rx-data'
  | 'tx-data'
  | 'desc-writeback'
  | 'stats'
  | 'sqe-fetch'
  | 'data-read'
  | 'data-write'
  | 'cqe'
  | 'job-fetch'
  | 'copy-read'
  | 'copy-write'
  | 'fence'
  | 'ats-request';

/** One transaction as observers (the outcome report, traces) see it, where it was applied. */
export interface DmaRecord {
  /** Issue time: when the SMMU saw it. */
  readonly time: number;
  /** Completion time at the device (= time for posted writes). */
  readonly completedAt: number;
  readonly device: string;
  readonly phase: DmaPhase;
  /** The job (descriptor, command, copy) this transaction belongs to. */
  readonly job: number;
  readonly req: DmaRequest;
  readonly completion: DmaCompletion;
  /** Device generation: incremented by every function-level reset. */
  readonly generation: number;
  /** The fleet's number for the request (unique in a run): what links the device's transaction to the SMMU's handling of it. */
  readonly ticket?: number;
}

/** A job (packet, NVMe command, copy) starting or ending, for traces. */
export interface JobRecord {
  readonly time: number;
  readonly device: string;
  readonly job: number;
  readonly kind: string;
  readonly event: 'start' | 'end';
  readonly ok?: boolean;
  readonly generation: number;
}

export type AerSeverity = 'correctable' | 'non-fatal' | 'fatal';

/** A PCIe error a failed completion raises (the requester's for reads, the Root Complex's for posted writes). */
export interface AerError {
  readonly time: number;
  readonly device: string;
  readonly bdf: string;
  readonly type: 'UR' | 'CA' | 'ATS';
  readonly severity: AerSeverity;
  /** requester: the device got a UR/CA completion; completer: the Root Complex saw a posted write fail. */
  readonly role: 'requester' | 'completer';
  readonly phase: DmaPhase;
  readonly address: number;
}

export interface EndpointObserver {
  job?(r: JobRecord): void;
  aer?(e: AerError): void;
}
