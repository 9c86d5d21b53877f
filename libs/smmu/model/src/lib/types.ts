// SPDX-License-Identifier: Apache-2.0
// What flows into and out of the SMMU twin: transactions and their outcomes, interrupts, MSIs,
// ATS invalidations, MMIO access results and recorded architecture violations.

import type { EventName } from '@kdump-twin/smmu-arch';
import type { Epoch, WriterKind } from '@kdump-twin/platform';

/** An incoming transaction from a client device (IHI0070 3.2 / domain notes 7). */
export interface Transaction {
  readonly sid: number;
  /** SubstreamID; undefined when the transaction carries none (SSV=0). */
  readonly ssid?: number;
  /** Input address (IOVA). A JS number: exact below 2^53, which covers every TTB0 region. */
  readonly address: number;
  /** Bytes; the transaction must not cross a 4 KiB boundary (dma() splits bursts). */
  readonly size: number;
  readonly write: boolean;
  /** PnU: privileged. PCIe requests are unprivileged unless the device sets PASID PMR. */
  readonly privileged?: boolean;
  /** InD: instruction fetch (reads only). */
  readonly instruction?: boolean;
  /**
   * PCIe ATS: 'untranslated' (default), 'translated' (AT=10b, the address is already a PA from
   * the device's ATC, or an IPA under split-stage ATS) or 'request' (a translation request: no
   * data access; `write` is NW=0, `instruction` Exe and `privileged` Priv, the last two only with
   * a PASID, i.e. an `ssid`). Translated transactions carry no PASID here (IDR3.PASIDTT=0): their
   * ssid, privileged and instruction are ignored (IHI0070 3.9.1.3).
   */
  readonly ats?: 'untranslated' | 'translated' | 'request';
}

/**
 * The completion of an ATS Translation Request (IHI0070 3.9.1.2, 13.7.1). SC with R/W/X granted
 * (all false for a translation-related fault: no event is recorded), UR (ATS disabled for the
 * stream) or CA (a configuration error).
 */
export interface AtsCompletion {
  readonly status: 'SC' | 'UR' | 'CA';
  readonly r: boolean;
  readonly w: boolean;
  readonly x: boolean;
  /** Split-stage ATS (STE.EATS=0b10): the TranslatedAddress is the stage-1 output, an IPA. */
  readonly ipa: boolean;
}

/** A limit of the simulator met while the SMMU worked (never guest-visible architected behaviour). */
export interface SimulatorError {
  readonly time: number;
  readonly smmu: string;
  /** What the SMMU was doing: 'event record', 'MSI', 'HTTU update', 'DMA write'. */
  readonly what: string;
  /** The platform's message, naming the bound (memory.maxBackedBytes). */
  readonly message: string;
}

/**
 * translated: SMMU translation gave `pa`; bypassed: output = input (GBPA, STE bypass, or ATS
 * translated traffic allowed through); aborted: the device gets an abort (UR/CA) or, for an ATS
 * Translation Request, a completion granting nothing (`ats` says which);
 * raz-wi: terminated with reads-as-zero, writes-ignored (CD.A=0, TERM_MODEL=0);
 * stalled: held until CMD_RESUME / STALL_TERM / SMMUEN=0.
 */
export type Outcome = 'translated' | 'bypassed' | 'aborted' | 'raz-wi' | 'stalled';

/** Which path decided the outcome. */
export type Path =
  | 'sfm'
  | 'gbpa'
  | 'sid-range'
  | 'ste-fetch'
  | 'ste'
  | 'ste-abort'
  | 'ste-bypass'
  | 's1-bypass'
  | 'cd'
  | 's1'
  | 's2'
  | 'nested'
  | 'ats-translated'
  | 'ats-request'
  | 'uut'
  | 'simulator';

/** Who wrote the STE that decided a transaction (for "STE origin" in traces and reports). */
export interface SteOrigin {
  /** Physical address of the STE. */
  readonly address: number;
  /** Epoch of the last write to the STE's dword 0, when it was ever written. */
  readonly epoch?: Epoch;
  readonly writer?: WriterKind;
  /** Virtual time the STE entered the configuration cache. */
  readonly cachedAt: number;
}

export interface TranslateResult {
  readonly outcome: Outcome;
  /** Output physical address (translated/bypassed), else -1. */
  readonly pa: number;
  readonly path: Path;
  /** The event the transaction raised, if any (recorded or not). */
  readonly event?: EventName;
  /** The event record reached the event queue. */
  readonly recorded: boolean;
  /** One line: why, in the architecture's words. */
  readonly why: string;
  readonly stag?: number;
  /** Served from the TLB (no walk). */
  readonly tlbHit: boolean;
  /** The STE came from the configuration cache. */
  readonly steCached: boolean;
  readonly ste?: SteOrigin;
  /** ATS Translation Requests only: the completion the endpoint receives. */
  readonly ats?: AtsCompletion;
  /** Set when a simulator limit (not the architecture) decided the outcome; see simulatorErrors(). */
  readonly simulatorError?: string;
}

/**
 * What a device sees at the end of a DMA access. 'simulator-error': the platform ran out of
 * backing memory (memory.maxBackedBytes), a limit of the twin, not an architected completion.
 */
export type Completion = 'ok' | 'abort' | 'completer-abort' | 'stalled' | 'simulator-error';

export interface DmaResult {
  readonly completion: Completion;
  /** Per 4 KiB chunk of the burst. */
  readonly translations: readonly TranslateResult[];
  /** Read data (zeros where RAZ); undefined for writes or when aborted. */
  readonly data?: Uint8Array;
  /** For completer-abort: the PA that hit an MMIO or unbacked hole. */
  readonly faultAddress?: number;
}

export type InterruptSource = 'EVENTQ' | 'PRIQ' | 'GERROR' | 'CMD_SYNC';

/** A command the queue consumed (IHI0070 4.1): the queue index it was read from (with the wrap bit) and its two dwords. */
export interface ConsumedCommand {
  readonly time: number;
  readonly index: number;
  readonly words: readonly bigint[];
}

/** An interrupt the SMMU raised: a wired line, an MSI to a doorbell, or a CMD_SYNC SEV. */
export interface InterruptEvent {
  readonly time: number;
  readonly smmu: string;
  readonly source: InterruptSource;
  readonly kind: 'wired' | 'msi' | 'sev';
  readonly address?: number;
  readonly data?: number;
}

/** An ATS invalidation sent to a device's ATC (CMD_ATC_INV). Return false to model a timeout. */
export interface AtcInvalidation {
  readonly time: number;
  readonly sid: number;
  readonly ssid?: number;
  readonly global: boolean;
  readonly address: number;
  /** Bytes: 4096 << Size; Size >= 52 means everything. */
  readonly bytes: number;
}

/** A resolved stall (CMD_RESUME, CMD_STALL_TERM or SMMUEN=0). */
export interface StallResolution {
  readonly time: number;
  readonly sid: number;
  readonly stag: number;
  readonly transaction: Transaction;
  readonly result: TranslateResult;
  readonly how: 'retry' | 'terminate' | 'abort' | 'disabled';
}

/** MMIO access result (proto twin.arch.v1 AccessResult). */
export type AccessResult = 'ok' | 'ignored-guard' | 'ignored-read-only' | 'raz-wi' | 'abort';

export interface MmioResult {
  readonly value: bigint;
  readonly result: AccessResult;
  /** The register, when the offset hits one. */
  readonly register?: string;
  /** For ignored writes: the rule broken. */
  readonly rule?: string;
}

/** A driver action the architecture forbids or leaves CONSTRAINED UNPREDICTABLE. */
export interface Violation {
  readonly time: number;
  readonly smmu: string;
  readonly register: string;
  /** Byte offset from the SMMU base. */
  readonly offset: number;
  readonly attempted: bigint;
  readonly rule: string;
  /** Where the rule comes from, e.g. "IHI0070 6.3.9.1". */
  readonly section: string;
}
