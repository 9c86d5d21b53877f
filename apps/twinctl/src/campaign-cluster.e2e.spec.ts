// SPDX-License-Identifier: Apache-2.0
// A campaign on a 3-server JetStream cluster of its own: the streams made at one replica by a
// worker that starts first, raised to three by the controller's --replicas 3, and the server
// leading the results stream SIGKILLed mid-campaign. Every item is still counted once, the
// report reads from the two survivors, and both streams keep three replicas with a new leader.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import type { CampaignMatrix } from '@kdump-twin/scenario';
import { startNatsCluster, type NatsCluster } from '@kdump-twin/transport/testing';
import { exitWithin, root, start, twinctl, waitFor } from './campaign/e2e.testing';
import { RESULTS_STREAM, SUBJECT, WORK_STREAM } from './campaign/queue';

describe('campaign on a 3-server JetStream cluster: streams made at R1 by a worker, raised by --replicas 3, the results stream leader killed mid-campaign', () => {
  let cluster: NatsCluster;
  let nc: NatsConnection;
  // The short runs of the exactly-once test.
  const { sets } = JSON.parse(readFileSync(join(root, 'campaigns', 'exactly-once.json'), 'utf8')) as { sets: string[] };
  const doc = {
    id: 'cluster',
    scenarios: ['S10f-reserved-ste-config'],
    policies: ['status-quo', 'adopt-v7', 'adopt-v10'],
    seeds: { from: 1, count: 20 },
    sets,
  };
  const total = 60;

  before(async () => {
    cluster = await startNatsCluster(3); // throws (the test fails) when no cluster can be started
    nc = await connect({ servers: cluster.urls.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  });

  after(async () => {
    await nc?.close();
    await cluster?.stop();
  });

  it('every item is counted once, from the two surviving servers, and both streams kept three replicas', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kdump-twin-campaign-')), 'cluster.json');
    writeFileSync(file, JSON.stringify(doc));
    // A worker that starts first creates both streams with one replica; the controller's
    // --replicas 3 raises them (the empty work queue is made again at R3, see queue.ts).
    const early = start(['campaign', 'worker', '--nats', cluster.urls, '--name', 'early', '--ack-wait-ms', '5000']);
    await waitFor('the early worker ready', () => /ready/.test(early.err), 60_000);
    const jsm = await nc.jetstreamManager();
    assert.equal((await jsm.streams.info(WORK_STREAM)).config.num_replicas, 1);
    const run = start([
      'campaign',
      'run',
      file,
      '--nats',
      cluster.urls,
      '--workers',
      '1',
      '--replicas',
      '3',
      '--ack-wait-ms',
      '5000',
      '--progress-ms',
      '100',
      '--json',
    ]);
    let out = '';
    run.p.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    await waitFor('15 results', () => [...run.err.matchAll(/(\d+)\/60 runs/g)].some((m) => Number(m[1]) >= 15), 120_000);
    const info = await jsm.streams.info(RESULTS_STREAM);
    assert.equal(info.config.num_replicas, 3);
    const leader = cluster.servers.find((s) => s.name === info.cluster?.leader);
    assert.ok(leader, `the results stream's leader ${info.cluster?.leader} is one of ours`);
    await leader.kill();
    assert.equal(await exitWithin(run, 'the controller', 120_000), 0, run.err);
    // Both workers rode out the raise and the election (they tried their NATS operations again) and stop cleanly.
    early.p.kill('SIGTERM');
    await exitWithin(early, 'the early worker after SIGTERM', 30_000);
    const stopped = [...`${run.err}${early.err}`.matchAll(/worker (?:local-\d|early): stopped (\{.*\})/g)].map(
      (x) => JSON.parse(x[1]!) as { published: number; natsRetries: number },
    );
    assert.equal(stopped.length, 2, `${run.err}\n${early.err}`);
    assert.doesNotMatch(`${run.err}${early.err}`, /Node\.js v\d+/, 'no worker crashed');
    assert.ok(stopped.reduce((n, x) => n + x.published, 0) <= total);
    const m = JSON.parse(out) as CampaignMatrix;
    assert.equal(m.done, total);
    assert.equal(m.errors, 0);
    assert.equal(
      m.cells.reduce((n, c) => n + c.runs, 0),
      total,
    );

    const survivors = cluster.servers
      .filter((s) => s !== leader)
      .map((s) => s.url)
      .join(',');
    const r = await twinctl(['campaign', 'report', doc.id, '--nats', survivors]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /60\/60 runs, 0 errors/);
    for (const name of [WORK_STREAM, RESULTS_STREAM]) {
      const s = await jsm.streams.info(name, name === RESULTS_STREAM ? { subjects_filter: SUBJECT.results(doc.id) } : undefined);
      assert.equal(s.config.num_replicas, 3, name);
      assert.equal(s.cluster?.replicas?.length, 2, `${name}: a leader and two replicas`);
      assert.notEqual(s.cluster?.leader, leader.name, `${name} moved off the killed server`);
      if (name === RESULTS_STREAM) assert.equal(Object.keys(s.state.subjects ?? {}).length, total);
      else assert.equal(s.state.messages, 0, 'the work queue is empty');
    }
  });
});
