// SPDX-License-Identifier: Apache-2.0
// The traced subset of a campaign, end to end: the four services and a real OTLP/HTTP receiver
// started here, a small campaign with trace.every = 4 run by one worker that has the services
// (KDUMP_TWIN_SMMU_TWIN) and OTLP configured. The traced items must go through the services,
// record the trace id of their run, and that trace must be in the receiver with spans of the
// services; the untraced items run in process and leave no run trace; every result's digest is
// the report of the same run made here in process.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, JSONCodec } from 'nats';
import { parseCampaign, reportJson, runWorkItem, workItem, type CampaignMatrix, type CampaignResult } from '@kdump-twin/scenario';
import { otlpHttpJsonEnv, startOtlpReceiver, type OtlpReceiver } from '@kdump-twin/telemetry/testing';
import { startStack, type Stack } from './stack';

const root = join(__dirname, '..', '..');
const bin = join(root, 'node_modules', '.bin', 'twinctl');
const DOC = {
  id: 'traced-subset',
  scenarios: ['S10f-reserved-ste-config'],
  policies: ['status-quo', 'adopt-v10'],
  seeds: { from: 1, count: 4 },
  sets: ['run.endAfterKdumpNs=5000000'],
  trace: { every: 4 },
};
const spec = parseCampaign(DOC);

let receiver: OtlpReceiver;
let stack: Stack | undefined;
const results: CampaignResult[] = [];
let runErr = '';
let report = '';

before(async () => {
  receiver = await startOtlpReceiver();
  const otel = otlpHttpJsonEnv(receiver, '0.001', { OTEL_METRICS_EXPORTER: 'none' });
  stack = await startStack({ ownNats: true, freePorts: true, env: otel });
  const file = join(mkdtempSync(join(tmpdir(), 'kdump-twin-campaign-')), 'traced.json');
  writeFileSync(file, JSON.stringify(DOC));
  // One local worker; it inherits KDUMP_TWIN_SMMU_TWIN and the OTLP settings from the controller.
  const env = { ...process.env, TWINCTL_FROM_SOURCE: '1', KDUMP_TWIN_SMMU_TWIN: stack.addresses['smmu-twin'], ...otel };
  await new Promise<void>((resolve, reject) =>
    execFile(bin, ['campaign', 'run', file, '--nats', stack!.natsUrl, '--workers', '1', '--json'], { cwd: root, env, maxBuffer: 64 << 20 }, (e, _out, err) => {
      runErr = err;
      return e ? reject(new Error(`twinctl campaign run: ${e.message}\n${err}`)) : resolve();
    }),
  );
  const nc = await connect({ servers: stack.natsUrl });
  try {
    const jsm = await nc.jetstreamManager();
    for (let n = 0; n < spec.total; n++) {
      const m = await jsm.streams.getMessage('KDUMP_TWIN_CAMPAIGN_RESULTS', { last_by_subj: `kdump_twin.campaign.result.${spec.id}.${n}` });
      results.push(JSONCodec<CampaignResult>().decode(m.data));
    }
  } finally {
    await nc.close();
  }
  report = await new Promise<string>((resolve, reject) =>
    execFile(bin, ['campaign', 'report', spec.id, '--nats', stack!.natsUrl, '--json'], { cwd: root, env, maxBuffer: 64 << 20 }, (e, out, err) =>
      e ? reject(new Error(`twinctl campaign report: ${err}`)) : resolve(out),
    ),
  );
  // Stopping the services flushes their exporters (SIGTERM -> shutdown); the worker flushed when it stopped.
  await stack.stop();
  stack = undefined;
  const want = new Set(results.filter((r) => r.traceId).map((r) => r.traceId));
  await receiver.until(() => [...want].every((t) => receiver.spans.some((s) => s.traceId === t && s.name === 'kdump_twin.run')));
});

after(async () => {
  await stack?.stop();
  await receiver?.stop();
});

describe('campaign: the traced subset through the four services, into OTLP', { timeout: 300_000 }, () => {
  it('every 4th item went through the services and recorded its trace id; the rest ran in process, untraced', () => {
    assert.equal(results.length, 8, runErr);
    for (const r of results) {
      assert.equal(r.error, undefined, `item ${r.n}: ${r.error}`);
      if (r.n % 4 === 0) {
        assert.equal(r.route, 'services', `item ${r.n}`);
        assert.match(r.traceId ?? '', /^[0-9a-f]{32}$/, `item ${r.n} has no trace id`);
      } else {
        assert.equal(r.route, 'in-process', `item ${r.n}`);
        assert.equal(r.traceId, undefined, `item ${r.n}`);
      }
    }
    assert.equal(new Set(results.map((r) => r.traceId).filter(Boolean)).size, 2, 'one trace per traced item');
  });

  it("each traced item's trace holds its run in smmu-twin and spans of the other three services; no other run was traced", () => {
    const runs = receiver.spans.filter((s) => s.name === 'kdump_twin.run');
    const traced = results.filter((r) => r.traceId);
    assert.deepEqual(new Set(runs.map((s) => s.traceId)), new Set(traced.map((r) => r.traceId)));
    for (const r of traced) {
      const run = runs.find((s) => s.traceId === r.traceId)!;
      assert.equal(run.service, 'smmu-twin');
      assert.equal(run.attributes['kdump_twin.policy'], r.policy);
      const services = new Set(receiver.spans.filter((s) => s.traceId === r.traceId).map((s) => s.service));
      for (const s of ['twinctl', 'smmu-twin', 'crash-generator', 'kdump-driver', 'dma-fleet'])
        assert.ok(services.has(s), `item ${r.n}: no span of ${s} in its trace (has ${[...services].join(', ')})`);
    }
    assert.deepEqual(receiver.errors, []);
  });

  it("the report's cells list each traced run's trace id, for Jaeger", () => {
    const m = JSON.parse(report) as CampaignMatrix;
    for (const r of results.filter((x) => x.traceId)) {
      const cell = m.cells.find((c) => c.policy === r.policy)!;
      assert.deepEqual(
        cell.traces.map((t) => [t.n, t.seed, t.traceId]),
        [[r.n, r.seed, r.traceId]],
      );
    }
  });

  it('every result, traced or not, carries the digest of the same run made here in process', async () => {
    for (const r of results) {
      const report = await runWorkItem(workItem(spec, r.n));
      assert.equal(r.digest, createHash('sha256').update(reportJson(report)).digest('hex'), `item ${r.n} (${r.route})`);
    }
  });
});
