// SPDX-License-Identifier: Apache-2.0
// The DMA engine every endpoint shares: non-posted reads bounded by the PCIe tags the device
// has (the outstanding-transaction limit), posted writes, the completion latency in virtual
// time, an optional ATS Address Translation Cache, AER on failed completions, and the
// function-level reset that quiesces it. Device kinds (nic.ts, nvme.ts, copy.ts) build their
// traffic on it.

import type { SeededRng } from '@kdump-twin/platform';
import type { AerSeverity, DeviceControl, DmaCompletion, DmaPhase, DmaPort, DmaRequest, EndpointObserver, Scheduler } from './types';

export type DeviceKind = 'nic' | 'nvme' | 'gpu';

/** What the device does when one of its reads fails (a posted write's failure is invisible to it). */
export type ErrorBehaviour = 'continue' | 'halt';

export interface EndpointConfig {
  /** PCI device name, e.g. "0000:01:00.0" (dev_name). */
  readonly name: string;
  /** Requester ID (bus << 8 | device << 3 | function). */
  readonly rid: number;
  /** StreamIDs the requester ID maps to (IORT ID mapping); traffic uses the first unless a queue picks another. */
  readonly sids: readonly number[];
  /** The device has an ATS capability and an ATC (used once the host enables ATS). */
  readonly ats: boolean;
  readonly atcEntries: number;
  /**
   * AER severity the device's Uncorrectable Error Severity register gives each error (UR, CA; ATS:
   * a failed translation). `reported: false`: nothing reports its errors (a root-bus endpoint with
   * no AER capability and no RCEC, as on QEMU's virt machine): neither its own nor the Root
   * Complex's for its posted writes reach the OS or firmware.
   */
  readonly aer: { readonly UR: AerSeverity; readonly CA: AerSeverity; readonly ATS: AerSeverity; readonly reported?: boolean };
  /** Virtual nanoseconds from a non-posted request to its completion. */
  readonly readLatencyNs: number;
  /** Non-posted requests in flight at most (PCIe tags). */
  readonly maxReadTags: number;
  readonly onReadError: ErrorBehaviour;
}

/** The device's ATC: translated pages by (SSID, page). Filled by ATS translation requests, emptied by ATC invalidation or FLR. */
export class Atc {
  private readonly entries = new Map<number, { pa: number; writable: boolean }>();
  constructor(readonly capacity: number) {}

  lookup(page: number, write: boolean): number | undefined {
    const e = this.entries.get(page);
    if (!e || (write && !e.writable)) return undefined;
    return e.pa;
  }

  insert(page: number, pa: number, writable: boolean): void {
    if (this.entries.size >= this.capacity && !this.entries.has(page)) {
      // Deterministic replacement: the oldest inserted entry.
      const first = this.entries.keys().next().value as number;
      this.entries.delete(first);
    }
    this.entries.set(page, { pa, writable });
  }

  /** CMD_ATC_INV as the device receives it (PCIe ATS Invalidate Request): [address, address + bytes). */
  invalidate(address: number, bytes: number): number {
    let n = 0;
    for (const page of [...this.entries.keys()]) {
      if (page + 4096 > address && page < address + bytes) {
        this.entries.delete(page);
        n++;
      }
    }
    return n;
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}

const PAGE = 4096;

/** Splits [address, address + size) at 4 KiB pages. */
function chunks(address: number, size: number): { address: number; size: number; offset: number }[] {
  const out: { address: number; size: number; offset: number }[] = [];
  let off = 0;
  while (off < size) {
    const a = address + off;
    const n = Math.min(size - off, PAGE - (a % PAGE));
    out.push({ address: a, size: n, offset: off });
    off += n;
  }
  return out;
}

export abstract class Endpoint {
  abstract readonly kind: DeviceKind;
  /** Incremented by every function-level reset: completions of an older generation are dropped. */
  generation = 0;
  /** Why the engine stopped (an error it halts on, a fatal AER reset), until the next FLR. */
  halted: string | undefined;
  /** The host set the ATS capability's Enable bit (Linux pci_enable_ats at attach). */
  atsEnabled = false;
  readonly atc: Atc;
  readonly counters = { jobsStarted: 0, jobsOk: 0, jobsFailed: 0, dropped: 0, flrs: 0 };
  private tags = 0;
  private readonly waiting: (() => void)[] = [];
  private jobSeq = 0;
  private readonly openJobs = new Set<number>();

  constructor(
    readonly cfg: EndpointConfig,
    protected readonly sched: Scheduler,
    protected readonly port: DmaPort,
    protected readonly obs: EndpointObserver = {},
    /** The device's own random stream (arrival and media-latency jitter), forked from the scenario seed. */
    protected readonly rng?: SeededRng,
  ) {
    this.atc = new Atc(cfg.atcEntries);
  }

  /** `ns` varied by up to +-pct percent (an integer number of ns, at least 1). */
  protected jitter(ns: number, pct: number): number {
    if (!this.rng || pct <= 0) return ns;
    return Math.max(1, Math.round(ns * (1 + (pct / 100) * (2 * this.rng.next() - 1))));
  }

  get name(): string {
    return this.cfg.name;
  }

  get sid(): number {
    return this.cfg.sids[0]!;
  }

  /** Non-posted requests in flight now. */
  get outstanding(): number {
    return this.tags;
  }

  /** Jobs started and not ended. */
  get jobsInFlight(): number {
    return this.openJobs.size;
  }

  get bdf(): string {
    return this.cfg.name;
  }

  /** Starts the device's own activity (arrivals, periodic DMA); the host programs its rings first. */
  abstract start(): void;

  /** Device-specific state to clear at FLR. */
  protected abstract resetState(): void;

  /**
   * Function-level reset (PCIe FLR, or the driver's controller reset): the engine stops, every
   * request in flight is forgotten, the ATC is emptied and ATS disabled, the host must program
   * the device again.
   */
  flr(): void {
    this.generation++;
    this.counters.flrs++;
    this.tags = 0;
    this.waiting.length = 0;
    this.atc.clear();
    this.atsEnabled = false;
    this.halted = undefined;
    for (const j of this.openJobs)
      this.obs.job?.({ time: this.sched.now(), device: this.name, job: j, kind: this.kind, event: 'end', ok: false, generation: this.generation - 1 });
    this.openJobs.clear();
    this.resetState();
  }

  /** ATS Invalidate Request from the SMMU (CMD_ATC_INV): always completed. */
  atcInvalidate(address: number, bytes: number): boolean {
    this.atc.invalidate(address, bytes);
    return true;
  }

  protected halt(why: string): void {
    if (this.halted === undefined) this.halted = why;
  }

  protected beginJob(): number {
    const j = ++this.jobSeq;
    this.openJobs.add(j);
    this.counters.jobsStarted++;
    this.obs.job?.({ time: this.sched.now(), device: this.name, job: j, kind: this.kind, event: 'start', generation: this.generation });
    return j;
  }

  protected endJob(job: number, ok: boolean): void {
    if (!this.openJobs.delete(job)) return;
    if (ok) this.counters.jobsOk++;
    else this.counters.jobsFailed++;
    this.obs.job?.({ time: this.sched.now(), device: this.name, job, kind: this.kind, event: 'end', ok, generation: this.generation });
  }

  private raiseAer(c: DmaCompletion, phase: DmaPhase, role: 'requester', address: number, ats: boolean): void {
    if (this.cfg.aer.reported === false) return;
    const type = ats ? 'ATS' : c.status === 'CA' ? 'CA' : 'UR';
    this.obs.aer?.({ time: this.sched.now(), device: this.name, bdf: this.bdf, type, severity: this.cfg.aer[type], role, phase, address });
  }

  /** One request out on the port now; `done` gets its completion `latencyNs` later. */
  private send(phase: DmaPhase, job: number, req: DmaRequest, latencyNs: number, done: (c: DmaCompletion) => void): void {
    // Field by field, not a spread followed by new keys (V8's slow runtime path: ~2 us a request on Node 20).
    this.port.submit(
      {
        sid: req.sid,
        ssid: req.ssid,
        address: req.address,
        size: req.size,
        write: req.write,
        ats: req.ats,
        data: req.data,
        device: this.name,
        phase,
        job,
        generation: this.generation,
        latencyNs,
      },
      done,
    );
  }

  /**
   * A register write from the host (through the BAR): doorbells, queue setup, the reset. The
   * kinds handle their own registers; here the ones every endpoint has.
   */
  control(c: DeviceControl): void {
    if (c.op === 'flr') this.flr();
    else if (c.op === 'start') this.start();
    else if (c.op === 'setAts') this.atsEnabled = c.enabled && this.cfg.ats;
    else if (c.op === 'atcInvalidate') this.atcInvalidate(c.address, c.all ? Number.POSITIVE_INFINITY : c.bytes);
    else this.controlKind(c);
  }

  /** Registers of the device kind; unknown ones are ignored, as a write to an unimplemented register is. */
  protected abstract controlKind(c: DeviceControl): void;

  /** Runs `fn` once a PCIe tag is free (at once if one is). */
  private withTag(fn: () => void): void {
    if (this.tags < this.cfg.maxReadTags) {
      this.tags++;
      fn();
    } else this.waiting.push(fn);
  }

  private releaseTag(): void {
    this.tags--;
    const next = this.waiting.shift();
    if (next) {
      this.tags++;
      next();
    }
  }

  /**
   * A non-posted read of `size` bytes (at most one page) at device address `address`; `done`
   * runs at completion time with the status, unless an FLR intervened.
   */
  private readOnce(phase: DmaPhase, job: number, req: DmaRequest, done: (c: DmaCompletion) => void): void {
    const gen = this.generation;
    this.withTag(() => {
      this.send(phase, job, req, this.cfg.readLatencyNs, (c) => {
        if (gen !== this.generation) return;
        this.releaseTag();
        if (c.status === 'stalled') return; // held by the SMMU; the device waits forever for it
        if (c.status !== 'SC') this.raiseAer(c, phase, 'requester', req.address, req.ats === 'request');
        done(c);
      });
    });
  }

  /** Device address of `iova` for one page-bounded access: through the ATC when ATS is on. */
  private translate(job: number, iova: number, write: boolean, done: (r: { ok: true; address: number; ats: boolean } | { ok: false }) => void): void {
    if (!(this.cfg.ats && this.atsEnabled)) return done({ ok: true, address: iova, ats: false });
    const page = iova - (iova % PAGE);
    const hit = this.atc.lookup(page, write);
    if (hit !== undefined) return done({ ok: true, address: hit + (iova - page), ats: true });
    this.readOnce('ats-request', job, { sid: this.sid, address: page, size: PAGE, write, ats: 'request' }, (c) => {
      if (c.status !== 'SC') return done({ ok: false });
      this.atc.insert(page, c.pa - (c.pa % PAGE), write);
      done({ ok: true, address: c.pa - (c.pa % PAGE) + (iova - page), ats: true });
    });
  }

  /**
   * Reads `size` bytes at `iova`, page by page (ATS-translated when enabled). `done` gets the
   * data, or the first failed completion.
   */
  protected dmaRead(
    phase: DmaPhase,
    job: number,
    iova: number,
    size: number,
    done: (r: { ok: true; data: Uint8Array } | { ok: false; completion?: DmaCompletion }) => void,
  ): void {
    const parts = chunks(iova, size);
    const out = new Uint8Array(size);
    let left = parts.length;
    let failed = false;
    const gen = this.generation;
    for (const p of parts) {
      this.translate(job, p.address, false, (t) => {
        if (gen !== this.generation || failed) return;
        if (!t.ok) {
          failed = true;
          return done({ ok: false });
        }
        this.readOnce(phase, job, { sid: this.sid, address: t.address, size: p.size, write: false, ats: t.ats ? 'translated' : undefined }, (c) => {
          if (failed) return;
          if (c.status !== 'SC') {
            failed = true;
            return done({ ok: false, completion: c });
          }
          if (c.data) out.set(c.data.subarray(0, p.size), p.offset);
          if (--left === 0) done({ ok: true, data: out });
        });
      });
    }
  }

  /**
   * Writes `data` at `iova` as posted writes, page by page. The device learns nothing of a
   * failure (no completion for posted writes): the Root Complex, on the platform, logs it as
   * AER (FleetCoupler). `done` runs
   * once every page went out (after an ATS translation, when one was needed).
   */
  protected dmaWrite(phase: DmaPhase, job: number, iova: number, data: Uint8Array, done?: (sentOk: boolean) => void): void {
    const parts = chunks(iova, data.length);
    let left = parts.length;
    let ok = true;
    const gen = this.generation;
    for (const p of parts) {
      this.translate(job, p.address, true, (t) => {
        if (gen !== this.generation) return;
        if (!t.ok) ok = false;
        else {
          const req: DmaRequest = {
            sid: this.sid,
            address: t.address,
            size: p.size,
            write: true,
            ats: t.ats ? 'translated' : undefined,
            data: data.subarray(p.offset, p.offset + p.size),
          };
          this.send(phase, job, req, 0, () => undefined);
        }
        if (--left === 0) done?.(ok);
      });
    }
  }

  /** A read failed: keep going, or stop the engine, as the device is built. */
  protected readFailed(what: string): boolean {
    if (this.cfg.onReadError === 'halt') {
      this.halt(`${what} failed`);
      return true;
    }
    return false;
  }
}
