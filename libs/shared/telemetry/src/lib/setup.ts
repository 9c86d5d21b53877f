// SPDX-License-Identifier: Apache-2.0
// One process's OpenTelemetry: a tracer and a meter exporting OTLP, configured the standard way
// (OTEL_* environment variables), W3C trace-context and baggage propagation, AsyncLocalStorage
// context. Off unless the environment asks for it, so a run without OTEL_* set costs nothing.

import { context, diag, DiagLogLevel, metrics, propagation, trace, type Meter, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { ConsoleMetricExporter, MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { TelemetryConfigError } from './errors';
import { PrimedIdGenerator } from './ids';
import { samplingFrom, type JobSampling } from './sampling';

export type OtlpProtocol = 'grpc' | 'http/protobuf' | 'http/json';
const PROTOCOLS: readonly OtlpProtocol[] = ['grpc', 'http/protobuf', 'http/json'];

export interface TelemetryOptions {
  /** Spans go here instead of (or, with OTEL_* set, next to) the OTLP exporter: tests. */
  readonly spanExporter?: SpanExporter;
  /** Export each span as it ends (tests); default: batches (OTEL_BSP_*). */
  readonly simple?: boolean;
}

/** The protocol OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL names (default http/protobuf). */
export function otlpProtocol(env: Readonly<Record<string, string | undefined>>, signal: 'TRACES' | 'METRICS'): OtlpProtocol {
  const name = env[`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`] ? `OTEL_EXPORTER_OTLP_${signal}_PROTOCOL` : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const v = (env[name] ?? 'http/protobuf').trim();
  if (!PROTOCOLS.includes(v as OtlpProtocol)) throw new TelemetryConfigError(`${name}=${v}: one of ${PROTOCOLS.join(', ')}`);
  return v as OtlpProtocol;
}

const EXPORTERS = ['otlp', 'console', 'none'];

function exporters(env: Readonly<Record<string, string | undefined>>, name: 'OTEL_TRACES_EXPORTER' | 'OTEL_METRICS_EXPORTER'): string[] {
  const v = env[name];
  if (v === undefined || v.trim() === '') return [];
  const list = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const e of list) if (!EXPORTERS.includes(e)) throw new TelemetryConfigError(`${name}=${v}: each of ${EXPORTERS.join(', ')}`);
  return list;
}

/**
 * Whether this environment turns tracing on: OTEL_SDK_DISABLED is not true, and an OTLP endpoint
 * is set (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or OTEL_TRACES_EXPORTER
 * names an exporter. With none of these the twins run untraced (no exporter tries localhost).
 */
export function tracingRequested(env: Readonly<Record<string, string | undefined>>): boolean {
  if ((env['OTEL_SDK_DISABLED'] ?? '').trim().toLowerCase() === 'true') return false;
  const named = exporters(env, 'OTEL_TRACES_EXPORTER');
  if (named.length) return !(named.length === 1 && named[0] === 'none');
  return Boolean(env['OTEL_EXPORTER_OTLP_ENDPOINT'] || env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']);
}

/**
 * The endpoint for a signal from the given environment (the exporters read process.env themselves;
 * this lets a caller pass another): the signal's own endpoint as it is, else the base endpoint
 * with /v1/<signal> for OTLP/HTTP, the base as it is for gRPC. Undefined: the exporter's default.
 */
export function otlpUrl(env: Readonly<Record<string, string | undefined>>, signal: 'TRACES' | 'METRICS', p: OtlpProtocol): string | undefined {
  const own = env[`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`];
  if (own) return own;
  const base = env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  if (!base) return undefined;
  return p === 'grpc' ? base : `${base.replace(/\/+$/, '')}/v1/${signal.toLowerCase()}`;
}

const int = (env: Readonly<Record<string, string | undefined>>, name: string, dflt: number, min: number): number => {
  const v = env[name];
  if (v === undefined || v.trim() === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new TelemetryConfigError(`${name}=${v}: an integer of at least ${min}`);
  return n;
};

/**
 * The batch span processor's settings from OTEL_BSP_* of the given environment. The queue default
 * is larger than the SDK's 2048: job spans are made in bursts when jobs end (an always_on run ends
 * tens of thousands at once), and a full queue drops spans silently.
 */
export function bspConfig(env: Readonly<Record<string, string | undefined>>): {
  maxQueueSize: number;
  maxExportBatchSize: number;
  scheduledDelayMillis: number;
  exportTimeoutMillis: number;
} {
  const maxQueueSize = int(env, 'OTEL_BSP_MAX_QUEUE_SIZE', 32_768, 1);
  const maxExportBatchSize = int(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', Math.min(2048, maxQueueSize), 1);
  if (maxExportBatchSize > maxQueueSize)
    throw new TelemetryConfigError(`OTEL_BSP_MAX_EXPORT_BATCH_SIZE=${maxExportBatchSize}: at most OTEL_BSP_MAX_QUEUE_SIZE (${maxQueueSize})`);
  return {
    maxQueueSize,
    maxExportBatchSize,
    scheduledDelayMillis: int(env, 'OTEL_BSP_SCHEDULE_DELAY', 5000, 0),
    exportTimeoutMillis: int(env, 'OTEL_BSP_EXPORT_TIMEOUT', 30_000, 1),
  };
}

/**
 * The exporter takes at most `concurrencyLimit` exports in flight and drops the rest (default 30).
 * A flush at the end of a run sends the whole queue at once (queue / batch requests), so the limit
 * must cover that or the end of an always_on run is lost.
 */
function traceExporter(p: OtlpProtocol, url: string | undefined, bsp: ReturnType<typeof bspConfig>): SpanExporter {
  const o = { ...(url ? { url } : {}), concurrencyLimit: Math.max(30, Math.ceil(bsp.maxQueueSize / bsp.maxExportBatchSize) + 1) };
  return p === 'grpc' ? new GrpcTraceExporter(o) : p === 'http/json' ? new JsonTraceExporter(o) : new ProtoTraceExporter(o);
}

function metricExporter(p: OtlpProtocol, url: string | undefined): PushMetricExporter {
  const o = url ? { url } : {};
  return p === 'grpc' ? new GrpcMetricExporter(o) : p === 'http/json' ? new JsonMetricExporter(o) : new ProtoMetricExporter(o);
}

/** What a process traces with; `enabled` false: every adapter skips its work. */
/** Processes may start several services (tests): the globals are registered once and released by the last. */
let globalsHeld = 0;

export class Telemetry {
  private static current: Telemetry | undefined;

  private constructor(
    readonly enabled: boolean,
    readonly service: string,
    readonly tracer: Tracer,
    readonly meter: Meter,
    readonly ids: PrimedIdGenerator,
    readonly sampling: JobSampling,
    private readonly providers: { tracer?: BasicTracerProvider; meter?: MeterProvider },
    readonly protocol: OtlpProtocol | undefined,
    private readonly batches: readonly BatchSpanProcessor[] = [],
    private readonly maxQueue = 0,
  ) {}

  /**
   * Lets the exporters catch up: a turn of the event loop, then waits while a batch processor's
   * queue is over a quarter full. A run in one process calls it now and then; without it the
   * queue fills faster than it is exported and the batch processor drops spans. (The queue length
   * is the SDK's own field, read defensively: if it is ever gone this only yields.)
   */
  async drain(): Promise<void> {
    await new Promise<void>((r) => setImmediate(r));
    const queued = () => Math.max(0, ...this.batches.map((b) => (b as unknown as { _finishedSpans?: unknown[] })._finishedSpans?.length ?? 0));
    for (let waited = 0; queued() > this.maxQueue / 4 && waited < 60_000; waited += 2) await new Promise<void>((r) => setTimeout(r, 2));
  }

  /** A process that does not trace (the default). */
  static disabled(service = 'kdump-twin'): Telemetry {
    return new Telemetry(
      false,
      service,
      trace.getTracer('kdump-twin'),
      metrics.getMeter('kdump-twin'),
      new PrimedIdGenerator(),
      { ratio: 0, keepCrash: true, maxLinks: 128 },
      {},
      undefined,
    );
  }

  /** The telemetry `start` set up in this process (disabled before that). */
  static get(): Telemetry {
    return Telemetry.current ?? Telemetry.disabled();
  }

  /**
   * Sets up tracing and metrics from the environment for `service` (OTEL_SERVICE_NAME wins) and
   * registers them globally. Throws TelemetryConfigError naming the variable when one is invalid.
   */
  static start(service: string, env: Readonly<Record<string, string | undefined>> = process.env, o: TelemetryOptions = {}): Telemetry {
    const on = tracingRequested(env) || o.spanExporter !== undefined;
    const sampling = samplingFrom(env);
    const bsp = bspConfig(env);
    if (!on) return (Telemetry.current = Telemetry.disabled(service));
    if (env['OTEL_LOG_LEVEL'])
      diag.setLogger(
        { error: console.error, warn: console.warn, info: console.info, debug: console.debug, verbose: console.debug },
        DiagLogLevel[env['OTEL_LOG_LEVEL'].toUpperCase() as keyof typeof DiagLogLevel] ?? DiagLogLevel.WARN,
      );
    const named = exporters(env, 'OTEL_TRACES_EXPORTER');
    const wanted = named.length ? named.filter((e) => e !== 'none') : tracingRequested(env) ? ['otlp'] : [];
    const protocol = wanted.includes('otlp') ? otlpProtocol(env, 'TRACES') : undefined;
    const resource = resourceFromAttributes({
      'service.name': env['OTEL_SERVICE_NAME'] || service,
      'service.namespace': 'kdump-twin',
      'service.instance.id': `${service}-${process.pid}`,
    }).merge(detectResources({ detectors: [envDetector] }));
    const processors: SpanProcessor[] = [];
    const batches: BatchSpanProcessor[] = [];
    const processor = (exp: SpanExporter): SpanProcessor => {
      if (o.simple) return new SimpleSpanProcessor(exp);
      const b = new BatchSpanProcessor(exp, bsp);
      batches.push(b);
      return b;
    };
    for (const e of wanted)
      processors.push(processor(e === 'otlp' ? traceExporter(protocol!, otlpUrl(env, 'TRACES', protocol!), bsp) : new ConsoleSpanExporter()));
    if (o.spanExporter) processors.push(processor(o.spanExporter));
    const ids = new PrimedIdGenerator();
    // OTEL_TRACES_SAMPLER picks which DMA jobs are traced (sampling.ts decides before any span
    // exists); the SDK itself keeps what it is given, unless a caller's context says unsampled.
    const tp = new BasicTracerProvider({
      resource,
      idGenerator: ids,
      sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
      spanProcessors: processors,
      spanLimits: { linkCountLimit: sampling.maxLinks },
    });
    if (globalsHeld++ === 0) {
      context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
      propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
      trace.setGlobalTracerProvider(tp);
    }
    let mp: MeterProvider | undefined;
    // Metrics: the exporters OTEL_METRICS_EXPORTER names, else OTLP when an endpoint for metrics is
    // set (the base one or the metrics one: a traces-only endpoint does not send metrics to localhost).
    const metricNamed = exporters(env, 'OTEL_METRICS_EXPORTER').filter((e) => e !== 'none');
    const metricWanted = exporters(env, 'OTEL_METRICS_EXPORTER').length
      ? metricNamed
      : env['OTEL_EXPORTER_OTLP_ENDPOINT'] || env['OTEL_EXPORTER_OTLP_METRICS_ENDPOINT']
        ? ['otlp']
        : [];
    if (metricWanted.length) {
      const interval = int(env, 'OTEL_METRIC_EXPORT_INTERVAL', 60_000, 1);
      const timeout = Math.min(int(env, 'OTEL_METRIC_EXPORT_TIMEOUT', 30_000, 1), interval);
      const mProtocol = otlpProtocol(env, 'METRICS');
      const readers = metricWanted.map((e) => {
        const exporter = e === 'console' ? new ConsoleMetricExporter() : metricExporter(mProtocol, otlpUrl(env, 'METRICS', mProtocol));
        return new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: interval, exportTimeoutMillis: timeout });
      });
      mp = new MeterProvider({ resource, readers });
      if (globalsHeld === 1) metrics.setGlobalMeterProvider(mp);
    }
    const t = new Telemetry(
      true,
      service,
      tp.getTracer('kdump-twin'),
      (mp ?? metrics).getMeter('kdump-twin'),
      ids,
      sampling,
      { tracer: tp, ...(mp ? { meter: mp } : {}) },
      protocol,
      batches,
      bsp.maxQueueSize,
    );
    Telemetry.current = t;
    return t;
  }

  /** Exports everything recorded so far. */
  async flush(): Promise<void> {
    await this.providers.tracer?.forceFlush();
    await this.providers.meter?.forceFlush();
  }

  /** Flushes and stops exporting; the globals go back to no-ops. */
  async shutdown(): Promise<void> {
    if (!this.enabled) return;
    await this.flush().catch(() => undefined);
    await this.providers.tracer?.shutdown().catch(() => undefined);
    await this.providers.meter?.shutdown().catch(() => undefined);
    if (--globalsHeld === 0) {
      trace.disable();
      metrics.disable();
      propagation.disable();
      context.disable();
    }
    if (Telemetry.current === this) Telemetry.current = undefined;
  }
}
