// SPDX-License-Identifier: Apache-2.0
// Span timestamps on the virtual timeline: virtual nanoseconds since the run began, anchored at
// the wall-clock millisecond the run started (the anchor travels with the run's context as
// baggage), so Jaeger's timeline shows the simulated order and durations.

import { propagation, context as otelContext, type Context, type HrTime } from '@opentelemetry/api';

/** Baggage keys the run's context carries to every service. */
export const BAGGAGE = {
  anchor: 'kdump_twin.anchor_ms',
  run: 'kdump_twin.run.id',
  scenario: 'kdump_twin.scenario',
  policy: 'kdump_twin.policy',
  seed: 'kdump_twin.seed',
  panicAt: 'kdump_twin.panic_at_ns',
} as const;

/** Wall time of virtual instant `ns` for a run anchored at `anchorMs`. */
export function hrAt(anchorMs: number, ns: number): HrTime {
  const sec = Math.floor(anchorMs / 1000);
  const total = (anchorMs - sec * 1000) * 1e6 + Math.max(0, Math.round(ns));
  return [sec + Math.floor(total / 1e9), total % 1e9];
}

/** What the run's baggage says, in the given (default: active) context. */
export function runBaggage(ctx: Context = otelContext.active()): {
  anchorMs?: number;
  run?: string;
  scenario?: string;
  policy?: string;
  seed?: string;
  panicAt?: number;
} {
  const b = propagation.getBaggage(ctx);
  if (!b) return {};
  const num = (k: string) => {
    const v = b.getEntry(k)?.value;
    const n = v === undefined ? NaN : Number(v);
    return Number.isFinite(n) ? n : undefined;
  };
  const str = (k: string) => b.getEntry(k)?.value;
  const out: ReturnType<typeof runBaggage> = {};
  const anchor = num(BAGGAGE.anchor);
  if (anchor !== undefined) out.anchorMs = anchor;
  const panicAt = num(BAGGAGE.panicAt);
  if (panicAt !== undefined) out.panicAt = panicAt;
  for (const [k, key] of [
    ['run', BAGGAGE.run],
    ['scenario', BAGGAGE.scenario],
    ['policy', BAGGAGE.policy],
    ['seed', BAGGAGE.seed],
  ] as const) {
    const v = str(key);
    if (v !== undefined) out[k] = v;
  }
  return out;
}
