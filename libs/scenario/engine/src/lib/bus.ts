// SPDX-License-Identifier: Apache-2.0
// A kernel's CPU as the bus port sees it: it can stop. A panic halts every CPU of the primary
// kernel at an exact point (between two stores of the STE writer, before the TLBI of an unmap);
// a fatal error escalated by firmware halts the kdump kernel. After that every access throws
// CpuHalted, which unwinds whatever the kernel was doing, and the hardware keeps the state the
// last completed access left.

import type { BusInterrupt, BusPort, MmioOutcome, MmioSize, NextAccess, PollWait } from '@kdump-twin/kernel';

export class CpuHalted extends Error {
  constructor(readonly reason: string) {
    super(`CPU halted: ${reason}`);
    this.name = 'CpuHalted';
  }
}

/** An access the CPU is about to make or just made. */
export type CpuAccess =
  | { readonly op: 'mmio-read' | 'mmio-write'; readonly offset: number }
  | { readonly op: 'mem-read'; readonly pa: number; readonly length: number }
  | { readonly op: 'mem-write'; readonly pa: number; readonly length: number; readonly data: Uint8Array };

/** `before` may halt the CPU so the access never happens; `after` may halt it once the access landed. */
export interface CpuHook {
  before?(a: CpuAccess): string | undefined;
  after?(a: CpuAccess): string | undefined;
}

export class HaltableBus implements BusPort {
  halted: string | undefined;
  hook: CpuHook | undefined;
  /** Sees every store that landed (the command tap). */
  tap: ((pa: number, data: Uint8Array) => void) | undefined;
  /** Called once when the CPU halts from inside an access (the trigger fired). */
  onHalt: ((reason: string) => void) | undefined;

  constructor(private readonly inner: BusPort) {}

  get smmu(): string {
    return this.inner.smmu;
  }

  halt(reason: string): void {
    if (this.halted === undefined) this.halted = reason;
  }

  private gate(a: CpuAccess, phase: 'before' | 'after'): void {
    if (this.halted !== undefined) throw new CpuHalted(this.halted);
    const why = phase === 'before' ? this.hook?.before?.(a) : this.hook?.after?.(a);
    if (why !== undefined) {
      this.halt(why);
      this.onHalt?.(why);
      throw new CpuHalted(why);
    }
  }

  async mmioRead(offset: number, size: MmioSize): Promise<MmioOutcome> {
    const a: CpuAccess = { op: 'mmio-read', offset };
    this.gate(a, 'before');
    const r = await this.inner.mmioRead(offset, size);
    this.gate(a, 'after');
    return r;
  }

  async mmioWrite(offset: number, size: MmioSize, value: bigint): Promise<MmioOutcome> {
    const a: CpuAccess = { op: 'mmio-write', offset };
    this.gate(a, 'before');
    const r = await this.inner.mmioWrite(offset, size, value);
    this.gate(a, 'after');
    return r;
  }

  async memRead(pa: number, length: number) {
    const a: CpuAccess = { op: 'mem-read', pa, length };
    this.gate(a, 'before');
    return this.inner.memRead(pa, length);
  }

  async memWrite(pa: number, data: Uint8Array) {
    const a: CpuAccess = { op: 'mem-write', pa, length: data.length, data };
    this.gate(a, 'before');
    const r = await this.inner.memWrite(pa, data);
    if (r.ok) this.tap?.(pa, data);
    this.gate(a, 'after');
    return r;
  }

  now(): number {
    return this.inner.now();
  }

  async delay(ns: number, next?: NextAccess, wait?: PollWait): Promise<void> {
    if (this.halted !== undefined) throw new CpuHalted(this.halted);
    // A hook sees every access: a loop it watches is not waited out (its reads must happen here).
    await this.inner.delay(ns, next, this.hook ? undefined : wait);
    if (this.halted !== undefined) throw new CpuHalted(this.halted);
  }

  nextHardwareEvent(): number | undefined {
    return this.inner.nextHardwareEvent();
  }

  onInterrupt(listener: (e: BusInterrupt) => void): () => void {
    return this.inner.onInterrupt((e) => {
      if (this.halted === undefined) listener(e);
    });
  }
}

/**
 * The commands a kernel puts on its command queue, by name, as the stores that write them land
 * (read back from the queue they would be clobbered: a CMD_SYNC's MSI overwrites its own slot).
 */
export class CommandTap {
  readonly counts: Record<string, number> = {};
  private readonly pendingRange = new Set<number>();

  constructor(
    private readonly queue: () => { base: number; bytes: number } | undefined,
    private readonly name: (dw0: bigint, dw1: bigint | undefined) => string,
  ) {}

  store(pa: number, data: Uint8Array): void {
    const q = this.queue();
    if (!q || pa < q.base || pa >= q.base + q.bytes) return;
    const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (let off = 0; off + 8 <= data.length; off += 8) {
      const at = pa + off;
      const rel = (at - q.base) % 16;
      const dw = v.getBigUint64(off, true);
      const slot = at - rel;
      if (rel === 0) {
        const dw1 = off + 16 <= data.length ? v.getBigUint64(off + 8, true) : undefined;
        const n = this.name(dw, dw1);
        if (n === '?range') this.pendingRange.add(slot);
        else this.counts[n] = (this.counts[n] ?? 0) + 1;
        if (dw1 !== undefined) off += 8;
      } else if (this.pendingRange.delete(slot)) {
        const n = this.name(0x04n, dw);
        this.counts[n] = (this.counts[n] ?? 0) + 1;
      }
    }
  }
}
