// SPDX-License-Identifier: Apache-2.0
// A kernel in a service (the crash generator's primary kernel, the kdump driver's kdump kernel):
// the same KernelRole as in one process, over a PlatformPort that reaches the platform on NATS.
// Stores, device-register writes, mappings and new threads are posted: they travel with the
// kernel's next message, in order, so the only round trips are the loads, MMIO accesses and
// sleeps a CPU really waits on. A CPU store's fault is known without asking: it depends only on
// the memory map, which both sides derive from the scenario.

import type { BusInterrupt, MemFault, MmioOutcome, MmioSize } from '@kdump-twin/kernel';
import { PhysicalMemory, TaskHalted, VirtualClock, defaultServerMemoryLayout, type Region } from '@kdump-twin/platform';
import {
  CpuHalted,
  DMI_PAGE,
  KernelRole,
  PageCache,
  type KernelName,
  type Mapping,
  type NextLoad,
  type Owner,
  type PlatformPort,
  type ScenarioSpec,
  type SleepOptions,
} from '@kdump-twin/scenario';
import type { Subscription } from 'nats';
import type { KernelReply, KernelToPlatform, PlatformToKernel, PostedOp, RunAheadStep, SyncOp, TimeContext } from './protocol';
import { isRunAheadOp, MAX_READ_AHEAD, MAX_RUN_AHEAD_STEPS, SESSION_ID, SUBJECTS } from './protocol';
import { RemoteError, type Rpc } from './rpc';

/** The memory map of a scenario, for store faults (no backing: only `check`). */
export function memoryMapOf(spec: ScenarioSpec): PhysicalMemory {
  const regions: Region[] = spec.platform.regions
    ? spec.platform.regions.map((r) => ({ name: r.name, base: Number(r.base), size: Number(r.size), kind: r.kind, owner: r.owner }))
    : defaultServerMemoryLayout();
  return new PhysicalMemory({ paBits: spec.platform.paBits, maxBackedBytes: 4096, regions }, new VirtualClock());
}

/**
 * Pages a kernel service holds at most (16 MiB): the drivers' rings, queues and page tables fit
 * many times over; makedumpfile's sweep of the crashed kernel's memory fills the rest and then
 * reads through to the platform.
 */
export const DMI_PAGES_PER_KERNEL = 4096;

/** The platform as a kernel in a service reaches it. */
export class RemotePlatformPort implements PlatformPort {
  /** Direct memory: the pages this kernel holds (kernel-dmi.ts); kept current by every answer. */
  readonly dmi = new PageCache(DMI_PAGES_PER_KERNEL);
  private t = 0;
  private nextT: number | undefined;
  private posted: PostedOp[] = [];
  private readonly listeners = new Map<number, Set<(e: BusInterrupt) => void>>();
  private localTasks = 0;
  /** The bytes of a load announced before a sleep, read as the task woke. */
  private prefetched: { at: NextLoad; got: Uint8Array | MmioOutcome } | undefined;
  /** Read-ahead (willRead): the loads the running task announced, and the bytes of those already sent, until it sleeps. */
  private hint: { pas: readonly number[]; length: number } | undefined;
  private readonly ahead = new Map<number, Uint8Array>();
  /** Run-ahead: until when nothing but the fleet and the running task can happen (the last answer's `quiet`). */
  private quiet: number | undefined;
  /** Run-ahead: the paced wake-ups the running task made here, not yet sent (its first sleep and the posted ops before it, then one step per wake-up). */
  private window: { task: number; posted: PostedOp[]; ns: number; steps: RunAheadStep[] } | undefined;
  /** A window sent by finish(): the next message waits for its answer. */
  private flushing: Promise<unknown> | undefined;
  /** Wake-ups this kernel ran ahead, over its session. */
  ranAhead = 0;

  constructor(
    private readonly rpc: Rpc,
    private readonly subject: string,
    private readonly kernel: KernelName,
    private readonly map: PhysicalMemory,
  ) {
    this.closed.catch(() => undefined);
  }

  /** Takes in what an answer or a call from the platform says: time, next event, interrupts. */
  absorb(ctx: TimeContext): void {
    this.t = ctx.now;
    this.nextT = ctx.next ?? undefined;
    this.quiet = ctx.quiet;
    if (ctx.pages) this.dmi.take(ctx.pages);
    for (const { smmu, e } of ctx.irqs) for (const l of this.listeners.get(smmu) ?? []) l(e);
  }

  /** The posted operations not sent yet (a reply to the platform carries them). */
  takePosted(): PostedOp[] {
    const p = this.posted;
    this.posted = [];
    return p;
  }

  /** Ends the session here: calls still waiting (threads parked when the run ended) end with TaskHalted. */
  close(why: string): void {
    this.closedWhy = why;
    this.dmi.clear();
    this.dropAhead();
    this.closing?.();
  }

  private closedWhy: string | undefined;
  private closing: (() => void) | undefined;
  private readonly closed = new Promise<never>((_, fail) => {
    this.closing = () => fail(new TaskHalted(this.kernel, this.closedWhy ?? 'session closed'));
  });

  private async sync<T>(op: SyncOp): Promise<T> {
    this.prefetched = undefined;
    if (this.flushing) await this.flushing;
    if (this.closedWhy !== undefined) throw new TaskHalted(this.kernel, this.closedWhy);
    // A window still open: its wake-ups, and what the task posted since the last, go first.
    if (this.window) {
      const { lead, op: w } = this.closeWindow();
      await this.roundTrip({ k: this.kernel, posted: lead, op: { ...w, then: this.takePosted() } });
    }
    return this.roundTrip<T>({ k: this.kernel, posted: this.takePosted(), op });
  }

  /** Ends the window: the sleep op that carries its wake-ups, and the posted ops before its first sleep. */
  private closeWindow(): { lead: PostedOp[]; op: SyncOp & { o: 'sleep'; steps: RunAheadStep[] } } {
    const w = this.window!;
    this.window = undefined;
    return { lead: w.posted, op: { o: 'sleep', task: w.task, ns: w.ns, steps: w.steps } };
  }

  private async roundTrip<T>(body: KernelToPlatform): Promise<T> {
    let r: { ctx: TimeContext; value: T };
    try {
      r = await Promise.race([this.rpc.call<{ ctx: TimeContext; value: T }>(this.subject, body, 600_000), this.closed]);
    } catch (e) {
      this.dropAhead();
      throw rethrow(e);
    }
    this.absorb(r.ctx);
    return r.value;
  }

  mmioRead(_k: KernelName, smmu: number, offset: number, size: MmioSize): Promise<MmioOutcome> {
    const f = this.takePrefetch((at) => 'smmu' in at && at.smmu === smmu && at.offset === offset && at.size === size);
    if (f) return Promise.resolve(f as MmioOutcome);
    return this.sync({ o: 'mmioRead', smmu, offset, size });
  }

  mmioWrite(_k: KernelName, smmu: number, offset: number, size: MmioSize, value: bigint): Promise<MmioOutcome> {
    return this.sync({ o: 'mmioWrite', smmu, offset, size, value });
  }

  memRead(_k: KernelName, pa: number, length: number) {
    // The load the task announced before it slept, and nothing of its own since: the bytes came with the wake-up.
    const f = this.takePrefetch((at) => 'pa' in at && at.pa === pa && at.length === length);
    if (f) return Promise.resolve({ ok: true as const, data: f as Uint8Array });
    // Pages this kernel holds are current: nothing but its own task ran since the last answer.
    const held = this.dmi.read(pa, length);
    if (held) return Promise.resolve({ ok: true as const, data: held });
    // Read ahead: bytes the platform sent with an earlier load of this turn, for a load announced.
    const early = this.hint && length === this.hint.length ? this.ahead.get(pa) : undefined;
    if (early) {
      this.ahead.delete(pa);
      return Promise.resolve({ ok: true as const, data: early });
    }
    // Only a load shorter than a page asks for its pages: descriptors, PTEs, table entries are
    // loaded again and again; a page-sized load (makedumpfile's sweep) is read once.
    const ask = length < DMI_PAGE && this.dmi.wantsMore;
    const next = this.announcedAfter(pa, length);
    return this.sync<{ readonly ok: true; readonly data: Uint8Array; readonly ahead?: readonly { pa: number; data: Uint8Array }[] } | MemFault>({
      o: 'memRead',
      pa,
      length,
      ...(ask ? { grant: true } : {}),
      ...(next.length ? { ahead: next } : {}),
    }).then((r) => {
      if (r.ok && r.ahead) for (const a of r.ahead) this.ahead.set(a.pa, a.data);
      return r.ok ? { ok: true as const, data: r.data } : r;
    });
  }

  /** A hint from the running task: its next loads, before it sleeps (PlatformPort.willRead). */
  willRead(pas: readonly number[], length: number): void {
    this.hint = { pas: pas.slice(), length };
  }

  /** The announced loads after `pa`, not sent yet: what the platform may answer with it. */
  private announcedAfter(pa: number, length: number): number[] {
    const h = this.hint;
    if (!h || h.length !== length) return [];
    const i = h.pas.indexOf(pa);
    return i < 0
      ? []
      : h.pas
          .slice(i + 1)
          .filter((x) => !this.ahead.has(x))
          .slice(0, MAX_READ_AHEAD);
  }

  /** Read-ahead bytes are good until the task sleeps (others may write then), or a call failed. */
  private dropAhead(): void {
    this.hint = undefined;
    this.ahead.clear();
  }

  async memWrite(_k: KernelName, pa: number, data: Uint8Array) {
    const f = this.map.check(pa, data.length);
    if (f) return { ok: false as const, fault: f.fault, address: f.address };
    this.prefetched = undefined;
    this.dmi.write(pa, data);
    // The kernel's own store into bytes read ahead: they are no longer what the platform sent.
    if (this.ahead.size) for (const a of [...this.ahead.keys()]) if (a < pa + data.length && pa < a + (this.hint?.length ?? 0)) this.ahead.delete(a);
    this.posted.push({ o: 'memWrite', pa, data: data.slice() });
    return { ok: true as const };
  }

  now(): number {
    return this.t;
  }

  nextEventTime(): number | undefined {
    return this.nextT;
  }

  async sleep(task: number, ns: number, next?: NextLoad, o?: SleepOptions): Promise<void> {
    this.dropAhead();
    this.prefetched = undefined;
    const w = this.window;
    // Run-ahead: a paced task whose wake-up comes before anything else can happen wakes here at
    // once; the wake-up and what it posts go with its next real message (docs/services.md).
    if (
      o?.paced &&
      !next &&
      this.closedWhy === undefined &&
      !this.flushing &&
      this.quiet !== undefined &&
      this.t + ns < this.quiet &&
      (!w || (w.task === task && w.steps.length < MAX_RUN_AHEAD_STEPS - 1)) &&
      this.posted.every(isRunAheadOp)
    ) {
      if (!w) this.window = { task, posted: this.takePosted(), ns, steps: [] };
      else w.steps.push({ posted: this.takePosted(), ns });
      this.t += ns;
      // What the next event is the task does not know here; it promised not to ask (paced).
      this.nextT = this.t;
      this.ranAhead++;
      return;
    }
    if (this.flushing) await this.flushing;
    if (this.closedWhy !== undefined) throw new TaskHalted(this.kernel, this.closedWhy);
    let body: KernelToPlatform;
    if (w) {
      // This sleep ends the window: it is the last of its steps.
      const { lead, op } = this.closeWindow();
      body = { k: this.kernel, posted: lead, op: { ...op, steps: [...op.steps, { posted: this.takePosted(), ns }], ...(next ? { next } : {}) } };
    } else body = { k: this.kernel, posted: this.takePosted(), op: { o: 'sleep', task, ns, ...(next ? { next } : {}), ...(o?.wait ? { wait: o.wait } : {}) } };
    const got = await this.roundTrip<Uint8Array | MmioOutcome | null>(body);
    this.prefetched = next && got ? { at: next, got } : undefined;
  }

  /** The bytes or register value of the load announced before the last sleep, if this is that load. */
  private takePrefetch(match: (at: NextLoad) => boolean): Uint8Array | MmioOutcome | undefined {
    const f = this.prefetched;
    this.prefetched = undefined;
    return f && match(f.at) ? f.got : undefined;
  }

  spawn(name: string, owner: Owner): number {
    const local = -++this.localTasks;
    this.posted.push({ o: 'spawn', local, name, owner });
    // In this instant, after the running task: the next event is now.
    this.nextT = this.t;
    return local;
  }

  finish(task: number): void {
    this.dropAhead();
    if (this.window) {
      // It ends inside a window: the window goes as a sleep, and the end once that is answered.
      const { lead, op } = this.closeWindow();
      const then = [...this.takePosted(), { o: 'finish' as const, task }];
      this.flushing = this.roundTrip({ k: this.kernel, posted: lead, op }).then(
        () => this.rpc.post(this.subject, { k: this.kernel, posted: then } satisfies KernelToPlatform),
        () => undefined,
      );
      void this.flushing.finally(() => (this.flushing = undefined));
      return;
    }
    // A thread's last word: nothing follows it to carry it, so it goes now.
    const body: KernelToPlatform = { k: this.kernel, posted: [...this.takePosted(), { o: 'finish', task }] };
    this.rpc.post(this.subject, body);
  }

  endWait(task: number): void {
    this.posted.push({ o: 'endWait', task });
  }

  control(device: string, c: Parameters<PlatformPort['control']>[1]): void {
    this.posted.push({ o: 'control', device, c });
    this.nextT = this.t;
  }

  addMapping(device: string, m: Mapping): void {
    this.posted.push({ o: 'addMapping', device, m });
  }

  endMapping(device: string, iova: number): void {
    this.posted.push({ o: 'endMapping', device, iova });
  }

  onInterrupt(smmu: number, listener: (e: BusInterrupt) => void): () => void {
    let s = this.listeners.get(smmu);
    if (!s) this.listeners.set(smmu, (s = new Set()));
    s.add(listener);
    return () => s!.delete(listener);
  }

  panicNow(reason: string): void {
    this.posted.push({ o: 'panicNow', reason });
  }

  crashedPages(limit: number): Promise<number[]> {
    return this.sync({ o: 'crashedPages', limit });
  }
}

/** The halts the platform answers with, as the errors the kernel code expects. */
function rethrow(e: unknown): unknown {
  if (e instanceof RemoteError) {
    const d = (e.details ?? {}) as { owner?: string; reason?: string };
    if (e.remoteName === 'CpuHalted') return new CpuHalted(d.reason ?? e.message);
    if (e.remoteName === 'TaskHalted') return new TaskHalted(d.owner ?? '?', d.reason ?? e.message);
  }
  return e;
}

interface Session {
  readonly id: string;
  readonly sub: Subscription;
  port?: RemotePlatformPort;
  role?: KernelRole;
}

/**
 * The kernel service's engine: takes sessions from the queue group of its kind, and runs each
 * session's KernelLink calls on a KernelRole.
 */
/** What a telemetry adapter sees of a kernel service's sessions (each call runs in the context its message carried). */
export interface KernelHostHooks {
  /** A session's kernel was built (its probe steps can be observed). */
  role?(session: string, role: KernelRole): void;
  /** Runs one call: `t0` is the virtual time the call arrived at, `now()` the kernel's time. */
  call?<T>(session: string, call: string, t0: number, now: () => number, fn: () => Promise<T>): Promise<T>;
}

export class KernelHost {
  readonly sessions = new Map<string, Session>();
  /** Loads the sessions' direct memory served here and loads that crossed to the platform, over every session closed so far. */
  readonly dmi = { hits: 0, misses: 0 };
  /** Wake-ups its sessions' paced threads ran ahead (docs/services.md, "Run-ahead"), over every session closed so far. */
  readonly runAhead = { wakeUps: 0 };

  constructor(
    private readonly rpc: Rpc,
    readonly kind: KernelName,
    private readonly log: (msg: string) => void = () => undefined,
    private readonly hooks: KernelHostHooks = {},
  ) {}

  start(queue: string): void {
    this.rpc.serve(SUBJECTS.kernelOpen(this.kind), (b) => this.open(b as { session: string }), { queue });
  }

  private open(b: { session: string }): { ok: true } {
    if (typeof b?.session !== 'string' || !SESSION_ID.test(b.session)) throw new RangeError('session: 1-64 letters, digits, - or _');
    if (this.sessions.has(b.session)) throw new RangeError(`session ${b.session} is already open here`);
    const sub = this.rpc.serve(SUBJECTS.kernel(b.session, this.kind), (m) => this.handle(b.session, m as PlatformToKernel));
    this.sessions.set(b.session, { id: b.session, sub });
    this.log(`session ${b.session}: ${this.kind} kernel opened`);
    return { ok: true };
  }

  private handle(id: string, m: PlatformToKernel): unknown {
    const s = this.sessions.get(id)!;
    if (m.call === 'init') {
      const [spec, ram, smmuNames] = m.args as [ScenarioSpec, Region, string[]];
      s.port = new RemotePlatformPort(this.rpc, SUBJECTS.platform(id), this.kind, memoryMapOf(spec));
      s.port.absorb(m.ctx);
      s.role = new KernelRole(this.kind, spec, s.port, ram, smmuNames);
      this.hooks.role?.(id, s.role);
      return { posted: s.port.takePosted(), value: null } satisfies KernelReply;
    }
    if (m.call === 'close') {
      this.count(s);
      s.port?.close('the run ended');
      s.sub.unsubscribe();
      this.sessions.delete(id);
      this.log(`session ${id}: ${this.kind} kernel closed`);
      return { posted: [], value: null } satisfies KernelReply;
    }
    const role = s.role;
    const port = s.port;
    if (!role || !port) throw new RangeError(`session ${id}: ${m.call} before init`);
    port.absorb(m.ctx);
    const fn = (role as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[m.call];
    if (typeof fn !== 'function') throw new RangeError(`call: no KernelLink method ${String(m.call)}`);
    const run = () => fn.apply(role, [...m.args]);
    const p = this.hooks.call ? this.hooks.call(id, m.call, m.ctx.now, () => port.now(), run) : run();
    return p.then((value) => ({ posted: port.takePosted(), value }) satisfies KernelReply);
  }

  private count(s: Session): void {
    this.dmi.hits += s.port?.dmi.hits ?? 0;
    this.dmi.misses += s.port?.dmi.misses ?? 0;
    this.runAhead.wakeUps += s.port?.ranAhead ?? 0;
  }

  /** Drops every session (NATS reconnected: their messages may be lost). */
  dropAll(why: string): void {
    for (const s of this.sessions.values()) {
      this.count(s);
      s.port?.close(why);
      s.sub.unsubscribe();
      this.log(`session ${s.id}: dropped (${why})`);
    }
    this.sessions.clear();
  }
}
