// SPDX-License-Identifier: Apache-2.0
// The scenario driven step by step, as a script drives it over gRPC: each step's effect, steps
// out of order refused with the rule, and a timeline that mirrors the runner's giving the
// runner's report.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { baselineDocument, buildScenario, entryDocument, findEntry } from '../catalogue';
import { reportJson } from './report';
import { runScenario } from './runner';
import { Session, SessionStateError } from './session';
import { parseFaults } from './spec';

const MS = 1_000_000;

describe('Session: lazy invalidation (primary.strict=false)', () => {
  const NIC = '0000:01:00.0';
  it("a dma_unmap queues its IOVA: no command until the flush queue's timer, a thread of the kernel, flushes 3 jiffies later", async () => {
    const spec = buildScenario(entryDocument(findEntry('R10-M3-lazy-unmap')!), { policy: 'adopt-v7' });
    const s = await Session.open(spec);
    assert.deepEqual(await s.boot(), { ok: true });
    await s.setupDrivers();
    await s.advance(1 * MS);
    const prodWrites = async () =>
      (await s.kernel('primary')!.view()).trace.filter((a) => a.kernel === 'primary' && a.dir === 'write' && a.register === 'CMDQ_PROD').map((a) => a.time);
    const t0 = s.now();
    await s.unmap(NIC, 1);
    assert.equal(s.phase, 'booted', 'no register write inside the unmap, so no panic at one');
    const before = (await prodWrites()).filter((t) => t >= t0);
    assert.deepEqual(before, [], 'nothing queued on the command queue by the unmap');
    // mod_timer(jiffies + 3) at HZ=250: the third 4 ms tick boundary after the unmap.
    const expiry = (Math.floor(t0 / (4 * MS)) + 3) * 4 * MS;
    await s.advance(expiry - s.now() - 1_000);
    assert.deepEqual(
      (await prodWrites()).filter((t) => t >= t0),
      [],
      'still nothing just before the timer',
    );
    await s.advance(0.2 * MS);
    const flush = (await prodWrites()).filter((t) => t >= t0);
    assert.ok(flush.length >= 1 && flush[0]! >= expiry && flush[0]! < expiry + 0.1 * MS, `the flush when the timer fires at ${expiry}: ${flush.join()}`);
    await s.close();
  });
});

describe('Session', () => {
  it('boot, traffic, crash, kexec, the v7 probe, drivers and the vmcore, one step at a time', async () => {
    const spec = buildScenario(baselineDocument(), { policy: 'adopt-v7' });
    const s = await Session.open(spec);
    assert.equal(s.phase, 'created');
    assert.deepEqual(await s.boot(), { ok: true });
    await s.setupDrivers();
    const t0 = s.now();
    assert.equal(await s.advance(1 * MS), t0 + 1 * MS);
    const before = (await s.report()).dma.issued;
    assert.ok(before > 100, `devices DMA while the primary kernel runs (${before})`);
    const at = s.crash('script panic');
    assert.equal(s.phase, 'crashed');
    await s.advance(spec.crash.kexecDelayNs);
    assert.ok((await s.kexec()) >= at);
    const probes = await s.probeSmmus();
    assert.deepEqual(probes, [{ ok: true }]);
    await s.probeDevices();
    const setups = [];
    for (const d of spec.devices.filter((x) => x.kdumpDriver.present)) setups.push(await s.probeDriver(d.name));
    assert.ok(
      setups.every((r) => r?.ok),
      JSON.stringify(setups),
    );
    const target = spec.devices.find((d) => d.kdumpDriver.role === 'dump-target')!.name;
    await s.saveVmcore(target, 4096, 20 * MS);
    const r = await s.report();
    assert.equal(r.adoption.adopted, true);
    assert.equal(r.timeline.crashReason, 'script panic');
    assert.ok(r.dma.afterCrash.issued > 0);
    assert.equal(r.vmcore.attempted, true);
    assert.equal(r.invariants.filter((i) => i.applies && !i.holds).length, 0, JSON.stringify(r.invariants.filter((i) => !i.holds)));
    await s.close();
  });

  it('refuses steps out of order, naming the rule, and keeps working', async () => {
    const spec = buildScenario(baselineDocument(), { policy: 'adopt-v10' });
    const s = await Session.open(spec);
    await assert.rejects(
      s.setupDrivers(),
      (e: unknown) => e instanceof SessionStateError && /setupDrivers: needs phase booted \(now created\)/.test(e.message),
    );
    await s.boot();
    await assert.rejects(s.boot(), /boot: the primary kernel boots once/);
    await assert.rejects(s.probeSmmus(), /probeSmmus: needs the kdump kernel \(kexec first/);
    await assert.rejects(s.attach('0000:09:00.0', 'identity'), /device: no device 0000:09:00.0 in this session/);
    await assert.rejects(s.advance(-1), /ns: a non-negative integer/);
    s.crash();
    assert.throws(() => s.crash(), /already panicked/);
    await s.kexec();
    assert.equal(s.phase, 'kdump');
    assert.equal((await s.probeSmmus()).length, 1);
    await s.close();
    await assert.rejects(s.advance(1), /the session is closed/);
  });

  it('faults injected at the crash are validated against the scenario and applied', async () => {
    // OS-first RAS: the aborts SFM causes are logged, not escalated before the kdump kernel boots.
    // The fallback's full reset waits out one-second ACK timeouts on an SMMU in SFM, so the
    // devices are S12-sfm-active's quiet pair (at the baseline's rates that second is a million
    // transactions), and the fault comes only from crash() below, none from the document.
    const doc = { ...baselineDocument(), devices: entryDocument(findEntry('S12-sfm-active')!).devices };
    const spec = buildScenario(doc, { policy: 'adopt-v7', sets: ['platform.ras=os-first'] });
    assert.throws(() => parseFaults([{ kind: 'sfm', smmu: 3 }], spec), /\[0\]\.smmu: no SMMU 3/);
    assert.throws(() => parseFaults([{ kind: 'nope' }], spec), /injections/);
    const s = await Session.open(spec);
    await s.boot();
    await s.setupDrivers();
    s.crash('panic with SFM', parseFaults([{ kind: 'sfm', smmu: 0 }], spec));
    await s.advance(spec.crash.kexecDelayNs);
    await s.kexec();
    await s.probeSmmus();
    const r = await s.report();
    assert.equal(r.adoption.adopted, false);
    assert.match(r.adoption.fallbackReason ?? '', /Service Failure Mode/);
    assert.deepEqual(r.injections, [`sfm smmu0 at ${r.timeline.crashAt} ns`]);
  });

  it("a script that follows the runner's timeline gets the runner's report", async () => {
    const spec = buildScenario(baselineDocument(), { policy: 'adopt-v7', sets: ['crash.trigger={"kind":"time","atNs":2000000}', 'run.vmcore.save=false'] });
    const ref = await runScenario(spec);
    const s = await Session.open(spec);
    await s.boot();
    await s.setupDrivers();
    await s.advance(s.p.bootDoneAt + 2 * MS - s.now());
    s.crash(`panic at t=${s.now()} ns (the scenario's crash time)`);
    await s.advance(spec.crash.kexecDelayNs);
    await s.kexec();
    await s.advance(spec.crash.smmuProbeDelayNs);
    await s.probeSmmus();
    await s.probeDevices();
    const drivers = spec.devices
      .filter((d) => d.kdumpDriver.present)
      .sort((a, b) => a.kdumpDriver.probeAtNs - b.kdumpDriver.probeAtNs || (a.name < b.name ? -1 : 1));
    for (const d of drivers) {
      await s.advance(Math.max(0, s.p.kdumpAt! + d.kdumpDriver.probeAtNs - s.now()));
      await s.probeDriver(d.name);
    }
    await s.advance(Math.max(0, s.p.kdumpAt! + spec.run.endAfterKdumpNs - s.now()));
    const r = await s.report();
    const strip = (x: typeof r) => ({ ...x, vmcore: null, log: null });
    assert.equal(reportJson(strip(r) as never), reportJson(strip({ ...ref, vmcore: r.vmcore, log: r.log }) as never));
  });
});
