// SPDX-License-Identifier: Apache-2.0
// The telemetry adapter in one process: the export of a traced run over each OTLP protocol
// (http/json, http/protobuf, grpc) to a real receiver, the sampling rules (every job in flight at
// the panic kept, checked against the platform's own record of open jobs), parent links inside
// every job trace, registry names, the same report traced and untraced, and configuration errors
// that name the variable.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { buildScenario, entryDocument, findEntry, reportJson, runScenario, type PlatformRole, type ScenarioSpec } from '@kdump-twin/scenario';
import { startOtlpReceiver } from '../testing';
import { derive, jobKey, jobSample, jobTraceId } from './ids';
import { METRIC_DEF, SPAN_DEF, type SpanName } from './registry.generated';
import { runTraced } from './run';
import { crossesCrash, headSampled, keepJob, samplingFrom } from './sampling';
import { bspConfig, otlpProtocol, Telemetry, tracingRequested } from './setup';
import { TelemetryConfigError } from './errors';

const spec = (id = 'baseline', policy = 'adopt-v7', seed = 3): ScenarioSpec => buildScenario(entryDocument(findEntry(id)!), { policy: policy as never, seed });

/** A traced in-process run into memory; also what the platform itself says was open at the panic. */
async function traced(s: ScenarioSpec, env: Record<string, string>) {
  const exp = new InMemorySpanExporter();
  const t = Telemetry.start('spec', { OTEL_METRICS_EXPORTER: 'none', ...env }, { spanExporter: exp, simple: true });
  const open = new Set<string>();
  let openAtCrash: string[] = [];
  const watch = (p: PlatformRole) =>
    p.observers.push({
      job: (j) => (j.event === 'start' ? open.add(jobKey(j.device, j.generation, j.job)) : open.delete(jobKey(j.device, j.generation, j.job))),
      crash: () => (openAtCrash = [...open]),
    });
  const report = await runTraced(t, s, { onPlatform: watch });
  const spans = [...exp.getFinishedSpans()];
  await t.shutdown();
  return { report, spans, openAtCrash };
}

const key = (s: ReadableSpan) =>
  jobKey(String(s.attributes['kdump_twin.device']), Number(s.attributes['kdump_twin.dma.generation']), Number(s.attributes['kdump_twin.dma.job']));

describe('telemetry: traced runs in one process', () => {
  it('a traced run and an untraced one give the same report, byte for byte', async () => {
    const s = spec('S10a-corrupt-page-table', 'adopt-v10', 5);
    const { report } = await traced(s, { OTEL_TRACES_SAMPLER: 'always_on' });
    assert.equal(reportJson(report), reportJson(await runScenario(s)));
  });

  it('with no head sample, exactly the jobs open at the panic are kept (each job trace complete and well parented)', async () => {
    const { spans, openAtCrash, report } = await traced(spec(), { OTEL_TRACES_SAMPLER: 'always_off' });
    assert.ok(openAtCrash.length > 0);
    assert.equal(openAtCrash.length, report.dma.jobsInFlightAtCrash);
    const jobs = spans.filter((s) => s.name === 'kdump_twin.dma.job');
    const kept = new Set(jobs.map(key));
    for (const k of openAtCrash) assert.ok(kept.has(k), `job ${k} was open at the panic and is not traced`);
    // The inclusive rule may add jobs that started or ended exactly at the panic instant, nothing else.
    const panicAt = report.timeline.crashAt!;
    const run = spans.find((s) => s.name === 'kdump_twin.run')!;
    const ns = (t: readonly [number, number]) => BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
    const rel = (t: readonly [number, number]) => Number(ns(t) - ns(run.startTime));
    for (const j of jobs) {
      assert.equal(j.attributes['kdump_twin.dma.sampled_by'], 'crash');
      assert.equal(j.attributes['kdump_twin.dma.crash_crossing'], true);
      assert.ok(
        crossesCrash(rel(j.startTime), j.attributes['kdump_twin.dma.ok'] === undefined ? undefined : rel(j.endTime), panicAt),
        `${key(j)} did not cross the panic`,
      );
      if (!openAtCrash.includes(key(j))) assert.ok(rel(j.startTime) === panicAt || rel(j.endTime) === panicAt, `${key(j)} kept but not open at the panic`);
    }
    // Every span of a job trace has its parent in the same trace.
    const ids = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    for (const s of spans) {
      const p = s.parentSpanContext?.spanId;
      if (!p) continue;
      assert.ok(ids.has(p), `${s.name} has parent ${p}, which was not exported`);
      assert.equal(ids.get(p)!.spanContext().traceId, s.spanContext().traceId);
    }
    // The translation of each transaction: one per transaction, with the same ticket.
    const tx = spans.filter((s) => s.name === 'kdump_twin.dma.transaction');
    const tr = spans.filter((s) => s.name === 'kdump_twin.smmu.translate');
    assert.equal(tr.length, tx.length);
    for (const t of tr) assert.equal(ids.get(t.parentSpanContext!.spanId)!.attributes['kdump_twin.dma.ticket'], t.attributes['kdump_twin.dma.ticket']);
  });

  it('a panic after N transactions (mid-slice) with devices starved of read tags: the fleet and the platform keep the same jobs, every span id once', async () => {
    const base = spec('baseline', 'adopt-v7', 11);
    const sets = ['crash.trigger={"kind":"transactions","count":4000}', ...base.devices.map((d) => `devices.${d.name}.maxReadTags=1`)];
    const s = buildScenario(entryDocument(findEntry('baseline')!), { policy: 'adopt-v7', seed: 11, sets });
    assert.equal(s.crash.trigger.kind, 'transactions');
    const samplers: Record<string, string>[] = [{ OTEL_TRACES_SAMPLER: 'always_off' }, { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.2' }];
    for (const sampler of samplers) {
      const { spans, openAtCrash, report } = await traced(s, sampler);
      assert.ok(report.timeline.crashAt !== null && openAtCrash.length > 0);
      const ids = new Map<string, ReadableSpan>();
      for (const x of spans) {
        assert.ok(!ids.has(x.spanContext().spanId), `span id ${x.spanContext().spanId} (${x.name}) exported twice`);
        ids.set(x.spanContext().spanId, x);
      }
      const jobs = spans.filter((x) => x.name === 'kdump_twin.dma.job');
      const jobTraces = new Set(jobs.map((j) => j.spanContext().traceId));
      assert.equal(jobTraces.size, jobs.length, 'one root span per job trace');
      // The platform's side (translations) covers exactly the fleet's side (transactions), job for job.
      const tx = spans.filter((x) => x.name === 'kdump_twin.dma.transaction');
      const tr = spans.filter((x) => x.name === 'kdump_twin.smmu.translate');
      const translated = new Set(tr.map((x) => x.parentSpanContext!.spanId));
      for (const x of tx) assert.ok(translated.has(x.spanContext().spanId), `transaction ${x.attributes['kdump_twin.dma.ticket']} has no translation`);
      for (const x of tr)
        assert.ok(
          ids.get(x.parentSpanContext!.spanId)?.name === 'kdump_twin.dma.transaction',
          `translation ${x.attributes['kdump_twin.dma.ticket']} has no transaction`,
        );
      for (const x of tr) assert.ok(jobTraces.has(x.spanContext().traceId));
      // Every job open at the panic is kept and linked from the panic.
      const kept = new Set(jobs.map(key));
      for (const k of openAtCrash) assert.ok(kept.has(k), `job ${k} was open at the panic and is not traced`);
      const panic = spans.find((x) => x.name === 'kdump_twin.crash.panic')!;
      const linked = new Set(panic.links.map((l) => l.context.spanId));
      for (const j of jobs.filter((x) => openAtCrash.includes(key(x)))) assert.ok(linked.has(j.spanContext().spanId), `the panic does not link ${key(j)}`);
    }
  });

  it('KDUMP_TWIN_TRACE_CRASH_JOBS=ratio with no head sample traces no job at all', async () => {
    const { spans } = await traced(spec(), { OTEL_TRACES_SAMPLER: 'always_off', KDUMP_TWIN_TRACE_CRASH_JOBS: 'ratio' });
    assert.equal(spans.filter((s) => s.name.startsWith('kdump_twin.dma.')).length, 0);
    assert.ok(spans.some((s) => s.name === 'kdump_twin.run'));
  });

  it('span names and attributes are the registry’s, and the run trace carries both epochs', async () => {
    const { spans } = await traced(spec(), { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.05' });
    for (const s of spans) {
      const def = SPAN_DEF[s.name as SpanName];
      assert.ok(def, s.name);
      for (const k of Object.keys(s.attributes)) assert.ok((def.attributes as readonly string[]).includes(k), `${s.name}: ${k}`);
    }
    const run = spans.find((s) => s.name === 'kdump_twin.run')!;
    const epochs = new Set(
      spans
        .filter((s) => s.spanContext().traceId === run.spanContext().traceId)
        .map((s) => s.attributes['kdump_twin.epoch'])
        .filter(Boolean),
    );
    assert.deepEqual([...epochs].sort(), ['kdump', 'primary']);
  });
});

describe('telemetry: OTLP export over every protocol', () => {
  for (const protocol of ['http/json', 'http/protobuf', 'grpc'] as const) {
    it(`${protocol}: spans and metrics reach a real receiver with their ids, parents and attributes`, async () => {
      const rx = await startOtlpReceiver();
      const memory = new InMemorySpanExporter();
      try {
        const t = Telemetry.start(
          'protocol-spec',
          {
            OTEL_EXPORTER_OTLP_ENDPOINT: protocol === 'grpc' ? rx.grpcEndpoint : rx.httpEndpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
            // Every job: tens of batches flushed at once at the end (the exporter's concurrency limit must not drop any).
            OTEL_TRACES_SAMPLER: 'always_on',
            OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '256',
            OTEL_METRIC_EXPORT_INTERVAL: '60000',
          },
          { spanExporter: memory },
        );
        assert.equal(t.protocol, protocol);
        const s = spec('S10c-bad-strtab-fmt', 'adopt-v7', 1);
        const report = await runTraced(t, s);
        await t.flush();
        const finished = memory.getFinishedSpans().length; // read before shutdown clears it
        await t.shutdown();
        await rx.until(() => rx.spans.some((x) => x.name === 'kdump_twin.run') && rx.metrics.length > 0);
        assert.deepEqual(rx.errors, []);
        assert.ok(rx.spans.every((x) => x.via === protocol && x.service === 'protocol-spec'));
        // Nothing lost on the way: the receiver got every span the SDK finished (the in-memory copy).
        assert.ok(rx.spans.length > 2000, `${rx.spans.length} spans`);
        assert.equal(rx.spans.length, finished);
        const run = rx.spans.find((x) => x.name === 'kdump_twin.run')!;
        assert.equal(run.attributes['kdump_twin.scenario'], 'S10c-bad-strtab-fmt');
        assert.equal(run.attributes['kdump_twin.policy'], 'adopt-v7');
        assert.equal(run.endNs - run.startNs, BigInt(report.timeline.endAt));
        const fellBack = rx.spans.find((x) => x.name === 'kdump_twin.smmu.adopt_strtab' && x.attributes['kdump_twin.adopted'] === false)!;
        assert.equal(fellBack.attributes['kdump_twin.errno'], 'EINVAL');
        const ids = new Set(rx.spans.map((x) => x.spanId));
        for (const x of rx.spans) if (x.parentSpanId) assert.ok(ids.has(x.parentSpanId), `${x.name}: parent missing`);
        const names = new Set(rx.metrics.map((m) => m.name));
        for (const n of ['kdump_twin.dma.transactions', 'kdump_twin.runs']) assert.ok(names.has(n), n);
        for (const n of names) assert.ok(n in METRIC_DEF, n);
      } finally {
        await rx.stop();
      }
    });
  }
});

describe('telemetry: configuration and ids', () => {
  it('is off unless OTEL_* asks for it; OTEL_SDK_DISABLED wins', () => {
    assert.equal(tracingRequested({}), false);
    assert.equal(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }), true);
    assert.equal(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' }), true);
    assert.equal(tracingRequested({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4318' }), false);
    assert.equal(tracingRequested({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4318' }), false);
    assert.equal(Telemetry.start('off', {}).enabled, false);
  });

  it('bad values are errors naming the variable and the rule', () => {
    assert.throws(
      () => otlpProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http' }, 'TRACES'),
      (e: Error) => e instanceof TelemetryConfigError && /OTEL_EXPORTER_OTLP_PROTOCOL=http: one of grpc, http\/protobuf, http\/json/.test(e.message),
    );
    assert.equal(otlpProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' }, 'TRACES'), 'http/json');
    assert.throws(() => samplingFrom({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' }), /OTEL_TRACES_SAMPLER_ARG=2: a ratio from 0 to 1/);
    assert.throws(() => samplingFrom({ OTEL_TRACES_SAMPLER: 'jaeger_remote' }), /OTEL_TRACES_SAMPLER=jaeger_remote: one of/);
    assert.throws(() => samplingFrom({ KDUMP_TWIN_TRACE_CRASH_JOBS: 'all' }), /KDUMP_TWIN_TRACE_CRASH_JOBS=all: keep/);
    assert.throws(() => Telemetry.start('bad', { OTEL_TRACES_EXPORTER: 'zipkin' }), /OTEL_TRACES_EXPORTER=zipkin: each of otlp, console, none/);
    assert.throws(() => bspConfig({ OTEL_BSP_MAX_QUEUE_SIZE: 'lots' }), /OTEL_BSP_MAX_QUEUE_SIZE=lots: an integer of at least 1/);
    assert.throws(() => bspConfig({ OTEL_BSP_MAX_QUEUE_SIZE: '100', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '200' }), /at most OTEL_BSP_MAX_QUEUE_SIZE \(100\)/);
    assert.deepEqual(bspConfig({ OTEL_BSP_SCHEDULE_DELAY: '200' }), {
      maxQueueSize: 32768,
      maxExportBatchSize: 2048,
      scheduledDelayMillis: 200,
      exportTimeoutMillis: 30000,
    });
  });

  it('the head sample is decided from the run and the job alone, uniformly, at the ratio', () => {
    const run = '0af7651916cd43dd8448eb211c80319c';
    const draws = Array.from({ length: 20_000 }, (_, i) => jobSample(run, '0000:01:00.0', i % 3, i));
    assert.deepEqual(
      draws.slice(0, 5),
      Array.from({ length: 5 }, (_, i) => jobSample(run, '0000:01:00.0', i % 3, i)),
    );
    const n = draws.filter((d) => headSampled(d, 0.1)).length;
    assert.ok(n > 1800 && n < 2200, `${n} of 20000 at 10%`);
    // Uniform: each tenth of [0, 1) gets about a tenth of the draws.
    for (let b = 0; b < 10; b++) {
      const k = draws.filter((d) => d >= b / 10 && d < (b + 1) / 10).length;
      assert.ok(k > 1800 && k < 2200, `bucket ${b}: ${k}`);
    }
    assert.equal(draws.filter((d) => headSampled(d, 0)).length, 0);
    assert.equal(draws.filter((d) => headSampled(d, 1)).length, draws.length);
    assert.notEqual(jobSample(run, '0000:01:00.0', 0, 1), jobSample('1af7651916cd43dd8448eb211c80319c', '0000:01:00.0', 0, 1));
    const s = samplingFrom({ OTEL_TRACES_SAMPLER: 'always_off' });
    assert.equal(keepJob(s, draws[0]!, 10, 30, 20), 'crash');
    assert.equal(keepJob(s, draws[0]!, 10, undefined, 20), 'crash');
    assert.equal(keepJob(s, draws[0]!, 10, 19, 20), undefined);
    assert.equal(keepJob(s, draws[0]!, 21, 30, 20), undefined);
    assert.match(jobTraceId(run, jobKey('0000:01:00.0', 0, 1)), /^[0-9a-f]{32}$/);
    assert.match(derive(16, 'a'), /^[0-9a-f]{16}$/);
    assert.equal(derive(32, 'x', 1), derive(32, 'x', 1));
  });
});

describe('telemetry registry', () => {
  it('the generator refuses a name without the prefix and an undeclared span attribute', async () => {
    const { build } = (await import(join(__dirname, '..', '..', '..', '..', '..', 'tools', 'telemetry', 'generate.mjs'))) as { build(text: string): string };
    const good = readFileSync(join(__dirname, '..', '..', '..', '..', '..', 'telemetry-schema', 'registry.yaml'), 'utf8');
    assert.match(build(good), /export const SPAN = \{/);
    assert.throws(() => build(good.replace('id: kdump_twin.scenario,', 'id: twin.scenario,')), /twin\.scenario" must start with kdump_twin\./);
    assert.throws(
      () =>
        build(
          good.replace(
            'attributes: [kdump_twin.device, kdump_twin.device.kind, kdump_twin.stream_id,',
            'attributes: [kdump_twin.device, kdump_twin.nope, kdump_twin.stream_id,',
          ),
        ),
      /attribute kdump_twin\.nope is not declared/,
    );
  });
});
