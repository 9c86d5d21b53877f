// SPDX-License-Identifier: Apache-2.0
// The only way the driver model touches hardware: a bus port with MMIO reads and writes of one
// SMMU, physical memory reads and writes, virtual-time delays and interrupt delivery. Every
// call is asynchronous so the same driver code can later run against the remote twin over
// gRPC; LocalBus is the in-process port over the hardware model.

import type { PhysicalMemory, VirtualClock, Writer } from '@kdump-twin/platform';
import type { SmmuV3 } from '@kdump-twin/smmu-model';

export type MmioSize = 4 | 8;
export type MmioResult = 'ok' | 'ignored-guard' | 'ignored-read-only' | 'raz-wi' | 'abort';

export interface MmioOutcome {
  readonly value: bigint;
  readonly result: MmioResult;
  readonly register?: string;
  readonly rule?: string;
}

/** An interrupt as the kernel sees it: a wired line, an MSI, or a CMD_SYNC SEV. */
export interface BusInterrupt {
  readonly time: number;
  readonly source: 'EVENTQ' | 'PRIQ' | 'GERROR' | 'CMD_SYNC';
  readonly kind: 'wired' | 'msi' | 'sev';
  readonly address?: number;
  readonly data?: number;
}

export type MemFault = { readonly ok: false; readonly fault: string; readonly address: number };

/** The access a CPU makes right after a delay: a load of memory, or an MMIO read of this port's SMMU. */
export type NextAccess = { readonly pa: number; readonly length: number } | { readonly offset: number; readonly size: MmioSize };

/**
 * Wait-until (docs/services.md): the delay of a poll loop (readl_relaxed_poll_timeout on a
 * register or a memory word) whose next iterations change nothing while `loads` read what they
 * read now. A remote bus may run those iterations where the data is and wake the CPU only at the
 * first one where something differs, an interrupt came (the loop takes interrupts first), or
 * `deadline` passed; later delays follow `pollStep` (@kdump-twin/platform) with `step`.
 */
export interface PollWait {
  readonly loads: readonly NextAccess[];
  readonly deadline: number;
  readonly step: number;
}

export interface BusPort {
  /** The SMMU this port reaches. */
  readonly smmu: string;
  mmioRead(offset: number, size: MmioSize): Promise<MmioOutcome>;
  mmioWrite(offset: number, size: MmioSize, value: bigint): Promise<MmioOutcome>;
  memRead(pa: number, length: number): Promise<{ readonly ok: true; readonly data: Uint8Array } | MemFault>;
  memWrite(pa: number, data: Uint8Array): Promise<{ readonly ok: true } | MemFault>;
  /**
   * Optional: where an access of [pa, pa+length) would fault, without moving data (the kernel's
   * memremap() range check). Without it the kernel reads the range in chunks.
   */
  memCheck?(pa: number, length: number): Promise<{ readonly ok: true } | MemFault>;
  now(): number;
  /**
   * Lets `ns` of virtual time pass (the hardware runs meanwhile). `next` names the access the
   * CPU makes right after (a poll loop's next read): a hint a remote bus answers with the wake-up.
   * `wait`: the loop may be waited out remotely (PollWait); in one process it is one delay.
   */
  delay(ns: number, next?: NextAccess, wait?: PollWait): Promise<void>;
  /**
   * When the next hardware event is due (an ack, a queue step), or undefined when nothing is
   * scheduled: a poll loop may skip ahead to it, since no register changes before then.
   */
  nextHardwareEvent(): number | undefined;
  onInterrupt(listener: (e: BusInterrupt) => void): () => void;
}

/** The in-process bus over the hardware model, with the kernel's stores attributed to `writer`. */
export class LocalBus implements BusPort {
  private readonly writerId: number;
  readonly smmu: string;

  constructor(
    private readonly device: SmmuV3,
    private readonly memory: PhysicalMemory,
    private readonly clock: VirtualClock,
    writer: Writer,
  ) {
    this.writerId = memory.internWriter(writer);
    this.smmu = device.name;
  }

  async mmioRead(offset: number, size: MmioSize): Promise<MmioOutcome> {
    return this.device.mmioRead(offset, size);
  }

  async mmioWrite(offset: number, size: MmioSize, value: bigint): Promise<MmioOutcome> {
    return this.device.mmioWrite(offset, size, value);
  }

  async memRead(pa: number, length: number): Promise<{ ok: true; data: Uint8Array } | MemFault> {
    return this.memory.read(pa, length);
  }

  async memWrite(pa: number, data: Uint8Array): Promise<{ ok: true } | MemFault> {
    const r = this.memory.write(pa, data, this.writerId);
    return r.ok ? r : { ok: false, fault: r.fault, address: r.address };
  }

  async memCheck(pa: number, length: number): Promise<{ ok: true } | MemFault> {
    const f = this.memory.check(pa, length);
    return f ? { ok: false, fault: f.fault, address: f.address } : { ok: true };
  }

  now(): number {
    return this.clock.now();
  }

  async delay(ns: number, _next?: NextAccess): Promise<void> {
    this.clock.advance(ns);
  }

  nextHardwareEvent(): number | undefined {
    return this.clock.nextDeadline();
  }

  onInterrupt(listener: (e: BusInterrupt) => void): () => void {
    return this.device.onInterrupt((e) => listener({ time: e.time, source: e.source, kind: e.kind, address: e.address, data: e.data }));
  }
}
