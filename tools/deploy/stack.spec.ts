// SPDX-License-Identifier: Apache-2.0
// deploy/local/compose.yaml, checked offline (no Docker engine here): every twin is in it, on
// its own port, started by the script that exists, with NATS and the OTLP endpoint pointing at
// the stack's own NATS and Jaeger, an OTLP protocol and sampler the telemetry accepts, Jaeger's
// OTLP and UI ports published on loopback only, and NATS with JetStream.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { otlpProtocol, samplingFrom, tracingRequested } from '@kdump-twin/telemetry';
import { DEFAULT_PORTS, SERVICES } from '../services/stack';

const root = join(__dirname, '..', '..');
type Svc = { image?: string; command?: string[]; environment?: Record<string, string>; ports?: string[]; volumes?: string[]; working_dir?: string };
const doc = parse(readFileSync(join(root, 'deploy/local/compose.yaml'), 'utf8'), { merge: true }) as { services: Record<string, Svc> };

describe('deploy/local/compose.yaml', () => {
  it('runs NATS with JetStream and Jaeger with OTLP gRPC, OTLP HTTP and the UI, on loopback', () => {
    const nats = doc.services['nats']!;
    assert.ok(nats.command?.includes('-js'), 'nats without -js');
    const jaeger = doc.services['jaeger']!;
    assert.match(jaeger.image ?? '', /^jaegertracing\/(jaeger|all-in-one):\d/);
    for (const p of ['16686', '4317', '4318']) assert.ok(jaeger.ports?.includes(`127.0.0.1:${p}:${p}`), `jaeger does not publish ${p} on 127.0.0.1`);
    for (const s of Object.values(doc.services)) for (const p of s.ports ?? []) assert.match(p, /^127\.0\.0\.1:/, `port ${p} is published beyond loopback`);
  });

  for (const name of SERVICES)
    it(`${name}: its own port, the real start script, the stack's NATS and Jaeger, a valid OTEL configuration`, () => {
      const s = doc.services[name];
      assert.ok(s, `no service ${name}`);
      assert.deepEqual(s.command, ['node', 'tools/services/run-service.mjs', name]);
      assert.ok(existsSync(join(root, 'tools/services/run-service.mjs')));
      assert.equal(s.working_dir, '/repo');
      assert.ok(
        s.volumes?.some((v) => v.startsWith('../..:/repo')),
        'the checkout is not mounted at /repo',
      );
      const env = s.environment!;
      assert.equal(env['GRPC_PORT'], String(DEFAULT_PORTS[name]));
      assert.ok(s.ports?.includes(`127.0.0.1:${DEFAULT_PORTS[name]}:${DEFAULT_PORTS[name]}`));
      assert.equal(env['GRPC_HOST'], '0.0.0.0');
      assert.equal(env['NATS_URL'], 'nats://nats:4222');
      assert.match(env['OTEL_EXPORTER_OTLP_ENDPOINT'] ?? '', /^http:\/\/jaeger:(4317|4318)$/);
      const protocol = otlpProtocol(env, 'TRACES');
      assert.equal(env['OTEL_EXPORTER_OTLP_ENDPOINT']!.endsWith(':4317'), protocol === 'grpc', 'gRPC goes to 4317, OTLP/HTTP to 4318');
      assert.equal(tracingRequested(env), true);
      const sampling = samplingFrom(env);
      assert.ok(sampling.ratio > 0 && sampling.ratio < 1 && sampling.keepCrash);
    });
});
