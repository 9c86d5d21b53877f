// SPDX-License-Identifier: Apache-2.0
// The kernel's view of one SMMU and of memory, through the bus port: readl/writel/readq/writeq
// by register name (traced), readl_relaxed_poll_timeout with Linux's 1 us step and 1 s timeout
// (fast-forwarding virtual time when no hardware event can change the register),
// arm_smmu_write_reg_sync, 64-bit memory loads and stores, and a physical page allocator over
// the kernel's own RAM (primary RAM, or the crashkernel carve-out for a kdump kernel).

import { Buffer } from 'node:buffer';
import { pollStep } from '@kdump-twin/platform';
import { findRegister, type Layout, type RegisterLayout } from '@kdump-twin/smmu-arch';
import type { BusInterrupt, BusPort, MmioOutcome, NextAccess } from './bus';
import type { Dmesg } from './log';
import type { MmioTrace } from './trace';

const ZERO_PAGE = Buffer.alloc(4096);

/** ARM_SMMU_POLL_TIMEOUT_US in nanoseconds. */
export const POLL_TIMEOUT_NS = 1_000_000_000;
/** Linux polls registers every 1 us. */
export const POLL_STEP_NS = 1_000;
/**
 * Virtual time an uncached MMIO access costs the CPU: a read waits for the completion (a few
 * hundred ns on a server interconnect), a posted write does not.
 */
export const MMIO_READ_NS = 300;
export const MMIO_WRITE_NS = 50;

export class KernelError extends Error {
  constructor(
    readonly errno: 'ETIMEDOUT' | 'ENOMEM' | 'EINVAL' | 'ERANGE' | 'ENXIO' | 'EBUSY' | 'EFAULT' | 'ENOSPC' | 'ENODEV',
    message: string,
  ) {
    super(`-${errno}: ${message}`);
    this.name = 'KernelError';
  }
}

/**
 * A physical page allocator over one contiguous range of the kernel's RAM (bump, aligned). One
 * kernel driving several SMMUs shares one (DriverOptions.pages), so no page is handed out twice.
 */
export class PageAllocator {
  private next: number;
  constructor(
    readonly base: number,
    readonly size: number,
  ) {
    this.next = base;
  }

  /** Like dma_alloc_coherent: `bytes` rounded up to a page, aligned to `align` (default its size). */
  alloc(bytes: number, align?: number): number | undefined {
    const a = align ?? Math.max(4096, 2 ** Math.ceil(Math.log2(Math.max(bytes, 1))));
    const pa = Math.ceil(this.next / a) * a;
    const len = Math.ceil(bytes / 4096) * 4096;
    if (pa + len > this.base + this.size) return undefined;
    this.next = pa + len;
    return pa;
  }

  used(): number {
    return this.next - this.base;
  }
}

function reg(name: string): RegisterLayout {
  const r = findRegister(name);
  if (!r) throw new Error(`smmu-arch has no register ${name}`);
  return r;
}

/** Kernel-side access to one SMMU and to memory. */
export class Hw {
  private readonly pendingIrqs: BusInterrupt[] = [];
  private readonly unsubscribe: () => void;

  constructor(
    readonly bus: BusPort,
    readonly kernel: string,
    readonly trace: MmioTrace,
    readonly log: Dmesg,
    readonly pages: PageAllocator,
  ) {
    this.unsubscribe = bus.onInterrupt((e) => this.pendingIrqs.push(e));
  }

  detach(): void {
    this.unsubscribe();
  }

  /** Interrupts delivered since the last call (the CPU takes them at its next opportunity). */
  takeInterrupts(): BusInterrupt[] {
    return this.pendingIrqs.splice(0);
  }

  now(): number {
    return this.bus.now();
  }

  // --- registers -------------------------------------------------------------------------

  private traced(name: string, r: RegisterLayout, dir: 'read' | 'write', size: 4 | 8, o: MmioOutcome, times = 1): MmioOutcome {
    this.trace.record(
      {
        time: this.bus.now(),
        kernel: this.kernel,
        smmu: this.bus.smmu,
        register: name,
        offset: r.absoluteOffset,
        dir,
        size,
        value: o.value,
        result: o.result,
        rule: o.rule,
      },
      times,
    );
    return o;
  }

  async readl(name: string): Promise<number> {
    const r = reg(name);
    // A non-posted read: the value is sampled when the completion returns.
    await this.bus.delay(MMIO_READ_NS);
    const o = await this.bus.mmioRead(r.absoluteOffset, 4);
    this.traced(name, r, 'read', 4, o);
    return Number(o.value & 0xffffffffn);
  }

  async writel(name: string, value: number): Promise<MmioOutcome> {
    const r = reg(name);
    const o = await this.bus.mmioWrite(r.absoluteOffset, 4, BigInt(value >>> 0));
    this.traced(name, r, 'write', 4, o);
    await this.bus.delay(MMIO_WRITE_NS);
    return o;
  }

  async readq(name: string): Promise<bigint> {
    const r = reg(name);
    await this.bus.delay(MMIO_READ_NS);
    const o = await this.bus.mmioRead(r.absoluteOffset, 8);
    this.traced(name, r, 'read', 8, o);
    return o.value;
  }

  async writeq(name: string, value: bigint): Promise<MmioOutcome> {
    const r = reg(name);
    const o = await this.bus.mmioWrite(r.absoluteOffset, 8, BigInt.asUintN(64, value));
    this.traced(name, r, 'write', 8, o);
    await this.bus.delay(MMIO_WRITE_NS);
    return o;
  }

  /** A field of a register value, through the smmu-arch table. */
  static field(name: string, value: number | bigint, field: string): number {
    const r = reg(name);
    return Number(r.get([BigInt(value)], field));
  }

  /** A register value with fields set (the FIELD_PREP of Linux), through the smmu-arch table. */
  static value(name: string, fields: Record<string, number | bigint | string>): number {
    return Number(reg(name).build(fields)[0]!);
  }

  /**
   * readl_relaxed_poll_timeout: reads every POLL_STEP_NS until `cond` holds or `timeoutNs`
   * passes. When the bus says no hardware event is due before the next step, virtual time
   * skips to that event (or the deadline), counting the skipped reads in the trace.
   */
  async pollReg(name: string, cond: (v: number) => boolean, timeoutNs = POLL_TIMEOUT_NS): Promise<{ ok: boolean; value: number }> {
    const r = reg(name);
    const deadline = this.bus.now() + timeoutNs;
    for (;;) {
      await this.serviceInterrupts();
      await this.bus.delay(MMIO_READ_NS, { offset: r.absoluteOffset, size: 4 });
      const o = await this.bus.mmioRead(r.absoluteOffset, 4);
      this.traced(name, r, 'read', 4, o);
      const v = Number(o.value & 0xffffffffn);
      if (cond(v)) return { ok: true, value: v };
      if (this.bus.now() >= deadline) return { ok: false, value: v };
      await this.waitStep(deadline, (n) => this.traced(name, r, 'read', 4, o, n));
    }
  }

  /** Polls a 32-bit word of memory (the CMD_SYNC MSI slot). */
  async pollMem32(pa: number, cond: (v: number) => boolean, timeoutNs = POLL_TIMEOUT_NS): Promise<{ ok: boolean; value: number }> {
    const deadline = this.bus.now() + timeoutNs;
    for (;;) {
      await this.serviceInterrupts();
      const v = await this.read32(pa);
      if (cond(v)) return { ok: true, value: v };
      if (this.bus.now() >= deadline) return { ok: false, value: v };
      // Until the word changes (or an interrupt, or the deadline) the iterations repeat this one.
      await this.waitStep(deadline, () => undefined, { pa, length: 4 }, true);
    }
  }

  private async waitStep(deadline: number, skipped: (n: number) => void, then?: NextAccess, waitable = false): Promise<void> {
    const { ns, skipped: n } = pollStep(this.bus.now(), this.bus.nextHardwareEvent(), deadline, POLL_STEP_NS);
    // Nothing can change the value before the end of `ns`: the reads in between all see the same.
    if (n !== undefined) skipped(n);
    await this.bus.delay(ns, then, waitable && then ? { loads: [then], deadline, step: POLL_STEP_NS } : undefined);
  }

  /** arm_smmu_write_reg_sync: write, then poll the ACK register until it equals the value. */
  async writeRegSync(value: number, name: string, ackName: string): Promise<boolean> {
    await this.writel(name, value);
    const r = await this.pollReg(ackName, (v) => v === value >>> 0);
    return r.ok;
  }

  // --- interrupts --------------------------------------------------------------------------

  /** Set by the driver: runs the handlers of interrupts taken. */
  irqHandler: ((e: BusInterrupt) => Promise<void>) | undefined;
  private inIrq = false;

  async serviceInterrupts(): Promise<void> {
    if (this.inIrq || !this.irqHandler) return;
    this.inIrq = true;
    try {
      for (let e = this.pendingIrqs.shift(); e; e = this.pendingIrqs.shift()) await this.irqHandler(e);
    } finally {
      this.inIrq = false;
    }
  }

  // --- memory ------------------------------------------------------------------------------

  async write64(pa: number, v: bigint): Promise<void> {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
    const r = await this.bus.memWrite(pa, b);
    if (!r.ok) throw new KernelError('EFAULT', `kernel store to 0x${pa.toString(16)} faulted (${r.fault})`);
  }

  async writeWords(pa: number, words: readonly bigint[]): Promise<void> {
    const b = new Uint8Array(8 * words.length);
    const dv = new DataView(b.buffer);
    words.forEach((w, i) => dv.setBigUint64(8 * i, BigInt.asUintN(64, w), true));
    const r = await this.bus.memWrite(pa, b);
    if (!r.ok) throw new KernelError('EFAULT', `kernel store to 0x${pa.toString(16)} faulted (${r.fault})`);
  }

  async read64(pa: number): Promise<bigint> {
    const r = await this.bus.memRead(pa, 8);
    if (!r.ok) throw new KernelError('EFAULT', `kernel load from 0x${pa.toString(16)} faulted (${r.fault})`);
    return new DataView(r.data.buffer, r.data.byteOffset, 8).getBigUint64(0, true);
  }

  async readWords(pa: number, count: number): Promise<bigint[]> {
    const r = await this.bus.memRead(pa, 8 * count);
    if (!r.ok) throw new KernelError('EFAULT', `kernel load from 0x${pa.toString(16)} faulted (${r.fault})`);
    const dv = new DataView(r.data.buffer, r.data.byteOffset, 8 * count);
    return Array.from({ length: count }, (_, i) => dv.getBigUint64(8 * i, true));
  }

  async read32(pa: number): Promise<number> {
    const r = await this.bus.memRead(pa, 4);
    if (!r.ok) throw new KernelError('EFAULT', `kernel load from 0x${pa.toString(16)} faulted (${r.fault})`);
    return new DataView(r.data.buffer, r.data.byteOffset, 4).getUint32(0, true);
  }

  /** Every byte of [pa, pa+length) is memory a load can reach (no hole, no MMIO). */
  async accessible(pa: number, length: number): Promise<boolean> {
    if (length <= 0) return true;
    if (this.bus.memCheck) return (await this.bus.memCheck(pa, length)).ok;
    const CHUNK = 1 << 20;
    for (let at = pa; at < pa + length; at += CHUNK) {
      if (!(await this.bus.memRead(at, Math.min(CHUNK, pa + length - at))).ok) return false;
    }
    return true;
  }

  /**
   * Zeroes `bytes` at `pa` (dma_alloc_coherent returns zeroed memory). Pages that already read
   * as zero are skipped, so a 4 MiB queue costs the twin nothing unless an earlier kernel left
   * data there (the bytes read the same; untouched pages keep no writer).
   */
  async zero(pa: number, bytes: number): Promise<void> {
    if (bytes <= 4096) {
      const r = await this.bus.memWrite(pa, new Uint8Array(bytes));
      if (!r.ok) throw new KernelError('EFAULT', `kernel store to 0x${pa.toString(16)} faulted (${r.fault})`);
      return;
    }
    const cur = await this.bus.memRead(pa, bytes);
    if (!cur.ok) throw new KernelError('EFAULT', `kernel store to 0x${pa.toString(16)} faulted (${cur.fault})`);
    const data = Buffer.from(cur.data.buffer, cur.data.byteOffset, cur.data.length);
    for (let off = 0; off < bytes; off += 4096) {
      const n = Math.min(4096, bytes - off);
      if (data.subarray(off, off + n).equals(ZERO_PAGE.subarray(0, n))) continue;
      const r = await this.bus.memWrite(pa + off, ZERO_PAGE.subarray(0, n));
      if (!r.ok) throw new KernelError('EFAULT', `kernel store to 0x${(pa + off).toString(16)} faulted (${r.fault})`);
    }
  }
}

/** A structure's words from fields, through the smmu-arch table (the kernel's FIELD_PREPs). */
export function build(layout: Layout, fields: Record<string, number | bigint | string>): bigint[] {
  return layout.build(fields);
}
