// SPDX-License-Identifier: Apache-2.0
// The platform's end of a run across services (smmu-twin): it opens the run's session on a
// fleet replica and on kernel replicas, serves the kernels' bus on the session's platform
// subject, and calls into the kernels as the runner's timeline asks. The runner and the
// platform are the same objects as in one process; only the links are remote.

import type { BusInterrupt } from '@kdump-twin/kernel';
import type { DeviceControl, ScriptedStep } from '@kdump-twin/endpoint';
import { pollStep, TaskHalted } from '@kdump-twin/platform';
import {
  CpuHalted,
  DMI_PAGE,
  PageGrants,
  type BootResult,
  type DmiMode,
  type PageImage,
  type KernelLink,
  type KernelName,
  type KernelView,
  type NextLoad,
  type PlatformRole,
  type RunLinks,
  type ScenarioSpec,
  type WaitWhile,
} from '@kdump-twin/scenario';
import type { Subscription } from 'nats';
import { RemoteFleet } from './fleet-side';
import { RoundTripCount } from './round-trips';
import type { KernelReply, KernelToPlatform, PlatformToKernel, PostedOp, RunAheadStep, TimeContext } from './protocol';
import { isRunAheadOp, MAX_READ_AHEAD, MAX_RUN_AHEAD_STEPS, MAX_WAIT_LOADS, SUBJECTS } from './protocol';
import { PeerLost, PROBE_MS, serviceOf, type Rpc } from './rpc';

/** Which of the co-simulation's mechanisms a session uses (docs/services.md); each is on by default. */
export interface CoSimOptions {
  /** Direct memory for the kernels (KERNEL_DMI). */
  readonly dmi?: DmiMode;
  /** Direct memory for the devices (DEVICE_DMI). */
  readonly deviceDmi?: DmiMode;
  /**
   * The kernels' run-ahead (RUN_AHEAD). Broken on purpose for the tests that show it matters:
   * `unbounded`, a window may pass other threads' wake-ups; `undelivered`, the fleet runs past a
   * window's steps without their register writes.
   */
  readonly runAhead?: 'on' | 'off' | 'unbounded' | 'undelivered';
  /**
   * Wait-until (WAIT_UNTIL). Broken on purpose for the tests that show it matters: `blind`, a
   * wait does not look at its loads (it ends only at its deadline, an interrupt or endWait);
   * `unwatched`, the fleet is not told what a wait reads (it runs past wake-ups its own writes changed).
   */
  readonly waitUntil?: 'on' | 'off' | 'blind' | 'unwatched';
  /** The runner's serviceIrqs ticks into a kernel: skipped when no interrupt reached it since the last (the default); `skip-all` breaks it on purpose (every tick skipped). */
  readonly ticks?: 'skip-idle' | 'skip-all';
}

/** The platform's client of one kernel of a session. */
class RemoteKernel implements KernelLink {
  constructor(
    private readonly session: PlatformSession,
    readonly kernel: KernelName,
  ) {}

  private call<T>(call: PlatformToKernel['call'], ...args: unknown[]): Promise<T> {
    return this.session.callKernel<T>(this.kernel, call, args);
  }

  boot(task: number): Promise<BootResult> {
    return this.call('boot', task);
  }
  setupDrivers(task: number): Promise<void> {
    return this.call('setupDrivers', task);
  }
  reattach(task: number, device: string, domain: 'identity' | 'blocked' | 'dma', afterStores: number): Promise<void> {
    return this.call('reattach', task, device, domain, afterStores);
  }
  unmap(task: number, device: string, buffer: number, midPanic = true): Promise<void> {
    return this.call('unmap', task, device, buffer, midPanic);
  }
  probeSmmus(task: number) {
    return this.call<Awaited<ReturnType<KernelLink['probeSmmus']>>>('probeSmmus', task);
  }
  probeDevices(task: number): Promise<void> {
    return this.call('probeDevices', task);
  }
  probeDriver(task: number, device: string) {
    return this.call<Awaited<ReturnType<KernelLink['probeDriver']>>>('probeDriver', task, device);
  }
  saveVmcore(task: number, target: string, maxPages: number, deadline: number): Promise<void> {
    return this.call('saveVmcore', task, target, maxPages, deadline);
  }
  serviceIrqs(task: number): Promise<void> {
    // No interrupt reached this kernel since its last tick: the call would take none (a no-op).
    if (this.session.quietSinceTick(this.kernel)) {
      this.session.ticksSkipped++;
      return Promise.resolve();
    }
    return this.call('serviceIrqs', task);
  }
  unbind(): Promise<void> {
    return this.call('unbind');
  }
  halt(reason: string): Promise<void> {
    // The platform does not wait for it (a panic is not a conversation): a lost kernel fails the run.
    return this.call<void>('halt', reason).catch((e: Error) => void (this.session.failure ??= e));
  }
  view(): Promise<KernelView> {
    return this.call('view');
  }
}

/**
 * One run's session on the platform side. `links()` gives the runner remote links; the
 * platform subject is served once the platform exists (`attach`).
 */
export class PlatformSession {
  private p: PlatformRole | undefined;
  private sub: Subscription | undefined;
  private readonly irqs: Record<KernelName, { smmu: number; e: BusInterrupt }[]> = { primary: [], kdump: [] };
  /** Threads a kernel spawned: its local id to the sequencer's. */
  private readonly tasks: Record<KernelName, Map<number, number>> = { primary: new Map(), kdump: new Map() };
  private readonly open = new Set<KernelName>();
  private fleet: RemoteFleet | undefined;
  /** Direct memory for the kernels: the pages each holds (kernel-dmi.ts). */
  private grants: PageGrants | undefined;
  /** Set when NATS dropped or a peer vanished: the run cannot be trusted any more. */
  failure: Error | undefined;
  /** What the run was doing, for a message about a peer that went away. */
  private step = 'opening the session';
  private closing = false;
  /** The run's round trips by cause (round-trips.ts). */
  readonly roundTrips = new RoundTripCount();
  /** Wait-until: tasks whose wait must end at their next wake-up (endWait), and the wake-ups waited out here. */
  private readonly endWaits: Record<KernelName, Set<number>> = { primary: new Set(), kdump: new Set() };
  wakeUpsWaitedOut = 0;
  /** Of those, the wake-ups a fleet slice ran past (docs/services.md, "Wait-until"). */
  wakeUpsPassedByFleet = 0;
  /** Run-ahead steps a fleet slice ran past (docs/services.md, "Run-ahead"). */
  stepsPassedByFleet = 0;
  /** The runner's serviceIrqs ticks not sent: no interrupt reached the kernel since its last. */
  ticksSkipped = 0;

  constructor(
    private readonly rpc: Rpc,
    readonly id: string,
    private readonly spec: ScenarioSpec,
    /** Headers for the fleet calls (a telemetry adapter's baggage: the panic instant). */
    private readonly fleetHeaders: () => Readonly<Record<string, string>> | undefined = () => undefined,
    private readonly o: CoSimOptions = {},
  ) {}

  /** Opens the fleet session and returns the links for runScenario. */
  async links(): Promise<RunLinks> {
    this.fleet = await RemoteFleet.open(this.rpc, this.id, this.spec, this.fleetHeaders, this.o.deviceDmi ?? 'on', this.roundTrips);
    return {
      fleet: this.fleet,
      primary: (_port, p) => this.kernel('primary', p),
      kdump: (_port, p) => this.kernel('kdump', p),
      close: () => this.close(),
    };
  }

  private attach(p: PlatformRole): void {
    if (this.p) return;
    this.p = p;
    this.grants = new PageGrants(p, this.o.dmi ?? 'on');
    this.sub = this.rpc.serve(SUBJECTS.platform(this.id), (b) => this.handle(b as KernelToPlatform));
  }

  private async kernel(k: KernelName, p: PlatformRole): Promise<KernelLink> {
    this.attach(p);
    await this.rpc.call(SUBJECTS.kernelOpen(k), { session: this.id });
    this.open.add(k);
    // Interrupts from now on reach this kernel with its next message (in one process: as they are raised).
    p.smmus.forEach((_, i) => p.onInterrupt(i, (e) => this.irqs[k].push({ smmu: i, e })));
    const region = p.region(k === 'primary' ? 'primary-ram' : 'crashkernel');
    await this.callKernel(k, 'init', [this.spec, region, p.smmuNames()]);
    return new RemoteKernel(this, k);
  }

  /** Interrupts a kernel was sent since the runner's last serviceIrqs tick into it, or has waiting. */
  private readonly irqsSinceTick: Record<KernelName, number> = { primary: 0, kdump: 0 };

  /**
   * Whether a serviceIrqs tick into `k` would find no interrupt to take: none waits for it and
   * none was sent to it since its last tick (one the kernel's own code took meanwhile counts,
   * conservatively). Then the tick is skipped: in one process it is a call that does nothing.
   */
  quietSinceTick(k: KernelName): boolean {
    return this.o.ticks === 'skip-all' || (this.irqs[k].length === 0 && this.irqsSinceTick[k] === 0);
  }

  ctx(k: KernelName): TimeContext {
    const p = this.p!;
    const irqs = this.irqs[k];
    this.irqs[k] = [];
    this.irqsSinceTick[k] += irqs.length;
    const pages = this.grants!.changes(k);
    // `unbounded` breaks run-ahead on purpose (a window may pass other threads' wake-ups), for the test that shows it matters.
    const quiet = this.o.runAhead === 'off' ? p.now() : this.o.runAhead === 'unbounded' ? Infinity : p.quietUntil();
    return { now: p.now(), next: p.nextEventTime() ?? null, irqs, ...(pages.length ? { pages } : {}), ...(quiet !== undefined ? { quiet } : {}) };
  }

  async callKernel<T>(k: KernelName, call: PlatformToKernel['call'], args: readonly unknown[]): Promise<T> {
    const body: PlatformToKernel = { call, args, ctx: this.ctx(k) };
    this.step = `during the platform's ${call} call into the ${k} kernel`;
    // A tick takes every interrupt the kernel has, those of this call's context too.
    if (call === 'serviceIrqs') this.irqsSinceTick[k] = 0;
    this.roundTrips.call(call);
    let r: KernelReply;
    try {
      r = await this.rpc.call<KernelReply>(SUBJECTS.kernel(this.id, k), body, 3_600_000);
    } catch (e) {
      // Which step the run was in when its kernel went away.
      if (e instanceof PeerLost) throw new PeerLost(e.subject, `${e.message} (the platform's ${call} call into the ${k} kernel)`);
      throw e;
    }
    this.step = `after the platform's ${call} call into the ${k} kernel, while its threads ran`;
    this.applyPosted(k, r.posted);
    return r.value as T;
  }

  private applyPosted(k: KernelName, ops: readonly PostedOp[]): void {
    const p = this.p!;
    for (const op of ops) {
      switch (op.o) {
        case 'memWrite':
          // A store the platform refuses (its backing bound) is in the kernel's copy of the page
          // already: the kernel's next answer carries the page back. The reaction runs before
          // that answer's context is made (it is queued first).
          void p.memWrite(k, op.pa, op.data).then(
            (r) => void (r.ok || this.grants!.refused(k, op.pa, op.data.length)),
            () => undefined,
          );
          break;
        case 'control':
          p.control(op.device, op.c);
          break;
        case 'addMapping':
          p.addMapping(op.device, op.m);
          break;
        case 'endMapping':
          p.endMapping(op.device, op.iova);
          break;
        case 'spawn':
          this.tasks[k].set(op.local, p.spawn(op.name, op.owner));
          break;
        case 'finish':
          p.finish(this.task(k, op.task));
          break;
        case 'endWait':
          this.endWaits[k].add(this.task(k, op.task));
          break;
        case 'panicNow':
          p.panicNow(op.reason);
          break;
      }
    }
  }

  private task(k: KernelName, id: number): number {
    return id < 0 ? (this.tasks[k].get(id) ?? 0) : id;
  }

  /** A kernel's message: its posted operations, then the one it waits on. */
  private handle(b: KernelToPlatform): unknown {
    const k = b.k;
    if (k !== 'primary' && k !== 'kdump') throw new RangeError(`k: 'primary' or 'kdump' (got ${JSON.stringify(k)})`);
    const p = this.p!;
    this.applyPosted(k, b.posted ?? []);
    const op = b.op;
    if (!op) return undefined;
    this.roundTrips.op(op);
    // `grant`: pages the answer grants besides what changed, taken after the changes (read at its instant).
    const answer = <T>(v: Promise<T>, grant?: (value: T) => readonly PageImage[]) =>
      v.then(
        (value) => {
          const ctx = this.ctx(k);
          const granted = grant?.(value) ?? [];
          return { ctx: granted.length ? { ...ctx, pages: [...(ctx.pages ?? []), ...granted] } : ctx, value };
        },
        (e) => {
          throw halted(e);
        },
      );
    switch (op.o) {
      case 'mmioRead':
        return answer(p.mmioRead(k, op.smmu, op.offset, op.size));
      case 'mmioWrite':
        return answer(p.mmioWrite(k, op.smmu, op.offset, op.size, BigInt(op.value)));
      case 'memRead': {
        // A miss that asks: the pages under the load come with the answer. With `ahead`, the
        // task's next announced loads too, read now (nothing else runs before them), where a load
        // of them is plain (no fault, no firmware-offlined memory, CPUs running).
        const ahead = op.ahead;
        if (ahead !== undefined && (!Array.isArray(ahead) || ahead.length > MAX_READ_AHEAD || !ahead.every((x) => Number.isSafeInteger(x) && x >= 0)))
          throw new RangeError(`op.ahead: at most ${MAX_READ_AHEAD} physical addresses (non-negative integers)`);
        const read = p.memRead(k, op.pa, op.length).then((value) => {
          if (!value.ok || !ahead?.length || op.length > DMI_PAGE) return value;
          const more: { pa: number; data: Uint8Array }[] = [];
          for (const pa of ahead) {
            const data = this.grants!.readPlain(k, pa, op.length);
            if (!data) break;
            more.push({ pa, data });
          }
          return more.length ? { ...value, ahead: more } : value;
        });
        return answer(read, (value) => (op.grant && value.ok ? this.grants!.grant(k, op.pa, op.length) : []));
      }
      case 'sleep': {
        const task = this.task(k, op.task);
        const { steps, then } = op;
        if (
          steps !== undefined &&
          (!Array.isArray(steps) ||
            steps.length > MAX_RUN_AHEAD_STEPS ||
            !steps.every((st) => st !== null && typeof st === 'object' && Array.isArray(st.posted) && Number.isSafeInteger(st.ns) && st.ns >= 0))
        ) {
          throw new RangeError(`op.steps: at most ${MAX_RUN_AHEAD_STEPS} wake-ups {posted: [...], ns: a non-negative integer}`);
        }
        if (then !== undefined && !Array.isArray(then)) throw new RangeError('op.then: an array of posted operations');
        // Wait-until: what the loads read now (the task is running: nothing else changed them since it read them).
        const wait = op.wait && !steps?.length && this.o.waitUntil !== 'off' ? this.waitFrom(k, task, op.ns, op.wait) : undefined;
        // Run-ahead: the wake-ups the kernel ran ahead, each a turn of the task in the sequencer's
        // order, with what it posted at each; a halt in between ends the chain there. A fleet
        // slice may run past them (PlatformRole.beginScript), making their effects on the fleet
        // itself: the step is then made here without its register writes, and the chain goes on
        // from the next.
        let turn = p.sleep(task, op.ns);
        if (steps?.length) {
          let next = 0;
          const script = this.o.runAhead === 'off' ? undefined : this.scriptOf(k, steps);
          if (script) {
            p.passables.beginScript(task, {
              left: () => script.slice(next),
              step: () => {
                this.stepsPassedByFleet++;
                this.applyPosted(
                  k,
                  steps[next++]!.posted.filter((x: PostedOp) => x.o !== 'control'),
                );
              },
            });
          }
          turn = turn
            .then(async () => {
              while (next < steps.length) {
                this.applyPosted(k, steps[next++]!.posted);
                await p.sleep(task, steps[next - 1]!.ns);
              }
            })
            .finally(() => p.passables.endScript(task));
        }
        if (then) turn = turn.then(() => this.applyPosted(k, then));
        if (wait) {
          turn = turn
            .then(() => this.waitOut(task, op.ns, wait))
            .finally(() => {
              p.passables.endWait(task);
              this.endWaits[k].delete(task);
            });
        }
        // With the wake-up, the bytes of the task's first load (read as the task resumes: nothing else runs until it yields).
        const next = op.next;
        return answer(turn.then(() => (next ? (p.peek(k, next) ?? null) : null)));
      }
      case 'crashedPages':
        return answer(p.crashedPages(op.limit));
      default:
        throw new RangeError(`op: one of mmioRead, mmioWrite, memRead, sleep, crashedPages (got ${JSON.stringify((op as { o?: unknown }).o)})`);
    }
  }

  /**
   * Run-ahead steps as the fleet makes their effects (ScriptedStep): the stores, the register
   * writes, the waits ended (sequencer tasks); undefined when a step posts anything else (then
   * each is a turn). `undelivered` breaks it on purpose: the register writes are left out.
   */
  private scriptOf(k: KernelName, steps: readonly RunAheadStep[]): ScriptedStep[] | undefined {
    if (!steps.every((st) => st.posted.every(isRunAheadOp))) return undefined;
    return steps.map((st) => {
      const writes: { pa: number; data: Uint8Array }[] = [];
      const controls: { device: string; control: DeviceControl }[] = [];
      const ends: number[] = [];
      for (const x of st.posted.filter(isRunAheadOp)) {
        if (x.o === 'memWrite') writes.push({ pa: x.pa, data: x.data });
        else if (x.o === 'control') controls.push({ device: x.device, control: x.c });
        else ends.push(this.task(k, x.task));
      }
      return { writes, controls: this.o.runAhead === 'undelivered' ? [] : controls, ends, ns: st.ns };
    });
  }

  /**
   * A wait-until as it starts (the task's first sleep of it is registered): what its loads read
   * now, and the wait as the fleet may run past it (PlatformRole.beginWait); undefined (a plain
   * sleep) when a load is not a plain one.
   */
  private waitFrom(k: KernelName, task: number, ns: number, w: WaitWhile): { w: WaitWhile; check: () => string | undefined } | undefined {
    if (!Array.isArray(w.loads) || w.loads.length === 0 || w.loads.length > MAX_WAIT_LOADS) throw new RangeError(`op.wait.loads: 1 to ${MAX_WAIT_LOADS} loads`);
    if (w.poll !== undefined && !(Number.isSafeInteger(w.poll.deadline) && Number.isSafeInteger(w.poll.step) && w.poll.step > 0))
      throw new RangeError('op.wait.poll: {deadline, step}, integers of ns, step > 0');
    if (
      !w.loads.every((l) =>
        'pa' in l
          ? Number.isSafeInteger(l.pa) && l.pa >= 0 && Number.isSafeInteger(l.length) && l.length > 0 && l.length <= DMI_PAGE
          : Number.isSafeInteger(l.smmu) && Number.isSafeInteger(l.offset) && (l.size === 4 || l.size === 8),
      )
    ) {
      throw new RangeError('op.wait.loads: each {pa, length <= 4096} or {smmu, offset, size: 4 or 8}');
    }
    this.endWaits[k].delete(task);
    const seen: (Uint8Array | bigint)[] = [];
    for (const l of w.loads) {
      const v = this.plainLoad(k, l);
      if (v === undefined) return undefined;
      seen.push(v);
    }
    const p = this.p!;
    const blind = this.o.waitUntil === 'blind';
    // Why the wait ends at a wake-up now, if it does.
    const check = (): string | undefined => {
      if (this.endWaits[k].has(task)) return 'endWait';
      if (w.poll && this.irqs[k].length > 0) return 'an interrupt';
      if (w.poll && p.now() >= w.poll.deadline) return 'the deadline';
      if (!blind && !w.loads.every((l, i) => same(this.plainLoad(k, l), seen[i]!))) return 'a load reads other bytes';
      return undefined;
    };
    const ranges =
      this.o.waitUntil === 'unwatched'
        ? []
        : w.loads.filter((l): l is { pa: number; length: number } => 'pa' in l).map((l) => ({ pa: l.pa, length: l.length }));
    const passed = () => {
      this.wakeUpsWaitedOut++;
      this.wakeUpsPassedByFleet++;
    };
    p.passables.beginWait(task, { every: ns, ...(w.poll ? { poll: w.poll } : {}), ranges, check, passed });
    return { w, check };
  }

  /** What a load of `kernel` reads now (checked by waitFrom), if it is a plain one (PlatformRole.peek); an MMIO read as its value. */
  private plainLoad(k: KernelName, l: NextLoad): Uint8Array | bigint | undefined {
    const v = this.p!.peek(k, l);
    if (v === undefined || v instanceof Uint8Array) return v;
    return v.result === 'ok' ? v.value : undefined;
  }

  /**
   * Wait-until, at the task's first wake-up: while its loads read the same, no interrupt came for
   * a loop that takes them, its deadline has not passed and no endWait came, the task sleeps
   * again as its loop would (each a turn of it, in the sequencer's order).
   */
  private async waitOut(task: number, ns: number, wait: { w: WaitWhile; check: () => string | undefined }): Promise<void> {
    const p = this.p!;
    const { w, check } = wait;
    while (check() === undefined) {
      await p.sleep(task, w.poll ? pollStep(p.now(), p.nextEventTime(), w.poll.deadline, w.poll.step).ns : ns);
      this.wakeUpsWaitedOut++;
    }
  }

  /**
   * While the run is in flight, the kernels and the fleet it opened are probed every PROBE_MS
   * (Rpc.alive): one whose session subject nothing serves any more (kill -9, a crash) fails the
   * run through `lost`, naming the service and the step the run was in. A call in flight finds
   * that out too (Rpc's own prober); this covers the time a kernel's threads run there with no
   * call of the platform's outstanding. Returns the function that stops it (before close()).
   */
  watchPeers(lost: (e: PeerLost) => void): () => void {
    let done = false;
    // eslint-disable-next-line no-restricted-globals -- liveness is wall-clock time, not simulated time
    const timer = setInterval(() => {
      const subjects = [...this.open].map((k) => SUBJECTS.kernel(this.id, k));
      if (this.fleet) subjects.push(SUBJECTS.fleet(this.id));
      for (const subject of subjects)
        void this.rpc.alive(subject).then((ok) => {
          if (!ok && !done && !this.closing) {
            done = true;
            const e = new PeerLost(subject, `${serviceOf(subject)} went away ${this.step}: nothing serves ${subject} any more`);
            // The sequencer may be waiting for a task of the lost kernel: it ends the run too.
            this.p?.seq.abort(e);
            lost(e);
          }
        });
    }, PROBE_MS);
    timer.unref?.();
    return () => {
      done = true;
      clearInterval(timer);
    };
  }

  async close(): Promise<void> {
    // The peers close their session subjects now: that is not them going away.
    this.closing = true;
    const calls: Promise<unknown>[] = [];
    for (const k of this.open)
      calls.push(this.rpc.call(SUBJECTS.kernel(this.id, k), { call: 'close', args: [], ctx: { now: 0, next: null, irqs: [] } }).catch(() => undefined));
    if (this.fleet) calls.push(this.fleet.close().catch(() => undefined));
    await Promise.all(calls);
    this.sub?.unsubscribe();
  }
}

function same(a: Uint8Array | bigint | undefined, b: Uint8Array | bigint): boolean {
  if (a === undefined) return false;
  if (typeof a === 'bigint' || typeof b === 'bigint') return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** CpuHalted and TaskHalted travel as error replies with their reason (the kernel rethrows them). */
function halted(e: unknown): unknown {
  if (e instanceof CpuHalted) return Object.assign(new Error(e.message), { name: 'CpuHalted', details: { reason: e.reason } });
  if (e instanceof TaskHalted) return Object.assign(new Error(e.message), { name: 'TaskHalted', details: { owner: e.owner, reason: e.reason } });
  return e;
}
