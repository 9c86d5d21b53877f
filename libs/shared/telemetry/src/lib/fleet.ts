// SPDX-License-Identifier: Apache-2.0
// dma-fleet's side of the job traces: one FleetJobTracer per session, made when the session's
// init arrives with the run's context (its trace id names the jobs' traces; its baggage carries
// the anchor and labels), fed with every slice and closed with the session.

import { context, diag, SpanKind, trace } from '@opentelemetry/api';
import type { FleetSliceIn, FleetSliceOut } from '@kdump-twin/endpoint';
import type { FleetHostHooks } from '@kdump-twin/transport';
import { FleetJobTracer } from './dma';
import { ATTR, SPAN } from './registry.generated';
import type { Telemetry } from './setup';
import { hrAt, runBaggage } from './timeline';

/** Telemetry never fails a fleet call: an error is reported and the session goes on untraced. */
function guarded<A extends unknown[]>(fn: (...a: A) => void): (...a: A) => void {
  return (...a) => {
    try {
      fn(...a);
    } catch (e) {
      diag.error('kdump-twin telemetry: the fleet tracer failed', e);
    }
  };
}

export function fleetHooks(t: Telemetry): FleetHostHooks {
  const tracers = new Map<string, FleetJobTracer>();
  return {
    init: guarded((session: string, scenario: string): void => {
      if (!t.enabled) return;
      const ctx = context.active();
      const sc = trace.getSpanContext(ctx);
      if (!sc) return;
      const b = runBaggage(ctx);
      const anchorMs = b.anchorMs ?? 0;
      const at = hrAt(anchorMs, 0);
      t.tracer
        .startSpan(
          SPAN.FLEET_OPEN,
          { kind: SpanKind.SERVER, startTime: at, attributes: { [ATTR.RUN_ID]: b.run ?? session, [ATTR.SCENARIO]: b.scenario ?? scenario } },
          ctx,
        )
        .end(at);
      tracers.set(
        session,
        new FleetJobTracer(t, {
          traceId: sc.traceId,
          anchorMs,
          run: b.run ?? session,
          scenario: b.scenario ?? scenario,
          policy: b.policy ?? '',
          seed: b.seed ?? '',
          span: sc,
        }),
      );
    }),
    slice: guarded((session: string, input: FleetSliceIn, out: FleetSliceOut): void => {
      tracers.get(session)?.slice(input, out, runBaggage().panicAt);
    }),
    // Also when a session is dropped (NATS reconnected, the service stops): what it kept is exported.
    close: guarded((session: string): void => {
      const tr = tracers.get(session);
      tracers.delete(session);
      tr?.close(runBaggage().panicAt);
    }),
  };
}
