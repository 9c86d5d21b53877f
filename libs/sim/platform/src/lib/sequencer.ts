// SPDX-License-Identifier: Apache-2.0
// The sequencer: one order for everything that happens in a run (docs/services.md). Three kinds
// of work share virtual time:
//   1. timers of the platform's VirtualClock (SMMU ACKs, command consumption...), run one by one;
//   2. stepped actors (the endpoint fleet): `step(t)` runs whatever the actor has due at exactly t;
//   3. tasks: threads of kernel or runner code that run until they sleep. Exactly one task runs at
//      a time, and nothing else happens while it runs.
// At equal times timers go first, then actors in the order they were added, then tasks in the
// order their wake-ups were registered. A task's code may be local (an async function) or
// elsewhere (another process that parks the task with `sleep` and is resumed when it returns).

import type { VirtualClock } from './clock';

/** Something that does work at instants of virtual time (the fleet). */
export interface SteppedActor {
  nextEventTime(): number | undefined;
  step(t: number): Promise<void>;
}

/** Thrown into a task's pending sleep when its owner (a kernel) has halted. */
export class TaskHalted extends Error {
  constructor(
    readonly owner: string,
    readonly reason: string,
  ) {
    super(`${owner} halted: ${reason}`);
    this.name = 'TaskHalted';
  }
}

export interface TaskContext {
  readonly id: number;
  sleep(ns: number): Promise<void>;
  now(): number;
}

interface Task {
  readonly id: number;
  readonly name: string;
  readonly owner: string;
  wake: number;
  /** Registration order of the current wake-up (tie-break). */
  seq: number;
  state: 'parked' | 'running' | 'done';
  /** Resolves (or rejects) the task's pending sleep. */
  resume?: { ok: () => void; fail: (e: Error) => void };
  /** Resolved when the task first parks (a remote task's first sleep may come later than its spawn). */
  parked: Promise<void>;
  markParked: () => void;
}

export class Sequencer {
  private readonly tasks = new Map<number, Task>();
  private readonly actors: SteppedActor[] = [];
  private nextId = 0;
  private wakeSeq = 0;
  private running: Task | undefined;
  /** Resolves the loop's wait for the running task to yield (sleep) or end. */
  private yielded: (() => void) | undefined;
  private readonly halted = new Map<string, string>();
  private failure: unknown;
  /** The limit of the run() in progress, if it has one. */
  private limit: number | undefined;

  constructor(readonly clock: VirtualClock) {}

  now(): number {
    return this.clock.now();
  }

  /** The task running now, if any. */
  get current(): number | undefined {
    return this.running?.id;
  }

  addActor(a: SteppedActor): void {
    this.actors.push(a);
  }

  /**
   * Registers a task that first runs at the current time, after whatever is running now. With a
   * body, it is local; without, its code is elsewhere and parks itself with `sleep(id, 0)`.
   */
  spawn(name: string, owner: string, body?: (ctx: TaskContext) => Promise<void>): number {
    const id = ++this.nextId;
    let markParked = () => {};
    const parked = new Promise<void>((r) => (markParked = r));
    const t: Task = { id, name, owner, wake: this.now(), seq: ++this.wakeSeq, state: 'parked', parked, markParked };
    this.tasks.set(id, t);
    if (body) {
      const ctx: TaskContext = { id, sleep: (ns) => this.sleep(id, ns), now: () => this.now() };
      void (async () => {
        try {
          await this.park(t);
          await body(ctx);
        } catch (e) {
          if (!(e instanceof TaskHalted)) this.failure ??= e;
        } finally {
          this.finish(id);
        }
      })();
    }
    return id;
  }

  private park(t: Task): Promise<void> {
    return new Promise<void>((ok, fail) => {
      t.resume = { ok, fail };
      t.markParked();
    });
  }

  /**
   * The running task yields until `ns` from now (a remote task's first call, with ns 0, parks it
   * until its first turn). Rejects with TaskHalted if its owner halts meanwhile.
   */
  sleep(id: number, ns: number): Promise<void> {
    const t = this.tasks.get(id);
    if (!t || t.state === 'done') return Promise.reject(new Error(`no task ${id}`));
    if (!Number.isSafeInteger(ns) || ns < 0) return Promise.reject(new RangeError(`task ${t.name}: sleep(${ns}): a non-negative integer of ns`));
    const halt = this.halted.get(t.owner);
    if (halt !== undefined && t.state === 'running') {
      // Its kernel stopped: the task ends here, whatever its code does with the error.
      this.finish(id);
      return Promise.reject(new TaskHalted(t.owner, halt));
    }
    if (t.state === 'parked' && this.running !== t) {
      // First park of a remote task (or a re-park while waiting its turn): keep its place.
      return this.park(t);
    }
    t.wake = this.now() + ns;
    t.seq = ++this.wakeSeq;
    t.state = 'parked';
    const p = this.park(t);
    this.yieldTurn(t);
    return p;
  }

  /** A task's code ended (remote tasks say so; local ones end by returning). */
  finish(id: number): void {
    const t = this.tasks.get(id);
    if (!t || t.state === 'done') return;
    t.state = 'done';
    this.tasks.delete(id);
    this.yieldTurn(t);
  }

  private yieldTurn(t: Task): void {
    if (this.running === t) {
      this.running = undefined;
      const y = this.yielded;
      this.yielded = undefined;
      y?.();
    }
  }

  /** Tasks of `owner` get TaskHalted at their next turn (a kernel whose CPUs stopped). */
  halt(owner: string, reason: string): void {
    if (!this.halted.has(owner)) this.halted.set(owner, reason);
  }

  isHalted(owner: string): boolean {
    return this.halted.has(owner);
  }

  /** When the next thing other than the running task is due: what a polling task may skip to. */
  nextEventTime(): number | undefined {
    return this.horizon();
  }

  /**
   * The first instant at which anything other than `except` (an actor being stepped) and the
   * running task may happen: timers, other actors, parked tasks (but those in `passed`: tasks
   * whose wake-ups the actor is told it may run past).
   */
  horizon(except?: SteppedActor, passed?: ReadonlySet<number>): number | undefined {
    let best = this.quiet(passed);
    for (const a of this.actors) {
      if (a === except) continue;
      const t = a.nextEventTime();
      if (t !== undefined && (best === undefined || t < best)) best = t;
    }
    return best;
  }

  /** A parked task's next wake-up and its registration order; undefined when its owner halted (its next turn is a TaskHalted). */
  wakeOf(id: number): { readonly wake: number; readonly seq: number } | undefined {
    const t = this.tasks.get(id);
    return t && t.state === 'parked' && t !== this.running && !this.halted.has(t.owner) ? { wake: t.wake, seq: t.seq } : undefined;
  }

  /**
   * A parked task's wake-up now that a stepped actor ran past (a wait-until on the platform:
   * docs/services.md, "Wait-until"): it sleeps `ns` more, a new registration exactly as its turn
   * would have made, without the turn.
   */
  passWake(id: number, ns: number): void {
    const t = this.tasks.get(id);
    if (!t || t.state !== 'parked' || t === this.running || t.wake !== this.now() || this.halted.has(t.owner))
      throw new Error(`sequencer: task ${id} has no wake-up now (${this.now()})`);
    if (!Number.isSafeInteger(ns) || ns <= 0) throw new RangeError(`sequencer: passWake(${ns}): a positive integer of ns`);
    t.wake = this.now() + ns;
    t.seq = ++this.wakeSeq;
  }

  /**
   * The first instant at which anything but the stepped actors and the running task may happen:
   * a timer, another task's wake-up, the limit of the run() in progress. Until then the running
   * task's own wake-ups are the only turns it can be given (what a kernel may run ahead to).
   * `passed`: parked tasks left out (horizon's).
   */
  quiet(passed?: ReadonlySet<number>): number | undefined {
    // Nothing may run beyond the limit of the current run() (events at the limit still run).
    let best = this.limit === undefined ? this.clock.nextDeadline() : Math.min(this.clock.nextDeadline() ?? Infinity, this.limit + 1);
    for (const t of this.tasks.values()) {
      if (t === this.running || t.state !== 'parked' || passed?.has(t.id)) continue;
      if (best === undefined || t.wake < best) best = t.wake;
    }
    return best;
  }

  private nextTask(): Task | undefined {
    let best: Task | undefined;
    for (const t of this.tasks.values()) {
      if (t.state !== 'parked') continue;
      if (!best || t.wake < best.wake || (t.wake === best.wake && t.seq < best.seq)) best = t;
    }
    return best;
  }

  /**
   * Runs the simulation until `done()` holds (checked between events), nothing is left to do, or
   * the next event lies beyond `limit`. Rethrows the first error a task's code raised.
   */
  async run(done: () => boolean, limit = Number.MAX_SAFE_INTEGER): Promise<void> {
    this.limit = limit < Number.MAX_SAFE_INTEGER ? limit : undefined;
    try {
      await this.loop(done, limit);
    } finally {
      this.limit = undefined;
    }
  }

  /**
   * Ends the run with `e`: run() throws it at its next step, also when it is waiting for a task
   * that will never yield (the process running it is gone).
   */
  abort(e: Error): void {
    this.failure ??= e;
    const y = this.yielded;
    this.yielded = undefined;
    y?.();
  }

  private async loop(done: () => boolean, limit: number): Promise<void> {
    while (!done()) {
      if (this.failure) throw this.failure;
      const tc = this.clock.nextDeadline();
      let ta: number | undefined;
      let actor: SteppedActor | undefined;
      for (const a of this.actors) {
        const t = a.nextEventTime();
        if (t !== undefined && (ta === undefined || t < ta)) {
          ta = t;
          actor = a;
        }
      }
      const task = this.nextTask();
      const tt = task?.wake;
      const t = Math.min(tc ?? Infinity, ta ?? Infinity, tt ?? Infinity);
      if (t === Infinity || t > limit) break;
      if (tc === t) {
        this.clock.runNext();
        continue;
      }
      if (t > this.clock.now()) this.clock.advanceTo(t);
      if (ta === t) {
        await actor!.step(t);
        continue;
      }
      await task!.parked;
      const halt = this.halted.get(task!.owner);
      task!.state = 'running';
      this.running = task;
      const turn = new Promise<void>((r) => (this.yielded = r));
      const r = task!.resume!;
      task!.resume = undefined;
      if (halt !== undefined) r.fail(new TaskHalted(task!.owner, halt));
      else r.ok();
      await turn;
    }
    if (this.failure) throw this.failure;
  }
}
