// SPDX-License-Identifier: Apache-2.0
// The kernels' side of a run's trace (crash-generator, kdump-driver, or the in-process kernels):
// a span for each call the platform makes into the kernel, under the platform's span for it (its
// context arrived in the NATS headers), and the probe steps the driver reports (detection,
// adopt_strtab, device_reset, lazy L2, deferred attach, the endpoint drivers' probes) nested
// under the call they ran in. Times are the kernel's virtual time.

import { context, diag, SpanKind, trace, type Attributes, type Span } from '@opentelemetry/api';
import type { ProbeStep, StepAttrs, StepObserver } from '@kdump-twin/kernel';
import type { KernelHostHooks } from '@kdump-twin/transport';
import { ATTR, SPAN, type AttrName, type SpanName } from './registry.generated';
import { callSpan } from './calls';
import type { Telemetry } from './setup';
import { hrAt, runBaggage } from './timeline';

const STEP_SPANS: Readonly<Record<ProbeStep, SpanName>> = {
  'smmu.probe': SPAN.SMMU_PROBE,
  'smmu.detection': SPAN.SMMU_DETECTION,
  'smmu.adopt_strtab': SPAN.SMMU_ADOPT_STRTAB,
  'smmu.device_reset': SPAN.SMMU_DEVICE_RESET,
  'smmu.lazy_l2': SPAN.SMMU_LAZY_L2,
  'smmu.deferred_attach': SPAN.SMMU_DEFERRED_ATTACH,
  'endpoint.probe': SPAN.ENDPOINT_PROBE,
};

/** The model's step attribute keys, as the registry names them. */
const STEP_ATTRS: Readonly<Record<string, AttrName>> = {
  smmu: ATTR.SMMU,
  kernel: ATTR.KERNEL,
  sid: ATTR.STREAM_ID,
  l1: ATTR.L1_INDEX,
  adopt: ATTR.ADOPT,
  adopted: ATTR.ADOPTED,
  errno: ATTR.ERRNO,
  ok: ATTR.OK,
  device: ATTR.DEVICE,
  kind: ATTR.DEVICE_KIND,
  step: ATTR.ENDPOINT_STEP,
  error: ATTR.ERROR,
};

function attrsOf(a: StepAttrs | undefined): Attributes {
  const out: Attributes = {};
  for (const [k, v] of Object.entries(a ?? {})) {
    const name = STEP_ATTRS[k];
    if (!name || v === undefined) continue;
    out[name] = v;
    if (name === ATTR.STREAM_ID && typeof v === 'number') out[ATTR.STREAM_ID_HEX] = `0x${v.toString(16)}`;
  }
  return out;
}

/** Turns a kernel's probe steps into spans (KernelRole.observeSteps), each under the context the step's code runs in. */
export class StepTracer implements StepObserver {
  constructor(
    private readonly t: Telemetry,
    private readonly kernel: 'primary' | 'kdump',
  ) {}

  async step<T>(step: ProbeStep, now: () => number, attrs: StepAttrs, fn: () => Promise<T>, result?: (v: T) => StepAttrs): Promise<T> {
    const parent = context.active();
    let span: Span;
    let anchor: number;
    try {
      anchor = runBaggage(parent).anchorMs ?? 0;
      const a = attrsOf(attrs);
      if (step === 'smmu.probe') a[ATTR.EPOCH] = this.kernel;
      span = this.t.tracer.startSpan(STEP_SPANS[step], { startTime: hrAt(anchor, now()), attributes: a }, parent);
    } catch (e) {
      // Telemetry never changes what the driver does.
      diag.error('kdump-twin telemetry: a probe-step span failed', e);
      return fn();
    }
    let v: T;
    try {
      v = await context.with(trace.setSpan(parent, span), fn);
    } catch (e) {
      span.setAttributes(attrsOf({ error: e instanceof Error ? e.name : String(e) }));
      span.end(hrAt(anchor, now()));
      throw e;
    }
    try {
      span.setAttributes(attrsOf(result?.(v)));
      span.end(hrAt(anchor, now()));
    } catch (e) {
      diag.error('kdump-twin telemetry: a probe-step span failed', e);
    }
    return v;
  }
}

/**
 * A kernel service's span for one call from the platform, under the context its message carried:
 * `fn` runs inside it (the steps nest under it). `now` is the kernel's virtual time.
 */
export async function kernelCallSpan<T>(
  t: Telemetry,
  kernel: 'primary' | 'kdump',
  call: string,
  t0: number,
  now: () => number,
  fn: () => Promise<T>,
): Promise<T> {
  const name = callSpan(call);
  if (!t.enabled || !name) return fn();
  const parent = context.active();
  let anchor: number;
  let span: Span;
  try {
    anchor = runBaggage(parent).anchorMs ?? 0;
    span = t.tracer.startSpan(
      name,
      { kind: SpanKind.SERVER, startTime: hrAt(anchor, t0), attributes: { [ATTR.KERNEL]: kernel, [ATTR.KERNEL_CALL]: call, [ATTR.EPOCH]: kernel } },
      parent,
    );
  } catch (e) {
    diag.error('kdump-twin telemetry: a kernel call span failed', e);
    return fn();
  }
  try {
    return await context.with(trace.setSpan(parent, span), fn);
  } finally {
    span.end(hrAt(anchor, now()));
  }
}

/** What a kernel service gives its KernelHost: every session's steps and calls become spans. */
export function kernelHooks(t: Telemetry, kernel: 'primary' | 'kdump'): KernelHostHooks {
  if (!t.enabled) return {};
  return {
    role: (_session, role) => role.observeSteps(new StepTracer(t, kernel)),
    call: (_session, call, t0, now, fn) => kernelCallSpan(t, kernel, call, t0, now, fn),
  };
}
