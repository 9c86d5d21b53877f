// SPDX-License-Identifier: Apache-2.0
// Device protocols over real platform memory and the virtual clock, with a port that translates
// by identity (the SMMU itself is exercised by the scenario tests): rings, prefetch, tags and
// latency, posted writes, FLR, the ATC, AER on failures, and what the host driver's death does.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PhysicalMemory, Sequencer, VirtualClock } from '@kdump-twin/platform';
import { FleetCoupler } from './coupler';
import { NIC_DEFAULTS, NVME_DEFAULTS, GPU_DEFAULTS, createDriver, FleetSim, type DeviceParams } from './fleet';
import { NIC_DESC, NVME_CQE, num, readEntry } from './formats';
import type { HostKernel } from './host';
import { Nvme } from './nvme';
import { CopyEngine } from './copy';
import type { AerError, DmaCompletion, DmaRecord, DmaRequest } from './types';
import { ENDPOINT_DEFAULTS } from './fleet';
import type { EndpointConfig } from './endpoint';

/**
 * A one-process co-simulation as the scenario runner does it (docs/services.md): the fleet on
 * its own clock stepped by a sequencer, whose platform side applies each request with an
 * identity "SMMU" (device address = PA) and hands completions back; host drivers run as tasks.
 */
function rig() {
  const clock = new VirtualClock();
  const seq = new Sequencer(clock);
  const mem = new PhysicalMemory({ paBits: 40, maxBackedBytes: 64 << 20 }, clock);
  const fleet = new FleetSim();
  const devWriter = mem.internWriter({ kind: 'device-translated', sid: 1 });
  const cpu = mem.internWriter({ kind: 'primary-cpu' });
  const records: DmaRecord[] = [];
  const aer: AerError[] = [];
  const port = { fail: (_r: DmaRequest) => false };
  const apply = (req: DmaRequest): DmaCompletion => {
    if (port.fail(req)) return { status: 'UR', outcome: 'aborted', pa: -1, path: 'ste-abort' };
    if (req.ats === 'request') return { status: 'SC', outcome: 'translated', pa: req.address + 0x1000_0000, path: 's1' };
    const pa = req.ats === 'translated' ? req.address - 0x1000_0000 : req.address;
    if (req.write)
      return mem.write(pa, req.data!, devWriter).ok
        ? { status: 'SC', outcome: 'translated', pa, path: 's1' }
        : { status: 'CA', outcome: 'completer-abort', pa, path: 's1' };
    const r = mem.read(pa, req.size);
    return r.ok ? { status: 'SC', outcome: 'translated', pa, path: 's1', data: r.data } : { status: 'CA', outcome: 'completer-abort', pa, path: 's1' };
  };
  const actor = { nextEventTime: () => coupler.nextEventTime(), step: (t: number) => coupler.step(t) };
  const coupler: FleetCoupler = new FleetCoupler(
    { slice: async (i) => fleet.slice(i), nextEventTime: () => fleet.nextEventTime() },
    { at: (t) => t > clock.now() && clock.advanceTo(t), horizon: () => seq.horizon(actor), apply, record: (x) => records.push(x), aer: (e) => aer.push(e) },
    (name) => fleet.get(name)?.cfg,
  );
  seq.addActor(actor);
  let next = 0x1000_0000;
  let alive = true;
  const host: HostKernel = {
    kernel: 'primary',
    alive: () => alive,
    now: () => clock.now(),
    dmaAlloc: async (_d, bytes) => {
      const pa = next;
      next += Math.ceil(bytes / 4096) * 4096;
      return { ok: true, pa, iova: pa };
    },
    cpuWrite: async (pa, data) => void mem.write(pa, data, cpu),
    cpuRead: async (pa, n) => {
      const r = mem.read(pa, n);
      return r.ok ? r.data : undefined;
    },
    control: async (device, control) => coupler.control(device, control, clock.now()),
    spawn: (name, body) => void seq.spawn(name, 'primary', async (ctx) => body(ctx)),
    log: () => undefined,
  };
  const base: EndpointConfig = { name: '0000:01:00.0', rid: 0x100, sids: [0x100], ...ENDPOINT_DEFAULTS, onReadError: 'continue' };
  const make = (p: DeviceParams, extra: Partial<EndpointConfig> = {}) => {
    const dev = fleet.add({ base: { ...base, ...extra }, params: p });
    return { dev, drv: createDriver(dev.name, p, host) };
  };
  /** Lets virtual time run to `t` (absolute). */
  const runTo = async (t: number) => {
    await seq.run(() => false, t);
    if (clock.now() < t) clock.advanceTo(t);
  };
  return { clock, mem, port, records, aer, host, make, runTo, kill: () => (alive = false) };
}

describe('NIC: RX descriptors fetched by DMA, data and write-back, host refills', () => {
  it('prefetches descPrefetch descriptors per read and writes DD back for each packet', async () => {
    const r = rig();
    const { dev, drv } = r.make({ kind: 'nic', ...NIC_DEFAULTS, txIntervalNs: 0, statsIntervalNs: 0, rxEntries: 32, descPrefetch: 4, rxIntervalNs: 1_000 });
    await drv.setup();
    await r.runTo(r.clock.now() + 10_500);
    const fetches = r.records.filter((x) => x.phase === 'desc-fetch');
    assert.ok(fetches.length >= 2);
    assert.equal(fetches[0]!.req.size, 4 * NIC_DESC.sizeBytes, 'one read covers four descriptors');
    assert.equal(r.records.filter((x) => x.phase === 'rx-data').length, 10, 'ten packets in 10.5 us');
    const ring = drv.buffers[0]!;
    const d0 = readEntry(NIC_DESC, (await r.host.cpuRead(ring.pa, 16))!);
    // The host's poll runs every 20 us: not yet, so the first descriptor still shows DD.
    assert.equal(num(NIC_DESC, d0, 'DD'), 1);
    assert.equal(num(NIC_DESC, d0, 'Length'), NIC_DEFAULTS.packetBytes);
    assert.equal(dev.counters.dropped, 0);
  });

  it('after the host dies the posted descriptors run out and packets are dropped; stats DMA continues', async () => {
    const r = rig();
    const { dev, drv } = r.make({ kind: 'nic', ...NIC_DEFAULTS, txIntervalNs: 0, rxEntries: 16, rxIntervalNs: 1_000, statsIntervalNs: 5_000, pollNs: 5_000 });
    await drv.setup();
    await r.runTo(r.clock.now() + 50_000);
    assert.equal(dev.counters.dropped, 0, 'the host refilled the ring while alive');
    r.kill();
    const before = r.records.filter((x) => x.phase === 'rx-data').length;
    await r.runTo(r.clock.now() + 100_000);
    const after = r.records.filter((x) => x.phase === 'rx-data').length - before;
    assert.ok(after <= 16, `at most one ring of packets after the host died (got ${after})`);
    assert.ok(dev.counters.dropped > 50);
    const stats = r.records.filter((x) => x.phase === 'stats' && x.time > 50_000);
    assert.equal(stats.length, 20, 'a stats block every 5 us, host or not');
  });

  it("a failed descriptor fetch raises a requester AER with the UR severity; posted-write failures are the completer's", async () => {
    const r = rig();
    const { drv } = r.make(
      { kind: 'nic', ...NIC_DEFAULTS, txIntervalNs: 0, statsIntervalNs: 0, rxEntries: 16, rxIntervalNs: 1_000 },
      { aer: { UR: 'fatal', CA: 'non-fatal', ATS: 'non-fatal' } },
    );
    await drv.setup();
    r.port.fail = (q) => !q.write;
    await r.runTo(r.clock.now() + 3_000);
    assert.ok(r.aer.length > 0);
    assert.deepEqual([r.aer[0]!.type, r.aer[0]!.severity, r.aer[0]!.role, r.aer[0]!.phase], ['UR', 'fatal', 'requester', 'desc-fetch']);
    // A fresh NIC whose writes fail: the device never knows (posted), the Root Complex logs each.
    const w = rig();
    const n = w.make({ kind: 'nic', ...NIC_DEFAULTS, txIntervalNs: 0, statsIntervalNs: 5_000, rxEntries: 16, rxIntervalNs: 1_000 });
    await n.drv.setup();
    w.port.fail = (q) => q.write;
    await w.runTo(w.clock.now() + 10_500);
    assert.ok(w.aer.length > 0 && w.aer.every((e) => e.role === 'completer'));
    assert.deepEqual([...new Set(w.aer.map((e) => e.phase))].sort(), ['desc-writeback', 'rx-data', 'stats']);
    assert.equal(n.dev.counters.dropped, 0, 'the device carried on as if every write landed');
  });
});

describe('the DMA engine: tags, latency, FLR', () => {
  it('never has more non-posted reads in flight than maxReadTags, and completes each after readLatencyNs', async () => {
    const r = rig();
    const { dev, drv } = r.make(
      { kind: 'gpu', ...GPU_DEFAULTS, chunkIntervalNs: 0, chunksInFlight: 64, jobBytes: 256 * 1024, queued: 1 },
      { maxReadTags: 8, readLatencyNs: 1_000 },
    );
    await drv.setup();
    let peak = 0;
    for (let t = 0; t < 40; t++) {
      await r.runTo(r.clock.now() + 100);
      peak = Math.max(peak, dev.outstanding);
    }
    assert.equal(peak, 8);
    const reads = r.records.filter((x) => x.phase === 'copy-read');
    assert.ok(reads.every((x) => x.completedAt - x.time === 1_000));
  });

  it('FLR forgets every request in flight: their completions never act', async () => {
    const r = rig();
    const { dev, drv } = r.make({ kind: 'gpu', ...GPU_DEFAULTS, chunkIntervalNs: 0, jobBytes: 1 << 20, queued: 1 });
    await drv.setup();
    await r.runTo(r.clock.now() + 1_500);
    const writesBefore = r.records.filter((x) => x.phase === 'copy-write').length;
    assert.ok(dev.outstanding > 0);
    dev.flr();
    assert.equal(dev.outstanding, 0);
    await r.runTo(r.clock.now() + 100_000);
    assert.equal(r.records.filter((x) => x.phase === 'copy-write').length, writesBefore, 'no chunk written after the reset');
    assert.equal(dev.jobsInFlight, 0);
  });
});

describe('ATS: the device ATC', () => {
  it('a miss sends a translation request, a hit sends a translated request; invalidation empties the range', async () => {
    const r = rig();
    const { dev, drv } = r.make({ kind: 'gpu', ...GPU_DEFAULTS, chunkIntervalNs: 0, jobBytes: 16 * 1024, queued: 1 }, { ats: true, atcEntries: 64 });
    dev.atsEnabled = true;
    await drv.setup();
    await r.runTo(r.clock.now() + 200_000);
    const reqs = r.records.filter((x) => x.phase === 'ats-request');
    const translated = r.records.filter((x) => x.req.ats === 'translated');
    assert.ok(reqs.length > 0 && translated.length > 0);
    assert.ok(
      translated.every((x) => x.req.address >= 0x1000_0000 * 2),
      'translated requests carry the PA the ATC got',
    );
    const n = dev.atc.size;
    assert.ok(n > 0);
    dev.atcInvalidate(0, Number.POSITIVE_INFINITY);
    assert.equal(dev.atc.size, 0);
    dev.flr();
    assert.equal(dev.atsEnabled, false, 'FLR clears the ATS Enable bit');
  });
});

describe('NVMe: SQ fetch, data, CQ phase, dead host', () => {
  it('completes commands with the phase tag; with the host dead it stops when the CQ is full', async () => {
    const r = rig();
    const p = { kind: 'nvme' as const, ...NVME_DEFAULTS, sqEntries: 64, cqEntries: 16, outstanding: 32, queueDepth: 4, mediaLatencyNs: 10_000, pollNs: 5_000 };
    const { dev, drv } = r.make(p);
    await drv.setup();
    r.kill();
    await r.runTo(r.clock.now() + 1_000_000);
    const cqes = r.records.filter((x) => x.phase === 'cqe');
    assert.equal(cqes.length, 15, 'cqEntries - 1 completions, then the controller has nowhere to post');
    const cq = drv.buffers[1]!;
    const e = readEntry(NVME_CQE, (await r.host.cpuRead(cq.pa, 16))!);
    assert.equal(num(NVME_CQE, e, 'P'), 1);
    assert.equal(num(NVME_CQE, e, 'SC'), 0);
    assert.equal((dev as Nvme).halted, undefined);
  });

  it('a failed SQE fetch is a controller fatal status; a failed data read completes with Data Transfer Error', async () => {
    const r = rig();
    const p = { kind: 'nvme' as const, ...NVME_DEFAULTS, outstanding: 8, readEvery: 1_000_000, mediaLatencyNs: 1_000 };
    const a = r.make(p, { onReadError: 'continue' });
    await a.drv.setup();
    r.port.fail = (q) => q.size === 16_384 || (q.size === 4096 && !q.write);
    await r.runTo(r.clock.now() + 200_000);
    const status = r.records.filter((x) => x.phase === 'cqe').map((x) => num(NVME_CQE, readEntry(NVME_CQE, x.req.data!), 'SC'));
    assert.ok(status.includes(0x04), 'WRITE commands whose data read failed complete with Data Transfer Error');
    assert.ok(status.includes(0x00), 'the READ command (device writes host memory) succeeds');
    const b = rig();
    const d = b.make(p);
    b.port.fail = (q) => !q.write;
    await d.drv.setup();
    await b.runTo(b.clock.now() + 50_000);
    assert.match((d.dev as Nvme).halted ?? '', /CSTS\.CFS/);
  });
});

describe('copy engine: pacing and fences', () => {
  it('issues at most one chunk per chunkIntervalNs and writes the job number to the fence', async () => {
    const r = rig();
    const { dev, drv } = r.make({ kind: 'gpu', ...GPU_DEFAULTS, chunkIntervalNs: 2_000, jobBytes: 64 * 1024, queued: 1, pollNs: 1_000_000 });
    await drv.setup();
    await r.runTo(r.clock.now() + 20_000);
    const reads = r.records.filter((x) => x.phase === 'copy-read').map((x) => x.time);
    for (let i = 1; i < reads.length; i++) assert.ok(reads[i]! - reads[i - 1]! >= 2_000);
    await r.runTo(r.clock.now() + 200_000);
    const fence = r.records.find((x) => x.phase === 'fence')!;
    assert.equal(new DataView(fence.req.data!.buffer, fence.req.data!.byteOffset).getUint32(0, true), 1);
    assert.ok(dev instanceof CopyEngine);
    assert.equal(dev.counters.jobsOk, 1);
  });
});

describe("wait-until: an idle poll's watch is exact (TaskContext.sleep's `watch`)", () => {
  // The promise a driver makes when it returns a watch: while those loads read the same bytes,
  // every next poll is idle too (no store, no register write), unless another thread ended the
  // wait (endWait). Checked at every wake-up of the poll thread while the devices run, each with
  // traffic both ways.
  for (const p of [
    // Transmit alone: the poll reclaims from an empty ring once the thread posts (its endWait); the device completes within one poll.
    { kind: 'nic' as const, ...NIC_DEFAULTS, rxIntervalNs: 0, txIntervalNs: 400_000, rxEntries: 32, txEntries: 16, pollNs: 30_000 },
    { kind: 'nic' as const, ...NIC_DEFAULTS, rxIntervalNs: 200_000, txIntervalNs: 0, rxEntries: 32, txEntries: 16, pollNs: 30_000 },
    { kind: 'nvme' as const, ...NVME_DEFAULTS, outstanding: 8, cqEntries: 16, mediaLatencyNs: 30_000, pollNs: 10_000 },
    { kind: 'gpu' as const, ...GPU_DEFAULTS },
  ]) {
    it(`${p.kind}${p.kind === 'nic' ? (p.rxIntervalNs ? ' receiving' : ' transmitting') : ''}: while the watched loads read the same, the next poll is idle and watches again`, async () => {
      const r = rig();
      const bytes = (l: { pa: number; length: number }) => [...(r.mem.read(l.pa, l.length) as { data: Uint8Array }).data].join();
      let inPoll = false;
      let expectIdle = false;
      let acted = false;
      let ended = false;
      const seen = { idleWakes: 0, checked: 0, violations: [] as string[] };
      const { spawn, cpuWrite, control } = r.host;
      Object.assign(r.host, {
        cpuWrite: async (pa: number, d: Uint8Array) => ((acted ||= inPoll), cpuWrite(pa, d)),
        control: async (dev: string, c: Parameters<HostKernel['control']>[1]) => ((acted ||= inPoll), control(dev, c)),
        spawn: (name: string, body: Parameters<HostKernel['spawn']>[1]) =>
          spawn(name, (t) =>
            body({
              ...t,
              endWait: () => void (ended = true),
              sleep: async (ns, next, o) => {
                const poll = name.endsWith(' poll');
                if (poll && expectIdle) {
                  seen.checked++;
                  if (acted || !o?.watch)
                    seen.violations.push(`${name} at ${r.clock.now()}: ${acted ? 'acted' : 'did not watch'} with its watched loads unchanged`);
                }
                const snap = poll && o?.watch ? o.watch.map(bytes) : undefined;
                inPoll = false;
                if (poll) ended = false;
                await t.sleep(ns, next, o);
                if (!poll) return;
                inPoll = true;
                acted = false;
                // A wait-until ends at this wake-up if another thread said so (endWait) or a watched load changed.
                expectIdle = !ended && snap !== undefined && o!.watch!.every((l, i) => bytes(l) === snap[i]);
                if (expectIdle) seen.idleWakes++;
              },
            }),
          ),
      });
      const { drv } = r.make(p);
      await drv.setup();
      await r.runTo(r.clock.now() + 10_000_000);
      assert.deepEqual(seen.violations, []);
      assert.ok(seen.checked > 10, `idle polls checked: ${seen.checked}`);
    });
  }
});

describe('passive waits in a slice input (they come off the wire)', () => {
  it('a malformed one is a RangeError naming the field and the rule; the fleet keeps its state', () => {
    const fleet = new FleetSim();
    const slice = (passive: unknown) => fleet.slice({ t: 0, until: 1000, completions: [], controls: [], passive } as never);
    assert.throws(() => slice([{ task: 1, seq: 0, wake: 10, every: 0, ranges: [] }]), /input\.passive\[0\]: every, a positive integer of ns, or poll/);
    assert.throws(() => slice([{ task: 1, seq: 0, wake: -1, every: 10, ranges: [] }]), /input\.passive\[0\]\.wake: a non-negative integer/);
    assert.throws(() => slice([{ task: 1, seq: 0, wake: 10, poll: { step: 1000 }, ranges: [] }]), /poll: \{step > 0, deadline\}/);
    assert.throws(
      () => slice([{ task: 1, seq: 0, wake: 10, every: 10, ranges: [{ pa: 0, length: 0 }] }]),
      /input\.passive\[0\]\.ranges: at most 8 \{pa, length > 0\}/,
    );
    assert.throws(() => slice(Array.from({ length: 65 }, () => ({}))), /input\.passive: at most 64 waits/);
    // A good one: nothing of the fleet's changes what the wait reads, so every wake-up before `until` is passed, each `every` later.
    const out = slice([{ task: 1, seq: 0, wake: 10, every: 10, ranges: [] }]);
    assert.equal(out.passed?.length, 99);
    assert.deepEqual(out.passed?.at(-1), { task: 1, at: 990, ns: 10, after: 0 });
  });
});

describe("a slice runs past a kernel thread's run-ahead steps (ScriptedTask)", () => {
  it('making each step at its instant, but never past the completion of a read the platform answers', () => {
    const fleet = new FleetSim();
    const dev = fleet.add({
      base: { name: '0000:01:00.0', rid: 0x100, sids: [0x100], ...ENDPOINT_DEFAULTS, onReadError: 'continue' },
      params: { kind: 'nic', ...NIC_DEFAULTS, rxIntervalNs: 2_000, rxJitterPct: 0, txIntervalNs: 0, statsIntervalNs: 0 },
    });
    const steps = Array.from({ length: 8 }, () => ({ writes: [], controls: [], ends: [], ns: 1_000 }));
    // The thread starts the device at its first step (a register write), and wakes every 1 us.
    const first = {
      ...steps[0]!,
      controls: [
        { device: dev.name, control: { op: 'configureRx' as const, base: 0x10_0000, entries: 16 } },
        { device: dev.name, control: { op: 'setRxTail' as const, tail: 15 } },
        { device: dev.name, control: { op: 'start' as const } },
      ],
    };
    const out = fleet.slice({
      t: 0,
      until: 100_000,
      completions: [],
      controls: [],
      scripted: [{ task: 7, seq: 1, wake: 500, steps: [first, ...steps.slice(1)] }],
    });
    // The first packet, 2 us after the start, makes the device fetch descriptors (a read the
    // platform answers, due 800 ns later): the steps up to then are passed, none at or after 3,300.
    const read = out.requests.find((r) => !r.write)!;
    assert.equal(read.time, 2_500);
    // Each step after the requests issued before it; the one at 2,500 after that instant's read.
    assert.deepEqual(
      out.passed?.map((p) => [p.at, p.after]),
      [
        [500, 0],
        [1_500, 0],
        [2_500, 1],
      ],
    );
    assert.ok(
      out.passed!.every((p) => p.at < read.time + ENDPOINT_DEFAULTS.readLatencyNs),
      JSON.stringify(out.passed),
    );
    assert.ok(out.reached < read.time + ENDPOINT_DEFAULTS.readLatencyNs);
    // The register writes reached the device at the first step: it runs.
    assert.equal(dev.counters.dropped, 0);
  });

  it('a malformed thread is a RangeError naming the field', () => {
    const fleet = new FleetSim();
    const slice = (scripted: unknown) => fleet.slice({ t: 0, until: 1000, completions: [], controls: [], scripted } as never);
    assert.throws(() => slice([{ task: 1, seq: 0, wake: 10, steps: [] }]), /input\.scripted\[0\]\.steps: 1 to 256 steps/);
    assert.throws(
      () => slice([{ task: 1, seq: 0, wake: 10, steps: [{ writes: [{ pa: 0, data: 'x' }], controls: [], ends: [], ns: 1 }] }]),
      /input\.scripted\[0\]\.steps\[0\]\.writes: \[\{pa, data: bytes\}\]/,
    );
    assert.throws(() => slice([{ task: 1, seq: 0, wake: 10, steps: [{ writes: [], controls: [], ends: [0], ns: 1 }] }]), /steps\[0\]\.ends: task numbers/);
  });
});
