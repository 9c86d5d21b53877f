// SPDX-License-Identifier: Apache-2.0
// Named steps of the driver's probe, for observers (a telemetry adapter turns them into spans):
// where a step begins and ends on the kernel's virtual timeline, and what it decided. Plain
// data only: the model never learns who is listening.

/** A step of arm_smmu_device_probe or of an endpoint driver's probe (names: telemetry-schema/registry.yaml). */
export type ProbeStep =
  'smmu.probe' | 'smmu.detection' | 'smmu.adopt_strtab' | 'smmu.device_reset' | 'smmu.lazy_l2' | 'smmu.deferred_attach' | 'endpoint.probe';

export type StepAttrs = Readonly<Record<string, string | number | boolean | undefined>>;

export interface StepObserver {
  /**
   * Runs `fn` as step `step`, which begins at `now()` with `attrs` and ends when `fn` settles
   * (`result` says what it decided). The observer must call `fn` exactly once and hand back what
   * it returns or throws: running it itself lets it give `fn` a context (steps nest by the code
   * that runs them, not by the order other threads begin theirs).
   */
  step<T>(step: ProbeStep, now: () => number, attrs: StepAttrs, fn: () => Promise<T>, result?: (v: T) => StepAttrs): Promise<T>;
}

/** Runs `fn` as step `step` when someone observes; the driver behaves the same either way. */
export function inStep<T>(
  obs: StepObserver | undefined,
  step: ProbeStep,
  now: () => number,
  attrs: StepAttrs,
  fn: () => Promise<T>,
  result?: (v: T) => StepAttrs,
): Promise<T> {
  return obs ? obs.step(step, now, attrs, fn, result) : fn();
}
