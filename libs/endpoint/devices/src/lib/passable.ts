// SPDX-License-Identifier: Apache-2.0
// Kernel tasks whose wake-ups a fleet slice may run past (docs/services.md, "Wait-until" and
// "Run-ahead"): waits evaluated on the platform, and threads' run-ahead steps; what the slice
// input says of them, what its answer says it passed, and the checks of the input off the wire.

import type { DeviceControl } from './types';

/**
 * A kernel task's wait-until the fleet may run past (docs/services.md, "Wait-until"): the task
 * wakes at `wake`, and again `every` ns later, or by readl_relaxed_poll_timeout's steps
 * (pollStep with `poll.step`, up to `poll.deadline`, where the wait ends), each time reading
 * loads nothing but the platform's answer to a device request can change: a granted write into
 * `ranges`, or any request the fleet could not answer itself (a fault may write, or interrupt).
 * The fleet runs past a wake-up only when nothing of the kind happened since the one before.
 */
export interface PassiveWait {
  readonly task: number;
  /** Its place among tasks waking at the same instant (the sequencer's registration order). */
  readonly seq: number;
  readonly wake: number;
  readonly every?: number;
  readonly poll?: { readonly step: number; readonly deadline: number };
  readonly ranges: readonly { readonly pa: number; readonly length: number }[];
}

/** Wake-ups one slice runs past at most (then it ends at the next): a bound on the slice and on its answer. */
export const MAX_PASSED_WAKES = 1024;

/**
 * A kernel thread's wake-ups it ran ahead (docs/services.md, "Run-ahead"), known before they
 * happen: at each, in order, the stores it makes (`writes`), the register writes to devices
 * (`controls`), the waits it ends (`ends`: tasks), then its next sleep. Nothing the fleet does
 * changes them, so it runs past each, making its effects on the fleet at that instant; the wake-up
 * after the last step is the thread's own again, and bounds the slice (the platform's `until`).
 */
export interface ScriptedTask {
  readonly task: number;
  readonly seq: number;
  readonly wake: number;
  readonly steps: readonly ScriptedStep[];
}

export interface ScriptedStep {
  readonly writes: readonly { readonly pa: number; readonly data: Uint8Array }[];
  readonly controls: readonly { readonly device: string; readonly control: DeviceControl }[];
  readonly ends: readonly number[];
  readonly ns: number;
}

/** A wake-up a slice ran past: at `at`, after the slice's first `after` requests, the task slept `ns` more. */
export interface PassedWake {
  readonly task: number;
  readonly at: number;
  readonly ns: number;
  readonly after: number;
}

/** Run-ahead steps one window may carry (a kernel's sleep op, a scripted thread of a slice); refused beyond. */
export const MAX_RUN_AHEAD_STEPS = 256;

/** Loads one wait-until may watch (a kernel's sleep op, a passive wait's ranges); refused beyond. */
export const MAX_WAIT_LOADS = 8;

/**
 * A slice input's list of kernel tasks whose wake-ups it may run past, checked (they come off the
 * wire): at most 64, each an object with `task` > 0, `seq` and `wake` >= 0, then `more` for the
 * rest; a RangeError names the field and the rule.
 */
function checkWakes<T>(v: unknown, name: 'passive' | 'scripted', what: string, more: (x: Record<string, unknown>, at: string) => void): readonly T[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > 64) throw new RangeError(`input.${name}: at most 64 ${what}s`);
  v.forEach((x: Record<string, unknown> | null, i) => {
    const at = `input.${name}[${i}]`;
    if (x === null || typeof x !== 'object') throw new RangeError(`${at}: a ${what} object`);
    for (const f of ['task', 'seq', 'wake'] as const)
      if (!int(x[f], f === 'task' ? 1 : 0)) throw new RangeError(`${at}.${f}: a ${f === 'task' ? 'positive' : 'non-negative'} integer`);
    more(x, at);
  });
  return v as T[];
}

const int = (v: unknown, min: number) => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;

/** A slice input's passive waits, checked. */
export function checkPassive(passive: unknown): readonly PassiveWait[] {
  return checkWakes<PassiveWait>(passive, 'passive', 'wait', (w, at) => {
    const poll = w['poll'] as Record<string, unknown> | undefined;
    if (poll === undefined ? !int(w['every'], 1) : poll === null || typeof poll !== 'object' || !int(poll['step'], 1) || !int(poll['deadline'], 0))
      throw new RangeError(`${at}: every, a positive integer of ns, or poll: {step > 0, deadline}, integers of ns`);
    const ranges = w['ranges'];
    if (
      !Array.isArray(ranges) ||
      ranges.length > MAX_WAIT_LOADS ||
      !ranges.every((r: Record<string, unknown> | null) => r !== null && typeof r === 'object' && int(r['pa'], 0) && int(r['length'], 1))
    )
      throw new RangeError(`${at}.ranges: at most ${MAX_WAIT_LOADS} {pa, length > 0}`);
  });
}

/** A slice input's scripted threads, checked. */
export function checkScripted(scripted: unknown): readonly ScriptedTask[] {
  return checkWakes<ScriptedTask>(scripted, 'scripted', 'thread', (t, at) => {
    const steps = t['steps'];
    if (!Array.isArray(steps) || steps.length === 0 || steps.length > MAX_RUN_AHEAD_STEPS)
      throw new RangeError(`${at}.steps: 1 to ${MAX_RUN_AHEAD_STEPS} steps`);
    steps.forEach((st: Record<string, unknown> | null, j) => {
      const sat = `${at}.steps[${j}]`;
      if (st === null || typeof st !== 'object' || !int(st['ns'], 0)) throw new RangeError(`${sat}.ns: a non-negative integer`);
      const writes = st['writes'];
      if (
        !Array.isArray(writes) ||
        !writes.every((w: Record<string, unknown> | null) => w !== null && typeof w === 'object' && int(w['pa'], 0) && w['data'] instanceof Uint8Array)
      )
        throw new RangeError(`${sat}.writes: [{pa, data: bytes}]`);
      const controls = st['controls'];
      if (
        !Array.isArray(controls) ||
        !controls.every(
          (c: Record<string, unknown> | null) =>
            c !== null && typeof c === 'object' && typeof c['device'] === 'string' && c['control'] !== null && typeof c['control'] === 'object',
        )
      )
        throw new RangeError(`${sat}.controls: [{device, control}]`);
      const ends = st['ends'];
      if (!Array.isArray(ends) || !ends.every((x) => int(x, 1))) throw new RangeError(`${sat}.ends: task numbers`);
    });
  });
}
