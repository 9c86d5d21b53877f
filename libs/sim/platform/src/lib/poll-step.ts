// SPDX-License-Identifier: Apache-2.0
// How a polling loop moves through virtual time (readl_relaxed_poll_timeout in the kernel
// model): one step at a time, or straight to the next event when none can change what it reads
// before then. One function for the loop itself, for a platform that waits the loop out, and
// for a fleet that runs past its wake-ups (docs/services.md, "Wait-until").

/**
 * The next delay of a poll loop at `now`: one `step`, or, when the next hardware event (or the
 * deadline) is further than a step away, every step up to it at once (`skipped`: the reads that
 * fast-forward passes over, which all would see the same value). Shared by the loop and by a
 * platform that waits it out (PollWait).
 */
export function pollStep(now: number, next: number | undefined, deadline: number, step: number): { readonly ns: number; readonly skipped?: number } {
  const target = Math.min(next ?? deadline, deadline);
  if (target - now <= step) return { ns: step };
  const steps = Math.floor((target - now) / step);
  return { ns: steps * step, skipped: steps - 1 };
}
