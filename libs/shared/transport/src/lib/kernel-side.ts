// SPDX-License-Identifier: Apache-2.0
// A kernel in a service (the crash generator's primary kernel, the kdump driver's kdump kernel):
// the same KernelRole as in one process, over a PlatformPort that reaches the platform on NATS.
// Stores, device-register writes, mappings and new threads are posted: they travel with the
// kernel's next message, in order, so the only round trips are the loads, MMIO accesses and
// sleeps a CPU really waits on. A CPU store's fault is known without asking: it depends only on
// the memory map, which both sides derive from the scenario.

import type { BusInterrupt, MemFault, MmioOutcome, MmioSize } from '@kdump-twin/kernel';
import { PhysicalMemory, TaskHalted, VirtualClock, defaultServerMemoryLayout, type Region } from '@kdump-twin/platform';
import { CpuHalted, DMI_PAGE, KernelRole, PageCache, type KernelName, type Mapping, type NextLoad, type Owner, type PlatformPort, type ScenarioSpec } from '@kdump-twin/scenario';
import type { Subscription } from 'nats';
import type { KernelReply, KernelToPlatform, PlatformToKernel, PostedOp, SyncOp, TimeContext } from './protocol';
import { SUBJECTS } from './protocol';
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
    this.closing?.();
  }

  private closedWhy: string | undefined;
  private closing: (() => void) | undefined;
  private readonly closed = new Promise<never>((_, fail) => {
    this.closing = () => fail(new TaskHalted(this.kernel, this.closedWhy ?? 'session closed'));
  });

  private async sync<T>(op: SyncOp): Promise<T> {
    this.prefetched = undefined;
    if (this.closedWhy !== undefined) throw new TaskHalted(this.kernel, this.closedWhy);
    const body: KernelToPlatform = { k: this.kernel, posted: this.takePosted(), op };
    let r: { ctx: TimeContext; value: T };
    try {
      r = await Promise.race([this.rpc.call<{ ctx: TimeContext; value: T }>(this.subject, body, 600_000), this.closed]);
    } catch (e) {
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
    // Only a load shorter than a page asks for its pages: descriptors, PTEs, table entries are
    // loaded again and again; a page-sized load (makedumpfile's sweep) is read once.
    const ask = length < DMI_PAGE && this.dmi.wantsMore;
    return this.sync<{ readonly ok: true; readonly data: Uint8Array } | MemFault>({ o: 'memRead', pa, length, ...(ask ? { grant: true } : {}) });
  }

  async memWrite(_k: KernelName, pa: number, data: Uint8Array) {
    const f = this.map.check(pa, data.length);
    if (f) return { ok: false as const, fault: f.fault, address: f.address };
    this.prefetched = undefined;
    this.dmi.write(pa, data);
    this.posted.push({ o: 'memWrite', pa, data: data.slice() });
    return { ok: true as const };
  }

  now(): number {
    return this.t;
  }

  nextEventTime(): number | undefined {
    return this.nextT;
  }

  async sleep(task: number, ns: number, next?: NextLoad): Promise<void> {
    const got = await this.sync<Uint8Array | MmioOutcome | null>({ o: 'sleep', task, ns, ...(next ? { next } : {}) });
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
    // A thread's last word: nothing follows it to carry it, so it goes now.
    const body: KernelToPlatform = { k: this.kernel, posted: [...this.takePosted(), { o: 'finish', task }] };
    this.rpc.post(this.subject, body);
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
    if (typeof b?.session !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(b.session)) throw new RangeError('session: 1-64 letters, digits, - or _');
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
