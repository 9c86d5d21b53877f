// SPDX-License-Identifier: Apache-2.0
// The platform's end of the fleet link (docs/services.md): a stepped actor of the platform's
// sequencer that asks the fleet for a slice whenever the fleet (or something due to it) has an
// event, applies the DMA the fleet issued in the order and at the time it was issued, hands the
// completions back a latency later, and plays the Root Complex for posted writes (their
// failures are its AER, not the device's). The same code couples a fleet in this process and
// one across NATS, which is why both give the same run.

import type { DmiMode } from '@kdump-twin/platform';
import type { DeviceDmiIn } from './device-dmi';
import type { EndpointConfig } from './endpoint';
import type { FleetRequest, FleetSliceIn, FleetSliceOut } from './fleet';
import type { PassedWake, PassiveWait, ScriptedTask } from './passable';
import type { AerError, DeviceControl, DmaCompletion, DmaRecord, JobRecord } from './types';

/** The fleet as the platform reaches it: a direct object, or an RPC client. */
export interface FleetLink {
  slice(input: FleetSliceIn): Promise<FleetSliceOut>;
  /** The fleet's next event, as of its last answer. */
  nextEventTime(): number | undefined;
  /** Direct memory for the devices over this link (device-dmi.ts): absent or 'off' for none. */
  readonly deviceDmi?: DmiMode;
}

export interface CouplerHooks {
  /** Moves the platform's clock to `t` (requests of one slice carry their own issue times). */
  at(t: number): void;
  /** The first instant at which something other than the fleet may happen (timers, tasks), but the wake-ups of the `passable` tasks. */
  horizon(passable?: ReadonlySet<number>): number | undefined;
  /**
   * Kernel tasks whose wake-ups the fleet may run past, when the link uses them: waits on the
   * platform (PassiveWait) and threads' run-ahead steps (ScriptedTask, with `bound`: the
   * earliest wake-up after a thread's last step, which bounds the slice). `passWake` is told each
   * wake-up the slice ran past, at its instant and after the requests issued before it, and
   * throws if the fleet should not have.
   */
  passable?(): { readonly passive: readonly PassiveWait[]; readonly scripted: readonly ScriptedTask[]; readonly bound?: number };
  passWake?(w: PassedWake): void;
  /** The platform performs one request (translation, memory access) and answers it. */
  apply(req: FleetRequest): DmaCompletion;
  /** After each request: the record observers and statistics read. */
  record?(r: DmaRecord): void;
  aer?(e: AerError): void;
  job?(j: JobRecord): void;
  /** Direct memory for the devices (libs/scenario/engine device-dmi.ts), when the link uses it. */
  dmi?: {
    /** The next slice's grants, revocations and pages, as of now. */
    input(): DeviceDmiIn;
    /** A request the fleet answered under a grant, applied: throws if the platform's answer differs. */
    check(req: FleetRequest, c: DmaCompletion): void;
    /** Any other request, applied: the platform may grant its page. */
    observe(req: FleetRequest, c: DmaCompletion): void;
  };
}

type Completion = FleetSliceIn['completions'][number];
type Control = FleetSliceIn['controls'][number];

export class FleetCoupler {
  private completions: Completion[] = [];
  private controls: Control[] = [];
  /** Where the fleet's clock is: nothing can be delivered to it earlier. */
  private fleetNow = 0;
  /** Per device: completion times of non-posted requests still ahead, by ticket; open jobs. */
  private readonly inflight = new Map<string, Map<number, number>>();
  private readonly openJobs = new Map<string, Set<string>>();

  constructor(
    private readonly link: FleetLink,
    private readonly hooks: CouplerHooks,
    /** A device's AER severities (the Root Complex reports its failed posted writes with them); its name is its BDF. */
    private readonly deviceOf: (name: string) => Pick<EndpointConfig, 'aer'> | undefined,
  ) {}

  /** A register write to a device's BAR, due at `due` (the fleet gets it at once if it is behind). */
  control(device: string, control: DeviceControl, due: number): void {
    this.controls.push({ device, due: Math.max(due, this.fleetNow), control });
  }

  nextEventTime(): number | undefined {
    let t = this.link.nextEventTime();
    for (const c of this.completions) if (t === undefined || c.due < t) t = c.due;
    for (const c of this.controls) if (t === undefined || c.due < t) t = c.due;
    return t;
  }

  /** Non-posted requests of `device` whose completion is after `t`, and its jobs started and not ended. */
  inFlight(device: string, t: number): { outstanding: number; jobs: number } {
    return { outstanding: [...(this.inflight.get(device)?.values() ?? [])].filter((due) => due > t).length, jobs: this.openJobs.get(device)?.size ?? 0 };
  }

  async step(t: number): Promise<void> {
    const p = this.hooks.passable?.();
    const tasks = p && (p.passive.length || p.scripted.length) ? new Set([...p.passive, ...p.scripted].map((w) => w.task)) : undefined;
    // With passable tasks, nothing else pending is no bound at all: the fleet stops at the first
    // wake-up it may have changed, a poll's deadline, a scripted thread's own wake-up, or after
    // MAX_PASSED_WAKES of them.
    const horizon = tasks ? Math.min(this.hooks.horizon(tasks) ?? Infinity, p!.bound ?? Infinity) : this.hooks.horizon();
    const waits = (p?.passive ?? []).filter((w) => horizon !== undefined && w.wake < horizon);
    const scripted = (p?.scripted ?? []).filter((w) => horizon !== undefined && w.wake < horizon);
    const dmi = this.hooks.dmi?.input();
    const out = await this.link.slice({
      t,
      ...(horizon !== undefined ? { until: horizon } : {}),
      completions: this.completions,
      controls: this.controls,
      ...(dmi ? { dmi } : {}),
      ...(waits.length ? { passive: waits } : {}),
      ...(scripted.length ? { scripted } : {}),
    });
    this.completions = [];
    this.controls = [];
    this.fleetNow = Math.max(this.fleetNow, out.reached);
    // Requests and the device's own errors, in time order (a request before an error of the same
    // instant); the wake-ups the fleet ran past, each where it says (after its first `after` requests).
    let a = 0;
    let w = 0;
    const passed = out.passed ?? [];
    if (passed.length && !this.hooks.passWake) throw new Error('fleet: the slice ran past wake-ups of kernel tasks, but this link has none');
    for (let i = 0; i < passed.length; i++) {
      const x = passed[i]!;
      if (!(x.after >= (passed[i - 1]?.after ?? 0) && x.after <= out.requests.length))
        throw new RangeError(`fleet: passed[${i}].after: ${x.after} is out of order or past the slice's ${out.requests.length} requests`);
    }
    out.requests.forEach((req, i) => {
      for (; w < passed.length && passed[w]!.after <= i; w++) this.pass(passed[w]!);
      for (; a < out.aer.length && out.aer[a]!.time < req.time; a++) this.raise(out.aer[a]!);
      this.perform(req);
    });
    for (; a < out.aer.length; a++) {
      for (; w < passed.length && passed[w]!.at < out.aer[a]!.time; w++) this.pass(passed[w]!);
      this.raise(out.aer[a]!);
    }
    for (; w < passed.length; w++) this.pass(passed[w]!);
    for (const j of out.jobs) {
      let s = this.openJobs.get(j.device);
      if (!s) this.openJobs.set(j.device, (s = new Set()));
      const key = `${j.generation}/${j.job}`;
      if (j.event === 'start') s.add(key);
      else s.delete(key);
      this.hooks.job?.(j);
    }
    for (const q of this.inflight.values()) for (const [k, due] of q) if (due <= out.reached) q.delete(k);
  }

  private pass(p: PassedWake): void {
    this.hooks.at(p.at);
    this.hooks.passWake!(p);
  }

  private raise(e: AerError): void {
    this.hooks.at(e.time);
    this.hooks.aer?.(e);
  }

  private perform(req: FleetRequest): void {
    this.hooks.at(req.time);
    const c = this.hooks.apply(req);
    if (req.dmi) {
      // Answered in the fleet already: the platform's answer must be the one it gave.
      if (!this.hooks.dmi)
        throw new Error(`fleet: request ${req.ticket} of ${req.device} says it was answered under a direct-memory grant, but this link grants none`);
      this.hooks.dmi.check(req, c);
    } else this.hooks.dmi?.observe(req, c);
    const due = req.time + req.latencyNs;
    this.hooks.record?.({
      time: req.time,
      completedAt: due,
      device: req.device,
      phase: req.phase,
      job: req.job,
      req,
      completion: c,
      generation: req.generation,
      ticket: req.ticket,
    });
    if (req.latencyNs > 0) {
      let q = this.inflight.get(req.device);
      if (!q) this.inflight.set(req.device, (q = new Map()));
      q.set(req.ticket, due);
      if (!req.dmi) this.completions.push({ ticket: req.ticket, due: Math.max(due, this.fleetNow), completion: c });
      return;
    }
    // A posted write: the device learns nothing; the Root Complex reports a failed one (PCIe completer abort / UR).
    const d = this.deviceOf(req.device);
    if (d && d.aer.reported !== false && c.status !== 'SC' && c.status !== 'stalled') {
      const type = c.status === 'CA' ? 'CA' : 'UR';
      this.raise({
        time: req.time,
        device: req.device,
        bdf: req.device,
        type,
        severity: d.aer[type],
        role: 'completer',
        phase: req.phase,
        address: req.address,
      });
    }
  }
}
