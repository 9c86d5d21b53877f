// SPDX-License-Identifier: Apache-2.0
// The configuration every service reads (each variable's default and rule, every bad one named
// at once) and the mapping of errors to gRPC statuses a client acts on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { SchemaError } from '@kdump-twin/scenario';
import { MachineInputError } from '@kdump-twin/smmu-model';
import { PeerLost, RemoteError } from '@kdump-twin/transport';
import { commonVars, ConfigError, configTable, loadConfig, vars } from './config';
import { Abandoned, Exhausted, grpcError, MAX_STATUS_MESSAGE, NotFound } from './errors';

describe('configuration', () => {
  it('unset or empty variables take their defaults', () => {
    const c = loadConfig(commonVars(50052), { NATS_URL: '', LOG_LEVEL: undefined });
    assert.deepEqual(c, { NATS_URL: 'nats://127.0.0.1:4222', GRPC_HOST: '127.0.0.1', GRPC_PORT: 50052, LOG_LEVEL: 'info', SERVICE_ID: '' });
  });

  it('values are parsed by their rule', () => {
    const c = loadConfig(commonVars(1), {
      NATS_URL: 'nats://a:1,b:2',
      GRPC_HOST: '0.0.0.0',
      GRPC_PORT: '65535',
      LOG_LEVEL: 'debug',
      SERVICE_ID: 'smmu-twin-0.a_b',
    });
    assert.equal(c.GRPC_PORT, 65535);
    assert.equal(c.NATS_URL, 'nats://a:1,b:2');
  });

  it('every bad variable is named with its rule, in one error', () => {
    assert.throws(
      () => loadConfig(commonVars(1), { NATS_URL: 'tls://x', GRPC_PORT: '70000', LOG_LEVEL: 'loud', SERVICE_ID: 'a b', GRPC_HOST: 'h;rm' }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.issues.length === 5 &&
        /NATS_URL="tls:\/\/x": nats:\/\/host:port/.test(e.message) &&
        /GRPC_PORT="70000": an integer in \[1, 65535\]/.test(e.message) &&
        /LOG_LEVEL="loud": one of debug, info, warn, error/.test(e.message) &&
        /SERVICE_ID="a b": up to 64 letters/.test(e.message) &&
        /GRPC_HOST="h;rm": a host name or IP address/.test(e.message),
    );
    assert.throws(() => loadConfig({ N: vars.int('n', 1, 0, 9) }, { N: '1e3' }), /N="1e3": an integer in \[0, 9\]/);
    assert.throws(() => loadConfig({ N: vars.int('n', 1, 0, 9) }, { N: '-1' }), /N="-1": an integer in \[0, 9\]/);
  });

  it('renders the variables as the READMEs quote them', () => {
    const t = configTable(commonVars(50051)).split('\n');
    assert.equal(t[0], '| variable | default | meaning |');
    assert.ok(t.includes('| `GRPC_PORT` | `50051` | gRPC port |'));
  });
});

describe('errors as gRPC statuses', () => {
  it('maps each kind of failure to the status a client acts on, keeping the message', () => {
    const cases: [unknown, status, RegExp][] = [
      [new SchemaError('scenario', [{ path: 'devices[0].smmu', rule: 'no SMMU 4' }]), status.INVALID_ARGUMENT, /^scenario: devices\[0\]\.smmu: no SMMU 4/],
      [new RangeError('traffic.x: not a live traffic parameter'), status.INVALID_ARGUMENT, /^traffic\.x/],
      [new MachineInputError('offset', 'outside', 'out-of-range'), status.OUT_OF_RANGE, /offset/],
      [new MachineInputError('machine_id', 'no machine m1', 'not-found'), status.NOT_FOUND, /machine_id/],
      [new NotFound('no run r-1'), status.NOT_FOUND, /no run r-1/],
      [new Abandoned('abandoned: NATS reconnected'), status.ABORTED, /abandoned/],
      [new Exhausted('machine: this replica holds 4 machines and sessions, its MAX_MACHINES (4)'), status.RESOURCE_EXHAUSTED, /MAX_MACHINES \(4\)/],
      [new PeerLost('twin.v1.run.s1.fleet', 'no service answers on twin.v1.run.s1.fleet'), status.UNAVAILABLE, /twin\.v1\.run\.s1\.fleet/],
      [new PeerLost('twin.v1.run.s1.script', 'x'), status.NOT_FOUND, /session s1: no such session/],
      [new RemoteError('twin.v1.run.s1.script', 'PeerLost', 'no service answers on twin.v1.run.s1.kernel.kdump'), status.UNAVAILABLE, /kernel\.kdump/],
      [new RemoteError('s', 'SessionStateError', 'needs the kdump kernel'), status.FAILED_PRECONDITION, /kdump kernel/],
      [new Error('boom'), status.INTERNAL, /^boom$/],
      [
        new (class Weird extends Error {
          override name = 'Weird';
        })('odd'),
        status.INTERNAL,
        /^Weird: odd$/,
      ],
    ];
    for (const [e, code, re] of cases) {
      const g = grpcError(e);
      assert.equal(g.code, code, `${(e as Error).name}: ${g.message}`);
      assert.match(g.message, re);
    }
  });

  it('never sends a status message longer than MAX_STATUS_MESSAGE, however much of the input a handler echoed', () => {
    const g = grpcError(new NotFound(`id: no run ${'x'.repeat(100_000)} on this replica`));
    assert.equal(g.code, status.NOT_FOUND);
    assert.ok(g.message.length <= MAX_STATUS_MESSAGE, String(g.message.length));
    assert.match(g.message, /^id: no run x+… \(message cut: 100027 characters\)$/);
    assert.equal(grpcError(new NotFound('id: no run r-1')).message, 'id: no run r-1', 'a short message is untouched');
  });
});
