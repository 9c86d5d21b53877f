// SPDX-License-Identifier: Apache-2.0
// Sparse physical memory up to the configured PA size, with named regions (primary-kernel RAM,
// crashkernel carve-out, device buffers, MMIO and unbacked holes) and per-byte write
// attribution: every byte remembers the log record of its last write (who, virtual time,
// epoch), so a report can say exactly which bytes a device corrupted after the crash.
// Accesses never throw on addresses a driver or device can produce: they return the fault
// (an external abort for the caller to turn into F_WALK_EABT, F_STE_FETCH, a completer abort...).
// Running out of backing (maxBackedBytes) is not such a fault: it is a limit of the simulator,
// refused with 'backing-limit' and recorded in simulatorErrors(), never an architected abort.

import { Buffer } from 'node:buffer';
import type { VirtualClock } from './clock';

export type RegionKind = 'ram' | 'crashkernel' | 'device-buffer' | 'mmio' | 'hole';

export interface Region {
  readonly name: string;
  readonly base: number;
  readonly size: number;
  readonly kind: RegionKind;
  /** Who the bytes belong to, e.g. "primary-kernel", "kdump-kernel", "nvme0". */
  readonly owner?: string;
}

export type Epoch = 'primary' | 'kdump';
export type WriterKind = 'primary-cpu' | 'kdump-cpu' | 'device-translated' | 'device-bypass' | 'smmu' | 'loader';

export interface Writer {
  readonly kind: WriterKind;
  /** StreamID of a device write. */
  readonly sid?: number;
  /** Device or SMMU name. */
  readonly device?: string;
}

/** Why an access aborts: an external abort from the interconnect. */
export type AccessFault = 'unbacked' | 'mmio' | 'out-of-range';

export interface MemoryConfig {
  /** Physical address size in bits, 32..52. */
  readonly paBits: number;
  /** Bound on backed (written) memory in bytes, a multiple of 4096. */
  readonly maxBackedBytes: number;
  /** With no regions, everything below 2^paBits is RAM. */
  readonly regions?: readonly Region[];
}

export interface WriteRecord {
  /** Index in the write log. */
  readonly seq: number;
  readonly writer: Writer;
  readonly time: number;
  readonly epoch: Epoch;
  readonly address: number;
  readonly length: number;
}

export interface AttributedRun {
  readonly address: number;
  readonly length: number;
  /** The last write of these bytes; undefined if never written. */
  readonly record?: WriteRecord;
}

/** A write the simulator refused because it would exceed memory.maxBackedBytes (not guest-visible behaviour). */
export interface SimulatorError {
  readonly time: number;
  readonly address: number;
  readonly length: number;
  readonly writer: Writer;
  /** Names the bound: "... above memory.maxBackedBytes=N". */
  readonly message: string;
}

export interface MemorySnapshot {
  readonly version: 1;
  readonly paBits: number;
  readonly maxBackedBytes: number;
  readonly regions: Region[];
  readonly epoch: Epoch;
  readonly writers: Writer[];
  readonly pages: { page: number; data: string; shadow: string }[];
  readonly log: { count: number; writer: string; epoch: string; time: string; address: string; length: string };
  /** Backing-limit refusals (absent in older snapshots). */
  readonly simulatorErrors?: { count: number; recent: SimulatorError[]; last?: SimulatorError };
}

export class PlatformConfigError extends Error {
  constructor(
    readonly field: string,
    readonly rule: string,
  ) {
    super(`${field}: ${rule}`);
    this.name = 'PlatformConfigError';
  }
}

export const PAGE_SIZE = 4096;
const ACCESSIBLE: ReadonlySet<RegionKind> = new Set(['ram', 'crashkernel', 'device-buffer']);
/** At most this many backing-limit refusals are kept in detail (all are counted). */
const MAX_SIMULATOR_ERRORS = 1000;
/**
 * Estimated heap bytes of one backed page beyond its two typed arrays: the Page object, the
 * DataView, two ArrayBuffer headers and the Map entry (V8, 64-bit). An estimate, stated as one.
 */
export const PAGE_OBJECT_OVERHEAD_BYTES = 400;
const EPOCHS: readonly Epoch[] = ['primary', 'kdump'];

interface Page {
  readonly data: Uint8Array;
  readonly view: DataView;
  /** Log index + 1 of the last write of each byte; 0 = never written. */
  readonly shadow: Uint32Array;
}

function checkRegion(r: Region, paBits: number, at: string): void {
  if (typeof r.name !== 'string' || r.name.length === 0) throw new PlatformConfigError(`${at}.name`, 'a non-empty string');
  if (!ACCESSIBLE.has(r.kind) && r.kind !== 'mmio' && r.kind !== 'hole')
    throw new PlatformConfigError(`${at}.kind`, 'one of ram, crashkernel, device-buffer, mmio, hole');
  if (!Number.isSafeInteger(r.base) || r.base < 0) throw new PlatformConfigError(`${at}.base`, 'a non-negative integer address');
  if (!Number.isSafeInteger(r.size) || r.size <= 0) throw new PlatformConfigError(`${at}.size`, 'a positive integer number of bytes');
  if (r.base + r.size > 2 ** paBits)
    throw new PlatformConfigError(`${at}`, `[0x${r.base.toString(16)}, +0x${r.size.toString(16)}) ends above the ${paBits}-bit PA space`);
}

/** Sparse physical memory with regions and write attribution. */
export class PhysicalMemory {
  readonly paBits: number;
  readonly maxBackedBytes: number;
  private readonly limit: number;
  private regionList: Region[] = [];
  private lastRegion: Region | undefined;
  private readonly pages = new Map<number, Page>();
  private readonly writers: Writer[] = [];
  private readonly writerIds = new Map<string, number>();
  private epochCode = 0;
  // The write log, columnar (23 bytes per record).
  private logCount = 0;
  private logWriter = new Uint16Array(1024);
  private logEpoch = new Uint8Array(1024);
  private logTime = new Float64Array(1024);
  private logAddress = new Float64Array(1024);
  private logLength = new Uint32Array(1024);
  private readonly scratch = new Uint8Array(8);
  private simErrorCount = 0;
  private readonly simErrorLog: SimulatorError[] = [];
  private lastSimError: SimulatorError | undefined;

  constructor(
    config: MemoryConfig,
    private readonly clock: VirtualClock,
  ) {
    if (!Number.isInteger(config.paBits) || config.paBits < 32 || config.paBits > 52) throw new PlatformConfigError('memory.paBits', 'an integer 32..52');
    if (!Number.isSafeInteger(config.maxBackedBytes) || config.maxBackedBytes <= 0 || config.maxBackedBytes % PAGE_SIZE !== 0) {
      throw new PlatformConfigError('memory.maxBackedBytes', 'a positive multiple of 4096');
    }
    this.paBits = config.paBits;
    this.maxBackedBytes = config.maxBackedBytes;
    this.limit = 2 ** config.paBits;
    (config.regions ?? []).forEach((r, i) => this.addRegionAt(r, `memory.regions[${i}]`));
  }

  // --- regions -----------------------------------------------------------------------------

  addRegion(r: Region): void {
    this.addRegionAt(r, 'region');
  }

  private addRegionAt(r: Region, at: string): void {
    checkRegion(r, this.paBits, at);
    for (const o of this.regionList) {
      if (r.base < o.base + o.size && o.base < r.base + r.size) throw new PlatformConfigError(at, `${r.name} overlaps ${o.name}`);
      if (o.name === r.name) throw new PlatformConfigError(`${at}.name`, `${r.name} is already defined`);
    }
    this.regionList = [...this.regionList, { ...r }].sort((a, b) => a.base - b.base);
    this.lastRegion = undefined;
  }

  regions(): readonly Region[] {
    return this.regionList;
  }

  regionAt(pa: number): Region | undefined {
    const last = this.lastRegion;
    if (last && pa >= last.base && pa < last.base + last.size) return last;
    const list = this.regionList;
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = list[mid]!;
      if (pa < r.base) hi = mid - 1;
      else if (pa >= r.base + r.size) lo = mid + 1;
      else {
        this.lastRegion = r;
        return r;
      }
    }
    return undefined;
  }

  region(name: string): Region | undefined {
    return this.regionList.find((r) => r.name === name);
  }

  /** The fault an access of [pa, pa+length) takes, or undefined when every byte is accessible. */
  check(pa: number, length: number): { fault: AccessFault; address: number } | undefined {
    if (!(pa >= 0) || !Number.isInteger(pa) || pa + length > this.limit) return { fault: 'out-of-range', address: pa };
    if (this.regionList.length === 0) return undefined;
    let at = pa;
    const end = pa + length;
    while (at < end) {
      const r = this.regionAt(at);
      if (!r) return { fault: 'unbacked', address: at };
      if (!ACCESSIBLE.has(r.kind)) return { fault: r.kind === 'mmio' ? 'mmio' : 'unbacked', address: at };
      at = r.base + r.size;
    }
    return undefined;
  }

  // --- epoch and writers ---------------------------------------------------------------------

  get epoch(): Epoch {
    return EPOCHS[this.epochCode]!;
  }

  setEpoch(e: Epoch): void {
    const i = EPOCHS.indexOf(e);
    if (i < 0) throw new PlatformConfigError('epoch', "'primary' or 'kdump'");
    this.epochCode = i;
  }

  internWriter(w: Writer): number {
    const key = `${w.kind}/${w.sid ?? ''}/${w.device ?? ''}`;
    let id = this.writerIds.get(key);
    if (id === undefined) {
      if (this.writers.length >= 0xffff) throw new RangeError('more than 65535 distinct writers');
      id = this.writers.length;
      this.writers.push({ ...w });
      this.writerIds.set(key, id);
    }
    return id;
  }

  writer(id: number): Writer {
    const w = this.writers[id];
    if (!w) throw new RangeError(`no writer ${id}`);
    return w;
  }

  // --- hot path ------------------------------------------------------------------------------

  private fastOk(pa: number, length: number): boolean {
    const last = this.lastRegion;
    return last !== undefined && pa >= last.base && pa + length <= last.base + last.size && ACCESSIBLE.has(last.kind);
  }

  /** Reads a little-endian 64-bit dword as two uint32 halves into `out`. */
  readDword(pa: number, out: { lo: number; hi: number }): AccessFault | undefined {
    if (!this.fastOk(pa, 8)) {
      const f = this.check(pa, 8);
      if (f) return f.fault;
    }
    const off = pa % PAGE_SIZE;
    if (off <= PAGE_SIZE - 8) {
      const p = this.pages.get((pa - off) / PAGE_SIZE);
      if (!p) {
        out.lo = 0;
        out.hi = 0;
      } else {
        out.lo = p.view.getUint32(off, true);
        out.hi = p.view.getUint32(off + 4, true);
      }
      return undefined;
    }
    this.copyOut(pa, this.scratch, 8);
    const v = new DataView(this.scratch.buffer);
    out.lo = v.getUint32(0, true);
    out.hi = v.getUint32(4, true);
    return undefined;
  }

  read32(pa: number, out: { value: number }): AccessFault | undefined {
    if (!this.fastOk(pa, 4)) {
      const f = this.check(pa, 4);
      if (f) return f.fault;
    }
    const off = pa % PAGE_SIZE;
    if (off <= PAGE_SIZE - 4) {
      const p = this.pages.get((pa - off) / PAGE_SIZE);
      out.value = p ? p.view.getUint32(off, true) : 0;
      return undefined;
    }
    this.copyOut(pa, this.scratch, 4);
    out.value = new DataView(this.scratch.buffer).getUint32(0, true);
    return undefined;
  }

  write32(pa: number, value: number, writerId: number): AccessFault | 'backing-limit' | undefined {
    const v = new DataView(this.scratch.buffer);
    v.setUint32(0, value >>> 0, true);
    const r = this.write(pa, this.scratch.subarray(0, 4), writerId);
    return r.ok ? undefined : r.fault;
  }

  writeDword(pa: number, lo: number, hi: number, writerId: number): AccessFault | 'backing-limit' | undefined {
    const v = new DataView(this.scratch.buffer);
    v.setUint32(0, lo >>> 0, true);
    v.setUint32(4, hi >>> 0, true);
    const r = this.write(pa, this.scratch.subarray(0, 8), writerId);
    return r.ok ? undefined : r.fault;
  }

  read(pa: number, length: number): { ok: true; data: Uint8Array } | { ok: false; fault: AccessFault; address: number } {
    if (!Number.isInteger(length) || length < 0) return { ok: false, fault: 'out-of-range', address: pa };
    const f = this.check(pa, length);
    if (f) return { ok: false, ...f };
    const data = new Uint8Array(length);
    this.copyOut(pa, data, length);
    return { ok: true, data };
  }

  /**
   * Writes `data` at `pa`, attributed to `writerId` at the current virtual time and epoch.
   * All or nothing: a fault or the backing limit writes no byte.
   */
  write(pa: number, data: Uint8Array, writerId: number): { ok: true } | { ok: false; fault: AccessFault | 'backing-limit'; address: number; message: string } {
    const length = data.length;
    if (!this.fastOk(pa, length)) {
      const f = this.check(pa, length);
      if (f) return { ok: false, ...f, message: `${f.fault} at 0x${f.address.toString(16)}` };
    }
    if (writerId < 0 || writerId >= this.writers.length) throw new RangeError(`write: writer id ${writerId} was never interned`);
    if (length === 0) return { ok: true };
    const first = Math.floor(pa / PAGE_SIZE);
    const last = Math.floor((pa + length - 1) / PAGE_SIZE);
    let missing = 0;
    for (let p = first; p <= last; p++) if (!this.pages.has(p)) missing++;
    if (missing > 0 && (this.pages.size + missing) * PAGE_SIZE > this.maxBackedBytes) {
      const message = `simulator limit: writing ${length} bytes at 0x${pa.toString(16)} needs ${missing} new page(s), above memory.maxBackedBytes=${this.maxBackedBytes}`;
      this.simErrorCount++;
      this.lastSimError = { time: this.clock.now(), address: pa, length, writer: this.writers[writerId]!, message };
      if (this.simErrorLog.length < MAX_SIMULATOR_ERRORS) this.simErrorLog.push(this.lastSimError);
      return { ok: false, fault: 'backing-limit', address: pa, message };
    }
    const rec = this.append(writerId, pa, length) + 1;
    let src = 0;
    let at = pa;
    while (src < length) {
      const off = at % PAGE_SIZE;
      const n = Math.min(length - src, PAGE_SIZE - off);
      const page = this.page((at - off) / PAGE_SIZE);
      page.data.set(src === 0 && n === length ? data : data.subarray(src, src + n), off);
      page.shadow.fill(rec, off, off + n);
      src += n;
      at += n;
    }
    return { ok: true };
  }

  /** Whether the 4 KiB page holding `pa` has backing already (a write to it cannot meet the backing bound). */
  backed(pa: number): boolean {
    return this.pages.has(Math.floor(pa / PAGE_SIZE));
  }

  private page(n: number): Page {
    let p = this.pages.get(n);
    if (!p) {
      const data = new Uint8Array(PAGE_SIZE);
      p = { data, view: new DataView(data.buffer), shadow: new Uint32Array(PAGE_SIZE) };
      this.pages.set(n, p);
    }
    return p;
  }

  private copyOut(pa: number, dst: Uint8Array, length: number): void {
    let done = 0;
    let at = pa;
    while (done < length) {
      const off = at % PAGE_SIZE;
      const n = Math.min(length - done, PAGE_SIZE - off);
      const p = this.pages.get((at - off) / PAGE_SIZE);
      if (p) dst.set(p.data.subarray(off, off + n), done);
      else dst.fill(0, done, done + n);
      done += n;
      at += n;
    }
  }

  private append(writer: number, address: number, length: number): number {
    if (this.logCount === this.logWriter.length) {
      const n = this.logCount * 2;
      const grow = <T extends Uint16Array | Uint8Array | Float64Array | Uint32Array>(a: T, C: new (n: number) => T): T => {
        const b = new C(n);
        b.set(a);
        return b;
      };
      this.logWriter = grow(this.logWriter, Uint16Array);
      this.logEpoch = grow(this.logEpoch, Uint8Array);
      this.logTime = grow(this.logTime, Float64Array);
      this.logAddress = grow(this.logAddress, Float64Array);
      this.logLength = grow(this.logLength, Uint32Array);
    }
    const i = this.logCount++;
    this.logWriter[i] = writer;
    this.logEpoch[i] = this.epochCode;
    this.logTime[i] = this.clock.now();
    this.logAddress[i] = address;
    this.logLength[i] = length;
    return i;
  }

  // --- attribution ---------------------------------------------------------------------------

  record(seq: number): WriteRecord {
    if (!(seq >= 0 && seq < this.logCount)) throw new RangeError(`no write record ${seq}`);
    return {
      seq,
      writer: this.writers[this.logWriter[seq]!]!,
      time: this.logTime[seq]!,
      epoch: EPOCHS[this.logEpoch[seq]!]!,
      address: this.logAddress[seq]!,
      length: this.logLength[seq]!,
    };
  }

  writeLog(): { count: number; get(i: number): WriteRecord } {
    return { count: this.logCount, get: (i) => this.record(i) };
  }

  /**
   * Visits the writes logged from sequence `from` on (writer id, address, length), oldest first,
   * without building records; returns the log's length, the `from` of the next visit.
   */
  writesSince(from: number, visit: (writerId: number, address: number, length: number) => void): number {
    for (let i = Math.max(0, from); i < this.logCount; i++) visit(this.logWriter[i]!, this.logAddress[i]!, this.logLength[i]!);
    return this.logCount;
  }

  lastWriteAt(pa: number): WriteRecord | undefined {
    const off = pa % PAGE_SIZE;
    const p = this.pages.get((pa - off) / PAGE_SIZE);
    const s = p ? p.shadow[off]! : 0;
    return s === 0 ? undefined : this.record(s - 1);
  }

  /** Maximal runs of [pa, pa+length) whose bytes share the same last write. */
  attribute(pa: number, length: number): AttributedRun[] {
    const runs: AttributedRun[] = [];
    let runStart = pa;
    let runTag = -1;
    for (let at = pa; at < pa + length;) {
      const off = at % PAGE_SIZE;
      const n = Math.min(pa + length - at, PAGE_SIZE - off);
      const p = this.pages.get((at - off) / PAGE_SIZE);
      for (let i = 0; i < n; i++) {
        const tag = p ? p.shadow[off + i]! : 0;
        if (tag !== runTag) {
          if (runTag >= 0) runs.push({ address: runStart, length: at + i - runStart, record: runTag ? this.record(runTag - 1) : undefined });
          runStart = at + i;
          runTag = tag;
        }
      }
      at += n;
    }
    if (runTag >= 0) runs.push({ address: runStart, length: pa + length - runStart, record: runTag ? this.record(runTag - 1) : undefined });
    return runs;
  }

  /**
   * Runs of backed bytes (optionally inside `within`) whose last write matches `pred`: e.g. every
   * byte of primary-kernel RAM a device wrote in the kdump epoch. Pages in address order.
   */
  bytesWrittenBy(pred: (r: WriteRecord) => boolean, within?: { base: number; size: number }): AttributedRun[] {
    const out: AttributedRun[] = [];
    const pages = [...this.pages.keys()].sort((a, b) => a - b);
    const memo = new Map<number, boolean>();
    for (const pn of pages) {
      let start = pn * PAGE_SIZE;
      let end = start + PAGE_SIZE;
      if (within) {
        start = Math.max(start, within.base);
        end = Math.min(end, within.base + within.size);
        if (start >= end) continue;
      }
      for (const run of this.attribute(start, end - start)) {
        if (!run.record) continue;
        let m = memo.get(run.record.seq);
        if (m === undefined) {
          m = pred(run.record);
          memo.set(run.record.seq, m);
        }
        if (!m) continue;
        const prev = out.at(-1);
        if (prev && prev.record?.seq === run.record.seq && prev.address + prev.length === run.address)
          out[out.length - 1] = { ...prev, length: prev.length + run.length };
        else out.push(run);
      }
    }
    return out;
  }

  backedBytes(): number {
    return this.pages.size * PAGE_SIZE;
  }

  /**
   * Writes refused because they would exceed memory.maxBackedBytes: a simulator limit, not
   * something the guest did. `count` counts every refusal; `recent` keeps the first 1000.
   */
  simulatorErrors(): { count: number; recent: readonly SimulatorError[]; last?: SimulatorError } {
    return { count: this.simErrorCount, recent: this.simErrorLog, last: this.lastSimError };
  }

  /**
   * What the memory costs the host. maxBackedBytes bounds only `backedBytes` (the guest-visible
   * data pages); each backed page also carries a 4x shadow (16 KiB) for attribution, and the
   * write log (23 bytes per record, capacity doubling) is unbounded: `heapBytes` is the sum of
   * every typed array's byteLength plus an estimated per-page object overhead.
   */
  stats(): {
    backedBytes: number;
    shadowBytes: number;
    logBytes: number;
    pages: number;
    writes: number;
    writers: number;
    heapBytes: number;
    simulatorErrors: number;
  } {
    let data = 0;
    let shadow = 0;
    for (const p of this.pages.values()) {
      data += p.data.byteLength;
      shadow += p.shadow.byteLength;
    }
    const logBytes = this.logWriter.byteLength + this.logEpoch.byteLength + this.logTime.byteLength + this.logAddress.byteLength + this.logLength.byteLength;
    const heapBytes = data + shadow + this.pages.size * PAGE_OBJECT_OVERHEAD_BYTES + logBytes;
    return {
      backedBytes: data,
      shadowBytes: shadow,
      logBytes,
      pages: this.pages.size,
      writes: this.logCount,
      writers: this.writers.length,
      heapBytes,
      simulatorErrors: this.simErrorCount,
    };
  }

  // --- snapshots -----------------------------------------------------------------------------

  snapshot(): MemorySnapshot {
    const b64 = (a: ArrayBufferView, bytes: number) => Buffer.from(a.buffer, a.byteOffset, bytes).toString('base64');
    const n = this.logCount;
    return {
      version: 1,
      paBits: this.paBits,
      maxBackedBytes: this.maxBackedBytes,
      regions: this.regionList.map((r) => ({ ...r })),
      epoch: this.epoch,
      writers: this.writers.map((w) => ({ ...w })),
      pages: [...this.pages.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([page, p]) => ({ page, data: b64(p.data, PAGE_SIZE), shadow: b64(p.shadow, PAGE_SIZE * 4) })),
      log: {
        count: n,
        writer: b64(this.logWriter, n * 2),
        epoch: b64(this.logEpoch, n),
        time: b64(this.logTime, n * 8),
        address: b64(this.logAddress, n * 8),
        length: b64(this.logLength, n * 4),
      },
      simulatorErrors: {
        count: this.simErrorCount,
        recent: this.simErrorLog.map((e) => ({ ...e, writer: { ...e.writer } })),
        ...(this.lastSimError ? { last: { ...this.lastSimError, writer: { ...this.lastSimError.writer } } } : {}),
      },
    };
  }

  static restore(s: MemorySnapshot, clock: VirtualClock): PhysicalMemory {
    if (s?.version !== 1) throw new PlatformConfigError('memory.version', 'snapshot version 1 expected');
    const m = new PhysicalMemory({ paBits: s.paBits, maxBackedBytes: s.maxBackedBytes, regions: s.regions }, clock);
    m.setEpoch(s.epoch);
    for (const w of s.writers) m.internWriter(w);
    const bytes = (x: string) => {
      const b = Buffer.from(x, 'base64');
      const copy = new Uint8Array(b.length);
      copy.set(b);
      return copy;
    };
    for (const p of s.pages) {
      const page = m.page(p.page);
      page.data.set(bytes(p.data));
      page.shadow.set(new Uint32Array(bytes(p.shadow).buffer));
    }
    const n = s.log.count;
    const cap = Math.max(1024, 2 ** Math.ceil(Math.log2(Math.max(1, n))));
    const col = <T extends Uint16Array | Uint8Array | Float64Array | Uint32Array>(C: new (b: ArrayBuffer) => T, D: new (n: number) => T, x: string): T => {
      const out = new D(cap);
      out.set(new C(bytes(x).buffer));
      return out;
    };
    m.logWriter = col(Uint16Array, Uint16Array, s.log.writer);
    m.logEpoch = col(Uint8Array, Uint8Array, s.log.epoch);
    m.logTime = col(Float64Array, Float64Array, s.log.time);
    m.logAddress = col(Float64Array, Float64Array, s.log.address);
    m.logLength = col(Uint32Array, Uint32Array, s.log.length);
    m.logCount = n;
    if (s.simulatorErrors) {
      m.simErrorCount = s.simulatorErrors.count;
      m.simErrorLog.push(...s.simulatorErrors.recent.map((e) => ({ ...e, writer: { ...e.writer } })));
      m.lastSimError = s.simulatorErrors.last ? { ...s.simulatorErrors.last, writer: { ...s.simulatorErrors.last.writer } } : undefined;
    }
    return m;
  }
}
