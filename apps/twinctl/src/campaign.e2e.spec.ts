// SPDX-License-Identifier: Apache-2.0
// A campaign at scale on this machine, end to end over a real nats-server of its own: the
// 1,000-run campaigns/exactly-once.json with 4 worker processes, one of which kills itself
// holding an unacknowledged item, a controller killed part way and started again, and malformed
// work published into the queue. It must end with every item counted exactly once: 1,000 results
// on 1,000 distinct subjects, 1,000 stored publishes across the workers, an empty work queue, the
// lost item redelivered and run again, and the report's digests equal to runs made here.
// exactly-once.json is ci-scale.json's matrix (the same scenarios, policies, seeds and panic
// axis) made of runs about a third as long, so the 1,000 items fit a 2-core CI machine with room
// to spare; the 3-server cluster test is campaign-cluster.e2e.spec.ts.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, JSONCodec, type NatsConnection } from 'nats';
import { parseCampaign, reportJson, runWorkItem, workItem, type CampaignMatrix, type CampaignResult } from '@kdump-twin/scenario';
import { startNatsServer, type NatsServer } from '@kdump-twin/transport/testing';
import { exitWithin, root, start, twinctl, waitFor, type Proc } from './campaign/e2e.testing';
import { RESULTS_STREAM, SUBJECT, WORK_STREAM, WORKERS } from './campaign/queue';

const file = join(root, 'campaigns', 'exactly-once.json');
const spec = parseCampaign(JSON.parse(readFileSync(file, 'utf8')));
const ACK_WAIT_MS = 10_000;
const DIE_AFTER = 40;

describe('campaign at scale: 1,000 runs, 4 workers, a worker killed, the controller restarted', () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  const workers: Proc[] = [];
  let matrix: CampaignMatrix;
  let statusMid: { progress: { done: number } };
  let secondRunErr = '';

  before(async () => {
    nats = await startNatsServer(); // throws (the test fails) when no nats-server can be started
    nc = await connect({ servers: nats.url });
  });

  after(async () => {
    for (const w of workers) w.p.kill('SIGKILL');
    await nc?.close();
    await nats?.stop();
  });

  it('runs to the end through a worker kill, a controller kill and bad messages', async () => {
    const url = ['--nats', nats.url];
    workers.push(start(['campaign', 'worker', ...url, '--name', 'doomed', '--ack-wait-ms', String(ACK_WAIT_MS), '--die-after', String(DIE_AFTER)]));
    for (let i = 0; i < 3; i++) workers.push(start(['campaign', 'worker', ...url, '--name', `w${i}`, '--ack-wait-ms', String(ACK_WAIT_MS)]));
    await waitFor('4 workers ready', () => workers.every((w) => /ready/.test(w.err)), 60_000);

    const first = start(['campaign', 'run', file, ...url, '--ack-wait-ms', String(ACK_WAIT_MS), '--progress-ms', '200']);
    await waitFor('200 results under the first controller', () => [...first.err.matchAll(/(\d+)\/1000 runs/g)].some((m) => Number(m[1]) >= 200), 300_000);
    first.p.kill('SIGKILL');
    await first.exited;

    // Malformed work: not JSON, and an item that is not the campaign's item 5.
    const js = nc.jetstream();
    const generation = (await (await nc.jetstreamManager()).streams.getMessage(RESULTS_STREAM, { last_by_subj: SUBJECT.spec(spec.id) })).seq;
    await js.publish(SUBJECT.work(spec.id), new TextEncoder().encode('{not json'));
    await js.publish(SUBJECT.work(spec.id), JSONCodec().encode({ ...workItem(spec, 5), generation, policy: 'adopt-v10' }));

    // What the killed controller left is in the streams.
    const mid = await twinctl(['campaign', 'status', spec.id, ...url, '--json']);
    assert.equal(mid.code, 0, mid.err);
    statusMid = JSON.parse(mid.out);
    assert.ok(statusMid.progress.done >= 200, mid.out);

    const second = await twinctl(['campaign', 'run', file, ...url, '--ack-wait-ms', String(ACK_WAIT_MS), '--json']);
    secondRunErr = second.err;
    assert.equal(second.code, 0, second.err);
    matrix = JSON.parse(second.out);
  });

  it('the restarted controller resumed from the stored results', () => {
    const m = /resumed with (\d+) results, queued (\d+) \((\d+) were still queued\)|resumed with (\d+) results, queued (\d+)/.exec(secondRunErr);
    assert.ok(m, secondRunErr);
    assert.ok(Number(m[1] ?? m[4]) >= statusMid.progress.done, secondRunErr);
  });

  it('every item is counted exactly once', async () => {
    assert.equal(matrix.total, 1000);
    assert.equal(matrix.done, 1000);
    assert.equal(matrix.errors, 0);
    assert.equal(
      matrix.cells.reduce((n, c) => n + c.runs, 0),
      1000,
    );
    const jsm = await nc.jetstreamManager();
    const res = await jsm.streams.info(RESULTS_STREAM, { subjects_filter: SUBJECT.results(spec.id) });
    const subjects = Object.keys(res.state.subjects ?? {});
    assert.equal(subjects.length, 1000);
    assert.deepEqual(new Set(subjects), new Set(Array.from({ length: 1000 }, (_, n) => SUBJECT.result(spec.id, n))));
    assert.ok(Object.values(res.state.subjects ?? {}).every((c) => c === 1));
    const work = await jsm.streams.info(WORK_STREAM);
    assert.equal(work.state.messages, 0, 'the work queue is empty');
    const ci = await jsm.consumers.info(WORK_STREAM, WORKERS);
    assert.equal(ci.num_ack_pending, 0);
    assert.equal(ci.num_pending, 0);
  });

  it('the killed worker left its item unacknowledged; it was redelivered and run again', async () => {
    const doomed = workers[0]!;
    await exitWithin(doomed, 'the doomed worker', 60_000);
    assert.equal(doomed.p.signalCode, 'SIGKILL');
    const held = /injected kill holding (\S+) seq (\d+)/.exec(doomed.err);
    assert.ok(held, doomed.err);
    assert.ok(matrix.redelivered >= 1, `redelivered ${matrix.redelivered}`);
    // The survivors stop on SIGTERM after the item in hand and print what they did.
    const live = workers.slice(1);
    for (const w of live) w.p.kill('SIGTERM');
    await Promise.all(live.map((w, i) => exitWithin(w, `worker w${i} after SIGTERM`, 30_000)));
    const stats = live.map(
      (w) =>
        JSON.parse(/stopped (\{.*\})/.exec(w.err)![1]!) as { ran: number; published: number; duplicatePublishes: number; rejected: number; errors: number },
    );
    // The doomed worker stored DIE_AFTER results before it died; every other result is a survivor's.
    assert.equal(stats.reduce((n, s) => n + s.published, 0) + DIE_AFTER, 1000);
    assert.equal(
      stats.reduce((n, s) => n + s.rejected, 0),
      2,
      'both malformed messages were refused',
    );
    assert.match(live.map((w) => w.err).join(''), /rejected .*not JSON/);
    assert.match(live.map((w) => w.err).join(''), /rejected .*policy: item 5 of campaign exactly-once has policy "status-quo", got "adopt-v10"/);
  });

  it('results carry the same report digest as a run made here', async () => {
    const jsm = await nc.jetstreamManager();
    for (const n of [0, 499, 999]) {
      const m = await jsm.streams.getMessage(RESULTS_STREAM, { last_by_subj: SUBJECT.result(spec.id, n) });
      const r = JSONCodec<CampaignResult>().decode(m.data);
      const report = await runWorkItem(workItem(spec, n));
      assert.equal(r.digest, createHash('sha256').update(reportJson(report)).digest('hex'), `item ${n}`);
    }
  });

  it('report prints the matrix; status and report of an unknown campaign exit 1', async () => {
    const r = await twinctl(['campaign', 'report', spec.id, '--nats', nats.url]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /1000\/1000 runs, 0 errors, \d+ ran on a redelivery; rates with Wilson 95% intervals/);
    assert.match(r.out, /S10d-l1-bad-span {2}\(panicAt=200us\)\n {2}policy +runs +vmcore saved/);
    const u = await twinctl(['campaign', 'status', 'no-such', '--nats', nats.url]);
    assert.equal(u.code, 1);
    assert.match(u.err, /no campaign "no-such"/);
  });

  it('campaign --help prints the usage; --replicas beyond what the server holds is refused naming the option, and nothing recorded is lost', async () => {
    const h = await twinctl(['campaign', '--help']);
    assert.equal(h.code, 0, h.err);
    assert.match(h.out, /twinctl campaign run <campaign\.json>.*\n(.*\n)*.*--replicas R/);
    const big = await twinctl(['campaign', 'run', file, '--nats', nats.url, '--replicas', '9']);
    assert.equal(big.code, 2);
    assert.match(big.err, /--replicas must be at most 5/);
    // One nats-server is no cluster: R3 streams cannot exist on it.
    const r3 = await twinctl(['campaign', 'run', file, '--nats', nats.url, '--replicas', '3', '--no-wait']);
    assert.equal(r3.code, 1, r3.err);
    assert.match(r3.err, /--replicas 3: stream KDUMP_TWIN_CAMPAIGN_(WORK|RESULTS): .*a JetStream cluster of at least 3 servers is needed/);
    const s = await twinctl(['campaign', 'status', spec.id, '--nats', nats.url, '--json']);
    assert.equal(s.code, 0, s.err);
    assert.equal((JSON.parse(s.out) as { progress: { done: number } }).progress.done, 1000);
  });

  it('a purged campaign queued again under the same id is a new generation: its items are not dropped as duplicates', async () => {
    const small = join(mkdtempSync(join(tmpdir(), 'kdump-twin-campaign-')), 'rerun.json');
    writeFileSync(
      small,
      JSON.stringify({
        id: 'rerun',
        scenarios: ['S10f-reserved-ste-config'],
        policies: ['adopt-v10'],
        seeds: { from: 1, count: 6 },
        sets: ['run.endAfterKdumpNs=5000000'],
      }),
    );
    const url = ['--nats', nats.url];
    const a = await twinctl(['campaign', 'run', small, ...url, '--workers', '2', '--json']);
    assert.equal(a.code, 0, a.err);
    assert.equal(JSON.parse(a.out).done, 6);
    const p = await twinctl(['campaign', 'purge', 'rerun', ...url]);
    assert.match(p.out, /purged 0 queued items and 6 results of rerun/);
    const b = await twinctl(['campaign', 'run', small, ...url, '--workers', '2', '--json']);
    assert.equal(b.code, 0, b.err);
    assert.match(b.err, /rerun: 6 items; queued 6\n/);
    const m = JSON.parse(b.out) as CampaignMatrix;
    assert.equal(m.done, 6);
    // The stored document conflicts with a different one under the same id.
    writeFileSync(small, JSON.stringify({ id: 'rerun', scenarios: ['S10f-reserved-ste-config'], policies: ['adopt-v7'], seeds: { from: 1, count: 6 } }));
    const c = await twinctl(['campaign', 'run', small, ...url]);
    assert.equal(c.code, 1);
    assert.match(c.err, /campaign "rerun" already exists with a different document/);
  });
});
