// SPDX-License-Identifier: Apache-2.0
// A machine as a script drives it (smmu-twin's SmmuTwinService): MMIO by register name or
// offset, physical memory, single transactions and DMA batches, virtual time, snapshots, and
// the SMMUs' interrupts, event records and global errors as a stream. Over a SmmuSystem of its
// own, or over the platform of a scenario session (whose time the session moves). Input a
// script gets wrong (a size other than 4 or 8, an offset outside the register space, an
// address beyond the PA size, an oversized batch) is a MachineInputError naming the field;
// anything a driver or device could do gets the architected answer.

import type { PhysicalMemory, VirtualClock } from '@kdump-twin/platform';
import { findRegister } from '@kdump-twin/smmu-arch';
import type { SmmuV3 } from './smmu';
import { SmmuSystem, type SystemConfig, type SystemSnapshot } from './system';
import type { InterruptEvent, MmioResult, TranslateResult, Transaction } from './types';

/** Bad input from a script, with the request field it is about. */
export class MachineInputError extends Error {
  constructor(
    readonly field: string,
    readonly rule: string,
    readonly code: 'invalid' | 'out-of-range' | 'not-found' | 'precondition' = 'invalid',
    cause?: unknown,
  ) {
    super(`${field}: ${rule}`, cause === undefined ? undefined : { cause });
    this.name = 'MachineInputError';
  }
}

/** Two 64 KiB register pages (IHI0070 6.1). */
export const SMMU_MMIO_BYTES = 0x20000;
export const MAX_DMA_BATCH = 4096;
export const MAX_MEMORY_ACCESS = 1 << 20;

export type RegisterTarget = { readonly register: string } | { readonly offset: number };

export interface RegisterAccessResult extends MmioResult {
  readonly time: number;
  readonly smmu: string;
  readonly offset: number;
  readonly size: 4 | 8;
  readonly dir: 'read' | 'write';
}

export interface DmaTransactionInput extends Transaction {
  readonly data?: Uint8Array;
}

export interface DmaResultOutput {
  readonly status: 'SC' | 'UR' | 'CA' | 'stalled';
  readonly outcome: 'translated' | 'bypassed' | 'aborted' | 'faulted' | 'stalled' | 'raz-wi';
  readonly pa?: number;
  readonly path: string;
  readonly event?: string;
  readonly data?: Uint8Array;
}

export type MachineEvent =
  | {
      readonly kind: 'interrupt';
      readonly time: number;
      readonly smmu: string;
      readonly name: string;
      readonly detail: string;
      readonly address: number;
      readonly data: number;
    }
  | {
      readonly kind: 'event-record';
      readonly time: number;
      readonly smmu: string;
      readonly name: string;
      readonly detail: string;
      readonly address: number;
      readonly data: number;
    }
  | {
      readonly kind: 'gerror';
      readonly time: number;
      readonly smmu: string;
      readonly name: string;
      readonly detail: string;
      readonly address: number;
      readonly data: number;
    };

/** GERROR's error bits (IHI0070 6.3.19): each becomes active when it differs from GERRORN's. */
const GERROR_BITS = findRegister('GERROR')!
  .fields.filter((f) => f.name.endsWith('_ERR'))
  .map((f) => ({ name: f.name, lsb: f.lsb }));

interface Parts {
  readonly clock: VirtualClock;
  readonly memory: PhysicalMemory;
  readonly smmus: readonly SmmuV3[];
}

export class Machine {
  private readonly writer: number;
  private readonly watchers = new Set<{ smmu?: number; fn: (e: MachineEvent) => void }>();
  private readonly seenEvents: number[];
  private readonly activeErrors: bigint[];

  private constructor(
    readonly id: string,
    readonly kind: 'machine' | 'session',
    private readonly parts: Parts,
    private readonly system: SmmuSystem | undefined,
    /** Set while the owner (a session step) runs: the machine refuses writes and time. */
    private readonly busy: () => string | undefined = () => undefined,
  ) {
    this.writer = parts.memory.internWriter({ kind: 'loader', device: 'script' });
    this.seenEvents = parts.smmus.map((s) => s.events().length);
    this.activeErrors = parts.smmus.map((s) => s.register('GERROR') ^ s.register('GERRORN'));
    parts.smmus.forEach((s, i) =>
      s.onInterrupt((e: InterruptEvent) => {
        this.emit(i, { kind: 'interrupt', time: e.time, smmu: s.name, name: e.source, detail: e.kind, address: e.address ?? 0, data: e.data ?? 0 });
      }),
    );
  }

  /** A machine of its own: memory and SMMUs at time 0. */
  static create(id: string, c: SystemConfig): Machine {
    const sys = SmmuSystem.create(c);
    return new Machine(id, 'machine', sys, sys);
  }

  static restore(id: string, snapshot: SystemSnapshot): Machine {
    const sys = SmmuSystem.restore(snapshot);
    return new Machine(id, 'machine', sys, sys);
  }

  /** The platform of a scenario session: its time is the session's. */
  static over(id: string, parts: Parts, busy: () => string | undefined): Machine {
    return new Machine(id, 'session', parts, undefined, busy);
  }

  get time(): number {
    return this.parts.clock.now();
  }

  get smmus(): readonly SmmuV3[] {
    return this.parts.smmus;
  }

  private smmu(i: number): SmmuV3 {
    const s = Number.isInteger(i) ? this.parts.smmus[i] : undefined;
    if (!s) throw new MachineInputError('smmu', `no SMMU ${i} (this machine has ${this.parts.smmus.length})`, 'not-found');
    return s;
  }

  private writable(what: string): void {
    const b = this.busy();
    if (b) throw new MachineInputError(what, `the session is running ${b}; write between steps`, 'precondition');
  }

  private locate(target: RegisterTarget, size: number): { offset: number; size: 4 | 8 } {
    let offset: number;
    let width = 0;
    if ('register' in target) {
      const r = findRegister(target.register.replace(/^SMMU_/, ''));
      if (!r) throw new MachineInputError('register', `no SMMU register ${target.register}`, 'not-found');
      offset = r.absoluteOffset;
      width = r.width / 8;
    } else {
      offset = target.offset;
      if (!Number.isInteger(offset) || offset < 0 || offset >= SMMU_MMIO_BYTES)
        throw new MachineInputError(
          'offset',
          `0x${offset.toString(16)} is outside the SMMU's register space [0, 0x${SMMU_MMIO_BYTES.toString(16)})`,
          'out-of-range',
        );
    }
    const sz = size === 0 ? width || 4 : size;
    if (sz !== 4 && sz !== 8) throw new MachineInputError('size', `4 or 8 bytes (got ${size})`);
    return { offset, size: sz };
  }

  readRegister(smmu: number, target: RegisterTarget, size = 0): RegisterAccessResult {
    const s = this.smmu(smmu);
    const at = this.locate(target, size);
    const r = s.mmioRead(at.offset, at.size);
    return { ...r, time: this.time, smmu: s.name, offset: at.offset, size: at.size, dir: 'read' };
  }

  writeRegister(smmu: number, target: RegisterTarget, value: bigint, size = 0): RegisterAccessResult {
    const s = this.smmu(smmu);
    const at = this.locate(target, size);
    this.writable('register');
    if (value < 0n || value >= 1n << BigInt(at.size * 8)) throw new MachineInputError('value', `does not fit in ${at.size * 8} bits`);
    const r = s.mmioWrite(at.offset, at.size, value);
    this.scan();
    return { ...r, time: this.time, smmu: s.name, offset: at.offset, size: at.size, dir: 'write' };
  }

  private span(pa: number, length: number): void {
    if (!Number.isSafeInteger(pa) || pa < 0) throw new MachineInputError('pa', 'a non-negative address');
    if (!Number.isInteger(length) || length < 1 || length > MAX_MEMORY_ACCESS)
      throw new MachineInputError('length', `1..${MAX_MEMORY_ACCESS} bytes (got ${length})`);
    const f = this.parts.memory.check(pa, length);
    if (f)
      throw new MachineInputError(
        'pa',
        `0x${f.address.toString(16)}: ${f.fault === 'out-of-range' ? `beyond the ${this.parts.memory.paBits}-bit physical address space` : f.fault === 'mmio' ? 'MMIO, not memory' : 'no memory there (a hole in the address map)'}`,
        'out-of-range',
      );
  }

  readMemory(pa: number, length: number): Uint8Array {
    this.span(pa, length);
    const r = this.parts.memory.read(pa, length);
    if (!r.ok) throw new MachineInputError('pa', `0x${r.address.toString(16)}: ${r.fault}`, 'out-of-range');
    return r.data;
  }

  writeMemory(pa: number, data: Uint8Array): void {
    this.span(pa, data.length);
    this.writable('data');
    const r = this.parts.memory.write(pa, data, this.writer);
    if (!r.ok) throw new MachineInputError('data', r.message, r.fault === 'backing-limit' ? 'precondition' : 'out-of-range');
  }

  private transaction(t: Transaction, field: string): void {
    if (!Number.isInteger(t.sid) || t.sid < 0 || t.sid > 0xffff_ffff) throw new MachineInputError(`${field}.sid`, 'a 32-bit StreamID');
    if (t.ssid !== undefined && (!Number.isInteger(t.ssid) || t.ssid < 0 || t.ssid >= 1 << 20))
      throw new MachineInputError(`${field}.ssid`, 'a 20-bit SubstreamID');
    if (!Number.isSafeInteger(t.address) || t.address < 0) throw new MachineInputError(`${field}.address`, 'a non-negative address below 2^53');
    if (!Number.isInteger(t.size) || t.size < 1 || t.size > 4096 || (t.address % 4096) + t.size > 4096)
      throw new MachineInputError(`${field}.size`, '1..4096 bytes within one 4 KiB page');
  }

  translate(smmu: number, t: Transaction): TranslateResult {
    const s = this.smmu(smmu);
    this.transaction(t, 'transaction');
    this.writable('transaction');
    const r = s.translate(t);
    this.scan();
    return r;
  }

  /** Each transaction translated and performed on memory in order, attributed to its StreamID. */
  submitDma(smmu: number, batch: readonly DmaTransactionInput[]): DmaResultOutput[] {
    const s = this.smmu(smmu);
    if (batch.length < 1 || batch.length > MAX_DMA_BATCH) throw new MachineInputError('transactions', `1..${MAX_DMA_BATCH} per batch (got ${batch.length})`);
    batch.forEach((t, i) => {
      this.transaction(t, `transactions[${i}]`);
      if (t.write && (!t.data || t.data.length !== t.size))
        throw new MachineInputError(`transactions[${i}].data`, `a write carries exactly size (${t.size}) bytes`);
    });
    this.writable('transactions');
    const out = batch.map((t) => this.dmaOne(s, t));
    this.scan();
    return out;
  }

  private dmaOne(s: SmmuV3, t: DmaTransactionInput): DmaResultOutput {
    const r = s.translate(t);
    const base = { path: r.path, ...(r.event ? { event: r.event } : {}) };
    if (t.ats === 'request')
      return {
        status: r.ats?.status === 'SC' ? 'SC' : r.ats?.status === 'CA' ? 'CA' : 'UR',
        outcome: r.outcome === 'aborted' ? 'aborted' : 'translated',
        ...(r.pa >= 0 ? { pa: r.pa } : {}),
        ...base,
      };
    if (r.outcome === 'stalled') return { status: 'stalled', outcome: 'stalled', ...base };
    if (r.outcome === 'raz-wi') return { status: 'SC', outcome: 'raz-wi', ...base, ...(t.write ? {} : { data: new Uint8Array(t.size) }) };
    if (r.outcome === 'aborted' || r.pa < 0) return { status: 'UR', outcome: r.event ? 'faulted' : 'aborted', ...base };
    const writer = this.parts.memory.internWriter({ kind: r.outcome === 'bypassed' ? 'device-bypass' : 'device-translated', sid: t.sid });
    if (t.write) {
      const w = this.parts.memory.write(r.pa, t.data!, writer);
      return w.ok ? { status: 'SC', outcome: r.outcome, pa: r.pa, ...base } : { status: 'CA', outcome: 'aborted', pa: r.pa, ...base };
    }
    const rd = this.parts.memory.read(r.pa, t.size);
    return rd.ok ? { status: 'SC', outcome: r.outcome, pa: r.pa, ...base, data: rd.data } : { status: 'CA', outcome: 'aborted', pa: r.pa, ...base };
  }

  /** Lets time pass (a machine of its own only). */
  advance(ns: number): number {
    if (!this.system) throw new MachineInputError('machine_id', "a session's time moves with ScenarioService.AdvanceSession", 'precondition');
    if (!Number.isSafeInteger(ns) || ns < 0 || ns > 10_000_000_000) throw new MachineInputError('ns', '0..10 s of virtual nanoseconds');
    // Step timer by timer so the event and error scan sees each change when it happens.
    const end = this.time + ns;
    for (let next = this.parts.clock.nextDeadline(); next !== undefined && next <= end; next = this.parts.clock.nextDeadline()) {
      this.parts.clock.runNext();
      this.scan();
    }
    this.parts.clock.advanceTo(end);
    return this.time;
  }

  snapshot(): SystemSnapshot {
    if (!this.system)
      throw new MachineInputError('machine_id', "a session's platform is not a standalone machine: snapshot a machine (CreateMachine)", 'precondition');
    return this.system.snapshot();
  }

  violations() {
    return this.parts.smmus.flatMap((s) => s.violations()).sort((a, b) => a.time - b.time);
  }

  /** Interrupts, event records and global errors from now on; returns the unsubscribe. */
  watch(fn: (e: MachineEvent) => void, smmu?: number): () => void {
    if (smmu !== undefined) this.smmu(smmu);
    const w = { ...(smmu !== undefined ? { smmu } : {}), fn };
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }

  private emit(i: number, e: MachineEvent): void {
    for (const w of this.watchers) if (w.smmu === undefined || w.smmu === i) w.fn(e);
  }

  /** New event records and newly active global errors since the last look (a session calls it after each step). */
  scan(): void {
    this.parts.smmus.forEach((s, i) => {
      const log = s.events();
      for (let j = this.seenEvents[i]!; j < log.length; j++) {
        const e = log[j]!;
        this.emit(i, { kind: 'event-record', time: e.time, smmu: s.name, name: e.name, detail: e.fate, address: 0, data: e.sid });
      }
      this.seenEvents[i] = log.length;
      const active = s.register('GERROR') ^ s.register('GERRORN');
      const fresh = active & ~this.activeErrors[i]!;
      this.activeErrors[i] = active;
      if (fresh)
        for (const f of GERROR_BITS)
          if ((fresh >> BigInt(f.lsb)) & 1n)
            this.emit(i, { kind: 'gerror', time: this.time, smmu: s.name, name: f.name, detail: 'active', address: 0, data: f.lsb });
    });
  }
}
