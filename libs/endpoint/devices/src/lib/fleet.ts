// SPDX-License-Identifier: Apache-2.0
// A fleet of endpoints: device and host-driver parameters per kind with the defaults a server
// would show, the factory that builds a device and its driver, and the fleet itself (devices
// by name and by StreamID, ATS invalidations routed to the device that owns the StreamID).

import { pollStep, VirtualClock, type SeededRng } from '@kdump-twin/platform';
import { CopyEngine, type CopyEngineConfig } from './copy';
import type { Endpoint, EndpointConfig } from './endpoint';
import { CopyDriver, NicDriver, NvmeDriver, type CopyDriverConfig, type HostKernel, type NicDriverConfig, type NvmeDriverConfig } from './host';
import { Nic, type NicConfig } from './nic';
import { Nvme, type NvmeConfig } from './nvme';
import { DeviceDmi, checkDeviceDmiIn, type DeviceDmiIn } from './device-dmi';
import { MAX_PASSED_WAKES, checkPassive, checkScripted, type PassedWake, type PassiveWait, type ScriptedStep, type ScriptedTask } from './passable';
import type { AerError, DeviceControl, DmaCompletion, DmaPort, DmaSubmission, EndpointObserver, JobRecord, Scheduler } from './types';

type Own<T> = Omit<T, keyof EndpointConfig>;

/** Everything one device kind can be given: the device's own knobs and its host driver's. */
export interface NicParams extends Own<NicConfig>, NicDriverConfig {}
export interface NvmeParams extends Own<NvmeConfig>, NvmeDriverConfig {}
export interface GpuParams extends Own<CopyEngineConfig>, CopyDriverConfig {}

/** Common endpoint defaults: AER severities are the PCIe defaults (UR and CA non-fatal). */
export const ENDPOINT_DEFAULTS = {
  ats: false,
  atcEntries: 64,
  aer: { UR: 'non-fatal', CA: 'non-fatal', ATS: 'non-fatal' },
  readLatencyNs: 800,
  maxReadTags: 32,
} as const;

export const NIC_DEFAULTS: NicParams = {
  rxIntervalNs: 2_000,
  packetBytes: 1_024,
  descPrefetch: 8,
  rxFifo: 8,
  statsIntervalNs: 10_000,
  rxJitterPct: 20,
  rxEntries: 256,
  rxBufBytes: 2_048,
  txEntries: 128,
  txBufBytes: 2_048,
  txIntervalNs: 4_000,
  pollNs: 20_000,
};

export const NVME_DEFAULTS: NvmeParams = {
  queueDepth: 16,
  mediaLatencyNs: 40_000,
  lbaBytes: 4_096,
  sqeFetch: 4,
  mediaJitterPct: 10,
  sqEntries: 256,
  cqEntries: 256,
  outstanding: 64,
  ioBytes: 16_384,
  readEvery: 2,
  pollNs: 10_000,
};

export const GPU_DEFAULTS: GpuParams = {
  chunkBytes: 4_096,
  chunksInFlight: 16,
  chunkIntervalNs: 2_000,
  ringEntries: 16,
  queued: 4,
  jobBytes: 1 << 20,
  pollNs: 50_000,
};

/**
 * Traffic parameters a script may change while a device runs (the rates of what the device
 * does on its own); each takes effect at the device's next event of that kind. Ring sizes and
 * driver parameters are fixed once the driver set the device up.
 */
export const LIVE_TRAFFIC: Readonly<Record<DeviceParams['kind'], Readonly<Record<string, readonly [number, number]>>>> = {
  nic: { rxIntervalNs: [0, 1e9], rxJitterPct: [0, 100], statsIntervalNs: [0, 1e9] },
  nvme: { mediaLatencyNs: [1, 1e9], mediaJitterPct: [0, 100] },
  gpu: { chunkIntervalNs: [0, 1e9], chunksInFlight: [1, 256] },
};

/** What error a read failure makes each kind do by default. */
export const READ_ERROR_DEFAULT = { nic: 'continue', nvme: 'halt', gpu: 'halt' } as const;

export type DeviceParams = ({ kind: 'nic' } & NicParams) | ({ kind: 'nvme' } & NvmeParams) | ({ kind: 'gpu' } & GpuParams);

export function createDevice(base: EndpointConfig, p: DeviceParams, sched: Scheduler, port: DmaPort, obs: EndpointObserver, rng?: SeededRng): Endpoint {
  if (p.kind === 'nic') return new Nic({ ...base, ...p }, sched, port, obs, rng);
  if (p.kind === 'nvme') return new Nvme({ ...base, ...p }, sched, port, obs, rng);
  return new CopyEngine({ ...base, ...p }, sched, port, obs, rng);
}

/** The driver for device `name` of kind `p.kind` in `host`'s kernel. */
export function createDriver(name: string, p: DeviceParams, host: HostKernel): NicDriver | NvmeDriver | CopyDriver {
  if (p.kind === 'nic') return new NicDriver(name, host, p);
  if (p.kind === 'nvme') return new NvmeDriver(name, host, p);
  return new CopyDriver(name, host, p);
}

// ---------------------------------------------------------------------------------------------
// The fleet's side of the co-simulation (docs/services.md): devices on their own clock, stepped
// by the platform one instant at a time.

/** A request as it leaves the fleet: when it was issued, and the ticket its completion comes back under. */
export interface FleetRequest extends DmaSubmission {
  readonly time: number;
  readonly ticket: number;
  /** Answered in the fleet under a direct-memory grant (device-dmi.ts): the platform checks it and sends no completion. */
  readonly dmi?: boolean;
}

/**
 * What the platform hands the fleet for a slice: completions and register writes, each due at a
 * time, and the horizon: the first instant at which anything outside the fleet may happen
 * (a platform timer, a kernel task, a completion already due). The fleet runs the instant `t`
 * and then on, instant by instant, up to (not including) `until` or the earliest completion due
 * for a request it issued in the slice, and stops after an instant that raised an error:
 * nothing it could be told in between would change what it does.
 */
export interface FleetSliceIn {
  readonly t: number;
  readonly until?: number;
  readonly completions: readonly { readonly ticket: number; readonly due: number; readonly completion: DmaCompletion }[];
  readonly controls: readonly { readonly device: string; readonly due: number; readonly control: DeviceControl }[];
  /** Direct memory for the devices: grants, revocations and page bytes, as of this slice's start. */
  readonly dmi?: DeviceDmiIn;
  /** Kernel tasks in a wait-until whose wake-ups `until` does not count: the fleet ends the slice at the first one a request of its own may have changed. */
  readonly passive?: readonly PassiveWait[];
  /** Kernel threads' run-ahead steps, whose wake-ups `until` does not count (the one after the last does). */
  readonly scripted?: readonly ScriptedTask[];
}

/** What the fleet did: the DMA it issued (in time order), AER errors and job records it raised, the last instant it ran, its next event. */
export interface FleetSliceOut {
  readonly requests: readonly FleetRequest[];
  readonly aer: readonly AerError[];
  readonly jobs: readonly JobRecord[];
  readonly reached: number;
  readonly next: number | undefined;
  /** Wake-ups of passive waits the slice ran past, in the order they happen (after the fleet's instant of the same time): each task slept `ns` more. */
  readonly passed?: readonly PassedWake[];
}

/** A passive wait or a scripted thread as a slice runs past their wake-ups. */
type Passable = { task: number; seq: number; wake: number; disturbed: boolean } & (
  | { readonly kind: 'wait'; readonly every?: number; readonly poll?: PassiveWait['poll']; readonly ranges: PassiveWait['ranges'] }
  | { readonly kind: 'script'; readonly steps: readonly ScriptedStep[]; next: number }
);

export interface FleetDevice {
  readonly base: EndpointConfig;
  readonly params: DeviceParams;
}

/** Every endpoint of a run, with its own clock; `slice(t)` runs whatever is due at exactly t. */
export class FleetSim {
  readonly clock = new VirtualClock();
  private readonly devices = new Map<string, Endpoint>();
  private readonly pending = new Map<number, (c: DmaCompletion) => void>();
  private outbox: FleetRequest[] = [];
  private aer: AerError[] = [];
  private jobs: JobRecord[] = [];
  private ticket = 0;
  private readonly port: DmaPort = {
    submit: (s, done) => {
      const ticket = ++this.ticket;
      const now = this.clock.now();
      // Direct memory: while every request of this slice so far had a grant, one more that has
      // one is answered here (the platform applies it as before and checks the answer).
      let dmi = false;
      if (this.predicting) {
        if ((s.ats === undefined || s.ats === 'translated') && s.ssid === undefined) {
          const ats = s.ats === 'translated';
          if (s.write && s.data !== undefined) {
            const pa = this.dmi.write(s.device, s.sid, s.address, s.data, ats);
            dmi = pa !== undefined;
            // A granted write into what a passive wait reads ends the wait at its next wake-up.
            if (dmi && this.passables.length) this.touch(pa!, s.data.length);
          } else if (s.latencyNs > 0) {
            const got = this.dmi.read(s.device, s.sid, s.address, s.size, ats);
            if (got) {
              dmi = true;
              this.local.push({
                ticket,
                due: now + s.latencyNs,
                completion: { status: 'SC', outcome: 'translated', pa: got.pa, path: 'direct memory', data: got.data },
                done,
              });
              this.localBound = Math.min(this.localBound, now + s.latencyNs);
            }
          }
        }
        if (!dmi) this.predicting = false;
      }
      // A request the platform answers may fault, write an event or interrupt: every passive wait may see it.
      if (!dmi) for (const w of this.passables) w.disturbed = true;
      // A posted write gets no completion (the Root Complex, on the platform, reports its failure).
      if (!dmi && s.latencyNs > 0) {
        this.pending.set(ticket, done);
        // Its completion can come no earlier: the fleet may go on until then.
        this.completionBound = Math.min(this.completionBound, now + s.latencyNs);
      }
      // Field by field: a spread followed by new keys takes V8's slow runtime path (Node 20: ~2 us a
      // request) and even Object.assign costs more than the rest of the fleet's work on it.
      this.outbox.push({
        sid: s.sid,
        ssid: s.ssid,
        address: s.address,
        size: s.size,
        write: s.write,
        ats: s.ats,
        data: s.data,
        device: s.device,
        phase: s.phase,
        job: s.job,
        generation: s.generation,
        latencyNs: s.latencyNs,
        time: now,
        ticket,
        dmi: dmi ? true : undefined,
      });
    },
  };
  /** Direct memory for the devices: what the platform granted. */
  readonly dmi = new DeviceDmi();
  /** Every request of the slice so far was answered under a grant: the next may be too. */
  private predicting = false;
  /** Completions of granted reads not delivered yet, in ticket order, and the earliest due. */
  private local: { ticket: number; due: number; completion: DmaCompletion; done: (c: DmaCompletion) => void }[] = [];
  private localBound = Infinity;
  /** Set when the running instant raised an error: the platform may answer it (a reset) at once, so the slice ends after it. */
  private waitsOnPlatform = false;
  /** The earliest completion due for a request of this slice: the slice ends before it. */
  private completionBound = Infinity;
  /** The slice's passive waits and scripted threads (their wake-ups the slice may run past), and the wake-ups it ran past. */
  private passables: Passable[] = [];
  private passed: PassedWake[] = [];
  private readonly obs: EndpointObserver = {
    aer: (e) => {
      this.aer.push(e);
      this.waitsOnPlatform = true;
    },
    job: (r) => this.jobs.push(r),
  };

  /** Adds a device; `rng` is its own random stream (forked from the scenario seed by the caller). */
  add(d: FleetDevice, rng?: SeededRng): Endpoint {
    if (this.devices.has(d.base.name)) throw new RangeError(`device ${d.base.name} exists`);
    const e = createDevice(d.base, d.params, this.clock, this.port, this.obs, rng);
    this.devices.set(d.base.name, e);
    return e;
  }

  get(name: string): Endpoint | undefined {
    return this.devices.get(name);
  }

  all(): Endpoint[] {
    return [...this.devices.values()];
  }

  /** The fleet's next event: its clock's, or a granted read's completion not delivered yet. */
  nextEventTime(): number | undefined {
    const n = this.clock.nextDeadline();
    if (this.local.length === 0) return n;
    return Math.min(n ?? Infinity, this.localBound);
  }

  slice(input: FleetSliceIn): FleetSliceOut {
    if (input.dmi !== undefined) this.dmi.take(checkDeviceDmiIn(input.dmi));
    // Completions in the order the platform hands them back (its requests' order, which is ticket
    // order), granted reads' own among them.
    const local = this.local;
    this.local = [];
    let l = 0;
    for (const c of input.completions) {
      for (; l < local.length && local[l]!.ticket < c.ticket; l++) this.deliver(local[l]!);
      this.clock.schedule(Math.max(c.due, this.clock.now()), 'completion', () => {
        const done = this.pending.get(c.ticket);
        this.pending.delete(c.ticket);
        done?.(c.completion);
      });
    }
    for (; l < local.length; l++) this.deliver(local[l]!);
    for (const c of input.controls) {
      const dev = this.devices.get(c.device);
      if (dev) this.clock.schedule(Math.max(c.due, this.clock.now()), `control ${c.control.op}`, () => dev.control(c.control));
    }
    this.waitsOnPlatform = false;
    this.completionBound = Infinity;
    this.localBound = Infinity;
    this.predicting = input.dmi !== undefined;
    this.passables = [
      ...checkPassive(input.passive).map((w): Passable => ({ ...w, kind: 'wait', disturbed: false })),
      ...checkScripted(input.scripted).map((s): Passable => ({ ...s, kind: 'script', next: 0, disturbed: false })),
    ];
    this.passed = [];
    let seq = Math.max(0, ...this.passables.map((w) => w.seq));
    this.clock.advanceTo(input.t);
    for (;;) {
      if (this.waitsOnPlatform || input.until === undefined) break;
      // Wake-ups of passive waits and scripted threads before the next instant (one at the same
      // time comes after it): run past each the fleet could not have changed, making a scripted
      // step's effects; stop at the first it may have.
      if (this.passables.length) {
        const r = this.passOne(this.nextEventTime() ?? Infinity, input.until, () => ++seq);
        if (r === 'stop') break;
        if (r === 'passed') continue;
      }
      const n = this.clock.nextDeadline();
      const bound = Math.min(input.until, this.completionBound);
      if (this.localBound < bound && (n === undefined || n >= this.localBound)) {
        // Where the slice would end at a granted read's completion, the platform would start the
        // next with that completion and nothing else (nothing else happens before the horizon,
        // and every request so far was granted, so none can make it react): go on as it would.
        if (!this.predicting) break;
        const due = this.local;
        this.local = [];
        for (const c of due) this.deliver(c);
        this.localBound = Infinity;
        continue;
      }
      if (n === undefined || n >= bound) break;
      this.clock.advanceTo(n);
    }
    const out: FleetSliceOut = {
      requests: this.outbox,
      aer: this.aer,
      jobs: this.jobs,
      reached: this.clock.now(),
      next: this.nextEventTime(),
      ...(this.passed.length ? { passed: this.passed } : {}),
    };
    this.outbox = [];
    this.aer = [];
    this.jobs = [];
    this.passables = [];
    this.passed = [];
    return out;
  }

  /**
   * The first wake-up of a passive wait or a scripted thread before `before`, `until` and the
   * first completion due for a request of the slice the platform answers, in the
   * sequencer's order (time, then registration): 'none' if there is none; 'stop' if the fleet may
   * have changed it, it ends its wait (a poll's deadline) or the slice passed MAX_PASSED_WAKES;
   * else 'passed': a wait sleeps again as its loop would (`every`, or pollStep with the next event
   * as the platform would see it then: the fleet's own, another task's wake-up, `until`), a
   * scripted thread's step makes its effects now (its stores into held pages, its register writes
   * run at this instant, after the fleet's own, the waits it ends) and sleeps its `ns`.
   */
  private passOne(before: number, until: number, nextSeq: () => number): 'none' | 'passed' | 'stop' {
    // Not past the completion of a read the platform answers: what it makes the device do comes first.
    const limit = Math.min(before, until, this.completionBound);
    let w: Passable | undefined;
    for (const x of this.passables) {
      if (x.kind === 'script' && x.next >= x.steps.length) continue;
      if (x.wake < limit && (!w || x.wake < w.wake || (x.wake === w.wake && x.seq < w.seq))) w = x;
    }
    if (!w) return 'none';
    if (this.passed.length >= MAX_PASSED_WAKES) return 'stop';
    const at = w.wake;
    let ns: number;
    if (w.kind === 'wait') {
      if (w.disturbed || (w.poll && at >= w.poll.deadline)) return 'stop';
      ns = w.every ?? 0;
      if (w.poll) {
        let next = Math.min(until, this.nextEventTime() ?? Infinity);
        for (const x of this.passables) if (x !== w) next = Math.min(next, x.wake);
        ns = pollStep(at, Number.isFinite(next) ? next : undefined, w.poll.deadline, w.poll.step).ns;
      }
    } else {
      const step = w.steps[w.next++]!;
      ns = step.ns;
      for (const st of step.writes) {
        this.dmi.cpuWrite(st.pa, st.data);
        this.touch(st.pa, st.data.length);
      }
      for (const x of this.passables) if (step.ends.includes(x.task)) x.disturbed = true;
      for (const c of step.controls) {
        const dev = this.devices.get(c.device);
        if (dev) this.clock.schedule(at, `control ${c.control.op}`, () => dev.control(c.control));
      }
    }
    this.passed.push({ task: w.task, at, ns, after: this.outbox.length });
    w.wake = at + ns;
    w.seq = nextSeq();
    // The register writes run now, at this instant (after everything the fleet had at it).
    if (w.kind === 'script') this.clock.advanceTo(at);
    return 'passed';
  }

  /** A store or granted write into [pa, pa+length): passive waits that read it see it at their next wake-up. */
  private touch(pa: number, length: number): void {
    for (const w of this.passables)
      if (w.kind === 'wait' && !w.disturbed && w.ranges.some((r) => pa < r.pa + r.length && r.pa < pa + length)) w.disturbed = true;
  }

  private deliver(c: { due: number; completion: DmaCompletion; done: (c: DmaCompletion) => void }): void {
    this.clock.schedule(Math.max(c.due, this.clock.now()), 'completion', () => c.done(c.completion));
  }

  /** Changes a running device's traffic (LIVE_TRAFFIC); a RangeError names the first bad key. */
  setTraffic(name: string, changes: Readonly<Record<string, unknown>>): Record<string, number> {
    const e = this.devices.get(name);
    if (!e) throw new RangeError(`device: no device ${name} in the fleet`);
    const live = LIVE_TRAFFIC[e.kind as DeviceParams['kind']];
    for (const [k, v] of Object.entries(changes)) {
      const range = live[k];
      if (!range) throw new RangeError(`traffic.${k}: not a live traffic parameter of a ${e.kind} (one of ${Object.keys(live).join(', ')})`);
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < range[0] || v > range[1])
        throw new RangeError(`traffic.${k}: an integer in [${range[0]}, ${range[1]}] (got ${JSON.stringify(v)})`);
    }
    Object.assign(e.cfg as unknown as Record<string, unknown>, changes);
    return this.traffic(name)!;
  }

  /** A device's live traffic parameters now. */
  traffic(name: string): Record<string, number> | undefined {
    const e = this.devices.get(name);
    if (!e) return undefined;
    const cfg = e.cfg as unknown as Record<string, number>;
    return Object.fromEntries(Object.keys(LIVE_TRAFFIC[e.kind as DeviceParams['kind']]).map((k) => [k, cfg[k]!]));
  }

  /** The state the report reads per device. */
  stats(): Record<
    string,
    { kind: string; jobsOk: number; jobsFailed: number; dropped: number; halted: string | null; outstanding: number; jobsInFlight: number; flrs: number }
  > {
    const out: Record<
      string,
      { kind: string; jobsOk: number; jobsFailed: number; dropped: number; halted: string | null; outstanding: number; jobsInFlight: number; flrs: number }
    > = {};
    for (const [name, e] of [...this.devices.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      out[name] = {
        kind: e.kind,
        jobsOk: e.counters.jobsOk,
        jobsFailed: e.counters.jobsFailed,
        dropped: e.counters.dropped,
        halted: e.halted ?? null,
        outstanding: e.outstanding,
        jobsInFlight: e.jobsInFlight,
        flrs: e.counters.flrs,
      };
    }
    return out;
  }

  /** WRITE data an NVMe kept (the vmcore on its "disk"), by LBA. */
  disk(name: string): ReadonlyMap<number, Uint8Array> | undefined {
    const e = this.devices.get(name);
    return e instanceof Nvme ? e.disk : undefined;
  }
}
