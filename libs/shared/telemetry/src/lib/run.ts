// SPDX-License-Identifier: Apache-2.0
// A run's own trace, made where the platform runs (smmu-twin, or the in-process runner): the
// run span, one span per call the platform makes into a kernel (their context crosses NATS to the
// kernel services, whose spans hang under them), the panic, kexec and a kdump-kernel panic. The
// probe calls and the panic link to the DMA jobs they affect. It also feeds the platform's side
// of the DMA job traces and the run's metrics.

import { context, diag, propagation, SpanKind, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import type { FleetSliceIn, FleetSliceOut } from '@kdump-twin/endpoint';
import {
  KernelRole,
  localLinks,
  runScenario,
  type FleetLink,
  type RunOptions,
  type KernelLink,
  type PlatformRole,
  type Report,
  type RunLinks,
  type ScenarioSpec,
} from '@kdump-twin/scenario';
import { FleetJobTracer, linksTo, PlatformJobTracer, type RunInfo } from './dma';
import { RunMetrics } from './metrics';
import { callSpan } from './calls';
import { StepTracer } from './kernel';
import { ATTR, SPAN, type SpanName } from './registry.generated';
import type { Telemetry } from './setup';
import { BAGGAGE, hrAt } from './timeline';

/** Fleet slices between two turns of the event loop in a traced in-process run. */
const YIELD_EVERY = 64;

const seedOf = (spec: ScenarioSpec): string => String(spec.seed);

export class RunTracer {
  /** The context calls of this run carry: the run span and its baggage. */
  readonly ctx: Context;
  readonly info: RunInfo;
  private readonly span: Span;
  private platform: PlatformRole | undefined;
  private jobs: PlatformJobTracer | undefined;
  private fleetJobs: FleetJobTracer | undefined;
  private readonly metrics: RunMetrics;
  private ended = false;
  private panicSpan: { at: number; attrs: Attributes } | undefined;

  /** Starts the run span under `parent` (default: the active context, e.g. the gRPC caller's). */
  constructor(
    private readonly t: Telemetry,
    readonly spec: ScenarioSpec,
    run: string,
    parent: Context = context.active(),
    anchorMs: number = Date.now(),
  ) {
    const attrs: Attributes = { [ATTR.SCENARIO]: spec.id, [ATTR.SEED]: seedOf(spec), [ATTR.POLICY]: spec.kdump.policy, [ATTR.RUN_ID]: run };
    this.span = t.tracer.startSpan(SPAN.RUN, { kind: SpanKind.SERVER, startTime: hrAt(anchorMs, 0), attributes: attrs }, parent);
    const bag = (propagation.getBaggage(parent) ?? propagation.createBaggage())
      .setEntry(BAGGAGE.anchor, { value: String(anchorMs) })
      .setEntry(BAGGAGE.run, { value: run })
      .setEntry(BAGGAGE.scenario, { value: spec.id })
      .setEntry(BAGGAGE.policy, { value: spec.kdump.policy })
      .setEntry(BAGGAGE.seed, { value: seedOf(spec) });
    this.ctx = propagation.setBaggage(trace.setSpan(parent, this.span), bag);
    this.info = {
      traceId: this.span.spanContext().traceId,
      anchorMs,
      run,
      scenario: spec.id,
      policy: spec.kdump.policy,
      seed: seedOf(spec),
      span: this.span.spanContext(),
    };
    this.metrics = new RunMetrics(t, spec);
  }

  /** Runs `fn` inside the run's context (everything it calls over NATS carries it). */
  within<T>(fn: () => T): T {
    return context.with(this.ctx, fn);
  }

  private at(ns: number) {
    return hrAt(this.info.anchorMs, ns);
  }

  /** The platform of the run: its DMA and job records, the panic, kexec (RunOptions.onPlatform). */
  observe(p: PlatformRole): void {
    this.platform = p;
    const smmuOf = new Map(p.devices.map((d) => [d.name, `smmu${d.smmu}`]));
    const jobs = (this.jobs = new PlatformJobTracer(this.t, this.info, (d) => smmuOf.get(d) ?? 'smmu?'));
    // Telemetry never fails the run: an error here is reported and the model goes on. After end()
    // (an abandoned run that goes on running) nothing more is recorded.
    const guard =
      <A extends unknown[]>(fn: (...a: A) => void) =>
      (...a: A): void => {
        if (this.ended) return;
        try {
          fn(...a);
        } catch (e) {
          diag.error('kdump-twin telemetry: a platform observer failed', e);
        }
      };
    p.observers.push({
      dma: guard((r) => {
        jobs.dma(r);
        this.metrics.dma(r, jobs.panicAt);
      }),
      job: guard((r) => {
        jobs.job(r);
        if (r.event === 'end') this.metrics.job(r, jobs.panicAt);
      }),
      crash: guard((at, reason, inFlight) => {
        jobs.crash(at);
        let outstanding = 0;
        let inflight = 0;
        for (const v of inFlight.values()) {
          outstanding += v.outstanding;
          inflight += v.jobs;
        }
        // The panic's links are every job in flight at it: some are still to be seen in this
        // slice, so the span is made at kexec (or at the end), when all of them are known.
        this.panicSpan = {
          at,
          attrs: { [ATTR.CRASH_REASON]: reason, [ATTR.CRASH_JOBS_IN_FLIGHT]: inflight, [ATTR.CRASH_OUTSTANDING]: outstanding, [ATTR.EPOCH]: 'kdump' },
        };
      }),
      kexec: guard((at) => {
        this.emitPanic();
        const l = linksTo(jobs.book.tracedOpen(jobs.panicAt), this.t.sampling.maxLinks);
        this.t.tracer
          .startSpan(SPAN.KEXEC, { startTime: this.at(p.crashAt ?? at), links: l.links, attributes: { ...l.attrs, [ATTR.EPOCH]: 'kdump' } }, this.ctx)
          .end(this.at(at));
      }),
      kdumpPanic: guard((at, reason) => {
        this.t.tracer
          .startSpan(SPAN.KDUMP_PANIC, { startTime: this.at(at), attributes: { [ATTR.CRASH_REASON]: reason, [ATTR.EPOCH]: 'kdump' } }, this.ctx)
          .end(this.at(at));
      }),
    });
  }

  /** The panic's span, linked to the jobs in flight at it: those decided so far and those still open. */
  private emitPanic(): void {
    const p = this.panicSpan;
    const jobs = this.jobs;
    if (!p || !jobs) return;
    this.panicSpan = undefined;
    const l = linksTo(
      [...jobs.crashJobs, ...jobs.book.tracedOpen(p.at, undefined, true).filter((c) => !jobs.crashJobs.some((k) => k.traceId === c.traceId))],
      this.t.sampling.maxLinks,
    );
    this.t.tracer
      .startSpan(SPAN.CRASH_PANIC, { startTime: this.at(p.at), links: l.links, attributes: { ...p.attrs, ...l.attrs } }, this.ctx)
      .end(this.at(p.at));
  }

  /** The run's links with spans around the kernel calls; an in-process fleet also gets the fleet's side of the job traces. */
  links(l: RunLinks, o: { localFleet?: boolean } = {}): RunLinks {
    const fleet: FleetLink = o.localFleet ? this.localFleet(l.fleet) : l.fleet;
    return {
      fleet,
      primary: async (port, p) => this.kernel('primary', await l.primary(port, p)),
      kdump: async (port, p) => this.kernel('kdump', await l.kdump(port, p)),
      ...(l.close ? { close: () => l.close!() } : {}),
    };
  }

  private localFleet(f: FleetLink): FleetLink {
    const tracer = (this.fleetJobs = new FleetJobTracer(this.t, this.info));
    let slices = 0;
    return new Proxy(f, {
      get: (target, prop, recv) => {
        if (prop === 'slice')
          return async (input: FleetSliceIn): Promise<FleetSliceOut> => {
            const out = await target.slice(input);
            if (!this.ended)
              try {
                tracer.slice(input, out, this.jobs?.panicAt);
              } catch (e) {
                diag.error('kdump-twin telemetry: the fleet tracer failed', e);
              }
            // In one process the run is one chain of promises: without a turn of the event loop the
            // batch processor never exports, its queue fills and it drops spans. Let it catch up now
            // and then (virtual time and the order of events do not depend on it).
            if (++slices % YIELD_EVERY === 0) await this.t.drain();
            return out;
          };
        const v = Reflect.get(target, prop, recv) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  /** Headers the platform adds to its fleet calls: the panic instant, once there is one (the fleet's job rule needs it). */
  fleetBaggage(): Record<string, string> | undefined {
    const at = this.jobs?.panicAt;
    return at === undefined ? undefined : { baggage: `${BAGGAGE.panicAt}=${at}` };
  }

  private kernel(k: 'primary' | 'kdump', link: KernelLink): KernelLink {
    // A kernel in this process reports its probe steps here (a kernel service does it itself).
    if (link instanceof KernelRole) link.observeSteps(new StepTracer(this.t, k));
    return new Proxy(link, {
      get: (target, prop, recv) => {
        const v = Reflect.get(target, prop, recv) as unknown;
        if (typeof v !== 'function') return v;
        const name = callSpan(String(prop));
        if (!name) return (v as (...a: unknown[]) => unknown).bind(target);
        return (...args: unknown[]) => this.call(k, String(prop), name, args, () => (v as (...a: unknown[]) => Promise<unknown>).apply(target, args));
      },
    });
  }

  private async call(k: 'primary' | 'kdump', call: string, name: SpanName, args: readonly unknown[], fn: () => Promise<unknown>): Promise<unknown> {
    if (this.ended) return fn();
    let span: Span;
    try {
      span = this.startCall(k, call, name, args);
    } catch (e) {
      diag.error('kdump-twin telemetry: a kernel call span failed', e);
      return fn();
    }
    try {
      const v = await context.with(trace.setSpan(this.ctx, span), fn);
      if (call === 'boot') span.setAttribute(ATTR.OK, (v as { ok: boolean }).ok);
      if (call === 'probeDriver') span.setAttribute(ATTR.OK, (v as { ok: boolean } | undefined)?.ok ?? false);
      return v;
    } finally {
      span.end(this.at(this.platform?.now() ?? 0));
    }
  }

  private startCall(k: 'primary' | 'kdump', call: string, name: SpanName, args: readonly unknown[]): Span {
    const p = this.platform;
    const now = () => p?.now() ?? 0;
    const attrs: Attributes = { [ATTR.KERNEL]: k, [ATTR.KERNEL_CALL]: call, [ATTR.EPOCH]: k };
    let links: ReturnType<typeof linksTo> | undefined;
    if (call === 'probeDriver' || call === 'reattach' || call === 'unmap' || call === 'saveVmcore') attrs[ATTR.DEVICE] = String(args[1]);
    if (call === 'probeSmmus') attrs[ATTR.POLICY] = this.spec.kdump.policy;
    // The probes act on the DMA still in flight from the crashed kernel: link its jobs.
    if (k === 'kdump' && this.jobs && (call === 'probeSmmus' || call === 'probeDevices' || call === 'probeDriver'))
      links = linksTo(this.jobs.book.tracedOpen(this.jobs.panicAt, call === 'probeDriver' ? String(args[1]) : undefined), this.t.sampling.maxLinks);
    return this.t.tracer.startSpan(
      name,
      { kind: SpanKind.CLIENT, startTime: this.at(now()), attributes: { ...attrs, ...(links?.attrs ?? {}) }, ...(links ? { links: links.links } : {}) },
      this.ctx,
    );
  }

  /** The report is built: the run span ends at the run's last instant; the job traces and metrics are settled. */
  end(report: Report | undefined, error?: unknown): void {
    if (this.ended) return;
    this.jobs?.close();
    this.emitPanic();
    this.ended = true;
    this.fleetJobs?.close(this.jobs?.panicAt);
    if (report) this.metrics.report(report, this.platform);
    if (error) this.span.recordException(error instanceof Error ? error : String(error));
    this.span.end(this.at(report?.timeline.endAt ?? this.platform?.now() ?? 0));
  }
}

/**
 * runScenario, traced when `t` is enabled: the run's trace and every job trace, made in this
 * process (or, with `o.links`, together with the services behind them). The report is the same
 * with or without tracing.
 */
export async function runTraced(t: Telemetry, spec: ScenarioSpec, o: RunOptions = {}, run = 'local', parent?: Context): Promise<Report> {
  if (!t.enabled) return runScenario(spec, o);
  const rt = new RunTracer(t, spec, run, parent);
  let report: Report | undefined;
  let error: unknown;
  try {
    report = await rt.within(() =>
      runScenario(spec, {
        ...o,
        links: rt.links(o.links ?? localLinks(spec), { localFleet: !o.links }),
        onPlatform: (p) => {
          rt.observe(p);
          o.onPlatform?.(p);
        },
      }),
    );
    return report;
  } catch (e) {
    error = e;
    throw e;
  } finally {
    // Room in the queue for the last jobs and the run span itself.
    await t.drain();
    rt.end(report, error);
  }
}
