// SPDX-License-Identifier: Apache-2.0
// Named steps of the driver's probe, for observers (a telemetry adapter turns them into spans):
// where a step begins and ends on the kernel's virtual timeline, and what it decided. Plain
// data only: the model never learns who is listening.

/** A step of arm_smmu_device_probe or of an endpoint driver's probe (names: telemetry-schema/registry.yaml). */
export type ProbeStep =
  | 'smmu.probe'
  | 'smmu.detection'
  | 'smmu.adopt_strtab'
  | 'smmu.device_reset'
  | 'smmu.lazy_l2'
  | 'smmu.deferred_attach'
  | 'endpoint.probe';

export type StepAttrs = Readonly<Record<string, string | number | boolean | undefined>>;

export interface StepObserver {
  /** A step begins at virtual time `t`; the returned function ends it (at its own `t`, with what it decided). */
  begin(step: ProbeStep, t: number, attrs: StepAttrs): (t: number, attrs?: StepAttrs) => void;
}

/** Runs `fn` as step `step`: the observer sees it begin and end (also when `fn` throws). */
export async function inStep<T>(obs: StepObserver | undefined, step: ProbeStep, now: () => number, attrs: StepAttrs, fn: () => Promise<T>, result?: (v: T) => StepAttrs): Promise<T> {
  if (!obs) return fn();
  const end = obs.begin(step, now(), attrs);
  let v: T;
  try {
    v = await fn();
  } catch (e) {
    end(now(), { error: e instanceof Error ? e.name : String(e) });
    throw e;
  }
  end(now(), result ? result(v) : {});
  return v;
}
