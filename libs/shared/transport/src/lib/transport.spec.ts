// SPDX-License-Identifier: Apache-2.0
// The co-simulation protocol against a real nats-server (started here on 127.0.0.1, a port
// chosen now): the wire format, request/reply with errors and parts, and whole scenarios run
// with the fleet and both kernels across NATS, whose reports equal the in-process ones byte
// for byte.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildScenario, entryDocument, findEntry, POLICIES, reportJson, runScenario } from '@kdump-twin/scenario';
import { startNatsServer, type NatsServer } from '../testing/nats-server';
import { runOverNats, startRoles, type Roles } from '../testing/services';
import { CodecError, decode, encode } from './codec';
import { PeerLost, RemoteError, Rpc } from './rpc';
import type { PlatformSession } from './platform-side';

let server: NatsServer;
const conns: NatsConnection[] = [];

before(async () => {
  server = await startNatsServer();
});

after(async () => {
  for (const c of conns) await c.close();
  await server.stop();
});

async function rpc(limit?: number): Promise<Rpc> {
  const nc = await connect({ servers: server.url, noAsyncTraces: true });
  conns.push(nc);
  return new Rpc(nc, limit ? { limit } : {});
}

describe('wire format', () => {
  it('round-trips 64-bit values, bytes and infinities exactly', () => {
    const v = {
      a: 0xffff_ffff_ffff_ffffn,
      b: new Uint8Array([0, 1, 254, 255]),
      c: [Infinity, -Infinity, 1.5],
      d: { $u64: 'not a tag: has a sibling', x: 1 },
      e: null,
    };
    const back = decode<typeof v>(encode(v));
    assert.equal(back.a, 0xffff_ffff_ffff_ffffn);
    assert.deepEqual([...back.b], [0, 1, 254, 255]);
    assert.deepEqual(back.c, [Infinity, -Infinity, 1.5]);
    assert.deepEqual(back.d, { $u64: 'not a tag: has a sibling', x: 1 });
    assert.equal(back.e, null);
  });

  it('a message that is not JSON is a CodecError that says so', () => {
    assert.throws(
      () => decode(new TextEncoder().encode('{"a":')),
      (e: unknown) => e instanceof CodecError && /malformed message/.test(e.message),
    );
  });
});

describe('request/reply', () => {
  it("answers with the handler's value, and with its error named", async () => {
    const a = await rpc();
    const b = await rpc();
    b.serve('t.echo', (m) => m);
    b.serve('t.fail', () => {
      throw new RangeError('offset: 0x10 is not a register');
    });
    b.serve('t.async', async (m) => ({ got: m }));
    await b.nc.flush();
    assert.deepEqual(await a.call('t.echo', { x: 1n }), { x: 1n });
    assert.deepEqual(await a.call('t.async', 7), { got: 7 });
    await assert.rejects(
      a.call('t.fail', {}),
      (e: unknown) => e instanceof RemoteError && e.remoteName === 'RangeError' && /0x10 is not a register/.test(e.message),
    );
  });

  it('a malformed body gets an error reply, and the server keeps serving', async () => {
    const a = await rpc();
    const b = await rpc();
    b.serve('t.bad', (m) => m);
    await b.nc.flush();
    const m = await a.nc.request('t.bad', new TextEncoder().encode('not json'), { timeout: 2000 });
    assert.match(new TextDecoder().decode(m.data), /CodecError.*malformed message/);
    assert.equal(await a.call('t.bad', 'still here'), 'still here');
  });

  it('no responder is PeerLost naming the subject, at once', async () => {
    const a = await rpc();
    await assert.rejects(a.call('t.nobody', {}), (e: unknown) => e instanceof PeerLost && /no service answers on t\.nobody/.test(e.message));
  });

  it('a peer that goes away in the middle of a call (its connection gone, no reply) is PeerLost within seconds, naming the service, not at the timeout', async () => {
    const a = await rpc();
    const nc = await connect({ servers: server.url, noAsyncTraces: true });
    const b = new Rpc(nc);
    const subject = 'twin.v1.run.gone.kernel.kdump';
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    b.serve(subject, () => {
      entered();
      return new Promise(() => undefined); // the kdump kernel is busy, then killed
    });
    await nc.flush();
    const t0 = process.hrtime.bigint();
    const call = a.call(subject, { call: 'probeDriver' }, 3_600_000);
    await inside;
    await nc.close();
    await assert.rejects(call, (e: unknown) => e instanceof PeerLost && /kdump-driver \(the kdump kernel\) went away during the call/.test(e.message));
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    assert.ok(s < 5, `noticed in ${s.toFixed(1)} s`);
  });

  it('a call that is merely slow is not lost: the liveness probe is answered while the handler works', async () => {
    const a = await rpc();
    const b = await rpc();
    b.serve('twin.v1.run.slow.fleet', () => new Promise((r) => setTimeout(() => r('done'), 2_500)));
    await b.nc.flush();
    assert.equal(await a.call('twin.v1.run.slow.fleet', {}, 10_000), 'done');
  });

  it('bodies larger than a message travel in parts, both ways', async () => {
    const a = await rpc(1000);
    const b = await rpc(1000);
    b.serve('t.big', (m) => ({ back: m, extra: new Uint8Array(5000).fill(7) }));
    await b.nc.flush();
    const big = new Uint8Array(12_345).map((_, i) => i & 0xff);
    const r = await a.call<{ back: Uint8Array; extra: Uint8Array }>('t.big', big);
    assert.deepEqual([...r.back], [...big]);
    assert.equal(r.extra.length, 5000);
  });

  it("a subscription unsubscribed is not kept (a session's subjects end with it, and so does what their handlers hold)", async () => {
    const a = await rpc();
    const before = a.serving;
    const subs = Array.from({ length: 20 }, (_, i) => a.serve(`t.session.${i}`, () => new Uint8Array(1 << 20)));
    assert.equal(a.serving, before + 20);
    for (const s of subs) s.unsubscribe();
    await Promise.all(subs.map((s) => s.closed));
    assert.equal(a.serving, before);
  });

  it('handlers run in the order the messages were sent', async () => {
    const a = await rpc();
    const b = await rpc();
    const seen: number[] = [];
    b.serve('t.order', (m) => void seen.push(m as number));
    await b.nc.flush();
    for (let i = 0; i < 50; i++) a.post('t.order', i);
    await a.call('t.order', 50);
    assert.deepEqual(
      seen,
      Array.from({ length: 51 }, (_, i) => i),
    );
  });
});

describe('a scenario across NATS equals the in-process run', () => {
  let roles: Roles;
  let small: Roles;
  before(async () => {
    roles = await startRoles(server.url);
    small = await startRoles(server.url, { limit: 16 * 1024 });
  });
  after(async () => {
    await roles.close();
    await small.close();
  });

  for (const [id, policy, viaSmall] of [
    ['R10-M3-panic-mid-ste-update', 'adopt-v7', false],
    ['S13-latched-cmdq-err', 'adopt-v10', true],
  ] as const) {
    it(`${id} under ${policy}${viaSmall ? ' (16 KiB messages: every view and large slice in parts)' : ''}`, async () => {
      const e = findEntry(id)!;
      const spec = buildScenario(entryDocument(e), { policy });
      const local = await runScenario(spec, { predict: e.predict[policy] });
      const remote = await runOverNats((viaSmall ? small : roles).platform, spec, { predict: e.predict[policy] });
      assert.equal(reportJson(remote), reportJson(local));
      assert.equal(remote.prediction?.met, true);
      // Nothing is left open on the services' side.
      for (const r of [roles, small]) assert.equal(r.fleet.sessions.size + r.primary.sessions.size + r.kdump.sessions.size, 0);
    });
  }

  it("R10-M3-lazy-unmap with the panic 12 ms after the unmap: the flush queue's timer, a thread of the remote kernel, flushes at 10 ms; the same report", async () => {
    const e = findEntry('R10-M3-lazy-unmap')!;
    const spec = buildScenario(entryDocument(e), { policy: 'adopt-v10', sets: ['crash.trigger.afterNs=12000000'] });
    const local = await runScenario(spec);
    const remote = await runOverNats(roles.platform, spec);
    assert.equal(reportJson(remote), reportJson(local));
  });
});

describe('direct memory for kernels and devices across NATS (kernel-dmi.ts, device-dmi.ts): exact, used, and caught when broken', () => {
  let roles: Roles;
  // Short runs (the exactly-once campaign's settings): the NIC's ring and the NVMe queues are
  // pages the kernels hold while the devices write them, through the panic, kexec and the dump.
  const { sets } = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', '..', '..', 'campaigns', 'exactly-once.json'), 'utf8')) as { sets: string[] };
  const short = (policy: (typeof POLICIES)[number], more: readonly string[] = []) =>
    buildScenario(entryDocument(findEntry('S10f-reserved-ste-config')!), { policy, sets: [...sets, ...more] });
  before(async () => {
    roles = await startRoles(server.url);
  });
  after(async () => {
    await roles.close();
  });
  const hits = () => roles.primary.dmi.hits + roles.kdump.dmi.hits;
  const ranAhead = () => roles.primary.runAhead.wakeUps + roles.kdump.runAhead.wakeUps;
  const served = () => roles.fleet.dmi.served;

  for (const policy of POLICIES) {
    it(`${policy}: the same report, with loads served by the kernels' own pages and device requests by the fleet's grants`, async () => {
      const spec = short(policy);
      const before = hits();
      const devices = served();
      assert.equal(reportJson(await runOverNats(roles.platform, spec)), reportJson(await runScenario(spec)));
      assert.ok(hits() - before > 500, `direct-memory hits: ${hits() - before}`);
      assert.ok(served() - devices > 50, `device requests answered in the fleet: ${served() - devices}`);
    });
  }

  it("the NIC's transmit thread runs its wake-ups ahead: the same report with it, and without it (RUN_AHEAD off)", async () => {
    // The exactly-once settings switch transmit off; here it runs every 4 us, as in baseline.
    const spec = short('adopt-v10', ['devices[0].traffic.txIntervalNs=4000']);
    const local = reportJson(await runScenario(spec));
    const before = ranAhead();
    let s: PlatformSession | undefined;
    assert.equal(reportJson(await runOverNats(roles.platform, spec, { onSession: (x) => (s = x) })), local);
    assert.ok(ranAhead() - before > 50, `wake-ups run ahead: ${ranAhead() - before}`);
    // The fleet runs past most of them, making their stores and doorbells at their instants.
    assert.ok(s!.stepsPassedByFleet > 50, `steps the fleet ran past: ${s!.stepsPassedByFleet}`);
    const off = ranAhead();
    assert.equal(reportJson(await runOverNats(roles.platform, spec, { runAhead: 'off' })), local);
    assert.equal(ranAhead() - off, 0);
  });

  it("run-ahead broken on purpose (windows pass the poll thread's wake-ups): the report differs, so the equality test above would catch it", async () => {
    const spec = short('adopt-v10', ['devices[0].traffic.txIntervalNs=4000']);
    assert.notEqual(reportJson(await runOverNats(roles.platform, spec, { runAhead: 'unbounded' })), reportJson(await runScenario(spec)));
  });

  it('run-ahead broken on purpose (the fleet runs past the steps without their doorbells): the report differs', async () => {
    const spec = short('adopt-v10', ['devices[0].traffic.txIntervalNs=4000']);
    assert.notEqual(reportJson(await runOverNats(roles.platform, spec, { runAhead: 'undelivered' })), reportJson(await runScenario(spec)));
  });

  it('poll loops wait on the platform until what they read changes (wait-until): the same report with it, and without it (WAIT_UNTIL off)', async () => {
    // The drivers' NAPI, CQ and fence polls go idle between completions; the SMMU driver's CMD_SYNC polls wait for the MSI.
    const spec = short('adopt-v10');
    const local = reportJson(await runScenario(spec));
    let on: PlatformSession | undefined;
    assert.equal(reportJson(await runOverNats(roles.platform, spec, { onSession: (s) => (on = s) })), local);
    assert.ok(on!.wakeUpsWaitedOut > 200, `wake-ups waited out on the platform: ${on!.wakeUpsWaitedOut}`);
    let off: PlatformSession | undefined;
    assert.equal(reportJson(await runOverNats(roles.platform, spec, { waitUntil: 'off', onSession: (s) => (off = s) })), local);
    assert.equal(off!.wakeUpsWaitedOut, 0);
    // Every wake-up waited out is a poll round trip saved.
    assert.ok(off!.roundTrips.c.polls - on!.roundTrips.c.polls > 100, `poll round trips: ${off!.roundTrips.c.polls} without, ${on!.roundTrips.c.polls} with`);
  });

  it('wait-until broken on purpose (a wait does not look at its loads): the report differs, so the equality test above would catch it', async () => {
    const spec = short('adopt-v10');
    assert.notEqual(reportJson(await runOverNats(roles.platform, spec, { waitUntil: 'blind' })), reportJson(await runScenario(spec)));
  });

  it("S13 under status-quo: the fleet runs past the CMD_SYNC poll's wake-ups for its 1 s timeouts, the same report in a few thousand round trips", async () => {
    const spec = buildScenario(entryDocument(findEntry('S13-latched-cmdq-err')!), { policy: 'status-quo' });
    let s: PlatformSession | undefined;
    assert.equal(reportJson(await runOverNats(roles.platform, spec, { onSession: (x) => (s = x) })), reportJson(await runScenario(spec)));
    assert.ok(s!.wakeUpsPassedByFleet > 100_000, `wake-ups the fleet ran past: ${s!.wakeUpsPassedByFleet}`);
    const total = Object.values(s!.roundTrips.c).reduce((a, b) => a + b, 0);
    assert.ok(total < 10_000, `round trips: ${total} (198,158 before wait-until, 66,350 with it before the fleet ran past its wake-ups)`);
  });

  it('wait-until broken on purpose (the fleet is not told what a wait reads): the platform sees the fleet ran past a wake-up whose loads changed, and fails the run saying so', async () => {
    const spec = short('adopt-v10');
    await assert.rejects(
      runOverNats(roles.platform, spec, { waitUntil: 'unwatched' }),
      /wait-until: the fleet ran past the wake-up of task \d+ at \d+ ns, where the wait ends \(a load reads other bytes\)/,
    );
  });

  it("the runner's serviceIrqs ticks are sent only when an interrupt reached the kernel since the last: the same report; all skipped, it differs", async () => {
    // A CMDQ error after the probe: its GERROR interrupt is taken by a tick, nothing else.
    const spec = buildScenario(entryDocument(findEntry('S8b-late-cmdq-err')!), { policy: 'adopt-v10' });
    const local = reportJson(await runScenario(spec));
    let s: PlatformSession | undefined;
    assert.equal(reportJson(await runOverNats(roles.platform, spec, { onSession: (x) => (s = x) })), local);
    assert.ok(s!.ticksSkipped > 50 && s!.roundTrips.c.ticks > 0, `ticks: ${s!.roundTrips.c.ticks} sent, ${s!.ticksSkipped} skipped`);
    assert.notEqual(reportJson(await runOverNats(roles.platform, spec, { ticks: 'skip-all' })), local);
  });

  it("makedumpfile's pages come read ahead: the same report, a fraction of the loads crossing", async () => {
    const spec = short('adopt-v10', ['run.vmcore.maxPages=256']);
    let session: PlatformSession | undefined;
    const remote = await runOverNats(roles.platform, spec, { onSession: (s) => (session = s) });
    assert.equal(reportJson(remote), reportJson(await runScenario(spec)));
    const saved = remote.vmcore.savedPages;
    assert.ok(saved > 100, `pages saved: ${saved}`);
    // Without read-ahead every page is a load of its own, on top of the drivers' loads.
    assert.ok(session!.roundTrips.c.loads < saved / 2, `${session!.roundTrips.c.loads} loads crossed for ${saved} pages`);
  });

  it('a panic decided inside a fleet slice (after N transactions) halts the primary kernel with pages held: the same report', async () => {
    const spec = short('adopt-v7', ['crash.trigger={"kind":"transactions","count":150}']);
    const local = await runScenario(spec);
    assert.match(local.timeline.crashReason ?? '', /after 150 DMA transactions/);
    assert.equal(reportJson(await runOverNats(roles.platform, spec)), reportJson(local));
  });

  it('off: every load and every device read crosses, the same report', async () => {
    const spec = short('adopt-v10');
    const before = hits();
    const devices = served();
    assert.equal(reportJson(await runOverNats(roles.platform, spec, { dmi: 'off', deviceDmi: 'off' })), reportJson(await runScenario(spec)));
    assert.equal(hits() - before, 0);
    assert.equal(served() - devices, 0);
  });

  it('broken on purpose (device writes never invalidate): the report differs, so the equality tests above would catch it', async () => {
    const spec = short('adopt-v10');
    assert.notEqual(reportJson(await runOverNats(roles.platform, spec, { dmi: 'no-invalidate' })), reportJson(await runScenario(spec)));
  });
});
