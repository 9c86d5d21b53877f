// SPDX-License-Identifier: Apache-2.0
// Traces across the four services, as Jaeger would receive them: a real OTLP/HTTP receiver
// (http/json) started here, the four services and twinctl as processes over a nats-server of
// their own, one traced run of the baseline scenario. The run's trace must hold spans of every
// service, parented across gRPC (twinctl -> smmu-twin) and NATS (smmu-twin -> the kernels and
// the fleet); the job traces must hang the SMMU's translations under the device's transactions;
// both epochs must appear; every job in flight at the panic must be kept at a 1% head sample;
// every name must be the registry's; and the report must be the untraced run's, byte for byte.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { METRIC_DEF, SPAN_DEF, type SpanName } from '@kdump-twin/telemetry';
import { otlpHttpJsonEnv, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '@kdump-twin/telemetry/testing';
import { startStack, type Stack } from './stack';

const root = join(__dirname, '..', '..');
const bin = join(root, 'node_modules', '.bin', 'twinctl');
const ARGS = ['run', 'baseline', '--policy', 'adopt-v7', '--seed', '7', '--json'];

let receiver: OtlpReceiver;
let stack: Stack | undefined;
let traced: string;
let untraced: string;
let spans: ReceivedSpan[];
const logs: Record<string, string> = {};

/** twinctl as a process, without blocking this one (the receiver must answer meanwhile). */
function twinctl(env: Record<string, string>, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(bin, args, { cwd: root, encoding: 'utf8', env: { ...process.env, TWINCTL_FROM_SOURCE: '1', ...env }, maxBuffer: 64 << 20 }, (e, out, err) =>
      e ? reject(new Error(`twinctl ${args.join(' ')}: ${e.message}\n${err}`)) : resolve(out),
    ),
  );
}

before(async () => {
  receiver = await startOtlpReceiver();
  const otel = otlpHttpJsonEnv(receiver, '0.01', { OTEL_METRIC_EXPORT_INTERVAL: '1000' });
  stack = await startStack({ ownNats: true, freePorts: true, env: otel });
  traced = await twinctl(otel, ...ARGS, '--services', '--smmu-twin', stack.addresses['smmu-twin']);
  // Stopping the services flushes their exporters (SIGTERM -> shutdown).
  await stack.stop();
  for (const s of ['smmu-twin', 'dma-fleet', 'crash-generator', 'kdump-driver'] as const) logs[s] = stack.logs(s);
  stack = undefined;
  untraced = await twinctl({}, ...ARGS);
  await receiver.until(() => receiver.spans.some((s) => s.name === 'kdump_twin.run') && receiver.spans.some((s) => s.name === 'kdump_twin.twinctl.run'));
  spans = receiver.spans;
  // No exporter gave up (a timed-out export loses its batch).
  for (const s of ['smmu-twin', 'dma-fleet', 'crash-generator', 'kdump-driver'] as const)
    assert.doesNotMatch(logs[s] ?? '', /Request timed out|export failed/i, `${s} failed an export`);
});

after(async () => {
  await stack?.stop();
  await receiver?.stop();
});

const byId = () => new Map(spans.map((s) => [s.spanId, s]));

describe('traces over the four services (OTLP/HTTP json)', () => {
  it('the traced run over services gives the untraced in-process report, byte for byte', () => {
    assert.equal(traced, untraced);
    assert.deepEqual(receiver.errors, []);
  });

  it("one trace (the run's) holds spans from twinctl and all four services", () => {
    const run = spans.find((s) => s.name === 'kdump_twin.run')!;
    const services = new Set(spans.filter((s) => s.traceId === run.traceId).map((s) => s.service));
    for (const s of ['twinctl', 'smmu-twin', 'crash-generator', 'kdump-driver', 'dma-fleet'])
      assert.ok(services.has(s), `no span of ${s} in the run's trace (has ${[...services].join(', ')})`);
  });

  it('parents cross gRPC (twinctl -> smmu-twin) and NATS (smmu-twin -> kernels, fleet), and the probe steps nest under the kdump kernel call', () => {
    const ids = byId();
    const run = spans.find((s) => s.name === 'kdump_twin.run')!;
    const client = ids.get(run.parentSpanId);
    assert.equal(client?.name, 'kdump_twin.twinctl.run');
    assert.equal(client?.service, 'twinctl');
    assert.equal(run.service, 'smmu-twin');
    // boot: the platform's client span in smmu-twin, the kernel's server span in crash-generator under it.
    const bootServer = spans.find((s) => s.name === 'kdump_twin.kernel.boot' && s.service === 'crash-generator')!;
    assert.equal(bootServer.kind, 2);
    const bootClient = ids.get(bootServer.parentSpanId)!;
    assert.equal(bootClient.service, 'smmu-twin');
    assert.equal(bootClient.kind, 3);
    assert.equal(bootClient.parentSpanId, run.spanId);
    // adopt_strtab (series v7 patch 1) in kdump-driver, under its smmu.probe, under the probe_smmus server span, under smmu-twin's call.
    const adopt = spans.find((s) => s.name === 'kdump_twin.smmu.adopt_strtab')!;
    assert.equal(adopt.service, 'kdump-driver');
    assert.equal(adopt.attributes['kdump_twin.adopted'], true);
    const probe = ids.get(adopt.parentSpanId)!;
    assert.equal(probe.name, 'kdump_twin.smmu.probe');
    const server = ids.get(probe.parentSpanId)!;
    assert.deepEqual([server.name, server.service, server.kind], ['kdump_twin.kernel.probe_smmus', 'kdump-driver', 2]);
    const call = ids.get(server.parentSpanId)!;
    assert.deepEqual([call.name, call.service, call.kind, call.parentSpanId], ['kdump_twin.kernel.probe_smmus', 'smmu-twin', 3, run.spanId]);
    // The fleet's session span under the run (its context came in the init call's headers).
    const open = spans.find((s) => s.name === 'kdump_twin.fleet.open')!;
    assert.equal(open.service, 'dma-fleet');
    assert.equal(open.parentSpanId, run.spanId);
    // Endpoint-driver probes (quiesce) in kdump-driver, under smmu-twin's probe_driver calls.
    const ep = spans.filter((s) => s.name === 'kdump_twin.endpoint.probe');
    assert.ok(ep.length >= 2);
    for (const e of ep) assert.equal(ids.get(ids.get(e.parentSpanId)!.parentSpanId)?.name, 'kdump_twin.kernel.probe_driver');
  });

  it('span times follow the virtual timeline: boot, panic, kexec, the kdump probe, in that order', () => {
    const first = (n: string) => spans.find((s) => s.name === n && s.service !== 'twinctl')!;
    const boot = first('kdump_twin.kernel.boot');
    const panic = first('kdump_twin.crash.panic');
    const kexec = first('kdump_twin.kexec');
    const probe = spans.find((s) => s.name === 'kdump_twin.kernel.probe_smmus' && s.kind === 3)!;
    assert.ok(boot.endNs <= panic.startNs);
    assert.equal(kexec.startNs, panic.startNs);
    assert.ok(kexec.endNs <= probe.startNs);
    const report = JSON.parse(traced);
    const run = first('kdump_twin.run');
    // The run span's length is the run's virtual length (ns), not the seconds it took over NATS.
    assert.equal(run.endNs - run.startNs, BigInt(report.timeline.endAt));
    assert.equal(panic.startNs - run.startNs, BigInt(report.timeline.crashAt));
  });

  it("job traces: every SMMU translation (smmu-twin) hangs under the device's transaction (dma-fleet), in both epochs", () => {
    const ids = byId();
    const translates = spans.filter((s) => s.name === 'kdump_twin.smmu.translate');
    assert.ok(translates.length > 50, `${translates.length} translations`);
    const epochs = new Set<string>();
    for (const t of translates) {
      const tx = ids.get(t.parentSpanId);
      assert.equal(tx?.name, 'kdump_twin.dma.transaction', `translation ${t.spanId} has no transaction parent`);
      assert.equal(tx.service, 'dma-fleet');
      assert.equal(tx.attributes['kdump_twin.dma.ticket'], t.attributes['kdump_twin.dma.ticket']);
      assert.equal(tx.attributes['kdump_twin.iova'], t.attributes['kdump_twin.iova']);
      const job = ids.get(tx.parentSpanId)!;
      assert.equal(job.name, 'kdump_twin.dma.job');
      assert.equal(job.parentSpanId, '');
      epochs.add(String(t.attributes['kdump_twin.epoch']));
    }
    assert.deepEqual([...epochs].sort(), ['kdump', 'primary']);
    // After the panic the device still translates through the crashed kernel's STEs (adopted by v7).
    assert.ok(translates.some((t) => t.attributes['kdump_twin.epoch'] === 'kdump' && t.attributes['kdump_twin.ste.origin'] === 'crashed'));
  });

  it('sampling at 1% keeps every job in flight at the panic, complete, and the panic links to each', () => {
    const report = JSON.parse(traced);
    const jobs = spans.filter((s) => s.name === 'kdump_twin.dma.job');
    const crossing = jobs.filter((j) => j.attributes['kdump_twin.dma.crash_crossing'] === true);
    assert.ok(report.dma.jobsInFlightAtCrash > 0);
    assert.ok(
      crossing.length >= report.dma.jobsInFlightAtCrash,
      `${crossing.length} crash-crossing jobs traced, ${report.dma.jobsInFlightAtCrash} in flight at the panic`,
    );
    // At 1% the head sample keeps few of the rest.
    const ratio = jobs.filter((j) => j.attributes['kdump_twin.dma.sampled_by'] === 'ratio').length;
    const all = report.devices.reduce((n: number, d: { jobs: { ok: number; failed: number } }) => n + d.jobs.ok + d.jobs.failed, 0);
    assert.ok(all > 1000, `${all} jobs in the run`);
    assert.ok(ratio < all * 0.05, `${ratio} of ${all} jobs head-sampled`);
    const panic = spans.find((s) => s.name === 'kdump_twin.crash.panic')!;
    const linked = new Set(panic.links.map((l) => l.spanId));
    assert.equal(panic.attributes['kdump_twin.links.total'], panic.links.length);
    // Every span id once (a job traced twice would repeat its derived ids).
    assert.equal(new Set(spans.map((s) => s.spanId)).size, spans.length);
    for (const j of crossing)
      assert.ok(linked.has(j.spanId), `panic does not link job ${j.attributes['kdump_twin.device']}/${j.attributes['kdump_twin.dma.job']}`);
    // Each kept job's transactions all reached the receiver with their translations.
    const txByJob = new Map<string, ReceivedSpan[]>();
    for (const s of spans) if (s.name === 'kdump_twin.dma.transaction') txByJob.set(s.parentSpanId, [...(txByJob.get(s.parentSpanId) ?? []), s]);
    const translated = new Set(spans.filter((s) => s.name === 'kdump_twin.smmu.translate').map((s) => s.parentSpanId));
    for (const j of crossing)
      for (const tx of txByJob.get(j.spanId) ?? [])
        assert.ok(translated.has(tx.spanId), `transaction ${tx.attributes['kdump_twin.dma.ticket']} of a crash job has no translation span`);
  });

  it('every span name and attribute is declared in telemetry-schema/registry.yaml', () => {
    for (const s of spans) {
      const def = SPAN_DEF[s.name as SpanName];
      assert.ok(def, `span ${s.name} is not in the registry`);
      for (const k of Object.keys(s.attributes))
        assert.ok((def.attributes as readonly string[]).includes(k), `${s.name} carries ${k}, which the registry does not declare for it`);
    }
  });

  it("metrics reach the OTLP endpoint: DMA outcomes by epoch and policy, cache hit rates, violations' counter", async () => {
    await receiver.until(() => receiver.metrics.some((m) => m.name === 'kdump_twin.dma.transactions'));
    const names = new Set(receiver.metrics.filter((m) => m.service === 'smmu-twin').map((m) => m.name));
    for (const n of [
      'kdump_twin.dma.transactions',
      'kdump_twin.dma.jobs',
      'kdump_twin.smmu.cache.hit_ratio',
      'kdump_twin.smmu.cache.lookups',
      'kdump_twin.runs',
    ])
      assert.ok(names.has(n), `no ${n}`);
    for (const n of names) assert.ok(n in METRIC_DEF, `${n} is not in the registry`);
  });
});
