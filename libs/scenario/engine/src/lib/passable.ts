// SPDX-License-Identifier: Apache-2.0
// The platform's side of the kernel tasks a fleet slice may run past (docs/services.md,
// "Wait-until" and "Run-ahead"), used when the kernels are in services: tasks parked in a
// wait-until evaluated on the platform, and threads' run-ahead steps. What each slice is told of
// them, and what the platform does at each wake-up the slice says it ran past.

import type { PassedWake, PassiveWait, ScriptedStep, ScriptedTask } from '@kdump-twin/endpoint';
import type { Sequencer } from '@kdump-twin/platform';

/** A wait-until evaluated on the platform, as the fleet may run past it. */
export interface PlatformWait {
  /** Its period, or readl_relaxed_poll_timeout's steps and deadline. */
  readonly every: number;
  readonly poll?: { readonly step: number; readonly deadline: number };
  /** Physical ranges its loads read. */
  readonly ranges: readonly { readonly pa: number; readonly length: number }[];
  /** Why the wait ends at a wake-up now (a load reads other bytes, an interrupt, the deadline, endWait), or undefined: it goes on. */
  check(): string | undefined;
  /** A wake-up the fleet ran past (counted). */
  passed(): void;
}

/** A kernel thread's run-ahead steps on the platform, as the fleet may run past them. */
export interface PlatformScript {
  /** The steps not made yet, the next first: what each does to the fleet, and its sleep. */
  left(): readonly ScriptedStep[];
  /** Makes the next step now (the fleet ran past its wake-up and made its effects on the fleet already). */
  step(): void;
}

export class PassableTasks {
  private readonly waits = new Map<number, PlatformWait>();
  private readonly scripts = new Map<number, PlatformScript>();

  constructor(
    private readonly seq: Sequencer,
    /** No task is passable while this holds (a panic after N transactions is armed: the fleet may reach N). */
    private readonly frozen: () => boolean,
  ) {}

  /** Task `task` is parked in a wait-until evaluated on this platform: the fleet may run past its wake-ups while `w.check` holds. */
  beginWait(task: number, w: PlatformWait): void {
    this.waits.set(task, w);
  }

  endWait(task: number): void {
    this.waits.delete(task);
  }

  /** Task `task`'s next wake-ups are run-ahead steps: the fleet may run past them, making their effects. */
  beginScript(task: number, s: PlatformScript): void {
    this.scripts.set(task, s);
  }

  endScript(task: number): void {
    this.scripts.delete(task);
  }

  /**
   * The tasks a fleet slice may run past: the waits that go on as things are now (no endWait, no
   * interrupt, no store by a kernel into what they read since), and the threads with run-ahead
   * steps left (`bound`: the earliest wake-up after a thread's last step, its own again); none of
   * a halted kernel (Sequencer.wakeOf).
   */
  passable(): { passive: PassiveWait[]; scripted: ScriptedTask[]; bound?: number } {
    const passive: PassiveWait[] = [];
    const scripted: ScriptedTask[] = [];
    if ((this.waits.size === 0 && this.scripts.size === 0) || this.frozen()) return { passive, scripted };
    for (const [task, w] of this.waits) {
      const at = this.seq.wakeOf(task);
      if (at && w.check() === undefined)
        passive.push({ task, seq: at.seq, wake: at.wake, ...(w.poll ? { poll: w.poll } : { every: w.every }), ranges: w.ranges });
    }
    let bound: number | undefined;
    for (const [task, s] of this.scripts) {
      const at = this.seq.wakeOf(task);
      const steps = s.left();
      if (!at || steps.length === 0) continue;
      scripted.push({ task, seq: at.seq, wake: at.wake, steps });
      const after = steps.reduce((t, st) => t + st.ns, at.wake);
      bound = Math.min(bound ?? Infinity, after);
    }
    return { passive, scripted, ...(bound !== undefined ? { bound } : {}) };
  }

  /** A wake-up the fleet ran past (now): a wait must go on here, a scripted thread makes its next step; else the fleet ran past where a kernel acts. */
  passWake(p: PassedWake): void {
    const s = this.scripts.get(p.task);
    if (s) {
      const step = s.left()[0];
      if (!step || step.ns !== p.ns) throw new Error(`run-ahead: the fleet ran past a wake-up of task ${p.task} at ${p.at} ns that is not its next step`);
      s.step();
      this.seq.passWake(p.task, p.ns);
      return;
    }
    const w = this.waits.get(p.task);
    const why = !w ? 'it is in no wait' : w.poll === undefined && p.ns !== w.every ? `its period is ${w.every} ns, not ${p.ns}` : w.check();
    if (why !== undefined) throw new Error(`wait-until: the fleet ran past the wake-up of task ${p.task} at ${p.at} ns, where the wait ends (${why})`);
    this.seq.passWake(p.task, p.ns);
    w!.passed();
  }
}
